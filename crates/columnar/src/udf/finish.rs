//! A slot's finish — rounding, clause cap, total cap, the reason when zero — as one kernel,
//! and fused with the slot's tier table when its raw amount is one.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Decimal128Array, Int32Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field};
use datafusion::common::Result;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use huiqi_ir::money::{self, Rounding};

use super::arith::to_fen;
use super::tiers::{with_interval, Tiers};
use super::{dec, rows, Arg, DEC};

/// A clause's finish for one slot (the reference's `finish` in `huiqi_eval::clause`):
/// rounding, the clause cap against what earlier tranches used, the total cap against what the
/// clause awarded before, and the reason when the amount is zero. One kernel per slot instead
/// of a projection per step and a CASE each for the amount and the reason.
#[derive(Clone, Debug)]
pub struct FinishSpec {
    pub unit: Rounding,
    pub cap: Option<i128>,
    pub total_cap: Option<i128>,
    /// Reason codes (`Compiler::reason_code`) for a missing amount, a total cap that left
    /// nothing, and a zero amount.
    pub miss_amount: i32,
    pub totalcap: i32,
    pub zero: i32,
    /// The code that marks a raw amount beyond exact arithmetic (`money::is_overflow`): the
    /// amount is 0 and the run is refused, naming the firm and the clause (`allocate::OVERFLOW`).
    pub overflow: i32,
}

/// The room each cap leaves a row, from what earlier tranches used and what the clause awarded
/// before: None without that cap, Some(None) when an input is null (the amount is not cut).
#[derive(Clone, Copy)]
struct Rooms {
    cap: Option<Option<i128>>,
    total: Option<Option<i128>>,
}

impl FinishSpec {
    #[inline(always)]
    fn rooms(&self, used: Option<i128>, awarded: Option<i128>) -> Rooms {
        Rooms {
            cap: self
                .cap
                .map(|cap| used.and_then(|u| cap.checked_sub(u)).map(|r| r.max(0))),
            total: self.total_cap.map(|tc| {
                awarded
                    .zip(used)
                    .and_then(|(w, u)| tc.checked_sub(w)?.checked_sub(u))
                    .map(|r| r.max(0))
            }),
        }
    }

    /// (amount, reason) of one row from its raw amount, the first failed condition's reason and
    /// the caps' rooms. Null inputs behave as the SQL the kernel replaced: a null room leaves the
    /// amount uncut, except the clause cap, whose null room makes the amount null.
    #[inline(always)]
    fn row(
        &self,
        raw: Option<i128>,
        fail: Option<i32>,
        rooms: Rooms,
    ) -> (Option<i128>, Option<i32>) {
        if fail.is_some() {
            return (Some(0), fail);
        }
        let Some(raw) = raw else {
            return (Some(0), Some(self.miss_amount));
        };
        if money::is_overflow(raw) {
            return (Some(0), Some(self.overflow));
        }
        let mut a = Some(money::round_scaled(raw.max(0), self.unit));
        if let Some(room) = rooms.cap {
            a = a.zip(room).map(|(a, r)| a.min(r));
        }
        let mut emptied = false;
        if let (Some(x), Some(Some(r))) = (a, rooms.total) {
            if x > r {
                a = Some(r);
                emptied = r == 0;
            }
        }
        // More than a result can carry: refused like an overflow (as the reference's finish).
        if a.is_some_and(money::beyond_amount) {
            return (Some(0), Some(self.overflow));
        }
        let reason = if emptied {
            Some(self.totalcap)
        } else if a == Some(0) {
            Some(self.zero)
        } else {
            None
        };
        (a, reason)
    }

    /// The usual shape — only the raw amount varies, the caps' rooms are known (or absent) —
    /// as a loop without a branch on the data: every row is rounded and cut as if present
    /// (a null row's value is unused), then the null rows get their reason. Returns false,
    /// writing nothing, for the shapes `row` must decide row by row.
    fn uniform(
        &self,
        fail: Option<i32>,
        rooms: Rooms,
        raw: &Decimal128Array,
        amounts: &mut [i128],
        reasons: &mut [i32],
    ) -> bool {
        if let Some(f) = fail {
            // A failed condition decides every row: 0 and its reason.
            reasons.fill(f);
            return true;
        }
        // A null cap room makes every amount null: left to `row`.
        let cap = match rooms.cap {
            None => i128::MAX,
            Some(Some(r)) => r,
            Some(None) => return false,
        };
        // A null total-cap room leaves the amount uncut.
        let total = match rooms.total {
            Some(Some(r)) => r,
            _ => i128::MAX,
        };
        let unit = self.unit;
        let (zero, totalcap, overflow) = (self.zero, self.totalcap, self.overflow);
        for ((a, why), &x) in amounts.iter_mut().zip(reasons.iter_mut()).zip(raw.values()) {
            // Beyond exact arithmetic: 0 and its own reason (a select, not a branch).
            let over = money::is_overflow(x);
            let x = if over { 0 } else { x };
            let v = money::round_scaled(x.max(0), unit).min(cap);
            // Cut to nothing by the total cap (its own reason), or zero anyway.
            let emptied = v > total && total == 0;
            let v = v.min(total);
            // More than a result can carry: refused like an overflow.
            let over = over || money::beyond_amount(v);
            let v = if over { 0 } else { v };
            *a = v;
            *why = if over {
                overflow
            } else if emptied {
                totalcap
            } else if v == 0 {
                zero
            } else {
                0
            };
        }
        if let Some(nulls) = raw.nulls() {
            let mut next = 0;
            let mut missing = |from: usize, to: usize| {
                amounts[from..to].fill(0);
                reasons[from..to].fill(self.miss_amount);
            };
            for (start, end) in nulls.inner().set_slices() {
                missing(next, start);
                next = end;
            }
            missing(next, raw.len());
        }
        true
    }

    /// Writes each row's amount and reason (null outputs as 0, see `finish_udf`).
    #[inline(always)]
    fn fill(
        &self,
        raw: impl Fn(usize) -> Option<i128>,
        rest: impl Fn(usize) -> (Option<i32>, Rooms),
        amounts: &mut [i128],
        reasons: &mut [i32],
    ) {
        // Zipped slices, not pushes: no capacity or bounds check per row.
        for (i, (a, r)) in amounts.iter_mut().zip(reasons.iter_mut()).enumerate() {
            let (f, rooms) = rest(i);
            let (x, why) = self.row(raw(i), f, rooms);
            *a = x.unwrap_or(0);
            *r = why.unwrap_or(0);
        }
    }
}

/// The finish kernel's output: `a` the amount, `r` the reason code, `f` the amount in 分 (what
/// stage 0 reads: converted here, while the amounts are in cache, not by another pass).
pub(super) fn finish_fields() -> datafusion::arrow::datatypes::Fields {
    datafusion::arrow::datatypes::Fields::from(vec![
        Field::new("a", DEC, false),
        Field::new("r", DataType::Int32, false),
        Field::new("f", DataType::Int64, false),
    ])
}

/// The finish's struct column from its amounts and reasons.
/// `fens` when the caller has them, else converted from the amounts.
fn finish_struct(
    amounts: Vec<i128>,
    reasons: Vec<i32>,
    fens: Option<Vec<i64>>,
) -> Result<ColumnarValue> {
    use datafusion::arrow::array::StructArray;
    let fens = fens.unwrap_or_else(|| amounts.iter().map(|&a| to_fen(a)).collect());
    let fens = Int64Array::new(fens.into(), None);
    let amounts = Decimal128Array::new(amounts.into(), None).with_precision_and_scale(38, 12)?;
    let reasons = Int32Array::new(reasons.into(), None);
    Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
        finish_fields(),
        vec![Arc::new(amounts), Arc::new(reasons), Arc::new(fens)],
        None,
    )?)))
}

/// One slot's finish over (raw DEC, used DEC, awarded DEC, fail Int32) for `n` rows.
fn finish_eval(spec: &FinishSpec, a: &[ColumnarValue], n: usize) -> Result<ColumnarValue> {
    use datafusion::arrow::datatypes::Int32Type;
    let raw = Arg::<Decimal128Type>::of(&a[0])?;
    let used = Arg::<Decimal128Type>::of(&a[1])?;
    let awarded = Arg::<Decimal128Type>::of(&a[2])?;
    let fail = Arg::<Int32Type>::of(&a[3])?;
    let mut amounts = vec![0i128; n];
    let mut reasons = vec![0i32; n];
    // Monomorphised per argument shape, so the common one (only the raw amount varies) is
    // a loop without a branch on each argument's kind.
    match (&raw, &used, &awarded, &fail) {
        (Arg::Array(r), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f))
            if spec.uniform(*f, spec.rooms(*u, *w), r, &mut amounts, &mut reasons) => {}
        (Arg::Array(r), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f)) => {
            // The rooms are the same for every row: computed once.
            let (f, rooms) = (*f, spec.rooms(*u, *w));
            let (vals, nulls) = (r.values(), r.nulls());
            spec.fill(
                |i| nulls.is_none_or(|b| b.is_valid(i)).then(|| vals[i]),
                |_| (f, rooms),
                &mut amounts,
                &mut reasons,
            )
        }
        _ => spec.fill(
            |i| raw.get(i),
            |i| (fail.get(i), spec.rooms(used.get(i), awarded.get(i))),
            &mut amounts,
            &mut reasons,
        ),
    }
    finish_struct(amounts, reasons, None)
}

/// The kernel of one slot's finish over (raw DEC, used DEC, awarded DEC, fail Int32): a struct
/// of `a` (the amount) and `r` (the reason), computed in one pass. Neither is ever null: the
/// reason is 0 for none, and an amount the SQL would have left null (a cap room that overflowed
/// i128, ~10^26 元) is 0.
pub fn finish_udf(tag: &str, spec: FinishSpec) -> ScalarUDF {
    let fun = Arc::new(move |a: &[ColumnarValue]| -> Result<ColumnarValue> {
        finish_eval(&spec, a, rows(a))
    });
    create_udf(
        &format!("hq_finish_{tag}"),
        vec![DEC, DEC, DEC, DataType::Int32],
        DataType::Struct(finish_fields()),
        Volatility::Immutable,
        fun,
    )
}

/// One interval of a fused tier table and finish: its finished amount and reason, or the
/// rate its rows are multiplied by (and then finished one by one).
#[derive(Clone, Copy)]
struct Finished {
    amount: i128,
    reason: i32,
    fen: i64,
    rate: Option<i128>,
}

/// `finish(tiers(x))` when the table is fixed and the rooms and failure are the same for every
/// row: each interval's outcome is computed once, so a row costs its interval's comparisons
/// and a lookup; only a rate's rows are multiplied and finished one by one. Null rows get
/// `missing`.
#[inline(always)]
fn finished_rows(
    interval: impl Fn(i128) -> usize,
    by: &[Finished],
    rate_row: impl Fn(Option<i128>) -> (i128, i32),
    missing: (i128, i32),
    x: &Decimal128Array,
) -> (Vec<i128>, Vec<i32>, Vec<i64>) {
    let n = x.len();
    let (mut amounts, mut reasons, mut fens) = (vec![0i128; n], vec![0i32; n], vec![0i64; n]);
    let rows = amounts
        .iter_mut()
        .zip(reasons.iter_mut())
        .zip(fens.iter_mut());
    for (((a, r), y), &v) in rows.zip(x.values()) {
        let f = by[interval(v)];
        (*a, *r, *y) = match f.rate {
            None => (f.amount, f.reason, f.fen),
            Some(rate) => {
                let (a, r) = rate_row(Some(money::mul_checked(v, rate)));
                (a, r, to_fen(a))
            }
        };
    }
    if let Some(nulls) = x.nulls() {
        let mut next = 0;
        let mut fill = |from: usize, to: usize| {
            amounts[from..to].fill(missing.0);
            reasons[from..to].fill(missing.1);
            fens[from..to].fill(to_fen(missing.0));
        };
        for (start, end) in nulls.inner().set_slices() {
            fill(next, start);
            next = end;
        }
        fill(next, n);
    }
    (amounts, reasons, fens)
}

/// A slot whose raw amount is a tier table, finished in the same kernel: arguments are the
/// table's (`Tiers::eval`) followed by the finish's used, awarded and fail. The same struct as
/// `finish_udf` of `tiers_udf`, without the table's amounts as a column in between; shapes the
/// fused loop does not cover are evaluated as exactly that composition.
pub fn tier_finish_udf(tag: &str, tiers: Tiers, spec: FinishSpec) -> ScalarUDF {
    use datafusion::arrow::datatypes::Int32Type;
    let k = tiers.rates.len();
    let fun = Arc::new(move |a: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(a);
        let (targs, fargs) = a.split_at(1 + k);
        let vals = targs[1..]
            .iter()
            .map(Arg::<Decimal128Type>::of)
            .collect::<Result<Vec<_>>>()?;
        let used = Arg::<Decimal128Type>::of(&fargs[0])?;
        let awarded = Arg::<Decimal128Type>::of(&fargs[1])?;
        let fail = Arg::<Int32Type>::of(&fargs[2])?;
        if let (ColumnarValue::Array(x), Some(by), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f)) =
            (&targs[0], tiers.fixed(&vals), &used, &awarded, &fail)
        {
            let (f, rooms) = (*f, spec.rooms(*u, *w));
            let done = |raw: Option<i128>| {
                let (a, r) = spec.row(raw, f, rooms);
                (a.unwrap_or(0), r.unwrap_or(0))
            };
            let by: Vec<Finished> = by
                .iter()
                .map(|b| match b.rate {
                    None => {
                        let (amount, reason) = done(Some(b.amount));
                        Finished {
                            amount,
                            reason,
                            fen: to_fen(amount),
                            rate: None,
                        }
                    }
                    Some(_) => Finished {
                        amount: 0,
                        reason: 0,
                        fen: 0,
                        rate: b.rate,
                    },
                })
                .collect();
            let x = dec(x)?;
            let (amounts, reasons, fens) = with_interval!(
                tiers.map,
                iv => finished_rows(iv, &by, done, done(None), x)
            );
            return finish_struct(amounts, reasons, Some(fens));
        }
        let raw = ColumnarValue::Array(Arc::new(tiers.eval(targs, n)?));
        let rest: Vec<ColumnarValue> = std::iter::once(raw).chain(fargs.iter().cloned()).collect();
        finish_eval(&spec, &rest, n)
    });
    let mut args = vec![DEC; k + 1];
    args.extend([DEC, DEC, DataType::Int32]);
    create_udf(
        &format!("hq_tierfinish_{tag}"),
        args,
        DataType::Struct(finish_fields()),
        Volatility::Immutable,
        fun,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udf::tiers::TierBounds;
    use datafusion::arrow::array::StructArray;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::ScalarFunctionArgs;
    use huiqi_ir::money::{RoundMode, RoundUnit, ONE};
    use proptest::prelude::*;

    /// A finish with reason codes 7 (missing amount), 8 (total cap) and 9 (zero).
    fn test_spec(unit: Rounding, cap: Option<i128>, total_cap: Option<i128>) -> FinishSpec {
        FinishSpec {
            unit,
            cap,
            total_cap,
            miss_amount: 7,
            totalcap: 8,
            zero: 9,
            overflow: 10,
        }
    }

    proptest! {
        #[test]
        fn uniform_finish_equals_row_by_row(
            raw in prop::collection::vec(prop::option::weighted(0.8, prop_oneof![-3i128..30, any::<i128>()]), 0..40),
            unit in (0..RoundUnit::ALL.len(), 0..RoundMode::ALL.len())
                .prop_map(|(u, m)| Rounding { unit: RoundUnit::ALL[u], mode: RoundMode::ALL[m] }),
            cap in prop::option::of(0i128..20),
            total_cap in prop::option::of(0i128..20),
            used in prop::option::weighted(0.9, 0i128..10),
            awarded in prop::option::weighted(0.9, 0i128..10),
            fail in prop::option::weighted(0.2, 1i32..4),
        ) {
            // Small amounts on a coarse unit so rounding, caps and zero all happen.
            let scale = |x: i128| x.saturating_mul(ONE);
            let raw: Vec<Option<i128>> = raw.into_iter().map(|x| x.map(scale)).collect();
            let spec = test_spec(unit, cap.map(scale), total_cap.map(scale));
            let rooms = spec.rooms(used.map(scale), awarded.map(scale));
            let x = Decimal128Array::from(raw.clone());
            let n = raw.len();
            let (mut a, mut r) = (vec![0i128; n], vec![0i32; n]);
            if spec.uniform(fail, rooms, &x, &mut a, &mut r) {
                for (i, v) in raw.iter().enumerate() {
                    let (wa, wr) = spec.row(*v, fail, rooms);
                    prop_assert_eq!((a[i], r[i]), (wa.unwrap_or(0), wr.unwrap_or(0)), "row {}", i);
                }
            } else {
                prop_assert_eq!(rooms.cap, Some(None));
            }
        }

        #[test]
        fn fused_tier_finish_equals_the_composition(
            arms in prop::collection::vec(
                ((-4i128..4, any::<bool>(), prop::option::of((-4i128..8, any::<bool>()))),
                 prop_oneof![
                     (-3i128..12).prop_map(|a| (Some(a * ONE / 2), None)),
                     (-3i128..3).prop_map(|r| (None, Some(r * ONE / 2))),
                     Just((None, None)),
                 ]),
                0..5,
            ),
            values in prop::collection::vec(prop::option::weighted(0.85, prop_oneof![8 => (-10i128..10).prop_map(|x| x * ONE / 2), 1 => any::<i128>()]), 1..40),
            unit in (0..RoundUnit::ALL.len(), 0..RoundMode::ALL.len())
                .prop_map(|(u, m)| Rounding { unit: RoundUnit::ALL[u], mode: RoundMode::ALL[m] }),
            cap in prop::option::of(0i128..8),
            total_cap in prop::option::of(0i128..8),
            used in prop::option::weighted(0.9, 0i128..4),
            awarded in prop::option::weighted(0.9, 0i128..4),
            fail in prop::option::weighted(0.2, 1i32..4),
        ) {
            let scale = |x: i128| x * ONE;
            let bounds: Vec<TierBounds> = arms
                .iter()
                .map(|((lo, lo_in, hi), _)| (scale(*lo), *lo_in, hi.map(|(h, i)| (scale(h), i))))
                .collect();
            let rates: Vec<Option<i128>> = arms.iter().map(|(_, (_, r))| *r).collect();
            let tiers = Tiers::new(&bounds, rates);
            let spec = test_spec(unit, cap.map(scale), total_cap.map(scale));
            let dec_scalar = |v: Option<i128>| ColumnarValue::Scalar(ScalarValue::Decimal128(v, 38, 12));
            let n = values.len();
            let x = Decimal128Array::from(values).with_precision_and_scale(38, 12).unwrap();
            let mut targs = vec![ColumnarValue::Array(Arc::new(x))];
            targs.extend(arms.iter().map(|(_, (a, _))| dec_scalar(*a)));
            let fargs = vec![
                dec_scalar(used.map(scale)),
                dec_scalar(awarded.map(scale)),
                ColumnarValue::Scalar(ScalarValue::Int32(fail)),
            ];
            let all: Vec<ColumnarValue> = targs.iter().chain(&fargs).cloned().collect();
            let f = tier_finish_udf("t", tiers.clone(), spec.clone());
            let rf = Arc::new(Field::new("f", DataType::Struct(finish_fields()), false));
            let got = f
                .invoke_with_args(ScalarFunctionArgs {
                    arg_fields: all.iter().map(|a| Arc::new(Field::new("a", a.data_type(), true))).collect(),
                    args: all,
                    number_rows: n,
                    return_field: rf,
                    config_options: Arc::new(Default::default()),
                })
                .unwrap()
                .to_array(n)
                .unwrap();
            let raw = ColumnarValue::Array(Arc::new(tiers.eval(&targs, n).unwrap()));
            let rest: Vec<ColumnarValue> = std::iter::once(raw).chain(fargs).collect();
            let want = finish_eval(&spec, &rest, n).unwrap().to_array(n).unwrap();
            let (g, w) = (got.as_any().downcast_ref::<StructArray>().unwrap(), want.as_any().downcast_ref::<StructArray>().unwrap());
            prop_assert_eq!(g, w);
        }
    }
}
