//! `/indicators`: the zone indicators — the seed's zones side by side or one zone at a time;
//! a card per figure (value, firms, 同口径 and 名义 growth, entries and exits), a chart of the
//! zone's money figures against the same months a year earlier, a trend over the periods
//! computed, and the targets table (完成率 against 序时进度, coloured by the gap). The officer
//! follows a card to `/indicators/firms`, the firms that sum to it. Figures are the API's
//! (`GET /api/v1/indicators/{period}`), suppression included.

use axum::response::Response;
use serde_json::{json, Value};

use super::{query_param, render, Layout, Page};
use crate::error::{ApiError, ApiResult};
use crate::routes::indicators::{
    firms_out, growth_text, period_out, FigureOut, FirmRowOut, FirmsQ,
};
use huiqi_indicators::Colour;

pub struct Card {
    pub indicator: String,
    pub label: String,
    pub value: String,
    pub unit: String,
    /// 企业, or 项目 for investment (固投) figures.
    pub firms_label: String,
    pub firms: String,
    pub same: String,
    pub nominal: String,
    pub inout: String,
    pub title: String,
    pub suppressed: bool,
    pub href: Option<String>,
}

pub struct Group {
    pub name: String,
    pub cards: Vec<Card>,
}

pub struct ZoneView {
    pub zone: String,
    pub groups: Vec<Group>,
}

pub struct TargetRow {
    pub zone: String,
    pub label: String,
    pub department: String,
    pub target: String,
    pub actual: String,
    pub completion: String,
    pub pace: String,
    pub gap: String,
    pub colour: &'static str,
    pub colour_text: String,
}

/// One indicator across the zones shown (the seed page's zones side by side).
pub struct CompareRow {
    pub label: String,
    pub unit: String,
    /// Per zone: the value and its growth (同口径 for sums, 名义 for counts).
    pub cells: Vec<(String, String)>,
}

pub struct ChartView {
    pub id: String,
    pub title: String,
    pub option: String,
}

/// The money the zone's policies pay, beside its indicators (from the ledger, as the 驾驶舱
/// computes it): by clause, budget → approved → 公示 → paid → recovered, firms reached; days
/// from computation to payment and lines overdue, in working days.
pub struct MoneyView {
    /// The ledger's period shown (the indicators' year when recorded, else the latest).
    pub period: i64,
    pub rows: Vec<MoneyRow>,
    pub total: MoneyRow,
    pub median_working: String,
    pub overdue_days: i64,
    pub overdue_total: i64,
    pub overdue_amount: String,
}

pub struct MoneyRow {
    pub label: String,
    pub budget: String,
    pub approved: String,
    pub announced: String,
    pub paid: String,
    pub recovered: String,
    pub firms: String,
}

#[derive(askama::Template)]
#[template(path = "indicators.html")]
struct IndicatorsPage {
    l: Layout,
    none: bool,
    periods: Vec<(String, String, bool)>,
    zones: Vec<(String, bool)>,
    set: String,
    snapshot: String,
    views: Vec<ZoneView>,
    compare_zones: Vec<String>,
    compare: Vec<CompareRow>,
    charts: Vec<ChartView>,
    targets: Vec<TargetRow>,
    unzoned: u64,
    notes: Vec<String>,
    /// The export link's query (period and zone).
    export: String,
    /// The caller may read the money by policy (the 驾驶舱).
    money: bool,
    money_view: Option<MoneyView>,
}

#[derive(askama::Template)]
#[template(path = "indicator_firms.html")]
struct FirmsPage {
    l: Layout,
    label: String,
    zone: String,
    period: String,
    unit: String,
    total: String,
    same_base: String,
    nominal_base: String,
    count: usize,
    rows: Vec<FirmRowOut>,
    back: String,
}

/// `2021-11` → `2021年1–11月` (or `1–11月 2021`).
fn period_text(p: &Page, period: &str) -> String {
    match period.split_once('-') {
        Some((y, m)) => {
            let m = m.trim_start_matches('0');
            p.t("ind.period").replace("{y}", y).replace("{m}", m)
        }
        None => period.to_string(),
    }
}

fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p).await;
    p.finish(r)
}

async fn page_inner(p: &Page) -> ApiResult<Response> {
    let mut l = p.layout("ind.title");
    let Some(ind) = p.s.indicators.clone() else {
        p.s.authorize(
            &p.c.principal,
            crate::authz::Act::ViewIndicators,
            &crate::authz::Resource::Zone,
        )
        .await?;
        return render(&IndicatorsPage {
            l,
            none: true,
            periods: vec![],
            zones: vec![],
            set: String::new(),
            snapshot: String::new(),
            views: vec![],
            compare_zones: vec![],
            compare: vec![],
            charts: vec![],
            targets: vec![],
            unzoned: 0,
            notes: vec![],
            export: String::new(),
            money: false,
            money_view: None,
        });
    };
    let period = query_param(&p.path, "period")
        .filter(|x| !x.is_empty())
        .or_else(|| ind.periods.keys().next_back().cloned())
        .unwrap_or_default();
    let zone = query_param(&p.path, "zone").filter(|x| !x.is_empty());
    let d = period_out(&p.s, &p.c.principal, &period, zone.as_deref()).await?;
    l.charts = true;
    let mut views = vec![];
    let shown_zones: Vec<&String> = d
        .zones
        .iter()
        .filter(|z| zone.as_ref().is_none_or(|x| x == *z))
        .collect();
    for z in &shown_zones {
        let mut groups: Vec<Group> = vec![];
        for f in d.figures.iter().filter(|f| &f.zone == *z) {
            let card = card(p, &d.period, f, d.drill_down);
            match groups.iter_mut().find(|g| g.name == f.group) {
                Some(g) => g.cards.push(card),
                None => groups.push(Group {
                    name: f.group.clone(),
                    cards: vec![card],
                }),
            }
        }
        views.push(ZoneView {
            zone: (*z).clone(),
            groups,
        });
    }
    // Every indicator across the zones, when more than one is shown.
    let mut compare = vec![];
    if shown_zones.len() > 1 {
        for i in &ind.set.indicators {
            let cells: Vec<(String, String)> = shown_zones
                .iter()
                .map(|z| {
                    d.figures
                        .iter()
                        .find(|f| f.indicator == i.id && &f.zone == *z)
                        .map(|f| {
                            let c = card(p, &d.period, f, false);
                            let g = if f.measure == "sum" {
                                c.same
                            } else {
                                c.nominal
                            };
                            (c.value, g)
                        })
                        .unwrap_or_else(|| ("·".into(), String::new()))
                })
                .collect();
            compare.push(CompareRow {
                label: i.label.clone(),
                unit: i.unit.as_str().into(),
                cells,
            });
        }
    }
    // The money figures of each zone shown: this period against the same months a year
    // earlier (同口径 base), exact 亿元 from the API's exact 元.
    let yi = |exact: &Option<String>| -> Value {
        exact
            .as_deref()
            .and_then(|e| e.parse::<rust_decimal::Decimal>().ok())
            .map(|d| {
                let v = (d / rust_decimal::Decimal::from(100_000_000)).round_dp(2);
                serde_json::from_str::<Value>(&v.to_string()).unwrap_or(Value::Null)
            })
            .unwrap_or(Value::Null)
    };
    let mut charts = vec![];
    for (k, z) in shown_zones.iter().enumerate() {
        let money: Vec<&FigureOut> = d
            .figures
            .iter()
            .filter(|f| {
                &f.zone == *z
                    && f.unit == "亿元"
                    && f.measure == "sum"
                    && !f.suppressed
                    && !f.no_data
            })
            .collect();
        if money.is_empty() {
            continue;
        }
        let base: Vec<Value> = money.iter().map(|f| yi(&f.same_base_exact)).collect();
        let option = json!({
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 8, "right": 16, "bottom": 8, "top": 36, "containLabel": true},
            "xAxis": {"type": "value", "name": p.t("ind.unit_yi")},
            "yAxis": {"type": "category", "data": money.iter().map(|f| f.label.clone()).collect::<Vec<_>>(), "inverse": true},
            "series": [
                {"name": period_text(p, &d.period), "type": "bar", "data": money.iter().map(|f| yi(&f.value_exact)).collect::<Vec<_>>()},
                {"name": p.t("ind.a_year_earlier"), "type": "bar", "data": base},
            ],
        });
        charts.push(ChartView {
            id: format!("chart-ind-{k}"),
            title: p.t("ind.chart.money").replace("{zone}", z),
            option: script_json(&option),
        });
    }
    // The trend of each money figure over the periods computed (when there are several).
    if ind.periods.len() > 1 && zone.is_some() {
        let z = zone.clone().unwrap_or_default();
        let labels: Vec<String> = ind.periods.keys().map(|k| period_text(p, k)).collect();
        let mut series = vec![];
        for i in ind
            .set
            .indicators
            .iter()
            .filter(|i| i.unit == huiqi_indicators::Unit::Yi)
        {
            let mut data = vec![];
            for k in ind.periods.keys() {
                let out = period_out(&p.s, &p.c.principal, k, Some(&z)).await?;
                let f = out.figures.iter().find(|f| f.indicator == i.id);
                data.push(f.map_or(Value::Null, |f| yi(&f.value_exact)));
            }
            if data.iter().any(|v| !v.is_null() && v.as_f64() != Some(0.0)) {
                series.push(json!({"name": i.label, "type": "line", "data": data}));
            }
        }
        if !series.is_empty() {
            charts.push(ChartView {
                id: "chart-ind-trend".into(),
                title: p.t("ind.chart.trend").replace("{zone}", &z),
                option: script_json(&json!({
                    "tooltip": {"trigger": "axis"},
                    "legend": {"top": 0, "type": "scroll"},
                    "grid": {"left": 8, "right": 16, "bottom": 8, "top": 48, "containLabel": true},
                    "xAxis": {"type": "category", "data": labels},
                    "yAxis": {"type": "value", "name": p.t("ind.unit_yi")},
                    "series": series,
                })),
            });
        }
    }
    let targets = d
        .targets
        .iter()
        .map(|t| {
            let dash = || "—".to_string();
            let (target, completion, pace) = match (t.target, t.target_growth) {
                (Some(v), _) => (
                    format!("{v} {}", t.unit),
                    t.completion.map(|c| format!("{c}%")).unwrap_or_else(dash),
                    t.pace.map(|c| format!("{c}%")).unwrap_or_else(dash),
                ),
                (None, Some(g)) => (
                    p.t("ind.growth_target").replace("{g}", &g.to_string()),
                    dash(),
                    dash(),
                ),
                _ => (dash(), dash(), dash()),
            };
            let actual = match (t.target, t.actual) {
                (Some(_), Some(a)) => format!("{} {}", a.round_dp(2), t.unit),
                (None, Some(a)) => huiqi_indicators::format_growth(Some(a)),
                _ => dash(),
            };
            let (colour, key) = match t.colour {
                Some(Colour::Green) => ("pace-green", "ind.green"),
                Some(Colour::Amber) => ("pace-amber", "ind.amber"),
                Some(Colour::Red) => ("pace-red", "ind.red"),
                None => ("", "ind.unknown"),
            };
            TargetRow {
                zone: t.zone.clone(),
                label: t.label.clone(),
                department: t.department.clone(),
                target,
                actual,
                completion,
                pace,
                gap: t.gap_pp.map(|g| format!("{g:+}")).unwrap_or_else(dash),
                colour,
                colour_text: p.t(key),
            }
        })
        .collect();
    let periods = ind
        .periods
        .keys()
        .map(|k| (k.clone(), period_text(p, k), *k == d.period))
        .collect();
    let zones = d
        .zones
        .iter()
        .map(|z| (z.clone(), zone.as_ref() == Some(z)))
        .collect();
    let money = p.s.authz.allowed(
        &p.c.principal,
        crate::authz::Act::Reconcile,
        &crate::authz::Resource::Zone,
    );
    render(&IndicatorsPage {
        l,
        none: false,
        periods,
        zones,
        set: format!("{} v{}", d.set_name, d.set_version),
        snapshot: d.snapshot_hash.get(..16).unwrap_or_default().to_string(),
        views,
        compare_zones: if compare.is_empty() {
            vec![]
        } else {
            shown_zones.iter().map(|z| (*z).clone()).collect()
        },
        compare,
        charts,
        targets,
        unzoned: d.firms_without_zone,
        notes: d.notes.clone(),
        export: format!(
            "period={}&zone={}",
            form_urlencoded::byte_serialize(d.period.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(zone.as_deref().unwrap_or("").as_bytes())
                .collect::<String>()
        ),
        money_view: if money {
            money_view(p, &d.period).await?
        } else {
            None
        },
        money,
    })
}

/// The ledger's money for the indicators' year (or the latest recorded period), as the 驾驶舱
/// has it; None when nothing is recorded.
async fn money_view(p: &Page, period: &str) -> ApiResult<Option<MoneyView>> {
    use crate::routes::dashboard::{figures, DashQ};
    let year = period.get(..4).and_then(|y| y.parse::<i64>().ok());
    let q = |period| DashQ {
        period,
        overdue_days: None,
    };
    // The indicators' year when the ledger holds lines of it, else its latest period.
    let d = match figures(&p.s, &p.c, q(year)).await {
        Ok(d) if !d.by_state.is_empty() => d,
        Ok(_) => figures(&p.s, &p.c, q(None)).await?,
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
            match figures(&p.s, &p.c, q(None)).await {
                Ok(d) => d,
                Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let state = |clause: &str, st: &str| {
        d.by_clause
            .iter()
            .find(|c| c.clause == clause)
            .and_then(|c| c.fen_by_state.get(st).copied())
            .unwrap_or(0)
    };
    let firms = |clause: &str| {
        d.by_clause
            .iter()
            .find(|c| c.clause == clause)
            .map_or(0, |c| c.firms)
    };
    let row = |r: &crate::routes::zone::ReconRowOut, announced: String, firms: String| MoneyRow {
        label: r.label.clone(),
        budget: r.budget_fen.map_or_else(|| "—".into(), |f| p.short(f)),
        approved: p.short(r.approved_fen),
        announced,
        paid: p.short(r.paid_fen),
        recovered: p.short(r.recovered_fen),
        firms,
    };
    let recon = &d.reconciliation;
    let mut rows = vec![];
    let mut announced_total = 0i64;
    for r in &recon.rows {
        // A pool's row over several clauses has no state or firm figures of its own.
        if !d.by_clause.iter().any(|c| c.clause == r.label) {
            rows.push(row(r, "—".into(), "—".into()));
            continue;
        }
        // 公示: lines announced (in or past their window) and those objected to.
        let a = state(&r.label, "announced").saturating_add(state(&r.label, "objected"));
        announced_total = announced_total.saturating_add(a);
        rows.push(row(r, p.short(a), firms(&r.label).to_string()));
    }
    let mut total = row(
        &recon.total,
        p.short(announced_total),
        d.firms_reached.to_string(),
    );
    total.label = p.t("ind.firms.total");
    Ok(Some(MoneyView {
        period: d.period,
        rows,
        total,
        median_working: d
            .days_to_pay
            .median_working
            .map_or_else(|| "—".into(), |x| x.to_string()),
        overdue_days: d.overdue_days,
        overdue_total: d.overdue_total,
        overdue_amount: p.money(d.overdue_fen),
    }))
}

fn card(p: &Page, period: &str, f: &FigureOut, drill: bool) -> Card {
    let dash = || "—".to_string();
    let ratio = f.measure == "ratio";
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Card {
        indicator: f.indicator.clone(),
        label: f.label.clone(),
        value: match (&f.value, f.suppressed) {
            (Some(v), _) => v.clone(),
            (None, true) => p.t("ind.suppressed"),
            (None, false) => p.t("ind.no_data"),
        },
        unit: if f.suppressed || f.no_data {
            String::new()
        } else {
            f.unit.clone()
        },
        firms_label: p.t(if f.measure == "investment" {
            "ind.projects"
        } else {
            "ind.firms"
        }),
        firms: f.firms.map(|n| n.to_string()).unwrap_or_else(dash),
        same: if ratio {
            f.change_pp
                .clone()
                .map(|x| format!("{x}pp"))
                .unwrap_or_else(dash)
        } else {
            growth_text(&f.growth_same_set_pct)
        },
        nominal: if ratio {
            dash()
        } else {
            growth_text(&f.growth_nominal_pct)
        },
        inout: match (f.entries, f.exits) {
            (Some(i), Some(o)) if !ratio => format!("+{i} / −{o}"),
            _ => dash(),
        },
        title: format!("{}（{}）", f.definition, f.source),
        suppressed: f.suppressed,
        href: (drill && !ratio).then(|| {
            format!(
                "/indicators/firms?period={}&indicator={}&zone={}",
                enc(period),
                enc(&f.indicator),
                enc(&f.zone)
            )
        }),
    }
}

pub async fn firms(p: Page) -> Response {
    let r = firms_inner(&p).await;
    p.finish(r)
}

async fn firms_inner(p: &Page) -> ApiResult<Response> {
    let l = p.layout("ind.firms.title");
    let need = |k: &str| {
        query_param(&p.path, k)
            .filter(|x| !x.is_empty())
            .ok_or_else(|| ApiError::invalid("缺少参数", "missing parameter").field(k.to_string()))
    };
    let (period, indicator, zone) = (need("period")?, need("indicator")?, need("zone")?);
    let d = firms_out(
        &p.s,
        &p.c.principal,
        &period,
        &FirmsQ {
            indicator,
            zone: zone.clone(),
        },
    )
    .await?;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    render(&FirmsPage {
        l,
        label: d.label,
        zone: d.zone,
        period: period_text(p, &d.period),
        unit: d.unit,
        total: d.value_exact,
        same_base: d.same_base_exact,
        nominal_base: d.nominal_base_exact,
        count: d.firms.iter().filter(|r| r.in_current).count(),
        rows: d.firms,
        back: format!("/indicators?period={}&zone={}", enc(&period), enc(&zone)),
    })
}

/// `/indicators/export.xlsx?period=&zone=`: the figures as the caller may see them (small cells
/// suppressed the same way) and the targets, one sheet each. Values as numbers for sums in
/// Excel, and the exact figure beside each as text.
pub async fn export(p: Page) -> Response {
    let r = export_inner(&p).await;
    p.finish(r)
}

async fn export_inner(p: &Page) -> ApiResult<Response> {
    let Some(ind) = p.s.indicators.clone() else {
        return Err(ApiError::not_found("区级指标", "indicators"));
    };
    let period = query_param(&p.path, "period")
        .filter(|x| !x.is_empty())
        .or_else(|| ind.periods.keys().next_back().cloned())
        .unwrap_or_default();
    let zone = query_param(&p.path, "zone").filter(|x| !x.is_empty());
    let d = period_out(&p.s, &p.c.principal, &period, zone.as_deref()).await?;
    let bytes = workbook(p, &d).map_err(ApiError::internal)?;
    Ok(super::xlsx_download(
        bytes,
        &format!("indicators-{}.xlsx", d.period),
    ))
}

fn workbook(
    p: &Page,
    d: &crate::routes::indicators::IndicatorsOut,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name(p.t("ind.title"))?;
    ws.write_string_with_format(
        0,
        0,
        format!("{}（{}）", d.set_name, period_text(p, &d.period)),
        &bold,
    )?;
    let heads = [
        "ind.zone",
        "ind.indicator",
        "ind.unit",
        "ind.value",
        "ind.exact",
        "ind.firms",
        "ind.same_set",
        "ind.nominal",
        "ind.entries",
        "ind.exits",
        "ind.definition",
        "ind.source",
    ];
    for (c, h) in heads.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, p.t(h), &bold)?;
    }
    for (i, f) in d.figures.iter().enumerate() {
        let r = i as u32 + 3;
        ws.write_string(r, 0, &f.zone)?;
        ws.write_string(r, 1, &f.label)?;
        ws.write_string(r, 2, &f.unit)?;
        match &f.value {
            // The shown value (rounded as the page shows it) as Excel's number; the exact one
            // as text beside it.
            Some(v) => match v.parse::<f64>() {
                Ok(x) => ws.write_number(r, 3, x)?,
                Err(_) => ws.write_string(r, 3, v)?,
            },
            None if f.suppressed => ws.write_string(r, 3, p.t("ind.suppressed"))?,
            None => ws.write_string(r, 3, p.t("ind.no_data"))?,
        };
        if let Some(x) = &f.value_exact {
            ws.write_string(r, 4, x)?;
        }
        if let Some(n) = f.firms {
            ws.write_number(r, 5, n as f64)?;
        }
        if let Some(g) = &f.growth_same_set_pct {
            ws.write_string(r, 6, format!("{g}%"))?;
        }
        if let Some(g) = &f.growth_nominal_pct {
            ws.write_string(r, 7, format!("{g}%"))?;
        }
        if let (Some(a), Some(b)) = (f.entries, f.exits) {
            ws.write_number(r, 8, a as f64)?;
            ws.write_number(r, 9, b as f64)?;
        }
        ws.write_string(r, 10, &f.definition)?;
        ws.write_string(r, 11, &f.source)?;
    }
    ws.set_column_width(1, 30)?;
    ws.set_column_width(10, 60)?;
    let ts = wb.add_worksheet();
    ts.set_name(p.t("ind.targets_sheet"))?;
    let heads = [
        "ind.zone",
        "ind.indicator",
        "ind.department",
        "ind.target",
        "ind.actual",
        "ind.completion",
        "ind.pace",
        "ind.gap",
        "ind.status",
    ];
    for (c, h) in heads.iter().enumerate() {
        ts.write_string_with_format(0, c as u16, p.t(h), &bold)?;
    }
    for (i, t) in d.targets.iter().enumerate() {
        let r = i as u32 + 1;
        let opt = |x: Option<rust_decimal::Decimal>, suffix: &str| {
            x.map(|v| format!("{v}{suffix}")).unwrap_or_default()
        };
        ts.write_string(r, 0, &t.zone)?;
        ts.write_string(r, 1, &t.label)?;
        ts.write_string(r, 2, &t.department)?;
        ts.write_string(
            r,
            3,
            match (t.target, t.target_growth) {
                (Some(v), _) => format!("{v} {}", t.unit),
                (None, Some(g)) => p.t("ind.growth_target").replace("{g}", &g.to_string()),
                _ => String::new(),
            },
        )?;
        ts.write_string(
            r,
            4,
            match (t.target, t.actual) {
                (Some(_), Some(a)) => format!("{} {}", a.round_dp(2), t.unit),
                (None, Some(a)) => huiqi_indicators::format_growth(Some(a)),
                _ => String::new(),
            },
        )?;
        ts.write_string(r, 5, opt(t.completion, "%"))?;
        ts.write_string(r, 6, opt(t.pace, "%"))?;
        ts.write_string(r, 7, opt(t.gap_pp, ""))?;
        ts.write_string(
            r,
            8,
            p.t(match t.colour {
                Some(Colour::Green) => "ind.green",
                Some(Colour::Amber) => "ind.amber",
                Some(Colour::Red) => "ind.red",
                None => "ind.unknown",
            }),
        )?;
    }
    ts.set_column_width(1, 30)?;
    wb.save_to_buffer()
}
