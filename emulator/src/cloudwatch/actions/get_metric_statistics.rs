//! GetMetricStatistics: one series' statistics per period, oldest first.
//! `aws cloudwatch get-metric-statistics --namespace AWS/Kinesis
//! --metric-name IncomingRecords --dimensions Name=StreamName,Value=... --statistics Sum`.

use serde_json::Value;

use super::{STATISTICS, full_dimensions, list, number, opt_str, period, req_str, req_time};
use crate::cloudwatch::CloudWatch;
use crate::cloudwatch::error::CloudWatchError;
use crate::cloudwatch::protocol::Out;
use crate::cloudwatch::store::MetricId;

pub fn execute(cloudwatch: &CloudWatch, input: &Value) -> Result<Out, CloudWatchError> {
    let id = MetricId {
        namespace: req_str(input, "Namespace")?.to_owned(),
        name: req_str(input, "MetricName")?.to_owned(),
        dimensions: full_dimensions(input, "Dimensions")?,
    };
    let (start, end) = (req_time(input, "StartTime")?, req_time(input, "EndTime")?);
    if start >= end {
        return Err(CloudWatchError::invalid_value(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let period = period(number(
        input
            .get("Period")
            .ok_or_else(|| CloudWatchError::missing("Period"))?,
        "Period",
    )?)?;
    if !list(input, "ExtendedStatistics").is_empty() {
        return Err(CloudWatchError::invalid_value(
            "the kinesis-lab emulator computes SampleCount, Average, Sum, Minimum and Maximum, not percentiles",
        ));
    }
    let statistics: Vec<&str> = list(input, "Statistics")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if statistics.is_empty() {
        return Err(CloudWatchError::missing("Statistics"));
    }
    if let Some(unknown) = statistics.iter().find(|s| !STATISTICS.contains(s)) {
        return Err(CloudWatchError::invalid_value(format!(
            "The value {unknown} for parameter Statistics is not one of SampleCount, Average, Sum, Minimum, Maximum."
        )));
    }
    // As AWS: the start is rounded down to the minute.
    let start = start - start.rem_euclid(60);
    let (unit, periods) = cloudwatch.store().periods(&id, start, end, period);
    let asked_unit = opt_str(input, "Unit");
    if asked_unit.is_some_and(|asked| unit.as_deref().unwrap_or("None") != asked) {
        return Ok(Out::Map(vec![
            ("Label", Out::Str(id.name)),
            ("Datapoints", Out::List(vec![])),
        ]));
    }
    let unit = unit.unwrap_or_else(|| "None".to_owned());
    let datapoints = periods
        .iter()
        .map(|(at, summary)| {
            let mut fields = vec![("Timestamp", Out::Time(*at))];
            for statistic in &statistics {
                let value = summary.statistic(statistic).expect("checked above");
                let name = STATISTICS
                    .iter()
                    .find(|s| *s == statistic)
                    .expect("checked above");
                fields.push((name, Out::Num(value)));
            }
            fields.push(("Unit", Out::Str(unit.clone())));
            Out::Map(fields)
        })
        .collect();
    Ok(Out::Map(vec![
        ("Label", Out::Str(id.name)),
        ("Datapoints", Out::List(datapoints)),
    ]))
}
