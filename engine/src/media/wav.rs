//! WAV (RIFF/WAVE) reading and writing for prompts: a pure codec over byte slices.
//!
//! Reads the one format acd plays — 8 kHz mono, as 16-bit linear PCM, G.711 µ-law (format 7)
//! or A-law (format 6), plain or `WAVE_FORMAT_EXTENSIBLE` — into 16-bit samples, and writes
//! 16-bit PCM WAVs for download. Every length field is checked against the buffer before it is
//! used, so truncated or hostile input is an error, never a panic or a large allocation.
//! Anything else (another rate, stereo, 24-bit, MP3-in-WAV) is a [`WavError`] saying what was
//! found and how to convert it.
//!
//! Does not resample, mix down or own where prompts are stored (the admin service does).

use super::g711::{alaw_decode, ulaw_decode};

/// The only sample rate acd plays (G.711's).
pub const SAMPLE_RATE: u32 = 8_000;

/// The longest prompt accepted, in seconds.
pub const MAX_SECONDS: u32 = 600;

/// The most samples a prompt may hold ([`MAX_SECONDS`] at [`SAMPLE_RATE`]).
pub const MAX_SAMPLES: usize = (MAX_SECONDS * SAMPLE_RATE) as usize;

/// The largest WAV file accepted: the longest prompt as 16-bit PCM plus room for headers and
/// metadata chunks (`LIST`, `fact`, ...).
pub const MAX_BYTES: usize = MAX_SAMPLES * 2 + 64 * 1024;

/// What to tell someone whose file is in another format.
const CONVERT_HINT: &str = "prompts must be 8000 Hz mono 16-bit PCM or G.711 µ-law/A-law \
    (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)";

const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Why bytes are not a playable prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// The bytes do not start with a RIFF/WAVE header.
    #[error("not a WAV file (no RIFF/WAVE header); {CONVERT_HINT}")]
    NotWav,
    /// A chunk claims more bytes than the file holds.
    #[error(
        "truncated WAV: the `{chunk}` chunk says {declared} bytes but only {available} follow"
    )]
    Truncated {
        /// The chunk's id.
        chunk: String,
        /// The size its header declares.
        declared: u32,
        /// The bytes actually left.
        available: usize,
    },
    /// No `fmt ` chunk before the `data` chunk.
    #[error("WAV has no `fmt ` chunk before its audio data")]
    MissingFormat,
    /// The `fmt ` chunk is shorter than its fields.
    #[error("WAV `fmt ` chunk is {0} bytes, shorter than the 16 its fields need")]
    ShortFormat(u32),
    /// No `data` chunk.
    #[error("WAV has no `data` chunk (no audio)")]
    MissingData,
    /// The audio is not in a format acd plays.
    #[error("{found}; {CONVERT_HINT}")]
    Unsupported {
        /// What the file holds, e.g. `44100 Hz stereo 16-bit PCM`.
        found: String,
    },
    /// Longer than [`MAX_SECONDS`].
    #[error("the audio lasts {seconds} s; prompts are at most {MAX_SECONDS} s")]
    TooLong {
        /// Its duration, rounded down.
        seconds: u64,
    },
    /// No samples at all.
    #[error("the WAV `data` chunk holds no audio samples")]
    Empty,
}

/// The sample encodings acd reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavEncoding {
    /// 16-bit little-endian linear PCM.
    Pcm16,
    /// G.711 µ-law, one byte per sample.
    Ulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
}

#[derive(Debug, Clone, Copy)]
struct Format {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

impl Format {
    fn encoding(&self) -> Result<WavEncoding, WavError> {
        let encoding = match (self.tag, self.bits) {
            (FORMAT_PCM, 16) => Some(WavEncoding::Pcm16),
            (FORMAT_ULAW, 8) => Some(WavEncoding::Ulaw),
            (FORMAT_ALAW, 8) => Some(WavEncoding::Alaw),
            _ => None,
        };
        match encoding {
            Some(e) if self.channels == 1 && self.rate == SAMPLE_RATE => Ok(e),
            _ => Err(WavError::Unsupported {
                found: self.describe(),
            }),
        }
    }

    /// `44100 Hz stereo 16-bit PCM`.
    fn describe(&self) -> String {
        let channels = match self.channels {
            1 => "mono".to_owned(),
            2 => "stereo".to_owned(),
            n => format!("{n}-channel"),
        };
        let codec = match self.tag {
            FORMAT_PCM => format!("{}-bit PCM", self.bits),
            FORMAT_ULAW => format!("{}-bit µ-law", self.bits),
            FORMAT_ALAW => format!("{}-bit A-law", self.bits),
            3 => format!("{}-bit float", self.bits),
            0x55 => "MP3".to_owned(),
            2 | 0x11 => "ADPCM".to_owned(),
            t => format!("format 0x{t:04x}"),
        };
        format!("found {} Hz {channels} {codec}", self.rate)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_format(body: &[u8]) -> Result<Format, WavError> {
    let short = || WavError::ShortFormat(body.len() as u32);
    let mut f = Format {
        tag: u16_at(body, 0).ok_or_else(short)?,
        channels: u16_at(body, 2).ok_or_else(short)?,
        rate: u32_at(body, 4).ok_or_else(short)?,
        bits: u16_at(body, 14).ok_or_else(short)?,
    };
    if f.tag == FORMAT_EXTENSIBLE {
        // cbSize (2), valid bits (2), channel mask (4), then the sub-format GUID whose first
        // two bytes are the real format tag.
        f.tag = u16_at(body, 24).unwrap_or(FORMAT_EXTENSIBLE);
    }
    Ok(f)
}

/// Reads a WAV file into 8 kHz mono 16-bit samples. Chunks other than `fmt ` and `data` are
/// skipped; an odd trailing byte of 16-bit data is ignored.
pub fn parse(buf: &[u8]) -> Result<Vec<i16>, WavError> {
    if buf.len() < 12 || &buf[0..4] != b"RIFF" || &buf[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut at = 12;
    let mut format = None;
    loop {
        let Some(header) = buf.get(at..at + 8) else {
            return Err(if format.is_some() {
                WavError::MissingData
            } else {
                WavError::MissingFormat
            });
        };
        let id = &header[0..4];
        let declared = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = at + 8;
        let available = buf.len() - start;
        let truncated = || WavError::Truncated {
            chunk: String::from_utf8_lossy(id).into_owned(),
            declared,
            available,
        };
        let size = usize::try_from(declared).map_err(|_| truncated())?;
        if size > available {
            return Err(truncated());
        }
        let body = &buf[start..start + size];
        match id {
            b"fmt " => format = Some(parse_format(body)?),
            b"data" => {
                let format = format.ok_or(WavError::MissingFormat)?;
                return decode(format.encoding()?, body);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = start + size + (size & 1);
    }
}

fn decode(encoding: WavEncoding, data: &[u8]) -> Result<Vec<i16>, WavError> {
    let count = match encoding {
        WavEncoding::Pcm16 => data.len() / 2,
        WavEncoding::Ulaw | WavEncoding::Alaw => data.len(),
    };
    if count > MAX_SAMPLES {
        return Err(WavError::TooLong {
            seconds: count as u64 / u64::from(SAMPLE_RATE),
        });
    }
    if count == 0 {
        return Err(WavError::Empty);
    }
    Ok(match encoding {
        WavEncoding::Pcm16 => data
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect(),
        WavEncoding::Ulaw => data.iter().map(|&b| ulaw_decode(b)).collect(),
        WavEncoding::Alaw => data.iter().map(|&b| alaw_decode(b)).collect(),
    })
}

/// Milliseconds of audio in `samples` 8 kHz samples.
pub fn duration_ms(samples: usize) -> u64 {
    samples as u64 * 1_000 / u64::from(SAMPLE_RATE)
}

/// A canonical 44-byte-header WAV of 8 kHz mono 16-bit PCM holding `samples`.
pub fn write_pcm16(samples: &[i16]) -> Vec<u8> {
    write(FORMAT_PCM, 16, samples.len() * 2, |out| {
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
    })
}

/// A WAV of 8 kHz mono G.711 µ-law holding `bytes` (already encoded): for tests and tools.
pub fn write_ulaw(bytes: &[u8]) -> Vec<u8> {
    write(FORMAT_ULAW, 8, bytes.len(), |out| {
        out.extend_from_slice(bytes)
    })
}

fn write(tag: u16, bits: u16, data_len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    // Sizes past u32 cannot be written as WAV; callers hold at most MAX_SAMPLES.
    let data_len32 = u32::try_from(data_len).unwrap_or(u32::MAX);
    let block = bits / 8;
    let mut out = Vec::with_capacity(44 + data_len + 1);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len32) + (data_len32 & 1)).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len32.to_le_bytes());
    fill(&mut out);
    if data_len & 1 == 1 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::{alaw_encode, ulaw_encode};
    use proptest::prelude::*;

    /// A WAV with any format fields and `data`, plus optional chunks before `fmt `.
    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, extra: &[u8], data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits.div_ceil(8);
        fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        fmt.extend_from_slice(&block.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let mut body = b"WAVE".to_vec();
        body.extend_from_slice(extra);
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f64 * 0.3).sin() * 12_000.0) as i16)
            .collect()
    }

    #[test]
    fn pcm16_round_trips_through_write_and_parse() {
        let samples = tone(801);
        let bytes = write_pcm16(&samples);
        assert_eq!(bytes.len(), 44 + 801 * 2);
        assert_eq!(parse(&bytes).unwrap(), samples);
    }

    #[test]
    fn ulaw_and_alaw_decode_to_the_g711_samples() {
        let samples = tone(160);
        let u: Vec<u8> = samples.iter().map(|&s| ulaw_encode(s)).collect();
        let a: Vec<u8> = samples.iter().map(|&s| alaw_encode(s)).collect();
        let got_u = parse(&wav(7, 1, 8000, 8, &[], &u)).unwrap();
        let got_a = parse(&wav(6, 1, 8000, 8, &[], &a)).unwrap();
        assert_eq!(got_u, u.iter().map(|&b| ulaw_decode(b)).collect::<Vec<_>>());
        assert_eq!(got_a, a.iter().map(|&b| alaw_decode(b)).collect::<Vec<_>>());
        assert_eq!(parse(&write_ulaw(&u)).unwrap(), got_u);
    }

    #[test]
    fn unknown_chunks_are_skipped_including_odd_sized_ones() {
        let extra = b"LIST\x03\0\0\0abc\0junk\0\0\0\0";
        let got = parse(&wav(1, 1, 8000, 16, extra, &[1, 0, 2, 0])).unwrap();
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn extensible_format_uses_its_sub_format() {
        let mut bytes = b"RIFF\0\0\0\0WAVEfmt \x28\0\0\0".to_vec();
        bytes.extend_from_slice(&FORMAT_EXTENSIBLE.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&8000u32.to_le_bytes());
        bytes.extend_from_slice(&16000u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(&22u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(&4u32.to_le_bytes());
        bytes.extend_from_slice(&[
            1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
        ]);
        bytes.extend_from_slice(b"data\x02\0\0\0\x05\0");
        assert_eq!(parse(&bytes).unwrap(), vec![5]);
    }

    #[test]
    fn cd_quality_stereo_says_what_it_found_and_how_to_convert() {
        let e = parse(&wav(1, 2, 44_100, 16, &[], &[0; 8])).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("44100 Hz stereo 16-bit PCM"), "{text}");
        assert!(text.contains("8000 Hz mono"), "{text}");
        assert!(
            text.contains("sox in.wav -r 8000 -c 1 -b 16 out.wav"),
            "{text}"
        );
    }

    #[test]
    fn other_depths_rates_and_codecs_are_refused() {
        for (tag, ch, rate, bits) in [
            (1, 1, 8000, 8),
            (1, 1, 16000, 16),
            (3, 1, 8000, 32),
            (0x55, 1, 8000, 0),
            (7, 2, 8000, 8),
        ] {
            assert!(
                matches!(
                    parse(&wav(tag, ch, rate, bits, &[], &[0; 4])),
                    Err(WavError::Unsupported { .. })
                ),
                "{tag} {ch} {rate} {bits}"
            );
        }
    }

    #[test]
    fn lying_lengths_are_truncation_errors() {
        let mut bytes = write_pcm16(&tone(10));
        bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bytes), Err(WavError::Truncated { .. })));
        let mut bytes = write_pcm16(&tone(10));
        bytes[16..20].copy_from_slice(&1_000u32.to_le_bytes());
        assert!(matches!(parse(&bytes), Err(WavError::Truncated { .. })));
    }

    #[test]
    fn structural_errors_are_named() {
        assert_eq!(parse(b"not a wav at all"), Err(WavError::NotWav));
        assert_eq!(parse(b"RIFF\0\0\0\0WAVE"), Err(WavError::MissingFormat));
        assert_eq!(
            parse(b"RIFF\0\0\0\0WAVEdata\0\0\0\0"),
            Err(WavError::MissingFormat)
        );
        let no_data = &write_pcm16(&[1])[..36];
        assert_eq!(parse(no_data), Err(WavError::MissingData));
        assert_eq!(parse(&write_pcm16(&[])), Err(WavError::Empty));
        assert_eq!(
            parse(b"RIFF\0\0\0\0WAVEfmt \x04\0\0\0\x01\0\x01\0"),
            Err(WavError::ShortFormat(4))
        );
    }

    #[test]
    fn longer_than_the_cap_is_refused() {
        let data = vec![0xffu8; MAX_SAMPLES + 1];
        assert!(matches!(
            parse(&wav(7, 1, 8000, 8, &[], &data)),
            Err(WavError::TooLong { seconds: 600 })
        ));
        assert_eq!(duration_ms(8_000), 1_000);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_chunks_after_a_valid_header_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
            let mut fmt_first = write_pcm16(&[1, 2, 3])[..36].to_vec();
            fmt_first.extend_from_slice(&tail);
            let _ = parse(&fmt_first);
        }

        #[test]
        fn written_pcm_parses_back(samples in proptest::collection::vec(any::<i16>(), 1..400)) {
            prop_assert_eq!(parse(&write_pcm16(&samples)).unwrap(), samples);
        }
    }
}
