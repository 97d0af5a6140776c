//! The streaming ETL (lab step 2.2): read the source stream, enrich each
//! session, route it, write it to its destination stream.
//!
//! One pass of the loop, for each batch a shard returns:
//!
//! 1. **Parse** every record as a [`Session`](crate::session::Session). One that
//!    is not UTF-8, not JSON, or not a valid session goes to the dead-letter sink
//!    with the reason, its shard and its sequence number. It never stops the ETL.
//! 2. **Enrich** ([`enrich_bytes`]: the producer's bytes, the four keys
//!    appended) and **route** ([`Route`]) the good ones. A session
//!    that enrichment makes bigger than a Kinesis record may be (1 MiB with its
//!    partition key) is dead-lettered too: no stream could ever take it.
//! 3. **Write** each destination's records with the [batch
//!    writer](crate::batch_writer) (PutRecords, at most 500 records and 5 MiB a
//!    call, partition key `session_id`): throttled records are sent again, a
//!    record the destination refuses as invalid is dead-lettered with its
//!    reason, and a missing stream or a refused permission stops the ETL.
//! 4. **Checkpoint** the shard's position, only now that its records are
//!    written. A crash before this point means the batch is read and written
//!    again after a restart: at least once, never lost.
//!
//! Asked to stop (Ctrl+C, SIGTERM), it stops at once, even in the middle of a
//! write: the batch in hand was not checkpointed, so a restart reads it again
//! (at least once: a record may be written twice, never lost). A worker of a
//! lease table (the `workers` module) finishes that batch first, because another
//! worker, not a restart, goes on from its checkpoint.
//!
//! The original ETL put records one at a time with PutRecord and checkpointed
//! nothing; batching is what lets it keep up with a busy stream.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::batch_writer::{Entry, WriteError, put_all};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::enrich::enrich_bytes;
use crate::routing::{Destinations, Route};
use crate::shard_reader::{ReadError, ShardBatch, ShardReader, StartingPosition};
use crate::stream_name::StreamName;

mod dead_letter;
mod positions;
mod workers;

pub use crate::batch_writer::MAX_RECORD_BYTES;
pub use dead_letter::{DeadLetter, DeadLetterSink};
pub use positions::PositionStore;
pub use workers::LeaseOptions;

/// What the ETL reads, where it writes, and where it keeps its position.
#[derive(Debug, Clone)]
pub struct EtlOptions {
    pub source: StreamName,
    pub destinations: Destinations,
    pub dead_letters: DeadLetterSink,
    pub checkpoint: Option<PathBuf>,
    /// Where to start in shards the checkpoint does not know.
    pub start: StartingPosition,
    /// Read with enhanced fan-out, as this registered consumer, instead of
    /// polling with GetRecords.
    pub fan_out: Option<String>,
    /// Share the source's shards with other workers through this lease table
    /// (then `checkpoint` is unused: the checkpoints are in the leases).
    pub leases: Option<LeaseOptions>,
}

/// What the ETL has done so far; in JSON, the fields of its status events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub records_in: u64,
    #[serde(rename = "USA")]
    pub usa: u64,
    #[serde(rename = "International")]
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

impl Stats {
    /// A status line for scripts: `{"event": ..., "records_in": ..., ...}`.
    pub fn to_json(&self, event: &str) -> serde_json::Value {
        let mut line = json!({ "event": event });
        if let (Some(line), Ok(serde_json::Value::Object(stats))) =
            (line.as_object_mut(), serde_json::to_value(self))
        {
            line.extend(stats);
        }
        line
    }
}

/// Why the ETL stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A destination refused the records for good (a missing stream is
    /// [`WriteError::StreamMissing`]; the source's is the reader's
    /// [`ReadError::StreamNotFound`]).
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot write a dead letter: {0}")]
    DeadLetter(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
}

/// Runs the ETL until `stop` resolves or an error it cannot get past.
/// `on_batch` sees the stats after every batch.
///
/// A stop ends it at once, even in the middle of a batch: that batch was not
/// checkpointed, so a restart from the checkpoint reads it again. Some of its
/// records may then be written twice, none is lost: at least once, as the
/// module says (`the_etl_stops_within_5_s_while_its_writes_keep_failing`, in
/// the end-to-end tests, stops it mid-write and restarts it). With
/// `options.leases`, the worker's stop is the `workers` module's: the batch first.
pub async fn run(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    stop: impl std::future::Future<Output = ()>,
    mut on_batch: impl FnMut(&Stats),
) -> Result<Stats, EtlError> {
    if let Some(leases) = &options.leases {
        return workers::run(kinesis, options, leases, stop, on_batch).await;
    }
    let checkpoint = match &options.checkpoint {
        Some(path) => Checkpoint::load(path, options.source.as_str())?,
        None => None,
    };
    let (client, source, saved) = (
        kinesis.clone(),
        options.source.as_str(),
        checkpoint.as_ref().map(|c| &c.shards),
    );
    let mut reader = match &options.fan_out {
        Some(consumer) => ShardReader::open_fan_out(client, source, consumer, options.start, saved).await?,
        None => ShardReader::open(client, source, options.start, saved).await?,
    }
    // As many records a read as Kinesis gives: a shard is read 5 times a
    // second at most, so at 1,000 a read a busy shard would give 5,000
    // records a second, whatever the machine could do.
    .with_limit(10_000);
    let mut store = positions::CheckpointFile {
        checkpoint: checkpoint.unwrap_or_else(|| Checkpoint::new(options.source.as_str())),
        path: options.checkpoint.clone(),
    };
    // The next batches are read while this one is written: a read and a
    // write at the same time keep both cores of a small machine busy. The
    // batches still come one by one, in order, and each is checkpointed only
    // once written, so reading ahead changes nothing a restart finds.
    let (read_ahead, mut batches) = tokio::sync::mpsc::channel(2);
    let _reading = AbortOnDrop(tokio::spawn(async move {
        loop {
            let batch = reader.next_batch().await;
            let failed = batch.is_err();
            if read_ahead.send(batch).await.is_err() || failed {
                return;
            }
        }
    }));
    let mut stats = Stats::default();
    tokio::pin!(stop);
    loop {
        let batch = tokio::select! {
            batch = batches.recv() => batch.expect("the reader sends until it fails")?,
            _ = &mut stop => return Ok(stats),
        };
        tokio::select! {
            done = process(kinesis, options, &batch, &mut stats) => done?,
            _ = &mut stop => {
                tracing::info!(
                    shard = %batch.shard_id,
                    "stopped in the middle of a batch; it was not checkpointed, so a restart reads it again"
                );
                return Ok(stats);
            }
        }

        // Only now are this batch's records safely written.
        store.save(&batch).await?;
        on_batch(&stats);
    }
}

/// A task that stops when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Parses, enriches, routes and writes one batch; dead-letters what cannot go.
async fn process(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    batch: &ShardBatch,
    stats: &mut Stats,
) -> Result<(), EtlError> {
    if let Some(lag) = batch.millis_behind_latest {
        stats.lag_ms = lag;
    }
    stats.records_in += batch.records.len() as u64;

    let mut routed: BTreeMap<Route, Vec<Entry>> = BTreeMap::new();
    let mut dead = Vec::new();
    for (origin, record) in batch.records.iter().enumerate() {
        if let Some(error) = &record.aggregate_error {
            let reason = format!("a KPL aggregate (magic and MD5 right) that cannot be taken apart: {error}");
            dead.push(DeadLetter::new(&options.source, record, reason));
            continue;
        }
        match enrich_bytes(&record.data, Utc::now()) {
            Ok(enriched) => {
                let route = Route::for_country(&enriched.country);
                let entry = Entry {
                    partition_key: enriched.session_id,
                    data: enriched.data,
                    origin,
                };
                if entry.size() > MAX_RECORD_BYTES {
                    let reason = format!(
                        "session \"{}\" is {} bytes once enriched (with its partition key), over \
                         the {MAX_RECORD_BYTES} bytes (1 MiB) a Kinesis record may hold",
                        entry.partition_key,
                        entry.size()
                    );
                    dead.push(DeadLetter::new(&options.source, record, reason));
                    continue;
                }
                routed.entry(route).or_default().push(entry);
            }
            Err(reason) => dead.push(DeadLetter::new(&options.source, record, reason.to_string())),
        }
    }
    // The two destinations are written at the same time: they are different
    // streams, so no partition key's order depends on which goes first.
    let write = |route: Route, entries: Vec<Entry>| async move {
        let stream = options.destinations.stream_for(route).as_str();
        let count = entries.len() as u64;
        put_all(kinesis, stream, entries)
            .await
            .map(|written| (route, stream, count, written))
    };
    let (usa, international) = (routed.remove(&Route::Usa), routed.remove(&Route::International));
    let (usa, international) = tokio::join!(async { Some(write(Route::Usa, usa?).await) }, async {
        Some(write(Route::International, international?).await)
    },);
    for outcome in [usa, international].into_iter().flatten() {
        let (route, stream, count, written) = outcome?;
        stats.retried += written.resent;
        let refused = written.invalid.len() as u64;
        for (entry, reason) in written.invalid {
            let reason = format!("stream \"{stream}\" refused it: {reason}");
            dead.push(DeadLetter::new(
                &options.source,
                &batch.records[entry.origin],
                reason,
            ));
        }
        match route {
            Route::Usa => stats.usa += count - refused,
            Route::International => stats.international += count - refused,
        }
    }
    if !dead.is_empty() {
        stats.dead_lettered += dead.len() as u64;
        dead_letter::write(kinesis, &options.dead_letters, dead).await?;
    }
    Ok(())
}
