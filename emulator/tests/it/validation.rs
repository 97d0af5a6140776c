//! Every validation error, with AWS's error type.

use std::time::Duration;

use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::operation::create_delivery_stream::builders::CreateDeliveryStreamFluentBuilder;
use aws_sdk_firehose::types::{
    BufferingHints, DeliveryStreamType, ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration,
};
use emulator::Config;

use crate::{Lab, ROLE, s3_destination, stream_arn};

/// A CreateDeliveryStream that is valid but for what each test changes.
fn valid(lab: &Lab, name: &str) -> CreateDeliveryStreamFluentBuilder {
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(stream_arn("source"))
                .role_arn(ROLE)
                .build()
                .unwrap(),
        )
        .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap())
}

async fn error_of(request: CreateDeliveryStreamFluentBuilder) -> (String, String) {
    let err = request.send().await.expect_err("the request should be refused");
    (
        err.code().unwrap_or("?").to_owned(),
        err.message().unwrap_or("").to_owned(),
    )
}

/// Names, ARNs, hints and prefixes are checked as AWS checks them, and each
/// refusal carries AWS's error type.
#[tokio::test]
async fn create_refuses_what_aws_refuses() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    let bad_hints = |size, interval| s3_destination("bucket", (size, interval)).build().unwrap();
    let cases: Vec<(&str, CreateDeliveryStreamFluentBuilder, &str)> = vec![
        ("bad name", valid(&lab, "has space"), "ValidationException"),
        ("long name", valid(&lab, &"n".repeat(65)), "ValidationException"),
        (
            "size 0",
            valid(&lab, "a").s3_destination_configuration(bad_hints(0, 60)),
            "ValidationException",
        ),
        (
            "size 129",
            valid(&lab, "a").s3_destination_configuration(bad_hints(129, 60)),
            "ValidationException",
        ),
        (
            "interval 901",
            valid(&lab, "a").s3_destination_configuration(bad_hints(1, 901)),
            "ValidationException",
        ),
        (
            "interval -1",
            valid(&lab, "a").s3_destination_configuration(bad_hints(1, -1)),
            "ValidationException",
        ),
        (
            "bad bucket ARN",
            valid(&lab, "a").s3_destination_configuration(
                s3_destination("bucket", (1, 60))
                    .bucket_arn("bucket")
                    .build()
                    .unwrap(),
            ),
            "ValidationException",
        ),
        (
            "bad role ARN",
            valid(&lab, "a").s3_destination_configuration(
                s3_destination("bucket", (1, 60))
                    .role_arn("arn:aws:iam::1:role/x")
                    .build()
                    .unwrap(),
            ),
            "ValidationException",
        ),
        (
            "bad stream ARN",
            valid(&lab, "a").kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn("source")
                    .role_arn(ROLE)
                    .build()
                    .unwrap(),
            ),
            "ValidationException",
        ),
        (
            "missing source stream",
            valid(&lab, "a").kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(stream_arn("nope"))
                    .role_arn(ROLE)
                    .build()
                    .unwrap(),
            ),
            "InvalidArgumentException",
        ),
        (
            "source in another account",
            valid(&lab, "a").kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/source")
                    .role_arn(ROLE)
                    .build()
                    .unwrap(),
            ),
            "InvalidArgumentException",
        ),
        (
            "no source configuration",
            lab.firehose
                .create_delivery_stream()
                .delivery_stream_name("a")
                .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
                .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap()),
            "InvalidArgumentException",
        ),
        (
            "no destination",
            lab.firehose.create_delivery_stream().delivery_stream_name("a"),
            "InvalidArgumentException",
        ),
        (
            "two destinations",
            valid(&lab, "a").extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn(ROLE)
                    .bucket_arn("arn:aws:s3:::bucket")
                    .build()
                    .unwrap(),
            ),
            "InvalidArgumentException",
        ),
        (
            "expressions without an error prefix",
            valid(&lab, "a").s3_destination_configuration(
                s3_destination("bucket", (1, 60))
                    .prefix("data/!{timestamp:yyyy}/")
                    .set_error_output_prefix(None)
                    .build()
                    .unwrap(),
            ),
            "InvalidArgumentException",
        ),
        (
            "unknown expression",
            valid(&lab, "a").s3_destination_configuration(
                s3_destination("bucket", (1, 60))
                    .prefix("data/!{nope:x}/")
                    .build()
                    .unwrap(),
            ),
            "InvalidArgumentException",
        ),
    ];
    for (case, request, expected) in cases {
        let (code, message) = error_of(request).await;
        assert_eq!(code, expected, "{case}: {message}");
        assert!(!message.is_empty(), "{case}");
    }
    let listed = lab.firehose.list_delivery_streams().send().await.unwrap();
    assert!(
        listed.delivery_stream_names().is_empty(),
        "no refused request created anything"
    );
}

/// The AWS wording of a constraint violation, member path included.
#[tokio::test]
async fn validation_messages_name_the_member() {
    let lab = Lab::start().await;
    let (code, message) = error_of(valid(&lab, "has space")).await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "1 validation error detected: Value 'has space' at 'deliveryStreamName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
    let (_, message) = error_of(
        valid(&lab, "a").s3_destination_configuration(
            s3_destination("bucket", (1, 60))
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(200)
                        .interval_in_seconds(60)
                        .build(),
                )
                .build()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(
        message,
        "1 validation error detected: Value '200' at 's3DestinationConfiguration.bufferingHints.sizeInMBs' \
         failed to satisfy constraint: Member must have value less than or equal to 128"
    );
}

/// A second delivery stream with a taken name is ResourceInUseException, which
/// idempotent set-up code treats as "already there".
#[tokio::test]
async fn a_duplicate_name_is_resource_in_use() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    valid(&lab, "twice").send().await.unwrap();
    let err = valid(&lab, "twice")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
}

/// Describe and delete of an unknown stream are ResourceNotFoundException with
/// AWS's message; a delete removes the stream.
#[tokio::test]
async fn describe_and_delete() {
    let lab = Lab::start().await;
    let err = lab
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name("ghost")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("Firehose ghost under account 000000000000 not found.")
    );
    let err = lab
        .firehose
        .delete_delivery_stream()
        .delivery_stream_name("ghost")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    lab.create_stream("source", 1).await;
    valid(&lab, "doomed").send().await.unwrap();
    lab.firehose
        .delete_delivery_stream()
        .delivery_stream_name("doomed")
        .send()
        .await
        .unwrap();
    let err = lab
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name("doomed")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

/// A new stream is CREATING, then ACTIVE after the configured delay; it cannot
/// be deleted while CREATING.
#[tokio::test]
async fn creating_then_active() {
    let config = Config {
        firehose: emulator::config::FirehoseOptions {
            activation_delay: Duration::from_millis(400),
            ..Config::for_tests().firehose
        },
        ..Config::for_tests()
    };
    let lab = Lab::start_with(config).await;
    lab.create_stream("source", 1).await;
    valid(&lab, "new").send().await.unwrap();
    let status = |lab: &Lab| {
        let firehose = lab.firehose.clone();
        async move {
            let out = firehose
                .describe_delivery_stream()
                .delivery_stream_name("new")
                .send()
                .await
                .unwrap();
            out.delivery_stream_description()
                .unwrap()
                .delivery_stream_status()
                .as_str()
                .to_owned()
        }
    };
    assert_eq!(status(&lab).await, "CREATING");
    let err = lab
        .firehose
        .delete_delivery_stream()
        .delivery_stream_name("new")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(status(&lab).await, "ACTIVE");
}

/// ListDeliveryStreams pages in name order and filters by type.
#[tokio::test]
async fn list_pages_and_filters() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    for name in ["c", "a", "b"] {
        valid(&lab, name).send().await.unwrap();
    }
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("direct")
        .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap())
        .send()
        .await
        .unwrap();
    let page = lab
        .firehose
        .list_delivery_streams()
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.delivery_stream_names(), ["a", "b"]);
    assert!(page.has_more_delivery_streams());
    let page = lab
        .firehose
        .list_delivery_streams()
        .limit(2)
        .exclusive_start_delivery_stream_name("b")
        .send()
        .await
        .unwrap();
    assert_eq!(page.delivery_stream_names(), ["c", "direct"]);
    assert!(!page.has_more_delivery_streams());
    let page = lab
        .firehose
        .list_delivery_streams()
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .send()
        .await
        .unwrap();
    assert_eq!(page.delivery_stream_names(), ["direct"]);
    let err = lab
        .firehose
        .list_delivery_streams()
        .limit(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
}
