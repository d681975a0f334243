//! One error type, in Chinese and English; a set's errors carry `file:line:col`.

use crate::set::Loc;

#[derive(Debug, thiserror::Error)]
#[error("{en}")]
pub struct Error {
    pub zh: String,
    pub en: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn plain(zh: String, en: String) -> Error {
        Error { zh, en }
    }
    pub fn at(at: Loc, zh: String, en: String) -> Error {
        if at.file.is_empty() {
            return Error { zh, en };
        }
        Error {
            zh: format!("{at}: {zh}"),
            en: format!("{at}: {en}"),
        }
    }
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        let s = format!("{}: {e}", path.display());
        Error {
            zh: s.clone(),
            en: s,
        }
    }
    pub fn engine(e: impl std::fmt::Display) -> Error {
        Error {
            zh: format!("指标计算失败：{e}"),
            en: format!("indicator computation failed: {e}"),
        }
    }
}
