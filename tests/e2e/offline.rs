//! The offline pipeline: `kinesis-lab generate | kinesis-lab enrich`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::{kinesis_lab, root, temp_path, text};

/// Every generated session is valid input for enrich: none is rejected.
#[test]
fn generated_sessions_enrich_with_no_rejection() {
    let generated = kinesis_lab(&["generate", "--count", "3000", "--seed", "11"], b"");
    assert!(generated.status.success());
    assert_eq!(text(&generated.stdout).lines().count(), 3000);

    let enriched = kinesis_lab(&["enrich"], &generated.stdout);
    assert_eq!(enriched.status.code(), Some(0), "{}", text(&enriched.stderr));
    assert_eq!(text(&enriched.stderr), "enriched 3000 lines, rejected 0\n");
    let input_lines = text(&generated.stdout).lines();
    for (input, output) in input_lines.zip(text(&enriched.stdout).lines()) {
        // The producer's record comes out first, unchanged, then the four new keys.
        let head = &input[..input.len() - 1];
        assert!(output.starts_with(head), "{output}");
        assert!(
            output[head.len()..].starts_with(",\"processing_timestamp\":\""),
            "{output}"
        );
    }
}

/// `generate` prints exactly the committed fixture for the fixture's seed.
#[test]
fn generate_reproduces_the_fixture_byte_for_byte() {
    use kinesis_lab::fixtures::{SESSIONS_COUNT, SESSIONS_SEED};
    let args = [
        "generate",
        "--count",
        &SESSIONS_COUNT.to_string(),
        "--seed",
        &SESSIONS_SEED.to_string(),
    ];
    let generated = kinesis_lab(&args, b"");
    let fixture = std::fs::read(root().join("fixtures/sessions.jsonl")).unwrap();
    assert!(
        generated.stdout == fixture,
        "run `cargo xtask fixtures` if the generator changed on purpose"
    );
}

/// Without --seed, generate names the seed it drew, and that seed replays the run.
#[test]
fn an_unseeded_run_can_be_replayed() {
    let first = kinesis_lab(&["generate", "--count", "5"], b"");
    let note = text(&first.stderr);
    let seed = note
        .strip_prefix("seed: ")
        .and_then(|rest| rest.split_whitespace().next())
        .expect(note);
    let again = kinesis_lab(&["generate", "--count", "5", "--seed", seed], b"");
    assert_eq!(first.stdout, again.stdout);
}

/// Bad lines are reported with their number and reason, good lines still flow,
/// and the exit status says that something was rejected.
#[test]
fn enrich_reports_bad_lines_and_exits_2() {
    let example: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("data/example_record.json")).unwrap()).unwrap();
    let good = example.to_string();
    let negative = good.replace("\"quantity\":1", "\"quantity\":-1");
    let input = format!("{good}\n{{\"session_id\": \"b2\"\n\n{negative}\n[]\n{good}\n");
    let rejected = temp_path("rejected.jsonl");

    let output = kinesis_lab(
        &["enrich", "--rejected", rejected.to_str().unwrap()],
        input.as_bytes(),
    );

    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout).lines().count(), 2);
    let stderr: Vec<&str> = text(&output.stderr).lines().collect();
    assert_eq!(stderr.len(), 4, "{stderr:?}");
    assert!(
        stderr[0].starts_with("line 2: not JSON: EOF while parsing an object"),
        "{}",
        stderr[0]
    );
    assert_eq!(
        stderr[1],
        "line 4: session \"a1\": browse_history[1].quantity: must not be negative, found -1"
    );
    assert_eq!(stderr[2], "line 5: expected a JSON object, found an array");
    assert_eq!(stderr[3], "enriched 2 lines, rejected 3, skipped 1 blank");
    let kept = std::fs::read_to_string(&rejected).unwrap();
    assert_eq!(kept, format!("{{\"session_id\": \"b2\"\n{negative}\n[]\n"));
}

/// The example record of the lab (integer quantities) enriches to the lab's numbers.
#[test]
fn enrich_reads_a_file_argument() {
    let example: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("data/example_record.json")).unwrap()).unwrap();
    let path = temp_path("example.jsonl");
    std::fs::write(&path, format!("{example}\n")).unwrap();
    let output = kinesis_lab(&["enrich", path.to_str().unwrap()], b"");
    assert!(output.status.success());
    let enriched: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(enriched["overall_product_quantity"], 3);
    assert_eq!(enriched["overall_in_shopping_cart"], 2);
    assert_eq!(enriched["total_different_products"], 2);
}

/// A file that cannot be read is an error (exit 1) that names the file.
#[test]
fn enrich_names_a_missing_file() {
    let output = kinesis_lab(&["enrich", "no/such/file.jsonl"], b"");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("kinesis-lab: cannot open no/such/file.jsonl: "),
        "{stderr}"
    );
}

/// `generate | head` ends quietly: a closed pipe is the reader having enough.
#[test]
fn generate_stops_quietly_when_the_reader_leaves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["generate", "--count", "10000000", "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // Dropping the reader closes the pipe.
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("{\"session_id\":"));
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(text(&output.stderr), "");
}

/// Every command's --help explains it in the lab's terms.
#[test]
fn help_speaks_of_the_lab() {
    let top = kinesis_lab(&["--help"], b"");
    assert!(text(&top.stdout).contains("Streaming Ingestion"));
    let enrich = kinesis_lab(&["enrich", "--help"], b"");
    assert!(text(&enrich.stdout).contains("steps 2.2.3 to 2.2.7"));
    assert!(text(&enrich.stdout).contains("Exit status"));
    let generate = kinesis_lab(&["generate", "--help"], b"");
    assert!(text(&generate.stdout).contains("de-c2w2lab1-kinesis-data-stream"));
}

/// A name suffix that cannot go into a bucket name is refused before anything
/// is sent, on every command that takes one, with what is allowed.
#[test]
fn a_bad_name_suffix_is_refused_up_front() {
    for command in [&["infra", "status"][..], &["etl"], &["verify"]] {
        let mut args = command.to_vec();
        args.extend(["--name-suffix", "Bad_One", "--endpoint-url", "http://127.0.0.1:9"]);
        let output = kinesis_lab(&args, b"");
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(
                "invalid name suffix \"Bad_One\": use 1 to 24 lowercase letters, digits and hyphens"
            ),
            "{command:?}: {stderr}"
        );
    }
}
