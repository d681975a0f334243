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

/// The evaluations made, each once: (value in units, total in 分) in the order made.
struct Evals<'a> {
    total: Box<dyn FnMut(i64) -> Result<i64> + 'a>,
    seen: Vec<(i64, i64)>,
}

impl Evals<'_> {
    fn at(&mut self, u: i64) -> Result<i64> {
        if let Some(&(_, t)) = self.seen.iter().find(|(x, _)| *x == u) {
            return Ok(t);
        }
        let t = (self.total)(u)?;
        self.seen.push((u, t));
        Ok(t)
    }
}

/// What the search finds, in units of the parameter.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// The value and its total; the next value past it and its total (over the budget), when
    /// it is in the range; whether the total grows with the value.
    Value {
        value: i64,
        total: i64,
        next: Option<(i64, i64)>,
        up: bool,
    },
    /// The total does not move one way over the range.
    NotMonotone,
    /// Even the least total of the range is over the budget: that total.
    OverBudget(i64),
}

/// How many evenly spaced values the range is sampled at before bisecting.
const SAMPLES: i64 = 5;

/// The value in `lo..=hi` that keeps the total within `budget`: sampled first (the totals must
/// move one way), then bisected to one unit, each new total checked to lie between its
/// neighbours'. Increasing: the largest such value; decreasing: the smallest.
fn search(lo: i64, hi: i64, budget: i64, ev: &mut Evals) -> Result<Found> {
    let xs: Vec<i64> = (0..SAMPLES)
        .map(|i| lo + ((hi - lo) as i128 * i as i128 / (SAMPLES - 1) as i128) as i64)
        .collect();
    let mut ts = vec![];
    for &x in &xs {
        ts.push(ev.at(x)?);
    }
    let up = ts.windows(2).all(|w| w[0] <= w[1]);
    let down = ts.windows(2).all(|w| w[0] >= w[1]);
    if !up && !down {
        return Ok(Found::NotMonotone);
    }
    let within = |t: i64| t <= budget;
    // The end of the range where the total is least, and the other.
    let (good_end, bad_end) = if up { (lo, hi) } else { (hi, lo) };
    let least = ev.at(good_end)?;
    if !within(least) {
        return Ok(Found::OverBudget(least));
    }
    let most = ev.at(bad_end)?;
    let (value, total) = if within(most) {
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
        let (mut tg, mut tb) = (ev.at(good)?, ev.at(bad)?);
        while (bad - good).abs() > 1 {
            let mid = good + (bad - good) / 2;
            let t = ev.at(mid)?;
            // Between its neighbours' totals, or the total does not move one way after all.
            if t < tg.min(tb) || t > tg.max(tb) {
                return Ok(Found::NotMonotone);
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
        let t = ev.at(step)?;
        (!within(t)).then_some((step, t))
    } else {
        None
    };
    Ok(Found::Value {
        value,
        total,
        next,
        up,
    })
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
    let mut ev = Evals {
        total: Box::new(|u| total(r, ty, u)),
        seen: vec![],
    };
    let found = search(lo, hi, r.budget_fen, &mut ev)?;
    let probes: Vec<Probe> = ev
        .seen
        .iter()
        .map(|&(u, t)| Probe {
            value: text(ty, u),
            total_fen: t,
        })
        .collect();
    match found {
        Found::NotMonotone => Err(not_monotone(&r.param, &probes)),
        Found::OverBudget(least) => Err(Error::input(
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
        )),
        Found::Value {
            value,
            total,
            next,
            up,
        } => Ok(Solved {
            param: r.param.clone(),
            budget_fen: r.budget_fen,
            current: current
                .map(|_| text(ty, current_units))
                .unwrap_or_else(|| "(无)".into()),
            range: (text(ty, lo), text(ty, hi)),
            direction: if up { "increasing" } else { "decreasing" }.into(),
            value: text(ty, value),
            total_fen: total,
            next: next.map(|(u, t)| Probe {
                value: text(ty, u),
                total_fen: t,
            }),
            probes,
        }),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn run(lo: i64, hi: i64, budget: i64, f: impl Fn(i64) -> i64) -> (Found, usize) {
        let mut ev = Evals {
            total: Box::new(|u| Ok(f(u))),
            seen: vec![],
        };
        let found = search(lo, hi, budget, &mut ev).unwrap();
        (found, ev.seen.len())
    }

    /// A pool's budget: the total grows with it until the claims are covered. The largest value
    /// within the budget is found to the unit, with the next one over it.
    #[test]
    fn an_increasing_total_gives_the_largest_value_within_the_budget() {
        let f = |u: i64| 5_000 + u.min(70_000);
        let (found, runs) = run(0, 100_000, 50_000, f);
        assert_eq!(
            found,
            Found::Value {
                value: 45_000,
                total: 50_000,
                next: Some((45_001, 50_001)),
                up: true
            }
        );
        assert!(runs <= 5 + 2 + 20, "{runs}");
        // A budget the whole range fits: its end, and no next value.
        assert_eq!(
            run(0, 100_000, 10_000_000, f).0,
            Found::Value {
                value: 100_000,
                total: 75_000,
                next: None,
                up: true
            }
        );
    }

    /// A threshold: the higher it is, the fewer firms qualify. The smallest value within the
    /// budget is found.
    #[test]
    fn a_decreasing_total_gives_the_smallest_value_within_the_budget() {
        let f = |u: i64| 1_000_000 - 7 * u;
        match run(0, 100_000, 500_000, f).0 {
            Found::Value {
                value, total, up, ..
            } => {
                assert!(!up);
                assert!(
                    total <= 500_000 && f(value - 1) > 500_000,
                    "{value} {total}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Totals that go up and down are reported, never answered — whether the samples show it
    /// or only the bisection finds it between two samples.
    #[test]
    fn a_total_that_does_not_move_one_way_is_reported() {
        // Seen in the samples (0, 25, 50, 75, 100).
        assert_eq!(run(0, 100, 40, |u| (u - 50).abs()).0, Found::NotMonotone);
        // Monotone at the samples, a dip between 0 and 25 that the bisection meets.
        let dip = |u: i64| {
            if (10..=14).contains(&u) {
                -1_000
            } else {
                u * 10
            }
        };
        assert_eq!(run(0, 100, 150, dip).0, Found::NotMonotone);
    }

    #[test]
    fn a_budget_below_the_least_total_is_refused_with_that_total() {
        assert_eq!(run(0, 100, 10, |u| 20 + u).0, Found::OverBudget(20));
        assert_eq!(run(0, 100, 10, |u| 200 - u).0, Found::OverBudget(100));
    }

    #[test]
    fn values_are_written_as_the_pack_writes_them() {
        assert_eq!(text(Ty::Money, 2_000_000_000), "2000万元");
        assert_eq!(text(Ty::Money, 123_456), "1234.56元");
        assert_eq!(text(Ty::Count, 20), "20");
        assert_eq!(text(Ty::Ratio, 1_250), "12.5%");
        assert_eq!(
            parse_range("100万..2000万"),
            Some(("100万".into(), "2000万".into()))
        );
        assert_eq!(parse_range("..5"), None);
        assert_eq!(parse_budget("5000万").unwrap(), 5_000_000_000);
        assert!(parse_budget("很多").is_err());
    }
}
