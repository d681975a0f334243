//! Two runs over the same snapshot compared, row by row (the 政策沙盘): every firm × clause ×
//! tranche either run has, with both amounts and both reasons, joined on the dense firm index
//! (both runs index the snapshot's firms in credit-code order) and on the clause and tranche
//! names (a reform may add, drop or rename clauses). Written as `delta.parquet`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use sha2::Digest;

use crate::error::Error;
use crate::Results;

type R<T> = crate::error::Result<T>;

/// The two runs side by side: entry i is one firm × (clause, tranche).
#[derive(Clone, Debug)]
pub struct Delta {
    /// Credit codes, sorted (the snapshot's firms, as both runs index them).
    pub firm_ids: StringArray,
    /// (clause, tranche) of each key: the base run's slots in its order, then the reform's new
    /// ones in its order.
    pub keys: Vec<(Arc<str>, Arc<str>)>,
    pub firm: Vec<u32>,
    pub key: Vec<u32>,
    /// 分; 0 where a run has no row.
    pub base_fen: Vec<i64>,
    pub reform_fen: Vec<i64>,
    pub base_reason: Vec<Option<Arc<str>>>,
    pub reform_reason: Vec<Option<Arc<str>>>,
    /// Stand-alone amounts (`Results::standalone_fen`, 0 where a run has no row), when both runs
    /// kept them; else empty.
    pub base_alone_fen: Vec<i64>,
    pub reform_alone_fen: Vec<i64>,
}

impl Delta {
    /// Firms compared (every firm of the snapshot).
    pub fn firms(&self) -> usize {
        self.firm_ids.len()
    }
    pub fn len(&self) -> usize {
        self.firm.len()
    }
    pub fn is_empty(&self) -> bool {
        self.firm.is_empty()
    }
    /// Reform − base, 分 (exact: both are within ±10¹⁸).
    pub fn delta(&self, i: usize) -> i64 {
        self.reform_fen[i] - self.base_fen[i]
    }
    pub fn firm_id(&self, i: usize) -> &str {
        self.firm_ids.value(self.firm[i] as usize)
    }
    pub fn clause(&self, i: usize) -> &str {
        &self.keys[self.key[i] as usize].0
    }
    pub fn tranche(&self, i: usize) -> &str {
        &self.keys[self.key[i] as usize].1
    }
}

/// The rows of `r` for each firm, as ranges (rows are in firm order).
fn firm_ranges(r: &Results) -> Vec<std::ops::Range<usize>> {
    let mut out = vec![0..0; r.firm_ids.len()];
    let mut i = 0;
    while i < r.len() {
        let f = r.firm[i] as usize;
        let start = i;
        while i < r.len() && r.firm[i] as usize == f {
            i += 1;
        }
        out[f] = start..i;
    }
    out
}

/// Base and reform joined. Both must be runs over the same firms (the same snapshot).
pub fn diff(base: &Results, reform: &Results) -> R<Delta> {
    let same = base.firm_ids.len() == reform.firm_ids.len()
        && (0..base.firm_ids.len()).all(|i| base.firm_ids.value(i) == reform.firm_ids.value(i));
    if !same {
        return Err(Error::engine(
            "the two runs did not read the same firms (not the same snapshot?)",
        ));
    }
    let mut keys: Vec<(Arc<str>, Arc<str>)> = vec![];
    let mut key_of: HashMap<(Arc<str>, Arc<str>), u32> = HashMap::new();
    let mut slot_keys = |r: &Results| -> Vec<u32> {
        (0..r.clauses.len())
            .map(|s| {
                let k = (r.clauses[s].clone(), r.tranches[s].clone());
                *key_of.entry(k.clone()).or_insert_with(|| {
                    keys.push(k);
                    keys.len() as u32 - 1
                })
            })
            .collect()
    };
    let (bk, rk) = (slot_keys(base), slot_keys(reform));
    let (br, rr) = (firm_ranges(base), firm_ranges(reform));
    let mut d = Delta {
        firm_ids: base.firm_ids.clone(),
        keys,
        firm: vec![],
        key: vec![],
        base_fen: vec![],
        reform_fen: vec![],
        base_reason: vec![],
        reform_reason: vec![],
        base_alone_fen: vec![],
        reform_alone_fen: vec![],
    };
    let alone = !base.standalone_fen.is_empty() || base.is_empty();
    let alone = alone && (!reform.standalone_fen.is_empty() || reform.is_empty());
    let alone_of = |r: &Results, i: usize| r.standalone_fen.get(i).copied().unwrap_or(0);
    type Side = (i64, Option<Arc<str>>, i64);
    let mut here: Vec<(u32, Option<Side>, Option<Side>)> = vec![];
    for f in 0..base.firm_ids.len() {
        here.clear();
        for i in br[f].clone() {
            let k = bk[base.slot[i] as usize];
            here.push((
                k,
                Some((
                    base.amount_fen[i],
                    base.reasons.shared(base.reason[i]),
                    alone_of(base, i),
                )),
                None,
            ));
        }
        for i in rr[f].clone() {
            let k = rk[reform.slot[i] as usize];
            let side = (
                reform.amount_fen[i],
                reform.reasons.shared(reform.reason[i]),
                alone_of(reform, i),
            );
            match here.iter_mut().find(|h| h.0 == k) {
                Some(h) => h.2 = Some(side),
                None => here.push((k, None, Some(side))),
            }
        }
        here.sort_by_key(|h| h.0);
        for (k, b, r) in here.drain(..) {
            let (bf, bw, ba) = b.unwrap_or((0, None, 0));
            let (rf, rw, ra) = r.unwrap_or((0, None, 0));
            if alone {
                d.base_alone_fen.push(ba);
                d.reform_alone_fen.push(ra);
            }
            d.firm.push(f as u32);
            d.key.push(k);
            d.base_fen.push(bf);
            d.reform_fen.push(rf);
            d.base_reason.push(bw);
            d.reform_reason.push(rw);
        }
    }
    Ok(d)
}

/// Writes `delta.parquet` (firm_id, clause, tranche, base_fen, reform_fen, delta_fen,
/// base_reason, reform_reason); returns its sha256.
pub fn write_parquet(d: &Delta, path: &Path) -> R<String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("clause", DataType::Utf8, false),
        Field::new("tranche", DataType::Utf8, false),
        Field::new("base_fen", DataType::Int64, false),
        Field::new("reform_fen", DataType::Int64, false),
        Field::new("delta_fen", DataType::Int64, false),
        Field::new("base_reason", DataType::Utf8, true),
        Field::new("reform_reason", DataType::Utf8, true),
    ]));
    let props = WriterProperties::builder()
        .set_created_by("huiqi simulate v1".into())
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let out = crate::output::create(path)?;
    let mut w =
        ArrowWriter::try_new_with_options(out, schema.clone(), options).map_err(Error::engine)?;
    let step = 256 * 1024;
    for start in (0..d.len()).step_by(step) {
        let r = start..(start + step).min(d.len());
        // Built from borrowed texts: no string is allocated per row.
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                r.clone().map(|i| d.firm_id(i)),
            )),
            Arc::new(StringArray::from_iter_values(
                r.clone().map(|i| d.clause(i)),
            )),
            Arc::new(StringArray::from_iter_values(
                r.clone().map(|i| d.tranche(i)),
            )),
            Arc::new(Int64Array::from(d.base_fen[r.clone()].to_vec())),
            Arc::new(Int64Array::from(d.reform_fen[r.clone()].to_vec())),
            Arc::new(r.clone().map(|i| d.delta(i)).collect::<Int64Array>()),
            Arc::new(
                r.clone()
                    .map(|i| d.base_reason[i].as_deref())
                    .collect::<StringArray>(),
            ),
            Arc::new(
                r.clone()
                    .map(|i| d.reform_reason[i].as_deref())
                    .collect::<StringArray>(),
            ),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(Error::engine)?;
        w.write(&batch).map_err(Error::engine)?;
    }
    let mut h = w.into_inner().map_err(Error::engine)?;
    h.flush().map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", h.hash.finalize()))
}

/// One text column of the snapshot's `firms.parquet` (a static fact: 行业, a size class…), in
/// the order of `firm_ids` (credit codes, sorted); None where the firm has no value.
pub fn firm_column(dir: &Path, column: &str, firm_ids: &StringArray) -> R<Vec<Option<String>>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::arrow::ProjectionMask;
    let path = dir.join(huiqi_files::snapshot::table_file(
        huiqi_files::snapshot::FIRMS,
    ));
    let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(Error::engine)?;
    let schema = b.schema().clone();
    let idx = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| Error::engine(format!("{}: no column {name}", path.display())))
    };
    let (ci, vi) = (idx(huiqi_files::snapshot::col::FIRM_ID)?, idx(column)?);
    let mask = ProjectionMask::roots(b.parquet_schema(), [ci, vi]);
    let reader = b.with_projection(mask).build().map_err(Error::engine)?;
    let mut by_id: HashMap<String, Option<String>> = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(Error::engine)?;
        let ids = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)
            .map_err(Error::engine)?;
        let vals = datafusion::arrow::compute::cast(batch.column(1), &DataType::Utf8)
            .map_err(Error::engine)?;
        let (ids, vals) = (ids.as_string::<i32>(), vals.as_string::<i32>());
        for i in 0..batch.num_rows() {
            by_id.insert(
                ids.value(i).to_string(),
                vals.is_valid(i).then(|| vals.value(i).to_string()),
            );
        }
    }
    Ok((0..firm_ids.len())
        .map(|i| by_id.get(firm_ids.value(i)).cloned().flatten())
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::Reasons;

    /// Results over three firms with the given rows (firm, slot, 分, reason code).
    fn results(
        slots: &[(&str, &str)],
        rows: &[(u32, u32, i64, u32)],
        reasons: &Reasons,
    ) -> Results {
        Results {
            firm_ids: StringArray::from(vec!["A", "B", "C"]),
            clauses: slots.iter().map(|s| Arc::from(s.0)).collect(),
            tranches: slots.iter().map(|s| Arc::from(s.1)).collect(),
            reasons: reasons.clone(),
            firm: rows.iter().map(|r| r.0).collect(),
            slot: rows.iter().map(|r| r.1).collect(),
            amount_fen: rows.iter().map(|r| r.2).collect(),
            reason: rows.iter().map(|r| r.3).collect(),
            standalone_fen: vec![],
        }
    }

    #[test]
    fn rows_join_on_firm_and_names_and_the_file_holds_them() {
        let reasons = Reasons::default();
        // The reform renames nothing but drops 乙 and adds 丙; firm C appears only in the reform.
        let base = results(
            &[("甲", ""), ("乙", "首期")],
            &[(0, 0, 100, 0), (0, 1, 50, 0), (1, 0, 7, 0)],
            &reasons,
        );
        let reform = results(
            &[("甲", ""), ("丙", "")],
            &[(0, 0, 120, 0), (1, 0, 7, 0), (1, 1, 3, 0), (2, 1, 9, 0)],
            &reasons,
        );
        let d = diff(&base, &reform).unwrap();
        let rows: Vec<(String, String, String, i64, i64)> = (0..d.len())
            .map(|i| {
                (
                    d.firm_id(i).into(),
                    d.clause(i).into(),
                    d.tranche(i).into(),
                    d.base_fen[i],
                    d.reform_fen[i],
                )
            })
            .collect();
        let r =
            |f: &str, c: &str, t: &str, b, x| (f.to_string(), c.to_string(), t.to_string(), b, x);
        assert_eq!(
            rows,
            vec![
                r("A", "甲", "", 100, 120),
                r("A", "乙", "首期", 50, 0),
                r("B", "甲", "", 7, 7),
                r("B", "丙", "", 0, 3),
                r("C", "丙", "", 0, 9),
            ]
        );
        let total: i64 = (0..d.len()).map(|i| d.delta(i)).sum();
        assert_eq!(total, (120 + 7 + 3 + 9) - (100 + 50 + 7));
        // Written and read back: the same figures, and the hash is the file's.
        let dir = std::env::temp_dir().join(format!("huiqi-delta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("delta.parquet");
        let h = write_parquet(&d, &path).unwrap();
        assert_eq!(h, crate::output::file_sha256(&path).unwrap());
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                File::open(&path).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
        let mut got = vec![];
        for b in reader {
            use datafusion::arrow::array::AsArray;
            use datafusion::arrow::datatypes::Int64Type;
            let b = b.unwrap();
            let n = |k: &str| {
                b.column_by_name(k)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone()
            };
            let (x, y, z) = (n("base_fen"), n("reform_fen"), n("delta_fen"));
            for i in 0..b.num_rows() {
                got.push((x.value(i), y.value(i), z.value(i)));
            }
        }
        let want: Vec<(i64, i64, i64)> = (0..d.len())
            .map(|i| (d.base_fen[i], d.reform_fen[i], d.delta(i)))
            .collect();
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&dir);
        // Not the same firms: refused.
        let mut other = reform.clone();
        other.firm_ids = StringArray::from(vec!["A", "B", "D"]);
        assert!(diff(&base, &other).is_err());
    }
}
