//! The zone's ledger as a whole: the public 公示 list and its export, the payment file and the
//! treasury's paid file, the reconciliation, the audit trail and its verification.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huiqi_ledger::Selection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::Shared;

/// One row of the 公示 list: only what the public may see.
#[derive(Clone, Serialize, ToSchema)]
pub struct NoticeRow {
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub amount_yuan: String,
    pub amount_fen: i64,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct NoticeOut {
    pub id: i64,
    pub title: String,
    pub opens: String,
    pub closes: String,
    /// Whether objections are accepted now.
    pub open: bool,
    pub total_yuan: String,
    pub total_fen: i64,
    pub rows: Vec<NoticeRow>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeQ {
    /// The notice (default: the latest).
    pub id: Option<i64>,
}

/// The 公示 list (public, no login): firm, clause and amount only.
#[utoipa::path(get, path = "/api/v1/notice", tag = "public", params(NoticeQ),
    responses((status = 200, body = NoticeOut), (status = 404, body = ErrorBody)))]
pub async fn notice(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<NoticeQ>,
) -> ApiResult<Json<NoticeOut>> {
    s.authorize(&c.principal, Act::ViewNotice, &Resource::Notice)
        .await?;
    let mut n = (*notice_of(&s, q.id).await?).clone();
    // Whether objections are accepted is a matter of the clock, not of the ledger.
    let now = huiqi_ledger::now();
    n.open = n.opens <= now && now < n.closes;
    Ok(Json(n))
}

/// The last 公示 list read, by the notice asked for and the audit chain's head it was read at:
/// the public page reads the ledger again only after it changed.
#[derive(Default)]
pub struct NoticeCache(std::sync::Mutex<Option<NoticeRead>>);

/// (the notice asked for, the audit chain's head, what was read).
type NoticeRead = (Option<i64>, i64, std::sync::Arc<NoticeOut>);

/// A notice's lines (the latest notice when `id` is None), from the cache when the ledger has
/// not changed since.
pub async fn notice_of(s: &Shared, id: Option<i64>) -> ApiResult<std::sync::Arc<NoticeOut>> {
    let seq = crate::ledger_read!(s, |l| huiqi::ledger::head_seq(l).await).await??;
    if let Ok(g) = s.notices.0.lock() {
        if let Some((k, at, n)) = &*g {
            if *k == id && *at == seq {
                return Ok(n.clone());
            }
        }
    }
    let r = crate::ledger_read!(s, |l| {
        let seq = huiqi::ledger::head_seq(l).await;
        (seq, huiqi::ledger::notice(l, id).await)
    })
    .await?;
    let (seq, r) = (r.0?, r.1);
    let (nid, title, opens, closes, rows) = r.map_err(|_| ApiError::not_found("公示", "notice"))?;
    let total_fen: i64 = rows.iter().map(|r| r.fen).sum();
    let n = std::sync::Arc::new(NoticeOut {
        id: nid,
        title,
        open: false,
        opens,
        closes,
        total_yuan: huiqi_ledger::yuan(total_fen),
        total_fen,
        rows: rows
            .into_iter()
            .map(|r| NoticeRow {
                firm: r.firm_id,
                name: r.name,
                clause: r.clause,
                period: r.period,
                amount_yuan: huiqi_ledger::yuan(r.fen),
                amount_fen: r.fen,
            })
            .collect(),
    });
    if let Ok(mut g) = s.notices.0.lock() {
        *g = Some((id, seq, n.clone()));
    }
    Ok(n)
}

fn export_dir(s: &Shared, what: &str) -> std::path::PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    s.cfg.work.join(format!("{what}-{n}"))
}

/// The 公示 list as CSV (officer), written by the same use case as `huiqi ledger export notice`.
#[utoipa::path(get, path = "/api/v1/notice/export.csv", tag = "ledger", params(NoticeQ),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)))]
pub async fn notice_csv(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<NoticeQ>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::ExportNotice, &Resource::Zone)
        .await?;
    let dir = export_dir(&s, "notice");
    let (id, out) = (q.id, dir.clone());
    let ex = crate::ledger_read!(s, |l| huiqi::ledger::export_notice(l, id, &out).await).await??;
    let body = std::fs::read(&ex.csv).map_err(ApiError::internal)?;
    let _ = std::fs::remove_dir_all(&dir);
    let disp = format!("attachment; filename=\"notice-{}.csv\"", ex.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disp),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ExportIn {
    pub clause: Option<String>,
    pub period: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentsOut {
    /// None when no line was confirmed (no batch made).
    pub batch: Option<i64>,
    pub lines: usize,
    pub total_yuan: String,
    pub total_fen: i64,
    /// The payment file for the treasury (CSV, as `huiqi ledger export payments` writes it).
    pub csv: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Why the treasury returned the batch (or why it is withdrawn).
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct CancelOut {
    pub batch: i64,
    /// Lines back to confirmed.
    pub returned: u64,
    /// Of those, lines a rerun had changed while they were out: superseded …
    pub superseded: u64,
    /// … and replaced by a line for the difference.
    pub new_lines: u64,
}

/// Withdraws a payment batch the treasury returned: its unpaid lines go back to confirmed (a
/// paid line stays paid); a new batch can then be made (finance).
#[utoipa::path(post, path = "/api/v1/payments/batches/{id}/cancel", tag = "ledger", request_body = CancelIn,
    params(("id" = i64, Path)),
    responses((status = 200, body = CancelOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "no such batch, or nothing of it outstanding"), (status = 422, body = ErrorBody)))]
pub async fn cancel_batch(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Body(b): Body<CancelIn>,
) -> ApiResult<Json<CancelOut>> {
    s.authorize(&c.principal, Act::CancelBatch, &Resource::Zone)
        .await?;
    let reason = b.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid(
            "请写明撤回原因（最多500字）",
            "give the reason (at most 500 characters)",
        )
        .field("reason"));
    }
    let ctx = c.ctx();
    let sum = crate::ledger!(s, |l| huiqi::ledger::cancel_batch(l, &ctx, id, &reason)
        .await)
    .await??;
    Ok(Json(CancelOut {
        batch: id,
        returned: sum.returned,
        superseded: sum.superseded,
        new_lines: sum.new_lines,
    }))
}

/// A payment batch of the confirmed lines, and its file for the treasury (finance).
#[utoipa::path(post, path = "/api/v1/payments/export", tag = "ledger", request_body = ExportIn,
    responses((status = 200, body = PaymentsOut), (status = 403, body = ErrorBody)))]
pub async fn export_payments(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<ExportIn>,
) -> ApiResult<Json<PaymentsOut>> {
    s.authorize(&c.principal, Act::ExportPayments, &Resource::Zone)
        .await?;
    let dir = export_dir(&s, "payments");
    let file = dir.join("payments.csv");
    let sel = Selection {
        all: true,
        clause: b.clause,
        period: b.period,
        ..Default::default()
    };
    let (ctx, out) = (c.ctx(), file.clone());
    let ex = crate::ledger!(s, |l| huiqi::ledger::export_payments(
        l, &ctx, &sel, &out, true
    )
    .await)
    .await??;
    let csv = if ex.batch.is_some() {
        std::fs::read_to_string(&ex.file).map_err(ApiError::internal)?
    } else {
        String::new()
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Json(PaymentsOut {
        batch: ex.batch,
        lines: ex.rows.len(),
        total_yuan: huiqi_ledger::yuan(ex.total_fen),
        total_fen: ex.total_fen,
        csv,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct PaidIn {
    /// The treasury's paid file (the batch file with 支付流水号 filled in), CSV text.
    pub csv: String,
    /// Pay the good lines and list the rest (default: one bad line refuses the file).
    #[serde(default)]
    pub partial: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PaidOut {
    pub batch: i64,
    pub paid: u64,
    pub paid_yuan: String,
    pub paid_fen: i64,
    /// Lines already paid with the same reference (the file was applied before).
    pub already: u64,
    /// (file line, award line, zh, en) of lines not paid.
    #[schema(value_type = Vec<Object>)]
    pub refused: Vec<(usize, Option<i64>, String, String)>,
    pub outstanding: Vec<i64>,
}

/// The treasury's paid file: validated in full before any write; each line checked with Cedar
/// (whoever approved a line cannot pay it). Uploading the same file twice pays nothing twice.
#[utoipa::path(post, path = "/api/v1/payments/paid", tag = "ledger", request_body = PaidIn,
    responses((status = 200, body = PaidOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn paid_file(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<PaidIn>,
) -> ApiResult<Json<PaidOut>> {
    s.authorize(&c.principal, Act::PayFile, &Resource::Zone)
        .await?;
    let dir = export_dir(&s, "paid");
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let file = dir.join("paid.csv");
    std::fs::write(&file, b.csv.as_bytes()).map_err(ApiError::internal)?;
    let r = pay_checked(&s, &c, &file, b.partial).await;
    let _ = std::fs::remove_dir_all(&dir);
    let sum = r?;
    Ok(Json(PaidOut {
        batch: sum.batch,
        paid: sum.paid,
        paid_yuan: huiqi_ledger::yuan(sum.paid_fen),
        paid_fen: sum.paid_fen,
        already: sum.already,
        refused: sum
            .refused
            .into_iter()
            .map(|e| (e.line, e.item, e.zh, e.en))
            .collect(),
        outstanding: sum.outstanding,
    }))
}

pub(crate) async fn pay_checked(
    s: &Shared,
    c: &Caller,
    file: &std::path::Path,
    partial: bool,
) -> ApiResult<huiqi_ledger::BatchPaySummary> {
    let paid = huiqi_ledger::read_paid_file(file)?;
    authorize_paid(s, c, &paid).await?;
    let (ctx, file) = (c.ctx(), file.to_path_buf());
    Ok(
        crate::ledger!(s, |l| huiqi::ledger::pay_batch(l, &ctx, &file, partial)
            .await)
        .await??,
    )
}

/// Cedar's decision for every line a paid file names (whoever approved a line cannot pay it);
/// the web page's preview asks the same before showing what the file would pay.
pub(crate) async fn authorize_paid(
    s: &Shared,
    c: &Caller,
    paid: &huiqi_ledger::PaidFile,
) -> ApiResult<()> {
    let items: Vec<i64> = paid.lines.iter().map(|l| l.item).collect();
    let f = huiqi_ledger::LineFilter {
        ids: Some(items.clone()),
        limit: Some(items.len() as i64),
        ..Default::default()
    };
    let (rows, approvers) = crate::ledger_read!(s, |l| {
        match huiqi::ledger::lines(l, &f).await {
            Ok(page) => huiqi::ledger::actors_of(l, &items, "approve")
                .await
                .map(|a| {
                    (
                        page.rows,
                        a.into_iter()
                            .collect::<std::collections::HashMap<i64, String>>(),
                    )
                }),
            Err(e) => Err(e),
        }
    })
    .await??;
    for r in &rows {
        let res = Resource::Line {
            id: r.line,
            firm: r.firm_id.clone(),
            clause: r.clause.clone(),
            state: r.state.as_str().into(),
            approved_by: approvers.get(&r.line).cloned(),
        };
        s.authorize(&c.principal, Act::Pay, &res).await?;
    }
    Ok(())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQ {
    pub period: Option<i64>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ReconRowOut {
    pub label: String,
    pub budget_name: Option<String>,
    /// Exact 元 strings; budget null when the policy declares none.
    pub budget_yuan: Option<String>,
    pub budget_fen: Option<i64>,
    pub entitlements: i64,
    pub computed_yuan: String,
    pub approved_yuan: String,
    pub paid_yuan: String,
    pub recovered_yuan: String,
    pub computed_fen: i64,
    pub approved_fen: i64,
    pub paid_fen: i64,
    pub recovered_fen: i64,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ReconOut {
    pub period: i64,
    pub rows: Vec<ReconRowOut>,
    pub total: ReconRowOut,
}

fn recon_row(r: huiqi_ledger::ReconRow) -> ReconRowOut {
    let y = huiqi_ledger::yuan;
    ReconRowOut {
        budget_yuan: r.budget.map(y),
        budget_fen: r.budget,
        computed_yuan: y(r.computed),
        approved_yuan: y(r.approved),
        paid_yuan: y(r.paid),
        recovered_yuan: y(r.recovered),
        label: r.label,
        budget_name: r.budget_name,
        entitlements: r.entitlements,
        computed_fen: r.computed,
        approved_fen: r.approved,
        paid_fen: r.paid,
        recovered_fen: r.recovered,
    }
}

/// Budget vs computed vs approved vs paid vs recovered, by clause (finance, leader, auditor).
#[utoipa::path(get, path = "/api/v1/reconciliation", tag = "ledger", params(PeriodQ),
    responses((status = 200, body = ReconOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reconciliation(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<PeriodQ>,
) -> ApiResult<Json<ReconOut>> {
    // The dashboard's figures hold the reconciliation, computed once per state of the ledger
    // (three aggregates over every line of the period: 300 ms at 50,000 firms).
    let q = crate::routes::dashboard::DashQ {
        period: q.period,
        overdue_days: None,
    };
    let d = crate::routes::dashboard::figures(&s, &c, q).await?;
    Ok(Json(d.reconciliation.clone()))
}

pub fn recon_out(r: huiqi::ledger::Reconciliation) -> ReconOut {
    ReconOut {
        period: r.period,
        rows: r.rows.into_iter().map(recon_row).collect(),
        total: recon_row(r.total),
    }
}

#[derive(Serialize, ToSchema)]
pub struct VerifyOut {
    pub ok: bool,
    pub events: i64,
    pub head_seq: i64,
    pub problems_zh: Vec<String>,
    pub problems_en: Vec<String>,
}

/// Verifies the audit hash chain and replays it against every table (auditor).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyOut), (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<VerifyOut>> {
    s.authorize(&c.principal, Act::VerifyAudit, &Resource::Zone)
        .await?;
    let v = crate::ledger_read!(s, |l| huiqi::ledger::verify(l).await).await??;
    Ok(Json(VerifyOut {
        ok: v.ok(),
        events: v.events,
        head_seq: v.head_seq,
        problems_zh: v.problems.iter().map(|p| p.describe(false)).collect(),
        problems_en: v.problems.iter().map(|p| p.describe(true)).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQ {
    /// Only events about this entity (`user:officer`, `item:12`).
    pub entity: Option<String>,
    pub offset: Option<i64>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub seq: i64,
    pub actor: String,
    pub at: String,
    pub action: String,
    pub entity: String,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventsOut {
    pub total: i64,
    pub events: Vec<EventOut>,
}

/// Characters of an event's `after` the audit trail shows: a longer one (a run's record
/// event) is summarised by its length.
const EVENT_HEAD: i64 = 4096;

/// The audit trail, newest first: logins, denials, every workflow step, with their actors.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQ),
    responses((status = 200, body = EventsOut), (status = 403, body = ErrorBody)))]
pub async fn events(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<EventsQ>,
) -> ApiResult<Json<EventsOut>> {
    s.authorize(&c.principal, Act::ReadAudit, &Resource::Zone)
        .await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (entity, offset) = (q.entity.clone(), q.offset.unwrap_or(0));
    let (total, evs) = crate::ledger_read!(s, |l| huiqi::ledger::events(
        l,
        entity.as_deref(),
        offset,
        limit,
        EVENT_HEAD
    )
    .await)
    .await??;
    Ok(Json(EventsOut {
        total,
        events: evs
            .into_iter()
            .map(|h| {
                let whole = h.whole();
                let e = h.event;
                EventOut {
                    seq: e.seq,
                    actor: e.actor,
                    at: e.at,
                    action: e.action,
                    entity: e.entity,
                    after: if whole {
                        serde_json::from_str(&e.after).unwrap_or(serde_json::Value::Null)
                    } else {
                        serde_json::json!({"truncated": true, "chars": h.after_chars})
                    },
                    hash: e.hash,
                }
            })
            .collect(),
    }))
}
