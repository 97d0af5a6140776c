//! Conformance with the original lab: its real run of 151 sessions, through our
//! `kinesis-lab enrich` and our routing, gives exactly the numbers and routes the
//! original ETL computed.
//!
//! The data belongs to the lab and stays in `../shared/conformance/`; it is read
//! from there, never copied into this repository. `LAB_SHARED_DIR` points
//! elsewhere; `LAB_CONFORMANCE=skip` is for places that cannot have the data at
//! all (the GitHub workflow), and says so loudly.

use std::path::PathBuf;

use kinesis_lab::routing::Route;
use serde_json::Value;

use crate::{kinesis_lab, root, text};

const RUN: &str = "conformance/lab-run-2024-09-22.jsonl";

fn lab_run() -> Option<Vec<Value>> {
    let shared = std::env::var_os("LAB_SHARED_DIR").map_or_else(|| root().join("../shared"), PathBuf::from);
    let path = shared.join(RUN);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            text.lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
        ),
        Err(_) if std::env::var("LAB_CONFORMANCE").as_deref() == Ok("skip") => {
            eprintln!(
                "LAB_CONFORMANCE=skip: the lab's run was not checked ({} is missing)",
                path.display()
            );
            None
        }
        Err(err) => panic!(
            "cannot read the lab's real run at {}: {err}\n\
             Set LAB_SHARED_DIR to the folder that holds LAB.md and conformance/.",
            path.display()
        ),
    }
}

/// Every session of the lab's real run gets exactly the three numbers the
/// original ETL computed, and keeps every field of the producer's record.
#[test]
fn enrich_matches_the_original_lab_on_its_real_run() {
    let Some(run) = lab_run() else { return };
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
    let Some(run) = lab_run() else { return };
    for row in &run {
        let country = row["input"]["country"].as_str().unwrap();
        assert_eq!(Route::for_country(country).key(), row["route"], "{country}");
    }
    let usa = run.iter().filter(|row| row["route"] == "USA").count();
    assert_eq!(usa, 38, "the run had 38 USA sessions");
}
