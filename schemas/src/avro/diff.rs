//! Which fields differ between two versions of a schema, so that a registry's refusal
//! can name the columns behind it. Confluent's message says where Avro's resolution
//! failed, which for a Debezium envelope is often the `before`/`after` union, not
//! the column (`MISSING_UNION_BRANCH` at `before`); comparing the subject's latest
//! schema with the refused one finds the column: `fx.public.orders.Value.qty: added
//! without a default`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::decode::collect_names;
use super::props::Json;
use super::schema::{AvroKind, AvroSchema};

/// One field that differs between an old and a new version of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The record's full name (`fx.public.orders.Value`).
    pub record: String,
    /// The field (a column, for a Debezium row record).
    pub field: String,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the new schema; without a default, new readers cannot read old records.
    Added { has_default: bool },
    /// Only in the old schema; without a default, old readers cannot read new records.
    Removed { had_default: bool },
    /// Another type (in the shape shown, properties left out).
    TypeChanged { from: String, to: String },
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: ", self.record, self.field)?;
        match &self.change {
            Change::Added { has_default: true } => f.write_str("added, with a default"),
            Change::Added { has_default: false } => f.write_str("added without a default"),
            Change::Removed { had_default: true } => f.write_str("removed (it had a default)"),
            Change::Removed { had_default: false } => f.write_str("removed, and it had no default"),
            Change::TypeChanged { from, to } => write!(f, "type changed from {from} to {to}"),
        }
    }
}

/// The field changes from `old` to `new`, each record compared once (a Debezium
/// row record appears in both `before` and `after`).
pub fn field_changes(old: &AvroSchema, new: &AvroSchema) -> Vec<FieldChange> {
    let mut old_names = HashMap::new();
    collect_names(old, &mut old_names);
    let mut new_names = HashMap::new();
    collect_names(new, &mut new_names);
    let mut differ = Differ {
        old_names,
        new_names,
        seen: HashSet::new(),
        changes: Vec::new(),
    };
    differ.walk(old, new, 0);
    differ.changes
}

struct Differ<'a> {
    old_names: HashMap<String, &'a AvroSchema>,
    new_names: HashMap<String, &'a AvroSchema>,
    seen: HashSet<String>,
    changes: Vec<FieldChange>,
}

fn resolve<'a>(schema: &'a AvroSchema, names: &HashMap<String, &'a AvroSchema>) -> &'a AvroSchema {
    match &schema.kind {
        AvroKind::Ref(name) => names.get(&name.full_name()).copied().unwrap_or(schema),
        _ => schema,
    }
}

impl<'a> Differ<'a> {
    fn walk(&mut self, old: &'a AvroSchema, new: &'a AvroSchema, depth: usize) {
        if depth > 64 {
            return;
        }
        let old = resolve(old, &self.old_names);
        let new = resolve(new, &self.new_names);
        match (&old.kind, &new.kind) {
            (
                AvroKind::Record {
                    name: old_name,
                    fields: old_fields,
                    ..
                },
                AvroKind::Record {
                    name: new_name,
                    fields: new_fields,
                    ..
                },
            ) if old_name == new_name => {
                let record = new_name.full_name();
                if !self.seen.insert(record.clone()) {
                    return;
                }
                for field in new_fields {
                    let change = match old_fields.iter().find(|f| f.name == field.name) {
                        None => Change::Added {
                            has_default: field.default.is_some(),
                        },
                        Some(before) => {
                            let (from, to) = (shape(&before.schema), shape(&field.schema));
                            if from == to {
                                self.walk(&before.schema, &field.schema, depth + 1);
                                continue;
                            }
                            Change::TypeChanged { from, to }
                        }
                    };
                    self.changes.push(FieldChange {
                        record: record.clone(),
                        field: field.name.clone(),
                        change,
                    });
                }
                for field in old_fields {
                    if !new_fields.iter().any(|f| f.name == field.name) {
                        self.changes.push(FieldChange {
                            record: record.clone(),
                            field: field.name.clone(),
                            change: Change::Removed {
                                had_default: field.default.is_some(),
                            },
                        });
                    }
                }
            }
            (AvroKind::Union(old_branches), AvroKind::Union(new_branches)) => {
                for new_branch in new_branches {
                    if let Some(old_branch) = old_branches
                        .iter()
                        .find(|b| b.branch_name() == new_branch.branch_name())
                    {
                        self.walk(old_branch, new_branch, depth + 1);
                    }
                }
            }
            (AvroKind::Array(old_items), AvroKind::Array(new_items))
            | (AvroKind::Map(old_items), AvroKind::Map(new_items)) => {
                self.walk(old_items, new_items, depth + 1)
            }
            _ => {}
        }
    }
}

/// A schema's type without its properties, except the logical type: `["null","string"]`,
/// `bytes(decimal 10,2)`, `array<long>`, a record by its full name.
fn shape(schema: &AvroSchema) -> String {
    let logical = match schema.prop("logicalType").and_then(Json::as_str) {
        Some("decimal") => {
            let number = |key| match schema.prop(key) {
                Some(Json::Int(n)) => n.to_string(),
                _ => "?".to_owned(),
            };
            format!("(decimal {},{})", number("precision"), number("scale"))
        }
        Some(other) => format!("({other})"),
        None => String::new(),
    };
    match &schema.kind {
        AvroKind::Array(items) => format!("array<{}>", shape(items)),
        AvroKind::Map(values) => format!("map<{}>", shape(values)),
        AvroKind::Union(branches) => format!(
            "[{}]",
            branches.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        AvroKind::Fixed { name, size, .. } => {
            format!("fixed {} ({size}){logical}", name.full_name())
        }
        _ => match schema.name() {
            Some(name) => name.full_name(),
            None => format!("{}{logical}", schema.type_name()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::from_connect::AvroData;
    use crate::connect::{Field, Schema};
    use crate::debezium::logical;

    fn envelope(columns: Vec<Field>) -> AvroSchema {
        let value = Schema::structure(columns)
            .named("fx.public.t.Value")
            .optional();
        let schema = Schema::structure(vec![
            Field::new("before", value.clone()),
            Field::new("after", value),
            Field::new("op", Schema::string()),
        ])
        .named("fx.public.t.Envelope");
        AvroData::default()
            .from_connect_schema(&schema)
            .expect("converts")
    }

    #[test]
    fn names_the_columns_once() {
        let old = envelope(vec![
            Field::new("id", Schema::int32()),
            Field::new("gone", Schema::string().optional()),
            Field::new(
                "amount",
                logical::decimal(2).with_parameter("connect.decimal.precision", "10"),
            ),
            Field::new("note", Schema::string().optional()),
        ]);
        let new = envelope(vec![
            Field::new("id", Schema::int64()),
            Field::new(
                "amount",
                logical::decimal(3).with_parameter("connect.decimal.precision", "10"),
            ),
            Field::new(
                "note",
                Schema::string()
                    .optional()
                    .with_doc("changed properties only"),
            ),
            Field::new("qty", Schema::int64()),
            Field::new("extra", Schema::int64().optional()),
        ]);
        let changes: Vec<String> = field_changes(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "fx.public.t.Value.id: type changed from int to long",
                "fx.public.t.Value.amount: type changed from bytes(decimal 10,2) to bytes(decimal 10,3)",
                "fx.public.t.Value.qty: added without a default",
                "fx.public.t.Value.extra: added, with a default",
                "fx.public.t.Value.gone: removed (it had a default)",
            ]
        );
        assert!(field_changes(&old, &old).is_empty());
    }
}
