//! Delivery: what a delivery stream does all day, in a task of its own.
//!
//! 1. Take records in: read the Kinesis source about once a second
//!    ([`source`]), or receive what `PutRecord`/`PutRecordBatch` were given.
//! 2. Buffer them until the buffering hints say "deliver" ([`buffer`]).
//! 3. Seal the buffer into an object with its final key ([`key`]), gzipped if
//!    asked, and queue it.
//! 4. Write the queued objects to S3, in order. When S3 refuses (say the bucket
//!    does not exist yet), the object stays queued and is retried with growing
//!    delays: nothing is dropped, and it lands once the bucket exists.
//!
//! At shutdown the task reads its source one last time, seals what it holds and
//! writes it, so stopping the emulator loses nothing that S3 would accept.
//!
//! With a durable data directory, each written object moves the stream's
//! checkpoint on disk ([`crate::firehose::state`]): a restart resumes after the
//! last record S3 took, so what S3 refused is delivered after the restart.

pub mod buffer;
pub mod compress;
pub mod key;
pub mod source;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use self::buffer::{Batch, Buffer};
use self::source::{KinesisSource, SourceError};
use super::destination::S3Destination;
use super::lambda;
use super::state::{Checkpoint, Pending, StreamState};
use crate::config::FirehoseOptions;

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

/// The handle on a running delivery.
#[derive(Debug)]
pub struct Delivery {
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
        s3: aws_sdk_s3::Client,
        options: FirehoseOptions,
        state: Option<(Arc<StreamState>, Checkpoint)>,
    ) -> Delivery {
        let (stop, stopped) = watch::channel(false);
        let (settings, settings_changed) = watch::channel((destination.clone(), version));
        let buffer = Buffer::new(destination.size_in_mbs, destination.interval_in_seconds);
        let errors = Buffer::new(destination.size_in_mbs, destination.interval_in_seconds);
        let (state, committed) = match state {
            Some((state, committed)) => (Some(state), committed),
            None => (None, Checkpoint::default()),
        };
        let name = arn.rsplit('/').next().unwrap_or_default().to_owned();
        let worker = Worker {
            name,
            arn,
            settings: settings_changed,
            state,
            sealed: committed.clone(),
            committed,
            version,
            destination,
            s3,
            options,
            buffer,
            errors,
            queue: VecDeque::new(),
            queued_bytes: 0,
            retry_at: None,
            retry_delay: Duration::ZERO,
            failing: false,
            rng: StdRng::from_rng(&mut rand::rng()),
        };
        let task = tokio::spawn(worker.run(source, stopped));
        Delivery {
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

/// An object sealed with its key, waiting for S3 to take it.
struct Object {
    /// The bucket of the settings the object was sealed with.
    bucket: String,
    key: String,
    body: bytes::Bytes,
    records: usize,
    /// The checkpoint once this object and those before it are written.
    checkpoint: Checkpoint,
}

struct Worker {
    name: String,
    arn: String,
    settings: watch::Receiver<(Arc<S3Destination>, u64)>,
    /// On disk, with a durable data directory.
    state: Option<Arc<StreamState>>,
    /// What S3 has taken.
    committed: Checkpoint,
    /// What the sealed objects cover, written or not.
    sealed: Checkpoint,
    version: u64,
    destination: Arc<S3Destination>,
    s3: aws_sdk_s3::Client,
    options: FirehoseOptions,
    buffer: Buffer,
    /// Error records of records the processors failed on.
    errors: Buffer,
    queue: VecDeque<Object>,
    queued_bytes: usize,
    /// When to try S3 again after a refusal.
    retry_at: Option<Instant>,
    retry_delay: Duration,
    /// Whether the last write failed, so that a long outage is logged once.
    failing: bool,
    rng: StdRng,
}

impl Worker {
    async fn run(mut self, mut source: Source, mut stop: watch::Receiver<bool>) {
        // A source with no shard left to read wakes the task only for its buffer.
        let idle = self.options.poll_interval;
        loop {
            self.apply_settings();
            let next_read = match &source {
                Source::Kinesis(kinesis) if self.queued_bytes < MAX_QUEUED_BYTES => kinesis.next_read_at(),
                _ => None,
            };
            let wake = [
                next_read,
                self.buffer.deadline(),
                self.errors.deadline(),
                self.retry_at,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + idle);
            tokio::select! {
                _ = sleep_until(wake) => {}
                _ = stop.changed() => break,
                Some(records) = receive(&mut source) => self.take_in(records).await,
            }
            // Reading happens here, never inside the select: a read cut short
            // half-way would lose track of a shard.
            if let Source::Kinesis(kinesis) = &mut source
                && self.queued_bytes < MAX_QUEUED_BYTES
                && !self.read(kinesis, false).await
            {
                // The source stream is gone: nothing more will come.
                break;
            }
            if self.buffer.is_due(Instant::now()) || self.errors.is_due(Instant::now()) {
                self.seal_buffer();
            }
            if self.retry_at.is_none_or(|at| at <= Instant::now()) {
                self.write_queue().await;
            }
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
        self.seal_buffer();
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
    /// a record they fail on goes to the error buffer as an error record.
    async fn take_in(&mut self, records: Vec<Record>) {
        let now = Instant::now();
        let mut full = Vec::new();
        let mut errors_full = Vec::new();
        let Some(processing) = self.destination.processing.clone() else {
            for record in records {
                self.buffer.push(record, now, &mut full);
            }
            self.seal_full(full, errors_full);
            return;
        };
        // Before the Lambda function: each record into the records it becomes.
        // Like an aggregate's user records, only the last of them moves the
        // checkpoint. (A record processed into nothing, a CloudWatch control
        // message, moves it with the next one.)
        let mut staged: Vec<Record> = Vec::new();
        for record in records {
            match processing.before_lambda(record.data.clone()) {
                Ok(parts) => {
                    let last = parts.len().saturating_sub(1);
                    for (index, data) in parts.into_iter().enumerate() {
                        let origin = if index == last {
                            record.origin.clone()
                        } else {
                            Default::default()
                        };
                        staged.push(Record {
                            data,
                            origin,
                            ..record.clone()
                        });
                    }
                }
                Err(failure) => {
                    let data = error_record(&record, &failure, None);
                    self.errors.push(Record { data, ..record }, now, &mut errors_full);
                }
            }
        }
        let outcomes = match &processing.lambda {
            Some((arn, command)) if !staged.is_empty() => {
                let region = self.arn.split(':').nth(3).unwrap_or_default().to_owned();
                let sent: Vec<lambda::Sent> = staged
                    .iter()
                    .map(|r| lambda::Sent {
                        arrival_ms: r.arrival.timestamp_millis(),
                        data: &r.data,
                    })
                    .collect();
                let outcomes = lambda::invoke(command, &self.arn, &region, &sent).await;
                outcomes.into_iter().map(|o| (o, Some(arn.as_str()))).collect()
            }
            _ => staged
                .iter()
                .map(|r| (lambda::Outcome::Ok(r.data.clone()), None))
                .collect::<Vec<_>>(),
        };
        for (record, (outcome, arn)) in staged.into_iter().zip(outcomes) {
            match outcome {
                lambda::Outcome::Ok(data) => {
                    let data = processing.after_lambda(data);
                    self.buffer.push(Record { data, ..record }, now, &mut full);
                }
                // Dropped on purpose: nothing to write. (Its place in the source
                // moves the checkpoint with the next record written.)
                lambda::Outcome::Dropped => {}
                lambda::Outcome::Failed(failure) => {
                    let data = error_record(&record, &failure, arn);
                    self.errors.push(Record { data, ..record }, now, &mut errors_full);
                }
            }
        }
        self.seal_full(full, errors_full);
    }

    /// Seals the batches that filled up, each with what the other buffer holds.
    fn seal_full(&mut self, full: Vec<Batch>, errors_full: Vec<Batch>) {
        for batch in full {
            let errors = self.errors.take();
            self.seal_pair(errors, Some(batch));
        }
        for batch in errors_full {
            let records = self.buffer.take();
            self.seal_pair(Some(batch), records);
        }
    }

    fn seal_buffer(&mut self) {
        let (errors, records) = (self.errors.take(), self.buffer.take());
        self.seal_pair(errors, records);
    }

    /// Seals the error buffer and the record buffer together, errors first.
    /// Records of one shard may be in both: the first object's checkpoint
    /// stays where it was, and the second one's covers both, so that a resume
    /// after the first object never skips records of the second.
    fn seal_pair(&mut self, errors: Option<Batch>, records: Option<Batch>) {
        match (errors, records) {
            (Some(mut errors), Some(mut records)) => {
                let mut both = std::mem::take(&mut errors.checkpoint);
                both.advance(&records.checkpoint);
                records.checkpoint = both;
                self.seal(errors, true);
                self.seal(records, false);
            }
            (Some(errors), None) => self.seal(errors, true),
            (None, Some(records)) => self.seal(records, false),
            (None, None) => {}
        }
    }

    /// Takes UpdateDestination's settings, if any came: the buffer's hints
    /// change now, and the next object sealed has the new key, bucket and
    /// compression.
    fn apply_settings(&mut self) {
        if self.settings.has_changed().unwrap_or(false) {
            let (destination, version) = self.settings.borrow_and_update().clone();
            self.buffer
                .set_hints(destination.size_in_mbs, destination.interval_in_seconds);
            self.errors
                .set_hints(destination.size_in_mbs, destination.interval_in_seconds);
            tracing::info!(delivery_stream = %self.name, version, "destination updated");
            self.destination = destination;
            self.version = version;
        }
    }

    /// Gives a batch its key and final bytes, and queues it for S3; error
    /// records go under the error prefix.
    fn seal(&mut self, batch: Batch, errors: bool) {
        self.apply_settings();

        let (prefix, error_type) = match errors {
            true => (&self.destination.error_prefix, Some("processing-failed")),
            false => (&self.destination.prefix, None),
        };
        let key = key::object_key(
            prefix,
            error_type,
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
        self.sealed.advance(&batch.checkpoint);
        self.queue.push_back(Object {
            bucket: self.destination.bucket.clone(),
            key,
            body: body.into(),
            records: batch.records,
            checkpoint: self.sealed.clone(),
        });
    }

    /// Writes queued objects in order until the queue is empty or S3 refuses one.
    async fn write_queue(&mut self) {
        while let Some(object) = self.queue.front() {
            if let Some(state) = &self.state {
                let pending = Pending {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    checkpoint: object.checkpoint.clone(),
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
                    self.committed = object.checkpoint.clone();
                    if let Some(state) = &self.state
                        && let Err(err) = state.commit(&self.committed)
                    {
                        tracing::error!(delivery_stream = %self.name, "cannot save the delivery position: {err}");
                    }
                    self.queue.pop_front();
                    if self.failing {
                        tracing::info!(delivery_stream = %self.name, "S3 accepts writes again");
                    }
                    self.failing = false;
                    self.retry_at = None;
                    self.retry_delay = Duration::ZERO;
                }
                Err(err) => {
                    self.retry_delay = if self.retry_delay.is_zero() {
                        self.options.retry_delay
                    } else {
                        (self.retry_delay * 2).min(self.options.max_retry_delay)
                    };
                    if !self.failing {
                        tracing::warn!(
                            delivery_stream = %self.name,
                            bucket = %self.destination.bucket,
                            "S3 refused a delivery, keeping it and retrying: {}",
                            DisplayErrorContext(&err)
                        );
                    }
                    self.failing = true;
                    self.retry_at = Some(Instant::now() + self.retry_delay);
                    return;
                }
            }
        }
    }
}

/// The next records put directly; never resolves for a Kinesis source.
async fn receive(source: &mut Source) -> Option<Vec<Record>> {
    match source {
        Source::DirectPut(receiver) => receiver.recv().await,
        Source::Kinesis(_) => std::future::pending().await,
    }
}

/// An error record, as AWS writes one for a record that failed processing:
/// one JSON object a line, with the record's bytes in base64.
fn error_record(
    record: &Record,
    failure: &crate::firehose::processing::Failure,
    lambda_arn: Option<&str>,
) -> Vec<u8> {
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
    line
}
