//! The lab with a learner's own programs: `cargo xtask lab part1
//! --producer-command C --consumer-command C` and `cargo xtask lab part2
//! --etl-command C`.
//!
//! A learner's program is run exactly as the lab runs it (the same flags, the
//! lab's names), through `sh -c`, so any language works. Its environment points
//! unchanged AWS code at the target: `AWS_ENDPOINT_URL`, the test credentials
//! and the region, which boto3 and the AWS SDKs read by themselves. What it
//! prints shows up prefixed with its name; when it fails, its last lines are
//! shown with the verdict.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kinesis_lab::lab_names::{CLI_STREAM, LabNames, SOURCE_STREAM};
use kinesis_lab::wait::{Look, Patience};
use serde_json::Value;

use super::{
    Background, EMULATOR_ADDRESS, LabSession, Timing, create_cli_stream, infra, produce_part2, spawn, step,
};

/// How long a learner's ETL gets, once the last session is put, to write
/// every session on (the lab's loop sleeps 2 s a pass).
const SETTLE: Duration = Duration::from_secs(60);

/// How long a learner's consumer gets to print the last record put (its loop
/// sleeps 1 s).
const PART1_SETTLE: Duration = Duration::from_secs(20);

/// Part 1 with the learner's producer and consumer: every record the producer
/// puts must show up in what the consumer prints.
pub fn part1(
    session: &LabSession,
    shards: Option<i32>,
    producer: &str,
    consumer: &str,
) -> anyhow::Result<()> {
    create_cli_stream(session, shards)?;
    step(
        "1.3",
        "Start your consumer",
        "It runs in the background, as in a second terminal, and must print every record it reads.",
    );
    let mut consumer = session.spawn_learner("your consumer", consumer, &["--stream", CLI_STREAM])?;

    step(
        "1.4",
        "Put the example record with your producer",
        "data/example_record.json.",
    );
    let example = std::fs::read_to_string(session.root.join("data/example_record.json"))?;
    let example: Value = serde_json::from_str(&example).context("data/example_record.json is not JSON")?;
    let mut records = vec![example];
    step(
        "1.5",
        "Put four more records with your producer",
        "Sessions with different countries, cities and histories.",
    );
    let generated = session.output(&[
        "generate",
        "--count",
        "4",
        "--seed",
        &super::rand_seed().to_string(),
    ])?;
    for line in generated.lines() {
        records.push(serde_json::from_str(line)?);
    }
    for record in &records {
        let json = record.to_string();
        if let Err(err) = session.run_learner(producer, &["--stream", CLI_STREAM, "--json_string", &json]) {
            let _ = consumer.stop_learner();
            return Err(err);
        }
    }

    step(
        "1.5",
        "Watch your consumer",
        "Each record's session_id must appear in what it prints.",
    );
    let ids: Vec<String> = records
        .iter()
        .filter_map(|record| record["session_id"].as_str().map(str::to_owned))
        .collect();
    let look = || {
        let printed = consumer.printed();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !printed.contains(id.as_str()))
            .cloned()
            .collect();
        // A consumer that has exited will print nothing more.
        anyhow::Ok(match missing.is_empty() || consumer.exited() {
            true => Look::Ready(missing),
            false => Look::NotYet(missing),
        })
    };
    let (Ok(missing) | Err(missing)) =
        Patience::new(PART1_SETTLE, Duration::from_millis(200)).wait_blocking(look)?;
    let (status, last_lines) = consumer.stop_learner()?;
    if !missing.is_empty() {
        println!("\nYour consumer's last lines ({status}):\n{last_lines}");
        bail!(
            "part 1 FAILED: your consumer did not print {} of the {} records your producer put (session_id {})",
            missing.len(),
            ids.len(),
            missing.join(", ")
        );
    }
    println!(
        "\nPart 1 done: {} records put with your producer, all {} printed by your consumer, on {}.",
        ids.len(),
        ids.len(),
        session.target_name()
    );
    Ok(())
}

/// Part 2 with the learner's ETL: fed the producer's sessions, stopped once
/// they are through (or its time is up), then graded step by step.
pub fn part2(session: &LabSession, timing: &Timing, etl: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    infra(session, timing)?;
    let names = LabNames::new("");
    let destinations = names.destinations();
    let dest_streams = serde_json::json!({
        "USA": destinations.usa.as_str(),
        "International": destinations.international.as_str(),
    })
    .to_string();
    step(
        "2.2",
        "Start your ETL",
        "With the lab's flags, as step 2.2.9 runs consumer.py; in the background, as in a second terminal.",
    );
    let mut learner = session.spawn_learner(
        "your ETL",
        etl,
        &["--source_stream", SOURCE_STREAM, "--dest_streams", &dest_streams],
    )?;
    let expected = produce_part2(session, timing)?;
    let expected_arg = expected.to_string_lossy().into_owned();

    step(
        "2.2.9",
        "Wait for your ETL",
        &format!(
            "Until every session sent is in a destination stream, for up to {} s.",
            SETTLE.as_secs()
        ),
    );
    let waited = Instant::now();
    let look = || {
        let grade = session.quiet_json(&[
            "grade",
            "--expect",
            &expected_arg,
            "--streams-only",
            "--output",
            "json",
        ])?;
        let missing = grade["grades"][0]["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|step| step["step"] == "arrival")
            .and_then(|step| step["failed"].as_u64())
            .unwrap_or(0);
        // An ETL that has exited will write nothing more.
        anyhow::Ok(match missing == 0 || learner.exited() {
            true => Look::Ready(missing),
            false => Look::NotYet(missing),
        })
    };
    let (Ok(missing) | Err(missing)) = Patience::new(SETTLE, Duration::from_secs(2)).wait_blocking(look)?;
    println!(
        "{missing} sessions not in a destination stream after {:.0} s",
        waited.elapsed().as_secs_f64()
    );
    let exited_early = learner.exited();
    let (status, last_lines) = learner.stop_learner()?;
    if exited_early {
        println!("\nYour ETL stopped by itself before the end ({status}). Its last lines:\n{last_lines}");
    }

    step(
        "grade",
        "Grade your ETL",
        "What it wrote to the destination streams, then what Firehose delivered from them, lab step by lab step.",
    );
    let wait = format!("{}s", timing.buffer_interval + 60);
    let passed = session.run_status(&["grade", "--expect", &expected_arg, "--wait", &wait])?;
    println!(
        "\n== Part 2 with your ETL done in {:.0} s: {} ==",
        started.elapsed().as_secs_f64(),
        if passed { "every step passes" } else { "FAILED" }
    );
    if !passed {
        bail!("your ETL failed the grade (the failed steps are above)");
    }
    Ok(())
}

impl LabSession<'_> {
    /// The environment that points a learner's unchanged AWS code at the
    /// target; nothing for real AWS, where their own configuration applies.
    fn learner_env(&self) -> Vec<(&'static str, String)> {
        if self.target_args.iter().any(|arg| arg == "--aws") {
            return Vec::new();
        }
        let endpoint = self
            .target_args
            .iter()
            .position(|arg| arg == "--endpoint-url")
            .map(|i| self.target_args[i + 1].clone())
            .unwrap_or_else(|| format!("http://{EMULATOR_ADDRESS}"));
        vec![
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            // Python prints at once, so that its lines show as they come.
            ("PYTHONUNBUFFERED", "1".to_owned()),
        ]
    }

    /// `sh -c 'COMMAND "$@"' ARGS`: the learner's command with the lab's
    /// flags, each passed as one argument whatever it holds.
    fn learner_command(&self, command: &str, args: &[&str]) -> Command {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("{command} \"$@\""))
            .arg("sh")
            .args(args)
            .envs(self.learner_env())
            .current_dir(&self.root);
        shell
    }

    fn spawn_learner(&self, name: &'static str, command: &str, args: &[&str]) -> anyhow::Result<Background> {
        println!("$ {command} {} &", super::shown(args));
        spawn(name, self.learner_command(command, args))
            .with_context(|| format!("cannot start {name}: `{command}`"))
    }

    /// Runs a learner's command to its end; its failure names it and shows
    /// its last lines.
    fn run_learner(&self, command: &str, args: &[&str]) -> anyhow::Result<()> {
        println!("$ {command} {}", super::shown(args));
        let output = self
            .learner_command(command, args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot start `{command}`"))?;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            println!("  | {line}");
        }
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last: Vec<&str> = stderr.lines().rev().take(15).collect();
            let last: Vec<&str> = last.into_iter().rev().collect();
            bail!(
                "`{command}` failed ({}); its last lines:\n{}",
                output.status,
                last.join("\n")
            );
        }
        Ok(())
    }

    /// Runs a `kinesis-lab` command that prints one JSON object, quietly.
    fn quiet_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = self
            .kinesis_lab(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()?;
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("`kinesis-lab {}` did not print its JSON", args.join(" ")))
    }

    /// Runs a `kinesis-lab` command in the foreground; true when it exits 0.
    fn run_status(&self, args: &[&str]) -> anyhow::Result<bool> {
        println!("$ kinesis-lab {}", super::shown(args));
        let status = self.kinesis_lab(args).stdin(Stdio::null()).status()?;
        Ok(status.success())
    }
}

impl Background {
    /// Everything it printed on stdout so far.
    fn printed(&self) -> String {
        self.stdout.lock().expect("lock").join("\n")
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Ctrl+C (then, after 5 s, a kill), and waits; the exit status and its
    /// last lines, whatever way it ended.
    fn stop_learner(self) -> anyhow::Result<(String, String)> {
        let (status, stdout, stderr) = self.stop_within(Duration::from_secs(5))?;
        let mut lines: Vec<&str> = stdout.iter().map(String::as_str).collect();
        lines.extend(stderr.lines());
        let start = lines.len().saturating_sub(15);
        Ok((status, lines[start..].join("\n")))
    }
}
