//! Delivery: what a delivery stream does all day, in a task of its own.
//!
//! 1. Take records in: read the Kinesis source about once a second, and soon
//!    after each put on it ([`source`]), or receive what
//!    `PutRecord`/`PutRecordBatch` were given.
//! 2. Run them through the destination's processors, if any
//!    ([`crate::firehose::processing`]).
//! 3. Buffer them until the buffering hints say "deliver" ([`buffer`]): one
//!    buffer for the records, or with dynamic partitioning one per partition
//!    ([`crate::firehose::partitioning`]), and one per kind of error record.
//! 4. Seal a buffer into an object with its final key ([`super::prefix`]), compressed if
//!    asked, and queue it.
//! 5. Write the queued objects to S3, in order. When S3 refuses (say the bucket
//!    does not exist yet), the object stays queued and is retried with growing
//!    delays: nothing is dropped, and it lands once the bucket exists.
//!
//! At shutdown the task reads its source one last time, seals what it holds and
//! writes it, so stopping the emulator loses nothing that S3 would accept.
//!
//! With a durable data directory, each written object moves the stream's
//! checkpoint on disk ([`crate::firehose::state`]) as far as the [`ledger`]
//! allows: a restart resumes after the last record that nothing holds any
//! more, so what S3 refused is delivered after the restart.

pub mod buffer;
pub mod compress;
pub mod ledger;
pub mod source;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shard_reader::retry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use self::buffer::{Batch, Buffer};
use self::ledger::Ledger;
use self::source::{KinesisSource, SourceError};
use super::destination::S3Destination;
use super::error_log;
use super::failure::Failure;
use super::lambda;
use super::partitioning::{self, Extracted, MAX_ACTIVE_PARTITIONS, PartitionKeys};
use super::prefix;
use super::processing::Processing;
use super::state::{Checkpoint, Pending, StreamState};
use crate::cloudwatch::CloudWatch;
use crate::config::FirehoseOptions;
use crate::logs::Logs;

/// One record, as Firehose received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub data: Vec<u8>,
    /// When the record reached its source; names the object it ends up in.
    pub arrival: DateTime<Utc>,
    /// Where it came from: what delivering it moves the checkpoint to.
    pub origin: Checkpoint,
}

/// Where a delivery stream's records come from.
pub enum Source {
    Kinesis(Box<KinesisSource>),
    /// Records given to `PutRecord` and `PutRecordBatch`.
    DirectPut(mpsc::UnboundedReceiver<Vec<Record>>),
}

/// How long shutdown keeps retrying S3 for the last objects.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// When queued objects hold this much, the source is not read until some are
/// written: the records wait in Kinesis instead of in memory.
const MAX_QUEUED_BYTES: usize = 256 * 1024 * 1024;

/// When the buffers together hold more than this (many partitions, each
/// filling towards 64 MiB or more), the largest is delivered early.
const MAX_BUFFERED_BYTES: usize = 256 * 1024 * 1024;

/// The error output types of error records, as `!{firehose:error-output-type}`
/// spells them.
const PROCESSING_FAILED: &str = "processing-failed";
const PARTITIONING_FAILED: &str = "partitioning-failed";

/// What a delivery holds and has done, as the console shows it.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub buffered_records: usize,
    pub buffered_bytes: usize,
    /// When the fullest buffer's interval runs out.
    pub next_write: Option<Instant>,
    /// Objects sealed and waiting for S3.
    pub queued_objects: usize,
    pub objects_written: u64,
    pub records_delivered: u64,
    pub bytes_written: u64,
    /// Error records written under the error output prefix.
    pub error_records: u64,
    /// Why S3 refuses the next object, while it does.
    pub failing: Option<String>,
    /// When each of the last minute's objects was written, and its records.
    pub recent_writes: VecDeque<(Instant, usize)>,
}

impl Status {
    /// Records delivered per second, over the last `seconds`.
    pub fn delivery_rate(&self, seconds: u64) -> f64 {
        let since = Instant::now() - Duration::from_secs(seconds);
        let records: usize = self
            .recent_writes
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, records)| records)
            .sum();
        records as f64 / seconds as f64
    }
}

/// The services a delivery writes to besides reading its source.
pub struct Services {
    /// Where objects go.
    pub s3: aws_sdk_s3::Client,
    /// Where errors go, when the destination's CloudWatch logging is on.
    pub logs: Logs,
    /// Where the `AWS/Firehose` metrics go.
    pub cloudwatch: CloudWatch,
}

/// The handle on a running delivery.
#[derive(Debug)]
pub struct Delivery {
    status: Arc<std::sync::Mutex<Status>>,
    stop: watch::Sender<bool>,
    /// UpdateDestination's new settings, for the objects sealed from now on.
    settings: watch::Sender<(Arc<S3Destination>, u64)>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Delivery {
    /// Starts delivering for the delivery stream `arn`
    /// (`arn:aws:firehose:<region>:<account>:deliverystream/<name>`).
    pub fn start(
        arn: String,
        version: u64,
        destination: Arc<S3Destination>,
        source: Source,
        services: Services,
        options: FirehoseOptions,
        state: Option<(Arc<StreamState>, Checkpoint)>,
    ) -> Delivery {
        let (stop, stopped) = watch::channel(false);
        let (settings, settings_changed) = watch::channel((destination.clone(), version));
        let (state, committed) = match state {
            Some((state, committed)) => (Some(state), committed),
            None => (None, Checkpoint::default()),
        };
        let name = arn.rsplit('/').next().unwrap_or_default().to_owned();
        let (retry_delay, max_retry_delay) = (options.retry_delay, options.max_retry_delay);
        let status = Arc::new(std::sync::Mutex::new(Status::default()));
        let worker = Worker {
            status: status.clone(),
            name,
            arn,
            settings: settings_changed,
            state,
            committed,
            ledger: Ledger::default(),
            version,
            destination,
            s3: services.s3,
            logs: services.logs,
            cloudwatch: services.cloudwatch,
            options,
            buffers: BTreeMap::new(),
            buffered_bytes: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            retry_at: None,
            retry: retry::backoff(retry_delay, max_retry_delay),
            failing: false,
            rng: StdRng::from_rng(&mut rand::rng()),
        };
        let task = tokio::spawn(worker.run(source, stopped));
        Delivery {
            status,
            stop,
            settings,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// New settings (UpdateDestination): the next object sealed has them, and
    /// the version they come with in its key.
    pub fn reconfigure(&self, destination: Arc<S3Destination>, version: u64) {
        self.settings.send_replace((destination, version));
    }

    /// What it holds and has done, now.
    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// Asks the task to deliver what it holds and stop, and waits until it has.
    pub async fn finish(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("delivery lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Stops the task at once, delivering nothing more.
    pub fn abort(&self) {
        if let Some(task) = self.task.lock().expect("delivery lock").take() {
            task.abort();
        }
    }
}

/// When a record arrived at its source, on the clock buffers keep their
/// deadlines in: the interval runs from the record's arrival, as on AWS, not
/// from when this task read it (up to a read cycle later).
fn arrived_at(arrival: DateTime<Utc>, now: Instant) -> Instant {
    let age = (Utc::now() - arrival).to_std().unwrap_or_default();
    now.checked_sub(age).unwrap_or(now)
}

/// An object sealed with its key, waiting for S3 to take it.
struct Object {
    /// The bucket of the settings the object was sealed with.
    bucket: String,
    key: String,
    body: bytes::Bytes,
    records: usize,
    /// The ticket of its oldest record ([`ledger`]).
    oldest_ticket: u64,
    /// Whether it holds error records.
    errors: bool,
    /// When its oldest record arrived: DeliveryToS3.DataFreshness.
    oldest_arrival: DateTime<Utc>,
}

/// What a buffer holds: error records of one type, or records of one
/// partition (the one partition, without dynamic partitioning).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Errors(&'static str),
    Records(PartitionKeys),
}

struct Worker {
    /// Shared with [`Delivery::status`].
    status: Arc<std::sync::Mutex<Status>>,
    name: String,
    arn: String,
    settings: watch::Receiver<(Arc<S3Destination>, u64)>,
    /// On disk, with a durable data directory.
    state: Option<Arc<StreamState>>,
    /// What S3 has taken.
    committed: Checkpoint,
    /// Which records are still held, so that `committed` never passes them.
    ledger: Ledger,
    version: u64,
    destination: Arc<S3Destination>,
    s3: aws_sdk_s3::Client,
    /// Where errors go when the destination's CloudWatch logging is on.
    logs: Logs,
    /// Where `AWS/Firehose` metrics go, with the dimension `DeliveryStreamName`.
    cloudwatch: CloudWatch,
    options: FirehoseOptions,
    /// The buffers holding records; a buffer is removed once emptied.
    buffers: BTreeMap<Target, Buffer>,
    buffered_bytes: usize,
    queue: VecDeque<Object>,
    queued_bytes: usize,
    /// When to try S3 again after a refusal.
    retry_at: Option<Instant>,
    /// How long to wait after each refusal in a row; new after a write.
    retry: retry::ExponentialBackoff,
    /// Whether the last write failed, so that a long outage is logged once.
    failing: bool,
    rng: StdRng,
}

impl Worker {
    async fn run(mut self, mut source: Source, mut stop: watch::Receiver<bool>) {
        // A source with no shard left to read wakes the task only for its buffer.
        let idle = self.options.poll_interval;
        // A put on the Kinesis source, not read yet; and when all was last read.
        let mut arrived = false;
        let mut read_all_at = Instant::now();
        loop {
            self.apply_settings();
            let reading = self.queued_bytes < MAX_QUEUED_BYTES;
            let next_read = match &source {
                Source::Kinesis(kinesis) if reading => kinesis.next_read_at(),
                _ => None,
            };
            let after_put = (arrived && reading).then_some(read_all_at + source::ARRIVAL_GAP);
            let buffers = self.buffers.values().filter_map(Buffer::deadline).min();
            let wake = [next_read, after_put, buffers, self.retry_at]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + idle);
            tokio::select! {
                _ = sleep_until(wake) => {}
                _ = stop.changed() => break,
                Some(input) = receive(&mut source, !arrived) => match input {
                    Input::Records(records) => self.take_in(records).await,
                    Input::Put => arrived = true,
                },
            }
            // Reading happens here, never inside the select: a read cut short
            // half-way would lose track of a shard.
            if let Source::Kinesis(kinesis) = &mut source
                && reading
            {
                let all = arrived && Instant::now() >= read_all_at + source::ARRIVAL_GAP;
                if all {
                    arrived = false;
                    read_all_at = Instant::now();
                }
                if !self.read(kinesis, all).await {
                    // The source stream is gone: nothing more will come.
                    break;
                }
            }
            self.seal_due(Instant::now());
            if self.retry_at.is_none_or(|at| at <= Instant::now()) {
                self.write_queue().await;
            }
            self.publish_status();
        }
        self.drain(source).await;
    }

    /// The last delivery: everything the source and the buffer still hold.
    async fn drain(mut self, mut source: Source) {
        match &mut source {
            Source::Kinesis(kinesis) => {
                self.read(kinesis, true).await;
            }
            Source::DirectPut(receiver) => {
                receiver.close();
                while let Some(records) = receiver.recv().await {
                    self.take_in(records).await;
                }
            }
        }
        self.apply_settings();
        self.seal_all();
        let deadline = Instant::now() + SHUTDOWN_DEADLINE;
        while !self.queue.is_empty() && Instant::now() < deadline {
            if let Some(at) = self.retry_at {
                sleep_until(at.min(deadline)).await;
            }
            self.write_queue().await;
        }
        if !self.queue.is_empty() {
            let records: usize = self.queue.iter().map(|o| o.records).sum();
            if self.state.is_some() {
                tracing::warn!(
                    delivery_stream = %self.name,
                    bucket = %self.destination.bucket,
                    "shutting down with {records} records that S3 did not accept; \
                     they are delivered after the next start on this data directory"
                );
            } else {
                tracing::error!(
                    delivery_stream = %self.name,
                    bucket = %self.destination.bucket,
                    "shutting down with {records} records that S3 did not accept; they are lost \
                     (the emulator's data directory is not durable)"
                );
            }
        }
    }

    /// Reads the shards of the Kinesis source whose turn has come, or all of
    /// them; false when the stream no longer exists.
    async fn read(&mut self, kinesis: &mut KinesisSource, all: bool) -> bool {
        let read = if all {
            kinesis.read_all().await
        } else {
            kinesis.read_due().await
        };
        match read {
            Ok(records) => {
                self.take_in(records).await;
                true
            }
            Err(SourceError::StreamNotFound(stream)) => {
                tracing::warn!(delivery_stream = %self.name, "source stream {stream} was deleted; stopping delivery");
                false
            }
            Err(err) => {
                tracing::warn!(delivery_stream = %self.name, "{err}; reading again shortly");
                tokio::time::sleep(self.options.poll_interval).await;
                true
            }
        }
    }

    /// Buffers records, through the destination's processors if it has any:
    /// a record they fail on goes to an error buffer as an error record.
    async fn take_in(&mut self, records: Vec<Record>) {
        self.apply_settings();
        if !records.is_empty() {
            self.metric("IncomingRecords", records.len() as f64, "Count");
        }
        let now = Instant::now();
        let first = self.ledger.take_in(records.iter().map(|record| &record.origin));
        let tickets = first..;
        let mut full = Vec::new();
        let destination = self.destination.clone();
        let Some(processing) = &destination.processing else {
            for (ticket, record) in tickets.zip(records) {
                self.push(
                    Target::Records(PartitionKeys::default()),
                    record,
                    ticket,
                    now,
                    &mut full,
                );
            }
            return self.seal_batches(full);
        };
        // The kinds of failure logged for this batch: one event each.
        let mut logged = BTreeSet::new();
        // Before the Lambda function: each record into the records it becomes,
        // all with the ticket of the record they came from.
        let mut staged: Vec<(u64, Record)> = Vec::new();
        for (ticket, record) in tickets.zip(records) {
            match processing.before_lambda(record.data.clone()) {
                Ok(parts) => staged.extend(parts.into_iter().map(|data| {
                    let part = Record {
                        data,
                        ..record.clone()
                    };
                    (ticket, part)
                })),
                Err(failure) => {
                    self.log_failure(&failure, None, &mut logged);
                    let error = error_record(&record, &failure, None);
                    self.push(Target::Errors(PROCESSING_FAILED), error, ticket, now, &mut full);
                }
            }
        }
        let outcomes = match &processing.lambda {
            Some((arn, command)) if !staged.is_empty() => {
                let region = self.arn.split(':').nth(3).unwrap_or_default().to_owned();
                let sent: Vec<lambda::Sent> = staged
                    .iter()
                    .map(|(_, r)| lambda::Sent {
                        arrival_ms: r.arrival.timestamp_millis(),
                        data: &r.data,
                    })
                    .collect();
                let outcomes = lambda::invoke(command, &self.arn, &region, &sent).await;
                outcomes.into_iter().map(|o| (o, Some(arn.as_str()))).collect()
            }
            _ => staged
                .iter()
                .map(|(_, r)| (lambda::Outcome::Ok(r.data.clone(), BTreeMap::new()), None))
                .collect::<Vec<_>>(),
        };
        for ((ticket, record), (outcome, arn)) in staged.into_iter().zip(outcomes) {
            match outcome {
                lambda::Outcome::Ok(data, lambda_keys) => {
                    let record = Record { data, ..record };
                    match self.partition(processing, &record.data, &lambda_keys) {
                        Ok(keys) => {
                            let data = processing.after_lambda(record.data);
                            let record = Record { data, ..record };
                            self.push(Target::Records(keys), record, ticket, now, &mut full);
                        }
                        Err(failure) => {
                            self.log_failure(&failure, None, &mut logged);
                            let error = error_record(&record, &failure, None);
                            self.push(Target::Errors(PARTITIONING_FAILED), error, ticket, now, &mut full);
                        }
                    }
                }
                // Dropped on purpose: nothing to write, nothing held.
                lambda::Outcome::Dropped => {}
                lambda::Outcome::Failed(failure) => {
                    self.log_failure(&failure, arn, &mut logged);
                    let error = error_record(&record, &failure, arn);
                    self.push(Target::Errors(PROCESSING_FAILED), error, ticket, now, &mut full);
                }
            }
        }
        self.seal_batches(full);
    }

    /// The partition of a record, with dynamic partitioning: its keys from the
    /// MetadataExtraction query and from the Lambda function, as the prefix
    /// uses them.
    fn partition(
        &self,
        processing: &Processing,
        data: &[u8],
        lambda_keys: &BTreeMap<String, String>,
    ) -> Result<PartitionKeys, Failure> {
        if self.destination.dynamic_partitioning.is_none() {
            return Ok(PartitionKeys::default());
        }
        let query_keys = match &processing.metadata_query {
            Some(query) => Some(query.extract(data)?),
            None => None,
        };
        let extracted = Extracted {
            query: query_keys.as_ref(),
            lambda: Some(lambda_keys),
        };
        let keys = self.destination.prefix.partition(&extracted)?;
        let target = Target::Records(keys);
        let active = self
            .buffers
            .keys()
            .filter(|t| matches!(t, Target::Records(_)))
            .count();
        if active >= MAX_ACTIVE_PARTITIONS && !self.buffers.contains_key(&target) {
            return Err(Failure {
                code: partitioning::TOO_MANY_PARTITIONS,
                message: format!(
                    "{MAX_ACTIVE_PARTITIONS} partitions are buffering already, AWS's default quota for a delivery stream"
                ),
            });
        }
        let Target::Records(keys) = target else {
            unreachable!()
        };
        Ok(keys)
    }

    /// Adds a record to the buffer of `target`, opening it if need be; what
    /// fills up lands in `full`.
    fn push(
        &mut self,
        target: Target,
        record: Record,
        ticket: u64,
        now: Instant,
        full: &mut Vec<(Target, Batch)>,
    ) {
        let (size, interval) = (self.destination.size_in_mbs, self.destination.interval_in_seconds);
        let buffer = self
            .buffers
            .entry(target.clone())
            .or_insert_with(|| Buffer::new(size, interval));
        let before = buffer.len();
        let mut batches = Vec::new();
        let arrived = arrived_at(record.arrival, now);
        buffer.push(record, ticket, arrived, &mut batches);
        self.buffered_bytes = self.buffered_bytes - before + buffer.len();
        if buffer.is_empty() {
            self.buffers.remove(&target);
        }
        full.extend(batches.into_iter().map(|batch| (target.clone(), batch)));
    }

    /// Seals the batches that filled up; then, while the buffers hold too
    /// much together, the largest of them.
    fn seal_batches(&mut self, full: Vec<(Target, Batch)>) {
        for (target, batch) in full {
            self.seal(&target, batch);
        }
        while self.buffered_bytes > MAX_BUFFERED_BYTES {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, buffer)| buffer.len())
                .map(|(target, _)| target.clone());
            match largest {
                Some(target) => self.seal_target(&target),
                None => break,
            }
        }
    }

    /// Seals every buffer whose interval has run out.
    fn seal_due(&mut self, now: Instant) {
        self.apply_settings();
        let due: Vec<Target> = self
            .buffers
            .iter()
            .filter(|(_, buffer)| buffer.is_due(now))
            .map(|(target, _)| target.clone())
            .collect();
        for target in due {
            self.seal_target(&target);
        }
    }

    fn seal_all(&mut self) {
        let all: Vec<Target> = self.buffers.keys().cloned().collect();
        for target in all {
            self.seal_target(&target);
        }
    }

    fn seal_target(&mut self, target: &Target) {
        if let Some(mut buffer) = self.buffers.remove(target) {
            self.buffered_bytes -= buffer.len();
            if let Some(batch) = buffer.take() {
                self.seal(target, batch);
            }
        }
    }

    /// Takes UpdateDestination's settings, if any came: the buffers' hints
    /// change now, and the next object sealed has the new key, bucket and
    /// compression. New partition keys seal what is buffered first, with the
    /// settings it was buffered under.
    fn apply_settings(&mut self) {
        if self.settings.has_changed().unwrap_or(false) {
            let (destination, version) = self.settings.borrow_and_update().clone();
            if destination
                .prefix
                .partition_keys()
                .ne(self.destination.prefix.partition_keys())
            {
                self.seal_all();
            }
            for buffer in self.buffers.values_mut() {
                buffer.set_hints(destination.size_in_mbs, destination.interval_in_seconds);
            }
            tracing::info!(delivery_stream = %self.name, version, "destination updated");
            self.destination = destination;
            self.version = version;
        }
    }

    /// Gives a batch its key and final bytes, and queues it for S3; error
    /// records go under the error prefix.
    fn seal(&mut self, target: &Target, batch: Batch) {
        let no_keys = PartitionKeys::default();
        let (prefix, error_type, keys) = match target {
            Target::Errors(error_type) => (&self.destination.error_prefix, Some(*error_type), &no_keys),
            Target::Records(keys) => (&self.destination.prefix, None, keys),
        };
        let key = prefix::object_key(
            prefix,
            error_type,
            keys,
            &self.name,
            self.version,
            batch.oldest_arrival,
            &self.destination.file_extension,
            &mut self.rng,
        );
        let entry = key.rsplit('/').next().unwrap_or(&key);
        let entry = entry
            .strip_suffix(self.destination.file_extension.as_str())
            .unwrap_or(entry);
        let body = compress::compress(self.destination.compression, batch.body, entry);
        self.queued_bytes += body.len();
        self.queue.push_back(Object {
            bucket: self.destination.bucket.clone(),
            key,
            body: body.into(),
            records: batch.records,
            oldest_ticket: batch.oldest_ticket,
            errors: error_type.is_some(),
            oldest_arrival: batch.oldest_arrival,
        });
    }

    /// Publishes one value of an `AWS/Firehose` metric of this stream.
    fn metric(&self, name: &str, value: f64, unit: &str) {
        self.cloudwatch.record(
            "AWS/Firehose",
            name,
            ("DeliveryStreamName", &self.name),
            value,
            unit,
        );
    }

    /// Writes an error event to the destination's log stream, if logging is on.
    fn log_error(&self, code: &str, message: &str, processor: Option<&str>) {
        let error = error_log::Error {
            delivery_stream_arn: &self.arn,
            destination_arn: &self.destination.bucket_arn,
            version: self.version,
            code,
            message,
            processor,
        };
        error_log::write(&self.logs, &self.destination.cloud_watch_logging, &error);
    }

    /// Logs a processing failure, once per kind of failure in a batch: a
    /// batch of 500 bad records is one event, not 500.
    fn log_failure(&self, failure: &Failure, processor: Option<&str>, logged: &mut BTreeSet<&'static str>) {
        if logged.insert(failure.code) {
            self.log_error(failure.code, &failure.message, processor);
        }
    }

    /// Updates what [`Delivery::status`] shows.
    fn publish_status(&self) {
        let mut status = self.status.lock().expect("status lock");
        status.buffered_records = self.buffers.values().map(Buffer::records).sum();
        status.buffered_bytes = self.buffered_bytes;
        status.next_write = self.buffers.values().filter_map(Buffer::deadline).min();
        status.queued_objects = self.queue.len();
    }

    /// The oldest ticket held in a buffer or in the queue, the first `skip`
    /// queued objects left out.
    fn oldest_held(&self, skip: usize) -> Option<u64> {
        let buffered = self.buffers.values().filter_map(Buffer::oldest_ticket);
        let queued = self.queue.iter().skip(skip).map(|object| object.oldest_ticket);
        buffered.chain(queued).min()
    }

    /// Writes queued objects in order until the queue is empty or S3 refuses one.
    async fn write_queue(&mut self) {
        while let Some(object) = self.queue.front() {
            if let Some(state) = &self.state {
                let pending = Pending {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    checkpoint: self.ledger.preview(&self.committed, self.oldest_held(1)),
                };
                if let Err(err) = state.prepare(&self.committed, pending) {
                    tracing::error!(delivery_stream = %self.name, "cannot note the next object on disk: {err}");
                }
            }
            let result = self
                .s3
                .put_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .body(ByteStream::from(object.body.clone()))
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(
                        delivery_stream = %self.name,
                        bucket = %self.destination.bucket,
                        key = %object.key,
                        records = object.records,
                        bytes = object.body.len(),
                        "delivered"
                    );
                    self.queued_bytes -= object.body.len();
                    if !object.errors {
                        let freshness = (Utc::now() - object.oldest_arrival).num_seconds().max(0);
                        self.metric("DeliveryToS3.Records", object.records as f64, "Count");
                        self.metric("DeliveryToS3.Success", 1.0, "None");
                        self.metric("DeliveryToS3.DataFreshness", freshness as f64, "Seconds");
                    }
                    {
                        let mut status = self.status.lock().expect("status lock");
                        status.objects_written += 1;
                        status.bytes_written += object.body.len() as u64;
                        match object.errors {
                            true => status.error_records += object.records as u64,
                            false => {
                                status.records_delivered += object.records as u64;
                                let now = Instant::now();
                                status.recent_writes.push_back((now, object.records));
                                while status
                                    .recent_writes
                                    .front()
                                    .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(60))
                                {
                                    status.recent_writes.pop_front();
                                }
                            }
                        }
                        status.failing = None;
                    }
                    self.queue.pop_front();
                    let oldest = self.oldest_held(0);
                    self.ledger.settle(&mut self.committed, oldest);
                    if let Some(state) = &self.state
                        && let Err(err) = state.commit(&self.committed)
                    {
                        tracing::error!(delivery_stream = %self.name, "cannot save the delivery position: {err}");
                    }
                    if self.failing {
                        tracing::info!(delivery_stream = %self.name, "S3 accepts writes again");
                    }
                    self.failing = false;
                    self.retry_at = None;
                    self.retry = retry::backoff(self.options.retry_delay, self.options.max_retry_delay);
                }
                Err(err) => {
                    use aws_sdk_s3::error::ProvideErrorMetadata;
                    // Every failed attempt is an event, as on AWS: the log
                    // shows how long the bucket has been refusing.
                    let code = format!("S3.{}", err.code().unwrap_or("ServiceUnavailable"));
                    let message = err
                        .message()
                        .map(str::to_owned)
                        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
                    self.log_error(&code, &message, None);
                    self.metric("DeliveryToS3.Success", 0.0, "None");
                    let wait = retry::next_wait(&mut self.retry);
                    self.status.lock().expect("status lock").failing =
                        Some(DisplayErrorContext(&err).to_string());
                    if !self.failing {
                        tracing::warn!(
                            delivery_stream = %self.name,
                            bucket = %self.destination.bucket,
                            "S3 refused a delivery, keeping it and retrying: {}",
                            DisplayErrorContext(&err)
                        );
                    }
                    self.failing = true;
                    self.retry_at = Some(Instant::now() + wait);
                    return;
                }
            }
        }
    }
}

/// The next records put directly; never resolves for a Kinesis source.
/// What wakes a delivery task besides its timers.
enum Input {
    /// Records given to PutRecord or PutRecordBatch.
    Records(Vec<Record>),
    /// A put on the Kinesis source's stream, to read.
    Put,
}

/// The next records of a DirectPut source, or (when `puts`) the next put on a
/// Kinesis source's stream.
async fn receive(source: &mut Source, puts: bool) -> Option<Input> {
    match source {
        Source::DirectPut(receiver) => receiver.recv().await.map(Input::Records),
        Source::Kinesis(kinesis) if puts => {
            kinesis.arrived().await;
            Some(Input::Put)
        }
        Source::Kinesis(_) => std::future::pending().await,
    }
}

/// An error record, as AWS writes one for a record that failed processing:
/// one JSON object a line, with the record's bytes in base64.
fn error_record(record: &Record, failure: &Failure, lambda_arn: Option<&str>) -> Record {
    use base64::Engine;
    let mut error = serde_json::json!({
        "attemptsMade": 1,
        "arrivalTimestamp": record.arrival.timestamp_millis(),
        "errorCode": failure.code,
        "errorMessage": failure.message,
        "attemptEndingTimestamp": chrono::Utc::now().timestamp_millis(),
        "rawData": base64::engine::general_purpose::STANDARD.encode(&record.data),
    });
    if let Some(arn) = lambda_arn {
        error["lambdaArn"] = arn.into();
    }
    let mut line = error.to_string().into_bytes();
    line.push(b'\n');
    Record {
        data: line,
        arrival: record.arrival,
        origin: Checkpoint::default(),
    }
}
