//! The 政策沙盘 over HTTP: a reform written as parameters set on the served pack, run against
//! the pack as it is over a snapshot this server knows (`huiqi::simulate`, the same use case
//! as `huiqi simulate`); the summary as JSON, the files (delta.parquet, reform.xlsx,
//! summary.json) by name. One at a time, on a thread of its own at the lowest CPU priority, so
//! firms' checks keep their latency.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Body;
use crate::state::Shared;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateIn {
    pub period: i32,
    /// A snapshot's name (16 hex digits) this server knows; default: the one it serves.
    pub snapshot: Option<String>,
    /// The reform: parameters of the served pack, each `名称=值` in the pack's notation.
    pub set: Vec<String>,
    /// Static facts to break the figures down by (default: every static enum or bool fact).
    #[serde(default)]
    pub groups: Vec<String>,
    /// How many of the largest gainers and losers to name (default 20, at most 200).
    pub top: Option<usize>,
    /// Past periods to backtest against what this service's ledger says was paid (at most 10).
    #[serde(default)]
    pub backtest: Vec<i32>,
    /// The budget solver instead of `set`: the value of one parameter that keeps the period's
    /// total within a budget, then simulated against the pack as it is.
    #[serde(default)]
    pub solve: Option<SolveIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SolveIn {
    /// A money, count or ratio parameter of the served pack.
    pub param: String,
    /// The budget in the pack's notation (`5000万`).
    pub budget: String,
    /// `LOW..HIGH` in the pack's notation; default 0 to twice the value in force.
    pub range: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SimulationOut {
    /// Where its files are: `/api/v1/simulations/{id}/files/{name}`.
    pub id: String,
    /// `summary.json`: both packs' hashes, the snapshot's, totals, by clause (joint), by group,
    /// bands, the largest gainers and losers, the files' hashes.
    #[schema(value_type = Object)]
    pub summary: huiqi::simulate::Summary,
}

static BUSY: AtomicBool = AtomicBool::new(false);

/// Frees the one-at-a-time slot however the simulation ends.
struct Slot;
impl Drop for Slot {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::SeqCst);
    }
}

fn dir(s: &Shared, id: &str) -> PathBuf {
    s.cfg.work.join("simulations").join(id)
}

/// Runs a reform (parameters set) against the served pack over a snapshot and compares them.
#[utoipa::path(post, path = "/api/v1/simulations", tag = "runs", request_body = SimulateIn,
    responses((status = 200, body = SimulationOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "a simulation is in progress"), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<SimulateIn>,
) -> ApiResult<Json<SimulationOut>> {
    s.authorize(&c.principal, Act::StartRun, &Resource::Zone)
        .await?;
    if !(1900..=2200).contains(&b.period) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    let sets = super::runs::parse_sets(&b.set)?;
    let solve = match &b.solve {
        None => None,
        Some(_) if !sets.is_empty() => {
            return Err(ApiError::invalid(
                "求解预算时不能再设定参数（set）",
                "set no parameters when solving for a budget",
            )
            .field("set"))
        }
        Some(x) => {
            let budget_fen = huiqi::solve::parse_budget(&x.budget).map_err(|_| {
                ApiError::invalid("预算不是金额", "the budget is not an amount").field("budget")
            })?;
            let range = match &x.range {
                None => None,
                Some(r) => Some(huiqi::solve::parse_range(r).ok_or_else(|| {
                    ApiError::invalid("范围应为 低..高", "the range is LOW..HIGH").field("range")
                })?),
            };
            if !s.program.params.iter().any(|p| p.name == x.param) {
                return Err(ApiError::invalid("未知的参数", "unknown parameter").field("param"));
            }
            Some((x.param.clone(), budget_fen, range))
        }
    };
    if sets.is_empty() && solve.is_none() {
        return Err(ApiError::invalid(
            "请至少设定一个参数（名称=值）",
            "set at least one parameter (NAME=VALUE)",
        )
        .field("set"));
    }
    super::runs::check_sets(&s, &sets).await?;
    if b.backtest.len() > 10 || b.backtest.iter().any(|p| !(1900..=2200).contains(p)) {
        return Err(ApiError::invalid(
            "回测年度至多10个，且须在1900–2200之间",
            "at most 10 backtest periods, each within 1900–2200",
        )
        .field("backtest"));
    }
    let (snapshot, _) = super::runs::resolve_snapshot(&s, b.snapshot.as_deref())?;
    if BUSY.swap(true, Ordering::SeqCst) {
        return Err(ApiError::conflict(
            "已有政策沙盘测算在运行，请稍候",
            "a simulation is in progress: try again shortly",
        ));
    }
    let slot = Slot;
    let id = super::runs::new_id();
    let req = huiqi::simulate::SimulateRequest {
        base: s.cfg.policy.clone(),
        reform: huiqi::simulate::Reform::Sets(sets),
        snapshot,
        period: b.period,
        out: dir(&s, &id),
        groups: b.groups.clone(),
        top: b.top.unwrap_or(20).min(200),
        xlsx: true,
        force: false,
        // Both versions read this service's award history, as its runs do.
        ledger: Some(s.cfg.db.clone()),
        history_dir: Some(s.cfg.work.join("history")),
        backtest: b.backtest.clone(),
        solved: None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("simulate-{id}"))
        .spawn(move || {
            super::runs::background_priority();
            let r = solve_then_simulate(req, solve);
            // Free the slot before answering: a caller who starts the next simulation on the
            // answer must not find this one still in progress.
            drop(slot);
            let _ = tx.send(r);
        })
        .map_err(ApiError::internal)?;
    let r = rx
        .await
        .map_err(|_| ApiError::internal("the simulation thread ended"))??;
    Ok(Json(SimulationOut {
        id,
        summary: r.summary,
    }))
}

/// A budget to solve for: the parameter, the budget in 分, the range (low, high).
type Solve = (String, i64, Option<(String, String)>);

/// The simulation, of the solver's value when there is a budget to solve for (over the
/// snapshot with the ledger's history, as the simulation reads it).
fn solve_then_simulate(
    mut req: huiqi::simulate::SimulateRequest,
    solve: Option<Solve>,
) -> huiqi::Result<huiqi::simulate::SimReport> {
    if let Some((param, budget_fen, range)) = solve {
        let snapshot = match &req.ledger {
            Some(db) => {
                huiqi::simulate::with_history(
                    db,
                    &req.snapshot,
                    req.history_dir.as_deref(),
                    req.period,
                )?
                .dir
            }
            None => req.snapshot.clone(),
        };
        let solved = huiqi::solve::solve(&huiqi::solve::SolveRequest {
            base: req.base.clone(),
            snapshot,
            period: req.period,
            param,
            budget_fen,
            range,
        })?;
        req.reform = huiqi::simulate::Reform::Sets(vec![huiqi::solve::as_set(&solved)]);
        req.solved = Some(solved);
    }
    huiqi::simulate::simulate(&req)
}

/// The parameters a simulation of this server set (its `summary.json`), to explain a firm
/// under them. 404 for an id that is not one.
pub fn reform_sets(s: &Shared, id: &str) -> ApiResult<Vec<huiqi::lang::ParamSet>> {
    if id.is_empty() || id.len() > 40 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::not_found("该测算", "simulation"));
    }
    let text = std::fs::read_to_string(dir(s, id).join("summary.json"))
        .map_err(|_| ApiError::not_found("该测算", "simulation"))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| ApiError::not_found("该测算", "simulation"))?;
    v["reform"]["set"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|x| {
            // As the summary writes a set: `名称=值` or `名称=值 (from 2024-01-01)`.
            let t = x.as_str().unwrap_or_default();
            let t = match t.strip_suffix(')').and_then(|t| t.split_once(" (from ")) {
                Some((set, from)) => format!("{set}@{from}"),
                None => t.to_string(),
            };
            huiqi::lang::ParamSet::parse(&t)
                .ok_or_else(|| ApiError::not_found("该测算", "simulation"))
        })
        .collect()
}

/// A simulation's file: `delta.parquet`, `reform.xlsx` or `summary.json`.
#[utoipa::path(get, path = "/api/v1/simulations/{id}/files/{name}", tag = "runs",
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody)))]
pub async fn file(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::ViewRun, &Resource::Zone)
        .await?;
    // An id is what `new_id` makes: digits, a dash, hex — never a path.
    if id.is_empty() || id.len() > 40 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::not_found("该测算", "simulation"));
    }
    let kind = match name.as_str() {
        "delta.parquet" => "application/vnd.apache.parquet",
        "reform.xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "summary.json" => "application/json",
        _ => return Err(ApiError::not_found("该文件", "file")),
    };
    let body = tokio::fs::read(dir(&s, &id).join(&name))
        .await
        .map_err(|_| ApiError::not_found("该文件", "file"))?;
    let disp = format!("attachment; filename=\"simulation-{id}-{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disp),
        ],
        body,
    )
        .into_response())
}
