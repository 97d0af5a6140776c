//! The ledger: how far the delivery stream's checkpoint may move.
//!
//! A checkpoint says "every record up to here is in S3", and a restart resumes
//! after it. With one buffer that is simply the end of the last object written.
//! With several buffers (one per partition, one per kind of error record) an
//! object sealed now can hold records that came after others still waiting in
//! another buffer: moving the checkpoint past them would lose those at a crash.
//!
//! So every record taken in gets a ticket, in the order it came, and every
//! buffer and queued object knows the oldest ticket it holds. The checkpoint
//! moves to the end of the last read whose records are no longer held anywhere.
//! A read that is written only partly keeps the checkpoint where it was: at a
//! restart its records are delivered again (at least once, never lost).

use std::collections::VecDeque;

use crate::firehose::state::Checkpoint;

#[derive(Debug, Default)]
pub struct Ledger {
    /// The ticket the next record gets.
    next: u64,
    /// The reads not yet settled: the ticket after their last record, and
    /// what their records move the checkpoint by.
    reads: VecDeque<(u64, Checkpoint)>,
}

impl Ledger {
    /// Notes a read of records, each moving the checkpoint by its origin, and
    /// gives the ticket of its first record (the others follow in order).
    pub fn take_in<'a>(&mut self, origins: impl Iterator<Item = &'a Checkpoint>) -> u64 {
        let first = self.next;
        let mut moved = Checkpoint::default();
        for origin in origins {
            moved.advance(origin);
            self.next += 1;
        }
        self.reads.push_back((self.next, moved));
        first
    }

    /// Where the checkpoint `committed` moves once nothing older than
    /// `oldest_held` (`None`: nothing at all) is held, without settling.
    pub fn preview(&self, committed: &Checkpoint, oldest_held: Option<u64>) -> Checkpoint {
        let mut checkpoint = committed.clone();
        for (end, moved) in &self.reads {
            if oldest_held.is_some_and(|oldest| *end > oldest) {
                break;
            }
            checkpoint.advance(moved);
        }
        checkpoint
    }

    /// Moves `committed` past every read none of whose records is held any more.
    pub fn settle(&mut self, committed: &mut Checkpoint, oldest_held: Option<u64>) {
        while let Some((end, _)) = self.reads.front() {
            if oldest_held.is_some_and(|oldest| *end > oldest) {
                break;
            }
            let (_, moved) = self.reads.pop_front().expect("a read is there");
            committed.advance(&moved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(shard: &str, sequence: &str) -> Checkpoint {
        Checkpoint {
            shards: [(shard.to_owned(), sequence.to_owned())].into(),
            direct: None,
        }
    }

    #[test]
    fn the_checkpoint_never_passes_a_record_still_held() {
        let mut ledger = Ledger::default();
        let mut committed = Checkpoint::default();
        // Read 1: tickets 0 and 1. Read 2: tickets 2 and 3.
        assert_eq!(ledger.take_in([at("s", "1"), at("s", "2")].iter()), 0);
        assert_eq!(ledger.take_in([at("s", "3"), at("s", "4")].iter()), 2);
        // Ticket 1 is still in a buffer: nothing settles, not even read 2
        // whose records were all written.
        assert_eq!(ledger.preview(&committed, Some(1)), Checkpoint::default());
        ledger.settle(&mut committed, Some(1));
        assert_eq!(committed, Checkpoint::default());
        // Ticket 3 is the oldest held: read 1 settles, read 2 does not.
        ledger.settle(&mut committed, Some(3));
        assert_eq!(committed, at("s", "2"));
        // Nothing held: everything settles.
        assert_eq!(ledger.preview(&committed, None), at("s", "4"));
        ledger.settle(&mut committed, None);
        assert_eq!(committed, at("s", "4"));
    }

    #[test]
    fn a_read_of_records_without_origin_moves_nothing() {
        let mut ledger = Ledger::default();
        let mut committed = at("s", "9");
        ledger.take_in([Checkpoint::default()].iter());
        ledger.settle(&mut committed, None);
        assert_eq!(committed, at("s", "9"));
    }
}
