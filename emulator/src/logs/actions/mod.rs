//! One file per CloudWatch Logs action, each the same shape:
//! `execute(&Logs, input) -> Result<output, LogsError>`. None waits on
//! anything: each takes the groups' lock, does its work and answers.
//!
//! [`dispatch`] matches every operation with no catch-all arm, so adding one is
//! a compile error until it is handled here.

mod create_log_group;
mod create_log_stream;
mod delete_log_group;
mod delete_log_stream;
mod describe_log_groups;
mod describe_log_streams;
mod filter_log_events;
mod get_log_events;
pub mod put_log_events;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::LogsError;
use super::{Group, Logs};

/// The operations this CloudWatch Logs serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateLogGroup,
    CreateLogStream,
    DeleteLogGroup,
    DeleteLogStream,
    DescribeLogGroups,
    DescribeLogStreams,
    PutLogEvents,
    GetLogEvents,
    FilterLogEvents,
}

impl Operation {
    /// The operation named after `Logs_20140328.` in `X-Amz-Target`.
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "CreateLogGroup" => Operation::CreateLogGroup,
            "CreateLogStream" => Operation::CreateLogStream,
            "DeleteLogGroup" => Operation::DeleteLogGroup,
            "DeleteLogStream" => Operation::DeleteLogStream,
            "DescribeLogGroups" => Operation::DescribeLogGroups,
            "DescribeLogStreams" => Operation::DescribeLogStreams,
            "PutLogEvents" => Operation::PutLogEvents,
            "GetLogEvents" => Operation::GetLogEvents,
            "FilterLogEvents" => Operation::FilterLogEvents,
            _ => return None,
        })
    }
}

pub fn dispatch(logs: &Logs, operation: Operation, input: Value) -> Result<Value, LogsError> {
    match operation {
        Operation::CreateLogGroup => create_log_group::execute(logs, input),
        Operation::CreateLogStream => create_log_stream::execute(logs, input),
        Operation::DeleteLogGroup => delete_log_group::execute(logs, input),
        Operation::DeleteLogStream => delete_log_stream::execute(logs, input),
        Operation::DescribeLogGroups => describe_log_groups::execute(logs, input),
        Operation::DescribeLogStreams => describe_log_streams::execute(logs, input),
        Operation::PutLogEvents => put_log_events::execute(logs, input),
        Operation::GetLogEvents => get_log_events::execute(logs, input),
        Operation::FilterLogEvents => filter_log_events::execute(logs, input),
    }
}

/// The request, as the action's input type; a member of the wrong type is
/// AWS's `SerializationException`.
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, LogsError> {
    serde_json::from_value(input).map_err(|err| LogsError::serialization(err.to_string()))
}

fn required<'a>(value: &'a Option<String>, member: &str) -> Result<&'a str, LogsError> {
    value.as_deref().ok_or_else(|| LogsError::missing(member))
}

static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\.\-_/#A-Za-z0-9]{1,512}$").expect("valid"));
static STREAM_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[^:*]{1,512}$").expect("valid"));

/// A log group name, checked against the model's pattern.
fn group_name(value: &Option<String>) -> Result<&str, LogsError> {
    let name = required(value, "logGroupName")?;
    check("logGroupName", name, &GROUP_NAME, r"[\.\-_/#A-Za-z0-9]+")?;
    Ok(name)
}

fn stream_name(value: &Option<String>) -> Result<&str, LogsError> {
    let name = required(value, "logStreamName")?;
    check("logStreamName", name, &STREAM_NAME, "[^:*]*")?;
    Ok(name)
}

fn check(member: &str, value: &str, pattern: &Regex, spelled: &str) -> Result<(), LogsError> {
    if pattern.is_match(value) {
        return Ok(());
    }
    Err(LogsError::invalid_parameter(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: {spelled}"
    )))
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (a
/// name or an ARN, with or without the `:*` that DescribeLogGroups' `arn` has).
fn group_named(name: &Option<String>, identifier: &Option<String>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::invalid_parameter(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(_), None) => Ok(group_name(name)?.to_owned()),
        (None, Some(identifier)) => {
            let identifier = identifier.strip_suffix(":*").unwrap_or(identifier);
            Ok(match identifier.split_once(":log-group:") {
                Some((_, name)) => name.to_owned(),
                None => identifier.to_owned(),
            })
        }
        (None, None) => Err(LogsError::missing("logGroupName")),
    }
}

fn group_mut<'a>(groups: &'a mut BTreeMap<String, Group>, name: &str) -> Result<&'a mut Group, LogsError> {
    groups.get_mut(name).ok_or_else(LogsError::group_not_found)
}

/// A `limit` member: AWS's default when absent, refused outside `1..=max`.
fn limit(value: Option<i64>, default: usize, max: usize) -> Result<usize, LogsError> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(LogsError::invalid_parameter(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
             Member must have value between 1 and {max}"
        ))),
    }
}
