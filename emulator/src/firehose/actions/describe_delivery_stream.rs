//! DescribeDeliveryStream: status, version, source and destination, as AWS
//! describes them.

use serde_json::{Value, json};

use crate::firehose::error::FirehoseError;
use crate::firehose::validate;
use crate::firehose::{Firehose, StreamKind};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    if let Some(limit) = validate::opt_int(&input, "Limit", "limit")? {
        validate::range("limit", limit, 1, 10_000)?;
    }
    let streams = firehose.streams();
    let stream = streams
        .get(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    let created = stream.created_at.timestamp_millis() as f64 / 1000.0;
    let mut description = json!({
        "DeliveryStreamName": stream.name,
        "DeliveryStreamARN": stream.arn,
        "DeliveryStreamStatus": stream.status(),
        "DeliveryStreamType": stream.kind.as_str(),
        "VersionId": stream.version_id.to_string(),
        "CreateTimestamp": created,
        "Destinations": [stream.destination.describe()],
        "HasMoreDestinations": false,
    });
    if let Some(updated) = stream.updated_at {
        description["LastUpdateTimestamp"] = json!(updated.timestamp_millis() as f64 / 1000.0);
    }
    // Server-side encryption belongs to DirectPut: a Kinesis source's records
    // are encrypted, or not, by their stream, and AWS describes nothing here.
    if let StreamKind::DirectPut { .. } = &stream.kind {
        description["DeliveryStreamEncryptionConfiguration"] = stream.encryption.describe();
    }
    if let StreamKind::KinesisStreamAsSource { stream_arn, role_arn } = &stream.kind {
        description["Source"] = json!({
            "KinesisStreamSourceDescription": {
                "KinesisStreamARN": stream_arn,
                "RoleARN": role_arn,
                "DeliveryStartTimestamp": created,
            }
        });
    }
    Ok(json!({"DeliveryStreamDescription": description}))
}
