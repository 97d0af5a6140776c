//! S3 keys as AWS keeps them: any key is stored and read back exactly, inside
//! its own bucket (issue 10, finding 6).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;

use crate::{Lab, records, s3_destination, split_json};

async fn put(lab: &Lab, bucket: &str, key: &str, body: &str) {
    lab.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("PutObject {bucket}/{key}: {err:?}"));
}

async fn get(lab: &Lab, bucket: &str, key: &str) -> String {
    let object = lab
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GetObject {bucket}/{key}: {err:?}"));
    String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
}

async fn keys(lab: &Lab, bucket: &str, prefix: &str, delimiter: Option<&str>) -> (Vec<String>, Vec<String>) {
    let listing = lab
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_delimiter(delimiter.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let keys = listing
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_owned)
        .collect();
    let prefixes = listing
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .map(str::to_owned)
        .collect();
    (keys, prefixes)
}

/// Finding: `PutObject` to `victim` with key `../other/k` landed in bucket `other`.
#[tokio::test]
async fn a_dot_dot_key_stays_in_its_bucket() {
    let lab = Lab::start().await;
    lab.create_bucket("victim").await;
    lab.create_bucket("other").await;
    put(&lab, "victim", "../other/k", "mine").await;

    assert_eq!(get(&lab, "victim", "../other/k").await, "mine");
    assert_eq!(keys(&lab, "other", "", None).await.0, Vec::<String>::new());
    let missing = lab
        .s3
        .get_object()
        .bucket("other")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchKey"));
    assert_eq!(keys(&lab, "victim", "", None).await.0, ["../other/k"]);
}

/// Finding: `../../x` made ListBuckets show buckets that are not buckets.
#[tokio::test]
async fn list_buckets_lists_buckets_only() {
    let lab = Lab::start().await;
    lab.create_bucket("victim").await;
    put(&lab, "victim", "../../x", "1").await;
    put(&lab, "victim", "../made-up-bucket/y", "2").await;
    let buckets = lab.s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["victim"]);
}

/// Finding: `GET /victim/..` panicked in the path handling. Every such key now
/// gets an answer, and the endpoint goes on serving.
#[tokio::test]
async fn dot_and_dot_dot_keys_get_answers() {
    let lab = Lab::start().await;
    lab.create_bucket("victim").await;
    for key in ["..", ".", "a/..", "./b"] {
        let missing = lab
            .s3
            .get_object()
            .bucket("victim")
            .key(key)
            .send()
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Some("NoSuchKey"), "GET {key}: {missing:?}");
        put(&lab, "victim", key, key).await;
        assert_eq!(get(&lab, "victim", key).await, key);
    }
    // A raw request with the path not normalised by any client.
    let address = lab.emulator.local_addr();
    let request = format!("GET /victim/.. HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let response = raw(address, &request).await;
    assert!(response.starts_with("HTTP/1.1 "), "no answer: {response:?}");
    assert_eq!(get(&lab, "victim", "..").await, "..");
}

async fn raw(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Keys with a leading `/`, `//`, a trailing `/`, `%`, a key that is another's
/// "directory" and the longest key AWS takes are stored and read back exactly,
/// and listed by prefix and delimiter as they were given.
#[tokio::test]
async fn any_key_aws_takes_round_trips_and_lists() {
    let lab = Lab::start().await;
    lab.create_bucket("keys").await;
    let long = format!("deep/{}", "k".repeat(1019));
    assert_eq!(long.len(), 1024);
    let all = [
        "/lead",
        "a//b",
        "a/",
        "a/.",
        "a/.x",
        "%41",
        "%long/z",
        "x",
        "x/y",
        long.as_str(),
    ];
    for key in all {
        put(&lab, "keys", key, key).await;
    }
    for key in all {
        assert_eq!(get(&lab, "keys", key).await, key, "{key}");
    }
    let mut expected: Vec<&str> = all.to_vec();
    expected.sort();
    assert_eq!(keys(&lab, "keys", "", None).await.0, expected);
    assert_eq!(keys(&lab, "keys", "a/.", None).await.0, ["a/.", "a/.x"]);
    let (top, prefixes) = keys(&lab, "keys", "", Some("/")).await;
    assert_eq!(top, ["%41", "x"]);
    assert_eq!(prefixes, ["%long/", "/", "a/", "deep/", "x/"]);

    let too_long = format!("{long}x");
    let refused = lab
        .s3
        .put_object()
        .bucket("keys")
        .key(&too_long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KeyTooLongError"));

    lab.s3
        .delete_object()
        .bucket("keys")
        .key(&long)
        .send()
        .await
        .unwrap();
    lab.s3
        .delete_object()
        .bucket("keys")
        .key("a//b")
        .send()
        .await
        .unwrap();
    lab.s3
        .delete_object()
        .bucket("keys")
        .key("x")
        .send()
        .await
        .unwrap();
    let remaining = keys(&lab, "keys", "", None).await.0;
    expected.retain(|key| ![long.as_str(), "a//b", "x"].contains(key));
    assert_eq!(remaining, expected);
    // With `x` gone, `x` is a plain path again; the object is still one object.
    put(&lab, "keys", "x/y", "again").await;
    assert_eq!(get(&lab, "keys", "x/y").await, "again");
    assert_eq!(keys(&lab, "keys", "x", None).await.0, ["x/y"]);
}

/// Finding: a Firehose Prefix starting with `/` got a 500 from S3, was retried
/// forever, and its records were dropped at shutdown. AWS takes that prefix,
/// and one as long as AWS allows.
#[tokio::test]
async fn a_firehose_prefix_aws_accepts_is_delivered() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    let long_prefix = format!("long/{}/", "p".repeat(200));
    for (name, prefix) in [("slash", "/lab/"), ("long", long_prefix.as_str())] {
        lab.from_kinesis(name, "source")
            .s3_destination_configuration(s3_destination("bucket", (1, 0)).prefix(prefix).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let sent = records(0, 3);
    lab.put("source", &sent).await;
    for prefix in ["/lab/", long_prefix.as_str()] {
        let mut delivered = Vec::new();
        for _ in 0..200 {
            delivered = lab
                .objects("bucket", prefix)
                .await
                .iter()
                .flat_map(|(_, body)| split_json(body))
                .map(|v| v.to_string())
                .collect();
            if delivered.len() >= sent.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        delivered.sort();
        assert_eq!(delivered, sent, "under {prefix}");
    }
}
