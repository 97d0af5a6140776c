//! What the generator draws from: the countries and cities of the ClassicModels
//! sample database, which the lab's hidden producer used, weighted as they
//! appeared in the lab's real run, and a catalogue of ClassicModels-style product
//! codes.

use std::sync::LazyLock;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A country, its weight in the draw, and the cities a session from it can have.
pub struct Country {
    pub name: &'static str,
    /// Relative weight; the table adds up to about 1000, so a weight reads as a
    /// share in tenths of a percent (USA 250: about 25% of the sessions).
    pub weight: u32,
    pub cities: &'static [&'static str],
}

/// The countries of the lab's real run of 151 sessions, with their shares.
#[rustfmt::skip]
pub const COUNTRIES: &[Country] = &[
    Country { name: "USA", weight: 250, cities: &[
        "Allentown", "Boston", "Brickhaven", "Bridgewater", "Brisbane", "Burlingame", "Cambridge",
        "Glendale", "Las Vegas", "Los Angeles", "NYC", "Nashua", "New Bedford", "New Haven", "Newark",
        "Pasadena", "Philadelphia", "San Diego", "San Francisco", "San Rafael", "White Plains",
    ] },
    Country { name: "France", weight: 110, cities: &["Lille", "Lyon", "Marseille", "Reims", "Strasbourg", "Versailles"] },
    Country { name: "Germany", weight: 90, cities: &["Aachen", "Berlin", "Frankfurt", "Köln", "Mannheim", "Münster", "Stuttgart"] },
    Country { name: "Italy", weight: 80, cities: &["Bergamo", "Milan", "Reggio Emilia", "Torino"] },
    Country { name: "Australia", weight: 50, cities: &["Chatswood", "Glen Waverly", "North Sydney"] },
    Country { name: "Sweden", weight: 40, cities: &["Bräcke", "Luleå"] },
    Country { name: "Norway", weight: 40, cities: &["Bergen", "Oslo", "Stavern"] },
    Country { name: "Finland", weight: 30, cities: &["Espoo", "Helsinki", "Oulu"] },
    Country { name: "New Zealand", weight: 30, cities: &["Auckland"] },
    Country { name: "Hong Kong", weight: 30, cities: &["Central Hong Kong"] },
    Country { name: "Belgium", weight: 30, cities: &["Bruxelles", "Charleroi"] },
    Country { name: "Denmark", weight: 30, cities: &["Kobenhavn", "Århus"] },
    Country { name: "Canada", weight: 20, cities: &["Montréal", "Vancouver"] },
    Country { name: "UK", weight: 20, cities: &["Cowes", "Manchester"] },
    Country { name: "Poland", weight: 20, cities: &["Warszawa"] },
    Country { name: "Philippines", weight: 20, cities: &["Makati City"] },
    Country { name: "Switzerland", weight: 20, cities: &["Bern", "Genève"] },
    Country { name: "Spain", weight: 20, cities: &["Barcelona", "Madrid", "Sevilla"] },
    Country { name: "South Africa", weight: 13, cities: &["Hatfield"] },
    Country { name: "Singapore", weight: 13, cities: &["Singapore"] },
    Country { name: "Portugal", weight: 13, cities: &["Lisboa"] },
    Country { name: "Japan", weight: 13, cities: &["Kita-ku", "Minato-ku"] },
    Country { name: "Ireland", weight: 7, cities: &["Dublin"] },
    Country { name: "Austria", weight: 7, cities: &["Graz"] },
    Country { name: "Israel", weight: 7, cities: &["Herzlia"] },
    Country { name: "Russia", weight: 7, cities: &["Saint Petersburg"] },
];

/// ClassicModels codes name a model's scale and a number: `S18_1097` is a 1:18
/// model. These are codes the lab's run showed; the rest of the catalogue is
/// made up in the same style.
const SEEN_IN_THE_LAB: &[&str] = &[
    "S10_1678",
    "S10_1949",
    "S12_1099",
    "S12_3148",
    "S18_1097",
    "S18_2238",
    "S18_3232",
    "S24_1444",
    "S24_3969",
    "S32_3207",
    "S50_1392",
    "S700_2824",
    "S72_1253",
];

/// How many products of each scale the ClassicModels catalogue has: 110 in all,
/// most of them 1:18 and 1:24 models.
const SCALES: &[(&str, usize)] = &[
    ("S10", 6),
    ("S12", 9),
    ("S18", 42),
    ("S24", 27),
    ("S32", 8),
    ("S50", 5),
    ("S700", 10),
    ("S72", 3),
];

/// The product catalogue, sorted: the same 110 codes whatever the generator's seed,
/// like a real shop whose customers change but whose products do not.
pub static PRODUCT_CODES: LazyLock<Vec<String>> = LazyLock::new(|| {
    // A fixed seed of its own, so that the catalogue never depends on the seed of
    // a generator run.
    let mut rng = ChaCha8Rng::seed_from_u64(0xC1A5_51C0);
    let mut codes: Vec<String> = SEEN_IN_THE_LAB.iter().map(|code| code.to_string()).collect();
    for &(scale, count) in SCALES {
        let prefix = format!("{scale}_");
        let mut have = codes.iter().filter(|code| code.starts_with(&prefix)).count();
        while have < count {
            let code = format!("{prefix}{}", rng.random_range(1000..5000u32));
            if !codes.contains(&code) {
                codes.push(code);
                have += 1;
            }
        }
    }
    codes.sort();
    codes
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_110_distinct_codes_including_the_labs() {
        let codes = &*PRODUCT_CODES;
        assert_eq!(codes.len(), 110);
        let mut distinct = codes.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 110);
        for seen in SEEN_IN_THE_LAB {
            assert!(codes.iter().any(|code| code == seen), "{seen} is missing");
        }
        for code in codes {
            let (scale, number) = code.split_once('_').unwrap();
            assert!(SCALES.iter().any(|(s, _)| *s == scale), "{code}");
            assert!(
                number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()),
                "{code}"
            );
        }
    }

    #[test]
    fn every_country_has_a_city_and_a_weight() {
        for country in COUNTRIES {
            assert!(
                !country.cities.is_empty() && country.weight > 0,
                "{}",
                country.name
            );
        }
        let total: u32 = COUNTRIES.iter().map(|c| c.weight).sum();
        assert!((990..=1010).contains(&total), "{total}");
    }
}
