//! Exact decimal kernels as DataFusion UDFs. Every number is Decimal128(38, 12) — the same
//! 10^-12 fixed point the reference evaluator uses (`huiqi_ir::money`) — so both engines
//! compute the same integers. Add, subtract and compare are native; these are the rest:
//! `arith` (multiply, divide, round, cagr, 分, shares), `tiers` (a tier table as one kernel),
//! `finish` (a slot's rounding, caps and reason as one kernel, fused with its tier table when
//! it has one), `fail` (a clause's first failed condition), `fields` (struct fields, nulls as 0).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, PrimitiveArray};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Decimal128Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use huiqi_ir::money::{self, RoundMode, RoundUnit, Rounding, ONE};
use rust_decimal::Decimal;

mod arith;
mod dates;
mod fail;
mod fields;
mod finish;
mod tiers;

pub use fail::first_fail_udf;
pub use finish::{finish_udf, tier_finish_udf, FinishSpec};
pub use tiers::{as_tiers, tiers_udf, TierBounds, Tiers};

use arith::{binary, cagr_udf, fen_udf, share_udf, unary};
use fields::{struct_field_udf, zero_nulls_udf};

pub const DEC: DataType = DataType::Decimal128(38, 12);

pub(crate) fn to_array(v: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    v.clone().into_array(n)
}

pub(crate) fn dec(a: &ArrayRef) -> Result<&Decimal128Array> {
    a.as_any().downcast_ref::<Decimal128Array>().ok_or_else(|| {
        DataFusionError::Internal(format!(
            "expected Decimal128(38, 12), got {}",
            a.data_type()
        ))
    })
}

pub(crate) fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .map(|a| match a {
            ColumnarValue::Array(x) => x.len(),
            ColumnarValue::Scalar(_) => 1,
        })
        .max()
        .unwrap_or(1)
}

/// Marks a failed kernel (overflow, division by zero) in a values buffer; outside Decimal128(38)'s
/// range, so no result equals it.
pub(crate) const FAILED: i128 = i128::MIN;

/// `f` over every value of `a` as a plain loop over the values buffer (nulls kept as they are),
/// so it vectorises; only if some valid row failed is it redone with a null per failure.
pub(crate) fn map_values(a: &Decimal128Array, f: impl Fn(i128) -> Option<i128>) -> Decimal128Array {
    let out: Decimal128Array = a.unary::<_, Decimal128Type>(|x| f(x).unwrap_or(FAILED));
    // A plain scan first; rows already null may hold anything, so only a hit is checked row by row.
    let failed = out.values().contains(&FAILED)
        && out
            .iter()
            .zip(a.iter())
            .any(|(o, x)| x.is_some() && o == Some(FAILED));
    if !failed {
        return out;
    }
    a.unary_opt::<_, Decimal128Type>(&f)
}

/// One argument of a row kernel: a scalar read once, or an array read per row.
pub(crate) enum Arg<T: ArrowPrimitiveType> {
    Scalar(Option<T::Native>),
    Array(PrimitiveArray<T>),
}

impl<T: ArrowPrimitiveType> Arg<T> {
    pub(crate) fn of(v: &ColumnarValue) -> Result<Self> {
        match v {
            ColumnarValue::Scalar(s) => {
                let a = s.to_array_of_size(1)?;
                let a = a.as_primitive_opt::<T>().ok_or_else(|| {
                    DataFusionError::Internal(format!("kernel argument: got {}", s.data_type()))
                })?;
                Ok(Arg::Scalar((!a.is_null(0)).then(|| a.value(0))))
            }
            ColumnarValue::Array(a) => Ok(Arg::Array(
                a.as_primitive_opt::<T>()
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("kernel argument: got {}", a.data_type()))
                    })?
                    .clone(),
            )),
        }
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            Arg::Scalar(s) => *s,
            Arg::Array(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// Every UDF the compiler may emit, in one registry (so a cluster's executors can be built from it).
pub fn all() -> Vec<ScalarUDF> {
    vec![
        // The reference's checked arithmetic (`huiqi_ir::money`): a result beyond the range of
        // exact arithmetic is ±OVERFLOW, which every kernel keeps; a division by zero is null.
        binary("hq_add", |a, b| Some(money::add_checked(a, b))),
        binary("hq_sub", |a, b| Some(money::sub_checked(a, b))),
        binary("hq_mul", |a, b| Some(money::mul_checked(a, b))),
        binary("hq_div", money::div_checked),
        unary("hq_floor", |x| {
            Some(if money::is_overflow(x) {
                x
            } else {
                x.div_euclid(ONE) * ONE
            })
        }),
        cagr_udf(),
        // min/max with nulls propagated: a CASE would filter and merge every batch.
        binary("hq_min", |a, b| Some(a.min(b))),
        binary("hq_max", |a, b| Some(a.max(b))),
        fen_udf(),
        struct_field_udf("hq_finish_amount", 0, DEC),
        struct_field_udf("hq_finish_reason", 1, DataType::Int32),
        struct_field_udf("hq_finish_fen", 2, DataType::Int64),
        zero_nulls_udf::<datafusion::arrow::datatypes::Int64Type>("hq_nz64"),
        zero_nulls_udf::<datafusion::arrow::datatypes::Int32Type>("hq_nz32"),
        // Claims and budgets are non-negative: truncation is the floor.
        share_udf("hq_share", |a, b, d| a * b / d, false),
        share_udf("hq_share_rem", |a, b, d| a * b % d, true),
        dates::shift_udf(),
        dates::between_udf("hq_days_between", false),
        dates::between_udf("hq_months_between", true),
        dates::year_udf(),
    ]
    .into_iter()
    // `round(x, unit, mode)`: one kernel per unit and mode (`round_name`).
    .chain(RoundUnit::ALL.into_iter().flat_map(|unit| {
        RoundMode::ALL.into_iter().map(move |mode| {
            let r = Rounding { unit, mode };
            unary(&round_name(r), move |x| Some(round_in_range(x, r)))
        })
    }))
    .collect()
}

/// The kernel of a rounding: `hq_round_{10^k 分}_{mode}`.
pub fn round_name(r: Rounding) -> String {
    format!(
        "hq_round_{}_{}",
        r.unit.scaled() / (money::ONE / 100),
        r.mode.name()
    )
}

/// `round` of a number; an overflow stays as it is (like the reference's).
#[inline(always)]
fn round_in_range(x: i128, r: Rounding) -> i128 {
    if money::is_overflow(x) {
        x
    } else {
        money::round_scaled(x, r)
    }
}

/// A Decimal128(38, 12) literal.
pub fn dec_lit(d: Decimal) -> ScalarValue {
    ScalarValue::Decimal128(money::to_scaled(d), 38, 12)
}
