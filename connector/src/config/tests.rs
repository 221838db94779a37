use std::collections::BTreeMap;

use super::*;

fn minimal() -> BTreeMap<String, String> {
    [
        ("name", "orders"),
        ("connector.class", CONNECTOR_CLASS),
        ("database.hostname", "db"),
        ("database.user", "cdc"),
        ("database.dbname", "shop"),
        ("topic.prefix", "shop"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map = minimal();
    map.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    map
}

fn errors(map: &BTreeMap<String, String>) -> ConfigErrors {
    PostgresConnectorConfig::from_properties(map).expect_err("the configuration should be refused")
}

#[test]
fn a_minimal_config_gets_debeziums_defaults() {
    let config = PostgresConnectorConfig::from_properties(&minimal())
        .unwrap()
        .config;
    assert_eq!(config.database.port, 5432);
    assert_eq!(config.database.sslmode, SslMode::Prefer);
    assert_eq!(config.slot_name, "debezium");
    assert_eq!(config.publication_name, "dbz_publication");
    assert_eq!(
        config.publication_autocreate_mode,
        AutocreateMode::AllTables
    );
    assert_eq!(config.snapshot_mode, SnapshotMode::Initial);
    assert!(config.tombstones_on_delete);
    assert!(!config.provide_transaction_metadata);
    assert!(
        config.skipped_operations.truncate,
        "Debezium 3 skips truncates by default"
    );
    assert_eq!(config.heartbeat_interval, None);
    assert_eq!((config.max_batch_size, config.max_queue_size), (2048, 8192));
    assert_eq!(config.poll_interval, Duration::from_millis(500));
    assert_eq!(config.value_modes, ValueModes::default());
    assert_eq!(
        config.value_modes.unavailable_value_placeholder,
        b"__debezium_unavailable_value"
    );
    assert_eq!(
        config.key_converter,
        Converter::Json {
            schemas_enable: true
        }
    );
}

/// The defaults above, compared with what Debezium's own validation endpoint reports
/// for every property pgcdc reads (recorded from Debezium 3.7.0.Final).
#[test]
fn defaults_equal_the_ones_debezium_reports() {
    let text =
        include_str!("../../../tests/fixtures/debezium/postgres-connector-config-definitions.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let debezium: BTreeMap<&str, Option<&str>> = fixture["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["default_value"].as_str()))
        .collect();
    let expected = [
        ("database.port", "5432"),
        ("database.sslmode", "prefer"),
        ("slot.name", "debezium"),
        ("slot.drop.on.stop", "false"),
        ("publication.name", "dbz_publication"),
        ("publication.autocreate.mode", "all_tables"),
        ("snapshot.mode", "initial"),
        ("snapshot.max.threads", "1"),
        ("tombstones.on.delete", "true"),
        ("provide.transaction.metadata", "false"),
        ("skipped.operations", "t"),
        ("heartbeat.interval.ms", "0"),
        ("heartbeat.topics.prefix", "__debezium-heartbeat"),
        ("max.batch.size", "2048"),
        ("max.queue.size", "8192"),
        ("poll.interval.ms", "500"),
        ("decimal.handling.mode", "precise"),
        ("time.precision.mode", "adaptive"),
        ("binary.handling.mode", "bytes"),
        ("interval.handling.mode", "numeric"),
        ("hstore.handling.mode", "json"),
        ("include.unknown.datatypes", "false"),
        (
            "unavailable.value.placeholder",
            "__debezium_unavailable_value",
        ),
    ];
    for (property, ours) in expected {
        assert_eq!(
            debezium.get(property).copied().flatten(),
            Some(ours),
            "{property}"
        );
    }
    // And each is what pgcdc actually applies: setting the default explicitly
    // changes nothing.
    let implicit = format!(
        "{:?}",
        PostgresConnectorConfig::from_properties(&minimal())
            .unwrap()
            .config
    );
    let explicit_map = with(&expected);
    let explicit = format!(
        "{:?}",
        PostgresConnectorConfig::from_properties(&explicit_map)
            .unwrap()
            .config
    );
    assert_eq!(implicit, explicit);
}

#[test]
fn the_example_from_the_configs_folder_is_accepted_unchanged() {
    let text = include_str!("../../../configs/debezium-postgres-connector.json");
    let request: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut map: BTreeMap<String, String> = request["config"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    map.insert(
        "name".to_owned(),
        request["name"].as_str().unwrap().to_owned(),
    );
    let parsed = PostgresConnectorConfig::from_properties(&map).unwrap();
    assert!(
        parsed.unknown_properties.is_empty(),
        "{:?}",
        parsed.unknown_properties
    );
    let config = parsed.config;
    assert_eq!(
        config.topic_creation,
        TopicSettings {
            partitions: 6,
            replication_factor: 3
        }
    );
    assert!(
        matches!(config.value_converter, Converter::Avro { ref registry_url, .. } if registry_url == "http://schema-registry:8081")
    );
    assert!(config.filters.captures_table("inventory", "orders"));
    assert!(!config.filters.captures_table("inventory", "audit_log"));
    assert!(!config.filters.captures_table("public", "orders"));
    assert_eq!(config.heartbeat_interval, Some(Duration::from_secs(10)));
}

#[test]
fn every_problem_is_reported_with_its_property() {
    let map: BTreeMap<String, String> =
        [("connector.class".to_owned(), "com.example.Other".to_owned())].into();
    let errors = errors(&map);
    for property in [
        "name",
        "database.hostname",
        "database.user",
        "database.dbname",
        "topic.prefix",
    ] {
        assert_eq!(errors.for_property(property), ["is required"], "{property}");
    }
    assert_eq!(errors.for_property("connector.class").len(), 1);
}

#[test]
fn wrong_values_name_the_property_and_the_expectation() {
    let errors = errors(&with(&[
        ("database.port", "five"),
        ("database.sslmode", "sometimes"),
        ("snapshot.mode", "custom"),
        ("tombstones.on.delete", "yes"),
        ("decimal.handling.mode", "exact"),
        ("plugin.name", "decoderbufs"),
        ("slot.name", "Bad-Slot"),
        ("max.queue.size", "100"),
        ("skipped.operations", "c,x"),
        ("topic.prefix", "bad prefix"),
        ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ("key.converter", "com.example.Custom"),
        ("transforms", "unwrap"),
    ]));
    let expect = |property: &str, fragment: &str| {
        let messages = errors.for_property(property);
        assert!(
            messages.iter().any(|m| m.contains(fragment)),
            "{property}: {messages:?}"
        );
    };
    expect("database.port", "\"five\" is not a port number");
    expect("database.sslmode", "\"sometimes\"");
    expect("snapshot.mode", "\"custom\" is not one of initial");
    expect("tombstones.on.delete", "not a boolean");
    expect("decimal.handling.mode", "precise, double or string");
    expect("plugin.name", "pgoutput only");
    expect("slot.name", "Bad-Slot");
    expect("max.queue.size", "larger than max.batch.size");
    expect("skipped.operations", "\"x\"");
    expect("topic.prefix", "may contain only");
    expect("value.converter.schema.registry.url", "is required");
    expect("key.converter", "is not supported");
    expect("transforms", "not supported");
}

#[test]
fn unknown_properties_are_reported_not_refused() {
    let parsed =
        PostgresConnectorConfig::from_properties(&with(&[("snapshot.mdoe", "never")])).unwrap();
    assert_eq!(parsed.unknown_properties, ["snapshot.mdoe"]);
}

#[test]
fn the_password_never_prints() {
    let config =
        PostgresConnectorConfig::from_properties(&with(&[("database.password", "hunter2")]))
            .unwrap()
            .config;
    assert!(!format!("{config:?}").contains("hunter2"));
    assert_eq!(config.database.password.expose(), "hunter2");
}

#[test]
fn the_transactional_mode_is_opt_in_with_connects_names() {
    let config = PostgresConnectorConfig::from_properties(&minimal())
        .unwrap()
        .config;
    assert_eq!(config.delivery, DeliveryConfig::default());
    assert_eq!(
        config.delivery.exactly_once_support,
        ExactlyOnceSupport::Requested
    );
    assert_eq!(
        config.delivery.transaction_boundary,
        TransactionBoundary::Poll
    );
    assert!(
        !config.delivery.transactional(),
        "idempotent by default, for brokers without transactions"
    );
    let worker_enabled = DeliveryConfig {
        worker_exactly_once_source_support: true,
        ..config.delivery
    };
    assert!(worker_enabled.transactional());

    let required = PostgresConnectorConfig::from_properties(&with(&[
        ("exactly.once.support", "REQUIRED"),
        ("transaction.boundary", "interval"),
        ("transaction.boundary.interval.ms", "250"),
    ]))
    .unwrap();
    assert!(required.unknown_properties.is_empty());
    let delivery = required.config.delivery;
    assert!(delivery.transactional());
    assert_eq!(
        delivery.transaction_boundary,
        TransactionBoundary::Interval(Duration::from_millis(250))
    );
    let interval =
        PostgresConnectorConfig::from_properties(&with(&[("transaction.boundary", "interval")]))
            .unwrap()
            .config;
    assert_eq!(
        interval.delivery.transaction_boundary,
        TransactionBoundary::Interval(DEFAULT_TRANSACTION_INTERVAL),
        "Connect's default: offset.flush.interval.ms, 60 s"
    );
}

#[test]
fn transaction_properties_are_validated_by_name() {
    let refused = errors(&with(&[
        ("exactly.once.support", "always"),
        ("transaction.boundary", "connector"),
        ("transaction.boundary.interval.ms", "soon"),
    ]));
    let expect = |property: &str, fragment: &str| {
        let messages = refused.for_property(property);
        assert!(
            messages.iter().any(|m| m.contains(fragment)),
            "{property}: {messages:?}"
        );
    };
    expect(
        "exactly.once.support",
        "\"always\" is not one of requested, required",
    );
    expect(
        "transaction.boundary",
        "does not define transaction boundaries",
    );
    expect(
        "transaction.boundary.interval.ms",
        "\"soon\" is not a number of milliseconds",
    );
    let refused = errors(&with(&[
        ("transaction.boundary", "per-row"),
        ("transaction.boundary.interval.ms", "0"),
    ]));
    assert!(refused.for_property("transaction.boundary")[0]
        .contains("\"per-row\" is not one of poll, interval, connector"));
    assert_eq!(
        refused.for_property("transaction.boundary.interval.ms"),
        ["must be at least 1"]
    );
    let refused = errors(&with(&[("transaction.boundary.interval.ms", "-5")]));
    assert_eq!(
        refused
            .for_property("transaction.boundary.interval.ms")
            .len(),
        1
    );
}
