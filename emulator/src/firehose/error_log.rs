//! Where a delivery stream writes its errors: the CloudWatch Logs group and
//! stream of its `CloudWatchLoggingOptions`, as AWS does, so that a learner
//! whose bucket gets nothing can read why (`aws logs get-log-events`).
//!
//! One event per failed attempt to write to S3 and per kind of processing
//! failure in a batch, each a JSON object as AWS writes it:
//! `deliveryStreamARN`, `destination`, `deliveryStreamVersionId`, `message`,
//! `errorCode` (`S3.NoSuchBucket`, `Lambda.FunctionError`,
//! `DynamicPartitioning.MetadataExtractionFailed`, ...), and `processor` for a
//! Lambda's failures. A missing group or stream is made: on AWS the console
//! makes them with the delivery stream, and a script that forgot would
//! otherwise lose the very errors it needs.

use serde_json::{Value, json};

use crate::logs::Logs;

/// The log group and stream a destination's options name, when logging is on.
pub fn target(options: &Value) -> Option<(&str, &str)> {
    if options.get("Enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let group = options.get("LogGroupName")?.as_str().filter(|s| !s.is_empty())?;
    let stream = options.get("LogStreamName")?.as_str().filter(|s| !s.is_empty())?;
    Some((group, stream))
}

/// One error of a delivery stream, as its log event says it.
pub struct Error<'a> {
    pub delivery_stream_arn: &'a str,
    pub destination_arn: &'a str,
    pub version: u64,
    pub code: &'a str,
    pub message: &'a str,
    /// The Lambda function, for its failures.
    pub processor: Option<&'a str>,
}

/// Writes `error` where `options` say, if logging is on. A failure to write is
/// logged by the emulator and otherwise ignored: delivery goes on.
pub fn write(logs: &Logs, options: &Value, error: &Error<'_>) {
    let Some((group, stream)) = target(options) else {
        return;
    };
    let mut event = json!({
        "deliveryStreamARN": error.delivery_stream_arn,
        "destination": error.destination_arn,
        "deliveryStreamVersionId": error.version,
        "message": error.message,
        "errorCode": error.code,
    });
    if let Some(processor) = error.processor {
        event["processor"] = processor.into();
    }
    if let Err(err) = logs.write(group, stream, event.to_string()) {
        tracing::warn!(
            log_group = group,
            log_stream = stream,
            "cannot write a Firehose error event: {err}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_needs_enabled_and_both_names() {
        let on = json!({"Enabled": true, "LogGroupName": "g", "LogStreamName": "s"});
        assert_eq!(target(&on), Some(("g", "s")));
        assert_eq!(
            target(&json!({"Enabled": false, "LogGroupName": "g", "LogStreamName": "s"})),
            None
        );
        assert_eq!(target(&json!({"Enabled": true, "LogGroupName": "g"})), None);
    }
}
