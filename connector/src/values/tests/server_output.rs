//! Values as PostgreSQL 15 printed them (copied from psql), one or more per type.

use std::borrow::Cow;

use super::super::*;
use super::{array, scalar, text};

#[test]
fn fixed_size_scalars() {
    assert_eq!(scalar(ScalarType::Bool, "t"), PgValue::Bool(true));
    assert_eq!(scalar(ScalarType::Int2, "-32768"), PgValue::Int2(i16::MIN));
    assert_eq!(
        scalar(ScalarType::Int4, "2147483647"),
        PgValue::Int4(i32::MAX)
    );
    assert_eq!(
        scalar(ScalarType::Int8, "-9223372036854775808"),
        PgValue::Int8(i64::MIN)
    );
    assert_eq!(
        scalar(ScalarType::Float4, "3.4028235e+38"),
        PgValue::Float4(f32::MAX)
    );
    assert_eq!(
        scalar(ScalarType::Float8, "-Infinity"),
        PgValue::Float8(f64::NEG_INFINITY)
    );
    assert!(matches!(scalar(ScalarType::Float8, "NaN"), PgValue::Float8(v) if v.is_nan()));
    assert!(
        matches!(scalar(ScalarType::Float8, "-0"), PgValue::Float8(v) if v == 0.0 && v.is_sign_negative())
    );
    assert_eq!(
        scalar(ScalarType::Oid, "4294967295"),
        PgValue::Oid(Oid(u32::MAX))
    );
    assert_eq!(
        scalar(ScalarType::Xid, "4294967295"),
        PgValue::Xid(u32::MAX)
    );
    assert_eq!(
        scalar(ScalarType::Xid8, "18446744073709551615"),
        PgValue::Xid8(u64::MAX)
    );
    assert_eq!(
        scalar(ScalarType::PgLsn, "16/B374D848"),
        PgValue::Lsn(crate::Lsn(0x16_B374_D848))
    );
    assert!(matches!(
        scalar(ScalarType::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        PgValue::Uuid([0xa0, 0xee, ..])
    ));
}

#[test]
fn numerics() {
    let PgValue::Numeric(Numeric::Finite(d)) = parse_text(
        PgType::Scalar(ScalarType::Numeric),
        Typmod(786_438),
        b"12345.68",
    )
    .expect("numeric") else {
        panic!("not finite")
    };
    assert_eq!((d.unscaled_i128(), d.scale()), (Some(1_234_568), 2));
    assert_eq!(
        scalar(ScalarType::Numeric, "NaN"),
        PgValue::Numeric(Numeric::NaN)
    );
    assert_eq!(
        scalar(ScalarType::Numeric, "-Infinity"),
        PgValue::Numeric(Numeric::NegInfinity)
    );
    let PgValue::Numeric(Numeric::Finite(zero)) = scalar(ScalarType::Numeric, "0.00") else {
        panic!("not finite")
    };
    assert_eq!(zero.scale(), 2);
}

#[test]
fn money() {
    let PgValue::Money(m) = scalar(ScalarType::Money, "-$1,234.50") else {
        panic!("not money")
    };
    assert_eq!(
        (m.text.as_ref(), m.minor_units),
        ("-$1,234.50", Some(-123_450))
    );
}

#[test]
fn text_like_types_keep_their_text() {
    // Each pair: type and text as PostgreSQL 15 printed it.
    let cases: &[(ScalarType, &str)] = &[
        (ScalarType::Text, "plain"),
        (ScalarType::Varchar, "x"),
        (ScalarType::Bpchar, "ab   "),
        (ScalarType::Bpchar, "   "),
        (ScalarType::Name, "abc"),
        (ScalarType::Char, "x"),
        (ScalarType::Char, r"\351"),
        (ScalarType::Json, r#"{"b":1,  "a":[1,2]}"#),
        (ScalarType::Jsonb, r#"{"a": [1, 2], "b": 1}"#),
        (ScalarType::Xml, "<a>x</a>"),
        (ScalarType::Inet, "192.168.1.5/24"),
        (ScalarType::Inet, "::1"),
        (ScalarType::Cidr, "10.1.0.0/16"),
        (ScalarType::Cidr, "2001:db8::/32"),
        (ScalarType::Macaddr, "08:00:2b:01:02:03"),
        (ScalarType::Macaddr8, "08:00:2b:01:02:03:04:05"),
        (ScalarType::Tsvector, "'a':1A,2 'b\\\\c' 'it''s'"),
        (ScalarType::Tsquery, "'fat' & 'rat'"),
        (ScalarType::Int4Range, "[1,5)"),
        (ScalarType::Int4Range, "empty"),
        (ScalarType::Int8Range, "(,)"),
        (ScalarType::NumRange, "[1.5,2.5]"),
        (
            ScalarType::TsRange,
            r#"["2024-01-01 00:00:00","2024-02-01 00:00:00")"#,
        ),
        (ScalarType::TstzRange, r#"["2024-01-01 00:00:00+00",)"#),
        (ScalarType::DateRange, "[2024-01-01,infinity)"),
        (ScalarType::Multirange, "{[1,3),[5,7)}"),
        (ScalarType::Enum, "happy"),
        (ScalarType::Ltree, "Top.Science.Astronomy"),
        (ScalarType::Ltree, ""),
        (ScalarType::Citext, "MiXeD"),
        (ScalarType::Unknown, r#"(1,"x y")"#),
    ];
    for &(ty, expected) in cases {
        let value = scalar(ty, expected);
        assert!(
            matches!(value, PgValue::Text(Cow::Borrowed(_))),
            "{ty:?} not borrowed"
        );
        assert_eq!(value.as_str(), Some(expected), "{ty:?}");
    }
}

#[test]
fn text_edge_cases() {
    assert_eq!(scalar(ScalarType::Text, ""), text(""));
    assert_eq!(
        scalar(ScalarType::Text, "é🦀𝄞\u{10FFFF}"),
        text("é🦀𝄞\u{10FFFF}")
    );
    let long = "λ🦀".repeat(300_000);
    let value = scalar(ScalarType::Text, &long);
    assert!(matches!(&value, PgValue::Text(Cow::Borrowed(s)) if s.len() == long.len()));
    // Invalid UTF-8: an error naming the type, never a lossy string.
    let err = parse_text(PgType::Scalar(ScalarType::Text), Typmod::NONE, b"ab\xffcd")
        .expect_err("invalid utf-8");
    assert!(matches!(err, ValueError::InvalidUtf8 { .. }));
    assert!(err.to_string().contains("client_encoding=UTF8"));
    // Truncated 4-byte sequence.
    assert!(parse_text(
        PgType::Scalar(ScalarType::Varchar),
        Typmod::NONE,
        b"\xF0\x9F\xA6"
    )
    .is_err());
}

#[test]
fn binary_and_bits() {
    assert_eq!(
        scalar(ScalarType::Bytea, r"\xdeadbeef"),
        PgValue::Bytea(Cow::Owned(vec![0xde, 0xad, 0xbe, 0xef]))
    );
    let PgValue::Bits(bits) = scalar(ScalarType::Varbit, "1010101010101") else {
        panic!("not bits")
    };
    assert_eq!((bits.len(), bits.as_bytes()), (13, &[0xAA, 0xA8][..]));
}

#[test]
fn dates_and_times() {
    assert_eq!(
        scalar(ScalarType::Date, "1970-01-01"),
        PgValue::Date(Date::Days(0))
    );
    assert_eq!(
        scalar(ScalarType::Date, "-infinity"),
        PgValue::Date(Date::NegInfinity)
    );
    assert_eq!(
        scalar(ScalarType::Time, "24:00:00"),
        PgValue::Time(86_400_000_000)
    );
    assert_eq!(
        scalar(ScalarType::Timetz, "12:00:00+05:45:30"),
        PgValue::TimeTz(TimeTz {
            micros: 43_200_000_000,
            offset_seconds: 20_730
        })
    );
    assert_eq!(
        scalar(ScalarType::Timestamp, "1969-12-31 23:59:59.999999"),
        PgValue::Timestamp(Timestamp::Micros(-1))
    );
    assert_eq!(
        scalar(ScalarType::Timestamptz, "2024-01-01 05:45:00+05:45"),
        PgValue::Timestamptz(Timestamp::Micros(1_704_067_200_000_000))
    );
    assert_eq!(
        scalar(ScalarType::Interval, "1 year 2 mons 3 days 04:05:06.789"),
        PgValue::Interval(Interval {
            months: 14,
            days: 3,
            micros: 14_706_789_000
        })
    );
}

#[test]
fn geometry_types() {
    assert_eq!(
        scalar(ScalarType::Point, "(1.5,-2.25)"),
        PgValue::Point(Point { x: 1.5, y: -2.25 })
    );
    assert!(matches!(
        scalar(ScalarType::Line, "{1,-1,0}"),
        PgValue::Line(_)
    ));
    assert!(matches!(
        scalar(ScalarType::Lseg, "[(0,0),(1,1)]"),
        PgValue::Lseg(_)
    ));
    assert!(matches!(
        scalar(ScalarType::Box, "(1,1),(0,0)"),
        PgValue::Box(_)
    ));
    assert!(matches!(
        scalar(ScalarType::Path, "[(0,0),(1,1),(2,0)]"),
        PgValue::Path(Path { closed: false, .. })
    ));
    assert!(matches!(
        scalar(ScalarType::Polygon, "((0,0),(1,1),(2,0))"),
        PgValue::Polygon(p) if p.len() == 3
    ));
    assert!(matches!(
        scalar(ScalarType::Circle, "<(1,2),3>"),
        PgValue::Circle(_)
    ));
}

#[test]
fn extension_types() {
    let PgValue::Hstore(pairs) = scalar(ScalarType::Hstore, r#""a"=>"1", "b"=>NULL"#) else {
        panic!("not hstore")
    };
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[1].1, None);
    // PostGIS 3.3: 'SRID=4326;POINT(1 2)'::geometry and 'POINT(1 2)'::geometry.
    let PgValue::Ewkb(ewkb) = scalar(
        ScalarType::Geometry,
        "0101000020E6100000000000000000F03F0000000000000040",
    ) else {
        panic!("not ewkb")
    };
    assert_eq!((ewkb.srid(), ewkb.as_bytes().len()), (Some(4326), 25));
    let PgValue::Ewkb(ewkb) =
        scalar(ScalarType::Geography, "0102000020E61000000200000000000000000000000000000000000000000000000000F03F000000000000F03F")
    else {
        panic!("not ewkb")
    };
    assert_eq!(ewkb.srid(), Some(4326));
}

#[test]
fn name_matched_types_fall_back_to_text() {
    // A type that merely shares a name with an extension type keeps its text.
    assert_eq!(
        scalar(ScalarType::Hstore, "not => an, hstore"),
        text("not => an, hstore")
    );
    assert_eq!(
        scalar(ScalarType::Geometry, "POINT(1 2)"),
        text("POINT(1 2)")
    );
    assert_eq!(scalar(ScalarType::Geometry, ""), text(""));
}

// ---- Arrays printed by PostgreSQL 15 --------------------------------------------

#[test]
fn arrays_of_every_kind() {
    let boxes = array(ScalarType::Box, "{(1,1),(0,0);(3,3),(2,2)}");
    assert_eq!(boxes.elements.len(), 2);
    let points = array(ScalarType::Point, r#"{"(1,2)","(3,4)"}"#);
    assert_eq!(
        points.elements[1],
        Some(PgValue::Point(Point { x: 3.0, y: 4.0 }))
    );
    let floats = array(ScalarType::Float8, "{1.5,NaN}");
    assert!(matches!(floats.elements[1], Some(PgValue::Float8(v)) if v.is_nan()));
    let stamps = array(ScalarType::Timestamptz, r#"{"2024-01-01 00:00:00+00"}"#);
    assert_eq!(
        stamps.elements[0],
        Some(PgValue::Timestamptz(Timestamp::Micros(
            1_704_067_200_000_000
        )))
    );
    let intervals = array(ScalarType::Interval, r#"{"1 year -1 days +01:00:00"}"#);
    assert_eq!(
        intervals.elements[0],
        Some(PgValue::Interval(Interval {
            months: 12,
            days: -1,
            micros: 3_600_000_000
        }))
    );
    let bytes = array(ScalarType::Bytea, r#"{"\\x00ff"}"#);
    assert_eq!(
        bytes.elements[0],
        Some(PgValue::Bytea(Cow::Owned(vec![0, 0xff])))
    );
    let json = array(ScalarType::Jsonb, r#"{"{\"a\": 1}"}"#);
    assert_eq!(
        json.elements[0],
        Some(PgValue::Text(Cow::Owned(r#"{"a": 1}"#.into())))
    );
    let bools = array(ScalarType::Bool, "{t,f}");
    assert_eq!(
        bools.elements,
        vec![Some(PgValue::Bool(true)), Some(PgValue::Bool(false))]
    );
    assert!(matches!(
        &array(ScalarType::Varbit, "{101}").elements[0],
        Some(PgValue::Bits(b)) if b.len() == 3
    ));
    assert!(matches!(
        &array(ScalarType::Circle, r#"{"<(1,2),3>"}"#).elements[0],
        Some(PgValue::Circle(c)) if c.radius == 3.0
    ));
    assert_eq!(
        array(ScalarType::Int4Range, r#"{"[1,2)"}"#).elements[0],
        Some(text("[1,2)"))
    );
    assert!(matches!(
        &array(ScalarType::Numeric, "{12.50}").elements[0],
        Some(PgValue::Numeric(Numeric::Finite(d))) if d.scale() == 2
    ));
    assert_eq!(
        array(ScalarType::Date, "{infinity,2024-01-01}").elements[0],
        Some(PgValue::Date(Date::Infinity))
    );
    assert_eq!(
        array(ScalarType::Bpchar, r#"{"a  "}"#).elements[0],
        Some(text("a  "))
    );
    let hstores = array(ScalarType::Hstore, r#"{"\"a\"=>\"1\"","\"b\"=>\"x,y\""}"#);
    assert!(matches!(
        &hstores.elements[1],
        Some(PgValue::Hstore(p)) if p[0].1.as_deref() == Some("x,y")
    ));
    let enums = array(ScalarType::Enum, r#"{"with space","with,comma",sad}"#);
    assert_eq!(enums.elements[1], Some(text("with,comma")));
    let composites = array(ScalarType::Unknown, r#"{"(1,a)"}"#);
    assert_eq!(composites.elements[0], Some(text("(1,a)")));
    let geoms = array(
        ScalarType::Geometry,
        "{0101000000000000000000F03F0000000000000040}",
    );
    assert!(matches!(geoms.elements[0], Some(PgValue::Ewkb(_))));
}

#[test]
fn more_server_arrays() {
    // Printed by PostgreSQL 15.
    assert_eq!(
        array(ScalarType::Text, r#"{"",NULL}"#).elements,
        vec![Some(text("")), None]
    );
    assert_eq!(
        array(ScalarType::Timestamp, "{infinity}").elements,
        vec![Some(PgValue::Timestamp(Timestamp::Infinity))]
    );
    assert_eq!(
        array(ScalarType::Numeric, "{NaN,Infinity}").elements,
        vec![
            Some(PgValue::Numeric(Numeric::NaN)),
            Some(PgValue::Numeric(Numeric::Infinity))
        ]
    );
    assert_eq!(
        array(ScalarType::Interval, "{-00:00:00.000001}").elements,
        vec![Some(PgValue::Interval(Interval {
            months: 0,
            days: 0,
            micros: -1
        }))]
    );
    assert_eq!(
        array(ScalarType::Char, r#"{"\\351"}"#).elements,
        vec![Some(text(r"\351"))]
    );
    assert_eq!(
        array(ScalarType::Xml, r#"{"a b"}"#).elements,
        vec![Some(text("a b"))]
    );
    assert_eq!(
        array(ScalarType::Tsvector, r#"{"'a':1 'b':2"}"#).elements,
        vec![Some(text("'a':1 'b':2"))]
    );
    assert_eq!(
        array(ScalarType::Inet, "{192.168.0.1/24}").elements,
        vec![Some(text("192.168.0.1/24"))]
    );
    assert!(array(ScalarType::Text, "{}").elements.is_empty());
    // float4 and float8 switch to exponents at different magnitudes.
    assert_eq!(
        scalar(ScalarType::Float4, "1.234567e+06"),
        PgValue::Float4(1_234_567.0)
    );
    assert_eq!(scalar(ScalarType::Float4, "1e-05"), PgValue::Float4(1e-5));
    assert_eq!(
        scalar(ScalarType::Float8, "1.234567890123456e+15"),
        PgValue::Float8(1_234_567_890_123_456.0)
    );
    assert_eq!(
        scalar(ScalarType::Float8, "1.2e-05"),
        PgValue::Float8(1.2e-5)
    );
}

#[test]
fn element_errors_name_the_element_type() {
    let err = parse_text(PgType::Array(ScalarType::Int2), Typmod::NONE, b"{1,99999}")
        .expect_err("out of range");
    assert_eq!(err.pg_type(), PgType::Scalar(ScalarType::Int2));
    let err = parse_text(PgType::Array(ScalarType::Int2), Typmod::NONE, b"{1,2")
        .expect_err("unterminated");
    assert_eq!(err.pg_type(), PgType::Array(ScalarType::Int2));
}

#[test]
fn every_builtin_oid_parses_something() {
    // A sample text per classification; every built-in OID must reach a parser.
    fn sample(ty: ScalarType) -> &'static str {
        use ScalarType::*;
        match ty {
            Bool => "t",
            Int2 | Int4 | Int8 | Oid | Xid | Xid8 => "1",
            Float4 | Float8 | Numeric => "1.5",
            Money => "$1.00",
            Bytea => r"\x00",
            Uuid => "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            Date => "2024-01-01",
            Time => "00:00:00",
            Timetz => "00:00:00+00",
            Timestamp => "2024-01-01 00:00:00",
            Timestamptz => "2024-01-01 00:00:00+00",
            Interval => "00:00:00",
            Bit | Varbit => "1",
            Point => "(1,2)",
            Line => "{1,2,3}",
            Lseg => "[(1,2),(3,4)]",
            Box => "(1,2),(3,4)",
            Path | Polygon => "((1,2),(3,4))",
            Circle => "<(1,2),3>",
            PgLsn => "0/0",
            Hstore => "",
            _ => "x",
        }
    }
    let mut oids = 0;
    for oid in 0..7000 {
        let Some(ty) = PgType::from_builtin_oid(Oid(oid)) else {
            continue;
        };
        oids += 1;
        let element = sample(ty.element());
        let literal;
        let text = if ty.is_array() {
            literal = format!("{{\"{}\"}}", element.replace('\\', "\\\\"));
            literal.as_str()
        } else {
            element
        };
        parse_text(ty, Typmod::NONE, text.as_bytes())
            .unwrap_or_else(|e| panic!("oid {oid} ({ty}): {e}"));
    }
    assert_eq!(oids, 110);
}
