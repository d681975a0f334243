//! `huiqi serve --demo`: the demo zone under `var/demo` (prepared by `huiqi::demo` when it is
//! absent: data, snapshot, run and ledger), served with one account per role and one per sample
//! firm of `examples/firms`, named by its credit code. In demo mode only, every password is
//! `demo`.

use std::path::{Path, PathBuf};

use huiqi::demo::{DemoEvent, DemoPaths};

use crate::authz::Role;
use crate::error::ApiResult;
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
}

/// Finds the demo zone under `root`, or prepares it (synchronously: call it before the
/// server's runtime starts). `on` sees each step of the preparation.
pub fn prepare(root: &Path, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<DemoZone, StartError> {
    let paths = DemoPaths::under(root);
    let firm_files = sample_files(&paths.firms);
    if let Some(z) = existing(&paths, &firm_files) {
        return Ok(z);
    }
    let z = huiqi::demo::run(&paths, on)?;
    Ok(DemoZone {
        pack: z.pack,
        snapshot: z.snapshot,
        ledger: z.ledger,
        firm_files,
    })
}

fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml" || x == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A demo zone left by an earlier `huiqi demo` or `serve --demo`: its ledger, run and snapshot.
fn existing(paths: &DemoPaths, firm_files: &[PathBuf]) -> Option<DemoZone> {
    let ledger = paths.ledger();
    if !ledger.exists() || !paths.run_dir().join("manifest.json").exists() {
        return None;
    }
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(paths.work.join("snapshots"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    snaps.sort();
    let snapshot = snaps.pop()?;
    let pack = huiqi::pack::find(std::slice::from_ref(&paths.policies))
        .ok()?
        .into_iter()
        .next()?;
    Some(DemoZone {
        pack,
        snapshot,
        ledger,
        firm_files: firm_files.to_vec(),
    })
}

impl DemoZone {
    /// The server's configuration for this zone.
    pub fn config(&self, base: Config) -> Config {
        Config {
            db: self.ledger.display().to_string(),
            policy: self.pack.clone(),
            snapshot: Some(self.snapshot.clone()),
            ..base
        }
    }
}

/// The demo accounts: staff, and one per sample firm (named by its credit code). Sample firms
/// that the snapshot does not hold are added to the firms a check reads, from their files.
/// Returns the firm accounts' names.
pub async fn accounts(s: &mut Shared, z: &DemoZone) -> ApiResult<Vec<String>> {
    let ctx = huiqi_ledger::Ctx::now("demo");
    for (name, role, dept) in STAFF {
        let dept = dept.map(str::to_string);
        crate::auth::put_account(s, &ctx, name, *role, None, dept, PASSWORD).await?;
    }
    let mut firms = vec![];
    for f in &z.firm_files {
        let Ok(firm) = huiqi::explain::read_firm(&s.program, f) else {
            continue;
        };
        let code = firm.id.clone();
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
        if let Some(st) = std::sync::Arc::get_mut(s) {
            st.firms.entry(code.clone()).or_insert(firm);
        }
        firms.push(code);
    }
    Ok(firms)
}
