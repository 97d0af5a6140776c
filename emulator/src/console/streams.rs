//! Data streams: the list, one stream's shards and newest records, and the
//! form of lab step 1.1, in the AWS console's words ("Data stream name",
//! capacity mode on-demand by default, "Create data stream").

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::types::{ShardIteratorType, StreamMode, StreamModeDetails};
use http::StatusCode;
use maud::{Markup, html};

use super::{Console, Page, Refusal, encode, field, layout, see_other};

/// How many of each shard's newest records a stream's page shows.
const NEWEST: usize = 5;

/// How far back the chart of incoming records goes.
const CHART_SECONDS: i64 = 300;

/// The list of streams, with the creation form; `problem` is what was wrong
/// with the last form sent.
pub async fn list(console: &Console<'_>, problem: Option<&str>) -> Page {
    let kinesis = &console.clients.kinesis;
    let listed = kinesis.list_streams().send().await.map_err(kinesis_error)?;
    let content = html! {
        table {
            tr { th { "Name" } th { "Status" } th { "Capacity mode" } th { "Open shards" } }
            @for summary in listed.stream_summaries() {
                @let name = summary.stream_name();
                @let shards = open_shards(console, name).await;
                tr {
                    td { a href={ "/_console/streams/" (encode(name)) } { (name) } }
                    td class={ "state-" (summary.stream_status().as_str()) } { (summary.stream_status().as_str()) }
                    td { (summary.stream_mode_details().map_or("PROVISIONED", |m| m.stream_mode().as_str())) }
                    td { (shards) }
                }
            }
        }
        @if listed.stream_summaries().is_empty() {
            p.muted { "No data streams yet." }
        }
        h2 { "Create data stream" }
        (create_form(problem))
    };
    Ok(layout("Data streams", None, content))
}

async fn open_shards(console: &Console<'_>, name: &str) -> String {
    match console
        .clients
        .kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
    {
        Ok(summary) => summary
            .stream_description_summary()
            .map_or(0, |s| s.open_shard_count())
            .to_string(),
        Err(_) => "?".to_owned(),
    }
}

fn create_form(problem: Option<&str>) -> Markup {
    html! {
        form.create method="post" action="/_console/streams" {
            @if let Some(problem) = problem {
                p.error { (problem) }
            }
            label for="name" { "Data stream name" }
            input id="name" name="name" required maxlength="128" pattern="[a-zA-Z0-9_.\\-]+" size="40";
            p.muted { "1-128 characters: letters, digits, hyphens, underscores and periods." }
            label { "Capacity mode" }
            div {
                input type="radio" id="on-demand" name="mode" value="ON_DEMAND" checked;
                label for="on-demand" style="display:inline;font-weight:normal" { " On-demand" }
            }
            div {
                input type="radio" id="provisioned" name="mode" value="PROVISIONED";
                label for="provisioned" style="display:inline;font-weight:normal" { " Provisioned, with " }
                input name="shards" type="number" min="1" max="500" value="1" style="width:4em";
                " shards"
            }
            p { button type="submit" { "Create data stream" } }
        }
    }
}

/// Creates a stream from the form, then shows it.
pub async fn create(console: &Console<'_>, form: &[(String, String)]) -> Page {
    let name = field(form, "name").unwrap_or_default().trim();
    let mut request = console.clients.kinesis.create_stream().stream_name(name);
    match field(form, "mode") {
        Some("PROVISIONED") => {
            let shards = field(form, "shards").and_then(|n| n.parse::<i32>().ok());
            let Some(shards) = shards.filter(|n| (1..=500).contains(n)) else {
                return list(
                    console,
                    Some("A provisioned stream needs a shard count from 1 to 500."),
                )
                .await;
            };
            request = request.shard_count(shards);
        }
        _ => {
            let on_demand = StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .expect("the mode is set");
            request = request.stream_mode_details(on_demand);
        }
    }
    match request.send().await {
        Ok(_) => Ok(see_other(&format!("/_console/streams/{}", encode(name)))),
        Err(err) => {
            let message = err
                .message()
                .map_or_else(|| DisplayErrorContext(&err).to_string(), str::to_owned);
            list(console, Some(&format!("The stream was not created: {message}"))).await
        }
    }
}

/// Deletes a stream, then shows the list.
pub async fn delete(console: &Console<'_>, name: &str) -> Page {
    console
        .clients
        .kinesis
        .delete_stream()
        .stream_name(name)
        .enforce_consumer_deletion(true)
        .send()
        .await
        .map_err(kinesis_error)?;
    Ok(see_other("/_console/streams"))
}

/// One stream: its state, its shards and each shard's newest records.
/// Records put and read in each of the last 60 minutes, as (minutes ago,
/// put, read), oldest first: the stream's `AWS/Kinesis` metrics.
fn per_minute(console: &Console<'_>, name: &str, now: i64) -> Vec<(i64, u64, u64)> {
    use crate::cloudwatch::store::MetricId;
    let this_minute = now - now.rem_euclid(60);
    let start = this_minute - 59 * 60;
    let sums = |metric: &str| -> std::collections::BTreeMap<i64, u64> {
        let id = MetricId {
            namespace: "AWS/Kinesis".to_owned(),
            name: metric.to_owned(),
            dimensions: vec![("StreamName".to_owned(), name.to_owned())],
        };
        let (_, periods) = console
            .firehose
            .cloudwatch()
            .store()
            .periods(&id, start, this_minute + 60, 60);
        periods.into_iter().map(|(at, s)| (at, s.sum as u64)).collect()
    };
    let (put, read) = (sums("IncomingRecords"), sums("GetRecords.Records"));
    (0..60)
        .map(|i| {
            let at = start + i * 60;
            (
                59 - i,
                put.get(&at).copied().unwrap_or(0),
                read.get(&at).copied().unwrap_or(0),
            )
        })
        .collect()
}

pub async fn detail(console: &Console<'_>, name: &str) -> Page {
    let kinesis = &console.clients.kinesis;
    let summary = kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .map_err(kinesis_error)?;
    let summary = summary.stream_description_summary().cloned();
    let shards = kinesis
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .map_err(kinesis_error)?;
    let mut newest = Vec::new();
    for shard in shards.shards() {
        newest.push(newest_records(console, name, shard.shard_id()).await);
    }
    let now = chrono::Utc::now().timestamp();
    let incoming = console.metrics.incoming(name, now, CHART_SECONDS);
    let status = summary
        .as_ref()
        .map_or("?", |s| s.stream_status().as_str())
        .to_owned();
    let mode = summary
        .as_ref()
        .and_then(|s| s.stream_mode_details())
        .map_or("PROVISIONED", |m| m.stream_mode().as_str())
        .to_owned();
    let content = html! {
        p {
            "Status " span class={ "state-" (status) } { (status) }
            " · capacity mode " (mode)
            " · retention " (summary.as_ref().map_or(24, |s| s.retention_period_hours())) " h"
        }
        h2 { "Monitoring" }
        @let minute: Vec<_> = incoming.iter().rev().take(60).collect();
        p {
            "Last minute: " (minute.iter().map(|s| s.records).sum::<u64>()) " records, "
            (minute.iter().map(|s| s.bytes).sum::<u64>()) " bytes in."
        }
        div { (maud::PreEscaped(super::chart::incoming_records(&incoming))) }
        div { (maud::PreEscaped(super::chart::incoming_bytes(&incoming))) }
        div { (maud::PreEscaped(super::chart::records_per_minute(&per_minute(console, name, now)))) }
        h2 { "Shards" }
        table {
            tr { th { "Shard" } th { "Hash key range" } th { "Parent" } th { "State" } }
            @for shard in shards.shards() {
                @let range = shard.hash_key_range();
                tr {
                    td { (shard.shard_id()) }
                    td { (range.map_or("", |r| r.starting_hash_key())) " – " (range.map_or("", |r| r.ending_hash_key())) }
                    td { (shard.parent_shard_id().unwrap_or("")) }
                    td {
                        @if shard.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_some() {
                            "closed"
                        } @else {
                            "open"
                        }
                    }
                }
            }
        }
        h2 { "Newest records" }
        p.muted { "The last " (NEWEST) " of each shard, read without a consumer: nothing is taken off the stream." }
        @for (shard, records) in shards.shards().iter().zip(&newest) {
            h3 { (shard.shard_id()) }
            @match records {
                Ok(records) if records.is_empty() => p.muted { "No records." },
                Ok(records) => {
                    @for (sequence, key, data) in records {
                        p.muted { "sequence " (sequence) " · partition key " (key) }
                        pre { (data) }
                    }
                }
                Err(message) => p.error { (message) },
            }
        }
        form method="post" action={ "/_console/streams/" (encode(name)) "/delete" } {
            button.danger type="submit" { "Delete " (name) }
        }
    };
    Ok(layout(&format!("Data stream {name}"), Some(3), content))
}

/// A shard's newest records: (sequence number, partition key, data shown).
async fn newest_records(
    console: &Console<'_>,
    stream: &str,
    shard: &str,
) -> Result<Vec<(String, String, String)>, String> {
    let kinesis = &console.clients.kinesis;
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(|err| DisplayErrorContext(&err).to_string())?;
    let mut iterator = iterator.shard_iterator().map(str::to_owned);
    let mut newest = std::collections::VecDeque::new();
    // Bounded: a shard of millions of records shows its newest after at most
    // this many reads (of 10,000 records each).
    for _ in 0..20 {
        let Some(current) = iterator.take() else { break };
        let read = kinesis
            .get_records()
            .shard_iterator(current)
            .send()
            .await
            .map_err(|err| DisplayErrorContext(&err).to_string())?;
        for record in read.records() {
            newest.push_back((
                record.sequence_number().to_owned(),
                record.partition_key().unwrap_or_default().to_owned(),
                pretty(record.data().as_ref()),
            ));
            if newest.len() > NEWEST {
                newest.pop_front();
            }
        }
        if read.records().is_empty() || read.millis_behind_latest() == Some(0) {
            break;
        }
        iterator = read.next_shard_iterator().map(str::to_owned);
    }
    Ok(newest.into())
}

/// A record as text: JSON pretty-printed, other text as it is, bytes in hex.
pub fn pretty(data: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        return serde_json::to_string_pretty(&value).unwrap_or_default();
    }
    match std::str::from_utf8(data) {
        Ok(text) => text.to_owned(),
        Err(_) => data.iter().map(|byte| format!("{byte:02x}")).collect(),
    }
}

fn kinesis_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: aws_sdk_kinesis::error::SdkError<E>,
) -> Refusal {
    let status = match err.code() {
        Some("ResourceNotFoundException") => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = err
        .message()
        .map_or_else(|| DisplayErrorContext(&err).to_string(), str::to_owned);
    Refusal::new(status, message)
}
