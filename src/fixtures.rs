//! The generated files under `fixtures/`: what they hold and how they are made.
//!
//! `cargo xtask fixtures` writes them, `cargo xtask fixtures --check` (and a test
//! in `xtask`) fails when the committed copies differ from a fresh generation.
//! They are made from fixed seeds, so a regeneration changes them only when the
//! generator itself changed.

use crate::generator::SessionGenerator;

/// The seed of `fixtures/sessions.jsonl`: the date of the lab's real run.
pub const SESSIONS_SEED: u64 = 20_240_922;
/// A few dozen sessions: enough to see every route and most shapes of history.
pub const SESSIONS_COUNT: usize = 40;

/// One generated file, its path relative to the workspace root.
pub struct Fixture {
    pub path: &'static str,
    pub contents: String,
}

/// Every generated fixture.
pub fn all() -> Vec<Fixture> {
    vec![Fixture {
        path: "fixtures/sessions.jsonl",
        contents: sessions_jsonl(SESSIONS_SEED, SESSIONS_COUNT),
    }]
}

/// Sessions as JSON lines, exactly as `kinesis-lab generate` prints them.
pub fn sessions_jsonl(seed: u64, count: usize) -> String {
    let mut text = String::new();
    for session in SessionGenerator::new(seed).take(count) {
        text.push_str(&serde_json::to_string(&session).expect("a JSON map serializes"));
        text.push('\n');
    }
    text
}
