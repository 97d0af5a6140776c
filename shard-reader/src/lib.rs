//! Reading every shard of a stream, as a Kinesis consumer must: the one reader
//! of the workspace, used by the lab's consumer (lab step 1.3), its ETL (step
//! 2.2.2) and the emulator's Firehose, so that a fix lands in all three.
//!
//! The lab's consumer listed the shards once, took a `TRIM_HORIZON` iterator for
//! each, and looped over them calling GetRecords. That works until something
//! changes. This reader keeps working when it does:
//!
//! - **Every shard**: the listing follows `NextToken`, so no shard is missed.
//! - **As often as the limits allow**: a shard may be read 5 times a second, so
//!   each shard is read every 200 ms, from the start of one read to the next:
//!   a record put on an idle shard is read 100 ms later on average. A reader
//!   that shares a shard with others can be told to read it less often
//!   ([`ShardReader::with_idle_interval`]); when their reads together go over
//!   the limit, a throttled shard waits a second and is tried again.
//! - **Expired iterators**: an iterator lives 5 minutes. When one expires, a new
//!   one is taken right after the last record read, so nothing is skipped or
//!   read twice.
//! - **Reshards**: when a shard ends (its iterator runs out after a split or a
//!   merge), the reader lists the shards again and starts on the children once
//!   all of their parents have been read to the end. That keeps the order of
//!   each partition key, which moved from the parent to a child.
//! - **Resuming**: saved positions ([`ShardPosition`]) pick up after the last
//!   record processed.
//! - **KPL aggregates** are taken apart as the KCL takes them apart ([`kpl`]):
//!   each user record comes on its own, with its partition key.
//!
//! A reader either polls its shards with GetRecords ([`ShardReader::open`]) or
//! has their records pushed to it by enhanced fan-out
//! ([`ShardReader::open_fan_out`], see [`fan_out`]); the rest is the same.
//!
//! A polling reader is driven in one of two ways: [`ShardReader::next_batch`] waits for
//! the next shard whose turn has come (the ETL, the consumer);
//! [`ShardReader::read_due`] reads the shards whose turn has come without
//! waiting, and [`ShardReader::read_all`] every shard at once, for a caller
//! that has other things to wait for (Firehose's delivery task).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::list_shards::ListShardsError;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType, StreamDescriptionSummary};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep_until};

pub mod fan_out;
pub mod kpl;
pub mod retry;

pub use fan_out::register_consumer;

/// Kinesis allows 5 GetRecords per second per shard.
const BEHIND_INTERVAL: Duration = Duration::from_millis(200);
/// How long to wait after a read that found nothing new, unless told
/// otherwise: as soon as the limit allows too, since a record put now is
/// waiting for the next read.
pub const IDLE_INTERVAL: Duration = BEHIND_INTERVAL;

/// Where a reader resumes in one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardPosition {
    /// Resume right after this sequence number.
    After(String),
    /// The shard was read to its end.
    Finished,
}

/// Saved positions, by shard id.
pub type Positions = BTreeMap<String, ShardPosition>;
/// How long a throttled or failing shard waits at first; it doubles up to the
/// max, and jitter adds up to as much again ([`retry::backoff`]).
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Where to start in shards that have no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still in the stream (what the lab's consumers use).
    TrimHorizon,
    /// Only records put from now on.
    Latest,
    /// The first record that arrived at or after this time.
    AtTimestamp(DateTime<Utc>),
}

/// One record, with where it came from: a Kinesis record, or one user record
/// of a KPL aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub shard_id: String,
    /// The Kinesis record's; the user records of an aggregate share it.
    pub sequence_number: String,
    /// The user record's place in its aggregate.
    pub sub_sequence: Option<u64>,
    /// Whether everything of the Kinesis record has been read with this one (an
    /// ordinary record, or an aggregate's last user record): a position saved
    /// after it loses nothing of its aggregate.
    pub completes_record: bool,
    pub partition_key: String,
    pub data: Vec<u8>,
    pub arrival: Option<DateTime<Utc>>,
    /// Why the record, an aggregate by its magic and digest, could not be taken
    /// apart; `data` is then the whole Kinesis record.
    pub aggregate_error: Option<String>,
}

impl ReadRecord {
    /// The records a Kinesis record holds: itself, or its user records.
    fn from_kinesis(shard_id: &str, record: &aws_sdk_kinesis::types::Record) -> Vec<ReadRecord> {
        let whole = ReadRecord {
            shard_id: shard_id.to_owned(),
            sequence_number: record.sequence_number().to_owned(),
            sub_sequence: None,
            completes_record: true,
            partition_key: record.partition_key().unwrap_or_default().to_owned(),
            data: record.data().as_ref().to_vec(),
            arrival: record
                .approximate_arrival_timestamp()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
            aggregate_error: None,
        };
        match kpl::deaggregate(&whole.data) {
            kpl::Deaggregated::Single => vec![whole],
            kpl::Deaggregated::Corrupt(reason) => vec![ReadRecord {
                aggregate_error: Some(reason),
                ..whole
            }],
            kpl::Deaggregated::Records(users) => {
                let last = users.len().saturating_sub(1);
                users
                    .into_iter()
                    .enumerate()
                    .map(|(index, user)| ReadRecord {
                        shard_id: whole.shard_id.clone(),
                        sequence_number: whole.sequence_number.clone(),
                        sub_sequence: Some(index as u64),
                        completes_record: index == last,
                        partition_key: user.partition_key,
                        data: user.data,
                        arrival: whole.arrival,
                        aggregate_error: None,
                    })
                    .collect()
            }
        }
    }
}

/// What one GetRecords on one shard returned.
#[derive(Debug, Clone)]
pub struct ShardBatch {
    pub shard_id: String,
    pub records: Vec<ReadRecord>,
    /// How far the shard's newest record is ahead of what was read.
    pub millis_behind_latest: Option<i64>,
    /// The shard is closed and has been read to its end.
    pub ended: bool,
}

impl ShardBatch {
    /// Whether this read reached the end of what the shard holds now: nothing
    /// came, or the shard is closed, or Kinesis says nothing is behind and the
    /// read was not cut short by its `limit` (a full read may have more after
    /// it, whatever MillisBehindLatest says: an emulator may always say 0).
    pub fn reached_the_end(&self, limit: i32) -> bool {
        let at_the_tip = self.millis_behind_latest == Some(0)
            && self.records.len() < usize::try_from(limit).unwrap_or(usize::MAX);
        self.records.is_empty() || self.ended || at_the_tip
    }
}

/// Why the reader cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("stream \"{0}\" does not exist")]
    StreamNotFound(String),
    #[error("stream \"{0}\" has no shard left to read")]
    NoShards(String),
    #[error("cannot read stream \"{stream}\": {message}")]
    Kinesis { stream: String, message: String },
    /// A saved position that the shard refuses: the stream was made anew since
    /// it was saved, or an emulator restarted without its data.
    #[error(
        "the saved position in shard {shard} of stream \"{stream}\" (after sequence number {sequence}) is \
         not in that shard: the stream was deleted and made anew since, or an emulator restarted \
         without its data. ({message})"
    )]
    UnknownPosition {
        stream: String,
        shard: String,
        sequence: String,
        message: String,
    },
}

/// The position in every shard of one stream.
pub struct ShardReader {
    client: Client,
    stream: String,
    start: StartingPosition,
    limit: i32,
    idle_interval: Duration,
    active: Vec<ShardState>,
    /// Shards read to their end.
    finished: HashSet<String>,
    /// Every shard listed so far.
    known: HashSet<String>,
    /// Shards waiting for their parents to end, with those parents.
    waiting: HashMap<String, Vec<String>>,
    /// With enhanced fan-out: the shards' subscriptions.
    fan_out: Option<fan_out::Subscriptions>,
    /// Reads only the shards it is given ([`ShardReader::open_given`]): a
    /// shard's end is where it stops, its children are not started.
    given: bool,
}

/// Where a reader starts in a shard it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardStart {
    TrimHorizon,
    Latest,
    AtTimestamp(DateTime<Utc>),
    /// Right after this sequence number.
    After(String),
    /// At this sequence number, without its user records up to and including
    /// `through_sub_sequence`: where a KCL checkpoint in the middle of a KPL
    /// aggregate resumes (the KCL takes an `AT_SEQUENCE_NUMBER` iterator and
    /// drops the sub-records already processed, exactly so).
    AtSubSequence {
        sequence: String,
        through_sub_sequence: u64,
    },
}

struct ShardState {
    shard_id: String,
    /// Empty for a shard read through a subscription.
    iterator: String,
    /// The last record read: where a renewed iterator starts.
    last_sequence_number: Option<String>,
    /// How the shard was first opened, for an iterator that expires unused.
    opened: Opening,
    next_read_at: Instant,
    /// Waits before reading again after a failed read; new after a success.
    retry: retry::ExponentialBackoff,
    /// Opened at a sequence number in the middle of an aggregate: its user
    /// records up to this sub-sequence were processed before, and are
    /// dropped when they come again.
    skip: Option<(String, u64)>,
    /// With enhanced fan-out: which subscription of the shard pushes for this
    /// state; what an earlier one pushed before it was dropped is ignored.
    subscription: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Opening {
    TrimHorizon,
    Latest(DateTime<Utc>),
    AtTimestamp(DateTime<Utc>),
    After(String),
    /// `AT_SEQUENCE_NUMBER`; the user records to drop are the state's `skip`.
    At(String),
}

impl ShardState {
    /// The records of one read, without those a resume in the middle of an
    /// aggregate had processed already. The skip ends with the first record
    /// past that aggregate.
    fn unseen(&mut self, mut records: Vec<ReadRecord>) -> Vec<ReadRecord> {
        if let Some((sequence, through)) = &self.skip {
            records.retain(|record| {
                record.sequence_number != *sequence || record.sub_sequence.unwrap_or(0) > *through
            });
            if records.iter().any(|record| record.sequence_number != *sequence) {
                self.skip = None;
            }
        }
        records
    }
}

impl ShardReader {
    /// Lists the shards and takes an iterator for each one that can be read now:
    /// after its saved position when `checkpoint` has one, else at `start`.
    pub async fn open(
        client: Client,
        stream: &str,
        start: StartingPosition,
        checkpoint: Option<&Positions>,
    ) -> Result<ShardReader, ReadError> {
        ShardReader::open_with(client, stream, start, checkpoint, None).await
    }

    /// Like [`ShardReader::open`], with the records pushed by enhanced fan-out
    /// to the consumer `consumer_name` (registered now unless it was before).
    /// Such a reader is driven by [`ShardReader::next_batch`] only.
    pub async fn open_fan_out(
        client: Client,
        stream: &str,
        consumer_name: &str,
        start: StartingPosition,
        checkpoint: Option<&Positions>,
    ) -> Result<ShardReader, ReadError> {
        let consumer_arn = register_consumer(&client, stream, consumer_name).await?;
        let subscriptions = fan_out::Subscriptions::new(consumer_arn);
        ShardReader::open_with(client, stream, start, checkpoint, Some(subscriptions)).await
    }

    async fn open_with(
        client: Client,
        stream: &str,
        start: StartingPosition,
        checkpoint: Option<&Positions>,
        fan_out: Option<fan_out::Subscriptions>,
    ) -> Result<ShardReader, ReadError> {
        let mut reader = ShardReader::empty(client, stream, start, fan_out, false);
        let now = Utc::now();
        let shards = reader.list_shards().await?;
        reader
            .known
            .extend(shards.iter().map(|s| s.shard_id().to_owned()));
        for shard in &shards {
            let id = shard.shard_id();
            let closed = shard
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_some();
            match checkpoint.and_then(|c| c.get(id)) {
                Some(ShardPosition::Finished) => {
                    reader.finished.insert(id.to_owned());
                }
                Some(ShardPosition::After(sequence)) => {
                    reader.add(id, Opening::After(sequence.clone())).await?
                }
                // From now on: the open shards, at their end; a closed shard has
                // nothing more to come.
                None if checkpoint.is_none() && start == StartingPosition::Latest => {
                    if closed {
                        reader.finished.insert(id.to_owned());
                    } else {
                        reader.add(id, Opening::Latest(now)).await?;
                    }
                }
                None => {
                    let parents: Vec<String> = has_parents(shard)
                        .into_iter()
                        .filter(|p| reader.known.contains(p))
                        .collect();
                    if !parents.is_empty() {
                        reader.waiting.insert(id.to_owned(), parents);
                    } else {
                        // Resuming: a shard the checkpoint has never seen was created
                        // while we were stopped, so all of it is new to us; or, when
                        // asked to start at a time, what came since that time.
                        let opening = match (checkpoint, start) {
                            (_, StartingPosition::AtTimestamp(at)) => Opening::AtTimestamp(at),
                            (Some(_), _) | (None, StartingPosition::TrimHorizon) => Opening::TrimHorizon,
                            (None, StartingPosition::Latest) => unreachable!("handled above"),
                        };
                        reader.add(id, opening).await?;
                    }
                }
            }
        }
        reader.start_ready_children().await?;
        Ok(reader)
    }

    /// A reader of no shard yet.
    fn empty(
        client: Client,
        stream: &str,
        start: StartingPosition,
        fan_out: Option<fan_out::Subscriptions>,
        given: bool,
    ) -> ShardReader {
        ShardReader {
            client,
            stream: stream.to_owned(),
            start,
            limit: 1000,
            idle_interval: IDLE_INTERVAL,
            active: Vec::new(),
            finished: HashSet::new(),
            known: HashSet::new(),
            waiting: HashMap::new(),
            fan_out,
            given,
        }
    }

    /// A reader that reads only the shards it is given, each from where it is
    /// told ([`ShardReader::read_shard`]), for a worker that shares the stream
    /// with others (a lease per shard): at a shard's end it stops there, and
    /// its children are read by whoever takes their leases, once the parents'
    /// have ended. Fails as [`ShardReader::open`] does on a missing stream.
    pub async fn open_given(client: Client, stream: &str) -> Result<ShardReader, ReadError> {
        let reader = ShardReader::empty(client, stream, StartingPosition::TrimHorizon, None, true);
        // The stream must be there: the same error as open's when it is not.
        reader.list_shards().await?;
        Ok(reader)
    }

    /// Like [`ShardReader::open_given`], with each shard given pushed by
    /// enhanced fan-out to the consumer `consumer_name` (registered now unless
    /// it was before), as a KCL worker reads by default.
    pub async fn open_given_fan_out(
        client: Client,
        stream: &str,
        consumer_name: &str,
    ) -> Result<ShardReader, ReadError> {
        let consumer_arn = register_consumer(&client, stream, consumer_name).await?;
        let subscriptions = fan_out::Subscriptions::new(consumer_arn);
        Ok(ShardReader::empty(
            client,
            stream,
            StartingPosition::TrimHorizon,
            Some(subscriptions),
            true,
        ))
    }

    /// Starts reading `shard_id` from `start` (a reader given its shards).
    pub async fn read_shard(&mut self, shard_id: &str, start: ShardStart) -> Result<(), ReadError> {
        if self.reads(shard_id) {
            return Ok(());
        }
        self.finished.remove(shard_id);
        let opening = match start {
            ShardStart::TrimHorizon => Opening::TrimHorizon,
            ShardStart::Latest => Opening::Latest(Utc::now()),
            ShardStart::AtTimestamp(at) => Opening::AtTimestamp(at),
            ShardStart::After(sequence) => Opening::After(sequence),
            ShardStart::AtSubSequence {
                sequence,
                through_sub_sequence,
            } => {
                self.add(shard_id, Opening::At(sequence.clone())).await?;
                if let Some(state) = self.active.last_mut() {
                    state.skip = Some((sequence, through_sub_sequence));
                }
                return Ok(());
            }
        };
        self.add(shard_id, opening).await
    }

    /// Stops reading `shard_id` (its lease is another worker's now), and its
    /// subscription with enhanced fan-out.
    pub fn drop_shard(&mut self, shard_id: &str) {
        self.active.retain(|state| state.shard_id != shard_id);
        if let Some(subscriptions) = &mut self.fan_out {
            subscriptions.unsubscribe(shard_id);
        }
    }

    /// Whether `shard_id` is being read.
    pub fn reads(&self, shard_id: &str) -> bool {
        self.active.iter().any(|state| state.shard_id == shard_id)
    }

    /// Reads at most this many records per GetRecords (Kinesis allows 10,000).
    pub fn with_limit(mut self, limit: i32) -> ShardReader {
        self.limit = limit.clamp(1, 10_000);
        self
    }

    /// How long a shard that returned nothing new waits before it is read
    /// again (200 ms unless told otherwise, as for a shard that is behind).
    pub fn with_idle_interval(mut self, idle: Duration) -> ShardReader {
        self.idle_interval = idle;
        self
    }

    /// The most records one GetRecords asks for.
    pub fn limit(&self) -> i32 {
        self.limit
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The shards being read now.
    pub fn active_shards(&self) -> Vec<&str> {
        self.active.iter().map(|s| s.shard_id.as_str()).collect()
    }

    /// When the next shard's turn comes; `None` when no shard is left to read.
    pub fn next_read_at(&self) -> Option<Instant> {
        self.active.iter().map(|s| s.next_read_at).min()
    }

    /// Reads once each shard whose turn has come, without waiting for others.
    pub async fn read_due(&mut self) -> Result<Vec<ShardBatch>, ReadError> {
        self.read_each(|state, now| state.next_read_at <= now).await
    }

    /// Reads every shard once, whether or not its turn has come (a last read
    /// before stopping).
    pub async fn read_all(&mut self) -> Result<Vec<ShardBatch>, ReadError> {
        self.read_each(|_, _| true).await
    }

    async fn read_each(
        &mut self,
        wanted: impl Fn(&ShardState, Instant) -> bool,
    ) -> Result<Vec<ShardBatch>, ReadError> {
        let now = Instant::now();
        let ids: Vec<String> = self
            .active
            .iter()
            .filter(|state| wanted(state, now))
            .map(|state| state.shard_id.clone())
            .collect();
        let mut batches = Vec::new();
        for id in ids {
            // A shard read to its end leaves `active`, and its children join it.
            let Some(index) = self.active.iter().position(|state| state.shard_id == id) else {
                continue;
            };
            if let Some(batch) = self.read(index).await? {
                batches.push(batch);
            }
        }
        Ok(batches)
    }

    /// Reads every shard to the end of what it holds now (children of a
    /// closed shard included), and gives back all of it.
    pub async fn read_to_end(&mut self) -> Result<Vec<ReadRecord>, ReadError> {
        let mut records = Vec::new();
        let mut at_the_end = std::collections::HashSet::new();
        loop {
            let batch = self.next_batch().await?;
            if batch.reached_the_end(self.limit) {
                at_the_end.insert(batch.shard_id.clone());
            }
            records.extend(batch.records);
            if self
                .active
                .iter()
                .all(|state| at_the_end.contains(&state.shard_id))
            {
                return Ok(records);
            }
        }
    }

    /// Waits for the shard whose turn comes first, and reads it once; with
    /// enhanced fan-out, for the next records pushed.
    pub async fn next_batch(&mut self) -> Result<ShardBatch, ReadError> {
        if self.fan_out.is_some() {
            return self.next_pushed().await;
        }
        loop {
            let Some(index) = (0..self.active.len()).min_by_key(|&i| self.active[i].next_read_at) else {
                return Err(ReadError::NoShards(self.stream.clone()));
            };
            sleep_until(self.active[index].next_read_at).await;
            if let Some(batch) = self.read(index).await? {
                return Ok(batch);
            }
        }
    }

    /// One GetRecords; `None` when the shard must be tried again later.
    async fn read(&mut self, index: usize) -> Result<Option<ShardBatch>, ReadError> {
        // The limit counts calls: the next one may start 200 ms after this one did.
        let started = Instant::now();
        let iterator = self.active[index].iterator.clone();
        let result = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(self.limit)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(GetRecordsError::is_expired_iterator_exception) {
                    let state = &self.active[index];
                    tracing::debug!(shard = %state.shard_id, "the shard iterator expired; taking a new one");
                    let opening = match (&state.last_sequence_number, &state.opened) {
                        (Some(sequence), _) => Opening::After(sequence.clone()),
                        // Taken at LATEST and expired before any record came: ask for
                        // what arrived since. Timestamps are precise to the
                        // millisecond, so a record from just before may come too:
                        // at least once, never lost.
                        (None, Opening::Latest(at)) => Opening::AtTimestamp(*at),
                        // At a sequence number, before any record came: the
                        // same again, and the skip still applies.
                        (None, opened) => opened.clone(),
                    };
                    let shard_id = state.shard_id.clone();
                    self.active[index].iterator = self.iterator(&shard_id, &opening).await?;
                } else if service.is_some_and(GetRecordsError::is_resource_not_found_exception) {
                    return Err(ReadError::StreamNotFound(self.stream.clone()));
                } else {
                    let state = &mut self.active[index];
                    let wait = retry::next_wait(&mut state.retry);
                    if service.is_some_and(GetRecordsError::is_provisioned_throughput_exceeded_exception) {
                        tracing::debug!(shard = %state.shard_id, "throttled; reading this shard again in {wait:?}");
                    } else {
                        tracing::warn!(
                            shard = %state.shard_id,
                            "GetRecords failed, trying again in {wait:?}: {}",
                            DisplayErrorContext(&err)
                        );
                    }
                    state.next_read_at = Instant::now() + wait;
                }
                return Ok(None);
            }
        };

        let state = &mut self.active[index];
        state.retry = retry::backoff(RETRY_INTERVAL, MAX_RETRY_INTERVAL);
        let records: Vec<ReadRecord> = output
            .records()
            .iter()
            .flat_map(|record| ReadRecord::from_kinesis(&state.shard_id, record))
            .collect();
        let records = state.unseen(records);
        if let Some(last) = records.last() {
            state.last_sequence_number = Some(last.sequence_number.clone());
        }
        let behind = output.millis_behind_latest();
        let busy = records.len() as i32 >= self.limit || behind.is_some_and(|ms| ms > 0);
        state.next_read_at = started + if busy { BEHIND_INTERVAL } else { self.idle_interval };
        let shard_id = state.shard_id.clone();
        let ended = match output.next_shard_iterator() {
            Some(next) => {
                state.iterator = next.to_owned();
                false
            }
            None => {
                tracing::debug!(shard = %shard_id, stream = %self.stream, "shard read to its end");
                self.active.remove(index);
                self.finished.insert(shard_id.clone());
                if !self.given {
                    self.follow_reshard().await?;
                }
                true
            }
        };
        Ok(Some(ShardBatch {
            shard_id,
            records,
            millis_behind_latest: behind,
            ended,
        }))
    }

    /// The next records a subscription pushed, as a batch.
    async fn next_pushed(&mut self) -> Result<ShardBatch, ReadError> {
        loop {
            let subscriptions = self.fan_out.as_mut().expect("a fan-out reader");
            if self.active.is_empty() {
                return Err(ReadError::NoShards(self.stream.clone()));
            }
            let pushed = subscriptions
                .receiver
                .recv()
                .await
                .expect("the reader holds a sender itself");
            let delivery = pushed.outcome?;
            // A shard dropped since, or read again by a newer subscription.
            let Some(index) = self
                .active
                .iter()
                .position(|s| s.shard_id == pushed.shard_id && s.subscription == pushed.subscription)
            else {
                continue;
            };
            let state = &mut self.active[index];
            let records: Vec<ReadRecord> = delivery
                .records
                .iter()
                .flat_map(|record| ReadRecord::from_kinesis(&state.shard_id, record))
                .collect();
            let records = state.unseen(records);
            if let Some(last) = records.last() {
                state.last_sequence_number = Some(last.sequence_number.clone());
            }
            let shard_id = state.shard_id.clone();
            if delivery.ended {
                tracing::debug!(shard = %shard_id, stream = %self.stream, "shard read to its end");
                self.active.remove(index);
                self.finished.insert(shard_id.clone());
                if !self.given {
                    self.follow_reshard().await?;
                }
            }
            return Ok(ShardBatch {
                shard_id,
                records,
                millis_behind_latest: delivery.millis_behind_latest,
                ended: delivery.ended,
            });
        }
    }

    /// Lists the shards again and starts on children whose parents have ended.
    async fn follow_reshard(&mut self) -> Result<(), ReadError> {
        for shard in self.list_shards().await? {
            let id = shard.shard_id().to_owned();
            if self.known.insert(id.clone()) {
                self.waiting.insert(id, has_parents(&shard));
            }
        }
        self.start_ready_children().await
    }

    async fn start_ready_children(&mut self) -> Result<(), ReadError> {
        let ready: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, parents)| {
                parents
                    .iter()
                    .all(|p| self.finished.contains(p) || !self.known.contains(p))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            self.waiting.remove(&id);
            tracing::debug!(shard = %id, stream = %self.stream, "reading a child shard");
            // All of a child is newer than its parents, except when the reader
            // was asked to start at a time: then the child starts there too.
            let opening = match self.start {
                StartingPosition::AtTimestamp(at) => Opening::AtTimestamp(at),
                _ => Opening::TrimHorizon,
            };
            self.add(&id, opening).await?;
        }
        Ok(())
    }

    async fn add(&mut self, shard_id: &str, opening: Opening) -> Result<(), ReadError> {
        let (iterator, subscription) = match &mut self.fan_out {
            Some(subscriptions) => {
                let subscription =
                    subscriptions.subscribe(&self.client, &self.stream, shard_id, opening.clone());
                (String::new(), subscription)
            }
            None => (self.iterator(shard_id, &opening).await?, 0),
        };
        self.active.push(ShardState {
            shard_id: shard_id.to_owned(),
            iterator,
            last_sequence_number: match &opening {
                Opening::After(sequence) => Some(sequence.clone()),
                _ => None,
            },
            opened: opening,
            next_read_at: Instant::now(),
            retry: retry::backoff(RETRY_INTERVAL, MAX_RETRY_INTERVAL),
            skip: None,
            subscription,
        });
        Ok(())
    }

    async fn iterator(&self, shard_id: &str, opening: &Opening) -> Result<String, ReadError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard_id);
        let request = match opening {
            Opening::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Opening::Latest(_) => request.shard_iterator_type(ShardIteratorType::Latest),
            Opening::AtTimestamp(at) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                    at.timestamp_millis(),
                )),
            Opening::After(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
            Opening::At(sequence) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(sequence),
        };
        let output = request.send().await.map_err(|err| {
            let service = err.as_service_error();
            match opening {
                Opening::After(sequence) | Opening::At(sequence)
                    if service.is_some_and(GetShardIteratorError::is_invalid_argument_exception) =>
                {
                    ReadError::UnknownPosition {
                        stream: self.stream.clone(),
                        shard: shard_id.to_owned(),
                        sequence: sequence.clone(),
                        message: err.message().unwrap_or("InvalidArgumentException").to_owned(),
                    }
                }
                _ => self.error(
                    &err,
                    service.is_some_and(GetShardIteratorError::is_resource_not_found_exception),
                ),
            }
        })?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| ReadError::Kinesis {
                stream: self.stream.clone(),
                message: format!("no iterator returned for shard {shard_id}"),
            })
    }

    /// Every shard of the stream, following `NextToken` through the pages.
    async fn list_shards(&self) -> Result<Vec<Shard>, ReadError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // With a token, the stream name must be left out.
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let output = request.send().await.map_err(|err| {
                let missing = err
                    .as_service_error()
                    .is_some_and(ListShardsError::is_resource_not_found_exception);
                self.error(&err, missing)
            })?;
            shards.extend_from_slice(output.shards());
            next_token = output.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// A failed call: the stream gone when `missing` (the caller's typed
    /// check), else the error in AWS's words.
    fn error<E, R>(&self, err: &SdkError<E, R>, missing: bool) -> ReadError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if missing {
            return ReadError::StreamNotFound(self.stream.clone());
        }
        ReadError::Kinesis {
            stream: self.stream.clone(),
            message: DisplayErrorContext(err).to_string(),
        }
    }
}

/// The stream's summary (DescribeStreamSummary), a missing stream told as
/// [`ReadError::StreamNotFound`]: what the fan-out consumer and the emulator's
/// Firehose both ask before they read.
pub async fn describe_stream(client: &Client, stream: &str) -> Result<StreamDescriptionSummary, ReadError> {
    let output = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(service) if service.is_resource_not_found_exception() => {
                ReadError::StreamNotFound(stream.to_owned())
            }
            _ => ReadError::Kinesis {
                stream: stream.to_owned(),
                message: DisplayErrorContext(&err).to_string(),
            },
        })?;
    output
        .stream_description_summary
        .ok_or_else(|| ReadError::Kinesis {
            stream: stream.to_owned(),
            message: "DescribeStreamSummary answered without a summary".to_owned(),
        })
}

fn has_parents(shard: &Shard) -> Vec<String> {
    [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect()
}
