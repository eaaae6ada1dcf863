//! The call flow's media side: the codecs offered to agents, the agent's answer as leg media,
//! port release, queue audio (welcome, hold audio, position announcements on the flow's own
//! timers), media events (DTMF, media timeout, a leg that cannot open) and hold/resume
//! re-INVITEs. Everything here only emits [`Command`]s and [`Action`]s: the shards do the
//! packets.

use super::{Action, AgentLeg, AgentTarget, CallFlow, CallState, Owner, Side};
use crate::media::{Command, Direction, Event, LegMedia, MediaLeg, Playlist};
use crate::model::Codec;
use crate::sip::endpoint::{DialogSide, TxnId};
use crate::sip::sdp;
use std::time::{Duration, Instant};

/// What a caller waiting in a queue hears (prompt names, looked up in the prompt set when
/// played: a missing name is skipped, a missing hold audio falls back to `moh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAudio {
    /// Played once on entry, if any.
    pub welcome: Option<String>,
    /// Looped while waiting (`moh`, `ringback` or an uploaded prompt).
    pub hold: String,
    /// Position announcements at this interval, if the queue announces.
    pub announce_every: Option<Duration>,
}

impl Default for QueueAudio {
    fn default() -> Self {
        QueueAudio {
            welcome: Some("welcome".to_owned()),
            hold: "moh".to_owned(),
            announce_every: None,
        }
    }
}

/// A late-offer caller's media until its answer arrives in the ACK: our first codec, the
/// address learnt by latching.
pub(super) fn late_offer_media(codecs: &[Codec]) -> LegMedia {
    let codec = codecs.first().copied().unwrap_or(Codec::Ulaw);
    LegMedia {
        remote: None,
        latch: true,
        encoding: sdp::encoding(codec),
        pt: sdp::codec_info(codec).0,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    }
}

/// What to offer an agent for a caller using `caller`: the caller's codec, plus the other
/// G.711 law when it is G.711 (transcoded), within the agent's usable codecs.
pub(super) fn agent_codecs(caller: &LegMedia, t: &AgentTarget) -> Vec<Codec> {
    let usable: Vec<Codec> = sdp::usable(&t.codecs, t.webrtc).collect();
    sdp::compatible(sdp::codec_of(caller.encoding))
        .into_iter()
        .filter(|c| usable.contains(c))
        .collect()
}

/// The agent leg's media from its 2xx SDP, if it names a codec we offered.
pub(super) fn answered(leg: &AgentLeg, body: &[u8]) -> Option<LegMedia> {
    let answer = sdp::parse_offer(body).ok()?;
    let chosen = sdp::chosen(&answer, &leg.side.allowed)?;
    Some(sdp::leg_media(&answer, chosen, leg.side.remote.latch))
}

impl CallFlow {
    /// Gives a port back: `Release` to its shard, back in the pool. Each port is released
    /// once: the owner table entry goes with it.
    pub(super) fn release(&mut self, leg: MediaLeg) {
        if self.by_media.remove(&leg).is_some() && self.cfg.pool.release(leg) {
            self.media(Command::Release { leg });
        }
    }

    /// A queue call starts (or resumes) waiting: it counts for positions and hears the
    /// queue's audio.
    pub(super) fn enter_queue(&mut self, txn: TxnId) {
        let Some(call) = self.calls.get(&txn) else {
            return;
        };
        let Some(w) = &call.waiting else { return };
        self.queues.entry(w.queue).or_default().insert(w.seq);
        let mut items = Vec::new();
        let prompts = self.cfg.prompts.load();
        if let Some(welcome) = w.audio.welcome.as_deref().and_then(|n| prompts.get(n)) {
            items.push(welcome);
        }
        let hold = prompts.get(&w.audio.hold).or_else(|| prompts.get("moh"));
        let repeat_last = hold.is_some();
        items.extend(hold);
        let leg = call.side.media;
        if !items.is_empty() {
            self.media(Command::Play {
                leg,
                playlist: Playlist { items, repeat_last },
            });
        }
    }

    /// A waiting queue caller's position: 1 + the calls that arrived earlier in the same
    /// queue and still wait. `None` when the call is not waiting in a queue.
    pub fn queue_position(&self, txn: TxnId) -> Option<u32> {
        let w = self.calls.get(&txn)?.waiting.as_ref()?;
        let set = self.queues.get(&w.queue).filter(|s| s.contains(&w.seq))?;
        Some(set.range(..w.seq).count() as u32 + 1)
    }

    /// A queue call stops waiting (bridged or gone).
    pub(super) fn leave_queue(&mut self, txn: TxnId) {
        let Some(w) = self.calls.get(&txn).and_then(|c| c.waiting.as_ref()) else {
            return;
        };
        if let Some(set) = self.queues.get_mut(&w.queue) {
            set.remove(&w.seq);
            if set.is_empty() {
                self.queues.remove(&w.queue);
            }
        }
    }

    /// The runtime's current time, for the inputs that carry none (an agent's answer): it
    /// times how fast each queue's callers reach an agent, for expected-wait announcements.
    /// Sans-IO as every input: the runtime reads the clock, the flow never does.
    pub fn set_time(&mut self, now: Instant) {
        self.now = Some(now);
    }

    /// The wait a caller at `position` in `queue` can expect, in seconds, once the queue has
    /// answered at least two calls.
    pub fn expected_wait_secs(&self, queue: crate::common::QueueId, position: u32) -> Option<u32> {
        self.pace.get(&queue)?.expected_wait_secs(position)
    }

    /// When [`CallFlow::handle_timeout`] must next be called (position announcements).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.announce.first().map(|(at, _)| *at)
    }

    /// Runs the timers due at `now`: each waiting caller whose queue announces hears its
    /// position (1 + calls that arrived earlier in the same queue and still wait), then its
    /// hold audio again.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, txn)) = self.announce.first() {
            if at > now {
                break;
            }
            self.announce.remove(&(at, txn));
            self.announce_position(now, txn);
        }
    }

    fn announce_position(&mut self, now: Instant, txn: TxnId) {
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        let Some(w) = call.waiting.as_mut() else {
            return;
        };
        let Some(every) = w.audio.announce_every else {
            return;
        };
        let next = now + every;
        w.next_announce = Some(next);
        self.announce.insert((next, txn));
        let leg = call.side.media;
        let hold_name = w.audio.hold.clone();
        let Some(position) = self.queue_position(txn) else {
            return; // Not waiting now (bridged, or not in the queue yet).
        };
        let wait = self
            .calls
            .get(&txn)
            .and_then(|c| c.waiting.as_ref())
            .and_then(|w| self.pace.get(&w.queue))
            .and_then(|p| p.expected_wait_secs(position));
        let prompts = self.cfg.prompts.load();
        let mut items = prompts.announce_position(position, wait);
        if items.is_empty() {
            return;
        }
        let hold = prompts.get(&hold_name).or_else(|| prompts.get("moh"));
        let repeat_last = hold.is_some();
        items.extend(hold);
        self.media(Command::Play {
            leg,
            playlist: Playlist { items, repeat_last },
        });
    }

    /// An event from the media plane: DTMF is reported; a media timeout or a leg that could
    /// not open ends its call (or, for a ringing agent leg, that offer).
    pub fn handle_media_event(&mut self, event: Event) {
        match event {
            Event::Dtmf {
                leg,
                digit,
                duration_ms,
            } => {
                let interaction = self.owner_call(leg).and_then(|t| self.interaction(t));
                self.actions.push_back(Action::Dtmf {
                    interaction,
                    leg,
                    digit,
                    duration_ms,
                });
            }
            Event::Timeout { leg, silent_secs } => {
                let Some(txn) = self.owner_call(leg) else {
                    return;
                };
                self.actions.push_back(Action::MediaTimeout {
                    interaction: self.interaction(txn),
                    leg,
                    silent_secs,
                });
                self.end_for_media(leg);
            }
            Event::Failed { leg, .. } => self.end_for_media(leg),
            Event::FirstPacket { .. } | Event::PlayDone { .. } => {}
        }
    }

    fn owner_call(&self, leg: MediaLeg) -> Option<TxnId> {
        match self.by_media.get(&leg)? {
            Owner::Caller(txn) => Some(*txn),
            Owner::Agent(l) => self.legs.get(l).map(|l| l.txn),
        }
    }

    /// `leg` has no audio: a ringing agent leg is given up (a rejection); otherwise the call
    /// ends on both sides as if both had hung up.
    fn end_for_media(&mut self, leg: MediaLeg) {
        let Some(&owner) = self.by_media.get(&leg) else {
            return;
        };
        let Some(txn) = self.owner_call(leg) else {
            return;
        };
        if let Owner::Agent(l) = owner {
            if self.bridged(txn).map(|(b, _)| b) != Some(l) {
                return self.leg_failed(txn, l, true);
            }
        }
        let Some(call) = self.forget(txn) else { return };
        match (call.state, call.interaction) {
            (CallState::Bridged(l, _), i) => {
                if let Some(i) = i {
                    self.actions.push_back(Action::Completed(i));
                }
                self.actions.push_back(Action::EndLeg(l));
                self.actions.push_back(Action::HangupCaller(txn));
            }
            (CallState::Pending { .. }, i) => {
                self.respond(txn, 503, "Service Unavailable", None);
                if let Some(i) = i {
                    self.actions.push_back(Action::Abandon(i));
                }
            }
            (_, i) => {
                if let Some(i) = i {
                    self.actions.push_back(Action::Abandon(i));
                }
                self.actions.push_back(Action::HangupCaller(txn));
            }
        }
    }

    /// The caller's answer in its ACK to the offer we made in the 200 (a late-offer INVITE):
    /// its media become known (`Update`). An answer naming nothing we offered changes
    /// nothing: the leg stays on our first codec, latched.
    pub fn handle_ack_answer(&mut self, txn: TxnId, body: &[u8]) {
        let Some(s) = self.calls.get_mut(&txn).map(|c| &mut c.side) else {
            return;
        };
        let Ok(answer) = sdp::parse_offer(body) else {
            return;
        };
        let Some(chosen) = sdp::chosen(&answer, &s.allowed) else {
            return;
        };
        let media = sdp::leg_media(&answer, chosen, false);
        s.remote = media.clone();
        let leg = s.media;
        self.media(Command::Update { leg, media });
    }

    fn side_mut(&mut self, side: DialogSide) -> Option<&mut Side> {
        match side {
            DialogSide::Caller(txn) => self.calls.get_mut(&txn).map(|c| &mut c.side),
            DialogSide::Agent(leg) => self.legs.get_mut(&leg).map(|l| &mut l.side),
        }
    }

    /// An in-dialog INVITE (`txn`) from the caller or an agent (hold, resume, codec change):
    /// answered `200` on the same port with the direction mirrored, the shard following
    /// (`Update`); without SDP our current SDP is offered; an offer we cannot take (no
    /// compatible codec) is declined `488` and the call stays as it was.
    pub fn handle_reinvite(&mut self, txn: TxnId, side: DialogSide, body: &[u8]) {
        let Some(s) = self.side_mut(side) else {
            return self.respond(txn, 481, "Call/Transaction Does Not Exist", None);
        };
        let current = sdp::codec_of(s.remote.encoding);
        let mut local = s.local;
        local.version += 1;
        if body.iter().all(u8::is_ascii_whitespace) {
            // The answer comes in the ACK; the media stay as they are until a new offer.
            let Ok(offer) = sdp::offer(&[current], false, &local) else {
                return self.respond(txn, 488, "Not Acceptable Here", None);
            };
            s.local = local;
            return self.respond(txn, 200, "OK", Some(offer));
        }
        let allowed: Vec<Codec> = sdp::compatible(current)
            .into_iter()
            .filter(|c| s.allowed.contains(c))
            .collect();
        let negotiated = sdp::parse_offer(body)
            .and_then(|o| sdp::answer(&o, &allowed, false, &local).map(|(a, c)| (o, a, c)));
        match negotiated {
            Ok((offer, answer, chosen)) => {
                let media = sdp::leg_media(&offer, &chosen, s.remote.latch);
                s.local = local;
                s.remote = media.clone();
                let leg = s.media;
                self.media(Command::Update { leg, media });
                self.respond(txn, 200, "OK", Some(answer));
            }
            Err(e) if e.status() == 488 => self.respond(txn, 488, "Not Acceptable Here", None),
            Err(_) => self.respond(txn, 400, "Bad Request", None),
        }
    }
}

/// How fast a queue's callers reach an agent: a moving average of the time between
/// successive answers (each new interval weighs a fifth), so the expected wait of the caller
/// at position `p` is `p` intervals.
#[derive(Debug, Clone, Default)]
pub(super) struct QueuePace {
    last_answer: Option<Instant>,
    interval: Option<std::time::Duration>,
}

impl QueuePace {
    /// A caller of the queue reached an agent at `now`.
    pub(super) fn handle_answer(&mut self, now: Instant) {
        if let Some(last) = self.last_answer {
            let d = now.saturating_duration_since(last);
            self.interval = Some(match self.interval {
                None => d,
                Some(i) => (i * 4 + d) / 5,
            });
        }
        self.last_answer = Some(now);
    }

    /// Seconds a caller at `position` can expect to wait; `None` until two answers were seen.
    pub(super) fn expected_wait_secs(&self, position: u32) -> Option<u32> {
        let i = self.interval?;
        Some(u32::try_from((i * position).as_secs()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod pace_tests {
    use super::QueuePace;
    use std::time::{Duration, Instant};

    #[test]
    fn no_estimate_before_two_answers_then_position_times_the_interval() {
        let t0 = Instant::now();
        let mut p = QueuePace::default();
        assert_eq!(p.expected_wait_secs(1), None);
        p.handle_answer(t0);
        assert_eq!(p.expected_wait_secs(1), None);
        p.handle_answer(t0 + Duration::from_secs(30));
        assert_eq!(p.expected_wait_secs(1), Some(30));
        assert_eq!(p.expected_wait_secs(3), Some(90));
    }

    #[test]
    fn the_interval_moves_a_fifth_toward_each_new_one() {
        let t0 = Instant::now();
        let mut p = QueuePace::default();
        p.handle_answer(t0);
        p.handle_answer(t0 + Duration::from_secs(30));
        p.handle_answer(t0 + Duration::from_secs(30 + 80));
        // (30 * 4 + 80) / 5 = 40
        assert_eq!(p.expected_wait_secs(1), Some(40));
    }
}
