//! `huiqi gen`, `huiqi ingest` and `huiqi snapshot-info` through the binary: output, exit codes,
//! and the data-error report (`file:row:column: reason`).

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use crate::support;
use support::{huiqi, text};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-data-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn gen_then_ingest_then_info() {
    let d = tmp("ok");
    let out = d.join("zone");
    let snaps = d.join("snaps");
    let o = huiqi(&[
        "gen",
        "--firms",
        "50",
        "--years",
        "2021..2023",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("mapping.toml").is_file());
    let o = huiqi(&[
        "ingest",
        "--policy",
        "policies/ningbo",
        "--mapping",
        out.join("mapping.toml").to_str().unwrap(),
        "--snapshots",
        snaps.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("firms 50"), "{t}");
    let hash16 = t.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(hash16.len(), 16, "{t}");
    assert!(snaps.join(&hash16).join("manifest.json").is_file());
    let o = huiqi(&["snapshot-info", snaps.join(&hash16).to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"created_by\""));
}

/// `huiqi gen --firms-from examples/firms`: the sample firms after the generated ones, ingested
/// with the zone (their award history through 兑现记录.csv).
#[test]
fn gen_with_the_sample_firms() {
    let d = tmp("samples");
    let out = d.join("zone");
    let o = huiqi(&[
        "gen",
        "--firms",
        "50",
        "--out",
        out.to_str().unwrap(),
        "--firms-from",
        "examples/firms",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("兑现记录.csv  1"), "{t}");
    assert!(t.contains("其中样例企业 6 家"), "{t}");
    let o = huiqi(&[
        "ingest",
        "--policy",
        "policies/ningbo",
        "--mapping",
        out.join("mapping.toml").to_str().unwrap(),
        "--snapshots",
        d.join("snaps").to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("firms 56"), "{t}");
}

#[test]
fn data_errors_exit_1_with_locations() {
    let snaps = tmp("bad").join("snaps");
    for (case, loc) in [
        ("text-amount", "税务.csv:3:营业收入（万元）: "),
        ("unknown-firm-event", "高企.csv:3:统一社会信用代码: "),
    ] {
        let mapping = format!("tests/bad/data/{case}/mapping.toml");
        let o = huiqi(&[
            "ingest",
            "--policy",
            "policies/ningbo",
            "--mapping",
            &mapping,
            "--snapshots",
            snaps.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains(loc), "{t}");
        let o = huiqi(&[
            "--lang",
            "en",
            "ingest",
            "--policy",
            "policies/ningbo",
            "--mapping",
            &mapping,
            "--snapshots",
            snaps.to_str().unwrap(),
        ]);
        assert!(text(&o).contains("no snapshot was written"), "{}", text(&o));
    }
    assert!(!snaps.exists() || std::fs::read_dir(&snaps).unwrap().next().is_none());
}

#[test]
fn bad_year_range_is_a_usage_error() {
    let d = tmp("years");
    let o = huiqi(&["gen", "--years", "2023..2019", "--out", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
