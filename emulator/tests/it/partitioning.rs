//! Dynamic partitioning (issue 11): records delivered under the prefix their
//! partition keys make, from a JQ query or from a Lambda function; records
//! without their keys as `partitioning-failed` error records; the rules AWS
//! sets on such a configuration; and a crash that loses no record still
//! waiting in a partition's buffer.

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{
    BufferingHints, DynamicPartitioningConfiguration, ExtendedS3DestinationConfiguration,
    ExtendedS3DestinationUpdate, ProcessingConfiguration, ProcessorParameterName, ProcessorType, Record,
};
use base64::Engine;

use crate::durable::durable;
use crate::processing::{FUNCTION, processor};
use crate::{Lab, ROLE};

fn partitioned(
    prefix: &str,
    processing: ProcessingConfiguration,
    interval: i32,
) -> ExtendedS3DestinationConfiguration {
    ExtendedS3DestinationConfiguration::builder()
        .role_arn(ROLE)
        .bucket_arn("arn:aws:s3:::bucket")
        .prefix(prefix)
        .error_output_prefix("errors/!{firehose:error-output-type}/")
        .buffering_hints(
            BufferingHints::builder()
                .size_in_mbs(64)
                .interval_in_seconds(interval)
                .build(),
        )
        .dynamic_partitioning_configuration(DynamicPartitioningConfiguration::builder().enabled(true).build())
        .processing_configuration(processing)
        .build()
        .unwrap()
}

fn query(text: &str) -> ProcessingConfiguration {
    ProcessingConfiguration::builder()
        .enabled(true)
        .processors(processor(
            ProcessorType::RecordDeAggregation,
            &[(ProcessorParameterName::SubRecordType, "JSON")],
        ))
        .processors(processor(
            ProcessorType::MetadataExtraction,
            &[
                (ProcessorParameterName::MetadataExtractionQuery, text),
                (ProcessorParameterName::JsonParsingEngine, "JQ-1.6"),
            ],
        ))
        .processors(processor(ProcessorType::AppendDelimiterToRecord, &[]))
        .build()
}

/// The lines of every object under `prefix`, and the object keys, once
/// `count` lines are there.
async fn lines_under(lab: &Lab, prefix: &str, count: usize) -> (Vec<String>, Vec<String>) {
    let objects = lab.wait_for_objects("bucket", prefix, 1).await;
    for _ in 0..200 {
        let objects = lab.objects("bucket", prefix).await;
        let lines: Vec<String> = objects
            .iter()
            .flat_map(|(_, body)| {
                String::from_utf8_lossy(body)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        if lines.len() >= count {
            return (lines, objects.into_iter().map(|(key, _)| key).collect());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} lines never arrived under {prefix}: {objects:?}");
}

async fn put_direct(lab: &Lab, stream: &str, records: &[&str]) {
    let batch: Vec<Record> = records
        .iter()
        .map(|r| Record::builder().data(Blob::new(r.as_bytes())).build().unwrap())
        .collect();
    let put = lab
        .firehose
        .put_record_batch()
        .delivery_stream_name(stream)
        .set_records(Some(batch))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_put_count(), 0);
}

/// MetadataExtraction's JQ query partitions the records of a Kinesis source:
/// each partition is its own object under the prefix its key makes (no hour
/// folders), and a record without the key is a `partitioning-failed` error
/// record with AWS's error code.
#[tokio::test]
async fn a_jq_query_partitions_records_and_records_without_the_key_are_error_records() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.from_kinesis("by-customer", "source")
        .extended_s3_destination_configuration(partitioned(
            "customer=!{partitionKeyFromQuery:customer}/",
            query("{customer: .customer_id}"),
            0,
        ))
        .send()
        .await
        .unwrap();
    let extended = lab.extended_destination("by-customer").await;
    let partitioning = extended.dynamic_partitioning_configuration().unwrap();
    assert_eq!(partitioning.enabled(), Some(true));
    assert_eq!(
        partitioning.retry_options().unwrap().duration_in_seconds(),
        Some(300)
    );

    lab.put(
        "source",
        &[
            r#"{"customer_id":"a","n":1}{"customer_id":"b","n":2}"#.to_owned(),
            r#"{"customer_id":"a","n":3}"#.to_owned(),
            r#"{"n":4}"#.to_owned(),
        ],
    )
    .await;
    let (mut a, keys) = lines_under(&lab, "customer=a/", 2).await;
    a.sort();
    assert_eq!(
        a,
        [r#"{"customer_id":"a","n":1}"#, r#"{"customer_id":"a","n":3}"#]
    );
    for key in &keys {
        let name = key.strip_prefix("customer=a/").unwrap();
        assert!(name.starts_with("by-customer-1-") && !name.contains('/'), "{key}");
    }
    let (b, _) = lines_under(&lab, "customer=b/", 1).await;
    assert_eq!(b, [r#"{"customer_id":"b","n":2}"#]);

    let errors = lab
        .wait_for_objects("bucket", "errors/partitioning-failed/", 1)
        .await;
    let error: serde_json::Value = serde_json::from_slice(errors[0].1.trim_ascii_end()).unwrap();
    assert_eq!(error["errorCode"], "DynamicPartitioning.MetadataExtractionFailed");
    assert!(
        error["errorMessage"].as_str().unwrap().contains("\"customer\""),
        "{error}"
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(error["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, br#"{"n":4}"#);
}

/// AWS's own integration test of dynamic partitioning with a Lambda function
/// (in the AWS CDK), replayed: three sessions in one record, de-aggregated,
/// partitioned by the keys the function returns; the one without keys lands
/// in `error-output/partitioning-failed/`.
#[tokio::test]
async fn lambda_partition_keys_place_records_as_on_aws() {
    let function = r#"python3 -c '
import base64, json, sys
out = []
for r in json.load(sys.stdin)["records"]:
    payload = json.loads(base64.b64decode(r["data"]))
    keys = {}
    if "foo" in payload:
        keys["key1"] = payload["foo"]
    if "bar" in payload:
        keys["key2"] = payload["bar"]["baz"].upper()
    out.append({"recordId": r["recordId"], "result": "Ok", "data": r["data"], "metadata": {"partitionKeys": keys}})
print(json.dumps({"records": out}))
'"#;
    let mut config = emulator::Config::for_tests();
    config
        .firehose
        .lambdas
        .insert(FUNCTION.to_owned(), function.to_owned());
    let lab = Lab::start_with(config).await;
    lab.create_bucket("bucket").await;
    let processing = ProcessingConfiguration::builder()
        .enabled(true)
        .processors(processor(
            ProcessorType::RecordDeAggregation,
            &[(ProcessorParameterName::SubRecordType, "JSON")],
        ))
        .processors(processor(
            ProcessorType::Lambda,
            &[(ProcessorParameterName::LambdaArn, FUNCTION)],
        ))
        .build();
    let mut destination = partitioned(
        "key1=!{partitionKeyFromLambda:key1}/key2=!{partitionKeyFromLambda:key2}/",
        processing,
        0,
    );
    destination.error_output_prefix = Some("error-output/!{firehose:error-output-type}/".to_owned());
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("lambda-partitioned")
        .extended_s3_destination_configuration(destination)
        .send()
        .await
        .unwrap();
    let records = [
        r#"{"foo":"recordA","bar":{"baz":"Partition1","blah":"blah"},"data":"data1"}"#,
        r#"{"foo":"recordB","bar":{"baz":"Partition2","blah":"quux"},"data":"data2"}"#,
        r#"{"data":"data3"}"#,
    ];
    put_direct(&lab, "lambda-partitioned", &[&records.concat()]).await;
    let a = lab
        .wait_for_objects("bucket", "key1=recordA/key2=PARTITION1/", 1)
        .await;
    assert_eq!(a[0].1, records[0].as_bytes());
    let b = lab
        .wait_for_objects("bucket", "key1=recordB/key2=PARTITION2/", 1)
        .await;
    assert_eq!(b[0].1, records[1].as_bytes());
    let failed = lab
        .wait_for_objects("bucket", "error-output/partitioning-failed/", 1)
        .await;
    let error: serde_json::Value = serde_json::from_slice(failed[0].1.trim_ascii_end()).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(error["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, records[2].as_bytes());
}

/// What AWS refuses in a partitioned configuration is refused, each time with
/// what to change; dynamic partitioning cannot be turned off by an update.
#[tokio::test]
async fn partitioning_configurations_are_checked_as_aws_checks_them() {
    let lab = Lab::start().await;
    lab.create_bucket("bucket").await;
    let key = "c=!{partitionKeyFromQuery:c}/";
    let good = || partitioned(key, query("{c: .c}"), 60);
    let no_error_prefix = {
        let mut d = good();
        d.error_output_prefix = None;
        d
    };
    let small = {
        let mut d = good();
        d.buffering_hints = Some(BufferingHints::builder().size_in_mbs(5).build());
        d
    };
    let no_key = partitioned("static/", query("{c: .c}"), 60);
    let no_query = partitioned(
        key,
        ProcessingConfiguration::builder()
            .enabled(true)
            .processors(processor(ProcessorType::AppendDelimiterToRecord, &[]))
            .build(),
        60,
    );
    let not_enabled = {
        let mut d = good();
        d.dynamic_partitioning_configuration = None;
        d
    };
    let bad_jq = partitioned(key, query("{c: .c"), 60);
    let cases = [
        (no_error_prefix, "ErrorOutputPrefix"),
        (small, "at least 64"),
        (no_key, "must use a partition key"),
        (no_query, "MetadataExtraction processor"),
        (not_enabled, "DynamicPartitioningConfiguration.Enabled"),
        (bad_jq, "not a valid JQ expression"),
    ];
    for (index, (destination, reason)) in cases.into_iter().enumerate() {
        let refused = lab
            .firehose
            .create_delivery_stream()
            .delivery_stream_name(format!("refused-{index}"))
            .extended_s3_destination_configuration(destination)
            .send()
            .await
            .unwrap_err();
        let message = aws_sdk_firehose::error::ProvideErrorMetadata::message(&refused)
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(reason), "case {index}: {message}");
    }

    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("partitioned")
        .extended_s3_destination_configuration(good())
        .send()
        .await
        .unwrap();
    let off = lab
        .firehose
        .update_destination()
        .delivery_stream_name("partitioned")
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .extended_s3_destination_update(
            ExtendedS3DestinationUpdate::builder()
                .prefix("flat/")
                .dynamic_partitioning_configuration(
                    DynamicPartitioningConfiguration::builder().enabled(false).build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    let message = aws_sdk_firehose::error::ProvideErrorMetadata::message(&off).unwrap_or_default();
    assert!(
        message.contains("only be turned on or off when a delivery stream is created"),
        "{message}"
    );
}

/// Finding (found while building partitions): one partition's object written
/// moved the checkpoint past a record still waiting in another partition's
/// buffer, so a crash lost it. The checkpoint now stops before the oldest
/// record held anywhere: after the crash the waiting record is delivered.
#[tokio::test]
async fn a_crash_loses_no_record_waiting_in_another_partition() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    lab.create_bucket("bucket").await;
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("partitions")
        .extended_s3_destination_configuration(partitioned(
            "p=!{partitionKeyFromQuery:p}/",
            query("{p: .p}"),
            900,
        ))
        .send()
        .await
        .unwrap();
    // One small record waits in partition "slow" (900 s interval)...
    put_direct(&lab, "partitions", &[r#"{"p":"slow"}"#]).await;
    // ...while partition "fast" fills 64 MiB and is written.
    let pad = "x".repeat(1000 * 1024 - 64);
    let big = format!(r#"{{"p":"fast","pad":"{pad}"}}"#);
    for _ in 0..17 {
        put_direct(&lab, "partitions", &[&big, &big, &big, &big]).await;
    }
    lab.wait_for_objects("bucket", "p=fast/", 1).await;
    assert!(lab.objects("bucket", "p=slow/").await.is_empty());
    // A crash: no shutdown, nothing sealed.
    drop(lab);

    let lab = Lab::start_with(durable(dir.path())).await;
    lab.emulator.shutdown().await;
    let lab = Lab::start_with(durable(dir.path())).await;
    let slow = lab.objects("bucket", "p=slow/").await;
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].1, b"{\"p\":\"slow\"}\n");
}

/// AWS's quota of 500 partitions buffering at once: the record that would
/// open the 501st is a `partitioning-failed` error record that says so, and
/// the 500 others are delivered.
#[tokio::test]
async fn the_record_past_500_active_partitions_is_an_error_record() {
    let lab = Lab::start().await;
    lab.create_bucket("bucket").await;
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("many")
        .extended_s3_destination_configuration(partitioned(
            "id=!{partitionKeyFromQuery:id}/",
            query("{id: .id}"),
            0,
        ))
        .send()
        .await
        .unwrap();
    // One record of 501 sessions: de-aggregated, they reach the buffers together.
    let sessions: String = (0..501).map(|id| format!(r#"{{"id":{id}}}"#)).collect();
    put_direct(&lab, "many", &[&sessions]).await;
    let errors = lab
        .wait_for_objects("bucket", "errors/partitioning-failed/", 1)
        .await;
    let error: serde_json::Value = serde_json::from_slice(errors[0].1.trim_ascii_end()).unwrap();
    assert_eq!(
        error["errorCode"],
        "DynamicPartitioning.ActivePartitionsLimitExceeded"
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(error["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, br#"{"id":500}"#);
    // Counted from the listing: 500 objects are too many to read at each look.
    let mut listed = 0;
    for _ in 0..200 {
        let listing = lab
            .s3
            .list_objects_v2()
            .bucket("bucket")
            .prefix("id=")
            .send()
            .await
            .unwrap();
        listed = listing.key_count().unwrap_or_default();
        if listed >= 500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listed, 500);
}
