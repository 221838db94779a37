//! The connector properties that change how column values are represented, with the
//! names and defaults of Debezium's PostgreSQL connector.

use std::fmt;
use std::str::FromStr;

/// `decimal.handling.mode`: `numeric`, `decimal` and `money` columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DecimalHandlingMode {
    /// Connect `Decimal` (bytes + `scale`), or `VariableScaleDecimal` for unconstrained
    /// `numeric`.
    #[default]
    Precise,
    Double,
    String,
}

/// `time.precision.mode`: `date`, `time` and `timestamp` columns (`timetz` and
/// `timestamptz` are strings in every mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimePrecisionMode {
    /// Millisecond types up to precision 3, microsecond types above.
    #[default]
    Adaptive,
    /// As `adaptive`, but every `time` is `MicroTime`.
    AdaptiveTimeMicroseconds,
    /// Kafka Connect's own `Date`, `Time` and `Timestamp` (milliseconds).
    Connect,
}

/// `binary.handling.mode`: `bytea` columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BinaryHandlingMode {
    #[default]
    Bytes,
    Base64,
    Base64UrlSafe,
    Hex,
}

/// `interval.handling.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IntervalHandlingMode {
    /// `MicroDuration`: microseconds, a month counted as 30.4375 days.
    #[default]
    Numeric,
    /// ISO 8601 `PnYnMnDTnHnMnS`.
    String,
}

/// `hstore.handling.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HstoreHandlingMode {
    /// A JSON object in a string (`io.debezium.data.Json`).
    #[default]
    Json,
    /// A Connect map of optional string values.
    Map,
}

/// The value-shaping properties of one connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueModes {
    pub decimal: DecimalHandlingMode,
    pub time: TimePrecisionMode,
    pub binary: BinaryHandlingMode,
    pub interval: IntervalHandlingMode,
    pub hstore: HstoreHandlingMode,
    /// `money.fraction.digits` (default 2): the scale of `money` as a Decimal.
    pub money_fraction_digits: u8,
    /// `include.unknown.datatypes`: columns of types without a mapping become their
    /// text as bytes (in the binary handling mode) instead of being left out.
    pub include_unknown_datatypes: bool,
    /// `unavailable.value.placeholder`: what replaces an unchanged TOASTed value.
    pub unavailable_value_placeholder: Vec<u8>,
}

/// Debezium's default `unavailable.value.placeholder`.
pub const DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER: &str = "__debezium_unavailable_value";

impl Default for ValueModes {
    fn default() -> Self {
        ValueModes {
            decimal: DecimalHandlingMode::default(),
            time: TimePrecisionMode::default(),
            binary: BinaryHandlingMode::default(),
            interval: IntervalHandlingMode::default(),
            hstore: HstoreHandlingMode::default(),
            money_fraction_digits: 2,
            include_unknown_datatypes: false,
            unavailable_value_placeholder: DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER
                .as_bytes()
                .to_vec(),
        }
    }
}

impl ValueModes {
    /// Reads the properties this type covers from Debezium-named connector properties;
    /// others are ignored. Every invalid value is reported, with its property.
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ValueModes, Vec<InvalidProperty>> {
        let mut modes = ValueModes::default();
        let mut errors = Vec::new();
        for (key, value) in properties {
            let result = match key {
                "decimal.handling.mode" => value.parse().map(|m| modes.decimal = m),
                "time.precision.mode" => value.parse().map(|m| modes.time = m),
                "binary.handling.mode" => value.parse().map(|m| modes.binary = m),
                "interval.handling.mode" => value.parse().map(|m| modes.interval = m),
                "hstore.handling.mode" => value.parse().map(|m| modes.hstore = m),
                "money.fraction.digits" => value
                    .trim()
                    .parse()
                    .map(|d| modes.money_fraction_digits = d)
                    .map_err(|_| "a number from 0 to 255"),
                "include.unknown.datatypes" => parse_bool(value)
                    .map(|b| modes.include_unknown_datatypes = b)
                    .ok_or("true or false"),
                "unavailable.value.placeholder" => {
                    modes.unavailable_value_placeholder = placeholder_bytes(value);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(expected) = result {
                errors.push(InvalidProperty {
                    property: key.to_owned(),
                    value: value.to_owned(),
                    expected,
                });
            }
        }
        if errors.is_empty() {
            Ok(modes)
        } else {
            Err(errors)
        }
    }
}

/// Debezium reads a placeholder that starts with `binary:` as hex bytes.
fn placeholder_bytes(value: &str) -> Vec<u8> {
    if let Some(hex) = value.strip_prefix("binary:") {
        let digits: Vec<u8> = hex
            .bytes()
            .filter_map(|b| (b as char).to_digit(16).map(|d| d as u8))
            .collect();
        if digits.len() == hex.len() && digits.len() % 2 == 0 {
            return digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        }
    }
    value.as_bytes().to_vec()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A property whose value is not one Debezium accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProperty {
    pub property: String,
    pub value: String,
    pub expected: &'static str,
}

impl fmt::Display for InvalidProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.property, self.value, self.expected
        )
    }
}

macro_rules! mode_names {
    ($ty:ty, $expected:literal, { $($name:literal => $variant:expr),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = &'static str;

            /// Debezium's names, case-insensitively and trimmed, as its config does.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($name => Ok($variant),)+
                    _ => Err($expected),
                }
            }
        }
    };
}

mode_names!(DecimalHandlingMode, "precise, double or string", {
    "precise" => DecimalHandlingMode::Precise,
    "double" => DecimalHandlingMode::Double,
    "string" => DecimalHandlingMode::String,
});

mode_names!(TimePrecisionMode, "adaptive, adaptive_time_microseconds or connect", {
    "adaptive" => TimePrecisionMode::Adaptive,
    "adaptive_time_microseconds" => TimePrecisionMode::AdaptiveTimeMicroseconds,
    "connect" => TimePrecisionMode::Connect,
});

mode_names!(BinaryHandlingMode, "bytes, base64, base64-url-safe or hex", {
    "bytes" => BinaryHandlingMode::Bytes,
    "base64" => BinaryHandlingMode::Base64,
    "base64-url-safe" => BinaryHandlingMode::Base64UrlSafe,
    "hex" => BinaryHandlingMode::Hex,
});

mode_names!(IntervalHandlingMode, "numeric or string", {
    "numeric" => IntervalHandlingMode::Numeric,
    "string" => IntervalHandlingMode::String,
});

mode_names!(HstoreHandlingMode, "json or map", {
    "json" => HstoreHandlingMode::Json,
    "map" => HstoreHandlingMode::Map,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debezium_properties() {
        let modes = ValueModes::from_properties([
            ("decimal.handling.mode", "STRING"),
            ("time.precision.mode", "connect"),
            ("binary.handling.mode", "base64-url-safe"),
            ("interval.handling.mode", "string"),
            ("hstore.handling.mode", "map"),
            ("money.fraction.digits", "4"),
            ("include.unknown.datatypes", "true"),
            ("unavailable.value.placeholder", "binary:0aff"),
            ("topic.prefix", "ignored"),
        ])
        .expect("valid");
        assert_eq!(modes.decimal, DecimalHandlingMode::String);
        assert_eq!(modes.time, TimePrecisionMode::Connect);
        assert_eq!(modes.binary, BinaryHandlingMode::Base64UrlSafe);
        assert_eq!(modes.interval, IntervalHandlingMode::String);
        assert_eq!(modes.hstore, HstoreHandlingMode::Map);
        assert_eq!(modes.money_fraction_digits, 4);
        assert!(modes.include_unknown_datatypes);
        assert_eq!(modes.unavailable_value_placeholder, vec![0x0a, 0xff]);
        assert_eq!(
            ValueModes::default().unavailable_value_placeholder,
            b"__debezium_unavailable_value"
        );
    }

    #[test]
    fn reports_every_invalid_value() {
        let errors = ValueModes::from_properties([
            ("decimal.handling.mode", "exact"),
            ("hstore.handling.mode", "list"),
        ])
        .expect_err("invalid");
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0].to_string(),
            "decimal.handling.mode=\"exact\" is not valid: expected precise, double or string"
        );
    }
}
