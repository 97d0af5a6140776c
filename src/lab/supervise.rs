//! The programs that run beside the walkthrough, as in a second terminal: the
//! consumer of lab step 1.3, the ETL of step 2.2, or a learner's own.
//!
//! Each is started in the background with its output piped. Every line it
//! writes is shown in the transcript with its name in front (`  etl | ...`),
//! through a renderer that may reword or hold back a line (the ETL's status
//! events, see [`super::etl_lines`]), and is kept as written, for the steps
//! that read it and for the last lines shown when something fails. It is
//! stopped as a person stops it: Ctrl+C, then a kill if it has not ended
//! within a grace period.
//!
//! Each runs in a process group of its own, and every signal goes to the
//! whole group: a learner's program is often a wrapper (`sh -c`, `uv run`,
//! a shell script) around the process that does the work, and a signal to
//! the wrapper alone left that one running, writing to the streams after the
//! grade. A group of its own is also out of reach of the terminal's Ctrl+C,
//! so the harness passes that on itself (`watch_interrupts`), as a terminal
//! would have.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::narrate::Narration;

/// Turns a line a program wrote into what the transcript shows: the line
/// reworded, or `None` to show nothing for it.
pub type Render = Box<dyn FnMut(&str) -> Option<String> + Send>;

/// A program running beside the walkthrough.
pub struct Background {
    name: &'static str,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
    /// Whether `stop` has seen the whole group end.
    stopped: bool,
}

/// How a program ended, and everything it wrote.
#[derive(Debug, Clone)]
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// Starts `command` in the background as `name`; standard output's lines go
/// through `render` (standard error's are shown as they are).
pub fn spawn(
    name: &'static str,
    mut command: Command,
    narration: Narration,
    render: Option<Render>,
) -> std::io::Result<Background> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    register(child.id());
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let mut render = render.unwrap_or_else(|| Box::new(|line: &str| Some(line.to_owned())));
    let threads = vec![
        {
            let kept = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(shown) = render(&line) {
                        narration.line(format_args!("  {name} | {shown}"));
                    }
                    kept.lock().expect("lock").push(line);
                }
            })
        },
        {
            let kept = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    // Standard error stays standard error, as in a terminal.
                    Narration::Stderr.line(format_args!("  {name} | {line}"));
                    kept.lock().expect("lock").push(line);
                }
            })
        },
    ];
    Ok(Background {
        name,
        child,
        stdout,
        stderr,
        threads,
        stopped: false,
    })
}

/// Runs `command` to its end in a process group of its own, its output
/// piped; anything it left running in its group is killed when it ends.
pub fn run_to_end(mut command: Command) -> std::io::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = child.id();
    register(group);
    let output = child.wait_with_output();
    signal_group(group, Signal::KILL);
    unregister(group);
    output
}

/// The process groups of the programs running now, for `watch_interrupts`.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn register(group: u32) {
    GROUPS.lock().expect("lock").push(group);
    watch_interrupts();
}

fn unregister(group: u32) {
    GROUPS.lock().expect("lock").retain(|&g| g != group);
}

/// Passes a Ctrl+C (or a SIGTERM) the harness gets on to every program it
/// runs, as a Ctrl+C in a terminal reaches its whole foreground group, then
/// ends the harness as the signal would have (130 or 143). Without it, the
/// programs in their own groups would outlive the harness.
fn watch_interrupts() {
    static WATCHING: Once = Once::new();
    WATCHING.call_once(|| {
        use tokio::signal::unix::{SignalKind, signal};
        let watching = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .and_then(|runtime| {
                let (interrupt, terminate) = runtime.block_on(async {
                    Ok::<_, std::io::Error>((
                        signal(SignalKind::interrupt())?,
                        signal(SignalKind::terminate())?,
                    ))
                })?;
                Ok((runtime, interrupt, terminate))
            });
        // Where no handler can be set, the signals keep their default: the
        // harness ends and its programs run on, as before.
        let Ok((runtime, mut interrupt, mut terminate)) = watching else {
            return;
        };
        std::thread::spawn(move || {
            let code = runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => 130,
                    _ = terminate.recv() => 143,
                }
            });
            for &group in GROUPS.lock().expect("lock").iter() {
                signal_group(group, Signal::INT);
            }
            std::process::exit(code);
        });
    });
}

/// `signal` to every process of process group `group`.
fn signal_group(group: u32, signal: Signal) {
    if let Some(group) = Pid::from_raw(group as i32) {
        let _ = rustix::process::kill_process_group(group, signal);
    }
}

/// Whether a process of group `group` is left (one that has ended but has not
/// been waited for counts too).
fn group_is_running(group: u32) -> bool {
    Pid::from_raw(group as i32).is_some_and(|group| rustix::process::test_kill_process_group(group).is_ok())
}

impl Background {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The lines it has written on standard output so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// Everything it has written so far, standard output then standard error.
    pub fn wrote(&self) -> String {
        let stdout = self.stdout.lock().expect("lock").join("\n");
        let stderr = self.stderr.lock().expect("lock").join("\n");
        format!("{stdout}\n{stderr}")
    }

    /// How it ended, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Ctrl+C, without waiting for it to end (a `stop` after it waits).
    pub fn interrupt(&self) {
        self.signal(Signal::INT);
    }

    /// Ctrl+C to its whole group unless all of it has ended already, then a
    /// kill to the group if any of it has not ended within `grace`; waits
    /// for it either way.
    pub fn stop(mut self, grace: Duration) -> std::io::Result<Ended> {
        let group = self.child.id();
        if group_is_running(group) {
            self.signal(Signal::INT);
        }
        let deadline = Instant::now() + grace;
        let mut status = None;
        // The program may end first and leave what it started running: the
        // group is done only when none of it is left.
        let status = loop {
            if status.is_none() {
                status = self.child.try_wait()?;
            }
            match status {
                Some(status) if !group_is_running(group) => break status,
                _ if Instant::now() >= deadline => {
                    self.signal(Signal::KILL);
                    break match status {
                        Some(status) => status,
                        None => self.child.wait()?,
                    };
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.stopped = true;
        unregister(group);
        // Its last lines, unless something it started still holds the pipes.
        let drained = Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|thread| !thread.is_finished()) && Instant::now() < drained {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stdout = self.stdout.lock().expect("lock").clone();
        let stderr = self.stderr.lock().expect("lock").clone();
        Ok(Ended {
            status,
            stdout,
            stderr,
        })
    }

    /// The signal to the program and to every process of its group: a
    /// learner's command runs under `sh -c`, often through a wrapper, and
    /// the process doing the work may be any of them.
    fn signal(&self, signal: Signal) {
        signal_group(self.child.id(), signal);
    }
}

/// A program dropped without `stop` (the walkthrough failed on the way) is
/// killed, all of its group, rather than left running unseen.
impl Drop for Background {
    fn drop(&mut self) {
        if !self.stopped {
            self.signal(Signal::KILL);
            let _ = self.child.wait();
            unregister(self.child.id());
        }
    }
}

impl Ended {
    /// Its last `n` lines, standard output then standard error.
    pub fn last_lines(&self, n: usize) -> String {
        let lines: Vec<&str> = self
            .stdout
            .iter()
            .chain(&self.stderr)
            .map(String::as_str)
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Everything it wrote, standard output then standard error.
    pub fn wrote(&self) -> String {
        format!("{}\n{}", self.stdout.join("\n"), self.stderr.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn lines_are_kept_as_written_and_shown_through_the_renderer() {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let seen = shown.clone();
        let render: Render = Box::new(move |line| {
            seen.lock().unwrap().push(line.to_owned());
            line.starts_with("show").then(|| line.to_uppercase())
        });
        let program = spawn(
            "test",
            sh("echo show me; echo hide me; echo oops >&2"),
            Narration::Stderr,
            Some(render),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let ended = program.stop(Duration::from_secs(5)).unwrap();
        assert!(ended.status.success());
        assert_eq!(ended.stdout, ["show me", "hide me"]);
        assert_eq!(ended.stderr, ["oops"]);
        assert_eq!(ended.last_lines(2), "hide me\noops");
        assert_eq!(*shown.lock().unwrap(), ["show me", "hide me"]);
    }

    #[test]
    fn ctrl_c_reaches_the_children_of_a_shell_and_a_kill_ends_what_ignores_it() {
        // sh waits for sleep, which gets the Ctrl+C and ends at once.
        let program = spawn("sleeper", sh("sleep 30; echo after"), Narration::Stderr, None).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        program.stop(Duration::from_secs(20)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );

        let stubborn = spawn(
            "stubborn",
            sh("trap '' INT; echo ready; while true; do sleep 0.1; done"),
            Narration::Stderr,
            None,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let ended = stubborn.stop(Duration::from_millis(500)).unwrap();
        assert!(!ended.status.success(), "{:?}", ended.status);
        assert_eq!(ended.stdout, ["ready"]);
    }

    /// The processes of process group `group` that are still running (a
    /// zombie has ended: it waits for a parent to read its status), from
    /// `/proc`.
    fn running_in_group(group: u32) -> Vec<u32> {
        let mut running = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces.
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            if fields[0] != "Z" && fields[2] == group.to_string() {
                running.push(pid);
            }
        }
        running
    }

    /// Whether `pid` is a process that has not ended.
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
    }

    /// Found when tried as a new user would: an ETL started through a
    /// wrapper (`uv run`, a shell script) kept running after the grade
    /// stopped it, and kept writing, since only the wrapper and its own
    /// children were signalled. Here the wrapper ignores SIGTERM and its
    /// child ignores Ctrl+C.
    #[test]
    fn an_etl_under_a_wrapper_that_ignores_sigterm_leaves_no_process_after_the_stop() {
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("run-etl.sh");
        std::fs::write(
            &wrapper,
            "trap '' TERM\n\
             sh -c 'trap \"\" INT; echo \"etl $$\"; while true; do sleep 0.1; done' &\n\
             wait\n",
        )
        .unwrap();
        let program = spawn(
            "etl",
            sh(&format!("sh {}; echo wrapper ended", wrapper.display())),
            Narration::Stderr,
            None,
        )
        .unwrap();
        let group = program.child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let etl = loop {
            let lines = program.stdout_lines();
            if let Some(pid) = lines.iter().find_map(|line| line.strip_prefix("etl ")) {
                break pid.parse::<u32>().unwrap();
            }
            assert!(Instant::now() < deadline, "the ETL did not start: {lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        program.stop(Duration::from_millis(500)).unwrap();
        // Its processes have been killed; give the kernel a moment to end them.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (running(etl) || !running_in_group(group).is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(etl), "the ETL, process {etl}, is still running");
        assert_eq!(running_in_group(group), Vec::<u32>::new(), "left in its group");
    }

    #[test]
    fn a_program_that_ended_by_itself_says_how() {
        let mut program = spawn("quick", sh("exit 3"), Narration::Stderr, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while program.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(program.exit_status().and_then(|status| status.code()), Some(3));
        let ended = program.stop(Duration::from_secs(1)).unwrap();
        assert_eq!(ended.status.code(), Some(3));
    }
}
