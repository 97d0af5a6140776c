//! ListTagsForDeliveryStream: tags in key order, a page at a time.

use std::ops::Bound;

use serde_json::{Value, json};

use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, tags, validate};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let limit = validate::opt_int(&input, "Limit", "limit")?.unwrap_or(tags::MAX_TAGS as i64);
    validate::range("limit", limit, 1, tags::MAX_TAGS as i64)?;
    let start = validate::opt_str(&input, "ExclusiveStartTagKey", "exclusiveStartTagKey")?;
    if let Some(start) = start {
        validate::length("exclusiveStartTagKey", start, 1, 128)?;
    }
    let streams = firehose.streams();
    let stream = streams
        .get(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    let lower = start.map_or(Bound::Unbounded, |key| Bound::Excluded(key.to_owned()));
    let mut after = stream.tags.range((lower, Bound::Unbounded));
    let page: Vec<_> = after.by_ref().take(limit as usize).collect();
    let has_more = after.next().is_some();
    Ok(json!({"Tags": tags::to_json(page), "HasMoreTags": has_more}))
}
