//! What each stream takes in, second by second: the console's chart of
//! IncomingRecords and IncomingBytes, as CloudWatch shows them for a stream.
//!
//! Each put's new records ([`super::tail`]) are counted in the second they
//! arrived; the last ten minutes are kept, per stream, in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::tail::Fresh;

/// How many seconds of counts each stream keeps.
pub const KEPT_SECONDS: i64 = 600;

/// Records and bytes a stream took in during one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Second {
    /// Seconds since the epoch.
    pub at: i64,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    streams: Mutex<HashMap<String, VecDeque<Second>>>,
}

impl Metrics {
    /// Counts a put's new records, at `now` (seconds since the epoch).
    pub fn count(&self, fresh: &[Fresh], now: i64) {
        let mut streams = self.streams.lock().expect("metrics lock");
        for record in fresh {
            // The payload is base64 in the store: three bytes for four characters.
            let bytes = (record.record.data.len() as u64 * 3 / 4) + record.record.partition_key.len() as u64;
            let seconds = streams.entry(record.stream.clone()).or_default();
            match seconds.back_mut() {
                Some(last) if last.at == now => {
                    last.records += 1;
                    last.bytes += bytes;
                }
                _ => seconds.push_back(Second {
                    at: now,
                    records: 1,
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
    }

    /// The last `seconds` seconds of a stream before `now`, one entry per
    /// second, quiet seconds included.
    pub fn incoming(&self, stream: &str, now: i64, seconds: i64) -> Vec<Second> {
        let streams = self.streams.lock().expect("metrics lock");
        let kept = streams.get(stream);
        (now - seconds + 1..=now)
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

    /// Forgets a deleted stream.
    pub fn forget(&self, stream: &str) {
        self.streams.lock().expect("metrics lock").remove(stream);
    }
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
}
