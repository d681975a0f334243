//! An award figure traced: `GET /api/v1/lines/{id}/trace` — the line's entitlement, the run
//! that produced it (policy name and content hash, snapshot hash, engine version, results file
//! hash, who recorded it), every version of the entitlement, its payment, its audit events —
//! and, when the server serves that very policy and snapshot, the figure recomputed now by the
//! reference evaluator and compared with the ledger.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::state::{AppState, Shared};

#[derive(Serialize, ToSchema)]
pub struct RunOut {
    pub run_id: String,
    pub period: i64,
    pub policy_name: String,
    pub policy_hash: String,
    pub snapshot_hash: String,
    pub engine_version: String,
    pub results_sha256: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct VersionOut {
    pub line: i64,
    pub version: i64,
    pub kind: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub state: String,
    pub run_id: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub after: String,
    pub hash: String,
}

/// The figure recomputed now, when this server holds the run's policy and snapshot.
#[derive(Serialize, ToSchema)]
pub struct RecomputedOut {
    /// Whether it could be recomputed here.
    pub available: bool,
    pub amount_fen: Option<i64>,
    pub amount_yuan: Option<String>,
    /// Equal to the ledger's computed amount.
    pub matches: Option<bool>,
    pub zh: String,
    pub en: String,
}

#[derive(Serialize, ToSchema)]
pub struct TraceOut {
    pub line: i64,
    pub entitlement: i64,
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub state: String,
    /// The entitlement's latest run: what `computed_fen` comes from and what is recomputed.
    pub computed_run_id: String,
    /// What the entitlement's latest run computed.
    pub computed_yuan: String,
    pub computed_fen: i64,
    pub run: RunOut,
    pub versions: Vec<VersionOut>,
    /// (reference, paid at, by)
    #[schema(value_type = Option<Vec<String>>)]
    pub payment: Option<(String, String, String)>,
    pub events: Vec<EventOut>,
    pub recomputed: RecomputedOut,
}

/// The traced figure recomputed here: the firm as the run read it — from the served snapshot
/// when it is the run's, else from the run's own snapshot on this server (the one it started
/// with, one ingested here, or one a run derived with the ledger's award history under
/// `history/`, which every run started from the service reads), its files checked once per
/// process.
fn recompute(s: &AppState, t: &huiqi_ledger::trace::Trace) -> RecomputedOut {
    let firm = |hash: &str| {
        let served = s.served();
        if served.hash.as_deref() == Some(hash) {
            return served.firms.get(&t.firm_id).cloned().ok_or_else(|| {
                (
                    "快照中没有该企业".into(),
                    "the snapshot has no such firm".into(),
                )
            });
        }
        let dirs: Vec<_> = [
            s.cfg.snapshot.clone(),
            Some(s.cfg.work.join("snapshots")),
            Some(s.cfg.work.join("history")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(dir) = huiqi::ledger::find_snapshot(&dirs, hash) else {
            return Err((
                "本服务上找不到该测算所用的数据快照，无法当场复算（可用 huiqi run 按上述哈希复现）".into(),
                "this server does not hold the run's snapshot; it cannot recompute here (huiqi run with the hashes above reproduces it)".into(),
            ));
        };
        let known = s.verified_snapshots.lock().is_ok_and(|v| v.contains(hash));
        let f = huiqi::ledger::snapshot_firm(&s.program, &dir, hash, &t.firm_id, !known)?;
        if let Ok(mut v) = s.verified_snapshots.lock() {
            v.insert(hash.to_string());
        }
        Ok(f)
    };
    let r = huiqi::ledger::recompute(&s.program, t, firm);
    RecomputedOut {
        available: r.fen.is_some(),
        amount_fen: r.fen,
        amount_yuan: r.fen.map(huiqi_ledger::yuan),
        matches: r.matches,
        zh: r.zh,
        en: r.en,
    }
}

/// Characters of an event's `after` a trace shows.
const TRACE_HEAD: i64 = 600;

/// A line's figure traced to its run, policy and snapshot, with its versions, payment and
/// audit events, recomputed when possible.
#[utoipa::path(get, path = "/api/v1/lines/{id}/trace", tag = "audit",
    params(("id" = i64, Path)),
    responses((status = 200, body = TraceOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn trace(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<TraceOut>> {
    let t = crate::ledger_read!(s, |l| huiqi::ledger::trace(l, id).await).await??;
    let Some(t) = t else {
        // The same answer as another firm's line: nothing says whether it exists.
        if c.principal.is_anonymous() {
            return Err(ApiError::unauthenticated());
        }
        return Err(ApiError::not_found("该明细", "line"));
    };
    let res = Resource::Line {
        id: t.line,
        firm: t.firm_id.clone(),
        clause: t.clause.clone(),
        state: t.state.clone(),
        approved_by: None,
    };
    s.authorize(&c.principal, Act::ViewLine, &res).await?;
    // The events that made and moved it: the run's record, the entitlement's refigures, the
    // line's own steps.
    let entities = [
        format!("run:{}", t.run.run_id),
        format!("entitlement:{}", t.entitlement),
        format!("item:{id}"),
    ];
    let mut events = crate::ledger_read!(s, |l| {
        let mut all = vec![];
        for e in &entities {
            all.extend(
                huiqi::ledger::events(l, Some(e), 0, 200, TRACE_HEAD)
                    .await?
                    .1,
            );
        }
        Ok::<_, huiqi::Error>(all)
    })
    .await??;
    events.sort_by_key(|e| e.event.seq);
    let y = huiqi_ledger::yuan;
    // Reading the run's own snapshot is file work (checked once, then one firm's rows).
    let (s2, t2) = (s.clone(), t.clone());
    let recomputed = tokio::task::spawn_blocking(move || recompute(&s2, &t2))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(TraceOut {
        line: t.line,
        entitlement: t.entitlement,
        amount_yuan: y(t.fen),
        amount_fen: t.fen,
        computed_yuan: y(t.computed_fen),
        computed_fen: t.computed_fen,
        computed_run_id: t.computed_by.run_id.clone(),
        run: RunOut {
            run_id: t.run.run_id.clone(),
            period: t.run.period,
            policy_name: t.run.policy_name.clone(),
            policy_hash: t.run.policy_hash.clone(),
            snapshot_hash: t.run.snapshot_hash.clone(),
            engine_version: t.run.engine_version.clone(),
            results_sha256: t.run.results_sha256.clone(),
            recorded_at: t.run.recorded_at.clone(),
            recorded_by: t.run.recorded_by.clone(),
        },
        versions: t
            .versions
            .iter()
            .map(|v| VersionOut {
                line: v.line,
                version: v.version,
                kind: v.kind.clone(),
                amount_yuan: y(v.fen),
                amount_fen: v.fen,
                state: v.state.clone(),
                run_id: v.run_id.clone(),
                created_at: v.created_at.clone(),
            })
            .collect(),
        payment: t.payment.clone(),
        events: events
            .into_iter()
            .map(|h| {
                let whole = h.whole();
                let e = h.event;
                EventOut {
                    seq: e.seq,
                    at: e.at,
                    actor: e.actor,
                    action: e.action,
                    // A run's record event lists its lines' digest: long; its head is enough here.
                    after: if whole { e.after } else { e.after + "…" },
                    hash: e.hash,
                }
            })
            .collect(),
        recomputed,
        firm: t.firm_id,
        name: t.name,
        clause: t.clause,
        period: t.period,
        tranche: t.tranche,
        kind: t.kind,
        state: t.state,
    }))
}
