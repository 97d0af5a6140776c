//! A Python venv with packages from PyPI, for the tests that run Python
//! programs: a learner's (boto3, and nbclient with ipykernel for the
//! notebook) and a KCL application's (kcl-rs and boto3).
//!
//! The venv is made on the first run (under `target/`, or where a variable
//! says), and from then on the tests run offline. Where none can be made (no
//! python3 with venv, no PyPI) each test passes and says, in the output a
//! person sees, that it did not check; `<VARIABLE>=require` (set by
//! `.ci/run`) makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::root;

/// One kind of venv, and how its tests speak of it.
pub struct PythonVenv {
    /// The test module, as its lines start: `learner`, `kcl`.
    pub area: &'static str,
    /// What a test says when it could not check: `LEARNER NOT CHECKED`.
    pub not_checked: &'static str,
    /// `require` in this variable makes a venv that cannot be made a failure.
    pub require: &'static str,
    /// A venv to use instead of `target/<dir>`.
    pub dir_variable: &'static str,
    pub dir: &'static str,
    /// What pip installs (a pinned version is `name==version`).
    pub packages: &'static [&'static str],
    /// Python that exits 0 when the venv holds what the tests need.
    pub ready: &'static str,
    /// The Python it needs, for the message: `python3`, `python3 (3.11 or later)`.
    pub python: &'static str,
    /// Made once per test process.
    pub made: &'static OnceLock<Result<PathBuf, String>>,
}

impl PythonVenv {
    /// Whether the venv must be there, from [`PythonVenv::require`].
    pub fn required(&self) -> bool {
        match std::env::var(self.require).as_deref() {
            Err(std::env::VarError::NotPresent) | Ok("") => false,
            Ok("require") => true,
            other => panic!(
                "{}={} is not understood: set it to `require` to fail when no Python venv with {} can be \
                 made, or leave it unset to say so and pass",
                self.require,
                other.map_or("(not UTF-8)", |value| value),
                self.packages.join(", ")
            ),
        }
    }

    /// Where the venv is: [`PythonVenv::dir_variable`], or `target/<dir>`.
    pub fn dir(&self) -> PathBuf {
        std::env::var_os(self.dir_variable)
            .map_or_else(|| root().join("target").join(self.dir), PathBuf::from)
    }

    /// The venv's Python, or `None` (said out loud) where none can be made
    /// and none is required.
    pub fn python(&self, test: &str) -> Option<PathBuf> {
        match self.made.get_or_init(|| self.make(&self.dir())) {
            Ok(python) => Some(python.clone()),
            Err(why) if !self.required() => {
                // Straight to the process's stderr: the harness keeps what
                // `eprintln!` prints to itself unless the test fails.
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}::{test}: {}: {why}. These tests need {} with its venv module, and PyPI once to \
                     install {} ({} names a venv that has them); {}=require makes this a failure.",
                    self.area,
                    self.not_checked,
                    self.python,
                    self.packages.join(", "),
                    self.dir_variable,
                    self.require,
                );
                None
            }
            Err(why) => panic!(
                "{why} ({}=require is set, so the {} tests must run)",
                self.require, self.area
            ),
        }
    }

    fn is_ready(&self, python: &Path) -> bool {
        Command::new(python)
            .args(["-c", self.ready])
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// The venv's Python, made with the packages unless it has them already.
    /// Made under another name and renamed, so that tests starting at once
    /// (nextest runs each in a process of its own) never use a half-made
    /// one; a failed attempt leaves nothing behind.
    fn make(&self, venv: &Path) -> Result<PathBuf, String> {
        let python = venv.join("bin/python");
        if self.is_ready(&python) {
            return Ok(python);
        }
        let making = venv.with_file_name(format!(
            "{}.{}",
            venv.file_name().and_then(|name| name.to_str()).unwrap_or("venv"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&making);
        let attempt = || -> Result<(), String> {
            match Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&making)
                .output()
            {
                Ok(out) if out.status.success() => {}
                Ok(out) => return Err(format!("`python3 -m venv` failed: {}", last_line(&out))),
                Err(err) => return Err(format!("cannot run python3: {err}")),
            }
            let pip = Command::new(making.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(self.packages)
                .output()
                .map_err(|err| format!("cannot run pip: {err}"))?;
            match pip.status.success() {
                true => Ok(()),
                false => Err(format!(
                    "cannot install {} from PyPI: {}",
                    self.packages.join(" "),
                    last_line(&pip)
                )),
            }
        };
        if let Err(why) = attempt() {
            let _ = std::fs::remove_dir_all(&making);
            return Err(why);
        }
        if std::fs::rename(&making, venv).is_err() {
            if !self.is_ready(&python) {
                // One made before the packages it needs now were added.
                let _ = std::fs::remove_dir_all(venv);
            }
            // Or another test process made it first.
            if std::fs::rename(&making, venv).is_err() {
                let _ = std::fs::remove_dir_all(&making);
            }
        }
        match self.is_ready(&python) {
            true => Ok(python),
            false => Err(format!(
                "{} has no {}",
                python.display(),
                self.packages.join(", ")
            )),
        }
    }
}

/// The last line a program wrote to standard error: why it failed.
pub fn last_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}
