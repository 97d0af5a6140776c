//! `kinesis-lab generate`: the lab's hidden source producer, rebuilt.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_kinesis::operation::put_record::PutRecordError;
use aws_sdk_kinesis::primitives::Blob;
use indicatif::{ProgressBar, ProgressStyle};

use crate::aws_error;
use crate::generator::{ArrivalSchedule, SessionGenerator};
use crate::routing::Route;
use crate::stream_name::StreamName;
use crate::target::{Clients, TargetArgs};
use shard_reader::{kpl, retry};

/// Make user sessions like the ones the lab's hidden producer sent
///
/// In part 2 of the lab, a producer you never see feeds
/// de-c2w2lab1-kinesis-data-stream with user sessions of a web shop. This
/// command makes sessions like those, with the distributions of the lab's real
/// run (countries, cities, credit limits, 1 to 5 products with string
/// quantities).
///
/// With --stream it is that producer: it puts each session on the stream
/// (partition key session_id), one every 10 seconds on average, with the
/// random gaps of real arrivals (--mean-gap 0s for no pause), until --count
/// sessions were put or Ctrl+C. Without --stream it prints them as JSON lines,
/// as fast as it can.
///
/// The same --seed gives the same sessions, byte for byte, on every machine.
/// Without one, a seed is drawn and printed to standard error, so that any run
/// can be repeated.
///
/// Examples:
///   kinesis-lab generate --count 100 | kinesis-lab enrich
///   kinesis-lab generate --stream de-c2w2lab1-kinesis-data-stream
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// How many sessions to make [default: 10 when printing, no end with --stream].
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,

    /// Seed of the random generator.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Put the sessions on this stream instead of printing them.
    #[arg(long, value_name = "NAME")]
    pub stream: Option<StreamName>,

    /// With --stream: the mean gap between two sessions (10s, 200ms, 0s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub mean_gap: Duration,

    /// With --stream: pack N sessions into each Kinesis record, as the Kinesis
    /// Producer Library (KPL) aggregates user records. Consumers built on the
    /// KCL, `kinesis-lab consume` and `etl`, and Firehose take them apart.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "stream",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub aggregate: u64,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// How many sessions are printed when no --count is given.
const DEFAULT_PRINTED: u64 = 10;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        let seed = rand::random();
        eprintln!("seed: {seed} (pass --seed {seed} to make these sessions again)");
        seed
    });
    match &args.stream {
        None => print(seed, args.count.unwrap_or(DEFAULT_PRINTED)),
        Some(stream) => super::runtime()?.block_on(put(&args, stream, seed)),
    }
}

fn print(seed: u64, count: u64) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    for session in SessionGenerator::new(seed).take(count.try_into()?) {
        serde_json::to_writer(&mut out, &session)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The producer: sessions put one by one, with Poisson-spaced gaps.
async fn put(args: &Args, stream: &StreamName, seed: u64) -> anyhow::Result<ExitCode> {
    let stop = super::stop_signal()?;
    tokio::pin!(stop);
    let clients = args.target.target().connect().await?;
    let progress = match args.count {
        Some(count) => ProgressBar::new(count).with_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} sessions put on {prefix} {wide_msg}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} sessions put on {prefix} {wide_msg}")
                .expect("a valid template"),
        ),
    };
    progress.set_prefix(stream.to_string());
    let mut schedule = ArrivalSchedule::new(seed, args.mean_gap);
    let mut sessions = SessionGenerator::new(seed);
    let (mut usa, mut international) = (0u64, 0u64);
    let mut put_count = 0;
    // Sessions gathered for the next Kinesis record (one, unless --aggregate).
    let mut pending: Vec<(String, Vec<u8>)> = Vec::new();
    while args.count.is_none_or(|count| put_count < count) {
        if put_count > 0 {
            let gap = schedule.next_gap();
            progress.set_message(format!("(next in {:.1} s)", gap.as_secs_f64()));
            tokio::select! {
                _ = tokio::time::sleep(gap) => {}
                _ = &mut stop => break,
            }
        }
        let session = sessions.session();
        let id = session["session_id"]
            .as_str()
            .expect("generated sessions have an id")
            .to_owned();
        match Route::for_country(session["country"].as_str().unwrap_or_default()) {
            Route::Usa => usa += 1,
            Route::International => international += 1,
        }
        pending.push((id, serde_json::to_vec(&session)?));
        put_count += 1;
        let last = args.count.is_some_and(|count| put_count >= count);
        if pending.len() as u64 >= args.aggregate || last {
            let sent = pending.len() as u64;
            if !put_one(&clients, stream, &mut pending, &progress, &mut stop).await? {
                eprintln!("stopped with {sent} sessions not put");
                return Ok(ExitCode::SUCCESS);
            }
            progress.inc(sent);
        }
    }
    if !pending.is_empty() {
        // Stopped with sessions gathered for an aggregate: they go now, if the
        // stream takes them within a few seconds.
        let sent = pending.len() as u64;
        let mut deadline = std::pin::pin!(tokio::time::sleep(Duration::from_secs(5)));
        if put_one(&clients, stream, &mut pending, &progress, &mut deadline).await? {
            progress.inc(sent);
        } else {
            put_count -= sent;
            eprintln!("stopped with {sent} sessions not put");
        }
    }
    progress.finish_and_clear();
    let records = match args.aggregate {
        1 => String::new(),
        n => format!(", in KPL aggregates of up to {n}"),
    };
    eprintln!("put {put_count} sessions on {stream} ({usa} USA, {international} international{records})");
    Ok(ExitCode::SUCCESS)
}

/// Puts the gathered sessions as one Kinesis record (a KPL aggregate when there
/// are several, under the first one's partition key), retrying until it is
/// stored; false when stopped first.
async fn put_one(
    clients: &Clients,
    stream: &StreamName,
    pending: &mut Vec<(String, Vec<u8>)>,
    progress: &ProgressBar,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> anyhow::Result<bool> {
    let (key, data) = match pending.as_slice() {
        [(id, data)] => (id.clone(), data.clone()),
        records => (
            records[0].0.clone(),
            kpl::aggregate(records.iter().map(|(id, data)| (id.as_str(), data.as_slice()))),
        ),
    };
    let mut backoff = retry::backoff(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let request = clients
            .kinesis
            .put_record()
            .stream_name(stream.as_str())
            .partition_key(&key)
            .data(Blob::new(data.clone()));
        match request.send().await {
            Ok(_) => {
                pending.clear();
                return Ok(true);
            }
            // A missing stream will not appear by waiting.
            Err(err) if aws_error::is(&err, PutRecordError::is_resource_not_found_exception) => {
                progress.abandon();
                return Err(aws_error::put_record_failed(&err, stream, &clients.target).into());
            }
            Err(err) => {
                let wait = retry::next_wait(&mut backoff);
                progress.suspend(|| {
                    tracing::warn!(
                        "PutRecord failed, trying again in {wait:?}: {}",
                        aws_sdk_kinesis::error::DisplayErrorContext(&err)
                    )
                });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.as_mut() => {
                        progress.finish_and_clear();
                        return Ok(false);
                    }
                }
            }
        }
    }
}
