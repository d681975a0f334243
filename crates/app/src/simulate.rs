//! The 政策沙盘: a reform — a second pack, or parameters set from outside the base pack (a
//! `reform.toml`, the same mechanism as `--set`) — run against the base pack over the same
//! snapshot and period, both through the columnar engine, and compared row by row: what it costs
//! by clause and by group of firms, who gains and who loses, every figure exact to the 分.
//!
//! Writes `delta.parquet` (every firm × clause × tranche of either run), `summary.json` and
//! `reform.xlsx` into the output directory, all or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Read the award history from this ledger (SQLite path or `postgres://…`), as `huiqi run
    /// --ledger` does: both versions then see what was awarded before the period.
    pub ledger: Option<String>,
    /// Where snapshots derived with the ledger's history go (default: beside the snapshot).
    pub history_dir: Option<PathBuf>,
    /// Backtest: these past periods too, each with the ledger's history before it, against
    /// what the ledger says was paid for it. Needs `ledger`.
    pub backtest: Vec<i32>,
    /// The budget solver's answer this reform is (recorded in the summary).
    pub solved: Option<crate::solve::Solved>,
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
    /// Joint: both runs whole, so the clause's Δ includes what the cross-clause rules moved.
    #[serde(flatten)]
    pub sums: Sums,
    /// Stand-alone: the clause's own amounts before the cross-clause rules (negative lists,
    /// select, 就高, pools, firm caps) in both runs — what this change does to the clause alone.
    pub standalone: Alone,
}

/// Base, reform and Δ of stand-alone amounts (`huiqi_columnar::Options::standalone`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Alone {
    pub base_fen: i64,
    pub reform_fen: i64,
    pub delta_fen: i64,
}

/// A pool (资金池) under both versions: what was claimed of it and the share paid.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PoolSides {
    pub pool: String,
    pub base: Option<PoolSide>,
    pub reform: Option<PoolSide>,
    /// Firms whose own claims on the pool did not change but who get less, with the pool's
    /// budget unchanged: others' claims grew. Counted and summed; listed firms are labelled
    /// (`FirmDelta::by_others`).
    pub losers_by_others: usize,
    pub loss_by_others_fen: i64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PoolSide {
    pub budget_fen: i64,
    /// Claims that reached the pool: stand-alone amounts of its clauses not zeroed by an
    /// earlier rule (negative lists, select, 就高).
    pub demand_fen: i64,
    /// The share of a claim paid, in basis points (万分之一), truncated: 10000 when the budget
    /// covers the demand.
    pub factor_bp: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupSums {
    /// The fact's value (`(无)` when a firm has none).
    pub value: String,
    pub firms: usize,
    #[serde(flatten)]
    pub sums: Sums,
    /// The group's gainers and losers in the bands of |Δ| and of Δ as a share of the base
    /// award (the same bands as the summary's).
    pub bands: Vec<Band>,
    pub pct_bands: Vec<Band>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Grouping {
    /// The static fact or declared grouping (`groups.toml`) grouped by.
    pub by: String,
    /// How a declared grouping classifies firms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
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
    /// Set when the firm's own stand-alone amounts did not change: what moved its award is a
    /// rule across firms — a pool shared by other claims or another budget, a ranking with other
    /// entrants or places — as the rule's result text, e.g. `pool:研发资金池`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_others: Option<String>,
    /// Per changed clause, the first condition (in written order) whose outcome changed, as a
    /// sentence ("营收门槛：营业收入 9200万 ≥ 1亿 → ≥ 8000万，现达标"); filled by the reference
    /// evaluator for the listed firms only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_changes: Vec<String>,
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
    /// 就高, caps, pools — moved into or out of it), so they add up to the total; and each
    /// clause's stand-alone Δ beside it, which does not.
    pub by_clause: Vec<ClauseSums>,
    /// Σ of the clauses' stand-alone Δ.
    pub standalone_delta_fen: i64,
    /// What the cross-clause rules (negative lists, select, 就高, pools, firm caps) make of the
    /// change: `total_delta_fen − standalone_delta_fen`. Shown as its own line, never as a
    /// clause.
    pub interaction_fen: i64,
    pub groupings: Vec<Grouping>,
    /// The sha256 of the `groups.toml` the declared groupings came from (it is not part of the
    /// pack's hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_sha256: Option<String>,
    /// Gainers and losers by |Δ| in 元.
    pub bands: Vec<Band>,
    /// Gainers and losers by Δ as a share of the firm's base award (`新获` when it had none).
    pub pct_bands: Vec<Band>,
    pub pools: Vec<PoolSides>,
    pub top_gainers: Vec<FirmDelta>,
    pub top_losers: Vec<FirmDelta>,
    /// Award lines the ledger holds for periods before this one (with `ledger`): the history
    /// both versions read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_awards: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backtest: Vec<BacktestYear>,
    /// With `--solve`: how the parameter's value was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solve: Option<crate::solve::Solved>,
    pub files: Vec<FileHash>,
}

/// One past period of a backtest: both versions with the ledger's history before it, and what
/// the ledger says was paid for it.
#[derive(Clone, Debug, Serialize)]
pub struct BacktestYear {
    pub period: i32,
    pub base_fen: i64,
    pub reform_fen: i64,
    pub delta_fen: i64,
    /// Awarded for the period: approved (and every later state), net of adjustments.
    pub awarded_fen: i64,
    /// Paid for the period, net of recoveries (the ledger's 拨付 less 追回).
    pub paid_fen: i64,
    pub by_clause: Vec<BacktestClause>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BacktestClause {
    pub clause: String,
    pub base_fen: i64,
    pub reform_fen: i64,
    pub awarded_fen: i64,
    pub paid_fen: i64,
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

/// Bands of |Δ| as a share of the base award, in basis points; a firm with no base award is
/// `新获` (gainers) — a loser always had one.
const PCT_BANDS: [(i128, &str); 5] = [
    (1_000, "(0, 10%]"),
    (2_500, "(10%, 25%]"),
    (5_000, "(25%, 50%]"),
    (10_000, "(50%, 100%]"),
    (i128::MAX, "> 100%"),
];
const NEW_AWARD: &str = "新获";

fn empty_bands(names: impl Iterator<Item = &'static str>) -> Vec<Band> {
    names
        .map(|b| Band {
            band: b.to_string(),
            gainers: 0,
            gain_fen: 0,
            losers: 0,
            loss_fen: 0,
        })
        .collect()
}

fn add_to_band(b: &mut Band, dd: i64) {
    if dd > 0 {
        b.gainers += 1;
        b.gain_fen += dd;
    } else {
        b.losers += 1;
        b.loss_fen += dd;
    }
}

/// A pool as each version of the pack defines it: its clauses' names and its budget in 分.
#[derive(Clone, Debug)]
pub struct PoolDef {
    pub name: String,
    pub base: Option<(Vec<String>, i64)>,
    pub reform: Option<(Vec<String>, i64)>,
}

/// The pools of both packs, matched by name.
pub fn pool_defs(base: &Program, reform: &Program, year: i32) -> Vec<PoolDef> {
    let side = |p: &Program, name: &str| {
        p.pools.iter().find(|x| x.name == name).map(|x| {
            (
                x.clauses
                    .iter()
                    .map(|&c| p.clauses[c].name.clone())
                    .collect(),
                huiqi_ir::money::to_fen(p.figure(&x.budget, year)),
            )
        })
    };
    let mut names: Vec<&str> = base.pools.iter().map(|x| x.name.as_str()).collect();
    for x in &reform.pools {
        if !names.contains(&x.name.as_str()) {
            names.push(&x.name);
        }
    }
    names
        .into_iter()
        .map(|n| PoolDef {
            name: n.to_string(),
            base: side(base, n),
            reform: side(reform, n),
        })
        .collect()
}

/// Clause name → the rule across firms it takes part in (`pool:名称`, `select:名称`), in either
/// version (the base's first).
pub fn shared_rules(base: &Program, reform: &Program) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in [base, reform] {
        for pool in &p.pools {
            for &c in &pool.clauses {
                out.entry(p.clauses[c].name.clone())
                    .or_insert_with(|| format!("pool:{}", pool.name));
            }
        }
        for sel in &p.selects {
            out.entry(p.clauses[sel.clause].name.clone())
                .or_insert_with(|| format!("select:{}", sel.name));
        }
    }
    out
}

/// Whether a result reason is a rule applied before pools (a claim it zeroed never reached one).
fn zeroed_before_pools(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.starts_with("excl:") || r.starts_with("select:") || r.starts_with("exclusive:")
    })
}

/// What `summarise` finds in a delta.
pub struct Figures {
    pub all: Sums,
    pub by_clause: Vec<ClauseSums>,
    pub standalone_delta_fen: i64,
    pub groupings: Vec<Grouping>,
    pub bands: Vec<Band>,
    pub pct_bands: Vec<Band>,
    pub pools: Vec<PoolSides>,
    pub top_gainers: Vec<FirmDelta>,
    pub top_losers: Vec<FirmDelta>,
}

/// The figures of a delta: totals, by clause (joint and stand-alone), by group, bands, pools
/// and the top firms.
pub fn summarise(
    d: &Delta,
    groups: &[Grouping0],
    names: &[Option<String>],
    pools: &[PoolDef],
    shared: &BTreeMap<String, String>,
    top: usize,
) -> Figures {
    let nf = d.firms();
    let nk = d.keys.len();
    let alone = !d.base_alone_fen.is_empty() || d.is_empty();
    let base_alone = |i: usize| d.base_alone_fen.get(i).copied().unwrap_or(0);
    let reform_alone = |i: usize| d.reform_alone_fen.get(i).copied().unwrap_or(0);
    // Per firm: base, reform, whether its own stand-alone amounts moved; per key: sums and each
    // firm's Δ in it.
    let mut firm_base = vec![0i64; nf];
    let mut firm_reform = vec![0i64; nf];
    let mut own_moved = vec![!alone; nf];
    let mut key_sums = vec![Sums::default(); nk];
    let mut key_alone = vec![Alone::default(); nk];
    let mut changed: Vec<Vec<(u32, i64)>> = vec![vec![]; nf];
    let mut by_others_rule: Vec<Option<Arc<str>>> = vec![None; nf];
    for i in 0..d.len() {
        let (f, k) = (d.firm[i] as usize, d.key[i] as usize);
        firm_base[f] += d.base_fen[i];
        firm_reform[f] += d.reform_fen[i];
        let s = &mut key_sums[k];
        s.base_fen += d.base_fen[i];
        s.reform_fen += d.reform_fen[i];
        s.delta_fen += d.delta(i);
        let (ba, ra) = (base_alone(i), reform_alone(i));
        key_alone[k].base_fen += ba;
        key_alone[k].reform_fen += ra;
        key_alone[k].delta_fen += ra - ba;
        if ba != ra {
            own_moved[f] = true;
        }
        if d.delta(i) != 0 {
            changed[f].push((k as u32, d.delta(i)));
            // The rule across firms the row's clause takes part in (a pool scales a share
            // down without a reason; a ranking names itself when it drops a firm).
            let why = d.reform_reason(i).filter(|r| is_shared_rule(r));
            let why = why.or_else(|| d.base_reason(i).filter(|r| is_shared_rule(r)));
            let why = why.map(Arc::from);
            let why = why.or_else(|| shared.get(d.clause(i)).map(|r| Arc::from(r.as_str())));
            if by_others_rule[f].is_none() {
                by_others_rule[f] = why;
            }
        }
    }
    // A clause's gainers and losers: firms whose Δ over the clause's tranches is ±.
    let mut by_clause_name: BTreeMap<usize, (String, Sums, Alone)> = BTreeMap::new();
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
            .or_insert_with(|| (c.to_string(), Sums::default(), Alone::default()));
        e.1.base_fen += key_sums[k].base_fen;
        e.1.reform_fen += key_sums[k].reform_fen;
        e.1.delta_fen += key_sums[k].delta_fen;
        e.2.base_fen += key_alone[k].base_fen;
        e.2.reform_fen += key_alone[k].reform_fen;
        e.2.delta_fen += key_alone[k].delta_fen;
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
    let standalone_delta_fen = by_clause_name.values().map(|e| e.2.delta_fen).sum();
    let by_clause = by_clause_name
        .into_values()
        .map(|(clause, sums, standalone)| ClauseSums {
            clause,
            sums,
            standalone,
        })
        .collect();
    let mut all = Sums::default();
    let mut bands = empty_bands(BANDS.iter().map(|b| b.1));
    let mut pct_bands = empty_bands(
        PCT_BANDS
            .iter()
            .map(|b| b.1)
            .chain(std::iter::once(NEW_AWARD)),
    );
    // Each moving firm's bands (|Δ|, share), for the groups' bands too.
    let mut band_of: Vec<Option<(usize, usize)>> = vec![None; nf];
    for f in 0..nf {
        all.base_fen += firm_base[f];
        all.reform_fen += firm_reform[f];
        let dd = firm_reform[f] - firm_base[f];
        all.delta_fen += dd;
        count_firm(&mut all, dd);
        if dd == 0 {
            continue;
        }
        let k = BANDS
            .iter()
            .position(|(hi, _)| dd.unsigned_abs() <= *hi as u64)
            .unwrap_or(BANDS.len() - 1);
        add_to_band(&mut bands[k], dd);
        let abs_k = k;
        let k = if firm_base[f] <= 0 {
            PCT_BANDS.len()
        } else {
            // |Δ| × 10000 ≤ hi × base, exactly (i128: both factors are below 2⁶³).
            let (ad, b) = (dd.unsigned_abs() as i128 * 10_000, firm_base[f] as i128);
            PCT_BANDS
                .iter()
                .position(|(hi, _)| *hi == i128::MAX || ad <= hi * b)
                .unwrap_or(PCT_BANDS.len() - 1)
        };
        add_to_band(&mut pct_bands[k], dd);
        band_of[f] = Some((abs_k, k));
    }
    let groupings = groups
        .iter()
        .map(|g| {
            let mut out: BTreeMap<(usize, String), GroupSums> = BTreeMap::new();
            for f in 0..nf {
                let v = g.values[f].clone().unwrap_or_else(|| NO_VALUE.into());
                // Declared classes keep their declared order; other values follow by name.
                let rank = g
                    .order
                    .iter()
                    .position(|x| *x == v)
                    .unwrap_or(g.order.len());
                let e = out.entry((rank, v.clone())).or_insert_with(|| GroupSums {
                    value: v,
                    firms: 0,
                    sums: Sums::default(),
                    bands: empty_bands(BANDS.iter().map(|b| b.1)),
                    pct_bands: empty_bands(
                        PCT_BANDS
                            .iter()
                            .map(|b| b.1)
                            .chain(std::iter::once(NEW_AWARD)),
                    ),
                });
                e.firms += 1;
                e.sums.base_fen += firm_base[f];
                e.sums.reform_fen += firm_reform[f];
                let dd = firm_reform[f] - firm_base[f];
                e.sums.delta_fen += dd;
                count_firm(&mut e.sums, dd);
                if let Some((a, p)) = band_of[f] {
                    add_to_band(&mut e.bands[a], dd);
                    add_to_band(&mut e.pct_bands[p], dd);
                }
            }
            Grouping {
                by: g.by.clone(),
                definition: g.definition.clone(),
                groups: out.into_values().collect(),
            }
        })
        .collect();
    // Pools: each version's demand and factor, from the stand-alone claims that reached it.
    let mut pool_sides: Vec<PoolSides> = pools
        .iter()
        .map(|p| PoolSides {
            pool: p.name.clone(),
            ..Default::default()
        })
        .collect();
    if alone {
        let mut demand = vec![(0i64, 0i64); pools.len()];
        for i in 0..d.len() {
            for (j, p) in pools.iter().enumerate() {
                let has = |side: &Option<(Vec<String>, i64)>| {
                    side.as_ref()
                        .is_some_and(|(cs, _)| cs.iter().any(|c| **c == *d.clause(i)))
                };
                if has(&p.base) && !zeroed_before_pools(d.base_reason(i)) {
                    demand[j].0 += base_alone(i).max(0);
                }
                if has(&p.reform) && !zeroed_before_pools(d.reform_reason(i)) {
                    demand[j].1 += reform_alone(i).max(0);
                }
            }
        }
        let side = |def: &Option<(Vec<String>, i64)>, demand: i64| {
            def.as_ref().map(|(_, budget)| PoolSide {
                budget_fen: *budget,
                demand_fen: demand,
                factor_bp: if demand <= *budget {
                    10_000
                } else {
                    (*budget as i128 * 10_000 / demand as i128) as i64
                },
            })
        };
        for (j, p) in pools.iter().enumerate() {
            pool_sides[j].base = side(&p.base, demand[j].0);
            pool_sides[j].reform = side(&p.reform, demand[j].1);
        }
    }
    let by_others = |f: usize| -> Option<String> {
        if own_moved[f] || firm_reform[f] == firm_base[f] {
            return None;
        }
        by_others_rule[f].as_deref().map(str::to_string)
    };
    for f in 0..nf {
        let dd = firm_reform[f] - firm_base[f];
        if dd >= 0 {
            continue;
        }
        if let Some(rule) = by_others(f) {
            // Only others' claims can have moved it when the pool's budget is the same.
            let same_budget = |name: &str| {
                pools.iter().any(|p| {
                    p.name == name
                        && matches!((&p.base, &p.reform), (Some(a), Some(b)) if a.1 == b.1)
                })
            };
            if let Some(ps) = pool_sides.iter_mut().find(|p| {
                rule.strip_prefix("pool:") == Some(p.pool.as_str()) && same_budget(&p.pool)
            }) {
                ps.losers_by_others += 1;
                ps.loss_by_others_fen += dd;
            }
        }
    }
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
        by_others: by_others(f),
        first_changes: vec![],
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
        standalone_delta_fen,
        groupings,
        bands,
        pct_bands,
        pools: pool_sides,
        top_gainers: gainers,
        top_losers: losers,
    }
}

/// A result reason naming a rule whose outcome for one firm depends on the others: a pool's
/// share or a ranking's places.
///
/// [`rule_text`] says it in words.
fn is_shared_rule(r: &str) -> bool {
    r.starts_with("pool:") || r.starts_with("select:")
}

/// A rule across firms in words: `pool:研发资金池` → `资金池「研发资金池」`.
pub fn rule_text(rule: &str, en: bool) -> String {
    match (rule.split_once(':'), en) {
        (Some(("pool", n)), false) => format!("资金池「{n}」"),
        (Some(("pool", n)), true) => format!("pool `{n}`"),
        (Some(("select", n)), false) => format!("遴选「{n}」"),
        (Some(("select", n)), true) => format!("ranking `{n}`"),
        _ => rule.to_string(),
    }
}

/// What a firm has when it has no value for a grouping.
pub const NO_VALUE: &str = "(无)";

/// A grouping's values per firm (in the delta's firm order), before summing.
#[derive(Clone, Debug)]
pub struct Grouping0 {
    pub by: String,
    pub definition: Option<String>,
    /// Declared classes in their order (a derived grouping's); empty for a fact's values.
    pub order: Vec<String>,
    pub values: Vec<Option<String>>,
}

/// The static enum and bool facts of a pack: what the figures are broken down by by default.
pub fn default_groups(p: &Program) -> Vec<String> {
    p.facts
        .iter()
        .filter(|f| f.kind == PeriodKind::Static && matches!(f.ty, Ty::Enum(_) | Ty::Bool))
        .map(|f| f.name.clone())
        .collect()
}

/// A snapshot derived from `snapshot` whose awards are the ledger's history before `period`.
pub fn with_history(
    db: &str,
    snapshot: &Path,
    dir: Option<&Path>,
    period: i32,
) -> Result<crate::ledger::DerivedSnapshot> {
    crate::ledger::block_on(async {
        let mut l = crate::ledger::open(db).await?;
        let d = crate::ledger::derive_snapshot(&mut l, snapshot, dir, period as i64, false).await;
        l.close().await;
        d
    })?
}

/// Each backtest period: both versions over the snapshot with the ledger's history before it,
/// by clause, beside what the ledger says was paid for that period.
fn backtest(
    r: &SimulateRequest,
    db: &str,
    source: &Path,
    base: &Program,
    reform: &Program,
) -> Result<Vec<BacktestYear>> {
    let mut periods = r.backtest.clone();
    periods.sort_unstable();
    periods.dedup();
    if periods.is_empty() {
        return Ok(vec![]);
    }
    // Awarded and paid per (period, clause), net: every line up to the last backtest period.
    let last = *periods.last().unwrap_or(&r.period);
    let (awarded, paid) = crate::ledger::block_on(async {
        let mut l = crate::ledger::open(db).await?;
        let a = l.awards(last as i64 + 1, false).await;
        let p = l.awards(last as i64 + 1, true).await;
        l.close().await;
        Ok::<_, Error>((a?, p?))
    })??;
    let mut out = vec![];
    for p in periods {
        let d = with_history(db, source, r.history_dir.as_deref(), p)?;
        let (b, f) =
            crate::run::evaluate_pair(base, reform, &d.dir, p, huiqi_columnar::Options::default())?;
        let mut by: BTreeMap<String, BacktestClause> = BTreeMap::new();
        fn entry<'a>(
            by: &'a mut BTreeMap<String, BacktestClause>,
            c: &str,
        ) -> &'a mut BacktestClause {
            by.entry(c.to_string()).or_insert_with(|| BacktestClause {
                clause: c.to_string(),
                base_fen: 0,
                reform_fen: 0,
                awarded_fen: 0,
                paid_fen: 0,
            })
        }
        for i in 0..b.len() {
            entry(&mut by, b.clause(i)).base_fen += b.amount_fen[i];
        }
        for i in 0..f.len() {
            entry(&mut by, f.clause(i)).reform_fen += f.amount_fen[i];
        }
        for a in awarded.iter().filter(|a| a.period == p as i64) {
            entry(&mut by, &a.clause).awarded_fen += a.fen;
        }
        for a in paid.iter().filter(|a| a.period == p as i64) {
            entry(&mut by, &a.clause).paid_fen += a.fen;
        }
        let by_clause: Vec<BacktestClause> = by.into_values().collect();
        let sum = |g: fn(&BacktestClause) -> i64| by_clause.iter().map(g).sum::<i64>();
        out.push(BacktestYear {
            period: p,
            base_fen: sum(|c| c.base_fen),
            reform_fen: sum(|c| c.reform_fen),
            delta_fen: sum(|c| c.reform_fen) - sum(|c| c.base_fen),
            awarded_fen: sum(|c| c.awarded_fen),
            paid_fen: sum(|c| c.paid_fen),
            by_clause,
        });
    }
    Ok(out)
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
    if !r.backtest.is_empty() && r.ledger.is_none() {
        return Err(Error::usage(
            "回测需要台账（--ledger）：与实际拨付比较",
            "a backtest needs the ledger (--ledger): it compares with what was paid",
        ));
    }
    // With a ledger, both versions read its award history (top-ups, caps over years).
    let source = r.snapshot.clone();
    let (snapshot, history_awards) = match &r.ledger {
        Some(db) => {
            let d = with_history(db, &r.snapshot, r.history_dir.as_deref(), r.period)?;
            (d.dir, Some(d.awards))
        }
        None => (r.snapshot.clone(), None),
    };
    let r = &SimulateRequest {
        snapshot,
        ..r.clone()
    };
    let snap = crate::data::snapshot_manifest(&r.snapshot)?;
    let groups: Vec<String> = if r.groups.is_empty() {
        default_groups(&base.program)
    } else {
        r.groups.clone()
    };
    let opts = || huiqi_columnar::Options {
        standalone: true,
        ..Default::default()
    };
    // The snapshot is checked against its manifest beside the two runs; nothing is written
    // unless all three succeed.
    let (bf, v) = std::thread::scope(|s| {
        let v = s.spawn(|| crate::data::verify_snapshot(&r.snapshot, &snap.hash));
        let bf = crate::run::evaluate_pair(
            &base.program,
            &reform.program,
            &r.snapshot,
            r.period,
            opts(),
        );
        let v = v
            .join()
            .unwrap_or_else(|_| Err(Error::plain("snapshot verification panicked")));
        (bf, v)
    });
    v?;
    let (b, f) = bf?;
    let t = |what: &str| {
        if std::env::var_os("HUIQI_TIMINGS").is_some() {
            eprintln!("simulate: {what} at {:?}", started.elapsed());
        }
    };
    t("both runs");
    let d = delta::diff(&b, &f)?;
    drop((b, f));
    t("diff");
    let staged = crate::outdir::stage(&r.out)?;
    let pq = staged.dir.join("delta.parquet");
    // delta.parquet is written on a thread of its own while the figures are made.
    let (figures, written) = std::thread::scope(|sc| {
        let writer = sc.spawn(|| delta::write_parquet(&d, &pq));
        let figures = (|| -> Result<(Summary, Vec<Option<String>>)> {
            // The static facts grouped by and the firms' names, in one pass over the firms table.
            let mut cols: Vec<&str> = groups.iter().map(String::as_str).collect();
            cols.push(huiqi_files::snapshot::col::NAME);
            let mut read = delta::firm_columns(&r.snapshot, &cols, &d.firm_ids)?;
            let names = read.pop().unwrap_or_default();
            let mut group_vals: Vec<Grouping0> = groups
                .iter()
                .zip(read)
                .map(|(g, values)| Grouping0 {
                    by: g.clone(),
                    definition: None,
                    order: vec![],
                    values,
                })
                .collect();
            group_vals.extend(crate::groups::evaluate(
                &r.base,
                &crate::groups::read(&r.base)?,
                &r.snapshot,
                r.period,
                &d,
            )?);
            t("groupings and names");
            let pools = pool_defs(&base.program, &reform.program, r.period);
            let shared = shared_rules(&base.program, &reform.program);
            let Figures {
                all,
                by_clause,
                standalone_delta_fen,
                groupings,
                bands,
                pct_bands,
                pools,
                mut top_gainers,
                mut top_losers,
            } = summarise(&d, &group_vals, &names, &pools, &shared, r.top);
            t("summarise");
            crate::first_change::fill(
                &base.program,
                &reform.program,
                &r.snapshot,
                r.period,
                top_gainers.iter_mut().chain(top_losers.iter_mut()),
            )?;
            t("first changes");
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
                standalone_delta_fen,
                interaction_fen: 0,
                groups_sha256: {
                    let g = r.base.join(crate::groups::FILE);
                    match g.is_file() {
                        true => Some(huiqi_columnar::output::file_sha256(&g)?),
                        false => None,
                    }
                },
                groupings,
                bands,
                pct_bands,
                pools,
                top_gainers,
                top_losers,
                history_awards: None,
                backtest: vec![],
                solve: r.solved.clone(),
                files: vec![],
            };
            summary.interaction_fen = summary.total_delta_fen - summary.standalone_delta_fen;
            summary.history_awards = history_awards;
            if let Some(db) = &r.ledger {
                summary.backtest = backtest(r, db, &source, &base.program, &reform.program)?;
            }
            Ok((summary, names))
        })();
        let written = match writer.join() {
            Ok(w) => w.map_err(Error::from),
            Err(_) => Err(Error::plain("the delta.parquet writer panicked")),
        };
        (figures, written)
    });
    let (mut summary, names) = match (figures, written) {
        (Ok((mut summary, names)), Ok(h)) => {
            summary.files.push(FileHash {
                file: Some("delta.parquet".into()),
                sha256: h,
            });
            (summary, names)
        }
        (Err(e), _) => {
            staged.abandon();
            return Err(e);
        }
        (_, Err(e)) => {
            staged.abandon();
            return Err(e);
        }
    };
    t("figures and delta.parquet");
    let written = (|| -> Result<()> {
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
    t("written");
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
