//! `kinesis-lab enrich`: the ETL's enrichment, offline, over JSON lines.
//!
//! The same [`enrich`](crate::enrich::enrich) that the streaming ETL applies to
//! each record, run over a file or a pipe. One bad line never stops it: the line
//! is reported with its number and the reason, and the rest go on.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::enrich::enrich;
use crate::session::Session;

/// Enrich sessions given as JSON lines, as the lab's ETL does (steps 2.2.3 to 2.2.7).
///
/// Reads one session per line (a JSON object, as the producer puts it on the
/// stream) and writes it out enriched, with four keys appended:
/// processing_timestamp (now, RFC 3339 in UTC), overall_product_quantity,
/// overall_in_shopping_cart and total_different_products (the number of items,
/// repeats included, as the lab counts it). Quantities may be strings ("4") or
/// integers (4). Other fields pass through untouched, in their order.
///
/// A line that is not a valid session is reported on standard error with its
/// line number and the reason, and skipped; blank lines are skipped silently. At
/// the end a summary says how many lines were enriched and rejected.
///
/// Exit status: 0 when every line was enriched, 2 when some were rejected, 1 on
/// an error that stopped the run (an unreadable input, say).
///
/// Example: kinesis-lab generate --count 100 | kinesis-lab enrich
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Read the sessions from this file instead of standard input.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Also copy every rejected line, as it was, to this file, to fix and replay later.
    #[arg(long, value_name = "FILE")]
    pub rejected: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let input: Box<dyn BufRead> = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            Box::new(BufReader::with_capacity(1 << 16, file))
        }
        None => Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
    };
    let mut rejected = match &args.rejected {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(BufWriter::new(file))
        }
        None => None,
    };
    let output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut stderr = io::stderr().lock();
    let summary = enrich_lines(
        input,
        output,
        |line, raw, reason| {
            // A report that cannot be written is no reason to stop enriching.
            let _ = writeln!(stderr, "line {line}: {reason}");
            if let Some(file) = &mut rejected {
                file.write_all(raw)?;
                file.write_all(b"\n")?;
            }
            Ok(())
        },
        Utc::now,
    )?;
    if let Some(mut file) = rejected {
        file.flush()?;
    }
    eprintln!("{summary}");
    Ok(if summary.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

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
/// its bytes (without the line end) and the reason. Lines are read one at a time
/// into one buffer, so memory stays flat however long the input is.
pub fn enrich_lines(
    mut input: impl BufRead,
    mut output: impl Write,
    mut reject: impl FnMut(u64, &[u8], &dyn std::fmt::Display) -> io::Result<()>,
    mut clock: impl FnMut() -> DateTime<Utc>,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut buffer = Vec::with_capacity(4096);
    let mut number = 0;
    loop {
        buffer.clear();
        // Bytes, not `read_line`: a line that is not UTF-8 is a bad record to
        // report, not an I/O error that ends the run.
        if input.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        number += 1;
        let line = trim_line_end(&buffer);
        if line.iter().all(u8::is_ascii_whitespace) {
            summary.blank += 1;
            continue;
        }
        match Session::from_slice(line) {
            Ok(session) => {
                serde_json::to_writer(&mut output, &enrich(session, clock()))?;
                output.write_all(b"\n")?;
                summary.enriched += 1;
            }
            Err(reason) => {
                reject(number, line, &reason)?;
                summary.rejected += 1;
            }
        }
    }
    output.flush()?;
    Ok(summary)
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
