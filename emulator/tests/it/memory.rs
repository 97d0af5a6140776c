//! Bounded memory: a cap on the record bytes Kinesis keeps (issue 10,
//! finding 7). The soak benchmark (`cargo xtask bench soak`) shows the
//! process's RSS over time; this test shows the rule.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use emulator::Config;

use crate::Lab;
use crate::durable::read_all;

async fn put_numbered(lab: &Lab, stream: &str, from: usize, count: usize) {
    let payload = "x".repeat(300);
    for start in (from..from + count).step_by(100) {
        let entries: Vec<PutRecordsRequestEntry> = (start..(start + 100).min(from + count))
            .map(|n| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{n}"))
                    .data(Blob::new(format!("{n:05}{payload}")))
                    .build()
                    .unwrap()
            })
            .collect();
        let put = lab
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_record_count(), Some(0));
    }
}

async fn numbers(lab: &Lab, stream: &str) -> Vec<usize> {
    read_all(lab, stream)
        .await
        .iter()
        .map(|(_, _, data)| data[..5].parse().unwrap())
        .collect()
}

/// Finding: every record stayed in memory for the retention period. With a
/// cap, the oldest records are trimmed once the cap is passed, whichever
/// stream they are on, and the newest are all still there.
#[tokio::test]
async fn past_the_cap_the_oldest_records_are_trimmed() {
    let mut config = Config::for_tests();
    config.kinesis.max_retained_bytes = Some(256 * 1024);
    let lab = Lab::start_with(config).await;
    lab.create_stream("older", 1).await;
    lab.create_stream("newer", 1).await;
    put_numbered(&lab, "older", 0, 300).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    put_numbered(&lab, "newer", 0, 2000).await;

    assert_eq!(numbers(&lab, "older").await, Vec::<usize>::new());
    let kept = numbers(&lab, "newer").await;
    // 2,000 records of about 420 bytes each (base64 and key) is about 840 KB:
    // about 500 fit under nine tenths of 256 KiB.
    assert!(kept.len() < 700 && kept.len() > 300, "{} kept", kept.len());
    let oldest_kept = kept[0];
    assert_eq!(
        kept,
        (oldest_kept..2000).collect::<Vec<_>>(),
        "a shard keeps its newest records"
    );
}
