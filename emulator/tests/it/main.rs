//! The emulator, tested through the official AWS SDK clients over real HTTP.
//!
//! Every test starts its own emulator on a free port with its own temporary
//! data directory, so the tests run side by side. Each says what it
//! demonstrates in its `///` line.

// The lab creates its delivery streams with `S3DestinationConfiguration`, which
// the SDK marks deprecated in favour of the extended form; we test what the lab sends.
#![allow(deprecated)]

mod cloudwatch;
mod concurrency;
mod console;
mod delivery;
mod direct_put;
pub mod durable;
mod dynamodb;
mod endpoint;
mod fan_out;
mod lab;
mod logs;
mod memory;
mod operations;
mod partitioning;
mod processing;
mod s3_keys;
mod stream_arn;
mod streams;
mod timestamps;
mod validation;

use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, KinesisStreamSourceConfiguration,
    S3DestinationConfiguration,
};
use aws_sdk_kinesis::primitives::Blob;
use emulator::clients::Clients;
use emulator::{Config, Emulator};

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
pub const ROLE: &str = "arn:aws:iam::000000000000:role/de-c2w2lab1-firehose-role";

/// An emulator and clients pointed at it. `E` is what keeps the emulator
/// alive: the emulator itself, or nothing when it runs elsewhere.
pub struct Lab<E = Emulator> {
    pub emulator: E,
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Lab {
    pub async fn start() -> Lab {
        Lab::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Lab {
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let lab = Lab::<()>::connect(emulator.endpoint_url());
        Lab {
            emulator,
            kinesis: lab.kinesis,
            firehose: lab.firehose,
            s3: lab.s3,
        }
    }
}

impl Lab<()> {
    /// Clients for an emulator that runs elsewhere (another runtime, say).
    pub fn connect(endpoint_url: &str) -> Lab<()> {
        let clients = Clients::new(endpoint_url, REGION);
        let firehose = aws_sdk_firehose::Client::from_conf(
            aws_sdk_firehose::Config::builder()
                .behavior_version(aws_sdk_firehose::config::BehaviorVersion::latest())
                .endpoint_url(endpoint_url)
                .region(aws_sdk_firehose::config::Region::new(REGION))
                .credentials_provider(aws_sdk_firehose::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .build(),
        );
        Lab {
            emulator: (),
            kinesis: clients.kinesis,
            s3: clients.s3,
            firehose,
        }
    }
}

pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}")
}

impl<E> Lab<E> {
    /// Creates a stream and waits for it to be ACTIVE.
    pub async fn create_stream(&self, name: &str, shards: i32) {
        self.kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .unwrap();
        self.wait_for_stream(name).await;
    }

    pub async fn wait_for_stream(&self, name: &str) {
        for _ in 0..200 {
            let summary = self
                .kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .unwrap();
            let status = summary
                .stream_description_summary()
                .unwrap()
                .stream_status()
                .as_str()
                .to_owned();
            if status == "ACTIVE" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("stream {name} never became ACTIVE");
    }

    pub async fn create_bucket(&self, name: &str) {
        self.s3.create_bucket().bucket(name).send().await.unwrap();
    }

    /// A CreateDeliveryStream for a stream reading the Kinesis stream
    /// `source`; the caller adds the destination.
    pub fn from_kinesis(
        &self,
        name: &str,
        source: &str,
    ) -> aws_sdk_firehose::operation::create_delivery_stream::builders::CreateDeliveryStreamFluentBuilder
    {
        self.firehose
            .create_delivery_stream()
            .delivery_stream_name(name)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(stream_arn(source))
                    .role_arn(ROLE)
                    .build()
                    .unwrap(),
            )
    }

    /// A delivery stream from a Kinesis stream to a bucket, as the lab makes them.
    pub async fn create_delivery_stream(&self, name: &str, source: &str, bucket: &str, hints: (i32, i32)) {
        self.from_kinesis(name, source)
            .s3_destination_configuration(s3_destination(bucket, hints).build().unwrap())
            .send()
            .await
            .unwrap();
    }

    /// The S3 destination of a delivery stream, as DescribeDeliveryStream
    /// describes it.
    pub async fn extended_destination(
        &self,
        name: &str,
    ) -> aws_sdk_firehose::types::ExtendedS3DestinationDescription {
        let described = self
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .unwrap();
        let description = described.delivery_stream_description.unwrap();
        description.destinations[0]
            .extended_s3_destination_description
            .clone()
            .unwrap()
    }

    /// Puts records on a stream, each with its own partition key.
    pub async fn put(&self, stream: &str, records: &[String]) {
        for (index, record) in records.iter().enumerate() {
            self.kinesis
                .put_record()
                .stream_name(stream)
                .partition_key(format!("key-{index}"))
                .data(Blob::new(record.as_bytes()))
                .send()
                .await
                .unwrap();
        }
    }

    /// Every object in a bucket under a prefix, with its body, in key order.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let listing = match self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
        {
            Ok(listing) => listing,
            Err(_) => return Vec::new(),
        };
        let mut objects = Vec::new();
        for object in listing.contents() {
            let key = object.key().unwrap().to_owned();
            let body = self
                .s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await;
            objects.push((key, body.unwrap().to_vec()));
        }
        objects
    }

    /// Waits until the bucket holds at least `count` objects under the prefix.
    pub async fn wait_for_objects(&self, bucket: &str, prefix: &str, count: usize) -> Vec<(String, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let objects = self.objects(bucket, prefix).await;
            if objects.len() >= count {
                return objects;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} objects never arrived in {bucket}/{prefix}: {objects:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The lab's S3 destination, with the buffering hints given.
pub fn s3_destination(
    bucket: &str,
    (size, interval): (i32, i32),
) -> aws_sdk_firehose::types::builders::S3DestinationConfigurationBuilder {
    S3DestinationConfiguration::builder()
        .role_arn(ROLE)
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix("firehose/")
        .error_output_prefix("errors/")
        .buffering_hints(
            BufferingHints::builder()
                .size_in_mbs(size)
                .interval_in_seconds(interval)
                .build(),
        )
        .compression_format(CompressionFormat::Uncompressed)
}

/// `n` small JSON records, numbered from `from`.
pub fn records(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("{{\"n\":{i}}}")).collect()
}

/// Splits a Firehose object body back into its records (`{...}{...}` with no delimiter).
pub fn split_json(body: &[u8]) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter()
        .map(|value| value.unwrap())
        .collect()
}

/// A DynamoDB client for `endpoint_url`, with the test credentials.
pub fn dynamodb(endpoint_url: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build(),
    )
}

/// Makes a table keyed as a KCL lease table (`leaseKey`, a string), on-demand.
pub async fn create_lease_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>,
> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("leaseKey")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("leaseKey")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
}
