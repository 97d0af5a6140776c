//! PutRecordBatch: up to 500 records into a `DirectPut` delivery stream.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use rand::RngExt;
use serde_json::{Value, json};

use crate::firehose::delivery::Record;
use crate::firehose::error::FirehoseError;
use crate::firehose::state::Checkpoint;
use crate::firehose::validate::{self, Object};
use crate::firehose::{Firehose, StreamKind};

/// AWS's limits: 1,000 KiB a record before base64, 500 records and 4 MiB a call.
const MAX_RECORD_BYTES: usize = 1_024_000;
const MAX_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let records = match input.get("Records") {
        None | Some(Value::Null) => return Err(FirehoseError::missing("records")),
        Some(Value::Array(records)) => records,
        Some(_) => return Err(FirehoseError::serialization("records must be a list")),
    };
    if records.is_empty() || records.len() > MAX_RECORDS {
        let constraint = if records.is_empty() {
            "Member must have length greater than or equal to 1".to_owned()
        } else {
            format!("Member must have length less than or equal to {MAX_RECORDS}")
        };
        return Err(FirehoseError::validation(
            "records",
            &format!("[{} records]", records.len()),
            &constraint,
        ));
    }
    let mut batch = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let member = format!("records.{}.member.data", index + 1);
        let Value::Object(record) = record else {
            return Err(FirehoseError::serialization(format!(
                "records.{} must be a structure",
                index + 1
            )));
        };
        batch.push(record_data(record, &member)?);
    }
    let total: usize = batch.iter().map(Vec::len).sum();
    if total > MAX_BATCH_BYTES {
        return Err(FirehoseError::invalid_argument(format!(
            "the records of a PutRecordBatch add up to {total} bytes; the limit is {MAX_BATCH_BYTES}"
        )));
    }
    let count = batch.len();
    send(firehose, name, batch)?;
    let responses: Vec<Value> = (0..count).map(|_| json!({"RecordId": record_id()})).collect();
    Ok(json!({"FailedPutCount": 0, "Encrypted": false, "RequestResponses": responses}))
}

/// The decoded `Data` of one record.
pub fn record_data(record: &Object, member: &str) -> Result<Vec<u8>, FirehoseError> {
    let encoded = validate::req_str(record, "Data", member)?;
    let data = BASE64
        .decode(encoded)
        .map_err(|err| FirehoseError::serialization(format!("{member} is not valid base64: {err}")))?;
    if data.len() > MAX_RECORD_BYTES {
        return Err(FirehoseError::validation(
            member,
            &format!("[{} bytes]", data.len()),
            &format!("Member must have length less than or equal to {MAX_RECORD_BYTES}"),
        ));
    }
    Ok(data)
}

/// Hands records to a `DirectPut` stream's delivery.
pub fn send(firehose: &Firehose, name: &str, data: Vec<Vec<u8>>) -> Result<(), FirehoseError> {
    let streams = firehose.streams();
    let stream = streams
        .get(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    let StreamKind::DirectPut { sender } = &stream.kind else {
        return Err(FirehoseError::kinesis_source_put());
    };
    let status = stream.status();
    if status != "ACTIVE" {
        return Err(FirehoseError::not_active(name, status));
    }
    let arrival = Utc::now();
    // With a durable data directory, logged before they are acknowledged.
    let numbers = match &stream.state {
        Some(state) => {
            let logged: Vec<(&[u8], _)> = data.iter().map(|d| (d.as_slice(), arrival)).collect();
            let numbers = state
                .append(&logged)
                .map_err(|err| FirehoseError::not_saved("the records", &err))?;
            numbers.map(Some).collect()
        }
        None => vec![None; data.len()],
    };
    let records = data
        .into_iter()
        .zip(numbers)
        .map(|(data, number)| Record {
            data,
            arrival,
            origin: Checkpoint {
                direct: number,
                ..Checkpoint::default()
            },
        })
        .collect();
    sender
        .send(records)
        .map_err(|_| FirehoseError::not_found(name, firehose.account_id()))
}

/// An opaque id, as AWS returns one per record.
pub fn record_id() -> String {
    let bytes: [u8; 48] = rand::rng().random();
    BASE64.encode(bytes)
}
