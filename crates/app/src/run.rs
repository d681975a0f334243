//! The whole pack over every firm of a snapshot with the columnar engine: results as Parquet,
//! CSV and XLSX, a manifest naming exactly what was computed from what, and timings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use huiqi_columnar::{output, Options, Results};
use huiqi_files::run::{self as files, ClauseTotal, FileHash, RunManifest};
use huiqi_ir::Program;

use crate::{Error, Result};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub policy: PathBuf,
    pub snapshot: PathBuf,
    pub period: i32,
    pub out: PathBuf,
    /// Bytes for DataFusion's memory pool (sorts and aggregates spill beyond it).
    pub memory_limit: Option<usize>,
    pub xlsx: bool,
    /// Benchmarks: compute this many times over the snapshot read once.
    pub repeat: usize,
    /// Load and evaluate this many firms at a time.
    pub chunk_firms: Option<usize>,
    /// Write into `out` even when it holds something other than a previous run.
    pub force: bool,
    /// Parameters set from outside the pack (`--set 名称=值`), recorded in the manifest.
    pub set: Vec<huiqi_lang::ParamSet>,
    /// `df://HOST:PORT`: evaluate the chunks of firms on this Apache Ballista cluster (a build
    /// with the `distributed` feature); the results are the same bytes as on one machine.
    pub cluster: Option<String>,
}

impl RunRequest {
    /// A run of `policy` over `snapshot` for `period` into `out`, as a person asks for one: no
    /// memory limit, no XLSX, computed once, all firms at a time, nothing overwritten, no
    /// parameter set from outside.
    pub fn new(policy: PathBuf, snapshot: PathBuf, period: i32, out: PathBuf) -> RunRequest {
        RunRequest {
            policy,
            snapshot,
            period,
            out,
            memory_limit: None,
            xlsx: false,
            repeat: 1,
            chunk_firms: None,
            force: false,
            set: vec![],
            cluster: None,
        }
    }
}

/// A run directory is recognised by its manifest.
const RUN_DIR: crate::outdir::Kind<'static> = crate::outdir::Kind {
    marker: files::MANIFEST,
    is_own: |t| RunManifest::from_json(t).is_ok(),
    zh: "运行结果目录",
    en: "a run directory",
};

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Compiling the pack and scanning the snapshot.
    Evaluating,
    /// Writing results.
    Writing,
    Done,
}

/// What a run wrote.
pub struct RunReport {
    pub manifest: RunManifest,
    pub timings: files::Timings,
    /// The result rows when XLSX was asked for but there were too many rows for a sheet.
    pub xlsx_skipped: Option<usize>,
    pub out: PathBuf,
    pub elapsed: Duration,
    pub engine: Duration,
    pub write: Duration,
    /// Firm caps over several years (`over N年`) that had no award history to read: the
    /// snapshot's awards table is empty, so each capped only this year (say so: a run meant to
    /// be recorded reads the history with `--ledger`).
    pub caps_without_history: Vec<String>,
}

/// `2G`, `512M`, `64K` or bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (n, m) = match s.chars().last()? {
        'G' | 'g' => (&s[..s.len() - 1], 1usize << 30),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'K' | 'k' => (&s[..s.len() - 1], 1 << 10),
        _ => (s, 1),
    };
    n.parse::<usize>().ok().and_then(|n| n.checked_mul(m))
}

/// Runs the engine on a thread with a large stack: DataFusion's planner recurses over wide
/// expression trees.
pub fn evaluate(
    program: &Program,
    snapshot: &Path,
    period: i32,
    opts: Options,
) -> Result<(Results, huiqi_columnar::Timings)> {
    on_engine_thread(|| huiqi_columnar::run(program, snapshot, period, &opts))
}

/// Runs an engine future on a thread of its own with a large stack (deep plans) and a
/// multi-threaded runtime.
fn on_engine_thread<T, E, F, Fut>(f: F) -> Result<T>
where
    T: Send,
    Error: From<E>,
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let fail = |e: &dyn std::fmt::Display| Error::plain(e.to_string());
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .thread_stack_size(64 << 20)
                    .enable_all()
                    .build()
                    .map_err(|e| fail(&e))?;
                rt.block_on(f()).map_err(Error::from)
            })
            .map_err(|e| fail(&e))?
            .join()
            .map_err(|_| Error::plain("the engine thread panicked"))?
    })
}

/// [`evaluate`] on an Apache Ballista cluster (`huiqi_cluster`): the chunks of firms on its
/// executors, the cross-clause rules here.
#[cfg(feature = "distributed")]
fn evaluate_on_cluster(
    url: &str,
    program: &Program,
    r: &RunRequest,
    snapshot_hash: &str,
    opts: Options,
) -> Result<(Results, huiqi_columnar::Timings)> {
    let submit = huiqi_cluster::Submit {
        url,
        program,
        pack: &r.policy,
        sets: &r.set,
        snapshot: &r.snapshot,
        snapshot_hash,
        period: r.period,
        chunk_firms: r
            .chunk_firms
            .filter(|&n| n > 0)
            .unwrap_or(huiqi_cluster::DEFAULT_CHUNK_FIRMS),
        opts: &opts,
    };
    on_engine_thread(|| huiqi_cluster::run(&submit))
}

#[cfg(not(feature = "distributed"))]
fn evaluate_on_cluster(
    _url: &str,
    _program: &Program,
    _r: &RunRequest,
    _snapshot_hash: &str,
    _opts: Options,
) -> Result<(Results, huiqi_columnar::Timings)> {
    Err(Error::usage(
        "这个 huiqi 构建不含集群运行：请以 `--features distributed` 构建 huiqi-cli",
        "this huiqi was built without cluster runs: build huiqi-cli with `--features distributed`",
    ))
}

/// [`evaluate`] of two programs over one snapshot (`huiqi_columnar::run_pair`: loaded once when
/// both read it the same way).
pub fn evaluate_pair(
    a: &Program,
    b: &Program,
    snapshot: &Path,
    period: i32,
    opts: Options,
) -> Result<(Results, Results)> {
    on_engine_thread(|| huiqi_columnar::run_pair(a, b, snapshot, period, &opts))
}

/// Runs `r.policy` over `r.snapshot` for `r.period` and writes the results into `r.out`.
pub fn run(r: &RunRequest, progress: &dyn Fn(Progress)) -> Result<RunReport> {
    let loaded = crate::pack::load_with(&r.policy, &r.set)?;
    let p = &loaded.program;
    crate::outdir::check_writable(&r.out, &RUN_DIR, r.force)?;
    let snap = crate::data::snapshot_manifest(&r.snapshot)?;
    progress(Progress::Evaluating);
    let opts = Options {
        memory_limit: r.memory_limit,
        repeat: r.repeat,
        chunk_firms: r.chunk_firms.filter(|&n| n > 0),
        ..Options::default()
    };
    let started = Instant::now();
    // The snapshot's content is checked against its manifest while the engine reads it; nothing
    // is written unless both agree.
    let (evaluated, verified) = std::thread::scope(|s| {
        let v = s.spawn(|| crate::data::verify_snapshot(&r.snapshot, &snap.hash));
        let e = match &r.cluster {
            None => evaluate(p, &r.snapshot, r.period, opts),
            Some(url) => evaluate_on_cluster(url, p, r, &snap.hash, opts),
        };
        let v = v
            .join()
            .unwrap_or_else(|_| Err(Error::plain("snapshot verification panicked")));
        (e, v)
    });
    verified?;
    let fail = |e: Error| match e {
        Error::Input { zh, en } => Error::Input {
            zh: format!("运行失败: {zh}"),
            en: format!("run failed: {en}"),
        },
        e => e,
    };
    let (rows, timings) = evaluated.map_err(fail)?;
    // What the clawback rules recover: the awards table joined with the trigger events.
    let recovered = if p.clawbacks.is_empty() {
        vec![]
    } else {
        on_engine_thread(|| huiqi_columnar::clawback::clawbacks(p, &r.snapshot, r.period))
            .map_err(fail)?
    };
    progress(Progress::Writing);
    let staged = crate::outdir::stage(&r.out)?;
    let out = Outcome {
        rows: &rows,
        recovered: &recovered,
    };
    match write_run(p, &out, &timings, &snap.hash, r, &staged.dir, started) {
        Ok(mut report) => {
            if snap.rows.awards == 0 {
                report.caps_without_history = p
                    .firm_caps
                    .iter()
                    .filter(|c| c.years > 1)
                    .map(|c| c.name.clone())
                    .collect();
            }
            staged.commit()?;
            progress(Progress::Done);
            Ok(report)
        }
        Err(e) => {
            staged.abandon();
            Err(e)
        }
    }
}

/// What a run computed: the results and what the clawback rules recover.
struct Outcome<'a> {
    rows: &'a Results,
    recovered: &'a [huiqi_columnar::clawback::Recovery],
}

/// Writes the results, the clawbacks (when the pack has rules for them), the manifest and the
/// timings into `dir`.
fn write_run(
    p: &Program,
    out: &Outcome<'_>,
    timings: &huiqi_columnar::Timings,
    snapshot_hash: &str,
    r: &RunRequest,
    dir: &Path,
    started: Instant,
) -> Result<RunReport> {
    let rows = out.rows;
    let mut written = write_outputs(rows, dir, r.xlsx)?;
    let clawbacks = if p.clawbacks.is_empty() {
        None
    } else {
        Some(write_clawbacks(p, out.recovered, dir, &mut written.files)?)
    };
    let mut manifest = manifest(p, rows, snapshot_hash, r, written.files)?;
    manifest.clawbacks = clawbacks;
    let engine = timings.load + timings.plan + timings.execute + timings.results;
    let timing = files::Timings {
        load_ms: timings.load.as_millis(),
        plan_ms: timings.plan.as_millis(),
        execute_ms: timings.execute.as_millis(),
        results_ms: timings.results.as_millis(),
        write_ms: written.time.as_millis(),
        write_parquet_ms: written.parquet.as_millis(),
        write_csv_ms: written.csv.as_millis(),
        total_ms: started.elapsed().as_millis(),
        // Microseconds as decimal milliseconds: a repeat can take well under 10 ms.
        compute_ms: timings
            .computes
            .iter()
            .map(|d| d.as_micros() as f64 / 1000.0)
            .collect(),
    };
    // A manifest or timings file that cannot be written leaves the run without its certificate:
    // an error, not a warning.
    write_json(&dir.join(files::MANIFEST), &manifest.to_json())?;
    let t = serde_json::to_string_pretty(&timing).map_err(|e| Error::plain(e.to_string()))?;
    write_json(&dir.join(files::TIMINGS), &(t + "\n"))?;
    Ok(RunReport {
        manifest,
        timings: timing,
        xlsx_skipped: written.xlsx_skipped,
        out: r.out.clone(),
        elapsed: started.elapsed(),
        engine,
        write: written.time,
        caps_without_history: vec![],
    })
}

/// Writes `clawbacks.parquet` and `clawbacks.csv` (also when nothing is recovered: the ledger
/// then knows the rules were evaluated) and lists them with the files; the manifest's entry.
fn write_clawbacks(
    p: &Program,
    recs: &[huiqi_columnar::clawback::Recovery],
    dir: &Path,
    files: &mut Vec<FileHash>,
) -> Result<files::Clawbacks> {
    use huiqi_columnar::clawback;
    let fail = |e: &dyn std::fmt::Display| Error::plain(e.to_string());
    for (file, write) in [
        (
            files::CLAWBACKS_PARQUET,
            clawback::write_parquet as fn(&Program, &[clawback::Recovery], &Path) -> _,
        ),
        (files::CLAWBACKS_CSV, clawback::write_csv),
    ] {
        let sha256 = write(p, recs, &dir.join(file)).map_err(|e| fail(&e))?;
        files.push(FileHash {
            file: Some(file.into()),
            sha256,
        });
    }
    let amount_fen = recs
        .iter()
        .try_fold(0i64, |t, r| t.checked_add(r.amount_fen))
        .ok_or_else(|| {
            Error::input(
                "追回金额合计超出 i64 分的范围",
                "the total to recover does not fit in an i64 of 分",
            )
        })?;
    Ok(files::Clawbacks {
        rules: p.clawbacks.iter().map(|c| c.name.clone()).collect(),
        rows: recs.len(),
        amount_fen,
    })
}

fn write_json(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

struct Written {
    files: Vec<FileHash>,
    xlsx_skipped: Option<usize>,
    time: Duration,
    parquet: Duration,
    csv: Duration,
}

fn write_outputs(rows: &Results, out: &Path, xlsx: bool) -> Result<Written> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let tw = Instant::now();
    let pq = out.join(files::RESULTS_PARQUET);
    let csv = out.join(files::RESULTS_CSV);
    let xl = out.join(files::RESULTS_XLSX);
    let fail = |e: &dyn std::fmt::Display| Error::plain(e.to_string());
    // The files are independent: Parquet (the whole matrix) on this thread, CSV then XLSX (the
    // rows a person reads, a twentieth of them at 1M firms) beside it, each timed on its own.
    let timed = |f: &dyn Fn() -> Result<String>| {
        let t = Instant::now();
        f().map(|h| (h, t.elapsed()))
    };
    let ((hp, tp), (hc, tc), wrote_xlsx) = std::thread::scope(|s| {
        let c = s.spawn(|| {
            let c = timed(&|| output::write_csv(rows, &csv).map_err(|e| fail(&e)))?;
            let x = match xlsx {
                true => Some(output::write_xlsx(rows, &xl).map_err(|e| fail(&e))?),
                false => None,
            };
            Ok::<_, Error>((c, x))
        });
        let p = timed(&|| output::write_parquet(rows, &pq).map_err(|e| fail(&e)));
        let (c, x) = c
            .join()
            .unwrap_or_else(|_| Err(Error::plain("CSV writer panicked")))?;
        Ok::<_, Error>((p?, c, x))
    })?;
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut files = vec![
        FileHash {
            file: name(&pq),
            sha256: hp,
        },
        FileHash {
            file: name(&csv),
            sha256: hc,
        },
    ];
    let mut xlsx_skipped = None;
    match wrote_xlsx {
        Some(true) => {
            let h = output::file_sha256(&xl).unwrap_or_default();
            files.push(FileHash {
                file: name(&xl),
                sha256: h,
            });
        }
        Some(false) => {
            let _ = std::fs::remove_file(&xl);
            xlsx_skipped = Some(output::Readable::of(rows).count(rows));
        }
        None => {}
    }
    Ok(Written {
        files,
        xlsx_skipped,
        time: tw.elapsed(),
        parquet: tp,
        csv: tc,
    })
}

/// The run's manifest: money by clause, the inputs' hashes and the files written.
fn manifest(
    p: &Program,
    rows: &Results,
    snapshot_hash: &str,
    r: &RunRequest,
    files: Vec<FileHash>,
) -> Result<RunManifest> {
    let mut by_clause: BTreeMap<usize, (u64, i64)> = BTreeMap::new();
    // Firms with at least one result row (rows come grouped by firm).
    let firms = (0..rows.len())
        .filter(|&i| i == 0 || rows.firm[i] != rows.firm[i - 1])
        .count();
    let idx = |name: &str| {
        p.clauses
            .iter()
            .position(|c| c.name == name)
            .unwrap_or(usize::MAX)
    };
    let slot_clause: Vec<usize> = rows.clauses.iter().map(|c| idx(c)).collect();
    let overflow = || {
        Error::input(
            "金额合计超出 i64 分的范围",
            "the total amount does not fit in an i64 of 分",
        )
    };
    for i in (0..rows.len()).filter(|&i| rows.amount_fen[i] > 0) {
        let e = by_clause
            .entry(slot_clause[rows.slot[i] as usize])
            .or_default();
        e.0 += 1;
        e.1 = e.1.checked_add(rows.amount_fen[i]).ok_or_else(overflow)?;
    }
    let total_fen = by_clause
        .values()
        .try_fold(0i64, |t, v| t.checked_add(v.1))
        .ok_or_else(overflow)?;
    Ok(RunManifest {
        engine: files::Engine {
            name: "huiqi".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            columnar: "datafusion 55".into(),
        },
        policy: files::Policy {
            name: p.policy.name.clone(),
            version: p.policy.version.clone(),
            hash: p.hash.clone(),
            set: r.set.iter().map(|s| s.to_string()).collect(),
            imports: p
                .packs
                .iter()
                .map(|x| files::ImportedPack {
                    name: x.name.clone(),
                    version: x.version.clone(),
                    hash: x.hash.clone(),
                })
                .collect(),
        },
        snapshot: files::Snapshot {
            hash: snapshot_hash.to_string(),
            // Absolute, so `ledger record` finds the firm names from any directory.
            dir: std::fs::canonicalize(&r.snapshot)
                .unwrap_or_else(|_| r.snapshot.clone())
                .display()
                .to_string(),
        },
        period: r.period,
        rows: rows.len(),
        firms,
        total_fen,
        by_clause: by_clause
            .iter()
            .map(|(c, (n, f))| ClauseTotal {
                clause: p.clauses.get(*c).map(|c| c.name.clone()),
                awards: *n,
                amount_fen: *f,
            })
            .collect(),
        clawbacks: None,
        files,
    })
}
