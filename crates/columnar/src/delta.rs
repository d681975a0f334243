//! Two runs over the same snapshot compared, row by row (the 政策沙盘): every firm × clause ×
//! tranche either run has, with both amounts and both reasons, joined on the dense firm index
//! (both runs index the snapshot's firms in credit-code order) and on the clause and tranche
//! names (a reform may add, drop or rename clauses). Written as `delta.parquet`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, DictionaryArray, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::Int32Type;
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
    /// Reason codes of each run's row (0: none, or no row), texts in `base_reasons` /
    /// `reform_reasons` (`base_reason(i)`, `reform_reason(i)`).
    pub base_code: Vec<u32>,
    pub reform_code: Vec<u32>,
    pub base_reasons: crate::Reasons,
    pub reform_reasons: crate::Reasons,
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
    pub fn base_reason(&self, i: usize) -> Option<&str> {
        self.base_reasons.text(self.base_code[i])
    }
    pub fn reform_reason(&self, i: usize) -> Option<&str> {
        self.reform_reasons.text(self.reform_code[i])
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
    let alone = !base.standalone_fen.is_empty() || base.is_empty();
    let alone = alone && (!reform.standalone_fen.is_empty() || reform.is_empty());
    // Rows in the same places in both runs with the same slots (a reform that sets parameters
    // leaves every slot's presence alone): the join is a copy, column by column.
    if bk == rk && base.firm == reform.firm && base.slot == reform.slot {
        let key_of_slot = |s: &u32| bk[*s as usize];
        return Ok(Delta {
            firm_ids: base.firm_ids.clone(),
            keys,
            firm: base.firm.clone(),
            key: base.slot.iter().map(key_of_slot).collect(),
            base_fen: base.amount_fen.clone(),
            reform_fen: reform.amount_fen.clone(),
            base_code: base.reason.clone(),
            reform_code: reform.reason.clone(),
            base_reasons: base.reasons.clone(),
            reform_reasons: reform.reasons.clone(),
            base_alone_fen: if alone {
                base.standalone_fen.clone()
            } else {
                vec![]
            },
            reform_alone_fen: if alone {
                reform.standalone_fen.clone()
            } else {
                vec![]
            },
        });
    }
    let (br, rr) = (firm_ranges(base), firm_ranges(reform));
    let mut d = Delta {
        firm_ids: base.firm_ids.clone(),
        keys,
        firm: vec![],
        key: vec![],
        base_fen: vec![],
        reform_fen: vec![],
        base_code: vec![],
        reform_code: vec![],
        base_reasons: base.reasons.clone(),
        reform_reasons: reform.reasons.clone(),
        base_alone_fen: vec![],
        reform_alone_fen: vec![],
    };
    let alone_of = |r: &Results, i: usize| r.standalone_fen.get(i).copied().unwrap_or(0);
    // (amount, reason code, stand-alone amount)
    type Side = (i64, u32, i64);
    let mut here: Vec<(u32, Option<Side>, Option<Side>)> = vec![];
    for f in 0..base.firm_ids.len() {
        here.clear();
        for i in br[f].clone() {
            let k = bk[base.slot[i] as usize];
            here.push((
                k,
                Some((base.amount_fen[i], base.reason[i], alone_of(base, i))),
                None,
            ));
        }
        for i in rr[f].clone() {
            let k = rk[reform.slot[i] as usize];
            let side = (reform.amount_fen[i], reform.reason[i], alone_of(reform, i));
            match here.iter_mut().find(|h| h.0 == k) {
                Some(h) => h.2 = Some(side),
                None => here.push((k, None, Some(side))),
            }
        }
        here.sort_by_key(|h| h.0);
        for (k, b, r) in here.drain(..) {
            let (bf, bw, ba) = b.unwrap_or((0, 0, 0));
            let (rf, rw, ra) = r.unwrap_or((0, 0, 0));
            if alone {
                d.base_alone_fen.push(ba);
                d.reform_alone_fen.push(ra);
            }
            d.firm.push(f as u32);
            d.key.push(k);
            d.base_fen.push(bf);
            d.reform_fen.push(rf);
            d.base_code.push(bw);
            d.reform_code.push(rw);
        }
    }
    Ok(d)
}

/// Writes `delta.parquet` (firm_id, clause, tranche, base_fen, reform_fen, delta_fen,
/// base_reason, reform_reason); returns its sha256.
pub fn write_parquet(d: &Delta, path: &Path) -> R<String> {
    let text = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    // Read back (the Arrow schema is not stored), every text column is a string column.
    let schema = Arc::new(Schema::new(vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("clause", text(), false),
        Field::new("tranche", text(), false),
        Field::new("base_fen", DataType::Int64, false),
        Field::new("reform_fen", DataType::Int64, false),
        Field::new("delta_fen", DataType::Int64, false),
        Field::new("base_reason", text(), true),
        Field::new("reform_reason", text(), true),
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
    let clause_values: ArrayRef =
        Arc::new(StringArray::from_iter_values(d.keys.iter().map(|k| &*k.0)));
    let tranche_values: ArrayRef =
        Arc::new(StringArray::from_iter_values(d.keys.iter().map(|k| &*k.1)));
    let base_reasons: ArrayRef = Arc::new(StringArray::from_iter_values(d.base_reasons.texts()));
    let reform_reasons: ArrayRef =
        Arc::new(StringArray::from_iter_values(d.reform_reasons.texts()));
    let step = 256 * 1024;
    for start in (0..d.len()).step_by(step) {
        let r = start..(start + step).min(d.len());
        // Built from borrowed texts: no string is allocated per row. Clause, tranche and
        // reasons are a few dozen texts: dictionary arrays over them (Parquet stores strings).
        let dict = |keys: Vec<i32>, values: &ArrayRef| -> R<ArrayRef> {
            Ok(Arc::new(
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values.clone())
                    .map_err(Error::engine)?,
            ))
        };
        let key_rows: Vec<i32> = d.key[r.clone()].iter().map(|&k| k as i32).collect();
        // A reason code of 0 is no reason: a null.
        let reason_rows = |codes: &[u32]| -> Int32Array {
            codes[r.clone()]
                .iter()
                .map(|&c| (c != 0).then_some(c as i32))
                .collect()
        };
        let with_nulls = |keys: Int32Array, values: &ArrayRef| -> R<ArrayRef> {
            Ok(Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values.clone())
                    .map_err(Error::engine)?,
            ))
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                r.clone().map(|i| d.firm_id(i)),
            )),
            dict(key_rows.clone(), &clause_values)?,
            dict(key_rows, &tranche_values)?,
            Arc::new(Int64Array::from(d.base_fen[r.clone()].to_vec())),
            Arc::new(Int64Array::from(d.reform_fen[r.clone()].to_vec())),
            Arc::new(r.clone().map(|i| d.delta(i)).collect::<Int64Array>()),
            with_nulls(reason_rows(&d.base_code), &base_reasons)?,
            with_nulls(reason_rows(&d.reform_code), &reform_reasons)?,
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
    Ok(firm_columns(dir, &[column], firm_ids)?
        .pop()
        .unwrap_or_default())
}

/// [`firm_column`] for several columns, read in one pass. The firms table is sorted by credit
/// code like `firm_ids`, so rows are matched in step; a table in another order is matched by
/// credit code.
pub fn firm_columns(
    dir: &Path,
    columns: &[&str],
    firm_ids: &StringArray,
) -> R<Vec<Vec<Option<String>>>> {
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
    let ci = idx(huiqi_files::snapshot::col::FIRM_ID)?;
    let vis: Vec<usize> = columns.iter().map(|c| idx(c)).collect::<R<_>>()?;
    let mut roots = vec![ci];
    roots.extend(&vis);
    let mask = ProjectionMask::roots(b.parquet_schema(), roots.iter().copied());
    let reader = b.with_projection(mask).build().map_err(Error::engine)?;
    // The projected batch's columns come in the file's order: find each one's place.
    let mut sorted = roots.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let at = |root: usize| sorted.iter().position(|&x| x == root).unwrap_or(0);
    let n = firm_ids.len();
    let mut out: Vec<Vec<Option<String>>> = vec![vec![None; n]; columns.len()];
    let mut by_id: Option<HashMap<String, usize>> = None;
    let mut next = 0usize;
    for batch in reader {
        let batch = batch.map_err(Error::engine)?;
        let ids = datafusion::arrow::compute::cast(batch.column(at(ci)), &DataType::Utf8)
            .map_err(Error::engine)?;
        let ids = ids.as_string::<i32>();
        let vals: Vec<ArrayRef> = vis
            .iter()
            .map(|&v| {
                datafusion::arrow::compute::cast(batch.column(at(v)), &DataType::Utf8)
                    .map_err(Error::engine)
            })
            .collect::<R<_>>()?;
        for i in 0..batch.num_rows() {
            let id = ids.value(i);
            // In step with `firm_ids` while the table is; else by credit code.
            let f = if by_id.is_none() && next < n && firm_ids.value(next) == id {
                next += 1;
                Some(next - 1)
            } else {
                let map = by_id.get_or_insert_with(|| {
                    (0..n).map(|k| (firm_ids.value(k).to_string(), k)).collect()
                });
                map.get(id).copied()
            };
            let Some(f) = f else { continue };
            for (k, v) in vals.iter().enumerate() {
                let v = v.as_string::<i32>();
                out[k][f] = v.is_valid(i).then(|| v.value(i).to_string());
            }
        }
    }
    Ok(out)
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
        // The same rows in both runs (a reform of parameters): the copy path gives what the
        // join gives, reasons by their texts.
        let mut reasons = Reasons::default();
        let cut = reasons.code("pool:研发资金池");
        let one = results(
            &[("甲", ""), ("乙", "首期")],
            &[(0, 0, 100, 0), (0, 1, 50, 0), (1, 0, 7, 0)],
            &reasons,
        );
        let two = results(
            &[("甲", ""), ("乙", "首期")],
            &[(0, 0, 90, cut), (0, 1, 50, 0), (1, 0, 7, 0)],
            &reasons,
        );
        let same = diff(&one, &two).unwrap();
        let got: Vec<(String, String, i64, i64, Option<String>)> = (0..same.len())
            .map(|i| {
                (
                    same.firm_id(i).into(),
                    same.clause(i).into(),
                    same.base_fen[i],
                    same.reform_fen[i],
                    same.reform_reason(i).map(str::to_string),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "A".into(),
                    "甲".into(),
                    100,
                    90,
                    Some("pool:研发资金池".into())
                ),
                ("A".into(), "乙".into(), 50, 50, None),
                ("B".into(), "甲".into(), 7, 7, None),
            ]
        );
        // Not the same firms: refused.
        let mut other = reform.clone();
        other.firm_ids = StringArray::from(vec!["A", "B", "D"]);
        assert!(diff(&base, &other).is_err());
    }
}
