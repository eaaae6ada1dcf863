//! Agent list search over 100,000 agents (issue 2 goal: p99 < 10 ms).
//!
//! Criterion measures typical query shapes one by one; before that, a mixed run of random
//! queries records every latency in an HDR histogram and prints p50/p99/max, because the goal
//! is a percentile and criterion reports means.

use acd_engine::admin::{Admin, AgentQuery, SortKey, SortOrder, StatusFilter};
use acd_engine::model::{AgentProfile, CreateAgent};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const AGENTS: usize = 100_000;
const FIRST: &[&str] = &[
    "Anna", "Anders", "Åsa", "Björn", "Bo", "Carla", "Chloé", "David", "Eva", "Émile", "Fatima",
    "Gustav", "Hanna", "Ingrid", "Jean-Luc", "Karin", "Lars", "Maria", "Nils", "Olivia", "Per",
    "Quentin", "Rosa", "Sven", "Tove", "Ulf", "Vera", "Wei", "Yusuf", "Zoë",
];
const LAST: &[&str] = &[
    "Andersson",
    "Berg",
    "Carlsson",
    "D'Arcy",
    "Eriksson",
    "Fischer",
    "García",
    "Hansen",
    "Ivanov",
    "Johansson",
    "Karlsson",
    "Lindqvist",
    "Müller",
    "Nguyen",
    "O'Neil",
    "Persson",
    "Quinn",
    "Rossi",
    "Svensson",
    "Tanaka",
    "Ulriksen",
    "Virtanen",
    "Wang",
    "Xu",
    "Young",
    "Zhang",
];
const TZ: &[&str] = &[
    "UTC",
    "Europe/Stockholm",
    "Europe/London",
    "Australia/Sydney",
    "America/New_York",
];

fn populate() -> Admin {
    let admin = Admin::in_memory_for_tests();
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for i in 0..AGENTS {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let input = CreateAgent {
            username: format!(
                "{}.{}{}",
                first
                    .to_ascii_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), ""),
                last.to_ascii_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), ""),
                i
            ),
            sip_password: Some("benchmark-sip".into()),
            profile: AgentProfile {
                first_name: first.into(),
                last_name: last.into(),
                cli: (i % 3 == 0).then(|| format!("+46800{:04}", i % 50)),
                timezone: TZ[i % TZ.len()].into(),
                login_enabled: i % 10 != 0,
                ..AgentProfile::default()
            },
            ..CreateAgent::default()
        };
        admin.create_agent(input).expect("valid agent");
    }
    admin
}

fn shapes() -> Vec<(&'static str, AgentQuery)> {
    let base = AgentQuery::default();
    vec![
        ("list_first_page_by_id", base.clone()),
        (
            "quick_q_id_fragment",
            AgentQuery {
                q: Some("4242".into()),
                ..base.clone()
            },
        ),
        (
            "quick_q_username_fragment",
            AgentQuery {
                q: Some("berg".into()),
                ..base.clone()
            },
        ),
        (
            "advanced_first_last_prefix",
            AgentQuery {
                first_name: Some("an".into()),
                last_name: Some("b".into()),
                ..base.clone()
            },
        ),
        (
            "advanced_status_inactive_exact_cli",
            AgentQuery {
                cli: Some("+468000007".into()),
                status: StatusFilter::Inactive,
                ..base.clone()
            },
        ),
        (
            "all_sorted_by_last_name_first_page",
            AgentQuery {
                sort: SortKey::LastName,
                ..base.clone()
            },
        ),
        (
            "all_sorted_by_username_desc_deep_page",
            AgentQuery {
                sort: SortKey::Username,
                order: SortOrder::Desc,
                offset: 50_000,
                ..base.clone()
            },
        ),
    ]
}

fn prefix(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

fn random_query(rng: &mut ChaCha8Rng) -> AgentQuery {
    let sorts = [
        SortKey::Id,
        SortKey::Username,
        SortKey::FirstName,
        SortKey::LastName,
        SortKey::Cli,
        SortKey::Timezone,
    ];
    let mut q = AgentQuery {
        sort: sorts[rng.gen_range(0..sorts.len())],
        order: if rng.gen() {
            SortOrder::Asc
        } else {
            SortOrder::Desc
        },
        offset: if rng.gen_bool(0.2) {
            rng.gen_range(0..AGENTS)
        } else {
            0
        },
        limit: [10, 50, 100][rng.gen_range(0..3)],
        ..AgentQuery::default()
    };
    match rng.gen_range(0..4) {
        0 => q.q = Some(rng.gen_range(10..AGENTS).to_string()[..2].to_owned()),
        1 => q.first_name = Some(prefix(FIRST[rng.gen_range(0..FIRST.len())], 1).to_lowercase()),
        2 => {
            q.last_name = Some(prefix(LAST[rng.gen_range(0..LAST.len())], 2));
            q.status = StatusFilter::Active;
        }
        _ => {}
    }
    q
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let admin = populate();
    println!("populated {AGENTS} agents in {:.2?}", t.elapsed());

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..2_000 {
        let q = random_query(&mut rng);
        let t = Instant::now();
        black_box(admin.search_agents(&q).expect("valid query"));
        hist.record(t.elapsed().as_micros() as u64)
            .expect("in range");
    }
    println!(
        "mixed random queries over {AGENTS} agents (n=2000): p50 {} µs, p99 {} µs, max {} µs",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max()
    );

    let mut g = c.benchmark_group("admin_search_100k");
    for (name, q) in shapes() {
        g.bench_function(name, |b| b.iter(|| admin.search_agents(black_box(&q))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
