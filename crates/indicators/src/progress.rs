//! Targets against figures: 完成率 against 序时进度, coloured by the gap.

use rust_decimal::{Decimal, RoundingStrategy};

fn r1(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
}

use crate::compute::{Figure, Period, SCALE};
use crate::set::{IndicatorSet, Measure, Pace, Unit};

/// How a figure stands against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// At or ahead of 序时进度.
    Green,
    /// Behind by no more than the set's `amber_pp`.
    Amber,
    Red,
}

/// One row of the targets table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Progress {
    pub indicator: String,
    pub label: String,
    pub zone: String,
    pub year: i32,
    pub department: String,
    pub unit: &'static str,
    /// A value target (in `unit`), or None for a growth target.
    pub target: Option<Decimal>,
    /// A growth target in percent.
    pub target_growth: Option<Decimal>,
    /// The figure in `unit` (value targets) or its 同口径 growth in percent (growth targets).
    pub actual: Option<Decimal>,
    /// 完成率 in percent (value targets).
    pub completion: Option<Decimal>,
    /// 序时进度 in percent (value targets).
    pub pace: Option<Decimal>,
    /// 完成率 − 序时进度, or actual growth − target growth, in percentage points.
    pub gap_pp: Option<Decimal>,
    pub colour: Option<Colour>,
}

/// A stored figure (scaled by 10^12) in a unit: 亿元, %, firms…
pub fn shown(v: i128, unit: Unit) -> Option<Decimal> {
    let d = Decimal::try_from_i128_with_scale(v, 12).ok()?;
    Some(d / unit.factor())
}

/// A firm count as a stored figure.
pub fn firms_scaled(n: i64) -> i128 {
    n as i128 * SCALE
}

/// The targets of the period's year, each against its zone's figure.
pub fn progress(set: &IndicatorSet, period: Period, figures: &[Figure]) -> Vec<Progress> {
    let hundred = Decimal::from(100);
    let mut out = vec![];
    for t in set.targets.iter().filter(|t| t.year == period.year) {
        let Some(ind) = set.indicator(&t.indicator) else {
            continue;
        };
        let fig = figures
            .iter()
            .find(|f| f.indicator == t.indicator && f.zone == t.zone);
        let colour = |gap: Decimal| {
            Some(if gap >= Decimal::ZERO {
                Colour::Green
            } else if gap >= -set.amber_pp {
                Colour::Amber
            } else {
                Colour::Red
            })
        };
        let mut p = Progress {
            indicator: ind.id.clone(),
            label: ind.label.clone(),
            zone: t.zone.clone(),
            year: t.year,
            department: t.department.clone(),
            unit: ind.unit.as_str(),
            target: t.value,
            target_growth: t.growth,
            actual: None,
            completion: None,
            pace: None,
            gap_pp: None,
            colour: None,
        };
        if let Some(target) = t.value {
            let pace = match t.pace {
                Pace::Months => period.pace() * hundred,
                Pace::YearEnd => hundred,
            };
            p.pace = Some(r1(pace));
            p.actual = fig
                .filter(|f| !f.no_data(ind.measure))
                .and_then(|f| shown(f.value, ind.unit));
            if let (Some(a), false) = (p.actual, target.is_zero()) {
                let c = r1(a / target * hundred);
                p.completion = Some(c);
                let gap = r1(c - pace);
                p.gap_pp = Some(gap);
                p.colour = colour(gap);
            }
        } else if let Some(g) = t.growth {
            // 同口径 for sums; the 名义 change for counts (flat over the same firms).
            let actual = fig.and_then(|f| match ind.measure {
                Measure::Ratio => None,
                Measure::Sum => f.same_set_growth(ind.measure),
                _ => f.nominal_growth(ind.measure),
            });
            p.actual = actual;
            if let Some(a) = actual {
                p.gap_pp = Some(a - g);
                p.colour = colour(a - g);
            }
        }
        out.push(p);
    }
    out
}

/// A figure as written in a table, in its unit's usual precision: 亿元 and 万元 to two
/// decimals, 元 to the 分, % to 0.1, firms whole (rounded half away from zero).
pub fn format_value(v: i128, unit: Unit) -> String {
    let Some(d) = shown(v, unit) else {
        return "—".into();
    };
    let dp = match unit {
        Unit::Yi | Unit::Wan | Unit::Yuan => 2,
        Unit::Percent => 1,
        Unit::Firms => 0,
    };
    let r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    format!("{r:.prec$}", prec = dp as usize)
}

/// Growth in percent as shown: `+46.9%`, `-3.0%`, `—` without a base.
pub fn format_growth(g: Option<Decimal>) -> String {
    match g {
        Some(g) if g > Decimal::ZERO => format!("+{g:.1}%"),
        Some(g) => format!("{g:.1}%"),
        None => "—".into(),
    }
}
