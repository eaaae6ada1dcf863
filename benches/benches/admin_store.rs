//! Durable agent creation through `Admin` on a sled data dir (issue 2 goal: ≥ 1,000 creates/s).
//!
//! Every create returns only after the store flushed (fsync). Concurrent creators share
//! fsyncs through the store's group commit, so throughput grows with concurrency. Prints
//! creates/s and per-create latency percentiles for 1, 4, 16 and 64 concurrent creators,
//! without a password and with one (argon2id at the production cost).

use acd_engine::admin::{Admin, AdminOptions, HashCost};
use acd_engine::model::{AgentProfile, CreateAgent};
use acd_engine::store::SledStore;
use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn run(threads: usize, per_thread: usize, password: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open store");
    let admin = Arc::new(
        Admin::open(
            Arc::new(store),
            AdminOptions {
                hash_cost: HashCost::default(),
                rng_seed: None,
            },
        )
        .expect("open admin"),
    );
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let admin = admin.clone();
            let hist = hist.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let input = CreateAgent {
                        username: format!("agent{th}x{i}"),
                        password: password.then(|| "Bench-Passw0rd!".to_owned()),
                        sip_password: Some("bench-sip-pw".into()),
                        profile: AgentProfile {
                            first_name: "Bench".into(),
                            last_name: "Agent".into(),
                            ..AgentProfile::default()
                        },
                        ..CreateAgent::default()
                    };
                    let t = Instant::now();
                    admin.create_agent(input).expect("create");
                    let us = t.elapsed().as_micros() as u64;
                    hist.lock().expect("hist").record(us).expect("in range");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let elapsed = t.elapsed();
    let n = threads * per_thread;
    let h = hist.lock().expect("hist");
    println!(
        "durable create, {threads:>2} concurrent, password={password:<5}: {n:>5} creates in {:>6.2?} = {:>6.0}/s; latency p50 {} µs, p99 {} µs",
        elapsed,
        n as f64 / elapsed.as_secs_f64(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
    );
}

fn main() {
    for threads in [1, 4, 16, 64] {
        run(threads, 2_000 / threads.min(8), false);
    }
    run(16, 25, true);
}
