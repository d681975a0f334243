//! Exact rankings for `select` and by-score `pool`s. A key's leaves are columns of the firm
//! rows (compiled like any expression); the candidates' leaves are read back and their fractions
//! built and compared with the reference evaluator's own code (`huiqi_ir::exact`), so both
//! engines rank alike and nothing is truncated. Candidates are few next to the population (the
//! firms a clause pays, the claims on an oversubscribed pool).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast as arrow_cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use huiqi_ir::exact::{Exact, Score};
use huiqi_ir::{money, Order, Value};

use crate::error::Error;

type R<T> = crate::error::Result<T>;

/// A ranking key: its exact form, the columns of its leaves, its direction.
#[derive(Clone, Debug)]
pub struct Key {
    pub score: Score,
    pub cols: Vec<String>,
    pub order: Order,
}

/// A leaf column's values: booleans (an `if`'s condition) or numbers on the engine's scale.
fn leaf_values(b: &RecordBatch, name: &str) -> R<Vec<Value>> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| Error::engine(format!("no column {name}")))?;
    if let Some(x) = col.as_boolean_opt() {
        return Ok(x
            .iter()
            .map(|v| v.map_or(Value::Missing, Value::Bool))
            .collect());
    }
    let col: ArrayRef = match col.data_type() {
        DataType::Decimal128(_, s) if *s == money::SCALE as i8 => col.clone(),
        _ => {
            arrow_cast(col, &DataType::Decimal128(38, money::SCALE as i8)).map_err(Error::engine)?
        }
    };
    let x = col.as_primitive::<Decimal128Type>();
    Ok(x.iter()
        .map(|v| {
            v.map_or(Value::Missing, |v| {
                Value::Ratio(money::from_scaled_or_overflow(v))
            })
        })
        .collect())
}

/// Each row's key values, in the order of `keys`.
pub fn key_values(b: &RecordBatch, keys: &[Key]) -> R<Vec<Vec<Exact>>> {
    let n = b.num_rows();
    let mut out: Vec<Vec<Exact>> = (0..n).map(|_| Vec::with_capacity(keys.len())).collect();
    for k in keys {
        let cols: Vec<Vec<Value>> = k.cols.iter().map(|c| leaf_values(b, c)).collect::<R<_>>()?;
        let mut leaves = vec![Value::Missing; cols.len()];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, c) in cols.iter().enumerate() {
                leaves[j] = c[i].clone();
            }
            row.push(k.score.eval(&leaves));
        }
    }
    Ok(out)
}

/// An integer column of the batch as i64 (firm index, order, slot, amount).
pub fn ints(b: &RecordBatch, name: &str) -> R<Vec<i64>> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| Error::engine(format!("no column {name}")))?;
    let col = arrow_cast(col, &DataType::Int64).map_err(Error::engine)?;
    let x = col.as_primitive::<Int64Type>();
    if x.null_count() > 0 {
        return Err(Error::engine(format!("column {name} has nulls")));
    }
    Ok(x.values().to_vec())
}

/// Orders two rows' keys (missing last), each key in its own direction.
pub fn cmp_rows(keys: &[Key], a: &[Exact], b: &[Exact]) -> std::cmp::Ordering {
    keys.iter()
        .zip(a.iter().zip(b))
        .map(|(k, (x, y))| huiqi_ir::exact::cmp_keys(x, y, k.order))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}
