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

fn small_zone(tag: &str) -> (std::path::PathBuf, String) {
    let work = std::env::temp_dir().join(format!("huiqi-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let o = huiqi(&["gen", "--firms", "200", "--seed", "5", "--out", &w("zone")]);
    assert!(o.status.success());
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
    (work, snap.to_string_lossy().into_owned())
}

fn run_into(snap: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut a = vec![
        "run",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        snap,
        "--period",
        "2023",
        "--out",
        out,
        "--no-xlsx",
        "--lang",
        "en",
    ];
    a.extend(extra);
    huiqi(&a)
}

/// Issue 14 §2: a snapshot whose table was changed after ingest is refused before anything is
/// written, and its manifest's hash is never certified for the changed content.
#[test]
fn a_doctored_snapshot_is_refused() {
    let (work, snap) = small_zone("doctored");
    let out = work.join("run").to_string_lossy().into_owned();
    let firms = Path::new(&snap).join("firms.parquet");
    let mut bytes = std::fs::read(&firms).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&firms, &bytes).unwrap();
    let o = run_into(&snap, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("do not match the hash in its manifest"),
        "{err}"
    );
    assert!(!work.join("run/manifest.json").exists());
}

/// Issue 14 §6 and §10: `--out` never overwrites what is not a previous run (a snapshot, say),
/// a rerun replaces a run whole, and leftovers of an interrupted write are removed.
#[test]
fn run_output_never_destroys_and_appears_whole() {
    let (work, snap) = small_zone("outdir");
    // Into the snapshot itself: refused, the snapshot still reads.
    let o = run_into(&snap, &snap, &[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    let o = huiqi(&["snapshot-info", &snap]);
    assert!(o.status.success());
    // Into a directory of someone's files: refused unless --force.
    let other = work.join("notes");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let o = run_into(&snap, &other.to_string_lossy(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
    // A run, a leftover of a killed one beside it, then a rerun into the same directory.
    let out = work.join("run");
    let out_s = out.to_string_lossy().into_owned();
    assert!(run_into(&snap, &out_s, &[]).status.success());
    let leftover = work.join(".run.writing-999999");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("results.csv"), "truncated").unwrap();
    let first = std::fs::read(out.join("manifest.json")).unwrap();
    let o = run_into(&snap, &out_s, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), first);
    assert!(!leftover.exists(), "the leftover was not removed");
    let names: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

/// Issue 14 §4: an amount past exact arithmetic is never paid, wrapped or saturated: `explain`
/// (the reference evaluator) and `run` (the columnar engine) both refuse, naming the clause, and
/// `run` writes nothing.
#[test]
fn an_overflowing_amount_is_refused_by_both_engines_naming_firm_and_clause() {
    let (work, snap) = small_zone("overflow");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pack = work.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    for e in std::fs::read_dir(root.join("policies/ningbo")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".hq") && !name.ends_with(".test.hq") {
            std::fs::copy(&p, pack.join(&name)).unwrap();
        }
    }
    // 2350万 × 10¹¹ ≈ 2.4×10¹⁸ 元: past the ≈7.9×10¹⁶ 元 that exact arithmetic holds.
    std::fs::write(
        pack.join("zz_overflow.hq"),
        "clause 巨额奖励 {\n  ref \"1\"\n  text \"极值\"\n  amount 营业收入 * 100000000000\n}\n",
    )
    .unwrap();
    let pack_s = pack.to_string_lossy().into_owned();
    let o = huiqi(&[
        "explain",
        &pack_s,
        "examples/firms/meixu_jingmi.toml",
        "--period",
        "2023",
        "--lang",
        "en",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("91330201MA2CQX070X") && err.contains("巨额奖励") && err.contains("overflow"),
        "{err}"
    );
    let out = work.join("run").to_string_lossy().into_owned();
    let o = huiqi(&[
        "run",
        "--policy",
        &pack_s,
        "--snapshot",
        &snap,
        "--period",
        "2023",
        "--out",
        &out,
        "--no-xlsx",
        "--lang",
        "en",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("巨额奖励") && err.contains("overflow"),
        "{err}"
    );
    assert!(!work.join("run").exists(), "a refused run wrote {out}");
    let _ = std::fs::remove_dir_all(&work);
}
