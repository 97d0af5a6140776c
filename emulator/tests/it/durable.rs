//! A durable data directory: what a restart brings back (issue 10, finding 3).
//! The kill -9 test, with the real binary, is in the e2e suite.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::ShardIteratorType;
use emulator::Config;

use crate::{Lab, records};

pub fn durable(dir: &std::path::Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        durable: true,
        ..Config::for_tests()
    }
}

/// Every record of a stream from TRIM_HORIZON, as (shard, sequence number, data).
pub async fn read_all<E>(lab: &Lab<E>, stream: &str) -> Vec<(String, String, String)> {
    let shards = lab
        .kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut found = Vec::new();
    for shard in shards.shards() {
        let mut iterator = lab
            .kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let page = lab
                .kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .unwrap();
            for record in page.records() {
                found.push((
                    shard.shard_id().to_owned(),
                    record.sequence_number().to_owned(),
                    String::from_utf8(record.data().as_ref().to_vec()).unwrap(),
                ));
            }
            match page.next_shard_iterator() {
                Some(next) if page.millis_behind_latest() != Some(0) || !page.records().is_empty() => {
                    iterator = next.to_owned();
                }
                _ => break,
            }
        }
    }
    found
}

/// Finding: a clean stop lost the streams. Now a restart brings back the
/// streams with their shards, tags and records, under the same sequence
/// numbers, and new records sort after them.
#[tokio::test]
async fn a_restart_brings_back_streams_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_stream("kept", 2).await;
    lab.kinesis
        .add_tags_to_stream()
        .stream_name("kept")
        .tags("course", "lab")
        .send()
        .await
        .unwrap();
    lab.create_stream("gone", 1).await;
    lab.put("kept", &records(0, 40)).await;
    lab.put("gone", &records(0, 5)).await;
    lab.kinesis
        .delete_stream()
        .stream_name("gone")
        .send()
        .await
        .unwrap();
    let before = read_all(&lab, "kept").await;
    assert_eq!(before.len(), 40);
    lab.emulator.shutdown().await;

    let lab = Lab::start_with(durable(dir.path())).await;
    let streams = lab.kinesis.list_streams().send().await.unwrap();
    assert_eq!(streams.stream_names(), ["kept"]);
    let tags = lab
        .kinesis
        .list_tags_for_stream()
        .stream_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "course");
    assert_eq!(read_all(&lab, "kept").await, before);

    // New records come after the restored ones in each shard.
    lab.put("kept", &records(40, 20)).await;
    let after = read_all(&lab, "kept").await;
    assert_eq!(after.len(), 60);
    assert_eq!(&after.iter().filter(|r| before.contains(r)).count(), &40);
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        // Sequence numbers are decimal strings too long for an integer:
        // compare them by length, then digit by digit.
        let sequence: Vec<(usize, &str)> = after
            .iter()
            .filter(|(s, _, _)| s == shard)
            .map(|(_, n, _)| (n.len(), n.as_str()))
            .collect();
        assert!(sequence.windows(2).all(|w| w[0] < w[1]), "{shard}: {sequence:?}");
    }

    // A stream made again under a deleted one's name starts empty.
    lab.create_stream("gone", 1).await;
    assert_eq!(read_all(&lab, "gone").await, []);
    lab.emulator.shutdown().await;
    let lab = Lab::start_with(durable(dir.path())).await;
    assert_eq!(read_all(&lab, "gone").await, []);
    assert_eq!(read_all(&lab, "kept").await.len(), 60);
}

/// Without `durable`, nothing of Kinesis outlives the process.
#[tokio::test]
async fn an_ephemeral_emulator_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::for_tests()
    };
    let lab = Lab::start_with(config()).await;
    lab.create_stream("s", 1).await;
    lab.kinesis
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap();
    lab.emulator.shutdown().await;
    let lab = Lab::start_with(config()).await;
    assert!(
        lab.kinesis
            .list_streams()
            .send()
            .await
            .unwrap()
            .stream_names()
            .is_empty()
    );
}

/// Every record delivered to a bucket, sorted (records of one object may
/// interleave shards).
async fn delivered<E>(lab: &Lab<E>, bucket: &str) -> Vec<String> {
    let mut records: Vec<String> = lab
        .objects(bucket, "")
        .await
        .iter()
        .flat_map(|(_, body)| crate::split_json(body))
        .map(|v| v.to_string())
        .collect();
    records.sort();
    records
}

async fn wait_delivered<E>(lab: &Lab<E>, bucket: &str, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let found = delivered(lab, bucket).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{count} records never reached {bucket}: {:?}",
        delivered(lab, bucket).await
    );
}

fn sorted(mut records: Vec<String>) -> Vec<String> {
    records.sort();
    records
}

/// Finding: a crash lost what Firehose had read and not yet written. Now a
/// crashed delivery stream comes back with its configuration and version, and
/// resumes after the last object S3 took: nothing lost, nothing twice.
#[tokio::test]
async fn a_crash_loses_nothing_firehose_had_taken_and_repeats_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("emulator=debug")
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_stream("source", 2).await;
    lab.create_bucket("fast").await;
    lab.create_bucket("slow").await;
    lab.create_delivery_stream("fast", "source", "fast", (1, 0)).await;
    lab.create_delivery_stream("slow", "source", "slow", (128, 900))
        .await;
    lab.put("source", &records(0, 5)).await;
    wait_delivered(&lab, "fast", 5).await;
    // Dropped without a shutdown: every task stops where it is, as in a crash.
    drop(lab);

    let lab = Lab::start_with(durable(dir.path())).await;
    let described = lab
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name("slow")
        .send()
        .await
        .unwrap();
    let description = described.delivery_stream_description().unwrap();
    assert_eq!(description.delivery_stream_status().as_str(), "ACTIVE");
    assert_eq!(description.version_id(), "1");
    lab.put("source", &records(5, 5)).await;
    wait_delivered(&lab, "fast", 10).await;
    lab.emulator.shutdown().await;

    let lab = Lab::start_with(durable(dir.path())).await;
    assert_eq!(delivered(&lab, "fast").await, sorted(records(0, 10)));
    assert_eq!(delivered(&lab, "slow").await, sorted(records(0, 10)));
}

/// A `DirectPut` stream's acknowledged records survive a crash too.
#[tokio::test]
async fn direct_put_records_survive_a_crash() {
    use aws_sdk_firehose::primitives::Blob as FirehoseBlob;
    use aws_sdk_firehose::types::Record as FirehoseRecord;
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_bucket("bucket").await;
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("direct")
        .s3_destination_configuration(crate::s3_destination("bucket", (128, 900)).build().unwrap())
        .send()
        .await
        .unwrap();
    let sent = records(0, 3);
    let batch: Vec<FirehoseRecord> = sent
        .iter()
        .map(|r| {
            FirehoseRecord::builder()
                .data(FirehoseBlob::new(r.as_bytes()))
                .build()
                .unwrap()
        })
        .collect();
    lab.firehose
        .put_record_batch()
        .delivery_stream_name("direct")
        .set_records(Some(batch))
        .send()
        .await
        .unwrap();
    drop(lab);

    let lab = Lab::start_with(durable(dir.path())).await;
    lab.emulator.shutdown().await;
    let lab = Lab::start_with(durable(dir.path())).await;
    assert_eq!(delivered(&lab, "bucket").await, sorted(sent));
}

/// What S3 refuses at a clean stop is kept, and delivered after the restart
/// once the bucket exists.
#[tokio::test]
async fn records_s3_refused_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_stream("source", 1).await;
    lab.create_delivery_stream("late", "source", "not-yet", (1, 0))
        .await;
    lab.put("source", &records(0, 4)).await;
    lab.emulator.shutdown().await;

    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_bucket("not-yet").await;
    assert_eq!(wait_delivered(&lab, "not-yet", 4).await, sorted(records(0, 4)));
}
