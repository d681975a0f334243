//! The contracts between huiqi's stages, each defined once: what `ingest` writes and the engine
//! and the ledger read (a snapshot's layout), what `run` writes and the ledger reads (the run
//! manifest and the results columns), and how every CSV the project writes quotes a cell.
//!
//! Nothing here does I/O beyond (de)serialising these structs: the crates that own a stage write
//! and read the files, through these names.

pub mod csv;
pub mod run;
pub mod snapshot;
