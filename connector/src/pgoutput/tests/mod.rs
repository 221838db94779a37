//! Tests of the decoder: hand-built payloads for every message (`layout`), every error
//! path (`errors`), and properties over arbitrary input (`properties`). `encoder` and
//! `samples` are the test-only writer and the catalogue of valid payloads they share.

mod encoder;
mod errors;
mod fixtures;
mod layout;
mod properties;
pub(crate) mod samples;
