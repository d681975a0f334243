//! Whole-number (`count`) facts in every place the checker accepts them — static, yearly and
//! monthly; in arithmetic with money and ratios, in comparisons, tiers, `total`/`latest` of a
//! month — give the same rows in both engines, whole and in chunks. (The snapshot stores counts
//! as Int64, money and ratios as decimals: the columnar engine once failed on `total()` of a
//! monthly count, "expected Int64 but found Decimal128", and on money × a static count.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use huiqi_ir::*;
use rust_decimal::Decimal;

const PACK: &str = r#"
policy 计数 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }
fact 员工数: count per year { label "员工数" source "人社" }
fact 工位数: count static { label "工位数" source "园区" }
fact 月用电量: count per month { label "月用电量" source "电力" }
fact 月用水量: money per month { label "月水费" source "水务" }

param 每人补贴: money {
  2021-01-01: 1000元
}

table 用电档: money {
  [0, 1000)     => 0
  [1000, 10000) => 1万
  [10000, ∞)    => 3万
}

clause 按人补贴 {
  ref "1"
  text "按员工人数每人补贴1000元，最高20万元"
  require 人数达标: 员工数 >= 10
  amount 每人补贴 * 员工数
  cap 20万
}

clause 工位租金 {
  ref "2"
  text "按工位数每个500元"
  require 有工位: 工位数 > 0
  amount 500元 * 工位数
}

clause 用电奖励 {
  ref "3"
  text "全年用电量分档奖励"
  amount 用电档(total(月用电量))
}

clause 人均营收 {
  ref "4"
  text "人均营收达到100万元的，按营收的1%奖励"
  require 人均达标: 员工数 > 0 and 营收 / 员工数 >= 100万
  amount 营收 * 1%
}

clause 月末用电 {
  ref "5"
  text "12月用电量超过1000的，奖励5000元"
  require 月末达标: latest(月用电量) > 1000
  amount 5000元
}

clause 水费补贴 {
  ref "7"
  text "按全年水费的10%补贴，并看12月水费"
  require 有水费: total(月用水量) > 0
  require 年末有水费: latest(月用水量) >= 50元
  amount total(月用水量) * 10%
}

clause 人数与工位 {
  ref "6"
  text "员工数与工位数之和"
  require 规模达标: 员工数 + 工位数 >= 50
  amount 100元 * (员工数 + 工位数)
}
"#;

fn program() -> Program {
    let dir = std::env::temp_dir().join(format!("huiqi-counts-pack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), PACK).unwrap();
    let loaded = match huiqi_lang::load_pack(&dir) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "pack does not check:\n{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    loaded.program
}

/// A firm: revenue (元), employees, desks, and each month's electricity in 2023 (None: absent).
fn firm(
    p: &Program,
    id: &str,
    revenue: Option<&str>,
    staff: Option<i64>,
    desks: Option<i64>,
    power: &[i64],
) -> Firm {
    let f = |name: &str| p.fact_by_name(name).unwrap();
    let mut firm = Firm::new(id, "", p.facts.len());
    if let Some(r) = revenue {
        firm.facts[f("营收")] =
            FactData::Yearly(vec![(2023, Value::Money(r.parse::<Decimal>().unwrap()))]);
    }
    if let Some(n) = staff {
        firm.facts[f("员工数")] = FactData::Yearly(vec![(2023, Value::Count(Decimal::from(n)))]);
    }
    if let Some(n) = desks {
        firm.facts[f("工位数")] = FactData::Static(Value::Count(Decimal::from(n)));
    }
    // Water bills only in some months the electricity has (so a month row may lack one fact).
    if power.len() > 2 {
        firm.facts[f("月用水量")] = FactData::Monthly(vec![
            ((2023, 1), Value::Money(Decimal::from(120))),
            ((2023, 3), Value::Money(Decimal::from(80))),
        ]);
    }
    if !power.is_empty() {
        firm.facts[f("月用电量")] = FactData::Monthly(
            power
                .iter()
                .enumerate()
                .map(|(m, v)| ((2023, m as u32 + 1), Value::Count(Decimal::from(*v))))
                .collect(),
        );
    }
    firm
}

#[test]
fn count_facts_run_in_both_engines() {
    let p = program();
    let mut firms = vec![
        firm(&p, "F01", Some("5000000"), Some(12), Some(30), &[100; 12]),
        firm(
            &p,
            "F02",
            Some("250000000"),
            Some(150),
            Some(0),
            &[5000, 6000, 0, 1],
        ),
        firm(&p, "F03", None, Some(9), None, &[]),
        firm(&p, "F04", Some("99999999.99"), Some(1), Some(49), &[999]),
        firm(&p, "F05", Some("100000000"), Some(0), Some(7), &[1000; 12]),
        firm(&p, "F06", Some("1"), None, Some(1_000_000), &[0; 12]),
        // Large whole numbers: still exact, still both engines.
        firm(
            &p,
            "F07",
            Some("900000000000"),
            Some(9_000_000),
            Some(123_456_789),
            &[4_000_000_000, 4_000_000_000, 4_000_000_000],
        ),
    ];
    common::compare_whole_and_chunked(&p, &mut firms, 2023, "counts").unwrap();
    // Not vacuous: every clause pays some firm, so each construct above was evaluated.
    let got = common::reference_rows(&p, &firms, 2023);
    for c in &p.clauses {
        assert!(
            got.iter()
                .any(|r| r.clause.as_ref() == c.name.as_str() && r.amount_fen > 0),
            "no firm gets {}",
            c.name
        );
    }
}
