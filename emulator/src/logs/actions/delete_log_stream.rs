//! DeleteLogStream: the stream and its events.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_mut, group_name, parse, stream_name};
use crate::logs::Logs;
use crate::logs::error::LogsError;
use crate::logs::store::Entry;

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
    if !group.streams.contains_key(stream) {
        return Err(LogsError::stream_not_found());
    }
    group.record(&Entry::DeleteStream {
        name: stream.to_owned(),
    })?;
    group.streams.remove(stream);
    Ok(json!({}))
}
