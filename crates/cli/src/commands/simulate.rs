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
}

pub fn simulate(o: &Out, a: &SimulateArgs) -> huiqi::Result<ExitCode> {
    let reform = match &a.reform {
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
    }
    println!(
        "{} {}（{} ms）",
        o.t("写出：", "written:"),
        r.out.display(),
        r.elapsed.as_millis()
    );
    Ok(ExitCode::SUCCESS)
}
