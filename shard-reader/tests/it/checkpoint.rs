//! Saved positions: a reader that stops and a new one that resumes from what
//! the first saved read every record once between them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use shard_reader::{
    Positions, ReadError, ReadRecord, ShardBatch, ShardPosition, ShardReader, StartingPosition,
};

use crate::{Lab, assert_read_as_put, keys};

/// Notes where a batch leaves its shard, as the ETL does once the batch's
/// records are safely written: finished when the shard ended, else after
/// its last record.
fn save(positions: &mut Positions, batch: &ShardBatch) {
    let position = match (batch.ended, batch.records.last()) {
        (true, _) => ShardPosition::Finished,
        (false, Some(last)) => ShardPosition::After(last.sequence_number.clone()),
        (false, None) => return,
    };
    positions.insert(batch.shard_id.clone(), position);
}

/// Positions (`ShardPosition::After`) saved after some records let a new
/// reader resume right after them: it reads the rest, and what was put while
/// no reader ran, with nothing read twice and nothing missed.
#[tokio::test]
async fn a_reader_resumes_right_after_the_saved_positions() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 3).await;
    let mut puts = lab.put_rounds("orders", "first", &keys(12), 6).await;

    // Pages of 5: the first reader stops in the middle of its shards.
    let mut first = lab
        .open("orders", StartingPosition::TrimHorizon)
        .await
        .with_limit(5);
    let mut positions = Positions::new();
    let mut read: Vec<ReadRecord> = Vec::new();
    while read.len() < 20 {
        let batch = first.next_batch().await.expect("a batch");
        save(&mut positions, &batch);
        read.extend(batch.records);
    }
    drop(first);
    assert!(read.len() < puts.len(), "the first reader stopped before the end");
    assert!(
        positions.values().all(|p| matches!(p, ShardPosition::After(_))),
        "{positions:?}"
    );

    puts.extend(lab.put_rounds("orders", "meanwhile", &keys(12), 2).await);
    let mut resumed = ShardReader::open(
        lab.kinesis.clone(),
        "orders",
        StartingPosition::TrimHorizon,
        Some(&positions),
    )
    .await
    .expect("the reader opens");
    read.extend(resumed.read_to_end().await.expect("read_to_end"));
    // Both readers' records together: each put once, in put order.
    assert_read_as_put(&read, &puts);
}

/// A shard saved as `Finished` is not read again after a restart, and its
/// children, which no position names, are read from their start, whatever
/// the starting position: the checkpoint decides, not `Latest`.
#[tokio::test]
async fn a_finished_shard_is_skipped_and_its_children_read_whole() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 1).await;
    let before = lab.put_rounds("orders", "before", &keys(12), 2).await;

    let mut first = lab.open("orders", StartingPosition::TrimHorizon).await;
    let parent = lab.shards("orders").await[0].clone();
    lab.split_in_half("orders", &parent).await;

    // Read until the parent's end is seen: its position becomes `Finished`.
    let mut positions = Positions::new();
    let mut read: Vec<ReadRecord> = Vec::new();
    let reading = async {
        loop {
            let batch = first.next_batch().await.expect("a batch");
            save(&mut positions, &batch);
            let parent_ended = batch.ended && batch.shard_id == parent.shard_id();
            read.extend(batch.records);
            if parent_ended {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("the parent ends within 5 s");
    drop(first);
    assert_read_as_put(&read, &before);
    assert_eq!(
        positions,
        Positions::from([(parent.shard_id().to_owned(), ShardPosition::Finished)])
    );

    let after = lab.put_rounds("orders", "after", &keys(12), 2).await;
    assert!(after.iter().all(|p| p.shard_id != parent.shard_id()));
    let mut resumed = ShardReader::open(
        lab.kinesis.clone(),
        "orders",
        StartingPosition::Latest,
        Some(&positions),
    )
    .await
    .expect("the reader opens");
    let rest = resumed.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&rest, &after);
}

/// A saved position the shard refuses, because the stream was deleted and
/// made anew since, is `ReadError::UnknownPosition`, naming the stream, the
/// shard and the sequence number, rather than a read from somewhere else.
#[tokio::test]
async fn a_position_from_a_deleted_stream_is_an_unknown_position() {
    let lab = Lab::start().await;
    lab.create_stream("orders", 1).await;
    let made = Utc::now();
    let put = lab.put("orders", "user-0", "gone").await;
    let positions = Positions::from([(
        put.shard_id.clone(),
        ShardPosition::After(put.sequence_number.clone()),
    )]);

    lab.delete_stream("orders").await;
    // The embedded Kinesis (ferrokinesis 0.7) marks a shard's sequence numbers
    // with the shard's creation time in whole seconds, and that is all that
    // tells a stream from one made anew under the same name: made within the
    // same second, the new stream would take the old positions as its own.
    let next_second = DateTime::from_timestamp(made.timestamp() + 1, 0).expect("a time");
    let wait = (next_second - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(10)).await;
    lab.create_stream("orders", 1).await;

    let opened = ShardReader::open(
        lab.kinesis.clone(),
        "orders",
        StartingPosition::TrimHorizon,
        Some(&positions),
    )
    .await;
    match opened {
        Err(ReadError::UnknownPosition {
            stream,
            shard,
            sequence,
            ..
        }) => {
            assert_eq!(stream, "orders");
            assert_eq!(shard, put.shard_id);
            assert_eq!(sequence, put.sequence_number);
        }
        Err(other) => panic!("not an unknown position: {other}"),
        Ok(_) => panic!("the reader opened at a position of the deleted stream"),
    }
}
