//! Part 2.1's grade: the resources a learner's notebook (or script) made,
//! lab step by lab step (steps 2.1.2 to 2.1.5), from what the target holds
//! once it has run, never from what it printed.
//!
//! A pure function: how the notebook ran, and the buckets, streams and
//! delivery streams found on the target, go in; one grade per lab step comes
//! out. What is graded is the configuration, not only that something exists:
//!
//! | step | check |
//! |---|---|
//! | 2.1 | every code cell runs; the first that raises is named with its error's last line |
//! | 2.1.2 | both buckets, named with the target's account id (a placeholder left in place is told which id to use) |
//! | 2.1.4 | both data streams, 2 open shards each, `ACTIVE` |
//! | 2.1.5 | both delivery streams: the source stream's ARN, the bucket, the role, `firehose/` and `errors/`, the buffering, no compression, CloudWatch logging to the route's log group and stream |
//!
//! Each failing line names the parameter, the value the lab expects and the
//! value found. A resource fails on its first wrong parameter: the one to
//! fix first, as the learner fixes a call and runs its cell again.

use std::fmt;

use serde::Serialize;

use super::{Failure, StepGrade};
use crate::lab_names::{
    BUFFER_SIZE_MB, DEFAULT_BUFFER_INTERVAL, DESTINATION_SHARDS, LabNames, RouteResources,
};

/// The placeholder the lab's notebook has where the account id goes.
pub const ACCOUNT_PLACEHOLDER: &str = "<AWS-ACCOUNT-ID>";

/// How the learner's code ran.
#[derive(Debug, Clone)]
pub enum Ran {
    /// A notebook: how many code cells ran, and the first that raised, with
    /// its number in the notebook (counting every cell from 1) and the
    /// error's last line.
    Notebook {
        cells: usize,
        raised: Option<(usize, String)>,
        /// Whether a code cell still holds [`ACCOUNT_PLACEHOLDER`].
        placeholder_left: bool,
    },
    /// A script (`--infra-command`): `Err` with its exit status and last line.
    Command(Result<(), String>),
}

/// A data stream found on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundStream {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub open_shards: i32,
}

/// A delivery stream found on the target, as DescribeDeliveryStream gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundDelivery {
    pub name: String,
    pub source_stream_arn: Option<String>,
    pub source_role_arn: Option<String>,
    pub bucket_arn: Option<String>,
    pub role_arn: Option<String>,
    pub prefix: Option<String>,
    pub error_output_prefix: Option<String>,
    /// `SizeInMBs`, `IntervalInSeconds`.
    pub buffering: Option<(i32, i32)>,
    pub compression: Option<String>,
    /// `Enabled`, `LogGroupName`, `LogStreamName`.
    pub logging: Option<(bool, Option<String>, Option<String>)>,
}

/// What the target holds after the notebook ran.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub buckets: Vec<String>,
    pub streams: Vec<FoundStream>,
    pub delivery_streams: Vec<FoundDelivery>,
}

/// Part 2.1's grade.
#[derive(Debug, Clone, Serialize)]
pub struct NotebookGrade {
    /// The target's account id, which the names hold.
    pub account: String,
    pub steps: Vec<StepGrade>,
    pub passed: bool,
}

/// Grades what the learner's code made against the lab's names in
/// `names`' account.
pub fn grade(names: &LabNames, ran: &Ran, found: &Found) -> NotebookGrade {
    let routes = names.routes();
    let placeholder_left = matches!(
        ran,
        Ran::Notebook {
            placeholder_left: true,
            ..
        }
    );
    let steps = vec![
        grade_run(ran),
        grade_buckets(names, &routes, placeholder_left, found),
        grade_streams(&routes, found),
        grade_delivery_streams(names, &routes, found),
    ];
    NotebookGrade {
        account: names.account().to_owned(),
        passed: steps.iter().all(|step| step.passed),
        steps,
    }
}

fn grade_run(ran: &Ran) -> StepGrade {
    match ran {
        Ran::Notebook { cells, raised, .. } => {
            let mut step = StepGrade::new("2.1", "your notebook runs, every code cell in order", "code cell");
            for _ in 0..cells.saturating_sub(usize::from(raised.is_some())) {
                step.record(Ok(()));
            }
            if let Some((cell, line)) = raised {
                step.record(Err(Failure::new(
                    format!("cell {cell}"),
                    "it runs without an error",
                    format!("it raised {line}"),
                )));
            }
            step
        }
        Ran::Command(ended) => {
            let mut step = StepGrade::new("2.1", "your command runs to its end", "command");
            step.record(
                ended
                    .clone()
                    .map_err(|failed| Failure::new("your command", "exit status 0", failed.clone())),
            );
            step
        }
    }
}

/// 2.1.2: each route's bucket, by its exact name.
fn grade_buckets(
    names: &LabNames,
    routes: &[RouteResources],
    placeholder_left: bool,
    found: &Found,
) -> StepGrade {
    let mut step = StepGrade::new("2.1.2", "both buckets, named with your account id", "bucket");
    let account = names.account();
    for route in routes {
        if found.buckets.contains(&route.bucket) {
            step.record(Ok(()));
            continue;
        }
        let expected = format!(
            "bucket \"{}\" (ACCOUNT_ID = \"{account}\", this target's account id)",
            route.bucket
        );
        let found = match placeholder_left {
            true => format!("none: ACCOUNT_ID is still the placeholder \"{ACCOUNT_PLACEHOLDER}\""),
            false => match look_alike(&found.buckets, routes, route) {
                Some(other) => format!("bucket \"{other}\""),
                None => "no such bucket".to_owned(),
            },
        };
        step.record(Err(Failure::new(
            format!("the {} bucket", route.route),
            expected,
            found,
        )));
    }
    step
}

/// A bucket that looks like the route's, with another account id or ending:
/// what the learner most likely meant.
fn look_alike<'a>(
    buckets: &'a [String],
    routes: &[RouteResources],
    route: &RouteResources,
) -> Option<&'a String> {
    let ending = match route.route {
        crate::routing::Route::Usa => "usa",
        crate::routing::Route::International => "int",
    };
    buckets.iter().find(|bucket| {
        bucket.starts_with("de-c2w2lab1-")
            && !routes.iter().any(|r| &r.bucket == *bucket)
            && bucket
                .rsplit('-')
                .next()
                .is_some_and(|last| last.starts_with(ending))
    })
}

/// 2.1.4: each route's stream, with 2 open shards, ACTIVE.
fn grade_streams(routes: &[RouteResources], found: &Found) -> StepGrade {
    let mut step = StepGrade::new("2.1.4", "both data streams, 2 shards each, ACTIVE", "stream");
    for route in routes {
        let subject = format!("stream {}", route.stream);
        let result = match found.streams.iter().find(|s| s.name == route.stream.as_str()) {
            None => Err(Failure::new(
                subject,
                format!(
                    "a stream named \"{}\" with ShardCount {DESTINATION_SHARDS}",
                    route.stream
                ),
                "no such stream",
            )),
            Some(stream) if stream.open_shards != DESTINATION_SHARDS => Err(Failure::new(
                subject,
                format!("ShardCount {DESTINATION_SHARDS}"),
                format!("ShardCount {}", stream.open_shards),
            )),
            Some(stream) if stream.status != "ACTIVE" => Err(Failure::new(
                subject,
                "StreamStatus ACTIVE",
                format!("StreamStatus {}", stream.status),
            )),
            Some(_) => Ok(()),
        };
        step.record(result);
    }
    step
}

/// 2.1.5: each route's delivery stream, parameter by parameter.
fn grade_delivery_streams(names: &LabNames, routes: &[RouteResources], found: &Found) -> StepGrade {
    let mut step = StepGrade::new(
        "2.1.5",
        "both delivery streams: source, bucket, role, prefixes, buffering, logging",
        "delivery stream",
    );
    // What each ARN stands for, so that a swapped one says which it is.
    let mut known: Vec<(String, String)> = Vec::new();
    let stream_arn = |route: &RouteResources| {
        found
            .streams
            .iter()
            .find(|s| s.name == route.stream.as_str())
            .map_or_else(
                || {
                    format!(
                        "arn:aws:kinesis:us-east-1:{}:stream/{}",
                        names.account(),
                        route.stream
                    )
                },
                |s| s.arn.clone(),
            )
    };
    for route in routes {
        known.push((stream_arn(route), format!("the {} stream", route.route)));
        known.push((bucket_arn(route), format!("the {} bucket", route.route)));
    }
    let shown = |value: &Option<String>| match value {
        None => "none".to_owned(),
        Some(value) => match known.iter().find(|(arn, _)| arn == value) {
            Some((_, what)) => format!("{value} ({what})"),
            None => value.clone(),
        },
    };
    let role = names.role_arn();
    for route in routes {
        let subject = format!("delivery stream {}", route.firehose);
        let Some(delivery) = found.delivery_streams.iter().find(|d| d.name == route.firehose) else {
            step.record(Err(Failure::new(
                subject,
                format!(
                    "a delivery stream named \"{}\", from {} to bucket {}",
                    route.firehose, route.stream, route.bucket
                ),
                "no such delivery stream",
            )));
            continue;
        };
        let want_stream = Some(stream_arn(route));
        let want_bucket = Some(bucket_arn(route));
        let want_role = Some(role.clone());
        let buffering = |hints: Option<(i32, i32)>| match hints {
            Some((size, interval)) => format!("{{SizeInMBs: {size}, IntervalInSeconds: {interval}}}"),
            None => "none".to_owned(),
        };
        let logging = |options: &Option<(bool, Option<String>, Option<String>)>| match options {
            Some((enabled, group, stream)) => format!(
                "{{Enabled: {enabled}, LogGroupName: {}, LogStreamName: {}}}",
                group.as_deref().unwrap_or("none"),
                stream.as_deref().unwrap_or("none")
            ),
            None => "none".to_owned(),
        };
        let want_logging = Some((
            true,
            Some(route.log_group.clone()),
            Some(route.log_stream.clone()),
        ));
        let want_buffering = Some((BUFFER_SIZE_MB, DEFAULT_BUFFER_INTERVAL));
        // Each parameter as the lab's create_delivery_stream call names it.
        let parameters: [(&str, bool, String, String); 9] = [
            (
                "KinesisStreamSourceConfiguration.KinesisStreamARN",
                delivery.source_stream_arn == want_stream,
                shown(&want_stream),
                shown(&delivery.source_stream_arn),
            ),
            (
                "KinesisStreamSourceConfiguration.RoleARN",
                delivery.source_role_arn == want_role,
                role.clone(),
                shown(&delivery.source_role_arn),
            ),
            (
                "S3DestinationConfiguration.BucketARN",
                delivery.bucket_arn == want_bucket,
                shown(&want_bucket),
                shown(&delivery.bucket_arn),
            ),
            (
                "S3DestinationConfiguration.RoleARN",
                delivery.role_arn == want_role,
                role.clone(),
                shown(&delivery.role_arn),
            ),
            (
                "Prefix",
                delivery.prefix.as_deref() == Some("firehose/"),
                "firehose/".to_owned(),
                shown(&delivery.prefix),
            ),
            (
                "ErrorOutputPrefix",
                delivery.error_output_prefix.as_deref() == Some("errors/"),
                "errors/".to_owned(),
                shown(&delivery.error_output_prefix),
            ),
            (
                "BufferingHints",
                delivery.buffering == want_buffering,
                buffering(want_buffering),
                buffering(delivery.buffering),
            ),
            (
                "CompressionFormat",
                delivery.compression.as_deref() == Some("UNCOMPRESSED"),
                "UNCOMPRESSED".to_owned(),
                shown(&delivery.compression),
            ),
            (
                "CloudWatchLoggingOptions",
                delivery.logging == want_logging,
                logging(&want_logging),
                logging(&delivery.logging),
            ),
        ];
        let wrong = parameters.into_iter().find(|(_, right, _, _)| !right);
        step.record(match wrong {
            None => Ok(()),
            Some((parameter, _, expected, found)) => Err(Failure::new(
                subject,
                format!("{parameter} {expected}"),
                format!("{parameter} {found}"),
            )),
        });
    }
    step
}

fn bucket_arn(route: &RouteResources) -> String {
    format!("arn:aws:s3:::{}", route.bucket)
}

impl fmt::Display for NotebookGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "What your notebook made, as found on the target (account {}):",
            self.account
        )?;
        for step in &self.steps {
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "000000000000";

    fn names() -> LabNames {
        LabNames::new(ACCOUNT)
    }

    fn ran() -> Ran {
        Ran::Notebook {
            cells: 9,
            raised: None,
            placeholder_left: false,
        }
    }

    /// What the lab's notebook makes, done right.
    fn right() -> Found {
        let mut found = Found::default();
        for route in names().routes() {
            found.buckets.push(route.bucket.clone());
            let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{}", route.stream);
            found.streams.push(FoundStream {
                name: route.stream.to_string(),
                arn: arn.clone(),
                status: "ACTIVE".into(),
                open_shards: 2,
            });
            found.delivery_streams.push(FoundDelivery {
                name: route.firehose.clone(),
                source_stream_arn: Some(arn),
                source_role_arn: Some(names().role_arn()),
                bucket_arn: Some(format!("arn:aws:s3:::{}", route.bucket)),
                role_arn: Some(names().role_arn()),
                prefix: Some("firehose/".into()),
                error_output_prefix: Some("errors/".into()),
                buffering: Some((1, 60)),
                compression: Some("UNCOMPRESSED".into()),
                logging: Some((
                    true,
                    Some(route.log_group.clone()),
                    Some(route.log_stream.clone()),
                )),
            });
        }
        found
    }

    fn failed(grade: &NotebookGrade) -> Vec<&'static str> {
        super::super::failed_steps(&grade.steps)
    }

    fn first_failure(grade: &NotebookGrade, step: &str) -> Failure {
        let step = grade.steps.iter().find(|s| s.step == step).unwrap();
        step.first_failure.clone().unwrap()
    }

    #[test]
    fn the_labs_resources_pass_every_step() {
        let graded = grade(&names(), &ran(), &right());
        assert!(graded.passed, "{graded}");
        let checked: Vec<usize> = graded.steps.iter().map(|s| s.checked).collect();
        assert_eq!(checked, [9, 2, 2, 2]);
    }

    #[test]
    fn a_stream_of_3_shards_fails_2_1_4_naming_the_shard_count() {
        let mut found = right();
        found.streams[1].open_shards = 3;
        let graded = grade(&names(), &ran(), &found);
        assert_eq!(failed(&graded), ["2.1.4"], "{graded}");
        let failure = first_failure(&graded, "2.1.4");
        assert_eq!(failure.subject, "stream de-c2w2lab1-international-data-stream");
        assert_eq!(
            (failure.expected.as_str(), failure.found.as_str()),
            ("ShardCount 2", "ShardCount 3")
        );
    }

    #[test]
    fn swapped_streams_fail_2_1_5_saying_which_stream_was_found() {
        let mut found = right();
        let usa = found.delivery_streams[0].source_stream_arn.take();
        found.delivery_streams[0].source_stream_arn = found.delivery_streams[1].source_stream_arn.take();
        found.delivery_streams[1].source_stream_arn = usa;
        let graded = grade(&names(), &ran(), &found);
        assert_eq!(failed(&graded), ["2.1.5"], "{graded}");
        assert_eq!(graded.steps[3].failed, 2);
        let failure = first_failure(&graded, "2.1.5");
        assert_eq!(failure.subject, "delivery stream de-c2w2lab1-firehose-usa");
        assert_eq!(
            failure.expected,
            format!(
                "KinesisStreamSourceConfiguration.KinesisStreamARN \
                 arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/de-c2w2lab1-usa-data-stream (the USA stream)"
            )
        );
        assert!(
            failure
                .found
                .ends_with("de-c2w2lab1-international-data-stream (the International stream)")
        );
    }

    #[test]
    fn each_wrong_parameter_of_a_delivery_stream_is_named() {
        type Change = fn(&mut FoundDelivery);
        let cases: [(Change, &str, &str); 5] = [
            (
                |d| d.prefix = Some("usa/".into()),
                "Prefix firehose/",
                "Prefix usa/",
            ),
            (
                |d| d.error_output_prefix = None,
                "ErrorOutputPrefix errors/",
                "ErrorOutputPrefix none",
            ),
            (
                |d| d.buffering = Some((5, 300)),
                "BufferingHints {SizeInMBs: 1, IntervalInSeconds: 60}",
                "BufferingHints {SizeInMBs: 5, IntervalInSeconds: 300}",
            ),
            (
                |d| d.compression = Some("GZIP".into()),
                "CompressionFormat UNCOMPRESSED",
                "CompressionFormat GZIP",
            ),
            (
                |d| d.logging = Some((true, Some("de-c2w2lab1-firehose-usa-log-group".into()), None)),
                "CloudWatchLoggingOptions {Enabled: true, LogGroupName: de-c2w2lab1-firehose-usa-log-group, \
                 LogStreamName: de-c2w2lab1-usa-firehose-log-stream}",
                "CloudWatchLoggingOptions {Enabled: true, LogGroupName: de-c2w2lab1-firehose-usa-log-group, \
                 LogStreamName: none}",
            ),
        ];
        for (change, expected, found_text) in cases {
            let mut found = right();
            change(&mut found.delivery_streams[0]);
            let graded = grade(&names(), &ran(), &found);
            assert_eq!(failed(&graded), ["2.1.5"], "{graded}");
            let failure = first_failure(&graded, "2.1.5");
            assert_eq!(
                (failure.expected.as_str(), failure.found.as_str()),
                (expected, found_text)
            );
        }
    }

    #[test]
    fn a_missing_delivery_stream_fails_2_1_5() {
        let mut found = right();
        found.delivery_streams.pop();
        let graded = grade(&names(), &ran(), &found);
        assert_eq!(failed(&graded), ["2.1.5"]);
        let failure = first_failure(&graded, "2.1.5");
        assert_eq!(
            failure.subject,
            "delivery stream de-c2w2lab1-firehose-international"
        );
        assert_eq!(failure.found, "no such delivery stream");
    }

    #[test]
    fn the_placeholder_account_id_fails_2_1_2_saying_which_id_to_use() {
        let mut found = right();
        found.buckets.clear();
        let placeholder = Ran::Notebook {
            cells: 9,
            raised: None,
            placeholder_left: true,
        };
        let graded = grade(&names(), &placeholder, &found);
        assert_eq!(failed(&graded), ["2.1.2"]);
        let failure = first_failure(&graded, "2.1.2");
        assert_eq!(failure.subject, "the USA bucket");
        assert_eq!(
            failure.expected,
            "bucket \"de-c2w2lab1-000000000000-usa\" (ACCOUNT_ID = \"000000000000\", this target's account id)"
        );
        assert_eq!(
            failure.found,
            "none: ACCOUNT_ID is still the placeholder \"<AWS-ACCOUNT-ID>\""
        );

        // Another account's id: the bucket made is named.
        let mut found = right();
        found.buckets[1] = "de-c2w2lab1-123456789012-int".into();
        let graded = grade(&names(), &ran(), &found);
        assert_eq!(
            first_failure(&graded, "2.1.2").found,
            "bucket \"de-c2w2lab1-123456789012-int\""
        );
    }

    #[test]
    fn a_cell_that_raises_is_named_with_its_errors_last_line() {
        let raised = Ran::Notebook {
            cells: 9,
            raised: Some((14, "NameError: name 'USA_BUCKET' is not defined".into())),
            placeholder_left: false,
        };
        let graded = grade(&names(), &raised, &right());
        assert_eq!(failed(&graded), ["2.1"]);
        let table = graded.to_string();
        assert!(
            table.contains(
                "  FAIL  2.1      your notebook runs, every code cell in order (1 of 9 code cells fail)\n\
                 \x20         first: cell 14\n\
                 \x20           expected it runs without an error\n\
                 \x20           found    it raised NameError: name 'USA_BUCKET' is not defined\n"
            ),
            "{table}"
        );
    }
}
