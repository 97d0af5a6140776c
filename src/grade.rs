//! Grading a learner's own programs, lab step by lab step: what `cargo xtask
//! lab part1 --producer-command ... --consumer-command ...`, `cargo xtask lab
//! part2 --etl-command ...`, `kinesis-lab lab part2 --notebook ...` and
//! `kinesis-lab grade` report.
//!
//! A grade judges what happened, never what a program says happened: what is
//! in the streams and the buckets, and what the learner's consumer wrote in
//! whatever words it chose. Both grades are pure functions of those, so each
//! can be tested to the line without a stream or a program:
//!
//! - [`part1`]: the producer and the consumer (lab steps 1.3 to 1.5), from the
//!   records found in the part 1 stream and everything the consumer wrote.
//! - [`part2`]: the ETL (lab steps 2.2.3 to 2.2.8), from the records found in
//!   the destination streams, or in the buckets.
//! - [`notebook`]: the resources a learner's notebook made (lab steps 2.1.2
//!   to 2.1.5), from what the target holds once it has run.
//! - `seen`: whether a record shows up in what a program wrote, in any of
//!   the ways a learner prints one.
//!
//! Each check is a [`StepGrade`]: passed, or failed with how many failed and
//! the first one that did, what the lab expects and what was found.

use std::fmt;

use serde::Serialize;

pub mod notebook;
pub mod part1;
pub mod part2;
pub(crate) mod seen;

/// The grade of one check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StepGrade {
    /// The lab step (`2.2.5`), or what the check is about (`keys`, `arrival`).
    pub step: &'static str,
    pub check: &'static str,
    pub passed: bool,
    /// How many things were checked.
    pub checked: usize,
    /// What those things are, in the singular: session, record, shard.
    pub unit: &'static str,
    pub failed: usize,
    pub first_failure: Option<Failure>,
}

/// The first thing that failed a check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// What failed: `session a1`, `shard shardId-000000000001`, `your consumer`.
    pub subject: String,
    pub expected: String,
    pub found: String,
}

impl StepGrade {
    /// A check that nothing has failed yet.
    pub fn new(step: &'static str, check: &'static str, unit: &'static str) -> StepGrade {
        StepGrade {
            step,
            check,
            passed: true,
            checked: 0,
            unit,
            failed: 0,
            first_failure: None,
        }
    }

    /// One more thing checked, and how it went; the first failure is kept.
    pub fn record(&mut self, result: Result<(), Failure>) {
        self.checked += 1;
        if let Err(failure) = result {
            self.passed = false;
            self.failed += 1;
            self.first_failure.get_or_insert(failure);
        }
    }
}

impl StepGrade {
    /// `1 record`, `5 records`.
    fn count(&self, n: usize) -> String {
        match n {
            1 => format!("1 {}", self.unit),
            n => format!("{n} {}s", self.unit),
        }
    }
}

impl Failure {
    pub fn new(subject: impl Into<String>, expected: impl Into<String>, found: impl Into<String>) -> Failure {
        Failure {
            subject: subject.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// One line for the check, and three more for its first failure:
///
/// ```text
///   FAIL  2.2.8    routed by country: USA or International (2 of 10 sessions fail)
///           first: session cf97e757-646f-4417-a4ad-f0a700f6d6df
///             expected the USA stream (country "USA")
///             found    the International stream
/// ```
impl fmt::Display for StepGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "  {mark}  {:<8} {}", self.step, self.check)?;
        match &self.first_failure {
            None => writeln!(f, " ({})", self.count(self.checked)),
            Some(failure) => {
                match self.failed {
                    // A failure of the program as a whole, not of one of the things checked.
                    0 => writeln!(f, " ({})", self.count(self.checked))?,
                    failed => writeln!(f, " ({failed} of {} fail)", self.count(self.checked))?,
                }
                writeln!(f, "          first: {}", failure.subject)?;
                writeln!(f, "            expected {}", failure.expected)?;
                writeln!(f, "            found    {}", failure.found)
            }
        }
    }
}

/// The steps that failed, each named once, in the order they were checked.
pub fn failed_steps<'a>(steps: impl IntoIterator<Item = &'a StepGrade>) -> Vec<&'static str> {
    let mut failed = Vec::new();
    for step in steps {
        if !step.passed && !failed.contains(&step.step) {
            failed.push(step.step);
        }
    }
    failed
}
