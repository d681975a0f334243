//! The demo zone holds the sample firms of `examples/firms`: each one is in the snapshot with
//! the figures of its file, is decided from the snapshot exactly as from its file, and the
//! demo's ledger carries award lines of sample firms.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi::demo::{DemoPaths, PERIOD};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml" || x == "json"))
        .collect();
    v.sort();
    v
}

/// (clause, tranche, amount, reason) of every clause's every tranche.
fn decisions(e: &huiqi::explain::Explanation<'_>) -> Vec<(String, String, String, String)> {
    e.outcome()
        .clauses
        .iter()
        .flat_map(|c| {
            let name = e.program.clauses[c.clause].name.clone();
            c.tranches.iter().map(move |t| {
                (
                    name.clone(),
                    t.tranche.clone(),
                    t.amount.normalize().to_string(),
                    format!("{:?}", t.reason),
                )
            })
        })
        .collect()
}

#[test]
fn the_demo_snapshot_holds_every_sample_firm_decided_as_from_its_file() {
    let r = root();
    let dir = tempdir("demo-zone");
    let paths = DemoPaths {
        work: dir.join("var/demo"),
        ..DemoPaths::under(&r)
    };
    let zone = huiqi::demo::run(&paths, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let program = huiqi::pack::load(&zone.pack).unwrap().program;
    let on_file = huiqi::explain::load_firms(&program, &zone.snapshot).unwrap();
    let files = sample_files(&paths.firms);
    assert!(files.len() >= 6, "{files:?}");
    let mut codes = vec![];
    for f in &files {
        let from_file = huiqi::explain::read_firm(&program, f).unwrap();
        let Some(from_snapshot) = on_file.get(&from_file.id) else {
            panic!(
                "{} ({}) of {} is not in the demo snapshot",
                from_file.name,
                from_file.id,
                f.display()
            );
        };
        assert_eq!(from_snapshot.name, from_file.name, "{}", f.display());
        assert_eq!(from_snapshot.facts, from_file.facts, "{}", f.display());
        assert_eq!(from_snapshot.awards, from_file.awards, "{}", f.display());
        let a = huiqi::explain::explain(&program, from_file.clone(), Some(PERIOD), None).unwrap();
        let b =
            huiqi::explain::explain(&program, from_snapshot.clone(), Some(PERIOD), None).unwrap();
        assert_eq!(decisions(&b), decisions(&a), "{}", f.display());
        assert_eq!(b.json(), a.json(), "{}", f.display());
        codes.push(from_file.id);
    }

    // The run over the snapshot was recorded: sample firms have award lines in the ledger.
    let db = zone.ledger.display().to_string();
    let with_lines = huiqi::ledger::block_on(async {
        let mut l = huiqi::ledger::open(&db).await.unwrap();
        let mut n = 0;
        for c in &codes {
            let lines = huiqi::ledger::status(&mut l, c).await.unwrap();
            if lines.iter().any(|x| x.amount_fen > 0) {
                n += 1;
            }
        }
        l.close().await;
        n
    })
    .unwrap();
    assert!(
        with_lines >= 1,
        "no sample firm has an award line in the demo ledger"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The demo's step 12 (issue 18's multi-year flow) on the ledger `db`: what 2024 recovered and
/// what the engine reads back for 2025.
fn multiyear_on(dir: &Path, db: Option<String>) {
    const WAN: i64 = 1_000_000;
    let paths = DemoPaths {
        work: dir.join("var/demo"),
        multiyear_db: db,
        ..DemoPaths::under(&root())
    };
    let mut said = vec![];
    let db = huiqi::demo::multiyear(&paths, &mut |e| {
        if let huiqi::demo::DemoEvent::Status { credit_code, lines } = e {
            said.push((credit_code.to_string(), lines.len()));
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let (jia, yi) = ("91330200MA2K1H1A0H", "91330200MA2K1H2B1B");
    // The firm shown is the one that moved out: two awards and two recovery lines.
    assert_eq!(said, vec![(jia.to_string(), 4)]);
    let (recovered, history, verified) = huiqi::ledger::block_on(async {
        let mut l = huiqi::ledger::open(&db).await.unwrap();
        let f = huiqi_ledger::LineFilter {
            states: vec![huiqi_ledger::State::Paid],
            limit: Some(1000),
            ..Default::default()
        };
        let page = huiqi::ledger::lines(&mut l, &f).await.unwrap();
        let recovered: i64 = page
            .rows
            .iter()
            .filter(|r| r.kind == "recovery")
            .map(|r| r.fen)
            .sum();
        let history = l.awards(2025, true).await.unwrap();
        let v = huiqi::ledger::verify(&mut l).await.unwrap();
        l.close().await;
        (recovered, history, v.ok())
    })
    .unwrap();
    assert!(verified);
    // 甲 gives back 3/5 of 300万 and 4/5 of 200万; 乙 the last two years' 150万 + 120万.
    assert_eq!(recovered, -610 * WAN);
    let of = |firm: &str| -> Vec<(i64, i64)> {
        history
            .iter()
            .filter(|a| a.firm_id == firm)
            .map(|a| (a.period, a.fen))
            .collect()
    };
    assert_eq!(of(jia), vec![(2022, 120 * WAN), (2023, 40 * WAN)]);
    assert_eq!(of(yi), vec![(2022, 0), (2023, 0)]);
}

#[test]
fn the_demos_multiyear_flow_recovers_and_caps_sqlite() {
    let dir = tempdir("demo-multiyear");
    multiyear_on(&dir, None);
    assert!(dir.join("var/demo/multiyear/ledger.sqlite").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demos_multiyear_flow_recovers_and_caps_postgres() {
    let dir = tempdir("demo-multiyear-pg");
    let admin = std::env::var("HUIQI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("huiqi_demo_multiyear_{}", std::process::id());
    let exec = |sql: String| {
        huiqi::ledger::block_on(async {
            let mut db = huiqi_ledger::Db::open(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
            db.batch(&sql).await.unwrap();
            db.close().await;
        })
        .unwrap()
    };
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    exec(format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    multiyear_on(&dir, Some(url.clone()));
    // A second demo into the same database is refused: it never mixes with a ledger there.
    let paths = DemoPaths {
        work: dir.join("var/demo"),
        multiyear_db: Some(url),
        ..DemoPaths::under(&root())
    };
    let again = huiqi::demo::multiyear(&paths, &mut |_| {}).unwrap_err();
    let said = again.to_string();
    assert!(
        said.contains("空台账") || said.contains("empty ledger"),
        "{said}"
    );
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(&dir);
}
