//! How an emulator is set up: where it listens, where it keeps its state, who it
//! pretends to be, and how fast its simulated AWS is.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// LocalStack's port, so that `aws --endpoint-url http://localhost:4566`, boto3
/// scripts and `awslocal` habits carry over unchanged.
pub const DEFAULT_PORT: u16 = 4566;

/// The credentials every client uses against the emulator, as with LocalStack.
pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test";

/// The default cap on record bytes held in memory: a few hours of the lab at
/// full speed, a small part of a laptop's memory.
pub const DEFAULT_MAX_RETAINED_BYTES: u64 = 256 * 1024 * 1024;

/// AWS's default quota of open shards per account in us-east-1. ferrokinesis
/// defaults to 10, and the lab alone needs 8 (source 4, USA 2, international 2).
pub const DEFAULT_SHARD_LIMIT: u32 = 500;

/// Everything an [`Emulator`](crate::Emulator) needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Loopback by default: the emulator checks no permissions, so it should not
    /// be reachable from other machines unless someone asks for it.
    pub host: IpAddr,
    /// 0 picks a free port; the chosen one is in [`Emulator::endpoint_url`](crate::Emulator::endpoint_url).
    pub port: u16,
    /// Where S3 objects live. `None`: a temporary directory, removed at shutdown.
    pub data_dir: Option<PathBuf>,
    /// Keep Kinesis streams and their records, and Firehose's delivery streams
    /// and read positions, in `data_dir` too, so that a restart on the same
    /// directory (even after kill -9) goes on where the last run stopped.
    /// Otherwise they live in memory, and only S3 objects outlive the process.
    pub durable: bool,
    pub account_id: String,
    pub region: String,
    pub kinesis: KinesisOptions,
    pub firehose: FirehoseOptions,
    /// Host names the console answers to besides the loopback ones
    /// (`127.0.0.1`, `localhost`, `[::1]`): the names people reach it by when it
    /// listens beyond loopback, in a container say. Every other name is
    /// refused, so that a page on another site cannot point a name of its own
    /// at the emulator and read the console. Each is a name on any port
    /// (`lab-box`) or on one (`lab-box:8080`); a value no `Host` header can
    /// hold stops [`Emulator::start`](crate::Emulator::start) with
    /// [`StartError::ConsoleHost`](crate::StartError::ConsoleHost).
    pub console_hosts: Vec<String>,
}

/// The simulated Kinesis (ferrokinesis) and its AWS-like delays and limits.
#[derive(Debug, Clone)]
pub struct KinesisOptions {
    /// How long a new stream stays CREATING (and a deleted one DELETING, an
    /// updated one UPDATING).
    pub status_delay: Duration,
    pub shard_limit: u32,
    /// How long a shard iterator lives; AWS's is 5 minutes.
    pub iterator_ttl: Duration,
    /// Throttle writes per shard as AWS does (1 MB/s, 1000 records/s), answering
    /// `ProvisionedThroughputExceededException`.
    pub enforce_limits: bool,
    /// The most record bytes kept in memory, across all streams; past it, the
    /// oldest records are trimmed. `None`: no cap (memory grows with the
    /// records, for as long as their retention).
    pub max_retained_bytes: Option<u64>,
    /// How often records past their stream's retention period are removed.
    /// `None`: never.
    pub retention_check_interval: Option<Duration>,
}

/// The timing of the Firehose we simulate.
#[derive(Debug, Clone)]
pub struct FirehoseOptions {
    /// How long a new delivery stream stays CREATING before it is ACTIVE.
    pub activation_delay: Duration,
    /// How often a delivery stream reads each shard of its source; AWS reads
    /// about once a second.
    pub poll_interval: Duration,
    /// The first wait before retrying a refused S3 write; it doubles up to
    /// [`FirehoseOptions::max_retry_delay`], and jitter adds up to as much
    /// again (`shard_reader::retry::backoff`).
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// The local command that stands for each Lambda function (by ARN), for
    /// the Lambda record processor: this emulator has no Lambda.
    pub lambdas: std::collections::BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            data_dir: None,
            durable: false,
            account_id: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            kinesis: KinesisOptions::default(),
            firehose: FirehoseOptions::default(),
            console_hosts: Vec::new(),
        }
    }
}

impl Default for KinesisOptions {
    fn default() -> KinesisOptions {
        KinesisOptions {
            status_delay: Duration::from_millis(500),
            shard_limit: DEFAULT_SHARD_LIMIT,
            iterator_ttl: Duration::from_secs(300),
            enforce_limits: false,
            max_retained_bytes: Some(DEFAULT_MAX_RETAINED_BYTES),
            retention_check_interval: Some(Duration::from_secs(60)),
        }
    }
}

impl Default for FirehoseOptions {
    fn default() -> FirehoseOptions {
        FirehoseOptions {
            activation_delay: Duration::from_secs(2),
            poll_interval: Duration::from_secs(1),
            retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(10),
            lambdas: Default::default(),
        }
    }
}

impl Config {
    /// A configuration for tests: a free port, a temporary directory, no
    /// artificial delays, and Firehose polling ten times a second.
    pub fn for_tests() -> Config {
        Config {
            port: 0,
            kinesis: KinesisOptions {
                status_delay: Duration::ZERO,
                ..KinesisOptions::default()
            },
            firehose: FirehoseOptions {
                activation_delay: Duration::ZERO,
                poll_interval: Duration::from_millis(100),
                retry_delay: Duration::from_millis(50),
                max_retry_delay: Duration::from_millis(500),
                ..FirehoseOptions::default()
            },
            ..Config::default()
        }
    }
}
