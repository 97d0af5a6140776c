//! The walkthrough as someone who installed only the binary runs it (issue
//! 23): `kinesis-lab lab`, from a directory with nothing of the repository in
//! it, against an emulator of the test's own (the lab's names are fixed, so
//! walkthroughs cannot share one).

use std::path::Path;
use std::process::{Command, Output};

use emulator::Config;

use crate::target::TestTarget;
use crate::text;

/// `kinesis-lab lab ARGS` against `target`, run from `dir`.
fn lab(dir: &Path, target: &TestTarget, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .current_dir(dir)
        .arg("lab")
        .args(args)
        .args(["--endpoint-url", &target.url])
        .output()
        .expect("kinesis-lab runs")
}

fn assert_ok(output: &Output, what: &str) -> String {
    let stdout = text(&output.stdout).to_owned();
    assert!(
        output.status.success(),
        "{what}:\n{stdout}{}",
        text(&output.stderr)
    );
    stdout
}

/// With nothing but the binary: part 1, part 2 and the teardown run in an
/// empty directory (the example record is part of the binary), and the run's
/// files land under it.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_alone_walks_through_both_parts_and_the_teardown() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = tempfile::tempdir().unwrap();

    let part1 = assert_ok(&lab(dir.path(), &target, &["part1"]), "part 1");
    assert!(
        part1.contains("== Step 1.4: Put the example record =="),
        "{part1}"
    );
    assert!(
        part1.contains("Part 1 done: 5 records put, 5 consumed"),
        "{part1}"
    );

    let part2 = assert_ok(
        &lab(dir.path(), &target, &["part2", "--fast", "--sessions", "10"]),
        "part 2",
    );
    assert!(part2.contains("== Part 2 done in"), "{part2}");
    assert!(
        part2.contains("  result                verify: ok (10 sessions expected, 0 missing"),
        "{part2}"
    );
    assert!(dir.path().join("kinesis-lab-data/lab/sessions.jsonl").is_file());

    let teardown = assert_ok(&lab(dir.path(), &target, &["teardown"]), "teardown");
    assert!(
        teardown.contains("deleted stream de-c2w2lab1-kinesis-data-stream-cli"),
        "{teardown}"
    );
}

/// Found when tried as a new user would: at the lab's own pace, the
/// walkthrough passed the ETL's JSON status events through raw, 75 lines of
/// `etl | {"event":"status",...}` in one run, most of them the same as the
/// one before. Now each event is a sentence, and a status shows only when a
/// count changed.
#[tokio::test(flavor = "multi_thread")]
async fn the_etls_status_shows_as_sentences_once_per_change_not_as_raw_json() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = tempfile::tempdir().unwrap();
    let part2 = assert_ok(
        &lab(dir.path(), &target, &["part2", "--fast", "--sessions", "12"]),
        "part 2",
    );
    let etl: Vec<&str> = part2
        .lines()
        .filter_map(|line| line.strip_prefix("  etl | "))
        .collect();
    assert!(!etl.iter().any(|line| line.starts_with('{')), "{etl:#?}");
    assert!(
        etl[0].starts_with("reading de-c2w2lab1-kinesis-data-stream;"),
        "{etl:#?}"
    );
    assert!(etl.last().unwrap().starts_with("stopped: in 12 | "), "{etl:#?}");
    let counts: Vec<&str> = etl
        .iter()
        .filter(|line| line.starts_with("in "))
        .map(|line| line.rsplit_once(" | lag").unwrap().0)
        .collect();
    for pair in counts.windows(2) {
        assert_ne!(pair[0], pair[1], "a status shown twice: {etl:#?}");
    }
}

/// `lab part2 --workers 3`: three ETL workers share the source through a
/// lease table, the walkthrough shows which worker reads which shard, and
/// every session is delivered (copies allowed: at least once).
#[tokio::test(flavor = "multi_thread")]
async fn part_2_with_three_workers_shows_how_they_share_the_shards() {
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let dir = tempfile::tempdir().unwrap();
    let part2 = assert_ok(
        &lab(
            dir.path(),
            &target,
            &["part2", "--fast", "--sessions", "12", "--workers", "3"],
        ),
        "part 2 with workers",
    );
    assert!(part2.contains("== Step 2.2: Start 3 ETL workers =="), "{part2}");
    assert!(
        part2.contains("== Step 2.2: How the workers share the shards =="),
        "{part2}"
    );
    let shares: Vec<&str> = part2
        .lines()
        .filter(|line| line.starts_with("  worker-"))
        .collect();
    assert!(!shares.is_empty(), "{part2}");
    let shards = shares
        .iter()
        .map(|line| line.matches("shardId-").count())
        .sum::<usize>();
    assert_eq!(shards, 4, "the source's four shards, each held once: {shares:?}");
    for worker in ["worker 1 |", "worker 2 |", "worker 3 |"] {
        assert!(part2.contains(worker), "{worker}: {part2}");
    }
    assert!(
        part2.contains("  result                verify: ok (12 sessions expected, 0 missing"),
        "{part2}"
    );
}

/// `--help` teaches: the parts, the steps alone, the flags for a learner's
/// own programs and how the exit status reads.
#[test]
fn lab_help_names_the_parts_the_steps_and_the_grade() {
    let help = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["lab", "--help"])
        .output()
        .unwrap();
    let help = text(&help.stdout);
    for wanted in [
        "part1",
        "part2",
        "teardown",
        "--producer-command",
        "exit status is 0",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
    let part2 = Command::new(env!("CARGO_BIN_EXE_kinesis-lab"))
        .args(["lab", "part2", "--help"])
        .output()
        .unwrap();
    let part2 = text(&part2.stdout);
    for wanted in [
        "infra",
        "produce",
        "etl",
        "peek",
        "verify",
        "--fast",
        "--etl-command",
    ] {
        assert!(part2.contains(wanted), "{wanted}: {part2}");
    }
}
