//! Sums (and averages): exact decimals where possible.

use serde::{Deserialize, Serialize};

use crate::decimal::{format_nanos, nanos_to_f64, parse_nanos};
use crate::row::Number;

/// A retractable sum of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SumRepr", into = "SumRepr")]
pub struct Sum {
    /// The exact part, in nano-units.
    pub nanos: i128,
    /// Values with more than nine fraction digits (or out of range) add here.
    pub float: f64,
    /// Rows summed (retractions subtract).
    pub rows: i64,
}

impl Sum {
    /// One row's value (`sign` −1 retracts it).
    pub fn of(n: Number) -> Sum {
        match n.nanos {
            Some(nanos) => Sum {
                nanos,
                float: 0.0,
                rows: 1,
            },
            None => Sum {
                nanos: 0,
                float: n.float,
                rows: 1,
            },
        }
    }

    pub fn merge(&mut self, other: &Sum) {
        self.nanos = self.nanos.saturating_add(other.nanos);
        self.float += other.float;
        self.rows += other.rows;
        if self.rows == 0 && self.float.abs() < 1e-9 {
            self.float = 0.0; // what is left of inexact additions and retractions
        }
    }

    pub fn negate(&mut self) {
        self.nanos = -self.nanos;
        self.float = -self.float;
        self.rows = -self.rows;
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0 && self.nanos == 0 && self.float == 0.0
    }

    pub fn total(&self) -> f64 {
        nanos_to_f64(self.nanos) + self.float
    }
}

#[derive(Serialize, Deserialize)]
struct SumRepr {
    s: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    f: f64,
    n: i64,
}

fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

impl From<Sum> for SumRepr {
    fn from(s: Sum) -> SumRepr {
        SumRepr {
            s: format_nanos(s.nanos),
            f: s.float,
            n: s.rows,
        }
    }
}

impl TryFrom<SumRepr> for Sum {
    type Error = String;

    fn try_from(r: SumRepr) -> Result<Sum, String> {
        let nanos = parse_nanos(&r.s).ok_or_else(|| format!("{:?} is not a decimal", r.s))?;
        Ok(Sum {
            nanos,
            float: r.f,
            rows: r.n,
        })
    }
}
