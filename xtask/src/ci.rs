//! `cargo xtask ci`: exactly what CI runs, `.ci/run`, from this checkout.

use xshell::{Shell, cmd};

/// Run what CI runs (.ci/run): formatting, lints, the tests, the walkthrough,
/// and the AWS CLI and boto3 against the emulator.
#[derive(Debug, clap::Args)]
pub struct Ci {}

impl Ci {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        // One script for CI and for people, so that they cannot drift apart.
        cmd!(sh, "bash .ci/run").run()?;
        Ok(())
    }
}
