//! `kinesis-lab consume`: the lab's `consumer_from_cli.py` (step 1.3), without
//! its weaknesses.

use std::io::{self, Write};
use std::process::ExitCode;

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::TargetArgs;
use kinesis_lab::aws_error::AwsError;
use kinesis_lab::consumer::{ConsumeOptions, consume};
use kinesis_lab::shard_reader::{ReadError, ReadRecord, ShardReader};
use kinesis_lab::stream_name::StreamName;

/// Read every shard of a stream and print each record (lab step 1.3).
///
/// Like the lab's consumer_from_cli.py it reads all shards from the oldest
/// record and keeps waiting for new ones. Unlike it, it follows the shards a
/// reshard creates (parents first, then their children), renews iterators that
/// expire, stays within Kinesis's 5 reads per second per shard, and stops
/// cleanly on Ctrl+C with a summary.
///
/// Each record is printed with its shard, sequence number and partition key,
/// and its data, indented when it is JSON.
///
/// Examples:
///   kinesis-lab consume --stream de-c2w2lab1-kinesis-data-stream-cli
///   kinesis-lab consume --stream de-c2w2lab1-usa-data-stream --from latest
///   kinesis-lab consume --stream s --from 2026-11-22T17:00:00Z --no-follow --output json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The stream to read.
    #[arg(long, value_name = "NAME")]
    pub stream: StreamName,

    /// Where to start: trim-horizon (the oldest record), latest (only new ones),
    /// or a time in RFC 3339 (the first record at or after it, e.g. 2026-11-22T17:00:00Z).
    #[arg(long, value_name = "WHERE", default_value = "trim-horizon")]
    pub from: super::StartFrom,

    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Stop once every shard has been read to its end, instead of waiting for more.
    #[arg(long)]
    pub no_follow: bool,

    /// How to print records: text for people, json for one JSON object per line.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,

    #[command(flatten)]
    pub target: TargetArgs,
}

pub use super::Output;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = args.from.0;
    super::runtime()?.block_on(async {
        let stop = super::stop_signal()?;
        let clients = args.target.target().connect().await?;
        let reader = ShardReader::open(clients.kinesis.clone(), args.stream.as_str(), start, None).await;
        let mut reader = reader.map_err(|err| match err {
            ReadError::StreamNotFound(_) => AwsError::stream_missing(&args.stream, &clients.target).into(),
            other => anyhow::Error::from(other),
        })?;
        let options = ConsumeOptions {
            limit: args.limit,
            to_the_end: args.no_follow,
        };
        let consumed = consume(&mut reader, options, stop, |record| {
            print_record(record, args.output)
        })
        .await?;
        eprintln!(
            "read {} records from {} shards",
            consumed.records,
            consumed.shards.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn print_record(record: &ReadRecord, output: Output) -> io::Result<()> {
    let parsed: Option<Value> = serde_json::from_slice(&record.data).ok();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Text => {
            writeln!(
                out,
                "{}  {}  {}",
                record.shard_id, record.sequence_number, record.partition_key
            )?;
            match &parsed {
                Some(value) => writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(value).map_err(io::Error::other)?
                )?,
                None => writeln!(out, "{}", String::from_utf8_lossy(&record.data))?,
            }
        }
        Output::Json => {
            let data =
                parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&record.data).into_owned()));
            let line = json!({
                "shard_id": record.shard_id,
                "sequence_number": record.sequence_number,
                "partition_key": record.partition_key,
                "arrival": record.arrival.map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                "data": data,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
