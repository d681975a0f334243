//! An error in Chinese and English, as every huiqi error is. Inside a plan it travels as a
//! DataFusion error whose text holds both.

use datafusion::error::DataFusionError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub zh: String,
    pub en: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// An error from the engine, Ballista or the network, with what was being done.
    pub fn during(zh: &str, en: &str, e: impl std::fmt::Display) -> Error {
        Error::new(format!("{zh}: {e}"), format!("{en}: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.zh, self.en)
    }
}

impl std::error::Error for Error {}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> DataFusionError {
        DataFusionError::External(Box::new(e))
    }
}

impl From<huiqi_columnar::Error> for Error {
    fn from(e: huiqi_columnar::Error) -> Error {
        Error::new(e.zh(), e.en())
    }
}
