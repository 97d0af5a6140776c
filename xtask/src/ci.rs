//! `cargo xtask ci`: exactly what CI runs, `.ci/run`, from this checkout.

use xshell::{Shell, cmd};

/// Run what CI runs: formatting, lints, the tests, and the AWS CLI and boto3
/// against the emulator (.ci/run).
#[derive(Debug, clap::Args)]
pub struct Ci {}

impl Ci {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        // One script for CI and for people, so that they cannot drift apart.
        cmd!(sh, "bash .ci/run").run()?;
        Ok(())
    }
}
