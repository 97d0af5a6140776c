//! Reshards while a reader reads: a shard split in two, then one of the
//! children merged with its neighbour.

use aws_sdk_kinesis::types::Shard;
use shard_reader::StartingPosition;

use crate::{Lab, assert_key_order, assert_read_as_put, keys, read_at_least, shards_of};

fn starting_hash_key(shard: &Shard) -> u128 {
    let range = shard.hash_key_range().expect("a hash key range");
    range.starting_hash_key().parse().expect("a hash key")
}

/// A split and a merge while a reader reads: every record is read once and
/// each shard's in put order, a child only after all of its parents were
/// read to their end, so each partition key's records, which move to a
/// child, still come in the order they were put.
#[tokio::test]
async fn split_and_merge_while_reading_keep_each_key_in_order() {
    let lab = Lab::start().await;
    lab.create_stream("moving", 2).await;
    let keys = keys(12);
    let mut puts = lab.put_rounds("moving", "unsplit", &keys, 3).await;

    // Pages of 4 records: each parent still holds records the reader has not
    // read when it closes, and its children already hold newer ones.
    let mut reader = lab
        .open("moving", StartingPosition::TrimHorizon)
        .await
        .with_limit(4);
    let mut read = read_at_least(&mut reader, 8).await;

    let mut shards = lab.shards("moving").await;
    shards.sort_by_key(starting_hash_key);
    let (lower, upper) = (&shards[0], &shards[1]);
    lab.split_in_half("moving", lower).await;
    puts.extend(lab.put_rounds("moving", "split", &keys, 2).await);
    read.extend(read_at_least(&mut reader, 8).await);

    // The split's upper half borders the other shard: merge the two.
    let split_upper = lab
        .shards("moving")
        .await
        .into_iter()
        .filter(|s| s.parent_shard_id() == Some(lower.shard_id()))
        .max_by_key(starting_hash_key)
        .expect("the split's children");
    lab.merge("moving", split_upper.shard_id(), upper.shard_id())
        .await;
    puts.extend(lab.put_rounds("moving", "merged", &keys, 2).await);

    read.extend(reader.read_to_end().await.expect("read_to_end"));

    let all_shards = lab.shards("moving").await;
    assert_eq!(
        shards_of(&puts).len(),
        all_shards.len(),
        "records were put on each of the 5 shards: 2 parents, 2 children of the split, 1 of the merge"
    );
    assert_read_as_put(&read, &puts);
    assert_key_order(&read, &puts);

    // Where each shard's records begin and end in the reading order.
    let span = |shard: &str| {
        let first = read.iter().position(|r| r.shard_id == shard);
        let last = read.iter().rposition(|r| r.shard_id == shard);
        first.zip(last).expect("every shard's records were read")
    };
    for child in &all_shards {
        let parents = [child.parent_shard_id(), child.adjacent_parent_shard_id()];
        for parent in parents.into_iter().flatten() {
            let (_, parent_last) = span(parent);
            let (child_first, _) = span(child.shard_id());
            assert!(
                parent_last < child_first,
                "{} was read (record {child_first}) before its parent {parent} was read to its end \
                 (record {parent_last})",
                child.shard_id()
            );
        }
    }
}
