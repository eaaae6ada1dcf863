//! Durable key-value storage behind the [`Store`] trait: [`SledStore`] on disk and [`MemStore`]
//! in memory for tests.
//!
//! Owns bytes on disk, the data-dir lock, the schema version and group commit. Does not know
//! what the bytes mean: the admin service (and later the chat/email interaction log) encode
//! their records and pick their keyspaces.
//!
//! Durability contract: `put`/`delete` make a change visible at once; it is durable only after
//! a later [`Store::flush`] returns `Ok`. Callers acknowledge a write to a client only after
//! `flush`. Concurrent callers of `flush` share one fsync (group commit), which is what makes
//! durable writes cheap under concurrency.

mod sled_store;

pub use sled_store::SledStore;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Key/value pairs returned by a scan, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (another `acd`) holds the data dir.
    #[error(
        "data dir {path} is already in use by another running acd (lock held on {lock}); \
         stop that process or choose another data dir"
    )]
    Locked {
        /// The data dir.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The data was written by a newer acd.
    #[error(
        "data dir {path} has schema version {found}, but this acd supports up to {supported}; \
         upgrade acd or use another data dir"
    )]
    NewerSchema {
        /// The data dir.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Highest version this build understands.
        supported: u32,
    },
    /// The data dir could not be created or locked.
    #[error("cannot use data dir {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// sled reported an error.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record in {keyspace} at key {key}: {detail}")]
    Corrupt {
        /// The keyspace.
        keyspace: String,
        /// The key, hex-encoded.
        key: String,
        /// What failed.
        detail: String,
    },
}

/// A durable, ordered key-value store with named keyspaces.
pub trait Store: Send + Sync {
    /// The value at `key`, if any.
    fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value` (durable after the next [`Store::flush`]).
    fn put(&self, keyspace: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` (durable after the next [`Store::flush`]).
    fn delete(&self, keyspace: &str, key: &[u8]) -> Result<(), StoreError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, keyspace: &str, prefix: &[u8]) -> Result<Pairs, StoreError>;
    /// Up to `limit` pairs with key `>= start`, in key order (for paging through logs).
    fn scan_from(&self, keyspace: &str, start: &[u8], limit: usize) -> Result<Pairs, StoreError>;
    /// Makes every change made before this call durable. Concurrent calls share one fsync.
    fn flush(&self) -> Result<(), StoreError>;
}

type Space = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory [`Store`] for tests: same semantics, nothing survives the process.
#[derive(Debug, Default)]
pub struct MemStore {
    spaces: RwLock<BTreeMap<String, Space>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let spaces = self.spaces.read().unwrap_or_else(|e| e.into_inner());
        Ok(spaces.get(keyspace).and_then(|s| s.get(key)).cloned())
    }

    fn put(&self, keyspace: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut spaces = self.spaces.write().unwrap_or_else(|e| e.into_inner());
        spaces
            .entry(keyspace.to_owned())
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, keyspace: &str, key: &[u8]) -> Result<(), StoreError> {
        let mut spaces = self.spaces.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = spaces.get_mut(keyspace) {
            s.remove(key);
        }
        Ok(())
    }

    fn scan_prefix(&self, keyspace: &str, prefix: &[u8]) -> Result<Pairs, StoreError> {
        let spaces = self.spaces.read().unwrap_or_else(|e| e.into_inner());
        Ok(spaces
            .get(keyspace)
            .map(|s| {
                s.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn scan_from(&self, keyspace: &str, start: &[u8], limit: usize) -> Result<Pairs, StoreError> {
        let spaces = self.spaces.read().unwrap_or_else(|e| e.into_inner());
        Ok(spaces
            .get(keyspace)
            .map(|s| {
                s.range(start.to_vec()..)
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
