//! The columnar engine's errors, each with a Chinese and an English message (like the other
//! crates' errors): a snapshot that does not hold what the plan reads, a program the engine
//! does not support, an amount beyond exact arithmetic, an output file that cannot be written,
//! and DataFusion or Arrow failing underneath.

use std::path::{Path, PathBuf};

/// An error of a columnar run or of writing its results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The snapshot cannot be read or does not hold what the plan reads.
    #[error("snapshot: {en}")]
    Snapshot { zh: String, en: String },
    /// The program uses something only the reference evaluator supports.
    #[error("the columnar engine does not support {what} yet; use the reference evaluator")]
    Unsupported { what: String },
    /// An amount left the range of exact arithmetic (about 7.9×10¹⁶ 元), or its 分 do not fit
    /// the results: the firm and the clause where it happened (the first in credit-code order,
    /// then clause order — the reference evaluator reports the same one).
    #[error("firm {firm}, clause {clause}: the amount is beyond the range of exact arithmetic (overflow)")]
    Overflow { firm: String, clause: String },
    /// A ranking score (or tie key) of a `select` or by-score `pool` used a value beyond exact
    /// arithmetic: the firm and the rule (when no amount overflowed: the first rule in order,
    /// at its first firm in credit-code order — as the reference evaluator reports).
    #[error("firm {firm}, rule {rule}: the ranking score is beyond the range of exact arithmetic (overflow)")]
    ScoreOverflow { firm: String, rule: String },
    /// A results file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// DataFusion, Arrow or Parquet failed (or an internal invariant did not hold).
    #[error("engine: {0}")]
    Engine(String),
}

impl Error {
    pub(crate) fn snapshot(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error::Snapshot {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>) -> Error {
        Error::Unsupported { what: what.into() }
    }

    pub(crate) fn engine(e: impl std::fmt::Display) -> Error {
        Error::Engine(e.to_string())
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The message in Chinese.
    pub fn zh(&self) -> String {
        match self {
            Error::Snapshot { zh, .. } => format!("快照：{zh}"),
            Error::Unsupported { what } => {
                format!("列式引擎暂不支持 {what}；请使用参考求值器")
            }
            Error::Overflow { firm, clause } => {
                format!("企业 {firm}，条款 {clause}：金额超出精确计算的范围（溢出）")
            }
            Error::ScoreOverflow { firm, rule } => {
                format!("企业 {firm}，规则 {rule}：排序分值超出精确计算的范围（溢出）")
            }
            Error::Io { path, source } => format!("{}：{source}", path.display()),
            Error::Engine(e) => format!("引擎错误：{e}"),
        }
    }

    /// The message in English.
    pub fn en(&self) -> String {
        self.to_string()
    }
}

/// An internal invariant that did not hold (a column the plan made is missing, a type it
/// fixed is not that type), in the engine's words.
impl From<String> for Error {
    fn from(e: String) -> Error {
        Error::Engine(e)
    }
}

impl From<&str> for Error {
    fn from(e: &str) -> Error {
        Error::Engine(e.to_string())
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Error {
        Error::engine(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Error {
        Error::engine(e)
    }
}

impl From<datafusion::parquet::errors::ParquetError> for Error {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Error {
        Error::engine(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
