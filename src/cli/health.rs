//! `kinesis-lab health`: whether an emulator answers. A container's health
//! check runs it with no shell, and a script or a CI step that started an
//! emulator waits for it with `--wait`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::Output;
use kinesis_lab::target::EMULATOR_URL;

/// Check that a kinesis-lab emulator answers: exit 0 when it does, 1 when not
///
/// Asks GET /_kinesis_lab/health at http://127.0.0.1:4566, or at
/// --endpoint-url (or AWS_ENDPOINT_URL). With --wait, asks again every 100 ms
/// until it answers or the time is up, the way a script waits for an emulator
/// it started:
///
///   kinesis-lab emulator --port 4599 &
///   kinesis-lab health --endpoint-url http://127.0.0.1:4599 --wait 30s
///
/// A container's health check needs no shell for it:
///
///   HEALTHCHECK CMD ["/kinesis-lab", "health"]
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The emulator to ask [default: http://127.0.0.1:4566].
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Ask again until it answers, for up to this long.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub wait: Duration,

    /// text for people, json for one JSON object: {"healthy", "endpoint", ...}.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// What one question found.
enum Answer {
    /// The emulator's own health document.
    Healthy(Value),
    /// Something answered, but not as a kinesis-lab emulator does.
    Stranger(String),
    /// Nothing answered.
    Silent(String),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = args.endpoint_url.unwrap_or_else(|| EMULATOR_URL.to_owned());
    let url = url.trim_end_matches('/').to_owned();
    let health: hyper::Uri = format!("{url}{}", emulator::HEALTH_PATH)
        .parse()
        .map_err(|_| anyhow::anyhow!("{url:?} is not a URL: give it as http://HOST:PORT"))?;
    anyhow::ensure!(
        health.scheme_str() == Some("http"),
        "{url:?} is not an http:// URL: the emulator speaks plain HTTP"
    );
    let answer = super::runtime()?.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let deadline = Instant::now() + args.wait;
        loop {
            let answer = ask(&client, &health).await;
            if matches!(answer, Answer::Healthy(_)) || Instant::now() >= deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (healthy, said) = match &answer {
        Answer::Healthy(document) => (
            true,
            format!(
                "kinesis-lab emulator {} answers at {url}",
                document["version"].as_str().unwrap_or("?")
            ),
        ),
        Answer::Stranger(what) => (
            false,
            format!("{url} answers, but not as a kinesis-lab emulator: {what}"),
        ),
        Answer::Silent(why) => (
            false,
            format!("nothing answers at {url}: {why}\nStart one with `kinesis-lab emulator`."),
        ),
    };
    match args.output {
        Output::Json => {
            let document = match answer {
                Answer::Healthy(document) => document,
                _ => Value::Null,
            };
            println!(
                "{}",
                json!({"healthy": healthy, "endpoint": url, "emulator": document, "message": said})
            );
        }
        Output::Text if healthy => println!("{said}"),
        Output::Text => eprintln!("kinesis-lab: {said}"),
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn ask(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    health: &hyper::Uri,
) -> Answer {
    let response = match tokio::time::timeout(Duration::from_secs(2), client.get(health.clone())).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return Answer::Silent(connect_error(&err)),
        Err(_) => return Answer::Silent("no answer within 2 s".to_owned()),
    };
    let status = response.status();
    let body = match tokio::time::timeout(Duration::from_secs(2), response.into_body().collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        _ => return Answer::Stranger(format!("HTTP {status}, and no body")),
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(document) if status.is_success() && document["emulator"] == "kinesis-lab" => {
            Answer::Healthy(document)
        }
        _ => Answer::Stranger(format!("HTTP {status} to GET {}", emulator::HEALTH_PATH)),
    }
}

/// The root cause of a failed request (connection refused, say), not the
/// client's wrapping of it.
fn connect_error(err: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
