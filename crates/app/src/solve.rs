//! The 政策沙盘's budget solver: the value of one parameter that keeps a period's total within a
//! budget. The total is checked to move one way over the range first (a few evenly spaced
//! values); then bisection finds the boundary to the parameter's unit (1分, 1, or 0.01% for a
//! ratio). A total that does not move one way is reported with the values that show it, never
//! answered with a value that may be wrong.

use std::path::PathBuf;

use huiqi_ir::{Program, Ty, Value};
use huiqi_lang::ParamSet;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct SolveRequest {
    pub base: PathBuf,
    pub snapshot: PathBuf,
    pub period: i32,
    /// The parameter (money, count or ratio).
    pub param: String,
    pub budget_fen: i64,
    /// The range searched, in the pack's notation (`0..2000万`); default from 0 to twice the
    /// value in force.
    pub range: Option<(String, String)>,
}

/// One evaluation: a value (the pack's notation) and the period's total.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Probe {
    pub value: String,
    pub total_fen: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Solved {
    pub param: String,
    pub budget_fen: i64,
    /// The value in force for the period before the change.
    pub current: String,
    pub range: (String, String),
    /// `increasing` or `decreasing`: how the total moves as the value grows.
    pub direction: String,
    /// The value found (the pack's notation) and its total.
    pub value: String,
    pub total_fen: i64,
    /// The next value past it (one unit) and its total, which is over the budget — absent when
    /// the value is the end of the range.
    pub next: Option<Probe>,
    /// Every evaluation, in the order made.
    pub probes: Vec<Probe>,
}

/// The unit a value moves by, scaled to an integer: 分 for money, 1 for a count, 10⁻⁴ (0.01%)
/// for a ratio.
fn scale(ty: Ty) -> Result<Decimal> {
    Ok(match ty {
        Ty::Money => Decimal::new(1, 2),
        Ty::Count => Decimal::ONE,
        Ty::Ratio => Decimal::new(1, 4),
        _ => {
            return Err(Error::usage(
                "只能求解金额、整数或比例类型的参数",
                "only a money, count or ratio parameter can be solved for",
            ))
        }
    })
}

/// An integer number of units as the pack writes the value (`2000万元`, `1234.56元`, `20`,
/// `12.5%`).
fn text(ty: Ty, units: i64) -> String {
    match ty {
        Ty::Money => huiqi_ir::money::fmt_money_zh(Decimal::new(units, 2)),
        Ty::Count => units.to_string(),
        _ => format!("{}%", Decimal::new(units, 2).normalize()),
    }
}

/// A value in the pack's notation as a number of units.
fn units(p: &Program, ty: Ty, s: &str) -> Result<i64> {
    let bad = || {
        Error::usage(
            format!("`{s}` 不是该参数类型的值"),
            format!("`{s}` is not a value of the parameter's type"),
        )
    };
    let _ = p;
    let t = s.trim();
    let d = match ty {
        Ty::Money => huiqi_data::firmfile::parse_money(&serde_json::Value::String(t.into()))
            .map_err(|_| bad())?,
        Ty::Ratio => match t.strip_suffix('%') {
            Some(x) => x.trim().parse::<Decimal>().map_err(|_| bad())? / Decimal::from(100),
            None => t.parse::<Decimal>().map_err(|_| bad())?,
        },
        _ => t.parse::<Decimal>().map_err(|_| bad())?,
    };
    let u = d / scale(ty)?;
    if u.fract() != Decimal::ZERO {
        return Err(Error::usage(
            format!("`{s}` 不是整单位（金额到分、比例到0.01%）"),
            format!("`{s}` is not a whole number of units (money to the 分, ratios to 0.01%)"),
        ));
    }
    i64::try_from(u).map_err(|_| bad())
}

/// The period's total with the parameter set to `units`.
fn total(r: &SolveRequest, ty: Ty, units: i64) -> Result<i64> {
    let set = ParamSet {
        name: r.param.clone(),
        from: None,
        value: text(ty, units),
    };
    let l = crate::pack::load_with(&r.base, std::slice::from_ref(&set))?;
    let (res, _) = crate::run::evaluate(
        &l.program,
        &r.snapshot,
        r.period,
        huiqi_columnar::Options::default(),
    )?;
    Ok(res.amount_fen.iter().sum())
}

/// The evaluations made, each once.
#[derive(Default)]
struct Evals {
    seen: Vec<(i64, i64)>,
    probes: Vec<Probe>,
}

impl Evals {
    fn at(&mut self, r: &SolveRequest, ty: Ty, u: i64) -> Result<i64> {
        if let Some(&(_, t)) = self.seen.iter().find(|(x, _)| *x == u) {
            return Ok(t);
        }
        let t = total(r, ty, u)?;
        self.seen.push((u, t));
        self.probes.push(Probe {
            value: text(ty, u),
            total_fen: t,
        });
        Ok(t)
    }
}

fn not_monotone(param: &str, probes: &[Probe]) -> Error {
    let shown: Vec<String> = probes
        .iter()
        .map(|p| format!("{} → {}元", p.value, huiqi_ledger::yuan(p.total_fen)))
        .collect();
    Error::input(
        format!(
            "合计随参数 `{param}` 的变化不单调，无法按预算求解：{}",
            shown.join("；")
        ),
        format!(
            "the total does not move one way with `{param}`, so no value can be solved for: {}",
            shown.join("; ")
        ),
    )
}

/// How many evenly spaced values the range is sampled at before bisecting.
const SAMPLES: i64 = 5;

pub fn solve(r: &SolveRequest) -> Result<Solved> {
    let l = crate::pack::load(&r.base)?;
    let p = &l.program;
    let k = p
        .params
        .iter()
        .position(|x| x.name == r.param)
        .ok_or_else(|| {
            let names: Vec<&str> = p.params.iter().map(|x| x.name.as_str()).collect();
            Error::usage(
                format!("未知的参数 `{}`；可用参数：{}", r.param, names.join("、")),
                format!(
                    "unknown parameter `{}`; parameters: {}",
                    r.param,
                    names.join(", ")
                ),
            )
        })?;
    let ty = p.params[k].ty;
    let unit = scale(ty)?;
    let current = match p.param_at(k, r.period) {
        Value::Missing => None,
        v => v.num(),
    };
    let current_units = current
        .map(|d| i64::try_from(d / unit).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let (lo, hi) = match &r.range {
        Some((a, b)) => (units(p, ty, a)?, units(p, ty, b)?),
        None => (0, current_units.saturating_mul(2)),
    };
    if lo >= hi {
        return Err(Error::usage(
            "求解范围为空：请用 --range 低..高 给出（默认 0 到现值的两倍）",
            "the range is empty: give --range LOW..HIGH (default: 0 to twice the value in force)",
        ));
    }
    let mut ev = Evals::default();
    // Sampled over the range: the totals must move one way.
    let xs: Vec<i64> = (0..SAMPLES)
        .map(|i| lo + ((hi - lo) as i128 * i as i128 / (SAMPLES - 1) as i128) as i64)
        .collect();
    let mut ts = vec![];
    for &x in &xs {
        ts.push(ev.at(r, ty, x)?);
    }
    let up = ts.windows(2).all(|w| w[0] <= w[1]);
    let down = ts.windows(2).all(|w| w[0] >= w[1]);
    if !up && !down {
        return Err(not_monotone(&r.param, &ev.probes));
    }
    let within = |t: i64| t <= r.budget_fen;
    // The end of the range where the total is least, and the other.
    let (good_end, bad_end) = if up { (lo, hi) } else { (hi, lo) };
    let least = ev.at(r, ty, good_end)?;
    if !within(least) {
        return Err(Error::input(
            format!(
                "参数 `{}` 在范围内取任何值，合计都超出预算（最少 {} 元）",
                r.param,
                huiqi_ledger::yuan(least)
            ),
            format!(
                "whatever value `{}` takes in the range, the total is over the budget (at least {} yuan)",
                r.param,
                huiqi_ledger::yuan(least)
            ),
        ));
    }
    let most = ev.at(r, ty, bad_end)?;
    let (value, total_at) = if within(most) {
        (bad_end, most)
    } else {
        // Invariant: `good` within the budget, `bad` over it; they close to one unit apart,
        // starting from the samples either side of the boundary.
        let (mut good, mut bad) = (good_end, bad_end);
        for (&x, &t) in xs.iter().zip(&ts) {
            if within(t) && (x - bad).abs() < (good - bad).abs() {
                good = x;
            }
            if !within(t) && (x - good).abs() < (bad - good).abs() {
                bad = x;
            }
        }
        let (mut tg, mut tb) = (ev.at(r, ty, good)?, ev.at(r, ty, bad)?);
        while (bad - good).abs() > 1 {
            let mid = good + (bad - good) / 2;
            let t = ev.at(r, ty, mid)?;
            // Between its neighbours' totals, or the total does not move one way after all.
            if t < tg.min(tb) || t > tg.max(tb) {
                return Err(not_monotone(&r.param, &ev.probes));
            }
            if within(t) {
                (good, tg) = (mid, t);
            } else {
                (bad, tb) = (mid, t);
            }
        }
        (good, tg)
    };
    let step = if up { value + 1 } else { value - 1 };
    let next = if (lo..=hi).contains(&step) {
        let t = ev.at(r, ty, step)?;
        (!within(t)).then(|| Probe {
            value: text(ty, step),
            total_fen: t,
        })
    } else {
        None
    };
    let probes = ev.probes;
    Ok(Solved {
        param: r.param.clone(),
        budget_fen: r.budget_fen,
        current: current
            .map(|_| text(ty, current_units))
            .unwrap_or_else(|| "(无)".into()),
        range: (text(ty, lo), text(ty, hi)),
        direction: if up { "increasing" } else { "decreasing" }.into(),
        value: text(ty, value),
        total_fen: total_at,
        next,
        probes,
    })
}

/// The value found as a `--set`, to simulate it against the pack as it is.
pub fn as_set(s: &Solved) -> ParamSet {
    ParamSet {
        name: s.param.clone(),
        from: None,
        value: s.value.clone(),
    }
}

/// A budget in the pack's notation (`5000万`, `1234.56元`) in 分.
pub fn parse_budget(s: &str) -> Result<i64> {
    let d = huiqi_data::firmfile::parse_money(&serde_json::Value::String(s.trim().into()))
        .map_err(|_| {
            Error::usage(
                format!("预算不是金额：`{s}`（如 5000万）"),
                format!("the budget is not an amount: `{s}` (e.g. 5000万)"),
            )
        })?;
    Ok(huiqi_ir::money::to_fen(d))
}

/// `LOW..HIGH`.
pub fn parse_range(s: &str) -> Option<(String, String)> {
    let (a, b) = s.split_once("..")?;
    let (a, b) = (a.trim(), b.trim());
    (!a.is_empty() && !b.is_empty()).then(|| (a.to_string(), b.to_string()))
}
