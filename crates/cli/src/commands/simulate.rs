//! `huiqi simulate`: the 政策沙盘 — a reform against the base pack over the same snapshot.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi::simulate::{Reform, SimulateRequest};

use crate::render::Out;

#[derive(Args)]
pub struct SimulateArgs {
    /// The base policy pack (the policy in force).
    #[arg(long)]
    pub policy: PathBuf,
    /// The reform: another pack directory, or a reform.toml of parameter changes
    /// (`[[set]] name = "…" value = "…" from = 2024-01-01`).
    #[arg(long)]
    pub reform: Option<PathBuf>,
    /// A parameter change (repeatable), instead of or on top of a reform.toml:
    /// `--set 瞪羚遴选名额=20`.
    #[arg(long = "set", value_name = "名称=值", value_parser = super::run::parse_set)]
    pub set: Vec<huiqi::lang::ParamSet>,
    /// The snapshot directory (written by `huiqi ingest`).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// The year to evaluate.
    #[arg(long)]
    pub period: i32,
    /// Where to write delta.parquet, summary.json and reform.xlsx.
    #[arg(long, default_value = "var/simulations/latest")]
    pub out: PathBuf,
    /// A static fact of the firms to break the figures down by (repeatable; default: every
    /// static enum or bool fact of the pack, e.g. 行业).
    #[arg(long = "group", value_name = "FACT")]
    pub groups: Vec<String>,
    /// How many of the largest gainers and losers to list by name.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Skip reform.xlsx.
    #[arg(long)]
    pub no_xlsx: bool,
    /// Write into --out even when it holds something other than a previous simulation.
    #[arg(long)]
    pub force: bool,
    /// Read the award history from this ledger (SQLite file or postgres:// URL), as `huiqi run
    /// --ledger` does: top-ups and caps over several years see what was awarded before.
    #[arg(long)]
    pub ledger: Option<String>,
    /// Backtest: these past periods too (`2022..2023` or `2022,2023`), each with the ledger's
    /// history before it, against what the ledger says was paid. Needs --ledger.
    #[arg(long, requires = "ledger", value_parser = parse_periods)]
    pub backtest: Option<Periods>,
    /// Budget solver: the parameter whose value is sought (money, count or ratio) …
    #[arg(long, requires = "budget", conflicts_with_all = ["reform", "set"])]
    pub solve: Option<String>,
    /// … so that the period's total stays within this amount (`5000万`, `1234.56元`).
    #[arg(long, requires = "solve")]
    pub budget: Option<String>,
    /// … searched over this range (`0..2000万`; default 0 to twice the value in force).
    #[arg(long, requires = "solve", value_parser = parse_range)]
    pub range: Option<(String, String)>,
}

/// Years given as one argument.
#[derive(Clone, Debug)]
pub struct Periods(pub Vec<i32>);

/// `2022..2024` or `2022,2024`.
fn parse_periods(s: &str) -> Result<Periods, String> {
    let bad = || format!("expected YEAR..YEAR or YEAR,YEAR…, got `{s}`");
    if let Some((a, b)) = s.split_once("..") {
        let (a, b): (i32, i32) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b - a > 20 {
            return Err(bad());
        }
        return Ok(Periods((a..=b).collect()));
    }
    s.split(',')
        .map(|x| x.trim().parse::<i32>().map_err(|_| bad()))
        .collect::<Result<_, _>>()
        .map(Periods)
}

fn parse_range(s: &str) -> Result<(String, String), String> {
    huiqi::solve::parse_range(s).ok_or_else(|| format!("expected LOW..HIGH, got `{s}`"))
}

pub fn simulate(o: &Out, a: &SimulateArgs) -> huiqi::Result<ExitCode> {
    let solved = match &a.solve {
        Some(param) => Some(solve(o, a, param)?),
        None => None,
    };
    let reform = match &a.reform {
        _ if solved.is_some() => Reform::Sets(solved.iter().map(huiqi::solve::as_set).collect()),
        Some(p) if p.is_dir() => {
            if !a.set.is_empty() {
                return Err(huiqi::Error::usage(
                    "--reform 为政策包目录时不能再用 --set",
                    "--set cannot be combined with a --reform pack directory",
                ));
            }
            Reform::Pack(p.clone())
        }
        Some(p) => {
            let mut sets = huiqi::simulate::read_reform_toml(p)?;
            sets.extend(a.set.iter().cloned());
            Reform::Sets(sets)
        }
        None if !a.set.is_empty() => Reform::Sets(a.set.clone()),
        None => {
            return Err(huiqi::Error::usage(
                "请用 --reform（政策包目录或 reform.toml）或 --set 给出改革方案",
                "give the reform: --reform (a pack directory or a reform.toml) or --set",
            ))
        }
    };
    let r = huiqi::simulate::simulate(&SimulateRequest {
        base: a.policy.clone(),
        reform,
        snapshot: a.snapshot.clone(),
        period: a.period,
        out: a.out.clone(),
        groups: a.groups.clone(),
        top: a.top,
        xlsx: !a.no_xlsx,
        force: a.force,
        ledger: a.ledger.clone(),
        history_dir: None,
        backtest: a.backtest.clone().map(|p| p.0).unwrap_or_default(),
        solved,
    })?;
    let s = &r.summary;
    let y = huiqi_ledger::yuan;
    let signed = |f: i64| {
        if f > 0 {
            format!("+{}", y(f))
        } else {
            y(f)
        }
    };
    println!(
        "{} {} v{} → {} v{}{}",
        o.t("政策沙盘：", "simulation:"),
        s.base.name,
        s.base.version,
        s.reform.name,
        s.reform.version,
        if s.reform.set.is_empty() {
            String::new()
        } else {
            format!("（{}）", s.reform.set.join("；"))
        }
    );
    println!(
        "  {} {}  {} {} {}",
        o.t("年度", "period"),
        s.period,
        o.t("企业", "firms"),
        s.firms,
        o.t("家", "")
    );
    println!(
        "  {} {} → {} {}，{} {} {}",
        o.t("合计", "total"),
        y(s.total_base_fen),
        y(s.total_reform_fen),
        o.t("元", "yuan"),
        o.t("变化", "change"),
        signed(s.total_delta_fen),
        o.t("元", "yuan")
    );
    println!(
        "  {} {} {}（+{} {}），{} {} {}（{} {}）",
        o.t("受益", "gaining"),
        s.all.gainers,
        o.t("家", "firms"),
        y(s.all.gain_fen),
        o.t("元", "yuan"),
        o.t("受损", "losing"),
        s.all.losers,
        o.t("家", "firms"),
        y(s.all.loss_fen),
        o.t("元", "yuan")
    );
    println!(
        "{}",
        o.t("按条款（两次完整测算之差）：", "by clause (joint):")
    );
    for c in s
        .by_clause
        .iter()
        .filter(|c| c.sums.delta_fen != 0 || c.sums.gainers + c.sums.losers > 0)
    {
        println!(
            "  {}: {} → {}（{}）",
            c.clause,
            y(c.sums.base_fen),
            y(c.sums.reform_fen),
            signed(c.sums.delta_fen)
        );
    }
    println!(
        "  {} {}，{} {}",
        o.t(
            "各条款单独测算（不计就高、资金池、上限等跨条款规则）之和",
            "sum of the clauses alone (without 就高, pools, caps and other rules across clauses)"
        ),
        signed(s.standalone_delta_fen),
        o.t("跨条款规则的相互影响", "what those rules make of it"),
        signed(s.interaction_fen)
    );
    for p in &s.pools {
        let side = |x: &Option<huiqi::simulate::PoolSide>| match x {
            Some(x) => format!(
                "{}/{} = {}.{:02}%",
                y(x.budget_fen),
                y(x.demand_fen),
                x.factor_bp / 100,
                x.factor_bp % 100
            ),
            None => "-".into(),
        };
        println!(
            "  {} {}: {} → {}{}",
            o.t("资金池", "pool"),
            p.pool,
            side(&p.base),
            side(&p.reform),
            if p.losers_by_others > 0 {
                format!(
                    "，{} {}（{}）",
                    p.losers_by_others,
                    o.t(
                        "家仅因他人申领增加而减少",
                        "firm(s) get less only because others claim more"
                    ),
                    signed(p.loss_by_others_fen)
                )
            } else {
                String::new()
            }
        );
    }
    for b in &s.backtest {
        println!(
            "  {} {}: {} {} → {} {}（{}），{} {}，{} {}",
            o.t("回测", "backtest"),
            b.period,
            o.t("测算", "computed"),
            y(b.base_fen),
            y(b.reform_fen),
            o.t("元", "yuan"),
            signed(b.delta_fen),
            o.t("台账核定", "approved"),
            y(b.awarded_fen),
            o.t("实际拨付", "paid"),
            y(b.paid_fen)
        );
    }
    if !s.top_gainers.is_empty() || !s.top_losers.is_empty() {
        println!(
            "{}",
            o.t(
                "变化最大的企业（受益、受损各至多5家）：",
                "largest changes (up to 5 gaining, 5 losing):"
            )
        );
    }
    for f in s
        .top_gainers
        .iter()
        .take(5)
        .chain(s.top_losers.iter().take(5))
    {
        let why: Vec<String> = f
            .clauses
            .iter()
            .map(|(c, d)| format!("{c} {}", signed(*d)))
            .collect();
        println!(
            "  {} {}: {}（{}）",
            f.firm_id,
            f.name,
            signed(f.delta_fen),
            why.join("，")
        );
        for c in &f.first_changes {
            println!("      {c}");
        }
        if let Some(r) = &f.by_others {
            println!(
                "      {}{}",
                o.t(
                    "自身条件与测算额未变，随跨企业规则变化：",
                    "its own conditions and amounts unchanged; moved by a rule across firms: "
                ),
                huiqi::simulate::rule_text(r, o.en())
            );
        }
    }
    println!(
        "{} {}（{} ms）",
        o.t("写出：", "written:"),
        r.out.display(),
        r.elapsed.as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--solve PARAM --budget AMOUNT`: the value found, printed; the simulation then compares it
/// with the pack as it is.
fn solve(o: &Out, a: &SimulateArgs, param: &str) -> huiqi::Result<huiqi::solve::Solved> {
    let budget = a.budget.as_deref().unwrap_or_default();
    let budget_fen = huiqi::solve::parse_budget(budget)?;
    let snapshot = match &a.ledger {
        Some(db) => huiqi::simulate::with_history(db, &a.snapshot, None, a.period)?.dir,
        None => a.snapshot.clone(),
    };
    let s = huiqi::solve::solve(&huiqi::solve::SolveRequest {
        base: a.policy.clone(),
        snapshot,
        period: a.period,
        param: param.to_string(),
        budget_fen,
        range: a.range.clone(),
    })?;
    let y = huiqi_ledger::yuan;
    println!(
        "{} {}（{} {}，{} {}..{}，{} {}）",
        o.t("预算求解：", "budget solver:"),
        s.param,
        o.t("现值", "in force"),
        s.current,
        o.t("范围", "range"),
        s.range.0,
        s.range.1,
        o.t("测算", "evaluations"),
        s.probes.len()
    );
    println!(
        "  {} = {} → {} {} {}（{} {}）",
        s.param,
        s.value,
        o.t("合计", "total"),
        y(s.total_fen),
        o.t("元", "yuan"),
        o.t("预算", "budget"),
        y(s.budget_fen)
    );
    if let Some(n) = &s.next {
        println!(
            "  {} = {} → {} {} {}",
            s.param,
            n.value,
            o.t("合计", "total"),
            y(n.total_fen),
            o.t("元（超出预算）", "yuan (over the budget)")
        );
    }
    Ok(s)
}
