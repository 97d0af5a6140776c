//! Part 1 of the walkthrough (lab steps 1.1 to 1.5): a stream, the consumer
//! reading it in the background, and the producer putting the example record
//! and four more.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{EXAMPLE_RECORD, LabError, Walkthrough, rand_seed, say};
use crate::lab_names::CLI_STREAM;
use crate::wait::{Look, Patience};

/// The whole of part 1 with the lab's own programs.
pub fn walk(walk: &Walkthrough, shards: Option<i32>) -> Result<(), LabError> {
    create_stream(walk, shards)?;
    walk.step(
        "1.3",
        "Start the consumer",
        "It reads every shard of the stream from the oldest record and prints each record it finds; \
         it runs in the background here, as in a second terminal.",
    );
    walk.console(&format!("streams/{CLI_STREAM}"));
    let consumer = walk.spawn("consumer", &["consume", "--stream", CLI_STREAM], None)?;
    let keys = produce(walk)?;
    walk.step(
        "1.5",
        "Watch the consumer",
        "Every record put is consumed, in order within its shard.",
    );
    let waited = Duration::from_secs(60);
    let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
    // The consumer prints `shardId-... SEQUENCE KEY DATA`, one record a line.
    let look = || {
        let seen = consumer
            .stdout_lines()
            .iter()
            .filter(|line| line.starts_with("shardId-"))
            .filter_map(|line| line.split_whitespace().nth(2))
            .filter(|key| wanted.contains(key))
            .map(str::to_owned)
            .collect::<HashSet<String>>()
            .len();
        Ok::<_, LabError>(match seen == wanted.len() {
            true => Look::Ready(seen),
            false => Look::NotYet(seen),
        })
    };
    let seen = Patience::new(waited, Duration::from_millis(100)).wait_blocking(look)?;
    let name = consumer.name();
    let ended = consumer
        .stop(Duration::from_secs(30))
        .map_err(LabError::io(format!("stop the {name}")))?;
    let seen = seen.map_err(|seen| LabError::NotConsumed {
        program: name,
        seen,
        put: wanted.len(),
        waited,
    })?;
    if !ended.status.success() {
        return Err(LabError::Ended {
            program: name,
            status: ended.status.to_string(),
        });
    }
    say!(
        walk,
        "\nPart 1 done: {} records put, {seen} consumed, on {}.",
        keys.len(),
        walk.target()
    );
    Ok(())
}

/// Step 1.1: the CLI stream, on-demand as the console makes it by default.
pub fn create_stream(walk: &Walkthrough, shards: Option<i32>) -> Result<(), LabError> {
    let how = match shards {
        None => format!(
            "On-demand, as the console makes it when the rest is left as default (4 shards to start; \
             --shards N for a provisioned stream). With the AWS CLI: aws kinesis create-stream \
             --stream-name {CLI_STREAM} --stream-mode-details StreamMode=ON_DEMAND"
        ),
        Some(n) => format!(
            "{n} shards, provisioned. With the AWS CLI: aws kinesis create-stream --stream-name {CLI_STREAM} \
             --shard-count {n}"
        ),
    };
    walk.step("1.1", &format!("Create the data stream {CLI_STREAM}"), &how);
    walk.console("streams (its \"Create data stream\" form does the same)");
    let started = Instant::now();
    walk.block_on(async {
        let clients = walk.target().connect().await?;
        crate::infra::ensure_stream_with(&clients.kinesis, CLI_STREAM, shards, Duration::from_secs(300))
            .await?;
        Ok::<_, LabError>(())
    })?;
    say!(
        walk,
        "{CLI_STREAM} is ACTIVE after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Steps 1.4 and 1.5: the example record and four varied ones, put with
/// `kinesis-lab produce`; their partition keys.
pub fn produce(walk: &Walkthrough) -> Result<Vec<String>, LabError> {
    walk.step(
        "1.4",
        "Put the example record",
        "data/example_record.json, partition key = its session_id.",
    );
    walk.run(&[
        "produce",
        "--stream",
        CLI_STREAM,
        "--json-string",
        EXAMPLE_RECORD.trim(),
    ])?;
    walk.step(
        "1.5",
        "Put a few more records",
        "Four sessions with different countries, cities and histories.",
    );
    let mut keys = vec!["a1".to_owned()];
    for line in four_sessions(walk)?.lines() {
        let session: Value = serde_json::from_str(line).map_err(|source| LabError::BadJson {
            command: "generate".into(),
            source,
        })?;
        walk.run(&["produce", "--stream", CLI_STREAM, "--json-string", line])?;
        keys.push(session["session_id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(keys)
}

/// Four generated sessions, one JSON object a line, another four each run.
pub(super) fn four_sessions(walk: &Walkthrough) -> Result<String, LabError> {
    walk.output(&["generate", "--count", "4", "--seed", &rand_seed().to_string()])
}
