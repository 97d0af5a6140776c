//! CreateDeliveryStream: a new delivery stream, `CREATING` at first and `ACTIVE`
//! after a short delay, as on AWS, but answered at once.
//!
//! For a Kinesis source, the position in every shard is taken before the answer
//! goes back: records put on the stream from now on are delivered, records put
//! before are not (Firehose reads from `LATEST`).

use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::firehose::delivery::source::{KinesisSource, SourceError};
use crate::firehose::delivery::{Delivery, Source};
use crate::firehose::destination::S3Destination;
use crate::firehose::error::FirehoseError;
use crate::firehose::validate::{self, KINESIS_STREAM_ARN_PATTERN, ROLE_ARN_PATTERN};
use crate::firehose::{DeliveryStream, Firehose, StreamKind};

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
    let input = validate::body(input)?;
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
    let s3 = validate::opt_object(&input, "S3DestinationConfiguration", "s3DestinationConfiguration")?;
    let extended = validate::opt_object(
        &input,
        "ExtendedS3DestinationConfiguration",
        "extendedS3DestinationConfiguration",
    )?;
    let destination = match (s3, extended) {
        (Some(config), None) => S3Destination::from_config(config, "s3DestinationConfiguration", false)?,
        (None, Some(config)) => {
            S3Destination::from_config(config, "extendedS3DestinationConfiguration", true)?
        }
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
            let source = open_source(firehose, stream_arn).await?;
            let kind = StreamKind::KinesisStreamAsSource {
                stream_arn: stream_arn.to_owned(),
                role_arn: role_arn.to_owned(),
            };
            (kind, Source::Kinesis(source))
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
    let destination = Arc::new(destination);
    let delivery = Delivery::start(
        name.clone(),
        1,
        destination.clone(),
        source,
        firehose.clients().s3.clone(),
        firehose.options().clone(),
    );
    streams.insert(
        name.clone(),
        DeliveryStream {
            name,
            arn: arn.clone(),
            kind,
            version_id: 1,
            created_at: chrono::Utc::now(),
            active_at: Instant::now() + firehose.options().activation_delay,
            destination,
            delivery: Arc::new(delivery),
        },
    );
    Ok(json!({"DeliveryStreamARN": arn}))
}

/// Finds the source stream in this emulator's account and region, and takes
/// its position.
async fn open_source(firehose: &Firehose, stream_arn: &str) -> Result<KinesisSource, FirehoseError> {
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
    KinesisSource::open_at_latest(firehose.clients().kinesis.clone(), stream)
        .await
        .map_err(|err| match err {
            SourceError::StreamNotFound(_) => not_found(),
            other => FirehoseError::invalid_argument(other.to_string()),
        })
}
