//! `huiqi run` end to end: generate a zone, ingest it, run the seed pack twice (the second time
//! computing three times, `--repeat 3`); the result files and the manifest are byte-identical,
//! and the manifest names both hashes.

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use crate::support;
use support::{gen_and_ingest, huiqi};

#[test]
fn runs_are_reproducible() {
    let work = std::env::temp_dir().join(format!("huiqi-run-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let snap = gen_and_ingest(
        &work,
        &["--firms", "300", "--years", "2019..2023", "--seed", "3"],
    );
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
    // results.csv holds the rows a person reads: every award, and zeros a cap, ranking, group
    // or pool made; the full matrix is results.parquet's.
    let csv = std::fs::read_to_string(work.join("r1/results.csv")).unwrap();
    let awards: u64 = (m["by_clause"].as_array().unwrap().iter())
        .map(|c| c["awards"].as_u64().unwrap())
        .sum();
    let read = csv.lines().count() as u64 - 1;
    assert!(awards > 0 && read >= awards, "{read} rows, {awards} awards");
    assert!(
        read < m["rows"].as_u64().unwrap(),
        "{read} of {}",
        m["rows"]
    );
    for l in csv.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        let kind = huiqi_ir::reason::ReasonKind::of_result_text(c[5]);
        assert!(
            c[4] != "0" || kind.is_some_and(|k| k.cut_after_qualifying()),
            "{l}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn small_zone(tag: &str) -> (std::path::PathBuf, String) {
    let work = std::env::temp_dir().join(format!("huiqi-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let snap = gen_and_ingest(&work, &["--firms", "200", "--seed", "5"]);
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
    let root = support::root();
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

/// `run --set`: the parameter's value changes the figures, the manifest lists what was set and
/// its policy hash is not the pack's; `ledger record` refuses such a run; a bad `--set` is a
/// diagnostic pointing into it. `test --set` shows which tests a changed figure breaks.
#[test]
fn a_set_parameter_is_a_what_if_never_recorded() {
    let (work, snap) = small_zone("set");
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let o = run_into(&snap, &w("base"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_into(&snap, &w("set"), &["--set", "高企首次认定奖励额=20万"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(work.join(d).join("manifest.json")).unwrap()).unwrap()
    };
    let (base, set) = (m("base"), m("set"));
    assert_eq!(set["policy"]["set"][0], "高企首次认定奖励额=20万");
    assert!(base["policy"].get("set").is_none());
    assert_ne!(base["policy"]["hash"], set["policy"]["hash"]);
    let clause = |v: &serde_json::Value| {
        v["by_clause"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["clause"] == "高企认定奖励")
            .map(|c| c["amount_fen"].as_i64().unwrap())
            .unwrap()
    };
    assert!(
        clause(&set) > clause(&base),
        "{} {}",
        clause(&set),
        clause(&base)
    );
    let o = huiqi(&[
        "ledger",
        "--db",
        &w("l.sqlite"),
        "record",
        &w("set"),
        "--lang",
        "en",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be recorded"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_into(&snap, &w("bad"), &["--set", "高企首次认定奖励额=20%"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--set 高企首次认定奖励额"), "{err}");
    assert!(!work.join("bad/manifest.json").exists());
    let o = run_into(&snap, &w("bad"), &["--set", "高企首次认定奖金=20万"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("E0330"));
    // The seed pack's tests under a changed figure: the 高企 tests fail, naming it.
    let o = huiqi(&[
        "test",
        "policies/ningbo",
        "--set",
        "高企首次认定奖励额=20万",
        "--lang",
        "en",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("高企认定奖励"), "{out}");
    let _ = std::fs::remove_dir_all(&work);
}

/// `huiqi simulate` (the 政策沙盘): the same pack as its own reform changes nothing; a
/// reform.toml and the same change written into a copy of the pack give identical deltas; every
/// breakdown adds up to the total, to the 分; delta.parquet holds exactly those figures.
#[test]
fn simulate_compares_a_reform_with_the_base_exactly() {
    let (work, snap) = small_zone("simulate");
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let sim = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "simulate",
            "--policy",
            "policies/ningbo",
            "--snapshot",
            &snap,
            "--period",
            "2023",
            "--out",
        ];
        let out = w(out);
        a.push(&out);
        a.extend(extra);
        let o = huiqi(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.join(&out).join("summary.json")).unwrap())
                .unwrap();
        s
    };
    // The pack against itself: Δ = 0 everywhere.
    let same = sim("same", &["--reform", "policies/ningbo"]);
    assert_eq!(same["total_delta_fen"], 0);
    assert_eq!(same["all"]["gainers"], 0);
    assert_eq!(same["base"]["hash"], same["reform"]["hash"]);
    assert!(same["total_base_fen"].as_i64().unwrap() > 0);
    assert_eq!(same["standalone_delta_fen"], 0);
    assert_eq!(same["interaction_fen"], 0);
    // A reform.toml: a bigger 研发资金池 and a higher 高企 award from 2023.
    std::fs::write(
        work.join("reform.toml"),
        "[[set]]\nname = \"研发资金池预算\"\nvalue = \"3000万\"\n\n[[set]]\nname = \"高企首次认定奖励额\"\nvalue = \"8万\"\nfrom = 2023-01-01\n",
    )
    .unwrap();
    let toml = sim("toml", &["--reform", &w("reform.toml")]);
    // The same change written into a copy of the pack.
    let copy = work.join("pack");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir("../../policies/ningbo").unwrap() {
        let p = e.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.ends_with("rnd.hq") {
            text = text.replace("  2022-01-01: 1000万  # 假设", "  2022-01-01: 3000万");
        }
        if p.ends_with("hightech.hq") {
            text = text.replace(
                "  2022-01-01: 5万\n  2024-01-01: 10万",
                "  2022-01-01: 5万\n  2023-01-01: 8万",
            );
        }
        std::fs::write(copy.join(p.file_name().unwrap()), text).unwrap();
    }
    let edited = sim("edited", &["--reform", &w("pack")]);
    assert!(toml["total_delta_fen"].as_i64().unwrap() > 0);
    for k in [
        "total_base_fen",
        "total_reform_fen",
        "total_delta_fen",
        "all",
        "by_clause",
        "groupings",
        "bands",
        "pct_bands",
        "pools",
        "standalone_delta_fen",
        "interaction_fen",
    ] {
        assert_eq!(toml[k], edited[k], "{k}");
    }
    assert_eq!(
        std::fs::read(work.join("toml/delta.parquet")).unwrap(),
        std::fs::read(work.join("edited/delta.parquet")).unwrap()
    );
    // Every breakdown adds up to the total.
    let total = toml["total_delta_fen"].as_i64().unwrap();
    let sum = |v: &serde_json::Value| -> i64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["delta_fen"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum(&toml["by_clause"]), total);
    for g in toml["groupings"].as_array().unwrap() {
        assert_eq!(sum(&g["groups"]), total, "{}", g["by"]);
        let firms: u64 = g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["firms"].as_u64().unwrap())
            .sum();
        assert_eq!(firms, toml["firms"].as_u64().unwrap(), "{}", g["by"]);
        // Each group's bands hold its moving firms; over the groups, the summary's bands.
        for (bands, all) in [("bands", &toml["bands"]), ("pct_bands", &toml["pct_bands"])] {
            for (k, band) in all.as_array().unwrap().iter().enumerate() {
                let over: u64 = g["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x[bands][k]["gainers"].as_u64().unwrap())
                    .sum();
                assert_eq!(
                    over,
                    band["gainers"].as_u64().unwrap(),
                    "{} {bands} {k}",
                    g["by"]
                );
            }
        }
    }
    // The declared groupings (policies/ningbo/groups.toml): size class, 规上, 高企; the file's
    // hash is recorded (it is not part of the pack's).
    assert_eq!(toml["groups_sha256"].as_str().unwrap().len(), 64);
    let by: Vec<&str> = toml["groupings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["by"].as_str().unwrap())
        .collect();
    for want in ["行业", "规模", "规上", "高企"] {
        assert!(by.contains(&want), "{want} not in {by:?}");
    }
    let classes = |name: &str| -> Vec<String> {
        toml["groupings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["by"] == name)
            .unwrap()["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["value"].as_str().unwrap().to_string())
            .collect()
    };
    // Declared classes keep their order; a generated zone has firms of more than one size.
    let sizes = classes("规模");
    assert!(sizes.len() >= 2, "{sizes:?}");
    let order = ["大型", "中型", "小型", "微型", "(未划型)"];
    let pos: Vec<usize> = sizes
        .iter()
        .map(|v| order.iter().position(|o| o == v).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(classes("规上")
        .iter()
        .all(|v| ["规上", "规下", "(未划型)"].contains(&v.as_str())));
    // Stand-alone by clause beside joint: the stand-alone sum and the interactions make the
    // total, and the stand-alone column alone does not pretend to.
    let alone: i64 = toml["by_clause"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["standalone"]["delta_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(alone, toml["standalone_delta_fen"].as_i64().unwrap());
    assert_eq!(
        alone + toml["interaction_fen"].as_i64().unwrap(),
        total,
        "{}",
        toml["by_clause"]
    );
    // The 研发资金池: 1000万 → 3000万 of budget; the share paid never falls.
    let pool = &toml["pools"].as_array().unwrap()[0];
    assert_eq!(pool["pool"], "研发资金池");
    assert_eq!(pool["base"]["budget_fen"], 1_000_000_000i64);
    assert_eq!(pool["reform"]["budget_fen"], 3_000_000_000i64);
    assert!(
        pool["reform"]["factor_bp"].as_i64().unwrap()
            >= pool["base"]["factor_bp"].as_i64().unwrap()
    );
    // Both kinds of bands hold every firm that moved.
    for bands in ["bands", "pct_bands"] {
        let b = toml[bands].as_array().unwrap();
        let moved: u64 = b
            .iter()
            .map(|x| x["gainers"].as_u64().unwrap() + x["losers"].as_u64().unwrap())
            .sum();
        assert_eq!(
            moved,
            toml["all"]["gainers"].as_u64().unwrap() + toml["all"]["losers"].as_u64().unwrap(),
            "{bands}"
        );
    }
    // The listed firms say what changed for them (the reference evaluator's sentences).
    for f in toml["top_gainers"].as_array().unwrap() {
        assert!(!f["first_changes"].as_array().unwrap().is_empty(), "{f}");
    }
    assert_eq!(
        toml["all"]["gain_fen"].as_i64().unwrap() + toml["all"]["loss_fen"].as_i64().unwrap(),
        total
    );
    assert!(!toml["groupings"].as_array().unwrap().is_empty());
    // delta.parquet is the file the summary certifies.
    let files = toml["files"].as_array().unwrap();
    assert_eq!(files[0]["file"], "delta.parquet");
    assert_eq!(files[0]["sha256"].as_str().unwrap().len(), 64);
    assert!(work.join("toml/reform.xlsx").exists());
    // Nothing to compare with: a usage error, nothing written.
    let o = huiqi(&[
        "simulate",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        &snap,
        "--period",
        "2023",
        "--out",
        &w("none"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!work.join("none").exists());
    let _ = std::fs::remove_dir_all(&work);
}

/// `huiqi simulate --solve`: the budget solver finds the 研发资金池's budget that keeps the
/// whole pack within a total — its total within, one 分 more over — and simulates that value;
/// a budget below what the pack pays anyway and an unknown parameter are refused.
#[test]
fn simulate_solves_a_parameter_for_a_budget() {
    let (work, snap) = small_zone("solve");
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let solve = |out: &str, budget: &str, extra: &[&str]| {
        let mut a = vec![
            "simulate",
            "--policy",
            "policies/ningbo",
            "--snapshot",
            &snap,
            "--period",
            "2023",
            "--no-xlsx",
            "--solve",
            "研发资金池预算",
            "--budget",
            budget,
            "--out",
        ];
        let out = w(out);
        a.push(&out);
        a.extend(extra);
        huiqi(&a)
    };
    // The largest budget in the range fits 100亿: the answer is the range's end; its
    // simulation's base is the pack as it is.
    let o = solve("probe", "100亿", &["--range", "100万..2000万"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("probe/summary.json")).unwrap()).unwrap();
    let base = s["total_base_fen"].as_i64().unwrap();
    // A budget 300万 over the pack's total: the pool may grow by at most 300万 (the pool is
    // oversubscribed at 1000万 in this zone, so every 分 of budget is paid).
    let budget_fen = base + 300_000_000;
    let budget = format!("{}元", budget_fen / 100);
    let o = solve("solved", &budget, &["--range", "100万..2000万"]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("预算求解"), "{said}");
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("solved/summary.json")).unwrap()).unwrap();
    let solved = &s["solve"];
    assert!(
        solved["total_fen"].as_i64().unwrap() <= budget_fen,
        "{solved}"
    );
    assert_eq!(solved["direction"], "increasing");
    if let Some(next) = solved["next"].as_object() {
        assert!(next["total_fen"].as_i64().unwrap() > budget_fen, "{solved}");
    }
    // The simulation is of the value found.
    assert_eq!(
        s["reform"]["set"][0].as_str().unwrap(),
        format!("研发资金池预算={}", solved["value"].as_str().unwrap())
    );
    assert_eq!(s["total_reform_fen"], solved["total_fen"]);
    // Whatever the value, the pack pays more than 1元: refused, nothing written.
    let o = solve("none", "1元", &["--range", "100万..2000万"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!work.join("none").exists());
    let o = solve(
        "none",
        "1亿",
        &["--range", "0..2000万", "--set", "瞪羚遴选名额=5"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = huiqi(&[
        "simulate",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        &snap,
        "--period",
        "2023",
        "--solve",
        "没有这个参数",
        "--budget",
        "1亿",
        "--out",
        &w("none"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!work.join("none").exists());
    let _ = std::fs::remove_dir_all(&work);
}

/// `huiqi gen --seed-zones` → `ingest` → `huiqi indicators`: the seed page's figures printed and
/// written (twice: the same bytes); a bad period is a usage error; a doctored snapshot and a set
/// with a bare Chinese key are refused with their reasons, and nothing is written.
#[test]
fn indicators_from_the_command_line() {
    let work = std::env::temp_dir().join(format!("huiqi-ind-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let o = huiqi(&["gen", "--seed-zones", "--out", &w("zones")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = huiqi(&[
        "ingest",
        "--policy",
        "policies/ningbo",
        "--mapping",
        &w("zones/mapping.toml"),
        "--snapshots",
        &w("snaps"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let snap = std::fs::read_dir(work.join("snaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let snap = snap.to_string_lossy().into_owned();
    let o = huiqi(&[
        "indicators",
        "--snapshot",
        &snap,
        "--period",
        "2021-11",
        "--zone",
        "成都高新区",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for want in ["2056.40亿元", "+46.9%", "434家", "273.44亿元", "+61.1%"] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    assert!(
        !out.contains("宁波高新区\n"),
        "--zone shows one zone:\n{out}"
    );
    // Written twice: the same bytes.
    for d in ["o1", "o2"] {
        let o = huiqi(&[
            "indicators",
            "--snapshot",
            &snap,
            "--period",
            "2021-11",
            "--out",
            &w(d),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    for f in [
        "indicators.parquet",
        "indicator_firms.parquet",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(work.join("o1").join(f)).unwrap(),
            std::fs::read(work.join("o2").join(f)).unwrap(),
            "{f}"
        );
    }
    // 瞪羚 from a run of the pack on the same snapshot, 固投 from the projects table, and the
    // money by policy from a ledger the run is recorded in.
    let o = huiqi(&[
        "run",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        &snap,
        "--period",
        "2022",
        "--out",
        &w("run22"),
        "--no-xlsx",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let base = [
        "indicators",
        "--snapshot",
        &snap,
        "--period",
        "2022-11",
        "--zone",
        "广州高新区",
    ];
    let o = huiqi(&base);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("需要 2022 年的运行结果"), "{out}");
    assert!(out.contains("1786.40亿元"), "{out}");
    let o = huiqi(&["ledger", "record", &w("run22"), "--db", &w("l.sqlite")]);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = base.to_vec();
    let (run, db) = (w("run22"), w("l.sqlite"));
    args.extend(["--run", &run, "--ledger", &db]);
    let o = huiqi(&args);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains("需要 2022 年的运行结果"), "{out}");
    assert!(out.contains("遴选瞪羚企业"), "{out}");
    assert!(
        out.contains("政策资金兑现（2022年度") && out.contains("个工作日"),
        "{out}"
    );
    // A ledger that does not exist is an error, not an empty table.
    let mut args = base.to_vec();
    let nodb = w("none.sqlite");
    args.extend(["--ledger", &nodb]);
    let o = huiqi(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A bad period: usage (exit 2).
    let o = huiqi(&["indicators", "--snapshot", &snap, "--period", "2021-13"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A set with a bare Chinese key: its place and the hint.
    std::fs::create_dir_all(work.join("badset")).unwrap();
    std::fs::write(
        work.join("badset/a.toml"),
        "[set]\nname = \"x\"\nversion = \"1\"\nzone_fact = \"所属园区\"\n[[indicator]]\nid = \"n\"\nmeasure = \"count\"\nwhere = { 规上企业 = true }\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n",
    )
    .unwrap();
    let o = huiqi(&[
        "indicators",
        "--set",
        &w("badset"),
        "--snapshot",
        &snap,
        "--period",
        "2021-11",
        "--out",
        &w("o3"),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("a.toml:8:") && out.contains("加引号"), "{out}");
    assert!(!work.join("o3").exists());
    // A doctored snapshot (one byte of a table flipped): refused, nothing written.
    let p = Path::new(&snap).join("monthly.parquet");
    let mut b = std::fs::read(&p).unwrap();
    let k = b.len() / 2;
    b[k] ^= 0x01;
    std::fs::write(&p, b).unwrap();
    let o = huiqi(&[
        "indicators",
        "--snapshot",
        &snap,
        "--period",
        "2021-11",
        "--out",
        &w("o4"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!work.join("o4").exists());
    let _ = std::fs::remove_dir_all(&work);
}

/// Issue 18 §1, end to end: the group-cap example's data (a text fact, 实际控制人, ingested per
/// year) run for 2023 and 2024. Sister firms share the 400万 cap in the order they were
/// recognised; a firm that changes hands shares with its new group; a firm without a controller
/// is capped alone; the reason names the cap.
#[test]
fn a_group_cap_is_shared_by_sister_firms_from_ingested_data() {
    let work = std::env::temp_dir().join(format!("huiqi-run-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let w = |p: &str| work.join(p).to_string_lossy().into_owned();
    let pack = "policies/examples/group-cap";
    let o = huiqi(&[
        "ingest",
        "--policy",
        pack,
        "--mapping",
        "examples/group-cap/mapping.toml",
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
    // credit code → short name in the example's register.
    let firm = |code: &str| match code {
        "91330200MA2J0G1A00" => "甲一",
        "91330200MA2J0G2B1R" => "甲二",
        "91330200MA2J0G3C2K" => "甲三",
        "91330200MA2J0G4D3D" => "乙一",
        "91330200MA2J0G5E47" => "丙",
        other => panic!("unknown firm {other}"),
    };
    let rows = |period: &str| -> Vec<String> {
        let out = w(&format!("run-{period}"));
        let o = huiqi(&[
            "run",
            "--policy",
            pack,
            "--snapshot",
            &snap,
            "--period",
            period,
            "--out",
            &out,
            "--no-xlsx",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let csv = std::fs::read_to_string(work.join(format!("run-{period}/results.csv"))).unwrap();
        let mut rows: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| {
                // 统一社会信用代码,条款,分期,金额（元）,金额（分）,原因
                let c: Vec<&str> = l.trim_start_matches('\u{feff}').split(',').collect();
                format!("{} {} {} {}", firm(c[0]), c[1], c[4], c[5])
            })
            .collect();
        rows.sort();
        rows
    };
    // results.csv: the awards and the zeros the group cap made (a failed condition's zero is
    // in results.parquet only).
    let cap = "groupcap:同一集团年度上限";
    assert_eq!(
        rows("2023"),
        [
            "丙 研发投入奖励 300000000 ".to_string(),
            "丙 高企认定奖励 50000000 ".into(),
            "乙一 研发投入奖励 250000000 ".into(),
            "乙一 高企认定奖励 50000000 ".into(),
            // 甲集团: 甲一 (recognised in March) first, 甲二 (May) gets the 150万 left, 甲三
            // (not recognised) last and nothing.
            "甲一 研发投入奖励 200000000 ".into(),
            "甲一 高企认定奖励 50000000 ".into(),
            format!("甲三 研发投入奖励 0 {cap}"),
            "甲二 研发投入奖励 150000000 ".into(),
            format!("甲二 高企认定奖励 0 {cap}"),
        ]
    );
    assert_eq!(
        rows("2024"),
        [
            "丙 研发投入奖励 300000000 ".to_string(),
            "乙一 研发投入奖励 200000000 ".into(),
            // 甲三 moved to 乙控股集团 in 2024: after 乙一, 200万 of its 350万.
            "甲一 研发投入奖励 250000000 ".into(),
            "甲三 研发投入奖励 200000000 ".into(),
            format!("甲三 高企认定奖励 0 {cap}"),
            "甲二 研发投入奖励 150000000 ".into(),
        ]
    );
    let _ = std::fs::remove_dir_all(&work);
}
