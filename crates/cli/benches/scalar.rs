//! Scalar evaluator micro-benchmark: one firm across the whole seed pack (every clause, then the
//! allocation stage), with and without explanations. Prints its figures; asserts nothing.
//!
//!     cargo bench -p huiqi-cli --bench scalar
//!
//! Anchor (docs/domain.md): zen-engine takes ~4 µs for one small decision table; the brief
//! targets well under 50 µs for one firm across the whole pack.

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use huiqi_data::firmfile;
use huiqi_eval::evaluate_population;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let loaded = huiqi_lang::load_pack(&root.join("policies/ningbo"))
        .unwrap_or_else(|_| panic!("the seed pack does not check"));
    let p = &loaded.program;
    let mut firms = vec![];
    let mut dir: Vec<_> = std::fs::read_dir(root.join("examples/firms"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dir.sort();
    for f in &dir {
        let text = std::fs::read_to_string(f).unwrap();
        firms.push((
            f.file_name().unwrap().to_string_lossy().into_owned(),
            firmfile::parse_firm(p, &text, f.extension().is_some_and(|x| x == "json")).unwrap(),
        ));
    }
    // The test firms too: they exercise every clause shape.
    for t in &p.tests {
        for f in &t.firms {
            firms.push((format!("test:{}", t.name), f.clone()));
        }
    }
    let year = 2023;
    println!(
        "pack {} ({} clauses), {} firms, period {year}",
        p.policy.name,
        p.clauses.len(),
        firms.len()
    );
    for (label, explain) in [("amounts only", false), ("with explanations", true)] {
        let iters = if explain { 2_000 } else { 20_000 };
        // Warm up.
        for (_, f) in firms.iter().take(5) {
            black_box(evaluate_population(
                p,
                std::slice::from_ref(f),
                year,
                explain,
            ));
        }
        let mut per_firm = vec![];
        for (_, f) in &firms {
            let n = iters / 20;
            let t0 = Instant::now();
            for _ in 0..n {
                black_box(evaluate_population(
                    p,
                    black_box(std::slice::from_ref(f)),
                    year,
                    explain,
                ));
            }
            per_firm.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        per_firm.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mean = per_firm.iter().sum::<f64>() / per_firm.len() as f64;
        let median = per_firm[per_firm.len() / 2];
        let max = per_firm[per_firm.len() - 1];
        println!(
            "scalar, {label:18}: one firm × whole pack: mean {mean:.2} µs, median {median:.2} µs, max {max:.2} µs  ({:.0} firms/s/core)  target < 50 µs",
            1e6 / mean
        );
    }
    // What `POST /api/v1/calculate` and a firm's check do per request: the explanation, then
    // its typed JSON serialised to bytes — each part timed apart.
    let n = 2_000;
    let (mut t_explain, mut t_json, mut bytes) = (0.0, 0.0, 0usize);
    for (_, f) in &firms {
        for _ in 0..n / 20 {
            let t0 = Instant::now();
            let e = huiqi::explain::explain(p, black_box(f.clone()), Some(year), None).unwrap();
            let t1 = Instant::now();
            let body = serde_json::to_vec(&e.json_typed()).unwrap();
            t_explain += (t1 - t0).as_secs_f64();
            t_json += t1.elapsed().as_secs_f64();
            bytes += body.len();
            black_box(body);
        }
    }
    let k = (firms.len() * (n / 20)) as f64;
    println!(
        "explain + JSON (one request's work): explain {:.2} µs, typed JSON to bytes {:.2} µs, {:.0} bytes a firm",
        t_explain * 1e6 / k,
        t_json * 1e6 / k,
        bytes as f64 / k
    );
}
