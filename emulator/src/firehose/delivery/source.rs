//! Reading a Kinesis source as Firehose does: every shard, from `LATEST` as of
//! the delivery stream's creation, about once a second, following the shards a
//! reshard creates.
//!
//! Order matters per shard, so a child shard is only read once all of its
//! parents have been read to their end; that is the rule every Kinesis consumer
//! must follow, and the one the lab's original consumer broke.

use std::collections::{HashMap, HashSet};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use chrono::{DateTime, Utc};

use super::Record;
use crate::firehose::state::Checkpoint;

/// Kinesis returns at most 10,000 records per GetRecords.
const GET_RECORDS_LIMIT: i32 = 10_000;

/// The reading position in every shard of one source stream.
#[derive(Debug)]
pub struct KinesisSource {
    client: Client,
    stream_name: String,
    /// Shards being read, in the order they were found.
    readers: Vec<ShardReader>,
    /// Shards read to their end, or closed before the delivery stream existed.
    finished: HashSet<String>,
    /// Every shard seen so far, so that a listing only adds new ones.
    known: HashSet<String>,
    /// Shards waiting for their parents to finish, with those parents.
    waiting: HashMap<String, Vec<String>>,
    /// After a restart, where each waiting shard starts once its parents are done.
    resumed: HashMap<String, ShardReader>,
}

#[derive(Debug)]
struct ShardReader {
    shard_id: String,
    iterator: Option<String>,
    /// The last record read: where to resume if the iterator expires.
    last_sequence_number: Option<String>,
    /// Where the shard was first opened, for an iterator that expires before
    /// any record was read.
    start: Start,
}

#[derive(Debug, Clone, Copy)]
enum Start {
    /// An open shard when the delivery stream was created: read what comes after.
    Latest(DateTime<Utc>),
    /// A shard born of a reshard: all of it.
    TrimHorizon,
    /// After a restart, a shard nothing was delivered from yet: whatever came
    /// after the delivery stream's creation.
    Since(DateTime<Utc>),
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kinesis stream {0} not found")]
    StreamNotFound(String),
    #[error("Kinesis stream {stream} is {status}, not ACTIVE")]
    NotActive { stream: String, status: String },
    #[error("cannot read Kinesis stream {stream}: {message}")]
    Kinesis { stream: String, message: String },
}

impl KinesisSource {
    /// Positions a reader at the end of every open shard: what is put from now
    /// on is delivered, what was put before is not.
    pub async fn open_at_latest(client: Client, stream_name: &str) -> Result<KinesisSource, SourceError> {
        let summary = client
            .describe_stream_summary()
            .stream_name(stream_name)
            .send()
            .await
            .map_err(|err| source_error(stream_name, &err))?;
        let status = summary
            .stream_description_summary()
            .map(|s| s.stream_status().as_str().to_owned());
        if let Some(status) = status.filter(|status| status != "ACTIVE" && status != "UPDATING") {
            return Err(SourceError::NotActive {
                stream: stream_name.to_owned(),
                status,
            });
        }
        let mut source = KinesisSource {
            client,
            stream_name: stream_name.to_owned(),
            readers: Vec::new(),
            finished: HashSet::new(),
            known: HashSet::new(),
            waiting: HashMap::new(),
            resumed: HashMap::new(),
        };
        let now = Utc::now();
        for shard in source.list_shards().await? {
            source.known.insert(shard.shard_id().to_owned());
            let closed = shard
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_some();
            if closed {
                source.finished.insert(shard.shard_id().to_owned());
            } else {
                let mut reader = ShardReader::new(shard.shard_id(), Start::Latest(now));
                reader.iterator = Some(source.iterator(&reader).await?);
                source.readers.push(reader);
            }
        }
        Ok(source)
    }

    /// After a restart: every shard from just after the last record delivered
    /// from it, or, for a shard nothing was delivered from, from the delivery
    /// stream's creation. Parents are still read before their children.
    pub async fn resume(
        client: Client,
        stream_name: &str,
        created_at: DateTime<Utc>,
        delivered: &std::collections::BTreeMap<String, String>,
    ) -> Result<KinesisSource, SourceError> {
        let mut source = KinesisSource {
            client,
            stream_name: stream_name.to_owned(),
            readers: Vec::new(),
            finished: HashSet::new(),
            known: HashSet::new(),
            waiting: HashMap::new(),
            resumed: HashMap::new(),
        };
        let shards = source.list_shards().await?;
        source
            .known
            .extend(shards.iter().map(|s| s.shard_id().to_owned()));
        for shard in shards {
            let parents: Vec<String> = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .filter(|parent| source.known.contains(*parent))
                .map(str::to_owned)
                .collect();
            let mut reader = ShardReader::new(shard.shard_id(), Start::Since(created_at));
            reader.last_sequence_number = delivered.get(shard.shard_id()).cloned();
            if parents.is_empty() {
                reader.iterator = Some(source.iterator(&reader).await?);
                source.readers.push(reader);
            } else {
                source.waiting.insert(shard.shard_id().to_owned(), parents);
                source.resumed.insert(shard.shard_id().to_owned(), reader);
            }
        }
        Ok(source)
    }

    /// Reads every shard once, in order, and returns what they held. A shard
    /// that fails this time (throttled, say) is simply read again next time.
    pub async fn poll(&mut self) -> Result<Vec<Record>, SourceError> {
        let mut records = Vec::new();
        let mut shard_ended = false;
        for index in 0..self.readers.len() {
            match self.read_shard(index, &mut records).await {
                Ok(ended) => shard_ended |= ended,
                Err(SourceError::StreamNotFound(stream)) => return Err(SourceError::StreamNotFound(stream)),
                Err(err) => tracing::warn!("{err}; trying again"),
            }
        }
        if shard_ended {
            let done: Vec<String> = self
                .readers
                .iter()
                .filter(|r| r.iterator.is_none())
                .map(|r| r.shard_id.clone())
                .collect();
            self.readers.retain(|r| r.iterator.is_some());
            self.finished.extend(done);
            self.follow_reshard().await?;
        }
        Ok(records)
    }

    /// Reads one shard; true when it has been read to its end.
    async fn read_shard(&mut self, index: usize, records: &mut Vec<Record>) -> Result<bool, SourceError> {
        let Some(iterator) = self.readers[index].iterator.clone() else {
            return Ok(true);
        };
        let result = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err) if err.code() == Some("ExpiredIteratorException") => {
                let reader = &self.readers[index];
                tracing::debug!(shard = %reader.shard_id, "shard iterator expired; renewing it");
                let renewed = self.iterator(reader).await?;
                self.readers[index].iterator = Some(renewed);
                return Ok(false);
            }
            Err(err) => return Err(source_error(&self.stream_name, &err)),
        };
        let reader = &mut self.readers[index];
        for record in output.records() {
            let arrival = record
                .approximate_arrival_timestamp()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .unwrap_or_else(Utc::now);
            let mut origin = Checkpoint::default();
            origin
                .shards
                .insert(reader.shard_id.clone(), record.sequence_number().to_owned());
            records.push(Record {
                data: record.data().as_ref().to_vec(),
                arrival,
                origin,
            });
            reader.last_sequence_number = Some(record.sequence_number().to_owned());
        }
        reader.iterator = output.next_shard_iterator().map(str::to_owned);
        Ok(reader.iterator.is_none())
    }

    /// After a shard ends, looks for the shards that replaced it and starts
    /// reading each one whose parents have all ended.
    async fn follow_reshard(&mut self) -> Result<(), SourceError> {
        for shard in self.list_shards().await? {
            let id = shard.shard_id().to_owned();
            if self.known.insert(id.clone()) {
                let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()];
                let parents: Vec<String> = parents.into_iter().flatten().map(str::to_owned).collect();
                self.waiting.insert(id, parents);
            }
        }
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
            let mut reader = self
                .resumed
                .remove(&id)
                .unwrap_or_else(|| ShardReader::new(&id, Start::TrimHorizon));
            reader.iterator = Some(self.iterator(&reader).await?);
            tracing::debug!(shard = %id, stream = %self.stream_name, "reading a new shard after a reshard");
            self.readers.push(reader);
        }
        Ok(())
    }

    /// An iterator for a shard: at its opening position the first time, then,
    /// after an expiry, right after the last record read.
    async fn iterator(&self, reader: &ShardReader) -> Result<String, SourceError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream_name)
            .shard_id(&reader.shard_id);
        let request = match (&reader.last_sequence_number, reader.start) {
            (Some(sequence), _) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
            (None, Start::TrimHorizon) => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            // Opening the shard: from its end, as of the creation.
            (None, Start::Latest(_)) if reader.iterator.is_none() => {
                request.shard_iterator_type(ShardIteratorType::Latest)
            }
            // An iterator taken at creation that expired unused, or a restart before
            // anything was delivered: records that came after the creation are
            // still wanted. A record put in the same millisecond as the creation
            // may be delivered too: at least once, never lost.
            (None, Start::Latest(opened) | Start::Since(opened)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                    opened.timestamp_millis(),
                )),
        };
        let output = request
            .send()
            .await
            .map_err(|err| source_error(&self.stream_name, &err))?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| SourceError::Kinesis {
                stream: self.stream_name.clone(),
                message: format!("no iterator returned for shard {}", reader.shard_id),
            })
    }

    async fn list_shards(&self) -> Result<Vec<Shard>, SourceError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // A paging token replaces the stream name: Kinesis refuses both at once.
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream_name),
            };
            let output = request
                .send()
                .await
                .map_err(|err| source_error(&self.stream_name, &err))?;
            shards.extend_from_slice(output.shards());
            next_token = output.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }
}

impl ShardReader {
    fn new(shard_id: &str, start: Start) -> ShardReader {
        ShardReader {
            shard_id: shard_id.to_owned(),
            iterator: None,
            last_sequence_number: None,
            start,
        }
    }
}

fn source_error<E, R>(stream: &str, err: &SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some("ResourceNotFoundException") => SourceError::StreamNotFound(stream.to_owned()),
        _ => SourceError::Kinesis {
            stream: stream.to_owned(),
            message: DisplayErrorContext(err).to_string(),
        },
    }
}
