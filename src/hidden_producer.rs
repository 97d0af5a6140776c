//! The lab's hidden producer (part 2's source stream): generated sessions put
//! on a stream one Kinesis record at a time (a KPL aggregate of several with
//! `aggregate`), spaced by the random gaps of real arrivals, each tried again
//! until it is stored. `kinesis-lab generate --stream` runs it and shows its
//! progress.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_sdk_kinesis::operation::put_record::PutRecordError;
use aws_sdk_kinesis::primitives::Blob;
use shard_reader::{kpl, retry};

use crate::aws_error::{self, AwsError};
use crate::generator::{ArrivalSchedule, SessionGenerator};
use crate::routing::Route;
use crate::stream_name::StreamName;
use crate::target::Clients;

/// What to put, and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerOptions {
    pub seed: u64,
    /// How many sessions; no end when `None`.
    pub count: Option<u64>,
    /// The mean gap between two sessions (Poisson arrivals).
    pub mean_gap: Duration,
    /// Sessions packed into each Kinesis record (1: no aggregation).
    pub aggregate: u64,
}

/// What the producer is doing, for a progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The next session comes after this gap.
    Waiting(Duration),
    /// This many sessions are stored so far.
    Put(u64),
    /// A put failed and is tried again after `wait`.
    Retrying { wait: Duration, error: &'a str },
}

/// What the producer put.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    pub put: u64,
    pub usa: u64,
    pub international: u64,
    /// Sessions made but not stored when it was stopped.
    pub not_put: u64,
}

/// How long a stopped producer still tries to put the sessions it has
/// gathered for an aggregate.
const LAST_PUT_PATIENCE: Duration = Duration::from_secs(5);

/// Puts sessions on `stream` until `options.count` are stored or `stop`.
pub async fn produce(
    clients: &Clients,
    stream: &StreamName,
    options: ProducerOptions,
    stop: impl Future<Output = ()>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Produced, AwsError> {
    tokio::pin!(stop);
    let mut schedule = ArrivalSchedule::new(options.seed, options.mean_gap);
    let mut sessions = SessionGenerator::new(options.seed);
    let mut produced = Produced::default();
    let mut made = 0;
    // Sessions gathered for the next Kinesis record, with their routes.
    let mut pending: Vec<(String, Vec<u8>, Route)> = Vec::new();
    while options.count.is_none_or(|count| made < count) {
        if made > 0 {
            let gap = schedule.next_gap();
            progress(Progress::Waiting(gap));
            tokio::select! {
                _ = tokio::time::sleep(gap) => {}
                _ = &mut stop => break,
            }
        }
        let session = sessions.session();
        let id = session["session_id"]
            .as_str()
            .expect("generated sessions have an id")
            .to_owned();
        let route = Route::for_country(session["country"].as_str().unwrap_or_default());
        let data = serde_json::to_vec(&session).expect("a generated session is JSON");
        pending.push((id, data, route));
        made += 1;
        let last = options.count.is_some_and(|count| made >= count);
        let full = pending.len() as u64 >= options.aggregate || last;
        if full
            && !put_one(
                clients,
                stream,
                &mut pending,
                &mut produced,
                &mut progress,
                &mut stop,
            )
            .await?
        {
            // Stopped while a put was failing: stop now, as asked.
            produced.not_put = pending.len() as u64;
            return Ok(produced);
        }
    }
    if !pending.is_empty() {
        // Stopped between sessions with some gathered for an aggregate: they
        // go now, if the stream takes them soon.
        let mut patience = std::pin::pin!(tokio::time::sleep(LAST_PUT_PATIENCE));
        put_one(
            clients,
            stream,
            &mut pending,
            &mut produced,
            &mut progress,
            &mut patience,
        )
        .await?;
    }
    produced.not_put = pending.len() as u64;
    Ok(produced)
}

/// Puts the gathered sessions as one Kinesis record (a KPL aggregate when there
/// are several, under the first one's partition key), trying again until it is
/// stored; false, with the sessions still pending, when stopped first.
async fn put_one(
    clients: &Clients,
    stream: &StreamName,
    pending: &mut Vec<(String, Vec<u8>, Route)>,
    produced: &mut Produced,
    progress: &mut impl FnMut(Progress<'_>),
    stop: &mut Pin<&mut impl Future<Output = ()>>,
) -> Result<bool, AwsError> {
    let (key, data) = match pending.as_slice() {
        [(id, data, _)] => (id.clone(), data.clone()),
        records => (
            records[0].0.clone(),
            kpl::aggregate(records.iter().map(|(id, data, _)| (id.as_str(), data.as_slice()))),
        ),
    };
    let mut backoff = retry::backoff(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let request = clients
            .kinesis
            .put_record()
            .stream_name(stream.as_str())
            .partition_key(&key)
            .data(Blob::new(data.clone()));
        match request.send().await {
            Ok(_) => {
                for (_, _, route) in pending.drain(..) {
                    match route {
                        Route::Usa => produced.usa += 1,
                        Route::International => produced.international += 1,
                    }
                    produced.put += 1;
                }
                progress(Progress::Put(produced.put));
                return Ok(true);
            }
            // A missing stream will not appear by waiting.
            Err(err) if aws_error::is(&err, PutRecordError::is_resource_not_found_exception) => {
                return Err(AwsError::stream_missing(stream, &clients.target));
            }
            Err(err) => {
                let wait = retry::next_wait(&mut backoff);
                let error = aws_sdk_kinesis::error::DisplayErrorContext(&err).to_string();
                progress(Progress::Retrying { wait, error: &error });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.as_mut() => return Ok(false),
                }
            }
        }
    }
}
