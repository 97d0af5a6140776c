//! `cargo xtask lab`: the walkthrough from a clone. It builds `kinesis-lab`
//! and runs `kinesis-lab lab` with the same arguments, in its place: the
//! walkthrough itself lives in the library (`src/lab.rs`), so that anyone who
//! installed only the binary has it too.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;
use xshell::{Shell, cmd};

/// Walk through the lab: `kinesis-lab lab`, built first
/// (`cargo xtask lab --help` shows its help).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Lab {
    /// What `kinesis-lab lab` takes: part1, part2 or teardown, a step, flags.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Lab {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<ExitCode> {
        let root = sh.current_dir();
        let bin = kinesis_lab_binary(sh, &root, std::env::var_os("KINESIS_LAB_BIN").map(PathBuf::from))?;
        let mut lab = Command::new(&bin);
        lab.arg("lab").args(&self.args).current_dir(&root);
        run_in_our_place(lab).with_context(|| format!("cannot run {}", bin.display()))
    }
}

/// The walkthrough takes this process's place: Ctrl+C reaches it alone, as
/// if it had been started by hand, and its exit status is ours.
#[cfg(unix)]
fn run_in_our_place(mut command: Command) -> std::io::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    Err(command.exec())
}

#[cfg(not(unix))]
fn run_in_our_place(mut command: Command) -> std::io::Result<ExitCode> {
    let status = command.status()?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

/// The `kinesis-lab` binary the walkthrough runs: the one `KINESIS_LAB_BIN`
/// names, or else the debug build, built now.
///
/// The e2e tests name theirs. Building here while they run would re-link
/// `target/debug/kinesis-lab` under the tests that are executing it.
fn kinesis_lab_binary(sh: &Shell, root: &Path, named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(bin) = named {
        anyhow::ensure!(
            bin.is_file(),
            "KINESIS_LAB_BIN names {}, which is not a file; unset it to build the binary here",
            bin.display()
        );
        return Ok(bin);
    }
    cmd!(sh, "cargo build --quiet --bin kinesis-lab").run()?;
    Ok(crate::target_dir(root).join("debug/kinesis-lab"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // CI once failed because the learner tests' `cargo xtask lab` built
    // `kinesis-lab` again and re-linked it under the tests running it.
    #[test]
    fn a_named_binary_is_run_without_building_one() {
        // An empty directory: a build there would fail, as it has no Cargo.toml.
        let dir = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        sh.change_dir(dir.path());
        let bin = dir.path().join("kinesis-lab");
        std::fs::write(&bin, "").unwrap();
        assert_eq!(
            kinesis_lab_binary(&sh, dir.path(), Some(bin.clone())).unwrap(),
            bin
        );
    }

    #[test]
    fn a_named_binary_that_is_not_there_is_refused_by_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        let missing = dir.path().join("nothing-here");
        let err = kinesis_lab_binary(&sh, dir.path(), Some(missing.clone())).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("KINESIS_LAB_BIN"), "{message}");
        assert!(message.contains(&missing.display().to_string()), "{message}");
    }
}
