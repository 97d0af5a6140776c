//! Part 2 of the walkthrough (lab steps 2.1 to 2.3): the infrastructure, the
//! ETL in the background, the lab's hidden producer, a look at the USA
//! stream, Firehose's objects checked, and the run in numbers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::etl_lines::EtlLines;
use super::supervise::Background;
use super::{LabError, Timing, Walkthrough, rand_seed, say};
use crate::lab_names::{LabNames, SOURCE_STREAM};
use crate::lease::LeaseTable;

/// The whole of part 2 with the lab's own programs.
pub fn walk(walk: &Walkthrough, timing: &Timing) -> Result<(), LabError> {
    let started = Instant::now();
    infra(walk, timing)?;
    let etls = start_etls(walk, timing)?;
    let expected = produce(walk, timing)?;
    if etls.len() > 1 {
        show_shares(walk)?;
    }
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
    let expected = expected.to_string_lossy();
    let mut verify = vec![
        "verify", "--expect", &expected, "--wait", &wait, "--output", "json",
    ];
    // Workers that hand leases over write a batch twice now and then: at
    // least once, as the KCL delivers. Counted in the summary, not a failure.
    if etls.len() > 1 {
        verify.push("--allow-duplicates");
    }
    let report = walk.run_json(&verify);
    // Every worker is asked to stop at once, so that none takes the leases
    // another hands back on its way out.
    for etl in &etls {
        etl.interrupt();
    }
    let mut lines = Vec::new();
    for etl in etls {
        let name = etl.name();
        let ended = etl
            .stop(Duration::from_secs(30))
            .map_err(LabError::io(format!("stop the {name}")))?;
        if !ended.status.success() {
            return Err(LabError::Ended {
                program: name,
                status: ended.status.to_string(),
            });
        }
        lines.extend(ended.stdout);
    }
    let report = report?;
    summary(walk, timing, &lines, &report, started.elapsed());
    match report["passed"] == true {
        true => Ok(()),
        false => Err(LabError::VerifyFailed),
    }
}

/// The names of the ETL workers' lines in the transcript.
const WORKERS: [&str; 8] = [
    "worker 1", "worker 2", "worker 3", "worker 4", "worker 5", "worker 6", "worker 7", "worker 8",
];

/// Step 2.2: the ETL in the background; with `--workers N`, N of them
/// sharing the source's shards through a lease table.
fn start_etls(walk: &Walkthrough, timing: &Timing) -> Result<Vec<Background>, LabError> {
    let dead_letters = walk.work_dir().join("etl-dead-letters.jsonl");
    let dead_letters = dead_letters.to_string_lossy();
    let mut common = vec!["etl", "--output", "json", "--dead-letter-file", &dead_letters];
    if timing.workers <= 1 {
        walk.step(
            "2.2",
            "Start the ETL",
            "It reads the source stream, enriches each session, and writes it to the USA or the international \
             stream; bad records go to a dead-letter file. It runs in the background, as in a second terminal.",
        );
        let mut lines = EtlLines::default();
        return Ok(vec![walk.spawn(
            "etl",
            &common,
            Some(Box::new(move |line| lines.render(line))),
        )?]);
    }
    let table = LabNames::new("").lease_table();
    walk.step(
        "2.2",
        &format!("Start {} ETL workers", timing.workers),
        &format!(
            "Each is the same ETL, started with --lease-table {table}: they share the source's shards as the \
             Kinesis Client Library shares them, a lease per shard in a DynamoDB table. Each reads only the \
             shards whose lease it holds, keeps its checkpoints in them, and steals toward an even share; one \
             that stops hands its leases back. Each runs in the background, as in a terminal of its own."
        ),
    );
    walk.console("leases");
    // The lab's own pace keeps the KCL's timing; compressed, the workers look
    // at the table every second so that the sharing shows within the run.
    let timing_flags: &[&str] = match timing.buffer_interval {
        1 => &["--failover-time", "3s", "--take-every", "1s"],
        _ => &[],
    };
    common.extend(["--lease-table", &table]);
    common.extend(timing_flags);
    let mut etls = Vec::new();
    for (n, name) in WORKERS.iter().take(timing.workers).enumerate() {
        let id = format!("worker-{}", n + 1);
        let mut args = common.clone();
        args.extend(["--worker-id", &id]);
        let mut lines = EtlLines::default();
        etls.push(walk.spawn(name, &args, Some(Box::new(move |line| lines.render(line))))?);
    }
    Ok(etls)
}

/// How the workers share the source's shards, from the lease table.
fn show_shares(walk: &Walkthrough) -> Result<(), LabError> {
    let table = LabNames::new("").lease_table();
    walk.step(
        "2.2",
        "How the workers share the shards",
        &format!("The leases in {table}: which worker reads which shard, and where it has got to."),
    );
    let leases = walk.block_on(async {
        let clients = walk.target().connect().await?;
        Ok::<_, LabError>(LeaseTable::existing(clients.dynamodb, &table).scan().await?)
    })?;
    let mut shares: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for lease in &leases {
        let owner = lease.owner.clone().unwrap_or_else(|| "nobody".to_owned());
        shares.entry(owner).or_default().push(lease.key.clone());
    }
    for (owner, shards) in shares {
        say!(walk, "  {owner:<10} {}", shards.join(", "));
    }
    Ok(())
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
    // Each worker's last words, added up.
    let stopped: Vec<Value> = etl
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "stopped")
        .collect();
    let count = |key: &str| match stopped.is_empty() {
        true => "?".to_owned(),
        false => stopped
            .iter()
            .filter_map(|event| event[key].as_u64())
            .sum::<u64>()
            .to_string(),
    };
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
