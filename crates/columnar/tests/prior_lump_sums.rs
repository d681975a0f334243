//! Award history as a predecessor policy's ledger exports it (issue #17 item 5): payments as
//! (credit code, clause code, date, amount), no stage. Ingested through a mapping (a date
//! column, a value map from clause codes to clause names), a payment on a staged clause is a
//! lump sum with tranche "". Both engines count it in `awarded()`, `awarded(C)` and `total cap`,
//! and a cumulative schedule deducts it as docs/LANGUAGE.md says ("minus what this clause has
//! already awarded … minus the cumulative amount of the last stage reached before the
//! effective start").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use std::path::PathBuf;

use huiqi_ir::Program;

const PACK: &str = r#"
policy 往期兑现 {
  title "prior lump sums"
  issuer "测试"
  version "1"
  effective 2022-01-01 .. 2025-12-31
  rounding 分
}
enum 上市阶段 { 创新层挂牌, 辅导期, 材料受理, 上市 }
fact 上市进程: event 上市阶段 { label "上市进程" source "金融办" }

clause 上市奖励 {
  ref "第一条"
  text "分阶段累计奖励，最高1000万元"
  schedule 上市进程 cumulative {
    创新层挂牌 => 100万
    辅导期     => 300万
    材料受理   => 600万
    上市       => 1000万
  }
  total cap 1000万
}
clause 阶段奖励 {
  ref "第二条"
  text "每个阶段奖励，累计不超过600万元"
  schedule 上市进程 each {
    辅导期   => 200万
    材料受理 => 300万
    上市     => 500万
  }
  total cap 600万
}
clause 上市补差 {
  ref "第三条"
  text "上市当年补足至1000万元"
  require 当年上市: occurred(上市进程, 上市)
  amount 1000万 - awarded(上市奖励)
}
"#;

const A: &str = "91330201MA2H4A3X2L";
const B: &str = "91330201MA2H4B1Y3L";
const C: &str = "91330201MA2H4C7Q5X";
const D: &str = "91330200MA2H4A3X26";

fn work() -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-prior-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("pack")).unwrap();
    d
}

fn pack(d: &std::path::Path) -> Program {
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

#[test]
fn prior_lump_sums_count_in_both_engines() {
    let d = work();
    let p = pack(&d);
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    w(
        "企业.csv",
        format!("统一社会信用代码,企业名称\n{A},甲\n{B},乙\n{C},丙\n{D},丁\n"),
    );
    w(
        "上市.csv",
        format!(
            "统一社会信用代码,阶段,日期\n\
             {A},辅导期,2021-06-01\n\
             {A},材料受理,2023-05-10\n\
             {B},辅导期,2023-02-01\n\
             {C},材料受理,2023-03-01\n\
             {D},上市,2024-01-10\n"
        ),
    );
    // The predecessor's ledger: clause codes, payment dates, no stage. D's 400万 came in two
    // payments of 2022.
    w(
        "兑现.csv",
        format!(
            "统一社会信用代码,条款代码,发放日期,金额（元）\n\
             {A},SJ,2021-08-01,3000000\n\
             {B},SJ,2022-04-01,1000000\n\
             {C},JD,2022-09-30,5000000\n\
             {D},SJ,2022-03-01,1500000\n\
             {D},SJ,2022-11-15,2500000\n"
        ),
    );
    w(
        "mapping.toml",
        r#"
[firms]
file = "企业.csv"
id = "统一社会信用代码"
name = "企业名称"

[[events]]
file = "上市.csv"
fact = "上市进程"
id = "统一社会信用代码"
date = "日期"
value = "阶段"

[[awards]]
file = "兑现.csv"
id = "统一社会信用代码"
clause = "条款代码"
date = "发放日期"
amount = "金额（元）"
values = { "条款代码" = { "SJ" = "上市奖励", "JD" = "阶段奖励" } }
"#
        .into(),
    );
    let info = huiqi_data::ingest::ingest(&d.join("mapping.toml"), &p, &d.join("snaps"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.awards, 4, "D's two 2022 payments are one row");
    let firms = huiqi_data::snapshot::load_snapshot(&info.dir, &p).unwrap();
    assert!(firms
        .iter()
        .flat_map(|f| &f.awards)
        .all(|a| a.tranche.is_empty()));

    for year in [2023, 2024] {
        common::compare_on(&p, &firms, &info.dir, year, &format!("prior{year}")).unwrap();
        common::compare_chunked(
            &p,
            &firms,
            &info.dir,
            year,
            &format!("prior{year}-chunked"),
            Some(1),
        )
        .unwrap();
    }

    let amount = |year: i32, firm: &str, clause: &str| -> (i64, Option<String>) {
        let rows = common::reference_rows(&p, &firms, year);
        let r: Vec<_> = rows
            .iter()
            .filter(|r| &*r.firm_id == firm && &*r.clause == clause)
            .collect();
        assert_eq!(r.len(), 1, "{firm} {clause} {year}: {r:?}");
        (r[0].amount_fen, r[0].reason.as_deref().map(str::to_string))
    };
    let wan = |n: i64| n * 1_000_000;
    // B: 辅导期 reached in the window, 100万 paid before without a stage: 300万 − 100万.
    assert_eq!(amount(2023, B, "上市奖励").0, wan(200));
    // C: a stage of an `each` schedule pays 300万, but the total cap of 600万 has 500万 of
    // prior payments against it.
    assert_eq!(amount(2023, C, "阶段奖励").0, wan(100));
    // … and a prior payment of another clause is not this one's.
    assert_eq!(amount(2023, C, "上市奖励").0, wan(600));
    // D: listed in 2024 after 400万 paid in two payments of 2022: the cumulative 1000万 less
    // 400万, and awarded(上市奖励) in another clause.
    assert_eq!(amount(2024, D, "上市奖励").0, wan(600));
    assert_eq!(amount(2024, D, "上市补差").0, wan(600));
    // A: 辅导期 was reached before the effective start (its cumulative 300万 never pays and is
    // deducted) and the predecessor paid 300万 for it: both are deducted, as the text says, so
    // 材料受理 pays 600万 − 300万 − 300万 = 0. (A prior lump sum for a stage reached before the
    // window is deducted twice: what the text says, perhaps not what a zone means.)
    assert_eq!(amount(2023, A, "上市奖励").0, 0);
    let _ = std::fs::remove_dir_all(&d);
}
