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
    let lean = huiqi_indicators::compute_with(&set, &snap, c.period, false, &[])
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

/// A run directory as `huiqi run` writes it, reduced to what `selected` reads: results rows of
/// one clause and a manifest naming the snapshot and the results' hash.
fn run_dir(
    dir: &Path,
    snap_hash: &str,
    period: i32,
    rows: &[(&str, i64, Option<&str>)],
    set: &[&str],
) {
    std::fs::create_dir_all(dir).unwrap();
    let n = rows.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("clause", DataType::Utf8, false),
        Field::new("tranche", DataType::Utf8, true),
        Field::new("amount_fen", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            s(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            s(&vec!["瞪羚"; n]),
            so(&vec![None; n]),
            Arc::new(datafusion::arrow::array::Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            so(&rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        ],
    )
    .unwrap();
    let p = dir.join("results.parquet");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    use sha2::Digest;
    let h: String = sha2::Sha256::digest(std::fs::read(&p).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let m = huiqi_files::run::RunManifest {
        engine: huiqi_files::run::Engine {
            name: "huiqi".into(),
            version: "t".into(),
            columnar: "t".into(),
        },
        policy: huiqi_files::run::Policy {
            name: "p".into(),
            version: "1".into(),
            hash: "ph".into(),
            set: set.iter().map(|s| s.to_string()).collect(),
            imports: vec![],
        },
        snapshot: huiqi_files::run::Snapshot {
            hash: snap_hash.into(),
            dir: "snap".into(),
        },
        period,
        rows: n,
        firms: n,
        total_fen: 0,
        by_clause: vec![],
        clawbacks: None,
        files: vec![huiqi_files::run::FileHash {
            file: Some("results.parquet".into()),
            sha256: h,
        }],
    };
    std::fs::write(dir.join("manifest.json"), m.to_json()).unwrap();
}

#[tokio::test]
async fn selected_counts_a_runs_selection_in_each_zone() {
    let d = tmp("selected");
    let snap = d.join("snap");
    snapshot(&snap);
    let hash = huiqi_files::snapshot::content_hash(&snap).unwrap();
    let setdir = d.join("set");
    std::fs::create_dir_all(&setdir).unwrap();
    std::fs::write(
        setdir.join("set.toml"),
        "[set]\nname = \"t\"\nversion = \"1\"\nzone_fact = \"所属园区\"\n\n[[indicator]]\nid = \"g\"\nmeasure = \"selected\"\nclause = \"瞪羚\"\ndata_year = \"previous\"\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n\n[[indicator]]\nid = \"g_it\"\nmeasure = \"selected\"\nclause = \"瞪羚\"\ndata_year = \"previous\"\nwhere = { \"行业\" = \"信息技术服务业\" }\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n",
    )
    .unwrap();
    let set = IndicatorSet::load(&setdir).unwrap();
    // Period 2021-03 reads the run of 2020 (data_year = previous), and 2019's for the base.
    // 2020: F1 awarded; F2 selected but paid under another clause (就高); F3 selected and cut by
    // a pool; F4 not selected (名额); F5 failed a condition; F6 awarded but in no zone.
    let r20 = d.join("run2020");
    run_dir(
        &r20,
        &hash,
        2020,
        &[
            ("F1", 30_000_000, None),
            ("F2", 0, Some("exclusive:就高")),
            ("F3", 1_000, Some("pool:池")),
            ("F4", 0, Some("select:遴选")),
            ("F5", 0, Some("cond:高成长")),
            ("F6", 30_000_000, None),
        ],
        &[],
    );
    // 2019: F1 and F4 selected; F5 capped (selected).
    let r19 = d.join("run2019");
    run_dir(
        &r19,
        &hash,
        2019,
        &[
            ("F1", 30_000_000, None),
            ("F4", 30_000_000, None),
            ("F5", 100, Some("cap")),
        ],
        &[],
    );
    let p = Period::parse("2021-03").unwrap();
    let runs = huiqi_indicators::open_runs(&[r20.clone(), r19.clone()], &hash).unwrap();
    let c = huiqi_indicators::compute_with(&set, &snap, p, true, &runs)
        .await
        .unwrap();
    // In A on 2021-03-31: F1, F3 (moved in on 2021-02-01); F2 is in B. A year earlier (zones on
    // 2020-03-31) A held F1, F2, F4, F5 → selected in 2019: F1, F4, F5.
    let a = fig(&c, "g", "A");
    assert_eq!((a.value, a.firms), (y(2), 2), "F1, F3");
    assert_eq!((a.nominal_base, a.firms_base), (y(3), 3), "F1, F4, F5");
    assert_eq!((a.entries, a.exits), (1, 2), "F3 in; F4, F5 out");
    let b = fig(&c, "g", "B");
    assert_eq!(b.firms, 1, "F2: chosen, paid under another clause");
    // With a condition: F5 is 制造业.
    assert_eq!(fig(&c, "g_it", "A").firms_base, 2);
    assert!(c.notes.is_empty());
    // The drill-down sums to the card.
    let rows = c.firm_rows();
    assert_eq!(
        rows.iter()
            .filter(|r| r.indicator == "g" && r.in_current && r.zone.as_deref() == Some("A"))
            .count(),
        2
    );

    // Without the base year's run: the figure, no base, no entries or exits, and a note.
    let only = huiqi_indicators::open_runs(std::slice::from_ref(&r20), &hash).unwrap();
    let c = huiqi_indicators::compute_with(&set, &snap, p, false, &only)
        .await
        .unwrap();
    let a = fig(&c, "g", "A");
    assert_eq!((a.firms, a.firms_base, a.entries, a.exits), (2, 0, 0, 0));
    assert!(
        c.notes.iter().any(|(zh, _)| zh.contains("2019")),
        "{:?}",
        c.notes
    );
    // Without any run: no figure at all (not a zero), and a note naming the year needed.
    let c = huiqi_indicators::compute_with(&set, &snap, p, false, &[])
        .await
        .unwrap();
    assert!(c.figures.iter().all(|f| f.indicator != "g"));
    assert!(c
        .notes
        .iter()
        .any(|(zh, _)| zh.contains("2020") && zh.contains("--run")));

    // Runs are checked: another snapshot, a doctored results file, a what-if, two of one year.
    let e = huiqi_indicators::open_runs(std::slice::from_ref(&r20), "0000").unwrap_err();
    assert!(e.zh.contains("同一份企业数据"), "{}", e.zh);
    let e = huiqi_indicators::open_runs(&[r20.clone(), r20.clone()], &hash).unwrap_err();
    assert!(e.zh.contains("同一期间"), "{}", e.zh);
    let wi = d.join("whatif");
    run_dir(&wi, &hash, 2020, &[("F1", 1, None)], &["瞪羚遴选名额=200"]);
    let e = huiqi_indicators::open_runs(&[wi], &hash).unwrap_err();
    assert!(e.zh.contains("--set"), "{}", e.zh);
    let mut bytes = std::fs::read(r19.join("results.parquet")).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 1;
    std::fs::write(r19.join("results.parquet"), bytes).unwrap();
    let e = huiqi_indicators::open_runs(&[r19], &hash).unwrap_err();
    assert!(e.zh.contains("哈希不符"), "{}", e.zh);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn investment_sums_projects_in_their_own_zones() {
    let d = tmp("investment");
    let snap = d.join("snap");
    snapshot(&snap);
    let setdir = d.join("set");
    std::fs::create_dir_all(&setdir).unwrap();
    let head = "[set]\nname = \"t\"\nversion = \"1\"\nzone_fact = \"所属园区\"\n\n";
    let ind = "[[indicator]]\nid = \"fai\"\nmeasure = \"investment\"\nunit = \"元\"\nsource = \"s\"\ndefinition = \"d\"\n";
    std::fs::write(setdir.join("set.toml"), format!("{head}{ind}")).unwrap();
    let set = IndicatorSet::load(&setdir).unwrap();
    let p = Period::parse("2021-03").unwrap();
    // No projects table: no figure (not a zero), and a note that says what to add.
    let c = compute(&set, &snap, p).await.unwrap();
    assert!(c.figures.iter().all(|f| f.indicator != "fai"));
    assert!(
        c.notes.iter().any(|(zh, _)| zh.contains("[[projects]]")),
        "{:?}",
        c.notes
    );

    // Q1 in A: 10 a month in 2020, 20 in 2021 (and 1000 in April, after the period); Q2 in A
    // starts in 2021; Q3 in B reported in 2020 only; Q4 in A in 2020 only (completed).
    let rows: Vec<(&str, &str, i32, i32, i64)> = vec![
        ("Q1", "A", 2020, 1, 10),
        ("Q1", "A", 2020, 2, 10),
        ("Q1", "A", 2020, 3, 10),
        ("Q1", "A", 2021, 1, 20),
        ("Q1", "A", 2021, 2, 20),
        ("Q1", "A", 2021, 3, 20),
        ("Q1", "A", 2021, 4, 1000),
        ("Q2", "A", 2021, 2, 5),
        ("Q3", "B", 2020, 1, 7),
        ("Q4", "A", 2020, 2, 100),
    ];
    write(
        &snap,
        "projects",
        vec![
            (
                "project_id",
                DataType::Utf8,
                s(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            ),
            (
                "name",
                DataType::Utf8,
                s(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            ),
            (
                "zone",
                DataType::Utf8,
                s(&rows.iter().map(|r| r.1).collect::<Vec<_>>()),
            ),
            ("firm_id", DataType::Utf8, so(&vec![None; rows.len()])),
            (
                "year",
                DataType::Int32,
                i(&rows.iter().map(|r| r.2).collect::<Vec<_>>()),
            ),
            (
                "month",
                DataType::Int32,
                i(&rows.iter().map(|r| r.3).collect::<Vec<_>>()),
            ),
            (
                "investment",
                dec(),
                yuan(&rows.iter().map(|r| r.4).collect::<Vec<_>>()),
            ),
        ],
    );
    let c = compute(&set, &snap, p).await.unwrap();
    let a = fig(&c, "fai", "A");
    // Now: Q1 60 + Q2 5; the same projects a year earlier: Q1 30 (Q2 had none); last year's
    // projects in A: Q1 30 + Q4 100.
    assert_eq!((a.value, a.firms), (y(65), 2));
    assert_eq!(a.same_base, y(30));
    assert_eq!((a.nominal_base, a.firms_base), (y(130), 2));
    assert_eq!((a.entries, a.exits), (1, 1), "Q2 new, Q4 completed");
    let g = |x: Option<rust_decimal::Decimal>| x.map(|d| d.to_string());
    assert_eq!(
        g(a.same_set_growth(huiqi_indicators::Measure::Investment)).as_deref(),
        Some("116.7"),
        "65 against 30"
    );
    assert_eq!(
        g(a.nominal_growth(huiqi_indicators::Measure::Investment)).as_deref(),
        Some("-50.0"),
        "65 against 130"
    );
    let b = fig(&c, "fai", "B");
    assert_eq!((b.value, b.firms, b.nominal_base, b.exits), (0, 0, y(7), 1));
    // The drill-down lists projects and sums to the card.
    let sum: i128 = c
        .firm_rows()
        .iter()
        .filter(|r| r.indicator == "fai" && r.in_current && r.zone.as_deref() == Some("A"))
        .map(|r| r.value)
        .sum();
    assert_eq!(sum, a.value);
    assert_eq!(
        c.firm_rows()
            .iter()
            .map(|r| r.firm_id.as_str())
            .collect::<Vec<_>>(),
        ["Q1", "Q2", "Q3", "Q4"]
    );

    // An investment indicator takes no firm conditions.
    std::fs::write(
        setdir.join("set.toml"),
        format!("{head}{ind}where = {{ \"规上企业\" = true }}\n"),
    )
    .unwrap();
    let e = IndicatorSet::load(&setdir).unwrap_err();
    assert!(e.zh.contains("investment"), "{}", e.zh);
    let _ = std::fs::remove_dir_all(&d);
}
