//! Recording a large run's entitlements into the ledger: rows per second, SQLite and PostgreSQL.
//!
//! `cargo bench -p huiqi-ledger --bench record [-- ROWS]` (default 1,000,000). The run is
//! synthesised with the shape of `huiqi run` output (18-character credit codes, Chinese clause
//! and tranche names, amounts in 分), one non-zero entitlement per firm. PostgreSQL at
//! `$HUIQI_TEST_PG` or postgres://postgres@127.0.0.1:5432/test (skipped if unreachable).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use huiqi_ledger::{Ctx, Db, Ledger, ResultRow, RunInput};

const CLAUSES: [(&str, &str); 6] = [
    ("研发费用补助", ""),
    ("贷款贴息补助", ""),
    ("高企认定奖励", "首次认定"),
    ("高企认定奖励", "重新认定"),
    ("小升规奖励", "首次入规"),
    ("瞪羚企业奖励", ""),
];

fn input(n: usize) -> RunInput {
    let rows: Vec<ResultRow> = (0..n)
        .map(|i| {
            let (c, t) = CLAUSES[i % CLAUSES.len()];
            ResultRow {
                firm_id: format!("91330200{i:09}X"),
                clause: c.into(),
                tranche: t.into(),
                fen: 100_000 + (i as i64 * 7919) % 10_000_000,
            }
        })
        .collect();
    RunInput {
        run_id: format!("bench{n:011}"),
        manifest: format!("{{\"bench\": {n}}}"),
        period: 2023,
        policy_name: "bench".into(),
        policy_hash: "0".repeat(64),
        snapshot_hash: "0".repeat(64),
        engine_version: "bench".into(),
        results_sha256: "0".repeat(64),
        clauses: CLAUSES
            .iter()
            .map(|c| c.0.to_string())
            .collect::<BTreeSet<_>>(),
        names: HashMap::new(),
        rows,
        ..Default::default()
    }
}

async fn bench(label: &str, target: &str, run: &RunInput) {
    let mut l = Ledger::open_or_create(target).await.unwrap();
    let ctx = Ctx {
        actor: "bench".into(),
        at: "2024-02-01T00:00:00Z".into(),
    };
    let t = Instant::now();
    let s = l.record(&ctx, run).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(s.new as usize, run.rows.len());
    println!(
        "{label:<10} record {:>9} entitlements in {secs:>7.2} s = {:>9.0} rows/s",
        run.rows.len(),
        run.rows.len() as f64 / secs
    );
    // Recording it again (a no-op) and a rerun with identical figures (compares every row).
    let t = Instant::now();
    assert!(l.record(&ctx, run).await.unwrap().already);
    let again = t.elapsed().as_secs_f64();
    let mut re = run.clone();
    re.run_id = format!("{}-re", run.run_id);
    let t = Instant::now();
    let s = l.record(&ctx, &re).await.unwrap();
    assert_eq!(s.unchanged as usize, run.rows.len());
    println!(
        "{label:<10} same run again {again:.3} s; identical rerun (compare only) {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    assert!(l.verify().await.unwrap().ok());
    println!("{label:<10} verify {:.2} s", t.elapsed().as_secs_f64());
    // One step over every line (each line checked against the audit chain first).
    let all = huiqi_ledger::Selection {
        all: true,
        ..Default::default()
    };
    let t = Instant::now();
    let n = l
        .apply(&ctx, &all, &huiqi_ledger::Action::Approve)
        .await
        .unwrap()
        .len();
    assert_eq!(n, run.rows.len());
    println!(
        "{label:<10} approve all {n} lines {:.2} s",
        t.elapsed().as_secs_f64()
    );
    l.close().await;
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let run = input(n);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("huiqi-ledger-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        bench("sqlite", dir.join("l.sqlite").to_str().unwrap(), &run).await;
        let _ = std::fs::remove_dir_all(&dir);
        let admin = std::env::var("HUIQI_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match Db::open(&admin).await {
            Ok(mut db) => {
                let name = format!("huiqi_bench_{}", std::process::id());
                db.batch(&format!("CREATE DATABASE {name}")).await.unwrap();
                let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
                bench("postgres", &url, &run).await;
                db.batch(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await
                    .unwrap();
                db.close().await;
            }
            Err(e) => println!("postgres   skipped: {e}"),
        }
    });
}
