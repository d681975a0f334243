//! The leader's dashboard as JSON: `GET /api/v1/dashboard` — the reconciliation (budget vs
//! computed vs approved vs paid vs recovered by clause), money and lines by state and by clause,
//! firms reached and paid, days from computation to payment, overdue lines. Computed in the
//! ledger by a few aggregate queries and kept until the ledger changes (the audit chain's head
//! names the state it was computed from) or the day turns (the overdue cut-off moves).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Query;
use crate::routes::zone::{recon_out, ReconOut};
use crate::state::Shared;

/// 60 working days: the time limit 惠企 rules commonly set for paying an award once it is due.
pub const DEFAULT_OVERDUE_WORKING_DAYS: i64 = 60;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DashQ {
    /// The period (default: the latest in the ledger).
    pub period: Option<i64>,
    /// A line waiting more than this many working days (工作日: weekends, public holidays and
    /// exchanged days counted as in China) for its next step is overdue (default 60, 1–365).
    pub overdue_days: Option<i64>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct StateOut {
    pub state: String,
    pub state_zh: String,
    pub lines: i64,
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub firms: i64,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ClauseStateOut {
    pub clause: String,
    /// Firms with a line of the clause that is neither rejected nor superseded.
    pub firms: i64,
    /// state → 分 (superseded lines left out).
    pub fen_by_state: std::collections::BTreeMap<String, i64>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct BucketOut {
    pub days: String,
    pub lines: i64,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct DaysOut {
    pub paid_lines: i64,
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub max: Option<i64>,
    /// The same in working days.
    pub median_working: Option<i64>,
    pub p90_working: Option<i64>,
    pub max_working: Option<i64>,
    pub buckets: Vec<BucketOut>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct OverdueOut {
    pub line: i64,
    pub firm: String,
    pub name: String,
    pub clause: String,
    pub state: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
    /// When the line entered its state.
    pub since: String,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct DashboardOut {
    pub period: i64,
    pub reconciliation: ReconOut,
    pub by_state: Vec<StateOut>,
    pub by_clause: Vec<ClauseStateOut>,
    pub firms_reached: i64,
    pub firms_paid: i64,
    /// Firms in the served snapshot.
    pub firms_in_snapshot: usize,
    pub days_to_pay: DaysOut,
    pub overdue_days: i64,
    pub overdue_total: i64,
    pub overdue_yuan: String,
    pub overdue_fen: i64,
    /// The oldest 50.
    pub overdue: Vec<OverdueOut>,
    /// The audit chain's head these figures were computed from.
    pub ledger_seq: i64,
}

/// (period asked, overdue days, cut-off) → (ledger head, figures).
type Key = (Option<i64>, i64, String);

/// The dashboards computed at the ledger's current head, by what was asked.
#[derive(Default)]
pub struct DashCache(Mutex<HashMap<Key, (i64, Arc<DashboardOut>)>>);

/// Figures kept at once: the pages ask for a few periods (the dashboard's, the indicators'
/// year and the latest, the finance page's), each recomputed only when the ledger moves.
const DASH_KEYS: usize = 16;

impl DashCache {
    fn get(&self, k: &Key, seq: i64) -> Option<Arc<DashboardOut>> {
        let g = self.0.lock().ok()?;
        match g.get(k) {
            Some((s, d)) if *s == seq => Some(d.clone()),
            _ => None,
        }
    }
    fn put(&self, k: Key, seq: i64, d: Arc<DashboardOut>) {
        if let Ok(mut g) = self.0.lock() {
            // Figures of an older ledger state are of no further use.
            g.retain(|_, (s, _)| *s == seq);
            if g.len() >= DASH_KEYS {
                g.clear();
            }
            g.insert(k, (seq, d));
        }
    }
}

/// The dashboard's figures (leader, auditor, finance — whoever may reconcile).
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "ledger", params(DashQ),
    responses((status = 200, body = DashboardOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "nothing recorded yet")))]
pub async fn dashboard(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<DashQ>,
) -> ApiResult<Json<DashboardOut>> {
    Ok(Json((*figures(&s, &c, q).await?).clone()))
}

/// The figures, from the cache when the ledger has not changed since.
pub async fn figures(s: &Shared, c: &Caller, q: DashQ) -> ApiResult<Arc<DashboardOut>> {
    s.authorize(&c.principal, Act::Reconcile, &Resource::Zone)
        .await?;
    let days = q.overdue_days.unwrap_or(DEFAULT_OVERDUE_WORKING_DAYS);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid(
            "逾期工作日数应在1至365之间",
            "overdue_days (working days) is 1 to 365",
        )
        .field("overdue_days"));
    }
    // The cut-off at the start of a day in China, so the cache holds for the day.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cut = huiqi_ledger::calendar::overdue_cutoff(&now, days).unwrap_or(now);
    let key: Key = (q.period, days, cut.clone());
    let seq = crate::ledger_read!(s, |l| huiqi::ledger::head_seq(l).await).await??;
    if let Some(d) = s.dashboards.get(&key, seq) {
        return Ok(d);
    }
    let (st, period) = (s.clone(), q.period);
    let (seq, recon, dash) = crate::ledger_read!(s, |l| {
        let seq = huiqi::ledger::head_seq(l).await?;
        let src = huiqi::ledger::BudgetSource::Program(&st.program);
        let recon = huiqi::ledger::reconcile(l, period, src).await?;
        let dash = match &recon {
            Some(r) => huiqi::ledger::dashboard(l, Some(r.period), &cut).await?,
            None => None,
        };
        Ok::<_, huiqi::Error>((seq, recon, dash))
    })
    .await??;
    let (Some(recon), Some(d)) = (recon, dash) else {
        return Err(ApiError::not_found("台账记录", "recorded run"));
    };
    let y = huiqi_ledger::yuan;
    let zh = |st: &str| {
        huiqi_ledger::State::parse(st)
            .map(|x| x.zh().to_string())
            .unwrap_or_else(|| st.to_string())
    };
    let out = Arc::new(DashboardOut {
        period: d.period,
        reconciliation: recon_out(recon),
        by_state: d
            .by_state
            .iter()
            .map(|f| StateOut {
                state_zh: zh(&f.state),
                state: f.state.clone(),
                lines: f.lines,
                amount_yuan: y(f.fen),
                amount_fen: f.fen,
                firms: f.firms,
            })
            .collect(),
        by_clause: d
            .by_clause
            .iter()
            .map(|(c, m)| ClauseStateOut {
                firms: d.firms_by_clause.get(c).copied().unwrap_or(0),
                clause: c.clone(),
                fen_by_state: m.clone(),
            })
            .collect(),
        firms_reached: d.firms_reached,
        firms_paid: d.firms_paid,
        firms_in_snapshot: s.served().firms.len(),
        days_to_pay: DaysOut {
            paid_lines: d.days_to_pay.paid_lines,
            median: d.days_to_pay.median,
            p90: d.days_to_pay.p90,
            max: d.days_to_pay.max,
            median_working: d.days_to_pay.median_working,
            p90_working: d.days_to_pay.p90_working,
            max_working: d.days_to_pay.max_working,
            buckets: d
                .days_to_pay
                .buckets
                .iter()
                .map(|(k, n)| BucketOut {
                    days: k.clone(),
                    lines: *n,
                })
                .collect(),
        },
        overdue_days: days,
        overdue_total: d.overdue_total,
        overdue_yuan: y(d.overdue_fen),
        overdue_fen: d.overdue_fen,
        overdue: d
            .overdue
            .iter()
            .map(|o| OverdueOut {
                line: o.line,
                firm: o.firm_id.clone(),
                name: o.name.clone(),
                clause: o.clause.clone(),
                state: o.state.clone(),
                amount_yuan: y(o.fen),
                amount_fen: o.fen,
                since: o.since.clone(),
            })
            .collect(),
        ledger_seq: seq,
    });
    s.dashboards.put(key, seq, out.clone());
    Ok(out)
}
