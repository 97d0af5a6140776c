//! The session generator: the lab's hidden source producer, rebuilt.
//!
//! In part 2 of the lab a producer we never see puts user sessions on
//! `de-c2w2lab1-kinesis-data-stream`, one every 10 seconds or so. This module makes
//! sessions that look like the ones it sent (the distributions are those of the
//! lab's real run of 151 sessions) and the arrival times between them.
//!
//! Everything is seeded. The same seed gives byte-identical sessions on every
//! machine: the random numbers come from ChaCha8, whose output is specified, and
//! no step uses floating-point functions whose last bit may differ between
//! platforms' maths libraries. That is what lets `fixtures/` be regenerated and
//! checked, and a failing test be replayed.
//!
//! | field | drawn as |
//! |---|---|
//! | `session_id` | a UUID v4 |
//! | `customer_number` | an integer from 103 to 499 |
//! | `city`, `country` | a country by its share of the lab's run (USA about 25%), then one of its cities |
//! | `credit_limit` | about normal: mean 80,000, standard deviation 32,000, so rarely negative |
//! | `browse_history` | 1 to 5 items, equally likely |
//! | `product_code` | one of 110 ClassicModels-style codes; about 5% of sessions repeat one |
//! | `quantity` | a string, `"1"` to `"10"`, as the lab's producer sent it |
//! | `in_shopping_cart` | true half of the time |

mod catalogue;

use std::time::Duration;

use fake::Fake;
use fake::faker::boolean::en::Boolean;
use fake::uuid::UUIDv4;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

pub use catalogue::{COUNTRIES, Country, PRODUCT_CODES};

/// Mean of the credit limits in the lab's run.
pub const CREDIT_LIMIT_MEAN: f64 = 80_000.0;
/// Standard deviation of the credit limits in the lab's run.
pub const CREDIT_LIMIT_SPREAD: f64 = 32_000.0;
/// The share of sessions with at least two items that repeat a product code. The
/// lab's run had 6 of 151 sessions (4%) repeat one; we aim at 5% of all sessions,
/// and 80% of sessions have two items or more.
const REPEAT_ONE_IN: u32 = 16;

/// An endless, seeded source of lab sessions.
pub struct SessionGenerator {
    rng: ChaCha8Rng,
    countries: WeightedIndex<u32>,
}

impl SessionGenerator {
    pub fn new(seed: u64) -> SessionGenerator {
        SessionGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            countries: WeightedIndex::new(COUNTRIES.iter().map(|c| c.weight))
                .expect("the country table has positive weights"),
        }
    }

    /// The next session, as the JSON object the producer puts on the stream, with
    /// the keys in the lab's order.
    pub fn session(&mut self) -> Map<String, Value> {
        let rng = &mut self.rng;
        let session_id: String = UUIDv4.fake_with_rng(rng);
        let customer_number: u32 = (103..=499).fake_with_rng(rng);
        let country = &COUNTRIES[self.countries.sample(rng)];
        let city = *country.cities.choose(rng).expect("every country has a city");
        let credit_limit = credit_limit(rng);

        let items: usize = (1..=5).fake_with_rng(rng);
        let mut codes: Vec<&str> = rand::seq::index::sample(rng, PRODUCT_CODES.len(), items)
            .into_iter()
            .map(|index| PRODUCT_CODES[index].as_str())
            .collect();
        if items >= 2 && rng.random_ratio(1, REPEAT_ONE_IN) {
            let earlier = rng.random_range(0..items - 1);
            codes[items - 1] = codes[earlier];
        }
        let browse_history: Vec<Value> = codes
            .into_iter()
            .map(|code| {
                let quantity: u32 = (1..=10).fake_with_rng(rng);
                let in_cart: bool = Boolean(50).fake_with_rng(rng);
                json!({"product_code": code, "quantity": quantity.to_string(), "in_shopping_cart": in_cart})
            })
            .collect();

        let mut record = Map::new();
        record.insert("session_id".into(), session_id.into());
        record.insert("customer_number".into(), customer_number.into());
        record.insert("city".into(), city.into());
        record.insert("country".into(), country.name.into());
        record.insert("credit_limit".into(), credit_limit.into());
        record.insert("browse_history".into(), browse_history.into());
        record
    }
}

impl Iterator for SessionGenerator {
    type Item = Map<String, Value>;

    fn next(&mut self) -> Option<Map<String, Value>> {
        Some(self.session())
    }
}

/// An approximately normal credit limit. The sum of twelve uniform numbers minus
/// six has mean 0 and variance 1 (the Irwin-Hall distribution); unlike the usual
/// samplers it needs no `ln` or `exp`, only additions, which IEEE 754 makes exact
/// to the bit on every platform. It also never strays past six standard
/// deviations, which suits a credit limit.
fn credit_limit(rng: &mut ChaCha8Rng) -> i64 {
    let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
    (CREDIT_LIMIT_MEAN + CREDIT_LIMIT_SPREAD * z).round() as i64
}

/// The gaps between arrivals of a Poisson process: independent, exponentially
/// distributed, with a given mean. That is how sessions arrive at a web shop, and
/// how the lab's producer spaced them (about 10 s apart on average).
pub struct ArrivalSchedule {
    rng: ChaCha8Rng,
    mean: Duration,
}

/// The lab's producer sent a session about every 10 seconds.
pub const DEFAULT_MEAN_GAP: Duration = Duration::from_secs(10);

impl ArrivalSchedule {
    /// A schedule with the given mean gap; a mean of zero gives no gaps at all.
    pub fn new(seed: u64, mean: Duration) -> ArrivalSchedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // A stream of its own, so that the sessions of a seed are the same whatever
        // the pacing.
        rng.set_stream(1);
        ArrivalSchedule { rng, mean }
    }

    pub fn mean(&self) -> Duration {
        self.mean
    }

    /// The time to wait before the next arrival.
    pub fn next_gap(&mut self) -> Duration {
        if self.mean.is_zero() {
            return Duration::ZERO;
        }
        // Inverse transform sampling: for u uniform in [0, 1), -ln(1 - u) is
        // exponential with mean 1. 1 - u is never 0, so the logarithm is finite.
        let u: f64 = self.rng.random();
        self.mean.mul_f64(-(1.0 - u).ln())
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_gap())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::session::Session;

    const N: usize = 20_000;

    fn sample() -> Vec<Session> {
        SessionGenerator::new(7)
            .take(N)
            .map(|record| Session::from_record(record).expect("generated sessions are valid"))
            .collect()
    }

    fn share(count: usize) -> f64 {
        count as f64 / N as f64
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let text =
            |seed| serde_json::to_string(&SessionGenerator::new(seed).take(50).collect::<Vec<_>>()).unwrap();
        assert_eq!(text(1), text(1));
        assert_ne!(text(1), text(2));
    }

    #[test]
    fn keys_come_in_the_labs_order() {
        let record = SessionGenerator::new(3).session();
        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "session_id",
                "customer_number",
                "city",
                "country",
                "credit_limit",
                "browse_history"
            ]
        );
        let item = record["browse_history"][0].as_object().unwrap();
        let keys: Vec<&str> = item.keys().map(String::as_str).collect();
        assert_eq!(keys, ["product_code", "quantity", "in_shopping_cart"]);
        assert!(item["quantity"].is_string());
    }

    #[test]
    fn session_ids_are_distinct_uuid_v4() {
        let sessions = sample();
        let ids: HashSet<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(ids.len(), N);
        for id in ids.iter().take(100) {
            let bytes = id.as_bytes();
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(bytes[14], b'4', "version nibble of {id}");
            assert!(b"89ab".contains(&bytes[19]), "variant of {id}");
        }
    }

    #[test]
    fn numbers_follow_the_labs_run() {
        let sessions = sample();
        assert!(sessions.iter().all(|s| (103..=499).contains(&s.customer_number)));
        let customers: HashSet<u64> = sessions.iter().map(|s| s.customer_number).collect();
        assert_eq!(
            customers.len(),
            397,
            "every customer number from 103 to 499 shows up"
        );

        let limits: Vec<f64> = sessions.iter().map(|s| s.credit_limit as f64).collect();
        let mean = limits.iter().sum::<f64>() / N as f64;
        let spread = (limits.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / N as f64).sqrt();
        assert!((78_000.0..82_000.0).contains(&mean), "mean {mean}");
        assert!((30_000.0..34_000.0).contains(&spread), "spread {spread}");
        let negative = share(sessions.iter().filter(|s| s.credit_limit < 0).count());
        assert!(negative > 0.0 && negative < 0.02, "negative share {negative}");
    }

    #[test]
    fn browse_histories_follow_the_labs_run() {
        let sessions = sample();
        let mut lengths = [0usize; 6];
        let (mut items, mut in_cart) = (0, 0);
        let mut quantities = HashMap::new();
        let mut codes = HashSet::new();
        for session in &sessions {
            lengths[session.browse_history.len()] += 1;
            for item in &session.browse_history {
                items += 1;
                in_cart += usize::from(item.in_shopping_cart);
                *quantities.entry(item.quantity).or_insert(0usize) += 1;
                codes.insert(item.product_code.clone());
            }
        }
        assert_eq!(lengths[0], 0);
        for (len, &count) in lengths.iter().enumerate().skip(1) {
            assert!((0.18..0.22).contains(&share(count)), "{len} items: {count}");
        }
        let cart = in_cart as f64 / items as f64;
        assert!((0.48..0.52).contains(&cart), "in cart {cart}");
        let mut seen: Vec<u32> = quantities.keys().copied().collect();
        seen.sort();
        assert_eq!(seen, (1..=10).collect::<Vec<_>>());
        for (quantity, count) in quantities {
            let q = count as f64 / items as f64;
            assert!((0.09..0.11).contains(&q), "quantity {quantity}: {q}");
        }
        assert_eq!(codes.len(), PRODUCT_CODES.len());

        let repeating = sessions
            .iter()
            .filter(|s| {
                let distinct: HashSet<&str> =
                    s.browse_history.iter().map(|i| i.product_code.as_str()).collect();
                distinct.len() < s.browse_history.len()
            })
            .count();
        assert!((0.04..0.06).contains(&share(repeating)), "repeating {repeating}");
    }

    #[test]
    fn countries_and_cities_follow_the_labs_run() {
        let sessions = sample();
        let mut per_country: HashMap<&str, usize> = HashMap::new();
        for session in &sessions {
            *per_country.entry(session.country.as_str()).or_default() += 1;
            let country = COUNTRIES.iter().find(|c| c.name == session.country).unwrap();
            assert!(
                country.cities.contains(&session.city.as_str()),
                "{} in {}",
                session.city,
                session.country
            );
        }
        assert_eq!(per_country.len(), COUNTRIES.len());
        let usa = share(per_country["USA"]);
        assert!((0.23..0.27).contains(&usa), "USA {usa}");
        let france = share(per_country["France"]);
        assert!((0.095..0.125).contains(&france), "France {france}");
    }

    #[test]
    fn gaps_are_exponential_with_the_given_mean() {
        let gaps: Vec<f64> = ArrivalSchedule::new(5, DEFAULT_MEAN_GAP)
            .take(N)
            .map(|g| g.as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / N as f64;
        assert!((9.7..10.3).contains(&mean), "mean {mean}");
        // For an exponential distribution, P(gap > mean) = 1/e, about 0.368.
        let over = share(gaps.iter().filter(|&&g| g > 10.0).count());
        assert!((0.35..0.39).contains(&over), "over the mean {over}");
        assert!(gaps.iter().all(|g| g.is_finite() && *g >= 0.0));
    }

    #[test]
    fn zero_mean_means_no_gaps() {
        assert!(
            ArrivalSchedule::new(5, Duration::ZERO)
                .take(100)
                .all(|g| g.is_zero())
        );
    }
}
