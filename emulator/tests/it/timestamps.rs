//! Arrival times to the millisecond (issue 10, finding 5).

use std::time::Duration;

use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::ShardIteratorType;

use crate::Lab;

/// Finding: AT_TIMESTAMP compared whole seconds, so an iterator taken between
/// two records of the same second returned both. Now it starts at the first
/// record that arrived at or after the millisecond given, and arrival times
/// carry their milliseconds.
#[tokio::test]
async fn at_timestamp_is_precise_to_the_millisecond() {
    let lab = Lab::start().await;
    lab.create_stream("timed", 1).await;
    // Two records a few hundred milliseconds apart, with the moment between
    // them; repeated until both fall in the same second, which is what the
    // finding was about.
    for _ in 0..10 {
        let put = |data: &'static str| {
            lab.kinesis
                .put_record()
                .stream_name("timed")
                .partition_key("k")
                .data(Blob::new(data))
                .send()
        };
        put("before").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let between = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        put("after").await.unwrap();

        let iterator = lab
            .kinesis
            .get_shard_iterator()
            .stream_name("timed")
            .shard_id("shardId-000000000000")
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(DateTime::from_millis(between.timestamp_millis()))
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let page = lab
            .kinesis
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await
            .unwrap();
        let first = &page.records()[0];
        assert_eq!(first.data().as_ref(), b"after");
        let arrival = first
            .approximate_arrival_timestamp()
            .unwrap()
            .to_millis()
            .unwrap();
        let between_ms = between.timestamp_millis();
        assert!(
            (between_ms..between_ms + 1000).contains(&arrival),
            "arrival {arrival} vs between {between_ms}"
        );
        if between_ms / 1000 == arrival / 1000 && arrival % 1000 != 0 {
            return; // Same second, told apart by milliseconds.
        }
    }
    panic!("never saw two records of the same second told apart");
}

/// Found by the shard reader's own tests: an AT_TIMESTAMP iterator for a time
/// after a shard's last record started at the shard's first record, so a
/// reader starting at a time read all of a quiet shard again. On AWS it waits
/// at the end: it gives the next record put, and nothing older.
#[tokio::test]
async fn at_timestamp_after_the_last_record_gives_only_what_comes_next() {
    let lab = Lab::start().await;
    lab.create_stream("quiet", 1).await;
    let put = |data: &'static str| {
        lab.kinesis
            .put_record()
            .stream_name("quiet")
            .partition_key("k")
            .data(Blob::new(data))
            .send()
    };
    put("old 1").await.unwrap();
    put("old 2").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let iterator = lab
        .kinesis
        .get_shard_iterator()
        .stream_name("quiet")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(since.timestamp_millis()))
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let read = |iterator: String| lab.kinesis.get_records().shard_iterator(iterator).send();
    let first = read(iterator).await.unwrap();
    assert!(first.records().is_empty(), "{:?}", first.records());
    put("new").await.unwrap();
    let next = read(first.next_shard_iterator.unwrap()).await.unwrap();
    let data: Vec<&[u8]> = next.records().iter().map(|r| r.data().as_ref()).collect();
    assert_eq!(data, [b"new".as_slice()]);
}

/// Finding: `MillisBehindLatest` was always 0, so a consumer's lag always
/// read "0 ms". Now a reader behind the tip is told how old the oldest record
/// it has not read is, and 0 once it has read everything.
#[tokio::test]
async fn millis_behind_latest_is_the_age_of_what_is_left_to_read() {
    let lab = Lab::start().await;
    lab.create_stream("lagging", 1).await;
    lab.put("lagging", &crate::records(0, 3)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let iterator = lab
        .kinesis
        .get_shard_iterator()
        .stream_name("lagging")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let first = lab
        .kinesis
        .get_records()
        .shard_iterator(iterator)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.records().len(), 1);
    let behind = first.millis_behind_latest().unwrap();
    assert!((300..5000).contains(&behind), "{behind} ms behind");
    let rest = lab
        .kinesis
        .get_records()
        .shard_iterator(first.next_shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.records().len(), 2);
    assert_eq!(rest.millis_behind_latest(), Some(0));
}
