//! Record processors and the error output (issue 11): records are taken apart
//! and delimited as AWS's processors do, and a record a processor fails on is
//! an error record under the error output prefix.

use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, ExtendedS3DestinationConfiguration, ProcessingConfiguration, Processor,
    ProcessorParameter, ProcessorParameterName, ProcessorType,
};
use base64::Engine;

use crate::{Lab, ROLE};

pub fn processor(kind: ProcessorType, parameters: &[(ProcessorParameterName, &str)]) -> Processor {
    let mut processor = Processor::builder().r#type(kind);
    for (name, value) in parameters {
        processor = processor.parameters(
            ProcessorParameter::builder()
                .parameter_name(name.clone())
                .parameter_value(*value)
                .build()
                .unwrap(),
        );
    }
    processor.build().unwrap()
}

/// Every object's body under `prefix`, once `count` lines are there.
async fn lines_under<E>(lab: &Lab<E>, prefix: &str, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let lines: Vec<String> = lab
            .objects("bucket", prefix)
            .await
            .into_iter()
            .filter(|(key, _)| !key.contains("processing-failed"))
            .flat_map(|(_, body)| {
                String::from_utf8(body)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        if lines.len() >= count {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} lines never arrived under {prefix}");
}

/// RecordDeAggregation (JSON) and AppendDelimiterToRecord: one record holding
/// two JSON objects is delivered as two lines; a record that is not JSON goes
/// under `<Prefix>processing-failed/` as an error record with its data.
#[tokio::test]
async fn processors_split_and_delimit_and_failures_become_error_records() {
    let lab = Lab::start().await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    let processing = ProcessingConfiguration::builder()
        .enabled(true)
        .processors(processor(ProcessorType::AppendDelimiterToRecord, &[]))
        .processors(processor(
            ProcessorType::RecordDeAggregation,
            &[(ProcessorParameterName::SubRecordType, "JSON")],
        ))
        .build();
    lab.from_kinesis("processed", "source")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(ROLE)
                .bucket_arn("arn:aws:s3:::bucket")
                .prefix("processed/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(0)
                        .build(),
                )
                .processing_configuration(processing)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let extended = lab.extended_destination("processed").await;
    assert_eq!(extended.processing_configuration().unwrap().processors().len(), 2);

    lab.put(
        "source",
        &[
            r#"{"a":1}{"a":2}"#.to_owned(),
            "{broken".to_owned(),
            r#"{"a":3}"#.to_owned(),
        ],
    )
    .await;
    let mut lines = lines_under(&lab, "processed/", 3).await;
    lines.sort();
    assert_eq!(lines, [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);

    let errors = lab
        .wait_for_objects("bucket", "processed/processing-failed/", 1)
        .await;
    let (key, body) = &errors[0];
    assert!(key.starts_with("processed/processing-failed/20"), "{key}");
    let error: serde_json::Value = serde_json::from_slice(body.trim_ascii_end()).unwrap();
    assert_eq!(error["errorCode"], "RecordDeAggregation.InvalidJson");
    assert_eq!(error["attemptsMade"], 1);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(error["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, b"{broken");
}

pub const FUNCTION: &str = "arn:aws:lambda:us-east-1:000000000000:function:shout";

fn lambda_processing() -> ProcessingConfiguration {
    ProcessingConfiguration::builder()
        .enabled(true)
        .processors(processor(
            ProcessorType::Lambda,
            &[(ProcessorParameterName::LambdaArn, FUNCTION)],
        ))
        .processors(processor(ProcessorType::AppendDelimiterToRecord, &[]))
        .build()
}

/// A Lambda function with no local command is refused at creation, with the
/// flag that maps one.
#[tokio::test]
async fn an_unmapped_lambda_is_refused_naming_the_flag() {
    let lab = Lab::start().await;
    lab.create_bucket("bucket").await;
    let refused = lab
        .firehose
        .create_delivery_stream()
        .delivery_stream_name("lambda")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(ROLE)
                .bucket_arn("arn:aws:s3:::bucket")
                .processing_configuration(lambda_processing())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let message = aws_sdk_firehose::error::ProvideErrorMetadata::message(&refused)
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(&format!("--lambda {FUNCTION}=COMMAND")),
        "{message}"
    );
}

/// With `--lambda ARN=COMMAND`, the command transforms records as the function
/// would: what it returns Ok is written (then delimited), what it drops is
/// not, and what it fails is an error record naming the function.
#[tokio::test]
async fn a_mapped_lambda_transforms_drops_and_fails_records() {
    let transform = r#"python3 -c '
import base64, json, sys
out = []
for r in json.load(sys.stdin)["records"]:
    text = base64.b64decode(r["data"]).decode()
    if text == "drop":
        out.append({"recordId": r["recordId"], "result": "Dropped"})
    elif text == "fail":
        out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
    else:
        out.append({"recordId": r["recordId"], "result": "Ok", "data": base64.b64encode(text.upper().encode()).decode()})
print(json.dumps({"records": out}))
'"#;
    let mut config = emulator::Config::for_tests();
    config
        .firehose
        .lambdas
        .insert(FUNCTION.to_owned(), transform.to_owned());
    let lab = Lab::start_with(config).await;
    lab.create_stream("source", 1).await;
    lab.create_bucket("bucket").await;
    lab.from_kinesis("shouted", "source")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(ROLE)
                .bucket_arn("arn:aws:s3:::bucket")
                .prefix("shouted/")
                .error_output_prefix("failed/!{firehose:error-output-type}/")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(0)
                        .build(),
                )
                .processing_configuration(lambda_processing())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    lab.put(
        "source",
        &[
            "hello".to_owned(),
            "drop".to_owned(),
            "fail".to_owned(),
            "world".to_owned(),
        ],
    )
    .await;
    let mut lines = lines_under(&lab, "shouted/", 2).await;
    lines.sort();
    assert_eq!(lines, ["HELLO", "WORLD"]);
    let errors = lab
        .wait_for_objects("bucket", "failed/processing-failed/", 1)
        .await;
    let error: serde_json::Value = serde_json::from_slice(errors[0].1.trim_ascii_end()).unwrap();
    assert_eq!(error["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(error["lambdaArn"], FUNCTION);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(error["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, b"fail");
}
