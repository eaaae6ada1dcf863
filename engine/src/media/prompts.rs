//! The prompt set: every sound acd plays to callers (welcome, music on hold, ringback, the
//! words and numbers of position and wait announcements), by name, and the built-in defaults.
//!
//! Built-ins: the speech prompts are espeak-ng output committed as 8 kHz µ-law WAVs under
//! `engine/assets/prompts/` (made by `generate.sh` there) and embedded with `include_bytes!`;
//! music on hold and ringback are synthesised here from sine tones, so no recording ships.
//! Their samples are decoded or generated once per process and shared.
//!
//! Pure: no I/O beyond the embedded bytes, no clock. Does not own where uploaded prompts are
//! kept (the admin service) nor the live set a running engine plays from
//! (`runtime::prompts_io`).

use super::{wav, Prompt};
use std::collections::HashMap;
use std::f64::consts::TAU;
use std::sync::{Arc, OnceLock};

macro_rules! speech {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../assets/prompts/", $name, ".wav")))),*]
    };
}

/// The built-in speech prompts: name and WAV bytes.
static SPEECH: &[(&str, &[u8])] = speech![
    "welcome",
    "position_intro",
    "position_outro",
    "wait_intro",
    "minutes",
    "minute",
    "less_than_a_minute",
    "n0",
    "n1",
    "n2",
    "n3",
    "n4",
    "n5",
    "n6",
    "n7",
    "n8",
    "n9",
    "n10",
    "n11",
    "n12",
    "n13",
    "n14",
    "n15",
    "n16",
    "n17",
    "n18",
    "n19",
    "n20",
    "n30",
    "n40",
    "n50",
    "n60",
    "n70",
    "n80",
    "n90",
];

/// Built-in music on hold.
pub const MOH: &str = "moh";
/// Built-in ringback tone.
pub const RINGBACK: &str = "ringback";

/// Every built-in prompt name: the speech prompts, then `moh` and `ringback`.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    SPEECH.iter().map(|(name, _)| *name).chain([MOH, RINGBACK])
}

/// Whether `name` is a built-in prompt (an upload under that name replaces it; deleting the
/// upload brings it back).
pub fn is_builtin(name: &str) -> bool {
    builtin_names().any(|n| n == name)
}

/// The samples of a built-in prompt (decoded or synthesised once per process).
pub fn builtin_samples(name: &str) -> Option<&'static [i16]> {
    static CACHE: OnceLock<HashMap<&'static str, Vec<i16>>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let mut all: HashMap<&'static str, Vec<i16>> = SPEECH
                .iter()
                // The embedded files are checked by a unit test; one that failed to decode
                // would only be silent, never a panic.
                .map(|(name, bytes)| (*name, wav::parse(bytes).unwrap_or_default()))
                .collect();
            all.insert(MOH, music_on_hold());
            all.insert(RINGBACK, ringback());
            all
        })
        .get(name)
        .map(Vec::as_slice)
}

/// Prompts by name.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    by_name: HashMap<String, Arc<Prompt>>,
}

impl PromptSet {
    /// The built-in defaults: every name of [`builtin_names`].
    pub fn builtin() -> PromptSet {
        let mut set = PromptSet::default();
        for name in builtin_names() {
            if let Some(samples) = builtin_samples(name) {
                set.insert_samples(name, samples);
            }
        }
        set
    }

    /// The prompt called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        self.by_name.get(name).cloned()
    }

    /// Adds or replaces a prompt.
    pub fn insert(&mut self, prompt: Prompt) {
        self.by_name.insert(prompt.name.clone(), Arc::new(prompt));
    }

    /// Adds or replaces a prompt given as 8 kHz 16-bit samples.
    pub fn insert_samples(&mut self, name: &str, samples: &[i16]) {
        self.insert(Prompt::from_samples(name, samples));
    }

    /// Removes a prompt (a built-in returns only if inserted again).
    pub fn remove(&mut self, name: &str) {
        self.by_name.remove(name);
    }

    /// The names held, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// What a caller at `position` (1 = next) with an expected wait of `wait_secs` hears:
    /// "you are number <position> in the queue", then, if a wait is given, "your expected wait
    /// is about <n> minutes" (rounded to the nearest minute) or "... less than a minute".
    /// Numbers up to 99 are said as words, larger ones digit by digit. A prompt missing from
    /// the set is left out rather than failing the announcement.
    pub fn announce_position(&self, position: u32, wait_secs: Option<u32>) -> Vec<Arc<Prompt>> {
        let mut names = vec!["position_intro".to_owned()];
        number_words(position, &mut names);
        names.push("position_outro".to_owned());
        if let Some(wait) = wait_secs {
            names.push("wait_intro".to_owned());
            if wait < 60 {
                names.push("less_than_a_minute".to_owned());
            } else {
                let minutes = (wait + 30) / 60;
                number_words(minutes, &mut names);
                names.push(if minutes == 1 { "minute" } else { "minutes" }.to_owned());
            }
        }
        names.iter().filter_map(|n| self.get(n)).collect()
    }
}

/// The prompt names that say `n`: `n0`..`n20` alone, tens then units up to 99, digits above.
fn number_words(n: u32, out: &mut Vec<String>) {
    match n {
        0..=20 => out.push(format!("n{n}")),
        21..=99 => {
            out.push(format!("n{}", n / 10 * 10));
            if !n.is_multiple_of(10) {
                out.push(format!("n{}", n % 10));
            }
        }
        _ => out.extend(n.to_string().chars().map(|d| format!("n{d}"))),
    }
}

const RATE: f64 = wav::SAMPLE_RATE as f64;

/// North American ringback: 440 + 480 Hz, 2 s on, 4 s off (one 6 s cycle, looped), with 5 ms
/// ramps so the tone starts and stops without clicks.
fn ringback() -> Vec<i16> {
    let on = 2 * wav::SAMPLE_RATE as usize;
    let total = 6 * wav::SAMPLE_RATE as usize;
    let ramp = 40.0;
    (0..total)
        .map(|i| {
            if i >= on {
                return 0;
            }
            let t = i as f64 / RATE;
            let edge = (i as f64 / ramp).min((on - i) as f64 / ramp).min(1.0);
            let v = (TAU * 440.0 * t).sin() + (TAU * 480.0 * t).sin();
            (v * 4_000.0 * edge) as i16
        })
        .collect()
}

/// Music on hold: a slow, soft pentatonic phrase (about 9.6 s, looped) of sine notes with a
/// touch of second harmonic, each with a short attack and an exponential decay, ending in
/// silence so the loop joins without a click.
fn music_on_hold() -> Vec<i16> {
    // (frequency Hz, length in eighths of a second); 0 Hz is a rest.
    const PHRASE: &[(f64, usize)] = &[
        (523.25, 4), // C5
        (659.25, 4), // E5
        (783.99, 4), // G5
        (880.00, 6), // A5
        (783.99, 2), // G5
        (659.25, 4), // E5
        (587.33, 4), // D5
        (523.25, 8), // C5
        (0.0, 2),
        (392.00, 4), // G4
        (440.00, 4), // A4
        (523.25, 8), // C5
        (0.0, 6),
    ];
    let eighth = wav::SAMPLE_RATE as usize / 8;
    let mut out = Vec::with_capacity(PHRASE.iter().map(|(_, l)| l * eighth).sum());
    for &(freq, len) in PHRASE {
        let n = len * eighth;
        for i in 0..n {
            if freq == 0.0 {
                out.push(0);
                continue;
            }
            let t = i as f64 / RATE;
            let attack = (t / 0.03).min(1.0);
            let decay = (-2.2 * t).exp();
            let release = ((n - i) as f64 / 200.0).min(1.0);
            let tone = (TAU * freq * t).sin() + 0.25 * (TAU * 2.0 * freq * t).sin();
            out.push((tone * 6_000.0 * attack * decay * release) as i16);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::{ulaw_decode, ulaw_encode};

    /// Power of `freq` in `samples` (Goertzel), normalised by length.
    fn goertzel(samples: &[i16], freq: f64) -> f64 {
        let k = 2.0 * (TAU * freq / RATE).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in samples {
            let s = f64::from(x) + k * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len() as f64
    }

    fn names(prompts: &[Arc<Prompt>]) -> Vec<&str> {
        prompts.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn every_builtin_decodes_to_audible_8khz_samples() {
        let set = PromptSet::builtin();
        for name in builtin_names() {
            let samples = builtin_samples(name).unwrap();
            assert!(samples.len() > 1_000, "{name} is {} samples", samples.len());
            assert!(
                samples.iter().any(|s| s.unsigned_abs() > 1_000),
                "{name} is silent"
            );
            let p = set.get(name).unwrap();
            assert_eq!(p.pcmu.len(), samples.len());
            assert_eq!(p.pcma.len(), samples.len());
        }
        assert_eq!(builtin_names().count(), 37);
        assert!(is_builtin("n90") && is_builtin("moh") && !is_builtin("n21"));
    }

    #[test]
    fn speech_prompts_are_short_and_the_welcome_is_the_longest() {
        let len = |n| builtin_samples(n).unwrap().len();
        assert!(len("welcome") > 3 * 8_000 && len("welcome") < 10 * 8_000);
        for n in ["n7", "minute", "position_intro"] {
            assert!(len(n) < 3 * 8_000, "{n}");
        }
    }

    #[test]
    fn ringback_is_440_and_480_hz_two_seconds_on_four_off() {
        let r = builtin_samples(RINGBACK).unwrap();
        assert_eq!(r.len(), 6 * 8_000);
        let on = &r[800..8_000];
        assert!(goertzel(on, 440.0) > 100.0 * goertzel(on, 1_000.0));
        assert!(goertzel(on, 480.0) > 100.0 * goertzel(on, 1_000.0));
        assert!(r[16_001..].iter().all(|&s| s == 0));
    }

    #[test]
    fn music_on_hold_is_a_melody_not_a_beep() {
        let m = builtin_samples(MOH).unwrap();
        assert!(m.len() > 4 * 8_000);
        // The first and third notes differ in pitch: C5 then G5.
        let first = &m[200..3_000];
        let third = &m[2 * 4_000 + 200..2 * 4_000 + 3_000];
        assert!(goertzel(first, 523.25) > 10.0 * goertzel(first, 783.99));
        assert!(goertzel(third, 783.99) > 10.0 * goertzel(third, 523.25));
        // Quiet at the loop point, so repeating it does not click.
        assert!(m[m.len() - 100..].iter().all(|s| s.unsigned_abs() < 50));
        assert!(m[..10].iter().all(|s| s.unsigned_abs() < 2_000));
    }

    #[test]
    fn position_announcement_says_the_number_in_words() {
        let set = PromptSet::builtin();
        assert_eq!(
            names(&set.announce_position(3, None)),
            ["position_intro", "n3", "position_outro"]
        );
        assert_eq!(
            names(&set.announce_position(47, None)),
            ["position_intro", "n40", "n7", "position_outro"]
        );
        assert_eq!(
            names(&set.announce_position(60, None)),
            ["position_intro", "n60", "position_outro"]
        );
        assert_eq!(
            names(&set.announce_position(105, None)),
            ["position_intro", "n1", "n0", "n5", "position_outro"]
        );
    }

    #[test]
    fn wait_is_rounded_to_minutes_with_singular_and_under_a_minute() {
        let set = PromptSet::builtin();
        let wait = |secs| names(&set.announce_position(1, Some(secs)))[3..].join(" ");
        assert_eq!(wait(20), "wait_intro less_than_a_minute");
        assert_eq!(wait(80), "wait_intro n1 minute");
        assert_eq!(wait(100), "wait_intro n2 minutes");
        assert_eq!(wait(25 * 60), "wait_intro n20 n5 minutes");
    }

    #[test]
    fn an_uploaded_prompt_replaces_the_builtin_and_missing_ones_are_skipped() {
        let mut set = PromptSet::builtin();
        set.insert_samples("n3", &[1_000; 80]);
        let got = set.announce_position(3, None);
        assert_eq!(got[1].pcmu.len(), 80);
        assert_eq!(ulaw_decode(got[1].pcmu[0]), ulaw_decode(ulaw_encode(1_000)));
        set.remove("position_outro");
        assert_eq!(
            names(&set.announce_position(3, None)),
            ["position_intro", "n3"]
        );
        assert!(PromptSet::default()
            .announce_position(3, Some(90))
            .is_empty());
    }
}
