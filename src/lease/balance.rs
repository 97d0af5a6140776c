//! Which leases a worker takes and steals, as the KCL's lease taker decides
//! it: a pure function of the table and of what the worker has seen change.
//!
//! - **Expired**: a lease nobody holds, or whose `leaseCounter` this worker
//!   has not seen move for the failover time. Each worker times that with its
//!   own clock, from its own looks at the table ([`Observer`]), so workers'
//!   clocks never have to agree; a worker that has just started gives every
//!   held lease a full failover time before it counts it as expired.
//! - **Ready**: a lease whose shard has not ended, and whose parents (those
//!   the table holds) have all ended: children wait for their parents.
//! - **The share**: the ready leases divided by the workers that hold one
//!   (and this one), rounded up. A worker below its share takes expired ready
//!   leases, in a random order so that workers starting together do not all
//!   race for the same one; when there are none, it steals from the worker
//!   that holds the most, at most `max_steal` at a time, and only from one
//!   above the share (or at it, when this worker is two or more below).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::Lease;

/// What a worker has seen of each lease: its counter, and when it saw the
/// counter change.
#[derive(Debug, Default)]
pub struct Observer {
    seen: HashMap<String, (u64, Instant)>,
}

impl Observer {
    /// Notes the leases as read at `now`; the keys of those that are expired.
    pub fn observe(&mut self, leases: &[Lease], now: Instant, failover: Duration) -> HashSet<String> {
        let mut expired = HashSet::new();
        for lease in leases {
            let since = match self.seen.get(&lease.key) {
                Some(&(counter, since)) if counter == lease.counter => since,
                _ => now,
            };
            self.seen.insert(lease.key.clone(), (lease.counter, since));
            if lease.owner.is_none() || now.duration_since(since) > failover {
                expired.insert(lease.key.clone());
            }
        }
        let keys: HashSet<&str> = leases.iter().map(|lease| lease.key.as_str()).collect();
        self.seen.retain(|key, _| keys.contains(key.as_str()));
        expired
    }
}

/// What one look at the table decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Expired leases to take.
    pub take: Vec<String>,
    /// Leases to steal from the worker that holds the most.
    pub steal: Vec<String>,
}

/// Whether a lease may be read now: not ended, its parents ended.
pub fn is_ready(lease: &Lease, finished: &HashSet<&str>, known: &HashSet<&str>) -> bool {
    !lease.is_finished()
        && lease
            .parents
            .iter()
            .all(|parent| finished.contains(parent.as_str()) || !known.contains(parent.as_str()))
}

/// The leases `me` should take and steal now. `order` puts the candidates in
/// the order they are tried (a shuffle, or the identity in tests).
pub fn decide(
    leases: &[Lease],
    me: &str,
    expired: &HashSet<String>,
    max_steal: usize,
    mut order: impl FnMut(&mut Vec<String>),
) -> Decision {
    let finished: HashSet<&str> = leases
        .iter()
        .filter(|l| l.is_finished())
        .map(|l| l.key.as_str())
        .collect();
    let known: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    let ready: Vec<&Lease> = leases.iter().filter(|l| is_ready(l, &finished, &known)).collect();
    if ready.is_empty() {
        return Decision::default();
    }
    // Who holds what, of the leases that are alive.
    let mut held: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    held.entry(me).or_default();
    for lease in &ready {
        if let Some(owner) = lease.owner.as_deref()
            && !expired.contains(&lease.key)
        {
            held.entry(owner).or_default().push(&lease.key);
        }
    }
    let share = ready.len().div_ceil(held.len());
    let mine = held[me].len();
    let need = share.saturating_sub(mine);
    if need == 0 {
        return Decision::default();
    }
    let mut candidates: Vec<String> = ready
        .iter()
        .filter(|lease| expired.contains(&lease.key))
        .map(|lease| lease.key.clone())
        .collect();
    if !candidates.is_empty() {
        order(&mut candidates);
        candidates.truncate(need);
        return Decision {
            take: candidates,
            steal: Vec::new(),
        };
    }
    // Nothing free: steal from the worker that holds the most (the first by
    // name among equals, so that workers agree on it).
    let Some((_, most)) = held
        .iter()
        .filter(|(owner, _)| **owner != me)
        .max_by(|(a_owner, a), (b_owner, b)| a.len().cmp(&b.len()).then(b_owner.cmp(a_owner)))
    else {
        return Decision::default();
    };
    if most.len() > share || (need >= 2 && most.len() == share) {
        let mut victims: Vec<String> = most.iter().map(|key| (*key).to_owned()).collect();
        order(&mut victims);
        victims.truncate(need.min(max_steal));
        return Decision {
            take: Vec::new(),
            steal: victims,
        };
    }
    Decision::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseCheckpoint;

    fn lease(key: &str, owner: Option<&str>) -> Lease {
        let mut lease = Lease::new(key, Vec::new(), LeaseCheckpoint::TrimHorizon);
        lease.owner = owner.map(str::to_owned);
        lease
    }

    fn shards(n: usize) -> Vec<Lease> {
        (0..n).map(|i| lease(&format!("shardId-{i:012}"), None)).collect()
    }

    fn none(_: &mut Vec<String>) {}

    fn expired_of(leases: &[Lease]) -> HashSet<String> {
        leases
            .iter()
            .filter(|l| l.owner.is_none())
            .map(|l| l.key.clone())
            .collect()
    }

    #[test]
    fn a_lone_worker_takes_every_free_lease() {
        let leases = shards(8);
        let decision = decide(&leases, "a", &expired_of(&leases), 1, none);
        assert_eq!(decision.take.len(), 8);
        assert!(decision.steal.is_empty());
    }

    /// Three workers looking in turn, each writing what it decided, end with
    /// 8 leases shared 3, 3 and 2, a lease stolen at a time.
    #[test]
    fn three_workers_share_eight_leases_two_or_three_each() {
        let mut leases = shards(8);
        // a started first and took everything.
        for lease in &mut leases {
            lease.owner = Some("a".into());
        }
        for _ in 0..10 {
            for me in ["b", "c", "a"] {
                let decision = decide(&leases, me, &HashSet::new(), 1, none);
                for key in decision.take.iter().chain(&decision.steal) {
                    let lease = leases.iter_mut().find(|l| &l.key == key).unwrap();
                    lease.owner = Some(me.into());
                }
            }
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for lease in &leases {
            *counts.entry(lease.owner.clone().unwrap()).or_default() += 1;
        }
        let mut shares: Vec<usize> = counts.values().copied().collect();
        shares.sort();
        assert_eq!(shares, [2, 3, 3], "{counts:?}");
    }

    #[test]
    fn a_steal_takes_at_most_max_steal_from_the_worker_above_its_share() {
        let mut leases = shards(6);
        for lease in &mut leases {
            lease.owner = Some("a".into());
        }
        let decision = decide(&leases, "b", &HashSet::new(), 1, none);
        assert_eq!(decision.steal.len(), 1);
        let decision = decide(&leases, "b", &HashSet::new(), 2, none);
        assert_eq!(decision.steal.len(), 2);
        // At its share, nothing is stolen from it.
        leases[0].owner = Some("b".into());
        leases[1].owner = Some("b".into());
        leases[2].owner = Some("b".into());
        assert_eq!(
            decide(&leases, "b", &HashSet::new(), 1, none),
            Decision::default()
        );
    }

    #[test]
    fn expired_leases_are_taken_before_anything_is_stolen() {
        let mut leases = shards(4);
        for (lease, owner) in leases.iter_mut().zip(["a", "a", "gone", "gone"]) {
            lease.owner = Some(owner.into());
        }
        let expired: HashSet<String> = leases[2..].iter().map(|l| l.key.clone()).collect();
        let decision = decide(&leases, "b", &expired, 1, none);
        assert_eq!(decision.take, [leases[2].key.clone(), leases[3].key.clone()]);
        assert!(decision.steal.is_empty());
    }

    #[test]
    fn children_wait_until_every_parent_has_ended() {
        let mut parent = lease("shardId-000000000000", Some("a"));
        let mut child = lease("shardId-000000000001", None);
        child.parents = vec![parent.key.clone()];
        let orphan = {
            let mut orphan = lease("shardId-000000000002", None);
            // Its parent is past retention: not in the table, not waited for.
            orphan.parents = vec!["shardId-000000000099".into()];
            orphan
        };
        let leases = vec![parent.clone(), child.clone(), orphan.clone()];
        let decision = decide(&leases, "b", &expired_of(&leases), 1, none);
        assert_eq!(
            decision.take,
            vec![orphan.key.clone()],
            "the child waits for its parent"
        );

        parent.checkpoint = LeaseCheckpoint::ShardEnd;
        let leases = vec![parent, child.clone(), orphan];
        let decision = decide(&leases, "b", &expired_of(&leases), 1, none);
        assert!(decision.take.contains(&child.key), "{decision:?}");
    }

    #[test]
    fn a_lease_expires_after_its_counter_stands_still_for_the_failover_time() {
        let failover = Duration::from_secs(10);
        let start = Instant::now();
        let mut observer = Observer::default();
        let mut held = lease("shardId-000000000000", Some("a"));
        let free = lease("shardId-000000000001", None);
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        // A worker that has just started waits a whole failover time.
        let seen = observer.observe(&[held.clone(), free.clone()], at(0), failover);
        assert_eq!(seen, HashSet::from([free.key.clone()]));
        assert!(observer.observe(&[held.clone()], at(9), failover).is_empty());
        // Renewed: the wait starts again.
        held.counter += 1;
        assert!(observer.observe(&[held.clone()], at(15), failover).is_empty());
        assert!(observer.observe(&[held.clone()], at(24), failover).is_empty());
        assert_eq!(
            observer.observe(&[held.clone()], at(26), failover),
            HashSet::from([held.key.clone()])
        );
    }
}
