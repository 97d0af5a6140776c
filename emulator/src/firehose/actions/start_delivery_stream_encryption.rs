//! StartDeliveryStreamEncryption: ENABLING, then ENABLED, as on AWS (after the
//! emulator's activation delay). Only for `DirectPut` streams, as on AWS.

use chrono::Utc;
use serde_json::{Value, json};

use crate::firehose::encryption::Encryption;
use crate::firehose::error::FirehoseError;
use crate::firehose::{Firehose, StreamKind, validate};

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    let input = validate::body(input)?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?;
    let member = "deliveryStreamEncryptionConfigurationInput";
    let config = validate::opt_object(&input, "DeliveryStreamEncryptionConfigurationInput", member)?;
    let default = serde_json::Map::from_iter([("KeyType".to_owned(), json!("AWS_OWNED_CMK"))]);
    let encryption = Encryption::start(
        config.unwrap_or(&default),
        member,
        firehose.options().activation_delay,
    )?;
    change(firehose, name, encryption)
}

/// Puts `encryption` in place on a `DirectPut` stream that is not in the middle
/// of another change.
pub fn change(firehose: &Firehose, name: &str, encryption: Encryption) -> Result<Value, FirehoseError> {
    let mut streams = firehose.streams();
    let stream = streams
        .get_mut(name)
        .ok_or_else(|| FirehoseError::not_found(name, firehose.account_id()))?;
    if !matches!(stream.kind, StreamKind::DirectPut { .. }) {
        return Err(FirehoseError::invalid_argument(format!(
            "Firehose {name} reads a Kinesis stream: server-side encryption is only for DirectPut delivery streams"
        )));
    }
    let status = stream.status();
    if status != "ACTIVE" {
        return Err(FirehoseError::not_active(name, status));
    }
    let current = stream.encryption.status();
    if matches!(current, "ENABLING" | "DISABLING") {
        return Err(FirehoseError::in_use(format!(
            "Firehose {name} encryption is {current}; wait until it is done"
        )));
    }
    let before = std::mem::replace(&mut stream.encryption, encryption);
    if let Err(err) = stream.save() {
        stream.encryption = before;
        return Err(FirehoseError::not_saved("the encryption settings", &err));
    }
    stream.updated_at = Some(Utc::now());
    Ok(json!({}))
}
