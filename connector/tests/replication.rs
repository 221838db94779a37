//! The replication client against a real PostgreSQL: authentication, every
//! sslmode, slot commands, exported snapshots, streaming, keepalives, confirmed
//! positions, slot conflicts, preflight checks and publications.
//!
//! The server comes from `dev/stack up`, which exports PGCDC_PG_HOST,
//! PGCDC_PG15_PORT / PGCDC_PG18_PORT (chosen by PGCDC_PG_VERSION, default 15),
//! PGCDC_PG_USER / PGCDC_PG_PASSWORD (a superuser), PGCDC_PG_SSL_ROOT_CERT, and
//! provides the roles pgcdc_md5 (md5), pgcdc_trust (trust) and pgcdc_norepl (no
//! REPLICATION), the last two passwords being "pgcdc". Each test gets its own
//! database and slot names, and drops them even when it fails.

// Helpers outside #[test] functions are test code too: a failed step should panic.
#![allow(clippy::unwrap_used)]

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_connector::publication::{
    ensure_publication, published_tables, AutocreateMode, PublicationChange, TableName,
};
use pgcdc_connector::replication::{
    quote_identifier, quote_literal, AuthMethod, CreateSlotOptions, PgOutputOptions,
    ReplicationClient, ReplicationConfig, ReplicationError, ReplicationStream, SnapshotAction,
    SslMode, XLogData,
};
use pgcdc_connector::slot;
use pgcdc_connector::Lsn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::{Client, NoTls};

const PASSWORD: &str = "pgcdc";
/// Longest wait for anything the server should do promptly.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- harness

#[derive(Debug)]
struct Server {
    host: String,
    port: u16,
    user: String,
    password: String,
    root_cert: PathBuf,
}

fn server() -> Arc<Server> {
    let version = std::env::var("PGCDC_PG_VERSION").unwrap_or_else(|_| "15".to_owned());
    let port_var = format!("PGCDC_PG{version}_PORT");
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: these tests need the project's PostgreSQL. Run `dev/stack up` \
                 and export what it prints (PGCDC_PG_HOST, {port_var}, PGCDC_PG_USER, \
                 PGCDC_PG_PASSWORD, PGCDC_PG_SSL_ROOT_CERT)"
            )
        })
    };
    Arc::new(Server {
        host: get("PGCDC_PG_HOST"),
        port: get(&port_var)
            .parse()
            .unwrap_or_else(|_| panic!("{port_var} is not a port number")),
        user: get("PGCDC_PG_USER"),
        password: get("PGCDC_PG_PASSWORD"),
        root_cert: PathBuf::from(get("PGCDC_PG_SSL_ROOT_CERT")),
    })
}

async fn sql_connect(server: &Server, user: &str, password: &str, dbname: &str) -> Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&server.host)
        .port(server.port)
        .user(user)
        .password(password)
        .dbname(dbname)
        .application_name("pgcdc-tests");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {dbname} as {user}: {e}"));
    tokio::spawn(connection);
    client
}

/// One test's database; slots are named after it so they are unique too.
#[derive(Debug, Clone)]
struct TestDb {
    server: Arc<Server>,
    name: String,
}

impl TestDb {
    fn config(&self, user: &str, password: &str) -> ReplicationConfig {
        let mut config =
            ReplicationConfig::new(&self.server.host, self.server.port, user, &self.name)
                .with_password(password);
        config.connect_timeout = PATIENCE;
        config.application_name = format!("pgcdc-test-{}", self.name);
        config
    }

    fn superuser(&self) -> ReplicationConfig {
        self.config(&self.server.user, &self.server.password)
    }

    async fn sql(&self) -> Client {
        sql_connect(
            &self.server,
            &self.server.user,
            &self.server.password,
            &self.name,
        )
        .await
    }

    fn slot(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.name)
    }
}

fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// Runs `body` in a fresh database, then drops the database's slots and the
/// database whether the body passed or panicked.
async fn with_db<F, Fut>(test: &str, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = server();
    let name = format!("repl_{}_{}", &test[..test.len().min(24)], random_suffix());
    let admin = sql_connect(&server, &server.user, &server.password, "postgres").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(&name)))
        .await
        .expect("CREATE DATABASE");
    let db = TestDb {
        server: Arc::clone(&server),
        name: name.clone(),
    };
    let outcome = tokio::spawn(body(db)).await;
    cleanup(&admin, &name).await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

async fn cleanup(admin: &Client, database: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let _ = admin
            .execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                 WHERE database = $1 AND active_pid IS NOT NULL",
                &[&database],
            )
            .await;
        let dropped = admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE database = $1 AND NOT active",
                &[&database],
            )
            .await;
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
                &[&database],
            )
            .await
            .map(|row| row.get(0))
            .unwrap_or(1);
        if dropped.is_ok() && left == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("could not drop every replication slot of {database}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(error) = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(database)
        ))
        .await
    {
        eprintln!("could not drop database {database}: {error}");
    }
}

/// A slot created without a snapshot, for tests that only stream.
async fn slot_for_streaming(db: &TestDb, suffix: &str) -> String {
    let slot = db.slot(suffix);
    let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
    client
        .create_slot(
            &slot,
            CreateSlotOptions {
                temporary: false,
                snapshot: SnapshotAction::Nothing,
            },
        )
        .await
        .unwrap();
    client.close().await.unwrap();
    slot
}

async fn start(
    db: &TestDb,
    config: ReplicationConfig,
    slot: &str,
    start: Lsn,
) -> ReplicationStream {
    ReplicationClient::connect(config)
        .await
        .unwrap()
        .start_replication(slot, start, &PgOutputOptions::new(["pub"]))
        .await
        .unwrap_or_else(|e| panic!("START_REPLICATION on {slot} in {}: {e}", db.name))
}

async fn next_message(stream: &mut ReplicationStream) -> XLogData {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("no XLogData within the patience")
        .expect("stream failed")
        .expect("the server ended the stream")
}

/// The messages of one transaction, Begin through Commit.
async fn next_transaction(stream: &mut ReplicationStream) -> Vec<XLogData> {
    let mut messages = Vec::new();
    loop {
        let message = next_message(stream).await;
        let tag = message.data.first().copied();
        messages.push(message);
        if tag == Some(b'C') {
            return messages;
        }
    }
}

fn tags(messages: &[XLogData]) -> String {
    messages
        .iter()
        .map(|m| m.data.first().map_or('?', |&b| char::from(b)))
        .collect()
}

/// pgoutput Commit: 'C', flags, commit LSN, end LSN, timestamp.
fn commit_end_lsn(commit: &XLogData) -> Lsn {
    assert_eq!(commit.data[0], b'C');
    Lsn(u64::from_be_bytes(commit.data[10..18].try_into().unwrap()))
}

/// pgoutput Begin: 'B', final LSN, timestamp, xid.
fn begin_final_lsn(begin: &XLogData) -> Lsn {
    assert_eq!(begin.data[0], b'B');
    Lsn(u64::from_be_bytes(begin.data[1..9].try_into().unwrap()))
}

async fn confirmed_flush_lsn(sql: &Client, slot: &str) -> Option<Lsn> {
    slot::find_slot(sql, slot)
        .await
        .unwrap()
        .and_then(|info| info.confirmed_flush_lsn)
}

async fn wait_for_confirmed_flush(sql: &Client, slot: &str, expected: Lsn) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = confirmed_flush_lsn(sql, slot).await;
        if found == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "confirmed_flush_lsn stayed {found:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn table_with_publication(sql: &Client) {
    sql.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t",
    )
    .await
    .unwrap();
}

/// Whether the server accepts TLS. The stack's PostgreSQL 18 comes from a build
/// without OpenSSL; there a TLS test checks the refusal and skips the rest.
async fn server_has_tls(db: &TestDb, test: &str) -> bool {
    match ReplicationClient::connect(db.superuser().with_sslmode(SslMode::Require)).await {
        Ok(client) => {
            client.close().await.unwrap();
            true
        }
        Err(ReplicationError::SslNotSupported { .. }) => {
            eprintln!("SKIPPED the TLS part of {test}: this PostgreSQL build has no TLS");
            false
        }
        Err(error) => panic!("probing TLS support: {error}"),
    }
}

/// A TCP forwarder to the server, listening on `listen` (e.g. 127.0.0.2, an
/// address the certificate does not name). With `refuse_ssl` it answers an
/// SSLRequest with 'N' itself, like a server with ssl=off.
async fn forwarder(server: &Server, listen: &str, refuse_ssl: bool) -> SocketAddr {
    let listener = TcpListener::bind((listen, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    let target = format!("{}:{}", server.host, server.port);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let _ = forward(client, &target, refuse_ssl).await;
            });
        }
    });
    address
}

/// SSLRequest: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn forward(mut client: TcpStream, target: &str, refuse_ssl: bool) -> std::io::Result<()> {
    let mut prefix = Vec::new();
    if refuse_ssl {
        let mut first = [0u8; 8];
        client.read_exact(&mut first).await?;
        if first == SSL_REQUEST {
            client.write_all(b"N").await?;
        } else {
            prefix.extend_from_slice(&first);
        }
    }
    let mut upstream = TcpStream::connect(target).await?;
    upstream.write_all(&prefix).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn scram_sha_256_authenticates_the_superuser() {
    with_db("auth_scram", |db| async move {
        let mut config = db.superuser();
        config.sslmode = SslMode::Disable;
        let client = ReplicationClient::connect(config).await.unwrap();
        assert_eq!(client.auth_method(), AuthMethod::ScramSha256);
        assert!(!client.is_encrypted());
        assert!(client.server_major_version().is_some_and(|v| v >= 15));
        assert!(client
            .server_parameter("DateStyle")
            .is_some_and(|s| s.starts_with("ISO")));
        assert_eq!(client.server_parameter("TimeZone"), Some("UTC"));
        assert_eq!(client.server_parameter("IntervalStyle"), Some("postgres"));
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn scram_binds_to_the_tls_channel_when_encrypted() {
    with_db("auth_scram_plus", |db| async move {
        if !server_has_tls(&db, "scram_binds_to_the_tls_channel_when_encrypted").await {
            return;
        }
        let config = db.superuser().with_sslmode(SslMode::Require);
        let client = ReplicationClient::connect(config).await.unwrap();
        assert!(client.is_encrypted());
        assert_eq!(client.auth_method(), AuthMethod::ScramSha256Plus);
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn md5_authenticates_the_md5_role() {
    with_db("auth_md5", |db| async move {
        let client = ReplicationClient::connect(db.config("pgcdc_md5", PASSWORD))
            .await
            .unwrap();
        assert_eq!(client.auth_method(), AuthMethod::Md5);
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn trust_needs_no_password() {
    with_db("auth_trust", |db| async move {
        let client = ReplicationClient::connect(db.config("pgcdc_trust", ""))
            .await
            .unwrap();
        assert_eq!(client.auth_method(), AuthMethod::Trust);
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_is_a_fatal_authentication_error() {
    with_db("auth_wrong", |db| async move {
        for user in [db.server.user.clone(), "pgcdc_md5".to_owned()] {
            let error = ReplicationClient::connect(db.config(&user, "not-the-password"))
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ReplicationError::AuthenticationFailed { user: u, .. } if *u == user),
                "{error}"
            );
            assert_eq!(error.sqlstate(), Some("28P01"));
            assert!(!error.is_retriable());
        }
        let error = ReplicationClient::connect(db.config("pgcdc_md5", ""))
            .await
            .unwrap_err();
        assert!(matches!(error, ReplicationError::PasswordRequired { .. }), "{error}");
    })
    .await;
}

#[tokio::test]
async fn a_role_without_replication_is_told_what_to_grant() {
    with_db("no_replication", |db| async move {
        let error = ReplicationClient::connect(db.config("pgcdc_norepl", PASSWORD))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ReplicationError::MissingReplicationPrivilege { role } if role == "pgcdc_norepl"),
            "{error}"
        );
        assert!(!error.is_retriable());
        assert!(error.to_string().contains("ALTER ROLE"), "{error}");

        let sql = sql_connect(&db.server, "pgcdc_norepl", PASSWORD, &db.name).await;
        let error = slot::check_replication_privilege(&sql).await.unwrap_err();
        assert!(
            matches!(&error, ReplicationError::MissingReplicationPrivilege { role } if role == "pgcdc_norepl"),
            "{error}"
        );
        slot::preflight(&db.sql().await).await.unwrap();
    })
    .await;
}

// ---------------------------------------------------------------- sslmode

#[tokio::test]
async fn sslmode_disable_and_prefer() {
    with_db("ssl_disable_prefer", |db| async move {
        let plain = ReplicationClient::connect(db.superuser().with_sslmode(SslMode::Disable))
            .await
            .unwrap();
        assert!(!plain.is_encrypted());
        plain.close().await.unwrap();
        let has_tls = server_has_tls(&db, "sslmode_disable_and_prefer").await;
        let preferred = ReplicationClient::connect(db.superuser().with_sslmode(SslMode::Prefer))
            .await
            .unwrap();
        assert_eq!(preferred.is_encrypted(), has_tls);
        preferred.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sslmode_prefer_falls_back_when_the_server_refuses_ssl() {
    with_db("ssl_prefer_fallback", |db| async move {
        let address = forwarder(&db.server, "127.0.0.1", true).await;
        let mut config = db.superuser().with_sslmode(SslMode::Prefer);
        config.port = address.port();
        let client = ReplicationClient::connect(config.clone()).await.unwrap();
        assert!(!client.is_encrypted());
        client.close().await.unwrap();

        config.sslmode = SslMode::Require;
        let error = ReplicationClient::connect(config).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::SslNotSupported { .. }),
            "{error}"
        );
        assert!(!error.is_retriable());
    })
    .await;
}

#[tokio::test]
async fn sslmode_require_encrypts_without_verifying() {
    with_db("ssl_require", |db| async move {
        if !server_has_tls(&db, "sslmode_require_encrypts_without_verifying").await {
            return;
        }
        // 127.0.0.2 is not in the certificate and no root certificate is given.
        let address = forwarder(&db.server, "127.0.0.2", false).await;
        let mut config = db.superuser().with_sslmode(SslMode::Require);
        config.host = "127.0.0.2".to_owned();
        config.port = address.port();
        let client = ReplicationClient::connect(config).await.unwrap();
        assert!(client.is_encrypted());
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sslmode_verify_full_checks_chain_and_host() {
    with_db("ssl_verify_full", |db| async move {
        if !server_has_tls(&db, "sslmode_verify_full_checks_chain_and_host").await {
            return;
        }
        let root = db.server.root_cert.clone();
        for host in ["localhost", "127.0.0.1"] {
            let mut config = db
                .superuser()
                .with_sslmode(SslMode::VerifyFull)
                .with_sslrootcert(&root);
            config.host = host.to_owned();
            let client = ReplicationClient::connect(config)
                .await
                .unwrap_or_else(|e| panic!("verify-full to {host}: {e}"));
            assert!(client.is_encrypted());
            client.close().await.unwrap();
        }

        let address = forwarder(&db.server, "127.0.0.2", false).await;
        let mut config = db
            .superuser()
            .with_sslmode(SslMode::VerifyFull)
            .with_sslrootcert(&root);
        config.host = "127.0.0.2".to_owned();
        config.port = address.port();
        let error = ReplicationClient::connect(config).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::CertificateRejected { .. }),
            "{error}"
        );
        assert!(!error.is_retriable());

        // Without sslrootcert only public roots are trusted: a private CA fails.
        let mut config = db.superuser().with_sslmode(SslMode::VerifyFull);
        config.host = "localhost".to_owned();
        let error = ReplicationClient::connect(config).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::CertificateRejected { .. }),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn sslmode_verify_ca_checks_the_chain_but_not_the_host() {
    with_db("ssl_verify_ca", |db| async move {
        if !server_has_tls(&db, "sslmode_verify_ca_checks_the_chain_but_not_the_host").await {
            return;
        }
        let address = forwarder(&db.server, "127.0.0.2", false).await;
        let mut config = db
            .superuser()
            .with_sslmode(SslMode::VerifyCa)
            .with_sslrootcert(&db.server.root_cert);
        config.host = "127.0.0.2".to_owned();
        config.port = address.port();
        let client = ReplicationClient::connect(config.clone()).await.unwrap();
        assert!(client.is_encrypted());
        client.close().await.unwrap();

        config.sslrootcert = None;
        let error = ReplicationClient::connect(config).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::CertificateRejected { .. }),
            "{error}"
        );
    })
    .await;
}

// ---------------------------------------------------------------- commands

#[tokio::test]
async fn identify_system_reports_the_cluster() {
    with_db("identify_system", |db| async move {
        let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
        let system = client.identify_system().await.unwrap();
        assert!(system.systemid.parse::<u64>().is_ok(), "{system:?}");
        assert!(system.timeline >= 1);
        assert!(system.xlogpos > Lsn::ZERO);
        assert_eq!(system.dbname.as_deref(), Some(db.name.as_str()));
        assert_eq!(client.show("wal_level").await.unwrap(), "logical");
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn permanent_slot_is_created_found_and_dropped() {
    with_db("slot_permanent", |db| async move {
        let sql = db.sql().await;
        let slot = db.slot("s");
        let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
        let created = client
            .create_slot(&slot, CreateSlotOptions::default())
            .await
            .unwrap();
        assert_eq!(created.slot_name, slot);
        assert_eq!(created.output_plugin, "pgoutput");
        assert!(created.consistent_point > Lsn::ZERO);
        assert!(created.snapshot_name.is_some());

        let info = slot::find_slot(&sql, &slot).await.unwrap().unwrap();
        assert_eq!(info.plugin.as_deref(), Some("pgoutput"));
        assert_eq!(info.database.as_deref(), Some(db.name.as_str()));
        assert!(!info.temporary);
        assert_eq!(info.confirmed_flush_lsn, Some(created.consistent_point));

        let error = client
            .create_slot(&slot, CreateSlotOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, ReplicationError::SlotAlreadyExists { .. }),
            "{error}"
        );

        client.drop_slot(&slot, true).await.unwrap();
        assert_eq!(slot::find_slot(&sql, &slot).await.unwrap(), None);
        let error = client.drop_slot(&slot, false).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::SlotNotFound { .. }),
            "{error}"
        );
        assert!(!slot::drop_slot(&sql, &slot).await.unwrap());
        client.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn temporary_slot_lives_as_long_as_its_connection() {
    with_db("slot_temporary", |db| async move {
        let sql = db.sql().await;
        let slot = db.slot("tmp");
        let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
        client
            .create_slot(
                &slot,
                CreateSlotOptions {
                    temporary: true,
                    snapshot: SnapshotAction::Nothing,
                },
            )
            .await
            .unwrap();
        let info = slot::find_slot(&sql, &slot).await.unwrap().unwrap();
        assert!(info.temporary);
        client.close().await.unwrap();
        let deadline = Instant::now() + PATIENCE;
        while slot::find_slot(&sql, &slot).await.unwrap().is_some() {
            assert!(
                Instant::now() < deadline,
                "temporary slot outlived its connection"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn exported_snapshot_hides_later_rows_which_then_stream() {
    with_db("snapshot", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        sql.batch_execute("INSERT INTO t VALUES (1, 'before the slot')")
            .await
            .unwrap();
        let slot = db.slot("s");
        let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
        let created = client
            .create_slot(&slot, CreateSlotOptions::default())
            .await
            .unwrap();
        let snapshot = created.snapshot_name.clone().expect("an exported snapshot");
        sql.batch_execute("INSERT INTO t VALUES (2, 'after the slot')")
            .await
            .unwrap();

        // The snapshot connection sees the database as of the slot's start.
        let reader = db.sql().await;
        reader
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT {}",
                quote_literal(&snapshot)
            ))
            .await
            .unwrap();
        let ids: Vec<i32> = reader
            .query("SELECT id FROM t ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(ids, [1]);
        reader.batch_execute("COMMIT").await.unwrap();

        // ... and the stream starts exactly where the snapshot ends.
        let mut stream = client
            .start_replication(
                &slot,
                created.consistent_point,
                &PgOutputOptions::new(["pub"]),
            )
            .await
            .unwrap();
        let transaction = next_transaction(&mut stream).await;
        assert_eq!(tags(&transaction), "BRIC");
        let insert = &transaction[2].data;
        assert!(
            insert
                .windows(b"after the slot".len())
                .any(|w| w == b"after the slot"),
            "{insert:?}"
        );
        assert!(transaction[0].wal_start >= created.consistent_point);
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_exported_snapshot_dies_with_the_next_command() {
    with_db("snapshot_expiry", |db| async move {
        let slot = db.slot("s");
        let mut client = ReplicationClient::connect(db.superuser()).await.unwrap();
        let created = client
            .create_slot(&slot, CreateSlotOptions::default())
            .await
            .unwrap();
        client.identify_system().await.unwrap();
        let reader = db.sql().await;
        let error = reader
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT {}",
                quote_literal(&created.snapshot_name.unwrap())
            ))
            .await
            .unwrap_err();
        let db_error = error.as_db_error().expect("a server error");
        assert!(db_error.message().contains("snapshot"), "{db_error}");
        client.close().await.unwrap();
    })
    .await;
}

// ---------------------------------------------------------------- streaming

#[tokio::test]
async fn an_insert_streams_as_begin_relation_insert_commit() {
    with_db("stream_insert", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        let slot = slot_for_streaming(&db, "s").await;
        let mut stream = start(&db, db.superuser(), &slot, Lsn::ZERO).await;
        sql.batch_execute("INSERT INTO t VALUES (1, 'one')")
            .await
            .unwrap();
        let transaction = next_transaction(&mut stream).await;
        assert_eq!(tags(&transaction), "BRIC");
        let commit_end = commit_end_lsn(&transaction[3]);
        assert_eq!(transaction[3].wal_start, commit_end);
        assert!(stream.received_lsn() >= commit_end);
        assert_eq!(stream.confirmed_lsn(), Lsn::ZERO);
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn keepalive_replies_keep_an_idle_stream_alive_past_wal_sender_timeout() {
    with_db("keepalive", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        let slot = slot_for_streaming(&db, "s").await;
        let mut config = db.superuser();
        // Only the server's reply requests can keep this stream alive: no periodic
        // status within the test, a 5 s timeout for this walsender.
        config.status_interval = Duration::from_secs(3600);
        config.receive_timeout = None;
        config.runtime_parameters = vec![("wal_sender_timeout".into(), "5s".into())];
        let mut client = ReplicationClient::connect(config).await.unwrap();
        assert_eq!(client.show("wal_sender_timeout").await.unwrap(), "5s");
        let mut stream = client
            .start_replication(&slot, Lsn::ZERO, &PgOutputOptions::new(["pub"]))
            .await
            .unwrap();
        let idle = Duration::from_secs(12);
        let writer = tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            sql.batch_execute("INSERT INTO t VALUES (1, 'after idling')")
                .await
                .unwrap();
        });
        let started = Instant::now();
        let first = tokio::time::timeout(idle + PATIENCE, stream.next())
            .await
            .expect("nothing arrived")
            .expect("the stream died while idle")
            .expect("the server ended the stream");
        assert!(started.elapsed() >= idle);
        assert_eq!(first.data[0], b'B');
        assert!(stream.server_wal_end() > Lsn::ZERO, "no keepalive was seen");
        writer.await.unwrap();
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_restart_resumes_right_after_the_confirmed_lsn() {
    with_db("confirm_resume", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        let slot = slot_for_streaming(&db, "s").await;
        sql.batch_execute("INSERT INTO t VALUES (1, 'first')")
            .await
            .unwrap();
        sql.batch_execute("INSERT INTO t VALUES (2, 'second')")
            .await
            .unwrap();

        let mut stream = start(&db, db.superuser(), &slot, Lsn::ZERO).await;
        let first = next_transaction(&mut stream).await;
        let second = next_transaction(&mut stream).await;
        let confirmed = commit_end_lsn(first.last().unwrap());
        stream.confirm(confirmed);
        stream.send_status().await.unwrap();
        wait_for_confirmed_flush(&sql, &slot, confirmed).await;
        stream.stop().await.unwrap().close().await.unwrap();
        assert_eq!(confirmed_flush_lsn(&sql, &slot).await, Some(confirmed));

        // Nothing up to the confirmed LSN comes again; the second transaction does.
        let mut stream = start(&db, db.superuser(), &slot, Lsn::ZERO).await;
        let again = next_transaction(&mut stream).await;
        assert_eq!(begin_final_lsn(&again[0]), begin_final_lsn(&second[0]));
        assert_eq!(
            commit_end_lsn(again.last().unwrap()),
            commit_end_lsn(second.last().unwrap())
        );
        // A commit's end LSN is where the next record starts, so the resumed
        // transaction may begin exactly at the confirmed LSN, never before it.
        // Relation messages carry no position (0/0).
        assert!(again
            .iter()
            .all(|m| m.wal_start >= confirmed || m.data[0] == b'R'));
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_flush_lsn_never_passes_what_was_confirmed() {
    with_db("flush_bound", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        let slot = slot_for_streaming(&db, "s").await;
        for id in 1..=3 {
            sql.execute("INSERT INTO t VALUES ($1, 'x')", &[&id]).await.unwrap();
        }
        let mut config = db.superuser();
        config.status_interval = Duration::from_millis(100);
        let mut stream = start(&db, config, &slot, Lsn::ZERO).await;
        let mut commits = Vec::new();
        for _ in 0..3 {
            commits.push(commit_end_lsn(next_transaction(&mut stream).await.last().unwrap()));
        }
        stream.confirm(commits[0]);
        stream.send_status().await.unwrap();
        wait_for_confirmed_flush(&sql, &slot, commits[0]).await;

        // Several periodic updates later, with two more transactions received,
        // the server still has exactly the confirmed position.
        let _ = tokio::time::timeout(Duration::from_millis(600), stream.next()).await;
        assert!(stream.received_lsn() >= commits[2]);
        assert_eq!(confirmed_flush_lsn(&sql, &slot).await, Some(commits[0]));
        let row = sql
            .query_one(
                "SELECT write_lsn::text, flush_lsn::text, replay_lsn::text FROM pg_stat_replication \
                 WHERE pid = $1",
                &[&stream.backend_pid()],
            )
            .await
            .unwrap();
        let lsn = |i: usize| row.get::<_, String>(i).parse::<Lsn>().unwrap();
        assert_eq!(lsn(1), commits[0]);
        assert_eq!(lsn(2), commits[0]);
        assert!(lsn(0) >= commits[2], "write {} < last commit {}", lsn(0), commits[2]);
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_second_stream_on_one_slot_is_slot_in_use() {
    with_db("slot_in_use", |db| async move {
        let sql = db.sql().await;
        table_with_publication(&sql).await;
        let slot = db.slot("s");
        let stream = {
            let slot = slot_for_streaming(&db, "s").await;
            start(&db, db.superuser(), &slot, Lsn::ZERO).await
        };
        let holder = stream.backend_pid();

        let error = ReplicationClient::connect(db.superuser())
            .await
            .unwrap()
            .start_replication(&slot, Lsn::ZERO, &PgOutputOptions::new(["pub"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ReplicationError::SlotInUse { slot: s, active_pid: Some(pid) } if *s == slot && *pid == holder),
            "{error}"
        );
        assert!(error.is_retriable());

        let error = slot::check_slot_available(&sql, &slot).await.unwrap_err();
        assert!(
            matches!(error, ReplicationError::SlotInUse { active_pid: Some(pid), .. } if pid == holder),
            "{error}"
        );
        let error = slot::drop_slot(&sql, &slot).await.unwrap_err();
        assert!(matches!(error, ReplicationError::SlotInUse { .. }), "{error}");

        stream.stop().await.unwrap().close().await.unwrap();
        let deadline = Instant::now() + PATIENCE;
        while slot::check_slot_available(&sql, &slot).await.is_err() {
            assert!(Instant::now() < deadline, "slot stayed active after stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(slot::drop_slot(&sql, &slot).await.unwrap());
    })
    .await;
}

// ---------------------------------------------------------------- wal_level

/// A throwaway cluster with wal_level=replica, made with the local PostgreSQL
/// binaries. `Err` says why none could be made.
struct ReplicaCluster {
    dir: PathBuf,
    bindir: PathBuf,
    os_user: Option<String>,
    port: u16,
}

impl ReplicaCluster {
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let binary = self.bindir.join(program);
        let mut command = match &self.os_user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        let output = command
            .args(args)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn start() -> Result<ReplicaCluster, String> {
        let bindir = match std::env::var("PGCDC_PG_BINDIR") {
            Ok(dir) => PathBuf::from(dir),
            Err(_) => PathBuf::from("/usr/lib/postgresql/15/bin"),
        };
        if !bindir.join("initdb").exists() {
            return Err(format!(
                "no initdb in {} (set PGCDC_PG_BINDIR)",
                bindir.display()
            ));
        }
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id -u: {e}"))?;
        let os_user = if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
            // initdb refuses root; dev/stack runs its clusters as the OS user pgcdc.
            let candidates = match std::env::var("PGCDC_PG_OS_USER") {
                Ok(user) => vec![user],
                Err(_) => vec!["pgcdc".to_owned(), "pgdev".to_owned()],
            };
            let user = candidates.iter().find(|user| {
                Command::new("id")
                    .arg(user)
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
            match user {
                Some(user) => Some(user.clone()),
                None => {
                    return Err(format!(
                        "running as root and none of the OS users {candidates:?} exists to run \
                         initdb (set PGCDC_PG_OS_USER)"
                    ))
                }
            }
        } else {
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("pgcdc-walreplica-{}", random_suffix()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let cluster = ReplicaCluster {
            dir,
            bindir,
            os_user,
            port,
        };
        if let Some(user) = &cluster.os_user {
            let status = Command::new("chown")
                .arg(user)
                .arg(&cluster.dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("chown of the cluster directory failed".to_owned());
            }
        }
        let data = cluster.dir.join("data");
        let data = data.to_string_lossy();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "pgcdc",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c wal_level=replica -c fsync=off -c max_connections=10",
            cluster.dir.display()
        );
        let log = cluster.dir.join("log").to_string_lossy().into_owned();
        cluster.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        )?;
        Ok(cluster)
    }
}

impl Drop for ReplicaCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn wal_level_replica_is_reported_as_not_logical() {
    let cluster = match ReplicaCluster::start() {
        Ok(cluster) => cluster,
        Err(reason) => {
            eprintln!("SKIPPED wal_level_replica_is_reported_as_not_logical: {reason}");
            return;
        }
    };
    let mut config = ReplicationConfig::new("127.0.0.1", cluster.port, "pgcdc", "postgres");
    config.sslmode = SslMode::Disable;
    let mut client = ReplicationClient::connect(config).await.unwrap();
    let error = client
        .create_slot("pgcdc_wal_level", CreateSlotOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ReplicationError::WalLevelNotLogical { found } if found == "replica"),
        "{error}"
    );
    assert!(!error.is_retriable());
    client.close().await.unwrap();

    let mut sql_config = tokio_postgres::Config::new();
    sql_config
        .host("127.0.0.1")
        .port(cluster.port)
        .user("pgcdc")
        .dbname("postgres");
    let (sql, connection) = sql_config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    let error = slot::check_wal_level(&sql).await.unwrap_err();
    assert!(
        matches!(&error, ReplicationError::WalLevelNotLogical { found } if found == "replica"),
        "{error}"
    );
    assert!(matches!(
        slot::preflight(&sql).await,
        Err(ReplicationError::WalLevelNotLogical { .. })
    ));
}

// ---------------------------------------------------------------- publications

#[tokio::test]
async fn publication_all_tables_is_created_once() {
    with_db("pub_all_tables", |db| async move {
        let sql = db.sql().await;
        let change = ensure_publication(&sql, "all pub", AutocreateMode::AllTables, &[])
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Created);
        let all: bool = sql
            .query_one(
                "SELECT puballtables FROM pg_publication WHERE pubname = 'all pub'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(all);
        let change = ensure_publication(&sql, "all pub", AutocreateMode::AllTables, &[])
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Unchanged);
    })
    .await;
}

#[tokio::test]
async fn publication_filtered_keeps_exactly_the_captured_tables() {
    with_db("pub_filtered", |db| async move {
        let sql = db.sql().await;
        sql.batch_execute(
            "CREATE SCHEMA inv; CREATE TABLE a (id int primary key); \
             CREATE TABLE inv.\"Odd \"\"Name\"\"\" (id int primary key); CREATE TABLE c (id int)",
        )
        .await
        .unwrap();
        let a = TableName::new("public", "a");
        let odd = TableName::new("inv", "Odd \"Name\"");
        let c = TableName::new("public", "c");

        let first = [a.clone(), odd.clone()];
        let change = ensure_publication(&sql, "pub", AutocreateMode::Filtered, &first)
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Created);
        assert_eq!(
            published_tables(&sql, "pub").await.unwrap(),
            first.iter().cloned().collect()
        );
        let change = ensure_publication(&sql, "pub", AutocreateMode::Filtered, &[odd.clone(), a])
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Unchanged);

        let second = [odd, c];
        let change = ensure_publication(&sql, "pub", AutocreateMode::Filtered, &second)
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Altered);
        assert_eq!(
            published_tables(&sql, "pub").await.unwrap(),
            second.iter().cloned().collect()
        );

        ensure_publication(&sql, "everything", AutocreateMode::AllTables, &[])
            .await
            .unwrap();
        let error = ensure_publication(&sql, "everything", AutocreateMode::Filtered, &second)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ReplicationError::InvalidConfig { .. }),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn publication_disabled_requires_an_existing_one() {
    with_db("pub_disabled", |db| async move {
        let sql = db.sql().await;
        let error = ensure_publication(&sql, "missing", AutocreateMode::Disabled, &[])
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ReplicationError::PublicationNotFound { publication } if publication == "missing"),
            "{error}"
        );
        assert!(!error.is_retriable());
        sql.batch_execute("CREATE PUBLICATION missing").await.unwrap();
        let change = ensure_publication(&sql, "missing", AutocreateMode::Disabled, &[])
            .await
            .unwrap();
        assert_eq!(change, PublicationChange::Unchanged);
    })
    .await;
}

// ---------------------------------------------------------------- throughput

/// Streams rows inserted beforehand in 10-row transactions into a 9-column table,
/// as the ARCHITECTURE figure for pg_recvlogical was measured, and prints rows/s
/// and MB/s. The server's decoding is the ceiling; the client must not be.
/// `cargo test --release -p pgcdc-connector --test replication -- --ignored --nocapture throughput`
/// (PGCDC_THROUGHPUT_ROWS, default 1,000,000; PGCDC_THROUGHPUT_SSLMODE, default prefer).
#[tokio::test]
#[ignore = "a benchmark: run explicitly"]
async fn throughput_of_a_real_stream() {
    with_db("throughput", |db| async move {
        let rows: i64 = std::env::var("PGCDC_THROUGHPUT_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let sql = db.sql().await;
        sql.batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, u uuid, j jsonb, n numeric, ts timestamptz, \
             s text, i int, b bool, d double precision); CREATE PUBLICATION pub FOR TABLE t",
        )
        .await
        .unwrap();
        let slot = slot_for_streaming(&db, "s").await;
        let load = Instant::now();
        sql.batch_execute(&format!(
            "DO $$ BEGIN FOR k IN 0..{} LOOP \
               INSERT INTO t SELECT g, md5(g::text)::uuid, jsonb_build_object('k', g, 'v', 'value'), \
                 g * 1.25, now(), 'some text ' || g, g % 1000, g % 2 = 0, g / 3.0 \
               FROM generate_series(k * 10 + 1, k * 10 + 10) g; \
               COMMIT; END LOOP; END $$",
            rows / 10 - 1
        ))
        .await
        .unwrap();
        eprintln!("loaded {rows} rows in {:?}", load.elapsed());

        let mut config = db.superuser();
        if let Ok(mode) = std::env::var("PGCDC_THROUGHPUT_SSLMODE") {
            config.sslmode = mode.parse().unwrap();
        }
        let mut stream = start(&db, config, &slot, Lsn::ZERO).await;
        let mut inserts = 0i64;
        let mut bytes = 0usize;
        let cpu_before = process_cpu_seconds();
        let started = Instant::now();
        while inserts < rows {
            let message = next_message(&mut stream).await;
            bytes += message.data.len();
            if message.data[0] == b'I' {
                inserts += 1;
            }
            if message.data[0] == b'C' && inserts % 100_000 == 0 {
                stream.confirm(commit_end_lsn(&message));
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds() - cpu_before;
        eprintln!("client CPU while streaming: {cpu:.2} s ({:.0}% of one core)", cpu / elapsed * 100.0);
        eprintln!(
            "streamed {inserts} rows, {:.1} MB of pgoutput in {elapsed:.2} s: {:.0} rows/s, {:.1} MB/s",
            bytes as f64 / 1e6,
            inserts as f64 / elapsed,
            bytes as f64 / 1e6 / elapsed
        );
        stream.stop().await.unwrap().close().await.unwrap();
    })
    .await;
}

/// User + system CPU time of this process so far (Linux /proc; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th
    // and 13th of those, in clock ticks (USER_HZ, 100 on Linux).
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
