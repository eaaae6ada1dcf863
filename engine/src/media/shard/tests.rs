//! Shard behaviour in virtual time: acceptance and latching, relay rewriting and continuity,
//! transcoding, playlists, RTCP, DTMF, media timeouts; property tests for continuity across
//! source switches, latching and transcoding.

use super::*;
use crate::media::{g711, Direction, Playlist, Prompt};
use crate::model::Codec;
use proptest::prelude::*;
use std::sync::Arc;

const A: MediaLeg = MediaLeg(20_000);
const B: MediaLeg = MediaLeg(20_002);
const C: MediaLeg = MediaLeg(20_004);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn media(remote: &str, latch: bool, encoding: Encoding, pt: u8, te: Option<u8>) -> LegMedia {
    LegMedia {
        remote: Some(addr(remote)),
        latch,
        encoding,
        pt,
        telephone_event: te,
        direction: Direction::SendRecv,
    }
}

fn pcmu(remote: &str) -> LegMedia {
    media(remote, false, Encoding::Pcmu, 0, Some(101))
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A parsed packet as a receiver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    leg: MediaLeg,
    to: SocketAddr,
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn seen(t: Transmit, bytes: &[u8]) -> Seen {
    let r = rtp_rs::RtpReader::new(&bytes[..t.len]).unwrap();
    Seen {
        leg: t.leg,
        to: t.to,
        marker: r.mark(),
        pt: r.payload_type(),
        seq: r.sequence_number().into(),
        ts: r.timestamp(),
        ssrc: r.ssrc(),
        payload: r.payload().to_vec(),
    }
}

struct Rig {
    shard: Shard,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(Duration::from_secs(60))
    }

    fn with(timeout: Duration) -> Rig {
        let now = Instant::now();
        let cfg = ShardConfig {
            timeout,
            rtcp_interval: Duration::from_secs(5),
            seed: 7,
        };
        Rig {
            shard: Shard::new(cfg, now),
            now,
        }
    }

    fn cmd(&mut self, c: Command) {
        self.shard.handle_command(self.now, c);
    }

    fn open(&mut self, leg: MediaLeg, m: LegMedia) {
        self.cmd(Command::Open { leg, media: m });
    }

    fn send(&mut self, leg: MediaLeg, from: &str, pkt: &[u8]) -> Option<Seen> {
        let mut buf = [0u8; 1500];
        buf[..pkt.len()].copy_from_slice(pkt);
        let t = self
            .shard
            .handle_packet(self.now, leg, false, addr(from), &mut buf, pkt.len())?;
        assert!(!t.rtcp);
        Some(seen(t, &buf))
    }

    fn send_rtcp(&mut self, leg: MediaLeg, from: &str, pkt: &[u8]) -> Option<Transmit> {
        let mut buf = pkt.to_vec();
        let len = buf.len();
        self.shard
            .handle_packet(self.now, leg, true, addr(from), &mut buf, len)
    }

    /// Runs the timers up to `d` from now; answers what they sent (RTP parsed, RTCP raw).
    fn advance(&mut self, d: Duration) -> (Vec<Seen>, Vec<(Transmit, Vec<u8>)>) {
        let end = self.now + d;
        let (mut rtp_out, mut rtcp_out) = (Vec::new(), Vec::new());
        while let Some(t) = self.shard.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.shard.handle_timeout(self.now);
            let mut buf = [0u8; 1500];
            while let Some(t) = self.shard.poll_transmit(&mut buf) {
                if t.rtcp {
                    rtcp_out.push((t, buf[..t.len].to_vec()));
                } else {
                    rtp_out.push(seen(t, &buf));
                }
            }
        }
        self.now = end;
        (rtp_out, rtcp_out)
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.shard.poll_event()).collect()
    }

    fn pair(&mut self) {
        self.open(A, pcmu("10.0.0.1:4000"));
        self.open(B, pcmu("10.0.0.2:5000"));
        self.cmd(Command::Connect { a: A, b: B });
    }
}

fn prompt(samples: usize, v: i16) -> Arc<Prompt> {
    Arc::new(Prompt::from_samples("p", &vec![v; samples]))
}

fn playlist(items: Vec<Arc<Prompt>>, repeat_last: bool) -> Playlist {
    Playlist { items, repeat_last }
}

#[test]
fn unknown_legs_and_invalid_rtp_are_dropped() {
    let mut r = Rig::new();
    r.pair();
    assert!(r
        .send(C, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &[0; 160]))
        .is_none());
    let mut v1 = rtp(0, 1, 0, 1, &[0; 160]);
    v1[0] = 0x40;
    assert!(r.send(A, "10.0.0.1:4000", &v1).is_none());
    assert!(r.send(A, "10.0.0.1:4000", &[0x80, 0, 0]).is_none());
    // Padding flag with a zero padding count.
    let mut pad = rtp(0, 1, 0, 1, &[0; 4]);
    pad[0] |= 0x20;
    assert!(r.send(A, "10.0.0.1:4000", &pad).is_none());
    // RTCP multiplexed on the RTP port is not relayed as RTP.
    assert!(r
        .send(A, "10.0.0.1:4000", &rtp(72, 1, 0, 1, &[0; 8]))
        .is_none());
    let s = r.shard.stats();
    assert_eq!(
        (s.dropped_unknown_leg, s.dropped_invalid, s.relayed),
        (1, 4, 0)
    );
    assert!(r.events().is_empty(), "no FirstPacket for invalid packets");
}

#[test]
fn latching_accepts_the_first_source_only_until_a_new_remote() {
    let mut r = Rig::new();
    r.open(A, media("192.168.1.10:4000", true, Encoding::Pcmu, 0, None));
    r.open(B, pcmu("10.0.0.2:5000"));
    r.cmd(Command::Connect { a: A, b: B });
    let nat = "203.0.113.5:31000";
    assert!(r.send(A, nat, &rtp(0, 1, 0, 9, &[1; 160])).is_some());
    assert_eq!(
        r.events(),
        vec![Event::FirstPacket {
            leg: A,
            from: addr(nat)
        }]
    );
    // Another port of the same host, and another host: dropped.
    assert!(r
        .send(A, "203.0.113.5:31002", &rtp(0, 2, 160, 9, &[1; 160]))
        .is_none());
    assert!(r
        .send(A, "198.51.100.1:31000", &rtp(0, 2, 160, 9, &[1; 160]))
        .is_none());
    assert!(r.send(A, nat, &rtp(0, 2, 160, 9, &[1; 160])).is_some());
    assert_eq!(r.shard.stats().dropped_source, 2);
    // B's packets go to where A's come from, not to A's SDP address.
    let out = r
        .send(B, "10.0.0.2:5000", &rtp(0, 1, 0, 3, &[2; 160]))
        .unwrap();
    assert_eq!((out.leg, out.to), (A, addr(nat)));
    // A re-INVITE with a new address: the latch starts over.
    r.cmd(Command::Update {
        leg: A,
        media: media("192.168.1.20:4000", true, Encoding::Pcmu, 0, None),
    });
    assert!(r
        .send(A, "198.51.100.1:31000", &rtp(0, 3, 320, 9, &[1; 160]))
        .is_some());
    assert!(r.send(A, nat, &rtp(0, 4, 480, 9, &[1; 160])).is_none());
    assert_eq!(
        r.events(),
        vec![Event::FirstPacket {
            leg: B,
            from: addr("10.0.0.2:5000")
        }],
        "FirstPacket is reported once per leg"
    );
}

#[test]
fn without_latching_only_the_sdp_ip_is_accepted() {
    let mut r = Rig::new();
    r.pair();
    assert!(r
        .send(A, "10.0.0.9:4000", &rtp(0, 1, 0, 9, &[1; 160]))
        .is_none());
    // Same host, another port: accepted (only the IP is checked).
    assert!(r
        .send(A, "10.0.0.1:4444", &rtp(0, 1, 0, 9, &[1; 160]))
        .is_some());
    assert_eq!(r.shard.stats().dropped_source, 1);
}

#[test]
fn relay_rewrites_payload_type_ssrc_and_numbering_toward_the_peer() {
    let mut r = Rig::new();
    r.open(
        A,
        media("10.0.0.1:4000", false, Encoding::Pcmu, 0, Some(101)),
    );
    r.open(
        B,
        media("10.0.0.2:5000", false, Encoding::Pcmu, 96, Some(100)),
    );
    r.cmd(Command::Connect { a: A, b: B });
    let mut outs = Vec::new();
    for i in 0..5u16 {
        let p = rtp(0, 1000 + i, 5000 + 160 * u32::from(i), 0xabc, &[7; 160]);
        outs.push(r.send(A, "10.0.0.1:4000", &p).unwrap());
        r.now += Duration::from_millis(20);
    }
    let first = &outs[0];
    assert_eq!(
        (first.leg, first.to, first.pt),
        (B, addr("10.0.0.2:5000"), 96)
    );
    assert!(first.marker, "a new segment is marked");
    assert_ne!(first.ssrc, 0xabc, "the peer's own SSRC, not the sender's");
    for w in outs.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
        assert_eq!(w[1].ssrc, first.ssrc);
        assert!(!w[1].marker);
        assert_eq!(w[1].payload, vec![7; 160]);
    }
    // The other direction uses A's SSRC, a different one.
    let back = r
        .send(B, "10.0.0.2:5000", &rtp(96, 1, 0, 5, &[1; 160]))
        .unwrap();
    assert_eq!((back.leg, back.pt), (A, 0));
    assert_ne!(back.ssrc, first.ssrc);
    // A payload type B never negotiated is dropped.
    assert!(r
        .send(B, "10.0.0.2:5000", &rtp(0, 2, 160, 5, &[1; 160]))
        .is_none());
    assert_eq!(r.shard.stats().dropped_payload, 1);
}

#[test]
fn pcmu_and_pcma_are_transcoded_in_place() {
    let mut r = Rig::new();
    r.open(A, pcmu("10.0.0.1:4000"));
    r.open(B, media("10.0.0.2:5000", false, Encoding::Pcma, 8, None));
    r.cmd(Command::Connect { a: A, b: B });
    let payload: Vec<u8> = (0..=255).collect();
    let out = r
        .send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &payload))
        .unwrap();
    assert_eq!(out.pt, 8);
    let want: Vec<u8> = payload
        .iter()
        .map(|&b| g711::ULAW_TO_ALAW[b as usize])
        .collect();
    assert_eq!(out.payload, want);
    let back = r
        .send(B, "10.0.0.2:5000", &rtp(8, 1, 0, 2, &payload))
        .unwrap();
    assert_eq!(back.pt, 0);
    let want: Vec<u8> = payload
        .iter()
        .map(|&b| g711::ALAW_TO_ULAW[b as usize])
        .collect();
    assert_eq!(back.payload, want);
}

#[test]
fn other_encodings_are_relayed_untouched_only_to_the_same_encoding() {
    let mut r = Rig::new();
    let opus = Encoding::Other(Codec::Opus);
    r.open(A, media("10.0.0.1:4000", false, opus, 111, None));
    r.open(B, media("10.0.0.2:5000", false, opus, 109, None));
    r.open(C, pcmu("10.0.0.3:6000"));
    r.cmd(Command::Connect { a: A, b: B });
    let payload = [0x12, 0x34, 0x56];
    let out = r
        .send(A, "10.0.0.1:4000", &rtp(111, 1, 0, 1, &payload))
        .unwrap();
    assert_eq!((out.pt, out.payload.as_slice()), (109, &payload[..]));
    r.cmd(Command::Connect { a: A, b: C });
    assert!(r
        .send(A, "10.0.0.1:4000", &rtp(111, 2, 960, 1, &payload))
        .is_none());
    assert!(r
        .send(C, "10.0.0.3:6000", &rtp(0, 1, 0, 3, &[0; 160]))
        .is_none());
    assert_eq!(r.shard.stats().not_relayed, 2);
}

#[test]
fn telephone_events_map_to_the_peer_pt_or_are_dropped() {
    let mut r = Rig::new();
    r.open(
        A,
        media("10.0.0.1:4000", false, Encoding::Pcmu, 0, Some(101)),
    );
    r.open(
        B,
        media("10.0.0.2:5000", false, Encoding::Pcma, 8, Some(96)),
    );
    r.open(C, media("10.0.0.3:6000", false, Encoding::Pcmu, 0, None));
    r.cmd(Command::Connect { a: A, b: B });
    let ev = [5, 10, 0, 160];
    let out = r.send(A, "10.0.0.1:4000", &rtp(101, 1, 0, 1, &ev)).unwrap();
    assert_eq!(
        (out.pt, out.payload.as_slice()),
        (96, &ev[..]),
        "not transcoded"
    );
    r.cmd(Command::Connect { a: A, b: C });
    assert!(r
        .send(A, "10.0.0.1:4000", &rtp(101, 2, 0, 1, &ev))
        .is_none());
}

#[test]
fn nothing_is_relayed_to_a_peer_on_hold_without_address_or_playing() {
    let mut r = Rig::new();
    r.pair();
    let mut seq = 0;
    let mut send = |r: &mut Rig| {
        seq += 1;
        r.send(
            A,
            "10.0.0.1:4000",
            &rtp(0, seq, 160 * u32::from(seq), 1, &[0; 160]),
        )
    };
    assert!(send(&mut r).is_some());
    for dir in [Direction::SendOnly, Direction::Inactive] {
        let mut m = pcmu("10.0.0.2:5000");
        m.direction = dir;
        r.cmd(Command::Update { leg: B, media: m });
        assert!(send(&mut r).is_none(), "{dir:?}");
    }
    let mut m = pcmu("10.0.0.2:5000");
    m.remote = None;
    r.cmd(Command::Update { leg: B, media: m });
    assert!(send(&mut r).is_none());
    r.cmd(Command::Update {
        leg: B,
        media: pcmu("10.0.0.2:5000"),
    });
    assert!(send(&mut r).is_some());
    r.cmd(Command::Play {
        leg: B,
        playlist: playlist(vec![prompt(8000, 100)], true),
    });
    assert!(send(&mut r).is_none(), "the playlist replaces the relay");
    // What the playing leg sends is still relayed to its peer.
    assert!(r
        .send(B, "10.0.0.2:5000", &rtp(0, 1, 0, 2, &[0; 160]))
        .is_some());
    r.cmd(Command::StopPlay { leg: B });
    assert!(
        send(&mut r).is_some(),
        "a connected leg hears its peer again"
    );
    r.cmd(Command::Disconnect { leg: B });
    assert!(send(&mut r).is_none());
}

#[test]
fn a_new_sender_ssrc_continues_the_outgoing_stream_without_a_jump() {
    let mut r = Rig::new();
    r.pair();
    let a = r
        .send(A, "10.0.0.1:4000", &rtp(0, 100, 1000, 1, &[0; 160]))
        .unwrap();
    r.now += Duration::from_millis(20);
    let b = r
        .send(A, "10.0.0.1:4000", &rtp(0, 101, 1160, 1, &[0; 160]))
        .unwrap();
    r.now += Duration::from_millis(60);
    // The phone restarts its stream: new SSRC, unrelated numbering.
    let c = r
        .send(A, "10.0.0.1:4000", &rtp(0, 40_000, 9, 2, &[0; 160]))
        .unwrap();
    assert_eq!(b.seq, a.seq.wrapping_add(1));
    assert_eq!(c.seq, b.seq.wrapping_add(1));
    assert_eq!(c.ts, b.ts.wrapping_add(480), "60 ms later at 8 kHz");
    assert!(c.marker && !b.marker);
    assert_eq!(c.ssrc, a.ssrc);
}

#[test]
fn playlist_frames_come_every_20_ms_then_play_done() {
    let mut r = Rig::new();
    r.open(B, media("10.0.0.2:5000", false, Encoding::Pcma, 8, None));
    r.cmd(Command::Play {
        leg: B,
        playlist: playlist(vec![prompt(200, 1000), prompt(200, -1000)], false),
    });
    let (frames, _) = r.advance(Duration::from_millis(200));
    assert_eq!(frames.len(), 3, "400 samples: two full frames and one part");
    assert!(frames[0].marker);
    for w in frames.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
        assert!(!w[1].marker);
    }
    assert!(frames
        .iter()
        .all(|f| f.pt == 8 && f.to == addr("10.0.0.2:5000")));
    assert_eq!(frames[0].payload[0], g711::alaw_encode(1000));
    assert_eq!(frames[1].payload[40], g711::alaw_encode(-1000));
    assert_eq!(frames[2].payload[80], g711::ALAW_SILENCE);
    assert_eq!(r.events(), vec![Event::PlayDone { leg: B }]);
    assert_eq!(
        r.shard.poll_timeout(),
        Some(r.shard.next_sweep),
        "the tick stops"
    );
}

#[test]
fn one_tick_serves_every_playing_leg_and_repeat_last_never_ends() {
    let mut r = Rig::new();
    r.open(A, pcmu("10.0.0.1:4000"));
    r.open(B, media("10.0.0.2:5000", false, Encoding::Pcma, 8, None));
    r.open(
        C,
        media(
            "10.0.0.3:6000",
            false,
            Encoding::Other(Codec::G722),
            9,
            None,
        ),
    );
    r.advance(Duration::from_millis(7));
    for leg in [A, B] {
        r.cmd(Command::Play {
            leg,
            playlist: playlist(vec![prompt(100, 5), prompt(160, 6)], true),
        });
    }
    r.cmd(Command::Play {
        leg: C,
        playlist: playlist(vec![prompt(300, 5)], false),
    });
    let (frames, _) = r.advance(Duration::from_secs(2));
    let a: Vec<_> = frames.iter().filter(|f| f.leg == A).collect();
    let b: Vec<_> = frames.iter().filter(|f| f.leg == B).collect();
    assert_eq!((a.len(), b.len()), (100, 100));
    assert!(
        frames.iter().all(|f| f.leg != C),
        "nothing is played to G.722"
    );
    assert_eq!(a[99].payload, vec![g711::ulaw_encode(6); 160]);
    assert_eq!(r.events(), vec![Event::PlayDone { leg: C }]);
}

#[test]
fn relay_after_playlist_continues_the_stream() {
    let mut r = Rig::new();
    r.pair();
    r.cmd(Command::Play {
        leg: B,
        playlist: playlist(vec![prompt(1600, 9)], true),
    });
    let (frames, _) = r.advance(Duration::from_millis(105));
    let last = frames.last().unwrap().clone();
    r.cmd(Command::Connect { a: A, b: B });
    let out = r
        .send(A, "10.0.0.1:4000", &rtp(0, 7, 777, 1, &[0; 160]))
        .unwrap();
    assert_eq!(out.ssrc, last.ssrc);
    assert_eq!(out.seq, last.seq.wrapping_add(1));
    // The last frame went at the 100 ms tick; 5 ms later at 8 kHz.
    assert_eq!(out.ts, last.ts.wrapping_add(40));
    assert!(out.marker);
    // And back to a playlist: still continuous.
    r.cmd(Command::Play {
        leg: B,
        playlist: playlist(vec![prompt(1600, 9)], true),
    });
    let (frames, _) = r.advance(Duration::from_millis(20));
    assert_eq!(frames[0].seq, out.seq.wrapping_add(1));
    assert!(frames[0].ts > out.ts && frames[0].marker);
}

#[test]
fn rtcp_is_terminated_and_reported_per_leg() {
    let mut r = Rig::new();
    r.pair();
    // B's phone sends an SR; it is remembered, not relayed.
    let sr = {
        let mut b = [0u8; 128];
        let n = rtcp::build_report(
            &mut b,
            &rtcp::Report {
                ssrc: 55,
                sender: Some(rtcp::SenderInfo {
                    ntp: 0x1111_2222_3333_4444,
                    rtp_ts: 0,
                    packets: 0,
                    octets: 0,
                }),
                block: None,
                cname: b"phone",
            },
        )
        .unwrap();
        b[..n].to_vec()
    };
    assert!(r.send_rtcp(B, "10.0.0.2:5001", &sr).is_none());
    assert!(r
        .send_rtcp(B, "10.0.0.2:5001", &sr[..sr.len() - 4])
        .is_none());
    assert!(r.send_rtcp(B, "10.0.0.66:5001", &sr).is_none());
    let s = r.shard.stats();
    assert_eq!(
        (s.rtcp_received, s.dropped_invalid, s.dropped_source),
        (1, 1, 1)
    );
    // B sends 10 packets with one lost; A's stream toward B is relayed from A.
    for i in (0..11u16).filter(|&i| i != 4) {
        r.send(
            B,
            "10.0.0.2:5000",
            &rtp(0, i, 160 * u32::from(i), 55, &[0; 160]),
        );
        r.send(
            A,
            "10.0.0.1:4000",
            &rtp(0, i, 160 * u32::from(i), 66, &[0; 160]),
        );
        r.now += Duration::from_millis(20);
    }
    let (_, reports) = r.advance(Duration::from_secs(20));
    let to_b: Vec<_> = reports.iter().filter(|(t, _)| t.leg == B).collect();
    let to_a: Vec<_> = reports.iter().filter(|(t, _)| t.leg == A).collect();
    assert!(!to_b.is_empty() && !to_a.is_empty());
    let (t, bytes) = to_b[0];
    assert_eq!(t.to, addr("10.0.0.2:5001"), "the SDP port + 1");
    let got = rtcp::parse(bytes).unwrap();
    let sender = got.sender.expect("B was sent RTP: an SR");
    assert_eq!(sender.packets, 10);
    assert_eq!(sender.octets, 1600);
    let block = got.block.unwrap();
    assert_eq!(block.ssrc, 55);
    assert_eq!(block.cumulative_lost, 1);
    assert_eq!(block.highest_seq, 10);
    assert_eq!(block.fraction_lost, 23, "1 of 11 in 1/256");
    assert_eq!(block.lsr, 0x2222_3333);
    assert!(block.dlsr > 0);
    // The next report of B, with nothing sent since: an RR.
    let later: Vec<_> = to_b.iter().skip(1).collect();
    assert!(!later.is_empty());
    assert_eq!(rtcp::parse(&later[0].1).unwrap().sender, None);
    assert_eq!(r.shard.stats().relayed, 20);
}

#[test]
fn rtcp_goes_to_the_latched_rtcp_source() {
    let mut r = Rig::new();
    r.open(A, media("192.168.1.10:4000", true, Encoding::Pcmu, 0, None));
    let mut rr = [0u8; 64];
    let n = rtcp::build_report(
        &mut rr,
        &rtcp::Report {
            ssrc: 1,
            sender: None,
            block: None,
            cname: b"x",
        },
    )
    .unwrap();
    r.send(A, "203.0.113.5:31000", &rtp(0, 1, 0, 9, &[1; 160]));
    // From another host than the latched RTP: refused.
    assert!(r.send_rtcp(A, "198.51.100.1:31001", &rr[..n]).is_none());
    r.send_rtcp(A, "203.0.113.5:31001", &rr[..n]);
    assert_eq!(r.shard.stats().rtcp_received, 1);
    let (_, reports) = r.advance(Duration::from_secs(8));
    assert_eq!(reports[0].0.to, addr("203.0.113.5:31001"));
}

#[test]
fn dtmf_with_retransmitted_ends_is_reported_once_and_relayed() {
    let mut r = Rig::new();
    r.pair();
    let mut relayed = 0;
    let ts = 8000;
    for (i, (end, dur)) in [
        (false, 160u16),
        (false, 320),
        (false, 480),
        (true, 640),
        (true, 640),
        (true, 640),
    ]
    .into_iter()
    .enumerate()
    {
        let d = dur.to_be_bytes();
        let p = rtp(
            101,
            50 + i as u16,
            ts,
            1,
            &[11, if end { 0x8a } else { 0x0a }, d[0], d[1]],
        );
        relayed += usize::from(r.send(A, "10.0.0.1:4000", &p).is_some());
        r.now += Duration::from_millis(20);
    }
    assert_eq!(relayed, 6, "events are relayed as well as detected");
    let dtmf: Vec<_> = r
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Dtmf { .. }))
        .collect();
    assert_eq!(
        dtmf,
        vec![Event::Dtmf {
            leg: A,
            digit: '#',
            duration_ms: 80
        }]
    );
}

#[test]
fn dtmf_whose_ends_were_lost_is_reported_after_a_second() {
    let mut r = Rig::new();
    r.open(A, pcmu("10.0.0.1:4000"));
    r.send(
        A,
        "10.0.0.1:4000",
        &rtp(101, 1, 0, 1, &[3, 0x0a, 0x01, 0x40]),
    );
    r.events();
    r.advance(Duration::from_millis(900));
    assert!(r.events().is_empty());
    r.advance(Duration::from_millis(1200));
    assert_eq!(
        r.events(),
        vec![Event::Dtmf {
            leg: A,
            digit: '3',
            duration_ms: 40
        }]
    );
}

#[test]
fn media_timeout_fires_once_and_not_on_hold() {
    let mut r = Rig::with(Duration::from_secs(10));
    r.pair();
    let mut m = pcmu("10.0.0.2:5000");
    m.direction = Direction::RecvOnly;
    r.cmd(Command::Update { leg: B, media: m });
    r.advance(Duration::from_secs(5));
    r.send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &[0; 160]));
    r.events();
    r.advance(Duration::from_secs(9));
    assert!(r.events().is_empty(), "A sent 9 s ago");
    r.advance(Duration::from_secs(2));
    let ev = r.events();
    assert_eq!(ev.len(), 1);
    assert!(
        matches!(
            ev[0],
            Event::Timeout {
                leg: A,
                silent_secs: 10
            }
        ),
        "{ev:?}"
    );
    r.advance(Duration::from_secs(60));
    assert!(r.events().is_empty(), "once; B (recvonly) never times out");
    // Held with a=sendonly and no music: not a timeout either.
    let mut m = pcmu("10.0.0.2:5000");
    m.direction = Direction::SendOnly;
    r.cmd(Command::Update { leg: B, media: m });
    r.advance(Duration::from_secs(60));
    assert!(r.events().is_empty(), "sendonly hold");
    // B resumes (sendrecv): its count starts now.
    r.cmd(Command::Update {
        leg: B,
        media: pcmu("10.0.0.2:5000"),
    });
    r.advance(Duration::from_secs(9));
    assert!(r.events().is_empty());
    r.advance(Duration::from_secs(2));
    assert!(matches!(r.events()[..], [Event::Timeout { leg: B, .. }]));
    // A packet ends A's silence; a new one would be reported again.
    r.send(A, "10.0.0.1:4000", &rtp(0, 2, 160, 1, &[0; 160]));
    r.advance(Duration::from_secs(11));
    assert!(matches!(r.events()[..], [Event::Timeout { leg: A, .. }]));
}

#[test]
fn a_leg_without_remote_does_not_time_out_until_it_has_one() {
    let mut r = Rig::with(Duration::from_secs(10));
    let mut ringing = pcmu("10.0.0.2:5000");
    ringing.remote = None;
    r.open(B, ringing);
    r.advance(Duration::from_secs(30));
    assert!(
        r.events().is_empty(),
        "an agent's phone ringing is not silent media"
    );
    r.cmd(Command::Update {
        leg: B,
        media: pcmu("10.0.0.2:5000"),
    });
    r.advance(Duration::from_secs(9));
    assert!(r.events().is_empty());
    r.advance(Duration::from_secs(2));
    assert!(matches!(
        r.events()[..],
        [Event::Timeout {
            leg: B,
            silent_secs: 10
        }]
    ));
}

#[test]
fn rtcp_follows_the_latched_rtp_source_behind_nat() {
    let mut r = Rig::new();
    r.open(A, media("192.168.1.10:4000", true, Encoding::Pcmu, 0, None));
    r.send(A, "203.0.113.5:31000", &rtp(0, 1, 0, 9, &[1; 160]));
    let (_, reports) = r.advance(Duration::from_secs(8));
    assert_eq!(reports[0].0.to, addr("203.0.113.5:31001"));
    let got = rtcp::parse(&reports[0].1).unwrap();
    assert_eq!(got.sender, None, "nothing sent to A: an RR");
    assert_eq!(got.block.map(|b| (b.ssrc, b.highest_seq)), Some((9, 1)));
}

#[test]
fn release_forgets_the_leg_and_its_port_can_be_reused() {
    let mut r = Rig::new();
    r.pair();
    assert_eq!(r.shard.leg_count(), 2);
    r.cmd(Command::Release { leg: B });
    assert_eq!(r.shard.leg_count(), 1);
    assert!(r
        .send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &[0; 160]))
        .is_none());
    assert!(r
        .send(B, "10.0.0.2:5000", &rtp(0, 1, 0, 1, &[0; 160]))
        .is_none());
    r.open(B, pcmu("10.0.0.7:5000"));
    assert!(r
        .send(B, "10.0.0.7:5000", &rtp(0, 1, 0, 1, &[0; 160]))
        .is_none());
    r.cmd(Command::Connect { a: A, b: B });
    assert!(r
        .send(B, "10.0.0.7:5000", &rtp(0, 2, 160, 1, &[0; 160]))
        .is_some());
    r.open(MediaLeg(20_001), pcmu("10.0.0.7:5000"));
    assert!(matches!(r.events().last(), Some(Event::Failed { .. })));
    r.cmd(Command::Release { leg: A });
    r.cmd(Command::Release { leg: B });
    assert_eq!((r.shard.leg_count(), r.shard.poll_timeout()), (0, None));
}

#[test]
fn connect_moves_a_leg_from_its_old_peer() {
    let mut r = Rig::new();
    r.pair();
    r.open(C, pcmu("10.0.0.3:6000"));
    r.cmd(Command::Connect { a: C, b: B });
    assert!(r
        .send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &[0; 160]))
        .is_none());
    let out = r
        .send(C, "10.0.0.3:6000", &rtp(0, 1, 0, 3, &[0; 160]))
        .unwrap();
    assert_eq!(out.leg, B);
}

#[test]
fn sender_reports_carry_the_wall_clock_the_io_layer_gave() {
    let mut r = Rig::new();
    r.pair();
    let unix = Duration::from_secs(1_700_000_000);
    r.shard.set_wallclock(r.now, unix);
    r.send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &[0; 160]));
    let (_, reports) = r.advance(Duration::from_secs(8));
    let (t, bytes) = reports.iter().find(|(t, _)| t.leg == B).unwrap();
    let sr = rtcp::parse(bytes).unwrap().sender.unwrap();
    let secs = sr.ntp >> 32;
    let elapsed = (r.now - r.shard.epoch).as_secs();
    assert!(
        secs >= NTP_UNIX_OFFSET + 1_700_000_001
            && secs <= NTP_UNIX_OFFSET + 1_700_000_000 + elapsed
    );
    assert_eq!(t.to, addr("10.0.0.2:5001"));
}

#[test]
fn receiver_reports_carry_rfc3550_interarrival_jitter() {
    let mut r = Rig::new();
    r.open(A, pcmu("10.0.0.1:4000"));
    let t0 = r.now;
    // Every other packet 10 ms late: |D| = 80 samples between consecutive packets.
    for i in 0..30u32 {
        r.now = t0 + Duration::from_millis(u64::from(20 * i + (i % 2) * 10));
        r.send(
            A,
            "10.0.0.1:4000",
            &rtp(0, i as u16, 160 * i, 77, &[0; 160]),
        );
    }
    let (_, reports) = r.advance(Duration::from_secs(8));
    let block = rtcp::parse(&reports[0].1).unwrap().block.unwrap();
    // J = 80 (1 - (15/16)^29) ≈ 68 (A.8's integer form lands within a sample or two).
    assert!((65..=70).contains(&block.jitter), "{}", block.jitter);
    assert_eq!(
        (block.ssrc, block.cumulative_lost, block.highest_seq),
        (77, 0, 29)
    );
}

#[test]
fn reception_statistics_follow_sequence_wraparound_and_restarts() {
    let mut recv = Recv::default();
    for seq in 65_530..=65_535u16 {
        recv.update(5, seq, 0, Some(0));
    }
    for seq in 0..5u16 {
        recv.update(5, seq, 0, Some(0));
    }
    let rep = recv.report().unwrap();
    assert_eq!((rep.highest_seq, rep.cumulative_lost), (0x1_0004, 0));
    // A jump far ahead is believed only when the next packet follows it.
    recv.update(5, 30_000, 0, Some(0));
    assert_eq!(recv.report().unwrap().highest_seq, 0x1_0004);
    recv.update(5, 30_001, 0, Some(0));
    assert_eq!(recv.report().unwrap().highest_seq, 30_001);
    // A new SSRC starts over.
    assert!(recv.update(6, 9, 0, Some(0)));
    assert_eq!(recv.report().unwrap().highest_seq, 9);
}

#[derive(Debug, Clone)]
enum Op {
    /// `n` packets from the sender behind A (or C), 20 ms apart.
    Send {
        from_c: bool,
        n: u8,
    },
    NewSsrc {
        from_c: bool,
    },
    Connect {
        to_c: bool,
    },
    Disconnect,
    Play {
        repeat: bool,
    },
    StopPlay,
    Wait {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1..20u8).prop_map(|(from_c, n)| Op::Send { from_c, n }),
        1 => any::<bool>().prop_map(|from_c| Op::NewSsrc { from_c }),
        2 => any::<bool>().prop_map(|to_c| Op::Connect { to_c }),
        1 => Just(Op::Disconnect),
        2 => any::<bool>().prop_map(|repeat| Op::Play { repeat }),
        1 => Just(Op::StopPlay),
        2 => (1..400u16).prop_map(|ms| Op::Wait { ms }),
    ]
}

/// A sender whose timestamps follow real time, as a phone's do.
struct Sender {
    ssrc: u32,
    seq: u16,
    ts0: u32,
    t0: Instant,
}

impl Sender {
    fn packet(&mut self, now: Instant) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        let ts = self.ts0.wrapping_add(samples(now - self.t0, 8000));
        rtp(0, self.seq, ts, self.ssrc, &[0x55; 160])
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn receiver_sees_one_gapless_stream_across_switches(
        ops in proptest::collection::vec(op(), 1..40),
        seeds in any::<(u32, u16, u32)>(),
    ) {
        let mut r = Rig::new();
        r.open(A, pcmu("10.0.0.1:4000"));
        r.open(B, pcmu("10.0.0.2:5000"));
        r.open(C, pcmu("10.0.0.3:6000"));
        let mut senders = [A, C].map(|_| Sender { ssrc: seeds.0, seq: seeds.1, ts0: seeds.2, t0: r.now });
        let mut seen_b: Vec<Seen> = Vec::new();
        for op in ops {
            match op {
                Op::Send { from_c, n } => {
                    for _ in 0..n {
                        let (leg, from, s) = if from_c {
                            (C, "10.0.0.3:6000", &mut senders[1])
                        } else {
                            (A, "10.0.0.1:4000", &mut senders[0])
                        };
                        let p = s.packet(r.now);
                        if let Some(o) = r.send(leg, from, &p) {
                            seen_b.push(o);
                        }
                        let (frames, _) = r.advance(Duration::from_millis(20));
                        seen_b.extend(frames.into_iter().filter(|f| f.leg == B));
                    }
                }
                Op::NewSsrc { from_c } => {
                    let s = &mut senders[usize::from(from_c)];
                    s.ssrc = s.ssrc.wrapping_mul(31).wrapping_add(7);
                    s.seq = s.seq.wrapping_mul(13).wrapping_add(1000);
                    s.ts0 = s.ts0.wrapping_mul(17).wrapping_add(12345);
                }
                Op::Connect { to_c } => r.cmd(Command::Connect { a: B, b: if to_c { C } else { A } }),
                Op::Disconnect => r.cmd(Command::Disconnect { leg: B }),
                Op::Play { repeat } => r.cmd(Command::Play {
                    leg: B,
                    playlist: playlist(vec![prompt(500, 3)], repeat),
                }),
                Op::StopPlay => r.cmd(Command::StopPlay { leg: B }),
                Op::Wait { ms } => {
                    let (frames, _) = r.advance(Duration::from_millis(u64::from(ms)));
                    seen_b.extend(frames.into_iter().filter(|f| f.leg == B));
                }
            }
        }
        for w in seen_b.windows(2) {
            prop_assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "{:?}", w);
            prop_assert!(w[1].ts.wrapping_sub(w[0].ts) as i32 >= 0, "{:?}", w);
            prop_assert_eq!(w[1].ssrc, w[0].ssrc);
        }
    }

    #[test]
    fn arbitrary_datagrams_never_panic(
        packets in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..80)), 1..50),
    ) {
        let mut r = Rig::new();
        r.pair();
        r.cmd(Command::Play { leg: B, playlist: playlist(vec![prompt(10, 1)], false) });
        for (rtcp, mut p) in packets {
            if p.len() > 1 && !rtcp {
                p[0] = 0x80 | (p[0] & 0x3f);
            }
            let len = p.len();
            let _ = r.shard.handle_packet(r.now, A, rtcp, addr("10.0.0.1:4000"), &mut p, len);
            let _ = rtcp::parse(&p);
            r.advance(Duration::from_millis(300));
        }
    }

    #[test]
    fn after_latching_no_other_source_is_forwarded(
        sources in proptest::collection::vec(0..4usize, 1..60),
    ) {
        let hosts = ["203.0.113.5:31000", "203.0.113.5:31002", "198.51.100.1:31000", "10.0.0.1:4000"];
        let mut r = Rig::new();
        r.open(A, media("10.0.0.1:4000", true, Encoding::Pcmu, 0, None));
        r.open(B, pcmu("10.0.0.2:5000"));
        r.cmd(Command::Connect { a: A, b: B });
        let latched = sources[0];
        for (i, &s) in sources.iter().enumerate() {
            let out = r.send(A, hosts[s], &rtp(0, i as u16, 160 * i as u32, 1, &[s as u8; 160]));
            prop_assert_eq!(out.is_some(), s == latched);
            if let Some(o) = out {
                prop_assert_eq!(o.payload[0], latched as u8);
            }
        }
        prop_assert_eq!(
            r.shard.stats().dropped_source,
            sources.iter().filter(|&&s| s != latched).count() as u64
        );
    }

    #[test]
    fn pcmu_to_pcma_and_back_stays_within_g711_quantisation(
        samples in proptest::collection::vec(any::<i16>(), 1..320),
    ) {
        let mut r = Rig::new();
        r.open(A, pcmu("10.0.0.1:4000"));
        r.open(B, media("10.0.0.2:5000", false, Encoding::Pcma, 8, None));
        r.open(C, pcmu("10.0.0.3:6000"));
        r.cmd(Command::Connect { a: A, b: B });
        let ulaw: Vec<u8> = samples.iter().map(|&s| g711::ulaw_encode(s)).collect();
        let alaw = r.send(A, "10.0.0.1:4000", &rtp(0, 1, 0, 1, &ulaw)).unwrap().payload;
        // What B's side received comes back from B toward a µ-law leg.
        r.cmd(Command::Connect { a: B, b: C });
        let back = r.send(B, "10.0.0.2:5000", &rtp(8, 1, 0, 2, &alaw)).unwrap().payload;
        prop_assert_eq!(back.len(), ulaw.len());
        for (&s, &u) in samples.iter().zip(&back) {
            let s = i32::from(s).clamp(-32_635, 32_635);
            let d = (i32::from(g711::ulaw_decode(u)) - s).abs();
            // Two logarithmic quantisations: the step is about 1/16 of the magnitude.
            prop_assert!(d <= s.abs() / 8 + 128, "{} -> {}", s, g711::ulaw_decode(u));
        }
    }
}
