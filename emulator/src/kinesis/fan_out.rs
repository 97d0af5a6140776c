//! SubscribeToShard, enhanced fan-out's push of a shard's records (what `etl
//! --efo` reads, lab step 2.2.2), answered here rather than by ferrokinesis.
//!
//! ferrokinesis 0.7.0 gets two things wrong in it:
//!
//! - **The starting position.** Its request checks keep only
//!   `StartingPosition.Type` and drop `SequenceNumber` and `Timestamp`, so a
//!   subscription asked to start AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP starts
//!   at the oldest record instead: a consumer that resumes reads everything
//!   again.
//! - **Latency.** It looks for new records every 200 ms; AWS pushes a record
//!   about 70 ms after it is put.
//!
//! So ferrokinesis still checks the request (the consumer, its state, the
//! shard: its errors are AWS's), and this module serves the events: it reads
//! the shard with an iterator taken at the position asked for, sends what it
//! finds, and waits for the next put on the stream ([`Arrivals`]) rather
//! than for a timer. A subscription ends after 5 minutes, as on AWS, or once
//! its shard is closed and read, with the children in its last event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Kinesis;

/// How long one subscription lasts (AWS: 5 minutes).
const SUBSCRIPTION: Duration = Duration::from_secs(5 * 60);
/// How long a subscription waits for a put before it looks anyway, and sends
/// an event with no records so that its reader knows it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// The most records one GetRecords takes for an event.
const READ_LIMIT: usize = 1000;
/// The most record data one event carries (base64 counted): well under the
/// 16 MiB an event stream message may hold.
const MAX_EVENT_DATA: usize = 4 * 1024 * 1024;

/// A counter per stream that moves on with every put, for subscriptions (and
/// Firehose's Kinesis sources) to wait on.
#[derive(Default)]
pub struct Arrivals {
    streams: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Arrivals {
    /// Tells the stream's subscriptions that records arrived.
    pub fn put(&self, stream: &str) {
        if let Some(sender) = self.streams.lock().expect("arrivals lock").get(stream) {
            sender.send_modify(|count| *count += 1);
        }
    }

    /// What moves on when `stream` takes a put.
    pub fn watch(&self, stream: &str) -> watch::Receiver<u64> {
        let mut streams = self.streams.lock().expect("arrivals lock");
        streams
            .entry(stream.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}

impl Kinesis {
    /// Answers a SubscribeToShard; `body` is its request, read whole.
    pub(super) async fn subscribe_to_shard(&self, request: Request<Body>, body: &Bytes) -> Response<Body> {
        let Some(asked) = Subscription::read(body) else {
            // Not JSON (CBOR, say): ferrokinesis answers it as it can.
            return self.call(request).await;
        };
        // ferrokinesis checks the request as AWS does, at a position it keeps.
        let mut checked: Value = serde_json::from_slice(body).expect("read as JSON above");
        checked["StartingPosition"] = json!({"Type": "LATEST"});
        let (parts, _) = request.into_parts();
        let check = Request::from_parts(parts.clone(), Body::from(checked.to_string()));
        let answer = self.call(check).await;
        if !answer.status().is_success() {
            return answer;
        }
        // Its subscription ends when its body is dropped.
        drop(answer);
        let iterator = match self
            .internal(&parts, "GetShardIterator", &asked.iterator_request())
            .await
        {
            Ok(answer) => answer["ShardIterator"].as_str().unwrap_or_default().to_owned(),
            Err(refusal) => return refusal,
        };
        let arrivals = self.arrivals.watch(&asked.stream);
        let events = asked.events(self.clone(), parts, iterator, arrivals);
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
            .body(Body::from_stream(events))
            .expect("a valid response")
    }

    /// One Kinesis operation on behalf of a subscription, through the same
    /// paths as a client's; its answer, or the refusal to pass on.
    async fn internal(
        &self,
        parts: &http::request::Parts,
        operation: &str,
        body: &Value,
    ) -> Result<Value, Response<Body>> {
        let mut parts = parts.clone();
        let target = format!("Kinesis_20131202.{operation}");
        parts
            .headers
            .insert("x-amz-target", target.parse().expect("a valid header"));
        parts.headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-amz-json-1.1".parse().expect("a valid header"),
        );
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let bytes = Bytes::from(body.to_string());
        let request = Request::from_parts(parts, Body::from(bytes.clone()));
        let answer = match operation {
            "GetRecords" => self.get_records(request, &bytes).await,
            _ => self.call(request).await,
        };
        if !answer.status().is_success() {
            return Err(answer);
        }
        let bytes = answer
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// What a SubscribeToShard asked for.
struct Subscription {
    stream: String,
    shard_id: String,
    position: Value,
}

impl Subscription {
    fn read(body: &[u8]) -> Option<Subscription> {
        let request: Value = serde_json::from_slice(body).ok()?;
        // arn:aws:kinesis:<region>:<account>:stream/<name>/consumer/<consumer>:<time>
        let consumer = request["ConsumerARN"].as_str()?;
        let stream = consumer.split_once(":stream/")?.1.split_once("/consumer/")?.0;
        Some(Subscription {
            stream: stream.to_owned(),
            shard_id: request["ShardId"].as_str()?.to_owned(),
            position: request["StartingPosition"].clone(),
        })
    }

    /// The GetShardIterator that starts where the subscription was asked to.
    fn iterator_request(&self) -> Value {
        let mut request = json!({
            "StreamName": self.stream,
            "ShardId": self.shard_id,
            "ShardIteratorType": self.position["Type"],
        });
        if let Some(sequence) = self.position.get("SequenceNumber") {
            request["StartingSequenceNumber"] = sequence.clone();
        }
        if let Some(at) = self.position.get("Timestamp") {
            request["Timestamp"] = at.clone();
        }
        request
    }

    /// The response's frames: the initial response, then an event for each
    /// read that found records, as soon as a put makes one worth doing.
    fn events(
        self,
        kinesis: Kinesis,
        parts: http::request::Parts,
        mut iterator: String,
        mut arrivals: watch::Receiver<u64>,
    ) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> {
        async_stream::stream! {
            yield Ok(frame("initial-response", Bytes::new()));
            let started = tokio::time::Instant::now();
            let mut continuation = self.position.get("SequenceNumber").cloned().unwrap_or(Value::Null);
            let mut quiet_since = tokio::time::Instant::now();
            while started.elapsed() < SUBSCRIPTION {
                // Seen before reading: a put from now on wakes the wait below.
                arrivals.borrow_and_update();
                let request = json!({"ShardIterator": iterator, "Limit": READ_LIMIT});
                let Ok(answer) = kinesis.internal(&parts, "GetRecords", &request).await else {
                    // The stream or its shard is gone, or the iterator expired: the
                    // reader subscribes again and learns which.
                    break;
                };
                let records = answer["Records"].as_array().cloned().unwrap_or_default();
                let full = records.len() >= READ_LIMIT;
                let behind = answer["MillisBehindLatest"].clone();
                let next = answer["NextShardIterator"].as_str().map(str::to_owned);
                let mut events = split(records);
                if next.is_none() || events.is_empty() && quiet_since.elapsed() >= HEARTBEAT {
                    events.push(Vec::new());
                }
                let last = events.len().saturating_sub(1);
                for (index, records) in events.into_iter().enumerate() {
                    if let Some(sequence) = records.last().map(|r| r["SequenceNumber"].clone()) {
                        continuation = sequence;
                    }
                    let mut event = json!({
                        "Records": records,
                        "ContinuationSequenceNumber": continuation,
                        "MillisBehindLatest": behind,
                    });
                    if next.is_none() && index == last {
                        // The shard is closed and read: no continuation, its children.
                        event["ContinuationSequenceNumber"] = Value::Null;
                        event["ChildShards"] = children(&kinesis, &parts, &self.stream, &self.shard_id).await;
                    }
                    yield Ok(frame("SubscribeToShardEvent", Bytes::from(event.to_string())));
                    quiet_since = tokio::time::Instant::now();
                }
                let Some(next) = next else { break };
                iterator = next;
                if !full {
                    let wait = HEARTBEAT.saturating_sub(quiet_since.elapsed());
                    let _ = tokio::time::timeout(wait, arrivals.changed()).await;
                }
            }
        }
    }
}

/// Records shared out between events of at most [`MAX_EVENT_DATA`].
fn split(records: Vec<Value>) -> Vec<Vec<Value>> {
    let mut events: Vec<Vec<Value>> = Vec::new();
    let mut size = 0;
    for record in records {
        let data = record["Data"].as_str().map_or(0, str::len);
        if events.is_empty() || (size + data > MAX_EVENT_DATA && !events.last().is_some_and(Vec::is_empty)) {
            events.push(Vec::new());
            size = 0;
        }
        size += data;
        events.last_mut().expect("pushed above").push(record);
    }
    events
}

/// The shards a closed shard was split or merged into, as an event names them.
async fn children(kinesis: &Kinesis, parts: &http::request::Parts, stream: &str, shard_id: &str) -> Value {
    let Ok(listed) = kinesis
        .internal(parts, "ListShards", &json!({"StreamName": stream}))
        .await
    else {
        return json!([]);
    };
    let shards = listed["Shards"].as_array().cloned().unwrap_or_default();
    let children: Vec<Value> = shards
        .iter()
        .filter(|shard| shard["ParentShardId"] == shard_id || shard["AdjacentParentShardId"] == shard_id)
        .map(|shard| {
            let parents: Vec<&Value> = [&shard["ParentShardId"], &shard["AdjacentParentShardId"]]
                .into_iter()
                .filter(|parent| parent.is_string())
                .collect();
            json!({"ShardId": shard["ShardId"], "ParentShards": parents, "HashKeyRange": shard["HashKeyRange"]})
        })
        .collect();
    Value::from(children)
}

/// One event stream message of the given event type, JSON inside.
fn frame(event_type: &'static str, payload: Bytes) -> Bytes {
    let mut message = Message::new(payload)
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
        .add_header(Header::new(":event-type", HeaderValue::String(event_type.into())));
    if event_type != "initial-response" {
        message = message.add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    }
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).expect("a message fits in memory");
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_read_from_the_consumer_arn() {
        let body = br#"{"ConsumerARN": "arn:aws:kinesis:us-east-1:000000000000:stream/lab-source/consumer/etl:1700000000",
            "ShardId": "shardId-000000000001", "StartingPosition": {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "49"}}"#;
        let asked = Subscription::read(body).unwrap();
        assert_eq!(
            (asked.stream.as_str(), asked.shard_id.as_str()),
            ("lab-source", "shardId-000000000001")
        );
        assert_eq!(
            asked.iterator_request(),
            json!({"StreamName": "lab-source", "ShardId": "shardId-000000000001",
                   "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "49"})
        );
    }

    #[test]
    fn events_stay_under_the_size_limit_and_a_huge_record_goes_alone() {
        let record = |len: usize| json!({"Data": "x".repeat(len)});
        let sizes = |events: Vec<Vec<Value>>| events.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(split(vec![record(10); 3])), [3]);
        let mib = 1024 * 1024;
        assert_eq!(
            sizes(split(vec![record(3 * mib), record(2 * mib), record(mib)])),
            [1, 2]
        );
        assert_eq!(sizes(split(vec![record(9 * mib), record(1)])), [1, 1]);
        assert!(split(Vec::new()).is_empty());
    }
}
