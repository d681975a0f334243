//! The ledger through the real `huiqi` binary: award history back into the engine (a deferred
//! tranche pays once the ledger says the first one was awarded), crash safety (SIGKILL at random
//! points while recording and while paying, then restart), bad input, tampering, status.

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use huiqi_ledger::Ledger;
use rand::{Rng, SeedableRng};

use crate::support;
use support::{cmd, gen_and_ingest, huiqi, ingest, root, s};

fn ok(args: &[&str]) -> String {
    let o = huiqi(args);
    assert!(
        o.status.success(),
        "huiqi {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn work(name: &str) -> PathBuf {
    let w = std::env::temp_dir().join(format!("huiqi-ledger-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w).unwrap();
    w
}

/// gen → ingest → run `periods`; returns (snapshot dir, run dirs).
fn zone(w: &Path, firms: usize, years: &str, periods: &[i32]) -> (PathBuf, Vec<PathBuf>) {
    let n = firms.to_string();
    let snap = gen_and_ingest(w, &["--firms", &n, "--years", years, "--seed", "5"]);
    let runs = periods
        .iter()
        .map(|p| {
            let out = w.join(format!("run-{p}"));
            ok(&[
                "run",
                "--policy",
                "policies/ningbo",
                "--snapshot",
                &s(&snap),
                "--period",
                &p.to_string(),
                "--out",
                &s(&out),
                "--no-xlsx",
            ]);
            out
        })
        .collect();
    (snap, runs)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Whether `db` holds a huiqi ledger (its tables).
fn is_ledger(db: &str) -> bool {
    rt().block_on(async {
        match Ledger::open(db).await {
            Ok(l) => {
                l.close().await;
                true
            }
            Err(_) => false,
        }
    })
}

fn query_text(db: &str, sql: &str) -> String {
    rt().block_on(async {
        let mut l = Ledger::open(db).await.unwrap();
        let r = l.db.row(sql, &[]).await.unwrap().expect("a row");
        l.close().await;
        r.s(0)
    })
}

fn query(db: &str, sql: &str) -> i64 {
    rt().block_on(async {
        let mut l = Ledger::open(db).await.unwrap();
        let n = l.db.int(sql, &[]).await.unwrap();
        l.close().await;
        n
    })
}

fn pg_admin() -> String {
    std::env::var("HUIQI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn pg_exec(sql: &str) {
    let admin = pg_admin();
    rt().block_on(async {
        let mut db = huiqi_ledger::Db::open(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
        // One statement at a time: CREATE/DROP DATABASE cannot run in a multi-statement block.
        for stmt in sql.split(';').map(str::trim).filter(|x| !x.is_empty()) {
            db.batch(stmt).await.unwrap();
        }
        db.close().await;
    })
}

fn pg_url(name: &str) -> String {
    let a = pg_admin();
    format!("{}/{name}", a.rsplit_once('/').unwrap().0)
}

#[test]
fn a_deferred_tranche_pays_once_the_ledger_says_the_first_was_awarded() {
    let w = work("deferred");
    let (snap, runs) = zone(&w, 3000, "2019..2024", &[2022]);
    let db = s(&w.join("ledger.sqlite"));
    ok(&[
        "ledger",
        "record",
        &s(&runs[0]),
        "--db",
        &db,
        "--at",
        "2023-02-01",
    ]);
    ok(&[
        "ledger",
        "approve",
        "--all",
        "--clause",
        "小升规奖励",
        "--db",
        &db,
        "--at",
        "2023-02-02",
    ]);
    let plain = w.join("r2024-plain");
    let with = w.join("r2024-ledger");
    ok(&[
        "run",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        &s(&snap),
        "--period",
        "2024",
        "--out",
        &s(&plain),
        "--no-xlsx",
    ]);
    let o = huiqi(&[
        "run",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        &s(&snap),
        "--period",
        "2024",
        "--out",
        &s(&with),
        "--no-xlsx",
        "--ledger",
        &db,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stderr);
    // The 2022 lines of the other clauses are recorded but not approved: said, with the count.
    let open = query(&db, "SELECT COUNT(*) FROM items WHERE state = 'computed'");
    assert!(open > 0);
    assert!(
        said.contains(&format!("警告： {open} 条早于本年度的明细尚未审核通过")),
        "{said}"
    );
    let paid = |d: &Path| {
        std::fs::read_to_string(d.join("results.csv"))
            .unwrap()
            .lines()
            .filter(|l| l.contains(",小升规奖励,持续在库,") && !l.contains(",0.00,0,"))
            .count()
    };
    assert_eq!(
        paid(&plain),
        0,
        "without award history the second tranche cannot pay"
    );
    let n = paid(&with);
    assert!(
        n > 0,
        "with the ledger's history some firms get the deferred tranche"
    );
    // The run names the derived snapshot (the exact inputs), not the original.
    let m = std::fs::read_to_string(with.join("manifest.json")).unwrap();
    let orig = huiqi_data::read_manifest(&snap).unwrap().hash;
    assert!(
        !m.contains(&orig),
        "the manifest should name the derived snapshot"
    );
    // Recording the 2024 run makes the deferred tranche an entitlement of 2024, payable.
    let out = ok(&[
        "ledger",
        "record",
        &s(&with),
        "--db",
        &db,
        "--at",
        "2025-02-01",
    ]);
    assert!(out.contains("2024"), "{out}");
    let payable = query(
        &db,
        "SELECT COUNT(*) FROM entitlements WHERE period = 2024 AND tranche = '持续在库'",
    );
    assert_eq!(payable as usize, n);

    // `explain --ledger` reads one firm's history the same way: a firm of the ledger whose 2022
    // first tranche is approved, given as a firm file that entered 规上 in 2022 and stayed.
    let id = query_text(
        &db,
        "SELECT e.firm_id FROM entitlements e JOIN items i ON i.entitlement_id = e.id \
         WHERE e.clause = '小升规奖励' AND e.period = 2022 AND i.state = 'approved' ORDER BY e.firm_id LIMIT 1",
    );
    let firm = w.join("firm.toml");
    std::fs::write(
        &firm,
        format!(
            "id = \"{id}\"\nname = \"纳规企业\"\n\n[facts]\n\"规上企业\" = {{ 2021 = false, 2022 = true, 2023 = true, 2024 = true }}\n"
        ),
    )
    .unwrap();
    let second = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "policies/ningbo",
            firm.to_str().unwrap(),
            "--period",
            "2024",
            "--clause",
            "小升规奖励",
            "--json",
        ];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        v["total_fen"].as_i64().unwrap()
    };
    assert_eq!(second(&[]), 0, "the firm file alone has no earlier award");
    assert_eq!(second(&["--ledger", &db]), 20_000_000);
    // A ledger that is not there is an error, not a new empty ledger.
    let o = huiqi(&[
        "explain",
        "policies/ningbo",
        firm.to_str().unwrap(),
        "--ledger",
        &s(&w.join("no-such.sqlite")),
    ]);
    assert!(!o.status.success());
    assert!(!w.join("no-such.sqlite").exists());

    // `ledger trace` recomputes a 2024 deferred-tranche line from the snapshot its run read
    // (derived with the ledger's history, beside the original): the ledger's figure.
    let line = query(
        &db,
        "SELECT MIN(i.id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
         WHERE e.period = 2024 AND e.tranche = '持续在库'",
    );
    let store = s(snap.parent().unwrap());
    let trace = |dirs: &str| {
        huiqi(&[
            "ledger",
            "trace",
            &line.to_string(),
            "--db",
            &db,
            "--snapshots",
            dirs,
        ])
    };
    let o = trace(&store);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        said.contains("200000.00 元  按最近一次测算")
            && said.contains("的政策版本与数据快照复算，金额与台账一致"),
        "{said}"
    );
    // Given only the original snapshot it says the run's is not there.
    let o = trace(&s(&snap));
    assert!(String::from_utf8_lossy(&o.stdout).contains("找不到该测算所用的数据快照"));
    // A doctored derived snapshot is refused, never recomputed under the recorded hash.
    let hash = query_text(
        &db,
        "SELECT r.snapshot_hash FROM runs r WHERE r.period = 2024",
    );
    let awards = snap
        .parent()
        .unwrap()
        .join(&hash[..16])
        .join(huiqi_files::snapshot::table_file(
            huiqi_files::snapshot::AWARDS,
        ));
    let mut bytes = std::fs::read(&awards).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&awards, bytes).unwrap();
    let said = String::from_utf8_lossy(&trace(&store).stdout).to_string();
    assert!(
        said.contains("快照文件的内容与其清单中的哈希不符"),
        "{said}"
    );
}

/// Takes a fresh ledger to `lines` confirmed lines and writes the filled-in payment file.
fn confirmed_ledger(db: &str, run: &Path, w: &Path, lines: usize) -> PathBuf {
    ok(&[
        "ledger",
        "record",
        &s(run),
        "--db",
        db,
        "--at",
        "2024-02-01",
    ]);
    ok(&[
        "ledger",
        "approve",
        "--all",
        "--limit",
        &lines.to_string(),
        "--db",
        db,
        "--at",
        "2024-02-02",
    ]);
    ok(&[
        "ledger",
        "announce",
        "--all",
        "--db",
        db,
        "--at",
        "2024-03-01",
        "--days",
        "7",
    ]);
    ok(&[
        "ledger",
        "confirm",
        "--all",
        "--db",
        db,
        "--at",
        "2024-03-02",
    ]);
    let f = w.join("payments.csv");
    ok(&["ledger", "export", "payments", "--out", &s(&f), "--db", db]);
    let paid = w.join("paid.csv");
    fill_references(&f, &paid, "BANK");
    paid
}

/// The treasury's answer to a payment file: each line with its reference `{prefix}-{line}`
/// filled in (the batch file names its batch first, 批次号, then the line, 明细号).
fn fill_references(export: &Path, paid: &Path, prefix: &str) {
    let text = std::fs::read_to_string(export).unwrap();
    let header = text.lines().next().unwrap();
    let line_col = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .position(|c| c == "明细号")
        .unwrap();
    let mut out = String::new();
    for (k, l) in text.lines().enumerate() {
        if k == 0 {
            out.push_str(l);
        } else {
            let id = l.split(',').nth(line_col).unwrap();
            out.push_str(&format!("{l}{prefix}-{id}"));
        }
        out.push('\n');
    }
    std::fs::write(paid, out).unwrap();
}

/// Spawns `args`, SIGKILLs it after `after` (if still running); true if it was killed.
fn kill_after(args: &[&str], after: Duration) -> bool {
    let mut c = cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < after {
        if c.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let killed = c.try_wait().unwrap().is_none();
    c.kill().ok(); // SIGKILL
    c.wait().unwrap();
    killed
}

fn timed(args: &[&str]) -> Duration {
    let t = Instant::now();
    ok(args);
    t.elapsed()
}

fn verify(db: &str) {
    let o = huiqi(&["ledger", "verify", "--db", db]);
    assert!(
        o.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `trials` kills while recording and `trials` while paying; `fresh(k)` gives a new empty
/// ledger, `copy(k)` a copy of the template ledger with confirmed lines.
#[allow(clippy::too_many_arguments)]
fn crash_trials(
    label: &str,
    trials: usize,
    run: &Path,
    paid_file: &Path,
    expect_ents: i64,
    expect_pay: i64,
    fresh: &dyn Fn(usize) -> String,
    copy: &dyn Fn(usize) -> String,
) -> (usize, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20240301);
    let run = s(run);
    let paid_file = s(paid_file);
    let t_rec = timed(&[
        "ledger",
        "record",
        &run,
        "--db",
        &fresh(9999),
        "--at",
        "2024-02-01",
    ]);
    let t_pay = timed(&[
        "ledger",
        "pay",
        "--file",
        &paid_file,
        "--db",
        &copy(9999),
        "--at",
        "2024-03-20",
    ]);
    let mut killed = 0;
    let mut mid = 0;
    for k in 0..trials {
        // While recording.
        let db = fresh(k);
        let at = Duration::from_secs_f64(t_rec.as_secs_f64() * rng.random_range(0.05..1.1));
        killed += kill_after(
            &["ledger", "record", &run, "--db", &db, "--at", "2024-02-01"],
            at,
        ) as usize;
        // Killed before the new ledger was renamed into place (SQLite) or before the schema's
        // transaction committed (PostgreSQL: the database stays empty), there is no ledger at all.
        let created = if label == "sqlite" {
            std::path::Path::new(&db).exists()
        } else {
            is_ledger(&db)
        };
        let n = if created {
            query(&db, "SELECT COUNT(*) FROM entitlements")
        } else {
            0
        };
        assert!(
            n == 0 || n == expect_ents,
            "{label}: a killed record left {n} of {expect_ents} entitlements"
        );
        if created {
            verify(&db);
        }
        ok(&["ledger", "record", &run, "--db", &db, "--at", "2024-02-01"]);
        assert_eq!(query(&db, "SELECT COUNT(*) FROM entitlements"), expect_ents);
        assert_eq!(query(&db, "SELECT COUNT(*) FROM items"), expect_ents);
        assert_eq!(query(&db, "SELECT COUNT(*) FROM runs"), 1);
        verify(&db);

        // While paying.
        let db = copy(k);
        let at = Duration::from_secs_f64(t_pay.as_secs_f64() * rng.random_range(0.05..1.1));
        killed += kill_after(
            &[
                "ledger",
                "pay",
                "--file",
                &paid_file,
                "--db",
                &db,
                "--at",
                "2024-03-20",
            ],
            at,
        ) as usize;
        let p = query(&db, "SELECT COUNT(*) FROM payments");
        assert!(
            p == 0 || p == expect_pay,
            "{label}: a killed payment file left {p} of {expect_pay} payments"
        );
        mid += (p == 0) as usize;
        assert_eq!(
            p,
            query(&db, "SELECT COUNT(*) FROM items WHERE state = 'paid'")
        );
        verify(&db);
        ok(&[
            "ledger",
            "pay",
            "--file",
            &paid_file,
            "--db",
            &db,
            "--at",
            "2024-03-20",
        ]);
        // Restarted, the file applies once: every line paid exactly once.
        assert_eq!(query(&db, "SELECT COUNT(*) FROM payments"), expect_pay);
        assert_eq!(
            query(&db, "SELECT COUNT(DISTINCT item_id) FROM payments"),
            expect_pay
        );
        assert_eq!(
            query(&db, "SELECT COUNT(*) FROM items WHERE state = 'paid'"),
            expect_pay
        );
        verify(&db);
    }
    eprintln!(
        "{label}: {} crash trials ({trials} recording, {trials} paying), {killed} killed while running, {mid} payment runs killed before commit",
        2 * trials
    );
    (2 * trials, killed)
}

#[test]
fn crash_safety_sqlite() {
    let w = work("crash-sqlite");
    let (_, runs) = zone(&w, 4000, "2019..2023", &[2023]);
    let tmpl = s(&w.join("template.sqlite"));
    let paid = confirmed_ledger(&tmpl, &runs[0], &w, 400);
    let ents = query(&tmpl, "SELECT COUNT(*) FROM entitlements");
    let fresh = |k: usize| s(&w.join(format!("rec-{k}.sqlite")));
    let copy = |k: usize| {
        let p = w.join(format!("pay-{k}.sqlite"));
        std::fs::copy(&tmpl, &p).unwrap();
        s(&p)
    };
    let (n, _) = crash_trials("sqlite", 30, &runs[0], &paid, ents, 400, &fresh, &copy);
    assert!(n >= 60);
}

#[test]
fn crash_safety_postgres() {
    let w = work("crash-pg");
    let (_, runs) = zone(&w, 4000, "2019..2023", &[2023]);
    let tag = format!("huiqi_crash_{}", std::process::id());
    let tmpl_name = format!("{tag}_tmpl");
    pg_exec(&format!(
        "DROP DATABASE IF EXISTS {tmpl_name} WITH (FORCE); CREATE DATABASE {tmpl_name}"
    ));
    let tmpl = pg_url(&tmpl_name);
    let paid = confirmed_ledger(&tmpl, &runs[0], &w, 200);
    let ents = query(&tmpl, "SELECT COUNT(*) FROM entitlements");
    let fresh = |k: usize| {
        let n = format!("{tag}_r{k}");
        pg_exec(&format!(
            "DROP DATABASE IF EXISTS {n} WITH (FORCE); CREATE DATABASE {n}"
        ));
        pg_url(&n)
    };
    let copy = |k: usize| {
        let n = format!("{tag}_p{k}");
        pg_exec(&format!(
            "DROP DATABASE IF EXISTS {n} WITH (FORCE); CREATE DATABASE {n} TEMPLATE {tmpl_name}"
        ));
        pg_url(&n)
    };
    let trials = 10;
    crash_trials(
        "postgres", trials, &runs[0], &paid, ents, 200, &fresh, &copy,
    );
    let mut drop = format!("DROP DATABASE IF EXISTS {tmpl_name} WITH (FORCE);");
    for k in (0..trials).chain([9999]) {
        drop.push_str(&format!(
            "DROP DATABASE IF EXISTS {tag}_r{k} WITH (FORCE); DROP DATABASE IF EXISTS {tag}_p{k} WITH (FORCE);"
        ));
    }
    pg_exec(&drop);
}

#[test]
fn bad_input_is_refused_with_a_clear_error_and_changes_nothing() {
    let w = work("bad");
    let (_, runs) = zone(&w, 300, "2019..2023", &[2023]);
    let db = s(&w.join("l.sqlite"));
    ok(&[
        "ledger",
        "record",
        &s(&runs[0]),
        "--db",
        &db,
        "--at",
        "2024-02-01",
    ]);
    ok(&[
        "ledger",
        "reject",
        "--id",
        "1",
        "--reason",
        "严重失信",
        "--db",
        &db,
        "--at",
        "2024-02-02",
    ]);
    ok(&[
        "ledger",
        "approve",
        "--id",
        "2,3",
        "--db",
        &db,
        "--at",
        "2024-02-02",
    ]);
    ok(&[
        "ledger",
        "announce",
        "--id",
        "2,3",
        "--db",
        &db,
        "--at",
        "2024-03-01",
        "--closes",
        "2024-03-08",
    ]);
    let snapshot = |db: &str| {
        (
            query(db, "SELECT COUNT(*) FROM audit_events"),
            query(db, "SELECT COUNT(*) FROM payments"),
            query(db, "SELECT COUNT(*) FROM items WHERE state = 'announced'"),
        )
    };
    let before = snapshot(&db);
    let bad_file = w.join("bad-pay.csv");
    std::fs::write(
        &bad_file,
        "明细号,统一社会信用代码,金额（分）,支付流水号\n999999,91330200MA2H4A3X26,100,BANK-X\n",
    )
    .unwrap();
    let bad_path = s(&bad_file);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "ledger",
                "pay",
                "--id",
                "1",
                "--reference",
                "B-1",
                "--at",
                "2024-03-20",
            ],
            "line 1 is rejected",
        ),
        (
            vec!["ledger", "confirm", "--id", "2", "--at", "2024-03-09"],
            "outside",
        ),
        (
            vec!["ledger", "pay", "--file", &bad_path, "--at", "2024-03-20"],
            "no 批次号 (batch) column",
        ),
        (
            vec![
                "ledger",
                "pay",
                "--id",
                "2",
                "--reference",
                "B-2",
                "--at",
                "2024-03-20",
            ],
            "line 2 is announced",
        ),
        (vec!["ledger", "approve", "--at", "2024-03-20"], "--all"),
    ];
    for (args, want) in cases {
        let mut a = args.clone();
        a.extend(["--db", &db, "--lang", "en"]);
        let o = huiqi(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err} (wanted {want})");
        assert_eq!(snapshot(&db), before, "{a:?} changed something");
    }
    // In Chinese by default.
    let o = huiqi(&[
        "ledger",
        "pay",
        "--id",
        "1",
        "--reference",
        "B-1",
        "--db",
        &db,
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("已驳回"));
}

#[test]
fn verify_through_the_cli_names_the_tampered_event_and_status_shows_the_steps() {
    let w = work("tamper");
    let (_, runs) = zone(&w, 300, "2019..2023", &[2023]);
    let db = s(&w.join("l.sqlite"));
    ok(&[
        "ledger",
        "record",
        &s(&runs[0]),
        "--db",
        &db,
        "--at",
        "2024-02-01",
    ]);
    ok(&[
        "ledger",
        "approve",
        "--id",
        "1",
        "--db",
        &db,
        "--at",
        "2024-02-02",
        "--actor",
        "审核员甲",
    ]);
    ok(&[
        "ledger",
        "announce",
        "--id",
        "1",
        "--db",
        &db,
        "--at",
        "2024-03-01",
    ]);
    ok(&[
        "ledger",
        "confirm",
        "--id",
        "1",
        "--db",
        &db,
        "--at",
        "2024-03-02",
    ]);
    ok(&[
        "ledger",
        "pay",
        "--id",
        "1",
        "--reference",
        "BANK-1",
        "--db",
        &db,
        "--at",
        "2024-03-20",
    ]);
    assert!(ok(&["ledger", "verify", "--db", &db]).contains("审计链完整"));
    let firm = rt().block_on(async {
        let mut l = Ledger::open(&db).await.unwrap();
        let r = l
            .db
            .row("SELECT e.firm_id FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE i.id = 1", &[])
            .await
            .unwrap()
            .unwrap();
        l.close().await;
        r.s(0)
    });
    let st = ok(&["status", &firm, "--db", &db, "--lang", "en"]);
    for want in [
        "paid",
        "BANK-1",
        "2024-02-02",
        "2024-03-20",
        "record",
        "confirm",
    ] {
        assert!(st.contains(want), "{want} missing from:\n{st}");
    }
    rt().block_on(async {
        let mut l = Ledger::open(&db).await.unwrap();
        l.db.batch("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
            .await
            .unwrap();
        l.close().await;
    });
    let o = huiqi(&["ledger", "verify", "--db", &db, "--lang", "en"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("audit event #3 was edited"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Issue 14 §6: `export payments --out` pointed at the ledger itself is refused; the ledger
/// still verifies.
#[test]
fn a_payment_export_never_overwrites_the_ledger() {
    let w = work("export-guard");
    let (_, runs) = zone(&w, 200, "2019..2023", &[2023]);
    let db = s(&w.join("l.sqlite"));
    ok(&[
        "ledger",
        "record",
        &s(&runs[0]),
        "--db",
        &db,
        "--at",
        "2024-02-01",
    ]);
    let o = huiqi(&[
        "ledger", "export", "payments", "--out", &db, "--db", &db, "--lang", "en",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    verify(&db);
}

/// The multi-year flow of a cap over three years ("单个企业三年内累计不超过1500万元",
/// `policies/examples/fuqing-hq`): run 2022, record, approve; run 2023 with the ledger's history,
/// record, approve; run 2024 with it — the cap leaves 丙 only what 2022 and 2023 did not use.
fn three_year_cap_flow(db: &str, w: &Path) {
    // 1万元 in 分.
    const WAN: i64 = 1_000_000;
    let pack = "policies/examples/fuqing-hq";
    let snap = ingest(pack, "examples/fuqing-hq/mapping.toml", w);
    let bing = "91350181MA2Y7QH036";
    // 丙's lines of a run: (clause, 分) of every line with an amount, by clause name.
    let lines = |run: &Path| -> Vec<(String, i64)> {
        let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
        let mut rows = csv.lines();
        let head: Vec<&str> = rows
            .next()
            .unwrap()
            .trim_start_matches('\u{feff}')
            .split(',')
            .collect();
        let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
        let (fc, cc, ac) = (col("统一社会信用代码"), col("条款"), col("金额（分）"));
        rows.map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|r| r[fc] == bing && r[ac] != "0")
            .map(|r| (r[cc].to_string(), r[ac].parse().unwrap()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    // A run's directory and what it said on stderr.
    let run_said = |year: i32, ledger: bool| -> (PathBuf, String) {
        let out = w.join(format!("run-{year}-{ledger}"));
        let (y, o, sn) = (year.to_string(), s(&out), s(&snap));
        let mut args = vec![
            "run",
            "--policy",
            pack,
            "--snapshot",
            &sn,
            "--period",
            &y,
            "--out",
            &o,
            "--no-xlsx",
        ];
        if ledger {
            args.extend(["--ledger", db]);
        }
        let r = huiqi(&args);
        let said = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{said}");
        (out, said)
    };
    let run = |year: i32, ledger: bool| run_said(year, ledger).0;
    let settle = |run: &Path, at: &str| {
        ok(&["ledger", "record", &s(run), "--db", db, "--at", at]);
        ok(&["ledger", "approve", "--all", "--db", db, "--at", at]);
    };
    let r22 = run(2022, false);
    assert_eq!(lines(&r22), vec![("新引进总部贡献奖励".into(), 400 * WAN)]);
    settle(&r22, "2023-02-01");
    let r23 = run(2023, true);
    assert_eq!(
        lines(&r23),
        vec![
            ("新引进总部贡献奖励".into(), 500 * WAN),
            ("落户增量奖励".into(), 250 * WAN)
        ]
    );
    settle(&r23, "2024-02-01");
    // 2022 and 2023 used 1150万 of the 1500万: 350万 is left for 2024, cut from the lowest
    // priority first (落户增量奖励's 125万, then 新引进总部贡献奖励's 500万 down to 350万).
    let r24 = run(2024, true);
    assert_eq!(lines(&r24), vec![("新引进总部贡献奖励".into(), 350 * WAN)]);
    let csv = std::fs::read_to_string(r24.join("results.csv")).unwrap();
    assert!(
        csv.lines().any(|l| l.contains(bing)
            && l.contains("落户增量奖励")
            && l.contains("firmcap:三年累计上限")),
        "{csv}"
    );
    // Without the ledger's history the run knows of no earlier award: nothing is cut, and the
    // run says so.
    let (plain, said) = run_said(2024, false);
    assert!(
        said.contains("警告： 三年累计上限 跨年度累计，但本快照没有往期奖励记录"),
        "{said}"
    );
    assert_eq!(
        lines(&plain),
        vec![
            ("新引进总部贡献奖励".into(), 500 * WAN),
            ("落户增量奖励".into(), 125 * WAN)
        ]
    );
    // The 政策沙盘 over the same history: a three-year cap of 2000万 leaves 丙 850万 of room in
    // 2024, so its whole 625万 is paid (+275万 on the pack as it is); the backtest of 2022 and
    // 2023 computes exactly what the ledger approved for them, and nothing was paid yet.
    let reform = w.join("fuqing-2000");
    std::fs::create_dir_all(&reform).unwrap();
    for e in std::fs::read_dir(format!("../../{pack}")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("三年累计上限 1500万 over", "三年累计上限 2000万 over");
        std::fs::write(reform.join(p.file_name().unwrap()), text).unwrap();
    }
    let sim = w.join("sim");
    ok(&[
        "simulate",
        "--policy",
        pack,
        "--reform",
        &s(&reform),
        "--snapshot",
        &s(&snap),
        "--period",
        "2024",
        "--ledger",
        db,
        "--backtest",
        "2022..2023",
        "--out",
        &s(&sim),
        "--no-xlsx",
    ]);
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.join("summary.json")).unwrap()).unwrap();
    let total = |run: &Path| -> i64 {
        let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
        let mut rows = csv.lines();
        let head: Vec<&str> = rows.next().unwrap().split(',').collect();
        let ac = head.iter().position(|h| *h == "金额（分）").unwrap();
        rows.map(|l| l.split(',').nth(ac).unwrap().parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(j["total_base_fen"].as_i64().unwrap(), total(&r24), "{j}");
    assert!(j["history_awards"].as_u64().unwrap() >= 3, "{j}");
    let bing_delta = j["top_gainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["firm_id"] == bing)
        .map(|f| f["delta_fen"].as_i64().unwrap());
    assert_eq!(bing_delta, Some(275 * WAN), "{j}");
    let bt = j["backtest"].as_array().unwrap();
    assert_eq!(bt.len(), 2);
    for (b, run) in bt.iter().zip([&r22, &r23]) {
        assert_eq!(b["base_fen"].as_i64().unwrap(), total(run), "{b}");
        assert_eq!(b["awarded_fen"], b["base_fen"], "{b}");
        assert_eq!(b["paid_fen"], 0, "{b}");
    }
    settle(&r24, "2025-02-01");
    assert_eq!(
        query(
            db,
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
             WHERE e.firm_id = '91350181MA2Y7QH036' AND i.state = 'approved'"
        ),
        1500 * WAN,
        "three years of approved awards add up to the cap exactly"
    );
}

#[test]
fn a_cap_over_three_years_reads_the_ledgers_history_sqlite() {
    let w = work("cap3-sqlite");
    three_year_cap_flow(&s(&w.join("ledger.sqlite")), &w);
}

#[test]
fn a_cap_over_three_years_reads_the_ledgers_history_postgres() {
    let w = work("cap3-pg");
    let name = format!("huiqi_cap3_{}", std::process::id());
    pg_exec(&format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}"
    ));
    three_year_cap_flow(&pg_url(&name), &w);
    pg_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// Every open line of the ledger through review, 公示, confirmation and a treasury batch paid
/// in full (recovery lines included: the money came back).
fn pay_all(db: &str, w: &Path, year: i32) {
    let at = |md: &str| format!("{year}-{md}");
    ok(&[
        "ledger",
        "approve",
        "--all",
        "--db",
        db,
        "--at",
        &at("02-02"),
    ]);
    ok(&[
        "ledger",
        "announce",
        "--all",
        "--db",
        db,
        "--at",
        &at("03-01"),
        "--days",
        "7",
    ]);
    ok(&[
        "ledger",
        "confirm",
        "--all",
        "--db",
        db,
        "--at",
        &at("03-02"),
    ]);
    let f = w.join(format!("payments-{year}.csv"));
    ok(&["ledger", "export", "payments", "--out", &s(&f), "--db", db]);
    let paid = w.join(format!("paid-{year}.csv"));
    fill_references(&f, &paid, &format!("BANK-{year}"));
    ok(&[
        "ledger",
        "pay",
        "--file",
        &s(&paid),
        "--db",
        db,
        "--at",
        &at("03-20"),
    ]);
}

/// `huiqi run` of `pack` for `year` into `w/run-YEAR`; after 2022 on the ledger's history of
/// what was paid (`--ledger --ledger-paid-only`).
fn paid_only_run(pack: &str, snap: &Path, db: &str, w: &Path, year: i32) -> PathBuf {
    let out = w.join(format!("run-{year}"));
    let (y, o, sn) = (year.to_string(), s(&out), s(snap));
    let mut args = vec![
        "run",
        "--policy",
        pack,
        "--snapshot",
        &sn,
        "--period",
        &y,
        "--out",
        &o,
        "--no-xlsx",
    ];
    if year > 2022 {
        args.extend(["--ledger", db, "--ledger-paid-only"]);
    }
    ok(&args);
    out
}

/// (credit code, clause, 分) of every line of a run's results.csv with an amount, sorted.
fn awards(run: &Path) -> Vec<(String, String, i64)> {
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let mut v: Vec<(String, String, i64)> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[4] != "0")
        .map(|r| (r[0].to_string(), r[1].to_string(), r[4].parse().unwrap()))
        .collect();
    v.sort();
    v
}

/// Issue 18's multi-year flow with the clawback example (`policies/examples/clawback`): 2022
/// and 2023 are run, recorded and paid; 2024 runs on what the ledger says was paid — a firm
/// that moved out gives back the years left of its 2022 and 2023 awards, a firm put on the
/// credit blacklist gives back the last two years', a firm at its three-year cap gets nothing
/// more — and recording it turns the clawbacks into recovery lines that go through the same
/// steps, after which the history the engine reads is net of them.
fn clawback_flow(db: &str, w: &Path) {
    const WAN: i64 = 1_000_000;
    let pack = "policies/examples/clawback";
    let snap = ingest(pack, "examples/clawback/mapping.toml", w);
    let (jia, yi, ding) = (
        "91330200MA2K1H1A0H",
        "91330200MA2K1H2B1B",
        "91330200MA2K1H4D3Y",
    );
    let run = |year: i32| paid_only_run(pack, &snap, db, w, year);
    for year in [2022, 2023] {
        let r = run(year);
        let m = std::fs::read_to_string(r.join("manifest.json")).unwrap();
        assert!(m.contains("\"clawbacks\""), "{m}");
        let rows = std::fs::read_to_string(r.join("clawbacks.csv")).unwrap();
        assert_eq!(
            rows.lines().count(),
            1,
            "nothing to recover in {year}: {rows}"
        );
        ok(&[
            "ledger",
            "record",
            &s(&r),
            "--db",
            db,
            "--at",
            &format!("{}-02-01", year + 1),
        ]);
        pay_all(db, w, year + 1);
    }
    let r24 = run(2024);
    // 甲 moved out and 乙 is blacklisted (both excluded this year); 丁's three years are full.
    assert_eq!(
        awards(&r24),
        vec![(
            "91330200MA2K1H3C25".to_string(),
            "研发投入奖励".to_string(),
            123_456_780
        )]
    );
    let csv = std::fs::read_to_string(r24.join("results.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.starts_with(ding) && l.ends_with("firmcap:三年累计上限")),
        "{csv}"
    );
    let got = std::fs::read_to_string(r24.join("clawbacks.csv")).unwrap();
    let rows: Vec<Vec<&str>> = got
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let short: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0], r[1], r[4], r[6], r[8]))
        .collect();
    assert_eq!(
        short,
        vec![
            (jia, "迁出追回", "2022", "3/5", "180000000"),
            (jia, "迁出追回", "2023", "4/5", "160000000"),
            (yi, "失信追回", "2022", "100%", "150000000"),
            (yi, "失信追回", "2023", "100%", "120000000"),
        ],
        "{got}"
    );
    let out = ok(&[
        "ledger",
        "record",
        &s(&r24),
        "--db",
        db,
        "--at",
        "2025-02-01",
    ]);
    assert!(out.contains("2024"), "{out}");
    // Each clawback is an entitlement of 2024 under its rule, recovering from its award.
    assert_eq!(
        query(
            db,
            "SELECT CAST(SUM(computed_fen) AS BIGINT) FROM entitlements WHERE clause IN ('迁出追回', '失信追回')"
        ),
        -610 * WAN
    );
    assert_eq!(
        query(
            db,
            "SELECT COUNT(*) FROM items WHERE kind = 'recovery' AND state = 'computed' AND amount_fen < 0"
        ),
        4
    );
    pay_all(db, w, 2025);
    // What the engine reads back for 2025: 甲's awards net of what it gave back, 乙's nothing.
    let history = rt().block_on(async {
        let mut l = Ledger::open(db).await.unwrap();
        let a = l.awards(2025, true).await.unwrap();
        l.close().await;
        a
    });
    let of = |firm: &str| -> Vec<(i64, i64)> {
        history
            .iter()
            .filter(|a| a.firm_id == firm)
            .map(|a| (a.period, a.fen))
            .collect()
    };
    assert_eq!(of(jia), vec![(2022, 120 * WAN), (2023, 40 * WAN)]);
    // 乙's recovered in full: at 0, so no other record of them can count again.
    assert_eq!(of(yi), vec![(2022, 0), (2023, 0)]);
    // Recording 2024 again changes nothing; the chain and every table agree.
    let again = ok(&[
        "ledger",
        "record",
        &s(&r24),
        "--db",
        db,
        "--at",
        "2025-04-01",
    ]);
    assert!(again.contains("已入账，未做任何改动"), "{again}");
    verify(db);
}

#[test]
fn clawbacks_and_a_rolling_cap_over_three_years_sqlite() {
    let w = work("clawback-sqlite");
    clawback_flow(&s(&w.join("ledger.sqlite")), &w);
}

#[test]
fn clawbacks_and_a_rolling_cap_over_three_years_postgres() {
    let w = work("clawback-pg");
    let name = format!("huiqi_clawback_{}", std::process::id());
    pg_exec(&format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}"
    ));
    clawback_flow(&pg_url(&name), &w);
    pg_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// Issue 18's 就高 across two policy documents (`policies/examples/jiugao`, which imports
/// `policies/examples/jiugao-city`), over three years in the ledger: each year's run takes both
/// packs and records every pack's hash; the same recognition in one year pays only the higher
/// of the two awards; a later, higher recognition tops up only what the ledger says was paid —
/// an award rejected in review is not deducted.
fn jiugao_flow(db: &str, w: &Path) {
    const WAN: i64 = 1_000_000;
    let pack = "policies/examples/jiugao";
    let snap = ingest(pack, "examples/jiugao/mapping.toml", w);
    let (jia, yi, bing, ding) = (
        "91330200MA2K1H1A0H",
        "91330200MA2K1H2B1B",
        "91330200MA2K1H3C25",
        "91330200MA2K1H4D3Y",
    );
    let city = "市级专精特新政策.专精特新奖励";
    let run = |year: i32| paid_only_run(pack, &snap, db, w, year);
    let own = |f: &str, c: &str, fen: i64| (f.to_string(), c.to_string(), fen);
    // 2022: only the city's document is in force.
    let r22 = run(2022);
    let m = std::fs::read_to_string(r22.join("manifest.json")).unwrap();
    let city_hash = huiqi_lang::load_pack(&root().join("policies/examples/jiugao-city"))
        .map_err(|_| "the city pack checks")
        .unwrap()
        .program
        .hash;
    assert!(
        m.contains("\"imports\"") && m.contains("\"市级专精特新政策\"") && m.contains(&city_hash),
        "the manifest names the imported pack and its hash: {m}"
    );
    assert_eq!(
        awards(&r22),
        vec![own(yi, city, 20 * WAN), own(ding, city, 20 * WAN)]
    );
    ok(&[
        "ledger",
        "record",
        &s(&r22),
        "--db",
        db,
        "--at",
        "2023-02-01",
    ]);
    // 丁's award is rejected in review: never paid.
    ok(&[
        "ledger",
        "reject",
        "--all",
        "--firm",
        ding,
        "--reason",
        "材料不实",
        "--db",
        db,
        "--at",
        "2023-02-02",
    ]);
    pay_all(db, w, 2023);
    // 2023: 甲's recognition is rewarded by both documents — only the district's higher 30万;
    // 丙 is on the city's blacklist, which does not reach the district's clause.
    let r23 = run(2023);
    assert_eq!(
        awards(&r23),
        vec![
            own(jia, "区级专精特新奖励", 30 * WAN),
            own(bing, "区级专精特新奖励", 30 * WAN),
        ]
    );
    let csv = std::fs::read_to_string(r23.join("results.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.starts_with(&format!("{jia},{city},")) && l.ends_with("exclusive:市区就高")),
        "{csv}"
    );
    ok(&[
        "ledger",
        "record",
        &s(&r23),
        "--db",
        db,
        "--at",
        "2024-02-01",
    ]);
    pay_all(db, w, 2024);
    // 2024: three firms become national 小巨人. Each tops up to 100万 what it was paid before:
    // 甲 the district's 30万, 乙 the city's 20万, 丁 nothing (its 20万 was rejected).
    let r24 = run(2024);
    assert_eq!(
        awards(&r24),
        vec![
            own(jia, "小巨人奖励", 70 * WAN),
            own(yi, "小巨人奖励", 80 * WAN),
            own(ding, "小巨人奖励", 100 * WAN),
        ]
    );
    ok(&[
        "ledger",
        "record",
        &s(&r24),
        "--db",
        db,
        "--at",
        "2025-02-01",
    ]);
    pay_all(db, w, 2025);
    // Over the three years each firm was paid 100万 for its recognitions, 丙 30万.
    let paid = |firm: &str| {
        query(
            db,
            &format!(
                "SELECT CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) FROM payments p \
                 JOIN items i ON i.id = p.item_id JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.firm_id = '{firm}'"
            ),
        )
    };
    assert_eq!(
        [paid(jia), paid(yi), paid(bing), paid(ding)],
        [100 * WAN, 100 * WAN, 30 * WAN, 100 * WAN]
    );
    // The ledger keeps the imported clause under its full name.
    assert_eq!(
        query(
            db,
            &format!("SELECT COUNT(*) FROM entitlements WHERE clause = '{city}'")
        ),
        2
    );
    verify(db);
}

#[test]
fn highest_only_across_two_policy_documents_over_three_years_sqlite() {
    let w = work("jiugao-sqlite");
    jiugao_flow(&s(&w.join("ledger.sqlite")), &w);
}

#[test]
fn highest_only_across_two_policy_documents_over_three_years_postgres() {
    let w = work("jiugao-pg");
    let name = format!("huiqi_jiugao_{}", std::process::id());
    pg_exec(&format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}"
    ));
    jiugao_flow(&pg_url(&name), &w);
    pg_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
