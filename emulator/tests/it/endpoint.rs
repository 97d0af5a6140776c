//! The one endpoint: three services, a health check, clear errors.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use emulator::{Config, Emulator, HEALTH_PATH};

use crate::Lab;

async fn post(url: &str, target: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    // A plain HTTP/1.1 request, as a script with no SDK would send it.
    let url = url.strip_prefix("http://").unwrap();
    let (host, path) = url
        .split_once('/')
        .map_or((url, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(target) = target {
        request.push_str(&format!("X-Amz-Target: {target}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    raw(host, &request).await
}

async fn raw(host: &str, request: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    // Chunked or not, the JSON is on one line of its own.
    let json = body.lines().find(|l| l.starts_with('{')).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap())
}

/// One port serves Kinesis, Firehose and S3, and a health check.
#[tokio::test]
async fn one_endpoint_serves_all_three() {
    let lab = Lab::start().await;
    lab.create_stream("s", 1).await;
    lab.create_bucket("lab-bucket").await;
    assert_eq!(
        lab.kinesis.list_streams().send().await.unwrap().stream_names(),
        ["s"]
    );
    assert_eq!(lab.s3.list_buckets().send().await.unwrap().buckets().len(), 1);
    assert!(
        lab.firehose
            .list_delivery_streams()
            .send()
            .await
            .unwrap()
            .delivery_stream_names()
            .is_empty()
    );

    let host = lab
        .emulator
        .endpoint_url()
        .strip_prefix("http://")
        .unwrap()
        .to_owned();
    let (status, health) = raw(
        &host,
        &format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(health["services"]["firehose"], "running");
}

/// An unknown operation gets a clear AWS-shaped error, never a hang or a 500.
#[tokio::test]
async fn unknown_operations_get_a_clear_error() {
    let lab = Lab::start().await;
    let url = lab.emulator.endpoint_url();
    let (status, body) = post(url, Some("Firehose_20150804.CreateFirehoseOfDreams"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("CreateFirehoseOfDreams")
    );
    // A service the emulator does not serve...
    let (status, body) = post(url, Some("AmazonSQS.ListQueues"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
    // ...and an operation its DynamoDB does not have, named as DynamoDB names it.
    let (status, body) = post(url, Some("DynamoDB_20120810.DescribeLimits"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    assert!(
        body["message"].as_str().unwrap().contains("DescribeLimits"),
        "{body}"
    );
    let (status, body) = post(url, Some("Firehose_20150804.ListDeliveryStreams"), "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "SerializationException");
}

fn s3_signing_with(lab: &Lab, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(lab.emulator.endpoint_url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .force_path_style(true)
            .build(),
    )
}

/// S3 checks signatures against the emulator's credentials, as LocalStack does.
#[tokio::test]
async fn s3_refuses_a_wrong_secret() {
    let lab = Lab::start().await;
    let wrong = s3_signing_with(&lab, "test", "wrong");
    let err = wrong
        .create_bucket()
        .bucket("lab-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch"),
        "{err:?}"
    );
}

/// Finding (moto's Firehose tests, which sign with the key `FOOBARKEY`): S3
/// answered another access key with `NotSignedUp`, "Your account is not
/// signed up". It is AWS's `InvalidAccessKeyId` now, naming the key to use.
#[tokio::test]
async fn s3_names_its_credentials_to_another_access_key() {
    let lab = Lab::start().await;
    let other = s3_signing_with(&lab, "FOOBARKEY", "secret");
    let err = other
        .create_bucket()
        .bucket("lab-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("InvalidAccessKeyId"),
        "{err:?}"
    );
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        message.contains("AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"),
        "{message}"
    );
}

/// Many emulators run side by side, each with its own port and state, and a
/// clean shutdown frees the port.
#[tokio::test]
async fn instances_are_independent() {
    let first = Lab::start().await;
    let second = Lab::start().await;
    assert_ne!(first.emulator.endpoint_url(), second.emulator.endpoint_url());
    first.create_stream("only-in-first", 1).await;
    assert!(
        second
            .kinesis
            .list_streams()
            .send()
            .await
            .unwrap()
            .stream_names()
            .is_empty()
    );
    let addr = first.emulator.local_addr();
    first.emulator.shutdown().await;
    let again = Emulator::start(Config {
        port: addr.port(),
        ..Config::for_tests()
    })
    .await
    .expect("the port is free again");
    again.shutdown().await;
}

/// A port already taken is a clear start-up error that names the address.
#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let lab = Lab::start().await;
    let port = lab.emulator.local_addr().port();
    let err = Emulator::start(Config {
        port,
        ..Config::for_tests()
    })
    .await
    .err()
    .expect("the port is taken");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

/// Finding (a `kcl-rs` worker publishing its CloudWatch metrics): a request
/// signed for a service the endpoint does not serve reached S3, which
/// answered HTTP 501 `unknown service 'monitoring' in credential scope;
/// expected 's3' or 'sts'`, naming two of the endpoint's services. It is
/// AWS's error shape now, in the request's protocol, naming every service.
#[tokio::test]
async fn unknown_service_in_credential_scope_names_every_service_served() {
    let lab = Lab::start().await;
    let host = lab
        .emulator
        .endpoint_url()
        .strip_prefix("http://")
        .unwrap()
        .to_owned();
    let authorization = "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, \
                         SignedHeaders=host;x-amz-date, Signature=0000";
    // A JSON client (SQS's current protocol)...
    let body = "{}";
    let (status, error) = raw(
        &host,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n\
             Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "UnknownServiceException");
    let message = error["message"].as_str().unwrap();
    for service in ["\"sqs\"", "kinesis", "firehose", "dynamodb", "logs", "s3", "sts"] {
        assert!(message.contains(service), "{service} is not in {message}");
    }
    // ...and a query-protocol client, which reads errors from XML.
    let body = "Action=ListQueues&Version=2012-11-05";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("<Code>UnknownServiceException</Code>"),
        "{response}"
    );
    // A service of ours without its target is told what is missing.
    let kinesis_scope = authorization.replace("/sqs/", "/kinesis/");
    let (status, error) = raw(
        &host,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: {kinesis_scope}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "UnknownOperationException", "{error}");
    // STS and S3 are still reached by their own scopes.
    assert!(lab.s3.list_buckets().send().await.is_ok());
}
