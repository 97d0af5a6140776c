//! Lease tables: for each table of the ETL's workers (`kinesis-lab etl
//! --lease-table`), which worker holds which shard, its checkpoint, and how
//! far behind the shard's newest record that checkpoint is.
//!
//! A lease table is any DynamoDB table keyed by `leaseKey`, as the KCL keys
//! them. The stream it shares is named by the table's `kinesis-lab:stream`
//! tag, which the workers put on it when they make it; without the tag the
//! leases are shown, but not how far behind they are.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use aws_sdk_kinesis::types::ShardIteratorType;
use maud::html;

use super::{Console, Page, encode, layout};

/// The tag that names the stream a lease table shares.
pub const STREAM_TAG: &str = "kinesis-lab:stream";

/// One lease, as the page shows it.
struct Row {
    shard: String,
    owner: Option<String>,
    counter: String,
    checkpoint: String,
    behind: String,
}

/// One lease table.
struct Table {
    name: String,
    stream: Option<String>,
    rows: Vec<Row>,
}

pub async fn page(console: &Console<'_>) -> Page {
    let mut tables = Vec::new();
    for name in lease_tables(console).await {
        tables.push(table(console, &name).await);
    }
    let content = html! {
        @if tables.is_empty() {
            p.muted { "No lease tables yet: start ETL workers with "
                code { "kinesis-lab etl --lease-table NAME" } "." }
        }
        @for table in &tables {
            h2 { (table.name) }
            p {
                @match &table.stream {
                    Some(stream) => { "Shares the shards of "
                        a href={ "/_console/streams/" (encode(stream)) } { (stream) } "." }
                    None => { "The stream it shares is not named on it (no " code { (STREAM_TAG) } " tag)." }
                }
            }
            table {
                tr { th { "Shard" } th { "Worker" } th { "Lease counter" } th { "Checkpoint" } th { "Behind" } }
                @for row in &table.rows {
                    tr {
                        td { (row.shard) }
                        td { @match &row.owner { Some(owner) => (owner), None => span.muted { "nobody" } } }
                        td { (row.counter) }
                        td { code { (row.checkpoint) } }
                        td { (row.behind) }
                    }
                }
            }
        }
    };
    Ok(layout("Lease tables", Some(2), content))
}

/// The tables keyed by `leaseKey`.
async fn lease_tables(console: &Console<'_>) -> Vec<String> {
    let dynamodb = &console.clients.dynamodb;
    let Ok(listed) = dynamodb.list_tables().send().await else {
        return Vec::new();
    };
    let mut tables = Vec::new();
    for name in listed.table_names() {
        let Ok(described) = dynamodb.describe_table().table_name(name).send().await else {
            continue;
        };
        let keyed_by_lease = described.table().is_some_and(|table| {
            table
                .key_schema()
                .iter()
                .any(|key| key.attribute_name() == "leaseKey" && key.key_type() == &KeyType::Hash)
        });
        if keyed_by_lease {
            tables.push(name.clone());
        }
    }
    tables
}

async fn table(console: &Console<'_>, name: &str) -> Table {
    let dynamodb = &console.clients.dynamodb;
    let arn = dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .ok()
        .and_then(|described| described.table?.table_arn);
    let stream = match arn {
        Some(arn) => dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .ok()
            .and_then(|tags| {
                tags.tags()
                    .iter()
                    .find(|tag| tag.key() == STREAM_TAG)
                    .map(|tag| tag.value().to_owned())
            }),
        None => None,
    };
    let mut items: Vec<HashMap<String, AttributeValue>> = Vec::new();
    let mut start = None;
    loop {
        let Ok(page) = dynamodb
            .scan()
            .table_name(name)
            .set_exclusive_start_key(start)
            .send()
            .await
        else {
            break;
        };
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let text = |item: &HashMap<String, AttributeValue>, key: &str| {
        item.get(key)
            .and_then(|value| value.as_s().or_else(|_| value.as_n()).ok())
            .cloned()
    };
    let mut rows = Vec::new();
    for item in &items {
        let shard = text(item, "leaseKey").unwrap_or_default();
        let checkpoint = text(item, "checkpoint").unwrap_or_default();
        let behind = behind(console, stream.as_deref(), &shard, &checkpoint).await;
        rows.push(Row {
            owner: text(item, "leaseOwner"),
            counter: text(item, "leaseCounter").unwrap_or_default(),
            checkpoint,
            behind,
            shard,
        });
    }
    rows.sort_by(|a, b| a.shard.cmp(&b.shard));
    Table {
        name: name.to_owned(),
        stream,
        rows,
    }
}

/// How far behind the shard's newest record a checkpoint is, in words: the
/// age of the oldest record after it, as GetRecords' `MillisBehindLatest`
/// gives it.
async fn behind(console: &Console<'_>, stream: Option<&str>, shard: &str, checkpoint: &str) -> String {
    match checkpoint {
        "SHARD_END" => return "ended: read to its end".to_owned(),
        "TRIM_HORIZON" | "LATEST" | "AT_TIMESTAMP" => return "not started".to_owned(),
        _ => {}
    }
    let Some(stream) = stream else {
        return "?".to_owned();
    };
    let kinesis = &console.clients.kinesis;
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .starting_sequence_number(checkpoint)
        .send()
        .await
        .ok()
        .and_then(|output| output.shard_iterator);
    let Some(iterator) = iterator else {
        return "?".to_owned();
    };
    match kinesis
        .get_records()
        .shard_iterator(iterator)
        .limit(1)
        .send()
        .await
    {
        Ok(page) if page.records().is_empty() => "caught up".to_owned(),
        Ok(page) => match page.millis_behind_latest() {
            Some(ms) => format!("{:.1} s behind", ms as f64 / 1000.0),
            None => "behind".to_owned(),
        },
        Err(_) => "?".to_owned(),
    }
}
