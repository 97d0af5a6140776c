//! A cap on the record bytes Kinesis keeps, so that an emulator left running
//! on a laptop does not grow until the machine swaps.
//!
//! AWS keeps every record for the stream's retention period (24 hours at
//! least); an emulator that did so in memory would hold every record of a
//! day-long test. ferrokinesis can refuse puts past a number of bytes, but a
//! refused put is not what AWS does. So when the records held pass the cap,
//! the oldest are trimmed, across every shard of every stream, down to nine
//! tenths of it: as if their retention had passed early. A reader that had not
//! read them yet finds the shard starting later, as it would after expiry.

use ferrokinesis::sequence::{resolve_shard_id, shard_ix_to_hex};
use ferrokinesis::store::Store;

/// Records removed at a time from the shard holding the oldest record.
const CHUNK: usize = 100;

/// What one trim removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    pub records: u64,
    pub bytes: u64,
}

/// The record bytes the store holds, as ferrokinesis counts them.
pub fn retained_bytes(store: &Store) -> u64 {
    store.metrics().retained_bytes()
}

/// Trims the oldest records until at most nine tenths of `cap` are held.
pub async fn trim(store: &Store, cap: u64) -> Trimmed {
    let metrics = store.metrics();
    let target = cap / 10 * 9;
    let (start_bytes, start_records) = (metrics.retained_bytes(), metrics.retained_records());
    while metrics.retained_bytes() > target {
        let Some((stream, first_key)) = oldest_shard(store).await else {
            break;
        };
        let hex = first_key.split('/').next().unwrap_or_default();
        let end = format!("{hex}/~");
        let keys: Vec<String> = store
            .get_records_range_limited(&stream, &first_key, &end, CHUNK)
            .await
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        store.delete_record_keys(&stream, &keys).await;
    }
    Trimmed {
        records: start_records.saturating_sub(metrics.retained_records()),
        bytes: start_bytes.saturating_sub(metrics.retained_bytes()),
    }
}

/// The stream and first key of the shard whose first record arrived first.
async fn oldest_shard(store: &Store) -> Option<(String, String)> {
    let mut oldest: Option<(f64, String, String)> = None;
    for name in store.list_stream_names().await {
        let Ok(stream) = store.get_stream(&name).await else {
            continue;
        };
        for shard in &stream.shards {
            let Ok((_, ix)) = resolve_shard_id(&shard.shard_id) else {
                continue;
            };
            let hex = shard_ix_to_hex(ix);
            let first = store
                .get_records_range_limited(&name, &format!("{hex}/"), &format!("{hex}/~"), 1)
                .await;
            if let Some((key, record)) = first.into_iter().next()
                && oldest
                    .as_ref()
                    .is_none_or(|(arrival, _, _)| record.approximate_arrival_timestamp < *arrival)
            {
                oldest = Some((record.approximate_arrival_timestamp, name.clone(), key));
            }
        }
    }
    oldest.map(|(_, stream, key)| (stream, key))
}
