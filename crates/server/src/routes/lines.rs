//! The ledger's award lines: `GET /api/v1/lines` (queues by state, clause, firm, period) and
//! `POST /api/v1/lines/{action}` (approve, reject, announce, object, confirm, pay, recover —
//! explicit line ids, or every line of a clause in a state the step accepts).
//!
//! Lists are filtered by an SQL scope derived from the principal (a firm: its own lines) and
//! every returned row is re-checked with Cedar. A step checks every selected line with Cedar
//! before the ledger moves any; the ledger's checked transition stays the authority on state.

use axum::extract::State;
use axum::{Extension, Json};
use huiqi_ledger::{Action, LineFilter, LineRow, Selection, State as LineState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Principal, Resource, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::{AppState, Shared};

#[derive(Serialize, ToSchema)]
pub struct LineOut {
    pub line: i64,
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    /// Exact 元, two decimals.
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub state: String,
    pub state_zh: String,
    pub reason: Option<String>,
    pub notice: Option<i64>,
    pub batch: Option<i64>,
    pub updated_at: String,
}

fn line_out(r: LineRow) -> LineOut {
    LineOut {
        line: r.line,
        firm: r.firm_id,
        name: r.name,
        clause: r.clause,
        period: r.period,
        tranche: r.tranche,
        kind: r.kind,
        amount_yuan: huiqi_ledger::yuan(r.fen),
        amount_fen: r.fen,
        state: r.state.as_str().into(),
        state_zh: r.state.zh().into(),
        reason: r.reason,
        notice: r.notice,
        batch: r.batch,
        updated_at: r.updated_at,
    }
}

#[derive(Serialize, ToSchema)]
pub struct LinesOut {
    /// Lines matching the filters (before paging).
    pub total: i64,
    pub offset: i64,
    pub lines: Vec<LineOut>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinesQ {
    /// computed, approved, rejected, announced, objected, confirmed, exported, paid, recovered, superseded (comma-separated)
    pub state: Option<String>,
    pub clause: Option<String>,
    pub firm: Option<String>,
    pub period: Option<i64>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn parse_states(s: Option<&str>) -> ApiResult<Vec<LineState>> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(vec![]);
    };
    s.split(',')
        .map(|x| {
            LineState::parse(x.trim()).ok_or_else(|| {
                ApiError::bad_request(format!("未知状态：{x}"), format!("unknown state: {x}"))
                    .field("state")
                    .hint(
                        "可用：computed, approved, rejected, announced, objected, confirmed, exported, paid, recovered, superseded",
                        "one of computed, approved, rejected, announced, objected, confirmed, exported, paid, recovered, superseded",
                    )
            })
        })
        .collect()
}

/// Cedar's resource for a line (with who approved it, for the pay rule).
fn line_resource(r: &LineRow, approved_by: Option<String>) -> Resource {
    Resource::Line {
        id: r.line,
        firm: r.firm_id.clone(),
        clause: r.clause.clone(),
        state: r.state.as_str().into(),
        approved_by,
    }
}

/// A queue of award lines.
#[utoipa::path(get, path = "/api/v1/lines", tag = "ledger", params(LinesQ),
    responses((status = 200, body = LinesOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<LinesQ>,
) -> ApiResult<Json<LinesOut>> {
    let p = &c.principal;
    let mut f = LineFilter {
        states: parse_states(q.state.as_deref())?,
        clause: q.clause.clone(),
        firm: q.firm.clone(),
        period: q.period,
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
        offset: q.offset.map(|o| o.max(0)),
        ..Default::default()
    };
    if p.role == Role::Firm {
        // A firm's scope is its own lines; asking for another firm's is a 404.
        let own = p.firm.clone().unwrap_or_default();
        if q.firm.as_deref().is_some_and(|x| x != own) {
            return Err(ApiError::not_found("该企业的数据", "resource"));
        }
        f.firm = Some(own);
    } else {
        s.authorize(p, Act::ListLines, &Resource::Zone).await?;
    }
    let filter = f.clone();
    let page = crate::ledger_read!(s, |l| huiqi::ledger::lines(l, &filter).await).await??;
    // Every row re-checked with Cedar: the SQL scope and the policy must agree.
    let res: Vec<Resource> = page.rows.iter().map(|r| line_resource(r, None)).collect();
    let may = s.authz.allowed_many(p, &[Act::ViewLine], &res);
    let rows: Vec<LineOut> = page
        .rows
        .into_iter()
        .zip(may)
        .filter(|(_, m)| m[0])
        .map(|(r, _)| line_out(r))
        .collect();
    Ok(Json(LinesOut {
        total: page.total,
        offset: f.offset.unwrap_or(0),
        lines: rows,
    }))
}

/// Which lines a step applies to, and what it needs.
#[derive(Deserialize, ToSchema, Default)]
pub struct StepIn {
    /// Explicit line ids; or leave empty and set `all` with filters.
    #[serde(default)]
    pub ids: Vec<i64>,
    /// Every line in a state the step accepts that matches clause/period/firm.
    #[serde(default)]
    pub all: bool,
    pub clause: Option<String>,
    pub period: Option<i64>,
    pub firm: Option<String>,
    /// reject, object, recover: why.
    pub reason: Option<String>,
    /// object: the objector's real name (实名).
    pub real_name: Option<String>,
    /// announce: the notice's title and window (default: now for 7 days).
    pub title: Option<String>,
    pub days: Option<i64>,
    pub opens: Option<String>,
    pub closes: Option<String>,
    /// pay: the bank reference.
    pub reference: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StepOut {
    pub action: String,
    /// The lines moved.
    pub lines: Vec<i64>,
    pub count: usize,
}

fn need(v: &Option<String>, field: &str, zh: &str, en: &str) -> ApiResult<String> {
    match v.as_deref().map(str::trim) {
        Some(x) if !x.is_empty() && x.chars().count() <= 500 => Ok(x.to_string()),
        _ => Err(ApiError::invalid(
            format!("缺少{zh}"),
            format!("{en} is required (at most 500 characters)"),
        )
        .field(field)),
    }
}

/// The step named in the path, as the ledger's action and Cedar's.
fn action_of(name: &str, b: &StepIn, ctx: &huiqi_ledger::Ctx) -> ApiResult<(Act, Action)> {
    Ok(match name {
        "approve" => (Act::Approve, Action::Approve),
        "reject" => (
            Act::Reject,
            Action::Reject {
                reason: need(&b.reason, "reason", "驳回理由", "reason")?,
            },
        ),
        "announce" => {
            let (opens, closes) =
                huiqi::ledger::notice_window(ctx, b.opens.as_deref(), b.closes.as_deref(), b.days)?;
            let title = b.title.clone().unwrap_or_else(|| "拟兑现名单公示".into());
            (
                Act::Announce,
                Action::Announce {
                    title,
                    opens,
                    closes,
                },
            )
        }
        "object" => {
            let who = need(
                &b.real_name,
                "real_name",
                "异议人实名",
                "the objector's real name",
            )?;
            let why = need(&b.reason, "reason", "异议理由", "reason")?;
            (
                Act::Object,
                Action::Object {
                    reason: format!("{why}（异议人：{who}）"),
                },
            )
        }
        "confirm" => (Act::Confirm, Action::Confirm),
        "pay" => (
            Act::Pay,
            Action::Pay {
                reference: need(&b.reference, "reference", "支付流水号", "reference")?,
            },
        ),
        "recover" => (
            Act::Recover,
            Action::Recover {
                reason: need(&b.reason, "reason", "追回理由", "reason")?,
            },
        ),
        _ => {
            return Err(ApiError::not_found("该操作", "step").hint(
                "可用：approve, reject, announce, object, confirm, pay, recover",
                "one of approve, reject, announce, object, confirm, pay, recover",
            ))
        }
    })
}

/// The lines a step selects, read with the filters (a firm's selection is its own lines).
async fn selected(
    s: &AppState,
    p: &Principal,
    b: &StepIn,
    action: &Action,
) -> ApiResult<Vec<LineRow>> {
    if b.ids.is_empty() && !b.all {
        return Err(ApiError::invalid(
            "请给出明细编号 ids，或设置 all 并给出筛选条件",
            "give line ids, or set all with filters",
        )
        .field("ids"));
    }
    if b.ids.len() > 10_000 {
        return Err(
            ApiError::invalid("一次最多10000条明细", "at most 10,000 lines at once").field("ids"),
        );
    }
    let mut f = LineFilter {
        clause: b.clause.clone(),
        period: b.period,
        firm: b.firm.clone(),
        // A bulk step moves at most 10,000 lines per request (the client repeats it).
        limit: Some(10_000),
        ..Default::default()
    };
    if b.ids.is_empty() {
        f.states = action.from().to_vec();
    } else {
        f.ids = Some(b.ids.clone());
    }
    if p.role == Role::Firm {
        if b.firm
            .as_deref()
            .is_some_and(|x| Some(x) != p.firm.as_deref())
        {
            return Err(ApiError::not_found("该企业的数据", "resource"));
        }
        f.firm = p.firm.clone();
    }
    let page = crate::ledger_read!(s, |l| huiqi::ledger::lines(l, &f).await).await??;
    if !b.ids.is_empty() && page.rows.len() != b.ids.len() {
        return Err(ApiError::not_found("部分明细", "line (some ids are unknown)").field("ids"));
    }
    Ok(page.rows)
}

/// One workflow step over the selected lines: every line is checked with Cedar first (a firm
/// acting on another firm's line: 404; a reviewer outside their department, or paying a line
/// they approved: 403), then the ledger moves them all or none.
#[utoipa::path(post, path = "/api/v1/lines/{action}", tag = "ledger", request_body = StepIn,
    params(("action" = String, Path, description = "approve, reject, announce, object, confirm, pay, recover")),
    responses((status = 200, body = StepOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "a line is not in a state the step accepts (the ledger refused; nothing changed)"),
              (status = 422, body = ErrorBody)))]
pub async fn step(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Body(b): Body<StepIn>,
) -> ApiResult<Json<StepOut>> {
    let p = &c.principal;
    if p.is_anonymous() {
        return Err(ApiError::unauthenticated());
    }
    let ctx = c.ctx();
    let (act, action) = action_of(&name, &b, &ctx)?;
    let rows = selected(&s, p, &b, &action).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.line).collect();
    let approvers: std::collections::HashMap<i64, String> = if act == Act::Pay {
        let lines = ids.clone();
        crate::ledger_read!(s, |l| huiqi::ledger::actors_of(l, &lines, "approve").await)
            .await??
            .into_iter()
            .collect()
    } else {
        Default::default()
    };
    for r in &rows {
        let res = line_resource(r, approvers.get(&r.line).cloned());
        s.authorize(p, act, &res).await?;
    }
    if ids.is_empty() {
        return Ok(Json(StepOut {
            action: name,
            lines: vec![],
            count: 0,
        }));
    }
    let sel = Selection {
        ids,
        ..Default::default()
    };
    let moved = crate::ledger!(s, |l| huiqi::ledger::step(l, &ctx, &sel, &action).await).await??;
    Ok(Json(StepOut {
        action: name,
        count: moved.len(),
        lines: moved,
    }))
}
