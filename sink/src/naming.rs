//! Target table and column names, as Debezium's JDBC sink derives them.
//!
//! The table is `collection.name.format` (default `${topic}`) with `${topic}` replaced
//! by the topic name with every `.` made `_` (`DefaultCollectionNamingStrategy`) and
//! `${source.<field>}` by that field of the event's `source` block. A resolved name
//! with a dot is `schema.table`; without one the table lives in the connection's
//! current schema. Columns are named after the fields.
//!
//! `quote.identifiers=false` (the default) means what an unquoted identifier means in
//! PostgreSQL: the name folds to lower case. pgcdc then writes the folded name quoted,
//! which is the same table for every ordinary name and keeps working for names that
//! are reserved words or carry other characters. `quote.identifiers=true` keeps names
//! exactly as the topic and the fields spell them.

use std::fmt;

/// A PostgreSQL identifier as it is stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// The identifier a name from a topic or a field becomes.
    pub fn new(name: &str, quote_identifiers: bool) -> Ident {
        if quote_identifiers {
            Ident(name.to_owned())
        } else {
            Ident(name.to_lowercase())
        }
    }

    /// An identifier exactly as the catalog spells it.
    pub fn exact(name: impl Into<String>) -> Ident {
        Ident(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Quoted for SQL text.
impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        f.write_str(&self.0.replace('"', "\"\""))?;
        f.write_str("\"")
    }
}

/// A table, schema-qualified or in the connection's current schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: Option<Ident>,
    pub table: Ident,
}

impl TableName {
    /// `schema.table` or `table`; a longer name keeps its last two parts (a catalog
    /// is the database connected to).
    pub fn parse(resolved: &str, quote_identifiers: bool) -> Result<TableName, String> {
        let parts: Vec<&str> = resolved.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("table name {resolved:?} has an empty part"));
        }
        let table = Ident::new(parts[parts.len() - 1], quote_identifiers);
        let schema =
            (parts.len() > 1).then(|| Ident::new(parts[parts.len() - 2], quote_identifiers));
        Ok(TableName { schema, table })
    }

    /// With the current schema filled in when none was named.
    pub fn qualified(&self, current_schema: &Ident) -> TableName {
        TableName {
            schema: Some(
                self.schema
                    .clone()
                    .unwrap_or_else(|| current_schema.clone()),
            ),
            table: self.table.clone(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Source(String),
}

/// A parsed `collection.name.format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNameFormat {
    parts: Vec<Part>,
}

impl TableNameFormat {
    pub fn parse(format: &str) -> Result<TableNameFormat, String> {
        let mut parts = Vec::new();
        let mut rest = format;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("{format:?}: unclosed ${{"))?;
            let placeholder = &after[..end];
            parts.push(match placeholder {
                "topic" => Part::Topic,
                _ => match placeholder.strip_prefix("source.") {
                    Some(field) if !field.is_empty() => Part::Source(field.to_owned()),
                    _ => {
                        return Err(format!(
                            "{format:?}: unknown placeholder ${{{placeholder}}} (use ${{topic}} or ${{source.<field>}})"
                        ))
                    }
                },
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("the table name format is empty".to_owned());
        }
        Ok(TableNameFormat { parts })
    }

    /// Whether resolving needs the event's `source` block.
    pub fn uses_source(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Source(_)))
    }

    /// The table name for a record of `topic`; `source` looks up a `source` field.
    pub fn resolve(
        &self,
        topic: &str,
        source: impl Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Topic => out.push_str(&topic.replace('.', "_")),
                Part::Source(field) => match source(field) {
                    Some(value) => out.push_str(&value),
                    None => {
                        return Err(format!(
                            "the record has no source.{field} for the table name format"
                        ))
                    }
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_replaces_dots() {
        let format = TableNameFormat::parse("${topic}").expect("parses");
        let name = format
            .resolve("shop.public.Orders", |_| None)
            .expect("resolves");
        assert_eq!(name, "shop_public_Orders");
        let table = TableName::parse(&name, false).expect("parses");
        assert_eq!(table.to_string(), "\"shop_public_orders\"");
        let exact = TableName::parse(&name, true).expect("parses");
        assert_eq!(exact.to_string(), "\"shop_public_Orders\"");
    }

    #[test]
    fn source_fields_and_schemas() {
        let format = TableNameFormat::parse("dw.${source.table}_copy").expect("parses");
        assert!(format.uses_source());
        let name = format
            .resolve("x.y.z", |f| (f == "table").then(|| "orders".to_owned()))
            .expect("resolves");
        let table = TableName::parse(&name, false).expect("parses");
        assert_eq!(table.to_string(), "\"dw\".\"orders_copy\"");
        assert!(format.resolve("x", |_| None).is_err());
    }

    #[test]
    fn bad_formats() {
        assert!(TableNameFormat::parse("${topc}")
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(TableNameFormat::parse("a_${topic")
            .unwrap_err()
            .contains("unclosed"));
        assert!(TableName::parse("a..b", false).is_err());
    }

    #[test]
    fn identifiers_are_quoted_safely() {
        assert_eq!(Ident::new("Select", false).to_string(), "\"select\"");
        assert_eq!(Ident::exact("we\"ird").to_string(), "\"we\"\"ird\"");
    }
}
