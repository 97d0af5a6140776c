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
            fan_out: None,
            leases: None,
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

/// `etl --efo`: records pushed by SubscribeToShard are routed like polled
/// ones, and a second run, as the same consumer and from the checkpoint,
/// takes only what came since.
#[tokio::test(flavor = "multi_thread")]
async fn with_enhanced_fan_out_every_session_is_routed_once_across_restarts() {
    let lab = shared(2).await;
    let checkpoint = temp_path("efo-checkpoint.json");
    let options = EtlOptions {
        fan_out: Some(format!("e2e-efo-{}", lab.source)),
        ..lab.options(temp_path("dl-efo.jsonl"), Some(checkpoint))
    };
    let first = sessions(11, 200);
    put_source(&lab, first.clone()).await;
    let stats = run_until(&lab.kinesis, options.clone(), 200).await;
    assert_eq!((stats.records_in, stats.dead_lettered), (200, 0), "{stats}");

    // The consumer is registered already: the second run takes it up again.
    let second = sessions(12, 100);
    put_source(&lab, second.clone()).await;
    let again = run_until(&lab.kinesis, options, 100).await;
    assert_eq!(
        again.records_in, 100,
        "read again what the first run wrote: {again}"
    );

    let sent: Vec<_> = first.into_iter().chain(second).collect();
    let usa = read_all(&lab.kinesis, &lab.usa, (stats.usa + again.usa) as usize).await;
    let international = read_all(
        &lab.kinesis,
        &lab.international,
        (stats.international + again.international) as usize,
    )
    .await;
    assert_delivered_once(&sent, &usa, &international);
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

/// Found: KPL-aggregated records (sessions packed by a producer built on the
/// Kinesis Producer Library) were dead-lettered as "not UTF-8". Now the ETL
/// takes them apart as the KCL does: each session is enriched and routed on its
/// own, and an aggregate that cannot be taken apart is a dead letter that says so.
#[tokio::test(flavor = "multi_thread")]
async fn kpl_aggregates_are_taken_apart_and_a_corrupt_one_is_dead_lettered() {
    use kinesis_lab::shard_reader::kpl;
    let lab = shared(1).await;
    let sent = sessions(5, 10);
    let pack = |part: &[(String, Vec<u8>)]| {
        let packed = kpl::aggregate(part.iter().map(|(key, data)| (key.as_str(), data.as_slice())));
        (part[0].0.clone(), packed)
    };
    let corrupt = ("corrupt".to_owned(), kpl::seal(&[0xff, 0xff, 0xff]));
    put_source(&lab, vec![pack(&sent[..5]), corrupt, pack(&sent[5..])]).await;
    let dead_letters = temp_path("dl-kpl.jsonl");
    let _ = std::fs::remove_file(&dead_letters);
    let stats = run_until(&lab.kinesis, lab.options(dead_letters.clone(), None), 11).await;
    assert_eq!((stats.records_in, stats.dead_lettered), (11, 1), "{stats}");
    let letters = read_letters(&dead_letters);
    assert_eq!(letters[0]["partition_key"], "corrupt");
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("KPL aggregate"),
        "{}",
        letters[0]["reason"]
    );
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    let mut sent = sent;
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

/// A valid session padded with a `notes` field to `bytes` bytes of JSON, with
/// its session id as the key.
fn padded_session(seed: u64, bytes: usize) -> (String, Vec<u8>) {
    let mut session = SessionGenerator::new(seed).next().unwrap();
    let unpadded = serde_json::to_vec(&session).unwrap().len() + r#","notes":"""#.len();
    session.insert("notes".to_owned(), "x".repeat(bytes - unpadded).into());
    let data = serde_json::to_vec(&session).unwrap();
    assert_eq!(data.len(), bytes);
    (session["session_id"].as_str().unwrap().to_owned(), data)
}

fn read_letters(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Found: a valid session just under 1 MiB is over 1 MiB once enriched, and the
/// ETL exited on it, and again on every restart. Now it is dead-lettered with
/// the reason, and the sessions around it flow.
#[tokio::test(flavor = "multi_thread")]
async fn a_valid_session_just_under_1_mib_is_dead_lettered_once_enriched_over_it() {
    let lab = local(Config::for_tests(), 1).await;
    let sent = sessions(6, 4);
    let (big_id, big) = padded_session(7, etl::MAX_RECORD_BYTES - 36 - 8);
    let mut all = sent.clone();
    all.insert(2, (big_id.clone(), big));
    put_source(&lab, all).await;
    let dead_letters = temp_path("dl-just-under-1mib.jsonl");
    let _ = std::fs::remove_file(&dead_letters);

    let stats = run_until(&lab.kinesis, lab.options(dead_letters.clone(), None), 5).await;

    assert_eq!(stats.dead_lettered, 1, "{stats}");
    let letters = read_letters(&dead_letters);
    assert_eq!(letters[0]["partition_key"], big_id.as_str());
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("once enriched") && reason.contains("(1 MiB)"),
        "{reason}"
    );
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    assert_delivered_once(&sent, &usa, &international);
}

/// Found: four valid 700 kB sessions on one shard made a PutRecords body the
/// emulator refused ("Request body is too large"; AWS takes 5 MiB), and the
/// ETL sent it again forever. Now all four arrive.
#[tokio::test(flavor = "multi_thread")]
async fn four_700_kb_sessions_on_one_shard_are_all_written() {
    let lab = local(Config::for_tests(), 1).await;
    let sent: Vec<_> = (0..4).map(|i| padded_session(20 + i, 700_000)).collect();
    // One partition key: one source shard, one GetRecords, one PutRecords.
    let on_one_shard = sent
        .iter()
        .map(|(_, data)| ("one-shard".to_owned(), data.clone()))
        .collect();
    put_source(&lab, on_one_shard).await;

    let stats = run_until(&lab.kinesis, lab.options(temp_path("dl-700kb.jsonl"), None), 4).await;

    assert_eq!(stats.dead_lettered, 0, "{stats}");
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    assert_delivered_once(&sent, &usa, &international);
}

/// Found: with --dead-letter-stream, a 1 MB bad record's dead letter (its data
/// in base64, and more) was over 1 MiB, and the ETL exited. Now the letter
/// keeps the record's first 512 KiB, with its size and SHA-256.
#[tokio::test(flavor = "multi_thread")]
async fn a_1_mb_bad_record_s_dead_letter_is_cut_to_fit_the_dead_letter_stream() {
    use sha2::Digest;
    let lab = local(Config::for_tests(), 1).await;
    let dead_letter_stream = lab.target.name("dead-letters");
    ensure_stream(&lab.kinesis, &dead_letter_stream, 1, lab.target.patience())
        .await
        .unwrap();
    let bad = vec![b'x'; 1_000_000];
    let mut all = sessions(8, 2);
    all.push(("bad-and-big".to_owned(), bad.clone()));
    put_source(&lab, all).await;
    let options = EtlOptions {
        dead_letters: DeadLetterSink::Stream(dead_letter_stream.parse().unwrap()),
        ..lab.options(temp_path("unused.jsonl"), None)
    };

    let stats = run_until(&lab.kinesis, options, 3).await;

    assert_eq!(stats.dead_lettered, 1, "{stats}");
    let letters = read_all(&lab.kinesis, &dead_letter_stream, 1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(
        letter["reason"].as_str().unwrap().starts_with("not JSON"),
        "{letter}"
    );
    assert_eq!(letter["data_truncated"], true);
    assert_eq!(letter["data_bytes"], 1_000_000);
    assert_eq!(letter["data_sha256"], format!("{:x}", sha2::Sha256::digest(&bad)));
    let kept = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        letter["data_base64"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(kept, bad[..512 * 1024]);
}

/// Found: an ETL whose writes kept failing retried forever and ignored SIGTERM.
/// Now a stop ends it within 5 s, even in the middle of a write, and a restart
/// from its checkpoint writes everything: nothing was lost.
#[tokio::test(flavor = "multi_thread")]
async fn the_etl_stops_within_5_s_while_its_writes_keep_failing() {
    let lab = local(Config::for_tests(), 1).await;
    let sent = sessions(9, 50);
    put_source(&lab, sent.clone()).await;
    let checkpoint = temp_path("etl-stops.checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);
    let options = lab.options(temp_path("dl-stops.jsonl"), Some(checkpoint.clone()));

    let proxy = PutBlockingProxy::start(&lab.target.url).await;
    let through_proxy = kinesis_lab::target::Target::Endpoint(proxy.url.clone())
        .connect()
        .await
        .unwrap()
        .kinesis;
    let (stop, stopped) = oneshot::channel::<()>();
    let batches = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let etl = tokio::spawn({
        let (options, batches) = (options.clone(), batches.clone());
        async move {
            etl::run(
                &through_proxy,
                &options,
                async {
                    stopped.await.ok();
                },
                |_| {
                    batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                },
            )
            .await
        }
    });
    // Long enough to read a batch and fail at writing it, again and again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(proxy.refused() > 0, "the ETL never tried to write");
    assert_eq!(
        batches.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a batch got through"
    );

    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), etl).await;
    let stats = stopped
        .expect("the ETL stopped within 5 s of being asked")
        .unwrap()
        .unwrap();
    assert_eq!(stats.usa + stats.international, 0, "{stats}");

    // The writes work again: a restart from the checkpoint writes every session once.
    let stats = run_until(&lab.kinesis, options, 50).await;
    let usa = read_all(&lab.kinesis, &lab.usa, stats.usa as usize).await;
    let international = read_all(&lab.kinesis, &lab.international, stats.international as usize).await;
    assert_delivered_once(&sent, &usa, &international);
}

/// Found: after an emulator restart, a checkpoint whose positions the stream no
/// longer knew ended the ETL with a bare InvalidArgumentException. Now it says
/// what happened, and the CLI names the flag that starts over.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_the_stream_no_longer_knows_says_what_happened_and_how_to_start_over() {
    let lab = local(Config::for_tests(), 1).await;
    let checkpoint = temp_path("etl-unknown.checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);
    put_source(&lab, sessions(11, 10)).await;
    run_until(
        &lab.kinesis,
        lab.options(temp_path("dl-unknown.jsonl"), Some(checkpoint.clone())),
        10,
    )
    .await;
    // The source made anew: same name, same shard ids, none of those positions.
    lab.kinesis
        .delete_stream()
        .stream_name(&lab.source)
        .send()
        .await
        .unwrap();
    wait_until_gone(&lab.kinesis, &lab.source).await;
    // Shards remember when they were made, to the second, and so do positions.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ensure_stream(&lab.kinesis, &lab.source, 4, lab.target.patience())
        .await
        .unwrap();
    let again = sessions(12, 5);
    put_source(&lab, again.clone()).await;

    let dead_letter_file = temp_path("dl-unknown-cli.jsonl");
    let destinations = format!(
        r#"{{"USA": "{}", "International": "{}"}}"#,
        lab.usa, lab.international
    );
    let args = [
        "etl",
        "--source-stream",
        &lab.source,
        "--dest-streams",
        &destinations,
        "--dead-letter-file",
        dead_letter_file.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ];
    let mut refused = std::process::Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(lab.target.args(&args))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            refused.kill().unwrap();
            panic!("the ETL went on reading from positions the stream does not know");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(refused.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("is not in that shard"), "{stderr}");
    assert!(stderr.contains("deleted and made anew"), "{stderr}");
    assert!(stderr.contains("--forget-checkpoint"), "{stderr}");

    // With the flag, it starts over and takes the new sessions.
    let mut args = lab.target.args(&args);
    args.push("--forget-checkpoint");
    let mut etl = std::process::Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let written =
        count_records(&lab.kinesis, &lab.usa).await + count_records(&lab.kinesis, &lab.international).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let total = loop {
        let now = count_records(&lab.kinesis, &lab.usa).await
            + count_records(&lab.kinesis, &lab.international).await;
        if now >= written + again.len() || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    crate::interrupt(&etl);
    let status = etl.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(etl.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(total, written + again.len(), "{stderr}");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("forgot the positions saved in"), "{stderr}");
}

/// How many records a stream holds now, read from TRIM_HORIZON.
async fn count_records(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> usize {
    let shards = kinesis.list_shards().stream_name(stream).send().await.unwrap();
    let mut count = 0;
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let output = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .unwrap();
            count += output.records().len();
            match output.next_shard_iterator() {
                Some(next) if !output.records().is_empty() => iterator = next.to_owned(),
                _ => break,
            }
        }
    }
    count
}

async fn wait_until_gone(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    for _ in 0..300 {
        if kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{stream} was never deleted");
}

/// A loopback TCP proxy in front of an endpoint that cuts every connection on
/// which a PutRecords starts: writes fail as with a network fault, reads pass.
struct PutBlockingProxy {
    url: String,
    refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PutBlockingProxy {
    async fn start(upstream_url: &str) -> PutBlockingProxy {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream_url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn({
            let refused = refused.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    let refused = refused.clone();
                    tokio::spawn(async move {
                        let (mut client_read, mut client_write) = client.into_split();
                        let (mut server_read, mut server_write) = server.into_split();
                        let answers = tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                        });
                        let mut buffer = vec![0; 64 * 1024];
                        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                            let chunk = &buffer[..n];
                            let put = b"Kinesis_20131202.PutRecords";
                            if chunk.windows(put.len()).any(|w| w == put) {
                                refused.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            if server_write.write_all(chunk).await.is_err() {
                                break;
                            }
                        }
                        // Dropping both halves closes the connection both ways.
                        answers.abort();
                    });
                }
            }
        });
        PutBlockingProxy { url, refused, task }
    }

    fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for PutBlockingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Finding (issue 12): the walkthrough read the ETL's human status lines back,
/// so rewording one would have broken it silently. `--output json` prints
/// them as JSON objects on stdout: started, then stopped with the counts.
#[tokio::test(flavor = "multi_thread")]
async fn the_etl_speaks_json_to_scripts() {
    let lab = shared(1).await;
    put_source(&lab, sessions(21, 12)).await;
    let dest = format!(
        r#"{{"USA": "{}", "International": "{}"}}"#,
        lab.usa, lab.international
    );
    let dead_letters = temp_path(&format!("dl-json-{}.jsonl", lab.target.suffix));
    let etl = std::process::Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(lab.target.args(&[
            "etl",
            "--source-stream",
            &lab.source,
            "--dest-streams",
            &dest,
            "--dead-letter-file",
            dead_letters.to_str().unwrap(),
            "--output",
            "json",
        ]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + lab.target.patience();
    while count_records(&lab.kinesis, &lab.usa).await + count_records(&lab.kinesis, &lab.international).await
        < 12
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ETL did not write 12 sessions"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    crate::interrupt(&etl);
    let output = etl.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", crate::text(&output.stderr));
    let events: Vec<Value> = crate::text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is a JSON object"))
        .collect();
    assert_eq!(events[0]["event"], "started");
    assert_eq!(events[0]["source"], lab.source.as_str());
    let stopped = events.last().unwrap();
    assert_eq!(stopped["event"], "stopped");
    assert_eq!(stopped["records_in"], 12);
    assert_eq!(
        stopped["USA"].as_u64().unwrap() + stopped["International"].as_u64().unwrap(),
        12
    );
}
