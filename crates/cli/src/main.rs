//! `huiqi` — write enterprise-support policies as rules, check and test them, and ask one firm
//! what it gets and why.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use huiqi_eval::{evaluate_population, explain, firmfile, runner};
use huiqi_lang::{fmt, load_pack, Lang, Loaded, SourceMap};

mod data_cmds;
mod ledger_cmd;
mod run_cmd;

#[derive(Parser)]
#[command(
    name = "huiqi",
    version,
    about = "惠企 huiqi: 免申即享 policy engine — policies as tested rules, exact awards, explanations",
    long_about = "huiqi turns each clause of an enterprise-support policy into readable, versioned, tested rules \
and decides for every firm and clause whether it qualifies, how much it gets, and why.\n\n\
A policy pack is a directory of .hq files (see docs/LANGUAGE.md). Typical session:\n\
  huiqi check policies/                 # static checks: names, units, tiers, references\n\
  huiqi fmt policies/                   # canonical formatting (--check in CI)\n\
  huiqi test policies/                  # run the example firms in the pack's test blocks\n\
  huiqi explain policies/ningbo examples/firms/meixu_jingmi.toml --period 2023\n\
  huiqi demo                            # all of the above on the seed pack",
    after_help = "Exit codes: 0 ok, 1 the input has errors (diagnostics printed), 2 usage error."
)]
struct Cli {
    /// Language of diagnostics and explanations.
    #[arg(long, global = true, value_enum, default_value = "zh")]
    lang: LangArg,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Zh,
    En,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole pack over a data snapshot (columnar engine); write results and a manifest.
    Run {
        #[command(flatten)]
        run: run_cmd::RunArgs,
        /// Read award history from this ledger (SQLite file or postgres:// URL): the run reads a
        /// snapshot derived from --snapshot whose awards table is what the ledger says was
        /// awarded before --period (written beside --snapshot; the manifest names it).
        #[arg(long)]
        ledger: Option<String>,
        /// With --ledger: only what was paid counts as awarded.
        #[arg(long, requires = "ledger")]
        ledger_paid_only: bool,
    },
    /// Parse and type-check policy packs; report every error with file:line:col and a hint.
    Check {
        /// Pack directories (searched recursively) or single .hq files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Rewrite .hq files in canonical form (comments are kept). With --check, only report.
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Run the test blocks of policy packs and print `N passed, N failed`.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Explain what one firm gets under a pack, clause by clause, and why (not).
    Explain {
        /// The policy pack directory.
        pack: PathBuf,
        /// The firm, as a TOML or JSON file (see docs/LANGUAGE.md, "Firm files").
        firm: PathBuf,
        /// The year to evaluate (default: the latest year in the firm's data).
        #[arg(long)]
        period: Option<i32>,
        /// Only this clause.
        #[arg(long)]
        clause: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The demo zone end to end: check and test the seed pack, then explain the sample firms.
    Demo {
        /// Policy packs (default: ./policies).
        #[arg(long)]
        policies: Option<PathBuf>,
        /// Sample firm files (default: ./examples/firms).
        #[arg(long)]
        firms: Option<PathBuf>,
    },
    /// Validate enterprise data (CSV/XLSX/Parquet, via a mapping file) and write an immutable snapshot.
    Ingest(data_cmds::IngestArgs),
    /// Generate a realistic demo zone's data files and their mapping (seeded).
    Gen(data_cmds::GenArgs),
    /// Print a snapshot's manifest.
    SnapshotInfo(data_cmds::SnapshotInfoArgs),
    /// The entitlement ledger: record runs, approve/announce/confirm/pay, export, verify.
    Ledger(ledger_cmd::LedgerArgs),
    /// Every award of one firm (credit code), its state and the date of each step.
    Status(ledger_cmd::StatusArgs),
}

struct Out {
    lang: Lang,
    color: bool,
}

impl Out {
    fn en(&self) -> bool {
        self.lang == Lang::En
    }
    fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en() {
            en
        } else {
            zh
        }
    }
    fn diags(&self, sm: &SourceMap, ds: &[huiqi_lang::Diag]) {
        for d in ds {
            eprint!("{}", sm.render(d, self.lang, self.color));
        }
    }
}

fn load(o: &Out, path: &Path) -> Option<Loaded> {
    match load_pack(path) {
        Ok(l) => {
            o.diags(&l.sources, &l.warnings);
            Some(l)
        }
        Err((sm, ds)) => {
            o.diags(&sm, &ds);
            eprintln!(
                "{}: {} {}",
                path.display(),
                ds.len(),
                o.t("个错误", if ds.len() == 1 { "error" } else { "errors" })
            );
            None
        }
    }
}

fn packs(o: &Out, paths: &[PathBuf]) -> Result<Vec<PathBuf>, ExitCode> {
    let mut out = vec![];
    for p in paths {
        if !p.exists() {
            eprintln!(
                "{}: {}",
                p.display(),
                o.t("路径不存在", "no such file or directory")
            );
            return Err(ExitCode::from(2));
        }
        match huiqi_lang::find_packs(p) {
            Ok(ps) if ps.is_empty() => {
                eprintln!(
                    "{}: {}",
                    p.display(),
                    o.t("没有找到 .hq 文件", "no .hq files found")
                );
                return Err(ExitCode::from(1));
            }
            Ok(ps) => out.extend(ps),
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                return Err(ExitCode::from(1));
            }
        }
    }
    Ok(out)
}

fn cmd_check(o: &Out, paths: &[PathBuf]) -> ExitCode {
    let ps = match packs(o, paths) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let mut bad = 0;
    for p in &ps {
        match load(o, p) {
            Some(l) => {
                let pr = &l.program;
                println!(
                    "{} {}: {} {}, {} {}, {} {}",
                    o.t("✓", "ok"),
                    p.display(),
                    pr.clauses.len(),
                    o.t("个条款", "clauses"),
                    pr.facts.len(),
                    o.t("个事实", "facts"),
                    pr.tests.len(),
                    o.t("个测试", "tests")
                );
            }
            None => bad += 1,
        }
    }
    if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn hq_files(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            hq_files(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "hq") {
            out.push(e);
        }
    }
    Ok(())
}

fn cmd_fmt(o: &Out, paths: &[PathBuf], check: bool) -> ExitCode {
    let mut files = vec![];
    for p in paths {
        if let Err(e) = hq_files(p, &mut files) {
            eprintln!("{}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    let (mut changed, mut errors) = (0, 0);
    for f in &files {
        let src = match std::fs::read_to_string(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                errors += 1;
                continue;
            }
        };
        let mut sm = SourceMap::default();
        let id = sm.add(f.display().to_string(), src.clone());
        let parsed = match huiqi_lang::parser::parse_file(id, &src) {
            Ok(p) => p,
            Err(d) => {
                o.diags(&sm, &[d]);
                errors += 1;
                continue;
            }
        };
        let formatted = fmt::format_file(&parsed, &src);
        if formatted != src {
            changed += 1;
            if check {
                println!("{} {}", o.t("未格式化：", "not formatted:"), f.display());
            } else if let Err(e) = std::fs::write(f, &formatted) {
                eprintln!("{}: {e}", f.display());
                errors += 1;
            } else {
                println!("{} {}", o.t("已格式化：", "formatted:"), f.display());
            }
        }
    }
    println!(
        "{} {}, {} {}",
        files.len(),
        o.t("个文件", "files"),
        changed,
        if check {
            o.t("个需要格式化", "need formatting")
        } else {
            o.t("个已改写", "rewritten")
        }
    );
    if errors > 0 || (check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn cmd_test(o: &Out, paths: &[PathBuf], filter: Option<&str>) -> ExitCode {
    let ps = match packs(o, paths) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for p in &ps {
        let Some(l) = load(o, p) else {
            broken += 1;
            continue;
        };
        let rep = runner::run_tests(&l.program, filter, o.en());
        for f in &rep.failed {
            println!(
                "{} {} ({}:{})\n{}",
                o.t("✗ 失败", "✗ FAILED"),
                f.test,
                f.origin.file,
                f.origin.line,
                f.message
            );
        }
        println!(
            "{}: {} {}, {} {}",
            p.display(),
            rep.passed,
            o.t("通过", "passed"),
            rep.failed.len(),
            o.t("失败", "failed")
        );
        passed += rep.passed;
        failed += rep.failed.len();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn explain_one(
    o: &Out,
    l: &Loaded,
    firm_path: &Path,
    period: Option<i32>,
    clause: Option<&str>,
    json: bool,
) -> ExitCode {
    let p = &l.program;
    let text = match std::fs::read_to_string(firm_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", firm_path.display());
            return ExitCode::from(1);
        }
    };
    let is_json = firm_path.extension().is_some_and(|x| x == "json");
    let firm = match firmfile::parse_firm(p, &text, is_json) {
        Ok(f) => f,
        Err(e) => {
            let (msg, hint) = if o.en() {
                (&e.en, &e.hint_en)
            } else {
                (&e.zh, &e.hint_zh)
            };
            eprintln!(
                "{}: {}[{}]: {msg}\n  = {}: {hint}",
                firm_path.display(),
                o.t("错误", "error"),
                e.field,
                o.t("提示", "hint")
            );
            return ExitCode::from(1);
        }
    };
    let year = match period.or_else(|| {
        firm.facts
            .iter()
            .filter_map(|f| match f {
                huiqi_ir::FactData::Yearly(ys) => ys.last().map(|(y, _)| *y),
                _ => None,
            })
            .max()
    }) {
        Some(y) => y,
        None => {
            eprintln!(
                "{}",
                o.t(
                    "请用 --period 指定年度（企业数据中没有年度数据）",
                    "give --period (the firm has no yearly data)"
                )
            );
            return ExitCode::from(2);
        }
    };
    let only = match clause {
        Some(c) => match p.clause_by_name(c) {
            Some(id) => Some(id),
            None => {
                let names: Vec<&str> = p.clauses.iter().map(|c| c.name.as_str()).collect();
                eprintln!(
                    "{} `{c}`; {}: {}",
                    o.t("未知的条款", "unknown clause"),
                    o.t("可用条款", "clauses"),
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let outs = evaluate_population(p, std::slice::from_ref(&firm), year, true);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&explain::explain_json(p, &firm, &outs[0], year, only))
                .unwrap()
        );
    } else {
        print!(
            "{}",
            explain::explain_text(p, &firm, &outs[0], year, only, o.en())
        );
        if !p.selects.is_empty() || !p.pools.is_empty() {
            println!(
                "{}",
                o.t(
                    "注：遴选名额与资金池按全体企业分配；单个企业的结果视为只有本企业参与。",
                    "note: selections and budget pools are allocated over the whole population; a single firm is evaluated as if it were alone."
                )
            );
        }
    }
    ExitCode::SUCCESS
}

fn cmd_demo(o: &Out, policies: Option<PathBuf>, firms: Option<PathBuf>) -> ExitCode {
    let root = std::env::current_dir().unwrap_or_default();
    let policies = policies.unwrap_or_else(|| root.join("policies"));
    let firms = firms.unwrap_or_else(|| root.join("examples/firms"));
    println!("== huiqi demo ==\n");
    println!(
        "1. {} {}",
        o.t("检查政策包", "check the policy packs in"),
        policies.display()
    );
    if cmd_check(o, std::slice::from_ref(&policies)) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    println!("\n2. {}", o.t("运行政策包中的测试", "run the packs' tests"));
    if cmd_test(o, std::slice::from_ref(&policies), None) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    let pack = match huiqi_lang::find_packs(&policies) {
        Ok(ps) if !ps.is_empty() => ps[0].clone(),
        _ => return ExitCode::from(1),
    };
    let Some(l) = load(o, &pack) else {
        return ExitCode::from(1);
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&firms)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml" || x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    println!(
        "\n3. {} ({})",
        o.t("逐户解释样例企业", "explain the sample firms"),
        firms.display()
    );
    for f in &files {
        println!("\n──────── {} ────────", f.display());
        if explain_one(o, &l, f, None, None, false) != ExitCode::SUCCESS {
            return ExitCode::from(1);
        }
    }
    // 4–6: a generated zone, ingested into a snapshot and run with the columnar engine.
    let work = root.join("var/demo");
    let zone = work.join("zone");
    println!(
        "\n4. {} {}",
        o.t(
            "生成示范园区数据（2000家企业，2019–2023年）→",
            "generate a demo zone (2,000 firms, 2019–2023) →"
        ),
        zone.display()
    );
    let gen = data_cmds::GenArgs {
        firms: 2000,
        years: "2019..2023".into(),
        seed: 42,
        out: zone.clone(),
        xlsx: false,
    };
    if data_cmds::gen(&gen, o.en()) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    println!(
        "\n5. {}",
        o.t(
            "导入并校验，生成不可变快照",
            "ingest with validation into an immutable snapshot"
        )
    );
    let snaps = work.join("snapshots");
    let info = match huiqi_data::ingest::ingest(&zone.join("mapping.toml"), &l.program, &snaps, 50)
    {
        Ok(i) => i,
        Err(rep) => {
            eprintln!("{rep}");
            return ExitCode::from(1);
        }
    };
    println!("{} {}", o.t("快照", "snapshot"), info.dir.display());
    println!(
        "\n6. {}",
        o.t(
            "用列式引擎对全部企业运行政策包（2023年度）",
            "run the pack over every firm with the columnar engine (period 2023)"
        )
    );
    let run = run_cmd::RunArgs {
        policy: pack.clone(),
        snapshot: info.dir.clone(),
        period: 2023,
        out: work.join("run-2023"),
        memory_limit: None,
        no_xlsx: false,
        repeat: 1,
        chunk_firms: None,
    };
    if run_cmd::run(&run, o.en()) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    demo_ledger(o, &work)
}

/// Demo steps 7–11: the run into the embedded ledger, then review, 公示, confirmation and
/// payment of a few awards, a firm's status, the reconciliation and the audit check.
fn demo_ledger(o: &Out, work: &Path) -> ExitCode {
    use ledger_cmd::{Common, ExportCmd, LedgerArgs, LedgerCmd, Sel};
    let db = work.join("ledger.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let step = |at: &str, cmd: LedgerCmd| {
        let a = LedgerArgs {
            common: Common {
                db: db.display().to_string(),
                actor: Some("demo".into()),
                at: Some(at.into()),
            },
            cmd,
        };
        ledger_cmd::ledger(&a, o.en())
    };
    let sel = |ids: Vec<i64>, clause: Option<&str>| Sel {
        id: ids.clone(),
        all: ids.is_empty(),
        clause: clause.map(str::to_string),
        ..Sel::default()
    };
    println!(
        "\n7. {} {}",
        o.t("把运行结果记入台账", "record the run in the ledger"),
        db.display()
    );
    let mut ok = step(
        "2024-02-01",
        LedgerCmd::Record {
            run: work.join("run-2023"),
            snapshot: None,
        },
    ) == ExitCode::SUCCESS;
    println!(
        "\n8. {}",
        o.t(
            "审核高企认定奖励并公示（7天），三家企业确认，拨付",
            "approve the 高企 awards and publish them (公示, 7 days); three firms confirm; pay them"
        )
    );
    ok = ok
        && step(
            "2024-02-10",
            LedgerCmd::Approve(sel(vec![], Some("高企认定奖励"))),
        ) == ExitCode::SUCCESS;
    ok = ok
        && step(
            "2024-03-01",
            LedgerCmd::Announce {
                sel: sel(vec![], None),
                title: "2023年度高企认定奖励拟兑现名单公示".into(),
                opens: None,
                closes: None,
                days: Some(7),
            },
        ) == ExitCode::SUCCESS;
    ok = ok
        && step(
            "2024-03-01",
            LedgerCmd::Export {
                what: ExportCmd::Notice {
                    notice: None,
                    out: work.join("ledger-export"),
                },
            },
        ) == ExitCode::SUCCESS;
    if !ok {
        return ExitCode::from(1);
    }
    let first: Vec<(i64, String)> = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut l = huiqi_ledger::Ledger::open(&db.display().to_string()).await.ok()?;
            let r = l
                .db
                .rows(
                    "SELECT i.id, e.firm_id FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE i.state = 'announced' ORDER BY i.id LIMIT 3",
                    &[],
                )
                .await
                .ok()?;
            l.close().await;
            Some(r.iter().map(|r| (r.i(0), r.s(1))).collect())
        })
        .unwrap_or_default()
    };
    let ids: Vec<i64> = first.iter().map(|x| x.0).collect();
    ok = !ids.is_empty()
        && step("2024-03-03", LedgerCmd::Confirm(sel(ids.clone(), None))) == ExitCode::SUCCESS;
    for id in &ids {
        ok = ok
            && step(
                "2024-03-20",
                LedgerCmd::Pay {
                    sel: sel(vec![*id], None),
                    reference: Some(format!("GK2024032000{id:04}")),
                    file: None,
                },
            ) == ExitCode::SUCCESS;
    }
    if !ok {
        return ExitCode::from(1);
    }
    println!(
        "\n9. {} {}",
        o.t(
            "企业查询兑现进度：huiqi status",
            "a firm's status: huiqi status"
        ),
        first[0].1
    );
    let st = ledger_cmd::StatusArgs {
        credit_code: first[0].1.clone(),
        db: db.display().to_string(),
    };
    if ledger_cmd::status(&st, o.en()) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    println!(
        "\n10. {}",
        o.t(
            "对账：预算、审核与拨付",
            "reconciliation: budget vs approved vs paid"
        )
    );
    if step(
        "2024-03-31",
        LedgerCmd::Reconcile {
            period: Some(2023),
            policy: None,
        },
    ) != ExitCode::SUCCESS
    {
        return ExitCode::from(1);
    }
    println!(
        "\n11. {}",
        o.t("校验审计哈希链", "verify the audit hash chain")
    );
    step("2024-03-31", LedgerCmd::Verify)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let o = Out {
        lang: if matches!(cli.lang, LangArg::En) {
            Lang::En
        } else {
            Lang::Zh
        },
        color: std::io::stderr().is_terminal(),
    };
    match cli.cmd {
        Cmd::Check { paths } => cmd_check(&o, &paths),
        Cmd::Fmt { paths, check } => cmd_fmt(&o, &paths, check),
        Cmd::Test { paths, filter } => cmd_test(&o, &paths, filter.as_deref()),
        Cmd::Explain {
            pack,
            firm,
            period,
            clause,
            json,
        } => match load(&o, &pack) {
            Some(l) => explain_one(&o, &l, &firm, period, clause.as_deref(), json),
            None => ExitCode::from(1),
        },
        Cmd::Demo { policies, firms } => cmd_demo(&o, policies, firms),
        Cmd::Ingest(a) => data_cmds::ingest(&a, o.en()),
        Cmd::Gen(a) => data_cmds::gen(&a, o.en()),
        Cmd::SnapshotInfo(a) => data_cmds::snapshot_info(&a, o.en()),
        Cmd::Run {
            mut run,
            ledger,
            ledger_paid_only,
        } => {
            if let Some(db) = ledger {
                match ledger_cmd::ledger_snapshot(
                    &db,
                    &run.snapshot,
                    run.period,
                    ledger_paid_only,
                    o.en(),
                ) {
                    Ok(dir) => run.snapshot = dir,
                    Err(c) => return c,
                }
            }
            run_cmd::run(&run, o.en())
        }
        Cmd::Ledger(a) => ledger_cmd::ledger(&a, o.en()),
        Cmd::Status(a) => ledger_cmd::status(&a, o.en()),
    }
}
