//! PostgreSQL's built-in geometric types and PostGIS values as Debezium's geometry
//! structs.
//!
//! `point` is a `Point {x, y, wkb, srid}`; `line` a `Line {a, b, c}`; `circle` a
//! `Circle {center: Point, radius}`; `lseg`, `box`, `path` and `polygon` are
//! `Geometry {wkb, srid, extensions}` (version 2), their OGC well-known binary (little
//! endian, no SRID) with the native type in `extensions`:
//!
//! - `lseg` and every `path`, open or closed, are LineStrings (`path` adds
//!   `closed` = `true`/`false`);
//! - `box` is a Polygon ring `(high.x high.y) (high.x low.y) (low.x low.y)
//!   (low.x high.y) (high.x high.y)`;
//! - `polygon` is a Polygon whose ring is closed by repeating the first point, unless
//!   it already ends there.
//!
//! PostGIS `geometry` keeps its extended WKB as is (SRID flag included), with the SRID
//! read from it and no extensions; `geography` has no `extensions` field at all.

use pgcdc_schemas::connect::Value;

use crate::values::{Circle, Ewkb, Line, Lseg, Path, PgBox, Point};

const WKB_LITTLE_ENDIAN: u8 = 1;
const WKB_POINT: u32 = 1;
const WKB_LINE_STRING: u32 = 2;
const WKB_POLYGON: u32 = 3;

fn header(kind: u32, capacity: usize) -> Vec<u8> {
    let mut wkb = Vec::with_capacity(capacity);
    wkb.push(WKB_LITTLE_ENDIAN);
    wkb.extend_from_slice(&kind.to_le_bytes());
    wkb
}

fn push_point(wkb: &mut Vec<u8>, p: &Point) {
    wkb.extend_from_slice(&p.x.to_le_bytes());
    wkb.extend_from_slice(&p.y.to_le_bytes());
}

fn count(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

pub fn point_wkb(p: &Point) -> Vec<u8> {
    let mut wkb = header(WKB_POINT, 21);
    push_point(&mut wkb, p);
    wkb
}

fn line_string_wkb(points: &[Point]) -> Vec<u8> {
    let mut wkb = header(WKB_LINE_STRING, 9 + 16 * points.len());
    wkb.extend_from_slice(&count(points.len()));
    for p in points {
        push_point(&mut wkb, p);
    }
    wkb
}

fn polygon_wkb(ring: &[Point]) -> Vec<u8> {
    let mut wkb = header(WKB_POLYGON, 13 + 16 * ring.len());
    wkb.extend_from_slice(&count(1));
    wkb.extend_from_slice(&count(ring.len()));
    for p in ring {
        push_point(&mut wkb, p);
    }
    wkb
}

/// `io.debezium.data.geometry.Point`.
pub fn point(p: &Point) -> Value {
    Value::Struct(vec![
        Value::Float64(p.x),
        Value::Float64(p.y),
        Value::Bytes(point_wkb(p)),
        Value::Null,
    ])
}

/// `io.debezium.data.geometry.Line`.
pub fn line(l: &Line) -> Value {
    Value::Struct(vec![
        Value::Float64(l.a),
        Value::Float64(l.b),
        Value::Float64(l.c),
    ])
}

/// `io.debezium.data.geometry.Circle`.
pub fn circle(c: &Circle) -> Value {
    Value::Struct(vec![point(&c.center), Value::Float64(c.radius)])
}

/// `Geometry` of a native type: WKB, no SRID, and the `extensions` map in insertion
/// order (Debezium builds it as a `LinkedHashMap`: `type`, then `closed`).
fn native_geometry(wkb: Vec<u8>, extensions: &[(&str, &str)]) -> Value {
    let entries = extensions
        .iter()
        .map(|(k, v)| (Value::from(*k), Value::from(*v)))
        .collect();
    Value::Struct(vec![Value::Bytes(wkb), Value::Null, Value::Map(entries)])
}

pub fn lseg(l: &Lseg) -> Value {
    native_geometry(line_string_wkb(&[l.start, l.end]), &[("type", "lseg")])
}

pub fn pg_box(b: &PgBox) -> Value {
    let (high, low) = (b.high, b.low);
    let ring = [
        high,
        Point {
            x: high.x,
            y: low.y,
        },
        low,
        Point {
            x: low.x,
            y: high.y,
        },
        high,
    ];
    native_geometry(polygon_wkb(&ring), &[("type", "box")])
}

pub fn path(p: &Path) -> Value {
    let closed = if p.closed { "true" } else { "false" };
    native_geometry(
        line_string_wkb(&p.points),
        &[("type", "path"), ("closed", closed)],
    )
}

pub fn polygon(points: &[Point]) -> Value {
    let mut ring = points.to_vec();
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        if first != last {
            ring.push(*first);
        }
    }
    native_geometry(polygon_wkb(&ring), &[("type", "polygon")])
}

/// PostGIS `geometry`: `{wkb, srid, extensions: null}`.
pub fn geometry(ewkb: &Ewkb) -> Value {
    Value::Struct(vec![
        Value::Bytes(ewkb.as_bytes().to_vec()),
        srid(ewkb),
        Value::Null,
    ])
}

/// PostGIS `geography`: `{wkb, srid}`.
pub fn geography(ewkb: &Ewkb) -> Value {
    Value::Struct(vec![Value::Bytes(ewkb.as_bytes().to_vec()), srid(ewkb)])
}

fn srid(ewkb: &Ewkb) -> Value {
    ewkb.srid()
        .and_then(|s| i32::try_from(s).ok())
        .map_or(Value::Null, Value::Int32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgcdc_schemas::encoding::base64;

    /// The base64 of the first WKB in a geometry struct (a circle's is its center's).
    fn wkb_of(value: &Value) -> String {
        let Value::Struct(fields) = value else {
            return String::new();
        };
        fields
            .iter()
            .find_map(|f| match f {
                Value::Bytes(b) => Some(base64(b)),
                Value::Struct(_) => Some(wkb_of(f)),
                _ => None,
            })
            .unwrap_or_default()
    }

    // Expected WKB from defaults.json.
    #[test]
    fn wkb_as_debezium_writes_it() {
        let p = |x, y| Point { x, y };
        assert_eq!(wkb_of(&point(&p(1.0, 2.0))), "AQEAAAAAAAAAAADwPwAAAAAAAABA");
        assert_eq!(
            wkb_of(&pg_box(&PgBox {
                high: p(3.0, 4.0),
                low: p(1.0, 2.0)
            })),
            "AQMAAAABAAAABQAAAAAAAAAAAAhAAAAAAAAAEEAAAAAAAAAIQAAAAAAAAABAAAAAAAAA8D8AAAAAAAAAQAAAAAAAAPA/AAAAAAAAEEAAAAAAAAAIQAAAAAAAABBA"
        );
        assert_eq!(
            wkb_of(&polygon(&[p(0.0, 0.0), p(0.0, 1.0), p(1.0, 1.0)])),
            "AQMAAAABAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAADwPwAAAAAAAAAAAAAAAAAAAAA="
        );
        assert_eq!(
            wkb_of(&polygon(&[p(0.0, 0.0)])),
            "AQMAAAABAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
        assert_eq!(
            wkb_of(&circle(&Circle {
                center: p(1.0, 2.0),
                radius: 3.0
            })),
            "AQEAAAAAAAAAAADwPwAAAAAAAABA"
        );
    }

    #[test]
    fn path_extensions_in_insertion_order() {
        let value = path(&Path {
            closed: true,
            points: vec![Point { x: 0.0, y: 0.0 }],
        });
        let Value::Struct(fields) = value else {
            panic!("struct")
        };
        assert_eq!(
            fields[2],
            Value::Map(vec![
                (Value::from("type"), Value::from("path")),
                (Value::from("closed"), Value::from("true"))
            ])
        );
    }
}
