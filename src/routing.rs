//! Routing: which destination stream an enriched session goes to (lab step 2.2.8).
//!
//! The rule is the lab's: a country of exactly `USA` goes to the USA stream, every
//! other value to the international one. "Exactly" matters: `usa`, `US` or
//! `"USA "` are international, as they were in the original ETL, which compared
//! strings with `==`.
//!
//! The destinations come from the command line as the lab wrote them, a JSON
//! object: `{"USA": "de-c2w2lab1-usa-data-stream", "International": "de-c2w2lab1-international-data-stream"}`.
//! Anything else is refused at start-up rather than discovered at the first record.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::session::Session;
use crate::stream_name::{StreamName, StreamNameError};

/// The two destinations of the lab's ETL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    Usa,
    International,
}

impl Route {
    /// Both routes, in the order the lab lists them.
    pub const ALL: [Route; 2] = [Route::Usa, Route::International];

    /// Where the ETL sends a session.
    pub fn of(session: &Session) -> Route {
        Route::for_country(&session.country)
    }

    /// Routes by country: exactly `USA` is [`Route::Usa`].
    pub fn for_country(country: &str) -> Route {
        if country == "USA" {
            Route::Usa
        } else {
            Route::International
        }
    }

    /// The key that names this route in the destinations object.
    pub fn key(self) -> &'static str {
        match self {
            Route::Usa => "USA",
            Route::International => "International",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The stream each route writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    pub usa: StreamName,
    pub international: StreamName,
}

impl Destinations {
    pub fn stream_for(&self, route: Route) -> &StreamName {
        match route {
            Route::Usa => &self.usa,
            Route::International => &self.international,
        }
    }
}

impl FromStr for Destinations {
    type Err = DestinationsError;

    /// Parses the lab's `{"USA": "...", "International": "..."}`.
    fn from_str(text: &str) -> Result<Destinations, DestinationsError> {
        let value: Value =
            serde_json::from_str(text).map_err(|err| DestinationsError::NotJson(err.to_string()))?;
        let Value::Object(object) = value else {
            return Err(DestinationsError::NotAnObject);
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| Route::ALL.iter().all(|r| r.key() != *key))
        {
            return Err(DestinationsError::UnknownKey(unknown.clone()));
        }
        let stream = |route: Route| -> Result<StreamName, DestinationsError> {
            match object.get(route.key()) {
                None => Err(DestinationsError::MissingKey(route)),
                Some(Value::String(name)) => name
                    .parse()
                    .map_err(|source| DestinationsError::BadStreamName { route, source }),
                Some(_) => Err(DestinationsError::NotAString(route)),
            }
        };
        Ok(Destinations {
            usa: stream(Route::Usa)?,
            international: stream(Route::International)?,
        })
    }
}

/// Why a destinations object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationsError {
    #[error("the destinations are not valid JSON: {0}")]
    NotJson(String),
    #[error(r#"the destinations must be a JSON object like {{"USA": "stream", "International": "stream"}}"#)]
    NotAnObject,
    #[error(r#"the destinations have no "{0}" key; both "USA" and "International" are needed"#)]
    MissingKey(Route),
    #[error(r#"unknown destination {0:?}; the only keys are "USA" and "International""#)]
    UnknownKey(String),
    #[error(r#"the "{0}" destination must be a stream name in a JSON string"#)]
    NotAString(Route),
    #[error(r#"the "{route}" destination: {source}"#)]
    BadStreamName { route: Route, source: StreamNameError },
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str =
        r#"{"USA": "de-c2w2lab1-usa-data-stream", "International": "de-c2w2lab1-international-data-stream"}"#;

    #[test]
    fn routes_exactly_usa_to_usa() {
        assert_eq!(Route::for_country("USA"), Route::Usa);
        for other in ["usa", "US", "USA ", " USA", "United States", "France", ""] {
            assert_eq!(Route::for_country(other), Route::International, "{other:?}");
        }
    }

    #[test]
    fn parses_the_lab_destinations() {
        let destinations: Destinations = LAB.parse().unwrap();
        assert_eq!(
            destinations.stream_for(Route::Usa).as_str(),
            "de-c2w2lab1-usa-data-stream"
        );
        assert_eq!(
            destinations.stream_for(Route::International).as_str(),
            "de-c2w2lab1-international-data-stream"
        );
    }

    #[test]
    fn refuses_any_other_shape() {
        let parse = |text: &str| text.parse::<Destinations>().unwrap_err();
        assert!(matches!(parse("{USA: 1}"), DestinationsError::NotJson(_)));
        assert_eq!(parse(r#"["a", "b"]"#), DestinationsError::NotAnObject);
        assert_eq!(
            parse(r#"{"USA": "a"}"#),
            DestinationsError::MissingKey(Route::International)
        );
        assert_eq!(
            parse(r#"{"International": "a"}"#),
            DestinationsError::MissingKey(Route::Usa)
        );
        assert_eq!(
            parse(r#"{"USA": "a", "International": "b", "EU": "c"}"#),
            DestinationsError::UnknownKey("EU".into())
        );
        assert_eq!(
            parse(r#"{"usa": "a", "International": "b"}"#),
            DestinationsError::UnknownKey("usa".into())
        );
        assert_eq!(
            parse(r#"{"USA": 1, "International": "b"}"#),
            DestinationsError::NotAString(Route::Usa)
        );
        assert_eq!(
            parse(r#"{"USA": "a", "International": ""}"#),
            DestinationsError::BadStreamName {
                route: Route::International,
                source: StreamNameError::Empty
            }
        );
        let err = parse(r#"{"USA": "usa stream", "International": "b"}"#);
        assert_eq!(
            err.to_string(),
            r#"the "USA" destination: stream name "usa stream" has the character ' '; only letters, digits, '_', '.' and '-' are allowed"#
        );
    }
}
