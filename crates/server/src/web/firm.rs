//! A firm's pages. `/firm/{uscc}`: 政策体检 — every clause of the pack decided for the figures
//! on file (the same `huiqi::explain` and the same Cedar decision as
//! `GET /api/v1/firms/{uscc}/check`), each condition with its values, threshold and source, the
//! near-miss sentence. `/firm/{uscc}/awards`: the firm's award lines (the API's status handler)
//! with the timeline 测算 → 审核 → 公示 → 确认 → 拨付, dates and days elapsed; one-click
//! confirmation and the objection form inside the 公示 window (both the API's step).
//!
//! Another firm's pages answer 404 with nothing of that firm in the body.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use huiqi_ir::{Program, Ty, Value};

use super::{fmt, query_param, render, see_other, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Path, Query};
use crate::routes;

pub struct FactView {
    pub label: String,
    pub period: String,
    pub value: String,
    pub source: String,
}

pub struct CondView {
    pub name: String,
    pub source: String,
    /// `ok`, `fail` or `unknown` (missing data).
    pub status: &'static str,
    pub value: Option<String>,
    pub op: String,
    pub threshold: Option<String>,
    pub facts: Vec<FactView>,
    pub near_miss: Option<String>,
}

pub struct TrancheView {
    pub name: String,
    pub amount: String,
    pub reason: Option<String>,
    pub conditions: Vec<CondView>,
    pub formula: String,
}

pub struct ClauseView {
    pub name: String,
    pub reference: String,
    pub text: String,
    pub fen: i64,
    pub amount: String,
    pub amount_short: Option<String>,
    pub estimated: bool,
    pub tranches: Vec<TrancheView>,
}

#[derive(askama::Template)]
#[template(path = "firm_check.html")]
struct CheckPage {
    l: Layout,
    firm: String,
    name: String,
    period: i32,
    total: String,
    total_short: Option<String>,
    qualified: usize,
    clauses: Vec<ClauseView>,
    excluded_by: Vec<String>,
    estimate_note: bool,
    snapshot: String,
}

fn shown(p: &Program, v: &Value, ty: Option<Ty>, en: bool) -> Option<String> {
    match v {
        Value::Missing => None,
        _ => Some(v.display(ty.and_then(|t| p.enum_names(t)), en)),
    }
}

pub async fn check(p: Page, Path(uscc): Path<String>) -> Response {
    let r = check_inner(&p, uscc).await;
    p.finish(r)
}

async fn check_inner(p: &Page, uscc: String) -> ApiResult<Response> {
    let s = &p.s;
    // The same decision and the same lookup as GET /api/v1/firms/{uscc}/check.
    s.authorize(p.p(), Act::CheckFirm, &Resource::Firm(uscc.clone()))
        .await?;
    let firm = s
        .firms
        .get(&uscc)
        .cloned()
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    let period = match query_param(&p.path, "period") {
        Some(x) => Some(
            x.parse::<i32>()
                .ok()
                .filter(|y| (1900..=2200).contains(y))
                .ok_or_else(|| {
                    ApiError::invalid("年度超出范围", "period out of range").field("period")
                })?,
        ),
        None => None,
    };
    let prog = &s.program;
    let e = huiqi::explain::explain(prog, firm, period, None)?;
    let en = p.en();
    let o = e.outcome();
    let mut clauses = vec![];
    for c in &o.clauses {
        let cl = &prog.clauses[c.clause];
        let fen = huiqi_ir::money::to_fen(c.total());
        let tranches = c
            .tranches
            .iter()
            .map(|t| TrancheView {
                name: t.tranche.clone(),
                amount: p.money(huiqi_ir::money::to_fen(t.amount)),
                reason: t
                    .reason
                    .as_ref()
                    .map(|r| huiqi_eval::explain::reason_text(r, en)),
                formula: t.amount_source.clone(),
                conditions: t
                    .conditions
                    .iter()
                    .map(|cd| {
                        let ety = cd
                            .facts
                            .iter()
                            .map(|f| prog.facts[f.fact].ty)
                            .find(|t| matches!(t, Ty::Enum(_)));
                        let status = match cd.value {
                            Value::Bool(true) => "ok",
                            Value::Missing => "unknown",
                            _ => "fail",
                        };
                        CondView {
                            name: cd.name.clone(),
                            source: cd.source.clone(),
                            status,
                            value: cd.sides.as_ref().and_then(|s| shown(prog, &s.0, ety, en)),
                            op: cd
                                .sides
                                .as_ref()
                                .map(|s| s.1.symbol().to_string())
                                .unwrap_or_default(),
                            threshold: cd.sides.as_ref().and_then(|s| shown(prog, &s.2, ety, en)),
                            facts: cd
                                .facts
                                .iter()
                                .map(|f| {
                                    let fact = &prog.facts[f.fact];
                                    FactView {
                                        label: fact.label.clone(),
                                        period: f.year.map(|y| y.to_string()).unwrap_or_default(),
                                        value: shown(prog, &f.value, Some(fact.ty), en)
                                            .unwrap_or_else(|| p.t("check.missing")),
                                        source: fact.source.clone(),
                                    }
                                })
                                .collect(),
                            near_miss: huiqi_eval::explain::near_miss(prog, cd, en),
                        }
                    })
                    .collect(),
            })
            .collect();
        clauses.push(ClauseView {
            name: cl.name.clone(),
            reference: cl.reference.clone(),
            text: cl.text.clone(),
            fen,
            amount: p.money(fen),
            amount_short: fmt::is_large(fen, p.lang).then(|| p.short(fen)),
            estimated: huiqi::catalogue::population_clause(prog, c.clause),
            tranches,
        });
    }
    let total = huiqi_ir::money::to_fen(o.total());
    let page = CheckPage {
        l: p.layout("check.title"),
        firm: e.firm.id.clone(),
        name: e.firm.name.clone(),
        period: e.year,
        total: p.money(total),
        total_short: fmt::is_large(total, p.lang).then(|| p.short(total)),
        qualified: clauses.iter().filter(|c| c.fen > 0).count(),
        clauses,
        excluded_by: o.excluded_by.clone(),
        estimate_note: e.population_caveat(),
        snapshot: s
            .snapshot_hash
            .as_deref()
            .map(|h| h.chars().take(12).collect())
            .unwrap_or_default(),
    };
    render(&page)
}

/// One stage of the timeline.
pub struct StageView {
    pub label: String,
    pub date: Option<String>,
    /// Days since the stage before it.
    pub days: Option<i64>,
    pub done: bool,
}

pub struct AwardView {
    pub line: i64,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub amount: String,
    pub state: String,
    pub state_code: String,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub stages: Vec<StageView>,
    /// Days since the computation (to payment when paid).
    pub elapsed: Option<i64>,
    pub paid_on: Option<String>,
    /// The 公示 window, when the line is in one.
    pub window: Option<String>,
    pub countdown: Option<String>,
    pub can_confirm: bool,
    pub can_object: bool,
}

#[derive(askama::Template)]
#[template(path = "firm_awards.html")]
struct AwardsPage {
    l: Layout,
    firm: String,
    name: String,
    awards: Vec<AwardView>,
}

const STAGES: [(&str, &str); 5] = [
    ("record", "stage.computed"),
    ("approve", "stage.approved"),
    ("announce", "stage.announced"),
    ("confirm", "stage.confirmed"),
    ("pay", "stage.paid"),
];

pub async fn awards(p: Page, Path(uscc): Path<String>) -> Response {
    let r = awards_inner(&p, uscc).await;
    p.finish(r)
}

async fn awards_inner(p: &Page, uscc: String) -> ApiResult<Response> {
    let s = &p.s;
    // The API's own handler: the same Cedar decision, the same ledger call.
    let Json(st) =
        routes::firm::status(State(s.clone()), Extension(p.c.clone()), Path(uscc.clone())).await?;
    // The 公示 windows of the firm's lines (its queue, as the API lists it).
    let mut windows: std::collections::HashMap<i64, (String, String, bool)> = Default::default();
    let lists =
        p.p().firm.as_deref() == Some(uscc.as_str()) || p.allowed(Act::ListLines, &Resource::Zone);
    if lists {
        let q = routes::lines::LinesQ {
            state: Some("announced".into()),
            clause: None,
            firm: Some(uscc.clone()),
            period: None,
            limit: Some(1000),
            offset: None,
        };
        let Json(page) =
            routes::lines::list(State(s.clone()), Extension(p.c.clone()), Query(q)).await?;
        let mut notices: std::collections::HashMap<i64, (String, String, bool)> =
            Default::default();
        for l in page.lines {
            let Some(n) = l.notice else { continue };
            let w = match notices.get(&n) {
                Some(w) => w.clone(),
                None => {
                    let Json(no) = routes::zone::notice(
                        State(s.clone()),
                        Extension(p.c.clone()),
                        Query(routes::zone::NoticeQ { id: Some(n) }),
                    )
                    .await?;
                    let w = (no.opens, no.closes, no.open);
                    notices.insert(n, w.clone());
                    w
                }
            };
            windows.insert(l.line, w);
        }
    }
    let awards = st
        .lines
        .into_iter()
        .map(|l| {
            let mut stages = vec![];
            let mut prev: Option<String> = None;
            for (action, key) in STAGES {
                let at = l
                    .steps
                    .iter()
                    .rev()
                    .find(|(a, _)| a == action)
                    .map(|(_, t)| t.clone());
                let days = match (&prev, &at) {
                    (Some(a), Some(b)) => fmt::days_between(a, b),
                    _ => None,
                };
                stages.push(StageView {
                    label: p.t(key),
                    date: at.as_deref().map(|t| p.date(t)),
                    days,
                    done: at.is_some(),
                });
                if at.is_some() {
                    prev = at;
                }
            }
            let recorded = l.steps.first().map(|(_, t)| t.clone());
            let paid = l
                .steps
                .iter()
                .rev()
                .find(|(a, _)| a == "pay")
                .map(|(_, t)| t.clone());
            let elapsed = match (&recorded, &paid) {
                (Some(a), Some(b)) => fmt::days_between(a, b),
                (Some(a), None) => fmt::days_since(a),
                _ => None,
            };
            let w = windows.get(&l.line);
            let open = l.state == "announced" && w.is_some_and(|w| w.2);
            let line_res = Resource::Line {
                id: l.line,
                firm: uscc.clone(),
                clause: l.clause.clone(),
                state: l.state.clone(),
                approved_by: None,
            };
            AwardView {
                line: l.line,
                period: l.period,
                tranche: l.tranche,
                amount: p.money(l.amount_fen),
                state: p.t(&format!("state.{}", l.state)),
                reason: l.reason,
                reference: l.reference,
                stages,
                elapsed,
                paid_on: paid.as_deref().map(|t| p.date(t)),
                window: w.map(|w| format!("{} – {}", p.date(&w.0), p.date(&w.1))),
                countdown: w.filter(|_| open).and_then(|w| {
                    fmt::left_until(&w.1).map(|(d, h)| {
                        p.t("notice.left")
                            .replace("{d}", &d.to_string())
                            .replace("{h}", &h.to_string())
                    })
                }),
                can_confirm: open && p.allowed(Act::Confirm, &line_res),
                can_object: open && p.allowed(Act::Object, &line_res),
                clause: l.clause,
                state_code: l.state,
            }
        })
        .collect();
    render(&AwardsPage {
        l: p.layout("awards.title"),
        firm: st.firm,
        name: st.name,
        awards,
    })
}

/// A workflow step on one of the firm's own lines, through the API's step (Cedar for every
/// line, then the ledger's checked transition, inside the 公示 window).
async fn firm_step(
    p: &Page,
    uscc: &str,
    action: &str,
    f: &Form,
    reason: Option<String>,
    real_name: Option<String>,
) -> ApiResult<Response> {
    let line: i64 = f
        .get("line")
        .and_then(|x| x.trim().parse().ok())
        .ok_or_else(|| ApiError::invalid("缺少明细编号", "the line is missing").field("line"))?;
    let b = routes::lines::StepIn {
        ids: vec![line],
        firm: Some(uscc.to_string()),
        reason,
        real_name,
        ..Default::default()
    };
    let Json(_) = routes::lines::step(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path(action.to_string()),
        Body(b),
    )
    .await?;
    Ok(see_other(&format!("/firm/{uscc}/awards?done={action}")))
}

pub async fn confirm(p: Page, Path(uscc): Path<String>, f: Form) -> Response {
    let r = firm_step(&p, &uscc, "confirm", &f, None, None).await;
    p.finish(r)
}

pub async fn object(p: Page, Path(uscc): Path<String>, f: Form) -> Response {
    let r = firm_step(
        &p,
        &uscc,
        "object",
        &f,
        f.text("reason"),
        f.text("real_name"),
    )
    .await;
    p.finish(r)
}
