//! `cargo xtask bench workers`: the ETL shared between workers through a
//! lease table (`kinesis-lab etl --lease-table`), on one release emulator
//! process, all on this machine:
//!
//! - throughput with 1, 2 and 3 workers, side by side: an 8-shard source
//!   filled with sessions first, then the workers started on a lease table of
//!   their own, timed until both destinations hold every session, with how
//!   many cores the workers and the emulator kept busy meanwhile;
//! - the hand-over after kill -9: three workers sharing the source while a
//!   producer puts sessions, one killed; the time until its leases are held by
//!   the others, and the sessions written twice per lease taken over (counted
//!   from a moment after the three balanced, so the copies of their start's
//!   steals are not counted as the hand-over's);
//! - the hand-over after SIGTERM: the same, the worker asked to stop;
//! - the hand-over after kill -9 once more, with the KCL's default timings.
//!
//! Beside the workers, one `kinesis-lab etl --checkpoint FILE` (no lease
//! table) on the same source: what a lease table costs one process.
//!
//! The workers run with a 3 s failover time, renewals every 500 ms and a look
//! for leases every 300 ms, as the tests run them, but for the last hand-over:
//! the KCL's defaults (10 s, 3.3 s, 20 s) make each hand-over that much
//! longer.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kinesis_lab::batch_writer::{Entry, put_all};
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::infra::ensure_stream;
use kinesis_lab::shard_reader::{ShardReader, StartingPosition};
use kinesis_lab::target::{Clients, Target};

const FAILOVER: &str = "3s";
const RENEW: &str = "500ms";
const TAKE: &str = "300ms";
/// Long enough after the three workers balance for the batches in flight
/// at each of the start's steals to be written: a renewal and a batch.
const SETTLE: Duration = Duration::from_millis(1500);

/// Measures, and prints, everything the module says.
pub fn run(sh: &xshell::Shell, bin: &Path, sessions: usize, runs: u32) -> anyhow::Result<()> {
    let data = sh.create_temp_dir()?;
    let mut emulator = Command::new(bin)
        .args([
            "emulator",
            "--ephemeral",
            "--port",
            "0",
            "--kinesis-status-delay",
            "0s",
            // The throughput runs keep the source and every run's
            // destinations: past the default cap (256 MiB) the oldest
            // records would be trimmed and never counted.
            "--max-retained-mib",
            "4096",
            "--data-dir",
        ])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(emulator.stdout.take().context("piped")?).read_line(&mut first)?;
    let Some(url) = first.split_whitespace().find(|w| w.starts_with("http://")) else {
        bail!("the emulator did not start: {first:?}");
    };
    let url = url.to_owned();
    let result = tokio::runtime::Runtime::new()?.block_on(async {
        let clients = Target::Endpoint(url.clone()).connect().await?;
        let bench = Bench {
            emulator: emulator.id(),
            bin,
            url: &url,
            clients: &clients,
        };
        bench.throughput(sessions).await?;
        bench.hand_over(runs, HandOver::Kill, Timing::Tests).await?;
        bench.hand_over(runs, HandOver::Term, Timing::Tests).await?;
        bench.hand_over(runs.min(3), HandOver::Kill, Timing::Kcl).await
    });
    let _ = emulator.kill();
    let _ = emulator.wait();
    result
}

struct Bench<'a> {
    /// The emulator's process id, for its CPU time.
    emulator: u32,
    bin: &'a Path,
    url: &'a str,
    clients: &'a Clients,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum HandOver {
    Kill,
    Term,
}

/// The workers' lease timings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Timing {
    /// The tests': a failover of 3 s.
    Tests,
    /// The KCL's defaults, which are the ETL's: a failover of 10 s.
    Kcl,
}

impl Timing {
    fn flags(self) -> Vec<&'static str> {
        match self {
            Timing::Tests => vec![
                "--failover-time",
                FAILOVER,
                "--renew-every",
                RENEW,
                "--take-every",
                TAKE,
            ],
            Timing::Kcl => Vec::new(),
        }
    }

    fn describe(self) -> String {
        match self {
            Timing::Tests => format!("failover {FAILOVER}, renew every {RENEW}, look every {TAKE}"),
            Timing::Kcl => "the KCL's defaults: failover 10s, renew every 3.3s, look every 20s".to_owned(),
        }
    }
}

impl Bench<'_> {
    async fn throughput(&self, sessions: usize) -> anyhow::Result<()> {
        let source = "bench-workers-source";
        ensure_stream(&self.clients.kinesis, source, 8, Duration::from_secs(60)).await?;
        fill(self.clients, source, sessions).await?;
        println!(
            "workers: {sessions} sessions on an 8-shard source, then 1, 2 and 3 `kinesis-lab etl --lease-table` \
             workers (release) until both destinations hold them all"
        );
        let file_rate = self.one_etl_with_a_checkpoint_file(source, sessions).await?;
        let mut rates = Vec::new();
        for workers in 1..=3 {
            let (usa, international) = (format!("bench-usa-{workers}"), format!("bench-int-{workers}"));
            for stream in [&usa, &international] {
                ensure_stream(&self.clients.kinesis, stream, 4, Duration::from_secs(60)).await?;
            }
            let table = format!("bench-leases-{workers}");
            let started = Instant::now();
            let emulator_before = cpu_time(self.emulator)?;
            let children: Vec<Child> = (1..=workers)
                .map(|n| {
                    let id = format!("t{workers}-{n}");
                    self.worker(source, &usa, &international, &table, &id, Timing::Tests)
                })
                .collect::<Result<_, _>>()?;
            let mut counter = Counter::open(self.clients, &[&usa, &international]).await?;
            while counter.total().await? < sessions {
                if started.elapsed() > Duration::from_secs(600) {
                    bail!("{workers} workers did not write {sessions} sessions within 10 minutes");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let took = started.elapsed();
            let mut workers_cpu = Duration::ZERO;
            for child in &children {
                workers_cpu += cpu_time(child.id())?;
            }
            let emulator_cpu = cpu_time(self.emulator)? - emulator_before;
            children.into_iter().for_each(stop);
            let rate = sessions as f64 / took.as_secs_f64();
            rates.push(rate);
            let cores = |cpu: Duration| cpu.as_secs_f64() / took.as_secs_f64();
            println!(
                "  {workers} worker(s): {:.1} s, {rate:>8.0} sessions/s, {:.2}x one worker, {:.2}x one ETL \
                 with a checkpoint file; cores busy: workers {:.2}, emulator {:.2} (of {})",
                took.as_secs_f64(),
                rate / rates[0],
                rate / file_rate,
                cores(workers_cpu),
                cores(emulator_cpu),
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            );
        }
        Ok(())
    }

    /// One `kinesis-lab etl --checkpoint FILE` over the whole source, timed
    /// as the workers are; its rate.
    async fn one_etl_with_a_checkpoint_file(&self, source: &str, sessions: usize) -> anyhow::Result<f64> {
        let (usa, international) = ("bench-usa-file", "bench-int-file");
        for stream in [usa, international] {
            ensure_stream(&self.clients.kinesis, stream, 4, Duration::from_secs(60)).await?;
        }
        let checkpoint = std::env::temp_dir().join(format!("bench-workers-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&checkpoint);
        let destinations = format!(r#"{{"USA": "{usa}", "International": "{international}"}}"#);
        let started = Instant::now();
        let emulator_before = cpu_time(self.emulator)?;
        let etl = Command::new(self.bin)
            .args(["etl", "--source-stream", source, "--dest-streams", &destinations])
            .arg("--checkpoint")
            .arg(&checkpoint)
            .args([
                "--output",
                "json",
                "--dead-letter-file",
                "/dev/null",
                "--endpoint-url",
                self.url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut counter = Counter::open(self.clients, &[usa, international]).await?;
        while counter.total().await? < sessions {
            if started.elapsed() > Duration::from_secs(600) {
                bail!("one ETL did not write {sessions} sessions within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = started.elapsed();
        let etl_cpu = cpu_time(etl.id())?;
        let emulator_cpu = cpu_time(self.emulator)? - emulator_before;
        stop(etl);
        let _ = std::fs::remove_file(&checkpoint);
        let rate = sessions as f64 / took.as_secs_f64();
        let cores = |cpu: Duration| cpu.as_secs_f64() / took.as_secs_f64();
        println!(
            "  one ETL, --checkpoint FILE: {:.1} s, {rate:>8.0} sessions/s; cores busy: the ETL {:.2}, emulator {:.2}",
            took.as_secs_f64(),
            cores(etl_cpu),
            cores(emulator_cpu),
        );
        Ok(rate)
    }

    /// Three workers, a producer, and one worker killed or stopped: the time
    /// until its leases are held by the others (median of `runs`), and the
    /// copies per lease handed over.
    async fn hand_over(&self, runs: u32, how: HandOver, timing: Timing) -> anyhow::Result<()> {
        let mut times = Vec::new();
        let (mut copies, mut moved) = (0, 0);
        for run in 0..runs {
            let tag = format!("{how:?}-{timing:?}-{run}").to_lowercase();
            let (source, usa, international) = (
                format!("ho-src-{tag}"),
                format!("ho-usa-{tag}"),
                format!("ho-int-{tag}"),
            );
            for (stream, shards) in [(&source, 8), (&usa, 2), (&international, 2)] {
                ensure_stream(&self.clients.kinesis, stream, shards, Duration::from_secs(60)).await?;
            }
            let table = format!("ho-leases-{tag}");
            let mut producer = Command::new(self.bin)
                .args([
                    "generate",
                    "--stream",
                    &source,
                    "--count",
                    "3000",
                    "--mean-gap",
                    "5ms",
                    "--seed",
                    "9",
                ])
                .args(["--endpoint-url", self.url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let mut workers: Vec<Child> = (1..=3)
                .map(|n| {
                    self.worker(
                        &source,
                        &usa,
                        &international,
                        &table,
                        &format!("{tag}-{n}"),
                        timing,
                    )
                })
                .collect::<Result<_, _>>()?;
            let leaving = format!("{tag}-1");
            wait_for(self.clients, &table, Duration::from_secs(180), |shares| {
                shares.len() == 3 && shares.values().all(|n| (2..=3).contains(n))
            })
            .await
            .context("the three workers did not share the leases")?;
            // The copies made while the three balanced at their start are
            // not the hand-over's: let that settle, and count them first.
            tokio::time::sleep(SETTLE).await;
            let mut counter = Counter::open(self.clients, &[&usa, &international]).await?;
            let before = counter.copies().await?;
            let held = owned_by(self.clients, &table, &leaving).await?;
            let mut first = workers.remove(0);
            let started = Instant::now();
            let signal = match how {
                HandOver::Kill => rustix::process::Signal::KILL,
                HandOver::Term => rustix::process::Signal::TERM,
            };
            if let Some(pid) = rustix::process::Pid::from_raw(first.id() as i32) {
                let _ = rustix::process::kill_process(pid, signal);
            }
            let taken = wait_for(self.clients, &table, Duration::from_secs(120), |shares| {
                !shares.contains_key(&leaving) && shares.values().sum::<usize>() == 8
            })
            .await;
            let took = started.elapsed();
            first.wait()?;
            taken.context("the leaving worker's leases were not taken over")?;
            times.push(took);
            producer.wait()?;
            let sent = 3000;
            let deadline = Instant::now() + Duration::from_secs(120);
            while counter.distinct().await? < sent {
                if Instant::now() > deadline {
                    bail!("sessions were lost across the hand-over");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            copies += counter.copies().await? - before;
            moved += held;
            workers.into_iter().for_each(stop);
        }
        times.sort();
        let name = match how {
            HandOver::Kill => "kill -9",
            HandOver::Term => "SIGTERM",
        };
        println!(
            "  hand-over after {name} ({runs} runs, 3 workers on 8 shards, {}): median {:.2} s, max {:.2} s; \
             {copies} sessions written twice for {moved} leases handed over ({:.1} a lease); none lost",
            timing.describe(),
            times[times.len() / 2].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            copies as f64 / moved.max(1) as f64,
        );
        Ok(())
    }

    fn worker(
        &self,
        source: &str,
        usa: &str,
        international: &str,
        table: &str,
        id: &str,
        timing: Timing,
    ) -> anyhow::Result<Child> {
        let destinations = format!(r#"{{"USA": "{usa}", "International": "{international}"}}"#);
        Ok(Command::new(self.bin)
            .args(["etl", "--source-stream", source, "--dest-streams", &destinations])
            .args(["--lease-table", table, "--worker-id", id])
            .args(timing.flags())
            .args([
                "--output",
                "json",
                "--dead-letter-file",
                "/dev/null",
                "--endpoint-url",
                self.url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?)
    }
}

/// Puts `sessions` generated sessions on `stream`, 500 a call.
async fn fill(clients: &Clients, stream: &str, sessions: usize) -> anyhow::Result<()> {
    let mut generator = SessionGenerator::new(5);
    let mut left = sessions;
    while left > 0 {
        let entries: Vec<Entry> = (0..left.min(500))
            .map(|origin| {
                let session = serde_json::Value::Object(generator.session());
                Entry {
                    partition_key: session["session_id"].as_str().unwrap_or("k").to_owned(),
                    data: session.to_string().into_bytes(),
                    origin,
                }
            })
            .collect();
        let count = entries.len();
        let written = put_all(&clients.kinesis, stream, entries).await?;
        if !written.invalid.is_empty() {
            bail!("the source refused {} sessions", written.invalid.len());
        }
        left -= count;
    }
    Ok(())
}

/// The records of some streams, counted as they come.
struct Counter {
    readers: Vec<ShardReader>,
    ids: HashMap<String, usize>,
    total: usize,
}

impl Counter {
    async fn open(clients: &Clients, streams: &[&str]) -> anyhow::Result<Counter> {
        let mut readers = Vec::new();
        for stream in streams {
            readers.push(
                ShardReader::open(
                    clients.kinesis.clone(),
                    stream,
                    StartingPosition::TrimHorizon,
                    None,
                )
                .await?
                .with_limit(10_000),
            );
        }
        Ok(Counter {
            readers,
            ids: HashMap::new(),
            total: 0,
        })
    }

    async fn read(&mut self) -> anyhow::Result<()> {
        for reader in &mut self.readers {
            for record in reader.read_to_end().await? {
                self.total += 1;
                let session: serde_json::Value = serde_json::from_slice(&record.data)?;
                let id = session["session_id"].as_str().unwrap_or_default().to_owned();
                *self.ids.entry(id).or_default() += 1;
            }
        }
        Ok(())
    }

    async fn total(&mut self) -> anyhow::Result<usize> {
        self.read().await?;
        Ok(self.total)
    }

    /// Records beyond the first of their session.
    async fn copies(&mut self) -> anyhow::Result<usize> {
        self.read().await?;
        Ok(self.total - self.ids.len())
    }

    async fn distinct(&mut self) -> anyhow::Result<usize> {
        self.read().await?;
        Ok(self.ids.len())
    }
}

/// How many ready leases each worker holds.
async fn shares(clients: &Clients, table: &str) -> anyhow::Result<HashMap<String, usize>> {
    let leases = kinesis_lab::lease::LeaseTable::existing(clients.dynamodb.clone(), table)
        .scan()
        .await?;
    let mut shares = HashMap::new();
    for lease in leases.iter().filter(|lease| !lease.is_finished()) {
        if let Some(owner) = &lease.owner {
            *shares.entry(owner.clone()).or_default() += 1;
        }
    }
    Ok(shares)
}

async fn owned_by(clients: &Clients, table: &str, worker: &str) -> anyhow::Result<usize> {
    Ok(shares(clients, table).await?.get(worker).copied().unwrap_or(0))
}

async fn wait_for(
    clients: &Clients,
    table: &str,
    patience: Duration,
    done: impl Fn(&HashMap<String, usize>) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        // A table not made yet holds no leases.
        let shares = shares(clients, table).await.unwrap_or_default();
        if done(&shares) {
            return Ok(());
        }
        if started.elapsed() > patience {
            bail!("not within {patience:?}: {shares:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The CPU time a process has used so far, all its threads together: the
/// user and system clock ticks of Linux's `/proc/PID/stat` (fields 14 and
/// 15, counted after the parenthesised command name, which may hold spaces).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| -> anyhow::Result<u64> {
        // Field 3 (the state) is the first after the name.
        fields
            .get(field - 3)
            .and_then(|value| value.parse().ok())
            .with_context(|| format!("{path} has no field {field}: {stat:?}"))
    };
    let ticks = ticks(14)? + ticks(15)?;
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

fn stop(mut worker: Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(worker.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let _ = worker.wait();
}
