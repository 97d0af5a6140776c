//! A true `MillisBehindLatest` in GetRecords answers: how old the oldest
//! record not yet read is, 0 once the reader has caught up.
//!
//! ferrokinesis 0.7 answers 0 for every open shard, so a consumer's lag (the
//! lab's ETL prints it) always read "0 ms", however far behind it was. After
//! ferrokinesis answers, the record after the last one returned is looked up:
//! none means caught up; otherwise its age is the lag, as AWS computes it.

use bytes::Bytes;
use ferrokinesis::sequence::{resolve_shard_id, shard_ix_to_hex};
use ferrokinesis::shard_iterator::decode_shard_iterator;
use ferrokinesis::store::Store;
use memchr::memmem::{find, rfind};

const MILLIS_BEHIND: &[u8] = b"\"MillisBehindLatest\":";
const SEQUENCE_NUMBER: &[u8] = b"\"SequenceNumber\":\"";

/// The GetRecords answer `body` with its `MillisBehindLatest` computed, when
/// it is JSON and has records; otherwise as it was.
pub async fn correct(store: &Store, request: &[u8], body: Bytes) -> Bytes {
    let Some(millis) = millis_behind(store, request, &body).await else {
        return body;
    };
    let Some(at) = find(&body, MILLIS_BEHIND).map(|at| at + MILLIS_BEHIND.len()) else {
        return body;
    };
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut corrected = Vec::with_capacity(body.len() + 16);
    corrected.extend_from_slice(&body[..at]);
    corrected.extend_from_slice(millis.to_string().as_bytes());
    corrected.extend_from_slice(&body[at + digits..]);
    Bytes::from(corrected)
}

/// The stream a GetRecords reads, from its shard iterator.
pub fn stream_read(request: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct GetRecords {
        #[serde(rename = "ShardIterator")]
        shard_iterator: String,
    }
    let request: GetRecords = serde_json::from_slice(request).ok()?;
    let (_, stream, _, _) = decode_shard_iterator(&request.shard_iterator).ok()?;
    Some(stream)
}

/// How many records a GetRecords answer holds: each has one
/// `"SequenceNumber":"`, which cannot occur inside a JSON string.
pub fn records_in(answer: &[u8]) -> u64 {
    memchr::memmem::find_iter(answer, SEQUENCE_NUMBER).count() as u64
}

async fn millis_behind(store: &Store, request: &[u8], body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct GetRecords {
        #[serde(rename = "ShardIterator")]
        shard_iterator: String,
    }
    let request: GetRecords = serde_json::from_slice(request).ok()?;
    let (_, stream, shard_id, _) = decode_shard_iterator(&request.shard_iterator).ok()?;
    let (_, ix) = resolve_shard_id(&shard_id).ok()?;
    // The last record returned: `"SequenceNumber":"` cannot occur inside a JSON
    // string (its quotes would be escaped), so the last one is the last record's.
    let at = rfind(body, SEQUENCE_NUMBER)? + SEQUENCE_NUMBER.len();
    let sequence = std::str::from_utf8(&body[at..at + body[at..].iter().position(|&b| b == b'"')?]).ok()?;
    let hex = shard_ix_to_hex(ix);
    let next = store
        .get_records_range_limited(&stream, &format!("{hex}/{sequence}\0"), &format!("{hex}/~"), 1)
        .await;
    Some(match next.first() {
        None => 0,
        Some((_, record)) => {
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            ((now - record.approximate_arrival_timestamp).max(0.0) * 1000.0) as u64
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_by_their_sequence_numbers() {
        let answer = br#"{"Records":[{"SequenceNumber":"1","Data":"IlNlcXVlbmNlTnVtYmVyIjoi"},{"SequenceNumber":"2"}],"MillisBehindLatest":0}"#;
        assert_eq!(records_in(answer), 2);
        assert_eq!(records_in(br#"{"Records":[],"MillisBehindLatest":0}"#), 0);
    }
}
