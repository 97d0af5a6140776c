//! DirectPut delivery streams: records given straight to Firehose.

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{DeliveryStreamType, Record};

use crate::{Lab, records, s3_destination, split_json};

async fn create_direct(lab: &Lab, name: &str, bucket: &str) {
    lab.firehose
        .create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .s3_destination_configuration(s3_destination(bucket, (1, 0)).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// PutRecord and PutRecordBatch reach S3, each record once.
#[tokio::test]
async fn put_record_and_put_record_batch_are_delivered() {
    let lab = Lab::start().await;
    lab.create_bucket("bucket").await;
    create_direct(&lab, "direct", "bucket").await;
    let sent = records(0, 4);
    let one = lab
        .firehose
        .put_record()
        .delivery_stream_name("direct")
        .record(
            Record::builder()
                .data(Blob::new(sent[0].as_bytes()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(!one.record_id().is_empty());
    let batch: Vec<Record> = sent[1..]
        .iter()
        .map(|r| Record::builder().data(Blob::new(r.as_bytes())).build().unwrap())
        .collect();
    let output = lab
        .firehose
        .put_record_batch()
        .delivery_stream_name("direct")
        .set_records(Some(batch))
        .send()
        .await
        .unwrap();
    assert_eq!(output.failed_put_count(), 0);
    assert_eq!(output.request_responses().len(), 3);
    assert!(
        output
            .request_responses()
            .iter()
            .all(|r| r.record_id().is_some() && r.error_code().is_none())
    );

    let mut delivered = Vec::new();
    for _ in 0..400 {
        delivered = lab
            .objects("bucket", "firehose/")
            .await
            .iter()
            .flat_map(|(_, b)| split_json(b))
            .map(|v| v.to_string())
            .collect();
        if delivered.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Objects written in the same second sort by their random suffix.
    delivered.sort();
    assert_eq!(delivered, sent);
}

/// A delivery stream fed by Kinesis refuses PutRecord, as AWS does.
#[tokio::test]
async fn a_kinesis_sourced_stream_refuses_put_record() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_delivery_stream("from-kinesis", "source", "bucket", (1, 60))
        .await;
    let err = lab
        .firehose
        .put_record()
        .delivery_stream_name("from-kinesis")
        .record(Record::builder().data(Blob::new("{}")).build().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("This operation is not permitted on KinesisStreamAsSource delivery stream type.")
    );

    let err = lab
        .firehose
        .put_record_batch()
        .delivery_stream_name("from-kinesis")
        .records(Record::builder().data(Blob::new("{}")).build().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
}

/// PutRecord to a stream that does not exist is ResourceNotFoundException.
#[tokio::test]
async fn put_record_to_a_missing_stream_is_not_found() {
    let lab = Lab::start().await;
    let err = lab
        .firehose
        .put_record()
        .delivery_stream_name("nowhere")
        .record(Record::builder().data(Blob::new("{}")).build().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}
