//! UntagDeliveryStream: removes tags by key; keys it does not have are ignored.

use serde_json::{Value, json};

use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, tags, validate};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let keys = match input.get("TagKeys") {
        None | Some(Value::Null) => return Err(FirehoseError::missing("tagKeys")),
        Some(Value::Array(keys)) => keys,
        Some(_) => return Err(FirehoseError::serialization("tagKeys must be a list")),
    };
    if keys.is_empty() || keys.len() > tags::MAX_TAGS {
        return Err(FirehoseError::validation(
            "tagKeys",
            &format!("[{} keys]", keys.len()),
            &format!("Member must have length between 1 and {}", tags::MAX_TAGS),
        ));
    }
    let mut removed = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let member = format!("tagKeys.{}.member", index + 1);
        let Value::String(key) = key else {
            return Err(FirehoseError::serialization(format!("{member} must be a string")));
        };
        tags::check_key(key, &member)?;
        removed.push(key.clone());
    }
    let mut streams = firehose.streams();
    let stream = streams
        .get_mut(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    let before = stream.tags.clone();
    stream.tags.retain(|key, _| !removed.contains(key));
    if let Err(err) = stream.save() {
        stream.tags = before;
        return Err(FirehoseError::not_saved("the tags", &err));
    }
    Ok(json!({}))
}
