//! `cargo xtask screenshots`: the guide's pictures of the console, taken by
//! the browser test that drives it (`tests/e2e/console.rs`), so that they
//! show what the test just checked.

use xshell::{Shell, cmd};

/// Refresh docs/src/screenshots/ from the console's browser test.
///
/// Needs chromium and chromedriver (apt-get install chromium chromium-driver).
#[derive(Debug, clap::Args)]
pub struct Screenshots {}

impl Screenshots {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        let dir = sh.current_dir().join("docs/src/screenshots");
        let _require = sh.push_env("LAB_BROWSER", "require");
        let _save = sh.push_env("LAB_SCREENSHOTS", &dir);
        cmd!(sh, "cargo test --test e2e -- console::").run()?;
        println!("screenshots in {}", dir.display());
        Ok(())
    }
}
