//! PutLogEvents: a batch of events on a stream. Also how Firehose writes its
//! delivery errors ([`crate::logs::Logs::write`]).
//!
//! As AWS: the events of a batch must be in timestamp order and within 24
//! hours of each other; those older than 14 days or more than 2 hours ahead
//! are not stored but reported in `rejectedLogEventsInfo`. The sequence token
//! is accepted and ignored, as AWS has since 2023.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_mut, group_name, parse, stream_name};
use crate::logs::error::LogsError;
use crate::logs::store::Entry;
use crate::logs::{Event, Group, Logs, now_ms};

const MAX_EVENTS: usize = 10_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const TOO_OLD_MS: i64 = 14 * DAY_MS;
const TOO_NEW_MS: i64 = 2 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
    log_events: Option<Vec<InputEvent>>,
}

#[derive(Deserialize)]
struct InputEvent {
    timestamp: i64,
    message: String,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let group = group_name(&input.log_group_name)?;
    let stream = stream_name(&input.log_stream_name)?;
    let events = input.log_events.ok_or_else(|| LogsError::missing("logEvents"))?;
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(LogsError::invalid_parameter(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: \
             Member must have length between 1 and {MAX_EVENTS}"
        )));
    }
    if events
        .windows(2)
        .any(|pair| pair[1].timestamp < pair[0].timestamp)
    {
        return Err(LogsError::invalid_parameter(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let (first, last) = (events[0].timestamp, events[events.len() - 1].timestamp);
    if last - first > DAY_MS {
        return Err(LogsError::invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let now = now_ms();
    let too_old = events
        .iter()
        .take_while(|e| e.timestamp < now - TOO_OLD_MS)
        .count();
    let too_new = events.iter().position(|e| e.timestamp > now + TOO_NEW_MS);
    let kept: Vec<(i64, String)> = events
        .into_iter()
        .enumerate()
        .filter(|(index, _)| *index >= too_old && too_new.is_none_or(|at| *index < at))
        .map(|(_, e)| (e.timestamp, e.message))
        .collect();
    let mut groups = logs.groups();
    let group = group_mut(&mut groups, group)?;
    if !group.streams.contains_key(stream) {
        return Err(LogsError::stream_not_found());
    }
    append(group, stream, kept, now)?;
    let mut output = json!({"nextSequenceToken": format!("{:056}", group.next_seq)});
    if too_old > 0 || too_new.is_some() {
        let mut rejected = json!({});
        if too_old > 0 {
            rejected["tooOldLogEventEndIndex"] = too_old.into();
        }
        if let Some(at) = too_new {
            rejected["tooNewLogEventStartIndex"] = at.into();
        }
        output["rejectedLogEventsInfo"] = rejected;
    }
    Ok(output)
}

/// Makes a stream if the group lacks it.
pub fn ensure_stream(group: &mut Group, stream: &str) -> Result<(), LogsError> {
    match group.streams.contains_key(stream) {
        true => Ok(()),
        false => super::create_log_stream::create(group, stream),
    }
}

/// Stores events (timestamp, message) on an existing stream, on disk first.
pub fn append(
    group: &mut Group,
    stream: &str,
    events: Vec<(i64, String)>,
    now: i64,
) -> Result<(), LogsError> {
    if events.is_empty() {
        return Ok(());
    }
    let first = group.next_seq;
    let events: Vec<Event> = events
        .into_iter()
        .zip(first..)
        .map(|((timestamp, message), seq)| Event {
            timestamp,
            message,
            ingestion_time: now,
            seq,
        })
        .collect();
    group.record(&Entry::Events {
        stream: stream.to_owned(),
        events: events.clone(),
    })?;
    group.next_seq = first + events.len() as u64;
    group
        .streams
        .get_mut(stream)
        .expect("the caller checked the stream")
        .insert(events);
    Ok(())
}
