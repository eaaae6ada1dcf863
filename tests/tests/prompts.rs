//! Queue audio administration over HTTP against the real server: prompt upload (validated by
//! content, type and size), listing beside the built-ins, download, delete back to the
//! built-in, durability across a restart, and the queue settings that name prompts.

use acd_tests::{expect_problem, json_body, Acd};
use reqwest::Method;
use serde_json::{json, Value};

/// A WAV file built by hand (independent of the code under test): `tag` 1 = PCM, 6 = A-law,
/// 7 = µ-law.
fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt \x10\0\0\0");
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// `ms` milliseconds of an 8 kHz mono 16-bit PCM square-ish tone.
fn pcm_wav(ms: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..ms * 8)
        .flat_map(|i| (if i % 20 < 10 { 8_000i16 } else { -8_000 }).to_le_bytes())
        .collect();
    wav(1, 1, 8_000, 16, &data)
}

fn upload(acd: &Acd, name: &str, content_type: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    acd.request(Method::PUT, &format!("/api/v1/prompts/{name}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap()
}

fn listed(acd: &Acd, name: &str) -> Option<Value> {
    let list = json_body(acd.get("/api/v1/prompts"));
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

#[test]
fn valid_wav_is_created_listed_and_downloaded_unchanged() {
    let acd = Acd::start();
    let file = pcm_wav(500);
    let r = upload(&acd, "spring_sale", "audio/wav", file.clone());
    assert_eq!(r.status(), 201);
    let info = json_body(r);
    assert_eq!(
        info,
        json!({"name": "spring_sale", "source": "uploaded", "duration_ms": 500})
    );
    assert_eq!(listed(&acd, "spring_sale").unwrap(), info);
    // The built-ins are listed too, with their durations.
    for name in [
        "welcome",
        "moh",
        "ringback",
        "n0",
        "n90",
        "less_than_a_minute",
    ] {
        let p = listed(&acd, name).unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!(p["source"], "builtin", "{name}");
        assert!(p["duration_ms"].as_u64().unwrap() > 100, "{name}");
    }
    let r = acd.get("/api/v1/prompts/spring_sale");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    assert_eq!(r.bytes().unwrap().as_ref(), file.as_slice());
}

#[test]
fn replacing_a_builtin_answers_200_and_delete_brings_the_builtin_back() {
    let acd = Acd::start();
    let builtin = acd.get("/api/v1/prompts/welcome").bytes().unwrap().to_vec();
    // A built-in downloads as 8 kHz mono 16-bit PCM.
    assert_eq!(&builtin[0..4], b"RIFF");
    assert_eq!(&builtin[20..24], &[1, 0, 1, 0], "PCM, mono");
    assert_eq!(&builtin[24..28], &8_000u32.to_le_bytes());
    assert_eq!(&builtin[34..36], &16u16.to_le_bytes());
    let ulaw = wav(7, 1, 8_000, 8, &[0x55; 4_000]);
    let r = upload(&acd, "welcome", "audio/x-wav", ulaw.clone());
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(r)["duration_ms"], 500);
    assert_eq!(listed(&acd, "welcome").unwrap()["source"], "uploaded");
    assert_eq!(
        acd.get("/api/v1/prompts/welcome").bytes().unwrap().as_ref(),
        ulaw.as_slice()
    );

    assert_eq!(acd.delete("/api/v1/prompts/welcome").status(), 204);
    assert_eq!(listed(&acd, "welcome").unwrap()["source"], "builtin");
    assert_eq!(
        acd.get("/api/v1/prompts/welcome").bytes().unwrap().to_vec(),
        builtin
    );
    // Nothing uploaded is left to delete.
    expect_problem(acd.delete("/api/v1/prompts/welcome"), 404);
    expect_problem(acd.get("/api/v1/prompts/never_uploaded"), 404);
}

#[test]
fn cd_quality_stereo_is_422_naming_the_rule_and_the_conversion() {
    let acd = Acd::start();
    let stereo = wav(1, 2, 44_100, 16, &[0; 44_100 * 4 / 10]);
    let problem = expect_problem(upload(&acd, "hold", "audio/wav", stereo), 422);
    let e = &problem["errors"][0];
    assert_eq!(e["field"], "body");
    assert_eq!(e["rule"], "audio_format");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("44100 Hz stereo"), "{message}");
    assert!(message.contains("8000 Hz mono"), "{message}");
    assert!(message.contains("sox"), "{message}");
    assert!(listed(&acd, "hold").is_none());
}

#[test]
fn bytes_that_are_not_a_wav_are_422() {
    let acd = Acd::start();
    let problem = expect_problem(
        upload(&acd, "hold", "audio/wav", b"ID3\x03\0\0\0 an mp3".to_vec()),
        422,
    );
    assert_eq!(problem["errors"][0]["rule"], "audio_format");
    let truncated = pcm_wav(100)[..60].to_vec();
    let problem = expect_problem(upload(&acd, "hold", "audio/wav", truncated), 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("truncated"),
        "{problem}"
    );
}

#[test]
fn another_content_type_is_415() {
    let acd = Acd::start();
    expect_problem(
        upload(&acd, "hold", "application/octet-stream", pcm_wav(100)),
        415,
    );
    expect_problem(upload(&acd, "hold", "audio/mpeg", pcm_wav(100)), 415);
    let r = acd
        .request(Method::PUT, "/api/v1/prompts/hold")
        .body(pcm_wav(100))
        .send()
        .unwrap();
    expect_problem(r, 415);
}

#[test]
fn a_name_outside_the_rule_is_422_naming_it() {
    let acd = Acd::start();
    let problem = expect_problem(upload(&acd, "Hold-Music", "audio/wav", pcm_wav(100)), 422);
    assert_eq!(problem["errors"][0]["field"], "name");
    assert_eq!(problem["errors"][0]["rule"], "charset");
}

#[test]
fn an_upload_over_the_cap_is_413() {
    let acd = Acd::start();
    // Eleven minutes of 16-bit audio: past the ten-minute cap.
    let data = vec![0u8; 11 * 60 * 8_000 * 2];
    expect_problem(
        upload(&acd, "long", "audio/wav", wav(1, 1, 8_000, 16, &data)),
        413,
    );
    assert!(listed(&acd, "long").is_none());
}

#[test]
fn an_uploaded_prompt_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = pcm_wav(250);
    let first = Acd::builder().data_dir(dir.path()).start();
    assert_eq!(
        upload(&first, "jazz", "audio/wav", file.clone()).status(),
        201
    );
    assert!(first.stop().success());

    let second = Acd::builder().data_dir(dir.path()).start();
    assert_eq!(listed(&second, "jazz").unwrap()["duration_ms"], 250);
    let r = second.get("/api/v1/prompts/jazz");
    assert_eq!(r.bytes().unwrap().as_ref(), file.as_slice());
}

#[test]
fn a_queue_naming_an_unknown_prompt_is_422_naming_the_field() {
    let acd = Acd::start();
    let problem = expect_problem(
        acd.post(
            "/api/v1/queues",
            &json!({"name": "sales", "hold_audio": "jazz"}),
        ),
        422,
    );
    assert_eq!(problem["errors"][0]["field"], "hold_audio");
    assert_eq!(problem["errors"][0]["rule"], "exists");
    let problem = expect_problem(
        acd.post(
            "/api/v1/queues",
            &json!({"name": "sales", "welcome_prompt": "hello"}),
        ),
        422,
    );
    assert_eq!(problem["errors"][0]["field"], "welcome_prompt");
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "sales"})));
    let problem = expect_problem(
        acd.patch(
            &format!("/api/v1/queues/{}", queue["id"]),
            &json!({"announce_interval_seconds": 5}),
        ),
        422,
    );
    assert_eq!(problem["errors"][0]["field"], "announce_interval_seconds");
    assert_eq!(problem["errors"][0]["rule"], "range");
}

#[test]
fn queue_audio_settings_default_and_round_trip() {
    let acd = Acd::start();
    let plain = json_body(acd.post("/api/v1/queues", &json!({"name": "plain"})));
    assert_eq!(plain["welcome_prompt"], "welcome");
    assert_eq!(plain["hold_audio"], "moh");
    assert_eq!(plain["announce_position"], false);
    assert_eq!(plain["announce_interval_seconds"], 30);

    assert_eq!(
        upload(&acd, "jazz", "audio/wav", pcm_wav(300)).status(),
        201
    );
    let settings = json!({
        "name": "sales",
        "welcome_prompt": null,
        "hold_audio": "jazz",
        "announce_position": true,
        "announce_interval_seconds": 45
    });
    let r = acd.post("/api/v1/queues", &settings);
    assert_eq!(r.status(), 201);
    let id = json_body(r)["id"].clone();
    let got = json_body(acd.get(&format!("/api/v1/queues/{id}")));
    for key in [
        "welcome_prompt",
        "hold_audio",
        "announce_position",
        "announce_interval_seconds",
    ] {
        assert_eq!(got[key], settings[key], "{key}");
    }
    // In use: the upload cannot be deleted until the queue plays something else.
    expect_problem(acd.delete("/api/v1/prompts/jazz"), 409);
    let patched = json_body(acd.patch(
        &format!("/api/v1/queues/{id}"),
        &json!({"hold_audio": "ringback", "welcome_prompt": "welcome"}),
    ));
    assert_eq!(patched["hold_audio"], "ringback");
    assert_eq!(patched["welcome_prompt"], "welcome");
    assert_eq!(patched["announce_interval_seconds"], 45);
    assert_eq!(acd.delete("/api/v1/prompts/jazz").status(), 204);
}
