//! Test audio: sine tones as 8 kHz 16-bit samples, G.711 framing of them, and a Goertzel
//! detector that says which of a few candidate frequencies dominates received audio.
//!
//! Owns signal generation and analysis only. It does not own RTP (see [`crate::rtp`]) or the
//! G.711 laws themselves (those are `acd_engine::media::g711`, the same tables acd uses, so
//! a test that hears a tone through acd exercises the real codec both ways).

use acd_engine::media::g711;

/// Samples per second of narrowband telephony.
pub const RATE: u32 = 8000;
/// Samples in one 20 ms packet.
pub const FRAME: usize = 160;

/// The two G.711 laws a test can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Law {
    /// The static RTP payload type.
    pub fn pt(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Law::Pcmu => "PCMU",
            Law::Pcma => "PCMA",
        }
    }

    /// The law of a static payload type, if it is one of the two.
    pub fn from_pt(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Pcmu),
            8 => Some(Law::Pcma),
            _ => None,
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, s: i16) -> u8 {
        match self {
            Law::Pcmu => g711::ulaw_encode(s),
            Law::Pcma => g711::alaw_encode(s),
        }
    }

    /// Decodes one byte.
    pub fn decode(self, b: u8) -> i16 {
        match self {
            Law::Pcmu => g711::ulaw_decode(b),
            Law::Pcma => g711::alaw_decode(b),
        }
    }
}

/// A continuous sine generator (phase carried across frames, so frames join without clicks).
#[derive(Debug, Clone)]
pub struct Tone {
    freq: f64,
    amplitude: f64,
    n: u64,
}

impl Tone {
    /// A tone of `freq` Hz at `amplitude` (0.0–1.0 of full scale).
    pub fn new(freq: f64, amplitude: f64) -> Tone {
        Tone {
            freq,
            amplitude: amplitude.clamp(0.0, 1.0),
            n: 0,
        }
    }

    /// The next sample.
    pub fn next_sample(&mut self) -> i16 {
        let t = self.n as f64 / RATE as f64;
        self.n += 1;
        let v = (2.0 * std::f64::consts::PI * self.freq * t).sin() * self.amplitude * 32767.0;
        v as i16
    }

    /// Fills `out` with the next samples encoded in `law`.
    pub fn fill(&mut self, law: Law, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = law.encode(self.next_sample());
        }
    }
}

/// Decodes a G.711 payload into linear samples appended to `out`.
pub fn decode_into(law: Law, payload: &[u8], out: &mut Vec<i16>) {
    out.extend(payload.iter().map(|b| law.decode(*b)));
}

/// Relative power of `freq` in `samples` (Goertzel, normalised by the block length).
pub fn goertzel(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / RATE as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64 * samples.len() as f64)
}

/// Root mean square of the samples, 0.0–1.0 of full scale.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let v = s as f64 / 32768.0;
            v * v
        })
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// Which of `candidates` dominates `samples`: the strongest one when it carries at least ten
/// times the power of every other candidate, else `None` (silence, noise, a mix).
pub fn dominant(samples: &[i16], candidates: &[f64]) -> Option<f64> {
    let powers: Vec<(f64, f64)> = candidates
        .iter()
        .map(|&f| (f, goertzel(samples, f)))
        .collect();
    let (best, p) = powers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    // A full-scale sine gives about 0.25; anything below 1e-5 is silence or hiss.
    if p < 1e-5 {
        return None;
    }
    let clear = powers.iter().all(|&(f, q)| f == best || q * 10.0 <= p);
    clear.then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_samples(freq: f64, n: usize, law: Law) -> Vec<i16> {
        let mut t = Tone::new(freq, 0.5);
        let mut enc = vec![0u8; n];
        t.fill(law, &mut enc);
        let mut out = Vec::new();
        decode_into(law, &enc, &mut out);
        out
    }

    #[test]
    fn goertzel_finds_a_generated_tone_among_candidates() {
        for law in [Law::Pcmu, Law::Pcma] {
            for f in [600.0, 1000.0, 1400.0] {
                let s = tone_samples(f, 1600, law);
                assert_eq!(
                    dominant(&s, &[600.0, 1000.0, 1400.0]),
                    Some(f),
                    "{law:?} {f}"
                );
            }
        }
    }

    #[test]
    fn silence_and_a_two_tone_mix_have_no_dominant_frequency() {
        assert_eq!(dominant(&[0i16; 1600], &[600.0, 1000.0]), None);
        let a = tone_samples(600.0, 1600, Law::Pcmu);
        let b = tone_samples(1000.0, 1600, Law::Pcmu);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x / 2 + y / 2).collect();
        assert_eq!(dominant(&mix, &[600.0, 1000.0]), None);
    }

    #[test]
    fn g711_round_trip_keeps_samples_close_in_both_laws() {
        let mut t = Tone::new(1000.0, 0.8);
        for law in [Law::Pcmu, Law::Pcma] {
            for _ in 0..800 {
                let s = t.next_sample();
                let back = law.decode(law.encode(s));
                // G.711 keeps about 12 bits of magnitude: the error grows with the level.
                let tolerance = (s.unsigned_abs() as i32 / 16).max(16);
                assert!(
                    (back as i32 - s as i32).abs() <= tolerance,
                    "{law:?}: {s} came back as {back}"
                );
            }
        }
    }

    #[test]
    fn rms_tells_a_tone_from_silence() {
        assert!(rms(&tone_samples(1000.0, 800, Law::Pcma)) > 0.2);
        assert!(rms(&[0i16; 800]) < 1e-6);
    }
}
