//! The lab's record: one user session on the web shop.
//!
//! Every program of the lab passes these around: the producer puts them on the
//! source stream (lab step 1.4 and the hidden producer of part 2), the ETL reads
//! them back (step 2.2.2) to enrich and route them.
//!
//! A [`Session`] is parsed from the JSON object the producer sent and keeps that
//! object as it arrived: fields this model does not know pass through untouched,
//! and the keys keep their order (serde_json's `preserve_order`), so that what the
//! ETL writes downstream is the producer's record plus the enrichment, nothing less.
//!
//! Parsing validates everything the enrichment relies on, so that later stages can
//! trust a `Session`. When a record is refused, the error names the field, the
//! index of the browse-history item and the session id when the record has one:
//! that is what a learner needs to find the bad record in a stream of thousands.

use std::fmt;

use serde_json::{Map, Value};

mod view;
pub use view::{ItemView, Quantity, SessionView};

/// A user session, validated, with the record it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub session_id: String,
    pub customer_number: u64,
    pub city: String,
    pub country: String,
    /// A credit limit can be negative: the lab's real run had one at -3,064.
    pub credit_limit: i64,
    pub browse_history: Vec<BrowseItem>,
    /// The JSON object as it arrived, unknown fields and key order included.
    record: Map<String, Value>,
}

/// One product the customer looked at during the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowseItem {
    pub product_code: String,
    /// The lab's producer sends quantities as strings (`"4"`), its example record
    /// as integers (`4`); both parse to this number.
    pub quantity: u32,
    pub in_shopping_cart: bool,
}

/// Kinesis refuses a partition key longer than 256 Unicode characters, and every
/// program of the lab uses `session_id` as the partition key. Refusing such a record
/// here keeps it from failing later, in the middle of a PutRecords batch.
pub const MAX_SESSION_ID_CHARS: usize = 256;

impl Session {
    /// Parses one record as it travels on a stream: UTF-8 JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Session, SessionError> {
        // Checked before serde_json sees the bytes, so that the message says
        // "not UTF-8" rather than a JSON syntax error at some column.
        if let Err(err) = std::str::from_utf8(bytes) {
            return Err(SessionError::NotUtf8 {
                valid_up_to: err.valid_up_to(),
            });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(SessionError::NotJson)?;
        Session::from_value(value)
    }

    /// Validates a JSON value that has already been parsed.
    pub fn from_value(value: Value) -> Result<Session, SessionError> {
        match value {
            Value::Object(record) => Session::from_record(record),
            other => Err(SessionError::NotAnObject {
                found: Found::of(&other),
            }),
        }
    }

    /// Validates a JSON object and keeps it as the session's record.
    pub fn from_record(record: Map<String, Value>) -> Result<Session, SessionError> {
        // The session id comes first so that every later error can name it.
        let session_id = string_field(&record, "session_id")
            .map_err(|problem| field_error(None, FieldPath::top("session_id"), problem))?;
        if session_id.is_empty() {
            return Err(field_error(None, FieldPath::top("session_id"), Problem::Empty));
        }
        if session_id.chars().count() > MAX_SESSION_ID_CHARS {
            return Err(field_error(
                None,
                FieldPath::top("session_id"),
                Problem::TooLong {
                    max: MAX_SESSION_ID_CHARS,
                },
            ));
        }
        let fail = |path: FieldPath, problem: Problem| field_error(Some(session_id), path, problem);

        let customer_number = record
            .get("customer_number")
            .ok_or(Problem::Missing)
            .and_then(|value| whole_number(value, "a non-negative integer"))
            .map_err(|problem| fail(FieldPath::top("customer_number"), problem))?;
        let city = string_field(&record, "city").map_err(|problem| fail(FieldPath::top("city"), problem))?;
        let country =
            string_field(&record, "country").map_err(|problem| fail(FieldPath::top("country"), problem))?;
        let credit_limit = record
            .get("credit_limit")
            .ok_or(Problem::Missing)
            .and_then(|value| signed_number(value, "an integer"))
            .map_err(|problem| fail(FieldPath::top("credit_limit"), problem))?;

        let history = match record.get("browse_history") {
            None => return Err(fail(FieldPath::top("browse_history"), Problem::Missing)),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(fail(
                    FieldPath::top("browse_history"),
                    Problem::wrong_type("an array", other),
                ));
            }
        };
        let mut browse_history = Vec::with_capacity(history.len());
        for (index, item) in history.iter().enumerate() {
            let item = BrowseItem::from_value(item, index).map_err(|(path, problem)| fail(path, problem))?;
            browse_history.push(item);
        }

        Ok(Session {
            session_id: session_id.to_owned(),
            customer_number,
            city: city.to_owned(),
            country: country.to_owned(),
            credit_limit,
            browse_history,
            record,
        })
    }

    /// The record as it arrived.
    pub fn record(&self) -> &Map<String, Value> {
        &self.record
    }

    /// Gives up the typed view and returns the record as it arrived.
    pub fn into_record(self) -> Map<String, Value> {
        self.record
    }
}

impl BrowseItem {
    fn from_value(value: &Value, index: usize) -> Result<BrowseItem, (FieldPath, Problem)> {
        let item = match value {
            Value::Object(item) => item,
            other => {
                return Err((
                    FieldPath::item(index, None),
                    Problem::wrong_type("an object", other),
                ));
            }
        };
        let at = |field| FieldPath::item(index, Some(field));
        let product_code = string_field(item, "product_code")
            .map_err(|problem| (at("product_code"), problem))?
            .to_owned();
        let quantity = item
            .get("quantity")
            .ok_or(Problem::Missing)
            .and_then(quantity)
            .map_err(|problem| (at("quantity"), problem))?;
        let in_shopping_cart = match item.get("in_shopping_cart") {
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                return Err((
                    at("in_shopping_cart"),
                    Problem::wrong_type("true or false", other),
                ));
            }
            None => return Err((at("in_shopping_cart"), Problem::Missing)),
        };
        Ok(BrowseItem {
            product_code,
            quantity,
            in_shopping_cart,
        })
    }
}

fn string_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Problem> {
    match object.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(Problem::wrong_type("a string", other)),
        None => Err(Problem::Missing),
    }
}

/// A quantity is a count: an integer, or a string of decimal digits, no larger than
/// `u32::MAX`. The original ETL ran Python's `int()` on it, which also takes `" 4"`,
/// `"+4"` and `"4_0"`; we accept only plain digits, because anything else is more
/// likely a broken producer than a quantity.
fn quantity(value: &Value) -> Result<u32, Problem> {
    let number = match value {
        Value::String(text) => parse_digits(text)?,
        Value::Number(_) => whole_number(value, "an integer or a string of digits")?,
        other => return Err(Problem::wrong_type("an integer or a string of digits", other)),
    };
    u32::try_from(number).map_err(|_| Problem::TooLarge {
        found: Found::of(value),
        max: u64::from(u32::MAX),
    })
}

fn parse_digits(text: &str) -> Result<u64, Problem> {
    let found = || Found::Text(text.to_owned());
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if all_digits(text) {
        // Only overflow can fail here.
        return text.parse().map_err(|_| Problem::TooLarge {
            found: found(),
            max: u64::from(u32::MAX),
        });
    }
    if text.strip_prefix('-').is_some_and(all_digits) {
        return Err(Problem::Negative { found: found() });
    }
    let fractional = text
        .parse::<f64>()
        .is_ok_and(|n| n.is_finite() && n.fract() != 0.0);
    Err(if fractional {
        Problem::Fraction { found: found() }
    } else {
        Problem::NotANumber { found: found() }
    })
}

/// A JSON number that must be a non-negative integer.
fn whole_number(value: &Value, expected: &'static str) -> Result<u64, Problem> {
    let Value::Number(number) = value else {
        return Err(Problem::wrong_type(expected, value));
    };
    let found = || Found::of(value);
    match (number.as_u64(), number.as_i64()) {
        (Some(n), _) => Ok(n),
        (None, Some(_)) => Err(Problem::Negative { found: found() }),
        (None, None) => Err(Problem::Fraction { found: found() }),
    }
}

/// A JSON number that must be an integer of either sign.
fn signed_number(value: &Value, expected: &'static str) -> Result<i64, Problem> {
    let Value::Number(number) = value else {
        return Err(Problem::wrong_type(expected, value));
    };
    let found = || Found::of(value);
    match (number.as_i64(), number.as_u64()) {
        (Some(n), _) => Ok(n),
        (None, Some(_)) => Err(Problem::TooLarge {
            found: found(),
            max: i64::MAX as u64,
        }),
        (None, None) => Err(Problem::Fraction { found: found() }),
    }
}

fn field_error(session_id: Option<&str>, path: FieldPath, problem: Problem) -> SessionError {
    SessionError::Field(Box::new(FieldError {
        session_id: session_id.map(str::to_owned),
        path,
        problem,
    }))
}

/// Why a record is not a valid session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not UTF-8 (the first invalid byte is at offset {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("expected a JSON object, found {found}")]
    NotAnObject { found: Found },
    #[error("{0}")]
    Field(Box<FieldError>),
}

impl SessionError {
    /// The field at fault, when the record is an object with a bad field.
    pub fn field(&self) -> Option<&FieldError> {
        match self {
            SessionError::Field(err) => Some(err),
            _ => None,
        }
    }
}

/// A field of the record that is missing or holds a value the model refuses.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Present when the record's own `session_id` was readable.
    pub session_id: Option<String>,
    pub path: FieldPath,
    pub problem: Problem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.session_id {
            write!(f, "session {id:?}: ")?;
        }
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Where a field sits in the record: `credit_limit`, `browse_history[2]`,
/// `browse_history[2].quantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPath {
    /// For an item of `browse_history`: its index.
    pub item: Option<usize>,
    /// The field's name; `None` for a browse-history item that is not an object.
    pub field: Option<&'static str>,
}

impl FieldPath {
    fn top(field: &'static str) -> FieldPath {
        FieldPath {
            item: None,
            field: Some(field),
        }
    }

    fn item(index: usize, field: Option<&'static str>) -> FieldPath {
        FieldPath {
            item: Some(index),
            field,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.item, self.field) {
            (Some(index), Some(field)) => write!(f, "browse_history[{index}].{field}"),
            (Some(index), None) => write!(f, "browse_history[{index}]"),
            (None, Some(field)) => f.write_str(field),
            (None, None) => f.write_str("the record"),
        }
    }
}

/// What is wrong with a field's value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("missing")]
    Missing,
    #[error("must not be empty")]
    Empty,
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: Found },
    #[error("must not be negative, found {found}")]
    Negative { found: Found },
    #[error("must be a whole number, found {found}")]
    Fraction { found: Found },
    #[error("expected a whole number, found {found}")]
    NotANumber { found: Found },
    #[error("must be at most {max}, found {found}")]
    TooLarge { found: Found, max: u64 },
}

impl Problem {
    fn wrong_type(expected: &'static str, value: &Value) -> Problem {
        Problem::WrongType {
            expected,
            found: Found::of(value),
        }
    }
}

/// The offending value, short enough for one line of an error message.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A string, shown quoted.
    Text(String),
    /// A number, `true`, `false` or `null`, shown as JSON.
    Scalar(String),
    Array,
    Object,
}

impl Found {
    fn of(value: &Value) -> Found {
        match value {
            Value::String(text) => Found::Text(text.clone()),
            Value::Array(_) => Found::Array,
            Value::Object(_) => Found::Object,
            scalar => Found::Scalar(scalar.to_string()),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A record can hold a megabyte in one string; the message only needs enough
        // of it to recognise the value.
        const SHOWN: usize = 40;
        match self {
            Found::Text(text) if text.chars().count() > SHOWN => {
                let head: String = text.chars().take(SHOWN).collect();
                write!(f, "{head:?}...")
            }
            Found::Text(text) => write!(f, "{text:?}"),
            Found::Scalar(json) => f.write_str(json),
            Found::Array => f.write_str("an array"),
            Found::Object => f.write_str("an object"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn example() -> Value {
        json!({
            "session_id": "a1", "customer_number": 100, "city": "Washington", "country": "USA",
            "credit_limit": 1000,
            "browse_history": [
                {"product_code": "Product1", "quantity": 2, "in_shopping_cart": true},
                {"product_code": "Product2", "quantity": "1", "in_shopping_cart": false}
            ]
        })
    }

    fn refuse(value: Value) -> FieldError {
        let err = Session::from_value(value).expect_err("the record should be refused");
        err.field()
            .cloned()
            .unwrap_or_else(|| panic!("expected a field error, got: {err}"))
    }

    fn with_quantity(quantity: Value) -> Value {
        let mut record = example();
        record["browse_history"][1]["quantity"] = quantity;
        record
    }

    #[test]
    fn parses_string_and_integer_quantities() {
        let session = Session::from_value(example()).unwrap();
        assert_eq!(session.session_id, "a1");
        assert_eq!(session.customer_number, 100);
        assert_eq!(session.credit_limit, 1000);
        let quantities: Vec<u32> = session.browse_history.iter().map(|i| i.quantity).collect();
        assert_eq!(quantities, [2, 1]);
        assert!(session.browse_history[0].in_shopping_cart);
    }

    #[test]
    fn accepts_negative_credit_limit_and_empty_history() {
        let mut record = example();
        record["credit_limit"] = json!(-3064);
        record["browse_history"] = json!([]);
        let session = Session::from_value(record).unwrap();
        assert_eq!(session.credit_limit, -3064);
        assert!(session.browse_history.is_empty());
    }

    #[test]
    fn keeps_unknown_fields_and_key_order() {
        let text = r#"{"zeta":1,"session_id":"s","customer_number":1,"city":"c","country":"USA","credit_limit":0,"browse_history":[{"extra":[1],"product_code":"p","quantity":"3","in_shopping_cart":false}],"alpha":{"x":null}}"#;
        let session = Session::from_slice(text.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(session.record()).unwrap(), text);
    }

    #[test]
    fn quantity_limits() {
        let max = u32::MAX.to_string();
        let session = Session::from_value(with_quantity(json!(max))).unwrap();
        assert_eq!(session.browse_history[1].quantity, u32::MAX);
        let session = Session::from_value(with_quantity(json!("007"))).unwrap();
        assert_eq!(session.browse_history[1].quantity, 7);
        let session = Session::from_value(with_quantity(json!(0))).unwrap();
        assert_eq!(session.browse_history[1].quantity, 0);
    }

    #[test]
    fn refuses_bad_quantities_naming_field_item_and_session() {
        let cases = [
            (json!("four"), "expected a whole number, found \"four\""),
            (json!(""), "expected a whole number, found \"\""),
            (json!(" 4"), "expected a whole number, found \" 4\""),
            (json!("+4"), "expected a whole number, found \"+4\""),
            (json!("-1"), "must not be negative, found \"-1\""),
            (json!(-1), "must not be negative, found -1"),
            (json!("2.5"), "must be a whole number, found \"2.5\""),
            (json!(2.5), "must be a whole number, found 2.5"),
            (json!(4.0), "must be a whole number, found 4.0"),
            (
                json!(true),
                "expected an integer or a string of digits, found true",
            ),
            (
                json!(null),
                "expected an integer or a string of digits, found null",
            ),
            (
                json!([4]),
                "expected an integer or a string of digits, found an array",
            ),
            (
                json!("4294967296"),
                "must be at most 4294967295, found \"4294967296\"",
            ),
            (
                json!(4294967296u64),
                "must be at most 4294967295, found 4294967296",
            ),
            (
                json!(u64::MAX),
                "must be at most 4294967295, found 18446744073709551615",
            ),
        ];
        for (quantity, problem) in cases {
            let err = refuse(with_quantity(quantity.clone()));
            assert_eq!(err.session_id.as_deref(), Some("a1"), "{quantity}");
            assert_eq!(err.path.to_string(), "browse_history[1].quantity", "{quantity}");
            assert_eq!(err.problem.to_string(), problem, "{quantity}");
            assert_eq!(
                err.to_string(),
                format!("session \"a1\": browse_history[1].quantity: {problem}")
            );
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let err = refuse(with_quantity(json!("9".repeat(1000))));
        let shown = format!("\"{}\"...", "9".repeat(40));
        assert_eq!(
            err.problem.to_string(),
            format!("must be at most 4294967295, found {shown}")
        );
    }

    #[test]
    fn refuses_missing_quantity() {
        let mut record = example();
        record["browse_history"][0]
            .as_object_mut()
            .unwrap()
            .remove("quantity");
        let err = refuse(record);
        assert_eq!(err.path, FieldPath::item(0, Some("quantity")));
        assert_eq!(err.problem, Problem::Missing);
    }

    #[test]
    fn refuses_each_missing_field() {
        for field in [
            "customer_number",
            "city",
            "country",
            "credit_limit",
            "browse_history",
        ] {
            let mut record = example();
            record.as_object_mut().unwrap().remove(field);
            let err = refuse(record);
            assert_eq!(err.path, FieldPath::top(field));
            assert_eq!(err.problem, Problem::Missing);
            assert_eq!(err.to_string(), format!("session \"a1\": {field}: missing"));
        }
        for field in ["product_code", "in_shopping_cart"] {
            let mut record = example();
            record["browse_history"][1].as_object_mut().unwrap().remove(field);
            let err = refuse(record);
            assert_eq!(err.path, FieldPath::item(1, Some(field)));
            assert_eq!(err.problem, Problem::Missing);
        }
    }

    #[test]
    fn refuses_wrong_types() {
        let cases = [
            (
                "customer_number",
                json!("100"),
                "expected a non-negative integer, found \"100\"",
            ),
            ("customer_number", json!(-5), "must not be negative, found -5"),
            ("credit_limit", json!(10.5), "must be a whole number, found 10.5"),
            (
                "credit_limit",
                json!(u64::MAX),
                "must be at most 9223372036854775807, found 18446744073709551615",
            ),
            ("city", json!(7), "expected a string, found 7"),
            ("country", json!(null), "expected a string, found null"),
            ("browse_history", json!({}), "expected an array, found an object"),
        ];
        for (field, value, problem) in cases {
            let mut record = example();
            record[field] = value;
            let err = refuse(record);
            assert_eq!(err.path, FieldPath::top(field));
            assert_eq!(err.problem.to_string(), problem);
        }

        let mut record = example();
        record["browse_history"][0]["in_shopping_cart"] = json!("true");
        let err = refuse(record);
        assert_eq!(
            err.to_string(),
            "session \"a1\": browse_history[0].in_shopping_cart: expected true or false, found \"true\""
        );

        let mut record = example();
        record["browse_history"][1] = json!("Product2");
        let err = refuse(record);
        assert_eq!(
            err.to_string(),
            "session \"a1\": browse_history[1]: expected an object, found \"Product2\""
        );
    }

    #[test]
    fn errors_without_a_session_id_name_no_session() {
        let mut record = example();
        record.as_object_mut().unwrap().remove("session_id");
        let err = refuse(record);
        assert_eq!(err.session_id, None);
        assert_eq!(err.to_string(), "session_id: missing");

        let mut record = example();
        record["session_id"] = json!(12);
        assert_eq!(
            refuse(record).to_string(),
            "session_id: expected a string, found 12"
        );

        let mut record = example();
        record["session_id"] = json!("");
        assert_eq!(refuse(record).to_string(), "session_id: must not be empty");

        let mut record = example();
        record["session_id"] = json!("x".repeat(257));
        assert_eq!(
            refuse(record).to_string(),
            "session_id: longer than 256 characters"
        );
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        let err = Session::from_slice(b"[1, 2]").unwrap_err();
        assert_eq!(err.to_string(), "expected a JSON object, found an array");
        let err = Session::from_slice(b"{\"session_id\": ").unwrap_err();
        assert!(matches!(err, SessionError::NotJson(_)), "{err}");
        assert!(
            err.to_string().starts_with("not JSON: EOF while parsing"),
            "{err}"
        );
        let err = Session::from_slice(b"{\"session_id\": \"\xff\"}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "not UTF-8 (the first invalid byte is at offset 16)"
        );
    }
}
