//! `huiqi run`: the whole pack over a snapshot with the columnar engine.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use huiqi::run::{Progress, RunReport, RunRequest};

use crate::render::Out;

#[derive(Args)]
pub struct RunArgs {
    /// The policy pack directory.
    #[arg(long)]
    pub policy: PathBuf,
    /// The snapshot directory (written by `huiqi ingest`).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// The year to evaluate.
    #[arg(long)]
    pub period: i32,
    /// Where to write results.parquet, results.csv, results.xlsx and manifest.json.
    #[arg(long, default_value = "var/runs/latest")]
    pub out: PathBuf,
    /// Memory limit for the engine, e.g. 2G or 512M (sorts and aggregates spill beyond it).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Skip the XLSX file (it is skipped anyway above 1,048,575 rows).
    #[arg(long)]
    pub no_xlsx: bool,
    /// Benchmarks: compute N times over the snapshot read once and report each compute time in
    /// timings.json (`compute_ms`); the results written are the last computation's.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: usize,
    /// Load and evaluate N firms at a time, keeping only their slot amounts for the
    /// cross-clause rules: memory follows N, not the population (for one larger than RAM).
    #[arg(long, value_name = "N")]
    pub chunk_firms: Option<usize>,
    /// Read award history from this ledger (SQLite file or postgres:// URL): the run reads a
    /// snapshot derived from --snapshot whose awards table is what the ledger says was
    /// awarded before --period (written beside --snapshot; the manifest names it).
    #[arg(long)]
    pub ledger: Option<String>,
    /// With --ledger: only what was paid counts as awarded.
    #[arg(long, requires = "ledger")]
    pub ledger_paid_only: bool,
    /// Write into --out even when it holds something other than a previous run's files.
    #[arg(long)]
    pub force: bool,
    /// Set a parameter for this run: `--set 名称=值` (repeatable), in the pack's notation
    /// (`8000万`, `3%`, `20`); `--set 名称=值@2024-07-01` from that day on (earlier values
    /// stay). Checked as if written in the pack; the manifest records it and the policy hash
    /// covers it.
    #[arg(long = "set", value_name = "名称=值", value_parser = parse_set)]
    pub set: Vec<huiqi::lang::ParamSet>,
    /// Evaluate the chunks of firms on an Apache Ballista cluster (`huiqi cluster scheduler`
    /// and `huiqi cluster executor`, in a build with the `distributed` feature): the scheduler
    /// as `df://HOST:PORT`. Every node reads the pack and the snapshot at the same absolute
    /// paths; the results and manifest are the same bytes as on one machine.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// `--set 名称=值`.
pub fn parse_set(s: &str) -> Result<huiqi::lang::ParamSet, String> {
    huiqi::lang::ParamSet::parse(s).ok_or_else(|| {
        format!("expected 名称=值 or 名称=值@日期 (NAME=VALUE[@YYYY-MM-DD]), got `{s}`")
    })
}

pub fn run(o: &Out, a: &RunArgs) -> huiqi::Result<ExitCode> {
    let mut snapshot = a.snapshot.clone();
    if let Some(db) = &a.ledger {
        let d = huiqi::ledger::block_on(huiqi::ledger::history_snapshot(
            db,
            &a.snapshot,
            a.period,
            a.ledger_paid_only,
        ))??;
        eprintln!(
            "{} {} {} → {}",
            o.t("台账奖励记录：", "award history from the ledger:"),
            d.awards,
            o.t("条", "awards"),
            d.dir.display()
        );
        let (n, fen) = d.uncounted;
        if n > 0 {
            eprintln!(
                "{} {n} {} {} {} {}",
                o.t("警告：", "warning:"),
                o.t(
                    "条早于本年度的明细尚未审核通过",
                    "line(s) of earlier years are not yet approved"
                ),
                o.t("（金额", "(amount"),
                huiqi_ledger::yuan(fen),
                o.t(
                    "元），不计入奖励历史；其后若获批，本次测算的补差与上限不含这部分",
                    "yuan) and are not counted as awarded; if they are approved later, this run's top-ups and caps did not see them"
                ),
            );
        }
        snapshot = d.dir;
    }
    let memory_limit = match &a.memory_limit {
        Some(s) => Some(huiqi::run::parse_size(s).ok_or_else(|| {
            huiqi::Error::usage(
                format!("内存上限应写成 2G、512M 之类，实为 `{s}`"),
                format!("a memory limit looks like 2G or 512M, not `{s}`"),
            )
        })?),
        None => None,
    };
    let req = RunRequest {
        policy: a.policy.clone(),
        snapshot,
        period: a.period,
        out: a.out.clone(),
        memory_limit,
        xlsx: !a.no_xlsx,
        repeat: a.repeat,
        chunk_firms: a.chunk_firms,
        force: a.force,
        set: a.set.clone(),
        cluster: a.cluster.clone(),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let progress = |p: Progress| {
        let Some(b) = &bar else { return };
        match p {
            Progress::Evaluating => b.set_message(
                o.t(
                    "计算中：编译政策并扫描数据快照…",
                    "evaluating: compiling the pack and scanning the snapshot…",
                )
                .to_string(),
            ),
            Progress::Writing => b.set_message(o.t("写出结果…", "writing results…").to_string()),
            Progress::Done => b.finish_and_clear(),
        }
    };
    let r = huiqi::run::run(&req, &progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    render(o, &r?);
    Ok(ExitCode::SUCCESS)
}

/// Money by clause, the total, and where the files went.
pub fn render(o: &Out, r: &RunReport) {
    let m = &r.manifest;
    for cap in &r.caps_without_history {
        eprintln!(
            "{} {cap} {}",
            o.t("警告：", "warning:"),
            o.t(
                "跨年度累计，但本快照没有往期奖励记录，本次只按本年计；要入账的测算请用 --ledger 读取台账的奖励历史",
                "spans several years but this snapshot holds no award history, so it capped this year alone; a run to be recorded reads the ledger's history with --ledger"
            )
        );
    }
    if let Some(rows) = r.xlsx_skipped {
        eprintln!(
            "{} ({} > {})",
            o.t(
                "结果行数超过 XLSX 上限，未写 XLSX",
                "too many rows for XLSX; skipped"
            ),
            rows,
            huiqi_columnar::output::XLSX_MAX_ROWS
        );
    }
    println!(
        "{} {}  {} {}  {} {}",
        o.t("政策", "policy"),
        m.policy.name,
        o.t("年度", "period"),
        m.period,
        o.t("快照", "snapshot"),
        &m.snapshot.hash[..16.min(m.snapshot.hash.len())]
    );
    println!(
        "{:<16} {:>10} {:>20}",
        o.t("条款", "clause"),
        o.t("获奖企业", "awards"),
        o.t("金额（元）", "amount (yuan)")
    );
    for c in &m.by_clause {
        println!(
            "{:<16} {:>10} {:>20}",
            c.clause.as_deref().unwrap_or("?"),
            c.awards,
            crate::render::yuan(c.amount_fen)
        );
    }
    println!(
        "{:<16} {:>10} {:>20}",
        o.t("合计", "total"),
        m.by_clause.iter().map(|c| c.awards).sum::<u64>(),
        crate::render::yuan(m.total_fen)
    );
    if let Some(c) = &m.clawbacks {
        println!(
            "{:<16} {:>10} {:>20}  ({})",
            o.t("追回", "clawbacks"),
            c.rows,
            crate::render::yuan(c.amount_fen),
            c.rules.join(o.t("、", ", "))
        );
    }
    println!(
        "{} {}, {} {}, {} {:.2}s ({} {:.2}s, {} {:.2}s), {} {}",
        m.firms,
        o.t("家企业", "firms"),
        m.rows,
        o.t("行结果", "result rows"),
        o.t("用时", "in"),
        r.elapsed.as_secs_f64(),
        o.t("计算", "engine"),
        r.engine.as_secs_f64(),
        o.t("写出", "write"),
        r.write.as_secs_f64(),
        o.t("结果写入", "results in"),
        r.out.display()
    );
}
