//! The `kinesis-lab` command line: one file per command, each with the same shape,
//! an `Args` struct that clap fills and a `run` function that does the work.
//!
//! The binary (`src/main.rs`) only parses and dispatches; everything a command
//! does lives here, so that tests and `cargo xtask` can call it too.

pub mod emulator;
pub mod enrich;
pub mod generate;

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
}

/// Runs a parsed command line; the exit code is the command's verdict.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Enrich(args) => enrich::run(args),
        Command::Emulator(args) => emulator::run(args),
    }
}
