//! `kinesis-lab verify`: check what Firehose delivered (the lab's last step).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value};

use super::NamesArgs;
use crate::target::TargetArgs;
use crate::verify;

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
        let started = Instant::now();
        let spinner = indicatif::ProgressBar::new_spinner();
        let report = loop {
            let (records, mut report) = verify::delivered(&clients, &names).await?;
            verify::check(&records, &mut report, expected.as_deref());
            let missing = report.expected.as_ref().map_or(0, |e| e.missing.len());
            match args.wait {
                Some(wait) if missing > 0 && started.elapsed() < wait => {
                    spinner.set_message(format!(
                        "waiting for Firehose: {missing} sessions not delivered yet"
                    ));
                    spinner.tick();
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                _ => break report,
            }
        };
        spinner.finish_and_clear();
        print!("{report}");
        if report.passed(args.allow_duplicates) {
            println!("verify: ok");
            Ok(ExitCode::SUCCESS)
        } else {
            println!("verify: FAILED");
            Ok(ExitCode::FAILURE)
        }
    })
}

fn read_expected(path: &std::path::Path) -> anyhow::Result<Vec<Map<String, Value>>> {
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
