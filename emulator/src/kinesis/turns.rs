//! Whose turn it is to put: one put at a time on each stream, and puts to
//! different streams side by side (every lab step that writes records: the
//! producer's source stream, and the ETL's two destinations at once).
//!
//! A put holds its stream's turn from numbering its records to storing and
//! logging them, so that a reader only ever sees whole prefixes of a shard
//! (see [`super`] for why). That guarantee is about one shard, so one turn per
//! stream is enough: two streams share no shard, and ferrokinesis keeps each
//! stream's records and sequence counters apart.
//!
//! A few things look at every stream at once, and must not see a put halfway:
//! trimming to the cap, rewriting the log ([`super::journal`]), and a put whose
//! stream is not known before ferrokinesis reads the request (a CBOR body, an
//! ARN of another account), whose records are then found in every stream.
//! Those take the turn of all streams, which waits for every stream's turn to
//! be handed back, and holds new ones back until it is done.
//!
//! A stream's turn is made on its first put, and forgotten when the stream is
//! deleted. A put still running on the deleted stream keeps its own turn; a
//! stream made again under the same name gets a new one, as it shares none of
//! the old one's records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The turns of every stream.
#[derive(Debug, Default)]
pub struct Turns {
    /// Held shared by each stream's turn, and exclusively by the turn of all.
    all: Arc<RwLock<()>>,
    streams: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A turn, held until dropped.
#[derive(Debug)]
pub enum Turn {
    /// One stream's: no other put to that stream runs meanwhile.
    Stream {
        _stream: OwnedMutexGuard<()>,
        _all: OwnedRwLockReadGuard<()>,
    },
    /// Every stream's: no put runs meanwhile.
    All(OwnedRwLockWriteGuard<()>),
}

impl Turns {
    /// The turn of `stream`, or of every stream when it is not known.
    pub async fn of(&self, stream: Option<&str>) -> Turn {
        let Some(name) = stream else {
            return self.all().await;
        };
        // The shared hold first, and always in this order: the turn of all,
        // once it is waiting, lets no new stream's turn be taken before it,
        // and waits only for turns that already hold their stream.
        let all = self.all.clone().read_owned().await;
        let lock = self
            .streams
            .lock()
            .expect("turns")
            .entry(name.to_owned())
            .or_default()
            .clone();
        Turn::Stream {
            _stream: lock.lock_owned().await,
            _all: all,
        }
    }

    /// The turn of every stream.
    pub async fn all(&self) -> Turn {
        Turn::All(self.all.clone().write_owned().await)
    }

    /// Forgets a deleted stream's turn.
    pub fn forget(&self, stream: &str) {
        self.streams.lock().expect("turns").remove(stream);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    use super::*;

    /// Whether a turn asked for is still waiting, after one look.
    fn waits(turn: Pin<&mut impl Future<Output = Turn>>) -> bool {
        turn.poll(&mut Context::from_waker(Waker::noop())).is_pending()
    }

    /// Two streams' turns are held at once; a second turn of one stream waits
    /// for the first.
    #[tokio::test]
    async fn streams_take_turns_apart() {
        let turns = Turns::default();
        let a = turns.of(Some("a")).await;
        let _b = turns.of(Some("b")).await;
        let mut again = Box::pin(turns.of(Some("a")));
        assert!(waits(again.as_mut()));
        drop(a);
        let _again = again.await;
    }

    /// The turn of all waits for every stream's turn, and holds new ones back.
    #[tokio::test]
    async fn the_turn_of_all_excludes_every_stream() {
        let turns = Turns::default();
        let a = turns.of(Some("a")).await;
        let mut all = Box::pin(turns.of(None));
        assert!(waits(all.as_mut()));
        let mut b = Box::pin(turns.of(Some("b")));
        assert!(waits(b.as_mut()));
        drop(a);
        let all = all.await;
        assert!(waits(b.as_mut()));
        drop(all);
        let _b = b.await;
    }
}
