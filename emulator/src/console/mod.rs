//! The console: the emulator's pipeline to look at, in a browser, at
//! `/_console/` on the emulator's own port (no bucket name starts with `_`,
//! so the path never hides an S3 request).
//!
//! It serves the lab's console steps (1.1: "Create data stream"; the end of
//! part 2: looking in the buckets) and what learners watch while records flow:
//! - [`pipeline`]: the home page, part 2's streams, delivery streams and
//!   buckets as a picture, and part 1's stream;
//! - [`streams`]: the data streams, one stream's shards and newest records,
//!   and the "Create data stream" form;
//! - [`firehose`]: each delivery stream's settings and its buffer now;
//! - [`s3`]: buckets, objects, and an object's records one by one;
//! - [`leases`]: the ETL workers' lease tables: who reads which shard, and how
//!   far behind.
//!
//! Pages are HTML made on the server ([maud] escapes everything it
//! interpolates: record contents are untrusted) and reload themselves every
//! few seconds where they show something live; there is no script at all.
//! Like the endpoint, the console answers on loopback only, and [`guard`]
//! refuses requests whose `Host` is not a loopback name (DNS rebinding) and
//! state changes that are not a POST from the console's own pages.
//!
//! The console reads through the official SDK clients, like any client of
//! the endpoint; only Firehose's buffers, which no API shows, come from the
//! delivery streams themselves.

mod chart;
pub mod firehose;
mod guard;
pub use guard::ConsoleHost;
pub mod leases;
pub mod pipeline;
pub mod s3;
pub mod streams;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use maud::{DOCTYPE, Markup, html};

use crate::clients::Clients;
use crate::firehose::Firehose;
use axum::body::Body;

/// Where the console lives on the endpoint.
pub const PATH: &str = "/_console";

/// What the pages read from.
pub struct Console<'a> {
    pub clients: &'a Clients,
    pub firehose: &'a Firehose,
    /// What each stream takes in, second by second (for the charts).
    pub metrics: &'a crate::kinesis::metrics::Metrics,
    /// The names it answers to besides loopback's (`Config::console_hosts`).
    pub hosts: &'a [ConsoleHost],
}

/// Whether a request is for the console.
pub fn is_console(path: &str) -> bool {
    path == PATH || path.starts_with("/_console/")
}

/// Answers one console request.
pub async fn handle(console: Console<'_>, request: Request<Incoming>) -> Response<Body> {
    if let Err(refusal) = guard::check(&request, console.hosts) {
        return refusal.into_response();
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let form = match method {
        Method::POST => match request.into_body().collect().await {
            Ok(body) => form(&body.to_bytes()),
            Err(_) => return error(StatusCode::BAD_REQUEST, "the form could not be read"),
        },
        _ => Vec::new(),
    };
    let rest = path
        .strip_prefix(PATH)
        .unwrap_or_default()
        .trim_start_matches('/');
    let segments: Vec<String> = rest
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (&method, segments.as_slice()) {
        (&Method::GET, []) => pipeline::page(&console).await,
        (&Method::GET, ["streams"]) => streams::list(&console, None).await,
        (&Method::POST, ["streams"]) => streams::create(&console, &form).await,
        (&Method::GET, ["streams", name]) => streams::detail(&console, name).await,
        (&Method::POST, ["streams", name, "delete"]) => streams::delete(&console, name).await,
        (&Method::GET, ["firehose"]) => firehose::page(&console).await,
        (&Method::GET, ["leases"]) => leases::page(&console).await,
        (&Method::GET, ["s3"]) => s3::buckets(&console).await,
        (&Method::GET, ["s3", bucket]) => s3::objects(&console, bucket, &query).await,
        (&Method::GET, ["s3", bucket, key @ ..]) => {
            s3::object(&console, bucket, &key.join("/"), &query).await
        }
        (&Method::GET | &Method::POST, _) => {
            Err(Refusal::new(StatusCode::NOT_FOUND, "no such page in the console"))
        }
        _ => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console takes GET, and POST from its forms",
        )),
    };
    result.unwrap_or_else(Refusal::into_response)
}

/// A page's answer, or why there is none.
pub type Page = Result<Response<Body>, Refusal>;

/// Why a page cannot be shown: its status and a sentence for the person.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response<Body> {
        error(self.status, &self.message)
    }
}

/// The fields of a submitted form.
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The value of one form field.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A whole page: the navigation, the title and `content`. `refresh` reloads
/// it every so many seconds, for pages that show something live.
pub fn layout(title: &str, refresh: Option<u32>, content: Markup) -> Response<Body> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · kinesis-lab console" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                nav {
                    strong { "kinesis-lab console" }
                    a href="/_console/" { "Pipeline" }
                    a href="/_console/streams" { "Data streams" }
                    a href="/_console/firehose" { "Firehose" }
                    a href="/_console/s3" { "S3" }
                    a href="/_console/leases" { "Leases" }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    respond(StatusCode::OK, page)
}

/// An HTML response, with headers that keep the page to itself: no script,
/// no frame, no form sent anywhere but here.
pub fn respond(status: StatusCode, page: Markup) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(page.into_string()))
        .expect("a valid response")
}

/// An error page that says what went wrong.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (status.as_str()) " · kinesis-lab console" } }
            body {
                h1 { (status.as_str()) " " (status.canonical_reason().unwrap_or_default()) }
                p { (message) }
                p { a href="/_console/" { "Back to the pipeline" } }
            }
        }
    };
    respond(status, page)
}

/// After a form: the page to look at next (303, so that a reload does not
/// send the form again).
pub fn see_other(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .body(Body::empty())
        .expect("a valid response")
}

/// What a path segment keeps as it is: letters, digits and `-._~`, which
/// need no escaping in a URL.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment for a link: a stream name, a bucket, a key's part.
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0; color: #16191f; background: #f2f3f3; }
nav { background: #232f3e; padding: 0.6em 1.2em; display: flex; gap: 1.5em; align-items: center; }
nav strong { color: #ff9900; } nav a { color: #fff; text-decoration: none; }
main { padding: 1em 2em; }
table { border-collapse: collapse; background: #fff; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #d5dbdb; padding: 0.35em 0.7em; text-align: left; vertical-align: top; }
th { background: #fafafa; }
pre { background: #fff; border: 1px solid #d5dbdb; padding: 0.6em; overflow-x: auto; margin: 0.3em 0; }
.pipeline { display: flex; align-items: center; gap: 0.5em; margin: 1em 0; overflow-x: auto; }
.chain { display: flex; align-items: center; gap: 0.5em; flex-wrap: nowrap; }
.column { display: flex; flex-direction: column; gap: 0.8em; }
.box { background: #fff; border: 2px solid #879596; border-radius: 6px; padding: 0.5em 0.8em; min-width: 13em; }
.box.stream { border-color: #8c4fff; } .box.firehose { border-color: #e7157b; } .box.bucket { border-color: #3f8624; }
.box .kind { font-size: 0.75em; text-transform: uppercase; color: #545b64; }
.arrow { font-size: 1.8em; color: #545b64; }
.state-ACTIVE { color: #1d8102; } .state-CREATING, .state-UPDATING, .state-DELETING { color: #d45b07; }
.muted { color: #687078; }
form.create { background: #fff; border: 1px solid #d5dbdb; padding: 1em; max-width: 32em; }
form.create label { display: block; margin: 0.6em 0 0.2em; font-weight: 600; }
button { background: #ff9900; border: 1px solid #ec7211; padding: 0.4em 1em; font-weight: 600; cursor: pointer; }
button.danger { background: #fff; border-color: #d13212; color: #d13212; }
.error { color: #d13212; }
";
