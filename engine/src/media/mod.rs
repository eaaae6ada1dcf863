//! The media plane, sans-IO: RTP/RTCP relay between the legs of a call, queue audio, DTMF
//! detection, G.711 transcoding, media timeouts.
//!
//! This module is the *contract* between the call flow ([`crate::sip::b2bua`]) and the media
//! shards ([`crate::runtime::media_io`]): the call flow sends [`Command`]s, the shards answer
//! with [`Event`]s. Nothing here reads a clock, opens a socket or spawns a thread; the
//! interface is plain data (Clone + Send, no references into a shard) so it can later be
//! carried over a wire to media processes on other machines, as rtpengine's ng protocol is.
//!
//! Identity: a media leg *is* its RTP port (even; RTCP is `port + 1`). Live legs have distinct
//! ports, so the port is a unique, copyable id, and the shard that owns a leg is a function of
//! the port ([`PortPool::shard_of`]): commands for one leg always reach the same shard, in
//! order, so a port released and handed out again can never race its old socket.
//!
//! Submodules: [`pool`] (the port allocator the call flow owns), [`shard`] (one shard's legs:
//! packets in with the time, packets out, timers polled), [`g711`], [`rtcp`], [`dtmf`],
//! [`player`], [`prompts`], [`wav`].

pub mod dtmf;
pub mod g711;
pub mod player;
pub mod pool;
pub mod prompts;
pub mod rtcp;
pub mod shard;
pub mod wav;

pub use pool::{PortPool, ShardMap};

use std::net::SocketAddr;
use std::sync::Arc;

/// A media leg: its RTP port (even). RTCP is on `port + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaLeg(pub u16);

impl MediaLeg {
    /// The RTP port.
    pub fn rtp_port(self) -> u16 {
        self.0
    }
    /// The RTCP port.
    pub fn rtcp_port(self) -> u16 {
        self.0 + 1
    }
}

/// What travels in a leg's RTP, as far as the media plane cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// G.711 µ-law (PCMU): can be played to and transcoded.
    Pcmu,
    /// G.711 A-law (PCMA): can be played to and transcoded.
    Pcma,
    /// Anything else (G.722, Opus, GSM, G.729): relayed untouched to a leg with the same
    /// encoding, never transcoded or played to.
    Other(crate::model::Codec),
}

/// Direction of a leg's stream as the *remote party* declared it in its SDP
/// (`a=sendrecv|sendonly|recvonly|inactive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The remote only sends (it put us on hold with music): we send it nothing.
    SendOnly,
    /// The remote only receives: it sends nothing, which is not a timeout.
    RecvOnly,
    /// Neither (hold): nothing is sent either way, which is not a timeout.
    Inactive,
}

impl Direction {
    /// The remote sends RTP (so silence from it counts toward the media timeout).
    pub fn remote_sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    /// The remote wants RTP from us.
    pub fn remote_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The negotiated media of one leg (from the offer/answer with its remote party).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegMedia {
    /// Where the remote said it receives RTP (SDP `c=`/`m=`); RTCP goes to port + 1.
    /// `None` until known (an agent leg before the answer): nothing is sent.
    pub remote: Option<SocketAddr>,
    /// Symmetric RTP (comedia): send to where the remote's packets come from, latched on the
    /// first packet; after latching, packets from any other source are dropped. Without it,
    /// only packets from the SDP address's IP are accepted, and we send to the SDP address.
    pub latch: bool,
    /// The encoding the remote sends and receives, with its payload type on this leg.
    pub encoding: Encoding,
    /// Payload type of that encoding on this leg.
    pub pt: u8,
    /// Payload type of RFC 4733 telephone-event on this leg, if negotiated.
    pub telephone_event: Option<u8>,
    /// The remote's declared direction.
    pub direction: Direction,
}

/// A prompt ready to play: 8 kHz samples pre-encoded in both G.711 laws (so playing is a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// A name for logs (`welcome`, `moh`, `digit-3`).
    pub name: String,
    /// µ-law bytes, one per sample.
    pub pcmu: Vec<u8>,
    /// A-law bytes, one per sample.
    pub pcma: Vec<u8>,
}

/// What a leg hears from acd itself: prompts in order, then the last one again and again
/// when `repeat_last` (music on hold, ringback). Cheap to clone (shared prompts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist {
    /// The prompts, played back to back.
    pub items: Vec<Arc<Prompt>>,
    /// Loop the last item forever once reached.
    pub repeat_last: bool,
}

/// Commands from the call flow to the shard owning `leg` (see [`PortPool::shard_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Bind the leg's RTP/RTCP ports and start receiving. `media` may already be known (a
    /// caller's offer) or not yet (an agent leg ringing: `remote: None`). A bind failure is
    /// reported as [`Event::Failed`].
    Open {
        /// The leg.
        leg: MediaLeg,
        /// Its media as negotiated so far.
        media: LegMedia,
    },
    /// New offer/answer for the leg (an agent's answer, a re-INVITE for hold/resume).
    Update {
        /// The leg.
        leg: MediaLeg,
        /// The new media.
        media: LegMedia,
    },
    /// Relay `a` ⇄ `b` (both on this shard). Replaces any playlist on either leg; each leg's
    /// outgoing SSRC, sequence and timestamp continue without a jump.
    Connect {
        /// One leg.
        a: MediaLeg,
        /// The other.
        b: MediaLeg,
    },
    /// Stop relaying whatever `leg` was connected to (the other leg is left alone).
    Disconnect {
        /// The leg.
        leg: MediaLeg,
    },
    /// Play to `leg` (replaces a relay toward it; what the leg sends is still received,
    /// checked for DTMF and counted for the timeout).
    Play {
        /// The leg.
        leg: MediaLeg,
        /// What to play.
        playlist: Playlist,
    },
    /// Stop playing to `leg` (silence: nothing is sent).
    StopPlay {
        /// The leg.
        leg: MediaLeg,
    },
    /// Close the leg's sockets and forget it. The port may be reused at once by a later
    /// command to the same shard.
    Release {
        /// The leg.
        leg: MediaLeg,
    },
}

impl Command {
    /// The leg whose shard must execute the command.
    pub fn leg(&self) -> MediaLeg {
        match self {
            Command::Open { leg, .. }
            | Command::Update { leg, .. }
            | Command::Disconnect { leg }
            | Command::Play { leg, .. }
            | Command::StopPlay { leg }
            | Command::Release { leg } => *leg,
            Command::Connect { a, .. } => *a,
        }
    }
}

/// Events from a shard to the call flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first RTP packet accepted on the leg (after latching, if latching).
    FirstPacket {
        /// The leg.
        leg: MediaLeg,
        /// Where it came from.
        from: SocketAddr,
    },
    /// An RFC 4733 telephone-event ended: reported once per event, however many end
    /// packets carried it.
    Dtmf {
        /// The leg that sent it.
        leg: MediaLeg,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// Its duration in milliseconds.
        duration_ms: u32,
    },
    /// Nothing received on the leg for the media timeout while its remote should be sending.
    Timeout {
        /// The leg.
        leg: MediaLeg,
        /// Seconds since the last packet (or since it was opened).
        silent_secs: u32,
    },
    /// The leg could not be opened (its ports could not be bound): the call cannot have audio.
    Failed {
        /// The leg.
        leg: MediaLeg,
        /// Why, for the log.
        reason: String,
    },
    /// A playlist without `repeat_last` played to its end.
    PlayDone {
        /// The leg.
        leg: MediaLeg,
    },
}
