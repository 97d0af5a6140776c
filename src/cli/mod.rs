//! The `kinesis-lab` command line: one file per command, each with the same shape,
//! an `Args` struct that clap fills and a `run` function that does the work.
//!
//! The binary (`src/main.rs`) only parses and dispatches; everything a command
//! does lives here, so that tests and `cargo xtask` can call it too.

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

/// Which copy of the lab's part 2 resources a command works on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NamesArgs {
    /// Append -SUFFIX to the name of every part 2 resource (streams, buckets,
    /// Firehose delivery streams), so that several copies of the lab can share
    /// one target. Without it, the lab's exact names.
    #[arg(long, value_name = "SUFFIX", env = "KINESIS_LAB_NAME_SUFFIX", global = true,
          value_parser = crate::lab_names::check_suffix)]
    pub name_suffix: Option<String>,
}

impl NamesArgs {
    pub fn names(&self, account: &str) -> anyhow::Result<crate::lab_names::LabNames> {
        match &self.name_suffix {
            Some(suffix) => Ok(crate::lab_names::LabNames::with_suffix(account, suffix)?),
            None => Ok(crate::lab_names::LabNames::new(account)),
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
