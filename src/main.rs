//! The `kinesis-lab` binary: parse the command line, run the command, turn its
//! outcome into an exit status. Everything else lives in the library.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

mod cli;

use cli::Cli;

/// The emulator's puts and reads build and drop a tree of small allocations
/// per record (JSON values, keys, base64 strings), many threads at once. With
/// glibc's allocator, half of the emulator's CPU time under `cargo xtask
/// bench workers` went to malloc and free (`_int_malloc`,
/// `malloc_consolidate`, `unlink_chunk`); mimalloc keeps such churn cheap,
/// and builds from source (C) on every target the binary is released for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Progress and diagnostics go to stderr; RUST_LOG=debug shows more. The
    // walkthrough's own emulator logs only warnings: its deliveries would
    // bury the transcript, whose steps say what happened.
    let default_filter = match cli.command {
        cli::Command::Lab(_) => "warn",
        _ => "warn,emulator=info,kinesis_lab=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(io::stderr)
        // Colours for a terminal only: a log file or a pipe gets plain text.
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
    match cli::run(cli) {
        Ok(code) => code,
        // `kinesis-lab generate | head` closes the pipe early on purpose: that is
        // the reader saying it has enough, not an error to report.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kinesis-lab: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        // serde_json wraps the I/O errors of its writer in its own error type.
        let kind = match (
            cause.downcast_ref::<io::Error>(),
            cause.downcast_ref::<serde_json::Error>(),
        ) {
            (Some(io), _) => Some(io.kind()),
            (None, Some(json)) => json.io_error_kind(),
            (None, None) => None,
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}
