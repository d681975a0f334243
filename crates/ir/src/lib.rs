//! The checked intermediate representation of a policy pack, the value and money types, the
//! firm data model, and the reasons an entitlement is zero or cut (`reason`). Both evaluators
//! (scalar reference, columnar) consume this; it knows nothing of syntax (that is `huiqi-lang`)
//! or of storage.

pub mod date;
pub mod exact;
pub mod firm;
pub mod money;
pub mod program;
pub mod reason;
pub mod uscc;
pub mod value;

pub use date::{Date, Validity};
pub use firm::{Award, EventRec, FactData, Firm};
pub use program::*;
pub use value::Value;
