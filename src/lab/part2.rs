//! Part 2 of the walkthrough (lab steps 2.1 to 2.3): the infrastructure, the
//! ETL in the background, the lab's hidden producer, a look at the USA
//! stream, Firehose's objects checked, and the run in numbers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::etl_lines::EtlLines;
use super::{LabError, Timing, Walkthrough, rand_seed, say};
use crate::lab_names::{LabNames, SOURCE_STREAM};

/// The whole of part 2 with the lab's own programs.
pub fn walk(walk: &Walkthrough, timing: &Timing) -> Result<(), LabError> {
    let started = Instant::now();
    infra(walk, timing)?;
    walk.step(
        "2.2",
        "Start the ETL",
        "It reads the source stream, enriches each session, and writes it to the USA or the international \
         stream; bad records go to a dead-letter file. It runs in the background, as in a second terminal.",
    );
    let dead_letters = walk.work_dir().join("etl-dead-letters.jsonl");
    let mut lines = EtlLines::default();
    let etl = walk.spawn(
        "etl",
        &[
            "etl",
            "--output",
            "json",
            "--dead-letter-file",
            &dead_letters.to_string_lossy(),
        ],
        Some(Box::new(move |line| lines.render(line))),
    )?;
    let expected = produce(walk, timing)?;
    peek(walk)?;
    walk.step(
        "2.3",
        "Wait for Firehose and check the buckets",
        &format!(
            "Firehose writes what it buffered every {} s; verify reads the objects and checks every record.",
            timing.buffer_interval
        ),
    );
    walk.console("s3");
    let wait = format!("{}s", timing.buffer_interval + 90);
    let report = walk.run_json(&[
        "verify",
        "--expect",
        &expected.to_string_lossy(),
        "--wait",
        &wait,
        "--output",
        "json",
    ]);
    let ended = etl
        .stop(Duration::from_secs(30))
        .map_err(LabError::io("stop the ETL"))?;
    if !ended.status.success() {
        return Err(LabError::Ended {
            program: "etl",
            status: ended.status.to_string(),
        });
    }
    let report = report?;
    summary(walk, timing, &ended.stdout, &report, started.elapsed());
    match report["passed"] == true {
        true => Ok(()),
        false => Err(LabError::VerifyFailed),
    }
}

/// Step 2.1: streams, buckets and Firehose delivery streams.
pub fn infra(walk: &Walkthrough, timing: &Timing) -> Result<(), LabError> {
    walk.step(
        "2.1",
        "Create the part 2 infrastructure",
        "The source stream (4 shards), the USA and international streams (2 shards each), a bucket for each \
         route, and a Firehose delivery stream from each route's stream to its bucket.",
    );
    walk.console("");
    walk.run(&[
        "infra",
        "up",
        "--buffer-interval",
        &timing.buffer_interval.to_string(),
    ])?;
    Ok(())
}

/// The lab's hidden producer; the file of the sessions it sent.
pub fn produce(walk: &Walkthrough, timing: &Timing) -> Result<PathBuf, LabError> {
    walk.step(
        "2.2.1",
        "Start the source producer",
        &format!(
            "{} sessions on {SOURCE_STREAM}, {} apart on average, as the lab's hidden producer sends them.",
            timing.sessions, timing.mean_gap
        ),
    );
    let seed = rand_seed().to_string();
    let count = timing.sessions.to_string();
    let expected = walk.work_dir().join("sessions.jsonl");
    let sessions = walk.output(&["generate", "--count", &count, "--seed", &seed])?;
    std::fs::write(&expected, sessions).map_err(LabError::io(format!("write {}", expected.display())))?;
    walk.run(&[
        "generate",
        "--stream",
        SOURCE_STREAM,
        "--count",
        &count,
        "--seed",
        &seed,
        "--mean-gap",
        timing.mean_gap,
    ])?;
    Ok(expected)
}

/// Step 2.2.9: the first enriched sessions on the USA stream.
pub fn peek(walk: &Walkthrough) -> Result<(), LabError> {
    walk.step(
        "2.2.9",
        "Look at the USA stream",
        "The enriched sessions as the ETL wrote them (the first two).",
    );
    let usa = LabNames::new("").destinations().usa;
    walk.console(&format!("streams/{usa}"));
    walk.run(&["consume", "--stream", usa.as_str(), "--no-follow", "--limit", "2"])?;
    Ok(())
}

/// The run in numbers, from the ETL's and verify's JSON.
fn summary(walk: &Walkthrough, timing: &Timing, etl: &[String], report: &Value, took: Duration) {
    say!(walk, "\n== Part 2 done in {:.0} s ==", took.as_secs_f64());
    say!(walk, "  sessions produced     {}", timing.sessions);
    let stopped = etl
        .iter()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "stopped")
        .unwrap_or_default();
    let count = |key: &str| stopped.get(key).map_or_else(|| "?".to_owned(), Value::to_string);
    say!(walk, "  routed to USA         {}", count("USA"));
    say!(walk, "  routed International  {}", count("International"));
    say!(walk, "  dead-lettered         {}", count("dead_lettered"));
    for bucket in report["buckets"].as_array().into_iter().flatten() {
        say!(
            walk,
            "  s3://{}/{}: {} objects, {} records",
            bucket["bucket"].as_str().unwrap_or_default(),
            bucket["prefix"].as_str().unwrap_or_default(),
            bucket["objects"],
            bucket["records"]
        );
    }
    // The buckets outlive a run (on disk, or on AWS), so their counts include
    // earlier runs; say so rather than leave the totals unexplained.
    let earlier = report["expected"]["unexpected"].as_u64().unwrap_or(0);
    if earlier > 0 {
        say!(
            walk,
            "  from earlier runs     {earlier} sessions (`kinesis-lab lab teardown` empties the buckets)"
        );
    }
    let earlier_problems = report["expected"]["earlier_problems"].as_u64().unwrap_or(0);
    if earlier_problems > 0 {
        say!(
            walk,
            "  not judged            {earlier_problems} wrong records of earlier runs"
        );
    }
    for problem in report["problems"].as_array().into_iter().flatten().take(10) {
        say!(walk, "  problem: {}", problem.as_str().unwrap_or_default());
    }
    if let Some(files) = walk.delivered_files() {
        say!(walk, "  delivered files       {}", files.display());
    }
    let expected = &report["expected"];
    let missing = expected["missing"].as_array().map_or(0, Vec::len);
    let duplicated = expected["duplicated"].as_array().map_or(0, Vec::len);
    let verdict = if report["passed"] == true { "ok" } else { "FAILED" };
    say!(
        walk,
        "  result                verify: {verdict} ({} sessions expected, {missing} missing, {duplicated} delivered more than once)",
        expected["count"]
    );
}
