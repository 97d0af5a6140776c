//! The enrichment over JSON lines (lab steps 2.2.3 to 2.2.7, offline): what
//! `kinesis-lab enrich` runs on a file or a pipe. One bad line never stops it:
//! it is handed back with its number and the reason, and the rest go on.

use std::io::{self, BufRead, Write};
use std::ops::Range;

use chrono::{DateTime, Utc};

use super::enrich_into;
use crate::session::SessionError;

/// What [`enrich_lines`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub enriched: u64,
    pub rejected: u64,
    pub blank: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "enriched {} lines, rejected {}", self.enriched, self.rejected)?;
        if self.blank > 0 {
            write!(f, ", skipped {} blank", self.blank)?;
        }
        Ok(())
    }
}

/// Enriches every line of `input` into `output`, stamping each with `clock()`.
///
/// A line that is not a valid session goes to `reject` with its 1-based number,
/// its bytes (without the line end) and the reason, in input order.
///
/// Lines are read in batches of a few thousand and each batch is shared out
/// between the machine's cores: parsing the JSON is nearly all the work, and each
/// line is independent of the others. Every worker takes a contiguous run of the
/// batch and the runs are written back in order, so the output keeps the input's
/// order. Memory holds one batch at a time, so it stays flat however long the
/// input is.
pub fn enrich_lines(
    mut input: impl BufRead,
    mut output: impl Write,
    mut reject: impl FnMut(u64, &[u8], &dyn std::fmt::Display) -> io::Result<()>,
    clock: impl Fn() -> DateTime<Utc> + Sync,
) -> io::Result<Summary> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut summary = Summary::default();
    let mut batch = Batch::default();
    let mut lines_before = 0;
    loop {
        let finished = batch.fill(&mut input)?;
        for run in batch.enrich(workers, &clock) {
            output.write_all(&run.output)?;
            for (index, reason) in &run.rejects {
                reject(lines_before + *index as u64 + 1, batch.line(*index), reason)?;
            }
            summary.enriched += run.enriched;
            summary.rejected += run.rejects.len() as u64;
            summary.blank += run.blank;
        }
        lines_before += batch.lines.len() as u64;
        if finished {
            break;
        }
    }
    output.flush()?;
    Ok(summary)
}

/// Enough lines to keep every core busy for a few milliseconds, few enough that
/// a batch of typical sessions stays around a megabyte.
const BATCH_LINES: usize = 4096;

/// A batch of input lines: their bytes, one after the other, and where each
/// line starts and ends (line ends excluded).
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: Vec<Range<usize>>,
}

/// What a worker made of its run of lines.
struct Run {
    output: Vec<u8>,
    /// Rejected lines: their index in the batch and why.
    rejects: Vec<(usize, SessionError)>,
    enriched: u64,
    blank: u64,
}

impl Batch {
    /// Reads up to [`BATCH_LINES`] lines; true when the input is exhausted.
    fn fill(&mut self, input: &mut impl BufRead) -> io::Result<bool> {
        self.bytes.clear();
        self.lines.clear();
        while self.lines.len() < BATCH_LINES {
            let start = self.bytes.len();
            // Bytes, not `read_line`: a line that is not UTF-8 is a bad record to
            // report, not an I/O error that ends the run.
            if input.read_until(b'\n', &mut self.bytes)? == 0 {
                return Ok(true);
            }
            let end = start + trim_line_end(&self.bytes[start..]).len();
            self.lines.push(start..end);
        }
        Ok(false)
    }

    fn line(&self, index: usize) -> &[u8] {
        &self.bytes[self.lines[index].clone()]
    }

    /// Enriches the batch on up to `workers` threads, one contiguous run each.
    fn enrich(&self, workers: usize, clock: &(impl Fn() -> DateTime<Utc> + Sync)) -> Vec<Run> {
        if self.lines.is_empty() {
            return Vec::new();
        }
        let per_worker = self.lines.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.lines.len())
                .step_by(per_worker)
                .map(|first| {
                    let last = (first + per_worker).min(self.lines.len());
                    scope.spawn(move || self.enrich_run(first..last, clock))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    fn enrich_run(&self, indices: Range<usize>, clock: &impl Fn() -> DateTime<Utc>) -> Run {
        let mut run = Run {
            // Enrichment adds about 130 bytes to a line of 350.
            output: Vec::with_capacity(self.bytes.len() / self.lines.len() * indices.len() * 3 / 2),
            rejects: Vec::new(),
            enriched: 0,
            blank: 0,
        };
        for index in indices {
            let line = self.line(index);
            if line.iter().all(u8::is_ascii_whitespace) {
                run.blank += 1;
                continue;
            }
            match enrich_into(line, clock(), &mut run.output) {
                Ok(_) => {
                    run.output.push(b'\n');
                    run.enriched += 1;
                }
                Err(reason) => run.rejects.push((index, reason)),
            }
        }
        run
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn run_on(input: &str) -> (Summary, String, Vec<String>) {
        let mut output = Vec::new();
        let mut reports = Vec::new();
        let clock = || Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let summary = enrich_lines(
            input.as_bytes(),
            &mut output,
            |line, raw, reason| {
                reports.push(format!("{line}|{}|{reason}", String::from_utf8_lossy(raw)));
                Ok(())
            },
            clock,
        )
        .unwrap();
        (summary, String::from_utf8(output).unwrap(), reports)
    }

    const GOOD: &str = r#"{"session_id":"a1","customer_number":100,"city":"Washington","country":"USA","credit_limit":1000,"browse_history":[{"product_code":"Product1","quantity":"2","in_shopping_cart":true}]}"#;

    #[test]
    fn bad_lines_are_reported_and_the_rest_go_on() {
        let input = format!(
            "{GOOD}\nnot json\n\n{}\r\n{GOOD}",
            GOOD.replace("\"2\"", "\"-2\"")
        );
        let (summary, output, reports) = run_on(&input);
        assert_eq!(
            summary,
            Summary {
                enriched: 2,
                rejected: 2,
                blank: 1
            }
        );
        assert_eq!(output.lines().count(), 2);
        assert!(output.lines().all(|l| l.ends_with(
            r#""overall_product_quantity":2,"overall_in_shopping_cart":2,"total_different_products":1}"#
        )));
        assert_eq!(reports.len(), 2);
        assert!(
            reports[0].starts_with("2|not json|not JSON: expected ident"),
            "{}",
            reports[0]
        );
        assert_eq!(
            reports[1],
            format!(
                "4|{}|session \"a1\": browse_history[0].quantity: must not be negative, found \"-2\"",
                GOOD.replace("\"2\"", "\"-2\"")
            )
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_rejected_record() {
        let mut input = GOOD.as_bytes().to_vec();
        input.extend_from_slice(b"\n{\"session_id\": \"\xc3\x28\"}\n");
        input.extend_from_slice(GOOD.as_bytes());
        let mut output = Vec::new();
        let mut reasons = Vec::new();
        let summary = enrich_lines(
            &input[..],
            &mut output,
            |line, _, reason| {
                reasons.push((line, reason.to_string()));
                Ok(())
            },
            Utc::now,
        )
        .unwrap();
        assert_eq!(
            summary,
            Summary {
                enriched: 2,
                rejected: 1,
                blank: 0
            }
        );
        assert_eq!(
            reasons,
            [(
                2,
                "not UTF-8 (the first invalid byte is at offset 16)".to_string()
            )]
        );
    }

    #[test]
    fn order_and_line_numbers_hold_across_batches_and_workers() {
        let total = BATCH_LINES * 2 + 123;
        let input: String = (1..=total)
            .map(|n| {
                if n % 1000 == 0 {
                    format!("bad {n}\n")
                } else {
                    format!("{}\n", GOOD.replace("\"a1\"", &format!("\"s{n}\"")))
                }
            })
            .collect();
        let (summary, output, reports) = run_on(&input);
        let bad: Vec<usize> = (1..=total).filter(|n| n % 1000 == 0).collect();
        assert_eq!(summary.rejected as usize, bad.len());
        assert_eq!(summary.enriched as usize, total - bad.len());
        let expected: Vec<String> = bad.iter().map(|n| format!("{n}|bad {n}|")).collect();
        let got: Vec<&str> = reports
            .iter()
            .map(|r| &r[..r.find("|not JSON").unwrap() + 1])
            .collect();
        assert_eq!(got, expected);
        let ids: Vec<String> = output
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["session_id"].to_string())
            .collect();
        let want: Vec<String> = (1..=total)
            .filter(|n| n % 1000 != 0)
            .map(|n| format!("\"s{n}\""))
            .collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn empty_input_enriches_nothing() {
        let (summary, output, reports) = run_on("");
        assert_eq!(summary, Summary::default());
        assert!(output.is_empty() && reports.is_empty());
    }

    #[test]
    fn summary_reads_well() {
        let summary = Summary {
            enriched: 3,
            rejected: 1,
            blank: 0,
        };
        assert_eq!(summary.to_string(), "enriched 3 lines, rejected 1");
        let summary = Summary {
            enriched: 3,
            rejected: 0,
            blank: 2,
        };
        assert_eq!(
            summary.to_string(),
            "enriched 3 lines, rejected 0, skipped 2 blank"
        );
    }
}
