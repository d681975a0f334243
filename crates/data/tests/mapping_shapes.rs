//! Mappings that take exports as they are (issue #17 items 5 and 6): row filters, derived
//! columns, value maps, unknown names passed over, exact duplicates kept once, award history
//! from a ledger of (credit code, clause code, date, amount) without stages — and the counts of
//! what was passed over, per source, in the ingest's answer and the manifest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use huiqi_data::{ingest, load_snapshot, read_manifest, SourceInfo};
use huiqi_ir::{Date, FactData, Program, Value};
use rust_decimal::Decimal;

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shapes-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const PACK: &str = r#"
policy 映射测试包 {
  title "mapping shapes"
  issuer "huiqi"
  version "1"
  effective 2022-01-01 .. 2025-12-31
  rounding 分
}
enum 行业门类 { 制造业, 信息技术服务业, 其他 }
enum 上市阶段 { 创新层挂牌, 辅导期, 材料受理, 上市 }
enum 园区 { 甲园区, 乙园区 }
fact 行业: 行业门类 static { label "行业" source "市场监管" }
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 月度营业收入: money per month { label "月度营业收入" source "统计" }
fact 上市进程: event 上市阶段 { label "上市进程" source "金融办" }
fact 高企证书: event { label "高企证书" source "科技" }
fact 所属园区: event 园区 { label "所属园区" source "市场监管" }

clause 上市奖励 {
  ref "第一条"
  text "分阶段累计奖励"
  schedule 上市进程 cumulative {
    创新层挂牌 => 100万
    辅导期     => 300万
    材料受理   => 600万
    上市       => 1000万
  }
  total cap 1000万
}
clause 营收奖励 {
  ref "第二条"
  text "营业收入达到一亿元的，奖励十万元"
  require 达标: 营业收入 >= 1亿
  amount 10万
}
"#;

const A: &str = "91330201MA2H4A3X2L";
const B: &str = "91330201MA2H4B1Y3L";
const C: &str = "91330201MA2H4C7Q5X";

fn pack(d: &Path) -> Program {
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

/// Exports as a zone and a predecessor policy's ledger write them.
fn write_exports(d: &Path) {
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    // A deregistered firm (with a credit code nobody checks: the row is filtered out first) and
    // an industry code the map does not know.
    w(
        "企业.csv",
        format!(
            "统一社会信用代码,企业名称,行业代码,登记状态\n\
             {A},甲公司,C,存续\n\
             {B},乙公司,I,在业\n\
             {C},丙公司,Z,存续\n\
             作废代码,丁公司,C,注销\n"
        ),
    );
    // Revenue in two columns, the year from the period's end date.
    w(
        "税务.csv",
        format!(
            "统一社会信用代码,所属期止,主营业务收入（万元）,其他业务收入（万元）\n\
             {A},2022-12-31,\"9,000\",1000.5\n\
             {A},2023-12-31,12000,\n\
             {B},2023-12-31,,\n"
        ),
    );
    w(
        "月报.csv",
        format!("统一社会信用代码,统计日期,营业收入（万元）\n{A},2023-03-31,100\n"),
    );
    // Stage codes; a cancelled row; a code nobody mapped; an exact duplicate.
    w(
        "上市.csv",
        format!(
            "统一社会信用代码,阶段代码,日期,状态\n\
             {A},01,2021-06-01,有效\n\
             {A},02,2023-05-10,有效\n\
             {A},02,2023-05-10,有效\n\
             {B},99,2023-01-01,有效\n\
             {B},03,2024-02-01,作废\n\
             {B},01,2023-02-01,有效\n"
        ),
    );
    // One file of several matters, coded; only one is a fact of the pack.
    w(
        "事项.csv",
        format!(
            "统一社会信用代码,事项代码,日期,结束日期\n\
             {B},GQ,2021-11-20,2024-11-19\n\
             {A},XX,2022-01-01,\n"
        ),
    );
    // The predecessor's payments: (credit code, clause code, date, amount), no stage; two
    // payments of one clause in 2021, one of them exported twice; a code of a clause the pack
    // does not have; a payment recovered (结清日期 filled).
    w(
        "兑现.csv",
        format!(
            "统一社会信用代码,条款代码,发放日期,金额（元）,结清日期\n\
             {A},SJ,2021-07-01,\"2,000,000.00\",\n\
             {A},SJ,2021-12-20,1000000,\n\
             {A},SJ,2021-12-20,1000000,\n\
             {A},YS,2021-03-01,50000,\n\
             {B},ZZ,2020-01-01,1000,\n\
             {B},SJ,2020-05-01,500000,2020-06-01\n"
        ),
    );
    w(
        "项目.csv",
        "项目代码,项目名称,统计日期,本月完成投资（万元）\nP1,甲项目,2023-03-31,100\n".into(),
    );
}

const MAPPING: &str = r#"
[firms]
file = "企业.csv"
id = "统一社会信用代码"
name = "企业名称"
facts = { "行业" = "行业代码" }
where_not = { "登记状态" = ["注销", "吊销"] }
values = { "行业代码" = { "C" = "制造业", "I" = "信息技术服务业" } }
unknown = "ignore"

[[yearly]]
file = "税务.csv"
id = "统一社会信用代码"
year = "年度"
unit = "万元"
derive = { "年度" = { year_of = "所属期止" }, "收入合计" = { sum = ["主营业务收入（万元）", "其他业务收入（万元）"] } }
facts = { "营业收入" = "收入合计" }

[[monthly]]
file = "月报.csv"
id = "统一社会信用代码"
year = "年"
month = "月"
unit = "万元"
derive = { "年" = { year_of = "统计日期" }, "月" = { month_of = "统计日期" } }
facts = { "月度营业收入" = "营业收入（万元）" }

[[events]]
file = "上市.csv"
fact = "上市进程"
id = "统一社会信用代码"
date = "日期"
value = "阶段代码"
where = { "状态" = "有效" }
values = { "阶段代码" = { "01" = "辅导期", "02" = "材料受理", "03" = "上市" } }
unknown = "ignore"
duplicates = "keep-one"

[[events]]
file = "事项.csv"
fact_column = "事项代码"
id = "统一社会信用代码"
date = "日期"
until = "结束日期"
values = { "事项代码" = { "GQ" = "高企证书" } }
unknown = { "事项代码" = "ignore" }

[[awards]]
file = "兑现.csv"
id = "统一社会信用代码"
clause = "条款代码"
date = "发放日期"
amount = "金额（元）"
unit = "元"
where = { "结清日期" = "" }
values = { "条款代码" = { "SJ" = "上市奖励", "YS" = "营收奖励" } }
unknown = "ignore"
duplicates = "keep-one"

[[projects]]
file = "项目.csv"
id = "项目代码"
name = "项目名称"
zone = "园区"
zone_fact = "所属园区"
year = "年"
month = "月"
investment = "本月完成投资（万元）"
unit = "万元"
derive = { "园区" = { const = "甲园区" }, "年" = { year_of = "统计日期" }, "月" = { month_of = "统计日期" } }
"#;

/// (rows read, filtered, unknown, duplicates).
type Counts = (u64, u64, u64, u64);

fn counts(s: &SourceInfo) -> Counts {
    (s.rows, s.filtered, s.unknown, s.duplicates)
}

#[test]
fn exports_as_they_are_ingest_with_counts() {
    let d = tmp("all");
    let p = pack(&d);
    write_exports(&d);
    std::fs::write(d.join("mapping.toml"), MAPPING).unwrap();
    let info =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20).unwrap_or_else(|r| panic!("{r}"));
    // Firms A, B, C; A's two years (B's has no figure); one month; A's 辅导期 and 材料受理, B's
    // 辅导期 and 高企证书; A's two awards; one project month.
    assert_eq!(
        (
            info.rows.firms,
            info.rows.yearly,
            info.rows.monthly,
            info.rows.events,
            info.rows.awards,
            info.rows.projects
        ),
        (3, 2, 1, 4, 2, Some(1))
    );
    // Per source: (rows read, filtered, unknown, duplicates).
    let got: Vec<(&str, Counts)> = info
        .sources
        .iter()
        .map(|s| (s.file.as_str(), counts(s)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("企业.csv", (4, 1, 1, 0)),
            ("税务.csv", (3, 0, 0, 0)),
            ("月报.csv", (1, 0, 0, 0)),
            ("上市.csv", (6, 1, 1, 1)),
            ("事项.csv", (2, 0, 1, 0)),
            ("兑现.csv", (6, 1, 1, 1)),
            ("项目.csv", (1, 0, 0, 0)),
        ]
    );
    // The manifest has the same counts, and only where they are not zero.
    let m = read_manifest(&info.dir).unwrap();
    assert_eq!(m.sources, info.sources);
    let json = std::fs::read_to_string(info.dir.join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let tax = &v["sources"][1];
    assert_eq!(tax["file"], "税务.csv");
    assert!(
        tax.get("filtered").is_none() && tax.get("unknown").is_none(),
        "{tax}"
    );
    assert_eq!(v["sources"][0]["filtered"], 1);
    assert_eq!(v["sources"][5]["duplicates"], 1);

    let firms = load_snapshot(&info.dir, &p).unwrap();
    let f = |n: &str| p.fact_by_name(n).unwrap();
    let by = |id: &str| firms.iter().find(|x| x.id.as_str() == id).unwrap();
    let (a, b, c) = (by(A), by(B), by(C));
    // Industry codes mapped; the unknown one is missing.
    assert_eq!(a.facts[f("行业")], FactData::Static(Value::Enum(0)));
    assert_eq!(b.facts[f("行业")], FactData::Static(Value::Enum(1)));
    assert!(c.value_at(f("行业"), 2023).is_missing());
    // 9,000 + 1000.5 万元 exactly; an empty column counts as 0.
    let wan = |s: &str| Value::Money(Decimal::from_str(s).unwrap() * Decimal::from(10_000));
    assert_eq!(a.value_at(f("营业收入"), 2022), wan("10000.5"));
    assert_eq!(a.value_at(f("营业收入"), 2023), wan("12000"));
    assert!(b.value_at(f("营业收入"), 2023).is_missing());
    assert_eq!(
        a.facts[f("月度营业收入")],
        FactData::Monthly(vec![((2023, 3), wan("100"))])
    );
    // Stage codes → stages; the duplicate kept once; the cancelled and unknown rows left out.
    let stages = |x: &huiqi_ir::Firm| -> Vec<(Date, Option<u32>)> {
        match &x.facts[f("上市进程")] {
            FactData::Events(es) => es.iter().map(|e| (e.date, e.value)).collect(),
            _ => vec![],
        }
    };
    let day = |s: &str| Date::parse(s).unwrap();
    assert_eq!(
        stages(a),
        vec![(day("2021-06-01"), Some(1)), (day("2023-05-10"), Some(2))]
    );
    assert_eq!(stages(b), vec![(day("2023-02-01"), Some(1))]);
    let FactData::Events(certs) = &b.facts[f("高企证书")] else {
        panic!("B has no certificate")
    };
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].until, Some(day("2024-11-19")));
    assert!(!matches!(&a.facts[f("高企证书")], FactData::Events(es) if !es.is_empty()));
    // The predecessor's payments: 上市奖励 without a stage (a lump sum, tranche ""), the two
    // 2021 payments added up (the duplicate once); 营收奖励 as it was; B's recovered payment and
    // unknown clause left out.
    let awards: Vec<(&str, i32, &str, Decimal)> = a
        .awards
        .iter()
        .map(|x| {
            (
                p.clauses[x.clause].name.as_str(),
                x.period,
                x.tranche.as_str(),
                x.amount,
            )
        })
        .collect();
    assert_eq!(
        awards,
        vec![
            ("上市奖励", 2021, "", Decimal::from(3_000_000)),
            ("营收奖励", 2021, "", Decimal::from(50_000)),
        ]
    );
    assert!(b.awards.is_empty());
    assert_eq!(
        a.awarded_before(p.clause_by_name("上市奖励").unwrap(), 2023),
        Decimal::from(3_000_000)
    );
}

/// Shape keys that change nothing change no byte: the tables (and the hash) and the manifest
/// are those of the plain mapping.
#[test]
fn shape_keys_that_change_nothing_change_no_byte() {
    let d = tmp("same");
    let p = pack(&d);
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    w(
        "企业.csv",
        format!("统一社会信用代码,企业名称,行业\n{A},甲公司,制造业\n{B},乙公司,其他\n"),
    );
    w(
        "上市.csv",
        format!("统一社会信用代码,阶段,日期\n{A},辅导期,2021-06-01\n{B},上市,2023-01-02\n"),
    );
    w(
        "兑现.csv",
        format!("统一社会信用代码,条款,年度,分项,金额\n{A},上市奖励,2021,辅导期,3000000\n"),
    );
    let plain = r#"
[firms]
file = "企业.csv"
id = "统一社会信用代码"
name = "企业名称"
facts = { "行业" = "行业" }

[[events]]
file = "上市.csv"
fact = "上市进程"
id = "统一社会信用代码"
date = "日期"
value = "阶段"

[[awards]]
file = "兑现.csv"
id = "统一社会信用代码"
clause = "条款"
period = "年度"
tranche = "分项"
amount = "金额"
"#;
    let shaped = plain
        .replace(
            "facts = { \"行业\" = \"行业\" }",
            "facts = { \"行业\" = \"行业\" }\nwhere_not = { \"行业\" = \"注销\" }\nvalues = { \"行业\" = { \"制造业\" = \"制造业\" } }\nunknown = \"ignore\"",
        )
        .replace(
            "value = \"阶段\"",
            "value = \"阶段\"\nduplicates = \"keep-one\"\nunknown = \"refuse\"",
        )
        .replace(
            "amount = \"金额\"",
            "amount = \"金额合计\"\nduplicates = \"keep-one\"\nderive = { \"金额合计\" = { sum = [\"金额\"] } }",
        );
    std::fs::write(d.join("plain.toml"), plain).unwrap();
    std::fs::write(d.join("shaped.toml"), shaped).unwrap();
    let a = ingest(&d.join("plain.toml"), &p, &d.join("a"), 20).unwrap_or_else(|r| panic!("{r}"));
    let b = ingest(&d.join("shaped.toml"), &p, &d.join("b"), 20).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(a.hash, b.hash);
    assert_eq!(
        std::fs::read(a.dir.join("manifest.json")).unwrap(),
        std::fs::read(b.dir.join("manifest.json")).unwrap()
    );
    // A manifest written before the counts existed reads with zeros.
    let old = r#"{"file": "x.csv", "sha256": "00", "rows": 3}"#;
    let s: SourceInfo = serde_json::from_str(old).unwrap();
    assert_eq!(counts(&s), (3, 0, 0, 0));
}

/// An award history in years, as before, may now leave a staged clause's stage empty: a prior
/// lump sum. A date column's payments of one year add up; in years they stay an error.
#[test]
fn lump_sums_and_payments_in_years() {
    let d = tmp("years");
    let p = pack(&d);
    std::fs::write(
        d.join("企业.csv"),
        format!("统一社会信用代码,企业名称\n{A},甲公司\n"),
    )
    .unwrap();
    let mapping = |awards: &str| {
        format!(
            "[firms]\nfile = \"企业.csv\"\nid = \"统一社会信用代码\"\nname = \"企业名称\"\n\n\
             [[awards]]\nfile = \"兑现.csv\"\nid = \"统一社会信用代码\"\nclause = \"条款\"\n\
             amount = \"金额\"\n{awards}\n"
        )
    };
    std::fs::write(
        d.join("兑现.csv"),
        format!("统一社会信用代码,条款,年度,分项,金额\n{A},上市奖励,2021,,3000000\n{A},上市奖励,2022,辅导期,1000000\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("m.toml"),
        mapping("period = \"年度\"\ntranche = \"分项\""),
    )
    .unwrap();
    let info = ingest(&d.join("m.toml"), &p, &d.join("s1"), 20).unwrap_or_else(|r| panic!("{r}"));
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let t: Vec<(i32, &str)> = firms[0]
        .awards
        .iter()
        .map(|a| (a.period, a.tranche.as_str()))
        .collect();
    assert_eq!(t, vec![(2021, ""), (2022, "辅导期")]);

    // Two payments of one year in a file of years: which was meant is unknown, so an error.
    std::fs::write(
        d.join("兑现.csv"),
        format!("统一社会信用代码,条款,年度,金额\n{A},营收奖励,2021,100\n{A},营收奖励,2021,200\n"),
    )
    .unwrap();
    std::fs::write(d.join("m.toml"), mapping("period = \"年度\"")).unwrap();
    let rep = ingest(&d.join("m.toml"), &p, &d.join("s2"), 20).unwrap_err();
    assert!(
        rep.errors[0].location().ends_with("兑现.csv:3:条款")
            && rep.errors[0].zh.contains("相同的企业、条款、年度和分项"),
        "{rep}"
    );
    // … and keep-one does not add them up either: they are not the same row.
    std::fs::write(
        d.join("m.toml"),
        mapping("period = \"年度\"\nduplicates = \"keep-one\""),
    )
    .unwrap();
    assert!(ingest(&d.join("m.toml"), &p, &d.join("s3"), 20).is_err());
}
