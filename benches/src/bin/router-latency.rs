//! Routing-core latency and throughput report: decisions per second on one core and
//! p50/p99/p99.9 decision latency from an hdrhistogram, at 1k/10k/100k agents.
//!
//! Run: `cargo run --release -p acd-benches --bin router-latency [steps] [agents,queues ...]`
//!
//! Throughput is given twice: per wall-clock second, and per second of CPU time this thread
//! actually ran (from /proc/thread-self/stat), because the shared 2-core build VM preempts us.

use acd_benches::router_fixture::RouterLoad;
use hdrhistogram::Histogram;
use std::time::Instant;

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "{:>8} {:>7} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "agents",
        "queues",
        "dec/s wall",
        "dec/s cpu",
        "arr p50",
        "arr p99",
        "arr p999",
        "cmp p99",
        "max ns",
        "offers"
    );
    let mut sizes: Vec<(usize, usize)> = std::env::args()
        .skip(2)
        .filter_map(|a| {
            let (x, y) = a.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect();
    if sizes.is_empty() {
        sizes = vec![
            (1_000, 1_000),
            (10_000, 1_000),
            (100_000, 1_000),
            (10_000, 100),
            (10_000, 10_000),
        ];
    }
    for &(agents, queues) in &sizes {
        let mut load = RouterLoad::new(agents, queues, 42);

        // Throughput: untimed steps, one clock read around the whole run.
        let offers_before = load.router.offers_made();
        let decisions_before = load.arrivals + load.completions;
        let t = Instant::now();
        let cpu0 = thread_cpu_secs();
        for _ in 0..steps {
            load.step();
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = thread_cpu_secs() - cpu0;
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
            "{:>8} {:>7} {:>12.0} {:>12.0} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
            agents,
            queues,
            decisions / secs,
            decisions / cpu,
            arr.value_at_quantile(0.50),
            arr.value_at_quantile(0.99),
            arr.value_at_quantile(0.999),
            cmp.value_at_quantile(0.99),
            arr.max().max(cmp.max()),
            offers,
        );
    }
}

/// CPU time (user + system) this thread has run, in seconds; clock-tick resolution.
fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}
