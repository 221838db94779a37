//! User-defined types read from `pg_type`, so columns of enums, domains and extension
//! types parse as what they are. Read once per session over the replication
//! connection, before streaming starts; a type created later is learned from the
//! stream's Type message by name only (enough for extension types, while a new enum
//! or domain reads as text until the next session — documented in the README).

use crate::pgoutput::Oid;
use crate::replication::{ReplicationClient, ReplicationError};
use crate::values::{TypeEntry, TypeKind, TypeRegistry, Typmod};

/// Table row types are left out: they only matter for composite columns, which are
/// kept as text anyway, and a database has one per table.
const USER_TYPES: &str = "SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, \
     t.typelem, t.typbasetype, t.typtypmod \
     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
     WHERE t.oid >= 16384 AND t.typtype <> 'c' AND t.typtype <> 'p'";

/// Reads the database's user-defined types (enums, domains, arrays, extension types)
/// over a replication connection, before START_REPLICATION.
pub async fn load_user_types(
    client: &mut ReplicationClient,
) -> Result<TypeRegistry, ReplicationError> {
    let rows = client.query_text(USER_TYPES).await?;
    let mut registry = TypeRegistry::new();
    for row in &rows.rows {
        if let Some(entry) = parse_row(row) {
            registry.register(entry);
        }
    }
    Ok(registry)
}

fn parse_row(row: &[Option<String>]) -> Option<TypeEntry> {
    let text = |i: usize| row.get(i).and_then(|v| v.as_deref());
    let oid = |i: usize| text(i).and_then(|v| v.parse::<u32>().ok()).map(Oid);
    let byte = |i: usize| text(i).and_then(|v| v.bytes().next());
    let kind = TypeKind::from_catalog(byte(3)?, byte(4)?, oid(5)?, oid(6)?)?;
    Some(TypeEntry {
        oid: oid(0)?,
        namespace: text(1)?.to_owned(),
        name: text(2)?.to_owned(),
        kind,
        typmod: Typmod(text(7)?.parse().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some((*v).to_owned())).collect()
    }

    #[test]
    fn reads_enums_domains_and_arrays() {
        let status = parse_row(&row(&[
            "16390", "public", "status", "e", "E", "0", "0", "-1",
        ]))
        .unwrap();
        assert_eq!(status.kind, TypeKind::Enum);
        assert_eq!(status.name, "status");
        let amount = parse_row(&row(&[
            "16400", "shop", "amount", "d", "N", "0", "1700", "655366",
        ]))
        .unwrap();
        assert_eq!(
            amount.kind,
            TypeKind::Domain {
                base_oid: Oid(1700)
            }
        );
        assert_eq!(amount.typmod, Typmod(655366));
        let statuses = parse_row(&row(&[
            "16389", "public", "_status", "b", "A", "16390", "0", "-1",
        ]))
        .unwrap();
        assert_eq!(
            statuses.kind,
            TypeKind::Array {
                elem_oid: Oid(16390)
            }
        );
    }

    #[test]
    fn skips_rows_it_cannot_read() {
        assert!(parse_row(&row(&["x", "public", "t", "e", "E", "0", "0", "-1"])).is_none());
        assert!(parse_row(&row(&["16390", "public", "t", "p", "P", "0", "0", "-1"])).is_none());
        assert!(parse_row(&[None, None]).is_none());
    }
}
