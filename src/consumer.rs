//! The lab's consumer (step 1.3): every record of every shard, handed over one
//! by one, until a limit, the end of every shard, or a stop. `kinesis-lab
//! consume` prints what it is handed; the reading is the shard reader's.

use std::collections::HashSet;
use std::future::Future;

use crate::shard_reader::{ReadError, ReadRecord, ShardReader};

/// When [`consume`] stops, besides being stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// After this many records.
    pub limit: Option<u64>,
    /// Once every shard has been read to its end, instead of waiting for more.
    pub to_the_end: bool,
}

/// What [`consume`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumed {
    pub records: u64,
    pub shards: HashSet<String>,
}

/// Why [`consume`] stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The caller could not take a record (a closed pipe, say).
    #[error("cannot hand a record over")]
    Output(#[source] std::io::Error),
}

/// Reads `reader` and hands each record to `on_record`, in each shard's order.
pub async fn consume(
    reader: &mut ShardReader,
    options: ConsumeOptions,
    stop: impl Future<Output = ()>,
    mut on_record: impl FnMut(&ReadRecord) -> std::io::Result<()>,
) -> Result<Consumed, ConsumeError> {
    let mut consumed = Consumed::default();
    let mut caught_up = HashSet::new();
    tokio::pin!(stop);
    loop {
        let batch = tokio::select! {
            batch = reader.next_batch() => batch?,
            _ = &mut stop => return Ok(consumed),
        };
        for record in &batch.records {
            on_record(record).map_err(ConsumeError::Output)?;
            consumed.records += 1;
            consumed.shards.insert(record.shard_id.clone());
            if options.limit.is_some_and(|limit| consumed.records >= limit) {
                return Ok(consumed);
            }
        }
        if options.to_the_end {
            if batch.reached_the_end(reader.limit()) {
                caught_up.insert(batch.shard_id.clone());
            }
            if reader
                .active_shards()
                .iter()
                .all(|shard| caught_up.contains(*shard))
            {
                return Ok(consumed);
            }
        }
    }
}
