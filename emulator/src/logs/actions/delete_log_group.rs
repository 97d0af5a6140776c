//! DeleteLogGroup: the group, its streams and their events, from disk too.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_name, parse};
use crate::logs::Logs;
use crate::logs::error::LogsError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let name = group_name(&input.log_group_name)?;
    let removed = logs
        .groups()
        .remove(name)
        .ok_or_else(LogsError::group_not_found)?;
    if let Some(file) = removed.file {
        file.remove();
    }
    Ok(json!({}))
}
