//! Errors in the shape of AWS's JSON protocols: `{"__type": ..., "message": ...}`.
//!
//! The SDKs read the error's type from `__type` (and from the
//! `x-amzn-ErrorType` header, which we send too), so that a client can branch on
//! `ResourceInUseException` exactly as it would against AWS.

use axum::body::Body;
use http::{Response, StatusCode, header};

pub const JSON_1_1: &str = "application/x-amz-json-1.1";

pub fn response(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"__type": error_type, "message": message});
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON_1_1)
        .header("x-amzn-ErrorType", error_type)
        .body(Body::from(body.to_string()))
        .expect("an error response is valid")
}
