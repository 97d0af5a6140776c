//! What a delivery stream keeps on disk when the data directory is durable, so
//! that a restart, even after kill -9, delivers every record it took exactly
//! where it would have, and no record twice.
//!
//! Each delivery stream has a directory `firehose/stream-<name>/` with:
//! - `stream.json`: its `CreateDeliveryStream` request, version and creation
//!   time; a restart creates it again from these.
//! - `position.json`: how far delivery has gone, as a [`Checkpoint`]: the last
//!   sequence number delivered in each shard of a Kinesis source, or the last
//!   record delivered of a `DirectPut` stream. It moves only once S3 has taken
//!   the object that holds those records. Before each write, the object about to
//!   be written is noted as pending: after a crash, a pending object that S3
//!   holds counts as delivered, so it is not delivered again.
//! - `records.log` (`DirectPut` only): every record `PutRecord` and
//!   `PutRecordBatch` acknowledged, numbered, written before the answer. Those
//!   after the checkpoint are delivered again after a restart; once everything
//!   is delivered, the log is emptied.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use atomic_write_file::AtomicWriteFile;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const STREAM: &str = "stream.json";
const POSITION: &str = "position.json";
const RECORDS: &str = "records.log";

/// How far a delivery stream has delivered, or will have once an object is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Shard id -> the last sequence number delivered from it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shards: BTreeMap<String, String>,
    /// The number of the last `DirectPut` record delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<u64>,
}

impl Checkpoint {
    /// This checkpoint, moved on by what `later` covers.
    pub fn advance(&mut self, later: &Checkpoint) {
        for (shard, sequence) in &later.shards {
            self.shards.insert(shard.clone(), sequence.clone());
        }
        self.direct = self.direct.max(later.direct);
    }
}

/// The creation of a delivery stream, as saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub name: String,
    pub version_id: u64,
    /// When it was first created, in milliseconds since the epoch.
    pub created_at_ms: i64,
    /// The `CreateDeliveryStream` request.
    pub request: Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Position {
    committed: Checkpoint,
    #[serde(default)]
    pending: Option<Pending>,
}

/// An object being written, and the checkpoint it completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub bucket: String,
    pub key: String,
    pub checkpoint: Checkpoint,
}

/// One acknowledged `DirectPut` record in `records.log`.
#[derive(Debug, Serialize, Deserialize)]
struct Logged {
    #[serde(rename = "i")]
    number: u64,
    #[serde(rename = "d")]
    data: String,
    #[serde(rename = "t")]
    arrival_ms: i64,
}

/// A record read back from `records.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsent {
    pub number: u64,
    pub data: Vec<u8>,
    pub arrival: DateTime<Utc>,
}

/// The on-disk state of one delivery stream.
#[derive(Debug)]
pub struct StreamState {
    dir: PathBuf,
    /// The `DirectPut` log and the number the next record gets.
    log: Mutex<(Option<File>, u64)>,
}

impl StreamState {
    /// The directory of the delivery stream `name` under `root`.
    fn dir(root: &Path, name: &str) -> PathBuf {
        root.join(format!("stream-{name}"))
    }

    /// Saves a new delivery stream. Anything an earlier stream of the same name
    /// left is removed first.
    pub fn create(root: &Path, saved: &Saved) -> io::Result<StreamState> {
        let dir = Self::dir(root, &saved.name);
        match fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        fs::create_dir_all(&dir)?;
        write_atomically(&dir.join(STREAM), &serde_json::to_vec_pretty(saved)?)?;
        Ok(StreamState {
            dir,
            log: Mutex::new((None, 0)),
        })
    }

    /// Saves the stream's creation again, as changed since (UpdateDestination,
    /// tags, encryption).
    pub fn save(&self, saved: &Saved) -> io::Result<()> {
        write_atomically(&self.dir.join(STREAM), &serde_json::to_vec_pretty(saved)?)
    }

    /// Every delivery stream saved under `root`.
    pub fn load_all(root: &Path) -> io::Result<Vec<(StreamState, Saved)>> {
        let mut found = Vec::new();
        let entries = match fs::read_dir(root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let dir = entry?.path();
            let saved: Saved = match fs::read(dir.join(STREAM)) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} is not a saved delivery stream: {err}",
                            dir.join(STREAM).display()
                        ),
                    )
                })?,
                // Removed half-way: nothing to restore.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            let state = StreamState {
                dir,
                log: Mutex::new((None, 0)),
            };
            found.push((state, saved));
        }
        found.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        Ok(found)
    }

    /// Forgets the delivery stream.
    pub fn remove(&self) {
        if let Err(err) = fs::remove_dir_all(&self.dir)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {err}", self.dir.display());
        }
    }

    /// The committed checkpoint, and the object that was being written when the
    /// last run stopped, if any.
    pub fn position(&self) -> io::Result<(Checkpoint, Option<Pending>)> {
        match fs::read(self.dir.join(POSITION)) {
            Ok(bytes) => {
                let position: Position = serde_json::from_slice(&bytes)
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                Ok((position.committed, position.pending))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Default::default()),
            Err(err) => Err(err),
        }
    }

    /// Notes the object about to be written, and what it completes.
    pub fn prepare(&self, committed: &Checkpoint, pending: Pending) -> io::Result<()> {
        self.write_position(&Position {
            committed: committed.clone(),
            pending: Some(pending),
        })
    }

    /// S3 has taken everything up to `checkpoint`.
    pub fn commit(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        self.write_position(&Position {
            committed: checkpoint.clone(),
            pending: None,
        })?;
        if let Some(delivered) = checkpoint.direct {
            self.empty_log_if_delivered(delivered)?;
        }
        Ok(())
    }

    fn write_position(&self, position: &Position) -> io::Result<()> {
        write_atomically(&self.dir.join(POSITION), &serde_json::to_vec(position)?)
    }

    /// Logs acknowledged `DirectPut` records before they are answered, and
    /// returns their numbers.
    pub fn append(&self, records: &[(&[u8], DateTime<Utc>)]) -> io::Result<std::ops::Range<u64>> {
        let mut log = self.log.lock().expect("the DirectPut log lock");
        let (file, next) = &mut *log;
        let file = match file {
            Some(file) => file,
            None => file.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(RECORDS))?,
            ),
        };
        let first = *next;
        let mut lines = Vec::new();
        for (offset, (data, arrival)) in records.iter().enumerate() {
            let logged = Logged {
                number: first + offset as u64,
                data: BASE64.encode(data),
                arrival_ms: arrival.timestamp_millis(),
            };
            serde_json::to_writer(&mut lines, &logged)?;
            lines.push(b'\n');
        }
        file.write_all(&lines)?;
        *next = first + records.len() as u64;
        Ok(first..*next)
    }

    /// The logged records after `delivered`; numbering goes on after the last.
    /// A last line cut short by a crash (its put was never answered) is cut
    /// off, so that the next record starts a line of its own.
    pub fn unsent(&self, delivered: Option<u64>) -> io::Result<Vec<Unsent>> {
        let path = self.dir.join(RECORDS);
        let mut bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
        if whole < bytes.len() {
            tracing::warn!(
                "{}: cutting off a record whose put was never answered",
                path.display()
            );
            OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(whole as u64)?;
            bytes.truncate(whole);
        }
        let mut unsent = Vec::new();
        let mut next = delivered.map_or(0, |n| n + 1);
        for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            let logged: Logged = serde_json::from_slice(line)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            next = next.max(logged.number + 1);
            if delivered.is_some_and(|d| logged.number <= d) {
                continue;
            }
            let data = BASE64
                .decode(&logged.data)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            let arrival = DateTime::from_timestamp_millis(logged.arrival_ms).unwrap_or_else(Utc::now);
            unsent.push(Unsent {
                number: logged.number,
                data,
                arrival,
            });
        }
        self.log.lock().expect("the DirectPut log lock").1 = next;
        Ok(unsent)
    }

    /// Once every logged record is delivered, the log starts again empty (the
    /// numbering goes on).
    fn empty_log_if_delivered(&self, delivered: u64) -> io::Result<()> {
        let mut log = self.log.lock().expect("the DirectPut log lock");
        if log.1 == delivered + 1 {
            log.0 = None;
            File::create(self.dir.join(RECORDS))?;
        }
        Ok(())
    }
}

/// Replaces a file durably: a crash leaves the old one or the new one, and
/// once this returns the new one is on disk (the workspace's one way to
/// replace a file: ARCHITECTURE.md, "Durability").
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str) -> Saved {
        Saved {
            name: name.to_owned(),
            version_id: 1,
            created_at_ms: Utc::now().timestamp_millis(),
            request: serde_json::json!({"DeliveryStreamName": name}),
        }
    }

    #[test]
    fn direct_put_records_after_the_checkpoint_come_back_and_numbering_goes_on() {
        let root = tempfile::tempdir().unwrap();
        let state = StreamState::create(root.path(), &saved("d")).unwrap();
        let now = Utc::now();
        assert_eq!(state.append(&[(b"a", now), (b"b", now)]).unwrap(), 0..2);
        assert_eq!(state.append(&[(b"c", now)]).unwrap(), 2..3);
        state
            .commit(&Checkpoint {
                direct: Some(0),
                ..Default::default()
            })
            .unwrap();

        let (again, _) = StreamState::load_all(root.path()).unwrap().pop().unwrap();
        let (committed, pending) = again.position().unwrap();
        assert_eq!(committed.direct, Some(0));
        assert!(pending.is_none());
        let unsent = again.unsent(committed.direct).unwrap();
        assert_eq!(
            unsent.iter().map(|u| u.data.as_slice()).collect::<Vec<_>>(),
            [b"b", b"c"]
        );
        assert_eq!(again.append(&[(b"d", now)]).unwrap(), 3..4);

        // All delivered: the log is emptied, and numbering still goes on.
        again
            .commit(&Checkpoint {
                direct: Some(3),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(fs::read(again.dir.join(RECORDS)).unwrap(), b"");
        assert_eq!(again.append(&[(b"e", now)]).unwrap(), 4..5);
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        let state = StreamState::create(root.path(), &saved("d")).unwrap();
        state.append(&[(b"whole", Utc::now())]).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(state.dir.join(RECORDS))
            .unwrap();
        file.write_all(br#"{"i":1,"d":"cut"#).unwrap();
        let unsent = state.unsent(None).unwrap();
        assert_eq!(unsent.len(), 1);
        assert_eq!(unsent[0].data, b"whole");
        // The next record starts a line of its own.
        state.append(&[(b"next", Utc::now())]).unwrap();
        let unsent = state.unsent(None).unwrap();
        assert_eq!(
            unsent.iter().map(|u| u.data.as_slice()).collect::<Vec<_>>(),
            [&b"whole"[..], b"next"]
        );
    }

    #[test]
    fn checkpoints_advance_shard_by_shard() {
        let mut committed = Checkpoint::default();
        committed.shards.insert("shard-0".into(), "10".into());
        let mut later = Checkpoint::default();
        later.shards.insert("shard-1".into(), "20".into());
        later.direct = Some(4);
        committed.advance(&later);
        assert_eq!(committed.shards.len(), 2);
        assert_eq!(committed.direct, Some(4));
    }
}
