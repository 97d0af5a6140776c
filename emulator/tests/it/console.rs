//! The console (issue 13), through HTTP as a browser sends it: lab step 1.1
//! done with its form, records with HTML in them shown as text, Firehose's
//! buffer and the delivered records, and requests from anywhere but the
//! console itself refused.

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;

use crate::Lab;

/// What came back: the status, the headers (names in lower case), the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with the given extra headers, as a browser sends it.
async fn request(lab: &Lab, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = lab
        .emulator
        .endpoint_url()
        .strip_prefix("http://")
        .unwrap()
        .to_owned();
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn origin(lab: &Lab) -> String {
    lab.emulator.endpoint_url().to_owned()
}

/// Lab step 1.1 in the console: "Create data stream" with its defaults makes
/// an on-demand stream (4 shards); provisioned takes the shard count.
#[tokio::test]
async fn create_data_stream_as_the_console_does() {
    let lab = Lab::start().await;
    let page = request(&lab, "GET", "/_console/streams", &[], "").await;
    assert_eq!(page.status, 200);
    for words in [
        "Data stream name",
        "On-demand",
        "Provisioned",
        "Create data stream",
    ] {
        assert!(page.body.contains(words), "{words} is not on the page");
    }
    let origin = origin(&lab);
    let headers = [
        ("Origin", origin.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let created = request(
        &lab,
        "POST",
        "/_console/streams",
        &headers,
        "name=clicked&mode=ON_DEMAND",
    )
    .await;
    assert_eq!(created.status, 303);
    assert_eq!(created.header("location"), Some("/_console/streams/clicked"));
    let created = request(
        &lab,
        "POST",
        "/_console/streams",
        &headers,
        "name=two&mode=PROVISIONED&shards=2",
    )
    .await;
    assert_eq!(created.status, 303);
    lab.wait_for_stream("clicked").await;
    lab.wait_for_stream("two").await;
    for (name, mode, shards) in [("clicked", "ON_DEMAND", 4), ("two", "PROVISIONED", 2)] {
        let described = lab
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        let summary = described.stream_description_summary().unwrap();
        assert_eq!(
            summary.stream_mode_details().unwrap().stream_mode().as_str(),
            mode
        );
        assert_eq!(summary.open_shard_count(), shards);
    }

    // A name Kinesis refuses comes back to the form with AWS's reason.
    let refused = request(
        &lab,
        "POST",
        "/_console/streams",
        &headers,
        "name=bad%2Fname&mode=ON_DEMAND",
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("The stream was not created"),
        "{}",
        refused.body
    );

    let deleted = request(&lab, "POST", "/_console/streams/two/delete", &headers, "").await;
    assert_eq!(deleted.status, 303);
}

/// Another site cannot drive the console: a POST without the console's own
/// Origin, or a request for another host name (DNS rebinding), is refused and
/// changes nothing.
#[tokio::test]
async fn requests_from_elsewhere_are_refused() {
    let lab = Lab::start().await;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let no_origin = request(
        &lab,
        "POST",
        "/_console/streams",
        &form,
        "name=forged&mode=ON_DEMAND",
    )
    .await;
    assert_eq!(no_origin.status, 403);
    let elsewhere = [
        ("Origin", "http://evil.example"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let forged = request(
        &lab,
        "POST",
        "/_console/streams",
        &elsewhere,
        "name=forged&mode=ON_DEMAND",
    )
    .await;
    assert_eq!(forged.status, 403);
    let rebound = request(&lab, "GET", "/_console/", &[("Host", "evil.example:4566")], "").await;
    assert_eq!(rebound.status, 403);
    let listed = lab.kinesis.list_streams().send().await.unwrap();
    assert!(listed.stream_names().is_empty(), "{:?}", listed.stream_names());
}

/// A name given in `console_hosts` (`--console-host`, for a container
/// reached by a machine's name through a mapped port) is served on any port;
/// its forms must still come from its own pages, and other names are refused.
#[tokio::test]
async fn a_name_it_was_given_is_served_and_others_still_refused() {
    let lab = Lab::start_with(emulator::Config {
        console_hosts: vec!["lab-box".to_owned()],
        ..emulator::Config::for_tests()
    })
    .await;
    let named = request(&lab, "GET", "/_console/", &[("Host", "lab-box:8080")], "").await;
    assert_eq!(named.status, 200, "{}", named.body);
    let other = request(&lab, "GET", "/_console/", &[("Host", "other-box:8080")], "").await;
    assert_eq!(other.status, 403);
    let form = "name=from-lab-box&mode=ON_DEMAND";
    let forged = [
        ("Host", "lab-box:8080"),
        ("Origin", "http://evil.example"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    assert_eq!(
        request(&lab, "POST", "/_console/streams", &forged, form)
            .await
            .status,
        403
    );
    let own = [
        ("Host", "lab-box:8080"),
        ("Origin", "http://lab-box:8080"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let created = request(&lab, "POST", "/_console/streams", &own, form).await;
    assert!(created.status < 400, "{} {}", created.status, created.body);
    let listed = lab.kinesis.list_streams().send().await.unwrap();
    assert_eq!(listed.stream_names(), ["from-lab-box"]);
}

/// `--console-host lab-box:8080` was compared with the Host header's name
/// alone, so it never matched anything, and nothing said so. A name with a
/// port matches that name on that port only (a Host with no port is port 80).
#[tokio::test]
async fn console_host_with_a_port_matches_that_host_and_port() {
    let lab = Lab::start_with(emulator::Config {
        console_hosts: vec!["lab-box:8080".to_owned(), "Other-Box".to_owned()],
        ..emulator::Config::for_tests()
    })
    .await;
    for (host, status) in [
        ("lab-box:8080", 200),
        ("LAB-BOX:8080", 200),
        ("lab-box:9090", 403),
        ("lab-box", 403),
        ("other-box:9090", 200),
        ("other-box", 200),
    ] {
        let answer = request(&lab, "GET", "/_console/", &[("Host", host)], "").await;
        assert_eq!(answer.status, status, "Host: {host}: {}", answer.body);
    }
}

/// A `--console-host` that no Host header can ever match stops the emulator
/// at start, with the value in quotes and why, rather than refuse every
/// request that was meant for it.
#[tokio::test]
async fn console_host_it_can_never_match_is_refused_at_start() {
    for (value, why) in [
        ("http://lab-box:8080", "a URL"),
        ("lab-box:http", "not a port number"),
        ("lab-box:0", "not a port number"),
        ("lab box", "' '"),
        ("lab-box/console", "'/'"),
        ("", "empty"),
        ("[not-an-address]:8080", "not an IPv6 address"),
    ] {
        let config = emulator::Config {
            console_hosts: vec![value.to_owned()],
            ..emulator::Config::for_tests()
        };
        let Err(err) = emulator::Emulator::start(config).await else {
            panic!("the console host {value:?} was taken");
        };
        let message = err.to_string();
        assert!(message.contains(&format!("\"{value}\"")), "{value:?}: {message}");
        assert!(message.contains(why), "{value:?}: {message}");
        assert!(message.contains("\n"), "no remedy line: {message}");
    }
}

/// Records are untrusted: HTML in a record is shown as text, and the page
/// forbids scripts whatever it holds.
#[tokio::test]
async fn html_in_records_is_shown_as_text() {
    let lab = Lab::start().await;
    lab.create_stream("s", 1).await;
    let hostile = r#"{"session_id":"<script>alert(1)</script>","city":"<img src=x onerror=alert(2)>"}"#;
    lab.kinesis
        .put_record()
        .stream_name("s")
        .partition_key("</pre><script>")
        .data(Blob::new(hostile))
        .send()
        .await
        .unwrap();
    let page = request(&lab, "GET", "/_console/streams/s", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(
        !page.body.contains("<script") && !page.body.contains("<img"),
        "{}",
        page.body
    );
    // The chart of what came in, drawn on the server.
    assert!(
        page.body.contains("<svg") && page.body.contains("Last minute: 1 records"),
        "{}",
        page.body
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
}

/// The pipeline, Firehose's buffer and a delivered object's records: what a
/// learner looks at while part 2 runs.
#[tokio::test]
async fn firehose_and_delivered_records_are_shown() {
    let lab = Lab::start().await;
    lab.create_stream("usa", 1).await;
    lab.create_bucket("bucket").await;
    lab.create_delivery_stream("to-bucket", "usa", "bucket", (1, 1))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    lab.put(
        "usa",
        &[
            r#"{"session_id":"a1","country":"USA"}"#.to_owned(),
            r#"{"session_id":"b2","country":"USA"}"#.to_owned(),
        ],
    )
    .await;
    let objects = lab.wait_for_objects("bucket", "firehose/", 1).await;

    let home = request(&lab, "GET", "/_console/", &[], "").await;
    for name in ["usa", "to-bucket", "bucket"] {
        assert!(home.body.contains(name), "{name} is not in the pipeline");
    }
    // Firehose read the two records within the last 10 s, and wrote them.
    assert!(home.body.contains("in: 0.2 records/s"), "{}", home.body);
    assert!(
        home.body.contains("read: ") && !home.body.contains("read: 0.0 records/s"),
        "{}",
        home.body
    );
    let firehose = request(&lab, "GET", "/_console/firehose", &[], "").await;
    assert!(
        firehose.body.contains("1 objects, 2 records"),
        "{}",
        firehose.body
    );
    assert!(firehose.body.contains("1 MiB or 1 s"), "{}", firehose.body);

    let listing = request(&lab, "GET", "/_console/s3/bucket?prefix=firehose/", &[], "").await;
    let key = &objects[0].0;
    assert!(listing.body.contains(key.as_str()), "{}", listing.body);
    let link = format!("/_console/s3/bucket/{key}");
    let object = request(&lab, "GET", &link, &[], "").await;
    assert_eq!(object.status, 200);
    assert!(object.body.contains("2 records"), "{}", object.body);
    assert!(
        object.body.contains("&quot;session_id&quot;: &quot;b2&quot;"),
        "{}",
        object.body
    );
    let download = request(&lab, "GET", &format!("{link}?download"), &[], "").await;
    assert_eq!(download.body.as_bytes(), objects[0].1.as_slice());
    assert!(
        download
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
}

/// The lease tables of ETL workers: each shard's worker, counter and
/// checkpoint, and how far behind the newest record the checkpoint is.
#[tokio::test]
async fn lease_tables_show_who_reads_which_shard_and_how_far_behind() {
    use aws_sdk_dynamodb::types::{AttributeValue, Tag};
    let lab = Lab::start().await;
    lab.create_stream("sessions", 2).await;
    let put = |key: &'static str, data: &'static str| {
        lab.kinesis
            .put_record()
            .stream_name("sessions")
            .partition_key(key)
            .data(Blob::new(data))
            .send()
    };
    let first = put("k", "one").await.unwrap();
    put("k", "two").await.unwrap();
    let dynamodb = crate::dynamodb(lab.emulator.endpoint_url());
    let created = crate::create_lease_table(&dynamodb, "etl-leases").await.unwrap();
    let arn = created.table_description.unwrap().table_arn.unwrap();
    dynamodb
        .tag_resource()
        .resource_arn(arn)
        .tags(
            Tag::builder()
                .key("kinesis-lab:stream")
                .value("sessions")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let s = |text: &str| AttributeValue::S(text.to_owned());
    let behind_shard = first.shard_id().to_owned();
    let other_shard = ["shardId-000000000000", "shardId-000000000001"]
        .into_iter()
        .find(|shard| *shard != behind_shard)
        .unwrap();
    for (shard, owner, checkpoint) in [
        (behind_shard.as_str(), Some("worker-1"), first.sequence_number()),
        (other_shard, None, "TRIM_HORIZON"),
    ] {
        let mut item = dynamodb
            .put_item()
            .table_name("etl-leases")
            .item("leaseKey", s(shard))
            .item("leaseCounter", AttributeValue::N("3".into()))
            .item("checkpoint", s(checkpoint));
        if let Some(owner) = owner {
            item = item.item("leaseOwner", s(owner));
        }
        item.send().await.unwrap();
    }

    let page = request(&lab, "GET", "/_console/leases", &[], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("etl-leases"), "{}", page.body);
    assert!(page.body.contains("Shares the shards of"), "{}", page.body);
    assert!(page.body.contains("worker-1"), "{}", page.body);
    assert!(page.body.contains("nobody"), "{}", page.body);
    assert!(
        page.body.contains(" s behind"),
        "one record after the checkpoint: {}",
        page.body
    );
    assert!(page.body.contains("not started"), "{}", page.body);
}

/// A delivery stream with CloudWatch logging shows its latest error events
/// (its bucket is missing here), and a data stream's page charts its records
/// put and read per minute over the last hour, from its AWS/Kinesis metrics.
#[tokio::test]
async fn delivery_errors_and_records_per_minute_are_shown() {
    use aws_sdk_firehose::types::CloudWatchLoggingOptions;
    let lab = Lab::start().await;
    lab.create_stream("usa", 1).await;
    lab.from_kinesis("to-nowhere", "usa")
        .s3_destination_configuration(
            crate::s3_destination("missing-bucket", (1, 0))
                .cloud_watch_logging_options(
                    CloudWatchLoggingOptions::builder()
                        .enabled(true)
                        .log_group_name("usa-log-group")
                        .log_stream_name("usa-log-stream")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    lab.put("usa", &[r#"{"session_id":"a1"}"#.to_owned()]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let firehose = request(&lab, "GET", "/_console/firehose", &[], "").await;
        if firehose.body.contains("S3.NoSuchBucket") {
            assert!(firehose.body.contains("usa-log-group"), "{}", firehose.body);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", firehose.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stream = request(&lab, "GET", "/_console/streams/usa", &[], "").await;
    assert!(stream.body.contains("Records per minute"), "{}", stream.body);
    assert!(stream.body.contains("GetRecords.Records"), "{}", stream.body);
}
