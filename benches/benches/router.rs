//! Criterion bench of the routing core: steady-state steps (one completion that frees an agent
//! and re-matches, one arrival that matches and offers, the accept) at several centre sizes.

use acd_benches::router_fixture::RouterLoad;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn router(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_step");
    // One step = two routing decisions (completion + arrival).
    g.throughput(Throughput::Elements(2));
    for &(agents, queues) in &[
        (1_000, 1_000),
        (10_000, 1_000),
        (100_000, 1_000),
        (10_000, 10_000),
    ] {
        let mut load = RouterLoad::new(agents, queues, 42);
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{agents}a_{queues}q")),
            &(),
            |b, _| b.iter(|| load.step()),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("router_arrival");
    g.throughput(Throughput::Elements(1));
    // Setup and routine both drive the same workload, one after the other.
    let load = std::cell::RefCell::new(RouterLoad::new(10_000, 1_000, 7));
    g.bench_function("10000a_1000q", |b| {
        b.iter_batched(
            || {
                let mut load = load.borrow_mut();
                load.tick();
                if let Some(done) = load.next_completion() {
                    let now = load.now();
                    load.router.handle_completed(now, done).unwrap();
                }
                load.settle();
                load.next_arrival()
            },
            |arr| {
                let mut load = load.borrow_mut();
                let now = load.now();
                load.router.handle_arrival(now, arr).unwrap();
                load.settle();
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);
