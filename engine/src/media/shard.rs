//! One media shard, sans-IO: the legs it owns, packets in with the time, packets out, timers
//! polled. Placeholder signatures; filled in by the media-core work.

use super::{Command, Event, MediaLeg};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Shard settings.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// A leg whose remote should send and sends nothing this long times out.
    pub timeout: Duration,
    /// Interval between RTCP reports per leg.
    pub rtcp_interval: Duration,
    /// Seed for SSRCs and initial sequence numbers/timestamps.
    pub seed: u64,
}

/// A datagram to send: from `leg`'s RTP (or RTCP) socket to `to`, the first `len` bytes of
/// the buffer the call was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The leg whose socket sends it.
    pub leg: MediaLeg,
    /// From the RTCP socket rather than the RTP one.
    pub rtcp: bool,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes of the buffer to send.
    pub len: usize,
}

/// The legs of one shard.
pub struct Shard {
    _cfg: ShardConfig,
}

impl Shard {
    /// An empty shard.
    pub fn new(cfg: ShardConfig, _now: Instant) -> Shard {
        Shard { _cfg: cfg }
    }

    /// Applies a command (the io layer has bound the sockets of an `Open` already).
    pub fn handle_command(&mut self, _now: Instant, _cmd: Command) {}

    /// A datagram received on `leg`'s RTP (or RTCP) socket from `from`, in `buf[..len]`.
    /// `buf` may be rewritten in place; the answer says where to send `buf[..t.len]`.
    pub fn handle_packet(
        &mut self,
        _now: Instant,
        _leg: MediaLeg,
        _rtcp: bool,
        _from: SocketAddr,
        _buf: &mut [u8],
        _len: usize,
    ) -> Option<Transmit> {
        None
    }

    /// When [`Shard::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Runs due timers (playlists, RTCP reports, media timeouts).
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// A packet the timers produced, written into `buf`.
    pub fn poll_transmit(&mut self, _buf: &mut [u8]) -> Option<Transmit> {
        None
    }

    /// Next event for the call flow.
    pub fn poll_event(&mut self) -> Option<Event> {
        None
    }

    /// Legs open.
    pub fn leg_count(&self) -> usize {
        0
    }
}
