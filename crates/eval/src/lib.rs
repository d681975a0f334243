//! The reference (scalar) evaluator: one firm, one period → per clause the exact amount and an
//! explanation; the allocation stage over a population; the test runner. (Firm files are read
//! by `huiqi_data::firmfile`.)

pub mod alloc;
pub mod clause;
pub mod clawback;
pub mod explain;
pub mod expr;
pub mod runner;

pub use alloc::{
    evaluate_population, evaluate_population_checked, first_overflow, try_evaluate_population,
    FirmOutcome, Overflow,
};
pub use clause::{eval_clause, ClauseOutcome, Reason};
