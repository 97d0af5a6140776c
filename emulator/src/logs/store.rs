//! What CloudWatch Logs keeps on a durable data directory: one append-only
//! file per log group, `logs/<group>.jsonl`, one JSON line per change (the
//! group made, a stream made or deleted, a batch of events put), replayed at
//! start.
//!
//! An append log rather than a file rewritten per change: PutLogEvents comes
//! often (Firehose writes one event per failed attempt), and appending a line
//! costs the same however much the group holds. Deleting a group deletes its
//! file; a deleted stream's events stay in the file, skipped at replay, until
//! the group goes. Lines are written whole but not synced one by one: a crash
//! can lose the last events, and a torn last line is skipped at replay (a
//! production store would sync, or batch and sync).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Event, Group, LogStream};

/// Group names keep `-`, `_` and `.` in their file names; `/` and `#` are
/// escaped.
const FILE_NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// Escaped names longer than this (a group name may have 512 characters) are
/// replaced by their hash: file names have at most 255 bytes.
const MAX_FILE_STEM: usize = 200;

/// One line of a group's file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Entry {
    Group { name: String, created_ms: i64 },
    Stream { name: String, created_ms: i64 },
    DeleteStream { name: String },
    Events { stream: String, events: Vec<Event> },
}

/// A group's open file.
#[derive(Debug)]
pub struct GroupFile {
    path: PathBuf,
    file: File,
}

impl GroupFile {
    /// Starts the file of a new group with its first line.
    pub fn create(root: &Path, name: &str, created_ms: i64) -> io::Result<GroupFile> {
        fs::create_dir_all(root)?;
        let path = root.join(file_name(name));
        let file = File::create(&path)?;
        let mut group = GroupFile { path, file };
        group.append(&Entry::Group {
            name: name.to_owned(),
            created_ms,
        })?;
        group.file.sync_all()?;
        Ok(group)
    }

    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        // One write per line, so that lines never interleave.
        self.file.write_all(&line)
    }

    pub fn remove(self) {
        drop(self.file);
        if let Err(err) = fs::remove_file(&self.path) {
            tracing::warn!("cannot remove {}: {err}", self.path.display());
        }
    }
}

fn file_name(group: &str) -> String {
    let escaped = utf8_percent_encode(group, FILE_NAME).to_string();
    if escaped.len() <= MAX_FILE_STEM {
        format!("{escaped}.jsonl")
    } else {
        let hash = Sha256::digest(group.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256-{hex}.jsonl")
    }
}

/// Replays every group's file under `root`.
pub fn load_all(root: &Path) -> io::Result<BTreeMap<String, Group>> {
    let mut groups = BTreeMap::new();
    if !root.exists() {
        return Ok(groups);
    }
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "jsonl") {
            continue;
        }
        if let Some(group) = load(&path)? {
            groups.insert(group.name.clone(), group);
        }
    }
    Ok(groups)
}

fn load(path: &Path) -> io::Result<Option<Group>> {
    let bytes = fs::read(path)?;
    let mut group: Option<Group> = None;
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let entry: Entry = match serde_json::from_slice(line) {
            Ok(entry) => entry,
            Err(err) => {
                tracing::warn!(
                    "{}:{}: skipped, not a log entry: {err}",
                    path.display(),
                    number + 1
                );
                continue;
            }
        };
        match (entry, &mut group) {
            (Entry::Group { name, created_ms }, None) => group = Some(Group::new(name, created_ms)),
            (Entry::Stream { name, created_ms }, Some(group)) => {
                group
                    .streams
                    .insert(name.clone(), LogStream::new(name, created_ms));
            }
            (Entry::DeleteStream { name }, Some(group)) => {
                group.streams.remove(&name);
            }
            (Entry::Events { stream, events }, Some(group)) => {
                let next = events.iter().map(|e| e.seq + 1).max().unwrap_or(0);
                group.next_seq = group.next_seq.max(next);
                if let Some(stream) = group.streams.get_mut(&stream) {
                    stream.insert(events);
                }
            }
            (entry, _) => {
                tracing::warn!(
                    "{}:{}: skipped, out of place: {entry:?}",
                    path.display(),
                    number + 1
                );
            }
        }
    }
    let Some(mut group) = group else {
        return Ok(None);
    };
    let mut file = OpenOptions::new().append(true).open(path)?;
    // A line torn by a crash is ended, so that the next one starts afresh.
    if bytes.last().is_some_and(|&b| b != b'\n') {
        file.write_all(b"\n")?;
    }
    group.file = Some(GroupFile {
        path: path.to_path_buf(),
        file,
    });
    Ok(Some(group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_and_long_names_make_file_names() {
        assert_eq!(
            file_name("de-c2w2lab1-firehose-usa-log-group"),
            "de-c2w2lab1-firehose-usa-log-group.jsonl"
        );
        assert_eq!(
            file_name("/aws/kinesisfirehose/x#1"),
            "%2Faws%2Fkinesisfirehose%2Fx%231.jsonl"
        );
        let long = file_name(&"a".repeat(512));
        assert!(long.starts_with("sha256-") && long.len() < 255, "{long}");
    }
}
