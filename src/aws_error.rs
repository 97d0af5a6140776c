//! AWS's errors as the lab's programs tell them. Every step that calls AWS
//! meets them: a stream that is not there (1.3, 1.4, 2.2), a resource that
//! already exists (2.1), a call refused for a reason a person must fix.
//!
//! Errors are told apart by the SDK's typed errors ([`is`], over
//! `as_service_error()`), never by comparing code strings, and each situation
//! has one wording, here.

use std::fmt;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_record::PutRecordError;

/// What went wrong with a call, in the terms a learner acts on.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// A stream the command needs is not on the target.
    #[error(
        "stream \"{stream}\" does not exist on {target}\n\
         Create it with `aws kinesis create-stream --stream-name {stream} --shard-count 1` (add \
         --endpoint-url for a local target), or `kinesis-lab infra up` for the lab's part 2 streams."
    )]
    StreamMissing { stream: String, target: String },
    /// Any other failure: what the call was for, and AWS's own account of it.
    #[error("cannot {doing}: {detail}")]
    Failed { doing: String, detail: String },
}

impl AwsError {
    /// A call that failed, for a reason no caller handles on its own.
    pub fn failed<E, R>(doing: impl fmt::Display, err: &SdkError<E, R>) -> AwsError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: fmt::Debug,
    {
        AwsError::Failed {
            doing: doing.to_string(),
            detail: detail(err),
        }
    }

    /// A stream that is not on `target`.
    pub fn stream_missing(stream: impl fmt::Display, target: impl fmt::Display) -> AwsError {
        AwsError::StreamMissing {
            stream: stream.to_string(),
            target: target.to_string(),
        }
    }
}

/// AWS's account of a failed call: the service's error code and message
/// (`ValidationException: 1 validation error detected: ...`) when it answered
/// with one; else what the SDK knows (a timeout, a refused connection), with
/// its causes. An error the SDK does not model has its code and message too,
/// where its debug form would print the whole response.
pub fn detail<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        // The causes, each once: the SDK's own display of a dispatch failure
        // ends with a debug dump of it.
        _ => {
            let mut words = err.to_string();
            let mut cause = std::error::Error::source(err);
            while let Some(next) = cause {
                let said = next.to_string();
                if !words.contains(&said) {
                    words.push_str(": ");
                    words.push_str(&said);
                }
                cause = next.source();
            }
            words
        }
    }
}

/// Whether the service answered with the error `check` looks for, one of the
/// operation's typed `is_…` methods: `is(&err,
/// DeleteStreamError::is_resource_not_found_exception)`.
pub fn is<E, R>(err: &SdkError<E, R>, check: impl FnOnce(&E) -> bool) -> bool {
    err.as_service_error().is_some_and(check)
}

/// A PutRecord that failed (steps 1.4 and 2.2's producer): a missing stream is
/// told as such, anything else in AWS's words.
pub fn put_record_failed<R: fmt::Debug>(
    err: &SdkError<PutRecordError, R>,
    stream: impl fmt::Display,
    target: impl fmt::Display,
) -> AwsError {
    if is(err, PutRecordError::is_resource_not_found_exception) {
        AwsError::stream_missing(stream, target)
    } else {
        AwsError::failed(format_args!("put a record on {stream}"), err)
    }
}
