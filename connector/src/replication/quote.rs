//! Quoting of names and strings placed into SQL and replication commands. Names
//! come from users' configuration (`slot.name`, `publication.name`,
//! `table.include.list`), so they are always quoted, never pasted.

use super::error::ReplicationError;

/// `"name"` with embedded double quotes doubled: the SQL rule for quoted
/// identifiers, which the replication command grammar shares.
pub fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A string literal for ordinary SQL, safe whatever `standard_conforming_strings`
/// is: like PostgreSQL's `quote_literal()`, a value with a backslash is written as
/// an escape string (`E'...'`) with the backslash doubled.
pub fn quote_literal(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        quoted.push('E');
    }
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A string literal for a replication command. The walsender's scanner
/// (repl_scanner.l) knows only `'...'` with doubled quotes: backslashes are plain
/// characters there and `E'...'` does not exist.
pub fn quote_replication_literal(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' {
            quoted.push('\'');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// PostgreSQL accepts only lower-case letters, digits and underscores in slot
/// names, at most NAMEDATALEN - 1 = 63 bytes (ReplicationSlotValidateName).
/// Checking here turns a late server error into a configuration error.
pub fn validate_slot_name(name: &str) -> Result<(), ReplicationError> {
    let invalid = |reason| ReplicationError::InvalidSlotName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > 63 {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "only lower-case letters, digits and underscores are allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_embedded_quotes() {
        assert_eq!(quote_identifier("orders"), "\"orders\"");
        assert_eq!(quote_identifier("My \"Table\""), "\"My \"\"Table\"\"\"");
    }

    #[test]
    fn literals_survive_either_standard_conforming_strings() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
        assert_eq!(quote_replication_literal("a\\'b"), "'a\\''b'");
    }

    #[test]
    fn slot_names_follow_postgres_rules() {
        assert!(validate_slot_name("pgcdc_slot_1").is_ok());
        for bad in ["", "Upper", "has-dash", "has space", &"x".repeat(64)] {
            assert!(validate_slot_name(bad).is_err(), "{bad:?}");
        }
    }
}
