//! Checks of request members against the constraints of Firehose's API model.
//!
//! The AWS CLI and boto3 check only that required members are there; the Rust
//! SDK checks nothing. So lengths, patterns, ranges and enum values must be
//! checked here, and a violation is worded as AWS words it:
//! `1 validation error detected: Value 'x' at 'deliveryStreamName' failed to
//! satisfy constraint: Member must satisfy regular expression pattern: ...`.
//! Member paths are lowerCamel, as in AWS's messages.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::FirehoseError;

pub type Object = Map<String, Value>;

pub const STREAM_NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";
pub const ROLE_ARN_PATTERN: &str = r"arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+";
pub const BUCKET_ARN_PATTERN: &str = r"arn:.*:s3:::[\w\.\-]{1,255}";
pub const KINESIS_STREAM_ARN_PATTERN: &str = r"arn:.*:kinesis:[a-zA-Z0-9\-]+:\d{12}:stream/[a-zA-Z0-9_.-]+";

/// A pattern of the API model, anchored as Smithy anchors them.
///
/// The model's patterns are Java's, where `\w` and `\d` are ASCII; in the regex
/// crate they are Unicode (and `[\w]{1,255}` compiles to more than its size
/// limit), so they are spelled out.
pub fn anchored(pattern: &str) -> Regex {
    let ascii = pattern.replace(r"\w", "a-zA-Z0-9_").replace(r"\d", "[0-9]");
    Regex::new(&format!("^(?:{ascii})$")).expect("the model's patterns are valid")
}

static STREAM_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(STREAM_NAME_PATTERN));

/// The request body: a JSON object.
pub fn body(input: Value) -> Result<Object, FirehoseError> {
    match input {
        Value::Object(object) => Ok(object),
        _ => Err(FirehoseError::serialization(
            "the request body must be a JSON object",
        )),
    }
}

/// A member that must be a string, if present.
pub fn opt_str<'a>(object: &'a Object, key: &str, member: &str) -> Result<Option<&'a str>, FirehoseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(FirehoseError::serialization(format!("{member} must be a string"))),
    }
}

pub fn req_str<'a>(object: &'a Object, key: &str, member: &str) -> Result<&'a str, FirehoseError> {
    opt_str(object, key, member)?.ok_or_else(|| FirehoseError::missing(member))
}

pub fn opt_object<'a>(
    object: &'a Object,
    key: &str,
    member: &str,
) -> Result<Option<&'a Object>, FirehoseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(FirehoseError::serialization(format!(
            "{member} must be a structure"
        ))),
    }
}

pub fn opt_int(object: &Object, key: &str, member: &str) -> Result<Option<i64>, FirehoseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| FirehoseError::serialization(format!("{member} must be an integer"))),
    }
}

pub fn opt_bool(object: &Object, key: &str, member: &str) -> Result<Option<bool>, FirehoseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(FirehoseError::serialization(format!(
            "{member} must be a boolean"
        ))),
    }
}

pub fn length(member: &str, value: &str, min: usize, max: usize) -> Result<(), FirehoseError> {
    let len = value.chars().count();
    if len < min {
        return Err(FirehoseError::validation(
            member,
            value,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(FirehoseError::validation(
            member,
            value,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

pub fn pattern(member: &str, value: &str, regex: &Regex, text: &str) -> Result<(), FirehoseError> {
    if regex.is_match(value) {
        Ok(())
    } else {
        Err(FirehoseError::validation(
            member,
            value,
            &format!("Member must satisfy regular expression pattern: {text}"),
        ))
    }
}

pub fn range(member: &str, value: i64, min: i64, max: i64) -> Result<(), FirehoseError> {
    let shown = value.to_string();
    if value < min {
        return Err(FirehoseError::validation(
            member,
            &shown,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(FirehoseError::validation(
            member,
            &shown,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

pub fn one_of<'a>(member: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str, FirehoseError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(FirehoseError::validation(
            member,
            value,
            &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
        ))
    }
}

/// A delivery stream name: 1 to 64 characters of `[a-zA-Z0-9_.-]`.
pub fn delivery_stream_name<'a>(object: &'a Object, member: &str) -> Result<&'a str, FirehoseError> {
    let name = req_str(object, "DeliveryStreamName", member)?;
    length(member, name, 1, 64)?;
    pattern(member, name, &STREAM_NAME, STREAM_NAME_PATTERN)?;
    Ok(name)
}

/// The kinds of delivery stream AWS knows (this emulator creates the first two).
pub const DELIVERY_STREAM_TYPES: [&str; 4] = [
    "DirectPut",
    "KinesisStreamAsSource",
    "MSKAsSource",
    "DatabaseAsSource",
];

/// The optional `DeliveryStreamType` member, checked against AWS's values.
pub fn delivery_stream_type(object: &Object) -> Result<Option<&str>, FirehoseError> {
    opt_str(object, "DeliveryStreamType", "deliveryStreamType")?
        .map(|kind| one_of("deliveryStreamType", kind, &DELIVERY_STREAM_TYPES))
        .transpose()
}
