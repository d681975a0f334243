//! Differential tests at the edges of exact arithmetic: amounts near and beyond i64::MAX 分,
//! huge literals, ratios of enormous amounts, negative extremes. Both engines compute on the
//! same fixed-point scale; a result beyond its range (`huiqi_ir::money::MAX_SCALED`, about
//! 7.9×10¹⁶ 元) is an overflow, and an amount that is one — or a finished amount beyond what a
//! result holds, 10¹⁶ 元 — refuses the run naming the firm and the clause: the same firm and
//! clause in both engines, never a wrapped or saturated amount. Totals across slots and firms
//! (pools, firm caps, 就高, selects) pass i64 exactly in both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use huiqi_ir::*;
use rust_decimal::Decimal;

const HEADER: &str = r#"
policy 极值 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }
fact 比例: ratio per year { label "比例" source "税务" }
enum 阶段 { 一, 二 }
fact 进程: event 阶段 { label "进程" source "金融办" }
fact 月营收: money per month { label "月营收" source "税务" }
fact 贷款: event { label "贷款" source "金融办" field 本金: money }
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
    // 7.9×10¹⁶ 元 is the edge of exact arithmetic: an amount above what a result holds, so
    // refused too (`an_amount_past_what_a_result_holds_is_refused_in_both`) …
    both_overflow(
        &cl,
        &[NORMAL, ("B1", "79228162514264337.59", "0")],
        "B1",
        "原值",
    );
    // … but within it a value is exact: halved, the edge is paid to the 分 in both.
    let cl = clause("半", "  amount 营收 / 8\n");
    agree(&cl, &[NORMAL, ("B1", "79228162514264337.59", "0")]).unwrap();
    // Just past it, as the sum of two amounts within it, a condition sees an overflow.
    let cl = clause("和", "  require 大: 营收 + 营收 > 1元\n  amount 1万\n");
    agree(&cl, &[NORMAL, ("B1", "39614081257132168.80", "0")]).unwrap();
    let cl = clause("和", "  amount 营收 + 营收\n");
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
                    nums: vec![],
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

/// Firms whose loans of 2023 have these principals (元).
fn loans(p: &Program, rows: &[(&str, &[&str])]) -> Vec<Firm> {
    let f = p.fact_by_name("贷款").unwrap();
    rows.iter()
        .map(|(id, principals)| {
            let mut firm = Firm::new(*id, "", p.facts.len());
            firm.facts[f] = FactData::Events(
                principals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| EventRec {
                        date: Date::new(2023, 3, 1 + i as u32).unwrap(),
                        until: None,
                        value: None,
                        nums: vec![Value::Money(v.parse().unwrap())],
                    })
                    .collect(),
            );
            firm
        })
        .collect()
}

#[test]
fn record_sums_past_the_range_overflow_alike_in_both() {
    // Two loans each within the range whose total is not: the sum is an overflow, refused
    // naming the firm and the clause in both engines.
    let p = program(&clause(
        "贴息",
        "  amount sum(贷款: 本金)
",
    ));
    let mut fs = loans(
        &p,
        &[
            ("A0", &["1000000", "1"]),
            ("B1", &["50000000000000000", "40000000000000000"]),
        ],
    );
    assert_eq!(
        common::overflow_of_both(&p, &mut fs, 2023, &unique("records-sum")),
        Ok(("B1".to_string(), "贴息".to_string()))
    );
    // A record value that overflows (up, and down) and a total that does not reach the amount:
    // +∞ and −∞ compare beyond every number, so min/max bring the amount back, in both.
    let p = program(
        &(clause(
            "上溢",
            "  amount min(sum(贷款: 本金 * 1000000000), 1万)
",
        ) + &clause(
            "下溢",
            "  amount max(sum(贷款: 0元 - 本金 * 1000000000), 2万)
",
        ) + &clause(
            "正常",
            "  amount sum(贷款 where 本金 < 1亿: 本金 * 1%)
",
        ) + &clause(
            "笔数",
            "  amount count(贷款 where 本金 >= 1亿) * 1000元
",
        )),
    );
    let mut fs = loans(
        &p,
        &[
            ("A0", &["1000000", "200000000"]),
            ("B1", &["70000000000000000", "3"]),
            ("C2", &[]),
        ],
    );
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("records-edges")).unwrap();
}

#[test]
fn an_amount_past_what_a_result_holds_is_refused_in_both() {
    // 9,999,999,999,999,999.99 元 (10¹⁸ − 1 分, results.parquet's Decimal(18, 2)) is paid to
    // the 分; one 分 more is refused like an overflow, naming the firm and the clause.
    let cl = clause("原值", "  amount 营收\n");
    agree(&cl, &[NORMAL, ("B1", "9999999999999999.99", "0")]).unwrap();
    both_overflow(
        &cl,
        &[NORMAL, ("B1", "10000000000000000", "0")],
        "B1",
        "原值",
    );
    // A cap that brings it within the limit: paid.
    let cl = clause("封顶", "  amount 营收 * 2\n  cap 500万\n");
    agree(&cl, &[NORMAL, ("B1", "30000000000000000", "0")]).unwrap();
}

/// Twelve firms with amounts near the limit: any sum of them passes i64::MAX 分.
fn near_limit(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("F{i:02}"),
                format!("{}", 9_000_000_000_000_000u64 + i as u64 * 1_000_003),
                format!("0.{}", 10 + i),
            )
        })
        .collect()
}

fn agree_owned(clauses: &str, rows: &[(String, String, String)]) -> Result<(), String> {
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    agree(clauses, &rows)
}

#[test]
fn a_pool_whose_demand_passes_i64_is_shared_exactly_in_both() {
    // Demand ≈ 1.08×10¹⁹ 分 > i64::MAX: summed in Int64 it wrapped negative, "within budget",
    // and every claim was paid in full.
    let rows = near_limit(12);
    let cl = clause("大额", "  amount 营收\n");
    let pro_rata = format!("{cl}pool 池 {{\n  clauses [大额]\n  budget 1亿\n  pro_rata\n}}\n");
    agree_owned(&pro_rata, &rows).unwrap();
    let by_score =
        format!("{cl}pool 池 {{\n  clauses [大额]\n  budget 20000000000000000元\n  by score 比例 desc\n}}\n");
    agree_owned(&by_score, &rows).unwrap();
}

#[test]
fn totals_across_clauses_past_i64_are_exact_in_both() {
    // Eleven clauses near the limit: a firm's total passes i64::MAX 分. The firm cap, 就高 and
    // the select's "total > 0" all read such totals.
    let names: Vec<String> = (0..11).map(|i| format!("项{i:02}")).collect();
    let mut cls: String = names.iter().map(|n| clause(n, "  amount 营收\n")).collect();
    cls += &format!(
        "firm cap 上限 50000000000000000元 priority [{}]\n",
        names.join(", ")
    );
    cls += &format!("exclusive 就高 [{}, {}]\n", names[0], names[1]);
    agree_owned(&cls, &near_limit(3)).unwrap();
    let tranches: String = (0..11)
        .map(|i| format!("  tranche 档{i:02} {{\n    amount 营收\n  }}\n"))
        .collect();
    let sel =
        clause("多档", &tranches) + "select 遴选 {\n  clause 多档\n  score 比例\n  top 2\n}\n";
    agree_owned(&sel, &near_limit(4)).unwrap();
}

/// One firm whose 月营收 of 2023 are `months` (元), in month order.
fn monthly_firm(p: &Program, id: &str, months: &[&str]) -> Firm {
    let mut firm = Firm::new(id, "", p.facts.len());
    let f = p.fact_by_name("月营收").unwrap();
    firm.facts[f] = FactData::Monthly(
        months
            .iter()
            .enumerate()
            .map(|(m, v)| ((2023, m as u32 + 1), Value::Money(v.parse().unwrap())))
            .collect(),
    );
    firm
}

#[test]
fn a_monthly_total_whose_running_sum_overflows_stays_an_overflow_in_both() {
    // The reference adds the months in order: once the running sum is beyond exact arithmetic
    // it stays an overflow of that sign, even when later months would bring the sum back.
    let big = "50000000000000000"; // 5×10¹⁶ 元: two of them pass 7.9×10¹⁶
    let neg = "-50000000000000000";
    let p = program(
        &(clause("高", "  require 超: total(月营收) > 1元\n  amount 1万\n")
            + &clause("低", "  require 负: total(月营收) < 0元\n  amount 2万\n")),
    );
    let mut fs = vec![
        monthly_firm(&p, "A0", &["100", "200"]),
        // + overflow at March, then back: the reference says above every number.
        monthly_firm(&p, "B1", &[big, big, neg, neg]),
        // − overflow first: below every number.
        monthly_firm(&p, "C2", &[neg, neg, big, big]),
        // Within the range all along: the exact sum (0).
        monthly_firm(&p, "D3", &[big, neg, big, neg]),
    ];
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("monthly")).unwrap();
    // And as an amount: refused, naming the first such firm.
    let p = program(&clause("额", "  amount total(月营收)\n"));
    let mut fs = vec![
        monthly_firm(&p, "A0", &["100", "200"]),
        monthly_firm(&p, "B1", &[big, big, neg, neg]),
    ];
    assert_eq!(
        common::overflow_of_both(&p, &mut fs, 2023, &unique("monthly-overflow")),
        Ok(("B1".to_string(), "额".to_string()))
    );
}

/// Two negative lists match the same firm: the first in the text's order names the reason, in
/// both engines (it used to be the last).
#[test]
fn the_first_matching_negative_list_names_the_reason() {
    let cl = clause("奖励", "  amount 营收 * 1%\n")
        + "exclude 甲名单: 营收 > 100元\nexclude 乙名单: 营收 > 10元\n";
    let rows = [
        ("91330201MA2AAAAA0X", "1000", "0.1"),
        ("91330201MA2BBBBB0X", "50", "0.1"),
        ("91330201MA2CCCCC0X", "5", "0.1"),
    ];
    agree(&cl, &rows).unwrap();
    let p = program(&cl);
    let fs = firms(&p, &rows);
    let got = common::reference_rows(&p, &fs, 2023);
    let reason = |id: &str| {
        got.iter()
            .find(|r| &*r.firm_id == id)
            .and_then(|r| r.reason.clone())
            .map(|r| r.to_string())
            .unwrap_or_default()
    };
    assert!(reason("91330201MA2AAAAA0X").contains("甲名单"), "{got:?}");
    assert!(reason("91330201MA2BBBBB0X").contains("乙名单"), "{got:?}");
    assert!(!reason("91330201MA2CCCCC0X").contains("名单"), "{got:?}");
}

/// Firms with 营收 in 2022 and 2023 (元) and 比例 in 2023.
fn two_years(p: &Program, rows: &[(&str, &str, &str, &str)]) -> Vec<Firm> {
    let f = |name: &str| p.fact_by_name(name).unwrap();
    let v = |s: &str| s.parse::<Decimal>().unwrap();
    rows.iter()
        .map(|(id, before, now, ratio)| {
            let mut firm = Firm::new(*id, "", p.facts.len());
            firm.facts[f("营收")] = FactData::Yearly(vec![
                (2022, Value::Money(v(before))),
                (2023, Value::Money(v(now))),
            ]);
            firm.facts[f("比例")] = FactData::Yearly(vec![(2023, Value::Ratio(v(ratio)))]);
            firm
        })
        .collect()
}

/// The reference's rows for (firm, clause): amount in 分 and reason text.
fn outcome(p: &Program, fs: &[Firm], firm: &str, clause: &str) -> (i64, Option<String>) {
    let rows = common::reference_rows(p, fs, 2023);
    let r = rows
        .iter()
        .find(|r| &*r.firm_id == firm && &*r.clause == clause)
        .unwrap_or_else(|| panic!("no row for {firm} {clause}"));
    (r.amount_fen, r.reason.as_deref().map(str::to_string))
}

// Growth 1/3 + 1/(3·10¹⁴) against exactly 1/3: equal to 12 decimal places, so a truncated
// score would tie and the credit code (A0 first) would pick the wrong firm.
const CLOSE: [(&str, &str, &str, &str); 2] = [
    ("A0", "3000000000000", "4000000000000", "0"),
    ("B1", "3000000000000", "4000000000000.01", "0"),
];

#[test]
fn a_select_ranks_growth_ratios_that_differ_past_twelve_places() {
    let src = format!(
        "{}select 遴选 {{ clause 奖励  score growth(营收)  top 1 }}\n",
        clause("奖励", "  amount 10万\n")
    );
    let p = program(&src);
    let mut fs = two_years(&p, &CLOSE);
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("exact-select")).unwrap();
    assert_eq!(outcome(&p, &fs, "B1", "奖励"), (10_000_000, None));
    assert_eq!(
        outcome(&p, &fs, "A0", "奖励"),
        (0, Some("select:遴选".into()))
    );
    // A weighted score with a tie key that is itself a quotient ranks exactly as well.
    let src = format!(
        "{}select 遴选 {{ clause 奖励  score 60% * growth(营收) + 40% * 比例  top 1  tie 营收 / prev(营收) desc }}\n",
        clause("奖励", "  amount 10万\n")
    );
    let p = program(&src);
    let mut fs = two_years(&p, &CLOSE);
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("exact-select-tie")).unwrap();
    assert_eq!(outcome(&p, &fs, "B1", "奖励"), (10_000_000, None));
}

#[test]
fn a_pool_by_score_ranks_exactly() {
    let src = format!(
        "{}pool 资金池 {{ clauses [奖励]  budget 10万  by score growth(营收) desc }}\n",
        clause("奖励", "  amount 10万\n")
    );
    let p = program(&src);
    let mut fs = two_years(&p, &CLOSE);
    common::compare_whole_and_chunked(&p, &mut fs, 2023, &unique("exact-pool")).unwrap();
    assert_eq!(outcome(&p, &fs, "B1", "奖励"), (10_000_000, None));
    assert_eq!(
        outcome(&p, &fs, "A0", "奖励"),
        (0, Some("pool:资金池".into()))
    );
}

#[test]
fn a_ranking_score_beyond_exact_arithmetic_refuses_the_run_naming_firm_and_rule() {
    // round(营收 × 比例) is computed like any expression: 6×10¹⁶ 元 × 2 is beyond the range.
    let src = format!(
        "{}select 遴选 {{ clause 奖励  score round(营收 * 比例, 元)  top 1 }}\n",
        clause("奖励", "  amount 10万\n")
    );
    let p = program(&src);
    let mut fs = two_years(
        &p,
        &[
            ("A0", "1", "2", "0.5"),
            ("B1", "1", "60000000000000000", "2"),
            ("C2", "1", "60000000000000000", "3"),
        ],
    );
    let got = common::overflow_of_both(&p, &mut fs, 2023, &unique("score-overflow"));
    assert_eq!(got, Ok(("B1".to_string(), "遴选".to_string())));
    // An amount that overflows is named first, whatever the scores.
    let src = format!(
        "{}{}select 遴选 {{ clause 奖励  score round(营收 * 比例, 元)  top 1 }}\n",
        clause("奖励", "  amount 10万\n"),
        clause("巨额", "  amount 营收 * 比例\n")
    );
    let p = program(&src);
    let mut fs = two_years(
        &p,
        &[
            ("A0", "1", "2", "0.5"),
            ("B1", "1", "60000000000000000", "2"),
        ],
    );
    let got = common::overflow_of_both(&p, &mut fs, 2023, &unique("score-and-amount"));
    assert_eq!(got, Ok(("B1".to_string(), "巨额".to_string())));
}

#[test]
fn rounding_as_the_text_says_agrees_in_both_engines() {
    let src = format!(
        "{}{}{}",
        clause("舍去到百元", "  rounding 百元 down\n  amount 营收 * 比例\n"),
        clause("进位到千元", "  rounding 千元 up\n  amount 营收 * 比例\n"),
        clause(
            "表达式取整",
            "  amount round(营收 * 比例, 元, down) + round(营收 * 比例, 百元, up)\n"
        )
    );
    let rows = [
        ("A0", "123456.78", "0.1"),
        ("B1", "100000", "0.123"),
        ("C2", "99999999999.99", "0.5"),
        ("D3", "0.01", "0.5"),
    ];
    agree(&src, &rows).unwrap();
    let p = program(&src);
    let fs = firms(&p, &rows);
    // 12345.678 元: 12300 down to 百元, 13000 up to 千元, 12345 + 12400 in the expression.
    assert_eq!(outcome(&p, &fs, "A0", "舍去到百元").0, 1_230_000);
    assert_eq!(outcome(&p, &fs, "A0", "进位到千元").0, 1_300_000);
    assert_eq!(outcome(&p, &fs, "A0", "表达式取整").0, 2_474_500);
    // 12300 exactly stays; half a 分 goes to nothing when dropped, to a 千元 when raised.
    assert_eq!(outcome(&p, &fs, "B1", "舍去到百元").0, 1_230_000);
    assert_eq!(
        outcome(&p, &fs, "D3", "舍去到百元"),
        (0, Some("zero".into()))
    );
    assert_eq!(outcome(&p, &fs, "D3", "进位到千元").0, 100_000);
}
