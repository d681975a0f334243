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
    /// What the clawback rules recover from the firm this period: the total and one line per
    /// earlier award (none: the section is not shown).
    clawbacks: Option<(String, Vec<String>)>,
    snapshot: String,
    /// Explained under a 政策沙盘 reform (`?sim=`): its parameters set, and the simulation.
    reform: Option<(String, String)>,
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
    let served = s.served();
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
    // `?sim=ID`: the firm under a simulation's reform (the served pack with its parameters set),
    // for whoever may see simulations.
    let reform = match query_param(&p.path, "sim") {
        Some(id) => {
            s.authorize(p.p(), Act::ViewRun, &Resource::Zone).await?;
            let sets = crate::routes::simulations::reform_sets(s, &id)?;
            let shown: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
            let l = huiqi::pack::load_with(&s.cfg.policy, &sets)?;
            Some((l.program, id, shown.join("；")))
        }
        None => None,
    };
    // The figures on file with the ledger's award history, as the API's check reads them.
    let firm = routes::firm::firm_on_file(s, &uscc, period).await?;
    let program = reform.as_ref().map(|r| &r.0).unwrap_or(&s.program);
    let e = huiqi::explain::explain(program, firm, period, None)?;
    let clauses = clause_views(p, &e);
    let o = e.outcome();
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
        clawbacks: clawback_view(p, program, &e),
        snapshot: served
            .hash
            .as_deref()
            .map(|h| h.chars().take(12).collect())
            .unwrap_or_default(),
        reform: reform.as_ref().map(|r| (r.1.clone(), r.2.clone())),
    };
    render(&page)
}

/// The recoveries a firm's check shows, as `explain` words them.
fn clawback_view(
    p: &Page,
    program: &Program,
    e: &huiqi::explain::Explanation,
) -> Option<(String, Vec<String>)> {
    let en = p.lang == crate::web::i18n::Lang::En;
    let recs = huiqi_eval::clawback::clawbacks(program, &e.firm, e.year).ok()?;
    if recs.is_empty() {
        return None;
    }
    let total: i64 = recs.iter().map(|r| r.amount_fen).sum();
    let lines = recs
        .iter()
        .map(|r| huiqi_eval::clawback::recovery_text(program, r, en))
        .collect();
    Some((p.money(total), lines))
}

/// Every clause of an explanation as the check and the what-if pages show it.
fn clause_views(p: &Page, e: &huiqi::explain::Explanation) -> Vec<ClauseView> {
    let prog = e.program;
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
                    .map(|r| huiqi_eval::explain::reason_text(prog, c.clause, r, en)),
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
    clauses
}

/// One editable figure of the what-if form.
pub struct InputView {
    /// The form field: `v.` + the fact's name.
    pub field: String,
    pub label: String,
    pub source: String,
    /// The year it is for (empty: a static fact).
    pub year: String,
    pub on_file: String,
    /// What the form shows: the submitted text, or the figure on file.
    pub value: String,
    /// For yes/no and enumerations: the choices (value, label).
    pub choices: Vec<(String, String)>,
    pub changed: bool,
}

/// A clause whose amount the what-if moved.
pub struct DiffView {
    pub clause: String,
    pub on_file: String,
    pub what_if: String,
    pub up: bool,
}

#[derive(askama::Template)]
#[template(path = "firm_whatif.html")]
struct WhatIfPage {
    l: Layout,
    firm: String,
    name: String,
    period: i32,
    inputs: Vec<InputView>,
    /// Whether any figure was changed (else the form alone).
    asked: bool,
    total_on_file: String,
    total: String,
    diffs: Vec<DiffView>,
    clauses: Vec<ClauseView>,
    estimate_note: bool,
}

/// `/firm/{uscc}/whatif`: change figures on file and see every clause decided again, with
/// what moved. A GET form (nothing is written), through the API's what-if path.
pub async fn what_if(p: Page, Path(uscc): Path<String>) -> Response {
    let r = what_if_inner(&p, uscc).await;
    p.finish(r)
}

async fn what_if_inner(p: &Page, uscc: String) -> ApiResult<Response> {
    let s = &p.s;
    s.authorize(p.p(), Act::CheckFirm, &Resource::Firm(uscc.clone()))
        .await?;
    let period = match query_param(&p.path, "period").filter(|x| !x.is_empty()) {
        Some(x) => Some(
            x.parse::<i32>()
                .map_err(|_| ApiError::invalid("年度无效", "bad year").field("period"))?,
        ),
        None => None,
    };
    let prog = &s.program;
    // The form's figures: `v.<fact>` fields that differ from the figures on file.
    let sent: Vec<(String, String)> = p
        .path
        .split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .filter_map(|(k, v)| {
                    k.strip_prefix("v.")
                        .map(|f| (f.to_string(), v.into_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    // The figures on file and the year, read once (the what-if below decides both ways).
    let served = s.served();
    let on_file = served
        .firms
        .get(&uscc)
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    let year = period
        .or_else(|| huiqi::explain::latest_year(on_file))
        .ok_or_else(|| ApiError::invalid("请指定年度", "give the year").field("period"))?;
    let on_file_text = |fact: usize| -> String {
        let v = on_file.value_at(fact, year);
        huiqi_data::firmfile::fact_text(prog, fact, &v)
    };
    let editable: Vec<usize> = (0..prog.facts.len())
        .filter(|f| {
            matches!(
                prog.facts[*f].kind,
                huiqi_ir::PeriodKind::Static | huiqi_ir::PeriodKind::Year
            )
        })
        .collect();
    let changes: Vec<huiqi::explain::Change> = sent
        .iter()
        .filter(|(f, v)| {
            prog.fact_by_name(f)
                .is_some_and(|id| editable.contains(&id) && on_file_text(id) != v.trim())
        })
        .map(|(f, v)| huiqi::explain::Change {
            fact: f.clone(),
            value: v.clone(),
        })
        .collect();
    let w = routes::firm::what_if_of(s, &uscc, Some(year), &changes).await?;
    let inputs = editable
        .iter()
        .map(|&f| {
            let fact = &prog.facts[f];
            let on_file = on_file_text(f);
            let value = sent
                .iter()
                .find(|(n, _)| *n == fact.name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| on_file.clone());
            let choices = match fact.ty {
                huiqi_ir::Ty::Bool => vec![
                    (String::new(), p.t("check.missing")),
                    ("是".into(), p.pick("是", "yes")),
                    ("否".into(), p.pick("否", "no")),
                ],
                huiqi_ir::Ty::Enum(e) => std::iter::once((String::new(), p.t("check.missing")))
                    .chain(
                        prog.enums[e]
                            .variants
                            .iter()
                            .map(|v| (v.clone(), v.clone())),
                    )
                    .collect(),
                _ => vec![],
            };
            InputView {
                field: format!("v.{}", fact.name),
                label: fact.label.clone(),
                source: fact.source.clone(),
                year: match fact.kind {
                    huiqi_ir::PeriodKind::Year => year.to_string(),
                    _ => String::new(),
                },
                changed: w.changed.iter().any(|c| c.fact == f),
                on_file: if on_file.is_empty() {
                    p.t("check.missing")
                } else {
                    on_file
                },
                value,
                choices,
            }
        })
        .collect();
    let diffs = w
        .differences()
        .into_iter()
        .map(|(c, a, b)| DiffView {
            clause: prog.clauses[c].name.clone(),
            on_file: p.money(a),
            what_if: p.money(b),
            up: b > a,
        })
        .collect();
    let fen = |e: &huiqi::explain::Explanation| huiqi_ir::money::to_fen(e.outcome().total());
    render(&WhatIfPage {
        l: p.layout("whatif.title"),
        firm: w.on_file.firm.id.clone(),
        name: w.on_file.firm.name.clone(),
        period: year,
        inputs,
        asked: !w.changed.is_empty(),
        total_on_file: p.money(fen(&w.on_file)),
        total: p.money(fen(&w.what_if)),
        diffs,
        clauses: clause_views(p, &w.what_if),
        estimate_note: w.what_if.population_caveat(),
    })
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
                    // Only the window: the notice as read (not a copy of its every line).
                    s.authorize(p.p(), Act::ViewNotice, &Resource::Notice)
                        .await?;
                    let no = routes::zone::notice_of(s, Some(n)).await?;
                    let now = huiqi_ledger::now();
                    let open = no.opens <= now && now < no.closes;
                    let w = (no.opens.clone(), no.closes.clone(), open);
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
