//! GetMetricData: several series at once, one statistic each, newest first
//! unless `ScanBy` says otherwise: what dashboards and the CloudWatch console
//! call. Metric math (`Expression`) is refused by name.

use serde_json::Value;

use super::{STATISTICS, full_dimensions, list, number, opt_str, period, req_str, req_time};
use crate::cloudwatch::CloudWatch;
use crate::cloudwatch::error::CloudWatchError;
use crate::cloudwatch::protocol::Out;
use crate::cloudwatch::store::MetricId;

pub fn execute(cloudwatch: &CloudWatch, input: &Value) -> Result<Out, CloudWatchError> {
    let (start, end) = (req_time(input, "StartTime")?, req_time(input, "EndTime")?);
    if start >= end {
        return Err(CloudWatchError::invalid_value(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let start = start - start.rem_euclid(60);
    let ascending = match opt_str(input, "ScanBy") {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(CloudWatchError::invalid_value(format!(
                "The value {other} for parameter ScanBy is not TimestampDescending or TimestampAscending."
            )));
        }
    };
    let queries = list(input, "MetricDataQueries");
    if queries.is_empty() || queries.len() > 500 {
        return Err(CloudWatchError::invalid_value(
            "MetricDataQueries must hold between 1 and 500 queries.",
        ));
    }
    let mut results = Vec::new();
    for query in queries {
        let query_id = req_str(query, "Id")?;
        if query.get("Expression").is_some_and(|e| !e.is_null()) {
            return Err(CloudWatchError::invalid_value(
                "the kinesis-lab emulator answers MetricStat queries, not metric math Expressions",
            ));
        }
        let stat = query
            .get("MetricStat")
            .filter(|s| s.is_object())
            .ok_or_else(|| CloudWatchError::missing("MetricDataQueries.MetricStat"))?;
        let metric = stat
            .get("Metric")
            .ok_or_else(|| CloudWatchError::missing("MetricStat.Metric"))?;
        let id = MetricId {
            namespace: req_str(metric, "Namespace")?.to_owned(),
            name: req_str(metric, "MetricName")?.to_owned(),
            dimensions: full_dimensions(metric, "Dimensions")?,
        };
        let period = period(number(
            stat.get("Period")
                .ok_or_else(|| CloudWatchError::missing("MetricStat.Period"))?,
            "Period",
        )?)?;
        let statistic = req_str(stat, "Stat")?;
        if !STATISTICS.contains(&statistic) {
            return Err(CloudWatchError::invalid_value(format!(
                "The statistic {statistic} is not one of SampleCount, Average, Sum, Minimum, Maximum."
            )));
        }
        if query.get("ReturnData").and_then(Value::as_bool) == Some(false)
            || query.get("ReturnData").and_then(Value::as_str) == Some("false")
        {
            continue;
        }
        let (_, mut periods) = cloudwatch.store().periods(&id, start, end, period);
        if !ascending {
            periods.reverse();
        }
        let label = opt_str(query, "Label").map_or_else(|| id.name.clone(), str::to_owned);
        results.push(Out::Map(vec![
            ("Id", Out::Str(query_id.to_owned())),
            ("Label", Out::Str(label)),
            (
                "Timestamps",
                Out::List(periods.iter().map(|(at, _)| Out::Time(*at)).collect()),
            ),
            (
                "Values",
                Out::List(
                    periods
                        .iter()
                        .map(|(_, s)| Out::Num(s.statistic(statistic).expect("checked above")))
                        .collect(),
                ),
            ),
            ("StatusCode", Out::Str("Complete".to_owned())),
        ]));
    }
    Ok(Out::Map(vec![
        ("MetricDataResults", Out::List(results)),
        ("Messages", Out::List(vec![])),
    ]))
}
