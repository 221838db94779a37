//! What the warehouse catalog says about a target table.

use tokio_postgres::Client;

use crate::naming::{Ident, TableName};
use crate::table::ExistingTable;

/// The table's columns (name, `format_type`) and primary key; `None` when it does not
/// exist. `table` must be schema-qualified.
pub async fn existing_table(
    client: &impl tokio_postgres::GenericClient,
    table: &TableName,
) -> Result<Option<ExistingTable>, tokio_postgres::Error> {
    let schema = table.schema.as_ref().map_or("public", Ident::as_str);
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    coalesce(a.attnum = ANY(i.indkey), false) \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
             ORDER BY a.attnum",
            &[&schema, &table.table.as_str()],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut existing = ExistingTable::default();
    for row in rows {
        let name = Ident::exact(row.get::<_, String>(0));
        if row.get::<_, bool>(2) {
            existing.key.push(name.clone());
        }
        existing.columns.push((name, row.get(1)));
    }
    Ok(Some(existing))
}

/// The schema unqualified names resolve in.
pub async fn current_schema(client: &Client) -> Result<Ident, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT current_schema()::text", &[])
        .await?;
    Ok(Ident::exact(
        row.get::<_, Option<String>>(0)
            .unwrap_or_else(|| "public".to_owned()),
    ))
}
