//! `kinesis-lab grade`: grade what an ETL wrote, lab step by lab step
//! (steps 2.2.3 to 2.2.8), for a learner checking their own solution.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::TargetArgs;
use super::{NamesArgs, Output};
use kinesis_lab::grade::failed_steps;
use kinesis_lab::grade::part2::{self, Found, Grade};
use kinesis_lab::shard_reader::{ShardReader, StartingPosition};
use kinesis_lab::target::Clients;
use kinesis_lab::verify;
use kinesis_lab::wait::{Look, Patience};

/// Grade an ETL's work, one line per lab step, from the sessions it was sent
///
/// Reads both destination streams from their oldest record and grades every
/// session of --expect found there: processing_timestamp (2.2.3), the three
/// totals (2.2.5 to 2.2.7), the route (2.2.8), the producer's keys unchanged,
/// every session arrived. Then grades what Firehose delivered to the buckets the
/// same way, waiting up to --wait for it. Each failed step shows the first
/// session that fails it, what the lab expects and what was found. Exits 0 when
/// every step passes, 1 otherwise.
///
/// Example, after your ETL ran on the sessions of sessions.jsonl:
///   kinesis-lab grade --expect sessions.jsonl --wait 2m
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The sessions the ETL was sent, one JSON object a line (as `kinesis-lab generate` prints them).
    #[arg(long, value_name = "FILE")]
    pub expect: PathBuf,

    /// How long to wait for Firehose to deliver what the streams hold.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub wait: Duration,

    /// Grade the destination streams only, not what Firehose delivered.
    #[arg(long)]
    pub streams_only: bool,

    /// text for people, json for one JSON object with every grade.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,

    #[command(flatten)]
    pub names: NamesArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sent = super::verify::read_expected(&args.expect)?;
    super::runtime()?.block_on(async {
        let clients = args.target.target().connect().await?;
        let names = args.names.names(&clients.account_id().await?)?;
        let streams = grade_streams(&clients, &names, &sent).await?;
        let in_streams = arrived(&streams);
        let mut grades = vec![streams];
        if !args.streams_only {
            grades.push(grade_buckets(&clients, &names, &sent, in_streams, args.wait).await?);
        }
        let passed = grades.iter().all(|grade| grade.passed);
        match args.output {
            Output::Json => println!("{}", json!({"grades": grades, "passed": passed})),
            Output::Text => {
                for grade in &grades {
                    println!("{grade}");
                }
                let failed = failed_steps(grades.iter().flat_map(|grade| &grade.steps));
                match passed {
                    true => println!("grade: every step passes"),
                    false => println!("grade: FAILED ({})", failed.join(", ")),
                }
            }
        }
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Everything in both destination streams, graded.
async fn grade_streams(
    clients: &Clients,
    names: &kinesis_lab::lab_names::LabNames,
    sent: &[serde_json::Map<String, serde_json::Value>],
) -> anyhow::Result<Grade> {
    let mut found = Vec::new();
    let destinations = names.destinations();
    for route in kinesis_lab::routing::Route::ALL {
        let stream = destinations.stream_for(route);
        let mut reader = ShardReader::open(
            clients.kinesis.clone(),
            stream.as_str(),
            StartingPosition::TrimHorizon,
            None,
        )
        .await?;
        for record in reader.read_to_end().await? {
            found.push(Found {
                route,
                data: record.data,
            });
        }
    }
    Ok(part2::grade("destination streams", sent, &found))
}

/// How many of the sessions sent a grade found.
fn arrived(grade: &Grade) -> usize {
    grade
        .steps
        .iter()
        .find(|step| step.step == "arrival")
        .map_or(0, |step| step.checked - step.failed)
}

/// What Firehose delivered, graded once it holds as many of the sessions
/// sent as the streams do (Firehose cannot deliver what never reached them),
/// or `wait` has passed.
async fn grade_buckets(
    clients: &Clients,
    names: &kinesis_lab::lab_names::LabNames,
    sent: &[serde_json::Map<String, serde_json::Value>],
    in_streams: usize,
    wait: Duration,
) -> anyhow::Result<Grade> {
    let spinner = indicatif::ProgressBar::new_spinner();
    let look = || async {
        let (records, _) = verify::delivered(clients, names).await?;
        let found: Vec<Found> = records
            .into_iter()
            .map(|delivered| Found {
                route: delivered.route,
                data: serde_json::to_vec(&delivered.record).unwrap_or_default(),
            })
            .collect();
        let grade = part2::grade("S3 buckets", sent, &found);
        let missing = in_streams.saturating_sub(arrived(&grade));
        anyhow::Ok(if missing == 0 {
            Look::Ready(grade)
        } else {
            Look::NotYet((grade, missing))
        })
    };
    let show = |(_, missing): &(Grade, usize)| {
        spinner.set_message(format!(
            "waiting for Firehose: {missing} sessions not delivered yet"
        ));
        spinner.tick();
    };
    let waited = Patience::new(wait, Duration::from_secs(1))
        .wait_showing(look, show)
        .await?;
    spinner.finish_and_clear();
    // Out of patience, the grade says what is missing.
    Ok(waited.unwrap_or_else(|(grade, _)| grade))
}
