//! Reading source files (CSV, XLSX, Parquet) as rows of cells, with the header resolved to the
//! columns a mapping asks for. Rows are numbered as a spreadsheet shows them (header = row 1).

use std::cell::Cell as StdCell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use huiqi_ir::Date;

use crate::error::{DataError, Errors};
use crate::mapping::{Encoding, FileRef};

/// Longest CSV record accepted: a runaway quote or a binary file must not be read into memory whole.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// One cell as the source stores it; typed parsing happens in [`crate::parse`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    /// A spreadsheet or Parquet float; only ever turned into text through its shortest
    /// round-trip decimal, never used in arithmetic.
    Float(f64),
    Bool(bool),
    Date(Date),
    /// A Parquet decimal: mantissa and scale.
    Decimal(i128, u32),
    /// Something that is not a value (a spreadsheet error such as `#DIV/0!`, an unsupported type).
    Other(String),
}

impl Cell<'_> {
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }
}

/// Called once per data row with the row number and the cells of the requested columns.
pub(crate) type RowFn<'f> = dyn FnMut(&mut Errors, u64, &[Cell<'_>]) + 'f;

/// Reads `file`, resolving `columns` (header names) and calling `f` for each non-blank data row.
/// Returns the number of data rows, or None after a file-level problem (already reported).
pub(crate) fn scan(
    file: &FileRef,
    columns: &[&str],
    errs: &mut Errors,
    f: &mut RowFn<'_>,
) -> Option<u64> {
    let spec = Spec {
        columns,
        keys: &[],
        derived: &[],
    };
    scan_spec(file, &spec, errs, f)
}

/// The columns a scan asks a file for, and where in the mapping each was asked for.
pub(crate) struct Spec<'a> {
    /// Header names, in the order the row callback receives their cells.
    pub columns: &'a [&'a str],
    /// The mapping key that named each column (`events[0].where.结清日期`), for the message
    /// when the file has no such column; shorter than `columns` (or None) for the section's
    /// own columns, whose messages name the column only.
    pub keys: &'a [Option<String>],
    /// Columns the mapping derives (name, key): the file must not have a header of that name.
    pub derived: &'a [(String, String)],
}

/// [`scan`] with the columns' mapping keys and the derived names to check against the header.
pub(crate) fn scan_spec(
    file: &FileRef,
    spec: &Spec<'_>,
    errs: &mut Errors,
    f: &mut RowFn<'_>,
) -> Option<u64> {
    if !file.path.is_file() {
        errs.push(DataError::new(&file.shown, "文件不存在", "no such file"));
        return None;
    }
    let ext = file
        .path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => xlsx::scan(file, spec, errs, f),
        "parquet" => parquet_src::scan(file, spec, errs, f),
        _ => csv_src::scan(file, spec, errs, f),
    }
}

fn norm_header(h: &str) -> String {
    h.trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect()
}

/// Positions of the requested columns in `headers`; reports missing or ambiguous ones.
fn resolve(
    file: &FileRef,
    header_row: u64,
    headers: &[String],
    spec: &Spec<'_>,
    errs: &mut Errors,
) -> Option<Vec<usize>> {
    let mut idx = vec![];
    let mut ok = true;
    for (k, &c) in spec.columns.iter().enumerate() {
        let hits: Vec<usize> = (0..headers.len()).filter(|&i| headers[i] == c).collect();
        match hits.len() {
            1 => idx.push(hits[0]),
            0 => {
                ok = false;
                let near = headers.iter().find(|h| norm_header(h) == norm_header(c));
                let (hz, he) = match near {
                    Some(h) => (
                        format!("；是否指 `{h}`（全角/半角括号或空格不同）？"),
                        format!("; did you mean `{h}` (full-width brackets or spaces differ)?"),
                    ),
                    None => (
                        format!("；表头有：{}", headers.join("、")),
                        format!("; the header has: {}", headers.join(", ")),
                    ),
                };
                let (kz, ke) = match spec.keys.get(k).and_then(Option::as_ref) {
                    Some(key) => (
                        format!("（映射文件 {key} 要用此列）"),
                        format!(" (the mapping's {key} reads it)"),
                    ),
                    None => (String::new(), String::new()),
                };
                errs.push(
                    DataError::new(
                        &file.shown,
                        format!("找不到列 `{c}`{kz}{hz}"),
                        format!("column `{c}` not found{ke}{he}"),
                    )
                    .at(header_row)
                    .col(c),
                );
            }
            n => {
                ok = false;
                errs.push(
                    DataError::new(
                        &file.shown,
                        format!("表头中有{n}个列都叫 `{c}`，无法确定用哪一列"),
                        format!("{n} columns are named `{c}`; cannot tell which one to use"),
                    )
                    .at(header_row)
                    .col(c),
                );
            }
        }
    }
    for (name, key) in spec.derived {
        if headers.iter().any(|h| h == name) {
            ok = false;
            errs.push(
                DataError::new(
                    &file.shown,
                    format!("映射文件 {key} 派生出列 `{name}`，但文件本身已有同名的列：请给派生列另起一个名字"),
                    format!("the mapping's {key} derives a column `{name}` but the file already has a column of that name: give the derived column another name"),
                )
                .at(header_row)
                .col(name.as_str()),
            );
        }
    }
    ok.then_some(idx)
}

fn empty_file(file: &FileRef, errs: &mut Errors) {
    errs.push(DataError::new(
        &file.shown,
        "文件为空（没有表头）",
        "the file is empty (no header row)",
    ));
}

mod csv_src {
    use super::*;

    /// Stops reading when one record grows past [`MAX_RECORD_BYTES`], and ends the input with a
    /// newline if it lacks one (so every record's last line is counted the same way).
    struct Capped<R> {
        inner: R,
        read: u64,
        /// Absolute offset the current record may not reach; set after each record.
        limit: Rc<StdCell<u64>>,
        /// The length of the input (with the added newline) once its end was reached.
        end: Rc<StdCell<Option<u64>>>,
        last: u8,
        eof: bool,
    }

    impl<R: Read> Read for Capped<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let limit = self.limit.get();
            if self.read >= limit {
                return Err(io::Error::other(TooLong));
            }
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            let room = (limit - self.read).min(buf.len() as u64) as usize;
            let mut n = self.inner.read(&mut buf[..room])?;
            if n == 0 {
                self.eof = true;
                if self.read > 0 && self.last != b'\n' {
                    buf[0] = b'\n';
                    n = 1;
                }
            }
            if n > 0 {
                self.last = buf[n - 1];
            }
            self.read += n as u64;
            if self.eof {
                self.end.set(Some(self.read));
            }
            Ok(n)
        }
    }

    #[derive(Debug)]
    struct TooLong;
    impl std::fmt::Display for TooLong {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("record too long")
        }
    }
    impl std::error::Error for TooLong {}

    /// Streams GB18030 (a superset of GBK and GB2312) as UTF-8.
    struct Decode<R> {
        inner: R,
        dec: encoding_rs::Decoder,
        inbuf: Box<[u8]>,
        in_pos: usize,
        in_len: usize,
        eof: bool,
        consumed: u64,
    }

    impl<R: Read> Read for Decode<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // encoding_rs needs room for at least one whole character.
            if buf.len() < 4 {
                let mut tmp = [0u8; 4];
                let n = self.read(&mut tmp)?;
                let k = n.min(buf.len());
                buf[..k].copy_from_slice(&tmp[..k]);
                return Ok(k);
            }
            loop {
                if self.in_pos == self.in_len && !self.eof {
                    self.in_len = self.inner.read(&mut self.inbuf)?;
                    self.in_pos = 0;
                    self.eof = self.in_len == 0;
                }
                let (res, r, w) = self.dec.decode_to_utf8_without_replacement(
                    &self.inbuf[self.in_pos..self.in_len],
                    buf,
                    self.eof,
                );
                self.in_pos += r;
                self.consumed += r as u64;
                if let encoding_rs::DecoderResult::Malformed(_, _) = res {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("byte {}", self.consumed),
                    ));
                }
                if w > 0 || self.eof {
                    return Ok(w);
                }
            }
        }
    }

    fn utf8_error(file: &FileRef, row: u64, col: Option<&str>, bytes: &[u8], errs: &mut Errors) {
        let gbk = encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .is_some();
        let mut e = if gbk {
            DataError::new(
                &file.shown,
                "文件不是 UTF-8 编码，看起来是 GBK（Excel 中文版“CSV”默认编码）：请另存为“CSV UTF-8”，或在映射文件中为该文件写 encoding = \"gbk\"",
                "the file is not UTF-8; it looks like GBK (Chinese Excel's default CSV encoding): save it as \"CSV UTF-8\" or add encoding = \"gbk\" for this file in the mapping",
            )
        } else {
            DataError::new(
                &file.shown,
                "文件不是 UTF-8 编码（也不是 GBK）；请另存为 UTF-8",
                "the file is not UTF-8 (nor GBK); save it as UTF-8",
            )
        }
        .at(row);
        e.column = col.map(str::to_string);
        errs.push(e);
    }

    /// The file's bytes as UTF-8: decoded from GB18030 when the mapping says so; None after
    /// reporting a file that cannot be opened or is UTF-16.
    fn open(file: &FileRef, errs: &mut Errors) -> Option<Box<dyn Read>> {
        let raw = match File::open(&file.path) {
            Ok(h) => h,
            Err(e) => {
                errs.push(DataError::new(
                    &file.shown,
                    format!("无法打开文件：{e}"),
                    format!("cannot open the file: {e}"),
                ));
                return None;
            }
        };
        let mut raw = BufReader::with_capacity(1 << 16, raw);
        let head = match io::BufRead::fill_buf(&mut raw) {
            Ok(b) => b.to_vec(),
            Err(e) => {
                errs.push(DataError::new(
                    &file.shown,
                    format!("读取失败：{e}"),
                    format!("read error: {e}"),
                ));
                return None;
            }
        };
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            errs.push(DataError::new(
                &file.shown,
                "文件是 UTF-16 编码（Excel“Unicode 文本”）；请另存为“CSV UTF-8”",
                "the file is UTF-16 (Excel \"Unicode text\"); save it as \"CSV UTF-8\"",
            ));
            return None;
        }
        Some(match file.encoding {
            Encoding::Utf8 => Box::new(raw),
            Encoding::Gb18030 => Box::new(Decode {
                inner: raw,
                dec: encoding_rs::GB18030.new_decoder_without_bom_handling(),
                inbuf: vec![0; 1 << 16].into_boxed_slice(),
                in_pos: 0,
                in_len: 0,
                eof: false,
                consumed: 0,
            }),
        })
    }

    /// A reader's failure on `row`: a record past the length cap, bad GBK, or an I/O error.
    fn read_error(file: &FileRef, e: csv::Error, row: u64, errs: &mut Errors) {
        let too_long = matches!(e.kind(), csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|x| x.is::<TooLong>()));
        let bad_gbk =
            matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::InvalidData);
        let d = if too_long {
            DataError::new(
                &file.shown,
                format!("这一行超过 {} MiB，读取中止（引号不配对，或不是 CSV 文件？）", MAX_RECORD_BYTES >> 20),
                format!("this row is longer than {} MiB; reading stopped (an unclosed quote, or not a CSV file?)", MAX_RECORD_BYTES >> 20),
            )
        } else if bad_gbk {
            DataError::new(
                &file.shown,
                format!("不是合法的 GBK 编码（{e}）"),
                format!("not valid GBK ({e})"),
            )
        } else {
            DataError::new(
                &file.shown,
                format!("读取失败：{e}"),
                format!("read error: {e}"),
            )
        };
        errs.push(d.at(row));
    }

    type Rdr = csv::Reader<Capped<Box<dyn Read>>>;

    /// The header row (into `rec`) as trimmed texts; None after reporting an empty or
    /// non-UTF-8 file.
    fn header(
        file: &FileRef,
        rdr: &mut Rdr,
        rec: &mut csv::ByteRecord,
        limit: &StdCell<u64>,
        errs: &mut Errors,
    ) -> Option<Vec<String>> {
        match rdr.read_byte_record(rec) {
            Ok(true) => {}
            Ok(false) => {
                empty_file(file, errs);
                return None;
            }
            Err(e) => {
                read_error(file, e, 1, errs);
                return None;
            }
        }
        limit.set(rdr.position().byte() + MAX_RECORD_BYTES);
        let mut headers = vec![];
        for h in rec.iter() {
            match std::str::from_utf8(h) {
                Ok(s) => headers.push(s.trim().to_string()),
                Err(_) => {
                    utf8_error(file, 1, None, rec.as_slice(), errs);
                    return None;
                }
            }
        }
        if headers.iter().all(|h| h.is_empty()) {
            empty_file(file, errs);
            return None;
        }
        Some(headers)
    }

    pub fn scan(
        file: &FileRef,
        spec: &Spec<'_>,
        errs: &mut Errors,
        f: &mut RowFn<'_>,
    ) -> Option<u64> {
        let columns = spec.columns;
        let inner = open(file, errs)?;
        let limit = Rc::new(StdCell::new(MAX_RECORD_BYTES));
        let end = Rc::new(StdCell::new(None));
        let capped = Capped {
            inner,
            read: 0,
            limit: limit.clone(),
            end: end.clone(),
            last: 0,
            eof: false,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(file.delimiter)
            .buffer_capacity(1 << 16)
            .from_reader(capped);
        let mut rec = csv::ByteRecord::new();
        let headers = header(file, &mut rdr, &mut rec, &limit, errs)?;
        let idx = resolve(file, 1, &headers, spec, errs)?;
        let mut rows = Rows {
            file,
            headers: &headers,
            columns,
            idx: &idx,
            // Rows as a spreadsheet counts them: csv lines minus newlines inside quoted fields.
            inner_newlines: count_newlines(&rec),
            count: 0,
            end,
        };
        rows.read(&mut rdr, &mut rec, &limit, errs, f)?;
        Some(rows.count)
    }

    /// The data rows of one file being read.
    struct Rows<'a> {
        file: &'a FileRef,
        headers: &'a [String],
        columns: &'a [&'a str],
        /// The header position of each requested column.
        idx: &'a [usize],
        /// Newlines inside quoted fields so far.
        inner_newlines: u64,
        /// Data rows read (blank ones not counted).
        count: u64,
        /// Where the input ends, once the reader got there.
        end: Rc<StdCell<Option<u64>>>,
    }

    impl Rows<'_> {
        /// Every record after the header; None when reading had to stop.
        fn read(
            &mut self,
            rdr: &mut Rdr,
            rec: &mut csv::ByteRecord,
            limit: &StdCell<u64>,
            errs: &mut Errors,
            f: &mut RowFn<'_>,
        ) -> Option<()> {
            let file = self.file;
            loop {
                let next_row = rdr.position().line().saturating_sub(self.inner_newlines);
                match rdr.read_byte_record(rec) {
                    Ok(true) => {}
                    Ok(false) => return Some(()),
                    Err(e) => {
                        read_error(file, e, next_row.max(2), errs);
                        return None;
                    }
                }
                if errs.stop() {
                    return None;
                }
                limit.set(rdr.position().byte() + MAX_RECORD_BYTES);
                // The reader is now past this record's final newline; its first line, less the
                // newlines inside quoted fields so far, is the row a spreadsheet shows.
                self.inner_newlines += count_newlines(rec);
                let row = rdr
                    .position()
                    .line()
                    .saturating_sub(1 + self.inner_newlines);
                if rec
                    .iter()
                    .all(|x| x.iter().all(|b| b.is_ascii_whitespace()))
                {
                    continue;
                }
                self.count += 1;
                if self.end.get() == Some(rdr.position().byte()) && ends_in_open_quote(rec) {
                    // The csv reader ends a quoted field at the end of the input without
                    // complaint: the field swallowed the rest of the file, newlines included.
                    // The record starts one row below what `row` says (its last newline was
                    // counted as one inside a field, but it ends the file's last line).
                    let col = self.headers.get(rec.len() - 1).map(String::as_str);
                    unclosed_quote(file, row + 1, col, errs);
                    continue;
                }
                self.record(rec, row, errs, f)?;
            }
        }

        /// One non-blank record: its cells to `f`, or the reason it has none.
        fn record(
            &self,
            rec: &csv::ByteRecord,
            row: u64,
            errs: &mut Errors,
            f: &mut RowFn<'_>,
        ) -> Option<()> {
            let (file, headers) = (self.file, self.headers);
            if rec.len() != headers.len() {
                errs.push(
                    DataError::new(
                        &file.shown,
                        format!("这一行有{}列，表头有{}列", rec.len(), headers.len()),
                        format!(
                            "this row has {} columns, the header has {}",
                            rec.len(),
                            headers.len()
                        ),
                    )
                    .at(row),
                );
                return Some(());
            }
            let mut cells: Vec<Cell> = Vec::with_capacity(self.columns.len());
            for (k, &i) in self.idx.iter().enumerate() {
                match std::str::from_utf8(&rec[i]) {
                    Ok(s) if s.trim().is_empty() => cells.push(Cell::Empty),
                    Ok(s) => cells.push(Cell::Text(s)),
                    Err(_) => {
                        utf8_error(file, row, Some(self.columns[k]), &rec[i], errs);
                        return None;
                    }
                }
            }
            f(errs, row, &cells);
            Some(())
        }
    }

    /// The record's last field ends with a newline: only a quoted field reaches past the line
    /// end, and one that ends the input that way was never closed (the input always ends with a
    /// newline, added if missing). A closed field ending in a newline (`"a⏎"`) at the very end
    /// of a file reads the same, and is refused too — a rare spelling, and the message shows
    /// where to look.
    fn ends_in_open_quote(rec: &csv::ByteRecord) -> bool {
        rec.iter().next_back().is_some_and(|f| f.ends_with(b"\n"))
    }

    fn unclosed_quote(file: &FileRef, row: u64, col: Option<&str>, errs: &mut Errors) {
        let mut e = DataError::new(
            &file.shown,
            "这一行有未配对的引号 `\"`：从这个引号到文件末尾都被读成了一个单元格；请补上右引号，或删去多余的引号",
            "this row has an unclosed quote `\"`: everything from it to the end of the file was read as one cell; close the quote, or remove the stray one",
        )
        .at(row);
        e.column = col.map(str::to_string);
        errs.push(e);
    }

    fn count_newlines(rec: &csv::ByteRecord) -> u64 {
        rec.as_slice().iter().filter(|&&b| b == b'\n').count() as u64
    }
}

mod xlsx {
    use super::*;
    use calamine::{Data, Reader};

    fn cell(d: &Data) -> Cell<'_> {
        match d {
            Data::Empty => Cell::Empty,
            Data::String(s) if s.trim().is_empty() => Cell::Empty,
            Data::String(s) | Data::DateTimeIso(s) => Cell::Text(s),
            Data::Int(i) => Cell::Int(*i),
            Data::Float(x) => Cell::Float(*x),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) => {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                match Date::new(y as i32, m as u32, d as u32) {
                    Some(d) if dt.is_datetime() => Cell::Date(d),
                    _ => Cell::Other(format!("{}", dt.as_f64())),
                }
            }
            Data::DurationIso(s) => Cell::Other(s.clone()),
            Data::Error(e) => Cell::Other(format!("{e}")),
        }
    }

    pub fn scan(
        file: &FileRef,
        spec: &Spec<'_>,
        errs: &mut Errors,
        f: &mut RowFn<'_>,
    ) -> Option<u64> {
        let columns = spec.columns;
        let mut wb = match calamine::open_workbook_auto(&file.path) {
            Ok(w) => w,
            Err(e) => {
                errs.push(DataError::new(
                    &file.shown,
                    format!("无法读取电子表格：{e}"),
                    format!("cannot read the spreadsheet: {e}"),
                ));
                return None;
            }
        };
        let names = wb.sheet_names();
        let sheet = match &file.sheet {
            Some(s) if names.contains(s) => s.clone(),
            Some(s) => {
                errs.push(DataError::new(
                    &file.shown,
                    format!("没有工作表 `{s}`；工作表有：{}", names.join("、")),
                    format!("no sheet `{s}`; the sheets are: {}", names.join(", ")),
                ));
                return None;
            }
            None => match names.first() {
                Some(s) => s.clone(),
                None => {
                    empty_file(file, errs);
                    return None;
                }
            },
        };
        // calamine 0.38 parses a cell reference with unchecked u32 arithmetic (tafia/calamine
        // #709): a doctored `r="AAAAAAAAA1"` panics where overflow checks are on (they are, for
        // calamine, in every profile: Cargo.toml) — caught here as an unreadable sheet.
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wb.worksheet_range(&sheet)));
        let Ok(read) = read else {
            errs.push(DataError::new(
                &file.shown,
                format!("无法读取工作表 `{sheet}`：单元格引用超出 Excel 的范围（文件已损坏或被改动）"),
                format!("cannot read sheet `{sheet}`: a cell reference beyond Excel's range (the file is damaged or was altered)"),
            ));
            return None;
        };
        let range = match read {
            Ok(r) => r,
            Err(e) => {
                errs.push(DataError::new(
                    &file.shown,
                    format!("无法读取工作表 `{sheet}`：{e}"),
                    format!("cannot read sheet `{sheet}`: {e}"),
                ));
                return None;
            }
        };
        let Some((r0, _)) = range.start() else {
            empty_file(file, errs);
            return None;
        };
        let mut it = range.rows();
        let Some(head) = it.next() else {
            empty_file(file, errs);
            return None;
        };
        let headers: Vec<String> = head
            .iter()
            .map(|d| d.to_string().trim().to_string())
            .collect();
        let header_row = r0 as u64 + 1;
        let idx = resolve(file, header_row, &headers, spec, errs)?;
        let mut formulas = Formulas {
            file,
            sheet: &sheet,
            start: range.start().unwrap_or((0, 0)),
            columns,
            idx: &idx,
            range: None,
        };
        let mut rows = 0u64;
        let mut cells = Vec::with_capacity(columns.len());
        for (i, r) in it.enumerate() {
            if errs.stop() {
                return None;
            }
            if r.iter().all(|d| cell(d).is_empty()) {
                continue;
            }
            rows += 1;
            let row = header_row + 1 + i as u64;
            cells.clear();
            cells.extend(
                idx.iter()
                    .map(|&c| r.get(c).map(cell).unwrap_or(Cell::Empty)),
            );
            if formulas.uncached(&mut wb, row, i + 1, &cells, errs) {
                continue;
            }
            f(errs, row, &cells);
        }
        Some(rows)
    }

    /// A sheet's formulas, read on the first empty cell of a requested column: a formula saved
    /// without its result (a file written by a program and never opened in Excel) reads as
    /// empty, and must not pass for missing data.
    struct Formulas<'s> {
        file: &'s FileRef,
        sheet: &'s str,
        /// Absolute (row, column) of the range's first cell.
        start: (u32, u32),
        /// The requested columns and their positions in the range.
        columns: &'s [&'s str],
        idx: &'s [usize],
        range: Option<calamine::Range<String>>,
    }

    impl Formulas<'_> {
        /// Reports the row's empty cells that hold a formula; true when there were any.
        /// `offset` is the row's position in the range.
        fn uncached<RS: io::Read + io::Seek>(
            &mut self,
            wb: &mut calamine::Sheets<RS>,
            row: u64,
            offset: usize,
            cells: &[Cell],
            errs: &mut Errors,
        ) -> bool {
            let mut found = false;
            for (k, c) in cells.iter().enumerate() {
                if !matches!(c, Cell::Empty) {
                    continue;
                }
                let sheet = self.sheet;
                let formulas = self.range.get_or_insert_with(|| {
                    // As for the values: a reference calamine cannot parse reads as no formulas.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        wb.worksheet_formula(sheet).unwrap_or_default()
                    }))
                    .unwrap_or_default()
                });
                let at = (
                    self.start.0 + offset as u32,
                    self.start.1 + self.idx[k] as u32,
                );
                let Some(formula) = formulas.get_value(at).filter(|f| !f.is_empty()) else {
                    continue;
                };
                found = true;
                errs.push(
                    DataError::new(
                        &self.file.shown,
                        format!("公式 `={formula}` 没有保存计算结果（文件由程序生成、未在 Excel 中打开保存过？）：请用 Excel 打开后保存，或把公式转为数值"),
                        format!("the formula `={formula}` has no saved result (written by a program and never saved by Excel?): open and save the file in Excel, or replace the formula by its value"),
                    )
                    .at(row)
                    .col(self.columns[k]),
                );
            }
            found
        }
    }
}

mod parquet_src {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;

    fn cell(a: &dyn Array, i: usize) -> Cell<'_> {
        if a.is_null(i) {
            return Cell::Empty;
        }
        match a.data_type() {
            DataType::Utf8 => Cell::Text(a.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => Cell::Text(a.as_string::<i64>().value(i)),
            DataType::Utf8View => Cell::Text(a.as_string_view().value(i)),
            DataType::Int8 => Cell::Int(a.as_primitive::<Int8Type>().value(i) as i64),
            DataType::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(i) as i64),
            DataType::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(i) as i64),
            DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i)),
            DataType::UInt8 => Cell::Int(a.as_primitive::<UInt8Type>().value(i) as i64),
            DataType::UInt16 => Cell::Int(a.as_primitive::<UInt16Type>().value(i) as i64),
            DataType::UInt32 => Cell::Int(a.as_primitive::<UInt32Type>().value(i) as i64),
            DataType::UInt64 => match i64::try_from(a.as_primitive::<UInt64Type>().value(i)) {
                Ok(v) => Cell::Int(v),
                Err(_) => Cell::Other("UInt64 overflow".into()),
            },
            DataType::Float32 => Cell::Float(a.as_primitive::<Float32Type>().value(i) as f64),
            DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(i)),
            DataType::Boolean => Cell::Bool(a.as_boolean().value(i)),
            DataType::Date32 => Cell::Date(crate::dates::from_days(
                a.as_primitive::<Date32Type>().value(i),
            )),
            DataType::Decimal128(_, s) if *s >= 0 => {
                Cell::Decimal(a.as_primitive::<Decimal128Type>().value(i), *s as u32)
            }
            DataType::Null => Cell::Empty,
            t => Cell::Other(format!("Parquet {t}")),
        }
    }

    pub fn scan(
        file: &FileRef,
        spec: &Spec<'_>,
        errs: &mut Errors,
        f: &mut RowFn<'_>,
    ) -> Option<u64> {
        let bad = |e: &dyn std::fmt::Display, errs: &mut Errors| {
            errs.push(DataError::new(
                &file.shown,
                format!("无法读取 Parquet 文件（空文件或已损坏？）：{e}"),
                format!("cannot read the Parquet file (empty or damaged?): {e}"),
            ));
        };
        let h = match File::open(&file.path) {
            Ok(h) => h,
            Err(e) => {
                bad(&e, errs);
                return None;
            }
        };
        let b = match ParquetRecordBatchReaderBuilder::try_new(h) {
            Ok(b) => b,
            Err(e) => {
                bad(&e, errs);
                return None;
            }
        };
        let headers: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let idx = resolve(file, 1, &headers, spec, errs)?;
        // Top-level columns only, in file order; map the requested ones to their batch position.
        let mut roots: Vec<usize> = idx.clone();
        roots.sort_unstable();
        roots.dedup();
        let pos: Vec<usize> = idx
            .iter()
            .map(|i| roots.partition_point(|r| r < i))
            .collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), roots.iter().copied());
        let rdr = match b.with_projection(mask).with_batch_size(8192).build() {
            Ok(r) => r,
            Err(e) => {
                bad(&e, errs);
                return None;
            }
        };
        let mut rows = 0u64;
        for batch in rdr {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    bad(&e, errs);
                    return None;
                }
            };
            for i in 0..batch.num_rows() {
                if errs.stop() {
                    return None;
                }
                let cells: Vec<Cell> = pos
                    .iter()
                    .map(|&p| cell(batch.column(p).as_ref(), i))
                    .collect();
                rows += 1;
                f(errs, rows + 1, &cells);
            }
        }
        Some(rows)
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
