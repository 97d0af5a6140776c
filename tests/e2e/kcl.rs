//! A KCL application from outside (issue 28): kcl-rs, a Rust port of the
//! Kinesis Client Library 3 with Python bindings, from PyPI, runs
//! `kcl/app.py` beside `kinesis-lab etl --lease-table` workers, on one lease
//! table and one source. The two kinds balance, each takes the leases of the
//! other kind after kill -9, and every session lands in a destination.
//!
//! kcl-rs's Python API sets no failover time, so both kinds run with the
//! KCL's 10 s, and kcl-rs looks for leases to take only every 20.4 s (the
//! KCL's `(failover + 200 ms) * 2`): these tests wait for whole KCL cycles,
//! and take under a minute. Our workers start first and make the leases:
//! kcl-rs 0.1.4 on an empty table took 73 and 81 s (two tries on the
//! emulator) to make them itself: its first shard sync went on only at its
//! leader election a minute later.
//!
//! kcl-rs publishes CloudWatch metrics every 10 s and cannot be told not to
//! from Python; where the target has no CloudWatch (the emulator) it logs a
//! warning each time and goes on.
//!
//! Python, boto3 and kcl-rs come from PyPI into a venv (`target/kcl-python`,
//! or `LAB_KCL_VENV`), made on the first run, as the learner tests make
//! theirs. Where none can be made (no python3 3.11 or later with venv, no
//! PyPI) each test passes and says `KCL NOT CHECKED` with the reason;
//! `LAB_KCL=require` (set by `.ci/run`) makes that a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kinesis_lab::shard_reader::{ShardReader, StartingPosition};
use serde_json::Value;

use crate::venv::PythonVenv;
use crate::workers::{Share, stop, wait};
use crate::{root, text};

/// What a test says when it could not check: the tests below look for it.
const NOT_CHECKED: &str = "KCL NOT CHECKED";

/// The kcl-rs these tests were written against. Another version may change
/// the lease table's use or the KCL's timing, so it is pinned.
const KCL_RS: &str = "kcl-rs==0.1.4";

/// The KCL's failover time, the only one kcl-rs's Python API offers; our
/// workers get the same, so that neither kind takes the other's leases as
/// expired while their worker lives.
const FAILOVER: Duration = Duration::from_secs(10);

/// How often a kcl-rs worker looks for leases to take: the KCL's
/// `(failover time + 200 ms) * 2`. The KCL holds a lease expired once a look
/// finds its counter where a look more than the failover time earlier found
/// it, so a kcl-rs worker takes a dead worker's leases at its second look
/// after the death at the latest.
const KCL_TAKE: Duration = Duration::from_millis(20_400);

/// The venv kcl-rs runs in: `target/kcl-python`, or `LAB_KCL_VENV`.
static KCL_VENV: PythonVenv = PythonVenv {
    area: "kcl",
    not_checked: NOT_CHECKED,
    require: "LAB_KCL",
    dir_variable: "LAB_KCL_VENV",
    dir: "kcl-python",
    packages: &[KCL_RS, "boto3"],
    // The version of KCL_RS, no other.
    ready: "import sys, boto3, kcl_rs, importlib.metadata as m; sys.exit(m.version('kcl-rs') != '0.1.4')",
    python: "python3 (3.11 or later)",
    made: &MADE,
};
static MADE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// A Python with kcl-rs and boto3, or `None` (said out loud).
fn python(test: &str) -> Option<PathBuf> {
    KCL_VENV.python(test)
}

/// An emulator of the test's own, as the learner tests have: what kcl-rs
/// does is checked against the emulator, and the workers' own tests check
/// ours on every target.
async fn own_emulator() -> crate::target::TestTarget {
    crate::target::TestTarget::with_emulator(emulator::Config::for_tests()).await
}

/// How a kcl-rs worker reads the source.
#[derive(Clone, Copy)]
enum Retrieval {
    /// GetRecords, every 200 ms (kcl-rs's floor).
    Polling,
    /// Enhanced fan-out: SubscribeToShard, with a consumer named after the
    /// application (the lease table).
    FanOut,
}

/// `kinesis-lab etl --lease-table` as worker `id`, with the KCL's failover
/// time. It renews and looks more often than the KCL would, which changes
/// nothing for kcl-rs: a lease is expired by its counter, not by who looks.
fn ours(share: &Share, id: &str, extra: &[&str]) -> Child {
    let destinations = format!(
        r#"{{"USA": "{}", "International": "{}"}}"#,
        share.usa, share.international
    );
    let log = std::fs::File::create(share.work.path().join(format!("{id}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args([
            "etl",
            "--source-stream",
            &share.source,
            "--dest-streams",
            &destinations,
        ])
        .args(["--lease-table", &share.table, "--worker-id", id])
        .args(["--failover-time", &format!("{}s", FAILOVER.as_secs())])
        .args(["--renew-every", "500ms", "--take-every", "300ms"])
        .args(["--output", "json", "--dead-letter-file"])
        .arg(share.work.path().join(format!("dl-{id}.jsonl")))
        .args(["--endpoint-url", &share.target.url])
        .args(extra)
        .env("RUST_LOG", "warn,kinesis_lab=info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kinesis-lab etl starts")
}

/// `kcl/app.py` on kcl-rs as worker `id`: what it says goes to `<id>.said`,
/// kcl-rs's own log to `<id>.log`.
fn kcl(share: &Share, python: &Path, id: &str, retrieval: Retrieval) -> Child {
    let said = std::fs::File::create(share.work.path().join(format!("{id}.said"))).unwrap();
    let log = std::fs::File::create(share.work.path().join(format!("{id}.log"))).unwrap();
    let retrieval = match retrieval {
        Retrieval::Polling => "POLLING",
        Retrieval::FanOut => "FANOUT",
    };
    Command::new(python)
        .arg(root().join("tests/e2e/kcl/app.py"))
        .args(["--stream", &share.source, "--lease-table", &share.table])
        .args(["--worker-id", id, "--retrieval", retrieval])
        .args(["--usa", &share.usa, "--international", &share.international])
        .args(["--endpoint-url", &share.target.url])
        .env("RUST_LOG", "warn")
        .stdout(said)
        .stderr(log)
        .spawn()
        .expect("the kcl-rs application starts")
}

/// What kcl-rs worker `id` has said so far.
fn said(share: &Share, id: &str) -> String {
    std::fs::read_to_string(share.work.path().join(format!("{id}.said"))).unwrap_or_default()
}

/// The shards kcl-rs worker `id` said it gained.
fn gained(share: &Share, id: &str) -> BTreeSet<String> {
    said(share, id)
        .lines()
        .filter_map(|line| line.strip_prefix("gained "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Waits until kcl-rs worker `id` has said it gained every lease the table
/// shows it holding: its processor for a shard starts after the lease is
/// taken.
async fn assert_says_what_it_holds(share: &Share, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held: BTreeSet<String> = share
            .owners()
            .await
            .into_iter()
            .filter(|(_, owner)| owner.as_deref() == Some(id))
            .map(|(shard, _)| shard)
            .collect();
        let said = gained(share, id);
        if held.is_subset(&said) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} holds {held:?} but said it gained only {said:?}:\n{}",
            share.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that kcl-rs worker `id`, still running, never lost a lease: no
/// worker of either kind took one from it.
fn assert_lost_none(share: &Share, id: &str) {
    let said = said(share, id);
    let lost: Vec<&str> = said.lines().filter(|line| line.starts_with("lost ")).collect();
    assert!(lost.is_empty(), "{id} lost leases while it ran: {lost:?}");
}

/// Checks that the sessions written twice came from hand-overs, one batch
/// each: on each shard of the source, the copies form at most one run of
/// consecutive records for each time the shard's lease changed hands while
/// it was read (ours log "took a lease shard=.. from=Some(..)", kcl-rs says
/// "gained .."). Prints how many there were.
async fn assert_copies_only_from_hand_overs(share: &Share) {
    let mut hand_overs: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(share.work.path()).unwrap().flatten() {
        let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let name = entry.file_name().to_string_lossy().into_owned();
        for line in log.lines() {
            let shard = if name.ends_with(".said") {
                line.strip_prefix("gained ")
                    .and_then(|rest| rest.split_whitespace().next())
            } else if line.contains("took a lease") && line.contains("from=Some(") {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix("shard="))
            } else {
                None
            };
            if let Some(shard) = shard {
                *hand_overs.entry(shard.to_owned()).or_default() += 1;
            }
        }
    }
    let arrived = share.arrived().await;
    let mut reader = ShardReader::open(
        share.target.clients.kinesis.clone(),
        &share.source,
        StartingPosition::TrimHorizon,
        None,
    )
    .await
    .unwrap();
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    let mut previous: Option<(String, bool)> = None;
    for record in reader.read_to_end().await.unwrap() {
        let session: Value = serde_json::from_slice(&record.data).unwrap();
        let id = session["session_id"].as_str().unwrap();
        let twice = arrived.get(id).copied().unwrap_or(0) > 1;
        let continues = previous
            .as_ref()
            .is_some_and(|(shard, was_twice)| *shard == record.shard_id && *was_twice);
        if twice && !continues {
            *runs.entry(record.shard_id.clone()).or_default() += 1;
        }
        previous = Some((record.shard_id.clone(), twice));
    }
    eprintln!("kcl: runs of sessions written twice per shard {runs:?}; hand-overs per shard {hand_overs:?}");
    for (shard, n) in &runs {
        let handed = hand_overs.get(shard).copied().unwrap_or(0);
        assert!(
            *n <= handed,
            "{shard}: {n} runs of copies for {handed} hand-overs:\n{}",
            share.logs()
        );
    }
}

/// How many records in the destinations each kind wrote: ours enriches
/// every session (it adds processing_timestamp), the kcl-rs application
/// writes it as it read it.
async fn written_by_each(share: &Share) -> (usize, usize) {
    let delivered = share.delivered().await;
    let ours = delivered
        .iter()
        .filter(|session| session.get("processing_timestamp").is_some())
        .count();
    (ours, delivered.len() - ours)
}

/// A kcl-rs worker stopped as a deployment stops it (SIGTERM), or killed
/// if it has not stopped within 20 s; the test is over either way.
fn stop_kcl(mut worker: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while worker.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            eprintln!("kcl: a kcl-rs worker did not stop within 20 s of SIGTERM; killed");
            let _ = worker.kill();
            let _ = worker.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two kcl-rs workers (polling) join two of ours on an 8-shard source while
/// sessions are put: within two kcl-rs looks every worker holds 2 leases
/// and the kcl-rs workers say so; one kcl-rs worker killed with SIGKILL has
/// its leases taken by ours within the failover time and a second, the
/// other never loses one; every session lands, written by both kinds.
#[tokio::test(flavor = "multi_thread")]
async fn kcl_rs_workers_share_a_lease_table_with_ours_and_theirs_are_taken_after_kill_9() {
    let Some(python) =
        python("kcl_rs_workers_share_a_lease_table_with_ours_and_theirs_are_taken_after_kill_9")
    else {
        return;
    };
    let share = Share::on(own_emulator().await, 8).await;
    let workers: Vec<Child> = ["o1", "o2"].iter().map(|id| ours(&share, id, &[])).collect();
    share
        .wait_for(
            "our two workers hold every lease",
            Duration::from_secs(30),
            |shares, owners| owners.len() == 8 && shares.values().sum::<usize>() == 8,
        )
        .await;
    let (producer, sent) = share.produce(400, "60ms", 41);
    let started = Instant::now();
    let mut theirs: Vec<Child> = ["k1", "k2"]
        .iter()
        .map(|id| kcl(&share, &python, id, Retrieval::Polling))
        .collect();
    let patience = (KCL_TAKE * 2 + Duration::from_secs(10)).max(share.target.patience());
    share
        .wait_for("2 leases each of four", patience, |shares, _| {
            shares.len() == 4 && shares.values().all(|n| *n == 2)
        })
        .await;
    eprintln!(
        "kcl::share: 2 leases each for two of ours and two kcl-rs workers {:?} after kcl-rs started",
        started.elapsed()
    );
    for id in ["k1", "k2"] {
        assert_says_what_it_holds(&share, id).await;
    }

    let mut killed = theirs.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let handed_over = share
        .wait_for(
            "the killed kcl-rs worker's leases taken",
            FAILOVER + Duration::from_secs(30),
            |shares, _| !shares.contains_key("k1") && shares.values().sum::<usize>() == 8,
        )
        .await;
    let owners = share.shares().await;
    eprintln!(
        "kcl::share: the killed kcl-rs worker's leases taken {handed_over:?} after SIGKILL; now {owners:?}"
    );
    // Ours look every 300 ms and are under their share once k1 is gone.
    let bound = FAILOVER + Duration::from_secs(2);
    assert!(handed_over <= bound, "{handed_over:?} over {bound:?}");

    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    let (by_ours, by_kcl) = written_by_each(&share).await;
    eprintln!(
        "kcl::share: {} sessions sent, all arrived, {copies} extra copies; {by_ours} records written by ours, \
         {by_kcl} by kcl-rs",
        sent.len()
    );
    assert!(by_ours > 0 && by_kcl > 0, "ours wrote {by_ours}, kcl-rs {by_kcl}");
    assert_lost_none(&share, "k2");
    assert_copies_only_from_hand_overs(&share).await;
    theirs.into_iter().for_each(stop_kcl);
    workers.into_iter().for_each(stop);
    // Issue 30: kcl-rs publishes its metrics to CloudWatch every ~10 s, as
    // the KCL does; the emulator serves CloudWatch, so it warns of nothing.
    let log = std::fs::read_to_string(share.work.path().join("k2.log")).unwrap();
    assert!(
        !log.contains("CloudWatch"),
        "kcl-rs could not publish its metrics:\n{log}"
    );
    share.cleanup().await;
}

/// A kcl-rs worker reading with enhanced fan-out shares a 4-shard source
/// with one of ours, on fan-out too, through the same consumer (named after
/// the application, as the KCL names it); ours killed with SIGKILL, kcl-rs
/// takes every lease it held by its second look after the kill, resumes at
/// our checkpoints, and every session lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_kcl_rs_worker_on_enhanced_fan_out_takes_our_leases_after_kill_9() {
    let Some(python) = python("a_kcl_rs_worker_on_enhanced_fan_out_takes_our_leases_after_kill_9") else {
        return;
    };
    let share = Share::on(own_emulator().await, 4).await;
    let mut killed = ours(&share, "o1", &["--efo", "--consumer-name", &share.table]);
    share
        .wait_for(
            "our worker holds every lease",
            Duration::from_secs(30),
            |shares, _| shares.get("o1") == Some(&4),
        )
        .await;
    let (producer, sent) = share.produce(300, "80ms", 42);
    let started = Instant::now();
    let theirs = kcl(&share, &python, "f1", Retrieval::FanOut);
    let patience = (KCL_TAKE + Duration::from_secs(10)).max(share.target.patience());
    share
        .wait_for("a lease for each", patience, |shares, _| {
            shares.len() == 2 && shares.values().all(|n| *n >= 1)
        })
        .await;
    eprintln!(
        "kcl::efo: the kcl-rs worker stole a lease from ours {:?} after it started",
        started.elapsed()
    );
    assert_says_what_it_holds(&share, "f1").await;
    // Read with enhanced fan-out: kcl-rs registers a consumer named after
    // the application (the lease table) on the source.
    let kinesis = &share.target.clients.kinesis;
    let arn = kinesis
        .describe_stream_summary()
        .stream_name(&share.source)
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;
    let consumers = kinesis
        .list_stream_consumers()
        .stream_arn(arn)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = consumers.consumers().iter().map(|c| c.consumer_name()).collect();
    assert_eq!(
        names,
        [share.table.as_str()],
        "the source's consumers: one, for both kinds"
    );
    // Let both kinds write for a while, so that the kill falls among batches.
    tokio::time::sleep(Duration::from_secs(2)).await;

    killed.kill().unwrap();
    killed.wait().unwrap();
    let handed_over = share
        .wait_for(
            "our killed worker's leases taken by kcl-rs",
            KCL_TAKE * 2 + Duration::from_secs(10),
            |shares, _| shares.get("f1") == Some(&4),
        )
        .await;
    eprintln!("kcl::efo: our killed worker's leases taken by kcl-rs {handed_over:?} after SIGKILL");
    // Two looks, and time for the second to take four leases on a busy machine.
    let bound = KCL_TAKE * 2 + Duration::from_secs(5);
    assert!(handed_over <= bound, "{handed_over:?} over {bound:?}");
    assert_says_what_it_holds(&share, "f1").await;

    wait(producer, Duration::from_secs(60));
    let copies = share.wait_for_every_session(&sent).await;
    let (by_ours, by_kcl) = written_by_each(&share).await;
    eprintln!(
        "kcl::efo: {} sessions sent, all arrived, {copies} extra copies; {by_ours} records written by ours, \
         {by_kcl} by kcl-rs",
        sent.len()
    );
    assert!(by_ours > 0 && by_kcl > 0, "ours wrote {by_ours}, kcl-rs {by_kcl}");
    assert_lost_none(&share, "f1");
    assert_copies_only_from_hand_overs(&share).await;
    stop_kcl(theirs);
    share.cleanup().await;
}

/// One kcl-rs test of this test binary, with `env` set: a clone where
/// `venv` does not exist yet.
fn run_kcl_test_elsewhere(venv: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "kcl::a_kcl_rs_worker_on_enhanced_fan_out_takes_our_leases_after_kill_9",
        ])
        .env("LAB_KCL_VENV", venv)
        .env_remove("LAB_KCL");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the e2e test binary runs")
}

/// PyPI as a machine offline or behind a proxy sees it: nothing answers.
const NO_PYPI: [(&str, &str); 3] = [
    ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
    ("PIP_RETRIES", "0"),
    ("PIP_NO_CACHE_DIR", "1"),
];

/// Without PyPI the kcl-rs tests pass, say they did not check and why, and
/// leave no half-made venv behind.
#[test]
fn without_pypi_the_kcl_rs_tests_pass_saying_they_did_not_check() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_kcl_test_elsewhere(&dir.path().join("kcl-python"), &NO_PYPI);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("1 passed; 0 failed"), "{stdout}");
    let said = stderr
        .lines()
        .find(|line| {
            line.starts_with("kcl::a_kcl_rs_worker_on_enhanced_fan_out_takes_our_leases_after_kill_9: ")
        })
        .unwrap_or_else(|| panic!("the test did not say it was skipped:\n{stderr}"));
    assert!(said.contains(NOT_CHECKED), "{said}");
    assert!(
        said.contains("cannot install kcl-rs==0.1.4 boto3 from PyPI"),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed attempt left {left:?} behind");
}

/// `LAB_KCL=require`, as `.ci/run` sets it: no venv is a failure.
#[test]
fn with_lab_kcl_require_no_venv_fails_the_kcl_rs_tests() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = NO_PYPI.to_vec();
    env.push(("LAB_KCL", "require"));
    let output = run_kcl_test_elsewhere(&dir.path().join("kcl-python"), &env);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("0 passed; 1 failed"), "{stdout}");
    assert!(stdout.contains("LAB_KCL=require is set"), "{stdout}");
    assert!(!stderr.contains(NOT_CHECKED), "{stderr}");
}
