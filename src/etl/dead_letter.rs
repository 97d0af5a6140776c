//! Dead letters: the records the ETL could not write, each with why and
//! where it came from (lab step 2.2's "a record it cannot handle is reported
//! and skipped", made durable).
//!
//! A dead letter is one JSON object: a line of the dead-letter file, or one
//! record of the dead-letter stream. The record's bytes go in base64, as
//! `data_base64`; they are kept as bytes until then, and encoded once, when the
//! letter is written.
//!
//! A stream takes at most 1 MiB a record, and a letter about a record near
//! that size would not fit (base64 makes bytes a third larger). Such a letter
//! keeps the record's first 512 KiB, with the whole record's size and SHA-256,
//! so that the record can still be told apart and found at its sequence
//! number.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::batch_writer::{Entry, MAX_RECORD_BYTES, put_all};
use crate::shard_reader::ReadRecord;
use crate::stream_name::StreamName;

use super::EtlError;

/// How much of a record a letter on a stream keeps when the whole record
/// would not fit: with base64 and the letter's other fields, well under 1 MiB.
const KEPT_ON_A_STREAM: usize = 512 * 1024;

/// A record the ETL could not write, and why. Its fields, in this order, are
/// the letter's JSON members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub reason: String,
    pub source_stream: String,
    pub shard_id: String,
    pub sequence_number: String,
    /// The user record's place in its KPL aggregate, if it came in one.
    pub sub_sequence_number: Option<u64>,
    pub partition_key: String,
    /// The record's bytes (all of them, or the first 512 KiB when cut).
    #[serde(rename = "data_base64", serialize_with = "base64")]
    pub data: Vec<u8>,
    /// Set when `data` was cut to fit a stream.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Cut>,
}

/// What a letter cut to fit a stream says of the whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cut {
    pub data_truncated: bool,
    pub data_bytes: usize,
    pub data_sha256: String,
}

fn base64<S: Serializer>(data: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&BASE64.encode(data))
}

impl DeadLetter {
    /// The letter for `record`, read from `source`, that could not be written.
    pub fn new(source: &StreamName, record: &ReadRecord, reason: impl Into<String>) -> DeadLetter {
        DeadLetter {
            reason: reason.into(),
            source_stream: source.to_string(),
            shard_id: record.shard_id.clone(),
            sequence_number: record.sequence_number.clone(),
            sub_sequence_number: record.sub_sequence,
            partition_key: record.partition_key.clone(),
            data: record.data.clone(),
            cut: None,
        }
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a dead letter is plain JSON")
    }

    /// The letter as a record of the dead-letter stream: partition key its
    /// sequence number, data its JSON, cut first when it would not fit.
    fn into_entry(mut self) -> Entry {
        let key = self.sequence_number.clone();
        let mut json = self.to_json();
        if json.len() + key.len() > MAX_RECORD_BYTES {
            let whole = std::mem::take(&mut self.data);
            self.cut = Some(Cut {
                data_truncated: true,
                data_bytes: whole.len(),
                data_sha256: format!("{:x}", Sha256::digest(&whole)),
            });
            self.data = whole[..whole.len().min(KEPT_ON_A_STREAM)].to_vec();
            json = self.to_json();
        }
        Entry {
            partition_key: key,
            data: json,
            origin: 0,
        }
    }
}

/// Where dead letters go.
#[derive(Debug, Clone)]
pub enum DeadLetterSink {
    Stream(StreamName),
    /// One JSON object per line, appended.
    File(std::path::PathBuf),
}

/// Writes `letters` to `sink`, durably: a file is synced, a stream must take
/// every letter. Until this returns, the batch they came from is not
/// checkpointed, so a failure here loses nothing.
pub async fn write(
    kinesis: &aws_sdk_kinesis::Client,
    sink: &DeadLetterSink,
    letters: Vec<DeadLetter>,
) -> Result<(), EtlError> {
    match sink {
        DeadLetterSink::Stream(stream) => {
            let entries = letters.into_iter().map(DeadLetter::into_entry).collect();
            let written = put_all(kinesis, stream.as_str(), entries).await?;
            // A letter cut to fit is never refused as too large; anything else
            // refused stops the ETL before its checkpoint, so nothing is lost.
            match written.invalid.first() {
                None => Ok(()),
                Some((_, reason)) => Err(EtlError::DeadLetter(format!(
                    "stream \"{stream}\" refused {} dead letters: {reason}",
                    written.invalid.len()
                ))),
            }
        }
        DeadLetterSink::File(path) => {
            append(path, &letters).map_err(|err| EtlError::DeadLetter(format!("{}: {err}", path.display())))
        }
    }
}

fn append(path: &Path, letters: &[DeadLetter]) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = Vec::new();
    for letter in letters {
        text.extend(letter.to_json());
        text.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&text)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn record(data: Vec<u8>) -> ReadRecord {
        ReadRecord {
            shard_id: "shardId-000000000001".into(),
            sequence_number: "4968".into(),
            sub_sequence: Some(2),
            completes_record: false,
            partition_key: "k".into(),
            data,
            arrival: None,
            aggregate_error: None,
        }
    }

    fn source() -> StreamName {
        "src".parse().unwrap()
    }

    #[test]
    fn a_letter_is_one_json_object_with_the_record_in_base64() {
        let letter = DeadLetter::new(&source(), &record(b"not json".to_vec()), "not JSON");
        let json: Value = serde_json::from_slice(&letter.to_json()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "reason",
                "source_stream",
                "shard_id",
                "sequence_number",
                "sub_sequence_number",
                "partition_key",
                "data_base64"
            ]
        );
        assert_eq!(json["data_base64"], BASE64.encode(b"not json"));
        assert_eq!(json["sub_sequence_number"], 2);
    }

    #[test]
    fn a_letter_too_big_for_a_stream_keeps_512_kib_with_the_size_and_digest() {
        let big = vec![b'x'; 900 * 1024];
        let entry = DeadLetter::new(&source(), &record(big.clone()), "too big").into_entry();
        assert!(entry.data.len() + entry.partition_key.len() <= MAX_RECORD_BYTES);
        let json: Value = serde_json::from_slice(&entry.data).unwrap();
        assert_eq!(json["data_truncated"], true);
        assert_eq!(json["data_bytes"], big.len());
        assert_eq!(json["data_sha256"], format!("{:x}", Sha256::digest(&big)));
        let kept = BASE64.decode(json["data_base64"].as_str().unwrap()).unwrap();
        assert_eq!(kept.len(), KEPT_ON_A_STREAM);
        assert_eq!(entry.partition_key, "4968");

        let small = DeadLetter::new(&source(), &record(b"{}".to_vec()), "small").into_entry();
        let json: Value = serde_json::from_slice(&small.data).unwrap();
        assert!(json.get("data_truncated").is_none(), "{json}");
    }
}
