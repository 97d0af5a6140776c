//! Kinesis Data Streams: ferrokinesis, embedded.
//!
//! We do not reimplement Kinesis: ferrokinesis already answers every Kinesis
//! operation as AWS does, with AWS's errors. We only choose its options.

use std::path::PathBuf;

use ferrokinesis::store::{DurableStateOptions, StoreOptions};

use crate::config::Config;

/// The Kinesis service, ready to take requests. With a state directory, streams
/// and records survive a restart.
pub fn router(config: &Config, state_dir: Option<PathBuf>) -> axum::Router {
    let delay_ms = u64::try_from(config.kinesis.status_delay.as_millis()).unwrap_or(u64::MAX);
    let options = StoreOptions {
        create_stream_ms: delay_ms,
        delete_stream_ms: delay_ms,
        update_stream_ms: delay_ms,
        shard_limit: config.kinesis.shard_limit,
        iterator_ttl_seconds: config.kinesis.iterator_ttl.as_secs().max(1),
        enforce_limits: config.kinesis.enforce_limits,
        durable: state_dir.map(|state_dir| DurableStateOptions {
            state_dir,
            snapshot_interval_secs: 5,
            max_retained_bytes: None,
        }),
        aws_account_id: config.account_id.clone(),
        aws_region: config.region.clone(),
        ..StoreOptions::default()
    };
    ferrokinesis::create_app(options).0
}
