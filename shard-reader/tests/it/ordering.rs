//! Where a reader starts, and the order it reads in: every record once, each
//! shard's in the order its records were put.

use std::time::Duration;

use chrono::Utc;
use shard_reader::StartingPosition;

use crate::{Lab, assert_read_as_put, keys, shards_of};

/// From TRIM_HORIZON, records put on several shards are each read once, and
/// every shard's in the order they were put, across GetRecords pages of a
/// few records each.
#[tokio::test]
async fn trim_horizon_reads_each_record_once_in_put_order() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 3).await;
    let puts = lab.put_rounds("orders", "put", &keys(12), 8).await;
    assert_eq!(shards_of(&puts).len(), 3, "the keys spread over the three shards");

    // Pages of 7 records: every shard takes several reads, so the order must
    // hold from one page to the next as well as within one.
    let mut reader = lab
        .open("orders", StartingPosition::TrimHorizon)
        .await
        .with_limit(7);
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &puts);
}

/// From a timestamp, only the records that arrived at or after it are read,
/// each once and in put order; those put before it are not.
#[tokio::test]
async fn at_timestamp_reads_only_what_arrived_since() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 3).await;
    let before = lab.put_rounds("orders", "before", &keys(12), 2).await;
    // Arrival times are kept to the millisecond: a few milliseconds on each
    // side keep the moment apart from every record's arrival.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let at = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after = lab.put_rounds("orders", "after", &keys(12), 2).await;
    // Every shard holds records from both sides of the moment, so each one
    // has something to skip and something to read (the next test takes
    // shards with nothing after it).
    assert_eq!(shards_of(&before).len(), 3);
    assert_eq!(shards_of(&after).len(), 3);

    let mut reader = lab.open("orders", StartingPosition::AtTimestamp(at)).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &after);
}

/// From a timestamp, a shard with nothing since gives nothing: its old
/// records are not read again (the embedded Kinesis once answered such an
/// AT_TIMESTAMP with the shard's start; AWS answers with its end).
#[tokio::test]
async fn at_timestamp_reads_nothing_of_a_shard_quiet_since() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 3).await;
    let before = lab.put_rounds("orders", "before", &keys(12), 2).await;
    assert_eq!(shards_of(&before).len(), 3);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let at = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // One key since: one shard gets records, the two others none.
    let after = lab.put_rounds("orders", "after", &keys(1), 3).await;
    assert_eq!(shards_of(&after).len(), 1);

    let mut reader = lab.open("orders", StartingPosition::AtTimestamp(at)).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &after);
}

/// From LATEST, only the records put after the reader opened are read, each
/// once and in put order.
#[tokio::test]
async fn latest_reads_only_what_is_put_after_open() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 3).await;
    let before = lab.put_rounds("orders", "before", &keys(12), 2).await;
    assert_eq!(shards_of(&before).len(), 3);

    let mut reader = lab.open("orders", StartingPosition::Latest).await;
    let after = lab.put_rounds("orders", "after", &keys(12), 2).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &after);
}
