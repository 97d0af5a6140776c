//! Where the ETL keeps how far it has written each shard: one concept, two
//! stores behind one trait.
//!
//! - A checkpoint file (`--checkpoint FILE`), for one process that reads every
//!   shard ([`crate::checkpoint`]).
//! - The lease table (`--lease-table NAME`), for workers that share the
//!   stream, each reading the shards whose lease it holds
//!   ([`crate::lease::Worker`]): the checkpoint is in the lease.
//!
//! Either way a position is saved only once the batch up to it is written.

use std::path::PathBuf;

use crate::checkpoint::{Checkpoint, CheckpointError, ShardPosition};
use crate::lease::{LeaseCheckpoint, LeaseError, Worker};
use crate::shard_reader::ShardBatch;

/// Where a batch's shard is written up to, once the batch is.
pub fn written_to(batch: &ShardBatch) -> Option<ShardPosition> {
    match (batch.ended, batch.records.last()) {
        (true, _) => Some(ShardPosition::Finished),
        (false, Some(last)) => Some(ShardPosition::After(last.sequence_number.clone())),
        (false, None) => None,
    }
}

/// A store of positions.
#[allow(async_fn_in_trait)]
pub trait PositionStore {
    type Error;

    /// Saves that `batch`'s shard is written up to its end. `false` when this
    /// process may no longer say so: the shard's lease is another worker's,
    /// who goes on from the last position saved.
    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, Self::Error>;
}

/// The checkpoint file of a process that reads every shard: `None` for an
/// ETL run without `--checkpoint`, which keeps its positions in memory only.
pub struct CheckpointFile {
    pub checkpoint: Checkpoint,
    pub path: Option<PathBuf>,
}

impl PositionStore for CheckpointFile {
    type Error = CheckpointError;

    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, CheckpointError> {
        if let Some(position) = written_to(batch) {
            self.checkpoint.shards.insert(batch.shard_id.clone(), position);
            if let Some(path) = &self.path {
                self.checkpoint.save(path)?;
            }
        }
        Ok(true)
    }
}

impl PositionStore for Worker {
    type Error = LeaseError;

    async fn save(&mut self, batch: &ShardBatch) -> Result<bool, LeaseError> {
        if batch.ended {
            self.shard_ended(&batch.shard_id).await?;
            return Ok(true);
        }
        let Some(last) = batch.records.last() else {
            return Ok(self.holds(&batch.shard_id));
        };
        // A batch ends on a whole Kinesis record: its last user record is the
        // last of its aggregate, and resuming after the record loses none.
        let checkpoint = LeaseCheckpoint::After {
            sequence: last.sequence_number.clone(),
            sub_sequence: last.sub_sequence.unwrap_or(0),
        };
        self.checkpoint(&batch.shard_id, &checkpoint).await
    }
}
