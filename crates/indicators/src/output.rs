//! `indicators.parquet` (one row per indicator and zone), `indicator_firms.parquet` (the firms
//! behind every figure: the drill-down) and `manifest.json` (what was computed from what), and
//! reading them back for the service.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compute::{Computed, Figure, FirmRow, Period};
use crate::error::{Error, Result};
use crate::set::IndicatorSet;

pub const FIGURES: &str = "indicators.parquet";
pub const FIRMS: &str = "indicator_firms.parquet";
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json` of an indicators output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always `"indicators"`: tells this manifest from a run's or a snapshot's.
    pub kind: String,
    pub set_name: String,
    pub set_version: String,
    pub set_hash: String,
    pub snapshot_hash: String,
    /// `YYYY-MM`: 1..=M月 of the year.
    pub period: String,
    pub engine_version: String,
    pub zones: Vec<String>,
    pub firms_without_zone: u64,
    /// The runs `selected` indicators were read from (their manifests' SHA-256).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<crate::runs::RunUsed>,
    /// What was not computed and why (Chinese).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// File name → SHA-256 of its bytes.
    pub files: std::collections::BTreeMap<String, String>,
}

fn dec() -> DataType {
    DataType::Decimal128(38, 12)
}

fn write(path: &Path, batch: RecordBatch) -> Result<String> {
    let props = WriterProperties::builder()
        .set_created_by("huiqi indicators v1".into())
        .build();
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(Error::engine)?;
    w.write(&batch).map_err(Error::engine)?;
    w.close().map_err(Error::engine)?;
    file_sha256(path)
}

/// The drill-down's columns (as `compute` selects them).
pub fn firms_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("indicator", DataType::Utf8, false),
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("zone", DataType::Utf8, true),
        Field::new("zone_base", DataType::Utf8, true),
        Field::new("in_current", DataType::Boolean, false),
        Field::new("in_base", DataType::Boolean, false),
        Field::new("value", dec(), false),
        Field::new("base_value", dec(), false),
    ]))
}

/// Streams the drill-down batches into one Parquet file (never all in one buffer).
fn write_rows(path: &Path, rows: &[RecordBatch]) -> Result<String> {
    let schema = firms_schema();
    let props = WriterProperties::builder()
        .set_created_by("huiqi indicators v1".into())
        .build();
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = ArrowWriter::try_new(f, schema.clone(), Some(props)).map_err(Error::engine)?;
    for b in rows {
        // The same columns under the file's schema (nullability as declared).
        let b =
            RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(Error::engine)?;
        w.write(&b).map_err(Error::engine)?;
    }
    w.close().map_err(Error::engine)?;
    file_sha256(path)
}

fn file_sha256(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn decimals(v: impl Iterator<Item = i128>) -> Result<ArrayRef> {
    Ok(Arc::new(
        Decimal128Array::from_iter_values(v)
            .with_precision_and_scale(38, 12)
            .map_err(Error::engine)?,
    ))
}

/// Writes the three files into `dir` (which exists); returns the manifest written.
pub fn write_all(
    dir: &Path,
    set: &IndicatorSet,
    snapshot_hash: &str,
    c: &Computed,
) -> Result<Manifest> {
    let f = &c.figures;
    let figures = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("indicator", DataType::Utf8, false),
            Field::new("zone", DataType::Utf8, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("value", dec(), false),
            Field::new("firms", DataType::Int64, false),
            Field::new("same_base", dec(), false),
            Field::new("nominal_base", dec(), false),
            Field::new("firms_base", DataType::Int64, false),
            Field::new("entries", DataType::Int64, false),
            Field::new("exits", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(
                f.iter().map(|x| &x.indicator),
            )),
            Arc::new(StringArray::from_iter_values(f.iter().map(|x| &x.zone))),
            Arc::new(StringArray::from_iter_values(
                f.iter().map(|_| c.period.label()),
            )),
            decimals(f.iter().map(|x| x.value))?,
            Arc::new(Int64Array::from_iter_values(f.iter().map(|x| x.firms))),
            decimals(f.iter().map(|x| x.same_base))?,
            decimals(f.iter().map(|x| x.nominal_base))?,
            Arc::new(Int64Array::from_iter_values(f.iter().map(|x| x.firms_base))),
            Arc::new(Int64Array::from_iter_values(f.iter().map(|x| x.entries))),
            Arc::new(Int64Array::from_iter_values(f.iter().map(|x| x.exits))),
        ],
    )
    .map_err(Error::engine)?;
    let mut files = std::collections::BTreeMap::new();
    files.insert(FIGURES.to_string(), write(&dir.join(FIGURES), figures)?);
    files.insert(FIRMS.to_string(), write_rows(&dir.join(FIRMS), &c.rows)?);
    let m = Manifest {
        kind: "indicators".into(),
        set_name: set.name.clone(),
        set_version: set.version.clone(),
        set_hash: set.hash.clone(),
        snapshot_hash: snapshot_hash.to_string(),
        period: c.period.label(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        zones: c.zones.clone(),
        firms_without_zone: c.firms_without_zone,
        runs: c.runs.clone(),
        notes: c.notes.iter().map(|(zh, _)| zh.clone()).collect(),
        files,
    };
    let text = serde_json::to_string_pretty(&m).map_err(Error::engine)?;
    std::fs::write(dir.join(MANIFEST), text + "\n").map_err(|e| Error::io(dir, e))?;
    Ok(m)
}

fn batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(Error::engine)?
        .build()
        .map_err(Error::engine)?;
    r.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::engine)
}

/// A written output, read back and checked against its manifest (a doctored file is refused).
pub struct Output {
    pub manifest: Manifest,
    pub period: Period,
    pub figures: Vec<Figure>,
    pub firms: Vec<FirmRow>,
}

/// Reads an output directory; every file must match the manifest's SHA-256.
pub fn read(dir: &Path) -> Result<Output> {
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).map_err(|e| Error::io(dir, e))?)
            .map_err(|e| Error::io(&dir.join(MANIFEST), e))?;
    if m.kind != "indicators" {
        return Err(Error::plain(
            format!("{}：不是指标输出的清单", dir.display()),
            format!("{}: not an indicators manifest", dir.display()),
        ));
    }
    for (name, want) in &m.files {
        let p = dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &got != want {
            return Err(Error::plain(
                format!("{}：内容与清单记录的哈希不符，拒绝使用", p.display()),
                format!(
                    "{}: does not match its manifest's hash; refused",
                    p.display()
                ),
            ));
        }
    }
    let period = Period::parse(&m.period).ok_or_else(|| {
        Error::plain(
            format!("清单期间“{}”无效", m.period),
            format!("bad period `{}` in the manifest", m.period),
        )
    })?;
    let mut figures = vec![];
    for b in batches(&dir.join(FIGURES))? {
        let s = |i: usize| b.column(i).as_string::<i32>().clone();
        let d = |i: usize| b.column(i).as_primitive::<Decimal128Type>().clone();
        let n = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let (ind, zone, value, firms, same, nominal, fb, ent, ex) =
            (s(0), s(1), d(3), n(4), d(5), d(6), n(7), n(8), n(9));
        for r in 0..b.num_rows() {
            figures.push(Figure {
                indicator: ind.value(r).into(),
                zone: zone.value(r).into(),
                value: value.value(r),
                firms: firms.value(r),
                same_base: same.value(r),
                nominal_base: nominal.value(r),
                firms_base: fb.value(r),
                entries: ent.value(r),
                exits: ex.value(r),
            });
        }
    }
    let firms = rows_from(&batches(&dir.join(FIRMS))?);
    Ok(Output {
        manifest: m,
        period,
        figures,
        firms,
    })
}

/// Drill-down batches as values.
pub fn rows_from(batches: &[RecordBatch]) -> Vec<FirmRow> {
    let mut firms = vec![];
    for b in batches {
        let s = |i: usize| b.column(i).as_string::<i32>().clone();
        let d = |i: usize| b.column(i).as_primitive::<Decimal128Type>().clone();
        let (ind, id, name, z, zb) = (s(0), s(1), s(2), s(3), s(4));
        let (i1, i0) = (b.column(5).as_boolean(), b.column(6).as_boolean());
        let (v, bv) = (d(7), d(8));
        let opt = |a: &StringArray, r: usize| (!a.is_null(r)).then(|| a.value(r).to_string());
        for r in 0..b.num_rows() {
            firms.push(FirmRow {
                indicator: ind.value(r).into(),
                firm_id: id.value(r).into(),
                name: name.value(r).into(),
                zone: opt(&z, r),
                zone_base: opt(&zb, r),
                in_current: i1.value(r),
                in_base: i0.value(r),
                value: v.value(r),
                base_value: bv.value(r),
            });
        }
    }
    firms
}
