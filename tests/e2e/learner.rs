//! A learner's own programs, graded (issues 12, 22 and 29): the example
//! solution in `examples/python/` passes both parts, and its notebook part
//! 2.1; consumers written the other ways learners write them pass part 1;
//! each planted mistake fails with its lab step named. Through `kinesis-lab lab`, as a learner checks a solution
//! (and once through `cargo xtask lab`), against an emulator of each test's own (the lab's names are fixed, so
//! tests cannot share one).
//!
//! Python with boto3, and nbclient and ipykernel for the notebook, come from
//! PyPI into a venv (`target/learner-python`, or `LAB_LEARNER_VENV`), made on
//! the first run; from then on these tests run
//! offline. Where no such venv can be made (no python3 with venv, no PyPI)
//! each test passes and says, in the output a person sees, that it did not
//! check; `LAB_LEARNER=require` (set by `.ci/run`) makes that a failure, as
//! `LAB_CONFORMANCE=require` does for the lab's real run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use emulator::Config;
use serde_json::Value;

use crate::target::TestTarget;
use crate::venv::PythonVenv;
use crate::{kinesis_lab, root, text};

/// What a test says when it could not check: the tests below look for it.
const NOT_CHECKED: &str = "LEARNER NOT CHECKED";

/// What the learner's venv holds: boto3 for the programs, nbclient and
/// ipykernel to run the notebook in a kernel.
const PACKAGES: [&str; 3] = ["boto3", "nbclient", "ipykernel"];

/// The venv the learner's programs run in: `target/learner-python`, or
/// `LAB_LEARNER_VENV`.
static LEARNER_VENV: PythonVenv = PythonVenv {
    area: "learner",
    not_checked: NOT_CHECKED,
    require: "LAB_LEARNER",
    dir_variable: "LAB_LEARNER_VENV",
    dir: "learner-python",
    packages: &PACKAGES,
    ready: "import boto3, nbclient, ipykernel",
    python: "python3",
    made: &MADE,
};
static MADE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn required() -> bool {
    LEARNER_VENV.required()
}

/// A Python with boto3, nbclient and ipykernel, or `None` (said out loud).
fn python(test: &str) -> Option<PathBuf> {
    LEARNER_VENV.python(test)
}

/// The example solution in a directory of its own, with each change (file,
/// the text, what replaces it) planted: a mistake, or another way to write
/// the same program.
fn solution(name: &str, changes: &[(&str, &str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-learner-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["consumer.py", "producer_from_cli.py", "consumer_from_cli.py"] {
        let mut code = std::fs::read_to_string(root().join("examples/python").join(file)).unwrap();
        for (_, right, wrong) in changes.iter().filter(|(changed, _, _)| *changed == file) {
            assert!(
                code.contains(right),
                "the example's {file} no longer has {right:?}"
            );
            code = code.replace(right, wrong);
        }
        std::fs::write(dir.join(file), code).unwrap();
    }
    dir
}

/// The command that runs one of the solution's programs with `python`.
fn program(python: &Path, dir: &Path, file: &str) -> String {
    format!("{} {}", python.display(), dir.join(file).display())
}

/// How a test starts the walkthrough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    /// `kinesis-lab lab`, as anyone who installed the binary runs it.
    Binary,
    /// `cargo xtask lab`, as in a clone: it runs the same.
    Xtask,
}

/// The walkthrough with `args` against `target`, with a work directory of its
/// own, and `RUST_BACKTRACE=1`, as many Rust users keep it: a grade that fails
/// must still end as a table, never as a trace.
fn lab(door: Door, target: &TestTarget, work: &Path, args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_kinesis-lab");
    let mut command = match door {
        Door::Binary => Command::new(bin),
        Door::Xtask => {
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
            // This suite's own binary: an xtask that built one would re-link
            // it under the other tests running it.
            cargo.args(["xtask"]).env("KINESIS_LAB_BIN", bin);
            cargo
        }
    };
    command
        .current_dir(root())
        .arg("lab")
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .arg("--endpoint-url")
        .arg(&target.url)
        .arg("--work-dir")
        .arg(work)
        .output()
        .expect("the walkthrough runs")
}

/// A grade that fails is a result: exit status 1, and no error or trace.
fn assert_failed_as_a_grade(output: &Output, name: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{name}:\n{}{stderr}",
        text(&output.stdout)
    );
    assert!(
        !stderr.lines().any(|line| line.starts_with("Error: ")),
        "{name} ended as an error:\n{stderr}"
    );
    // std's panics say "stack backtrace:", anyhow's errors "Stack backtrace:".
    assert!(
        !stderr.to_lowercase().contains("stack backtrace"),
        "{name} ended with a trace:\n{stderr}"
    );
}

/// Part 2 with the solution in `dir`: the xtask's output, and the steps the
/// grade of the destination streams failed (read again as JSON).
async fn part2(name: &str, python: &Path, dir: &Path, extra: &[&str]) -> (Output, Vec<String>) {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let work = dir.join("work");
    let etl = program(python, dir, "consumer.py");
    let mut args = vec!["part2", "--fast", "--sessions", "12", "--etl-command", &etl];
    args.extend(extra);
    let output = lab(Door::Binary, &target, &work, &args);
    let sessions = work.join("sessions.jsonl");
    assert!(
        sessions.exists(),
        "{name}: the run sent no sessions:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let grade = kinesis_lab(
        &target.args(&[
            "grade",
            "--expect",
            sessions.to_str().unwrap(),
            "--streams-only",
            "--output",
            "json",
        ]),
        b"",
    );
    let grade: Value = serde_json::from_slice(&grade.stdout).expect("grade prints JSON");
    (output, failed_steps(&grade))
}

/// The steps a grade's JSON failed, each once.
fn failed_steps(grade: &Value) -> Vec<String> {
    let mut failed: Vec<String> = Vec::new();
    for step in grade["grades"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["steps"].as_array().unwrap())
    {
        let name = step["step"].as_str().unwrap().to_owned();
        if step["passed"] == false && !failed.contains(&name) {
            failed.push(name);
        }
    }
    failed
}

/// The example solution passes part 2: every step, in the streams and in the
/// buckets, and the run says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_solution_passes_part_2() {
    let Some(python) = python("the_example_solution_passes_part_2") else {
        return;
    };
    let (output, failed) = part2("right", &python, &solution("right", &[]), &[]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(failed.is_empty(), "{failed:?}");
    assert!(stdout.contains("grade: every step passes"), "{stdout}");
    assert_eq!(
        stdout.matches("PASS  2.2.5").count(),
        2,
        "the streams and the buckets: {stdout}"
    );
}

/// Part 2 is graded on the streams, never on what the ETL prints: one that
/// writes every session right while printing that it failed each one passes.
#[tokio::test(flavor = "multi_thread")]
async fn part_2_grades_what_the_etl_wrote_not_what_it_prints() {
    let Some(python) = python("part_2_grades_what_the_etl_wrote_not_what_it_prints") else {
        return;
    };
    let put = r#"                            PartitionKey=str(session["session_id"]),
                        )"#;
    let lying = r#"                            PartitionKey=str(session["session_id"]),
                        )
                        print(f"FAIL 2.2.8 could not route {session['session_id']}")
                        print("Traceback (most recent call last): nothing was written", file=sys.stderr)"#;
    let dir = solution(
        "lying",
        &[
            ("consumer.py", put, lying),
            ("consumer.py", "import time\n", "import sys\nimport time\n"),
        ],
    );
    let (output, failed) = part2("lying", &python, &dir, &[]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("your ETL | FAIL 2.2.8 could not route"),
        "it did print: {stdout}"
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(stdout.contains("grade: every step passes"), "{stdout}");
}

/// A planted mistake fails part 2, and the grade names the lab step it
/// breaks; the run ends as a failed grade, not as an error.
async fn assert_mistake(name: &str, right: &str, wrong: &str, steps: &[&str]) {
    let Some(python) = python(name) else {
        return;
    };
    let dir = solution(name, &[("consumer.py", right, wrong)]);
    let (output, failed) = part2(name, &python, &dir, &[]).await;
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert_eq!(failed, steps, "{name}:\n{stdout}");
    for step in steps {
        assert!(
            stdout.contains(&format!("FAIL  {step}")),
            "{name}: {step} not named:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cart_total_counting_items_fails_step_2_2_6() {
    assert_mistake(
        "cart",
        r#"sum(int(item["quantity"]) for item in history if item["in_shopping_cart"])"#,
        r#"sum(1 for item in history if item["in_shopping_cart"])"#,
        &["2.2.6"],
    )
    .await;
}

/// With `--output json`, standard output is the grade alone, as one JSON
/// object a script can read.
#[tokio::test(flavor = "multi_thread")]
async fn a_route_the_wrong_way_round_fails_step_2_2_8() {
    let Some(python) = python("a_route_the_wrong_way_round_fails_step_2_2_8") else {
        return;
    };
    let dir = solution(
        "route",
        &[(
            "consumer.py",
            r#"if record["country"] == "USA":"#,
            r#"if record["country"] != "USA":"#,
        )],
    );
    let (output, failed) = part2("route", &python, &dir, &["--output", "json"]).await;
    assert_failed_as_a_grade(&output, "route");
    assert_eq!(failed, ["2.2.8"]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: standard output is not one JSON object:\n{}",
            text(&output.stdout)
        )
    });
    assert_eq!(json["part"], 2);
    assert_eq!(json["passed"], false);
    assert_eq!(
        failed_steps(&json),
        ["2.2.8"],
        "the streams and the buckets: {json}"
    );
    assert_eq!(json["grades"].as_array().unwrap().len(), 2, "{json}");
    assert!(text(&output.stderr).contains("== Step 2.2: Start your ETL =="));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_timestamp_fails_step_2_2_3() {
    // Without the key, the four keys are not in the lab's order either.
    assert_mistake(
        "timestamp",
        r#"record["processing_timestamp"] = datetime.datetime.now().isoformat()"#,
        "pass",
        &["2.2.3", "keys"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quantities_not_converted_to_int_fail_step_2_2_5() {
    assert_mistake(
        "quantities",
        r#"sum(int(item["quantity"]) for item in history)"#,
        r#"sum(float(item["quantity"]) for item in history)"#,
        &["2.2.5"],
    )
    .await;
}

/// Part 1 with the example producer and a consumer of the example's changed
/// by `changes` (or `consumer`, when not empty), with `extra` flags: the
/// walkthrough's output.
async fn part1(
    door: Door,
    name: &str,
    python: &Path,
    consumer: &str,
    changes: &[(&str, &str, &str)],
    extra: &[&str],
) -> Output {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution(name, changes);
    let producer = program(python, &dir, "producer_from_cli.py");
    let consumer = match consumer {
        "" => program(python, &dir, "consumer_from_cli.py"),
        command => command.to_owned(),
    };
    let mut args = vec![
        "part1",
        "--producer-command",
        &producer,
        "--consumer-command",
        &consumer,
    ];
    args.extend(extra);
    lab(door, &target, &dir.join("work"), &args)
}

/// The line of the example consumer that prints a record, for the other
/// ways of showing one.
const PRINT: &str = r#"print(f"{shard_id} {record['SequenceNumber']} {record['PartitionKey']} {data}")"#;

/// A consumer that shows records its own way passes part 1, every step.
async fn assert_passes_part_1(door: Door, name: &str, changes: &[(&str, &str, &str)]) -> String {
    let Some(python) = python(name) else {
        return String::new();
    };
    let output = part1(door, name, &python, "", changes, &[]).await;
    let stdout = text(&output.stdout).to_owned();
    assert!(
        output.status.success(),
        "{name}:\n{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(
            "Part 1 done: 5 records put with your producer, all 5 seen in what your consumer wrote"
        ),
        "{name}:\n{stdout}"
    );
    for step in ["1.3", "1.4", "1.5 put", "1.5 seen"] {
        assert!(
            stdout.contains(&format!("PASS  {step:<8} ")),
            "{name}: {step}:\n{stdout}"
        );
    }
    stdout
}

/// The example producer and consumer pass part 1, through `cargo xtask lab`
/// as in a clone (the door that builds, then runs `kinesis-lab lab`).
#[tokio::test(flavor = "multi_thread")]
async fn the_example_producer_and_consumer_pass_part_1() {
    assert_passes_part_1(Door::Xtask, "the_example_producer_and_consumer_pass_part_1", &[]).await;
}

/// Found when tried as a new user would: a consumer that logs each record
/// with Python's `logging`, as the lab's does (to standard error, in its own
/// words), was failed for printing nothing on standard output.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_logs_to_standard_error_as_the_labs_does_passes_part_1() {
    let logs = r#"logging.info("Read record %s from shard %s partition key %s: %s", record["SequenceNumber"], shard_id, record["PartitionKey"], data)"#;
    let stdout = assert_passes_part_1(
        Door::Binary,
        "a_consumer_that_logs_to_standard_error_as_the_labs_does_passes_part_1",
        &[
            ("consumer_from_cli.py", PRINT, logs),
            ("consumer_from_cli.py", "import time\n", "import logging\nimport time\n"),
            (
                "consumer_from_cli.py",
                "    args = parser.parse_args()\n",
                "    args = parser.parse_args()\n    logging.basicConfig(level=logging.INFO, format=\"%(levelname)s %(message)s\")\n",
            ),
        ],
    )
    .await;
    // Nothing of the records reached standard output: they were all logged.
    assert!(!stdout.contains("your consumer | INFO Read record"), "{stdout}");
}

/// Found when tried as a new user would: a consumer that prints only each
/// record's sequence number was failed too.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_prints_only_sequence_numbers_passes_part_1() {
    assert_passes_part_1(
        Door::Binary,
        "a_consumer_that_prints_only_sequence_numbers_passes_part_1",
        &[(
            "consumer_from_cli.py",
            PRINT,
            r#"print(record["SequenceNumber"])"#,
        )],
    )
    .await;
}

/// A consumer that prints boto3's record dict (`Data` as Python bytes) passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_prints_boto3s_record_passes_part_1() {
    assert_passes_part_1(
        Door::Binary,
        "a_consumer_that_prints_boto3s_record_passes_part_1",
        &[("consumer_from_cli.py", PRINT, "print(record)")],
    )
    .await;
}

/// A consumer that pretty-prints each session as indented JSON passes, and
/// with `--output json` standard output holds the grade alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_pretty_prints_the_session_passes_part_1() {
    let name = "a_consumer_that_pretty_prints_the_session_passes_part_1";
    let Some(python) = python(name) else {
        return;
    };
    let pretty = "print(json.dumps(json.loads(data), indent=2))";
    let changes = [
        ("consumer_from_cli.py", PRINT, pretty),
        (
            "consumer_from_cli.py",
            "import time\n",
            "import json\nimport time\n",
        ),
    ];
    let output = part1(Door::Binary, name, &python, "", &changes, &["--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: standard output is not one JSON object:\n{}",
            text(&output.stdout)
        )
    });
    assert_eq!(json["part"], 1);
    assert_eq!(json["passed"], true, "{json}");
    let steps: Vec<&str> = json["grades"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["1.3", "1.4", "1.5 put", "1.5 seen"]);
    assert_eq!(json["grades"][0]["records_put"], 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("your consumer |   \"session_id\": \"a1\","),
        "{stderr}"
    );
}

/// A consumer that really misses a record fails part 1, naming the session
/// it missed, as a grade (exit status 1, no trace).
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_skips_a_record_fails_part_1_naming_its_session() {
    let name = "a_consumer_that_skips_a_record_fails_part_1_naming_its_session";
    let Some(python) = python(name) else {
        return;
    };
    let skips = format!("if record['PartitionKey'] != 'a1': {PRINT}");
    let output = part1(
        Door::Binary,
        name,
        &python,
        "",
        &[("consumer_from_cli.py", PRINT, &skips)],
        &[],
    )
    .await;
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert!(
        stdout.contains(
            "FAIL  1.5 seen every record put shows up in what your consumer wrote (1 of 5 records fail)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("first: session a1, on shardId-"), "{stdout}");
    assert!(stdout.contains("PASS  1.4 "), "{stdout}");
    // 1.3 fails too when no other record shares a1's shard.
    assert!(stdout.contains("1.5 seen): see the steps above."), "{stdout}");
}

/// Found when tried as a new user would: a failing grade ended as an error,
/// `Error: part 1 FAILED: ...`, with a backtrace under `RUST_BACKTRACE=1`.
/// Now a consumer that prints nothing fails part 1 with the table, its last
/// lines, and exit status 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_grade_is_a_table_and_exit_status_1_with_no_backtrace() {
    let name = "a_failing_grade_is_a_table_and_exit_status_1_with_no_backtrace";
    let Some(python) = python(name) else {
        return;
    };
    let deaf = "echo 'listening, but printing nothing'; sleep 600; true";
    let output = part1(Door::Binary, name, &python, deaf, &[], &[]).await;
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert!(stdout.contains("FAIL  1.3 "), "{stdout}");
    assert!(stdout.contains("(5 of 5 records fail)"), "{stdout}");
    assert!(
        stdout.contains("listening, but printing nothing"),
        "its last lines: {stdout}"
    );
}

/// Found when tried as a new user would: a producer that keyed every record
/// with `1` and a consumer that printed only a count (`got 1 records`) passed
/// step 1.5, every record taken as seen by its partition key in the count.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_prints_only_a_count_of_records_keyed_1_fails_step_1_5() {
    let name = "a_consumer_that_prints_only_a_count_of_records_keyed_1_fails_step_1_5";
    let Some(python) = python(name) else {
        return;
    };
    let changes = [
        (
            "producer_from_cli.py",
            r#"PartitionKey=str(record["session_id"]),"#,
            r#"PartitionKey="1","#,
        ),
        ("consumer_from_cli.py", PRINT, r#"print("got 1 records")"#),
    ];
    let output = part1(Door::Binary, name, &python, "", &changes, &[]).await;
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert!(stdout.contains("your consumer | got 1 records"), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL  1.5 seen every record put shows up in what your consumer wrote (5 of 5 records fail)"
        ),
        "{stdout}"
    );
}

/// A producer that fails is graded too: the steps it did not do fail, with
/// its exit status and last words; the run is a grade, not an error.
#[tokio::test(flavor = "multi_thread")]
async fn a_producer_that_fails_fails_steps_1_4_and_1_5_as_a_grade() {
    let name = "a_producer_that_fails_fails_steps_1_4_and_1_5_as_a_grade";
    let Some(python) = python(name) else {
        return;
    };
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution(name, &[]);
    let consumer = program(&python, &dir, "consumer_from_cli.py");
    let producer = "echo 'botocore.exceptions.NoCredentialsError: Unable to locate credentials' >&2; exit 2";
    let output = lab(
        Door::Binary,
        &target,
        &dir.join("work"),
        &[
            "part1",
            "--producer-command",
            producer,
            "--consumer-command",
            &consumer,
        ],
    );
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert!(stdout.contains("FAIL  1.4 "), "{stdout}");
    assert!(stdout.contains("FAIL  1.5 put "), "{stdout}");
    assert!(
        stdout.contains(
            "found    none: your producer failed (exit status: 2; its last line: \
             botocore.exceptions.NoCredentialsError: Unable to locate credentials)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Part 1 FAILED (1.4, 1.5 put)"), "{stdout}");
}

/// An ETL that cannot start, or stops by itself, fails part 2 with its last
/// lines shown, and the grade says no session arrived.
#[tokio::test(flavor = "multi_thread")]
async fn an_etl_that_dies_is_reported_with_its_last_lines() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution("dies", &[]);
    let dies = "echo 'cannot find my configuration' >&2; exit 3";
    let output = lab(
        Door::Binary,
        &target,
        &dir.join("work"),
        &["part2", "--fast", "--sessions", "5", "--etl-command", dies],
    );
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, "dies");
    assert!(
        stdout.contains("Your ETL stopped by itself before the end (exit status: 3)"),
        "{stdout}"
    );
    assert!(stdout.contains("cannot find my configuration"), "{stdout}");
    assert!(stdout.contains("FAIL  arrival"), "{stdout}");
}

/// The learner tests of one test process, with `env` set: a clone where
/// `venv` does not exist yet.
fn run_learner_test_elsewhere(venv: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "learner::the_example_producer_and_consumer_pass_part_1",
        ])
        .env("LAB_LEARNER_VENV", venv)
        .env_remove("LAB_LEARNER");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the e2e test binary runs")
}

/// PyPI as a machine offline or behind a proxy sees it: nothing answers.
const NO_PYPI: [(&str, &str); 3] = [
    ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
    ("PIP_RETRIES", "0"),
    ("PIP_NO_CACHE_DIR", "1"),
];

/// Found when tried as a new user would: on a clone that cannot reach PyPI,
/// `cargo test` failed the learner tests with "cannot install boto3 from
/// PyPI", and each attempt left a `target/learner-python.<pid>` directory
/// behind. Now they pass, say they did not check and why, and leave nothing.
#[test]
fn cargo_test_without_pypi_passes_saying_the_learner_tests_did_not_check() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("learner-python");
    let output = run_learner_test_elsewhere(&venv, &NO_PYPI);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("1 passed; 0 failed"), "{stdout}");
    let said = stderr
        .lines()
        .find(|line| line.starts_with("learner::the_example_producer_and_consumer_pass_part_1: "))
        .unwrap_or_else(|| panic!("the test did not say it was skipped:\n{stderr}"));
    assert!(said.contains(NOT_CHECKED), "{said}");
    assert!(
        said.contains("cannot install boto3 nbclient ipykernel from PyPI"),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed attempt left {left:?} behind");
}

/// `LAB_LEARNER=require`, as `.ci/run` sets it: no venv is a failure.
#[test]
fn with_lab_learner_require_no_venv_fails_the_learner_tests() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("learner-python");
    let mut env = NO_PYPI.to_vec();
    env.push(("LAB_LEARNER", "require"));
    let output = run_learner_test_elsewhere(&venv, &env);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("0 passed; 1 failed"), "{stdout}");
    assert!(stdout.contains("LAB_LEARNER=require is set"), "{stdout}");
    assert!(!stderr.contains(NOT_CHECKED), "{stderr}");
}

/// The example notebook in a directory of its own, each change (the text in
/// a code cell, what replaces it; nothing to drop the cell, as if it was not
/// run) planted.
fn notebook(name: &str, changes: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-notebook-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = root().join("examples/python/streaming_resources.ipynb");
    let mut notebook: Value = serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    let cells = notebook["cells"].as_array_mut().unwrap();
    for (right, wrong) in changes {
        let at = cells
            .iter()
            .position(|cell| cell["cell_type"] == "code" && cell_source(cell).contains(right))
            .unwrap_or_else(|| panic!("no code cell of the example notebook has {right:?}"));
        match *wrong {
            "" => {
                cells.remove(at);
            }
            wrong => cells[at]["source"] = Value::from(cell_source(&cells[at]).replace(right, wrong)),
        }
    }
    let path = dir.join("notebook.ipynb");
    std::fs::write(&path, serde_json::to_string_pretty(&notebook).unwrap()).unwrap();
    path
}

/// A cell's source, as one string (a notebook may keep it as lines).
fn cell_source(cell: &Value) -> String {
    match &cell["source"] {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

/// `lab part2 --notebook` on the notebook at `path`, run by `python`,
/// against an emulator of its own.
async fn grade_notebook(path: &Path, python: &Path) -> Output {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let python = python.to_str().unwrap();
    lab(
        Door::Binary,
        &target,
        &path.with_file_name("work"),
        &["part2", "--notebook", path.to_str().unwrap(), "--python", python],
    )
}

/// The example notebook passes part 2.1, every step.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_notebook_passes_part_2_1() {
    let Some(python) = python("the_example_notebook_passes_part_2_1") else {
        return;
    };
    let output = grade_notebook(&notebook("right", &[]), &python).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    for step in ["2.1 ", "2.1.2", "2.1.4", "2.1.5"] {
        assert!(stdout.contains(&format!("PASS  {step}")), "{step}:\n{stdout}");
    }
    assert!(
        stdout.contains("notebook | [cell 17] Delivery stream de-c2w2lab1-firehose-international created"),
        "the cells' output is shown: {stdout}"
    );
    assert!(stdout.contains("Part 2.1 done"), "{stdout}");
}

/// A planted mistake in the notebook fails part 2.1 as a grade (exit status
/// 1, no trace), its own step named; `steps` are every step that fails.
async fn assert_notebook_mistake(name: &str, changes: &[(&str, &str)], steps: &[&str]) -> String {
    let Some(python) = python(name) else {
        return String::new();
    };
    let output = grade_notebook(&notebook(name, changes), &python).await;
    let stdout = text(&output.stdout).to_owned();
    assert_failed_as_a_grade(&output, name);
    let failed: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("FAIL  "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(failed, steps, "{name}:\n{stdout}");
    assert!(
        stdout.contains(&format!("Part 2.1 FAILED ({})", steps.join(", "))),
        "{name}:\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_of_1_shard_fails_step_2_1_4() {
    let stdout = assert_notebook_mistake(
        "a_stream_of_1_shard_fails_step_2_1_4",
        &[(
            "create_kinesis_data_stream(stream_name=INTERNATIONAL_DATA_STREAM, shard_count=2)",
            "create_kinesis_data_stream(stream_name=INTERNATIONAL_DATA_STREAM, shard_count=1)",
        )],
        &["2.1.4"],
    )
    .await;
    if !stdout.is_empty() {
        assert!(
            stdout.contains(
                "first: stream de-c2w2lab1-international-data-stream\n\
                 \x20           expected ShardCount 2\n\
                 \x20           found    ShardCount 1\n"
            ),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn swapped_streams_in_the_delivery_streams_fail_step_2_1_5() {
    let stdout = assert_notebook_mistake(
        "swapped_streams_in_the_delivery_streams_fail_step_2_1_5",
        &[
            (
                "stream_name=USA_DATA_STREAM,\n    bucket_name=USA_BUCKET",
                "stream_name=INTERNATIONAL_DATA_STREAM,\n    bucket_name=USA_BUCKET",
            ),
            (
                "stream_name=INTERNATIONAL_DATA_STREAM,\n    bucket_name=INTERNATIONAL_BUCKET",
                "stream_name=USA_DATA_STREAM,\n    bucket_name=INTERNATIONAL_BUCKET",
            ),
        ],
        &["2.1.5"],
    )
    .await;
    if !stdout.is_empty() {
        assert!(stdout.contains("(2 of 2 delivery streams fail)"), "{stdout}");
        assert!(
            stdout.contains(
                "found    KinesisStreamSourceConfiguration.KinesisStreamARN \
                 arn:aws:kinesis:us-east-1:000000000000:stream/de-c2w2lab1-international-data-stream \
                 (the International stream)"
            ),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_placeholder_account_id_fails_step_2_1_2_saying_which_id_to_use() {
    let stdout = assert_notebook_mistake(
        "the_placeholder_account_id_fails_step_2_1_2_saying_which_id_to_use",
        &[(
            r#"ACCOUNT_ID = boto3.client("sts").get_caller_identity()["Account"]"#,
            r#"ACCOUNT_ID = "<AWS-ACCOUNT-ID>""#,
        )],
        &["2.1", "2.1.2", "2.1.5"],
    )
    .await;
    if !stdout.is_empty() {
        assert!(
            stdout.contains(
                "expected bucket \"de-c2w2lab1-000000000000-usa\" (ACCOUNT_ID = \"000000000000\", this \
                 target's account id)\n\
                 \x20           found    none: ACCOUNT_ID is still the placeholder \"<AWS-ACCOUNT-ID>\""
            ),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_stream_whose_cell_was_not_run_fails_step_2_1_5() {
    let stdout = assert_notebook_mistake(
        "a_delivery_stream_whose_cell_was_not_run_fails_step_2_1_5",
        &[(r#"firehose_name="de-c2w2lab1-firehose-international","#, "")],
        &["2.1.5"],
    )
    .await;
    if !stdout.is_empty() {
        assert!(
            stdout.contains(
                "first: delivery stream de-c2w2lab1-firehose-international\n\
                 \x20           expected a delivery stream named \"de-c2w2lab1-firehose-international\""
            ),
            "{stdout}"
        );
        assert!(stdout.contains("found    no such delivery stream"), "{stdout}");
    }
}

/// A cell that raises stops the notebook, as Run All does: it is named with
/// its number and its error's last line, and what it did not make fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_cell_that_raises_is_named_with_its_number_and_its_errors_last_line() {
    let stdout = assert_notebook_mistake(
        "a_cell_that_raises_is_named_with_its_number_and_its_errors_last_line",
        &[(
            "stream_name=USA_DATA_STREAM,\n    bucket_name=USA_BUCKET",
            "stream_name=USA_DATA_STREAM,\n    bucket_name=USA_BUCKT",
        )],
        &["2.1", "2.1.5"],
    )
    .await;
    if !stdout.is_empty() {
        assert!(
            stdout.contains(
                "first: cell 16\n\
                 \x20           expected it runs without an error\n\
                 \x20           found    it raised NameError: name 'USA_BUCKT' is not defined\n"
            ),
            "{stdout}"
        );
    }
}

/// A Python without Jupyter's runner: one line, saying what to install.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_without_jupyter_is_told_in_one_line_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .output();
    if !made.is_ok_and(|out| out.status.success()) {
        assert!(!required(), "python3 -m venv failed (LAB_LEARNER=require is set)");
        let _ = writeln!(
            std::io::stderr().lock(),
            "learner::a_python_without_jupyter_is_told_in_one_line_what_to_install: {NOT_CHECKED}: \
             python3 cannot make a venv"
        );
        return;
    }
    let python = bare.join("bin/python");
    let output = grade_notebook(&notebook("bare", &[]), &python).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("kinesis-lab: "))
        .collect();
    assert_eq!(
        said,
        [format!(
            "kinesis-lab: cannot run your notebook: \"{0}\" has no module \"boto3\"; install what it needs \
             with: {0} -m pip install nbclient ipykernel boto3",
            python.display()
        )],
        "{stderr}"
    );
    assert!(!stderr.to_lowercase().contains("stack backtrace"), "{stderr}");
}

/// `--infra-command`: a script graded as the notebook is. This one makes
/// the buckets and the streams but no delivery stream.
#[tokio::test(flavor = "multi_thread")]
async fn an_infra_command_is_graded_as_the_notebook_is() {
    let name = "an_infra_command_is_graded_as_the_notebook_is";
    let Some(python) = python(name) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("make_resources.py");
    std::fs::write(
        &script,
        "import boto3\n\
         account = boto3.client('sts').get_caller_identity()['Account']\n\
         for route in ('usa', 'int'):\n\
         \x20   boto3.client('s3').create_bucket(Bucket=f'de-c2w2lab1-{account}-{route}')\n\
         for route in ('usa', 'international'):\n\
         \x20   boto3.client('kinesis').create_stream(StreamName=f'de-c2w2lab1-{route}-data-stream', ShardCount=2)\n\
         print('made the buckets and the streams')\n",
    )
    .unwrap();
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let command = format!("{} {}", python.display(), script.display());
    let output = lab(
        Door::Binary,
        &target,
        &dir.path().join("work"),
        &["part2", "--infra-command", &command],
    );
    let stdout = text(&output.stdout);
    assert_failed_as_a_grade(&output, name);
    assert!(
        stdout.contains("  | made the buckets and the streams"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS  2.1      your command runs to its end (1 command)"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS  2.1.2 "), "{stdout}");
    assert!(stdout.contains("PASS  2.1.4 "), "{stdout}");
    assert!(stdout.contains("FAIL  2.1.5 "), "{stdout}");
    assert!(stdout.contains("Part 2.1 FAILED (2.1.5)"), "{stdout}");
}

/// With `--etl-command` too, part 2 goes on with the learner's ETL on the
/// resources the notebook made (Firehose buffering as the notebook set it,
/// the lab's 60 s), and every step passes.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_notebook_and_etl_pass_part_2_on_the_notebooks_resources() {
    let name = "the_example_notebook_and_etl_pass_part_2_on_the_notebooks_resources";
    let Some(python) = python(name) else {
        return;
    };
    let path = notebook(name, &[]);
    let etl = program(&python, &solution(name, &[]), "consumer.py");
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let output = lab(
        Door::Binary,
        &target,
        &path.with_file_name("work"),
        &[
            "part2",
            "--fast",
            "--sessions",
            "5",
            "--notebook",
            path.to_str().unwrap(),
            "--python",
            python.to_str().unwrap(),
            "--etl-command",
            &etl,
        ],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("Part 2.1 done"), "{stdout}");
    assert_eq!(
        stdout.matches("PASS  2.2.8").count(),
        2,
        "the streams and the buckets: {stdout}"
    );
    assert!(stdout.contains("grade: every step passes"), "{stdout}");
}

/// A learner's programs run in process groups of their own, out of reach of
/// the terminal's Ctrl+C: the harness passes it on. A Ctrl+C to the
/// walkthrough while the consumer runs ends both.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_to_the_walkthrough_reaches_the_learners_programs() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("consumer.pid");
    let consumer = format!("sh -c 'echo $$ > {}; exec sleep 300'", pid_file.display());
    let mut walkthrough = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args([
            "lab",
            "part1",
            "--producer-command",
            "true",
            "--consumer-command",
            &consumer,
        ])
        .args(["--endpoint-url", &target.url, "--work-dir"])
        .arg(dir.path().join("work"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let consumer: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "the consumer did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let harness = rustix::process::Pid::from_child(&walkthrough);
    rustix::process::kill_process(harness, rustix::process::Signal::INT).unwrap();
    let status = walkthrough.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    // A zombie has ended; it waits for a parent to read its status.
    let running = || {
        std::fs::read_to_string(format!("/proc/{consumer}/stat"))
            .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !running(),
        "the consumer, process {consumer}, outlived the walkthrough"
    );
}
