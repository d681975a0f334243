//! Zone indicators: an indicator set evaluated for one period over a snapshot (checked against
//! its manifest first), written all or nothing, and set against the set's targets.

use std::path::{Path, PathBuf};

pub use huiqi_indicators::{
    output::Output, Colour, Computed, Figure, FirmRow, IndicatorSet, Period, Progress, Unit,
};

use crate::{Error, Result};

impl From<huiqi_indicators::Error> for Error {
    fn from(e: huiqi_indicators::Error) -> Error {
        Error::input(e.zh, e.en)
    }
}

/// The set shipped with the seed (`indicators/`), relative to the working directory.
pub const DEFAULT_SET: &str = "indicators";

pub struct IndicatorsRequest {
    pub set: PathBuf,
    pub snapshot: PathBuf,
    pub period: String,
    /// Writes `indicators.parquet`, `indicator_firms.parquet` and `manifest.json` here.
    pub out: Option<PathBuf>,
    pub force: bool,
    /// Run directories (`huiqi run` on the same snapshot) that `selected` indicators read.
    pub runs: Vec<PathBuf>,
}

pub struct IndicatorsReport {
    pub set: IndicatorSet,
    pub snapshot_hash: String,
    pub computed: Computed,
    pub progress: Vec<Progress>,
    pub manifest: Option<huiqi_indicators::output::Manifest>,
    pub elapsed_ms: u128,
}

const OUT_DIR: crate::outdir::Kind<'static> = crate::outdir::Kind {
    marker: huiqi_indicators::output::MANIFEST,
    is_own: |t| t.contains("\"kind\": \"indicators\""),
    zh: "指标输出目录",
    en: "an indicators directory",
};

/// Parses `YYYY-MM` (1–M月) or `YYYY` (the whole year).
pub fn parse_period(s: &str) -> Result<Period> {
    Period::parse(s).ok_or_else(|| {
        Error::usage(
            format!("期间“{s}”无效：写 2021-11（1–11月累计）或 2021（全年）"),
            format!("bad period `{s}`: write 2021-11 (months 1–11) or 2021 (the whole year)"),
        )
    })
}

pub fn load_set(dir: &Path) -> Result<IndicatorSet> {
    Ok(IndicatorSet::load(dir)?)
}

/// Computes the set for the period; with `out`, writes the outputs whole or not at all.
pub fn indicators(r: &IndicatorsRequest) -> Result<IndicatorsReport> {
    let started = std::time::Instant::now();
    let period = parse_period(&r.period)?;
    let set = load_set(&r.set)?;
    if let Some(out) = &r.out {
        crate::outdir::check_writable(out, &OUT_DIR, r.force)?;
    }
    let snap = crate::data::snapshot_manifest(&r.snapshot)?;
    let runs = huiqi_indicators::open_runs(&r.runs, &snap.hash)?;
    // The snapshot's files are checked against its manifest beside the computation; nothing is
    // written or shown unless both succeed.
    let keep_rows = r.out.is_some();
    let (verified, computed) = std::thread::scope(|s| {
        let v = s.spawn(|| crate::data::verify_snapshot(&r.snapshot, &snap.hash));
        let c = crate::ledger::block_on(huiqi_indicators::compute_with(
            &set,
            &r.snapshot,
            period,
            keep_rows,
            &runs,
        ));
        let v = v
            .join()
            .unwrap_or_else(|_| Err(Error::plain("snapshot verification panicked")));
        (v, c)
    });
    verified?;
    let computed = computed??;
    let manifest = match &r.out {
        Some(out) => {
            let staged = crate::outdir::stage(out)?;
            match huiqi_indicators::output::write_all(&staged.dir, &set, &snap.hash, &computed) {
                Ok(m) => {
                    staged.commit()?;
                    Some(m)
                }
                Err(e) => {
                    staged.abandon();
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    let progress = huiqi_indicators::progress(&set, period, &computed.figures);
    Ok(IndicatorsReport {
        set,
        snapshot_hash: snap.hash,
        computed,
        progress,
        manifest,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// Reads a written output back (each file checked against its manifest) with the set it was
/// computed from; refuses a set whose hash is not the one recorded.
pub fn read_output(dir: &Path, set: &Path) -> Result<(IndicatorSet, Output)> {
    let set = load_set(set)?;
    let out = read_output_of(dir, &set)?;
    Ok((set, out))
}

/// [`read_output`] against a set already loaded.
pub fn read_output_of(dir: &Path, set: &IndicatorSet) -> Result<Output> {
    let out = huiqi_indicators::output::read(dir)?;
    if set.hash != out.manifest.set_hash {
        let h = &out.manifest.set_hash[..16.min(out.manifest.set_hash.len())];
        return Err(Error::input(
            format!(
                "{}：指标由另一版本的指标集计算（{h}），与 {} 不符；请重新计算",
                dir.display(),
                set.dir.display()
            ),
            format!(
                "{}: computed by another version of the indicator set ({h}), not {}; compute it again",
                dir.display(),
                set.dir.display()
            ),
        ));
    }
    Ok(out)
}

/// The periods the demo computes for the seed's zones: 1–11月 2021 (Chengdu's and Ningbo's
/// published figures) and 1–11月 2022 (Huangpu's targets for the year).
pub const SEED_PERIODS: [&str; 2] = ["2021-11", "2022-11"];
/// The generator's seed for the four zones.
pub const SEED_ZONES_SEED: u64 = 2022;

/// The seed page's four zones: generated calibrated to its published aggregates (nothing typed
/// in: every figure is summed from firm-level rows), ingested into a snapshot under
/// `work/snapshots`, the pack run on it for every year a `selected` indicator reads (瞪羚:
/// `work/runs/<year>`), and the set computed for each of [`SEED_PERIODS`] into
/// `work/indicators/<period>`. `each` sees every period's report. Returns the outputs'
/// directory.
pub fn seed_zones(
    pack: &Path,
    set: &Path,
    work: &Path,
    each: &mut dyn FnMut(&IndicatorsReport),
) -> Result<PathBuf> {
    let program = crate::pack::load(pack)?.program;
    let data = work.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| Error::io(&data, e))?;
    huiqi_data::generate_seed_zones(&data, SEED_ZONES_SEED, false)
        .map_err(|e| Error::plain(e.to_string()))?;
    let snap = crate::data::ingest(
        &program,
        &data.join("mapping.toml"),
        &work.join("snapshots"),
        50,
    )?;
    let loaded = load_set(set)?;
    let mut years = std::collections::BTreeSet::new();
    for p in SEED_PERIODS {
        let p = parse_period(p)?;
        for i in loaded
            .indicators
            .iter()
            .filter(|i| i.measure == huiqi_indicators::Measure::Selected)
        {
            years.insert(p.year + i.run_offset);
            years.insert(p.year - 1 + i.run_offset);
        }
    }
    let mut runs = vec![];
    for y in years {
        let out = work.join("runs").join(y.to_string());
        crate::run::run(
            &crate::run::RunRequest {
                force: true,
                ..crate::run::RunRequest::new(pack.to_path_buf(), snap.dir.clone(), y, out.clone())
            },
            &|_| {},
        )?;
        runs.push(out);
    }
    let outs = work.join("indicators");
    for p in SEED_PERIODS {
        let r = indicators(&IndicatorsRequest {
            set: set.to_path_buf(),
            snapshot: snap.dir.clone(),
            period: p.to_string(),
            out: Some(outs.join(p)),
            force: true,
            runs: runs.clone(),
        })?;
        each(&r);
    }
    Ok(outs)
}

/// Whether `dir` holds an output for every seed period computed by the set in `set`.
pub fn seed_zones_ready(dir: &Path, set: &Path) -> bool {
    SEED_PERIODS
        .iter()
        .all(|p| read_output(&dir.join(p), set).is_ok())
}

/// 60 working days: the time limit 惠企 rules commonly set for paying an award once it is due.
pub const OVERDUE_WORKING_DAYS: i64 = 60;

/// The money the policies pay, from the ledger, to set beside the indicators (the 驾驶舱's
/// figures): by clause budget → approved → 公示 → paid → recovered, firms reached, working days
/// from computation to payment, lines overdue.
pub struct Money {
    pub reconciliation: crate::ledger::Reconciliation,
    pub dashboard: huiqi_ledger::dashboard::Dashboard,
    pub overdue_working_days: i64,
}

/// The ledger's money for `year` (when it has that period; else its latest), budgets from the
/// pack under `policies` whose hash the ledger recorded. None when the ledger is empty.
pub fn money(
    db: &str,
    year: i32,
    policies: &Path,
    overdue_working_days: i64,
) -> Result<Option<Money>> {
    crate::ledger::block_on(async {
        let mut l = crate::ledger::open_reader(db).await?;
        let periods = l.periods().await?;
        let Some(latest) = periods.last().copied() else {
            return Ok(None);
        };
        let period = if periods.contains(&i64::from(year)) {
            i64::from(year)
        } else {
            latest
        };
        let src = crate::ledger::BudgetSource::Search(policies);
        let Some(reconciliation) = crate::ledger::reconcile(&mut l, Some(period), src).await?
        else {
            return Ok(None);
        };
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let cut = huiqi_ledger::calendar::overdue_cutoff(&now, overdue_working_days).unwrap_or(now);
        let Some(dashboard) = crate::ledger::dashboard(&mut l, Some(period), &cut).await? else {
            return Ok(None);
        };
        Ok(Some(Money {
            reconciliation,
            dashboard,
            overdue_working_days,
        }))
    })?
}
