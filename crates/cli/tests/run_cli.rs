//! `huiqi run` end to end: generate a zone, ingest it, run the seed pack twice (the second time
//! computing three times, `--repeat 3`); the result files and the manifest are byte-identical,
//! and the manifest names both hashes.

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn huiqi(args: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(env!("CARGO_BIN_EXE_huiqi"))
        .args(args)
        .current_dir(root)
        .output()
        .unwrap()
}

#[test]
fn runs_are_reproducible() {
    let work = std::env::temp_dir().join(format!("huiqi-run-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    assert!(huiqi(&[
        "gen",
        "--firms",
        "300",
        "--years",
        "2019..2023",
        "--seed",
        "3",
        "--out",
        &w("zone")
    ])
    .status
    .success());
    let o = huiqi(&[
        "ingest",
        "--policy",
        "policies/ningbo",
        "--mapping",
        &w("zone/mapping.toml"),
        "--snapshots",
        &w("snaps"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let snap = std::fs::read_dir(work.join("snaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let snap = snap.to_string_lossy().into_owned();
    // The second run computes three times over the snapshot read once (`--repeat`, for
    // benchmarks): what it writes must not depend on that.
    for (out, repeat) in [("r1", "1"), ("r2", "3")] {
        let o = huiqi(&[
            "run",
            "--policy",
            "policies/ningbo",
            "--snapshot",
            &snap,
            "--period",
            "2023",
            "--out",
            &w(out),
            "--repeat",
            repeat,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("合计"));
    }
    for f in [
        "results.parquet",
        "results.csv",
        "results.xlsx",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(work.join("r1").join(f)).unwrap(),
            std::fs::read(work.join("r2").join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
    let timings = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(work.join(d).join("timings.json")).unwrap()).unwrap()
    };
    assert!(timings("r1").get("compute_ms").is_none());
    assert_eq!(timings("r2")["compute_ms"].as_array().unwrap().len(), 3);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("r1/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["policy"]["hash"].as_str().unwrap().len(), 64);
    assert!(snap.ends_with(&m["snapshot"]["hash"].as_str().unwrap()[..16]));
    let csv = std::fs::read_to_string(work.join("r1/results.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64 - 1, m["rows"].as_u64().unwrap());
    let _ = std::fs::remove_dir_all(&work);
}
