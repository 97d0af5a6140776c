//! A worker's leases kept by a task of their own (`kinesis-lab etl
//! --lease-table`, lab step 2.2 at scale): renewed and looked after on the
//! KCL's schedule, whatever the batch in hand is doing.
//!
//! Why a task: a batch can take longer to write than the failover time (up to
//! 10,000 records into a destination that takes 1,000 a second per shard). If
//! the leases were renewed only between batches, the other workers would take
//! every lease of a worker that is alive and busy, and write its batch a
//! second time. The KCL renews from a thread of its own for the same reason.
//!
//! The task tells the reader what to read through a channel ([`Held`]): a
//! shard gained, with where its checkpoint says to start and a generation
//! number, or a shard lost. A batch carries the generation it was read in, so
//! a batch read before its lease was lost and taken again is never taken for
//! one of the new lease ([`Renewer::holds`]).
//!
//! The lease table may be out of reach for a while: a failed tick is logged
//! and tried again at the next one, and the worker lets a lease go only once
//! it has gone a failover time without a renewal, as then another worker may
//! take it. Nothing about the table ends the worker once it has started.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::{Mutex, Notify, mpsc};
use tokio::time::{Instant, sleep_until};

use super::worker::{Change, Worker};
use super::{LeaseCheckpoint, LeaseError};

/// A change to the shards this worker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Read `shard` from `checkpoint`; batches of it carry `generation`.
    Gained {
        shard: String,
        checkpoint: LeaseCheckpoint,
        generation: u64,
    },
    /// Stop reading `shard`.
    Lost { shard: String },
}

/// The task that keeps a worker's leases, and the worker, shared with the
/// ETL's checkpoints.
pub struct Renewer {
    worker: Arc<Mutex<Worker>>,
    /// The generation of each shard held, as the task last said.
    held: Arc<StdMutex<HashMap<String, u64>>>,
    changes: mpsc::UnboundedSender<Held>,
    /// Wakes the task before its next tick is due (a shard ended: its
    /// children's leases are to be taken now).
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Renewer {
    /// Starts keeping `worker`'s leases; the changes to read come on the
    /// receiver, the first of them at once.
    pub fn start(worker: Worker) -> (Renewer, mpsc::UnboundedReceiver<Held>) {
        let (changes, receiver) = mpsc::unbounded_channel();
        let worker = Arc::new(Mutex::new(worker));
        let held = Arc::new(StdMutex::new(HashMap::new()));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(keep(worker.clone(), held.clone(), changes.clone(), wake.clone()));
        let renewer = Renewer {
            worker,
            held,
            changes,
            wake,
            task,
        };
        (renewer, receiver)
    }

    /// Whether the lease of `shard` is still held in `generation`: a batch
    /// read in it may be written and checkpointed.
    pub fn holds(&self, shard: &str, generation: u64) -> bool {
        self.held.lock().expect("never poisoned").get(shard) == Some(&generation)
    }

    /// Whether this worker holds the lease of `shard`, in any generation.
    pub fn holds_any(&self, shard: &str) -> bool {
        self.held.lock().expect("never poisoned").contains_key(shard)
    }

    /// Saves that `shard` is written up to `checkpoint`. `false` when the
    /// lease is no longer this worker's: the shard is dropped from the reader.
    pub async fn checkpoint(&self, shard: &str, checkpoint: &LeaseCheckpoint) -> Result<bool, LeaseError> {
        let saved = self.worker.lock().await.checkpoint(shard, checkpoint).await?;
        if !saved {
            self.lost(shard);
        }
        Ok(saved)
    }

    /// `shard` was read to its end: its lease says so and is let go, and
    /// the task looks for its children's leases at once.
    pub async fn shard_ended(&self, shard: &str) -> Result<(), LeaseError> {
        self.worker.lock().await.shard_ended(shard).await?;
        self.held.lock().expect("never poisoned").remove(shard);
        self.wake.notify_one();
        Ok(())
    }

    /// Stops the task and hands every lease back, so that the other workers
    /// take them at their next look; how many were handed back.
    pub async fn stop(self) -> Result<usize, LeaseError> {
        let Renewer { worker, task, .. } = self;
        // The task may be in the middle of a tick: once aborted, it lets the
        // worker go at its next await.
        task.abort();
        let _ = task.await;
        let mut worker = worker.lock().await;
        let handed = worker.hand_back_all().await;
        if let Ok(handed) = &handed {
            tracing::info!(worker = %worker.id(), "handed {handed} leases back");
        }
        handed
    }

    fn lost(&self, shard: &str) {
        self.held.lock().expect("never poisoned").remove(shard);
        let _ = self.changes.send(Held::Lost {
            shard: shard.to_owned(),
        });
    }
}

/// The task: ticks as the worker's schedule says, and passes on what changed.
async fn keep(
    worker: Arc<Mutex<Worker>>,
    held: Arc<StdMutex<HashMap<String, u64>>>,
    changes: mpsc::UnboundedSender<Held>,
    wake: Arc<Notify>,
) {
    let mut generation = 0;
    loop {
        let tick = {
            let mut worker = worker.lock().await;
            let mut tick = worker.tick().await;
            if let Some(err) = &tick.error {
                tracing::warn!(worker = %worker.id(), "{err}; trying again at the next tick");
                tick.changes.extend(worker.let_expired_go());
            }
            (tick.changes, Instant::from_std(worker.next_due()))
        };
        let (ticked, due) = tick;
        for change in ticked {
            let change = match change {
                Change::Gained { shard, checkpoint } => {
                    generation += 1;
                    held.lock()
                        .expect("never poisoned")
                        .insert(shard.clone(), generation);
                    Held::Gained {
                        shard,
                        checkpoint,
                        generation,
                    }
                }
                Change::Lost { shard } => {
                    held.lock().expect("never poisoned").remove(&shard);
                    Held::Lost { shard }
                }
            };
            if changes.send(change).is_err() {
                return; // The reader is gone.
            }
        }
        tokio::select! {
            _ = sleep_until(due) => {}
            _ = wake.notified() => {}
        }
    }
}
