//! Playing a [`Playlist`] to one leg: the cursor through its prompts, cut into the 20 ms
//! frames the shard's tick sends, in the leg's G.711 law; and [`Prompt::from_samples`], which
//! pre-encodes linear samples in both laws so that playing is a copy.
//!
//! Owns no timing and no RTP: the shard decides when a frame is due and wraps it.

use super::{g711, Playlist, Prompt};

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

impl Prompt {
    /// A prompt from 8 kHz linear samples, encoded in both laws.
    pub fn from_samples(name: &str, samples: &[i16]) -> Prompt {
        Prompt {
            name: name.to_string(),
            pcmu: samples.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            pcma: samples.iter().map(|&s| g711::alaw_encode(s)).collect(),
        }
    }

    /// Its length in samples.
    pub fn samples(&self) -> usize {
        self.pcmu.len().min(self.pcma.len())
    }
}

/// Which law a frame is wanted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law.
    Ulaw,
    /// A-law.
    Alaw,
}

impl Law {
    fn silence(self) -> u8 {
        match self {
            Law::Ulaw => g711::ULAW_SILENCE,
            Law::Alaw => g711::ALAW_SILENCE,
        }
    }
}

/// A playlist being played: which item, how far into it.
#[derive(Debug, Clone)]
pub struct Player {
    playlist: Playlist,
    item: usize,
    offset: usize,
}

impl Player {
    /// The start of `playlist`.
    pub fn new(playlist: Playlist) -> Player {
        Player {
            playlist,
            item: 0,
            offset: 0,
        }
    }

    /// Fills `frame` with the next samples in `law` (silence past the end); answers `true`
    /// when the playlist has ended (this frame held its last samples, or there were none).
    pub fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        let mut at = 0;
        let items = &self.playlist.items;
        while at < frame.len() {
            let Some(prompt) = items.get(self.item) else {
                break;
            };
            let bytes = match law {
                Law::Ulaw => &prompt.pcmu,
                Law::Alaw => &prompt.pcma,
            };
            let bytes = &bytes[..prompt.samples()];
            let take = (bytes.len().saturating_sub(self.offset)).min(frame.len() - at);
            frame[at..at + take].copy_from_slice(&bytes[self.offset..self.offset + take]);
            at += take;
            self.offset += take;
            if self.offset >= bytes.len() {
                let last = self.item + 1 == items.len();
                if last && self.playlist.repeat_last {
                    if bytes.is_empty() {
                        // An empty prompt looped: silence, forever.
                        break;
                    }
                    self.offset = 0;
                } else {
                    self.item += 1;
                    self.offset = 0;
                }
            }
        }
        frame[at..].fill(law.silence());
        (items.is_empty() || !self.playlist.repeat_last) && self.item >= items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn prompt(name: &str, n: usize, v: i16) -> Arc<Prompt> {
        Arc::new(Prompt::from_samples(name, &vec![v; n]))
    }

    #[test]
    fn from_samples_encodes_both_laws() {
        let p = Prompt::from_samples("t", &[0, 1000, -1000]);
        assert_eq!(p.name, "t");
        assert_eq!(p.pcmu[0], g711::ULAW_SILENCE);
        assert_eq!(p.pcma[0], g711::ALAW_SILENCE);
        assert_eq!(p.pcmu[1], g711::ulaw_encode(1000));
        assert_eq!(p.pcma[2], g711::alaw_encode(-1000));
        assert_eq!(p.samples(), 3);
    }

    #[test]
    fn items_play_back_to_back_then_end_with_silence() {
        let mut p = Player::new(Playlist {
            items: vec![prompt("a", 100, 1000), prompt("b", 100, -1000)],
            repeat_last: false,
        });
        let mut f = [0u8; FRAME_SAMPLES];
        assert!(!p.fill(&mut f, Law::Alaw));
        assert_eq!(f[99], g711::alaw_encode(1000));
        assert_eq!(f[100], g711::alaw_encode(-1000));
        assert!(p.fill(&mut f, Law::Alaw));
        assert_eq!(f[39], g711::alaw_encode(-1000));
        assert_eq!(f[40], g711::ALAW_SILENCE);
    }

    #[test]
    fn repeat_last_loops_the_last_item_forever() {
        let mut p = Player::new(Playlist {
            items: vec![prompt("w", 160, 1), prompt("moh", 50, 2000)],
            repeat_last: true,
        });
        let mut f = [0u8; FRAME_SAMPLES];
        assert!(!p.fill(&mut f, Law::Ulaw));
        for _ in 0..100 {
            assert!(!p.fill(&mut f, Law::Ulaw));
            assert!(f.iter().all(|&b| b == g711::ulaw_encode(2000)));
        }
    }

    #[test]
    fn empty_playlists_end_at_once_and_empty_loops_are_silence() {
        let mut f = [0u8; FRAME_SAMPLES];
        let mut p = Player::new(Playlist {
            items: vec![],
            repeat_last: true,
        });
        assert!(p.fill(&mut f, Law::Ulaw));
        let mut p = Player::new(Playlist {
            items: vec![prompt("x", 0, 0)],
            repeat_last: true,
        });
        assert!(!p.fill(&mut f, Law::Ulaw));
        assert!(f.iter().all(|&b| b == g711::ULAW_SILENCE));
    }
}
