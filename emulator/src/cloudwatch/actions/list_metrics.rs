//! ListMetrics: the series there are, by namespace, name and dimensions.
//! `aws cloudwatch list-metrics --namespace AWS/Kinesis` shows each stream's.

use serde_json::Value;

use super::{dimensions, dimensions_out, opt_str};
use crate::cloudwatch::CloudWatch;
use crate::cloudwatch::error::CloudWatchError;
use crate::cloudwatch::protocol::Out;

const PAGE: usize = 500;

pub fn execute(cloudwatch: &CloudWatch, input: &Value) -> Result<Out, CloudWatchError> {
    let namespace = opt_str(input, "Namespace");
    let name = opt_str(input, "MetricName");
    let filters = dimensions(input, "Dimensions")?;
    // The token is how many series earlier pages held.
    let skip: usize = match opt_str(input, "NextToken") {
        None => 0,
        Some(token) => token.parse().map_err(|_| CloudWatchError::invalid_token())?,
    };
    let ids = cloudwatch.store().ids(|id, _| {
        namespace.is_none_or(|n| id.namespace == n)
            && name.is_none_or(|n| id.name == n)
            && filters.iter().all(|(fname, fvalue)| {
                id.dimensions
                    .iter()
                    .any(|(dname, dvalue)| dname == fname && fvalue.as_ref().is_none_or(|v| v == dvalue))
            })
    });
    let metrics: Vec<Out> = ids
        .iter()
        .skip(skip)
        .take(PAGE)
        .map(|id| {
            Out::Map(vec![
                ("Namespace", Out::Str(id.namespace.clone())),
                ("MetricName", Out::Str(id.name.clone())),
                ("Dimensions", dimensions_out(&id.dimensions)),
            ])
        })
        .collect();
    let mut out = vec![("Metrics", Out::List(metrics))];
    if skip + PAGE < ids.len() {
        out.push(("NextToken", Out::Str((skip + PAGE).to_string())));
    }
    Ok(Out::Map(out))
}
