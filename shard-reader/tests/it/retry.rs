//! What a reader goes through without losing its place: iterators that
//! expire, reads that are throttled; and what it gives up on: a stream that
//! does not exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use emulator::Config;
use shard_reader::{ReadError, ShardReader, StartingPosition};

use crate::{Lab, assert_read_as_put, keys, shards_of};

/// An emulator whose shard iterators live one second (AWS's live five
/// minutes), so that a test can outlive one.
async fn start_with_short_iterators() -> Lab {
    let mut config = Config::for_tests();
    config.kinesis.iterator_ttl = Duration::from_secs(1);
    Lab::start_with(config).await
}

/// Longer than an iterator lives in [`start_with_short_iterators`].
const PAST_EXPIRY: Duration = Duration::from_millis(1500);

/// An iterator that expires between two reads is renewed right after the
/// last record read: the next read neither skips nor repeats a record.
#[tokio::test]
async fn an_expired_iterator_resumes_after_the_last_record_read() {
    let lab = start_with_short_iterators().await;
    lab.create_stream("slow", 2).await;
    let first = lab.put_rounds("slow", "first", &keys(12), 2).await;
    let mut reader = lab.open("slow", StartingPosition::TrimHorizon).await;
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &first);

    let second = lab.put_rounds("slow", "second", &keys(12), 2).await;
    // An iterator taken now, after the reader's last read, is younger than
    // any the reader holds: once it has expired, so have they.
    let witness = lab
        .kinesis
        .get_shard_iterator()
        .stream_name("slow")
        .shard_id(&first[0].shard_id)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::Latest)
        .send()
        .await
        .expect("GetShardIterator")
        .shard_iterator
        .expect("an iterator");
    tokio::time::sleep(PAST_EXPIRY).await;
    let expired = lab
        .kinesis
        .get_records()
        .shard_iterator(witness)
        .send()
        .await
        .expect_err("the iterator has expired");
    assert!(
        expired
            .as_service_error()
            .is_some_and(|e| e.is_expired_iterator_exception()),
        "{expired:?}"
    );

    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &second);
}

/// A LATEST iterator that expires before its first read is renewed at the
/// moment the reader opened: the records put after that are read once each,
/// those put before are not.
#[tokio::test]
async fn an_unused_latest_iterator_that_expires_keeps_what_came_after_open() {
    let lab = start_with_short_iterators().await;
    lab.create_stream("slow", 2).await;
    lab.put_rounds("slow", "before", &keys(12), 2).await;
    // Apart by more than a millisecond, the precision of arrival times.
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut reader = lab.open("slow", StartingPosition::Latest).await;
    // Records on both shards: the renewal asks for AT_TIMESTAMP, which the
    // embedded Kinesis answers with the shard's start on a shard with nothing
    // after the timestamp (see `ordering::at_timestamp_reads_only_what_arrived_since`).
    let mut after = lab.put_rounds("slow", "after", &keys(12), 1).await;
    tokio::time::sleep(PAST_EXPIRY).await;
    after.extend(lab.put_rounds("slow", "later", &keys(12), 1).await);
    assert_eq!(shards_of(&after).len(), 2);

    let read = reader.read_to_end().await.expect("read_to_end");
    assert_read_as_put(&read, &after);
}

/// An SDK interceptor that answers the first `left` GetRecords calls as
/// Kinesis answers a shard read more than five times a second. The emulator
/// never throttles reads, and the reader's code has no hook for faults: the
/// test makes the fault in its own client instead. The call still reached
/// the emulator, but its answer is replaced, so the reader gets no records
/// and no next iterator from it, as from a throttled call on AWS.
#[derive(Debug)]
struct ThrottleReads {
    left: AtomicUsize,
    throttled: Arc<AtomicUsize>,
}

impl Intercept for ThrottleReads {
    fn name(&self) -> &'static str {
        "ThrottleReads"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let get_records = cfg.load::<Metadata>().is_some_and(|m| m.name() == "GetRecords");
        let take_one = |left: usize| left.checked_sub(1);
        if !get_records
            || self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take_one)
                .is_err()
        {
            return Ok(());
        }
        self.throttled.fetch_add(1, Ordering::SeqCst);
        let response = context.response_mut();
        *response.status_mut() = 400.try_into()?;
        response.headers_mut().remove("content-length");
        *response.body_mut() = concat!(
            r#"{"__type":"ProvisionedThroughputExceededException","#,
            r#""message":"Rate exceeded for shard in stream throttled."}"#
        )
        .into();
        Ok(())
    }
}

/// A throttled GetRecords is tried again after a wait of a second or more,
/// from the same place: every record comes once, in put order.
#[tokio::test]
async fn a_throttled_read_is_tried_again_from_the_same_place() {
    let lab = Lab::start().await;
    lab.create_stream("throttled", 1).await;
    let puts = lab.put_rounds("throttled", "put", &keys(12), 2).await;

    let throttled = Arc::new(AtomicUsize::new(0));
    let interceptor = ThrottleReads {
        left: AtomicUsize::new(1),
        throttled: throttled.clone(),
    };
    // The SDK retries a throttled call on its own; without that, the
    // throttle reaches the reader, whose retry is what is tested here.
    let config = lab
        .client_config()
        .interceptor(interceptor)
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_kinesis::Client::from_conf(config);

    let started = tokio::time::Instant::now();
    let mut reader = ShardReader::open(client, "throttled", StartingPosition::TrimHorizon, None)
        .await
        .expect("the reader opens");
    let read = reader.read_to_end().await.expect("read_to_end");
    assert_eq!(throttled.load(Ordering::SeqCst), 1, "one read was throttled");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "read again after {:?}, not after a second at least",
        started.elapsed()
    );
    assert_read_as_put(&read, &puts);
}

/// Opening a reader on a stream that does not exist is
/// `ReadError::StreamNotFound` with the stream's name.
#[tokio::test]
async fn a_missing_stream_is_stream_not_found() {
    let lab = Lab::start().await;
    let opened = ShardReader::open(
        lab.kinesis.clone(),
        "never-made",
        StartingPosition::TrimHorizon,
        None,
    )
    .await;
    match opened {
        Err(ReadError::StreamNotFound(stream)) => assert_eq!(stream, "never-made"),
        Err(other) => panic!("not StreamNotFound: {other:?}"),
        Ok(_) => panic!("a reader opened on a stream that does not exist"),
    }
}

/// A stream deleted while a reader reads it ends the reader with
/// `ReadError::StreamNotFound`, rather than retries that never end.
#[tokio::test]
async fn a_stream_deleted_while_read_is_stream_not_found() {
    let lab = Lab::start().await;
    lab.create_stream("doomed", 2).await;
    let puts = lab.put_rounds("doomed", "put", &keys(12), 1).await;
    let mut reader = lab.open("doomed", StartingPosition::TrimHorizon).await;
    assert_read_as_put(&reader.read_to_end().await.expect("read_to_end"), &puts);

    lab.delete_stream("doomed").await;
    let next = tokio::time::timeout(Duration::from_secs(5), reader.next_batch())
        .await
        .expect("the reader gives up within 5 s");
    match next {
        Err(ReadError::StreamNotFound(stream)) => assert_eq!(stream, "doomed"),
        Err(other) => panic!("not StreamNotFound: {other:?}"),
        Ok(batch) => panic!("read a deleted stream: {batch:?}"),
    }
}
