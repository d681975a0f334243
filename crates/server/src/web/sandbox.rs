//! `/sandbox`: the 政策沙盘 for the policy office. A form lists the pack's parameters with their
//! values in force; change some, pick a snapshot and a year, and see what the change costs by
//! clause and by group of firms, the bands of gainers and losers, and the firms that move most
//! (each linked to its explanation). The API's simulation does the work.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{render, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::routes;
use huiqi::simulate::{Summary, Sums};

/// A parameter in the form: name, type, value in force (the pack's notation), what was typed.
struct ParamRow {
    name: String,
    ty: String,
    current: String,
    typed: String,
}

struct SumsView {
    base: String,
    reform: String,
    delta: String,
    gainers: usize,
    losers: usize,
    up: bool,
    down: bool,
}

struct FirmView {
    id: String,
    name: String,
    delta: String,
    clauses: String,
}

/// One value of a static fact: (value, firms, figures).
type GroupRow = (String, usize, SumsView);

struct ResultView {
    id: String,
    set: String,
    firms: usize,
    total: SumsView,
    by_clause: Vec<(String, SumsView)>,
    groupings: Vec<(String, Vec<GroupRow>)>,
    bands: Vec<(String, usize, String, usize, String)>,
    gainers: Vec<FirmView>,
    losers: Vec<FirmView>,
}

#[derive(askama::Template)]
#[template(path = "sandbox.html")]
struct SandboxPage {
    l: Layout,
    params: Vec<ParamRow>,
    snapshots: Vec<(String, String, bool)>,
    period: i32,
    result: Option<ResultView>,
}

fn signed(p: &Page, fen: i64) -> String {
    if fen > 0 {
        format!("+{}", p.money(fen))
    } else {
        p.money(fen)
    }
}

fn sums(p: &Page, s: &Sums) -> SumsView {
    SumsView {
        base: p.money(s.base_fen),
        reform: p.money(s.reform_fen),
        delta: signed(p, s.delta_fen),
        gainers: s.gainers,
        losers: s.losers,
        up: s.delta_fen > 0,
        down: s.delta_fen < 0,
    }
}

fn view(p: &Page, id: String, s: &Summary) -> ResultView {
    let firm = |f: &huiqi::simulate::FirmDelta| FirmView {
        id: f.firm_id.clone(),
        name: f.name.clone(),
        delta: signed(p, f.delta_fen),
        clauses: f
            .clauses
            .iter()
            .map(|(c, d)| format!("{c} {}", signed(p, *d)))
            .collect::<Vec<_>>()
            .join("，"),
    };
    ResultView {
        id,
        set: s.reform.set.join("；"),
        firms: s.firms,
        total: sums(p, &s.all),
        by_clause: s
            .by_clause
            .iter()
            .map(|c| (c.clause.clone(), sums(p, &c.sums)))
            .collect(),
        groupings: s
            .groupings
            .iter()
            .map(|g| {
                (
                    g.by.clone(),
                    g.groups
                        .iter()
                        .map(|x| (x.value.clone(), x.firms, sums(p, &x.sums)))
                        .collect(),
                )
            })
            .collect(),
        bands: s
            .bands
            .iter()
            .map(|b| {
                (
                    b.band.clone(),
                    b.gainers,
                    p.money(b.gain_fen),
                    b.losers,
                    p.money(b.loss_fen),
                )
            })
            .collect(),
        gainers: s.top_gainers.iter().map(firm).collect(),
        losers: s.top_losers.iter().map(firm).collect(),
    }
}

/// The pack's parameters with the value in force at the end of `period`.
fn params(p: &Page, period: i32, typed: &[(String, String)]) -> Vec<ParamRow> {
    let prog = &p.s.program;
    prog.params
        .iter()
        .enumerate()
        .map(|(i, x)| ParamRow {
            name: x.name.clone(),
            ty: huiqi::explain::type_name(prog, x.ty),
            current: huiqi::explain::value_text(prog, x.ty, &prog.param_at(i, period)),
            typed: typed
                .iter()
                .find(|(n, _)| *n == x.name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn snapshots(p: &Page) -> Vec<(String, String, bool)> {
    routes::runs::known_snapshots(&p.s)
        .into_iter()
        .map(|(name, served)| {
            let label = if served {
                format!("{name}（{}）", p.t("data.served"))
            } else {
                name.clone()
            };
            (name, label, served)
        })
        .collect()
}

fn default_period(p: &Page) -> i32 {
    p.s.served()
        .firms
        .values()
        .filter_map(huiqi::explain::latest_year)
        .max()
        .unwrap_or(2023)
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p).await;
    p.finish(r)
}

async fn page_inner(p: &Page) -> ApiResult<Response> {
    p.s.authorize(p.p(), Act::StartRun, &Resource::Zone).await?;
    let period = default_period(p);
    render(&SandboxPage {
        l: p.layout("sandbox.title"),
        params: params(p, period, &[]),
        snapshots: snapshots(p),
        period,
        result: None,
    })
}

/// The form: every parameter field that was filled in is set; the API's simulation runs.
pub async fn run(p: Page, f: Form) -> Response {
    let r = run_inner(&p, &f).await;
    p.finish(r)
}

async fn run_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let period = f
        .text("period")
        .and_then(|x| x.parse::<i32>().ok())
        .ok_or_else(|| ApiError::invalid("请填写年度", "give the year").field("period"))?;
    let typed: Vec<(String, String)> =
        p.s.program
            .params
            .iter()
            .filter_map(|x| {
                let v = f.text(&format!("p:{}", x.name))?;
                let v = v.trim();
                (!v.is_empty()).then(|| (x.name.clone(), v.to_string()))
            })
            .collect();
    let b = routes::simulations::SimulateIn {
        period,
        snapshot: f.text("snapshot"),
        set: typed.iter().map(|(n, v)| format!("{n}={v}")).collect(),
        groups: vec![],
        top: Some(20),
    };
    let Json(out) =
        routes::simulations::start(State(p.s.clone()), Extension(p.c.clone()), Body(b)).await?;
    render(&SandboxPage {
        l: p.layout("sandbox.title"),
        params: params(p, period, &typed),
        snapshots: snapshots(p),
        period,
        result: Some(view(p, out.id, &out.summary)),
    })
}
