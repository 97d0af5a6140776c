//! Firehose's errors, with AWS's names, statuses and wording.
//!
//! Clients branch on the error's type (`ResourceInUseException` means "already
//! there"), so the type is what must be right; the messages follow AWS's where
//! we know them. Each error is built by a named constructor, so the wording of
//! one kind of error lives in one place.

use axum::body::Body;
use http::{Response, StatusCode};

use crate::aws_error;

/// An error as AWS's Firehose would answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct FirehoseError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    ResourceInUse,
    ResourceNotFound,
    LimitExceeded,
    /// A member breaks a constraint of the API's model (length, pattern, range).
    Validation,
    /// The body is not the JSON the operation takes.
    Serialization,
    UnknownOperation,
    /// UpdateDestination with a version that is no longer the current one.
    ConcurrentModification,
    /// The emulator could not do its part (write its data directory, say); a
    /// retry may succeed. AWS's name for it.
    ServiceUnavailable,
}

impl ErrorKind {
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgumentException",
            ErrorKind::ResourceInUse => "ResourceInUseException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::LimitExceeded => "LimitExceededException",
            ErrorKind::Validation => "ValidationException",
            ErrorKind::Serialization => "SerializationException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            ErrorKind::ConcurrentModification => "ConcurrentModificationException",
        }
    }
}

impl FirehoseError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> FirehoseError {
        FirehoseError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> FirehoseError {
        FirehoseError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(name: &str, account: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ResourceNotFound,
            format!("Firehose {name} under account {account} not found."),
        )
    }

    pub fn already_exists(name: &str, account: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ResourceInUse,
            format!("Firehose {name} under accountId {account} already exists"),
        )
    }

    /// AWS names no error type for a put to a stream that is not ACTIVE yet; a
    /// stream that is still being created is "in use", as for DeleteDeliveryStream.
    pub fn not_active(name: &str, status: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ResourceInUse,
            format!("Firehose {name} is in {status} state; it accepts records once it is ACTIVE."),
        )
    }

    pub fn cannot_delete_creating(name: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ResourceInUse,
            format!(
                "Firehose {name} is in CREATING state; you can't delete a Firehose stream that is in the CREATING state."
            ),
        )
    }

    /// AWS's own words (the records of such a stream come from its Kinesis stream).
    pub fn kinesis_source_put() -> FirehoseError {
        FirehoseError::invalid_argument(
            "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
        )
    }

    /// AWS's own words, typo included ("Ths"), so that a search finds the same answers.
    pub fn error_prefix_required() -> FirehoseError {
        FirehoseError::invalid_argument(
            "Ths supplied prefix(es) do not satisfy the following constraint: \
             ErrorOutputPrefix cannot be null or empty when Prefix contains expressions",
        )
    }

    /// A member that breaks the API model, worded as AWS words it.
    pub fn validation(member: &str, value: &str, constraint: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::Validation,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    pub fn missing(member: &str) -> FirehoseError {
        FirehoseError::validation(member, "null", "Member must not be null")
    }

    pub fn serialization(message: impl Into<String>) -> FirehoseError {
        FirehoseError::new(ErrorKind::Serialization, message)
    }

    pub fn unknown_operation(operation: &str) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::UnknownOperation,
            format!(
                "this emulator does not implement the Firehose operation {operation:?}; it serves \
                 Firehose's 12 operations for S3 destinations"
            ),
        )
    }

    pub fn in_use(message: impl Into<String>) -> FirehoseError {
        FirehoseError::new(ErrorKind::ResourceInUse, message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> FirehoseError {
        FirehoseError::new(ErrorKind::LimitExceeded, message)
    }

    pub fn stale_version(name: &str, given: &str, current: u64) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ConcurrentModification,
            format!(
                "Firehose {name} has version {current}, not {given}: it was changed since it was described. \
                 Describe it again and retry with its current VersionId."
            ),
        )
    }

    /// The data directory could not be written: nothing was acknowledged.
    pub fn not_saved(what: &str, err: &std::io::Error) -> FirehoseError {
        FirehoseError::new(
            ErrorKind::ServiceUnavailable,
            format!("the emulator could not save {what} in its data directory: {err}"),
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let status = match self.kind {
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        aws_error::response(status, self.kind.type_name(), &self.message)
    }
}
