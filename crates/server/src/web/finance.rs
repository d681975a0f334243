//! `/finance`: the payment file (a batch of the confirmed lines, the API's export), the
//! batches and their files, the treasury's paid file — uploaded, then checked in full and shown
//! before anything is written (the same Cedar decisions and the same ledger verdicts as the
//! payment; nothing moves until finance applies it) — and the reconciliation by clause.

use axum::extract::{FromRequest, Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{fmt, query_param, render, see_other, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Path, Query};
use crate::routes;

pub struct BatchView {
    pub id: i64,
    pub state: String,
    pub lines: i64,
    pub outstanding: i64,
    pub total: String,
    pub created: String,
}

pub struct ReconView {
    pub label: String,
    pub budget: String,
    pub entitlements: i64,
    pub computed: String,
    pub approved: String,
    pub paid: String,
    pub recovered: String,
}

#[derive(askama::Template)]
#[template(path = "finance.html")]
struct FinancePage {
    l: Layout,
    can_export: bool,
    can_pay: bool,
    can_cancel: bool,
    batches: Vec<BatchView>,
    /// The batch just exported.
    current: Option<i64>,
    clauses: Vec<String>,
    recon: Option<(i64, Vec<ReconView>, ReconView)>,
}

pub(super) fn recon_view(p: &Page, r: routes::zone::ReconRowOut) -> ReconView {
    let budget = r
        .budget_yuan
        .as_deref()
        .and_then(|y| y.parse::<rust_decimal::Decimal>().ok())
        .map(|d| p.money(huiqi_ir::money::to_fen(d)))
        .unwrap_or_else(|| "—".into());
    ReconView {
        label: r.label,
        budget,
        entitlements: r.entitlements,
        computed: p.money(r.computed_fen),
        approved: p.money(r.approved_fen),
        paid: p.money(r.paid_fen),
        recovered: p.money(r.recovered_fen),
    }
}

/// The reconciliation (the API's handler), or none when no run is recorded.
pub(super) async fn reconciliation(
    p: &Page,
    period: Option<i64>,
) -> ApiResult<Option<(i64, Vec<ReconView>, ReconView)>> {
    let r = routes::zone::reconciliation(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Query(routes::zone::PeriodQ { period }),
    )
    .await;
    match r {
        Ok(Json(out)) => Ok(Some((
            out.period,
            out.rows.into_iter().map(|r| recon_view(p, r)).collect(),
            recon_view(p, out.total),
        ))),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p).await;
    p.finish(r)
}

async fn page_inner(p: &Page) -> ApiResult<Response> {
    let s = &p.s;
    let can_export = p.allowed(Act::ExportPayments, &Resource::Zone);
    let can_pay = p.allowed(Act::PayFile, &Resource::Zone);
    let can_cancel = p.allowed(Act::CancelBatch, &Resource::Zone);
    if !can_export && !can_pay {
        return Err(s.denied(p.p(), Act::ExportPayments, &Resource::Zone).await);
    }
    let infos = crate::ledger_read!(s, |l| l.batches().await).await??;
    let batches = infos
        .into_iter()
        .map(|b| BatchView {
            id: b.id,
            state: p.t(&format!("batch.{}", b.state.as_str())),
            lines: b.lines,
            outstanding: b.outstanding,
            total: p.money(b.total_fen),
            created: fmt::date(&b.created_at, p.lang),
        })
        .collect();
    let period = query_param(&p.path, "period").and_then(|x| x.parse().ok());
    let recon = if p.allowed(Act::Reconcile, &Resource::Zone) {
        reconciliation(p, period).await?
    } else {
        None
    };
    render(&FinancePage {
        l: p.layout("finance.title"),
        can_export,
        can_pay,
        can_cancel,
        batches,
        current: query_param(&p.path, "batch").and_then(|x| x.parse().ok()),
        clauses: s.program.clauses.iter().map(|c| c.name.clone()).collect(),
        recon,
    })
}

/// A payment batch of the confirmed lines (the API's export): then the page with its file.
pub async fn export(p: Page, f: Form) -> Response {
    let r = export_inner(&p, &f).await;
    p.finish(r)
}

async fn export_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let period = match f.text("period") {
        Some(x) => Some(
            x.parse::<i64>()
                .map_err(|_| ApiError::invalid("年度无效", "bad period").field("period"))?,
        ),
        None => None,
    };
    let b = routes::zone::ExportIn {
        clause: f.text("clause"),
        period,
    };
    let Json(out) =
        routes::zone::export_payments(State(p.s.clone()), Extension(p.c.clone()), Body(b)).await?;
    Ok(match out.batch {
        Some(id) => see_other(&format!("/finance?batch={id}&done=export&n={}", out.lines)),
        None => see_other("/finance?done=export_none"),
    })
}

/// Withdraws a returned batch (the API's cancel): its unpaid lines go back to confirmed.
pub async fn cancel(p: Page, Path(id): Path<i64>, f: Form) -> Response {
    let r = cancel_inner(&p, id, &f).await;
    p.finish(r)
}

async fn cancel_inner(p: &Page, id: i64, f: &Form) -> ApiResult<Response> {
    let Json(out) = routes::zone::cancel_batch(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Path(id),
        Body(routes::zone::CancelIn {
            reason: f.text("reason").unwrap_or_default(),
        }),
    )
    .await?;
    Ok(see_other(&format!(
        "/finance?done=cancel&n={}",
        out.returned
    )))
}

/// A batch's payment file for the treasury (the lines still awaiting payment), written by the
/// same function as `huiqi ledger export payments`.
pub async fn batch_csv(p: Page, Path(id): Path<i64>) -> Response {
    let r = batch_csv_inner(&p, id).await;
    p.finish(r)
}

async fn batch_csv_inner(p: &Page, id: i64) -> ApiResult<Response> {
    let s = &p.s;
    s.authorize(p.p(), Act::ExportPayments, &Resource::Zone)
        .await?;
    let dir = work_dir(p, "batch")?;
    let file = dir.join("payments.csv");
    let out = file.clone();
    let written = crate::ledger_read!(s, |l| match l.batch(id).await {
        Ok(b) => huiqi_ledger::report::write_batch_csv(&b, &out),
        Err(e) => Err(e),
    })
    .await?;
    let body = written
        .map_err(ApiError::from)
        .and_then(|()| std::fs::read(&file).map_err(ApiError::internal));
    let _ = std::fs::remove_dir_all(&dir);
    let disp = format!("attachment; filename=\"payments-batch-{id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disp),
        ],
        body?,
    )
        .into_response())
}

fn work_dir(p: &Page, what: &str) -> ApiResult<std::path::PathBuf> {
    let dir =
        p.s.cfg
            .work
            .join(format!("{what}-{}", crate::auth::random_hex(16)));
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    Ok(dir)
}

pub struct PayView {
    pub line: i64,
    pub amount: String,
    pub reference: String,
}

pub struct RefusedView {
    pub file_line: usize,
    pub item: String,
    pub message: String,
}

#[derive(askama::Template)]
#[template(path = "paid_preview.html")]
struct PreviewPage {
    l: Layout,
    token: String,
    file_name: String,
    batch: i64,
    payable: Vec<PayView>,
    payable_total: String,
    already: u64,
    refused: Vec<RefusedView>,
}

/// The uploaded paid file, checked in full: what it would pay, what it would refuse and why.
/// Nothing is written to the ledger; the file waits (for this user only) until applied.
pub async fn upload(p: Page, req: axum::extract::Request) -> Response {
    let r = upload_inner(&p, req).await;
    p.finish(r)
}

async fn upload_inner(p: &Page, req: axum::extract::Request) -> ApiResult<Response> {
    let s = &p.s;
    s.authorize(p.p(), Act::PayFile, &Resource::Zone).await?;
    let mut m = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("上传无效：{e}"), format!("bad upload: {e}")))?;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = m
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("上传无效：{e}"), format!("bad upload: {e}")))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("paid.csv").to_string();
            let bytes = field.bytes().await.map_err(|e| {
                ApiError::bad_request(format!("上传无效：{e}"), format!("bad upload: {e}"))
            })?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let Some((file_name, bytes)) = file.filter(|f| !f.1.is_empty()) else {
        return Err(ApiError::invalid("请选择支付结果文件", "choose the paid file").field("file"));
    };
    let token = crate::auth::random_hex(16);
    let dir = s.cfg.work.join(format!("paid-upload-{token}"));
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let path = dir.join("paid.csv");
    std::fs::write(&path, &bytes).map_err(ApiError::internal)?;
    std::fs::write(dir.join("owner"), p.p().user.as_bytes()).map_err(ApiError::internal)?;
    let checked = check(p, &path).await;
    if checked.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let c = checked?;
    let total: i64 = c.payable.iter().map(|x| x.1).sum();
    render(&PreviewPage {
        l: p.layout("paid.title"),
        token,
        file_name,
        batch: c.batch,
        payable_total: p.money(total),
        payable: c
            .payable
            .into_iter()
            .map(|(line, fen, reference)| PayView {
                line,
                amount: p.money(fen),
                reference,
            })
            .collect(),
        already: c.already,
        refused: c
            .refused
            .into_iter()
            .map(|e| RefusedView {
                file_line: e.line,
                item: e.item.map(|i| i.to_string()).unwrap_or_default(),
                message: p.pick(&e.zh, &e.en),
            })
            .collect(),
    })
}

/// Reads the file, asks Cedar about every line it names (as the payment will) and has the
/// ledger judge every line in a read-only transaction.
async fn check(p: &Page, path: &std::path::Path) -> ApiResult<huiqi_ledger::BatchCheck> {
    let paid = huiqi_ledger::read_paid_file(path)?;
    routes::zone::authorize_paid(&p.s, &p.c, &paid).await?;
    Ok(crate::ledger_read!(p.s, |l| l.check_batch_file(&paid).await).await??)
}

/// Pays what the previewed file names (the API's payment: Cedar again, then the ledger, which
/// validates the whole file again before any write).
pub async fn apply(p: Page, f: Form) -> Response {
    let r = apply_inner(&p, &f).await;
    p.finish(r)
}

async fn apply_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let token = f.get("token").unwrap_or("");
    let gone = || {
        ApiError::not_found(
            "该上传文件（已处理或已过期）",
            "upload (applied or expired)",
        )
    };
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let dir = p.s.cfg.work.join(format!("paid-upload-{token}"));
    let owner = std::fs::read_to_string(dir.join("owner")).map_err(|_| gone())?;
    if owner != p.p().user {
        return Err(gone());
    }
    let partial = f.get("partial") == Some("1");
    let r = routes::zone::pay_checked(&p.s, &p.c, &dir.join("paid.csv"), partial).await;
    let _ = std::fs::remove_dir_all(&dir);
    let sum = r?;
    Ok(see_other(&format!(
        "/finance?done=paid&n={}&batch={}",
        sum.paid, sum.batch
    )))
}
