//! Shard tests.
