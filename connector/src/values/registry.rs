//! Types that are not built in: what pgoutput's Type messages and a catalog query say
//! about user and extension types, and how a column of such a type is parsed.
//!
//! pgoutput announces a non-built-in column type with a Type message (OID, schema,
//! name) before the first Relation message that uses it; its kind, base type and
//! element type come from `pg_type`:
//!
//! ```sql
//! SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory,
//!        t.typelem, t.typbasetype, t.typtypmod
//! FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
//! WHERE t.oid = ANY($1)
//! ```
//!
//! and [`TypeKind::from_catalog`] turns a row into a kind. Domains and arrays refer to
//! other types by OID, so register those too (the query can be repeated for them).

use std::collections::HashMap;

use super::error::ValueError;
use super::types::{Oid, PgType, ScalarType};
use super::typmod::Typmod;
use super::value::PgValue;

/// A domain over a domain over ... is resolved this many levels deep at most; past
/// that (or on a cycle, which a corrupt registry could contain) the column is text.
const MAX_RESOLVE_DEPTH: usize = 16;

/// What kind of type an OID names (`pg_type.typtype`, refined by `typcategory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// A base type, e.g. from an extension: `hstore`, `ltree`, `citext`, PostGIS
    /// `geometry`, recognised by name; anything else is kept as text.
    Base,
    Enum,
    /// `CREATE DOMAIN ... AS base`: parsed as the base type.
    Domain {
        base_oid: Oid,
    },
    /// An array type (`_name`), whose elements have type `elem_oid`.
    Array {
        elem_oid: Oid,
    },
    /// A row type: kept as its text, `(1,"x y")`.
    Composite,
    /// A user range or multirange: kept as its text, `[1,5)`.
    Range,
}

impl TypeKind {
    /// From a `pg_type` row: `typtype` `b`/`e`/`d`/`c`/`r`/`m`/`p`, `typcategory`
    /// (`A` for arrays), `typelem` and `typbasetype`. `None` for pseudo-types and
    /// unknown letters.
    pub fn from_catalog(
        typtype: u8,
        typcategory: u8,
        typelem: Oid,
        typbasetype: Oid,
    ) -> Option<Self> {
        match typtype {
            b'b' if typcategory == b'A' && typelem.0 != 0 => {
                Some(TypeKind::Array { elem_oid: typelem })
            }
            b'b' => Some(TypeKind::Base),
            b'e' => Some(TypeKind::Enum),
            b'd' => Some(TypeKind::Domain {
                base_oid: typbasetype,
            }),
            b'c' => Some(TypeKind::Composite),
            b'r' | b'm' => Some(TypeKind::Range),
            _ => None,
        }
    }
}

/// One registered type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeEntry {
    pub oid: Oid,
    pub namespace: String,
    pub name: String,
    pub kind: TypeKind,
    /// For a domain, the base type's modifier (`pg_type.typtypmod`, e.g. the `(10,2)`
    /// of `CREATE DOMAIN amount AS numeric(10,2)`): columns of a domain type report
    /// typmod -1 themselves. `Typmod::NONE` otherwise.
    pub typmod: Typmod,
}

/// How to parse a column: the classification and the typmod that applies to its
/// values (the column's own, or the domain's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResolvedType {
    pub ty: PgType,
    pub typmod: Typmod,
}

/// Types announced by the stream or read from the catalog, keyed by OID. Built-in
/// types need no entry. Resolve each column once per Relation message and keep the
/// [`ResolvedType`]; parsing rows then needs no lookups.
#[derive(Clone, Debug, Default)]
pub struct TypeRegistry {
    types: HashMap<Oid, TypeEntry>,
}

impl TypeRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces (types can be altered or dropped and recreated) an entry;
    /// returns the one it replaced.
    pub fn register(&mut self, entry: TypeEntry) -> Option<TypeEntry> {
        self.types.insert(entry.oid, entry)
    }

    pub fn get(&self, oid: Oid) -> Option<&TypeEntry> {
        self.types.get(&oid)
    }

    pub fn remove(&mut self, oid: Oid) -> Option<TypeEntry> {
        self.types.remove(&oid)
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Classifies a column of type `oid` with modifier `typmod`. Never fails: an OID
    /// that is neither built in nor registered resolves to `Unknown` (kept as text).
    pub fn resolve(&self, oid: Oid, typmod: Typmod) -> ResolvedType {
        self.resolve_at(oid, typmod, 0)
    }

    fn resolve_at(&self, oid: Oid, typmod: Typmod, depth: usize) -> ResolvedType {
        let unknown = ResolvedType {
            ty: PgType::Scalar(ScalarType::Unknown),
            typmod,
        };
        if let Some(ty) = PgType::from_builtin_oid(oid) {
            return ResolvedType { ty, typmod };
        }
        let Some(entry) = self.types.get(&oid) else {
            return unknown;
        };
        if depth >= MAX_RESOLVE_DEPTH {
            return unknown;
        }
        let scalar = |s| ResolvedType {
            ty: PgType::Scalar(s),
            typmod,
        };
        match entry.kind {
            TypeKind::Base => scalar(
                ScalarType::from_extension_type_name(&entry.name).unwrap_or(ScalarType::Unknown),
            ),
            TypeKind::Enum => scalar(ScalarType::Enum),
            TypeKind::Composite | TypeKind::Range => unknown,
            TypeKind::Domain { base_oid } => {
                let typmod = if typmod.is_none() {
                    entry.typmod
                } else {
                    typmod
                };
                self.resolve_at(base_oid, typmod, depth + 1)
            }
            TypeKind::Array { elem_oid } => {
                let element = self.resolve_at(elem_oid, typmod, depth + 1);
                // An array of a domain over an array: the elements are whole array
                // literals, kept as text.
                let element_type = match element.ty {
                    PgType::Scalar(s) => s,
                    PgType::Array(_) => ScalarType::Unknown,
                };
                ResolvedType {
                    ty: PgType::Array(element_type),
                    typmod: element.typmod,
                }
            }
        }
    }

    /// [`resolve`](Self::resolve) then [`parse_text`](super::parse_text), for callers
    /// that have not cached the resolution.
    pub fn parse_text<'a>(
        &self,
        oid: Oid,
        typmod: Typmod,
        text: &'a [u8],
    ) -> Result<PgValue<'a>, ValueError> {
        let resolved = self.resolve(oid, typmod);
        super::parse_text(resolved.ty, resolved.typmod, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(oid: u32, name: &str, kind: TypeKind) -> TypeEntry {
        TypeEntry {
            oid: Oid(oid),
            namespace: "public".to_owned(),
            name: name.to_owned(),
            kind,
            typmod: Typmod::NONE,
        }
    }

    /// OIDs and kinds as `pg_type` showed them on PostgreSQL 15 after creating the
    /// extensions and types used in the value tests.
    fn registry() -> TypeRegistry {
        let mut r = TypeRegistry::new();
        r.register(entry(16390, "hstore", TypeKind::Base));
        r.register(entry(
            16395,
            "_hstore",
            TypeKind::Array {
                elem_oid: Oid(16390),
            },
        ));
        r.register(entry(16518, "ltree", TypeKind::Base));
        r.register(entry(16703, "citext", TypeKind::Base));
        r.register(entry(16808, "mood", TypeKind::Enum));
        r.register(entry(
            16807,
            "_mood",
            TypeKind::Array {
                elem_oid: Oid(16808),
            },
        ));
        r.register(entry(
            16820,
            "posint",
            TypeKind::Domain { base_oid: Oid(23) },
        ));
        r.register(entry(
            16819,
            "_posint",
            TypeKind::Array {
                elem_oid: Oid(16820),
            },
        ));
        r.register(TypeEntry {
            typmod: Typmod(655366),
            ..entry(
                16823,
                "money2",
                TypeKind::Domain {
                    base_oid: Oid(1700),
                },
            )
        });
        r.register(entry(
            16822,
            "_money2",
            TypeKind::Array {
                elem_oid: Oid(16823),
            },
        ));
        r.register(entry(
            16825,
            "intarr",
            TypeKind::Domain {
                base_oid: Oid(1007),
            },
        ));
        r.register(entry(
            16824,
            "_intarr",
            TypeKind::Array {
                elem_oid: Oid(16825),
            },
        ));
        r.register(entry(16828, "comp", TypeKind::Composite));
        r.register(entry(
            16827,
            "_comp",
            TypeKind::Array {
                elem_oid: Oid(16828),
            },
        ));
        r.register(entry(16840, "geometry", TypeKind::Base));
        r.register(entry(20000, "mystery", TypeKind::Base));
        r
    }

    fn resolve(r: &TypeRegistry, oid: u32) -> (PgType, Typmod) {
        let resolved = r.resolve(Oid(oid), Typmod::NONE);
        (resolved.ty, resolved.typmod)
    }

    #[test]
    fn resolves_user_types() {
        use PgType::{Array, Scalar};
        let r = registry();
        let none = Typmod::NONE;
        assert_eq!(resolve(&r, 16390), (Scalar(ScalarType::Hstore), none));
        assert_eq!(resolve(&r, 16395), (Array(ScalarType::Hstore), none));
        assert_eq!(resolve(&r, 16518), (Scalar(ScalarType::Ltree), none));
        assert_eq!(resolve(&r, 16703), (Scalar(ScalarType::Citext), none));
        assert_eq!(resolve(&r, 16808), (Scalar(ScalarType::Enum), none));
        assert_eq!(resolve(&r, 16807), (Array(ScalarType::Enum), none));
        assert_eq!(resolve(&r, 16820), (Scalar(ScalarType::Int4), none));
        assert_eq!(resolve(&r, 16819), (Array(ScalarType::Int4), none));
        assert_eq!(
            resolve(&r, 16823),
            (Scalar(ScalarType::Numeric), Typmod(655366))
        );
        assert_eq!(
            resolve(&r, 16822),
            (Array(ScalarType::Numeric), Typmod(655366))
        );
        assert_eq!(resolve(&r, 16825), (Array(ScalarType::Int4), none));
        assert_eq!(resolve(&r, 16824), (Array(ScalarType::Unknown), none));
        assert_eq!(resolve(&r, 16828), (Scalar(ScalarType::Unknown), none));
        assert_eq!(resolve(&r, 16827), (Array(ScalarType::Unknown), none));
        assert_eq!(resolve(&r, 16840), (Scalar(ScalarType::Geometry), none));
        assert_eq!(resolve(&r, 20000), (Scalar(ScalarType::Unknown), none));
        assert_eq!(resolve(&r, 99999), (Scalar(ScalarType::Unknown), none));
        assert_eq!(resolve(&r, 1184), (Scalar(ScalarType::Timestamptz), none));
        // A column's own typmod wins over the domain's.
        assert_eq!(r.resolve(Oid(16823), Typmod(786438)).typmod, Typmod(786438));
    }

    #[test]
    fn cycles_end_as_text() {
        let mut r = TypeRegistry::new();
        r.register(entry(
            30000,
            "a",
            TypeKind::Domain {
                base_oid: Oid(30001),
            },
        ));
        r.register(entry(
            30001,
            "b",
            TypeKind::Domain {
                base_oid: Oid(30000),
            },
        ));
        r.register(entry(
            30002,
            "_a",
            TypeKind::Array {
                elem_oid: Oid(30002),
            },
        ));
        assert_eq!(resolve(&r, 30000).0, PgType::Scalar(ScalarType::Unknown));
        assert_eq!(resolve(&r, 30002).0, PgType::Array(ScalarType::Unknown));
    }

    #[test]
    fn parses_through_the_registry() {
        let r = registry();
        // PostgreSQL 15 output for these types.
        let v = r.parse_text(
            Oid(16807),
            Typmod::NONE,
            br#"{"with space","with,comma",sad}"#,
        );
        let Ok(PgValue::Array(a)) = v else {
            panic!("{v:?}")
        };
        let labels: Vec<_> = a
            .elements
            .iter()
            .map(|e| e.as_ref().and_then(|v| v.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![Some("with space"), Some("with,comma"), Some("sad")]
        );
        assert_eq!(
            r.parse_text(Oid(16820), Typmod::NONE, b"42"),
            Ok(PgValue::Int4(42))
        );
        let v = r.parse_text(Oid(16828), Typmod::NONE, br#"(1,"x y")"#);
        assert_eq!(v.as_ref().map(|v| v.as_str()), Ok(Some(r#"(1,"x y")"#)));
        let v = r.parse_text(Oid(16823), Typmod::NONE, b"7.5");
        let Ok(PgValue::Numeric(super::super::Numeric::Finite(d))) = v else {
            panic!("{v:?}")
        };
        assert_eq!(d.scale(), 2);
    }

    #[test]
    fn kinds_from_catalog() {
        let none = Oid(0);
        assert_eq!(
            TypeKind::from_catalog(b'b', b'U', none, none),
            Some(TypeKind::Base)
        );
        assert_eq!(
            TypeKind::from_catalog(b'b', b'A', Oid(16390), none),
            Some(TypeKind::Array {
                elem_oid: Oid(16390)
            })
        );
        assert_eq!(
            TypeKind::from_catalog(b'e', b'E', none, none),
            Some(TypeKind::Enum)
        );
        assert_eq!(
            TypeKind::from_catalog(b'd', b'N', none, Oid(23)),
            Some(TypeKind::Domain { base_oid: Oid(23) })
        );
        assert_eq!(
            TypeKind::from_catalog(b'c', b'C', none, none),
            Some(TypeKind::Composite)
        );
        assert_eq!(
            TypeKind::from_catalog(b'r', b'R', none, none),
            Some(TypeKind::Range)
        );
        assert_eq!(
            TypeKind::from_catalog(b'm', b'R', none, none),
            Some(TypeKind::Range)
        );
        assert_eq!(TypeKind::from_catalog(b'p', b'P', none, none), None);
    }
}
