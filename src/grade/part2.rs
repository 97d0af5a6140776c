//! Part 2's grade: a learner's ETL, lab step by lab step (steps 2.2.3 to
//! 2.2.8), from what it wrote, never from what it printed.
//!
//! A pure function: the sessions the producer sent, and the records found
//! downstream (in the destination streams, or in the buckets) with the route
//! each was found on, go in; one grade per lab step comes out, passed or
//! failed with the first session that fails it, what the lab expects and what
//! was found. The expected numbers come from [`crate::enrich`], the project's
//! own enrichment, which the lab's real run checks to the session.
//!
//! What is graded:
//!
//! | step | check |
//! |---|---|
//! | 2.2.3 | `processing_timestamp` is there and is a timestamp: the lab's own naive `datetime.now().isoformat()`, or one with a zone |
//! | 2.2.5 | `overall_product_quantity` is the sum of the quantities, a JSON integer |
//! | 2.2.6 | `overall_in_shopping_cart` is the sum of the quantities in the cart |
//! | 2.2.7 | `total_different_products` is the number of items in `browse_history` |
//! | 2.2.8 | the session is on the route of its country |
//! | keys | the producer's keys and values are unchanged, and the four keys follow them in the lab's order |
//! | arrival | every session sent was found |
//!
//! Duplicates are counted, not failed: the lab's delivery is at least once.
//! But every copy is graded as the first is: a second copy that is routed
//! the wrong way or changed fails its step, named by its copy number.
//! Records found that are not among the sessions sent (an earlier run's) are
//! counted and left out.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Failure, StepGrade};

use crate::enrich::{self, ENRICHMENT_KEYS, Enrichment};
use crate::routing::Route;
use crate::session::Session;

/// A record found downstream, and where.
#[derive(Debug, Clone)]
pub struct Found {
    pub route: Route,
    /// The record's bytes, as the learner's program wrote them.
    pub data: Vec<u8>,
}

/// The grade of what was found in one place.
#[derive(Debug, Clone, Serialize)]
pub struct Grade {
    /// Where the records were found ("destination streams", "S3 buckets").
    pub source: String,
    pub sessions_expected: usize,
    pub steps: Vec<StepGrade>,
    /// Sessions found more than once, and the extra copies.
    pub duplicated_sessions: usize,
    pub extra_copies: usize,
    /// Records found that are not among the sessions sent.
    pub unexpected_records: usize,
    pub passed: bool,
}

/// The checks, in the order they are printed.
const CHECKS: [(&str, &str); 7] = [
    ("2.2.3", "processing_timestamp is a timestamp"),
    ("2.2.5", "overall_product_quantity, the sum of the quantities"),
    ("2.2.6", "overall_in_shopping_cart, the quantities in the cart"),
    ("2.2.7", "total_different_products, the number of items"),
    ("2.2.8", "routed by country: USA or International"),
    (
        "keys",
        "the producer's keys unchanged, the four keys after them in order",
    ),
    ("arrival", "every session sent arrived"),
];

/// Grades the records found in `source` against the sessions sent.
pub fn grade(source: &str, sent: &[Map<String, Value>], found: &[Found]) -> Grade {
    let mut copies: HashMap<String, Vec<(Route, Value)>> = HashMap::new();
    let mut unexpected = 0;
    for record in found {
        let parsed: Option<Value> = serde_json::from_slice(&record.data).ok();
        let id = parsed
            .as_ref()
            .and_then(|value| value.get("session_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (id, parsed) {
            (Some(id), Some(value)) => copies.entry(id).or_default().push((record.route, value)),
            _ => unexpected += 1,
        }
    }
    let mut steps: Vec<StepGrade> = CHECKS
        .iter()
        .map(|(step, check)| StepGrade::new(step, check, "session"))
        .collect();
    let (mut duplicated, mut extra) = (0, 0);
    let ids: std::collections::HashSet<&str> = sent
        .iter()
        .filter_map(|session| session.get("session_id").and_then(Value::as_str))
        .collect();
    unexpected += copies
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .map(|id| copies[id].len())
        .sum::<usize>();
    for session in sent {
        let id = session
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let results = match copies.get(id).map(Vec::as_slice) {
            None | Some([]) => {
                let arrival = Err(("found downstream".to_owned(), "nowhere".to_owned()));
                record_result(&mut steps[6], id, arrival);
                continue;
            }
            Some(found) => {
                if found.len() > 1 {
                    duplicated += 1;
                    extra += found.len() - 1;
                }
                found
                    .iter()
                    .map(|copy| check_session(session, copy))
                    .collect::<Vec<_>>()
            }
        };
        // A step passes for a session when it passes for every copy; the
        // first copy that fails it is the one shown.
        for (n, step) in steps.iter_mut().enumerate() {
            let failed = results
                .iter()
                .enumerate()
                .find_map(|(copy, checks)| checks[n].clone().err().map(|failure| (copy, failure)));
            let subject = match failed {
                Some((copy, _)) if results.len() > 1 => {
                    format!("session {id} (copy {} of {})", copy + 1, results.len())
                }
                _ => format!("session {id}"),
            };
            step.record(failed.map_or(Ok(()), |(_, (expected, found))| {
                Err(Failure::new(subject, expected, found))
            }));
        }
    }
    let passed = steps.iter().all(|step| step.passed);
    Grade {
        source: source.to_owned(),
        sessions_expected: sent.len(),
        steps,
        duplicated_sessions: duplicated,
        extra_copies: extra,
        unexpected_records: unexpected,
        passed,
    }
}

type CheckResult = Result<(), (String, String)>;

fn record_result(step: &mut StepGrade, id: &str, result: CheckResult) {
    step.record(result.map_err(|(expected, found)| Failure::new(format!("session {id}"), expected, found)));
}

/// Every check of one session, in the order of [`CHECKS`].
fn check_session(sent: &Map<String, Value>, (route, found): &(Route, Value)) -> [CheckResult; 7] {
    let record = found.as_object();
    let field = |key: &str| record.and_then(|record| record.get(key));
    let shown = |value: Option<&Value>| value.map_or_else(|| "no such key".to_owned(), Value::to_string);
    let Ok(session) = Session::from_record(sent.clone()) else {
        // The producer's own session is always valid; nothing to hold the ETL to.
        return std::array::from_fn(|_| Ok(()));
    };
    let want = Enrichment::of(&session, chrono::Utc::now());
    let [(timestamp, _), quantity, in_cart, products] = want.members();

    let timestamp = match field(timestamp) {
        Some(Value::String(text)) if enrich::is_processing_timestamp(text) => Ok(()),
        other => Err((
            "a timestamp, such as 2024-09-22T04:30:50.634511 or 2024-09-22T04:30:50.634511Z".to_owned(),
            shown(other),
        )),
    };
    let number = |(key, want): (&str, Value)| match field(key) {
        Some(value) if value.as_u64().is_some() && value.as_u64() == want.as_u64() => Ok(()),
        other => Err((want.to_string(), shown(other))),
    };
    let want_route = Route::of(&session);
    let routed = match *route == want_route {
        true => Ok(()),
        false => Err((
            format!("the {want_route} stream (country {:?})", session.country),
            format!("the {route} stream"),
        )),
    };
    let keys = match record {
        Some(record) => check_keys(sent, record),
        None => Err(("a JSON object".to_owned(), found.to_string())),
    };
    [
        timestamp,
        number(quantity),
        number(in_cart),
        number(products),
        routed,
        keys,
        Ok(()),
    ]
}

/// The producer's keys, unchanged and first, then the four keys in order.
fn check_keys(sent: &Map<String, Value>, record: &Map<String, Value>) -> CheckResult {
    for (key, value) in sent {
        match record.get(key) {
            Some(found) if found == value => {}
            found => {
                return Err((
                    format!("{key}: {value}, as the producer sent it"),
                    format!(
                        "{key}: {}",
                        found.map_or_else(|| "no such key".to_owned(), Value::to_string)
                    ),
                ));
            }
        }
    }
    let order: Vec<&str> = record.keys().map(String::as_str).collect();
    let expected: Vec<&str> = sent.keys().map(String::as_str).chain(ENRICHMENT_KEYS).collect();
    if order != expected {
        return Err((format!("keys in this order: {expected:?}"), format!("{order:?}")));
    }
    Ok(())
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "What the ETL wrote, as found in the {} ({} sessions sent):",
            self.source, self.sessions_expected
        )?;
        for step in &self.steps {
            write!(f, "{step}")?;
        }
        writeln!(
            f,
            "  duplicates: {} sessions found more than once ({} extra copies; delivery is at least once)",
            self.duplicated_sessions, self.extra_copies
        )?;
        if self.unexpected_records > 0 {
            writeln!(
                f,
                "  {} records found that are not among the sessions sent (an earlier run's?) were left out",
                self.unexpected_records
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sent() -> Map<String, Value> {
        json!({
            "session_id": "s1", "customer_number": 103, "city": "Oslo", "country": "Norway", "credit_limit": 1,
            "browse_history": [
                {"product_code": "S10_1678", "quantity": "4", "in_shopping_cart": true},
                {"product_code": "S12_1099", "quantity": "2", "in_shopping_cart": false},
            ],
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn enriched(change: impl FnOnce(&mut Map<String, Value>)) -> Found {
        let mut record = sent();
        record.insert("processing_timestamp".into(), json!("2024-09-22T04:30:50.634511"));
        record.insert("overall_product_quantity".into(), json!(6));
        record.insert("overall_in_shopping_cart".into(), json!(4));
        record.insert("total_different_products".into(), json!(2));
        change(&mut record);
        Found {
            route: Route::International,
            data: serde_json::to_vec(&record).unwrap(),
        }
    }

    fn failed_steps(grade: &Grade) -> Vec<&str> {
        grade.steps.iter().filter(|s| !s.passed).map(|s| s.step).collect()
    }

    #[test]
    fn a_right_record_passes_every_step_with_the_labs_naive_timestamp() {
        let graded = grade("streams", &[sent()], &[enriched(|_| {})]);
        assert!(graded.passed, "{graded}");
        assert!(graded.steps.iter().all(|s| s.checked == 1));
    }

    #[test]
    fn each_mistake_fails_its_own_step_with_expected_and_found() {
        type Change = Box<dyn FnOnce(&mut Map<String, Value>)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "2.2.3",
                Box::new(|r| r["processing_timestamp"] = json!("yesterday")),
            ),
            ("2.2.5", Box::new(|r| r["overall_product_quantity"] = json!("42"))),
            ("2.2.6", Box::new(|r| r["overall_in_shopping_cart"] = json!(1))),
            ("2.2.7", Box::new(|r| r["total_different_products"] = json!(1))),
            ("keys", Box::new(|r| r["city"] = json!("Bergen"))),
        ];
        for (step, change) in cases {
            let graded = grade("streams", &[sent()], &[enriched(change)]);
            assert_eq!(failed_steps(&graded), [step], "{graded}");
        }
        let quantity = grade(
            "streams",
            &[sent()],
            &[enriched(|r| r["overall_product_quantity"] = json!("42"))],
        );
        let failure = quantity.steps[1].first_failure.as_ref().unwrap();
        assert_eq!(
            (failure.expected.as_str(), failure.found.as_str()),
            ("6", "\"42\"")
        );
    }

    #[test]
    fn a_missing_timestamp_fails_its_step_and_the_key_order() {
        let graded = grade(
            "streams",
            &[sent()],
            &[enriched(|r| {
                r.shift_remove("processing_timestamp");
            })],
        );
        assert_eq!(failed_steps(&graded), ["2.2.3", "keys"]);
        assert_eq!(
            graded.steps[0].first_failure.as_ref().unwrap().found,
            "no such key"
        );
    }

    /// Found when tried as a new user would: only the first copy of a
    /// duplicated session was graded, so a second copy that was routed the
    /// wrong way, or changed, never failed.
    #[test]
    fn every_copy_of_a_duplicated_session_is_graded() {
        let mut misrouted = enriched(|_| {});
        misrouted.route = Route::Usa;
        let graded = grade("streams", &[sent()], &[enriched(|_| {}), misrouted]);
        assert_eq!(failed_steps(&graded), ["2.2.8"], "{graded}");
        assert_eq!(graded.steps[4].checked, 1, "counted once per session");
        assert_eq!(
            graded.steps[4].first_failure.as_ref().unwrap().subject,
            "session s1 (copy 2 of 2)"
        );

        let corrupted = enriched(|r| r["overall_in_shopping_cart"] = json!(0));
        let graded = grade(
            "streams",
            &[sent()],
            &[enriched(|_| {}), enriched(|_| {}), corrupted],
        );
        assert_eq!(failed_steps(&graded), ["2.2.6"], "{graded}");
        let failure = graded.steps[2].first_failure.as_ref().unwrap();
        assert_eq!(
            (
                failure.subject.as_str(),
                failure.expected.as_str(),
                failure.found.as_str()
            ),
            ("session s1 (copy 3 of 3)", "4", "0")
        );
        assert_eq!((graded.duplicated_sessions, graded.extra_copies), (1, 2));
    }

    #[test]
    fn the_wrong_route_missing_sessions_and_duplicates_are_told_apart() {
        let mut usa = enriched(|_| {});
        usa.route = Route::Usa;
        let graded = grade("streams", &[sent()], &[usa]);
        assert_eq!(failed_steps(&graded), ["2.2.8"]);

        let mut other = sent();
        other["session_id"] = json!("s2");
        let graded = grade("streams", &[sent(), other], &[enriched(|_| {}), enriched(|_| {})]);
        assert_eq!(failed_steps(&graded), ["arrival"]);
        assert_eq!(
            graded.steps[6].first_failure.as_ref().unwrap().subject,
            "session s2"
        );
        assert_eq!((graded.duplicated_sessions, graded.extra_copies), (1, 1));

        let stranger = enriched(|r| r["session_id"] = json!("from-an-earlier-run"));
        let garbage = Found {
            route: Route::Usa,
            data: b"not json".to_vec(),
        };
        let graded = grade("streams", &[sent()], &[enriched(|_| {}), stranger, garbage]);
        assert!(graded.passed, "{graded}");
        assert_eq!(graded.unexpected_records, 2);
    }
}
