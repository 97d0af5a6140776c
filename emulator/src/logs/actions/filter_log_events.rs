//! FilterLogEvents: the events of a group's streams that match a plain-text
//! pattern, merged in timestamp order, paged. `aws logs tail` is this call,
//! repeated from the last event's time with `--follow`;
//! `aws logs filter-log-events --filter-pattern NoSuchBucket` finds a
//! Firehose error.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_named, limit, parse};
use crate::logs::Logs;
use crate::logs::error::LogsError;
use crate::logs::filter::Pattern;

const MAX_EVENTS: usize = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let group_name = group_named(&input.log_group_name, &input.log_group_identifier)?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid_parameter(
            "Cannot specify both logStreamNames and logStreamNamePrefix.",
        ));
    }
    let limit = limit(input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let pattern = Pattern::parse(input.filter_pattern.as_deref().unwrap_or_default())?;
    // The token is the (timestamp, number) of the previous page's last event:
    // events put since then with later timestamps still come, none twice.
    let after: Option<(i64, u64)> = match input.next_token.as_deref() {
        None => None,
        Some(token) => Some(
            token
                .split_once('/')
                .and_then(|(t, s)| Some((t.parse().ok()?, s.parse().ok()?)))
                .ok_or_else(|| LogsError::invalid_parameter("The specified nextToken is invalid."))?,
        ),
    };
    let groups = logs.groups();
    let group = groups.get(&group_name).ok_or_else(LogsError::group_not_found)?;
    let streams: Vec<_> = group
        .streams
        .values()
        .filter(
            |s| match (&input.log_stream_names, &input.log_stream_name_prefix) {
                (Some(names), _) => names.contains(&s.name),
                (None, Some(prefix)) => s.name.starts_with(prefix.as_str()),
                (None, None) => true,
            },
        )
        .collect();
    let mut found: Vec<(&str, &crate::logs::Event)> = streams
        .iter()
        .flat_map(|s| s.events.iter().map(move |e| (s.name.as_str(), e)))
        .filter(|(_, e)| {
            input.start_time.is_none_or(|start| e.timestamp >= start)
                && input.end_time.is_none_or(|end| e.timestamp <= end)
                && after.is_none_or(|after| (e.timestamp, e.seq) > after)
                && pattern.matches(&e.message)
        })
        .collect();
    found.sort_by_key(|(_, e)| (e.timestamp, e.seq));
    let more = found.len() > limit;
    found.truncate(limit);
    let events: Vec<Value> = found
        .iter()
        .map(|(stream, e)| {
            json!({
                "logStreamName": stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": format!("{:056}", e.seq),
            })
        })
        .collect();
    let searched: Vec<Value> = streams
        .iter()
        .map(|s| json!({"logStreamName": s.name, "searchedCompletely": true}))
        .collect();
    let mut output = json!({"events": events, "searchedLogStreams": searched});
    if more && let Some((_, last)) = found.last() {
        output["nextToken"] = format!("{}/{}", last.timestamp, last.seq).into();
    }
    Ok(output)
}
