//! What each stream takes in and gives out, second by second: the console's
//! charts of IncomingRecords and IncomingBytes, as CloudWatch shows them for a
//! stream, and the rates of its pipeline picture.
//!
//! Each put's new records ([`super::tail`]) are counted in the second they
//! arrived, and each GetRecords's records in the second they were read (by any
//! consumer: the ETL, Firehose); the last ten minutes are kept, per stream, in
//! memory.
//!
//! Each put and each GetRecords is also published to CloudWatch, once the
//! endpoint has one ([`Metrics::publish_to`]), as AWS publishes them under
//! `AWS/Kinesis` with the dimension `StreamName`: `IncomingRecords` and
//! `IncomingBytes` (one sample per put), `GetRecords.Records` and
//! `GetRecords.IteratorAgeMilliseconds` (one per GetRecords), and
//! `WriteProvisionedThroughputExceeded` (one per put, 1 when it was
//! refused as throttled).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use memchr::memmem::rfind;

use crate::cloudwatch::CloudWatch;

use super::tail::Fresh;

/// How many seconds of counts each stream keeps.
pub const KEPT_SECONDS: i64 = 600;

/// Records and bytes of one stream during one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Second {
    /// Seconds since the epoch.
    pub at: i64,
    pub records: u64,
    pub bytes: u64,
}

type PerStream = Mutex<HashMap<String, VecDeque<Second>>>;

#[derive(Debug, Default)]
pub struct Metrics {
    /// Records and bytes put.
    incoming: PerStream,
    /// Records read (bytes are not counted).
    reads: PerStream,
    /// Where each count is published too, once set.
    cloudwatch: OnceLock<CloudWatch>,
}

const NAMESPACE: &str = "AWS/Kinesis";

/// `ApproximateArrivalTimestamp` in a GetRecords answer.
const ARRIVAL: &[u8] = b"\"ApproximateArrivalTimestamp\":";

impl Metrics {
    /// Publishes every count from now on to `cloudwatch` too.
    pub fn publish_to(&self, cloudwatch: CloudWatch) {
        let _ = self.cloudwatch.set(cloudwatch);
    }

    /// Counts a put's new records, at `now` (seconds since the epoch).
    pub fn count(&self, fresh: &[Fresh], now: i64) {
        let mut incoming = self.incoming.lock().expect("metrics lock");
        let mut per_stream: HashMap<&str, (u64, u64)> = HashMap::new();
        for record in fresh {
            // The payload is base64 in the store: three bytes for four characters.
            let bytes = (record.record.data.len() as u64 * 3 / 4) + record.record.partition_key.len() as u64;
            add(incoming.entry(record.stream.clone()).or_default(), now, 1, bytes);
            let counted = per_stream.entry(&record.stream).or_default();
            counted.0 += 1;
            counted.1 += bytes;
        }
        drop(incoming);
        if let Some(cloudwatch) = self.cloudwatch.get() {
            for (stream, (records, bytes)) in per_stream {
                let dimension = ("StreamName", stream);
                cloudwatch.record(NAMESPACE, "IncomingRecords", dimension, records as f64, "Count");
                cloudwatch.record(NAMESPACE, "IncomingBytes", dimension, bytes as f64, "Bytes");
                cloudwatch.record(
                    NAMESPACE,
                    "WriteProvisionedThroughputExceeded",
                    dimension,
                    0.0,
                    "Count",
                );
            }
        }
    }

    /// Counts a put refused as throttled (`ProvisionedThroughputExceededException`).
    pub fn count_refused<B>(&self, stream: Option<&str>, response: &http::Response<B>) {
        let throttled = response.headers().get("x-amzn-ErrorType").is_some_and(|t| {
            t.as_bytes()
                .starts_with(b"ProvisionedThroughputExceededException")
        });
        if let (Some(cloudwatch), Some(stream), true) = (self.cloudwatch.get(), stream, throttled) {
            cloudwatch.record(
                NAMESPACE,
                "WriteProvisionedThroughputExceeded",
                ("StreamName", stream),
                1.0,
                "Count",
            );
        }
    }

    /// Counts the entries of a successful PutRecords on `stream` that Kinesis
    /// refused as throttled (`ProvisionedThroughputExceededException` in the
    /// answer), as AWS's `WriteProvisionedThroughputExceeded` counts them;
    /// the answer, as it was.
    pub async fn count_throttled_entries(
        &self,
        stream: Option<&str>,
        response: http::Response<axum::body::Body>,
    ) -> http::Response<axum::body::Body> {
        let (Some(cloudwatch), Some(stream)) = (self.cloudwatch.get(), stream) else {
            return response;
        };
        let (parts, body) = response.into_parts();
        let Ok(answer) = http_body_util::BodyExt::collect(body).await.map(|b| b.to_bytes()) else {
            // Stored, but not answered: the writer sends it again (at least once).
            return crate::aws_error::response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "cannot read the answer to a PutRecords",
            );
        };
        let throttled = memchr::memmem::find_iter(&answer, b"ProvisionedThroughputExceededException").count();
        if throttled > 0 {
            cloudwatch.record(
                NAMESPACE,
                "WriteProvisionedThroughputExceeded",
                ("StreamName", stream),
                throttled as f64,
                "Count",
            );
        }
        http::Response::from_parts(parts, axum::body::Body::from(answer))
    }

    /// Counts a GetRecords answer from `stream`, at `now`: its records, and
    /// the age of its last record (AWS's `GetRecords.IteratorAgeMilliseconds`;
    /// 0 when it returned none, the reader being at the tip).
    pub fn count_get_records(&self, stream: &str, answer: &[u8], now: i64) {
        let records = super::lag::records_in(answer);
        self.count_reads(stream, records, now);
        let Some(cloudwatch) = self.cloudwatch.get() else {
            return;
        };
        let age_ms = rfind(answer, ARRIVAL)
            .and_then(|at| {
                let rest = &answer[at + ARRIVAL.len()..];
                let end = rest
                    .iter()
                    .position(|b| {
                        !(b.is_ascii_digit()
                            || *b == b'.'
                            || *b == b'E'
                            || *b == b'e'
                            || *b == b'-'
                            || *b == b'+')
                    })
                    .unwrap_or(rest.len());
                std::str::from_utf8(&rest[..end]).ok()?.parse::<f64>().ok()
            })
            .map_or(0.0, |arrival| {
                (chrono::Utc::now().timestamp_millis() as f64 - arrival * 1000.0).max(0.0)
            });
        let dimension = ("StreamName", stream);
        cloudwatch.record(
            NAMESPACE,
            "GetRecords.Records",
            dimension,
            records as f64,
            "Count",
        );
        cloudwatch.record(
            NAMESPACE,
            "GetRecords.IteratorAgeMilliseconds",
            dimension,
            age_ms,
            "Milliseconds",
        );
    }

    /// Counts the records a GetRecords read from `stream`, at `now`.
    pub fn count_reads(&self, stream: &str, records: u64, now: i64) {
        if records > 0 {
            let mut reads = self.reads.lock().expect("metrics lock");
            add(reads.entry(stream.to_owned()).or_default(), now, records, 0);
        }
    }

    /// What a stream took in during each of the last `seconds` seconds
    /// before `now`, quiet seconds included.
    pub fn incoming(&self, stream: &str, now: i64, seconds: i64) -> Vec<Second> {
        window(
            self.incoming.lock().expect("metrics lock").get(stream),
            now,
            seconds,
        )
    }

    /// The records read from a stream in each of the last `seconds` seconds.
    pub fn reads(&self, stream: &str, now: i64, seconds: i64) -> Vec<Second> {
        window(self.reads.lock().expect("metrics lock").get(stream), now, seconds)
    }

    /// Forgets a deleted stream.
    pub fn forget(&self, stream: &str) {
        self.incoming.lock().expect("metrics lock").remove(stream);
        self.reads.lock().expect("metrics lock").remove(stream);
    }
}

/// Adds to the second `now`, and drops what is older than [`KEPT_SECONDS`].
fn add(seconds: &mut VecDeque<Second>, now: i64, records: u64, bytes: u64) {
    match seconds.back_mut() {
        Some(last) if last.at == now => {
            last.records += records;
            last.bytes += bytes;
        }
        _ => seconds.push_back(Second {
            at: now,
            records,
            bytes,
        }),
    }
    while seconds
        .front()
        .is_some_and(|first| first.at <= now - KEPT_SECONDS)
    {
        seconds.pop_front();
    }
}

/// The `span` seconds up to `now` of `kept`, one entry a second.
fn window(kept: Option<&VecDeque<Second>>, now: i64, span: i64) -> Vec<Second> {
    (now - span + 1..=now)
        .map(|at| {
            kept.and_then(|kept| kept.iter().find(|s| s.at == at))
                .copied()
                .unwrap_or(Second {
                    at,
                    ..Second::default()
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(stream: &str) -> Fresh {
        Fresh {
            stream: stream.to_owned(),
            key: String::new(),
            record: ferrokinesis::types::StoredRecord {
                partition_key: "k".to_owned(),
                data: "AAAA".to_owned(),
                approximate_arrival_timestamp: 0.0,
            },
        }
    }

    #[test]
    fn records_are_counted_in_their_second_and_quiet_seconds_are_zero() {
        let metrics = Metrics::default();
        metrics.count(&[fresh("s"), fresh("s")], 100);
        metrics.count(&[fresh("s")], 102);
        let seen = metrics.incoming("s", 102, 3);
        assert_eq!(seen.iter().map(|s| s.records).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(seen[0].bytes, 2 * (3 + 1));
        metrics.count(&[fresh("s")], 102 + KEPT_SECONDS);
        assert_eq!(
            metrics
                .incoming("s", 102, 3)
                .iter()
                .map(|s| s.records)
                .sum::<u64>(),
            0
        );
    }

    #[test]
    fn reads_are_counted_apart_from_puts() {
        let metrics = Metrics::default();
        metrics.count_reads("s", 7, 50);
        metrics.count_reads("s", 0, 51);
        metrics.count_reads("s", 3, 51);
        let read = metrics.reads("s", 51, 2);
        assert_eq!(read.iter().map(|s| s.records).collect::<Vec<_>>(), [7, 3]);
        assert!(metrics.incoming("s", 51, 2).iter().all(|s| s.records == 0));
    }
}
