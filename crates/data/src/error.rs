//! Data errors: where (file, spreadsheet row, column header) and why, in Chinese and English.

use std::fmt;

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
