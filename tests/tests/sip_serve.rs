//! `acd serve` carries SIP: agents created over the admin API register their extension with
//! digest auth using the SIP password acd generated, and calls to numbers acd does not serve
//! get 404, and callers to a queue's DID are answered. SIPp is the peer, over real UDP sockets on 127.0.0.1.

use acd_tests::{json_body, Acd};
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output};

fn scenario(name: &str) -> String {
    format!("{}/../loadgen/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn sipp(target: SocketAddr, args: &[&str]) -> Output {
    let port = free_udp_port().to_string();
    let target = target.to_string();
    let mut all = vec![
        target.as_str(),
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        "1",
        "-timeout",
        "15s",
        "-nostdin",
    ];
    all.extend_from_slice(args);
    Command::new("sipp")
        .args(&all)
        .output()
        .expect("sipp runs (Debian package sip-tester; .ci/run installs it)")
}

/// Creates an agent; returns (extension, generated SIP password).
fn agent(acd: &Acd, username: &str) -> (String, String) {
    let response = acd.post(
        "/api/v1/agents",
        &json!({"username": username, "first_name": "Sip", "last_name": "Phone",
                "typology": "sip_phone"}),
    );
    assert_eq!(response.status(), 201);
    let body = json_body(response);
    (
        body["extension"].as_str().unwrap().to_owned(),
        body["sip_password"].as_str().unwrap().to_owned(),
    )
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn agent_created_over_http_registers_with_its_generated_sip_password() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    let (ext, password) = agent(&acd, "regok");
    let out = sipp(
        sip,
        &[
            "-sf",
            &scenario("register_auth.xml"),
            "-s",
            &ext,
            "-au",
            &ext,
            "-ap",
            &password,
        ],
    );
    assert!(out.status.success(), "{}", explain(&out));
}

#[test]
fn register_with_a_wrong_sip_password_is_refused() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    let (ext, _) = agent(&acd, "regbad");
    let out = sipp(
        sip,
        &[
            "-sf",
            &scenario("register_badpw.xml"),
            "-s",
            &ext,
            "-au",
            &ext,
            "-ap",
            "not-the-password",
        ],
    );
    assert!(out.status.success(), "{}", explain(&out));
}

#[test]
fn register_of_a_disabled_agent_is_refused() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    let (ext, password) = agent(&acd, "regoff");
    let list = json_body(acd.get("/api/v1/agents?q=regoff"));
    let id = list["items"][0]["id"].as_u64().unwrap();
    assert_eq!(
        acd.post(&format!("/api/v1/agents/{id}/disable"), &json!({}))
            .status(),
        200
    );
    let out = sipp(
        sip,
        &[
            "-sf",
            &scenario("register_auth.xml"),
            "-s",
            &ext,
            "-au",
            &ext,
            "-ap",
            &password,
        ],
    );
    assert!(
        !out.status.success(),
        "a disabled agent must not register: {}",
        explain(&out)
    );
}

#[test]
fn invite_to_a_number_acd_does_not_serve_gets_404() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    let out = sipp(sip, &["-sf", &scenario("invite_404.xml"), "-s", "5550000"]);
    assert!(out.status.success(), "{}", explain(&out));
}

/// A queue reached at `did`.
fn queue_with_did(acd: &Acd, did: &str) {
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "sales"})));
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": did, "target": {"type": "queue", "queue": queue["id"]}}),
    );
    assert_eq!(r.status(), 201);
}

#[test]
fn caller_to_a_queue_did_is_answered_and_can_hang_up() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    queue_with_did(&acd, "4620000");
    let out = sipp(sip, &["-sf", &scenario("queue_call.xml"), "-s", "4620000"]);
    assert!(out.status.success(), "{}", explain(&out));
}

/// `sip.advertise` is what peers are told to send to: the 200's Contact and its SDP name it.
#[test]
fn the_advertised_address_is_named_in_contact_and_sdp() {
    let acd = Acd::builder()
        .arg("--sip-advertise")
        .arg("192.0.2.10")
        .start();
    let sip = acd.sip.expect("acd prints its SIP address");
    queue_with_did(&acd, "4620000");
    let out = sipp(
        sip,
        &[
            "-sf",
            &scenario("queue_call_advertised.xml"),
            "-s",
            "4620000",
        ],
    );
    assert!(out.status.success(), "{}", explain(&out));
}

#[test]
fn an_advertise_value_that_is_not_an_address_stops_the_start_with_a_clear_error() {
    let Err(err) = Acd::builder()
        .arg("--sip-advertise")
        .arg("acd.example.com")
        .try_start()
    else {
        panic!("acd must refuse a host name for sip.advertise");
    };
    assert!(err.stderr.contains("sip.advertise"), "{}", err.stderr);
    assert!(err.stderr.contains("acd.example.com"), "{}", err.stderr);
}
