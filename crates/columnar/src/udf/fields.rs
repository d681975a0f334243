//! Column plumbing kernels: a field of the finish's struct column, and nulls as 0.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use super::finish::finish_fields;
use super::{rows, to_array};

/// Field `k` of a struct column (a finish's amount or reason). DataFusion's own `get_field` is
/// pushed down into the projection that computes the struct, which would inline the finish
/// kernel into both field reads and run it twice; a plain UDF stays where it is.
pub(super) fn struct_field_udf(name: &str, k: usize, ty: DataType) -> ScalarUDF {
    use datafusion::arrow::array::StructArray;
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let s = a
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| DataFusionError::Internal("expected a struct".into()))?;
        Ok(ColumnarValue::Array(s.column(k).clone()))
    });
    create_udf(
        name,
        vec![DataType::Struct(finish_fields())],
        ty,
        Volatility::Immutable,
        fun,
    )
}

/// Nulls as 0 for an Int32 or Int64 column; the column itself when it has none (the usual
/// case: a COALESCE would still filter and merge every batch).
pub(super) fn zero_nulls_udf<T: ArrowPrimitiveType>(name: &str) -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        if a.null_count() == 0 {
            return Ok(ColumnarValue::Array(a));
        }
        let p = a
            .as_primitive_opt::<T>()
            .ok_or_else(|| DataFusionError::Internal("zero_nulls: type".into()))?;
        let out: PrimitiveArray<T> = p.iter().map(|v| Some(v.unwrap_or_default())).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        name,
        vec![T::DATA_TYPE],
        T::DATA_TYPE,
        Volatility::Immutable,
        fun,
    )
}
