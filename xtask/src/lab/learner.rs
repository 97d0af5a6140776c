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

use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use kinesis_lab::grade::failed_steps;
use kinesis_lab::grade::part1::{self, Asked};
use kinesis_lab::grade::seen::Written;
use kinesis_lab::lab_names::{CLI_STREAM, LabNames, SOURCE_STREAM};
use kinesis_lab::shard_reader::{ShardReader, StartingPosition};
use kinesis_lab::wait::{Look, Patience};
use serde_json::{Map, Value, json};

use super::{
    Background, EMULATOR_ADDRESS, LabSession, Timing, create_cli_stream, infra, produce_part2, spawn, step,
};

/// How long a learner's ETL gets, once the last session is put, to write
/// every session on (the lab's loop sleeps 2 s a pass).
const SETTLE: Duration = Duration::from_secs(60);

/// How long a learner's consumer gets to show the last record put (its loop
/// sleeps 1 s).
const PART1_SETTLE: Duration = Duration::from_secs(20);

/// Part 1 with the learner's producer and consumer, graded on what reached
/// the stream and what the consumer wrote (`kinesis_lab::grade::part1`).
pub fn part1(
    session: &LabSession,
    shards: Option<i32>,
    producer: &str,
    consumer: &str,
) -> anyhow::Result<ExitCode> {
    create_cli_stream(session, shards)?;
    // The stream outlives a run; this run's records are those that arrive
    // from now on (an earlier run put the example record too).
    let since = chrono::Utc::now();
    step(
        "1.3",
        "Start your consumer",
        "It runs in the background, as in a second terminal, and must show every record it reads, \
         in any format, on standard output or standard error.",
    );
    let mut consumer = session.spawn_learner("your consumer", consumer, &["--stream", CLI_STREAM])?;

    step(
        "1.4",
        "Put the example record with your producer",
        "data/example_record.json.",
    );
    let example = std::fs::read_to_string(session.root.join("data/example_record.json"))?;
    let example: Map<String, Value> =
        serde_json::from_str(&example).context("data/example_record.json is not a JSON object")?;
    let mut records = vec![example];
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
    let mut asked = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        if i == 1 {
            step(
                "1.5",
                "Put four more records with your producer",
                "Sessions with different countries, cities and histories.",
            );
        }
        let json = Value::Object(record.clone()).to_string();
        let producer = match session.run_learner(producer, &["--stream", CLI_STREAM, "--json_string", &json])
        {
            Ok(ended) => ended,
            Err(err) => {
                let _ = consumer.stop_learner();
                return Err(err);
            }
        };
        asked.push(Asked { record, producer });
    }

    step(
        "1.5",
        "Watch your consumer",
        &format!(
            "Every record found in the stream must show up in what it writes: its session_id, partition key, \
             sequence number or data. Up to {} s.",
            PART1_SETTLE.as_secs()
        ),
    );
    let mut reader = session.block_on(async {
        let clients = session.target().connect().await?;
        let from = StartingPosition::AtTimestamp(since);
        Ok(ShardReader::open(clients.kinesis, CLI_STREAM, from, None).await?)
    })?;
    let mut put = Vec::new();
    let acknowledged = asked.iter().filter(|asked| asked.producer.is_ok()).count();
    let mut look = || {
        put.extend(session.block_on(async { Ok(reader.read_to_end().await?) })?);
        let wrote = consumer.wrote();
        let written = Written::new(&wrote);
        let unseen = put
            .iter()
            .filter(|record| written.shows(record).is_none())
            .count();
        // Done once the stream holds what the producer said it put and the
        // consumer has shown all of it; a consumer that has exited will
        // write nothing more.
        let done = (put.len() >= acknowledged && unseen == 0) || consumer.exit_status().is_some();
        anyhow::Ok(match done {
            true => Look::Ready(()),
            false => Look::NotYet(()),
        })
    };
    let _ = Patience::new(PART1_SETTLE, Duration::from_millis(500)).wait_blocking(&mut look)?;
    let stopped_by_itself = consumer.exit_status();
    let ended = consumer.stop_learner()?;
    let grade = part1::grade(
        CLI_STREAM,
        &asked,
        &put,
        part1::Consumer {
            wrote: &ended.wrote,
            stopped_by_itself,
        },
    );

    step(
        "grade",
        "Grade your producer and consumer",
        "What reached the stream, and what your consumer wrote of it, lab step by lab step.",
    );
    say!(raw "{grade}");
    if !grade.passed {
        say!(
            "Your consumer's last lines ({}):\n{}",
            ended.status,
            ended.last_lines
        );
    }
    if session.output_json() {
        println!(
            "{}",
            json!({"part": 1, "grades": [&grade], "passed": grade.passed})
        );
    }
    if grade.passed {
        say!(
            "\nPart 1 done: {} records put with your producer, all {} seen in what your consumer wrote, on {}.",
            grade.records_put,
            grade.records_put,
            session.target_name()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        say!(
            "\nPart 1 FAILED ({}): see the steps above.",
            failed_steps(&grade.steps).join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Part 2 with the learner's ETL: fed the producer's sessions, stopped once
/// they are through (or its time is up), then graded step by step.
pub fn part2(session: &LabSession, timing: &Timing, etl: &str) -> anyhow::Result<ExitCode> {
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
        anyhow::Ok(match missing == 0 || learner.exit_status().is_some() {
            true => Look::Ready(missing),
            false => Look::NotYet(missing),
        })
    };
    let (Ok(missing) | Err(missing)) = Patience::new(SETTLE, Duration::from_secs(2)).wait_blocking(look)?;
    say!(
        "{missing} sessions not in a destination stream after {:.0} s",
        waited.elapsed().as_secs_f64()
    );
    let exited_early = learner.exit_status().is_some();
    let ended = learner.stop_learner()?;
    if exited_early {
        say!(
            "\nYour ETL stopped by itself before the end ({}). Its last lines:\n{}",
            ended.status,
            ended.last_lines
        );
    }

    step(
        "grade",
        "Grade your ETL",
        "What it wrote to the destination streams, then what Firehose delivered from them, lab step by lab step.",
    );
    let wait = format!("{}s", timing.buffer_interval + 60);
    let passed = match session.output_json() {
        true => {
            let grade = session.quiet_json(&[
                "grade",
                "--expect",
                &expected_arg,
                "--wait",
                &wait,
                "--output",
                "json",
            ])?;
            println!(
                "{}",
                json!({"part": 2, "grades": grade["grades"], "passed": grade["passed"]})
            );
            grade["passed"] == true
        }
        false => session.run_status(&["grade", "--expect", &expected_arg, "--wait", &wait])?,
    };
    say!(
        "\n== Part 2 with your ETL done in {:.0} s: {} ==",
        started.elapsed().as_secs_f64(),
        if passed { "every step passes" } else { "FAILED" }
    );
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
        say!("$ {command} {} &", super::shown(args));
        spawn(name, self.learner_command(command, args))
            .with_context(|| format!("cannot start {name}: `{command}`"))
    }

    /// Runs a learner's command to its end, its lines shown as they would be
    /// in a terminal. `Ok(Err(..))` when the command failed: its exit status
    /// and its last lines, for the grade to show; `Err` when it could not be
    /// run at all.
    fn run_learner(&self, command: &str, args: &[&str]) -> anyhow::Result<Result<(), String>> {
        say!("$ {command} {}", super::shown(args));
        let output = self
            .learner_command(command, args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot start `{command}` with sh"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stdout.lines().chain(stderr.lines()) {
            say!("  | {line}");
        }
        if output.status.success() {
            return Ok(Ok(()));
        }
        // Its last words: an error is usually the last line of stderr.
        let last_of = |text: &str| {
            text.lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(str::to_owned)
        };
        let last = last_of(&stderr).or_else(|| last_of(&stdout));
        Ok(Err(match last {
            Some(line) => format!("{}; its last line: {}", output.status, line.trim()),
            None => output.status.to_string(),
        }))
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
        say!("$ kinesis-lab {}", super::shown(args));
        let status = self.kinesis_lab(args).stdin(Stdio::null()).status()?;
        Ok(status.success())
    }
}

/// How a learner's program ended.
struct Ended {
    status: String,
    /// Its last 15 lines, standard output then standard error.
    last_lines: String,
    /// Everything it wrote, standard output then standard error.
    wrote: String,
}

impl Background {
    /// Everything it wrote so far, standard output then standard error.
    fn wrote(&self) -> String {
        let mut all = self.stdout.lock().expect("lock").join("\n");
        all.push('\n');
        all.push_str(&self.stderr.lock().expect("lock"));
        all
    }

    /// How it ended, if it has.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Ctrl+C (then, after 5 s, a kill), and waits; how it ended, whatever
    /// way that was.
    fn stop_learner(self) -> anyhow::Result<Ended> {
        let (status, stdout, stderr) = self.stop_within(Duration::from_secs(5))?;
        let mut lines: Vec<&str> = stdout.iter().map(String::as_str).collect();
        lines.extend(stderr.lines());
        let start = lines.len().saturating_sub(15);
        Ok(Ended {
            status,
            last_lines: lines[start..].join("\n"),
            wrote: format!("{}\n{stderr}", stdout.join("\n")),
        })
    }
}
