//! `kinesis-lab emulator`: the embedded local AWS, in a terminal of its own.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use emulator::config::{DEFAULT_MAX_RETAINED_BYTES, DEFAULT_PORT, FirehoseOptions, KinesisOptions};
use emulator::{Config, Emulator};

/// Run a local AWS for the lab: Kinesis, Firehose, DynamoDB, S3 and CloudWatch on one port.
///
/// No account and no Docker: streams, delivery streams and buckets live in this
/// process and in --data-dir, where what Firehose delivers is written as plain
/// files (s3/<bucket>/<key>), to open with any editor.
///
/// The port is LocalStack's, so the usual tools work unchanged:
///
///   export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
///   aws --endpoint-url http://127.0.0.1:4566 kinesis list-streams
///
/// Firehose behaves as on AWS: it reads its Kinesis source from LATEST about
/// once a second, buffers by SizeInMBs and IntervalInSeconds, and names objects
/// as AWS does. Ctrl+C stops it after Firehose has written what it still
/// buffers.
///
/// What --data-dir keeps, so that a restart on it (even after kill -9) goes on
/// where the last run stopped:
///
///   kinesis/    streams, their shards and tags, and every acknowledged record
///   firehose/   delivery streams, how far each has delivered, and the records
///               PutRecord/PutRecordBatch took and Firehose has not written yet
///   s3/         buckets and objects, as plain files
///
/// With --ephemeral, only s3/ is kept and a restart starts with no streams.
///
/// Memory: records are held in memory for their stream's retention period, up
/// to --max-retained-mib; past it the oldest are trimmed, as if their
/// retention had passed.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Port to listen on; 0 picks a free one and prints it.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Address to listen on. The emulator checks no permissions: anything
    /// other than loopback lets other machines read and write your data.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Where the emulator keeps its streams, delivery streams and objects.
    #[arg(long, value_name = "DIR", default_value = "kinesis-lab-data")]
    pub data_dir: PathBuf,

    /// Keep Kinesis and Firehose in memory only: a restart starts with no
    /// streams (S3 objects are still written to --data-dir).
    #[arg(long)]
    pub ephemeral: bool,

    /// The most record data Kinesis holds in memory, in MiB, across all
    /// streams; past it the oldest records are trimmed. 0: no cap.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_RETAINED_BYTES >> 20)]
    pub max_retained_mib: u64,

    /// How often records older than their stream's retention period are
    /// removed. 0s: never.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub retention_check: Duration,

    /// The account id in ARNs and bucket names.
    #[arg(long, default_value = "000000000000")]
    pub account_id: String,

    /// The region in ARNs.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// How long a new delivery stream stays CREATING.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub firehose_activation_delay: Duration,

    /// How long a new Kinesis stream stays CREATING (and UPDATING, DELETING).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub kinesis_status_delay: Duration,

    /// Throttle writes per shard as AWS does (1 MiB/s, 1,000 records/s).
    #[arg(long)]
    pub enforce_limits: bool,

    /// The local command that stands for a Lambda function, for Firehose's
    /// Lambda record processor (this emulator has no Lambda). The command gets
    /// Firehose's transformation event as JSON on standard input and writes
    /// the function's response on standard output. Repeat for several
    /// functions: --lambda arn:aws:lambda:us-east-1:000000000000:function:f="python3 f.py"
    #[arg(long, value_name = "ARN=COMMAND", value_parser = lambda_mapping)]
    pub lambda: Vec<(String, String)>,

    /// A host name the console answers to, besides 127.0.0.1, localhost and
    /// [::1]: the name of the machine or container people reach it by (with
    /// --host 0.0.0.0), on any port (lab-box) or on one (lab-box:8080).
    /// Repeat it, or list them, comma-separated, in
    /// KINESIS_LAB_CONSOLE_HOSTS. Other names are refused, so that no web page
    /// can read the console through a name of its own.
    #[arg(
        long,
        value_name = "NAME",
        env = "KINESIS_LAB_CONSOLE_HOSTS",
        value_delimiter = ','
    )]
    pub console_host: Vec<String>,

    /// How long a shard iterator lives (AWS: 5 minutes).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub iterator_ttl: Duration,

    /// Stop, as Ctrl+C does, when standard input reaches its end. For a
    /// program that starts the emulator with a pipe on its standard input
    /// (the Python module does): when that program dies, even by kill -9,
    /// the pipe closes and the emulator stops rather than run on unowned.
    #[arg(long)]
    pub exit_with_stdin: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {}: the emulator checks no permissions, so anyone who can reach \
             this address can read and write its streams and buckets",
            args.host
        );
    }
    let config = Config {
        host: args.host,
        port: args.port,
        data_dir: Some(args.data_dir),
        durable: !args.ephemeral,
        account_id: args.account_id,
        region: args.region,
        kinesis: KinesisOptions {
            status_delay: args.kinesis_status_delay,
            enforce_limits: args.enforce_limits,
            iterator_ttl: args.iterator_ttl,
            max_retained_bytes: (args.max_retained_mib > 0).then_some(args.max_retained_mib << 20),
            retention_check_interval: (!args.retention_check.is_zero()).then_some(args.retention_check),
            ..KinesisOptions::default()
        },
        firehose: FirehoseOptions {
            activation_delay: args.firehose_activation_delay,
            lambdas: args.lambda.into_iter().collect(),
            ..FirehoseOptions::default()
        },
        console_hosts: args.console_host,
    };
    let exit_with_stdin = args.exit_with_stdin;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(config, exit_with_stdin))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, exit_with_stdin: bool) -> anyhow::Result<()> {
    let emulator = Emulator::start(config.clone()).await.map_err(|err| match err {
        emulator::StartError::Bind { ref source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            anyhow::anyhow!(
                "{err}\nIs another emulator (or LocalStack) already running? Stop it, or pick another port with --port."
            )
        }
        other => other.into(),
    })?;
    // Listen for Ctrl+C before saying we are ready: whoever reads that line may
    // press it (or send SIGINT) at once.
    let signal = super::stop_signal()?;
    let stdin_closed = async move {
        if exit_with_stdin {
            // An error (the watching thread gone) means the same: stop.
            let _ = stdin_end().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let stop = async move {
        tokio::select! {
            () = signal => {}
            () = stdin_closed => {}
        }
    };
    let url = emulator.endpoint_url();
    say(&format!(
        "kinesis-lab emulator: Kinesis, Firehose, DynamoDB, S3 and CloudWatch at {url}"
    ));
    say(&format!(
        "  account {}, region {}, credentials test / test",
        config.account_id, config.region
    ));
    say(&format!(
        "  console: {url}/_console/ (the pipeline, streams, Firehose and buckets, in a browser)"
    ));
    say(&format!(
        "  delivered objects: {}",
        emulator.data_dir().join("s3").display()
    ));
    match emulator.restored() {
        Some(restored) if restored.streams + restored.delivery_streams > 0 => say(&format!(
            "  restored from {}: {} streams with {} records, {} delivery streams",
            emulator.data_dir().display(),
            restored.streams,
            restored.records,
            restored.delivery_streams
        )),
        Some(_) => say(&format!(
            "  streams are kept in {} (--ephemeral keeps them in memory)",
            emulator.data_dir().display()
        )),
        None => say("  streams live in memory (--ephemeral): a restart starts with none"),
    }
    say(&format!("  try: aws --endpoint-url {url} kinesis list-streams"));
    say("Press Ctrl+C to stop.");
    stop.await;
    say("stopping: Firehose writes what it still buffers...");
    emulator.shutdown().await;
    say("stopped");
    Ok(())
}

/// Resolves once standard input reaches its end (or fails). Read on a thread
/// of its own, not tokio's blocking pool: a read that never returns must not
/// hold up the runtime's shutdown, and the thread dies with the process.
fn stdin_end() -> tokio::sync::oneshot::Receiver<()> {
    let (ended, end) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("stdin watch".into())
        .spawn(move || {
            // What comes in is of no use; only its end is.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = ended.send(());
        })
        .expect("cannot start a thread to watch standard input");
    end
}

/// `ARN=COMMAND`: a Lambda function's ARN and the command that stands for it.
fn lambda_mapping(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((arn, command)) if arn.starts_with("arn:") && !command.trim().is_empty() => {
            Ok((arn.to_owned(), command.to_owned()))
        }
        _ => Err(format!(
            "expected ARN=COMMAND, such as arn:aws:lambda:us-east-1:000000000000:function:f=\"python3 f.py\"; got {text:?}"
        )),
    }
}

/// A status line on stdout. Whoever started us may have stopped reading (a
/// script that only wanted the first line): that must not stop the emulator, or
/// Firehose from flushing.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
