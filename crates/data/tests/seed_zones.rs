//! The seed page's four zones (`generate_seed_zones`): generated, ingested with the real ingest
//! against the seed pack, loaded back, and every published figure recomputed here from the
//! firm-level rows with the indicator definitions — exact 分, exact counts, growth rates and
//! shares to the published 0.1 percentage point. Also: the same seed gives the same bytes, the
//! XLSX copies give the same snapshot, and nominal bases differ from 同口径 ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_data::{generate_seed_zones, ingest, load_snapshot};
use huiqi_ir::date::days_in_month;
use huiqi_ir::{Date, EventRec, FactData, Firm, Program, Value};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// 分 per 亿元.
const YI: i64 = 10_000_000_000;

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

fn day(y: i32, m: u32, d: u32) -> Date {
    Date::new(y, m, d).unwrap()
}

fn month_end(y: i32, m: u32) -> Date {
    day(y, m, days_in_month(y, m))
}

/// round(1000 × num ÷ den), half away from zero: tenths of a percentage point.
fn tenths(num: i64, den: i64) -> i64 {
    let (n, d) = (i128::from(num) * 1000, i128::from(den));
    let q = (2 * n.abs() + d) / (2 * d);
    (if n < 0 { -q } else { q }) as i64
}

fn fen(v: &Value) -> i64 {
    match v {
        Value::Money(d) => (d * Decimal::ONE_HUNDRED).to_i64().unwrap(),
        Value::Missing => 0,
        v => panic!("not money: {v:?}"),
    }
}

/// A set's figure for one period: its firms, its value, its 同口径 base (the same firms a year
/// earlier) and its nominal base (last year's set, last year's figures).
#[derive(Debug)]
struct Figure {
    firms: usize,
    value: i64,
    same: i64,
    nominal: i64,
}

impl Figure {
    fn growth(&self) -> i64 {
        tenths(self.value - self.same, self.same)
    }
}

struct Zones {
    p: Program,
    firms: Vec<Firm>,
}

type Keep<'a> = &'a dyn Fn(&Firm, i32, Date) -> bool;

impl Zones {
    fn fact(&self, name: &str) -> usize {
        self.p.fact_by_name(name).unwrap()
    }
    fn variant(&self, enum_name: &str, v: &str) -> u32 {
        let e = self.p.enums.iter().find(|e| e.name == enum_name).unwrap();
        e.variants.iter().position(|x| x == v).unwrap() as u32
    }
    fn events<'f>(&self, f: &'f Firm, fact: &str) -> &'f [EventRec] {
        match &f.facts[self.fact(fact)] {
            FactData::Events(es) => es,
            FactData::None => &[],
            x => panic!("{x:?}"),
        }
    }
    /// A record of `fact` (with `value`) valid at `d`: date ≤ d ≤ until (or no until).
    fn holds(&self, f: &Firm, fact: &str, value: Option<u32>, d: Date) -> bool {
        self.events(f, fact)
            .iter()
            .any(|e| e.value == value && e.date <= d && e.until.is_none_or(|u| d <= u))
    }
    fn in_zone(&self, f: &Firm, zone: &str, d: Date) -> bool {
        self.holds(f, "所属园区", Some(self.variant("园区", zone)), d)
    }
    fn chain(&self, f: &Firm, chain: &str, d: Date) -> bool {
        self.holds(f, "产业链", Some(self.variant("产业链类别", chain)), d)
    }
    fn industry(&self, f: &Firm) -> &str {
        match &f.facts[self.fact("行业")] {
            FactData::Static(Value::Enum(i)) => &self.p.enums[0].variants[*i as usize],
            x => panic!("{x:?}"),
        }
    }
    fn scale(&self, f: &Firm, y: i32) -> bool {
        f.value_at(self.fact("规上企业"), y) == Value::Bool(true)
    }
    /// Months 1..=m of year y of a monthly fact, 分 (missing months are 0).
    fn cum(&self, f: &Firm, fact: &str, y: i32, m: u32) -> i64 {
        match &f.facts[self.fact(fact)] {
            FactData::Monthly(ms) => ms
                .iter()
                .filter(|((yy, mm), _)| *yy == y && *mm <= m)
                .map(|(_, v)| fen(v))
                .sum(),
            FactData::None => 0,
            x => panic!("{x:?}"),
        }
    }
    fn yearly(&self, f: &Firm, fact: &str, y: i32) -> Option<i64> {
        match f.value_at(self.fact(fact), y) {
            Value::Missing => None,
            v => Some(fen(&v)),
        }
    }
    fn figure(&self, zone: &str, fact: &str, y: i32, m: u32, keep: Keep<'_>) -> Figure {
        let (d, d0) = (month_end(y, m), month_end(y - 1, m));
        let now: Vec<&Firm> = self
            .firms
            .iter()
            .filter(|f| self.in_zone(f, zone, d) && keep(f, y, d))
            .collect();
        let before = self
            .firms
            .iter()
            .filter(|f| self.in_zone(f, zone, d0) && keep(f, y - 1, d0));
        Figure {
            firms: now.len(),
            value: now.iter().map(|f| self.cum(f, fact, y, m)).sum(),
            same: now.iter().map(|f| self.cum(f, fact, y - 1, m)).sum(),
            nominal: before.map(|f| self.cum(f, fact, y - 1, m)).sum(),
        }
    }
    /// 研发费用 ÷ 营业收入 of year y over the zone's firms at d, in tenths of a point.
    fn rnd_intensity(&self, zone: &str, y: i32, d: Date) -> i64 {
        let set: Vec<&Firm> = self
            .firms
            .iter()
            .filter(|f| self.in_zone(f, zone, d))
            .collect();
        let rnd: i64 = set
            .iter()
            .filter_map(|f| self.yearly(f, "研发费用", y))
            .sum();
        let rev: i64 = set
            .iter()
            .filter_map(|f| self.yearly(f, "营业收入", y))
            .sum();
        tenths(rnd, rev)
    }
}

/// Every published figure, recomputed from the firms.
fn check_figures(z: &Zones) {
    let n = z.firms.len();
    assert!((3_000..=6_000).contains(&n), "{n} firms");
    let (y, m) = (2021, 11);
    let soft = |f: &Firm| z.industry(f) == "信息技术服务业";

    // 1. 成都高新区 软件和信息技术服务业: 2056.4亿元, +46.9% (同口径); the nominal base differs.
    let f1 = z.figure("成都高新区", "月度营业收入", y, m, &|f, _, _| {
        soft(f)
    });
    assert_eq!(f1.value, 20_564 * YI / 10, "{f1:?}");
    assert_eq!(f1.growth(), 469, "{f1:?}");
    assert_ne!(f1.nominal, f1.same, "{f1:?}");
    assert!(
        (1_500..=2_500).contains(&f1.firms),
        "{} software firms",
        f1.firms
    );

    // 2. Its 规上 firms: 434, 1145.8亿元.
    let f2 = z.figure("成都高新区", "月度营业收入", y, m, &|f, y, _| {
        soft(f) && z.scale(f, y)
    });
    assert_eq!((f2.firms, f2.value), (434, 11_458 * YI / 10), "{f2:?}");

    // 3–5. The chains among them, tagged at the period's end.
    for (chain, firms, value, growth) in [
        ("大数据和网络安全", 159, 27_344 * YI / 100, 611),
        ("数字文创", 137, 5_503 * YI / 10, 192),
        ("新一代通信与人工智能", 119, 221 * YI, 400),
    ] {
        let f = z.figure("成都高新区", "月度营业收入", y, m, &|f, y, d| {
            soft(f) && z.scale(f, y) && z.chain(f, chain, d)
        });
        assert_eq!((f.firms, f.value), (firms, value), "{chain}: {f:?}");
        assert_eq!(f.growth(), growth, "{chain}: {f:?}");
    }
    // The segments are disjoint: 19 规上 software firms hold no chain at the period's end.
    let d21 = month_end(y, m);
    let untagged = z
        .firms
        .iter()
        .filter(|f| {
            z.in_zone(f, "成都高新区", d21)
                && soft(f)
                && z.scale(f, y)
                && !["大数据和网络安全", "数字文创", "新一代通信与人工智能"]
                    .iter()
                    .any(|c| z.chain(f, c, d21))
        })
        .count();
    assert_eq!(untagged, 19);

    // 6. 宁波高新区 规上服务业营业收入: 201亿元, +22.2%; the nominal base differs.
    let services = ["信息技术服务业", "科学研究和技术服务业", "其他"];
    let f6 = z.figure("宁波高新区", "月度营业收入", y, m, &|f, y, _| {
        z.scale(f, y) && services.contains(&z.industry(f))
    });
    assert_eq!(f6.value, 201 * YI, "{f6:?}");
    assert_eq!(f6.growth(), 222, "{f6:?}");
    assert_ne!(f6.nominal, f6.same, "{f6:?}");

    // 7. 限上批零商品销售额: 1940亿元, +30%.
    let f7 = z.figure(
        "宁波高新区",
        "月度商品销售额",
        y,
        m,
        &|f, y, _| z.scale(f, y) && z.industry(f) == "批发零售业",
    );
    assert_eq!(f7.value, 1_940 * YI, "{f7:?}");
    assert_eq!(f7.growth(), 300, "{f7:?}");

    // 8. 规上工业增加值 71.68亿元; 战新企业 58.42亿元 of it, 81.5%.
    let f8 = z.figure("宁波高新区", "工业增加值", y, m, &|f, y, _| {
        z.scale(f, y) && z.industry(f) == "制造业"
    });
    let f8s = z.figure("宁波高新区", "工业增加值", y, m, &|f, y, d| {
        z.scale(f, y) && z.industry(f) == "制造业" && z.holds(f, "战新企业", None, d)
    });
    assert_eq!(f8.value, 7_168 * YI / 100, "{f8:?}");
    assert_eq!(f8s.value, 5_842 * YI / 100, "{f8s:?}");
    assert_eq!(tenths(f8s.value, f8.value), 815);

    // 9. 广州高新区, 1–11月 2022: 87 firms whose first certificate is of 2022; 40 renewals (an
    // earlier first certificate and a 2022 one) are not new; no first certificate in December.
    let end = day(2022, 11, 30);
    let in_2022 = |d: Date| day(2022, 1, 1) <= d && d <= end;
    let (mut new, mut renewed) = (0, 0);
    for f in &z.firms {
        let certs = z.events(f, "高企证书");
        if certs.is_empty() || !z.in_zone(f, "广州高新区", end) {
            continue;
        }
        let first = certs.iter().map(|e| e.date).min().unwrap();
        if in_2022(first) {
            new += 1;
        } else if certs.iter().any(|e| in_2022(e.date)) {
            renewed += 1;
        }
    }
    assert_eq!((new, renewed), (87, 40));
    // The data end with November 2022: no record of any kind is dated later.
    for f in &z.firms {
        for fact in ["高企证书", "所属园区", "产业链", "战新企业"] {
            for e in z.events(f, fact) {
                assert!(e.date <= end, "{} {fact} {}", f.id, e.date);
            }
        }
        if let FactData::Monthly(ms) = &f.facts[z.fact("月度营业收入")] {
            assert!(ms.iter().all(|((y, m), _)| (*y, *m) <= (2022, 11)));
        }
    }

    // 10. 研发投入强度 (firm basis), 2021, over the firms in the zone at the year's end (the same
    // set as at 30 November): 5.8%.
    assert_eq!(z.rnd_intensity("广州高新区", 2021, day(2021, 12, 31)), 58);
    assert_eq!(z.rnd_intensity("广州高新区", 2021, day(2021, 11, 30)), 58);

    // 长沙高新区: a few hundred ordinary firms.
    let cs = z
        .firms
        .iter()
        .filter(|f| z.in_zone(f, "长沙高新区", d21))
        .count();
    assert!((200..=800).contains(&cs), "{cs}");

    // 营业收入 of a complete year is the sum of its twelve months; 2022's annual return (the
    // months end in November) is January–November plus December at November's level.
    for f in &z.firms {
        for y in [2020, 2021] {
            let months = z.cum(f, "月度营业收入", y, 12);
            match z.yearly(f, "营业收入", y) {
                Some(v) => assert_eq!(v, months, "{} {y}", f.id),
                None => assert_eq!(months, 0, "{} {y}", f.id),
            }
        }
        let (jan_nov, jan_oct) = (
            z.cum(f, "月度营业收入", 2022, 11),
            z.cum(f, "月度营业收入", 2022, 10),
        );
        if let Some(v) = z.yearly(f, "营业收入", 2022) {
            assert_eq!(v, jan_nov + (jan_nov - jan_oct), "{}", f.id);
        }
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seed_zones_reproduce_the_published_figures() {
    let p = ningbo();
    let d = tmp("seed-zones");
    let a = d.join("a");
    let stats = generate_seed_zones(&a, 2022, true).unwrap();
    let names: Vec<&str> = stats.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "企业名录",
            "园区_企业归属",
            "产业链_标注",
            "统计_月度",
            "统计_年度",
            "税务_年度申报",
            "科技_高新技术企业",
            "经信_战新企业",
            "金融办_上市进程",
            "发改_固定资产投资项目"
        ]
    );

    // Same seed, same bytes (CSV, XLSX and mappings).
    let b = d.join("b");
    generate_seed_zones(&b, 2022, true).unwrap();
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa.len(), 2 * names.len() + 2);
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two generations");
    }

    let info =
        ingest(&a.join("mapping.toml"), &p, &d.join("snap"), 20).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.firms, stats.files[0].1);
    assert_eq!(info.rows.monthly, stats.files[3].1);
    assert_eq!(info.rows.projects, Some(stats.files[9].1));
    // Listings are rare: 7 records of 5 广州 firms, 2 of one 宁波 firm, 5 of two 长沙 firms.
    assert_eq!(stats.files[8].1, 14);
    let events: u64 = [1, 2, 6, 7, 8].iter().map(|&i| stats.files[i].1).sum();
    assert_eq!(info.rows.events, events);
    // The XLSX copies hold the same data.
    let x = ingest(&a.join("mapping-xlsx.toml"), &p, &d.join("snap"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(x.hash, info.hash);

    let z = Zones {
        firms: load_snapshot(&info.dir, &p).unwrap(),
        p,
    };
    check_figures(&z);
}

#[test]
fn the_figures_hold_for_any_seed() {
    let p = ningbo();
    let d = tmp("seed-zones-7");
    generate_seed_zones(&d.join("gen"), 7, false).unwrap();
    let info = ingest(&d.join("gen/mapping.toml"), &p, &d.join("snap"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    let z = Zones {
        firms: load_snapshot(&info.dir, &p).unwrap(),
        p,
    };
    check_figures(&z);
    // Another seed, other firms.
    let other = std::fs::read(d.join("gen/企业名录.csv")).unwrap();
    let d2 = tmp("seed-zones-8");
    generate_seed_zones(&d2, 8, false).unwrap();
    assert_ne!(std::fs::read(d2.join("企业名录.csv")).unwrap(), other);
}
