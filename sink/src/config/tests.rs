use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = [
        ("name", "warehouse-sink"),
        ("connector.class", CONNECTOR_CLASS),
        ("topics", "shop.public.orders, shop.public.items"),
        ("connection.url", "jdbc:postgresql://localhost:5432/dw"),
        ("connection.username", "sink"),
        ("connection.password", "secret"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in pairs {
        if v.is_empty() {
            map.remove(*k);
        } else {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    map
}

fn errors(pairs: &[(&str, &str)]) -> ConfigErrors {
    SinkConfig::from_properties(&map(pairs)).expect_err("invalid")
}

#[test]
fn debezium_defaults() {
    let parsed = SinkConfig::from_properties(&map(&[])).expect("valid");
    let c = parsed.config;
    assert_eq!(
        c.topics,
        TopicSelection::List(vec![
            "shop.public.orders".to_owned(),
            "shop.public.items".to_owned()
        ])
    );
    assert_eq!(c.insert_mode, InsertMode::Insert);
    assert_eq!(c.primary_key_mode, PrimaryKeyMode::None);
    assert!(!c.delete_enabled);
    assert!(!c.truncate_enabled);
    assert_eq!(c.schema_evolution, SchemaEvolution::None);
    assert_eq!(c.table_name_format, "${topic}");
    assert!(!c.quote_identifiers);
    assert_eq!(c.batch_size, 500);
    assert_eq!(c.batch_max_latency, Duration::from_millis(200));
    assert_eq!(c.offsets_table, "pgcdc_sink_offsets");
    assert_eq!(c.group_id(), "connect-warehouse-sink");
    assert_eq!(c.connection.user.as_deref(), Some("sink"));
    assert_eq!(format!("{:?}", c.connection.password), "Some(****)");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn a_typical_exactly_once_config() {
    let c = SinkConfig::from_properties(&map(&[
        ("insert.mode", "UPSERT"),
        ("primary.key.mode", "record_key"),
        ("delete.enabled", "true"),
        ("truncate.enabled", "true"),
        ("schema.evolution", "basic"),
        ("table.name.format", "dw.${topic}"),
        ("batch.size", "2000"),
        ("quote.identifiers", "true"),
        ("topics", ""),
        ("topics.regex", "shop\\.public\\..*"),
        ("value.converter", JSON_CONVERTER),
        ("value.converter.schemas.enable", "true"),
        ("connection.pool.max_size", "4"),
        ("some.typo", "1"),
    ]))
    .expect("valid");
    assert_eq!(c.config.insert_mode, InsertMode::Upsert);
    assert_eq!(c.config.primary_key_mode, PrimaryKeyMode::RecordKey);
    assert!(c.config.delete_enabled && c.config.truncate_enabled);
    assert_eq!(
        c.config.topics,
        TopicSelection::Regex("shop\\.public\\..*".to_owned())
    );
    assert_eq!(c.config.table_name_format, "dw.${topic}");
    assert_eq!(c.config.batch_size, 2000);
    assert_eq!(
        c.warnings,
        vec!["unknown property some.typo is ignored".to_owned()]
    );
}

#[test]
fn every_problem_names_its_property() {
    let e = errors(&[
        ("insert.mode", "merge"),
        ("primary.key.mode", "kafka"),
        ("schema.evolution", "advanced"),
        ("batch.size", "0"),
        ("delete.enabled", "yes"),
        ("table.name.format", "${tpic}"),
        ("connection.url", "jdbc:mysql://h/db"),
    ]);
    assert_eq!(
        e.for_property("insert.mode"),
        [r#""merge" is not one of insert, upsert, update"#]
    );
    assert!(e.for_property("primary.key.mode")[0].contains("not supported"));
    assert_eq!(
        e.for_property("schema.evolution"),
        [r#""advanced" is not one of none, basic"#]
    );
    assert_eq!(e.for_property("batch.size"), ["must be at least 1"]);
    assert!(e.for_property("delete.enabled")[0].contains("not a boolean"));
    assert!(e.for_property("table.name.format")[0].contains("unknown placeholder"));
    assert!(e.for_property("connection.url")[0].contains("not a PostgreSQL JDBC URL"));
}

#[test]
fn rules_between_properties() {
    let e = errors(&[("insert.mode", "upsert")]);
    assert!(e.for_property("insert.mode")[0].contains("needs primary.key.mode"));
    let e = errors(&[("insert.mode", "update"), ("primary.key.mode", "none")]);
    assert!(e.for_property("primary.key.mode")[0].contains("no key"));
    let e = errors(&[
        ("delete.enabled", "true"),
        ("primary.key.mode", "record_value"),
        ("primary.key.fields", "id"),
    ]);
    assert!(e.for_property("delete.enabled")[0].contains("record_key"));
    let e = errors(&[("primary.key.mode", "record_value")]);
    assert_eq!(
        e.for_property("primary.key.fields"),
        ["is required with primary.key.mode=record_value"]
    );
    let e = errors(&[("topics.regex", "a.*")]);
    assert!(e.for_property("topics.regex")[0].contains("cannot be set together"));
    let e = errors(&[("topics", "")]);
    assert_eq!(
        e.for_property("topics"),
        ["one of topics or topics.regex is required"]
    );
    let e = errors(&[(
        "connector.class",
        "io.confluent.connect.jdbc.JdbcSinkConnector",
    )]);
    assert!(!e.for_property("connector.class").is_empty());
    let e = errors(&[("connection.username", ""), ("name", "")]);
    assert_eq!(e.for_property("connection.username"), ["is required"]);
    assert_eq!(e.for_property("name"), ["is required"]);
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let e = errors(&[
        (
            "value.converter",
            "io.confluent.connect.protobuf.ProtobufConverter",
        ),
        ("key.converter.schemas.enable", "false"),
        ("field.include.list", "t:a"),
        ("errors.tolerance", "some"),
        ("use.time.zone", "Europe/Paris"),
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        ("collection.naming.strategy", "com.example.Mine"),
    ]);
    assert!(e.for_property("value.converter")[0].contains("not supported"));
    assert!(e.for_property("key.converter.schemas.enable")[0].contains("must be true"));
    assert!(!e.for_property("field.include.list").is_empty());
    assert!(!e.for_property("errors.tolerance").is_empty());
    assert!(!e.for_property("use.time.zone").is_empty());
    assert!(!e.for_property("transforms").is_empty());
    assert!(!e.for_property("collection.naming.strategy").is_empty());
    assert!(e.for_property("transforms.unwrap.type").is_empty());
}

#[test]
fn warehouse_connection_settings() {
    let c = SinkConfig::from_properties(&map(&[(
        "connection.url",
        "jdbc:postgresql://db:6543/dw?currentSchema=mart&user=ignored",
    )]))
    .expect("valid")
    .config;
    let pg = c.postgres_config();
    assert_eq!(pg.get_dbname(), Some("dw"));
    assert_eq!(pg.get_user(), Some("sink"), "connection.username wins");
    assert_eq!(pg.get_ports(), [6543]);
    assert_eq!(pg.get_options(), Some("-c search_path=mart"));
}

#[test]
fn avro_converters_through_the_registry() {
    let c = SinkConfig::from_properties(&map(&[
        ("key.converter", AVRO_CONVERTER),
        ("key.converter.schema.registry.url", "http://sr:8081"),
        ("value.converter", AVRO_CONVERTER),
        (
            "value.converter.schema.registry.url",
            "http://a:1,http://b:2",
        ),
        ("value.converter.basic.auth.credentials.source", "USER_INFO"),
        ("value.converter.basic.auth.user.info", "fred:s3cret"),
    ]))
    .expect("valid")
    .config;
    let Converter::Avro(key) = &c.key_converter else {
        panic!("key: {:?}", c.key_converter)
    };
    assert_eq!(key.registry_urls, ["http://sr:8081"]);
    assert!(key.basic_auth.is_none());
    let Converter::Avro(value) = &c.value_converter else {
        panic!("value: {:?}", c.value_converter)
    };
    assert_eq!(value.registry_urls, ["http://a:1", "http://b:2"]);
    assert_eq!(
        format!("{:?}", value.basic_auth),
        "Some(BasicAuth(fred:****))"
    );

    // JSON keys with Avro values.
    let c = SinkConfig::from_properties(&map(&[
        ("value.converter", AVRO_CONVERTER),
        ("value.converter.schema.registry.url", "http://sr:8081"),
    ]))
    .expect("valid")
    .config;
    assert_eq!(c.key_converter, Converter::JsonWithSchemas);
    assert!(matches!(c.value_converter, Converter::Avro(_)));

    let e = errors(&[
        ("value.converter", AVRO_CONVERTER),
        ("key.converter", AVRO_CONVERTER),
        ("key.converter.schema.registry.url", "ftp://sr"),
        ("value.converter.basic.auth.credentials.source", "USER_INFO"),
    ]);
    assert_eq!(
        e.for_property("value.converter.schema.registry.url"),
        ["is required"]
    );
    assert!(!e
        .for_property("value.converter.basic.auth.user.info")
        .is_empty());
    assert!(e.for_property("key.converter.schema.registry.url")[0].contains("not an http"));
}

#[test]
fn dead_letter_queue_properties() {
    let c = SinkConfig::from_properties(&map(&[
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "dlq"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
        ("errors.deadletterqueue.topic.replication.factor", "1"),
    ]))
    .expect("valid");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.config.errors_tolerance, ErrorTolerance::All);
    assert_eq!(
        c.config.dead_letter_queue,
        Some(DeadLetterQueue {
            topic: "dlq".to_owned(),
            context_headers: true,
            replication_factor: 1,
        })
    );
    let c = SinkConfig::from_properties(&map(&[("errors.deadletterqueue.topic.name", "dlq")]))
        .expect("valid");
    assert_eq!(c.config.errors_tolerance, ErrorTolerance::None);
    assert!(c.warnings[0].contains("errors.tolerance is none"));
}

#[test]
fn history_is_off_unless_enabled_and_its_settings_are_checked() {
    let off = SinkConfig::from_properties(&map(&[]))
        .expect("valid")
        .config;
    assert_eq!(off.history, None);
    let on = SinkConfig::from_properties(&map(&[("history.enabled", "true")]))
        .expect("valid")
        .config;
    assert_eq!(
        on.history,
        Some(HistoryConfig {
            suffix: "_history".to_owned(),
            partitions_ahead: 3,
        })
    );
    let custom = SinkConfig::from_properties(&map(&[
        ("history.enabled", "true"),
        ("history.table.suffix", "_changes"),
        ("history.partitions.ahead", "0"),
    ]))
    .expect("valid")
    .config;
    assert_eq!(
        custom.history.map(|h| (h.suffix, h.partitions_ahead)),
        Some(("_changes".to_owned(), 0))
    );
    let e = errors(&[
        ("history.enabled", "yes please"),
        ("history.table.suffix", "s.t"),
        ("history.partitions.ahead", "400"),
    ]);
    assert_eq!(e.for_property("history.enabled").len(), 1);
    assert!(e.for_property("history.table.suffix")[0].contains("dot"));
    assert_eq!(
        e.for_property("history.partitions.ahead"),
        ["must be at most 366 days"]
    );
    let e = errors(&[("history.partitions.ahead", "-1")]);
    assert_eq!(e.for_property("history.partitions.ahead").len(), 1);
}
