//! huiqi's use cases as one library API. The `huiqi` CLI parses arguments, calls a function here
//! and renders what it returns; the service does the same over HTTP. Nothing here prints: long
//! steps report progress through a callback, and errors are [`Error`]s with zh/en messages.
//!
//! | module | use cases |
//! |---|---|
//! | [`pack`] | load, check, format and test policy packs |
//! | [`catalogue`] | a pack's clauses, 条文, facts, dated parameters and tests as data |
//! | [`explain`] | one firm under a pack, clause by clause; a what-if firm; a snapshot's firms |
//! | [`data`] | generate a zone, ingest its exports into a snapshot, read a snapshot's manifest |
//! | [`simulate`], [`groups`] | the 政策沙盘: a reform against the base pack, by clause, group of firms, pool; the budget solver; backtests |
//! | [`run`] | the whole pack over a snapshot (columnar engine), results and manifest |
//! | [`ledger`] | record a run, the 免申即享 workflow, queues, exports, reconciliation, verification, award history, accounts |
//! | [`demo`] | the demo zone end to end |

pub mod catalogue;
pub mod data;
pub mod demo;
pub mod error;
pub mod explain;
mod first_change;
pub mod groups;
pub mod indicators;
pub mod ledger;
pub mod outdir;
pub mod pack;
pub mod run;
pub mod simulate;
mod simulate_xlsx;
pub mod solve;

pub use error::Error;

/// Chinese or English, for the texts the engine itself writes (test failures, explanations).
pub use huiqi_lang::Lang;

/// What callers of the use cases need of the policy language itself.
pub mod lang {
    /// A parameter set from outside a pack (`--set 名称=值`).
    pub use huiqi_lang::ParamSet;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
