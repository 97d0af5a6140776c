//! CloudWatch's three wire protocols, as the current SDKs send them (each
//! SDK picks from the service model's list, `protocols: [smithy-rpc-v2-cbor,
//! json, query]`):
//! - Smithy RPC v2 CBOR: `POST /service/GraniteServiceVersion20100801/operation/<Op>`,
//!   `smithy-protocol: rpc-v2-cbor`, CBOR bodies, timestamps as tag 1. The SDK
//!   for Rust (aws-sdk-cloudwatch 1.140) and the KCL's Rust port send this.
//! - AWS JSON 1.0: `X-Amz-Target: GraniteServiceVersion20100801.<Op>`,
//!   timestamps as epoch seconds. botocore prefers it over CBOR (its order:
//!   json, rest-json, rest-xml, smithy-rpc-v2-cbor, query), so boto3 and the
//!   AWS CLI 1.45 send this.
//! - The query protocol: a form-encoded `POST /` with `Action=<Op>`, lists as
//!   `Member.member.N`, answered in XML. Older SDKs send this, and the
//!   endpoint tells it from STS's by the credential scope (`monitoring`).
//!
//! Each request is turned into the same JSON value (member names as the model
//! spells them) for the actions, and each answer ([`Out`]) is written back in
//! the protocol it came in. The JSON and CBOR forms are "query compatible" as
//! the model says: errors carry the query protocol's code in
//! `x-amzn-query-error`, which is what the SDKs report.

use axum::body::Body;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{Response, StatusCode, header};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Number, Value};

use super::error::CloudWatchError;

pub const NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
pub const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Cbor,
    Json,
    Query,
}

/// An answer, before it is written in a protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Map(Vec<(&'static str, Out)>),
    List(Vec<Out>),
    Str(String),
    Num(f64),
    /// Seconds since the epoch.
    Time(i64),
}

/// A request body in `protocol`, as the JSON value the actions read.
pub fn decode(protocol: Protocol, body: &[u8]) -> Result<Value, CloudWatchError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match protocol {
        Protocol::Json => serde_json::from_slice(body).map_err(|err| {
            CloudWatchError::serialization(format!("the request body is not valid JSON: {err}"))
        }),
        Protocol::Cbor => {
            let value: ciborium::Value = ciborium::from_reader(body).map_err(|err| {
                CloudWatchError::serialization(format!("the request body is not valid CBOR: {err}"))
            })?;
            cbor_to_json(value)
        }
        Protocol::Query => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|err| {
                CloudWatchError::serialization(format!("the request body is not a form: {err}"))
            })?;
            Ok(query_to_json(&pairs))
        }
    }
}

fn cbor_to_json(value: ciborium::Value) -> Result<Value, CloudWatchError> {
    use ciborium::Value as C;
    Ok(match value {
        C::Integer(n) => Value::from(i128::from(n) as f64),
        C::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Text(text) => Value::String(text),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Bytes(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        // Tag 1: a timestamp, in epoch seconds as JSON 1.0 sends them.
        C::Tag(_, inner) => cbor_to_json(*inner)?,
        C::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        C::Map(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let C::Text(key) = key else {
                    return Err(CloudWatchError::serialization("a CBOR map key is not text"));
                };
                object.insert(key, cbor_to_json(value)?);
            }
            Value::Object(object)
        }
        _ => return Err(CloudWatchError::serialization("an unexpected CBOR value")),
    })
}

/// `A.member.1.B=x` becomes `{"A": [{"B": "x"}]}`; values stay strings (the
/// actions read numbers and timestamps from strings too).
fn query_to_json(pairs: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        let mut node = &mut root;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            let next_is_index = parts.peek() == Some(&"member");
            if part == "member" {
                continue;
            }
            if let Ok(index) = part.parse::<usize>() {
                let Value::Array(items) = node else { break };
                let index = index.saturating_sub(1);
                while items.len() <= index {
                    items.push(Value::Object(Map::new()));
                }
                node = &mut items[index];
                if last {
                    *node = Value::String(value.clone());
                }
                continue;
            }
            let Value::Object(object) = node else { break };
            if last {
                object.insert(part.to_owned(), Value::String(value.clone()));
                break;
            }
            let empty = if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
            node = object.entry(part.to_owned()).or_insert(empty);
        }
    }
    root
}

/// A successful answer to `operation` in `protocol`.
pub fn respond(protocol: Protocol, operation: &str, out: Out) -> Response<Body> {
    match protocol {
        Protocol::Json => response(
            StatusCode::OK,
            "application/x-amz-json-1.0",
            to_json(&out).to_string().into(),
        ),
        Protocol::Cbor => {
            let mut bytes = Vec::new();
            ciborium::into_writer(&to_cbor(&out), &mut bytes).expect("CBOR encodes into memory");
            cbor_response(StatusCode::OK, bytes)
        }
        Protocol::Query => {
            let mut writer = Writer::new(Vec::new());
            let root = format!("{operation}Response");
            let result = format!("{operation}Result");
            write_event(
                &mut writer,
                Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
            );
            write_event(
                &mut writer,
                Event::Start(BytesStart::new(root.as_str()).with_attributes([("xmlns", NAMESPACE)])),
            );
            write_event(&mut writer, Event::Start(BytesStart::new(result.as_str())));
            if let Out::Map(fields) = &out {
                for (name, value) in fields {
                    to_xml(&mut writer, name, value);
                }
            }
            write_event(&mut writer, Event::End(BytesEnd::new(result.as_str())));
            to_xml(
                &mut writer,
                "ResponseMetadata",
                &Out::Map(vec![("RequestId", Out::Str(uuid::Uuid::new_v4().to_string()))]),
            );
            write_event(&mut writer, Event::End(BytesEnd::new(root.as_str())));
            response(StatusCode::OK, "text/xml", writer.into_inner())
        }
    }
}

/// An error in `protocol`'s shape.
pub fn error(protocol: Protocol, error: &CloudWatchError) -> Response<Body> {
    let status = error.status();
    let query_error = format!("{};{}", error.code, error.fault());
    match protocol {
        Protocol::Query => {
            let mut writer = Writer::new(Vec::new());
            write_event(
                &mut writer,
                Event::Start(BytesStart::new("ErrorResponse").with_attributes([("xmlns", NAMESPACE)])),
            );
            to_xml(
                &mut writer,
                "Error",
                &Out::Map(vec![
                    ("Type", Out::Str(error.fault().to_owned())),
                    ("Code", Out::Str(error.code.to_owned())),
                    ("Message", Out::Str(error.message.clone())),
                ]),
            );
            to_xml(
                &mut writer,
                "RequestId",
                &Out::Str(uuid::Uuid::new_v4().to_string()),
            );
            write_event(&mut writer, Event::End(BytesEnd::new("ErrorResponse")));
            response(status, "text/xml", writer.into_inner())
        }
        Protocol::Json => {
            let body = serde_json::json!({"__type": error.shape_type(), "message": error.message});
            let mut response = response(status, "application/x-amz-json-1.0", body.to_string().into());
            add_header(&mut response, "x-amzn-query-error", &query_error);
            response
        }
        Protocol::Cbor => {
            let body = ciborium::Value::Map(vec![
                ("__type".into(), error.shape_type().into()),
                ("message".into(), error.message.clone().into()),
            ]);
            let mut bytes = Vec::new();
            ciborium::into_writer(&body, &mut bytes).expect("CBOR encodes into memory");
            let mut response = cbor_response(status, bytes);
            add_header(&mut response, "x-amzn-query-error", &query_error);
            response
        }
    }
}

fn add_header(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("a response with static headers is valid")
}

fn cbor_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = response(status, "application/cbor", body);
    add_header(&mut response, "smithy-protocol", "rpc-v2-cbor");
    response
}

fn to_json(out: &Out) -> Value {
    match out {
        Out::Map(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_json(v)))
                .collect(),
        ),
        Out::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Out::Str(text) => Value::String(text.clone()),
        Out::Num(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Out::Time(seconds) => Value::from(*seconds),
    }
}

fn to_cbor(out: &Out) -> ciborium::Value {
    use ciborium::Value as C;
    match out {
        Out::Map(fields) => C::Map(
            fields
                .iter()
                .map(|(k, v)| (C::Text((*k).to_owned()), to_cbor(v)))
                .collect(),
        ),
        Out::List(items) => C::Array(items.iter().map(to_cbor).collect()),
        Out::Str(text) => C::Text(text.clone()),
        Out::Num(n) => C::Float(*n),
        // RPC v2 CBOR's timestamps: tag 1 around epoch seconds.
        Out::Time(seconds) => C::Tag(1, Box::new(C::Integer((*seconds).into()))),
    }
}

fn to_xml(writer: &mut Writer<Vec<u8>>, name: &str, out: &Out) {
    write_event(writer, Event::Start(BytesStart::new(name)));
    match out {
        Out::Map(fields) => {
            for (field, value) in fields {
                to_xml(writer, field, value);
            }
        }
        Out::List(items) => {
            for item in items {
                to_xml(writer, "member", item);
            }
        }
        Out::Str(text) => write_event(writer, Event::Text(BytesText::new(text))),
        Out::Num(n) => write_event(writer, Event::Text(BytesText::new(&n.to_string()))),
        Out::Time(seconds) => {
            let at = DateTime::<Utc>::from_timestamp(*seconds, 0).unwrap_or_default();
            write_event(
                writer,
                Event::Text(BytesText::new(&at.to_rfc3339_opts(SecondsFormat::Secs, true))),
            );
        }
    }
    write_event(writer, Event::End(BytesEnd::new(name)));
}

fn write_event(writer: &mut Writer<Vec<u8>>, event: Event<'_>) {
    writer.write_event(event).expect("XML writes into memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_become_arrays() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(
            "Action=PutMetricData&Namespace=App&MetricData.member.1.MetricName=m&MetricData.member.1.Value=2.5\
             &MetricData.member.1.Dimensions.member.1.Name=Host&MetricData.member.1.Dimensions.member.1.Value=a\
             &MetricData.member.2.MetricName=n&Statistics.member.1=Sum",
        )
        .unwrap();
        let value = query_to_json(&pairs);
        assert_eq!(value["MetricData"][0]["MetricName"], "m");
        assert_eq!(value["MetricData"][0]["Value"], "2.5");
        assert_eq!(value["MetricData"][0]["Dimensions"][0]["Value"], "a");
        assert_eq!(value["MetricData"][1]["MetricName"], "n");
        assert_eq!(value["Statistics"][0], "Sum");
    }

    #[test]
    fn cbor_timestamps_are_epoch_seconds() {
        let input = ciborium::Value::Map(vec![(
            "StartTime".into(),
            ciborium::Value::Tag(1, Box::new(ciborium::Value::Float(1700000000.5))),
        )]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&input, &mut bytes).unwrap();
        assert_eq!(decode(Protocol::Cbor, &bytes).unwrap()["StartTime"], 1700000000.5);
    }
}
