//! `cargo xtask`: the project's own tasks, written in Rust so they run wherever
//! cargo does. One file per task; each is a clap struct with a `run` method.
//!
//! Run `cargo xtask` with no arguments for the list.

mod bench;
mod ci;
mod compat;
mod fixtures;
mod lab;
mod localstack;
mod screenshots;
mod snapshots;
mod soak;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use xshell::Shell;

/// Tasks for working on kinesis-lab.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", arg_required_else_help = true)]
enum Task {
    Lab(lab::Lab),
    Fixtures(fixtures::Fixtures),
    Snapshots(snapshots::Snapshots),
    Bench(bench::Bench),
    Compat(compat::Compat),
    Localstack(localstack::Localstack),
    Ci(ci::Ci),
    Screenshots(screenshots::Screenshots),
}

fn main() -> anyhow::Result<ExitCode> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match Task::parse() {
        // The walkthrough's exit code is its verdict: a grade that fails.
        Task::Lab(task) => task.run(&sh),
        Task::Fixtures(task) => done(task.run(&sh)),
        Task::Snapshots(task) => done(task.run(&sh)),
        Task::Bench(task) => done(task.run(&sh)),
        Task::Compat(task) => done(task.run(&sh)),
        Task::Localstack(task) => done(task.run(&sh)),
        Task::Ci(task) => done(task.run(&sh)),
        Task::Screenshots(task) => done(task.run(&sh)),
    }
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when it is set (a
/// clone sharing another's builds, say), else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The workspace root, whatever directory `cargo xtask` was started from.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace root")
        .to_path_buf()
}
