//! Round trips through a registry at the URL given as the only argument, with
//! schema_registry_converter's async Avro encoder and decoder: register on first
//! use, encode in the Confluent wire format, decode by the id in the header (fetched
//! from the registry), schema evolution across versions, the same schema getting the
//! same id, and an incompatible schema refused. Prints `converter interop ok`.

use apache_avro::types::Value;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_subject, post_schema, SrSettings,
};
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde::Serialize;

const V1: &str = r#"{"type":"record","name":"Value","namespace":"shop.public.orders","fields":[{"name":"id","type":"long"},{"name":"note","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Value","namespace":"shop.public.orders","fields":[{"name":"id","type":"long"},{"name":"note","type":"string"},{"name":"qty","type":["null","int"],"default":null}]}"#;
const BAD: &str = r#"{"type":"record","name":"Value","namespace":"shop.public.orders","fields":[{"name":"id","type":"string"}]}"#;

#[derive(Serialize)]
struct Order {
    id: i64,
    note: String,
}

fn supplied(schema: &str) -> SuppliedSchema {
    SuppliedSchema {
        name: Some("shop.public.orders.Value".into()),
        schema_type: SchemaType::Avro,
        schema: schema.into(),
        references: vec![],
    }
}

fn id_of(bytes: &[u8]) -> u32 {
    assert_eq!(bytes[0], 0, "magic byte");
    u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
}

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).expect("usage: <registry url>");
    let settings = SrSettings::new(url);
    let topic = "shop.public.orders".to_owned();

    // Encode with auto-registration of v1, decode by id.
    let encoder = AvroEncoder::new(settings.clone());
    let v1 = SubjectNameStrategy::TopicNameStrategyWithSchema(topic.clone(), false, supplied(V1));
    let bytes = encoder
        .encode_struct(
            Order {
                id: 7,
                note: "first".into(),
            },
            &v1,
        )
        .await
        .expect("encode v1");
    let id1 = id_of(&bytes);
    let decoder = AvroDecoder::new(settings.clone());
    let decoded = decoder.decode(Some(&bytes)).await.expect("decode v1");
    assert_eq!(
        decoded.value,
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("note".into(), Value::String("first".into()))
        ])
    );
    assert_eq!(
        decoded.name.map(|n| n.fullname(None)).as_deref(),
        Some("shop.public.orders.Value")
    );

    // The same schema registered again (a fresh client, no cache) gets the same id.
    let again = post_schema(&settings, "shop.public.orders-value".into(), supplied(V1))
        .await
        .expect("register v1 again");
    assert_eq!(again.id, id1);

    // v2 adds a field with a default: a new version and id; records of both decode.
    let v2 = SubjectNameStrategy::TopicNameStrategyWithSchema(topic.clone(), false, supplied(V2));
    let bytes2 = AvroEncoder::new(settings.clone())
        .encode(
            vec![
                ("id", Value::Long(8)),
                ("note", Value::String("second".into())),
                ("qty", Value::Union(1, Box::new(Value::Int(3)))),
            ],
            v2,
        )
        .await
        .expect("encode v2");
    let id2 = id_of(&bytes2);
    assert_ne!(id1, id2);
    let decoded2 = AvroDecoder::new(settings.clone())
        .decode(Some(&bytes2))
        .await
        .expect("decode v2");
    assert_eq!(
        decoded2.value,
        Value::Record(vec![
            ("id".into(), Value::Long(8)),
            ("note".into(), Value::String("second".into())),
            ("qty".into(), Value::Union(1, Box::new(Value::Int(3)))),
        ])
    );
    assert!(AvroDecoder::new(settings.clone())
        .decode(Some(&bytes))
        .await
        .is_ok());

    // The latest version of the subject, as the encoder without a schema reads it.
    let latest = get_schema_by_subject(
        &settings,
        &SubjectNameStrategy::TopicNameStrategy(topic.clone(), false),
    )
    .await
    .expect("latest");
    assert_eq!(latest.id, id2);
    let bytes3 = AvroEncoder::new(settings.clone())
        .encode(
            vec![
                ("id", Value::Long(9)),
                ("note", Value::String("third".into())),
                ("qty", Value::Union(0, Box::new(Value::Null))),
            ],
            SubjectNameStrategy::TopicNameStrategy(topic.clone(), false),
        )
        .await
        .expect("encode with the latest schema");
    assert_eq!(id_of(&bytes3), id2);

    // An incompatible change is refused (4.x reports the failure without the body).
    let refused = post_schema(&settings, "shop.public.orders-value".into(), supplied(BAD)).await;
    let error = refused.expect_err("an incompatible schema was registered");
    assert!(!error.retriable, "{error:?}");

    println!("converter interop ok: ids {id1} and {id2}");
}
