//! One file per CloudWatch action, each the same shape:
//! `execute(&CloudWatch, input) -> Result<Out, CloudWatchError>`, on the
//! request as JSON whatever protocol it came in ([`super::protocol`]).
//!
//! [`dispatch`] matches every operation with no catch-all arm.

mod get_metric_data;
mod get_metric_statistics;
mod list_metrics;
mod put_metric_data;

use serde_json::Value;

use super::CloudWatch;
use super::error::CloudWatchError;
use super::protocol::Out;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutMetricData,
    ListMetrics,
    GetMetricStatistics,
    GetMetricData,
}

impl Operation {
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "PutMetricData" => Operation::PutMetricData,
            "ListMetrics" => Operation::ListMetrics,
            "GetMetricStatistics" => Operation::GetMetricStatistics,
            "GetMetricData" => Operation::GetMetricData,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::PutMetricData => "PutMetricData",
            Operation::ListMetrics => "ListMetrics",
            Operation::GetMetricStatistics => "GetMetricStatistics",
            Operation::GetMetricData => "GetMetricData",
        }
    }
}

pub fn dispatch(
    cloudwatch: &CloudWatch,
    operation: Operation,
    input: &Value,
) -> Result<Out, CloudWatchError> {
    match operation {
        Operation::PutMetricData => put_metric_data::execute(cloudwatch, input),
        Operation::ListMetrics => list_metrics::execute(cloudwatch, input),
        Operation::GetMetricStatistics => get_metric_statistics::execute(cloudwatch, input),
        Operation::GetMetricData => get_metric_data::execute(cloudwatch, input),
    }
}

/// The statistics AWS computes for every metric.
pub const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

fn opt_str<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

fn req_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, CloudWatchError> {
    opt_str(input, key).ok_or_else(|| CloudWatchError::missing(key))
}

fn list<'a>(input: &'a Value, key: &str) -> &'a [Value] {
    input
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A number: JSON and CBOR send numbers, the query protocol strings.
fn number(value: &Value, key: &str) -> Result<f64, CloudWatchError> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    parsed.filter(|n: &f64| n.is_finite()).ok_or_else(|| {
        CloudWatchError::invalid_value(format!("The value for parameter {key} is not a valid number."))
    })
}

fn opt_number(input: &Value, key: &str) -> Result<Option<f64>, CloudWatchError> {
    input
        .get(key)
        .filter(|v| !v.is_null())
        .map(|v| number(v, key))
        .transpose()
}

/// A timestamp in seconds: epoch seconds (JSON, CBOR) or ISO 8601 (query).
fn time(value: &Value, key: &str) -> Result<i64, CloudWatchError> {
    let seconds = match value {
        Value::Number(n) => n.as_f64().map(|s| s.floor() as i64),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp())
            .or_else(|| s.parse::<f64>().ok().map(|s| s.floor() as i64)),
        _ => None,
    };
    seconds.ok_or_else(|| {
        CloudWatchError::invalid_value(format!("The parameter {key} is not a valid timestamp."))
    })
}

fn req_time(input: &Value, key: &str) -> Result<i64, CloudWatchError> {
    time(input.get(key).ok_or_else(|| CloudWatchError::missing(key))?, key)
}

/// Dimensions as (Name, Value) sorted by name; a filter's may lack a value.
fn dimensions(input: &Value, key: &str) -> Result<Vec<(String, Option<String>)>, CloudWatchError> {
    let mut dims = Vec::new();
    for dim in list(input, key) {
        let name = req_str(dim, "Name")?.to_owned();
        dims.push((name, opt_str(dim, "Value").map(str::to_owned)));
    }
    if dims.len() > 30 {
        return Err(CloudWatchError::invalid_value(
            "A metric has at most 30 dimensions.",
        ));
    }
    dims.sort();
    Ok(dims)
}

fn full_dimensions(input: &Value, key: &str) -> Result<Vec<(String, String)>, CloudWatchError> {
    dimensions(input, key)?
        .into_iter()
        .map(|(name, value)| {
            value
                .map(|v| (name, v))
                .ok_or_else(|| CloudWatchError::missing(&format!("{key}.Value")))
        })
        .collect()
}

fn dimensions_out(dims: &[(String, String)]) -> Out {
    Out::List(
        dims.iter()
            .map(|(name, value)| {
                Out::Map(vec![
                    ("Name", Out::Str(name.clone())),
                    ("Value", Out::Str(value.clone())),
                ])
            })
            .collect(),
    )
}

/// A period: a multiple of 60 seconds (one-minute resolution is all we keep).
fn period(value: f64) -> Result<i64, CloudWatchError> {
    let period = value as i64;
    if period < 60 || period % 60 != 0 || value.fract() != 0.0 {
        return Err(CloudWatchError::invalid_value(
            "The parameter Period must be a multiple of 60 (the kinesis-lab emulator keeps one-minute data).",
        ));
    }
    Ok(period)
}
