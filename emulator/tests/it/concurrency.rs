//! Several writers, live readers (a GetRecords poller and an enhanced fan-out
//! consumer with SubscribeToShard) and a Firehose on one stream at once: every
//! acknowledged record is read by every reader and delivered to S3, and the
//! endpoint answers throughout.
//!
//! The emulator runs on a runtime of its own with two workers, as the
//! `kinesis-lab emulator` process does on these machines, so that a deadlock
//! inside it shows up as a client that gets no answer instead of a test that
//! hangs forever.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{
    ConsumerStatus, PutRecordsRequestEntry, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};
use emulator::{Config, Emulator, HEALTH_PATH};

use crate::{Lab, stream_arn};

const STREAM: &str = "torture";
const SHARDS: i32 = 4;
const WRITERS: usize = 4;
const BATCHES_PER_WRITER: usize = 40;
const RECORDS_PER_BATCH: usize = 250;
/// Every wait in this test is bounded by this.
const PATIENCE: Duration = Duration::from_secs(60);

/// Found under load: with writers sharing shards, a reader polling at the same
/// time moved past records that became visible after it had read later ones,
/// and lost them for good; and one run in three the endpoint stopped answering
/// anything, deadlocked.
#[test]
fn concurrent_writers_lose_nothing_for_live_readers_and_firehose() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emulator = server
        .block_on(Emulator::start(Config::for_tests()))
        .expect("the emulator starts");
    let endpoint = emulator.endpoint_url().to_owned();

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let health = HealthWatch::start(&endpoint);
    let outcome = clients.block_on(async { tokio::time::timeout(PATIENCE * 3, torture(&endpoint)).await });
    let silences = health.stop();

    // A deadlocked emulator cannot be shut down: leave its threads behind.
    server.shutdown_background();
    drop(emulator);

    let health = match silences.first() {
        None => "the health endpoint answered throughout".to_owned(),
        Some(first) => format!(
            "the health endpoint went unanswered {} times, first at {first:?}",
            silences.len()
        ),
    };
    let Ok(report) = outcome else {
        panic!("the clients got no answer for {:?}; {health}", PATIENCE * 3);
    };
    // The figures, for whoever runs this with --no-capture.
    let seen: Vec<String> = report
        .missing
        .iter()
        .map(|(reader, missing)| format!("{reader} saw {}", report.acknowledged - missing.len()))
        .collect();
    eprintln!(
        "torture: {} records acknowledged; {}; {health}",
        report.acknowledged,
        seen.join(", ")
    );
    assert!(silences.is_empty(), "{health}");
    assert_eq!(
        report.acknowledged,
        WRITERS * BATCHES_PER_WRITER * RECORDS_PER_BATCH
    );
    for (reader, missing) in &report.missing {
        assert!(
            missing.is_empty(),
            "{reader} never read {} of {} acknowledged records, for instance {:?}",
            missing.len(),
            report.acknowledged,
            missing.iter().take(5).collect::<Vec<_>>()
        );
    }
}

struct Report {
    acknowledged: usize,
    /// For each reader, the acknowledged records it never saw.
    missing: Vec<(&'static str, BTreeSet<String>)>,
}

async fn torture(endpoint: &str) -> Report {
    let lab = Lab::<()>::connect(endpoint);
    lab.create_stream(STREAM, SHARDS).await;
    lab.create_bucket("torture").await;
    lab.create_delivery_stream("torture-firehose", STREAM, "torture", (1, 1))
        .await;
    let kinesis = lab.kinesis.clone();

    let writing = Arc::new(AtomicBool::new(true));
    let poller = tokio::spawn(poll_every_shard(kinesis.clone(), writing.clone()));
    let pushed = Arc::new(Mutex::new(BTreeSet::new()));
    let subscribers = subscribe_to_every_shard(&kinesis, pushed.clone()).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(write(kinesis.clone(), writer)))
        .collect();
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    writing.store(false, Ordering::SeqCst);

    let polled = poller.await.unwrap();
    // A fresh reader from the start, once writing is over: what is stored.
    let stored = poll_every_shard(kinesis.clone(), Arc::new(AtomicBool::new(false))).await;
    let delivered = wait_for_delivery(&lab, &acknowledged).await;
    let started = Instant::now();
    while !acknowledged.is_subset(&pushed.lock().unwrap()) && started.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for subscriber in subscribers {
        subscriber.abort();
    }
    let pushed = pushed.lock().unwrap().clone();

    let missing = |seen: &BTreeSet<String>| acknowledged.difference(seen).cloned().collect();
    Report {
        acknowledged: acknowledged.len(),
        missing: vec![
            ("the reader polling while writers wrote", missing(&polled)),
            ("a reader from TRIM_HORIZON afterwards", missing(&stored)),
            ("the SubscribeToShard consumer", missing(&pushed)),
            ("Firehose", missing(&delivered)),
        ],
    }
}

/// One writer: PutRecords batches, sending again whatever a batch refused,
/// until every record is acknowledged. Returns the acknowledged records.
async fn write(kinesis: aws_sdk_kinesis::Client, writer: usize) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for batch in 0..BATCHES_PER_WRITER {
        let mut pending: Vec<String> = (0..RECORDS_PER_BATCH)
            .map(|n| format!("w{writer}-b{batch}-r{n}"))
            .collect();
        while !pending.is_empty() {
            let entries = pending
                .iter()
                .map(|record| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(record)
                        .data(Blob::new(format!("{record}\n")))
                        .build()
                        .unwrap()
                })
                .collect();
            let output = kinesis
                .put_records()
                .stream_name(STREAM)
                .set_records(Some(entries))
                .send()
                .await
                .expect("PutRecords answers");
            let mut refused = Vec::new();
            for (record, result) in pending.into_iter().zip(output.records()) {
                if result.error_code().is_some() {
                    refused.push(record);
                } else {
                    acknowledged.push(record);
                }
            }
            pending = refused;
        }
    }
    acknowledged
}

/// Reads every shard from TRIM_HORIZON, following each shard's next iterator,
/// until `writing` is false and a whole pass reads nothing new.
async fn poll_every_shard(kinesis: aws_sdk_kinesis::Client, writing: Arc<AtomicBool>) -> BTreeSet<String> {
    let shards = kinesis.list_shards().stream_name(STREAM).send().await.unwrap();
    let mut iterators = HashMap::new();
    for shard in shards.shards() {
        let iterator = kinesis
            .get_shard_iterator()
            .stream_name(STREAM)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        iterators.insert(
            shard.shard_id().to_owned(),
            iterator.shard_iterator().unwrap().to_owned(),
        );
    }
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    loop {
        let was_writing = writing.load(Ordering::SeqCst);
        let mut read_any = false;
        for iterator in iterators.values_mut() {
            let output = kinesis
                .get_records()
                .shard_iterator(iterator.as_str())
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords answers");
            for record in output.records() {
                let text = std::str::from_utf8(record.data().as_ref()).unwrap();
                seen.insert(text.trim_end().to_owned());
                read_any = true;
            }
            *iterator = output.next_shard_iterator().unwrap().to_owned();
        }
        if !was_writing && !read_any {
            return seen;
        }
        assert!(started.elapsed() < PATIENCE, "the reader never caught up");
    }
}

/// An enhanced fan-out consumer on every shard, from TRIM_HORIZON, subscribing
/// again after each record it got when a subscription ends (AWS ends them
/// every 5 minutes). Each task adds what it reads to `seen` until aborted.
async fn subscribe_to_every_shard(
    kinesis: &aws_sdk_kinesis::Client,
    seen: Arc<Mutex<BTreeSet<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let consumer = kinesis
        .register_stream_consumer()
        .stream_arn(stream_arn(STREAM))
        .consumer_name("torture-fan-out")
        .send()
        .await
        .unwrap();
    let consumer_arn = consumer.consumer().unwrap().consumer_arn().to_owned();
    let started = Instant::now();
    loop {
        let status = kinesis
            .describe_stream_consumer()
            .consumer_arn(&consumer_arn)
            .send()
            .await
            .unwrap();
        if *status.consumer_description().unwrap().consumer_status() == ConsumerStatus::Active {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the consumer never became ACTIVE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shards = kinesis.list_shards().stream_name(STREAM).send().await.unwrap();
    shards
        .shards()
        .iter()
        .map(|shard| {
            let (kinesis, consumer_arn, seen) = (kinesis.clone(), consumer_arn.clone(), seen.clone());
            let shard_id = shard.shard_id().to_owned();
            tokio::spawn(async move {
                let mut after: Option<String> = None;
                loop {
                    let position = match &after {
                        None => StartingPosition::builder().r#type(ShardIteratorType::TrimHorizon),
                        Some(sequence) => StartingPosition::builder()
                            .r#type(ShardIteratorType::AfterSequenceNumber)
                            .sequence_number(sequence),
                    };
                    let mut subscription = kinesis
                        .subscribe_to_shard()
                        .consumer_arn(&consumer_arn)
                        .shard_id(&shard_id)
                        .starting_position(position.build().unwrap())
                        .send()
                        .await
                        .expect("SubscribeToShard answers");
                    while let Ok(Some(event)) = subscription.event_stream.recv().await {
                        let SubscribeToShardEventStream::SubscribeToShardEvent(event) = event else {
                            continue;
                        };
                        let mut seen = seen.lock().unwrap();
                        for record in event.records() {
                            let text = std::str::from_utf8(record.data().as_ref()).unwrap();
                            seen.insert(text.trim_end().to_owned());
                            after = Some(record.sequence_number().to_owned());
                        }
                    }
                }
            })
        })
        .collect()
}

/// Waits until Firehose has delivered every acknowledged record (or for
/// `PATIENCE`); returns the records it delivered.
async fn wait_for_delivery(lab: &Lab<()>, acknowledged: &BTreeSet<String>) -> BTreeSet<String> {
    let started = Instant::now();
    loop {
        let mut delivered = BTreeSet::new();
        for (_, body) in lab.objects("torture", "").await {
            let body = String::from_utf8(body).unwrap();
            delivered.extend(body.lines().map(str::to_owned));
        }
        if acknowledged.is_subset(&delivered) || started.elapsed() > PATIENCE {
            return delivered;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asks the health endpoint every 100 ms from a thread of its own, with a
/// plain HTTP request, and notes every time it went 5 s without an answer.
struct HealthWatch {
    running: Arc<AtomicBool>,
    silences: Arc<std::sync::Mutex<Vec<Duration>>>,
    thread: std::thread::JoinHandle<()>,
    asked: Arc<AtomicUsize>,
}

impl HealthWatch {
    fn start(endpoint: &str) -> HealthWatch {
        let address = endpoint.trim_start_matches("http://").to_owned();
        let running = Arc::new(AtomicBool::new(true));
        let silences = Arc::new(std::sync::Mutex::new(Vec::new()));
        let asked = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (running, silences, asked) = (running.clone(), silences.clone(), asked.clone());
            move || {
                let started = Instant::now();
                while running.load(Ordering::SeqCst) {
                    if !answers(&address) {
                        silences.lock().unwrap().push(started.elapsed());
                    }
                    asked.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        HealthWatch {
            running,
            silences,
            thread,
            asked,
        }
    }

    fn stop(self) -> Vec<Duration> {
        self.running.store(false, Ordering::SeqCst);
        self.thread.join().unwrap();
        assert!(
            self.asked.load(Ordering::SeqCst) > 0,
            "the health watch asked nothing"
        );
        Arc::try_unwrap(self.silences).unwrap().into_inner().unwrap()
    }
}

fn answers(address: &str) -> bool {
    let limit = Duration::from_secs(5);
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(limit));
    let _ = stream.set_write_timeout(Some(limit));
    let request = format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200")
}

/// A put to one stream is not held behind a put to another, as the ETL's
/// writes to its two destinations are not: with one stream's turn held, as a
/// put that takes long holds it, a put to another stream is answered and read
/// back, and a put to the held stream is answered once the turn is handed back.
#[test]
fn a_put_to_one_stream_is_not_held_behind_another_streams_put() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emulator = server
        .block_on(Emulator::start(Config::for_tests()))
        .expect("the emulator starts");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let test = async {
        let lab = Lab::<()>::connect(emulator.endpoint_url());
        lab.create_stream("held", 1).await;
        lab.create_stream("free", 1).await;
        let turn = emulator.kinesis().turns().of(Some("held")).await;
        let behind = tokio::spawn(put_one(lab.kinesis.clone(), "held", "behind the held turn"));
        put_one(lab.kinesis.clone(), "free", "beside it").await;
        assert_eq!(read_one_shard(&lab.kinesis, "free").await, ["beside it"]);
        assert!(
            !behind.is_finished(),
            "a put was answered while its stream's turn was held"
        );
        assert!(read_one_shard(&lab.kinesis, "held").await.is_empty());
        drop(turn);
        behind.await.unwrap();
        assert_eq!(
            read_one_shard(&lab.kinesis, "held").await,
            ["behind the held turn"]
        );
    };
    let outcome = clients.block_on(async { tokio::time::timeout(PATIENCE, test).await });
    server.shutdown_background();
    drop(emulator);
    assert!(
        outcome.is_ok(),
        "a put to one stream got no answer for {PATIENCE:?} while another stream's turn was held"
    );
}

async fn put_one(kinesis: aws_sdk_kinesis::Client, stream: &str, record: &str) {
    kinesis
        .put_record()
        .stream_name(stream)
        .partition_key(record)
        .data(Blob::new(record))
        .send()
        .await
        .expect("PutRecord answers");
}

/// Every record of a one-shard stream, from TRIM_HORIZON.
async fn read_one_shard(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<String> {
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let output = kinesis
        .get_records()
        .shard_iterator(iterator.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    output
        .records()
        .iter()
        .map(|record| String::from_utf8(record.data().as_ref().to_vec()).unwrap())
        .collect()
}
