//! The streaming ETL through the SDK: routing, enrichment, bad records,
//! throttling, restarts. All but the throttling test run on LocalStack too
//! (see `target.rs`); that one needs the emulator's AWS write limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use emulator::Config;
use emulator::config::KinesisOptions;
use kinesis_lab::enrich::Enrichment;
use kinesis_lab::etl::{self, DeadLetterSink, EtlOptions, Stats};
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::routing::Route;
use kinesis_lab::session::Session;
use kinesis_lab::shard_reader::{ShardReader, StartingPosition};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::target::TestTarget;
use crate::temp_path;

struct Lab {
    target: TestTarget,
    kinesis: aws_sdk_kinesis::Client,
    source: String,
    usa: String,
    international: String,
}

/// The three streams, with names of this test's own, on a shared target...
async fn shared(destination_shards: i32) -> Lab {
    lab(TestTarget::start().await, destination_shards).await
}

/// ...or on an emulator of the test's own, set up as `config` says.
async fn local(config: Config, destination_shards: i32) -> Lab {
    lab(TestTarget::with_emulator(config).await, destination_shards).await
}

async fn lab(target: TestTarget, destination_shards: i32) -> Lab {
    let lab = Lab {
        kinesis: target.clients.kinesis.clone(),
        source: target.name("source"),
        usa: target.name("usa"),
        international: target.name("international"),
        target,
    };
    for (name, shards) in [
        (&lab.source, 4),
        (&lab.usa, destination_shards),
        (&lab.international, destination_shards),
    ] {
        ensure_stream(&lab.kinesis, name, shards, lab.target.patience())
            .await
            .unwrap();
    }
    lab
}

impl Lab {
    fn options(&self, dead_letters: PathBuf, checkpoint: Option<PathBuf>) -> EtlOptions {
        EtlOptions {
            source: self.source.parse().unwrap(),
            destinations: format!(
                r#"{{"USA": "{}", "International": "{}"}}"#,
                self.usa, self.international
            )
            .parse()
            .unwrap(),
            dead_letters: DeadLetterSink::File(dead_letters),
            checkpoint,
            start: StartingPosition::TrimHorizon,
        }
    }
}

/// Puts raw records on the source, sending again what a throttled call refused.
async fn put_source(lab: &Lab, records: Vec<(String, Vec<u8>)>) {
    for chunk in records.chunks(500) {
        let mut pending: Vec<(String, Vec<u8>)> = chunk.to_vec();
        while !pending.is_empty() {
            let entries = pending
                .iter()
                .map(|(key, data)| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(key)
                        .data(Blob::new(data.clone()))
                        .build()
                        .unwrap()
                })
                .collect();
            let out = lab
                .kinesis
                .put_records()
                .stream_name(&lab.source)
                .set_records(Some(entries))
                .send()
                .await
                .unwrap();
            pending = pending
                .into_iter()
                .zip(out.records())
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(p, _)| p)
                .collect();
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

fn sessions(seed: u64, n: usize) -> Vec<(String, Vec<u8>)> {
    SessionGenerator::new(seed)
        .take(n)
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                serde_json::to_vec(&s).unwrap(),
            )
        })
        .collect()
}

/// Runs the ETL until it has taken in `count` records, then stops it.
async fn run_until(kinesis: &aws_sdk_kinesis::Client, options: EtlOptions, count: u64) -> Stats {
    let (stop, stopped) = oneshot::channel::<()>();
    let (seen, mut watch) = watch::channel(Stats::default());
    let kinesis = kinesis.clone();
    let task = tokio::spawn(async move {
        etl::run(
            &kinesis,
            &options,
            async {
                stopped.await.ok();
            },
            |stats| {
                seen.send_replace(stats.clone());
            },
        )
        .await
    });
    tokio::time::timeout(
        Duration::from_secs(60),
        watch.wait_for(|stats| stats.records_in >= count),
    )
    .await
    .expect("the ETL took in every record in time")
    .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap()
}

/// Everything on a stream, as JSON.
async fn read_all(kinesis: &aws_sdk_kinesis::Client, stream: &str, count: usize) -> Vec<Value> {
    let mut reader = ShardReader::open(kinesis.clone(), stream, StartingPosition::TrimHorizon, None)
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stream}: {} of {count}",
            got.len()
        );
        let batch = reader.next_batch().await.unwrap();
        got.extend(
            batch
                .records
                .iter()
                .map(|r| serde_json::from_slice(&r.data).unwrap()),
        );
    }
    // Anything more would be a duplicate.
    for _ in 0..4 {
        let batch = tokio::time::timeout(Duration::from_millis(1500), reader.next_batch()).await;
        if let Ok(batch) = batch {
            got.extend(
                batch
                    .unwrap()
                    .records
                    .iter()
                    .map(|r| serde_json::from_slice(&r.data).unwrap()),
            );
        }
    }
    got
}

/// Checks that `written` holds each of `sent` exactly once, enriched as the lab
/// enriches it and on the right route.
fn assert_delivered_once(sent: &[(String, Vec<u8>)], usa: &[Value], international: &[Value]) {
    let mut by_id: HashMap<String, (Route, &Value)> = HashMap::new();
    for (route, records) in [(Route::Usa, usa), (Route::International, international)] {
        for record in records {
            let id = record["session_id"].as_str().unwrap().to_owned();
            assert!(
                by_id.insert(id.clone(), (route, record)).is_none(),
                "{id} was written twice"
            );
        }
    }
    assert_eq!(by_id.len(), sent.len(), "every session written once");
    for (id, data) in sent {
        let session = Session::from_slice(data).unwrap();
        let (route, written) = by_id[id];
        assert_eq!(route, Route::of(&session), "{id} on the wrong route");
        let enrichment = Enrichment::of(&session, chrono::Utc::now());
        assert_eq!(
            written["overall_product_quantity"],
            enrichment.overall_product_quantity
        );
        assert_eq!(
            written["overall_in_shopping_cart"],
            enrichment.overall_in_shopping_cart
        );
        assert_eq!(
            written["total_different_products"],
            enrichment.total_different_products
        );
        assert!(written["processing_timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

/// A generated batch: every session enriched, on its route, once.
#[tokio::test(flavor = "multi_thread")]
async fn routes_a_generated_batch_to_both_streams() {
    let lab = shared(2).await;
    let sent = sessions(1, 300);
    put_source(&lab, sent.clone()).await;
    let stats = run_until(&lab.kinesis, lab.options(temp_path("dl-routes.jsonl"), None), 300).await;
    assert_eq!(stats.records_in, 300);
    assert_eq!(stats.dead_lettered, 0);
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    assert_delivered_once(&sent, &usa, &international);
    assert!(stats.usa > 40 && stats.international > 150, "{stats}");
}

/// Bad records go to the dead-letter file with their reason, shard and sequence
/// number, and the good ones around them still flow.
#[tokio::test(flavor = "multi_thread")]
async fn bad_records_are_dead_lettered_and_good_ones_flow() {
    let lab = shared(1).await;
    let mut sent = sessions(2, 20);
    let bad = vec![
        ("bad-json".to_owned(), b"{not json".to_vec()),
        ("bad-utf8".to_owned(), vec![b'{', 0xff, b'}']),
        (
            "bad-field".to_owned(),
            br#"{"session_id": "x1", "customer_number": 1}"#.to_vec(),
        ),
    ];
    let mut all = sent[..10].to_vec();
    all.extend(bad.clone());
    all.extend(sent[10..].to_vec());
    put_source(&lab, all).await;
    let dead_letters = temp_path("dl-bad.jsonl");
    let _ = std::fs::remove_file(&dead_letters);
    let stats = run_until(&lab.kinesis, lab.options(dead_letters.clone(), None), 23).await;
    assert_eq!(stats.dead_lettered, 3);
    let letters: Vec<Value> = std::fs::read_to_string(&dead_letters)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut reasons: Vec<(&str, &str)> = letters
        .iter()
        .map(|l| {
            (
                l["partition_key"].as_str().unwrap(),
                l["reason"].as_str().unwrap(),
            )
        })
        .collect();
    reasons.sort();
    assert!(
        reasons[0].0 == "bad-field" && reasons[0].1 == "session \"x1\": city: missing",
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "bad-json" && reasons[1].1.starts_with("not JSON"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == "bad-utf8" && reasons[2].1.starts_with("not UTF-8"),
        "{reasons:?}"
    );
    assert!(
        letters
            .iter()
            .all(|l| l["shard_id"].as_str().unwrap().starts_with("shardId-")
                && !l["sequence_number"].as_str().unwrap().is_empty())
    );
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    sent.sort();
    assert_delivered_once(&sent, &usa, &international);
}

/// With AWS's write limits on, a one-shard destination refuses part of every
/// big PutRecords; the ETL sends only the refused records again, and every
/// session arrives once.
#[tokio::test(flavor = "multi_thread")]
async fn throttled_writes_are_retried_without_loss() {
    let config = Config {
        kinesis: KinesisOptions {
            enforce_limits: true,
            ..Config::for_tests().kinesis
        },
        ..Config::for_tests()
    };
    let lab = local(config, 1).await;
    let sent = sessions(3, 2500);
    put_source(&lab, sent.clone()).await;
    let stats = run_until(
        &lab.kinesis,
        lab.options(temp_path("dl-throttle.jsonl"), None),
        2500,
    )
    .await;
    assert!(stats.retried > 0, "the limits refused nothing: {stats}");
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    assert_delivered_once(&sent, &usa, &international);
}

/// Stopped and restarted with its checkpoint, the ETL resumes where it was:
/// nothing lost, nothing written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_from_the_checkpoint() {
    let lab = shared(2).await;
    let checkpoint = temp_path("etl-restart.checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);
    let first = sessions(4, 120);
    put_source(&lab, first.clone()).await;
    let stats = run_until(
        &lab.kinesis,
        lab.options(temp_path("dl-restart.jsonl"), Some(checkpoint.clone())),
        120,
    )
    .await;
    assert_eq!(stats.records_in, 120);
    assert!(checkpoint.exists());

    let second = sessions(5, 80);
    put_source(&lab, second.clone()).await;
    let stats2 = run_until(
        &lab.kinesis,
        lab.options(temp_path("dl-restart.jsonl"), Some(checkpoint)),
        80,
    )
    .await;
    assert_eq!(
        stats2.records_in, 80,
        "the restart read only what came after the checkpoint"
    );

    let mut all = first;
    all.extend(second);
    let usa = read_all(&lab.kinesis, &lab.usa, (stats.usa + stats2.usa) as usize).await;
    let international = read_all(
        &lab.kinesis,
        &lab.international,
        (stats.international + stats2.international) as usize,
    )
    .await;
    assert_delivered_once(&all, &usa, &international);
}
