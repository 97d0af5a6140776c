//! The ETL as one of several workers sharing the source's shards
//! (`kinesis-lab etl --lease-table NAME`): it reads the shards whose lease it
//! holds ([`crate::lease`]), and nothing else.
//!
//! One loop does everything, in turn: the lease work when it falls due
//! (renewals, a look for leases to take), which says which shards to start
//! and stop reading; a batch read from a shard held; the batch written, as in
//! the one-process ETL; its checkpoint saved in the lease. A checkpoint
//! refused because the lease was taken meanwhile stops the shard at once: the
//! worker that took it goes on from the last checkpoint, so at most this one
//! batch is written by both (at least once, never lost).
//!
//! A stop (Ctrl+C, SIGTERM) lets the batch in hand finish, within 10 s
//! ([`STOP_GRACE`]), saves its checkpoint and hands every lease back: the workers
//! left take them at their next look, from that checkpoint, with nothing
//! written twice. A batch that does not finish in time is left unsaved, and
//! read again by the next worker, as in the one-process ETL.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::positions::PositionStore;
use super::{EtlError, EtlOptions, Stats, process};
use crate::lease::worker::{Change, InitialPosition};
use crate::lease::{LeaseCheckpoint, LeaseSettings, LeaseTable, Worker};
use crate::shard_reader::{ShardReader, ShardStart, StartingPosition};

/// How long a stop waits for the batch in hand.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long the lease table may take to become ACTIVE when made.
const TABLE_WAIT: Duration = Duration::from_secs(60);

/// The lease table, and this worker's part in it.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub worker_id: String,
    pub settings: LeaseSettings,
}

pub(super) async fn run(
    kinesis: &aws_sdk_kinesis::Client,
    options: &EtlOptions,
    leases: &LeaseOptions,
    stop: impl std::future::Future<Output = ()>,
    mut on_batch: impl FnMut(&Stats),
) -> Result<Stats, EtlError> {
    let source = options.source.as_str();
    // The stream first: a missing one is worded as the one-process ETL
    // words it, before a table is made for it.
    let mut reader = ShardReader::open_given(kinesis.clone(), source)
        .await?
        .with_limit(10_000);
    let table = LeaseTable::ensure(leases.dynamodb.clone(), &leases.table, source, TABLE_WAIT).await?;
    let initial = match options.start {
        StartingPosition::TrimHorizon => InitialPosition::TrimHorizon,
        StartingPosition::Latest => InitialPosition::Latest,
        StartingPosition::AtTimestamp(_) => InitialPosition::AtTimestamp,
    };
    let mut worker = Worker::start(
        table,
        kinesis.clone(),
        source,
        &leases.worker_id,
        leases.settings.clone(),
        initial,
    )
    .await?;
    tracing::info!(worker = %worker.id(), table = %leases.table, "sharing {source} through a lease table");

    let mut stats = Stats::default();
    let mut stopping = false;
    tokio::pin!(stop);
    while !stopping {
        if Instant::now() >= Instant::from_std(worker.next_due()) {
            for change in worker.tick().await? {
                follow(&mut reader, change, options.start).await?;
            }
        }
        let due = Instant::from_std(worker.next_due());
        let batch = match reader.active_shards().is_empty() {
            true => tokio::select! {
                _ = sleep_until(due) => continue,
                _ = &mut stop => break,
            },
            false => tokio::select! {
                batch = reader.next_batch() => batch?,
                _ = sleep_until(due) => continue,
                _ = &mut stop => break,
            },
        };
        // A lease lost since the batch was asked for: another worker reads
        // the shard now.
        if !worker.holds(&batch.shard_id) {
            reader.drop_shard(&batch.shard_id);
            continue;
        }
        let finished = {
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
        let Some(done) = finished else {
            tracing::info!(
                shard = %batch.shard_id,
                "stopped in the middle of a batch that did not finish in time; it was not checkpointed, \
                 so the next worker reads it again"
            );
            break;
        };
        done?;
        // Only now are this batch's records safely written.
        if !worker.save(&batch).await? {
            tracing::info!(shard = %batch.shard_id, "the lease was taken meanwhile; stopped reading the shard");
            reader.drop_shard(&batch.shard_id);
        }
        on_batch(&stats);
    }
    let handed = worker.hand_back_all().await?;
    tracing::info!(worker = %worker.id(), "handed {handed} leases back");
    Ok(stats)
}

/// Starts or stops reading a shard as the leases changed.
async fn follow(reader: &mut ShardReader, change: Change, from: StartingPosition) -> Result<(), EtlError> {
    match change {
        Change::Lost { shard } => reader.drop_shard(&shard),
        Change::Gained { shard, checkpoint } => {
            let start = match checkpoint {
                LeaseCheckpoint::TrimHorizon => ShardStart::TrimHorizon,
                LeaseCheckpoint::Latest => ShardStart::Latest,
                // The time is the workers' `--from`; a worker started
                // without one reads all of the shard (at least once).
                LeaseCheckpoint::AtTimestamp => match from {
                    StartingPosition::AtTimestamp(at) => ShardStart::AtTimestamp(at),
                    _ => ShardStart::TrimHorizon,
                },
                LeaseCheckpoint::After { sequence, .. } => ShardStart::After(sequence),
                LeaseCheckpoint::ShardEnd => return Ok(()),
            };
            reader.read_shard(&shard, start).await?;
        }
    }
    Ok(())
}
