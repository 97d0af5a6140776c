//! CloudWatch Logs' errors, with AWS's names and wording.
//!
//! The CLI and the SDKs branch on the type (`ResourceAlreadyExistsException`
//! makes a setup script's "create if missing" idempotent), so the type is what
//! must be right; the messages are AWS's where we know them. One constructor per
//! kind of error keeps each wording in one place.

use axum::body::Body;
use http::{Response, StatusCode};

use crate::aws_error;

/// An error as AWS's CloudWatch Logs would answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct LogsError {
    pub error_type: &'static str,
    pub message: String,
}

impl LogsError {
    fn new(error_type: &'static str, message: impl Into<String>) -> LogsError {
        LogsError {
            error_type,
            message: message.into(),
        }
    }

    pub fn group_not_found() -> LogsError {
        LogsError::new(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }

    pub fn stream_not_found() -> LogsError {
        LogsError::new(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
    }

    pub fn group_exists() -> LogsError {
        LogsError::new(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
        )
    }

    pub fn stream_exists() -> LogsError {
        LogsError::new(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> LogsError {
        LogsError::new("InvalidParameterException", message)
    }

    /// A required member is missing, worded as AWS's model validation words it.
    pub fn missing(member: &str) -> LogsError {
        LogsError::new(
            "InvalidParameterException",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )
    }

    pub fn serialization(message: impl Into<String>) -> LogsError {
        LogsError::new("SerializationException", message)
    }

    pub fn unknown_operation(operation: &str) -> LogsError {
        LogsError::new(
            "UnknownOperationException",
            format!("the kinesis-lab emulator's CloudWatch Logs does not implement {operation:?}"),
        )
    }

    /// The emulator could not keep what it was given (its data directory).
    pub fn not_saved(err: &std::io::Error) -> LogsError {
        LogsError::new(
            "ServiceUnavailableException",
            format!("the log events could not be saved in the data directory: {err}"),
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let status = match self.error_type {
            "ServiceUnavailableException" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        aws_error::response(status, self.error_type, &self.message)
    }
}
