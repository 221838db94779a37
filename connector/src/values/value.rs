//! The typed value of one column (or one array element).

use std::borrow::Cow;

use super::array::PgArray;
use super::bits::BitString;
use super::datetime::{Date, TimeTz, Timestamp};
use super::geometric::{Circle, Line, Lseg, Path, PgBox, Point};
use super::hstore::HstorePairs;
use super::interval::Interval;
use super::money::Money;
use super::numeric::Numeric;
use super::types::Oid;
use crate::Lsn;

/// A column value parsed from PostgreSQL's text output, borrowing from the message
/// buffer where it can (`Text`, `Bytea` in escape format, unescaped array elements and
/// hstore words). SQL NULL is not a `PgValue`: pgoutput marks it separately, and
/// inside arrays and hstores it is the `None` of an `Option`.
///
/// The variant follows the representation, not the SQL type: `text`, `varchar`,
/// `json`, `xml`, enums, `inet` and the other kept-as-text types are all `Text`, and
/// the events layer takes the schema from the column's [`PgType`](super::PgType).
#[derive(Clone, Debug, PartialEq)]
pub enum PgValue<'a> {
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    Money(Money<'a>),
    /// Every type whose value is its text: `text`, `varchar`, `bpchar` (padded),
    /// `name`, `"char"`, `json`, `jsonb`, `xml`, `inet`, `cidr`, `macaddr`,
    /// `macaddr8`, `tsvector`, `tsquery`, ranges, multiranges, enums, `ltree`,
    /// `citext`, and the fallback for types this module does not know.
    Text(Cow<'a, str>),
    Bytea(Cow<'a, [u8]>),
    Uuid([u8; 16]),
    Date(Date),
    /// `time`: microseconds since midnight, up to and including 24:00:00.
    Time(i64),
    TimeTz(TimeTz),
    /// `timestamp`: wall-clock microseconds since 1970-01-01 00:00:00.
    Timestamp(Timestamp),
    /// `timestamptz`: the UTC instant, microseconds since the Unix epoch.
    Timestamptz(Timestamp),
    Interval(Interval),
    Bits(BitString),
    Point(Point),
    Line(Line),
    Lseg(Lseg),
    Box(PgBox),
    Path(Path),
    Polygon(Vec<Point>),
    Circle(Circle),
    Oid(Oid),
    Xid(u32),
    Xid8(u64),
    Lsn(Lsn),
    Hstore(HstorePairs<'a>),
    /// PostGIS `geometry`/`geography`: the extended WKB that their text form spells
    /// in hex.
    Ewkb(Ewkb),
    Array(PgArray<'a>),
}

impl PgValue<'_> {
    /// Detaches the value from the buffer it was parsed from.
    pub fn into_owned(self) -> PgValue<'static> {
        match self {
            PgValue::Bool(v) => PgValue::Bool(v),
            PgValue::Int2(v) => PgValue::Int2(v),
            PgValue::Int4(v) => PgValue::Int4(v),
            PgValue::Int8(v) => PgValue::Int8(v),
            PgValue::Float4(v) => PgValue::Float4(v),
            PgValue::Float8(v) => PgValue::Float8(v),
            PgValue::Numeric(v) => PgValue::Numeric(v),
            PgValue::Money(v) => PgValue::Money(v.into_owned()),
            PgValue::Text(v) => PgValue::Text(Cow::Owned(v.into_owned())),
            PgValue::Bytea(v) => PgValue::Bytea(Cow::Owned(v.into_owned())),
            PgValue::Uuid(v) => PgValue::Uuid(v),
            PgValue::Date(v) => PgValue::Date(v),
            PgValue::Time(v) => PgValue::Time(v),
            PgValue::TimeTz(v) => PgValue::TimeTz(v),
            PgValue::Timestamp(v) => PgValue::Timestamp(v),
            PgValue::Timestamptz(v) => PgValue::Timestamptz(v),
            PgValue::Interval(v) => PgValue::Interval(v),
            PgValue::Bits(v) => PgValue::Bits(v),
            PgValue::Point(v) => PgValue::Point(v),
            PgValue::Line(v) => PgValue::Line(v),
            PgValue::Lseg(v) => PgValue::Lseg(v),
            PgValue::Box(v) => PgValue::Box(v),
            PgValue::Path(v) => PgValue::Path(v),
            PgValue::Polygon(v) => PgValue::Polygon(v),
            PgValue::Circle(v) => PgValue::Circle(v),
            PgValue::Oid(v) => PgValue::Oid(v),
            PgValue::Xid(v) => PgValue::Xid(v),
            PgValue::Xid8(v) => PgValue::Xid8(v),
            PgValue::Lsn(v) => PgValue::Lsn(v),
            PgValue::Hstore(pairs) => PgValue::Hstore(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            Cow::Owned(k.into_owned()),
                            v.map(|v| Cow::Owned(v.into_owned())),
                        )
                    })
                    .collect(),
            ),
            PgValue::Ewkb(v) => PgValue::Ewkb(v),
            PgValue::Array(v) => PgValue::Array(v.into_owned()),
        }
    }

    /// The text of a `Text` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PgValue::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// PostGIS extended well-known binary. Debezium's `io.debezium.data.geometry.Geometry`
/// carries the WKB bytes and the SRID; [`Ewkb::srid`] reads the latter from the header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ewkb(pub Vec<u8>);

impl Ewkb {
    /// EWKB flags an embedded SRID with this bit of the geometry type word.
    const SRID_FLAG: u32 = 0x2000_0000;

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The SRID, when the header carries one: byte order (0 big-endian, 1
    /// little-endian), a u32 type word, then the SRID as a u32.
    pub fn srid(&self) -> Option<u32> {
        let (&order, rest) = self.0.split_first()?;
        let word = |bytes: &[u8]| -> Option<u32> {
            let array: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            Some(match order {
                0 => u32::from_be_bytes(array),
                1 => u32::from_le_bytes(array),
                _ => return None,
            })
        };
        let type_word = word(rest)?;
        if type_word & Self::SRID_FLAG == 0 {
            return None;
        }
        word(rest.get(4..)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewkb_srid() {
        // 'SRID=4326;POINT(1 2)'::geometry, decoded from PostGIS 3.3's hex output.
        let with_srid =
            super::super::bytea::decode_hex(b"0101000020E6100000000000000000F03F0000000000000040")
                .expect("hex");
        assert_eq!(Ewkb(with_srid).srid(), Some(4326));
        let without =
            super::super::bytea::decode_hex(b"0101000000000000000000F03F0000000000000040")
                .expect("hex");
        assert_eq!(Ewkb(without).srid(), None);
        assert_eq!(Ewkb(vec![]).srid(), None);
        assert_eq!(Ewkb(vec![1, 0, 0, 0, 0x20]).srid(), None);
        assert_eq!(
            Ewkb(vec![0, 0x20, 0, 0, 1, 0, 0, 0x10, 0xE6]).srid(),
            Some(4326)
        );
    }

    #[test]
    fn stays_small() {
        // Values are built per column of every row: keep them within a cache line.
        assert!(
            std::mem::size_of::<PgValue<'_>>() <= 64,
            "{}",
            std::mem::size_of::<PgValue<'_>>()
        );
        assert_eq!(
            std::mem::size_of::<PgValue<'_>>(),
            std::mem::size_of::<Option<PgValue<'_>>>()
        );
    }

    #[test]
    fn into_owned_keeps_content() {
        let text = String::from("hello");
        let value = PgValue::Text(Cow::Borrowed(&text));
        let owned = value.clone().into_owned();
        drop(text);
        assert_eq!(owned.as_str(), Some("hello"));
        assert_eq!(PgValue::Int4(1).as_str(), None);
    }
}
