//! The ETL's events as a person reads them in the walkthrough (lab step
//! 2.2).
//!
//! The walkthrough runs `kinesis-lab etl --output json`, to read its counts at
//! the end. Those lines are for scripts: a status event every few seconds,
//! mostly the same as the one before while the lab's producer waits its ten
//! seconds between sessions. Shown as they are, they buried the lab's steps in
//! dozens of identical lines of JSON. Here each event becomes a sentence, and
//! a status event is shown only when one of its counts has changed (the lag
//! alone changes all the time).

use serde_json::Value;

use crate::etl::Stats;

/// Turns the ETL's JSON lines into the transcript's, one after the other.
#[derive(Debug, Default)]
pub struct EtlLines {
    /// The counts last shown.
    shown: Option<Stats>,
}

impl EtlLines {
    /// What the transcript shows for `line`; `None` for a status whose counts
    /// are those shown last. A line that is not one of the ETL's events is
    /// shown as it is.
    pub fn render(&mut self, line: &str) -> Option<String> {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return Some(line.to_owned());
        };
        let text = |key: &str| event[key].as_str().unwrap_or("?").to_owned();
        let stats = || serde_json::from_value::<Stats>(event.clone()).ok();
        match (event["event"].as_str(), stats()) {
            (Some("started"), _) => Some(format!(
                "reading {}; USA sessions to {}, the others to {}; bad records to {}",
                text("source"),
                text("USA"),
                text("International"),
                text("dead_letters")
            )),
            (Some("status"), Some(stats)) => {
                let counts = |stats: &Stats| Stats {
                    lag_ms: 0,
                    ..stats.clone()
                };
                if self.shown.as_ref().map(counts) == Some(counts(&stats)) {
                    return None;
                }
                let shown = stats.to_string();
                self.shown = Some(stats);
                Some(shown)
            }
            (Some("stopped"), Some(stats)) => Some(format!("stopped: {stats}")),
            _ => Some(line.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(records_in: u64, usa: u64, lag_ms: i64) -> String {
        let stats = Stats {
            records_in,
            usa,
            international: records_in - usa,
            lag_ms,
            ..Stats::default()
        };
        stats.to_json("status").to_string()
    }

    #[test]
    fn a_status_is_shown_only_when_a_count_changes() {
        let mut lines = EtlLines::default();
        let shown: Vec<Option<String>> = [
            status(0, 0, 0),
            status(0, 0, 30),
            status(1, 1, 10),
            status(1, 1, 250),
            status(1, 1, 0),
            status(2, 1, 0),
        ]
        .iter()
        .map(|line| lines.render(line))
        .collect();
        assert_eq!(
            shown,
            [
                Some("in 0 | USA 0 | International 0 | dead-lettered 0 | retried 0 | lag 0 ms".to_owned()),
                None,
                Some("in 1 | USA 1 | International 0 | dead-lettered 0 | retried 0 | lag 10 ms".to_owned()),
                None,
                None,
                Some("in 2 | USA 1 | International 1 | dead-lettered 0 | retried 0 | lag 0 ms".to_owned()),
            ]
        );
    }

    #[test]
    fn the_start_and_the_stop_are_sentences_and_other_lines_pass_as_they_are() {
        let mut lines = EtlLines::default();
        let started = r#"{"event":"started","source":"src","USA":"usa","International":"int","dead_letters":"dl.jsonl"}"#;
        assert_eq!(
            lines.render(started).unwrap(),
            "reading src; USA sessions to usa, the others to int; bad records to dl.jsonl"
        );
        let stopped = Stats {
            records_in: 30,
            usa: 10,
            international: 20,
            ..Stats::default()
        }
        .to_json("stopped")
        .to_string();
        assert_eq!(
            lines.render(&stopped).unwrap(),
            "stopped: in 30 | USA 10 | International 20 | dead-lettered 0 | retried 0 | lag 0 ms"
        );
        assert_eq!(lines.render("warning: something").unwrap(), "warning: something");
    }
}
