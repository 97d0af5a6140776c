//! ETL workers sharing a stream's shards through a KCL lease table (issue
//! 25): `kinesis-lab etl --lease-table`, as processes of their own, on the
//! emulator or on LocalStack (`LAB_E2E_ENDPOINT`), with a producer running.
//!
//! Every test is bounded: a few hundred sessions, short failover times, and a
//! deadline on every wait. Each counts what arrived in the destination
//! streams: every session sent must be there, once or more (delivery is at
//! least once), and the copies are counted and printed.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use kinesis_lab::batch_writer::{Entry, put_all};
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::shard_reader::{ShardReader, StartingPosition, kpl};
use serde_json::Value;

use crate::target::TestTarget;
use crate::{interrupt, kinesis_lab, text};

/// The timing the tests give the workers: a failover of a few seconds, and
/// looks at the table often, so that a test sees in seconds what takes
/// minutes with the KCL's defaults.
const FAILOVER: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_millis(500);
const TAKE: Duration = Duration::from_millis(300);

/// A source, two destinations and a lease table, with names of the test's own.
/// Also used by `kcl.rs`, which runs kcl-rs workers beside ours.
pub(crate) struct Share {
    pub(crate) target: TestTarget,
    pub(crate) source: String,
    pub(crate) usa: String,
    pub(crate) international: String,
    pub(crate) table: String,
    pub(crate) work: tempfile::TempDir,
    /// Every worker started, killed when the share goes, so that a test
    /// that fails leaves none running.
    started: std::sync::Mutex<Vec<u32>>,
}

impl Drop for Share {
    fn drop(&mut self) {
        for pid in self.started.lock().unwrap().iter() {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Share {
    pub(crate) async fn new(shards: i32) -> Share {
        Share::on(TestTarget::start().await, shards).await
    }

    /// The same, on a target the test chose.
    pub(crate) async fn on(target: TestTarget, shards: i32) -> Share {
        let (source, usa, international) = (target.name("src"), target.name("usa"), target.name("int"));
        // One shard per destination: LocalStack counts every open shard of
        // the whole suite against one limit (100), so the tests keep few.
        for (stream, count) in [(&source, shards), (&usa, 1), (&international, 1)] {
            ensure_stream(&target.clients.kinesis, stream, count, target.patience())
                .await
                .unwrap();
        }
        let table = target.name("leases");
        Share {
            target,
            source,
            usa,
            international,
            table,
            work: tempfile::tempdir().unwrap(),
            started: std::sync::Mutex::default(),
        }
    }

    /// Deletes the streams and the lease table, so that a shared target
    /// (LocalStack, for the whole suite) keeps under its shard limit.
    pub(crate) async fn cleanup(self) {
        let clients = &self.target.clients;
        for stream in [&self.source, &self.usa, &self.international] {
            clients
                .kinesis
                .delete_stream()
                .stream_name(stream)
                .enforce_consumer_deletion(true)
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete {stream}: {e:?}"));
        }
        // A worker that failed to start never made the table.
        let _ = clients
            .dynamodb
            .delete_table()
            .table_name(&self.table)
            .send()
            .await;
    }

    /// `kinesis-lab etl` as worker `id` of the table, in the background.
    fn worker(&self, id: &str) -> Child {
        self.worker_with(id, &[])
    }

    /// The same, with more flags; with `--failover-time` among them, they
    /// give the timings instead of the tests' own.
    fn worker_with(&self, id: &str, extra: &[&str]) -> Child {
        let timings = match extra.contains(&"--failover-time") {
            true => Vec::new(),
            false => vec![
                "--failover-time".to_owned(),
                format!("{}ms", FAILOVER.as_millis()),
                "--renew-every".to_owned(),
                format!("{}ms", RENEW.as_millis()),
                "--take-every".to_owned(),
                format!("{}ms", TAKE.as_millis()),
            ],
        };
        let destinations = format!(
            r#"{{"USA": "{}", "International": "{}"}}"#,
            self.usa, self.international
        );
        let dead_letters = self.work.path().join(format!("dl-{id}.jsonl"));
        let log = std::fs::File::create(self.work.path().join(format!("{id}.log"))).unwrap();
        let worker = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
            .args([
                "etl",
                "--source-stream",
                &self.source,
                "--dest-streams",
                &destinations,
            ])
            .args(["--lease-table", &self.table, "--worker-id", id])
            .args(timings)
            .args(["--output", "json", "--dead-letter-file"])
            .arg(&dead_letters)
            .args(["--endpoint-url", &self.target.url])
            .args(extra)
            .env("RUST_LOG", "warn,kinesis_lab=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kinesis-lab etl starts");
        self.started.lock().unwrap().push(worker.id());
        worker
    }

    /// `count` sessions put on the source, about `gap` apart, in the
    /// background; their ids, from the same seed.
    pub(crate) fn produce(&self, count: usize, gap: &str, seed: u64) -> (Child, Vec<String>) {
        let (count, seed) = (count.to_string(), seed.to_string());
        let sessions = kinesis_lab(&["generate", "--count", &count, "--seed", &seed], b"");
        let ids = text(&sessions.stdout)
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["session_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let args = self.target.args(&[
            "generate",
            "--stream",
            &self.source,
            "--count",
            &count,
            "--seed",
            &seed,
            "--mean-gap",
            gap,
        ]);
        let producer = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kinesis-lab generate starts");
        (producer, ids)
    }

    /// Who holds which lease, read from the table.
    pub(crate) async fn owners(&self) -> BTreeMap<String, Option<String>> {
        self.items()
            .await
            .into_iter()
            .map(|item| {
                let key = item["leaseKey"].as_s().unwrap().clone();
                (key, item.get("leaseOwner").and_then(|o| o.as_s().ok()).cloned())
            })
            .collect()
    }

    pub(crate) async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let dynamodb = &self.target.clients.dynamodb;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = match dynamodb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
            {
                Ok(page) => page,
                // Not made yet: no leases.
                Err(_) => return Vec::new(),
            };
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// How many ready (not ended) leases each worker holds.
    pub(crate) async fn shares(&self) -> BTreeMap<String, usize> {
        let mut shares = BTreeMap::new();
        for item in self.items().await {
            let ended = item
                .get("checkpoint")
                .and_then(|c| c.as_s().ok())
                .is_some_and(|c| c == "SHARD_END");
            if let (false, Some(owner)) = (ended, item.get("leaseOwner").and_then(|o| o.as_s().ok())) {
                *shares.entry(owner.clone()).or_default() += 1;
            }
        }
        shares
    }

    /// Waits until `done` holds of the table, for up to `patience`; how long
    /// it took, or a panic naming `what` and the last shares seen.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        patience: Duration,
        done: impl Fn(&BTreeMap<String, usize>, &BTreeMap<String, Option<String>>) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let (shares, owners) = (self.shares().await, self.owners().await);
            if done(&shares, &owners) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < patience,
                "{what}: not within {patience:?}; shares {shares:?}, owners {owners:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every session in the destination streams, as written.
    pub(crate) async fn delivered(&self) -> Vec<Value> {
        let mut sessions = Vec::new();
        for stream in [&self.usa, &self.international] {
            let mut reader = ShardReader::open(
                self.target.clients.kinesis.clone(),
                stream,
                StartingPosition::TrimHorizon,
                None,
            )
            .await
            .unwrap();
            for record in reader.read_to_end().await.unwrap() {
                sessions.push(serde_json::from_slice(&record.data).unwrap());
            }
        }
        sessions
    }

    /// Every session id in the destination streams, with how many times.
    pub(crate) async fn arrived(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for session in self.delivered().await {
            *counts
                .entry(session["session_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        counts
    }

    /// Waits until every one of `sent` is in a destination stream; the
    /// extra copies.
    pub(crate) async fn wait_for_every_session(&self, sent: &[String]) -> usize {
        let started = Instant::now();
        let patience = self.target.patience().max(Duration::from_secs(60));
        loop {
            let arrived = self.arrived().await;
            let missing = sent.iter().filter(|id| !arrived.contains_key(*id)).count();
            if missing == 0 {
                return arrived.values().map(|n| n - 1).sum();
            }
            assert!(
                started.elapsed() < patience,
                "{missing} of {} sessions never arrived; the workers said:\n{}",
                sent.len(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Checks that sessions written twice came only from a shard taken from
    /// a worker that had read it, one batch per such take: on each shard of
    /// the source, the sessions written twice form at most one run of
    /// consecutive records for each time a lease was taken from a worker
    /// (the workers' logs say when: "took a lease ... from Some(..)").
    async fn assert_at_most_one_batch_per_takeover(&self) {
        let arrived = self.arrived().await;
        let mut reader = ShardReader::open(
            self.target.clients.kinesis.clone(),
            &self.source,
            StartingPosition::TrimHorizon,
            None,
        )
        .await
        .unwrap();
        let mut runs = 0;
        let mut previous: Option<(String, bool)> = None;
        for record in reader.read_to_end().await.unwrap() {
            let session: Value = serde_json::from_slice(&record.data).unwrap();
            let twice = arrived
                .get(session["session_id"].as_str().unwrap())
                .copied()
                .unwrap_or(0)
                > 1;
            let continues = previous
                .as_ref()
                .is_some_and(|(shard, was_twice)| *shard == record.shard_id && *was_twice);
            if twice && !continues {
                runs += 1;
            }
            previous = Some((record.shard_id.clone(), twice));
        }
        let logs = self.logs_whole();
        let takeovers = logs
            .lines()
            .filter(|line| line.contains("took a lease") && line.contains("Some("))
            .count();
        eprintln!("workers: {runs} runs of sessions written twice, {takeovers} leases taken from a worker");
        assert!(
            runs <= takeovers,
            "{runs} runs of copies for {takeovers} takeovers:\n{}",
            self.logs()
        );
    }

    fn logs_whole(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.work.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        all
    }

    pub(crate) fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.work.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                all.push_str(&format!("== {}\n", entry.path().display()));
                all.extend(tail.into_iter().rev().map(|line| format!("{line}\n")));
            }
        }
        all
    }
}

/// Waits for a stream to be ACTIVE again after a reshard.
async fn wait_until_active(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .unwrap();
        let status = summary.stream_description_summary.unwrap().stream_status;
        if status == aws_sdk_kinesis::types::StreamStatus::Active {
            return;
        }
        assert!(Instant::now() < deadline, "{stream} is still {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn stop(mut worker: Child) {
    interrupt(&worker);
    let deadline = Instant::now() + Duration::from_secs(20);
    while worker.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "a worker did not stop within 20 s of Ctrl+C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn wait(mut child: Child, patience: Duration) {
    let deadline = Instant::now() + patience;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "still running after {patience:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn balanced(shares: &BTreeMap<String, usize>, workers: usize, low: usize, high: usize) -> bool {
    shares.len() == workers && shares.values().all(|n| (low..=high).contains(n))
}

/// Three workers on an 8-shard source, with a producer running: within one
/// failover time of their start each holds 2 or 3 leases, and every session
/// lands, once or more.
#[tokio::test(flavor = "multi_thread")]
async fn three_workers_share_eight_shards_and_every_session_lands() {
    let share = Share::new(8).await;
    let (producer, sent) = share.produce(300, "10ms", 31);
    let workers: Vec<Child> = ["w1", "w2", "w3"].iter().map(|id| share.worker(id)).collect();
    let took = share
        .wait_for(
            "2 or 3 leases each",
            FAILOVER + Duration::from_secs(20),
            |shares, owners| owners.len() == 8 && balanced(shares, 3, 2, 3),
        )
        .await;
    eprintln!("workers::three: 8 leases shared 2 or 3 each {took:?} after the workers started");
    assert!(
        took <= FAILOVER + Duration::from_secs(3) || share.target.is_shared(),
        "{took:?}"
    );
    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::three: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    workers.into_iter().for_each(stop);
    share.assert_at_most_one_batch_per_takeover().await;
    share.cleanup().await;
}

/// A worker killed with SIGKILL: its leases are taken by the others within
/// the failover time (plus a renewal and a look), and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_workers_leases_are_taken_within_the_failover_time() {
    let share = Share::new(8).await;
    let (producer, sent) = share.produce(300, "15ms", 32);
    let mut workers: Vec<Child> = ["k1", "k2", "k3"].iter().map(|id| share.worker(id)).collect();
    share
        .wait_for("2 or 3 leases each", Duration::from_secs(60), |shares, owners| {
            owners.len() == 8 && balanced(shares, 3, 2, 3)
        })
        .await;
    let mut killed = workers.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let handed_over = share
        .wait_for(
            "the killed worker's leases taken",
            Duration::from_secs(60),
            |shares, _| !shares.contains_key("k1") && shares.values().sum::<usize>() == 8,
        )
        .await;
    eprintln!("workers::kill: leases of the killed worker taken {handed_over:?} after SIGKILL");
    let bound = FAILOVER + RENEW + TAKE + Duration::from_secs(1);
    assert!(
        handed_over <= bound || share.target.is_shared(),
        "{handed_over:?} over {bound:?}"
    );
    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::kill: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    workers.into_iter().for_each(stop);
    share.assert_at_most_one_batch_per_takeover().await;
    share.cleanup().await;
}

/// A fourth worker joins three: it gets its share (2 of 8), stolen a lease
/// at a time, and a stolen shard is written by two workers for at most one
/// batch.
#[tokio::test(flavor = "multi_thread")]
async fn a_fourth_worker_gets_its_share() {
    let share = Share::new(8).await;
    let (producer, sent) = share.produce(400, "10ms", 33);
    let mut workers: Vec<Child> = ["j1", "j2", "j3"].iter().map(|id| share.worker(id)).collect();
    share
        .wait_for("2 or 3 leases each", Duration::from_secs(60), |shares, owners| {
            owners.len() == 8 && balanced(shares, 3, 2, 3)
        })
        .await;
    workers.push(share.worker("j4"));
    let joined = share
        .wait_for("2 leases each of four", Duration::from_secs(60), |shares, _| {
            balanced(shares, 4, 2, 2)
        })
        .await;
    eprintln!("workers::join: a fourth worker held its 2 leases {joined:?} after it started");
    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::join: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    workers.into_iter().for_each(stop);
    share.assert_at_most_one_batch_per_takeover().await;
    share.cleanup().await;
}

/// A split and a merge while the workers read: a child's lease is taken
/// only once its parents' checkpoints say SHARD_END, and every session lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_reshard_during_the_run_loses_nothing() {
    let share = Share::new(2).await;
    let (producer, sent) = share.produce(300, "15ms", 34);
    let workers: Vec<Child> = ["r1", "r2"].iter().map(|id| share.worker(id)).collect();
    share
        .wait_for("one lease each", Duration::from_secs(60), |shares, owners| {
            owners.len() == 2 && balanced(shares, 2, 1, 1)
        })
        .await;
    let kinesis = &share.target.clients.kinesis;
    // Split shard 0 in two, then merge shard 1 with the upper child.
    kinesis
        .split_shard()
        .stream_name(&share.source)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("85070591730234615865843651857942052864")
        .send()
        .await
        .unwrap();
    wait_until_active(kinesis, &share.source).await;
    kinesis
        .merge_shards()
        .stream_name(&share.source)
        .shard_to_merge("shardId-000000000003")
        .adjacent_shard_to_merge("shardId-000000000001")
        .send()
        .await
        .unwrap();
    wait_until_active(kinesis, &share.source).await;
    wait(producer, Duration::from_secs(90));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::reshard: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    share.assert_at_most_one_batch_per_takeover().await;
    // The parents ended, and said so in their leases; their children were
    // made with the parents named.
    let items = share.items().await;
    let lease = |key: &str| {
        items
            .iter()
            .find(|item| item["leaseKey"].as_s().unwrap() == key)
            .unwrap()
    };
    for parent in [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000003",
    ] {
        assert_eq!(
            lease(parent)["checkpoint"].as_s().unwrap(),
            "SHARD_END",
            "{parent}"
        );
    }
    let parents = |key: &str| {
        let mut parents = lease(key)["parentShardId"].as_ss().unwrap().clone();
        parents.sort();
        parents
    };
    assert_eq!(parents("shardId-000000000002"), ["shardId-000000000000"]);
    assert_eq!(
        parents("shardId-000000000004"),
        ["shardId-000000000001", "shardId-000000000003"]
    );
    workers.into_iter().for_each(stop);
    share.cleanup().await;
}

/// SIGTERM: the worker finishes its batch, saves its checkpoint and hands
/// its leases back; a successor takes them at its first look and goes on
/// from the checkpoints, with no session written twice.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_hands_the_leases_back_and_the_successor_writes_nothing_twice() {
    let share = Share::new(4).await;
    let (producer, sent) = share.produce(200, "15ms", 35);
    let first = share.worker("s1");
    share
        .wait_for("all four leases", Duration::from_secs(60), |shares, _| {
            shares.get("s1") == Some(&4)
        })
        .await;
    std::thread::sleep(Duration::from_millis(800));
    let status = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait(first, Duration::from_secs(20));
    let owners = share.owners().await;
    assert!(owners.values().all(Option::is_none), "handed back: {owners:?}");
    let started = Instant::now();
    let second = share.worker("s2");
    share
        .wait_for(
            "the successor holds all four",
            Duration::from_secs(60),
            |shares, _| shares.get("s2") == Some(&4),
        )
        .await;
    eprintln!(
        "workers::sigterm: the successor held every lease {:?} after it started",
        started.elapsed()
    );
    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::sigterm: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    assert_eq!(copies, 0, "a session written twice across the hand-over");
    stop(second);
    share.cleanup().await;
}

/// The lease table's items carry the KCL 2.x attribute names, with their
/// DynamoDB types, and nothing else: a KCL application could read it.
#[tokio::test(flavor = "multi_thread")]
async fn the_lease_table_holds_the_kcls_attribute_names_and_types() {
    let share = Share::new(2).await;
    let (producer, sent) = share.produce(20, "10ms", 36);
    let worker = share.worker("kcl");
    wait(producer, Duration::from_secs(60));
    share.wait_for_every_session(&sent).await;
    stop(worker);
    let items = share.items().await;
    assert_eq!(items.len(), 2);
    for item in &items {
        for (name, value) in item {
            let kind = match value {
                AttributeValue::S(_) => "S",
                AttributeValue::N(_) => "N",
                AttributeValue::Ss(_) => "SS",
                other => panic!("{name}: {other:?}"),
            };
            let expected = match name.as_str() {
                "leaseKey" | "leaseOwner" | "checkpoint" | "startingHashKey" | "endingHashKey" => "S",
                "leaseCounter" | "checkpointSubSequenceNumber" | "ownerSwitchesSinceCheckpoint" => "N",
                "parentShardId" | "childShardIds" => "SS",
                other => panic!("{other} is not an attribute of a KCL 2.x lease"),
            };
            assert_eq!(kind, expected, "{name}");
        }
        for name in [
            "leaseKey",
            "leaseCounter",
            "checkpoint",
            "checkpointSubSequenceNumber",
            "ownerSwitchesSinceCheckpoint",
            "startingHashKey",
            "endingHashKey",
        ] {
            assert!(item.contains_key(name), "{name} missing from {item:?}");
        }
        // Written up to a record, as the KCL writes a sequence number.
        let checkpoint = item["checkpoint"].as_s().unwrap();
        assert!(checkpoint.bytes().all(|b| b.is_ascii_digit()), "{checkpoint}");
    }
    share.cleanup().await;
}

/// `count` sessions put on the source at once, 500 to a PutRecords; their ids.
async fn put_sessions(share: &Share, count: usize, seed: u64) -> Vec<String> {
    let mut generator = SessionGenerator::new(seed);
    let mut ids = Vec::new();
    while ids.len() < count {
        let entries: Vec<Entry> = (0..(count - ids.len()).min(500))
            .map(|origin| {
                let session = Value::Object(generator.session());
                let id = session["session_id"].as_str().unwrap().to_owned();
                ids.push(id.clone());
                Entry {
                    partition_key: id,
                    data: session.to_string().into_bytes(),
                    origin,
                }
            })
            .collect();
        let written = put_all(&share.target.clients.kinesis, &share.source, entries)
            .await
            .unwrap();
        assert!(written.invalid.is_empty(), "{} refused", written.invalid.len());
    }
    ids
}

/// Watches the table's owners until `until` is done: every change of owner
/// of a lease, as (shard, from, to).
async fn owner_changes(
    share: &Share,
    until: impl std::future::Future<Output = usize>,
) -> (usize, Vec<(String, Option<String>, Option<String>)>) {
    let mut seen = share.owners().await;
    let mut changes = Vec::new();
    tokio::pin!(until);
    loop {
        tokio::select! {
            outcome = &mut until => return (outcome, changes),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let now = share.owners().await;
        for (shard, owner) in &now {
            if let Some(before) = seen.get(shard)
                && before != owner
            {
                changes.push((shard.clone(), before.clone(), owner.clone()));
            }
        }
        seen = now;
    }
}

/// Issue 28, "a slow batch loses its leases": destinations of one shard,
/// throttled as AWS throttles them (1,000 records a second), take batches
/// that last several failover times. Once the workers have balanced, no live
/// worker loses a lease, and no session is written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_slower_than_the_failover_time_keeps_its_leases_and_writes_nothing_twice() {
    let mut config = emulator::Config::for_tests();
    config.kinesis.enforce_limits = true;
    let share = Share::on(TestTarget::with_emulator(config).await, 4).await;
    // A failover of 2 s: a batch of a few thousand records, written at
    // 1,000 a second into each destination, lasts several of them.
    let timings = [
        "--failover-time",
        "2s",
        "--renew-every",
        "300ms",
        "--take-every",
        "300ms",
    ];
    let workers: Vec<Child> = ["s1", "s2", "s3"]
        .iter()
        .map(|id| share.worker_with(id, &timings))
        .collect();
    share
        .wait_for("1 or 2 leases each", Duration::from_secs(30), |shares, owners| {
            owners.len() == 4 && balanced(shares, 3, 1, 2)
        })
        .await;
    // Settled: a steal's batch in flight has been written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = put_sessions(&share, 6_000, 281).await;
    let (copies, changes) = owner_changes(&share, share.wait_for_every_session(&sent)).await;
    eprintln!(
        "workers::slow: {} sessions, {copies} extra copies, {} changes of owner",
        sent.len(),
        changes.len()
    );
    let logs = share.logs();
    assert!(changes.is_empty(), "leases changed owner: {changes:?}\n{logs}");
    assert_eq!(copies, 0, "{logs}");
    // The batches did outlast the failover time: the workers waited on
    // throttled writes (the batch writer sends them again).
    workers.into_iter().for_each(stop);
    share.cleanup().await;
}

/// A TCP proxy in front of the emulator, for the workers' DynamoDB only,
/// that can refuse every connection for a while: a lease table out of reach.
struct Outage {
    url: String,
    down: Arc<AtomicBool>,
    /// Cuts the connections open when the outage starts.
    cut: tokio::sync::watch::Sender<u32>,
}

impl Outage {
    async fn start(upstream: &str) -> Outage {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let (cut, cuts) = tokio::sync::watch::channel(0);
        let is_down = down.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    continue; // Dropped: the connection closes at once.
                }
                let (upstream, mut cuts) = (upstream.clone(), cuts.clone());
                // Only an outage that starts from now on cuts it.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Outage { url, down, cut }
    }

    fn begin(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn end(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Issue 28, "one lease-table error ends the worker": the workers' lease
/// table is out of reach for 3 s (every connection to it refused), shorter
/// than their failover time. No worker exits, none loses a shard, and every
/// session put meanwhile lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_table_outage_of_a_few_seconds_stops_no_worker_and_moves_no_lease() {
    let share = Share::on(TestTarget::with_emulator(emulator::Config::for_tests()).await, 4).await;
    let outage = Outage::start(&share.target.url).await;
    let flags = [
        "--failover-time",
        "8s",
        "--renew-every",
        "500ms",
        "--take-every",
        "500ms",
        "--dynamodb-endpoint-url",
        &outage.url,
    ];
    let mut workers: Vec<Child> = ["o1", "o2"]
        .iter()
        .map(|id| share.worker_with(id, &flags))
        .collect();
    share
        .wait_for("2 leases each", Duration::from_secs(40), |shares, owners| {
            owners.len() == 4 && balanced(shares, 2, 2, 2)
        })
        .await;
    let before = share.owners().await;
    let (producer, sent) = share.produce(150, "20ms", 282);
    tokio::time::sleep(Duration::from_millis(500)).await;
    outage.begin();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for worker in &mut workers {
        assert!(
            worker.try_wait().unwrap().is_none(),
            "a worker exited:\n{}",
            share.logs()
        );
    }
    outage.end();
    wait(producer, Duration::from_secs(60));
    share.wait_for_every_session(&sent).await;
    // Past the outage by more than a look at the table.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for worker in &mut workers {
        assert!(
            worker.try_wait().unwrap().is_none(),
            "a worker exited:\n{}",
            share.logs()
        );
    }
    assert_eq!(share.owners().await, before, "{}", share.logs());
    // Felt, whichever call met it: a renewal or a look at the table (tried
    // again at the next tick), or a checkpoint (covered by the next one). The
    // SDK's own retries may carry a renewal past a short outage unnoticed.
    let logs = share.logs_whole();
    assert!(
        logs.lines()
            .any(|line| line.contains("WARN") && line.contains("in the lease table")),
        "the outage was never felt:\n{}",
        share.logs()
    );
    workers.into_iter().for_each(stop);
    share.cleanup().await;
}

/// Issue 28, "`--efo` cannot be combined with `--lease-table`": three
/// workers read their shards by enhanced fan-out, one is killed with
/// SIGKILL, and every session lands.
#[tokio::test(flavor = "multi_thread")]
async fn three_workers_on_enhanced_fan_out_lose_nothing_when_one_is_killed() {
    let share = Share::new(4).await;
    let consumer = share.target.name("efo");
    let flags = ["--efo", "--consumer-name", &consumer];
    let (producer, sent) = share.produce(200, "15ms", 283);
    let mut workers: Vec<Child> = ["f1", "f2", "f3"]
        .iter()
        .map(|id| share.worker_with(id, &flags))
        .collect();
    share
        .wait_for("1 or 2 leases each", Duration::from_secs(60), |shares, owners| {
            owners.len() == 4 && balanced(shares, 3, 1, 2)
        })
        .await;
    let mut killed = workers.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    share
        .wait_for(
            "the killed worker's leases taken",
            Duration::from_secs(60),
            |shares, _| !shares.contains_key("f1") && shares.values().sum::<usize>() == 4,
        )
        .await;
    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    eprintln!(
        "workers::efo: {} sessions sent, all arrived, {copies} extra copies",
        sent.len()
    );
    workers.into_iter().for_each(stop);
    share.cleanup().await;
}

/// Runs `kinesis-lab etl` as a worker of the share's table to its end,
/// with `extra` flags; its exit status and standard error.
fn worker_to_the_end(share: &Share, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = share.worker_with("once", extra);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not end:\n{}",
            share.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(share.work.path().join("once.log")).unwrap();
    (status.code(), log)
}

/// Issue 28, "the lease table outlives its stream": a worker started on the
/// table of a stream that was deleted and made again under the same name
/// refuses, naming `--forget-checkpoint` and a new table; with
/// `--forget-checkpoint` it starts over. A table of another stream is
/// refused too.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_on_the_table_of_a_stream_made_anew_refuses_with_the_remedy() {
    let share = Share::new(1).await;
    let worker = share.worker("first");
    share
        .wait_for("the lease taken", Duration::from_secs(60), |shares, _| {
            shares.get("first") == Some(&1)
        })
        .await;
    stop(worker);
    let kinesis = &share.target.clients.kinesis;
    kinesis
        .delete_stream()
        .stream_name(&share.source)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + share.target.patience();
    while kinesis
        .describe_stream_summary()
        .stream_name(&share.source)
        .send()
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "{} is not deleted", share.source);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Kinesis gives a stream's creation time in whole seconds (the
    // emulator's does): the new stream must be made in a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ensure_stream(kinesis, &share.source, 1, share.target.patience())
        .await
        .unwrap();

    let (code, log) = worker_to_the_end(&share, &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("an earlier stream named"), "{log}");
    assert!(
        log.contains("--forget-checkpoint") && log.contains("--lease-table"),
        "{log}"
    );

    let (producer, sent) = share.produce(5, "10ms", 284);
    let worker = share.worker_with("anew", &["--forget-checkpoint"]);
    wait(producer, Duration::from_secs(60));
    share.wait_for_every_session(&sent).await;
    stop(worker);

    // Another stream on the same table.
    let other = share.target.name("other");
    ensure_stream(kinesis, &other, 1, share.target.patience())
        .await
        .unwrap();
    let destinations = format!(
        r#"{{"USA": "{}", "International": "{}"}}"#,
        share.usa, share.international
    );
    let refused = kinesis_lab(
        &share.target.args(&[
            "etl",
            "--source-stream",
            &other,
            "--dest-streams",
            &destinations,
            "--lease-table",
            &share.table,
        ]),
        b"",
    );
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("keeps the leases of the stream \"{}\"", share.source)),
        "{said}"
    );
    kinesis.delete_stream().stream_name(&other).send().await.unwrap();
    share.cleanup().await;
}

/// Issue 28, "a resume uses AFTER_SEQUENCE_NUMBER": a KCL worker
/// checkpointed in the middle of a KPL aggregate (sub-record 2 of 5, with a
/// pending checkpoint prepared). The worker that takes the lease writes the
/// aggregate's sub-records 3 and 4 and what follows, not 0 to 2; its own
/// checkpoint removes the pending-checkpoint attributes, as the KCL's does.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_in_the_middle_of_a_kpl_aggregate_resumes_at_the_next_sub_record() {
    let share = Share::new(1).await;
    let sessions: Vec<Value> = SessionGenerator::new(285).take(6).map(Value::Object).collect();
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect();
    let bodies: Vec<String> = sessions.iter().map(Value::to_string).collect();
    let aggregate = kpl::aggregate(
        ids[..5]
            .iter()
            .zip(&bodies[..5])
            .map(|(id, body)| (id.as_str(), body.as_bytes())),
    );
    let kinesis = &share.target.clients.kinesis;
    let put = kinesis
        .put_record()
        .stream_name(&share.source)
        .partition_key(&ids[0])
        .data(aggregate.into())
        .send()
        .await
        .unwrap();
    kinesis
        .put_record()
        .stream_name(&share.source)
        .partition_key(&ids[5])
        .data(bodies[5].clone().into_bytes().into())
        .send()
        .await
        .unwrap();

    // The table as a KCL application leaves it.
    let dynamodb = &share.target.clients.dynamodb;
    create_table(dynamodb, &share.table, "leaseKey").await;
    let s = |text: &str| AttributeValue::S(text.to_owned());
    let n = |number: u64| AttributeValue::N(number.to_string());
    let deadline = Instant::now() + share.target.patience();
    loop {
        let put = dynamodb
            .put_item()
            .table_name(&share.table)
            .item("leaseKey", s(put.shard_id()))
            .item("leaseCounter", n(12))
            .item("checkpoint", s(put.sequence_number()))
            .item("checkpointSubSequenceNumber", n(2))
            .item("ownerSwitchesSinceCheckpoint", n(0))
            .item("pendingCheckpoint", s(put.sequence_number()))
            .item("pendingCheckpointSubSequenceNumber", n(4))
            .item("pendingCheckpointState", AttributeValue::B(vec![1, 2].into()))
            .send()
            .await;
        match put {
            Ok(_) => break,
            // The table may not be ACTIVE yet.
            Err(err) => assert!(Instant::now() < deadline, "{err:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let worker = share.worker("resumer");
    share.wait_for_every_session(&ids[3..]).await;
    let arrived = share.arrived().await;
    for id in &ids[..3] {
        assert!(
            !arrived.contains_key(id),
            "{id}, checkpointed before, was written again"
        );
    }
    // Its own checkpoint, after the last record.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lease = loop {
        let items = share.items().await;
        if items[0]["checkpoint"] != s(put.sequence_number()) {
            break items[0].clone();
        }
        assert!(Instant::now() < deadline, "no checkpoint saved: {items:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop(worker);
    for pending in [
        "pendingCheckpoint",
        "pendingCheckpointSubSequenceNumber",
        "pendingCheckpointState",
    ] {
        assert!(!lease.contains_key(pending), "{pending} left in {lease:?}");
    }
    share.cleanup().await;
}

/// Issue 28, "a refusal from DynamoDB is printed as the SDK's debug dump":
/// a lease-table name DynamoDB would refuse is told in one line naming the
/// rule, before any request (nothing listens at the endpoint given).
#[test]
fn a_lease_table_name_dynamodb_would_refuse_is_told_in_one_line_before_any_request() {
    let refused = kinesis_lab(
        &[
            "etl",
            "--lease-table",
            "t",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        b"",
    );
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    let first = said.lines().next().unwrap();
    assert!(
        first.contains("\"t\" is 1 character long")
            && first.contains("3 to 255 characters of letters, digits, '_', '-' and '.'"),
        "{said}"
    );
    assert!(!said.contains("nothing answers"), "{said}");
}

/// Issue 28, "settings accepted, silently unused": the lease settings
/// without `--lease-table` are refused, naming it.
#[test]
fn lease_settings_without_a_lease_table_are_refused() {
    for flag in [["--failover-time", "3s"], ["--max-steal", "2"]] {
        let refused = kinesis_lab(&["etl", flag[0], flag[1]], b"");
        let said = text(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{said}");
        assert!(said.contains("--lease-table <NAME>"), "{said}");
    }
}

/// Issue 28: DynamoDB's refusal of a write to a table that is not a lease
/// table (its key is not `leaseKey`) is worded as AWS words it, in a line,
/// not as the SDK's dump of the response.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_from_dynamodb_is_worded_by_its_code_and_message() {
    let share = Share::new(1).await;
    create_table(&share.target.clients.dynamodb, &share.table, "id").await;
    let (code, log) = worker_to_the_end(&share, &[]);
    assert_eq!(code, Some(1), "{log}");
    let error = log
        .lines()
        .find(|line| line.contains("cannot make a lease"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(error.contains("ValidationException"), "{error}");
    assert!(!log.contains("raw: Response") && error.len() < 400, "{error}");
    share.cleanup().await;
}

/// Issue 28, "the lease table outlives its stream": `infra down` deletes the
/// lab's lease table with the streams, so that a stream made again later
/// starts with no checkpoints of the one deleted.
#[tokio::test(flavor = "multi_thread")]
async fn infra_down_deletes_the_lease_table_with_the_streams() {
    let target = TestTarget::start().await;
    let table = target.names.lease_table();
    let dynamodb = &target.clients.dynamodb;
    create_table(dynamodb, &table, "leaseKey").await;
    let down = kinesis_lab(
        &target.args(&["infra", "down", "--name-suffix", &target.suffix]),
        b"",
    );
    let said = text(&down.stderr);
    assert!(down.status.success(), "{said}");
    assert!(said.contains(&format!("deleted lease table {table}")), "{said}");
    let deadline = Instant::now() + target.patience();
    while dynamodb.describe_table().table_name(&table).send().await.is_ok() {
        assert!(Instant::now() < deadline, "{table} is still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A DynamoDB table with a string hash key `key` and on-demand billing, as
/// the KCL makes its lease table (with `leaseKey`).
async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str, key: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}
