//! Capture: one replication session turned into a stream of [`Change`]s.
//!
//! This is the thin shell around the pure parts: it reads XLogData from the
//! [`ReplicationStream`], decodes each payload with the pgoutput [`Decoder`], keeps
//! the table definitions the stream announces, and resolves every row to its table so
//! the layers above read columns by name and type. It never confirms anything by
//! itself: the consumer calls [`Capture::confirm`] once what it took is durable
//! elsewhere, and only that position is reported to PostgreSQL as flushed.

mod catalog;
mod change;

use std::collections::HashMap;
use std::sync::Arc;

pub use catalog::load_user_types;
pub use change::{Cell, CellError, Change, OldImage, RowChange, RowOp, RowValues, TableSchema};

use crate::lsn::Lsn;
use crate::pgoutput::{
    Commit, DecodeError, Decoder, LogicalReplicationMessage as Message, Oid, Relation,
    StreamingMode, TupleData,
};
use crate::relations::{RelationCache, RelationError};
use crate::replication::{
    PgOutputOptions, ReplicationClient, ReplicationConfig, ReplicationError, ReplicationStream,
    Streaming,
};
use crate::values::{TypeEntry, TypeKind, TypeRegistry, Typmod};

/// What to stream.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub slot: String,
    pub publications: Vec<String>,
    /// pgoutput protocol version: 1 sends whole transactions after commit (the server
    /// spills large ones to disk, so the client's memory stays bounded); 2 and later
    /// can stream large in-progress transactions.
    pub proto_version: u32,
    pub streaming: Streaming,
    /// Also receive `pg_logical_emit_message` messages.
    pub messages: bool,
    /// Where to start; `Lsn::ZERO` resumes at the slot's `confirmed_flush_lsn`.
    pub start_lsn: Lsn,
}

impl CaptureOptions {
    pub fn new(slot: impl Into<String>, publications: Vec<String>) -> Self {
        CaptureOptions {
            slot: slot.into(),
            publications,
            proto_version: 1,
            streaming: Streaming::Off,
            messages: false,
            start_lsn: Lsn::ZERO,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    #[error("pgoutput message at {lsn}: {source}")]
    Decode {
        lsn: Lsn,
        #[source]
        source: DecodeError,
    },
    #[error("at {lsn}: {source}")]
    Relation {
        lsn: Lsn,
        #[source]
        source: RelationError,
    },
}

impl CaptureError {
    /// Whether reconnecting and resuming from the confirmed position can help. A
    /// message that does not decode will not decode the second time either.
    pub fn is_retriable(&self) -> bool {
        match self {
            CaptureError::Replication(e) => e.is_retriable(),
            CaptureError::Decode { .. } | CaptureError::Relation { .. } => false,
        }
    }
}

/// A running capture session.
#[derive(Debug)]
pub struct Capture {
    stream: ReplicationStream,
    decoder: Decoder,
    relations: RelationCache,
    types: TypeRegistry,
    tables: HashMap<Oid, Arc<TableSchema>>,
}

impl Capture {
    /// Connects, reads the user-defined types, and starts streaming from the slot.
    /// The slot and publications must exist (see [`crate::slot`] and
    /// [`crate::publication`]).
    pub async fn start(
        config: ReplicationConfig,
        options: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        let mut client = ReplicationClient::connect(config).await?;
        let types = catalog::load_user_types(&mut client).await?;
        Self::start_on(client, types, options).await
    }

    /// Starts streaming on a connection that is already set up (for example one that
    /// just created the slot and exported a snapshot).
    pub async fn start_on(
        client: ReplicationClient,
        types: TypeRegistry,
        options: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        let pgoutput = PgOutputOptions {
            proto_version: options.proto_version,
            publication_names: options.publications.clone(),
            messages: options.messages,
            streaming: options.streaming,
            binary: false,
        };
        let streaming = match options.streaming {
            Streaming::Off => StreamingMode::Off,
            Streaming::On => StreamingMode::On,
            Streaming::Parallel => StreamingMode::Parallel,
        };
        let decoder = Decoder::new(options.proto_version, streaming).map_err(|source| {
            CaptureError::Decode {
                lsn: options.start_lsn,
                source,
            }
        })?;
        let stream = client
            .start_replication(&options.slot, options.start_lsn, &pgoutput)
            .await?;
        Ok(Capture {
            stream,
            decoder,
            relations: RelationCache::new(),
            types,
            tables: HashMap::new(),
        })
    }

    /// The next change, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<Change>, CaptureError> {
        loop {
            let Some(xlog) = self.stream.next().await? else {
                return Ok(None);
            };
            let lsn = xlog.wal_start;
            let message = self
                .decoder
                .decode(xlog.data)
                .map_err(|source| CaptureError::Decode { lsn, source })?;
            if let Some(change) = self.resolve(lsn, message)? {
                return Ok(Some(change));
            }
        }
    }

    fn resolve(&mut self, lsn: Lsn, message: Message) -> Result<Option<Change>, CaptureError> {
        Ok(Some(match message {
            Message::Begin(begin) => Change::Begin(begin),
            Message::Commit(commit) => Change::Commit(commit),
            Message::Origin(origin) => Change::Origin(origin),
            Message::Type(type_message) => {
                // A type created after this session read the catalog: known by name
                // only, which is enough for extension types (hstore, citext, ...).
                if self.types.get(type_message.oid).is_none() {
                    self.types.register(TypeEntry {
                        oid: type_message.oid,
                        namespace: type_message.namespace.clone(),
                        name: type_message.name.clone(),
                        kind: TypeKind::Base,
                        typmod: Typmod::NONE,
                    });
                }
                self.relations.insert_type(type_message);
                return Ok(None);
            }
            Message::Relation(relation) => {
                let (table, previous) = self.insert_relation(relation);
                Change::Schema { table, previous }
            }
            Message::Insert(insert) => Change::Row(RowChange {
                op: RowOp::Insert,
                lsn,
                xid: insert.xid,
                table: self.checked_table(lsn, insert.relation_oid, None, Some(&insert.new))?,
                old: None,
                new: Some(insert.new),
            }),
            Message::Update(update) => {
                let old = RowChange::old_from(update.old);
                let table = self.checked_table(
                    lsn,
                    update.relation_oid,
                    old.as_ref().map(|(_, t)| t),
                    Some(&update.new),
                )?;
                Change::Row(RowChange {
                    op: RowOp::Update,
                    lsn,
                    xid: update.xid,
                    table,
                    old,
                    new: Some(update.new),
                })
            }
            Message::Delete(delete) => {
                let old = RowChange::old_from(Some(delete.old));
                let table = self.checked_table(
                    lsn,
                    delete.relation_oid,
                    old.as_ref().map(|(_, t)| t),
                    None,
                )?;
                Change::Row(RowChange {
                    op: RowOp::Delete,
                    lsn,
                    xid: delete.xid,
                    table,
                    old,
                    new: None,
                })
            }
            Message::Truncate(truncate) => Change::Truncate {
                lsn,
                xid: truncate.xid,
                tables: truncate
                    .relation_oids
                    .iter()
                    .map(|&oid| self.table(lsn, oid))
                    .collect::<Result<_, _>>()?,
                options: truncate.options,
            },
            Message::Message(message) => Change::Message(message),
            Message::StreamStart(start) => Change::StreamStart {
                xid: start.xid,
                first_segment: start.first_segment,
            },
            Message::StreamStop => Change::StreamStop,
            Message::StreamCommit(commit) => Change::StreamCommit(
                Commit {
                    flags: commit.flags,
                    commit_lsn: commit.commit_lsn,
                    end_lsn: commit.end_lsn,
                    commit_timestamp: commit.commit_timestamp,
                },
                commit.xid,
            ),
            Message::StreamAbort(abort) => Change::StreamAbort {
                xid: abort.xid,
                subxid: abort.subxact_xid,
            },
            other @ (Message::BeginPrepare(_)
            | Message::Prepare(_)
            | Message::CommitPrepared(_)
            | Message::RollbackPrepared(_)
            | Message::StreamPrepare(_)) => Change::TwoPhase(Box::new(other)),
        }))
    }

    fn insert_relation(
        &mut self,
        relation: Relation,
    ) -> (Arc<TableSchema>, Option<Arc<TableSchema>>) {
        let (relation, _) = self.relations.insert(relation);
        let column_types = relation
            .columns
            .iter()
            .map(|c| self.types.resolve(c.type_oid, Typmod(c.type_modifier)))
            .collect();
        let table = Arc::new(TableSchema {
            relation,
            column_types,
        });
        let previous = self.tables.insert(table.relation.oid, Arc::clone(&table));
        (table, previous)
    }

    fn table(&self, lsn: Lsn, oid: Oid) -> Result<Arc<TableSchema>, CaptureError> {
        self.tables
            .get(&oid)
            .cloned()
            .ok_or(CaptureError::Relation {
                lsn,
                source: RelationError::UnknownRelation { oid },
            })
    }

    /// The table of a row change, after checking that its row images have as many
    /// columns as the table has: a mismatch means a corrupted or misread stream.
    fn checked_table(
        &self,
        lsn: Lsn,
        oid: Oid,
        old: Option<&TupleData>,
        new: Option<&TupleData>,
    ) -> Result<Arc<TableSchema>, CaptureError> {
        let table = self.table(lsn, oid)?;
        for tuple in old.into_iter().chain(new) {
            table
                .relation
                .check_tuple(tuple)
                .map_err(|source| CaptureError::Relation { lsn, source })?;
        }
        Ok(table)
    }

    /// Reports `lsn` as flushed: PostgreSQL may recycle WAL before it, and a new
    /// session on this slot starts there. Call it only for what is durable downstream.
    pub fn confirm(&mut self, lsn: Lsn) {
        self.stream.confirm(lsn);
    }

    pub fn confirmed_lsn(&self) -> Lsn {
        self.stream.confirmed_lsn()
    }

    /// The end of the WAL the server has sent or announced, for lag.
    pub fn server_wal_end(&self) -> Lsn {
        self.stream.server_wal_end()
    }

    /// Sends a status update now (for example right after a confirm).
    pub async fn send_status(&mut self) -> Result<(), CaptureError> {
        Ok(self.stream.send_status().await?)
    }

    /// Ends streaming politely, reporting the confirmed position one last time.
    pub async fn stop(self) -> Result<(), CaptureError> {
        let client = self.stream.stop().await?;
        client.close().await?;
        Ok(())
    }
}
