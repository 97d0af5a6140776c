//! What ferrokinesis 0.7 leaves out of two answers: ListStreams'
//! `StreamSummaries` (name, ARN, status, mode and creation time of each stream
//! listed, which the AWS SDKs and console read), and DescribeStream's `Limit`
//! and `ExclusiveStartShardId` (at most 100 shards by default, then
//! `HasMoreShards`).

use ferrokinesis::store::Store;
use serde_json::{Value, json};

/// DescribeStream's default and largest page of shards.
const DEFAULT_SHARD_LIMIT: usize = 100;

/// ListStreams' answer with a summary of each stream it names.
pub async fn list_streams(store: &Store, answer: &[u8]) -> Option<Vec<u8>> {
    let mut answer: Value = serde_json::from_slice(answer).ok()?;
    let names: Vec<String> = answer
        .get("StreamNames")?
        .as_array()?
        .iter()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();
    let mut summaries = Vec::with_capacity(names.len());
    for name in names {
        let Ok(stream) = store.get_stream(&name).await else {
            continue;
        };
        summaries.push(json!({
            "StreamName": stream.stream_name,
            "StreamARN": stream.stream_arn,
            "StreamStatus": stream.stream_status,
            "StreamModeDetails": stream.stream_mode_details,
            "StreamCreationTimestamp": stream.stream_creation_timestamp,
        }));
    }
    answer["StreamSummaries"] = Value::Array(summaries);
    serde_json::to_vec(&answer).ok()
}

/// DescribeStream's answer with the page of shards the request asks for.
pub fn describe_stream(request: &[u8], answer: &[u8]) -> Option<Vec<u8>> {
    let request: Value = serde_json::from_slice(request).ok()?;
    let limit = request
        .get("Limit")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_SHARD_LIMIT, |limit| (limit as usize).clamp(1, 10_000));
    let start = request.get("ExclusiveStartShardId").and_then(Value::as_str);
    let mut answer: Value = serde_json::from_slice(answer).ok()?;
    let description = answer.get_mut("StreamDescription")?;
    let shards = description.get_mut("Shards")?.as_array_mut()?;
    let after = match start {
        Some(start) => shards
            .iter()
            .position(|shard| {
                shard
                    .get("ShardId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id > start)
            })
            .unwrap_or(shards.len()),
        None => 0,
    };
    let more = shards.len() > after + limit;
    *shards = shards.drain(after..).take(limit).collect();
    description["HasMoreShards"] = Value::Bool(more);
    serde_json::to_vec(&answer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_stream_pages_its_shards() {
        let shards: Vec<Value> = (0..5)
            .map(|i| json!({"ShardId": format!("shardId-00000000000{i}")}))
            .collect();
        let answer =
            serde_json::to_vec(&json!({"StreamDescription": {"Shards": shards, "HasMoreShards": false}}))
                .unwrap();
        let page = |request: Value| -> Value {
            serde_json::from_slice(&describe_stream(&serde_json::to_vec(&request).unwrap(), &answer).unwrap())
                .unwrap()
        };
        let first = page(json!({"StreamName": "s", "Limit": 2}));
        assert_eq!(first["StreamDescription"]["Shards"].as_array().unwrap().len(), 2);
        assert_eq!(first["StreamDescription"]["HasMoreShards"], true);
        let last =
            page(json!({"StreamName": "s", "Limit": 2, "ExclusiveStartShardId": "shardId-000000000002"}));
        let ids: Vec<&str> = last["StreamDescription"]["Shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["ShardId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["shardId-000000000003", "shardId-000000000004"]);
        assert_eq!(last["StreamDescription"]["HasMoreShards"], false);
    }
}
