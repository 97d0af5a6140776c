//! Amazon Data Firehose: the one service of the emulator we write ourselves.
//!
//! Nothing else delivers from a Kinesis stream to S3 faithfully: LocalStack
//! ignores the buffering hints, moto never reads the stream. This one keeps
//! AWS's behaviour where the lab can see it: reading from `LATEST`, buffering by
//! size and interval, AWS's object keys, records concatenated with no delimiter,
//! no record lost when S3 refuses a write.
//!
//! The layers, as in ferrokinesis: the protocol (JSON 1.1, here), the checks
//! ([`validate`], [`destination`]), one file per action ([`actions`]), and the
//! work that goes on between requests ([`delivery`]).

pub mod actions;
pub mod delivery;
pub mod destination;
pub mod encryption;
pub mod error;
pub mod error_log;
pub mod failure;
pub mod lambda;
pub mod partitioning;
pub mod prefix;
pub mod processing;
pub mod state;
pub mod tags;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use chrono::{DateTime, Utc};
use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::actions::Operation;
use self::delivery::{Delivery, Record};
use self::destination::S3Destination;
use self::error::FirehoseError;
use crate::aws_error::JSON_1_1;
use crate::clients::Clients;
use crate::cloudwatch::CloudWatch;
use crate::config::{Config, FirehoseOptions};
use crate::kinesis::fan_out::Arrivals;
use crate::logs::Logs;

/// The largest request we read: PutRecordBatch takes up to 4 MiB of records,
/// which base64 makes about 5.4 MiB.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// The Firehose service: its delivery streams and their deliveries.
#[derive(Clone)]
pub struct Firehose {
    inner: Arc<Inner>,
}

struct Inner {
    account_id: String,
    region: String,
    options: FirehoseOptions,
    clients: Clients,
    /// Where delivery streams write their errors, when logging is on.
    logs: Logs,
    /// Where delivery streams publish their `AWS/Firehose` metrics.
    cloudwatch: CloudWatch,
    /// Where delivery streams are kept, with a durable data directory.
    state_root: Option<PathBuf>,
    /// Puts on Kinesis streams, which wake the delivery streams reading them.
    arrivals: Arc<Arrivals>,
    streams: Mutex<BTreeMap<String, DeliveryStream>>,
    /// Deliveries of deleted streams, still writing what they held.
    retiring: Mutex<Vec<Arc<Delivery>>>,
}

/// One delivery stream, as the actions see it.
pub struct DeliveryStream {
    pub name: String,
    pub arn: String,
    pub kind: StreamKind,
    pub version_id: u64,
    pub created_at: DateTime<Utc>,
    /// When CREATING turns ACTIVE.
    pub active_at: Instant,
    pub destination: Arc<S3Destination>,
    pub delivery: Arc<Delivery>,
    /// On disk, with a durable data directory.
    pub state: Option<Arc<state::StreamState>>,
    /// The CreateDeliveryStream request, with the destination as it is now.
    pub request: Value,
    pub tags: tags::Tags,
    pub encryption: encryption::Encryption,
    /// The last UpdateDestination or encryption change.
    pub updated_at: Option<DateTime<Utc>>,
}

pub enum StreamKind {
    DirectPut {
        sender: mpsc::UnboundedSender<Vec<Record>>,
    },
    KinesisStreamAsSource {
        stream_arn: String,
        role_arn: String,
    },
}

impl StreamKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamKind::DirectPut { .. } => "DirectPut",
            StreamKind::KinesisStreamAsSource { .. } => "KinesisStreamAsSource",
        }
    }
}

impl DeliveryStream {
    /// Saves the stream as it is now, on a durable data directory, so that a
    /// restart creates it again with its tags, encryption, destination and
    /// version. Returns what could not be saved.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(state) = &self.state else { return Ok(()) };
        let mut request = self.request.clone();
        request["Tags"] = match self.tags.is_empty() {
            true => Value::Null,
            false => tags::to_json(&self.tags),
        };
        request["DeliveryStreamEncryptionConfigurationInput"] =
            self.encryption.as_input().unwrap_or(Value::Null);
        state.save(&state::Saved {
            name: self.name.clone(),
            version_id: self.version_id,
            created_at_ms: self.created_at.timestamp_millis(),
            request,
        })
    }

    pub fn status(&self) -> &'static str {
        if Instant::now() >= self.active_at {
            "ACTIVE"
        } else {
            "CREATING"
        }
    }
}

impl Firehose {
    /// A Firehose with no delivery streams; `state_root` keeps them on disk.
    pub fn new(
        config: &Config,
        clients: Clients,
        state_root: Option<&Path>,
        arrivals: Arc<Arrivals>,
        logs: Logs,
        cloudwatch: CloudWatch,
    ) -> Firehose {
        Firehose {
            inner: Arc::new(Inner {
                account_id: config.account_id.clone(),
                region: config.region.clone(),
                options: config.firehose.clone(),
                clients,
                logs,
                cloudwatch,
                state_root: state_root.map(Path::to_path_buf),
                arrivals,
                streams: Mutex::new(BTreeMap::new()),
                retiring: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub fn options(&self) -> &FirehoseOptions {
        &self.inner.options
    }

    pub fn arrivals(&self) -> &Arrivals {
        &self.inner.arrivals
    }

    pub fn clients(&self) -> &Clients {
        &self.inner.clients
    }

    pub fn logs(&self) -> &Logs {
        &self.inner.logs
    }

    pub fn cloudwatch(&self) -> &CloudWatch {
        &self.inner.cloudwatch
    }

    pub fn state_root(&self) -> Option<&Path> {
        self.inner.state_root.as_deref()
    }

    /// Brings back the delivery streams a durable data directory holds, each
    /// resuming after the last record S3 took. Returns how many came back.
    pub async fn restore(&self) -> std::io::Result<usize> {
        let Some(root) = self.state_root() else {
            return Ok(0);
        };
        let mut restored = 0;
        for (state, saved) in state::StreamState::load_all(root)? {
            let name = saved.name.clone();
            match actions::restore(self, state, saved).await {
                Ok(()) => restored += 1,
                Err(err) => {
                    tracing::error!(delivery_stream = %name, "cannot restore this delivery stream: {err}")
                }
            }
        }
        Ok(restored)
    }

    /// The delivery streams, locked. Never held across an `.await`.
    pub fn streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DeliveryStream>> {
        self.inner
            .streams
            .lock()
            .expect("the Firehose state lock is never poisoned")
    }

    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:firehose:{}:{}:deliverystream/{name}",
            self.inner.region, self.inner.account_id
        )
    }

    /// Keeps a deleted stream's delivery until it has written what it held.
    pub fn retire(&self, delivery: Arc<Delivery>) {
        self.inner.retiring.lock().expect("lock").push(delivery.clone());
        tokio::spawn(async move { delivery.finish().await });
    }

    /// Answers one Firehose request.
    pub async fn handle(&self, operation: &str, request: Request<Incoming>) -> Response<Body> {
        match self.answer(operation, request).await {
            Ok(output) => Response::builder()
                .header(header::CONTENT_TYPE, JSON_1_1)
                .body(Body::from(output.to_string()))
                .expect("a JSON response is valid"),
            Err(err) => err.into_response(),
        }
    }

    async fn answer(&self, operation: &str, request: Request<Incoming>) -> Result<Value, FirehoseError> {
        let operation =
            Operation::parse(operation).ok_or_else(|| FirehoseError::unknown_operation(operation))?;
        let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
            .map_err(|err| FirehoseError::serialization(format!("cannot read the request body: {err}")))?
            .to_bytes();
        // Some clients send no body for operations without required members.
        let input = if body.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|err| {
                FirehoseError::serialization(format!("the request body is not valid JSON: {err}"))
            })?
        };
        actions::dispatch(self, operation, input).await
    }

    /// Every delivery writes what it holds, then stops.
    pub async fn shutdown(&self) {
        let mut deliveries: Vec<Arc<Delivery>> =
            self.streams().values().map(|s| s.delivery.clone()).collect();
        deliveries.extend(self.inner.retiring.lock().expect("lock").drain(..));
        let mut finishing = JoinSet::new();
        for delivery in deliveries {
            finishing.spawn(async move { delivery.finish().await });
        }
        while finishing.join_next().await.is_some() {}
    }

    /// Every delivery stops at once.
    pub fn abort(&self) {
        if let Ok(streams) = self.inner.streams.lock() {
            streams.values().for_each(|stream| stream.delivery.abort());
        }
        if let Ok(retiring) = self.inner.retiring.lock() {
            retiring.iter().for_each(|delivery| delivery.abort());
        }
    }
}
