//! Enhanced fan-out: Kinesis pushes each shard's records to a registered
//! consumer, instead of the consumer asking for them (`etl --efo`, lab step
//! 2.2.2 with the lower latency AWS documents for it, about 70 ms).
//!
//! A consumer is registered on the stream once (RegisterStreamConsumer) and
//! reused by name afterwards, as the KCL does. Each shard then gets a
//! SubscribeToShard call, an HTTP/2 response that carries events for up to 5
//! minutes; a task per shard renews it from after the last record it
//! delivered, so records are neither skipped nor repeated across renewals.
//! Every event with records becomes a [`ShardBatch`](crate::ShardBatch) of the
//! [`ShardReader`](crate::ShardReader), which keeps doing what it does for
//! polling: KPL de-aggregation, positions, parents before children.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::operation::register_stream_consumer::RegisterStreamConsumerError;
use aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardError;
use aws_sdk_kinesis::types::{
    ConsumerStatus, Record, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{MAX_RETRY_INTERVAL, Opening, RETRY_INTERVAL, ReadError, retry};

/// How long a new consumer may take to become ACTIVE (AWS: seconds).
const REGISTRATION_PATIENCE: Duration = Duration::from_secs(60);

/// What one shard's subscription hands over: records, or why it cannot go on.
pub(crate) struct Pushed {
    pub shard_id: String,
    /// Which subscription of the shard pushed it ([`Subscriptions::subscribe`]).
    pub subscription: u64,
    pub outcome: Result<Delivery, ReadError>,
}

pub(crate) struct Delivery {
    pub records: Vec<Record>,
    pub millis_behind_latest: Option<i64>,
    /// The shard is closed and everything in it was delivered.
    pub ended: bool,
}

/// The subscriptions of one reader: a task per shard, all pushing into one
/// channel, so that the reader waits for whichever shard has records first.
pub(crate) struct Subscriptions {
    consumer_arn: String,
    sender: mpsc::Sender<Pushed>,
    pub receiver: mpsc::Receiver<Pushed>,
    /// Each shard's subscription task, by shard id.
    tasks: HashMap<String, JoinHandle<()>>,
    /// How many subscriptions were started, to tell them apart.
    started: u64,
}

impl Subscriptions {
    pub fn new(consumer_arn: String) -> Subscriptions {
        // A few events per shard in flight: the reader's caller works on one
        // batch while the next ones arrive.
        let (sender, receiver) = mpsc::channel(16);
        Subscriptions {
            consumer_arn,
            sender,
            receiver,
            tasks: HashMap::new(),
            started: 0,
        }
    }

    /// Starts pushing `shard_id`'s records from `opening` on, in place of any
    /// subscription it had; the new subscription's number.
    pub fn subscribe(&mut self, client: &Client, stream: &str, shard_id: &str, opening: Opening) -> u64 {
        self.started += 1;
        let subscription = Subscription {
            number: self.started,
            client: client.clone(),
            consumer_arn: self.consumer_arn.clone(),
            stream: stream.to_owned(),
            shard_id: shard_id.to_owned(),
            opening,
            sender: self.sender.clone(),
        };
        self.tasks.retain(|_, task| !task.is_finished());
        if let Some(before) = self
            .tasks
            .insert(shard_id.to_owned(), tokio::spawn(subscription.run()))
        {
            before.abort();
        }
        self.started
    }

    /// Stops pushing `shard_id`'s records (a shard whose lease was lost).
    pub fn unsubscribe(&mut self, shard_id: &str) {
        if let Some(task) = self.tasks.remove(shard_id) {
            task.abort();
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Registers `consumer_name` on `stream` (or finds it, registered before) and
/// waits until it is ACTIVE; its ARN.
pub async fn register_consumer(
    client: &Client,
    stream: &str,
    consumer_name: &str,
) -> Result<String, ReadError> {
    let error = |err: &dyn std::fmt::Display| ReadError::Kinesis {
        stream: stream.to_owned(),
        message: err.to_string(),
    };
    let stream_arn = crate::describe_stream(client, stream).await?.stream_arn;
    let registered = client
        .register_stream_consumer()
        .stream_arn(&stream_arn)
        .consumer_name(consumer_name)
        .send()
        .await;
    let consumer_arn = match registered {
        Ok(output) => output.consumer().map(|c| c.consumer_arn().to_owned()),
        // Registered by an earlier run: take it up again.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(RegisterStreamConsumerError::is_resource_in_use_exception) =>
        {
            None
        }
        Err(err) => return Err(error(&DisplayErrorContext(&err))),
    };
    let started = tokio::time::Instant::now();
    loop {
        let request = client.describe_stream_consumer();
        let request = match &consumer_arn {
            Some(arn) => request.consumer_arn(arn),
            None => request.stream_arn(&stream_arn).consumer_name(consumer_name),
        };
        let described = request
            .send()
            .await
            .map_err(|err| error(&DisplayErrorContext(&err)))?;
        let consumer = described
            .consumer_description()
            .ok_or_else(|| error(&"DescribeStreamConsumer returned no consumer"))?;
        match consumer.consumer_status() {
            ConsumerStatus::Active => return Ok(consumer.consumer_arn().to_owned()),
            status if started.elapsed() > REGISTRATION_PATIENCE => {
                return Err(error(&format!(
                    "consumer \"{consumer_name}\" is still {status} after {} s",
                    REGISTRATION_PATIENCE.as_secs()
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

struct Subscription {
    number: u64,
    client: Client,
    consumer_arn: String,
    stream: String,
    shard_id: String,
    opening: Opening,
    sender: mpsc::Sender<Pushed>,
}

impl Subscription {
    /// Subscribes, hands every event with records to the reader, and
    /// subscribes again when the subscription runs out, until the shard ends.
    async fn run(self) {
        let mut last_sequence = match &self.opening {
            Opening::After(sequence) => Some(sequence.clone()),
            _ => None,
        };
        let mut backoff = retry::backoff(RETRY_INTERVAL, MAX_RETRY_INTERVAL);
        loop {
            let subscribed = self
                .client
                .subscribe_to_shard()
                .consumer_arn(&self.consumer_arn)
                .shard_id(&self.shard_id)
                .starting_position(self.position(last_sequence.as_deref()))
                .send()
                .await;
            let mut output = match subscribed {
                Ok(output) => output,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(SubscribeToShardError::is_resource_not_found_exception) =>
                {
                    let gone = ReadError::StreamNotFound(self.stream.clone());
                    self.push(Err(gone)).await;
                    return;
                }
                // Another subscription to this shard is still open (the one
                // before, on its way out), or calls came too fast: try again.
                Err(err) => {
                    let wait = retry::next_wait(&mut backoff);
                    tracing::debug!(shard = %self.shard_id, "SubscribeToShard failed, trying again in {wait:?}: {}", DisplayErrorContext(&err));
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            loop {
                let event = match output.event_stream.recv().await {
                    Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event))) => event,
                    Ok(Some(_)) => continue,
                    // The subscription's 5 minutes are over: subscribe again.
                    Ok(None) => break,
                    Err(err) => {
                        tracing::debug!(shard = %self.shard_id, "the subscription broke off; subscribing again: {}", DisplayErrorContext(&err));
                        break;
                    }
                };
                backoff = retry::backoff(RETRY_INTERVAL, MAX_RETRY_INTERVAL);
                // The last event of a closed shard names its children; AWS
                // gives it no continuation, and an emulator no more records.
                let ended = !event.child_shards().is_empty()
                    && (event.continuation_sequence_number().is_empty() || event.records().is_empty());
                if event.records().is_empty() && !ended {
                    continue;
                }
                if let Some(last) = event.records().last() {
                    last_sequence = Some(last.sequence_number().to_owned());
                }
                let delivery = Delivery {
                    records: event.records().to_vec(),
                    millis_behind_latest: Some(event.millis_behind_latest()),
                    ended,
                };
                if !self.push(Ok(delivery)).await || ended {
                    return;
                }
            }
        }
    }

    /// Where a subscription starts: after the last record delivered, else
    /// where the reader asked.
    fn position(&self, last_sequence: Option<&str>) -> StartingPosition {
        let position = StartingPosition::builder();
        let after = last_sequence.or(match &self.opening {
            Opening::After(sequence) => Some(sequence.as_str()),
            _ => None,
        });
        let position = match (after, &self.opening) {
            (Some(sequence), _) => position
                .r#type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            // The reader drops the user records it was told to skip.
            (None, Opening::At(sequence)) => position
                .r#type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(sequence),
            (None, Opening::TrimHorizon | Opening::After(_)) => {
                position.r#type(ShardIteratorType::TrimHorizon)
            }
            // Renewed before any record came: what arrived since the first
            // subscription, so nothing put in between is skipped.
            (None, Opening::Latest(at) | Opening::AtTimestamp(at)) => {
                position.r#type(ShardIteratorType::AtTimestamp).timestamp(
                    aws_sdk_kinesis::primitives::DateTime::from_millis(at.timestamp_millis()),
                )
            }
        };
        position.build().expect("a starting position has its type")
    }

    /// False once the reader is gone.
    async fn push(&self, outcome: Result<Delivery, ReadError>) -> bool {
        let pushed = Pushed {
            shard_id: self.shard_id.clone(),
            subscription: self.number,
            outcome,
        };
        self.sender.send(pushed).await.is_ok()
    }
}
