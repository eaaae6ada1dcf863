//! One leg's state inside a shard: what was negotiated, where its packets come from, the
//! outgoing stream acd writes toward it (one SSRC, sequence and timestamp continuing across
//! every change of source) and the reception statistics of what it sends (RFC 3550 A.1, A.3,
//! A.8) for its RTCP reports.

use crate::media::dtmf::Detector;
use crate::media::player::Player;
use crate::media::{Encoding, LegMedia, MediaLeg};
use crate::model::Codec;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The RTP clock rate of an encoding (G.722 uses 8000 in RTP by RFC 3551's historical error).
pub(crate) fn clock_rate(e: Encoding) -> u32 {
    match e {
        Encoding::Other(Codec::Opus) => 48_000,
        _ => 8_000,
    }
}

/// Samples of a `rate` clock in `d`.
pub(crate) fn samples(d: Duration, rate: u32) -> u32 {
    (d.as_micros() * u128::from(rate) / 1_000_000) as u32
}

/// What feeds a leg's outgoing stream at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Nothing yet, or the last source was replaced: the next packet starts a new segment.
    None,
    /// The leg's playlist.
    Player,
    /// Packets of `from`'s sender with SSRC `ssrc`.
    Relay { from: MediaLeg, ssrc: u32 },
}

/// The stream acd sends toward a leg.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub(crate) ssrc: u32,
    pub(crate) source: Source,
    /// Added to the source's sequence number / timestamp (relay segments).
    seq_off: u16,
    ts_off: u32,
    pub(crate) last_seq: u16,
    pub(crate) last_ts: u32,
    /// When the packet with `last_ts` was sent; `None` before the first.
    pub(crate) last_at: Option<Instant>,
    pub(crate) packets: u32,
    pub(crate) octets: u32,
    /// RTP sent since the last RTCP report (the next one is an SR).
    pub(crate) sent_since_report: bool,
}

impl Out {
    pub(crate) fn new(ssrc: u32, seq: u16, ts: u32) -> Out {
        Out {
            ssrc,
            source: Source::None,
            seq_off: 0,
            ts_off: 0,
            last_seq: seq,
            last_ts: ts,
            last_at: None,
            packets: 0,
            octets: 0,
            sent_since_report: false,
        }
    }

    /// The next packet starts a new segment (marker, offsets recomputed).
    pub(crate) fn invalidate(&mut self) {
        self.source = Source::None;
    }

    /// The timestamp a new segment starting at `now` continues from.
    fn continued_ts(&self, now: Instant, rate: u32) -> u32 {
        match self.last_at {
            Some(at) => self
                .last_ts
                .wrapping_add(samples(now.saturating_duration_since(at), rate)),
            None => self.last_ts,
        }
    }

    /// The RTP timestamp of the instant `now` on this stream (for an SR).
    pub(crate) fn ts_at(&self, now: Instant, rate: u32) -> u32 {
        self.continued_ts(now, rate)
    }

    fn record(&mut self, seq: u16, ts: u32, now: Instant, payload: usize) {
        // Only move forward: a reordered packet keeps its place without rewinding the stream.
        if (seq.wrapping_sub(self.last_seq) as i16) > 0 || self.last_at.is_none() {
            self.last_seq = seq;
            self.last_ts = ts;
            self.last_at = Some(now);
        }
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
        self.sent_since_report = true;
    }

    /// Maps a relayed packet's sequence number and timestamp onto this stream; answers
    /// `(seq, ts, marker)`, the marker set on the first packet of a new segment. `src` is
    /// the [`Source::Relay`] it comes from.
    pub(crate) fn relay(
        &mut self,
        now: Instant,
        rate: u32,
        src: Source,
        in_seq: u16,
        in_ts: u32,
        payload: usize,
    ) -> (u16, u32, bool) {
        let switch = self.source != src;
        if switch {
            let seq = if self.last_at.is_some() {
                self.last_seq.wrapping_add(1)
            } else {
                self.last_seq
            };
            self.seq_off = seq.wrapping_sub(in_seq);
            self.ts_off = self.continued_ts(now, rate).wrapping_sub(in_ts);
            self.source = src;
        }
        let seq = in_seq.wrapping_add(self.seq_off);
        let ts = in_ts.wrapping_add(self.ts_off);
        self.record(seq, ts, now, payload);
        (seq, ts, switch)
    }

    /// The header of the next playlist frame at tick `now`: `(seq, ts, marker)`.
    pub(crate) fn play(&mut self, now: Instant, rate: u32, payload: usize) -> (u16, u32, bool) {
        let switch = self.source != Source::Player;
        let (seq, ts) = match self.last_at {
            Some(_) => (self.last_seq.wrapping_add(1), self.continued_ts(now, rate)),
            None => (self.last_seq, self.last_ts),
        };
        self.source = Source::Player;
        self.record(seq, ts, now, payload);
        (seq, ts, switch)
    }
}

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Reception statistics of the stream a leg's remote sends (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub(crate) struct Recv {
    pub(crate) ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Previous transit time, in timestamp units.
    transit: Option<u32>,
    /// Jitter × 16 (A.8's fixed point).
    jitter: u32,
}

/// The figures of one report block.
pub(crate) struct RecvReport {
    pub(crate) ssrc: u32,
    pub(crate) fraction_lost: u8,
    pub(crate) cumulative_lost: i32,
    pub(crate) highest_seq: u32,
    pub(crate) jitter: u32,
}

impl Recv {
    fn init(&mut self, ssrc: u32, seq: u16) {
        *self = Recv {
            ssrc: Some(ssrc),
            max_seq: seq,
            base_seq: u32::from(seq),
            bad_seq: u32::from(seq) + 1 + 0x1_0000, // never equal to a real sequence
            ..Recv::default()
        };
    }

    /// A packet accepted from the remote. `arrival` is its arrival time in timestamp units,
    /// `None` for packets that say nothing of timing (telephone events keep the timestamp of
    /// the event's start); answers `true` when it starts a new source (new SSRC).
    pub(crate) fn update(&mut self, ssrc: u32, seq: u16, ts: u32, arrival: Option<u32>) -> bool {
        let new = self.ssrc != Some(ssrc);
        if new {
            self.init(ssrc, seq);
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(0x1_0000);
                }
                self.max_seq = seq;
            } else if delta <= u16::MAX - MAX_MISORDER {
                // A very large jump: believe it only when the next packet follows it.
                if u32::from(seq) == self.bad_seq {
                    self.init(ssrc, seq);
                } else {
                    self.bad_seq = u32::from(seq.wrapping_add(1));
                    return false;
                }
            }
            // Otherwise a duplicate or reordered packet: counted, nothing else.
        }
        self.received = self.received.wrapping_add(1);
        let Some(arrival) = arrival else {
            return new;
        };
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter = self
                .jitter
                .wrapping_add(d)
                .wrapping_sub((self.jitter + 8) >> 4);
        }
        self.transit = Some(transit);
        new
    }

    /// The report-block figures, and the interval counters moved on (A.3).
    pub(crate) fn report(&mut self) -> Option<RecvReport> {
        let ssrc = self.ssrc?;
        let highest = self.cycles.wrapping_add(u32::from(self.max_seq));
        let expected = highest.wrapping_sub(self.base_seq).wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        Some(RecvReport {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: highest,
            jitter: self.jitter >> 4,
        })
    }
}

/// One leg.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: MediaLeg,
    pub(crate) media: LegMedia,
    /// Clock rate of its encoding.
    pub(crate) rate: u32,
    /// The RTP source latched on (when `media.latch`).
    pub(crate) latched: Option<SocketAddr>,
    /// The RTCP source latched on (when `media.latch`).
    pub(crate) rtcp_latched: Option<SocketAddr>,
    /// The leg it relays with.
    pub(crate) peer: Option<MediaLeg>,
    pub(crate) player: Option<Player>,
    pub(crate) out: Out,
    pub(crate) recv: Recv,
    pub(crate) dtmf: Detector,
    pub(crate) first_packet_seen: bool,
    /// Start of the current silence (open, last Update, last packet).
    pub(crate) last_activity: Instant,
    pub(crate) timed_out: bool,
    /// The middle of the last SR's NTP time and when it came, for LSR/DLSR.
    pub(crate) last_sr: Option<(u32, Instant)>,
    pub(crate) next_rtcp: Instant,
}

impl Leg {
    /// Where its RTP goes: the latched source when latching (once latched), else the SDP
    /// address; `None` when unknown.
    pub(crate) fn rtp_dest(&self) -> Option<SocketAddr> {
        if self.media.latch {
            self.latched.or(self.media.remote)
        } else {
            self.media.remote
        }
    }

    /// Where its RTCP goes: when latching, the latched RTCP source, else the port after the
    /// latched RTP source (the SDP address may be a private one behind NAT); otherwise the
    /// SDP port + 1.
    pub(crate) fn rtcp_dest(&self) -> Option<SocketAddr> {
        if self.media.latch {
            if let Some(a) = self.rtcp_latched {
                return Some(a);
            }
        }
        let mut a = self.rtp_dest()?;
        a.set_port(a.port().checked_add(1)?);
        Some(a)
    }

    /// Whether acd relays toward it now.
    pub(crate) fn receives_relay(&self) -> bool {
        self.player.is_none() && self.media.direction.remote_receives()
    }
}
