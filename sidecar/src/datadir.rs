//! The data directory: creating it and holding the instance lock for the process's life.
//!
//! Owns: `<data_dir>/acd.lock` (an advisory exclusive lock, released by the OS when the process
//! ends, even on a crash). Does not own: the store files inside (the engine's `store`) nor the
//! token file (see `auth`).

use fs2::FileExt;
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "acd.lock";

/// Why the data dir could not be claimed.
#[derive(Debug, Error)]
pub enum DataDirError {
    /// The directory could not be created or the lock file opened.
    #[error("cannot use data dir {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process holds the lock.
    #[error(
        "data dir {path} is already in use by another acd process (lock {lock} is held); \
         stop that process or choose another --data-dir"
    )]
    InUse {
        /// The data dir.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
}

/// A claimed data dir; the lock is held until this is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes the instance lock without waiting.
    pub fn claim(path: &Path) -> Result<DataDir, DataDirError> {
        std::fs::create_dir_all(path).map_err(|source| DataDirError::Io {
            path: path.to_owned(),
            source,
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| DataDirError::Io {
                path: lock_path.clone(),
                source,
            })?;
        if lock.try_lock_exclusive().is_err() {
            return Err(DataDirError::InUse {
                path: path.to_owned(),
                lock: lock_path,
            });
        }
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_on_the_same_dir_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let _first = DataDir::claim(dir.path()).unwrap();
        let err = DataDir::claim(dir.path()).unwrap_err();
        assert!(matches!(err, DataDirError::InUse { .. }));
        assert!(err.to_string().contains("already in use"), "{err}");
    }

    #[test]
    fn claim_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        drop(DataDir::claim(dir.path()).unwrap());
        DataDir::claim(dir.path()).unwrap();
    }

    #[test]
    fn claim_creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        DataDir::claim(&nested).unwrap();
        assert!(nested.join(LOCK_FILE).exists());
    }
}
