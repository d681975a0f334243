//! Date arithmetic on Arrow's Date32 (days since 1970-01-01) with the reference's calendar
//! (`huiqi_ir::Date::shifted`, `months_until`): the same function on both sides.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Date32Array, Decimal128Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use huiqi_ir::money::ONE;
use huiqi_ir::Date;

use super::{rows, to_array, DEC};

fn date32(a: &Arc<dyn Array>) -> Result<&Date32Array> {
    a.as_any()
        .downcast_ref::<Date32Array>()
        .ok_or_else(|| DataFusionError::Internal("expected Date32".into()))
}

fn int64(a: &Arc<dyn Array>) -> Result<&Int64Array> {
    a.as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| DataFusionError::Internal("expected Int64".into()))
}

/// `hq_shift_date(date, months, days)`: null beyond year 9999, like the reference's missing.
pub(super) fn shift_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let (d, m, k) = (
            to_array(&args[0], n)?,
            to_array(&args[1], n)?,
            to_array(&args[2], n)?,
        );
        let (d, m, k) = (date32(&d)?, int64(&m)?, int64(&k)?);
        let out: Date32Array = (0..n)
            .map(|i| {
                if d.is_null(i) || m.is_null(i) || k.is_null(i) {
                    return None;
                }
                let day = Date::from_days(d.value(i) as i64)?;
                let s = day.shifted(m.value(i), k.value(i))?;
                i32::try_from(s.days()).ok()
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        "hq_shift_date",
        vec![DataType::Date32, DataType::Int64, DataType::Int64],
        DataType::Date32,
        Volatility::Immutable,
        fun,
    )
}

/// `hq_days_between(a, b)` / `hq_months_between(a, b)`: a count, as the engine's decimal.
pub(super) fn between_udf(name: &str, months: bool) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let (a, b) = (to_array(&args[0], n)?, to_array(&args[1], n)?);
        let (a, b) = (date32(&a)?, date32(&b)?);
        let out: Decimal128Array = (0..n)
            .map(|i| {
                if a.is_null(i) || b.is_null(i) {
                    return None;
                }
                let (x, y) = (a.value(i) as i64, b.value(i) as i64);
                let v = if months {
                    Date::from_days(x)?.months_until(Date::from_days(y)?)
                } else {
                    y - x
                };
                Some(v as i128 * ONE)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(
        name,
        vec![DataType::Date32, DataType::Date32],
        DEC,
        Volatility::Immutable,
        fun,
    )
}

/// `hq_year(date)`: the calendar year, a count as the engine's decimal (`year(d)`).
pub(super) fn year_udf() -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let a = date32(&a)?;
        let out: Decimal128Array = (0..n)
            .map(|i| {
                if a.is_null(i) {
                    return None;
                }
                Some(Date::from_days(a.value(i) as i64)?.y as i128 * ONE)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(
        "hq_year",
        vec![DataType::Date32],
        DEC,
        Volatility::Immutable,
        fun,
    )
}
