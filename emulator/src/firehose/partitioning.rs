//! Dynamic partitioning: which S3 prefix each record belongs to.
//!
//! With `DynamicPartitioningConfiguration.Enabled`, a delivery stream keeps one
//! buffer per partition, and a partition is the set of values a record gives
//! the `Prefix`'s partition key expressions:
//! - `!{partitionKeyFromQuery:name}` takes `name` from the object the
//!   `MetadataExtraction` processor's JQ query makes of the record
//!   (`{customer_id: .customer_id}` gives the key `customer_id`);
//! - `!{partitionKeyFromLambda:name}` takes it from the `metadata.partitionKeys`
//!   the Lambda function returned with the record.
//!
//! A record that is not JSON, that the query fails on, or that lacks a key the
//! prefix uses cannot be partitioned: as on AWS, it goes under the error
//! output prefix as a `partitioning-failed` error record.
//!
//! JQ runs on `jaq`, a Rust implementation of the jq language; AWS names its
//! engine `JQ-1.6`, and the two agree on the paths, object constructions and
//! string functions partition queries are made of.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

use super::failure::Failure;

/// The error code AWS gives a record it could not partition.
pub const FAILED: &str = "DynamicPartitioning.MetadataExtractionFailed";

/// The error code of a record that would open a partition past the quota.
pub const TOO_MANY_PARTITIONS: &str = "DynamicPartitioning.ActivePartitionsLimitExceeded";

/// How many partitions may hold records at once (AWS's default quota). A
/// record that would open one more is a `partitioning-failed` error record.
pub const MAX_ACTIVE_PARTITIONS: usize = 500;

/// The values of the partition key expressions of a prefix, keyed by the
/// expression without its `!{}` (`partitionKeyFromQuery:customer_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionKeys(pub BTreeMap<String, String>);

/// The keys a record gave, before the prefix picks the ones it uses.
#[derive(Debug, Default)]
pub struct Extracted<'a> {
    pub query: Option<&'a BTreeMap<String, String>>,
    pub lambda: Option<&'a BTreeMap<String, String>>,
}

impl Extracted<'_> {
    /// The value of one expression (`partitionKeyFromQuery:name`), if the record gave it.
    pub fn get(&self, expression: &str) -> Result<String, Failure> {
        let (namespace, name) = expression.split_once(':').unwrap_or_default();
        let (keys, source) = match namespace {
            "partitionKeyFromQuery" => (self.query, "the MetadataExtraction query"),
            _ => (self.lambda, "the Lambda function's metadata.partitionKeys"),
        };
        keys.and_then(|keys| keys.get(name))
            .cloned()
            .ok_or_else(|| Failure {
                code: FAILED,
                message: format!("{source} gave no value for the partition key {name:?}"),
            })
    }
}

/// A `MetadataExtractionQuery`, compiled once when the delivery stream is
/// created (a query that does not compile is refused then).
#[derive(Clone)]
pub struct MetadataQuery {
    text: String,
    filter: Arc<jaq_core::Filter<data::JustLut<Val>>>,
}

impl MetadataQuery {
    pub fn compile(text: &str) -> Result<MetadataQuery, String> {
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code: text, path: () })
            .map_err(|_| format!("the MetadataExtractionQuery {text:?} is not a valid JQ expression"))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let names: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, errors)| errors)
                    .map(|(name, _)| name.to_string())
                    .collect();
                format!(
                    "the MetadataExtractionQuery {text:?} does not compile: unknown {}",
                    names.join(", ")
                )
            })?;
        Ok(MetadataQuery {
            text: text.to_owned(),
            filter: Arc::new(filter),
        })
    }

    /// The partition keys the query makes of one record: the record must be
    /// JSON, and the query's first result an object whose values are strings,
    /// numbers or booleans.
    pub fn extract(&self, record: &[u8]) -> Result<BTreeMap<String, String>, Failure> {
        let failed = |message: String| Failure {
            code: FAILED,
            message,
        };
        let input = jaq_json::read::parse_single(record).map_err(|_| {
            failed("the record is not a JSON document, so the query cannot read it".to_owned())
        })?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let first = self.filter.id.run((ctx, input)).map(unwrap_valr).next();
        let object = match first {
            Some(Ok(Val::Obj(object))) => object,
            Some(Ok(other)) => {
                return Err(failed(format!(
                    "the query gave {other}, not an object of partition keys"
                )));
            }
            Some(Err(err)) => return Err(failed(format!("the query failed on this record: {err}"))),
            None => return Err(failed("the query gave no result for this record".to_owned())),
        };
        let mut keys = BTreeMap::new();
        for (name, value) in object.iter() {
            let Some(name) = text(name) else {
                continue;
            };
            let value = match value {
                Val::Bool(_) | Val::Num(_) => value.to_string(),
                other => match text(other) {
                    Some(text) => text,
                    // A null (a missing field) or a structure is no key: the
                    // record fails only if the prefix uses this key.
                    None => continue,
                },
            };
            keys.insert(name, value);
        }
        Ok(keys)
    }
}

/// The text of a JSON string, without its quotes.
fn text(value: &Val) -> Option<String> {
    match value {
        Val::TStr(bytes) | Val::BStr(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    }
}

impl fmt::Debug for MetadataQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MetadataQuery").field(&self.text).finish()
    }
}

impl PartialEq for MetadataQuery {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for MetadataQuery {}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_query_makes_partition_keys_of_strings_numbers_and_booleans() {
        let query = MetadataQuery::compile(
            "{customer: .customer_id, year: .at[0:4], n: .n, vip: .vip, none: .missing}",
        )
        .unwrap();
        let got = query
            .extract(br#"{"customer_id":"c-17","at":"2024-09-22","n":12.5,"vip":true}"#)
            .unwrap();
        assert_eq!(
            got,
            keys(&[
                ("customer", "c-17"),
                ("year", "2024"),
                ("n", "12.5"),
                ("vip", "true")
            ])
        );
    }

    #[test]
    fn records_the_query_cannot_read_fail_with_awss_code() {
        let query = MetadataQuery::compile("{id: .id}").unwrap();
        for (record, reason) in [
            (&b"not json"[..], "not a JSON document"),
            (b"[1, 2]", "query failed"),
            (b"\"text\"", "query failed"),
        ] {
            let failure = query.extract(record).unwrap_err();
            assert_eq!(failure.code, FAILED);
            assert!(failure.message.contains(reason), "{}", failure.message);
        }
        let not_an_object = MetadataQuery::compile(".id").unwrap().extract(br#"{"id":"x"}"#);
        assert!(not_an_object.unwrap_err().message.contains("not an object"));
    }

    #[test]
    fn a_query_that_does_not_compile_is_refused_with_its_text() {
        for text in ["{a: .b", "{a: nosuchfunction(.b)}"] {
            let err = MetadataQuery::compile(text).unwrap_err();
            assert!(err.contains(text), "{err}");
        }
    }

    #[test]
    fn a_missing_key_names_where_it_should_have_come_from() {
        let query = keys(&[("a", "1")]);
        let extracted = Extracted {
            query: Some(&query),
            lambda: None,
        };
        assert_eq!(extracted.get("partitionKeyFromQuery:a").unwrap(), "1");
        let failure = extracted.get("partitionKeyFromQuery:b").unwrap_err();
        assert!(failure.message.contains("MetadataExtraction query") && failure.message.contains("\"b\""));
        let failure = extracted.get("partitionKeyFromLambda:a").unwrap_err();
        assert!(failure.message.contains("Lambda"), "{}", failure.message);
    }
}
