//! Admin API load: durable create throughput and GET latency at a fixed rate.
//!
//! Owns: the two admin scenarios and their reports. Does not own: starting the server (run
//! `acd serve` yourself; see docs/performance.md).

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Common connection options.
#[derive(clap::Args, Clone)]
pub(crate) struct Target {
    /// Admin API base URL (must be on 127.0.0.1 or localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token.
    #[arg(long, env = "ACD_ADMIN_TOKEN")]
    token: String,
}

/// `admin-create` options.
#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Agents to create in total (at most 1,000,000).
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Also set a password on each agent (argon2id hashing on the server).
    #[arg(long)]
    with_password: bool,
}

/// `admin-get` options.
#[derive(clap::Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// Path to GET, e.g. /api/v1/agents/1.
    #[arg(long, default_value = "/api/v1/agents/1")]
    path: String,
    /// Requests per second.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Seconds to run (at most 600).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Most requests in flight at once.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Seconds of warm-up at the same rate, not recorded.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

fn check_local(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host != "127.0.0.1" && host != "localhost" {
        bail!("load is only sent to 127.0.0.1 or localhost, not {host}");
    }
    Ok(())
}

fn client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(clients.max(1))
        .timeout(Duration::from_secs(30))
        .build()?)
}

fn report(name: &str, hist: &Histogram<u64>, count: u64, errors: u64, elapsed: Duration) {
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name}: {count} ok, {errors} errors in {:.2}s = {:.0}/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1000.0
    );
}

/// Closed loop: each client creates agents back to back; every 201 was acknowledged only
/// after the store flushed it.
pub(crate) async fn create(args: CreateArgs) -> anyhow::Result<()> {
    check_local(&args.target.url)?;
    if args.count > 1_000_000 {
        bail!("--count is capped at 1,000,000");
    }
    let http = client(args.clients)?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        % 1_000_000_000;
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let url = format!("{}/api/v1/agents", args.target.url);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (http, next, errors, hist, url) = (
            http.clone(),
            next.clone(),
            errors.clone(),
            hist.clone(),
            url.clone(),
        );
        let token = args.target.token.clone();
        let (count, with_password) = (args.count, args.with_password);
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let mut body = serde_json::json!({
                    "username": format!("lg{run}_{i}"),
                    "first_name": "Load",
                    "last_name": format!("Agent{i}"),
                });
                if with_password {
                    body["password"] = "Lo4d-Gen-Pass".into();
                }
                let t0 = Instant::now();
                let ok = match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => true,
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("create failed: {status} {text}");
                        }
                        false
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("create failed: {e}");
                        }
                        false
                    }
                };
                if ok {
                    let _ = local.record(t0.elapsed().as_micros() as u64);
                }
            }
            hist.lock().await.add(&local).ok();
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed();
    let hist = hist.lock().await;
    report(
        &format!("admin-create clients={}", args.clients),
        &hist,
        hist.len(),
        errors.load(Ordering::Relaxed),
        elapsed,
    );
    Ok(())
}

/// Open loop: requests are scheduled every 1/rate seconds whatever the server does, and each
/// latency is measured from its scheduled time, so a stall shows up in the percentiles
/// (no coordinated omission).
pub(crate) async fn get(args: GetArgs) -> anyhow::Result<()> {
    check_local(&args.target.url)?;
    if args.seconds > 600 || args.warmup > 600 {
        bail!("--seconds and --warmup are capped at 600");
    }
    if args.rate == 0 || args.rate > 100_000 {
        bail!("--rate must be 1 to 100,000");
    }
    let http = client(args.max_in_flight)?;
    let url = format!("{}{}", args.target.url, args.path);
    let probe = http
        .get(&url)
        .bearer_auth(&args.target.token)
        .send()
        .await?;
    if !probe.status().is_success() {
        bail!(
            "GET {url} returned {}; create the resource first",
            probe.status()
        );
    }
    let interval = Duration::from_nanos(1_000_000_000 / args.rate);
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight));
    let hist = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let errors = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let record_from = start + Duration::from_secs(args.warmup);
    let end = record_from + Duration::from_secs(args.seconds);
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::new();
    loop {
        let scheduled = ticker.tick().await;
        if scheduled >= end {
            break;
        }
        let record = scheduled >= record_from;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if record {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let (http, url, token, hist, errors) = (
            http.clone(),
            url.clone(),
            args.target.token.clone(),
            hist.clone(),
            errors.clone(),
        );
        handles.push(tokio::spawn(async move {
            let ok = match http.get(&url).bearer_auth(&token).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            let latency = scheduled.elapsed();
            drop(permit);
            if !record {
                return;
            }
            if ok {
                let _ = hist.lock().unwrap().record(latency.as_micros() as u64);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
        if handles.len() >= 4096 {
            handles.retain(|h| !h.is_finished());
        }
    }
    for h in handles {
        let _ = h.await;
    }
    let hist = hist.lock().unwrap();
    report(
        &format!("admin-get rate={}/s path={}", args.rate, args.path),
        &hist,
        hist.len(),
        errors.load(Ordering::Relaxed),
        Duration::from_secs(args.seconds),
    );
    println!(
        "not sent (more than {} in flight): {}",
        args.max_in_flight,
        dropped.load(Ordering::Relaxed)
    );
    Ok(())
}
