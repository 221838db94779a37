//! The registry's errors, each carrying Confluent's `error_code` and HTTP status so
//! that clients written against Confluent's Schema Registry branch on them unchanged
//! (Schema Registry API reference, "Errors").

use super::compatibility::Level;

/// What went wrong in a registry operation, in Confluent's vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Subject '{subject}' not found.")]
    SubjectNotFound { subject: String },
    #[error("Version {version} not found.")]
    VersionNotFound { version: String },
    /// No schema with this id (`Some`), or not this schema under the subject (`None`).
    #[error("{}", match .id { Some(id) => format!("Schema {id} not found"), None => "Schema not found".to_owned() })]
    SchemaNotFound { id: Option<String> },
    #[error("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted { subject: String },
    #[error("Subject '{subject}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted { subject: String },
    #[error("Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted { subject: String, version: u32 },
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted { subject: String, version: u32 },
    #[error("Subject '{subject}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured { subject: String },
    #[error("Subject '{subject}' does not have subject-level mode configured")]
    SubjectModeNotConfigured { subject: String },
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", .messages.join(", "))]
    Incompatible {
        subject: String,
        level: Level,
        messages: Vec<String>,
    },
    #[error("Invalid schema: {reason}")]
    InvalidSchema { reason: String },
    #[error("The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion { version: String },
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive (got '{given}')")]
    InvalidCompatibilityLevel { given: String },
    #[error("Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT (got '{given}')")]
    InvalidMode { given: String },
    #[error(
        "One or more references exist to the schema {{subject='{subject}', version={version}}}"
    )]
    ReferenceExists { subject: String, version: u32 },
    #[error("{reason}")]
    OperationNotPermitted { reason: String },
    #[error("{reason}")]
    BadRequest { reason: String },
    #[error("{reason}")]
    Unprocessable { reason: String },
    #[error("Request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("HTTP 404 Not Found")]
    NotFound,
    #[error("Error in the backend data store: {reason}")]
    Store { reason: String },
    /// The server could not listen on (or serve from) its address.
    #[error("cannot serve the registry on {address}: {reason}")]
    Listen { address: String, reason: String },
}

impl RegistryError {
    /// Confluent's `error_code` for this error.
    pub fn error_code(&self) -> u32 {
        match self {
            Self::SubjectNotFound { .. } => 40401,
            Self::VersionNotFound { .. } => 40402,
            Self::SchemaNotFound { .. } => 40403,
            Self::SubjectSoftDeleted { .. } => 40404,
            Self::SubjectNotSoftDeleted { .. } => 40405,
            Self::VersionSoftDeleted { .. } => 40406,
            Self::VersionNotSoftDeleted { .. } => 40407,
            Self::SubjectCompatibilityNotConfigured { .. } => 40408,
            Self::SubjectModeNotConfigured { .. } => 40409,
            Self::Incompatible { .. } => 409,
            Self::InvalidSchema { .. } => 42201,
            Self::InvalidVersion { .. } => 42202,
            Self::InvalidCompatibilityLevel { .. } => 42203,
            Self::InvalidMode { .. } => 42204,
            Self::OperationNotPermitted { .. } => 42205,
            Self::ReferenceExists { .. } => 42206,
            Self::BadRequest { .. } => 400,
            Self::Unprocessable { .. } => 422,
            Self::PayloadTooLarge { .. } => 413,
            Self::NotFound => 404,
            Self::Store { .. } | Self::Listen { .. } => 50001,
        }
    }

    /// The HTTP status Confluent answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self.error_code() {
            code if code >= 1000 => (code / 100) as u16,
            code => code as u16,
        }
    }

    /// Whether retrying the same request may succeed (only a store failure may).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Store { .. })
    }
}
