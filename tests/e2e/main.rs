//! End-to-end tests: the `kinesis-lab` binary run as a learner runs it.
//!
//! One test binary, one module per area. Each test states what it demonstrates.
//!
//! The lab itself (`lab.rs`, `verify.rs`) runs on the target `target.rs`
//! picks: an in-process emulator of its own by default, or LocalStack with
//! `LAB_E2E_ENDPOINT=http://localhost:4566`. The other modules test parts the
//! lab is made of (the shard reader, the ETL under throttling and restarts, the
//! emulator's command) with emulator settings no other target has, such as
//! one-second iterator lifetimes or AWS's write limits, so they always start
//! an emulator of their own.

mod conformance;
mod emulator;
mod enrichment;
mod etl;
mod lab;
mod offline;
mod programs;
mod target;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root, where `fixtures/` and `data/` live.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `kinesis-lab` with `args`, feeding it `stdin`.
pub fn kinesis_lab(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kinesis-lab starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // Written from a thread: a large input would otherwise fill the pipe while the
    // child waits for us to read its output.
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().expect("stdin written");
    output
}

pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
