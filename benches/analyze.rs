//! Rough timings of the SQL front end (no criterion: a plain harness so it builds anywhere):
//! normalise, analyse on a cache miss, a cache hit, and resolution against a small snapshot.
//! Run: `cargo bench --profile dev --bench analyze` (debug numbers; release is several times
//! faster).

use std::hint::black_box;
use std::time::Instant;

use trailmask::sql::{analyze_one, normalize, AnalysisCache};

const STATEMENTS: &[&str] = &[
    "SELECT abalance FROM pgbench_accounts WHERE aid = 48213",
    "UPDATE pgbench_accounts SET abalance = abalance + -2291 WHERE aid = 48213",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 48213, -2291, CURRENT_TIMESTAMP)",
    r#"SELECT "guests"."id", "guests"."name", "guests"."phone" FROM "guests" WHERE "guests"."id" = $1 LIMIT 21"#,
    "SELECT g.name, p.amount FROM guests g LEFT JOIN payments p ON g.id = p.guest_id WHERE g.id IN (1, 2, 3) ORDER BY g.name",
    "WITH x AS (SELECT upper(phone) p FROM guests) SELECT p FROM x",
];

fn time<F: FnMut(usize)>(label: &str, iters: usize, mut f: F) {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / iters as f64;
    println!("{label:<40} {per:>9.2} µs");
}

fn main() {
    let iters = 2_000;
    time("normalize (mean over corpus)", iters, |i| {
        black_box(normalize(STATEMENTS[i % STATEMENTS.len()]));
    });
    time("analyze, cache miss (parse + walk)", iters, |i| {
        black_box(analyze_one(STATEMENTS[i % STATEMENTS.len()]));
    });
    let cache = AnalysisCache::new(10_000);
    for s in STATEMENTS {
        cache.analyze_statement(s);
    }
    time("analyze, cache hit (normalise + lookup)", iters, |i| {
        black_box(cache.analyze_statement(STATEMENTS[i % STATEMENTS.len()]));
    });
    let varied: Vec<String> = (0..iters)
        .map(|i| format!("SELECT abalance FROM pgbench_accounts WHERE aid = {i}"))
        .collect();
    time("pgbench -M simple SELECT, new literal", iters, |i| {
        black_box(cache.analyze_statement(&varied[i]));
    });
    println!("cache hits {} misses {}", cache.hits(), cache.misses());
}
