//! Enterprise data: mapping files, ingestion with validation, immutable Parquet snapshots, the demo-zone generator.
