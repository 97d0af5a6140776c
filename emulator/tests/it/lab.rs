//! The lab's part 2 infrastructure, made with the lab's exact calls.

use aws_sdk_firehose::types::{
    BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    KinesisStreamSourceConfiguration, NoEncryptionConfig, S3DestinationConfiguration,
};
use emulator::Config;
use regex::Regex;

use crate::{ACCOUNT, Lab, ROLE, records, split_json, stream_arn};

const SOURCE: &str = "de-c2w2lab1-kinesis-data-stream";
const USA: &str = "de-c2w2lab1-usa-data-stream";
const INTERNATIONAL: &str = "de-c2w2lab1-international-data-stream";

/// The lab's CreateDeliveryStream call, every parameter as the lab sends it.
async fn create_lab_delivery_stream(lab: &Lab, region: &str, stream: &str, bucket: &str) {
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name(format!("de-c2w2lab1-firehose-{region}"))
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(stream_arn(stream))
                .role_arn(ROLE)
                .build()
                .unwrap(),
        )
        .s3_destination_configuration(
            S3DestinationConfiguration::builder()
                .role_arn(ROLE)
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix("firehose/")
                .error_output_prefix("errors/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(60)
                        .build(),
                )
                .compression_format(CompressionFormat::Uncompressed)
                .encryption_configuration(
                    EncryptionConfiguration::builder()
                        .no_encryption_config(NoEncryptionConfig::NoEncryption)
                        .build(),
                )
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name(format!("de-c2w2lab1-firehose-{region}-log-group"))
                        .log_stream_name(format!("de-c2w2lab1-{region}-firehose-log-stream"))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The whole of the lab's part 2 infrastructure can be made as the lab makes it,
/// is described back as AWS describes it, and delivers each route to its bucket
/// with AWS's key format and framing (here flushed by a clean shutdown, since
/// the lab's 60 s interval is too long for a test).
#[tokio::test]
async fn the_labs_part_2_infrastructure_delivers_each_route_to_its_bucket() {
    let data = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(Config {
        data_dir: Some(data.path().to_path_buf()),
        ..Config::for_tests()
    })
    .await;
    lab.create_stream(SOURCE, 4).await;
    lab.create_stream(USA, 2).await;
    lab.create_stream(INTERNATIONAL, 2).await;
    let usa_bucket = format!("de-c2w2lab1-{ACCOUNT}-usa");
    let int_bucket = format!("de-c2w2lab1-{ACCOUNT}-int");
    lab.create_bucket(&usa_bucket).await;
    lab.create_bucket(&int_bucket).await;
    create_lab_delivery_stream(&lab, "usa", USA, &usa_bucket).await;
    create_lab_delivery_stream(&lab, "international", INTERNATIONAL, &int_bucket).await;

    let described = lab
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name("de-c2w2lab1-firehose-usa")
        .send()
        .await
        .unwrap();
    let description = described.delivery_stream_description().unwrap();
    assert_eq!(description.delivery_stream_status().as_str(), "ACTIVE");
    assert_eq!(
        description.delivery_stream_type().as_str(),
        "KinesisStreamAsSource"
    );
    assert_eq!(description.version_id(), "1");
    assert_eq!(
        description.delivery_stream_arn(),
        format!("arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/de-c2w2lab1-firehose-usa")
    );
    let source = description
        .source()
        .unwrap()
        .kinesis_stream_source_description()
        .unwrap();
    assert_eq!(source.kinesis_stream_arn(), Some(stream_arn(USA).as_str()));
    assert_eq!(source.role_arn(), Some(ROLE));
    let destination = description.destinations()[0]
        .s3_destination_description()
        .unwrap();
    assert_eq!(destination.bucket_arn(), format!("arn:aws:s3:::{usa_bucket}"));
    assert_eq!(destination.prefix(), Some("firehose/"));
    assert_eq!(destination.error_output_prefix(), Some("errors/"));
    let hints = destination.buffering_hints().unwrap();
    assert_eq!(
        (hints.size_in_mbs(), hints.interval_in_seconds()),
        (Some(1), Some(60))
    );
    assert_eq!(destination.compression_format().as_str(), "UNCOMPRESSED");
    let logging = destination.cloud_watch_logging_options().unwrap();
    assert_eq!(
        logging.log_group_name(),
        Some("de-c2w2lab1-firehose-usa-log-group")
    );
    let extended = description.destinations()[0]
        .extended_s3_destination_description()
        .unwrap();
    assert_eq!(extended.prefix(), Some("firehose/"));

    let usa_records = records(0, 5);
    let int_records = records(100, 3);
    lab.put(USA, &usa_records).await;
    lab.put(INTERNATIONAL, &int_records).await;
    // Let a poll take the records in before stopping.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    lab.emulator.shutdown().await;

    let key = Regex::new(
        r"^firehose/\d{4}/\d{2}/\d{2}/\d{2}/de-c2w2lab1-firehose-(usa|international)-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    )
    .unwrap();
    for (bucket, expected) in [(&usa_bucket, &usa_records), (&int_bucket, &int_records)] {
        let files = files_under(&data.path().join("s3").join(bucket));
        assert_eq!(files.len(), 1, "{bucket}: {files:?}");
        let (path, body) = &files[0];
        assert!(key.is_match(path), "{path}");
        // Records from different shards may interleave; each arrives exactly once.
        let mut got: Vec<String> = split_json(body).iter().map(|v| v.to_string()).collect();
        let mut want = expected.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }
}

/// Every file under a bucket's directory, as (key, bytes), skipping s3s-fs's
/// own metadata files.
pub fn files_under(bucket_dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![bucket_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".bucket-")
            {
                let key = path
                    .strip_prefix(bucket_dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}
