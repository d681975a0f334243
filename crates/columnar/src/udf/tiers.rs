//! A tier table as one kernel: its arms become sorted edges with the first arm of each
//! interval, so a row's arm is a count of comparisons and its amount a table lookup.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Decimal128Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use huiqi_ir::money;

use super::{dec, to_array, Arg, DEC, FAILED};

/// One arm of a tier table: the lower bound (inclusive?) and the upper bound, if any.
pub type TierBounds = (i128, bool, Option<(i128, bool)>);

/// A tier table's arms as an interval map over the fixed-point line: `edges` sorted and
/// distinct, interval 0 below `edges[0]`, interval j ≥ 1 from `edges[j - 1]` up to (not
/// including) `edges[j]`; `arm[j]` is the first arm whose bounds hold in interval j (None: no
/// arm does, the amount is 0). A value's interval is the number of edges at or below it: a
/// few comparisons without a branch on the data, where a scan of the arms in order would
/// branch on every row's arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TierMap {
    pub(super) edges: Vec<i128>,
    pub(super) arm: Vec<Option<usize>>,
}

impl TierMap {
    /// From each arm's inclusive integer bounds (an empty arm has lo > hi).
    fn new(spans: &[(i128, i128)]) -> Self {
        let mut edges: Vec<i128> = spans
            .iter()
            .filter(|(lo, hi)| lo <= hi)
            .flat_map(|&(lo, hi)| [Some(lo), hi.checked_add(1)])
            .flatten()
            .collect();
        edges.sort_unstable();
        edges.dedup();
        // Every arm starts at an edge, so no arm holds below the first one; within an interval
        // every arm holds everywhere or nowhere, so its first value decides.
        let arm = std::iter::once(None)
            .chain(
                edges
                    .iter()
                    .map(|&v| spans.iter().position(|&(lo, hi)| lo <= v && v <= hi)),
            )
            .collect();
        TierMap { edges, arm }
    }

    #[inline(always)]
    pub(super) fn interval(&self, v: i128) -> usize {
        self.edges.iter().map(|&e| (v >= e) as usize).sum()
    }
}

/// What one interval of a tier table gives when every arm is a fixed amount or a rate.
#[derive(Clone, Copy)]
pub(super) struct Fixed {
    pub(super) amount: i128,
    /// `x × rate` instead of `amount`.
    pub(super) rate: Option<i128>,
}

/// A value's interval among `N` edges as a fixed number of comparisons (the count unrolls).
#[inline(always)]
pub(crate) fn edges_fn<const N: usize>(edges: &[i128]) -> impl Fn(i128) -> usize + Copy {
    // PANIC SAFETY: `with_interval!` calls this with N the number of edges it matched on.
    #[allow(clippy::expect_used)]
    let edges: [i128; N] = edges.try_into().expect("N edges");
    move |v| edges.iter().map(|&e| (v >= e) as usize).sum()
}

/// Binds `$iv` to `$map`'s interval function and evaluates `$body` with it: unrolled for up to
/// 6 edges (one copy of `$body` per count), the map's own loop beyond.
macro_rules! with_interval {
    ($map:expr, $iv:ident => $body:expr) => {{
        let e = &$map.edges;
        with_interval!(@counts e, $map, $iv, $body; 0 1 2 3 4 5 6)
    }};
    (@counts $e:ident, $map:expr, $iv:ident, $body:expr; $($n:literal)*) => {
        match $e.len() {
            $($n => { let $iv = $crate::udf::tiers::edges_fn::<$n>($e); $body })*
            _ => { let $iv = |v| $map.interval(v); $body }
        }
    };
}

pub(super) use with_interval;

/// Every row's amount when every arm is a fixed amount or a rate: the interval from
/// `interval`, the amount from a table, and the multiplication only in a rate's interval.
/// Null rows get whatever their (unused) value gives; the input's null buffer marks them.
/// Returns the amounts and whether some row failed (never: an overflow is ±OVERFLOW).
#[inline(always)]
fn fixed_tiers(
    interval: impl Fn(i128) -> usize,
    by: &[Fixed],
    values: &[i128],
) -> (Vec<i128>, bool) {
    let out = values
        .iter()
        .map(|&v| {
            let f = by[interval(v)];
            match f.rate {
                None => f.amount,
                // An overflow is carried on as ±OVERFLOW, like every kernel's.
                Some(r) => money::mul_checked(v, r),
            }
        })
        .collect();
    (out, false)
}

/// A tier table (`金额 tiers x { [lo, hi) => amount … }`) as a kernel over Decimal128 values:
/// `tiers_udf` evaluates it alone, `tier_finish_udf` together with its slot's finish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tiers {
    pub(super) map: TierMap,
    /// Arm k is "the looked-up value × rates[k]" when set.
    pub(super) rates: Vec<Option<i128>>,
}

impl Tiers {
    pub fn new(arms: &[TierBounds], rates: Vec<Option<i128>>) -> Self {
        // Each arm as inclusive integer bounds on the fixed-point scale: an open end moves by
        // one unit of the last place. An arm that no integer satisfies becomes (1, 0).
        let spans: Vec<(i128, i128)> = arms
            .iter()
            .map(|&(lo, lo_in, hi)| {
                let lo = if lo_in { Some(lo) } else { lo.checked_add(1) };
                let hi = match hi {
                    None => Some(i128::MAX),
                    Some((h, true)) => Some(h),
                    Some((h, false)) => h.checked_sub(1),
                };
                lo.zip(hi).unwrap_or((1, 0))
            })
            .collect();
        Tiers {
            map: TierMap::new(&spans),
            rates,
        }
    }

    /// Every interval's amount when no arm varies by row (nor is null): the usual table.
    pub(super) fn fixed(&self, vals: &[Arg<Decimal128Type>]) -> Option<Vec<Fixed>> {
        self.map
            .arm
            .iter()
            .map(|a| match a {
                None => Some(Fixed {
                    amount: 0,
                    rate: None,
                }),
                Some(a) => match (self.rates[*a], &vals[*a]) {
                    (Some(r), _) => Some(Fixed {
                        amount: 0,
                        rate: Some(r),
                    }),
                    (None, Arg::Scalar(Some(v))) => Some(Fixed {
                        amount: *v,
                        rate: None,
                    }),
                    _ => None,
                },
            })
            .collect()
    }

    /// `args[0]` is the looked-up value, `args[1 + k]` arm k's amount (unused for a rate arm).
    pub(super) fn eval(&self, args: &[ColumnarValue], n: usize) -> Result<Decimal128Array> {
        let x = to_array(&args[0], n)?;
        let x = dec(&x)?;
        // Scalar arms (the usual fixed amounts) are read once, not expanded to arrays.
        let vals = args[1..]
            .iter()
            .map(Arg::<Decimal128Type>::of)
            .collect::<Result<Vec<_>>>()?;
        let values = x.values();
        // A null arm or an overflow is marked FAILED, and only then are the nulls rebuilt from
        // the values; a null value gives a null (the input's null buffer is reused).
        let (out, failed) = match self.fixed(&vals) {
            Some(by) => with_interval!(self.map, iv => fixed_tiers(iv, &by, values)),
            None => general_tiers(&self.map, &self.rates, &vals, x),
        };
        let out = if failed {
            let valid: Vec<bool> = (0..n).map(|i| x.is_valid(i) && out[i] != FAILED).collect();
            Decimal128Array::new(out.into(), Some(NullBuffer::from(valid)))
        } else {
            Decimal128Array::new(out.into(), x.nulls().cloned())
        };
        Ok(out.with_precision_and_scale(38, 12)?)
    }
}

/// `Tiers` as a DataFusion function: its own type, so the compiler can recognise a tier
/// table's expression (`as_tiers`) and fuse it with the slot's finish.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TiersUdf {
    name: String,
    signature: Signature,
    tiers: Tiers,
}

impl ScalarUDFImpl for TiersUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DEC)
    }
    fn invoke_with_args(&self, a: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out = self.tiers.eval(&a.args, a.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// A tier table as one kernel: `args[0]` is the looked-up value, `args[1 + k]` arm k's amount.
/// Null for a null value, the first arm whose bounds hold otherwise, 0 when none does. A CASE
/// would filter the batch and merge the results once per arm. An arm with `rates[k]` = r is
/// "the looked-up value × r" (`按营业收入的0.2%`), multiplied only for the rows in that arm
/// instead of for every row before the kernel; its argument is unused.
pub fn tiers_udf(name: &str, arms: Vec<TierBounds>, rates: Vec<Option<i128>>) -> ScalarUDF {
    let k = arms.len();
    ScalarUDF::new_from_impl(TiersUdf {
        name: name.into(),
        signature: Signature::exact(vec![DEC; k + 1], Volatility::Immutable),
        tiers: Tiers::new(&arms, rates),
    })
}

/// The table and arguments of a tier table's expression (`tiers_udf`), if `e` is one.
pub fn as_tiers(
    e: &datafusion::logical_expr::Expr,
) -> Option<(Tiers, Vec<datafusion::logical_expr::Expr>)> {
    match e {
        datafusion::logical_expr::Expr::ScalarFunction(f) => {
            let t = f.func.inner().downcast_ref::<TiersUdf>()?;
            Some((t.tiers.clone(), f.args.clone()))
        }
        _ => None,
    }
}

/// Any tier table, row by row: arms whose amount is a column or null. Returns the amounts and
/// whether some valid row failed (a null arm or an overflow, marked FAILED).
fn general_tiers(
    map: &TierMap,
    rates: &[Option<i128>],
    vals: &[Arg<datafusion::arrow::datatypes::Decimal128Type>],
    x: &Decimal128Array,
) -> (Vec<i128>, bool) {
    let mut out = vec![0i128; x.len()];
    let mut failed = false;
    for (i, (o, &v)) in out.iter_mut().zip(x.values()).enumerate() {
        if x.is_null(i) {
            continue;
        }
        let picked = match map.arm[map.interval(v)] {
            None => Some(0),
            Some(a) => match rates[a] {
                Some(r) => Some(money::mul_checked(v, r)),
                None => vals[a].get(i),
            },
        };
        failed |= picked.is_none();
        *o = picked.unwrap_or(FAILED);
    }
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use huiqi_ir::money::ONE;
    use proptest::prelude::*;

    /// Bounds near each other (so arms overlap, touch and leave gaps) and at the ends of i128.
    fn bound() -> impl Strategy<Value = i128> {
        prop_oneof![8 => -6i128..6, 1 => Just(i128::MIN), 1 => Just(i128::MAX)]
    }

    fn spans() -> impl Strategy<Value = Vec<(i128, i128)>> {
        prop::collection::vec((bound(), bound()), 0..4)
    }

    /// Values near the bounds, and large ones whose product with a rate overflows.
    fn value() -> impl Strategy<Value = i128> {
        prop_oneof![8 => -8i128..8, 1 => Just(i128::MIN), 1 => Just(i128::MAX), 1 => any::<i128>()]
    }

    proptest! {
        #[test]
        fn tier_map_finds_the_first_arm(spans in spans(), v in value()) {
            let map = TierMap::new(&spans);
            let first = spans.iter().position(|&(lo, hi)| lo <= v && v <= hi);
            prop_assert_eq!(map.arm[map.interval(v)], first);
        }

        #[test]
        fn table_kernel_equals_row_by_row(
            spans in spans(),
            arms in prop::collection::vec(
                prop_oneof![(-5i128..5).prop_map(|a| (a * ONE, None)), (-3i128..3).prop_map(|r| (0, Some(r * ONE / 2)))],
                5,
            ),
            values in prop::collection::vec(prop::option::weighted(0.9, value()), 0..40),
        ) {
            let map = TierMap::new(&spans);
            let rates: Vec<Option<i128>> = arms.iter().map(|a| a.1).collect();
            let vals: Vec<Arg<Decimal128Type>> =
                arms.iter().map(|a| Arg::Scalar(Some(a.0))).collect();
            let by: Vec<Fixed> = map
                .arm
                .iter()
                .map(|a| match a {
                    None => Fixed { amount: 0, rate: None },
                    Some(k) => Fixed { amount: arms[*k].0, rate: arms[*k].1 },
                })
                .collect();
            let x = Decimal128Array::from(values.clone());
            let (got, _) = with_interval!(map, iv => fixed_tiers(iv, &by, x.values()));
            let (want, _) = general_tiers(&map, &rates, &vals, &x);
            for (i, v) in values.iter().enumerate() {
                if v.is_some() {
                    prop_assert_eq!(got[i], want[i], "row {}", i);
                }
            }
        }
    }
}
