//! `kinesis-lab emulator`, started and stopped as a learner does it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::{interrupt, temp_path};

/// Starts the emulator; returns it, its URL, and the reader of its stdout (which
/// may already hold the lines after the first).
fn start(args: &[&str]) -> (Child, String, BufReader<ChildStdout>) {
    spawn(
        &temp_path(&format!("emulator-data-{}", args.join("-"))),
        args,
        Stdio::piped(),
    )
}

/// Starts the emulator on `data` with `args`, and reads its first line for its URL.
fn spawn(data: &std::path::Path, args: &[&str], stderr: Stdio) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["emulator", "--port", "0", "--data-dir"])
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect(&first)
        .to_owned();
    (child, url, stdout)
}

/// `--port 0` picks a free port and says which; the endpoint answers; Ctrl+C
/// stops it cleanly with exit status 0.
#[test]
fn starts_on_a_free_port_and_stops_on_ctrl_c() {
    let (mut child, url, mut stdout) = start(&[]);
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /_kinesis_lab/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"firehose\":\"running\""), "{response}");

    interrupt(&child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("try: aws --endpoint-url"), "{rest}");
    assert!(rest.trim_end().ends_with("stopped"), "{rest}");
}

/// With `--exit-with-stdin`, the emulator stops (cleanly, as on Ctrl+C) when
/// its standard input closes: what happens to the pipe from a parent that
/// dies, even by kill -9, so no emulator outlives the tests that started it.
#[test]
fn exit_with_stdin_stops_when_the_parent_pipe_closes() {
    let data = temp_path("emulator-data-exit-with-stdin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args([
            "emulator",
            "--port",
            "0",
            "--ephemeral",
            "--exit-with-stdin",
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("http://127.0.0.1:"), "{first}");

    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the emulator still runs 10 s after its standard input closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.trim_end().ends_with("stopped"), "{rest}");
}

/// A port that is taken is an error that says what to do.
#[test]
fn a_taken_port_says_what_to_do() {
    let (mut child, url, _stdout) = start(&[]);
    let port = url.rsplit(':').next().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["emulator", "--port", port, "--data-dir"])
        .arg(temp_path("taken-port-data"))
        .output()
        .unwrap();
    interrupt(&child);
    child.wait().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Is another emulator (or LocalStack) already running?"),
        "{stderr}"
    );
}

/// Starts the emulator on `data`, with what it needs to be quick about it.
fn start_on(data: &std::path::Path) -> (Child, String) {
    let quick = [
        "--firehose-activation-delay",
        "0s",
        "--kinesis-status-delay",
        "0s",
    ];
    let (child, url, mut stdout) = spawn(data, &quick, Stdio::null());
    // Keep reading, so that the emulator never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, url)
}

/// The `id` of every record delivered under a bucket's directory, read from
/// the files as a learner would open them.
fn delivered_ids(data: &std::path::Path, bucket: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut dirs = vec![data.join("s3").join(bucket)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let body = std::fs::read(&path).unwrap();
                for record in serde_json::Deserializer::from_slice(&body).into_iter::<serde_json::Value>() {
                    ids.push(record.unwrap()["id"].as_u64().unwrap());
                }
            }
        }
    }
    ids.sort_unstable();
    ids
}

/// Finding: kill -9, then a restart on the same `--data-dir`, lost the
/// streams, every record on them, the delivery streams and what Firehose had
/// buffered. Now: writers put records while the emulator is killed with
/// SIGKILL; after a restart, every acknowledged record is on the stream and
/// reaches S3, through a delivery stream that writes at once and one that was
/// still buffering. Duplicates are counted; a clean stop adds none.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_acknowledged_record() {
    use aws_sdk_firehose::types::{
        BufferingHints, DeliveryStreamType, KinesisStreamSourceConfiguration, S3DestinationConfiguration,
    };
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    use kinesis_lab::target::Target;
    use std::sync::{Arc, Mutex};

    let data = temp_path("kill-9-data");
    let (mut child, url) = start_on(&data);
    let clients = Target::Endpoint(url).connect().await.unwrap();
    clients
        .kinesis
        .create_stream()
        .stream_name("crash")
        .shard_count(2)
        .send()
        .await
        .unwrap();
    for (bucket, interval) in [("at-once", 0), ("buffering", 900)] {
        clients.s3.create_bucket().bucket(bucket).send().await.unwrap();
        #[allow(deprecated)] // S3DestinationConfiguration, as the lab sends it.
        let destination = S3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::000000000000:role/firehose")
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .buffering_hints(
                BufferingHints::builder()
                    .size_in_mbs(128)
                    .interval_in_seconds(interval)
                    .build(),
            )
            .build()
            .unwrap();
        #[allow(deprecated)]
        clients
            .firehose
            .create_delivery_stream()
            .delivery_stream_name(bucket)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/crash")
                    .role_arn("arn:aws:iam::000000000000:role/firehose")
                    .build()
                    .unwrap(),
            )
            .s3_destination_configuration(destination)
            .send()
            .await
            .unwrap();
    }

    // Two writers, each putting batches of 100 until the emulator is gone.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..2u64 {
        let (kinesis, acknowledged) = (clients.kinesis.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for batch in 0.. {
                let ids: Vec<u64> = (0..100).map(|i| (writer << 40) | (batch << 8) | i).collect();
                let entries = ids.iter().map(|id| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(id.to_string())
                        .data(Blob::new(format!("{{\"id\":{id}}}")))
                        .build()
                        .unwrap()
                });
                let Ok(put) = kinesis
                    .put_records()
                    .stream_name("crash")
                    .set_records(Some(entries.collect()))
                    .send()
                    .await
                else {
                    return;
                };
                let stored = put
                    .records()
                    .iter()
                    .zip(&ids)
                    .filter(|(r, _)| r.sequence_number().is_some());
                acknowledged.lock().unwrap().extend(stored.map(|(_, id)| *id));
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let mut acknowledged = acknowledged.lock().unwrap().clone();
    acknowledged.sort_unstable();
    assert!(
        acknowledged.len() > 1000,
        "only {} records were put",
        acknowledged.len()
    );

    // Restarted on the same directory: every acknowledged record is on the stream.
    let (child, url) = start_on(&data);
    let clients = Target::Endpoint(url).connect().await.unwrap();
    let mut stored = Vec::new();
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let mut iterator = clients
            .kinesis
            .get_shard_iterator()
            .stream_name("crash")
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let page = clients
                .kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .unwrap();
            if page.records().is_empty() {
                break;
            }
            for record in page.records() {
                let value: serde_json::Value = serde_json::from_slice(record.data().as_ref()).unwrap();
                stored.push(value["id"].as_u64().unwrap());
            }
            iterator = page.next_shard_iterator().unwrap().to_owned();
        }
    }
    stored.sort_unstable();
    let lost_from_stream = acknowledged
        .iter()
        .filter(|id| stored.binary_search(id).is_err())
        .count();
    assert_eq!(
        lost_from_stream, 0,
        "acknowledged records missing from the stream"
    );

    // The delivery stream that writes at once catches up; then a clean stop
    // writes what the buffering one held.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while delivered_ids(&data, "at-once").len() < acknowledged.len() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    interrupt(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());

    let mut figures = Vec::new();
    for bucket in ["at-once", "buffering"] {
        let delivered = delivered_ids(&data, bucket);
        let lost = acknowledged
            .iter()
            .filter(|id| delivered.binary_search(id).is_err())
            .count();
        let mut distinct = delivered.clone();
        distinct.dedup();
        figures.push(format!(
            "{bucket}: {} acknowledged, {} delivered, {lost} lost, {} duplicates",
            acknowledged.len(),
            delivered.len(),
            delivered.len() - distinct.len()
        ));
        assert_eq!(lost, 0, "{bucket}: acknowledged records never delivered");
    }
    eprintln!("kill -9 while writing: {}", figures.join("; "));

    // A clean stop, then a start: nothing is delivered again.
    let before = (
        delivered_ids(&data, "at-once").len(),
        delivered_ids(&data, "buffering").len(),
    );
    let (child, _) = start_on(&data);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    interrupt(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());
    let after = (
        delivered_ids(&data, "at-once").len(),
        delivered_ids(&data, "buffering").len(),
    );
    assert_eq!(
        after, before,
        "a restart after a clean stop delivered records again"
    );
}

/// `kinesis-lab health`, as a container's health check and a CI step run it:
/// exit 0 and the version when the emulator answers; exit 1, with what to do,
/// when nothing does; exit 1 too when something else answers there; and
/// `--wait` waits for an emulator that is still starting.
#[test]
fn health_says_whether_an_emulator_answers() {
    let health = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
            .arg("health")
            .args(args)
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap()
    };
    let (mut child, url, _stdout) = start(&[]);
    let up = health(&["--endpoint-url", &url]);
    assert!(up.status.success(), "{}", crate::text(&up.stderr));
    assert_eq!(
        crate::text(&up.stdout),
        format!(
            "kinesis-lab emulator {} answers at {url}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let json = health(&["--endpoint-url", &url, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["healthy"], true);
    assert_eq!(json["emulator"]["services"]["firehose"], "running");
    interrupt(&child);
    child.wait().unwrap();

    // Something that answers HTTP, but is not the emulator.
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stranger_url = format!("http://{}", stranger.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in stranger.incoming().flatten().take(1) {
            let mut stream = stream;
            let mut request = [0; 1024];
            let _ = stream.read(&mut request);
            let _ =
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let other = health(&["--endpoint-url", &stranger_url]);
    assert_eq!(other.status.code(), Some(1));
    let said = crate::text(&other.stderr);
    assert!(
        said.contains("answers, but not as a kinesis-lab emulator: HTTP 404"),
        "{said}"
    );

    // Nothing at all: a free port, closed again.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = health(&["--endpoint-url", &format!("http://{free}")]);
    assert_eq!(down.status.code(), Some(1));
    let said = crate::text(&down.stderr);
    assert!(
        said.contains(&format!("nothing answers at http://{free}")),
        "{said}"
    );
    assert!(said.contains("Start one with `kinesis-lab emulator`"), "{said}");
}

/// `health --wait` asks until an emulator that is starting answers.
#[test]
fn health_wait_waits_for_an_emulator_that_is_starting() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{free}");
    let waiting = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["health", "--wait", "30s", "--endpoint-url", &url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let data = temp_path("health-wait");
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args([
            "emulator",
            "--ephemeral",
            "--port",
            &free.port().to_string(),
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waited = waiting.wait_with_output().unwrap();
    interrupt(&emulator);
    emulator.wait().unwrap();
    assert!(waited.status.success(), "{}", crate::text(&waited.stdout));
    assert!(crate::text(&waited.stdout).contains("answers at"));
}
