//! The RTP port pool: which even ports (RTP; RTCP is the odd one above) are free, split into
//! one sub-pool per media shard so that a leg's shard follows from its port.
//!
//! Pure bookkeeping owned by the call flow: allocation is a pop, release a push, no sockets.
//! Port `p` belongs to shard `(p - first) / 2 % shards`.

use super::MediaLeg;
use std::collections::VecDeque;
use thiserror::Error;

/// A port range that cannot make a pool.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    /// Fewer than one RTP/RTCP pair per shard.
    #[error("media.ports {first}-{last} holds fewer than one even/odd port pair per media thread ({shards})")]
    TooSmall {
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
        /// Shards.
        shards: usize,
    },
}

/// Which shard owns a port: the pure mapping of a [`PortPool`], copyable so the io layer
/// routes commands exactly as the pool placed the legs, without sharing the pool itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMap {
    first: u16,
    shards: usize,
}

impl ShardMap {
    /// The shard that owns `leg`.
    pub fn shard_of(self, leg: MediaLeg) -> usize {
        (leg.0.wrapping_sub(self.first) as usize / 2) % self.shards
    }

    /// Number of shards.
    pub fn shards(self) -> usize {
        self.shards
    }
}

/// Free RTP ports, per shard. Ports are handed out least-recently-freed first, so a port
/// just released is the last to be reused (late packets of an old call do not reach a new one).
#[derive(Debug, Clone)]
pub struct PortPool {
    first: u16,
    pairs: usize,
    free: Vec<VecDeque<u16>>,
    in_use: Vec<bool>,
}

impl PortPool {
    /// A pool of every even port in `first..=last` (an odd `first` starts at the next even
    /// port; the last pair needs its odd port within the range), split over `shards` shards.
    pub fn new(first: u16, last: u16, shards: usize) -> Result<PortPool, PoolError> {
        let shards = shards.max(1);
        let start = first + (first & 1);
        let pairs = if last > start {
            ((last - start) as usize).div_ceil(2)
        } else {
            0
        };
        if pairs < shards {
            return Err(PoolError::TooSmall {
                first,
                last,
                shards,
            });
        }
        let mut free = vec![VecDeque::new(); shards];
        for i in 0..pairs {
            free[i % shards].push_back(start + 2 * i as u16);
        }
        Ok(PortPool {
            first: start,
            pairs,
            free,
            in_use: vec![false; pairs],
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.free.len()
    }

    /// The shard that owns `leg`.
    pub fn shard_of(&self, leg: MediaLeg) -> usize {
        self.shard_map().shard_of(leg)
    }

    /// The port-to-shard mapping, for whoever routes commands to the shards.
    pub fn shard_map(&self) -> ShardMap {
        ShardMap {
            first: self.first,
            shards: self.free.len(),
        }
    }

    /// A leg for a new call, on the shard with the most free ports; `None` when exhausted.
    pub fn alloc(&mut self) -> Option<MediaLeg> {
        let shard = (0..self.free.len()).max_by_key(|s| self.free[*s].len())?;
        self.alloc_on(shard)
    }

    /// A leg on `shard` (the other legs of a call must share its shard); `None` when that
    /// shard has no free port.
    pub fn alloc_on(&mut self, shard: usize) -> Option<MediaLeg> {
        let port = self.free.get_mut(shard)?.pop_front()?;
        let i = self.index(port);
        self.in_use[i] = true;
        Some(MediaLeg(port))
    }

    /// Gives `leg` back. Releasing a port that is not in use is ignored (and says so).
    pub fn release(&mut self, leg: MediaLeg) -> bool {
        let Some(i) = self.checked_index(leg.0) else {
            return false;
        };
        if !self.in_use[i] {
            return false;
        }
        self.in_use[i] = false;
        let shard = self.shard_of(leg);
        self.free[shard].push_back(leg.0);
        true
    }

    /// Ports pairs in the pool.
    pub fn capacity(&self) -> usize {
        self.pairs
    }

    /// Port pairs free now.
    pub fn available(&self) -> usize {
        self.free.iter().map(VecDeque::len).sum()
    }

    fn index(&self, port: u16) -> usize {
        (port - self.first) as usize / 2
    }

    fn checked_index(&self, port: u16) -> Option<usize> {
        if port < self.first || port & 1 != self.first & 1 {
            return None;
        }
        let i = self.index(port);
        (i < self.pairs).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_even_and_split_over_shards() {
        let mut p = PortPool::new(20_000, 20_009, 2).unwrap();
        assert_eq!(p.capacity(), 5);
        let mut got = Vec::new();
        while let Some(l) = p.alloc() {
            assert_eq!(l.0 % 2, 0);
            got.push(l);
        }
        got.sort();
        assert_eq!(
            got.iter().map(|l| l.0).collect::<Vec<_>>(),
            vec![20_000, 20_002, 20_004, 20_006, 20_008]
        );
        for l in &got {
            assert!(p.release(*l));
            assert!(!p.release(*l), "double release is refused");
        }
        assert_eq!(p.available(), 5);
    }

    #[test]
    fn alloc_on_a_shard_stays_on_it() {
        let mut p = PortPool::new(30_001, 30_100, 3).unwrap();
        let first = p.alloc().unwrap();
        let s = p.shard_of(first);
        for _ in 0..5 {
            let l = p.alloc_on(s).unwrap();
            assert_eq!(p.shard_of(l), s);
        }
    }

    #[test]
    fn a_range_too_small_is_refused() {
        assert!(PortPool::new(20_000, 20_001, 2).is_err());
        assert!(PortPool::new(20_000, 20_000, 1).is_err());
        assert!(PortPool::new(20_000, 20_001, 1).is_ok());
    }

    #[test]
    fn the_shard_map_agrees_with_the_pool() {
        let mut p = PortPool::new(20_001, 20_200, 3).unwrap();
        let map = p.shard_map();
        assert_eq!(map.shards(), 3);
        while let Some(l) = p.alloc() {
            assert_eq!(map.shard_of(l), p.shard_of(l));
        }
    }

    #[test]
    fn foreign_ports_are_not_released() {
        let mut p = PortPool::new(20_000, 20_003, 1).unwrap();
        assert!(!p.release(MediaLeg(20_001)));
        assert!(!p.release(MediaLeg(19_998)));
        assert!(!p.release(MediaLeg(20_004)));
    }
}
