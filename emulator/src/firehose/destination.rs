//! The S3 destination of a delivery stream: its configuration, checked once at
//! creation, and its description as DescribeDeliveryStream returns it.
//!
//! Both `S3DestinationConfiguration` (what the lab uses) and
//! `ExtendedS3DestinationConfiguration` are accepted; AWS describes such a
//! destination under both names, and so do we. Features the emulator does not
//! have (format conversion, backup, time zones other than UTC) are refused by
//! name rather than silently ignored.
//!
//! Dynamic partitioning is checked here as AWS checks it: it needs an
//! ErrorOutputPrefix, buffers of 64 MiB or more, and a Prefix with partition
//! key expressions whose processor (MetadataExtraction, Lambda) is there.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::error::FirehoseError;
use super::prefix::{Prefix, PrefixKind};
use super::processing::Processing;
use super::validate::{self, BUCKET_ARN_PATTERN, Object, ROLE_ARN_PATTERN};

static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| validate::anchored(ROLE_ARN_PATTERN));
static BUCKET_ARN: LazyLock<Regex> = LazyLock::new(|| validate::anchored(BUCKET_ARN_PATTERN));
static FILE_EXTENSION: LazyLock<Regex> = LazyLock::new(|| validate::anchored(r"^$|\.[0-9a-z!\-_.*'()]+"));

/// AWS's defaults when `BufferingHints` leaves a value out.
pub const DEFAULT_SIZE_IN_MBS: u32 = 5;
/// With dynamic partitioning, buffers are at least this size (and this by default).
pub const MIN_PARTITIONED_SIZE_IN_MBS: u32 = 64;
/// `RetryOptions.DurationInSeconds` of dynamic partitioning when not given.
const DEFAULT_PARTITIONING_RETRY_SECONDS: i64 = 300;
pub const DEFAULT_INTERVAL_IN_SECONDS: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Uncompressed,
    Gzip,
    Zip,
    Snappy,
    HadoopSnappy,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::Uncompressed => "UNCOMPRESSED",
            Compression::Gzip => "GZIP",
            Compression::Zip => "ZIP",
            Compression::Snappy => "Snappy",
            Compression::HadoopSnappy => "HADOOP_SNAPPY",
        }
    }

    /// The extension AWS gives objects in this format, unless `FileExtension`
    /// says otherwise.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Uncompressed => "",
            Compression::Gzip => ".gz",
            Compression::Zip => ".zip",
            Compression::Snappy => ".snappy",
            Compression::HadoopSnappy => ".hsnappy",
        }
    }
}

/// A checked S3 destination.
#[derive(Debug, Clone)]
pub struct S3Destination {
    pub role_arn: String,
    pub bucket_arn: String,
    /// The bucket named by `bucket_arn`.
    pub bucket: String,
    pub prefix_text: Option<String>,
    pub error_output_prefix_text: Option<String>,
    pub prefix: Prefix,
    pub size_in_mbs: u32,
    pub interval_in_seconds: u32,
    pub compression: Compression,
    /// The suffix of every object name: `FileExtension`, else `.gz` with GZIP.
    pub file_extension: String,
    /// Echoed back as given: the emulator does not encrypt or log.
    pub encryption: Value,
    pub cloud_watch_logging: Value,
    /// The record processors, and their configuration as given.
    pub processing: Option<Processing>,
    pub processing_config: Option<Value>,
    /// Where records that fail processing go: ErrorOutputPrefix, or else
    /// `<Prefix><error-output-type>/` and the hour folders.
    pub error_prefix: Prefix,
    /// `DynamicPartitioningConfiguration` as described back, when enabled.
    pub dynamic_partitioning: Option<Value>,
}

impl S3Destination {
    /// Checks an `S3DestinationConfiguration` or `ExtendedS3DestinationConfiguration`
    /// found at `member` of the request.
    pub fn from_config(
        config: &Object,
        member: &str,
        extended: bool,
        lambdas: &std::collections::BTreeMap<String, String>,
    ) -> Result<S3Destination, FirehoseError> {
        let at = |field: &str| format!("{member}.{field}");

        let role_arn = validate::req_str(config, "RoleARN", &at("roleARN"))?;
        validate::length(&at("roleARN"), role_arn, 1, 512)?;
        validate::pattern(&at("roleARN"), role_arn, &ROLE_ARN, ROLE_ARN_PATTERN)?;
        let bucket_arn = validate::req_str(config, "BucketARN", &at("bucketARN"))?;
        validate::length(&at("bucketARN"), bucket_arn, 1, 2048)?;
        validate::pattern(&at("bucketARN"), bucket_arn, &BUCKET_ARN, BUCKET_ARN_PATTERN)?;
        let bucket = bucket_arn.rsplit(":::").next().unwrap_or_default().to_owned();

        let prefix_text = validate::opt_str(config, "Prefix", &at("prefix"))?;
        let error_prefix_text = validate::opt_str(config, "ErrorOutputPrefix", &at("errorOutputPrefix"))?;
        for (field, text) in [("prefix", prefix_text), ("errorOutputPrefix", error_prefix_text)] {
            if let Some(text) = text {
                validate::length(&at(field), text, 0, 1024)?;
            }
        }
        let prefix = Prefix::parse(prefix_text.unwrap_or(""), PrefixKind::Prefix).map_err(invalid_prefix)?;
        let error_prefix = error_prefix_text
            .map(|text| Prefix::parse(text, PrefixKind::ErrorOutputPrefix).map_err(invalid_prefix))
            .transpose()?;
        if prefix.has_expressions() && error_prefix_text.is_none_or(str::is_empty) {
            return Err(FirehoseError::error_prefix_required());
        }
        if let Some(error_prefix) = &error_prefix
            && error_prefix.has_expressions()
            && !error_prefix.has_error_output_type()
        {
            return Err(FirehoseError::invalid_argument(
                "Ths supplied prefix(es) do not satisfy the following constraint: \
                 ErrorOutputPrefix must contain !{firehose:error-output-type} when it contains expressions",
            ));
        }

        let dynamic_partitioning = match extended {
            true => dynamic_partitioning(config, member)?,
            false => None,
        };
        let hints = validate::opt_object(config, "BufferingHints", &at("bufferingHints"))?;
        let hint = |key: &str, field: &str, min: i64, max: i64, default: u32| -> Result<u32, FirehoseError> {
            let member = at(&format!("bufferingHints.{field}"));
            match hints
                .map(|h| validate::opt_int(h, key, &member))
                .transpose()?
                .flatten()
            {
                Some(value) => {
                    validate::range(&member, value, min, max)?;
                    Ok(value as u32)
                }
                None => Ok(default),
            }
        };
        let size_in_mbs = match dynamic_partitioning {
            None => hint("SizeInMBs", "sizeInMBs", 1, 128, DEFAULT_SIZE_IN_MBS)?,
            Some(_) => {
                let size = hint("SizeInMBs", "sizeInMBs", 1, 128, MIN_PARTITIONED_SIZE_IN_MBS)?;
                if size < MIN_PARTITIONED_SIZE_IN_MBS {
                    return Err(FirehoseError::invalid_argument(format!(
                        "BufferingHints.SizeInMBs must be at least {MIN_PARTITIONED_SIZE_IN_MBS} when dynamic \
                         partitioning is enabled (it is {size})"
                    )));
                }
                size
            }
        };
        let interval_in_seconds = hint(
            "IntervalInSeconds",
            "intervalInSeconds",
            0,
            900,
            DEFAULT_INTERVAL_IN_SECONDS,
        )?;

        let compression = match validate::opt_str(config, "CompressionFormat", &at("compressionFormat"))? {
            None => Compression::Uncompressed,
            Some(format) => {
                let all = ["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"];
                match validate::one_of(&at("compressionFormat"), format, &all)? {
                    "GZIP" => Compression::Gzip,
                    "ZIP" => Compression::Zip,
                    "Snappy" => Compression::Snappy,
                    "HADOOP_SNAPPY" => Compression::HadoopSnappy,
                    _ => Compression::Uncompressed,
                }
            }
        };

        let encryption =
            match validate::opt_object(config, "EncryptionConfiguration", &at("encryptionConfiguration"))? {
                None => json!({"NoEncryptionConfig": "NoEncryption"}),
                Some(encryption) => {
                    if let Some(value) = validate::opt_str(
                        encryption,
                        "NoEncryptionConfig",
                        &at("encryptionConfiguration.noEncryptionConfig"),
                    )? {
                        validate::one_of(
                            &at("encryptionConfiguration.noEncryptionConfig"),
                            value,
                            &["NoEncryption"],
                        )?;
                    }
                    Value::Object(encryption.clone())
                }
            };
        let cloud_watch_logging = match validate::opt_object(
            config,
            "CloudWatchLoggingOptions",
            &at("cloudWatchLoggingOptions"),
        )? {
            None => json!({"Enabled": false}),
            Some(options) => {
                validate::opt_bool(options, "Enabled", &at("cloudWatchLoggingOptions.enabled"))?;
                for (key, field) in [
                    ("LogGroupName", "logGroupName"),
                    ("LogStreamName", "logStreamName"),
                ] {
                    let member = at(&format!("cloudWatchLoggingOptions.{field}"));
                    if let Some(name) = validate::opt_str(options, key, &member)? {
                        validate::length(&member, name, 0, 512)?;
                    }
                }
                Value::Object(options.clone())
            }
        };

        let mut file_extension = compression.extension().to_owned();
        let error_prefix = match &error_prefix {
            Some(error_prefix) if !error_prefix_text.is_some_and(str::is_empty) => error_prefix.clone(),
            _ => Prefix::parse(
                &format!("{}!{{firehose:error-output-type}}/", prefix_text.unwrap_or("")),
                PrefixKind::ErrorOutputPrefix,
            )
            .map_err(invalid_prefix)?,
        };
        let (processing, processing_config) = match extended {
            true => (
                Processing::from_config(config, member, lambdas)?,
                config
                    .get("ProcessingConfiguration")
                    .filter(|v| !v.is_null())
                    .cloned(),
            ),
            false => (None, None),
        };
        check_partitioning(
            &prefix,
            error_prefix_text,
            dynamic_partitioning.is_some(),
            processing.as_ref(),
        )?;
        if extended {
            check_extended_features(config, member)?;
            if let Some(extension) = validate::opt_str(config, "FileExtension", &at("fileExtension"))? {
                validate::length(&at("fileExtension"), extension, 0, 128)?;
                validate::pattern(
                    &at("fileExtension"),
                    extension,
                    &FILE_EXTENSION,
                    r"^$|\.[0-9a-z!\-_.*'()]+",
                )?;
                if !extension.is_empty() {
                    file_extension = extension.to_owned();
                }
            }
        }

        Ok(S3Destination {
            role_arn: role_arn.to_owned(),
            bucket_arn: bucket_arn.to_owned(),
            bucket,
            prefix_text: prefix_text.map(str::to_owned),
            error_output_prefix_text: error_prefix_text.map(str::to_owned),
            prefix,
            size_in_mbs,
            interval_in_seconds,
            compression,
            file_extension,
            encryption,
            cloud_watch_logging,
            processing,
            processing_config,
            error_prefix,
            dynamic_partitioning,
        })
    }

    /// The `DestinationDescription` of DescribeDeliveryStream.
    pub fn describe(&self) -> Value {
        let mut s3 = json!({
            "RoleARN": self.role_arn,
            "BucketARN": self.bucket_arn,
            "BufferingHints": {"SizeInMBs": self.size_in_mbs, "IntervalInSeconds": self.interval_in_seconds},
            "CompressionFormat": self.compression.as_str(),
            "EncryptionConfiguration": self.encryption,
            "CloudWatchLoggingOptions": self.cloud_watch_logging,
        });
        if let Some(prefix) = &self.prefix_text {
            s3["Prefix"] = json!(prefix);
        }
        if let Some(prefix) = &self.error_output_prefix_text {
            s3["ErrorOutputPrefix"] = json!(prefix);
        }
        let mut extended = s3.clone();
        extended["S3BackupMode"] = json!("Disabled");
        if let Some(processing) = &self.processing_config {
            extended["ProcessingConfiguration"] = processing.clone();
        }
        if self.file_extension != self.compression.extension() {
            extended["FileExtension"] = json!(self.file_extension);
        }
        if let Some(partitioning) = &self.dynamic_partitioning {
            extended["DynamicPartitioningConfiguration"] = partitioning.clone();
        }
        json!({
            "DestinationId": "destinationId-000000000001",
            "S3DestinationDescription": s3,
            "ExtendedS3DestinationDescription": extended,
        })
    }
}

/// Extended features the emulator cannot honour: refuse them when turned on.
fn check_extended_features(config: &Object, member: &str) -> Result<(), FirehoseError> {
    let at = |field: &str| format!("{member}.{field}");
    for (key, field, feature) in [(
        "DataFormatConversionConfiguration",
        "dataFormatConversionConfiguration",
        "DataFormatConversionConfiguration (Parquet and ORC)",
    )] {
        if let Some(section) = validate::opt_object(config, key, &at(field))? {
            // AWS's default for these is "enabled" once the section is there.
            if validate::opt_bool(section, "Enabled", &at(&format!("{field}.enabled")))?.unwrap_or(true) {
                return Err(unsupported(feature));
            }
        }
    }
    if let Some(mode) = validate::opt_str(config, "S3BackupMode", &at("s3BackupMode"))?
        && validate::one_of(&at("s3BackupMode"), mode, &["Disabled", "Enabled"])? == "Enabled"
    {
        return Err(unsupported("S3BackupMode Enabled"));
    }
    if let Some(zone) = validate::opt_str(config, "CustomTimeZone", &at("customTimeZone"))?
        && !matches!(zone, "" | "UTC")
    {
        return Err(unsupported(&format!("CustomTimeZone {zone} (only UTC)")));
    }
    Ok(())
}

/// `DynamicPartitioningConfiguration`, as described back when it is enabled.
fn dynamic_partitioning(config: &Object, member: &str) -> Result<Option<Value>, FirehoseError> {
    let at = |field: &str| format!("{member}.dynamicPartitioningConfiguration.{field}");
    let Some(section) = validate::opt_object(
        config,
        "DynamicPartitioningConfiguration",
        &format!("{member}.dynamicPartitioningConfiguration"),
    )?
    else {
        return Ok(None);
    };
    if !validate::opt_bool(section, "Enabled", &at("enabled"))?.unwrap_or(false) {
        return Ok(None);
    }
    let retry = match validate::opt_object(section, "RetryOptions", &at("retryOptions"))? {
        Some(retry) => validate::opt_int(retry, "DurationInSeconds", &at("retryOptions.durationInSeconds"))?,
        None => None,
    };
    let retry = retry.unwrap_or(DEFAULT_PARTITIONING_RETRY_SECONDS);
    validate::range(&at("retryOptions.durationInSeconds"), retry, 0, 7200)?;
    Ok(Some(
        json!({"Enabled": true, "RetryOptions": {"DurationInSeconds": retry}}),
    ))
}

/// The rules that tie a prefix's partition keys to dynamic partitioning and to
/// the processors that give the keys.
fn check_partitioning(
    prefix: &Prefix,
    error_prefix_text: Option<&str>,
    enabled: bool,
    processing: Option<&Processing>,
) -> Result<(), FirehoseError> {
    let has_query = processing.is_some_and(|p| p.metadata_query.is_some());
    let has_lambda = processing.is_some_and(|p| p.lambda.is_some());
    let mut keys = prefix.partition_keys().peekable();
    if !enabled {
        if let Some(expression) = keys.next() {
            return Err(invalid_prefix(format!(
                "\"!{{{expression}}}\" needs dynamic partitioning: set \
                 DynamicPartitioningConfiguration.Enabled to true"
            )));
        }
        if has_query {
            return Err(FirehoseError::invalid_argument(
                "the MetadataExtraction processor needs dynamic partitioning: set \
                 DynamicPartitioningConfiguration.Enabled to true",
            ));
        }
        return Ok(());
    }
    if error_prefix_text.is_none_or(str::is_empty) {
        return Err(FirehoseError::invalid_argument(
            "ErrorOutputPrefix is required when dynamic partitioning is enabled: records that cannot be \
             partitioned are delivered under it",
        ));
    }
    if keys.peek().is_none() {
        return Err(invalid_prefix(
            "with dynamic partitioning enabled, Prefix must use a partition key: \
             !{partitionKeyFromQuery:name} or !{partitionKeyFromLambda:name}"
                .to_owned(),
        ));
    }
    for expression in keys {
        let (needed, processor) = match expression.starts_with("partitionKeyFromQuery:") {
            true => (
                has_query,
                "a MetadataExtraction processor whose query gives that key",
            ),
            false => (
                has_lambda,
                "a Lambda processor that returns it in metadata.partitionKeys",
            ),
        };
        if !needed {
            return Err(invalid_prefix(format!("\"!{{{expression}}}\" needs {processor}")));
        }
    }
    Ok(())
}

fn invalid_prefix(reason: String) -> FirehoseError {
    FirehoseError::invalid_argument(format!(
        "Ths supplied prefix(es) do not satisfy the following constraint: {reason}"
    ))
}

fn unsupported(feature: &str) -> FirehoseError {
    FirehoseError::invalid_argument(format!("{feature} is not supported by the kinesis-lab emulator"))
}
