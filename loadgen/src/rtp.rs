//! RTP for tests and the relay benchmark: packet writing and parsing (RFC 3550), RFC 4733
//! telephone-events, a threaded test endpoint that streams a G.711 tone every 20 ms (with
//! DTMF on request) and records everything it receives, and the checks made on what was
//! received: which tone dominates, SSRC/sequence/timestamp continuity, loss.
//!
//! Owns the wire format as the client sees it, independently of acd's own RTP code, so the
//! tests check acd against the RFCs rather than against itself. Does not own SIP or SDP
//! ([`crate::sipua`]) nor signal analysis ([`crate::tone`]).

use crate::tone::{self, Law, Tone, FRAME};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of a fixed RTP header (no CSRC, no extension).
pub const HEADER: usize = 12;
/// The payload type the tests negotiate for telephone-event.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The fields of a parsed RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Where the payload starts (after CSRCs and any header extension).
    pub payload_start: usize,
    /// Where the payload ends (before any padding).
    pub payload_end: usize,
}

/// Writes a packet with a fixed header into `buf`; returns its length, or `None` when `buf`
/// is too small.
pub fn write_packet(
    buf: &mut [u8],
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: &[u8],
) -> Option<usize> {
    let len = HEADER + payload.len();
    if buf.len() < len {
        return None;
    }
    buf[0] = 0x80;
    buf[1] = (u8::from(marker) << 7) | (pt & 0x7f);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[HEADER..len].copy_from_slice(payload);
    Some(len)
}

/// Parses an RTP packet (version 2); `None` for anything else, including RTCP
/// (payload types 72–76 with the marker bit, i.e. packet types 200–204).
pub fn parse(buf: &[u8]) -> Option<Header> {
    if buf.len() < HEADER || buf[0] >> 6 != 2 {
        return None;
    }
    if (200..=204).contains(&buf[1]) {
        return None;
    }
    let cc = (buf[0] & 0x0f) as usize;
    let mut start = HEADER + 4 * cc;
    if buf[0] & 0x10 != 0 {
        let ext = buf.get(start + 2..start + 4)?;
        start += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        end = end.checked_sub(*buf.last()? as usize)?;
    }
    if start > end {
        return None;
    }
    Some(Header {
        marker: buf[1] & 0x80 != 0,
        pt: buf[1] & 0x7f,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload_start: start,
        payload_end: end,
    })
}

/// An RFC 4733 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D.
    pub code: u8,
    /// End bit.
    pub end: bool,
    /// Volume (0 loud … 63 quiet, as -dBm0).
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz).
    pub duration: u16,
}

impl Event {
    /// Parses the first 4 bytes of a telephone-event payload.
    pub fn parse(p: &[u8]) -> Option<Event> {
        let p = p.get(..4)?;
        Some(Event {
            code: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3f,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    /// The 4 payload bytes.
    pub fn bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.code,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    /// The digit of the event code, for 0–9, `*`, `#`, A–D.
    pub fn digit(self) -> Option<char> {
        digit_of(self.code)
    }
}

/// The DTMF character of an RFC 4733 event code.
pub fn digit_of(code: u8) -> Option<char> {
    b"0123456789*#ABCD".get(code as usize).map(|&b| b as char)
}

/// The RFC 4733 event code of a DTMF character.
pub fn code_of(digit: char) -> Option<u8> {
    b"0123456789*#ABCD"
        .iter()
        .position(|&b| b as char == digit.to_ascii_uppercase())
        .map(|p| p as u8)
}

/// A bench payload's stamp: a magic word, the stream id and the send time, so the receiver
/// can attribute each packet and measure one-way delay without a send-time table (the relay
/// may rewrite sequence numbers and SSRC, but forwards the payload of an untranscoded
/// stream untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The stream the packet belongs to.
    pub stream: u32,
    /// Nanoseconds since the sender's epoch.
    pub sent_ns: u64,
}

const STAMP_MAGIC: [u8; 4] = *b"acdB";
/// Bytes a [`Stamp`] takes at the start of a payload.
pub const STAMP_LEN: usize = 16;

impl Stamp {
    /// Writes the stamp into the first [`STAMP_LEN`] bytes of `payload` (no-op if shorter).
    pub fn write(self, payload: &mut [u8]) {
        if let Some(p) = payload.get_mut(..STAMP_LEN) {
            p[..4].copy_from_slice(&STAMP_MAGIC);
            p[4..8].copy_from_slice(&self.stream.to_be_bytes());
            p[8..16].copy_from_slice(&self.sent_ns.to_be_bytes());
        }
    }

    /// Reads a stamp, `None` for a payload that carries none (e.g. the relay's own audio).
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let p = payload.get(..STAMP_LEN)?;
        if p[..4] != STAMP_MAGIC {
            return None;
        }
        Some(Stamp {
            stream: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            sent_ns: u64::from_be_bytes([p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]]),
        })
    }
}

/// One packet an [`Endpoint`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its source.
    pub from: SocketAddr,
    /// Its header.
    pub header: Header,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What the endpoint's sender does every 20 ms.
#[derive(Debug)]
struct SendState {
    dest: Option<SocketAddr>,
    law: Law,
    tone: Tone,
    /// Send silence-free audio only when true; false sends nothing at all (a silent party).
    audio: bool,
    dtmf: VecDeque<(u8, u16)>,
    seq: u16,
    ts: u32,
    ssrc: u32,
    sent: u64,
}

/// A test party's RTP: one UDP socket, a sender thread (tone and DTMF at 20 ms) and a
/// receiver thread (records every packet). Stopped on drop.
#[derive(Debug)]
pub struct Endpoint {
    socket: Arc<UdpSocket>,
    state: Arc<Mutex<SendState>>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Endpoint {
    /// Binds an even port on `ip` (RTP convention; the odd one above is left for RTCP) and
    /// starts the threads. The sender is idle until [`Endpoint::send_tone`].
    pub fn bind(ip: IpAddr, ssrc: u32) -> io::Result<Endpoint> {
        let socket = Arc::new(bind_even(ip)?);
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let state = Arc::new(Mutex::new(SendState {
            dest: None,
            law: Law::Pcmu,
            tone: Tone::new(1000.0, 0.5),
            audio: false,
            dtmf: VecDeque::new(),
            seq: (ssrc as u16).wrapping_mul(7),
            ts: ssrc.rotate_left(7),
            ssrc,
            sent: 0,
        }));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rx = {
            let (socket, received, stop) = (socket.clone(), received.clone(), stop.clone());
            std::thread::spawn(move || receive_loop(&socket, &received, &stop))
        };
        let tx = {
            let (socket, state, stop) = (socket.clone(), state.clone(), stop.clone());
            std::thread::spawn(move || send_loop(&socket, &state, &stop))
        };
        Ok(Endpoint {
            socket,
            state,
            received,
            stop,
            threads: vec![rx, tx],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound socket")
    }

    /// Streams a tone of `freq` Hz in `law` to `dest`, one packet every 20 ms, until changed.
    pub fn send_tone(&self, dest: SocketAddr, law: Law, freq: f64) {
        let mut s = self.state.lock().unwrap();
        s.dest = Some(dest);
        s.law = law;
        s.tone = Tone::new(freq, 0.5);
        s.audio = true;
    }

    /// Stops sending (the party goes silent: no packets at all).
    pub fn stop_sending(&self) {
        self.state.lock().unwrap().audio = false;
    }

    /// Sends `digit` as RFC 4733 events (payload type 101) in place of audio for `ms`
    /// milliseconds, then three end packets, then audio resumes.
    pub fn send_dtmf(&self, digit: char, ms: u16) {
        let code = code_of(digit).expect("a DTMF digit");
        let mut s = self.state.lock().unwrap();
        s.dtmf.push_back((code, ms.max(20) / 20));
    }

    /// Packets sent so far (audio and events).
    pub fn sent(&self) -> u64 {
        self.state.lock().unwrap().sent
    }

    /// Sends one raw datagram from this endpoint's socket.
    pub fn send_raw(&self, dest: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        self.socket.send_to(datagram, dest).map(|_| ())
    }

    /// A copy of everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    /// Waits until `f` holds on what was received, or `timeout` passes; returns whether it
    /// held.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(&self.received.lock().unwrap()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Binds a UDP socket on an even port of `ip` (tries ephemeral ports until one is even).
pub fn bind_even(ip: IpAddr) -> io::Result<UdpSocket> {
    for _ in 0..64 {
        let s = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        if s.local_addr()?.port() % 2 == 0 {
            return Ok(s);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no even UDP port after 64 tries",
    ))
}

fn receive_loop(socket: &UdpSocket, received: &Mutex<Vec<Received>>, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let Some(header) = parse(&buf[..n]) else {
                    continue;
                };
                received.lock().unwrap().push(Received {
                    at: Instant::now(),
                    from,
                    header,
                    payload: buf[header.payload_start..header.payload_end].to_vec(),
                });
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP port unreachable from a peer not listening yet: keep receiving.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn send_loop(socket: &UdpSocket, state: &Mutex<SendState>, stop: &AtomicBool) {
    let tick = Duration::from_millis(20);
    let mut next = Instant::now() + tick;
    // The event in progress: (code, 20 ms packets left, event timestamp, duration so far).
    let mut event: Option<(u8, u16, u32, u16)> = None;
    let mut ends_left = 0u8;
    let mut buf = [0u8; HEADER + FRAME];
    let mut payload = [0u8; FRAME];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += tick;
        let mut s = state.lock().unwrap();
        let Some(dest) = s.dest.filter(|_| s.audio) else {
            continue;
        };
        if event.is_none() && ends_left == 0 {
            if let Some((code, packets)) = s.dtmf.pop_front() {
                event = Some((code, packets, s.ts, 0));
            }
        }
        let len = if let Some((code, left, ts, duration)) = event {
            // RFC 4733: marker on the first packet; the timestamp stays the event's start;
            // the duration grows by one packet's worth; three end packets close it.
            let duration = duration.saturating_add(FRAME as u16);
            let end = left <= 1;
            let ev = Event {
                code,
                end,
                volume: 10,
                duration,
            };
            let first = duration == FRAME as u16;
            let n = write_packet(
                &mut buf,
                first,
                TELEPHONE_EVENT_PT,
                s.seq,
                ts,
                s.ssrc,
                &ev.bytes(),
            );
            if end {
                ends_left = 2;
                event = None;
                s.ts = ts.wrapping_add(duration as u32);
                // Remember the final event for the two retransmitted end packets.
                payload[..4].copy_from_slice(&ev.bytes());
                payload[4..8].copy_from_slice(&ts.to_be_bytes());
            } else {
                event = Some((code, left - 1, ts, duration));
            }
            n
        } else if ends_left > 0 {
            ends_left -= 1;
            let ts = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
            let ev: [u8; 4] = [payload[0], payload[1], payload[2], payload[3]];
            write_packet(&mut buf, false, TELEPHONE_EVENT_PT, s.seq, ts, s.ssrc, &ev)
        } else {
            let law = s.law;
            s.tone.fill(law, &mut payload);
            let n = write_packet(&mut buf, false, law.pt(), s.seq, s.ts, s.ssrc, &payload);
            s.ts = s.ts.wrapping_add(FRAME as u32);
            n
        };
        s.seq = s.seq.wrapping_add(1);
        s.sent += 1;
        drop(s);
        if let Some(n) = len {
            let _ = socket.send_to(&buf[..n], dest);
        }
    }
}

/// Decodes the G.711 audio among `packets` (payload types 0 and 8, each in its own law).
pub fn audio_samples(packets: &[Received]) -> Vec<i16> {
    let mut out = Vec::new();
    for p in packets {
        if let Some(law) = Law::from_pt(p.header.pt) {
            tone::decode_into(law, &p.payload, &mut out);
        }
    }
    out
}

/// The dominant candidate frequency of each received audio packet, in arrival order.
pub fn per_packet_tones(packets: &[Received], candidates: &[f64]) -> Vec<Option<f64>> {
    packets
        .iter()
        .filter(|p| Law::from_pt(p.header.pt).is_some())
        .map(|p| tone::dominant(&audio_samples(std::slice::from_ref(p)), candidates))
        .collect()
}

/// What [`continuity`] found in a received stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Continuity {
    /// Distinct SSRCs, in order of appearance.
    pub ssrcs: Vec<u32>,
    /// Largest forward sequence step between consecutive packets (1 = none lost).
    pub max_seq_step: u16,
    /// Packets whose sequence number did not move forward (duplicates, reordering, resets).
    pub backward: usize,
    /// Largest forward timestamp step between consecutive audio packets.
    pub max_ts_step: u32,
    /// Audio packets whose timestamp went backward.
    pub ts_backward: usize,
    /// Packets counted.
    pub packets: usize,
    /// Expected minus received, from the sequence numbers' span.
    pub lost: u64,
}

/// Checks SSRC, sequence and timestamp continuity of a received stream (in arrival order).
pub fn continuity(packets: &[Received]) -> Continuity {
    let mut c = Continuity::default();
    let mut prev: Option<Header> = None;
    let mut extended: i64 = 0;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for p in packets {
        let h = p.header;
        if !c.ssrcs.contains(&h.ssrc) {
            c.ssrcs.push(h.ssrc);
        }
        if let Some(q) = prev {
            let step = h.seq.wrapping_sub(q.seq);
            if step == 0 || step >= 0x8000 {
                c.backward += 1;
                extended -= (q.seq.wrapping_sub(h.seq)) as i64;
            } else {
                c.max_seq_step = c.max_seq_step.max(step);
                extended += step as i64;
            }
            let audio = Law::from_pt(h.pt).is_some() && Law::from_pt(q.pt).is_some();
            if audio {
                let ts_step = h.ts.wrapping_sub(q.ts);
                if ts_step >= 0x8000_0000 {
                    c.ts_backward += 1;
                } else {
                    c.max_ts_step = c.max_ts_step.max(ts_step);
                }
            }
        } else {
            extended = h.seq as i64;
        }
        lo = lo.min(extended);
        hi = hi.max(extended);
        prev = Some(h);
        c.packets += 1;
    }
    if c.packets > 0 {
        c.lost = ((hi - lo + 1) as u64).saturating_sub(c.packets as u64);
    }
    c
}

/// The digits in the telephone-events among `packets` (payload type `pt`), one per event
/// (an event is identified by its timestamp), with its final duration in timestamp units.
pub fn received_digits(packets: &[Received], pt: u8) -> Vec<(char, u16)> {
    let mut out: Vec<(u32, char, u16)> = Vec::new();
    for p in packets.iter().filter(|p| p.header.pt == pt) {
        let Some(ev) = Event::parse(&p.payload) else {
            continue;
        };
        let Some(d) = ev.digit() else { continue };
        match out.iter_mut().find(|(ts, _, _)| *ts == p.header.ts) {
            Some(e) => e.2 = e.2.max(ev.duration),
            None => out.push((p.header.ts, d, ev.duration)),
        }
    }
    out.into_iter().map(|(_, d, n)| (d, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_packet_parses_back() {
        let mut buf = [0u8; 200];
        let n = write_packet(&mut buf, true, 8, 65535, 0xdead_beef, 42, &[1, 2, 3]).unwrap();
        let h = parse(&buf[..n]).unwrap();
        assert!(h.marker);
        assert_eq!((h.pt, h.seq, h.ts, h.ssrc), (8, 65535, 0xdead_beef, 42));
        assert_eq!(&buf[h.payload_start..h.payload_end], &[1, 2, 3]);
        assert_eq!(
            write_packet(&mut buf[..13], false, 0, 0, 0, 0, &[1, 2]),
            None
        );
    }

    #[test]
    fn rtcp_and_garbage_are_not_rtp() {
        assert_eq!(parse(&[0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(parse(b"hello world!"), None);
        assert_eq!(parse(&[0x80, 0, 0]), None);
    }

    #[test]
    fn telephone_event_payload_round_trips() {
        let e = Event {
            code: 11,
            end: true,
            volume: 10,
            duration: 1280,
        };
        assert_eq!(Event::parse(&e.bytes()), Some(e));
        assert_eq!(e.digit(), Some('#'));
        assert_eq!(code_of('5'), Some(5));
        assert_eq!(code_of('x'), None);
    }

    #[test]
    fn stamps_round_trip_and_foreign_payloads_have_none() {
        let mut p = [0x55u8; 160];
        assert_eq!(Stamp::read(&p), None);
        let s = Stamp {
            stream: 7,
            sent_ns: 123_456_789_012,
        };
        s.write(&mut p);
        assert_eq!(Stamp::read(&p), Some(s));
    }

    #[test]
    fn endpoints_exchange_a_tone_and_a_digit_over_loopback() {
        let lo: IpAddr = [127, 0, 0, 1].into();
        let a = Endpoint::bind(lo, 1).unwrap();
        let b = Endpoint::bind(lo, 2).unwrap();
        a.send_tone(b.local_addr(), Law::Pcma, 1000.0);
        a.send_dtmf('7', 100);
        assert!(b.wait_for(Duration::from_secs(5), |r| {
            received_digits(r, TELEPHONE_EVENT_PT).len() == 1 && r.len() > 20
        }));
        let r = b.received();
        assert_eq!(received_digits(&r, TELEPHONE_EVENT_PT), vec![('7', 800)]);
        let c = continuity(&r);
        assert_eq!(c.ssrcs, vec![1]);
        assert_eq!((c.backward, c.lost, c.max_seq_step), (0, 0, 1));
        let tones = per_packet_tones(&r, &[600.0, 1000.0]);
        assert!(tones.iter().all(|t| *t == Some(1000.0)), "{tones:?}");
        // Audio resumes after the event with the timestamp advanced by its duration.
        assert!(c.max_ts_step <= 800 + 160, "{c:?}");
    }
}
