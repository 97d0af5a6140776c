//! DescribeLogStreams: a group's streams, by name or by last event, paged.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_named, limit, parse};
use crate::logs::Logs;
use crate::logs::error::LogsError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    limit: Option<i64>,
    next_token: Option<String>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let group_name = group_named(&input.log_group_name, &input.log_group_identifier)?;
    let by_last_event = match input.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::invalid_parameter(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: \
                 Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if by_last_event && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid_parameter(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let limit = limit(input.limit, 50, 50)?;
    // The token is how many streams earlier pages held.
    let skip: usize = match input.next_token.as_deref() {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| LogsError::invalid_parameter("The specified nextToken is invalid."))?,
    };
    let groups = logs.groups();
    let group = groups.get(&group_name).ok_or_else(LogsError::group_not_found)?;
    let arn = logs.group_arn(&group.name);
    let prefix = input.log_stream_name_prefix.unwrap_or_default();
    let mut streams: Vec<_> = group
        .streams
        .values()
        .filter(|s| s.name.starts_with(&prefix))
        .collect();
    if by_last_event {
        streams.sort_by_key(|s| s.events.iter().map(|e| e.timestamp).max());
    }
    if input.descending.unwrap_or(false) {
        streams.reverse();
    }
    let page: Vec<Value> = streams
        .iter()
        .skip(skip)
        .take(limit)
        .map(|stream| {
            let mut described = json!({
                "logStreamName": stream.name,
                "creationTime": stream.created_ms,
                "arn": format!("{arn}:log-stream:{}", stream.name),
                "storedBytes": 0,
            });
            if let (Some(first), Some(last)) = (stream.events.first(), stream.events.last()) {
                described["firstEventTimestamp"] = first.timestamp.into();
                described["lastEventTimestamp"] = last.timestamp.into();
            }
            if let Some(at) = stream.last_ingestion_ms {
                described["lastIngestionTime"] = at.into();
            }
            described
        })
        .collect();
    let mut output = json!({"logStreams": page});
    if skip + limit < streams.len() {
        output["nextToken"] = (skip + limit).to_string().into();
    }
    Ok(output)
}
