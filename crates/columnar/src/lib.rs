//! The columnar engine: the same IR as the reference evaluator, compiled to Apache DataFusion
//! plans over a snapshot (docs/SNAPSHOT.md), evaluated for a whole population at once.
//! Exactness: every number is Decimal128(38, 12) with the reference's integer arithmetic
//! (`udf`), so results agree with `huiqi-eval` to the 分 (checked by differential tests).
//!
//! `engine` is the entry (`run`: load, plan, execute, results), `exec` executes DataFrames
//! (partitions collected, stages materialised, dense columns gathered by firm), `results` holds
//! a run's rows column-wise.

pub mod allocate;
pub mod clause;
pub mod clawback;
pub mod compile;
pub mod delta;
mod engine;
pub mod error;
mod exec;
pub mod frame;
pub mod load;
pub mod output;
mod rank;
pub mod reasons;
mod results;
mod rows;
pub mod udf;

pub use engine::{
    chunk_schema, chunk_slots, deal_parts, rules_over_slots, run, run_pair, slots_schema,
    ChunkSlots, Options, Timings,
};
pub use error::Error;
pub use reasons::Reasons;
pub use results::{Results, Row};
