//! Checkpoints: where a consumer got to in each shard, saved to a file so that a
//! restarted ETL resumes where it stopped (lab step 2.2, made restartable).
//!
//! A position is saved only after the records up to it have been written to
//! their destination. A crash between the write and the save means those
//! records are read and written again when the ETL restarts: delivery is at
//! least once, never at most once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
/// A position in one shard: the shard reader's own type, saved as it is.
pub use shard_reader::ShardPosition;

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
    pub fn load(path: &Path, stream: &str) -> anyhow::Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read the checkpoint {}", path.display()));
            }
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("the checkpoint {} is not a checkpoint file", path.display()))?;
        if checkpoint.stream != stream {
            anyhow::bail!(
                "the checkpoint {} is for stream \"{}\", not \"{stream}\"\nUse another --checkpoint file, or delete this one to start over.",
                path.display(),
                checkpoint.stream
            );
        }
        Ok(Some(checkpoint))
    }

    /// Saves atomically: written to a temporary file, then renamed over the old
    /// one, so a crash mid-save leaves the previous checkpoint whole.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write the checkpoint {}", temporary.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot write the checkpoint {}", path.display()))
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
}
