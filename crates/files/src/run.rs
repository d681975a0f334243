//! A run directory: `results.parquet`, `results.csv`, `results.xlsx`, `manifest.json` (what was
//! computed from what, with the output files' hashes) and `timings.json` (which differs from run
//! to run, so it stays out of the manifest). Written by `huiqi run`, read by `ledger record`.

use serde::{Deserialize, Serialize};

pub const MANIFEST: &str = "manifest.json";
pub const TIMINGS: &str = "timings.json";
pub const RESULTS_PARQUET: &str = "results.parquet";
pub const RESULTS_CSV: &str = "results.csv";
pub const RESULTS_XLSX: &str = "results.xlsx";
/// What the pack's `clawback` rules recover this period (only when the pack has some).
pub const CLAWBACKS_PARQUET: &str = "clawbacks.parquet";
pub const CLAWBACKS_CSV: &str = "clawbacks.csv";

/// The results' columns, one row per firm × clause × tranche, in file order.
pub mod col {
    pub const FIRM_ID: &str = "firm_id";
    pub const CLAUSE: &str = "clause";
    pub const TRANCHE: &str = "tranche";
    pub const AMOUNT_YUAN: &str = "amount_yuan";
    pub const AMOUNT_FEN: &str = "amount_fen";
    pub const REASON: &str = "reason";
}

/// The columns of `clawbacks.parquet`, one row per firm × rule × earlier award recovered from,
/// in file order (credit code, then rule order, then clause order, tranche, award period).
pub mod clawback_col {
    /// Utf8: the firm's credit code.
    pub const FIRM_ID: &str = "firm_id";
    /// Utf8: the `clawback` rule.
    pub const RULE: &str = "rule";
    /// Utf8: the clause, tranche (empty for a clause of one) and period of the award recovered
    /// from — a key of the award history (the ledger's entitlement of that award).
    pub const CLAUSE: &str = "clause";
    pub const TRANCHE: &str = "tranche";
    /// Int32.
    pub const AWARD_PERIOD: &str = "award_period";
    /// Int64: what the history held for that award before this rule (net of earlier
    /// recoveries, and of the rules declared before this one in the same run), in 分, rounded
    /// half up.
    pub const BASE_FEN: &str = "base_fen";
    /// Utf8: the share recovered, as written for a person: `3/5` (按剩余年限), `100%`.
    pub const SHARE: &str = "share";
    /// Int64, above zero: the amount to recover, in 分.
    pub const AMOUNT_FEN: &str = "amount_fen";
}

/// What the clawback rules of a run recovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clawbacks {
    /// Every clawback rule the run evaluated, in declared order — also those that recovered
    /// nothing (a rerun without a row for a rule it evaluated means nothing to recover).
    pub rules: Vec<String>,
    pub rows: usize,
    pub amount_fen: i64,
}

/// `manifest.json` of a run. Field order is the file's key order: the same inputs give a
/// byte-identical manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunManifest {
    pub engine: Engine,
    pub policy: Policy,
    pub snapshot: Snapshot,
    pub period: i32,
    /// Result rows (firm × clause × tranche).
    pub rows: usize,
    /// Firms with at least one result row.
    pub firms: usize,
    pub total_fen: i64,
    pub by_clause: Vec<ClauseTotal>,
    /// Present only when the pack has `clawback` rules (older manifests stay byte-identical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clawbacks: Option<Clawbacks>,
    pub files: Vec<FileHash>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engine {
    pub name: String,
    pub version: String,
    pub columnar: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub version: String,
    /// The pack's content hash (covering the parameters set from outside, if any).
    pub hash: String,
    /// Parameters set from outside the pack for this run (`--set 名称=值`), as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// The packs this pack imports (`import 名称 from "目录"`), taken into the run with it, each
    /// with its own hash (which `hash` covers). Absent for a pack without imports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportedPack>,
}

/// A pack taken into a run by `import`: its name, version and own content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedPack {
    pub name: String,
    pub version: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The snapshot's content hash (its manifest's `hash`).
    pub hash: String,
    /// The snapshot directory as `run` was given it.
    pub dir: String,
}

/// Money of one clause: firm × tranche rows with an amount above zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseTotal {
    pub clause: Option<String>,
    pub awards: u64,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub file: Option<String>,
    pub sha256: String,
}

impl RunManifest {
    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        // PANIC SAFETY: plain structs of strings and integers always serialise.
        #[allow(clippy::expect_used)]
        let s = serde_json::to_string_pretty(self).expect("a manifest serialises");
        s + "\n"
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The SHA-256 the manifest gives for one of the run's files.
    pub fn file_hash(&self, file: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.file.as_deref() == Some(file))
            .map(|f| f.sha256.as_str())
    }
}

/// `timings.json` of a run, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub load_ms: u128,
    pub plan_ms: u128,
    pub execute_ms: u128,
    pub results_ms: u128,
    pub write_ms: u128,
    pub write_parquet_ms: u128,
    pub write_csv_ms: u128,
    pub total_ms: u128,
    /// With `run --repeat N`: each computation's time (microsecond resolution).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub compute_ms: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_with_its_key_order() {
        let m = RunManifest {
            engine: Engine {
                name: "huiqi".into(),
                version: "0.1.0".into(),
                columnar: "datafusion 55".into(),
            },
            policy: Policy {
                name: "p".into(),
                version: "1".into(),
                hash: "ab".into(),
                set: vec![],
                imports: vec![],
            },
            snapshot: Snapshot {
                hash: "cd".into(),
                dir: "var/s".into(),
            },
            period: 2023,
            rows: 3,
            firms: 1,
            total_fen: 100,
            by_clause: vec![ClauseTotal {
                clause: Some("c".into()),
                awards: 1,
                amount_fen: 100,
            }],
            clawbacks: None,
            files: vec![FileHash {
                file: Some(RESULTS_PARQUET.into()),
                sha256: "ef".into(),
            }],
        };
        let text = m.to_json();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(
            &keys[..4],
            &["engine", "name", "version", "columnar"],
            "{text}"
        );
        assert!(text.find("\"period\"") < text.find("\"files\""));
        assert_eq!(RunManifest::from_json(&text).unwrap(), m);
        assert_eq!(m.file_hash(RESULTS_PARQUET), Some("ef"));
        assert_eq!(m.file_hash(RESULTS_CSV), None);
        assert!(!text.contains("clawbacks"), "{text}");
        let with = RunManifest {
            clawbacks: Some(Clawbacks {
                rules: vec!["迁出追回".into()],
                rows: 1,
                amount_fen: 60_000_000,
            }),
            ..m
        };
        assert_eq!(RunManifest::from_json(&with.to_json()).unwrap(), with);
    }
}
