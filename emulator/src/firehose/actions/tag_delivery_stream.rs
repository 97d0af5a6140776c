//! TagDeliveryStream: adds tags, or changes the values of existing keys.

use chrono::Utc;
use serde_json::{Value, json};

use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, tags, validate};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let added = tags::parse(&input, "Tags", "tags")?.ok_or_else(|| FirehoseError::missing("tags"))?;
    let mut streams = firehose.streams();
    let stream = streams
        .get_mut(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    let all = tags::merged(&stream.tags, added, name)?;
    let before = std::mem::replace(&mut stream.tags, all);
    if let Err(err) = stream.save() {
        stream.tags = before;
        return Err(FirehoseError::not_saved("the tags", &err));
    }
    stream.updated_at = Some(Utc::now());
    Ok(json!({}))
}
