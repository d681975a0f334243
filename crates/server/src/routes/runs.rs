//! Data in and runs over HTTP. An officer uploads a mapping with its CSV/XLSX files and gets a
//! snapshot or every row-level problem (nothing written); starts a run of the pack over a
//! snapshot on threads of its own (the engine has its own runtime, so a firm's check keeps its
//! latency while a run executes), follows its progress, pages through its awards, downloads its
//! files; the run is recorded into the ledger when it finishes (the same use cases as `huiqi
//! ingest`, `huiqi run` and `huiqi ledger record`).

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::Shared;

/// Uploads (a mapping and its data files) above this are refused (413).
pub const INGEST_LIMIT: usize = 128 << 20;
/// Problems listed for an ingest that wrote nothing.
const MAX_ERRORS: usize = 200;

/// The runs this server started, newest last, and the awards of finished ones (read once).
#[derive(Default)]
pub struct Jobs {
    runs: Mutex<Vec<RunView>>,
    awards: Mutex<HashMap<String, Arc<huiqi_ledger::RunInput>>>,
}

/// What a finished run leaves beside its results (`job.json`), so the server lists it again
/// after a restart; the rest comes from the run's manifest.
#[derive(Serialize, Deserialize)]
struct JobRecord {
    actor: String,
    started_at: String,
    finished_at: Option<String>,
    elapsed_ms: Option<u64>,
    recorded: Option<Recorded>,
}

const JOB_FILE: &str = "job.json";

impl Jobs {
    /// The finished runs under `work/runs` (each with its manifest and `job.json`), oldest
    /// first: what this server ran before it restarted. A run without them is left out.
    pub fn restore(work: &FsPath) -> Jobs {
        let mut runs: Vec<RunView> = std::fs::read_dir(work.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| restored(&e.path()))
            .collect();
        runs.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        Jobs {
            runs: Mutex::new(runs),
            awards: Mutex::default(),
        }
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut RunView)) {
        if let Ok(mut runs) = self.runs.lock() {
            if let Some(r) = runs.iter_mut().find(|r| r.id == id) {
                f(r);
            }
        }
    }
    /// A run by id.
    pub fn view(&self, id: &str) -> Option<RunView> {
        self.get(id)
    }

    fn get(&self, id: &str) -> Option<RunView> {
        self.runs
            .lock()
            .ok()
            .and_then(|r| r.iter().find(|r| r.id == id).cloned())
    }
}

/// A finished run read back from its directory.
fn restored(dir: &FsPath) -> Option<RunView> {
    let id = dir.file_name()?.to_str()?.to_string();
    let job: JobRecord = serde_json::from_slice(&std::fs::read(dir.join(JOB_FILE)).ok()?).ok()?;
    let m: huiqi_files::run::RunManifest =
        serde_json::from_slice(&std::fs::read(dir.join(huiqi_files::run::MANIFEST)).ok()?).ok()?;
    Some(RunView {
        id,
        period: m.period,
        snapshot: m.snapshot.hash.chars().take(16).collect(),
        actor: job.actor,
        state: "done",
        started_at: job.started_at,
        finished_at: job.finished_at,
        elapsed_ms: job.elapsed_ms,
        firms: Some(m.firms),
        total_yuan: Some(huiqi_ledger::yuan(m.total_fen)),
        total_fen: Some(m.total_fen),
        by_clause: clause_sums(&m),
        clawbacks: clawback_sum(&m),
        recorded: job.recorded,
        set: m.policy.set.clone(),
        error: None,
        out: dir.to_path_buf(),
        snapshot_dir: PathBuf::from(m.snapshot.dir),
    })
}

/// The clauses' awards of a run's manifest (its total row left out).
fn clause_sums(m: &huiqi_files::run::RunManifest) -> Vec<ClauseSum> {
    m.by_clause
        .iter()
        .filter_map(|c| {
            Some(ClauseSum {
                clause: c.clause.clone()?,
                awards: c.awards,
                amount_yuan: huiqi_ledger::yuan(c.amount_fen),
                amount_fen: c.amount_fen,
            })
        })
        .collect()
}

/// What a run's clawback rules recover (None when the pack has none).
fn clawback_sum(m: &huiqi_files::run::RunManifest) -> Option<ClawbackSum> {
    m.clawbacks.as_ref().map(|c| ClawbackSum {
        rules: c.rules.clone(),
        rows: c.rows,
        amount_yuan: huiqi_ledger::yuan(c.amount_fen),
        amount_fen: c.amount_fen,
    })
}

/// What a run's clawback rules recover from earlier awards (`clawbacks.parquet`).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ClawbackSum {
    /// Every clawback rule evaluated, in declared order.
    pub rules: Vec<String>,
    /// Firm × rule × earlier award rows.
    pub rows: usize,
    pub amount_yuan: String,
    pub amount_fen: i64,
}

/// A clause's awards in a run.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ClauseSum {
    pub clause: String,
    pub awards: u64,
    pub amount_yuan: String,
    pub amount_fen: i64,
}

/// What recording the run into the ledger did.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Recorded {
    pub run_id: String,
    /// Recorded before: nothing changed.
    pub already: bool,
    pub new: u64,
    pub new_yuan: String,
    pub new_fen: i64,
    pub changed: u64,
    pub superseded: u64,
    pub topups: u64,
    pub recoveries: u64,
    /// New amounts to recover from the clawback rules, and their total (negative 分).
    #[serde(default)]
    pub clawbacks: u64,
    #[serde(default)]
    pub clawback_fen: i64,
}

/// A run: where it is, and when done what it computed.
#[derive(Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub period: i32,
    /// The snapshot's hash (16 hex digits).
    pub snapshot: String,
    pub actor: String,
    /// `evaluating`, `writing`, `recording`, `done` or `failed`.
    pub state: &'static str,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<u64>,
    pub firms: Option<usize>,
    pub total_yuan: Option<String>,
    pub total_fen: Option<i64>,
    pub by_clause: Vec<ClauseSum>,
    /// What the pack's clawback rules recover this period (absent without any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clawbacks: Option<ClawbackSum>,
    pub recorded: Option<Recorded>,
    /// Parameters set for this run (`名称=值`): a what-if run, never recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(skip)]
    out: PathBuf,
    #[serde(skip)]
    snapshot_dir: PathBuf,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIn {
    pub period: i32,
    /// A snapshot's hash (its first 16 hex digits): one this server ingested, or the one it
    /// serves. Default: the one it serves.
    pub snapshot: Option<String>,
    /// Record the results into the ledger when the run finishes (default true; false when
    /// parameters are set).
    pub record: Option<bool>,
    /// Parameters set for this run, each `名称=值` in the pack's notation (`8000万`): a what-if
    /// over the zone's data. Such a run is never recorded — its figures are not the policy's.
    #[serde(default)]
    pub set: Vec<String>,
}

fn snapshots_dir(s: &Shared) -> PathBuf {
    s.cfg.work.join("snapshots")
}

/// The snapshot a request names — never a path: a hash of one this server knows (the one in
/// service, the one it started with, or one ingested here).
pub fn resolve_snapshot(s: &Shared, want: Option<&str>) -> ApiResult<(PathBuf, String)> {
    let served = s.served();
    let Some(h) = want else {
        return served.dir.clone().zip(served.name()).ok_or_else(|| {
            ApiError::invalid(
                "本服务未加载快照，请指定 snapshot",
                "no snapshot is served: name one",
            )
            .field("snapshot")
        });
    };
    let ok = h.len() == 16
        && h.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !ok {
        return Err(ApiError::invalid(
            "快照编号应为16位小写十六进制",
            "a snapshot is named by 16 lower-case hex digits",
        )
        .field("snapshot"));
    }
    if let (Some(dir), Some(name)) = (&served.dir, served.name()) {
        if name == h {
            return Ok((dir.clone(), name));
        }
    }
    if let Some(dir) = &s.cfg.snapshot {
        let started = huiqi::data::snapshot_manifest(dir).ok().map(|m| m.hash);
        if started.is_some_and(|x| x.starts_with(h)) {
            return Ok((dir.clone(), h.to_string()));
        }
    }
    let dir = snapshots_dir(s).join(h);
    if dir.join("manifest.json").is_file() {
        return Ok((dir, h.to_string()));
    }
    Err(ApiError::not_found("该快照", "snapshot").field("snapshot"))
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotOut {
    /// The first 16 hex digits of its hash.
    pub snapshot: String,
    /// Firms' checks read this one now.
    pub served: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ServedOut {
    pub snapshot: String,
    pub hash: String,
    pub firms: usize,
    /// The snapshot in service before.
    pub before: Option<String>,
}

/// The snapshots this server knows: the one in service, the one it started with, those
/// ingested here (newest first).
#[utoipa::path(get, path = "/api/v1/snapshots", tag = "runs",
    responses((status = 200, body = Vec<SnapshotOut>), (status = 403, body = ErrorBody)))]
pub async fn snapshots(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<Vec<SnapshotOut>>> {
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    Ok(Json(
        known_snapshots(&s)
            .into_iter()
            .map(|(snapshot, served)| SnapshotOut { snapshot, served })
            .collect(),
    ))
}

/// Puts a snapshot in service (officer): its files are checked against its manifest, its firms
/// loaded, and firms' checks read it from the next request on; the answers kept from the one
/// before are forgotten. An audit event names who did it and both snapshots.
#[utoipa::path(post, path = "/api/v1/snapshots/{name}/activate", tag = "runs",
    params(("name" = String, Path, description = "16 hex digits of the snapshot's hash")),
    responses((status = 200, body = ServedOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn activate(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<ServedOut>> {
    s.authorize(&c.principal, Act::Ingest, &Resource::Zone)
        .await?;
    let (dir, _) = resolve_snapshot(&s, Some(&name))?;
    let st = s.clone();
    let next = tokio::task::spawn_blocking(move || crate::load_served(&st.program, &dir))
        .await
        .map_err(ApiError::internal)??;
    let out = ServedOut {
        snapshot: next.name().unwrap_or_default(),
        hash: next.hash.clone().unwrap_or_default(),
        firms: next.firms.len(),
        before: s.served().hash.clone(),
    };
    let after = serde_json::json!({"hash": out.hash, "firms": out.firms, "before": out.before});
    let (ctx, entity) = (c.ctx(), format!("snapshot:{}", out.snapshot));
    crate::ledger!(s, |l| huiqi::ledger::note(
        l,
        &ctx,
        "activate_snapshot",
        &entity,
        &after
    )
    .await)
    .await??;
    s.serve_snapshot(next);
    crate::routes::firm::warm_checks(&s);
    Ok(Json(out))
}

/// The snapshots a run may name: the one served, then those ingested here, newest first
/// (name, whether it is the served one).
pub fn known_snapshots(s: &Shared) -> Vec<(String, bool)> {
    let mut out = vec![];
    if let Some(h) = s.served().name() {
        out.push((h, true));
    }
    if let Some(m) = s
        .cfg
        .snapshot
        .as_ref()
        .and_then(|d| huiqi::data::snapshot_manifest(d).ok())
    {
        let h: String = m.hash.chars().take(16).collect();
        if !out.iter().any(|(n, _)| *n == h) {
            out.push((h, false));
        }
    }
    let mut ingested: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(snapshots_dir(s))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let at = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((at, name))
        })
        .collect();
    ingested.sort_by_key(|x| std::cmp::Reverse(x.0));
    for (_, name) in ingested {
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, false));
        }
    }
    out
}

/// `名称=值` texts as parameter sets (the field `set[k]` names a bad one).
pub(crate) fn parse_sets(raw: &[String]) -> ApiResult<Vec<huiqi::lang::ParamSet>> {
    raw.iter()
        .enumerate()
        .map(|(k, x)| {
            huiqi::lang::ParamSet::parse(x).ok_or_else(|| {
                ApiError::invalid("参数设定应写作 名称=值", "a parameter set is NAME=VALUE")
                    .field(format!("set[{k}]"))
            })
        })
        .collect()
}

/// The served pack checked with `sets`, as if written there: a bad value is the request's
/// 422 with the checker's diagnostics, not a failed run later.
pub(crate) async fn check_sets(s: &Shared, sets: &[huiqi::lang::ParamSet]) -> ApiResult<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let (policy, check) = (s.cfg.policy.clone(), sets.to_vec());
    let loaded = tokio::task::spawn_blocking(move || huiqi::pack::load_with(&policy, &check))
        .await
        .map_err(ApiError::internal)?;
    match loaded {
        Ok(_) => Ok(()),
        Err(huiqi::Error::Policy { sources, diags, .. }) => {
            let show = |l| {
                diags
                    .iter()
                    .map(|d| sources.render(d, l, false))
                    .collect::<String>()
            };
            Err(ApiError::invalid(
                show(huiqi::Lang::Zh).trim_end().to_string(),
                show(huiqi::Lang::En).trim_end().to_string(),
            )
            .field("set"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn new_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{}",
        now.format("%Y%m%d%H%M%S"),
        crate::auth::random_hex(3)
    )
}

/// Starts a run of the pack over a snapshot; answers at once (202) with the run to follow.
/// One run at a time.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = RunIn,
    responses((status = 202, body = RunView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "a run is in progress"), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<RunIn>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    s.authorize(&c.principal, Act::StartRun, &Resource::Zone)
        .await?;
    if !(1900..=2200).contains(&b.period) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    let sets = parse_sets(&b.set)?;
    if !sets.is_empty() && b.record == Some(true) {
        return Err(ApiError::invalid(
            "设定了参数的测算不能记入台账",
            "a run with parameters set cannot be recorded in the ledger",
        )
        .field("record"));
    }
    check_sets(&s, &sets).await?;
    let (snapshot_dir, snapshot) = resolve_snapshot(&s, b.snapshot.as_deref())?;
    let id = new_id();
    let out = s.cfg.work.join("runs").join(&id);
    let view = RunView {
        id: id.clone(),
        period: b.period,
        snapshot,
        actor: c.principal.user.clone(),
        state: "evaluating",
        started_at: huiqi_ledger::now(),
        finished_at: None,
        elapsed_ms: None,
        firms: None,
        total_yuan: None,
        total_fen: None,
        by_clause: vec![],
        clawbacks: None,
        recorded: None,
        set: b.set.clone(),
        error: None,
        out: out.clone(),
        snapshot_dir: snapshot_dir.clone(),
    };
    {
        let mut runs = s.jobs.runs.lock().map_err(ApiError::internal)?;
        if runs.iter().any(|r| !matches!(r.state, "done" | "failed")) {
            return Err(ApiError::conflict(
                "已有测算在运行，请等待其完成",
                "a run is in progress: wait for it to finish",
            ));
        }
        runs.push(view.clone());
    }
    let req = huiqi::run::RunRequest {
        xlsx: true,
        set: sets,
        ..huiqi::run::RunRequest::new(s.cfg.policy.clone(), snapshot_dir.clone(), b.period, out)
    };
    let record = b.record.unwrap_or(b.set.is_empty());
    let ctx = c.ctx();
    let rt = tokio::runtime::Handle::current();
    let st = s.clone();
    std::thread::Builder::new()
        .name(format!("run-{id}"))
        .spawn(move || execute(st, rt, id, req, record, ctx))
        .map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Lowers this thread to the lowest CPU priority: nice 19 and the `SCHED_IDLE` policy. The
/// engine's threads start from it and inherit both (on Linux they are per thread and copied to
/// new threads), so a population run takes only the CPU that firms' checks and pages leave. Nice
/// 19 alone still lets a run's thread keep the core for a scheduler slice when a request
/// arrives (the p99 of checks measured 6.8 ms at 10,000/s beside 1M-firm runs); a `SCHED_IDLE`
/// thread is preempted at once by any normal thread that wakes.
pub(crate) fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, setpriority and sched_setscheduler take plain integers and a pointer
        // to a parameter block that lives on this stack for the call.
        let (r, idle) = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let param = libc::sched_param { sched_priority: 0 };
            (
                libc::setpriority(libc::PRIO_PROCESS, tid, 19),
                libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_IDLE, &param),
            )
        };
        if r != 0 || idle != 0 {
            eprintln!(
                "huiqi: could not lower the run's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The run, then (when asked) its recording; every outcome lands in the run's view.
fn execute(
    s: Shared,
    rt: tokio::runtime::Handle,
    id: String,
    mut req: huiqi::run::RunRequest,
    record: bool,
    ctx: huiqi_ledger::Ctx,
) {
    background_priority();
    let fail = |e: ApiError| {
        s.jobs.update(&id, |r| {
            r.state = "failed";
            r.finished_at = Some(huiqi_ledger::now());
            r.error = Some(*e.body);
        })
    };
    let t0 = std::time::Instant::now();
    let progress = |p: huiqi::run::Progress| {
        let state = match p {
            huiqi::run::Progress::Evaluating => "evaluating",
            huiqi::run::Progress::Writing => "writing",
            huiqi::run::Progress::Done => return,
        };
        s.jobs.update(&id, |r| r.state = state);
    };
    // The run reads the award history of this server's ledger, as `huiqi run --ledger` does:
    // stepped top-ups, total caps, deferred tranches and caps over several years all depend on
    // what was awarded before, and a second year's run that did not see it would pay again.
    // Derived snapshots go under `history/`, not among the uploaded ones the pages offer.
    let (snap, period) = (req.snapshot.clone(), req.period as i64);
    let history = s.cfg.work.join("history");
    let derived = rt.block_on(async {
        crate::ledger_read!(s, |l| huiqi::ledger::derive_snapshot(
            l,
            &snap,
            Some(&history),
            period,
            false
        )
        .await)
        .await
    });
    match derived.and_then(|r| r.map_err(ApiError::from)) {
        Ok(d) => req.snapshot = d.dir,
        Err(e) => return fail(e),
    }
    let report = match huiqi::run::run(&req, &progress) {
        Ok(r) => r,
        Err(e) => return fail(e.into()),
    };
    let m = &report.manifest;
    let by_clause = clause_sums(m);
    let clawbacks = clawback_sum(m);
    s.jobs.update(&id, |r| {
        r.firms = Some(m.firms);
        r.clawbacks = clawbacks;
        r.total_fen = Some(m.total_fen);
        r.total_yuan = Some(huiqi_ledger::yuan(m.total_fen));
        r.by_clause = by_clause;
        r.state = if record { "recording" } else { "done" };
    });
    if record {
        let (out, snap) = (req.out.clone(), req.snapshot.clone());
        let done = rt.block_on(async {
            crate::ledger!(s, |l| huiqi::ledger::record(l, &ctx, &out, Some(&snap))
                .await)
            .await
        });
        match done.and_then(|r| r.map_err(ApiError::from)) {
            Ok(sum) => s.jobs.update(&id, |r| {
                r.recorded = Some(Recorded {
                    run_id: sum.run_id,
                    already: sum.already,
                    new: sum.new,
                    new_yuan: huiqi_ledger::yuan(sum.new_fen),
                    new_fen: sum.new_fen,
                    changed: sum.changed,
                    superseded: sum.superseded,
                    topups: sum.topups,
                    recoveries: sum.recoveries,
                    clawbacks: sum.new_clawbacks,
                    clawback_fen: sum.new_clawback_fen,
                })
            }),
            Err(e) => return fail(e),
        }
    }
    let (finished_at, elapsed) = (huiqi_ledger::now(), t0.elapsed().as_millis() as u64);
    // Beside the results (before the run shows as done), so a restarted server lists it again.
    if let Some(r) = s.jobs.get(&id) {
        let job = JobRecord {
            actor: r.actor,
            started_at: r.started_at,
            finished_at: Some(finished_at.clone()),
            elapsed_ms: Some(elapsed),
            recorded: r.recorded,
        };
        if let Ok(bytes) = serde_json::to_vec_pretty(&job) {
            let _ = std::fs::write(req.out.join(JOB_FILE), bytes);
        }
    }
    s.jobs.update(&id, |r| {
        r.state = "done";
        r.finished_at = Some(finished_at);
        r.elapsed_ms = Some(elapsed);
    });
}

/// The runs this server started, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs",
    responses((status = 200, body = Vec<RunView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<Vec<RunView>>> {
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    let mut runs = s.jobs.runs.lock().map_err(ApiError::internal)?.clone();
    runs.reverse();
    Ok(Json(runs))
}

/// One run: its progress, and when done its totals and what recording did.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn one(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    s.jobs
        .get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("该测算", "run"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQ {
    pub clause: Option<String>,
    /// A credit code.
    pub firm: Option<String>,
    /// 1-based (default 1).
    pub page: Option<usize>,
    /// Default 50, at most 1000.
    pub per_page: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct AwardRow {
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub tranche: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ResultsPage {
    /// Awards matching the filters (non-zero rows).
    pub matching: usize,
    pub matching_yuan: String,
    pub matching_fen: i64,
    pub page: usize,
    pub per_page: usize,
    pub rows: Vec<AwardRow>,
}

fn finished(s: &Shared, id: &str) -> ApiResult<RunView> {
    let r = s
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::not_found("该测算", "run"))?;
    match r.state {
        "done" | "recording" => Ok(r),
        _ => Err(ApiError::conflict(
            "测算尚未完成",
            "the run has not finished",
        )),
    }
}

/// A finished run's awards page by page, filtered by clause and firm.
#[utoipa::path(get, path = "/api/v1/runs/{id}/results", tag = "runs",
    params(("id" = String, Path), ResultsQ),
    responses((status = 200, body = ResultsPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn results(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<ResultsQ>,
) -> ApiResult<Json<ResultsPage>> {
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    let r = finished(&s, &id)?;
    let cached = s
        .jobs
        .awards
        .lock()
        .map_err(ApiError::internal)?
        .get(&id)
        .cloned();
    let awards = match cached {
        Some(a) => a,
        None => {
            let (out, snap) = (r.out.clone(), r.snapshot_dir.clone());
            let read =
                tokio::task::spawn_blocking(move || huiqi_ledger::read_results(&out, Some(&snap)))
                    .await
                    .map_err(ApiError::internal)??;
            let a = Arc::new(read);
            s.jobs
                .awards
                .lock()
                .map_err(ApiError::internal)?
                .insert(id.clone(), a.clone());
            a
        }
    };
    let per_page = q.per_page.unwrap_or(50).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let keep = |row: &&huiqi_ledger::ResultRow| {
        q.clause.as_ref().is_none_or(|c| &row.clause == c)
            && q.firm.as_ref().is_none_or(|f| &row.firm_id == f)
    };
    let mut matching = 0usize;
    let mut fen: i128 = 0;
    let mut rows = vec![];
    for row in awards.rows.iter().filter(keep) {
        matching += 1;
        fen += row.fen as i128;
        if matching > (page - 1) * per_page && rows.len() < per_page {
            rows.push(AwardRow {
                firm: row.firm_id.clone(),
                name: awards.names.get(&row.firm_id).cloned().unwrap_or_default(),
                clause: row.clause.clone(),
                tranche: row.tranche.clone(),
                amount_yuan: huiqi_ledger::yuan(row.fen),
                amount_fen: row.fen,
            });
        }
    }
    // The run's total passed the manifest's checked i64 sum, so any part of it fits.
    let matching_fen = i64::try_from(fen).map_err(ApiError::internal)?;
    Ok(Json(ResultsPage {
        matching,
        matching_yuan: huiqi_ledger::yuan(matching_fen),
        matching_fen,
        page,
        per_page,
        rows,
    }))
}

/// A finished run's files: `results.csv`, `results.xlsx`, `results.parquet`, `manifest.json`,
/// and with clawback rules `clawbacks.csv` and `clawbacks.parquet`.
#[utoipa::path(get, path = "/api/v1/runs/{id}/files/{name}", tag = "runs",
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the file"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn file(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    use huiqi_files::run as rf;
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    let r = finished(&s, &id)?;
    let kind = match name.as_str() {
        n if n == rf::RESULTS_CSV => "text/csv; charset=utf-8",
        n if n == rf::RESULTS_XLSX => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        }
        n if n == rf::RESULTS_PARQUET || n == rf::CLAWBACKS_PARQUET => {
            "application/vnd.apache.parquet"
        }
        n if n == rf::CLAWBACKS_CSV => "text/csv; charset=utf-8",
        n if n == rf::MANIFEST => "application/json",
        _ => return Err(ApiError::not_found("该文件", "file")),
    };
    let path = r.out.join(&name);
    let body = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found("该文件", "file"))?;
    let disp = format!("attachment; filename=\"{id}-{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disp),
        ],
        body,
    )
        .into_response())
}

/// What an ingest wrote.
#[derive(Serialize, ToSchema)]
pub struct IngestOut {
    /// The snapshot's name: the first 16 hex digits of its hash (give it to `POST /runs`).
    pub snapshot: String,
    pub hash: String,
    /// The same data was ingested before: that snapshot is reused.
    pub reused: bool,
    #[schema(value_type = Object)]
    pub rows: serde_json::Value,
    /// Every source file read, with what its mapping passed over.
    pub sources: Vec<SourceOut>,
}

/// One source file of an ingest: the rows read and what the mapping left out of them.
#[derive(Serialize, ToSchema)]
pub struct SourceOut {
    /// As the mapping names it.
    pub file: String,
    pub sha256: String,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows the mapping's `where` / `where_not` left out.
    pub filtered: u64,
    /// Values `unknown = "ignore"` passed over (rows skipped, or cells left missing).
    pub unknown: u64,
    /// Exact duplicate rows dropped under `duplicates = "keep-one"`.
    pub duplicates: u64,
}

/// A file name from an upload: its last component, nothing that climbs or hides.
fn upload_name(raw: &str) -> ApiResult<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.chars().any(|c| c.is_control() || c == ':');
    if bad {
        return Err(ApiError::invalid(
            format!("文件名无效：{raw:?}"),
            format!("bad file name: {raw:?}"),
        )
        .field("file"));
    }
    Ok(name.to_string())
}

/// Data in: a multipart upload of the mapping (part `mapping`, the TOML a `huiqi ingest` takes)
/// and the files it names (parts `file`, by their file names). Every row is checked against the
/// pack's facts; either a new immutable snapshot (201) or every problem with its file, row and
/// column (422) and nothing written.
#[utoipa::path(post, path = "/api/v1/ingest", tag = "runs",
    request_body(content_type = "multipart/form-data", description = "parts: `mapping` (TOML) and one `file` part per data file"),
    responses((status = 201, body = IngestOut), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody, description = "row-level errors in `errors`")))]
pub async fn ingest(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<IngestOut>)> {
    s.authorize(&c.principal, Act::Ingest, &Resource::Zone)
        .await?;
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = s.cfg.work.join("uploads").join(format!("{n}"));
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let r = ingest_in(&s, &mut form, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

async fn ingest_in(
    s: &Shared,
    form: &mut Multipart,
    dir: &FsPath,
) -> ApiResult<(StatusCode, Json<IngestOut>)> {
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        let t = e.body_text();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                format!("上传过大：{t}"),
                format!("upload too large: {t}"),
            )
        } else {
            ApiError::bad_request(format!("上传格式无效：{t}"), format!("bad upload: {t}"))
        }
    };
    let mut mapping: Option<PathBuf> = None;
    while let Some(part) = form.next_field().await.map_err(bad_form)? {
        let field = part.name().unwrap_or("").to_string();
        let raw_name = part.file_name().unwrap_or("").to_string();
        let bytes = part.bytes().await.map_err(bad_form)?;
        match field.as_str() {
            "mapping" => {
                let p = dir.join("mapping.toml");
                std::fs::write(&p, &bytes).map_err(ApiError::internal)?;
                mapping = Some(p);
            }
            // A page's form carries its CSRF token as a part (checked before this handler).
            crate::auth::CSRF_FIELD => {}
            "file" if raw_name.is_empty() && bytes.is_empty() => {}
            "file" => {
                let name = upload_name(&raw_name)?;
                if name == "mapping.toml" {
                    return Err(ApiError::invalid(
                        "数据文件不能命名为 mapping.toml",
                        "a data file cannot be named mapping.toml",
                    )
                    .field("file"));
                }
                std::fs::write(dir.join(name), &bytes).map_err(ApiError::internal)?;
            }
            other => {
                return Err(ApiError::invalid(
                    format!("未知的上传项 {other:?}（应为 mapping 或 file）"),
                    format!("unknown part {other:?} (mapping or file)"),
                )
                .field(other.to_string()))
            }
        }
    }
    let mapping = mapping.ok_or_else(|| {
        ApiError::invalid("缺少映射文件（mapping）", "the mapping part is missing").field("mapping")
    })?;
    let snapshots = snapshots_dir(s);
    let st = s.clone();
    let info = tokio::task::spawn_blocking(move || {
        huiqi::data::ingest(&st.program, &mapping, &snapshots, MAX_ERRORS)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        // The files as the uploader named them, not where this server put them.
        huiqi::Error::Data(mut r) => {
            let prefix = format!("{}{}", dir.display(), std::path::MAIN_SEPARATOR);
            for d in &mut r.errors {
                if let Some(rest) = d.file.strip_prefix(&prefix) {
                    d.file = rest.to_string();
                }
            }
            ApiError::from(huiqi::Error::Data(r))
        }
        e => ApiError::from(e),
    })?;
    let hash = info.hash.clone();
    Ok((
        if info.reused {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(IngestOut {
            snapshot: hash[..16.min(hash.len())].to_string(),
            hash,
            reused: info.reused,
            rows: serde_json::to_value(info.rows).map_err(ApiError::internal)?,
            sources: info
                .sources
                .into_iter()
                .map(|x| SourceOut {
                    file: x.file,
                    sha256: x.sha256,
                    rows: x.rows,
                    filtered: x.filtered,
                    unknown: x.unknown,
                    duplicates: x.duplicates,
                })
                .collect(),
        }),
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod priority_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    /// The calling thread's (nice value, scheduling policy), from /proc (fields 19 and 41 of
    /// its stat line).
    fn nice() -> (i64, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name (field 2) may hold spaces; fields after its ')' are plain.
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        (rest[16].parse().unwrap(), rest[38].parse().unwrap())
    }

    #[test]
    fn a_run_thread_and_the_threads_it_starts_run_at_nice_19_and_sched_idle() {
        let base = nice();
        let (own, child) = std::thread::spawn(|| {
            super::background_priority();
            let own = nice();
            (own, std::thread::spawn(nice).join().unwrap())
        })
        .join()
        .unwrap();
        let idle = (19, libc::SCHED_IDLE as i64);
        assert_eq!((own, child), (idle, idle));
        // The rest of the process is untouched.
        assert_eq!(std::thread::spawn(nice).join().unwrap(), base);
    }
}
