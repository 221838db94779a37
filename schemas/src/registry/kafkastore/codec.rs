//! [`Record`]s as keys and values of the `_schemas` topic, in the JSON shapes of
//! Confluent's Schema Registry (`SchemaRegistryKey` and its value classes), so that
//! compaction keeps exactly the latest record of each subject version, config and
//! mode:
//!
//! | record | key | value |
//! | --- | --- | --- |
//! | a subject version | `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}` | `{"subject","version","id","schemaType","references","schema","deleted"}` |
//! | a version deleted for good | the same key | none (a tombstone) |
//! | a compatibility level | `{"keytype":"CONFIG","subject":S or null,"magic":0}` | `{"compatibilityLevel":L}`, or a tombstone when removed |
//! | a mode | `{"keytype":"MODE","subject":S or null,"magic":0}` | `{"mode":M}`, or a tombstone |
//! | a read barrier | `{"keytype":"NOOP","magic":0}` | none |
//! | the highest id given out (pgcdc's) | `{"keytype":"ID_HIGH_WATER","magic":0}` | `{"id":N}` |
//!
//! Keys are written with a fixed field order, since compaction compares key bytes.
//! Key types Confluent writes that carry nothing this registry holds
//! (`DELETE_SUBJECT`, `CLEAR_SUBJECT`, `CONTEXT`, ...) decode to [`Decoded::Ignored`].

use serde::{Deserialize, Serialize};

use crate::registry::compatibility::Level;
use crate::registry::records::{Mode, Record, Reference, SchemaId};

/// What one topic record means to the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Record(Record),
    /// A read barrier ([`noop_key`]).
    Noop,
    /// A key type that changes nothing here.
    Ignored {
        keytype: String,
    },
}

#[derive(Serialize)]
struct SchemaKey<'a> {
    keytype: &'static str,
    subject: &'a str,
    version: u32,
    magic: u8,
}

#[derive(Serialize)]
struct SubjectKey<'a> {
    keytype: &'static str,
    subject: Option<&'a str>,
    magic: u8,
}

#[derive(Serialize)]
struct GlobalKey {
    keytype: &'static str,
    magic: u8,
}

#[derive(Deserialize)]
struct AnyKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    version: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct SchemaValue {
    subject: String,
    version: u32,
    id: SchemaId,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    schema: String,
    #[serde(default)]
    deleted: bool,
}

#[derive(Serialize, Deserialize)]
struct ConfigValue {
    #[serde(rename = "compatibilityLevel", default)]
    compatibility_level: Option<Level>,
}

#[derive(Serialize, Deserialize)]
struct ModeValue {
    #[serde(default)]
    mode: Option<Mode>,
}

#[derive(Serialize, Deserialize)]
struct IdHighWaterValue {
    id: SchemaId,
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no maps of
    // non-string keys, no custom serializers that error).
    serde_json::to_vec(value).unwrap_or_default()
}

/// The key of a read barrier: Confluent's `NOOP`.
pub fn noop_key() -> Vec<u8> {
    json(&GlobalKey {
        keytype: "NOOP",
        magic: 0,
    })
}

/// The topic key and value (`None`: a tombstone) of a record.
pub fn encode(record: &Record) -> (Vec<u8>, Option<Vec<u8>>) {
    match record {
        Record::Schema {
            subject,
            version,
            id,
            schema_type,
            schema,
            references,
            deleted,
        } => (
            schema_key(subject, *version),
            Some(json(&SchemaValue {
                subject: subject.clone(),
                version: *version,
                id: *id,
                schema_type: Some(schema_type.clone()),
                references: references.clone(),
                schema: schema.clone(),
                deleted: *deleted,
            })),
        ),
        Record::DeleteSchema { subject, version } => (schema_key(subject, *version), None),
        Record::Config {
            subject,
            compatibility_level,
        } => (
            subject_key("CONFIG", subject.as_deref()),
            compatibility_level.map(|level| {
                json(&ConfigValue {
                    compatibility_level: Some(level),
                })
            }),
        ),
        Record::Mode { subject, mode } => (
            subject_key("MODE", subject.as_deref()),
            mode.map(|mode| json(&ModeValue { mode: Some(mode) })),
        ),
        Record::IdHighWater { id } => (
            json(&GlobalKey {
                keytype: "ID_HIGH_WATER",
                magic: 0,
            }),
            Some(json(&IdHighWaterValue { id: *id })),
        ),
    }
}

fn schema_key(subject: &str, version: u32) -> Vec<u8> {
    json(&SchemaKey {
        keytype: "SCHEMA",
        subject,
        version,
        magic: 1,
    })
}

fn subject_key(keytype: &'static str, subject: Option<&str>) -> Vec<u8> {
    json(&SubjectKey {
        keytype,
        subject,
        magic: 0,
    })
}

/// Reads a topic record back. An error names what is wrong with it; the reader
/// logs and skips such a record (another program wrote to the topic).
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Decoded, String> {
    let key = key.ok_or("a record without a key")?;
    let key: AnyKey = serde_json::from_slice(key)
        .map_err(|e| format!("a key that is not a registry key: {e}"))?;
    let value_of = |what: &str| -> Result<&[u8], String> {
        value.ok_or_else(|| format!("a {what} record without a value"))
    };
    let parse_error =
        |e: serde_json::Error| format!("a {} value that does not parse: {e}", key.keytype);
    let decoded = match key.keytype.as_str() {
        "SCHEMA" => {
            let subject = key.subject.ok_or("a SCHEMA key without a subject")?;
            let version = key.version.ok_or("a SCHEMA key without a version")?;
            match value {
                None => Record::DeleteSchema { subject, version },
                Some(value) => {
                    let value: SchemaValue = serde_json::from_slice(value).map_err(parse_error)?;
                    if value.subject != subject || value.version != version {
                        return Err(format!(
                            "a SCHEMA value for {}/{} under the key of {subject}/{version}",
                            value.subject, value.version
                        ));
                    }
                    Record::Schema {
                        subject,
                        version,
                        id: value.id,
                        schema_type: value
                            .schema_type
                            .unwrap_or_else(|| "AVRO".to_owned())
                            .to_ascii_uppercase(),
                        schema: value.schema,
                        references: value.references,
                        deleted: value.deleted,
                    }
                }
            }
        }
        "CONFIG" => Record::Config {
            subject: key.subject,
            compatibility_level: match value {
                None => None,
                Some(value) => {
                    serde_json::from_slice::<ConfigValue>(value)
                        .map_err(parse_error)?
                        .compatibility_level
                }
            },
        },
        "MODE" => Record::Mode {
            subject: key.subject,
            mode: match value {
                None => None,
                Some(value) => {
                    serde_json::from_slice::<ModeValue>(value)
                        .map_err(parse_error)?
                        .mode
                }
            },
        },
        "ID_HIGH_WATER" => Record::IdHighWater {
            id: serde_json::from_slice::<IdHighWaterValue>(value_of("ID_HIGH_WATER")?)
                .map_err(parse_error)?
                .id,
        },
        "NOOP" => return Ok(Decoded::Noop),
        _ => {
            return Ok(Decoded::Ignored {
                keytype: key.keytype,
            })
        }
    };
    Ok(Decoded::Record(decoded))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;
    use crate::registry::state::{NewSchema, RegistryState, VersionSelector};

    fn round_trip(record: Record) {
        let (key, value) = encode(&record);
        assert_eq!(
            decode(Some(&key), value.as_deref()).unwrap(),
            Decoded::Record(record)
        );
    }

    #[test]
    fn every_record_round_trips() {
        round_trip(Record::Schema {
            subject: "shop.public.orders-value".into(),
            version: 3,
            id: SchemaId(7),
            schema_type: "AVRO".into(),
            schema: r#"{"type":"string"}"#.into(),
            references: vec![Reference {
                name: "x.A".into(),
                subject: "a".into(),
                version: 1,
            }],
            deleted: true,
        });
        round_trip(Record::DeleteSchema {
            subject: "s".into(),
            version: 1,
        });
        for subject in [None, Some("s".to_owned())] {
            round_trip(Record::Config {
                subject: subject.clone(),
                compatibility_level: Some(Level::FullTransitive),
            });
            round_trip(Record::Config {
                subject: subject.clone(),
                compatibility_level: None,
            });
            round_trip(Record::Mode {
                subject: subject.clone(),
                mode: Some(Mode::ReadonlyOverride),
            });
            round_trip(Record::Mode {
                subject,
                mode: None,
            });
        }
        round_trip(Record::IdHighWater { id: SchemaId(9) });
    }

    #[test]
    fn keys_have_confluents_shape_and_one_spelling() {
        let (key, _) = encode(&Record::DeleteSchema {
            subject: "s".into(),
            version: 2,
        });
        assert_eq!(
            String::from_utf8(key).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"s","version":2,"magic":1}"#
        );
        let (key, value) = encode(&Record::Config {
            subject: None,
            compatibility_level: Some(Level::Full),
        });
        assert_eq!(
            String::from_utf8(key).unwrap(),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        assert_eq!(
            String::from_utf8(value.unwrap()).unwrap(),
            r#"{"compatibilityLevel":"FULL"}"#
        );
        assert_eq!(
            String::from_utf8(noop_key()).unwrap(),
            r#"{"keytype":"NOOP","magic":0}"#
        );
    }

    #[test]
    fn records_confluent_writes_are_read() {
        // As Confluent's registry writes them (extra fields, no schemaType for AVRO).
        let key = br#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#;
        let value = br#"{"subject":"t-value","version":1,"id":21,"schema":"\"long\"","deleted":false,"metadata":null}"#;
        assert_eq!(
            decode(Some(key), Some(value)).unwrap(),
            Decoded::Record(Record::Schema {
                subject: "t-value".into(),
                version: 1,
                id: SchemaId(21),
                schema_type: "AVRO".into(),
                schema: "\"long\"".into(),
                references: vec![],
                deleted: false,
            })
        );
        let key = br#"{"keytype":"CONFIG","subject":"t-value","magic":0}"#;
        let value = br#"{"compatibilityLevel":"NONE","normalize":null,"alias":null}"#;
        assert!(matches!(
            decode(Some(key), Some(value)).unwrap(),
            Decoded::Record(Record::Config {
                compatibility_level: Some(Level::None),
                ..
            })
        ));
        let key = br#"{"keytype":"DELETE_SUBJECT","subject":"t-value","magic":0}"#;
        assert!(matches!(
            decode(Some(key), Some(br#"{"subject":"t-value","version":1}"#)).unwrap(),
            Decoded::Ignored { .. }
        ));
        assert_eq!(decode(Some(&noop_key()), None).unwrap(), Decoded::Noop);
    }

    #[test]
    fn foreign_records_are_errors_not_panics() {
        for (key, value) in [
            (None, None),
            (Some(&b"not json"[..]), None),
            (Some(&br#"{"magic":0}"#[..]), None),
            (Some(&br#"{"keytype":"SCHEMA","magic":1}"#[..]), None),
            (
                Some(&br#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#[..]),
                Some(&b"{"[..]),
            ),
            (
                Some(&br#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#[..]),
                Some(&br#"{"subject":"b","version":1,"id":1,"schema":"\"int\""}"#[..]),
            ),
            (
                Some(&br#"{"keytype":"CONFIG","subject":null,"magic":0}"#[..]),
                Some(&br#"{"compatibilityLevel":"SIDEWAYS"}"#[..]),
            ),
            (Some(&br#"{"keytype":"ID_HIGH_WATER","magic":0}"#[..]), None),
        ] {
            assert!(decode(key, value).is_err(), "{key:?} {value:?}");
        }
    }

    fn record(name: &str, fields: &str) -> String {
        format!(r#"{{"type":"record","name":"{name}","namespace":"x","fields":[{fields}]}}"#)
    }

    /// Everything a client can observe.
    fn observe(state: &RegistryState) -> String {
        let mut out = format!(
            "global={} mode={} max_id={:?}\n",
            state.global_compatibility(),
            state.global_mode().as_str(),
            state.max_id()
        );
        for subject in state.subjects(true) {
            out.push_str(&format!(
                "{subject} level={:?} mode={:?}:",
                state.subject_compatibility(subject),
                state.subject_mode(subject)
            ));
            for version in state.versions(subject, true).unwrap() {
                let v = state
                    .version(subject, VersionSelector::Number(version), true)
                    .unwrap();
                let live = state
                    .versions(subject, false)
                    .unwrap_or_default()
                    .contains(&version);
                out.push_str(&format!(
                    " v{version}=id{}/{}{}",
                    v.schema.id,
                    v.schema.schema,
                    if live { "" } else { "(deleted)" }
                ));
            }
            out.push('\n');
        }
        out
    }

    /// What the log cleaner leaves: the latest record of each key, in the order of
    /// their offsets, tombstones gone.
    fn compact(log: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (offset, (key, _)) in log.iter().enumerate() {
            last.insert(key, offset);
        }
        log.iter()
            .enumerate()
            .filter(|(offset, (key, value))| last[key.as_slice()] == *offset && value.is_some())
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn replay(log: &[(Vec<u8>, Option<Vec<u8>>)]) -> RegistryState {
        let mut state = RegistryState::new();
        for (key, value) in log {
            if let Decoded::Record(record) = decode(Some(key), value.as_deref()).unwrap() {
                state.apply(record).unwrap();
            }
        }
        assert_eq!(state.unresolved(), 0);
        state
    }

    /// The topic after compaction replays to what a client saw before it: soft
    /// deletes, permanent deletes, references whose records come back out of order,
    /// settings removed, and ids that stay above every id ever given out.
    #[test]
    fn a_compacted_topic_replays_to_the_same_state() {
        let mut state = RegistryState::new();
        let mut log: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut commit = |state: &mut RegistryState, records: Vec<Record>| {
            for record in records {
                log.push(encode(&record));
                state.apply(record).unwrap();
            }
        };
        let new = |schema: String, references: Vec<Reference>| NewSchema {
            schema,
            references,
            ..NewSchema::default()
        };
        let address = record("Address", r#"{"name":"city","type":"string"}"#);
        let person = record("Person", r#"{"name":"home","type":"Address"}"#);
        let reference = vec![Reference {
            name: "x.Address".into(),
            subject: "address".into(),
            version: 1,
        }];
        let (_, r) = state.register("address", &new(address, vec![])).unwrap();
        commit(&mut state, r);
        let (_, r) = state.register("person", &new(person, reference)).unwrap();
        commit(&mut state, r);
        let r = state.set_compatibility(Some("person"), Level::Full);
        commit(&mut state, r);
        let r = state.set_compatibility(Some("gone"), Level::None);
        commit(&mut state, r);
        for schema in [r#""long""#, r#""string""#] {
            let (_, r) = state.register("gone", &new(schema.into(), vec![])).unwrap();
            commit(&mut state, r);
        }
        // The referencing version is soft-deleted first, then the one it references:
        // after compaction the person record comes before the address record.
        let (_, r) = state.delete_subject("person", false).unwrap();
        commit(&mut state, r);
        let (_, r) = state.delete_subject("address", false).unwrap();
        commit(&mut state, r);
        // The highest id is deleted for good.
        let (_, r) = state.delete_subject("gone", false).unwrap();
        commit(&mut state, r);
        let (_, r) = state.delete_subject("gone", true).unwrap();
        commit(&mut state, r);
        let (_, r) = state.delete_compatibility(Some("person")).unwrap();
        commit(&mut state, r);
        let r = state.set_mode(None, Mode::Readonly, false).unwrap();
        commit(&mut state, r);

        let before = observe(&state);
        assert_eq!(observe(&replay(&log)), before);
        let compacted = compact(&log);
        assert!(compacted.len() < log.len());
        let replayed = replay(&compacted);
        assert_eq!(observe(&replayed), before);
        assert_eq!(replayed.max_id(), Some(SchemaId(4)));
    }
}
