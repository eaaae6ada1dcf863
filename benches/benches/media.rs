//! The media relay's per-packet cost: one G.711 packet through `Shard::handle_packet`
//! (lookup, source check, reception statistics, header rewrite, transcoding), PCMU→PCMU and
//! PCMU→PCMA; and reading an RTP header with `rtp-rs` versus a hand-written reader, the
//! comparison issue 11 asks for before using anything but `rtp-rs`.

use acd_engine::media::shard::{Shard, ShardConfig};
use acd_engine::media::{Command, Direction, Encoding, LegMedia, MediaLeg};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const A: MediaLeg = MediaLeg(20_000);
const B: MediaLeg = MediaLeg(20_002);

fn leg(remote: &str, encoding: Encoding, pt: u8) -> LegMedia {
    LegMedia {
        remote: Some(remote.parse().unwrap()),
        latch: true,
        encoding,
        pt,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    }
}

/// A 20 ms PCMU packet.
fn packet(seq: u16) -> [u8; 172] {
    let mut p = [0x55u8; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

fn relay(c: &mut Criterion) {
    let mut g = c.benchmark_group("media_relay");
    g.throughput(Throughput::Elements(1));
    for (name, enc, pt) in [
        ("pcmu_to_pcmu", Encoding::Pcmu, 0),
        ("pcmu_to_pcma", Encoding::Pcma, 8),
    ] {
        let mut now = Instant::now();
        let cfg = ShardConfig {
            timeout: Duration::from_secs(60),
            rtcp_interval: Duration::from_secs(5),
            seed: 1,
        };
        let mut shard = Shard::new(cfg, now);
        // 1,000 other legs, so the lookup is not into a near-empty table.
        for i in 0..1_000u16 {
            shard.handle_command(
                now,
                Command::Open {
                    leg: MediaLeg(30_000 + 2 * i),
                    media: leg("10.0.1.1:4000", Encoding::Pcmu, 0),
                },
            );
        }
        shard.handle_command(
            now,
            Command::Open {
                leg: A,
                media: leg("10.0.0.1:4000", Encoding::Pcmu, 0),
            },
        );
        shard.handle_command(
            now,
            Command::Open {
                leg: B,
                media: leg("10.0.0.2:5000", enc, pt),
            },
        );
        shard.handle_command(now, Command::Connect { a: A, b: B });
        let from: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let mut buf = [0u8; 1500];
        let mut seq = 0u16;
        g.bench_function(name, |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                now += Duration::from_millis(20);
                // What the receive call does: the datagram lands in the buffer.
                buf[..172].copy_from_slice(&packet(seq));
                let t = shard.handle_packet(now, A, false, from, &mut buf, 172);
                black_box(t.expect("relayed"));
            })
        });
    }
    g.finish();
}

/// The fields the relay needs, read by hand (with the same validity checks as rtp-rs:
/// length, version, CSRC/extension/padding bounds).
#[inline]
fn hand_read(b: &[u8]) -> Option<(u32, u16, u32, u8, usize, usize)> {
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let mut off = 12 + 4 * usize::from(b[0] & 0x0f);
    if b[0] & 0x10 != 0 {
        let ext = b.get(off..off + 4)?;
        off += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    let mut end = b.len();
    if b[0] & 0x20 != 0 {
        let pad = usize::from(*b.last()?);
        if pad == 0 || off + pad > end {
            return None;
        }
        end -= pad;
    }
    if off > end {
        return None;
    }
    Some((
        u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        u16::from_be_bytes([b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        b[1] & 0x7f,
        off,
        end,
    ))
}

#[inline]
fn rtp_rs_read(b: &[u8]) -> Option<(u32, u16, u32, u8, usize, usize)> {
    let r = rtp_rs::RtpReader::new(b).ok()?;
    let off = r.payload_offset();
    Some((
        r.ssrc(),
        r.sequence_number().into(),
        r.timestamp(),
        r.payload_type(),
        off,
        off + r.payload().len(),
    ))
}

fn header(c: &mut Criterion) {
    let p = packet(7);
    assert_eq!(hand_read(&p), rtp_rs_read(&p));
    let mut g = c.benchmark_group("rtp_header_read");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rtp_rs", |b| b.iter(|| rtp_rs_read(black_box(&p))));
    g.bench_function("hand_written", |b| b.iter(|| hand_read(black_box(&p))));
    g.finish();
}

criterion_group!(benches, relay, header);
criterion_main!(benches);
