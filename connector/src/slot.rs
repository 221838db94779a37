//! Preflight checks and replication slot inspection over an ordinary SQL
//! connection (tokio-postgres), done before a replication connection is opened so
//! that a misconfigured server is reported as what to fix, not as a protocol error.

use tokio_postgres::Client;

use crate::lsn::Lsn;
use crate::replication::{validate_slot_name, ReplicationError};

/// A row of `pg_replication_slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    pub slot_name: String,
    /// `None` for physical slots.
    pub plugin: Option<String>,
    pub database: Option<String>,
    pub temporary: bool,
    pub active: bool,
    /// The process streaming from it, while `active`.
    pub active_pid: Option<i32>,
    /// The oldest WAL the slot still needs.
    pub restart_lsn: Option<Lsn>,
    /// Where streaming resumes: everything before it was confirmed by a client.
    pub confirmed_flush_lsn: Option<Lsn>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+).
    pub wal_status: Option<String>,
}

/// Fails with [`ReplicationError::WalLevelNotLogical`] unless `wal_level` is
/// `logical`.
pub async fn check_wal_level(client: &Client) -> Result<(), ReplicationError> {
    let row = client.query_one("SHOW wal_level", &[]).await?;
    let found: String = row.try_get(0)?;
    if found == "logical" {
        Ok(())
    } else {
        Err(ReplicationError::WalLevelNotLogical { found })
    }
}

/// Fails with [`ReplicationError::MissingReplicationPrivilege`] unless the
/// connected role has REPLICATION or is a superuser.
pub async fn check_replication_privilege(client: &Client) -> Result<(), ReplicationError> {
    let row = client
        .query_one(
            "SELECT rolname::text, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?;
    let role: String = row.try_get(0)?;
    let replication: bool = row.try_get(1)?;
    let superuser: bool = row.try_get(2)?;
    if replication || superuser {
        Ok(())
    } else {
        Err(ReplicationError::MissingReplicationPrivilege { role })
    }
}

/// Both server-level checks a connector runs before it starts.
pub async fn preflight(client: &Client) -> Result<(), ReplicationError> {
    check_wal_level(client).await?;
    check_replication_privilege(client).await
}

/// The slot's row, or `None` when it does not exist.
pub async fn find_slot(client: &Client, slot: &str) -> Result<Option<SlotInfo>, ReplicationError> {
    validate_slot_name(slot)?;
    let row = client
        .query_opt(
            "SELECT slot_name::text, plugin::text, database::text, temporary, active, active_pid, \
                    restart_lsn::text, confirmed_flush_lsn::text, wal_status \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lsn = |index: usize| -> Result<Option<Lsn>, ReplicationError> {
        let text: Option<String> = row.try_get(index)?;
        text.map(|text| {
            text.parse().map_err(|_| {
                ReplicationError::protocol(format!("invalid LSN {text:?} in pg_replication_slots"))
            })
        })
        .transpose()
    };
    Ok(Some(SlotInfo {
        slot_name: row.try_get(0)?,
        plugin: row.try_get(1)?,
        database: row.try_get(2)?,
        temporary: row.try_get(3)?,
        active: row.try_get(4)?,
        active_pid: row.try_get(5)?,
        restart_lsn: lsn(6)?,
        confirmed_flush_lsn: lsn(7)?,
        wal_status: row.try_get(8)?,
    }))
}

/// The slot, if it exists and no other process streams from it; otherwise
/// [`ReplicationError::SlotInUse`] with the holder's pid.
pub async fn check_slot_available(
    client: &Client,
    slot: &str,
) -> Result<Option<SlotInfo>, ReplicationError> {
    match find_slot(client, slot).await? {
        Some(info) if info.active => Err(ReplicationError::SlotInUse {
            slot: slot.to_owned(),
            active_pid: info.active_pid,
        }),
        other => Ok(other),
    }
}

/// Drops the slot if it exists; `true` when it did. A slot held by a running
/// walsender is reported as [`ReplicationError::SlotInUse`].
pub async fn drop_slot(client: &Client, slot: &str) -> Result<bool, ReplicationError> {
    let Some(info) = check_slot_available(client, slot).await? else {
        return Ok(false);
    };
    match client
        .execute("SELECT pg_drop_replication_slot($1)", &[&info.slot_name])
        .await
    {
        Ok(_) => {
            tracing::info!(slot, "dropped replication slot");
            Ok(true)
        }
        // object_in_use: it became active between the check and the drop.
        Err(error) if error.code().map(|c| c.code()) == Some("55006") => {
            let active_pid = find_slot(client, slot).await?.and_then(|s| s.active_pid);
            Err(ReplicationError::SlotInUse {
                slot: slot.to_owned(),
                active_pid,
            })
        }
        // undefined_object: someone else dropped it first.
        Err(error) if error.code().map(|c| c.code()) == Some("42704") => Ok(false),
        Err(error) => Err(error.into()),
    }
}
