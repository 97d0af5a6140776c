//! Kinesis data stream names, checked before any request is made.
//!
//! Every program of the lab takes stream names on its command line. Kinesis
//! accepts 1 to 128 characters from `a-z A-Z 0-9 _ . -`; checking that here turns a
//! typo into a message at start-up instead of a `ValidationException` later.

use std::fmt;
use std::str::FromStr;

/// A name Kinesis accepts for a data stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamName(String);

pub const MAX_STREAM_NAME_LEN: usize = 128;

impl StreamName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name the lab builds from its own names and a checked suffix
    /// ([`crate::lab_names`]): valid by how it is made, so it is not parsed
    /// again. Debug builds (the tests) check it all the same.
    pub(crate) fn of_the_lab(name: String) -> StreamName {
        debug_assert!(
            name.parse::<StreamName>().is_ok(),
            "{name:?} is not a valid stream name"
        );
        StreamName(name)
    }
}

impl FromStr for StreamName {
    type Err = StreamNameError;

    fn from_str(name: &str) -> Result<StreamName, StreamNameError> {
        if name.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if name.len() > MAX_STREAM_NAME_LEN {
            return Err(StreamNameError::TooLong { len: name.len() });
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(StreamNameError::BadCharacter {
                name: name.to_owned(),
                bad,
            });
        }
        Ok(StreamName(name.to_owned()))
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a valid stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("a stream name must not be empty")]
    Empty,
    #[error("a stream name has at most {MAX_STREAM_NAME_LEN} characters, this one has {len}")]
    TooLong { len: usize },
    #[error(
        "stream name {name:?} has the character {bad:?}; only letters, digits, '_', '.' and '-' are allowed"
    )]
    BadCharacter { name: String, bad: char },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_lab_names() {
        for name in [
            "de-c2w2lab1-kinesis-data-stream",
            "a",
            "A.b_c-9",
            &"x".repeat(128),
        ] {
            assert_eq!(name.parse::<StreamName>().unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!("".parse::<StreamName>(), Err(StreamNameError::Empty));
        assert_eq!(
            "x".repeat(129).parse::<StreamName>(),
            Err(StreamNameError::TooLong { len: 129 })
        );
        let err = "usa stream".parse::<StreamName>().unwrap_err();
        assert_eq!(
            err,
            StreamNameError::BadCharacter {
                name: "usa stream".into(),
                bad: ' '
            }
        );
        assert!(matches!(
            "naïve".parse::<StreamName>(),
            Err(StreamNameError::BadCharacter { bad: 'ï', .. })
        ));
        assert!(matches!(
            "arn:aws:kinesis".parse::<StreamName>(),
            Err(StreamNameError::BadCharacter { bad: ':', .. })
        ));
    }
}
