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
//! The positions are kept, and the shards to read chosen, by one of two
//! stores ([`positions`]): a checkpoint file for one process that reads every
//! shard, or a lease table for workers that share the stream. One loop serves
//! both, reading by polling or by enhanced fan-out.
//!
//! Asked to stop (Ctrl+C, SIGTERM), it lets the batch in hand finish for a
//! few seconds and saves its position; one whose writes do not finish in
//! time is not saved, so a restart (or the worker that takes the lease)
//! reads it again (at least once: a record may be written twice, never
//! lost). A lease table's leases are handed back however the ETL stops.
//!
//! The original ETL put records one at a time with PutRecord and checkpointed
//! nothing; batching is what lets it keep up with a busy stream.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use crate::batch_writer::{Entry, WriteError, put_all};
use crate::checkpoint::CheckpointError;
use crate::enrich::enrich_bytes;
use crate::lease::{Held, LeaseCheckpoint};
use crate::routing::{Destinations, Route};
use crate::shard_reader::{ReadError, ShardBatch, ShardReader, ShardStart, StartingPosition};
use crate::stream_name::StreamName;

mod dead_letter;
mod positions;

pub use crate::batch_writer::MAX_RECORD_BYTES;
pub use dead_letter::{DeadLetter, DeadLetterSink};
pub use positions::{LeaseOptions, PositionStore};

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
/// One loop, whatever reads and whatever keeps the positions: every shard
/// with a checkpoint file, or the shards whose lease this worker holds with
/// a lease table ([`PositionStore`]); polling, or enhanced fan-out.
///
/// A stop lets the batch in hand finish, for [`STOP_GRACE`] at most, and
/// saves its position. A batch that does not finish in time (its writes keep
/// failing) is left unsaved and read again after a restart, or by the worker
/// that takes the lease: some of its records may then be written twice, none
/// is lost (`the_etl_stops_within_5_s_while_its_writes_keep_failing`, in the
/// end-to-end tests, stops it mid-write and restarts it). However the ETL
/// ends, a lease table's leases are handed back.
pub async fn run(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    stop: impl std::future::Future<Output = ()>,
    on_batch: impl FnMut(&Stats),
) -> Result<Stats, EtlError> {
    let source = options.source.as_str();
    match &options.leases {
        None => {
            let store = positions::CheckpointFile::load(options)?;
            let (client, saved) = (kinesis.clone(), Some(&store.checkpoint.shards));
            let reader = match &options.fan_out {
                Some(consumer) => {
                    ShardReader::open_fan_out(client, source, consumer, options.start, saved).await?
                }
                None => ShardReader::open(client, source, options.start, saved).await?,
            };
            run_with(kinesis, options, reader, store, stop, on_batch).await
        }
        Some(leases) => {
            let client = kinesis.clone();
            // The stream first: a missing one is worded as above, before a
            // lease table is made for it.
            let reader = match &options.fan_out {
                Some(consumer) => ShardReader::open_given_fan_out(client, source, consumer).await?,
                None => ShardReader::open_given(client, source).await?,
            };
            let store = positions::Leases::start(kinesis, options, leases).await?;
            run_with(kinesis, options, reader, store, stop, on_batch).await
        }
    }
}

/// How long a stop waits for the batch in hand.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The loop, with its reader and its store; the store is closed however the
/// loop ends.
async fn run_with<S: PositionStore>(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    reader: ShardReader,
    mut store: S,
    stop: impl std::future::Future<Output = ()>,
    mut on_batch: impl FnMut(&Stats),
) -> Result<Stats, EtlError> {
    // As many records a read as Kinesis gives: a shard is read 5 times a
    // second at most, so at 1,000 a read a busy shard would give 5,000
    // records a second, whatever the machine could do.
    let reader = reader.with_limit(10_000);
    // The next batches are read while this one is written: a read and a
    // write at the same time keep both cores of a small machine busy. The
    // batches still come one by one, in order, and each is saved only once
    // written, so reading ahead changes nothing a restart finds.
    let (read_ahead, mut batches) = mpsc::channel(2);
    let _reading = AbortOnDrop(tokio::spawn(read(
        reader,
        store.changes(),
        read_ahead,
        options.start,
    )));
    let mut stats = Stats::default();
    let outcome = async {
        tokio::pin!(stop);
        loop {
            let (generation, batch) = tokio::select! {
                batch = batches.recv() => batch.expect("the reader sends until it fails")?,
                _ = &mut stop => return Ok(()),
            };
            // Read before its lease was lost: another worker reads the shard now.
            if !store.holds(&batch.shard_id, generation) {
                continue;
            }
            let mut stopping = false;
            let done = {
                let processing = process(kinesis, options, &batch, &mut stats);
                tokio::pin!(processing);
                tokio::select! {
                    done = &mut processing => Some(done),
                    _ = &mut stop => {
                        stopping = true;
                        tokio::time::timeout(STOP_GRACE, &mut processing).await.ok()
                    }
                }
            };
            let Some(done) = done else {
                tracing::info!(
                    shard = %batch.shard_id,
                    "stopped in the middle of a batch that did not finish in time; it was not saved, \
                     so it is read again after a restart, or by the worker that takes the lease"
                );
                return Ok(());
            };
            done?;
            // Only now are this batch's records safely written.
            if !store.save(&batch).await? {
                tracing::info!(shard = %batch.shard_id, "the lease was taken meanwhile; stopped reading the shard");
            }
            on_batch(&stats);
            if stopping {
                return Ok(());
            }
        }
    }
    .await;
    store.close().await;
    outcome.map(|()| stats)
}

/// The reading task: batches in order, each with the generation of the
/// shard's lease it was read in, until the loop is gone or a read fails; the
/// shards read change as the store says.
async fn read(
    mut reader: ShardReader,
    mut changes: Option<mpsc::UnboundedReceiver<Held>>,
    batches: mpsc::Sender<Result<(u64, ShardBatch), EtlError>>,
    from: StartingPosition,
) {
    let follows_leases = changes.is_some();
    let mut generations: HashMap<String, u64> = HashMap::new();
    loop {
        // A reader of every shard reads on until its stream has none left (an
        // error); a worker with no lease waits for one.
        let reading = !follows_leases || !reader.active_shards().is_empty();
        let event = tokio::select! {
            change = async {
                match &mut changes {
                    Some(changes) => changes.recv().await,
                    None => std::future::pending().await,
                }
            } => Err(change),
            batch = reader.next_batch(), if reading => Ok(batch),
        };
        let outcome = match event {
            Ok(Ok(batch)) => {
                let generation = generations.get(&batch.shard_id).copied().unwrap_or(0);
                Ok((generation, batch))
            }
            Ok(Err(err)) => Err(err.into()),
            Err(Some(Held::Lost { shard })) => {
                reader.drop_shard(&shard);
                continue;
            }
            Err(Some(Held::Gained {
                shard,
                checkpoint,
                generation,
            })) => {
                generations.insert(shard.clone(), generation);
                // Read again from its checkpoint, even if it was being read:
                // the lease may have been another's in between.
                reader.drop_shard(&shard);
                let Some(start) = shard_start(checkpoint, from) else {
                    continue;
                };
                match reader.read_shard(&shard, start).await {
                    Ok(()) => continue,
                    Err(err) => Err(err.into()),
                }
            }
            // The store is closing.
            Err(None) => {
                changes = None;
                continue;
            }
        };
        let failed = outcome.is_err();
        if batches.send(outcome).await.is_err() || failed {
            return;
        }
    }
}

/// Where to start reading a shard whose lease was just taken; `None` for a
/// shard read to its end.
fn shard_start(checkpoint: LeaseCheckpoint, from: StartingPosition) -> Option<ShardStart> {
    Some(match checkpoint {
        LeaseCheckpoint::TrimHorizon => ShardStart::TrimHorizon,
        LeaseCheckpoint::Latest => ShardStart::Latest,
        // The time is the workers' `--from`; a worker started without one
        // reads all of the shard (at least once).
        LeaseCheckpoint::AtTimestamp => match from {
            StartingPosition::AtTimestamp(at) => ShardStart::AtTimestamp(at),
            _ => ShardStart::TrimHorizon,
        },
        // The KCL's resume: at the checkpoint's record, without its user
        // records up to the checkpoint's sub-sequence number. A KCL worker
        // may checkpoint in the middle of a KPL aggregate; this ETL's own
        // checkpoints are at an aggregate's last user record, so the whole
        // record is skipped.
        LeaseCheckpoint::After {
            sequence,
            sub_sequence,
        } => ShardStart::AtSubSequence {
            sequence,
            through_sub_sequence: sub_sequence,
        },
        LeaseCheckpoint::ShardEnd => return None,
    })
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
