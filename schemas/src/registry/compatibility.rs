//! Compatibility levels and Avro schema resolution (Avro specification, "Schema
//! Resolution"): whether data written with one schema can be read with another.
//!
//! BACKWARD means the new schema can read data written with the previous one (new =
//! reader), FORWARD that the previous can read data written with the new one (new =
//! writer), FULL both; the `_TRANSITIVE` levels check against every live version
//! instead of the latest only (Confluent, "Schema Evolution and Compatibility").
//!
//! One rule is stricter than Avro's Java `SchemaCompatibility`, which ignores logical
//! types: two `decimal`s must have the same scale and the reader at least the
//! writer's precision, because a reader with another scale misreads every value.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::avro::{unqualified, Decimal, Named, NamedKind, Parsed, Ty};
use super::error::RegistryError;

/// A compatibility level, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RegistryError::InvalidCompatibilityLevel {
                given: s.to_owned(),
            })
    }
}

/// One previous version to check against.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub version: u32,
    pub canonical: &'a str,
    pub parsed: &'a Parsed,
}

/// Checks `new` against `previous` (live versions, oldest first) at `level`, and
/// returns the incompatibilities as Confluent's verbose messages (empty: compatible).
pub fn check(level: Level, new: &Parsed, previous: &[Previous<'_>]) -> Vec<String> {
    let against: &[Previous<'_>] = if level.transitive() {
        previous
    } else {
        previous
            .len()
            .checked_sub(1)
            .map_or(&[], |last| &previous[last..])
    };
    let mut messages = Vec::new();
    for old in against.iter().rev() {
        let mut found = Vec::new();
        if level.backward() {
            found.extend(resolve(new, old.parsed, Side::NewReads));
        }
        if level.forward() {
            found.extend(resolve(old.parsed, new, Side::OldReads));
        }
        if !found.is_empty() {
            messages.extend(found.iter().map(ToString::to_string));
            messages.push(format!("{{oldSchemaVersion: {}}}", old.version));
            messages.push(format!("{{oldSchema: '{}'}}", old.canonical));
            messages.push(format!("{{compatibility: '{level}'}}"));
        }
    }
    messages
}

/// Which of the two schemas reads, for the wording of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    NewReads,
    OldReads,
}

impl Side {
    fn reader(self) -> &'static str {
        match self {
            Side::NewReads => "new",
            Side::OldReads => "old",
        }
    }

    fn writer(self) -> &'static str {
        match self {
            Side::NewReads => "old",
            Side::OldReads => "new",
        }
    }
}

/// Why data written with one schema cannot be read with another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Avro Java's `SchemaIncompatibilityType` name.
    pub error_type: &'static str,
    /// JSON-pointer-like location in the reader schema, e.g. `/fields/1/type`.
    pub location: String,
    /// Dotted field path, e.g. `after.amount` (empty at the top level).
    pub field_path: String,
    pub description: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{errorType:'{}', description:'{}', additionalInfo:'{}'}}",
            self.error_type, self.description, self.field_path
        )
    }
}

/// Every reason data written with `writer` cannot be read with `reader`.
pub fn resolve(reader: &Parsed, writer: &Parsed, side: Side) -> Vec<Incompatibility> {
    let mut resolver = Resolver {
        reader,
        writer,
        side,
        in_progress: HashSet::new(),
        probing: 0,
        probe_cache: HashMap::new(),
        found: Vec::new(),
    };
    resolver.check(&reader.root, &writer.root, "", "");
    resolver.found
}

struct Resolver<'a> {
    reader: &'a Parsed,
    writer: &'a Parsed,
    side: Side,
    /// Named pairs being compared: a recursive type compared again is assumed
    /// compatible (its other parts are checked where the recursion started).
    in_progress: HashSet<(usize, usize)>,
    /// How many probes (union branch trials) are under way.
    probing: usize,
    /// Outcomes of named pairs compared while probing: unions of records inside
    /// unions of records would otherwise be compared again for every branch pair.
    probe_cache: HashMap<(usize, usize), bool>,
    found: Vec<Incompatibility>,
}

fn describe(ty: &Ty, parsed: &Parsed) -> String {
    match ty {
        Ty::Null => "null".into(),
        Ty::Boolean => "boolean".into(),
        Ty::Int => "int".into(),
        Ty::Long => "long".into(),
        Ty::Float => "float".into(),
        Ty::Double => "double".into(),
        Ty::Bytes { decimal: None } => "bytes".into(),
        Ty::Bytes { decimal: Some(d) } => format!("bytes(decimal({},{}))", d.precision, d.scale),
        Ty::String => "string".into(),
        Ty::Array(items) => format!("array<{}>", describe(items, parsed)),
        Ty::Map(values) => format!("map<{}>", describe(values, parsed)),
        Ty::Union(branches) => format!(
            "[{}]",
            branches
                .iter()
                .map(|b| describe(b, parsed))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Ty::Named(index) => parsed
            .named(*index)
            .map_or_else(|| "?".into(), |n| n.full_name.clone()),
    }
}

/// Avro's promotions: what a reader of `reader` accepts besides its own type.
fn promotes(writer: &Ty, reader: &Ty) -> bool {
    matches!(
        (writer, reader),
        (Ty::Int, Ty::Long | Ty::Float | Ty::Double)
            | (Ty::Long, Ty::Float | Ty::Double)
            | (Ty::Float, Ty::Double)
            | (Ty::String, Ty::Bytes { .. })
            | (Ty::Bytes { .. }, Ty::String)
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl Resolver<'_> {
    fn report(
        &mut self,
        error_type: &'static str,
        location: &str,
        field_path: &str,
        description: String,
    ) {
        self.found.push(Incompatibility {
            error_type,
            location: if location.is_empty() {
                "/".into()
            } else {
                location.to_owned()
            },
            field_path: field_path.to_owned(),
            description,
        });
    }

    /// Whether `writer` resolves to `reader`, without recording anything.
    fn probe(&mut self, reader: &Ty, writer: &Ty) -> bool {
        let saved = std::mem::take(&mut self.found);
        self.probing += 1;
        self.check(reader, writer, "", "");
        self.probing -= 1;
        let ok = self.found.is_empty();
        self.found = saved;
        ok
    }

    fn check(&mut self, reader: &Ty, writer: &Ty, location: &str, path: &str) {
        let (reader_side, writer_side) = (self.side.reader(), self.side.writer());
        match (reader, writer) {
            // A writer union: every branch it may have written must be readable.
            (Ty::Union(readers), Ty::Union(writers)) => {
                for (i, w) in writers.iter().enumerate() {
                    if !readers.iter().any(|r| self.probe(r, w)) {
                        let w = describe(w, self.writer);
                        self.report(
                            "MISSING_UNION_BRANCH",
                            location,
                            path,
                            format!(
                                "The {reader_side} schema's union at '{}' has no branch that can read the {writer_side} schema's branch {i} ({w})",
                                display_path(path)
                            ),
                        );
                    }
                }
            }
            (_, Ty::Union(writers)) => {
                for (i, w) in writers.iter().enumerate() {
                    if !self.probe(reader, w) {
                        let (r, w) = (describe(reader, self.reader), describe(w, self.writer));
                        self.report(
                            "MISSING_UNION_BRANCH",
                            location,
                            path,
                            format!(
                                "The {writer_side} schema's union branch {i} ({w}) at '{}' cannot be read as {r} by the {reader_side} schema",
                                display_path(path)
                            ),
                        );
                    }
                }
            }
            // A reader union reads a non-union writer with its first matching branch.
            (Ty::Union(readers), _) => {
                if !readers.iter().any(|r| self.probe(r, writer)) {
                    let (r, w) = (describe(reader, self.reader), describe(writer, self.writer));
                    self.report(
                        "TYPE_MISMATCH",
                        location,
                        path,
                        format!(
                            "The type of '{}' in the {writer_side} schema ({w}) matches no branch of the {reader_side} schema's union {r}",
                            display_path(path)
                        ),
                    );
                }
            }
            (Ty::Array(r), Ty::Array(w)) => self.check(r, w, &format!("{location}/items"), path),
            (Ty::Map(r), Ty::Map(w)) => self.check(r, w, &format!("{location}/values"), path),
            (Ty::Bytes { decimal: r }, Ty::Bytes { decimal: w }) => {
                self.decimal(*r, *w, location, path)
            }
            (Ty::Named(r), Ty::Named(w)) => self.named(*r, *w, location, path),
            (r, w) if r == w || promotes(w, r) => {}
            (r, w) => {
                let (r, w) = (describe(r, self.reader), describe(w, self.writer));
                self.report(
                    "TYPE_MISMATCH",
                    location,
                    path,
                    format!(
                        "The type of '{}' is {w} in the {writer_side} schema and {r} in the {reader_side} schema, and {w} cannot be read as {r}",
                        display_path(path)
                    ),
                );
            }
        }
    }

    fn decimal(
        &mut self,
        reader: Option<Decimal>,
        writer: Option<Decimal>,
        location: &str,
        path: &str,
    ) {
        let (Some(r), Some(w)) = (reader, writer) else {
            return;
        };
        if r.scale != w.scale || r.precision < w.precision {
            let (reader_side, writer_side) = (self.side.reader(), self.side.writer());
            self.report(
                "DECIMAL_MISMATCH",
                location,
                path,
                format!(
                    "The decimal '{}' is decimal({},{}) in the {writer_side} schema and decimal({},{}) in the {reader_side} schema: the scale must be equal and the reader's precision at least the writer's",
                    display_path(path),
                    w.precision,
                    w.scale,
                    r.precision,
                    r.scale
                ),
            );
        }
    }

    fn named(&mut self, r_index: usize, w_index: usize, location: &str, path: &str) {
        let pair = (r_index, w_index);
        if self.probing > 0 {
            if let Some(&compatible) = self.probe_cache.get(&pair) {
                if !compatible {
                    // A probe only asks whether anything was found.
                    self.report("TYPE_MISMATCH", location, path, String::new());
                }
                return;
            }
        }
        if !self.in_progress.insert(pair) {
            return;
        }
        let before = self.found.len();
        let (reader, writer) = (self.reader, self.writer);
        if let (Some(r), Some(w)) = (reader.named(r_index), writer.named(w_index)) {
            self.named_pair(r, w, location, path);
        }
        self.in_progress.remove(&pair);
        if self.probing > 0 {
            self.probe_cache.insert(pair, self.found.len() == before);
        }
    }

    fn named_pair(&mut self, r: &Named, w: &Named, location: &str, path: &str) {
        let (reader_side, writer_side) = (self.side.reader(), self.side.writer());
        // Named types match on the unqualified name, or a reader alias naming the writer.
        let names_match = r.unqualified() == w.unqualified()
            || r.aliases.iter().any(|a| unqualified(a) == w.unqualified());
        let same_kind = std::mem::discriminant(&r.kind) == std::mem::discriminant(&w.kind);
        if !same_kind {
            self.report(
                "TYPE_MISMATCH",
                location,
                path,
                format!(
                    "The type of '{}' is {} in the {writer_side} schema and {} in the {reader_side} schema",
                    display_path(path),
                    w.full_name,
                    r.full_name
                ),
            );
            return;
        }
        if !names_match {
            self.report(
                "NAME_MISMATCH",
                &format!("{location}/name"),
                path,
                format!(
                    "The name of the type at '{}' is '{}' in the {writer_side} schema and '{}' in the {reader_side} schema, which has no alias for it",
                    display_path(path),
                    w.full_name,
                    r.full_name
                ),
            );
            return;
        }
        match (&r.kind, &w.kind) {
            (NamedKind::Record { fields: r_fields }, NamedKind::Record { fields: w_fields }) => {
                for (i, field) in r_fields.iter().enumerate() {
                    let field_location = format!("{location}/fields/{i}");
                    let field_path = join(path, &field.name);
                    let written = w_fields
                        .iter()
                        .find(|wf| wf.name == field.name)
                        .or_else(|| w_fields.iter().find(|wf| field.aliases.contains(&wf.name)));
                    match written {
                        Some(wf) => {
                            self.check(&field.ty, &wf.ty, &format!("{field_location}/type"), &field_path)
                        }
                        None if field.has_default => {}
                        None => self.report(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            &field_location,
                            &field_path,
                            format!(
                                "The field '{field_path}' at path '{field_location}' in the {reader_side} schema has no default value and is missing in the {writer_side} schema"
                            ),
                        ),
                    }
                }
            }
            (
                NamedKind::Enum {
                    symbols: r_symbols,
                    default,
                },
                NamedKind::Enum {
                    symbols: w_symbols, ..
                },
            ) => {
                let missing: Vec<&str> = w_symbols
                    .iter()
                    .filter(|s| !r_symbols.contains(s))
                    .map(String::as_str)
                    .collect();
                let default_usable = default.as_ref().is_some_and(|d| r_symbols.contains(d));
                if !missing.is_empty() && !default_usable {
                    self.report(
                        "MISSING_ENUM_SYMBOLS",
                        &format!("{location}/symbols"),
                        path,
                        format!(
                            "The {reader_side} schema's enum '{}' at '{}' is missing the symbols [{}] of the {writer_side} schema and has no default",
                            r.full_name,
                            display_path(path),
                            missing.join(", ")
                        ),
                    );
                }
            }
            (
                NamedKind::Fixed {
                    size: r_size,
                    decimal: r_decimal,
                },
                NamedKind::Fixed {
                    size: w_size,
                    decimal: w_decimal,
                },
            ) => {
                if r_size != w_size {
                    self.report(
                        "FIXED_SIZE_MISMATCH",
                        &format!("{location}/size"),
                        path,
                        format!(
                            "The fixed '{}' at '{}' has size {w_size} in the {writer_side} schema and {r_size} in the {reader_side} schema",
                            r.full_name,
                            display_path(path)
                        ),
                    );
                }
                self.decimal(*r_decimal, *w_decimal, location, path);
            }
            _ => {}
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "(top level)"
    } else {
        path
    }
}
