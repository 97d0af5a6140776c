//! How Firehose delivers: when, where, in what shape, and never losing a record.

use std::time::Duration;

use aws_sdk_firehose::types::{CompressionFormat, DeliveryStreamType, KinesisStreamSourceConfiguration};
use emulator::Config;
use emulator::firehose::delivery::source::KinesisSource;
use flate2::read::GzDecoder;
use std::io::Read;

use crate::lab::files_under;
use crate::{Lab, ROLE, records, s3_destination, split_json, stream_arn};

/// An interval-triggered delivery: records arrive, and one object holding all of
/// them, concatenated in order with no delimiter, lands after the interval.
#[tokio::test]
async fn delivers_when_the_interval_has_passed() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("to-bucket", "source", "bucket", (1, 1))
        .await;
    let sent = records(0, 3);
    let started = tokio::time::Instant::now();
    lab.put("source", &sent).await;

    let objects = lab.wait_for_objects("bucket", "firehose/", 1).await;
    let waited = started.elapsed();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0].1,
        sent.concat().into_bytes(),
        "records concatenated in order, no delimiter"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "delivered after {waited:?}, before the 1 s interval"
    );
}

/// A size-triggered delivery: a 1 MB buffer filled by large records is delivered
/// at once, long before its 900 s interval, and never holds more than 1 MiB.
#[tokio::test]
async fn delivers_when_the_buffer_is_full() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("by-size", "source", "bucket", (1, 900))
        .await;
    let big: Vec<String> = (0..3)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(400 * 1024)))
        .collect();
    lab.put("source", &big).await;

    let objects = lab.wait_for_objects("bucket", "firehose/", 1).await;
    assert_eq!(objects.len(), 1, "the third record waits for the next object");
    assert_eq!(objects[0].1, big[..2].concat().into_bytes());
}

/// Finding: a buffer filled by a put was noticed only at Firehose's next read
/// of its source, up to a read cycle later. A put now wakes the delivery
/// stream: with reads a minute apart, the full buffer is still written at once.
#[tokio::test]
async fn a_put_that_fills_the_buffer_is_read_without_waiting_for_the_read_cycle() {
    let mut config = Config::for_tests();
    config.firehose.poll_interval = Duration::from_secs(60);
    let lab = Lab::start_with(config).await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("by-size", "source", "bucket", (1, 900))
        .await;
    // The delivery stream's first read (LATEST, at creation) is behind it now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let big: Vec<String> = (0..3)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(400 * 1024)))
        .collect();
    lab.put("source", &big).await;

    // Within wait_for_objects' 20 s: long before the next read, a minute on.
    let objects = lab.wait_for_objects("bucket", "firehose/", 1).await;
    assert_eq!(objects[0].1, big[..2].concat().into_bytes());
}

/// Firehose reads from LATEST: what was on the stream before the delivery stream
/// existed is not delivered.
#[tokio::test]
async fn records_put_before_creation_are_not_delivered() {
    let lab = Lab::start().await;
    lab.create_stream("source", 2).await;
    lab.create_bucket("bucket").await;
    lab.put("source", &records(0, 4)).await;
    lab.create_delivery_stream("late", "source", "bucket", (1, 0))
        .await;
    let after = records(10, 4);
    lab.put("source", &after).await;

    let delivered = wait_for_records(&lab, "bucket", after.len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = all_records(&lab, "bucket").await;
    assert_eq!(sorted(delivered), sorted(after.clone()));
    assert_eq!(
        again.len(),
        after.len(),
        "nothing from before the creation shows up later"
    );
}

/// A reshard of the source stream: records before and after the split are all
/// delivered, once each.
#[tokio::test]
async fn follows_the_source_through_a_reshard() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("resharded", "source", "bucket", (1, 0))
        .await;
    let before = records(0, 5);
    lab.put("source", &before).await;
    split_in_two(&lab, "source").await;
    let after = records(100, 6);
    lab.put("source", &after).await;

    let mut expected = before.clone();
    expected.extend(after.clone());
    let delivered = wait_for_records(&lab, "bucket", expected.len()).await;
    assert_eq!(sorted(delivered), sorted(expected));
}

/// The reader behind Firehose finishes a parent shard before it reads the
/// children, so per-key order survives a reshard.
#[tokio::test]
async fn the_reader_reads_a_parent_to_its_end_before_its_children() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    let idle = std::time::Duration::from_millis(50);
    let mut source = KinesisSource::open_at_latest(lab.kinesis.clone(), "source", idle)
        .await
        .unwrap();
    let before = records(0, 5);
    lab.put("source", &before).await;
    split_in_two(&lab, "source").await;
    let after = records(100, 6);
    lab.put("source", &after).await;

    let mut read = Vec::new();
    for _ in 0..10 {
        let records = source.read_all().await.unwrap();
        read.extend(records.into_iter().map(|r| String::from_utf8(r.data).unwrap()));
    }
    let mut expected = before.clone();
    expected.extend(after.clone());
    assert_eq!(sorted(read.clone()), sorted(expected));
    assert_eq!(
        read[..before.len()],
        before[..],
        "the parent's records, in order, before any child's"
    );
}

async fn split_in_two(lab: &Lab, stream: &str) {
    lab.kinesis
        .update_shard_count()
        .stream_name(stream)
        .target_shard_count(2)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    lab.wait_for_stream(stream).await;
}

/// A bucket created after the records arrived: S3 refuses the write, Firehose
/// keeps the data and retries, and it all lands once the bucket exists.
#[tokio::test]
async fn a_bucket_created_late_still_gets_everything() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_delivery_stream("patient", "source", "late-bucket", (1, 0))
        .await;
    let sent = records(0, 5);
    lab.put("source", &sent).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(lab.s3.head_bucket().bucket("late-bucket").send().await.is_err());

    lab.create_bucket("late-bucket").await;
    let delivered = wait_for_records(&lab, "late-bucket", sent.len()).await;
    assert_eq!(sorted(delivered), sorted(sent));
}

/// CompressionFormat GZIP: keys end in `.gz` and bodies are gzip.
#[tokio::test]
async fn gzip_compresses_and_names_objects_gz() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("zipped")
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(stream_arn("source"))
                .role_arn(ROLE)
                .build()
                .unwrap(),
        )
        .s3_destination_configuration(
            s3_destination("bucket", (1, 0))
                .compression_format(CompressionFormat::Gzip)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let sent = records(0, 3);
    lab.put("source", &sent).await;
    // An interval of 0 delivers every read, so the records may span objects,
    // and objects of the same second sort by their random suffix, not by time.
    let mut delivered = Vec::new();
    for _ in 0..400 {
        delivered.clear();
        for (key, object) in lab.objects("bucket", "firehose/").await {
            assert!(key.ends_with(".gz"), "{key}");
            let mut body = Vec::new();
            GzDecoder::new(&object[..]).read_to_end(&mut body).unwrap();
            delivered.extend(split_json(&body).iter().map(|v| v.to_string()));
        }
        if delivered.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sorted(delivered), sent);
}

/// A clean shutdown delivers what is still buffered, even with a long interval.
#[tokio::test]
async fn shutdown_flushes_the_buffers() {
    let data = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(Config {
        data_dir: Some(data.path().to_path_buf()),
        ..Config::for_tests()
    })
    .await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("slow", "source", "bucket", (128, 900))
        .await;
    let sent = records(0, 4);
    lab.put("source", &sent).await;
    lab.emulator.shutdown().await;

    let files = files_under(&data.path().join("s3/bucket"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, sent.concat().into_bytes());
}

/// Each record of a bucket's objects. Objects are taken in key order, which is
/// time order only to the second: the records of objects written within the
/// same second may come in any order.
async fn all_records(lab: &Lab, bucket: &str) -> Vec<String> {
    lab.objects(bucket, "firehose/")
        .await
        .iter()
        .flat_map(|(_, body)| split_json(body))
        .map(|v| v.to_string())
        .collect()
}

async fn wait_for_records(lab: &Lab, bucket: &str, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = all_records(lab, bucket).await;
        if got.len() >= count {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} records arrived",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sorted(mut records: Vec<String>) -> Vec<String> {
    records.sort();
    records
}

/// Finding: KPL-aggregated records were written to S3 as their raw aggregate
/// bytes. AWS's Firehose takes a Kinesis source's aggregates apart before it
/// buffers, and so does this one: the object holds the user records.
#[tokio::test]
async fn kpl_aggregates_are_taken_apart_before_buffering() {
    use shard_reader::kpl;
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("deagg", "source", "bucket", (1, 0))
        .await;
    let sent = records(0, 10);
    for part in sent.chunks(5) {
        let packed = kpl::aggregate(part.iter().map(|r| ("key", r.as_bytes())));
        lab.kinesis
            .put_record()
            .stream_name("source")
            .partition_key("key")
            .data(aws_sdk_kinesis::primitives::Blob::new(packed))
            .send()
            .await
            .unwrap();
    }
    let delivered = wait_for_records(&lab, "bucket", sent.len()).await;
    assert_eq!(sorted(delivered), sorted(sent));
}

/// Finding: ZIP, Snappy and HADOOP_SNAPPY were refused. Now each writes
/// objects in its format with AWS's extension, and FileExtension overrides it.
#[tokio::test]
async fn zip_snappy_and_hadoop_snappy_write_their_formats() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    for (name, format, extension) in [
        ("zipped", CompressionFormat::Zip, None),
        ("snappy", CompressionFormat::Snappy, None),
        ("hadoop", CompressionFormat::HadoopSnappy, Some(".snappy-blocks")),
    ] {
        let mut destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
            .role_arn(ROLE)
            .bucket_arn("arn:aws:s3:::bucket")
            .prefix(format!("{name}/"))
            .buffering_hints(
                aws_sdk_firehose::types::BufferingHints::builder()
                    .size_in_mbs(1)
                    .interval_in_seconds(0)
                    .build(),
            )
            .compression_format(format);
        if let Some(extension) = extension {
            destination = destination.file_extension(extension);
        }
        lab.from_kinesis(name, "source")
            .extended_s3_destination_configuration(destination.build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let sent = records(0, 3);
    lab.put("source", &sent).await;
    for (prefix, extension) in [
        ("zipped/", ".zip"),
        ("snappy/", ".snappy"),
        ("hadoop/", ".snappy-blocks"),
    ] {
        let mut delivered = Vec::new();
        for _ in 0..400 {
            delivered.clear();
            for (key, object) in lab.objects("bucket", prefix).await {
                assert!(key.ends_with(extension), "{key}");
                let body = match prefix {
                    "zipped/" => {
                        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(object)).unwrap();
                        let mut entry = archive.by_index(0).unwrap();
                        let mut body = Vec::new();
                        entry.read_to_end(&mut body).unwrap();
                        body
                    }
                    "snappy/" => {
                        let mut body = Vec::new();
                        snap::read::FrameDecoder::new(&object[..])
                            .read_to_end(&mut body)
                            .unwrap();
                        body
                    }
                    _ => {
                        // One Hadoop block: its length, its chunk's length, the chunk.
                        let compressed = u32::from_be_bytes(object[4..8].try_into().unwrap()) as usize;
                        snap::raw::Decoder::new()
                            .decompress_vec(&object[8..8 + compressed])
                            .unwrap()
                    }
                };
                delivered.extend(split_json(&body).iter().map(|v| v.to_string()));
            }
            if delivered.len() >= sent.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sorted(delivered), sorted(sent.clone()), "{prefix}");
    }
}
