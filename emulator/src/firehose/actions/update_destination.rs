//! UpdateDestination: new settings for a delivery stream's S3 destination.
//!
//! As on AWS: the caller names the version it described (a stale one is a
//! `ConcurrentModificationException`, so two updates never silently undo each
//! other), members not given keep their values, the version moves on by one,
//! and the new settings (prefix, buffering, compression, bucket) apply from the
//! next object written, whose key carries the new version.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use crate::firehose::destination::S3Destination;
use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, validate};

/// The one destination a delivery stream has.
pub const DESTINATION_ID: &str = "destinationId-000000000001";

const PLAIN: &str = "S3DestinationConfiguration";
const EXTENDED: &str = "ExtendedS3DestinationConfiguration";

/// Update members of destinations this emulator does not have.
const OTHER_UPDATES: &[&str] = &[
    "RedshiftDestinationUpdate",
    "ElasticsearchDestinationUpdate",
    "AmazonopensearchserviceDestinationUpdate",
    "AmazonOpenSearchServerlessDestinationUpdate",
    "SplunkDestinationUpdate",
    "HttpEndpointDestinationUpdate",
    "SnowflakeDestinationUpdate",
    "IcebergDestinationUpdate",
];

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let version = validate::req_str(
        &input,
        "CurrentDeliveryStreamVersionId",
        "currentDeliveryStreamVersionId",
    )?;
    validate::length("currentDeliveryStreamVersionId", version, 1, 50)?;
    let destination_id = validate::req_str(&input, "DestinationId", "destinationId")?;
    validate::length("destinationId", destination_id, 1, 100)?;
    if let Some(other) = OTHER_UPDATES
        .iter()
        .find(|key| input.get(**key).is_some_and(|v| !v.is_null()))
    {
        return Err(FirehoseError::invalid_argument(format!(
            "{other} is not supported by the kinesis-lab emulator; it delivers to S3 only"
        )));
    }
    let plain = validate::opt_object(&input, "S3DestinationUpdate", "s3DestinationUpdate")?;
    let extended = validate::opt_object(
        &input,
        "ExtendedS3DestinationUpdate",
        "extendedS3DestinationUpdate",
    )?;
    let (update, to_extended) = match (plain, extended) {
        (Some(update), None) => (update, false),
        (None, Some(update)) => (update, true),
        (Some(_), Some(_)) => {
            return Err(FirehoseError::invalid_argument(
                "Only one of S3DestinationUpdate and ExtendedS3DestinationUpdate can be given",
            ));
        }
        (None, None) => {
            return Err(FirehoseError::invalid_argument(
                "An S3DestinationUpdate or ExtendedS3DestinationUpdate is required",
            ));
        }
    };

    let mut streams = firehose.streams();
    let stream = streams
        .get_mut(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    if version != stream.version_id.to_string() {
        return Err(FirehoseError::stale_version(name, version, stream.version_id));
    }
    if destination_id != DESTINATION_ID {
        return Err(FirehoseError::invalid_argument(format!(
            "Destination Id {destination_id} not found for Firehose {name}; its destination is {DESTINATION_ID}"
        )));
    }
    let status = stream.status();
    if status != "ACTIVE" {
        return Err(FirehoseError::not_active(name, status));
    }

    // The destination as configured now, with the update laid over it.
    let (current_key, current) = [EXTENDED, PLAIN]
        .into_iter()
        .find_map(|key| {
            stream
                .request
                .get(key)
                .filter(|v| v.is_object())
                .map(|v| (key, v.clone()))
        })
        .expect("a delivery stream has a destination");
    let extended = to_extended || current_key == EXTENDED;
    let mut merged = current;
    overlay(&mut merged, &Value::Object(update.clone()));
    let member = if to_extended {
        "extendedS3DestinationUpdate"
    } else {
        "s3DestinationUpdate"
    };
    let config = merged.as_object().expect("a destination is an object");
    let partitioned = config
        .get("DynamicPartitioningConfiguration")
        .and_then(|section| section.get("Enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if partitioned != stream.destination.dynamic_partitioning.is_some() {
        return Err(FirehoseError::invalid_argument(
            "Dynamic partitioning can only be turned on or off when a delivery stream is created; \
             create a new delivery stream for it",
        ));
    }
    let destination = Arc::new(S3Destination::from_config(
        config,
        member,
        extended,
        &firehose.options().lambdas,
    )?);

    let before = (
        stream.request.clone(),
        stream.destination.clone(),
        stream.version_id,
    );
    stream.request[PLAIN] = Value::Null;
    stream.request[EXTENDED] = Value::Null;
    stream.request[if extended { EXTENDED } else { PLAIN }] = merged;
    stream.destination = destination.clone();
    stream.version_id += 1;
    if let Err(err) = stream.save() {
        (stream.request, stream.destination, stream.version_id) = before;
        return Err(FirehoseError::not_saved("the new destination", &err));
    }
    stream.updated_at = Some(Utc::now());
    stream.delivery.reconfigure(destination, stream.version_id);
    Ok(json!({}))
}

/// `update` laid over `base`: members it gives replace those of `base`,
/// structures are merged member by member (BufferingHints with only SizeInMBs
/// keeps the interval).
fn overlay(base: &mut Value, update: &Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => overlay(existing, value),
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, update) => *base = update.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_what_it_does_not_give() {
        let mut base = json!({"Prefix": "a/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}});
        overlay(
            &mut base,
            &json!({"BufferingHints": {"SizeInMBs": 5}, "ErrorOutputPrefix": "e/"}),
        );
        assert_eq!(
            base,
            json!({"Prefix": "a/", "ErrorOutputPrefix": "e/", "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60}})
        );
    }
}
