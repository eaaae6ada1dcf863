//! acd's media plane end to end: the real `acd` binary relays RTP between a caller and a
//! registered agent over real UDP on 127.0.0.1. The parties are `acd_loadgen`'s SIP user
//! agent and RTP endpoint: tones are told apart with a Goertzel filter, DTMF is sent as
//! RFC 4733 events, continuity is read from the received headers.
//!
//! Each test starts its own acd with its own `media.ports` range (so tests running in
//! parallel never share a port) and checks one behaviour. Every wait is bounded.

use acd_loadgen::rtp::{self, Endpoint, Received, TELEPHONE_EVENT_PT};
use acd_loadgen::sipua::{sdp_body, Dialog, Incoming, SipError, SipUa};
use acd_loadgen::tone::{self, Law};
use acd_tests::voice::{self, Agent};
use acd_tests::Acd;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const NUMBER: &str = "4621000";
const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 600.0;
const INJECT_HZ: f64 = 1400.0;
const TONES: [f64; 3] = [AGENT_HZ, CALLER_HZ, INJECT_HZ];
/// How long any one expected event may take (generous for loaded CI machines).
const WAIT: Duration = Duration::from_secs(10);

fn lo() -> IpAddr {
    [127, 0, 0, 1].into()
}

/// acd with `media.ports` = `base..base+count-1` and the given extra settings as env vars.
fn start(base: u16, count: u16, env: &[(&str, &str)]) -> Acd {
    let ports = format!("{base}-{}", base + count - 1);
    let mut b = Acd::builder().env("ACD_MEDIA_PORTS", &ports);
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start()
}

/// A SIP party and its RTP endpoint.
struct Party {
    ua: SipUa,
    rtp: Endpoint,
}

impl Party {
    fn new(acd: &Acd, ssrc: u32) -> Party {
        Party {
            ua: SipUa::bind(lo(), acd.sip.expect("acd prints its SIP address")).expect("sip ua"),
            rtp: Endpoint::bind(lo(), ssrc).expect("rtp endpoint"),
        }
    }

    fn sdp(&self, laws: &[Law], direction: &str, version: u32) -> String {
        sdp_body(lo(), self.rtp.local_addr().port(), laws, direction, version)
    }
}

/// A queue on [`NUMBER`] with one registered agent (profile merged in).
fn queue_and_agent(acd: &Acd, profile: Value) -> (u64, Agent, Party) {
    let q = voice::queue_with_did(acd, NUMBER, json!({}));
    let agent = voice::sip_agent(acd, "media", profile);
    voice::join(acd, q, &agent, 0);
    let mut phone = Party::new(acd, 0xA6E7);
    phone
        .ua
        .register(&agent.extension, &agent.password, 600, "")
        .expect("the agent registers (MD5 digest, qop=auth)");
    voice::wait_for("the agent available", WAIT, || {
        voice::agent_state(acd, &agent)["state"] == "available"
    });
    (q, agent, phone)
}

/// The caller dials the queue (offering `laws`) and is answered; returns its dialog.
fn dial(caller: &mut Party, laws: &[Law]) -> Dialog {
    let sdp = caller.sdp(laws, "sendrecv", 1);
    let placed = caller
        .ua
        .invite(NUMBER, "caller", &sdp, WAIT)
        .expect("acd answers the queue call");
    assert!(
        placed.dialog.remote_sdp.is_some(),
        "acd's 200 carries an SDP answer"
    );
    placed.dialog
}

/// The agent's phone receives acd's INVITE (an offer with acd's agent-leg port).
fn ring(phone: &mut Party) -> Incoming {
    let inc = phone.ua.wait_invite(WAIT).expect("acd rings the agent");
    assert!(inc.offer.is_some(), "acd's INVITE to the agent offers SDP");
    inc
}

/// The phone answers in `law`.
fn pick_up(phone: &mut Party, inc: &Incoming, law: Law) -> Dialog {
    let offer = inc.offer.as_ref().expect("an offer");
    assert!(
        offer.pt_of(law.name()).is_some(),
        "acd offers {} to this agent: {offer:?}",
        law.name()
    );
    let sdp = phone.sdp(&[law], "sendrecv", 1);
    phone
        .ua
        .answer(inc, &sdp)
        .expect("the ACK of the agent's 200")
}

/// Where a party sends RTP: the port acd named in its SDP to that party.
fn rtp_target(d: &Dialog) -> SocketAddr {
    d.remote_sdp.as_ref().expect("remote SDP").rtp_addr()
}

fn offer_target(inc: &Incoming) -> SocketAddr {
    inc.offer.as_ref().expect("offer").rtp_addr()
}

/// The last `n` audio packets are all dominated by `hz`.
fn hears(r: &[Received], hz: f64, n: usize) -> bool {
    let tones = rtp::per_packet_tones(r, &TONES);
    tones.len() >= n && tones[tones.len() - n..].iter().all(|t| *t == Some(hz))
}

/// The last lines of acd's log, for failure messages.
fn log_tail(acd: &Acd) -> String {
    let log = acd.stderr();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn describe(r: &[Received]) -> String {
    let tones = rtp::per_packet_tones(r, &TONES);
    let tail: Vec<_> = tones.iter().rev().take(10).collect();
    format!(
        "{} packets, last tones {tail:?}, continuity {:?}",
        r.len(),
        rtp::continuity(r)
    )
}

/// A bridged call: caller (PCMU, 1 kHz) and agent (in `agent_law`, 600 Hz) both streaming.
struct Bridged {
    caller: Party,
    caller_dialog: Dialog,
    phone: Party,
    phone_dialog: Dialog,
    agent_leg: SocketAddr,
}

fn bridged_call(acd: &Acd, profile: Value, agent_law: Law) -> Bridged {
    let (_, _, mut phone) = queue_and_agent(acd, profile);
    let mut caller = Party::new(acd, 0xCA11);
    let caller_dialog = dial(&mut caller, &[Law::Pcmu]);
    caller
        .rtp
        .send_tone(rtp_target(&caller_dialog), Law::Pcmu, CALLER_HZ);
    let inc = ring(&mut phone);
    let agent_leg = offer_target(&inc);
    let phone_dialog = pick_up(&mut phone, &inc, agent_law);
    phone.rtp.send_tone(agent_leg, agent_law, AGENT_HZ);
    Bridged {
        caller,
        caller_dialog,
        phone,
        phone_dialog,
        agent_leg,
    }
}

#[test]
fn caller_and_agent_each_hear_the_others_tone() {
    let acd = start(21000, 200, &[]);
    let b = bridged_call(&acd, json!({}), Law::Pcmu);
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 10)),
        "the agent hears the caller's 1 kHz: {}\ncaller sends to {}, agent to {}\nacd log:\n{}",
        describe(&b.phone.rtp.received()),
        rtp_target(&b.caller_dialog),
        b.agent_leg,
        log_tail(&acd)
    );
    assert!(
        b.caller.rtp.wait_for(WAIT, |r| hears(r, AGENT_HZ, 10)),
        "the caller hears the agent's 600 Hz: {}",
        describe(&b.caller.rtp.received())
    );
    // acd sends from the port it named (symmetric RTP), in the negotiated payload type.
    let r = b.phone.rtp.received();
    assert!(r.iter().all(|p| p.from == b.agent_leg), "agent leg source");
    assert!(r
        .iter()
        .all(|p| p.header.pt == 0 || p.header.pt == TELEPHONE_EVENT_PT));
}

#[test]
fn queue_audio_reaches_a_waiting_caller_and_the_switch_to_the_agent_keeps_continuity() {
    let acd = start(21200, 200, &[]);
    let (_, _, mut phone) = queue_and_agent(&acd, json!({}));
    let mut caller = Party::new(&acd, 0xCA12);
    let d = dial(&mut caller, &[Law::Pcmu]);
    caller.rtp.send_tone(rtp_target(&d), Law::Pcmu, CALLER_HZ);
    // The agent's phone rings but is not answered yet: whatever the caller hears is acd's.
    let inc = ring(&mut phone);
    assert!(
        caller.rtp.wait_for(WAIT, |r| {
            let s = rtp::audio_samples(r);
            s.len() >= 8000 && tone::rms(&s[s.len() - 8000..]) > 0.003
        }),
        "the waiting caller hears queue audio (a second of non-silence) before any agent \
         answers: {}",
        describe(&caller.rtp.received())
    );
    let agent_leg = offer_target(&inc);
    let _pd = pick_up(&mut phone, &inc, Law::Pcmu);
    phone.rtp.send_tone(agent_leg, Law::Pcmu, AGENT_HZ);
    assert!(
        caller.rtp.wait_for(WAIT, |r| hears(r, AGENT_HZ, 25)),
        "after the bridge the caller hears the agent: {}",
        describe(&caller.rtp.received())
    );
    let c = rtp::continuity(&caller.rtp.received());
    assert_eq!(
        c.ssrcs.len(),
        1,
        "one SSRC toward the caller across the switch: {c:?}"
    );
    assert_eq!(c.backward, 0, "sequence never goes back: {c:?}");
    assert!(c.max_seq_step <= 3, "no sequence jump at the switch: {c:?}");
    assert_eq!(c.ts_backward, 0, "timestamps never go back: {c:?}");
}

#[test]
fn a_callers_dtmf_digit_is_relayed_to_the_agent_and_detected_once_with_its_duration() {
    let acd = start(21400, 200, &[]);
    let b = bridged_call(&acd, json!({}), Law::Pcmu);
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 5)),
        "bridged first: {}",
        describe(&b.phone.rtp.received())
    );
    b.caller.rtp.send_dtmf('5', 200);
    let te = b
        .phone_dialog
        .remote_sdp
        .as_ref()
        .and_then(|s| s.pt_of("telephone-event"))
        .unwrap_or(TELEPHONE_EVENT_PT);
    assert!(
        b.phone
            .rtp
            .wait_for(WAIT, |r| !rtp::received_digits(r, te).is_empty()),
        "the agent receives the digit as telephone-events: {}",
        describe(&b.phone.rtp.received())
    );
    let digits = rtp::received_digits(&b.phone.rtp.received(), te);
    assert_eq!(digits.len(), 1, "one event: {digits:?}");
    assert_eq!(digits[0].0, '5');
    let line = voice::wait_log(&acd, WAIT, |l| {
        l.contains("dtmf") && voice::log_field(l, "digit").is_some()
    })
    .unwrap_or_else(|| panic!("acd logs the detected digit\n{}", acd.stderr()));
    assert_eq!(voice::log_field(&line, "digit"), Some("5"), "{line}");
    let ms: u32 = voice::log_field(&line, "duration_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("duration_ms in {line}"));
    // The event's own duration field says 200 ms; no timing is measured here.
    assert!((160..=240).contains(&ms), "{line}");
    assert_eq!(
        acd.stderr()
            .lines()
            .filter(|l| l.contains("dtmf") && voice::log_field(l, "digit").is_some())
            .count(),
        1,
        "each digit is reported once"
    );
}

#[test]
fn a_silent_call_ends_on_media_timeout_with_a_bye_to_both_parties() {
    let acd = start(21600, 200, &[("ACD_MEDIA_TIMEOUT_SECS", "2")]);
    let (_, _, mut phone) = queue_and_agent(&acd, json!({}));
    let mut caller = Party::new(&acd, 0xCA14);
    let cd = dial(&mut caller, &[Law::Pcmu]);
    let inc = ring(&mut phone);
    let pd = pick_up(&mut phone, &inc, Law::Pcmu);
    // Neither party sends a single packet.
    caller
        .ua
        .wait_bye(&cd, Duration::from_secs(20))
        .expect("the silent caller gets a BYE");
    phone
        .ua
        .wait_bye(&pd, WAIT)
        .expect("the agent gets a BYE too");
    let line = voice::wait_log(&acd, WAIT, |l| l.contains("media timeout"))
        .unwrap_or_else(|| panic!("acd logs the reason\n{}", acd.stderr()));
    assert!(voice::log_field(&line, "silent_secs").is_some(), "{line}");
}

#[test]
fn pcmu_caller_and_pcma_agent_hear_each_other_through_transcoding() {
    let acd = start(21800, 200, &[]);
    let b = bridged_call(
        &acd,
        json!({"voice": {"allowed_codecs": ["alaw"]}}),
        Law::Pcma,
    );
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 10)),
        "the A-law agent hears the µ-law caller: {}",
        describe(&b.phone.rtp.received())
    );
    assert!(
        b.caller.rtp.wait_for(WAIT, |r| hears(r, AGENT_HZ, 10)),
        "the µ-law caller hears the A-law agent: {}",
        describe(&b.caller.rtp.received())
    );
    let audio_pts = |r: &[Received]| {
        let mut v: Vec<u8> = r
            .iter()
            .map(|p| p.header.pt)
            .filter(|pt| *pt != TELEPHONE_EVENT_PT)
            .collect();
        v.dedup();
        v
    };
    assert_eq!(
        audio_pts(&b.phone.rtp.received()),
        vec![8],
        "PCMA to the agent"
    );
    // The caller may hear queue audio first; all of it in its own law.
    assert_eq!(
        audio_pts(&b.caller.rtp.received()),
        vec![0],
        "PCMU to the caller"
    );
}

/// After the agent leg latched (agent `voice.nat` = yes), a stranger on another port
/// sending to acd's agent-leg port is not relayed to the caller.
#[test]
fn a_third_address_cannot_inject_into_a_latched_stream() {
    let acd = start(22000, 200, &[]);
    let b = bridged_call(&acd, json!({"voice": {"nat": "yes"}}), Law::Pcmu);
    assert!(
        b.caller.rtp.wait_for(WAIT, |r| hears(r, AGENT_HZ, 10)),
        "latched on the agent: {}",
        describe(&b.caller.rtp.received())
    );
    let injector = Endpoint::bind(lo(), 0xBAD).expect("injector");
    let before = b.caller.rtp.received().len();
    injector.send_tone(b.agent_leg, Law::Pcmu, INJECT_HZ);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(injector.sent() >= 20, "the injector sent");
    let after = b.caller.rtp.received();
    let tones = rtp::per_packet_tones(&after[before..], &TONES);
    assert!(
        !tones.contains(&Some(INJECT_HZ)),
        "no injected packet reaches the caller: {tones:?}"
    );
    assert!(
        tones.iter().filter(|t| **t == Some(AGENT_HZ)).count() >= 20,
        "the agent is still heard: {tones:?}"
    );
}

/// The caller's leg (no latching: SDP address 127.0.0.1) accepts RTP only from that IP.
#[test]
fn rtp_from_another_ip_is_not_relayed_from_the_callers_leg() {
    let acd = start(22200, 200, &[]);
    let b = bridged_call(&acd, json!({}), Law::Pcmu);
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 10)),
        "bridged: {}",
        describe(&b.phone.rtp.received())
    );
    let injector = Endpoint::bind([127, 0, 0, 2].into(), 0xBAD).expect("127.0.0.2 is loopback");
    let before = b.phone.rtp.received().len();
    injector.send_tone(rtp_target(&b.caller_dialog), Law::Pcmu, INJECT_HZ);
    std::thread::sleep(Duration::from_millis(1500));
    let after = b.phone.rtp.received();
    let tones = rtp::per_packet_tones(&after[before..], &TONES);
    assert!(
        !tones.contains(&Some(INJECT_HZ)),
        "no injected packet reaches the agent: {tones:?}"
    );
}

#[test]
fn the_port_pool_is_whole_after_1000_calls() {
    // 40 ports: 20 RTP/RTCP pairs, so leaked legs would exhaust it ten times over.
    let acd = start(22400, 40, &[]);
    let (_, agent, mut phone) = queue_and_agent(&acd, json!({}));
    let mut caller = Party::new(&acd, 0xCA16);
    let deadline = Instant::now() + Duration::from_secs(300);
    let agent_sdp = phone.sdp(&[Law::Pcmu], "sendrecv", 1);
    for i in 0..1000 {
        assert!(
            Instant::now() < deadline,
            "1000 calls within 5 minutes (at call {i})"
        );
        let mut cd = dial(&mut caller, &[Law::Pcmu]);
        let inc = phone
            .ua
            .wait_invite(WAIT)
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        let mut pd = phone
            .ua
            .answer(&inc, &agent_sdp)
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        // Alternate who hangs up, so both teardown paths return their ports.
        if i % 2 == 0 {
            assert_eq!(caller.ua.bye(&mut cd).expect("caller BYE"), 200, "call {i}");
            phone
                .ua
                .wait_bye(&pd, WAIT)
                .unwrap_or_else(|e| panic!("call {i}: {e}"));
        } else {
            assert_eq!(phone.ua.bye(&mut pd).expect("agent BYE"), 200, "call {i}");
            caller
                .ua
                .wait_bye(&cd, WAIT)
                .unwrap_or_else(|e| panic!("call {i}: {e}"));
        }
        voice::wait_for("the agent available again", WAIT, || {
            voice::agent_state(&acd, &agent)["state"] == "available"
        });
    }
    let mut stats = Value::Null;
    voice::wait_for("every port back in the pool", WAIT, || {
        stats = voice::media_stats(&acd).expect("GET /api/v1/stats/media");
        stats["ports_free"] == stats["ports_total"]
    });
    assert_eq!(stats["ports_total"], 20, "{stats}");
    assert_eq!(
        (stats["legs_open"].as_u64(), stats["calls"].as_u64()),
        (Some(0), Some(0)),
        "{stats}"
    );
}

#[test]
fn a_new_call_gets_503_when_the_port_pool_is_exhausted_and_succeeds_once_ports_return() {
    // One RTP/RTCP pair: the first (queued, unanswered by any agent) call holds it.
    let acd = start(22600, 2, &[("ACD_MEDIA_THREADS", "1")]);
    voice::queue_with_did(&acd, NUMBER, json!({}));
    let mut first = Party::new(&acd, 0xCA17);
    let mut d = dial(&mut first, &[Law::Pcmu]);
    let mut second = Party::new(&acd, 0xCA18);
    let sdp = second.sdp(&[Law::Pcmu], "sendrecv", 1);
    match second.ua.invite(NUMBER, "second", &sdp, WAIT) {
        Err(SipError::Rejected { code, .. }) => assert_eq!(code, 503),
        other => panic!("expected 503 Service Unavailable, got {other:?}"),
    }
    let line = voice::wait_log(&acd, WAIT, |l| l.contains("media port pool exhausted"))
        .unwrap_or_else(|| panic!("acd logs why\n{}", acd.stderr()));
    assert!(line.contains("WARN"), "{line}");
    // The call already up keeps its audio: the first caller goes on hearing its queue audio
    // (another second of non-silence after the refusal).
    let before = first.rtp.received().len();
    assert!(
        first.rtp.wait_for(WAIT, |r| {
            let s = rtp::audio_samples(&r[before.min(r.len())..]);
            s.len() >= 8000 && tone::rms(&s[s.len() - 8000..]) > 0.003
        }),
        "the first caller still hears queue audio after the pool ran out: {}",
        describe(&first.rtp.received())
    );
    // When it hangs up the pair returns and a new call is answered.
    assert_eq!(first.ua.bye(&mut d).expect("BYE"), 200);
    let mut again = None;
    voice::wait_for(
        "a call answered once the pair is back",
        WAIT,
        || match second.ua.invite(NUMBER, "second", &sdp, WAIT) {
            Ok(p) => {
                again = Some(p.dialog);
                true
            }
            Err(SipError::Rejected { code: 503, .. }) => false,
            Err(e) => panic!("{e}"),
        },
    );
    let _ = second.ua.bye(again.as_mut().expect("answered"));
}

#[test]
fn agent_hold_and_resume_reinvites_get_the_mirrored_direction_and_audio_resumes() {
    let acd = start(22800, 200, &[]);
    let mut b = bridged_call(&acd, json!({}), Law::Pcmu);
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 5)),
        "bridged: {}",
        describe(&b.phone.rtp.received())
    );
    // Hold: the agent only sends (music on its side); acd must answer recvonly.
    let hold = b.phone.sdp(&[Law::Pcmu], "sendonly", 2);
    let r = b
        .phone
        .ua
        .reinvite(&mut b.phone_dialog, &hold)
        .expect("hold re-INVITE");
    assert_eq!(r.status(), Some(200), "hold is accepted: {}", r.start);
    let dir = b
        .phone_dialog
        .remote_sdp
        .as_ref()
        .and_then(|s| s.direction.clone());
    assert_eq!(
        dir.as_deref(),
        Some("recvonly"),
        "mirrored direction for hold"
    );
    // While held, acd sends the agent nothing (allow packets already in flight to land).
    std::thread::sleep(Duration::from_millis(300));
    b.phone.rtp.clear();
    std::thread::sleep(Duration::from_millis(1000));
    let during = b.phone.rtp.received();
    assert!(
        rtp::per_packet_tones(&during, &TONES).is_empty(),
        "nothing is sent to a party that holds with sendonly: {}",
        describe(&during)
    );
    // Resume.
    let resume = b.phone.sdp(&[Law::Pcmu], "sendrecv", 3);
    let r = b
        .phone
        .ua
        .reinvite(&mut b.phone_dialog, &resume)
        .expect("resume re-INVITE");
    assert_eq!(r.status(), Some(200), "resume is accepted: {}", r.start);
    let dir = b
        .phone_dialog
        .remote_sdp
        .as_ref()
        .and_then(|s| s.direction.clone());
    assert!(
        dir.is_none() || dir.as_deref() == Some("sendrecv"),
        "mirrored direction for resume: {dir:?}"
    );
    assert!(
        b.phone.rtp.wait_for(WAIT, |r| hears(r, CALLER_HZ, 10)),
        "the agent hears the caller again: {}",
        describe(&b.phone.rtp.received())
    );
    b.caller.rtp.clear();
    assert!(
        b.caller.rtp.wait_for(WAIT, |r| hears(r, AGENT_HZ, 10)),
        "the caller hears the agent after resume: {}",
        describe(&b.caller.rtp.received())
    );
    assert_eq!(b.caller.ua.bye(&mut b.caller_dialog).expect("BYE"), 200);
}
