//! KPL aggregation: many user records in one Kinesis record, as the Kinesis
//! Producer Library packs them to save on per-record costs.
//!
//! An aggregated record is 4 magic bytes (`F3 89 9A C2`), a protobuf
//! `AggregatedRecord`, then the MD5 of those protobuf bytes. Each user record
//! in it names its partition key (and explicit hash key) by index into the
//! aggregate's tables. A consumer built on the KCL sees the user records, and
//! so does Firehose with a Kinesis source; [`deaggregate`] does the same here.
//! A record without the magic, or whose MD5 does not match, is an ordinary
//! record, as the KCL treats it; one whose MD5 matches but whose contents
//! cannot be read is reported.

use md5::{Digest, Md5};
use prost::Message;

/// The first bytes of every aggregated record.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// The KPL's `AggregatedRecord` message.
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// One user record of an aggregate.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// A user record taken out of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// What a Kinesis record's data turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deaggregated {
    /// An ordinary record.
    Single,
    /// The user records of an aggregate, in order.
    Records(Vec<UserRecord>),
    /// An aggregate (magic and MD5 right) whose contents cannot be read.
    Corrupt(String),
}

/// Takes the user records out of `data` if it is an aggregate.
pub fn deaggregate(data: &[u8]) -> Deaggregated {
    let Some(body) = data.strip_prefix(&MAGIC) else {
        return Deaggregated::Single;
    };
    if body.len() < DIGEST_LEN {
        return Deaggregated::Single;
    }
    let (message, digest) = body.split_at(body.len() - DIGEST_LEN);
    if Md5::digest(message).as_slice() != digest {
        return Deaggregated::Single;
    }
    let aggregate = match AggregatedRecord::decode(message) {
        Ok(aggregate) => aggregate,
        Err(err) => return Deaggregated::Corrupt(format!("its protobuf cannot be decoded: {err}")),
    };
    let mut records = Vec::with_capacity(aggregate.records.len());
    for (index, record) in aggregate.records.into_iter().enumerate() {
        let Some(partition_key) = aggregate
            .partition_key_table
            .get(record.partition_key_index as usize)
        else {
            return Deaggregated::Corrupt(format!(
                "user record {index} names partition key {} of a table of {}",
                record.partition_key_index,
                aggregate.partition_key_table.len()
            ));
        };
        let explicit_hash_key = match record.explicit_hash_key_index {
            None => None,
            Some(at) => match aggregate.explicit_hash_key_table.get(at as usize) {
                Some(key) => Some(key.clone()),
                None => {
                    return Deaggregated::Corrupt(format!(
                        "user record {index} names explicit hash key {at} of a table of {}",
                        aggregate.explicit_hash_key_table.len()
                    ));
                }
            },
        };
        records.push(UserRecord {
            partition_key: partition_key.clone(),
            explicit_hash_key,
            data: record.data,
        });
    }
    Deaggregated::Records(records)
}

/// Packs user records (partition key, data) into one aggregated record, as
/// the KPL does.
pub fn aggregate<'a>(records: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut aggregate = AggregatedRecord::default();
    for (partition_key, data) in records {
        let index = match aggregate
            .partition_key_table
            .iter()
            .position(|k| k == partition_key)
        {
            Some(index) => index,
            None => {
                aggregate.partition_key_table.push(partition_key.to_owned());
                aggregate.partition_key_table.len() - 1
            }
        };
        aggregate.records.push(Record {
            partition_key_index: index as u64,
            explicit_hash_key_index: None,
            data: data.to_vec(),
            tags: Vec::new(),
        });
    }
    seal(&aggregate.encode_to_vec())
}

/// The magic, `message` (an encoded `AggregatedRecord`) and its MD5: the
/// framing of an aggregated record.
pub fn seal(message: &[u8]) -> Vec<u8> {
    let mut packed = Vec::with_capacity(MAGIC.len() + message.len() + DIGEST_LEN);
    packed.extend_from_slice(&MAGIC);
    packed.extend_from_slice(message);
    packed.extend_from_slice(&Md5::digest(message));
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_gives_back_its_user_records_in_order() {
        let packed = aggregate([("a", &b"{\"n\":1}"[..]), ("b", b"{\"n\":2}"), ("a", b"{\"n\":3}")]);
        assert_eq!(packed[..4], MAGIC);
        let Deaggregated::Records(records) = deaggregate(&packed) else {
            panic!("not taken apart");
        };
        let taken: Vec<(&str, &[u8])> = records
            .iter()
            .map(|r| (r.partition_key.as_str(), r.data.as_slice()))
            .collect();
        assert_eq!(
            taken,
            [("a", &b"{\"n\":1}"[..]), ("b", b"{\"n\":2}"), ("a", b"{\"n\":3}")]
        );
    }

    #[test]
    fn ordinary_records_and_bad_digests_are_single() {
        assert_eq!(deaggregate(b"{\"n\":1}"), Deaggregated::Single);
        let mut packed = aggregate([("a", &b"x"[..])]);
        let last = packed.len() - 1;
        packed[last] ^= 1;
        assert_eq!(deaggregate(&packed), Deaggregated::Single);
    }

    #[test]
    fn an_aggregate_with_a_right_digest_and_a_wrong_table_is_corrupt() {
        let bad = AggregatedRecord {
            partition_key_table: vec![],
            explicit_hash_key_table: vec![],
            records: vec![Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: vec![],
            }],
        }
        .encode_to_vec();
        let packed = seal(&bad);
        assert!(
            matches!(deaggregate(&packed), Deaggregated::Corrupt(reason) if reason.contains("partition key 3"))
        );
        assert!(matches!(
            deaggregate(&seal(&[0xff, 0xff, 0xff])),
            Deaggregated::Corrupt(_)
        ));
    }
}
