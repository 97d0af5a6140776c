//! PutRecord: one record into a `DirectPut` delivery stream.

use serde_json::{Value, json};

use super::put_record_batch::{record_data, record_id, send};
use crate::firehose::Firehose;
use crate::firehose::error::FirehoseError;
use crate::firehose::validate;

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let record =
        validate::opt_object(&input, "Record", "record")?.ok_or_else(|| FirehoseError::missing("record"))?;
    let data = record_data(record, "record.data")?;
    send(firehose, name, vec![data])?;
    Ok(json!({"RecordId": record_id(), "Encrypted": false}))
}
