//! The officer's data pages. `/data`: upload a mapping and its CSV/XLSX files (the API's
//! ingest: every row-level problem in a table and nothing written, or the new snapshot), start
//! a run on a snapshot, the runs so far. `/runs/{id}`: a run's progress (htmx polls it until it
//! finishes; without JavaScript, a refresh link), its totals by clause, what recording into the
//! ledger did, its awards page by page and its files.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{fmt, query_param, render, see_other, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, RowError};
use crate::extract::{Body, Path, Query};
use crate::routes;
use crate::routes::runs::RunView;

pub struct RunRow {
    pub id: String,
    pub period: i32,
    pub snapshot: String,
    pub actor: String,
    pub state: String,
    pub state_code: &'static str,
    pub started: String,
    pub total: Option<String>,
}

fn run_row(p: &Page, r: &RunView) -> RunRow {
    RunRow {
        id: r.id.clone(),
        period: r.period,
        snapshot: r.snapshot.clone(),
        actor: r.actor.clone(),
        state: p.t(&format!("run.state.{}", r.state)),
        state_code: r.state,
        started: fmt::date(&r.started_at, p.lang),
        total: r.total_fen.map(|f| p.money(f)),
    }
}

/// What an upload gave, shown above the forms.
pub enum Uploaded {
    Snapshot {
        name: String,
        reused: bool,
        /// (table, rows)
        rows: Vec<(String, String)>,
        /// (file, rows read, filtered out, unknown values passed over, duplicates dropped)
        sources: Vec<(String, u64, u64, u64, u64)>,
    },
    Refused {
        message: String,
        hint: Option<String>,
        errors: Vec<RowError>,
        truncated: bool,
    },
}

#[derive(askama::Template)]
#[template(path = "data.html")]
struct DataPage {
    l: Layout,
    uploaded: Option<Uploaded>,
    /// (name, label, in service)
    snapshots: Vec<(String, String, bool)>,
    /// The snapshot the run form selects.
    chosen: String,
    period: i32,
    runs: Vec<RunRow>,
    can_ingest: bool,
    can_run: bool,
}

impl DataPage {
    /// Snapshots not in service (the activate form's choices).
    fn idle(&self) -> Vec<&(String, String, bool)> {
        self.snapshots.iter().filter(|s| !s.2).collect()
    }
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p, None).await;
    p.finish(r)
}

async fn page_inner(p: &Page, uploaded: Option<Uploaded>) -> ApiResult<Response> {
    let s = &p.s;
    s.authorize(p.p(), Act::ViewRun, &Resource::Zone).await?;
    let Json(runs) = routes::runs::list(State(s.clone()), Extension(p.c.clone())).await?;
    let chosen = match &uploaded {
        Some(Uploaded::Snapshot { name, .. }) => name.clone(),
        _ => query_param(&p.path, "snapshot").unwrap_or_default(),
    };
    let snapshots = routes::runs::known_snapshots(s)
        .into_iter()
        .map(|(name, served)| {
            let label = if served {
                format!("{name}（{}）", p.t("data.served"))
            } else {
                name.clone()
            };
            (name, label, served)
        })
        .collect();
    // The period a run defaults to: the latest year the served firms have data for.
    let period = s.served().latest_year.unwrap_or(2023);
    render(&DataPage {
        l: p.layout("data.title"),
        uploaded,
        snapshots,
        chosen,
        period,
        runs: runs.iter().map(|r| run_row(p, r)).collect(),
        can_ingest: p.allowed(Act::Ingest, &Resource::Zone),
        can_run: p.allowed(Act::StartRun, &Resource::Zone),
    })
}

/// The upload form: the API's ingest on the same multipart body; the outcome on the page.
pub async fn upload(p: Page, form: Multipart) -> Response {
    let r = routes::runs::ingest(State(p.s.clone()), Extension(p.c.clone()), form).await;
    let shown = match r {
        Ok((_, Json(out))) => {
            let rows = out
                .rows
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
                .unwrap_or_default();
            Uploaded::Snapshot {
                name: out.snapshot,
                reused: out.reused,
                rows,
                sources: out
                    .sources
                    .into_iter()
                    .map(|x| (x.file, x.rows, x.filtered, x.unknown, x.duplicates))
                    .collect(),
            }
        }
        // Bad data or a bad form: the problems beside the form, with a 4xx status.
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY
                || e.status == StatusCode::BAD_REQUEST =>
        {
            let status = e.status;
            let body = *e.body;
            let refused = Uploaded::Refused {
                message: p.pick(&body.zh, &body.en),
                hint: match (&body.hint_zh, &body.hint_en) {
                    (Some(z), Some(en)) => Some(p.pick(z, en)),
                    _ => None,
                },
                errors: body.errors,
                truncated: body.truncated,
            };
            let r = page_inner(&p, Some(refused)).await;
            return match r {
                Ok(page) => (status, page).into_response(),
                Err(e) => p.finish(Err(e)),
            };
        }
        Err(e) => return p.finish(Err(e)),
    };
    let r = page_inner(&p, Some(shown)).await;
    p.finish(r)
}

/// Puts a snapshot in service (the API's activate); back to the page with a message.
pub async fn activate(p: Page, f: Form) -> Response {
    let r = activate_inner(&p, &f).await;
    p.finish(r)
}

async fn activate_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let name = f.text("snapshot").unwrap_or_default();
    let Json(out) =
        routes::runs::activate(State(p.s.clone()), Extension(p.c.clone()), Path(name)).await?;
    Ok(see_other(&format!(
        "/data?done=activate&n={}&snapshot={}",
        out.firms, out.snapshot
    )))
}

/// The run form: the API's start; then to the run's page.
pub async fn start(p: Page, f: Form) -> Response {
    let r = start_inner(&p, &f).await;
    p.finish(r)
}

async fn start_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let period = f
        .text("period")
        .and_then(|x| x.parse::<i32>().ok())
        .ok_or_else(|| ApiError::invalid("请填写年度", "give the year").field("period"))?;
    // Parameters set for a what-if run, one `名称=值` a line; such a run is never recorded.
    let set: Vec<String> = f
        .text("set")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let b = routes::runs::RunIn {
        period,
        snapshot: f.text("snapshot"),
        record: Some(f.get("record").is_some() && set.is_empty()),
        set,
    };
    let (_, Json(run)) =
        routes::runs::start(State(p.s.clone()), Extension(p.c.clone()), Body(b)).await?;
    Ok(see_other(&format!("/runs/{}", run.id)))
}

pub struct StepView {
    pub label: String,
    pub done: bool,
    pub current: bool,
}

pub struct AwardView {
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub tranche: String,
    pub amount: String,
}

#[derive(askama::Template)]
#[template(path = "run.html")]
struct RunPage {
    l: Layout,
    run: RunRow,
    finished: bool,
    failed: Option<String>,
    steps: Vec<StepView>,
    /// Percent of the steps done (the bar).
    percent: u32,
    firms: Option<usize>,
    elapsed: Option<String>,
    /// (clause, awards, amount)
    by_clause: Vec<(String, u64, String)>,
    /// What the clawback rules recover: (rules, rows, amount).
    clawbacks: Option<(String, usize, String)>,
    recorded: Option<String>,
    /// Parameters set for this run (a what-if, never recorded).
    set: Vec<String>,
    files: Vec<(String, String)>,
    clause: String,
    clauses: Vec<(String, bool)>,
    awards: Vec<AwardView>,
    matching: usize,
    matching_amount: String,
    page: usize,
    pages: usize,
}

const STEPS: [&str; 4] = ["evaluating", "writing", "recording", "done"];

pub async fn run(p: Page, Path(id): Path<String>) -> Response {
    let r = run_inner(&p, id).await;
    p.finish(r)
}

async fn run_inner(p: &Page, id: String) -> ApiResult<Response> {
    let s = &p.s;
    let Json(r) =
        routes::runs::one(State(s.clone()), Extension(p.c.clone()), Path(id.clone())).await?;
    let at = STEPS.iter().position(|x| *x == r.state);
    let finished = matches!(r.state, "done" | "failed");
    let steps = STEPS
        .iter()
        .enumerate()
        .map(|(i, x)| StepView {
            label: p.t(&format!("run.state.{x}")),
            done: at.is_some_and(|a| i < a) || r.state == "done",
            current: at == Some(i) && r.state != "done",
        })
        .collect();
    let percent = match (r.state, at) {
        ("done", _) => 100,
        (_, Some(a)) => (a as u32 * 100) / STEPS.len() as u32,
        _ => 0,
    };
    let clause = query_param(&p.path, "clause").unwrap_or_default();
    let page = query_param(&p.path, "page")
        .and_then(|x| x.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let per_page = 50;
    let (awards, matching, matching_amount) = if r.state == "done" || r.state == "recording" {
        let q = routes::runs::ResultsQ {
            clause: (!clause.is_empty()).then(|| clause.clone()),
            firm: None,
            page: Some(page),
            per_page: Some(per_page),
        };
        let Json(res) = routes::runs::results(
            State(s.clone()),
            Extension(p.c.clone()),
            Path(id.clone()),
            Query(q),
        )
        .await?;
        (
            res.rows
                .into_iter()
                .map(|a| AwardView {
                    firm: a.firm,
                    name: a.name,
                    clause: a.clause,
                    tranche: a.tranche,
                    amount: p.money(a.amount_fen),
                })
                .collect(),
            res.matching,
            p.money(res.matching_fen),
        )
    } else {
        (vec![], 0, p.money(0))
    };
    let recorded = r.recorded.as_ref().map(|x| {
        if x.already {
            p.t("run.recorded_already")
        } else {
            p.t("run.recorded")
                .replace("{new}", &x.new.to_string())
                .replace("{amount}", &p.money(x.new_fen))
                .replace("{changed}", &x.changed.to_string())
                .replace("{superseded}", &x.superseded.to_string())
        }
    });
    use huiqi_files::run as rf;
    let files = if r.state == "done" {
        let mut names = vec![
            rf::RESULTS_XLSX,
            rf::RESULTS_CSV,
            rf::RESULTS_PARQUET,
            rf::MANIFEST,
        ];
        if r.clawbacks.is_some() {
            names.extend([rf::CLAWBACKS_CSV, rf::CLAWBACKS_PARQUET]);
        }
        names
            .iter()
            .map(|n| (n.to_string(), format!("/api/v1/runs/{id}/files/{n}")))
            .collect()
    } else {
        vec![]
    };
    let clauses = r
        .by_clause
        .iter()
        .map(|c| (c.clause.clone(), c.clause == clause))
        .collect();
    render(&RunPage {
        l: p.layout("run.title"),
        finished,
        failed: r.error.as_ref().map(|e| p.pick(&e.zh, &e.en)),
        steps,
        percent,
        firms: r.firms,
        elapsed: r.elapsed_ms.map(|ms| format!("{:.1}", ms as f64 / 1000.0)),
        by_clause: r
            .by_clause
            .iter()
            .map(|c| (c.clause.clone(), c.awards, p.money(c.amount_fen)))
            .collect(),
        clawbacks: r
            .clawbacks
            .as_ref()
            .map(|c| (c.rules.join("、"), c.rows, p.money(c.amount_fen))),
        recorded,
        set: r.set.clone(),
        files,
        clause,
        clauses,
        awards,
        pages: matching.div_ceil(per_page).max(1),
        matching,
        matching_amount,
        page,
        run: run_row(p, &r),
    })
}
