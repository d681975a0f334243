//! Hand-computed cases over a snapshot written here, row by row: firms moving between zones,
//! joining and leaving the register, renewals that are not new, tags that start mid-year, a
//! firm in no zone. Every expected figure is worked out in the comments from the rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use huiqi_indicators::{compute, Figure, IndicatorSet, Period, SCALE};

fn days(s: &str) -> i32 {
    huiqi_data::dates::to_days(huiqi_ir::Date::parse(s).unwrap())
}

fn write(dir: &Path, name: &str, cols: Vec<(&str, DataType, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t, _)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let b = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.2).collect()).unwrap();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap(),
        schema,
        None,
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
fn so(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
fn i(v: &[i32]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}
fn yuan(v: &[i64]) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(v.iter().map(|&x| x as i128 * SCALE).collect::<Vec<_>>())
            .with_precision_and_scale(38, 12)
            .unwrap(),
    )
}
fn dec() -> DataType {
    DataType::Decimal128(38, 12)
}

const IT: &str = "信息技术服务业";

/// F1 in A throughout; F2 in A until 2020-12-31, then B; F3 moves into A on 2021-02-01 and
/// joins the register in 2021; F4 in A leaves the register in 2021; F5 manufacturing in A; F6
/// in no zone. Revenue per month, months 1–3 (and a month 4 the period must not read).
fn snapshot(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ids = ["F1", "F2", "F3", "F4", "F5", "F6"];
    write(
        dir,
        "firms",
        vec![
            ("firm_id", DataType::Utf8, s(&ids)),
            (
                "name",
                DataType::Utf8,
                s(&["一", "二", "三", "四", "五", "六"]),
            ),
            ("行业", DataType::Utf8, s(&[IT, IT, IT, IT, "制造业", IT])),
        ],
    );
    // 规上企业 by year: F1 both; F2 both; F3 2021 only; F4 2020 only; F5 both; F6 both.
    let yf = [
        "F1", "F1", "F2", "F2", "F3", "F3", "F4", "F4", "F5", "F5", "F6", "F6",
    ];
    let yy = [
        2020, 2021, 2020, 2021, 2020, 2021, 2020, 2021, 2020, 2021, 2020, 2021,
    ];
    let yb = [
        true, true, true, true, false, true, true, false, true, true, true, true,
    ];
    write(
        dir,
        "yearly",
        vec![
            ("firm_id", DataType::Utf8, s(&yf)),
            ("year", DataType::Int32, i(&yy)),
            (
                "规上企业",
                DataType::Boolean,
                Arc::new(BooleanArray::from(yb.to_vec())),
            ),
        ],
    );
    // Monthly revenue (元): per firm, 2020 months 1–3 then 2021 months 1–4.
    let per: [(&str, i64, i64); 6] = [
        ("F1", 10, 20),
        ("F2", 5, 7),
        ("F3", 1, 3),
        ("F4", 100, 50),
        ("F5", 1000, 1000),
        ("F6", 9, 9),
    ];
    let (mut f, mut y, mut m, mut v) = (vec![], vec![], vec![], vec![]);
    for (id, a, b) in per {
        for mo in 1..=3 {
            f.push(id);
            y.push(2020);
            m.push(mo);
            v.push(a);
        }
        for mo in 1..=4 {
            f.push(id);
            y.push(2021);
            m.push(mo);
            v.push(if mo == 4 { 1_000_000 } else { b });
        }
    }
    write(
        dir,
        "monthly",
        vec![
            ("firm_id", DataType::Utf8, s(&f)),
            ("year", DataType::Int32, i(&y)),
            ("month", DataType::Int32, i(&m)),
            ("月度营业收入", dec(), yuan(&v)),
        ],
    );
    // Events, sorted by firm, fact, date.
    type Event<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let ev: Vec<Event> = vec![
        ("F1", "产业链", "2021-01-01", None, Some("大数据和网络安全")),
        ("F1", "所属园区", "2019-01-01", None, Some("A")),
        ("F1", "高企证书", "2018-05-01", Some("2021-04-30"), None),
        ("F1", "高企证书", "2021-02-01", Some("2024-01-31"), None),
        (
            "F2",
            "所属园区",
            "2019-01-01",
            Some("2020-12-31"),
            Some("A"),
        ),
        ("F2", "所属园区", "2021-01-01", None, Some("B")),
        ("F3", "所属园区", "2021-02-01", None, Some("A")),
        ("F3", "高企证书", "2021-03-15", Some("2024-03-14"), None),
        ("F4", "所属园区", "2018-01-01", None, Some("A")),
        ("F4", "高企证书", "2020-02-02", Some("2023-02-01"), None),
        ("F5", "所属园区", "2018-01-01", None, Some("A")),
        ("F5", "高企证书", "2021-04-10", Some("2024-04-09"), None),
    ];
    write(
        dir,
        "events",
        vec![
            (
                "firm_id",
                DataType::Utf8,
                s(&ev.iter().map(|e| e.0).collect::<Vec<_>>()),
            ),
            (
                "fact",
                DataType::Utf8,
                s(&ev.iter().map(|e| e.1).collect::<Vec<_>>()),
            ),
            (
                "date",
                DataType::Date32,
                Arc::new(Date32Array::from(
                    ev.iter().map(|e| days(e.2)).collect::<Vec<_>>(),
                )),
            ),
            (
                "until",
                DataType::Date32,
                Arc::new(Date32Array::from(
                    ev.iter().map(|e| e.3.map(days)).collect::<Vec<_>>(),
                )),
            ),
            (
                "value",
                DataType::Utf8,
                so(&ev.iter().map(|e| e.4).collect::<Vec<_>>()),
            ),
        ],
    );
    write(
        dir,
        "awards",
        vec![
            ("firm_id", DataType::Utf8, s(&[])),
            ("clause", DataType::Utf8, s(&[])),
            ("period", DataType::Int32, i(&[])),
            ("tranche", DataType::Utf8, s(&[])),
            ("amount", dec(), yuan(&[])),
        ],
    );
    let manifest = serde_json::json!({
        "hash": huiqi_files::snapshot::content_hash(dir).unwrap(),
        "schema": {
            "行业": {"type": "行业门类", "period": "static", "values": [IT, "制造业"]},
            "规上企业": {"type": "bool", "period": "per year"},
            "月度营业收入": {"type": "money", "period": "per month"},
            "所属园区": {"type": "园区", "period": "event", "values": ["A", "B"]},
            "产业链": {"type": "产业链类别", "period": "event", "values": ["大数据和网络安全"]},
            "高企证书": {"type": null, "period": "event"},
        },
        "sources": [],
        "rows": {"firms": 6, "yearly": 12, "monthly": 42, "events": 12, "awards": 0},
        "created_by": "test",
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

const SET: &str = r#"
[set]
name = "测试"
version = "1"
zone_fact = "所属园区"

[[indicator]]
id = "rev"
measure = "sum"
fact = "月度营业收入"
where = { "行业" = "信息技术服务业", "规上企业" = true }
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "rev_all"
measure = "sum"
fact = "月度营业收入"
where = { "行业" = "信息技术服务业" }
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "share"
measure = "ratio"
numerator = "rev"
denominator = "rev_all"
unit = "%"
source = "s"
definition = "d"

[[indicator]]
id = "n"
measure = "count"
where = { "规上企业" = true }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "new"
measure = "new"
fact = "高企证书"
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "held"
measure = "count"
where = { "高企证书" = true }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "seg"
measure = "sum"
fact = "月度营业收入"
where = { "产业链" = "大数据和网络安全" }
unit = "元"
source = "s"
definition = "d"

[[target]]
indicator = "rev"
zone = "A"
year = 2021
value = 100
department = "经济运行局"
"#;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-ind-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fig<'a>(c: &'a huiqi_indicators::Computed, id: &str, zone: &str) -> &'a Figure {
    c.figures
        .iter()
        .find(|f| f.indicator == id && f.zone == zone)
        .unwrap_or_else(|| panic!("no figure {id} in {zone}"))
}

fn y(n: i64) -> i128 {
    n as i128 * SCALE
}

#[tokio::test]
async fn same_set_and_nominal_growth_by_hand() {
    let d = tmp("hand");
    let snap = d.join("snap");
    snapshot(&snap);
    let setdir = d.join("set");
    std::fs::create_dir_all(&setdir).unwrap();
    std::fs::write(setdir.join("set.toml"), SET).unwrap();
    let set = IndicatorSet::load(&setdir).unwrap();
    let c = compute(&set, &snap, Period::parse("2021-03").unwrap())
        .await
        .unwrap();
    assert_eq!(c.zones, ["A", "B"]);
    assert_eq!(c.firms_without_zone, 1, "F6");

    // rev in A: now F1 (3×20) + F3 (3×3, moved in, joined) = 69; the same firms a year earlier
    // 3×10 + 3×1 = 33; last year's set in A: F1 30, F2 15 (still in A then), F4 300 = 345.
    let a = fig(&c, "rev", "A");
    assert_eq!(
        (a.value, a.same_base, a.nominal_base),
        (y(69), y(33), y(345))
    );
    assert_eq!((a.firms, a.firms_base, a.entries, a.exits), (2, 3, 1, 2));
    assert_eq!(
        Figure::growth_pct(a.value, a.same_base)
            .unwrap()
            .to_string(),
        "109.1"
    );
    assert_eq!(
        Figure::growth_pct(a.value, a.nominal_base)
            .unwrap()
            .to_string(),
        "-80.0"
    );
    // rev in B: F2 moved in on 2021-01-01: 21 against its own 15; B had nobody a year earlier.
    let b = fig(&c, "rev", "B");
    assert_eq!((b.value, b.same_base, b.nominal_base), (y(21), y(15), 0));
    assert_eq!((b.entries, b.exits), (1, 0));
    assert_eq!(Figure::growth_pct(b.value, b.nominal_base), None);

    // rev_all in A: F1 60 + F3 9 + F4 150 (off the register, still IT in A) = 219.
    assert_eq!(fig(&c, "rev_all", "A").value, y(219));
    // share = 69 / 219, truncated at 12 decimals.
    assert_eq!(
        fig(&c, "share", "A").value,
        69 * SCALE * SCALE / (219 * SCALE)
    );
    assert_eq!(fig(&c, "share", "A").value, 315_068_493_150);

    // n in A: F1, F3, F5 now; F1, F2, F4, F5 a year earlier.
    let n = fig(&c, "n", "A");
    assert_eq!(
        (n.value, n.firms, n.firms_base, n.entries, n.exits),
        (y(3), 3, 4, 1, 2)
    );

    // new: F3's first certificate (2021-03-15) is new; F1's renewal (2021-02-01) is not; F5's
    // (2021-04-10) is after the period. A year earlier F4's first (2020-02-02).
    let rows = c.firm_rows();
    let nw = fig(&c, "new", "A");
    assert_eq!((nw.value, nw.nominal_base), (y(1), y(1)));
    assert!(rows
        .iter()
        .any(|r| r.indicator == "new" && r.firm_id == "F3" && r.in_current));
    assert!(!rows
        .iter()
        .any(|r| r.indicator == "new" && r.firm_id == "F1"));

    // held at 2021-03-31: F1 (renewed), F3, F4 (until 2023); not F5 (from 04-10).
    assert_eq!(fig(&c, "held", "A").value, y(3));

    // seg: F1 tagged from 2021-01-01: 60 now against its own 30; untagged a year earlier.
    let sg = fig(&c, "seg", "A");
    assert_eq!((sg.value, sg.same_base, sg.nominal_base), (y(60), y(30), 0));

    // The drill-down rows sum to every figure exactly.
    for f in c.figures.iter().filter(|f| f.indicator != "share") {
        let sum: i128 = rows
            .iter()
            .filter(|r| {
                r.indicator == f.indicator && r.in_current && r.zone.as_deref() == Some(&f.zone)
            })
            .map(|r| r.value)
            .sum();
        assert_eq!(sum, f.value, "{} {}", f.indicator, f.zone);
    }

    // Without the rows kept (and unordered), the same figures.
    let lean = huiqi_indicators::compute_with(&set, &snap, c.period, false)
        .await
        .unwrap();
    assert_eq!(lean.figures, c.figures);
    assert!(lean.rows.is_empty());

    // Target 100 元 by year end, paced M/12 = 25% after March: 69% done, 44 points ahead.
    let p = huiqi_indicators::progress(&set, c.period, &c.figures);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].completion.unwrap().to_string(), "69.0");
    assert_eq!(p[0].pace.unwrap().to_string(), "25.0");
    assert_eq!(p[0].colour, Some(huiqi_indicators::Colour::Green));

    // Written and read back: the same figures; a doctored file is refused.
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    huiqi_indicators::output::write_all(&out, &set, "h", &c).unwrap();
    let back = huiqi_indicators::output::read(&out).unwrap();
    assert_eq!(back.figures, c.figures);
    assert_eq!(back.firms, rows);
    // The rows come by indicator (the set's order) then credit code.
    let order: Vec<(usize, &str)> = rows
        .iter()
        .map(|r| {
            (
                set.indicators
                    .iter()
                    .position(|i| i.id == r.indicator)
                    .unwrap(),
                r.firm_id.as_str(),
            )
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    let p = out.join(huiqi_indicators::output::FIGURES);
    let mut bytes = std::fs::read(&p).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    assert!(huiqi_indicators::output::read(&out).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn the_colours_follow_the_pace() {
    let d = tmp("pace");
    let snap = d.join("snap");
    snapshot(&snap);
    let setdir = d.join("set");
    std::fs::create_dir_all(&setdir).unwrap();
    // Targets of 276 (69 is exactly 25% = the pace after March), 290 (23.8%: 1.2 points
    // behind → amber) and 460 (15%: 10 behind → red).
    let mut text = SET.replace("value = 100", "value = 276");
    for v in [290, 460] {
        text.push_str(&format!(
            "\n[[target]]\nindicator = \"rev\"\nzone = \"A\"\nyear = 2021\nvalue = {v}\ndepartment = \"d\"\n"
        ));
    }
    std::fs::write(setdir.join("set.toml"), text).unwrap();
    let set = IndicatorSet::load(&setdir).unwrap();
    let c = compute(&set, &snap, Period::parse("2021-03").unwrap())
        .await
        .unwrap();
    let p = huiqi_indicators::progress(&set, c.period, &c.figures);
    let colours: Vec<_> = p.iter().map(|x| x.colour.unwrap()).collect();
    use huiqi_indicators::Colour::*;
    assert_eq!(colours, [Green, Amber, Red]);
    assert_eq!(p[1].gap_pp.unwrap().to_string(), "-1.2");
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_set_naming_what_the_snapshot_lacks_is_refused_with_its_place() {
    let d = tmp("schema");
    let snap = d.join("snap");
    snapshot(&snap);
    let setdir = d.join("set");
    std::fs::create_dir_all(&setdir).unwrap();
    for (bad, want) in [
        (
            SET.replace("fact = \"高企证书\"", "fact = \"专利\""),
            "专利",
        ),
        (
            SET.replace(
                "\"行业\" = \"信息技术服务业\", \"规上",
                "\"行业\" = \"金融业\", \"规上",
            ),
            "金融业",
        ),
        (
            SET.replace(
                "\"规上企业\" = true }\nunit = \"家\"",
                "\"月度营业收入\" = true }\nunit = \"家\"",
            ),
            "月度营业收入",
        ),
    ] {
        std::fs::write(setdir.join("set.toml"), bad).unwrap();
        let set = IndicatorSet::load(&setdir).unwrap();
        let e = compute(&set, &snap, Period::parse("2021-03").unwrap())
            .await
            .unwrap_err();
        assert!(
            e.zh.contains(want) && e.zh.contains("set.toml:"),
            "{}",
            e.zh
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
