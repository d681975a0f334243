//! Data errors: where (file, spreadsheet row, column header) and why, in Chinese and English.

use std::fmt;
use std::path::Path;

/// One problem with the input data or the mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// The file as the user knows it (mapping directory joined with the mapped path).
    pub file: String,
    /// 1-based row as a spreadsheet shows it (header = row 1); None: the whole file.
    pub row: Option<u64>,
    /// The column's header (or a mapping key); None: the whole row or file.
    pub column: Option<String>,
    pub zh: String,
    pub en: String,
}

impl DataError {
    pub fn new(file: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        DataError {
            file: file.into(),
            row: None,
            column: None,
            zh: zh.into(),
            en: en.into(),
        }
    }
    pub fn at(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }
    pub fn col(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
    /// `file:row:column` (parts that are unknown are left out).
    pub fn location(&self) -> String {
        let mut s = self.file.clone();
        if let Some(r) = self.row {
            s.push_str(&format!(":{r}"));
        }
        if let Some(c) = &self.column {
            s.push(':');
            s.push_str(c);
        }
        s
    }
    /// One line in one language.
    pub fn render(&self, en: bool) -> String {
        format!(
            "{}: {}",
            self.location(),
            if en { &self.en } else { &self.zh }
        )
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — {}", self.location(), self.zh, self.en)
    }
}

/// Why an ingest wrote nothing: the problems found, at most `max_errors` of them.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    pub errors: Vec<DataError>,
    /// More problems were found than were kept.
    pub truncated: bool,
}

impl IngestReport {
    pub fn render(&self, en: bool) -> String {
        let mut s = String::new();
        for e in &self.errors {
            s.push_str(&e.render(en));
            s.push('\n');
        }
        if self.truncated {
            s.push_str(if en {
                "… more errors not shown (raise --max-errors)\n"
            } else {
                "…… 还有更多错误未列出（可调大 --max-errors）\n"
            });
        }
        s
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        if self.truncated {
            writeln!(f, "…… 还有更多错误未列出 — more errors not shown")?;
        }
        Ok(())
    }
}

/// A reason without a location, filled in by the caller that knows file, row and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub zh: String,
    pub en: String,
}

pub(crate) fn reason(zh: impl Into<String>, en: impl Into<String>) -> Reason {
    Reason {
        zh: zh.into(),
        en: en.into(),
    }
}

/// Collects errors up to a limit; readers stop early once it is full.
pub(crate) struct Errors {
    pub list: Vec<DataError>,
    max: usize,
    pub truncated: bool,
}

impl Errors {
    pub fn new(max: usize) -> Self {
        Errors {
            list: vec![],
            max: max.max(1),
            truncated: false,
        }
    }
    pub fn push(&mut self, e: DataError) {
        if self.list.len() < self.max {
            self.list.push(e);
        } else {
            self.truncated = true;
        }
    }
    pub fn full(&self) -> bool {
        self.list.len() >= self.max
    }
    /// Called by a reader that has more rows to check: true when it must stop (the report
    /// then says that more errors may exist).
    pub fn stop(&mut self) -> bool {
        if self.full() {
            self.truncated = true;
        }
        self.truncated
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn into_report(self) -> IngestReport {
        IngestReport {
            errors: self.list,
            truncated: self.truncated,
        }
    }
}

/// Everything but cell validation that can fail in this crate: a file that cannot be read or
/// written, a snapshot whose tables are not what docs/SNAPSHOT.md describes, a generator request
/// out of range. `Display` is the English text; [`Error::zh`] the Chinese.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The operating system or a format library failed on `path`.
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
    /// A format library (Parquet, Arrow, CSV, XLSX, JSON) failed without naming a file.
    #[error("{0}")]
    Lib(String),
    /// A snapshot that is not what its layout promises (written by another tool, or damaged).
    #[error("{en}")]
    Snapshot { zh: String, en: String },
    /// `generate` was asked for an empty or out-of-range year range.
    #[error("bad year range {first}..{last}")]
    YearRange { first: i32, last: i32 },
    /// `generate` was asked for no firms.
    #[error("--firms must be at least 1")]
    NoFirms,
    /// More generated rows than one XLSX sheet holds.
    #[error(
        "{sheet}: more than {max} rows do not fit an XLSX sheet; generate fewer firms or years, or CSV only"
    )]
    SheetFull { sheet: String, max: u32 },
    /// A sample firm given to `generate_with` has a fact (or an award) the generated files
    /// cannot hold as it is: no column for it, another shape or type, an inexact amount.
    #[error("sample firm {firm} ({name}), `{fact}`: {en}")]
    SampleFirm {
        firm: String,
        name: String,
        fact: String,
        zh: String,
        en: String,
    },
}

impl Error {
    /// `path: cause`, as the OS or the library says it.
    pub fn io(path: impl AsRef<Path>, cause: impl fmt::Display) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            cause: cause.to_string(),
        }
    }

    /// A library's own message.
    pub fn lib(cause: impl fmt::Display) -> Error {
        Error::Lib(cause.to_string())
    }

    /// A snapshot table that breaks the layout contract, in both languages.
    pub fn snapshot(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error::Snapshot {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// The message in Chinese (file paths and library causes stay as they are).
    pub fn zh(&self) -> String {
        match self {
            Error::Io { .. } | Error::Lib(_) => self.to_string(),
            Error::Snapshot { zh, .. } => zh.clone(),
            Error::YearRange { first, last } => {
                format!(
                    "年份范围 {first}..{last} 不对（应在 1950–2100 之间，且起始年不晚于结束年）"
                )
            }
            Error::NoFirms => "--firms 至少为 1".into(),
            Error::SampleFirm {
                firm,
                name,
                fact,
                zh,
                ..
            } => format!("样例企业 {firm}（{name}）的 `{fact}`：{zh}"),
            Error::SheetFull { sheet, max } => format!(
                "{sheet}：超过 {max} 行，一个 XLSX 工作表放不下；请减少企业数或年数，或只生成 CSV"
            ),
        }
    }

    /// The message in English (the `Display` text).
    pub fn en(&self) -> String {
        self.to_string()
    }

    /// One language.
    pub fn msg(&self, en: bool) -> String {
        if en {
            self.en()
        } else {
            self.zh()
        }
    }
}

/// Callers that still collect errors as text (`?` into `Result<_, String>`) get the `Display` text.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}
