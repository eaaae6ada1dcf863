//! Unit tests of the call flow: every transition, media commands, and the port pool.

use super::*;
use crate::media::prompts::PromptSet;
use crate::media::{Event, Prompt};
use std::time::{Duration, Instant};

const OFFER: &[u8] = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";

/// The agent's 200 SDP: PCMU, from 127.0.0.1:7000.
const ANSWER: &[u8] = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn t0() -> Instant {
    // One fixed origin per test binary: tests only add durations to it.
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn queue(q: u64) -> Called {
    Called::Queue(QueueId(q), QueueAudio::default())
}

/// A flow with a small pool (40000-40099, one shard) and no prompts.
fn flow() -> CallFlow {
    CallFlow::new(CallFlowConfig {
        pool: PortPool::new(40_000, 40_099, 1).unwrap(),
        ..CallFlowConfig::default()
    })
}

/// Everything the flow emitted.
fn drain_all(f: &mut CallFlow) -> Vec<Action> {
    std::iter::from_fn(|| f.poll_action()).collect()
}

/// What the flow emitted, media commands left out.
fn drain(f: &mut CallFlow) -> Vec<Action> {
    drain_all(f)
        .into_iter()
        .filter(|a| !matches!(a, Action::Media(_)))
        .collect()
}

fn media(actions: &[Action]) -> Vec<Command> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Media(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn codes(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

#[test]
fn queue_call_rings_then_answers_with_sdp() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![180, 200]);
    let Action::Respond { sdp: Some(sdp), .. } = &a[1] else {
        panic!("200 has SDP: {a:?}")
    };
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8"), "{sdp}");
}

#[test]
fn queue_call_enters_the_router_only_after_the_ack() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    drain(&mut f);
    assert_eq!(f.interaction(TxnId(1)), None);
    f.handle_confirmed(TxnId(1));
    let a = drain(&mut f);
    let i = f.interaction(TxnId(1)).expect("queued");
    assert_eq!(
        a,
        vec![Action::Arrival {
            interaction: i,
            queue: QueueId(3)
        }]
    );
}

#[test]
fn bye_while_queued_abandons() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_caller_gone(TxnId(1));
    assert_eq!(drain(&mut f), vec![Action::Abandon(i)]);
    assert_eq!(f.call_count(), 0);
}

#[test]
fn cancel_before_the_ack_abandons_nothing() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    drain(&mut f);
    f.handle_caller_gone(TxnId(1));
    assert_eq!(drain(&mut f), vec![]);
    assert_eq!(f.call_count(), 0);
}

#[test]
fn offer_without_a_common_codec_gets_488() {
    let mut f = flow();
    let g729 = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", g729);
    assert_eq!(codes(&drain(&mut f)), vec![488]);
    assert_eq!(f.call_count(), 0);
}

#[test]
fn late_offer_invite_gets_our_offer_in_the_200() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", b"");
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![180, 200]);
    let Action::Respond { sdp: Some(sdp), .. } = &a[1] else {
        panic!("{a:?}")
    };
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 9 3"), "{sdp}");
}

#[test]
fn late_offer_caller_is_latched_until_its_answer_in_the_ack() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", b"");
    let opened = media(&drain_all(&mut f));
    let [Command::Open { media: m, .. }] = opened.as_slice() else {
        panic!("{opened:?}")
    };
    assert_eq!(
        (m.remote, m.latch, m.encoding),
        (None, true, Encoding::Pcmu)
    );
    let alaw = b"v=0\r\no=c 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8\r\n";
    f.handle_ack_answer(TxnId(1), alaw);
    f.handle_confirmed(TxnId(1));
    let a = drain_all(&mut f);
    let Some(Command::Update { leg, media: m }) = media(&a).into_iter().next() else {
        panic!("{a:?}")
    };
    assert_eq!(leg, MediaLeg(40_000));
    assert_eq!(m.remote, Some("192.0.2.9:5004".parse().unwrap()));
    assert_eq!((m.encoding, m.pt, m.latch), (Encoding::Pcma, 8, false));
    // An agent is then offered what works with PCMA.
    let i = f.interaction(TxnId(1)).unwrap();
    let mut t = target(6001);
    t.codecs = vec![Codec::Ulaw, Codec::Alaw];
    f.handle_offer(i, AgentId(7), Some(&t), false);
    let sdp = String::from_utf8(invite_of(&drain_all(&mut f)).sdp).unwrap();
    assert!(sdp.contains("RTP/AVP 8 0 101"), "{sdp}");
}

#[test]
fn unknown_number_gets_404() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), Called::Unknown, "5551234", OFFER);
    assert_eq!(codes(&drain(&mut f)), vec![404]);
}

fn direct(voicemail: Option<&str>) -> Called {
    Called::Agent {
        agent: AgentId(7),
        voicemail: voicemail.map(str::to_owned),
    }
}

#[test]
fn unanswered_direct_call_to_an_agent_with_voicemail_is_redirected() {
    let mut f = flow();
    let vm = "<sip:1001@vm.example.com>";
    f.handle_invite(t0(), TxnId(1), direct(Some(vm)), "5551234", OFFER);
    let i = f.interaction(TxnId(1)).unwrap();
    assert!(drain(&mut f).contains(&Action::Direct {
        interaction: i,
        agent: AgentId(7),
        voicemail: true
    }));
    f.handle_ended(i, Some(false));
    assert_eq!(
        drain(&mut f),
        vec![Action::Redirect {
            txn: TxnId(1),
            contact: vm.to_owned()
        }]
    );
}

fn target(port: u16) -> AgentTarget {
    AgentTarget {
        uri: format!("sip:1001@127.0.0.1:{port}"),
        target: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: Transport::Udp,
        aor: "sip:1001@acd".into(),
        codecs: vec![Codec::G722, Codec::Ulaw],
        webrtc: false,
        nat: false,
    }
}

/// A queue call in the router, offered to agent 7: returns the interaction and its leg.
fn ringing(f: &mut CallFlow) -> (InteractionId, LegId) {
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(f);
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    let a = drain(f);
    let [Action::Invite(inv)] = a.as_slice() else {
        panic!("one INVITE: {a:?}")
    };
    (i, inv.leg)
}

#[test]
fn offer_places_an_invite_to_the_registration_with_only_the_callers_codec() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    let a = drain(&mut f);
    let [Action::Invite(inv)] = a.as_slice() else {
        panic!("{a:?}")
    };
    assert_eq!(inv.target, SocketAddr::from(([127, 0, 0, 1], 6001)));
    assert_eq!(inv.request_uri, "sip:1001@127.0.0.1:6001");
    assert_eq!(inv.from_user, "5551234");
    let sdp = String::from_utf8(inv.sdp.clone()).unwrap();
    // The caller settled on PCMU (0); the agent allows g722 and ulaw, not alaw: only ulaw
    // can carry the caller's audio (g722 would need a transcoder acd does not have). The
    // leg has its own port.
    assert!(sdp.contains("m=audio 40002 RTP/AVP 0 101\r\n"), "{sdp}");
}

#[test]
fn offer_to_an_agent_without_registration_places_nothing() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_offer(i, AgentId(7), None, false);
    assert_eq!(drain(&mut f), vec![]);
}

#[test]
fn auto_answer_offer_carries_the_answer_after_hint() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_offer(i, AgentId(7), Some(&target(6001)), true);
    let a = drain(&mut f);
    let [Action::Invite(inv)] = a.as_slice() else {
        panic!("{a:?}")
    };
    assert!(inv
        .headers
        .iter()
        .any(|(n, v)| n == "Call-Info" && v.ends_with("answer-after=0")));
}

#[test]
fn agent_answer_bridges_and_accepts() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    assert_eq!(
        drain(&mut f),
        vec![Action::Accepted {
            interaction: i,
            agent: AgentId(7)
        }]
    );
    assert_eq!(f.bridged(TxnId(1)), Some((leg, AgentId(7))));
}

#[test]
fn ring_all_race_bridges_exactly_one_and_hangs_up_the_other() {
    let mut f = flow();
    let (i, leg7) = ringing(&mut f);
    f.handle_offer(i, AgentId(8), Some(&target(6002)), false);
    let a = drain(&mut f);
    let [Action::Invite(inv8)] = a.as_slice() else {
        panic!("{a:?}")
    };
    let leg8 = inv8.leg;
    f.handle_leg_answered(leg8, ANSWER);
    f.handle_leg_answered(leg7, ANSWER);
    assert_eq!(
        drain(&mut f),
        vec![
            Action::Accepted {
                interaction: i,
                agent: AgentId(8)
            },
            Action::EndLeg(leg7)
        ]
    );
    assert_eq!(f.bridged(TxnId(1)), Some((leg8, AgentId(8))));
}

#[test]
fn leg_failure_is_a_rejection_by_that_agent() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_leg_failed(leg);
    assert_eq!(
        drain(&mut f),
        vec![Action::Rejected {
            interaction: i,
            agent: AgentId(7)
        }]
    );
    assert_eq!(f.leg_count(), 0);
}

#[test]
fn withdrawn_offer_ends_the_leg_and_a_late_answer_is_hung_up() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_cancel_offer(i, AgentId(7));
    assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
    f.handle_leg_answered(leg, ANSWER);
    assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
    assert_eq!(f.bridged(TxnId(1)), None);
}

#[test]
fn withdrawal_crossing_an_answer_hangs_the_agent_up_and_keeps_the_caller() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    drain(&mut f);
    f.handle_cancel_offer(i, AgentId(7));
    assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
    assert_eq!(f.bridged(TxnId(1)), None);
    assert_eq!(f.call_count(), 1);
}

#[test]
fn caller_bye_while_bridged_ends_the_agent_leg_and_completes() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    drain(&mut f);
    f.handle_caller_gone(TxnId(1));
    assert_eq!(
        drain(&mut f),
        vec![Action::Completed(i), Action::EndLeg(leg)]
    );
    assert_eq!((f.call_count(), f.leg_count()), (0, 0));
}

#[test]
fn agent_bye_while_bridged_hangs_up_the_caller_and_completes() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    drain(&mut f);
    f.handle_leg_bye(leg);
    assert_eq!(
        drain(&mut f),
        vec![Action::Completed(i), Action::HangupCaller(TxnId(1))]
    );
    assert_eq!((f.call_count(), f.leg_count()), (0, 0));
}

#[test]
fn caller_leaving_while_an_agent_rings_abandons_and_cancels_the_leg() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_caller_gone(TxnId(1));
    assert_eq!(drain(&mut f), vec![Action::EndLeg(leg), Action::Abandon(i)]);
}

#[test]
fn router_ending_a_queued_call_hangs_up_the_caller() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_ended(i, None);
    assert_eq!(drain(&mut f), vec![Action::HangupCaller(TxnId(1))]);
    assert_eq!(f.call_count(), 0);
}

#[test]
fn direct_call_rings_its_agent_and_is_answered_when_the_agent_answers() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), direct(None), "5551234", OFFER);
    let a = drain(&mut f);
    let i = f.interaction(TxnId(1)).unwrap();
    assert_eq!(codes(&a), vec![180]);
    assert!(a.contains(&Action::Direct {
        interaction: i,
        agent: AgentId(7),
        voicemail: false
    }));
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    let a = drain(&mut f);
    let [Action::Invite(inv)] = a.as_slice() else {
        panic!("{a:?}")
    };
    f.handle_leg_answered(inv.leg, ANSWER);
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![200]);
    assert!(a.contains(&Action::Accepted {
        interaction: i,
        agent: AgentId(7)
    }));
}

#[test]
fn direct_call_refused_by_the_router_gets_486() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), direct(None), "5551234", OFFER);
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_ended(i, Some(true));
    assert_eq!(codes(&drain(&mut f)), vec![486]);
    assert_eq!(f.call_count(), 0);
}

#[test]
fn direct_call_not_answered_gets_480() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), direct(None), "5551234", OFFER);
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_ended(i, Some(false));
    assert_eq!(codes(&drain(&mut f)), vec![480]);
}

#[test]
fn early_media_queue_call_is_queued_unanswered_with_183() {
    let mut f = flow();
    f.handle_invite(
        t0(),
        TxnId(1),
        Called::QueueEarlyMedia(QueueId(3), QueueAudio::default()),
        "5551234",
        OFFER,
    );
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![180, 183]);
    let i = f.interaction(TxnId(1)).expect("queued at once");
    assert!(a.contains(&Action::Arrival {
        interaction: i,
        queue: QueueId(3)
    }));
}

#[test]
fn early_media_caller_is_answered_when_the_agent_answers() {
    let mut f = flow();
    f.handle_invite(
        t0(),
        TxnId(1),
        Called::QueueEarlyMedia(QueueId(3), QueueAudio::default()),
        "5551234",
        OFFER,
    );
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    let a = drain(&mut f);
    let [Action::Invite(inv)] = a.as_slice() else {
        panic!("{a:?}")
    };
    f.handle_leg_answered(inv.leg, ANSWER);
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![200]);
}

#[test]
fn early_media_caller_cancelling_abandons() {
    let mut f = flow();
    f.handle_invite(
        t0(),
        TxnId(1),
        Called::QueueEarlyMedia(QueueId(3), QueueAudio::default()),
        "5551234",
        OFFER,
    );
    let i = f.interaction(TxnId(1)).unwrap();
    drain(&mut f);
    f.handle_caller_gone(TxnId(1));
    assert_eq!(drain(&mut f), vec![Action::Abandon(i)]);
}

// ------------------------------------------------------------------------- media plane

use crate::media::{Direction, Encoding, LegMedia, MediaLeg, Playlist};
use crate::sip::endpoint::DialogSide;
use std::sync::Arc;

fn prompt(name: &str) -> Prompt {
    Prompt {
        name: name.to_owned(),
        pcmu: vec![0xff; 160],
        pcma: vec![0xd5; 160],
    }
}

fn flow_with(pool: PortPool, prompts: &[&str]) -> CallFlow {
    let mut set = PromptSet::default();
    for p in prompts {
        set.insert(prompt(p));
    }
    CallFlow::new(CallFlowConfig {
        pool,
        prompts: Arc::new(ArcSwap::from_pointee(set)),
        ..CallFlowConfig::default()
    })
}

fn playlist(f: &CallFlow, names: &[&str], repeat_last: bool) -> Playlist {
    let set = f.cfg.prompts.load();
    Playlist {
        items: names.iter().map(|n| set.get(n).unwrap()).collect(),
        repeat_last,
    }
}

fn invite_of(a: &[Action]) -> OutgoingInvite {
    a.iter()
        .find_map(|a| match a {
            Action::Invite(i) => Some((**i).clone()),
            _ => None,
        })
        .expect("an INVITE")
}

fn sdp_of(a: &[Action], code: u16) -> String {
    a.iter()
        .find_map(|a| match a {
            Action::Respond {
                code: c,
                sdp: Some(s),
                ..
            } if *c == code => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a {code} with SDP in {a:?}"))
}

/// A bridged queue call: caller on 40000 (PCMU from 10.0.0.1:4000), agent 7 on 40002.
fn bridged(f: &mut CallFlow) -> (InteractionId, LegId) {
    let (i, leg) = ringing(f);
    f.handle_leg_answered(leg, ANSWER);
    drain_all(f);
    (i, leg)
}

#[test]
fn caller_leg_is_opened_with_its_offer_and_the_sdp_names_its_port() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    let a = drain_all(&mut f);
    assert_eq!(
        media(&a),
        vec![Command::Open {
            leg: MediaLeg(40_000),
            media: LegMedia {
                remote: Some("10.0.0.1:4000".parse().unwrap()),
                // 10.0.0.1 is private: the caller is behind NAT, its media is latched.
                latch: true,
                encoding: Encoding::Pcmu,
                pt: 0,
                telephone_event: None,
                direction: Direction::SendRecv,
            }
        }]
    );
    assert!(sdp_of(&a, 200).contains("m=audio 40000 RTP/AVP 0 8"));
    assert_eq!(f.pool().available(), f.pool().capacity() - 1);
}

#[test]
fn exhausted_pool_answers_503_and_reports_it() {
    let mut f = flow_with(PortPool::new(40_000, 40_001, 1).unwrap(), &[]);
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    drain_all(&mut f);
    f.handle_invite(t0(), TxnId(2), queue(3), "5551234", OFFER);
    let a = drain_all(&mut f);
    assert_eq!(codes(&a), vec![503]);
    assert!(a.contains(&Action::MediaExhausted { txn: TxnId(2) }));
    assert!(media(&a).is_empty());
    assert_eq!(f.call_count(), 1, "the call already up keeps going");
}

#[test]
fn refused_offer_gives_its_port_back_without_opening_it() {
    let mut f = flow();
    let g729 = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", g729);
    let a = drain_all(&mut f);
    assert_eq!(codes(&a), vec![488]);
    assert!(media(&a).is_empty());
    assert_eq!(f.pool().available(), f.pool().capacity());
}

#[test]
fn agent_leg_gets_a_port_on_the_callers_shard_and_opens_without_remote() {
    let mut f = flow_with(PortPool::new(40_000, 40_099, 3).unwrap(), &[]);
    for t in 1..=4 {
        f.handle_invite(t0(), TxnId(t), queue(3), "5551234", OFFER);
        f.handle_confirmed(TxnId(t));
    }
    let opened = media(&drain_all(&mut f));
    let Command::Open { leg: caller, .. } = opened[3] else {
        panic!("{opened:?}")
    };
    let i = f.interaction(TxnId(4)).unwrap();
    let mut t = target(6001);
    t.nat = true;
    f.handle_offer(i, AgentId(7), Some(&t), false);
    let a = drain_all(&mut f);
    let inv = invite_of(&a);
    let opened = media(&a);
    let [Command::Open { leg, media }] = opened.as_slice() else {
        panic!("{a:?}")
    };
    let (leg, media) = (*leg, media.clone());
    assert_eq!(f.pool().shard_of(leg), f.pool().shard_of(caller));
    assert_ne!(leg, caller);
    assert_eq!(media.remote, None, "unknown until the agent answers");
    assert!(media.latch, "voice.nat asks for latching");
    let sdp = String::from_utf8(inv.sdp).unwrap();
    assert!(sdp.contains(&format!("m=audio {} RTP/AVP", leg.0)), "{sdp}");
}

#[test]
fn agent_offer_with_no_port_left_on_the_shard_places_nothing() {
    // One pair per shard: the caller takes its shard's only port.
    let mut f = flow_with(PortPool::new(40_000, 40_003, 2).unwrap(), &[]);
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain_all(&mut f);
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    assert_eq!(drain_all(&mut f), vec![]);
    assert_eq!(f.leg_count(), 0);
}

#[test]
fn g711_caller_is_offered_to_the_agent_with_the_other_law_for_transcoding() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain_all(&mut f);
    let mut t = target(6001);
    t.codecs = vec![Codec::Opus, Codec::Alaw, Codec::Ulaw];
    f.handle_offer(i, AgentId(7), Some(&t), false);
    let sdp = String::from_utf8(invite_of(&drain_all(&mut f)).sdp).unwrap();
    assert!(sdp.contains("m=audio 40002 RTP/AVP 0 8 101\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:101 telephone-event/8000"), "{sdp}");
}

#[test]
fn agent_allowing_no_workable_codec_is_not_called_and_rejects() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain_all(&mut f);
    let mut t = target(6001);
    t.codecs = vec![Codec::Opus, Codec::G722];
    f.handle_offer(i, AgentId(7), Some(&t), false);
    assert_eq!(
        drain_all(&mut f),
        vec![Action::Rejected {
            interaction: i,
            agent: AgentId(7)
        }]
    );
    assert_eq!(f.pool().available(), f.pool().capacity() - 1);
}

#[test]
fn agent_answer_updates_its_leg_then_connects_the_two() {
    let mut f = flow();
    let (_, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    assert_eq!(
        media(&drain_all(&mut f)),
        vec![
            Command::Update {
                leg: MediaLeg(40_002),
                media: LegMedia {
                    remote: Some("127.0.0.1:7000".parse().unwrap()),
                    latch: false,
                    encoding: Encoding::Pcmu,
                    pt: 0,
                    telephone_event: Some(101),
                    direction: Direction::SendRecv,
                }
            },
            Command::Connect {
                a: MediaLeg(40_000),
                b: MediaLeg(40_002)
            }
        ]
    );
}

#[test]
fn agent_answer_naming_no_codec_we_offered_hangs_the_leg_up_as_a_failure() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    let alaw = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";
    f.handle_leg_answered(leg, alaw);
    let a = drain_all(&mut f);
    assert_eq!(
        a,
        vec![
            Action::EndLeg(leg),
            Action::Media(Command::Release {
                leg: MediaLeg(40_002)
            }),
            Action::Rejected {
                interaction: i,
                agent: AgentId(7)
            }
        ]
    );
    assert_eq!(f.bridged(TxnId(1)), None);
    assert_eq!(f.call_count(), 1, "the caller keeps waiting");
}

#[test]
fn queue_caller_hears_welcome_then_looped_hold_audio_after_the_ack() {
    let mut f = flow_with(
        PortPool::new(40_000, 40_099, 1).unwrap(),
        &["welcome", "moh"],
    );
    f.handle_invite(t0(), TxnId(1), queue(3), "5551234", OFFER);
    let before = drain_all(&mut f);
    assert!(!media(&before)
        .iter()
        .any(|c| matches!(c, Command::Play { .. })));
    f.handle_confirmed(TxnId(1));
    assert_eq!(
        media(&drain_all(&mut f)),
        vec![Command::Play {
            leg: MediaLeg(40_000),
            playlist: playlist(&f, &["welcome", "moh"], true)
        }]
    );
}

#[test]
fn early_media_caller_hears_queue_audio_right_after_the_183() {
    let mut f = flow_with(
        PortPool::new(40_000, 40_099, 1).unwrap(),
        &["moh", "ringback"],
    );
    let audio = QueueAudio {
        welcome: None,
        hold: "ringback".into(),
        announce_every: None,
    };
    f.handle_invite(
        t0(),
        TxnId(1),
        Called::QueueEarlyMedia(QueueId(3), audio),
        "5551234",
        OFFER,
    );
    let a = drain_all(&mut f);
    let at183 = a
        .iter()
        .position(|a| matches!(a, Action::Respond { code: 183, .. }))
        .unwrap();
    let play = a
        .iter()
        .position(|a| matches!(a, Action::Media(Command::Play { .. })))
        .unwrap();
    assert!(play > at183);
    assert_eq!(
        a[play],
        Action::Media(Command::Play {
            leg: MediaLeg(40_000),
            playlist: playlist(&f, &["ringback"], true)
        })
    );
}

#[test]
fn missing_prompts_are_skipped_and_missing_hold_audio_falls_back_to_moh() {
    let mut f = flow_with(PortPool::new(40_000, 40_099, 1).unwrap(), &["moh"]);
    let audio = QueueAudio {
        welcome: Some("gone".into()),
        hold: "also-gone".into(),
        announce_every: None,
    };
    f.handle_invite(t0(), TxnId(1), Called::Queue(QueueId(3), audio), "5", OFFER);
    f.handle_confirmed(TxnId(1));
    let plays: Vec<Command> = media(&drain_all(&mut f))
        .into_iter()
        .filter(|c| matches!(c, Command::Play { .. }))
        .collect();
    assert_eq!(
        plays,
        vec![Command::Play {
            leg: MediaLeg(40_000),
            playlist: playlist(&f, &["moh"], true)
        }]
    );
    // No prompts at all: nothing to play, nothing sent.
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5", OFFER);
    f.handle_confirmed(TxnId(1));
    assert!(!media(&drain_all(&mut f))
        .iter()
        .any(|c| matches!(c, Command::Play { .. })));
}

#[test]
fn withdrawal_crossing_an_answer_puts_the_caller_back_on_hold_audio() {
    let mut f = flow_with(PortPool::new(40_000, 40_099, 1).unwrap(), &["moh"]);
    let (i, leg) = ringing(&mut f);
    f.handle_leg_answered(leg, ANSWER);
    drain_all(&mut f);
    f.handle_cancel_offer(i, AgentId(7));
    assert_eq!(
        drain_all(&mut f),
        vec![
            Action::EndLeg(leg),
            Action::Media(Command::Release {
                leg: MediaLeg(40_002)
            }),
            Action::Media(Command::Play {
                leg: MediaLeg(40_000),
                playlist: playlist(&f, &["moh"], true)
            })
        ]
    );
}

#[test]
fn positions_follow_arrival_order_and_announcements_repeat_every_interval() {
    let every = Duration::from_secs(30);
    let mut f = flow_with(
        PortPool::new(40_000, 40_099, 1).unwrap(),
        &["moh", "position_intro", "n1", "n2", "position_outro"],
    );
    let audio = QueueAudio {
        welcome: None,
        hold: "moh".into(),
        announce_every: Some(every),
    };
    for t in 1..=3 {
        f.handle_invite(
            t0(),
            TxnId(t),
            Called::Queue(QueueId(3), audio.clone()),
            "5",
            OFFER,
        );
        f.handle_confirmed(TxnId(t));
    }
    // Another queue's caller does not count.
    f.handle_invite(
        t0(),
        TxnId(9),
        Called::Queue(QueueId(4), audio.clone()),
        "5",
        OFFER,
    );
    f.handle_confirmed(TxnId(9));
    let pos = |f: &CallFlow, t| f.queue_position(TxnId(t));
    assert_eq!(
        [pos(&f, 1), pos(&f, 2), pos(&f, 3), pos(&f, 9)],
        [Some(1), Some(2), Some(3), Some(1)]
    );
    drain_all(&mut f);
    assert_eq!(f.poll_timeout(), Some(t0() + every));
    // The first caller is bridged: the others move up.
    let i = f.interaction(TxnId(1)).unwrap();
    f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
    let leg = invite_of(&drain_all(&mut f)).leg;
    f.handle_leg_answered(leg, ANSWER);
    assert_eq!(
        [pos(&f, 1), pos(&f, 2), pos(&f, 3)],
        [None, Some(1), Some(2)]
    );
    drain_all(&mut f);
    // Virtual time: run the timers twice over.
    let mut now = t0();
    for round in 1..=2u32 {
        now = f.poll_timeout().unwrap();
        assert_eq!(now, t0() + every * round);
        f.handle_timeout(now);
        let plays: Vec<Command> = media(&drain_all(&mut f));
        let prompts = f.cfg.prompts.load();
        // Each waiting caller hears its position (when the prompt set can say it), then
        // its hold audio again; the bridged caller hears nothing from acd.
        let mut want = Vec::new();
        for (port, p) in [(40_002u16, 1u32), (40_004, 2), (40_006, 1)] {
            let mut items = prompts.announce_position(p, None);
            if items.is_empty() {
                continue;
            }
            items.push(prompts.get("moh").unwrap());
            want.push(Command::Play {
                leg: MediaLeg(port),
                playlist: Playlist {
                    items,
                    repeat_last: true,
                },
            });
        }
        assert_eq!(want.len(), 3, "the prompt set says positions 1 and 2");
        assert_eq!(plays, want);
    }
    f.handle_caller_gone(TxnId(2));
    f.handle_caller_gone(TxnId(3));
    f.handle_caller_gone(TxnId(9));
    f.handle_caller_gone(TxnId(1));
    assert!(f.poll_timeout().is_none(), "timers go with their calls");
    assert!(now > t0());
}

#[test]
fn media_timeout_on_a_bridged_call_ends_both_sides_and_completes() {
    let mut f = flow();
    let (i, leg) = bridged(&mut f);
    f.handle_media_event(Event::Timeout {
        leg: MediaLeg(40_002),
        silent_secs: 60,
    });
    let a = drain_all(&mut f);
    assert_eq!(
        a.iter()
            .filter(|a| !matches!(a, Action::Media(_)))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            Action::MediaTimeout {
                interaction: Some(i),
                leg: MediaLeg(40_002),
                silent_secs: 60
            },
            Action::Completed(i),
            Action::EndLeg(leg),
            Action::HangupCaller(TxnId(1)),
        ]
    );
    let mut released: Vec<Command> = media(&a);
    released.sort_by_key(|c| c.leg());
    assert_eq!(
        released,
        vec![
            Command::Release {
                leg: MediaLeg(40_000)
            },
            Command::Release {
                leg: MediaLeg(40_002)
            }
        ]
    );
    assert_eq!((f.call_count(), f.leg_count()), (0, 0));
    assert_eq!(f.pool().available(), f.pool().capacity());
}

#[test]
fn media_timeout_while_queued_abandons_and_hangs_up() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), queue(3), "5", OFFER);
    f.handle_confirmed(TxnId(1));
    let i = f.interaction(TxnId(1)).unwrap();
    drain_all(&mut f);
    f.handle_media_event(Event::Timeout {
        leg: MediaLeg(40_000),
        silent_secs: 61,
    });
    assert_eq!(
        drain(&mut f),
        vec![
            Action::MediaTimeout {
                interaction: Some(i),
                leg: MediaLeg(40_000),
                silent_secs: 61
            },
            Action::Abandon(i),
            Action::HangupCaller(TxnId(1)),
        ]
    );
}

#[test]
fn caller_leg_that_cannot_open_before_an_answer_gets_503() {
    let mut f = flow();
    f.handle_invite(t0(), TxnId(1), direct(None), "5", OFFER);
    let i = f.interaction(TxnId(1)).unwrap();
    drain_all(&mut f);
    f.handle_media_event(Event::Failed {
        leg: MediaLeg(40_000),
        reason: "bind: address in use".into(),
    });
    let a = drain(&mut f);
    assert_eq!(codes(&a), vec![503]);
    assert!(a.contains(&Action::Abandon(i)));
    assert_eq!(f.call_count(), 0);
}

#[test]
fn ringing_agent_leg_that_cannot_open_is_a_rejection() {
    let mut f = flow();
    let (i, leg) = ringing(&mut f);
    f.handle_media_event(Event::Failed {
        leg: MediaLeg(40_002),
        reason: "bind".into(),
    });
    assert_eq!(
        drain(&mut f),
        vec![
            Action::EndLeg(leg),
            Action::Rejected {
                interaction: i,
                agent: AgentId(7)
            }
        ]
    );
    assert_eq!(f.call_count(), 1);
}

#[test]
fn dtmf_is_reported_with_the_calls_interaction_and_other_events_do_nothing() {
    let mut f = flow();
    let (i, _) = bridged(&mut f);
    for leg in [40_000, 40_002] {
        f.handle_media_event(Event::Dtmf {
            leg: MediaLeg(leg),
            digit: '5',
            duration_ms: 120,
        });
        assert_eq!(
            drain_all(&mut f),
            vec![Action::Dtmf {
                interaction: Some(i),
                leg: MediaLeg(leg),
                digit: '5',
                duration_ms: 120
            }]
        );
    }
    f.handle_media_event(Event::FirstPacket {
        leg: MediaLeg(40_000),
        from: "10.0.0.1:4000".parse().unwrap(),
    });
    f.handle_media_event(Event::PlayDone {
        leg: MediaLeg(40_000),
    });
    assert_eq!(drain_all(&mut f), vec![]);
}

const HOLD: &[u8] = b"v=0\r\no=a 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n";
const RESUME: &[u8] = b"v=0\r\no=a 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn updated(a: &[Action]) -> (MediaLeg, LegMedia) {
    match media(a).as_slice() {
        [Command::Update { leg, media }] => (*leg, media.clone()),
        other => panic!("one Update: {other:?}"),
    }
}

#[test]
fn agent_hold_and_resume_are_answered_on_the_same_port_and_update_its_leg() {
    let mut f = flow();
    let (_, leg) = bridged(&mut f);
    f.handle_reinvite(TxnId(50), DialogSide::Agent(leg), HOLD);
    let a = drain_all(&mut f);
    let sdp = sdp_of(&a, 200);
    assert!(sdp.contains("m=audio 40002 RTP/AVP 0 101"), "{sdp}");
    assert!(
        sdp.contains("a=recvonly"),
        "their sendonly is our recvonly: {sdp}"
    );
    assert!(sdp.contains(" 2 IN IP4"), "o= version went up: {sdp}");
    let (port, m) = updated(&a);
    assert_eq!(port, MediaLeg(40_002));
    assert_eq!(m.direction, Direction::SendOnly);
    assert!(!m.direction.remote_receives());
    f.handle_reinvite(TxnId(51), DialogSide::Agent(leg), RESUME);
    let a = drain_all(&mut f);
    let sdp = sdp_of(&a, 200);
    assert!(
        sdp.contains("a=sendrecv") && sdp.contains(" 3 IN IP4"),
        "{sdp}"
    );
    assert_eq!(updated(&a).1.direction, Direction::SendRecv);
    assert!(f.bridged(TxnId(1)).is_some(), "the call goes on");
}

#[test]
fn caller_hold_inactive_and_resume_are_mirrored() {
    let mut f = flow();
    bridged(&mut f);
    let inactive = String::from_utf8(OFFER.to_vec()).unwrap() + "a=inactive\r\n";
    f.handle_reinvite(TxnId(50), DialogSide::Caller(TxnId(1)), inactive.as_bytes());
    let a = drain_all(&mut f);
    assert!(sdp_of(&a, 200).contains("a=inactive"));
    assert!(sdp_of(&a, 200).contains("m=audio 40000 "));
    assert_eq!(updated(&a).1.direction, Direction::Inactive);
    let recvonly = String::from_utf8(OFFER.to_vec()).unwrap() + "a=recvonly\r\n";
    f.handle_reinvite(TxnId(51), DialogSide::Caller(TxnId(1)), recvonly.as_bytes());
    let a = drain_all(&mut f);
    assert!(sdp_of(&a, 200).contains("a=sendonly"));
    assert_eq!(updated(&a).1.direction, Direction::RecvOnly);
    f.handle_reinvite(TxnId(52), DialogSide::Caller(TxnId(1)), OFFER);
    let a = drain_all(&mut f);
    assert!(sdp_of(&a, 200).contains("a=sendrecv"));
    assert_eq!(updated(&a).1.direction, Direction::SendRecv);
}

#[test]
fn caller_switching_to_the_other_g711_law_is_accepted_and_transcoded() {
    let mut f = flow();
    bridged(&mut f);
    let alaw = b"v=0\r\no=c 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
    f.handle_reinvite(TxnId(50), DialogSide::Caller(TxnId(1)), alaw);
    let a = drain_all(&mut f);
    assert_eq!(codes(&a), vec![200]);
    assert_eq!(updated(&a).1.encoding, Encoding::Pcma);
}

#[test]
fn re_invite_without_sdp_gets_our_current_sdp_as_an_offer() {
    let mut f = flow();
    let (_, leg) = bridged(&mut f);
    f.handle_reinvite(TxnId(50), DialogSide::Agent(leg), b"");
    let a = drain_all(&mut f);
    let sdp = sdp_of(&a, 200);
    assert!(sdp.contains("m=audio 40002 RTP/AVP 0 101"), "{sdp}");
    assert!(sdp.contains(" 2 IN IP4"), "{sdp}");
    assert!(media(&a).is_empty(), "nothing changes until a new offer");
}

#[test]
fn re_invite_with_no_compatible_codec_gets_488_and_the_call_stays() {
    let mut f = flow();
    let (_, leg) = bridged(&mut f);
    let g722 = b"v=0\r\no=a 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 9\r\n";
    f.handle_reinvite(TxnId(50), DialogSide::Agent(leg), g722);
    let a = drain_all(&mut f);
    assert_eq!(codes(&a), vec![488]);
    assert!(media(&a).is_empty());
    assert!(f.bridged(TxnId(1)).is_some());
    // The next good offer still gets the next version.
    f.handle_reinvite(TxnId(51), DialogSide::Agent(leg), HOLD);
    assert!(sdp_of(&drain_all(&mut f), 200).contains(" 2 IN IP4"));
}

#[test]
fn re_invite_for_a_call_that_is_gone_gets_481() {
    let mut f = flow();
    f.handle_reinvite(TxnId(50), DialogSide::Caller(TxnId(9)), OFFER);
    assert_eq!(codes(&drain_all(&mut f)), vec![481]);
}

// ------------------------------------------------------- ports come back on every path

mod pool_property {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// One input to the flow. Indices pick among the calls, legs and ports seen so far
    /// (dead ones too: stale events must be harmless).
    #[derive(Debug, Clone)]
    enum Op {
        Invite {
            kind: u8,
            late: bool,
        },
        Confirm(usize),
        Offer {
            call: usize,
            agent: u8,
            nat: bool,
            alaw_only: bool,
        },
        Answer {
            leg: usize,
            usable: bool,
        },
        LegFailed(usize),
        LegBye(usize),
        CallerGone(usize),
        NoAck(usize),
        CancelOffer {
            call: usize,
            agent: u8,
        },
        Ended {
            call: usize,
            refused: Option<bool>,
        },
        MediaTimeout(usize),
        MediaFailed(usize),
        Dtmf(usize),
        ReInvite {
            call: usize,
            leg: Option<usize>,
            body: u8,
        },
        Tick(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let i = 0usize..64;
        prop_oneof![
            3 => (0u8..3, any::<bool>()).prop_map(|(kind, late)| Op::Invite { kind, late }),
            2 => i.clone().prop_map(Op::Confirm),
            3 => (i.clone(), 0u8..4, any::<bool>(), any::<bool>())
                .prop_map(|(call, agent, nat, alaw_only)| Op::Offer { call, agent, nat, alaw_only }),
            3 => (i.clone(), any::<bool>()).prop_map(|(leg, usable)| Op::Answer { leg, usable }),
            1 => i.clone().prop_map(Op::LegFailed),
            1 => i.clone().prop_map(Op::LegBye),
            1 => i.clone().prop_map(Op::CallerGone),
            1 => i.clone().prop_map(Op::NoAck),
            1 => (i.clone(), 0u8..4).prop_map(|(call, agent)| Op::CancelOffer { call, agent }),
            1 => (i.clone(), prop_oneof![Just(None), Just(Some(true)), Just(Some(false))])
                .prop_map(|(call, refused)| Op::Ended { call, refused }),
            1 => i.clone().prop_map(Op::MediaTimeout),
            1 => i.clone().prop_map(Op::MediaFailed),
            1 => i.clone().prop_map(Op::Dtmf),
            1 => (i.clone(), proptest::option::of(i), 0u8..4)
                .prop_map(|(call, leg, body)| Op::ReInvite { call, leg, body }),
            1 => (0u8..90).prop_map(Op::Tick),
        ]
    }

    /// What the test knows, and the media-plane bookkeeping it checks.
    struct World {
        f: CallFlow,
        now: Instant,
        calls: Vec<TxnId>,
        legs: Vec<LegId>,
        ports: Vec<MediaLeg>,
        open: HashSet<MediaLeg>,
        next_txn: u64,
    }

    fn pick<T: Copy>(v: &[T], i: usize) -> Option<T> {
        (!v.is_empty()).then(|| v[i % v.len()])
    }

    impl World {
        fn interaction(&self, i: usize) -> Option<InteractionId> {
            pick(&self.calls, i).and_then(|t| self.f.interaction(t))
        }

        /// Applies the flow's actions to the model of the media plane, checking that every
        /// command names an open leg, that no leg opens twice and that releases match opens.
        fn settle(&mut self) -> Result<(), TestCaseError> {
            while let Some(a) = self.f.poll_action() {
                match a {
                    Action::Invite(inv) => self.legs.push(inv.leg),
                    Action::Media(Command::Open { leg, .. }) => {
                        prop_assert!(self.open.insert(leg), "{leg:?} opened twice");
                        self.ports.push(leg);
                    }
                    Action::Media(Command::Release { leg }) => {
                        prop_assert!(self.open.remove(&leg), "{leg:?} released but not open");
                    }
                    Action::Media(Command::Connect { a, b }) => {
                        prop_assert!(self.open.contains(&a) && self.open.contains(&b));
                        prop_assert_eq!(self.f.pool().shard_of(a), self.f.pool().shard_of(b));
                    }
                    Action::Media(c) => {
                        prop_assert!(self.open.contains(&c.leg()), "{c:?} for a closed leg")
                    }
                    _ => {}
                }
            }
            let pool = self.f.pool();
            prop_assert_eq!(pool.available() + self.open.len(), pool.capacity());
            Ok(())
        }

        fn apply(&mut self, op: Op) {
            let alaw_answer: &[u8] = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 9\r\n";
            match op {
                Op::Invite { kind, late } => {
                    let txn = TxnId(self.next_txn);
                    self.next_txn += 1;
                    let called = match kind {
                        0 => queue(3),
                        1 => Called::QueueEarlyMedia(
                            QueueId(3),
                            QueueAudio {
                                announce_every: Some(Duration::from_secs(30)),
                                ..QueueAudio::default()
                            },
                        ),
                        _ => direct(None),
                    };
                    let body: &[u8] = if late { b"" } else { OFFER };
                    self.f.handle_invite(self.now, txn, called, "5", body);
                    self.calls.push(txn);
                }
                Op::Confirm(c) => {
                    if let Some(t) = pick(&self.calls, c) {
                        self.f.handle_confirmed(t)
                    }
                }
                Op::Offer {
                    call,
                    agent,
                    nat,
                    alaw_only,
                } => {
                    if let Some(i) = self.interaction(call) {
                        let mut t = target(6000 + u16::from(agent));
                        t.nat = nat;
                        if alaw_only {
                            t.codecs = vec![Codec::G722];
                        }
                        self.f
                            .handle_offer(i, AgentId(u64::from(agent)), Some(&t), false);
                    }
                }
                Op::Answer { leg, usable } => {
                    if let Some(l) = pick(&self.legs, leg) {
                        let body = if usable { ANSWER } else { alaw_answer };
                        self.f.handle_leg_answered(l, body);
                    }
                }
                Op::LegFailed(l) => {
                    if let Some(l) = pick(&self.legs, l) {
                        self.f.handle_leg_failed(l)
                    }
                }
                Op::LegBye(l) => {
                    if let Some(l) = pick(&self.legs, l) {
                        self.f.handle_leg_bye(l)
                    }
                }
                Op::CallerGone(c) => {
                    if let Some(t) = pick(&self.calls, c) {
                        self.f.handle_caller_gone(t)
                    }
                }
                Op::NoAck(c) => {
                    if let Some(t) = pick(&self.calls, c) {
                        self.f.handle_no_ack(t)
                    }
                }
                Op::CancelOffer { call, agent } => {
                    if let Some(i) = self.interaction(call) {
                        self.f.handle_cancel_offer(i, AgentId(u64::from(agent)))
                    }
                }
                Op::Ended { call, refused } => {
                    if let Some(i) = self.interaction(call) {
                        self.f.handle_ended(i, refused)
                    }
                }
                Op::MediaTimeout(p) => {
                    if let Some(leg) = pick(&self.ports, p) {
                        self.f.handle_media_event(Event::Timeout {
                            leg,
                            silent_secs: 60,
                        })
                    }
                }
                Op::MediaFailed(p) => {
                    if let Some(leg) = pick(&self.ports, p) {
                        self.f.handle_media_event(Event::Failed {
                            leg,
                            reason: "bind".into(),
                        })
                    }
                }
                Op::Dtmf(p) => {
                    if let Some(leg) = pick(&self.ports, p) {
                        self.f.handle_media_event(Event::Dtmf {
                            leg,
                            digit: '1',
                            duration_ms: 100,
                        })
                    }
                }
                Op::ReInvite { call, leg, body } => {
                    let side = match leg {
                        Some(l) => pick(&self.legs, l).map(DialogSide::Agent),
                        None => pick(&self.calls, call).map(DialogSide::Caller),
                    };
                    let body: &[u8] = match body {
                        0 => b"",
                        1 => HOLD,
                        2 => RESUME,
                        _ => alaw_answer,
                    };
                    if let Some(side) = side {
                        self.f.handle_reinvite(TxnId(1_000_000), side, body);
                    }
                }
                Op::Tick(s) => {
                    self.now += Duration::from_secs(u64::from(s));
                    self.f.handle_timeout(self.now);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Whatever happens to calls, in whatever order, each leg is opened once and released
        /// once, and when every caller has gone the pool is whole again.
        #[test]
        fn every_port_comes_back_whatever_the_order_of_events(
            ops in prop::collection::vec(op(), 1..120),
            shards in 1usize..3,
        ) {
            let mut w = World {
                // Few ports, so exhaustion (503, offers not placed) happens too.
                f: flow_with(PortPool::new(40_000, 40_019, shards).unwrap(), &["welcome", "moh"]),
                now: t0(),
                calls: Vec::new(),
                legs: Vec::new(),
                ports: Vec::new(),
                open: HashSet::new(),
                next_txn: 1,
            };
            for op in ops {
                w.apply(op);
                w.settle()?;
            }
            for t in w.calls.clone() {
                w.f.handle_caller_gone(t);
            }
            w.settle()?;
            prop_assert_eq!((w.f.call_count(), w.f.leg_count()), (0, 0));
            prop_assert!(w.open.is_empty(), "still open: {:?}", w.open);
            prop_assert_eq!(w.f.pool().available(), w.f.pool().capacity());
            prop_assert!(w.f.poll_timeout().is_none());
        }
    }

    /// A thousand calls through every ending (caller BYE while bridged, agent BYE, ring-all
    /// loser, withdrawn offer, leg failure, router end, no ACK, media timeout, CANCEL while
    /// queued) on a pool that holds only a few calls at once: none is refused, so every port
    /// came back each time.
    #[test]
    fn a_thousand_calls_through_every_path_leave_the_pool_whole() {
        let mut f = flow_with(PortPool::new(40_000, 40_011, 2).unwrap(), &["moh"]);
        let cap = f.pool().capacity();
        for n in 0..1000u64 {
            let txn = TxnId(n + 1);
            f.handle_invite(t0(), txn, queue(3), "5", OFFER);
            f.handle_confirmed(txn);
            let i = f.interaction(txn).expect("no call refused");
            f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
            f.handle_offer(i, AgentId(8), Some(&target(6002)), false);
            let legs: Vec<LegId> = drain_all(&mut f)
                .iter()
                .filter_map(|a| match a {
                    Action::Invite(inv) => Some(inv.leg),
                    _ => None,
                })
                .collect();
            assert_eq!(legs.len(), 2, "call {n}");
            match n % 9 {
                0 => {
                    f.handle_leg_answered(legs[0], ANSWER);
                    f.handle_caller_gone(txn);
                }
                1 => {
                    f.handle_leg_answered(legs[0], ANSWER);
                    f.handle_leg_bye(legs[0]);
                }
                2 => {
                    f.handle_leg_answered(legs[1], ANSWER);
                    f.handle_leg_answered(legs[0], ANSWER);
                    f.handle_leg_bye(legs[1]);
                }
                3 => {
                    f.handle_cancel_offer(i, AgentId(7));
                    f.handle_cancel_offer(i, AgentId(8));
                    f.handle_caller_gone(txn);
                }
                4 => {
                    f.handle_leg_failed(legs[0]);
                    f.handle_leg_failed(legs[1]);
                    f.handle_ended(i, None);
                }
                5 => f.handle_no_ack(txn),
                6 => {
                    f.handle_leg_answered(legs[0], ANSWER);
                    f.handle_media_event(Event::Timeout {
                        leg: f.calls[&txn].side.media,
                        silent_secs: 60,
                    });
                }
                7 => {
                    f.handle_leg_answered(legs[0], ANSWER);
                    f.handle_cancel_offer(i, AgentId(7));
                    f.handle_ended(i, None);
                }
                _ => f.handle_caller_gone(txn),
            }
            drain_all(&mut f);
            assert_eq!(f.pool().available(), cap, "after call {n} (path {})", n % 9);
        }
        assert_eq!((f.call_count(), f.leg_count()), (0, 0));
    }
}

// ------------------------------------------- hold and resume through the real endpoint

mod through_the_endpoint {
    use super::*;
    use crate::sip::build::build_response;
    use crate::sip::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Transmit};
    use crate::sip::parse::{parse, HeaderName, StartLine};

    fn caller() -> SocketAddr {
        "127.0.0.1:5070".parse().unwrap()
    }

    fn agent() -> SocketAddr {
        "127.0.0.1:6001".parse().unwrap()
    }

    fn dir() -> HashMap<String, crate::sip::registrar::SipAgent> {
        HashMap::new()
    }

    /// Feeds endpoint events to the flow and the flow's actions to the endpoint until both
    /// are quiet; returns the media commands and what the endpoint sent.
    fn pump(ep: &mut Endpoint, f: &mut CallFlow, now: Instant) -> (Vec<Command>, Vec<Transmit>) {
        let mut media = Vec::new();
        loop {
            let mut busy = false;
            while let Some(e) = ep.poll_event() {
                busy = true;
                match e {
                    EndpointEvent::Invite { txn, body, .. } => {
                        f.handle_invite(now, txn, queue(3), "5551234", &body)
                    }
                    EndpointEvent::Confirmed(txn) => f.handle_confirmed(txn),
                    EndpointEvent::LegAnswered { leg, body } => f.handle_leg_answered(leg, &body),
                    EndpointEvent::ReInvite { txn, side, body } => {
                        f.handle_reinvite(txn, side, &body)
                    }
                    EndpointEvent::Bye(txn) => f.handle_caller_gone(txn),
                    EndpointEvent::LegBye(leg) => f.handle_leg_bye(leg),
                    _ => {}
                }
            }
            while let Some(a) = f.poll_action() {
                busy = true;
                match a {
                    Action::Respond {
                        txn,
                        code,
                        reason,
                        sdp,
                    } => {
                        let body = sdp.unwrap_or_default();
                        let headers: &[(&str, &str)] = if body.is_empty() {
                            &[]
                        } else {
                            &[("Content-Type", "application/sdp")]
                        };
                        ep.respond(now, txn, code, reason, headers, body.as_bytes())
                    }
                    Action::Invite(inv) => ep.invite(now, *inv),
                    Action::EndLeg(leg) => ep.end_leg(now, leg),
                    Action::HangupCaller(txn) => ep.hangup_caller(now, txn),
                    Action::Media(c) => media.push(c),
                    _ => {}
                }
            }
            if !busy {
                break;
            }
        }
        (media, std::iter::from_fn(|| ep.poll_transmit()).collect())
    }

    fn with_sdp(head: String, sdp: &[u8]) -> Vec<u8> {
        let mut m = format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
            sdp.len()
        )
        .into_bytes();
        m.extend_from_slice(sdp);
        m
    }

    fn response_to<'a>(out: &'a [Transmit], method: &str, code: &str) -> &'a Transmit {
        out.iter()
            .find(|t| {
                let m = parse(&t.bytes).unwrap();
                matches!(m.start, StartLine::Response { code: c, .. } if c == code)
                    && m.header(HeaderName::CSeq)
                        .is_some_and(|c| c.ends_with(method))
            })
            .unwrap_or_else(|| panic!("a {code} to {method}"))
    }

    fn body(t: &Transmit) -> String {
        String::from_utf8(parse(&t.bytes).unwrap().body.to_vec()).unwrap()
    }

    #[test]
    fn hold_and_resume_on_both_sides_are_answered_and_followed_by_the_media_plane() {
        let now = t0();
        let mut ep = Endpoint::new(EndpointConfig::default(), 7, now);
        let mut f = flow();
        // The caller calls the queue and is answered.
        let invite = with_sdp(
            "INVITE sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\n\
             From: <sip:c@x>;tag=ctag\r\nTo: <sip:500@acd>\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:c@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n"
                .into(),
            OFFER,
        );
        ep.handle_datagram(now, caller(), &invite, &dir());
        let (_, out) = pump(&mut ep, &mut f, now);
        let ok = parse(&response_to(&out, "INVITE", "200").bytes).unwrap();
        let to = ok.header(HeaderName::To).unwrap().to_owned();
        let ack = format!(
            "ACK sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1a\r\n\
             From: <sip:c@x>;tag=ctag\r\nTo: {to}\r\nCall-ID: call-1\r\nCSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        ep.handle_datagram(now, caller(), ack.as_bytes(), &dir());
        pump(&mut ep, &mut f, now);
        // The agent is offered the call and answers.
        let call = TxnId(1);
        let i = f.interaction(call).expect("queued");
        f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
        let (_, out) = pump(&mut ep, &mut f, now);
        let leg_invite = parse(&out[0].bytes).unwrap();
        let answer = build_response(
            &leg_invite,
            200,
            "OK",
            Some("agenttag"),
            &[
                ("Contact", "<sip:1001@127.0.0.1:6001>"),
                ("Content-Type", "application/sdp"),
            ],
            ANSWER,
        );
        ep.handle_datagram(now, agent(), &answer, &dir());
        let (media, _) = pump(&mut ep, &mut f, now);
        assert!(media.contains(&Command::Connect {
            a: MediaLeg(40_000),
            b: MediaLeg(40_002)
        }));
        let (leg, _) = f.bridged(call).expect("bridged");

        // The agent puts the caller on hold, then resumes.
        let agent_reinvite = |cseq: u32, sdp: &[u8]| {
            with_sdp(
                format!(
                    "INVITE sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKa{cseq}\r\n\
                     From: <sip:1001@acd>;tag=agenttag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\n\
                     Contact: <sip:1001@127.0.0.1:6001>\r\nMax-Forwards: 70\r\n",
                    leg_invite.header(HeaderName::From).unwrap(),
                    leg_invite.header(HeaderName::CallId).unwrap()
                ),
                sdp,
            )
        };
        for (cseq, sdp, ours, theirs) in [
            (2, HOLD, "a=recvonly", Direction::SendOnly),
            (3, RESUME, "a=sendrecv", Direction::SendRecv),
        ] {
            ep.handle_datagram(now, agent(), &agent_reinvite(cseq, sdp), &dir());
            let (media, out) = pump(&mut ep, &mut f, now);
            let ok = response_to(&out, "INVITE", "200");
            assert_eq!(ok.to, agent());
            let sdp = body(ok);
            assert!(
                sdp.contains(ours) && sdp.contains("m=audio 40002 "),
                "{sdp}"
            );
            let [Command::Update { leg: l, media: m }] = media.as_slice() else {
                panic!("{media:?}")
            };
            assert_eq!((*l, m.direction), (MediaLeg(40_002), theirs));
        }

        // The caller puts the agent on hold (inactive), then resumes.
        let caller_reinvite = |cseq: u32, dir_line: &str| {
            let sdp = format!(
                "{}{dir_line}\r\n",
                String::from_utf8(OFFER.to_vec()).unwrap()
            );
            with_sdp(
                format!(
                    "INVITE sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc{cseq}\r\n\
                     From: <sip:c@x>;tag=ctag\r\nTo: {to}\r\nCall-ID: call-1\r\nCSeq: {cseq} INVITE\r\n\
                     Contact: <sip:c@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n"
                ),
                sdp.as_bytes(),
            )
        };
        for (cseq, line, ours, theirs) in [
            (2, "a=inactive", "a=inactive", Direction::Inactive),
            (3, "a=sendrecv", "a=sendrecv", Direction::SendRecv),
        ] {
            ep.handle_datagram(now, caller(), &caller_reinvite(cseq, line), &dir());
            let (media, out) = pump(&mut ep, &mut f, now);
            let ok = response_to(&out, "INVITE", "200");
            assert_eq!(ok.to, caller());
            let sdp = body(ok);
            assert!(
                sdp.contains(ours) && sdp.contains("m=audio 40000 "),
                "{sdp}"
            );
            let [Command::Update { leg: l, media: m }] = media.as_slice() else {
                panic!("{media:?}")
            };
            assert_eq!((*l, m.direction), (MediaLeg(40_000), theirs));
        }
        assert_eq!(f.bridged(call), Some((leg, AgentId(7))), "the call went on");

        // The agent hangs up: both legs end and both ports come back.
        let bye = format!(
            "BYE sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKab\r\n\
             From: <sip:1001@acd>;tag=agenttag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            leg_invite.header(HeaderName::From).unwrap(),
            leg_invite.header(HeaderName::CallId).unwrap()
        );
        ep.handle_datagram(now, agent(), bye.as_bytes(), &dir());
        let (media, _) = pump(&mut ep, &mut f, now);
        assert_eq!(
            media
                .iter()
                .filter(|c| matches!(c, Command::Release { .. }))
                .count(),
            2
        );
        assert_eq!(f.pool().available(), f.pool().capacity());
    }
}
