//! KPL aggregates in a stream: taken apart into their user records, and
//! records that only look like aggregates left whole.

use prost::Message;
use shard_reader::StartingPosition;
use shard_reader::kpl::{self, AggregatedRecord, MAGIC};

use crate::Lab;

/// An aggregate made with `kpl::aggregate` is read as its user records, in
/// order, each with its own partition key, its place in the aggregate and
/// the aggregate's sequence number; only the last completes the Kinesis
/// record, and the ordinary records around it are read as they were put.
#[tokio::test]
async fn an_aggregate_is_read_as_its_user_records() {
    let lab = Lab::start().await;
    lab.create_stream("packed", 1).await;
    let users: [(&str, &[u8]); 4] = [
        ("alice", b"{\"n\":0}"),
        ("bob", b"{\"n\":1}"),
        ("alice", b"{\"n\":2}"),
        ("carol", b"{\"n\":3}"),
    ];
    let before = lab.put("packed", "plain", "before").await;
    // The KPL puts an aggregate under a partition key of its own choosing;
    // a reader must give back each user record's key instead.
    let (shard, sequence) = lab.put_bytes("packed", "aggregate", &kpl::aggregate(users)).await;
    let after = lab.put("packed", "plain", "after").await;

    let mut reader = lab.open("packed", StartingPosition::TrimHorizon).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_eq!(read.len(), 2 + users.len(), "{read:#?}");

    let (first, last) = (&read[0], &read[read.len() - 1]);
    assert_eq!(
        (first.sequence_number.as_str(), first.data.as_slice()),
        (before.sequence_number.as_str(), &b"before"[..])
    );
    assert_eq!(
        (last.sequence_number.as_str(), last.data.as_slice()),
        (after.sequence_number.as_str(), &b"after"[..])
    );
    for record in [first, last] {
        assert_eq!(record.sub_sequence, None);
        assert!(record.completes_record);
        assert_eq!(record.partition_key, "plain");
    }

    let unpacked = &read[1..=users.len()];
    for (index, (record, (key, data))) in unpacked.iter().zip(users).enumerate() {
        assert_eq!(record.shard_id, shard);
        assert_eq!(record.sequence_number, sequence);
        assert_eq!(record.sub_sequence, Some(index as u64));
        assert_eq!(record.partition_key, key);
        assert_eq!(record.data, data);
        assert_eq!(
            record.completes_record,
            index == users.len() - 1,
            "user record {index} completes the Kinesis record only if it is the last"
        );
        assert_eq!(record.aggregate_error, None);
    }
}

/// A record with the aggregate magic but a wrong MD5 is an ordinary record,
/// read whole; one whose MD5 is right but whose body cannot be taken apart
/// (bytes that are no protobuf, or a user record naming a partition key the
/// table lacks) is read whole too, with `aggregate_error` saying why.
#[tokio::test]
async fn records_that_cannot_be_taken_apart_are_read_whole() {
    let lab = Lab::start().await;
    lab.create_stream("packed", 1).await;

    // A real aggregate with its digest's last byte changed: by the KCL's
    // rule, data that merely starts like an aggregate is a producer's own.
    let mut wrong_digest = kpl::aggregate([("alice", &b"x"[..]), ("bob", b"y")]);
    *wrong_digest.last_mut().expect("a digest") ^= 1;
    assert_eq!(wrong_digest[..4], MAGIC);
    // The framing is right (magic, then a digest of what it encloses), so
    // this was meant as an aggregate: a corrupt one, reported as such.
    let not_protobuf = kpl::seal(&[0xff, 0xff, 0xff]);
    let mut missing_key = AggregatedRecord::default();
    missing_key.records.push(kpl::Record {
        partition_key_index: 3,
        explicit_hash_key_index: None,
        data: b"x".to_vec(),
        tags: Vec::new(),
    });
    let missing_key = kpl::seal(&missing_key.encode_to_vec());

    let puts = [
        ("wrong-digest", wrong_digest),
        ("not-protobuf", not_protobuf),
        ("missing-key", missing_key),
    ];
    let mut sequences = Vec::new();
    for (key, data) in &puts {
        sequences.push(lab.put_bytes("packed", key, data).await.1);
    }

    let mut reader = lab.open("packed", StartingPosition::TrimHorizon).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_eq!(read.len(), puts.len(), "{read:#?}");
    for ((record, (key, data)), sequence) in read.iter().zip(&puts).zip(&sequences) {
        assert_eq!(&record.partition_key, key);
        assert_eq!(&record.sequence_number, sequence);
        assert_eq!(&record.data, data, "{key}: the whole Kinesis record");
        assert_eq!(record.sub_sequence, None, "{key}");
        assert!(record.completes_record, "{key}");
    }
    assert_eq!(read[0].aggregate_error, None, "a wrong digest is no aggregate");
    for record in &read[1..] {
        let reason = record.aggregate_error.as_deref().unwrap_or_default();
        assert!(!reason.is_empty(), "{}: no aggregate_error", record.partition_key);
    }
}
