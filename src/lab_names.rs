//! The lab's resource names and settings (steps 1.1 and 2.1.1 to 2.1.4), as
//! pure values: nothing here talks to AWS.
//!
//! | resource | name |
//! |---|---|
//! | part 1's stream | `de-c2w2lab1-kinesis-data-stream-cli` |
//! | source stream, 4 shards | `de-c2w2lab1-kinesis-data-stream` |
//! | USA stream, 2 shards | `de-c2w2lab1-usa-data-stream` |
//! | international stream, 2 shards | `de-c2w2lab1-international-data-stream` |
//! | buckets | `de-c2w2lab1-<account>-usa`, `de-c2w2lab1-<account>-int` |
//! | Firehose delivery streams | `de-c2w2lab1-firehose-usa`, `de-c2w2lab1-firehose-international` |
//!
//! [`LabNames`] can add a suffix to every name, so that copies of the lab can
//! live side by side on one target. [`crate::infra`] creates what these name.

use crate::routing::{Destinations, Route};
use crate::stream_name::StreamName;

pub const SOURCE_STREAM: &str = "de-c2w2lab1-kinesis-data-stream";
/// The source stream of the lab's run had 4 shards.
pub const SOURCE_SHARDS: i32 = 4;
/// Each destination stream has 2 shards.
pub const DESTINATION_SHARDS: i32 = 2;
/// Part 1's stream, made with all defaults in the console.
pub const CLI_STREAM: &str = "de-c2w2lab1-kinesis-data-stream-cli";
/// The lab's Firehose buffering: 1 MB or 60 s.
pub const BUFFER_SIZE_MB: i32 = 1;
pub const DEFAULT_BUFFER_INTERVAL: i32 = 60;

/// The names of the lab's part 2 resources in one account.
///
/// The lab's own names have no suffix. A suffix (`-<suffix>` at the end of
/// every name) lets several copies of the lab share one target: the end-to-end
/// tests against one LocalStack, or two learners in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNames {
    account: String,
    /// Empty, or `-` and the suffix.
    suffix: String,
}

/// Bucket names stop at 63 characters; the longest lab bucket name takes 28.
const MAX_SUFFIX: usize = 24;

impl LabNames {
    /// The lab's names, exactly.
    pub fn new(account: &str) -> LabNames {
        LabNames {
            account: account.to_owned(),
            suffix: String::new(),
        }
    }

    /// The lab's names with `-<suffix>` appended. Buckets allow the fewest
    /// characters, so the suffix is what a bucket name allows: lowercase
    /// letters, digits and hyphens.
    pub fn with_suffix(account: &str, suffix: &str) -> Result<LabNames, InvalidSuffix> {
        check_suffix(suffix)?;
        Ok(LabNames {
            account: account.to_owned(),
            suffix: format!("-{suffix}"),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn source_stream(&self) -> StreamName {
        StreamName::of_the_lab(format!("{SOURCE_STREAM}{}", self.suffix))
    }

    /// Both routes, USA first.
    pub fn routes(&self) -> [RouteResources; 2] {
        Route::ALL.map(|route| RouteResources::new(route, &self.account, &self.suffix))
    }

    /// The ETL's destinations: each route's stream.
    pub fn destinations(&self) -> Destinations {
        let [usa, international] = self.routes().map(|r| r.stream);
        Destinations { usa, international }
    }

    /// The lease table of the ETL's workers (`lab part2 --workers N`, `etl
    /// --lease-table`): not part of the original lab, which runs one ETL.
    pub fn lease_table(&self) -> String {
        format!("de-c2w2lab1-etl-leases{}", self.suffix)
    }

    /// The role the lab's Firehose delivery streams assume (the lab made it).
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/de-c2w2lab1-firehose-role", self.account)
    }
}

/// A name suffix that cannot go into a bucket name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid name suffix {suffix:?}: use 1 to {MAX_SUFFIX} lowercase letters, digits and hyphens, not \
     starting or ending with a hyphen (it goes into bucket names)"
)]
pub struct InvalidSuffix {
    pub suffix: String,
}

/// Checks a name suffix: what a bucket name allows (lowercase letters, digits
/// and hyphens), short enough for the longest bucket name.
pub fn check_suffix(suffix: &str) -> Result<String, InvalidSuffix> {
    let fits = !suffix.is_empty()
        && suffix.len() <= MAX_SUFFIX
        && !suffix.starts_with('-')
        && !suffix.ends_with('-')
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if fits {
        Ok(suffix.to_owned())
    } else {
        Err(InvalidSuffix {
            suffix: suffix.to_owned(),
        })
    }
}

/// Everything the lab names after one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteResources {
    pub route: Route,
    pub stream: StreamName,
    pub bucket: String,
    pub firehose: String,
    pub log_group: String,
    pub log_stream: String,
}

impl RouteResources {
    fn new(route: Route, account: &str, suffix: &str) -> RouteResources {
        // The lab's text calls the bucket "-international"; its code, which ran,
        // says "-int".
        let (word, bucket_suffix) = match route {
            Route::Usa => ("usa", "usa"),
            Route::International => ("international", "int"),
        };
        RouteResources {
            route,
            stream: StreamName::of_the_lab(format!("de-c2w2lab1-{word}-data-stream{suffix}")),
            bucket: format!("de-c2w2lab1-{account}-{bucket_suffix}{suffix}"),
            firehose: format!("de-c2w2lab1-firehose-{word}{suffix}"),
            log_group: format!("de-c2w2lab1-firehose-{word}-log-group{suffix}"),
            log_stream: format!("de-c2w2lab1-{word}-firehose-log-stream{suffix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_suffix_the_names_are_the_lab_s() {
        let names = LabNames::new("123456789012");
        assert_eq!(names.source_stream().as_str(), "de-c2w2lab1-kinesis-data-stream");
        let [usa, international] = names.routes();
        assert_eq!(usa.stream.as_str(), "de-c2w2lab1-usa-data-stream");
        assert_eq!(usa.bucket, "de-c2w2lab1-123456789012-usa");
        assert_eq!(usa.firehose, "de-c2w2lab1-firehose-usa");
        assert_eq!(
            international.stream.as_str(),
            "de-c2w2lab1-international-data-stream"
        );
        assert_eq!(international.bucket, "de-c2w2lab1-123456789012-int");
        assert_eq!(international.firehose, "de-c2w2lab1-firehose-international");
        assert_eq!(
            names.role_arn(),
            "arn:aws:iam::123456789012:role/de-c2w2lab1-firehose-role"
        );
        assert_eq!(names.destinations().usa.as_str(), "de-c2w2lab1-usa-data-stream");
    }

    #[test]
    fn a_suffix_ends_every_name() {
        let names = LabNames::with_suffix("000000000000", "e2e-42-7").unwrap();
        assert_eq!(
            names.source_stream().as_str(),
            "de-c2w2lab1-kinesis-data-stream-e2e-42-7"
        );
        let [usa, international] = names.routes();
        assert_eq!(usa.bucket, "de-c2w2lab1-000000000000-usa-e2e-42-7");
        assert_eq!(
            international.firehose,
            "de-c2w2lab1-firehose-international-e2e-42-7"
        );
        assert_eq!(
            names.destinations().international.as_str(),
            "de-c2w2lab1-international-data-stream-e2e-42-7"
        );
        // The role is the lab's, whatever the copy.
        assert_eq!(
            names.role_arn(),
            "arn:aws:iam::000000000000:role/de-c2w2lab1-firehose-role"
        );
    }

    #[test]
    fn a_suffix_must_fit_a_bucket_name() {
        for bad in [
            "",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a.b",
            &"x".repeat(25),
        ] {
            let err = LabNames::with_suffix("000000000000", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("invalid name suffix {bad:?}")), "{err}");
        }
        let longest = LabNames::with_suffix("123456789012", &"x".repeat(24)).unwrap();
        assert!(longest.routes().iter().all(|r| r.bucket.len() <= 63));
        // The longest suffix still makes stream names Kinesis takes.
        let names = [longest.source_stream()]
            .into_iter()
            .chain(longest.routes().map(|r| r.stream));
        for name in names {
            assert_eq!(name.as_str().parse::<StreamName>().as_ref(), Ok(&name));
        }
    }
}
