//! `cargo xtask bench`: measure the figures the issues ask for.
//!
//! Benchmarks, not timed tests: the machines this runs on are shared and noisy,
//! so a figure is the best of a few runs of a release build, printed for a person
//! to read, and never a pass/fail threshold.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

mod cold_start;
mod workers;

/// Measure the figures the issues ask for (release builds).
///
/// enrich: `kinesis-lab enrich` over generated sessions, lines per second and
/// peak memory, at two input sizes to show that memory stays flat; beside it
/// the lab's enrichment in plain Python on the same lines, and the ratio.
///
/// emulator: `kinesis-lab emulator` process start to its first line; then the
/// endpoint benchmark (emulator/benches/endpoint.rs): in-process startup,
/// PutRecords throughput, and Firehose delivery delay against IntervalInSeconds.
///
/// etl: benches/etl.rs: ETL throughput with the sessions already on the stream,
/// beside the lab's own loop in Python with boto3 (benches/lab_etl.py, in a
/// venv made under target/), and the latency from a put on the source to the
/// record on its destination, polling and with enhanced fan-out (`--efo`).
///
/// part2: the wall time of `cargo xtask lab part2 --fast`, build excluded.
///
/// workers (only when named): `kinesis-lab etl --lease-table` with 1, 2 and 3
/// workers side by side, and the hand-over of a worker's leases after kill -9
/// and after SIGTERM (xtask/src/bench/workers.rs says how).
///
/// soak (only when named): the emulator's memory over a long run of lab
/// sessions (30 minutes at 500 records/s by default).
///
/// cold-start (only when named): a fresh clone with nothing built runs the
/// README's first commands; each one's time and the units cargo compiled for
/// it (`--against REV` measures another commit after it, with the ratio).
#[derive(Debug, clap::Args)]
pub struct Bench {
    /// What to measure; everything when none is named.
    #[arg(value_enum)]
    only: Vec<Which>,

    /// How many lines the large enrich input has.
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,

    /// Runs per measurement; the best is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,

    /// soak: how long to put records.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    soak_for: Duration,

    /// soak: records per second.
    #[arg(long, value_name = "N", default_value_t = 500)]
    soak_rate: u32,

    /// soak: the emulator's --max-retained-mib (its default when not given).
    #[arg(long, value_name = "MIB")]
    soak_cap_mib: Option<u64>,

    /// workers: how many sessions the source holds for the throughput runs.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    worker_sessions: usize,

    /// cold-start: measure this commit too, after HEAD, and print the ratio.
    #[arg(long, value_name = "REV")]
    against: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    Enrich,
    Emulator,
    Etl,
    Part2,
    Soak,
    ColdStart,
    Workers,
}

impl Bench {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        // Minutes each, so only when named; cold-start builds nothing here.
        let slow = [Which::Soak, Which::ColdStart, Which::Workers];
        let wants = |which| (self.only.is_empty() && !slow.contains(&which)) || self.only.contains(&which);
        if self.only == [Which::ColdStart] {
            return cold_start::run(sh, self.against.as_deref());
        }
        cmd!(sh, "cargo build --release --quiet --bin kinesis-lab").run()?;
        let bin = sh.current_dir().join("target/release/kinesis-lab");
        if wants(Which::Enrich) {
            self.enrich(sh, &bin)?;
        }
        if wants(Which::Emulator) {
            emulator_process_startup(sh, &bin, self.runs.max(10))?;
            cmd!(sh, "cargo bench --quiet -p kinesis-lab-emulator --bench endpoint").run()?;
        }
        if wants(Which::Etl) {
            let python = bench_python(sh)?;
            cmd!(sh, "cargo bench --quiet -p kinesis-lab --bench etl")
                .env("LAB_PYTHON", python)
                .run()?;
        }
        if wants(Which::Part2) {
            part2_wall_time(sh)?;
        }
        if wants(Which::Soak) {
            let soak = crate::soak::Soak {
                duration: self.soak_for,
                rate: self.soak_rate,
                cap_mib: self.soak_cap_mib,
            };
            crate::soak::run(&bin, soak)?;
        }
        if wants(Which::Workers) {
            workers::run(sh, &bin, self.worker_sessions, self.runs)?;
        }
        if wants(Which::ColdStart) {
            cold_start::run(sh, self.against.as_deref())?;
        }
        Ok(())
    }

    /// `kinesis-lab enrich` and the lab's enrichment in Python
    /// (benches/lab_enrich.py) on the same lines, run after one another.
    fn enrich(&self, sh: &Shell, bin: &Path) -> anyhow::Result<()> {
        let dir = sh.current_dir().join("target/bench");
        sh.create_dir(&dir)?;
        let python_script = sh.current_dir().join("benches/lab_enrich.py");
        println!(
            "enrich: `kinesis-lab enrich < sessions > /dev/null` and the lab's enrichment in Python \
             (`python3 benches/lab_enrich.py`, json.loads and json.dumps), best of {} runs each, alternated",
            self.runs
        );
        for lines in [self.lines / 10, self.lines] {
            let input = dir.join(format!("sessions-{lines}.jsonl"));
            // The generator is seeded, so an existing file is the same input.
            if !input.exists() {
                let count = lines.to_string();
                let sessions = cmd!(sh, "{bin} generate --count {count} --seed 1")
                    .output()?
                    .stdout;
                sh.write_file(&input, sessions)?;
            }
            let (mut ours, mut python): (Option<Run>, Option<Run>) = (None, None);
            for _ in 0..self.runs {
                let run = measure(Command::new(bin).arg("enrich").stdin(File::open(&input)?))?;
                ours = Some(best(ours, run));
                let run = measure(
                    Command::new("python3")
                        .arg(&python_script)
                        .stdin(File::open(&input)?),
                )?;
                python = Some(best(python, run));
            }
            let (ours, python) = (ours.expect("one run"), python.expect("one run"));
            let rate = |run: Run| lines as f64 / run.wall.as_secs_f64();
            println!(
                "  {lines:>9} lines: kinesis-lab {:>9.0} lines/s (peak RSS {}), Python {:>8.0} lines/s: {:.1}x",
                rate(ours),
                ours.peak_rss_kib
                    .map_or("n/a".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0)),
                rate(python),
                rate(ours) / rate(python),
            );
        }
        Ok(())
    }
}

/// The faster of two runs, with the higher of their peak memories.
fn best(so_far: Option<Run>, run: Run) -> Run {
    match so_far {
        Some(b) if b.wall <= run.wall => Run {
            peak_rss_kib: b.peak_rss_kib.max(run.peak_rss_kib),
            ..b
        },
        Some(b) => Run {
            peak_rss_kib: b.peak_rss_kib.max(run.peak_rss_kib),
            ..run
        },
        None => run,
    }
}

/// A Python with boto3 for the lab's own ETL loop (benches/lab_etl.py), in a
/// venv under target/, made the first time.
fn bench_python(sh: &Shell) -> anyhow::Result<std::path::PathBuf> {
    let venv = crate::target_dir(&sh.current_dir()).join("bench-python");
    let python = venv.join("bin/python");
    if !python.exists()
        || cmd!(sh, "{python} -c 'import boto3'")
            .quiet()
            .ignore_stderr()
            .run()
            .is_err()
    {
        println!(
            "Installing boto3 from PyPI into {} for the lab's Python loop",
            venv.display()
        );
        cmd!(sh, "python3 -m venv {venv}").run()?;
        cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check boto3"
        )
        .run()?;
    }
    Ok(python)
}

/// From `kinesis-lab emulator` being started to its first line, which it prints
/// once it answers requests.
fn emulator_process_startup(sh: &Shell, bin: &Path, runs: u32) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    let data = sh.create_temp_dir()?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["emulator", "--port", "0", "--data-dir"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        times.push(started.elapsed());
        child.kill()?;
        child.wait()?;
        if !line.contains("http://") {
            bail!("the emulator did not start: {line:?}");
        }
    }
    times.sort();
    println!(
        "emulator: `kinesis-lab emulator` process start to ready ({runs} runs): median {:.1} ms, max {:.1} ms",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The walkthrough's part 2 with compressed timing, from start to summary. The
/// binaries are built first, so that only the lab itself is timed.
fn part2_wall_time(sh: &Shell) -> anyhow::Result<()> {
    cmd!(sh, "cargo build --quiet --bin kinesis-lab").run()?;
    cmd!(sh, "cargo build --quiet --package xtask").run()?;
    let xtask = crate::target_dir(&sh.current_dir()).join("debug/xtask");
    let started = Instant::now();
    let output = Command::new(&xtask)
        .args(["lab", "part2", "--fast"])
        .stderr(Stdio::null())
        .output()?;
    let took = started.elapsed();
    let transcript = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !transcript.contains("verify: ok") {
        bail!("cargo xtask lab part2 --fast failed:\n{transcript}");
    }
    println!(
        "part2: `cargo xtask lab part2 --fast` from start to summary: {:.1} s",
        took.as_secs_f64()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    peak_rss_kib: Option<u64>,
}

/// Runs a command with its output thrown away, timing it and sampling its peak
/// resident memory (`VmHWM`, Linux only) until it exits.
fn measure(command: &mut Command) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(File::create("/dev/null")?)
        .spawn()
        .context("cannot start the benchmark")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    let status = loop {
        if let Some(kib) = peak_rss_kib(Path::new(&status_file)) {
            peak = Some(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    // enrich exits 2 when it rejected lines; generated input has none to reject.
    if !status.success() {
        bail!("the benchmarked command failed: {status}");
    }
    Ok(Run {
        wall,
        peak_rss_kib: peak,
    })
}

fn peak_rss_kib(status_file: &Path) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
