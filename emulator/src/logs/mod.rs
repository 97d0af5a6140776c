//! Amazon CloudWatch Logs, as much as the lab and its clients use: log groups,
//! log streams and their events, where Firehose writes why a delivery failed
//! (lab part 2, its `CloudWatchLoggingOptions`) and where a learner reads it
//! (`aws logs get-log-events`, `aws logs tail`).
//!
//! The layers, as in [`crate::firehose`]: the protocol (JSON 1.1, target
//! `Logs_20140328.<Operation>`, here), one file per action ([`actions`]), the
//! errors ([`error`]), the filter patterns ([`filter`]) and what a durable
//! data directory keeps ([`store`]). Without one, everything lives in memory.
//!
//! Simplified: no retention (events are kept until their group is deleted),
//! no KMS keys, tags, metric filters or subscriptions, and no quotas on
//! request rates.

pub mod actions;
pub mod error;
pub mod filter;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::actions::Operation;
use self::error::LogsError;
use self::store::{Entry, GroupFile};
use crate::aws_error::JSON_1_1;

/// PutLogEvents takes at most 1 MiB of events; their JSON is a little more.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// The CloudWatch Logs service: its log groups.
#[derive(Clone)]
pub struct Logs {
    inner: Arc<Inner>,
}

struct Inner {
    account_id: String,
    region: String,
    /// Where groups are kept, with a durable data directory.
    root: Option<PathBuf>,
    groups: Mutex<BTreeMap<String, Group>>,
}

/// A log group and its streams.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub created_ms: i64,
    pub streams: BTreeMap<String, LogStream>,
    /// The number of the group's next event: events are told apart by it
    /// (FilterLogEvents' `eventId`).
    pub next_seq: u64,
    /// On disk, with a durable data directory.
    pub file: Option<GroupFile>,
}

impl Group {
    pub fn new(name: String, created_ms: i64) -> Group {
        Group {
            name,
            created_ms,
            streams: BTreeMap::new(),
            next_seq: 0,
            file: None,
        }
    }

    /// Writes a change to the group's file, if it has one.
    pub fn record(&mut self, entry: &Entry) -> Result<(), LogsError> {
        match &mut self.file {
            Some(file) => file.append(entry).map_err(|err| LogsError::not_saved(&err)),
            None => Ok(()),
        }
    }

    pub fn stored_bytes(&self) -> u64 {
        self.streams.values().map(|s| s.stored_bytes).sum()
    }
}

/// A log stream: its events in the order of their timestamps.
#[derive(Debug)]
pub struct LogStream {
    pub name: String,
    pub created_ms: i64,
    pub events: Vec<Event>,
    pub last_ingestion_ms: Option<i64>,
    pub stored_bytes: u64,
}

impl LogStream {
    pub fn new(name: String, created_ms: i64) -> LogStream {
        LogStream {
            name,
            created_ms,
            events: Vec::new(),
            last_ingestion_ms: None,
            stored_bytes: 0,
        }
    }

    /// Adds events, each at its place by timestamp (after those with the
    /// same timestamp): GetLogEvents reads a stream in timestamp order, and
    /// events put late with old timestamps are allowed.
    pub fn insert(&mut self, events: Vec<Event>) {
        for event in events {
            self.last_ingestion_ms = self.last_ingestion_ms.max(Some(event.ingestion_time));
            self.stored_bytes += event.message.len() as u64 + 26;
            let at = self
                .events
                .partition_point(|e| (e.timestamp, e.seq) <= (event.timestamp, event.seq));
            self.events.insert(at, event);
        }
    }
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When it happened, as its writer says: milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
    /// When CloudWatch Logs took it in.
    pub ingestion_time: i64,
    /// Its number in the group.
    pub seq: u64,
}

impl Logs {
    /// CloudWatch Logs with no log groups, or with those kept under `root`.
    pub fn open(root: Option<&Path>, account_id: &str, region: &str) -> std::io::Result<Logs> {
        let groups = match root {
            Some(root) => store::load_all(root)?,
            None => BTreeMap::new(),
        };
        Ok(Logs {
            inner: Arc::new(Inner {
                account_id: account_id.to_owned(),
                region: region.to_owned(),
                root: root.map(Path::to_path_buf),
                groups: Mutex::new(groups),
            }),
        })
    }

    /// The log groups, locked. Never held across an `.await`.
    pub fn groups(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        self.inner.groups.lock().expect("the logs lock is never poisoned")
    }

    pub fn root(&self) -> Option<&Path> {
        self.inner.root.as_deref()
    }

    /// `arn:aws:logs:<region>:<account>:log-group:<name>`.
    pub fn group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.inner.region, self.inner.account_id
        )
    }

    /// Makes a group; false if it was there already.
    pub fn create_group(&self, groups: &mut BTreeMap<String, Group>, name: &str) -> Result<bool, LogsError> {
        if groups.contains_key(name) {
            return Ok(false);
        }
        let now = now_ms();
        let mut group = Group::new(name.to_owned(), now);
        if let Some(root) = self.root() {
            group.file = Some(GroupFile::create(root, name, now).map_err(|err| LogsError::not_saved(&err))?);
        }
        groups.insert(name.to_owned(), group);
        Ok(true)
    }

    /// Writes one event for the emulator itself (Firehose's delivery errors),
    /// making its group and stream if they are missing, as Firehose's service
    /// role would need permission to on AWS.
    pub fn write(&self, group: &str, stream: &str, message: String) -> Result<(), LogsError> {
        let mut groups = self.groups();
        self.create_group(&mut groups, group)?;
        let group = groups.get_mut(group).expect("the group was just made");
        actions::put_log_events::ensure_stream(group, stream)?;
        let now = now_ms();
        actions::put_log_events::append(group, stream, vec![(now, message)], now)
    }

    /// The latest events of a stream, newest last: what the console shows.
    pub fn latest(&self, group: &str, stream: &str, count: usize) -> Vec<Event> {
        let groups = self.groups();
        let Some(stream) = groups.get(group).and_then(|g| g.streams.get(stream)) else {
            return Vec::new();
        };
        let from = stream.events.len().saturating_sub(count);
        stream.events[from..].to_vec()
    }

    /// Answers one CloudWatch Logs request.
    pub async fn handle(&self, operation: &str, request: Request<Incoming>) -> Response<Body> {
        match self.answer(operation, request).await {
            Ok(output) => Response::builder()
                .header(header::CONTENT_TYPE, JSON_1_1)
                .body(Body::from(output.to_string()))
                .expect("a JSON response is valid"),
            Err(err) => err.into_response(),
        }
    }

    async fn answer(&self, operation: &str, request: Request<Incoming>) -> Result<Value, LogsError> {
        let operation = Operation::parse(operation).ok_or_else(|| LogsError::unknown_operation(operation))?;
        let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
            .map_err(|err| LogsError::serialization(format!("cannot read the request body: {err}")))?
            .to_bytes();
        let input = if body.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|err| {
                LogsError::serialization(format!("the request body is not valid JSON: {err}"))
            })?
        };
        actions::dispatch(self, operation, input)
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
