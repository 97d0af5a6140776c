//! Amazon CloudWatch metrics: what the lab's clients publish (a KCL
//! application's metrics, every few seconds) and what AWS publishes for the
//! lab's streams, `AWS/Kinesis` and `AWS/Firehose`, so that
//! `aws cloudwatch get-metric-statistics` answers as it would on AWS.
//!
//! The layers: the three protocols the SDKs send ([`protocol`]), one file per
//! action ([`actions`]), the errors ([`error`]) and the series, one-minute
//! summaries kept for the last hours ([`store`]). Kinesis
//! ([`crate::kinesis::metrics`]) and Firehose's deliveries record into the
//! same store through [`CloudWatch::record`].
//!
//! Simplified: no alarms, dashboards, metric streams or high resolution
//! (StorageResolution 1 is kept at one minute), and nothing on disk.

pub mod actions;
pub mod error;
pub mod protocol;
pub mod store;

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use self::actions::Operation;
use self::error::CloudWatchError;
use self::protocol::Protocol;
use self::store::{MetricId, Store, Summary};

/// PutMetricData takes at most 1 MB, before compression.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct CloudWatch {
    store: Arc<Store>,
}

impl CloudWatch {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records one value of one of AWS's own metrics (`AWS/Kinesis`,
    /// `AWS/Firehose`), now.
    pub fn record(&self, namespace: &str, name: &str, dimension: (&str, &str), value: f64, unit: &str) {
        let now = chrono::Utc::now().timestamp();
        let id = MetricId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: vec![(dimension.0.to_owned(), dimension.1.to_owned())],
        };
        self.store.add(id, Some(unit), now, Summary::one(value), now);
    }

    /// Answers one request in `protocol`; `operation` is the target's or the
    /// path's for JSON and CBOR, and the query protocol names it in the body.
    pub async fn handle(
        &self,
        protocol: Protocol,
        operation: Option<&str>,
        request: Request<Incoming>,
    ) -> Response<Body> {
        let mut operation_name = operation.unwrap_or("").to_owned();
        let answer = async {
            let gzipped = request
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
                .collect()
                .await
                .map_err(|err| {
                    CloudWatchError::serialization(format!("cannot read the request body: {err}"))
                })?
                .to_bytes();
            // The SDKs gzip PutMetricData bodies above 10 KiB (its
            // requestCompression trait).
            let body = if gzipped {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .take(MAX_REQUEST_BYTES as u64 * 8)
                    .read_to_end(&mut plain)
                    .map_err(|err| CloudWatchError::serialization(format!("the body is not gzip: {err}")))?;
                plain.into()
            } else {
                body
            };
            let input = protocol::decode(protocol, &body)?;
            if protocol == Protocol::Query {
                operation_name = input
                    .get("Action")
                    .and_then(|a| a.as_str())
                    .unwrap_or("")
                    .to_owned();
            }
            let operation = Operation::parse(&operation_name)
                .ok_or_else(|| CloudWatchError::unknown_operation(&operation_name))?;
            actions::dispatch(self, operation, &input)
        }
        .await;
        match answer {
            Ok(out) => protocol::respond(protocol, &operation_name, out),
            Err(err) => protocol::error(protocol, &err),
        }
    }
}
