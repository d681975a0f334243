//! A rule's figures as dated parameters — a clause's cap and total cap, a select's size, a
//! pool's budget, a firm cap — take the value in force at the period's end, in both engines,
//! whole and in chunks; and `--set` (a parameter set from outside) changes them exactly as an
//! edit of the pack's text would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use huiqi_ir::*;
use rust_decimal::Decimal;

const PACK: &str = r#"
policy 参数 { issuer "测试" version "1" effective 2022-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }
fact 研发: money per year { label "研发" source "税务" }

param 封顶: money {
  2022-01-01: 30万
  2024-01-01: 20万
}
param 累计: money {
  2022-01-01: 100万
}
param 名额: count {
  2022-01-01: 2
  2024-01-01: 3
}
param 预算: money {
  2022-01-01: 50万
  2024-01-01: 40万
}
param 单企业上限: money {
  2022-01-01: 60万
  2024-01-01: 35万
}

clause 营收奖励 {
  ref "1"
  text "按营收的1%奖励，封顶"
  require 营收达标: 营收 >= 1000万
  amount 营收 * 1%
  cap 封顶
  total cap 累计
}

clause 研发补助 {
  ref "2"
  text "按研发费用的10%补助，资金池按比例"
  require 有研发: 研发 > 0
  amount 研发 * 10%
}

clause 领军奖励 {
  ref "3"
  text "营收前若干名奖励20万元"
  require 营收达标: 营收 >= 1000万
  amount 20万
}

select 领军遴选 {
  clause 领军奖励
  score 营收
  top 名额
}

pool 研发资金池 {
  clauses [研发补助]
  budget 预算
  pro_rata
}

firm cap 年度上限 单企业上限 priority [研发补助, 领军奖励, 营收奖励]
"#;

fn load(sets: &[huiqi_lang::ParamSet]) -> Program {
    let dir = std::env::temp_dir().join(format!(
        "huiqi-params-pack-{}-{}",
        std::process::id(),
        sets.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), PACK).unwrap();
    let loaded = match huiqi_lang::load_pack_with(&dir, sets) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    loaded.program
}

/// Firms with 营收 and 研发 (元) in 2023 and in 2024 (the same figures both years).
fn firms(p: &Program) -> Vec<Firm> {
    let rows = [
        ("F01", "50000000", "800000"),
        ("F02", "40000000", "1200000"),
        ("F03", "35000000", "0"),
        ("F04", "12000000", "2500000"),
        ("F05", "9000000", "600000"),
        ("F06", "45000000", "3000000"),
    ];
    let f = |n: &str| p.fact_by_name(n).unwrap();
    rows.iter()
        .map(|(id, rev, rnd)| {
            let mut firm = Firm::new(*id, "", p.facts.len());
            let v = |s: &str| Value::Money(s.parse::<Decimal>().unwrap());
            firm.facts[f("营收")] = FactData::Yearly(vec![(2023, v(rev)), (2024, v(rev))]);
            firm.facts[f("研发")] = FactData::Yearly(vec![(2023, v(rnd)), (2024, v(rnd))]);
            firm
        })
        .collect()
}

fn total(p: &Program, firms: &[Firm], year: i32, clause: &str) -> (i64, usize) {
    let rows = common::reference_rows(p, firms, year);
    let of: Vec<_> = rows
        .iter()
        .filter(|r| r.clause.as_ref() == clause && r.amount_fen > 0)
        .collect();
    (of.iter().map(|r| r.amount_fen).sum(), of.len())
}

#[test]
fn figures_as_parameters_follow_the_period_in_both_engines() {
    let p = load(&[]);
    let mut fs = firms(&p);
    for year in [2023, 2024] {
        common::compare_whole_and_chunked(&p, &mut fs, year, &format!("params-{year}")).unwrap();
    }
    // The figures really moved with the year: two leaders, then three; the pool shares 50万,
    // then 40万; the cap cuts 50万 × 1% = 50万 to 30万, then 20万.
    assert_eq!(total(&p, &fs, 2023, "领军奖励").1, 2);
    assert_eq!(total(&p, &fs, 2024, "领军奖励").1, 3);
    assert_eq!(total(&p, &fs, 2023, "研发补助").0, 50_000_000);
    assert_eq!(total(&p, &fs, 2024, "研发补助").0, 40_000_000);
    let f01 = |year| {
        common::reference_rows(&p, &fs, year)
            .into_iter()
            .filter(|r| r.firm_id.as_ref() == "F01")
            .map(|r| (r.clause.to_string(), r.amount_fen))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // 2023: the cap (30万) cuts 50万; the firm's total stays under the firm cap (60万).
    assert_eq!(f01(2023)["营收奖励"], 30_000_000);
    // 2024: 20万 cap, and the firm cap (35万, lowest priority 营收奖励 cut first) binds.
    let t: i64 = f01(2024).values().sum();
    assert_eq!(t, 35_000_000);
    assert!(f01(2024)["营收奖励"] < 20_000_000);
}

#[test]
fn a_set_parameter_is_the_same_as_an_edited_pack() {
    let set = |name: &str, value: &str, from: Option<&str>| huiqi_lang::ParamSet {
        name: name.into(),
        from: from.map(|d| {
            let (y, m, dd) = (&d[0..4], &d[5..7], &d[8..10]);
            Date::new(y.parse().unwrap(), m.parse().unwrap(), dd.parse().unwrap()).unwrap()
        }),
        value: value.into(),
    };
    // 名额 = 4 for all time; 预算 = 45万 from 2024 (2023 keeps 50万).
    let sets = [
        set("名额", "4", None),
        set("预算", "45万", Some("2024-01-01")),
    ];
    let p = load(&sets);
    let base = load(&[]);
    assert_ne!(p.hash, base.hash, "the hash covers what was set");
    let mut fs = firms(&p);
    for year in [2023, 2024] {
        common::compare_whole_and_chunked(&p, &mut fs, year, &format!("set-{year}")).unwrap();
    }
    assert_eq!(total(&p, &fs, 2023, "领军奖励").1, 4);
    assert_eq!(total(&p, &fs, 2023, "研发补助").0, 50_000_000);
    assert_eq!(total(&p, &fs, 2024, "研发补助").0, 45_000_000);
    // The same as the text edited by hand.
    let edited = PACK
        .replace("  2022-01-01: 2\n  2024-01-01: 3\n", "  2022-01-01: 4\n")
        .replace("  2024-01-01: 40万\n", "  2024-01-01: 45万\n");
    assert_ne!(edited, PACK);
    let dir = std::env::temp_dir().join(format!("huiqi-params-edited-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), edited).unwrap();
    let e = huiqi_lang::load_pack(&dir)
        .unwrap_or_else(|_| panic!("edited pack"))
        .program;
    let _ = std::fs::remove_dir_all(&dir);
    for year in [2023, 2024] {
        assert_eq!(
            common::reference_rows(&p, &fs, year),
            common::reference_rows(&e, &fs, year)
        );
    }
}

#[test]
fn a_bad_set_is_refused_like_a_bad_value_in_the_pack() {
    let bad = |name: &str, value: &str| {
        let dir =
            std::env::temp_dir().join(format!("huiqi-params-bad-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.hq"), PACK).unwrap();
        let r = huiqi_lang::load_pack_with(
            &dir,
            &[huiqi_lang::ParamSet {
                name: name.into(),
                from: None,
                value: value.into(),
            }],
        );
        let _ = std::fs::remove_dir_all(&dir);
        match r {
            Ok(_) => panic!("{name}={value} was accepted"),
            Err((sm, ds)) => ds
                .iter()
                .map(|d| format!("{} {}", d.code, sm.render(d, huiqi_lang::Lang::En, false)))
                .collect::<String>(),
        }
    };
    // Not a parameter (and a near one suggested).
    let e = bad("名额数", "3");
    assert!(e.contains("E0330") && e.contains("名额"), "{e}");
    // Not a whole number for a select's size; zero; money where a count goes.
    assert!(bad("名额", "2.5").contains("名额"));
    assert!(bad("名额", "0").contains("E0418"));
    assert!(bad("名额", "3万").contains("E0401") || bad("名额", "3万").contains("E04"));
    // A budget must be positive; a value that does not parse names the set.
    assert!(bad("预算", "0").contains("E0418"));
    let e = bad("封顶", "20万)");
    assert!(e.contains("--set 封顶"), "{e}");
}

const SCHEDULE: &str = r#"
policy 上市 { issuer "测试" version "1" effective 2022-01-01 .. 2024-12-31 rounding 分 }
enum 阶段 { 辅导备案, 上市 }
fact 上市进程: event 阶段 { label "上市进程" source "金融办" }
param 备案奖励: money {
  2022-01-01: 200万
  2024-01-01: 300万
}
param 上市累计: money {
  2022-01-01: 800万
}
clause 上市奖励 {
  ref "1"
  text "辅导备案奖励，上市累计奖励"
  schedule 上市进程 cumulative {
    辅导备案 => 备案奖励
    上市     => 上市累计
  }
}
"#;

fn load_schedule(sets: &[huiqi_lang::ParamSet]) -> Result<Program, String> {
    let dir = std::env::temp_dir().join(format!(
        "huiqi-params-schedule-{}-{}",
        std::process::id(),
        sets.iter().map(|s| s.to_string()).collect::<String>().len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), SCHEDULE).unwrap();
    let r = huiqi_lang::load_pack_with(&dir, sets);
    let _ = std::fs::remove_dir_all(&dir);
    r.map(|l| l.program).map_err(|(sm, ds)| {
        ds.iter()
            .map(|d| format!("{} {}", d.code, sm.render(d, huiqi_lang::Lang::En, false)))
            .collect()
    })
}

/// Firms reaching 辅导备案 in 2023 or 2024 and 上市 in 2024.
fn listing_firms(p: &Program) -> Vec<Firm> {
    let f = p.fact_by_name("上市进程").unwrap();
    let ev = |y: i32, v: u32| EventRec {
        date: Date::new(y, 6, 1).unwrap(),
        until: None,
        value: Some(v),
        nums: vec![],
    };
    [
        ("L01", vec![ev(2023, 0), ev(2024, 1)]),
        ("L02", vec![ev(2024, 0)]),
        ("L03", vec![ev(2024, 0), ev(2024, 1)]),
    ]
    .into_iter()
    .map(|(id, es)| {
        let mut firm = Firm::new(id, "", p.facts.len());
        firm.facts[f] = FactData::Events(es);
        firm
    })
    .collect()
}

#[test]
fn schedule_stage_amounts_may_be_dated_parameters() {
    let p = load_schedule(&[]).unwrap();
    let mut fs = listing_firms(&p);
    for year in [2023, 2024] {
        common::compare_whole_and_chunked(&p, &mut fs, year, &format!("stages-{year}")).unwrap();
    }
    let rows = |p: &Program, fs: &[Firm], year| {
        common::reference_rows(p, fs, year)
            .into_iter()
            .filter(|r| r.amount_fen > 0)
            .map(|r| (format!("{}.{}", r.firm_id, r.tranche), r.amount_fen))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // 2023: 备案 pays the 2023 value, 200万.
    assert_eq!(rows(&p, &fs, 2023)["L01.辅导备案"], 200_000_000);
    // 2024: 备案 pays 300万; L03 reaches both stages: 300万 then 800万 − 300万.
    let r = rows(&p, &fs, 2024);
    assert_eq!(r["L02.辅导备案"], 300_000_000);
    assert_eq!(r["L03.辅导备案"], 300_000_000);
    assert_eq!(r["L03.上市"], 500_000_000);
    // A dated set moves a stage from its day on, as a dated value in the text would.
    let set = huiqi_lang::ParamSet::parse("上市累计=1000万@2024-01-01").unwrap();
    let q = load_schedule(&[set]).unwrap();
    common::compare_whole_and_chunked(&q, &mut fs, 2024, "stages-set").unwrap();
    assert_eq!(rows(&q, &fs, 2024)["L03.上市"], 700_000_000);
}

#[test]
fn a_cumulative_schedule_whose_parameter_would_decrease_is_refused() {
    // From 2024 the first stage (300万 → 900万 set) would exceed the cumulative 800万.
    let set = huiqi_lang::ParamSet::parse("备案奖励=900万@2024-01-01").unwrap();
    let e = load_schedule(&[set]).unwrap_err();
    assert!(e.contains("E0320") && e.contains("2024-01-01"), "{e}");
    // A stage amount must not be negative, nor a parameter of another type.
    let set = huiqi_lang::ParamSet::parse("备案奖励=-1万").unwrap();
    assert!(load_schedule(&[set]).unwrap_err().contains("E0418"));
}
