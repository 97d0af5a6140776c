//! `verify` catching what is wrong in a bucket. (That it passes when all is
//! right is the lab's part 2 test, in `lab.rs`.)

use crate::target::TestTarget;
use crate::{kinesis_lab, text};

/// A record in the wrong bucket, or with wrong numbers, fails verification and
/// is named.
#[tokio::test(flavor = "multi_thread")]
async fn verify_names_what_is_wrong() {
    let target = TestTarget::start().await;
    let s3 = &target.clients.s3;
    let [usa, international] = target.names.routes();
    for bucket in [&usa.bucket, &international.bucket] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let wrong_bucket = r#"{"session_id":"f1","customer_number":103,"city":"Lyon","country":"France","credit_limit":1,"browse_history":[],"processing_timestamp":"2026-11-22T17:00:00.000000Z","overall_product_quantity":0,"overall_in_shopping_cart":0,"total_different_products":0}"#;
    let wrong_sum = r#"{"session_id":"u1","customer_number":103,"city":"Boston","country":"USA","credit_limit":1,"browse_history":[{"product_code":"S10_1678","quantity":"3","in_shopping_cart":false}],"processing_timestamp":"2026-11-22T17:00:00.000000Z","overall_product_quantity":4,"overall_in_shopping_cart":0,"total_different_products":1}"#;
    s3.put_object()
        .bucket(&usa.bucket)
        .key(format!(
            "firehose/2026/11/22/17/{}-1-2026-11-22-17-00-00-0d1c4ce3-3c15-4d8a-9e2f-000000000000",
            usa.firehose
        ))
        .body(format!("{wrong_bucket}{wrong_sum}").into_bytes().into())
        .send()
        .await
        .unwrap();
    let verify = kinesis_lab(&target.args(&["verify", "--name-suffix", &target.suffix]), b"");
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

/// Finding (issue 12): `verify` spoke only to people, and the walkthrough
/// read its sentences back. `--output json` is one object a script reads:
/// the buckets, each problem, the expected sessions, the verdict.
#[tokio::test(flavor = "multi_thread")]
async fn verify_speaks_json_to_scripts() {
    let target = TestTarget::start().await;
    let s3 = &target.clients.s3;
    let [usa, international] = target.names.routes();
    for bucket in [&usa.bucket, &international.bucket] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let expected = crate::temp_path(&format!("expected-{}.jsonl", target.suffix));
    std::fs::write(&expected, r#"{"session_id":"never-sent","country":"USA"}"#).unwrap();
    let verify = kinesis_lab(
        &target.args(&[
            "verify",
            "--name-suffix",
            &target.suffix,
            "--expect",
            expected.to_str().unwrap(),
            "--output",
            "json",
        ]),
        b"",
    );
    assert_eq!(verify.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("one JSON object");
    assert_eq!(report["passed"], false);
    assert_eq!(report["expected"]["missing"], serde_json::json!(["never-sent"]));
    assert_eq!(report["buckets"].as_array().unwrap().len(), 2);
    assert_eq!(report["buckets"][0]["objects"], 0);
}
