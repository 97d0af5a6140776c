//! Benchmarks of the ETL through the embedded emulator (release build):
//!
//! - throughput: generated sessions already on the source stream (no producer
//!   delay), read, enriched, routed and written, in records per second;
//! - beside it, the lab's own loop in Python (benches/lab_etl.py) on the same
//!   emulator, when `LAB_PYTHON` names a Python with boto3, and the ratio;
//! - latency: from a PutRecord on the source to the record being readable on
//!   its destination stream, for sessions put one by one while the ETL runs.
//!
//! Run with `cargo bench --bench etl` (or `cargo xtask bench etl`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::ShardIteratorType;
use emulator::config::KinesisOptions;
use emulator::{Config, Emulator};
use kinesis_lab::batch_writer::{Entry, put_all};
use kinesis_lab::etl::{self, DeadLetterSink, EtlOptions, Stats};
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::shard_reader::StartingPosition;
use kinesis_lab::target::Target;
use tokio::sync::{oneshot, watch};

const SESSIONS: usize = 20_000;
const LATENCY_SAMPLES: usize = 300;

#[tokio::main]
async fn main() {
    throughput().await;
    latency(Reading::Polling).await;
    latency(Reading::FanOut).await;
}

async fn start() -> (Emulator, aws_sdk_kinesis::Client) {
    let config = Config {
        port: 0,
        kinesis: KinesisOptions {
            status_delay: Duration::ZERO,
            ..KinesisOptions::default()
        },
        ..Config::default()
    };
    let emulator = Emulator::start(config).await.unwrap();
    let kinesis = Target::Endpoint(emulator.endpoint_url().to_owned())
        .connect()
        .await
        .unwrap()
        .kinesis;
    for (name, shards) in [("source", 4), ("usa", 2), ("international", 2)] {
        ensure_stream(&kinesis, name, shards, Duration::from_secs(10))
            .await
            .unwrap();
    }
    (emulator, kinesis)
}

/// How the ETL reads its source in a latency run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// GetRecords on each shard, 5 times a second.
    Polling,
    /// `etl --efo`: SubscribeToShard pushes the records.
    FanOut,
}

fn options() -> EtlOptions {
    EtlOptions {
        source: "source".parse().unwrap(),
        destinations: r#"{"USA": "usa", "International": "international"}"#.parse().unwrap(),
        dead_letters: DeadLetterSink::File(std::env::temp_dir().join("etl-bench-dead-letters.jsonl")),
        checkpoint: None,
        start: StartingPosition::TrimHorizon,
        fan_out: None,
        leases: None,
    }
}

/// Puts `sessions` generated sessions on `stream`; their bytes.
async fn put_sessions(kinesis: &aws_sdk_kinesis::Client, stream: &str, seed: u64, sessions: usize) -> usize {
    let sessions: Vec<_> = SessionGenerator::new(seed).take(sessions).collect();
    let bytes: usize = sessions
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap().len())
        .sum();
    // The library's batch writer cuts the calls at Kinesis's limits.
    let entries = sessions
        .iter()
        .enumerate()
        .map(|(origin, s)| Entry {
            partition_key: s["session_id"].as_str().unwrap().to_owned(),
            data: serde_json::to_vec(s).unwrap(),
            origin,
        })
        .collect();
    let written = put_all(kinesis, stream, entries).await.unwrap();
    assert!(
        written.invalid.is_empty(),
        "the stream refused generated sessions"
    );
    bytes
}

/// The ETL and the lab's Python loop, one after the other on one emulator.
async fn throughput() {
    let (emulator, kinesis) = start().await;
    let bytes = put_sessions(&kinesis, "source", 1, SESSIONS).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let (seen, mut progress) = watch::channel(Stats::default());
    let started = Instant::now();
    let etl_kinesis = kinesis.clone();
    let task = tokio::spawn(async move {
        etl::run(
            &etl_kinesis,
            &options(),
            async {
                stopped.await.ok();
            },
            |s| {
                seen.send_replace(s.clone());
            },
        )
        .await
    });
    progress
        .wait_for(|s| s.records_in as usize >= SESSIONS)
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    stop.send(()).unwrap();
    let stats = task.await.unwrap().unwrap();
    let ours = SESSIONS as f64 / elapsed;
    println!(
        "ETL throughput: {SESSIONS} sessions ({:.1} MB) in {elapsed:.2} s = {ours:.0} records/s ({stats})",
        bytes as f64 / 1e6,
    );
    match std::env::var_os("LAB_PYTHON") {
        Some(python) => {
            let theirs = python_loop(&emulator, &kinesis, &python).await;
            println!(
                "the lab's Python loop (benches/lab_etl.py, boto3, one PutRecord a record): {theirs:.0} \
                 records/s; the ETL moves {:.1}x as many",
                ours / theirs
            );
        }
        None => println!(
            "the lab's Python loop: not measured (LAB_PYTHON names a Python with boto3; `cargo xtask bench etl` \
             makes one)"
        ),
    }
    emulator.shutdown().await;
}

/// Sessions the Python loop moves: enough for a steady rate, few enough to
/// take seconds at its pace.
const PYTHON_SESSIONS: usize = 3_000;

/// benches/lab_etl.py over sessions of its own, on the same emulator; its records/s.
async fn python_loop(
    emulator: &Emulator,
    kinesis: &aws_sdk_kinesis::Client,
    python: &std::ffi::OsStr,
) -> f64 {
    for (name, shards) in [("py-source", 4), ("py-usa", 2), ("py-international", 2)] {
        ensure_stream(kinesis, name, shards, Duration::from_secs(10))
            .await
            .unwrap();
    }
    put_sessions(kinesis, "py-source", 3, PYTHON_SESSIONS).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/lab_etl.py");
    let mut command = std::process::Command::new(python);
    command
        .args([script, "py-source", "py-usa", "py-international"])
        .arg(PYTHON_SESSIONS.to_string())
        .env("AWS_ENDPOINT_URL", emulator.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1");
    // The emulator answers it from this runtime's threads meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the lab's Python loop starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the lab's Python loop failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut figures = stdout.split_whitespace().map(|f| f.parse::<f64>().unwrap());
    let (moved, seconds) = (figures.next().unwrap(), figures.next().unwrap());
    moved / seconds
}

async fn latency(reading: Reading) {
    let (emulator, kinesis) = start().await;
    // Watch the destinations from their end, reading every 10 ms: the time a
    // record becomes readable, not when a 1-second consumer would notice it.
    let mut iterators = Vec::new();
    for stream in ["usa", "international"] {
        for shard in kinesis
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .unwrap()
            .shards()
        {
            let it = kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::Latest)
                .send()
                .await
                .unwrap();
            iterators.push(it.shard_iterator().unwrap().to_owned());
        }
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let etl_kinesis = kinesis.clone();
    let etl_options = EtlOptions {
        fan_out: (reading == Reading::FanOut).then(|| "bench".to_owned()),
        ..options()
    };
    let etl = tokio::spawn(async move {
        etl::run(
            &etl_kinesis,
            &etl_options,
            async {
                stopped.await.ok();
            },
            |_| {},
        )
        .await
    });
    let watcher_kinesis = kinesis.clone();
    let watcher = tokio::spawn(async move {
        let mut seen: HashMap<String, Instant> = HashMap::new();
        while seen.len() < LATENCY_SAMPLES {
            for iterator in iterators.iter_mut() {
                let out = watcher_kinesis
                    .get_records()
                    .shard_iterator(iterator.clone())
                    .send()
                    .await
                    .unwrap();
                for record in out.records() {
                    seen.insert(
                        record.partition_key().unwrap_or_default().to_owned(),
                        Instant::now(),
                    );
                }
                *iterator = out.next_shard_iterator().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    });
    // Time for the ETL to list its shards (and register and subscribe, with
    // fan-out), so that the first sessions do not wait for that.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut put_at = HashMap::new();
    for (i, session) in SessionGenerator::new(2).take(LATENCY_SAMPLES).enumerate() {
        let id = session["session_id"].as_str().unwrap().to_owned();
        kinesis
            .put_record()
            .stream_name("source")
            .partition_key(&id)
            .data(Blob::new(serde_json::to_vec(&session).unwrap()))
            .send()
            .await
            .unwrap();
        put_at.insert(id, Instant::now());
        // Puts spread over the ETL's read cycle, 20 to 110 ms apart.
        tokio::time::sleep(Duration::from_millis(20 + (i as u64 * 37) % 91)).await;
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .expect("every record arrived")
        .unwrap();
    stop.send(()).unwrap();
    etl.await.unwrap().unwrap();
    let mut latencies: Vec<Duration> = put_at
        .iter()
        .map(|(id, at)| seen[id].saturating_duration_since(*at))
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let how = match reading {
        Reading::Polling => "`etl`, reading each shard 5 times a second, as Kinesis allows",
        Reading::FanOut => "`etl --efo`, SubscribeToShard pushing each record",
    };
    println!(
        "put-to-destination latency ({LATENCY_SAMPLES} sessions, {how}): median {:.0} ms, p99 {:.0} ms, \
         max {:.0} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    emulator.shutdown().await;
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
