//! STS, just enough of it: `GetCallerIdentity`, which lab code calls to learn its
//! account id (the buckets are named after it), as on AWS and LocalStack.
//!
//! STS speaks AWS's Query protocol: a form-encoded POST to `/` naming the
//! `Action`, answered in XML. No S3 request looks like that, so the dispatcher
//! can tell them apart without a target header.

use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// True for a request in STS's Query protocol.
pub fn is_sts(request: &Request<Incoming>) -> bool {
    request.method() == http::Method::POST
        && request.uri().path() == "/"
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

pub async fn handle(account_id: &str, request: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(request.into_body(), 64 * 1024).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "the request body could not be read",
            );
        }
    };
    let action = form_value(&body, "Action");
    match action.as_deref() {
        Some("GetCallerIdentity") => xml(
            StatusCode::OK,
            &format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <GetCallerIdentityResult><Arn>arn:aws:iam::{account_id}:root</Arn>\
                 <UserId>{account_id}</UserId><Account>{account_id}</Account></GetCallerIdentityResult>\
                 <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                uuid::Uuid::new_v4()
            ),
        ),
        Some(other) => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("the kinesis-lab emulator implements only STS GetCallerIdentity, not {other}"),
        ),
        None => error(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "the request names no Action",
        ),
    }
}

/// One field of a form-encoded body; the values we look for need no decoding.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

/// An error in the query protocol's XML shape (`ErrorResponse`), as STS and
/// every other query-protocol service answers one.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    xml(
        status,
        &format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            uuid::Uuid::new_v4()
        ),
    )
}

fn xml(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from(body.to_owned()))
        .expect("an XML response is valid")
}
