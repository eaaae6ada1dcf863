//! RTCP (RFC 3550 §6) as pure functions: validating and reading a received compound packet,
//! writing the compound report a leg sends (SR or RR, at most one report block, SDES CNAME).
//!
//! Owns the wire format only; when to report and what the counters hold (reception
//! statistics, sender counts, LSR/DLSR) belong to the shard ([`crate::media::shard`]). acd
//! terminates RTCP per leg rather than relaying it, because it rewrites SSRCs, sequence
//! numbers and timestamps: the peer's reports would describe a stream its receiver never saw.

use thiserror::Error;

/// Sender report.
pub const PT_SR: u8 = 200;
/// Receiver report.
pub const PT_RR: u8 = 201;
/// Source description.
pub const PT_SDES: u8 = 202;
/// Goodbye.
pub const PT_BYE: u8 = 203;
/// Application-defined.
pub const PT_APP: u8 = 204;

/// Why a received datagram is not a valid RTCP compound packet (RFC 3550 A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Shorter than one RTCP header, or than the length a header announces.
    #[error("RTCP packet truncated")]
    Truncated,
    /// A packet whose version is not 2.
    #[error("RTCP version {0} (only 2 is valid)")]
    Version(u8),
    /// The compound does not start with an SR or RR, or its first packet is padded.
    #[error("RTCP compound does not start with an unpadded SR or RR")]
    NotReportFirst,
    /// A packet type outside 200–204.
    #[error("RTCP packet type {0} is not 200-204")]
    PacketType(u8),
    /// Padding on a packet other than the last, or a padding count larger than the packet.
    #[error("RTCP padding invalid")]
    Padding,
    /// An SR or RR shorter than its report count says.
    #[error("RTCP report shorter than its report count")]
    ReportCount,
    /// The output buffer cannot hold the report.
    #[error("buffer too small for the RTCP report")]
    BufferTooSmall,
}

/// The sender-info section of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (32.32 fixed point, seconds since 1900).
    pub ntp: u64,
    /// The RTP timestamp matching `ntp`.
    pub rtp_ts: u32,
    /// Packets sent since the stream started.
    pub packets: u32,
    /// Payload octets sent since the stream started.
    pub octets: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp: what a receiver echoes as LSR.
    pub fn ntp_middle(&self) -> u32 {
        (self.ntp >> 16) as u32
    }
}

/// One report block: the reception quality of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, 8-bit fixed point.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire; clamped).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | seq).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of its NTP time), 0 if none.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s, 0 if none.
    pub dlsr: u32,
}

/// What a leg reports: an SR when it sent RTP since its last report, else an RR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    /// The reporting leg's own SSRC.
    pub ssrc: u32,
    /// Sender info (makes it an SR).
    pub sender: Option<SenderInfo>,
    /// The report on the stream the leg receives, if it received any.
    pub block: Option<ReportBlock>,
    /// SDES CNAME (at most 255 bytes; longer is cut).
    pub cname: &'a [u8],
}

/// What acd keeps from a received compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The SSRC of the first packet's sender.
    pub ssrc: u32,
    /// The sender info, when the first packet is an SR.
    pub sender: Option<SenderInfo>,
    /// The first report block of the first packet, if any.
    pub block: Option<ReportBlock>,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn read_block(b: &[u8]) -> ReportBlock {
    let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
    // Sign-extend the 24-bit count.
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(b),
        fraction_lost: b[4],
        cumulative_lost,
        highest_seq: be32(&b[8..]),
        jitter: be32(&b[12..]),
        lsr: be32(&b[16..]),
        dlsr: be32(&b[20..]),
    }
}

/// Validates a compound RTCP packet (RFC 3550 A.2: version 2 throughout, starts with an
/// unpadded SR or RR, types 200–204, lengths adding up to the datagram, padding only on the
/// last packet) and reads its first report.
pub fn parse(buf: &[u8]) -> Result<Received, RtcpError> {
    if buf.len() < 8 {
        return Err(RtcpError::Truncated);
    }
    let first_pt = buf[1];
    if buf[0] >> 6 != 2 {
        return Err(RtcpError::Version(buf[0] >> 6));
    }
    if (first_pt != PT_SR && first_pt != PT_RR) || buf[0] & 0x20 != 0 {
        return Err(RtcpError::NotReportFirst);
    }
    let mut off = 0;
    while off < buf.len() {
        let h = &buf[off..];
        if h.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        if h[0] >> 6 != 2 {
            return Err(RtcpError::Version(h[0] >> 6));
        }
        if !(PT_SR..=PT_APP).contains(&h[1]) {
            return Err(RtcpError::PacketType(h[1]));
        }
        let len = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
        if len > h.len() {
            return Err(RtcpError::Truncated);
        }
        if h[0] & 0x20 != 0 {
            let pad = usize::from(h[len - 1]);
            if off + len != buf.len() || pad == 0 || pad > len - 4 {
                return Err(RtcpError::Padding);
            }
        }
        off += len;
    }
    let len = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
    let count = usize::from(buf[0] & 0x1f);
    let (sender, blocks_at) = if first_pt == PT_SR {
        if len < 28 {
            return Err(RtcpError::Truncated);
        }
        let info = SenderInfo {
            ntp: u64::from(be32(&buf[8..])) << 32 | u64::from(be32(&buf[12..])),
            rtp_ts: be32(&buf[16..]),
            packets: be32(&buf[20..]),
            octets: be32(&buf[24..]),
        };
        (Some(info), 28)
    } else {
        (None, 8)
    };
    if blocks_at + count * 24 > len {
        return Err(RtcpError::ReportCount);
    }
    let block = (count > 0).then(|| read_block(&buf[blocks_at..blocks_at + 24]));
    Ok(Received {
        ssrc: be32(&buf[4..]),
        sender,
        block,
    })
}

fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The size of `r` on the wire.
pub fn report_len(r: &Report<'_>) -> usize {
    let report = 8 + if r.sender.is_some() { 20 } else { 0 } + r.block.map_or(0, |_| 24);
    let cname = r.cname.len().min(255);
    // SSRC, CNAME item (type, length, text), at least one null octet, padded to 32 bits.
    let sdes = 4 + (4 + 2 + cname + 1).div_ceil(4) * 4;
    report + sdes
}

/// Writes `r` as a compound packet (SR or RR, then SDES with the CNAME) into `buf`;
/// answers its length.
pub fn build_report(buf: &mut [u8], r: &Report<'_>) -> Result<usize, RtcpError> {
    let total = report_len(r);
    if buf.len() < total {
        return Err(RtcpError::BufferTooSmall);
    }
    let count = u8::from(r.block.is_some());
    let pt = if r.sender.is_some() { PT_SR } else { PT_RR };
    let report = 8 + if r.sender.is_some() { 20 } else { 0 } + usize::from(count) * 24;
    buf[0] = 0x80 | count;
    buf[1] = pt;
    buf[2..4].copy_from_slice(&((report / 4 - 1) as u16).to_be_bytes());
    put32(buf, 4, r.ssrc);
    let mut at = 8;
    if let Some(s) = r.sender {
        put32(buf, 8, (s.ntp >> 32) as u32);
        put32(buf, 12, s.ntp as u32);
        put32(buf, 16, s.rtp_ts);
        put32(buf, 20, s.packets);
        put32(buf, 24, s.octets);
        at = 28;
    }
    if let Some(b) = r.block {
        put32(buf, at, b.ssrc);
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0xff_ffff;
        put32(buf, at + 4, u32::from(b.fraction_lost) << 24 | lost);
        put32(buf, at + 8, b.highest_seq);
        put32(buf, at + 12, b.jitter);
        put32(buf, at + 16, b.lsr);
        put32(buf, at + 20, b.dlsr);
        at += 24;
    }
    let cname = &r.cname[..r.cname.len().min(255)];
    let sdes_len = total - at;
    buf[at] = 0x81; // version 2, one chunk
    buf[at + 1] = PT_SDES;
    buf[at + 2..at + 4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    put32(buf, at + 4, r.ssrc);
    buf[at + 8] = 1; // CNAME
    buf[at + 9] = cname.len() as u8;
    buf[at + 10..at + 10 + cname.len()].copy_from_slice(cname);
    // The item list ends with null octets up to the next 32-bit boundary.
    buf[at + 10 + cname.len()..total].fill(0);
    Ok(total)
}

/// DLSR in 1/65536 s from a delay.
pub fn dlsr(delay: std::time::Duration) -> u32 {
    let units = delay.as_micros() * 65_536 / 1_000_000;
    units.min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x1122_3344,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 0x0001_0005,
            jitter: 42,
            lsr: 0xdead_beef,
            dlsr: 65_536,
        }
    }

    #[test]
    fn sr_with_block_and_cname_round_trips() {
        let sender = SenderInfo {
            ntp: 0x0102_0304_0506_0708,
            rtp_ts: 160,
            packets: 7,
            octets: 1120,
        };
        let r = Report {
            ssrc: 9,
            sender: Some(sender),
            block: Some(block()),
            cname: b"acd-00000009",
        };
        let mut buf = [0u8; 256];
        let n = build_report(&mut buf, &r).unwrap();
        assert_eq!(n % 4, 0);
        assert_eq!(n, report_len(&r));
        let got = parse(&buf[..n]).unwrap();
        assert_eq!(got.ssrc, 9);
        assert_eq!(got.sender, Some(sender));
        assert_eq!(got.block, Some(block()));
        assert_eq!(sender.ntp_middle(), 0x0304_0506);
        // The SDES chunk names the CNAME.
        let sdes = &buf[52..n];
        assert_eq!(sdes[1], PT_SDES);
        assert_eq!(&sdes[10..22], b"acd-00000009");
    }

    #[test]
    fn rr_without_block_is_valid() {
        let r = Report {
            ssrc: 1,
            sender: None,
            block: None,
            cname: b"x",
        };
        let mut buf = [0u8; 64];
        let n = build_report(&mut buf, &r).unwrap();
        assert_eq!(buf[1], PT_RR);
        let got = parse(&buf[..n]).unwrap();
        assert_eq!(got.sender, None);
        assert_eq!(got.block, None);
    }

    #[test]
    fn cname_lengths_pad_to_32_bits() {
        let mut buf = [0u8; 600];
        for len in 0..300 {
            let cname = vec![b'a'; len];
            let r = Report {
                ssrc: 1,
                sender: None,
                block: None,
                cname: &cname,
            };
            let n = build_report(&mut buf, &r).unwrap();
            assert_eq!(n % 4, 0);
            parse(&buf[..n]).unwrap();
        }
    }

    #[test]
    fn invalid_compounds_are_rejected() {
        let r = Report {
            ssrc: 1,
            sender: None,
            block: Some(block()),
            cname: b"cname",
        };
        let mut buf = [0u8; 128];
        let n = build_report(&mut buf, &r).unwrap();
        assert_eq!(parse(&buf[..3]), Err(RtcpError::Truncated));
        assert_eq!(parse(&buf[..n - 4]), Err(RtcpError::Truncated));
        let mut v1 = buf;
        v1[0] = 0x41;
        assert_eq!(parse(&v1[..n]), Err(RtcpError::Version(1)));
        let mut sdes_first = buf;
        sdes_first[1] = PT_SDES;
        assert_eq!(parse(&sdes_first[..n]), Err(RtcpError::NotReportFirst));
        let mut odd = buf;
        odd[33] = 210;
        assert_eq!(parse(&odd[..n]), Err(RtcpError::PacketType(210)));
        let mut count = buf;
        count[0] = 0x82;
        assert_eq!(parse(&count[..n]), Err(RtcpError::ReportCount));
        // An RTP packet (PT 0 with marker) is not RTCP.
        let rtp = [0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(parse(&rtp), Err(RtcpError::NotReportFirst));
        assert_eq!(
            build_report(&mut [0u8; 10], &r),
            Err(RtcpError::BufferTooSmall)
        );
    }

    #[test]
    fn dlsr_is_in_65536ths() {
        assert_eq!(dlsr(std::time::Duration::from_millis(500)), 32_768);
    }
}
