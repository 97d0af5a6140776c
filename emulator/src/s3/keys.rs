//! S3 object keys as AWS keeps them, stored as files that cannot leave their
//! bucket.
//!
//! An S3 key is any string of up to 1,024 bytes: `../other/k`, `/a//b/` and
//! `.` are keys like any other, and a Firehose `Prefix` may start with `/`.
//! s3s-fs stores the object `<bucket>/<key>` at that path, so such keys would
//! land in another bucket, outside the data directory's buckets, or nowhere.
//! Before a key reaches s3s-fs, [`encode`] rewrites the segments that mean
//! something to a file system; [`decode`] gives the key back for listings.
//!
//! - A segment that is empty, `.` or `..`, or that starts with `%`, gets a `%`
//!   in front: `/a//../b` is stored as `%/a/%/%../b`. Every other segment is
//!   stored as it is, so the keys Firehose writes are still plain paths a
//!   learner can open in an editor.
//! - A key that cannot be a plain path is stored under `%long/<sha256 of the
//!   key>`, and the key itself is kept beside the data, in the long-keys
//!   directory. That is a key whose file names would be too long for the file
//!   system (s3s-fs keeps each object's checksum in a file named after the
//!   bucket and key in base64), or a key whose path is taken by a directory or
//!   crosses a file: S3 holds `a` and `a/b` side by side, a file system cannot.
//!
//! Decoding takes one `%` off every segment that starts with one, so no two
//! keys are ever stored as the same file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The first segment of a stored long key. Encoding never produces it: a real
/// segment `%long` is stored as `%%long`.
const LONG_KEY_DIR: &str = "%long";

/// Linux's limit on one file name.
const NAME_MAX: usize = 255;

/// The two places a key can be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forms {
    /// The escaped key, when its file names are short enough.
    pub path: Option<String>,
    /// `%long/<digest>`.
    pub long: String,
    pub digest: String,
}

/// Where the key `key` of `bucket` may be stored.
pub fn forms(bucket: &str, key: &str) -> Forms {
    let path = escape(key);
    let digest = format!("{:x}", Sha256::digest(key.as_bytes()));
    Forms {
        path: fits(bucket, &path).then_some(path),
        long: format!("{LONG_KEY_DIR}/{digest}"),
        digest,
    }
}

/// The key a stored path holds, or for a long key, its digest to look up.
pub fn decode(path: &str) -> Decoded {
    if let Some(digest) = path
        .strip_prefix(LONG_KEY_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return Decoded::Long(digest.to_owned());
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| segment.strip_prefix('%').unwrap_or(segment))
        .collect();
    Decoded::Key(segments.join("/"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Key(String),
    Long(String),
}

/// The file that holds the key of a long key's `digest`.
pub fn long_key_file(long_keys_dir: &Path, bucket: &str, digest: &str) -> PathBuf {
    long_keys_dir.join(bucket).join(digest)
}

fn escape(key: &str) -> String {
    let segments: Vec<String> = key
        .split('/')
        .map(|segment| match segment {
            "" | "." | ".." => format!("%{segment}"),
            s if s.starts_with('%') => format!("%{s}"),
            s => s.to_owned(),
        })
        .collect();
    segments.join("/")
}

/// Whether s3s-fs can name every file of this object: each path segment, and
/// its side files `.bucket-<b64>.object-<b64>.metadata.json` and
/// `.internal.json`. (A multipart upload's own side file also names the upload,
/// so keys near this limit can be put whole but not uploaded in parts.)
fn fits(bucket: &str, path: &str) -> bool {
    let base64_len = |n: usize| n.div_ceil(3) * 4;
    let longest_suffix = ".metadata.json".len().max(".internal.json".len());
    let side_file = ".bucket-".len() + base64_len(bucket.len()) + ".object-".len() + base64_len(path.len());
    side_file + longest_suffix <= NAME_MAX && path.split('/').all(|segment| segment.len() <= NAME_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(key: &str) -> String {
        let path = forms("bucket", key)
            .path
            .unwrap_or_else(|| panic!("{key} has no plain path"));
        match decode(&path) {
            Decoded::Key(decoded) => decoded,
            Decoded::Long(_) => panic!("{key} decodes as a long key"),
        }
    }

    #[test]
    fn keys_that_mean_something_to_a_file_system_stay_in_their_bucket() {
        for key in [
            "../other/k",
            "../../x",
            "..",
            ".",
            "/a",
            "a//b",
            "a/",
            "//",
            "a/./b",
            "%",
            "%%/x",
            "%long/y",
        ] {
            let path = forms("bucket", key).path.unwrap();
            assert!(
                path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."),
                "{key} is stored as {path}"
            );
            assert_eq!(round_trip(key), key);
        }
    }

    #[test]
    fn plain_keys_are_stored_as_they_are() {
        let key = "usa/2026/11/23/20/lab-usa-1-2026-11-23-20-00-00-0f1e2d3c.json";
        assert_eq!(forms("bucket", key).path.as_deref(), Some(key));
    }

    #[test]
    fn a_real_percent_long_segment_is_not_a_long_key() {
        assert_eq!(forms("b", "%long/x").path.as_deref(), Some("%%long/x"));
        assert_eq!(decode("%%long/x"), Decoded::Key("%long/x".to_owned()));
    }

    #[test]
    fn keys_too_long_for_file_names_have_only_their_digest_form() {
        let key = format!("{}/k", "p".repeat(300));
        let forms = forms("a-bucket-name", &key);
        assert_eq!(forms.path, None);
        assert_eq!(forms.digest.len(), 64);
        assert_eq!(decode(&forms.long), Decoded::Long(forms.digest.clone()));
        // The longest bucket name still fits with the digest form.
        assert!(fits(&"b".repeat(63), &forms.long));
    }
}
