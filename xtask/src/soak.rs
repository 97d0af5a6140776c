//! `cargo xtask bench soak`: the emulator's memory over a long run.
//!
//! A release `kinesis-lab emulator` runs the lab's part 2 infrastructure (its
//! streams, buckets and two delivery streams) on a durable data directory,
//! while lab sessions are put on the two destination streams at a steady rate.
//! The process's resident memory (`VmRSS`) is sampled as it goes: it grows
//! while the records held reach the cap (`--max-retained-mib`), then stays flat.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kinesis_lab::batch_writer::{Entry, put_all};
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::infra::{self, UpOptions};
use kinesis_lab::lab_names::LabNames;
use kinesis_lab::target::Target;

/// How a soak runs.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    pub duration: Duration,
    /// Records per second, over both destination streams.
    pub rate: u32,
    /// The emulator's cap on record data held, in MiB; `None`: its default.
    pub cap_mib: Option<u64>,
}

/// How many samples of memory a run prints.
const SAMPLES: u32 = 20;

pub fn run(bin: &Path, soak: Soak) -> anyhow::Result<()> {
    let data = tempfile_dir()?;
    let mut command = Command::new(bin);
    command.args(["emulator", "--port", "0", "--data-dir"]).arg(&data);
    if let Some(cap) = soak.cap_mib {
        command.args(["--max-retained-mib", &cap.to_string()]);
    }
    let mut emulator = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the emulator")?;
    let result = drive(&mut emulator, soak);
    // Ctrl+C: the emulator writes what Firehose buffers and stops.
    if let Some(pid) = rustix::process::Pid::from_raw(emulator.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let _ = emulator.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn drive(emulator: &mut Child, soak: Soak) -> anyhow::Result<()> {
    let mut stdout = BufReader::new(emulator.stdout.take().context("piped")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    let Some(url) = first.split_whitespace().find(|w| w.starts_with("http://")) else {
        bail!("the emulator did not start: {first:?}");
    };
    let url = url.to_owned();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let status = format!("/proc/{}/status", emulator.id());

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = Target::Endpoint(url).connect().await?;
        let names = LabNames::new(&clients.account_id().await?);
        let options = UpOptions {
            buffer_interval: kinesis_lab::lab_names::DEFAULT_BUFFER_INTERVAL,
            timeout: Duration::from_secs(60),
        };
        infra::up(&clients, &names, &options, |_| {}).await?;
        let streams = names.routes().map(|route| route.stream);

        println!(
            "soak: {} records/s of lab sessions for {} on the lab's part 2, release emulator on a durable data \
             directory, cap {}",
            soak.rate,
            humantime::format_duration(soak.duration),
            soak.cap_mib
                .map_or("default".to_owned(), |mib| format!("{mib} MiB"))
        );
        let mut sessions = SessionGenerator::new(7);
        let tick = Duration::from_millis(100);
        let per_tick = (soak.rate / 10).max(1) as usize;
        let sample_every = soak.duration / SAMPLES;
        let started = Instant::now();
        let mut next_sample = started + sample_every;
        let mut put = 0u64;
        let mut samples = Vec::new();
        let mut ticks = tokio::time::interval(tick);
        while started.elapsed() < soak.duration {
            ticks.tick().await;
            let entries: Vec<Entry> = (0..per_tick)
                .map(|origin| {
                    let session = serde_json::Value::Object(sessions.session());
                    Entry {
                        partition_key: session["session_id"].as_str().unwrap_or("k").to_owned(),
                        data: session.to_string().into_bytes(),
                        origin,
                    }
                })
                .collect();
            let stream = &streams[(put / per_tick as u64 % 2) as usize];
            // Throttled records are sent again, so every record counted is stored.
            let written = put_all(&clients.kinesis, stream.as_str(), entries).await?;
            put += (per_tick - written.invalid.len()) as u64;
            if Instant::now() >= next_sample {
                next_sample += sample_every;
                let rss = rss_mib(&status).context("cannot read the emulator's memory")?;
                println!(
                    "  {:>8}  {put:>9} records put  RSS {rss:>7.1} MiB",
                    humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                        .to_string()
                );
                samples.push(rss);
            }
        }
        // Warm-up: the first quarter of the run.
        let warm = samples.len() / 4;
        if let (Some(&at_warm), Some(&last)) = (samples.get(warm), samples.last()) {
            let peak = samples[warm..].iter().copied().fold(f64::MIN, f64::max);
            println!(
                "soak: RSS after warm-up {at_warm:.1} MiB, peak after it {peak:.1} MiB, at the end {last:.1} MiB \
                 ({:+.1}% from warm-up to end)",
                (last - at_warm) / at_warm * 100.0
            );
        }
        anyhow::Ok(())
    })
}

fn rss_mib(status_file: &str) -> Option<f64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
