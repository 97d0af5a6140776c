//! A session read in place: the fast way through the ETL (lab step 2.2.2) and
//! `kinesis-lab enrich`.
//!
//! [`Session::from_slice`](super::Session::from_slice) builds the whole record
//! as a JSON tree, so that it can say exactly what is wrong with a bad one and
//! hand the record on with its keys in order. For a good record that is most of
//! the work of enriching it. A [`SessionView`] instead reads the record once,
//! borrowing its strings from the bytes and skipping the fields enrichment does
//! not need, so that the enriched record can be the producer's bytes with the
//! four keys appended.
//!
//! The view is only ever a shortcut: it is stricter than `Session`, never more
//! lenient. Whatever it is unsure of (a field of another type, a number with a
//! fraction, a key given twice, a record that already carries an enrichment
//! key) makes [`SessionView::parse`] give up, and the caller takes the full
//! path, which accepts or refuses the record and says why.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use super::MAX_SESSION_ID_CHARS;

/// The fields of a valid session that enrichment and routing read, borrowed
/// from the record.
#[derive(Debug, Deserialize)]
pub struct SessionView<'a> {
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    #[serde(borrow)]
    pub country: Cow<'a, str>,
    pub browse_history: Vec<ItemView>,
    // Checked for their type, as `Session` checks them, and otherwise unused.
    #[serde(rename = "customer_number")]
    _customer_number: u64,
    #[serde(rename = "city")]
    _city: Text,
    #[serde(rename = "credit_limit")]
    _credit_limit: i64,
    // A record that carries an enrichment key already (it went through an ETL
    // before) has it replaced and moved to the end: the full path does that.
    #[serde(default)]
    processing_timestamp: Given,
    #[serde(default)]
    overall_product_quantity: Given,
    #[serde(default)]
    overall_in_shopping_cart: Given,
    #[serde(default)]
    total_different_products: Given,
}

/// One browse-history item, as enrichment reads it.
#[derive(Debug, Deserialize)]
pub struct ItemView {
    pub quantity: Quantity,
    pub in_shopping_cart: bool,
    #[serde(rename = "product_code")]
    _product_code: Text,
}

impl<'a> SessionView<'a> {
    /// Reads `record` when it is certainly a valid session that has no
    /// enrichment key yet; `None` when the full path must decide.
    pub fn parse(record: &'a [u8]) -> Option<SessionView<'a>> {
        let text = std::str::from_utf8(record).ok()?;
        let view: SessionView<'a> = serde_json::from_str(text).ok()?;
        let id = view.session_id.as_ref();
        let enriched_before = view.processing_timestamp.0
            || view.overall_product_quantity.0
            || view.overall_in_shopping_cart.0
            || view.total_different_products.0;
        let id_fits = !id.is_empty() && id.chars().count() <= MAX_SESSION_ID_CHARS;
        (id_fits && !enriched_before).then_some(view)
    }
}

/// A quantity as `Session` accepts it: an integer or a string of plain
/// digits, at most `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub u32);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string of digits, at most 4294967295")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Quantity, E> {
                u32::try_from(n).map(Quantity).map_err(|_| E::custom("too large"))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Quantity, E> {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("not plain digits"));
                }
                text.parse().map(Quantity).map_err(|_| E::custom("too large"))
            }
        }
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Whether a key was given, whatever its value (`null` included, which an
/// `Option` would take for an absent key).
#[derive(Debug, Default)]
struct Given(bool);

impl<'de> Deserialize<'de> for Given {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Given, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Given(true))
    }
}

/// A value that must be a string, whose text is not needed.
#[derive(Debug)]
struct Text;

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Text, E> {
                Ok(Text)
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::Session;

    fn example() -> serde_json::Value {
        json!({"session_id": "a1", "customer_number": 100, "city": "Washington", "country": "USA",
               "credit_limit": 1000, "browse_history": [
                   {"product_code": "Product1", "quantity": 2, "in_shopping_cart": true},
                   {"product_code": "Product2", "quantity": "10", "in_shopping_cart": false}]})
    }

    /// What the view read: session id, country, (quantity, in the cart) per item.
    type Read = (String, String, Vec<(u32, bool)>);

    fn view(value: &serde_json::Value) -> Option<Read> {
        let bytes = serde_json::to_vec(value).unwrap();
        SessionView::parse(&bytes).map(|v| {
            let items = v
                .browse_history
                .iter()
                .map(|i| (i.quantity.0, i.in_shopping_cart))
                .collect();
            (v.session_id.into_owned(), v.country.into_owned(), items)
        })
    }

    #[test]
    fn reads_a_valid_session() {
        let (id, country, items) = view(&example()).unwrap();
        assert_eq!((id.as_str(), country.as_str()), ("a1", "USA"));
        assert_eq!(items, [(2, true), (10, false)]);
    }

    /// Every record the view takes, `Session` takes too, with the same numbers.
    #[test]
    fn never_takes_what_the_full_path_refuses() {
        let mut cases = Vec::new();
        for (field, value) in [
            ("session_id", json!("")),
            ("session_id", json!("x".repeat(MAX_SESSION_ID_CHARS + 1))),
            ("session_id", json!(7)),
            ("customer_number", json!(-1)),
            ("customer_number", json!(1.5)),
            ("customer_number", json!("100")),
            ("city", json!(null)),
            ("country", json!(["USA"])),
            ("credit_limit", json!(1e3)),
            ("credit_limit", json!(u64::MAX)),
            ("browse_history", json!({})),
        ] {
            let mut record = example();
            record[field] = value;
            cases.push(record);
        }
        for (field, value) in [
            ("quantity", json!("+4")),
            ("quantity", json!(" 4")),
            ("quantity", json!("")),
            ("quantity", json!(-4)),
            ("quantity", json!(4.0)),
            ("quantity", json!(u64::from(u32::MAX) + 1)),
            ("quantity", json!((u64::from(u32::MAX) + 1).to_string())),
            ("in_shopping_cart", json!("true")),
            ("product_code", json!(12)),
        ] {
            let mut record = example();
            record["browse_history"][0][field] = value;
            cases.push(record);
        }
        for missing in [
            "session_id",
            "customer_number",
            "city",
            "country",
            "credit_limit",
            "browse_history",
        ] {
            let mut record = example();
            record.as_object_mut().unwrap().remove(missing);
            cases.push(record);
        }
        for record in cases {
            let bytes = serde_json::to_vec(&record).unwrap();
            assert!(
                Session::from_slice(&bytes).is_err(),
                "the full path takes {record}"
            );
            assert!(view(&record).is_none(), "the view takes {record}");
        }
    }

    #[test]
    fn leaves_records_with_an_enrichment_key_to_the_full_path() {
        for key in [
            "processing_timestamp",
            "overall_product_quantity",
            "overall_in_shopping_cart",
            "total_different_products",
        ] {
            let mut record = example();
            record[key] = json!(null);
            assert!(view(&record).is_none(), "{key}");
        }
    }

    #[test]
    fn leaves_a_key_given_twice_and_bad_bytes_to_the_full_path() {
        let twice = br#"{"session_id":"a","session_id":"b","customer_number":1,"city":"c","country":"d","credit_limit":0,"browse_history":[]}"#;
        assert!(SessionView::parse(twice).is_none());
        assert!(SessionView::parse(b"{\"session_id\":\"\xff\"}").is_none());
        assert!(SessionView::parse(b"[1]").is_none());
        let trailing = br#"{"session_id":"a","customer_number":1,"city":"c","country":"d","credit_limit":0,"browse_history":[]} x"#;
        assert!(SessionView::parse(trailing).is_none());
    }

    #[test]
    fn unknown_fields_of_any_shape_are_skipped() {
        let mut record = example();
        record["referrer"] = json!({"utm": ["a", {"b": null}], "n": -1.5});
        record["browse_history"][1]["seen"] = json!([true]);
        assert!(view(&record).is_some());
    }
}
