//! 数据有误 pages. `/firm/{uscc}/corrections`: the firm names a figure on file that is wrong
//! and the value it should be, and follows its requests. `/corrections`: the officer's queue,
//! accept or dismiss with a resolution the firm reads. Both through the API's handlers.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{fmt, query_param, render, see_other, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Path, Query};
use crate::routes;
use crate::routes::corrections::CorrectionOut;

pub struct RequestView {
    pub id: i64,
    pub firm: String,
    pub name: String,
    pub fact: String,
    pub period: String,
    pub on_file: String,
    pub claimed: String,
    pub note: String,
    pub contact: String,
    pub state: String,
    pub state_code: String,
    pub created: String,
    pub resolution: Option<String>,
    pub resolved: Option<String>,
}

fn view(p: &Page, c: CorrectionOut) -> RequestView {
    let name =
        p.s.served()
            .firms
            .get(&c.firm)
            .map(|f| f.name.clone())
            .unwrap_or_default();
    let label =
        p.s.program
            .fact_by_name(&c.fact)
            .map(|f| p.s.program.facts[f].label.clone())
            .unwrap_or_else(|| c.fact.clone());
    RequestView {
        id: c.id,
        name,
        firm: c.firm,
        fact: label,
        period: c.period.map(|y| y.to_string()).unwrap_or_default(),
        on_file: if c.on_file.is_empty() {
            p.t("check.missing")
        } else {
            c.on_file
        },
        claimed: c.claimed,
        note: c.note,
        contact: c.contact,
        state: p.t(&format!("correction.state.{}", c.state)),
        state_code: c.state,
        created: fmt::date(&c.created_at, p.lang),
        resolution: c.resolution,
        resolved: c.resolved_at.map(|t| fmt::date(&t, p.lang)),
    }
}

#[derive(askama::Template)]
#[template(path = "firm_corrections.html")]
struct FirmPage {
    l: Layout,
    firm: String,
    name: String,
    period: i32,
    /// (fact name, label with the value on file)
    facts: Vec<(String, String)>,
    chosen: String,
    requests: Vec<RequestView>,
}

pub async fn firm_page(p: Page, Path(uscc): Path<String>) -> Response {
    let r = firm_inner(&p, uscc).await;
    p.finish(r)
}

async fn firm_inner(p: &Page, uscc: String) -> ApiResult<Response> {
    let s = &p.s;
    let Json(list) =
        routes::corrections::of_firm(State(s.clone()), Extension(p.c.clone()), Path(uscc.clone()))
            .await?;
    let served = s.served();
    let firm = served
        .firms
        .get(&uscc)
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    let prog = &s.program;
    let period = huiqi::explain::latest_year(firm).unwrap_or(2023);
    let facts = (0..prog.facts.len())
        .filter(|f| {
            matches!(
                prog.facts[*f].kind,
                huiqi_ir::PeriodKind::Static | huiqi_ir::PeriodKind::Year
            )
        })
        .map(|f| {
            let v = huiqi_data::firmfile::fact_text(prog, f, &firm.value_at(f, period));
            let shown = if v.is_empty() {
                p.t("check.missing")
            } else {
                v
            };
            let fact = &prog.facts[f];
            (fact.name.clone(), format!("{}（{}）", fact.label, shown))
        })
        .collect();
    render(&FirmPage {
        l: p.layout("correction.title"),
        name: firm.name.clone(),
        firm: uscc,
        period,
        facts,
        chosen: query_param(&p.path, "fact").unwrap_or_default(),
        requests: list.corrections.into_iter().map(|c| view(p, c)).collect(),
    })
}

pub async fn file(p: Page, Path(uscc): Path<String>, f: Form) -> Response {
    let r = file_inner(&p, uscc, &f).await;
    p.finish(r)
}

async fn file_inner(p: &Page, uscc: String, f: &Form) -> ApiResult<Response> {
    let period = match f.text("period") {
        Some(x) => Some(
            x.parse::<i64>()
                .map_err(|_| ApiError::invalid("年度无效", "bad year").field("period"))?,
        ),
        None => None,
    };
    let b = routes::corrections::CorrectionIn {
        fact: f.text("fact").unwrap_or_default(),
        period,
        claimed: f.text("claimed").unwrap_or_default(),
        note: f.text("note"),
        contact: f.text("contact").unwrap_or_default(),
    };
    let _filed = routes::corrections::file(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path(uscc.clone()),
        Body(b),
    )
    .await?;
    Ok(see_other(&format!(
        "/firm/{uscc}/corrections?done=correction"
    )))
}

#[derive(askama::Template)]
#[template(path = "corrections.html")]
struct QueuePage {
    l: Layout,
    /// (code, label, selected)
    states: Vec<(String, String, bool)>,
    total: i64,
    requests: Vec<RequestView>,
    can_resolve: bool,
    back: String,
}

pub async fn queue(p: Page) -> Response {
    let r = queue_inner(&p).await;
    p.finish(r)
}

async fn queue_inner(p: &Page) -> ApiResult<Response> {
    let state = query_param(&p.path, "state").unwrap_or_else(|| "open".into());
    let Json(list) = routes::corrections::queue(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Query(routes::corrections::QueueQ {
            state: Some(state.clone()),
            firm: None,
            offset: None,
            limit: Some(500),
        }),
    )
    .await?;
    render(&QueuePage {
        l: p.layout("correction.queue"),
        states: ["open", "accepted", "dismissed", "all"]
            .iter()
            .map(|x| {
                (
                    x.to_string(),
                    p.t(&format!("correction.state.{x}")),
                    *x == state,
                )
            })
            .collect(),
        total: list.total,
        requests: list.corrections.into_iter().map(|c| view(p, c)).collect(),
        can_resolve: p.allowed(Act::ResolveCorrection, &Resource::Zone),
        back: format!(
            "/corrections?state={}",
            form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
        ),
    })
}

pub async fn resolve(p: Page, Path(id): Path<i64>, f: Form) -> Response {
    let r = resolve_inner(&p, id, &f).await;
    p.finish(r)
}

async fn resolve_inner(p: &Page, id: i64, f: &Form) -> ApiResult<Response> {
    let accept = match f.get("decision") {
        Some("accept") => true,
        Some("dismiss") => false,
        _ => {
            return Err(
                ApiError::invalid("请选择受理或不予受理", "choose accept or dismiss")
                    .field("decision"),
            )
        }
    };
    let _resolved = routes::corrections::resolve(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path(id),
        Body(routes::corrections::ResolveIn {
            accept,
            resolution: f.text("resolution").unwrap_or_default(),
        }),
    )
    .await?;
    let back = super::local_path(f.get("back"));
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!("{back}{sep}done=resolved")))
}
