//! The metrics: one series per namespace, name and set of dimensions, each a
//! summary (count, sum, minimum, maximum) per minute, as CloudWatch keeps
//! standard-resolution data. The statistics are computed from these at read
//! time, so any period that is a multiple of a minute can be asked for.
//!
//! Kept in memory for [`KEPT_MINUTES`]: a restart starts with no history
//! (AWS keeps one-minute data for 15 days; the lab looks at the last hour).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// How long a minute's summary is kept: the last 3 hours, and one more.
pub const KEPT_MINUTES: i64 = 4 * 60;

/// What names a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    /// (Name, Value), sorted by name: CloudWatch tells series apart by the set.
    pub dimensions: Vec<(String, String)>,
}

/// The values of one minute (or of a period, once minutes are added up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn one(value: f64) -> Summary {
        Summary {
            count: 1.0,
            sum: value,
            min: value,
            max: value,
        }
    }

    pub fn add(&mut self, other: &Summary) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// One of AWS's statistics, by the name requests use.
    pub fn statistic(&self, name: &str) -> Option<f64> {
        Some(match name {
            "SampleCount" => self.count,
            "Sum" => self.sum,
            "Average" => self.sum / self.count,
            "Minimum" => self.min,
            "Maximum" => self.max,
            _ => return None,
        })
    }
}

/// One series: its unit, and its minutes (seconds since the epoch of each
/// minute's start).
#[derive(Debug, Default)]
pub struct Series {
    pub unit: Option<String>,
    pub minutes: BTreeMap<i64, Summary>,
}

#[derive(Debug, Default)]
pub struct Store {
    series: Mutex<BTreeMap<MetricId, Series>>,
}

impl Store {
    /// Adds a summary at `at` (seconds since the epoch), and forgets what is
    /// older than [`KEPT_MINUTES`] before `now`.
    pub fn add(&self, id: MetricId, unit: Option<&str>, at: i64, summary: Summary, now: i64) {
        let mut all = self.series.lock().expect("the metrics lock is never poisoned");
        let series = all.entry(id).or_default();
        if let Some(unit) = unit.filter(|u| *u != "None") {
            series.unit = Some(unit.to_owned());
        }
        let minute = at - at.rem_euclid(60);
        series
            .minutes
            .entry(minute)
            .and_modify(|kept| kept.add(&summary))
            .or_insert(summary);
        let oldest = now - KEPT_MINUTES * 60;
        while series.minutes.first_key_value().is_some_and(|(m, _)| *m < oldest) {
            series.minutes.pop_first();
        }
    }

    /// Every series, with its unit, that `keep` takes.
    pub fn ids(&self, keep: impl Fn(&MetricId, &Series) -> bool) -> Vec<MetricId> {
        let all = self.series.lock().expect("the metrics lock is never poisoned");
        all.iter()
            .filter(|(id, s)| keep(id, s))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A series' data in `[start, end)`, added up per period of `period`
    /// seconds from `start`: (period start, summary), periods with no data left out.
    pub fn periods(
        &self,
        id: &MetricId,
        start: i64,
        end: i64,
        period: i64,
    ) -> (Option<String>, Vec<(i64, Summary)>) {
        let all = self.series.lock().expect("the metrics lock is never poisoned");
        let Some(series) = all.get(id) else {
            return (None, Vec::new());
        };
        let mut periods: BTreeMap<i64, Summary> = BTreeMap::new();
        for (minute, summary) in series.minutes.range(start..end) {
            let slot = start + (minute - start) / period * period;
            periods
                .entry(slot)
                .and_modify(|kept| kept.add(summary))
                .or_insert(*summary);
        }
        (series.unit.clone(), periods.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> MetricId {
        MetricId {
            namespace: "N".into(),
            name: "m".into(),
            dimensions: vec![],
        }
    }

    #[test]
    fn minutes_add_up_into_periods_and_old_ones_are_forgotten() {
        let store = Store::default();
        let now = 1_000_000 * 60;
        store.add(id(), Some("Count"), now - 125, Summary::one(2.0), now);
        store.add(id(), None, now - 110, Summary::one(4.0), now);
        store.add(id(), None, now - 10, Summary::one(9.0), now);
        let (unit, periods) = store.periods(&id(), now - 180, now + 60, 120);
        assert_eq!(unit.as_deref(), Some("Count"));
        assert_eq!(periods.len(), 2);
        let first = periods[0].1;
        assert_eq!(
            (first.count, first.sum, first.min, first.max),
            (2.0, 6.0, 2.0, 4.0)
        );
        assert_eq!(first.statistic("Average"), Some(3.0));
        assert_eq!(periods[1].1.sum, 9.0);
        store.add(
            id(),
            None,
            now + KEPT_MINUTES * 60,
            Summary::one(1.0),
            now + KEPT_MINUTES * 60,
        );
        let (_, periods) = store.periods(&id(), 0, i64::MAX, 60);
        assert_eq!(periods.len(), 1);
    }
}
