//! `/sandbox`: the 政策沙盘 for the policy office. A form lists the pack's parameters with their
//! values in force; change some, pick a snapshot and a year, and see what the change costs by
//! clause and by group of firms, the bands of gainers and losers, and the firms that move most
//! (each linked to its explanation). The API's simulation does the work.
//!
//! The charts are SVG drawn here, server-side, in integer coordinates: a waterfall from the
//! base total through each clause's joint Δ to the reform total, and gaining / losing /
//! unchanged firms per class of the 规模 grouping. Beside them: each clause's stand-alone Δ and
//! the interaction of the cross-clause rules, the bands by share of the base award, the pools,
//! the first condition that changed for each listed firm, and an optional backtest against
//! what the ledger says was paid.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};

use super::{render, Form, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::routes;
use huiqi::simulate::{
    BacktestYear, Band, FirmDelta, Grouping, PoolSide, PoolSides, Summary, Sums,
};

/// A parameter in the form: name, type, value in force (the pack's notation), what was typed.
struct ParamRow {
    name: String,
    ty: String,
    current: String,
    typed: String,
}

struct SumsView {
    base: String,
    reform: String,
    delta: String,
    gainers: usize,
    losers: usize,
    up: bool,
    down: bool,
}

/// A clause: its joint figures and its stand-alone Δ.
struct ClauseRow {
    clause: String,
    sums: SumsView,
    alone: String,
}

/// Why a listed firm moved though its own figures did not: the kind of rule (资金池 / 遴选)
/// and the rule's name.
struct ByOthers {
    kind: String,
    name: String,
}

struct FirmView {
    id: String,
    name: String,
    delta: String,
    up: bool,
    clauses: String,
    first_changes: Vec<String>,
    by_others: Option<ByOthers>,
}

/// One value of a static fact or class of a declared grouping: (value, firms, figures).
type GroupRow = (String, usize, SumsView);

struct GroupView {
    by: String,
    definition: Option<String>,
    rows: Vec<GroupRow>,
}

struct BandRow {
    band: String,
    gainers: usize,
    gain: String,
    losers: usize,
    loss: String,
}

/// A pool under both versions; each figure `base → reform`, `—` where a version has no pool.
struct PoolRow {
    pool: String,
    budget: String,
    demand: String,
    factor: String,
    losers_by_others: usize,
    loss_by_others: String,
}

struct BacktestRow {
    period: i32,
    base: String,
    reform: String,
    delta: String,
    awarded: String,
    paid: String,
    up: bool,
    down: bool,
    clauses: Vec<BacktestClauseRow>,
}

struct BacktestClauseRow {
    clause: String,
    base: String,
    reform: String,
    awarded: String,
    paid: String,
}

/// A bar of the waterfall, in the SVG's user units.
struct WfBar {
    label: String,
    /// The label as drawn (long clause names shortened; the full one is in the title).
    shown: String,
    value: String,
    x: i64,
    w: i64,
    y: i64,
    text_y: i64,
    fill: &'static str,
}

/// The dashed line from one bar's end to the next bar's start.
struct WfLink {
    x: i64,
    y1: i64,
    y2: i64,
}

/// The waterfall by clause: base total → each clause's joint Δ → reform total.
struct Waterfall {
    width: i64,
    height: i64,
    label_x: i64,
    value_x: i64,
    bar_h: i64,
    /// The zero line when the chart has negative values.
    zero_x: Option<i64>,
    top: i64,
    bottom: i64,
    bars: Vec<WfBar>,
    links: Vec<WfLink>,
}

struct Seg {
    x: i64,
    w: i64,
    fill: &'static str,
    ink: &'static str,
    count: usize,
    /// Whether the count fits inside the segment.
    fits: bool,
    text_x: i64,
    title: String,
}

struct StackRow {
    /// The class as drawn (shortened) and in full.
    label: String,
    value: String,
    y: i64,
    text_y: i64,
    segs: Vec<Seg>,
    counts: String,
}

/// Gaining / losing / unchanged firms per class of one grouping, as stacked bars of equal
/// length (each the class's firms).
struct Stacked {
    by: String,
    width: i64,
    height: i64,
    label_x: i64,
    value_x: i64,
    bar_h: i64,
    rows: Vec<StackRow>,
    /// (x, text x, colour, label).
    legend: Vec<(i64, i64, &'static str, String)>,
}

struct ResultView {
    id: String,
    set: String,
    period: i32,
    firms: usize,
    total: SumsView,
    by_clause: Vec<ClauseRow>,
    standalone: String,
    interaction: String,
    waterfall: Waterfall,
    stacked: Option<Stacked>,
    groupings: Vec<GroupView>,
    bands: Vec<BandRow>,
    pct_bands: Vec<BandRow>,
    pools: Vec<PoolRow>,
    gainers: Vec<FirmView>,
    losers: Vec<FirmView>,
    backtest: Vec<BacktestRow>,
    solved: Option<SolvedView>,
}

/// The budget solver's answer: the value found and its total, the next value's total (over the
/// budget), how many runs it took.
struct SolvedView {
    param: String,
    current: String,
    value: String,
    total: String,
    budget: String,
    next: Option<(String, String)>,
    probes: usize,
}

#[derive(askama::Template)]
#[template(path = "sandbox.html")]
struct SandboxPage {
    l: Layout,
    params: Vec<ParamRow>,
    snapshots: Vec<(String, String, bool)>,
    period: i32,
    backtest: String,
    /// The solver's fields as typed: parameter, budget, range.
    solve: (String, String, String),
    /// Parameters the solver can search (money, count, ratio).
    solvable: Vec<String>,
    result: Option<ResultView>,
}

fn signed(p: &Page, fen: i64) -> String {
    if fen > 0 {
        format!("+{}", p.money(fen))
    } else {
        p.money(fen)
    }
}

fn sums(p: &Page, s: &Sums) -> SumsView {
    SumsView {
        base: p.money(s.base_fen),
        reform: p.money(s.reform_fen),
        delta: signed(p, s.delta_fen),
        gainers: s.gainers,
        losers: s.losers,
        up: s.delta_fen > 0,
        down: s.delta_fen < 0,
    }
}

/// Basis points as a percentage with two decimals: 8765 → `87.65%` (integers only).
fn percent_bp(bp: i64) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let a = bp.unsigned_abs();
    format!("{sign}{}.{:02}%", a / 100, a % 100)
}

fn band_rows(p: &Page, bands: &[Band]) -> Vec<BandRow> {
    bands
        .iter()
        .map(|b| BandRow {
            // The app names the band of firms with no base award in Chinese.
            band: if b.band == "新获" {
                p.t("sandbox.new_award")
            } else {
                b.band.clone()
            },
            gainers: b.gainers,
            gain: p.money(b.gain_fen),
            losers: b.losers,
            loss: p.money(b.loss_fen),
        })
        .collect()
}

fn pool_rows(p: &Page, pools: &[PoolSides]) -> Vec<PoolRow> {
    let both = |x: &PoolSides, f: &dyn Fn(&PoolSide) -> String| {
        let side = |s: &Option<PoolSide>| s.as_ref().map(f).unwrap_or_else(|| "—".into());
        format!("{} → {}", side(&x.base), side(&x.reform))
    };
    pools
        .iter()
        .map(|x| PoolRow {
            pool: x.pool.clone(),
            budget: both(x, &|s: &PoolSide| p.money(s.budget_fen)),
            demand: both(x, &|s: &PoolSide| p.money(s.demand_fen)),
            factor: both(x, &|s: &PoolSide| percent_bp(s.factor_bp)),
            losers_by_others: x.losers_by_others,
            loss_by_others: p.money(x.loss_by_others_fen),
        })
        .collect()
}

fn by_others(p: &Page, rule: &str) -> ByOthers {
    let (kind, name) = if let Some(n) = rule.strip_prefix("pool:") {
        (p.t("sandbox.by_pool"), n)
    } else if let Some(n) = rule.strip_prefix("select:") {
        (p.t("sandbox.by_select"), n)
    } else {
        (p.t("sandbox.by_others"), rule)
    };
    ByOthers {
        kind,
        name: name.to_string(),
    }
}

fn backtest_rows(p: &Page, years: &[BacktestYear]) -> Vec<BacktestRow> {
    years
        .iter()
        .map(|y| BacktestRow {
            period: y.period,
            base: p.money(y.base_fen),
            reform: p.money(y.reform_fen),
            delta: signed(p, y.delta_fen),
            awarded: p.money(y.awarded_fen),
            paid: p.money(y.paid_fen),
            up: y.delta_fen > 0,
            down: y.delta_fen < 0,
            clauses: y
                .by_clause
                .iter()
                .map(|c| BacktestClauseRow {
                    clause: c.clause.clone(),
                    base: p.money(c.base_fen),
                    reform: p.money(c.reform_fen),
                    awarded: p.money(c.awarded_fen),
                    paid: p.money(c.paid_fen),
                })
                .collect(),
        })
        .collect()
}

const GAIN: &str = "#1a7f37";
const LOSS: &str = "#b42318";
const TOTAL: &str = "#5f6b76";
const SAME: &str = "#d8dee4";
const INK: &str = "#1f2328";
const ON_DARK: &str = "#ffffff";

/// A name shortened to `n` characters for a chart's label column.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The waterfall's geometry: one row per bar, x scaled between the smallest and largest
/// running total (and zero), in integers.
fn waterfall(p: &Page, s: &Summary) -> Waterfall {
    const LABEL_W: i64 = 200;
    const PLOT_W: i64 = 480;
    const GAP: i64 = 12;
    const VALUE_W: i64 = 180;
    const ROW: i64 = 28;
    const BAR: i64 = 18;
    const TOP: i64 = 8;
    // (label, from, to, fill, value text)
    let mut steps: Vec<(String, i64, i64, &'static str, String)> = vec![(
        p.t("sandbox.wf_base"),
        0,
        s.all.base_fen,
        TOTAL,
        p.money(s.all.base_fen),
    )];
    let mut run = s.all.base_fen;
    for c in s.by_clause.iter().filter(|c| c.sums.delta_fen != 0) {
        let next = run + c.sums.delta_fen;
        let fill = if c.sums.delta_fen > 0 { GAIN } else { LOSS };
        steps.push((
            c.clause.clone(),
            run,
            next,
            fill,
            signed(p, c.sums.delta_fen),
        ));
        run = next;
    }
    steps.push((
        p.t("sandbox.wf_reform"),
        0,
        s.all.reform_fen,
        TOTAL,
        p.money(s.all.reform_fen),
    ));
    let lo = steps.iter().map(|x| x.1.min(x.2)).min().unwrap_or(0).min(0);
    let hi = steps.iter().map(|x| x.1.max(x.2)).max().unwrap_or(0).max(0);
    let span = i128::from(hi) - i128::from(lo);
    let x = |v: i64| -> i64 {
        if span == 0 {
            LABEL_W
        } else {
            // Within [LABEL_W, LABEL_W + PLOT_W]: the quotient is at most PLOT_W.
            LABEL_W + ((i128::from(v) - i128::from(lo)) * i128::from(PLOT_W) / span) as i64
        }
    };
    let row_y = |k: usize| TOP + k as i64 * ROW;
    let bars: Vec<WfBar> = steps
        .iter()
        .enumerate()
        .map(|(k, (label, from, to, fill, value))| {
            let (a, b) = (x(*from.min(to)), x(*from.max(to)));
            WfBar {
                shown: shorten(label, 14),
                label: label.clone(),
                value: value.clone(),
                x: a,
                w: (b - a).max(1),
                y: row_y(k),
                text_y: row_y(k) + BAR - 4,
                fill,
            }
        })
        .collect();
    let links = steps
        .windows(2)
        .enumerate()
        .map(|(k, w)| WfLink {
            // The running total after step k: where the next clause starts, or where the
            // reform total ends.
            x: x(w[0].2),
            y1: row_y(k) + BAR,
            y2: row_y(k + 1),
        })
        .collect();
    Waterfall {
        width: LABEL_W + PLOT_W + GAP + VALUE_W,
        height: TOP * 2 + steps.len() as i64 * ROW,
        label_x: LABEL_W - 8,
        value_x: LABEL_W + PLOT_W + GAP,
        bar_h: BAR,
        zero_x: (lo < 0).then(|| x(0)),
        top: TOP - 4,
        bottom: TOP + steps.len() as i64 * ROW,
        bars,
        links,
    }
}

/// The stacked bars of the grouping named 规模 (else the first grouping), if any.
fn stacked(p: &Page, groupings: &[Grouping]) -> Option<Stacked> {
    const LABEL_W: i64 = 140;
    const PLOT_W: i64 = 480;
    const GAP: i64 = 12;
    // Room for "0 gain · 118 lose · 152 unchanged (of 270)" at 13px.
    const VALUE_W: i64 = 340;
    const ROW: i64 = 28;
    const BAR: i64 = 18;
    const LEGEND: i64 = 28;
    let g = groupings
        .iter()
        .find(|g| g.by == "规模")
        .or_else(|| groupings.first())?;
    let labels = [
        (GAIN, ON_DARK, p.t("sandbox.gainers")),
        (LOSS, ON_DARK, p.t("sandbox.losers")),
        (SAME, INK, p.t("sandbox.unchanged")),
    ];
    let rows = g
        .groups
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let same = x.firms.saturating_sub(x.sums.gainers + x.sums.losers);
            let counts = [x.sums.gainers, x.sums.losers, same];
            let y = LEGEND + k as i64 * ROW;
            let mut cum = 0usize;
            let mut segs = vec![];
            for (n, (fill, ink, what)) in counts.iter().zip(labels.iter()) {
                // Exact boundaries: each at (firms so far) × width / firms.
                let edge = |c: usize| -> i64 {
                    if x.firms == 0 {
                        0
                    } else {
                        (c as u128 * PLOT_W as u128 / x.firms as u128) as i64
                    }
                };
                let (a, b) = (edge(cum), edge(cum + n));
                cum += n;
                if *n == 0 {
                    continue;
                }
                let w = b - a;
                segs.push(Seg {
                    x: LABEL_W + a,
                    w,
                    fill,
                    ink,
                    count: *n,
                    fits: w >= 8 * n.to_string().len() as i64 + 6,
                    text_x: LABEL_W + a + w / 2,
                    title: format!("{} · {what} {n}", x.value),
                });
            }
            StackRow {
                label: shorten(&x.value, 9),
                value: x.value.clone(),
                y,
                text_y: y + BAR - 4,
                segs,
                counts: p
                    .t("sandbox.stack_counts")
                    .replace("{g}", &x.sums.gainers.to_string())
                    .replace("{l}", &x.sums.losers.to_string())
                    .replace("{u}", &same.to_string())
                    .replace("{n}", &x.firms.to_string()),
            }
        })
        .collect::<Vec<_>>();
    let legend = labels
        .iter()
        .enumerate()
        .map(|(k, (fill, _, what))| {
            let x = LABEL_W + k as i64 * 120;
            (x, x + 18, *fill, what.clone())
        })
        .collect();
    Some(Stacked {
        by: g.by.clone(),
        width: LABEL_W + PLOT_W + GAP + VALUE_W,
        height: LEGEND + rows.len() as i64 * ROW + 8,
        label_x: LABEL_W - 8,
        value_x: LABEL_W + PLOT_W + GAP,
        bar_h: BAR,
        rows,
        legend,
    })
}

fn view(p: &Page, id: String, s: &Summary) -> ResultView {
    let firm = |f: &FirmDelta| FirmView {
        id: f.firm_id.clone(),
        name: f.name.clone(),
        delta: signed(p, f.delta_fen),
        up: f.delta_fen > 0,
        clauses: f
            .clauses
            .iter()
            .map(|(c, d)| format!("{c} {}", signed(p, *d)))
            .collect::<Vec<_>>()
            .join("，"),
        first_changes: f.first_changes.clone(),
        by_others: f.by_others.as_deref().map(|r| by_others(p, r)),
    };
    ResultView {
        id,
        set: s.reform.set.join("；"),
        period: s.period,
        firms: s.firms,
        total: sums(p, &s.all),
        by_clause: s
            .by_clause
            .iter()
            .map(|c| ClauseRow {
                clause: c.clause.clone(),
                sums: sums(p, &c.sums),
                alone: signed(p, c.standalone.delta_fen),
            })
            .collect(),
        standalone: signed(p, s.standalone_delta_fen),
        interaction: signed(p, s.interaction_fen),
        solved: s.solve.as_ref().map(|x| SolvedView {
            param: x.param.clone(),
            current: x.current.clone(),
            value: x.value.clone(),
            total: p.money(x.total_fen),
            budget: p.money(x.budget_fen),
            next: x
                .next
                .as_ref()
                .map(|n| (n.value.clone(), p.money(n.total_fen))),
            probes: x.probes.len(),
        }),
        waterfall: waterfall(p, s),
        stacked: stacked(p, &s.groupings),
        groupings: s
            .groupings
            .iter()
            .map(|g| GroupView {
                by: g.by.clone(),
                definition: g.definition.clone(),
                rows: g
                    .groups
                    .iter()
                    .map(|x| (x.value.clone(), x.firms, sums(p, &x.sums)))
                    .collect(),
            })
            .collect(),
        bands: band_rows(p, &s.bands),
        pct_bands: band_rows(p, &s.pct_bands),
        pools: pool_rows(p, &s.pools),
        gainers: s.top_gainers.iter().map(firm).collect(),
        losers: s.top_losers.iter().map(firm).collect(),
        backtest: backtest_rows(p, &s.backtest),
    }
}

/// The backtest field: years separated by commas (either width), 、 or spaces.
fn backtest_periods(f: &Form) -> ApiResult<Vec<i32>> {
    let Some(text) = f.text("backtest") else {
        return Ok(vec![]);
    };
    text.split(|c: char| c == ',' || c == '，' || c == '、' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<i32>().map_err(|_| {
                ApiError::invalid(
                    format!("回测年度无效：{x}（如 2022,2023）"),
                    format!("not a backtest year: {x} (e.g. 2022,2023)"),
                )
                .field("backtest")
            })
        })
        .collect()
}

/// The pack's parameters with the value in force at the end of `period`.
fn params(p: &Page, period: i32, typed: &[(String, String)]) -> Vec<ParamRow> {
    let prog = &p.s.program;
    prog.params
        .iter()
        .enumerate()
        .map(|(i, x)| ParamRow {
            name: x.name.clone(),
            ty: huiqi::explain::type_name(prog, x.ty),
            current: huiqi::explain::value_text(prog, x.ty, &prog.param_at(i, period)),
            typed: typed
                .iter()
                .find(|(n, _)| *n == x.name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn snapshots(p: &Page) -> Vec<(String, String, bool)> {
    routes::runs::known_snapshots(&p.s)
        .into_iter()
        .map(|(name, served)| {
            let label = if served {
                format!("{name}（{}）", p.t("data.served"))
            } else {
                name.clone()
            };
            (name, label, served)
        })
        .collect()
}

fn default_period(p: &Page) -> i32 {
    p.s.served().latest_year.unwrap_or(2023)
}

pub async fn page(p: Page) -> Response {
    let r = page_inner(&p).await;
    p.finish(r)
}

async fn page_inner(p: &Page) -> ApiResult<Response> {
    p.s.authorize(p.p(), Act::StartRun, &Resource::Zone).await?;
    let period = default_period(p);
    render(&SandboxPage {
        l: p.layout("sandbox.title"),
        params: params(p, period, &[]),
        snapshots: snapshots(p),
        period,
        backtest: String::new(),
        solve: Default::default(),
        solvable: solvable(p),
        result: None,
    })
}

/// The parameters the budget solver can search.
fn solvable(p: &Page) -> Vec<String> {
    use huiqi_ir::Ty;
    p.s.program
        .params
        .iter()
        .filter(|x| matches!(x.ty, Ty::Money | Ty::Count | Ty::Ratio))
        .map(|x| x.name.clone())
        .collect()
}

/// The form: every parameter field that was filled in is set; the API's simulation runs.
pub async fn run(p: Page, f: Form) -> Response {
    let r = run_inner(&p, &f).await;
    p.finish(r)
}

async fn run_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let period = f
        .text("period")
        .and_then(|x| x.parse::<i32>().ok())
        .ok_or_else(|| ApiError::invalid("请填写年度", "give the year").field("period"))?;
    let backtest = backtest_periods(f)?;
    let typed: Vec<(String, String)> =
        p.s.program
            .params
            .iter()
            .filter_map(|x| {
                let v = f.text(&format!("p:{}", x.name))?;
                let v = v.trim();
                (!v.is_empty()).then(|| (x.name.clone(), v.to_string()))
            })
            .collect();
    // A parameter to solve for: the budget solver instead of the parameters typed.
    let field = |k: &str| f.text(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let typed_solve = (
        field("solve_param"),
        field("solve_budget"),
        field("solve_range"),
    );
    let solve = (!typed_solve.0.is_empty()).then(|| routes::simulations::SolveIn {
        param: typed_solve.0.clone(),
        budget: typed_solve.1.clone(),
        range: (!typed_solve.2.is_empty()).then(|| typed_solve.2.clone()),
    });
    let b = routes::simulations::SimulateIn {
        period,
        snapshot: f.text("snapshot"),
        set: match solve {
            Some(_) => vec![],
            None => typed.iter().map(|(n, v)| format!("{n}={v}")).collect(),
        },
        groups: vec![],
        top: Some(20),
        backtest,
        solve,
    };
    let Json(out) =
        routes::simulations::start(State(p.s.clone()), Extension(p.c.clone()), Body(b)).await?;
    render(&SandboxPage {
        l: p.layout("sandbox.title"),
        params: params(p, period, &typed),
        snapshots: snapshots(p),
        period,
        backtest: f.text("backtest").unwrap_or_default(),
        solve: typed_solve,
        solvable: solvable(p),
        result: Some(view(p, out.id, &out.summary)),
    })
}
