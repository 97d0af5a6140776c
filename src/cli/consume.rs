//! `kinesis-lab consume`: the lab's `consumer_from_cli.py` (step 1.3), without
//! its weaknesses.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use crate::aws_error::AwsError;
use crate::consumer::{ConsumeOptions, consume};
use crate::shard_reader::{ReadError, ReadRecord, ShardReader, StartingPosition};
use crate::stream_name::StreamName;
use crate::target::TargetArgs;

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
///   kinesis-lab consume --stream s --from at-timestamp 2026-11-22T17:00:00Z --no-follow --output json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The stream to read.
    #[arg(long, value_name = "NAME")]
    pub stream: StreamName,

    /// Where to start: trim-horizon (the oldest record), latest (only new ones),
    /// or at-timestamp TS (RFC 3339, e.g. 2026-11-22T17:00:00Z).
    #[arg(long, num_args = 1..=2, value_names = ["POSITION", "TS"], default_values = ["trim-horizon"])]
    pub from: Vec<String>,

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
    let start = starting_position(&args.from)?;
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

fn starting_position(from: &[String]) -> anyhow::Result<StartingPosition> {
    match from {
        [position] if position == "trim-horizon" => Ok(StartingPosition::TrimHorizon),
        [position] if position == "latest" => Ok(StartingPosition::Latest),
        [position, timestamp] if position == "at-timestamp" => {
            let at = DateTime::parse_from_rfc3339(timestamp).map_err(|err| {
                anyhow::anyhow!("--from at-timestamp {timestamp:?}: {err}\nGive the time in RFC 3339, e.g. 2026-11-22T17:00:00Z")
            })?;
            Ok(StartingPosition::AtTimestamp(at.to_utc()))
        }
        [position] if position == "at-timestamp" => {
            bail!("--from at-timestamp needs a time after it, e.g. --from at-timestamp 2026-11-22T17:00:00Z")
        }
        [position, _] if position == "trim-horizon" || position == "latest" => {
            bail!("--from {position} takes no time; only at-timestamp does")
        }
        other => bail!(
            "unknown --from {:?}; use trim-horizon, latest or at-timestamp TS",
            other.join(" ")
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_positions() {
        let from =
            |words: &[&str]| starting_position(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(from(&["trim-horizon"]).unwrap(), StartingPosition::TrimHorizon);
        assert_eq!(from(&["latest"]).unwrap(), StartingPosition::Latest);
        let at = from(&["at-timestamp", "2026-11-22T17:00:00+01:00"]).unwrap();
        assert_eq!(
            at,
            StartingPosition::AtTimestamp("2026-11-22T16:00:00Z".parse().unwrap())
        );
        assert!(
            from(&["at-timestamp"])
                .unwrap_err()
                .to_string()
                .contains("needs a time after it")
        );
        assert!(
            from(&["at-timestamp", "yesterday"])
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
        assert!(
            from(&["latest", "x"])
                .unwrap_err()
                .to_string()
                .contains("takes no time")
        );
        assert!(
            from(&["oldest"])
                .unwrap_err()
                .to_string()
                .contains("unknown --from")
        );
    }
}
