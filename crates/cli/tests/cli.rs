//! End-to-end tests of the `huiqi` binary: the seed pack, the formatter, explanations, and the
//! bad-input corpus under tests/bad (every file must fail cleanly at the right place).

// Tests and benchmarks may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use crate::support;
use support::{huiqi, root, text};

#[test]
fn seed_pack_checks_formats_and_passes_its_tests() {
    let o = huiqi(&["check", "policies"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = huiqi(&["fmt", "--check", "policies"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = huiqi(&["test", "policies"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.ends_with(" failed") && l.contains(" passed, "))
        .expect("summary line");
    let passed: usize = line.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 80, "only {passed} tests in the seed pack");
    assert!(line.ends_with(", 0 failed"), "{line}");
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let dir = tempdir("wrong-expect");
    let src = std::fs::read_to_string(root().join("tests/bad/firm/pack/policy.hq")).unwrap();
    std::fs::write(dir.join("p.hq"), src).unwrap();
    let clause = std::fs::read_to_string(dir.join("p.hq")).unwrap();
    let name = clause
        .split("clause ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(dir.join("t.hq"), format!("test \"故意写错\" {{\n  period 2023\n  firm 甲 {{\n  }}\n  expect 甲.{name} = 1元\n}}\n")).unwrap();
    let o = huiqi(&["test", dir.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
    assert!(out.contains("期望") && out.contains("实际"), "{out}");
}

#[test]
fn explain_says_why_and_why_not() {
    let firms: Vec<PathBuf> = std::fs::read_dir(root().join("examples/firms"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!firms.is_empty());
    for f in &firms {
        let o = huiqi(&["explain", "policies/ningbo", f.to_str().unwrap()]);
        let out = text(&o);
        assert!(o.status.success(), "{}: {out}", f.display());
        assert!(out.contains("合计") && out.contains("原文"), "{out}");
        let o = huiqi(&["explain", "policies/ningbo", f.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert!(v["clauses"].as_array().unwrap().len() >= 8);
        assert!(v["total_fen"].is_i64());
    }
}

#[test]
fn explain_set_is_a_what_if() {
    let f = "examples/firms/meixu_jingmi.toml";
    let run = |extra: &[&str]| {
        let mut a = vec!["explain", "policies/ningbo", f, "--period", "2023"];
        a.extend_from_slice(extra);
        huiqi(&a)
    };
    // The figure on file again: nothing changes.
    let o = run(&["--set", "营业收入=2350万", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changed"], serde_json::json!([]));
    assert_eq!(v["on_file_total_fen"], v["what_if_total_fen"]);
    // A lower revenue: what changed, and the clauses that moved add up to the total's change.
    let o = run(&["--set", "营业收入=1900万", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changed"][0]["on_file"], "2350万元", "{v}");
    assert_eq!(v["changed"][0]["what_if"], "1900万元", "{v}");
    let moved: i64 = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["what_if_fen"].as_i64().unwrap() - d["on_file_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(
        moved,
        v["what_if_total_fen"].as_i64().unwrap() - v["on_file_total_fen"].as_i64().unwrap()
    );
    assert_eq!(v["explanation"]["total_fen"], v["what_if_total_fen"]);
    // In text: the change is named.
    let o = run(&["--set", "营业收入=1900万"]);
    let out = text(&o);
    assert!(
        out.contains("营业收入（2023）: 2350万元 → 1900万元"),
        "{out}"
    );
    // A bad figure names the field (exit 1); monthly or event data cannot change (exit 2).
    let o = run(&["--set", "营业收入=abc"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("facts.营业收入"), "{}", text(&o));
    let o = run(&["--set", "上市进程=辅导备案"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["--set", "营业收入"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_malformed_policy_fails_at_its_line_with_a_hint() {
    let dir = root().join("tests/bad/policy");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hq"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    let mut problems = vec![];
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let want: u32 = src
            .lines()
            .find_map(|l| l.strip_prefix("# expect-line:"))
            .map(|n| n.trim().parse().unwrap())
            .expect("expect-line header");
        let name = f.file_name().unwrap().to_str().unwrap();
        let d = tempdir(&format!("bad-{}", name.trim_end_matches(".hq")));
        std::fs::copy(f, d.join(name)).unwrap();
        for lang in ["zh", "en"] {
            let o = huiqi(&["check", "--lang", lang, d.to_str().unwrap()]);
            let out = text(&o);
            let at = format!("{name}:{want}:");
            let hint = if lang == "zh" { "= 提示:" } else { "= hint:" };
            if o.status.code() != Some(1)
                || !out.contains(&at)
                || !out.contains(hint)
                || out.contains("panicked")
            {
                problems.push(format!(
                    "{name} [{lang}]: want exit 1 at line {want} with a hint, got {:?}\n{out}",
                    o.status.code()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_malformed_firm_file_names_the_field() {
    let dir = root().join("tests/bad/firm");
    let expect: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("expect.toml")).unwrap()).unwrap();
    assert!(expect.len() >= 10);
    let mut problems = vec![];
    for (file, want) in &expect {
        let want = want.as_str().unwrap();
        let path = dir.join(file);
        let o = huiqi(&[
            "explain",
            "tests/bad/firm/pack",
            path.to_str().unwrap(),
            "--period",
            "2023",
        ]);
        let out = text(&o);
        if o.status.code() != Some(1)
            || !out.contains(want)
            || out.contains("panicked")
            || !out.contains("提示")
        {
            problems.push(format!(
                "{file}: want exit 1 naming `{want}`, got {:?}\n{out}",
                o.status.code()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let o = huiqi(&[
        "explain",
        "tests/bad/firm/pack",
        "tests/bad/firm/pack/ok.toml",
        "--period",
        "2023",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(huiqi(&["explain"]).status.code(), Some(2));
    assert_eq!(huiqi(&["check", "no/such/dir"]).status.code(), Some(2));
    assert_eq!(huiqi(&["frobnicate"]).status.code(), Some(2));
}

/// The README's first command: the demo zone end to end, into a directory of its own.
#[test]
fn the_demo_runs_end_to_end_and_leaves_a_verified_ledger() {
    let dir = tempdir("demo");
    let r = root();
    let o = Command::new(env!("CARGO_BIN_EXE_huiqi"))
        .args([
            "demo",
            "--policies",
            &r.join("policies").display().to_string(),
            "--examples",
            &r.join("examples").display().to_string(),
            "--indicators",
            &r.join("indicators").display().to_string(),
        ])
        .current_dir(&dir)
        .output()
        .expect("run huiqi demo");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for want in [
        "11. 校验审计哈希链",
        "审计链完整",
        "3 条明细  → 企业已确认",
        "预算取自",
        // Step 12: issue 18's multi-year flow — 2024 recovers from what 2022 and 2023 paid.
        "12. 多年度",
        "12. 2024年度",
        "迁出追回、失信追回",
        "91330200MA2K1H1A0H",
        // Step 13: the seed page's zone figures, computed back from firm-level rows.
        "13. 区级指标",
        "2056.40亿元",
        "+46.9%",
        "1940.00亿元",
        "●黄 广州高新区 新增高新技术企业",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    let work = dir.join("var/demo");
    for f in [
        "run-2023/manifest.json",
        "run-2023/results.parquet",
        "run-2023/results.xlsx",
        "ledger.sqlite",
        "ledger-export/公示名单-1.xlsx",
        "ledger-export/公示名单-1.csv",
        "multiyear/ledger.sqlite",
        "multiyear/run-2024/clawbacks.csv",
    ] {
        assert!(work.join(f).exists(), "{f} missing");
    }
}

/// `huiqi test policies | head -1`: the reader goes away; the command ends without a panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_huiqi"))
        .args(["test", "policies"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// `explain` of a firm that moved out: its own figures say what it gives back, from which
/// award, at what share — in text (zh, en) and in JSON (what `POST /calculate` answers).
#[test]
fn explain_lists_what_a_clawback_recovers() {
    let d = tempdir("explain-clawback");
    let f = d.join("moved.toml");
    std::fs::write(
        &f,
        r#"id = "91330200MA2K1H1A0H"
name = "甲迁出科技有限公司"

[facts]
"研发费用" = { 2024 = "2500万" }
"迁出本区" = [ { date = 2024-06-30 } ]

[[awards]]
clause = "研发投入奖励"
period = 2022
amount = "300万"

[[awards]]
clause = "研发投入奖励"
period = 2023
amount = "200万"
"#,
    )
    .unwrap();
    let pack = "policies/examples/clawback";
    let args = |extra: &[&'static str]| {
        let mut a = vec!["explain", pack, f.to_str().unwrap(), "--period", "2024"];
        a.extend_from_slice(extra);
        a
    };
    let o = huiqi(&args(&[]));
    let zh = text(&o);
    assert!(o.status.success(), "{zh}");
    assert!(zh.contains("应追回： 340万元"), "{zh}");
    assert!(
        zh.contains("追回 迁出追回：2022年 研发投入奖励 已获 300万元，按剩余3/5年限追回 180万元"),
        "{zh}"
    );
    let en = text(&huiqi(&args(&["--lang", "en"])));
    assert!(en.contains("4/5 of the term remaining"), "{en}");
    let o = huiqi(&args(&["--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cb = v["clawbacks"].as_array().unwrap();
    assert_eq!(cb.len(), 2);
    assert_eq!(cb[0]["rule"], "迁出追回");
    assert_eq!(cb[0]["share"], "3/5");
    assert_eq!(cb[0]["amount_fen"], 180_000_000);
    assert_eq!(cb[1]["amount_fen"], 160_000_000);
    // The firm gets nothing new this year: it moved out.
    assert_eq!(v["total_fen"], 0);
    let _ = std::fs::remove_dir_all(&d);
}
