//! The policy catalogue and a firm's figures decided: `GET /api/v1/policy`,
//! `GET /api/v1/policy/clauses/{name}`, `POST /api/v1/calculate` (what-if figures) and
//! `GET /api/v1/firms/{uscc}/check` (the figures on file), `GET /api/v1/firms/{uscc}/status`.
//!
//! The check runs the reference evaluator through `huiqi::explain` on the firm held in
//! memory: no database, one Cedar decision. The evaluation time goes out in `Server-Timing`.

use std::time::Instant;

use axum::extract::State;
use axum::http::header::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huiqi_ir::Firm;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::{AppState, Shared};

/// The policy catalogue: clauses with their 条文 and reference, facts, dated parameters, pools,
/// tests.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, description = "the catalogue (huiqi::catalogue::Catalogue)", body = serde_json::Value)))]
pub async fn catalogue(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::ReadCatalogue, &Resource::Catalogue)
        .await?;
    Ok(Json(&s.catalogue).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ClauseOut {
    #[schema(value_type = Object)]
    pub clause: serde_json::Value,
    /// The department (牵头部门) whose reviewers approve it.
    pub department: String,
}

/// One clause of the catalogue, with its owning department.
#[utoipa::path(get, path = "/api/v1/policy/clauses/{name}", tag = "policy",
    params(("name" = String, Path, description = "clause name, e.g. 高企认定奖励")),
    responses((status = 200, body = ClauseOut), (status = 404, body = ErrorBody)))]
pub async fn clause(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<ClauseOut>> {
    s.authorize(&c.principal, Act::ReadCatalogue, &Resource::Catalogue)
        .await?;
    let cl = s
        .catalogue
        .clauses
        .iter()
        .find(|x| x.name == name)
        .ok_or_else(|| ApiError::not_found("该条款", "clause"))?;
    Ok(Json(ClauseOut {
        clause: serde_json::to_value(cl).map_err(ApiError::internal)?,
        department: s.authz.department_of(&name).to_string(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQ {
    /// The year (default: the firm's latest year with data).
    pub period: Option<i32>,
}

/// Every clause decided for one firm: amounts as exact 元 strings and integer 分, the reason
/// when zero, each condition with its values and threshold and the near-miss sentence. A clause
/// allocated over the population (a pool, a ranking) is an estimate: one firm alone cannot know
/// its share or rank; those clauses are listed in `estimated_clauses`.
fn decided(s: &AppState, firm: Firm, period: Option<i32>) -> ApiResult<Response> {
    if period.is_some_and(|p| !(1900..=2200).contains(&p)) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    let t0 = Instant::now();
    let e = huiqi::explain::explain(&s.program, firm, period, None)?;
    let mut json = e.json();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let estimated: Vec<String> = (0..s.program.clauses.len())
        .filter(|c| huiqi::catalogue::population_clause(&s.program, *c))
        .map(|c| s.program.clauses[c].name.clone())
        .collect();
    if let Some(o) = json.as_object_mut() {
        o.insert("estimated_clauses".into(), serde_json::json!(estimated));
        if e.population_caveat() {
            o.insert("estimate_note".into(), serde_json::json!({
                "zh": "资金池和遴选类条款按全体企业核定，单户测算仅为预估（资格达标；金额按资金池核定）",
                "en": "pool and ranking clauses are allocated over all firms; for one firm the amount is an estimate"
            }));
        }
    }
    let timing = format!("eval;dur={ms:.3}");
    Ok((
        [(HeaderName::from_static("server-timing"), timing)],
        Json(json),
    )
        .into_response())
}

/// A firm's figures on file in the current snapshot, every clause decided.
#[utoipa::path(get, path = "/api/v1/firms/{uscc}/check", tag = "firm",
    params(("uscc" = String, Path, description = "统一社会信用代码"), PeriodQ),
    responses((status = 200, description = "the explanation (explain --json) plus estimated_clauses", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown firm, or another firm's")))]
pub async fn check(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
    Query(q): Query<PeriodQ>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::CheckFirm, &Resource::Firm(uscc.clone()))
        .await?;
    let firm = s
        .firms
        .get(&uscc)
        .cloned()
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    decided(&s, firm, q.period)
}

#[derive(Deserialize, ToSchema)]
pub struct CalculateIn {
    /// A firm file as JSON (the same format as `huiqi explain`'s firm files: id, name, facts…).
    #[schema(value_type = Object)]
    pub firm: serde_json::Value,
    pub period: Option<i32>,
}

/// What-if: the figures in the body, every clause decided (as `huiqi explain --json`).
#[utoipa::path(post, path = "/api/v1/calculate", tag = "firm", request_body = CalculateIn,
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "a bad figure, with its field path and a hint")))]
pub async fn calculate(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<CalculateIn>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::Calculate, &Resource::Catalogue)
        .await?;
    let text = b.firm.to_string();
    let firm = huiqi::explain::parse_firm(&s.program, &text, true)?;
    decided(&s, firm, b.period)
}

#[derive(Serialize, ToSchema)]
pub struct StatusLineOut {
    pub line: i64,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub state: String,
    pub state_zh: String,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// (step, time): 测算 → 审核 → 公示 → 确认 → 拨付.
    #[schema(value_type = Vec<Vec<String>>)]
    pub steps: Vec<(String, String)>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusOut {
    pub firm: String,
    pub name: String,
    pub lines: Vec<StatusLineOut>,
}

/// A firm's awards, each with its timeline of steps.
#[utoipa::path(get, path = "/api/v1/firms/{uscc}/status", tag = "firm",
    params(("uscc" = String, Path, description = "统一社会信用代码")),
    responses((status = 200, body = StatusOut), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
) -> ApiResult<Json<StatusOut>> {
    s.authorize(&c.principal, Act::ViewStatus, &Resource::Firm(uscc.clone()))
        .await?;
    let code = uscc.clone();
    let lines = crate::ledger!(s, |l| huiqi::ledger::status(l, &code).await).await??;
    let known = s.firms.contains_key(&uscc) || !lines.is_empty();
    if !known {
        return Err(ApiError::not_found("该企业", "firm"));
    }
    let name = lines
        .first()
        .map(|l| l.firm_name.clone())
        .or_else(|| s.firms.get(&uscc).map(|f| f.name.clone()))
        .unwrap_or_default();
    Ok(Json(StatusOut {
        firm: uscc,
        name,
        lines: lines
            .into_iter()
            .map(|l| StatusLineOut {
                line: l.line,
                clause: l.clause,
                period: l.period,
                tranche: l.tranche,
                kind: l.kind,
                amount_yuan: huiqi_ledger::yuan(l.amount_fen),
                amount_fen: l.amount_fen,
                state: l.state.as_str().into(),
                state_zh: l.state.zh().into(),
                reason: l.reason,
                reference: l.reference,
                steps: l.steps,
            })
            .collect(),
    }))
}
