//! DeleteDeliveryStream. The stream disappears at once (AWS keeps it DELETING for
//! a while); what its buffer held is still written to S3 first.

use serde_json::{Value, json};

use crate::firehose::Firehose;
use crate::firehose::error::FirehoseError;
use crate::firehose::validate;

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    validate::opt_bool(&input, "AllowForceDelete", "allowForceDelete")?;
    let removed = {
        let mut streams = firehose.streams();
        let stream = streams
            .get(name)
            .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
        if stream.status() == "CREATING" {
            return Err(FirehoseError::cannot_delete_creating(name));
        }
        streams.remove(name).expect("the stream was just found")
    };
    // AWS discards what a deleted stream still buffers; this one writes it, but
    // a restart does not bring the stream back.
    if let Some(state) = &removed.state {
        state.remove();
    }
    firehose.retire(removed.delivery);
    Ok(json!({}))
}
