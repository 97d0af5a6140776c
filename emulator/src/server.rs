//! The one HTTP endpoint, and the emulator's life: start, serve, shut down.
//!
//! Every AWS SDK request names its service somewhere. Kinesis and Firehose speak
//! AWS's JSON protocol and name the operation in the `X-Amz-Target` header
//! (`Kinesis_20131202.PutRecord`, `Firehose_20150804.CreateDeliveryStream`); S3
//! speaks REST and sends no such header. So one port can serve all three, as
//! LocalStack does, and a learner needs one `--endpoint-url` for everything.
//! STS's `GetCallerIdentity`, a form-encoded POST, is recognised by its shape.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cloudwatch::{self, CloudWatch, protocol::Protocol};
use crate::config::Config;
use crate::firehose::Firehose;
use crate::{aws_error, clients, console, kinesis, logs, s3, sts};

/// The path of the health check: not a valid bucket name, so it can never hide an
/// S3 request.
pub const HEALTH_PATH: &str = "/_kinesis_lab/health";

/// How long open connections get to finish their requests at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running emulator. Shut it down with [`Emulator::shutdown`], which delivers
/// what Firehose still buffers; dropping it stops everything at once.
pub struct Emulator {
    endpoint_url: String,
    local_addr: SocketAddr,
    data_dir: PathBuf,
    restored: Option<Restored>,
    kinesis: kinesis::Kinesis,
    firehose: Firehose,
    stop_serving: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    // Declared last: dropped after the server has stopped using the files.
    _temp_dir: Option<tempfile::TempDir>,
}

/// What a start on a durable data directory brought back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    pub streams: usize,
    pub records: usize,
    pub delivery_streams: usize,
}

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use the data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    S3Storage(#[from] s3::StorageError),
    #[error(
        "cannot restore Kinesis from {}: {source}\nMove that directory away to start empty, or start with --ephemeral.",
        path.display()
    )]
    Restore { path: PathBuf, source: std::io::Error },
    #[error(
        "the console can never answer to the host {value:?}: {reason}\nGive a host name, on any port (--console-host lab-box) or on one (--console-host lab-box:8080)."
    )]
    ConsoleHost { value: String, reason: String },
}

/// The three services behind the endpoint.
struct Services {
    account_id: String,
    dynamodb: crate::dynamodb::DynamoDb,
    console_hosts: Vec<console::ConsoleHost>,
    kinesis: kinesis::Kinesis,
    firehose: Firehose,
    logs: logs::Logs,
    cloudwatch: CloudWatch,
    s3: s3s::service::S3Service,
}

impl Emulator {
    /// Binds the endpoint and starts serving. Returns once requests can be sent.
    pub async fn start(config: Config) -> Result<Emulator, StartError> {
        // Before anything is bound or written: a name the console can never
        // match is a mistake to say at once, not a 403 found much later.
        let console_hosts = config
            .console_hosts
            .iter()
            .map(|value| {
                console::ConsoleHost::parse(value).map_err(|reason| StartError::ConsoleHost {
                    value: value.clone(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let endpoint_url = format!("http://{}", client_address(local_addr));

        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("kinesis-lab-emulator-")
                    .tempdir()
                    .map_err(|source| StartError::DataDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let data_dir_error = |source| StartError::DataDir {
            path: data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&data_dir).map_err(data_dir_error)?;
        let data_dir = data_dir.canonicalize().map_err(data_dir_error)?;

        let journal_dir = data_dir.join("kinesis");
        let (kinesis, restored) = kinesis::Kinesis::start(&config, config.durable.then_some(&*journal_dir))
            .await
            .map_err(|source| StartError::Restore {
                path: journal_dir.clone(),
                source,
            })?;
        if let Some(dropped) = restored.as_ref().map(|r| r.dropped).filter(|&n| n > 0) {
            tracing::info!(
                "{dropped} records in {} were past their retention or of unknown shards, and were left out",
                journal_dir.display()
            );
        }
        let dynamodb_dir = data_dir.join("dynamodb");
        let dynamodb = crate::dynamodb::DynamoDb::open(
            config.durable.then_some(&*dynamodb_dir),
            &config.region,
            &config.account_id,
        )
        .map_err(|source| StartError::Restore {
            path: dynamodb_dir.clone(),
            source,
        })?;
        let logs_dir = data_dir.join("logs");
        let logs = logs::Logs::open(
            config.durable.then_some(&*logs_dir),
            &config.account_id,
            &config.region,
        )
        .map_err(|source| StartError::Restore {
            path: logs_dir.clone(),
            source,
        })?;
        let cloudwatch = CloudWatch::default();
        kinesis.metrics().publish_to(cloudwatch.clone());
        let services = Arc::new(Services {
            account_id: config.account_id.clone(),
            dynamodb,
            console_hosts,
            kinesis: kinesis.clone(),
            firehose: Firehose::new(
                &config,
                clients::Clients::new(&endpoint_url, &config.region),
                config.durable.then_some(&*data_dir.join("firehose")),
                kinesis.arrivals(),
                logs.clone(),
                cloudwatch.clone(),
            ),
            logs,
            cloudwatch,
            s3: s3::service(&data_dir.join("s3"), &data_dir.join("s3-long-keys"))?,
        });
        let firehose = services.firehose.clone();
        let (stop_serving, stopped) = oneshot::channel();
        let server = tokio::spawn(serve(listener, services, stopped));
        // Delivery streams read their sources through the endpoint: it must serve first.
        let delivery_streams = match firehose.restore().await {
            Ok(n) => n,
            Err(err) => {
                server.abort();
                return Err(StartError::Restore {
                    path: data_dir.join("firehose"),
                    source: err,
                });
            }
        };
        let restored = restored.map(|kinesis| Restored {
            streams: kinesis.streams,
            records: kinesis.records,
            delivery_streams,
        });
        tracing::debug!(%endpoint_url, data_dir = %data_dir.display(), "emulator ready");
        Ok(Emulator {
            endpoint_url,
            local_addr,
            data_dir,
            restored,
            kinesis,
            firehose,
            stop_serving: Some(stop_serving),
            server: Some(server),
            _temp_dir: temp_dir,
        })
    }

    /// The URL to give clients: `--endpoint-url` for the AWS CLI,
    /// `endpoint_url=` for boto3.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the start brought back, on a durable data directory.
    pub fn restored(&self) -> Option<Restored> {
        self.restored
    }

    /// Where S3 objects live, as plain files under `s3/<bucket>/<key>`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The Kinesis service inside, for tests that look behind the endpoint.
    pub fn kinesis(&self) -> &kinesis::Kinesis {
        &self.kinesis
    }

    /// Stops cleanly: Firehose first delivers what it has buffered (the endpoint
    /// still serves S3 while it does), then the endpoint lets open requests
    /// finish and closes.
    pub async fn shutdown(mut self) {
        self.firehose.shutdown().await;
        self.kinesis.stop().await;
        if let Some(stop) = self.stop_serving.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Not shut down cleanly (a test that ended, a panic): stop at once.
        self.firehose.abort();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The address a client on this machine should use: an emulator listening on
/// every interface is still reached through loopback.
fn client_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

async fn serve(listener: TcpListener, services: Arc<Services>, mut stop: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Running out of file descriptors, say: wait, and keep serving.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let services = services.clone();
        let service = hyper::service::service_fn(move |request| dispatch(services.clone(), request));
        // HTTP/1.1 and h2c on the same port: SubscribeToShard needs HTTP/2.
        let connection = ConnectionBuilder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection closed: {err}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Sends a request to the service it is for.
async fn dispatch(services: Arc<Services>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let response = match target.as_deref() {
        Some(target) if target.starts_with("Kinesis_20131202.") => {
            let operation = &target["Kinesis_20131202.".len()..];
            services.kinesis.handle(operation, request.map(Body::new)).await
        }
        Some(target) if target.starts_with("DynamoDB_20120810.") => {
            let operation = target["DynamoDB_20120810.".len()..].to_owned();
            services.dynamodb.handle(&operation, request).await
        }
        Some(target) if target.starts_with(cloudwatch::protocol::TARGET_PREFIX) => {
            let operation = target[cloudwatch::protocol::TARGET_PREFIX.len()..].to_owned();
            services
                .cloudwatch
                .handle(Protocol::Json, Some(&operation), request)
                .await
        }
        Some(target) if target.starts_with("Logs_20140328.") => {
            let operation = target["Logs_20140328.".len()..].to_owned();
            services.logs.handle(&operation, request).await
        }
        Some(target) if target.starts_with("Firehose_20150804.") => {
            let operation = target["Firehose_20150804.".len()..].to_owned();
            services.firehose.handle(&operation, request).await
        }
        Some(target) => aws_error::response(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("this emulator does not know the target {target:?}; it serves {SERVED}"),
        ),
        None if request.uri().path() == HEALTH_PATH => health(),
        None if request.uri().path().starts_with(cloudwatch::protocol::CBOR_PATH) => {
            let operation = request.uri().path()[cloudwatch::protocol::CBOR_PATH.len()..].to_owned();
            services
                .cloudwatch
                .handle(Protocol::Cbor, Some(&operation), request)
                .await
        }
        None if console::is_console(request.uri().path()) => {
            let console = console::Console {
                clients: services.firehose.clients(),
                firehose: &services.firehose,
                metrics: services.kinesis.metrics(),
                hosts: &services.console_hosts,
            };
            console::handle(console, request).await
        }
        None => match signed_service(&request).as_deref() {
            // Unsigned (a presigned URL carries its scope in the query, read
            // below), or S3's own scope: s3s checks the signature.
            None | Some("s3") if !sts::is_sts(&request) => s3_call(services, request).await,
            None | Some("sts") => sts::handle(&services.account_id, request).await,
            // CloudWatch's query protocol, form-encoded as STS's is.
            Some("monitoring") => services.cloudwatch.handle(Protocol::Query, None, request).await,
            // A JSON service of ours, but no X-Amz-Target to say which operation.
            Some(service @ ("kinesis" | "firehose" | "dynamodb" | "logs")) => aws_error::response(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!(
                    "a {service} request names its operation in the X-Amz-Target header, and this one has none"
                ),
            ),
            Some(service) => unknown_service(service, &request),
        },
    };
    Ok(response)
}

/// The services behind the endpoint, as credential scopes name them, for the
/// messages that list them.
const SERVED: &str =
    "kinesis, firehose, dynamodb, logs (CloudWatch Logs), monitoring (CloudWatch), s3 and sts";

/// The service a request was signed for: the fourth field of its SigV4
/// credential scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`),
/// from the `Authorization` header or, for a presigned URL, the
/// `X-Amz-Credential` query parameter. Every SDK signs with the service's
/// signing name, so this tells apart services that share a protocol (S3's
/// REST, or the form-encoded query protocol of STS and CloudWatch).
fn signed_service<B>(request: &Request<B>) -> Option<String> {
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once("Credential=").map(|(_, rest)| rest.to_owned()));
    let from_query = || {
        form_urlencoded::parse(request.uri().query()?.as_bytes())
            .find(|(name, _)| name == "X-Amz-Credential")
            .map(|(_, value)| value.into_owned())
    };
    let credential = from_header.or_else(from_query)?;
    // Service names are lowercase words; anything else is no scope of ours
    // (and is never echoed into a message). A SigV4a scope has no region, so
    // its fourth field is `aws4_request`, which is no name: S3, as before.
    credential
        .split(['/', ',', ' '])
        .nth(3)
        .filter(|service| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .map(str::to_owned)
}

/// A request signed for a service this endpoint does not serve. It used to
/// reach S3, whose answer (`unknown service 'monitoring' in credential scope;
/// expected 's3' or 'sts'`, HTTP 501) named two services of the endpoint's
/// six; this one is AWS's error shape and names them all.
fn unknown_service<B>(service: &str, request: &Request<B>) -> Response<Body> {
    let message = format!(
        "the kinesis-lab emulator does not serve {service:?} (the service of the request's credential \
         scope); it serves {SERVED}"
    );
    let form_encoded = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    // A client of the query protocol reads errors from XML, all others from
    // JSON's `__type` (or the `x-amzn-ErrorType` header, which both carry).
    if form_encoded {
        sts::error(StatusCode::BAD_REQUEST, UNKNOWN_SERVICE, &message)
    } else {
        aws_error::response(StatusCode::BAD_REQUEST, UNKNOWN_SERVICE, &message)
    }
}

/// The error type of a request for a service the endpoint does not serve.
pub const UNKNOWN_SERVICE: &str = "UnknownServiceException";

/// An S3 request, in a task of its own: should s3s or s3s-fs panic on some
/// request, that one request gets a 500 and everything else goes on.
async fn s3_call(services: Arc<Services>, request: Request<Incoming>) -> Response<Body> {
    let call = tokio::spawn(async move { services.s3.call(request.map(s3s::Body::from)).await });
    let failure = match call.await {
        Ok(Ok(response)) => return response.map(Body::new),
        Ok(Err(err)) => format!("{err:?}"),
        Err(err) => format!("the request panicked: {err}"),
    };
    tracing::error!("S3 request failed: {failure}");
    let mut response = Response::new(Body::from("internal error in the S3 emulator"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

fn health() -> Response<Body> {
    let body = serde_json::json!({
        "emulator": "kinesis-lab",
        "version": env!("CARGO_PKG_VERSION"),
        "services": {"kinesis": "running", "firehose": "running", "s3": "running", "sts": "running", "dynamodb": "running", "logs": "running", "cloudwatch": "running"},
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a static response is valid")
}
