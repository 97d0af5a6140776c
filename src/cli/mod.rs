//! The `kinesis-lab` command line: one file per command, each with the same shape,
//! an `Args` struct that clap fills and a `run` function that opens what the
//! command needs, calls the library's loop and prints what it found.
//!
//! This is the binary's own module: clap stays out of the library
//! (`kinesis_lab`), whose programs any crate can call without it.

pub mod consume;
pub mod emulator;
pub mod enrich;
pub mod etl;
pub mod generate;
pub mod grade;
pub mod health;
pub mod infra;
pub mod lab;
pub mod produce;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use kinesis_lab::shard_reader::StartingPosition;
use kinesis_lab::target::Target;

/// The programs of the "Streaming Ingestion" lab on Amazon Kinesis
///
/// The lab sends user sessions of a web shop through Kinesis Data Streams: a
/// producer puts them on a stream, an ETL enriches each one and routes it to a USA
/// or an international stream, and Kinesis Firehose delivers those to S3. Each
/// subcommand is one of the lab's programs.
#[derive(Debug, Parser)]
#[command(name = "kinesis-lab", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Generate(generate::Args),
    Enrich(enrich::Args),
    Emulator(emulator::Args),
    Produce(produce::Args),
    Consume(consume::Args),
    Infra(infra::Args),
    Etl(etl::Args),
    Verify(verify::Args),
    Grade(grade::Args),
    Lab(lab::Args),
    Health(health::Args),
}

/// Where a reader starts in a shard: `--from` of `consume` (step 1.3) and of
/// `etl` (step 2.2), one type for both, with every position Kinesis offers.
///
/// `trim-horizon` (the oldest record still in the stream, as the lab reads),
/// `latest` (only records put from now on), or a time in RFC 3339 (the first
/// record that arrived at or after it, to the millisecond: AT_TIMESTAMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartFrom(pub StartingPosition);

impl std::str::FromStr for StartFrom {
    type Err = String;

    fn from_str(text: &str) -> Result<StartFrom, String> {
        match text {
            "trim-horizon" => Ok(StartFrom(StartingPosition::TrimHorizon)),
            "latest" => Ok(StartFrom(StartingPosition::Latest)),
            "at-timestamp" => Err(
                "give the time itself, in RFC 3339: --from 2026-11-22T17:00:00Z starts at the first \
                 record that arrived at or after it"
                    .to_owned(),
            ),
            time => match chrono::DateTime::parse_from_rfc3339(time) {
                Ok(at) => Ok(StartFrom(StartingPosition::AtTimestamp(at.to_utc()))),
                // A time with its date and hour is meant as one.
                Err(err) if time.contains('T') || time.contains(':') => Err(format!(
                    "{time:?} is not a time in RFC 3339 ({err}); write it as 2026-11-22T17:00:00Z"
                )),
                Err(_) => Err(format!(
                    "unknown position {time:?}: use trim-horizon (the oldest record), latest (only new \
                     ones), or a time in RFC 3339 such as 2026-11-22T17:00:00Z"
                )),
            },
        }
    }
}

/// How a command prints what it found: text for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Runs a parsed command line; the exit code is the command's verdict.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Enrich(args) => enrich::run(args),
        Command::Emulator(args) => emulator::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Infra(args) => infra::run(args),
        Command::Etl(args) => etl::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Grade(args) => grade::run(args),
        Command::Lab(args) => lab::run(args),
        Command::Health(args) => health::run(args),
    }
}

/// The target flags, shared by every command that talks to AWS.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Send requests to this endpoint (LocalStack, or an emulator on another
    /// port) instead of the embedded emulator at http://127.0.0.1:4566.
    /// Also read from AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL", conflicts_with = "aws", global = true)]
    pub endpoint_url: Option<String>,

    /// Use real AWS, with your credentials (AWS_PROFILE, AWS_REGION, ...).
    /// This creates resources that cost money.
    #[arg(long, global = true)]
    pub aws: bool,
}

impl TargetArgs {
    /// The target these flags name ([`Target::from_flags`]).
    pub fn target(&self) -> Target {
        Target::from_flags(self.endpoint_url.as_deref(), self.aws)
    }
}

/// Which copy of the lab's part 2 resources a command works on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NamesArgs {
    /// Append -SUFFIX to the name of every part 2 resource (streams, buckets,
    /// Firehose delivery streams), so that several copies of the lab can share
    /// one target. Without it, the lab's exact names.
    #[arg(long, value_name = "SUFFIX", env = "KINESIS_LAB_NAME_SUFFIX", global = true,
          value_parser = kinesis_lab::lab_names::check_suffix)]
    pub name_suffix: Option<String>,
}

impl NamesArgs {
    pub fn names(&self, account: &str) -> anyhow::Result<kinesis_lab::lab_names::LabNames> {
        match &self.name_suffix {
            Some(suffix) => Ok(kinesis_lab::lab_names::LabNames::with_suffix(account, suffix)?),
            None => Ok(kinesis_lab::lab_names::LabNames::new(account)),
        }
    }
}

/// The async runtime the AWS commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// Resolves on Ctrl+C (SIGINT) or SIGTERM. The handlers are installed when this
/// is called, not when the future is first awaited, so a signal that comes
/// right after a command says it is ready is not lost.
#[cfg(unix)]
pub(crate) fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl+C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
pub(crate) fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_from_takes_every_position_kinesis_offers() {
        let from = |text: &str| text.parse::<StartFrom>().map(|from| from.0);
        assert_eq!(from("trim-horizon"), Ok(StartingPosition::TrimHorizon));
        assert_eq!(from("latest"), Ok(StartingPosition::Latest));
        assert_eq!(
            from("2026-11-22T17:00:00+01:00"),
            Ok(StartingPosition::AtTimestamp(
                "2026-11-22T16:00:00Z".parse().unwrap()
            ))
        );
        assert!(from("at-timestamp").unwrap_err().contains("give the time itself"));
        assert!(
            from("2026-11-22 17:00")
                .unwrap_err()
                .contains("not a time in RFC 3339")
        );
        assert!(
            from("oldest")
                .unwrap_err()
                .contains("unknown position \"oldest\"")
        );
    }

    /// `consume` and `etl` take `--from` alike (they once parsed it two ways,
    /// and the ETL's had no time).
    #[test]
    fn consume_and_etl_take_the_same_from() {
        for command in [["consume", "--stream", "s"].as_slice(), ["etl"].as_slice()] {
            let mut args = vec!["kinesis-lab"];
            args.extend(command);
            args.extend(["--from", "2026-11-22T17:00:00Z"]);
            let cli = Cli::try_parse_from(&args).unwrap_or_else(|err| panic!("{args:?}: {err}"));
            let from = match cli.command {
                Command::Consume(args) => args.from,
                Command::Etl(args) => args.from,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                from.0,
                StartingPosition::AtTimestamp("2026-11-22T17:00:00Z".parse().unwrap())
            );
        }
    }
}
