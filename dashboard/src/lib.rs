//! Live views over the change topics: event-time windows (tumbling, hopping, session)
//! with retraction of updated and deleted rows, enrichment from changelog tables,
//! results and consumed offsets written to Redis atomically, a live web page and alert
//! rules. The window math is pure and lives apart from the Kafka and Redis shells.
