//! Snapshots of enriched records: any change to what the ETL writes shows up as a
//! snapshot difference to review (`cargo xtask snapshots`).

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

use crate::{kinesis_lab, root, text};

/// Redacts `processing_timestamp`, which changes on every run, after checking
/// that it has the promised format: RFC 3339, UTC (`Z`), microseconds.
fn timestamp_redaction() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, _path| {
        let stamp = value.as_str().expect("processing_timestamp is a string");
        let parsed = DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|err| panic!("{stamp:?}: {err}"));
        assert_eq!(parsed.offset().local_minus_utc(), 0, "{stamp} is not UTC");
        assert_eq!(
            parsed.to_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
            stamp,
            "not in the Z, microseconds form"
        );
        "[processing_timestamp]"
    })
}

fn enrich(input: &[u8]) -> Vec<Value> {
    let output = kinesis_lab(&["enrich"], input);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The enriched fixtures, as `kinesis-lab enrich` writes them.
#[test]
fn enriched_fixture_sessions() {
    let sessions = std::fs::read(root().join("fixtures/sessions.jsonl")).unwrap();
    let enriched = enrich(&sessions);
    assert_eq!(enriched.len(), kinesis_lab::fixtures::SESSIONS_COUNT);
    insta::assert_json_snapshot!(enriched, { "[].processing_timestamp" => timestamp_redaction() });
}

/// The lab's example record (integer quantities), enriched.
#[test]
fn enriched_example_record() {
    let example: Value =
        serde_json::from_slice(&std::fs::read(root().join("data/example_record.json")).unwrap()).unwrap();
    let enriched = enrich(format!("{example}\n").as_bytes());
    insta::assert_json_snapshot!(enriched[0], { ".processing_timestamp" => timestamp_redaction() });
}
