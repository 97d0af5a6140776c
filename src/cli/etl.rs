//! `kinesis-lab etl`: the lab's streaming ETL, `consumer.py` (step 2.2).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::NamesArgs;
use super::TargetArgs;
use kinesis_lab::aws_error::AwsError;
use kinesis_lab::batch_writer::WriteError;
use kinesis_lab::etl::{self, DeadLetterSink, EtlError, EtlOptions, LeaseOptions};
use kinesis_lab::lab_names::LabNames;
use kinesis_lab::lease::LeaseSettings;
use kinesis_lab::lease::worker::default_worker_id;
use kinesis_lab::routing::Destinations;
use kinesis_lab::shard_reader::ReadError;
use kinesis_lab::stream_name::StreamName;

/// Run the lab's streaming ETL: enrich every session and route it (step 2.2)
///
/// Reads every shard of the source stream, adds processing_timestamp and the
/// three totals to each session, and writes it to the USA stream when its
/// country is exactly "USA", else to the international one. Writes go in
/// PutRecords batches (500 records, 5 MiB at most), partition key session_id;
/// records Kinesis throttles are sent again until they are in.
///
/// A record that is not a valid session never stops the ETL: it goes to the
/// dead-letter sink with the reason, shard and sequence number. So does a
/// session over 1 MiB once enriched, and any record a destination refuses as
/// invalid. A dead letter too big for --dead-letter-stream keeps the first
/// 512 KiB of its record, with the record's size and SHA-256. With
/// --checkpoint, the position in each shard is saved once its records are
/// written, and a restarted ETL resumes there. Ctrl+C or SIGTERM lets the
/// batch in hand finish for 3 s at most; one not written by then is read
/// again on restart.
///
/// Without flags it uses the lab's streams, as the lab runs it:
///   kinesis-lab etl --source-stream de-c2w2lab1-kinesis-data-stream \
///     --dest-streams '{"USA": "de-c2w2lab1-usa-data-stream", "International": "de-c2w2lab1-international-data-stream"}'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group(clap::ArgGroup::new("positions").args(["checkpoint", "lease_table"])))]
pub struct Args {
    /// The stream to read (the lab spells it --source_stream)
    /// [default: de-c2w2lab1-kinesis-data-stream].
    #[arg(long = "source-stream", alias = "source_stream", value_name = "NAME")]
    pub source_stream: Option<StreamName>,

    /// Where each route goes, as the lab writes it (the lab spells it --dest_streams)
    /// [default: the lab's USA and international streams].
    #[arg(long = "dest-streams", alias = "dest_streams", value_name = "JSON")]
    pub dest_streams: Option<Destinations>,

    /// Send records that are not valid sessions to this stream...
    #[arg(long, value_name = "NAME")]
    pub dead_letter_stream: Option<StreamName>,

    /// ...or else append them, one JSON object a line, to this file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "etl-dead-letters.jsonl",
        conflicts_with = "dead_letter_stream"
    )]
    pub dead_letter_file: PathBuf,

    /// Save the position in each shard to this file, and resume from it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Start over: delete the positions saved in --checkpoint, or the lease
    /// table of --lease-table with its checkpoints, and read from --from, as
    /// on a first run (for a stream made anew since they were saved). Stop
    /// every other worker of the table first.
    #[arg(long, requires = "positions")]
    pub forget_checkpoint: bool,

    /// Where to start in shards with no checkpoint: trim-horizon (everything
    /// still in the stream, as the lab's ETL does), latest (only new records),
    /// or a time in RFC 3339 (the first record at or after it).
    #[arg(long, value_name = "WHERE", default_value = "trim-horizon")]
    pub from: super::StartFrom,

    /// Read with enhanced fan-out: Kinesis pushes each shard's records to this
    /// ETL over HTTP/2 (SubscribeToShard) as they arrive, instead of the ETL
    /// asking 5 times a second (GetRecords). Lower latency, and a read
    /// budget of its own (2 MiB/s per shard) that other readers do not share.
    /// Registers --consumer-name on the source stream, or reuses it. With
    /// --lease-table, each worker subscribes to the shards it holds, as a KCL
    /// worker does by default.
    #[arg(long)]
    pub efo: bool,

    /// The enhanced fan-out consumer to register or reuse.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "kinesis-lab-etl",
        requires = "efo"
    )]
    pub consumer_name: String,

    /// Share the source's shards with the other workers of this lease table,
    /// as the Kinesis Client Library does: a DynamoDB table (made if missing,
    /// on-demand) with one lease per shard. This worker reads only the shards
    /// whose lease it holds, keeps its checkpoints in them, takes the leases
    /// of workers that are gone and steals toward an even share. Start as many
    /// workers as you like, on one machine or several; a KCL application
    /// whose applicationName is NAME shares the table too. The leases are
    /// renewed by a task of their own, whatever the batch in hand is doing.
    /// The table remembers its stream, and refuses another (or one made anew
    /// under the same name). Ctrl+C or SIGTERM hands the leases back, for the
    /// others to take at once. (The KCL's applicationName.)
    #[arg(
        long,
        visible_alias = "application-name",
        value_name = "NAME",
        value_parser = lease_table_name,
        conflicts_with = "checkpoint"
    )]
    pub lease_table: Option<String>,

    /// Reach the lease table at this endpoint instead of the target's (a
    /// DynamoDB of its own, such as DynamoDB Local). (The KCL's
    /// dynamoDBEndpoint.)
    #[arg(
        long,
        visible_alias = "dynamodb-endpoint",
        value_name = "URL",
        requires = "lease_table"
    )]
    pub dynamodb_endpoint_url: Option<String>,

    /// This worker's name in the lease table [default: HOST-PID]. (The KCL's
    /// workerIdentifier.)
    #[arg(
        long,
        visible_alias = "worker-identifier",
        value_name = "ID",
        requires = "lease_table"
    )]
    pub worker_id: Option<String>,

    /// A lease whose counter has not moved for this long is expired: its
    /// worker is taken to be gone, and another takes its shard. A bare number
    /// is milliseconds. (The KCL's failoverTimeMillis, 10 s.)
    #[arg(
        long,
        visible_alias = "failover-time-millis",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = duration_or_millis,
        requires = "lease_table"
    )]
    pub failover_time: Duration,

    /// How often this worker renews its leases [default: a third of
    /// --failover-time, less 25 ms, as the KCL does]. Not a KCL setting: the
    /// KCL derives it from failoverTimeMillis; here it can be set for tests.
    #[arg(long, value_name = "DURATION", value_parser = duration_or_millis, requires = "lease_table")]
    pub renew_every: Option<Duration>,

    /// How often this worker looks for leases to take or steal [default:
    /// twice --failover-time, as the KCL does]. Not a KCL setting: the KCL
    /// derives it from failoverTimeMillis; here it can be set for tests.
    #[arg(long, value_name = "DURATION", value_parser = duration_or_millis, requires = "lease_table")]
    pub take_every: Option<Duration>,

    /// The most leases this worker steals from another in one look, toward
    /// an even share. (The KCL's maxLeasesToStealAtOneTime, 1.)
    #[arg(
        long,
        visible_alias = "max-leases-to-steal-at-one-time",
        value_name = "N",
        default_value_t = 1,
        requires = "lease_table"
    )]
    pub max_steal: usize,

    /// text: status lines for people on standard error; json: the same, as
    /// one JSON object a line on standard output (`"event"`: started, status,
    /// stopped), for scripts.
    #[arg(long, value_enum, default_value = "text")]
    pub output: super::Output,

    // The default streams take the suffix, as `infra up --name-suffix` names them.
    #[command(flatten)]
    pub names: NamesArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// A lease table's name, checked as DynamoDB would, before any request.
fn lease_table_name(name: &str) -> Result<String, String> {
    kinesis_lab::lease::check_table_name(name).map(|()| name.to_owned())
}

/// A duration as `10s` or `500ms`, or a bare number of milliseconds, as the
/// KCL's settings are written.
fn duration_or_millis(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(millis) => Ok(Duration::from_millis(millis)),
        Err(_) => {
            humantime::parse_duration(text).map_err(|err| format!("{err}: write it as 10s, 500ms or 10000"))
        }
    }
}

/// The lease settings the flags give: the KCL's, as far as they are not.
fn lease_settings(args: &Args) -> anyhow::Result<LeaseSettings> {
    let mut settings = LeaseSettings::for_failover(args.failover_time);
    if let Some(every) = args.renew_every {
        settings.renew_every = every;
    }
    if let Some(every) = args.take_every {
        settings.take_every = every;
    }
    settings.max_steal = args.max_steal;
    anyhow::ensure!(
        settings.renew_every < settings.failover_time,
        "--renew-every {} is not shorter than --failover-time {}: the leases would expire between renewals",
        humantime::format_duration(settings.renew_every),
        humantime::format_duration(settings.failover_time)
    );
    Ok(settings)
}

/// How often the status line is printed when standard error is not a terminal.
const STATUS_EVERY: Duration = Duration::from_secs(5);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Stream names do not depend on the account, so the defaults are known
    // before connecting.
    let names: LabNames = args.names.names("")?;
    let settings = lease_settings(&args)?;
    let mut options = EtlOptions {
        source: match &args.source_stream {
            Some(stream) => stream.clone(),
            None => names.source_stream(),
        },
        destinations: args.dest_streams.clone().unwrap_or_else(|| names.destinations()),
        dead_letters: match &args.dead_letter_stream {
            Some(stream) => DeadLetterSink::Stream(stream.clone()),
            None => DeadLetterSink::File(args.dead_letter_file.clone()),
        },
        checkpoint: args.checkpoint.clone(),
        start: args.from.0,
        fan_out: args.efo.then(|| args.consumer_name.clone()),
        leases: None,
    };
    if let (true, Some(path)) = (args.forget_checkpoint, &args.checkpoint) {
        match std::fs::remove_file(path) {
            Ok(()) => eprintln!("forgot the positions saved in {}", path.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => anyhow::bail!("cannot delete the checkpoint {}: {err}", path.display()),
        }
    }
    super::runtime()?.block_on(async {
        let stop = super::stop_signal()?;
        let clients = args.target.target().connect().await?;
        let dynamodb = match &args.dynamodb_endpoint_url {
            Some(url) => aws_sdk_dynamodb::Client::from_conf(
                clients.dynamodb.config().to_builder().endpoint_url(url).build(),
            ),
            None => clients.dynamodb.clone(),
        };
        options.leases = args.lease_table.as_ref().map(|table| LeaseOptions {
            dynamodb: dynamodb.clone(),
            table: table.clone(),
            worker_id: args.worker_id.clone().unwrap_or_else(default_worker_id),
            settings: settings.clone(),
            forget: args.forget_checkpoint,
        });
        let dead_letters = match &options.dead_letters {
            DeadLetterSink::Stream(stream) => format!("stream {stream}"),
            DeadLetterSink::File(path) => path.display().to_string(),
        };
        let json = args.output == super::Output::Json;
        if json {
            let started = serde_json::json!({
                "event": "started",
                "source": options.source.as_str(),
                "USA": options.destinations.usa.as_str(),
                "International": options.destinations.international.as_str(),
                "dead_letters": dead_letters,
            });
            println!("{started}");
        } else {
            eprintln!(
                "ETL: {} -> USA {}, International {}; bad records to {dead_letters}",
                options.source, options.destinations.usa, options.destinations.international,
            );
        }
        let progress = indicatif::ProgressBar::new_spinner();
        let terminal = std::io::stderr().is_terminal() && !json;
        let mut last_line = Instant::now();
        let stats = etl::run(&clients.kinesis, &options, stop, |stats| {
            if json {
                if last_line.elapsed() >= STATUS_EVERY {
                    println!("{}", stats.to_json("status"));
                    last_line = Instant::now();
                }
            } else if terminal {
                progress.set_message(stats.to_string());
                progress.tick();
            } else if last_line.elapsed() >= STATUS_EVERY {
                eprintln!("{stats}");
                last_line = Instant::now();
            }
        })
        .await;
        progress.finish_and_clear();
        let stats = stats.map_err(|err| match err {
            EtlError::Read(ReadError::StreamNotFound(stream))
            | EtlError::Write(WriteError::StreamMissing { stream }) => {
                AwsError::stream_missing(stream, &clients.target).into()
            }
            EtlError::Read(ReadError::UnknownPosition { .. }) => anyhow::anyhow!(
                "{err}\nTo start over from --from (trim-horizon unless given), run the same command \
                 with --forget-checkpoint."
            ),
            err => err.into(),
        })?;
        match json {
            true => println!("{}", stats.to_json("stopped")),
            false => eprintln!("stopped: {stats}"),
        }
        Ok(ExitCode::SUCCESS)
    })
}
