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

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
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
        .spawn()?;
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
    })
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

    /// Ctrl+C unless it has ended already, then a kill if it has not ended
    /// within `grace`; waits for it either way.
    pub fn stop(mut self, grace: Duration) -> std::io::Result<Ended> {
        if self.child.try_wait()?.is_none() {
            self.signal(Signal::INT);
        }
        let deadline = Instant::now() + grace;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                self.signal(Signal::KILL);
                break self.child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
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

    /// The signal to the program and to the processes it started: a
    /// learner's command runs under `sh -c`, which may have children of its
    /// own. (`pkill` finds them; where it is missing, the shell alone gets it.)
    fn signal(&self, signal: Signal) {
        let pid = self.child.id();
        let flag = if signal == Signal::KILL { "-KILL" } else { "-INT" };
        let _ = Command::new("pkill")
            .args([flag, "-P", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, signal);
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
