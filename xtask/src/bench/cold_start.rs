//! `cargo xtask bench cold-start`: what a new user waits for (issue 14). A
//! fresh clone of a commit, with nothing built, runs the README's first
//! command, `cargo build --workspace && cargo xtask lab part2 --fast`, and then
//! `cargo test --workspace --no-run`, the README's next one without running the
//! tests. Each command's wall time is printed with the number of units cargo
//! compiled for it, so that a dependency compiled twice shows.
//!
//! With `--against REV`, the same runs for another commit, after it, and the
//! ratio of the totals. Minutes, not seconds: only when named.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// The commands a new user runs first, in the order the README gives them.
const COMMANDS: [&[&str]; 3] = [
    &["build", "--workspace"],
    &["xtask", "lab", "part2", "--fast"],
    &["test", "--workspace", "--no-run"],
];

/// One command's wall time and how many units it compiled.
struct Step {
    took: Duration,
    compiled: usize,
}

/// Clones `rev` into a fresh directory and times the first commands there.
fn cold_start(sh: &Shell, rev: &str) -> anyhow::Result<Vec<Step>> {
    let root = sh.current_dir();
    let commit = cmd!(sh, "git rev-parse --short {rev}").read()?;
    let dir = sh.create_temp_dir()?;
    let clone = dir.path().join("kinesis-lab");
    cmd!(sh, "git clone --quiet --no-checkout {root} {clone}").run()?;
    cmd!(sh, "git -C {clone} checkout --quiet {commit}").run()?;
    println!("cold-start: {commit}, cloned into {}", clone.display());
    // The clone builds into its own target/, so nothing of ours is reused.
    let fingerprints = clone.join("target/debug/.fingerprint");
    let mut steps = Vec::new();
    for args in COMMANDS {
        let before = units(&fingerprints);
        let started = Instant::now();
        let output = Command::new("cargo")
            .args(args)
            .current_dir(&clone)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("KINESIS_LAB_BIN")
            .output()
            .context("cannot start cargo")?;
        let took = started.elapsed();
        if !output.status.success() {
            bail!(
                "`cargo {}` failed in the clone of {commit}:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let step = Step {
            took,
            compiled: units(&fingerprints) - before,
        };
        println!(
            "  cargo {:<28} {:>6.1} s, {:>3} units compiled",
            args.join(" "),
            step.took.as_secs_f64(),
            step.compiled
        );
        steps.push(step);
    }
    let total: Duration = steps.iter().map(|s| s.took).sum();
    println!("  total {:.1} s", total.as_secs_f64());
    Ok(steps)
}

/// Units cargo has compiled into a target directory: each crate, build
/// script and test binary, once per set of features, has a fingerprint of its
/// own, so a dependency compiled with new features adds one.
fn units(fingerprints: &Path) -> usize {
    std::fs::read_dir(fingerprints).map_or(0, |entries| entries.count())
}

pub fn run(sh: &Shell, against: Option<&str>) -> anyhow::Result<()> {
    println!(
        "cold-start: a fresh clone, nothing built: `cargo build --workspace`, `cargo xtask lab part2 --fast`, \
         then `cargo test --workspace --no-run`"
    );
    let head = cold_start(sh, "HEAD")?;
    if let Some(rev) = against {
        let other = cold_start(sh, rev)?;
        let total = |steps: &[Step]| steps.iter().map(|s| s.took.as_secs_f64()).sum::<f64>();
        println!("  HEAD over {rev}: {:.2}", total(&head) / total(&other));
    }
    Ok(())
}
