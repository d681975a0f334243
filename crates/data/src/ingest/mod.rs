//! `ingest`: read every source of a mapping, validate every cell, and write an immutable snapshot
//! (docs/SNAPSHOT.md) — all or nothing.
//!
//! Sources are read into compact columns (money as integer 分, keys packed into a `u64`), sorted,
//! checked for duplicates, then merged per (firm, year[, month]) while the Parquet files are
//! written into a temporary directory that is renamed to the hash only when everything succeeded.

mod emit;
mod events;
mod projects;
mod read;
mod shape;
mod store;

use std::path::{Path, PathBuf};

use huiqi_ir::Program;

use crate::error::{DataError, Errors, IngestReport};
use crate::mapping;
use crate::snapshot::{Rows, SourceInfo};
use crate::source;

/// What `ingest` wrote (or found already written).
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    /// Full SHA-256 (hex); the directory is named by its first 16 digits.
    pub hash: String,
    pub dir: PathBuf,
    pub rows: Rows,
    /// The snapshot already existed (same data) and was reused.
    pub reused: bool,
    /// The sources this ingest read, with what their mappings passed over (rows filtered,
    /// unknown names, duplicates dropped) — the manifest's `sources` as this ingest found them
    /// (a reused snapshot keeps the manifest it was written with).
    pub sources: Vec<SourceInfo>,
}

/// Reads, validates and snapshots the data a mapping describes. On any problem nothing is
/// written and the report lists up to `max_errors` of them.
pub fn ingest(
    mapping_path: &Path,
    program: &Program,
    snapshots_dir: &Path,
    max_errors: usize,
) -> Result<SnapshotInfo, IngestReport> {
    let plan = mapping::load(mapping_path, program).map_err(|es| {
        let mut e = Errors::new(max_errors);
        es.into_iter().for_each(|x| e.push(x));
        e.into_report()
    })?;
    let mut errs = Errors::new(max_errors);
    let mut sources = vec![];
    let mut texts = store::Texts::default();
    let firms = read::read_firms(&plan, program, &mut errs, &mut sources, &mut texts);
    let Some(firms) = firms else {
        return Err(errs.into_report());
    };
    let yearly: Vec<_> = plan
        .yearly
        .iter()
        .map(|s| read::read_period(s, program, &firms, &mut errs, &mut sources, &mut texts))
        .collect();
    let monthly: Vec<_> = plan
        .monthly
        .iter()
        .map(|s| read::read_period(s, program, &firms, &mut errs, &mut sources, &mut texts))
        .collect();
    let events = events::read_events(&plan, program, &firms, &mut errs, &mut sources);
    let awards = events::read_awards(&plan, program, &firms, &mut errs, &mut sources);
    let projects = projects::read_projects(&plan, &mut errs, &mut sources);
    if !errs.is_empty() {
        return Err(errs.into_report());
    }
    let mut source_info = vec![];
    for s in sources {
        let f = &s.file;
        match source::sha256_file(&f.path) {
            Ok(sha256) => source_info.push(SourceInfo {
                file: f.name.clone(),
                sha256,
                rows: s.rows,
                filtered: s.stat.filtered,
                unknown: s.stat.unknown,
                duplicates: s.stat.duplicates,
            }),
            Err(e) => errs.push(DataError::new(
                &f.shown,
                format!("读取失败：{e}"),
                format!("read error: {e}"),
            )),
        }
    }
    if !errs.is_empty() {
        return Err(errs.into_report());
    }
    let data = emit::Data {
        program,
        plan: &plan,
        firms,
        yearly,
        monthly,
        events,
        awards,
        projects,
        texts,
    };
    data.write(snapshots_dir, source_info)
        .map_err(|e| IngestReport {
            errors: vec![DataError::new(
                snapshots_dir.display().to_string(),
                format!("写入快照失败：{}", e.zh()),
                format!("writing the snapshot failed: {e}"),
            )],
            truncated: false,
        })
}
