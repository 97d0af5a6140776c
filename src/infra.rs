//! The lab's part 2 infrastructure (steps 2.1.1 to 2.1.4): its names, its
//! configuration, and how to create, inspect and delete it on any target.
//!
//! | resource | name |
//! |---|---|
//! | source stream, 4 shards | `de-c2w2lab1-kinesis-data-stream` |
//! | USA stream, 2 shards | `de-c2w2lab1-usa-data-stream` |
//! | international stream, 2 shards | `de-c2w2lab1-international-data-stream` |
//! | buckets | `de-c2w2lab1-<account>-usa`, `de-c2w2lab1-<account>-int` |
//! | Firehose delivery streams | `de-c2w2lab1-firehose-usa`, `de-c2w2lab1-firehose-international` |
//!
//! Each delivery stream reads its route's stream and writes to its bucket under
//! `firehose/` (`errors/` for failures), buffering up to 1 MB or 60 s, with no
//! compression or encryption, as the lab configures it.
//!
//! Everything here is idempotent: what exists is left as it is, so `up` can be
//! run again after a failure, and `down` deletes only resources with these names.
//! [`LabNames`] can add a suffix to every name, so that copies of the lab can
//! live side by side on one target.

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::types::{
    BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    KinesisStreamSourceConfiguration, NoEncryptionConfig, S3DestinationConfiguration,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::routing::{Destinations, Route};
use crate::target::Clients;

pub const SOURCE_STREAM: &str = "de-c2w2lab1-kinesis-data-stream";
/// The source stream of the lab's run had 4 shards.
pub const SOURCE_SHARDS: i32 = 4;
/// Each destination stream has 2 shards.
pub const DESTINATION_SHARDS: i32 = 2;
/// Part 1's stream, made with all defaults in the console.
pub const CLI_STREAM: &str = "de-c2w2lab1-kinesis-data-stream-cli";
/// The lab's Firehose buffering: 1 MB or 60 s.
pub const BUFFER_SIZE_MB: i32 = 1;
pub const DEFAULT_BUFFER_INTERVAL: i32 = 60;

/// The names of the lab's part 2 resources in one account.
///
/// The lab's own names have no suffix. A suffix (`-<suffix>` at the end of
/// every name) lets several copies of the lab share one target: the end-to-end
/// tests against one LocalStack, or two learners in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNames {
    account: String,
    /// Empty, or `-` and the suffix.
    suffix: String,
}

/// Bucket names stop at 63 characters; the longest lab bucket name takes 28.
const MAX_SUFFIX: usize = 24;

impl LabNames {
    /// The lab's names, exactly.
    pub fn new(account: &str) -> LabNames {
        LabNames {
            account: account.to_owned(),
            suffix: String::new(),
        }
    }

    /// The lab's names with `-<suffix>` appended. Buckets allow the fewest
    /// characters, so the suffix is what a bucket name allows: lowercase
    /// letters, digits and hyphens.
    pub fn with_suffix(account: &str, suffix: &str) -> anyhow::Result<LabNames> {
        check_suffix(suffix).map_err(anyhow::Error::msg)?;
        Ok(LabNames {
            account: account.to_owned(),
            suffix: format!("-{suffix}"),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn source_stream(&self) -> String {
        format!("{SOURCE_STREAM}{}", self.suffix)
    }

    /// Both routes, USA first.
    pub fn routes(&self) -> [RouteResources; 2] {
        Route::ALL.map(|route| RouteResources::new(route, &self.account, &self.suffix))
    }

    /// The ETL's destinations, as the lab writes them on its command line.
    pub fn destinations(&self) -> Destinations {
        let [usa, international] = self.routes().map(|r| r.stream);
        format!(r#"{{"USA": "{usa}", "International": "{international}"}}"#)
            .parse()
            .expect("the lab's stream names are valid")
    }

    /// The role the lab's Firehose delivery streams assume (the lab made it).
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/de-c2w2lab1-firehose-role", self.account)
    }
}

/// Checks a name suffix: what a bucket name allows (lowercase letters, digits
/// and hyphens), short enough for the longest bucket name.
pub fn check_suffix(suffix: &str) -> Result<String, String> {
    let fits = !suffix.is_empty()
        && suffix.len() <= MAX_SUFFIX
        && !suffix.starts_with('-')
        && !suffix.ends_with('-')
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if fits {
        Ok(suffix.to_owned())
    } else {
        Err(format!(
            "invalid name suffix {suffix:?}: use 1 to {MAX_SUFFIX} lowercase letters, digits and \
             hyphens, not starting or ending with a hyphen (it goes into bucket names)"
        ))
    }
}

/// Everything the lab names after one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteResources {
    pub route: Route,
    pub stream: String,
    pub bucket: String,
    pub firehose: String,
    pub log_group: String,
    pub log_stream: String,
}

impl RouteResources {
    fn new(route: Route, account: &str, suffix: &str) -> RouteResources {
        // The lab's text calls the bucket "-international"; its code, which ran,
        // says "-int".
        let (word, bucket_suffix) = match route {
            Route::Usa => ("usa", "usa"),
            Route::International => ("international", "int"),
        };
        RouteResources {
            route,
            stream: format!("de-c2w2lab1-{word}-data-stream{suffix}"),
            bucket: format!("de-c2w2lab1-{account}-{bucket_suffix}{suffix}"),
            firehose: format!("de-c2w2lab1-firehose-{word}{suffix}"),
            log_group: format!("de-c2w2lab1-firehose-{word}-log-group{suffix}"),
            log_stream: format!("de-c2w2lab1-{word}-firehose-log-stream{suffix}"),
        }
    }
}

/// How `up` runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub buffer_interval: i32,
    /// How long to wait for everything to be ACTIVE.
    pub timeout: Duration,
}

/// Creates what is missing of the lab's part 2 and waits until it is all ACTIVE.
pub async fn up(clients: &Clients, names: &LabNames, options: &UpOptions) -> anyhow::Result<()> {
    let routes = names.routes();
    let existing = stream_names(clients).await?;
    let mut streams = vec![(names.source_stream(), SOURCE_SHARDS)];
    streams.extend(routes.iter().map(|r| (r.stream.clone(), DESTINATION_SHARDS)));
    for (stream, shards) in &streams {
        if existing.contains(stream) {
            continue;
        }
        let created = clients
            .kinesis
            .create_stream()
            .stream_name(stream)
            .shard_count(*shards)
            .send()
            .await;
        match created {
            Ok(_) => eprintln!("created stream {stream} ({shards} shards)"),
            Err(err) if err.code() == Some("ResourceInUseException") => {}
            Err(err) => bail!(
                "cannot create stream {stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(&err)
            ),
        }
    }
    for (stream, _) in &streams {
        wait_for(&format!("stream {stream}"), options.timeout, || {
            stream_status(clients, stream)
        })
        .await?;
    }

    for route in &routes {
        create_bucket(clients, &route.bucket).await?;
    }

    let delivery_streams = delivery_stream_names(clients).await?;
    for route in &routes {
        if delivery_streams.contains(&route.firehose) {
            check_interval(clients, route, options.buffer_interval).await;
            continue;
        }
        create_delivery_stream(clients, names, route, options.buffer_interval).await?;
        eprintln!(
            "created Firehose {} ({} -> s3://{}/firehose/)",
            route.firehose, route.stream, route.bucket
        );
    }
    for route in &routes {
        wait_for(&format!("Firehose {}", route.firehose), options.timeout, || {
            delivery_stream_status(clients, &route.firehose)
        })
        .await?;
    }
    Ok(())
}

/// Deletes the lab's part 2 resources that exist: delivery streams, streams,
/// and (unless kept) the buckets with everything in them.
pub async fn down(clients: &Clients, names: &LabNames, keep_buckets: bool) -> anyhow::Result<()> {
    let routes = names.routes();
    for route in &routes {
        match clients
            .firehose
            .delete_delivery_stream()
            .delivery_stream_name(&route.firehose)
            .send()
            .await
        {
            Ok(_) => eprintln!("deleted Firehose {}", route.firehose),
            Err(err) if err.code() == Some("ResourceNotFoundException") => {}
            Err(err) => bail!(
                "cannot delete Firehose {}: {}",
                route.firehose,
                aws_sdk_firehose::error::DisplayErrorContext(&err)
            ),
        }
    }
    let streams = [
        names.source_stream(),
        routes[0].stream.clone(),
        routes[1].stream.clone(),
    ];
    for stream in &streams {
        match clients.kinesis.delete_stream().stream_name(stream).send().await {
            Ok(_) => eprintln!("deleted stream {stream}"),
            Err(err) if err.code() == Some("ResourceNotFoundException") => {}
            Err(err) => bail!(
                "cannot delete stream {stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(&err)
            ),
        }
    }
    if keep_buckets {
        eprintln!("kept the buckets {} and {}", routes[0].bucket, routes[1].bucket);
        return Ok(());
    }
    for route in &routes {
        delete_bucket(clients, &route.bucket).await?;
    }
    Ok(())
}

/// One line of `infra status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: &'static str,
    pub name: String,
    pub status: String,
    pub detail: String,
}

/// What exists of the lab's part 2, and in what state.
pub async fn status(clients: &Clients, names: &LabNames) -> anyhow::Result<Vec<Status>> {
    let routes = names.routes();
    let mut lines = Vec::new();
    let mut streams = vec![names.source_stream()];
    streams.extend(routes.iter().map(|r| r.stream.clone()));
    for stream in streams {
        let described = clients
            .kinesis
            .describe_stream_summary()
            .stream_name(&stream)
            .send()
            .await;
        let (status, detail) = match described {
            Ok(output) => {
                let summary = output.stream_description_summary().context("no stream summary")?;
                (
                    summary.stream_status().as_str().to_owned(),
                    format!("{} open shards", summary.open_shard_count()),
                )
            }
            Err(err) if err.code() == Some("ResourceNotFoundException") => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => bail!(
                "cannot describe stream {stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(&err)
            ),
        };
        lines.push(Status {
            kind: "stream",
            name: stream,
            status,
            detail,
        });
    }
    for route in &routes {
        let listed = clients
            .s3
            .list_objects_v2()
            .bucket(&route.bucket)
            .prefix("firehose/")
            .send()
            .await;
        let (status, detail) = match listed {
            Ok(output) => {
                let more = if output.is_truncated() == Some(true) {
                    "+"
                } else {
                    ""
                };
                (
                    "exists".to_owned(),
                    format!(
                        "{}{more} objects under firehose/",
                        output.key_count().unwrap_or(0)
                    ),
                )
            }
            Err(err) if aws_sdk_s3::error::ProvideErrorMetadata::code(&err) == Some("NoSuchBucket") => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => bail!(
                "cannot list bucket {}: {}",
                route.bucket,
                aws_sdk_s3::error::DisplayErrorContext(&err)
            ),
        };
        lines.push(Status {
            kind: "bucket",
            name: route.bucket.clone(),
            status,
            detail,
        });
    }
    for route in &routes {
        let described = clients
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(&route.firehose)
            .send()
            .await;
        let (status, detail) = match described {
            Ok(output) => {
                let description = output.delivery_stream_description().context("no description")?;
                let interval = description
                    .destinations()
                    .first()
                    .and_then(|d| d.s3_destination_description())
                    .and_then(|s3| s3.buffering_hints())
                    .and_then(|hints| hints.interval_in_seconds());
                let detail = match interval {
                    Some(seconds) => format!(
                        "{} -> s3://{}/firehose/, every {seconds} s",
                        route.stream, route.bucket
                    ),
                    None => format!("{} -> s3://{}/firehose/", route.stream, route.bucket),
                };
                (description.delivery_stream_status().as_str().to_owned(), detail)
            }
            Err(err) if err.code() == Some("ResourceNotFoundException") => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => bail!(
                "cannot describe Firehose {}: {}",
                route.firehose,
                aws_sdk_firehose::error::DisplayErrorContext(&err)
            ),
        };
        lines.push(Status {
            kind: "firehose",
            name: route.firehose.clone(),
            status,
            detail,
        });
    }
    Ok(lines)
}

/// The lab's `create_delivery_stream` call, parameter for parameter.
async fn create_delivery_stream(
    clients: &Clients,
    names: &LabNames,
    route: &RouteResources,
    interval: i32,
) -> anyhow::Result<()> {
    let role = names.role_arn();
    let stream_arn = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(&route.stream)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", aws_sdk_kinesis::error::DisplayErrorContext(&err)))?
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned())
        .context("no stream summary")?;
    // The lab uses S3DestinationConfiguration, which the SDK marks deprecated
    // in favour of the extended form; we send what the lab sends.
    #[allow(deprecated)]
    let request = clients
        .firehose
        .create_delivery_stream()
        .delivery_stream_name(&route.firehose)
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(stream_arn)
                .role_arn(&role)
                .build()?,
        )
        .s3_destination_configuration(
            S3DestinationConfiguration::builder()
                .role_arn(&role)
                .bucket_arn(format!("arn:aws:s3:::{}", route.bucket))
                .prefix("firehose/")
                .error_output_prefix("errors/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(BUFFER_SIZE_MB)
                        .interval_in_seconds(interval)
                        .build(),
                )
                .compression_format(CompressionFormat::Uncompressed)
                .encryption_configuration(
                    EncryptionConfiguration::builder()
                        .no_encryption_config(NoEncryptionConfig::NoEncryption)
                        .build(),
                )
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name(&route.log_group)
                        .log_stream_name(&route.log_stream)
                        .build(),
                )
                .build()?,
        );
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("ResourceInUseException") => Ok(()),
        Err(err) => bail!(
            "cannot create Firehose {}: {}\n(On AWS, the role {role} must exist, as it does in the lab.)",
            route.firehose,
            aws_sdk_firehose::error::DisplayErrorContext(&err)
        ),
    }
}

/// Creates a provisioned stream of `shards` shards unless it exists, and
/// waits until it is ACTIVE (quietly: for tests, benchmarks and the
/// walkthrough, which report on their own).
pub async fn ensure_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    ensure_stream_with(kinesis, stream, Some(shards), timeout).await
}

/// [`ensure_stream`], on-demand when `shards` is `None`: what the AWS
/// console's "Create data stream" makes by default (4 shards to start).
pub async fn ensure_stream_with(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: Option<i32>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let request = kinesis.create_stream().stream_name(stream);
    let request = match shards {
        Some(shards) => request.shard_count(shards),
        None => request.stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                .build()
                .expect("a stream mode is all it needs"),
        ),
    };
    match request.send().await {
        Ok(_) => {}
        Err(err) if err.code() == Some("ResourceInUseException") => {}
        Err(err) => bail!(
            "cannot create stream {stream}: {}",
            aws_sdk_kinesis::error::DisplayErrorContext(&err)
        ),
    }
    let started = tokio::time::Instant::now();
    loop {
        let output = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", aws_sdk_kinesis::error::DisplayErrorContext(&err)))?;
        let status = output
            .stream_description_summary()
            .map(|s| s.stream_status().as_str())
            .unwrap_or_default();
        if status == "ACTIVE" {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "stream {stream} is still {status} after {}",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A delivery stream's IntervalInSeconds, when it exists and says.
pub async fn buffer_interval(clients: &Clients, firehose: &str) -> Option<i32> {
    let output = clients
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(firehose)
        .send()
        .await
        .ok()?;
    output
        .delivery_stream_description()?
        .destinations()
        .first()?
        .s3_destination_description()?
        .buffering_hints()?
        .interval_in_seconds()
}

/// An existing delivery stream keeps its interval; say so when it differs.
async fn check_interval(clients: &Clients, route: &RouteResources, wanted: i32) {
    let interval = buffer_interval(clients, &route.firehose).await;
    if let Some(interval) = interval.filter(|interval| *interval != wanted) {
        eprintln!(
            "note: Firehose {} already exists with IntervalInSeconds {interval}, not {wanted}; \
             run `kinesis-lab infra down` first to change it",
            route.firehose
        );
    }
}

async fn create_bucket(clients: &Clients, bucket: &str) -> anyhow::Result<()> {
    let mut request = clients.s3.create_bucket().bucket(bucket);
    // Outside us-east-1, S3 wants the region named.
    if clients.region != "us-east-1" {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    clients.region.as_str(),
                ))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => {
            eprintln!("created bucket {bucket}");
            Ok(())
        }
        Err(err)
            if aws_sdk_s3::error::ProvideErrorMetadata::code(&err) == Some("BucketAlreadyOwnedByYou") =>
        {
            Ok(())
        }
        Err(err) => bail!(
            "cannot create bucket {bucket}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&err)
        ),
    }
}

async fn delete_bucket(clients: &Clients, bucket: &str) -> anyhow::Result<()> {
    let mut deleted = 0;
    loop {
        let listed = match clients.s3.list_objects_v2().bucket(bucket).send().await {
            Ok(listed) => listed,
            Err(err) if aws_sdk_s3::error::ProvideErrorMetadata::code(&err) == Some("NoSuchBucket") => {
                return Ok(());
            }
            Err(err) => bail!(
                "cannot list bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&err)
            ),
        };
        if listed.contents().is_empty() {
            break;
        }
        for object in listed.contents() {
            let key = object.key().unwrap_or_default();
            clients
                .s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|err| {
                    anyhow::anyhow!(
                        "cannot delete s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&err)
                    )
                })?;
            deleted += 1;
        }
    }
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot delete bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&err)
            )
        })?;
    eprintln!("deleted bucket {bucket} ({deleted} objects)");
    Ok(())
}

async fn stream_names(clients: &Clients) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = match &next_token {
            Some(token) => clients.kinesis.list_streams().next_token(token),
            None => clients.kinesis.list_streams(),
        };
        let output = request.send().await.map_err(|err| {
            anyhow::anyhow!(
                "cannot list streams: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(&err)
            )
        })?;
        names.extend(output.stream_names().iter().cloned());
        next_token = output.next_token().map(str::to_owned);
        if next_token.is_none() || !output.has_more_streams() {
            return Ok(names);
        }
    }
}

async fn delivery_stream_names(clients: &Clients) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    loop {
        let mut request = clients.firehose.list_delivery_streams().limit(100);
        if let Some(last) = names.last() {
            request = request.exclusive_start_delivery_stream_name(last);
        }
        let output = request.send().await.map_err(|err| {
            anyhow::anyhow!(
                "cannot list Firehose streams: {}",
                aws_sdk_firehose::error::DisplayErrorContext(&err)
            )
        })?;
        names.extend(output.delivery_stream_names().iter().cloned());
        if !output.has_more_delivery_streams() {
            return Ok(names);
        }
    }
}

async fn stream_status(clients: &Clients, stream: &str) -> anyhow::Result<String> {
    let output = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", aws_sdk_kinesis::error::DisplayErrorContext(&err)))?;
    Ok(output
        .stream_description_summary()
        .map(|s| s.stream_status().as_str().to_owned())
        .unwrap_or_default())
}

async fn delivery_stream_status(clients: &Clients, name: &str) -> anyhow::Result<String> {
    let output = clients
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", aws_sdk_firehose::error::DisplayErrorContext(&err)))?;
    Ok(output
        .delivery_stream_description()
        .map(|d| d.delivery_stream_status().as_str().to_owned())
        .unwrap_or_default())
}

/// Polls until `status` says ACTIVE, showing how long it has waited.
async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut status: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
    let started = tokio::time::Instant::now();
    loop {
        let current = status().await?;
        if current == "ACTIVE" {
            spinner.finish_and_clear();
            return Ok(());
        }
        if current.ends_with("FAILED") {
            spinner.abandon();
            bail!("{what} is {current}");
        }
        if started.elapsed() > timeout {
            spinner.abandon();
            bail!(
                "{what} is still {current} after {}; try `kinesis-lab infra status` later",
                humantime::format_duration(timeout)
            );
        }
        spinner.set_message(format!("waiting for {what} to be ACTIVE (now {current})"));
        spinner.tick();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_suffix_the_names_are_the_lab_s() {
        let names = LabNames::new("123456789012");
        assert_eq!(names.source_stream(), "de-c2w2lab1-kinesis-data-stream");
        let [usa, international] = names.routes();
        assert_eq!(usa.stream, "de-c2w2lab1-usa-data-stream");
        assert_eq!(usa.bucket, "de-c2w2lab1-123456789012-usa");
        assert_eq!(usa.firehose, "de-c2w2lab1-firehose-usa");
        assert_eq!(international.stream, "de-c2w2lab1-international-data-stream");
        assert_eq!(international.bucket, "de-c2w2lab1-123456789012-int");
        assert_eq!(international.firehose, "de-c2w2lab1-firehose-international");
        assert_eq!(
            names.role_arn(),
            "arn:aws:iam::123456789012:role/de-c2w2lab1-firehose-role"
        );
        assert_eq!(names.destinations().usa.as_str(), "de-c2w2lab1-usa-data-stream");
    }

    #[test]
    fn a_suffix_ends_every_name() {
        let names = LabNames::with_suffix("000000000000", "e2e-42-7").unwrap();
        assert_eq!(names.source_stream(), "de-c2w2lab1-kinesis-data-stream-e2e-42-7");
        let [usa, international] = names.routes();
        assert_eq!(usa.bucket, "de-c2w2lab1-000000000000-usa-e2e-42-7");
        assert_eq!(
            international.firehose,
            "de-c2w2lab1-firehose-international-e2e-42-7"
        );
        assert_eq!(
            names.destinations().international.as_str(),
            "de-c2w2lab1-international-data-stream-e2e-42-7"
        );
        // The role is the lab's, whatever the copy.
        assert_eq!(
            names.role_arn(),
            "arn:aws:iam::000000000000:role/de-c2w2lab1-firehose-role"
        );
    }

    #[test]
    fn a_suffix_must_fit_a_bucket_name() {
        for bad in [
            "",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a.b",
            &"x".repeat(25),
        ] {
            let err = LabNames::with_suffix("000000000000", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("invalid name suffix {bad:?}")), "{err}");
        }
        let longest = LabNames::with_suffix("123456789012", &"x".repeat(24)).unwrap();
        assert!(longest.routes().iter().all(|r| r.bucket.len() <= 63));
    }
}
