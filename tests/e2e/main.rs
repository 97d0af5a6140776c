//! End-to-end tests: the `kinesis-lab` binary run as a learner runs it.
//!
//! One test binary, one module per area. Each test states what it demonstrates.
//!
//! Tests that talk to AWS take their target from `target.rs`: an in-process
//! emulator of their own by default, or the endpoint in `LAB_E2E_ENDPOINT`
//! (LocalStack), which they share, each with resource names of its own. That
//! covers the lab itself (`lab.rs`, `verify.rs`), the shard reader and the ETL.
//! A few tests need an emulator setting no other target has (one-second
//! iterator lifetimes, AWS's write limits, another account id, the lab's exact
//! names on an empty target), so they always start an emulator of their own.
//! The tests on the shared endpoint are listed in `shared-endpoint-tests.txt`
//! (kept true by checks in `target.rs`): `.ci/run` runs only those there.

mod conformance;
mod console;
mod emulator;
mod enrichment;
mod etl;
mod kcl;
mod lab;
mod learner;
mod offline;
mod programs;
mod target;
mod venv;
mod verify;
mod walkthrough;
mod workers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

/// Ctrl+C, as a learner stops a program that runs until stopped.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -INT {}", child.id());
}

pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
