//! The HTTP surface: the router, its middleware and the OpenAPI document.

pub mod corrections;
pub mod dashboard;
pub mod firm;
pub mod indicators;
pub mod lines;
pub mod runs;
pub mod session;
pub mod simulations;
pub mod trace;
pub mod zone;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::Shared;

/// Request bodies above this are refused (413) before they are read in full.
pub const BODY_LIMIT: usize = 1 << 20;
/// The treasury's paid file may be larger.
pub const PAID_FILE_LIMIT: usize = 16 << 20;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "huiqi 惠企 — 免申即享 API",
        description = "The 免申即享 service: a firm's check and what-if, the policy catalogue, the ledger's queues and workflow steps, exports, reconciliation and the audit trail.\n\n\
**Authentication.** `POST /api/v1/session` with `{\"user\", \"password\"}` sets an HttpOnly, SameSite=Strict session cookie and returns `csrf_token`. \
**CSRF.** Every state-changing request (POST, PUT, PATCH, DELETE) made with the session cookie must send that token in the `X-CSRF-Token` header (also returned by `GET /api/v1/session`); otherwise 403 `csrf`. Logging in needs no token.\n\n\
**Money** is exact: `*_yuan` strings with two decimals and `*_fen` integers, never floating point.\n\n\
**Errors** are JSON: `{code, zh, en, field?, hint_zh?, hint_en?}`. Another firm's data answers 404.",
        version = "1"
    ),
    paths(
        session::login, session::whoami, session::logout, session::put_user, session::users,
        firm::catalogue, firm::clause, firm::calculate, firm::check, firm::what_if, firm::status,
        lines::list, lines::step, trace::trace,
        zone::notice, zone::notice_csv, zone::export_payments, zone::cancel_batch, zone::paid_file,
        zone::reconciliation, dashboard::dashboard, zone::verify, zone::events,
        corrections::file, corrections::of_firm, corrections::queue, corrections::resolve,
        runs::ingest, runs::snapshots, runs::activate, runs::start, runs::list, runs::one, runs::results, runs::file,
        simulations::start, simulations::file,
        indicators::list, indicators::period, indicators::firms,
        healthz,
    ),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "session", description = "log in and out, accounts"),
        (name = "policy", description = "the policy catalogue"),
        (name = "firm", description = "a firm's check, what-if and status"),
        (name = "ledger", description = "queues, workflow steps, exports, reconciliation"),
        (name = "runs", description = "data in (ingest) and runs of the pack over a snapshot"),
        (name = "public", description = "the 公示 list, no login"),
        (name = "audit", description = "the audit trail"),
        (name = "indicators", description = "zone indicators and targets (区级指标)"),
    )
)]
pub struct ApiDoc;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    pub ok: bool,
    pub policy: String,
    pub policy_hash: String,
    pub snapshot: Option<String>,
    pub firms: usize,
    /// Firms' check answers kept (filled in the background after start-up).
    pub checks_kept: usize,
}

/// Liveness and what is loaded.
#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, body = Health)))]
pub async fn healthz(axum::extract::State(s): axum::extract::State<Shared>) -> Json<Health> {
    Json(Health {
        ok: true,
        policy: s.program.policy.name.clone(),
        policy_hash: s.program.hash.clone(),
        snapshot: s.served().hash.clone(),
        firms: s.served().firms.len(),
        checks_kept: s.checks.size().0,
    })
}

pub fn router(s: Shared) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/session",
            post(session::login)
                .get(session::whoami)
                .delete(session::logout),
        )
        .route("/api/v1/users", post(session::put_user).get(session::users))
        .route("/api/v1/policy", get(firm::catalogue))
        .route("/api/v1/policy/clauses/{name}", get(firm::clause))
        .route("/api/v1/calculate", post(firm::calculate))
        .route("/api/v1/firms/{uscc}/check", get(firm::check))
        .route("/api/v1/firms/{uscc}/whatif", post(firm::what_if))
        .route("/api/v1/firms/{uscc}/status", get(firm::status))
        .route(
            "/api/v1/firms/{uscc}/corrections",
            post(corrections::file).get(corrections::of_firm),
        )
        .route("/api/v1/corrections", get(corrections::queue))
        .route(
            "/api/v1/corrections/{id}/resolve",
            post(corrections::resolve),
        )
        .route("/api/v1/lines", get(lines::list))
        .route("/api/v1/lines/{action}", post(lines::step))
        .route("/api/v1/lines/{id}/trace", get(trace::trace))
        .route("/api/v1/notice", get(zone::notice))
        .route("/api/v1/notice/export.csv", get(zone::notice_csv))
        .route("/api/v1/payments/export", post(zone::export_payments))
        .route(
            "/api/v1/payments/batches/{id}/cancel",
            post(zone::cancel_batch),
        )
        .route(
            "/api/v1/payments/paid",
            post(zone::paid_file).layer(DefaultBodyLimit::max(PAID_FILE_LIMIT)),
        )
        .route(
            "/api/v1/ingest",
            post(runs::ingest).layer(DefaultBodyLimit::max(runs::INGEST_LIMIT)),
        )
        .route("/api/v1/snapshots", get(runs::snapshots))
        .route("/api/v1/snapshots/{name}/activate", post(runs::activate))
        .route("/api/v1/runs", post(runs::start).get(runs::list))
        .route("/api/v1/runs/{id}", get(runs::one))
        .route("/api/v1/runs/{id}/results", get(runs::results))
        .route("/api/v1/runs/{id}/files/{name}", get(runs::file))
        .route("/api/v1/simulations", post(simulations::start))
        .route(
            "/api/v1/simulations/{id}/files/{name}",
            get(simulations::file),
        )
        .route("/api/v1/reconciliation", get(zone::reconciliation))
        .route("/api/v1/dashboard", get(dashboard::dashboard))
        .route("/api/v1/indicators", get(indicators::list))
        .route("/api/v1/indicators/{period}", get(indicators::period))
        .route("/api/v1/indicators/{period}/firms", get(indicators::firms))
        .route("/api/v1/audit/verify", get(zone::verify))
        .route("/api/v1/audit/events", get(zone::events))
        .merge(crate::web::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            s.clone(),
            crate::auth::resolve,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
        .with_state(s)
}

async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError::not_found("该接口", "endpoint").hint(
        "接口说明见 /api/docs 或 /api/v1/openapi.json",
        "see /api/docs or /api/v1/openapi.json",
    )
}
