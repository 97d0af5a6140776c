//! Kinesis stream operations as AWS answers them where ferrokinesis does not
//! (issue 11): on-demand streams, ListStreams' summaries, DescribeStream's pages.

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};

use crate::Lab;

fn on_demand() -> StreamModeDetails {
    StreamModeDetails::builder()
        .stream_mode(StreamMode::OnDemand)
        .build()
        .unwrap()
}

/// Finding: CreateStream with ON_DEMAND and no ShardCount (the console's
/// default, and so lab step 1.1's stream) was refused. Now it makes a stream
/// of 4 shards described as ON_DEMAND; a ShardCount with it is refused.
#[tokio::test]
async fn on_demand_streams_are_created_as_the_console_creates_them() {
    let lab = Lab::start().await;
    lab.kinesis
        .create_stream()
        .stream_name("console")
        .stream_mode_details(on_demand())
        .send()
        .await
        .unwrap();
    lab.wait_for_stream("console").await;
    let summary = lab
        .kinesis
        .describe_stream_summary()
        .stream_name("console")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap();
    assert_eq!(summary.open_shard_count(), 4);
    assert_eq!(
        summary.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::OnDemand
    );

    let counted = lab
        .kinesis
        .create_stream()
        .stream_name("counted")
        .shard_count(2)
        .stream_mode_details(on_demand())
        .send()
        .await
        .unwrap_err();
    assert_eq!(counted.code(), Some("InvalidArgumentException"));
}

/// Finding: ListStreams had no StreamSummaries. DescribeStream now pages its
/// shards with Limit.
#[tokio::test]
async fn list_streams_summarises_and_describe_stream_pages() {
    let lab = Lab::start().await;
    lab.create_stream("five", 5).await;
    lab.kinesis
        .create_stream()
        .stream_name("flexible")
        .stream_mode_details(on_demand())
        .send()
        .await
        .unwrap();
    lab.wait_for_stream("flexible").await;
    let listed = lab.kinesis.list_streams().send().await.unwrap();
    let summaries: Vec<(&str, &StreamMode)> = listed
        .stream_summaries()
        .iter()
        .map(|s| (s.stream_name(), s.stream_mode_details().unwrap().stream_mode()))
        .collect();
    assert_eq!(
        summaries,
        [
            ("five", &StreamMode::Provisioned),
            ("flexible", &StreamMode::OnDemand)
        ]
    );

    let page = lab
        .kinesis
        .describe_stream()
        .stream_name("five")
        .limit(2)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(page.shards().len(), 2);
    assert!(page.has_more_shards());
    let rest = lab
        .kinesis
        .describe_stream()
        .stream_name("five")
        .exclusive_start_shard_id(page.shards()[1].shard_id())
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(rest.shards().len(), 3);
    assert!(!rest.has_more_shards());
}
