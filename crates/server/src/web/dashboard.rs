//! `/dashboard`: the leader's 驾驶舱 — money by clause and state, firms reached, days from
//! computation to payment, overdue lines — as ECharts islands drawn from exact figures, each
//! with the same figures in an HTML table beneath it, every table downloadable as XLSX
//! (`/dashboard/export.xlsx?table=…`). The figures are the API's (`GET /api/v1/dashboard`),
//! cached until the ledger changes.

use std::str::FromStr;

use axum::response::Response;
use serde_json::{json, Value};

use super::finance::ReconView;
use super::{fmt, query_param, render, Layout, Page};
use crate::error::{ApiError, ApiResult};
use crate::routes::dashboard::{figures, DashQ, DashboardOut};

/// An exact decimal (`huiqi_ledger::wan`'s text) as a JSON number: serde_json keeps its digits
/// (arbitrary precision), so the chart gets the figure, not a float's rounding of it.
fn exact(text: &str) -> Value {
    Value::from_str(text).unwrap_or(Value::Null)
}

/// An option as the text of a `<script type="application/json">`: no `<` (so no `</script>`
/// from a clause's name can end the element early).
fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn wan(fen: i64) -> Value {
    exact(&huiqi_ledger::wan(fen))
}

pub struct Kpi {
    pub label: String,
    pub value: String,
    pub note: Option<String>,
}

pub struct Chart {
    pub id: String,
    pub title: String,
    /// The ECharts option (JSON), written into a `<script type="application/json">`.
    pub option: String,
}

pub struct StateRow {
    pub state: String,
    pub lines: i64,
    pub amount: String,
    pub firms: i64,
}

pub struct OverdueRow {
    pub line: i64,
    pub name: String,
    pub firm: String,
    pub clause: String,
    pub state: String,
    pub amount: String,
    pub since: String,
    pub days: i64,
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    l: Layout,
    period: i64,
    kpis: Vec<Kpi>,
    charts: Vec<Chart>,
    recon: Option<(i64, Vec<ReconView>, ReconView)>,
    states: Vec<StateRow>,
    buckets: Vec<(String, i64)>,
    overdue: Vec<OverdueRow>,
    overdue_total: i64,
    overdue_days: i64,
    export: String,
}

fn q(p: &Page) -> ApiResult<DashQ> {
    let num = |k: &str| -> ApiResult<Option<i64>> {
        match query_param(&p.path, k).filter(|x| !x.is_empty()) {
            Some(x) => x
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid("参数无效", "bad parameter").field(k.to_string())),
            None => Ok(None),
        }
    };
    Ok(DashQ {
        period: num("period")?,
        overdue_days: num("overdue_days")?,
    })
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p).await;
    p.finish(r)
}

/// The state groups of the money-by-clause chart.
const GROUPS: [(&str, &[&str]); 3] = [
    ("dash.group.waiting", &["computed"]),
    (
        "dash.group.in_progress",
        &["approved", "announced", "objected", "confirmed", "exported"],
    ),
    ("dash.group.paid", &["paid"]),
];

async fn page_inner(p: &Page) -> ApiResult<Response> {
    let mut l = p.layout("dashboard.title");
    let d = match figures(&p.s, &p.c, q(p)?).await {
        Ok(d) => d,
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
            return render(&DashboardPage {
                l,
                period: 0,
                kpis: vec![],
                charts: vec![],
                recon: None,
                states: vec![],
                buckets: vec![],
                overdue: vec![],
                overdue_total: 0,
                overdue_days: crate::routes::dashboard::DEFAULT_OVERDUE_WORKING_DAYS,
                export: String::new(),
            })
        }
        Err(e) => return Err(e),
    };
    l.charts = true;
    let r = &d.reconciliation;
    let kpis = vec![
        Kpi {
            label: p.t("recon.computed"),
            value: p.short(r.total.computed_fen),
            note: Some(p.money(r.total.computed_fen)),
        },
        Kpi {
            label: p.t("recon.approved"),
            value: p.short(r.total.approved_fen),
            note: Some(p.money(r.total.approved_fen)),
        },
        Kpi {
            label: p.t("recon.paid"),
            value: p.short(r.total.paid_fen),
            note: Some(p.money(r.total.paid_fen)),
        },
        Kpi {
            label: p.t("dash.firms_reached"),
            value: d.firms_reached.to_string(),
            note: Some(
                p.t("dash.of_firms")
                    .replace("{n}", &d.firms_in_snapshot.to_string())
                    .replace("{paid}", &d.firms_paid.to_string()),
            ),
        },
        Kpi {
            label: p.t("dash.days_median"),
            value: d
                .days_to_pay
                .median_working
                .map(|x| x.to_string())
                .unwrap_or_else(|| "—".into()),
            note: d.days_to_pay.median.map(|x| {
                p.t("dash.days_calendar")
                    .replace("{n}", &x.to_string())
                    .replace(
                        "{p90}",
                        &d.days_to_pay
                            .p90_working
                            .map_or("—".into(), |x| x.to_string()),
                    )
            }),
        },
        Kpi {
            label: p
                .t("dash.overdue")
                .replace("{n}", &d.overdue_days.to_string()),
            value: d.overdue_total.to_string(),
            note: Some(p.money(d.overdue_fen)),
        },
    ];
    let unit = p.t("dash.unit_wan");
    let clauses: Vec<&str> = d.by_clause.iter().map(|c| c.clause.as_str()).collect();
    let series: Vec<Value> = GROUPS
        .iter()
        .map(|(key, states)| {
            let data: Vec<Value> = d
                .by_clause
                .iter()
                .map(|c| {
                    let fen: i64 = states
                        .iter()
                        .filter_map(|s| c.fen_by_state.get(*s))
                        .fold(0i64, |a, b| a.saturating_add(*b));
                    wan(fen)
                })
                .collect();
            json!({"name": p.t(key), "type": "bar", "stack": "money", "data": data})
        })
        .collect();
    let by_clause = json!({
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 36, "containLabel": true},
        "xAxis": {"type": "value", "name": unit},
        "yAxis": {"type": "category", "data": clauses, "inverse": true},
        "series": series,
    });
    let states: Vec<&crate::routes::dashboard::StateOut> = d.by_state.iter().collect();
    let by_state = json!({
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 24, "containLabel": true},
        "xAxis": {"type": "category", "data": states.iter().map(|s| p.t(&format!("state.{}", s.state))).collect::<Vec<_>>()},
        "yAxis": {"type": "value", "name": unit},
        "series": [{"type": "bar", "name": p.t("col.amount"), "data": states.iter().map(|s| wan(s.amount_fen)).collect::<Vec<_>>()}],
    });
    let days = json!({
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 24, "containLabel": true},
        "xAxis": {"type": "category", "name": p.t("dash.days"), "data": d.days_to_pay.buckets.iter().map(|b| b.days.clone()).collect::<Vec<_>>()},
        "yAxis": {"type": "value", "name": p.t("recon.lines"), "minInterval": 1},
        "series": [{"type": "bar", "name": p.t("recon.lines"), "data": d.days_to_pay.buckets.iter().map(|b| b.lines).collect::<Vec<_>>()}],
    });
    let charts = vec![
        Chart {
            id: "chart-by-clause".into(),
            title: p.t("dash.chart.by_clause"),
            option: script_json(&by_clause),
        },
        Chart {
            id: "chart-by-state".into(),
            title: p.t("dash.chart.by_state"),
            option: script_json(&by_state),
        },
        Chart {
            id: "chart-days".into(),
            title: p.t("dash.chart.days"),
            option: script_json(&days),
        },
    ];
    let recon = Some((
        r.period,
        r.rows
            .iter()
            .cloned()
            .map(|x| super::finance::recon_view(p, x))
            .collect(),
        super::finance::recon_view(p, r.total.clone()),
    ));
    let now = huiqi_ledger::now();
    let export = format!("period={}&overdue_days={}", d.period, d.overdue_days);
    render(&DashboardPage {
        l,
        period: d.period,
        kpis,
        charts,
        recon,
        states: d
            .by_state
            .iter()
            .map(|s| StateRow {
                state: p.t(&format!("state.{}", s.state)),
                lines: s.lines,
                amount: p.money(s.amount_fen),
                firms: s.firms,
            })
            .collect(),
        buckets: d
            .days_to_pay
            .buckets
            .iter()
            .map(|b| (b.days.clone(), b.lines))
            .collect(),
        overdue: d
            .overdue
            .iter()
            .map(|o| OverdueRow {
                line: o.line,
                name: o.name.clone(),
                firm: o.firm.clone(),
                clause: o.clause.clone(),
                state: p.t(&format!("state.{}", o.state)),
                amount: p.money(o.amount_fen),
                since: fmt::date(&o.since, p.lang),
                days: fmt::days_between(&o.since, &now).unwrap_or(0),
            })
            .collect(),
        overdue_total: d.overdue_total,
        overdue_days: d.overdue_days,
        export,
    })
}

/// A table of the dashboard as XLSX: its title, the period, headers, then rows; text written as
/// text (never a formula), money as 元 numbers with an exact 分 column beside them.
pub async fn export(p: Page) -> Response {
    let r = export_inner(&p).await;
    p.finish(r)
}

enum Cell {
    Text(String),
    Int(i64),
    /// 分: a 元 number and the exact 分 beside it.
    Money(i64),
}

async fn export_inner(p: &Page) -> ApiResult<Response> {
    let d = figures(&p.s, &p.c, q(p)?).await?;
    let table = query_param(&p.path, "table").unwrap_or_default();
    let (title, headers, rows) = table_of(p, &d, &table)?;
    let bytes = xlsx(&title, d.period, &headers, &rows).map_err(ApiError::internal)?;
    Ok(super::xlsx_download(
        bytes,
        &format!("dashboard-{table}-{}.xlsx", d.period),
    ))
}

type Table = (String, Vec<(String, bool)>, Vec<Vec<Cell>>);

/// (title, headers (text, is money), rows) of one table.
fn table_of(p: &Page, d: &DashboardOut, table: &str) -> ApiResult<Table> {
    let h = |k: &str| (p.t(k), false);
    let m = |k: &str| (p.t(k), true);
    Ok(match table {
        "recon" => {
            let r = &d.reconciliation;
            let rows = r
                .rows
                .iter()
                .chain(std::iter::once(&r.total))
                .map(|x| {
                    vec![
                        Cell::Text(x.label.clone()),
                        match &x.budget_yuan {
                            Some(_) => Cell::Text(x.budget_yuan.clone().unwrap_or_default()),
                            None => Cell::Text(String::new()),
                        },
                        Cell::Int(x.entitlements),
                        Cell::Money(x.computed_fen),
                        Cell::Money(x.approved_fen),
                        Cell::Money(x.paid_fen),
                        Cell::Money(x.recovered_fen),
                    ]
                })
                .collect();
            (
                p.t("recon.title"),
                vec![
                    h("col.clause"),
                    h("dash.budget_yuan"),
                    h("recon.lines"),
                    m("recon.computed"),
                    m("recon.approved"),
                    m("recon.paid"),
                    m("recon.recovered"),
                ],
                rows,
            )
        }
        "state" => (
            p.t("dash.chart.by_state"),
            vec![
                h("col.state"),
                h("recon.lines"),
                m("col.amount"),
                h("dash.firms"),
            ],
            d.by_state
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text(p.t(&format!("state.{}", s.state))),
                        Cell::Int(s.lines),
                        Cell::Money(s.amount_fen),
                        Cell::Int(s.firms),
                    ]
                })
                .collect(),
        ),
        "days" => (
            p.t("dash.chart.days"),
            vec![h("dash.days"), h("recon.lines")],
            d.days_to_pay
                .buckets
                .iter()
                .map(|b| vec![Cell::Text(b.days.clone()), Cell::Int(b.lines)])
                .collect(),
        ),
        "overdue" => (
            p.t("dash.overdue")
                .replace("{n}", &d.overdue_days.to_string()),
            vec![
                h("col.line"),
                h("col.firm"),
                h("col.uscc"),
                h("col.clause"),
                h("col.state"),
                m("col.amount"),
                h("dash.since"),
            ],
            d.overdue
                .iter()
                .map(|o| {
                    vec![
                        Cell::Int(o.line),
                        Cell::Text(o.name.clone()),
                        Cell::Text(o.firm.clone()),
                        Cell::Text(o.clause.clone()),
                        Cell::Text(p.t(&format!("state.{}", o.state))),
                        Cell::Money(o.amount_fen),
                        Cell::Text(fmt::date(&o.since, p.lang)),
                    ]
                })
                .collect(),
        ),
        _ => {
            return Err(ApiError::invalid(
                "table 应为 recon、state、days 或 overdue",
                "table is recon, state, days or overdue",
            )
            .field("table"))
        }
    })
}

fn xlsx(
    title: &str,
    period: i64,
    headers: &[(String, bool)],
    rows: &[Vec<Cell>],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    ws.write_string_with_format(0, 0, format!("{title}（{period}年度）"), &bold)?;
    let mut col = 0u16;
    for (h, is_money) in headers {
        if *is_money {
            ws.write_string_with_format(2, col, format!("{h}（元）"), &bold)?;
            ws.write_string_with_format(2, col + 1, format!("{h}（分）"), &bold)?;
            col += 2;
        } else {
            ws.write_string_with_format(2, col, h, &bold)?;
            col += 1;
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 3;
        let mut c = 0u16;
        for cell in row {
            match cell {
                Cell::Text(t) => {
                    ws.write_string(r, c, t)?;
                }
                Cell::Int(n) => {
                    ws.write_number(r, c, *n as f64)?;
                }
                Cell::Money(fen) => {
                    // 元 as Excel's number (display and sums); the exact 分 as an integer.
                    ws.write_number_with_format(r, c, *fen as f64 / 100.0, &money)?;
                    c += 1;
                    ws.write_number(r, c, *fen as f64)?;
                }
            }
            c += 1;
        }
    }
    ws.set_column_width(0, 24)?;
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    wb.save_to_buffer()
}
