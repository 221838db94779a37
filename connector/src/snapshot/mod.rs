//! Reading a table's existing rows under the slot's exported snapshot.
//!
//! A slot created with an exported snapshot marks one point in time: the snapshot
//! shows exactly the transactions committed before the slot's consistent point, and
//! the slot streams exactly those committed after it. Readers on other connections
//! import that snapshot (`SET TRANSACTION SNAPSHOT`), so a table copied in parallel
//! chunks is one consistent image with neither a gap nor an overlap with the stream.
//! Rows come out as [`TupleData`] in the column order pgoutput uses, so snapshot rows
//! and streamed rows are typed and encoded by the same code.

pub mod chunks;
pub mod copy_text;

use std::sync::Arc;

use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::Client;

use crate::capture::TableSchema;
use crate::pgoutput::{ColumnValue, Oid, Relation, RelationColumn, ReplicaIdentity, TupleData};
use crate::replication::{quote_identifier, quote_literal};
use crate::values::{TypeRegistry, Typmod};
use chunks::BlockRange;
use copy_text::CopyTextError;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot of {table}: {source}")]
    Sql {
        table: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("snapshot {snapshot}: cannot import it ({source}); it lives only while the replication connection that exported it is idle")]
    Import {
        snapshot: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("table {0} does not exist")]
    NoSuchTable(String),
    #[error("snapshot of {table}, {chunk}: {source}")]
    CopyText {
        table: String,
        chunk: BlockRange,
        #[source]
        source: CopyTextError,
    },
}

impl SnapshotError {
    /// Connection trouble is worth a retry (with a new snapshot); a missing table or
    /// unreadable COPY output is not.
    pub fn is_retriable(&self) -> bool {
        match self {
            SnapshotError::Sql { source, .. } | SnapshotError::Import { source, .. } => {
                source.is_closed()
            }
            SnapshotError::NoSuchTable(_) | SnapshotError::CopyText { .. } => false,
        }
    }
}

/// Opens a read-only repeatable-read transaction on `client` that sees the database as
/// of the exported `snapshot`.
pub async fn import_snapshot(client: &Client, snapshot: &str) -> Result<(), SnapshotError> {
    // The output settings match the replication session's, so a value copied here has
    // the very text pgoutput would send for it (see `values`).
    let sql = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; \
         SET LOCAL DateStyle = ISO; SET LOCAL IntervalStyle = postgres; \
         SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 3",
        quote_literal(snapshot)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|source| SnapshotError::Import {
            snapshot: snapshot.to_owned(),
            source,
        })
}

/// The table as pgoutput would describe it: columns in attribute order without
/// dropped and generated ones, key flags from the replica identity, and each column's
/// type resolved with `types`.
pub async fn table_schema(
    client: &Client,
    schema: &str,
    table: &str,
    types: &TypeRegistry,
) -> Result<Arc<TableSchema>, SnapshotError> {
    let qualified = format!("{}.{}", quote_identifier(schema), quote_identifier(table));
    let sql_error = |source| SnapshotError::Sql {
        table: qualified.clone(),
        source,
    };
    let relation = client
        .query_opt(
            "SELECT c.oid, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &table],
        )
        .await
        .map_err(sql_error)?
        .ok_or_else(|| SnapshotError::NoSuchTable(qualified.clone()))?;
    let oid: u32 = relation.get(0);
    let identity: String = relation.get(1);
    // The identity columns: the primary key (DEFAULT), the chosen index (INDEX), all
    // columns (FULL; pgoutput still flags the key columns), none (NOTHING).
    let rows = client
        .query(
            "SELECT a.attname, a.atttypid, a.atttypmod, \
               coalesce(a.attnum = ANY (i.indkey), false) AS is_key \
             FROM pg_attribute a \
             LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND \
               CASE $2 WHEN 'i' THEN i.indisreplident WHEN 'n' THEN false ELSE i.indisprimary END \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&oid, &identity],
        )
        .await
        .map_err(sql_error)?;
    let columns: Vec<RelationColumn> = rows
        .iter()
        .map(|row| RelationColumn {
            flags: if row.get::<_, bool>(3) {
                RelationColumn::KEY_FLAG
            } else {
                0
            },
            name: row.get(0),
            type_oid: Oid(row.get(1)),
            type_modifier: row.get(2),
        })
        .collect();
    let column_types = columns
        .iter()
        .map(|c| types.resolve(c.type_oid, Typmod(c.type_modifier)))
        .collect();
    let replica_identity = ReplicaIdentity::from_byte(identity.bytes().next().unwrap_or(b'd'))
        .unwrap_or(ReplicaIdentity::Default);
    Ok(Arc::new(TableSchema {
        relation: Arc::new(Relation {
            xid: None,
            oid: Oid(oid),
            namespace: schema.to_owned(),
            name: table.to_owned(),
            replica_identity,
            columns,
        }),
        column_types,
    }))
}

/// The table's size in heap blocks, for [`chunks::plan`].
pub async fn table_blocks(client: &Client, table: &TableSchema) -> Result<u32, SnapshotError> {
    let row = client
        .query_one(
            "SELECT (pg_relation_size($1::oid) / current_setting('block_size')::bigint)::bigint",
            &[&table.relation.oid.0],
        )
        .await
        .map_err(|source| SnapshotError::Sql {
            table: table.qualified_name(),
            source,
        })?;
    Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
}

/// Copies the rows of one chunk, calling `on_row` for each in heap order. Returns the
/// number of rows. Must run inside [`import_snapshot`]'s transaction.
pub async fn copy_chunk(
    client: &Client,
    table: &TableSchema,
    chunk: BlockRange,
    mut on_row: impl FnMut(TupleData),
) -> Result<u64, SnapshotError> {
    let columns: Vec<String> = table
        .relation
        .columns
        .iter()
        .map(|c| quote_identifier(&c.name))
        .collect();
    let sql = format!(
        "COPY (SELECT {} FROM {}.{} WHERE {}) TO STDOUT",
        if columns.is_empty() {
            "NULL".to_owned()
        } else {
            columns.join(", ")
        },
        quote_identifier(&table.relation.namespace),
        quote_identifier(&table.relation.name),
        chunk.predicate()
    );
    let expected = columns.len().max(1);
    let sql_error = |source| SnapshotError::Sql {
        table: table.qualified_name(),
        source,
    };
    let stream = client.copy_out(sql.as_str()).await.map_err(sql_error)?;
    pin_mut!(stream);
    // COPY sends a row per message in practice, but the protocol does not promise
    // it: lines are reassembled across message boundaries.
    let mut pending: Vec<u8> = Vec::new();
    let mut rows = 0u64;
    let mut emit = |line: &[u8]| -> Result<(), SnapshotError> {
        let parsed =
            copy_text::parse_line(line, expected).map_err(|source| SnapshotError::CopyText {
                table: table.qualified_name(),
                chunk,
                source,
            })?;
        let values = parsed.iter().take(columns.len()).map(|c| match c {
            Some(text) => ColumnValue::Text(text),
            None => ColumnValue::Null,
        });
        on_row(TupleData::from_values(values));
        rows += 1;
        Ok(())
    };
    while let Some(bytes) = stream.try_next().await.map_err(sql_error)? {
        let mut data: &[u8] = &bytes;
        while let Some(newline) = memchr::memchr(b'\n', data) {
            if pending.is_empty() {
                emit(&data[..newline])?;
            } else {
                pending.extend_from_slice(&data[..newline]);
                emit(&std::mem::take(&mut pending))?;
            }
            data = &data[newline + 1..];
        }
        pending.extend_from_slice(data);
    }
    Ok(rows)
}
