//! Zone indicators and targets as code.
//!
//! An indicator set (`indicators/*.toml`: filter, aggregate, unit, source, definition; targets
//! with their owning department) is loaded, checked and hashed like a policy pack
//! ([`set`]); [`compute`] evaluates it for one period over a snapshot — the same snapshots the
//! awards are computed from, read into a dense per-firm frame — into exact figures per zone
//! with both 同口径 and 名义 growth, and the firm rows behind each figure; [`output`] writes and
//! reads `indicators.parquet`, `indicator_firms.parquet` and a manifest; [`progress`] sets
//! figures against targets and 序时进度.

pub mod compute;
mod dense;
pub mod error;
pub mod output;
pub mod progress;
#[doc(hidden)]
pub mod reference;
pub mod runs;
pub mod set;

pub use compute::{compute, compute_with, Computed, Figure, FirmRow, Period, SCALE};
pub use error::{Error, Result};
pub use progress::{format_growth, format_value, progress, Colour, Progress};
pub use runs::{open_runs, RunUsed};
pub use set::{Indicator, IndicatorSet, Measure, Unit};
