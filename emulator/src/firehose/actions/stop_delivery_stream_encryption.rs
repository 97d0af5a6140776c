//! StopDeliveryStreamEncryption: DISABLING, then DISABLED.

use serde_json::Value;

use super::start_delivery_stream_encryption::change;
use crate::firehose::encryption::Encryption;
use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, validate};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    change(
        firehose,
        name,
        Encryption::stop(firehose.options().activation_delay),
    )
}
