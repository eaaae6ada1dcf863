//! One media shard, sans-IO: the legs it owns, packets in with the time, packets out, timers
//! polled. The io layer ([`crate::runtime`]) owns the sockets and the clock and drives it:
//! `handle_command`, `handle_packet` (answers the relayed packet, rewritten in place),
//! `poll_timeout` / `handle_timeout` / `poll_transmit` (playlist frames, RTCP reports),
//! `poll_event`.
//!
//! What it owns: source acceptance (latching, SDP address checks), the relay with payload
//! type mapping, PCMU⇄PCMA transcoding and SSRC/sequence/timestamp continuity toward each
//! leg (`leg::Out`), playlists on one shard-wide 20 ms tick, RTCP termination per leg,
//! DTMF detection and the media timeout (checked in a once-a-second sweep, not per packet).
//! It does not own sockets, clocks or randomness (seeds come from [`ShardConfig`]).
//!
//! Where the contract in [`crate::media`] leaves room, the shard does this:
//! - `Play` suppresses the relay *toward* the leg but keeps the link: after `StopPlay` or
//!   `PlayDone` a still-connected leg hears its peer again (new segment, marked); what a
//!   playing leg sends is still relayed to its peer. `Connect` stops playlists on both legs.
//! - A leg that cannot hear its playlist (no address, on hold, a non-G.711 encoding) gets no
//!   frames, but the playlist still advances, so `PlayDone` comes on time.
//! - Media timeout: only a `sendrecv` leg with a known remote is expected to send (issue 11
//!   counts `a=sendonly` as hold; a ringing agent leg has no remote yet).
//! - `Open` on an odd port answers [`Event::Failed`]; `Open` on an open leg replaces it.
//! - SR timestamps: NTP time comes from [`Shard::set_wallclock`], which the io layer may call
//!   once after [`Shard::new`]; without it NTP time counts from the Unix epoch at creation.
//!
//! The per-packet path does no allocation, no hashing and no locking: a leg is found by
//! `port / 2` in a flat index into a slab. RTP headers are read with `rtp-rs`, the named
//! dependency. The `media` criterion bench compares it with a hand-written reader doing the
//! same checks: on the shared 2-core bench machine (loaded) rtp-rs took ~70 ns against ~33 ns
//! (its accessors are not inlined across crates without LTO), and a whole relayed packet
//! ~220 ns (PCMU→PCMU) / ~590 ns (PCMU→PCMA) through `handle_packet`. The ~35 ns is about 1%
//! of the per-packet CPU, which the socket calls dominate (µs), so rtp-rs stays; a
//! hand-written reader is the first thing to take if the relay itself ever matters.

mod leg;
#[cfg(test)]
mod tests;

use self::leg::{clock_rate, samples, Leg, Out, Recv, Source};
use super::dtmf::{Detector, Tone};
use super::player::{Law, Player, FRAME_SAMPLES};
use super::rtcp;
use super::{Command, Direction, Encoding, Event, LegMedia, MediaLeg};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Shard settings.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// A leg whose remote should send and sends nothing this long times out.
    pub timeout: Duration,
    /// Interval between RTCP reports per leg (each report randomised to 0.5–1.5 of it).
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

/// Counters of one shard (monotonic; the io layer may publish them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// RTP packets relayed to a peer.
    pub relayed: u64,
    /// Playlist frames sent.
    pub played: u64,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// Valid RTCP compounds received.
    pub rtcp_received: u64,
    /// Datagrams for a port with no leg.
    pub dropped_unknown_leg: u64,
    /// Datagrams that are not valid RTP (or RTCP on the RTCP port).
    pub dropped_invalid: u64,
    /// Datagrams from a source the leg does not accept (latched elsewhere, wrong IP).
    pub dropped_source: u64,
    /// RTP with a payload type the leg did not negotiate.
    pub dropped_payload: u64,
    /// Accepted RTP not relayed: no peer, the peer on hold, playing, without an address, or
    /// without a matching encoding / telephone-event.
    pub not_relayed: u64,
}

/// Playlist frame period.
const TICK: Duration = Duration::from_millis(20);
/// Period of the sweep (media timeouts, DTMF gaps, RTCP scheduling).
const SWEEP: Duration = Duration::from_secs(1);
/// Seconds from the NTP epoch (1900) to the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
const NO_SLOT: u32 = u32::MAX;
const RTP_HEADER: usize = 12;

fn ntp_of(d: Duration) -> u64 {
    (d.as_secs() << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// splitmix64: the shard's seeded generator (SSRCs, initial sequence numbers and
/// timestamps, RTCP interval jitter).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// How a payload crosses from one leg's encoding to another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transcode {
    Copy,
    UlawToAlaw,
    AlawToUlaw,
}

fn transcode(from: Encoding, to: Encoding) -> Option<Transcode> {
    match (from, to) {
        (Encoding::Pcmu, Encoding::Pcma) => Some(Transcode::UlawToAlaw),
        (Encoding::Pcma, Encoding::Pcmu) => Some(Transcode::AlawToUlaw),
        (a, b) if a == b => Some(Transcode::Copy),
        _ => None,
    }
}

/// The legs of one shard.
pub struct Shard {
    cfg: ShardConfig,
    rng: Rng,
    /// `port / 2` → slot in `slots`, or [`NO_SLOT`].
    index: Vec<u32>,
    slots: Vec<Option<Leg>>,
    free: Vec<u32>,
    legs: usize,
    events: VecDeque<Event>,
    /// The shard's time origin: ticks are aligned on it, jitter arrival times count from it.
    epoch: Instant,
    /// NTP time at `epoch`.
    ntp_epoch: u64,
    /// The legs playing a playlist (the tick visits only these).
    playing: Vec<MediaLeg>,
    next_tick: Option<Instant>,
    /// The tick whose frames `poll_transmit` is producing, and the next index into
    /// `playing` to serve.
    tick: Option<(Instant, usize)>,
    next_sweep: Instant,
    /// Legs whose RTCP report is due, and the sweep time they were found at.
    rtcp_due: VecDeque<MediaLeg>,
    sweep_at: Instant,
    stats: ShardStats,
}

impl Shard {
    /// An empty shard.
    pub fn new(mut cfg: ShardConfig, now: Instant) -> Shard {
        // Bounded so that scheduling arithmetic cannot overflow.
        cfg.rtcp_interval = cfg.rtcp_interval.min(Duration::from_secs(3600));
        Shard {
            rng: Rng(cfg.seed),
            cfg,
            index: vec![NO_SLOT; 1 << 15],
            slots: Vec::new(),
            free: Vec::new(),
            legs: 0,
            events: VecDeque::new(),
            epoch: now,
            // Without a wall clock from the io layer, NTP time counts from the Unix epoch at
            // `now`: LSR/DLSR round trips stay right, only the absolute time is off.
            ntp_epoch: NTP_UNIX_OFFSET << 32,
            playing: Vec::new(),
            next_tick: None,
            tick: None,
            next_sweep: now + SWEEP,
            rtcp_due: VecDeque::new(),
            sweep_at: now,
            stats: ShardStats::default(),
        }
    }

    /// Tells the shard the wall-clock time (since the Unix epoch) at the instant `at`, for
    /// the NTP timestamps of its sender reports. The io layer reads the clock; the shard
    /// never does.
    pub fn set_wallclock(&mut self, at: Instant, since_unix: Duration) {
        let ntp_at = ntp_of(since_unix + Duration::from_secs(NTP_UNIX_OFFSET));
        let ntp_since_epoch = ntp_of(at.saturating_duration_since(self.epoch));
        self.ntp_epoch = ntp_at.wrapping_sub(ntp_since_epoch);
    }

    fn ntp(&self, now: Instant) -> u64 {
        self.ntp_epoch
            .wrapping_add(ntp_of(now.saturating_duration_since(self.epoch)))
    }

    /// Counters so far.
    pub fn stats(&self) -> ShardStats {
        self.stats
    }

    fn slot_of(&self, leg: MediaLeg) -> Option<usize> {
        match self.index.get(usize::from(leg.0 >> 1)) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    fn leg(&self, leg: MediaLeg) -> Option<&Leg> {
        self.slots[self.slot_of(leg)?].as_ref()
    }

    fn leg_mut(&mut self, leg: MediaLeg) -> Option<&mut Leg> {
        let s = self.slot_of(leg)?;
        self.slots[s].as_mut()
    }

    fn rtcp_delay(&mut self) -> Duration {
        // RFC 3550 6.3.1: randomised to [0.5, 1.5] of the interval, so legs opened together
        // do not report in lockstep.
        let factor = 500 + self.rng.next() % 1001;
        self.cfg.rtcp_interval * factor as u32 / 1000
    }

    fn next_tick_after(&self, now: Instant) -> Instant {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        let period = TICK.as_nanos();
        let k = since.div_ceil(period);
        self.epoch + Duration::from_nanos((k * period) as u64)
    }

    /// Applies a command (the io layer has bound the sockets of an `Open` already).
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Open { leg, media } => self.open(now, leg, media),
            Command::Update { leg, media } => {
                if let Some(l) = self.leg_mut(leg) {
                    if l.media.remote != media.remote || l.media.latch != media.latch {
                        l.latched = None;
                        l.rtcp_latched = None;
                    }
                    if l.media.encoding != media.encoding {
                        l.rate = clock_rate(media.encoding);
                        l.out.invalidate();
                    }
                    l.media = media;
                    l.last_activity = now;
                    l.timed_out = false;
                }
            }
            Command::Connect { a, b } => {
                if a == b || self.leg(a).is_none() || self.leg(b).is_none() {
                    return;
                }
                self.unlink(a);
                self.unlink(b);
                for (x, y) in [(a, b), (b, a)] {
                    self.stop_play(x);
                    if let Some(l) = self.leg_mut(x) {
                        l.peer = Some(y);
                        l.out.invalidate();
                    }
                }
            }
            Command::Disconnect { leg } => self.unlink(leg),
            Command::Play { leg, playlist } => {
                let Some(l) = self.leg_mut(leg) else {
                    return;
                };
                let was_playing = l.player.replace(Player::new(playlist)).is_some();
                if !was_playing {
                    self.playing.push(leg);
                    if self.next_tick.is_none() {
                        self.next_tick = Some(self.next_tick_after(now));
                    }
                }
            }
            Command::StopPlay { leg } => self.stop_play(leg),
            Command::Release { leg } => self.release(leg),
        }
    }

    fn open(&mut self, now: Instant, id: MediaLeg, media: LegMedia) {
        if !id.0.is_multiple_of(2) {
            self.events.push_back(Event::Failed {
                leg: id,
                reason: format!("media leg port {} is odd (RTP ports are even)", id.0),
            });
            return;
        }
        self.release(id);
        let r = self.rng.next();
        let out = Out::new(r as u32, (r >> 32) as u16, self.rng.next() as u32);
        let next_rtcp = now + self.rtcp_delay();
        let leg = Leg {
            id,
            rate: clock_rate(media.encoding),
            media,
            latched: None,
            rtcp_latched: None,
            peer: None,
            player: None,
            out,
            recv: Recv::default(),
            dtmf: Detector::new(),
            first_packet_seen: false,
            last_activity: now,
            timed_out: false,
            last_sr: None,
            next_rtcp,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(leg);
                s
            }
            None => {
                self.slots.push(Some(leg));
                (self.slots.len() - 1) as u32
            }
        };
        self.index[usize::from(id.0 >> 1)] = slot;
        if self.legs == 0 {
            self.next_sweep = now + SWEEP;
        }
        self.legs += 1;
    }

    /// Ends `leg`'s relay link, both ways.
    fn unlink(&mut self, leg: MediaLeg) {
        let Some(l) = self.leg_mut(leg) else {
            return;
        };
        let peer = l.peer.take();
        l.out.invalidate();
        if let Some(p) = peer.and_then(|p| self.leg_mut(p)) {
            if p.peer == Some(leg) {
                p.peer = None;
                p.out.invalidate();
            }
        }
    }

    fn stop_play(&mut self, leg: MediaLeg) {
        if let Some(l) = self.leg_mut(leg) {
            if l.player.take().is_some() {
                if let Some(i) = self.playing.iter().position(|&p| p == leg) {
                    self.remove_playing(i);
                }
            }
        }
    }

    fn remove_playing(&mut self, i: usize) {
        self.playing.swap_remove(i);
        if self.playing.is_empty() {
            self.next_tick = None;
            self.tick = None;
        }
    }

    fn release(&mut self, leg: MediaLeg) {
        let Some(slot) = self.slot_of(leg) else {
            return;
        };
        self.unlink(leg);
        self.stop_play(leg);
        self.slots[slot] = None;
        self.free.push(slot as u32);
        self.index[usize::from(leg.0 >> 1)] = NO_SLOT;
        self.legs -= 1;
    }

    /// A datagram received on `leg`'s RTP (or RTCP) socket from `from`, in `buf[..len]`.
    /// `buf` may be rewritten in place; the answer says where to send `buf[..t.len]`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        leg: MediaLeg,
        rtcp: bool,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<Transmit> {
        let len = len.min(buf.len());
        let Some(slot) = self.slot_of(leg) else {
            self.stats.dropped_unknown_leg += 1;
            return None;
        };
        if rtcp {
            self.handle_rtcp(now, slot, from, &buf[..len]);
            return None;
        }
        let (ssrc, seq, ts, pt, marker, payload) = match rtp_rs::RtpReader::new(&buf[..len]) {
            // 72–76 with the marker bit are RTCP types 200–204 multiplexed on the RTP port.
            Ok(r) if !(72..=76).contains(&r.payload_type()) => {
                let start = r.payload_offset();
                let end = start + r.payload().len();
                (
                    r.ssrc(),
                    u16::from(r.sequence_number()),
                    r.timestamp(),
                    r.payload_type(),
                    r.mark(),
                    start..end,
                )
            }
            _ => {
                self.stats.dropped_invalid += 1;
                return None;
            }
        };
        let epoch = self.epoch;
        let src = self.slots[slot].as_mut()?;
        // Who may send on this leg.
        if src.media.latch {
            match src.latched {
                Some(a) if a != from => {
                    self.stats.dropped_source += 1;
                    return None;
                }
                Some(_) => {}
                None => src.latched = Some(from),
            }
        } else if src.media.remote.map(|r| r.ip()) != Some(from.ip()) {
            self.stats.dropped_source += 1;
            return None;
        }
        src.last_activity = now;
        src.timed_out = false;
        if !src.first_packet_seen {
            src.first_packet_seen = true;
            self.events.push_back(Event::FirstPacket { leg, from });
        }
        let is_event = src.media.telephone_event == Some(pt);
        let arrival = (!is_event).then(|| samples(now.saturating_duration_since(epoch), src.rate));
        if src.recv.update(ssrc, seq, ts, arrival) {
            if let Some(t) = src.dtmf.take() {
                push_dtmf(&mut self.events, leg, src.rate, t);
            }
        }
        if is_event {
            let (events, rate) = (&mut self.events, src.rate);
            src.dtmf.handle(now, ts, &buf[payload.clone()], |t| {
                push_dtmf(events, leg, rate, t)
            });
        } else if pt != src.media.pt {
            self.stats.dropped_payload += 1;
            return None;
        }
        let (src_enc, src_rate, peer_id) = (src.media.encoding, src.rate, src.peer);
        // Toward the peer.
        let peer = peer_id
            .and_then(|p| self.slot_of(p))
            .and_then(|s| self.slots[s].as_mut())
            .filter(|p| p.receives_relay());
        let route = peer.and_then(|p| {
            let dest = p.rtp_dest()?;
            let code = transcode(src_enc, p.media.encoding)?;
            let out_pt = if !is_event {
                p.media.pt
            } else if p.rate == src_rate {
                p.media.telephone_event?
            } else {
                return None;
            };
            Some((p, dest, code, out_pt))
        });
        let Some((peer, dest, code, out_pt)) = route else {
            self.stats.not_relayed += 1;
            return None;
        };
        let (out_seq, out_ts, switch) = peer.out.relay(
            now,
            peer.rate,
            Source::Relay { from: leg, ssrc },
            seq,
            ts,
            payload.len(),
        );
        buf[1] = (u8::from(marker || switch) << 7) | out_pt;
        buf[2..4].copy_from_slice(&out_seq.to_be_bytes());
        buf[4..8].copy_from_slice(&out_ts.to_be_bytes());
        buf[8..12].copy_from_slice(&peer.out.ssrc.to_be_bytes());
        if !is_event {
            match code {
                Transcode::Copy => {}
                Transcode::UlawToAlaw => super::g711::ulaw_to_alaw_in_place(&mut buf[payload]),
                Transcode::AlawToUlaw => super::g711::alaw_to_ulaw_in_place(&mut buf[payload]),
            }
        }
        self.stats.relayed += 1;
        Some(Transmit {
            leg: peer.id,
            rtcp: false,
            to: dest,
            len,
        })
    }

    fn handle_rtcp(&mut self, now: Instant, slot: usize, from: SocketAddr, buf: &[u8]) {
        let Some(l) = self.slots[slot].as_mut() else {
            return;
        };
        let report = match rtcp::parse(buf) {
            Ok(r) => r,
            Err(_) => {
                self.stats.dropped_invalid += 1;
                return;
            }
        };
        let accepted = if l.media.latch {
            match l.rtcp_latched {
                Some(a) => a == from,
                // Once RTP is latched, RTCP must come from the same host.
                None => l.latched.is_none_or(|a| a.ip() == from.ip()),
            }
        } else {
            l.media.remote.map(|r| r.ip()) == Some(from.ip())
        };
        if !accepted {
            self.stats.dropped_source += 1;
            return;
        }
        if l.media.latch {
            l.rtcp_latched = Some(from);
        }
        if let Some(s) = report.sender {
            l.last_sr = Some((s.ntp_middle(), now));
        }
        self.stats.rtcp_received += 1;
    }

    /// When [`Shard::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sweep = (self.legs > 0).then_some(self.next_sweep);
        match (self.next_tick, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers (playlists, RTCP reports, media timeouts).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.next_tick.filter(|&t| t <= now) {
            self.tick = Some((t, 0));
            // A late call skips the missed ticks rather than bursting them.
            let next = t + TICK;
            self.next_tick = Some(if next > now {
                next
            } else {
                self.next_tick_after(now + Duration::from_nanos(1))
            });
        }
        if self.legs > 0 && self.next_sweep <= now {
            self.next_sweep = now + SWEEP;
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.sweep_at = now;
        self.rtcp_due.clear();
        for s in 0..self.slots.len() {
            let due_rtcp = {
                let Some(l) = self.slots[s].as_mut() else {
                    continue;
                };
                let silent = now.saturating_duration_since(l.last_activity);
                // Only a sendrecv leg with a known remote must send. Not a leg whose remote
                // is not known yet (an agent's phone still ringing), nor a hold: issue 11
                // counts `a=sendonly` as hold too, and a phone holding with sendonly often
                // sends no music at all, so `Direction::remote_sends` would end held calls.
                let expected = l.media.direction == Direction::SendRecv && l.media.remote.is_some();
                if expected && !l.timed_out && silent >= self.cfg.timeout {
                    l.timed_out = true;
                    self.events.push_back(Event::Timeout {
                        leg: l.id,
                        silent_secs: silent.as_secs().min(u64::from(u32::MAX)) as u32,
                    });
                }
                if let Some(t) = l.dtmf.handle_gap(now) {
                    push_dtmf(&mut self.events, l.id, l.rate, t);
                }
                (l.next_rtcp <= now).then_some(l.id)
            };
            if let Some(id) = due_rtcp {
                let delay = self.rtcp_delay();
                if let Some(l) = self.slots[s].as_mut() {
                    l.next_rtcp = now + delay;
                    if l.rtcp_dest().is_some() {
                        self.rtcp_due.push_back(id);
                    }
                }
            }
        }
    }

    /// A packet the timers produced, written into `buf`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((at, i)) = self.tick {
            let Some(&leg) = self.playing.get(i) else {
                self.tick = None;
                break;
            };
            let (t, playing) = self.play_frame(at, leg, buf);
            if playing {
                self.tick = Some((at, i + 1));
            } else {
                // The last leg takes its place, still to be served at this tick.
                self.remove_playing(i);
            }
            if t.is_some() {
                return t;
            }
        }
        while let Some(id) = self.rtcp_due.pop_front() {
            if let Some(t) = self.report(id, buf) {
                return Some(t);
            }
        }
        None
    }

    /// The frame of `leg` for the tick at `at`, if it can be sent, and whether the leg still
    /// plays after it.
    fn play_frame(
        &mut self,
        at: Instant,
        leg: MediaLeg,
        buf: &mut [u8],
    ) -> (Option<Transmit>, bool) {
        let Some(slot) = self.slot_of(leg) else {
            return (None, false);
        };
        let Some(l) = self.slots[slot].as_mut().filter(|l| l.player.is_some()) else {
            return (None, false);
        };
        let law = match l.media.encoding {
            Encoding::Pcmu => Some(Law::Ulaw),
            Encoding::Pcma => Some(Law::Alaw),
            Encoding::Other(_) => None,
        };
        let dest = l.rtp_dest().filter(|_| l.media.direction.remote_receives());
        let sendable = law.is_some() && dest.is_some() && buf.len() >= RTP_HEADER + FRAME_SAMPLES;
        let Some(player) = l.player.as_mut() else {
            return (None, false);
        };
        let done = if sendable {
            player.fill(
                &mut buf[RTP_HEADER..RTP_HEADER + FRAME_SAMPLES],
                law.unwrap_or(Law::Ulaw),
            )
        } else {
            // Time passes for a leg that cannot hear it, so PlayDone still comes on time.
            let mut scratch = [0u8; FRAME_SAMPLES];
            player.fill(&mut scratch, Law::Ulaw)
        };
        if done {
            l.player = None;
            self.events.push_back(Event::PlayDone { leg: l.id });
        }
        let Some(dest) = dest.filter(|_| sendable) else {
            return (None, !done);
        };
        let (seq, ts, marker) = l.out.play(at, l.rate, FRAME_SAMPLES);
        buf[0] = 0x80;
        buf[1] = (u8::from(marker) << 7) | l.media.pt;
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        buf[4..8].copy_from_slice(&ts.to_be_bytes());
        buf[8..12].copy_from_slice(&l.out.ssrc.to_be_bytes());
        self.stats.played += 1;
        let t = Transmit {
            leg: l.id,
            rtcp: false,
            to: dest,
            len: RTP_HEADER + FRAME_SAMPLES,
        };
        (Some(t), !done)
    }

    /// The RTCP report of `id`, written into `buf`.
    fn report(&mut self, id: MediaLeg, buf: &mut [u8]) -> Option<Transmit> {
        let now = self.sweep_at;
        let ntp = self.ntp(now);
        let l = self.leg_mut(id)?;
        let to = l.rtcp_dest()?;
        let sender = l.out.sent_since_report.then(|| rtcp::SenderInfo {
            ntp,
            rtp_ts: l.out.ts_at(now, l.rate),
            packets: l.out.packets,
            octets: l.out.octets,
        });
        let block = l.recv.report().map(|r| {
            let (lsr, dlsr) = l.last_sr.map_or((0, 0), |(lsr, at)| {
                (lsr, rtcp::dlsr(now.saturating_duration_since(at)))
            });
            rtcp::ReportBlock {
                ssrc: r.ssrc,
                fraction_lost: r.fraction_lost,
                cumulative_lost: r.cumulative_lost,
                highest_seq: r.highest_seq,
                jitter: r.jitter,
                lsr,
                dlsr,
            }
        });
        let cname = cname(l.out.ssrc);
        let report = rtcp::Report {
            ssrc: l.out.ssrc,
            sender,
            block,
            cname: &cname,
        };
        let len = rtcp::build_report(buf, &report).ok()?;
        l.out.sent_since_report = false;
        self.stats.rtcp_sent += 1;
        Some(Transmit {
            leg: id,
            rtcp: true,
            to,
            len,
        })
    }

    /// Next event for the call flow.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Legs open.
    pub fn leg_count(&self) -> usize {
        self.legs
    }
}

fn push_dtmf(events: &mut VecDeque<Event>, leg: MediaLeg, rate: u32, t: Tone) {
    events.push_back(Event::Dtmf {
        leg,
        digit: t.digit,
        duration_ms: t.duration_ms(rate),
    });
}

/// `acd-` and the SSRC in hex: unique per stream, stable for its life.
fn cname(ssrc: u32) -> [u8; 12] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut c = *b"acd-00000000";
    for i in 0..8 {
        c[4 + i] = HEX[((ssrc >> (28 - 4 * i)) & 0xf) as usize];
    }
    c
}
