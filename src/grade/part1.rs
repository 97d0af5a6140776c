//! Part 1's grade: a learner's producer and consumer (lab steps 1.3 to 1.5),
//! from the records found in the stream and everything the consumer wrote.
//!
//! Whether the producer's records reached the stream is read from the stream
//! itself, never from what the producer printed; whether the consumer saw
//! them is read from its words, in whatever format it chose (`seen`).
//!
//! | step | check |
//! |---|---|
//! | 1.3 | the consumer keeps running (the lab's loops until Ctrl+C), and shows a record of every shard that holds one |
//! | 1.4 | the example record is in the stream as given, with its session_id as the partition key |
//! | 1.5 put | the other records too |
//! | 1.5 seen | every record found in the stream shows up in what the consumer wrote |

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitStatus;

use serde::Serialize;
use serde_json::{Map, Value};

use super::seen::Written;
use super::{Failure, StepGrade};
use crate::shard_reader::ReadRecord;

/// A record the producer was asked to put, and how its command ended.
#[derive(Debug, Clone)]
pub struct Asked {
    pub record: Map<String, Value>,
    /// `Err` with the exit status and the command's last words when it failed.
    pub producer: Result<(), String>,
}

/// What the consumer did while the records were put.
#[derive(Debug, Clone, Copy)]
pub struct Consumer<'a> {
    /// Everything it wrote, standard output and standard error.
    pub wrote: &'a str,
    /// How it ended, when it ended before it was stopped.
    pub stopped_by_itself: Option<ExitStatus>,
}

/// Part 1's grade.
#[derive(Debug, Clone, Serialize)]
pub struct Part1Grade {
    pub stream: String,
    /// Records found in the stream since the consumer started.
    pub records_put: usize,
    pub steps: Vec<StepGrade>,
    pub passed: bool,
}

/// What the consumer must show of a record: any one of them.
const SIGNS: &str = "its session_id, partition key or sequence number (8 characters or more), or its data, \
                     in what your consumer wrote (standard output or standard error)";

/// Grades part 1: `asked` in the order they were given (the example first),
/// `put` every record found in `stream` since the consumer started.
pub fn grade(stream: &str, asked: &[Asked], put: &[ReadRecord], consumer: Consumer<'_>) -> Part1Grade {
    let written = Written::new(consumer.wrote);
    let seen: Vec<bool> = put.iter().map(|record| written.shows(record).is_some()).collect();
    let parsed: Vec<Option<Map<String, Value>>> = put
        .iter()
        .map(|record| serde_json::from_slice(&record.data).ok())
        .collect();
    let session_of = |i: usize| parsed[i].as_ref().and_then(|data| data.get("session_id"));

    let mut reads = StepGrade::new("1.3", "your consumer runs and reads every shard", "shard");
    // A consumer that failed explains whatever it did not read, so it comes
    // first; the shards are still counted.
    if let Some(status) = consumer.stopped_by_itself.filter(|status| !status.success()) {
        reads.passed = false;
        reads.first_failure = Some(Failure::new(
            "your consumer",
            "still running at the end: the lab's consumer loops until Ctrl+C",
            format!("it stopped by itself ({status})"),
        ));
    }
    let mut shards: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (record, seen) in put.iter().zip(&seen) {
        let (records, shown) = shards.entry(&record.shard_id).or_default();
        *records += 1;
        *shown += usize::from(*seen);
    }
    for (shard, (records, shown)) in shards {
        reads.record(match shown {
            0 => Err(Failure::new(
                format!("shard {shard}"),
                "one of its records at least in what your consumer wrote: the lab's consumer reads every shard",
                match records {
                    1 => "none of its 1 record".to_owned(),
                    n => format!("none of its {n} records"),
                },
            )),
            _ => Ok(()),
        });
    }

    let example = StepGrade::new(
        "1.4",
        "the example record was put, keyed by its session_id",
        "record",
    );
    let more = StepGrade::new(
        "1.5 put",
        "more records were put, each keyed by its session_id",
        "record",
    );
    let mut steps = vec![reads, example, more];
    for (i, asked) in asked.iter().enumerate() {
        let step = if i == 0 { 1 } else { 2 };
        steps[step].record(check_put(stream, asked, put, &parsed));
    }

    let mut shown = StepGrade::new(
        "1.5 seen",
        "every record put shows up in what your consumer wrote",
        "record",
    );
    for (i, record) in put.iter().enumerate() {
        let subject = match session_of(i) {
            Some(Value::String(id)) => format!("session {id}, on {}", record.shard_id),
            _ => format!("record {} on {}", record.sequence_number, record.shard_id),
        };
        shown.record(match seen[i] {
            true => Ok(()),
            false => Err(Failure::new(subject, SIGNS, "none of them")),
        });
    }
    steps.push(shown);

    Part1Grade {
        stream: stream.to_owned(),
        records_put: put.len(),
        passed: steps.iter().all(|step| step.passed),
        steps,
    }
}

/// The record in the stream, unchanged, with its session_id as the key.
fn check_put(
    stream: &str,
    asked: &Asked,
    put: &[ReadRecord],
    parsed: &[Option<Map<String, Value>>],
) -> Result<(), Failure> {
    let id = match asked.record.get("session_id") {
        Some(Value::String(id)) => id.clone(),
        other => other.map_or_else(String::new, Value::to_string),
    };
    let subject = format!("session {id}");
    let found: Vec<usize> = (0..put.len())
        .filter(|&i| {
            parsed[i]
                .as_ref()
                .and_then(|data| data.get("session_id"))
                .is_some_and(|found| *found == Value::String(id.clone()))
        })
        .collect();
    let Some(&first) = found.first() else {
        let found = match &asked.producer {
            Ok(()) => "none".to_owned(),
            Err(failed) => format!("none: your producer failed ({failed})"),
        };
        return Err(Failure::new(
            subject,
            format!("a record with session_id {id:?} in {stream}"),
            found,
        ));
    };
    if !found.iter().any(|&i| parsed[i].as_ref() == Some(&asked.record)) {
        return Err(Failure::new(
            subject,
            "the record your producer was given, unchanged",
            shorten(&String::from_utf8_lossy(&put[first].data)),
        ));
    }
    if !found.iter().any(|&i| put[i].partition_key == id) {
        return Err(Failure::new(
            subject,
            format!("partition key {id:?}, its session_id"),
            format!("partition key {:?}", put[first].partition_key),
        ));
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

impl fmt::Display for Part1Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "What your programs did, as found in {} ({} records put) and in what your consumer wrote:",
            self.stream, self.records_put
        )?;
        for step in &self.steps {
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use serde_json::json;

    use super::*;

    const STREAM: &str = "de-c2w2lab1-kinesis-data-stream-cli";

    fn session(id: &str) -> Map<String, Value> {
        json!({"session_id": id, "customer_number": 100, "country": "USA", "browse_history": []})
            .as_object()
            .unwrap()
            .clone()
    }

    fn asked(ids: &[&str]) -> Vec<Asked> {
        ids.iter()
            .map(|id| Asked {
                record: session(id),
                producer: Ok(()),
            })
            .collect()
    }

    /// Each session put as the lab's producer puts it, on shard `n % 2`.
    fn put(ids: &[&str]) -> Vec<ReadRecord> {
        ids.iter()
            .enumerate()
            .map(|(n, id)| ReadRecord {
                shard_id: format!("shardId-00000000000{}", n % 2),
                sequence_number: format!("4965{n:040}"),
                sub_sequence: None,
                completes_record: true,
                partition_key: (*id).to_owned(),
                data: serde_json::to_vec(&session(id)).unwrap(),
                arrival: None,
                aggregate_error: None,
            })
            .collect()
    }

    fn running(wrote: &str) -> Consumer<'_> {
        Consumer {
            wrote,
            stopped_by_itself: None,
        }
    }

    fn failed(grade: &Part1Grade) -> Vec<&str> {
        super::super::failed_steps(&grade.steps)
    }

    const IDS: [&str; 3] = ["a1-c0ffee", "b2-c0ffee", "c3-c0ffee"];

    #[test]
    fn a_consumer_that_shows_every_record_passes() {
        let graded = grade(
            STREAM,
            &asked(&IDS),
            &put(&IDS),
            running("a1-c0ffee\nb2-c0ffee\nc3-c0ffee\n"),
        );
        assert!(graded.passed, "{graded}");
        let checked: Vec<usize> = graded.steps.iter().map(|step| step.checked).collect();
        assert_eq!(
            checked,
            [2, 1, 2, 3],
            "shards, the example, the others, the records"
        );
    }

    #[test]
    fn a_record_not_shown_fails_1_5_naming_its_session_and_an_unread_shard_fails_1_3() {
        // b2-c0ffee is the only record on shard 1.
        let graded = grade(
            STREAM,
            &asked(&IDS),
            &put(&IDS),
            running("a1-c0ffee and c3-c0ffee"),
        );
        assert_eq!(failed(&graded), ["1.3", "1.5 seen"]);
        let missed = graded.steps[3].first_failure.as_ref().unwrap();
        assert_eq!(missed.subject, "session b2-c0ffee, on shardId-000000000001");
        let shard = graded.steps[0].first_failure.as_ref().unwrap();
        assert_eq!(shard.subject, "shard shardId-000000000001");
        assert_eq!(shard.found, "none of its 1 record");
    }

    #[test]
    fn a_consumer_that_prints_nothing_fails_1_3_and_1_5() {
        let graded = grade(
            STREAM,
            &asked(&IDS),
            &put(&IDS),
            running("listening, but printing nothing\n"),
        );
        assert_eq!(failed(&graded), ["1.3", "1.5 seen"]);
        assert_eq!(graded.steps[3].failed, 3);
    }

    #[test]
    fn a_consumer_that_stops_by_itself_fails_1_3_with_its_exit_status() {
        let crashed = Consumer {
            wrote: "Traceback (most recent call last):\n",
            stopped_by_itself: Some(ExitStatus::from_raw(1 << 8)),
        };
        let graded = grade(STREAM, &asked(&IDS), &put(&IDS), crashed);
        let first = graded.steps[0].first_failure.as_ref().unwrap();
        assert_eq!(first.subject, "your consumer");
        assert_eq!(first.found, "it stopped by itself (exit status: 1)");
        assert_eq!((graded.steps[0].checked, graded.steps[0].failed), (2, 2));

        // One that read everything, then ended well, has done the step.
        let done = Consumer {
            wrote: "a1-c0ffee b2-c0ffee c3-c0ffee",
            stopped_by_itself: Some(ExitStatus::from_raw(0)),
        };
        assert!(grade(STREAM, &asked(&IDS), &put(&IDS), done).passed);
    }

    #[test]
    fn records_are_graded_from_the_stream_not_from_the_producers_word() {
        // The producer said it put c3-c0ffee (it exited 0), but c3-c0ffee is not in the stream.
        let graded = grade(
            STREAM,
            &asked(&IDS),
            &put(&IDS[..2]),
            running("a1-c0ffee b2-c0ffee c3-c0ffee"),
        );
        assert_eq!(failed(&graded), ["1.5 put"]);
        let missing = graded.steps[2].first_failure.as_ref().unwrap();
        assert_eq!(missing.subject, "session c3-c0ffee");
        assert_eq!(missing.found, "none");

        // A failed producer is named with how it failed.
        let mut failing = asked(&IDS);
        failing[0].producer = Err("exit status: 1; NoCredentialsError".into());
        let graded = grade(STREAM, &failing, &put(&IDS[1..]), running("b2-c0ffee c3-c0ffee"));
        assert_eq!(failed(&graded), ["1.4"]);
        assert_eq!(
            graded.steps[1].first_failure.as_ref().unwrap().found,
            "none: your producer failed (exit status: 1; NoCredentialsError)"
        );
    }

    #[test]
    fn a_record_keyed_otherwise_or_changed_fails_its_put_step() {
        let mut records = put(&IDS);
        records[1].partition_key = "customer-100".into();
        records[2].data =
            serde_json::to_vec(&json!({"session_id": "c3-c0ffee", "country": "France"})).unwrap();
        let graded = grade(
            STREAM,
            &asked(&IDS),
            &records,
            running("a1-c0ffee b2-c0ffee c3-c0ffee"),
        );
        assert_eq!(failed(&graded), ["1.5 put"]);
        assert_eq!(graded.steps[2].failed, 2);
        let first = graded.steps[2].first_failure.as_ref().unwrap();
        assert_eq!(first.expected, "partition key \"b2-c0ffee\", its session_id");
        assert_eq!(first.found, "partition key \"customer-100\"");
    }

    #[test]
    fn the_table_names_each_step() {
        let graded = grade(STREAM, &asked(&IDS), &put(&IDS), running("a1-c0ffee b2-c0ffee"));
        let table = graded.to_string();
        assert!(
            table.starts_with(&format!(
                "What your programs did, as found in {STREAM} (3 records put)"
            )),
            "{table}"
        );
        assert!(
            table.contains("  PASS  1.4      the example record was put"),
            "{table}"
        );
        assert!(
            table.contains(
                "  FAIL  1.5 seen every record put shows up in what your consumer wrote (1 of 3 records fail)"
            ),
            "{table}"
        );
        assert!(
            table.contains("          first: session c3-c0ffee, on shardId-000000000000"),
            "{table}"
        );
    }
}
