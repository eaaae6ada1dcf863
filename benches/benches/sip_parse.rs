//! SIP parse throughput: acd's zero-copy scanner + validity check versus rsip 0.4, on a
//! SIPp-style INVITE and on the RFC 4475 short tortuous INVITE (which rsip rejects).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const INVITE: &[u8] = b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-12345-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5080>;tag=12345SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>\r\n\
Call-ID: 1-12345@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5080\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

fn bench(c: &mut Criterion) {
    use acd_engine::sip::{verdict, Framing, Verdict};
    let wsinv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/sip_torture/valid/wsinv.dat"
    ))
    .unwrap();
    assert!(matches!(
        verdict(INVITE, Framing::Datagram),
        Verdict::Accept(_)
    ));
    let mut g = c.benchmark_group("sip_parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("acd_verdict_sipp_invite", |b| {
        b.iter(|| {
            matches!(
                verdict(black_box(INVITE), Framing::Datagram),
                Verdict::Accept(_)
            )
        })
    });
    g.bench_function("acd_scan_only_sipp_invite", |b| {
        b.iter(|| acd_engine::sip::parse(black_box(INVITE)).is_ok())
    });
    g.bench_function("acd_verdict_rfc4475_wsinv", |b| {
        b.iter(|| {
            matches!(
                verdict(black_box(&wsinv), Framing::Datagram),
                Verdict::Accept(_)
            )
        })
    });
    g.bench_function("rsip_sipp_invite", |b| {
        b.iter(|| rsip::SipMessage::try_from(black_box(INVITE)).is_ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
