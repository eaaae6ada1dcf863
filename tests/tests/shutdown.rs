//! SIGTERM lets a request that is already in flight finish, and what it wrote is durable.

use acd_tests::{json_body, Acd};
use serde_json::json;
use std::io::Read;
use std::sync::mpsc;

/// A request body that arrives in pieces, telling the test when the first piece went out.
struct SlowBody {
    chunks: Vec<Vec<u8>>,
    started: Option<mpsc::Sender<()>>,
    resume: Option<mpsc::Receiver<()>>,
}

impl Read for SlowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunks.is_empty() {
            return Ok(0);
        }
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        } else if self.chunks.len() == 1 {
            // Hold the last piece until the test has sent SIGTERM.
            if let Some(resume) = self.resume.take() {
                let _ = resume.recv();
            }
        }
        let chunk = &mut self.chunks[0];
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.remove(0);
        }
        Ok(n)
    }
}

#[test]
fn request_in_flight_at_sigterm_completes_and_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let acd = Acd::builder().data_dir(dir.path()).start();
    let agent = json_body(acd.post(
        "/api/v1/agents",
        &json!({"username": "slow", "first_name": "Slo", "last_name": "W"}),
    ));
    let url = acd.url(&format!("/api/v1/agents/{}/avatar", agent["id"]));
    let token = acd.token.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel();
    let png = b"\x89PNG\r\n\x1a\n".to_vec();
    let body = SlowBody {
        chunks: vec![png, vec![0; 4096], vec![0; 4096]],
        started: Some(started_tx),
        resume: Some(resume_rx),
    };
    let upload = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .put(url)
            .bearer_auth(token)
            .body(reqwest::blocking::Body::sized(body, 8 + 8192))
            .send()
            .map(|r| r.status().as_u16())
    });
    started_rx.recv().unwrap();
    // The client has handed over the head and the first chunk; give the server a moment to
    // read them, so SIGTERM finds a request in flight rather than a connection it has not read
    // yet (graceful shutdown closes those, which is right for an idle connection).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = acd.stderr_path();
    let stopper = std::thread::spawn(move || acd.stop());
    // Release the rest of the body only once the server has begun shutting down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("shutting down")
    {
        assert!(std::time::Instant::now() < deadline, "no shutdown log line");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    resume_tx.send(()).unwrap();
    assert_eq!(upload.join().unwrap().unwrap(), 200);
    assert!(stopper.join().unwrap().success());

    let again = Acd::builder().data_dir(dir.path()).start();
    let r = again.get(&format!("/api/v1/agents/{}/avatar", agent["id"]));
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().len(), 8 + 8192);
}
