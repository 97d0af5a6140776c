//! Where the ETL keeps how far it has written each shard, and which shards it
//! reads: one concept, two stores behind one trait, one loop for both.
//!
//! - A checkpoint file (`--checkpoint FILE`, or memory only without it), for
//!   one process that reads every shard ([`crate::checkpoint`]).
//! - The lease table (`--lease-table NAME`), for workers that share the
//!   stream, each reading the shards whose lease it holds ([`crate::lease`]):
//!   the checkpoint is in the lease, and the leases are kept by a task of
//!   their own ([`Renewer`]).
//!
//! Either way a position is saved only once the batch up to it is written.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{EtlError, EtlOptions};
use crate::checkpoint::{Checkpoint, ShardPosition};
use crate::lease::worker::InitialPosition;
use crate::lease::{Held, LeaseCheckpoint, LeaseSettings, LeaseTable, Renewer, SharedStream, Worker};
use crate::shard_reader::{ShardBatch, StartingPosition, describe_stream};

/// How long a lease table may take to become ACTIVE when made, or to go
/// when `--forget-checkpoint` deletes it.
const TABLE_WAIT: Duration = Duration::from_secs(60);

/// The lease table, and this worker's part in it.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub worker_id: String,
    pub settings: LeaseSettings,
    /// Delete the table first, and start over from `--from`.
    pub forget: bool,
}

/// Where a batch's shard is written up to, once the batch is.
pub fn written_to(batch: &ShardBatch) -> Option<ShardPosition> {
    match (batch.ended, batch.records.last()) {
        (true, _) => Some(ShardPosition::Finished),
        (false, Some(last)) => Some(ShardPosition::After(last.sequence_number.clone())),
        (false, None) => None,
    }
}

/// A store of positions, and of which shards to read.
#[allow(async_fn_in_trait)]
pub trait PositionStore {
    /// The changes to the shards to read, as they come; `None` for a store
    /// whose reader reads every shard, always.
    fn changes(&mut self) -> Option<mpsc::UnboundedReceiver<Held>>;

    /// Whether a batch of `shard`, read in `generation` of its lease, may
    /// still be written and saved.
    fn holds(&self, shard: &str, generation: u64) -> bool;

    /// Saves that `batch`'s shard is written up to its end. `false` when this
    /// process may no longer say so: the shard's lease is another worker's,
    /// who goes on from the last position saved.
    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, EtlError>;

    /// The ETL is stopping, whatever the reason: lets go of what the store
    /// holds (the leases, handed back for the others to take at once).
    async fn close(self);
}

/// The checkpoint file of a process that reads every shard: no path for an
/// ETL run without `--checkpoint`, which keeps its positions in memory only.
pub struct CheckpointFile {
    pub checkpoint: Checkpoint,
    pub path: Option<PathBuf>,
}

impl CheckpointFile {
    /// The positions saved in `--checkpoint`, or none.
    pub fn load(options: &EtlOptions) -> Result<CheckpointFile, EtlError> {
        let source = options.source.as_str();
        let saved = match &options.checkpoint {
            Some(path) => Checkpoint::load(path, source)?,
            None => None,
        };
        Ok(CheckpointFile {
            checkpoint: saved.unwrap_or_else(|| Checkpoint::new(source)),
            path: options.checkpoint.clone(),
        })
    }
}

impl PositionStore for CheckpointFile {
    fn changes(&mut self) -> Option<mpsc::UnboundedReceiver<Held>> {
        None
    }

    fn holds(&self, _: &str, _: u64) -> bool {
        true
    }

    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, EtlError> {
        if let Some(position) = written_to(batch) {
            self.checkpoint.shards.insert(batch.shard_id.clone(), position);
            if let Some(path) = &self.path {
                self.checkpoint.save(path)?;
            }
        }
        Ok(true)
    }

    async fn close(self) {}
}

/// This worker's leases in the lease table.
pub struct Leases {
    renewer: Renewer,
    changes: Option<mpsc::UnboundedReceiver<Held>>,
}

impl Leases {
    /// Joins the lease table of `options.source` (made if missing, refused
    /// if it keeps another stream's leases), makes the leases of shards that
    /// have none, and starts keeping this worker's.
    pub async fn start(
        kinesis: &aws_sdk_kinesis::Client,
        options: &EtlOptions,
        leases: &LeaseOptions,
    ) -> Result<Leases, EtlError> {
        let source = options.source.as_str();
        // The stream first: a missing one is worded as for the checkpoint
        // file's ETL, before a table is made for it.
        let summary = describe_stream(kinesis, source).await?;
        let shared = SharedStream {
            name: source.to_owned(),
            created: summary.stream_creation_timestamp.as_secs_f64(),
        };
        if leases.forget && LeaseTable::delete(&leases.dynamodb, &leases.table, TABLE_WAIT).await? {
            tracing::info!(table = %leases.table, "deleted the lease table and its checkpoints: starting over");
        }
        let table = LeaseTable::ensure(leases.dynamodb.clone(), &leases.table, &shared, TABLE_WAIT).await?;
        let initial = match options.start {
            StartingPosition::TrimHorizon => InitialPosition::TrimHorizon,
            StartingPosition::Latest => InitialPosition::Latest,
            StartingPosition::AtTimestamp(_) => InitialPosition::AtTimestamp,
        };
        let worker = Worker::start(
            table,
            kinesis.clone(),
            source,
            &leases.worker_id,
            leases.settings.clone(),
            initial,
        )
        .await?;
        tracing::info!(worker = %worker.id(), table = %leases.table, "sharing {source} through a lease table");
        let (renewer, changes) = Renewer::start(worker);
        Ok(Leases {
            renewer,
            changes: Some(changes),
        })
    }
}

impl PositionStore for Leases {
    fn changes(&mut self) -> Option<mpsc::UnboundedReceiver<Held>> {
        self.changes.take()
    }

    fn holds(&self, shard: &str, generation: u64) -> bool {
        self.renewer.holds(shard, generation)
    }

    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, EtlError> {
        let shard = &batch.shard_id;
        if batch.ended {
            // The reader has let the shard go: until its lease says
            // SHARD_END, its children are read by nobody. So this is tried
            // until it is saved, or the lease is let go (a failover time
            // without renewal), when the next holder reads the shard's end.
            loop {
                match self.renewer.shard_ended(shard).await {
                    Ok(()) => return Ok(true),
                    Err(err) if self.renewer.holds_any(shard) => {
                        tracing::warn!(shard = %shard, "{err}; trying again in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(err) => {
                        tracing::warn!(shard = %shard, "{err}; the lease is let go, and its next holder ends it");
                        return Ok(false);
                    }
                }
            }
        }
        let Some(last) = batch.records.last() else {
            return Ok(true);
        };
        // A batch ends on a whole Kinesis record: its last user record is the
        // last of its aggregate. The sub-sequence number says so, as the KCL
        // writes it, for a KCL worker that takes the lease over.
        let checkpoint = LeaseCheckpoint::After {
            sequence: last.sequence_number.clone(),
            sub_sequence: last.sub_sequence.unwrap_or(0),
        };
        match self.renewer.checkpoint(shard, &checkpoint).await {
            Ok(saved) => Ok(saved),
            // The lease table out of reach: the batch is written, and the
            // next checkpoint of the shard covers it. Were this worker to die
            // first, the next holder would write it again: at least once.
            Err(err) => {
                tracing::warn!(shard = %shard, "{err}; the next checkpoint of the shard covers this batch");
                Ok(true)
            }
        }
    }

    async fn close(self) {
        if let Err(err) = self.renewer.stop().await {
            tracing::warn!(
                "{err}; the leases this worker still holds are taken by the others once they expire"
            );
        }
    }
}
