//! `/review`: the queue of award lines filtered by clause and state (the API's list handler:
//! its SQL scope and its per-row Cedar check), approve or reject the checked lines or every
//! line of a clause with a reason, and announce the 公示 — each through the API's step, so
//! Cedar checks every line (a reviewer acts only on their department's clauses) and the
//! ledger's checked transitions decide what may move.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{fmt, query_param, render, see_other, Form, Layout, Page};
use crate::authz::{Act, Resource, Role};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Path, Query};
use crate::routes;

pub const STATES: [&str; 10] = [
    "computed",
    "approved",
    "rejected",
    "announced",
    "objected",
    "confirmed",
    "exported",
    "paid",
    "recovered",
    "superseded",
];

/// Lines per page of the queue.
const PER_PAGE: i64 = 100;

pub struct RowView {
    pub line: i64,
    pub name: String,
    pub firm: String,
    pub clause: String,
    pub period: i64,
    pub amount: String,
    pub state: String,
    pub state_code: String,
    pub reason: Option<String>,
    pub updated: String,
    pub actionable: bool,
}

#[derive(askama::Template)]
#[template(path = "review.html")]
struct QueuePage {
    l: Layout,
    /// (code, label, selected)
    states: Vec<(String, String, bool)>,
    clauses: Vec<(String, bool)>,
    /// The clauses this reviewer may act on (bulk form).
    own_clauses: Vec<String>,
    rows: Vec<RowView>,
    total: i64,
    total_amount: String,
    can_review: bool,
    can_announce: bool,
    back: String,
    page: i64,
    pages: i64,
    /// The objection queue (state `objected`).
    objected: bool,
    /// The query of this filter without the page (for the pager's links).
    filter_query: String,
}

pub async fn queue(p: Page) -> Response {
    let r = queue_inner(&p).await;
    p.finish(r)
}

async fn queue_inner(p: &Page) -> ApiResult<Response> {
    let s = &p.s;
    let state = query_param(&p.path, "state").unwrap_or_else(|| "computed".into());
    let clause = query_param(&p.path, "clause").unwrap_or_default();
    let page_no = query_param(&p.path, "page")
        .and_then(|x| x.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    if p.p().role == Role::Firm {
        // A firm has its own pages; the queue is staff work.
        return Err(ApiError::forbidden());
    }
    let q = routes::lines::LinesQ {
        state: (!state.is_empty()).then(|| state.clone()),
        clause: (!clause.is_empty()).then(|| clause.clone()),
        firm: None,
        period: None,
        limit: Some(PER_PAGE),
        offset: Some((page_no - 1) * PER_PAGE),
    };
    let Json(page) =
        routes::lines::list(State(s.clone()), Extension(p.c.clone()), Query(q)).await?;
    let all_clauses: Vec<String> = s.program.clauses.iter().map(|c| c.name.clone()).collect();
    let own_clauses = match (p.p().role, &p.p().department) {
        (Role::Reviewer, Some(d)) => s.authz.clauses_of(d, &all_clauses),
        _ => all_clauses.clone(),
    };
    let mut sum = 0i64;
    let res: Vec<Resource> = page
        .lines
        .iter()
        .map(|l| Resource::Line {
            id: l.line,
            firm: l.firm.clone(),
            clause: l.clause.clone(),
            state: l.state.clone(),
            approved_by: None,
        })
        .collect();
    let decided = s
        .authz
        .allowed_many(&p.c.principal, &[Act::Approve, Act::Reject], &res);
    let rows: Vec<RowView> = page
        .lines
        .into_iter()
        .zip(decided)
        .map(|(l, may)| {
            sum = sum.saturating_add(l.amount_fen);
            RowView {
                actionable: may[0] || may[1],
                line: l.line,
                amount: p.money(l.amount_fen),
                state: p.t(&format!("state.{}", l.state)),
                updated: fmt::date(&l.updated_at, p.lang),
                name: l.name,
                firm: l.firm,
                clause: l.clause,
                period: l.period,
                state_code: l.state,
                reason: l.reason,
            }
        })
        .collect();
    // Which forms to show: whether Cedar lets this caller approve (announce) a line of some
    // clause. Only a hint — the step asks Cedar about every real line it moves.
    let can_review = all_clauses
        .iter()
        .any(|c| may(p, Act::Approve, c, "computed"));
    let can_announce = all_clauses
        .iter()
        .any(|c| may(p, Act::Announce, c, "approved"));
    let filter_query = format!("state={}&clause={}", enc(&state), enc(&clause));
    let back = format!("/review?{filter_query}&page={page_no}");
    render(&QueuePage {
        l: p.layout("review.title"),
        states: STATES
            .iter()
            .map(|x| (x.to_string(), p.t(&format!("state.{x}")), *x == state))
            .collect(),
        clauses: all_clauses
            .iter()
            .map(|c| (c.clone(), *c == clause))
            .collect(),
        own_clauses,
        total: page.total,
        total_amount: p.money(sum),
        rows,
        can_review,
        can_announce,
        back,
        page: page_no,
        objected: state == "objected",
        pages: ((page.total + PER_PAGE - 1) / PER_PAGE).max(1),
        filter_query,
    })
}

/// Cedar's answer for a line of `clause` in `state` (no particular firm).
fn may(p: &Page, act: Act, clause: &str, state: &str) -> bool {
    p.allowed(
        act,
        &Resource::Line {
            id: 0,
            firm: String::new(),
            clause: clause.to_string(),
            state: state.to_string(),
            approved_by: None,
        },
    )
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Approve or reject: the checked lines (`ids`), or with `all` every line of `clause` in a
/// state the step accepts.
pub async fn step(p: Page, f: Form) -> Response {
    let r = step_inner(&p, &f).await;
    p.finish(r)
}

async fn step_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let action = match f.get("action") {
        Some("approve") => "approve",
        Some("reject") => "reject",
        _ => {
            return Err(
                ApiError::invalid("请选择通过或驳回", "choose approve or reject").field("action"),
            )
        }
    };
    let all = f.get("all") == Some("1");
    let ids: Vec<i64> = if all {
        vec![]
    } else {
        f.all("ids")
            .iter()
            .map(|x| x.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::invalid("明细编号无效", "bad line id").field("ids"))?
    };
    if !all && ids.is_empty() {
        return Err(ApiError::invalid(
            "请勾选要处理的明细，或按条款批量处理",
            "check the lines to act on, or act on a whole clause",
        )
        .field("ids"));
    }
    let clause = f.text("clause");
    if all && clause.is_none() {
        return Err(
            ApiError::invalid("批量处理须选择条款", "a bulk step needs a clause").field("clause"),
        );
    }
    let b = routes::lines::StepIn {
        ids,
        all,
        clause: if all { clause } else { None },
        reason: f.text("reason"),
        ..Default::default()
    };
    let Json(out) = routes::lines::step(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path(action.to_string()),
        Body(b),
    )
    .await?;
    let back = super::local_path(f.get("back"));
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!(
        "{back}{sep}done={action}&n={}",
        out.count
    )))
}

/// Announce the 公示: every approved (or objected) line, or one clause's, for `days` days.
pub async fn announce(p: Page, f: Form) -> Response {
    let r = announce_inner(&p, &f).await;
    p.finish(r)
}

async fn announce_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let days =
        match f.text("days") {
            Some(d) => Some(d.parse::<i64>().map_err(|_| {
                ApiError::invalid("公示天数无效", "bad number of days").field("days")
            })?),
            None => None,
        };
    let b = routes::lines::StepIn {
        all: true,
        clause: f.text("clause"),
        title: f.text("title"),
        days,
        ..Default::default()
    };
    let Json(_) = routes::lines::step(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path("announce".to_string()),
        Body(b),
    )
    .await?;
    Ok(see_other("/notice?done=announce"))
}
