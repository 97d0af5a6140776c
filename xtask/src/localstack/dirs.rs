//! Where LocalStack's host mode (`cargo xtask localstack up --host`) keeps
//! what it installs and runs: one place both the installer and the supervisor
//! read, so that neither depends on the other for it.

use std::path::{Path, PathBuf};

/// Where host mode keeps LocalStack, its files, its log and its process id.
pub struct Dirs {
    root: PathBuf,
}

impl Dirs {
    pub fn new(project_root: &Path) -> Self {
        Dirs {
            root: project_root.join("target/localstack-host"),
        }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn venv(&self) -> PathBuf {
        self.root.join("venv")
    }
    /// Written once pip has installed everything into the venv.
    pub fn venv_done(&self) -> PathBuf {
        self.venv().join("kinesis-lab-installed")
    }
    /// LocalStack's FILESYSTEM_ROOT: what its image keeps under / lives here.
    pub fn filesystem_root(&self) -> PathBuf {
        self.root.join("fs")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("localstack.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("supervisor.pid")
    }
}
