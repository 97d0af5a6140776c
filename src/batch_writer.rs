//! Writing records to a stream in batches, as Kinesis wants them written
//! (lab step 2.2.8, the ETL's writes, and every other bulk put in the
//! workspace): PutRecords calls of at most 500 records and 5 MiB, and the
//! refusals told apart.
//!
//! - Throttling and transient failures (a partial failure, a timeout, a 5xx):
//!   only the refused records are sent again, after the workspace's retry
//!   policy's wait ([`crate::shard_reader::retry`]).
//! - A call refused as invalid or too large is split in two and each half sent
//!   alone, down to the one record at fault, which is handed back with the
//!   stream's reason.
//! - A missing stream or a refused permission ends the write with the reason.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::shard_reader::retry;

/// Kinesis's limits for one PutRecords call.
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Kinesis's limit for one record: its data and its partition key together.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The first pause before resending refused records; it doubles up to the max,
/// and jitter adds up to as much again ([`retry::backoff`]).
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Why records could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("stream \"{stream}\" does not exist")]
    StreamMissing { stream: String },
    #[error("cannot write to stream \"{stream}\": {message}")]
    Refused { stream: String, message: String },
}

/// One record on its way to a stream.
pub struct Entry {
    pub partition_key: String,
    pub data: Vec<u8>,
    /// The source record it was made from, for a dead letter if the
    /// destination refuses it.
    pub origin: usize,
}

impl Entry {
    /// What Kinesis counts against its limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// What [`put_all`] did.
pub struct Written {
    /// Records sent again after a throttle or a transient failure.
    pub resent: u64,
    /// Records the stream refused as invalid, each alone, with its reason.
    pub invalid: Vec<(Entry, String)>,
}

/// Writes every entry, resending what was throttled until all are in, and
/// splitting calls refused as invalid down to the records at fault.
pub async fn put_all(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    entries: Vec<Entry>,
) -> Result<Written, WriteError> {
    let mut written = Written {
        resent: 0,
        invalid: Vec::new(),
    };
    let mut pending = entries;
    let mut backoff = retry::backoff(FIRST_RETRY_DELAY, MAX_RETRY_DELAY);
    while !pending.is_empty() {
        let mut again = Vec::new();
        let mut calls: VecDeque<Vec<Entry>> = chunks(pending).collect();
        while let Some(call) = calls.pop_front() {
            match put_chunk(kinesis, stream, call).await? {
                Answer::Refused(refused) => again.extend(refused),
                Answer::Invalid(mut call, reason) if call.len() == 1 => {
                    written.invalid.push((call.pop().expect("one entry"), reason));
                }
                Answer::Invalid(mut call, reason) => {
                    tracing::debug!(
                        stream,
                        records = call.len(),
                        "PutRecords refused as invalid ({reason}); splitting it"
                    );
                    let second = call.split_off(call.len() / 2);
                    calls.push_front(second);
                    calls.push_front(call);
                }
            }
        }
        if !again.is_empty() {
            written.resent += again.len() as u64;
            let wait = retry::next_wait(&mut backoff);
            tracing::debug!(
                stream,
                refused = again.len(),
                "resending refused records in {wait:?}"
            );
            tokio::time::sleep(wait).await;
        }
        pending = again;
    }
    Ok(written)
}

/// Cuts entries into PutRecords calls of at most 500 records and 5 MiB.
fn chunks(entries: Vec<Entry>) -> impl Iterator<Item = Vec<Entry>> {
    let mut rest = entries.into_iter().peekable();
    std::iter::from_fn(move || {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        while let Some(entry) = rest.peek() {
            if chunk.len() == MAX_BATCH_RECORDS
                || (!chunk.is_empty() && bytes + entry.size() > MAX_BATCH_BYTES)
            {
                break;
            }
            bytes += entry.size();
            chunk.push(rest.next().expect("peeked"));
        }
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// How a stream answered one PutRecords.
enum Answer {
    /// The entries to send again (none when all were written).
    Refused(Vec<Entry>),
    /// The whole call was refused as invalid or too large, with the reason.
    Invalid(Vec<Entry>, String),
}

/// One PutRecords call.
async fn put_chunk(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    chunk: Vec<Entry>,
) -> Result<Answer, WriteError> {
    let request_entries: Vec<PutRecordsRequestEntry> = chunk
        .iter()
        .map(|entry| {
            PutRecordsRequestEntry::builder()
                .partition_key(&entry.partition_key)
                .data(Blob::new(entry.data.clone()))
                .build()
                .expect("data and partition key are set")
        })
        .collect();
    let err = match kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(request_entries))
        .send()
        .await
    {
        // Results come in the order of the entries; a result with an error code
        // (throttled, or an internal failure) is a record that was not written.
        Ok(output) => {
            return Ok(Answer::Refused(
                chunk
                    .into_iter()
                    .zip(output.records())
                    .filter(|(_, result)| result.error_code().is_some())
                    .map(|(entry, _)| entry)
                    .collect(),
            ));
        }
        Err(err) => err,
    };
    match refusal(&err) {
        Refusal::Transient => {
            tracing::warn!(
                stream,
                "PutRecords failed, sending again: {}",
                DisplayErrorContext(&err)
            );
            Ok(Answer::Refused(chunk))
        }
        Refusal::Invalid => Ok(Answer::Invalid(chunk, message(&err))),
        Refusal::Missing => Err(WriteError::StreamMissing {
            stream: stream.to_owned(),
        }),
        Refusal::Fatal => Err(WriteError::Refused {
            stream: stream.to_owned(),
            message: DisplayErrorContext(&err).to_string(),
        }),
    }
}

/// What a refused PutRecords call means for the records in it.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Throttled, or no answer: the same call may succeed later.
    Transient,
    /// Something in the call is invalid or too large: it never will.
    Invalid,
    /// The stream is not there.
    Missing,
    /// Anything else (a refused permission, a disabled key): a person must act.
    Fatal,
}

fn refusal(err: &SdkError<PutRecordsError, aws_sdk_kinesis::config::http::HttpResponse>) -> Refusal {
    if let Some(service) = err.as_service_error() {
        if service.is_resource_not_found_exception() {
            return Refusal::Missing;
        }
        if service.is_invalid_argument_exception() {
            return Refusal::Invalid;
        }
        if service.is_provisioned_throughput_exceeded_exception()
            || service.is_kms_throttling_exception()
            || service.is_internal_failure_exception()
        {
            return Refusal::Transient;
        }
    }
    // Codes any AWS service may answer, which PutRecords's typed errors do not
    // list: these arrive as unhandled errors with only their code to go by.
    match err.code() {
        Some("ValidationException" | "SerializationException") => return Refusal::Invalid,
        Some("LimitExceededException" | "ThrottlingException" | "InternalFailure" | "ServiceUnavailable") => {
            return Refusal::Transient;
        }
        _ => {}
    }
    match err.raw_response().map(|response| response.status().as_u16()) {
        Some(413) => Refusal::Invalid,
        Some(429) => Refusal::Transient,
        Some(status) if status >= 500 => Refusal::Transient,
        Some(_) => Refusal::Fatal,
        // Never answered: a timeout, a connection refused or reset.
        None => Refusal::Transient,
    }
}

/// The service's own words for an error, or the whole error when it has none.
fn message(err: &SdkError<PutRecordsError, aws_sdk_kinesis::config::http::HttpResponse>) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => DisplayErrorContext(err).to_string(),
    }
}
