//! `cargo xtask lab`: the lab, step by step, as a learner would run it.
//!
//! Each step says which step of the lab it is and what it is about to do, then
//! runs the `kinesis-lab` command a learner would type (shown with a `$`), so
//! that the walkthrough doubles as a transcript to copy from. Programs that run
//! side by side in the lab (the consumer, the ETL) run in the background here,
//! their lines prefixed with their name.
//!
//! When nothing answers at the emulator's address and no other target is
//! given, an emulator is started in this process for the length of the run.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_kinesis::operation::delete_stream::DeleteStreamError;
use kinesis_lab::aws_error::{self, AwsError};
use kinesis_lab::cli::Output;
use kinesis_lab::lab_names::{CLI_STREAM, LabNames, SOURCE_STREAM};
use kinesis_lab::wait::{Look, Patience};
use serde_json::Value;
use xshell::{Shell, cmd};

/// Prints a line of the walkthrough: on standard output, or on standard error
/// when standard output carries a grade as JSON (`--output json`). `say!(raw
/// ...)` prints without adding a newline.
macro_rules! say {
    (raw $($arg:tt)*) => {
        $crate::lab::narrate(format_args!($($arg)*), false)
    };
    ($($arg:tt)*) => {
        $crate::lab::narrate(format_args!($($arg)*), true)
    };
}

mod learner;

/// Whether the walkthrough's own lines go to standard error, so that standard
/// output holds nothing but the grade's JSON. Set once, from `--output`,
/// before the first line: a choice for the whole process, as a logger's is.
static NARRATION_ON_STDERR: AtomicBool = AtomicBool::new(false);

fn narrate(text: std::fmt::Arguments<'_>, newline: bool) {
    let end = if newline { "\n" } else { "" };
    // A closed pipe (`... | head`) must not end the walkthrough.
    let _ = match NARRATION_ON_STDERR.load(Ordering::Relaxed) {
        true => write!(std::io::stderr().lock(), "{text}{end}"),
        false => write!(std::io::stdout().lock(), "{text}{end}"),
    };
}

const EMULATOR_ADDRESS: &str = "127.0.0.1:4566";

/// Walk through the lab: part1, part2, or one step of either.
///
/// Targets: the emulator at 127.0.0.1:4566 (started in this process when
/// nothing answers there), --endpoint-url URL (LocalStack), or --aws (real AWS,
/// which costs money).
#[derive(Debug, clap::Args)]
pub struct Lab {
    #[command(subcommand)]
    part: Part,

    /// Run against this endpoint (LocalStack, say) instead of the emulator.
    #[arg(long, global = true, value_name = "URL", conflicts_with = "aws")]
    endpoint_url: Option<String>,

    /// Run against real AWS. It costs money.
    #[arg(long, global = true)]
    aws: bool,

    /// Where the run keeps its files: the sessions sent, the dead letters.
    #[arg(long, global = true, value_name = "DIR", default_value = "target/lab")]
    work_dir: PathBuf,

    /// With your own programs: text for people, or json to print the grade
    /// as one JSON object on standard output (the walkthrough's lines then go
    /// to standard error).
    #[arg(long, global = true, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Debug, clap::Subcommand)]
enum Part {
    /// Part 1: a stream, a consumer, a producer (steps 1.1 to 1.5).
    Part1 {
        #[command(subcommand)]
        step: Option<Part1Step>,

        /// Create the stream provisioned with N shards. Without it the stream
        /// is on-demand, as the console's "Create data stream" makes it when
        /// the rest is left as default (lab step 1.1).
        #[arg(long, global = true, value_name = "N")]
        shards: Option<i32>,

        /// Your own producer (steps 1.4, 1.5), run as the lab runs it:
        /// COMMAND --stream NAME --json_string JSON, once per record.
        #[arg(long, value_name = "COMMAND", requires = "consumer_command")]
        producer_command: Option<String>,

        /// Your own consumer (step 1.3), run as the lab runs it in the
        /// background: COMMAND --stream NAME. Every record produced must show
        /// up in what it prints.
        #[arg(long, value_name = "COMMAND", requires = "producer_command")]
        consumer_command: Option<String>,
    },
    /// Part 2: the streaming ETL with Firehose to S3 (steps 2.1 to 2.3).
    Part2 {
        #[command(subcommand)]
        step: Option<Part2Step>,

        /// Compress the timing: a session every 0.2 s on average, Firehose
        /// every second, 30 sessions. Without it the timing is the lab's.
        #[arg(long, global = true)]
        fast: bool,

        /// How many sessions the producer sends.
        #[arg(long, global = true, default_value_t = 30)]
        sessions: u64,

        /// Your own ETL (step 2.2), run as the lab runs it: COMMAND
        /// --source_stream NAME --dest_streams JSON, with AWS_ENDPOINT_URL,
        /// test credentials and the region in its environment. It is fed the
        /// producer's sessions, stopped, and graded step by step.
        #[arg(long, value_name = "COMMAND")]
        etl_command: Option<String>,
    },
    /// Delete everything the lab made (both parts).
    Teardown,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
enum Part1Step {
    /// 1.1: create the CLI stream and wait until it is ACTIVE.
    CreateStream,
    /// 1.3: read the CLI stream until Ctrl+C.
    Consume,
    /// 1.4 and 1.5: put the example record and a few more.
    Produce,
}

#[derive(Debug, Clone, Copy, clap::Subcommand)]
enum Part2Step {
    /// 2.1: streams, buckets and Firehose delivery streams.
    Infra,
    /// The lab's hidden producer: sessions on the source stream.
    Produce,
    /// 2.2: the ETL, until Ctrl+C.
    Etl,
    /// 2.2.9: a look at the USA stream.
    Peek,
    /// 2.3: check what Firehose delivered.
    Verify,
}

impl Lab {
    /// Runs the walkthrough. The exit code is its verdict: a grade that fails
    /// is a result (its table, and exit status 1), not an error; errors are
    /// the harness's own (a target that does not answer, a step that fails).
    pub fn run(&self, sh: &Shell) -> anyhow::Result<ExitCode> {
        NARRATION_ON_STDERR.store(self.output == Output::Json, Ordering::Relaxed);
        let session = LabSession::open(sh, self)?;
        let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
        match &self.part {
            Part::Part1 {
                step: None,
                shards,
                producer_command: Some(producer),
                consumer_command: Some(consumer),
            } => learner::part1(&session, *shards, producer, consumer),
            Part::Part1 {
                step: None, shards, ..
            } => done(part1(&session, *shards)),
            Part::Part1 {
                step: Some(Part1Step::CreateStream),
                shards,
                ..
            } => done(create_cli_stream(&session, *shards)),
            Part::Part1 {
                step: Some(Part1Step::Consume),
                ..
            } => done(session.run_until_interrupted(&["consume", "--stream", CLI_STREAM])),
            Part::Part1 {
                step: Some(Part1Step::Produce),
                ..
            } => done(produce_part1(&session).map(|_| ())),
            Part::Part2 {
                step,
                fast,
                sessions,
                etl_command,
            } => {
                let timing = Timing::new(*fast, *sessions);
                match step {
                    None => match etl_command {
                        Some(command) => learner::part2(&session, &timing, command),
                        None => done(part2(&session, &timing)),
                    },
                    Some(Part2Step::Infra) => done(infra(&session, &timing)),
                    Some(Part2Step::Produce) => done(produce_part2(&session, &timing).map(|_| ())),
                    Some(Part2Step::Etl) => done(session.run_until_interrupted(&["etl"])),
                    Some(Part2Step::Peek) => done(peek(&session)),
                    Some(Part2Step::Verify) => done(session.run(&["verify"]).map(|_| ())),
                }
            }
            Part::Teardown => done(teardown(&session)),
        }
    }
}

/// The lab's timing, or a compressed one.
struct Timing {
    mean_gap: &'static str,
    buffer_interval: u32,
    sessions: u64,
}

impl Timing {
    fn new(fast: bool, sessions: u64) -> Timing {
        if fast {
            Timing {
                mean_gap: "200ms",
                buffer_interval: 1,
                sessions,
            }
        } else {
            Timing {
                mean_gap: "10s",
                buffer_interval: 60,
                sessions,
            }
        }
    }
}

fn part1(session: &LabSession, shards: Option<i32>) -> anyhow::Result<()> {
    create_cli_stream(session, shards)?;
    step(
        "1.3",
        "Start the consumer",
        "It reads every shard of the stream from the oldest record and prints each record it finds; it runs in the background here, as in a second terminal.",
    );
    session.console(&format!("streams/{CLI_STREAM}"));
    let consumer = session.spawn("consumer", &["consume", "--stream", CLI_STREAM])?;
    let keys = produce_part1(session)?;
    step(
        "1.5",
        "Watch the consumer",
        "Every record put is consumed, in order within its shard.",
    );
    let seen = consumer.wait_for_keys(&keys, Duration::from_secs(60))?;
    consumer.stop()?;
    say!(
        "\nPart 1 done: {} records put, {seen} consumed, on {}.",
        keys.len(),
        session.target_name()
    );
    Ok(())
}

fn create_cli_stream(session: &LabSession, shards: Option<i32>) -> anyhow::Result<()> {
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
    step("1.1", &format!("Create the data stream {CLI_STREAM}"), &how);
    session.console("streams (its \"Create data stream\" form does the same)");
    session.block_on(async {
        let clients = session.target().connect().await?;
        let started = Instant::now();
        kinesis_lab::infra::ensure_stream_with(
            &clients.kinesis,
            CLI_STREAM,
            shards,
            Duration::from_secs(300),
        )
        .await?;
        say!(
            "{CLI_STREAM} is ACTIVE after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Puts the example record and four varied ones; returns their partition keys.
fn produce_part1(session: &LabSession) -> anyhow::Result<Vec<String>> {
    step(
        "1.4",
        "Put the example record",
        "data/example_record.json, partition key = its session_id.",
    );
    let example = std::fs::read_to_string(session.root.join("data/example_record.json"))?;
    session.run(&["produce", "--stream", CLI_STREAM, "--json-string", example.trim()])?;
    step(
        "1.5",
        "Put a few more records",
        "Four sessions with different countries, cities and histories.",
    );
    let seed = rand_seed();
    let generated = session.output(&["generate", "--count", "4", "--seed", &seed.to_string()])?;
    let mut keys = vec!["a1".to_owned()];
    for line in generated.lines() {
        let session_id = serde_json::from_str::<serde_json::Value>(line)?["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        session.run(&["produce", "--stream", CLI_STREAM, "--json-string", line])?;
        keys.push(session_id);
    }
    Ok(keys)
}

fn part2(session: &LabSession, timing: &Timing) -> anyhow::Result<()> {
    let started = Instant::now();
    infra(session, timing)?;
    step(
        "2.2",
        "Start the ETL",
        "It reads the source stream, enriches each session, and writes it to the USA or the international stream; bad records go to a dead-letter file. It runs in the background, as in a second terminal.",
    );
    let dead_letters = session.lab_dir.join("etl-dead-letters.jsonl");
    let etl = session.spawn(
        "etl",
        &[
            "etl",
            "--output",
            "json",
            "--dead-letter-file",
            &dead_letters.to_string_lossy(),
        ],
    )?;
    let expected = produce_part2(session, timing)?;
    peek(session)?;
    step(
        "2.3",
        "Wait for Firehose and check the buckets",
        &format!(
            "Firehose writes what it buffered every {} s; verify reads the objects and checks every record.",
            timing.buffer_interval
        ),
    );
    session.console("s3");
    let wait = format!("{}s", timing.buffer_interval + 90);
    let report = session.run_json(&[
        "verify",
        "--expect",
        &expected.to_string_lossy(),
        "--wait",
        &wait,
        "--output",
        "json",
    ]);
    let etl_lines = etl.stop()?;
    let report = report?;
    summary(session, timing, &etl_lines, &report, started.elapsed());
    if report["passed"] != true {
        bail!("verify found problems in what Firehose delivered (see above)");
    }
    Ok(())
}

fn infra(session: &LabSession, timing: &Timing) -> anyhow::Result<()> {
    step(
        "2.1",
        "Create the part 2 infrastructure",
        "The source stream (4 shards), the USA and international streams (2 shards each), a bucket for each route, and a Firehose delivery stream from each route's stream to its bucket.",
    );
    session.console("");
    session.run(&[
        "infra",
        "up",
        "--buffer-interval",
        &timing.buffer_interval.to_string(),
    ])?;
    Ok(())
}

/// The hidden producer; returns the file of the sessions it sent.
fn produce_part2(session: &LabSession, timing: &Timing) -> anyhow::Result<PathBuf> {
    step(
        "2.2.1",
        "Start the source producer",
        &format!(
            "{} sessions on {SOURCE_STREAM}, {} apart on average, as the lab's hidden producer sends them.",
            timing.sessions, timing.mean_gap
        ),
    );
    let seed = rand_seed().to_string();
    let count = timing.sessions.to_string();
    let expected = session.lab_dir.join("sessions.jsonl");
    std::fs::write(
        &expected,
        session.output(&["generate", "--count", &count, "--seed", &seed])?,
    )?;
    session.run(&[
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

fn peek(session: &LabSession) -> anyhow::Result<()> {
    step(
        "2.2.9",
        "Look at the USA stream",
        "The enriched sessions as the ETL wrote them (the first two).",
    );
    let usa = LabNames::new("").destinations().usa;
    session.console(&format!("streams/{usa}"));
    session.run(&["consume", "--stream", usa.as_str(), "--no-follow", "--limit", "2"])?;
    Ok(())
}

fn teardown(session: &LabSession) -> anyhow::Result<()> {
    step(
        "teardown",
        "Delete what the lab made",
        "The part 2 infrastructure (with the buckets and what Firehose delivered), and the part 1 stream.",
    );
    session.run(&["infra", "down"])?;
    session.block_on(async {
        let clients = session.target().connect().await?;
        match clients
            .kinesis
            .delete_stream()
            .stream_name(CLI_STREAM)
            .send()
            .await
        {
            Ok(_) => say!("deleted stream {CLI_STREAM}"),
            Err(err) if aws_error::is(&err, DeleteStreamError::is_resource_not_found_exception) => {}
            Err(err) => return Err(AwsError::failed(format_args!("delete stream {CLI_STREAM}"), &err).into()),
        }
        Ok(())
    })
}

/// The run in numbers, from the ETL's and verify's JSON.
fn summary(session: &LabSession, timing: &Timing, etl: &[String], report: &Value, took: Duration) {
    say!("\n== Part 2 done in {:.0} s ==", took.as_secs_f64());
    say!("  sessions produced     {}", timing.sessions);
    let stopped = etl
        .iter()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "stopped")
        .unwrap_or_default();
    let count = |key: &str| stopped.get(key).map_or_else(|| "?".to_owned(), Value::to_string);
    say!("  routed to USA         {}", count("USA"));
    say!("  routed International  {}", count("International"));
    say!("  dead-lettered         {}", count("dead_lettered"));
    for bucket in report["buckets"].as_array().into_iter().flatten() {
        say!(
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
        say!("  from earlier runs     {earlier} sessions (`cargo xtask lab teardown` empties the buckets)");
    }
    let earlier_problems = report["expected"]["earlier_problems"].as_u64().unwrap_or(0);
    if earlier_problems > 0 {
        say!("  not judged            {earlier_problems} wrong records of earlier runs");
    }
    for problem in report["problems"].as_array().into_iter().flatten().take(10) {
        say!("  problem: {}", problem.as_str().unwrap_or_default());
    }
    if let Some(dir) = &session.data_dir {
        say!("  delivered files       {}", dir.join("s3").display());
    }
    let expected = &report["expected"];
    let missing = expected["missing"].as_array().map_or(0, Vec::len);
    let duplicated = expected["duplicated"].as_array().map_or(0, Vec::len);
    let verdict = if report["passed"] == true { "ok" } else { "FAILED" };
    say!(
        "  result                verify: {verdict} ({} sessions expected, {missing} missing, {duplicated} delivered more than once)",
        expected["count"]
    );
}

/// Prints a step's heading and what it is about to do.
fn step(number: &str, title: &str, what: &str) {
    say!("\n== Step {number}: {title} ==\n{what}");
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
}

/// The `kinesis-lab` binary the steps run: the one `KINESIS_LAB_BIN` names, or
/// else the debug build, built now.
///
/// The e2e tests name theirs. Building here while they run would re-link
/// `target/debug/kinesis-lab` under the tests that are executing it: `cargo
/// test --workspace` builds it with the dev-dependencies' features unified in,
/// `cargo build --bin kinesis-lab` without them, so the two never share it.
fn kinesis_lab_binary(sh: &Shell, root: &Path, named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(bin) = named {
        anyhow::ensure!(
            bin.is_file(),
            "KINESIS_LAB_BIN names {}, which is not a file; unset it to build the binary here",
            bin.display()
        );
        return Ok(bin);
    }
    cmd!(sh, "cargo build --quiet --bin kinesis-lab").run()?;
    Ok(crate::target_dir(root).join("debug/kinesis-lab"))
}

/// What every step needs: the binary, the target flags, maybe an emulator.
struct LabSession<'a> {
    sh: &'a Shell,
    root: PathBuf,
    bin: PathBuf,
    lab_dir: PathBuf,
    target_args: Vec<String>,
    runtime: tokio::runtime::Runtime,
    emulator: Option<emulator::Emulator>,
    data_dir: Option<PathBuf>,
}

impl<'a> LabSession<'a> {
    fn open(sh: &'a Shell, lab: &Lab) -> anyhow::Result<LabSession<'a>> {
        let root = sh.current_dir();
        let bin = kinesis_lab_binary(sh, &root, std::env::var_os("KINESIS_LAB_BIN").map(PathBuf::from))?;
        let lab_dir = root.join(&lab.work_dir);
        sh.create_dir(&lab_dir)?;
        let runtime = tokio::runtime::Runtime::new()?;
        let mut session = LabSession {
            sh,
            root: root.clone(),
            bin,
            lab_dir,
            target_args: Vec::new(),
            runtime,
            emulator: None,
            data_dir: None,
        };
        if lab.aws {
            session.target_args = vec!["--aws".into()];
        } else if let Some(url) = &lab.endpoint_url {
            session.target_args = vec!["--endpoint-url".into(), url.clone()];
        } else if std::net::TcpStream::connect_timeout(&EMULATOR_ADDRESS.parse()?, Duration::from_secs(1))
            .is_ok()
        {
            say!(
                "Using the emulator already running at http://{EMULATOR_ADDRESS}; its console: \
                 http://{EMULATOR_ADDRESS}/_console/"
            );
        } else {
            let data_dir = root.join("kinesis-lab-data");
            let config = emulator::Config {
                data_dir: Some(data_dir.clone()),
                ..emulator::Config::default()
            };
            let started = session
                .runtime
                .block_on(emulator::Emulator::start(config))
                .context("cannot start an emulator")?;
            say!(
                "Nothing answered at http://{EMULATOR_ADDRESS}, so an emulator runs in this process until the end \
                 (for your own runs: `cargo run -- emulator` in another terminal). Delivered files go to {}.\n\
                 Watch the lab in its console: http://{EMULATOR_ADDRESS}/_console/",
                data_dir.display()
            );
            session.data_dir = Some(started.data_dir().to_path_buf());
            session.emulator = Some(started);
        }
        Ok(session)
    }

    /// Where the emulator's console shows what a step does (the emulator
    /// on 127.0.0.1:4566 only: LocalStack and AWS have consoles of their own).
    fn console(&self, page: &str) {
        if self.target_args.is_empty() {
            say!("In the console: http://{EMULATOR_ADDRESS}/_console/{page}");
        }
    }

    fn target(&self) -> kinesis_lab::target::Target {
        kinesis_lab::target::TargetArgs {
            endpoint_url: self
                .target_args
                .iter()
                .position(|a| a == "--endpoint-url")
                .map(|i| self.target_args[i + 1].clone()),
            aws: self.target_args.iter().any(|a| a == "--aws"),
        }
        .target()
    }

    /// Whether standard output holds the grade's JSON (`--output json`).
    fn output_json(&self) -> bool {
        NARRATION_ON_STDERR.load(Ordering::Relaxed)
    }

    fn target_name(&self) -> String {
        self.target().to_string()
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        self.runtime.block_on(future)
    }

    /// `kinesis-lab ARGS` on this run's target.
    fn kinesis_lab(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).args(&self.target_args);
        command
    }

    /// Runs a `kinesis-lab` command in the foreground, shown as a person
    /// would type it, its stderr on the terminal; its output.
    fn foreground(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        say!("$ kinesis-lab {}", shown(args));
        self.kinesis_lab(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))
    }

    /// Runs a `kinesis-lab` command in the foreground, showing it; returns its
    /// stdout. Its stderr goes straight to the terminal, so that its progress
    /// (streams becoming ACTIVE, sessions put, Firehose's countdown) shows live.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.foreground(args)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        say!(raw "{stdout}");
        if !output.status.success() {
            bail!(
                "`kinesis-lab {}` failed ({})",
                args.first().unwrap_or(&""),
                output.status
            );
        }
        Ok(stdout)
    }

    /// Runs a command that prints one JSON object, shown as a person would
    /// type it; returns the object, whatever the command's exit status.
    fn run_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = self.foreground(args)?;
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "`kinesis-lab {}` did not print its JSON ({}): {}",
                args.first().unwrap_or(&""),
                output.status,
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Runs a command quietly and returns its stdout.
    fn output(&self, args: &[&str]) -> anyhow::Result<String> {
        let bin = &self.bin;
        let target = &self.target_args;
        Ok(cmd!(self.sh, "{bin} {args...} {target...}")
            .quiet()
            .ignore_stderr()
            .read()?)
    }

    /// Runs a command until it ends or the user presses Ctrl+C.
    fn run_until_interrupted(&self, args: &[&str]) -> anyhow::Result<()> {
        say!("$ kinesis-lab {}   (Ctrl+C to stop)", shown(args));
        let status = self.kinesis_lab(args).status()?;
        // Ctrl+C reaches both; the command stops cleanly, and so do we.
        if !status.success() && status.code().is_some() {
            bail!("`kinesis-lab {}` failed ({status})", args[0]);
        }
        Ok(())
    }

    /// Starts a program in the background, its output prefixed with its name.
    fn spawn(&self, name: &'static str, args: &[&str]) -> anyhow::Result<Background> {
        say!("$ kinesis-lab {} &", shown(args));
        spawn(name, self.kinesis_lab(args))
    }
}

/// Starts a program in the background, its output prefixed with its name and
/// kept for later.
fn spawn(name: &'static str, mut command: Command) -> anyhow::Result<Background> {
    {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let lines = seen.clone();
        let threads = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    say!("  {name} | {line}");
                    lines.lock().expect("lock").push(line);
                }
            }),
            {
                let stderr = stderr.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(err).lines().map_while(Result::ok) {
                        eprintln!("  {name} | {line}");
                        let mut all = stderr.lock().expect("lock");
                        all.push_str(&line);
                        all.push('\n');
                    }
                })
            },
        ];
        Ok(Background {
            name,
            child,
            stdout: seen,
            stderr,
            threads,
        })
    }
}

impl Drop for LabSession<'_> {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            say!("\nStopping the emulator (Firehose writes what it still buffers)...");
            self.runtime.block_on(emulator.shutdown());
        }
    }
}

/// A program running beside the walkthrough.
struct Background {
    name: &'static str,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Waits until the consumer has printed a record for every key.
    fn wait_for_keys(&self, keys: &[String], timeout: Duration) -> anyhow::Result<usize> {
        let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let look = || {
            let lines = self.stdout.lock().expect("lock");
            let seen = lines
                .iter()
                .filter(|line| line.starts_with("shardId-"))
                .filter_map(|line| line.split_whitespace().nth(2))
                .filter(|key| wanted.contains(key))
                .collect::<HashSet<_>>()
                .len();
            anyhow::Ok(if seen == wanted.len() {
                Look::Ready(seen)
            } else {
                Look::NotYet(seen)
            })
        };
        match Patience::new(timeout, Duration::from_millis(100)).wait_blocking(look)? {
            Ok(seen) => Ok(seen),
            Err(seen) => bail!(
                "the {} saw {seen} of the {} records put within {timeout:?}",
                self.name,
                wanted.len()
            ),
        }
    }

    /// Ctrl+C, then waits; returns the lines it printed on stdout.
    fn stop(self) -> anyhow::Result<Vec<String>> {
        let name = self.name;
        let (status, stdout, _) = self.stop_within(Duration::from_secs(30))?;
        if status != "exit status: 0" {
            bail!("the {name} ended with {status}");
        }
        Ok(stdout)
    }

    /// Ctrl+C unless it has ended already, and a kill if it has not ended
    /// within `grace`; its exit status, stdout lines and stderr.
    fn stop_within(mut self, grace: Duration) -> anyhow::Result<(String, Vec<String>, String)> {
        // A learner's command runs under `sh -c`, which may have a child of
        // its own: the signal goes to both.
        let pid = self.child.id().to_string();
        let signal = |signal: &str| {
            let _ = Command::new("pkill").args([signal, "-P", &pid]).status();
            let _ = Command::new("kill").args([signal, &pid]).status();
        };
        if self.child.try_wait()?.is_none() {
            signal("-INT");
        }
        let deadline = Instant::now() + grace;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                signal("-KILL");
                break self.child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Its last lines, unless something it started still holds the pipes.
        let drained = Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|thread| !thread.is_finished()) && Instant::now() < drained {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stdout = self.stdout.lock().expect("lock").clone();
        let stderr = self.stderr.lock().expect("lock").clone();
        Ok((status.to_string(), stdout, stderr))
    }
}

/// A command line as a person would type it: long JSON shortened.
fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|arg| {
            if arg.contains(' ') || arg.contains('"') {
                let flat: String = arg.split_whitespace().collect::<Vec<_>>().join(" ");
                if flat.chars().count() > 60 {
                    format!("'{}...'", flat.chars().take(57).collect::<String>())
                } else {
                    format!("'{flat}'")
                }
            } else {
                arg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // CI once failed because the learner tests' `cargo xtask lab` built
    // `kinesis-lab` again and re-linked it under the tests running it.
    #[test]
    fn a_named_binary_is_run_without_building_one() {
        // An empty directory: a build there would fail, as it has no Cargo.toml.
        let dir = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        sh.change_dir(dir.path());
        let bin = dir.path().join("kinesis-lab");
        std::fs::write(&bin, "").unwrap();
        assert_eq!(
            kinesis_lab_binary(&sh, dir.path(), Some(bin.clone())).unwrap(),
            bin
        );
    }

    #[test]
    fn a_named_binary_that_is_not_there_is_refused_by_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        let missing = dir.path().join("nothing-here");
        let err = kinesis_lab_binary(&sh, dir.path(), Some(missing.clone())).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("KINESIS_LAB_BIN"), "{message}");
        assert!(message.contains(&missing.display().to_string()), "{message}");
    }
}
