//! The relation cache: what each table looked like when its rows were sent.
//!
//! pgoutput describes a table once with a Relation message and then refers to it by
//! oid in every Insert, Update, Delete and Truncate. PostgreSQL sends the Relation
//! before the first row of each table in a session (each START_REPLICATION), and sends
//! it again whenever the definition may have changed: after ALTER TABLE, after a
//! publication change, and within each streamed transaction that touches the table. So
//! the latest Relation for an oid always describes the rows that follow it, and a row
//! whose relation was never described means a lost message or a bug, not a cache miss
//! to paper over.
//!
//! Entries are handed out as `Arc<Relation>`: code that holds rows for a while (the
//! chunks of a streamed transaction wait for Stream Commit) keeps the definition they
//! were decoded with, even if a later Relation message replaces it in the cache.
//!
//! Type messages name the user-defined types (enums, domains, extension types) that
//! Relation columns use; they are kept by type oid beside the relations.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::pgoutput::{Oid, Relation, RelationColumn, TupleData, Type};

/// A row or lookup that does not match the Relation messages received so far.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error(
        "no Relation message was received for relation oid {oid}: PostgreSQL sends one \
         before the first row of every table in a session, so a message was lost or the \
         stream is corrupt; restart replication from the last confirmed LSN"
    )]
    UnknownRelation { oid: Oid },

    #[error("relation {table} (oid {oid}) has {columns} columns, so there is no column {index}")]
    NoSuchColumn {
        oid: Oid,
        table: String,
        index: usize,
        columns: usize,
    },

    #[error(
        "a row of relation {table} (oid {oid}) has {found} columns, but its Relation \
         message declared {expected}"
    )]
    ColumnCountMismatch {
        oid: Oid,
        table: String,
        expected: usize,
        found: usize,
    },
}

impl RelationError {
    /// Always `false`: the rows already received cannot be interpreted. Restarting the
    /// session from the last confirmed LSN (which resends every Relation) is the
    /// supervisor's decision, not a retry of this call.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// The schema and name a Type message gave a type oid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// As sent: empty for `pg_catalog`.
    pub namespace: String,
    pub name: String,
}

/// Latest Relation per relation oid, and the names of user-defined types.
#[derive(Clone, Debug, Default)]
pub struct RelationCache {
    relations: HashMap<Oid, Arc<Relation>, OidHashBuilder>,
    types: HashMap<Oid, TypeName, OidHashBuilder>,
}

impl RelationCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a Relation message, replacing the previous definition of the same oid.
    /// Returns the new entry and the one it replaced (compare them to notice a schema
    /// change, e.g. to register a new schema version).
    pub fn insert(&mut self, relation: Relation) -> (Arc<Relation>, Option<Arc<Relation>>) {
        let relation = Arc::new(relation);
        let previous = self.relations.insert(relation.oid, Arc::clone(&relation));
        (relation, previous)
    }

    /// Stores the name a Type message gives a type oid.
    pub fn insert_type(&mut self, type_message: Type) {
        self.types.insert(
            type_message.oid,
            TypeName {
                namespace: type_message.namespace,
                name: type_message.name,
            },
        );
    }

    /// The latest definition of a relation, or an error naming the unknown oid.
    #[inline]
    pub fn get(&self, oid: Oid) -> Result<&Arc<Relation>, RelationError> {
        self.relations
            .get(&oid)
            .ok_or(RelationError::UnknownRelation { oid })
    }

    /// The name of a user-defined type, if a Type message described it. Built-in
    /// types (those in `pg_catalog`) are never described: they are known by oid.
    pub fn type_name(&self, type_oid: Oid) -> Option<&TypeName> {
        self.types.get(&type_oid)
    }

    /// Forgets a relation (for example one removed from the publication).
    pub fn remove(&mut self, oid: Oid) -> Option<Arc<Relation>> {
        self.relations.remove(&oid)
    }

    /// Forgets everything, as a new replication session must.
    pub fn clear(&mut self) {
        self.relations.clear();
        self.types.clear();
    }

    pub fn len(&self) -> usize {
        self.relations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Relation>> {
        self.relations.values()
    }
}

/// What an event builder asks of a relation.
impl Relation {
    /// `schema.table`, as Debezium names tables in topics and `source.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema_name(), self.name)
    }

    /// The replica identity columns with their indexes in a row, in column order:
    /// the fields of Debezium's message key.
    pub fn key_columns(&self) -> impl Iterator<Item = (usize, &RelationColumn)> + '_ {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, column)| column.is_key())
    }

    /// The column at `index` of a row.
    #[inline]
    pub fn column(&self, index: usize) -> Result<&RelationColumn, RelationError> {
        self.columns
            .get(index)
            .ok_or_else(|| RelationError::NoSuchColumn {
                oid: self.oid,
                table: self.qualified_name(),
                index,
                columns: self.columns.len(),
            })
    }

    /// Checks that a row has one value per column of this definition, so values can
    /// be paired with columns by index.
    #[inline]
    pub fn check_tuple(&self, tuple: &TupleData) -> Result<(), RelationError> {
        if tuple.len() == self.columns.len() {
            Ok(())
        } else {
            Err(RelationError::ColumnCountMismatch {
                oid: self.oid,
                table: self.qualified_name(),
                expected: self.columns.len(),
                found: tuple.len(),
            })
        }
    }
}

/// Oids are small integers chosen by the server we replicate from, not by an attacker
/// who could flood a hash table; one multiply spreads them well enough and costs far
/// less than SipHash on the per-row lookup.
type OidHashBuilder = BuildHasherDefault<OidHasher>;

#[derive(Clone, Copy, Debug, Default)]
struct OidHasher(u64);

impl Hasher for OidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0 ^ u64::from(value)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgoutput::{ColumnValue, ReplicaIdentity, Xid};

    fn column(name: &str, type_oid: u32, key: bool) -> RelationColumn {
        RelationColumn {
            flags: u8::from(key),
            name: name.to_owned(),
            type_oid: Oid(type_oid),
            type_modifier: -1,
        }
    }

    fn customers(columns: Vec<RelationColumn>) -> Relation {
        Relation {
            xid: None,
            oid: Oid(16_385),
            namespace: "inventory".to_owned(),
            name: "customers".to_owned(),
            replica_identity: ReplicaIdentity::Default,
            columns,
        }
    }

    fn row(values: usize) -> TupleData {
        TupleData::from_values(vec![ColumnValue::Text(b"1"); values])
    }

    #[test]
    fn unknown_oid_is_an_error_naming_it() {
        let cache = RelationCache::new();
        let err = cache.get(Oid(16_385)).unwrap_err();
        assert_eq!(err, RelationError::UnknownRelation { oid: Oid(16_385) });
        assert!(err.to_string().contains("16385"), "{err}");
        assert!(!err.is_retriable());
    }

    #[test]
    fn a_later_relation_message_replaces_the_definition() {
        let mut cache = RelationCache::new();
        let (first, previous) = cache.insert(customers(vec![
            column("id", 20, true),
            column("name", 25, false),
        ]));
        assert!(previous.is_none());
        assert_eq!(cache.len(), 1);

        // ALTER TABLE customers ADD COLUMN email text
        let (second, previous) = cache.insert(customers(vec![
            column("id", 20, true),
            column("name", 25, false),
            column("email", 25, false),
        ]));
        assert_eq!(previous.as_ref(), Some(&first));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(Oid(16_385)).unwrap().columns.len(), 3);
        assert!(Arc::ptr_eq(cache.get(Oid(16_385)).unwrap(), &second));
        // Rows decoded before the ALTER keep their definition.
        assert_eq!(first.columns.len(), 2);
    }

    #[test]
    fn key_columns_follow_the_key_flag() {
        let relation = customers(vec![
            column("tenant", 23, true),
            column("name", 25, false),
            column("id", 20, true),
        ]);
        let keys: Vec<_> = relation
            .key_columns()
            .map(|(index, column)| (index, column.name.as_str()))
            .collect();
        assert_eq!(keys, [(0, "tenant"), (2, "id")]);
    }

    #[test]
    fn column_by_index() {
        let relation = customers(vec![column("id", 20, true), column("name", 25, false)]);
        assert_eq!(relation.column(1).unwrap().name, "name");
        let err = relation.column(2).unwrap_err();
        assert_eq!(
            err,
            RelationError::NoSuchColumn {
                oid: Oid(16_385),
                table: "inventory.customers".to_owned(),
                index: 2,
                columns: 2,
            }
        );
    }

    #[test]
    fn tuple_column_count_must_match() {
        let relation = customers(vec![column("id", 20, true), column("name", 25, false)]);
        assert_eq!(relation.check_tuple(&row(2)), Ok(()));
        let err = relation.check_tuple(&row(3)).unwrap_err();
        assert_eq!(
            err,
            RelationError::ColumnCountMismatch {
                oid: Oid(16_385),
                table: "inventory.customers".to_owned(),
                expected: 2,
                found: 3,
            }
        );
        assert!(err.to_string().contains("inventory.customers"), "{err}");
        assert!(relation.check_tuple(&row(1)).is_err());
    }

    #[test]
    fn pg_catalog_is_spelled_out() {
        let mut relation = customers(vec![]);
        relation.namespace.clear();
        assert_eq!(relation.qualified_name(), "pg_catalog.customers");
    }

    #[test]
    fn type_names_by_oid() {
        let mut cache = RelationCache::new();
        cache.insert_type(Type {
            xid: Some(Xid(900)),
            oid: Oid(16_400),
            namespace: "inventory".to_owned(),
            name: "mood".to_owned(),
        });
        assert_eq!(
            cache.type_name(Oid(16_400)),
            Some(&TypeName {
                namespace: "inventory".to_owned(),
                name: "mood".to_owned()
            })
        );
        assert_eq!(cache.type_name(Oid(25)), None);
        cache.clear();
        assert_eq!(cache.type_name(Oid(16_400)), None);
    }

    #[test]
    fn remove_and_clear() {
        let mut cache = RelationCache::new();
        cache.insert(customers(vec![]));
        assert!(cache.remove(Oid(16_385)).is_some());
        assert!(cache.is_empty());
        cache.insert(customers(vec![]));
        assert_eq!(cache.iter().count(), 1);
        cache.clear();
        assert!(cache.get(Oid(16_385)).is_err());
    }

    #[test]
    fn oid_hasher_tells_neighbours_apart() {
        let hash = |oid: u32| {
            let mut hasher = OidHasher::default();
            hasher.write_u32(oid);
            hasher.finish()
        };
        assert_ne!(hash(16_384), hash(16_385));
        assert_ne!(hash(0), hash(1));
    }
}
