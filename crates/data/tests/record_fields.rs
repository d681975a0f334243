//! Numbers on event records (`field 本金: money`): a mapping's `fields` → ingest → the events
//! table's `<fact>.<field>` columns → `load_snapshot`; the manifest's `fields`; a snapshot with
//! awards from a ledger keeps the columns; firm files with fields; a pack without fields keeps
//! the five columns it always had.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Decimal128Type};
use huiqi_data::firmfile::parse_firm;
use huiqi_data::{ingest, load_snapshot, read_manifest};
use huiqi_ir::{Date, EventRec, FactData, Firm, Program, Value};
use rust_decimal::Decimal;

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fields-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const PACK: &str = r#"
policy 字段测试包 {
  title "record fields"
  issuer "huiqi"
  version "1"
  effective 2022-01-01 .. 2024-12-31
  rounding 分
}
enum 租赁类型 { 厂房, 办公 }
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 贷款: event {
  label "新增银行贷款"
  source "金融办"
  field 本金: money
  field 实付利息: money
}
fact 租赁: event 租赁类型 {
  label "租赁合同"
  source "经信"
  field 面积: count
  field 减免比例: ratio
}
fact 证书: event { label "证书" source "科技" }

clause 贴息 {
  ref "第一条"
  text "按每笔贷款本金的3%且不超过实付利息贴息"
  amount sum(贷款: min(本金 * 3%, 实付利息 ?? 0))
}
"#;

/// The same pack without fields on its event facts.
const PLAIN_PACK: &str = r#"
policy 无字段包 {
  title "no fields"
  issuer "huiqi"
  version "1"
  effective 2022-01-01 .. 2024-12-31
  rounding 分
}
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 证书: event { label "证书" source "科技" }
clause 奖励 {
  ref "第一条"
  text "营业收入达到一亿元的，奖励十万元"
  require 达标: 营业收入 >= 1亿
  amount 10万
}
"#;

fn load(d: &Path, text: &str) -> Program {
    std::fs::create_dir_all(d.join("pack")).unwrap();
    std::fs::write(d.join("pack/p.hq"), text).unwrap();
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

fn yuan(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn events<'f>(p: &Program, f: &'f Firm, fact: &str) -> &'f [EventRec] {
    match &f.facts[p.fact_by_name(fact).unwrap()] {
        FactData::Events(es) => es,
        other => panic!("{fact}: {other:?}"),
    }
}

/// The firm register, a loan file in 万元 (one fact, `fields` by field name) and a mixed file
/// of leases and certificates (a fact column, `fields` by `fact.field`).
fn write_zone(d: &Path) {
    let w = |n: &str, s: String| std::fs::write(d.join(n), s).unwrap();
    w("firms.csv", format!("代码,名称\n{A},甲公司\n{B},乙公司\n"));
    // Two loans of A on one day with different principals are two loans; the second one's
    // interest is empty (missing). B's principal has thousands separators and 4 decimals of 万元.
    w(
        "loans.csv",
        format!(
            "代码,放款日期,到期日,贷款本金（万元）,实付利息（万元）\n\
             {A},2023-03-01,2026-02-28,1000,30\n\
             {A},2023-03-01,,500,\n\
             {B},2023/6/15,,\"1,200.5678\",18.0075\n"
        ),
    );
    w(
        "contracts.csv",
        format!(
            "代码,事项,日期,类型,面积,减免比例\n\
             {A},租赁,2022-01-01,厂房,\"1,200\",30%\n\
             {A},证书,2021-11-20,,,\n\
             {B},租赁,2023-02-01,办公,,0.5\n"
        ),
    );
    w(
        "mapping.toml",
        r#"
[firms]
file = "firms.csv"
id = "代码"
name = "名称"

[[events]]
file = "loans.csv"
fact = "贷款"
id = "代码"
date = "放款日期"
until = "到期日"
unit = "万元"
fields = { "本金" = "贷款本金（万元）", "实付利息" = { column = "实付利息（万元）", min = 0 } }

[[events]]
file = "contracts.csv"
fact_column = "事项"
id = "代码"
date = "日期"
value = "类型"
fields = { "租赁.面积" = "面积", "租赁.减免比例" = "减免比例" }
"#
        .into(),
    );
}

#[test]
fn fields_round_trip_through_ingest_and_load_snapshot() {
    let d = tmp("roundtrip");
    let p = load(&d, PACK);
    write_zone(&d);
    let info =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.events, 6);
    let firms = load_snapshot(&info.dir, &p).unwrap();
    let (a, b) = (&firms[0], &firms[1]);
    assert_eq!((a.id.as_str(), b.id.as_str()), (A, B));

    // Same day: sorted by the field columns after date and value (missing first), so the
    // smaller principal comes first.
    let loans = events(&p, a, "贷款");
    assert_eq!(loans.len(), 2);
    assert!(loans.iter().all(|e| e.date == day("2023-03-01")));
    assert_eq!(
        loans[0].nums,
        vec![Value::Money(yuan("5000000")), Value::Missing]
    );
    assert_eq!(loans[0].until, None);
    assert_eq!(
        loans[1].nums,
        vec![Value::Money(yuan("10000000")), Value::Money(yuan("300000"))]
    );
    assert_eq!(loans[1].until, Some(day("2026-02-28")));
    let loans = events(&p, b, "贷款");
    assert_eq!(
        loans[0].nums,
        vec![Value::Money(yuan("12005678")), Value::Money(yuan("180075"))]
    );
    assert_eq!(loans[0].date, day("2023-06-15"));

    // A count and a ratio; an empty count is missing.
    let leases = events(&p, a, "租赁");
    assert_eq!(leases[0].value, Some(0));
    assert_eq!(
        leases[0].nums,
        vec![Value::Count(Decimal::from(1200)), Value::Ratio(yuan("0.3"))]
    );
    assert_eq!(
        events(&p, b, "租赁")[0].nums,
        vec![Value::Missing, Value::Ratio(yuan("0.5"))]
    );
    // A fact without fields carries no numbers.
    assert!(events(&p, a, "证书")[0].nums.is_empty());

    // The reference evaluator reads them: A's loans pay min(30万, 30万) + min(15万, 0); B's
    // min(1200.5678万 × 3%, 18.0075万).
    let outs = huiqi_eval::evaluate_population(&p, &firms, 2023, false);
    assert_eq!(outs[0].total(), yuan("300000"));
    assert_eq!(outs[1].total(), yuan("180075"));

    // The table: the five record columns, then one Decimal128(38, 12) per field in fact and
    // field order, null on other facts' rows.
    let f = std::fs::File::open(info.dir.join("events.parquet")).unwrap();
    let batches: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let sch = batches[0].schema();
    let names: Vec<&str> = sch.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "firm_id",
            "fact",
            "date",
            "until",
            "value",
            "贷款.本金",
            "贷款.实付利息",
            "租赁.面积",
            "租赁.减免比例"
        ]
    );
    for f in &sch.fields()[5..] {
        assert_eq!(f.data_type(), &DataType::Decimal128(38, 12));
        assert!(f.is_nullable());
    }
    let b0 = &batches[0];
    let facts: Vec<&str> = b0.column(1).as_string::<i32>().iter().flatten().collect();
    let area = b0.column(7).as_primitive::<Decimal128Type>();
    let principal = b0.column(5).as_primitive::<Decimal128Type>();
    for (i, fact) in facts.iter().enumerate() {
        assert_eq!(principal.is_null(i), *fact != "贷款", "{i} {fact}");
        if *fact == "租赁" && !area.is_null(i) {
            assert_eq!(
                area.value(i),
                1200 * 1_000_000_000_000,
                "counts are whole decimals"
            );
        }
        if *fact != "租赁" {
            assert!(area.is_null(i));
        }
    }

    // The manifest lists each fact's fields, in order, only where there are some.
    let m = read_manifest(&info.dir).unwrap();
    let loan = m.schema["贷款"].as_object().unwrap();
    let fields: Vec<(&String, &serde_json::Value)> =
        loan["fields"].as_object().unwrap().iter().collect();
    assert_eq!(fields.len(), 2);
    assert_eq!(
        (fields[0].0.as_str(), fields[0].1.as_str()),
        ("本金", Some("money"))
    );
    assert_eq!(
        (fields[1].0.as_str(), fields[1].1.as_str()),
        ("实付利息", Some("money"))
    );
    let lease = m.schema["租赁"]["fields"].as_object().unwrap();
    assert_eq!(
        lease
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("面积", "count"), ("减免比例", "ratio")]
    );
    assert!(m.schema["证书"].get("fields").is_none());
    assert!(m.schema["营业收入"].get("fields").is_none());

    // The snapshot's own events table, read back as a source (the columns named `fact.field`),
    // gives the same snapshot.
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

[[events]]
file = "../snap/{h16}/events.parquet"
fact_column = "fact"
id = "firm_id"
date = "date"
until = "until"
value = "value"
fields = {{ "贷款.本金" = "贷款.本金", "贷款.实付利息" = "贷款.实付利息", "租赁.面积" = "租赁.面积", "租赁.减免比例" = "租赁.减免比例" }}
"#
        ),
    )
    .unwrap();
    let again = ingest(&d.join("re/mapping.toml"), &p, &d.join("snap"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(again.hash, info.hash);
    assert!(again.reused);

    // Rows in another order give the same bytes (the numbers break ties on a day).
    let text = std::fs::read_to_string(d.join("loans.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(d.join("loans.csv"), lines.join("\n") + "\n").unwrap();
    let shuffled =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(shuffled.hash, info.hash);

    // A snapshot with awards from a ledger carries the field columns over unchanged.
    let derived = huiqi_data::awards::with_awards(
        &info.dir,
        &[huiqi_data::awards::AwardIn {
            firm_id: A.into(),
            clause: "贴息".into(),
            period: 2022,
            tranche: String::new(),
            fen: 100,
            replaces: true,
        }],
        &d.join("snap"),
        "ledger",
    )
    .unwrap();
    assert_ne!(derived.info.hash, info.hash);
    assert_eq!(
        std::fs::read(derived.info.dir.join("events.parquet")).unwrap(),
        std::fs::read(info.dir.join("events.parquet")).unwrap()
    );
    let again = load_snapshot(&derived.info.dir, &p).unwrap();
    for (x, y) in again.iter().zip(&firms) {
        assert_eq!(x.facts, y.facts);
    }
    assert_eq!(
        read_manifest(&derived.info.dir).unwrap().schema["贷款"]["fields"],
        m.schema["贷款"]["fields"]
    );
    // A clawback of an award only the snapshot holds is taken off it; recovered in full (or a
    // ledger award at 0) the award is gone; a recovery of an award the snapshot lacks changes
    // nothing.
    let with = |fen: i64, period: i32, replaces: bool| {
        huiqi_data::awards::with_awards(
            &derived.info.dir,
            &[huiqi_data::awards::AwardIn {
                firm_id: A.into(),
                clause: "贴息".into(),
                period,
                tranche: String::new(),
                fen,
                replaces,
            }],
            &d.join("snap"),
            "ledger",
        )
        .unwrap()
    };
    let awards_of = |dir: &std::path::Path| -> Vec<(i32, rust_decimal::Decimal)> {
        load_snapshot(dir, &p)
            .unwrap()
            .iter()
            .flat_map(|f| f.awards.iter().map(|a| (a.period, a.amount)))
            .collect()
    };
    assert_eq!(
        awards_of(&with(-40, 2022, false).info.dir),
        vec![(2022, rust_decimal::Decimal::new(60, 2))]
    );
    assert!(awards_of(&with(-100, 2022, false).info.dir).is_empty());
    assert!(awards_of(&with(0, 2022, true).info.dir).is_empty());
    assert_eq!(
        awards_of(&with(-40, 2021, false).info.dir),
        vec![(2022, rust_decimal::Decimal::new(100, 2))]
    );
}

#[test]
fn a_pack_whose_fact_declares_fields_needs_their_columns_in_the_snapshot() {
    // A snapshot written for the pack without fields, read by a pack whose 证书 has one.
    let d = tmp("old-snapshot");
    let plain = load(&d, PLAIN_PACK);
    std::fs::write(d.join("firms.csv"), format!("代码,名称\n{A},甲公司\n")).unwrap();
    std::fs::write(d.join("certs.csv"), format!("代码,日期\n{A},2021-11-20\n")).unwrap();
    std::fs::write(
        d.join("mapping.toml"),
        r#"
[firms]
file = "firms.csv"
id = "代码"
name = "名称"

[[events]]
file = "certs.csv"
fact = "证书"
id = "代码"
date = "日期"
"#,
    )
    .unwrap();
    let info = ingest(&d.join("mapping.toml"), &plain, &d.join("snap"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    let with_field = load(
        &tmp("old-snapshot-pack"),
        &PLAIN_PACK.replace(
            "fact 证书: event { label \"证书\" source \"科技\" }",
            "fact 证书: event { label \"证书\" source \"科技\"\n  field 奖金: money }",
        ),
    );
    let e = load_snapshot(&info.dir, &with_field).unwrap_err();
    let msg = format!("{e}");
    assert!(
        msg.contains("events.parquet") && msg.contains("证书.奖金"),
        "{msg}"
    );
}

#[test]
fn a_pack_without_fields_writes_the_events_table_it_always_wrote() {
    let d = tmp("plain");
    let p = load(&d, PLAIN_PACK);
    std::fs::write(d.join("firms.csv"), format!("代码,名称\n{A},甲公司\n")).unwrap();
    std::fs::write(d.join("certs.csv"), format!("代码,日期\n{A},2021-11-20\n")).unwrap();
    std::fs::write(
        d.join("mapping.toml"),
        "[firms]\nfile = \"firms.csv\"\nid = \"代码\"\nname = \"名称\"\n\n\
         [[events]]\nfile = \"certs.csv\"\nfact = \"证书\"\nid = \"代码\"\ndate = \"日期\"\n",
    )
    .unwrap();
    let info =
        ingest(&d.join("mapping.toml"), &p, &d.join("snap"), 20).unwrap_or_else(|r| panic!("{r}"));
    let f = std::fs::File::open(info.dir.join("events.parquet")).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["firm_id", "fact", "date", "until", "value"]);
    let m = std::fs::read_to_string(info.dir.join("manifest.json")).unwrap();
    assert!(!m.contains("\"fields\""), "{m}");
    // `fields` on a fact that declares none is refused.
    let text = std::fs::read_to_string(d.join("mapping.toml")).unwrap()
        + "fields = { \"奖金\" = \"奖金\" }\n";
    std::fs::write(d.join("mapping.toml"), text).unwrap();
    let rep = ingest(&d.join("mapping.toml"), &p, &d.join("snap2"), 20).unwrap_err();
    assert!(
        rep.errors
            .iter()
            .any(|e| e.location().ends_with("events[0].fields") && e.zh.contains("没有声明字段")),
        "{rep}"
    );
}

/// Ingests `mapping` (written into the zone of `write_zone`) and returns the report.
fn refused(name: &str, edit: impl FnOnce(&Path)) -> huiqi_data::IngestReport {
    let d = tmp(name);
    let p = load(&d, PACK);
    write_zone(&d);
    edit(&d);
    let snaps = d.join("snap");
    let rep = match ingest(&d.join("mapping.toml"), &p, &snaps, 20) {
        Ok(i) => panic!("{name} ingested as {}", i.hash),
        Err(r) => r,
    };
    assert!(!snaps.exists() || std::fs::read_dir(&snaps).unwrap().next().is_none());
    rep
}

fn has(rep: &huiqi_data::IngestReport, loc: &str, what: &str) -> bool {
    rep.errors
        .iter()
        .any(|e| e.location().ends_with(loc) && (e.zh.contains(what) || e.en.contains(what)))
}

fn edit_file(d: &Path, name: &str, from: &str, to: &str) {
    let t = std::fs::read_to_string(d.join(name)).unwrap();
    assert!(t.contains(from), "{name}: {from}");
    std::fs::write(d.join(name), t.replace(from, to)).unwrap();
}

#[test]
fn mapping_and_cell_errors_on_fields() {
    // A field the fact does not declare: its fields listed.
    let rep = refused("unknown-field", |d| {
        edit_file(
            d,
            "mapping.toml",
            "\"本金\" = \"贷款本金（万元）\"",
            "\"利率\" = \"利率\", \"本金\" = \"贷款本金（万元）\"",
        );
    });
    assert!(
        has(
            &rep,
            "events[0].fields.利率",
            "本金（money）、实付利息（money）"
        ),
        "{rep}"
    );
    // A field left out of the mapping.
    let rep = refused("missing-field", |d| {
        edit_file(d, "mapping.toml", "\"本金\" = \"贷款本金（万元）\", ", "");
    });
    assert!(has(&rep, "events[0].fields", "本金 没有映射列"), "{rep}");
    // With a fact column, keys name the fact.
    let rep = refused("fact-column-key", |d| {
        edit_file(d, "mapping.toml", "\"租赁.面积\"", "\"面积\"");
    });
    assert!(has(&rep, "events[1].fields.面积", "事实.字段"), "{rep}");
    // With a fact column, a row of a fact whose field has no column is refused at that row.
    let rep = refused("fact-column-no-column", |d| {
        edit_file(d, "mapping.toml", "\"租赁.面积\" = \"面积\", ", "");
    });
    assert!(has(&rep, "contracts.csv:2", "租赁.面积"), "{rep}");
    // …and a field cell filled on another fact's row.
    let rep = refused("other-facts-cell", |d| {
        edit_file(
            d,
            "contracts.csv",
            "证书,2021-11-20,,,",
            "证书,2021-11-20,,5,",
        );
    });
    assert!(has(&rep, "contracts.csv:3:面积", "应为空"), "{rep}");
    // The header's unit against the mapping's.
    let rep = refused("unit", |d| {
        edit_file(d, "mapping.toml", "unit = \"万元\"\n", "");
    });
    assert!(
        has(&rep, "loans.csv:1:贷款本金（万元）", "unit = \"万元\""),
        "{rep}"
    );
    assert!(
        has(&rep, "loans.csv:1:实付利息（万元）", "unit = \"万元\""),
        "{rep}"
    );
    // A cell that is not money, full-width digits, sub-fen, a count with decimals, a bound.
    let rep = refused("cells", |d| {
        edit_file(d, "loans.csv", ",1000,30", ",约1000,-1");
        edit_file(d, "loans.csv", ",500,", ",５００,");
        edit_file(d, "loans.csv", "18.0075", "18.0000001");
        edit_file(d, "contracts.csv", "\"1,200\"", "1.5");
    });
    assert!(
        has(&rep, "loans.csv:2:贷款本金（万元）", "金额格式不对"),
        "{rep}"
    );
    assert!(
        has(&rep, "loans.csv:2:实付利息（万元）", "min = 0"),
        "{rep}"
    );
    assert!(has(&rep, "loans.csv:3:贷款本金（万元）", "全角"), "{rep}");
    assert!(has(&rep, "loans.csv:4:实付利息（万元）", "分"), "{rep}");
    assert!(has(&rep, "contracts.csv:2:面积", "整数"), "{rep}");
    // Only the cells: every field has its column.
    assert!(!has(&rep, "csv:2", "没有给出它们的列"), "{rep}");
    // The same loan twice (same day and numbers) is a duplicate.
    let rep = refused("duplicate", |d| {
        edit_file(d, "loans.csv", ",500,\n", ",1000,30\n");
    });
    assert!(has(&rep, "loans.csv:3:放款日期", "数值也相同"), "{rep}");
}

#[test]
fn firm_files_carry_fields_beside_the_date() {
    let d = tmp("firmfile");
    let p = load(&d, PACK);
    let firm = parse_firm(
        &p,
        r#"
id = "91330201MA2H4A3X2L"
name = "甲公司"
[facts]
"贷款" = [
  { date = 2023-03-01, until = 2026-02-28, "本金" = "1000万", "实付利息" = "30万" },
  { date = 2023-09-01, "本金" = 5000000 },
]
"租赁" = [ { date = 2022-01-01, value = "厂房", "面积" = 1200, "减免比例" = "30%" } ]
"证书" = [ { date = 2021-11-20 } ]
"#,
        false,
    )
    .unwrap();
    let loans = events(&p, &firm, "贷款");
    assert_eq!(
        loans[0].nums,
        vec![Value::Money(yuan("10000000")), Value::Money(yuan("300000"))]
    );
    assert_eq!(loans[0].until, Some(day("2026-02-28")));
    assert_eq!(
        loans[1].nums,
        vec![Value::Money(yuan("5000000")), Value::Missing]
    );
    assert_eq!(
        events(&p, &firm, "租赁")[0].nums,
        vec![Value::Count(Decimal::from(1200)), Value::Ratio(yuan("0.3"))]
    );
    assert!(events(&p, &firm, "证书")[0].nums.is_empty());

    // JSON the same way.
    let json = parse_firm(
        &p,
        r#"{"id": "91330201MA2H4A3X2L", "facts": {"贷款": [{"date": "2023-03-01", "本金": "1000万", "实付利息": "30万"}]}}"#,
        true,
    )
    .unwrap();
    assert_eq!(events(&p, &json, "贷款")[0].nums, loans[0].nums);

    let bad = |facts: &str| {
        parse_firm(
            &p,
            &format!("id = \"91330201MA2H4A3X2L\"\n[facts]\n{facts}\n"),
            false,
        )
        .unwrap_err()
    };
    // An unknown key: its path, and the fields as hint.
    let e = bad(r#""贷款" = [ { date = 2023-03-01, "本金" = "1000万", "利率" = "3%" } ]"#);
    assert_eq!(e.field, "facts.贷款[0].利率");
    assert!(
        e.hint_zh.contains("本金（money）、实付利息（money）"),
        "{e:?}"
    );
    assert!(
        e.hint_en.contains("本金 (money), 实付利息 (money)"),
        "{e:?}"
    );
    // `value` on a fact without an enum value is unknown too.
    let e = bad(r#""贷款" = [ { date = 2023-03-01, value = "x" } ]"#);
    assert_eq!(e.field, "facts.贷款[0].value");
    // Money as a float, a count with decimals, a ratio that is not one.
    let e = bad(r#""贷款" = [ { date = 2023-03-01, "本金" = 1.5 } ]"#);
    assert_eq!(e.field, "facts.贷款[0].本金");
    assert!(e.zh.contains("浮点数"), "{e:?}");
    let e = bad(r#""租赁" = [ { date = 2022-01-01, value = "厂房", "面积" = 1.5 } ]"#);
    assert_eq!(e.field, "facts.租赁[0].面积");
    let e = bad(r#""租赁" = [ { date = 2022-01-01, value = "厂房", "减免比例" = "三成" } ]"#);
    assert_eq!(e.field, "facts.租赁[0].减免比例");
}
