//! The lab with a learner's own programs, graded: `kinesis-lab lab part1
//! --producer-command C --consumer-command C` and `kinesis-lab lab part2
//! --etl-command C`.
//!
//! A learner's program is run exactly as the lab runs it (the same flags, the
//! lab's names), through `sh -c`, so any language works. Its environment
//! points unchanged AWS code at the target: `AWS_ENDPOINT_URL`, the test
//! credentials and the region, which boto3 and the AWS SDKs read by
//! themselves. What it writes shows in the transcript with its name in front.
//!
//! The grade is the walkthrough's result: passed or not, with the table of
//! steps ([`crate::grade`]); only a failure of the walkthrough itself (a
//! target that does not answer) is an error.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::supervise::Background;
use super::{EXAMPLE_RECORD, LabError, Timing, Walkthrough, narrate::shown, part1, part2, say};
use crate::grade::failed_steps;
use crate::grade::part1::{self as grade_part1, Asked};
use crate::grade::seen::Written;
use crate::lab_names::{CLI_STREAM, LabNames, SOURCE_STREAM};
use crate::shard_reader::{ShardReader, StartingPosition};
use crate::wait::{Look, Patience};

/// How long a learner's ETL gets, once the last session is put, to write
/// every session on (the lab's loop sleeps 2 s a pass).
const SETTLE: Duration = Duration::from_secs(60);

/// How long a learner's consumer gets to show the last record put (its loop
/// sleeps 1 s).
const PART1_SETTLE: Duration = Duration::from_secs(20);

/// How long a learner's program gets to end after Ctrl+C.
const GRACE: Duration = Duration::from_secs(5);

/// Part 1 with the learner's producer and consumer, graded on what reached
/// the stream and what the consumer wrote; whether every step passed.
pub fn part1(
    walk: &Walkthrough,
    shards: Option<i32>,
    producer: &str,
    consumer: &str,
) -> Result<bool, LabError> {
    part1::create_stream(walk, shards)?;
    // The stream outlives a run; this run's records are those that arrive
    // from now on (an earlier run put the example record too).
    let since = chrono::Utc::now();
    walk.step(
        "1.3",
        "Start your consumer",
        "It runs in the background, as in a second terminal, and must show every record it reads, \
         in any format, on standard output or standard error.",
    );
    let mut consumer = spawn(walk, "your consumer", consumer, &["--stream", CLI_STREAM])?;

    walk.step(
        "1.4",
        "Put the example record with your producer",
        "data/example_record.json.",
    );
    let example: Map<String, Value> =
        serde_json::from_str(EXAMPLE_RECORD).expect("the example record is a JSON object");
    let mut records = vec![example];
    for line in part1::four_sessions(walk)?.lines() {
        records.push(serde_json::from_str(line).map_err(|source| LabError::BadJson {
            command: "generate".into(),
            source,
        })?);
    }
    let mut asked = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        if i == 1 {
            walk.step(
                "1.5",
                "Put four more records with your producer",
                "Sessions with different countries, cities and histories.",
            );
        }
        let json = Value::Object(record.clone()).to_string();
        let producer = match run(walk, producer, &["--stream", CLI_STREAM, "--json_string", &json]) {
            Ok(ended) => ended,
            Err(err) => {
                let _ = consumer.stop(GRACE);
                return Err(err);
            }
        };
        asked.push(Asked { record, producer });
    }

    walk.step(
        "1.5",
        "Watch your consumer",
        &format!(
            "Every record found in the stream must show up in what it writes: its session_id, partition key or \
             sequence number (8 characters or more), or its data. Up to {} s.",
            PART1_SETTLE.as_secs()
        ),
    );
    let mut reader = walk.block_on(async {
        let clients = walk.target().connect().await?;
        let from = StartingPosition::AtTimestamp(since);
        Ok::<_, LabError>(ShardReader::open(clients.kinesis, CLI_STREAM, from, None).await?)
    })?;
    let mut put = Vec::new();
    let acknowledged = asked.iter().filter(|asked| asked.producer.is_ok()).count();
    let mut look = || {
        put.extend(walk.block_on(reader.read_to_end())?);
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
        Ok::<_, LabError>(match done {
            true => Look::Ready(()),
            false => Look::NotYet(()),
        })
    };
    let _ = Patience::new(PART1_SETTLE, Duration::from_millis(500)).wait_blocking(&mut look)?;
    let stopped_by_itself = consumer.exit_status();
    let ended = consumer.stop(GRACE).map_err(LabError::io("stop your consumer"))?;
    let wrote = ended.wrote();
    let grade = grade_part1::grade(
        CLI_STREAM,
        &asked,
        &put,
        grade_part1::Consumer {
            wrote: &wrote,
            stopped_by_itself,
        },
    );

    walk.step(
        "grade",
        "Grade your producer and consumer",
        "What reached the stream, and what your consumer wrote of it, lab step by lab step.",
    );
    walk.narration().text(&grade.to_string());
    if !grade.passed {
        say!(
            walk,
            "Your consumer's last lines ({}):\n{}",
            ended.status,
            ended.last_lines(15)
        );
    }
    if walk.json() {
        println!(
            "{}",
            json!({"part": 1, "grades": [&grade], "passed": grade.passed})
        );
    }
    match grade.passed {
        true => say!(
            walk,
            "\nPart 1 done: {} records put with your producer, all {} seen in what your consumer wrote, on {}.",
            grade.records_put,
            grade.records_put,
            walk.target()
        ),
        false => say!(
            walk,
            "\nPart 1 FAILED ({}): see the steps above.",
            failed_steps(&grade.steps).join(", ")
        ),
    }
    Ok(grade.passed)
}

/// Part 2 with the learner's ETL: fed the producer's sessions, stopped once
/// they are through (or its time is up), then graded step by step by
/// `kinesis-lab grade`; whether every step passed.
pub fn part2(walk: &Walkthrough, timing: &Timing, etl: &str) -> Result<bool, LabError> {
    let started = Instant::now();
    part2::infra(walk, timing)?;
    let destinations = LabNames::new("").destinations();
    let dest_streams = json!({
        "USA": destinations.usa.as_str(),
        "International": destinations.international.as_str(),
    })
    .to_string();
    walk.step(
        "2.2",
        "Start your ETL",
        "With the lab's flags, as step 2.2.9 runs consumer.py; in the background, as in a second terminal.",
    );
    let mut learner = spawn(
        walk,
        "your ETL",
        etl,
        &["--source_stream", SOURCE_STREAM, "--dest_streams", &dest_streams],
    )?;
    let expected = part2::produce(walk, timing)?;
    let expected = expected.to_string_lossy().into_owned();

    walk.step(
        "2.2.9",
        "Wait for your ETL",
        &format!(
            "Until every session sent is in a destination stream, for up to {} s.",
            SETTLE.as_secs()
        ),
    );
    let waited = Instant::now();
    let look = || {
        let grade = walk.quiet_json(&[
            "grade",
            "--expect",
            &expected,
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
        Ok::<_, LabError>(match missing == 0 || learner.exit_status().is_some() {
            true => Look::Ready(missing),
            false => Look::NotYet(missing),
        })
    };
    let (Ok(missing) | Err(missing)) = Patience::new(SETTLE, Duration::from_secs(2)).wait_blocking(look)?;
    say!(
        walk,
        "{missing} sessions not in a destination stream after {:.0} s",
        waited.elapsed().as_secs_f64()
    );
    let exited_early = learner.exit_status().is_some();
    let ended = learner.stop(GRACE).map_err(LabError::io("stop your ETL"))?;
    if exited_early {
        say!(
            walk,
            "\nYour ETL stopped by itself before the end ({}). Its last lines:\n{}",
            ended.status,
            ended.last_lines(15)
        );
    }

    walk.step(
        "grade",
        "Grade your ETL",
        "What it wrote to the destination streams, then what Firehose delivered from them, lab step by lab step.",
    );
    let wait = format!("{}s", timing.buffer_interval + 60);
    let passed = match walk.json() {
        true => {
            let grade = walk.quiet_json(&[
                "grade", "--expect", &expected, "--wait", &wait, "--output", "json",
            ])?;
            println!(
                "{}",
                json!({"part": 2, "grades": grade["grades"], "passed": grade["passed"]})
            );
            grade["passed"] == true
        }
        false => walk.run_status(&["grade", "--expect", &expected, "--wait", &wait])?,
    };
    say!(
        walk,
        "\n== Part 2 with your ETL done in {:.0} s: {} ==",
        started.elapsed().as_secs_f64(),
        if passed { "every step passes" } else { "FAILED" }
    );
    Ok(passed)
}

/// The environment that points a learner's unchanged AWS code at the
/// target; nothing for real AWS, where their own configuration applies.
pub(super) fn learner_env(walk: &Walkthrough) -> Vec<(&'static str, String)> {
    let Some(endpoint) = walk.endpoint_url() else {
        return Vec::new();
    };
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

/// `sh -c 'COMMAND "$@"' sh ARGS`: the learner's command with the lab's
/// flags, each passed as one argument whatever it holds.
fn command(walk: &Walkthrough, command: &str, args: &[&str]) -> Command {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("sh")
        .args(args)
        .envs(learner_env(walk));
    shell
}

fn spawn(
    walk: &Walkthrough,
    name: &'static str,
    program: &str,
    args: &[&str],
) -> Result<Background, LabError> {
    say!(walk, "$ {program} {} &", shown(args));
    super::supervise::spawn(name, command(walk, program, args), walk.narration(), None)
        .map_err(LabError::io(format!("start {name}: `{program}`")))
}

/// Runs a learner's command to its end, its lines shown as a terminal would
/// show them. `Ok(Err(..))` when the command failed: its exit status and
/// last line, for the grade to show; `Err` when it could not be run at all.
pub(super) fn run(walk: &Walkthrough, program: &str, args: &[&str]) -> Result<Result<(), String>, LabError> {
    say!(walk, "$ {program} {}", shown(args));
    let output = super::supervise::run_to_end(command(walk, program, args))
        .map_err(LabError::io(format!("start `{program}` with sh")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stdout.lines().chain(stderr.lines()) {
        say!(walk, "  | {line}");
    }
    if output.status.success() {
        return Ok(Ok(()));
    }
    // Its last words: an error is usually the last line of stderr.
    let last_of = |text: &str| {
        text.lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| line.trim().to_owned())
    };
    Ok(Err(match last_of(&stderr).or_else(|| last_of(&stdout)) {
        Some(line) => format!("{}; its last line: {line}", output.status),
        None => output.status.to_string(),
    }))
}
