//! `huiqi indicators`: a zone indicator set for one period over a snapshot, printed as the
//! leaders' table (figure, firms, 同口径 and 名义 growth) and the targets against 序时进度.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use huiqi::indicators::{Colour, IndicatorsReport, IndicatorsRequest};
use huiqi_indicators::{format_growth, format_value, Figure, Measure, Unit};
use unicode_width::UnicodeWidthStr;

use crate::render::Out;

#[derive(Args)]
pub struct IndicatorsArgs {
    /// The indicator set (a directory of .toml files).
    #[arg(long = "set", default_value = huiqi::indicators::DEFAULT_SET)]
    pub set: PathBuf,
    /// The snapshot directory (written by `huiqi ingest`).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// `2021-11` for 1–11月 2021 (cumulative figures, stocks at 11月30日), or `2021`.
    #[arg(long)]
    pub period: String,
    /// Print only this zone (a value of the set's zone fact, e.g. 成都高新区).
    #[arg(long)]
    pub zone: Option<String>,
    /// Write indicators.parquet, indicator_firms.parquet (the firms behind every figure) and
    /// manifest.json here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into --out even when it holds something other than a previous indicators output.
    #[arg(long)]
    pub force: bool,
    /// Print the figures as JSON (exact: amounts in 元 as decimal strings).
    #[arg(long)]
    pub json: bool,
    /// A run directory (`huiqi run` on the same snapshot) that `selected` indicators such as
    /// 瞪羚 read; repeat for the year before (growth). Checked against its manifest.
    #[arg(long = "run", value_name = "DIR")]
    pub runs: Vec<PathBuf>,
    /// The ledger (SQLite path or postgres://…): print the money the policies pay beside the
    /// indicators — by clause budget, approved, 公示, paid, recovered, firms reached; working
    /// days to payment and lines overdue.
    #[arg(long)]
    pub ledger: Option<String>,
    /// With --ledger: a line waiting more than this many working days is overdue.
    #[arg(long, default_value_t = huiqi::indicators::OVERDUE_WORKING_DAYS)]
    pub overdue_days: i64,
}

/// Pads to a display width (CJK characters are two columns wide).
fn pad(s: &str, w: usize) -> String {
    let n = UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}
fn lpad(s: &str, w: usize) -> String {
    let n = UnicodeWidthStr::width(s);
    format!("{}{s}", " ".repeat(w.saturating_sub(n)))
}

pub fn indicators(o: &Out, a: &IndicatorsArgs) -> huiqi::Result<ExitCode> {
    let r = huiqi::indicators::indicators(&IndicatorsRequest {
        set: a.set.clone(),
        snapshot: a.snapshot.clone(),
        period: a.period.clone(),
        out: a.out.clone(),
        force: a.force,
        runs: a.runs.clone(),
    })?;
    if let Some(z) = &a.zone {
        if !r.computed.zones.contains(z) {
            return Err(huiqi::Error::usage(
                format!(
                    "园区“{z}”不在指标集的园区中（{}）",
                    r.computed.zones.join("、")
                ),
                format!(
                    "zone `{z}` is not one of the set's zones ({})",
                    r.computed.zones.join(", ")
                ),
            ));
        }
    }
    let shown = |f: &Figure| a.zone.as_ref().is_none_or(|z| *z == f.zone);
    let period = r.computed.period;
    let money = match &a.ledger {
        Some(db) => {
            huiqi::indicators::money(db, period.year, Path::new("policies"), a.overdue_days)?
        }
        None => None,
    };
    if !a.json {
        render(o, &r, a.zone.as_deref(), a.out.as_deref());
        match (&a.ledger, &money) {
            (Some(_), Some(m)) => render_money(o, m),
            (Some(_), None) => println!("\n{}", o.t("台账为空", "the ledger is empty")),
            _ => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    {
        let figs: Vec<_> = r
            .computed
            .figures
            .iter()
            .filter(|f| shown(f))
            .map(|f| {
                let ind = r.set.indicator(&f.indicator);
                let unit = ind.map_or(Unit::Yuan, |i| i.unit);
                serde_json::json!({
                    "indicator": f.indicator,
                    "zone": f.zone,
                    "unit": unit.as_str(),
                    "value": format_value(f.value, unit),
                    "value_exact": huiqi_indicators::progress::shown(f.value, Unit::Yuan).map(|d| d.to_string()),
                    "firms": f.firms,
                    "no_data": ind.is_some_and(|i| f.no_data(i.measure)),
                    "growth_same_set_pct": ind.and_then(|i| f.same_set_growth(i.measure)).map(|d| d.to_string()),
                    "growth_nominal_pct": ind.and_then(|i| f.nominal_growth(i.measure)).map(|d| d.to_string()),
                    "entries": f.entries,
                    "exits": f.exits,
                })
            })
            .collect();
        let v = serde_json::json!({
            "set": {"name": r.set.name, "version": r.set.version, "hash": r.set.hash},
            "snapshot_hash": r.snapshot_hash,
            "period": period.label(),
            "figures": figs,
            "targets": r.progress.iter().filter(|p| a.zone.as_ref().is_none_or(|z| *z == p.zone)).collect::<Vec<_>>(),
            "runs": r.computed.runs,
            "money": money.as_ref().map(money_json),
            "notes": r.computed.notes.iter().map(|(zh, _)| zh).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// The leaders' table: each zone's figures with 同口径 and 名义 growth, then the targets.
pub fn render(o: &Out, r: &IndicatorsReport, zone: Option<&str>, out: Option<&Path>) {
    let period = r.computed.period;
    println!(
        "{} {} v{}（{}）  {} {}  {} {}",
        o.t("指标集", "indicator set"),
        r.set.name,
        r.set.version,
        &r.set.hash[..16],
        o.t("快照", "snapshot"),
        &r.snapshot_hash[..16],
        o.t("期间", "period"),
        if period.month == 12 {
            format!("{}", period.year)
        } else {
            o.t(
                &format!("{}年1–{}月", period.year, period.month),
                &format!("{} months 1–{}", period.year, period.month),
            )
            .to_string()
        },
    );
    let zones: Vec<&String> = r
        .computed
        .zones
        .iter()
        .filter(|z| zone.is_none_or(|x| x == z.as_str()))
        .collect();
    for z in zones {
        println!("\n{z}");
        println!(
            "  {} {} {} {} {} {}",
            pad(o.t("指标", "indicator"), 38),
            lpad(o.t("数值", "value"), 14),
            lpad(o.t("企业", "firms"), 7),
            lpad(o.t("同口径", "same-set"), 9),
            lpad(o.t("名义", "nominal"), 9),
            lpad(o.t("进/出", "in/out"), 9),
        );
        for ind in &r.set.indicators {
            let Some(f) = r
                .computed
                .figures
                .iter()
                .find(|f| f.indicator == ind.id && &f.zone == z)
            else {
                continue;
            };
            let (g1, g0) = if ind.measure == Measure::Ratio {
                // A ratio's change is in percentage points, not a growth rate.
                let pp = |b: i128| {
                    huiqi_indicators::progress::shown(f.value - b, Unit::Percent)
                        .map(|d| format!("{:+.1}pp", d.round_dp(1)))
                        .unwrap_or_default()
                };
                (pp(f.same_base), pp(f.nominal_base))
            } else {
                (
                    format_growth(f.same_set_growth(ind.measure)),
                    format_growth(f.nominal_growth(ind.measure)),
                )
            };
            let inout = if ind.measure == Measure::Ratio {
                String::new()
            } else {
                format!("+{}/-{}", f.entries, f.exits)
            };
            println!(
                "  {} {} {} {} {} {}",
                pad(&ind.label, 38),
                lpad(
                    &if f.no_data(ind.measure) {
                        o.t("无数据", "no data").to_string()
                    } else {
                        format!("{}{}", format_value(f.value, ind.unit), ind.unit.as_str())
                    },
                    14
                ),
                lpad(&f.firms.to_string(), 7),
                lpad(&g1, 9),
                lpad(&g0, 9),
                lpad(&inout, 9),
            );
        }
    }
    let targets: Vec<_> = r
        .progress
        .iter()
        .filter(|p| zone.is_none_or(|z| z == p.zone))
        .collect();
    if !targets.is_empty() {
        println!(
            "\n{}（{}）",
            o.t("年度目标", "annual targets"),
            o.t(
                "完成率对序时进度",
                "completion against the time-elapsed pace"
            )
        );
        for p in targets {
            let mark = match p.colour {
                Some(Colour::Green) => o.t("●绿", "● green"),
                Some(Colour::Amber) => o.t("●黄", "● amber"),
                Some(Colour::Red) => o.t("●红", "● red"),
                None => "—",
            };
            let line = match (p.target, p.target_growth) {
                (Some(t), _) => format!(
                    "{} {} {}{}  {} {}{}  {} {}%  {} {}%",
                    p.zone,
                    p.label,
                    o.t("目标", "target"),
                    t,
                    p.unit,
                    o.t("实际", "actual"),
                    p.actual.map(|d| format!("{:.2}", d)).unwrap_or("—".into()),
                    o.t("完成率", "done"),
                    p.completion.map(|d| d.to_string()).unwrap_or("—".into()),
                    o.t("序时进度", "pace"),
                    p.pace.map(|d| d.to_string()).unwrap_or("—".into()),
                ),
                (None, Some(g)) => format!(
                    "{} {} {}{}%  {} {}",
                    p.zone,
                    p.label,
                    o.t("增速目标", "growth target "),
                    g,
                    o.t("同口径实际", "same-set actual"),
                    format_growth(p.actual),
                ),
                _ => continue,
            };
            println!("  {mark} {line}  [{}]", p.department);
        }
    }
    for (zh, en) in &r.computed.notes {
        println!("\n{}", o.t(&format!("注意：{zh}"), &format!("note: {en}")));
    }
    if r.computed.firms_without_zone > 0 {
        println!(
            "\n{}",
            o.t(
                &format!(
                    "注意：{} 家企业期末不在任何园区，未计入上表",
                    r.computed.firms_without_zone
                ),
                &format!(
                    "note: {} firms were in no zone at the period's end and are in no figure",
                    r.computed.firms_without_zone
                ),
            )
        );
    }
    if let Some(m) = &r.manifest {
        println!(
            "\n{} {}（{}）",
            o.t("已写出", "written"),
            out.map(|p| p.display().to_string()).unwrap_or_default(),
            m.files.keys().cloned().collect::<Vec<_>>().join("、")
        );
    }
    eprintln!("{} {} ms", o.t("用时", "took"), r.elapsed_ms);
}

fn yuan(fen: i64) -> String {
    huiqi_ledger::yuan(fen)
}

/// 公示中: lines announced (in or past their window) and those objected to.
fn in_notice(by_state: &std::collections::BTreeMap<String, i64>) -> i64 {
    ["announced", "objected"]
        .iter()
        .filter_map(|s| by_state.get(*s))
        .fold(0i64, |a, b| a.saturating_add(*b))
}

/// The money as JSON (元 as exact decimal strings).
fn money_json(m: &huiqi::indicators::Money) -> serde_json::Value {
    let d = &m.dashboard;
    let rows: Vec<_> = m
        .reconciliation
        .rows
        .iter()
        .chain(std::iter::once(&m.reconciliation.total))
        .map(|x| {
            let total = std::ptr::eq(x, &m.reconciliation.total);
            let announced = if total {
                Some(d.by_clause.values().map(in_notice).sum())
            } else {
                d.by_clause.get(&x.label).map(in_notice)
            };
            let firms = if total {
                Some(d.firms_reached)
            } else {
                d.firms_by_clause.get(&x.label).copied()
            };
            serde_json::json!({
                "clause": x.label,
                "budget_yuan": x.budget.map(yuan),
                "approved_yuan": yuan(x.approved),
                "announced_yuan": announced.map(yuan),
                "paid_yuan": yuan(x.paid),
                "recovered_yuan": yuan(x.recovered),
                "firms": firms,
            })
        })
        .collect();
    serde_json::json!({
        "period": m.reconciliation.period,
        "by_clause": rows,
        "firms_reached": d.firms_reached,
        "firms_paid": d.firms_paid,
        "median_working_days_to_pay": d.days_to_pay.median_working,
        "median_days_to_pay": d.days_to_pay.median,
        "overdue_working_days": m.overdue_working_days,
        "overdue_lines": d.overdue_total,
        "overdue_yuan": yuan(d.overdue_fen),
    })
}

/// The money by clause under the indicators.
fn render_money(o: &Out, m: &huiqi::indicators::Money) {
    let d = &m.dashboard;
    println!(
        "\n{}",
        o.t(
            &format!("政策资金兑现（{}年度，台账；元）", m.reconciliation.period),
            &format!(
                "money by policy ({}, from the ledger; yuan)",
                m.reconciliation.period
            ),
        )
    );
    println!(
        "  {} {} {} {} {} {} {}",
        pad(o.t("条款", "clause"), 24),
        lpad(o.t("预算", "budget"), 16),
        lpad(o.t("审核通过", "approved"), 16),
        lpad(o.t("公示中", "in notice"), 16),
        lpad(o.t("已拨付", "paid"), 16),
        lpad(o.t("已追回", "recovered"), 14),
        lpad(o.t("惠及企业", "firms"), 9),
    );
    for x in m
        .reconciliation
        .rows
        .iter()
        .chain(std::iter::once(&m.reconciliation.total))
    {
        let total = std::ptr::eq(x, &m.reconciliation.total);
        let announced = d
            .by_clause
            .get(&x.label)
            .map_or_else(|| "—".into(), |s| yuan(in_notice(s)));
        let firms = if total {
            d.firms_reached.to_string()
        } else {
            d.firms_by_clause
                .get(&x.label)
                .map_or_else(|| "—".into(), |n| n.to_string())
        };
        let announced = if total {
            yuan(d.by_clause.values().map(in_notice).sum())
        } else {
            announced
        };
        println!(
            "  {} {} {} {} {} {} {}",
            pad(
                if total {
                    o.t("合计", "total")
                } else {
                    &x.label
                },
                24
            ),
            lpad(&x.budget.map(yuan).unwrap_or_else(|| "—".into()), 16),
            lpad(&yuan(x.approved), 16),
            lpad(&announced, 16),
            lpad(&yuan(x.paid), 16),
            lpad(&yuan(x.recovered), 14),
            lpad(&firms, 9),
        );
    }
    let median = d
        .days_to_pay
        .median_working
        .map_or_else(|| "—".into(), |x| x.to_string());
    println!(
        "  {}",
        o.t(
            &format!(
                "测算到拨付中位 {median} 个工作日；超过 {} 个工作日未办结 {} 笔（{} 元）",
                m.overdue_working_days,
                d.overdue_total,
                yuan(d.overdue_fen)
            ),
            &format!(
                "computation to payment: median {median} working days; {} lines waiting over {} working days ({} yuan)",
                d.overdue_total,
                m.overdue_working_days,
                yuan(d.overdue_fen)
            ),
        )
    );
}
