//! The lab, step by step, as a learner runs it: `kinesis-lab lab part1 |
//! part2 | teardown`, or one step alone (`cargo xtask lab` is the same door,
//! built from a clone first).
//!
//! Each step says which step of the lab it is and what it is about to do, then
//! runs the `kinesis-lab` command a learner would type (shown after a `$`), so
//! that the walkthrough doubles as a transcript to copy from. The commands are
//! those of the very `kinesis-lab` that runs the walkthrough: installed with
//! pip, from a release or built from a clone, it needs nothing else.
//!
//! - [`part1`]: steps 1.1 to 1.5, a stream, the consumer and the producer.
//! - [`part2`]: steps 2.1 to 2.3, the ETL and Firehose, and the summary.
//! - [`learner`]: both parts with a learner's own programs, graded.
//! - [`notebook`]: part 2.1 with a learner's own notebook, graded.
//! - [`teardown`]: everything both parts made, deleted.
//! - `supervise`: the programs that run beside the walkthrough.
//! - `etl_lines`: the ETL's events, as a person reads them.
//! - `narrate`: where the walkthrough's lines go.
//!
//! When nothing answers at the emulator's address and no other target is
//! given, an emulator runs inside the walkthrough for as long as it takes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::aws_error::AwsError;
use crate::infra::InfraError;
use crate::shard_reader::ReadError;
use crate::target::{Target, TargetError};

mod etl_lines;
pub mod learner;
mod narrate;
pub mod notebook;
pub mod part1;
pub mod part2;
mod supervise;
pub mod teardown;

use narrate::{Narration, shown};
use supervise::{Background, Render};

/// The lab's example record (`data/example_record.json`), which step 1.4
/// puts: part of the binary, so that the walkthrough runs anywhere.
pub const EXAMPLE_RECORD: &str = include_str!("../data/example_record.json");

/// Where the emulator of the walkthrough listens: the lab's default target.
const EMULATOR_ADDRESS: &str = "127.0.0.1:4566";

/// Prints a line of the walkthrough's transcript: `say!(walk, "...", ...)`.
macro_rules! say {
    ($walk:expr, $($arg:tt)*) => {
        $walk.narration().line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// How a walkthrough runs: where, with which files, and how it reports.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// Where the run keeps its files: the sessions sent, the dead letters.
    pub work_dir: PathBuf,
    /// Where the walkthrough's own emulator keeps its data, when it starts one.
    pub emulator_data_dir: PathBuf,
    /// Standard output holds a grade as JSON; the transcript goes to
    /// standard error.
    pub json: bool,
}

/// Why the walkthrough could not go on. A grade that fails is not one of
/// these: it is the walkthrough's result.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`kinesis-lab {command}` failed ({status})")]
    Failed { command: String, status: String },
    #[error("`kinesis-lab {command}` did not print its JSON ({status}): {output}")]
    NoJson {
        command: String,
        status: String,
        output: String,
    },
    #[error("`kinesis-lab {command}` printed a line that is not JSON: {source}")]
    BadJson {
        command: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the {program} saw {seen} of the {put} records put within {waited:?}")]
    NotConsumed {
        program: &'static str,
        seen: usize,
        put: usize,
        waited: Duration,
    },
    #[error("the {program} ended with {status}")]
    Ended { program: &'static str, status: String },
    #[error(
        "cannot run your notebook: \"{python}\" has no module \"{module}\"; install what it needs with: \
         {python} -m pip install nbclient ipykernel boto3"
    )]
    NoJupyter { python: String, module: String },
    #[error("cannot run the notebook {path:?}: {why}")]
    Notebook { path: String, why: String },
    #[error("verify found problems in what Firehose delivered (see above)")]
    VerifyFailed,
    #[error("cannot start an emulator: {0}")]
    Emulator(#[from] emulator::StartError),
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Infra(#[from] InfraError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl LabError {
    fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
        let doing = doing.into();
        move |source| LabError::Io { doing, source }
    }
}

/// The lab's timing, or a compressed one (`--fast`).
#[derive(Debug, Clone)]
pub struct Timing {
    pub mean_gap: &'static str,
    pub buffer_interval: u32,
    pub sessions: u64,
    /// ETL workers sharing the source's shards (`--workers`); 1: the lab's one ETL.
    pub workers: usize,
}

impl Timing {
    pub fn new(fast: bool, sessions: u64, workers: usize) -> Timing {
        match fast {
            true => Timing {
                mean_gap: "200ms",
                buffer_interval: 1,
                sessions,
                workers,
            },
            false => Timing {
                mean_gap: "10s",
                buffer_interval: 60,
                sessions,
                workers,
            },
        }
    }
}

/// What every step needs: the binary, the target, the work directory, and
/// the emulator the walkthrough started, if it did.
pub struct Walkthrough {
    bin: PathBuf,
    work_dir: PathBuf,
    target: Target,
    /// `--endpoint-url URL` or `--aws`, passed to every command; none for the
    /// emulator at its default address.
    target_args: Vec<String>,
    runtime: tokio::runtime::Runtime,
    emulator: Option<emulator::Emulator>,
    narration: Narration,
}

impl Walkthrough {
    /// Gets the target ready: the one named, the emulator already at
    /// 127.0.0.1:4566, or one started here.
    pub fn open(options: Options) -> Result<Walkthrough, LabError> {
        let bin = std::env::current_exe().map_err(LabError::io("find the kinesis-lab binary"))?;
        std::fs::create_dir_all(&options.work_dir)
            .map_err(LabError::io(format!("make {}", options.work_dir.display())))?;
        let runtime = tokio::runtime::Runtime::new().map_err(LabError::io("start the async runtime"))?;
        let narration = match options.json {
            true => Narration::Stderr,
            false => Narration::Stdout,
        };
        let mut walk = Walkthrough {
            bin,
            work_dir: options.work_dir,
            target_args: options.target.flags(),
            target: options.target.clone(),
            runtime,
            emulator: None,
            narration,
        };
        match options.target {
            Target::Aws | Target::Endpoint(_) => {}
            Target::Emulator if answers(EMULATOR_ADDRESS) => say!(
                walk,
                "Using the emulator already running at http://{EMULATOR_ADDRESS}; its console: \
                 http://{EMULATOR_ADDRESS}/_console/"
            ),
            Target::Emulator => {
                let config = emulator::Config {
                    data_dir: Some(options.emulator_data_dir.clone()),
                    ..emulator::Config::default()
                };
                let started = walk.runtime.block_on(emulator::Emulator::start(config))?;
                say!(
                    walk,
                    "Nothing answered at http://{EMULATOR_ADDRESS}, so an emulator runs in this process until the end \
                     (for your own runs: `kinesis-lab emulator` in another terminal). Delivered files go to {}.\n\
                     Watch the lab in its console: http://{EMULATOR_ADDRESS}/_console/",
                    options.emulator_data_dir.display()
                );
                walk.emulator = Some(started);
            }
        }
        Ok(walk)
    }

    pub fn narration(&self) -> Narration {
        self.narration
    }

    /// Whether standard output holds the grade's JSON (`--output json`).
    pub fn json(&self) -> bool {
        self.narration == Narration::Stderr
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Where the walkthrough's own emulator writes what Firehose delivers.
    pub fn delivered_files(&self) -> Option<PathBuf> {
        self.emulator
            .as_ref()
            .map(|emulator| emulator.data_dir().join("s3"))
    }

    /// A step's heading and what it is about to do.
    pub fn step(&self, number: &str, title: &str, what: &str) {
        say!(self, "\n== Step {number}: {title} ==\n{what}");
    }

    /// Where the emulator's console shows what a step does (the emulator on
    /// 127.0.0.1:4566 only: LocalStack and AWS have consoles of their own).
    pub fn console(&self, page: &str) {
        if self.target_args.is_empty() {
            say!(self, "In the console: http://{EMULATOR_ADDRESS}/_console/{page}");
        }
    }

    pub fn target(&self) -> Target {
        self.target.clone()
    }

    /// The endpoint a learner's AWS code is pointed at; `None` on real AWS.
    pub fn endpoint_url(&self) -> Option<String> {
        match self.target() {
            Target::Aws => None,
            Target::Endpoint(url) => Some(url),
            Target::Emulator => Some(format!("http://{EMULATOR_ADDRESS}")),
        }
    }

    pub fn block_on<T, E>(
        &self,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, LabError>
    where
        LabError: From<E>,
    {
        Ok(self.runtime.block_on(future)?)
    }

    /// `kinesis-lab ARGS` on this run's target.
    pub fn kinesis_lab(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).args(&self.target_args);
        command
    }

    /// Runs a command in the foreground, shown as a person would type it,
    /// its stderr on the terminal (its progress shows live); its output.
    fn foreground(&self, args: &[&str]) -> Result<Output, LabError> {
        say!(self, "$ kinesis-lab {}", shown(args));
        self.kinesis_lab(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .map_err(LabError::io(format!("run {}", self.bin.display())))
    }

    /// Runs a command without showing it, its stderr dropped; its output.
    fn quietly(&self, args: &[&str]) -> Result<Output, LabError> {
        self.kinesis_lab(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(LabError::io(format!("run {}", self.bin.display())))
    }

    /// Runs a command in the foreground, showing it and what it prints;
    /// returns its stdout.
    pub fn run(&self, args: &[&str]) -> Result<String, LabError> {
        let output = self.foreground(args)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        self.narration.text(&stdout);
        succeeded(args, &output)?;
        Ok(stdout)
    }

    /// Runs a command that prints one JSON object, shown as a person would
    /// type it; the object, whatever the command's exit status.
    pub fn run_json(&self, args: &[&str]) -> Result<Value, LabError> {
        parse_json(args, &self.foreground(args)?)
    }

    /// Runs a command that prints one JSON object, quietly.
    pub fn quiet_json(&self, args: &[&str]) -> Result<Value, LabError> {
        parse_json(args, &self.quietly(args)?)
    }

    /// Runs a command quietly; its stdout.
    pub fn output(&self, args: &[&str]) -> Result<String, LabError> {
        let output = self.quietly(args)?;
        succeeded(args, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs a command in the foreground; whether it exited 0.
    pub fn run_status(&self, args: &[&str]) -> Result<bool, LabError> {
        say!(self, "$ kinesis-lab {}", shown(args));
        let status = self
            .kinesis_lab(args)
            .stdin(Stdio::null())
            .status()
            .map_err(LabError::io(format!("run {}", self.bin.display())))?;
        Ok(status.success())
    }

    /// Runs a command until it ends or the person presses Ctrl+C, which
    /// reaches it too: it stops cleanly, and so does the walkthrough.
    pub fn run_until_interrupted(&self, args: &[&str]) -> Result<(), LabError> {
        say!(self, "$ kinesis-lab {}   (Ctrl+C to stop)", shown(args));
        let status = self
            .kinesis_lab(args)
            .status()
            .map_err(LabError::io(format!("run {}", self.bin.display())))?;
        if !status.success() && status.code().is_some() {
            return Err(LabError::Failed {
                command: args[0].to_owned(),
                status: status.to_string(),
            });
        }
        Ok(())
    }

    /// Starts a `kinesis-lab` command in the background, as in a second
    /// terminal, its lines shown with `name` in front.
    pub fn spawn(
        &self,
        name: &'static str,
        args: &[&str],
        render: Option<Render>,
    ) -> Result<Background, LabError> {
        say!(self, "$ kinesis-lab {} &", shown(args));
        supervise::spawn(name, self.kinesis_lab(args), self.narration, render)
            .map_err(LabError::io(format!("start the {name}")))
    }
}

impl Drop for Walkthrough {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            say!(
                self,
                "\nStopping the emulator (Firehose writes what it still buffers)..."
            );
            self.runtime.block_on(emulator.shutdown());
        }
    }
}

/// A command that failed, named by its subcommand.
fn succeeded(args: &[&str], output: &Output) -> Result<(), LabError> {
    match output.status.success() {
        true => Ok(()),
        false => Err(LabError::Failed {
            command: args.first().unwrap_or(&"").to_string(),
            status: output.status.to_string(),
        }),
    }
}

fn parse_json(args: &[&str], output: &Output) -> Result<Value, LabError> {
    serde_json::from_slice(&output.stdout).map_err(|_| LabError::NoJson {
        command: args.first().unwrap_or(&"").to_string(),
        status: output.status.to_string(),
        output: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

/// Whether something listens at `address`.
fn answers(address: &str) -> bool {
    let address = address.parse().expect("a socket address");
    std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// A seed for the generated sessions: another one every run.
fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_record_is_the_labs() {
        let example: Value = serde_json::from_str(EXAMPLE_RECORD).unwrap();
        assert_eq!(example["session_id"], "a1");
        assert_eq!(example["browse_history"].as_array().unwrap().len(), 2);
    }
}
