//! ListDeliveryStreams: names in alphabetical order, a page at a time.

use std::ops::Bound;

use serde_json::{Value, json};

use crate::firehose::Firehose;
use crate::firehose::error::FirehoseError;
use crate::firehose::validate;

/// AWS's page size when `Limit` is not given.
const DEFAULT_LIMIT: i64 = 10;

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let limit = validate::opt_int(&input, "Limit", "limit")?.unwrap_or(DEFAULT_LIMIT);
    validate::range("limit", limit, 1, 10_000)?;
    let kind = validate::delivery_stream_type(&input)?;
    let start = validate::opt_str(
        &input,
        "ExclusiveStartDeliveryStreamName",
        "exclusiveStartDeliveryStreamName",
    )?;
    if let Some(start) = start {
        validate::length("exclusiveStartDeliveryStreamName", start, 1, 64)?;
    }
    let lower = start.map_or(Bound::Unbounded, |name| Bound::Excluded(name.to_owned()));

    let streams = firehose.streams();
    let mut matching = streams
        .range((lower, Bound::Unbounded))
        .filter(|(_, stream)| kind.is_none_or(|kind| stream.kind.as_str() == kind))
        .map(|(name, _)| name.clone());
    let names: Vec<String> = matching.by_ref().take(limit as usize).collect();
    let has_more = matching.next().is_some();
    Ok(json!({"DeliveryStreamNames": names, "HasMoreDeliveryStreams": has_more}))
}
