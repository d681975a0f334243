//! Enterprise data: mapping files, ingestion with validation, immutable Parquet snapshots
//! (docs/SNAPSHOT.md), and the seeded demo-zone generator.
//!
//! Money never passes through floating point: cells become integer 分 on reading, Decimal128 at
//! scale 12 in Parquet, and `rust_decimal::Decimal` when loaded back.

pub mod awards;
pub mod dates;
pub mod error;
pub mod firmfile;
pub mod gen;
pub mod ingest;
pub mod mapping;
pub mod parse;
pub mod schema;
pub mod snapshot;
pub mod source;
mod write;

pub use error::{DataError, Error, IngestReport};
pub use gen::{generate, generate_seed_zones, GenStats};
pub use ingest::{ingest, SnapshotInfo};
pub use snapshot::{load_snapshot, load_snapshot_firms, read_manifest, Manifest, Rows, SourceInfo};
