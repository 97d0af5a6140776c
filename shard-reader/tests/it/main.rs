//! The shard reader against a real Kinesis API: an emulator started inside the
//! test process, on 127.0.0.1 and a free port, reached over HTTP through the
//! official SDK client, as the lab's programs reach it.
//!
//! Every test starts an emulator of its own (`Config::for_tests()`: no status
//! delays), so the tests run side by side. Each says what it demonstrates in
//! its `///` line. The records are few (a few hundred at most) and every wait
//! has a deadline, so no test runs for more than a few seconds.

mod checkpoint;
mod given;
mod kpl;
mod ordering;
mod reshard;
mod retry;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{Shard, StreamStatus};
use emulator::{Config, Emulator};
use shard_reader::{ReadRecord, ShardReader, StartingPosition};

/// An emulator, and a Kinesis client pointed at it.
pub struct Lab {
    /// Kept alive for the test: dropping it stops the endpoint.
    pub emulator: Emulator,
    pub kinesis: Client,
}

/// One acknowledged put: where Kinesis says it stored the record, and what
/// the record holds.
#[derive(Debug, Clone)]
pub struct Put {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: String,
}

impl Lab {
    pub async fn start() -> Lab {
        Lab::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Lab {
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let kinesis = Client::from_conf(client_config(emulator.endpoint_url()).build());
        Lab { emulator, kinesis }
    }

    /// The configuration of [`Lab::kinesis`], for a test that needs a client
    /// of its own built from it.
    pub fn client_config(&self) -> aws_sdk_kinesis::config::Builder {
        client_config(self.emulator.endpoint_url())
    }

    /// Creates a stream and waits until it can be read and written.
    pub async fn create_stream(&self, name: &str, shards: i32) {
        self.kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("CreateStream");
        self.wait_until_active(name).await;
    }

    /// Waits until the stream is ACTIVE again after a change (a new stream, a
    /// split, a merge). With no status delay that is a matter of milliseconds;
    /// two seconds is a deadline, not an estimate.
    pub async fn wait_until_active(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let summary = self
                .kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .expect("DescribeStreamSummary");
            let status = summary
                .stream_description_summary()
                .expect("a summary")
                .stream_status();
            if *status == StreamStatus::Active {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stream \"{name}\" is still {status} after 2 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Puts one record of text, and gives back where it was stored.
    pub async fn put(&self, stream: &str, partition_key: &str, data: &str) -> Put {
        let (shard_id, sequence_number) = self.put_bytes(stream, partition_key, data.as_bytes()).await;
        Put {
            shard_id,
            sequence_number,
            partition_key: partition_key.to_owned(),
            data: data.to_owned(),
        }
    }

    /// Puts one record of any bytes; its shard and sequence number.
    pub async fn put_bytes(&self, stream: &str, partition_key: &str, data: &[u8]) -> (String, String) {
        let output = self
            .kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(partition_key)
            .data(Blob::new(data))
            .send()
            .await
            .expect("PutRecord");
        (output.shard_id().to_owned(), output.sequence_number().to_owned())
    }

    /// Puts `rounds` records for each key, one key after the other in each
    /// round, one put at a time, so that the put order is the order of the
    /// acknowledgements. Each record's data names its label, key and round,
    /// so that every record of a test is unique and readable in a failure.
    pub async fn put_rounds(&self, stream: &str, label: &str, keys: &[String], rounds: usize) -> Vec<Put> {
        let mut puts = Vec::with_capacity(keys.len() * rounds);
        for round in 0..rounds {
            for key in keys {
                puts.push(self.put(stream, key, &format!("{label}/{key}/{round}")).await);
            }
        }
        puts
    }

    /// Every shard of the stream, open and closed.
    pub async fn shards(&self, stream: &str) -> Vec<Shard> {
        self.kinesis
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .expect("ListShards")
            .shards()
            .to_vec()
    }

    /// Splits `shard` at the middle of its hash key range, and waits until the
    /// stream is ACTIVE again.
    pub async fn split_in_half(&self, stream: &str, shard: &Shard) {
        let range = shard.hash_key_range().expect("a hash key range");
        let start: u128 = range.starting_hash_key().parse().expect("a hash key");
        let end: u128 = range.ending_hash_key().parse().expect("a hash key");
        let middle = start + (end - start) / 2 + 1;
        self.kinesis
            .split_shard()
            .stream_name(stream)
            .shard_to_split(shard.shard_id())
            .new_starting_hash_key(middle.to_string())
            .send()
            .await
            .expect("SplitShard");
        self.wait_until_active(stream).await;
    }

    /// Merges two adjacent shards, and waits until the stream is ACTIVE again.
    pub async fn merge(&self, stream: &str, shard: &str, adjacent: &str) {
        self.kinesis
            .merge_shards()
            .stream_name(stream)
            .shard_to_merge(shard)
            .adjacent_shard_to_merge(adjacent)
            .send()
            .await
            .expect("MergeShards");
        self.wait_until_active(stream).await;
    }

    /// Deletes a stream, and waits until it no longer exists (the deletion
    /// takes effect a moment after it is answered).
    pub async fn delete_stream(&self, stream: &str) {
        self.kinesis
            .delete_stream()
            .stream_name(stream)
            .send()
            .await
            .expect("DeleteStream");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let described = self
                .kinesis
                .describe_stream_summary()
                .stream_name(stream)
                .send()
                .await;
            if let Err(err) = &described
                && err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stream \"{stream}\" still exists 2 s after DeleteStream"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A reader of `stream` from `start`, without a checkpoint.
    pub async fn open(&self, stream: &str, start: StartingPosition) -> ShardReader {
        ShardReader::open(self.kinesis.clone(), stream, start, None)
            .await
            .expect("the reader opens")
    }
}

/// A client for the emulator at `endpoint_url`, as any program of the lab
/// builds one: the emulator's test credentials, and a region it answers for.
fn client_config(endpoint_url: &str) -> aws_sdk_kinesis::config::Builder {
    aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "shard-reader-tests"))
}

/// The shards the puts landed on.
pub fn shards_of(puts: &[Put]) -> BTreeSet<&str> {
    puts.iter().map(|p| p.shard_id.as_str()).collect()
}

/// `count` partition keys, `user-0` and up.
pub fn keys(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("user-{n}")).collect()
}

/// Kinesis sequence numbers are decimal strings too long for any integer
/// type; without leading zeros, the longer one is the larger.
pub fn sequence_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// What identifies a record within its shard in an assertion: its sequence
/// number, partition key and data, in words.
type Seen = (String, String, String);

fn seen_read(record: &ReadRecord) -> Seen {
    (
        record.sequence_number.clone(),
        record.partition_key.clone(),
        String::from_utf8_lossy(&record.data).into_owned(),
    )
}

fn seen_put(put: &Put) -> Seen {
    (
        put.sequence_number.clone(),
        put.partition_key.clone(),
        put.data.clone(),
    )
}

/// Asserts that `read` holds every record of `puts` and nothing else, each
/// once, from the shard it was put on, and that every shard's records came
/// in the order they were put, with increasing sequence numbers.
pub fn assert_read_as_put(read: &[ReadRecord], puts: &[Put]) {
    let mut read_by_shard: BTreeMap<&str, Vec<Seen>> = BTreeMap::new();
    for record in read {
        read_by_shard
            .entry(&record.shard_id)
            .or_default()
            .push(seen_read(record));
    }
    let mut put_by_shard: BTreeMap<&str, Vec<Seen>> = BTreeMap::new();
    for put in puts {
        put_by_shard.entry(&put.shard_id).or_default().push(seen_put(put));
    }
    assert_eq!(read_by_shard, put_by_shard, "what was read, against what was put");
    assert_increasing(read);
}

/// Asserts that within each shard, every record's sequence number is larger
/// than the one read before it.
pub fn assert_increasing(read: &[ReadRecord]) {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for record in read {
        if let Some(before) = last.insert(&record.shard_id, &record.sequence_number) {
            assert_eq!(
                sequence_order(before, &record.sequence_number),
                Ordering::Less,
                "in shard {}, sequence number {} came after {before}",
                record.shard_id,
                record.sequence_number
            );
        }
    }
}

/// Asserts that every partition key's records were read in the order they
/// were put, wherever they were stored: what a reader owes a key whose
/// records moved to another shard.
pub fn assert_key_order(read: &[ReadRecord], puts: &[Put]) {
    let by_key = |items: Vec<(String, String)>| {
        let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, data) in items {
            grouped.entry(key).or_default().push(data);
        }
        grouped
    };
    let read = by_key(
        read.iter()
            .map(|r| {
                (
                    r.partition_key.clone(),
                    String::from_utf8_lossy(&r.data).into_owned(),
                )
            })
            .collect(),
    );
    let put = by_key(
        puts.iter()
            .map(|p| (p.partition_key.clone(), p.data.clone()))
            .collect(),
    );
    assert_eq!(read, put, "each partition key's records, read against put");
}

/// Reads batches until `count` records have come, within 5 seconds: part of
/// what a stream holds, for a test that acts in the middle of a read.
pub async fn read_at_least(reader: &mut ShardReader, count: usize) -> Vec<ReadRecord> {
    let mut read = Vec::new();
    let reading = async {
        while read.len() < count {
            read.extend(reader.next_batch().await.expect("a batch").records);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("the records come within 5 s");
    read
}
