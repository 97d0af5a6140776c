//! A destination's `Prefix` and `ErrorOutputPrefix`, parsed once when the
//! delivery stream is created ([`super::destination`]), and the object keys
//! delivery builds with them ([`super::delivery`]), as AWS builds them:
//!
//! `<evaluated Prefix><name>-<version>-YYYY-MM-DD-HH-MM-SS-<random>[.gz]`
//!
//! A `Prefix` may hold expressions: `!{timestamp:yyyy/MM/dd}` (a Java-style date
//! pattern, in UTC), `!{firehose:random-string}`, and with dynamic partitioning
//! `!{partitionKeyFromQuery:name}` and `!{partitionKeyFromLambda:name}`
//! ([`crate::firehose::partitioning`]). A prefix with no timestamp and no
//! partition key expression gets `YYYY/MM/DD/HH/` appended, so `firehose/`
//! becomes `firehose/2024/09/22/04/`. Every time in the key is the arrival
//! time of the oldest record in the object.

use chrono::{DateTime, Utc};
use rand::RngExt;

use super::failure::Failure;
use super::partitioning::{Extracted, PartitionKeys};

/// A prefix, parsed and checked once when the delivery stream is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A chrono format string translated from the Java pattern.
    Timestamp(String),
    RandomString,
    ErrorOutputType,
    /// `partitionKeyFromQuery:name` or `partitionKeyFromLambda:name`.
    PartitionKey(String),
}

/// Which prefix is being parsed: some expressions belong to only one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    Prefix,
    ErrorOutputPrefix,
}

/// AWS's `!{firehose:random-string}` is 11 characters.
const RANDOM_STRING_LEN: usize = 11;

/// An evaluated prefix is at most this long; a partition whose prefix would be
/// longer cannot be delivered.
pub const MAX_EVALUATED_LEN: usize = 512;

impl Prefix {
    pub fn parse(text: &str, kind: PrefixKind) -> Result<Prefix, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("!{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let Some(length) = rest[start..].find('}') else {
                return Err(format!(
                    "the expression at \"{}\" has no closing '}}'",
                    &rest[start..]
                ));
            };
            let expression = &rest[start + 2..start + length];
            parts.push(parse_expression(expression, kind)?);
            rest = &rest[start + length + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Prefix { parts })
    }

    /// True when the prefix uses at least one expression.
    pub fn has_expressions(&self) -> bool {
        self.parts.iter().any(|part| !matches!(part, Part::Literal(_)))
    }

    pub fn has_error_output_type(&self) -> bool {
        self.parts.contains(&Part::ErrorOutputType)
    }

    /// The partition key expressions, as `partitionKeyFromQuery:name`.
    pub fn partition_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::PartitionKey(expression) => Some(expression.as_str()),
            _ => None,
        })
    }

    /// The partition a record belongs to: the values of this prefix's
    /// partition key expressions, or why it has none.
    pub fn partition(&self, extracted: &Extracted<'_>) -> Result<PartitionKeys, Failure> {
        let mut keys = PartitionKeys::default();
        for expression in self.partition_keys() {
            keys.0.insert(expression.to_owned(), extracted.get(expression)?);
        }
        let literal: usize = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.len(),
                _ => 0,
            })
            .sum();
        let evaluated = literal + keys.0.values().map(String::len).sum::<usize>();
        if evaluated > MAX_EVALUATED_LEN {
            return Err(Failure {
                code: super::partitioning::FAILED,
                message: format!(
                    "the prefix evaluated with this record's partition keys is over {MAX_EVALUATED_LEN} characters"
                ),
            });
        }
        Ok(keys)
    }

    /// Without a timestamp expression, AWS appends the hour folders itself;
    /// a partitioned prefix is used as it is.
    fn adds_time_folders(&self) -> bool {
        !self
            .parts
            .iter()
            .any(|part| matches!(part, Part::Timestamp(_) | Part::PartitionKey(_)))
    }

    /// The prefix for an object whose oldest record arrived at `oldest`.
    pub fn evaluate(
        &self,
        oldest: DateTime<Utc>,
        error_output_type: Option<&str>,
        keys: &PartitionKeys,
        rng: &mut impl RngExt,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Timestamp(format) => out.push_str(&oldest.format(format).to_string()),
                Part::RandomString => out.extend((0..RANDOM_STRING_LEN).map(|_| random_char(rng))),
                Part::ErrorOutputType => out.push_str(error_output_type.unwrap_or("processing-failed")),
                // The partition a buffer holds always has every key of the
                // prefix it was sealed with ([`Prefix::partition`]).
                Part::PartitionKey(expression) => {
                    out.push_str(keys.0.get(expression).map(String::as_str).unwrap_or_default())
                }
            }
        }
        if self.adds_time_folders() {
            out.push_str(&oldest.format("%Y/%m/%d/%H/").to_string());
        }
        out
    }
}

/// The full key of an object.
#[allow(clippy::too_many_arguments)]
pub fn object_key(
    prefix: &Prefix,
    error_output_type: Option<&str>,
    keys: &PartitionKeys,
    name: &str,
    version: u64,
    oldest: DateTime<Utc>,
    extension: &str,
    rng: &mut impl RngExt,
) -> String {
    let uuid = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    format!(
        "{}{name}-{version}-{}-{uuid}{extension}",
        prefix.evaluate(oldest, error_output_type, keys, rng),
        oldest.format("%Y-%m-%d-%H-%M-%S"),
    )
}

fn random_char(rng: &mut impl RngExt) -> char {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    ALPHABET[rng.random_range(0..ALPHABET.len())] as char
}

fn parse_expression(expression: &str, kind: PrefixKind) -> Result<Part, String> {
    let Some((namespace, value)) = expression.split_once(':') else {
        return Err(format!(
            "the expression \"!{{{expression}}}\" is not of the form !{{namespace:value}}"
        ));
    };
    match (namespace, value) {
        ("timestamp", pattern) => java_pattern_to_chrono(pattern).map(Part::Timestamp),
        ("firehose", "random-string") => Ok(Part::RandomString),
        ("firehose", "error-output-type") if kind == PrefixKind::ErrorOutputPrefix => {
            Ok(Part::ErrorOutputType)
        }
        ("firehose", "error-output-type") => Err(
            "the expression \"!{firehose:error-output-type}\" is only allowed in ErrorOutputPrefix"
                .to_owned(),
        ),
        ("firehose", other) => Err(format!(
            "unknown firehose expression \"{other}\"; expected random-string or error-output-type"
        )),
        ("partitionKeyFromQuery" | "partitionKeyFromLambda", _) if kind == PrefixKind::ErrorOutputPrefix => {
            Err(format!(
                "the expression \"!{{{expression}}}\" is not allowed in ErrorOutputPrefix: \
                 a record that goes there may have no partition key"
            ))
        }
        ("partitionKeyFromQuery" | "partitionKeyFromLambda", "") => Err(format!(
            "the expression \"!{{{expression}}}\" names no partition key"
        )),
        ("partitionKeyFromQuery" | "partitionKeyFromLambda", _) => {
            Ok(Part::PartitionKey(expression.to_owned()))
        }
        (other, _) => Err(format!(
            "unknown expression namespace \"{other}\"; expected timestamp, firehose, \
             partitionKeyFromQuery or partitionKeyFromLambda"
        )),
    }
}

/// Translates the Java `DateTimeFormatter` pattern letters Firehose prefixes use
/// into a chrono format string. Letters outside the common set are refused
/// rather than guessed.
fn java_pattern_to_chrono(pattern: &str) -> Result<String, String> {
    if pattern.is_empty() {
        return Err("the timestamp expression has an empty pattern".to_owned());
    }
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&q| q == '\'')
                .ok_or("an unclosed quote in the timestamp pattern")?;
            out.extend(
                chars[i + 1..i + 1 + end]
                    .iter()
                    .map(|&q| if q == '%' { "%%".to_owned() } else { q.to_string() })
                    .collect::<Vec<_>>(),
            );
            i += end + 2;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let translated = match (c, run) {
            ('y' | 'u', 4) => "%Y",
            ('y' | 'u', 2) => "%y",
            ('M', 2) => "%m",
            ('d', 2) => "%d",
            ('H', 2) => "%H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            ('S', 3) => "%3f",
            ('D', 3) => "%j",
            _ => {
                let letters: String = std::iter::repeat_n(c, run).collect();
                return Err(format!(
                    "the timestamp pattern letters \"{letters}\" are not supported; use yyyy, yy, MM, dd, HH, mm, ss, SSS or DDD"
                ));
            }
        };
        out.push_str(translated);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-09-22T04:37:13.634Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_plain_prefix_gets_the_hour_folders() {
        let prefix = Prefix::parse("firehose/", PrefixKind::Prefix).unwrap();
        assert!(!prefix.has_expressions());
        let key = object_key(
            &prefix,
            None,
            &PartitionKeys::default(),
            "de-c2w2lab1-firehose-usa",
            1,
            at(),
            "",
            &mut StdRng::seed_from_u64(1),
        );
        let (head, uuid) = key.split_at(key.len() - 36);
        assert_eq!(
            head,
            "firehose/2024/09/22/04/de-c2w2lab1-firehose-usa-1-2024-09-22-04-37-13-"
        );
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid}");
    }

    #[test]
    fn an_empty_prefix_still_gets_the_hour_folders_and_gzip_gets_gz() {
        let prefix = Prefix::parse("", PrefixKind::Prefix).unwrap();
        let key = object_key(
            &prefix,
            None,
            &PartitionKeys::default(),
            "s",
            3,
            at(),
            ".gz",
            &mut StdRng::seed_from_u64(1),
        );
        assert!(key.starts_with("2024/09/22/04/s-3-2024-09-22-04-37-13-"), "{key}");
        assert!(key.ends_with(".gz"));
    }

    #[test]
    fn expressions_replace_the_default_folders() {
        let prefix = Prefix::parse(
            "data/!{timestamp:yyyy}/!{timestamp:MM-dd'T'HH}/!{firehose:random-string}/",
            PrefixKind::Prefix,
        )
        .unwrap();
        assert!(prefix.has_expressions());
        let evaluated = prefix.evaluate(
            at(),
            None,
            &PartitionKeys::default(),
            &mut StdRng::seed_from_u64(1),
        );
        let (head, random) = evaluated.strip_suffix('/').unwrap().rsplit_once('/').unwrap();
        assert_eq!(head, "data/2024/09-22T04");
        assert_eq!(random.len(), 11);
        assert!(
            random
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn a_random_string_alone_still_gets_the_hour_folders() {
        let prefix = Prefix::parse("p/!{firehose:random-string}/", PrefixKind::Prefix).unwrap();
        let evaluated = prefix.evaluate(
            at(),
            None,
            &PartitionKeys::default(),
            &mut StdRng::seed_from_u64(1),
        );
        assert_eq!(evaluated.len(), "p/".len() + 11 + "/2024/09/22/04/".len());
        assert!(evaluated.ends_with("/2024/09/22/04/"), "{evaluated}");
    }

    #[test]
    fn error_output_type_belongs_to_the_error_prefix() {
        let prefix = Prefix::parse(
            "errors/!{firehose:error-output-type}/",
            PrefixKind::ErrorOutputPrefix,
        )
        .unwrap();
        assert_eq!(
            prefix.evaluate(
                at(),
                Some("processing-failed"),
                &PartitionKeys::default(),
                &mut StdRng::seed_from_u64(1)
            ),
            "errors/processing-failed/2024/09/22/04/"
        );
        let err = Prefix::parse("x/!{firehose:error-output-type}/", PrefixKind::Prefix).unwrap_err();
        assert!(err.contains("only allowed in ErrorOutputPrefix"), "{err}");
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        let cases = [
            ("a/!{timestamp:yyyy", "no closing"),
            ("!{timestamp}", "not of the form"),
            ("!{timestamp:}", "empty pattern"),
            ("!{timestamp:EEE}", "\"EEE\" are not supported"),
            ("!{firehose:uuid}", "unknown firehose expression"),
            ("!{partitionKeyFromQuery:}", "names no partition key"),
            ("!{env:HOME}", "unknown expression namespace"),
        ];
        for (text, reason) in cases {
            let err = Prefix::parse(text, PrefixKind::Prefix).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn a_partitioned_prefix_takes_the_records_keys_and_no_hour_folders() {
        let prefix = Prefix::parse(
            "customer=!{partitionKeyFromQuery:customer}/device=!{partitionKeyFromLambda:device}/",
            PrefixKind::Prefix,
        )
        .unwrap();
        let query = [("customer".to_owned(), "c-17".to_owned())].into();
        let lambda = [("device".to_owned(), "ios".to_owned())].into();
        let extracted = Extracted {
            query: Some(&query),
            lambda: Some(&lambda),
        };
        let keys = prefix.partition(&extracted).unwrap();
        assert_eq!(
            prefix.evaluate(at(), None, &keys, &mut StdRng::seed_from_u64(1)),
            "customer=c-17/device=ios/"
        );
        let missing = prefix
            .partition(&Extracted {
                query: Some(&query),
                lambda: None,
            })
            .unwrap_err();
        assert!(missing.message.contains("\"device\""), "{}", missing.message);
        let long = [("customer".to_owned(), "x".repeat(MAX_EVALUATED_LEN))].into();
        let too_long = prefix.partition(&Extracted {
            query: Some(&long),
            lambda: Some(&lambda),
        });
        assert!(too_long.unwrap_err().message.contains("over 512"));
        let err = Prefix::parse(
            "e/!{partitionKeyFromQuery:customer}/!{firehose:error-output-type}/",
            PrefixKind::ErrorOutputPrefix,
        )
        .unwrap_err();
        assert!(err.contains("not allowed in ErrorOutputPrefix"), "{err}");
    }
}
