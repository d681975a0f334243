//! `/trace/{line}`: an award figure traced to its run, policy version and snapshot, every
//! version of its entitlement, its payment and audit events, and recomputed here when this
//! server serves that policy and snapshot (the API's trace handler).

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{fmt, render, Layout, Page};
use crate::error::ApiResult;
use crate::extract::Path;
use crate::routes;
use crate::routes::trace::TraceOut;

#[derive(askama::Template)]
#[template(path = "trace.html")]
struct TracePage {
    l: Layout,
    t: TraceOut,
    amount: String,
    computed: String,
    recomputed: Option<String>,
    note: String,
    state: String,
    /// (line, version, kind, amount, state, run, created)
    versions: Vec<(i64, i64, String, String, String, String, String)>,
    /// (seq, time, actor, action, after, hash)
    events: Vec<(i64, String, String, String, String, String)>,
    recorded_at: String,
}

pub async fn page(p: Page, Path(id): Path<i64>) -> Response {
    let r = inner(&p, id).await;
    p.finish(r)
}

async fn inner(p: &Page, id: i64) -> ApiResult<Response> {
    let Json(t) =
        routes::trace::trace(State(p.s.clone()), Extension(p.c.clone()), Path(id)).await?;
    render(&TracePage {
        l: p.layout("trace.title"),
        amount: p.money(t.amount_fen),
        computed: p.money(t.computed_fen),
        recomputed: t.recomputed.amount_fen.map(|f| p.money(f)),
        note: p.pick(&t.recomputed.zh, &t.recomputed.en),
        state: p.t(&format!("state.{}", t.state)),
        versions: t
            .versions
            .iter()
            .map(|v| {
                (
                    v.line,
                    v.version,
                    v.kind.clone(),
                    p.money(v.amount_fen),
                    p.t(&format!("state.{}", v.state)),
                    v.run_id.clone(),
                    fmt::date(&v.created_at, p.lang),
                )
            })
            .collect(),
        events: t
            .events
            .iter()
            .map(|e| {
                (
                    e.seq,
                    fmt::datetime(&e.at, p.lang),
                    e.actor.clone(),
                    e.action.clone(),
                    e.after.clone(),
                    e.hash.chars().take(16).collect(),
                )
            })
            .collect(),
        recorded_at: fmt::datetime(&t.run.recorded_at, p.lang),
        t,
    })
}
