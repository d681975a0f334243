//! One module per subcommand (or family): arguments, one call into the `huiqi` crate, rendering.

#[cfg(feature = "distributed")]
pub mod cluster;
pub mod data;
pub mod demo;
pub mod explain;
pub mod indicators;
pub mod ledger;
pub mod ledger_render;
pub mod pack;
pub mod run;
pub mod serve;
pub mod simulate;
