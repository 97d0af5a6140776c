//! FilterLogEvents' filter patterns, the plain-text kind: what `aws logs tail
//! --filter-pattern` and `aws logs filter-log-events` send to find a word in
//! the events (an `errorCode`, say).
//!
//! As on AWS: terms are matched case-sensitively anywhere in the message;
//! `a b` needs both, `?a ?b` either, `-a` excludes, and `"a b"` is one term
//! with its space. An empty pattern matches everything. JSON patterns
//! (`{ $.errorCode = ... }`) and space-delimited ones (`[ip, user, ...]`) are
//! refused by name rather than matched wrongly.

use super::error::LogsError;

/// A parsed plain-text pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pattern {
    /// Every one must be there.
    all: Vec<String>,
    /// At least one must be there, when there are any.
    any: Vec<String>,
    /// None may be there.
    none: Vec<String>,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, LogsError> {
        let text = text.trim();
        if text.starts_with('{') || text.starts_with('[') {
            return Err(LogsError::invalid_parameter(format!(
                "the kinesis-lab emulator matches plain-text filter patterns only (terms, ?term, -term, \"a phrase\"), not {text:?}"
            )));
        }
        let mut pattern = Pattern::default();
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let (sign, after) = match rest.as_bytes()[0] {
                b'?' => (Some('?'), &rest[1..]),
                b'-' => (Some('-'), &rest[1..]),
                _ => (None, rest),
            };
            let (term, remaining) = match after.strip_prefix('"') {
                Some(quoted) => match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => {
                        return Err(LogsError::invalid_parameter(format!(
                            "Invalid filter pattern: a quote is not closed in {text:?}"
                        )));
                    }
                },
                None => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            if !term.is_empty() {
                let list = match sign {
                    Some('?') => &mut pattern.any,
                    Some(_) => &mut pattern.none,
                    None => &mut pattern.all,
                };
                list.push(term.to_owned());
            }
            rest = remaining;
        }
        Ok(pattern)
    }

    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|term| message.contains(term.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|term| message.contains(term.as_str())))
            && !self.none.iter().any(|term| message.contains(term.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_options_exclusions_and_phrases() {
        let both = Pattern::parse("S3 NoSuchBucket").unwrap();
        assert!(both.matches(r#"{"errorCode":"S3.NoSuchBucket"}"#));
        assert!(!both.matches("S3.AccessDenied"));
        let either = Pattern::parse("?Lambda ?NoSuchBucket").unwrap();
        assert!(either.matches("Lambda.FunctionError") && either.matches("S3.NoSuchBucket"));
        assert!(!either.matches("S3.AccessDenied"));
        let without = Pattern::parse("S3 -NoSuchBucket").unwrap();
        assert!(without.matches("S3.AccessDenied") && !without.matches("S3.NoSuchBucket"));
        let phrase = Pattern::parse(r#""does not exist""#).unwrap();
        assert!(phrase.matches("The bucket does not exist") && !phrase.matches("does exist not"));
        assert!(Pattern::parse("").unwrap().matches("anything"));
        assert!(!Pattern::parse("nosuchbucket").unwrap().matches("S3.NoSuchBucket"));
    }

    #[test]
    fn json_patterns_are_refused_by_name() {
        let err = Pattern::parse(r#"{ $.errorCode = "S3.NoSuchBucket" }"#).unwrap_err();
        assert_eq!(err.error_type, "InvalidParameterException");
    }
}
