//! CreateLogStream: a stream in an existing group.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_mut, group_name, parse, stream_name};
use crate::logs::error::LogsError;
use crate::logs::store::Entry;
use crate::logs::{LogStream, Logs, now_ms};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let group = group_name(&input.log_group_name)?;
    let stream = stream_name(&input.log_stream_name)?;
    let mut groups = logs.groups();
    let group = group_mut(&mut groups, group)?;
    if group.streams.contains_key(stream) {
        return Err(LogsError::stream_exists());
    }
    create(group, stream)?;
    Ok(json!({}))
}

/// Adds a stream to a group, on disk first.
pub fn create(group: &mut crate::logs::Group, stream: &str) -> Result<(), LogsError> {
    let created_ms = now_ms();
    group.record(&Entry::Stream {
        name: stream.to_owned(),
        created_ms,
    })?;
    group
        .streams
        .insert(stream.to_owned(), LogStream::new(stream.to_owned(), created_ms));
    Ok(())
}
