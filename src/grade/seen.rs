//! Whether a record shows up in what a program wrote: lab step 1.5's "watch
//! the consumer print them", judged on the consumer's words, whichever they are.
//!
//! Learners print a record in many ways. The lab's own consumer "decodes and
//! logs each record" with Python's `logging`, which writes to standard error;
//! others print boto3's record dict, the session pretty-printed, or only the
//! sequence number. So a record counts as seen when any one of these is in
//! what the program wrote, on standard output or standard error:
//!
//! - its session_id, its partition key or its sequence number, as a word of
//!   its own (`a1` inside a UUID, a shard iterator or a longer number is not
//!   the session `a1`), when it is 8 characters or more;
//! - its data, the very bytes that were put, as text;
//! - its data as JSON, however it is spaced or indented (`json.dumps(...,
//!   indent=2)`), or as a Python `dict` (`print(json.loads(data))`), compared
//!   as JSON values.
//!
//! A short id, key or sequence number (the lab's example record is `a1`; a
//! producer may key every record with `1`) is a word that any line may hold
//! by chance: `got 1 records` is not a sign of the record keyed `1`. So it
//! counts only with the record's data or its JSON beside it, which are signs
//! of their own: a short token alone shows nothing.
//!
//! A boto3 record dict (`print(record)`) holds the data as a Python `bytes`
//! repr, the very bytes when they are ASCII, and a session's UUID as a word.

use serde::Serialize;
use serde_json::Value;

use crate::shard_reader::ReadRecord;

/// What a program wrote, ready to be searched for records.
#[derive(Debug)]
pub struct Written<'a> {
    text: &'a str,
    /// Every JSON object that starts somewhere in the text, nested ones too.
    objects: Vec<Value>,
}

/// How a record was recognised in what a program wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    SessionId,
    PartitionKey,
    SequenceNumber,
    Data,
    Json,
}

/// Ids, keys and sequence numbers shorter than this are not signs on their
/// own: they show up in counts, times and other ids by chance.
const SHORTEST_TOKEN: usize = 8;

impl<'a> Written<'a> {
    pub fn new(text: &'a str) -> Written<'a> {
        let mut objects = Vec::new();
        collect_objects_in(text, &mut objects);
        // Python dicts, read as JSON: `print(json.loads(data))` shows a
        // session this way. A simplified reading (quotes swapped, Python's
        // constants renamed), which misses a string with a quote in it: a
        // record missed that way is still seen by any other sign.
        if text.contains("{'") {
            collect_objects_in(&python_as_json(text), &mut objects);
        }
        Written { text, objects }
    }

    /// The first sign of `record` in the text, if there is one.
    pub fn shows(&self, record: &ReadRecord) -> Option<Sign> {
        let data: Option<Value> = serde_json::from_slice(&record.data).ok();
        let session_id = match data.as_ref().and_then(|data| data.get("session_id")) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(id @ Value::Number(_)) => Some(id.to_string()),
            _ => None,
        };
        let token = |word: &str| word.chars().count() >= SHORTEST_TOKEN && has_word(self.text, word);
        if session_id.is_some_and(|id| token(&id)) {
            return Some(Sign::SessionId);
        }
        if token(&record.partition_key) {
            return Some(Sign::PartitionKey);
        }
        if token(&record.sequence_number) {
            return Some(Sign::SequenceNumber);
        }
        if std::str::from_utf8(&record.data).is_ok_and(|data| has_word(self.text, data)) {
            return Some(Sign::Data);
        }
        match data {
            Some(data @ Value::Object(_)) if self.objects.contains(&data) => Some(Sign::Json),
            _ => None,
        }
    }
}

/// Every JSON object that starts somewhere in `text`, nested ones too.
fn collect_objects_in(text: &str, objects: &mut Vec<Value>) {
    let mut from = 0;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                // Past the whole value: its nested objects are collected
                // from it, not parsed again from the text.
                from = start + values.byte_offset();
                collect_objects(value, objects);
            }
            _ => from = start + 1,
        }
    }
}

/// `text` with Python's literals as JSON's: single quotes as double ones,
/// `True`, `False` and `None` as `true`, `false` and `null`.
fn python_as_json(text: &str) -> String {
    let swapped = text.replace('\'', "\"");
    let mut json = String::with_capacity(swapped.len());
    let mut rest = swapped.as_str();
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        json.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        json.push_str(match &rest[..end] {
            "True" => "true",
            "False" => "false",
            "None" => "null",
            word => word,
        });
        rest = &rest[end..];
    }
    json.push_str(rest);
    json
}

fn collect_objects(value: Value, into: &mut Vec<Value>) {
    match value {
        Value::Object(ref map) => {
            for nested in map.values() {
                collect_objects(nested.clone(), into);
            }
            into.push(value);
        }
        Value::Array(items) => items.into_iter().for_each(|item| collect_objects(item, into)),
        _ => {}
    }
}

/// Whether `word` is in `text` with no letter, digit, `-` or `_` right
/// before or after it.
fn has_word(text: &str, word: &str) -> bool {
    let part_of_a_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    !word.is_empty()
        && text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(part_of_a_word) && !after.is_some_and(part_of_a_word)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"session_id": "a1", "customer_number": 100, "city": "Washington", "country": "USA", "credit_limit": 1000, "browse_history": [{"product_code": "Product1", "quantity": 2, "in_shopping_cart": true}]}"#;
    const SEQUENCE: &str = "49654321012345678901234567890123456789012345678901234562";

    fn record(data: &str) -> ReadRecord {
        ReadRecord {
            shard_id: "shardId-000000000002".into(),
            sequence_number: SEQUENCE.into(),
            sub_sequence: None,
            completes_record: true,
            partition_key: "a1".into(),
            data: data.as_bytes().to_vec(),
            arrival: None,
            aggregate_error: None,
        }
    }

    fn sign(written: &str) -> Option<Sign> {
        Written::new(written).shows(&record(EXAMPLE))
    }

    #[test]
    fn the_labs_logging_line_on_standard_error_shows_the_record() {
        let line = format!(
            "INFO Read record {SEQUENCE} from shard shardId-000000000002 partition key a1: {EXAMPLE}\n"
        );
        assert_eq!(sign(&line), Some(Sign::SequenceNumber));
    }

    #[test]
    fn boto3s_record_dict_shows_the_record() {
        let line = format!(
            "{{'SequenceNumber': '{SEQUENCE}', 'ApproximateArrivalTimestamp': datetime.datetime(2026, 12, 6, 20, 0, \
             tzinfo=tzlocal()), 'Data': b'{EXAMPLE}', 'PartitionKey': 'a1'}}"
        );
        assert_eq!(sign(&line), Some(Sign::SequenceNumber));
    }

    #[test]
    fn a_python_dict_of_the_session_shows_it() {
        let line = "{'session_id': 'a1', 'customer_number': 100, 'city': 'Washington', 'country': 'USA', \
                    'credit_limit': 1000, 'browse_history': [{'product_code': 'Product1', 'quantity': 2, \
                    'in_shopping_cart': True}]}";
        assert_eq!(sign(line), Some(Sign::Json));
        // Part of the session, with its short id, is not the session.
        assert_eq!(sign("{'session_id': 'a1', 'customer_number': 100}"), None);
    }

    #[test]
    fn the_sequence_number_alone_shows_the_record() {
        assert_eq!(sign(&format!("{SEQUENCE}\n")), Some(Sign::SequenceNumber));
        // Inside a longer number it is another number.
        assert_eq!(sign(&format!("7{SEQUENCE}\n")), None);
    }

    #[test]
    fn an_id_inside_a_longer_word_is_not_the_id() {
        let uuids = "2f0a1c3e-a1b2-4c5d-9e8f-0123456789a1x shardId-000000000001 AAAAa1AAAA\n";
        assert_eq!(sign(uuids), None);
    }

    #[test]
    fn the_partition_key_shows_a_record_whose_data_is_not_json() {
        let mut other = record("plain text, not a session");
        other.partition_key = "customer-7".into();
        assert_eq!(
            Written::new("got one for customer-7").shows(&other),
            Some(Sign::PartitionKey)
        );
        assert_eq!(
            Written::new("got: plain text, not a session").shows(&other),
            Some(Sign::Data)
        );
        assert_eq!(Written::new("got one for customer-77").shows(&other), None);
    }

    #[test]
    fn the_data_as_json_with_any_spacing_shows_the_record() {
        // A record whose id and key are nowhere in the text: found by its value.
        let mut anonymous = record(r#"{"customer_number": 100, "browse_history": [{"quantity": 2}]}"#);
        anonymous.partition_key = "k-0001".into();
        anonymous.sequence_number = "1".into();
        let pretty = "record:\n{\n  \"customer_number\": 100,\n  \"browse_history\": [\n    {\n      \"quantity\": 2\n    }\n  ]\n}\n";
        assert_eq!(Written::new(pretty).shows(&anonymous), Some(Sign::Json));
        let nested =
            r#"{"shard": "x", "record": {"browse_history": [{"quantity": 2}], "customer_number": 100}}"#;
        assert_eq!(Written::new(nested).shows(&anonymous), Some(Sign::Json));
        let other_value = r#"{"customer_number": 101, "browse_history": [{"quantity": 2}]}"#;
        assert_eq!(Written::new(other_value).shows(&anonymous), None);
    }

    /// Found when tried as a new user would: a producer that keyed every
    /// record with `1` and a consumer that printed only `got 1 records` had
    /// every record counted as seen, by its partition key.
    #[test]
    fn a_short_key_alone_in_a_count_does_not_show_the_record() {
        let mut keyed_1 = record(EXAMPLE);
        keyed_1.partition_key = "1".into();
        assert_eq!(Written::new("got 1 records\n").shows(&keyed_1), None);
        // Nor does the lab's short session_id on its own.
        assert_eq!(sign("partition key a1: nothing more"), None);
        // A short sequence number, as other emulators give them, neither.
        let mut numbered = record("plain text, not a session");
        numbered.sequence_number = "7".into();
        numbered.partition_key = "k7".into();
        assert_eq!(Written::new("read 7 records from k7").shows(&numbered), None);
    }

    #[test]
    fn a_short_id_counts_with_the_records_data_beside_it() {
        let line = format!("partition key a1: {EXAMPLE}\n");
        assert_eq!(sign(&line), Some(Sign::Data));
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(EXAMPLE).unwrap()).unwrap();
        assert_eq!(sign(&format!("a1\n{pretty}\n")), Some(Sign::Json));
    }

    #[test]
    fn an_id_of_8_characters_or_more_alone_shows_the_record() {
        let mut long = record(r#"{"session_id": "cf97e757-646f-4417-a4ad-f0a700f6d6df"}"#);
        long.partition_key = "cf97e757-646f-4417-a4ad-f0a700f6d6df".into();
        assert_eq!(
            Written::new("saw cf97e757-646f-4417-a4ad-f0a700f6d6df").shows(&long),
            Some(Sign::SessionId)
        );
        let mut keyed = record("plain text, not a session");
        keyed.partition_key = "customer".into();
        assert_eq!(
            Written::new("got one for customer").shows(&keyed),
            Some(Sign::PartitionKey)
        );
    }

    #[test]
    fn nothing_written_shows_nothing() {
        assert_eq!(sign(""), None);
        assert_eq!(sign("listening, but printing nothing\n{ not json"), None);
    }
}
