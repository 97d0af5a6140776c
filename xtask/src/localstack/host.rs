//! `cargo xtask localstack up --host`: LocalStack 4.14.0 on this machine, with
//! no Docker, for the engineer without it and for `.ci/run`.
//!
//! LocalStack's gateway listens on 127.0.0.1:4566 as asked, but the servers it
//! starts behind it (kinesis-mock for Kinesis, DynamoDB Local for Firehose's
//! lease table) listen on every interface, on random ports. So a supervisor
//! process runs LocalStack in a private network namespace, where "every
//! interface" is a loopback nobody else can reach, and carries connections
//! from this machine's 127.0.0.1:4566 to the gateway in there:
//!
//! ```text
//! client ──> 127.0.0.1:4566 ──supervisor──> [namespace] 127.0.0.1:4566 LocalStack ──> kinesis-mock, DynamoDB Local
//! ```
//!
//! The supervisor opens its listening socket first and only then moves itself
//! into a new network namespace: a socket stays in the namespace it was made
//! in, so the listener keeps answering this machine while every socket made
//! after the move, and every process started after it, lives in the private
//! one. It stops LocalStack, and every process left in its namespace, when it
//! is told to stop (`down`) or when LocalStack exits.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal};
use xshell::{Shell, cmd};

use super::dirs::Dirs;
use super::install::{self, LOCALSTACK_VERSION};
use super::{ADDRESS, wait_until_it_answers};

/// How the supervisor keeps LocalStack's servers off the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// A private network namespace (the default; needs root or user namespaces).
    Namespace,
    /// None: LocalStack's servers listen on every interface of this machine.
    Exposed,
}

pub fn up(sh: &Shell, services: &str, allow_exposed: bool, timeout: Duration) -> anyhow::Result<()> {
    let dirs = Dirs::new(&sh.current_dir());
    if let Some(pid) = running_supervisor(&dirs) {
        println!("LocalStack (host mode) is already running, supervisor pid {pid}");
        return wait_until_it_answers(timeout, || Ok(()), &format!("its log: {}", dirs.log().display()));
    }
    if std::net::TcpStream::connect(ADDRESS).is_ok() {
        bail!("something already listens on {ADDRESS} (the emulator, or another LocalStack); stop it first");
    }
    // Decided before installing: a refusal should not cost a minute of downloads.
    let isolation = isolation(private_namespace_works(sh), allow_exposed)?;
    std::fs::create_dir_all(dirs.root())?;
    install::install(sh, &dirs)?;

    let log = File::create(dirs.log())?;
    let supervisor = std::process::Command::new(std::env::current_exe()?)
        .args(["localstack", "supervise", "--services", services, "--isolation"])
        .arg(match isolation {
            Isolation::Namespace => "namespace",
            Isolation::Exposed => "exposed",
        })
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group, so that Ctrl+C in this terminal later does not
        // reach it: it lives until `down`.
        .process_group(0)
        .spawn()
        .context("cannot start the LocalStack supervisor")?;
    let pid = supervisor.id();
    std::fs::write(dirs.pid_file(), pid.to_string())?;
    println!(
        "starting LocalStack {LOCALSTACK_VERSION} without Docker on {ADDRESS} (services {services}; {}); \
         log: {}",
        match isolation {
            Isolation::Namespace => "its servers in a private network namespace",
            Isolation::Exposed => "its servers exposed",
        },
        dirs.log().display()
    );
    let log_path = dirs.log();
    let still_running = || {
        if process_is_alive(pid) {
            Ok(())
        } else {
            bail!(
                "LocalStack stopped while starting. The end of its log:\n{}",
                tail(&log_path, 30)
            )
        }
    };
    if let Err(err) = wait_until_it_answers(
        timeout,
        still_running,
        &format!("its log: {}", log_path.display()),
    ) {
        let _ = stop(&dirs);
        return Err(err);
    }
    println!("LocalStack answers at http://{ADDRESS}; `cargo xtask localstack down` stops it");
    Ok(())
}

/// A private namespace when one can be made; otherwise LocalStack's servers
/// are exposed only when the user said so.
fn isolation(namespace: anyhow::Result<()>, allow_exposed: bool) -> anyhow::Result<Isolation> {
    match namespace {
        Ok(()) => Ok(Isolation::Namespace),
        Err(why) if allow_exposed => {
            eprintln!(
                "warning: no private network namespace ({why}).\n\
                 LocalStack's kinesis-mock and DynamoDB Local will listen on every interface of this \
                 machine, on random ports, with no authentication: anyone who can reach this machine \
                 can read and write its streams and tables while it runs."
            );
            Ok(Isolation::Exposed)
        }
        Err(why) => bail!(
            "cannot make a private network namespace for LocalStack ({why}).\n\
             LocalStack's kinesis-mock and DynamoDB Local listen on every interface, on random ports, \
             with no authentication; in a namespace only LocalStack can reach them. Run this as root \
             (or where `unshare --net` works), or pass --expose-child-servers to run LocalStack \
             anyway, reachable by anyone who can reach this machine."
        ),
    }
}

/// Whether a process here can make a network namespace and bring its loopback
/// up, which is all the supervisor will do.
fn private_namespace_works(sh: &Shell) -> anyhow::Result<()> {
    let probe = cmd!(sh, "unshare --net -- ip link set lo up")
        .quiet()
        .ignore_status()
        .output()
        .context("`unshare` (util-linux) or `ip` (iproute2) is not installed")?;
    if !probe.status.success() {
        bail!(
            "`unshare --net` failed: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        );
    }
    Ok(())
}

/// `down` for host mode; `false` when host mode was not running.
pub fn down(sh: &Shell) -> anyhow::Result<bool> {
    let dirs = Dirs::new(&sh.current_dir());
    if !dirs.pid_file().exists() {
        return Ok(false);
    }
    stop(&dirs)?;
    println!(
        "stopped LocalStack (host mode); its files stay in {}",
        dirs.root().display()
    );
    Ok(true)
}

fn stop(dirs: &Dirs) -> anyhow::Result<()> {
    if let Some(pid) = running_supervisor(dirs) {
        // The supervisor stops LocalStack and everything in its namespace.
        signal(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE + Duration::from_secs(5);
        while process_is_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process_is_alive(pid) {
            signal(pid, Signal::KILL);
        }
    }
    std::fs::remove_file(dirs.pid_file()).or_else(|err| match err.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(err),
    })?;
    Ok(())
}

fn running_supervisor(dirs: &Dirs) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dirs.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // A pid file outliving a reboot may name someone else's process.
    let command = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
    command.contains("supervise").then_some(pid)
}

fn process_is_alive(pid: u32) -> bool {
    // A zombie has exited: only its parent has not read its status yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return format!("({} cannot be read)", path.display());
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// How long LocalStack gets to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The supervisor: `cargo xtask localstack supervise`, started by `up --host`.
pub fn supervise(project_root: &Path, services: &str, isolation: Isolation) -> anyhow::Result<()> {
    let dirs = Dirs::new(project_root);
    let this_machines_namespace = std::fs::read_link("/proc/self/ns/net")?;
    // Made before the move, so it stays on this machine's loopback.
    let listener =
        std::net::TcpListener::bind(ADDRESS).with_context(|| format!("cannot listen on {ADDRESS}"))?;
    if isolation == Isolation::Namespace {
        // SAFETY: NEWNET only moves this (still single-threaded) process's network
        // view; it shares no file descriptor table, which is what makes unshare unsafe.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
            .context("cannot make a private network namespace")?;
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()?;
        if !up.success() {
            bail!("`ip link set lo up` failed in the new namespace");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut localstack = localstack_command(&dirs, services)
            .process_group(0)
            .spawn()
            .context("cannot start LocalStack")?;
        let group = localstack.id().and_then(|pid| Pid::from_raw(pid as i32));
        println!("supervisor: LocalStack started, pid {:?}", localstack.id());

        let forwarding = async {
            match isolation {
                Isolation::Namespace => forward(listener).await,
                // Without a namespace LocalStack itself listens on ADDRESS.
                Isolation::Exposed => {
                    drop(listener);
                    std::future::pending().await
                }
            }
        };
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let outcome = tokio::select! {
            status = localstack.wait() => Err(anyhow::anyhow!("LocalStack exited by itself: {}", status?)),
            _ = terminate.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
            err = forwarding => err,
        };
        println!("supervisor: stopping LocalStack");
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, Signal::TERM);
        }
        if tokio::time::timeout(STOP_GRACE, localstack.wait()).await.is_err() {
            println!(
                "supervisor: LocalStack did not stop within {} s; killing it",
                STOP_GRACE.as_secs()
            );
        }
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        if isolation == Isolation::Namespace {
            kill_the_rest_of_the_namespace(&this_machines_namespace);
        }
        println!("supervisor: stopped");
        outcome
    })
}

/// Carries every connection made to this machine's 127.0.0.1:4566 to
/// LocalStack's gateway at 127.0.0.1:4566 inside the namespace.
async fn forward(listener: std::net::TcpListener) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (mut outside, _) = listener.accept().await?;
        tokio::spawn(async move {
            // This task's socket is made after the move: it is in the namespace.
            let Ok(mut inside) = tokio::net::TcpStream::connect(ADDRESS).await else {
                return; // LocalStack not up yet: the client sees a closed connection.
            };
            let _ = outside.set_nodelay(true);
            let _ = inside.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
        });
    }
}

/// LocalStack's own entry point, with what it needs to run outside its image.
fn localstack_command(dirs: &Dirs, services: &str) -> tokio::process::Command {
    let venv_bin = dirs.venv().join("bin");
    let tmp = dirs.root().join("tmp");
    let _ = std::fs::create_dir_all(&tmp);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![venv_bin.clone()];
    paths.extend(std::env::split_paths(&path));
    let mut command = tokio::process::Command::new(venv_bin.join("python"));
    command
        .args(["-m", "localstack.runtime.main"])
        .env("SERVICES", services)
        // This machine looks like a container to LocalStack, which would then use
        // /var/lib/localstack and friends; everything stays under target/ instead.
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("FILESYSTEM_ROOT", dirs.filesystem_root())
        .env("GATEWAY_LISTEN", ADDRESS)
        .env("LOCALSTACK_HOST", ADDRESS)
        // Nothing to phone home to, and no certificate to download.
        .env("DISABLE_EVENTS", "1")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        // The KCL starts its record processor as `#!/usr/bin/env python`, which
        // must be the venv's, and drops files in TMPDIR.
        .env(
            "PATH",
            std::env::join_paths(paths).expect("PATH entries have no ':'"),
        )
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Every process still in this namespace is one LocalStack started (the
/// namespace is private to it): none may outlive `down`.
fn kill_the_rest_of_the_namespace(this_machines: &Path) {
    let Ok(mine) = std::fs::read_link("/proc/self/ns/net") else {
        return;
    };
    if mine == this_machines {
        return; // never the machine's own processes, whatever went wrong
    }
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != me && std::fs::read_link(entry.path().join("ns/net")).is_ok_and(|ns| ns == mine) {
            signal(pid, Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_namespace_localstack_runs_only_when_the_user_accepts_the_exposure() {
        let no = || Err(anyhow::anyhow!("unshare: Operation not permitted"));

        let refused = isolation(no(), false).unwrap_err().to_string();
        assert!(refused.contains("unshare: Operation not permitted"), "{refused}");
        assert!(refused.contains("listen on every interface"), "{refused}");
        assert!(refused.contains("--expose-child-servers"), "{refused}");

        assert_eq!(isolation(no(), true).unwrap(), Isolation::Exposed);
        assert_eq!(isolation(Ok(()), false).unwrap(), Isolation::Namespace);
        assert_eq!(isolation(Ok(()), true).unwrap(), Isolation::Namespace);
    }
}
