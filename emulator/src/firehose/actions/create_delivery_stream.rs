//! CreateDeliveryStream: a new delivery stream, `CREATING` at first and `ACTIVE`
//! after a short delay, as on AWS, but answered at once.
//!
//! For a Kinesis source, the position in every shard is taken before the answer
//! goes back: records put on the stream from now on are delivered, records put
//! before are not (Firehose reads from `LATEST`).
//!
//! A restart on a durable data directory creates each saved stream again from
//! its saved request ([`restore`]), resuming where S3 last took an object.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::firehose::delivery::source::{KinesisSource, SourceError};
use crate::firehose::delivery::{self, Delivery, Record, Source};
use crate::firehose::destination::S3Destination;
use crate::firehose::encryption::Encryption;
use crate::firehose::error::FirehoseError;
use crate::firehose::state::{Checkpoint, Saved, StreamState};
use crate::firehose::validate::{self, KINESIS_STREAM_ARN_PATTERN, ROLE_ARN_PATTERN};
use crate::firehose::{DeliveryStream, Firehose, StreamKind, tags};

static KINESIS_STREAM_ARN: LazyLock<Regex> = LazyLock::new(|| validate::anchored(KINESIS_STREAM_ARN_PATTERN));
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| validate::anchored(ROLE_ARN_PATTERN));

/// Destinations AWS has and this emulator does not.
const OTHER_DESTINATIONS: &[&str] = &[
    "RedshiftDestinationConfiguration",
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "HttpEndpointDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
];

pub async fn execute(firehose: &Firehose, input: Value) -> Result<Value, FirehoseError> {
    create(firehose, input, None).await
}

/// A saved delivery stream coming back after a restart.
struct Restoring {
    state: Arc<StreamState>,
    version_id: u64,
    created_at: DateTime<Utc>,
    committed: Checkpoint,
}

/// Creates a saved delivery stream again, ACTIVE at once, resuming after the
/// last object S3 took. An object that was being written when the last run
/// stopped counts as taken if S3 holds it.
pub async fn restore(firehose: &Firehose, state: StreamState, saved: Saved) -> Result<(), FirehoseError> {
    let (mut committed, pending) = state.position().map_err(|err| {
        FirehoseError::invalid_argument(format!("its saved position cannot be read: {err}"))
    })?;
    if let Some(pending) = pending {
        let written = firehose
            .clients()
            .s3
            .head_object()
            .bucket(&pending.bucket)
            .key(&pending.key)
            .send()
            .await
            .is_ok();
        if written {
            tracing::info!(
                delivery_stream = %saved.name,
                key = %pending.key,
                "the last object was written before the stop; its records are not delivered again"
            );
            committed = pending.checkpoint;
        }
    }
    let restoring = Restoring {
        state: Arc::new(state),
        version_id: saved.version_id,
        created_at: DateTime::from_timestamp_millis(saved.created_at_ms).unwrap_or_else(Utc::now),
        committed,
    };
    create(firehose, saved.request, Some(restoring)).await.map(|_| ())
}

async fn create(
    firehose: &Firehose,
    request: Value,
    restoring: Option<Restoring>,
) -> Result<Value, FirehoseError> {
    let input = validate::body(request.clone())?;
    let name = validate::delivery_stream_name(&input, "deliveryStreamName")?.to_owned();
    let kind = validate::delivery_stream_type(&input)?.unwrap_or("DirectPut");

    if let Some(other) = OTHER_DESTINATIONS
        .iter()
        .find(|key| input.get(**key).is_some_and(|v| !v.is_null()))
    {
        return Err(FirehoseError::invalid_argument(format!(
            "{other} is not supported by the kinesis-lab emulator; it delivers to S3 only"
        )));
    }
    let tags = tags::parse(&input, "Tags", "tags")?.unwrap_or_default();
    let encryption = match validate::opt_object(
        &input,
        "DeliveryStreamEncryptionConfigurationInput",
        "deliveryStreamEncryptionConfigurationInput",
    )? {
        None => Encryption::default(),
        Some(_) if kind != "DirectPut" => {
            return Err(FirehoseError::invalid_argument(
                "Server-side encryption is only supported for DirectPut delivery streams; a \
                 KinesisStreamAsSource stream relies on its Kinesis stream's encryption",
            ));
        }
        Some(config) => {
            let settle = match restoring {
                Some(_) => std::time::Duration::ZERO,
                None => firehose.options().activation_delay,
            };
            Encryption::start(config, "deliveryStreamEncryptionConfigurationInput", settle)?
        }
    };
    let s3 = validate::opt_object(&input, "S3DestinationConfiguration", "s3DestinationConfiguration")?;
    let extended = validate::opt_object(
        &input,
        "ExtendedS3DestinationConfiguration",
        "extendedS3DestinationConfiguration",
    )?;
    let destination = match (s3, extended) {
        (Some(config), None) => S3Destination::from_config(
            config,
            "s3DestinationConfiguration",
            false,
            &firehose.options().lambdas,
        )?,
        (None, Some(config)) => S3Destination::from_config(
            config,
            "extendedS3DestinationConfiguration",
            true,
            &firehose.options().lambdas,
        )?,
        (Some(_), Some(_)) => {
            return Err(FirehoseError::invalid_argument(
                "Exactly one destination configuration is supported for a Firehose",
            ));
        }
        (None, None) => {
            return Err(FirehoseError::invalid_argument(
                "A destination is required: S3DestinationConfiguration or ExtendedS3DestinationConfiguration",
            ));
        }
    };

    if firehose.streams().contains_key(&name) {
        return Err(FirehoseError::already_exists(&name, firehose.account_id()));
    }

    let source_config = validate::opt_object(
        &input,
        "KinesisStreamSourceConfiguration",
        "kinesisStreamSourceConfiguration",
    )?;
    let (kind, source) = match kind {
        "DirectPut" => {
            if source_config.is_some() {
                return Err(FirehoseError::invalid_argument(
                    "KinesisSourceStreamConfig is only applicable for KinesisStreamAsSource stream type",
                ));
            }
            let (sender, receiver) = mpsc::unbounded_channel();
            if let Some(restoring) = &restoring {
                // What was acknowledged and not yet delivered goes first.
                let unsent = restoring
                    .state
                    .unsent(restoring.committed.direct)
                    .map_err(|err| {
                        FirehoseError::invalid_argument(format!("its record log cannot be read: {err}"))
                    })?;
                if !unsent.is_empty() {
                    tracing::info!(delivery_stream = %name, "{} records put before the stop are delivered now", unsent.len());
                }
                let records = unsent
                    .into_iter()
                    .map(|unsent| Record {
                        data: unsent.data,
                        arrival: unsent.arrival,
                        origin: Checkpoint {
                            direct: Some(unsent.number),
                            ..Checkpoint::default()
                        },
                    })
                    .collect();
                let _ = sender.send(records);
            }
            (StreamKind::DirectPut { sender }, Source::DirectPut(receiver))
        }
        "KinesisStreamAsSource" => {
            let config = source_config.ok_or_else(|| {
                FirehoseError::invalid_argument(
                    "KinesisStreamSourceConfiguration is required for a KinesisStreamAsSource delivery stream",
                )
            })?;
            let member = "kinesisStreamSourceConfiguration.kinesisStreamARN";
            let stream_arn = validate::req_str(config, "KinesisStreamARN", member)?;
            validate::length(member, stream_arn, 1, 512)?;
            validate::pattern(
                member,
                stream_arn,
                &KINESIS_STREAM_ARN,
                KINESIS_STREAM_ARN_PATTERN,
            )?;
            let member = "kinesisStreamSourceConfiguration.roleARN";
            let role_arn = validate::req_str(config, "RoleARN", member)?;
            validate::length(member, role_arn, 1, 512)?;
            validate::pattern(member, role_arn, &ROLE_ARN, ROLE_ARN_PATTERN)?;
            let resume = restoring.as_ref().map(|r| (r.created_at, &r.committed));
            let source = open_source(firehose, stream_arn, resume).await?;
            let kind = StreamKind::KinesisStreamAsSource {
                stream_arn: stream_arn.to_owned(),
                role_arn: role_arn.to_owned(),
            };
            (kind, Source::Kinesis(Box::new(source)))
        }
        other => {
            return Err(FirehoseError::invalid_argument(format!(
                "DeliveryStreamType {other} is not supported by the kinesis-lab emulator"
            )));
        }
    };

    let arn = firehose.arn(&name);
    let mut streams = firehose.streams();
    // Another request may have created the same name while the source was opened.
    if streams.contains_key(&name) {
        return Err(FirehoseError::already_exists(&name, firehose.account_id()));
    }
    let (version_id, created_at, active_at) = match &restoring {
        Some(restoring) => (restoring.version_id, restoring.created_at, Instant::now()),
        None => (
            1,
            Utc::now(),
            Instant::now() + firehose.options().activation_delay,
        ),
    };
    let state = match (restoring, firehose.state_root()) {
        (Some(restoring), _) => Some((restoring.state, restoring.committed)),
        (None, Some(root)) => {
            let saved = Saved {
                name: name.clone(),
                version_id,
                created_at_ms: created_at.timestamp_millis(),
                request: request.clone(),
            };
            let state = StreamState::create(root, &saved)
                .map_err(|err| FirehoseError::not_saved("the delivery stream", &err))?;
            Some((Arc::new(state), Checkpoint::default()))
        }
        (None, None) => None,
    };
    let destination = Arc::new(destination);
    let delivery = Delivery::start(
        arn.clone(),
        version_id,
        destination.clone(),
        source,
        delivery::Services {
            s3: firehose.clients().s3.clone(),
            logs: firehose.logs().clone(),
            cloudwatch: firehose.cloudwatch().clone(),
        },
        firehose.options().clone(),
        state.clone(),
    );
    streams.insert(
        name.clone(),
        DeliveryStream {
            name,
            arn: arn.clone(),
            kind,
            version_id,
            created_at,
            active_at,
            destination,
            delivery: Arc::new(delivery),
            state: state.map(|(state, _)| state),
            request,
            tags,
            encryption,
            updated_at: None,
        },
    );
    Ok(json!({"DeliveryStreamARN": arn}))
}

/// Finds the source stream in this emulator's account and region, and takes
/// its position: its end, or after a restart, where delivery had got to.
async fn open_source(
    firehose: &Firehose,
    stream_arn: &str,
    resume: Option<(DateTime<Utc>, &Checkpoint)>,
) -> Result<KinesisSource, FirehoseError> {
    // arn:aws:kinesis:<region>:<account>:stream/<name>, checked by the pattern.
    let fields: Vec<&str> = stream_arn.splitn(6, ':').collect();
    let (region, account) = (fields[3], fields[4]);
    let stream = fields[5].trim_start_matches("stream/");
    let not_found = || {
        FirehoseError::invalid_argument(format!(
            "Stream {stream} under account {account} not found in {region}."
        ))
    };
    if region != firehose.region() || account != firehose.account_id() {
        return Err(not_found());
    }
    let client = firehose.clients().kinesis.clone();
    let idle = firehose.options().poll_interval;
    let opened = match resume {
        Some((created_at, committed)) => {
            KinesisSource::resume(client, stream, created_at, &committed.shards, idle).await
        }
        None => KinesisSource::open_at_latest(client, stream, idle).await,
    };
    let arrivals = firehose.arrivals().watch(stream);
    opened
        .map(|source| source.woken_by(arrivals))
        .map_err(|err| match err {
            SourceError::StreamNotFound(_) => not_found(),
            other => FirehoseError::invalid_argument(other.to_string()),
        })
}
