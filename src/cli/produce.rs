//! `kinesis-lab produce`: the lab's `producer_from_cli.py` (step 1.4).

use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_sdk_kinesis::primitives::Blob;
use serde_json::Value;

use super::TargetArgs;
use kinesis_lab::aws_error::put_record_failed;
use kinesis_lab::session::MAX_SESSION_ID_CHARS;
use kinesis_lab::stream_name::StreamName;

/// Put one record on a stream, as the lab's producer does (step 1.4).
///
/// The record is a JSON object; its session_id is the partition key, which
/// decides the shard. Prints the record's sequence number and shard, as the
/// lab's producer_from_cli.py does. Nothing is sent when the JSON is invalid or
/// has no session_id.
///
/// Example:
///   kinesis-lab produce --stream de-c2w2lab1-kinesis-data-stream-cli \
///     --json-string "$(cat data/example_record.json)"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The stream to put the record on.
    #[arg(long, value_name = "NAME")]
    pub stream: StreamName,

    /// The record, a JSON object with a session_id (the lab spells it --json_string).
    #[arg(long = "json-string", alias = "json_string", value_name = "JSON")]
    pub json_string: String,

    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let partition_key = partition_key(&args.json_string)?;
    super::runtime()?.block_on(async {
        let clients = args.target.target().connect().await?;
        let output = clients
            .kinesis
            .put_record()
            .stream_name(args.stream.as_str())
            .partition_key(&partition_key)
            .data(Blob::new(args.json_string.trim().as_bytes()))
            .send()
            .await
            .map_err(|err| put_record_failed(&err, &args.stream, &clients.target))?;
        println!(
            "Produced record {} to Shard {}",
            output.sequence_number(),
            output.shard_id()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The record's `session_id`, checked before anything is sent.
fn partition_key(json: &str) -> anyhow::Result<String> {
    let value: Value = serde_json::from_str(json).context("--json-string is not valid JSON")?;
    let Value::Object(record) = value else {
        bail!("--json-string must be a JSON object, like data/example_record.json");
    };
    match record.get("session_id") {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_SESSION_ID_CHARS => {
            Ok(id.clone())
        }
        Some(Value::String(id)) if id.is_empty() => {
            bail!("the record's session_id is empty; it is the partition key")
        }
        Some(Value::String(_)) => {
            bail!(
                "the record's session_id is longer than {MAX_SESSION_ID_CHARS} characters, the limit of a partition key"
            )
        }
        Some(other) => bail!("the record's session_id must be a string, found {other}"),
        None => bail!("the record has no session_id; the producer uses it as the partition key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_key_is_the_session_id() {
        assert_eq!(partition_key(r#"{"session_id": "a1", "x": 1}"#).unwrap(), "a1");
    }

    #[test]
    fn bad_records_are_refused_before_sending() {
        let cases = [
            ("{", "--json-string is not valid JSON"),
            ("[1]", "--json-string must be a JSON object"),
            ("{}", "the record has no session_id"),
            (
                r#"{"session_id": 5}"#,
                "the record's session_id must be a string, found 5",
            ),
            (r#"{"session_id": ""}"#, "the record's session_id is empty"),
        ];
        for (json, message) in cases {
            let err = partition_key(json).unwrap_err();
            assert!(format!("{err:#}").starts_with(message), "{json}: {err:#}");
        }
    }
}
