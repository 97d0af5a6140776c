//! Lambda record transformation, with a local command in place of the
//! function: the emulator has no Lambda, so `kinesis-lab emulator --lambda
//! ARN=COMMAND` says which command stands for which function.
//!
//! The command speaks Firehose's transformation contract, as a Lambda function
//! does: it reads one invocation event as JSON on standard input
//! (`invocationId`, `deliveryStreamArn`, `region`, and `records`, each with a
//! `recordId`, an `approximateArrivalTimestamp` and its `data` in base64), and
//! writes on standard output `{"records": [{"recordId", "result", "data"}]}`,
//! where `result` is `Ok`, `Dropped` or `ProcessingFailed`, and a record may
//! carry `metadata.partitionKeys` for dynamic partitioning. A record it does
//! not return, returns twice, or fails is an error record, as on AWS; so is
//! every record of an invocation that fails (the command exits with an error
//! or answers something else).

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::failure::Failure;

/// How long one invocation may take (a Firehose Lambda may take 5 minutes).
const TIMEOUT: Duration = Duration::from_secs(300);

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The record as the function returned it, with its partition keys.
    Ok(Vec<u8>, BTreeMap<String, String>),
    Dropped,
    Failed(Failure),
}

#[derive(Deserialize)]
struct Response {
    records: Vec<Returned>,
}

#[derive(Deserialize)]
struct Returned {
    #[serde(rename = "recordId")]
    record_id: String,
    result: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "partitionKeys", default)]
    partition_keys: BTreeMap<String, serde_json::Value>,
}

/// One record sent to the function: its arrival (milliseconds) and data.
pub struct Sent<'a> {
    pub arrival_ms: i64,
    pub data: &'a [u8],
}

/// Runs `command` on `records`, and says what became of each, in order.
pub async fn invoke(command: &str, stream_arn: &str, region: &str, records: &[Sent<'_>]) -> Vec<Outcome> {
    match run(command, stream_arn, region, records).await {
        Ok(outcomes) => outcomes,
        Err(message) => {
            let failure = Failure {
                code: "Lambda.FunctionError",
                message,
            };
            records.iter().map(|_| Outcome::Failed(failure.clone())).collect()
        }
    }
}

async fn run(
    command: &str,
    stream_arn: &str,
    region: &str,
    records: &[Sent<'_>],
) -> Result<Vec<Outcome>, String> {
    let event = json!({
        "invocationId": uuid::Uuid::new_v4().to_string(),
        "deliveryStreamArn": stream_arn,
        "region": region,
        "records": records.iter().enumerate().map(|(index, record)| json!({
            "recordId": index.to_string(),
            "approximateArrivalTimestamp": record.arrival_ms,
            "data": BASE64.encode(record.data),
        })).collect::<Vec<_>>(),
    });
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot start `{command}`: {err}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = event.to_string();
    // Written while the output is read, so that neither side waits on a full pipe.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(input.as_bytes()).await;
    });
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("`{command}` did not answer within {TIMEOUT:?}"))?
        .map_err(|err| format!("`{command}` failed: {err}"))?;
    let _ = writer.await;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return Err(format!("`{command}` exited with {}: {last}", output.status));
    }
    let response: Response = serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("`{command}` did not answer with the transformation response: {err}"))?;
    Ok(outcomes(response, records.len()))
}

/// The outcome of each record sent, from what the function returned.
fn outcomes(response: Response, sent: usize) -> Vec<Outcome> {
    let mut returned: HashMap<String, Vec<Returned>> = HashMap::new();
    for record in response.records {
        returned.entry(record.record_id.clone()).or_default().push(record);
    }
    let failed = |code, message: &str| {
        Outcome::Failed(Failure {
            code,
            message: message.to_owned(),
        })
    };
    (0..sent)
        .map(|index| match returned.remove(&index.to_string()).as_deref() {
            None | Some([]) => failed(
                "Lambda.MissingRecordId",
                "the function did not return this record",
            ),
            Some([_, _, ..]) => failed(
                "Lambda.DuplicatedRecordId",
                "the function returned this record more than once",
            ),
            Some([record]) => match record.result.as_str() {
                "Ok" => match record.data.as_deref().map(|data| BASE64.decode(data)) {
                    Some(Ok(data)) => Outcome::Ok(data, partition_keys(record.metadata.as_ref())),
                    _ => failed(
                        "Lambda.InvalidReturnedData",
                        "the function returned data that is not base64",
                    ),
                },
                "Dropped" => Outcome::Dropped,
                "ProcessingFailed" => {
                    failed("Lambda.ProcessingFailedStatus", "the function failed this record")
                }
                other => failed(
                    "Lambda.InvalidReturnedResult",
                    &format!(
                        "the function returned result {other:?}; expected Ok, Dropped or ProcessingFailed"
                    ),
                ),
            },
        })
        .collect()
}

/// The partition keys a function returned: strings as they are, numbers and
/// booleans as their JSON text; a null is no key.
fn partition_keys(metadata: Option<&Metadata>) -> BTreeMap<String, String> {
    let Some(metadata) = metadata else {
        return BTreeMap::new();
    };
    metadata
        .partition_keys
        .iter()
        .filter_map(|(name, value)| match value {
            serde_json::Value::String(text) => Some((name.clone(), text.clone())),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                Some((name.clone(), value.to_string()))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_transforms_drops_and_fails_records() {
        // Upper-cases the first record (with partition keys), drops the second,
        // fails the third, and forgets the fourth.
        let command = r#"python3 -c '
import base64, json, sys
event = json.load(sys.stdin)
out = []
for r in event["records"]:
    i = int(r["recordId"])
    if i == 0:
        out.append({"recordId": r["recordId"], "result": "Ok", "data": base64.b64encode(base64.b64decode(r["data"]).upper()).decode(),
                    "metadata": {"partitionKeys": {"k": "v", "n": 3, "none": None}}})
    elif i == 1:
        out.append({"recordId": r["recordId"], "result": "Dropped"})
    elif i == 2:
        out.append({"recordId": r["recordId"], "result": "ProcessingFailed"})
print(json.dumps({"records": out}))
'"#;
        let sent: Vec<Sent> = ["a", "b", "c", "d"]
            .iter()
            .map(|d| Sent {
                arrival_ms: 0,
                data: d.as_bytes(),
            })
            .collect();
        let outcomes = invoke(command, "arn", "us-east-1", &sent).await;
        let keys = [("k".to_owned(), "v".to_owned()), ("n".to_owned(), "3".to_owned())].into();
        assert_eq!(outcomes[0], Outcome::Ok(b"A".to_vec(), keys));
        assert_eq!(outcomes[1], Outcome::Dropped);
        assert!(matches!(&outcomes[2], Outcome::Failed(f) if f.code == "Lambda.ProcessingFailedStatus"));
        assert!(matches!(&outcomes[3], Outcome::Failed(f) if f.code == "Lambda.MissingRecordId"));
    }

    #[tokio::test]
    async fn a_failing_command_fails_every_record_with_its_last_words() {
        let sent = [Sent {
            arrival_ms: 0,
            data: b"x",
        }];
        let outcomes = invoke("echo 'no such module' >&2; exit 3", "arn", "us-east-1", &sent).await;
        assert!(
            matches!(&outcomes[0], Outcome::Failed(f) if f.code == "Lambda.FunctionError" && f.message.contains("no such module")),
            "{outcomes:?}"
        );
    }
}
