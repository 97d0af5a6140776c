//! CloudWatch Logs on the endpoint, through the SDK for Rust: groups, streams,
//! events, AWS's errors, and a durable data directory.

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::durable::durable;
use crate::{Lab, REGION};

pub fn logs_client(endpoint_url: &str) -> aws_sdk_cloudwatchlogs::Client {
    use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    )
}

const GROUP: &str = "de-c2w2lab1-firehose-usa-log-group";
const STREAM: &str = "de-c2w2lab1-usa-firehose-log-stream";

fn event(timestamp: i64, message: &str) -> InputLogEvent {
    InputLogEvent::builder()
        .timestamp(timestamp)
        .message(message)
        .build()
        .unwrap()
}

/// Groups and streams are made, described and deleted with AWS's errors for
/// what is missing or already there.
#[tokio::test]
async fn groups_and_streams_with_aws_errors() {
    let lab = Lab::start().await;
    let logs = logs_client(lab.emulator.endpoint_url());
    let err = logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    assert_eq!(err.message(), Some("The specified log group does not exist."));
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let err = logs
        .create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_already_exists_exception(),
        "{err:?}"
    );
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap();
    let err = logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceAlreadyExistsException"));
    logs.create_log_group()
        .log_group_name("other-group")
        .send()
        .await
        .unwrap();

    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("de-")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = groups
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(names, [GROUP]);
    assert_eq!(
        groups.log_groups()[0].arn(),
        Some(format!("arn:aws:logs:{REGION}:000000000000:log-group:{GROUP}:*").as_str())
    );
    let streams = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    assert_eq!(streams.log_streams()[0].log_stream_name(), Some(STREAM));

    let err = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("missing")
        .log_events(event(1, "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(err.message(), Some("The specified log stream does not exist."));

    logs.delete_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap();
    logs.delete_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let err = logs
        .delete_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_resource_not_found_exception());
}

/// GetLogEvents reads a stream in timestamp order with AWS's tokens: the last
/// events by default, the first with startFromHead, and a forward token that
/// comes back unchanged once the reader has caught up; FilterLogEvents finds
/// a plain term across streams.
#[tokio::test]
async fn events_are_read_with_tokens_and_found_with_a_term() {
    let lab = Lab::start().await;
    let logs = logs_client(lab.emulator.endpoint_url());
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    for stream in [STREAM, "other"] {
        logs.create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis();
    let put = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .log_events(event(now - 3000, "first S3.NoSuchBucket"))
        .log_events(event(now - 2000, "second"))
        .log_events(event(now - 1000, "third S3.NoSuchBucket"))
        .send()
        .await
        .unwrap();
    assert!(put.rejected_log_events_info().is_none());
    logs.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("other")
        .log_events(event(now - 1500, "elsewhere S3.NoSuchBucket"))
        .send()
        .await
        .unwrap();
    let err = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .log_events(event(now, "b"))
        .log_events(event(now - 1, "a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    let messages = |events: &[aws_sdk_cloudwatchlogs::types::OutputLogEvent]| -> Vec<String> {
        events.iter().map(|e| e.message().unwrap().to_owned()).collect()
    };
    let head = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .start_from_head(true)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(messages(head.events()), ["first S3.NoSuchBucket", "second"]);
    let rest = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .next_token(head.next_forward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(messages(rest.events()), ["third S3.NoSuchBucket"]);
    let caught_up = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .next_token(rest.next_forward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(caught_up.events().is_empty());
    assert_eq!(caught_up.next_forward_token(), rest.next_forward_token());
    let tail = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(messages(tail.events()), ["third S3.NoSuchBucket"]);
    let before = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .next_token(tail.next_backward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(messages(before.events()), ["first S3.NoSuchBucket", "second"]);

    let found = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("NoSuchBucket")
        .limit(2)
        .send()
        .await
        .unwrap();
    let found_messages: Vec<_> = found.events().iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(
        found_messages,
        ["first S3.NoSuchBucket", "elsewhere S3.NoSuchBucket"]
    );
    assert_eq!(found.events()[1].log_stream_name(), Some("other"));
    let more = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("NoSuchBucket")
        .next_token(found.next_token().unwrap())
        .send()
        .await
        .unwrap();
    let more_messages: Vec<_> = more.events().iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(more_messages, ["third S3.NoSuchBucket"]);
    assert!(more.next_token().is_none());
}

/// On a durable data directory, groups, streams and events outlive a restart;
/// a deleted stream stays deleted.
#[tokio::test]
async fn log_events_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(durable(dir.path())).await;
    let logs = logs_client(lab.emulator.endpoint_url());
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    for stream in [STREAM, "gone"] {
        logs.create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis();
    logs.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .log_events(event(now, "kept"))
        .send()
        .await
        .unwrap();
    logs.delete_log_stream()
        .log_group_name(GROUP)
        .log_stream_name("gone")
        .send()
        .await
        .unwrap();
    lab.emulator.shutdown().await;

    let lab = Lab::start_with(durable(dir.path())).await;
    let logs = logs_client(lab.emulator.endpoint_url());
    let streams = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = streams
        .log_streams()
        .iter()
        .filter_map(|s| s.log_stream_name())
        .collect();
    assert_eq!(names, [STREAM]);
    let events = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(events.events()[0].message(), Some("kept"));
}

/// The lab's part 2 with the USA bucket deleted while its delivery stream
/// runs: Firehose writes an `S3.NoSuchBucket` event per failed attempt to the
/// delivery stream's log group and stream (made, since nobody made them),
/// in AWS's JSON; once the bucket is back, every record lands.
#[tokio::test]
async fn a_deleted_bucket_shows_in_the_log_group_and_nothing_is_lost() {
    use aws_sdk_firehose::types::CloudWatchLoggingOptions;
    let lab = Lab::start().await;
    let logs = logs_client(lab.emulator.endpoint_url());
    lab.create_stream("usa", 1).await;
    lab.create_bucket("usa-bucket").await;
    lab.from_kinesis("usa-firehose", "usa")
        .s3_destination_configuration(
            crate::s3_destination("usa-bucket", (1, 0))
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name(GROUP)
                        .log_stream_name(STREAM)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let first = crate::records(0, 3);
    lab.put("usa", &first).await;
    let objects = lab.wait_for_objects("usa-bucket", "firehose/", 1).await;
    for (key, _) in &objects {
        lab.s3
            .delete_object()
            .bucket("usa-bucket")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    lab.s3.delete_bucket().bucket("usa-bucket").send().await.unwrap();

    let second = crate::records(3, 4);
    lab.put("usa", &second).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let event = loop {
        let page = logs
            .get_log_events()
            .log_group_name(GROUP)
            .log_stream_name(STREAM)
            .start_from_head(true)
            .send()
            .await;
        if let Some(event) = page.ok().and_then(|page| page.events().first().cloned()) {
            break event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no error event was logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let error: serde_json::Value = serde_json::from_str(event.message().unwrap()).unwrap();
    assert_eq!(error["errorCode"], "S3.NoSuchBucket", "{error}");
    assert_eq!(
        error["deliveryStreamARN"],
        format!("arn:aws:firehose:{REGION}:000000000000:deliverystream/usa-firehose")
    );
    assert_eq!(error["destination"], "arn:aws:s3:::usa-bucket");
    assert_eq!(error["deliveryStreamVersionId"], 1);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );

    lab.create_bucket("usa-bucket").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut delivered = loop {
        let delivered: Vec<String> = lab
            .objects("usa-bucket", "firehose/")
            .await
            .iter()
            .flat_map(|(_, body)| crate::split_json(body))
            .map(|v| v.to_string())
            .collect();
        if second.iter().all(|record| delivered.contains(record)) {
            break delivered;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {delivered:?} arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // The first records may have been delivered in more than one object:
    // those still buffered when the bucket went were written once it was
    // back, with the second ones. Nothing else is in the bucket.
    delivered.sort();
    delivered.dedup();
    assert!(
        delivered
            .iter()
            .all(|record| first.contains(record) || second.contains(record)),
        "{delivered:?}"
    );
}

/// A Lambda processor that fails (its command exits with an error) is one
/// `Lambda.FunctionError` event for the batch, naming the function as
/// `processor`, beside the error records under the error output.
#[tokio::test]
async fn a_failing_lambda_is_a_function_error_event() {
    use aws_sdk_firehose::types::{
        BufferingHints, CloudWatchLoggingOptions, ExtendedS3DestinationConfiguration,
    };
    use aws_sdk_firehose::types::{ProcessingConfiguration, ProcessorParameterName, ProcessorType};
    const FUNCTION: &str = crate::processing::FUNCTION;
    let mut config = emulator::Config::for_tests();
    config
        .firehose
        .lambdas
        .insert(FUNCTION.to_owned(), "sh -c 'echo broken >&2; exit 3'".to_owned());
    let lab = Lab::start_with(config).await;
    let logs = logs_client(lab.emulator.endpoint_url());
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.from_kinesis("failing", "source")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(crate::ROLE)
                .bucket_arn("arn:aws:s3:::bucket")
                .prefix("ok/")
                .error_output_prefix("failed/!{firehose:error-output-type}/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(0)
                        .build(),
                )
                .processing_configuration(
                    ProcessingConfiguration::builder()
                        .enabled(true)
                        .processors(crate::processing::processor(
                            ProcessorType::Lambda,
                            &[(ProcessorParameterName::LambdaArn, FUNCTION)],
                        ))
                        .build(),
                )
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name(GROUP)
                        .log_stream_name(STREAM)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    lab.put("source", &["a".to_owned(), "b".to_owned()]).await;
    lab.wait_for_objects("bucket", "failed/processing-failed/", 1)
        .await;
    let found = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("Lambda.FunctionError")
        .send()
        .await
        .unwrap();
    assert!(!found.events().is_empty());
    let error: serde_json::Value = serde_json::from_str(found.events()[0].message().unwrap()).unwrap();
    assert_eq!(error["errorCode"], "Lambda.FunctionError", "{error}");
    assert_eq!(error["processor"], FUNCTION);
}

/// Dynamic partitioning's query finding no key is a
/// `DynamicPartitioning.MetadataExtractionFailed` event when logging is on.
#[tokio::test]
async fn a_record_without_its_partition_key_is_an_event() {
    use crate::processing::processor;
    use aws_sdk_firehose::types::{
        BufferingHints, CloudWatchLoggingOptions, DynamicPartitioningConfiguration,
        ExtendedS3DestinationConfiguration, ProcessingConfiguration, ProcessorParameterName, ProcessorType,
    };
    let lab = Lab::start().await;
    let logs = logs_client(lab.emulator.endpoint_url());
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.from_kinesis("by-country", "source")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(crate::ROLE)
                .bucket_arn("arn:aws:s3:::bucket")
                .prefix("country=!{partitionKeyFromQuery:country}/")
                .error_output_prefix("errors/!{firehose:error-output-type}/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(64)
                        .interval_in_seconds(0)
                        .build(),
                )
                .dynamic_partitioning_configuration(
                    DynamicPartitioningConfiguration::builder().enabled(true).build(),
                )
                .processing_configuration(
                    ProcessingConfiguration::builder()
                        .enabled(true)
                        .processors(processor(
                            ProcessorType::MetadataExtraction,
                            &[
                                (
                                    ProcessorParameterName::MetadataExtractionQuery,
                                    "{country: .country}",
                                ),
                                (ProcessorParameterName::JsonParsingEngine, "JQ-1.6"),
                            ],
                        ))
                        .build(),
                )
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name(GROUP)
                        .log_stream_name(STREAM)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    lab.put("source", &[r#"{"session_id":"no-country"}"#.to_owned()])
        .await;
    lab.wait_for_objects("bucket", "errors/partitioning-failed/", 1)
        .await;
    let events = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .unwrap();
    let error: serde_json::Value = serde_json::from_str(events.events()[0].message().unwrap()).unwrap();
    assert_eq!(
        error["errorCode"], "DynamicPartitioning.MetadataExtractionFailed",
        "{error}"
    );
    assert_eq!(
        error["deliveryStreamARN"],
        format!("arn:aws:firehose:{REGION}:000000000000:deliverystream/by-country")
    );
}
