//! Enterprise data: a generated zone, ingest into a snapshot, a snapshot's manifest.

use std::path::{Path, PathBuf};

use huiqi_ir::{Firm, Program};

use crate::{Error, Result};

/// `2019..2023` (or `2019..=2023`): both ends included.
pub fn parse_years(s: &str) -> Result<(i32, i32)> {
    let parsed = (|| {
        let (a, b) = s.split_once("..")?;
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b): (i32, i32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b).then_some((a, b))
    })();
    parsed.ok_or_else(|| {
        Error::usage(
            format!("年份范围应写成 2019..2023，实为 `{s}`"),
            format!("years must look like 2019..2023, not `{s}`"),
        )
    })
}

/// A generated zone: what to write where.
#[derive(Clone, Debug)]
pub struct GenRequest {
    pub firms: usize,
    pub years: (i32, i32),
    pub seed: u64,
    pub out: PathBuf,
    pub xlsx: bool,
    /// Write into `out` even when it holds something other than a generated zone.
    pub force: bool,
    /// Firms of firm files written after the generated ones (the demo's sample firms).
    pub samples: Option<SampleFirms>,
}

/// Firms read from firm files, and the pack they were read against (it names their facts).
#[derive(Clone, Debug)]
pub struct SampleFirms {
    pub program: Program,
    pub firms: Vec<Firm>,
}

impl SampleFirms {
    /// Every firm file (`*.toml`, `*.json`) of `dir`, in file name order.
    pub fn read(program: &Program, dir: &Path) -> Result<SampleFirms> {
        let files = crate::explain::firm_files(dir).map_err(|e| Error::io(dir, e))?;
        let firms = files
            .iter()
            .map(|f| crate::explain::read_firm(program, f))
            .collect::<Result<Vec<_>>>()?;
        Ok(SampleFirms {
            program: program.clone(),
            firms,
        })
    }
}

/// A generated zone is recognised by its mapping file.
const ZONE_DIR: crate::outdir::Kind<'static> = crate::outdir::Kind {
    marker: "mapping.toml",
    is_own: |t| t.contains("[firms]"),
    zh: "生成的园区数据目录",
    en: "a generated zone",
};

/// Writes a realistic demo zone's data files and `mapping.toml` (the same seed, the same bytes),
/// with the sample firms, if any, after the generated ones.
pub fn generate(r: &GenRequest) -> Result<huiqi_data::GenStats> {
    crate::outdir::check_writable(&r.out, &ZONE_DIR, r.force)?;
    let samples = r.samples.as_ref().map(|s| huiqi_data::gen::SampleFirms {
        program: &s.program,
        firms: &s.firms,
    });
    huiqi_data::gen::generate_with(
        &r.out, r.firms, r.years.0, r.years.1, r.seed, r.xlsx, samples,
    )
    .map_err(|e| match e {
        huiqi_data::Error::SampleFirm { .. } => Error::input(e.zh(), e.en()),
        e => Error::plain(e.to_string()),
    })
}

/// The seed page's four zones (广州、成都、宁波、长沙高新区), calibrated so that the indicator
/// set reproduces its published figures from the firm-level rows (docs/INDICATORS.md).
pub fn generate_seed_zones(out: &Path, xlsx: bool, force: bool) -> Result<huiqi_data::GenStats> {
    crate::outdir::check_writable(out, &ZONE_DIR, force)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    huiqi_data::generate_seed_zones(out, crate::indicators::SEED_ZONES_SEED, xlsx)
        .map_err(|e| Error::plain(e.to_string()))
}

/// Validates the data a mapping describes against `program`'s facts and writes an immutable
/// snapshot under `snapshots` — or nothing, with every problem found (up to `max_errors`).
pub fn ingest(
    program: &Program,
    mapping: &Path,
    snapshots: &Path,
    max_errors: usize,
) -> Result<huiqi_data::SnapshotInfo> {
    huiqi_data::ingest(mapping, program, snapshots, max_errors).map_err(Error::Data)
}

/// A snapshot's manifest, after checking that its files are the content the manifest names: a
/// doctored table (a column multiplied, a byte flipped) is refused, never evaluated and
/// certified under the original hash.
pub fn verified_manifest(dir: &Path) -> Result<huiqi_data::Manifest> {
    let m = snapshot_manifest(dir)?;
    verify_snapshot(dir, &m.hash)?;
    Ok(m)
}

/// Recomputes the snapshot's content hash and compares it with `want`.
pub fn verify_snapshot(dir: &Path, want: &str) -> Result<()> {
    let got = huiqi_files::snapshot::content_hash(dir).map_err(|e| Error::io(dir, e))?;
    if got == want {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "{}：快照文件的内容与其清单中的哈希不符（{}… ≠ {}…），文件被改动过或不完整；请重新导入",
            dir.display(),
            &got[..16],
            &want[..16.min(want.len())]
        ),
        format!(
            "{}: the snapshot's files do not match the hash in its manifest ({}… ≠ {}…): they were changed or are incomplete; ingest again",
            dir.display(),
            &got[..16],
            &want[..16.min(want.len())]
        ),
    ))
}

/// A snapshot's manifest.
pub fn snapshot_manifest(dir: &Path) -> Result<huiqi_data::Manifest> {
    huiqi_data::read_manifest(dir).map_err(|e| Error::plain(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn years() {
        assert_eq!(super::parse_years("2019..2023").ok(), Some((2019, 2023)));
        assert_eq!(super::parse_years("2019..=2023").ok(), Some((2019, 2023)));
        assert!(super::parse_years("2023..2019").is_err());
        assert!(super::parse_years("2019").is_err());
    }
}
