//! The warehouse side of pgcdc. It consumes Debezium-shaped change topics with
//! `read_committed` and manual offsets, applies each batch with set-based statements,
//! and writes the consumed `(topic, partition, next offset)` in the same warehouse
//! transaction, so a crash, a redelivery or a rebalance never applies an event twice
//! or skips one. Target tables are created and evolved from the value schemas.
