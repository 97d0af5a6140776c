//! Record processors (`ProcessingConfiguration`): what Firehose does to each
//! record between taking it in and buffering it.
//!
//! The processors this emulator runs, in the order AWS runs them whatever
//! order they are listed in:
//! - `Decompression` (`CompressionFormat` GZIP): each record gunzipped, as
//!   CloudWatch Logs subscriptions deliver them;
//! - `CloudWatchLogProcessing` (`DataMessageExtraction` true): a CloudWatch
//!   Logs message becomes one record per log event, its `message`;
//! - `RecordDeAggregation`: a record holding several becomes several:
//!   `SubRecordType` JSON (JSON objects one after the other) or DELIMITED
//!   (split at the base64-encoded `Delimiter`);
//! - `Lambda`: the records, a batch at a time, through the local command that
//!   stands for the function ([`super::lambda`]);
//! - `MetadataExtraction`: a JQ query that gives each record its partition
//!   keys, for dynamic partitioning ([`super::partitioning`]);
//! - `AppendDelimiterToRecord`: a newline after each record.
//!
//! A record a processor cannot handle (not gzip, not JSON) is not delivered
//! with the others: it goes under the error output prefix as a
//! `processing-failed` error record (`partitioning-failed` when it is the
//! partition keys that cannot be had).

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::error::FirehoseError;
use super::failure::Failure;
use super::partitioning::MetadataQuery;
use super::validate::{self, Object};

/// The processors of one destination, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Processing {
    decompress: bool,
    cloud_watch_logs: bool,
    de_aggregate: Option<SubRecords>,
    /// The Lambda function's ARN and the command that stands for it.
    pub lambda: Option<(String, String)>,
    /// `MetadataExtraction`'s query, compiled.
    pub metadata_query: Option<MetadataQuery>,
    append_delimiter: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubRecords {
    Json,
    Delimited(Vec<u8>),
}

impl Processing {
    /// The `ProcessingConfiguration` of an extended S3 destination; `None` when
    /// it is absent, disabled or lists no processor.
    pub fn from_config(
        config: &Object,
        member: &str,
        lambdas: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Processing>, FirehoseError> {
        let at = |field: &str| format!("{member}.processingConfiguration.{field}");
        let Some(section) = validate::opt_object(
            config,
            "ProcessingConfiguration",
            &format!("{member}.processingConfiguration"),
        )?
        else {
            return Ok(None);
        };
        let enabled = validate::opt_bool(section, "Enabled", &at("enabled"))?.unwrap_or(true);
        let processors = match section.get("Processors") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(list)) => list,
            Some(_) => {
                return Err(FirehoseError::serialization(format!(
                    "{} must be a list",
                    at("processors")
                )));
            }
        };
        let mut processing = Processing::default();
        for (index, processor) in processors.iter().enumerate() {
            let at = |field: &str| at(&format!("processors.{}.member.{field}", index + 1));
            let Value::Object(processor) = processor else {
                return Err(FirehoseError::serialization(format!(
                    "{} must be a structure",
                    at("")
                )));
            };
            let kind = validate::req_str(processor, "Type", &at("type"))?;
            let parameters = parameters(processor, &at("parameters"))?;
            let parameter = |name: &str| {
                parameters
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            match kind {
                "AppendDelimiterToRecord" => processing.append_delimiter = true,
                "Decompression" => match parameter("CompressionFormat").unwrap_or("GZIP") {
                    "GZIP" => processing.decompress = true,
                    other => return Err(invalid(&format!("Decompression of {other} (GZIP only)"))),
                },
                "CloudWatchLogProcessing" => {
                    processing.cloud_watch_logs =
                        parameter("DataMessageExtraction").unwrap_or("true") == "true"
                }
                "RecordDeAggregation" => {
                    processing.de_aggregate = Some(match parameter("SubRecordType").unwrap_or("JSON") {
                        "JSON" => SubRecords::Json,
                        "DELIMITED" => {
                            let delimiter = parameter("Delimiter").ok_or_else(|| {
                                invalid("RecordDeAggregation with SubRecordType DELIMITED needs a Delimiter")
                            })?;
                            let delimiter = BASE64
                                .decode(delimiter)
                                .ok()
                                .filter(|d| !d.is_empty())
                                .ok_or_else(|| {
                                    invalid(
                                        "the Delimiter of RecordDeAggregation is base64, of 1 byte or more",
                                    )
                                })?;
                            SubRecords::Delimited(delimiter)
                        }
                        other => return Err(invalid(&format!("SubRecordType {other} (JSON or DELIMITED)"))),
                    })
                }
                "Lambda" => {
                    let arn = parameter("LambdaArn")
                        .ok_or_else(|| invalid("a Lambda processor without its LambdaArn parameter"))?;
                    let command = lambdas.get(arn).ok_or_else(|| {
                        FirehoseError::invalid_argument(format!(
                            "the Lambda function {arn} has no local command: this emulator has no Lambda; start it \
                             with --lambda {arn}=COMMAND, COMMAND reading Firehose's transformation event on \
                             standard input and writing its response on standard output"
                        ))
                    })?;
                    processing.lambda = Some((arn.to_owned(), command.clone()));
                }
                "MetadataExtraction" => {
                    let query = parameter("MetadataExtractionQuery").ok_or_else(|| {
                        invalid(
                            "a MetadataExtraction processor without its MetadataExtractionQuery parameter",
                        )
                    })?;
                    match parameter("JsonParsingEngine") {
                        None | Some("JQ-1.6") => {}
                        Some(other) => {
                            return Err(invalid(&format!("JsonParsingEngine {other} (JQ-1.6 only)")));
                        }
                    }
                    let query = MetadataQuery::compile(query).map_err(FirehoseError::invalid_argument)?;
                    processing.metadata_query = Some(query);
                }
                other => {
                    return Err(FirehoseError::validation(
                        &at("type"),
                        other,
                        "Member must satisfy enum value set: [RecordDeAggregation, Decompression, \
                         CloudWatchLogProcessing, Lambda, MetadataExtraction, AppendDelimiterToRecord]",
                    ));
                }
            }
        }
        Ok((enabled && processing != Processing::default()).then_some(processing))
    }

    /// The records `data` becomes before the Lambda function, or why it
    /// cannot be processed.
    pub fn before_lambda(&self, data: Vec<u8>) -> Result<Vec<Vec<u8>>, Failure> {
        let data = if self.decompress { gunzip(&data)? } else { data };
        let mut records = if self.cloud_watch_logs {
            log_messages(&data)?
        } else {
            vec![data]
        };
        if let Some(sub_records) = &self.de_aggregate {
            let mut split = Vec::with_capacity(records.len());
            for record in records {
                split.extend(de_aggregate(sub_records, &record)?);
            }
            records = split;
        }
        Ok(records)
    }

    /// A record as it is written, after the Lambda function.
    pub fn after_lambda(&self, mut data: Vec<u8>) -> Vec<u8> {
        if self.append_delimiter {
            data.push(b'\n');
        }
        data
    }

    /// Every processor but Lambda, one record at a time.
    #[cfg(test)]
    fn apply(&self, data: Vec<u8>) -> Result<Vec<Vec<u8>>, Failure> {
        Ok(self
            .before_lambda(data)?
            .into_iter()
            .map(|record| self.after_lambda(record))
            .collect())
    }
}

/// A processor's `Parameters`: (name, value) pairs.
fn parameters(processor: &Object, member: &str) -> Result<Vec<(String, String)>, FirehoseError> {
    let list = match processor.get("Parameters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(FirehoseError::serialization(format!("{member} must be a list"))),
    };
    let mut found = Vec::with_capacity(list.len());
    for (index, parameter) in list.iter().enumerate() {
        let at = |field: &str| format!("{member}.{}.member.{field}", index + 1);
        let Value::Object(parameter) = parameter else {
            return Err(FirehoseError::serialization(format!(
                "{member}.{} must be a structure",
                index + 1
            )));
        };
        let name = validate::req_str(parameter, "ParameterName", &at("parameterName"))?;
        let value = validate::req_str(parameter, "ParameterValue", &at("parameterValue"))?;
        validate::length(&at("parameterValue"), value, 1, 5120)?;
        found.push((name.to_owned(), value.to_owned()));
    }
    Ok(found)
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|err| Failure {
            code: "Decompression.InvalidData",
            message: format!("the record is not GZIP data: {err}"),
        })?;
    Ok(out)
}

/// The `message` of each log event of a CloudWatch Logs subscription message;
/// a control message (which has no events for the destination) gives none.
fn log_messages(data: &[u8]) -> Result<Vec<Vec<u8>>, Failure> {
    let failure = |message: String| Failure {
        code: "CloudWatchLogProcessing.InvalidData",
        message,
    };
    let message: Value = serde_json::from_slice(data)
        .map_err(|err| failure(format!("not a CloudWatch Logs message: {err}")))?;
    if message.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
        return Ok(Vec::new());
    }
    let events = message
        .get("logEvents")
        .and_then(Value::as_array)
        .ok_or_else(|| failure("a CloudWatch Logs message without logEvents".to_owned()))?;
    Ok(events
        .iter()
        .filter_map(|event| event.get("message").and_then(Value::as_str))
        .map(|text| text.as_bytes().to_vec())
        .collect())
}

fn de_aggregate(sub_records: &SubRecords, data: &[u8]) -> Result<Vec<Vec<u8>>, Failure> {
    match sub_records {
        SubRecords::Json => {
            let mut records = Vec::new();
            let mut values = serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
            let mut start = 0;
            while let Some(value) = values.next() {
                value.map_err(|err| Failure {
                    code: "RecordDeAggregation.InvalidJson",
                    message: format!("the record is not JSON objects one after the other: {err}"),
                })?;
                let end = values.byte_offset();
                records.push(data[start..end].trim_ascii().to_vec());
                start = end;
            }
            Ok(records)
        }
        SubRecords::Delimited(delimiter) => Ok(split(data, delimiter)),
    }
}

fn split(data: &[u8], delimiter: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = memchr::memmem::find(rest, delimiter) {
        parts.push(rest[..at].to_vec());
        rest = &rest[at + delimiter.len()..];
    }
    if !rest.is_empty() {
        parts.push(rest.to_vec());
    }
    parts
}

fn invalid(what: &str) -> FirehoseError {
    FirehoseError::invalid_argument(format!("{what} is not supported by Firehose"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn processing(processors: Value) -> Processing {
        let config = json!({"ProcessingConfiguration": {"Enabled": true, "Processors": processors}});
        Processing::from_config(config.as_object().unwrap(), "d", &Default::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn json_sub_records_are_split_and_a_delimiter_appended() {
        let p = processing(json!([
            {"Type": "AppendDelimiterToRecord"},
            {"Type": "RecordDeAggregation", "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]}
        ]));
        let out = p.apply(br#"{"a":1}{"b":[2]} {"c":3}"#.to_vec()).unwrap();
        assert_eq!(
            out,
            [
                b"{\"a\":1}\n".to_vec(),
                b"{\"b\":[2]}\n".to_vec(),
                b"{\"c\":3}\n".to_vec()
            ]
        );
        assert_eq!(
            p.apply(b"{not json".to_vec()).unwrap_err().code,
            "RecordDeAggregation.InvalidJson"
        );
    }

    #[test]
    fn delimited_sub_records_split_at_the_delimiter() {
        let p = processing(json!([{"Type": "RecordDeAggregation", "Parameters": [
            {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"},
            {"ParameterName": "Delimiter", "ParameterValue": BASE64.encode("||")}
        ]}]));
        assert_eq!(
            p.apply(b"a||b||c".to_vec()).unwrap(),
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn cloud_watch_logs_are_gunzipped_and_their_messages_taken() {
        use std::io::Write;
        let p = processing(json!([
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {"Type": "CloudWatchLogProcessing", "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]}
        ]));
        let logs = json!({"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1", "message": "one"}, {"id": "2", "message": "two"}]});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(logs.to_string().as_bytes()).unwrap();
        assert_eq!(
            p.apply(gz.finish().unwrap()).unwrap(),
            [b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(
            p.apply(b"plain".to_vec()).unwrap_err().code,
            "Decompression.InvalidData"
        );
    }

    #[test]
    fn an_unmapped_lambda_is_refused_naming_the_flag_and_disabled_means_none() {
        let config = json!({"ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:us-east-1:000000000000:function:f"}
        ]}]}});
        let err = Processing::from_config(config.as_object().unwrap(), "d", &Default::default()).unwrap_err();
        assert!(err.message.contains("--lambda"), "{err}");
        let off = json!({"ProcessingConfiguration": {"Enabled": false, "Processors": [{"Type": "AppendDelimiterToRecord"}]}});
        assert_eq!(
            Processing::from_config(off.as_object().unwrap(), "d", &Default::default()).unwrap(),
            None
        );
    }
}
