//! A set's indicators for one period from a snapshot: the figures, the drill-down rows and how
//! they are summed (the dense engine that fills them is `dense.rs`; the DataFusion one it
//! replaced, `reference.rs`, is kept as its oracle).
//!
//! One frame holds a row per firm with every column the set needs, at the period and at
//! the same period a year earlier: the zone (the zone fact's record valid at each as-of date),
//! each condition's fact, each summed fact (months 1..=M累计 for a monthly fact, the year's
//! value for a yearly one) and each first-record date. Each indicator is then a filter of that
//! frame to the firms in its set now or a year ago, collected as per-firm rows; the figures are
//! exact integer sums of those rows, so a drill-down list always sums to its card.
//!
//! Growth comes two ways, both kept: **同口径** compares this year's set with the same firms' own
//! figures a year earlier (as the statistics bureau does); **名义** compares with last year's set
//! and its figures (what last year's report said). Firms entering and leaving the set (a firm
//! moving in or out of the zone, joining or leaving the register) make them differ.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Decimal128Type;
use huiqi_ir::date::days_in_month;
use huiqi_ir::Date;

use crate::error::{Error, Result};
use crate::runs::RunUsed;
use crate::set::{IndicatorSet, Measure};

/// Figures are stored as integers scaled by 10^12 (元 for money, firms for counts, a fraction
/// for ratios): the scale of the snapshot's Decimal128(38, 12) columns.
pub const SCALE: i128 = 1_000_000_000_000;

/// A reporting period: 1..=`month` of `year` (`2021-11` is 1–11月 2021; a year alone is 1–12月).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        let s = s.trim();
        let (y, m) = match s.split_once('-') {
            Some((y, m)) => (y.parse().ok()?, m.parse().ok()?),
            None => (s.parse().ok()?, 12),
        };
        ((1900..=9999).contains(&y) && (1..=12).contains(&m))
            .then_some(Period { year: y, month: m })
    }
    /// The last day of the period: where stocks, tags and zones are read.
    pub fn as_of(self) -> Date {
        Date {
            y: self.year,
            m: self.month,
            d: days_in_month(self.year, self.month),
        }
    }
    /// The same months a year earlier.
    pub fn base(self) -> Period {
        Period {
            year: self.year - 1,
            month: self.month,
        }
    }
    pub fn label(self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }
    /// 序时进度 after this period: M/12.
    pub fn pace(self) -> rust_decimal::Decimal {
        rust_decimal::Decimal::from(self.month) / rust_decimal::Decimal::from(12)
    }
}

/// One firm of one indicator's set, now or a year ago: a drill-down row.
#[derive(Clone, Debug, PartialEq)]
pub struct FirmRow {
    pub indicator: String,
    pub firm_id: String,
    pub name: String,
    /// The zone at the period's end (None: in no zone then).
    pub zone: Option<String>,
    pub zone_base: Option<String>,
    pub in_current: bool,
    pub in_base: bool,
    /// Scaled by [`SCALE`]; for counts and `new`, one firm.
    pub value: i128,
    pub base_value: i128,
}

/// One indicator in one zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub indicator: String,
    pub zone: String,
    /// Scaled by [`SCALE`].
    pub value: i128,
    /// Firms in the set (for a ratio: in the denominator's set).
    pub firms: i64,
    /// This year's firms' own figures a year earlier (同口径 base).
    pub same_base: i128,
    /// Last year's set and figures (名义 base).
    pub nominal_base: i128,
    pub firms_base: i64,
    /// In the set now and not a year ago (in this zone), and the reverse.
    pub entries: i64,
    pub exits: i64,
}

impl Computed {
    /// The drill-down rows as values (for tests and small sets: a million firms make millions).
    pub fn firm_rows(&self) -> Vec<FirmRow> {
        crate::output::rows_from(&self.rows)
    }
}

impl Figure {
    /// A sum or ratio over no firm: no data for the period (shown as —, not 0).
    pub fn no_data(&self, m: Measure) -> bool {
        self.firms == 0 && matches!(m, Measure::Sum | Measure::Ratio | Measure::Investment)
    }

    /// 同口径 growth in percent: for sums only — of firms' figures or of projects' investment (a
    /// count over the same firms is flat by construction; its change is the 名义 one).
    pub fn same_set_growth(&self, m: Measure) -> Option<rust_decimal::Decimal> {
        matches!(m, Measure::Sum | Measure::Investment)
            .then(|| Figure::growth_pct(self.value, self.same_base))
            .flatten()
    }

    /// 名义 growth in percent (sums, counts and `new`).
    pub fn nominal_growth(&self, m: Measure) -> Option<rust_decimal::Decimal> {
        (m != Measure::Ratio)
            .then(|| Figure::growth_pct(self.value, self.nominal_base))
            .flatten()
    }

    /// Growth in percent against a base, rounded half away from zero to 0.1 pp; None when the
    /// base is zero.
    pub fn growth_pct(value: i128, base: i128) -> Option<rust_decimal::Decimal> {
        if base <= 0 {
            return None;
        }
        // round((value − base) × 1000 / base) in tenths of a percent: q = trunc(2x), then
        // halve away from zero.
        let q = value.checked_sub(base)?.checked_mul(2000)? / base;
        let tenths = if q >= 0 { (q + 1) / 2 } else { (q - 1) / 2 };
        Some(rust_decimal::Decimal::new(i64::try_from(tenths).ok()?, 1))
    }
}

/// What `compute` found.
#[derive(Clone, Debug)]
pub struct Computed {
    pub period: Period,
    pub figures: Vec<Figure>,
    /// The drill-down: every indicator's firms (in its set now or a year earlier), in the
    /// columns of `indicator_firms.parquet`, by indicator then credit code.
    pub rows: Vec<RecordBatch>,
    /// Firms of the snapshot in no zone at the period's end (not in any figure).
    pub firms_without_zone: u64,
    pub zones: Vec<String>,
    /// The runs `selected` indicators were read from.
    pub runs: Vec<RunUsed>,
    /// What could not be computed and why (zh, en): a `selected` indicator without the run of
    /// its year has no figure; without the run a year earlier, no growth and no entries/exits.
    pub notes: Vec<(String, String)>,
}

/// Computes every indicator of `set` for `period` over the snapshot in `dir` (no runs: a
/// `selected` indicator gets no figure).
pub async fn compute(set: &IndicatorSet, dir: &Path, period: Period) -> Result<Computed> {
    compute_with(set, dir, period, true, &[]).await
}

/// [`compute`]; without `rows` the firm rows are neither kept nor ordered (the figures do not
/// depend on order): what printing the figures needs, at a fraction of the memory. `runs`
/// (checked by [`crate::runs::open_runs`]) are what `selected` indicators read.
pub async fn compute_with(
    set: &IndicatorSet,
    dir: &Path,
    period: Period,
    rows: bool,
    runs: &[RunUsed],
) -> Result<Computed> {
    crate::dense::compute(set, dir, period, rows, runs)
}

pub(crate) fn blank(i: &str, z: &str) -> Figure {
    Figure {
        indicator: i.to_string(),
        zone: z.to_string(),
        value: 0,
        firms: 0,
        same_base: 0,
        nominal_base: 0,
        firms_base: 0,
        entries: 0,
        exits: 0,
    }
}

/// Adds one batch of an indicator's firm rows to its figures by zone (exact, checked).
pub(crate) fn accumulate(
    id: &str,
    b: &RecordBatch,
    by: &mut BTreeMap<(String, String), Figure>,
) -> Result<()> {
    let s = |i: usize| b.column(i).as_string::<i32>();
    let (z1, z0) = (s(3), s(4));
    let (in1, in0) = (b.column(5).as_boolean(), b.column(6).as_boolean());
    let (v1, v0) = (
        b.column(7).as_primitive::<Decimal128Type>(),
        b.column(8).as_primitive::<Decimal128Type>(),
    );
    fn zone(a: &datafusion::arrow::array::StringArray, r: usize) -> &str {
        if a.is_null(r) {
            ""
        } else {
            a.value(r)
        }
    }
    // This batch's figures by zone (a handful: found by a linear look-up, no key allocated per
    // row), merged into `by` at the end.
    let mut local: Vec<Figure> = vec![];
    fn get<'a>(local: &'a mut Vec<Figure>, id: &str, z: &str) -> &'a mut Figure {
        let k = match local.iter().position(|f| f.zone == z) {
            Some(k) => k,
            None => {
                local.push(blank(id, z));
                local.len() - 1
            }
        };
        &mut local[k]
    }
    for r in 0..b.num_rows() {
        let (now, then) = (in1.value(r), in0.value(r));
        let (za, zb) = (zone(z1, r), zone(z0, r));
        let same_zone = !z1.is_null(r) && !z0.is_null(r) && za == zb;
        if now {
            let f = get(&mut local, id, za);
            add(&mut f.value, v1.value(r))?;
            add(&mut f.same_base, v0.value(r))?;
            f.firms += 1;
            if !(then && same_zone) {
                f.entries += 1;
            }
        }
        if then {
            let f = get(&mut local, id, zb);
            add(&mut f.nominal_base, v0.value(r))?;
            f.firms_base += 1;
            if !(now && same_zone) {
                f.exits += 1;
            }
        }
    }
    for f in local {
        let t = by
            .entry((id.to_string(), f.zone.clone()))
            .or_insert_with(|| blank(id, &f.zone));
        add(&mut t.value, f.value)?;
        add(&mut t.same_base, f.same_base)?;
        add(&mut t.nominal_base, f.nominal_base)?;
        t.firms += f.firms;
        t.firms_base += f.firms_base;
        t.entries += f.entries;
        t.exits += f.exits;
    }
    Ok(())
}

pub(crate) fn overflow() -> Error {
    Error::plain(
        "指标合计超出精确计算的范围（溢出）".into(),
        "an indicator's sum overflows exact arithmetic".into(),
    )
}

pub(crate) fn add(a: &mut i128, b: i128) -> Result<()> {
    *a = a.checked_add(b).ok_or_else(overflow)?;
    Ok(())
}

/// The figures of every indicator in every zone, summed exactly from the per-firm rows; ratios
/// from their two components.
pub(crate) fn figures(
    set: &IndicatorSet,
    zones: &[String],
    by: &BTreeMap<(String, String), Figure>,
    skipped: &std::collections::HashSet<String>,
) -> Result<Vec<Figure>> {
    let mut out = vec![];
    for ind in &set.indicators {
        let part_skipped = [&ind.numerator, &ind.denominator]
            .into_iter()
            .flatten()
            .any(|p| skipped.contains(p));
        if skipped.contains(&ind.id) || part_skipped {
            continue;
        }
        for z in zones {
            if !ind.zones.is_empty() && !ind.zones.contains(z) {
                continue;
            }
            let f = if ind.measure == Measure::Ratio {
                let get = |id: &Option<String>| {
                    by.get(&(id.clone().unwrap_or_default(), z.clone()))
                        .cloned()
                        .unwrap_or_else(|| blank("", z))
                };
                let (n, d) = (get(&ind.numerator), get(&ind.denominator));
                let div = |a: i128, b: i128| -> Result<i128> {
                    if b == 0 {
                        return Ok(0);
                    }
                    Ok(a.checked_mul(SCALE).ok_or_else(overflow)?.div_euclid(b))
                };
                Figure {
                    indicator: ind.id.clone(),
                    zone: z.clone(),
                    value: div(n.value, d.value)?,
                    firms: d.firms,
                    same_base: div(n.same_base, d.same_base)?,
                    nominal_base: div(n.nominal_base, d.nominal_base)?,
                    firms_base: d.firms_base,
                    entries: 0,
                    exits: 0,
                }
            } else {
                by.get(&(ind.id.clone(), z.clone()))
                    .cloned()
                    .unwrap_or_else(|| blank(&ind.id, z))
            };
            out.push(f);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_rounds_to_a_tenth_of_a_point() {
        let g = |v: i128, b: i128| Figure::growth_pct(v, b).map(|d| d.to_string());
        assert_eq!(g(1469, 1000).as_deref(), Some("46.9"));
        assert_eq!(g(14695, 10000).as_deref(), Some("47.0"));
        assert_eq!(g(14694, 10000).as_deref(), Some("46.9"));
        assert_eq!(g(9000, 10000).as_deref(), Some("-10.0"));
        assert_eq!(g(90005, 100000).as_deref(), Some("-10.0"));
        assert_eq!(g(1, 0), None);
    }

    #[test]
    fn periods_parse_and_step_back_a_year() {
        let p = Period::parse("2021-11").unwrap();
        assert_eq!(p.as_of().to_string(), "2021-11-30");
        assert_eq!(p.base().as_of().to_string(), "2020-11-30");
        assert_eq!(
            Period::parse("2024").unwrap().as_of().to_string(),
            "2024-12-31"
        );
        assert_eq!(
            Period::parse("2024-02").unwrap().as_of().to_string(),
            "2024-02-29"
        );
        assert!(Period::parse("2021-13").is_none());
        assert!(Period::parse("x").is_none());
    }
}
