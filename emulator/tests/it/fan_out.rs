//! SubscribeToShard (enhanced fan-out) as AWS answers it, where ferrokinesis
//! 0.7.0 does not: it starts where it is asked to, and pushes records as they
//! are put.

use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};

use crate::{Lab, records, stream_arn};

/// A registered, ACTIVE consumer of a one-shard stream holding records 0 to 9;
/// its ARN, and the records' sequence numbers.
async fn consumer_of_ten(lab: &Lab) -> (String, Vec<String>) {
    lab.create_stream("pushed", 1).await;
    lab.put("pushed", &records(0, 10)).await;
    let registered = lab
        .kinesis
        .register_stream_consumer()
        .stream_arn(stream_arn("pushed"))
        .consumer_name("reader")
        .send()
        .await
        .unwrap();
    let arn = registered.consumer().unwrap().consumer_arn().to_owned();
    for _ in 0..100 {
        let described = lab
            .kinesis
            .describe_stream_consumer()
            .consumer_arn(&arn)
            .send()
            .await
            .unwrap();
        if *described.consumer_description().unwrap().consumer_status() == ConsumerStatus::Active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let iterator = lab
        .kinesis
        .get_shard_iterator()
        .stream_name("pushed")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let read = lab
        .kinesis
        .get_records()
        .shard_iterator(iterator.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    let sequences = read
        .records()
        .iter()
        .map(|r| r.sequence_number().to_owned())
        .collect();
    (arn, sequences)
}

/// The records of the first event with records, as text.
async fn first_records(
    kinesis: &aws_sdk_kinesis::Client,
    consumer: &str,
    position: StartingPosition,
) -> Vec<String> {
    let mut subscription = kinesis
        .subscribe_to_shard()
        .consumer_arn(consumer)
        .shard_id("shardId-000000000000")
        .starting_position(position)
        .send()
        .await
        .unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.event_stream.recv())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the subscription is open");
        if let SubscribeToShardEventStream::SubscribeToShardEvent(event) = event
            && !event.records().is_empty()
        {
            return event
                .records()
                .iter()
                .map(|r| String::from_utf8(r.data().as_ref().to_vec()).unwrap())
                .collect();
        }
    }
}

/// Finding: ferrokinesis dropped StartingPosition's SequenceNumber, so a
/// subscription AFTER_SEQUENCE_NUMBER (how a consumer resumes) started at the
/// oldest record and the ETL read everything again after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_starts_after_the_sequence_number_it_is_given() {
    let lab = Lab::start().await;
    let (consumer, sequences) = consumer_of_ten(&lab).await;
    let after_fifth = StartingPosition::builder()
        .r#type(ShardIteratorType::AfterSequenceNumber)
        .sequence_number(&sequences[4])
        .build()
        .unwrap();
    assert_eq!(
        first_records(&lab.kinesis, &consumer, after_fifth).await,
        records(5, 5)
    );
    let at_fifth = StartingPosition::builder()
        .r#type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&sequences[4])
        .build()
        .unwrap();
    assert_eq!(
        first_records(&lab.kinesis, &consumer, at_fifth).await,
        records(4, 6)
    );
}

/// Finding: the same for AT_TIMESTAMP: a subscription from a time after
/// every record started at the first one.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_at_a_timestamp_starts_there() {
    let lab = Lab::start().await;
    let (consumer, _) = consumer_of_ten(&lab).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let now = DateTime::from_millis(chrono::Utc::now().timestamp_millis());
    tokio::time::sleep(Duration::from_millis(20)).await;
    lab.put("pushed", &records(10, 2)).await;
    let since_now = StartingPosition::builder()
        .r#type(ShardIteratorType::AtTimestamp)
        .timestamp(now)
        .build()
        .unwrap();
    assert_eq!(
        first_records(&lab.kinesis, &consumer, since_now).await,
        records(10, 2)
    );
}

/// A record put while a subscription waits is pushed to it.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_put_later_is_pushed_to_a_waiting_subscription() {
    let lab = Lab::start().await;
    let (consumer, _) = consumer_of_ten(&lab).await;
    let latest = StartingPosition::builder()
        .r#type(ShardIteratorType::Latest)
        .build()
        .unwrap();
    let waiting = {
        let (kinesis, consumer) = (lab.kinesis.clone(), consumer.clone());
        tokio::spawn(async move { first_records(&kinesis, &consumer, latest).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    lab.put("pushed", &records(42, 1)).await;
    assert_eq!(waiting.await.unwrap(), records(42, 1));
}

/// A subscription to a shard the stream does not have is refused as AWS
/// refuses it (ferrokinesis still checks the request).
#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_to_a_missing_shard_is_refused() {
    let lab = Lab::start().await;
    let (consumer, _) = consumer_of_ten(&lab).await;
    let err = lab
        .kinesis
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000007")
        .starting_position(
            StartingPosition::builder()
                .r#type(ShardIteratorType::Latest)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
}
