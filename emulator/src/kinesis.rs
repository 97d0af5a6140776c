//! Kinesis Data Streams: ferrokinesis, embedded.
//!
//! We do not reimplement Kinesis: ferrokinesis already answers every Kinesis
//! operation as AWS does, with AWS's errors. We only choose its options.

use ferrokinesis::store::StoreOptions;

use crate::config::Config;

/// The Kinesis service, ready to take requests.
///
/// Streams live in memory, like Firehose's delivery streams: a restarted
/// emulator starts empty, and the two can never disagree about what exists.
/// (ferrokinesis can persist streams; we leave that off for that reason.)
pub fn router(config: &Config) -> axum::Router {
    let delay_ms = u64::try_from(config.kinesis.status_delay.as_millis()).unwrap_or(u64::MAX);
    let options = StoreOptions {
        create_stream_ms: delay_ms,
        delete_stream_ms: delay_ms,
        update_stream_ms: delay_ms,
        shard_limit: config.kinesis.shard_limit,
        iterator_ttl_seconds: config.kinesis.iterator_ttl.as_secs().max(1),
        enforce_limits: config.kinesis.enforce_limits,
        aws_account_id: config.account_id.clone(),
        aws_region: config.region.clone(),
        ..StoreOptions::default()
    };
    ferrokinesis::create_app(options).0
}
