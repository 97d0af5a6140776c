//! GetLogEvents: one stream's events in timestamp order, a page at a time
//! (`aws logs get-log-events`, where a learner reads Firehose's errors).
//!
//! Tokens as AWS's behave: without one, the page is the stream's last events
//! (its first with `startFromHead`); `nextForwardToken` continues after the
//! page and `nextBackwardToken` before it, and a page with nothing new gives
//! back the token it was asked with, which is how a reader knows it has caught
//! up. Our tokens are `f/<position>` and `b/<position>` in the stream (AWS's
//! are opaque, with the same prefixes).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_named, limit, parse, stream_name};
use crate::logs::error::LogsError;
use crate::logs::{Event, Logs};

const MAX_EVENTS: usize = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

enum Direction {
    /// From this position on.
    Forward(usize),
    /// Before this position.
    Backward(usize),
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let group_name = group_named(&input.log_group_name, &input.log_group_identifier)?;
    let stream_name = stream_name(&input.log_stream_name)?;
    let limit = limit(input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let groups = logs.groups();
    let group = groups.get(&group_name).ok_or_else(LogsError::group_not_found)?;
    let stream = group
        .streams
        .get(stream_name)
        .ok_or_else(LogsError::stream_not_found)?;
    let events = &stream.events;
    let direction = match input.next_token.as_deref() {
        Some(token) => parse_token(token, events.len())?,
        None if input.start_from_head.unwrap_or(false) => Direction::Forward(0),
        None => Direction::Backward(events.len()),
    };
    let in_time = |e: &&Event| {
        input.start_time.is_none_or(|start| e.timestamp >= start)
            && input.end_time.is_none_or(|end| e.timestamp < end)
    };
    // Positions in the stream of the page's events, in order.
    let positions: Vec<usize> = match direction {
        Direction::Forward(from) => (from..events.len())
            .filter(|&i| in_time(&&events[i]))
            .take(limit)
            .collect(),
        Direction::Backward(before) => {
            let mut page: Vec<usize> = (0..before)
                .rev()
                .filter(|&i| in_time(&&events[i]))
                .take(limit)
                .collect();
            page.reverse();
            page
        }
    };
    let here = match direction {
        Direction::Forward(at) | Direction::Backward(at) => at,
    };
    let forward = positions.last().map_or(here, |last| last + 1);
    let backward = positions.first().copied().unwrap_or(here);
    let page: Vec<Value> = positions
        .iter()
        .map(|&i| {
            let event = &events[i];
            json!({"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion_time})
        })
        .collect();
    Ok(json!({
        "events": page,
        "nextForwardToken": format!("f/{forward:056}"),
        "nextBackwardToken": format!("b/{backward:056}"),
    }))
}

fn parse_token(token: &str, len: usize) -> Result<Direction, LogsError> {
    let invalid = || LogsError::invalid_parameter("The specified nextToken is invalid.");
    let (kind, position) = token.split_once('/').ok_or_else(invalid)?;
    let position: usize = position.parse().map_err(|_| invalid())?;
    let position = position.min(len);
    match kind {
        "f" => Ok(Direction::Forward(position)),
        "b" => Ok(Direction::Backward(position)),
        _ => Err(invalid()),
    }
}
