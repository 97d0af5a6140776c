//! Kinesis Data Streams: ferrokinesis, embedded, made safe for concurrent
//! writers (every lab step that puts or reads records goes through here).
//!
//! We do not reimplement Kinesis: ferrokinesis already answers every Kinesis
//! operation as AWS does, with AWS's errors. We choose its options, and we put
//! right two things it gets wrong when writers run side by side (ferrokinesis
//! 0.7.0, measured with 4 writers, a live reader and a Firehose):
//!
//! - **Skipped records.** A put takes its sequence numbers first and stores its
//!   records later. Two writers on one shard can store in the other order, and
//!   a reader that reads in between sees the later number, continues after it,
//!   and never comes back for the earlier one. So puts run one at a time, from
//!   numbering to storing: each put's records are stored before the next put
//!   numbers its own, and a reader only ever sees whole prefixes of a shard.
//! - **Deadlock.** Its GetRecords path keeps a lock of its stream map across an
//!   `.await`, while a put waits for that same map's exclusive lock by blocking
//!   its thread. With every worker thread blocked in such a put, the suspended
//!   reader never runs again to release its lock, and the endpoint stops
//!   answering. So puts run on a blocking thread of their own: a put that waits
//!   blocks only itself, and readers (GetRecords, SubscribeToShard, Firehose)
//!   keep the worker threads to finish and let it through.
//!
//! - **Stream ARNs.** AWS takes a stream's ARN (`StreamARN`) wherever it takes
//!   its name; ferrokinesis wants the name. An ARN of this emulator's account
//!   and region is turned into the name before ferrokinesis sees the request.
//!
//! The cost is that puts do not overlap; `cargo xtask bench` measures
//! PutRecords throughput with several writers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use bytes::Bytes;
use ferrokinesis::store::StoreOptions;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use tower::ServiceExt;

use crate::aws_error;
use crate::config::Config;

/// The largest request body taken. PutRecords carries up to 5 MiB of records,
/// which base64 in the JSON protocol makes about 6.7 MiB, plus keys and
/// punctuation; ferrokinesis's own server allows the same 7 MiB.
pub const MAX_REQUEST_BODY: usize = 7 * 1024 * 1024;

/// The Kinesis service, ready to take requests.
#[derive(Clone)]
pub struct Kinesis {
    router: axum::Router,
    /// Held by one PutRecord or PutRecords at a time.
    puts: Arc<tokio::sync::Mutex<()>>,
    /// `arn:aws:kinesis:<region>:<account>:stream/`, what this emulator's
    /// stream ARNs start with.
    arn_prefix: Arc<str>,
}

/// The operations that name a stream with `StreamName`, and take its ARN
/// instead on AWS. (UpdateStreamMode and the consumer operations take the ARN
/// itself, which ferrokinesis reads as it is.)
const NAMED_BY_STREAM_NAME: &[&str] = &[
    "AddTagsToStream",
    "DecreaseStreamRetentionPeriod",
    "DeleteStream",
    "DescribeStream",
    "DescribeStreamSummary",
    "DisableEnhancedMonitoring",
    "EnableEnhancedMonitoring",
    "GetShardIterator",
    "IncreaseStreamRetentionPeriod",
    "ListShards",
    "ListTagsForStream",
    "MergeShards",
    "PutRecord",
    "PutRecords",
    "RemoveTagsFromStream",
    "SplitShard",
    "StartStreamEncryption",
    "StopStreamEncryption",
    "UpdateShardCount",
];

impl Kinesis {
    /// Streams live in memory, like Firehose's delivery streams: a restarted
    /// emulator starts empty, and the two can never disagree about what exists.
    pub fn new(config: &Config) -> Kinesis {
        let delay_ms = u64::try_from(config.kinesis.status_delay.as_millis()).unwrap_or(u64::MAX);
        let options = StoreOptions {
            create_stream_ms: delay_ms,
            delete_stream_ms: delay_ms,
            update_stream_ms: delay_ms,
            shard_limit: config.kinesis.shard_limit,
            iterator_ttl_seconds: config.kinesis.iterator_ttl.as_secs().max(1),
            enforce_limits: config.kinesis.enforce_limits,
            aws_account_id: config.account_id.clone(),
            aws_region: config.region.clone(),
            ..StoreOptions::default()
        };
        // Without a limit of its own, the router takes axum's default of 2 MB and
        // refuses a PutRecords that AWS accepts.
        let router = ferrokinesis::create_app(options)
            .0
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY));
        Kinesis {
            router,
            puts: Arc::default(),
            arn_prefix: format!("arn:aws:kinesis:{}:{}:stream/", config.region, config.account_id).into(),
        }
    }

    /// Answers one request; `operation` is the part of `X-Amz-Target` after the dot.
    pub async fn handle(&self, operation: &str, request: Request<Body>) -> Response<Body> {
        // Bodies are read whole first: to name the stream, and so that a slow
        // upload never holds a put's turn.
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                return aws_error::response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SerializationException",
                    &format!(
                        "Request body is too large, or could not be read ({err}): this endpoint takes \
                         {} MiB, which holds a PutRecords of 5 MiB of records",
                        MAX_REQUEST_BODY >> 20
                    ),
                );
            }
        };
        let body = match NAMED_BY_STREAM_NAME.contains(&operation) {
            true => self.name_the_stream(body),
            false => body,
        };
        let request = Request::from_parts(parts, Body::from(body));
        match operation {
            "PutRecord" | "PutRecords" => self.put(request).await,
            _ => self.call(request).await,
        }
    }

    /// The JSON body with `StreamARN` replaced by the `StreamName` it names,
    /// when it is an ARN of this emulator's and no name is given.
    fn name_the_stream(&self, body: Bytes) -> Bytes {
        // Most requests name the stream: only look closer at those with an ARN.
        if !body.windows(b"StreamARN".len()).any(|w| w == b"StreamARN") {
            return body;
        }
        let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&body) else {
            return body; // CBOR, or not ours to judge: ferrokinesis answers it.
        };
        let name = match (fields.get("StreamARN"), fields.get("StreamName")) {
            (Some(serde_json::Value::String(arn)), None) => match arn.strip_prefix(&*self.arn_prefix) {
                Some(name) => name.to_owned(),
                None => return body,
            },
            _ => return body,
        };
        fields.remove("StreamARN");
        fields.insert("StreamName".to_owned(), name.into());
        serde_json::to_vec(&fields).map_or(body, Bytes::from)
    }

    async fn call(&self, request: Request<Body>) -> Response<Body> {
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// One put at a time, on a blocking thread (see the module's comment). The
    /// body has been read already.
    async fn put(&self, request: Request<Body>) -> Response<Body> {
        let turn = self.puts.clone().lock_owned().await;
        let this = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let answer = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            runtime.block_on(this.call(request))
        })
        .await;
        match answer {
            Ok(response) => response,
            Err(err) => aws_error::response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                &format!("the put failed inside the emulator: {err}"),
            ),
        }
    }
}
