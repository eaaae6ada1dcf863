//! The sled implementation of [`Store`], with the data-dir lock, the schema version check and
//! group commit.

use super::{Pairs, Store, StoreError, SCHEMA_VERSION};
use fs2::FileExt;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};

const SCHEMA_KEY: &[u8] = b"schema_version";
const LOCK_FILE: &str = "acd.lock";
const DB_DIR: &str = "db";

/// A [`Store`] on disk in a data dir: `<dir>/acd.lock` (held exclusively while open) and the
/// sled database in `<dir>/db`.
pub struct SledStore {
    db: sled::Db,
    trees: RwLock<HashMap<String, sled::Tree>>,
    commit: GroupCommit,
    /// sled's log file. sled 0.34's `flush` writes it out with `sync_file_range`, which neither
    /// flushes the device's write cache nor the file's size; an `fdatasync` on it after each
    /// group flush does both, so an acknowledged write survives a power cut, not only a crash.
    log: File,
    // Held for the life of the store: the OS releases the lock when the file is closed, also
    // when the process dies, so a crash never leaves a stale lock behind.
    _lock: File,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// Writers bump `written`; `flush` waits until a flush that started after its own writes has
/// completed. Only one fsync runs at a time and it covers everyone who wrote before it started,
/// so N concurrent writers cost about two fsyncs rather than N.
#[derive(Default)]
struct GroupCommit {
    written: AtomicU64,
    state: Mutex<CommitState>,
    done: Condvar,
}

#[derive(Default)]
struct CommitState {
    flushed: u64,
    flushing: bool,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Fails with [`StoreError::Locked`] if another
    /// process has it open, and with [`StoreError::NewerSchema`] if a newer acd wrote it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let io = |path: PathBuf| move |source| StoreError::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_owned()))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(lock_path.clone()))?;
        if lock.try_lock_exclusive().is_err() {
            return Err(StoreError::Locked {
                path: dir.to_owned(),
                lock: lock_path,
            });
        }
        let db = open_sled(&dir.join(DB_DIR))?;
        match db.get(SCHEMA_KEY)? {
            Some(v) => {
                let found = v.as_ref().try_into().map(u32::from_be_bytes).map_err(|_| {
                    StoreError::Corrupt {
                        keyspace: "default".into(),
                        key: hex::encode(SCHEMA_KEY),
                        detail: format!("schema version has {} bytes, expected 4", v.len()),
                    }
                })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path: dir.to_owned(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                db.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
        }
        let log_path = dir.join(DB_DIR).join("db");
        let log = File::open(&log_path).map_err(io(log_path))?;
        Ok(SledStore {
            db,
            log,
            trees: RwLock::new(HashMap::new()),
            commit: GroupCommit::default(),
            _lock: lock,
        })
    }

    /// The schema version recorded on disk.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .db
            .get(SCHEMA_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(0))
    }

    /// Records `version` as the schema version (for migrations and tests).
    pub fn set_schema_version(&self, version: u32) -> Result<(), StoreError> {
        self.db.insert(SCHEMA_KEY, &version.to_be_bytes())?;
        self.written();
        self.flush()
    }

    fn tree(&self, keyspace: &str) -> Result<sled::Tree, StoreError> {
        if let Some(t) = self
            .trees
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(keyspace)
        {
            return Ok(t.clone());
        }
        let t = self.db.open_tree(keyspace)?;
        self.trees
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(keyspace.to_owned(), t.clone());
        Ok(t)
    }

    fn written(&self) {
        self.commit.written.fetch_add(1, Ordering::SeqCst);
    }
}

/// Opens sled. Holding `acd.lock` proves no other process uses the dir, so a sled lock error
/// here can only come from a sled instance of this process that was just dropped and whose
/// background threads have not let go yet (a restart inside one process, as tests do): retry
/// for a bounded time rather than fail.
fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let mut attempts = 0;
    loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("lock") && attempts < 500 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

impl Store for SledStore {
    fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(keyspace)?.get(key)?.map(|v| v.to_vec()))
    }

    fn put(&self, keyspace: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree(keyspace)?.insert(key, value)?;
        self.written();
        Ok(())
    }

    fn delete(&self, keyspace: &str, key: &[u8]) -> Result<(), StoreError> {
        self.tree(keyspace)?.remove(key)?;
        self.written();
        Ok(())
    }

    fn scan_prefix(&self, keyspace: &str, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.tree(keyspace)?
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
            .collect()
    }

    fn scan_from(&self, keyspace: &str, start: &[u8], limit: usize) -> Result<Pairs, StoreError> {
        self.tree(keyspace)?
            .range(start..)
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
            .collect()
    }

    fn flush(&self) -> Result<(), StoreError> {
        let c = &self.commit;
        let target = c.written.load(Ordering::SeqCst);
        let mut st = c.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if st.flushed >= target {
                return Ok(());
            }
            if st.flushing {
                st = c.done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.flushing = true;
            // Everything counted in `goal` finished its insert before being counted, so this
            // fsync covers it.
            let goal = c.written.load(Ordering::SeqCst);
            drop(st);
            let result = self.db.flush().map_err(StoreError::from).and_then(|_| {
                self.log.sync_data().map_err(|source| StoreError::Io {
                    path: PathBuf::from("db/db"),
                    source,
                })
            });
            st = c.state.lock().unwrap_or_else(|e| e.into_inner());
            st.flushing = false;
            if result.is_ok() {
                st.flushed = st.flushed.max(goal);
            }
            c.done.notify_all();
            result?;
        }
    }
}
