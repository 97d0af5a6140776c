//! One worker's leases over time: the leases made for the stream's shards
//! (parents before children), renewed, taken and stolen as [`super::balance`]
//! decides, checkpointed after each batch written, and handed back when the
//! worker stops, so that another takes them at once.
//!
//! The worker says what changed ([`Change`]): the shards it now holds, with
//! where to start in each, and those it lost. The ETL reads exactly the
//! shards it holds; [`super::renewer`] runs the worker's schedule in a task
//! of its own.
//!
//! A renewal that fails (the table out of reach, a throttle) is tried again
//! at the next tick; the lease is kept meanwhile, for as long as no other
//! worker may take it: once a lease has gone a failover time without a
//! renewal, this worker lets go of it, because any other may now take it.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use rand::seq::SliceRandom;

use super::balance::{self, Observer};
use super::{Lease, LeaseCheckpoint, LeaseError, LeaseSettings, LeaseTable};
use crate::aws_error::{self, AwsError};

/// What a look at the table changed for this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A shard to read now, from its lease's checkpoint.
    Gained {
        shard: String,
        checkpoint: LeaseCheckpoint,
    },
    /// A shard to stop reading: its lease is another worker's.
    Lost { shard: String },
}

/// Where a worker starts in a shard whose lease has no checkpoint yet and
/// no parent in the table: the ETL's `--from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPosition {
    TrimHorizon,
    Latest,
    AtTimestamp,
}

/// A lease held, and when its counter last moved for this worker.
struct Held {
    lease: Lease,
    renewed: Instant,
}

impl Held {
    fn new(lease: Lease) -> Held {
        Held {
            lease,
            renewed: Instant::now(),
        }
    }
}

/// What one tick did: the changes, and the first error met on the way (the
/// rest of the tick went on without it).
#[derive(Debug, Default)]
pub struct Tick {
    pub changes: Vec<Change>,
    pub error: Option<LeaseError>,
}

/// One worker of a lease table.
pub struct Worker {
    table: LeaseTable,
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    id: String,
    settings: LeaseSettings,
    initial: InitialPosition,
    /// The leases this worker holds, as it last wrote them.
    held: BTreeMap<String, Held>,
    observer: Observer,
    next_renew: Instant,
    next_take: Instant,
}

impl Worker {
    /// A worker `id` of `table`, for the shards of `stream`: their leases
    /// are made now, for those that have none yet.
    pub async fn start(
        table: LeaseTable,
        kinesis: aws_sdk_kinesis::Client,
        stream: &str,
        id: &str,
        settings: LeaseSettings,
        initial: InitialPosition,
    ) -> Result<Worker, LeaseError> {
        let now = Instant::now();
        let worker = Worker {
            table,
            kinesis,
            stream: stream.to_owned(),
            id: id.to_owned(),
            settings,
            initial,
            held: BTreeMap::new(),
            observer: Observer::default(),
            next_renew: now,
            next_take: now,
        };
        let leases = worker.table.scan().await?;
        worker.make_leases(&leases).await?;
        Ok(worker)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn table(&self) -> &LeaseTable {
        &self.table
    }

    /// Whether this worker holds the lease of `shard`.
    pub fn holds(&self, shard: &str) -> bool {
        self.held.contains_key(shard)
    }

    /// The shards this worker holds.
    pub fn shards(&self) -> Vec<String> {
        self.held.keys().cloned().collect()
    }

    /// When the next renewal or look at the table is due.
    pub fn next_due(&self) -> Instant {
        self.next_renew.min(self.next_take)
    }

    /// Renews, and looks for leases to take, as each falls due. An error
    /// does not end the tick: the next one tries again.
    pub async fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        let now = Instant::now();
        if now >= self.next_renew {
            let (lost, error) = self.renew().await;
            tick.changes.extend(lost);
            tick.error = error;
            self.next_renew = now + self.settings.renew_every;
        }
        if now >= self.next_take {
            match self.take().await {
                Ok(changes) => tick.changes.extend(changes),
                Err(err) => tick.error = tick.error.or(Some(err)),
            }
            self.next_take = now + self.settings.take_every;
        }
        tick
    }

    /// Moves the counter of every lease held on; those that were taken in
    /// the meantime are lost, and so are those whose renewals have failed
    /// for a failover time. The first error met, if any.
    pub async fn renew(&mut self) -> (Vec<Change>, Option<LeaseError>) {
        let mut lost = Vec::new();
        let mut error = None;
        for (shard, held) in &mut self.held {
            match self.table.renew(&held.lease, &self.id).await {
                Ok(Some(renewed)) => *held = Held::new(renewed),
                Ok(None) => lost.push(shard.clone()),
                Err(err) => {
                    if held.renewed.elapsed() >= self.settings.failover_time {
                        tracing::warn!(
                            shard = %shard, worker = %self.id,
                            "no renewal for the failover time: another worker may take the lease now"
                        );
                        lost.push(shard.clone());
                    }
                    error.get_or_insert(err);
                }
            }
        }
        (self.forget(lost), error)
    }

    /// Notes that the table is out of reach for now: leases not renewed for
    /// a failover time are let go, as [`Worker::renew`] would.
    pub fn let_expired_go(&mut self) -> Vec<Change> {
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, held)| held.renewed.elapsed() >= self.settings.failover_time)
            .map(|(shard, _)| shard.clone())
            .collect();
        self.forget(expired)
    }

    /// Looks at the table: makes the leases of new shards, then takes and
    /// steals as the balance decides.
    pub async fn take(&mut self) -> Result<Vec<Change>, LeaseError> {
        let mut leases = self.table.scan().await?;
        if self.make_leases(&leases).await? {
            leases = self.table.scan().await?;
        }
        let expired = self
            .observer
            .observe(&leases, Instant::now(), self.settings.failover_time);
        // A lease held here that the table says is another's was lost.
        let lost: Vec<String> = self
            .held
            .keys()
            .filter(|shard| {
                leases
                    .iter()
                    .find(|lease| &lease.key == *shard)
                    .is_none_or(|lease| lease.owner.as_deref() != Some(&self.id))
            })
            .cloned()
            .collect();
        let mut changes = self.forget(lost);
        let decision = balance::decide(&leases, &self.id, &expired, self.settings.max_steal, |keys| {
            keys.shuffle(&mut rand::rng())
        });
        for key in decision.take.iter().chain(&decision.steal) {
            let Some(lease) = leases.iter().find(|lease| &lease.key == key) else {
                continue;
            };
            if let Some(taken) = self.table.take(lease, &self.id).await? {
                tracing::info!(shard = %key, worker = %self.id, from = ?lease.owner, "took a lease");
                changes.push(Change::Gained {
                    shard: key.clone(),
                    checkpoint: taken.checkpoint.clone(),
                });
                self.held.insert(key.clone(), Held::new(taken));
            }
        }
        Ok(changes)
    }

    /// Saves that `shard` is written up to `checkpoint`. `false` when the
    /// lease was taken by another worker meanwhile: stop reading it.
    pub async fn checkpoint(
        &mut self,
        shard: &str,
        checkpoint: &LeaseCheckpoint,
    ) -> Result<bool, LeaseError> {
        let Some(held) = self.held.get(shard) else {
            return Ok(false);
        };
        match self.table.checkpoint(&held.lease, &self.id, checkpoint).await? {
            Some(saved) => {
                self.held.insert(shard.to_owned(), Held::new(saved));
                Ok(true)
            }
            None => {
                self.held.remove(shard);
                Ok(false)
            }
        }
    }

    /// `shard` was read to its end: `SHARD_END` in its lease, its children
    /// on it and in leases of their own, and the lease let go (a finished
    /// lease is not read again). The next look at the table comes at once,
    /// so that the children are taken.
    pub async fn shard_ended(&mut self, shard: &str) -> Result<(), LeaseError> {
        if !self.checkpoint(shard, &LeaseCheckpoint::ShardEnd).await? {
            return Ok(());
        }
        let shards = self.list_shards().await?;
        let children: Vec<String> = shards
            .iter()
            .filter(|s| s.parents.iter().any(|parent| parent == shard))
            .map(|s| s.id.clone())
            .collect();
        if let Some(held) = self.held.remove(shard) {
            self.table.set_children(&held.lease, &self.id, &children).await?;
        }
        let leases = self.table.scan().await?;
        self.make_leases(&leases).await?;
        self.next_take = Instant::now();
        Ok(())
    }

    /// Hands every lease back, for a worker that stops: another worker takes
    /// them at its next look, without waiting for them to expire.
    pub async fn hand_back_all(&mut self) -> Result<usize, LeaseError> {
        let mut handed = 0;
        let mut error = None;
        // Every lease is tried, whatever happens to one of them.
        for held in std::mem::take(&mut self.held).values() {
            match self.table.hand_back(&held.lease, &self.id).await {
                Ok(true) => handed += 1,
                Ok(false) => {}
                Err(err) => {
                    error.get_or_insert(err);
                }
            }
        }
        match error {
            Some(err) => Err(err),
            None => Ok(handed),
        }
    }

    fn forget(&mut self, lost: Vec<String>) -> Vec<Change> {
        lost.into_iter()
            .map(|shard| {
                self.held.remove(&shard);
                tracing::info!(shard = %shard, worker = %self.id, "lost a lease to another worker");
                Change::Lost { shard }
            })
            .collect()
    }

    /// Makes a lease for every shard that has none; whether it made one.
    /// A shard whose parent has a lease starts at its oldest record (all of
    /// it is newer than the parent); any other at `initial`. With `LATEST`,
    /// shards that have ended get none: nothing new comes on them.
    async fn make_leases(&self, leases: &[Lease]) -> Result<bool, LeaseError> {
        let known: HashSet<&str> = leases.iter().map(|lease| lease.key.as_str()).collect();
        let mut made = false;
        let shards = self.list_shards().await?;
        let listed: HashSet<&str> = shards.iter().map(|shard| shard.id.as_str()).collect();
        // Parents before children: the listing gives them in that order, and
        // a child of a parent being made here sees it as made.
        let mut with_lease: HashSet<String> = known.iter().map(|key| (*key).to_owned()).collect();
        for shard in &shards {
            if with_lease.contains(&shard.id) {
                continue;
            }
            let child = shard.parents.iter().any(|parent| with_lease.contains(parent));
            let checkpoint = match (child, self.initial) {
                (true, _) => LeaseCheckpoint::TrimHorizon,
                (false, InitialPosition::TrimHorizon) => LeaseCheckpoint::TrimHorizon,
                (false, InitialPosition::AtTimestamp) => LeaseCheckpoint::AtTimestamp,
                (false, InitialPosition::Latest) if shard.closed => continue,
                (false, InitialPosition::Latest) => LeaseCheckpoint::Latest,
            };
            let mut lease = Lease::new(
                &shard.id,
                shard
                    .parents
                    .iter()
                    .filter(|p| listed.contains(p.as_str()))
                    .cloned()
                    .collect(),
                checkpoint,
            );
            lease.hash_keys = shard.hash_keys.clone();
            made |= self.table.create(&lease).await?;
            with_lease.insert(shard.id.clone());
        }
        Ok(made)
    }

    async fn list_shards(&self) -> Result<Vec<ShardInfo>, LeaseError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = match &token {
                Some(token) => self.kinesis.list_shards().next_token(token),
                None => self.kinesis.list_shards().stream_name(&self.stream),
            };
            let page = request.send().await.map_err(|err| LeaseError::Failed {
                doing: "list the stream's shards",
                table: self.table.name().to_owned(),
                message: match aws_error::is(&err, |e| e.is_resource_not_found_exception()) {
                    true => format!("the stream {} is not there", self.stream),
                    false => {
                        AwsError::failed(format_args!("list the shards of {}", self.stream), &err).to_string()
                    }
                },
            })?;
            for shard in page.shards() {
                let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect();
                shards.push(ShardInfo {
                    id: shard.shard_id().to_owned(),
                    parents,
                    closed: shard
                        .sequence_number_range()
                        .and_then(|range| range.ending_sequence_number())
                        .is_some(),
                    hash_keys: shard.hash_key_range().map(|range| {
                        (
                            range.starting_hash_key().to_owned(),
                            range.ending_hash_key().to_owned(),
                        )
                    }),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// How long a worker waits, at most, between two looks at its leases.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }
}

/// What the worker needs to know of a shard.
#[derive(Debug, Clone)]
struct ShardInfo {
    id: String,
    parents: Vec<String>,
    closed: bool,
    hash_keys: Option<(String, String)>,
}

/// The default worker id: this host and this process, as the KCL makes it
/// unique (two workers on one machine are two processes).
pub fn default_worker_id() -> String {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    format!("{host}-{}", std::process::id())
}
