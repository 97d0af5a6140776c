//! PutMetricData: values, statistic sets or value/count arrays, added to their
//! series' minute. What a KCL application publishes every few seconds.

use serde_json::Value;

use super::{dimensions, list, number, opt_number, opt_str, req_str, time};
use crate::cloudwatch::CloudWatch;
use crate::cloudwatch::error::CloudWatchError;
use crate::cloudwatch::protocol::Out;
use crate::cloudwatch::store::{MetricId, Summary};

/// AWS takes data up to two weeks old and two hours ahead.
const OLDEST_SECONDS: i64 = 14 * 24 * 3600;
const NEWEST_SECONDS: i64 = 2 * 3600;

pub fn execute(cloudwatch: &CloudWatch, input: &Value) -> Result<Out, CloudWatchError> {
    let namespace = req_str(input, "Namespace")?;
    if namespace.starts_with("AWS/") {
        return Err(CloudWatchError::invalid_value(format!(
            "The value {namespace} for parameter Namespace is invalid: the AWS/ namespaces are AWS's own."
        )));
    }
    let data = list(input, "MetricData");
    if data.is_empty() || data.len() > 1000 {
        return Err(CloudWatchError::invalid_value(
            "MetricData must hold between 1 and 1000 items.",
        ));
    }
    let now = chrono::Utc::now().timestamp();
    // Checked whole before anything is stored: a refused request stores nothing.
    let mut checked = Vec::with_capacity(data.len());
    for datum in data {
        let name = req_str(datum, "MetricName")?;
        let dims = dimensions(datum, "Dimensions")?
            .into_iter()
            .map(|(name, value)| (name, value.unwrap_or_default()))
            .collect();
        let at = match datum.get("Timestamp").filter(|v| !v.is_null()) {
            Some(value) => time(value, "Timestamp")?,
            None => now,
        };
        if at < now - OLDEST_SECONDS || at > now + NEWEST_SECONDS {
            return Err(CloudWatchError::invalid_value(
                "The parameter MetricData.Timestamp must be within the last two weeks and at most two hours ahead.",
            ));
        }
        let summaries = summaries(datum)?;
        let id = MetricId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: dims,
        };
        checked.push((id, opt_str(datum, "Unit").map(str::to_owned), at, summaries));
    }
    for (id, unit, at, summaries) in checked {
        for summary in summaries {
            cloudwatch
                .store()
                .add(id.clone(), unit.as_deref(), at, summary, now);
        }
    }
    Ok(Out::Map(vec![]))
}

/// What one datum adds: a value, a statistic set, or values with counts.
fn summaries(datum: &Value) -> Result<Vec<Summary>, CloudWatchError> {
    let value = opt_number(datum, "Value")?;
    let set = datum.get("StatisticValues").filter(|v| !v.is_null());
    let values = list(datum, "Values");
    let given = [value.is_some(), set.is_some(), !values.is_empty()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(CloudWatchError::invalid_combination(
            "Exactly one of Value, StatisticValues and Values must be given for a metric datum.",
        ));
    }
    if let Some(value) = value {
        return Ok(vec![Summary::one(value)]);
    }
    if let Some(set) = set {
        let field = |key: &str| {
            number(
                set.get(key)
                    .ok_or_else(|| CloudWatchError::missing(&format!("StatisticValues.{key}")))?,
                key,
            )
        };
        let summary = Summary {
            count: field("SampleCount")?,
            sum: field("Sum")?,
            min: field("Minimum")?,
            max: field("Maximum")?,
        };
        if summary.count <= 0.0 || summary.min > summary.max {
            return Err(CloudWatchError::invalid_value(
                "StatisticValues needs a SampleCount above 0 and a Minimum no greater than its Maximum.",
            ));
        }
        return Ok(vec![summary]);
    }
    let counts = list(datum, "Counts");
    if !counts.is_empty() && counts.len() != values.len() {
        return Err(CloudWatchError::invalid_combination(
            "Values and Counts must have the same length.",
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let value = number(value, "Values")?;
            let count = counts
                .get(index)
                .map(|c| number(c, "Counts"))
                .transpose()?
                .unwrap_or(1.0);
            Ok(Summary {
                count,
                sum: value * count,
                min: value,
                max: value,
            })
        })
        .collect()
}
