//! `cargo xtask compat`: the AWS CLI and boto3 run the lab's part 2 against a
//! fresh emulator, unchanged but for the endpoint; the AWS CLI also routes the
//! lab's sessions by country with Firehose's dynamic partitioning, and both
//! use CloudWatch Logs and metrics.
//!
//! The scripts live in `emulator/compat/`. This is how we know that learners'
//! usual tools work with the emulator; `.ci/run` runs it on every change.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Run the lab's part 2 with the AWS CLI and with boto3 against a new emulator,
/// and Firehose's dynamic partitioning with the AWS CLI.
///
/// Needs `aws`, Python's boto3 and kcl-rs (pip install awscli boto3 kcl-rs).
#[derive(Debug, clap::Args)]
pub struct Compat {}

impl Compat {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        let missing =
            |what: &str| format!("{what} is not installed\nInstall it with: pip install awscli boto3 kcl-rs");
        cmd!(sh, "aws --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| missing("the AWS CLI"))?;
        cmd!(sh, "python3 -c 'import boto3'")
            .quiet()
            .ignore_stderr()
            .run()
            .with_context(|| missing("boto3"))?;
        cmd!(sh, "python3 -c 'import kcl_rs'")
            .quiet()
            .ignore_stderr()
            .run()
            .with_context(|| missing("kcl-rs"))?;
        cmd!(sh, "cargo build --quiet --bin kinesis-lab").run()?;

        let data = sh.create_temp_dir()?;
        let mut emulator = Emulator::start(sh, data.path())?;
        let url = emulator.url.clone();
        let result = (|| {
            cmd!(sh, "bash emulator/compat/lab_part2_awscli.sh {url} 2").run()?;
            cmd!(sh, "bash emulator/compat/partition_by_country_awscli.sh {url}").run()?;
            cmd!(sh, "bash emulator/compat/cloudwatch_awscli.sh {url}").run()?;
            cmd!(
                sh,
                "python3 emulator/compat/kcl_rs_metrics.py --endpoint-url {url}"
            )
            .run()?;
            cmd!(
                sh,
                "python3 emulator/compat/lab_part2_boto3.py --endpoint-url {url} --interval 2"
            )
            .run()?;
            anyhow::Ok(())
        })();
        emulator.stop();
        result.context("a compatibility script failed against the emulator")?;
        println!("the AWS CLI and boto3 ran the lab's part 2 and dynamic partitioning against the emulator");
        Ok(())
    }
}

/// A `kinesis-lab emulator` process on a free port.
struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(sh: &Shell, data_dir: &std::path::Path) -> anyhow::Result<Emulator> {
        let binary = crate::target_dir(&sh.current_dir()).join("debug/kinesis-lab");
        let mut child = Command::new(binary)
            .args(["emulator", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start kinesis-lab emulator")?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line)?;
        // Pass the rest of what it says on, so that its shutdown can be followed.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                eprintln!("emulator: {line}");
            }
        });
        let Some(url) = first_line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
        else {
            let _ = child.kill();
            bail!("the emulator did not say where it listens: {first_line:?}");
        };
        Ok(Emulator {
            url: url.to_owned(),
            child,
        })
    }

    /// Ctrl+C, as a person would stop it, so that Firehose flushes.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
