//! The finding behind this crate: on a fresh clone, `cargo xtask lab part2
//! --fast` after `cargo build --workspace` compiled kinesis-lab a second time,
//! and `cargo test --workspace` then compiled 105 crates again, the AWS SDK
//! among them, because each command asked for different features of a shared
//! dependency. Each test asks `cargo tree` what two commands would build and
//! fails on any package they would build with different features.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each package `cargo tree` lists for these arguments, with every feature set
/// it is built with (a package can be built for the host and for the target).
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "--prefix", "none", "--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).expect("UTF-8").lines() {
        let Some((package, features)) = line.trim_end_matches(" (*)").split_once('|') else {
            continue;
        };
        packages
            .entry(package.to_owned())
            .or_default()
            .insert(features.to_owned());
    }
    packages
}

/// The packages both commands build, with features that differ between them.
fn differences(first: &[&str], second: &[&str]) -> Vec<String> {
    let (first, second) = (features(first), features(second));
    first
        .iter()
        .filter_map(|(package, sets)| {
            let other = second.get(package)?;
            (sets != other).then(|| format!("{package}: {sets:?} against {other:?}"))
        })
        .collect()
}

fn assert_same_builds(first: &[&str], second: &[&str]) {
    let differences = differences(first, second);
    assert!(
        differences.is_empty(),
        "these packages would be compiled twice; add the missing features to workspace-hack/Cargo.toml \
         ([dependencies] for the target, [build-dependencies] for proc-macros and build scripts):\n{}",
        differences.join("\n")
    );
}

const WORKSPACE: &[&str] = &["--workspace", "--edges", "normal,build"];

#[test]
fn cargo_xtask_after_cargo_build_compiles_nothing_again() {
    assert_same_builds(WORKSPACE, &["--package", "xtask", "--edges", "normal,build"]);
}

#[test]
fn the_labs_build_of_kinesis_lab_reuses_the_workspace_build() {
    assert_same_builds(
        WORKSPACE,
        &["--package", "kinesis-lab", "--edges", "normal,build"],
    );
}

#[test]
fn cargo_test_after_cargo_build_compiles_only_the_tests_own_dependencies() {
    assert_same_builds(WORKSPACE, &["--workspace", "--edges", "normal,build,dev"]);
}
