//! `kinesis-lab enrich`: the ETL's enrichment, offline, over JSON lines. The
//! loop is the library's ([`kinesis_lab::enrich::lines`]); this file opens the files
//! and reports.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use kinesis_lab::enrich::lines::enrich_lines;

/// Enrich sessions given as JSON lines, as the lab's ETL does (steps 2.2.3 to 2.2.7)
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
