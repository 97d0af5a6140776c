//! `kinesis-lab generate`: the lab's hidden source producer, rebuilt. The
//! producer's loop is the library's ([`kinesis_lab::producer`]); this file prints
//! sessions, or runs the producer with a progress bar.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::TargetArgs;
use kinesis_lab::generator::SessionGenerator;
use kinesis_lab::hidden_producer::{self, ProducerOptions, Progress};
use kinesis_lab::stream_name::StreamName;

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

/// The producer (the library's), with a progress bar.
async fn put(args: &Args, stream: &StreamName, seed: u64) -> anyhow::Result<ExitCode> {
    let stop = super::stop_signal()?;
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
    let options = ProducerOptions {
        seed,
        count: args.count,
        mean_gap: args.mean_gap,
        aggregate: args.aggregate,
    };
    let produced = hidden_producer::produce(&clients, stream, options, stop, |event| match event {
        Progress::Waiting(gap) => progress.set_message(format!("(next in {:.1} s)", gap.as_secs_f64())),
        Progress::Put(put) => progress.set_position(put),
        Progress::Retrying { wait, error } => {
            progress.suspend(|| tracing::warn!("PutRecord failed, trying again in {wait:?}: {error}"))
        }
    })
    .await;
    let produced = match produced {
        Ok(produced) => produced,
        Err(err) => {
            progress.abandon();
            return Err(err.into());
        }
    };
    progress.finish_and_clear();
    if produced.not_put > 0 {
        eprintln!("stopped with {} sessions not put", produced.not_put);
    }
    let records = match args.aggregate {
        1 => String::new(),
        n => format!(", in KPL aggregates of up to {n}"),
    };
    eprintln!(
        "put {} sessions on {stream} ({} USA, {} international{records})",
        produced.put, produced.usa, produced.international
    );
    Ok(ExitCode::SUCCESS)
}
