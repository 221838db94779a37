//! Live views over the change topics: event-time windows (tumbling, hopping, session)
//! with retraction of updated and deleted rows, enrichment from changelog tables,
//! results and consumed offsets written to Redis atomically, a live web page and alert
//! rules. The window math is pure and lives apart from the Kafka and Redis shells.

// The shell: records in, Redis out, the page.
pub mod decode;
pub mod metrics;
pub mod notify;
pub mod runtime;
pub mod service;
pub mod store;
pub mod view;
pub mod web;

// The pure core: configuration, window math, partials, alert rules. No I/O.
pub mod alert;
pub mod change;
pub mod contribute;
pub mod decimal;
pub mod engine;
pub mod hash;
pub mod partial;
pub mod read;
pub mod row;
pub mod spec;
pub mod timestamp;
pub mod window;
