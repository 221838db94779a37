//! The text of replication commands ("Streaming Replication Protocol": IDENTIFY_SYSTEM,
//! CREATE_REPLICATION_SLOT, DROP_REPLICATION_SLOT, START_REPLICATION) and the typed
//! options and replies around them. Pure: building a command never touches the
//! network, so quoting is unit-tested.
//!
//! The option-list syntax (`(SNAPSHOT 'export')`) is the one introduced in
//! PostgreSQL 15; the old keyword syntax is not produced.

use std::fmt;

use crate::lsn::Lsn;

use super::error::ReplicationError;
use super::quote::{quote_identifier, quote_replication_literal, validate_slot_name};

/// The output plugin pgcdc decodes.
pub const PGOUTPUT: &str = "pgoutput";

/// IDENTIFY_SYSTEM's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifySystem {
    /// The cluster's unique identifier (a 64-bit number, kept as PostgreSQL prints it).
    pub systemid: String,
    pub timeline: u32,
    /// The current WAL flush location.
    pub xlogpos: Lsn,
    /// The database of this connection.
    pub dbname: Option<String>,
}

/// What CREATE_REPLICATION_SLOT does with the snapshot at the slot's consistent
/// point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SnapshotAction {
    /// Export it, so another connection can read the database exactly as of the
    /// slot's start with `SET TRANSACTION SNAPSHOT`. It stays valid only while
    /// this replication connection runs no other command.
    #[default]
    Export,
    /// No snapshot (streaming only, nothing to copy).
    Nothing,
}

impl SnapshotAction {
    fn as_str(self) -> &'static str {
        match self {
            SnapshotAction::Export => "export",
            SnapshotAction::Nothing => "nothing",
        }
    }
}

/// How to create a slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateSlotOptions {
    /// Dropped automatically when this connection ends (or on error).
    pub temporary: bool,
    pub snapshot: SnapshotAction,
}

/// CREATE_REPLICATION_SLOT's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSlot {
    pub slot_name: String,
    /// The first LSN the slot will stream; the exported snapshot shows exactly the
    /// transactions committed before it.
    pub consistent_point: Lsn,
    /// For `SET TRANSACTION SNAPSHOT` on another connection, when exported.
    pub snapshot_name: Option<String>,
    pub output_plugin: String,
}

/// pgoutput's `streaming` option: how in-progress transactions are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Streaming {
    /// Whole transactions only, at commit.
    #[default]
    Off,
    /// Large in-progress transactions are streamed (proto_version 2+).
    On,
    /// As `On`, marked for parallel apply (proto_version 4+, PostgreSQL 16+).
    Parallel,
}

impl Streaming {
    fn as_str(self) -> &'static str {
        match self {
            Streaming::Off => "off",
            Streaming::On => "on",
            Streaming::Parallel => "parallel",
        }
    }
}

/// pgoutput's START_REPLICATION options ("Logical Streaming Replication
/// Parameters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOutputOptions {
    /// 1 (PostgreSQL 10+), 2 (14+, streaming), 3 (15+, two-phase), 4 (16+, parallel).
    pub proto_version: u32,
    pub publication_names: Vec<String>,
    /// Also send `pg_logical_emit_message` messages.
    pub messages: bool,
    pub streaming: Streaming,
    /// Column values in binary instead of text; pgcdc decodes text.
    pub binary: bool,
}

impl PgOutputOptions {
    /// Protocol version 1 with text values, as Debezium's pgoutput mode uses.
    pub fn new<I, S>(publication_names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PgOutputOptions {
            proto_version: 1,
            publication_names: publication_names.into_iter().map(Into::into).collect(),
            messages: false,
            streaming: Streaming::Off,
            binary: false,
        }
    }

    fn validate(&self) -> Result<(), ReplicationError> {
        let invalid = |property, reason: &str| {
            Err(ReplicationError::InvalidConfig {
                property,
                reason: reason.to_owned(),
            })
        };
        if self.publication_names.is_empty() {
            return invalid("publication.name", "at least one publication is needed");
        }
        if self.publication_names.iter().any(String::is_empty) {
            return invalid("publication.name", "a publication name is empty");
        }
        match (self.streaming, self.proto_version) {
            (_, 0) => invalid("proto_version", "must be at least 1"),
            (Streaming::On, 1) => invalid("streaming", "streaming needs proto_version 2 or later"),
            (Streaming::Parallel, 1..=3) => invalid(
                "streaming",
                "parallel streaming needs proto_version 4 (PostgreSQL 16+)",
            ),
            _ => Ok(()),
        }
    }
}

/// A command ready to send, printable for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command(pub String);

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn create_slot(
    slot: &str,
    options: CreateSlotOptions,
) -> Result<Command, ReplicationError> {
    validate_slot_name(slot)?;
    Ok(Command(format!(
        "CREATE_REPLICATION_SLOT {}{} LOGICAL {PGOUTPUT} (SNAPSHOT '{}')",
        quote_identifier(slot),
        if options.temporary { " TEMPORARY" } else { "" },
        options.snapshot.as_str(),
    )))
}

/// WAIT makes the server wait for a slot still held by an exiting walsender,
/// instead of failing at once.
pub(crate) fn drop_slot(slot: &str, wait: bool) -> Result<Command, ReplicationError> {
    validate_slot_name(slot)?;
    Ok(Command(format!(
        "DROP_REPLICATION_SLOT {}{}",
        quote_identifier(slot),
        if wait { " WAIT" } else { "" }
    )))
}

/// `publication_names` is a string literal holding a comma-separated list of
/// identifiers (parsed by SplitIdentifierString), so each name is quoted as an
/// identifier and the whole list as a literal.
pub(crate) fn start_replication(
    slot: &str,
    start: Lsn,
    options: &PgOutputOptions,
) -> Result<Command, ReplicationError> {
    validate_slot_name(slot)?;
    options.validate()?;
    let publications = options
        .publication_names
        .iter()
        .map(|name| quote_identifier(name))
        .collect::<Vec<_>>()
        .join(",");
    Ok(Command(format!(
        "START_REPLICATION SLOT {} LOGICAL {start} (proto_version '{}', publication_names {}, \
         messages '{}', streaming '{}', binary '{}')",
        quote_identifier(slot),
        options.proto_version,
        quote_replication_literal(&publications),
        options.messages,
        options.streaming.as_str(),
        options.binary,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_slot_uses_the_option_list_syntax() {
        let command = create_slot(
            "s1",
            CreateSlotOptions {
                temporary: true,
                snapshot: SnapshotAction::Export,
            },
        )
        .unwrap();
        assert_eq!(
            command.0,
            "CREATE_REPLICATION_SLOT \"s1\" TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')"
        );
        let command = create_slot("s1", CreateSlotOptions::default()).unwrap();
        assert_eq!(
            command.0,
            "CREATE_REPLICATION_SLOT \"s1\" LOGICAL pgoutput (SNAPSHOT 'export')"
        );
        assert!(create_slot("S1; DROP", CreateSlotOptions::default()).is_err());
    }

    #[test]
    fn drop_slot_waits_when_asked() {
        assert_eq!(
            drop_slot("s", true).unwrap().0,
            "DROP_REPLICATION_SLOT \"s\" WAIT"
        );
        assert_eq!(
            drop_slot("s", false).unwrap().0,
            "DROP_REPLICATION_SLOT \"s\""
        );
    }

    #[test]
    fn start_replication_quotes_publication_names() {
        let mut options = PgOutputOptions::new(["orders", "it's \"x\""]);
        options.proto_version = 2;
        options.streaming = Streaming::On;
        options.messages = true;
        let command = start_replication("s", Lsn(0x16B3748), &options).unwrap();
        assert_eq!(
            command.0,
            "START_REPLICATION SLOT \"s\" LOGICAL 0/16B3748 (proto_version '2', \
             publication_names '\"orders\",\"it''s \"\"x\"\"\"', messages 'true', \
             streaming 'on', binary 'false')"
        );
    }

    #[test]
    fn impossible_option_combinations_are_config_errors() {
        let mut options = PgOutputOptions::new(["p"]);
        options.streaming = Streaming::On;
        assert!(start_replication("s", Lsn(0), &options).is_err());
        options.proto_version = 3;
        options.streaming = Streaming::Parallel;
        assert!(start_replication("s", Lsn(0), &options).is_err());
        options.proto_version = 4;
        assert!(start_replication("s", Lsn(0), &options).is_ok());
        assert!(
            start_replication("s", Lsn(0), &PgOutputOptions::new(Vec::<String>::new())).is_err()
        );
    }
}
