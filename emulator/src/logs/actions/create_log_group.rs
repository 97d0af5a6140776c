//! CreateLogGroup: a group with no streams. The lab's delivery streams name
//! theirs in `CloudWatchLoggingOptions`; on AWS the console makes it, here
//! Firehose does at its first error, or a learner with `aws logs create-log-group`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{group_name, parse};
use crate::logs::Logs;
use crate::logs::error::LogsError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_group_class: Option<String>,
}

pub fn execute(logs: &Logs, input: Value) -> Result<Value, LogsError> {
    let input: Input = parse(input)?;
    let name = group_name(&input.log_group_name)?;
    if let Some(class) = input.log_group_class.as_deref()
        && !["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"].contains(&class)
    {
        return Err(LogsError::invalid_parameter(format!(
            "1 validation error detected: Value '{class}' at 'logGroupClass' failed to satisfy constraint: \
             Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]"
        )));
    }
    let mut groups = logs.groups();
    match logs.create_group(&mut groups, name)? {
        true => Ok(json!({})),
        false => Err(LogsError::group_exists()),
    }
}
