//! What the mapping needs from the catalog and pgoutput does not send: `NOT NULL`,
//! primary-key order, defaults, enum labels and declared type names. Read when a
//! table's definition arrives (first use, and after every ALTER TABLE), so it always
//! describes the current definition, as Debezium's schema refresh does.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::events::ColumnCatalog;
use crate::pgoutput::Oid;

const COLUMNS: &str = "\
SELECT a.attname,
       t.typname::text,
       a.attnotnull,
       (SELECT array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1)
          FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary),
       pg_get_expr(d.adbin, d.adrelid),
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_enum e
         WHERE e.enumtypid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END)
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum";

/// Column name → catalog facts for the table with `oid`; empty when the table is gone
/// (dropped after the change was written: the stream's own definition still works).
pub async fn column_catalogs(
    client: &Client,
    oid: Oid,
) -> Result<HashMap<String, ColumnCatalog>, tokio_postgres::Error> {
    let rows = client.query(COLUMNS, &[&oid.0]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let position: Option<i32> = row.get(3);
            let catalog = ColumnCatalog {
                type_name: row.get(1),
                not_null: row.get(2),
                // int2vector arrays start at 0; the query makes the position 0-based anyway.
                primary_key_position: position.and_then(|p| usize::try_from(p).ok()),
                default_expression: row.get(4),
                enum_labels: row.get::<_, Option<Vec<String>>>(5).unwrap_or_default(),
            };
            (row.get::<_, String>(0), catalog)
        })
        .collect())
}
