//! `kinesis-lab lab`: the lab, step by step, with the lab's programs or a
//! learner's own (the walkthrough itself is [`kinesis_lab::lab`]).

use std::path::PathBuf;
use std::process::ExitCode;

use super::Output;
use super::TargetArgs;
use kinesis_lab::lab::notebook::Infra;
use kinesis_lab::lab::{self, LabError, Options, Timing, Walkthrough};
use kinesis_lab::lab_names::{CLI_STREAM, DEFAULT_BUFFER_INTERVAL};

/// Walk through the lab, step by step: part1, part2, or one step of either
///
/// Each step says which step of the lab it is and what it does, then runs the
/// kinesis-lab command you would type (shown after a $). Programs that have a
/// terminal of their own in the lab (the consumer, the ETL) run in the
/// background, their lines prefixed with their name.
///
/// Targets: the emulator at 127.0.0.1:4566 (started inside the walkthrough
/// when nothing answers there), --endpoint-url URL (LocalStack, an emulator
/// elsewhere), or --aws (real AWS, which costs money).
///
/// Your own programs, graded step by step:
///   kinesis-lab lab part1 --producer-command "python producer_from_cli.py" \
///                         --consumer-command "python consumer_from_cli.py"
///   kinesis-lab lab part2 --fast --etl-command "python consumer.py"
///   kinesis-lab lab part2 --notebook C2_W2_Lab_1.ipynb --python .venv/bin/python
/// The exit status is 0 when every step passes, 1 when one fails.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    part: Part,

    /// Where the run keeps its files: the sessions sent, the dead letters.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "kinesis-lab-data/lab"
    )]
    work_dir: PathBuf,

    /// Where the walkthrough's own emulator keeps its streams and delivered
    /// objects, when it starts one.
    #[arg(long, global = true, value_name = "DIR", default_value = "kinesis-lab-data")]
    data_dir: PathBuf,

    /// With your own programs: text for people, or json to print the grade
    /// as one JSON object on standard output (the walkthrough's lines then
    /// go to standard error).
    #[arg(long, global = true, value_enum, default_value = "text")]
    output: Output,

    #[command(flatten)]
    target: TargetArgs,
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
        /// background: COMMAND --stream NAME. Every record your producer put
        /// must show up in what it writes, on standard output or standard
        /// error, in any format.
        #[arg(long, value_name = "COMMAND", requires = "producer_command")]
        consumer_command: Option<String>,
    },
    /// Part 2: the streaming ETL with Firehose to S3 (steps 2.1 to 2.3).
    Part2 {
        #[command(subcommand)]
        step: Option<Part2Step>,

        /// Compress the timing: a session every 0.2 s on average, Firehose
        /// every second. Without it the timing is the lab's (a session every
        /// 10 s, Firehose every 60 s).
        #[arg(long, global = true)]
        fast: bool,

        /// How many sessions the producer sends.
        #[arg(long, global = true, default_value_t = 30)]
        sessions: u64,

        /// Run N ETL workers that share the source's shards through a KCL
        /// lease table in DynamoDB (etl --lease-table), and show how they
        /// share them. 1: the lab's one ETL.
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u8).range(1..=8), conflicts_with = "etl_command")]
        workers: u8,

        /// Your own ETL (step 2.2), run as the lab runs it: COMMAND
        /// --source_stream NAME --dest_streams JSON, with AWS_ENDPOINT_URL,
        /// test credentials and the region in its environment. It is fed the
        /// producer's sessions, stopped, and graded step by step on what it
        /// wrote (whatever it prints).
        #[arg(long, value_name = "COMMAND")]
        etl_command: Option<String>,

        /// Your own notebook (steps 2.1.1 to 2.1.5): every code cell runs in
        /// order in a Jupyter kernel, with AWS_ENDPOINT_URL, test credentials
        /// and the region in its environment; then the buckets, streams and
        /// delivery streams it made are graded, parameter by parameter. With
        /// --etl-command too, part 2 goes on with your ETL on them.
        #[arg(long, value_name = "FILE.ipynb", conflicts_with_all = ["infra_command", "workers"])]
        notebook: Option<PathBuf>,

        /// Your own script that makes the part 2 resources (as the notebook
        /// does), run as COMMAND with the same environment, and graded the
        /// same way.
        #[arg(long, value_name = "COMMAND", conflicts_with = "workers")]
        infra_command: Option<String>,

        /// The Python whose Jupyter kernel runs --notebook: it needs
        /// nbclient, ipykernel and boto3.
        #[arg(long, value_name = "PYTHON", default_value = "python3")]
        python: String,
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

/// Runs the walkthrough. Its exit code is its verdict: a grade that fails is
/// a result (its table, then exit status 1), not an error.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let walk = Walkthrough::open(Options {
        target: args.target.target(),
        work_dir: args.work_dir,
        emulator_data_dir: args.data_dir,
        json: args.output == Output::Json,
    })?;
    let walk = &walk;
    let done = |result: Result<(), LabError>| result.map(|()| ExitCode::SUCCESS);
    let graded = |result: Result<bool, LabError>| {
        result.map(|passed| match passed {
            true => ExitCode::SUCCESS,
            false => ExitCode::FAILURE,
        })
    };
    let code = match args.part {
        Part::Part1 {
            step: None,
            shards,
            producer_command: Some(producer),
            consumer_command: Some(consumer),
        } => graded(lab::learner::part1(walk, shards, &producer, &consumer)),
        Part::Part1 { step, shards, .. } => match step {
            None => done(lab::part1::walk(walk, shards)),
            Some(Part1Step::CreateStream) => done(lab::part1::create_stream(walk, shards)),
            Some(Part1Step::Consume) => {
                done(walk.run_until_interrupted(&["consume", "--stream", CLI_STREAM]))
            }
            Some(Part1Step::Produce) => done(lab::part1::produce(walk).map(|_| ())),
        },
        Part::Part2 {
            step,
            fast,
            sessions,
            workers,
            etl_command,
            notebook,
            infra_command,
            python,
        } => {
            let mut timing = Timing::new(fast, sessions, workers.into());
            let infra = match (notebook, infra_command) {
                (Some(path), _) => Some(Infra::Notebook { path, python }),
                (None, Some(command)) => Some(Infra::Command(command)),
                (None, None) => None,
            };
            match (step, etl_command) {
                (None, etl) if infra.is_some() => {
                    let infra = infra.expect("matched");
                    graded(
                        lab::notebook::part2_1(walk, &infra).and_then(|passed| match (passed, etl) {
                            (true, Some(etl)) => {
                                // Firehose buffers as the learner's call said: the lab's 60 s.
                                timing.buffer_interval = DEFAULT_BUFFER_INTERVAL as u32;
                                lab::learner::part2(walk, &timing, &etl)
                            }
                            (passed, _) => Ok(passed),
                        }),
                    )
                }
                (None, Some(etl)) => graded(lab::learner::part2(walk, &timing, &etl)),
                (None, None) => done(lab::part2::walk(walk, &timing)),
                (Some(Part2Step::Infra), _) => done(lab::part2::infra(walk, &timing)),
                (Some(Part2Step::Produce), _) => done(lab::part2::produce(walk, &timing).map(|_| ())),
                (Some(Part2Step::Etl), _) => done(walk.run_until_interrupted(&["etl"])),
                (Some(Part2Step::Peek), _) => done(lab::part2::peek(walk)),
                (Some(Part2Step::Verify), _) => done(walk.run(&["verify"]).map(|_| ())),
            }
        }
        Part::Teardown => done(lab::teardown::walk(walk)),
    };
    Ok(code?)
}
