//! A learner's own programs, graded (issue 12): the example solution in
//! `examples/python/` passes both parts, and each planted mistake fails with
//! its lab step named. Through `cargo xtask lab`, as a learner checks a
//! solution, against an emulator of each test's own (the lab's names are
//! fixed, so tests cannot share one).
//!
//! Python and boto3 come from PyPI into a venv under `target/`, made once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emulator::Config;
use serde_json::Value;

use crate::target::TestTarget;
use crate::{kinesis_lab, root, text};

/// A Python with boto3: `target/learner-python`, made on first use. Made
/// under another name and renamed, so that tests starting at once never use
/// a half-made one.
fn python() -> PathBuf {
    // Tests of one process (cargo test) make it one at a time; tests of
    // several (nextest) each under a name of their own.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let venv = root().join("target/learner-python");
    let python = venv.join("bin/python");
    let has_boto3 = |python: &Path| {
        Command::new(python)
            .args(["-c", "import boto3"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if has_boto3(&python) {
        return python;
    }
    let making = root().join(format!("target/learner-python.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&making);
    let made = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&making)
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "cannot make a Python venv: these tests need python3 with its venv module"
    );
    let pip = Command::new(making.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "boto3",
        ])
        .status();
    assert!(
        pip.is_ok_and(|s| s.success()),
        "cannot install boto3 from PyPI into {}",
        making.display()
    );
    if std::fs::rename(&making, &venv).is_err() {
        // Another test made it first.
        let _ = std::fs::remove_dir_all(&making);
    }
    assert!(has_boto3(&python), "{} has no boto3", python.display());
    python
}

/// The example solution, with `mistake` (text and its replacement) planted in
/// `consumer.py`, in a directory of its own.
fn solution(name: &str, mistake: Option<(&str, &str)>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinesis-lab-learner-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["consumer.py", "producer_from_cli.py", "consumer_from_cli.py"] {
        let mut code = std::fs::read_to_string(root().join("examples/python").join(file)).unwrap();
        if let (Some((right, wrong)), "consumer.py") = (mistake, file) {
            assert!(
                code.contains(right),
                "the example's consumer.py no longer has {right:?}"
            );
            code = code.replace(right, wrong);
        }
        std::fs::write(dir.join(file), code).unwrap();
    }
    dir
}

/// The command that runs one of the solution's programs with the venv's Python.
fn program(dir: &Path, file: &str) -> String {
    format!("{} {}", python().display(), dir.join(file).display())
}

/// `cargo xtask lab ARGS` against `target`, with a work directory of its own.
fn xtask_lab(target: &TestTarget, work: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .current_dir(root())
        .args(["xtask", "lab"])
        // This suite's own binary: an xtask that built one would re-link it
        // under the other tests running it.
        .env("KINESIS_LAB_BIN", env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(args)
        .arg("--endpoint-url")
        .arg(&target.url)
        .arg("--work-dir")
        .arg(work)
        .output()
        .expect("cargo xtask runs")
}

/// Part 2 with the solution in `dir`: the xtask's output, and the steps the
/// grade of the destination streams failed (read again as JSON).
async fn part2(name: &str, dir: &Path) -> (Output, Vec<String>) {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let work = dir.join("work");
    let etl = program(dir, "consumer.py");
    let output = xtask_lab(
        &target,
        &work,
        &["part2", "--fast", "--sessions", "12", "--etl-command", &etl],
    );
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
    let failed = grade["grades"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["passed"] == false)
        .map(|step| step["step"].as_str().unwrap().to_owned())
        .collect();
    (output, failed)
}

/// The example solution passes part 2: every step, in the streams and in the
/// buckets, and the run says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_solution_passes_part_2() {
    let (output, failed) = part2("right", &solution("right", None)).await;
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

/// A planted mistake fails part 2, and the grade names the lab step it breaks.
async fn assert_mistake(name: &str, right: &str, wrong: &str, steps: &[&str]) {
    let (output, failed) = part2(name, &solution(name, Some((right, wrong)))).await;
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{name} passed:\n{stdout}");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_route_the_wrong_way_round_fails_step_2_2_8() {
    assert_mistake(
        "route",
        r#"if record["country"] == "USA":"#,
        r#"if record["country"] != "USA":"#,
        &["2.2.8"],
    )
    .await;
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

/// The example producer and consumer pass part 1: every record put shows up
/// in what the consumer prints.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_producer_and_consumer_pass_part_1() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution("part1", None);
    let producer = program(&dir, "producer_from_cli.py");
    let consumer = program(&dir, "consumer_from_cli.py");
    let output = xtask_lab(
        &target,
        &dir.join("work"),
        &[
            "part1",
            "--producer-command",
            &producer,
            "--consumer-command",
            &consumer,
        ],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("Part 1 done: 5 records put with your producer, all 5 printed by your consumer"),
        "{stdout}"
    );
}

/// A consumer that prints nothing fails part 1, naming the records it missed
/// and showing its last lines.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_misses_records_fails_part_1() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution("deaf", None);
    let producer = program(&dir, "producer_from_cli.py");
    let deaf = "echo 'listening, but printing nothing'; sleep 600; true";
    let output = xtask_lab(
        &target,
        &dir.join("work"),
        &[
            "part1",
            "--producer-command",
            &producer,
            "--consumer-command",
            deaf,
        ],
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "{all}");
    assert!(all.contains("did not print 5 of the 5 records"), "{all}");
    assert!(all.contains("listening, but printing nothing"), "{all}");
}

/// An ETL that cannot start, or stops by itself, fails part 2 with its last
/// lines shown, and the grade says no session arrived.
#[tokio::test(flavor = "multi_thread")]
async fn an_etl_that_dies_is_reported_with_its_last_lines() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = solution("dies", None);
    let dies = "echo 'cannot find my configuration' >&2; exit 3";
    let output = xtask_lab(
        &target,
        &dir.join("work"),
        &["part2", "--fast", "--sessions", "5", "--etl-command", dies],
    );
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("Your ETL stopped by itself before the end (exit status: 3)"),
        "{stdout}"
    );
    assert!(stdout.contains("cannot find my configuration"), "{stdout}");
    assert!(stdout.contains("FAIL  arrival"), "{stdout}");
}
