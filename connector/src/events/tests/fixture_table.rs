//! A fixture's table as the connector would know it: a type registry from the
//! fixture's `pg_type` rows, catalog facts from its column list, and the column text
//! parsed by `values`.

use std::collections::{BTreeMap, HashMap};

use pgcdc_schemas::debezium::TableId;
use pgcdc_schemas::fixtures::{Fixture, FixtureCell, FixtureColumn};

use crate::capture::Cell;
use crate::events::{describe_column, ColumnCatalog, RecordOptions, TableEvents};
use crate::values::{parse_text, Oid, ResolvedType, TypeEntry, TypeKind, TypeRegistry, Typmod};

pub struct FixtureTable {
    pub events: TableEvents,
    pub fixture_columns: Vec<FixtureColumn>,
    pub types: Vec<ResolvedType>,
}

impl FixtureTable {
    pub fn all(fixture: &Fixture) -> HashMap<String, FixtureTable> {
        let registry = registry(fixture);
        let modes = fixture.value_modes();
        fixture
            .tables
            .iter()
            .map(|table| {
                let types: Vec<ResolvedType> = table
                    .columns
                    .iter()
                    .map(|c| registry.resolve(Oid(c.type_oid), Typmod(c.typmod)))
                    .collect();
                let columns = table
                    .columns
                    .iter()
                    .zip(&types)
                    .map(|(c, &resolved)| {
                        let catalog = ColumnCatalog {
                            type_name: c.udt_name.clone(),
                            not_null: c.not_null,
                            primary_key_position: c.pk_position,
                            default_expression: c.default.clone(),
                            enum_labels: enum_labels(fixture, c.type_oid),
                        };
                        describe_column(
                            &c.name,
                            resolved,
                            &catalog,
                            &modes,
                            fixture.propagates_source_type(),
                        )
                    })
                    .collect();
                let id = TableId::new(
                    fixture.topic_prefix.clone(),
                    table.schema.clone(),
                    table.name.clone(),
                );
                let events = TableEvents::new(id, columns, modes.clone(), RecordOptions::default());
                (
                    table.name.clone(),
                    FixtureTable {
                        events,
                        fixture_columns: table.columns.clone(),
                        types,
                    },
                )
            })
            .collect()
    }
}

/// The registry capture would build from `pg_type` (see `capture::catalog`).
fn registry(fixture: &Fixture) -> TypeRegistry {
    let mut registry = TypeRegistry::new();
    for t in &fixture.types {
        let byte = |s: &str| s.bytes().next().unwrap_or(b' ');
        let Some(kind) = TypeKind::from_catalog(
            byte(&t.typtype),
            byte(&t.typcategory),
            Oid(t.typelem),
            Oid(t.typbasetype),
        ) else {
            continue;
        };
        registry.register(TypeEntry {
            oid: Oid(t.oid),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            kind,
            typmod: Typmod(t.typtypmod),
        });
    }
    registry
}

/// An enum's labels, or its element's for an array of an enum.
fn enum_labels(fixture: &Fixture, oid: u32) -> Vec<String> {
    let Some(t) = fixture.user_type(oid) else {
        return Vec::new();
    };
    if let Some(labels) = &t.enum_labels {
        return labels.clone();
    }
    if t.typelem != 0 {
        return enum_labels(fixture, t.typelem);
    }
    Vec::new()
}

/// The cells of a row image, in table order.
pub fn cells<'a>(
    types: &[ResolvedType],
    columns: &[FixtureColumn],
    image: &'a BTreeMap<String, Option<FixtureCell>>,
) -> Vec<Cell<'a>> {
    columns
        .iter()
        .zip(types)
        .map(|(column, resolved)| match image.get(&column.name) {
            None | Some(None) => Cell::Null,
            Some(Some(FixtureCell::UnchangedToast { .. })) => Cell::UnchangedToast,
            Some(Some(FixtureCell::Text(text))) => Cell::Value(
                parse_text(resolved.ty, resolved.typmod, text.as_bytes())
                    .unwrap_or_else(|e| panic!("column {}: {e}", column.name)),
            ),
        })
        .collect()
}
