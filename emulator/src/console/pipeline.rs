//! The home page: the pipeline as a picture, drawn from what exists.
//!
//! Part 2 reads left to right, as the lab's architecture picture does: the
//! streams no delivery stream reads (the source stream, which the ETL reads),
//! then each stream a delivery stream reads, the delivery stream, and its
//! bucket. Part 1's stream stands on its own, below. Each box has its state
//! and rates, and Firehose's boxes their buffer now.

use maud::{Markup, html};

use super::firehose::{Row, buffer_line, rows};
use super::{Console, Page, encode, layout};

pub async fn page(console: &Console<'_>) -> Page {
    let listed = console
        .clients
        .kinesis
        .list_streams()
        .send()
        .await
        .map(|listed| {
            listed
                .stream_summaries()
                .iter()
                .map(|s| (s.stream_name().to_owned(), s.stream_status().as_str().to_owned()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let deliveries = rows(console);
    let fed: Vec<&str> = deliveries.iter().map(|row| row.source.as_str()).collect();
    // Part 1's stream (the lab names it `...-cli`) stands on its own; the
    // other streams no delivery stream reads feed the ETL.
    type Streams<'a> = Vec<&'a (String, String)>;
    let (alone, sources): (Streams, Streams) = listed
        .iter()
        .filter(|(name, _)| !fed.contains(&name.as_str()))
        .partition(|(name, _)| name.ends_with(PART1_SUFFIX));
    let content = html! {
        p.muted { "Refreshes every 2 s. Click a box for its details." }
        @if listed.is_empty() && deliveries.is_empty() {
            p { "Nothing yet. Create a data stream (lab step 1.1) on the "
                a href="/_console/streams" { "Data streams" } " page, or run "
                code { "cargo xtask lab part2" } "." }
        }
        @if !deliveries.is_empty() {
            div.pipeline {
                div.column {
                    @for (name, state) in &sources {
                        (stream_box(console, name, state))
                    }
                }
                @if !sources.is_empty() {
                    div.arrow title="your ETL reads, enriches and routes" { "→" }
                }
                div.column {
                    @for row in &deliveries {
                        div.chain {
                            @let state = listed.iter().find(|(name, _)| *name == row.source).map_or("?", |(_, s)| s.as_str());
                            @if row.source != "Direct PUT" { (stream_box(console, &row.source, state)) div.arrow { "→" } }
                            (firehose_box(row))
                            div.arrow { "→" }
                            (bucket_box(&row.bucket, &row.prefix))
                        }
                    }
                }
            }
        } @else {
            div.pipeline {
                @for (name, state) in &sources {
                    (stream_box(console, name, state))
                }
            }
        }
        @if !alone.is_empty() {
            h2 { "Part 1" }
            div.pipeline {
                @for (name, state) in &alone {
                    (stream_box(console, name, state))
                }
            }
        }
    };
    Ok(layout("Pipeline", Some(2), content))
}

/// A stream, with what it took in and what its consumers read over the last 10 s.
fn stream_box(console: &Console<'_>, name: &str, state: &str) -> Markup {
    let now = chrono::Utc::now().timestamp();
    let per_second = |seconds: Vec<crate::kinesis::metrics::Second>| {
        seconds.iter().map(|s| s.records).sum::<u64>() as f64 / RATE_SECONDS as f64
    };
    let rate = per_second(console.metrics.incoming(name, now, RATE_SECONDS));
    let read = per_second(console.metrics.reads(name, now, RATE_SECONDS));
    html! {
        div.box.stream {
            div.kind { "Kinesis data stream" }
            a href={ "/_console/streams/" (encode(name)) } { strong { (name) } }
            div class={ "state-" (state) } { (state) }
            div { "in: " (format!("{rate:.1}")) " records/s · read: " (format!("{read:.1}")) " records/s" }
        }
    }
}

/// How the lab's part 1 stream, which stands apart, ends its name
/// (`de-c2w2lab1-kinesis-data-stream-cli`).
const PART1_SUFFIX: &str = "-cli";

/// The rates shown are averages over this many seconds.
const RATE_SECONDS: i64 = 10;

fn firehose_box(row: &Row) -> Markup {
    html! {
        div.box.firehose {
            div.kind { "Firehose delivery stream" }
            a href="/_console/firehose" { strong { (row.name) } }
            div class={ "state-" (row.state) } { (row.state) }
            div.muted { (buffer_line(row)) }
            div { "out: " (format!("{:.1}", row.status.delivery_rate(RATE_SECONDS as u64))) " records/s to S3" }
            div { (row.status.records_delivered) " records delivered in " (row.status.objects_written) " objects" }
            @if row.status.failing.is_some() { div.error { "S3 refuses its writes" } }
        }
    }
}

fn bucket_box(bucket: &str, prefix: &str) -> Markup {
    html! {
        div.box.bucket {
            div.kind { "S3 bucket" }
            a href={ "/_console/s3/" (encode(bucket)) "?prefix=" (encode(prefix)) } { strong { (bucket) } }
            div.muted { "prefix " (prefix) }
        }
    }
}
