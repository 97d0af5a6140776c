//! AWS takes a stream's ARN (`StreamARN`) wherever it takes its name; SDK
//! code written against AWS may use either.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};

use crate::{Lab, stream_arn};

/// Found: DescribeStream, DescribeStreamSummary, ListShards, GetShardIterator
/// and more refused StreamARN. Every call here names the stream by its ARN only.
#[tokio::test]
async fn stream_arn_is_taken_wherever_aws_takes_it() {
    let lab = Lab::start().await;
    lab.create_stream("by-arn", 1).await;
    let arn = stream_arn("by-arn");
    let kinesis = &lab.kinesis;

    let described = kinesis.describe_stream().stream_arn(&arn).send().await;
    assert_eq!(
        described
            .expect("DescribeStream")
            .stream_description()
            .unwrap()
            .stream_name(),
        "by-arn"
    );
    let summary = kinesis.describe_stream_summary().stream_arn(&arn).send().await;
    assert_eq!(
        summary
            .expect("DescribeStreamSummary")
            .stream_description_summary()
            .unwrap()
            .stream_name(),
        "by-arn"
    );
    let shards = kinesis
        .list_shards()
        .stream_arn(&arn)
        .send()
        .await
        .expect("ListShards");
    let shard = shards.shards()[0].shard_id().to_owned();

    kinesis
        .put_record()
        .stream_arn(&arn)
        .partition_key("one")
        .data(Blob::new("1"))
        .send()
        .await
        .expect("PutRecord");
    let entry = PutRecordsRequestEntry::builder()
        .partition_key("two")
        .data(Blob::new("2"))
        .build()
        .unwrap();
    let put = kinesis
        .put_records()
        .stream_arn(&arn)
        .records(entry)
        .send()
        .await
        .expect("PutRecords");
    assert_eq!(put.failed_record_count(), Some(0));

    let iterator = kinesis
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("GetShardIterator");
    let records = kinesis
        .get_records()
        .stream_arn(&arn)
        .shard_iterator(iterator.shard_iterator().unwrap())
        .send()
        .await
        .expect("GetRecords");
    assert_eq!(records.records().len(), 2);

    kinesis
        .add_tags_to_stream()
        .stream_arn(&arn)
        .tags("lab", "c2w2")
        .send()
        .await
        .expect("AddTagsToStream");
    let tags = kinesis
        .list_tags_for_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("ListTagsForStream");
    assert_eq!(tags.tags().len(), 1);
    kinesis
        .increase_stream_retention_period()
        .stream_arn(&arn)
        .retention_period_hours(48)
        .send()
        .await
        .expect("IncreaseStreamRetentionPeriod");

    // Another account's stream of the same name is not this one.
    let elsewhere = arn.replace(crate::ACCOUNT, "111122223333");
    let refused = kinesis
        .describe_stream_summary()
        .stream_arn(&elsewhere)
        .send()
        .await;
    assert!(refused.is_err(), "a stream of another account was found");

    kinesis
        .delete_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("DeleteStream");
}
