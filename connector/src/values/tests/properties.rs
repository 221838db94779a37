//! Properties: no input panics (arbitrary and mutated server output), and values
//! formatted the way PostgreSQL prints them parse back to themselves.

use std::borrow::Cow;

use proptest::prelude::*;

use super::super::*;
use super::pg_format::*;
use super::{array, scalar, ALL_SCALARS};

/// Texts printed by PostgreSQL 15, used as seeds for mutation.
const SERVER_SAMPLES: &[(ScalarType, &str)] = &[
    (
        ScalarType::Numeric,
        "-12345678901234567890123456789012345678901234.5678",
    ),
    (ScalarType::Money, "-$92,233,720,368,547,758.08"),
    (ScalarType::Bytea, r"\336\255\276\357\000'\\ "),
    (ScalarType::Date, "4713-11-24 BC"),
    (ScalarType::Timetz, "24:00:00+15:59"),
    (ScalarType::Timestamptz, "0001-01-01 05:41:16+05:41:16 BC"),
    (ScalarType::Interval, "-1 years -9 mons -5 days +06:07:08.9"),
    (ScalarType::Path, "((0,0),(1,1),(2,0))"),
    (ScalarType::Circle, "<(1,2),3>"),
    (
        ScalarType::Hstore,
        r#""a"=>"1", "b"=>NULL, "c d"=>"x\"y", "e\\f"=>"""#,
    ),
    (
        ScalarType::Text,
        r#"{"a,b","c\"d","e\\f","{g}",""," h ","NULL",NULL,"null","x y",é🦀}"#,
    ),
    (ScalarType::Int4, "[-2:-1][3:4]={{1,2},{3,4}}"),
    (ScalarType::Box, "{(1,1),(0,0);(3,3),(2,2)}"),
    (ScalarType::Float8, "1.2345678901234568e+17"),
    (ScalarType::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (
        ScalarType::Geometry,
        "0101000020E6100000000000000000F03F0000000000000040",
    ),
];

// ---- Properties -----------------------------------------------------------------

fn any_type() -> impl Strategy<Value = PgType> {
    (0..ALL_SCALARS.len(), any::<bool>()).prop_map(|(i, is_array)| {
        if is_array {
            PgType::Array(ALL_SCALARS[i])
        } else {
            PgType::Scalar(ALL_SCALARS[i])
        }
    })
}

/// Bytes that look a bit like PostgreSQL output, so the parsers get past their first
/// checks more often than with uniform noise.
fn pg_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(
            proptest::sample::select(b"0123456789-+:.,;{}[]()<>\"\\ =xNULaytdmonsBCe$".to_vec()),
            0..64
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn no_input_panics(ty in any_type(), typmod in prop_oneof![Just(-1), any::<i32>()], bytes in pg_ish_bytes()) {
        let _ = parse_text(ty, Typmod(typmod), &bytes);
    }

    #[test]
    fn mutated_server_output_never_panics(
        case in 0..SERVER_SAMPLES.len(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..4),
        as_array in any::<bool>(),
    ) {
        let (ty, sample) = SERVER_SAMPLES[case];
        let mut bytes = sample.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let at = usize::from(at) % (bytes.len() + 1);
            match kind {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ => bytes.truncate(at),
            }
        }
        let ty = if as_array { PgType::Array(ty) } else { PgType::Scalar(ty) };
        let _ = parse_text(ty, Typmod::NONE, &bytes);
    }

    #[test]
    fn integers_round_trip(a in any::<i16>(), b in any::<i32>(), c in any::<i64>()) {
        let texts = [a.to_string(), b.to_string(), c.to_string(), (b as u32).to_string(), (c as u64).to_string()];
        prop_assert_eq!(scalar(ScalarType::Int2, &texts[0]), PgValue::Int2(a));
        prop_assert_eq!(scalar(ScalarType::Int4, &texts[1]), PgValue::Int4(b));
        prop_assert_eq!(scalar(ScalarType::Int8, &texts[2]), PgValue::Int8(c));
        prop_assert_eq!(scalar(ScalarType::Oid, &texts[3]), PgValue::Oid(Oid(b as u32)));
        prop_assert_eq!(scalar(ScalarType::Xid8, &texts[4]), PgValue::Xid8(c as u64));
    }

    #[test]
    fn floats_round_trip(bits8 in any::<u64>(), bits4 in any::<u32>()) {
        let (f8, f4) = (f64::from_bits(bits8), f32::from_bits(bits4));
        let PgValue::Float8(back8) = scalar(ScalarType::Float8, &pg_float(f8)) else { panic!() };
        let PgValue::Float4(back4) = scalar(ScalarType::Float4, &pg_float4(f4)) else { panic!() };
        prop_assert!(back8.to_bits() == f8.to_bits() || (f8.is_nan() && back8.is_nan()));
        prop_assert!(back4.to_bits() == f4.to_bits() || (f4.is_nan() && back4.is_nan()));
    }

    #[test]
    fn numerics_round_trip(negative in any::<bool>(), int in "[1-9][0-9]{0,60}|0", frac in "[0-9]{0,60}") {
        let mut literal = String::new();
        if negative && !(int == "0" && frac.chars().all(|c| c == '0')) {
            literal.push('-');
        }
        literal.push_str(&int);
        if !frac.is_empty() {
            literal.push('.');
            literal.push_str(&frac);
        }
        let PgValue::Numeric(Numeric::Finite(d)) = scalar(ScalarType::Numeric, &literal) else { panic!() };
        prop_assert_eq!(d.to_string(), literal.clone());
        prop_assert_eq!(d.scale() as usize, frac.len());
        let rebuilt = Decimal::from_unscaled_be_bytes(&d.unscaled_be_bytes(), d.scale());
        prop_assert_eq!(rebuilt, d);
    }

    #[test]
    fn int_arrays_round_trip(dims in proptest::collection::vec(1usize..4, 1..4), lower in -3i32..3, seed in proptest::collection::vec(proptest::option::of(any::<i32>()), 64)) {
        let total: usize = dims.iter().product();
        let elements: Vec<Option<i32>> = seed.iter().cycle().take(total).copied().collect();
        let body = format_nested(&dims, &elements.iter().map(|e| e.map(|v| v.to_string())).collect::<Vec<_>>(), b',');
        let literal = if lower == 1 {
            body
        } else {
            let bounds: String = dims.iter().map(|&n| format!("[{}:{}]", lower, lower + n as i32 - 1)).collect();
            format!("{bounds}={body}")
        };
        let parsed = array(ScalarType::Int4, &literal);
        prop_assert_eq!(parsed.dims, dims.iter().map(|&len| ArrayDim { lower_bound: lower, len }).collect::<Vec<_>>());
        let back: Vec<Option<i32>> = parsed.elements.iter().map(|e| e.as_ref().map(|v| match v { PgValue::Int4(i) => *i, _ => panic!() })).collect();
        prop_assert_eq!(back, elements);
    }

    #[test]
    fn text_arrays_round_trip(items in proptest::collection::vec(proptest::option::of("(\\PC|[ ,{}\"\\\\\t\n])*"), 0..8)) {
        let quoted: Vec<Option<String>> = items.iter().map(|e| e.as_deref().map(|s| quote_element(s, b','))).collect();
        let literal = if items.is_empty() { "{}".to_owned() } else { format_nested(&[items.len()], &quoted, b',') };
        let parsed = array(ScalarType::Text, &literal);
        let back: Vec<Option<String>> = parsed.elements.iter().map(|e| e.as_ref().map(|v| v.as_str().expect("text").to_owned())).collect();
        prop_assert_eq!(back, items);
    }

    #[test]
    fn hstore_round_trips(pairs in proptest::collection::vec(("\\PC*", proptest::option::of("\\PC*")), 0..6)) {
        let literal = pairs.iter().map(|(k, v)| {
            let value = v.as_deref().map_or("NULL".to_owned(), hstore_quote);
            format!("{}=>{}", hstore_quote(k), value)
        }).collect::<Vec<_>>().join(", ");
        let PgValue::Hstore(parsed) = scalar(ScalarType::Hstore, &literal) else { panic!("{literal}") };
        let back: Vec<(String, Option<String>)> = parsed.into_iter().map(|(k, v)| (k.into_owned(), v.map(Cow::into_owned))).collect();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn dates_round_trip(days in -2_440_222i64..=2_145_042_905) {
        let (year, month, day) = civil_from_days(days);
        prop_assert_eq!(days_from_civil(year, month, day), days);
        let literal = pg_date(year, month, day);
        prop_assert_eq!(scalar(ScalarType::Date, &literal), PgValue::Date(Date::Days(days as i32)));
    }

    #[test]
    fn timestamps_round_trip(micros in -210_835_180_800_000_000i128..9_224_318_016_000_000_000, offset in -57_599i32..=57_599) {
        // Print the instant as PostgreSQL would in a zone `offset` seconds east of UTC.
        let local = micros + i128::from(offset) * 1_000_000;
        let (days, tod) = (local.div_euclid(86_400_000_000), local.rem_euclid(86_400_000_000));
        let (year, month, day) = civil_from_days(days as i64);
        let date = pg_date(year, month, day);
        let (date, bc) = match date.strip_suffix(" BC") { Some(d) => (d.to_owned(), " BC"), None => (date, "") };
        let literal = format!("{date} {}{}{bc}", pg_time(tod as i64), pg_offset(offset));
        prop_assert_eq!(scalar(ScalarType::Timestamptz, &literal), PgValue::Timestamptz(Timestamp::Micros(micros)));
    }

    #[test]
    fn intervals_round_trip(months in any::<i32>(), days in any::<i32>(), micros in any::<i64>()) {
        let literal = pg_interval(months, days, micros);
        prop_assert_eq!(scalar(ScalarType::Interval, &literal), PgValue::Interval(Interval { months, days, micros }), "{}", literal);
    }

    #[test]
    fn bytea_and_bits_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64), bits in "[01]{0,80}") {
        let hex: String = std::iter::once("\\x".to_owned()).chain(bytes.iter().map(|b| format!("{b:02x}"))).collect();
        prop_assert_eq!(scalar(ScalarType::Bytea, &hex), PgValue::Bytea(Cow::Owned(bytes.clone())));
        let PgValue::Bits(parsed) = scalar(ScalarType::Varbit, &bits) else { panic!() };
        let back: String = (0..parsed.len()).map(|i| if parsed.get(i) == Some(true) { '1' } else { '0' }).collect();
        prop_assert_eq!(back, bits);
    }
}
