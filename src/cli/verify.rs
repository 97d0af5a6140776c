//! `kinesis-lab verify`: check what Firehose delivered (the lab's last step).

use std::cell::Cell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value};

use super::NamesArgs;
use super::TargetArgs;
use kinesis_lab::wait::{Look, Patience};
use kinesis_lab::{infra, verify};

/// Check what Firehose delivered to the lab's buckets, record by record
///
/// Reads every object under firehose/ in de-c2w2lab1-<account>-usa and -int,
/// splits them into records (Firehose concatenates them with no delimiter),
/// and checks that each is a session enriched as the lab enriches it, in the
/// bucket of its route. With --expect, each session of the file (JSON lines, as
/// `kinesis-lab generate` prints them) must have arrived exactly once and
/// unchanged. Prints a report; exits 1 on any mismatch.
///
/// Firehose delivers every 60 s (the lab's interval): use --wait to keep looking
/// until every expected session is there.
///
/// Example:
///   kinesis-lab generate --count 30 --seed 7 > sessions.jsonl
///   kinesis-lab verify --expect sessions.jsonl --wait 2m
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Sessions that must have been delivered, one JSON object a line.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,

    /// With --expect: look again every 2 s, for up to this long, until every expected session is there.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,

    /// Do not fail when a session arrived more than once (delivery is at least once).
    #[arg(long)]
    pub allow_duplicates: bool,

    /// text for people, json for one JSON object with the whole report.
    #[arg(long, value_enum, default_value = "text")]
    pub output: super::Output,

    #[command(flatten)]
    pub names: NamesArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let expected = args.expect.as_ref().map(|path| read_expected(path)).transpose()?;
    super::runtime()?.block_on(async {
        let clients = args.target.target().connect().await?;
        let names = args.names.names(&clients.account_id().await?)?;
        // Firehose writes when its buffer's interval has passed: count down to
        // the next write from the last one seen (or from the start).
        let interval = match args.wait {
            Some(_) => infra::buffer_interval(&clients, &names.routes()[0].firehose).await,
            None => None,
        };
        let last_write = Cell::new(Instant::now());
        let delivered = Cell::new(None);
        let spinner = indicatif::ProgressBar::new_spinner();
        let look = || async {
            let (records, mut report) = verify::delivered(&clients, &names).await?;
            if delivered.get().is_some_and(|before| before != records.len()) {
                last_write.set(Instant::now());
            }
            delivered.set(Some(records.len()));
            verify::check(&records, &mut report, expected.as_deref());
            let missing = report.expected.as_ref().map_or(0, |e| e.missing.len());
            anyhow::Ok(match missing {
                0 => Look::Ready(report),
                missing => Look::NotYet((report, missing)),
            })
        };
        let show = |(_, missing): &(verify::Report, usize)| {
            spinner.set_message(waiting_message(*missing, interval, last_write.get().elapsed()));
            spinner.tick();
        };
        // Without --wait, one look.
        let patience = Patience::new(args.wait.unwrap_or_default(), Duration::from_secs(2));
        let (Ok(report) | Err((report, _))) = patience.wait_showing(look, show).await?;
        spinner.finish_and_clear();
        let passed = report.passed(args.allow_duplicates);
        match args.output {
            super::Output::Json => println!("{}", report.to_json(passed)),
            super::Output::Text => {
                print!("{report}");
                println!("verify: {}", if passed { "ok" } else { "FAILED" });
            }
        }
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

pub(crate) fn read_expected(path: &std::path::Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| match serde_json::from_str(line) {
            Ok(Value::Object(session)) => Ok(session),
            Ok(_) => anyhow::bail!("{}:{}: not a JSON object", path.display(), index + 1),
            Err(err) => anyhow::bail!("{}:{}: not JSON: {err}", path.display(), index + 1),
        })
        .collect()
}

/// What `--wait` shows while Firehose buffers.
fn waiting_message(missing: usize, interval: Option<i32>, since_write: Duration) -> String {
    match interval {
        Some(interval) => {
            let left = u64::try_from(interval)
                .unwrap_or(0)
                .saturating_sub(since_write.as_secs());
            format!(
                "waiting for Firehose: {missing} sessions not delivered yet; it writes every {interval} s, \
                 next write due in {left} s"
            )
        }
        None => format!("waiting for Firehose: {missing} sessions not delivered yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_counts_down_to_the_next_write() {
        let message = waiting_message(12, Some(60), Duration::from_millis(18_400));
        assert_eq!(
            message,
            "waiting for Firehose: 12 sessions not delivered yet; it writes every 60 s, next write due in 42 s"
        );
        assert!(waiting_message(1, Some(60), Duration::from_secs(75)).ends_with("due in 0 s"));
        assert_eq!(
            waiting_message(3, None, Duration::ZERO),
            "waiting for Firehose: 3 sessions not delivered yet"
        );
    }
}
