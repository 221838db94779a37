//! The `_schemas` topic: created when missing, checked when present. Like
//! Confluent's registry, pgcdc requires one partition (the log's order is the
//! order of changes) and `cleanup.policy=compact` (with `delete`, old
//! registrations would expire and their ids be forgotten).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use super::{store_error, KafkaStoreConfig};
use crate::registry::error::RegistryError;

/// Makes sure the topic exists with one partition and compaction. Blocking: call
/// from a blocking context inside a tokio runtime.
pub fn ensure(config: &KafkaStoreConfig) -> Result<(), RegistryError> {
    if create_or_check(config)? == Outcome::AlreadyExisted {
        // Metadata lagged behind a topic someone else had just created: check
        // the one that exists rather than trusting that it is compacted.
        if create_or_check(config)? == Outcome::AlreadyExisted {
            return Err(store_error(format!(
                "topic {} exists but its metadata cannot be read; retry when the brokers agree on it",
                config.topic
            )));
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ready,
    AlreadyExisted,
}

fn create_or_check(config: &KafkaStoreConfig) -> Result<Outcome, RegistryError> {
    let topic = config.topic.as_str();
    let admin: AdminClient<DefaultClientContext> = config
        .client
        .create()
        .map_err(|e| store_error(format!("cannot create a Kafka admin client: {e}")))?;
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), config.init_timeout)
        .map_err(|e| {
            store_error(format!(
                "cannot read the metadata of topic {topic} (is Kafka reachable at the bootstrap servers?): {e}"
            ))
        })?;
    let brokers = i32::try_from(metadata.brokers().len()).unwrap_or(i32::MAX);
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    let runtime = tokio::runtime::Handle::current();
    let options = AdminOptions::new().operation_timeout(Some(config.init_timeout));
    match found {
        Some(found) => {
            if found.partitions().len() != 1 {
                return Err(store_error(format!(
                    "the schemas topic {topic} has {} partitions; it must have exactly 1 (the order of its records is the order of changes)",
                    found.partitions().len()
                )));
            }
            let specifier = ResourceSpecifier::Topic(topic);
            let described = runtime
                .block_on(admin.describe_configs([&specifier], &options))
                .map_err(|e| store_error(format!("cannot describe topic {topic}: {e}")))?;
            let policy = described
                .into_iter()
                .next()
                .and_then(Result::ok)
                .and_then(|resource| {
                    resource
                        .get("cleanup.policy")
                        .and_then(|entry| entry.value.clone())
                });
            match policy {
                Some(policy) if policy.split(',').any(|p| p.trim() == "compact") => {
                    Ok(Outcome::Ready)
                }
                other => Err(store_error(format!(
                    "the schemas topic {topic} has cleanup.policy={}; it must be 'compact', or old registrations are deleted (kafka-configs --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact)",
                    other.unwrap_or_else(|| "unknown".into())
                ))),
            }
        }
        None => {
            let replication = config.replication_factor.clamp(1, brokers.max(1));
            if replication < config.replication_factor {
                tracing::warn!(
                    topic,
                    replication,
                    wanted = config.replication_factor,
                    "fewer brokers than --kafkastore-topic-replication-factor: creating the schemas topic with fewer replicas"
                );
            }
            let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
                .set("cleanup.policy", "compact");
            let results = runtime
                .block_on(admin.create_topics([&new], &options))
                .map_err(|e| store_error(format!("cannot create topic {topic}: {e}")))?;
            let mut existed = false;
            for result in results {
                match result {
                    Ok(_) => {
                        tracing::info!(topic, replication, "created the schemas topic");
                    }
                    // Another instance (or tool) created it a moment ago.
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => existed = true,
                    Err((_, code)) => {
                        return Err(store_error(format!("cannot create topic {topic}: {code}")))
                    }
                }
            }
            // A new topic's leader takes a moment to be known to every broker.
            wait_for_leader(&admin, config)?;
            Ok(if existed {
                Outcome::AlreadyExisted
            } else {
                Outcome::Ready
            })
        }
    }
}

fn wait_for_leader(
    admin: &AdminClient<DefaultClientContext>,
    config: &KafkaStoreConfig,
) -> Result<(), RegistryError> {
    let deadline = std::time::Instant::now() + config.init_timeout;
    loop {
        let ready = admin
            .inner()
            .fetch_metadata(Some(&config.topic), config.init_timeout)
            .ok()
            .is_some_and(|m| {
                m.topics().iter().any(|t| {
                    t.name() == config.topic
                        && t.error().is_none()
                        && t.partitions().first().is_some_and(|p| p.leader() >= 0)
                })
            });
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(store_error(format!(
                "topic {} was created but has no leader after {:?}",
                config.topic, config.init_timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
