//! The records each put adds, found right after it with its turn still held,
//! and what is put right about them before the put is answered.
//!
//! Puts to a stream run one at a time (see [`super::turns`]), so what a shard
//! holds after its last known key is exactly what the put just stored. Two
//! things use that:
//!
//! - **Arrival times to the millisecond.** ferrokinesis 0.7 stores a record's
//!   `ApproximateArrivalTimestamp` in whole seconds, so `AT_TIMESTAMP`
//!   iterators and the arrival times readers see are off by up to a second.
//!   Each new record gets the millisecond its put started (inside the second
//!   ferrokinesis recorded), which AWS's "approximate" allows.
//! - **The journal** logs exactly these records ([`super::journal`]).

use std::collections::HashMap;
use std::sync::Mutex;

use ferrokinesis::sequence::{resolve_shard_id, shard_ix_to_hex};
use ferrokinesis::store::Store;
use ferrokinesis::types::StoredRecord;

/// A record a put just stored: its stream, key and contents.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub stream: String,
    pub key: String,
    pub record: StoredRecord,
}

/// The last key seen in each shard: `(stream, shard hex) -> key`.
#[derive(Debug, Default)]
pub struct Tail {
    marks: Mutex<HashMap<(String, String), String>>,
}

impl Tail {
    /// A tail that has seen everything the store holds: after a restore.
    pub fn with_marks(marks: HashMap<(String, String), String>) -> Tail {
        Tail {
            marks: Mutex::new(marks),
        }
    }

    /// The records stored since the last call, in the streams named (every
    /// stream when `None`), with their arrival time set to `put_started_ms`
    /// (milliseconds since the epoch) where ferrokinesis cut it to the second.
    pub async fn take(&self, store: &Store, stream: Option<&str>, put_started_ms: i64) -> Vec<Fresh> {
        let names = match stream {
            Some(name) => vec![name.to_owned()],
            None => store.list_stream_names().await,
        };
        let mut fresh = Vec::new();
        for name in names {
            let Ok(described) = store.get_stream(&name).await else {
                continue;
            };
            for shard in &described.shards {
                if shard.sequence_number_range.ending_sequence_number.is_some() {
                    continue; // A closed shard takes no more records.
                }
                let Ok((_, ix)) = resolve_shard_id(&shard.shard_id) else {
                    continue;
                };
                let hex = shard_ix_to_hex(ix);
                let mark_key = (name.clone(), hex.clone());
                let start = match self.marks.lock().expect("tail marks").get(&mark_key) {
                    // Just after the last key seen: keys of one shard have the same length.
                    Some(last) => format!("{last}\0"),
                    None => format!("{hex}/"),
                };
                let records = store.get_records_range(&name, &start, &format!("{hex}/~")).await;
                let Some((last, _)) = records.last() else { continue };
                self.marks
                    .lock()
                    .expect("tail marks")
                    .insert(mark_key, last.clone());
                for (key, mut record) in records {
                    if let Some(precise) =
                        to_the_millisecond(record.approximate_arrival_timestamp, put_started_ms)
                    {
                        record.approximate_arrival_timestamp = precise;
                        // Replaces the record under its key, with the same bytes but the time.
                        if let Err(err) = store.put_record(&name, &key, &record).await {
                            tracing::debug!("cannot refine a record's arrival time: {err:?}");
                        }
                    }
                    fresh.push(Fresh {
                        stream: name.clone(),
                        key,
                        record,
                    });
                }
            }
        }
        fresh
    }

    /// Forgets a deleted stream, so that a new one of the same name starts afresh.
    pub fn forget(&self, stream: &str) {
        self.marks
            .lock()
            .expect("tail marks")
            .retain(|(name, _), _| name != stream);
    }
}

/// The arrival in seconds with milliseconds: the put's start when it falls in
/// the second ferrokinesis recorded, else the start of that second. `None`
/// when the time already has milliseconds.
fn to_the_millisecond(recorded_seconds: f64, put_started_ms: i64) -> Option<f64> {
    if recorded_seconds.fract() != 0.0 {
        return None;
    }
    let second_ms = recorded_seconds as i64 * 1000;
    let precise_ms = if (second_ms..second_ms + 1000).contains(&put_started_ms) {
        put_started_ms
    } else {
        second_ms
    };
    Some(precise_ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_gets_the_millisecond_of_the_put_within_its_second() {
        assert_eq!(
            to_the_millisecond(1_700_000_000.0, 1_700_000_000_250),
            Some(1_700_000_000.25)
        );
        // The put started in the second before the one recorded: the recorded
        // second's start, never a time outside it.
        assert_eq!(
            to_the_millisecond(1_700_000_001.0, 1_700_000_000_999),
            Some(1_700_000_001.0)
        );
        assert_eq!(to_the_millisecond(1_700_000_000.5, 1_700_000_000_250), None);
    }
}
