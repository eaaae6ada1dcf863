//! The media io layer over real UDP sockets on 127.0.0.1: shard threads bind the legs' ports,
//! report ports they cannot bind, free them on release, and relay RTP between connected legs.

use acd_engine::media::shard::ShardConfig;
use acd_engine::media::{Command, Direction, Encoding, Event, LegMedia, MediaLeg, PortPool};
use acd_engine::runtime::media_io::{MediaConfig, MediaHandle, MediaPlane};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// An even port whose odd neighbour is free too (checked by binding both, then letting go).
fn free_pair() -> u16 {
    loop {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if port < 1024 || port == u16::MAX - 1 {
            continue;
        }
        let a = UdpSocket::bind(("127.0.0.1", port));
        let b = UdpSocket::bind(("127.0.0.1", port + 1));
        if a.is_ok() && b.is_ok() {
            return port;
        }
    }
}

/// A one-shard plane whose port map covers `ports`.
fn plane(ports: &[u16]) -> MediaPlane {
    let first = *ports.iter().min().unwrap();
    let last = *ports.iter().max().unwrap() + 1;
    let pool = PortPool::new(first, last, 1).unwrap();
    MediaPlane::start(MediaConfig {
        bind_ip: [127, 0, 0, 1].into(),
        shards: pool.shard_map(),
        shard: ShardConfig {
            timeout: Duration::from_secs(60),
            rtcp_interval: Duration::from_secs(5),
            seed: 7,
        },
        command_depth: 64,
        event_depth: 64,
    })
    .unwrap()
}

fn pcmu_to(remote: SocketAddr) -> LegMedia {
    LegMedia {
        remote: Some(remote),
        latch: false,
        encoding: Encoding::Pcmu,
        pt: 0,
        telephone_event: None,
        direction: Direction::SendRecv,
    }
}

/// Waits (bounded) until the shards report `n` legs open.
fn wait_legs_open(media: &MediaHandle, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while media.counters().legs_open != n {
        assert!(
            Instant::now() < deadline,
            "legs open stayed {} (wanted {n})",
            media.counters().legs_open
        );
        std::thread::yield_now();
    }
}

fn rtp(seq: u16, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// Sends RTP from `from` to `to` until `at` receives a packet (bounded tries); returns it and
/// its source.
fn relay_once(from: &UdpSocket, to: SocketAddr, at: &UdpSocket, fill: u8) -> (Vec<u8>, SocketAddr) {
    at.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    for seq in 1..=25u16 {
        from.send_to(&rtp(seq, fill), to).unwrap();
        if let Ok((n, src)) = at.recv_from(&mut buf) {
            return (buf[..n].to_vec(), src);
        }
    }
    panic!(
        "no RTP relayed from {} to {to} and on",
        from.local_addr().unwrap()
    );
}

#[test]
fn a_port_already_bound_is_reported_failed_and_not_opened() {
    let port = free_pair();
    let _squatter = UdpSocket::bind(("127.0.0.1", port + 1)).unwrap();
    let mut plane = plane(&[port]);
    let mut events = plane.take_events().unwrap();
    let media = plane.handle();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    media
        .send(Command::Open {
            leg: MediaLeg(port),
            media: pcmu_to(client.local_addr().unwrap()),
        })
        .unwrap();
    match events.blocking_recv() {
        Some(Event::Failed { leg, reason }) => {
            assert_eq!(leg, MediaLeg(port));
            assert!(reason.contains(&(port + 1).to_string()), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(media.counters().legs_open, 0);
    assert_eq!(media.counters().open_failures, 1);
    // The RTP port bound before the RTCP bind failed is closed again.
    UdpSocket::bind(("127.0.0.1", port)).unwrap();
    plane.shutdown();
}

#[test]
fn a_released_leg_gives_its_ports_back() {
    let port = free_pair();
    let plane = plane(&[port]);
    let media = plane.handle();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    media
        .send(Command::Open {
            leg: MediaLeg(port),
            media: pcmu_to(client.local_addr().unwrap()),
        })
        .unwrap();
    wait_legs_open(&media, 1);
    assert!(
        UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "the leg holds its RTP port"
    );
    media
        .send(Command::Release {
            leg: MediaLeg(port),
        })
        .unwrap();
    wait_legs_open(&media, 0);
    UdpSocket::bind(("127.0.0.1", port)).unwrap();
    UdpSocket::bind(("127.0.0.1", port + 1)).unwrap();
    plane.shutdown();
}

#[test]
fn connected_legs_relay_rtp_both_ways() {
    let (a, b) = loop {
        let a = free_pair();
        let b = free_pair();
        if a != b {
            break (a, b);
        }
    };
    let plane = plane(&[a, b]);
    let media = plane.handle();
    let client_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (leg, client) in [(a, &client_a), (b, &client_b)] {
        media
            .send(Command::Open {
                leg: MediaLeg(leg),
                media: pcmu_to(client.local_addr().unwrap()),
            })
            .unwrap();
    }
    wait_legs_open(&media, 2);
    media
        .send(Command::Connect {
            a: MediaLeg(a),
            b: MediaLeg(b),
        })
        .unwrap();

    let to_a: SocketAddr = ([127, 0, 0, 1], a).into();
    let to_b: SocketAddr = ([127, 0, 0, 1], b).into();
    let (got, src) = relay_once(&client_a, to_a, &client_b, 0x55);
    assert_eq!(src, to_b, "B hears A from leg B's RTP port");
    assert_eq!(got.len(), 12 + 160);
    assert_eq!(got[1] & 0x7f, 0, "PCMU payload type");
    assert!(
        got[12..].iter().all(|&x| x == 0x55),
        "A's payload, unchanged"
    );

    let (got, src) = relay_once(&client_b, to_b, &client_a, 0x2a);
    assert_eq!(src, to_a, "A hears B from leg A's RTP port");
    assert!(
        got[12..].iter().all(|&x| x == 0x2a),
        "B's payload, unchanged"
    );

    // The shard counts a relayed packet after its send returns, which may be after the
    // client read it: wait (bounded) for the count.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = media.counters();
        if c.packets_in >= 2 && c.packets_relayed >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{c:?}");
        std::thread::yield_now();
    }
    plane.shutdown();
}

/// A burst longer than one socket's turn (`READS_PER_TURN` datagrams) is relayed whole: the
/// socket left unfinished is read again on the next turn, although the edge-triggered poll
/// does not report it again.
#[test]
fn a_burst_longer_than_one_turn_is_relayed_whole() {
    let (a, b) = loop {
        let a = free_pair();
        let b = free_pair();
        if a != b {
            break (a, b);
        }
    };
    let plane = plane(&[a, b]);
    let media = plane.handle();
    let client_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (leg, client) in [(a, &client_a), (b, &client_b)] {
        media
            .send(Command::Open {
                leg: MediaLeg(leg),
                media: pcmu_to(client.local_addr().unwrap()),
            })
            .unwrap();
    }
    wait_legs_open(&media, 2);
    media
        .send(Command::Connect {
            a: MediaLeg(a),
            b: MediaLeg(b),
        })
        .unwrap();
    let to_a: SocketAddr = ([127, 0, 0, 1], a).into();
    relay_once(&client_a, to_a, &client_b, 0x11);
    // Drain what the warm-up left, then one burst of 150 (over two turns; a loopback datagram
    // takes about 1 KiB of socket buffer, so a few hundred would overflow the default 208 KiB).
    client_b
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    while client_b.recv_from(&mut buf).is_ok() {}
    const BURST: u16 = 150;
    for seq in 100..100 + BURST {
        client_a.send_to(&rtp(seq, 0x22), to_a).unwrap();
    }
    let mut got = 0;
    while let Ok((n, _)) = client_b.recv_from(&mut buf) {
        if n == 12 + 160 && buf[12] == 0x22 {
            got += 1;
        }
    }
    assert_eq!(got, BURST, "every datagram of the burst is relayed");
    plane.shutdown();
}
