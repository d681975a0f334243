//! The reference (scalar) evaluator: one firm, one period → per clause the exact amount and an
//! explanation; the allocation stage over a population; the test runner; firm files.

pub mod alloc;
pub mod clause;
pub mod explain;
pub mod expr;
// PANIC SAFETY: firm files are moving to huiqi-data in their own change, which leaves this file
// alone; its two unwraps parse an integer the line before checked to parse (`is_i64` /
// `is_u64`, `parse::<i64>().is_ok()`).
#[allow(clippy::unwrap_used)]
pub mod runner;

pub use alloc::{evaluate_population, FirmOutcome};
pub use clause::{eval_clause, ClauseOutcome, Reason};
