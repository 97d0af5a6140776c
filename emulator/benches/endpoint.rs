//! Benchmarks of the emulator's endpoint, with the real SDK clients over HTTP:
//!
//! - startup: from `Emulator::start` to the first answer on the health check;
//! - PutRecords throughput: records per second through the one endpoint;
//! - delivery delay: from a put on the source stream to the object in S3,
//!   against the delivery stream's `IntervalInSeconds`.
//!
//! A benchmark, not a test: it prints figures for a person to read. Run it with
//! `cargo bench -p kinesis-lab-emulator --bench endpoint` (or `cargo xtask bench`);
//! name `startup`, `put-records` or `delivery` after `--` to run only those.

use std::time::{Duration, Instant};

use aws_sdk_firehose::types::{
    BufferingHints, DeliveryStreamType, ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use emulator::clients::Clients;
use emulator::config::KinesisOptions;
use emulator::{Config, Emulator, HEALTH_PATH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STARTS: usize = 20;
const RECORDS: usize = 100_000;
const BATCH: usize = 500;
const SHARDS: i32 = 4;

#[tokio::main]
async fn main() {
    // `cargo bench --bench endpoint -- put-records` runs that part alone.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wants = |part: &str| only.is_empty() || only.iter().any(|name| name == part);
    if wants("startup") {
        startup().await;
    }
    if wants("put-records") {
        // One writer, and as many as a busy lab has: puts are taken one at a
        // time (emulator/src/kinesis/mod.rs), so this shows what that costs;
        // and in memory against a durable data directory, side by side.
        for writers in [1, 8] {
            let in_memory = put_records(writers, false).await;
            let durable = put_records(writers, true).await;
            println!(
                "  {writers} writers: durable / in memory = {:.2}",
                durable / in_memory
            );
        }
    }
    if wants("delivery") {
        delivery_delay(&[(1, 4), (5, 3)]).await;
        size_delay(3).await;
    }
}

async fn startup() {
    let mut times = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let started = Instant::now();
        let emulator = Emulator::start(Config {
            port: 0,
            ..Config::default()
        })
        .await
        .unwrap();
        health(&emulator).await;
        times.push(started.elapsed());
        emulator.shutdown().await;
    }
    times.sort();
    println!(
        "startup to first answer ({STARTS} starts): median {:.1} ms, max {:.1} ms",
        ms(times[STARTS / 2]),
        ms(times[STARTS - 1])
    );
}

async fn health(emulator: &Emulator) {
    let mut stream = tokio::net::TcpStream::connect(emulator.local_addr())
        .await
        .unwrap();
    let request = format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// Records per second through PutRecords, with `writers` writers at once.
async fn put_records(writers: usize, durable: bool) -> f64 {
    let data = tempfile::tempdir().unwrap();
    let emulator = start(Config {
        data_dir: Some(data.path().to_path_buf()),
        durable,
        ..Config::default()
    })
    .await;
    let clients = Clients::new(emulator.endpoint_url(), "us-east-1");
    create_stream(&clients, "bench", SHARDS).await;
    // About the size of a lab session.
    let payload = |i: usize| {
        format!(
            "{{\"session_id\":\"{i:036}\",\"customer_number\":250,\"city\":\"Lyon\",\"country\":\"France\",\"credit_limit\":80000,\"browse_history\":[{{\"product_code\":\"S18_1097\",\"quantity\":\"4\",\"in_shopping_cart\":true}},{{\"product_code\":\"S24_3969\",\"quantity\":\"7\",\"in_shopping_cart\":false}}],\"pad\":\"{}\"}}",
            "x".repeat(60)
        )
    };
    let bytes = payload(0).len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let kinesis = clients.kinesis.clone();
        tasks.push(tokio::spawn(async move {
            for batch in (writer * BATCH..RECORDS).step_by(writers * BATCH) {
                let entries: Vec<_> = (batch..(batch + BATCH).min(RECORDS))
                    .map(|i| {
                        PutRecordsRequestEntry::builder()
                            .data(Blob::new(payload(i)))
                            .partition_key(i.to_string())
                            .build()
                            .unwrap()
                    })
                    .collect();
                let output = kinesis
                    .put_records()
                    .stream_name("bench")
                    .set_records(Some(entries))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(output.failed_record_count(), Some(0));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = RECORDS as f64 / elapsed;
    println!(
        "PutRecords through the endpoint ({}): {RECORDS} records of {bytes} bytes in {elapsed:.2} s = {rate:.0} records/s \
         ({:.1} MB/s), {writers} writers, batches of {BATCH}, {SHARDS} shards",
        if durable {
            "durable data directory"
        } else {
            "in memory"
        },
        (RECORDS * bytes) as f64 / elapsed / 1e6
    );
    emulator.shutdown().await;
    rate
}

/// For each (interval, samples): the time from one put to its object in S3,
/// with Firehose reading its source once a second, as on AWS.
async fn delivery_delay(intervals: &[(i32, usize)]) {
    let emulator = start(Config::default()).await;
    let clients = Clients::new(emulator.endpoint_url(), "us-east-1");
    let firehose = firehose_client(emulator.endpoint_url());
    clients
        .s3
        .create_bucket()
        .bucket("bench-bucket")
        .send()
        .await
        .unwrap();
    for &(interval, samples) in intervals {
        let mut delays = Vec::new();
        for sample in 0..samples {
            let stream = format!("delay-{interval}-{sample}");
            create_delivery(&clients, &firehose, &stream, "bench-bucket", interval).await;
            // Put at a different moment of Firehose's one-second read cycle each
            // time: right after creation, the first read would catch it at once.
            tokio::time::sleep(Duration::from_millis(
                1200 + 1000 * sample as u64 / samples as u64,
            ))
            .await;
            let put = Instant::now();
            clients
                .kinesis
                .put_record()
                .stream_name(&stream)
                .partition_key("k")
                .data(Blob::new("{}"))
                .send()
                .await
                .unwrap();
            wait_for_object(&clients, "bench-bucket", &stream).await;
            delays.push(put.elapsed());
        }
        let shown: Vec<String> = delays
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect();
        let worst = delays.iter().max().unwrap().as_secs_f64();
        println!(
            "delivery delay with IntervalInSeconds={interval}: {} (at most {:.0} ms past the interval, \
             which runs from the record's arrival; Firehose reads its source once a second)",
            shown.join(", "),
            (worst - f64::from(interval)) * 1000.0
        );
    }
    emulator.shutdown().await;
}

/// From the put that fills a 1 MiB buffer to its object in S3, `samples`
/// times, each at a different moment of Firehose's one-second read cycle.
async fn size_delay(samples: usize) {
    let emulator = start(Config::default()).await;
    let clients = Clients::new(emulator.endpoint_url(), "us-east-1");
    let firehose = firehose_client(emulator.endpoint_url());
    clients
        .s3
        .create_bucket()
        .bucket("size-bucket")
        .send()
        .await
        .unwrap();
    let mut delays = Vec::new();
    for sample in 0..samples {
        let stream = format!("size-{sample}");
        create_delivery(&clients, &firehose, &stream, "size-bucket", 900).await;
        tokio::time::sleep(Duration::from_millis(
            1200 + 1000 * sample as u64 / samples as u64,
        ))
        .await;
        // Three records of 400 KiB: the third does not fit, so the first two
        // make a full object at once.
        let entries = (0..3)
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{i}"))
                    .data(Blob::new(format!("{{\"pad\":\"{}\"}}", "x".repeat(400 * 1024))))
                    .build()
                    .unwrap()
            })
            .collect();
        clients
            .kinesis
            .put_records()
            .stream_name(&stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        let put = Instant::now();
        wait_for_object(&clients, "size-bucket", &stream).await;
        delays.push(put.elapsed());
    }
    let shown: Vec<String> = delays
        .iter()
        .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "delivery delay when a put fills SizeInMBs=1: {} after the put (a put wakes the delivery stream; \
         its reads are otherwise a second apart)",
        shown.join(", ")
    );
    emulator.shutdown().await;
}

/// A one-shard stream `stream` and a delivery stream of the same name reading
/// it into `bucket` under `<stream>/`, 1 MiB or `interval` seconds.
async fn create_delivery(
    clients: &Clients,
    firehose: &aws_sdk_firehose::Client,
    stream: &str,
    bucket: &str,
    interval: i32,
) {
    create_stream(clients, stream, 1).await;
    firehose
        .create_delivery_stream()
        .delivery_stream_name(stream)
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"))
                .role_arn("arn:aws:iam::000000000000:role/bench")
                .build()
                .unwrap(),
        )
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::000000000000:role/bench")
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix(format!("{stream}/"))
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(interval)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Returns once `bucket` holds an object under `<stream>/`.
async fn wait_for_object(clients: &Clients, bucket: &str, stream: &str) {
    loop {
        let listing = clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{stream}/"))
            .send()
            .await
            .unwrap();
        if listing.key_count().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start(config: Config) -> Emulator {
    let config = Config {
        port: 0,
        kinesis: KinesisOptions {
            status_delay: Duration::ZERO,
            ..config.kinesis
        },
        ..config
    };
    Emulator::start(config).await.unwrap()
}

async fn create_stream(clients: &Clients, name: &str, shards: i32) {
    clients
        .kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
    loop {
        let summary = clients
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if summary
            .stream_description_summary()
            .unwrap()
            .stream_status()
            .as_str()
            == "ACTIVE"
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn firehose_client(endpoint: &str) -> aws_sdk_firehose::Client {
    use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_firehose::Client::from_conf(
        aws_sdk_firehose::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .build(),
    )
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
