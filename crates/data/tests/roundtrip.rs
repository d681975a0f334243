//! gen → ingest → load_snapshot on the seed pack, exact values against the generated files,
//! determinism of both the generator and the snapshot, and every fact type / source kind on a
//! small pack of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use huiqi_data::{generate, ingest, load_snapshot, read_manifest};
use huiqi_ir::{Date, FactData, Program, Value};
use rust_decimal::Decimal;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn ningbo() -> Program {
    match huiqi_lang::load_pack(&root().join("policies/ningbo")) {
        Ok(l) => l.program,
        Err((_, ds)) => panic!("seed pack does not load: {} errors", ds.len()),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("data-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(&s.replace(',', "")).unwrap()
}

fn money(v: &Value) -> Decimal {
    match v {
        Value::Money(d) => *d,
        v => panic!("not money: {v:?}"),
    }
}

#[test]
fn generated_zone_round_trips_exactly() {
    let p = ningbo();
    let d = tmp("roundtrip");
    let gen = d.join("gen");
    let stats = generate(&gen, 200, 2019, 2023, 7, false).unwrap();
    assert_eq!(stats.files[0], ("企业名录".to_string(), 200));
    let info = ingest(&gen.join("mapping.toml"), &p, &d.join("snap"), 50)
        .unwrap_or_else(|r| panic!("{r}"));
    assert!(!info.reused);
    assert_eq!(
        info.dir.file_name().unwrap().to_str().unwrap(),
        &info.hash[..16]
    );
    assert_eq!(info.rows.firms, 200);
    assert_eq!(info.rows.monthly, 0);
    assert_eq!(info.rows.awards, 0);
    // Every file after the register, tax and statistics holds events (loans included).
    assert_eq!(stats.files[3].0, "金融办_新增贷款");
    let events: u64 = stats.files[3..].iter().map(|(_, n)| n).sum();
    assert_eq!(info.rows.events, events);

    let m = read_manifest(&info.dir).unwrap();
    assert_eq!(m.hash, info.hash);
    assert_eq!(m.rows, info.rows);
    assert_eq!(m.sources.len(), 9);
    assert_eq!(m.sources[1].file, "税务_年度申报.csv");
    assert_eq!(m.schema.len(), p.facts.len());
    for t in ["firms", "yearly", "monthly", "events", "awards"] {
        assert!(info.dir.join(format!("{t}.parquet")).is_file(), "{t}");
    }

    let firms = load_snapshot(&info.dir, &p).unwrap();
    assert_eq!(firms.len(), 200);
    assert!(firms.windows(2).all(|w| w[0].id < w[1].id));
    let by_id = |id: &str| &firms[firms.binary_search_by(|f| f.id.as_str().cmp(id)).unwrap()];
    let fact = |n: &str| p.fact_by_name(n).unwrap();

    // The register: names and industries.
    for r in csv_rows(&gen.join("企业名录.csv")) {
        let f = by_id(&r[0]);
        assert_eq!(f.name, r[1]);
        let industry = match &f.facts[fact("行业")] {
            FactData::Static(Value::Enum(i)) => *i as usize,
            x => panic!("{x:?}"),
        };
        assert_eq!(p.enums[0].variants[industry], r[2]);
    }
    // Every revenue and R&D figure, 万元 → 元, exactly.
    let mut checked = 0;
    for r in csv_rows(&gen.join("税务_年度申报.csv")) {
        let f = by_id(&r[0]);
        let y: i32 = r[2].parse().unwrap();
        for (col, name) in [(3, "营业收入"), (4, "研发费用")] {
            let v = f.value_at(fact(name), y);
            if r[col].is_empty() {
                assert!(v.is_missing());
            } else {
                assert_eq!(
                    money(&v),
                    dec(&r[col]) * Decimal::from(10_000),
                    "{} {y} {name}",
                    r[0]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
    // Loans: one record each, its 本金 and 实付利息 in 元 with thousands separators.
    let mut loans = 0;
    for r in csv_rows(&gen.join("金融办_新增贷款.csv")) {
        let FactData::Events(es) = &by_id(&r[0]).facts[fact("新增贷款")] else {
            panic!("{} has no loans", r[0])
        };
        let date = Date::parse(&r[1]).unwrap();
        let e = es.iter().find(|e| e.date == date).unwrap();
        assert_eq!(
            e.nums,
            vec![Value::Money(dec(&r[2])), Value::Money(dec(&r[3]))]
        );
        loans += 1;
    }
    assert!(loans > 50, "{loans}");
    // 规上 flags.
    for r in csv_rows(&gen.join("统计_年度.csv")) {
        let y: i32 = r[1].parse().unwrap();
        let v = by_id(&r[0]).value_at(fact("规上企业"), y);
        match r[2].as_str() {
            "" => assert!(v.is_missing()),
            s => assert_eq!(v, Value::Bool(s == "是")),
        }
    }
    // Listing stages, in date order with their values.
    let stages = &p.enums[1].variants;
    for r in csv_rows(&gen.join("金融办_上市进程.csv")) {
        let FactData::Events(es) = &by_id(&r[0]).facts[fact("上市进程")] else {
            panic!("no listing events for {}", r[0]);
        };
        let d = Date::parse(&r[3]).unwrap();
        let e = es.iter().find(|e| e.date == d).expect("event");
        assert_eq!(stages[e.value.unwrap() as usize], r[2]);
        assert!(es.windows(2).all(|w| w[0].date <= w[1].date));
    }
    // Certificates keep their validity.
    for r in csv_rows(&gen.join("科技_高新技术企业.csv")) {
        let FactData::Events(es) = &by_id(&r[0]).facts[fact("高企证书")] else {
            panic!()
        };
        let d = Date::parse(&r[2]).unwrap();
        let e = es.iter().find(|e| e.date == d).unwrap();
        assert_eq!(e.until, Date::parse(&r[3]));
        assert_eq!(e.value, None);
    }
    // The flagship (firm 0) crosses 100亿 in 2022.
    let flagship = by_id(&csv_rows(&gen.join("企业名录.csv"))[0][0]);
    let yi100 = Decimal::from(10_000_000_000u64);
    assert!(money(&flagship.value_at(fact("营业收入"), 2021)) < yi100);
    assert!(money(&flagship.value_at(fact("营业收入"), 2022)) >= yi100);
}

#[test]
fn the_generated_zone_exercises_every_clause() {
    let p = ningbo();
    let d = tmp("clauses");
    generate(&d.join("gen"), 2000, 2019, 2023, 42, false).unwrap();
    let info = ingest(&d.join("gen/mapping.toml"), &p, &d.join("snap"), 10)
        .unwrap_or_else(|r| panic!("{r}"));
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let mut paid = vec![0usize; p.clauses.len()];
    for year in [2022, 2023] {
        for o in huiqi_eval::evaluate_population(&p, &firms, year, false) {
            for c in &o.clauses {
                if c.total() > Decimal::ZERO {
                    paid[c.clause] += 1;
                }
            }
        }
    }
    for (c, n) in paid.iter().enumerate() {
        eprintln!("{}: {n}", p.clauses[c].name);
        assert!(*n > 0, "no firm gets {} in 2022–2023", p.clauses[c].name);
    }
}

#[test]
fn same_input_same_snapshot_and_same_seed_same_files() {
    let p = ningbo();
    let d = tmp("determinism");
    generate(&d.join("a"), 60, 2020, 2023, 11, true).unwrap();
    generate(&d.join("b"), 60, 2020, 2023, 11, true).unwrap();
    generate(&d.join("c"), 60, 2020, 2023, 12, false).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(d.join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9 * 2 + 2);
    for n in &names {
        let a = std::fs::read(d.join("a").join(n)).unwrap();
        let b = std::fs::read(d.join("b").join(n)).unwrap();
        assert!(a == b, "{n:?} differs between two runs with the same seed");
    }
    assert_ne!(
        std::fs::read(d.join("a/税务_年度申报.csv")).unwrap(),
        std::fs::read(d.join("c/税务_年度申报.csv")).unwrap()
    );

    let s1 = ingest(&d.join("a/mapping.toml"), &p, &d.join("snap1"), 10).unwrap();
    let s2 = ingest(&d.join("b/mapping.toml"), &p, &d.join("snap2"), 10).unwrap();
    assert_eq!(s1.hash, s2.hash);
    for t in ["firms", "yearly", "monthly", "events", "awards"] {
        let f = format!("{t}.parquet");
        assert_eq!(
            std::fs::read(s1.dir.join(&f)).unwrap(),
            std::fs::read(s2.dir.join(&f)).unwrap(),
            "{f}"
        );
    }
    // The XLSX copies hold the same data: same snapshot.
    let s3 = ingest(&d.join("a/mapping-xlsx.toml"), &p, &d.join("snap1"), 10).unwrap();
    assert_eq!(s3.hash, s1.hash);
    assert!(s3.reused);
    // Ingesting again reuses the directory and leaves no temporary directory behind.
    let again = ingest(&d.join("a/mapping.toml"), &p, &d.join("snap1"), 10).unwrap();
    assert!(again.reused);
    let entries: Vec<_> = std::fs::read_dir(d.join("snap1")).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let s4 = ingest(&d.join("c/mapping.toml"), &p, &d.join("snap1"), 10).unwrap();
    assert_ne!(s4.hash, s1.hash);
}

const PACK: &str = r#"
policy 类型测试包 {
  title "every fact type"
  issuer "huiqi"
  version "1"
  effective 2022-01-01 .. 2024-12-31
  rounding 分
}
enum 规模 { 大型, 中型, 小型, 微型 }
enum 阶段 { 乙阶段, 甲阶段 }
fact 规模类型: 规模 static { label "规模" source "统计" }
fact 成立日期: date static { label "成立日期" source "市场监管" }
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 毛利率: ratio per year { label "毛利率" source "税务" }
fact 从业人数: count per year { label "从业人数" source "社保" }
fact 出口企业: bool per year { label "出口企业" source "商务" }
fact 月用电量: count per month { label "月用电量" source "电力" }
fact 月销售额: money per month { label "月销售额" source "税务" }
fact 进程: event 阶段 { label "进程" source "金融办" }
fact 证书: event { label "证书" source "科技" }

clause 奖励 {
  ref "第一条"
  text "营业收入达到一亿元的，奖励十万元"
  require 达标: 营业收入 >= 1亿
  amount 10万
}
clause 分期奖励 {
  ref "第二条"
  text "分两期"
  tranche 首期 {
    require 过亿: 营业收入 >= 1亿
    amount 5万
  }
  tranche 二期 {
    require 翻番: 营业收入 >= 2亿
    amount 5万
  }
}
"#;

const A: &str = "91330201MA2H4A3X2L";
const B: &str = "91330201MA2H4B1Y3L";

#[test]
fn every_type_and_source_kind() {
    let d = tmp("types");
    std::fs::create_dir_all(d.join("pack")).unwrap();
    std::fs::write(d.join("pack/p.hq"), PACK).unwrap();
    let p = match huiqi_lang::load_pack(&d.join("pack")) {
        Ok(l) => l.program,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|x| sm.render(x, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    // Firms deliberately out of order, a BOM, tab-separated.
    w("firms.tsv", format!("\u{feff}代码\t名称\t规模\t成立\n{B}\t乙公司\t小型\t2015/6/1\n{A}\t甲公司\t中型\t2010年3月8日\n"));
    w("tax.csv", format!("代码,年份,收入（元）,毛利率\n{A},2023年,\"100,000,000.00\",12.5%\n{A},2022,90000000,0.1\n{B},2023,,\n"));
    w(
        "hr.csv",
        format!("代码,年份,人数,出口\n{B},2023,\"1,200\",Y\n{A},2023,35,N\n"),
    );
    w("power.csv", format!("代码,年,月,用电,销售额（万元）\n{A},2023,2,1000,1.5\n{A},2023,1,900,\n{A},2022,12,800,2\n"));
    w("events.csv", format!("代码,事项,日期,有效期至,取值\n{A},证书,2021-11-20,2024-11-19,\n{A},进程,2023-03-01,,甲阶段\n{A},进程,2023-03-01,,乙阶段\n{B},证书,2022-01-01,,\n"));
    w(
        "awards.csv",
        format!("代码,条款,年度,分项,金额\n{A},分期奖励,2023,首期,5\n{A},奖励,2022,,10\n"),
    );
    w(
        "mapping.toml",
        r#"
[firms]
file = "firms.tsv"
delimiter = "	"
id = "代码"
name = "名称"
facts = { "规模类型" = "规模", "成立日期" = "成立" }

[[yearly]]
file = "tax.csv"
id = "代码"
year = "年份"
facts = { "营业收入" = "收入（元）", "毛利率" = "毛利率" }

[[yearly]]
file = "hr.csv"
id = "代码"
year = "年份"
bools = "Y/N"
facts = { "从业人数" = "人数", "出口企业" = "出口" }

[[monthly]]
file = "power.csv"
id = "代码"
year = "年"
month = "月"
facts = { "月用电量" = "用电", "月销售额" = { column = "销售额（万元）", unit = "万元" } }

[[events]]
file = "events.csv"
fact_column = "事项"
id = "代码"
date = "日期"
until = "有效期至"
value = "取值"

[[awards]]
file = "awards.csv"
id = "代码"
clause = "条款"
period = "年度"
tranche = "分项"
amount = "金额"
unit = "万元"
"#
        .into(),
    );
    let info =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 10).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(
        (
            info.rows.firms,
            info.rows.yearly,
            info.rows.monthly,
            info.rows.events,
            info.rows.awards
        ),
        (2, 3, 3, 4, 2)
    );
    // A pack whose event facts declare no fields writes the snapshot it always wrote: this is
    // the hash of these inputs before record fields existed (commit 00cbaf2). It changes only
    // if the snapshot's bytes do — a new parquet writer, a layout change — and then every
    // existing snapshot would be re-hashed too.
    assert_eq!(
        info.hash,
        "3c78b1c7cefda2ae7d036f868e6826d8c5484e011f2a8045da4f83cf663a4f0b"
    );
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let f = |n: &str| p.fact_by_name(n).unwrap();
    let (a, b) = (&firms[0], &firms[1]);
    assert_eq!(
        (a.id.as_str(), a.name.as_str(), b.id.as_str()),
        (A, "甲公司", B)
    );
    assert_eq!(a.facts[f("规模类型")], FactData::Static(Value::Enum(1)));
    assert_eq!(
        a.facts[f("成立日期")],
        FactData::Static(Value::Date(Date::new(2010, 3, 8).unwrap()))
    );
    assert_eq!(
        b.facts[f("成立日期")],
        FactData::Static(Value::Date(Date::new(2015, 6, 1).unwrap()))
    );
    assert_eq!(
        a.value_at(f("营业收入"), 2023),
        Value::Money(Decimal::from(100_000_000))
    );
    assert_eq!(
        a.value_at(f("毛利率"), 2023),
        Value::Ratio(Decimal::from_str("0.125").unwrap())
    );
    assert_eq!(
        a.value_at(f("毛利率"), 2022),
        Value::Ratio(Decimal::from_str("0.1").unwrap())
    );
    assert_eq!(
        a.value_at(f("从业人数"), 2023),
        Value::Count(Decimal::from(35))
    );
    assert_eq!(
        b.value_at(f("从业人数"), 2023),
        Value::Count(Decimal::from(1200))
    );
    assert_eq!(b.value_at(f("出口企业"), 2023), Value::Bool(true));
    // B's tax row has no data at all: no yearly row for it from that file.
    assert!(b.value_at(f("营业收入"), 2023).is_missing());
    assert_eq!(
        a.facts[f("月用电量")],
        FactData::Monthly(vec![
            ((2022, 12), Value::Count(Decimal::from(800))),
            ((2023, 1), Value::Count(Decimal::from(900))),
            ((2023, 2), Value::Count(Decimal::from(1000))),
        ])
    );
    assert_eq!(
        a.facts[f("月销售额")],
        FactData::Monthly(vec![
            ((2022, 12), Value::Money(Decimal::from(20_000))),
            ((2023, 2), Value::Money(Decimal::from(15_000))),
        ])
    );
    // Same date: sorted by the value's name (乙阶段 < 甲阶段 in UTF-8 byte order).
    let FactData::Events(es) = &a.facts[f("进程")] else {
        panic!()
    };
    assert!("乙阶段" < "甲阶段");
    assert_eq!(
        es.iter().map(|e| e.value).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
    let FactData::Events(cs) = &b.facts[f("证书")] else {
        panic!()
    };
    assert_eq!(cs[0].until, None);
    // Awards sorted by clause name, amounts in 元, clause ids resolved.
    assert_eq!(a.awards.len(), 2);
    let names: Vec<&str> = a
        .awards
        .iter()
        .map(|x| p.clauses[x.clause].name.as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let staged = a.awards.iter().find(|x| x.tranche == "首期").unwrap();
    assert_eq!(
        (staged.period, staged.amount),
        (2023, Decimal::from(50_000))
    );

    // The snapshot's own Parquet files, read back as sources, give the same snapshot.
    let h16 = &info.hash[..16];
    std::fs::create_dir_all(d.join("re")).unwrap();
    std::fs::write(
        d.join("re/mapping.toml"),
        format!(
            r#"
[firms]
file = "../snap/{h16}/firms.parquet"
id = "firm_id"
name = "name"
facts = {{ "规模类型" = "规模类型", "成立日期" = "成立日期" }}

[[yearly]]
file = "../snap/{h16}/yearly.parquet"
id = "firm_id"
year = "year"
facts = {{ "营业收入" = "营业收入", "毛利率" = "毛利率", "从业人数" = "从业人数", "出口企业" = "出口企业" }}

[[monthly]]
file = "../snap/{h16}/monthly.parquet"
id = "firm_id"
year = "year"
month = "month"
facts = {{ "月用电量" = "月用电量", "月销售额" = "月销售额" }}

[[events]]
file = "../snap/{h16}/events.parquet"
fact_column = "fact"
id = "firm_id"
date = "date"
until = "until"
value = "value"

[[awards]]
file = "../snap/{h16}/awards.parquet"
id = "firm_id"
clause = "clause"
period = "period"
tranche = "tranche"
amount = "amount"
"#
        ),
    )
    .unwrap();
    let again = ingest(&d.join("re/mapping.toml"), &p, &d.join("snap"), 10)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(again.hash, info.hash);
    assert!(again.reused);
}

#[test]
fn hash_is_sha256_of_names_and_bytes_in_table_order() {
    use sha2::{Digest, Sha256};
    let p = ningbo();
    let d = tmp("hash");
    generate(&d.join("gen"), 30, 2022, 2023, 5, false).unwrap();
    let info = ingest(&d.join("gen/mapping.toml"), &p, &d.join("snap"), 10).unwrap();
    let mut h = Sha256::new();
    for t in ["firms", "yearly", "monthly", "events", "awards"] {
        let name = format!("{t}.parquet");
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(std::fs::read(info.dir.join(&name)).unwrap());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, info.hash);
}

#[test]
fn xlsx_date_cells_and_numbers() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let p = ningbo();
    let d = tmp("xlsx-dates");
    let common = root().join("tests/bad/data/common");
    for f in ["企业名录.csv", "税务.csv", "上市.csv", "贷款.csv"] {
        std::fs::copy(common.join(f), d.join(f)).unwrap();
    }
    let m = std::fs::read_to_string(common.join("mapping.toml"))
        .unwrap()
        .replace("../common/", "")
        .replace("高企.csv", "高企.xlsx");
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in ["统一社会信用代码", "发证日期", "有效期至"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, B).unwrap();
    ws.write_datetime_with_format(1, 1, ExcelDateTime::from_ymd(2021, 11, 20).unwrap(), &date)
        .unwrap();
    ws.write_string(1, 2, "2024/11/19").unwrap();
    ws.write_string(2, 0, A).unwrap();
    ws.write_datetime_with_format(2, 1, ExcelDateTime::from_ymd(2022, 12, 1).unwrap(), &date)
        .unwrap();
    wb.save(d.join("高企.xlsx")).unwrap();
    let info =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 10).unwrap_or_else(|r| panic!("{r}"));
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let cert = p.fact_by_name("高企证书").unwrap();
    let FactData::Events(es) = &firms.iter().find(|f| f.id == B).unwrap().facts[cert] else {
        panic!()
    };
    assert_eq!(es[0].date, Date::new(2021, 11, 20).unwrap());
    assert_eq!(es[0].until, Date::new(2024, 11, 19));
    let FactData::Events(es) = &firms.iter().find(|f| f.id == A).unwrap().facts[cert] else {
        panic!()
    };
    assert_eq!(
        (es[0].date, es[0].until),
        (Date::new(2022, 12, 1).unwrap(), None)
    );
}
