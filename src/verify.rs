//! Verification: what Firehose delivered to the buckets, checked record by
//! record (the lab's last step, looking in the buckets, made exact).
//!
//! Firehose writes each object as the records' bytes concatenated with nothing
//! between them (`{...}{...}`), so the objects are read back as a stream of JSON
//! values. Every record must be a session the ETL enriched: the producer's
//! fields, then the four enrichment keys in the lab's order, with the right
//! numbers, in the bucket of its route. With a file of expected sessions, each
//! must have arrived exactly once, unchanged.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::aws_error::AwsError;
use crate::enrich::{ENRICHMENT_KEYS, Enrichment};
use crate::lab_names::LabNames;
use crate::routing::Route;
use crate::session::Session;
use crate::target::Clients;

/// Firehose's key: the prefix, the hour folders, the delivery stream's name, its
/// version (LocalStack leaves it out), the time, a random suffix.
static OBJECT_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^firehose/\d{4}/\d{2}/\d{2}/\d{2}/[a-zA-Z0-9_.-]+?(-\d+)?-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-zA-Z-]+(\.gz)?$")
        .expect("a valid pattern")
});

/// One delivered record, where it was found.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub bucket: String,
    pub key: String,
    pub route: Route,
    pub record: Value,
}

/// What verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Per bucket: objects and records.
    pub buckets: BTreeMap<String, (usize, usize)>,
    /// Everything wrong with what was delivered, one line each.
    pub problems: Vec<String>,
    pub expected: Option<Expected>,
}

/// The delivered sessions against the expected ones, by session id.
#[derive(Debug, Default)]
pub struct Expected {
    pub count: usize,
    pub missing: Vec<String>,
    /// Sessions that arrived more than once, with how many times.
    pub duplicated: Vec<(String, usize)>,
    /// Delivered sessions that are not in the expected file (earlier runs, say).
    pub unexpected: usize,
    /// Problems in records of those sessions: an earlier run's, not judged.
    pub earlier_problems: usize,
}

impl Report {
    /// True when nothing is wrong; duplicates count as wrong unless allowed
    /// (Firehose and the ETL deliver at least once, so a restart may repeat).
    pub fn passed(&self, allow_duplicates: bool) -> bool {
        self.problems.is_empty()
            && self
                .expected
                .as_ref()
                .is_none_or(|e| e.missing.is_empty() && (allow_duplicates || e.duplicated.is_empty()))
    }
}

impl Report {
    /// The report as one JSON object, for scripts: `passed` is the verdict.
    pub fn to_json(&self, passed: bool) -> Value {
        let buckets: Vec<Value> = self
            .buckets
            .iter()
            .map(|(bucket, (objects, records))| {
                serde_json::json!({"bucket": bucket, "prefix": "firehose/", "objects": objects, "records": records})
            })
            .collect();
        let expected = self.expected.as_ref().map(|expected| {
            serde_json::json!({
                "count": expected.count,
                "missing": expected.missing,
                "duplicated": expected
                    .duplicated
                    .iter()
                    .map(|(id, times)| serde_json::json!({"session_id": id, "times": times}))
                    .collect::<Vec<_>>(),
                "unexpected": expected.unexpected,
                "earlier_problems": expected.earlier_problems,
            })
        });
        serde_json::json!({
            "buckets": buckets,
            "problems": self.problems,
            "expected": expected,
            "passed": passed,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bucket, (objects, records)) in &self.buckets {
            writeln!(f, "s3://{bucket}/firehose/: {objects} objects, {records} records")?;
        }
        if self.problems.is_empty() {
            writeln!(
                f,
                "every record is correctly enriched and in the bucket of its route"
            )?;
        } else {
            writeln!(f, "{} problems:", self.problems.len())?;
            for problem in self.problems.iter().take(20) {
                writeln!(f, "  {problem}")?;
            }
            if self.problems.len() > 20 {
                writeln!(f, "  ... and {} more", self.problems.len() - 20)?;
            }
        }
        if let Some(expected) = &self.expected {
            writeln!(
                f,
                "expected {} sessions: {} missing, {} delivered more than once",
                expected.count,
                expected.missing.len(),
                expected.duplicated.len()
            )?;
            for id in expected.missing.iter().take(10) {
                writeln!(f, "  missing: {id}")?;
            }
            for (id, times) in expected.duplicated.iter().take(10) {
                writeln!(f, "  {times} times: {id}")?;
            }
            if expected.unexpected > 0 {
                writeln!(
                    f,
                    "{} delivered sessions are not in the expected file (from earlier runs?)",
                    expected.unexpected
                )?;
            }
            if expected.earlier_problems > 0 {
                writeln!(
                    f,
                    "{} records of sessions not in the expected file are not as the lab makes them; \
                     not judged",
                    expected.earlier_problems
                )?;
            }
        }
        Ok(())
    }
}

/// Why the buckets could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("cannot read s3://{bucket}/{key}: {error}")]
    Body {
        bucket: String,
        key: String,
        error: aws_sdk_s3::primitives::ByteStreamError,
    },
    #[error("s3://{bucket}/{key} ends in .gz but is not gzip: {error}")]
    NotGzip {
        bucket: String,
        key: String,
        error: std::io::Error,
    },
}

/// Reads every object under `firehose/` in the lab's two buckets.
pub async fn delivered(clients: &Clients, names: &LabNames) -> Result<(Vec<Delivered>, Report), VerifyError> {
    let mut report = Report::default();
    let mut records = Vec::new();
    for route in names.routes() {
        let mut objects = 0;
        let mut count = 0;
        let mut token: Option<String> = None;
        loop {
            let mut request = clients
                .s3
                .list_objects_v2()
                .bucket(&route.bucket)
                .prefix("firehose/");
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            let listing = request.send().await.map_err(|err| {
                AwsError::failed(format_args!("list s3://{}/firehose/", route.bucket), &err)
            })?;
            for object in listing.contents() {
                let key = object.key().unwrap_or_default().to_owned();
                objects += 1;
                if !OBJECT_KEY.is_match(&key) {
                    report
                        .problems
                        .push(format!("s3://{}/{key}: not a Firehose object key", route.bucket));
                }
                let body = clients
                    .s3
                    .get_object()
                    .bucket(&route.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|err| AwsError::failed(format_args!("read s3://{}/{key}", route.bucket), &err))?
                    .body
                    .collect()
                    .await
                    .map_err(|error| VerifyError::Body {
                        bucket: route.bucket.clone(),
                        key: key.clone(),
                        error,
                    })?
                    .into_bytes();
                let body = if key.ends_with(".gz") {
                    gunzip(&body).map_err(|error| VerifyError::NotGzip {
                        bucket: route.bucket.clone(),
                        key: key.clone(),
                        error,
                    })?
                } else {
                    body.to_vec()
                };
                for value in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
                    match value {
                        Ok(record) => {
                            count += 1;
                            records.push(Delivered {
                                bucket: route.bucket.clone(),
                                key: key.clone(),
                                route: route.route,
                                record,
                            });
                        }
                        Err(err) => {
                            report.problems.push(format!(
                                "s3://{}/{key}: not concatenated JSON records: {err}",
                                route.bucket
                            ));
                            break;
                        }
                    }
                }
            }
            token = listing.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        report.buckets.insert(route.bucket.clone(), (objects, count));
    }
    Ok((records, report))
}

/// Checks every delivered record, and compares with the expected sessions.
pub fn check(records: &[Delivered], report: &mut Report, expected: Option<&[Map<String, Value>]>) {
    let wanted_ids: Option<std::collections::HashSet<&str>> = expected.map(|expected| {
        expected
            .iter()
            .filter_map(|session| session.get("session_id").and_then(Value::as_str))
            .collect()
    });
    let mut found: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
    let mut earlier_problems = 0;
    for delivered in records {
        let place = format!("s3://{}/{}", delivered.bucket, delivered.key);
        match check_record(&delivered.record, delivered.route) {
            Ok((id, original)) => found.entry(id).or_default().push(original),
            // With the sessions of this run known, another run's record (a
            // learner's ETL before, say) is counted, not judged.
            Err(_)
                if wanted_ids.as_ref().is_some_and(|ids| {
                    let id = delivered.record.get("session_id").and_then(Value::as_str);
                    !id.is_some_and(|id| ids.contains(id))
                }) =>
            {
                earlier_problems += 1;
            }
            Err(problem) => report.problems.push(format!("{place}: {problem}")),
        }
    }
    let Some(expected) = expected else { return };
    let mut result = Expected {
        count: expected.len(),
        earlier_problems,
        ..Expected::default()
    };
    let mut wanted: HashMap<&str, &Map<String, Value>> = HashMap::new();
    for session in expected {
        if let Some(id) = session.get("session_id").and_then(Value::as_str) {
            wanted.insert(id, session);
        }
    }
    for (id, session) in &wanted {
        match found.get(*id).map(Vec::as_slice) {
            None | Some([]) => result.missing.push(id.to_string()),
            Some(copies) => {
                if copies.len() > 1 {
                    result.duplicated.push((id.to_string(), copies.len()));
                }
                if copies.iter().any(|copy| copy != *session) {
                    report
                        .problems
                        .push(format!("session {id}: the producer's fields changed on the way"));
                }
            }
        }
    }
    result.unexpected = found
        .keys()
        .filter(|id| !wanted.contains_key(id.as_str()))
        .count();
    result.missing.sort();
    result.duplicated.sort();
    report.expected = Some(result);
}

/// One record: a session, enriched as the lab enriches it, on its route.
/// Returns its id and the producer's fields.
fn check_record(record: &Value, route: Route) -> Result<(String, Map<String, Value>), String> {
    let Value::Object(record) = record else {
        return Err("a record that is not a JSON object".to_owned());
    };
    let keys: Vec<&str> = record.keys().map(String::as_str).collect();
    if keys.len() < 4 || keys[keys.len() - 4..] != ENRICHMENT_KEYS {
        return Err(format!(
            "the record does not end with the four enrichment keys: {keys:?}"
        ));
    }
    let mut original = record.clone();
    for key in ENRICHMENT_KEYS {
        original.shift_remove(key);
    }
    let session = Session::from_record(original.clone()).map_err(|err| err.to_string())?;
    let id = session.session_id.clone();
    let enrichment = Enrichment::of(&session, chrono::Utc::now());
    let [(timestamp, _), numbers @ ..] = enrichment.members();
    let stamp = record[timestamp].as_str().unwrap_or_default();
    if !crate::enrich::is_processing_timestamp(stamp) {
        return Err(format!(
            "session {id}: {timestamp} {stamp:?} is not a timestamp (RFC 3339, or the lab's \
             naive ISO 8601)"
        ));
    }
    for (key, want) in numbers {
        if record[key].as_u64() != want.as_u64() {
            return Err(format!(
                "session {id}: {key} is {}, the lab's rule gives {want}",
                record[key]
            ));
        }
    }
    if Route::of(&session) != route {
        return Err(format!(
            "session {id} from {:?} is in the {route} bucket",
            session.country
        ));
    }
    Ok((id, original))
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn enriched(country: &str, quantity: &str, numbers: (u64, u64, usize)) -> Value {
        json!({
            "session_id": "s1", "customer_number": 103, "city": "Oslo", "country": country, "credit_limit": 1,
            "browse_history": [{"product_code": "S10_1678", "quantity": quantity, "in_shopping_cart": true}],
            "processing_timestamp": "2026-11-22T17:00:00.000000Z",
            "overall_product_quantity": numbers.0, "overall_in_shopping_cart": numbers.1, "total_different_products": numbers.2,
        })
    }

    #[test]
    fn a_correct_record_passes_and_gives_back_the_producers_fields() {
        let (id, original) = check_record(&enriched("Norway", "4", (4, 4, 1)), Route::International).unwrap();
        assert_eq!(id, "s1");
        assert!(!original.contains_key("processing_timestamp"));
    }

    /// Finding (a learner's ETL graded before the walkthrough, on the same
    /// emulator): verify failed the buckets for the lab's own naive
    /// `datetime.now().isoformat()` timestamps, which the grade accepts.
    #[test]
    fn the_labs_naive_timestamp_is_a_timestamp_and_nonsense_is_not() {
        let mut record = enriched("Norway", "4", (4, 4, 1));
        record["processing_timestamp"] = serde_json::json!("2026-11-24T00:30:58.887942");
        assert!(check_record(&record, Route::International).is_ok());
        record["processing_timestamp"] = serde_json::json!("yesterday");
        let err = check_record(&record, Route::International).unwrap_err();
        assert!(err.contains("is not a timestamp"), "{err}");
    }

    #[test]
    fn wrong_numbers_routes_and_shapes_are_named() {
        let err = check_record(&enriched("Norway", "4", (5, 4, 1)), Route::International).unwrap_err();
        assert_eq!(
            err,
            "session s1: overall_product_quantity is 5, the lab's rule gives 4"
        );
        let err = check_record(&enriched("Norway", "4", (4, 4, 1)), Route::Usa).unwrap_err();
        assert_eq!(err, "session s1 from \"Norway\" is in the USA bucket");
        let mut record = enriched("USA", "4", (4, 4, 1));
        record
            .as_object_mut()
            .unwrap()
            .shift_remove("overall_in_shopping_cart");
        assert!(
            check_record(&record, Route::Usa)
                .unwrap_err()
                .contains("does not end with the four enrichment keys")
        );
    }

    #[test]
    fn keys_with_and_without_the_version_are_firehose_keys() {
        for key in [
            "firehose/2026/11/22/17/de-c2w2lab1-firehose-usa-1-2026-11-22-17-08-22-41e2f8f1-d02d-4777-9967-55a514478d20",
            "firehose/2026/11/22/17/de-c2w2lab1-firehose-usa-2026-11-22-17-08-22-41e2f8f1-d02d-4777-9967-55a514478d20",
        ] {
            assert!(OBJECT_KEY.is_match(key), "{key}");
        }
        assert!(!OBJECT_KEY.is_match("firehose/notes.txt"));
    }

    #[test]
    fn missing_and_duplicated_sessions_are_counted() {
        let record = |id: &str| Delivered {
            bucket: "b".into(),
            key: "k".into(),
            route: Route::International,
            record: {
                let mut r = enriched("Norway", "4", (4, 4, 1));
                r["session_id"] = json!(id);
                r
            },
        };
        let mut wrong_earlier = record("old");
        wrong_earlier.record["overall_product_quantity"] = json!(99);
        let delivered = [record("a"), record("a"), record("c"), wrong_earlier];
        let expected: Vec<Map<String, Value>> = ["a", "b"]
            .iter()
            .map(|id| {
                let mut r = enriched("Norway", "4", (4, 4, 1));
                r["session_id"] = json!(id);
                let mut r = r.as_object().unwrap().clone();
                for key in ENRICHMENT_KEYS {
                    r.shift_remove(key);
                }
                r
            })
            .collect();
        let mut report = Report::default();
        check(&delivered, &mut report, Some(&expected));
        let result = report.expected.as_ref().unwrap();
        assert_eq!(result.missing, ["b"]);
        assert_eq!(result.duplicated, [("a".to_owned(), 2)]);
        assert_eq!(result.unexpected, 1);
        // An earlier run's wrong record is counted, and does not fail this run.
        assert_eq!(result.earlier_problems, 1);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!report.passed(false));
        assert!(
            !report.passed(true),
            "a missing session fails even when duplicates are allowed"
        );
    }
}
