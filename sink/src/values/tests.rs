use super::*;
use pgcdc_schemas::connect::Field;

const P: &[u8] = b"__debezium_unavailable_value";

fn t(schema: &Schema, value: Value) -> String {
    text(schema, &value).expect("has text")
}

#[test]
fn decimals_of_any_size_and_sign() {
    assert_eq!(decimal_text(&[0x05, 0xdc], 3), "1.500");
    assert_eq!(decimal_text(&[0xff], 0), "-1");
    assert_eq!(decimal_text(&[0x80], 0), "-128");
    assert_eq!(decimal_text(&[0x00, 0x80], 2), "1.28");
    assert_eq!(decimal_text(&[0xff, 0x9c], 3), "-0.100");
    assert_eq!(decimal_text(&[], 2), "0.00");
    assert_eq!(decimal_text(&[0x00], 0), "0");
    assert_eq!(decimal_text(&[0x0c], -2), "1200", "stripped trailing zeros");
    // 2^96 = 79228162514264337593543950336
    let mut big = vec![0x01];
    big.extend([0u8; 12]);
    assert_eq!(decimal_text(&big, 10), "7922816251426433759.3543950336");
    // -(2^96)
    let mut negative = vec![0xff];
    negative.extend([0u8; 12]);
    assert_eq!(decimal_text(&negative, 0), "-79228162514264337593543950336");
    let vsd = logical::variable_scale_decimal();
    assert_eq!(
        t(
            &vsd,
            Value::Struct(vec![Value::Int32(5), Value::Bytes(vec![0x04, 0xcb, 0x2f])])
        ),
        "3.14159"
    );
    let fixed = logical::decimal(3).with_parameter("connect.decimal.precision", "12");
    assert_eq!(t(&fixed, Value::Bytes(vec![0x03, 0xe8])), "1.000");
}

#[test]
fn dates_and_times() {
    assert_eq!(date_text(0), "1970-01-01");
    assert_eq!(date_text(19_782), "2024-02-29");
    assert_eq!(date_text(-719_162), "0001-01-01");
    assert_eq!(date_text(-719_163), "0001-12-31 BC");
    assert_eq!(date_text(2_146_033_979), "infinity");
    assert_eq!(date_text(-2_147_472_691), "-infinity");
    assert_eq!(date_text(-622_191_234), "infinity", "array sentinel");
    assert_eq!(time_text(0), "00:00:00");
    assert_eq!(time_text(49_530_123_456_000), "13:45:30.123456");
    assert_eq!(time_text(86_400_000_000_000), "24:00:00");
    assert_eq!(t(&logical::time(), Value::Int32(3_723_456)), "01:02:03.456");
    assert_eq!(
        t(&logical::micro_time(), Value::Int64(1)),
        "00:00:00.000001"
    );
    assert_eq!(
        t(
            &logical::micro_timestamp(),
            Value::Int64(1_709_214_330_123_456)
        ),
        "2024-02-29 13:45:30.123456"
    );
    assert_eq!(
        t(&logical::timestamp(), Value::Int64(-62_135_596_800_001)),
        "0001-12-31 23:59:59.999 BC"
    );
    assert_eq!(
        t(&logical::micro_timestamp(), Value::Int64(i64::MAX)),
        "infinity"
    );
    assert_eq!(
        t(&logical::micro_timestamp(), Value::Int64(i64::MIN)),
        "-infinity"
    );
    assert_eq!(
        t(
            &logical::timestamp(),
            Value::Int64(9_223_372_036_825_200_000)
        ),
        "infinity"
    );
    assert_eq!(
        t(
            &logical::zoned_timestamp(),
            Value::from("2024-02-29T12:45:30.123456Z")
        ),
        "2024-02-29T12:45:30.123456Z"
    );
    assert_eq!(
        t(
            &logical::zoned_timestamp(),
            Value::from("+292269055-12-02T23:00:00.000000Z")
        ),
        "-infinity"
    );
    assert_eq!(
        t(&logical::micro_duration(), Value::Int64(-1_000_001)),
        "-1000001 microseconds"
    );
}

#[test]
fn bits_numbers_and_bytes() {
    assert_eq!(bits_text(&[0x01, 0x02], Some(10)), "1000000001");
    assert_eq!(bits_text(&[], Some(4)), "0000");
    assert_eq!(bits_text(&[0x05], None), "101");
    assert_eq!(bits_text(&[0x0a], Some(4)), "1010");
    assert_eq!(t(&logical::bits(4), Value::Bytes(vec![0x0a])), "1010");
    assert_eq!(t(&Schema::boolean(), Value::Boolean(true)), "t");
    assert_eq!(t(&Schema::int16(), Value::Int16(-32768)), "-32768");
    assert_eq!(t(&Schema::float64(), Value::Float64(2.25)), "2.25");
    assert_eq!(t(&Schema::float64(), Value::Float64(1e300)), "1e300");
    assert_eq!(t(&Schema::float64(), Value::Float64(-0.0)), "-0");
    assert_eq!(t(&Schema::float64(), Value::Float64(1e-20)), "1e-20");
    assert_eq!(t(&Schema::float64(), Value::Float64(f64::NAN)), "NaN");
    assert_eq!(
        t(&Schema::float32(), Value::Float32(f32::NEG_INFINITY)),
        "-Infinity"
    );
    assert_eq!(t(&Schema::float32(), Value::Float32(0.1)), "0.1");
    assert_eq!(
        t(&Schema::bytes(), Value::Bytes(vec![1, 2, 0xff])),
        "\\x0102ff"
    );
}

#[test]
fn arrays_quote_every_element() {
    let texts = Schema::array(Schema::string().optional());
    assert_eq!(
        t(
            &texts,
            Value::Array(vec![
                Value::from("x"),
                Value::from("y \"z\" \\"),
                Value::Null
            ])
        ),
        r#"{"x","y \"z\" \\",NULL}"#
    );
    let ints = Schema::array(Schema::int32().optional());
    assert_eq!(t(&ints, Value::Array(vec![])), "{}");
    let nested = Schema::array(Schema::array(Schema::int32()));
    assert_eq!(
        t(
            &nested,
            Value::Array(vec![
                Value::Array(vec![Value::Int32(1), Value::Int32(2)]),
                Value::Array(vec![Value::Int32(3), Value::Int32(4)])
            ])
        ),
        r#"{{"1","2"},{"3","4"}}"#
    );
    let dates = Schema::array(logical::date().optional());
    assert_eq!(
        t(&dates, Value::Array(vec![Value::Int32(0)])),
        r#"{"1970-01-01"}"#
    );
}

#[test]
fn geometry_and_documents() {
    let point = Value::Struct(vec![
        Value::Float64(1.5),
        Value::Float64(2.5),
        Value::Null,
        Value::Null,
    ]);
    assert_eq!(t(&logical::point(), point.clone()), "(1.5,2.5)");
    assert_eq!(
        t(
            &logical::circle(),
            Value::Struct(vec![point, Value::Float64(3.0)])
        ),
        "<(1.5,2.5),3>"
    );
    let map = Schema::map(Schema::string(), Schema::string().optional());
    assert_eq!(
        t(&map, Value::Map(vec![(Value::from("a"), Value::from("1"))])),
        r#"{"a":"1"}"#
    );
    let plain = Schema::structure(vec![Field::new("n", Schema::int32())]);
    assert_eq!(
        t(&plain, Value::Struct(vec![Value::Int32(1)])),
        r#"{"n":1}"#
    );
}

#[test]
fn placeholders_are_absent() {
    let text = Schema::string().optional();
    assert_eq!(
        cell(&text, &Value::from("__debezium_unavailable_value"), P),
        Ok(Cell::Absent)
    );
    assert_eq!(
        cell(&text, &Value::from("x"), P),
        Ok(Cell::Text("x".to_owned()))
    );
    assert_eq!(cell(&text, &Value::Null, P), Ok(Cell::Null));
    assert_eq!(
        cell(&Schema::bytes(), &Value::Bytes(P.to_vec()), P),
        Ok(Cell::Absent)
    );
    let texts = Schema::array(Schema::string().optional());
    assert_eq!(
        cell(
            &texts,
            &Value::Array(vec![Value::from("__debezium_unavailable_value")]),
            P
        ),
        Ok(Cell::Absent)
    );
    let ints = Schema::array(Schema::int32().optional());
    let as_numbers = Value::Array(P.iter().map(|&b| Value::Int32(i32::from(b))).collect());
    assert_eq!(cell(&ints, &as_numbers, P), Ok(Cell::Absent));
    let hstore = logical::json();
    assert_eq!(
        cell(
            &hstore,
            &Value::from(r#"{"__debezium_unavailable_value":"__debezium_unavailable_value"}"#),
            P
        ),
        Ok(Cell::Absent)
    );
}
