//! `/audit`: the audit trail, newest first (the API's events handler), and the verification of
//! the hash chain on request (the API's verify handler).

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{fmt, query_param, render, Layout, Page};
use crate::error::ApiResult;
use crate::extract::Query;
use crate::routes;

pub struct EventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub detail: String,
    pub hash: String,
}

pub struct Verified {
    pub ok: bool,
    pub events: i64,
    pub problems: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage {
    l: Layout,
    entity: String,
    events: Vec<EventView>,
    total: i64,
    prev: Option<i64>,
    next: Option<i64>,
    /// The verification, when asked.
    verified: Option<Verified>,
}

const PAGE: i64 = 50;

pub async fn events(p: Page) -> Response {
    let r = events_inner(&p).await;
    p.finish(r)
}

async fn events_inner(p: &Page) -> ApiResult<Response> {
    let entity = query_param(&p.path, "entity").filter(|e| !e.is_empty());
    let offset = query_param(&p.path, "offset")
        .and_then(|x| x.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let Json(out) = routes::zone::events(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Query(routes::zone::EventsQ {
            entity: entity.clone(),
            offset: Some(offset),
            limit: Some(PAGE),
        }),
    )
    .await?;
    let verified = if query_param(&p.path, "verify").is_some() {
        let Json(v) = routes::zone::verify(State(p.s.clone()), Extension(p.c.clone())).await?;
        Some(Verified {
            ok: v.ok,
            events: v.events,
            problems: if p.en() { v.problems_en } else { v.problems_zh },
        })
    } else {
        None
    };
    let events = out
        .events
        .into_iter()
        .map(|e| {
            let mut detail = e.after.to_string();
            if detail.chars().count() > 160 {
                detail = detail.chars().take(160).collect::<String>() + "…";
            }
            EventView {
                seq: e.seq,
                at: fmt::datetime(&e.at, p.lang),
                actor: e.actor,
                action: e.action,
                entity: e.entity,
                detail,
                hash: e.hash.chars().take(12).collect(),
            }
        })
        .collect();
    render(&AuditPage {
        l: p.layout("audit.title"),
        entity: entity.unwrap_or_default(),
        events,
        total: out.total,
        prev: (offset > 0).then(|| (offset - PAGE).max(0)),
        next: (offset + PAGE < out.total).then_some(offset + PAGE),
        verified,
    })
}
