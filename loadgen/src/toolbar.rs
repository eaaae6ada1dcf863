//! `toolbar-ingest`: durable chat ingest rate, and ingest → offer-pushed latency with many
//! agents connected over WebSocket.
//!
//! Setup (not measured): one chat queue, N agents (capacity `--chat-capacity` chats each, so
//! every interaction is offered without anyone completing), each logged in (first login plus
//! the forced password change) with its own WebSocket. Then `--interactions` chats are POSTed
//! by `--clients` closed-loop clients. The idempotency key travels in the customer subject, so
//! an offer is matched to its send time even when it arrives before the 201. Blocking threads
//! throughout: one per WebSocket and one per client, bounded by the arguments.

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

/// Arguments of `toolbar-ingest`.
#[derive(clap::Args, Debug)]
pub(crate) struct IngestArgs {
    /// Admin API base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    admin: String,
    /// Engine API base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    engine: String,
    /// Admin bearer token (also the ingest token).
    #[arg(long, env = "ACD_ADMIN_TOKEN")]
    token: String,
    /// Agents to create, log in and connect.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Chats each agent may hold.
    #[arg(long, default_value_t = 5)]
    chat_capacity: u8,
    /// Chats to ingest (at most agents × capacity, so every one is offered).
    #[arg(long, default_value_t = 5000)]
    interactions: usize,
    /// Concurrent ingest clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Threads used for the (argon2-heavy) agent setup.
    #[arg(long, default_value_t = 8)]
    setup_threads: usize,
    /// Prefix for usernames and keys, so runs against one server do not clash.
    #[arg(long, default_value = "lg")]
    prefix: String,
}

fn loopback(url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
        bail!("{url}: acd-loadgen only sends traffic to 127.0.0.1");
    }
    Ok(())
}

const FIRST: &str = "Loadgen-first1";
const SECOND: &str = "Loadgen-second2";

pub(crate) fn run(a: IngestArgs) -> anyhow::Result<()> {
    loopback(&a.admin)?;
    loopback(&a.engine)?;
    if a.interactions > a.agents * usize::from(a.chat_capacity) {
        bail!("--interactions must be at most --agents × --chat-capacity");
    }
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(a.clients.max(a.setup_threads))
        .build()?;
    let q: Value = http
        .post(format!("{}/api/v1/queues", a.admin))
        .bearer_auth(&a.token)
        .json(&json!({"name": format!("{}-chat", a.prefix), "channel": "chat", "ring_timeout_seconds": 600}))
        .send()?
        .error_for_status()
        .context("create queue")?
        .json()?;
    let queue = q["id"].as_u64().context("queue id")?;

    let started = Instant::now();
    let next = AtomicU64::new(0);
    let tokens = Mutex::new(Vec::with_capacity(a.agents));
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut hs = Vec::new();
        for _ in 0..a.setup_threads {
            hs.push(s.spawn(|| -> anyhow::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= a.agents {
                        return Ok(());
                    }
                    let t = setup_agent(&http, &a, queue, i)?;
                    tokens.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                }
            }));
        }
        for h in hs {
            h.join()
                .map_err(|_| anyhow::anyhow!("setup thread panicked"))??;
        }
        Ok(())
    })?;
    let tokens = tokens.into_inner().unwrap_or_default();
    eprintln!(
        "setup: {} agents logged in in {:.1}s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );

    // key -> send instant; offers look their key up here.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let offers = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let received = Arc::new(AtomicU64::new(0));
    let host = a.engine.trim_start_matches("http://").to_owned();
    let mut sockets = Vec::new();
    for t in &tokens {
        let url = format!("ws://{host}/api/v1/toolbar/events?token={t}");
        let (mut ws, _) = tungstenite::connect(url).context("websocket connect")?;
        if let MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
        }
        sockets.push(ws);
    }
    eprintln!("{} websockets connected", sockets.len());
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let (sent, offers, received) = (sent.clone(), offers.clone(), received.clone());
            std::thread::spawn(move || {
                while let Ok(m) = ws.read() {
                    let Message::Text(t) = m else { continue };
                    let now = Instant::now();
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                        continue;
                    };
                    if v["type"] != "offer" {
                        continue;
                    }
                    let key = v["customer"]["subject"].as_str().unwrap_or("").to_owned();
                    // The sender records the key before sending, so it is there.
                    let at = sent
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&key)
                        .copied();
                    if let Some(at) = at {
                        let us = now.duration_since(at).as_micros() as u64;
                        let _ = offers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .record(us.max(1));
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let ingest_lat = Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?);
    let next = AtomicU64::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut hs = Vec::new();
        for _ in 0..a.clients {
            hs.push(s.spawn(|| -> anyhow::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= a.interactions {
                        return Ok(());
                    }
                    let key = format!("{}-{i}-{}", a.prefix, t0.elapsed().as_nanos());
                    let body = json!({
                        "channel": "chat", "queue": queue, "idempotency_key": key,
                        "customer": {"name": "Load Gen", "subject": key}
                    });
                    let at = Instant::now();
                    sent.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), at);
                    let r = http
                        .post(format!("{}/api/v1/interactions", a.engine))
                        .bearer_auth(&a.token)
                        .json(&body)
                        .send()?;
                    if r.status().as_u16() != 201 {
                        bail!(
                            "ingest answered {}: {}",
                            r.status(),
                            r.text().unwrap_or_default()
                        );
                    }
                    let us = at.elapsed().as_micros() as u64;
                    let _ = ingest_lat
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(us.max(1));
                }
            }));
        }
        for h in hs {
            h.join()
                .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
        }
        Ok(())
    })?;
    let elapsed = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (received.load(Ordering::Relaxed) as usize) < a.interactions && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ing = ingest_lat.into_inner().unwrap_or_else(|e| e.into_inner());
    let off = offers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "toolbar-ingest: {} chats, {} clients, {} agents connected",
        a.interactions,
        a.clients,
        tokens.len()
    );
    println!(
        "durable ingest: {:.0}/s ({} in {:.2}s); 201 latency p50 {} us, p99 {} us, max {} us",
        a.interactions as f64 / elapsed.as_secs_f64(),
        a.interactions,
        elapsed.as_secs_f64(),
        ing.value_at_quantile(0.5),
        ing.value_at_quantile(0.99),
        ing.max()
    );
    println!(
        "ingest -> offer pushed: {} offers seen; p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        off.len(),
        off.value_at_quantile(0.5),
        off.value_at_quantile(0.99),
        off.value_at_quantile(0.999),
        off.max()
    );
    drop(readers);
    Ok(())
}

fn setup_agent(
    http: &reqwest::blocking::Client,
    a: &IngestArgs,
    queue: u64,
    i: usize,
) -> anyhow::Result<String> {
    let username = format!("{}{i}", a.prefix);
    let ag: Value = http
        .post(format!("{}/api/v1/agents", a.admin))
        .bearer_auth(&a.token)
        .json(&json!({
            "username": username, "first_name": "Load", "last_name": "Agent",
            "password": FIRST, "capacity": {"chat": a.chat_capacity}
        }))
        .send()?
        .error_for_status()
        .context("create agent")?
        .json()?;
    let id = ag["id"].as_u64().context("agent id")?;
    http.put(format!("{}/api/v1/queues/{queue}/members/{id}", a.admin))
        .bearer_auth(&a.token)
        .json(&json!({}))
        .send()?
        .error_for_status()
        .context("membership")?;
    let li: Value = http
        .post(format!("{}/api/v1/toolbar/login", a.engine))
        .json(&json!({"username": username, "password": FIRST}))
        .send()?
        .error_for_status()
        .context("login")?
        .json()?;
    let token = li["token"].as_str().context("token")?.to_owned();
    http.post(format!("{}/api/v1/toolbar/password", a.engine))
        .bearer_auth(&token)
        .json(&json!({"current_password": FIRST, "new_password": SECOND}))
        .send()?
        .error_for_status()
        .context("password change")?;
    Ok(token)
}
