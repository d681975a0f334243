//! `huiqi serve --demo`: the demo zone under `var/demo` (prepared by `huiqi::demo` when it is
//! absent: data, snapshot, run and ledger), served with one account per role and one per sample
//! firm of `examples/firms`, named by its credit code. The sample firms are part of the zone's
//! snapshot (the demo writes them into the generated data), so their check, award lines, 公示
//! and status come from the zone like any firm's. In demo mode only, every password is `demo`.

use std::path::{Path, PathBuf};

use huiqi::demo::{DemoEvent, DemoPaths};

use crate::authz::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::{Config, Shared};
use crate::StartError;

pub const PASSWORD: &str = "demo";

/// The staff accounts: (name, role, department).
pub const STAFF: &[(&str, Role, Option<&str>)] = &[
    ("officer", Role::Officer, Some("政策科")),
    ("reviewer", Role::Reviewer, Some("科技局")),
    ("reviewer2", Role::Reviewer, Some("经信局")),
    ("finance", Role::Finance, None),
    ("auditor", Role::Auditor, None),
    ("leader", Role::Leader, None),
    ("admin", Role::Admin, None),
];

/// The demo zone on disk.
pub struct DemoZone {
    pub pack: PathBuf,
    pub snapshot: PathBuf,
    pub ledger: PathBuf,
    /// The sample firm files.
    pub firm_files: Vec<PathBuf>,
    /// The seed's four zones' indicator outputs and the set that computed them.
    pub indicators: PathBuf,
    pub indicator_set: PathBuf,
}

/// Finds the demo zone under `root`, or prepares it (synchronously: call it before the
/// server's runtime starts). `on` sees each step of the preparation.
pub fn prepare(root: &Path, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<DemoZone, StartError> {
    let paths = DemoPaths::under(root);
    let firm_files = sample_files(&paths.firms);
    let indicators = paths.zones().join("indicators");
    if let Some(z) = existing(&paths, &firm_files) {
        // A zone prepared before the indicators existed (or with another set) gets them now.
        if !huiqi::indicators::seed_zones_ready(&indicators, &paths.indicator_set) {
            huiqi::demo::seed_zones(&paths, &z.pack, on)?;
        }
        return Ok(z);
    }
    let z = huiqi::demo::run(&paths, on)?;
    Ok(DemoZone {
        pack: z.pack,
        snapshot: z.snapshot,
        ledger: z.ledger,
        firm_files,
        indicators,
        indicator_set: paths.indicator_set.clone(),
    })
}

fn sample_files(dir: &Path) -> Vec<PathBuf> {
    huiqi::explain::firm_files(dir).unwrap_or_default()
}

/// A demo zone left by an earlier `huiqi demo` or `serve --demo`: its ledger, run and snapshot —
/// if that snapshot holds every sample firm as its file says (a zone prepared before the sample
/// firms were part of it, or before a sample file changed, is prepared again).
fn existing(paths: &DemoPaths, firm_files: &[PathBuf]) -> Option<DemoZone> {
    let ledger = paths.ledger();
    if !ledger.exists() || !paths.run_dir().join("manifest.json").exists() {
        return None;
    }
    let snapshot = run_snapshot(paths)?;
    let pack = paths.seed_pack().ok()?;
    if !holds_samples(&pack, &snapshot, firm_files) {
        return None;
    }
    Some(DemoZone {
        pack,
        snapshot,
        ledger,
        firm_files: firm_files.to_vec(),
        indicators: paths.zones().join("indicators"),
        indicator_set: paths.indicator_set.clone(),
    })
}

/// The snapshot the demo's run read, as the run's manifest names it (the snapshots directory
/// may hold others, from earlier preparations).
fn run_snapshot(paths: &DemoPaths) -> Option<PathBuf> {
    let text = std::fs::read_to_string(paths.run_dir().join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let hash = manifest.get("snapshot")?.get("hash")?.as_str()?;
    let dir = paths.work.join("snapshots").join(hash.get(..16)?);
    dir.join("manifest.json").exists().then_some(dir)
}

/// Whether the snapshot holds each sample firm with the figures and award history of its file.
fn holds_samples(pack: &Path, snapshot: &Path, firm_files: &[PathBuf]) -> bool {
    let Ok(loaded) = huiqi::pack::load(pack) else {
        return false;
    };
    let Ok(firms) = huiqi::explain::load_firms(&loaded.program, snapshot) else {
        return false;
    };
    firm_files.iter().all(|f| {
        huiqi::explain::read_firm(&loaded.program, f)
            .is_ok_and(|s| firms.get(&s.id).is_some_and(|on_file| *on_file == s))
    })
}

impl DemoZone {
    /// The server's configuration for this zone.
    pub fn config(&self, base: Config) -> Config {
        Config {
            db: self.ledger.display().to_string(),
            policy: self.pack.clone(),
            snapshot: Some(self.snapshot.clone()),
            indicators: Some(self.indicators.clone()),
            indicator_set: self.indicator_set.clone(),
            ..base
        }
    }
}

/// The demo accounts: staff, and one per sample firm (named by its credit code; the demo zone's
/// snapshot holds every sample firm). Returns the firm accounts' names.
pub async fn accounts(s: &Shared, z: &DemoZone) -> ApiResult<Vec<String>> {
    let ctx = huiqi_ledger::Ctx::now("demo");
    for (name, role, dept) in STAFF {
        let dept = dept.map(str::to_string);
        crate::auth::put_account(s, &ctx, name, *role, None, dept, PASSWORD).await?;
    }
    let mut firms = vec![];
    for f in &z.firm_files {
        let firm = huiqi::explain::read_firm(&s.program, f)
            .map_err(|e| ApiError::invalid(e.to_string(), e.to_string()))?;
        let code = firm.id.clone();
        if !s.served().firms.contains_key(&code) {
            return Err(ApiError::invalid(
                format!(
                    "样例企业 {code}（{}）不在示范园区的快照中；删除 var/demo 后重新准备",
                    f.display()
                ),
                format!(
                    "sample firm {code} ({}) is not in the demo zone's snapshot; remove var/demo and prepare it again",
                    f.display()
                ),
            ));
        }
        crate::auth::put_account(
            s,
            &ctx,
            &code,
            Role::Firm,
            Some(code.clone()),
            None,
            PASSWORD,
        )
        .await?;
        firms.push(code);
    }
    Ok(firms)
}
