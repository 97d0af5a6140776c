//! Firehose: each delivery stream's source, destination and buffering hints,
//! and what no API shows: how full its buffers are, the seconds to its next
//! write, what it has written, and why S3 refuses it if it does; with
//! CloudWatch logging on, the latest error events of its log stream.

use maud::html;
use tokio::time::Instant;

use super::{Console, Page, encode, layout};
use crate::firehose::delivery::Status;
use crate::firehose::{StreamKind, error_log};

/// One delivery stream, as the page shows it.
pub struct Row {
    pub name: String,
    pub state: &'static str,
    pub source: String,
    pub bucket: String,
    pub prefix: String,
    pub size_in_mbs: u32,
    pub interval_in_seconds: u32,
    pub version: u64,
    pub status: Status,
    /// The log group and stream of its CloudWatch logging, when on, and the
    /// latest error events there, newest first.
    pub error_log: Option<(String, String, Vec<crate::logs::Event>)>,
}

/// How many of a delivery stream's latest error events the page shows.
const ERROR_EVENTS: usize = 5;

/// The delivery streams, now (the lock is not held while the page is made).
pub fn rows(console: &Console<'_>) -> Vec<Row> {
    let streams = console.firehose.streams();
    streams
        .values()
        .map(|stream| Row {
            name: stream.name.clone(),
            state: stream.status(),
            source: match &stream.kind {
                StreamKind::DirectPut { .. } => "Direct PUT".to_owned(),
                StreamKind::KinesisStreamAsSource { stream_arn, .. } => {
                    stream_arn.rsplit('/').next().unwrap_or_default().to_owned()
                }
            },
            bucket: stream.destination.bucket.clone(),
            prefix: stream.destination.prefix_text.clone().unwrap_or_default(),
            size_in_mbs: stream.destination.size_in_mbs,
            interval_in_seconds: stream.destination.interval_in_seconds,
            version: stream.version_id,
            status: stream.delivery.status(),
            error_log: error_log::target(&stream.destination.cloud_watch_logging).map(
                |(group, log_stream)| {
                    let mut events = console.firehose.logs().latest(group, log_stream, ERROR_EVENTS);
                    events.reverse();
                    (group.to_owned(), log_stream.to_owned(), events)
                },
            ),
        })
        .collect()
}

/// How full a delivery stream's buffer is, in words.
pub fn buffer_line(row: &Row) -> String {
    let limit = row.size_in_mbs as f64 * 1024.0 * 1024.0;
    let full = 100.0 * row.status.buffered_bytes as f64 / limit;
    let next = match row.status.next_write {
        Some(at) => format!(
            "next write in {} s",
            at.saturating_duration_since(Instant::now()).as_secs()
        ),
        None => "nothing buffered".to_owned(),
    };
    format!(
        "{} records, {} bytes ({full:.1}% of {} MiB); {next}",
        row.status.buffered_records, row.status.buffered_bytes, row.size_in_mbs
    )
}

pub async fn page(console: &Console<'_>) -> Page {
    let rows = rows(console);
    let content = html! {
        @if rows.is_empty() {
            p.muted { "No delivery streams yet." }
        }
        @for row in &rows {
            h2 { (row.name) " " span class={ "state-" (row.state) } { (row.state) } }
            table {
                tr { th { "Source" } td {
                    @if row.source == "Direct PUT" { (row.source) }
                    @else { a href={ "/_console/streams/" (encode(&row.source)) } { (row.source) } }
                } }
                tr { th { "Destination" } td {
                    a href={ "/_console/s3/" (encode(&row.bucket)) } { "s3://" (row.bucket) "/" (row.prefix) }
                } }
                tr { th { "Buffering hints" } td { (row.size_in_mbs) " MiB or " (row.interval_in_seconds) " s" } }
                tr { th { "Version" } td { (row.version) } }
                tr { th { "Buffer now" } td { (buffer_line(row)) } }
                tr { th { "Written" } td {
                    (row.status.objects_written) " objects, " (row.status.records_delivered) " records, "
                    (row.status.bytes_written) " bytes; " (row.status.error_records) " error records; "
                    (row.status.queued_objects) " objects waiting for S3"
                } }
                @if let Some(failing) = &row.status.failing {
                    tr { th { "S3 refuses" } td.error { (failing) } }
                }
                @if let Some((group, log_stream, events)) = &row.error_log {
                    tr { th { "Error log" } td {
                        "CloudWatch Logs " code { (group) } " / " code { (log_stream) }
                        @if events.is_empty() {
                            p.muted { "No errors logged." }
                        }
                        @for event in events {
                            p.error {
                                (chrono::DateTime::from_timestamp_millis(event.timestamp)
                                    .map_or_else(String::new, |t| t.format("%H:%M:%S UTC").to_string()))
                                " " code { (event.message) }
                            }
                        }
                    } }
                }
            }
        }
    };
    Ok(layout("Firehose delivery streams", Some(2), content))
}
