//! The built-in geometric types, whose coordinates are float8 printed the same way as
//! float8 columns (shortest exact form, `NaN`, `Infinity`, `1e+300`), so parsing them
//! into f64 loses nothing.

use super::error::ValueError;
use super::scalar::parse_float8_in;
use super::types::{PgType, ScalarType};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// `line`: the infinite line `a·x + b·y + c = 0`, printed `{a,b,c}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

/// `lseg`: printed `[(x1,y1),(x2,y2)]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lseg {
    pub start: Point,
    pub end: Point,
}

/// `box`: PostgreSQL normalises the corners and prints the upper-right one first,
/// `(x_high,y_high),(x_low,y_low)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PgBox {
    pub high: Point,
    pub low: Point,
}

/// `path`: open paths print in `[...]`, closed ones in `(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub closed: bool,
    pub points: Vec<Point>,
}

/// `circle`: printed `<(x,y),r>`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Circle {
    pub center: Point,
    pub radius: f64,
}

/// A cursor over geometric text; every method returns `None` on a mismatch.
struct Cursor<'a> {
    rest: &'a [u8],
    scalar: ScalarType,
}

impl<'a> Cursor<'a> {
    fn expect(&mut self, byte: u8) -> Option<()> {
        let (&first, rest) = self.rest.split_first()?;
        (first == byte).then(|| self.rest = rest)
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn number(&mut self) -> Option<f64> {
        let end = self
            .rest
            .iter()
            .position(|b| matches!(b, b',' | b')' | b']' | b'}' | b'>'))
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        parse_float8_in(self.scalar, token).ok()
    }

    fn point(&mut self) -> Option<Point> {
        self.expect(b'(')?;
        let x = self.number()?;
        self.expect(b',')?;
        let y = self.number()?;
        self.expect(b')')?;
        Some(Point { x, y })
    }

    /// `(x,y),(x,y),...` up to (not including) `close`.
    fn points(&mut self, close: u8) -> Option<Vec<Point>> {
        let mut points = Vec::new();
        loop {
            points.push(self.point()?);
            match self.peek()? {
                b',' => self.expect(b',')?,
                b if b == close => return Some(points),
                _ => return None,
            }
        }
    }

    fn end(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

fn parse_with<'a, T>(
    scalar: ScalarType,
    text: &'a [u8],
    expected: &'static str,
    body: impl FnOnce(&mut Cursor<'a>) -> Option<T>,
) -> Result<T, ValueError> {
    let mut cursor = Cursor { rest: text, scalar };
    body(&mut cursor)
        .and_then(|value| cursor.end().map(|()| value))
        .ok_or_else(|| ValueError::malformed(PgType::Scalar(scalar), text, expected))
}

pub fn parse_point(text: &[u8]) -> Result<Point, ValueError> {
    parse_with(ScalarType::Point, text, "expected (x,y)", Cursor::point)
}

pub fn parse_line(text: &[u8]) -> Result<Line, ValueError> {
    parse_with(ScalarType::Line, text, "expected {a,b,c}", |c| {
        c.expect(b'{')?;
        let a = c.number()?;
        c.expect(b',')?;
        let b = c.number()?;
        c.expect(b',')?;
        let cc = c.number()?;
        c.expect(b'}')?;
        Some(Line { a, b, c: cc })
    })
}

pub fn parse_lseg(text: &[u8]) -> Result<Lseg, ValueError> {
    parse_with(ScalarType::Lseg, text, "expected [(x1,y1),(x2,y2)]", |c| {
        c.expect(b'[')?;
        let start = c.point()?;
        c.expect(b',')?;
        let end = c.point()?;
        c.expect(b']')?;
        Some(Lseg { start, end })
    })
}

pub fn parse_box(text: &[u8]) -> Result<PgBox, ValueError> {
    parse_with(ScalarType::Box, text, "expected (x1,y1),(x2,y2)", |c| {
        let high = c.point()?;
        c.expect(b',')?;
        let low = c.point()?;
        Some(PgBox { high, low })
    })
}

pub fn parse_path(text: &[u8]) -> Result<Path, ValueError> {
    parse_with(
        ScalarType::Path,
        text,
        "expected [(x,y),...] or ((x,y),...)",
        |c| {
            let (closed, close) = match c.peek()? {
                b'[' => (false, b']'),
                b'(' => (true, b')'),
                _ => return None,
            };
            c.rest = &c.rest[1..];
            let points = c.points(close)?;
            c.expect(close)?;
            Some(Path { closed, points })
        },
    )
}

pub fn parse_polygon(text: &[u8]) -> Result<Vec<Point>, ValueError> {
    parse_with(ScalarType::Polygon, text, "expected ((x,y),...)", |c| {
        c.expect(b'(')?;
        let points = c.points(b')')?;
        c.expect(b')')?;
        Some(points)
    })
}

pub fn parse_circle(text: &[u8]) -> Result<Circle, ValueError> {
    parse_with(ScalarType::Circle, text, "expected <(x,y),r>", |c| {
        c.expect(b'<')?;
        let center = c.point()?;
        c.expect(b',')?;
        let radius = c.number()?;
        c.expect(b'>')?;
        Some(Circle { center, radius })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    // Every text below was printed by PostgreSQL 15.
    #[test]
    fn server_output() {
        assert_eq!(parse_point(b"(1,2)"), Ok(pt(1.0, 2.0)));
        assert_eq!(parse_point(b"(1.5,-2.25)"), Ok(pt(1.5, -2.25)));
        let p = parse_point(b"(1e+300,NaN)").expect("point");
        assert!(p.x == 1e300 && p.y.is_nan());
        let p = parse_point(b"(-0,Infinity)").expect("point");
        assert!(p.x.is_sign_negative() && p.y == f64::INFINITY);
        assert_eq!(
            parse_point(b"(-Infinity,0.1)"),
            Ok(pt(f64::NEG_INFINITY, 0.1))
        );
        assert_eq!(
            parse_line(b"{1,-1,0}"),
            Ok(Line {
                a: 1.0,
                b: -1.0,
                c: 0.0
            })
        );
        assert_eq!(
            parse_lseg(b"[(0,0),(1,1)]"),
            Ok(Lseg {
                start: pt(0.0, 0.0),
                end: pt(1.0, 1.0)
            })
        );
        assert_eq!(
            parse_box(b"(2,2),(0,0)"),
            Ok(PgBox {
                high: pt(2.0, 2.0),
                low: pt(0.0, 0.0)
            })
        );
        assert_eq!(
            parse_path(b"[(0,0),(1,1),(2,0)]"),
            Ok(Path {
                closed: false,
                points: vec![pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 0.0)]
            })
        );
        assert_eq!(
            parse_path(b"((0,0),(1,1),(2,0))"),
            Ok(Path {
                closed: true,
                points: vec![pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 0.0)]
            })
        );
        assert_eq!(
            parse_polygon(b"((0,0),(1,1),(2,0))"),
            Ok(vec![pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 0.0)])
        );
        assert_eq!(
            parse_circle(b"<(1,2),3>"),
            Ok(Circle {
                center: pt(1.0, 2.0),
                radius: 3.0
            })
        );
        assert_eq!(parse_polygon(b"((5,6))"), Ok(vec![pt(5.0, 6.0)]));
    }

    #[test]
    fn malformed() {
        assert!(parse_point(b"(1,2").is_err());
        assert!(parse_point(b"(1,2))").is_err());
        assert!(parse_point(b"1,2").is_err());
        assert!(parse_point(b"(1;2)").is_err());
        assert!(parse_point(b"(,2)").is_err());
        assert!(parse_point(b"").is_err());
        assert!(parse_line(b"{1,2}").is_err());
        assert!(parse_lseg(b"[(0,0)]").is_err());
        assert!(parse_box(b"((1,1),(0,0))").is_err());
        assert!(parse_path(b"[(0,0),(1,1))").is_err());
        assert!(parse_path(b"[]").is_err());
        assert!(parse_polygon(b"()").is_err());
        assert!(parse_circle(b"<(1,2)>").is_err());
        let err = parse_circle(b"<(1,2),x>").expect_err("bad radius");
        assert_eq!(err.pg_type(), PgType::Scalar(ScalarType::Circle));
    }
}
