//! `kinesis-lab infra`: the lab's part 2 infrastructure (steps 2.1.1 to 2.1.4).

use std::process::ExitCode;
use std::time::Duration;

use super::NamesArgs;
use indicatif::{ProgressBar, ProgressStyle};

use super::TargetArgs;
use kinesis_lab::infra::{self, InfraError, UpEvent, UpOptions};
use kinesis_lab::lab_names::DEFAULT_BUFFER_INTERVAL;
use kinesis_lab::target::Target;

/// Create, inspect or delete the lab's part 2 infrastructure (steps 2.1.1 to 2.1.4)
///
/// The resources have the lab's exact names and configuration: the source
/// stream de-c2w2lab1-kinesis-data-stream (4 shards), the USA and international
/// streams (2 shards each), the buckets de-c2w2lab1-<account>-usa and -int, and
/// the Firehose delivery streams de-c2w2lab1-firehose-usa and -international,
/// each delivering its stream to its bucket under firehose/ every 60 s or 1 MB.
/// The account id comes from STS (the emulator's is 000000000000).
///
/// up is idempotent: what exists is kept; it waits until everything is ACTIVE.
/// down deletes only resources with the lab's names, and with the streams the
/// ETL workers' lease table (de-c2w2lab1-etl-leases), whose checkpoints belong
/// to the source stream.
///
/// --name-suffix e2e-1 appends -e2e-1 to every name, for a second copy of the
/// lab beside the first (tests do that on a shared LocalStack).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,

    #[command(flatten)]
    pub names: NamesArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create what is missing and wait until it is ACTIVE.
    Up {
        /// Firehose's IntervalInSeconds: how long it buffers before writing (the lab's 60; 0 to 900).
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_BUFFER_INTERVAL,
              value_parser = clap::value_parser!(i32).range(0..=900))]
        buffer_interval: i32,

        /// Give up waiting for ACTIVE after this long.
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Delete the delivery streams, the streams, the ETL workers' lease table
    /// and the buckets.
    Down {
        /// Keep the buckets and what Firehose delivered to them.
        #[arg(long)]
        keep_buckets: bool,
    },
    /// Show what exists and in what state.
    Status,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let clients = args.target.target().connect().await?;
        let names = args.names.names(&clients.account_id().await?)?;
        match args.action {
            Action::Up { buffer_interval, timeout } => {
                // The spinner is the CLI's: one for each wait, cleared when the
                // wait is over, so that the lines `up` says print cleanly.
                let mut spinner: Option<ProgressBar> = None;
                let made = infra::up(&clients, &names, &UpOptions { buffer_interval, timeout }, |event| match event {
                    UpEvent::Said(line) => {
                        if let Some(spinner) = spinner.take() {
                            spinner.finish_and_clear();
                        }
                        eprintln!("{line}");
                    }
                    UpEvent::Waiting(what) => {
                        let spinner = spinner.get_or_insert_with(|| {
                            ProgressBar::new_spinner().with_style(
                                ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
                            )
                        });
                        spinner.set_message(what.to_owned());
                        spinner.tick();
                    }
                    UpEvent::Ready => {
                        if let Some(spinner) = spinner.take() {
                            spinner.finish_and_clear();
                        }
                    }
                })
                .await;
                if let Some(spinner) = spinner.take() {
                    // Failed while waiting: keep what it was waiting for on screen.
                    spinner.abandon();
                }
                made.map_err(|err| match err {
                    InfraError::TimedOut { .. } => anyhow::anyhow!("{err}; try `kinesis-lab infra status` later"),
                    err => err.into(),
                })?;
                print_status(&infra::status(&clients, &names).await?);
            }
            Action::Down { keep_buckets } => infra::down(&clients, &names, keep_buckets).await?,
            Action::Status => {
                let lines = infra::status(&clients, &names).await?;
                print_status(&lines);
                if clients.target == Target::Aws && lines.iter().any(|l| l.status != "missing") {
                    eprintln!("these resources cost money while they exist: `kinesis-lab infra down --aws` removes them");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_status(lines: &[infra::Status]) {
    let name_width = lines.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for line in lines {
        println!(
            "{:<8}  {:<name_width$}  {:<9}  {}",
            line.kind, line.name, line.status, line.detail
        );
    }
}
