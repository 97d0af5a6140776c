//! Conformance with the original lab: its real run of 151 sessions, through our
//! `kinesis-lab enrich` and our routing, gives exactly the numbers and routes the
//! original ETL computed.
//!
//! The data belongs to the lab and stays in `../shared/conformance/`, beside the
//! team's clones; it is read from there, never copied into this repository, so
//! a clone on its own does not have it. There the two checks print that they
//! did not run, and why, and pass: the README's `cargo test --workspace` must
//! work for anyone who clones. `LAB_SHARED_DIR` points elsewhere;
//! `LAB_CONFORMANCE=require` (set by `.ci/run`) turns a missing run into a
//! failure, so the team's CI cannot stop checking it unnoticed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use kinesis_lab::routing::Route;
use serde_json::Value;

use crate::{kinesis_lab, root, text};

const RUN: &str = "conformance/lab-run-2024-09-22.jsonl";

/// What the line says when the run is not there: the meta-test below looks for it.
const NOT_CHECKED: &str = "NOT CHECKED against the lab's real run";

/// Whether the lab's run must be there, from `LAB_CONFORMANCE`.
fn required() -> bool {
    match std::env::var("LAB_CONFORMANCE").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("") => false,
        Ok("require") => true,
        other => panic!(
            "LAB_CONFORMANCE={} is not understood: set it to `require` to fail when \
             the lab's real run is missing, or leave it unset to check the run where \
             it exists and say so where it does not",
            other.map_or("(not UTF-8)", |value| value)
        ),
    }
}

fn shared_dir() -> PathBuf {
    std::env::var_os("LAB_SHARED_DIR").map_or_else(|| root().join("../shared"), PathBuf::from)
}

/// The lab's real run, one JSON object per session, or `None` (said out loud)
/// where it is not beside the clone and not required.
fn lab_run(check: &str) -> Option<Vec<Value>> {
    let path = shared_dir().join(RUN);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required() => {
            say_not_checked(check, &path);
            return None;
        }
        Err(err) => panic!(
            "cannot read the lab's real run at {}: {err}\n\
             Set LAB_SHARED_DIR to the folder that holds LAB.md and conformance/{}.",
            path.display(),
            if required() {
                " (LAB_CONFORMANCE=require is set, so a missing run is a failure)"
            } else {
                ""
            }
        ),
    };
    let rows = text
        .lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{} line {}: {err}", path.display(), n + 1))
        })
        .collect();
    Some(rows)
}

/// Tells the person running the tests that this check did not run. Written to
/// the process's stderr itself, not with `eprintln!`, because the test harness
/// keeps what `eprintln!` prints to itself unless the test fails: a passing test
/// must still say that it checked nothing.
fn say_not_checked(check: &str, path: &Path) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "conformance::{check}: {NOT_CHECKED}: {} is not there (it sits beside the \
         team's clones only). Set LAB_SHARED_DIR to the folder that holds \
         conformance/ to check it; LAB_CONFORMANCE=require makes this a failure.",
        path.display()
    );
}

/// Every session of the lab's real run gets exactly the three numbers the
/// original ETL computed, and keeps every field of the producer's record.
#[test]
fn enrich_matches_the_original_lab_on_its_real_run() {
    let Some(run) = lab_run("enrich_matches_the_original_lab_on_its_real_run") else {
        return;
    };
    assert_eq!(run.len(), 151);
    let input: String = run.iter().map(|row| format!("{}\n", row["input"])).collect();

    let output = kinesis_lab(&["enrich"], input.as_bytes());

    assert_eq!(text(&output.stderr), "enriched 151 lines, rejected 0\n");
    let enriched: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(enriched.len(), run.len());
    for (row, out) in run.iter().zip(&enriched) {
        let id = &row["input"]["session_id"];
        for key in [
            "overall_product_quantity",
            "overall_in_shopping_cart",
            "total_different_products",
        ] {
            assert_eq!(out[key], row["expected"][key], "{key} of session {id}");
        }
        let mut original = out.as_object().unwrap().clone();
        for key in [
            "processing_timestamp",
            "overall_product_quantity",
            "overall_in_shopping_cart",
            "total_different_products",
        ] {
            original.shift_remove(key);
        }
        assert_eq!(
            Value::Object(original),
            row["input"],
            "session {id} lost or changed a field"
        );
    }
}

/// Every session of the lab's real run is routed where the original ETL sent it.
#[test]
fn routing_matches_the_original_lab_on_its_real_run() {
    let Some(run) = lab_run("routing_matches_the_original_lab_on_its_real_run") else {
        return;
    };
    assert_eq!(run.len(), 151);
    for row in &run {
        let country = row["input"]["country"].as_str().unwrap();
        assert_eq!(Route::for_country(country).key(), row["route"], "{country}");
    }
    let usa = run.iter().filter(|row| row["route"] == "USA").count();
    assert_eq!(usa, 38, "the run had 38 USA sessions");
}

/// The two checks above, run as their own test process with `env` set, from a
/// place where the lab's run is missing: what a clone with nothing beside it is.
fn run_checks_without_the_lab_run(env: &[(&str, &str)]) -> std::process::Output {
    let nothing_beside = crate::temp_path("clone-with-nothing-beside-it");
    std::fs::create_dir_all(&nothing_beside).unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "conformance::enrich_matches_the_original_lab_on_its_real_run",
            "conformance::routing_matches_the_original_lab_on_its_real_run",
        ])
        .env("LAB_SHARED_DIR", &nothing_beside)
        .env_remove("LAB_CONFORMANCE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the e2e test binary runs")
}

/// Found on a fresh clone: `cargo test --workspace` failed twice because
/// `../shared/conformance/` was not there. Now both checks pass and each says,
/// in the output a person sees, that it did not check the run and why.
#[test]
fn a_fresh_clone_with_nothing_beside_it_passes_and_says_the_run_was_not_checked() {
    let output = run_checks_without_the_lab_run(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));

    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("2 passed; 0 failed"), "{stdout}");
    for check in [
        "enrich_matches_the_original_lab_on_its_real_run",
        "routing_matches_the_original_lab_on_its_real_run",
    ] {
        let said = stderr
            .lines()
            .find(|line| line.starts_with(&format!("conformance::{check}: ")))
            .unwrap_or_else(|| panic!("{check} did not say it was skipped:\n{stderr}"));
        assert!(said.contains(NOT_CHECKED), "{said}");
        assert!(
            said.contains("clone-with-nothing-beside-it/conformance/"),
            "{said}"
        );
        assert!(said.contains("LAB_SHARED_DIR"), "{said}");
    }
}

/// `LAB_CONFORMANCE=require`, as `.ci/run` sets it: a missing run fails both
/// checks, naming the path and how to point at the run.
#[test]
fn with_lab_conformance_require_a_missing_run_fails_both_checks() {
    let output = run_checks_without_the_lab_run(&[("LAB_CONFORMANCE", "require")]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));

    assert!(!output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("0 passed; 2 failed"), "{stdout}");
    assert!(stdout.contains("cannot read the lab's real run at"), "{stdout}");
    assert!(stdout.contains("LAB_CONFORMANCE=require is set"), "{stdout}");
    assert!(!stderr.contains(NOT_CHECKED), "{stderr}");
}

/// A value that is neither `require` nor empty is a typo, not a choice: refused.
#[test]
fn an_unknown_lab_conformance_value_is_refused() {
    let output = run_checks_without_the_lab_run(&[("LAB_CONFORMANCE", "skip")]);
    let stdout = text(&output.stdout);

    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("LAB_CONFORMANCE=skip is not understood"),
        "{stdout}"
    );
}
