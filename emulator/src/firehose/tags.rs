//! A delivery stream's tags, checked as AWS checks them, at creation
//! (`Tags`) and by TagDeliveryStream.
//!
//! AWS's rules: at most 50 tags a stream; a key of 1 to 128 characters and a
//! value of up to 256, both letters, digits, spaces and `_ . : / = + - @ %`;
//! keys starting with `aws:` are AWS's own.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::error::FirehoseError;
use super::validate::{self, Object};

/// The most tags one delivery stream carries.
pub const MAX_TAGS: usize = 50;

const TAG_PATTERN: &str = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@%]*$";
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(TAG_PATTERN).expect("a valid pattern"));

pub type Tags = BTreeMap<String, String>;

/// The `Tags` list at `key` of a request (`[{"Key": ..., "Value": ...}]`),
/// checked; `None` when absent. `member` names it in errors.
pub fn parse(input: &Object, key: &str, member: &str) -> Result<Option<Tags>, FirehoseError> {
    let list = match input.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(FirehoseError::serialization(format!("{member} must be a list"))),
    };
    if list.is_empty() || list.len() > MAX_TAGS {
        return Err(FirehoseError::validation(
            member,
            &format!("[{} tags]", list.len()),
            &format!("Member must have length between 1 and {MAX_TAGS}"),
        ));
    }
    let mut tags = Tags::new();
    for (index, tag) in list.iter().enumerate() {
        let at = |field: &str| format!("{member}.{}.member.{field}", index + 1);
        let Value::Object(tag) = tag else {
            return Err(FirehoseError::serialization(format!(
                "{member}.{} must be a structure",
                index + 1
            )));
        };
        let key = validate::req_str(tag, "Key", &at("key"))?;
        check_key(key, &at("key"))?;
        let value = validate::opt_str(tag, "Value", &at("value"))?.unwrap_or("");
        validate::length(&at("value"), value, 0, 256)?;
        if !TAG.is_match(value) {
            return Err(pattern(&at("value"), value));
        }
        tags.insert(key.to_owned(), value.to_owned());
    }
    Ok(Some(tags))
}

/// A tag key: 1 to 128 characters of the allowed ones, not AWS's own prefix.
pub fn check_key(key: &str, member: &str) -> Result<(), FirehoseError> {
    validate::length(member, key, 1, 128)?;
    if !TAG.is_match(key) {
        return Err(pattern(member, key));
    }
    if key.starts_with("aws:") {
        return Err(FirehoseError::invalid_argument(format!(
            "Tag key {key} is invalid: keys starting with aws: are reserved for AWS's use"
        )));
    }
    Ok(())
}

/// `existing` with `added` merged in, refused if the result passes the limit.
pub fn merged(existing: &Tags, added: Tags, stream: &str) -> Result<Tags, FirehoseError> {
    let mut all = existing.clone();
    all.extend(added);
    if all.len() > MAX_TAGS {
        return Err(FirehoseError::limit_exceeded(format!(
            "Firehose {stream} would have {} tags; a delivery stream has at most {MAX_TAGS}",
            all.len()
        )));
    }
    Ok(all)
}

/// Tags as the API lists them.
pub fn to_json<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Array(
        tags.into_iter()
            .map(|(key, value)| json!({"Key": key, "Value": value}))
            .collect(),
    )
}

fn pattern(member: &str, value: &str) -> FirehoseError {
    FirehoseError::validation(
        member,
        value,
        &format!("Member must satisfy regular expression pattern: {TAG_PATTERN}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(tags: Value) -> Object {
        json!({"Tags": tags}).as_object().unwrap().clone()
    }

    #[test]
    fn tags_follow_aws_rules() {
        let ok = input(json!([{"Key": "course", "Value": "data engineering"}, {"Key": "lab"}]));
        let tags = parse(&ok, "Tags", "tags").unwrap().unwrap();
        assert_eq!(tags["lab"], "");
        for bad in [
            json!([]),
            json!([{"Key": ""}]),
            json!([{"Key": "k".repeat(129)}]),
            json!([{"Key": "k", "Value": "v".repeat(257)}]),
            json!([{"Key": "semi;colon"}]),
            json!([{"Key": "aws:reserved"}]),
            json!(
                (0..51)
                    .map(|i| json!({"Key": format!("k{i}")}))
                    .collect::<Vec<_>>()
            ),
        ] {
            assert!(parse(&input(bad.clone()), "Tags", "tags").is_err(), "{bad}");
        }
    }

    #[test]
    fn merging_past_fifty_is_refused() {
        let existing: Tags = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        let again: Tags = [("k1".to_owned(), "v".to_owned())].into();
        assert_eq!(merged(&existing, again, "s").unwrap()["k1"], "v");
        let more: Tags = [("new".to_owned(), String::new())].into();
        assert!(merged(&existing, more, "s").is_err());
    }
}
