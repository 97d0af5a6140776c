//! Sharing a stream's shards between ETL workers, as the Kinesis Client
//! Library does: one lease per shard in a DynamoDB table (`kinesis-lab etl
//! --lease-table NAME`, lab step 2.2 at scale).
//!
//! A worker reads only the shards whose lease it holds. It renews its
//! leases (a conditional write that moves the lease's `leaseCounter` on),
//! takes leases whose counter has not moved for the failover time (their
//! worker is gone), and steals toward an even share, a lease at a time, from
//! the worker that holds the most. Every change is a conditional write on the
//! counter it read, so no two workers ever hold a lease. The checkpoint, the
//! last record written to both destinations, lives in the lease too, so a
//! worker that takes a lease goes on where the last one stopped.
//!
//! A shard's children are read only once every parent's checkpoint says
//! `SHARD_END`, as the KCL orders them, so a partition key's records keep
//! their order across a reshard.
//!
//! - [`table`]: the table, in the KCL 2.x attribute names and types, and the
//!   conditional writes.
//! - [`balance`]: which leases a worker should take or steal, a pure function
//!   of the table and of what the worker has seen change.
//! - [`worker`]: one worker's leases over time: made, renewed, taken,
//!   checkpointed, handed back.
//! - [`renewer`]: the task that keeps a worker's leases on the KCL's
//!   schedule, whatever the ETL's batch in hand is doing.

use std::time::Duration;

pub mod balance;
pub mod renewer;
pub mod table;
pub mod worker;

pub use renewer::{Held, Renewer};
pub use table::{Lease, LeaseCheckpoint, LeaseError, LeaseTable, SharedStream, check_table_name};
pub use worker::Worker;

/// How a worker keeps and shares its leases; the defaults are the KCL's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// A lease whose counter has not moved for this long is expired: its
    /// worker is taken to be gone, and any worker may take it.
    pub failover_time: Duration,
    /// How often a worker renews the leases it holds.
    pub renew_every: Duration,
    /// How often a worker looks for leases to take or steal.
    pub take_every: Duration,
    /// The most leases a worker steals from another in one look.
    pub max_steal: usize,
}

impl LeaseSettings {
    /// The KCL's: a 10 s failover time, renewals a third of it apart (less a
    /// margin), a look for leases every two failover times, one lease stolen
    /// at a time.
    pub fn for_failover(failover_time: Duration) -> LeaseSettings {
        let margin = Duration::from_millis(25);
        LeaseSettings {
            failover_time,
            renew_every: (failover_time / 3)
                .saturating_sub(margin)
                .max(Duration::from_millis(10)),
            take_every: (failover_time + margin) * 2,
            max_steal: 1,
        }
    }
}

impl Default for LeaseSettings {
    fn default() -> LeaseSettings {
        LeaseSettings::for_failover(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_kcls() {
        let settings = LeaseSettings::default();
        assert_eq!(settings.failover_time, Duration::from_secs(10));
        assert_eq!(settings.renew_every.as_millis(), 3_308);
        assert_eq!(settings.take_every, Duration::from_millis(20_050));
        assert_eq!(settings.max_steal, 1);
    }
}
