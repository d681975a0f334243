//! `huiqi run`: the whole pack over a snapshot with the columnar engine; results as Parquet,
//! CSV and XLSX plus a manifest (policy hash, snapshot hash, engine version, timings).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use huiqi_columnar::{output, Options, Results};

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
}

fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (n, m) = match s.chars().last()? {
        'G' | 'g' => (&s[..s.len() - 1], 1usize << 30),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'K' | 'k' => (&s[..s.len() - 1], 1 << 10),
        _ => (s, 1),
    };
    n.parse::<usize>().ok().map(|n| n * m)
}

/// Runs with a large stack: DataFusion's planner recurses over wide expression trees.
pub fn run_engine(
    program: &huiqi_ir::Program,
    snapshot: &Path,
    period: i32,
    opts: Options,
) -> Result<(Results, huiqi_columnar::Timings), String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .thread_stack_size(64 << 20)
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(huiqi_columnar::run(program, snapshot, period, &opts))
            })
            .map_err(|e| e.to_string())?
            .join()
            .map_err(|_| "the engine thread panicked".to_string())?
    })
}

pub fn run(a: &RunArgs, en: bool) -> ExitCode {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let loaded = match huiqi_lang::load_pack(&a.policy) {
        Ok(l) => l,
        Err((sm, ds)) => {
            for d in &ds {
                eprint!(
                    "{}",
                    sm.render(
                        d,
                        if en {
                            huiqi_lang::Lang::En
                        } else {
                            huiqi_lang::Lang::Zh
                        },
                        false
                    )
                );
            }
            return ExitCode::from(1);
        }
    };
    let p = &loaded.program;
    let snap = match huiqi_data::snapshot::read_manifest(&a.snapshot) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: {e}", a.snapshot.display());
            return ExitCode::from(1);
        }
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let step = |msg: &str| {
        if let Some(b) = &bar {
            b.set_message(msg.to_string());
        }
    };
    step(t(
        "计算中：编译政策并扫描数据快照…",
        "evaluating: compiling the pack and scanning the snapshot…",
    ));
    let opts = Options {
        memory_limit: a.memory_limit.as_deref().and_then(parse_size),
        repeat: a.repeat,
        chunk_firms: a.chunk_firms.filter(|&n| n > 0),
        ..Options::default()
    };
    let started = Instant::now();
    let (rows, timings) = match run_engine(p, &a.snapshot, a.period, opts) {
        Ok(r) => r,
        Err(e) => {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            eprintln!("{}: {e}", t("运行失败", "run failed"));
            return ExitCode::from(1);
        }
    };
    step(t("写出结果…", "writing results…"));
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("{}: {e}", a.out.display());
        return ExitCode::from(1);
    }
    let tw = Instant::now();
    let pq = a.out.join("results.parquet");
    let csv = a.out.join("results.csv");
    let xlsx = a.out.join("results.xlsx");
    let mut files = vec![];
    // Parquet and CSV are independent files: write them side by side.
    // Each writer's own time goes to timings.json: the slower one is the write's wall time.
    let timed = |f: &dyn Fn() -> Result<String, String>| {
        let t = Instant::now();
        f().map(|h| (h, t.elapsed()))
    };
    let r = std::thread::scope(|s| {
        let c = s.spawn(|| timed(&|| output::write_csv(&rows, &csv)));
        let p = timed(&|| output::write_parquet(&rows, &pq));
        let c = c
            .join()
            .unwrap_or_else(|_| Err("CSV writer panicked".into()));
        Ok::<_, String>((p?, c?))
    });
    let writer_times = match r {
        Ok(((hp, tp), (hc, tc))) => {
            files.push((pq, hp));
            files.push((csv, hc));
            (tp, tc)
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if !a.no_xlsx {
        match output::write_xlsx(&rows, &xlsx) {
            Ok(true) => {
                let h = output::file_sha256(&xlsx).unwrap_or_default();
                files.push((xlsx, h));
            }
            Ok(false) => {
                let _ = std::fs::remove_file(&xlsx);
                eprintln!(
                    "{} ({} > {})",
                    t(
                        "结果行数超过 XLSX 上限，未写 XLSX",
                        "too many rows for XLSX; skipped"
                    ),
                    rows.len(),
                    output::XLSX_MAX_ROWS
                );
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    }
    let write_time = tw.elapsed();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    // Money by clause.
    let mut by_clause: BTreeMap<usize, (u64, i64)> = BTreeMap::new();
    // Firms with at least one result row (rows come grouped by firm).
    let firms = (0..rows.len())
        .filter(|&i| i == 0 || rows.firm[i] != rows.firm[i - 1])
        .count();
    let idx = |name: &str| {
        p.clauses
            .iter()
            .position(|c| c.name == name)
            .unwrap_or(usize::MAX)
    };
    let slot_clause: Vec<usize> = rows.clauses.iter().map(|c| idx(c)).collect();
    for i in (0..rows.len()).filter(|&i| rows.amount_fen[i] > 0) {
        let e = by_clause
            .entry(slot_clause[rows.slot[i] as usize])
            .or_default();
        e.0 += 1;
        e.1 += rows.amount_fen[i];
    }
    let total: i64 = by_clause.values().map(|v| v.1).sum();
    let manifest = serde_json::json!({
        "engine": {"name": "huiqi", "version": env!("CARGO_PKG_VERSION"), "columnar": "datafusion 55"},
        "policy": {"name": p.policy.name, "version": p.policy.version, "hash": p.hash},
        "snapshot": {"hash": snap.hash, "dir": a.snapshot.display().to_string()},
        "period": a.period,
        "rows": rows.len(),
        "firms": firms,
        "total_fen": total,
        "by_clause": by_clause.iter().map(|(c, (n, f))| serde_json::json!({"clause": p.clauses.get(*c).map(|c| c.name.clone()), "awards": n, "amount_fen": f})).collect::<Vec<_>>(),
        "files": files.iter().map(|(f, h)| serde_json::json!({"file": f.file_name().map(|n| n.to_string_lossy().into_owned()), "sha256": h})).collect::<Vec<_>>(),
    });
    // Timings differ from run to run, so they live beside the manifest, not in it.
    let timing = serde_json::json!({
        "load_ms": timings.load.as_millis(), "plan_ms": timings.plan.as_millis(), "execute_ms": timings.execute.as_millis(), "results_ms": timings.results.as_millis(),
        "write_ms": write_time.as_millis(), "write_parquet_ms": writer_times.0.as_millis(), "write_csv_ms": writer_times.1.as_millis(),
        "total_ms": started.elapsed().as_millis(),
    });
    let mut timing = timing;
    if !timings.computes.is_empty() {
        // Microseconds as decimal milliseconds: a repeat can take well under 10 ms.
        timing["compute_ms"] = timings
            .computes
            .iter()
            .map(|d| serde_json::json!(d.as_micros() as f64 / 1000.0))
            .collect();
    }
    let _ = std::fs::write(
        a.out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    );
    let _ = std::fs::write(
        a.out.join("timings.json"),
        serde_json::to_string_pretty(&timing).unwrap() + "\n",
    );

    println!(
        "{} {}  {} {}  {} {}",
        t("政策", "policy"),
        p.policy.name,
        t("年度", "period"),
        a.period,
        t("快照", "snapshot"),
        &snap.hash[..16.min(snap.hash.len())]
    );
    println!(
        "{:<16} {:>10} {:>20}",
        t("条款", "clause"),
        t("获奖企业", "awards"),
        t("金额（元）", "amount (yuan)")
    );
    for (c, (n, f)) in &by_clause {
        let name = p.clauses.get(*c).map(|c| c.name.as_str()).unwrap_or("?");
        println!(
            "{:<16} {:>10} {:>20}",
            name,
            n,
            format!("{}.{:02}", f / 100, f % 100)
        );
    }
    println!(
        "{:<16} {:>10} {:>20}",
        t("合计", "total"),
        by_clause.values().map(|v| v.0).sum::<u64>(),
        format!("{}.{:02}", total / 100, total % 100)
    );
    println!(
        "{} {}, {} {}, {} {:.2}s ({} {:.2}s, {} {:.2}s), {} {}",
        firms,
        t("家企业", "firms"),
        rows.len(),
        t("行结果", "result rows"),
        t("用时", "in"),
        started.elapsed().as_secs_f64(),
        t("计算", "engine"),
        (timings.load + timings.plan + timings.execute + timings.results).as_secs_f64(),
        t("写出", "write"),
        write_time.as_secs_f64(),
        t("结果写入", "results in"),
        a.out.display()
    );
    ExitCode::SUCCESS
}
