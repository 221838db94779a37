//! Debezium's include/exclude lists: comma-separated regular expressions matched,
//! case-insensitively, against the whole `schema`, `schema.table` or
//! `schema.table.column` name.

use regex::Regex;

use super::properties::Properties;

/// Schemas captured when no schema list is given: everything but PostgreSQL's own.
const SYSTEM_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "pg_toast"];

/// One list of patterns; a name matches when any pattern matches all of it.
#[derive(Debug, Clone)]
pub struct Patterns(Vec<Regex>);

impl Patterns {
    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|re| re.is_match(name))
    }

    /// The index of the first pattern that matches `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|re| re.is_match(name))
    }

    pub(crate) fn read(properties: &mut Properties<'_>, property: &str) -> Option<Patterns> {
        let items = properties.list(property)?;
        let mut patterns = Vec::with_capacity(items.len());
        for item in items {
            match Regex::new(&format!("^(?i:{item})$")) {
                Ok(re) => patterns.push(re),
                Err(e) => properties.error(
                    property,
                    format!("{item:?} is not a valid regular expression: {e}"),
                ),
            }
        }
        Some(Patterns(patterns))
    }
}

/// An include list or an exclude list, never both (Debezium rejects both too).
#[derive(Debug, Clone, Default)]
pub enum Filter {
    #[default]
    All,
    Include(Patterns),
    Exclude(Patterns),
}

impl Filter {
    pub fn read(properties: &mut Properties<'_>, include: &str, exclude: &str) -> Filter {
        let included = Patterns::read(properties, include);
        let excluded = Patterns::read(properties, exclude);
        match (included, excluded) {
            (Some(_), Some(_)) => {
                let message = format!("cannot be used together with {exclude}");
                properties.error(include, message);
                Filter::All
            }
            (Some(patterns), None) => Filter::Include(patterns),
            (None, Some(patterns)) => Filter::Exclude(patterns),
            (None, None) => Filter::All,
        }
    }

    pub fn accepts(&self, name: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Include(patterns) => patterns.matches(name),
            Filter::Exclude(patterns) => !patterns.matches(name),
        }
    }
}

/// Which tables and columns are captured.
#[derive(Debug, Clone, Default)]
pub struct CaptureFilters {
    pub schemas: Filter,
    pub tables: Filter,
    pub columns: Filter,
}

impl CaptureFilters {
    pub fn read(properties: &mut Properties<'_>) -> CaptureFilters {
        CaptureFilters {
            schemas: Filter::read(properties, "schema.include.list", "schema.exclude.list"),
            tables: Filter::read(properties, "table.include.list", "table.exclude.list"),
            columns: Filter::read(properties, "column.include.list", "column.exclude.list"),
        }
    }

    pub fn captures_table(&self, schema: &str, table: &str) -> bool {
        let schema_ok = match self.schemas {
            Filter::All => !SYSTEM_SCHEMAS.contains(&schema),
            ref filter => filter.accepts(schema),
        };
        schema_ok && self.tables.accepts(&format!("{schema}.{table}"))
    }

    pub fn captures_column(&self, schema: &str, table: &str, column: &str) -> bool {
        self.columns.accepts(&format!("{schema}.{table}.{column}"))
    }
}

/// `message.key.columns`: `schema.table:col1,col2;schema.other:col` — the table part
/// is a regular expression; the columns are names.
#[derive(Debug, Clone, Default)]
pub struct MessageKeyColumns(Vec<(Regex, Vec<String>)>);

impl MessageKeyColumns {
    pub fn read(properties: &mut Properties<'_>) -> MessageKeyColumns {
        const PROPERTY: &str = "message.key.columns";
        let Some(value) = properties.raw(PROPERTY) else {
            return MessageKeyColumns::default();
        };
        let mut entries = Vec::new();
        for entry in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((table, columns)) = entry.rsplit_once(':') else {
                properties.error(
                    PROPERTY,
                    format!("{entry:?} is not <schema>.<table>:<column>[,<column>...]"),
                );
                continue;
            };
            let columns: Vec<String> = columns
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if columns.is_empty() {
                properties.error(PROPERTY, format!("{entry:?} names no columns"));
                continue;
            }
            match Regex::new(&format!("^(?i:{})$", table.trim())) {
                Ok(re) => entries.push((re, columns)),
                Err(e) => properties.error(
                    PROPERTY,
                    format!("{table:?} is not a valid regular expression: {e}"),
                ),
            }
        }
        MessageKeyColumns(entries)
    }

    /// The key columns configured for `schema.table`, if any.
    pub fn for_table(&self, schema: &str, table: &str) -> Option<&[String]> {
        let name = format!("{schema}.{table}");
        self.0
            .iter()
            .find(|(re, _)| re.is_match(&name))
            .map(|(_, columns)| columns.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn read(pairs: &[(&str, &str)]) -> (CaptureFilters, Vec<String>) {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut properties = Properties::new(&map);
        let filters = CaptureFilters::read(&mut properties);
        (
            filters,
            properties.errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn no_lists_capture_every_user_schema() {
        let (filters, errors) = read(&[]);
        assert!(errors.is_empty());
        assert!(filters.captures_table("public", "orders"));
        assert!(filters.captures_table("shop", "orders"));
        assert!(!filters.captures_table("pg_catalog", "pg_class"));
        assert!(!filters.captures_table("information_schema", "tables"));
    }

    #[test]
    fn patterns_match_whole_names_case_insensitively() {
        let (filters, _) = read(&[("table.include.list", "public.orders, shop\\.item.*")]);
        assert!(filters.captures_table("public", "orders"));
        assert!(filters.captures_table("public", "ORDERS"));
        assert!(
            !filters.captures_table("public", "orders_archive"),
            "anchored at the end"
        );
        assert!(
            !filters.captures_table("xpublic", "orders"),
            "anchored at the start"
        );
        assert!(filters.captures_table("shop", "items"));
        assert!(!filters.captures_table("shopx", "items"));
    }

    #[test]
    fn exclude_lists_and_schema_lists_combine() {
        let (filters, _) = read(&[
            ("schema.include.list", "shop"),
            ("table.exclude.list", "shop.audit_.*"),
        ]);
        assert!(filters.captures_table("shop", "orders"));
        assert!(!filters.captures_table("shop", "audit_log"));
        assert!(!filters.captures_table("public", "orders"));
    }

    #[test]
    fn columns_are_filtered_by_their_full_name() {
        let (filters, _) = read(&[("column.exclude.list", "public.users.(password|ssn)")]);
        assert!(filters.captures_column("public", "users", "email"));
        assert!(!filters.captures_column("public", "users", "password"));
        assert!(filters.captures_column("public", "admins", "password"));
    }

    #[test]
    fn include_and_exclude_together_and_bad_patterns_are_errors() {
        let (_, errors) = read(&[
            ("table.include.list", "a.b"),
            ("table.exclude.list", "a.c"),
            ("column.include.list", "a.(b"),
        ]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0]
            .starts_with("table.include.list: cannot be used together with table.exclude.list"));
        assert!(errors[1]
            .starts_with("column.include.list: \"a.(b\" is not a valid regular expression"));
    }

    #[test]
    fn message_key_columns_per_table() {
        let map: BTreeMap<String, String> = [(
            "message.key.columns".to_owned(),
            "public.orders:customer_id,id; shop.*:sku".to_owned(),
        )]
        .into();
        let mut properties = Properties::new(&map);
        let keys = MessageKeyColumns::read(&mut properties);
        assert!(properties.errors.is_empty());
        assert_eq!(
            keys.for_table("public", "orders"),
            Some(&["customer_id".to_owned(), "id".to_owned()][..])
        );
        assert_eq!(
            keys.for_table("shop", "items"),
            Some(&["sku".to_owned()][..])
        );
        assert_eq!(keys.for_table("public", "other"), None);

        let map: BTreeMap<String, String> =
            [("message.key.columns".to_owned(), "public.orders".to_owned())].into();
        let mut properties = Properties::new(&map);
        MessageKeyColumns::read(&mut properties);
        assert_eq!(properties.errors.len(), 1);
    }
}
