//! Zone indicators as JSON, from the outputs `huiqi indicators --out` wrote (precomputed, each
//! file checked against its manifest and the set's hash when the server starts):
//! `GET /api/v1/indicators` (the set and its periods), `GET /api/v1/indicators/{period}` (every
//! figure by zone with 同口径 and 名义 growth, and the targets against 序时进度) and
//! `GET /api/v1/indicators/{period}/firms` (the firms behind one figure: the officer's
//! drill-down, summing exactly to the figure). Figures of fewer firms than the set's `min_cell`
//! are suppressed for every role but the officer's (统计法).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::{Extension, Json};
use huiqi::indicators::{Output, Progress};
use huiqi_indicators::progress::shown;
use huiqi_indicators::{format_growth, format_value, IndicatorSet, Measure, Unit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Principal, Resource, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Query;
use crate::state::Shared;

/// The indicator outputs in service: the set and one output per period.
pub struct Indicators {
    pub set: IndicatorSet,
    pub periods: BTreeMap<String, Output>,
}

impl Indicators {
    /// Every output under `dir` (each a subdirectory written by `huiqi indicators --out`),
    /// verified against its manifest and computed by this very set.
    pub fn load(dir: &Path, set: &Path) -> huiqi::Result<Indicators> {
        let set_loaded = huiqi::indicators::load_set(set)?;
        let mut periods = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| huiqi::Error::io(dir, e))?;
        let mut dirs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join(huiqi_indicators::output::MANIFEST).is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let out = huiqi::indicators::read_output_of(&d, &set_loaded)?;
            periods.insert(out.manifest.period.clone(), out);
        }
        Ok(Indicators {
            set: set_loaded,
            periods,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SetOut {
    pub name: String,
    pub version: String,
    pub hash: String,
    /// Periods computed, `YYYY-MM` (1..=M月), oldest first.
    pub periods: Vec<String>,
    pub zones: Vec<String>,
    /// Cells of fewer firms are suppressed outside the officer's role.
    pub min_cell: u64,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct FigureOut {
    pub indicator: String,
    pub label: String,
    pub group: String,
    pub zone: String,
    pub unit: String,
    pub measure: String,
    /// In `unit`, rounded as tables show it (亿元 to 0.01, % to 0.1); null when suppressed.
    pub value: Option<String>,
    /// A sum or ratio over no firm (e.g. annual figures not yet filed): shown as —.
    pub no_data: bool,
    /// Exact: 元 for money, firms for counts, a fraction for ratios (up to 12 decimals).
    pub value_exact: Option<String>,
    /// The same months a year earlier, exact: this year's firms (同口径 base) and last year's
    /// firms (名义 base).
    pub same_base_exact: Option<String>,
    pub nominal_base_exact: Option<String>,
    pub firms: Option<i64>,
    /// 同口径: this year's firms against their own figures a year earlier (percent, 0.1).
    pub growth_same_set_pct: Option<String>,
    /// 名义: against last year's firms and figures.
    pub growth_nominal_pct: Option<String>,
    /// For ratios: the change in percentage points against the same months a year earlier.
    pub change_pp: Option<String>,
    pub entries: Option<i64>,
    pub exits: Option<i64>,
    /// Fewer firms than the set's `min_cell` (and the caller is not the officer).
    pub suppressed: bool,
    pub source: String,
    pub definition: String,
}

#[derive(Serialize, ToSchema)]
pub struct IndicatorsOut {
    pub set_name: String,
    pub set_version: String,
    pub set_hash: String,
    pub snapshot_hash: String,
    pub period: String,
    pub zones: Vec<String>,
    pub firms_without_zone: u64,
    /// What was not computed and why (e.g. a selection without the run of its year).
    pub notes: Vec<String>,
    pub figures: Vec<FigureOut>,
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<Progress>,
    /// Whether the caller may list the firms behind a figure.
    pub drill_down: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ZoneQ {
    /// Only this zone.
    pub zone: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FirmsQ {
    pub indicator: String,
    pub zone: String,
}

#[derive(Serialize, ToSchema)]
pub struct FirmRowOut {
    pub firm_id: String,
    pub name: String,
    pub in_current: bool,
    pub in_base: bool,
    /// The zone a year earlier, when different.
    pub zone_base: Option<String>,
    pub value_exact: String,
    pub base_value_exact: String,
}

#[derive(Serialize, ToSchema)]
pub struct FirmsOut {
    pub indicator: String,
    pub label: String,
    pub zone: String,
    pub period: String,
    pub unit: String,
    /// The figure these rows sum to (Σ value_exact over in_current rows).
    pub value_exact: String,
    pub same_base_exact: String,
    pub nominal_base_exact: String,
    pub firms: Vec<FirmRowOut>,
}

fn served(s: &Shared) -> ApiResult<&Arc<Indicators>> {
    s.indicators
        .as_ref()
        .ok_or_else(|| ApiError::not_found("区级指标", "indicators"))
}

fn exact(v: i128) -> String {
    shown(v, Unit::Yuan)
        .map(|d| d.normalize().to_string())
        .unwrap_or_default()
}

fn measure_name(m: Measure) -> &'static str {
    match m {
        Measure::Sum => "sum",
        Measure::Count => "count",
        Measure::New => "new",
        Measure::Ratio => "ratio",
        Measure::Selected => "selected",
        Measure::Investment => "investment",
    }
}

/// The figures of one period as the caller may see them.
pub fn figures_out(
    ind: &Indicators,
    out: &Output,
    p: &Principal,
    zone: Option<&str>,
) -> Vec<FigureOut> {
    let officer = p.role == Role::Officer;
    let min = ind.set.min_cell as i64;
    let mut v = vec![];
    for i in &ind.set.indicators {
        for f in out.figures.iter().filter(|f| f.indicator == i.id) {
            if zone.is_some_and(|z| z != f.zone) {
                continue;
            }
            // A ratio's cell holds its denominator's firms.
            let suppressed = !officer && f.firms > 0 && f.firms < min;
            let ratio = i.measure == Measure::Ratio;
            let pp = |b: i128| {
                shown(f.value - b, Unit::Percent).map(|d| format!("{:+.1}", d.round_dp(1)))
            };
            v.push(FigureOut {
                indicator: i.id.clone(),
                label: i.label.clone(),
                group: i.group.clone(),
                zone: f.zone.clone(),
                unit: i.unit.as_str().into(),
                measure: measure_name(i.measure).into(),
                value: (!suppressed && !f.no_data(i.measure))
                    .then(|| format_value(f.value, i.unit)),
                value_exact: (!suppressed).then(|| exact(f.value)),
                same_base_exact: (!suppressed).then(|| exact(f.same_base)),
                nominal_base_exact: (!suppressed).then(|| exact(f.nominal_base)),
                firms: (!suppressed).then_some(f.firms),
                growth_same_set_pct: (!suppressed)
                    .then(|| f.same_set_growth(i.measure).map(|g| g.to_string()))
                    .flatten(),
                growth_nominal_pct: (!suppressed)
                    .then(|| f.nominal_growth(i.measure).map(|g| g.to_string()))
                    .flatten(),
                no_data: f.no_data(i.measure),
                change_pp: (!suppressed && ratio).then(|| pp(f.same_base)).flatten(),
                entries: (!suppressed && !ratio).then_some(f.entries),
                exits: (!suppressed && !ratio).then_some(f.exits),
                suppressed,
                source: i.source.clone(),
                definition: i.definition.clone(),
            });
        }
    }
    v
}

/// `format_growth` of a figure's 同口径 growth, for pages.
pub fn growth_text(g: &Option<String>) -> String {
    format_growth(g.as_deref().and_then(|x| x.parse().ok()))
}

/// The indicator set in service and the periods computed.
#[utoipa::path(get, path = "/api/v1/indicators", tag = "indicators",
    responses((status = 200, body = SetOut), (status = 404, body = ErrorBody, description = "no indicators in service")))]
pub async fn list(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<SetOut>> {
    s.authorize(&c.principal, Act::ViewIndicators, &Resource::Zone)
        .await?;
    let ind = served(&s)?;
    Ok(Json(SetOut {
        name: ind.set.name.clone(),
        version: ind.set.version.clone(),
        hash: ind.set.hash.clone(),
        periods: ind.periods.keys().cloned().collect(),
        zones: ind
            .periods
            .values()
            .next_back()
            .map(|o| o.manifest.zones.clone())
            .unwrap_or_default(),
        min_cell: ind.set.min_cell,
    }))
}

/// One period's output, or 404 naming the periods there are.
pub fn period_of<'a>(ind: &'a Indicators, period: &str) -> ApiResult<&'a Output> {
    ind.periods.get(period).ok_or_else(|| {
        ApiError::not_found("该期间的指标", "indicators for that period").hint(
            format!(
                "已计算的期间：{}",
                ind.periods.keys().cloned().collect::<Vec<_>>().join("、")
            ),
            format!(
                "periods computed: {}",
                ind.periods.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// Every figure of a period by zone, and the targets of its year.
#[utoipa::path(get, path = "/api/v1/indicators/{period}", tag = "indicators", params(("period" = String, Path, description = "YYYY-MM"), ZoneQ),
    responses((status = 200, body = IndicatorsOut), (status = 404, body = ErrorBody)))]
pub async fn period(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    UrlPath(period): UrlPath<String>,
    Query(q): Query<ZoneQ>,
) -> ApiResult<Json<IndicatorsOut>> {
    Ok(Json(
        period_out(&s, &c.principal, &period, q.zone.as_deref()).await?,
    ))
}

pub async fn period_out(
    s: &Shared,
    p: &Principal,
    period: &str,
    zone: Option<&str>,
) -> ApiResult<IndicatorsOut> {
    s.authorize(p, Act::ViewIndicators, &Resource::Zone).await?;
    let ind = served(s)?;
    let out = period_of(ind, period)?;
    if let Some(z) = zone {
        if !out.manifest.zones.iter().any(|x| x == z) {
            return Err(ApiError::invalid("没有这个园区", "no such zone").field("zone"));
        }
    }
    let figures = figures_out(ind, out, p, zone);
    let officer = p.role == Role::Officer;
    let min = ind.set.min_cell as i64;
    let targets = huiqi_indicators::progress(&ind.set, out.period, &out.figures)
        .into_iter()
        .filter(|t| zone.is_none_or(|z| z == t.zone))
        .map(|mut t| {
            let firms = out
                .figures
                .iter()
                .find(|f| f.indicator == t.indicator && f.zone == t.zone)
                .map_or(0, |f| f.firms);
            if !officer && firms > 0 && firms < min {
                t.actual = None;
                t.completion = None;
                t.gap_pp = None;
                t.colour = None;
            }
            t
        })
        .collect();
    Ok(IndicatorsOut {
        set_name: ind.set.name.clone(),
        set_version: ind.set.version.clone(),
        set_hash: ind.set.hash.clone(),
        snapshot_hash: out.manifest.snapshot_hash.clone(),
        period: out.manifest.period.clone(),
        zones: out.manifest.zones.clone(),
        firms_without_zone: out.manifest.firms_without_zone,
        notes: out.manifest.notes.clone(),
        figures,
        targets,
        drill_down: s.authz.allowed(p, Act::ViewIndicatorFirms, &Resource::Zone),
    })
}

/// The firms behind one figure (officer only): every firm in the set now or a year earlier,
/// with its value and its value a year earlier; the `in_current` rows sum to the figure.
#[utoipa::path(get, path = "/api/v1/indicators/{period}/firms", tag = "indicators", params(("period" = String, Path, description = "YYYY-MM"), FirmsQ),
    responses((status = 200, body = FirmsOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn firms(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    UrlPath(period): UrlPath<String>,
    Query(q): Query<FirmsQ>,
) -> ApiResult<Json<FirmsOut>> {
    Ok(Json(firms_out(&s, &c.principal, &period, &q).await?))
}

pub async fn firms_out(s: &Shared, p: &Principal, period: &str, q: &FirmsQ) -> ApiResult<FirmsOut> {
    s.authorize(p, Act::ViewIndicatorFirms, &Resource::Zone)
        .await?;
    let ind = served(s)?;
    let out = period_of(ind, period)?;
    let i = ind
        .set
        .indicator(&q.indicator)
        .ok_or_else(|| ApiError::not_found("该指标", "indicator"))?;
    if i.measure == Measure::Ratio {
        return Err(ApiError::invalid(
            "比率指标没有企业名单：请分别查看分子与分母",
            "a ratio has no firm list: see its numerator and denominator",
        )
        .field("indicator"));
    }
    let f = out
        .figures
        .iter()
        .find(|f| f.indicator == q.indicator && f.zone == q.zone)
        .ok_or_else(|| ApiError::not_found("该园区的指标", "indicator in that zone"))?;
    let rows = out
        .firms
        .iter()
        .filter(|r| r.indicator == q.indicator)
        .filter(|r| {
            (r.in_current && r.zone.as_deref() == Some(&q.zone))
                || (r.in_base && r.zone_base.as_deref() == Some(&q.zone))
        })
        .map(|r| FirmRowOut {
            firm_id: r.firm_id.clone(),
            name: r.name.clone(),
            in_current: r.in_current && r.zone.as_deref() == Some(&q.zone),
            in_base: r.in_base && r.zone_base.as_deref() == Some(&q.zone),
            zone_base: (r.zone_base != r.zone)
                .then(|| r.zone_base.clone())
                .flatten(),
            value_exact: exact(r.value),
            base_value_exact: exact(r.base_value),
        })
        .collect();
    Ok(FirmsOut {
        indicator: i.id.clone(),
        label: i.label.clone(),
        zone: q.zone.clone(),
        period: out.manifest.period.clone(),
        unit: i.unit.as_str().into(),
        value_exact: exact(f.value),
        same_base_exact: exact(f.same_base),
        nominal_base_exact: exact(f.nominal_base),
        firms: rows,
    })
}
