//! The 政策沙盘: a reform — a second pack, or parameters set from outside the base pack (a
//! `reform.toml`, the same mechanism as `--set`) — run against the base pack over the same
//! snapshot and period, both through the columnar engine, and compared row by row: what it costs
//! by clause and by group of firms, who gains and who loses, every figure exact to the 分.
//!
//! Writes `delta.parquet` (every firm × clause × tranche of either run), `summary.json` and
//! `reform.xlsx` into the output directory, all or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use huiqi_columnar::delta::{self, Delta};
use huiqi_files::run::FileHash;
use huiqi_ir::{PeriodKind, Program, Ty};
use huiqi_lang::ParamSet;
use serde::Serialize;

use crate::{Error, Result};

/// What the reform is.
#[derive(Clone, Debug)]
pub enum Reform {
    /// Another pack (an amended text).
    Pack(PathBuf),
    /// The base pack with parameters set (a `reform.toml`, or `--set`).
    Sets(Vec<ParamSet>),
}

#[derive(Clone, Debug)]
pub struct SimulateRequest {
    pub base: PathBuf,
    pub reform: Reform,
    pub snapshot: PathBuf,
    pub period: i32,
    pub out: PathBuf,
    /// Static facts of the firms to break the figures down by (default: every static enum or
    /// bool fact of the base pack, e.g. 行业).
    pub groups: Vec<String>,
    /// Firms listed by name as the largest gainers and losers.
    pub top: usize,
    pub xlsx: bool,
    pub force: bool,
}

/// A `reform.toml`: dated parameter overrides of the base pack.
///
/// ```toml
/// [[set]]
/// name  = "瞪羚遴选名额"
/// value = "20"
/// from  = "2024-01-01"   # optional: from this day on (default: for all time)
/// ```
pub fn read_reform_toml(path: &Path) -> Result<Vec<ParamSet>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        set: Vec<Set>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Set {
        name: String,
        value: toml::Value,
        from: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let f: File = toml::from_str(&text).map_err(|e| {
        Error::input(
            format!("{}：不是有效的改革方案（reform.toml）：{e}", path.display()),
            format!("{}: not a valid reform.toml: {e}", path.display()),
        )
    })?;
    if f.set.is_empty() {
        return Err(Error::input(
            format!("{}：没有 [[set]]，改革方案为空", path.display()),
            format!("{}: no [[set]]: the reform changes nothing", path.display()),
        ));
    }
    f.set
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            let bad = |what_zh: &str, what_en: &str| {
                Error::input(
                    format!("{}：第 {} 个 [[set]] 的 {what_zh}", path.display(), k + 1),
                    format!("{}: [[set]] #{}: {what_en}", path.display(), k + 1),
                )
            };
            let value = match s.value {
                toml::Value::String(v) => v,
                toml::Value::Integer(i) => i.to_string(),
                _ => {
                    return Err(bad(
                        "value 须为文本或整数",
                        "value must be text or an integer",
                    ))
                }
            };
            let from = match s.from {
                None => None,
                Some(toml::Value::Datetime(d)) => Some(d.to_string()),
                Some(toml::Value::String(d)) => Some(d),
                Some(_) => return Err(bad("from 须为日期", "from must be a date")),
            };
            let from = match from {
                None => None,
                Some(d) => Some(parse_date(&d).ok_or_else(|| {
                    bad(
                        &format!("from 不是日期：{d}"),
                        &format!("from is not a date: {d}"),
                    )
                })?),
            };
            Ok(ParamSet {
                name: s.name,
                from,
                value,
            })
        })
        .collect()
}

fn parse_date(s: &str) -> Option<huiqi_ir::Date> {
    let mut it = s.trim().splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    huiqi_ir::Date::new(y, m, d)
}

/// One side of the comparison in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct PackSide {
    pub name: String,
    pub version: String,
    pub hash: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
}

/// Base, reform and Δ of a set of rows (a clause, a group of firms, everything).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Sums {
    pub base_fen: i64,
    pub reform_fen: i64,
    pub delta_fen: i64,
    /// Firms whose total Δ (over these rows) is above / below zero, and by how much.
    pub gainers: usize,
    pub gain_fen: i64,
    pub losers: usize,
    pub loss_fen: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClauseSums {
    pub clause: String,
    #[serde(flatten)]
    pub sums: Sums,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupSums {
    /// The fact's value (`(无)` when a firm has none).
    pub value: String,
    pub firms: usize,
    #[serde(flatten)]
    pub sums: Sums,
}

#[derive(Clone, Debug, Serialize)]
pub struct Grouping {
    /// The static fact grouped by.
    pub by: String,
    pub groups: Vec<GroupSums>,
}

/// Gainers and losers by the size of their Δ.
#[derive(Clone, Debug, Serialize)]
pub struct Band {
    /// `(0, 1万]` …, of |Δ| in 元.
    pub band: String,
    pub gainers: usize,
    pub gain_fen: i64,
    pub losers: usize,
    pub loss_fen: i64,
}

/// A firm whose total changes.
#[derive(Clone, Debug, Serialize)]
pub struct FirmDelta {
    pub firm_id: String,
    pub name: String,
    pub base_fen: i64,
    pub reform_fen: i64,
    pub delta_fen: i64,
    /// The clauses whose amount changed, with their Δ.
    pub clauses: Vec<(String, i64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub base: PackSide,
    pub reform: PackSide,
    pub snapshot: String,
    pub period: i32,
    pub engine: String,
    pub firms: usize,
    pub total_base_fen: i64,
    pub total_reform_fen: i64,
    pub total_delta_fen: i64,
    /// Everything: firms gaining and losing.
    pub all: Sums,
    /// By clause, joint (both runs whole: each clause's Δ includes what the interacting rules —
    /// 就高, caps, pools — moved into or out of it), so they add up to the total.
    pub by_clause: Vec<ClauseSums>,
    pub groupings: Vec<Grouping>,
    pub bands: Vec<Band>,
    pub top_gainers: Vec<FirmDelta>,
    pub top_losers: Vec<FirmDelta>,
    pub files: Vec<FileHash>,
}

pub struct SimReport {
    pub summary: Summary,
    pub out: PathBuf,
    pub elapsed: std::time::Duration,
}

const SIM_DIR: crate::outdir::Kind<'static> = crate::outdir::Kind {
    marker: "summary.json",
    is_own: |t| t.contains("\"total_delta_fen\""),
    zh: "政策沙盘结果目录",
    en: "a simulation directory",
};

/// Adds a firm's Δ over some rows to `s`.
fn count_firm(s: &mut Sums, d: i64) {
    if d > 0 {
        s.gainers += 1;
        s.gain_fen += d;
    } else if d < 0 {
        s.losers += 1;
        s.loss_fen += d;
    }
}

const BANDS: [(i64, &str); 5] = [
    (1_000_000, "(0, 1万]"),
    (10_000_000, "(1万, 10万]"),
    (100_000_000, "(10万, 100万]"),
    (1_000_000_000, "(100万, 1000万]"),
    (i64::MAX, "> 1000万"),
];

/// What `summarise` finds in a delta.
pub struct Figures {
    pub all: Sums,
    pub by_clause: Vec<ClauseSums>,
    pub groupings: Vec<Grouping>,
    pub bands: Vec<Band>,
    pub top_gainers: Vec<FirmDelta>,
    pub top_losers: Vec<FirmDelta>,
}

/// The figures of a delta: totals, by clause, by group, bands and the top firms.
pub fn summarise(
    d: &Delta,
    groups: &[(String, Vec<Option<String>>)],
    names: &[Option<String>],
    top: usize,
) -> Figures {
    let nf = d.firms();
    let nk = d.keys.len();
    // Per firm: base, reform; per key: sums and each firm's Δ in it.
    let mut firm_base = vec![0i64; nf];
    let mut firm_reform = vec![0i64; nf];
    let mut key_sums = vec![Sums::default(); nk];
    let mut changed: Vec<Vec<(u32, i64)>> = vec![vec![]; nf];
    for i in 0..d.len() {
        let (f, k) = (d.firm[i] as usize, d.key[i] as usize);
        firm_base[f] += d.base_fen[i];
        firm_reform[f] += d.reform_fen[i];
        let s = &mut key_sums[k];
        s.base_fen += d.base_fen[i];
        s.reform_fen += d.reform_fen[i];
        s.delta_fen += d.delta(i);
        if d.delta(i) != 0 {
            changed[f].push((k as u32, d.delta(i)));
        }
    }
    // A clause's gainers and losers: firms whose Δ over the clause's tranches is ±.
    let mut by_clause_name: BTreeMap<usize, (String, Sums)> = BTreeMap::new();
    let mut clause_of_key = vec![0usize; nk];
    let mut clause_ids: Vec<String> = vec![];
    for (k, (c, _)) in d.keys.iter().enumerate() {
        let id = match clause_ids.iter().position(|x| **x == **c) {
            Some(p) => p,
            None => {
                clause_ids.push(c.to_string());
                clause_ids.len() - 1
            }
        };
        clause_of_key[k] = id;
        let e = by_clause_name
            .entry(id)
            .or_insert_with(|| (c.to_string(), Sums::default()));
        e.1.base_fen += key_sums[k].base_fen;
        e.1.reform_fen += key_sums[k].reform_fen;
        e.1.delta_fen += key_sums[k].delta_fen;
    }
    for ch in &changed {
        let mut per: BTreeMap<usize, i64> = BTreeMap::new();
        for (k, dd) in ch {
            *per.entry(clause_of_key[*k as usize]).or_default() += dd;
        }
        for (c, dd) in per {
            if let Some(e) = by_clause_name.get_mut(&c) {
                count_firm(&mut e.1, dd);
            }
        }
    }
    let by_clause = by_clause_name
        .into_values()
        .map(|(clause, sums)| ClauseSums { clause, sums })
        .collect();
    let mut all = Sums::default();
    let mut bands: Vec<Band> = BANDS
        .iter()
        .map(|(_, b)| Band {
            band: b.to_string(),
            gainers: 0,
            gain_fen: 0,
            losers: 0,
            loss_fen: 0,
        })
        .collect();
    for f in 0..nf {
        all.base_fen += firm_base[f];
        all.reform_fen += firm_reform[f];
        let dd = firm_reform[f] - firm_base[f];
        all.delta_fen += dd;
        count_firm(&mut all, dd);
        if dd != 0 {
            let k = BANDS
                .iter()
                .position(|(hi, _)| dd.unsigned_abs() <= *hi as u64)
                .unwrap_or(BANDS.len() - 1);
            if dd > 0 {
                bands[k].gainers += 1;
                bands[k].gain_fen += dd;
            } else {
                bands[k].losers += 1;
                bands[k].loss_fen += dd;
            }
        }
    }
    let groupings = groups
        .iter()
        .map(|(by, vals)| {
            let mut g: BTreeMap<String, GroupSums> = BTreeMap::new();
            for f in 0..nf {
                let v = vals[f].clone().unwrap_or_else(|| "(无)".into());
                let e = g.entry(v.clone()).or_insert_with(|| GroupSums {
                    value: v,
                    firms: 0,
                    sums: Sums::default(),
                });
                e.firms += 1;
                e.sums.base_fen += firm_base[f];
                e.sums.reform_fen += firm_reform[f];
                let dd = firm_reform[f] - firm_base[f];
                e.sums.delta_fen += dd;
                count_firm(&mut e.sums, dd);
            }
            Grouping {
                by: by.clone(),
                groups: g.into_values().collect(),
            }
        })
        .collect();
    let firm_delta = |f: usize| FirmDelta {
        firm_id: d.firm_ids.value(f).to_string(),
        name: names.get(f).cloned().flatten().unwrap_or_default(),
        base_fen: firm_base[f],
        reform_fen: firm_reform[f],
        delta_fen: firm_reform[f] - firm_base[f],
        clauses: {
            let mut per: BTreeMap<usize, i64> = BTreeMap::new();
            for (k, dd) in &changed[f] {
                *per.entry(clause_of_key[*k as usize]).or_default() += dd;
            }
            per.into_iter()
                .filter(|(_, dd)| *dd != 0)
                .map(|(c, dd)| (clause_ids[c].clone(), dd))
                .collect()
        },
    };
    // Largest |Δ| first; ties by credit code (the firms are in credit-code order).
    let mut order: Vec<usize> = (0..nf)
        .filter(|&f| firm_reform[f] != firm_base[f])
        .collect();
    order.sort_by_key(|&f| std::cmp::Reverse((firm_reform[f] - firm_base[f]).unsigned_abs()));
    let gainers = order
        .iter()
        .filter(|&&f| firm_reform[f] > firm_base[f])
        .take(top)
        .map(|&f| firm_delta(f))
        .collect();
    let losers = order
        .iter()
        .filter(|&&f| firm_reform[f] < firm_base[f])
        .take(top)
        .map(|&f| firm_delta(f))
        .collect();
    Figures {
        all,
        by_clause,
        groupings,
        bands,
        top_gainers: gainers,
        top_losers: losers,
    }
}

/// The static enum and bool facts of a pack: what the figures are broken down by by default.
pub fn default_groups(p: &Program) -> Vec<String> {
    p.facts
        .iter()
        .filter(|f| f.kind == PeriodKind::Static && matches!(f.ty, Ty::Enum(_) | Ty::Bool))
        .map(|f| f.name.clone())
        .collect()
}

/// Runs base and reform over the snapshot, compares them, writes the directory.
pub fn simulate(r: &SimulateRequest) -> Result<SimReport> {
    let started = std::time::Instant::now();
    let base = crate::pack::load(&r.base)?;
    let (reform, reform_sets) = match &r.reform {
        Reform::Pack(dir) => (crate::pack::load(dir)?, vec![]),
        Reform::Sets(sets) => (crate::pack::load_with(&r.base, sets)?, sets.clone()),
    };
    crate::outdir::check_writable(&r.out, &SIM_DIR, r.force)?;
    let snap = crate::data::snapshot_manifest(&r.snapshot)?;
    let groups: Vec<String> = if r.groups.is_empty() {
        default_groups(&base.program)
    } else {
        r.groups.clone()
    };
    let opts = || huiqi_columnar::Options::default();
    // The snapshot is checked against its manifest beside the two runs; nothing is written
    // unless all three succeed.
    let (b, f, v) = std::thread::scope(|s| {
        let v = s.spawn(|| crate::data::verify_snapshot(&r.snapshot, &snap.hash));
        let b = crate::run::evaluate(&base.program, &r.snapshot, r.period, opts());
        let f = crate::run::evaluate(&reform.program, &r.snapshot, r.period, opts());
        let v = v
            .join()
            .unwrap_or_else(|_| Err(Error::plain("snapshot verification panicked")));
        (b, f, v)
    });
    v?;
    let (b, _) = b?;
    let (f, _) = f?;
    let d = delta::diff(&b, &f)?;
    let mut group_vals = vec![];
    for g in &groups {
        group_vals.push((g.clone(), delta::firm_column(&r.snapshot, g, &d.firm_ids)?));
    }
    let names = delta::firm_column(&r.snapshot, huiqi_files::snapshot::col::NAME, &d.firm_ids)
        .unwrap_or_default();
    let Figures {
        all,
        by_clause,
        groupings,
        bands,
        top_gainers,
        top_losers,
    } = summarise(&d, &group_vals, &names, r.top);
    let side = |l: &huiqi_lang::Loaded, set: &[ParamSet]| PackSide {
        name: l.program.policy.name.clone(),
        version: l.program.policy.version.clone(),
        hash: l.program.hash.clone(),
        set: set.iter().map(|s| s.to_string()).collect(),
    };
    let mut summary = Summary {
        base: side(&base, &[]),
        reform: side(&reform, &reform_sets),
        snapshot: snap.hash.clone(),
        period: r.period,
        engine: format!("huiqi {} (datafusion 55)", env!("CARGO_PKG_VERSION")),
        firms: d.firms(),
        total_base_fen: all.base_fen,
        total_reform_fen: all.reform_fen,
        total_delta_fen: all.delta_fen,
        all,
        by_clause,
        groupings,
        bands,
        top_gainers,
        top_losers,
        files: vec![],
    };
    let staged = crate::outdir::stage(&r.out)?;
    let written = (|| -> Result<()> {
        let pq = staged.dir.join("delta.parquet");
        let h = delta::write_parquet(&d, &pq)?;
        summary.files.push(FileHash {
            file: Some("delta.parquet".into()),
            sha256: h,
        });
        if r.xlsx {
            let x = staged.dir.join("reform.xlsx");
            crate::simulate_xlsx::write(&summary, &d, &names, &x)?;
            summary.files.push(FileHash {
                file: Some("reform.xlsx".into()),
                sha256: huiqi_columnar::output::file_sha256(&x)?,
            });
        }
        let json =
            serde_json::to_string_pretty(&summary).map_err(|e| Error::plain(e.to_string()))?;
        let p = staged.dir.join("summary.json");
        std::fs::write(&p, json + "\n").map_err(|e| Error::io(&p, e))
    })();
    match written {
        Ok(()) => staged.commit()?,
        Err(e) => {
            staged.abandon();
            return Err(e);
        }
    }
    Ok(SimReport {
        summary,
        out: r.out.clone(),
        elapsed: started.elapsed(),
    })
}
