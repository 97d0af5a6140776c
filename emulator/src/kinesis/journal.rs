//! Kinesis that survives a crash: every acknowledged record is on disk before
//! its put is answered, and a restart on the same data directory brings back
//! the streams, their records and their sequence numbers.
//!
//! ferrokinesis has a durable mode, but it writes its whole state (every record
//! of every stream) to its log on every put, so a put costs more the more the
//! stream holds. Here the log grows by what each put adds:
//!
//! - `kinesis/records.log`: one JSON line per stored record (stream, key,
//!   partition key, data, arrival), appended while the put still holds its turn
//!   (see [`super`]), so the log's order is the shards' order. A stream's
//!   deletion appends a line that drops what came before it.
//! - `kinesis/streams.json`: the streams themselves (shards, hash ranges,
//!   sequence counters, tags, retention) and their enhanced fan-out consumers,
//!   rewritten whole (to a new file, then renamed) whenever they change.
//!
//! The log is written, not synced: a killed process (kill -9, a panic, an OOM
//! kill) loses nothing the kernel has, and a clean stop syncs. A power cut may
//! lose the last records, as it would on a laptop running LocalStack.
//!
//! At start, the records still within their stream's retention are put back
//! with their keys, and each open shard's counter moves past the last sequence
//! number it gave. [`Journal::compact`] rewrites the log with only what the
//! store holds, at start and whenever the log has grown well past it.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use atomic_write_file::AtomicWriteFile;
use ferrokinesis::persistence::PersistentStream;
use ferrokinesis::sequence::{parse_sequence, resolve_shard_id, shard_ix_to_hex};
use ferrokinesis::store::Store;
use ferrokinesis::types::{Consumer, ConsumerStatus, StoredRecord, StreamStatus};
use serde::{Deserialize, Serialize};

use super::tail::Fresh;

const RECORDS: &str = "records.log";
const STREAMS: &str = "streams.json";

/// How many sequence numbers are taken at once when moving a restored
/// shard's counter forward.
const ADVANCE_CHUNK: u64 = 8192;

/// The journal of one emulator's Kinesis.
pub struct Journal {
    store: Store,
    dir: PathBuf,
    log: Mutex<BufWriter<File>>,
    log_bytes: AtomicU64,
    /// What `streams.json` holds, so that an unchanged state is not rewritten.
    saved: tokio::sync::Mutex<Vec<u8>>,
    /// How many shards each saved stream has: a put to a stream saved with
    /// fewer (or not saved yet) saves the streams before it is answered.
    saved_shards: Mutex<HashMap<String, usize>>,
}

/// One line of `records.log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Record {
        #[serde(rename = "s")]
        stream: String,
        #[serde(rename = "k")]
        key: String,
        #[serde(rename = "p")]
        partition_key: String,
        #[serde(rename = "d")]
        data: String,
        #[serde(rename = "t")]
        arrival: f64,
    },
    Deleted {
        deleted: String,
    },
}

/// What `streams.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Streams {
    streams: Vec<PersistentStream>,
    consumers: Vec<(String, Consumer)>,
}

/// What a restart brought back, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The last key of each shard that holds records: `(stream, shard hex) -> key`.
    pub marks: HashMap<(String, String), String>,
    pub streams: usize,
    pub records: usize,
    /// Records past their stream's retention, or of shards the saved streams
    /// do not know.
    pub dropped: usize,
}

impl Journal {
    /// Restores what `dir` holds into `store` (which must be empty), and opens
    /// the log for what comes next.
    pub async fn open(store: Store, dir: &Path) -> io::Result<(Journal, Restored)> {
        fs::create_dir_all(dir)?;
        let mut restored = Restored::default();
        let streams: Streams = match fs::read(dir.join(STREAMS)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a saved Kinesis state: {err}",
                        dir.join(STREAMS).display()
                    ),
                )
            })?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Streams::default(),
            Err(err) => return Err(err),
        };

        // Streams first, each ACTIVE: a transition that was under way when the
        // emulator stopped has finished; a stream being deleted is gone.
        let mut retention_hours = HashMap::new();
        let mut shard_counts = HashMap::new();
        for saved in streams.streams {
            let (name, mut stream, _) = saved.into_parts();
            match stream.stream_status {
                StreamStatus::Deleting => continue,
                StreamStatus::Creating | StreamStatus::Updating => {
                    stream.stream_status = StreamStatus::Active
                }
                StreamStatus::Active => {}
            }
            retention_hours.insert(name.clone(), stream.retention_period_hours);
            shard_counts.insert(name.clone(), stream.shards.len());
            store.put_stream(&name, stream).await.map_err(other)?;
            restored.streams += 1;
        }
        for (arn, mut consumer) in streams.consumers {
            match consumer.consumer_status {
                ConsumerStatus::Deleting => continue,
                ConsumerStatus::Creating => consumer.consumer_status = ConsumerStatus::Active,
                ConsumerStatus::Active => {}
            }
            store.put_consumer(&arn, consumer).await.map_err(other)?;
        }

        // Then the records: two passes, the first finding where each stream's
        // last deletion is, so that a deleted stream's records never come back
        // in a new stream of the same name.
        let log_path = dir.join(RECORDS);
        let mut last_deletion: HashMap<String, usize> = HashMap::new();
        for_each_line(&log_path, |number, line| {
            if let Line::Deleted { deleted } = line {
                last_deletion.insert(deleted, number);
            }
        })?;
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let mut kept: Vec<(String, String, StoredRecord)> = Vec::new();
        for_each_line(&log_path, |number, line| {
            let Line::Record {
                stream,
                key,
                partition_key,
                data,
                arrival,
            } = line
            else {
                return;
            };
            if last_deletion.get(&stream).is_some_and(|&at| number < at) {
                return;
            }
            let retained = retention_hours
                .get(&stream)
                .is_some_and(|&hours| arrival + f64::from(hours) * 3600.0 >= now);
            let shard_known = shard_counts.get(&stream).is_some_and(|&count| {
                key.split('/')
                    .next()
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .is_some_and(|ix| (ix as usize) < count)
            });
            if retained && shard_known {
                let record = StoredRecord {
                    partition_key,
                    data,
                    approximate_arrival_timestamp: arrival,
                };
                kept.push((stream, key, record));
            } else if retention_hours.contains_key(&stream) {
                restored.dropped += 1;
            }
        })?;

        let marks = &mut restored.marks;
        let mut highest_index: HashMap<(String, i64), u64> = HashMap::new();
        for (stream, key, record) in &kept {
            store.put_record(stream, key, record).await.map_err(other)?;
            let (hex, sequence) = key.split_once('/').unwrap_or((key.as_str(), ""));
            if let Ok(parsed) = parse_sequence(sequence) {
                let slot = highest_index
                    .entry((stream.clone(), parsed.shard_ix))
                    .or_default();
                *slot = (*slot).max(parsed.seq_ix.unwrap_or(0));
            }
            let mark = marks
                .entry((stream.clone(), hex.to_owned()))
                .or_insert_with(String::new);
            if key.as_str() > mark.as_str() {
                *mark = key.clone();
            }
        }
        restored.records = kept.len();
        advance_counters(&store, &highest_index).await?;

        let log = OpenOptions::new().create(true).append(true).open(&log_path)?;
        let log_bytes = log.metadata()?.len();
        let journal = Journal {
            store,
            dir: dir.to_path_buf(),
            log: Mutex::new(BufWriter::new(log)),
            log_bytes: AtomicU64::new(log_bytes),
            saved: tokio::sync::Mutex::new(Vec::new()),
            saved_shards: Mutex::default(),
        };
        journal.save_streams().await?;
        Ok((journal, restored))
    }

    /// How many bytes the log holds.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// Rewrites the log with exactly the records the store holds now: what
    /// expired, was trimmed or was deleted is left out. Called with the turn
    /// of all streams held ([`super::turns`]), so that no record is stored
    /// meanwhile.
    pub async fn compact(&self) -> io::Result<()> {
        // Replaced as every file of the workspace is (ARCHITECTURE.md,
        // "Durability"): a crash leaves the old log or the new one, whole.
        let mut out = BufWriter::new(AtomicWriteFile::open(self.dir.join(RECORDS))?);
        for name in self.store.list_stream_names().await {
            let Ok(stream) = self.store.get_stream(&name).await else {
                continue;
            };
            for shard in &stream.shards {
                let Ok((_, ix)) = resolve_shard_id(&shard.shard_id) else {
                    continue;
                };
                let hex = shard_ix_to_hex(ix);
                let end = format!("{hex}/~");
                let mut start = format!("{hex}/");
                loop {
                    let page = self
                        .store
                        .get_records_range_limited(&name, &start, &end, 10_000)
                        .await;
                    let Some((last, _)) = page.last() else { break };
                    start = format!("{last}\0");
                    for (key, record) in page {
                        let line = Line::Record {
                            stream: name.clone(),
                            key,
                            partition_key: record.partition_key,
                            data: record.data,
                            arrival: record.approximate_arrival_timestamp,
                        };
                        serde_json::to_writer(&mut out, &line)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let size = file.as_file().metadata()?.len();
        let mut log = self.log.lock().expect("journal log");
        log.flush()?;
        file.commit()?;
        *log = BufWriter::new(OpenOptions::new().append(true).open(self.dir.join(RECORDS))?);
        self.log_bytes.store(size, Ordering::Relaxed);
        Ok(())
    }

    /// Logs the records a put just stored ([`super::tail`]). Called while the
    /// put holds its turn, before it is answered.
    pub async fn log(&self, fresh: &[Fresh]) -> io::Result<()> {
        let mut out = Vec::new();
        let mut checked: Option<&str> = None;
        for Fresh { stream, key, record } in fresh {
            // A stream that just turned ACTIVE, or was just resharded: its shards
            // must be on disk before records that belong to them.
            if checked != Some(stream.as_str()) {
                checked = Some(stream);
                let shards = self.store.get_stream(stream).await.map(|s| s.shards.len()).ok();
                let saved = self.saved_shards.lock().expect("journal").get(stream).copied();
                if shards.is_some() && saved != shards {
                    self.save_streams().await?;
                }
            }
            let line = Line::Record {
                stream: stream.clone(),
                key: key.clone(),
                partition_key: record.partition_key.clone(),
                data: record.data.clone(),
                arrival: record.approximate_arrival_timestamp,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.push(b'\n');
        }
        self.append(&out)
    }

    /// Logs that a stream was deleted: its records never come back.
    pub fn log_deletion(&self, stream: &str) -> io::Result<()> {
        let mut line = serde_json::to_vec(&Line::Deleted {
            deleted: stream.to_owned(),
        })?;
        line.push(b'\n');
        self.append(&line)
    }

    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut log = self.log.lock().expect("journal log");
        log.write_all(bytes)?;
        self.log_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        // Out of our buffer and into the kernel's before the put is answered.
        log.flush()
    }

    /// Writes `streams.json` if the streams or consumers changed since the
    /// last time.
    pub async fn save_streams(&self) -> io::Result<()> {
        let mut saved = self.saved.lock().await;
        let mut state = Streams::default();
        let mut shards = HashMap::new();
        for name in self.store.list_stream_names().await {
            let Ok(stream) = self.store.get_stream(&name).await else {
                continue;
            };
            // A stream being created has no shards yet, and takes no records.
            if stream.stream_status == StreamStatus::Creating {
                continue;
            }
            shards.insert(name.clone(), stream.shards.len());
            let mut counters = Vec::with_capacity(stream.shards.len());
            for ix in 0..stream.shards.len() {
                counters.push(self.store.current_shard_seq(&name, ix as i64).await);
            }
            for consumer in self.store.list_consumers_for_stream(&stream.stream_arn).await {
                state.consumers.push((consumer.consumer_arn.clone(), consumer));
            }
            state
                .streams
                .push(PersistentStream::from_stream(name, &stream, counters));
        }
        let bytes = serde_json::to_vec_pretty(&state)?;
        *self.saved_shards.lock().expect("journal") = shards;
        if bytes == *saved {
            return Ok(());
        }
        // Replaced durably, as every file of the workspace is (ARCHITECTURE.md,
        // "Durability").
        let mut file = AtomicWriteFile::open(self.dir.join(STREAMS))?;
        file.write_all(&bytes)?;
        file.commit()?;
        *saved = bytes;
        Ok(())
    }

    /// A clean stop: everything to disk.
    pub fn sync(&self) -> io::Result<()> {
        let mut log = self.log.lock().expect("journal log");
        log.flush()?;
        log.get_ref().sync_all()
    }
}

/// Calls `each` with every complete line of the log and its number. A last line
/// cut short by a crash was never acknowledged, and is skipped.
fn for_each_line(path: &Path, mut each: impl FnMut(usize, Line)) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut skipped = 0;
    for (number, line) in BufReader::new(file).split(b'\n').enumerate() {
        match serde_json::from_slice(&line?) {
            Ok(line) => each(number, line),
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        tracing::warn!(
            "{}: skipped {skipped} line(s) cut short by a crash (their puts were never answered)",
            path.display()
        );
    }
    Ok(())
}

/// Moves each restored open shard's sequence counter past the highest index it
/// gave, so that new records sort after the restored ones. ferrokinesis has no
/// call to set a counter, but taking sequence numbers moves it.
async fn advance_counters(store: &Store, highest: &HashMap<(String, i64), u64>) -> io::Result<()> {
    let mut done = HashSet::new();
    for ((stream, ix), &index) in highest {
        let Ok(described) = store.get_stream(stream).await else {
            continue;
        };
        let Some(shard) = described.shards.get(*ix as usize) else {
            continue;
        };
        if shard.sequence_number_range.ending_sequence_number.is_some() || !done.insert((stream, ix)) {
            continue;
        }
        let Ok(hash_key) = shard.hash_key_range.starting_hash_key.parse::<u128>() else {
            continue;
        };
        let mut current = store.current_shard_seq(stream, *ix).await;
        while current <= index {
            let take = (index + 1 - current).min(ADVANCE_CHUNK);
            let keys = vec![hash_key; take as usize];
            store
                .allocate_sequences_batch(stream, &keys)
                .await
                .map_err(other)?;
            current = store.current_shard_seq(stream, *ix).await;
        }
    }
    Ok(())
}

fn other(err: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{err:?}"))
}
