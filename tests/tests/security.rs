//! Regression tests for the security review of issue 13, each reproducing the attack against
//! the real `acd` binary over real sockets: raw SIP bytes written from Rust over TCP and UDP,
//! SIPp where a full call is needed, HTTP for the toolbar. One attack per test.

use acd_tests::{expect_problem, json_body, Acd};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// How long a test waits for an answer that must come (a failure, not a timing assertion).
const WAIT: Duration = Duration::from_secs(10);

/// One UDP request/response exchange from a fresh socket; `None` when nothing came back.
fn udp_exchange(sip: SocketAddr, msg: &str) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    udp_exchange_on(&sock, sip, msg)
}

fn udp_exchange_on(sock: &UdpSocket, sip: SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 65_535];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Provisional responses (100 Trying) are not the answer.
        if !text.starts_with("SIP/2.0 1") {
            return Some(text);
        }
    }
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn options(local: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:acd@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:acd@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// acd still answers an OPTIONS over UDP.
fn assert_answers_options(sip: SocketAddr, call_id: &str) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let local = sock.local_addr().unwrap();
    let resp = udp_exchange_on(&sock, sip, &options(local, call_id))
        .expect("acd answers OPTIONS after the attack");
    assert_eq!(status_of(&resp), 200, "{resp}");
}

// ----- H1: Content-Length near 2^64 over TCP ------------------------------------------------

/// Before the fix `n as usize + body_start` wrapped, the size check never tripped and the
/// connection buffered everything sent (300 MB: RSS +320 MB). Now the headers get a 413, the
/// connection closes, and streaming on cannot grow acd.
#[test]
fn tcp_content_length_near_2_pow_64_gets_413_and_the_connection_closes() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    // Warm up (first-use allocations) so RSS is compared at rest.
    assert_answers_options(sip, "warm-up");
    let rss_before = acd.rss_kib();

    let mut tcp = TcpStream::connect(sip).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let local = tcp.local_addr().unwrap();
    let head = format!(
        "MESSAGE sip:acd@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-h1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:attacker@127.0.0.1>;tag=a1\r\n\
         To: <sip:acd@127.0.0.1>\r\n\
         Call-ID: h1-overflow\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Length: {}\r\n\r\n",
        u64::MAX - 100
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The answer, then end of stream (or a reset): acd closed the connection.
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("SIP/2.0 413 "),
        "expected a 413, got {text:?}"
    );
    assert!(text.contains("Call-ID: h1-overflow"), "{text}");

    // Streaming the "body" on (what the attack did) fails quickly: nobody reads it. Bounded.
    let chunk = vec![b'x'; 1 << 16];
    let mut sent = 0usize;
    let limit = 256usize << 20;
    while sent < limit {
        match tcp.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    assert!(
        sent < limit,
        "acd kept reading {sent} bytes of an oversized body"
    );

    let rss_after = acd.rss_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_answers_options(sip, "after-h1");
}

/// The same attack without waiting for the answer: the body streams in right behind the
/// headers, as fast as the socket takes it. acd's memory stays bounded and it keeps serving.
#[test]
fn tcp_stream_behind_a_huge_content_length_does_not_grow_acd() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    assert_answers_options(sip, "warm-up");
    let rss_before = acd.rss_kib();
    let mut tcp = TcpStream::connect(sip).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let mut data = format!(
        "INVITE sip:4620000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-h1b\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:4620000@127.0.0.1>\r\nCall-ID: h1b\r\n\
         CSeq: 1 INVITE\r\nContent-Length: {}\r\n\r\n",
        u64::MAX
    )
    .into_bytes();
    data.resize(1 << 16, b'x');
    let mut sent = 0usize;
    let limit = 256usize << 20;
    while sent < limit {
        match tcp.write(&data) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
        data.fill(b'x');
    }
    assert!(
        sent < limit,
        "acd kept reading {sent} bytes of an oversized body"
    );
    let rss_after = acd.rss_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_answers_options(sip, "after-h1b");
}
