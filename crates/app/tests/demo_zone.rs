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
        policies: r.join("policies"),
        firms: r.join("examples/firms"),
        work: dir.join("var/demo"),
        indicator_set: r.join("indicators"),
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
