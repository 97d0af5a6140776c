//! The lab's part 2 infrastructure (steps 2.1.1 to 2.1.4): how to create,
//! inspect and delete it on any target. Its names are in [`crate::lab_names`].
//!
//! Each delivery stream reads its route's stream and writes to its bucket under
//! `firehose/` (`errors/` for failures), buffering up to 1 MB or 60 s, with no
//! compression or encryption, as the lab configures it.
//!
//! Everything here is idempotent: what exists is left as it is, so `up` can be
//! run again after a failure, and `down` deletes only resources with these names.

use std::time::Duration;

use aws_sdk_dynamodb::operation::delete_table::DeleteTableError;
use aws_sdk_firehose::operation::create_delivery_stream::CreateDeliveryStreamError;
use aws_sdk_firehose::operation::delete_delivery_stream::DeleteDeliveryStreamError;
use aws_sdk_firehose::operation::describe_delivery_stream::DescribeDeliveryStreamError;
use aws_sdk_firehose::types::{
    BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    KinesisStreamSourceConfiguration, NoEncryptionConfig, S3DestinationConfiguration,
};

use aws_sdk_kinesis::operation::create_stream::CreateStreamError;
use aws_sdk_kinesis::operation::delete_stream::DeleteStreamError;
use aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError;
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;

use crate::aws_error::{AwsError, is};
use crate::lab_names::{BUFFER_SIZE_MB, DESTINATION_SHARDS, LabNames, RouteResources, SOURCE_SHARDS};
use crate::target::Clients;
use crate::wait::{Look, Patience};

/// Why the lab's infrastructure could not be made, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// AWS could not create a delivery stream; on AWS the usual cause is the role.
    #[error("{failure}\n(On AWS, the role {role} must exist, as it does in the lab.)")]
    Firehose { failure: AwsError, role: String },
    #[error("{what} is {status}")]
    Failed { what: String, status: String },
    #[error("{what} is still {status} after {}", humantime::format_duration(*after))]
    TimedOut {
        what: String,
        status: String,
        after: Duration,
    },
    #[error("AWS answered {call} without {missing}")]
    Incomplete {
        call: &'static str,
        missing: &'static str,
    },
}

/// What `up` says as it goes, for its caller to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpEvent<'a> {
    /// A line for the person running it: something made, or a note.
    Said(&'a str),
    /// What it is waiting for (a spinner's message).
    Waiting(&'a str),
    /// That wait is over.
    Ready,
}

/// How `up` runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub buffer_interval: i32,
    /// How long to wait for everything to be ACTIVE.
    pub timeout: Duration,
}

/// Creates what is missing of the lab's part 2 and waits until it is all
/// ACTIVE, telling `progress` what it made and what it is waiting for (the
/// CLI prints the one and shows the other on a spinner).
pub async fn up(
    clients: &Clients,
    names: &LabNames,
    options: &UpOptions,
    mut progress: impl FnMut(UpEvent<'_>),
) -> Result<(), InfraError> {
    let routes = names.routes();
    let existing = stream_names(clients).await?;
    let mut streams = vec![(names.source_stream(), SOURCE_SHARDS)];
    streams.extend(routes.iter().map(|r| (r.stream.clone(), DESTINATION_SHARDS)));
    for (stream, shards) in &streams {
        if existing.iter().any(|name| name == stream.as_str()) {
            continue;
        }
        let created = clients
            .kinesis
            .create_stream()
            .stream_name(stream.as_str())
            .shard_count(*shards)
            .send()
            .await;
        match created {
            Ok(_) => progress(UpEvent::Said(&format!(
                "created stream {stream} ({shards} shards)"
            ))),
            Err(err) if is(&err, CreateStreamError::is_resource_in_use_exception) => {}
            Err(err) => return Err(AwsError::failed(format_args!("create stream {stream}"), &err).into()),
        }
    }
    for (stream, _) in &streams {
        until_active(
            &format!("stream {stream}"),
            options.timeout,
            &mut progress,
            || stream_status(clients, stream.as_str()),
        )
        .await?;
    }

    for route in &routes {
        if create_bucket(clients, &route.bucket).await? {
            progress(UpEvent::Said(&format!("created bucket {}", route.bucket)));
        }
    }

    let delivery_streams = delivery_stream_names(clients).await?;
    for route in &routes {
        if delivery_streams.contains(&route.firehose) {
            if let Some(note) = check_interval(clients, route, options.buffer_interval).await {
                progress(UpEvent::Said(&note));
            }
            continue;
        }
        create_delivery_stream(clients, names, route, options.buffer_interval).await?;
        progress(UpEvent::Said(&format!(
            "created Firehose {} ({} -> s3://{}/firehose/)",
            route.firehose, route.stream, route.bucket
        )));
    }
    for route in &routes {
        until_active(
            &format!("Firehose {}", route.firehose),
            options.timeout,
            &mut progress,
            || delivery_stream_status(clients, &route.firehose),
        )
        .await?;
    }
    Ok(())
}

/// Deletes the lab's part 2 resources that exist: delivery streams, streams,
/// and (unless kept) the buckets with everything in them.
pub async fn down(clients: &Clients, names: &LabNames, keep_buckets: bool) -> Result<(), InfraError> {
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
            Err(err) if is(&err, DeleteDeliveryStreamError::is_resource_not_found_exception) => {}
            Err(err) => {
                return Err(
                    AwsError::failed(format_args!("delete Firehose {}", route.firehose), &err).into(),
                );
            }
        }
    }
    let streams = [
        names.source_stream(),
        routes[0].stream.clone(),
        routes[1].stream.clone(),
    ];
    for stream in &streams {
        match clients
            .kinesis
            .delete_stream()
            .stream_name(stream.as_str())
            .send()
            .await
        {
            Ok(_) => eprintln!("deleted stream {stream}"),
            Err(err) if is(&err, DeleteStreamError::is_resource_not_found_exception) => {}
            Err(err) => return Err(AwsError::failed(format_args!("delete stream {stream}"), &err).into()),
        }
    }
    // The ETL workers' lease table goes with the source stream: its
    // checkpoints are sequence numbers of that stream, which a stream made
    // anew under the same name would not have.
    let table = names.lease_table();
    match clients.dynamodb.delete_table().table_name(&table).send().await {
        Ok(_) => eprintln!("deleted lease table {table}"),
        Err(err) if is(&err, DeleteTableError::is_resource_not_found_exception) => {}
        Err(err) => return Err(AwsError::failed(format_args!("delete table {table}"), &err).into()),
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
pub async fn status(clients: &Clients, names: &LabNames) -> Result<Vec<Status>, InfraError> {
    let routes = names.routes();
    let mut lines = Vec::new();
    let mut streams = vec![names.source_stream()];
    streams.extend(routes.iter().map(|r| r.stream.clone()));
    for stream in streams {
        let described = clients
            .kinesis
            .describe_stream_summary()
            .stream_name(stream.as_str())
            .send()
            .await;
        let (status, detail) = match described {
            Ok(output) => {
                let summary = output
                    .stream_description_summary()
                    .ok_or(InfraError::Incomplete {
                        call: "DescribeStreamSummary",
                        missing: "a summary",
                    })?;
                (
                    summary.stream_status().as_str().to_owned(),
                    format!("{} open shards", summary.open_shard_count()),
                )
            }
            Err(err) if is(&err, DescribeStreamSummaryError::is_resource_not_found_exception) => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => return Err(AwsError::failed(format_args!("describe stream {stream}"), &err).into()),
        };
        lines.push(Status {
            kind: "stream",
            name: stream.to_string(),
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
            Err(err) if is(&err, ListObjectsV2Error::is_no_such_bucket) => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => {
                return Err(AwsError::failed(format_args!("list bucket {}", route.bucket), &err).into());
            }
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
                let description = output
                    .delivery_stream_description()
                    .ok_or(InfraError::Incomplete {
                        call: "DescribeDeliveryStream",
                        missing: "a description",
                    })?;
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
            Err(err) if is(&err, DescribeDeliveryStreamError::is_resource_not_found_exception) => {
                ("missing".to_owned(), String::new())
            }
            Err(err) => {
                return Err(
                    AwsError::failed(format_args!("describe Firehose {}", route.firehose), &err).into(),
                );
            }
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
) -> Result<(), InfraError> {
    let role = names.role_arn();
    let stream_arn = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(route.stream.as_str())
        .send()
        .await
        .map_err(|err| AwsError::failed(format_args!("describe stream {}", route.stream), &err))?
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned())
        .ok_or(InfraError::Incomplete {
            call: "DescribeStreamSummary",
            missing: "a summary",
        })?;
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
                .build()
                .expect("the stream and the role are set"),
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
                .build()
                .expect("the role and the bucket are set"),
        );
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err) if is(&err, CreateDeliveryStreamError::is_resource_in_use_exception) => Ok(()),
        Err(err) => Err(InfraError::Firehose {
            failure: AwsError::failed(format_args!("create Firehose {}", route.firehose), &err),
            role,
        }),
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
) -> Result<(), InfraError> {
    ensure_stream_with(kinesis, stream, Some(shards), timeout).await
}

/// [`ensure_stream`], on-demand when `shards` is `None`: what the AWS
/// console's "Create data stream" makes by default (4 shards to start).
pub async fn ensure_stream_with(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: Option<i32>,
    timeout: Duration,
) -> Result<(), InfraError> {
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
        Err(err) if is(&err, CreateStreamError::is_resource_in_use_exception) => {}
        Err(err) => return Err(AwsError::failed(format_args!("create stream {stream}"), &err).into()),
    }
    let status = || async {
        let output = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|err| AwsError::failed(format_args!("describe stream {stream}"), &err))?;
        let status = output
            .stream_description_summary()
            .map(|s| s.stream_status().as_str().to_owned())
            .unwrap_or_default();
        Ok::<_, InfraError>(if status == "ACTIVE" {
            Look::Ready(())
        } else {
            Look::NotYet(status)
        })
    };
    match Patience::new(timeout, Duration::from_millis(20))
        .wait(status)
        .await?
    {
        Ok(()) => Ok(()),
        Err(status) => Err(InfraError::TimedOut {
            what: format!("stream {stream}"),
            status,
            after: timeout,
        }),
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

/// An existing delivery stream keeps its interval: a note when it differs.
async fn check_interval(clients: &Clients, route: &RouteResources, wanted: i32) -> Option<String> {
    let interval = buffer_interval(clients, &route.firehose).await?;
    (interval != wanted).then(|| {
        format!(
            "note: Firehose {} already exists with IntervalInSeconds {interval}, not {wanted}; \
             run `kinesis-lab infra down` first to change it",
            route.firehose
        )
    })
}

/// Creates the bucket unless this account has it; whether it made it.
async fn create_bucket(clients: &Clients, bucket: &str) -> Result<bool, AwsError> {
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
        Ok(_) => Ok(true),
        Err(err) if is(&err, CreateBucketError::is_bucket_already_owned_by_you) => Ok(false),
        Err(err) => Err(AwsError::failed(format_args!("create bucket {bucket}"), &err)),
    }
}

async fn delete_bucket(clients: &Clients, bucket: &str) -> Result<(), AwsError> {
    let mut deleted = 0;
    loop {
        let listed = match clients.s3.list_objects_v2().bucket(bucket).send().await {
            Ok(listed) => listed,
            Err(err) if is(&err, ListObjectsV2Error::is_no_such_bucket) => return Ok(()),
            Err(err) => return Err(AwsError::failed(format_args!("list bucket {bucket}"), &err)),
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
                .map_err(|err| AwsError::failed(format_args!("delete s3://{bucket}/{key}"), &err))?;
            deleted += 1;
        }
    }
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|err| AwsError::failed(format_args!("delete bucket {bucket}"), &err))?;
    eprintln!("deleted bucket {bucket} ({deleted} objects)");
    Ok(())
}

async fn stream_names(clients: &Clients) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = match &next_token {
            Some(token) => clients.kinesis.list_streams().next_token(token),
            None => clients.kinesis.list_streams(),
        };
        let output = request
            .send()
            .await
            .map_err(|err| AwsError::failed("list streams", &err))?;
        names.extend(output.stream_names().iter().cloned());
        next_token = output.next_token().map(str::to_owned);
        if next_token.is_none() || !output.has_more_streams() {
            return Ok(names);
        }
    }
}

async fn delivery_stream_names(clients: &Clients) -> Result<Vec<String>, AwsError> {
    let mut names: Vec<String> = Vec::new();
    loop {
        let mut request = clients.firehose.list_delivery_streams().limit(100);
        if let Some(last) = names.last() {
            request = request.exclusive_start_delivery_stream_name(last);
        }
        let output = request
            .send()
            .await
            .map_err(|err| AwsError::failed("list Firehose streams", &err))?;
        names.extend(output.delivery_stream_names().iter().cloned());
        if !output.has_more_delivery_streams() {
            return Ok(names);
        }
    }
}

async fn stream_status(clients: &Clients, stream: &str) -> Result<String, InfraError> {
    let output = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|err| AwsError::failed(format_args!("describe stream {stream}"), &err))?;
    Ok(output
        .stream_description_summary()
        .map(|s| s.stream_status().as_str().to_owned())
        .unwrap_or_default())
}

async fn delivery_stream_status(clients: &Clients, name: &str) -> Result<String, InfraError> {
    let output = clients
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await
        .map_err(|err| AwsError::failed(format_args!("describe Firehose {name}"), &err))?;
    Ok(output
        .delivery_stream_description()
        .map(|d| d.delivery_stream_status().as_str().to_owned())
        .unwrap_or_default())
}

/// Polls until `status` says ACTIVE, telling `progress` what it sees meanwhile.
async fn until_active<F, Fut>(
    what: &str,
    timeout: Duration,
    progress: &mut impl FnMut(UpEvent<'_>),
    mut status: F,
) -> Result<(), InfraError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, InfraError>>,
{
    let looks = || {
        let current = status();
        async move {
            let current = current.await?;
            match current.as_str() {
                "ACTIVE" => Ok(Look::Ready(())),
                failed if failed.ends_with("FAILED") => Err(InfraError::Failed {
                    what: what.to_owned(),
                    status: failed.to_owned(),
                }),
                _ => Ok(Look::NotYet(current)),
            }
        }
    };
    let show = |current: &String| {
        progress(UpEvent::Waiting(&format!(
            "waiting for {what} to be ACTIVE (now {current})"
        )))
    };
    let waited = Patience::new(timeout, Duration::from_millis(250))
        .wait_showing(looks, show)
        .await?;
    progress(UpEvent::Ready);
    match waited {
        Ok(()) => Ok(()),
        Err(current) => Err(InfraError::TimedOut {
            what: what.to_owned(),
            status: current,
            after: timeout,
        }),
    }
}
