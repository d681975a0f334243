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
                    Some(b) => a.iter().map(|x| x.and_then(|x| f(x, b))).collect(),
                }
            }
            (Some(a), None) => {
                let b = to_array(&args[1], n)?;
                let b = dec(&b)?;
                match a {
                    None => Decimal128Array::new_null(b.len()),
                    Some(a) => b.iter().map(|y| y.and_then(|y| f(a, y))).collect(),
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
        let out: Decimal128Array = dec(&a)?.iter().map(|x| x.and_then(f)).collect();
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
