//! The lab's programs over real HTTP with the SDK: the shard reader behind
//! `consume` (and the ETL), and the commands themselves. Tests made with
//! `shared()` run on LocalStack too (see `target.rs`); those made with
//! `local(config)` need an emulator setting, so they get an emulator of their own.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use emulator::Config;
use emulator::config::KinesisOptions;
use kinesis_lab::checkpoint::{Checkpoint, ShardPosition};
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::shard_reader::{ShardReader, StartingPosition};

use crate::target::TestTarget;
use crate::{kinesis_lab, text};

struct Local {
    target: TestTarget,
    kinesis: aws_sdk_kinesis::Client,
}

/// A target the test can share with others (see `target.rs`).
async fn shared() -> Local {
    Local::new(TestTarget::start().await)
}

/// An emulator of the test's own, set up as `config` says.
async fn local(config: Config) -> Local {
    Local::new(TestTarget::with_emulator(config).await)
}

impl Local {
    fn new(target: TestTarget) -> Local {
        Local {
            kinesis: target.clients.kinesis.clone(),
            target,
        }
    }

    /// A stream name of this test's own.
    fn name(&self, base: &str) -> String {
        self.target.name(base)
    }

    async fn stream(&self, name: &str, shards: i32) {
        ensure_stream(&self.kinesis, name, shards, self.target.patience())
            .await
            .unwrap();
    }

    async fn put(&self, stream: &str, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            let data = format!("{{\"session_id\":\"{key}\"}}");
            self.kinesis
                .put_record()
                .stream_name(stream)
                .partition_key(key)
                .data(Blob::new(data))
                .send()
                .await
                .unwrap();
        }
    }

    async fn split(&self, stream: &str) {
        self.kinesis
            .update_shard_count()
            .stream_name(stream)
            .target_shard_count(2)
            .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
            .send()
            .await
            .unwrap();
        // An update takes the stream through UPDATING back to ACTIVE.
        ensure_stream(&self.kinesis, stream, 2, self.target.patience())
            .await
            .unwrap();
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Reads until `count` records came, returning their partition keys in read order.
async fn read(reader: &mut ShardReader, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} records: {got:?}",
            got.len()
        );
        let batch = reader.next_batch().await.unwrap();
        got.extend(batch.records.into_iter().map(|r| r.partition_key));
    }
    got
}

/// Every shard is read, each in its order: all records come, once.
#[tokio::test(flavor = "multi_thread")]
async fn the_reader_reads_every_shard_in_order() {
    let lab = shared().await;
    let s = lab.name("s");
    lab.stream(&s, 4).await;
    let sent = keys("k", 40);
    lab.put(&s, sent.clone()).await;
    let mut reader = ShardReader::open(lab.kinesis.clone(), &s, StartingPosition::TrimHorizon, None)
        .await
        .unwrap();
    let mut per_shard: HashMap<String, Vec<String>> = HashMap::new();
    let mut total = 0;
    while total < sent.len() {
        let batch = reader.next_batch().await.unwrap();
        total += batch.records.len();
        for record in batch.records {
            per_shard
                .entry(record.shard_id)
                .or_default()
                .push(record.sequence_number);
        }
    }
    assert_eq!(total, sent.len());
    assert!(per_shard.len() > 1, "the keys spread over several shards");
    for sequences in per_shard.values() {
        // Sequence numbers are decimal strings too long for any integer type.
        let order = |s: &String| (s.len(), s.clone());
        assert!(
            sequences.windows(2).all(|w| order(&w[0]) < order(&w[1])),
            "in order within the shard"
        );
    }
}

/// An emulator whose shard iterators expire after 1 s instead of AWS's 300 s.
fn one_second_iterators() -> Config {
    Config {
        kinesis: KinesisOptions {
            iterator_ttl: Duration::from_secs(1),
            ..Config::for_tests().kinesis
        },
        ..Config::for_tests()
    }
}

/// An iterator that expired is renewed right after the last record read: the
/// next records come, none twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_iterator_is_renewed_after_the_last_record() {
    let lab = local(one_second_iterators()).await;
    lab.stream("s", 1).await;
    lab.put("s", keys("a", 3)).await;
    let mut reader = ShardReader::open(lab.kinesis.clone(), "s", StartingPosition::TrimHorizon, None)
        .await
        .unwrap();
    assert_eq!(read(&mut reader, 3).await, keys("a", 3));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    lab.put("s", keys("b", 3)).await;
    assert_eq!(read(&mut reader, 3).await, keys("b", 3));
}

/// An iterator taken at LATEST that expires before any record came still gets
/// every record put after it was taken.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_latest_iterator_loses_nothing() {
    let lab = local(one_second_iterators()).await;
    lab.stream("s", 1).await;
    let mut reader = ShardReader::open(lab.kinesis.clone(), "s", StartingPosition::Latest, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    lab.put("s", keys("n", 3)).await;
    assert_eq!(read(&mut reader, 3).await, keys("n", 3));
}

/// A reshard while reading: the parent is read to its end, then its children.
#[tokio::test(flavor = "multi_thread")]
async fn a_reshard_is_followed_parents_first() {
    let lab = shared().await;
    let s = lab.name("s");
    lab.stream(&s, 1).await;
    let mut reader = ShardReader::open(lab.kinesis.clone(), &s, StartingPosition::TrimHorizon, None)
        .await
        .unwrap();
    lab.put(&s, keys("before", 5)).await;
    lab.split(&s).await;
    lab.put(&s, keys("after", 6)).await;
    let got = read(&mut reader, 11).await;
    assert_eq!(
        got[..5],
        keys("before", 5)[..],
        "the parent's records, in order, first: {got:?}"
    );
    let mut after = got[5..].to_vec();
    after.sort();
    assert_eq!(after, keys("after", 6));
}

/// A reader opened with a checkpoint starts after the positions it holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_resumes_after_the_last_record() {
    let lab = shared().await;
    let s = lab.name("s");
    lab.stream(&s, 1).await;
    lab.put(&s, keys("old", 4)).await;
    let mut reader = ShardReader::open(lab.kinesis.clone(), &s, StartingPosition::TrimHorizon, None)
        .await
        .unwrap();
    let batch = reader.next_batch().await.unwrap();
    assert_eq!(batch.records.len(), 4);
    let mut checkpoint = Checkpoint::new(&s);
    let last = batch.records.last().unwrap().sequence_number.clone();
    checkpoint
        .shards
        .insert(batch.shard_id.clone(), ShardPosition::After(last));
    lab.put(&s, keys("new", 2)).await;

    let mut resumed = ShardReader::open(
        lab.kinesis.clone(),
        &s,
        StartingPosition::TrimHorizon,
        Some(&checkpoint.shards),
    )
    .await
    .unwrap();
    assert_eq!(read(&mut resumed, 2).await, keys("new", 2));
}

/// `produce` then `consume`, as in lab steps 1.3 to 1.5: every record comes back
/// with its partition key; a bad record is refused and nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn produce_then_consume() {
    let lab = shared().await;
    let cli = lab.name("cli");
    lab.stream(&cli, 2).await;
    let url = lab.target.url.clone();
    let example = std::fs::read_to_string(crate::root().join("data/example_record.json")).unwrap();
    let records = [
        example.clone(),
        r#"{"session_id": "b2", "country": "France"}"#.to_owned(),
    ];
    for record in &records {
        let output = kinesis_lab(
            &[
                "produce",
                "--endpoint-url",
                &url,
                "--stream",
                &cli,
                "--json_string",
                record,
            ],
            b"",
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(
            text(&output.stdout).starts_with("Produced record "),
            "{}",
            text(&output.stdout)
        );
        assert!(text(&output.stdout).contains(" to Shard shardId-"));
    }
    let refused = kinesis_lab(
        &[
            "produce",
            "--endpoint-url",
            &url,
            "--stream",
            &cli,
            "--json-string",
            "{\"x\": 1}",
        ],
        b"",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("no session_id"));

    let output = kinesis_lab(
        &[
            "consume",
            "--endpoint-url",
            &url,
            "--stream",
            &cli,
            "--no-follow",
            "--output",
            "json",
        ],
        b"",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut keys: Vec<&str> = lines
        .iter()
        .map(|l| l["partition_key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["a1", "b2"]);
    let example: serde_json::Value = serde_json::from_str(&example).unwrap();
    assert!(lines.iter().any(|l| l["data"] == example));
    let summary = text(&output.stderr).lines().last().unwrap_or_default();
    assert!(summary.starts_with("read 2 records from "), "{summary}");
}

/// The emulator answers STS GetCallerIdentity with its account, which names the
/// lab's buckets, as on AWS and LocalStack.
#[tokio::test(flavor = "multi_thread")]
async fn the_account_id_comes_from_sts() {
    let config = Config {
        account_id: "123456789012".into(),
        ..Config::for_tests()
    };
    let lab = local(config).await;
    assert_eq!(lab.target.clients.account_id().await.unwrap(), "123456789012");
}

/// `infra up` makes the lab's part 2 as the lab names it, a second `up` changes
/// nothing, `status` shows it, and `down` removes it.
#[tokio::test(flavor = "multi_thread")]
async fn infra_up_status_down() {
    let lab = local(Config::for_tests()).await;
    let url = lab.target.url.clone();
    for _ in 0..2 {
        let up = kinesis_lab(
            &["infra", "up", "--endpoint-url", &url, "--buffer-interval", "1"],
            b"",
        );
        assert!(up.status.success(), "{}", text(&up.stderr));
    }
    let status = kinesis_lab(&["infra", "status", "--endpoint-url", &url], b"");
    let table = text(&status.stdout);
    for name in [
        "de-c2w2lab1-kinesis-data-stream ",
        "de-c2w2lab1-usa-data-stream",
        "de-c2w2lab1-international-data-stream",
        "de-c2w2lab1-000000000000-usa",
        "de-c2w2lab1-000000000000-int",
        "de-c2w2lab1-firehose-usa",
        "de-c2w2lab1-firehose-international",
    ] {
        let line = table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing from\n{table}"));
        assert!(line.contains("ACTIVE") || line.contains("exists"), "{line}");
    }
    assert!(table.contains("4 open shards"));
    let down = kinesis_lab(&["infra", "down", "--endpoint-url", &url], b"");
    assert!(down.status.success(), "{}", text(&down.stderr));
    let status = kinesis_lab(&["infra", "status", "--endpoint-url", &url], b"");
    let table = text(&status.stdout);
    assert!(
        table
            .lines()
            .filter(|l| l.contains("de-c2w2lab1-firehose") || l.contains("000000000000"))
            .all(|l| l.contains("missing")),
        "{table}"
    );
}

/// Found: `consume --no-follow` stopped after 1,000 records per shard without a
/// word (the emulator's MillisBehindLatest is always 0, and a full read at 0
/// was taken as the end). Now it reads every shard to its end.
#[tokio::test(flavor = "multi_thread")]
async fn consume_no_follow_reads_every_shard_to_its_end() {
    let lab = shared().await;
    let stream = lab.target.name("no-follow");
    ensure_stream(&lab.kinesis, &stream, 2, lab.target.patience())
        .await
        .unwrap();
    let sent = 2_600;
    for batch in (0..sent).collect::<Vec<_>>().chunks(500) {
        let entries = batch
            .iter()
            .map(|n| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{n}"))
                    .data(Blob::new(format!("{{\"n\":{n}}}")))
                    .build()
                    .unwrap()
            })
            .collect();
        let output = lab
            .kinesis
            .put_records()
            .stream_name(&stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(output.failed_record_count(), Some(0));
    }

    let output = kinesis_lab(
        &lab.target
            .args(&["consume", "--stream", &stream, "--no-follow", "--output", "json"]),
        b"",
    );

    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut read: Vec<u64> = text(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["data"]["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    read.sort_unstable();
    read.dedup();
    let missing = (0..sent as u64).find(|n| read.binary_search(n).is_err());
    assert_eq!(
        (read.len(), missing),
        (sent, None),
        "read, and the first record missing, of {sent}"
    );
}

/// `generate --aggregate N` puts sessions in KPL aggregates, and `consume`
/// takes them apart as the KCL does: one line per session, with its own
/// partition key.
#[tokio::test(flavor = "multi_thread")]
async fn generate_aggregates_and_consume_takes_them_apart() {
    let lab = shared().await;
    let stream = lab.target.name("kpl");
    ensure_stream(&lab.kinesis, &stream, 1, lab.target.patience())
        .await
        .unwrap();
    let put = kinesis_lab(
        &lab.target.args(&[
            "generate",
            "--stream",
            &stream,
            "--count",
            "10",
            "--aggregate",
            "4",
            "--mean-gap",
            "0s",
            "--seed",
            "9",
        ]),
        b"",
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    assert!(
        text(&put.stderr).contains("in KPL aggregates of up to 4"),
        "{}",
        text(&put.stderr)
    );
    let records = count_kinesis_records(&lab.kinesis, &stream).await;
    assert_eq!(records, 3, "10 sessions in aggregates of 4, 4 and 2");

    let output = kinesis_lab(
        &lab.target
            .args(&["consume", "--stream", &stream, "--no-follow", "--output", "json"]),
        b"",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    for line in &lines {
        assert_eq!(line["partition_key"], line["data"]["session_id"], "{line}");
    }
}

/// How many Kinesis records (not user records) a one-shard stream holds.
async fn count_kinesis_records(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> usize {
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let page = kinesis
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    page.records().len()
}

/// Found (issue 15): a stream that is not there was worded three ways,
/// depending on the command, and the ETL did not say where it looked. Now
/// every command says one sentence: the stream, the target, how to make it.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_stream_is_worded_the_same_by_every_command() {
    let lab = shared().await;
    let url = lab.target.url.clone();
    let missing = lab.name("nowhere");
    let source = lab.name("source");
    lab.stream(&source, 1).await;
    // A whole session, so that the ETL routes it and writes it.
    let example = std::fs::read_to_string(crate::root().join("data/example_record.json")).unwrap();
    lab.kinesis
        .put_record()
        .stream_name(&source)
        .partition_key("example")
        .data(Blob::new(example.trim().as_bytes()))
        .send()
        .await
        .unwrap();
    let dead_letters = crate::temp_path("missing-stream-dead-letters.jsonl");
    let dead_letters = dead_letters.to_str().unwrap();
    let destinations = format!(r#"{{"USA": "{missing}", "International": "{missing}"}}"#);
    let session = r#"{"session_id": "s-1", "country": "USA"}"#;
    let commands: [(&str, Vec<&str>); 5] = [
        (
            "produce",
            vec!["produce", "--stream", &missing, "--json-string", session],
        ),
        ("consume", vec!["consume", "--stream", &missing, "--no-follow"]),
        ("generate", vec!["generate", "--stream", &missing, "--count", "1"]),
        (
            "etl reading",
            vec![
                "etl",
                "--source-stream",
                &missing,
                "--dest-streams",
                &destinations,
                "--dead-letter-file",
                dead_letters,
            ],
        ),
        (
            "etl writing",
            vec![
                "etl",
                "--source-stream",
                &source,
                "--dest-streams",
                &destinations,
                "--dead-letter-file",
                dead_letters,
            ],
        ),
    ];
    // The target as the commands name it from --endpoint-url (the embedded
    // emulator's address is named as such, whoever answers there).
    let target = kinesis_lab::target::Target::from_flags(Some(&url), false);
    let wording = kinesis_lab::aws_error::AwsError::StreamMissing {
        stream: missing.clone(),
        target: target.to_string(),
    }
    .to_string();
    assert!(wording.contains(&missing) && wording.contains(&url) && wording.contains("create-stream"));
    for (what, args) in commands {
        let mut args = args;
        args.extend(["--endpoint-url", &url]);
        let output = kinesis_lab(&args, b"");
        assert!(!output.status.success(), "{what} succeeded");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&wording),
            "{what} said:\n{stderr}\nnot:\n{wording}"
        );
    }
}
