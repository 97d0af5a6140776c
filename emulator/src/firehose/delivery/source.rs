//! Reading a Kinesis source as Firehose does: every shard, from `LATEST` as of
//! the delivery stream's creation, about once a second when idle, following
//! the shards a reshard creates; after a restart, from its checkpoint.
//!
//! The reading itself is the workspace's shard reader, the one the lab's
//! consumer and ETL use: children are read only once their parents are read to
//! their end (the order every Kinesis consumer must keep, and the one the lab's
//! original consumer broke), expired iterators resume after the last record,
//! throttled shards wait, and KPL aggregates are taken apart before they are
//! buffered, as AWS's Firehose does with a Kinesis source. This module only
//! turns its records into Firehose's.
//!
//! A put on the stream wakes the delivery stream too ([`KinesisSource::arrived`]):
//! it then reads every shard at once, at most every [`ARRIVAL_GAP`], so that a
//! buffer that reaches its size is written within that much of the put that
//! filled it, not up to a read cycle later.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use chrono::{DateTime, Utc};
use shard_reader::{ReadError, ReadRecord, ShardBatch, ShardPosition, ShardReader, StartingPosition};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Record;
use crate::firehose::state::Checkpoint;

/// Kinesis returns at most 10,000 records per GetRecords.
const GET_RECORDS_LIMIT: i32 = 10_000;

/// How soon after one read a put may wake the delivery stream to read again.
pub const ARRIVAL_GAP: Duration = Duration::from_millis(50);

/// The reading position in every shard of one source stream.
pub struct KinesisSource {
    reader: ShardReader,
    /// Moves on with every put on the stream.
    arrivals: Option<watch::Receiver<u64>>,
}

impl std::fmt::Debug for KinesisSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisSource")
            .field("stream", &self.reader.stream())
            .field("shards", &self.reader.active_shards())
            .finish()
    }
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kinesis stream {0} not found")]
    StreamNotFound(String),
    #[error("Kinesis stream {stream} is {status}, not ACTIVE")]
    NotActive { stream: String, status: String },
    #[error("cannot read Kinesis stream {stream}: {message}")]
    Kinesis { stream: String, message: String },
}

impl KinesisSource {
    /// Positions a reader at the end of every open shard: what is put from now
    /// on is delivered, what was put before is not. Idle shards are read every
    /// `idle` (AWS's Firehose reads about once a second).
    pub async fn open_at_latest(
        client: Client,
        stream: &str,
        idle: Duration,
    ) -> Result<KinesisSource, SourceError> {
        let summary = shard_reader::describe_stream(&client, stream)
            .await
            .map_err(source_error)?;
        let status = summary.stream_status().as_str().to_owned();
        if status != "ACTIVE" && status != "UPDATING" {
            return Err(SourceError::NotActive {
                stream: stream.to_owned(),
                status,
            });
        }
        let reader = ShardReader::open(client, stream, StartingPosition::Latest, None)
            .await
            .map_err(source_error)?;
        Ok(KinesisSource::with(reader, idle))
    }

    /// After a restart: every shard from just after the last record delivered
    /// from it, or, for a shard nothing was delivered from, from the delivery
    /// stream's creation. Parents are still read before their children.
    pub async fn resume(
        client: Client,
        stream: &str,
        created_at: DateTime<Utc>,
        delivered: &BTreeMap<String, String>,
        idle: Duration,
    ) -> Result<KinesisSource, SourceError> {
        let positions = delivered
            .iter()
            .map(|(shard, sequence)| (shard.clone(), ShardPosition::After(sequence.clone())))
            .collect();
        let reader = ShardReader::open(
            client,
            stream,
            StartingPosition::AtTimestamp(created_at),
            Some(&positions),
        )
        .await
        .map_err(source_error)?;
        Ok(KinesisSource::with(reader, idle))
    }

    fn with(reader: ShardReader, idle: Duration) -> KinesisSource {
        KinesisSource {
            reader: reader.with_limit(GET_RECORDS_LIMIT).with_idle_interval(idle),
            arrivals: None,
        }
    }

    /// Wakes [`KinesisSource::arrived`] on every put on the stream.
    pub fn woken_by(mut self, arrivals: watch::Receiver<u64>) -> KinesisSource {
        self.arrivals = Some(arrivals);
        self
    }

    /// Resolves when the stream took a put since [`KinesisSource::read_all`]
    /// last read it; never, without [`KinesisSource::woken_by`].
    pub async fn arrived(&mut self) {
        let Some(arrivals) = &mut self.arrivals else {
            return std::future::pending().await;
        };
        if arrivals.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// When the next shard is due to be read.
    pub fn next_read_at(&self) -> Option<Instant> {
        self.reader.next_read_at()
    }

    /// Reads the shards that are due, and returns what they held.
    pub async fn read_due(&mut self) -> Result<Vec<Record>, SourceError> {
        self.reader.read_due().await.map(records).map_err(source_error)
    }

    /// Reads every shard once: after a put, or the last read before stopping.
    pub async fn read_all(&mut self) -> Result<Vec<Record>, SourceError> {
        // Seen before reading: a put from now on wakes `arrived` again.
        if let Some(arrivals) = &mut self.arrivals {
            arrivals.borrow_and_update();
        }
        self.reader.read_all().await.map(records).map_err(source_error)
    }
}

fn records(batches: Vec<ShardBatch>) -> Vec<Record> {
    let now = Utc::now();
    batches
        .into_iter()
        .flat_map(|batch| batch.records)
        .map(|read: ReadRecord| {
            // A position inside a KPL aggregate would skip the rest of it on
            // resuming: only an aggregate's last user record moves the checkpoint.
            let mut origin = Checkpoint::default();
            if read.completes_record {
                origin.shards.insert(read.shard_id, read.sequence_number);
            }
            Record {
                data: read.data,
                arrival: read.arrival.unwrap_or(now),
                origin,
            }
        })
        .collect()
}

fn source_error(err: ReadError) -> SourceError {
    match err {
        ReadError::StreamNotFound(stream) => SourceError::StreamNotFound(stream),
        // The reader's own words already name the stream: keep only AWS's.
        ReadError::Kinesis { stream, message } => SourceError::Kinesis { stream, message },
        other => SourceError::Kinesis {
            stream: match &other {
                ReadError::NoShards(stream) | ReadError::UnknownPosition { stream, .. } => stream.clone(),
                ReadError::StreamNotFound(_) | ReadError::Kinesis { .. } => unreachable!("matched above"),
            },
            message: other.to_string(),
        },
    }
}
