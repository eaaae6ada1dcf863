//! G.711 (ITU-T G.711) µ-law and A-law: sample codecs and law-to-law transcoding.
//!
//! Pure functions; transcoding is one lookup per byte in 256-entry tables built at compile
//! time (`const fn`), so the relay transcodes in place with no allocation and no branch per
//! sample.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// Encodes a 16-bit linear sample as µ-law.
pub const fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    if s > CLIP {
        s = CLIP;
    }
    s += BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes a µ-law byte to a 16-bit linear sample.
pub const fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte as i32;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0f;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes a 16-bit linear sample as A-law.
pub const fn alaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    if s > 32_767 {
        s = 32_767;
    }
    let out = if s >= 256 {
        let mut exponent = 7;
        let mut mask = 0x4000;
        while exponent > 1 && s & mask == 0 {
            exponent -= 1;
            mask >>= 1;
        }
        let mantissa = (s >> (exponent + 3)) & 0x0f;
        (exponent << 4) | mantissa
    } else {
        s >> 4
    };
    ((out | sign) ^ 0x55) as u8
}

/// Decodes an A-law byte to a 16-bit linear sample.
pub const fn alaw_decode(byte: u8) -> i16 {
    let a = (byte ^ 0x55) as i32;
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = a & 0x0f;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_u2a() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_encode(ulaw_decode(i as u8));
        i += 1;
    }
    t
}

const fn build_a2u() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_encode(alaw_decode(i as u8));
        i += 1;
    }
    t
}

/// µ-law byte → A-law byte.
pub static ULAW_TO_ALAW: [u8; 256] = build_u2a();
/// A-law byte → µ-law byte.
pub static ALAW_TO_ULAW: [u8; 256] = build_a2u();

/// Rewrites a µ-law payload as A-law, in place.
pub fn ulaw_to_alaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ULAW_TO_ALAW[*b as usize];
    }
}

/// Rewrites an A-law payload as µ-law, in place.
pub fn alaw_to_ulaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ALAW_TO_ULAW[*b as usize];
    }
}

/// The µ-law byte of digital silence.
pub const ULAW_SILENCE: u8 = ulaw_encode(0);
/// The A-law byte of digital silence.
pub const ALAW_SILENCE: u8 = alaw_encode(0);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32_256);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw {b:#x}");
            // 0x7f is µ-law's "negative zero": it decodes to 0, which encodes as 0xff.
            if b != 0x7f {
                assert_eq!(ulaw_encode(ulaw_decode(b)), b, "ulaw {b:#x}");
            }
        }
    }

    #[test]
    fn transcoding_twice_stays_close() {
        for b in 0..=255u8 {
            let back = ALAW_TO_ULAW[ULAW_TO_ALAW[b as usize] as usize];
            let d = (ulaw_decode(b) as i32 - ulaw_decode(back) as i32).abs();
            assert!(
                d <= ulaw_decode(b).unsigned_abs() as i32 / 8 + 16,
                "{b:#x}: {d}"
            );
        }
    }

    proptest! {
        #[test]
        fn quantisation_error_is_bounded(s in any::<i16>()) {
            let u = ulaw_decode(ulaw_encode(s)) as i32;
            let a = alaw_decode(alaw_encode(s)) as i32;
            let s = (s as i32).clamp(-32_635, 32_635);
            // Logarithmic laws: the step grows with the magnitude, about 1/16 of it.
            let bound = s.abs() / 16 + 64;
            prop_assert!((u - s).abs() <= bound, "ulaw {} -> {}", s, u);
            prop_assert!((a - s).abs() <= bound + 64, "alaw {} -> {}", s, a);
        }
    }
}
