//! ListObjects and ListObjectsV2 over the keys as S3 users see them.
//!
//! Keys are stored escaped ([`super::keys`]), so filtering by prefix, grouping
//! by delimiter and paging have to happen after the keys are decoded: a prefix
//! `a/.` must find the key `a/.x` and the key `a/.`, which are stored as `a/.x`
//! and `a/%.`. This module does that on a bucket's decoded objects, in key
//! order, as S3 does (the lab's `verify` and `aws s3 ls` page through it).

use std::collections::BTreeMap;

use s3s::dto::Object;

/// What a listing asks for.
#[derive(Debug, Default)]
pub struct Query<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Only keys (and common prefixes) after this one: StartAfter, Marker or
    /// the continuation token, whichever is greatest.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Object>,
    pub common_prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// One page of `objects` (each with its decoded key), for `query`.
pub fn page(objects: Vec<Object>, query: &Query<'_>) -> Page {
    // Every entry in key order, objects and common prefixes together, as they
    // are counted against MaxKeys.
    let mut entries: BTreeMap<String, Option<Object>> = BTreeMap::new();
    for object in objects {
        let Some(key) = object.key.clone() else { continue };
        let Some(rest) = key.strip_prefix(query.prefix) else {
            continue;
        };
        let common = query.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            rest.find(d)
                .map(|at| format!("{}{}", query.prefix, &rest[..at + d.len()]))
        });
        match common {
            Some(common) => {
                entries.entry(common).or_insert(None);
            }
            None => {
                entries.insert(key, Some(object));
            }
        }
    }
    let mut page = Page::default();
    let mut returned = 0;
    let mut last = None;
    for (key, object) in entries {
        if query.after.is_some_and(|after| key.as_str() <= after) {
            continue;
        }
        if returned == query.max_keys {
            page.next = last;
            break;
        }
        returned += 1;
        last = Some(key.clone());
        match object {
            Some(object) => page.objects.push(object),
            None => page.common_prefixes.push(key),
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> Vec<Object> {
        keys.iter()
            .map(|key| Object {
                key: Some((*key).to_owned()),
                ..Object::default()
            })
            .collect()
    }

    fn keys(page: &Page) -> Vec<&str> {
        page.objects.iter().filter_map(|o| o.key.as_deref()).collect()
    }

    #[test]
    fn a_prefix_matches_decoded_keys() {
        let all = objects(&["a/.", "a/.x", "a/b", "b"]);
        let query = Query {
            prefix: "a/.",
            max_keys: 1000,
            ..Query::default()
        };
        assert_eq!(keys(&page(all, &query)), ["a/.", "a/.x"]);
    }

    #[test]
    fn a_delimiter_groups_keys_into_common_prefixes() {
        let all = objects(&["/x", "a/1", "a/2", "b", "c/d/e"]);
        let query = Query {
            delimiter: Some("/"),
            max_keys: 1000,
            ..Query::default()
        };
        let page = page(all, &query);
        assert_eq!(keys(&page), ["b"]);
        assert_eq!(page.common_prefixes, ["/", "a/", "c/"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn pages_resume_after_the_last_entry_and_count_common_prefixes() {
        let all = || objects(&["a/1", "a/2", "b", "c"]);
        let mut query = Query {
            delimiter: Some("/"),
            max_keys: 2,
            ..Query::default()
        };
        let first = page(all(), &query);
        assert_eq!(first.common_prefixes, ["a/"]);
        assert_eq!(keys(&first), ["b"]);
        assert_eq!(first.next.as_deref(), Some("b"));
        query.after = first.next.as_deref();
        let second = page(all(), &query);
        assert_eq!(keys(&second), ["c"]);
        assert_eq!(second.next, None);
    }
}
