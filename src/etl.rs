//! The streaming ETL (lab step 2.2): read the source stream, enrich each
//! session, route it, write it to its destination stream.
//!
//! One pass of the loop, for each batch a shard returns:
//!
//! 1. **Parse** every record as a [`Session`]. One that is not UTF-8, not JSON,
//!    or not a valid session goes to the dead-letter sink with the reason, its
//!    shard and its sequence number. It never stops the ETL.
//! 2. **Enrich** ([`enrich`]) and **route** ([`Route`]) the good ones.
//! 3. **Write** each destination's records with PutRecords, at most 500 records
//!    and 5 MB a call, partition key `session_id`. When Kinesis refuses some of
//!    them (throttling, a partial failure), only those are sent again, after a
//!    growing pause, until every one is in.
//! 4. **Checkpoint** the shard's position, only now that its records are
//!    written. A crash before this point means the batch is read and written
//!    again after a restart: at least once, never lost.
//!
//! The original ETL put records one at a time with PutRecord and checkpointed
//! nothing; batching is what lets it keep up with a busy stream.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use base64::Engine;
use chrono::Utc;
use serde_json::json;

use crate::checkpoint::{Checkpoint, ShardPosition};
use crate::enrich::enrich;
use crate::routing::{Destinations, Route};
use crate::session::Session;
use crate::shard_reader::{ReadError, ReadRecord, ShardReader, StartingPosition};
use crate::stream_name::StreamName;

/// Kinesis's limits for one PutRecords call.
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// The first pause before resending refused records; it doubles up to the max.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What the ETL reads, where it writes, and where it keeps its position.
#[derive(Debug, Clone)]
pub struct EtlOptions {
    pub source: StreamName,
    pub destinations: Destinations,
    pub dead_letters: DeadLetterSink,
    pub checkpoint: Option<PathBuf>,
    /// Where to start in shards the checkpoint does not know.
    pub start: StartingPosition,
}

/// Where records that are not valid sessions go.
#[derive(Debug, Clone)]
pub enum DeadLetterSink {
    Stream(StreamName),
    /// One JSON object per line, appended.
    File(PathBuf),
}

/// What the ETL has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub records_in: u64,
    pub usa: u64,
    pub international: u64,
    pub dead_lettered: u64,
    /// Records Kinesis refused at first and took on a later try.
    pub retried: u64,
    /// The latest `MillisBehindLatest` of any shard.
    pub lag_ms: i64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "in {} | USA {} | International {} | dead-lettered {} | retried {} | lag {} ms",
            self.records_in, self.usa, self.international, self.dead_lettered, self.retried, self.lag_ms
        )
    }
}

/// Why the ETL stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot write to stream \"{stream}\": {message}")]
    Write { stream: String, message: String },
    #[error("cannot write a dead letter: {0}")]
    DeadLetter(String),
    #[error(transparent)]
    Checkpoint(#[from] anyhow::Error),
}

/// One record on its way to a stream.
struct Entry {
    partition_key: String,
    data: Vec<u8>,
}

/// Runs the ETL until `stop` resolves (then it finishes the batch in hand) or
/// an error it cannot get past. `on_batch` sees the stats after every batch.
pub async fn run(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    stop: impl std::future::Future<Output = ()>,
    mut on_batch: impl FnMut(&Stats),
) -> Result<Stats, EtlError> {
    let mut checkpoint = match &options.checkpoint {
        Some(path) => Checkpoint::load(path, options.source.as_str())?,
        None => None,
    };
    let mut reader = ShardReader::open(
        kinesis.clone(),
        options.source.as_str(),
        options.start,
        checkpoint.as_ref(),
    )
    .await?;
    let checkpoint = checkpoint.get_or_insert_with(|| Checkpoint::new(options.source.as_str()));
    let mut stats = Stats::default();
    tokio::pin!(stop);
    loop {
        let batch = tokio::select! {
            batch = reader.next_batch() => batch?,
            _ = &mut stop => return Ok(stats),
        };
        if let Some(lag) = batch.millis_behind_latest {
            stats.lag_ms = lag;
        }
        stats.records_in += batch.records.len() as u64;

        // Ordered by route, so that USA is always written first.
        let mut routed: BTreeMap<Route, Vec<Entry>> = BTreeMap::new();
        let mut dead = Vec::new();
        for record in &batch.records {
            match Session::from_slice(&record.data) {
                Ok(session) => {
                    let route = Route::of(&session);
                    let partition_key = session.session_id.clone();
                    let enriched = enrich(session, Utc::now());
                    let data = serde_json::to_vec(&enriched).expect("a JSON map serializes");
                    routed
                        .entry(route)
                        .or_default()
                        .push(Entry { partition_key, data });
                }
                Err(reason) => dead.push(dead_letter(options.source.as_str(), record, &reason.to_string())),
            }
        }
        for (route, entries) in routed {
            let count = entries.len() as u64;
            stats.retried +=
                put_all(kinesis, options.destinations.stream_for(route).as_str(), entries).await?;
            match route {
                Route::Usa => stats.usa += count,
                Route::International => stats.international += count,
            }
        }
        if !dead.is_empty() {
            stats.dead_lettered += dead.len() as u64;
            write_dead_letters(kinesis, &options.dead_letters, dead).await?;
        }

        // Only now are this batch's records safely written.
        let position = match (batch.ended, batch.records.last()) {
            (true, _) => Some(ShardPosition::Finished),
            (false, Some(last)) => Some(ShardPosition::After(last.sequence_number.clone())),
            (false, None) => None,
        };
        if let Some(position) = position {
            checkpoint.shards.insert(batch.shard_id.clone(), position);
            if let Some(path) = &options.checkpoint {
                checkpoint.save(path)?;
            }
        }
        on_batch(&stats);
    }
}

/// Writes every entry, resending only what Kinesis refused, until all are in.
/// Returns how many were resent.
async fn put_all(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    entries: Vec<Entry>,
) -> Result<u64, EtlError> {
    let mut pending = entries;
    let mut delay = FIRST_RETRY_DELAY;
    let mut resent = 0;
    while !pending.is_empty() {
        let mut refused = Vec::new();
        let mut rest = pending.into_iter().peekable();
        while rest.peek().is_some() {
            // A call of at most 500 records and 5 MB (key and data both count).
            let mut chunk = Vec::new();
            let mut bytes = 0;
            while let Some(entry) = rest.peek() {
                let size = entry.data.len() + entry.partition_key.len();
                if chunk.len() == MAX_BATCH_RECORDS || (!chunk.is_empty() && bytes + size > MAX_BATCH_BYTES) {
                    break;
                }
                bytes += size;
                chunk.push(rest.next().expect("peeked"));
            }
            refused.extend(put_chunk(kinesis, stream, chunk).await?);
        }
        if !refused.is_empty() {
            resent += refused.len() as u64;
            tracing::debug!(
                stream,
                refused = refused.len(),
                "resending refused records in {delay:?}"
            );
            tokio::time::sleep(jittered(delay)).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
        pending = refused;
    }
    Ok(resent)
}

/// One PutRecords call; returns the entries to send again.
async fn put_chunk(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    chunk: Vec<Entry>,
) -> Result<Vec<Entry>, EtlError> {
    let request_entries: Vec<PutRecordsRequestEntry> = chunk
        .iter()
        .map(|entry| {
            PutRecordsRequestEntry::builder()
                .partition_key(&entry.partition_key)
                .data(Blob::new(entry.data.clone()))
                .build()
                .expect("data and partition key are set")
        })
        .collect();
    match kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(request_entries))
        .send()
        .await
    {
        // Results come in the order of the entries; a result with an error code
        // is a record that was not written.
        Ok(output) => Ok(chunk
            .into_iter()
            .zip(output.records())
            .filter(|(_, result)| result.error_code().is_some())
            .map(|(entry, _)| entry)
            .collect()),
        Err(err) if err.code() == Some("ResourceNotFoundException") => Err(EtlError::Write {
            stream: stream.to_owned(),
            message: "the stream does not exist; run `kinesis-lab infra up`".to_owned(),
        }),
        Err(err)
            if err.code() == Some("ValidationException")
                || err.code() == Some("InvalidArgumentException") =>
        {
            Err(EtlError::Write {
                stream: stream.to_owned(),
                message: DisplayErrorContext(&err).to_string(),
            })
        }
        Err(err) => {
            // Throttled as a whole, or no answer: the whole call is sent again.
            tracing::warn!(
                stream,
                "PutRecords failed, sending again: {}",
                DisplayErrorContext(&err)
            );
            Ok(chunk)
        }
    }
}

/// A pause of 50% to 100% of `delay`, so that writers do not retry in step.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

fn dead_letter(source: &str, record: &ReadRecord, reason: &str) -> serde_json::Value {
    json!({
        "reason": reason,
        "source_stream": source,
        "shard_id": record.shard_id,
        "sequence_number": record.sequence_number,
        "partition_key": record.partition_key,
        "data_base64": base64::engine::general_purpose::STANDARD.encode(&record.data),
    })
}

async fn write_dead_letters(
    kinesis: &aws_sdk_kinesis::Client,
    sink: &DeadLetterSink,
    letters: Vec<serde_json::Value>,
) -> Result<(), EtlError> {
    match sink {
        DeadLetterSink::Stream(stream) => {
            let entries = letters
                .iter()
                .map(|letter| Entry {
                    partition_key: letter["sequence_number"]
                        .as_str()
                        .unwrap_or("dead-letter")
                        .to_owned(),
                    data: letter.to_string().into_bytes(),
                })
                .collect();
            put_all(kinesis, stream.as_str(), entries).await?;
            Ok(())
        }
        DeadLetterSink::File(path) => {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| EtlError::DeadLetter(format!("{}: {err}", path.display())))?;
            let mut text = String::new();
            for letter in &letters {
                text.push_str(&letter.to_string());
                text.push('\n');
            }
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|err| EtlError::DeadLetter(format!("{}: {err}", path.display())))
        }
    }
}
