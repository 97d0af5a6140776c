//! Checkpoints: where a consumer got to in each shard, saved to a file so that a
//! restarted ETL resumes where it stopped (lab step 2.2, made restartable).
//!
//! A position is saved only after the records up to it have been written to
//! their destination. A crash between the write and the save means those
//! records are read and written again when the ETL restarts: delivery is at
//! least once, never at most once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;
use serde::{Deserialize, Serialize};
/// A position in one shard: the shard reader's own type, saved as it is.
pub use shard_reader::ShardPosition;

/// Why a checkpoint could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the checkpoint {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("the checkpoint {} is not a checkpoint file: {error}", path.display())]
    NotACheckpoint { path: PathBuf, error: serde_json::Error },
    #[error(
        "the checkpoint {} is for stream \"{found}\", not \"{wanted}\"\nUse another --checkpoint file, or delete this one to start over.",
        path.display()
    )]
    OtherStream {
        path: PathBuf,
        found: String,
        wanted: String,
    },
    #[error("cannot write the checkpoint {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

/// The position in every shard of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub stream: String,
    pub shards: BTreeMap<String, ShardPosition>,
}

impl Checkpoint {
    pub fn new(stream: &str) -> Checkpoint {
        Checkpoint {
            stream: stream.to_owned(),
            shards: BTreeMap::new(),
        }
    }

    /// The checkpoint in `path`, or `None` when there is no such file yet.
    pub fn load(path: &Path, stream: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(CheckpointError::Read {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let checkpoint: Checkpoint =
            serde_json::from_str(&text).map_err(|error| CheckpointError::NotACheckpoint {
                path: path.to_owned(),
                error,
            })?;
        if checkpoint.stream != stream {
            return Err(CheckpointError::OtherStream {
                path: path.to_owned(),
                found: checkpoint.stream,
                wanted: stream.to_owned(),
            });
        }
        Ok(Some(checkpoint))
    }

    /// Saves it in place of the last one, durably: a crash at any moment
    /// leaves the last checkpoint or this one, whole, and once this returns it
    /// is on disk (the workspace's one way to replace a file: ARCHITECTURE.md,
    /// "Durability").
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let write = |error| CheckpointError::Write {
            path: path.to_owned(),
            error,
        };
        let json = serde_json::to_string_pretty(self).expect("a checkpoint is plain JSON");
        let mut file = AtomicWriteFile::open(path).map_err(write)?;
        file.write_all(json.as_bytes()).map_err(write)?;
        file.commit().map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_and_refuses_another_streams_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etl.checkpoint.json");
        assert_eq!(Checkpoint::load(&path, "s").unwrap(), None);
        let mut checkpoint = Checkpoint::new("s");
        checkpoint
            .shards
            .insert("shardId-000000000000".into(), ShardPosition::After("4968".into()));
        checkpoint
            .shards
            .insert("shardId-000000000001".into(), ShardPosition::Finished);
        checkpoint.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "s").unwrap(), Some(checkpoint));
        let err = Checkpoint::load(&path, "other").unwrap_err();
        assert!(
            err.to_string().contains("is for stream \"s\", not \"other\""),
            "{err}"
        );
        std::fs::write(&path, "{").unwrap();
        assert!(
            Checkpoint::load(&path, "s")
                .unwrap_err()
                .to_string()
                .contains("is not a checkpoint file")
        );
    }

    /// A save replaces the last one whole, and leaves nothing else behind (the
    /// ETL saves after every batch: a stray file a save would pile them up).
    #[test]
    fn a_save_replaces_the_last_one_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etl.checkpoint.json");
        for n in 0..3 {
            let mut checkpoint = Checkpoint::new("s");
            checkpoint
                .shards
                .insert("shardId-000000000000".into(), ShardPosition::After(n.to_string()));
            checkpoint.save(&path).unwrap();
            assert_eq!(Checkpoint::load(&path, "s").unwrap(), Some(checkpoint));
        }
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(files, ["etl.checkpoint.json"]);
    }
}
