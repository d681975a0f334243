//! Exact decimal kernels as DataFusion UDFs. Every number is Decimal128(38, 12) — the same
//! 10^-12 fixed point the reference evaluator uses (`huiqi_ir::money`) — so both engines
//! compute the same integers. Add, subtract and compare are native; these are the rest.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use huiqi_ir::money::{self, RoundUnit, ONE};
use rust_decimal::Decimal;

pub const DEC: DataType = DataType::Decimal128(38, 12);

fn to_array(v: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    v.clone().into_array(n)
}

fn dec(a: &ArrayRef) -> Result<&Decimal128Array> {
    a.as_any().downcast_ref::<Decimal128Array>().ok_or_else(|| {
        DataFusionError::Internal(format!(
            "expected Decimal128(38, 12), got {}",
            a.data_type()
        ))
    })
}

fn rows(args: &[ColumnarValue]) -> usize {
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
const FAILED: i128 = i128::MIN;

/// `f` over every value of `a` as a plain loop over the values buffer (nulls kept as they are),
/// so it vectorises; only if some valid row failed is it redone with a null per failure.
fn map_values(a: &Decimal128Array, f: impl Fn(i128) -> Option<i128>) -> Decimal128Array {
    use datafusion::arrow::datatypes::Decimal128Type;
    let out: Decimal128Array = a.unary::<_, Decimal128Type>(|x| f(x).unwrap_or(FAILED));
    let failed = out
        .iter()
        .zip(a.iter())
        .any(|(o, x)| x.is_some() && o == Some(FAILED));
    if !failed {
        return out;
    }
    a.unary_opt::<_, Decimal128Type>(&f)
}

/// Applies `f` to every non-null pair (a scalar side is read once, not expanded).
fn binary(name: &str, f: fn(i128, i128) -> Option<i128>) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let scalar = |v: &ColumnarValue| -> Option<Option<i128>> {
            match v {
                ColumnarValue::Scalar(ScalarValue::Decimal128(x, 38, 12)) => Some(*x),
                _ => None,
            }
        };
        let out: Decimal128Array = match (scalar(&args[0]), scalar(&args[1])) {
            (_, Some(b)) => {
                let a = to_array(&args[0], n)?;
                let a = dec(&a)?;
                match b {
                    None => Decimal128Array::new_null(a.len()),
                    Some(b) => map_values(a, |x| f(x, b)),
                }
            }
            (Some(a), None) => {
                let b = to_array(&args[1], n)?;
                let b = dec(&b)?;
                match a {
                    None => Decimal128Array::new_null(b.len()),
                    Some(a) => map_values(b, |y| f(a, y)),
                }
            }
            (None, None) => {
                let a = to_array(&args[0], n)?;
                let b = to_array(&args[1], n)?;
                let (a, b) = (dec(&a)?, dec(&b)?);
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => f(x, y),
                        _ => None,
                    })
                    .collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(name, vec![DEC, DEC], DEC, Volatility::Immutable, fun)
}

fn unary(name: &str, f: fn(i128) -> Option<i128>) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let out = map_values(dec(&a)?, f);
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(name, vec![DEC], DEC, Volatility::Immutable, fun)
}

fn cagr_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let b = to_array(&args[1], n)?;
        let k = to_array(&args[2], n)?;
        let k = k
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("cagr periods".into()))?;
        let (a, b) = (dec(&a)?, dec(&b)?);
        let out: Decimal128Array = (0..n)
            .map(|i| {
                if a.is_null(i) || b.is_null(i) || k.is_null(i) {
                    return None;
                }
                let (x, y) = (
                    money::from_scaled(a.value(i))?,
                    money::from_scaled(b.value(i))?,
                );
                money::cagr(x, y, k.value(i) as u32).and_then(money::to_scaled)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(
        "hq_cagr",
        vec![DEC, DEC, DataType::Int64],
        DEC,
        Volatility::Immutable,
        fun,
    )
}

/// A rounded amount (10^-12 元) → integer 分, truncated like `huiqi_ir::money::to_fen` of a
/// rounded value. i128 division is a library call; almost every amount fits an i64, where it
/// is one instruction.
fn fen_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let out: Int64Array = dec(&a)?
            .iter()
            .map(|v| {
                v.map(|v| match i64::try_from(v) {
                    Ok(x) => x / 10_000_000_000,
                    Err(_) => (v / 10_000_000_000) as i64,
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        "hq_fen",
        vec![DEC],
        DataType::Int64,
        Volatility::Immutable,
        fun,
    )
}

/// A pro-rata share in 分: `f(claim, budget, demand)` with the product in i128 (it can pass
/// i64); null for a zero demand.
fn share_udf(name: &str, f: fn(i128, i128, i128) -> i128) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let cols = args
            .iter()
            .map(|x| to_array(x, n))
            .collect::<Result<Vec<_>>>()?;
        let ints = cols
            .iter()
            .map(|x| {
                x.as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("share: expected Int64".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Int64Array = (0..n)
            .map(|i| {
                if ints.iter().any(|x| x.is_null(i)) || ints[2].value(i) == 0 {
                    return None;
                }
                let v = |k: usize| ints[k].value(i) as i128;
                i64::try_from(f(v(0), v(1), v(2))).ok()
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        name,
        vec![DataType::Int64, DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        fun,
    )
}

/// One arm of a tier table: the lower bound (inclusive?) and the upper bound, if any.
pub type TierBounds = (i128, bool, Option<(i128, bool)>);

/// A tier table as one kernel: `args[0]` is the looked-up value, `args[1 + k]` arm k's amount.
/// Null for a null value, the first arm whose bounds hold otherwise, 0 when none does. A CASE
/// would filter the batch and merge the results once per arm.
pub fn tiers_udf(name: &str, arms: Vec<TierBounds>) -> ScalarUDF {
    let k = arms.len();
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let x = to_array(&args[0], n)?;
        let x = dec(&x)?;
        // Scalar arms (the usual fixed amounts) are read once, not expanded to arrays.
        enum V {
            Scalar(Option<i128>),
            Array(ArrayRef),
        }
        let vals = args[1..]
            .iter()
            .map(|v| match v {
                ColumnarValue::Scalar(ScalarValue::Decimal128(s, _, _)) => Ok(V::Scalar(*s)),
                other => to_array(other, n).map(V::Array),
            })
            .collect::<Result<Vec<_>>>()?;
        let arrays = vals
            .iter()
            .map(|v| match v {
                V::Array(a) => dec(a).map(Some),
                V::Scalar(_) => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Decimal128Array = (0..n)
            .map(|i| {
                if x.is_null(i) {
                    return None;
                }
                let v = x.value(i);
                let arm = arms.iter().position(|&(lo, lo_in, hi)| {
                    (if lo_in { v >= lo } else { v > lo })
                        && hi.is_none_or(|(h, h_in)| if h_in { v <= h } else { v < h })
                });
                match arm {
                    None => Some(0),
                    Some(a) => match (&vals[a], arrays[a]) {
                        (V::Scalar(s), _) => *s,
                        (_, Some(arr)) => (!arr.is_null(i)).then(|| arr.value(i)),
                        _ => None,
                    },
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(name, vec![DEC; k + 1], DEC, Volatility::Immutable, fun)
}

/// Every UDF the compiler may emit, in one registry (so a cluster's executors can be built from it).
pub fn all() -> Vec<ScalarUDF> {
    vec![
        binary("hq_mul", money::mul_scaled),
        binary("hq_div", money::div_scaled),
        unary("hq_floor", |x| Some(x.div_euclid(ONE) * ONE)),
        unary("hq_round_fen", |x| {
            Some(money::round_scaled(x, RoundUnit::Fen))
        }),
        unary("hq_round_yuan", |x| {
            Some(money::round_scaled(x, RoundUnit::Yuan))
        }),
        unary("hq_round_wan", |x| {
            Some(money::round_scaled(x, RoundUnit::Wan))
        }),
        cagr_udf(),
        // min/max with nulls propagated: a CASE would filter and merge every batch.
        binary("hq_min", |a, b| Some(a.min(b))),
        binary("hq_max", |a, b| Some(a.max(b))),
        fen_udf(),
        // Claims and budgets are non-negative: truncation is the floor.
        share_udf("hq_share", |a, b, d| a * b / d),
        share_udf("hq_share_rem", |a, b, d| a * b % d),
    ]
}

/// A Decimal128(38, 12) literal.
pub fn dec_lit(d: Decimal) -> ScalarValue {
    ScalarValue::Decimal128(money::to_scaled(d), 38, 12)
}
