//! A snapshot directory (docs/SNAPSHOT.md): one Parquet file per table, sorted by credit code,
//! and a `manifest.json` whose `hash` names the content.

use serde::{Deserialize, Serialize};

/// The manifest's file name inside a snapshot directory.
pub const MANIFEST: &str = "manifest.json";

/// The tables of a snapshot, in the order their files enter the content hash.
pub const TABLES: [&str; 5] = [FIRMS, YEARLY, MONTHLY, EVENTS, AWARDS];

/// Static facts, one row per firm: `firm_id`, `name`, then one column per static fact.
pub const FIRMS: &str = "firms";
/// Yearly facts: `firm_id`, `year`, then one column per yearly fact.
pub const YEARLY: &str = "yearly";
/// Monthly facts: `firm_id`, `year`, `month`, then one column per monthly fact.
pub const MONTHLY: &str = "monthly";
/// Events: `firm_id`, `fact`, `date`, `until`, `value`.
pub const EVENTS: &str = "events";
/// Award history: `firm_id`, `clause`, `period`, `tranche`, `amount`.
pub const AWARDS: &str = "awards";
/// Optional: investment projects (项目库), one row per project and month — `project_id`,
/// `name`, `zone`, `firm_id` (the builder, nullable), `year`, `month`, `investment` (元,
/// Decimal128(38, 12)); sorted by project, year, month. Present only when the mapping has
/// `[[projects]]`; then it enters the content hash after [`TABLES`].
pub const PROJECTS: &str = "projects";

/// Column names shared by the tables.
pub mod col {
    /// The firm's 统一社会信用代码; every table is sorted by it.
    pub const FIRM_ID: &str = "firm_id";
    /// The firm's registered name (firms table).
    pub const NAME: &str = "name";
    pub const YEAR: &str = "year";
    pub const MONTH: &str = "month";
    /// Events: the event fact's name.
    pub const FACT: &str = "fact";
    /// Events: the day it happened (Date32).
    pub const DATE: &str = "date";
    /// Events: the day it ends (Date32, nullable).
    pub const UNTIL: &str = "until";
    /// Events: the enum value (nullable).
    pub const VALUE: &str = "value";
    /// Awards: the clause's name.
    pub const CLAUSE: &str = "clause";
    /// Awards: the period awarded.
    pub const PERIOD: &str = "period";
    /// Awards: the tranche's name ("" for a clause without tranches).
    pub const TRANCHE: &str = "tranche";
    /// Awards: the amount in 元, Decimal128(38, 12).
    pub const AMOUNT: &str = "amount";
    /// Projects: the project's code.
    pub const PROJECT_ID: &str = "project_id";
    /// Projects: the zone the project is in.
    pub const ZONE: &str = "zone";
    /// Projects: investment completed in the month, 元, Decimal128(38, 12).
    pub const INVESTMENT: &str = "investment";
}

/// The events table's column for a number every record of `fact` carries (`field 本金:
/// money`): `<fact>.<field>`, Decimal128(38, 12), null on other facts' rows and where the
/// source left it empty. Present only when the fact declares fields.
pub fn event_field_col(fact: &str, field: &str) -> String {
    format!("{fact}.{field}")
}

/// `<table>.parquet`.
pub fn table_file(table: &str) -> String {
    format!("{table}.parquet")
}

/// Rows per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    pub firms: u64,
    pub yearly: u64,
    pub monthly: u64,
    pub events: u64,
    pub awards: u64,
    /// Rows of the optional projects table (absent: no such table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<u64>,
}

/// One source file an ingest read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// As the mapping names it (relative to the mapping file).
    pub file: String,
    pub sha256: String,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows the mapping's `where` / `where_not` left out (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered: u64,
    /// Values the mapping's `unknown = "ignore"` passed over: rows skipped (events, awards,
    /// projects) or cells left missing (firms, yearly, monthly). Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown: u64,
    /// Exact duplicate rows dropped under `duplicates = "keep-one"` (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicates: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A snapshot's `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// SHA-256 over the tables' files in [`TABLES`] order (each as its file name, a zero byte,
    /// then its bytes): the snapshot's name and the identity a run manifest certifies.
    pub hash: String,
    /// Fact name → `{ "type": …, "period": …, "values": [...] }` in declaration order.
    pub schema: serde_json::Map<String, serde_json::Value>,
    pub sources: Vec<SourceInfo>,
    pub rows: Rows,
    pub created_by: String,
}

/// The content hash of the snapshot in `dir`, recomputed from its table files as ingest defines
/// it (see [`Manifest::hash`]): what a run checks against the manifest before it trusts a byte.
pub fn content_hash(dir: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let optional = [PROJECTS]
        .into_iter()
        .filter(|t| dir.join(table_file(t)).is_file());
    for t in TABLES.into_iter().chain(optional) {
        let name = table_file(t);
        h.update(name.as_bytes());
        h.update([0u8]);
        let mut f = std::fs::File::open(dir.join(&name))?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
