//! `kinesis-lab emulator`, started and stopped as a learner does it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::{interrupt, temp_path};

/// Starts the emulator; returns it, its URL, and the reader of its stdout (which
/// may already hold the lines after the first).
fn start(args: &[&str]) -> (Child, String, BufReader<ChildStdout>) {
    let data = temp_path(&format!("emulator-data-{}", args.join("-")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["emulator", "--port", "0", "--data-dir"])
        .arg(&data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect(&first)
        .to_owned();
    (child, url, stdout)
}

/// `--port 0` picks a free port and says which; the endpoint answers; Ctrl+C
/// stops it cleanly with exit status 0.
#[test]
fn starts_on_a_free_port_and_stops_on_ctrl_c() {
    let (mut child, url, mut stdout) = start(&[]);
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /_kinesis_lab/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"firehose\":\"running\""), "{response}");

    interrupt(&child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("try: aws --endpoint-url"), "{rest}");
    assert!(rest.trim_end().ends_with("stopped"), "{rest}");
}

/// A port that is taken is an error that says what to do.
#[test]
fn a_taken_port_says_what_to_do() {
    let (mut child, url, _stdout) = start(&[]);
    let port = url.rsplit(':').next().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["emulator", "--port", port, "--data-dir"])
        .arg(temp_path("taken-port-data"))
        .output()
        .unwrap();
    interrupt(&child);
    child.wait().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Is another emulator (or LocalStack) already running?"),
        "{stderr}"
    );
}
