//! One suite, two backends: each test runs against a fresh SQLite file and a fresh PostgreSQL
//! database (created and dropped per test) at `$HUIQI_TEST_PG` or
//! postgres://postgres@127.0.0.1:5432/test.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use huiqi_ledger::{Ctx, Db, Ledger, ResultRow, RunInput};

pub fn pg_admin_url() -> String {
    std::env::var("HUIQI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static N: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty PostgreSQL database; returns its URL. Drop it with `drop_pg`.
pub async fn new_pg() -> String {
    let admin = pg_admin_url();
    let name = format!(
        "huiqi_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut db = Db::open(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for the ledger tests: {e}"));
    db.batch(&format!("CREATE DATABASE {name}")).await.unwrap();
    db.close().await;
    let base = admin.rsplit_once('/').map(|x| x.0).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub async fn drop_pg(url: &str) {
    let name = url.rsplit('/').next().unwrap().to_string();
    if let Ok(mut db) = Db::open(&pg_admin_url()).await {
        let _ = db
            .batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        db.close().await;
    }
}

/// Runs `f` against SQLite, then PostgreSQL, each with a fresh ledger.
pub fn each_backend<F>(f: F)
where
    F: AsyncFn(&str),
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempdir();
        let path = dir.join("ledger.sqlite");
        f(path.to_str().unwrap()).await;
        let _ = std::fs::remove_dir_all(&dir);
        let url = new_pg().await;
        f(&url).await;
        drop_pg(&url).await;
    });
}

pub fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "huiqi-ledger-test-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn ctx(at: &str) -> Ctx {
    Ctx {
        actor: "tester".into(),
        at: huiqi_ledger::parse_time(at).unwrap(),
    }
}

pub const F1: &str = "91330200MA2H4A3X26";
pub const F2: &str = "91330201MA2AAAAA1X";
pub const F3: &str = "91330202MA2BBBBB2Y";

/// A run of `period` named `tag` (different tags = different runs) with these non-zero rows
/// (firm, clause, tranche, 分), evaluating `clauses` (default: those in the rows).
pub fn run(period: i64, tag: &str, rows: &[(&str, &str, &str, i64)]) -> RunInput {
    let clauses: BTreeSet<String> = rows.iter().map(|r| r.1.to_string()).collect();
    run_with(period, tag, rows, clauses)
}

pub fn run_with(
    period: i64,
    tag: &str,
    rows: &[(&str, &str, &str, i64)],
    clauses: BTreeSet<String>,
) -> RunInput {
    let manifest = format!("{{\"period\": {period}, \"tag\": \"{tag}\"}}");
    RunInput {
        run_id: format!("{:0>16}", tag),
        manifest,
        period,
        policy_name: "test".into(),
        policy_hash: "p".repeat(64),
        snapshot_hash: "s".repeat(64),
        engine_version: "0.1.0".into(),
        results_sha256: "r".repeat(64),
        rows: rows
            .iter()
            .map(|r| ResultRow {
                firm_id: r.0.into(),
                clause: r.1.into(),
                tranche: r.2.into(),
                fen: r.3,
            })
            .collect(),
        clauses,
        names: HashMap::from([
            (F1.to_string(), "美旭精密".to_string()),
            (F2.to_string(), "甬江科技".to_string()),
        ]),
        ..Default::default()
    }
}

/// Opens the test's ledger, creating it on first use (`ledger record`'s path).
pub async fn open(target: &str) -> Ledger {
    Ledger::open_or_create(target).await.unwrap()
}

/// (line id, state, amount) of every line of the entitlement (firm, clause, period, tranche).
pub async fn lines(
    l: &mut Ledger,
    firm: &str,
    clause: &str,
    period: i64,
) -> Vec<(i64, String, i64)> {
    l.db.rows(
        "SELECT i.id, i.state, i.amount_fen FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE e.firm_id = $1 AND e.clause = $2 AND e.period = $3 ORDER BY i.version",
        &huiqi_ledger::args![firm, clause, period],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.i(0), r.s(1), r.i(2)))
    .collect()
}

pub async fn count(l: &mut Ledger, sql: &str) -> i64 {
    l.db.int(sql, &[]).await.unwrap()
}

/// A fingerprint of everything in the ledger (to assert that a failed step changed nothing).
pub async fn fingerprint(l: &mut Ledger) -> String {
    let mut s = String::new();
    for (t, order) in [
        ("items", "id"),
        ("entitlements", "id"),
        ("payments", "id"),
        ("recoveries", "id"),
        ("notices", "id"),
        ("audit_events", "seq"),
        ("audit_head", "id"),
        ("runs", "run_id"),
    ] {
        for r in
            l.db.rows(&format!("SELECT * FROM {t} ORDER BY {order}"), &[])
                .await
                .unwrap()
        {
            s.push_str(&format!("{t}:{:?}\n", r.0));
        }
    }
    s
}
