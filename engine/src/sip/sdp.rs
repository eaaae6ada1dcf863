//! SDP offer/answer (RFC 3264) for the audio codecs acd carries: ulaw, alaw, g722, gsm, opus
//! and g729, limited by each agent's allowed codecs; g729 is never used with WebRTC agents.
//!
//! Pure functions over bytes: parse an offer's (or answer's) first audio stream with its
//! direction (`a=sendrecv|sendonly|recvonly|inactive`, RFC 2543 `c=0.0.0.0` hold), answer it
//! with the mirrored direction (hold/resume re-INVITEs), build an offer, and turn a
//! negotiated stream into the media plane's [`LegMedia`] (remote address, codec, payload
//! types, direction, latching for private addresses). The port named in acd's SDP is the
//! leg's own RTP port ([`LocalMedia::port`], from the call flow's port pool). It does not own
//! RTP sockets or relaying (`crate::media`), nor SDP features acd does not use (video is
//! declined with port 0, ICE/DTLS attributes are not generated here).

use crate::media::{Direction, Encoding, LegMedia};
use crate::model::Codec;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Why an SDP body cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body is not UTF-8 SDP with `v=0`.
    #[error("not an SDP body")]
    NotSdp,
    /// There is no audio stream with a usable port.
    #[error("no audio stream in the offer")]
    NoAudio,
    /// No connection address (`c=`) for the audio stream.
    #[error("no connection address for the audio stream")]
    NoConnection,
    /// Nothing in common with the allowed codecs: answer 488 Not Acceptable Here.
    #[error("no codec in common (488 Not Acceptable Here)")]
    NoCommonCodec,
}

impl SdpError {
    /// The SIP status to answer an INVITE whose SDP failed with this error.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::NoCommonCodec | SdpError::NoAudio => 488,
            _ => 400,
        }
    }
}

/// Static payload type and rtpmap name of a codec (opus is dynamic, 111 when we choose).
pub fn codec_info(c: Codec) -> (u8, &'static str) {
    match c {
        Codec::Ulaw => (0, "PCMU/8000"),
        Codec::Gsm => (3, "GSM/8000"),
        Codec::Alaw => (8, "PCMA/8000"),
        Codec::G722 => (9, "G722/8000"),
        Codec::G729 => (18, "G729/8000"),
        Codec::Opus => (111, "opus/48000/2"),
    }
}

fn codec_by_name(name: &str) -> Option<Codec> {
    let enc = name.split('/').next().unwrap_or("");
    [
        ("PCMU", Codec::Ulaw),
        ("PCMA", Codec::Alaw),
        ("GSM", Codec::Gsm),
        ("G722", Codec::G722),
        ("G729", Codec::G729),
        ("opus", Codec::Opus),
    ]
    .iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(enc))
    .map(|(_, c)| *c)
}

fn codec_by_static_pt(pt: u8) -> Option<Codec> {
    match pt {
        0 => Some(Codec::Ulaw),
        3 => Some(Codec::Gsm),
        8 => Some(Codec::Alaw),
        9 => Some(Codec::G722),
        18 => Some(Codec::G729),
        _ => None,
    }
}

/// One codec as offered: its payload type and rtpmap text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// The codec.
    pub codec: Codec,
    /// The payload type the offerer uses.
    pub pt: u8,
    /// The rtpmap value (`PCMU/8000`), as offered or the static default.
    pub rtpmap: String,
    /// The fmtp value, if any.
    pub fmtp: Option<String>,
}

/// The first audio stream of an SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioOffer {
    /// Where the offerer receives RTP.
    pub addr: IpAddr,
    /// Its RTP port.
    pub port: u16,
    /// Recognised codecs in the offerer's order of preference.
    pub codecs: Vec<Offered>,
    /// The telephone-event payload type, if offered (RFC 4733 DTMF).
    pub telephone_event: Option<u8>,
    /// Media lines before the audio one plus after it (answered with port 0).
    pub other_media: Vec<String>,
    /// Index of the audio m= line among all m= lines.
    pub audio_index: usize,
    /// The direction the sender declared for the stream (media level over session level;
    /// `sendrecv` when absent).
    pub direction: Direction,
}

fn direction_attr(l: &str) -> Option<Direction> {
    match l {
        "a=sendrecv" => Some(Direction::SendRecv),
        "a=sendonly" => Some(Direction::SendOnly),
        "a=recvonly" => Some(Direction::RecvOnly),
        "a=inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

/// Our direction in an answer to a stream declared `d` (RFC 3264 §6.1): their sendonly is
/// our recvonly, their recvonly our sendonly, inactive stays inactive.
pub fn mirror(d: Direction) -> Direction {
    match d {
        Direction::SendRecv => Direction::SendRecv,
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    }
}

fn direction_line(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "a=sendrecv\r\n",
        Direction::SendOnly => "a=sendonly\r\n",
        Direction::RecvOnly => "a=recvonly\r\n",
        Direction::Inactive => "a=inactive\r\n",
    }
}

/// Parses the first audio stream of an SDP body.
pub fn parse_offer(body: &[u8]) -> Result<AudioOffer, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotSdp)?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    if lines.next().map(str::trim) != Some("v=0") {
        return Err(SdpError::NotSdp);
    }
    let mut session_c: Option<IpAddr> = None;
    let mut media_index = 0usize;
    let mut in_audio = false;
    let mut audio: Option<(u16, Vec<u8>, Option<IpAddr>)> = None;
    let mut audio_index = 0;
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let mut fmtp: Vec<(u8, String)> = Vec::new();
    let mut other_media = Vec::new();
    let mut seen_media = false;
    let mut session_dir: Option<Direction> = None;
    let mut media_dir: Option<Direction> = None;
    for l in text.lines().map(|l| l.trim_end_matches('\r')).skip(1) {
        if let Some(m) = l.strip_prefix("m=") {
            seen_media = true;
            let mut f = m.split_whitespace();
            let kind = f.next().unwrap_or("");
            let port: u16 = f
                .next()
                .and_then(|p| p.split('/').next()?.parse().ok())
                .unwrap_or(0);
            let _proto = f.next();
            in_audio = kind == "audio" && audio.is_none() && port != 0;
            if in_audio {
                let pts = f.filter_map(|p| p.parse().ok()).collect();
                audio = Some((port, pts, None));
                audio_index = media_index;
            } else {
                other_media.push(m.to_owned());
            }
            media_index += 1;
        } else if let Some(c) = l.strip_prefix("c=") {
            let addr = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse().ok());
            if !seen_media {
                session_c = addr;
            } else if in_audio {
                if let Some(a) = audio.as_mut() {
                    a.2 = addr;
                }
            }
        } else if let Some(d) = direction_attr(l.trim_end()) {
            if !seen_media {
                session_dir = Some(d);
            } else if in_audio {
                media_dir = Some(d);
            }
        } else if in_audio {
            if let Some(v) = l.strip_prefix("a=rtpmap:") {
                if let Some((pt, name)) = v.split_once(' ') {
                    if let Ok(pt) = pt.parse() {
                        rtpmap.push((pt, name.trim().to_owned()));
                    }
                }
            } else if let Some(v) = l.strip_prefix("a=fmtp:") {
                if let Some((pt, p)) = v.split_once(' ') {
                    if let Ok(pt) = pt.parse() {
                        fmtp.push((pt, p.trim().to_owned()));
                    }
                }
            }
        }
    }
    let (port, pts, media_c) = audio.ok_or(SdpError::NoAudio)?;
    let addr = media_c.or(session_c).ok_or(SdpError::NoConnection)?;
    let mut direction = media_dir.or(session_dir).unwrap_or_default();
    if addr.is_unspecified() {
        // RFC 2543 hold (c=0.0.0.0): send it nothing; it may still send (music on hold).
        direction = match direction {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            _ => Direction::Inactive,
        };
    }
    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for pt in pts {
        let map = rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.clone());
        let codec = match &map {
            Some(n) if n.to_ascii_lowercase().starts_with("telephone-event") => {
                telephone_event = Some(pt);
                continue;
            }
            Some(n) => codec_by_name(n),
            None => codec_by_static_pt(pt),
        };
        if let Some(codec) = codec {
            codecs.push(Offered {
                codec,
                pt,
                rtpmap: map.unwrap_or_else(|| codec_info(codec).1.to_owned()),
                fmtp: fmtp.iter().find(|(p, _)| *p == pt).map(|(_, f)| f.clone()),
            });
        }
    }
    Ok(AudioOffer {
        addr,
        port,
        codecs,
        telephone_event,
        other_media,
        audio_index,
        direction,
    })
}

/// The codecs an agent may use: its allowed list, minus g729 for WebRTC agents.
pub fn usable(allowed: &[Codec], webrtc: bool) -> impl Iterator<Item = Codec> + '_ {
    allowed
        .iter()
        .copied()
        .filter(move |c| !(webrtc && *c == Codec::G729))
}

/// Our side of a session: where we receive RTP and the o= identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address.
    pub addr: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// o= session id.
    pub session_id: u64,
    /// o= session version.
    pub version: u64,
}

fn header(out: &mut String, local: &LocalMedia) {
    let ipv = if local.addr.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=acd {} {} IN {ipv} {}\r\ns=acd\r\nc=IN {ipv} {}\r\nt=0 0\r\n",
        local.session_id, local.version, local.addr, local.addr
    );
}

/// The answer to an offer: the common codecs in the offerer's order (RFC 3264 §6.1), plus
/// telephone-event when offered, the offer's direction mirrored; other streams declined with
/// port 0. Returns the SDP and the codec both sides will send first.
pub fn answer(
    offer: &AudioOffer,
    allowed: &[Codec],
    webrtc: bool,
    local: &LocalMedia,
) -> Result<(String, Offered), SdpError> {
    let ok: Vec<Codec> = usable(allowed, webrtc).collect();
    let common: Vec<&Offered> = offer
        .codecs
        .iter()
        .filter(|o| ok.contains(&o.codec))
        .collect();
    let first = (*common.first().ok_or(SdpError::NoCommonCodec)?).clone();
    let mut out = String::with_capacity(256);
    header(&mut out, local);
    let mut media_lines: Vec<String> = Vec::new();
    let mut audio = format!("m=audio {} RTP/AVP", local.port);
    for o in &common {
        let _ = write!(audio, " {}", o.pt);
    }
    if let Some(te) = offer.telephone_event {
        let _ = write!(audio, " {te}");
    }
    audio.push_str("\r\n");
    for o in &common {
        let _ = write!(audio, "a=rtpmap:{} {}\r\n", o.pt, o.rtpmap);
        if let Some(f) = &o.fmtp {
            let _ = write!(audio, "a=fmtp:{} {}\r\n", o.pt, f);
        }
    }
    if let Some(te) = offer.telephone_event {
        let _ = write!(
            audio,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    audio.push_str(direction_line(mirror(offer.direction)));
    for m in &offer.other_media {
        let mut f = m.split_whitespace();
        let kind = f.next().unwrap_or("audio");
        let _port = f.next();
        let rest: Vec<&str> = f.collect();
        media_lines.push(format!("m={kind} 0 {}\r\n", rest.join(" ")));
    }
    media_lines.insert(offer.audio_index.min(media_lines.len()), audio);
    for m in media_lines {
        out.push_str(&m);
    }
    Ok((out, first))
}

/// An offer toward an agent: their usable codecs in their preference order, plus
/// telephone-event 101.
pub fn offer(allowed: &[Codec], webrtc: bool, local: &LocalMedia) -> Result<String, SdpError> {
    let codecs: Vec<Codec> = usable(allowed, webrtc).collect();
    if codecs.is_empty() {
        return Err(SdpError::NoCommonCodec);
    }
    let mut out = String::with_capacity(256);
    header(&mut out, local);
    let _ = write!(out, "m=audio {} RTP/AVP", local.port);
    for c in &codecs {
        let _ = write!(out, " {}", codec_info(*c).0);
    }
    out.push_str(" 101\r\n");
    for c in &codecs {
        let (pt, name) = codec_info(*c);
        let _ = write!(out, "a=rtpmap:{pt} {name}\r\n");
    }
    out.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n");
    Ok(out)
}

/// The media plane's encoding for a codec: G.711 can be played to and transcoded, the rest
/// is relayed untouched.
pub fn encoding(c: Codec) -> Encoding {
    match c {
        Codec::Ulaw => Encoding::Pcmu,
        Codec::Alaw => Encoding::Pcma,
        other => Encoding::Other(other),
    }
}

/// The codec behind an encoding.
pub fn codec_of(e: Encoding) -> Codec {
    match e {
        Encoding::Pcmu => Codec::Ulaw,
        Encoding::Pcma => Codec::Alaw,
        Encoding::Other(c) => c,
    }
}

/// The codecs a leg using `c` may switch to without breaking its peer: `c` itself, and the
/// other G.711 law when `c` is G.711 (the media plane transcodes between them).
pub fn compatible(c: Codec) -> Vec<Codec> {
    match c {
        Codec::Ulaw => vec![Codec::Ulaw, Codec::Alaw],
        Codec::Alaw => vec![Codec::Alaw, Codec::Ulaw],
        other => vec![other],
    }
}

/// An address behind NAT as far as media goes: RFC 1918, shared address space (100.64/10),
/// IPv6 unique local (fc00::/7). Loopback is not (local tests and same-host peers).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The media of a leg whose remote declared `stream` and settled on `chosen`: the remote's
/// address (none for a `c=0.0.0.0` hold), its payload types and direction. Latching is on
/// when `latch` asks for it (the agent's NAT setting) or the address is private.
pub fn leg_media(stream: &AudioOffer, chosen: &Offered, latch: bool) -> LegMedia {
    LegMedia {
        remote: (!stream.addr.is_unspecified()).then(|| SocketAddr::new(stream.addr, stream.port)),
        latch: latch || is_private(stream.addr),
        encoding: encoding(chosen.codec),
        pt: chosen.pt,
        telephone_event: stream.telephone_event,
        direction: stream.direction,
    }
}

/// The codec an answer settled on among those we `offered`: the first of the answer's codecs
/// that we offered (RFC 3264 §6.1: the answerer lists its preference first).
pub fn chosen<'a>(answer: &'a AudioOffer, offered: &[Codec]) -> Option<&'a Offered> {
    answer.codecs.iter().find(|o| offered.contains(&o.codec))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &[u8] = b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "192.0.2.1".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
        }
    }

    fn offer_of(pts: &str, maps: &str) -> AudioOffer {
        let b = format!("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {pts}\r\n{maps}");
        parse_offer(b.as_bytes()).unwrap()
    }

    #[test]
    fn sipp_ulaw_offer_is_answered_with_ulaw() {
        let o = parse_offer(SIPP).unwrap();
        assert_eq!(o.port, 6000);
        let (sdp, first) = answer(&o, &[Codec::Alaw, Codec::Ulaw], false, &local()).unwrap();
        assert_eq!(first.codec, Codec::Ulaw);
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0\r\n"));
    }

    #[test]
    fn nothing_in_common_is_488() {
        let o = parse_offer(SIPP).unwrap();
        let e = answer(&o, &[Codec::Opus], false, &local()).unwrap_err();
        assert_eq!(e, SdpError::NoCommonCodec);
        assert_eq!(e.status(), 488);
    }

    #[test]
    fn g729_is_never_chosen_for_webrtc_agents() {
        let o = offer_of("18 0", "a=rtpmap:18 G729/8000\r\n");
        let (_, first) = answer(&o, &[Codec::G729, Codec::Ulaw], true, &local()).unwrap();
        assert_eq!(first.codec, Codec::Ulaw);
        let o = offer_of("18", "a=rtpmap:18 G729/8000\r\n");
        assert_eq!(
            answer(&o, &[Codec::G729], true, &local()).unwrap_err(),
            SdpError::NoCommonCodec
        );
        assert_eq!(
            answer(&o, &[Codec::G729], false, &local()).unwrap().1.codec,
            Codec::G729
        );
    }

    #[test]
    fn dynamic_opus_keeps_the_offered_payload_type_and_fmtp() {
        let o = offer_of(
            "96 8",
            "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n",
        );
        let (sdp, first) = answer(&o, &[Codec::Opus, Codec::Alaw], true, &local()).unwrap();
        assert_eq!((first.codec, first.pt), (Codec::Opus, 96));
        assert!(sdp.contains("a=fmtp:96 useinbandfec=1"));
        assert!(sdp.contains("RTP/AVP 96 8"));
    }

    #[test]
    fn all_six_codecs_are_recognised() {
        let o = offer_of("0 8 9 3 18 111", "a=rtpmap:111 opus/48000/2\r\n");
        let got: Vec<Codec> = o.codecs.iter().map(|c| c.codec).collect();
        assert_eq!(
            got,
            vec![
                Codec::Ulaw,
                Codec::Alaw,
                Codec::G722,
                Codec::Gsm,
                Codec::G729,
                Codec::Opus
            ]
        );
    }

    #[test]
    fn telephone_event_is_kept() {
        let o = offer_of("0 101", "a=rtpmap:101 telephone-event/8000\r\n");
        let (sdp, _) = answer(&o, &[Codec::Ulaw], false, &local()).unwrap();
        assert!(sdp.contains("RTP/AVP 0 101"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000"));
    }

    #[test]
    fn video_is_declined_with_port_zero_in_place() {
        let b = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\nm=audio 4000 RTP/AVP 0\r\n";
        let o = parse_offer(b).unwrap();
        let (sdp, _) = answer(&o, &[Codec::Ulaw], false, &local()).unwrap();
        let v = sdp.find("m=video 0 RTP/AVP 31").unwrap();
        let a = sdp.find("m=audio 20000").unwrap();
        assert!(v < a);
    }

    #[test]
    fn offer_to_an_agent_lists_their_codecs_in_order_without_g729_for_webrtc() {
        let s = offer(&[Codec::G729, Codec::Opus, Codec::Ulaw], true, &local()).unwrap();
        assert!(s.contains("m=audio 20000 RTP/AVP 111 0 101"));
        assert!(!s.contains("G729"));
    }

    #[test]
    fn ipv6_connection_address_is_read() {
        let b = b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::20\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
        assert_eq!(
            parse_offer(b).unwrap().addr,
            "2001:db8::20".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn body_without_audio_is_rejected() {
        let b = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\n";
        assert_eq!(parse_offer(b).unwrap_err(), SdpError::NoAudio);
    }

    #[test]
    fn direction_is_read_media_level_over_session_level() {
        let o = offer_of("0", "a=sendonly\r\n");
        assert_eq!(o.direction, Direction::SendOnly);
        let b = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\na=inactive\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(parse_offer(b).unwrap().direction, Direction::Inactive);
        let b = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\na=inactive\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";
        assert_eq!(parse_offer(b).unwrap().direction, Direction::RecvOnly);
        assert_eq!(offer_of("0", "").direction, Direction::SendRecv);
    }

    #[test]
    fn answer_mirrors_the_offered_direction() {
        for (theirs, ours) in [
            ("a=sendonly", "a=recvonly"),
            ("a=recvonly", "a=sendonly"),
            ("a=inactive", "a=inactive"),
            ("a=sendrecv", "a=sendrecv"),
        ] {
            let o = offer_of("0", &format!("{theirs}\r\n"));
            let (sdp, _) = answer(&o, &[Codec::Ulaw], false, &local()).unwrap();
            assert!(sdp.contains(&format!("{ours}\r\n")), "{theirs}: {sdp}");
            assert_eq!(
                sdp.matches("a=sendrecv").count(),
                usize::from(ours == "a=sendrecv")
            );
        }
    }

    #[test]
    fn rfc2543_hold_address_means_send_nothing() {
        let b = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let o = parse_offer(b).unwrap();
        assert_eq!(o.direction, Direction::SendOnly);
        let m = leg_media(&o, &o.codecs[0], false);
        assert_eq!(m.remote, None);
        assert!(!m.direction.remote_receives());
    }

    #[test]
    fn private_addresses_are_latched_loopback_and_public_are_not() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "fd00::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "::1",
            "192.0.2.1",
            "100.128.0.1",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn leg_media_names_the_remote_codec_and_telephone_event() {
        let o = offer_of(
            "8 0 101",
            "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
        );
        let m = leg_media(&o, &o.codecs[0], false);
        assert_eq!(
            m,
            LegMedia {
                remote: Some("10.0.0.1:4000".parse().unwrap()),
                latch: true,
                encoding: Encoding::Pcma,
                pt: 8,
                telephone_event: Some(101),
                direction: Direction::SendOnly,
            }
        );
        assert_eq!(encoding(Codec::G722), Encoding::Other(Codec::G722));
        assert_eq!(codec_of(Encoding::Pcmu), Codec::Ulaw);
    }

    #[test]
    fn an_answer_is_held_to_the_codecs_we_offered() {
        let a = offer_of("9 8", "");
        assert_eq!(
            chosen(&a, &[Codec::Ulaw, Codec::Alaw]).unwrap().codec,
            Codec::Alaw
        );
        assert!(chosen(&a, &[Codec::Ulaw]).is_none());
        assert_eq!(compatible(Codec::Alaw), vec![Codec::Alaw, Codec::Ulaw]);
        assert_eq!(compatible(Codec::Opus), vec![Codec::Opus]);
    }
}
