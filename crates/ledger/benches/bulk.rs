//! Every bulk step of the workflow over a large run: rows per second, SQLite and PostgreSQL.
//!
//! `cargo bench -p huiqi-ledger --bench bulk [-- ROWS [sqlite|postgres]]` (default 200,000,
//! both backends). The run has the shape of `huiqi run` output (see `benches/record.rs`), with a
//! firm name per line so the `record` event carries them as a real run's does. Then, each timed
//! and each over every line: approve, announce, confirm, export (one payment batch), the
//! batch's paid file (one reference per line), recover, and `verify`. PostgreSQL at
//! `$HUIQI_TEST_PG` or postgres://postgres@127.0.0.1:5432/test (skipped if unreachable).
//! `HUIQI_SQL_PROFILE=1` adds each step's time per statement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Instant;

use huiqi_ledger::{
    Action, Ctx, Db, Ledger, PaidFile, PaymentLine, ResultRow, RunInput, Selection,
};

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
    let names = rows
        .iter()
        .map(|r| {
            (
                r.firm_id.clone(),
                format!("宁波测试企业{}有限公司", &r.firm_id[8..]),
            )
        })
        .collect();
    RunInput {
        run_id: format!("bulk{n:012}"),
        manifest: format!("{{\"bulk\": {n}}}"),
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
        names,
        rows,
        ..Default::default()
    }
}

fn ctx(at: &str) -> Ctx {
    Ctx {
        actor: "bench".into(),
        at: at.into(),
    }
}

fn show(label: &str, step: &str, n: usize, t: Instant) {
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{label:<9} {step:<22} {n:>9} lines {secs:>8.2} s {:>10.0} rows/s",
        n as f64 / secs
    );
}

async fn bench(label: &str, target: &str, run: &RunInput) {
    let n = run.rows.len();
    let all = Selection {
        all: true,
        ..Default::default()
    };
    let mut l = Ledger::open_or_create(target).await.unwrap();
    let t = Instant::now();
    assert_eq!(
        l.record(&ctx("2024-02-01T00:00:00+08:00"), run)
            .await
            .unwrap()
            .new as usize,
        n
    );
    show(label, "record", n, t);
    l.close().await;
    // Each step in a fresh process would open the ledger again: so does this.
    let steps: [(&str, &str, Action); 3] = [
        (
            "approve --all",
            "2024-02-10T00:00:00+08:00",
            Action::Approve,
        ),
        (
            "announce --all",
            "2024-03-01T00:00:00+08:00",
            Action::Announce {
                title: "bench".into(),
                opens: "2024-03-01T00:00:00+08:00".into(),
                closes: "2024-03-08T00:00:00+08:00".into(),
            },
        ),
        (
            "confirm --all",
            "2024-03-02T00:00:00+08:00",
            Action::Confirm,
        ),
    ];
    for (name, at, a) in steps {
        let mut l = Ledger::open(target).await.unwrap();
        let t = Instant::now();
        assert_eq!(l.apply(&ctx(at), &all, &a).await.unwrap().len(), n);
        show(label, name, n, t);
        l.close().await;
    }
    let mut l = Ledger::open(target).await.unwrap();
    let t = Instant::now();
    let b = l
        .export_batch(&ctx("2024-03-09T00:00:00+08:00"), &all)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.rows.len(), n);
    show(label, "export payments", n, t);
    l.close().await;
    let file = PaidFile {
        batch: Some(b.id),
        lines: b
            .rows
            .iter()
            .enumerate()
            .map(|(k, r)| PaymentLine {
                line: k + 2,
                item: r.line,
                reference: format!("PAY{:012}", r.line),
                fen: Some(r.fen),
                firm_id: Some(r.firm_id.clone()),
            })
            .collect(),
        bad: vec![],
    };
    let mut l = Ledger::open(target).await.unwrap();
    let t = Instant::now();
    let s = l
        .pay_batch(&ctx("2024-03-12T00:00:00+08:00"), &file, false)
        .await
        .unwrap();
    assert_eq!(s.paid as usize, n);
    show(label, "pay --file", n, t);
    l.close().await;
    let mut l = Ledger::open(target).await.unwrap();
    let t = Instant::now();
    let a = Action::Recover {
        reason: "bench".into(),
    };
    let moved = l
        .apply(&ctx("2024-04-01T00:00:00+08:00"), &all, &a)
        .await
        .unwrap();
    assert_eq!(moved.len(), n);
    show(label, "recover --all", n, t);
    let t = Instant::now();
    let v = l.verify().await.unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    show(label, "verify", n, t);
    l.close().await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let only = args
        .iter()
        .find(|a| *a == "sqlite" || *a == "postgres")
        .cloned();
    let run = input(n);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if only.as_deref() != Some("postgres") {
            let dir = std::env::temp_dir().join(format!("huiqi-bulk-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            bench("sqlite", dir.join("l.sqlite").to_str().unwrap(), &run).await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        if only.as_deref() == Some("sqlite") {
            return;
        }
        let admin = std::env::var("HUIQI_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match Db::open(&admin).await {
            Ok(mut db) => {
                let name = format!("huiqi_bulk_{}", std::process::id());
                db.batch(&format!("CREATE DATABASE {name}")).await.unwrap();
                let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
                bench("postgres", &url, &run).await;
                db.batch(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await
                    .unwrap();
                db.close().await;
            }
            Err(e) => println!("postgres  skipped: {e}"),
        }
    });
}
