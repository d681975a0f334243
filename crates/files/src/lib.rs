//! The contracts between huiqi's stages, each defined once: what `ingest` writes and the engine
//! and the ledger read (a snapshot's layout), what `run` writes and the ledger reads (the run
//! manifest and the results columns), and how every CSV the project writes quotes a cell.
//!
//! The crates that own a stage write and read the files through these names; the only I/O here
//! is recomputing a snapshot's content hash, because the hash is part of the contract.

pub mod csv;
pub mod run;
pub mod snapshot;
