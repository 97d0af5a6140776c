//! CloudWatch metrics on the endpoint: what the SDK for Rust sends (RPC v2
//! CBOR), what botocore sends (JSON 1.0) and what older SDKs send (the query
//! protocol), and the emulator's own `AWS/Kinesis` and `AWS/Firehose`.

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, Statistic};

use crate::{Lab, REGION, records};

pub fn cloudwatch_client(endpoint_url: &str) -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    )
}

fn seconds_ago(seconds: i64) -> DateTime {
    DateTime::from_secs(chrono::Utc::now().timestamp() - seconds)
}

/// The sum of a metric over the last half hour, one period.
async fn sum(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    dimension: (&str, &str),
) -> f64 {
    let answer = cloudwatch
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(name)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .start_time(seconds_ago(1800))
        .end_time(seconds_ago(-60))
        .period(3600)
        .statistics(Statistic::Sum)
        .send()
        .await
        .unwrap();
    answer.datapoints().iter().filter_map(|d| d.sum()).sum()
}

/// PutMetricData, ListMetrics, GetMetricStatistics and GetMetricData with the
/// SDK for Rust, which speaks RPC v2 CBOR; AWS's statistics, and AWS's error
/// for the reserved `AWS/` namespaces.
#[tokio::test]
async fn put_metric_data_then_list_metrics_and_statistics_with_the_rust_sdk() {
    let lab = Lab::start().await;
    let cloudwatch = cloudwatch_client(lab.emulator.endpoint_url());
    let host = Dimension::builder().name("Worker").value("w-1").build();
    let at = seconds_ago(30);
    for value in [1.0, 2.0, 6.0] {
        cloudwatch
            .put_metric_data()
            .namespace("Lab/ETL")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("RecordsProcessed")
                    .dimensions(host.clone())
                    .timestamp(at)
                    .value(value)
                    .unit(StandardUnit::Count)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let listed = cloudwatch
        .list_metrics()
        .namespace("Lab/ETL")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.metrics().len(), 1);
    assert_eq!(listed.metrics()[0].metric_name(), Some("RecordsProcessed"));
    assert_eq!(listed.metrics()[0].dimensions()[0].value(), Some("w-1"));

    let statistics = cloudwatch
        .get_metric_statistics()
        .namespace("Lab/ETL")
        .metric_name("RecordsProcessed")
        .dimensions(host.clone())
        .start_time(seconds_ago(600))
        .end_time(seconds_ago(-60))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Average)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    let points = statistics.datapoints();
    assert_eq!(points.len(), 1, "{points:?}");
    let point = &points[0];
    assert_eq!(point.sum(), Some(9.0));
    assert_eq!(point.average(), Some(3.0));
    assert_eq!(point.sample_count(), Some(3.0));
    assert_eq!((point.minimum(), point.maximum()), (Some(1.0), Some(6.0)));
    assert_eq!(point.unit(), Some(&StandardUnit::Count));
    assert!(point.timestamp().is_some());

    let data = cloudwatch
        .get_metric_data()
        .start_time(seconds_ago(600))
        .end_time(seconds_ago(-60))
        .metric_data_queries(
            aws_sdk_cloudwatch::types::MetricDataQuery::builder()
                .id("processed")
                .metric_stat(
                    aws_sdk_cloudwatch::types::MetricStat::builder()
                        .metric(
                            aws_sdk_cloudwatch::types::Metric::builder()
                                .namespace("Lab/ETL")
                                .metric_name("RecordsProcessed")
                                .dimensions(host)
                                .build(),
                        )
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let result = &data.metric_data_results()[0];
    assert_eq!(result.id(), Some("processed"));
    assert_eq!(result.values(), [6.0]);
    assert_eq!(result.timestamps().len(), 1);

    let err = cloudwatch
        .put_metric_data()
        .namespace("AWS/Kinesis")
        .metric_data(
            MetricDatum::builder()
                .metric_name("IncomingRecords")
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
}

/// Sends a raw request and returns its status and body.
async fn raw(endpoint_url: &str, head: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint_url.strip_prefix("http://").unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// What boto3 and the AWS CLI send (botocore picks JSON 1.0 from the model's
/// protocols) and what older SDKs send (the query protocol, form-encoded,
/// told from STS by its credential scope) reach the same metrics, and each is
/// answered in its own form, errors included.
#[tokio::test]
async fn json_and_query_protocols_as_botocore_and_older_sdks_send_them() {
    let lab = Lab::start().await;
    let url = lab.emulator.endpoint_url();
    let now = chrono::Utc::now().timestamp();
    let json = "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: GraniteServiceVersion20100801.";
    let put = serde_json::json!({
        "Namespace": "Lab/Producer",
        "MetricData": [{"MetricName": "Sent", "Value": 4, "Timestamp": now - 20,
                        "Dimensions": [{"Name": "Stream", "Value": "source"}]}],
    });
    let (status, body) = raw(url, &format!("{json}PutMetricData\r\n"), &put.to_string()).await;
    assert_eq!(status, 200, "{body}");

    let scope = "Authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/monitoring/aws4_request, \
                 SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n";
    let form = serde_urlencoded::to_string([
        ("Action", "PutMetricData"),
        ("Version", "2010-08-01"),
        ("Namespace", "Lab/Producer"),
        ("MetricData.member.1.MetricName", "Sent"),
        ("MetricData.member.1.Value", "6"),
        ("MetricData.member.1.Dimensions.member.1.Name", "Stream"),
        ("MetricData.member.1.Dimensions.member.1.Value", "source"),
    ])
    .unwrap();
    let (status, body) = raw(url, scope, &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<PutMetricDataResponse"), "{body}");

    let start = chrono::DateTime::from_timestamp(now - 600, 0)
        .unwrap()
        .to_rfc3339();
    let end = chrono::DateTime::from_timestamp(now + 60, 0)
        .unwrap()
        .to_rfc3339();
    let form = serde_urlencoded::to_string([
        ("Action", "GetMetricStatistics"),
        ("Version", "2010-08-01"),
        ("Namespace", "Lab/Producer"),
        ("MetricName", "Sent"),
        ("Dimensions.member.1.Name", "Stream"),
        ("Dimensions.member.1.Value", "source"),
        ("StartTime", start.as_str()),
        ("EndTime", end.as_str()),
        ("Period", "3600"),
        ("Statistics.member.1", "Sum"),
    ])
    .unwrap();
    let (status, body) = raw(url, scope, &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Sum>10</Sum>"), "{body}");

    let get = serde_json::json!({
        "Namespace": "Lab/Producer", "MetricName": "Sent",
        "Dimensions": [{"Name": "Stream", "Value": "source"}],
        "StartTime": now - 600, "EndTime": now + 60, "Period": 3600, "Statistics": ["SampleCount"],
    });
    let (status, body) = raw(url, &format!("{json}GetMetricStatistics\r\n"), &get.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["Datapoints"][0]["SampleCount"], 2.0, "{answer}");

    // Errors: XML for the query protocol, __type for JSON.
    let (status, body) = raw(url, scope, "Action=GetMetricStatistics&Version=2010-08-01").await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MissingParameter</Code>"), "{body}");
    let (status, body) = raw(url, &format!("{json}PutMetricAlarm\r\n"), "{}").await;
    assert_eq!(status, 400);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["__type"]
            .as_str()
            .unwrap()
            .ends_with("UnknownOperationException"),
        "{answer}"
    );
}

/// After N records put on a stream, AWS/Kinesis IncomingRecords sums to N;
/// Firehose delivering them publishes AWS/Firehose's delivery metrics, and
/// its reads count in GetRecords.Records.
#[tokio::test]
async fn kinesis_and_firehose_publish_their_aws_metrics() {
    let lab = Lab::start().await;
    let cloudwatch = cloudwatch_client(lab.emulator.endpoint_url());
    lab.create_stream("usa", 1).await;
    lab.create_bucket("usa-bucket").await;
    lab.create_delivery_stream("usa-firehose", "usa", "usa-bucket", (1, 0))
        .await;
    let sent = records(0, 7);
    lab.put("usa", &sent).await;
    let batch: Vec<_> = records(7, 5)
        .into_iter()
        .map(|r| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("k")
                .data(aws_sdk_kinesis::primitives::Blob::new(r))
                .build()
                .unwrap()
        })
        .collect();
    lab.kinesis
        .put_records()
        .stream_name("usa")
        .set_records(Some(batch))
        .send()
        .await
        .unwrap();
    let stream = ("StreamName", "usa");
    assert_eq!(
        sum(&cloudwatch, "AWS/Kinesis", "IncomingRecords", stream).await,
        12.0
    );
    assert!(sum(&cloudwatch, "AWS/Kinesis", "IncomingBytes", stream).await > 0.0);

    let firehose = ("DeliveryStreamName", "usa-firehose");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while sum(&cloudwatch, "AWS/Firehose", "DeliveryToS3.Records", firehose).await < 12.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Firehose never reported 12 records delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        sum(&cloudwatch, "AWS/Firehose", "IncomingRecords", firehose).await,
        12.0
    );
    assert!(sum(&cloudwatch, "AWS/Firehose", "DeliveryToS3.Success", firehose).await >= 1.0);
    assert_eq!(
        sum(&cloudwatch, "AWS/Kinesis", "GetRecords.Records", stream).await,
        12.0
    );
    let listed = cloudwatch
        .list_metrics()
        .namespace("AWS/Kinesis")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = listed.metrics().iter().filter_map(|m| m.metric_name()).collect();
    for name in [
        "IncomingRecords",
        "IncomingBytes",
        "GetRecords.Records",
        "GetRecords.IteratorAgeMilliseconds",
    ] {
        assert!(names.contains(&name), "{name} is not in {names:?}");
    }
}

/// `WriteProvisionedThroughputExceeded` counts the entries a PutRecords had
/// throttled (answered 200, each marked), as AWS counts them: on a stream
/// with AWS's limits (1,000 records a second a shard), 1,500 records in one
/// second.
#[tokio::test]
async fn throttled_entries_of_a_put_records_count_as_throttled_writes() {
    let mut config = emulator::Config::for_tests();
    config.kinesis.enforce_limits = true;
    let lab = Lab::start_with(config).await;
    let cloudwatch = cloudwatch_client(lab.emulator.endpoint_url());
    lab.create_stream("limited", 1).await;
    let mut throttled = 0;
    for call in 0..3 {
        let batch: Vec<_> = records(call * 500, 500)
            .into_iter()
            .map(|r| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key("k")
                    .data(aws_sdk_kinesis::primitives::Blob::new(r))
                    .build()
                    .unwrap()
            })
            .collect();
        let answer = lab
            .kinesis
            .put_records()
            .stream_name("limited")
            .set_records(Some(batch))
            .send()
            .await
            .unwrap();
        throttled += answer
            .records()
            .iter()
            .filter(|r| r.error_code() == Some("ProvisionedThroughputExceededException"))
            .count();
    }
    assert!(throttled > 0, "1,500 records in a second were all taken");
    assert_eq!(
        sum(
            &cloudwatch,
            "AWS/Kinesis",
            "WriteProvisionedThroughputExceeded",
            ("StreamName", "limited")
        )
        .await,
        throttled as f64
    );
}
