//! The lab's part 2 from end to end through the binaries, as the README runs
//! it, and `verify` catching what is wrong in a bucket.

use emulator::{Config, Emulator};
use kinesis_lab::target::Target;

use crate::{kinesis_lab, temp_path, text};

/// infra up, the ETL, the producer, then verify: every generated session is in
/// the right bucket, enriched, once.
#[tokio::test(flavor = "multi_thread")]
async fn the_lab_part_2_flow_verifies() {
    let emulator = Emulator::start(Config::for_tests()).await.unwrap();
    let url = emulator.endpoint_url().to_owned();
    let up = kinesis_lab(
        &["infra", "up", "--endpoint-url", &url, "--buffer-interval", "1"],
        b"",
    );
    assert!(up.status.success(), "{}", text(&up.stderr));

    let dead_letters = temp_path("flow-dead-letters.jsonl");
    let mut etl = std::process::Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["etl", "--endpoint-url", &url, "--dead-letter-file"])
        .arg(&dead_letters)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let put = kinesis_lab(
        &[
            "generate",
            "--endpoint-url",
            &url,
            "--stream",
            "de-c2w2lab1-kinesis-data-stream",
            "--count",
            "25",
            "--seed",
            "8",
            "--mean-gap",
            "0s",
        ],
        b"",
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    let expected = temp_path("flow-sessions.jsonl");
    std::fs::write(
        &expected,
        kinesis_lab(&["generate", "--count", "25", "--seed", "8"], b"").stdout,
    )
    .unwrap();

    let verify = kinesis_lab(
        &[
            "verify",
            "--endpoint-url",
            &url,
            "--expect",
            expected.to_str().unwrap(),
            "--wait",
            "30s",
        ],
        b"",
    );
    std::process::Command::new("kill")
        .args(["-INT", &etl.id().to_string()])
        .status()
        .unwrap();
    let etl_status = etl.wait().unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
    assert!(text(&verify.stdout).contains("expected 25 sessions: 0 missing, 0 delivered more than once"));
    assert!(etl_status.success(), "{etl_status:?}");
}

/// A record in the wrong bucket, or with wrong numbers, fails verification and
/// is named.
#[tokio::test(flavor = "multi_thread")]
async fn verify_names_what_is_wrong() {
    let emulator = Emulator::start(Config::for_tests()).await.unwrap();
    let url = emulator.endpoint_url().to_owned();
    let s3 = Target::Endpoint(url.clone()).connect().await.unwrap().s3;
    for bucket in ["de-c2w2lab1-000000000000-usa", "de-c2w2lab1-000000000000-int"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let wrong_bucket = r#"{"session_id":"f1","customer_number":103,"city":"Lyon","country":"France","credit_limit":1,"browse_history":[],"processing_timestamp":"2026-11-22T17:00:00.000000Z","overall_product_quantity":0,"overall_in_shopping_cart":0,"total_different_products":0}"#;
    let wrong_sum = r#"{"session_id":"u1","customer_number":103,"city":"Boston","country":"USA","credit_limit":1,"browse_history":[{"product_code":"S10_1678","quantity":"3","in_shopping_cart":false}],"processing_timestamp":"2026-11-22T17:00:00.000000Z","overall_product_quantity":4,"overall_in_shopping_cart":0,"total_different_products":1}"#;
    s3.put_object()
        .bucket("de-c2w2lab1-000000000000-usa")
        .key("firehose/2026/11/22/17/de-c2w2lab1-firehose-usa-1-2026-11-22-17-00-00-0d1c4ce3-3c15-4d8a-9e2f-000000000000")
        .body(format!("{wrong_bucket}{wrong_sum}").into_bytes().into())
        .send()
        .await
        .unwrap();
    let verify = kinesis_lab(&["verify", "--endpoint-url", &url], b"");
    assert_eq!(verify.status.code(), Some(1));
    let report = text(&verify.stdout);
    assert!(
        report.contains("session f1 from \"France\" is in the USA bucket"),
        "{report}"
    );
    assert!(
        report.contains("session u1: overall_product_quantity is 4, the lab's rule gives 3"),
        "{report}"
    );
    assert!(report.trim_end().ends_with("verify: FAILED"), "{report}");
}
