//! The dense computation against the DataFusion one it replaced ([`huiqi_indicators::reference`],
//! kept as the oracle): every figure, note and drill-down row — and the batches the rows come in,
//! and the written files byte for byte — over a random zone written here (firms moving between
//! zones and in and out of the register, overlapping zone records, rows of firms the firms table
//! lacks, null facts, every measure), the seed page's four zones (generated, ingested and run as
//! `huiqi gen --seed-zones` does) and a `huiqi gen` zone, at several periods each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use huiqi_indicators::{Computed, IndicatorSet, Period, RunUsed, SCALE};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-diff-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Both implementations at `period`, with rows and without; everything compared, and the written
/// outputs compared byte for byte.
fn same(set: &IndicatorSet, snap: &Path, period: &str, runs: &[RunUsed], work: &Path) -> Computed {
    let p = Period::parse(period).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (new, old) = rt.block_on(async {
        (
            huiqi_indicators::compute_with(set, snap, p, true, runs).await,
            huiqi_indicators::reference::compute_with(set, snap, p, true, runs).await,
        )
    });
    let (new, old) = (
        new.unwrap_or_else(|e| panic!("{period}: {e}")),
        old.unwrap_or_else(|e| panic!("{period} (reference): {e}")),
    );
    assert_eq!(new.figures, old.figures, "{period}: figures");
    assert_eq!(new.notes, old.notes, "{period}: notes");
    assert_eq!(new.zones, old.zones, "{period}: zones");
    assert_eq!(
        new.firms_without_zone, old.firms_without_zone,
        "{period}: firms without a zone"
    );
    let (a, b) = (new.firm_rows(), old.firm_rows());
    assert_eq!(a.len(), b.len(), "{period}: rows");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{period}: a drill-down row");
    }
    let sizes = |c: &Computed| c.rows.iter().map(|b| b.num_rows()).collect::<Vec<_>>();
    assert_eq!(sizes(&new), sizes(&old), "{period}: batches");
    // Without rows: the same figures.
    let lean = rt
        .block_on(huiqi_indicators::compute_with(set, snap, p, false, runs))
        .unwrap();
    assert_eq!(lean.figures, old.figures, "{period}: figures without rows");
    assert!(lean.rows.is_empty());
    // The written files, byte for byte.
    let (da, db) = (
        work.join(format!("new-{period}")),
        work.join(format!("old-{period}")),
    );
    for (d, c) in [(&da, &new), (&db, &old)] {
        std::fs::create_dir_all(d).unwrap();
        huiqi_indicators::output::write_all(d, set, "h", c).unwrap();
    }
    for f in [
        huiqi_indicators::output::FIGURES,
        huiqi_indicators::output::FIRMS,
        huiqi_indicators::output::MANIFEST,
    ] {
        assert!(
            std::fs::read(da.join(f)).unwrap() == std::fs::read(db.join(f)).unwrap(),
            "{period}: {f} differs"
        );
    }
    new
}

// ---------------------------------------------------------------------------------------------
// A random zone

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn write(dir: &Path, name: &str, cols: Vec<(&str, DataType, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t, _)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let b = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.2).collect()).unwrap();
    // Small row groups and batches: the readers see many of each.
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(5000))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    for start in (0..b.num_rows()).step_by(3000) {
        w.write(&b.slice(start, 3000.min(b.num_rows() - start)))
            .unwrap();
    }
    w.close().unwrap();
}

fn strs(v: &[String]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}
fn ostrs(v: &[Option<String>]) -> ArrayRef {
    Arc::new(StringArray::from_iter(v.iter().map(|s| s.as_deref())))
}
fn ints(v: &[i32]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}
fn money(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(
            v.iter()
                .map(|x| x.map(|x| x as i128 * SCALE / 100))
                .collect::<Vec<_>>(),
        )
        .with_precision_and_scale(38, 12)
        .unwrap(),
    )
}
fn dec() -> DataType {
    DataType::Decimal128(38, 12)
}
fn days(y: i32, m: u32, d: u32) -> i32 {
    huiqi_data::dates::to_days(huiqi_ir::Date { y, m, d })
}

const ZONES: [&str; 3] = ["东区", "西区", "南区"];
const TRADES: [&str; 3] = ["信息技术服务业", "制造业", "批发零售业"];
const CHAINS: [&str; 2] = ["集成电路", "生物医药"];
const GRADES: [&str; 3] = ["A", "B", "C"];
const STAGES: [&str; 3] = ["辅导期", "材料受理", "上市"];

/// `n` firms (every 37th left out of the firms table though it has rows elsewhere), 2019–2023.
/// With `shuffled`, the firms table is out of order.
fn random_snapshot(dir: &Path, n: usize, seed: u64, shuffled: bool) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut r = Rng(seed);
    let id = |i: usize| format!("91330200{:010}", i * 7 + 3);
    let listed = |i: usize| i % 37 != 5;
    // firms
    let mut order: Vec<usize> = (0..n).filter(|&i| listed(i)).collect();
    if shuffled {
        for k in (1..order.len()).rev() {
            let j = r.below(k as u64 + 1) as usize;
            order.swap(k, j);
        }
    }
    let trade: Vec<Option<String>> = (0..n)
        .map(|_| (!r.chance(5)).then(|| TRADES[r.below(3) as usize].to_string()))
        .collect();
    write(
        dir,
        "firms",
        vec![
            (
                "firm_id",
                DataType::Utf8,
                strs(&order.iter().map(|&i| id(i)).collect::<Vec<_>>()),
            ),
            (
                "name",
                DataType::Utf8,
                strs(
                    &order
                        .iter()
                        .map(|&i| format!("企业{i}"))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "行业",
                DataType::Utf8,
                ostrs(&order.iter().map(|&i| trade[i].clone()).collect::<Vec<_>>()),
            ),
        ],
    );
    // yearly: 规上企业 (bool), 等级 (enum, sometimes two rows a year), 营业收入 (money), 人数
    // (count)
    let (mut f, mut y, mut reg, mut grade, mut rev, mut staff) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        for yr in 2019..=2023 {
            if r.chance(10) {
                continue;
            }
            for _ in 0..(1 + r.chance(5) as usize) {
                f.push(id(i));
                y.push(yr);
                reg.push((!r.chance(5)).then(|| r.chance(60)));
                grade.push((!r.chance(10)).then(|| GRADES[r.below(3) as usize].to_string()));
                rev.push((!r.chance(8)).then(|| r.below(1_000_000_000) as i64));
                staff.push((!r.chance(8)).then(|| r.below(500) as i64));
            }
        }
    }
    write(
        dir,
        "yearly",
        vec![
            ("firm_id", DataType::Utf8, strs(&f)),
            ("year", DataType::Int32, ints(&y)),
            (
                "规上企业",
                DataType::Boolean,
                Arc::new(BooleanArray::from(reg)),
            ),
            ("等级", DataType::Utf8, ostrs(&grade)),
            ("营业收入", dec(), money(&rev)),
            (
                "从业人数",
                DataType::Int64,
                Arc::new(Int64Array::from(staff)),
            ),
        ],
    );
    // monthly: 月度营业收入 (money), 月度订单 (count); some firms skip months or years
    let (mut f, mut y, mut m, mut mrev, mut orders) = (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        if r.chance(20) {
            continue;
        }
        for yr in 2019..=2023 {
            if r.chance(10) {
                continue;
            }
            for mo in 1..=12 {
                if r.chance(10) {
                    continue;
                }
                f.push(id(i));
                y.push(yr);
                m.push(mo);
                mrev.push((!r.chance(5)).then(|| r.below(100_000_000) as i64));
                orders.push((!r.chance(5)).then(|| r.below(1000) as i64));
            }
        }
    }
    write(
        dir,
        "monthly",
        vec![
            ("firm_id", DataType::Utf8, strs(&f)),
            ("year", DataType::Int32, ints(&y)),
            ("month", DataType::Int32, ints(&m)),
            ("月度营业收入", dec(), money(&mrev)),
            (
                "月度订单",
                DataType::Int64,
                Arc::new(Int64Array::from(orders)),
            ),
        ],
    );
    // events: zone records (moves, gaps, overlaps), a chain tag, a certificate, listing stages
    type Ev = (usize, &'static str, i32, Option<i32>, Option<String>);
    let mut ev: Vec<Ev> = vec![];
    let rand_day = |r: &mut Rng, y0: i32, y1: i32| {
        days(
            y0 + r.below((y1 - y0 + 1) as u64) as i32,
            1 + r.below(12) as u32,
            1 + r.below(28) as u32,
        )
    };
    for i in 0..n {
        let mut mine: Vec<Ev> = vec![];
        if !r.chance(5) {
            // 1–3 zone records, each from a random day, some ending.
            let k = 1 + r.below(3);
            for _ in 0..k {
                let from = rand_day(&mut r, 2017, 2023);
                let until = r.chance(40).then(|| from + r.below(1500) as i32);
                let v = (!r.chance(2)).then(|| ZONES[r.below(3) as usize].to_string());
                mine.push((i, "所属园区", from, until, v));
            }
        }
        if r.chance(40) {
            let from = rand_day(&mut r, 2018, 2023);
            let until = r.chance(50).then(|| from + r.below(1000) as i32);
            mine.push((
                i,
                "产业链",
                from,
                until,
                Some(CHAINS[r.below(2) as usize].to_string()),
            ));
        }
        for _ in 0..r.below(3) {
            let from = rand_day(&mut r, 2016, 2023);
            mine.push((i, "高企证书", from, Some(from + 3 * 365 - 1), None));
        }
        if r.chance(15) {
            let mut d = rand_day(&mut r, 2018, 2022);
            for s in STAGES.iter().take(1 + r.below(3) as usize) {
                mine.push((i, "上市进程", d, None, Some(s.to_string())));
                d += r.below(400) as i32;
            }
        }
        mine.sort_by(|a, b| a.1.cmp(b.1).then(a.2.cmp(&b.2)));
        ev.extend(mine);
    }
    // A few records without a date.
    if let Some(e) = ev.get_mut(11) {
        e.2 = i32::MIN;
    }
    write(
        dir,
        "events",
        vec![
            (
                "firm_id",
                DataType::Utf8,
                strs(&ev.iter().map(|e| id(e.0)).collect::<Vec<_>>()),
            ),
            (
                "fact",
                DataType::Utf8,
                strs(&ev.iter().map(|e| e.1.to_string()).collect::<Vec<_>>()),
            ),
            (
                "date",
                DataType::Date32,
                Arc::new(Date32Array::from(
                    ev.iter()
                        .map(|e| (e.2 != i32::MIN).then_some(e.2))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "until",
                DataType::Date32,
                Arc::new(Date32Array::from(
                    ev.iter().map(|e| e.3).collect::<Vec<_>>(),
                )),
            ),
            (
                "value",
                DataType::Utf8,
                ostrs(&ev.iter().map(|e| e.4.clone()).collect::<Vec<_>>()),
            ),
        ],
    );
    write(
        dir,
        "awards",
        vec![
            ("firm_id", DataType::Utf8, strs(&[])),
            ("clause", DataType::Utf8, strs(&[])),
            ("period", DataType::Int32, ints(&[])),
            ("tranche", DataType::Utf8, strs(&[])),
            ("amount", dec(), money(&[])),
        ],
    );
    // projects: one row per project and month
    let (mut p, mut pn, mut pz, mut py, mut pm, mut pv) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for k in 0..(n / 10).max(20) {
        let zone = ZONES[r.below(3) as usize].to_string();
        let start = 2019 + r.below(5) as i32;
        for yr in start..=(start + r.below(3) as i32).min(2023) {
            for mo in 1..=12 {
                if r.chance(30) {
                    continue;
                }
                p.push(format!("P{k:05}"));
                pn.push(format!("项目{k}"));
                pz.push(zone.clone());
                py.push(yr);
                pm.push(mo);
                pv.push((!r.chance(5)).then(|| r.below(10_000_000) as i64));
            }
        }
    }
    write(
        dir,
        "projects",
        vec![
            ("project_id", DataType::Utf8, strs(&p)),
            ("name", DataType::Utf8, strs(&pn)),
            ("zone", DataType::Utf8, strs(&pz)),
            ("firm_id", DataType::Utf8, ostrs(&vec![None; p.len()])),
            ("year", DataType::Int32, ints(&py)),
            ("month", DataType::Int32, ints(&pm)),
            ("investment", dec(), money(&pv)),
        ],
    );
    let hash = huiqi_files::snapshot::content_hash(dir).unwrap();
    let manifest = serde_json::json!({
        "hash": hash,
        "schema": {
            "行业": {"type": "行业门类", "period": "static", "values": TRADES},
            "规上企业": {"type": "bool", "period": "per year"},
            "等级": {"type": "等级", "period": "per year", "values": GRADES},
            "营业收入": {"type": "money", "period": "per year"},
            "从业人数": {"type": "count", "period": "per year"},
            "月度营业收入": {"type": "money", "period": "per month"},
            "月度订单": {"type": "count", "period": "per month"},
            "所属园区": {"type": "园区", "period": "event", "values": ZONES},
            "产业链": {"type": "产业链类别", "period": "event", "values": CHAINS},
            "高企证书": {"type": null, "period": "event"},
            "上市进程": {"type": "上市阶段", "period": "event", "values": STAGES},
        },
        "sources": [],
        "rows": {"firms": order.len(), "yearly": 0, "monthly": 0, "events": ev.len(), "awards": 0},
        "created_by": "test",
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    hash
}

/// A run's results (clauses 瞪羚 and 其他, random outcomes, rows by firm then clause) and manifest.
fn random_run(dir: &Path, snap_hash: &str, period: i32, n: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut r = Rng(seed);
    let reasons = [
        None,
        Some("exclusive:就高"),
        Some("pool:池"),
        Some("cap"),
        Some("totalcap"),
        Some("firmcap:上限"),
        Some("select:遴选"),
        Some("cond:门槛"),
        Some("window"),
        Some("pool"),
        Some("capx"),
    ];
    let (mut f, mut c, mut a, mut why) = (vec![], vec![], vec![], vec![]);
    for i in 0..n + 5 {
        if r.chance(50) {
            continue;
        }
        for clause in ["其他", "瞪羚"] {
            f.push(format!("91330200{:010}", i * 7 + 3));
            c.push(clause.to_string());
            a.push(if r.chance(30) {
                r.below(1000) as i64
            } else {
                0
            });
            why.push(reasons[r.below(reasons.len() as u64) as usize].map(str::to_string));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("clause", DataType::Utf8, false),
        Field::new("amount_fen", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            strs(&f),
            strs(&c),
            Arc::new(Int64Array::from(a)),
            ostrs(&why),
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
            set: vec![],
            imports: vec![],
        },
        snapshot: huiqi_files::run::Snapshot {
            hash: snap_hash.into(),
            dir: "snap".into(),
        },
        period,
        rows: f.len(),
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

const SET: &str = r#"
[set]
name = "差分"
version = "1"
zone_fact = "所属园区"

[[indicator]]
id = "月营收"
measure = "sum"
fact = "月度营业收入"
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "规上IT月营收"
measure = "sum"
fact = "月度营业收入"
where = { "行业" = "信息技术服务业", "规上企业" = true }
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "链上月营收"
measure = "sum"
fact = "月度营业收入"
where = { "产业链" = ["集成电路", "生物医药"], "行业" = ["信息技术服务业", "制造业"] }
zones = ["东区", "南区"]
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "规上占比"
measure = "ratio"
numerator = "规上IT月营收"
denominator = "月营收"
unit = "%"
source = "s"
definition = "d"

[[indicator]]
id = "月订单"
measure = "sum"
fact = "月度订单"
where = { "等级" = ["A", "B"] }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "年营收"
measure = "sum"
fact = "营业收入"
where = { "规上企业" = false }
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "人数"
measure = "sum"
fact = "从业人数"
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "企业数"
measure = "count"
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "无证企业"
measure = "count"
where = { "高企证书" = false, "等级" = "C" }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "持证企业"
measure = "count"
where = { "高企证书" = true }
zones = ["西区"]
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "新增高企"
measure = "new"
fact = "高企证书"
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "新增上市"
measure = "new"
fact = "上市进程"
values = ["上市", "材料受理"]
where = { "行业" = "制造业" }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "瞪羚"
measure = "selected"
clause = "瞪羚"
data_year = "previous"
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "其他当年"
measure = "selected"
clause = "其他"
where = { "规上企业" = true }
unit = "家"
source = "s"
definition = "d"

[[indicator]]
id = "固投"
measure = "investment"
unit = "元"
source = "s"
definition = "d"

[[indicator]]
id = "东区固投"
measure = "investment"
zones = ["东区"]
unit = "元"
source = "s"
definition = "d"
"#;

fn set_of(dir: &Path, text: &str) -> IndicatorSet {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("set.toml"), text).unwrap();
    IndicatorSet::load(dir).unwrap()
}

#[test]
fn a_random_zone_matches_the_reference() {
    let d = tmp("random");
    let snap = d.join("snap");
    // 30,000 firms: several of the reference's 8,192-row batches.
    let n = 30_000;
    let hash = random_snapshot(&snap, n, 7, false);
    for y in [2019, 2020, 2021, 2022] {
        random_run(&d.join(format!("run{y}")), &hash, y, n, y as u64);
    }
    let set = set_of(&d.join("set"), SET);
    let all: Vec<PathBuf> = [2019, 2020, 2021, 2022]
        .iter()
        .map(|y| d.join(format!("run{y}")))
        .collect();
    let runs = huiqi_indicators::open_runs(&all, &hash).unwrap();
    for p in ["2021-11", "2022", "2020-01", "2023-06"] {
        let c = same(&set, &snap, p, &runs, &d);
        assert!(c.figures.iter().any(|f| f.firms > 100), "{p}: figures");
        assert!(c.rows.len() > 10, "{p}: rows");
    }
    // Fewer runs: 其他当年 has no base for 2020-05 (run of 2019 missing) and 瞪羚 none at all.
    let some = huiqi_indicators::open_runs(&all[2..3], &hash).unwrap();
    let c = same(&set, &snap, "2021-05", &some, &d);
    assert!(!c.notes.is_empty());
    same(&set, &snap, "2022-02", &[], &d);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_firms_table_out_of_order_matches_the_reference() {
    let d = tmp("shuffled");
    let snap = d.join("snap");
    random_snapshot(&snap, 3_000, 11, true);
    let set = set_of(&d.join("set"), SET);
    for p in ["2021-11", "2023"] {
        same(&set, &snap, p, &[], &d);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_firm_twice_in_the_firms_table_is_an_error() {
    let d = tmp("twice");
    let snap = d.join("snap");
    random_snapshot(&snap, 200, 3, false);
    // The firms table again, one credit code written twice.
    let ids: Vec<String> = ["91330200A", "91330200B", "91330200B", "91330200C"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    write(
        &snap,
        "firms",
        vec![
            ("firm_id", DataType::Utf8, strs(&ids)),
            ("name", DataType::Utf8, strs(&ids)),
            ("行业", DataType::Utf8, strs(&ids)),
        ],
    );
    let set = set_of(&d.join("set"), SET);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(huiqi_indicators::compute(
            &set,
            &snap,
            Period::parse("2021-11").unwrap(),
        ))
        .unwrap_err();
    assert!(
        e.en.contains("91330200B") && e.en.contains("more than one row"),
        "{}",
        e.en
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_overflowing_sum_is_an_error() {
    let d = tmp("overflow");
    let snap = d.join("snap");
    random_snapshot(&snap, 100, 5, false);
    // Two firms in one zone whose monthly figures sum past i128.
    let ids: Vec<String> = ["91330200A", "91330200B"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    write(
        &snap,
        "firms",
        vec![
            ("firm_id", DataType::Utf8, strs(&ids)),
            ("name", DataType::Utf8, strs(&ids)),
            ("行业", DataType::Utf8, ostrs(&[None, None])),
        ],
    );
    let big = 10i128.pow(37) * 9;
    write(
        &snap,
        "monthly",
        vec![
            ("firm_id", DataType::Utf8, strs(&ids)),
            ("year", DataType::Int32, ints(&[2021, 2021])),
            ("month", DataType::Int32, ints(&[1, 1])),
            (
                "月度营业收入",
                dec(),
                Arc::new(
                    Decimal128Array::from(vec![big, big])
                        .with_precision_and_scale(38, 12)
                        .unwrap(),
                ),
            ),
            (
                "月度订单",
                DataType::Int64,
                Arc::new(Int64Array::from(vec![1, 1])),
            ),
        ],
    );
    let z = |s: &str| Some(s.to_string());
    write(
        &snap,
        "events",
        vec![
            ("firm_id", DataType::Utf8, strs(&ids)),
            (
                "fact",
                DataType::Utf8,
                strs(&["所属园区".into(), "所属园区".into()]),
            ),
            (
                "date",
                DataType::Date32,
                Arc::new(Date32Array::from(vec![0, 0])),
            ),
            (
                "until",
                DataType::Date32,
                Arc::new(Date32Array::from(vec![None::<i32>, None])),
            ),
            ("value", DataType::Utf8, ostrs(&[z("东区"), z("东区")])),
        ],
    );
    let set = set_of(&d.join("set"), SET);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(huiqi_indicators::compute(
            &set,
            &snap,
            Period::parse("2021-11").unwrap(),
        ))
        .unwrap_err();
    assert!(e.en.contains("overflow"), "{}", e.en);
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------------------------
// Generated zones, as the CLI makes them

#[test]
fn the_seed_zones_match_the_reference() {
    let r = root();
    let d = tmp("seed");
    let set_dir = r.join("indicators");
    huiqi::indicators::seed_zones(&r.join("policies/ningbo"), &set_dir, &d, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let snap = std::fs::read_dir(d.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("manifest.json").exists())
        .unwrap();
    let hash = huiqi_files::snapshot::content_hash(&snap).unwrap();
    let mut run_dirs: Vec<PathBuf> = std::fs::read_dir(d.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    run_dirs.sort();
    let runs = huiqi_indicators::open_runs(&run_dirs, &hash).unwrap();
    let set = IndicatorSet::load(&set_dir).unwrap();
    for p in ["2021-11", "2022-11", "2022-06", "2021"] {
        same(&set, &snap, p, &runs, &d);
    }
    same(&set, &snap, "2021-11", &[], &d);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_generated_zone_matches_the_reference() {
    let r = root();
    let d = tmp("gen");
    huiqi::data::generate(&huiqi::data::GenRequest {
        firms: 3_000,
        years: (2019, 2023),
        seed: 42,
        out: d.join("data"),
        xlsx: false,
        force: true,
        samples: None,
    })
    .unwrap();
    let program = huiqi::pack::load(&r.join("policies/ningbo"))
        .unwrap()
        .program;
    let snap = huiqi::data::ingest(
        &program,
        &d.join("data/mapping.toml"),
        &d.join("snapshots"),
        50,
    )
    .unwrap();
    let set = IndicatorSet::load(&r.join("indicators")).unwrap();
    for p in ["2023-11", "2023", "2022-06"] {
        same(&set, &snap.dir, p, &[], &d);
    }
    let _ = std::fs::remove_dir_all(&d);
}
