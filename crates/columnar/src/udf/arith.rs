//! Exact arithmetic over the values buffer: multiply, divide, floor and round (the
//! reference's integer functions, `huiqi_ir::money`), `cagr`, amounts to 分 and pool shares.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Decimal128Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use huiqi_ir::money;

use super::{dec, map_values, rows, to_array, DEC};

/// Applies `f` to every non-null pair (a scalar side is read once, not expanded).
/// Generic over the kernel (a function item, not a pointer) so it is inlined into the loop.
pub(super) fn binary<F>(name: &str, f: F) -> ScalarUDF
where
    F: Fn(i128, i128) -> Option<i128> + Copy + Send + Sync + 'static,
{
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

pub(super) fn unary<F>(name: &str, f: F) -> ScalarUDF
where
    F: Fn(i128) -> Option<i128> + Copy + Send + Sync + 'static,
{
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

pub(super) fn cagr_udf() -> ScalarUDF {
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
                let (a, b) = (a.value(i), b.value(i));
                // An overflowed input gives an overflow, as in the reference.
                if money::is_overflow(a) || money::is_overflow(b) {
                    return Some(money::OVERFLOW);
                }
                money::cagr_scaled(a, b, k.value(i) as u32)
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

/// A rounded amount (10^-12 元) → integer 分 (`hq_fen`'s kernel).
#[inline(always)]
pub(super) fn to_fen(v: i128) -> i64 {
    match i64::try_from(v) {
        Ok(x) => x / 10_000_000_000,
        // A finished amount is within the range of exact arithmetic (`money::MAX_SCALED`,
        // 7.9×10¹⁸ 分 < i64::MAX): its 分 fit. Saturated all the same, never wrapped.
        Err(_) => {
            i64::try_from(v / 10_000_000_000).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
        }
    }
}

/// A rounded amount (10^-12 元) → integer 分, truncated like `huiqi_ir::money::to_fen` of a
/// rounded value. i128 division is a library call; almost every amount fits an i64, where it
/// is one instruction.
pub(super) fn fen_udf() -> ScalarUDF {
    use datafusion::arrow::datatypes::Int64Type;
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let out: Int64Array = dec(&a)?.unary::<_, Int64Type>(to_fen);
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
/// i64). The demand, a sum over every claim, is a Decimal128(38, 0) (it can pass i64 too).
/// `wide_out`: the result is such a decimal as well (a remainder is below the demand, not below
/// i64::MAX); otherwise an Int64 (a share is at most the claim). Null for a zero demand.
pub(super) fn share_udf(name: &str, f: fn(i128, i128, i128) -> i128, wide_out: bool) -> ScalarUDF {
    const WIDE: DataType = DataType::Decimal128(38, 0);
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let cols = args
            .iter()
            .map(|x| to_array(x, n))
            .collect::<Result<Vec<_>>>()?;
        let int = |k: usize| {
            cols[k]
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("share: expected Int64".into()))
        };
        let (claim, budget) = (int(0)?, int(1)?);
        let demand = cols[2]
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .ok_or_else(|| DataFusionError::Internal("share: expected Decimal128".into()))?;
        let value = |i: usize| {
            if claim.is_null(i) || budget.is_null(i) || demand.is_null(i) || demand.value(i) == 0 {
                return None;
            }
            Some(f(
                claim.value(i) as i128,
                budget.value(i) as i128,
                demand.value(i),
            ))
        };
        let out: Arc<dyn Array> = if wide_out {
            let a: Decimal128Array = (0..n).map(value).collect();
            Arc::new(a.with_precision_and_scale(38, 0)?)
        } else {
            let a: Int64Array = (0..n)
                .map(|i| value(i).and_then(|v| i64::try_from(v).ok()))
                .collect();
            Arc::new(a)
        };
        Ok(ColumnarValue::Array(out))
    });
    create_udf(
        name,
        vec![DataType::Int64, DataType::Int64, WIDE],
        if wide_out { WIDE } else { DataType::Int64 },
        Volatility::Immutable,
        fun,
    )
}
