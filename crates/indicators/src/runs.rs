//! Runs a `selected` indicator reads (瞪羚 and other 遴选 are decided by the policy engine, not
//! by the snapshot): each run directory is checked before a figure is taken from it — its
//! results file against its manifest's hash, its snapshot against the one the indicators are
//! computed from, and a what-if run (parameters set from outside) refused, as `ledger record`
//! refuses it.

use std::path::{Path, PathBuf};

use huiqi_files::run::{self as runfile, RunManifest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A run the indicators were computed with, as the output's manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunUsed {
    /// The run's period (the year its figures are of).
    pub period: i32,
    pub dir: String,
    /// SHA-256 of the run's `manifest.json` bytes.
    pub manifest_sha256: String,
    pub policy_name: String,
    pub policy_hash: String,
    #[serde(skip)]
    pub results: PathBuf,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(p: &Path, zh: &str, en: &str) -> Error {
    Error::plain(
        format!("{}：{zh}", p.display()),
        format!("{}: {en}", p.display()),
    )
}

/// Opens and checks each run directory against the snapshot the indicators are computed from.
/// Two runs of one period are refused (which one counts would be a guess).
pub fn open_runs(dirs: &[PathBuf], snapshot_hash: &str) -> Result<Vec<RunUsed>> {
    let mut out: Vec<RunUsed> = vec![];
    for dir in dirs {
        let mp = dir.join(runfile::MANIFEST);
        let bytes = std::fs::read(&mp).map_err(|e| Error::io(&mp, e))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| bad(&mp, "不是 UTF-8 文本", "is not UTF-8 text"))?;
        let m = RunManifest::from_json(text).map_err(|e| {
            bad(
                &mp,
                &format!("不是运行清单：{e}"),
                &format!("not a run manifest: {e}"),
            )
        })?;
        if !m.policy.set.is_empty() {
            let sets = m.policy.set.join(", ");
            return Err(bad(
                &mp,
                &format!("这是设定了参数的测算（--set {sets}），不是政策本身的遴选结果"),
                &format!("this run set parameters (--set {sets}): a what-if, not the policy's own selection"),
            ));
        }
        if m.snapshot.hash != snapshot_hash {
            return Err(bad(
                &mp,
                &format!(
                    "运行所用快照（{}）不是计算指标的快照（{}）：遴选与其余指标须出自同一份企业数据",
                    short(&m.snapshot.hash),
                    short(snapshot_hash)
                ),
                &format!(
                    "the run used another snapshot ({}) than the indicators ({}): a selection and the other figures must come from the same firm data",
                    short(&m.snapshot.hash),
                    short(snapshot_hash)
                ),
            ));
        }
        let results = dir.join(runfile::RESULTS_PARQUET);
        let want = m.file_hash(runfile::RESULTS_PARQUET).ok_or_else(|| {
            bad(
                &mp,
                "清单中没有 results.parquet 的哈希",
                "the manifest lists no results.parquet hash",
            )
        })?;
        let got = sha256(&std::fs::read(&results).map_err(|e| Error::io(&results, e))?);
        if got != want {
            return Err(bad(
                &results,
                "文件与运行清单中的哈希不符（结果被改动过？）",
                "does not match the hash in the run manifest (were the results edited?)",
            ));
        }
        if let Some(other) = out.iter().find(|r| r.period == m.period) {
            return Err(bad(
                dir,
                &format!(
                    "与 {} 是同一期间（{}）的运行：只能给一个",
                    other.dir, m.period
                ),
                &format!(
                    "a run of the same period ({}) as {}: give one",
                    m.period, other.dir
                ),
            ));
        }
        out.push(RunUsed {
            period: m.period,
            dir: dir.display().to_string(),
            manifest_sha256: sha256(&bytes),
            policy_name: m.policy.name,
            policy_hash: m.policy.hash,
            results,
        });
    }
    out.sort_by_key(|r| r.period);
    Ok(out)
}

fn short(h: &str) -> &str {
    &h[..16.min(h.len())]
}
