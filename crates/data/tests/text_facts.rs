//! Text facts (`fact 实际控制人: text per year`, a firm's group for a `group cap`): a static and
//! a yearly text column → ingest → the snapshot's Utf8 columns → `load_snapshot`; trimmed,
//! empty is missing; a text too long or holding a line break is refused with file, row and
//! column, and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_data::{ingest, load_snapshot};
use huiqi_ir::{FactData, Program, Value};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("text-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const PACK: &str = r#"
policy 文本测试包 {
  title "text facts"
  issuer "huiqi"
  version "1"
  effective 2022-01-01 .. 2024-12-31
  rounding 分
}
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 实际控制人: text per year { label "实际控制人" source "市场监管" }
fact 母公司: text static { label "母公司" source "市场监管" }
clause 奖励 {
  ref "第一条"
  text "营业收入达到一亿元的，奖励十万元"
  require 达标: 营业收入 >= 1亿
  amount 10万
}
group cap 集团上限 {
  by 实际控制人
  limit 15万
  order amount desc
}
"#;

fn load(d: &Path) -> Program {
    std::fs::create_dir_all(d.join("pack")).unwrap();
    std::fs::write(d.join("pack/p.hq"), PACK).unwrap();
    match huiqi_lang::load_pack(&d.join("pack")) {
        Ok(l) => l.program,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|x| sm.render(x, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    }
}

const A: &str = "91330201MA2H4A3X2L";
const B: &str = "91330201MA2H4B1Y3L";

fn write_zone(d: &Path, control_b_2023: &str) {
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    w(
        "firms.csv",
        format!("代码,名称,母公司\n{A},甲公司,  甲集团 \n{B},乙公司,\n"),
    );
    w(
        "yearly.csv",
        format!(
            "代码,年度,营业收入,实际控制人\n\
             {A},2022,200000000,甲集团\n\
             {A},2023,200000000,=HYPERLINK(\"x\")\n\
             {B},2022,100000000,\n\
             {B},2023,100000000,{control_b_2023}\n"
        ),
    );
    w(
        "mapping.toml",
        r#"
[firms]
file = "firms.csv"
id = "代码"
name = "名称"
facts = { "母公司" = "母公司" }

[[yearly]]
file = "yearly.csv"
id = "代码"
year = "年度"
facts = { "营业收入" = "营业收入", "实际控制人" = "实际控制人" }
"#
        .into(),
    );
}

#[test]
fn text_facts_round_trip_through_ingest() {
    let d = tmp("roundtrip");
    let p = load(&d);
    write_zone(&d, "  乙集团  ");
    let info = ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20)
        .unwrap_or_else(|r| panic!("{r:?}"));
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let (a, b) = (&firms[0], &firms[1]);
    let ctl = p.fact_by_name("实际控制人").unwrap();
    let parent = p.fact_by_name("母公司").unwrap();
    // Trimmed; a text that looks like a formula is only a name (it is never evaluated).
    assert_eq!(
        a.facts[ctl],
        FactData::Yearly(vec![
            (2022, Value::Text("甲集团".into())),
            (2023, Value::Text("=HYPERLINK(\"x\")".into())),
        ])
    );
    assert_eq!(
        a.facts[parent],
        FactData::Static(Value::Text("甲集团".into()))
    );
    // An empty cell is missing (no value for that year).
    assert_eq!(
        b.facts[ctl],
        FactData::Yearly(vec![(2023, Value::Text("乙集团".into()))])
    );
    assert_eq!(b.facts[parent], FactData::None);
}

#[test]
fn a_broken_text_is_refused_with_row_and_column_and_nothing_is_written() {
    for (tag, cell, zh) in [
        ("long", "集".repeat(201), "文本超过 200 个字符"),
        ("newline", "\"乙\n集团\"".to_string(), "控制字符"),
    ] {
        let d = tmp(tag);
        let p = load(&d);
        write_zone(&d, &cell);
        let r = ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20)
            .expect_err("a broken text is refused");
        let e = &r.errors[0];
        assert_eq!(e.row, Some(5), "{tag}: {e:?}");
        assert_eq!(e.column.as_deref(), Some("实际控制人"), "{tag}");
        assert!(e.zh.contains(zh), "{tag}: {}", e.zh);
        // All or nothing: no snapshot directory was left behind.
        let left: Vec<_> = std::fs::read_dir(d.join("snap"))
            .map(|r| r.filter_map(|e| e.ok()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{tag}: {left:?}");
    }
}
