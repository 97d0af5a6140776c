//! Firehose's buffer: records gather until the buffering hints say "deliver".
//!
//! A delivery stream writes an object when its buffer reaches `SizeInMBs`, or
//! when `IntervalInSeconds` have passed since the oldest record in it arrived,
//! whichever comes first. An interval of 0 delivers every batch as it comes.
//! The body is the records' bytes concatenated with nothing between them,
//! exactly as AWS writes it: `{...}{...}{...}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::Record;

/// Records waiting to be written, and when the oldest arrived.
#[derive(Debug)]
pub struct Buffer {
    size_limit: usize,
    interval: Duration,
    body: Vec<u8>,
    records: usize,
    /// When the oldest buffered record arrived at its source: on the clock
    /// deadlines are kept in, and as a time (which names the object).
    oldest: Option<(Instant, DateTime<Utc>)>,
    /// The ticket of the oldest record held ([`super::ledger`]).
    oldest_ticket: Option<u64>,
}

/// A buffer's worth of records, ready to become one S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub body: Vec<u8>,
    pub records: usize,
    pub oldest_arrival: DateTime<Utc>,
    /// The ticket of the oldest record in the batch ([`super::ledger`]).
    pub oldest_ticket: u64,
}

impl Buffer {
    pub fn new(size_in_mbs: u32, interval_in_seconds: u32) -> Buffer {
        Buffer {
            size_limit: size_in_mbs as usize * 1024 * 1024,
            interval: Duration::from_secs(interval_in_seconds.into()),
            body: Vec::new(),
            records: 0,
            oldest: None,
            oldest_ticket: None,
        }
    }

    /// New buffering hints (UpdateDestination), for what is buffered now too.
    pub fn set_hints(&mut self, size_in_mbs: u32, interval_in_seconds: u32) {
        self.size_limit = size_in_mbs as usize * 1024 * 1024;
        self.interval = Duration::from_secs(interval_in_seconds.into());
    }

    /// Adds a record, and hands back the batches that reached the size limit.
    ///
    /// An object never exceeds the limit: a record that would overflow it goes to
    /// the next object (unless it is larger than the limit on its own, in which
    /// case it is an object on its own).
    ///
    /// `arrived` is when the record arrived at its source: the interval runs
    /// from the oldest record's arrival.
    pub fn push(&mut self, record: Record, ticket: u64, arrived: Instant, full: &mut Vec<Batch>) {
        if self.records > 0 && self.body.len() + record.data.len() > self.size_limit {
            full.extend(self.take());
        }
        if self.oldest.is_none() {
            self.oldest = Some((arrived, record.arrival));
        }
        self.body.extend_from_slice(&record.data);
        self.records += 1;
        self.oldest_ticket.get_or_insert(ticket);
        if self.body.len() >= self.size_limit {
            full.extend(self.take());
        }
    }

    /// When the buffer must be delivered even if it is not full.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|(arrived, _)| arrived + self.interval)
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| deadline <= now)
    }

    /// Empties the buffer into a batch; `None` when there was nothing in it.
    pub fn take(&mut self) -> Option<Batch> {
        let (_, oldest_arrival) = self.oldest.take()?;
        let records = std::mem::take(&mut self.records);
        Some(Batch {
            body: std::mem::take(&mut self.body),
            records,
            oldest_arrival,
            oldest_ticket: self
                .oldest_ticket
                .take()
                .expect("a buffer with records has tickets"),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The records held.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The bytes held.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn oldest_ticket(&self) -> Option<u64> {
        self.oldest_ticket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Record {
        Record {
            data: text.as_bytes().to_vec(),
            arrival: DateTime::from_timestamp(1_727_000_000, 0).unwrap(),
            origin: Default::default(),
        }
    }

    #[test]
    fn concatenates_records_with_no_delimiter() {
        let mut buffer = Buffer::new(1, 60);
        let mut full = Vec::new();
        let now = Instant::now();
        buffer.push(record("{\"a\":1}"), 0, now, &mut full);
        buffer.push(record("{\"b\":2}"), 0, now, &mut full);
        assert!(full.is_empty());
        let batch = buffer.take().unwrap();
        assert_eq!(batch.body, b"{\"a\":1}{\"b\":2}");
        assert_eq!(batch.records, 2);
        assert!(buffer.take().is_none() && buffer.is_empty());
    }

    #[test]
    fn a_full_buffer_becomes_a_batch_never_over_the_limit() {
        let mut buffer = Buffer::new(1, 900);
        let mut full = Vec::new();
        let now = Instant::now();
        let piece = "x".repeat(300 * 1024);
        for _ in 0..7 {
            buffer.push(record(&piece), 0, now, &mut full);
        }
        // 3 records fit in 1 MiB (900 KiB), a 4th would not: batches of 3, 3, then 1 waiting.
        assert_eq!(full.iter().map(|b| b.records).collect::<Vec<_>>(), [3, 3]);
        assert!(full.iter().all(|b| b.body.len() == 900 * 1024));
        assert_eq!(buffer.take().unwrap().records, 1);
    }

    #[test]
    fn exactly_full_is_delivered_at_once_and_a_huge_record_alone() {
        let mut buffer = Buffer::new(1, 900);
        let mut full = Vec::new();
        let now = Instant::now();
        buffer.push(record(&"x".repeat(1024 * 1024)), 0, now, &mut full);
        assert_eq!(full.len(), 1);
        buffer.push(record("small"), 0, now, &mut full);
        buffer.push(record(&"y".repeat(2 * 1024 * 1024)), 0, now, &mut full);
        assert_eq!(full.iter().map(|b| b.records).collect::<Vec<_>>(), [1, 1, 1]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn the_interval_runs_from_the_oldest_record() {
        let mut buffer = Buffer::new(1, 60);
        let start = Instant::now();
        assert_eq!(buffer.deadline(), None);
        buffer.push(record("a"), 0, start, &mut Vec::new());
        buffer.push(record("b"), 0, start + Duration::from_secs(30), &mut Vec::new());
        assert_eq!(buffer.deadline(), Some(start + Duration::from_secs(60)));
        assert!(!buffer.is_due(start + Duration::from_secs(59)));
        assert!(buffer.is_due(start + Duration::from_secs(60)));
        buffer.take();
        assert_eq!(buffer.deadline(), None);
    }

    #[test]
    fn interval_zero_is_due_at_once() {
        let mut buffer = Buffer::new(1, 0);
        let now = Instant::now();
        buffer.push(record("a"), 0, now, &mut Vec::new());
        assert!(buffer.is_due(now));
    }
}
