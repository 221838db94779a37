//! Reading flat, Debezium-named string properties into typed values, collecting every
//! problem with the name of the property it concerns instead of stopping at the first.
//! (The same reader as the connector's; the sink does not depend on the connector.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// One property that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    pub property: String,
    pub message: String,
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.message)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<PropertyError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid sink configuration: {}", all.join("; "))
    }
}

impl ConfigErrors {
    /// The errors about one property.
    pub fn for_property(&self, property: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|e| e.property == property)
            .map(|e| e.message.as_str())
            .collect()
    }
}

/// A property map being read: remembers which keys were used and what went wrong.
#[derive(Debug)]
pub(crate) struct Properties<'a> {
    map: &'a BTreeMap<String, String>,
    used: BTreeSet<&'a str>,
    pub errors: Vec<PropertyError>,
}

impl<'a> Properties<'a> {
    pub fn new(map: &'a BTreeMap<String, String>) -> Self {
        Properties {
            map,
            used: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, property: &str, message: impl Into<String>) {
        self.errors.push(PropertyError {
            property: property.to_owned(),
            message: message.into(),
        });
    }

    /// The raw value, trimmed; empty counts as absent (Connect forms send "").
    pub fn raw(&mut self, property: &str) -> Option<&'a str> {
        let (key, value) = self.map.get_key_value(property)?;
        self.used.insert(key.as_str());
        let value = value.trim();
        (!value.is_empty()).then_some(value)
    }

    /// Whether the property is set (to anything but the empty string).
    pub fn has(&self, property: &str) -> bool {
        self.map.get(property).is_some_and(|v| !v.trim().is_empty())
    }

    pub fn required(&mut self, property: &str) -> String {
        match self.raw(property) {
            Some(value) => value.to_owned(),
            None => {
                self.error(property, "is required");
                String::new()
            }
        }
    }

    pub fn string(&mut self, property: &str, default: &str) -> String {
        self.raw(property).unwrap_or(default).to_owned()
    }

    pub fn optional(&mut self, property: &str) -> Option<String> {
        self.raw(property).map(str::to_owned)
    }

    /// A value parsed with `FromStr`; on failure the error names the property, the
    /// value, and what was expected.
    pub fn parsed<T: FromStr>(&mut self, property: &str, default: T, expected: &str) -> T {
        match self.raw(property) {
            None => default,
            Some(value) => value.parse().unwrap_or_else(|_| {
                self.error(property, format!("{value:?} is not {expected}"));
                default
            }),
        }
    }

    pub fn bool(&mut self, property: &str, default: bool) -> bool {
        match self.raw(property).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                self.error(
                    property,
                    format!("{other:?} is not a boolean (true or false)"),
                );
                default
            }
        }
    }

    /// One of `choices` (case-insensitive, as Debezium's enumerated settings are).
    pub fn choice<T: Copy>(&mut self, property: &str, default: T, choices: &[(&str, T)]) -> T {
        let Some(value) = self.raw(property) else {
            return default;
        };
        match choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
        {
            Some((_, choice)) => *choice,
            None => {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                self.error(
                    property,
                    format!("{value:?} is not one of {}", names.join(", ")),
                );
                default
            }
        }
    }

    /// A comma-separated list; empty items are dropped.
    pub fn list(&mut self, property: &str) -> Option<Vec<String>> {
        self.raw(property).map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// Marks every property starting with `prefix` as known (read elsewhere).
    pub fn claim_prefix(&mut self, prefix: &str) -> BTreeMap<String, String> {
        let mut claimed = BTreeMap::new();
        for (key, value) in self.map.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            self.used.insert(key.as_str());
            claimed.insert(key[prefix.len()..].to_owned(), value.clone());
        }
        claimed
    }

    /// Properties nobody read: not errors (Connect configs carry settings for other
    /// components), but worth a warning, because a typo silently keeps a default.
    pub fn unused(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .cloned()
            .collect()
    }
}
