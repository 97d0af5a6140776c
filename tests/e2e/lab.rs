//! The whole lab as tests, through the `kinesis-lab` binary as a learner runs
//! it, on the emulator or on LocalStack (see `target.rs`).
//!
//! Part 1: a stream, a consumer already reading it, records put one by one;
//! every record comes out, in order within its shard.
//! Part 2: the infrastructure, the ETL, generated sessions and a few bad
//! records; every session lands exactly once in the bucket of its route,
//! enriched as the lab enriches it, and the bad records in the dead-letter file.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::lab_names::CLI_STREAM;
use serde_json::Value;

use crate::target::TestTarget;
use crate::{interrupt, kinesis_lab, root, temp_path, text};

/// Starts `kinesis-lab` in the background, as in a second terminal.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kinesis-lab starts")
}

/// Waits for a child that stops by itself, killing it after `patience`.
fn wait(mut child: Child, patience: Duration) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > patience {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {patience:?}; it printed:\n{}{}",
                text(&output.stdout),
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Lab part 1 (steps 1.1 to 1.5): every record put while the consumer runs is
/// consumed once, and each shard gives its records in the order they were put.
#[tokio::test(flavor = "multi_thread")]
async fn part_1_every_record_put_is_consumed_in_order() {
    let target = TestTarget::start().await;
    let stream = target.name(CLI_STREAM);
    ensure_stream(&target.clients.kinesis, &stream, 2, target.patience())
        .await
        .unwrap();

    let example = std::fs::read_to_string(root().join("data/example_record.json")).unwrap();
    let generated = kinesis_lab(&["generate", "--count", "11", "--seed", "5"], b"");
    let mut records = vec![example.trim().to_owned()];
    records.extend(text(&generated.stdout).lines().map(str::to_owned));
    let count = records.len().to_string();

    // The consumer starts first and waits, as in the lab's second terminal.
    let consumer = spawn(&target.args(&[
        "consume", "--stream", &stream, "--output", "json", "--limit", &count,
    ]));

    // Put one at a time, as the lab's producer does; note where each landed.
    let mut put: Vec<(String, String)> = Vec::new();
    for record in &records {
        let output = kinesis_lab(
            &target.args(&["produce", "--stream", &stream, "--json-string", record]),
            b"",
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let shard = text(&output.stdout)
            .trim()
            .rsplit(' ')
            .next()
            .expect("Produced record <sequence> to Shard <shard>")
            .to_owned();
        let session: Value = serde_json::from_str(record).unwrap();
        put.push((session["session_id"].as_str().unwrap().to_owned(), shard));
    }

    let output = wait(consumer, target.patience());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let consumed: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    // Per shard, the keys in the order they came out, then in the order put.
    let mut out_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in &consumed {
        let key = record["partition_key"].as_str().unwrap();
        assert_eq!(
            record["data"]["session_id"], key,
            "the partition key is the session_id"
        );
        out_of
            .entry(record["shard_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(key.to_owned());
    }
    let mut put_on: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, shard) in &put {
        put_on.entry(shard.clone()).or_default().push(key.clone());
    }
    assert_eq!(out_of, put_on);
    assert!(out_of.len() == 2, "both shards got records: {out_of:?}");
    let example_out = consumed.iter().find(|r| r["partition_key"] == "a1").unwrap();
    assert_eq!(
        example_out["data"],
        serde_json::from_str::<Value>(&example).unwrap(),
        "the example record arrives unchanged"
    );
}

/// Lab part 2 (steps 2.1 to 2.3): with the infrastructure up and the ETL
/// running, every generated session reaches the bucket of its route exactly
/// once, enriched; bad records go to the dead-letter file and stop nothing.
#[tokio::test(flavor = "multi_thread")]
async fn part_2_every_session_lands_once_enriched_in_its_bucket() {
    let target = TestTarget::start().await;
    let suffix = target.suffix.as_str();
    let patience = format!("{}s", target.patience().as_secs());

    let up = kinesis_lab(
        &target.args(&[
            "infra",
            "up",
            "--name-suffix",
            suffix,
            "--buffer-interval",
            "1",
            "--timeout",
            &patience,
        ]),
        b"",
    );
    assert!(up.status.success(), "{}", text(&up.stderr));

    let dead_letters = temp_path(&format!("dead-letters-{suffix}.jsonl"));
    let etl = spawn(&target.args(&[
        "etl",
        "--name-suffix",
        suffix,
        "--dead-letter-file",
        dead_letters.to_str().unwrap(),
    ]));

    // The sessions, as the lab's producer sends them...
    let source = target.names.source_stream().to_string();
    let put = kinesis_lab(
        &target.args(&[
            "generate",
            "--stream",
            &source,
            "--count",
            "30",
            "--seed",
            "8",
            "--mean-gap",
            "0s",
        ]),
        b"",
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    // ...and two records no ETL can enrich.
    for (key, data) in [
        ("bad-1", &b"not json"[..]),
        ("bad-2", br#"{"session_id":"bad-2","browse_history":"none"}"#),
    ] {
        target
            .clients
            .kinesis
            .put_record()
            .stream_name(&source)
            .partition_key(key)
            .data(Blob::new(data))
            .send()
            .await
            .unwrap();
    }

    let expected = temp_path(&format!("sessions-{suffix}.jsonl"));
    std::fs::write(
        &expected,
        kinesis_lab(&["generate", "--count", "30", "--seed", "8"], b"").stdout,
    )
    .unwrap();
    let verify = kinesis_lab(
        &target.args(&[
            "verify",
            "--name-suffix",
            suffix,
            "--expect",
            expected.to_str().unwrap(),
            "--wait",
            &patience,
        ]),
        b"",
    );
    interrupt(&etl);
    let etl_output = etl.wait_with_output().unwrap();
    let (etl_status, etl_log) = (etl_output.status, text(&etl_output.stderr));
    let report = text(&verify.stdout);
    assert!(
        verify.status.success(),
        "{report}{}\nETL:\n{etl_log}",
        text(&verify.stderr)
    );
    assert!(
        report.contains("expected 30 sessions: 0 missing, 0 delivered more than once"),
        "{report}"
    );
    assert!(etl_status.success(), "{etl_status:?}\n{etl_log}");

    // The bad records, each with its reason.
    let letters: HashMap<String, String> = std::fs::read_to_string(&dead_letters)
        .unwrap()
        .lines()
        .map(|line| {
            let letter: Value = serde_json::from_str(line).unwrap();
            (
                letter["partition_key"].as_str().unwrap().to_owned(),
                letter["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters["bad-1"].starts_with("not JSON"), "{letters:?}");
    assert!(
        letters["bad-2"].contains("customer_number: missing"),
        "{letters:?}"
    );

    // What the ETL computed, per bucket, locked down by a snapshot: the same
    // seed gives the same sessions on every target.
    let (records, _) = kinesis_lab::verify::delivered(&target.clients, &target.names)
        .await
        .unwrap();
    let mut buckets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for delivered in &records {
        let r = &delivered.record;
        let bucket = delivered.bucket.replace(&format!("-{suffix}"), "");
        let bucket = bucket.replace(target.names.account(), "<account>");
        buckets.entry(bucket).or_default().push(format!(
            "{} {:<14} quantity {:>2}, in cart {:>2}, products {}",
            r["session_id"].as_str().unwrap(),
            r["country"].as_str().unwrap(),
            r["overall_product_quantity"].as_u64().unwrap(),
            r["overall_in_shopping_cart"].as_u64().unwrap(),
            r["total_different_products"].as_u64().unwrap(),
        ));
    }
    for lines in buckets.values_mut() {
        lines.sort();
    }
    insta::assert_json_snapshot!(buckets);

    let down = kinesis_lab(&target.args(&["infra", "down", "--name-suffix", suffix]), b"");
    assert!(down.status.success(), "{}", text(&down.stderr));
    // Streams are DELETING for a moment after `down`, as on AWS.
    let started = Instant::now();
    loop {
        let status = kinesis_lab(&target.args(&["infra", "status", "--name-suffix", suffix]), b"");
        let status = text(&status.stdout).to_owned();
        assert_eq!(status.lines().count(), 7, "{status}");
        if status.lines().all(|line| line.contains("missing")) {
            break;
        }
        assert!(
            started.elapsed() < target.patience()
                && status
                    .lines()
                    .all(|line| line.contains("missing") || line.contains("DELETING")),
            "down removes everything:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
