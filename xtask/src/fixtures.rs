//! `cargo xtask fixtures [--check]`: regenerate the files under `fixtures/`.
//!
//! What the files hold is defined in the library (`kinesis_lab::fixtures`), so the
//! task, the check and the tests can never disagree about it.

use anyhow::bail;
use xshell::Shell;

/// Regenerate the files under fixtures/ from their fixed seeds.
///
/// With --check, change nothing and fail when a committed file differs from a
/// fresh generation (CI runs this check as a test).
#[derive(Debug, clap::Args)]
pub struct Fixtures {
    /// Only check that the committed fixtures are up to date.
    #[arg(long)]
    check: bool,
}

impl Fixtures {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        let mut stale = Vec::new();
        for fixture in kinesis_lab::fixtures::all() {
            let path = sh.current_dir().join(fixture.path);
            let current = std::fs::read_to_string(&path).ok();
            if current.as_deref() == Some(fixture.contents.as_str()) {
                println!("{}: up to date", fixture.path);
            } else if self.check {
                stale.push(fixture.path);
            } else {
                sh.write_file(&path, &fixture.contents)?;
                println!("{}: written", fixture.path);
            }
        }
        if !stale.is_empty() {
            bail!(
                "out of date: {}\nRun `cargo xtask fixtures` and commit the result.",
                stale.join(", ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` fails when someone changes the generator but not the fixtures.
    #[test]
    fn committed_fixtures_are_up_to_date() {
        let sh = Shell::new().unwrap();
        sh.change_dir(crate::project_root());
        Fixtures { check: true }.run(&sh).unwrap();
    }
}
