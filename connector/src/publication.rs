//! The publication a connector streams, kept as Debezium's
//! `publication.autocreate.mode` says: `all_tables` creates it FOR ALL TABLES when
//! missing, `filtered` keeps its table set equal to the captured tables, and
//! `disabled` only checks that it exists.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use tokio_postgres::Client;

use crate::replication::{quote_identifier, ReplicationError};

/// Debezium's `publication.autocreate.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AutocreateMode {
    /// Create `FOR ALL TABLES` if missing (needs a superuser); Debezium's default.
    #[default]
    AllTables,
    /// The publication must exist already.
    Disabled,
    /// Create or alter it to publish exactly the captured tables.
    Filtered,
}

impl AutocreateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AutocreateMode::AllTables => "all_tables",
            AutocreateMode::Disabled => "disabled",
            AutocreateMode::Filtered => "filtered",
        }
    }
}

impl fmt::Display for AutocreateMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AutocreateMode {
    type Err = ReplicationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "all_tables" => Ok(AutocreateMode::AllTables),
            "disabled" => Ok(AutocreateMode::Disabled),
            "filtered" => Ok(AutocreateMode::Filtered),
            _ => Err(ReplicationError::InvalidConfig {
                property: "publication.autocreate.mode",
                reason: format!("{s:?} is not one of all_tables, disabled, filtered"),
            }),
        }
    }
}

/// A schema-qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        TableName {
            schema: schema.into(),
            table: table.into(),
        }
    }

    /// `"schema"."table"`, safe to place in SQL.
    pub fn quoted(&self) -> String {
        format!(
            "{}.{}",
            quote_identifier(&self.schema),
            quote_identifier(&self.table)
        )
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// What [`ensure_publication`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicationChange {
    Unchanged,
    Created,
    /// Its table set was replaced by the captured tables.
    Altered,
}

/// Makes the publication match `mode`. `tables` is the captured table list; it is
/// used by `filtered` only.
pub async fn ensure_publication(
    client: &Client,
    publication: &str,
    mode: AutocreateMode,
    tables: &[TableName],
) -> Result<PublicationChange, ReplicationError> {
    let existing = client
        .query_opt(
            "SELECT puballtables FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await?;
    let name = quote_identifier(publication);
    match mode {
        AutocreateMode::Disabled if existing.is_none() => {
            Err(ReplicationError::PublicationNotFound {
                publication: publication.to_owned(),
            })
        }
        AutocreateMode::AllTables if existing.is_none() => {
            client
                .batch_execute(&format!("CREATE PUBLICATION {name} FOR ALL TABLES"))
                .await?;
            tracing::info!(publication, "created publication for all tables");
            Ok(PublicationChange::Created)
        }
        AutocreateMode::Disabled | AutocreateMode::AllTables => Ok(PublicationChange::Unchanged),
        AutocreateMode::Filtered => {
            if tables.is_empty() {
                return Err(ReplicationError::InvalidConfig {
                    property: "table.include.list",
                    reason:
                        "publication.autocreate.mode=filtered needs at least one captured table"
                            .to_owned(),
                });
            }
            let wanted: BTreeSet<&TableName> = tables.iter().collect();
            let list = wanted
                .iter()
                .map(|table| table.quoted())
                .collect::<Vec<_>>()
                .join(", ");
            let Some(row) = existing else {
                client
                    .batch_execute(&format!("CREATE PUBLICATION {name} FOR TABLE {list}"))
                    .await?;
                tracing::info!(publication, tables = %list, "created filtered publication");
                return Ok(PublicationChange::Created);
            };
            let all_tables: bool = row.try_get(0)?;
            if all_tables {
                return Err(ReplicationError::InvalidConfig {
                    property: "publication.autocreate.mode",
                    reason: format!(
                        "publication {publication:?} is FOR ALL TABLES and cannot be filtered; \
                         drop it or use all_tables"
                    ),
                });
            }
            let current = published_tables(client, publication).await?;
            if current.iter().eq(wanted.iter().copied()) {
                return Ok(PublicationChange::Unchanged);
            }
            client
                .batch_execute(&format!("ALTER PUBLICATION {name} SET TABLE {list}"))
                .await?;
            tracing::info!(publication, tables = %list, "replaced the tables of the publication");
            Ok(PublicationChange::Altered)
        }
    }
}

/// The tables a publication publishes, whether listed one by one or through a
/// schema (`pg_publication_tables` expands both).
pub async fn published_tables(
    client: &Client,
    publication: &str,
) -> Result<BTreeSet<TableName>, ReplicationError> {
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1",
            &[&publication],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(TableName::new(
                row.try_get::<_, String>(0)?,
                row.try_get::<_, String>(1)?,
            ))
        })
        .collect()
}

/// Whether the publication exists.
pub async fn publication_exists(
    client: &Client,
    publication: &str,
) -> Result<bool, ReplicationError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_use_debezium_names() {
        for mode in [
            AutocreateMode::AllTables,
            AutocreateMode::Disabled,
            AutocreateMode::Filtered,
        ] {
            assert_eq!(mode.as_str().parse::<AutocreateMode>().unwrap(), mode);
        }
        assert!("all".parse::<AutocreateMode>().is_err());
    }

    #[test]
    fn table_names_are_quoted() {
        assert_eq!(
            TableName::new("public", "Order\"s").quoted(),
            "\"public\".\"Order\"\"s\""
        );
    }
}
