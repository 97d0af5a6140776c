//! The workspace's one retry policy. A call that failed for a reason that
//! passes (a throttled read, a refused write, an S3 that does not answer) is
//! tried again after a wait that doubles each time, up to a ceiling, and never
//! given up on: the lab's programs must not lose what they were told to move.
//! The reader (steps 1.3 and 2.2.2), the ETL's writes (2.2.8), the producer
//! (2.1's hidden one) and the emulator's Firehose all wait this way.

use std::time::Duration;

pub use backon::ExponentialBackoff;
use backon::{BackoffBuilder, ExponentialBuilder};

/// Waits of `first`, then twice as long each time up to `max`, each one
/// stretched by a random part of itself (up to twice as long), so that
/// callers that failed together do not all try again together. The iterator
/// never ends; start a new one after a success.
pub fn backoff(first: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The next wait of a backoff made by [`backoff`], which never runs out.
pub fn next_wait(backoff: &mut ExponentialBackoff) -> Duration {
    backoff.next().expect("a backoff without a limit of tries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_with_jitter_and_never_end() {
        let (first, max) = (Duration::from_millis(100), Duration::from_millis(800));
        let mut waits = backoff(first, max);
        let nominal = [100, 200, 400, 800, 800, 800, 800, 800, 800, 800];
        for (turn, nominal) in nominal.into_iter().map(Duration::from_millis).enumerate() {
            let wait = next_wait(&mut waits);
            assert!(
                wait >= nominal && wait <= nominal * 2,
                "wait {turn}: {wait:?}, not between {nominal:?} and twice that"
            );
        }
    }
}
