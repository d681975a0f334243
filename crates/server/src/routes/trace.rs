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

fn recompute(s: &AppState, t: &huiqi_ledger::trace::Trace) -> RecomputedOut {
    let no = |zh: &str, en: &str| RecomputedOut {
        available: false,
        amount_fen: None,
        amount_yuan: None,
        matches: None,
        zh: zh.into(),
        en: en.into(),
    };
    let served = s.served();
    let same_snapshot = served.hash.as_deref() == Some(t.run.snapshot_hash.as_str());
    if s.program.hash != t.run.policy_hash || !same_snapshot {
        return no(
            "本服务当前的政策版本或数据快照与该测算不同，无法当场复算（可用 huiqi run 按上述哈希复现）",
            "this server serves another policy version or snapshot than the run's; it cannot recompute here (huiqi run with the hashes above reproduces it)",
        );
    }
    let Some(c) = s.program.clause_by_name(&t.clause) else {
        return no("政策包中没有该条款", "the pack has no such clause");
    };
    if huiqi::catalogue::population_clause(&s.program, c) {
        return no(
            "该条款按全体企业分配（资金池或遴选），单户不能复算",
            "the clause is allocated over all firms (a pool or a ranking): one firm alone cannot recompute it",
        );
    }
    let Some(firm) = served.firms.get(&t.firm_id) else {
        return no("快照中没有该企业", "the snapshot has no such firm");
    };
    let Ok(year) = i32::try_from(t.period) else {
        return no("年度无效", "bad period");
    };
    let e = match huiqi::explain::explain(&s.program, firm.clone(), Some(year), None) {
        Ok(e) => e,
        Err(e) => return no(&e.to_string(), &e.to_string()),
    };
    let fen = e
        .outcome()
        .clauses
        .iter()
        .find(|x| x.clause == c)
        .and_then(|x| x.tranches.iter().find(|tr| tr.tranche == t.tranche))
        .map(|tr| huiqi_ir::money::to_fen(tr.amount))
        .unwrap_or(0);
    let matches = fen == t.computed_fen;
    RecomputedOut {
        available: true,
        amount_fen: Some(fen),
        amount_yuan: Some(huiqi_ledger::yuan(fen)),
        matches: Some(matches),
        zh: if matches {
            "按该测算的政策版本与数据快照当场复算，金额与台账一致".into()
        } else {
            "当场复算金额与台账不一致，请核查".into()
        },
        en: if matches {
            "recomputed here from the run's policy version and snapshot: the ledger's amount matches".into()
        } else {
            "recomputed here: the amount differs from the ledger's — investigate".into()
        },
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
    let recomputed = recompute(&s, &t);
    Ok(Json(TraceOut {
        line: t.line,
        entitlement: t.entitlement,
        amount_yuan: y(t.fen),
        amount_fen: t.fen,
        computed_yuan: y(t.computed_fen),
        computed_fen: t.computed_fen,
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
