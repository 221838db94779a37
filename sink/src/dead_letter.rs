//! The dead-letter topic (`errors.deadletterqueue.topic.name`): tolerated records go
//! there as they were consumed (key, value and headers untouched), plus Kafka
//! Connect's `__connect.errors.*` headers when
//! `errors.deadletterqueue.context.headers.enable=true`. As Connect does, the sink
//! creates the topic when it is missing (one partition, the configured replication
//! factor).
//!
//! Delivery is at least once. A batch's dead letters are produced and acknowledged
//! (idempotent producer, `acks=all`) *before* its warehouse transaction commits:
//! a crash between the two re-reads the batch from the warehouse's offsets and sends
//! its dead letters again, never loses one. Committing first would lose them on the
//! same crash. Readers that need each failure once can deduplicate on the
//! `__connect.errors.topic`/`partition`/`offset` headers.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::batch::Consumed;
use crate::config::{DeadLetterQueue, SinkConfig};
use crate::error::SinkError;
use crate::poison::{context_headers, Rejected};

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct DeadLetters {
    producer: FutureProducer,
    queue: DeadLetterQueue,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.queue.topic)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// The producer for the configured topic, created if missing.
    pub async fn start(
        queue: &DeadLetterQueue,
        config: &SinkConfig,
        kafka: &ClientConfig,
    ) -> Result<DeadLetters, SinkError> {
        let broker_error = |e: KafkaError| SinkError::DeadLetter {
            topic: queue.topic.clone(),
            reason: e.to_string(),
            retriable: true,
        };
        let admin: AdminClient<DefaultClientContext> = kafka.create().map_err(broker_error)?;
        let replication = TopicReplication::Fixed(queue.replication_factor);
        let topic = NewTopic::new(&queue.topic, 1, replication);
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics([&topic], &options)
            .await
            .map_err(broker_error)?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic = %queue.topic, "dead-letter topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(SinkError::DeadLetter {
                        topic: queue.topic.clone(),
                        reason: format!(
                            "cannot create it ({code}); create it yourself or check errors.deadletterqueue.topic.replication.factor ({})",
                            queue.replication_factor
                        ),
                        retriable: false,
                    })
                }
            }
        }
        let mut producer_config = kafka.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "client.id",
                format!("pgcdc-sink-{}-dead-letters", config.name),
            );
        let producer: FutureProducer = producer_config.create().map_err(broker_error)?;
        Ok(DeadLetters {
            producer,
            queue: queue.clone(),
        })
    }

    /// Sends the rejected `records` of a batch and waits until Kafka acknowledged
    /// every one.
    pub async fn send(
        &self,
        config: &SinkConfig,
        records: &[Consumed],
        rejected: &[Rejected],
    ) -> Result<(), SinkError> {
        let mut deliveries = Vec::with_capacity(rejected.len());
        for rejection in rejected {
            let record = &records[rejection.index];
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 10);
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: value.as_deref(),
                });
            }
            if self.queue.context_headers {
                for (key, value) in context_headers(
                    record,
                    &rejection.failure,
                    &config.name,
                    &config.key_converter,
                    &config.value_converter,
                ) {
                    headers = headers.insert(Header {
                        key,
                        value: Some(value.as_bytes()),
                    });
                }
            }
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.queue.topic).headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                message = message.payload(value.as_slice());
            }
            // Enqueued now, acknowledged below: the batch's dead letters travel together.
            let delivery = self
                .producer
                .send_result(message)
                .map_err(|(e, _)| self.failed(e))?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            let acknowledged = tokio::time::timeout(DELIVERY_TIMEOUT, delivery)
                .await
                .map_err(|_| {
                    self.failed(KafkaError::MessageProduction(
                        RDKafkaErrorCode::MessageTimedOut,
                    ))
                })?;
            match acknowledged {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(self.failed(e)),
                Err(_canceled) => return Err(self.failed(KafkaError::Canceled)),
            }
        }
        Ok(())
    }

    fn failed(&self, e: KafkaError) -> SinkError {
        SinkError::DeadLetter {
            topic: self.queue.topic.clone(),
            reason: e.to_string(),
            retriable: true,
        }
    }
}
