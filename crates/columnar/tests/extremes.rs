//! Differential tests at the edges of exact arithmetic: amounts near and beyond i64::MAX 分,
//! huge literals, ratios of enormous amounts, negative extremes. Both engines compute on the
//! same fixed-point scale; a result beyond its range (`huiqi_ir::money::MAX_SCALED`, about
//! 7.9×10¹⁶ 元) is an overflow, and an amount that is one refuses the run naming the firm and
//! the clause — the same firm and clause in both engines, never a wrapped or saturated amount.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use huiqi_ir::*;
use rust_decimal::Decimal;

const HEADER: &str = r#"
policy 极值 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }
fact 比例: ratio per year { label "比例" source "税务" }
enum 阶段 { 一, 二 }
fact 进程: event 阶段 { label "进程" source "金融办" }
"#;

/// A name no other test of this process uses at the same time.
fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("extremes-{what}-{n}")
}

fn program(clauses: &str) -> Program {
    let dir = std::env::temp_dir().join(format!("huiqi-{}-{}", unique("pack"), std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), format!("{HEADER}{clauses}")).unwrap();
    let loaded = match huiqi_lang::load_pack(&dir) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "pack does not check:\n{clauses}\n{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    loaded.program
}

/// Firms with 营收 (元) and 比例 in 2023.
fn firms(p: &Program, rows: &[(&str, &str, &str)]) -> Vec<Firm> {
    let f = |name: &str| p.fact_by_name(name).unwrap();
    rows.iter()
        .map(|(id, rev, ratio)| {
            let mut firm = Firm::new(*id, "", p.facts.len());
            let v = |s: &str| s.parse::<Decimal>().unwrap();
            firm.facts[f("营收")] = FactData::Yearly(vec![(2023, Value::Money(v(rev)))]);
            firm.facts[f("比例")] = FactData::Yearly(vec![(2023, Value::Ratio(v(ratio)))]);
            firm
        })
        .collect()
}

fn clause(name: &str, body: &str) -> String {
    format!("clause {name} {{\n  ref \"1\"\n  text \"极值\"\n{body}}}\n")
}

/// Both engines, whole and one firm per chunk: the same rows, or the same overflow.
fn agree(clauses: &str, rows: &[(&str, &str, &str)]) -> Result<(), String> {
    let p = program(clauses);
    let mut fs = firms(&p, rows);
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("agree"))
}

/// Both engines refuse the run, naming this firm and clause.
fn both_overflow(clauses: &str, rows: &[(&str, &str, &str)], firm: &str, clause: &str) {
    let p = program(clauses);
    let mut fs = firms(&p, rows);
    let got = common::overflow_of_both(&p, &mut fs, 2023, &unique("overflow"));
    assert_eq!(
        got,
        Ok((firm.to_string(), clause.to_string())),
        "\n{clauses}"
    );
}

const NORMAL: (&str, &str, &str) = ("A0", "1000000", "0.5");

#[test]
fn a_huge_literal_times_two_overflows_in_both() {
    // 6×10¹⁶ 元 fits; twice that does not.
    let cl = clause("巨额", "  amount 60000000000000000元 * 2\n");
    both_overflow(&cl, &[NORMAL, ("B1", "1", "0")], "A0", "巨额");
}

#[test]
fn a_ratio_times_an_enormous_amount_overflows_in_both() {
    let cl = clause("正常", "  amount 营收 * 1%\n") + &clause("比例额", "  amount 营收 * 比例\n");
    both_overflow(
        &cl,
        &[
            NORMAL,
            ("C2", "70000000000000000", "1.5"),
            ("B1", "70000000000000000", "2"),
        ],
        "B1",
        "比例额",
    );
}

#[test]
fn amounts_near_i64_max_fen_are_refused_or_exact() {
    // 9.2×10¹⁶ 元 ≈ i64::MAX 分: beyond exact arithmetic, refused rather than saturated.
    let cl = clause("原值", "  amount 营收\n");
    both_overflow(
        &cl,
        &[NORMAL, ("B1", "92233720368547758.07", "0")],
        "B1",
        "原值",
    );
    // 7.9×10¹⁶ 元 is the edge of the range: exact in both, to the 分.
    agree(&cl, &[NORMAL, ("B1", "79228162514264337.59", "0")]).unwrap();
    // Just past it, as the sum of two amounts within it.
    let cl = clause("和", "  amount 营收 + 营收\n");
    agree(&cl, &[NORMAL, ("B1", "39614081257132168.79", "0")]).unwrap();
    both_overflow(
        &cl,
        &[NORMAL, ("B1", "39614081257132168.80", "0")],
        "B1",
        "和",
    );
}

#[test]
fn negative_extremes_overflow_in_both() {
    let cl = clause("负", "  amount 0元 - 营收 * 2\n");
    both_overflow(&cl, &[NORMAL, ("B1", "50000000000000000", "0")], "B1", "负");
    // A negative amount within the range is zero, with its reason, in both.
    agree(&cl, &[NORMAL, ("B1", "30000000000000000", "0")]).unwrap();
}

#[test]
fn an_overflow_the_amount_does_not_use_is_no_error() {
    // The condition compares an overflowed value (above every number, in both engines); the
    // branch not taken and the failed tranche never make an amount.
    let cls = clause(
        "条件",
        "  require 大: 营收 * 比例 > 1万\n  amount if 营收 > 1元 then 1万 else 营收 * 比例\n",
    ) + &clause("未达", "  require 小: 营收 < 0元\n  amount 营收 * 比例\n")
        + &clause("兜底", "  amount min(营收 * 比例, 1万)\n");
    agree(&cls, &[NORMAL, ("B1", "70000000000000000", "3")]).unwrap();
}

#[test]
fn a_schedule_stage_not_reached_is_never_refused() {
    let cl = clause(
        "上市",
        "  schedule 进程 each {\n    一 => 1万\n    二 => 90000000000000000元\n  }\n",
    );
    let p = program(&cl);
    let firm = |id: &str, stages: &[u32]| {
        let mut firm = Firm::new(id, "", p.facts.len());
        let f = p.fact_by_name("进程").unwrap();
        firm.facts[f] = FactData::Events(
            stages
                .iter()
                .map(|&v| EventRec {
                    date: Date::new(2023, 3, 1 + v).unwrap(),
                    until: None,
                    value: Some(v),
                })
                .collect(),
        );
        firm
    };
    // Stage 二 (beyond exact arithmetic) not reached: stage 一 is paid, in both.
    let mut fs = vec![firm("A0", &[0])];
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("schedule")).unwrap();
    // Reached: refused, in both.
    let mut fs = vec![firm("A0", &[0]), firm("B1", &[0, 1])];
    assert_eq!(
        common::overflow_of_both(&p, &mut fs, 2023, &unique("schedule-overflow")),
        Ok(("B1".to_string(), "上市".to_string()))
    );
}
