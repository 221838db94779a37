use std::collections::BTreeMap;

use pgcdc_schemas::connect::Field;
use pgcdc_schemas::debezium::logical;

use super::*;
use crate::config::SinkConfig;

fn config(extra: &[(&str, &str)]) -> SinkConfig {
    let mut map: BTreeMap<String, String> = [
        ("name", "s"),
        (
            "connector.class",
            "io.debezium.connector.jdbc.JdbcSinkConnector",
        ),
        ("topics", "t"),
        ("connection.url", "jdbc:postgresql://localhost/dw"),
        ("connection.username", "u"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    SinkConfig::from_properties(&map).expect("valid").config
}

fn key_schema() -> Schema {
    Schema::structure(vec![Field::new("id", Schema::int32())]).named("p.public.t.Key")
}

fn row_schema() -> Schema {
    Schema::structure(vec![
        Field::new("id", Schema::int32()),
        Field::new(
            "Amount",
            logical::decimal(2)
                .with_parameter("connect.decimal.precision", "10")
                .optional(),
        ),
        Field::new(
            "status",
            Schema::string().with_default(Value::from("it's new")),
        ),
    ])
    .named("p.public.t.Value")
    .optional()
}

#[test]
fn record_key_layout_and_ddl() {
    let config = config(&[
        ("primary.key.mode", "record_key"),
        ("schema.evolution", "basic"),
    ]);
    let layout = RowLayout::new(&config, Some(&key_schema()), Some(&row_schema())).expect("layout");
    assert_eq!(layout.spec.key, vec![Ident::exact("id")]);
    let names: Vec<&str> = layout
        .spec
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["id", "amount", "status"]);
    let table = TableName::parse("dw.t", false).expect("name");
    let sql = ddl(&table, &layout.spec, None, SchemaEvolution::Basic, true).expect("ddl");
    assert_eq!(
        sql,
        vec![r#"CREATE TABLE IF NOT EXISTS "dw"."t" ("id" integer NOT NULL, "amount" numeric(10,2), "status" text DEFAULT 'it''s new'::text NOT NULL, PRIMARY KEY ("id"))"#.to_owned()]
    );
    assert_eq!(
        ddl(&table, &layout.spec, None, SchemaEvolution::None, true),
        Err(SchemaMismatch::TableMissing {
            table: r#""dw"."t""#.to_owned()
        })
    );

    let key = Value::Struct(vec![Value::Int32(7)]);
    let row = vec![
        Value::Int32(7),
        Value::Bytes(vec![0x04, 0xd2]),
        Value::from("ok"),
    ];
    let texts = layout
        .key_texts(Some(&key), Some(&row))
        .expect("key")
        .expect("some");
    assert_eq!(texts, vec!["7".to_owned()]);
    let cells = layout
        .cells(&layout.spec, &row, Some(&texts), b"__p")
        .expect("cells");
    assert_eq!(
        cells,
        vec![
            Cell::Text("7".to_owned()),
            Cell::Text("12.34".to_owned()),
            Cell::Text("ok".to_owned())
        ]
    );
    assert_eq!(
        layout.key_cells(&layout.spec, &texts),
        vec![Cell::Text("7".to_owned()), Cell::Absent, Cell::Absent]
    );
    assert!(matches!(
        layout.key_texts(Some(&Value::Struct(vec![Value::Null])), None),
        Err(LayoutError::NullKey { .. })
    ));
}

#[test]
fn evolution_adds_columns_and_checks_keys() {
    let config = config(&[("primary.key.mode", "record_key")]);
    let layout = RowLayout::new(&config, Some(&key_schema()), Some(&row_schema())).expect("layout");
    let table = TableName::parse("t", false).expect("name");
    let existing = ExistingTable {
        columns: vec![(Ident::exact("id"), "integer".to_owned())],
        key: vec![Ident::exact("id")],
    };
    assert_eq!(
        ddl(&table, &layout.spec, Some(&existing), SchemaEvolution::Basic, true).expect("ddl"),
        vec![r#"ALTER TABLE "t" ADD COLUMN IF NOT EXISTS "amount" numeric(10,2), ADD COLUMN IF NOT EXISTS "status" text DEFAULT 'it''s new'::text NOT NULL"#.to_owned()]
    );
    assert_eq!(
        ddl(
            &table,
            &layout.spec,
            Some(&existing),
            SchemaEvolution::None,
            true
        ),
        Err(SchemaMismatch::ColumnMissing {
            table: r#""t""#.to_owned(),
            column: "amount".to_owned()
        })
    );
    let keyless = ExistingTable {
        key: Vec::new(),
        ..existing
    };
    assert!(matches!(
        ddl(
            &table,
            &layout.spec,
            Some(&keyless),
            SchemaEvolution::Basic,
            true
        ),
        Err(SchemaMismatch::KeyMismatch { .. })
    ));
}

#[test]
fn an_older_schema_leaves_new_columns_absent() {
    let config = config(&[("primary.key.mode", "record_key")]);
    let old_row = Schema::structure(vec![Field::new("id", Schema::int32())]);
    let old = RowLayout::new(&config, Some(&key_schema()), Some(&old_row)).expect("layout");
    let new = RowLayout::new(&config, Some(&key_schema()), Some(&row_schema())).expect("layout");
    let mut target = old.spec.clone();
    target.merge(&new.spec);
    assert_eq!(target.columns.len(), 3);
    let cells = old
        .cells(&target, &[Value::Int32(1)], Some(&["1".to_owned()]), b"__p")
        .expect("cells");
    assert_eq!(
        cells,
        vec![Cell::Text("1".to_owned()), Cell::Absent, Cell::Absent]
    );
}

#[test]
fn record_value_and_primitive_keys() {
    let config_value = config(&[
        ("primary.key.mode", "record_value"),
        ("primary.key.fields", "status,id"),
    ]);
    let layout = RowLayout::new(&config_value, None, Some(&row_schema())).expect("layout");
    assert_eq!(
        layout.spec.key,
        vec![Ident::exact("status"), Ident::exact("id")]
    );
    let row = vec![Value::Int32(3), Value::Null, Value::from("s")];
    assert_eq!(
        layout.key_texts(None, Some(&row)).expect("key"),
        Some(vec!["s".to_owned(), "3".to_owned()])
    );
    let missing = config(&[
        ("primary.key.mode", "record_value"),
        ("primary.key.fields", "nope"),
    ]);
    assert!(matches!(
        RowLayout::new(&missing, None, Some(&row_schema())),
        Err(LayoutError::MissingKeyField { .. })
    ));

    let primitive = config(&[
        ("primary.key.mode", "record_key"),
        ("primary.key.fields", "k"),
    ]);
    let layout =
        RowLayout::new(&primitive, Some(&Schema::int64()), Some(&row_schema())).expect("layout");
    assert_eq!(layout.spec.columns[0].name, Ident::exact("k"));
    assert_eq!(layout.spec.columns[0].sql_type, "bigint");
    assert_eq!(
        layout.key_texts(Some(&Value::Int64(9)), None).expect("key"),
        Some(vec!["9".to_owned()])
    );
}
