//! Unit tests of the call flow: every transition, media commands, and the port pool.

use super::*;
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
