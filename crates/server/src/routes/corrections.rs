//! 数据有误: a firm asks for a figure on file to be corrected
//! (`POST /api/v1/firms/{uscc}/corrections`) and follows its requests
//! (`GET /api/v1/firms/{uscc}/corrections`); an officer works the queue
//! (`GET /api/v1/corrections`, `POST /api/v1/corrections/{id}/resolve`). A request changes no
//! figure and no award: corrected data comes back only through ingest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huiqi_ledger::corrections::{Correction, NewCorrection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::{AppState, Shared};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionIn {
    /// The fact's name, as the catalogue lists it (`营业收入`).
    pub fact: String,
    /// The year, for a yearly fact (default: the firm's latest year with data).
    pub period: Option<i64>,
    /// The value the firm says is right, as it would write it (`2500万`).
    pub claimed: String,
    pub note: Option<String>,
    /// Who to call back: a name and a phone number.
    pub contact: String,
}

#[derive(Serialize, ToSchema)]
pub struct CorrectionOut {
    pub id: i64,
    pub firm: String,
    pub fact: String,
    pub period: Option<i64>,
    pub on_file: String,
    pub claimed: String,
    pub note: String,
    pub contact: String,
    /// `open`, `accepted` or `dismissed`.
    pub state: String,
    pub created_at: String,
    pub created_by: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

pub fn out(c: Correction) -> CorrectionOut {
    CorrectionOut {
        id: c.id,
        firm: c.req.firm_id,
        fact: c.req.fact,
        period: c.req.period,
        on_file: c.req.on_file,
        claimed: c.req.claimed,
        note: c.req.note,
        contact: c.req.contact,
        state: c.state,
        created_at: c.created_at,
        created_by: c.created_by,
        resolved_at: c.resolved_at,
        resolved_by: c.resolved_by,
        resolution: c.resolution,
    }
}

#[derive(Serialize, ToSchema)]
pub struct CorrectionsOut {
    pub total: i64,
    pub offset: i64,
    pub corrections: Vec<CorrectionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct Filed {
    pub id: i64,
}

/// A required text of at most `max` characters.
fn text_field(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(
            ApiError::invalid(format!("{field} 不能为空"), format!("{field} is required"))
                .field(field.to_string()),
        );
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            format!("{field} 过长（最多{max}字）"),
            format!("{field} is too long (at most {max} characters)"),
        )
        .field(field.to_string()));
    }
    Ok(())
}

/// The request as the ledger stores it: the fact known to the pack, the year checked, the value
/// on file read from the served snapshot (not from the request), the claim a valid value.
fn new_correction(s: &AppState, uscc: &str, b: &CorrectionIn) -> ApiResult<NewCorrection> {
    let prog = &s.program;
    text_field("claimed", &b.claimed, 200)?;
    text_field("contact", &b.contact, 200)?;
    if let Some(n) = &b.note {
        if n.chars().count() > 1000 {
            return Err(ApiError::invalid(
                "说明过长（最多1000字）",
                "the note is too long (at most 1000 characters)",
            )
            .field("note"));
        }
    }
    let fact = prog.fact_by_name(b.fact.trim()).ok_or_else(|| {
        ApiError::invalid(
            format!("未知的数据项 `{}`", b.fact),
            format!("unknown figure `{}`", b.fact),
        )
        .field("fact")
        .hint("数据项名称见政策目录", "the catalogue lists the figures")
    })?;
    let served = s.served();
    let firm = served
        .firms
        .get(uscc)
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    let yearly = prog.facts[fact].kind == huiqi_ir::PeriodKind::Year;
    let period = match (yearly, b.period) {
        (false, _) => None,
        (true, Some(p)) if (1900..=2200).contains(&p) => Some(p),
        (true, Some(_)) => {
            return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"))
        }
        (true, None) => Some(i64::from(huiqi::explain::latest_year(firm).ok_or_else(
            || ApiError::invalid("请指定年度", "give the year").field("period"),
        )?)),
    };
    // The claim must be a value of the fact's type (so the officer reads a figure, not prose).
    huiqi_data::firmfile::parse_fact_text(prog, fact, &b.claimed)
        .map_err(|e| {
            ApiError::invalid(e.zh, e.en)
                .field("claimed")
                .hint(e.hint_zh, e.hint_en)
        })
        .and_then(|v| match v {
            huiqi_ir::Value::Missing => {
                Err(ApiError::invalid("请填写正确的数值", "give the right value").field("claimed"))
            }
            _ => Ok(()),
        })?;
    let on_file = {
        let v = match period {
            Some(y) => firm.value_at(fact, y as i32),
            None => firm.value_at(fact, 0),
        };
        huiqi_data::firmfile::fact_text(prog, fact, &v)
    };
    Ok(NewCorrection {
        firm_id: uscc.to_string(),
        fact: prog.facts[fact].name.clone(),
        period,
        on_file,
        claimed: b.claimed.trim().to_string(),
        note: b.note.clone().unwrap_or_default().trim().to_string(),
        contact: b.contact.trim().to_string(),
    })
}

/// 数据有误: the firm asks for one of its figures on file to be corrected.
#[utoipa::path(post, path = "/api/v1/firms/{uscc}/corrections", tag = "firm", request_body = CorrectionIn,
    params(("uscc" = String, Path, description = "统一社会信用代码")),
    responses((status = 201, body = Filed), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "another firm's"), (status = 422, body = ErrorBody)))]
pub async fn file(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
    Body(b): Body<CorrectionIn>,
) -> ApiResult<(StatusCode, Json<Filed>)> {
    s.authorize(
        &c.principal,
        Act::RequestCorrection,
        &Resource::Firm(uscc.clone()),
    )
    .await?;
    let req = new_correction(&s, &uscc, &b)?;
    let ctx = c.ctx();
    let id = crate::ledger!(s, |l| huiqi::ledger::request_correction(l, &ctx, &req)
        .await)
    .await??;
    Ok((StatusCode::CREATED, Json(Filed { id })))
}

/// A firm's correction requests, newest first.
#[utoipa::path(get, path = "/api/v1/firms/{uscc}/corrections", tag = "firm",
    params(("uscc" = String, Path, description = "统一社会信用代码")),
    responses((status = 200, body = CorrectionsOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn of_firm(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
) -> ApiResult<Json<CorrectionsOut>> {
    s.authorize(&c.principal, Act::ViewStatus, &Resource::Firm(uscc.clone()))
        .await?;
    let f = uscc.clone();
    let (total, rows) = crate::ledger_read!(s, |l| huiqi::ledger::corrections(
        l,
        Some(&f),
        None,
        0,
        1000
    )
    .await)
    .await??;
    Ok(Json(CorrectionsOut {
        total,
        offset: 0,
        corrections: rows.into_iter().map(out).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQ {
    /// `open` (default), `accepted`, `dismissed` or `all`.
    pub state: Option<String>,
    pub firm: Option<String>,
    pub offset: Option<i64>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

/// The 数据有误 queue.
#[utoipa::path(get, path = "/api/v1/corrections", tag = "ledger", params(QueueQ),
    responses((status = 200, body = CorrectionsOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn queue(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<QueueQ>,
) -> ApiResult<Json<CorrectionsOut>> {
    s.authorize(&c.principal, Act::ListCorrections, &Resource::Zone)
        .await?;
    let state = match q.state.as_deref().unwrap_or("open") {
        "all" => None,
        x @ ("open" | "accepted" | "dismissed") => Some(x.to_string()),
        _ => {
            return Err(ApiError::invalid(
                "状态应为 open、accepted、dismissed 或 all",
                "state is open, accepted, dismissed or all",
            )
            .field("state"))
        }
    };
    let offset = q.offset.unwrap_or(0).max(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let firm = q.firm.clone();
    let (total, rows) = crate::ledger_read!(s, |l| huiqi::ledger::corrections(
        l,
        firm.as_deref(),
        state.as_deref(),
        offset,
        limit
    )
    .await)
    .await??;
    Ok(Json(CorrectionsOut {
        total,
        offset,
        corrections: rows.into_iter().map(out).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// true: accepted (the source department corrects the figure; the next snapshot carries
    /// it); false: dismissed.
    pub accept: bool,
    /// What the firm will read.
    pub resolution: String,
}

/// Accepts or dismisses an open request.
#[utoipa::path(post, path = "/api/v1/corrections/{id}/resolve", tag = "ledger", request_body = ResolveIn,
    params(("id" = i64, Path)),
    responses((status = 200, body = CorrectionOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "unknown or already handled"), (status = 422, body = ErrorBody)))]
pub async fn resolve(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Body(b): Body<ResolveIn>,
) -> ApiResult<Json<CorrectionOut>> {
    s.authorize(&c.principal, Act::ResolveCorrection, &Resource::Zone)
        .await?;
    text_field("resolution", &b.resolution, 1000)?;
    let ctx = c.ctx();
    let r = crate::ledger!(s, |l| huiqi::ledger::resolve_correction(
        l,
        &ctx,
        id,
        b.accept,
        &b.resolution
    )
    .await)
    .await??;
    Ok(Json(out(r)))
}
