//! Enrichment: what the ETL adds to each session (lab steps 2.2.3 to 2.2.7).
//!
//! A pure function: a [`Session`] and the time it was processed go in, the
//! enriched record comes out. No clock is read here and nothing is written, so the
//! same inputs always give the same output, and the tests can pin a timestamp.
//!
//! The four keys are appended after the producer's keys, in the lab's order:
//!
//! | key | value |
//! |---|---|
//! | `processing_timestamp` | the time passed in, RFC 3339 in UTC with microseconds |
//! | `overall_product_quantity` | the sum of every item's quantity |
//! | `overall_in_shopping_cart` | the sum of the quantities of items in the cart |
//! | `total_different_products` | the number of items in `browse_history` |
//!
//! Two deliberate choices:
//! - The original ETL stamped records with naive local time (`2024-09-22T04:30:50.634511`),
//!   which cannot be compared across machines or time zones. We write UTC with an
//!   explicit `Z`, keeping the microseconds: `2024-09-22T04:30:50.634511Z`.
//! - `total_different_products` counts items, not distinct product codes: a
//!   session that looked at `S18_1097` twice counts it twice. That is how the lab
//!   defines it, and the numbers must match the lab's.

pub mod lines;

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::session::{Session, SessionError, SessionView};

/// The four keys enrichment appends to a session (lab steps 2.2.3 to 2.2.7),
/// in the lab's order: the one list the ETL writes, and `verify` and the grade
/// check.
pub const ENRICHMENT_KEYS: [&str; 4] = [
    "processing_timestamp",
    "overall_product_quantity",
    "overall_in_shopping_cart",
    "total_different_products",
];

/// The four numbers and the timestamp that enrichment adds to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrichment {
    pub processing_timestamp: DateTime<Utc>,
    pub overall_product_quantity: u64,
    pub overall_in_shopping_cart: u64,
    pub total_different_products: usize,
}

impl Enrichment {
    /// Computes the enrichment of a session processed at `now`.
    pub fn of(session: &Session, now: DateTime<Utc>) -> Enrichment {
        let items = session.browse_history.iter();
        Enrichment::of_items(items.map(|item| (item.quantity, item.in_shopping_cart)), now)
    }

    /// Computes the enrichment of a browse history given as (quantity, in
    /// the cart) pairs.
    fn of_items(items: impl Iterator<Item = (u32, bool)>, now: DateTime<Utc>) -> Enrichment {
        let mut enrichment = Enrichment {
            processing_timestamp: now,
            overall_product_quantity: 0,
            overall_in_shopping_cart: 0,
            total_different_products: 0,
        };
        // u32 quantities summed in u64 cannot overflow for any history that fits in memory.
        for (quantity, in_shopping_cart) in items {
            enrichment.overall_product_quantity += u64::from(quantity);
            if in_shopping_cart {
                enrichment.overall_in_shopping_cart += u64::from(quantity);
            }
            enrichment.total_different_products += 1;
        }
        enrichment
    }

    /// The four members, [`ENRICHMENT_KEYS`] with their values, in order.
    pub fn members(&self) -> [(&'static str, Value); 4] {
        let [timestamp, quantity, in_cart, products] = ENRICHMENT_KEYS;
        [
            (timestamp, Value::from(self.timestamp())),
            (quantity, Value::from(self.overall_product_quantity)),
            (in_cart, Value::from(self.overall_in_shopping_cart)),
            (products, Value::from(self.total_different_products)),
        ]
    }

    /// `processing_timestamp` as written: RFC 3339 in UTC, to the microsecond.
    fn timestamp(&self) -> String {
        self.processing_timestamp
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The four members as JSON, each preceded by a comma, in the lab's order.
    /// Written straight into the record's bytes: this is the ETL's every
    /// record, so no JSON tree is built for it.
    fn write_members(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let [timestamp, quantity, in_cart, products] = ENRICHMENT_KEYS;
        write!(
            out,
            r#","{timestamp}":"{}","{quantity}":{},"{in_cart}":{},"{products}":{}"#,
            self.timestamp(),
            self.overall_product_quantity,
            self.overall_in_shopping_cart,
            self.total_different_products
        )
        .expect("writing into memory cannot fail");
    }
}

/// A record enriched as it travels: JSON bytes, with what the ETL routes and
/// partitions it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichedRecord {
    pub session_id: String,
    pub country: String,
    pub data: Vec<u8>,
}

/// Enriches one record as it travels on a stream (UTF-8 JSON bytes): what the
/// ETL does to every record. See [`enrich_into`].
pub fn enrich_bytes(record: &[u8], now: DateTime<Utc>) -> Result<EnrichedRecord, SessionError> {
    let mut data = Vec::with_capacity(record.len() + 160);
    let (session_id, country) = enrich_into(record, now, &mut data)?;
    Ok(EnrichedRecord {
        session_id: session_id.into_owned(),
        country: country.into_owned(),
        data,
    })
}

/// Appends `record` enriched to `out`; its session id and country (borrowed
/// from `record` when they can be).
///
/// A valid session with no enrichment key yet (every record a producer
/// sends) keeps its bytes as they came: the four keys are written after its
/// last member, so that nothing is parsed into a tree and written out again,
/// and the producer's record arrives exactly as sent. Any other record takes
/// the full path ([`Session::from_slice`], then [`enrich`]), which refuses a
/// bad record with the reason, or replaces the keys an earlier ETL added.
pub fn enrich_into<'a>(
    record: &'a [u8],
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> Result<(Cow<'a, str>, Cow<'a, str>), SessionError> {
    if let Some(view) = SessionView::parse(record) {
        let items = view.browse_history.iter();
        let enrichment =
            Enrichment::of_items(items.map(|item| (item.quantity.0, item.in_shopping_cart)), now);
        // The view parsed an object: after trimming, the last byte is its `}`.
        let object = record.trim_ascii();
        out.extend_from_slice(object[..object.len() - 1].trim_ascii_end());
        enrichment.write_members(out);
        out.push(b'}');
        return Ok((view.session_id, view.country));
    }
    let session = Session::from_slice(record)?;
    let (session_id, country) = (session.session_id.clone(), session.country.clone());
    serde_json::to_writer(out, &enrich(session, now)).expect("writing into memory cannot fail");
    Ok((Cow::Owned(session_id), Cow::Owned(country)))
}

/// Whether `text` is a `processing_timestamp` as some ETL of the lab writes
/// it: ours (RFC 3339, with its zone), or the lab's own, naive local time
/// from `datetime.now().isoformat()` (with or without fractions). Checks of
/// delivered records accept both, so that a learner's ETL is not failed for
/// doing what the lab does.
pub fn is_processing_timestamp(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

/// The enriched record: the session's record with the enrichment appended.
///
/// A record that already carries one of the four keys (one that went through the
/// ETL before, say) gets it replaced, and moved to the end so that the order is
/// always the lab's.
pub fn enrich(session: Session, now: DateTime<Utc>) -> Map<String, Value> {
    let enrichment = Enrichment::of(&session, now);
    let mut record = session.into_record();
    for (key, value) in enrichment.members() {
        record.shift_remove(key);
        record.insert(key.to_owned(), value);
    }
    record
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 9, 22, 4, 30, 50).unwrap() + chrono::Duration::microseconds(634_511)
    }

    fn enriched(value: Value) -> Value {
        Value::Object(enrich(Session::from_value(value).unwrap(), at()))
    }

    fn session_with(history: Value) -> Value {
        json!({"session_id": "s", "customer_number": 103, "city": "Oslo", "country": "Norway",
               "credit_limit": 5, "browse_history": history})
    }

    #[test]
    fn appends_the_four_keys_in_order_after_the_original_keys() {
        let text = r#"{"session_id":"a1","customer_number":100,"city":"Washington","country":"USA","credit_limit":1000,"browse_history":[{"product_code":"Product1","quantity":2,"in_shopping_cart":true},{"product_code":"Product2","quantity":1,"in_shopping_cart":false}]}"#;
        let session = Session::from_slice(text.as_bytes()).unwrap();
        let out = serde_json::to_string(&enrich(session, at())).unwrap();
        let expected = format!(
            "{},{}}}",
            &text[..text.len() - 1],
            r#""processing_timestamp":"2024-09-22T04:30:50.634511Z","overall_product_quantity":3,"overall_in_shopping_cart":2,"total_different_products":2"#
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn string_and_integer_quantities_sum_alike() {
        let strings = enriched(session_with(json!([
            {"product_code": "S10_1678", "quantity": "4", "in_shopping_cart": true},
            {"product_code": "S12_1099", "quantity": "10", "in_shopping_cart": false},
        ])));
        let ints = enriched(session_with(json!([
            {"product_code": "S10_1678", "quantity": 4, "in_shopping_cart": true},
            {"product_code": "S12_1099", "quantity": 10, "in_shopping_cart": false},
        ])));
        for out in [&strings, &ints] {
            assert_eq!(out["overall_product_quantity"], 14);
            assert_eq!(out["overall_in_shopping_cart"], 4);
            assert_eq!(out["total_different_products"], 2);
        }
        // The quantities themselves are left as the producer sent them.
        assert_eq!(strings["browse_history"][0]["quantity"], "4");
        assert_eq!(ints["browse_history"][0]["quantity"], 4);
    }

    #[test]
    fn empty_history_gives_zeros() {
        let out = enriched(session_with(json!([])));
        assert_eq!(out["overall_product_quantity"], 0);
        assert_eq!(out["overall_in_shopping_cart"], 0);
        assert_eq!(out["total_different_products"], 0);
    }

    #[test]
    fn duplicated_product_codes_count_twice() {
        let out = enriched(session_with(json!([
            {"product_code": "S24_2766", "quantity": "10", "in_shopping_cart": false},
            {"product_code": "S24_2766", "quantity": "8", "in_shopping_cart": true},
        ])));
        assert_eq!(out["total_different_products"], 2);
        assert_eq!(out["overall_product_quantity"], 18);
        assert_eq!(out["overall_in_shopping_cart"], 8);
    }

    #[test]
    fn sums_do_not_overflow() {
        let max = u32::MAX.to_string();
        let out = enriched(session_with(json!([
            {"product_code": "a", "quantity": max, "in_shopping_cart": true},
            {"product_code": "b", "quantity": max, "in_shopping_cart": true},
        ])));
        assert_eq!(out["overall_product_quantity"], 2 * u64::from(u32::MAX));
    }

    #[test]
    fn unknown_fields_pass_through_and_old_enrichment_is_replaced() {
        let mut input = session_with(
            json!([{"product_code": "p", "quantity": 1, "in_shopping_cart": true, "seen": "x"}]),
        );
        input["total_different_products"] = json!(99);
        input["referrer"] = json!({"utm": ["a", "b"]});
        let out = enriched(input);
        let keys: Vec<&str> = out.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "session_id",
                "customer_number",
                "city",
                "country",
                "credit_limit",
                "browse_history",
                "referrer",
                "processing_timestamp",
                "overall_product_quantity",
                "overall_in_shopping_cart",
                "total_different_products",
            ]
        );
        assert_eq!(out["total_different_products"], 1);
        assert_eq!(out["referrer"], json!({"utm": ["a", "b"]}));
        assert_eq!(out["browse_history"][0]["seen"], "x");
    }

    /// The producer's bytes plus the four keys are what the full path writes,
    /// for every record the generator makes.
    #[test]
    fn enriched_bytes_are_what_the_full_path_writes() {
        for session in crate::generator::SessionGenerator::new(7).take(2_000) {
            let bytes = serde_json::to_vec(&session).unwrap();
            let fast = enrich_bytes(&bytes, at()).unwrap();
            let full = enrich(Session::from_slice(&bytes).unwrap(), at());
            assert_eq!(
                String::from_utf8(fast.data).unwrap(),
                serde_json::to_string(&full).unwrap()
            );
            assert_eq!(fast.session_id, full["session_id"]);
            assert_eq!(fast.country, full["country"]);
        }
    }

    #[test]
    fn enriched_bytes_keep_the_producer_s_spacing_and_escapes() {
        let text = " { \"session_id\" : \"caf\\u00e9\", \"customer_number\": 1, \"city\": \"c\", \"country\": \"USA\",\n \"credit_limit\": -3, \"browse_history\": [{\"product_code\": \"p\", \"quantity\": \"4\", \"in_shopping_cart\": true}] }\r\n";
        let out = enrich_bytes(text.as_bytes(), at()).unwrap();
        let expected = format!(
            "{},{}}}",
            text.trim().strip_suffix('}').unwrap().trim_end(),
            r#""processing_timestamp":"2024-09-22T04:30:50.634511Z","overall_product_quantity":4,"overall_in_shopping_cart":4,"total_different_products":1"#
        );
        assert_eq!(String::from_utf8(out.data).unwrap(), expected);
        assert_eq!(out.session_id, "caf\u{e9}");
    }

    #[test]
    fn enriched_bytes_of_a_record_enriched_before_replace_its_keys() {
        let mut record =
            session_with(json!([{"product_code": "p", "quantity": 1, "in_shopping_cart": true}]));
        record["total_different_products"] = json!(99);
        let bytes = serde_json::to_vec(&record).unwrap();
        let out: Value = serde_json::from_slice(&enrich_bytes(&bytes, at()).unwrap().data).unwrap();
        assert_eq!(out, enriched(record));
        assert_eq!(out["total_different_products"], 1);
    }

    #[test]
    fn enriched_bytes_of_a_bad_record_give_the_full_path_s_reason() {
        let record = session_with(json!([{"product_code": "p", "quantity": "-4", "in_shopping_cart": true}]));
        let bytes = serde_json::to_vec(&record).unwrap();
        let fast = enrich_bytes(&bytes, at()).unwrap_err().to_string();
        let full = Session::from_slice(&bytes).unwrap_err().to_string();
        assert_eq!(fast, full);
        assert!(fast.contains("quantity"), "{fast}");
    }

    #[test]
    fn timestamp_keeps_microseconds_even_when_zero() {
        let session = Session::from_value(session_with(json!([]))).unwrap();
        let whole_second = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let out = enrich(session, whole_second);
        assert_eq!(out["processing_timestamp"], "2026-01-02T03:04:05.000000Z");
    }
}
