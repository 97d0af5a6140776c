//! Part 2.1 with the learner's own notebook, graded: `kinesis-lab lab part2
//! --notebook FILE.ipynb` (or `--infra-command CMD`, for a script).
//!
//! In the lab, part 2 starts in a notebook whose cells make the resources:
//! the learner fills in the arguments of the notebook's helper functions
//! (steps 2.1.1 to 2.1.5) and runs each cell. Here every code cell runs in
//! order, in a Jupyter kernel of the Python the learner names (`--python`),
//! through nbclient (`run_notebook.py`, part of the binary); its environment
//! points boto3 at the target, as the learner's programs' does. Then what
//! the target holds is graded ([`crate::grade::notebook`]): the buckets,
//! streams and delivery streams, parameter by parameter.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::learner::{learner_env, run};
use super::supervise::run_to_end;
use super::{LabError, Walkthrough, narrate::shown, say};
use crate::aws_error::{AwsError, is};
use crate::grade::failed_steps;
use crate::grade::notebook::{
    self as grade_notebook, ACCOUNT_PLACEHOLDER, Found, FoundDelivery, FoundStream, Ran,
};
use crate::lab_names::LabNames;
use crate::target::Clients;

use aws_sdk_firehose::operation::describe_delivery_stream::DescribeDeliveryStreamError;
use aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError;

/// The script that runs a notebook in a kernel, written to the work
/// directory before each run.
const RUNNER: &str = include_str!("run_notebook.py");

/// How long one cell may run: the lab's cells return within seconds, but a
/// learner's may wait for a stream to be ACTIVE.
const CELL_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a stream the notebook made gets to be ACTIVE before it is
/// graded: the learner re-runs `is_stream_ready` until it is.
const ACTIVE_WITHIN: Duration = Duration::from_secs(60);

/// What makes the part 2 resources: a notebook, or a command.
#[derive(Debug, Clone)]
pub enum Infra {
    Notebook { path: PathBuf, python: String },
    Command(String),
}

/// Runs the learner's notebook (or command), then grades what it made;
/// whether every step passed.
pub fn part2_1(walk: &Walkthrough, infra: &Infra) -> Result<bool, LabError> {
    let started = Instant::now();
    let ran = match infra {
        Infra::Notebook { path, python } => {
            walk.step(
                "2.1",
                "Run your notebook",
                &format!(
                    "Every code cell in order, in a Jupyter kernel of {python}, with boto3 pointed at {}.",
                    walk.target()
                ),
            );
            run_notebook(walk, path, python)?
        }
        Infra::Command(command) => {
            walk.step(
                "2.1",
                "Run your command",
                &format!("It makes the part 2 resources on {}.", walk.target()),
            );
            Ran::Command(run(walk, command, &[])?)
        }
    };
    let ran_for = started.elapsed();

    walk.step(
        "grade",
        "Grade what your notebook made",
        "The buckets, the data streams and the delivery streams, parameter by parameter (steps 2.1.2 to 2.1.5).",
    );
    let (names, found) = walk.block_on(async {
        let clients = walk.target().connect().await?;
        let names = LabNames::new(&clients.account_id().await?);
        let found = observe(&clients, &names).await?;
        Ok::<_, LabError>((names, found))
    })?;
    let grade = grade_notebook::grade(&names, &ran, &found);
    walk.narration().text(&grade.to_string());
    if walk.json() {
        println!(
            "{}",
            json!({"part": "2.1", "grades": [&grade], "passed": grade.passed})
        );
    }
    match grade.passed {
        true => say!(
            walk,
            "\nPart 2.1 done: your notebook ran in {:.0} s and made every resource as the lab configures it.",
            ran_for.as_secs_f64()
        ),
        false => say!(
            walk,
            "\nPart 2.1 FAILED ({}): see the steps above.",
            failed_steps(&grade.steps).join(", ")
        ),
    }
    Ok(grade.passed)
}

/// Runs every code cell of the notebook at `path` with `python`'s kernel.
fn run_notebook(walk: &Walkthrough, path: &Path, python: &str) -> Result<Ran, LabError> {
    let source = std::fs::read_to_string(path).map_err(LabError::io(format!("read {}", path.display())))?;
    let placeholder_left = placeholder_left(&source);
    let runner = walk.work_dir().join("run_notebook.py");
    std::fs::write(&runner, RUNNER).map_err(LabError::io(format!("write {}", runner.display())))?;
    let notebook = path.to_string_lossy();
    let timeout = CELL_TIMEOUT.as_secs().to_string();
    say!(
        walk,
        "$ {python} {} {} {timeout}",
        runner.display(),
        shown(&[&notebook])
    );
    let mut command = Command::new(python);
    command
        .arg(&runner)
        .arg(path)
        .arg(&timeout)
        .envs(learner_env(walk));
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        command.current_dir(dir);
    }
    let output = run_to_end(command).map_err(LabError::io(format!("start \"{python}\"")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut result = None;
    for line in stdout.lines() {
        if let Some(module) = line.strip_prefix("kinesis-lab-missing ") {
            return Err(LabError::NoJupyter {
                python: python.to_owned(),
                module: module.to_owned(),
            });
        }
        match line.strip_prefix("kinesis-lab-result ") {
            Some(json) => result = serde_json::from_str::<Value>(json).ok(),
            None => say!(walk, "  notebook | {line}"),
        }
    }
    let Some(result) = result else {
        // The runner itself failed: a file that is not a notebook, say.
        let last = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default();
        return Err(LabError::Notebook {
            path: path.display().to_string(),
            why: format!("{} ({})", last.trim(), output.status),
        });
    };
    let raised = result["raised"].as_object().map(|raised| {
        (
            raised["cell"].as_u64().unwrap_or(0) as usize,
            raised["line"].as_str().unwrap_or_default().to_owned(),
        )
    });
    Ok(Ran::Notebook {
        cells: result["cells"].as_u64().unwrap_or(0) as usize,
        raised,
        placeholder_left,
    })
}

/// Whether a code cell of the notebook (its JSON text) still holds the
/// account id placeholder outside a comment.
fn placeholder_left(source: &str) -> bool {
    let Ok(notebook) = serde_json::from_str::<Value>(source) else {
        return false;
    };
    let cells = notebook["cells"].as_array().into_iter().flatten();
    cells
        .filter(|cell| cell["cell_type"] == "code")
        .flat_map(|cell| match &cell["source"] {
            Value::String(text) => text.lines().map(str::to_owned).collect::<Vec<_>>(),
            Value::Array(lines) => lines
                .iter()
                .filter_map(Value::as_str)
                .flat_map(str::lines)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        })
        .any(|line| {
            let code = line.split('#').next().unwrap_or_default();
            code.contains(ACCOUNT_PLACEHOLDER)
        })
}

/// The buckets, and the lab's streams and delivery streams as they are,
/// once the streams that exist are ACTIVE (or `ACTIVE_WITHIN` has passed).
async fn observe(clients: &Clients, names: &LabNames) -> Result<Found, LabError> {
    let buckets = clients
        .s3
        .list_buckets()
        .send()
        .await
        .map_err(|err| AwsError::failed("list buckets", &err))?
        .buckets()
        .iter()
        .filter_map(|bucket| bucket.name().map(str::to_owned))
        .collect();
    let deadline = Instant::now() + ACTIVE_WITHIN;
    let streams = loop {
        let mut streams = Vec::new();
        for route in names.routes() {
            streams.extend(describe_stream(clients, route.stream.as_str()).await?);
        }
        let settling = streams.iter().any(|s: &FoundStream| s.status != "ACTIVE");
        if !settling || Instant::now() >= deadline {
            break streams;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut delivery_streams = Vec::new();
    for route in names.routes() {
        delivery_streams.extend(describe_delivery_stream(clients, &route.firehose).await?);
    }
    Ok(Found {
        buckets,
        streams,
        delivery_streams,
    })
}

async fn describe_stream(clients: &Clients, name: &str) -> Result<Option<FoundStream>, LabError> {
    let described = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await;
    match described {
        Ok(output) => Ok(output.stream_description_summary().map(|summary| FoundStream {
            name: name.to_owned(),
            arn: summary.stream_arn().to_owned(),
            status: summary.stream_status().as_str().to_owned(),
            open_shards: summary.open_shard_count(),
        })),
        Err(err) if is(&err, DescribeStreamSummaryError::is_resource_not_found_exception) => Ok(None),
        Err(err) => Err(AwsError::failed(format_args!("describe stream {name}"), &err).into()),
    }
}

async fn describe_delivery_stream(clients: &Clients, name: &str) -> Result<Option<FoundDelivery>, LabError> {
    let described = clients
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await;
    let output = match described {
        Ok(output) => output,
        Err(err) if is(&err, DescribeDeliveryStreamError::is_resource_not_found_exception) => {
            return Ok(None);
        }
        Err(err) => return Err(AwsError::failed(format_args!("describe Firehose {name}"), &err).into()),
    };
    let Some(description) = output.delivery_stream_description() else {
        return Ok(None);
    };
    let mut found = FoundDelivery {
        name: name.to_owned(),
        ..FoundDelivery::default()
    };
    if let Some(source) = description
        .source()
        .and_then(|source| source.kinesis_stream_source_description())
    {
        found.source_stream_arn = source.kinesis_stream_arn().map(str::to_owned);
        found.source_role_arn = source.role_arn().map(str::to_owned);
    }
    // The lab's call sets S3DestinationConfiguration, which AWS describes
    // both as itself and in the extended form.
    if let Some(s3) = description
        .destinations()
        .first()
        .and_then(|destination| destination.s3_destination_description())
    {
        found.bucket_arn = Some(s3.bucket_arn().to_owned());
        found.role_arn = Some(s3.role_arn().to_owned());
        found.prefix = s3.prefix().map(str::to_owned);
        found.error_output_prefix = s3.error_output_prefix().map(str::to_owned);
        found.buffering = s3.buffering_hints().map(|hints| {
            (
                hints.size_in_mbs().unwrap_or(0),
                hints.interval_in_seconds().unwrap_or(0),
            )
        });
        found.compression = Some(s3.compression_format().as_str().to_owned());
        found.logging = s3.cloud_watch_logging_options().map(|options| {
            (
                options.enabled().unwrap_or(false),
                options.log_group_name().map(str::to_owned),
                options.log_stream_name().map(str::to_owned),
            )
        });
    }
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_counts_in_code_not_in_comments_or_text() {
        let notebook =
            |source: Value| json!({"cells": [{"cell_type": "code", "source": source}]}).to_string();
        assert!(placeholder_left(&notebook(json!([
            "ACCOUNT_ID = '<AWS-ACCOUNT-ID>'\n"
        ]))));
        assert!(!placeholder_left(&notebook(json!(
            "# replace <AWS-ACCOUNT-ID> with yours\nACCOUNT_ID = '123'"
        ))));
        let markdown = json!({"cells": [{"cell_type": "markdown", "source": "<AWS-ACCOUNT-ID>"}]});
        assert!(!placeholder_left(&markdown.to_string()));
    }
}
