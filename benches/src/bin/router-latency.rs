//! Routing-core latency and throughput report: decisions per second on one core and
//! p50/p99/p99.9 decision latency from an hdrhistogram, at 1k/10k/100k agents.
//!
//! Run: `cargo run --release -p acd-benches --bin router-latency [steps]`

use acd_benches::router_fixture::RouterLoad;
use hdrhistogram::Histogram;
use std::time::Instant;

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "{:>8} {:>7} {:>14} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "agents",
        "queues",
        "decisions/s",
        "arr p50",
        "arr p99",
        "arr p999",
        "cmp p99",
        "max ns",
        "offers"
    );
    for &(agents, queues) in &[
        (1_000, 1_000),
        (10_000, 1_000),
        (100_000, 1_000),
        (10_000, 100),
        (10_000, 10_000),
    ] {
        let mut load = RouterLoad::new(agents, queues, 42);

        // Throughput: untimed steps, one clock read around the whole run.
        let offers_before = load.router.offers_made();
        let decisions_before = load.arrivals + load.completions;
        let t = Instant::now();
        for _ in 0..steps {
            load.step();
        }
        let secs = t.elapsed().as_secs_f64();
        let decisions = (load.arrivals + load.completions - decisions_before) as f64;
        let offers = load.router.offers_made() - offers_before;

        // Latency: each decision (handle_arrival / handle_completed) timed alone.
        let mut arr = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
        let mut cmp = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
        for _ in 0..steps.min(1_000_000) {
            load.tick();
            if let Some(done) = load.next_completion() {
                let now = load.now();
                let t = Instant::now();
                load.router.handle_completed(now, done).expect("answered");
                cmp.record(t.elapsed().as_nanos() as u64).ok();
                load.settle();
            }
            let a = load.next_arrival();
            let now = load.now();
            let t = Instant::now();
            load.router.handle_arrival(now, a).expect("valid");
            arr.record(t.elapsed().as_nanos() as u64).ok();
            load.settle();
        }
        println!(
            "{:>8} {:>7} {:>14.0} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
            agents,
            queues,
            decisions / secs,
            arr.value_at_quantile(0.50),
            arr.value_at_quantile(0.99),
            arr.value_at_quantile(0.999),
            cmp.value_at_quantile(0.99),
            arr.max().max(cmp.max()),
            offers,
        );
    }
}
