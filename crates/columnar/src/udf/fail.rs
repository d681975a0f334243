//! A clause's first failed condition as one kernel.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int32Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use super::{rows, to_array};

/// The first failed condition of a list, as a reason code: `codes[k]` is condition k's
/// (missing, false) pair; null when every condition holds. One pass instead of a CASE with two
/// arms per condition.
pub fn first_fail_udf(name: &str, codes: Vec<(i32, i32)>) -> ScalarUDF {
    let k = codes.len();
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let conds = args
            .iter()
            .map(|v| {
                let a = to_array(v, n)?;
                a.as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| DataFusionError::Internal("condition: expected Boolean".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Vec<i32> = (0..n)
            .map(|i| {
                conds
                    .iter()
                    .zip(&codes)
                    .find_map(|(c, &(miss, no))| {
                        if c.is_null(i) {
                            Some(miss)
                        } else if !c.value(i) {
                            Some(no)
                        } else {
                            None
                        }
                    })
                    .unwrap_or(0)
            })
            .collect();
        // Codes start at 1: 0 is "every condition holds", a null in the output.
        let nulls = NullBuffer::from(out.iter().map(|&x| x != 0).collect::<Vec<bool>>());
        Ok(ColumnarValue::Array(Arc::new(Int32Array::new(
            out.into(),
            Some(nulls),
        ))))
    });
    create_udf(
        name,
        vec![DataType::Boolean; k],
        DataType::Int32,
        Volatility::Immutable,
        fun,
    )
}
