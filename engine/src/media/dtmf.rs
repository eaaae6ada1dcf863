//! RFC 4733 telephone-event detection for one received stream: turns the packets of each
//! event (all sharing one RTP timestamp, the last few flagged "end" and usually sent three
//! times) into exactly one digit with its duration.
//!
//! Owns the per-stream detector state only; the shard feeds it the payloads on the leg's
//! telephone-event payload type and turns tones into [`crate::media::Event::Dtmf`]. An event
//! is reported at its first end packet; one whose end packets were all lost is reported when
//! the next event starts or, through [`Detector::handle_gap`], once the stream has carried no
//! event packet for [`GAP`]. Events above 15 (tones other than DTMF) are ignored.

use std::time::{Duration, Instant};

/// Silence after which an event that never ended is reported anyway.
pub const GAP: Duration = Duration::from_secs(1);

/// One detected digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tone {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// Duration in timestamp units (samples of the stream's clock).
    pub duration: u32,
}

impl Tone {
    /// The duration in milliseconds for a stream clocked at `rate` Hz.
    pub fn duration_ms(&self, rate: u32) -> u32 {
        (u64::from(self.duration) * 1000 / u64::from(rate.max(1))) as u32
    }
}

/// The digit of RFC 4733 event code `event` (0–15), if it is DTMF.
pub fn digit(event: u8) -> Option<char> {
    const DIGITS: &[u8; 16] = b"0123456789*#ABCD";
    DIGITS.get(usize::from(event)).map(|&d| char::from(d))
}

#[derive(Debug, Clone, Copy)]
struct Current {
    ts: u32,
    digit: char,
    duration: u32,
    reported: bool,
    last_seen: Instant,
}

/// The detector of one stream.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    current: Option<Current>,
}

impl Detector {
    /// A detector that has seen nothing.
    pub fn new() -> Detector {
        Detector::default()
    }

    /// A telephone-event payload with RTP timestamp `ts` arrived at `now`; `report` gets every
    /// digit that ends (at most two: an unreported previous event, and this one).
    pub fn handle(&mut self, now: Instant, ts: u32, payload: &[u8], mut report: impl FnMut(Tone)) {
        if payload.len() < 4 {
            return;
        }
        let Some(digit) = digit(payload[0]) else {
            return;
        };
        let end = payload[1] & 0x80 != 0;
        let duration = u32::from(u16::from_be_bytes([payload[2], payload[3]]));
        match &mut self.current {
            Some(c) if c.ts == ts => {
                c.last_seen = now;
                c.duration = c.duration.max(duration);
                if end && !c.reported {
                    c.reported = true;
                    report(Tone {
                        digit: c.digit,
                        duration: c.duration,
                    });
                }
                return;
            }
            // A late packet of an event older than the current one: already handled.
            Some(c) if (ts.wrapping_sub(c.ts) as i32) < 0 => return,
            Some(c) if !c.reported => report(Tone {
                digit: c.digit,
                duration: c.duration,
            }),
            _ => {}
        }
        self.current = Some(Current {
            ts,
            digit,
            duration,
            reported: end,
            last_seen: now,
        });
        if end {
            report(Tone { digit, duration });
        }
    }

    /// Reports an event that never ended once no packet of it came for [`GAP`].
    pub fn handle_gap(&mut self, now: Instant) -> Option<Tone> {
        let c = self.current.as_mut()?;
        if c.reported || now.saturating_duration_since(c.last_seen) < GAP {
            return None;
        }
        c.reported = true;
        Some(Tone {
            digit: c.digit,
            duration: c.duration,
        })
    }

    /// Forgets the current event (a new sender behind the stream), answering it if it was
    /// never reported.
    pub fn take(&mut self) -> Option<Tone> {
        let c = self.current.take()?;
        (!c.reported).then_some(Tone {
            digit: c.digit,
            duration: c.duration,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    fn run(det: &mut Detector, now: Instant, ts: u32, p: [u8; 4]) -> Vec<Tone> {
        let mut out = Vec::new();
        det.handle(now, ts, &p, |t| out.push(t));
        out
    }

    #[test]
    fn retransmitted_end_packets_report_once() {
        let t0 = Instant::now();
        let mut d = Detector::new();
        let mut tones = Vec::new();
        for (i, dur) in [160u16, 320, 480, 640].into_iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            tones.extend(run(&mut d, now, 1000, ev(5, false, dur)));
        }
        for i in 0..3 {
            let now = t0 + Duration::from_millis(100 + 20 * i);
            tones.extend(run(&mut d, now, 1000, ev(5, true, 800)));
        }
        assert_eq!(
            tones,
            vec![Tone {
                digit: '5',
                duration: 800
            }]
        );
        assert_eq!(tones[0].duration_ms(8000), 100);
        assert_eq!(d.handle_gap(t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn event_without_end_is_reported_when_the_next_starts() {
        let t0 = Instant::now();
        let mut d = Detector::new();
        assert!(run(&mut d, t0, 1000, ev(1, false, 400)).is_empty());
        let tones = run(&mut d, t0, 3000, ev(11, false, 160));
        assert_eq!(
            tones,
            vec![Tone {
                digit: '1',
                duration: 400
            }]
        );
        let tones = run(&mut d, t0, 3000, ev(11, true, 480));
        assert_eq!(tones[0].digit, '#');
        // A late end packet of the first event is not reported again.
        assert!(run(&mut d, t0, 1000, ev(1, true, 800)).is_empty());
    }

    #[test]
    fn event_without_end_is_reported_after_a_gap() {
        let t0 = Instant::now();
        let mut d = Detector::new();
        run(&mut d, t0, 7, ev(15, false, 320));
        assert_eq!(d.handle_gap(t0 + Duration::from_millis(900)), None);
        assert_eq!(
            d.handle_gap(t0 + Duration::from_secs(1)),
            Some(Tone {
                digit: 'D',
                duration: 320
            })
        );
        assert_eq!(d.handle_gap(t0 + Duration::from_secs(3)), None);
        // Its retransmitted end, arriving late, is not a second digit.
        assert!(run(&mut d, t0 + Duration::from_secs(3), 7, ev(15, true, 400)).is_empty());
    }

    #[test]
    fn non_dtmf_events_and_short_payloads_are_ignored() {
        let t0 = Instant::now();
        let mut d = Detector::new();
        assert!(run(&mut d, t0, 1, ev(16, true, 100)).is_empty());
        let mut out = Vec::new();
        d.handle(t0, 2, &[1, 0x80], |t| out.push(t));
        assert!(out.is_empty());
        assert_eq!(digit(10), Some('*'));
        assert_eq!(digit(12), Some('A'));
        assert_eq!(digit(16), None);
    }
}
