//! Firehose's operations beyond the lab's six: UpdateDestination, tags and
//! encryption, answered as AWS answers them (issue 11).

use std::time::Duration;

use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::types::{
    DeliveryStreamEncryptionConfigurationInput, KeyType, S3DestinationUpdate, Tag,
};
use emulator::Config;

use crate::{Lab, records, s3_destination, split_json};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

async fn describe<E>(lab: &Lab<E>, name: &str) -> aws_sdk_firehose::types::DeliveryStreamDescription {
    lab.firehose
        .describe_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await
        .unwrap()
        .delivery_stream_description
        .unwrap()
}

/// The keys of the objects under `prefix`, once there are `count` records there.
async fn keys_with_records(lab: &Lab, prefix: &str, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let objects = lab.objects("bucket", prefix).await;
        let found: usize = objects.iter().map(|(_, body)| split_json(body).len()).sum();
        if found >= count {
            return objects.into_iter().map(|(key, _)| key).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} records never arrived under {prefix}");
}

/// UpdateDestination checks the version it is given, moves it on by one, and
/// the next objects have the new prefix and the new version in their keys;
/// what is not given keeps its value.
#[tokio::test]
async fn update_destination_applies_to_the_next_object_with_the_next_version() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("updated", "source", "bucket", (1, 0))
        .await;
    lab.put("source", &records(0, 2)).await;
    let first = keys_with_records(&lab, "firehose/", 2).await;
    assert!(first.iter().all(|key| key.contains("/updated-1-")), "{first:?}");
    let before = describe(&lab, "updated").await;
    assert_eq!(before.version_id(), "1");
    assert!(before.last_update_timestamp().is_none());

    lab.firehose
        .update_destination()
        .delivery_stream_name("updated")
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .s3_destination_update(S3DestinationUpdate::builder().prefix("second/").build())
        .send()
        .await
        .unwrap();
    let after = describe(&lab, "updated").await;
    assert_eq!(after.version_id(), "2");
    assert!(after.last_update_timestamp().is_some());
    let s3 = after.destinations()[0].s3_destination_description().unwrap();
    assert_eq!(s3.prefix(), Some("second/"));
    assert_eq!(
        s3.error_output_prefix(),
        Some("errors/"),
        "kept, since the update did not give it"
    );

    lab.put("source", &records(2, 2)).await;
    let second = keys_with_records(&lab, "second/", 2).await;
    assert!(second.iter().all(|key| key.contains("/updated-2-")), "{second:?}");

    let stale = lab
        .firehose
        .update_destination()
        .delivery_stream_name("updated")
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .s3_destination_update(S3DestinationUpdate::builder().prefix("third/").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("ConcurrentModificationException"));
    let elsewhere = lab
        .firehose
        .update_destination()
        .delivery_stream_name("updated")
        .current_delivery_stream_version_id("2")
        .destination_id("destinationId-000000000009")
        .s3_destination_update(S3DestinationUpdate::builder().prefix("third/").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Some("InvalidArgumentException"));
}

/// Tags given at creation are kept and checked; TagDeliveryStream adds or
/// changes, UntagDeliveryStream removes, ListTagsForDeliveryStream pages.
#[tokio::test]
async fn tags_are_checked_kept_and_listed_a_page_at_a_time() {
    let lab = Lab::start().await;
    lab.create_bucket("bucket").await;
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("tagged")
        .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap())
        .tags(tag("course", "de"))
        .send()
        .await
        .unwrap();
    let refused = lab
        .firehose
        .create_delivery_stream()
        .delivery_stream_name("reserved")
        .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap())
        .tags(tag("aws:owner", "me"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidArgumentException"));

    lab.firehose
        .tag_delivery_stream()
        .delivery_stream_name("tagged")
        .tags(tag("lab", "c2w2"))
        .tags(tag("course", "data engineering"))
        .send()
        .await
        .unwrap();
    let page = lab
        .firehose
        .list_tags_for_delivery_stream()
        .delivery_stream_name("tagged")
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.tags()[0].key(), "course");
    assert_eq!(page.tags()[0].value(), Some("data engineering"));
    assert!(page.has_more_tags());
    let rest = lab
        .firehose
        .list_tags_for_delivery_stream()
        .delivery_stream_name("tagged")
        .exclusive_start_tag_key("course")
        .send()
        .await
        .unwrap();
    assert_eq!(rest.tags().iter().map(|t| t.key()).collect::<Vec<_>>(), ["lab"]);
    assert!(!rest.has_more_tags());

    lab.firehose
        .untag_delivery_stream()
        .delivery_stream_name("tagged")
        .tag_keys("course")
        .tag_keys("never-there")
        .send()
        .await
        .unwrap();
    let left = lab
        .firehose
        .list_tags_for_delivery_stream()
        .delivery_stream_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(left.tags().iter().map(|t| t.key()).collect::<Vec<_>>(), ["lab"]);

    let too_many: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "")).collect();
    let over = lab
        .firehose
        .tag_delivery_stream()
        .delivery_stream_name("tagged")
        .set_tags(Some(too_many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(over.code(), Some("LimitExceededException"));
}

/// Encryption given at creation is described back; Start and Stop go through
/// ENABLING and DISABLING; a Kinesis-source stream refuses it; a customer key
/// needs its ARN.
///
/// Finding (AWS's own answer, recorded in LocalStack's snapshot of a
/// Kinesis-source delivery stream): AWS describes no server-side encryption
/// for a Kinesis source, where the emulator described `DISABLED`.
#[tokio::test]
async fn encryption_goes_through_its_states() {
    let mut config = Config::for_tests();
    config.firehose.activation_delay = Duration::from_millis(300);
    let lab = Lab::start_with(config).await;
    lab.create_bucket("bucket").await;
    let aws_owned = DeliveryStreamEncryptionConfigurationInput::builder()
        .key_type(KeyType::AwsOwnedCmk)
        .build()
        .unwrap();
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name("sealed")
        .s3_destination_configuration(s3_destination("bucket", (1, 60)).build().unwrap())
        .delivery_stream_encryption_configuration_input(aws_owned.clone())
        .send()
        .await
        .unwrap();
    let status = |d: aws_sdk_firehose::types::DeliveryStreamDescription| {
        let encryption = d.delivery_stream_encryption_configuration().unwrap();
        (
            encryption.status().unwrap().as_str().to_owned(),
            encryption.key_type().map(|k| k.as_str().to_owned()),
        )
    };
    assert_eq!(status(describe(&lab, "sealed").await).0, "ENABLING");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        status(describe(&lab, "sealed").await),
        ("ENABLED".to_owned(), Some("AWS_OWNED_CMK".to_owned()))
    );

    lab.firehose
        .stop_delivery_stream_encryption()
        .delivery_stream_name("sealed")
        .send()
        .await
        .unwrap();
    assert_eq!(status(describe(&lab, "sealed").await).0, "DISABLING");
    let busy = lab
        .firehose
        .start_delivery_stream_encryption()
        .delivery_stream_name("sealed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Some("ResourceInUseException"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        status(describe(&lab, "sealed").await),
        ("DISABLED".to_owned(), None)
    );

    let no_key = DeliveryStreamEncryptionConfigurationInput::builder()
        .key_type(KeyType::CustomerManagedCmk)
        .build()
        .unwrap();
    let refused = lab
        .firehose
        .start_delivery_stream_encryption()
        .delivery_stream_name("sealed")
        .delivery_stream_encryption_configuration_input(no_key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidArgumentException"));

    lab.create_stream("source", 1).await;
    lab.create_delivery_stream("from-kinesis", "source", "bucket", (1, 60))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let not_here = lab
        .firehose
        .start_delivery_stream_encryption()
        .delivery_stream_name("from-kinesis")
        .delivery_stream_encryption_configuration_input(aws_owned)
        .send()
        .await
        .unwrap_err();
    assert_eq!(not_here.code(), Some("InvalidArgumentException"));
    let from_kinesis = describe(&lab, "from-kinesis").await;
    assert!(from_kinesis.delivery_stream_encryption_configuration().is_none());
}

/// On a durable data directory, a restart keeps the version, the new
/// destination and the tags.
#[tokio::test]
async fn updates_and_tags_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().to_path_buf()),
        durable: true,
        ..Config::for_tests()
    };
    let lab = Lab::start_with(config()).await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("kept", "source", "bucket", (1, 60))
        .await;
    lab.firehose
        .update_destination()
        .delivery_stream_name("kept")
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .s3_destination_update(S3DestinationUpdate::builder().prefix("moved/").build())
        .send()
        .await
        .unwrap();
    lab.firehose
        .tag_delivery_stream()
        .delivery_stream_name("kept")
        .tags(tag("course", "de"))
        .send()
        .await
        .unwrap();
    lab.emulator.shutdown().await;

    let lab = Lab::start_with(config()).await;
    let described = describe(&lab, "kept").await;
    assert_eq!(described.version_id(), "2");
    let s3 = described.destinations()[0].s3_destination_description().unwrap();
    assert_eq!(s3.prefix(), Some("moved/"));
    let tags = lab
        .firehose
        .list_tags_for_delivery_stream()
        .delivery_stream_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "course");
}
