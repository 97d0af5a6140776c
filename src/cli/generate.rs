//! `kinesis-lab generate`: the lab's hidden source producer, rebuilt.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use crate::generator::SessionGenerator;

/// Make user sessions like the ones the lab's hidden producer sent
///
/// In part 2 of the lab, a producer you never see feeds
/// `de-c2w2lab1-kinesis-data-stream` with user sessions of a web shop. This
/// command makes sessions like those, with the distributions of the lab's real
/// run (countries, cities, credit limits, 1 to 5 products with string
/// quantities), and prints them as JSON lines, one session per line, as fast as
/// it can.
///
/// The same --seed gives the same sessions, byte for byte, on every machine.
/// Without one, a seed is drawn and printed to standard error, so that any run
/// can be repeated.
///
/// Example: kinesis-lab generate --count 100 | kinesis-lab enrich
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// How many sessions to make.
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N")]
    pub count: u64,

    /// Seed of the random generator.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        let seed = rand::random();
        eprintln!("seed: {seed} (pass --seed {seed} to make these sessions again)");
        seed
    });
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    for session in SessionGenerator::new(seed).take(args.count.try_into()?) {
        serde_json::to_writer(&mut out, &session)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
