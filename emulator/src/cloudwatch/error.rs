//! CloudWatch's errors: the query protocol's codes (`InvalidParameterValue`,
//! `MissingParameter`), which the SDKs report for every protocol, and the
//! error shapes the JSON and CBOR forms name in `__type`.

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CloudWatchError {
    /// The query protocol's code.
    pub code: &'static str,
    pub message: String,
}

impl CloudWatchError {
    fn new(code: &'static str, message: impl Into<String>) -> CloudWatchError {
        CloudWatchError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError::new("InvalidParameterValue", message)
    }

    pub fn missing(parameter: &str) -> CloudWatchError {
        CloudWatchError::new(
            "MissingParameter",
            format!("The parameter {parameter} is required."),
        )
    }

    pub fn invalid_combination(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError::new("InvalidParameterCombination", message)
    }

    pub fn invalid_token() -> CloudWatchError {
        CloudWatchError::new("InvalidNextToken", "The specified nextToken is invalid.")
    }

    pub fn serialization(message: impl Into<String>) -> CloudWatchError {
        CloudWatchError::new("SerializationException", message)
    }

    pub fn unknown_operation(operation: &str) -> CloudWatchError {
        CloudWatchError::new(
            "InvalidAction",
            format!(
                "the kinesis-lab emulator's CloudWatch implements PutMetricData, ListMetrics, \
                 GetMetricStatistics and GetMetricData, not {operation:?}"
            ),
        )
    }

    /// The shape the JSON and CBOR forms name in `__type`.
    pub fn shape_type(&self) -> String {
        let shape = match self.code {
            "InvalidParameterValue" => "InvalidParameterValueException",
            "MissingParameter" => "MissingRequiredParameterException",
            "InvalidParameterCombination" => "InvalidParameterCombinationException",
            "InvalidAction" => "UnknownOperationException",
            other => other,
        };
        format!("com.amazonaws.cloudwatch#{shape}")
    }

    /// Sender for the caller's mistakes, as the query protocol's `Type` says.
    pub fn fault(&self) -> &'static str {
        "Sender"
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}
