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
//!   and never comes back for the earlier one. So puts to a stream run one at
//!   a time, from numbering to storing: each put's records are stored before
//!   the next put numbers its own, and a reader only ever sees whole prefixes
//!   of a shard. Puts to different streams share no shard, and run side by
//!   side ([`turns`]).
//! - **Deadlock.** Its GetRecords path keeps a lock of its stream map across an
//!   `.await`, while a put waits for that same map's exclusive lock by blocking
//!   its thread. With every worker thread blocked in such a put, the suspended
//!   reader never runs again to release its lock, and the endpoint stops
//!   answering. So puts run on a blocking thread of their own: a put that waits
//!   blocks only itself, and readers (GetRecords, SubscribeToShard, Firehose)
//!   keep the worker threads to finish and let it through. (The map is one for
//!   all streams, split into parts by the names' hashes, so a put to one
//!   stream can wait for a reader of another: per-stream turns do not make
//!   this detour unneeded.)
//!
//! - **SubscribeToShard** starts where it is asked to, and pushes records as
//!   they are put ([`fan_out`]).
//!
//! - **Stream ARNs.** AWS takes a stream's ARN (`StreamARN`) wherever it takes
//!   its name; ferrokinesis wants the name. An ARN of this emulator's account
//!   and region is turned into the name before ferrokinesis sees the request.
//!
//! The cost is that puts to one stream do not overlap; `cargo xtask bench`
//! measures PutRecords throughput with several writers, and `cargo xtask
//! bench workers` with writers to several streams.
//!
//! With a durable data directory, [`journal`] keeps every acknowledged record
//! on disk, so that a restart, even after a crash, goes on where it stopped.

pub mod at_timestamp;
pub mod cap;
pub mod capacity;
pub mod describe;
pub mod fan_out;
pub mod journal;
pub mod lag;
pub mod metrics;
pub mod tail;
pub mod turns;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use bytes::Bytes;
use ferrokinesis::store::{Store, StoreOptions};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use tower::ServiceExt;

use self::journal::{Journal, Restored};
use self::tail::Tail;
use self::turns::Turns;
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
    store: Store,
    /// On disk: every acknowledged record, and the streams.
    journal: Option<Arc<Journal>>,
    /// What each put adds.
    tail: Arc<Tail>,
    /// What each stream takes in, second by second.
    metrics: Arc<metrics::Metrics>,
    /// Wakes the subscriptions of a stream a put added records to.
    arrivals: Arc<fan_out::Arrivals>,
    /// Held by one PutRecord or PutRecords at a time on each stream.
    turns: Arc<Turns>,
    /// See [`cap`].
    max_retained_bytes: Option<u64>,
    /// Whether the cap has been reached yet, to say so once.
    trimmed_once: Arc<std::sync::atomic::AtomicBool>,
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

/// How often the streams are saved when nothing asked: a stream that turns
/// ACTIVE after a reshard changes without a request.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);

impl Kinesis {
    /// Kinesis, in memory only (`journal_dir` is `None`), or restored from and
    /// kept in `journal_dir`.
    pub async fn start(
        config: &Config,
        journal_dir: Option<&Path>,
    ) -> std::io::Result<(Kinesis, Option<Restored>)> {
        let delay_ms = u64::try_from(config.kinesis.status_delay.as_millis()).unwrap_or(u64::MAX);
        let options = StoreOptions {
            create_stream_ms: delay_ms,
            delete_stream_ms: delay_ms,
            update_stream_ms: delay_ms,
            shard_limit: config.kinesis.shard_limit,
            iterator_ttl_seconds: config.kinesis.iterator_ttl.as_secs().max(1),
            enforce_limits: config.kinesis.enforce_limits,
            retention_check_interval_secs: config
                .kinesis
                .retention_check_interval
                .map_or(0, |every| every.as_secs().max(1)),
            aws_account_id: config.account_id.clone(),
            aws_region: config.region.clone(),
            ..StoreOptions::default()
        };
        let (router, store) = ferrokinesis::create_app(options);
        // Without a limit of its own, the router takes axum's default of 2 MB and
        // refuses a PutRecords that AWS accepts.
        let router = router.layer(DefaultBodyLimit::max(MAX_REQUEST_BODY));
        let (journal, mut restored) = match journal_dir {
            Some(dir) => {
                let (journal, restored) = Journal::open(store.clone(), dir).await?;
                if let Some(limit) = config.kinesis.max_retained_bytes
                    && cap::retained_bytes(&store) > limit
                {
                    cap::trim(&store, limit).await;
                }
                // The log holds exactly what was restored from here on.
                journal.compact().await?;
                let journal = Arc::new(journal);
                tokio::spawn(keep_saving(Arc::downgrade(&journal)));
                (Some(journal), Some(restored))
            }
            None => (None, None),
        };
        let marks = restored
            .as_mut()
            .map(|r| std::mem::take(&mut r.marks))
            .unwrap_or_default();
        let kinesis = Kinesis {
            router,
            store,
            journal,
            tail: Arc::new(Tail::with_marks(marks)),
            metrics: Arc::default(),
            arrivals: Arc::default(),
            turns: Arc::default(),
            max_retained_bytes: config.kinesis.max_retained_bytes,
            trimmed_once: Arc::default(),
            arn_prefix: format!("arn:aws:kinesis:{}:{}:stream/", config.region, config.account_id).into(),
        };
        Ok((kinesis, restored))
    }

    /// What each stream takes in, second by second.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// What wakes readers when a stream takes a put.
    pub fn arrivals(&self) -> Arc<fan_out::Arrivals> {
        self.arrivals.clone()
    }

    /// ferrokinesis's store, for what the endpoint cannot do.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whose turn it is to put: for tests that hold a stream's turn, as a
    /// put that takes long would.
    pub fn turns(&self) -> &Turns {
        &self.turns
    }

    /// A clean stop: the streams saved and the log synced.
    pub async fn stop(&self) {
        if let Some(journal) = &self.journal {
            if let Err(err) = journal.save_streams().await {
                tracing::error!("cannot save the Kinesis streams: {err}");
            }
            if let Err(err) = journal.sync() {
                tracing::error!("cannot sync the Kinesis record log: {err}");
            }
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
        let mut on_demand = None;
        let body = match operation {
            "CreateStream" => match capacity::create(&body) {
                capacity::Create::AsIs => body,
                capacity::Create::OnDemand { body, stream } => {
                    on_demand = Some(stream);
                    body
                }
                capacity::Create::Invalid(reason) => {
                    return aws_error::response(StatusCode::BAD_REQUEST, "InvalidArgumentException", &reason);
                }
            },
            _ => body,
        };
        let stream = stream_name(&body);
        // An AT_TIMESTAMP iterator past a shard's last record is corrected
        // (`at_timestamp`), with the stream's turn held until it is answered.
        let (_turn, body) = match operation == "GetShardIterator" && at_timestamp::asks(&body) {
            true => {
                let turn = self.turns.of(stream.as_deref()).await;
                (Some(turn), at_timestamp::correct(&self.store, body).await)
            }
            false => (None, body),
        };
        let request = Request::from_parts(parts, Body::from(body.clone()));
        if matches!(operation, "PutRecord" | "PutRecords") {
            return self.put(request, stream).await;
        }
        if operation == "GetRecords" {
            return self.get_records(request, &body).await;
        }
        let response = match operation {
            "SubscribeToShard" => self.subscribe_to_shard(request, &body).await,
            _ => self.call(request).await,
        };
        let response = match operation {
            "ListStreams" | "DescribeStream" if response.status().is_success() => {
                self.complete(operation, &body, response).await
            }
            _ => response,
        };
        if let Some(stream) = &on_demand
            && response.status().is_success()
        {
            capacity::mark_on_demand(&self.store, stream).await;
        }
        if operation == "DeleteStream"
            && response.status().is_success()
            && let Some(stream) = &stream
        {
            self.tail.forget(stream);
            self.metrics.forget(stream);
            self.turns.forget(stream);
        }
        if let Some(journal) = &self.journal
            && response.status().is_success()
            && changes_streams(operation)
        {
            if operation == "DeleteStream"
                && let Some(stream) = &stream
                && let Err(err) = journal.log_deletion(stream)
            {
                tracing::error!("cannot log the deletion of stream {stream}: {err}");
            }
            if let Err(err) = journal.save_streams().await {
                tracing::error!("cannot save the Kinesis streams: {err}");
            }
        }
        response
    }

    /// The JSON body with `StreamARN` replaced by the `StreamName` it names,
    /// when it is an ARN of this emulator's and no name is given.
    fn name_the_stream(&self, body: Bytes) -> Bytes {
        // Most requests name the stream: only look closer at those with an ARN.
        // memmem, not a window at a time: a PutRecords body is up to 7 MiB,
        // and the byte-by-byte look was 1-2% of the emulator's CPU time under
        // `cargo xtask bench workers`.
        if memchr::memmem::find(&body, b"StreamARN").is_none() {
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

    /// A ListStreams or DescribeStream answer with what ferrokinesis leaves
    /// out ([`describe`]); as it was if it cannot be read.
    async fn complete(&self, operation: &str, request: &[u8], response: Response<Body>) -> Response<Body> {
        let (mut parts, answer) = response.into_parts();
        let Ok(answer) = answer.collect().await.map(|a| a.to_bytes()) else {
            return aws_error::response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "cannot read the answer",
            );
        };
        let completed = match operation {
            "ListStreams" => describe::list_streams(&self.store, &answer).await,
            _ => describe::describe_stream(request, &answer),
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(completed.map_or(answer, Bytes::from)))
    }

    /// GetRecords, with its lag put right ([`lag`]).
    async fn get_records(&self, request: Request<Body>, body: &[u8]) -> Response<Body> {
        let response = self.call(request).await;
        if !response.status().is_success() {
            return response;
        }
        let (mut parts, answer) = response.into_parts();
        let answer = match answer.collect().await {
            Ok(answer) => answer.to_bytes(),
            Err(err) => {
                return aws_error::response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    &format!("cannot read the records: {err}"),
                );
            }
        };
        if let Some(stream) = lag::stream_read(body) {
            let now = chrono::Utc::now().timestamp();
            self.metrics.count_get_records(&stream, &answer, now);
        }
        let answer = lag::correct(&self.store, body, answer).await;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(answer))
    }

    async fn call(&self, request: Request<Body>) -> Response<Body> {
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// One put at a time on each stream, on a blocking thread (see the
    /// module's comment). The body has been read already.
    async fn put(&self, request: Request<Body>, stream: Option<String>) -> Response<Body> {
        let turn = self.turns.of(stream.as_deref()).await;
        let this = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let answer = tokio::task::spawn_blocking(move || {
            runtime.block_on(async {
                let started_ms = chrono::Utc::now().timestamp_millis();
                let response = this.call(request).await;
                if !response.status().is_success() {
                    this.metrics.count_refused(stream.as_deref(), &response);
                    return response;
                }
                // A PutRecords is answered 200 with the entries it throttled
                // marked in it: AWS counts those as throttled writes too.
                let response = this
                    .metrics
                    .count_throttled_entries(stream.as_deref(), response)
                    .await;
                let fresh = this.tail.take(&this.store, stream.as_deref(), started_ms).await;
                this.metrics.count(&fresh, started_ms / 1000);
                let logged = match &this.journal {
                    Some(journal) => journal.log(&fresh).await,
                    None => Ok(()),
                };
                drop(fresh);
                // Trimming and rewriting the log look at every stream: they
                // wait for the turn of all, which waits for this one.
                drop(turn);
                this.keep_under_cap().await;
                match logged {
                    Ok(()) => {
                        if let Some(stream) = &stream {
                            this.arrivals.put(stream);
                        }
                        response
                    }
                    // Stored but not on disk: not acknowledged, so the
                    // writer retries rather than trusting it.
                    Err(err) => aws_error::response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalFailure",
                        &format!("the records could not be written to the emulator's data directory: {err}"),
                    ),
                }
            })
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

impl Kinesis {
    /// After a put, with its turn handed back: trims the oldest records past
    /// the cap, and rewrites the log once it holds twice what the store does,
    /// each with the turn of all streams held.
    async fn keep_under_cap(&self) {
        let over_cap = || {
            self.max_retained_bytes
                .is_some_and(|limit| cap::retained_bytes(&self.store) > limit)
        };
        // Retained bytes count base64 data; the log's JSON lines are about a
        // fifth larger. Twice that, and at least 64 MiB, before rewriting.
        let log_too_long = |journal: &Journal| {
            let threshold = (cap::retained_bytes(&self.store) * 12 / 10 * 2).max(64 << 20);
            journal.log_bytes() > threshold
        };
        if !over_cap() && !self.journal.as_deref().is_some_and(log_too_long) {
            return;
        }
        // Looked at again with the turn held: another put may have done it.
        let _all = self.turns.all().await;
        if let Some(limit) = self.max_retained_bytes
            && over_cap()
        {
            let trimmed = cap::trim(&self.store, limit).await;
            let first = !self.trimmed_once.swap(true, std::sync::atomic::Ordering::Relaxed);
            let message = format!(
                "Kinesis holds more than its cap of {} MiB of records: trimmed the oldest {} records \
                 ({} bytes), as if their retention had passed",
                limit >> 20,
                trimmed.records,
                trimmed.bytes
            );
            if first {
                tracing::warn!("{message}; raise the cap with --max-retained-bytes");
            } else {
                tracing::debug!("{message}");
            }
        }
        if let Some(journal) = &self.journal
            && log_too_long(journal)
            && let Err(err) = journal.compact().await
        {
            tracing::error!("cannot rewrite the Kinesis record log: {err}");
        }
    }
}

/// Whether a successful operation may have changed what `streams.json` holds.
fn changes_streams(operation: &str) -> bool {
    let reads = ["Describe", "List", "Get"];
    !(reads.iter().any(|prefix| operation.starts_with(prefix))
        || matches!(operation, "SubscribeToShard" | "PutRecord" | "PutRecords"))
}

/// The `StreamName` of a JSON request, once ARNs have been turned into names.
fn stream_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(rename = "StreamName")]
        stream_name: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.stream_name
}

/// Saves the streams every second while the journal lives.
async fn keep_saving(journal: std::sync::Weak<Journal>) {
    let mut ticks = tokio::time::interval(SAVE_INTERVAL);
    loop {
        ticks.tick().await;
        let Some(journal) = journal.upgrade() else { return };
        if let Err(err) = journal.save_streams().await {
            tracing::error!("cannot save the Kinesis streams: {err}");
        }
    }
}
