//! `cargo xtask snapshots [--accept]`: rerun the insta snapshot tests.
//!
//! With `cargo-insta` installed, this is `cargo insta test --review` (or
//! `--accept`). Without it, the tests run with insta writing `.snap.new` files
//! next to the snapshots that changed, and the task lists them.

use anyhow::bail;
use xshell::{Shell, cmd};

/// Rerun the snapshot tests and review or accept what changed.
///
/// Snapshots lock down the enriched records (tests/e2e/snapshots/). After a
/// deliberate change, run this to see the differences and accept them.
#[derive(Debug, clap::Args)]
pub struct Snapshots {
    /// Accept every changed snapshot without reviewing.
    #[arg(long)]
    accept: bool,
}

impl Snapshots {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        let has_cargo_insta = cmd!(sh, "cargo insta --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok();
        if has_cargo_insta {
            let mode = if self.accept { "--accept" } else { "--review" };
            cmd!(sh, "cargo insta test --workspace {mode}").run()?;
            return Ok(());
        }

        let update = if self.accept { "always" } else { "new" };
        cmd!(sh, "cargo test --workspace")
            .env("INSTA_UPDATE", update)
            .env("INSTA_FORCE_PASS", "1")
            .run()?;
        if self.accept {
            return Ok(());
        }
        let pending = pending_snapshots(&sh.current_dir().join("tests"))?;
        if pending.is_empty() {
            println!("every snapshot matches");
            return Ok(());
        }
        for new in &pending {
            // insta's own diff went to the captured output of a passing test, so
            // show the difference here.
            let old = new.with_extension("");
            cmd!(sh, "git --no-pager diff --no-index {old} {new}")
                .ignore_status()
                .run()?;
        }
        bail!(
            "{} snapshot(s) changed; the differences are above.\n\
             Accept them with `cargo xtask snapshots --accept`, or review them one by one \
             with `cargo install cargo-insta` and then `cargo xtask snapshots`.",
            pending.len()
        )
    }
}

fn pending_snapshots(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(pending_snapshots(&path)?);
        } else if path.extension().is_some_and(|ext| ext == "new") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
