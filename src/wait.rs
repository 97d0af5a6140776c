//! Waiting until something is ready: a new stream or delivery stream is
//! CREATING for a while (steps 1.1 and 2.1), and records take time to get
//! through the ETL and Firehose (steps 2.2 and 2.3). Every such wait in the
//! lab looks, sleeps and gives up the same way, here.

use std::future::Future;
use std::time::Duration;

/// What one look found: done, or not yet (and what it saw instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look<T, S> {
    Ready(T),
    NotYet(S),
}

/// How long to wait, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Duration,
    pub every: Duration,
}

impl Patience {
    pub const fn new(timeout: Duration, every: Duration) -> Patience {
        Patience { timeout, every }
    }

    /// Looks at once, then every `every`, until a look is [`Look::Ready`] or
    /// `timeout` has passed. `Ok(Err(seen))` is a timeout, with what the last
    /// look saw, for the caller to word; a failed look ends the wait with its
    /// error.
    pub async fn wait<T, S, E, F, Fut>(&self, look: F) -> Result<Result<T, S>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Look<T, S>, E>>,
    {
        self.wait_showing(look, |_| {}).await
    }

    /// [`Patience::wait`], showing each look that is not ready yet (a
    /// spinner's message, for one), before sleeping.
    pub async fn wait_showing<T, S, E, F, Fut>(
        &self,
        mut look: F,
        mut show: impl FnMut(&S),
    ) -> Result<Result<T, S>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Look<T, S>, E>>,
    {
        let started = tokio::time::Instant::now();
        loop {
            match look().await? {
                Look::Ready(done) => return Ok(Ok(done)),
                Look::NotYet(seen) if started.elapsed() >= self.timeout => return Ok(Err(seen)),
                Look::NotYet(seen) => {
                    show(&seen);
                    tokio::time::sleep(self.every).await;
                }
            }
        }
    }
}

impl Patience {
    /// [`Patience::wait`] for code without an async runtime (the walkthrough
    /// watching its programs): the same looks, the thread asleep between them.
    pub fn wait_blocking<T, S, E>(
        &self,
        mut look: impl FnMut() -> Result<Look<T, S>, E>,
    ) -> Result<Result<T, S>, E> {
        let started = std::time::Instant::now();
        loop {
            match look()? {
                Look::Ready(done) => return Ok(Ok(done)),
                Look::NotYet(seen) if started.elapsed() >= self.timeout => return Ok(Err(seen)),
                Look::NotYet(_) => std::thread::sleep(self.every),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Patience = Patience::new(Duration::from_millis(200), Duration::from_millis(1));

    #[tokio::test]
    async fn it_returns_what_the_first_ready_look_found() {
        let mut looks = 0;
        let found = QUICK
            .wait(|| {
                looks += 1;
                let look = if looks == 3 {
                    Look::Ready(looks)
                } else {
                    Look::NotYet("CREATING")
                };
                async move { Ok::<_, ()>(look) }
            })
            .await;
        assert_eq!(found, Ok(Ok(3)));
    }

    #[tokio::test]
    async fn a_timeout_keeps_what_the_last_look_saw_and_comes_after_the_timeout() {
        let started = tokio::time::Instant::now();
        let mut looks = 0;
        let found = QUICK
            .wait(|| {
                looks += 1;
                async move { Ok::<Look<(), u32>, ()>(Look::NotYet(looks)) }
            })
            .await;
        assert!(started.elapsed() >= QUICK.timeout);
        assert!(looks > 1, "it looked again after sleeping");
        assert_eq!(found, Ok(Err(looks)));
    }

    #[test]
    fn blocking_it_looks_the_same_way() {
        let started = std::time::Instant::now();
        let mut looks = 0;
        let found = QUICK.wait_blocking(|| {
            looks += 1;
            Ok::<Look<(), u32>, ()>(Look::NotYet(looks))
        });
        assert!(started.elapsed() >= QUICK.timeout);
        assert_eq!(found, Ok(Err(looks)));
        assert_eq!(
            QUICK.wait_blocking(|| Ok::<_, ()>(Look::<_, ()>::Ready(7))),
            Ok(Ok(7))
        );
    }

    #[tokio::test]
    async fn a_failed_look_ends_the_wait() {
        let found = QUICK
            .wait(|| async { Err::<Look<(), ()>, _>("access denied") })
            .await;
        assert_eq!(found, Err("access denied"));
    }
}
