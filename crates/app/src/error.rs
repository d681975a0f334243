//! One error type for the use cases. Each variant knows whether the caller asked for something
//! impossible (a usage error) or the input was wrong, and says so in Chinese and English.

use std::path::PathBuf;

use huiqi_lang::{Diag, SourceMap};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy pack did not load; the diagnostics carry file:line:col and hints.
    #[error("{}: {} error(s)", path.display(), diags.len())]
    Policy {
        path: PathBuf,
        sources: Box<SourceMap>,
        diags: Vec<Diag>,
    },
    /// Ingest found bad data and wrote nothing.
    #[error("{0}")]
    Data(huiqi_data::IngestReport),
    /// A firm file is malformed.
    #[error("{}: {}", path.display(), err.en)]
    FirmFile {
        path: PathBuf,
        err: Box<huiqi_data::firmfile::FirmFileError>,
    },
    #[error("{0}")]
    Ledger(#[from] huiqi_ledger::Error),
    /// The request cannot be carried out as asked (exit code 2 on the command line).
    #[error("{en}")]
    Usage { zh: String, en: String },
    /// The input is wrong or a step failed (exit code 1).
    #[error("{en}")]
    Input { zh: String, en: String },
}

impl Error {
    /// The message in Chinese and in English.
    pub fn texts(&self) -> (String, String) {
        match self {
            Error::Usage { zh, en } | Error::Input { zh, en } => (zh.clone(), en.clone()),
            Error::FirmFile { err, .. } => (err.zh.clone(), err.en.clone()),
            Error::Ledger(l) => (l.zh.clone(), l.en.clone()),
            e => (e.to_string(), e.to_string()),
        }
    }

    pub fn usage(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error::Usage {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn input(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error::Input {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// The same text in both languages (a path and an OS error, say).
    pub fn plain(s: impl Into<String>) -> Error {
        let s = s.into();
        Error::Input {
            zh: s.clone(),
            en: s,
        }
    }

    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        Error::plain(format!("{}: {e}", path.display()))
    }

    /// Whether the request itself was malformed, rather than its input.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage { .. })
    }
}

impl From<huiqi_columnar::Error> for Error {
    fn from(e: huiqi_columnar::Error) -> Error {
        Error::input(e.zh(), e.en())
    }
}

#[cfg(feature = "distributed")]
impl From<huiqi_cluster::Error> for Error {
    fn from(e: huiqi_cluster::Error) -> Error {
        Error::input(e.zh, e.en)
    }
}

impl From<huiqi_eval::Overflow> for Error {
    fn from(o: huiqi_eval::Overflow) -> Error {
        Error::input(o.zh(), o.to_string())
    }
}
