//! A reader given its shards (`ShardReader::open_given`), as a worker that
//! shares the stream reads: only the shards it is given, each from where it
//! is told, and at a shard's end it stops, leaving the children to whoever
//! takes their leases.

use shard_reader::{ShardReader, ShardStart};

use crate::{Lab, assert_read_as_put, keys, shards_of};

/// Only the shards given are read; one dropped is read no more; one given
/// after a sequence number starts right after it.
#[tokio::test]
async fn only_the_shards_given_are_read_from_where_they_are_told() {
    let lab = Lab::start().await;
    lab.create_stream("shared", 3).await;
    let puts = lab.put_rounds("shared", "put", &keys(12), 2).await;
    let shards: Vec<&str> = shards_of(&puts).into_iter().collect();
    assert_eq!(shards.len(), 3);

    let mut reader = ShardReader::open_given(lab.kinesis.clone(), "shared")
        .await
        .expect("opens");
    assert!(reader.active_shards().is_empty());
    reader
        .read_shard(shards[0], ShardStart::TrimHorizon)
        .await
        .unwrap();
    let first: Vec<_> = puts.iter().filter(|p| p.shard_id == shards[0]).cloned().collect();
    let read = reader.read_to_end().await.unwrap();
    assert_read_as_put(&read, &first);

    // The second shard from right after its first record.
    let second: Vec<_> = puts.iter().filter(|p| p.shard_id == shards[1]).cloned().collect();
    reader.drop_shard(shards[0]);
    reader
        .read_shard(shards[1], ShardStart::After(second[0].sequence_number.clone()))
        .await
        .unwrap();
    let read = reader.read_to_end().await.unwrap();
    assert_read_as_put(&read, &second[1..]);
    assert_eq!(reader.active_shards(), [shards[1]]);
}

/// At a shard's end a given reader stops: the children of a split are not
/// started (their leases decide who reads them).
#[tokio::test]
async fn a_shard_read_to_its_end_does_not_start_its_children() {
    let lab = Lab::start().await;
    lab.create_stream("splitting", 1).await;
    lab.put_rounds("splitting", "before", &keys(4), 1).await;
    let parent = lab.shards("splitting").await.remove(0);
    lab.split_in_half("splitting", &parent).await;
    lab.put_rounds("splitting", "after", &keys(4), 1).await;

    let mut reader = ShardReader::open_given(lab.kinesis.clone(), "splitting")
        .await
        .expect("opens");
    reader
        .read_shard(parent.shard_id(), ShardStart::TrimHorizon)
        .await
        .unwrap();
    let mut ended = false;
    while !ended {
        let batch = reader.next_batch().await.unwrap();
        assert_eq!(batch.shard_id, parent.shard_id());
        ended = batch.ended;
    }
    assert!(reader.active_shards().is_empty(), "{:?}", reader.active_shards());
}

/// A missing stream is told as `open` tells it.
#[tokio::test]
async fn a_missing_stream_is_stream_not_found() {
    let lab = Lab::start().await;
    let err = ShardReader::open_given(lab.kinesis.clone(), "never-made")
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, shard_reader::ReadError::StreamNotFound(ref s) if s == "never-made"),
        "{err:?}"
    );
}
