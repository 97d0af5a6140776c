//! On-demand streams, which ferrokinesis 0.7 does not make: a CreateStream
//! with `StreamModeDetails` ON_DEMAND and no `ShardCount` (what the AWS
//! console's "Create data stream" sends by default, and so what the lab's step
//! 1.1 makes) gets AWS's 4 shards and is described as ON_DEMAND.

use bytes::Bytes;
use ferrokinesis::store::Store;
use ferrokinesis::types::StreamMode;
use serde_json::Value;

/// The shards a new on-demand stream starts with.
pub const ON_DEMAND_SHARDS: u64 = 4;

/// What a CreateStream asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Create {
    /// As ferrokinesis takes it.
    AsIs,
    /// An on-demand stream: the request with AWS's shard count, and the
    /// stream's name, to mark it on-demand once created.
    OnDemand { body: Bytes, stream: String },
    /// Refused, with the reason.
    Invalid(String),
}

pub fn create(body: &[u8]) -> Create {
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(body) else {
        return Create::AsIs;
    };
    let mode = request
        .get("StreamModeDetails")
        .and_then(|details| details.get("StreamMode"))
        .and_then(Value::as_str);
    if mode != Some("ON_DEMAND") {
        return Create::AsIs;
    }
    if request.get("ShardCount").is_some_and(|count| !count.is_null()) {
        return Create::Invalid("ShardCount is not allowed for a stream in ON_DEMAND mode".to_owned());
    }
    let Some(stream) = request
        .get("StreamName")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Create::AsIs; // ferrokinesis says what is missing.
    };
    request.insert("ShardCount".to_owned(), ON_DEMAND_SHARDS.into());
    match serde_json::to_vec(&request) {
        Ok(body) => Create::OnDemand {
            body: body.into(),
            stream,
        },
        Err(_) => Create::AsIs,
    }
}

/// Marks a just-created stream on-demand.
pub async fn mark_on_demand(store: &Store, stream: &str) {
    let marked = store
        .update_stream(stream, |described| {
            described.stream_mode_details.stream_mode = StreamMode::OnDemand;
            Ok(())
        })
        .await;
    if let Err(err) = marked {
        tracing::warn!(stream, "cannot mark the stream on-demand: {err:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_demand_gets_four_shards_and_refuses_a_count() {
        let body = br#"{"StreamName":"s","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}"#;
        let Create::OnDemand { body, stream } = create(body) else {
            panic!("not taken as on-demand");
        };
        assert_eq!(stream, "s");
        let rewritten: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(rewritten["ShardCount"], 4);
        let counted = br#"{"StreamName":"s","ShardCount":2,"StreamModeDetails":{"StreamMode":"ON_DEMAND"}}"#;
        assert!(matches!(create(counted), Create::Invalid(_)));
        assert_eq!(create(br#"{"StreamName":"s","ShardCount":2}"#), Create::AsIs);
    }
}
