//! Kafka Connect's error-handling properties for sink connectors (KIP-298), with
//! Connect's names and defaults:
//!
//! | property | default |
//! | --- | --- |
//! | `errors.tolerance` | `none`: the first bad record fails the task |
//! | `errors.deadletterqueue.topic.name` | (none) |
//! | `errors.deadletterqueue.topic.replication.factor` | `3` (used when the sink creates the topic) |
//! | `errors.deadletterqueue.context.headers.enable` | `false` |
//!
//! Kafka Connect writes to the dead-letter topic only what it tolerates; a topic
//! named with `errors.tolerance=none` is accepted (as Connect does) and warned
//! about, since no record will reach it.

use super::properties::Properties;

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTolerance {
    /// A record that cannot be converted or applied stops the task, naming it.
    None,
    /// Such a record is skipped (and sent to the dead-letter topic when one is set).
    All,
}

/// Where tolerated records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    pub topic: String,
    /// `errors.deadletterqueue.context.headers.enable`: add Connect's
    /// `__connect.errors.*` headers.
    pub context_headers: bool,
    /// `errors.deadletterqueue.topic.replication.factor`.
    pub replication_factor: i32,
}

pub(super) fn read(p: &mut Properties<'_>) -> (ErrorTolerance, Option<DeadLetterQueue>) {
    let tolerance = p.choice(
        "errors.tolerance",
        ErrorTolerance::None,
        &[("none", ErrorTolerance::None), ("all", ErrorTolerance::All)],
    );
    let topic = p.optional("errors.deadletterqueue.topic.name");
    let context_headers = p.bool("errors.deadletterqueue.context.headers.enable", false);
    let replication_factor = p.parsed(
        "errors.deadletterqueue.topic.replication.factor",
        3i32,
        "a replication factor",
    );
    if replication_factor < 1 && replication_factor != -1 {
        p.error(
            "errors.deadletterqueue.topic.replication.factor",
            "must be at least 1 (or -1 for the broker's default)",
        );
    }
    p.claim_prefix("errors.deadletterqueue.");
    let queue = topic.map(|topic| DeadLetterQueue {
        topic,
        context_headers,
        replication_factor,
    });
    (tolerance, queue)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn read_map(pairs: &[(&str, &str)]) -> (ErrorTolerance, Option<DeadLetterQueue>, Vec<String>) {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut p = Properties::new(&map);
        let (tolerance, queue) = read(&mut p);
        let errors = p.errors.iter().map(ToString::to_string).collect();
        (tolerance, queue, errors)
    }

    #[test]
    fn connects_defaults() {
        assert_eq!(read_map(&[]), (ErrorTolerance::None, None, vec![]));
        let (tolerance, queue, errors) = read_map(&[
            ("errors.tolerance", "ALL"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]);
        assert_eq!(tolerance, ErrorTolerance::All);
        assert_eq!(
            queue,
            Some(DeadLetterQueue {
                topic: "dlq".to_owned(),
                context_headers: false,
                replication_factor: 3,
            })
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn bad_values_name_their_property() {
        let (_, _, errors) = read_map(&[
            ("errors.tolerance", "some"),
            ("errors.deadletterqueue.context.headers.enable", "yes"),
            ("errors.deadletterqueue.topic.replication.factor", "0"),
        ]);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("errors.tolerance: \"some\" is not one of none, all"));
        assert!(errors[1].starts_with("errors.deadletterqueue.context.headers.enable"));
        assert!(errors[2].starts_with("errors.deadletterqueue.topic.replication.factor"));
    }
}
