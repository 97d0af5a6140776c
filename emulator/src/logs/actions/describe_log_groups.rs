//! DescribeLogGroups: the groups by name, paged (`aws logs describe-log-groups`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{limit, parse};
use crate::logs::Logs;
use crate::logs::error::LogsError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    limit: Option<i64>,
    next_token: Option<String>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(LogsError::invalid_parameter(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = limit(input.limit, 50, 50)?;
    let prefix = input.log_group_name_prefix.unwrap_or_default();
    // The token is the last name of the previous page.
    let after = input.next_token.unwrap_or_default();
    let groups = logs.groups();
    let mut matching = groups
        .values()
        .filter(|g| g.name.starts_with(&prefix) && g.name > after)
        .filter(|g| {
            input
                .log_group_name_pattern
                .as_deref()
                .is_none_or(|pattern| g.name.to_lowercase().contains(&pattern.to_lowercase()))
        });
    let page: Vec<_> = matching.by_ref().take(limit).collect();
    let more = matching.next().is_some();
    let described: Vec<Value> = page
        .iter()
        .map(|group| {
            let arn = logs.group_arn(&group.name);
            json!({
                "logGroupName": group.name,
                "creationTime": group.created_ms,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": group.stored_bytes(),
                "logGroupClass": "STANDARD",
            })
        })
        .collect();
    let mut output = json!({"logGroups": described});
    if more && let Some(last) = page.last() {
        output["nextToken"] = last.name.clone().into();
    }
    Ok(output)
}
