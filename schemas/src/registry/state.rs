//! The registry's state: subjects, their versions, the global schema ids, and the
//! compatibility and mode settings. Pure and synchronous. Every query answers from
//! the state; every change is planned by a method that returns the [`Record`]s to
//! log, and only [`RegistryState::apply`] mutates, so replaying a log rebuilds the
//! same state, ids included.

use std::collections::{BTreeMap, HashMap};

use super::avro::{self, Parsed};
use super::compatibility::{self, Level, Previous};
use super::error::RegistryError;
use super::records::{Mode, Record, Reference, SchemaId};

/// Confluent's defaults.
pub const DEFAULT_COMPATIBILITY: Level = Level::Backward;
pub const DEFAULT_MODE: Mode = Mode::Readwrite;

/// A schema as stored under its global id.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub id: SchemaId,
    pub schema_type: String,
    pub schema: String,
    pub references: Vec<Reference>,
    parsed: Parsed,
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    pub version: u32,
    pub id: SchemaId,
    pub deleted: bool,
}

/// What a client asks to register.
#[derive(Debug, Clone, Default)]
pub struct NewSchema {
    pub schema: String,
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
    /// Only in IMPORT mode: the id and version to register under.
    pub id: Option<u32>,
    pub version: Option<u32>,
}

/// A version reference as given in a URL: a number or `latest` (`-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(u32),
}

impl VersionSelector {
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(Self::Latest);
        }
        match s.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => {
                Ok(Self::Number(u32::try_from(n).unwrap_or(u32::MAX)))
            }
            _ => Err(RegistryError::InvalidVersion {
                version: s.to_owned(),
            }),
        }
    }
}

/// A subject version with its schema, as the API returns it.
#[derive(Debug, Clone)]
pub struct SubjectVersion<'a> {
    pub subject: &'a str,
    pub version: u32,
    pub schema: &'a StoredSchema,
}

/// Schema text plus references: what makes two registrations the same schema.
type SchemaKey = (String, String, Vec<Reference>);

#[derive(Debug, Default)]
pub struct RegistryState {
    schemas: BTreeMap<SchemaId, StoredSchema>,
    ids_by_key: HashMap<SchemaKey, SchemaId>,
    subjects: BTreeMap<String, BTreeMap<u32, VersionEntry>>,
    global_compatibility: Option<Level>,
    subject_compatibility: BTreeMap<String, Level>,
    global_mode: Option<Mode>,
    subject_mode: BTreeMap<String, Mode>,
    id_high_water: Option<SchemaId>,
    unresolved: Vec<Record>,
}

fn subject_not_found(subject: &str) -> RegistryError {
    RegistryError::SubjectNotFound {
        subject: subject.to_owned(),
    }
}

impl RegistryState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one logged change. Fails only on a record this state cannot hold (a
    /// schema that does not parse), which means the log is corrupt.
    ///
    /// A schema whose references are not in the state yet is held back and applied
    /// as soon as they are: a compacted topic keeps only each key's latest record, at
    /// the offset it was last written, so a referencing version soft-deleted before
    /// the version it references comes back first. A later record for the same
    /// subject version replaces a held-back one.
    pub fn apply(&mut self, record: Record) -> Result<(), RegistryError> {
        if let Record::Schema {
            subject, version, ..
        }
        | Record::DeleteSchema { subject, version } = &record
        {
            self.unresolved
                .retain(|held| !matches!(held, Record::Schema { subject: s, version: v, .. } if s == subject && v == version));
        }
        let is_schema = matches!(record, Record::Schema { .. });
        if let Record::Schema { id, references, .. } = &record {
            if !self.schemas.contains_key(id) && !self.references_resolve(references) {
                self.unresolved.push(record);
                return Ok(());
            }
        }
        self.apply_resolved(record)?;
        if is_schema {
            self.apply_unresolved()?;
        }
        Ok(())
    }

    /// Schema records held back because their references are missing (none once a
    /// whole, consistent log is replayed).
    pub fn unresolved(&self) -> usize {
        self.unresolved.len()
    }

    fn references_resolve(&self, references: &[Reference]) -> bool {
        references
            .iter()
            .all(|r| self.schema_of_version(&r.subject, r.version).is_some())
    }

    fn apply_unresolved(&mut self) -> Result<(), RegistryError> {
        while let Some(ready) = self.unresolved.iter().position(|held| {
            matches!(held, Record::Schema { references, .. } if self.references_resolve(references))
        }) {
            let record = self.unresolved.remove(ready);
            self.apply_resolved(record)?;
        }
        Ok(())
    }

    fn apply_resolved(&mut self, record: Record) -> Result<(), RegistryError> {
        match record {
            Record::Schema {
                subject,
                version,
                id,
                schema_type,
                schema,
                references,
                deleted,
            } => {
                if !self.schemas.contains_key(&id) {
                    let parsed = self.parse(&schema_type, &schema, &references)?;
                    let stored = StoredSchema {
                        id,
                        schema_type,
                        schema: parsed.canonical,
                        references,
                        parsed: parsed.parsed,
                    };
                    self.ids_by_key.insert(key_of(&stored), id);
                    self.schemas.insert(id, stored);
                }
                self.subjects.entry(subject).or_default().insert(
                    version,
                    VersionEntry {
                        version,
                        id,
                        deleted,
                    },
                );
            }
            Record::DeleteSchema { subject, version } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    versions.remove(&version);
                    if versions.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            Record::Config {
                subject,
                compatibility_level,
            } => match (subject, compatibility_level) {
                (None, level) => self.global_compatibility = level,
                (Some(s), Some(level)) => {
                    self.subject_compatibility.insert(s, level);
                }
                (Some(s), None) => {
                    self.subject_compatibility.remove(&s);
                }
            },
            Record::Mode { subject, mode } => match (subject, mode) {
                (None, mode) => self.global_mode = mode,
                (Some(s), Some(mode)) => {
                    self.subject_mode.insert(s, mode);
                }
                (Some(s), None) => {
                    self.subject_mode.remove(&s);
                }
            },
            Record::IdHighWater { id } => {
                self.id_high_water = self.id_high_water.max(Some(id));
            }
        }
        Ok(())
    }

    fn parse(
        &self,
        schema_type: &str,
        schema: &str,
        references: &[Reference],
    ) -> Result<avro::AvroSchema, RegistryError> {
        match schema_type.to_ascii_uppercase().as_str() {
            "AVRO" => {}
            "JSON" | "PROTOBUF" => {
                return Err(RegistryError::InvalidSchema {
                    reason: format!(
                        "schemaType {schema_type} is not supported by this registry, which holds AVRO schemas only"
                    ),
                })
            }
            other => {
                return Err(RegistryError::InvalidSchema {
                    reason: format!("unknown schemaType '{other}' (AVRO is supported)"),
                })
            }
        }
        let mut texts = Vec::with_capacity(references.len());
        for reference in references {
            let entry = self
                .schema_of_version(&reference.subject, reference.version)
                .ok_or_else(|| RegistryError::InvalidSchema {
                    reason: format!(
                        "reference '{}' to subject '{}' version {} not found",
                        reference.name, reference.subject, reference.version
                    ),
                })?;
            // A referenced schema's own references come first.
            for nested in &entry.references {
                if let Some(nested) = self.schema_of_version(&nested.subject, nested.version) {
                    texts.push(nested.schema.clone());
                }
            }
            texts.push(entry.schema.clone());
        }
        avro::parse(schema, &texts)
    }

    fn schema_of_version(&self, subject: &str, version: u32) -> Option<&StoredSchema> {
        let entry = self.subjects.get(subject)?.get(&version)?;
        self.schemas.get(&entry.id)
    }

    fn subject_version<'a>(
        &'a self,
        subject: &'a str,
        entry: &VersionEntry,
    ) -> Result<SubjectVersion<'a>, RegistryError> {
        let schema = self
            .schemas
            .get(&entry.id)
            .ok_or_else(|| RegistryError::Store {
                reason: format!(
                    "version {} of '{subject}' names unknown schema id {}",
                    entry.version, entry.id
                ),
            })?;
        Ok(SubjectVersion {
            subject,
            version: entry.version,
            schema,
        })
    }

    // ---- settings ----

    pub fn global_compatibility(&self) -> Level {
        self.global_compatibility.unwrap_or(DEFAULT_COMPATIBILITY)
    }

    pub fn subject_compatibility(&self, subject: &str) -> Option<Level> {
        self.subject_compatibility.get(subject).copied()
    }

    pub fn effective_compatibility(&self, subject: &str) -> Level {
        self.subject_compatibility(subject)
            .unwrap_or_else(|| self.global_compatibility())
    }

    pub fn global_mode(&self) -> Mode {
        self.global_mode.unwrap_or(DEFAULT_MODE)
    }

    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.subject_mode.get(subject).copied()
    }

    pub fn effective_mode(&self, subject: &str) -> Mode {
        self.subject_mode(subject)
            .unwrap_or_else(|| self.global_mode())
    }

    pub fn set_compatibility(&self, subject: Option<&str>, level: Level) -> Vec<Record> {
        vec![Record::Config {
            subject: subject.map(str::to_owned),
            compatibility_level: Some(level),
        }]
    }

    /// Removes a subject's level (it falls back to the global one) or resets the
    /// global level to the default; returns the level in force before.
    pub fn delete_compatibility(
        &self,
        subject: Option<&str>,
    ) -> Result<(Level, Vec<Record>), RegistryError> {
        let previous = match subject {
            None => self.global_compatibility(),
            Some(s) => {
                if !self.subjects.contains_key(s) && !self.subject_compatibility.contains_key(s) {
                    return Err(subject_not_found(s));
                }
                self.effective_compatibility(s)
            }
        };
        Ok((
            previous,
            vec![Record::Config {
                subject: subject.map(str::to_owned),
                compatibility_level: None,
            }],
        ))
    }

    /// Sets a mode; IMPORT on a registry that holds schemas needs `force`
    /// (Confluent: ids imported must not collide with ids already given out).
    pub fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<Vec<Record>, RegistryError> {
        if mode == Mode::Import && !force {
            let non_empty = match subject {
                None => !self.subjects.is_empty(),
                Some(s) => self.subjects.contains_key(s),
            };
            if non_empty {
                return Err(RegistryError::OperationNotPermitted {
                    reason: "Cannot import since found existing subjects".into(),
                });
            }
        }
        Ok(vec![Record::Mode {
            subject: subject.map(str::to_owned),
            mode: Some(mode),
        }])
    }

    pub fn delete_mode(&self, subject: Option<&str>) -> (Mode, Vec<Record>) {
        let previous = subject.map_or_else(|| self.global_mode(), |s| self.effective_mode(s));
        (
            previous,
            vec![Record::Mode {
                subject: subject.map(str::to_owned),
                mode: None,
            }],
        )
    }

    // ---- subjects and versions ----

    /// Subjects with at least one live version (or any version, with `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<&str> {
        self.subjects
            .iter()
            .filter(|(_, versions)| deleted || versions.values().any(|e| !e.deleted))
            .map(|(s, _)| s.as_str())
            .collect()
    }

    fn versions_of(
        &self,
        subject: &str,
        deleted: bool,
    ) -> Result<Vec<VersionEntry>, RegistryError> {
        let versions: Vec<VersionEntry> = self
            .subjects
            .get(subject)
            .map(|v| {
                v.values()
                    .filter(|e| deleted || !e.deleted)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return Err(subject_not_found(subject));
        }
        Ok(versions)
    }

    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<u32>, RegistryError> {
        Ok(self
            .versions_of(subject, deleted)?
            .iter()
            .map(|e| e.version)
            .collect())
    }

    pub fn version<'a>(
        &'a self,
        subject: &'a str,
        selector: VersionSelector,
        deleted: bool,
    ) -> Result<SubjectVersion<'a>, RegistryError> {
        let versions = self.versions_of(subject, deleted)?;
        let entry = match selector {
            VersionSelector::Latest => versions.last(),
            VersionSelector::Number(n) => versions.iter().find(|e| e.version == n),
        }
        .ok_or_else(|| RegistryError::VersionNotFound {
            version: match selector {
                VersionSelector::Latest => "latest".into(),
                VersionSelector::Number(n) => n.to_string(),
            },
        })?;
        self.subject_version(subject, entry)
    }

    /// The schema stored under `id`, while some version (live or soft-deleted) uses it.
    pub fn schema_by_id(&self, id: SchemaId) -> Result<&StoredSchema, RegistryError> {
        let used = self
            .subjects
            .values()
            .any(|v| v.values().any(|e| e.id == id));
        self.schemas
            .get(&id)
            .filter(|_| used)
            .ok_or_else(|| RegistryError::SchemaNotFound {
                id: Some(id.to_string()),
            })
    }

    /// The (subject, version) pairs that use `id`.
    pub fn versions_of_id(
        &self,
        id: SchemaId,
        deleted: bool,
    ) -> Result<Vec<(&str, u32)>, RegistryError> {
        self.schema_by_id(id)?;
        Ok(self
            .subjects
            .iter()
            .flat_map(|(s, versions)| {
                versions
                    .values()
                    .filter(move |e| e.id == id && (deleted || !e.deleted))
                    .map(move |e| (s.as_str(), e.version))
            })
            .collect())
    }

    /// The id a new schema gets: one past the highest, within Java's `int`.
    fn next_id(&self) -> Result<SchemaId, RegistryError> {
        let next = self.max_id().map_or(Some(1), |m| m.0.checked_add(1));
        next.filter(|id| i32::try_from(*id).is_ok())
            .map(SchemaId)
            .ok_or_else(|| RegistryError::Store {
                reason: "schema ids are exhausted".into(),
            })
    }

    /// The highest id given out, including ids whose every version was deleted for
    /// good.
    pub fn max_id(&self) -> Option<SchemaId> {
        self.schemas
            .keys()
            .next_back()
            .copied()
            .max(self.id_high_water)
    }

    /// How many distinct schemas (global ids) the registry holds.
    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }

    /// Keeps the highest id given out across a permanent delete (see
    /// [`Record::IdHighWater`]).
    fn id_high_water_record(&self) -> Option<Record> {
        self.max_id().map(|id| Record::IdHighWater { id })
    }

    /// Finds the version of `subject` that holds this schema.
    pub fn lookup<'a>(
        &'a self,
        subject: &'a str,
        new: &NewSchema,
        deleted: bool,
    ) -> Result<SubjectVersion<'a>, RegistryError> {
        let versions = self.versions_of(subject, deleted)?;
        let candidate = self.parse(
            new.schema_type.as_deref().unwrap_or("AVRO"),
            &new.schema,
            &new.references,
        )?;
        let key = (
            normalized_type(new.schema_type.as_deref()),
            candidate.canonical,
            new.references.clone(),
        );
        let id = self
            .ids_by_key
            .get(&key)
            .ok_or(RegistryError::SchemaNotFound { id: None })?;
        let entry = versions
            .iter()
            .rev()
            .find(|e| e.id == *id)
            .ok_or(RegistryError::SchemaNotFound { id: None })?;
        self.subject_version(subject, entry)
    }

    /// Plans a registration: the id the schema gets, and the records to log (none
    /// when this subject already has the schema as a live version).
    pub fn register(
        &self,
        subject: &str,
        new: &NewSchema,
    ) -> Result<(SchemaId, Vec<Record>), RegistryError> {
        let mode = self.effective_mode(subject);
        if matches!(mode, Mode::Readonly | Mode::ReadonlyOverride) {
            return Err(RegistryError::OperationNotPermitted {
                reason: format!("Subject {subject} is in read-only mode"),
            });
        }
        let importing = mode == Mode::Import;
        if !importing && (new.id.is_some_and(|id| id > 0) || new.version.is_some_and(|v| v > 0)) {
            return Err(RegistryError::OperationNotPermitted {
                reason: format!(
                    "Subject {subject} is not in import mode: an id or version cannot be given"
                ),
            });
        }
        let schema_type = normalized_type(new.schema_type.as_deref());
        let candidate = self.parse(&schema_type, &new.schema, &new.references)?;
        let key = (
            schema_type.clone(),
            candidate.canonical.clone(),
            new.references.clone(),
        );
        let existing_id = self.ids_by_key.get(&key).copied();
        let versions = self.subjects.get(subject);
        let live: Vec<&VersionEntry> = versions
            .map(|v| v.values().filter(|e| !e.deleted).collect())
            .unwrap_or_default();
        if let Some(id) = existing_id {
            if live.iter().any(|e| e.id == id) && new.id.is_none_or(|wanted| wanted == id.0) {
                return Ok((id, Vec::new()));
            }
        }
        if !importing {
            let previous: Vec<Previous<'_>> = live
                .iter()
                .filter_map(|e| self.schemas.get(&e.id).map(|s| (e.version, s)))
                .map(|(version, s)| Previous {
                    version,
                    canonical: &s.schema,
                    parsed: &s.parsed,
                })
                .collect();
            let level = self.effective_compatibility(subject);
            let messages = compatibility::check(level, &candidate.parsed, &previous);
            if !messages.is_empty() {
                return Err(RegistryError::Incompatible {
                    subject: subject.to_owned(),
                    level,
                    messages,
                });
            }
        }
        let id = match new.id.filter(|id| *id > 0) {
            Some(wanted) => {
                let wanted = SchemaId(wanted);
                if let Some(other) = self.schemas.get(&wanted) {
                    if key_of(other) != key {
                        return Err(RegistryError::OperationNotPermitted {
                            reason: format!(
                                "Overwrite new schema with id {wanted} is not permitted."
                            ),
                        });
                    }
                }
                wanted
            }
            None => match existing_id {
                Some(id) => id,
                None => self.next_id()?,
            },
        };
        let next_version = versions
            .and_then(|v| v.keys().next_back())
            .map_or(1, |v| v + 1);
        let version = match new.version.filter(|v| *v > 0) {
            Some(v) if versions.is_some_and(|vs| vs.contains_key(&v)) => {
                return Err(RegistryError::OperationNotPermitted {
                    reason: format!("Version {v} of subject {subject} already exists"),
                })
            }
            Some(v) => v,
            None => next_version,
        };
        Ok((
            id,
            vec![Record::Schema {
                subject: subject.to_owned(),
                version,
                id,
                schema_type,
                schema: candidate.canonical,
                references: new.references.clone(),
                deleted: false,
            }],
        ))
    }

    /// Checks a schema against one version (or, with `None`, against the versions
    /// the subject's level names) and returns Confluent's verbose messages.
    pub fn check_compatibility(
        &self,
        subject: &str,
        selector: Option<VersionSelector>,
        new: &NewSchema,
    ) -> Result<Vec<String>, RegistryError> {
        let level = self.effective_compatibility(subject);
        let candidate = self.parse(
            &normalized_type(new.schema_type.as_deref()),
            &new.schema,
            &new.references,
        )?;
        let previous: Vec<SubjectVersion<'_>> = match selector {
            Some(selector) => vec![self.version(subject, selector, false)?],
            None => match self.versions_of(subject, false) {
                Ok(versions) => versions
                    .iter()
                    .map(|e| self.subject_version(subject, e))
                    .collect::<Result<_, _>>()?,
                Err(_) => Vec::new(),
            },
        };
        let previous: Vec<Previous<'_>> = previous
            .iter()
            .map(|v| Previous {
                version: v.version,
                canonical: &v.schema.schema,
                parsed: &v.schema.parsed,
            })
            .collect();
        Ok(compatibility::check(level, &candidate.parsed, &previous))
    }

    fn check_writable(&self, subject: &str) -> Result<(), RegistryError> {
        if matches!(
            self.effective_mode(subject),
            Mode::Readonly | Mode::ReadonlyOverride
        ) {
            return Err(RegistryError::OperationNotPermitted {
                reason: format!("Subject {subject} is in read-only mode"),
            });
        }
        Ok(())
    }

    /// Ids of the live schemas that reference `subject` `version`.
    pub fn referenced_by(
        &self,
        subject: &str,
        selector: VersionSelector,
    ) -> Result<Vec<SchemaId>, RegistryError> {
        let target = self.version(subject, selector, false)?.version;
        let mut ids: Vec<SchemaId> = self
            .subjects
            .values()
            .flat_map(|v| v.values())
            .filter(|e| !e.deleted)
            .filter(|e| {
                self.schemas.get(&e.id).is_some_and(|s| {
                    s.references
                        .iter()
                        .any(|r| r.subject == subject && r.version == target)
                })
            })
            .map(|e| e.id)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Every version of every subject (live, or all with `deleted`), or only each
    /// subject's latest with `latest_only`.
    pub fn all_versions(&self, deleted: bool, latest_only: bool) -> Vec<SubjectVersion<'_>> {
        let mut out = Vec::new();
        for (subject, versions) in &self.subjects {
            let mut live: Vec<&VersionEntry> = versions
                .values()
                .filter(|e| deleted || !e.deleted)
                .collect();
            if latest_only {
                live = live.split_off(live.len().saturating_sub(1));
            }
            out.extend(
                live.into_iter()
                    .filter_map(|e| self.subject_version(subject, e).ok()),
            );
        }
        out
    }

    fn referenced(&self, subject: &str, version: u32) -> bool {
        self.subjects.values().flat_map(|v| v.values()).any(|e| {
            !e.deleted
                && self.schemas.get(&e.id).is_some_and(|s| {
                    s.references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
                })
        })
    }

    /// Plans deleting a subject: soft (its live versions are marked deleted) or,
    /// once soft-deleted, permanent. Returns the versions deleted.
    pub fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<(Vec<u32>, Vec<Record>), RegistryError> {
        self.check_writable(subject)?;
        let all = self.versions_of(subject, true)?;
        let live: Vec<&VersionEntry> = all.iter().filter(|e| !e.deleted).collect();
        if permanent {
            if !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted {
                    subject: subject.to_owned(),
                });
            }
            let mut records: Vec<Record> = all
                .iter()
                .map(|e| Record::DeleteSchema {
                    subject: subject.to_owned(),
                    version: e.version,
                })
                .collect();
            // A subject deleted for good takes its own settings along, as in
            // Confluent: a subject later made with the same name starts afresh.
            if self.subject_compatibility.contains_key(subject) {
                records.push(Record::Config {
                    subject: Some(subject.to_owned()),
                    compatibility_level: None,
                });
            }
            if self.subject_mode.contains_key(subject) {
                records.push(Record::Mode {
                    subject: Some(subject.to_owned()),
                    mode: None,
                });
            }
            records.extend(self.id_high_water_record());
            return Ok((all.iter().map(|e| e.version).collect(), records));
        }
        if live.is_empty() {
            return Err(RegistryError::SubjectSoftDeleted {
                subject: subject.to_owned(),
            });
        }
        if let Some(e) = live.iter().find(|e| self.referenced(subject, e.version)) {
            return Err(RegistryError::ReferenceExists {
                subject: subject.to_owned(),
                version: e.version,
            });
        }
        let mut records = Vec::with_capacity(live.len());
        for e in &live {
            let schema = self.subject_version(subject, e)?.schema;
            records.push(Record::Schema {
                subject: subject.to_owned(),
                version: e.version,
                id: e.id,
                schema_type: schema.schema_type.clone(),
                schema: schema.schema.clone(),
                references: schema.references.clone(),
                deleted: true,
            });
        }
        Ok((live.iter().map(|e| e.version).collect(), records))
    }

    /// Plans deleting one version, soft or (once soft-deleted) permanent.
    pub fn delete_version(
        &self,
        subject: &str,
        selector: VersionSelector,
        permanent: bool,
    ) -> Result<(u32, Vec<Record>), RegistryError> {
        self.check_writable(subject)?;
        // Soft-deleting `latest` means the latest live version; a number may name a
        // soft-deleted version, to report it as such (40406) or delete it for good.
        let found = match selector {
            VersionSelector::Latest if !permanent => self.version(subject, selector, false)?,
            _ => self.version(subject, selector, true)?,
        };
        let entry = self
            .subjects
            .get(subject)
            .and_then(|v| v.get(&found.version))
            .copied()
            .ok_or_else(|| subject_not_found(subject))?;
        if permanent {
            if !entry.deleted {
                return Err(RegistryError::VersionNotSoftDeleted {
                    subject: subject.to_owned(),
                    version: entry.version,
                });
            }
            let mut records = vec![Record::DeleteSchema {
                subject: subject.to_owned(),
                version: entry.version,
            }];
            records.extend(self.id_high_water_record());
            return Ok((entry.version, records));
        }
        if entry.deleted {
            return Err(RegistryError::VersionSoftDeleted {
                subject: subject.to_owned(),
                version: entry.version,
            });
        }
        if self.referenced(subject, entry.version) {
            return Err(RegistryError::ReferenceExists {
                subject: subject.to_owned(),
                version: entry.version,
            });
        }
        Ok((
            entry.version,
            vec![Record::Schema {
                subject: subject.to_owned(),
                version: entry.version,
                id: entry.id,
                schema_type: found.schema.schema_type.clone(),
                schema: found.schema.schema.clone(),
                references: found.schema.references.clone(),
                deleted: true,
            }],
        ))
    }
}

fn normalized_type(schema_type: Option<&str>) -> String {
    schema_type.unwrap_or("AVRO").to_ascii_uppercase()
}

fn key_of(stored: &StoredSchema) -> SchemaKey {
    (
        stored.schema_type.clone(),
        stored.schema.clone(),
        stored.references.clone(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A state that also keeps every record it applied, like a log would.
    #[derive(Default)]
    struct Logged {
        state: RegistryState,
        log: Vec<Record>,
    }

    impl Logged {
        fn commit<T>(
            &mut self,
            plan: impl FnOnce(&RegistryState) -> Result<(T, Vec<Record>), RegistryError>,
        ) -> Result<T, RegistryError> {
            let (answer, records) = plan(&self.state)?;
            for record in records {
                self.log.push(record.clone());
                self.state.apply(record).unwrap();
            }
            Ok(answer)
        }

        fn register(&mut self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
            let new = NewSchema {
                schema: schema.into(),
                ..NewSchema::default()
            };
            self.commit(|s| s.register(subject, &new)).map(|id| id.0)
        }
    }

    fn record(name: &str, fields: &str) -> String {
        format!(r#"{{"type":"record","name":"{name}","fields":[{fields}]}}"#)
    }

    /// Everything a client can observe, for comparing two states.
    fn observe(state: &RegistryState) -> String {
        let mut out = format!(
            "global={} mode={}\n",
            state.global_compatibility(),
            state.global_mode().as_str()
        );
        for subject in state.subjects(true) {
            let level = state.subject_compatibility(subject);
            out.push_str(&format!("{subject} level={level:?}:"));
            for version in state.versions(subject, true).unwrap() {
                let v = state
                    .version(subject, VersionSelector::Number(version), true)
                    .unwrap();
                let live = state
                    .versions(subject, false)
                    .unwrap_or_default()
                    .contains(&version);
                out.push_str(&format!(
                    " v{version}=id{}{}",
                    v.schema.id,
                    if live { "" } else { "(deleted)" }
                ));
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn ids_are_global_and_deduplicated_by_schema() {
        let mut r = Logged::default();
        let a = record("A", r#"{"name":"x","type":"int"}"#);
        let a_spaced =
            r#"{ "type": "record", "name": "A", "fields": [ { "type": "int", "name": "x" } ] }"#;
        assert_eq!(r.register("s1", &a).unwrap(), 1);
        assert_eq!(r.register("s2", a_spaced).unwrap(), 1);
        assert_eq!(r.register("s1", a_spaced).unwrap(), 1);
        // Registering what a subject already has logs nothing.
        let before = r.log.len();
        assert_eq!(r.register("s1", &a).unwrap(), 1);
        assert_eq!(r.log.len(), before);
        assert_eq!(r.register("s3", r#""string""#).unwrap(), 2);
        assert_eq!(r.state.versions("s1", false).unwrap(), vec![1]);
        assert_eq!(
            r.state.versions_of_id(SchemaId(1), false).unwrap(),
            vec![("s1", 1), ("s2", 1)]
        );
    }

    #[test]
    fn versions_continue_after_soft_delete_and_restart_after_hard_delete() {
        let mut r = Logged::default();
        r.commit(|s| Ok(((), s.set_compatibility(None, Level::None))))
            .unwrap();
        r.register("s", &record("A", r#"{"name":"x","type":"int"}"#))
            .unwrap();
        r.register("s", &record("A", r#"{"name":"y","type":"int"}"#))
            .unwrap();
        r.commit(|s| s.delete_version("s", VersionSelector::Latest, false))
            .unwrap();
        r.register("s", &record("A", r#"{"name":"z","type":"int"}"#))
            .unwrap();
        assert_eq!(r.state.versions("s", true).unwrap(), vec![1, 2, 3]);
        // Re-registering a soft-deleted version's schema makes a new version, same id.
        let id = r
            .register("s", &record("A", r#"{"name":"y","type":"int"}"#))
            .unwrap();
        assert_eq!(id, 2);
        assert_eq!(r.state.versions("s", false).unwrap(), vec![1, 3, 4]);
        r.commit(|s| s.delete_subject("s", false)).unwrap();
        r.commit(|s| s.delete_subject("s", true)).unwrap();
        assert!(matches!(
            r.state.versions("s", true),
            Err(RegistryError::SubjectNotFound { .. })
        ));
        assert_eq!(r.register("s", &record("B", "")).unwrap(), 4);
        assert_eq!(r.state.versions("s", false).unwrap(), vec![1]);
    }

    #[test]
    fn replaying_the_log_rebuilds_the_same_state() {
        let mut r = Logged::default();
        r.register("a-key", &record("K", r#"{"name":"id","type":"int"}"#))
            .unwrap();
        r.register("a-value", &record("V", r#"{"name":"id","type":"int"}"#))
            .unwrap();
        r.register(
            "a-value",
            &record(
                "V",
                r#"{"name":"id","type":"int"},{"name":"n","type":"string","default":""}"#,
            ),
        )
        .unwrap();
        r.commit(|s| Ok(((), s.set_compatibility(Some("a-value"), Level::Full))))
            .unwrap();
        r.commit(|s| s.delete_version("a-value", VersionSelector::Number(1), false))
            .unwrap();
        r.register("b", r#""long""#).unwrap();
        r.commit(|s| s.delete_subject("b", false)).unwrap();
        r.commit(|s| s.delete_subject("b", true)).unwrap();
        r.commit(|s| Ok(((), s.set_mode(None, Mode::Readonly, false).unwrap())))
            .unwrap();

        let mut replayed = RegistryState::new();
        for record in r.log.clone() {
            // Through JSON, as the file log stores it.
            let line = serde_json::to_string(&record).unwrap();
            replayed
                .apply(serde_json::from_str(&line).unwrap())
                .unwrap();
        }
        assert_eq!(observe(&replayed), observe(&r.state));
        assert_eq!(replayed.max_id(), r.state.max_id());
        assert!(matches!(
            replayed.register(
                "c",
                &NewSchema {
                    schema: "\"int\"".into(),
                    ..NewSchema::default()
                }
            ),
            Err(RegistryError::OperationNotPermitted { .. })
        ));
    }

    #[test]
    fn references_resolve_and_protect_what_they_name() {
        let mut r = Logged::default();
        let address = r#"{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}"#;
        r.register("address", address).unwrap();
        let person = NewSchema {
            schema: r#"{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"Address"}]}"#.into(),
            references: vec![Reference { name: "x.Address".into(), subject: "address".into(), version: 1 }],
            ..NewSchema::default()
        };
        let id = r.commit(|s| s.register("person", &person)).unwrap();
        assert_eq!(id, SchemaId(2));
        assert!(matches!(
            r.commit(|s| s.delete_version("address", VersionSelector::Number(1), false)),
            Err(RegistryError::ReferenceExists { .. })
        ));
        let found = r.state.lookup("person", &person, false).unwrap();
        assert_eq!(found.version, 1);
    }

    #[test]
    fn only_avro_is_accepted() {
        let state = RegistryState::new();
        for schema_type in ["JSON", "PROTOBUF", "XML"] {
            let new = NewSchema {
                schema: "{}".into(),
                schema_type: Some(schema_type.into()),
                ..NewSchema::default()
            };
            match state.register("s", &new) {
                Err(RegistryError::InvalidSchema { reason }) => {
                    assert!(reason.contains(schema_type), "{reason}")
                }
                other => panic!("{schema_type}: {other:?}"),
            }
        }
    }

    #[test]
    fn version_selectors() {
        assert_eq!(
            VersionSelector::parse("latest").unwrap(),
            VersionSelector::Latest
        );
        assert_eq!(
            VersionSelector::parse("-1").unwrap(),
            VersionSelector::Latest
        );
        assert_eq!(
            VersionSelector::parse("2147483647").unwrap(),
            VersionSelector::Number(i32::MAX as u32)
        );
        for bad in [
            "0",
            "-2",
            "2147483648",
            "x",
            "",
            "1e3",
            "99999999999999999999999",
        ] {
            assert_eq!(
                VersionSelector::parse(bad).unwrap_err().error_code(),
                42202,
                "{bad}"
            );
        }
    }
}
