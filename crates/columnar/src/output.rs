//! Run results on disk: one row per firm × clause × tranche as Parquet; the rows a person
//! reads ([`Readable`]) as CSV and XLSX; and a manifest naming the policy and snapshot hashes,
//! the engine version and the timings. Every file is byte-identical for the same inputs (fixed
//! writer metadata, sorted rows).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, DictionaryArray, Int64Array, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, UInt32Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::Results;

type R<T> = crate::error::Result<T>;

/// Hashes what passes through, so a file's sha256 comes without reading it back.
pub(crate) struct Hashing<W> {
    inner: W,
    pub(crate) hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) fn create(path: &Path) -> R<Hashing<BufWriter<File>>> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    Ok(Hashing {
        inner: BufWriter::with_capacity(1 << 20, f),
        hash: Sha256::new(),
    })
}

/// The rows a person reads, which `results.csv` and `results.xlsx` hold: every row with an
/// amount, and every zero the firm met the clause's conditions for but a cap, a ranking, an
/// exclusive group or a pool took (`ReasonKind::cut_after_qualifying`). The rest — a failed
/// condition, missing data, the window, a computed zero, a negative list: nine rows in ten of a
/// 1M-firm zone's twelve million — are in `results.parquet` only; a firm's own check or
/// `huiqi explain` says why, condition by condition.
pub struct Readable {
    /// By reason code: whether a zero with this reason is read.
    zero_read: Vec<bool>,
}

impl Readable {
    pub fn of(rows: &Results) -> Readable {
        Readable {
            zero_read: rows
                .reasons
                .texts()
                .map(|t| {
                    huiqi_ir::reason::ReasonKind::of_result_text(t)
                        .is_some_and(|k| k.cut_after_qualifying())
                })
                .collect(),
        }
    }

    pub fn row(&self, rows: &Results, i: usize) -> bool {
        rows.amount_fen[i] != 0
            || self
                .zero_read
                .get(rows.reason[i] as usize)
                .copied()
                .unwrap_or(false)
    }

    /// How many rows are read.
    pub fn count(&self, rows: &Results) -> usize {
        (0..rows.len()).filter(|&i| self.row(rows, i)).count()
    }
}

/// XLSX holds at most this many data rows on a sheet.
pub const XLSX_MAX_ROWS: usize = 1_048_575;

/// Writes results.parquet; returns its sha256.
pub fn write_parquet(rows: &Results, path: &Path) -> R<String> {
    let dict = || DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8));
    // The text columns go in as dictionaries over the texts the results store once (firm ids,
    // slot names, reasons), keyed by the results' own indices: 12M rows at 1M firms would
    // otherwise build about 1 GB of strings only for the writer to hash them again. The file
    // has plain string columns either way; the Arrow schema is not embedded, so readers see
    // Utf8 rather than the writer's dictionaries.
    let schema = Arc::new(Schema::new(vec![
        Field::new("firm_id", dict(), false),
        Field::new("clause", dict(), false),
        Field::new("tranche", dict(), false),
        // 18 digits: Parquet stores it as INT64 (cheap to encode and to take min/max of)
        // rather than as 9-byte strings; 10^16 元 is beyond any award (checked below).
        Field::new("amount_yuan", DataType::Decimal128(18, 2), false),
        Field::new("amount_fen", DataType::Int64, false),
        Field::new("reason", dict(), true),
    ]));
    // Min/max statistics cost a string comparison per value (a third of a 1M-firm run's writing
    // CPU); clause, tranche and reason have a few dozen values each and are never pruned on, so
    // only the credit code (sorted: a lookup key) and the amounts keep them.
    let mut props = WriterProperties::builder()
        .set_created_by("huiqi run v1".into())
        .set_max_row_group_row_count(Some(256 * 1024));
    for c in ["clause", "tranche", "reason"] {
        props = props.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    let options = ArrowWriterOptions::new()
        .with_properties(props.build())
        .with_skip_arrow_metadata(true);
    // Before the file is created: a refused run leaves no partial file.
    if let Some(&a) = rows
        .amount_fen
        .iter()
        .find(|a| a.unsigned_abs() >= 1_000_000_000_000_000_000)
    {
        return Err(Error::engine(format!(
            "amount {a} 分 does not fit results.parquet's amount_yuan (18 digits)"
        )));
    }
    let mut w = ArrowWriter::try_new_with_options(create(path)?, schema.clone(), options)
        .map_err(Error::engine)?;
    let texts = |t: &[Arc<str>]| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(t.iter().map(|s| &**s)))
    };
    let firm_ids: ArrayRef = Arc::new(rows.firm_ids.clone());
    let clauses = texts(&rows.clauses);
    let tranches = texts(&rows.tranches);
    let reasons: ArrayRef = Arc::new(StringArray::from_iter_values(rows.reasons.texts()));
    let keyed = |keys: UInt32Array, values: &ArrayRef| -> R<ArrayRef> {
        Ok(Arc::new(
            DictionaryArray::<UInt32Type>::try_new(keys, values.clone()).map_err(Error::engine)?,
        ))
    };
    let n = rows.len();
    let step = 256 * 1024;
    for start in (0..n).step_by(step) {
        let r = start..(start + step).min(n);
        let slots = || UInt32Array::from(rows.slot[r.clone()].to_vec());
        let cols: Vec<ArrayRef> = vec![
            keyed(UInt32Array::from(rows.firm[r.clone()].to_vec()), &firm_ids)?,
            keyed(slots(), &clauses)?,
            keyed(slots(), &tranches)?,
            Arc::new(
                Decimal128Array::from_iter_values(
                    rows.amount_fen[r.clone()].iter().map(|&a| a as i128),
                )
                .with_precision_and_scale(18, 2)
                .map_err(Error::engine)?,
            ),
            Arc::new(Int64Array::from(rows.amount_fen[r.clone()].to_vec())),
            // Code 0 (no reason) is a null.
            keyed(
                rows.reason[r]
                    .iter()
                    .map(|&c| (c != 0).then_some(c))
                    .collect(),
                &reasons,
            )?,
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(Error::engine)?;
        w.write(&batch).map_err(Error::engine)?;
    }
    let mut h = w.into_inner().map_err(Error::engine)?;
    h.flush().map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", h.hash.finalize()))
}

/// One CSV text field as bytes, the way every CSV of the project writes it
/// (`huiqi_files::csv::push_field`): a cell a spreadsheet would run as a formula is neutralised,
/// bidi controls are shown inertly, and it is quoted only when it must be. The amounts are not
/// text fields: they are written as numbers (`-5.00`), untouched.
fn field(s: &str) -> Vec<u8> {
    let mut v = String::new();
    huiqi_files::csv::push_field(&mut v, s);
    v.into_bytes()
}

/// Writes results.csv (the [`Readable`] rows); returns its sha256.
pub fn write_csv(rows: &Results, path: &Path) -> R<String> {
    let read = Readable::of(rows);
    let mut w = create(path)?;
    let err = |e: std::io::Error| Error::io(path, e);
    // A BOM so spreadsheet programs read the Chinese headers as UTF-8.
    w.write_all("\u{feff}统一社会信用代码,条款,分期,金额（元）,金额（分）,原因\n".as_bytes())
        .map_err(err)?;
    // 12M rows at 1M firms: clause, tranche and reason fields are escaped once per slot and
    // reason, numbers are formatted by hand, and lines go out in large blocks.
    let slot_fields: Vec<Vec<u8>> = (0..rows.clauses.len())
        .map(|s| {
            let mut v = vec![b','];
            v.extend(field(&rows.clauses[s]));
            v.push(b',');
            v.extend(field(&rows.tranches[s]));
            v.push(b',');
            v
        })
        .collect();
    let mut reason_fields: Vec<Vec<u8>> = vec![];
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
    // A firm's rows are consecutive: its credit code is escaped once for all of them.
    let mut firm: Option<(u32, Vec<u8>)> = None;
    for i in (0..rows.len()).filter(|&i| read.row(rows, i)) {
        let f = rows.firm[i];
        match &firm {
            Some((g, field)) if *g == f => buf.extend_from_slice(field),
            _ => {
                let field = field(rows.firm_ids.value(f as usize));
                buf.extend_from_slice(&field);
                firm = Some((f, field));
            }
        }
        buf.extend_from_slice(&slot_fields[rows.slot[i] as usize]);
        let fen = rows.amount_fen[i];
        if fen == 0 {
            buf.extend_from_slice(b"0.00,0,");
        } else {
            if fen < 0 {
                buf.push(b'-');
            }
            let a = fen.unsigned_abs();
            push_u64(&mut buf, a / 100);
            buf.push(b'.');
            buf.push(b'0' + (a % 100 / 10) as u8);
            buf.push(b'0' + (a % 10) as u8);
            buf.push(b',');
            if fen < 0 {
                buf.push(b'-');
            }
            push_u64(&mut buf, a);
            buf.push(b',');
        }
        let code = rows.reason[i] as usize;
        while reason_fields.len() <= code {
            let c = reason_fields.len() as u32;
            reason_fields.push(field(rows.reasons.text(c).unwrap_or("")));
        }
        buf.extend_from_slice(&reason_fields[code]);
        buf.push(b'\n');
        if buf.len() >= 8 << 20 {
            w.write_all(&buf).map_err(err)?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(err)?;
    w.flush().map_err(err)?;
    Ok(format!("{:x}", w.hash.finalize()))
}

/// Decimal digits of `v`.
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut d = [0u8; 20];
    let mut k = d.len();
    loop {
        k -= 1;
        d[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&d[k..]);
}

/// Writes the [`Readable`] rows to XLSX, or returns false when they do not fit on one sheet.
/// Text cells are written as strings (`write_string`), never as formulas, whatever they start
/// with; amounts as numbers.
pub fn write_xlsx(rows: &Results, path: &Path) -> R<bool> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
    let read = Readable::of(rows);
    if read.count(rows) > XLSX_MAX_ROWS {
        return Ok(false);
    }
    let e = |x: rust_xlsxwriter::XlsxError| Error::engine(x);
    let mut wb = Workbook::new();
    // A fixed creation date keeps the file byte-identical between runs.
    let when = ExcelDateTime::from_ymd(2000, 1, 1).map_err(e)?;
    wb.set_properties(
        &DocProperties::new()
            .set_creation_datetime(&when)
            .set_title("huiqi run results"),
    );
    let ws = wb.add_worksheet();
    ws.set_name("结果").map_err(e)?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    for (c, h) in [
        "统一社会信用代码",
        "条款",
        "分期",
        "金额（元）",
        "金额（分）",
        "原因",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(e)?;
    }
    for (n, i) in (0..rows.len()).filter(|&i| read.row(rows, i)).enumerate() {
        let row = n as u32 + 1;
        let fen = rows.amount_fen[i];
        ws.write_string(row, 0, rows.firm_id(i)).map_err(e)?;
        ws.write_string(row, 1, rows.clause(i)).map_err(e)?;
        ws.write_string(row, 2, rows.tranche(i)).map_err(e)?;
        // The 分 column is an exact integer; the 元 column is Excel's number, for display and sums.
        ws.write_number_with_format(row, 3, fen as f64 / 100.0, &money)
            .map_err(e)?;
        ws.write_number(row, 4, fen as f64).map_err(e)?;
        ws.write_string(row, 5, rows.reason(i).unwrap_or(""))
            .map_err(e)?;
    }
    wb.save(path).map_err(e)?;
    Ok(true)
}

pub fn file_sha256(path: &Path) -> R<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reasons;

    const LINK: &str = "=HYPERLINK(\"http://x\",\"点此领取\")";

    fn rows() -> Results {
        let mut reasons = Reasons::default();
        let select = reasons.code("select:遴选");
        let cond = reasons.code("cond:门槛");
        Results {
            firm_ids: StringArray::from(vec!["+cmd|' /C calc'!A0", "91330201MA2AB3C4D5"]),
            clauses: vec![LINK.into(), "条款\u{202E}甲".into()],
            tranches: vec!["@SUM(1+1)".into(), "".into()],
            reasons,
            firm: vec![0, 1, 1, 1],
            slot: vec![0, 1, 0, 1],
            amount_fen: vec![-500, 123456, 0, 0],
            reason: vec![0, 0, select, cond],
            standalone_fen: vec![],
        }
    }

    #[test]
    fn results_csv_neutralises_formulas_and_keeps_numbers() {
        let dir = std::env::temp_dir().join(format!("huiqi-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.csv");
        write_csv(&rows(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "'+cmd|' /C calc'!A0,\"'=HYPERLINK(\"\"http://x\"\",\"\"点此领取\"\")\",'@SUM(1+1),-5.00,-500,",
                "91330201MA2AB3C4D5,条款<U+202E>甲,,1234.56,123456,",
                "91330201MA2AB3C4D5,\"'=HYPERLINK(\"\"http://x\"\",\"\"点此领取\"\")\",'@SUM(1+1),0.00,0,select:遴选",
            ]
        );
    }

    /// The CSV and XLSX hold the rows a person reads: amounts, and zeros that a cap, a ranking,
    /// an exclusive group or a pool made of a firm that met the clause's conditions.
    #[test]
    fn only_the_rows_a_person_reads_go_to_csv() {
        let r = rows();
        let read = Readable::of(&r);
        let kept: Vec<usize> = (0..r.len()).filter(|&i| read.row(&r, i)).collect();
        assert_eq!(kept, [0, 1, 2]);
        assert_eq!(read.count(&r), 3);
    }
}
