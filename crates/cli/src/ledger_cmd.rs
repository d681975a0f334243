//! `huiqi ledger …` and `huiqi status`: recording runs, the 免申即享 workflow, exports,
//! reconciliation, audit verification and award history (crates/ledger, docs/LEDGER.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use huiqi_ledger::{
    read_payment_file, read_results, wan, yuan, Action, Budget, Ctx, Ledger, Selection,
};

/// The embedded ledger's default file, relative to the working directory.
pub const DEFAULT_DB: &str = "var/ledger.sqlite";

#[derive(Args, Clone)]
pub struct Common {
    /// The ledger: an SQLite file (default var/ledger.sqlite) or a postgres:// URL.
    #[arg(long, global = true, default_value = DEFAULT_DB)]
    pub db: String,
    /// Who acts (recorded in the audit trail). Default: $USER.
    #[arg(long, global = true)]
    pub actor: Option<String>,
    /// When the step happens (RFC 3339 or YYYY-MM-DD; default: now). For reproducible tests.
    #[arg(long, global = true)]
    pub at: Option<String>,
}

#[derive(Args)]
pub struct LedgerArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: LedgerCmd,
}

#[derive(Args, Clone, Default)]
pub struct Sel {
    /// Award line ids (repeat or comma-separate). Each must be in a state the step accepts.
    #[arg(long, value_delimiter = ',')]
    pub id: Vec<i64>,
    /// Every line in a state the step accepts (narrow with --firm, --clause, --period).
    #[arg(long)]
    pub all: bool,
    /// Only this firm (credit code).
    #[arg(long)]
    pub firm: Option<String>,
    #[arg(long)]
    pub clause: Option<String>,
    #[arg(long)]
    pub period: Option<i64>,
    /// At most this many lines.
    #[arg(long)]
    pub limit: Option<i64>,
}

impl Sel {
    fn selection(&self) -> Selection {
        Selection {
            ids: self.id.clone(),
            firm: self.firm.clone(),
            clause: self.clause.clone(),
            period: self.period,
            all: self.all,
            limit: self.limit,
        }
    }
}

#[derive(Subcommand)]
pub enum LedgerCmd {
    /// Record a run (its manifest and entitlements). Again: no-op; corrected rerun: adjustments.
    Record {
        /// The run directory (manifest.json + results.parquet from `huiqi run`).
        run: PathBuf,
        /// The run's snapshot, for firm names (default: the directory the manifest names).
        #[arg(long)]
        snapshot: Option<PathBuf>,
    },
    /// computed → approved.
    Approve(Sel),
    /// computed / approved / objected → rejected, with a reason.
    Reject {
        #[command(flatten)]
        sel: Sel,
        #[arg(long)]
        reason: String,
    },
    /// approved → announced (公示) in a new notice with a window.
    Announce {
        #[command(flatten)]
        sel: Sel,
        /// Notice title.
        #[arg(long, default_value = "免申即享拟兑现名单公示")]
        title: String,
        /// Window start (default: --at / now).
        #[arg(long)]
        opens: Option<String>,
        /// Window end.
        #[arg(long, conflicts_with = "days")]
        closes: Option<String>,
        /// Window length in days (default 7).
        #[arg(long)]
        days: Option<i64>,
    },
    /// announced → objected (within the window), with a reason; resolved by a corrected rerun
    /// (or reject, or announce again).
    Object {
        #[command(flatten)]
        sel: Sel,
        #[arg(long)]
        reason: String,
    },
    /// announced → confirmed by the firm (within the window).
    Confirm(Sel),
    /// confirmed → paid: one line with --id and --reference, or a payment result file.
    Pay {
        #[command(flatten)]
        sel: Sel,
        /// The payment reference (bank / treasury).
        #[arg(long)]
        reference: Option<String>,
        /// A payment result file (CSV of `export payments` with 支付流水号 filled in).
        #[arg(long, conflicts_with_all = ["reference", "all"])]
        file: Option<PathBuf>,
    },
    /// paid → recovered (clawback), with a reason.
    Recover {
        #[command(flatten)]
        sel: Sel,
        #[arg(long)]
        reason: String,
    },
    /// Export the 公示 list (XLSX + CSV) or the payment file (CSV).
    Export {
        #[command(subcommand)]
        what: ExportCmd,
    },
    /// Budget vs computed vs approved vs paid, by clause.
    Reconcile {
        /// The period (default: the latest in the ledger).
        #[arg(long)]
        period: Option<i64>,
        /// The policy pack whose pools give the budgets (default: ./policies/ningbo if present).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Check the audit hash chain and the current states against it.
    Verify,
    /// Award history for the engine: a snapshot like --snapshot whose awards table is what the
    /// ledger says was awarded (or paid) before --period.
    Awards {
        /// Awards of periods before this one.
        #[arg(long)]
        period: i64,
        /// The snapshot to derive from.
        #[arg(long)]
        snapshot: PathBuf,
        /// Where to write the derived snapshot (default: beside --snapshot).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only what was paid (default: everything approved and not undone).
        #[arg(long)]
        paid_only: bool,
    },
}

#[derive(Subcommand)]
pub enum ExportCmd {
    /// The 公示 list of a notice (default: the latest) as XLSX and CSV.
    Notice {
        #[arg(long)]
        notice: Option<i64>,
        /// Output directory.
        #[arg(long, default_value = "var/ledger-export")]
        out: PathBuf,
    },
    /// The payment file: confirmed lines, for the treasury (CSV).
    Payments {
        #[arg(long, default_value = "var/ledger-export/payments.csv")]
        out: PathBuf,
    },
}

#[derive(Args)]
pub struct StatusArgs {
    /// The firm's 统一社会信用代码.
    pub credit_code: String,
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn ctx(c: &Common, en: bool) -> Result<Ctx, ExitCode> {
    let actor = c
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let at = match &c.at {
        Some(s) => match huiqi_ledger::parse_time(s) {
            Some(t) => t,
            None => {
                eprintln!(
                    "{} `{s}`",
                    if en {
                        "not a time (RFC 3339 or YYYY-MM-DD):"
                    } else {
                        "不是有效时间（RFC 3339 或 YYYY-MM-DD）："
                    }
                );
                return Err(ExitCode::from(2));
            }
        },
        None => huiqi_ledger::now(),
    };
    Ok(Ctx { actor, at })
}

fn fail(e: &huiqi_ledger::Error, en: bool) -> ExitCode {
    eprintln!("{}: {}", if en { "error" } else { "错误" }, e.msg(en));
    ExitCode::from(1)
}

async fn open(db: &str, en: bool) -> Result<Ledger, ExitCode> {
    Ledger::open(db).await.map_err(|e| fail(&e, en))
}

/// Budgets of the pools a policy pack declares, in 分.
pub fn budgets(policy: &Path) -> Result<Vec<Budget>, String> {
    let l = huiqi_lang::load_pack(policy)
        .map_err(|(_, ds)| format!("{}: {} errors", policy.display(), ds.len()))?;
    let p = &l.program;
    Ok(p.pools
        .iter()
        .map(|pool| Budget {
            name: pool.name.clone(),
            clauses: pool
                .clauses
                .iter()
                .map(|c| p.clauses[*c].name.clone())
                .collect(),
            fen: (pool.budget * rust_decimal::Decimal::from(100))
                .trunc()
                .try_into()
                .unwrap_or(i64::MAX),
        })
        .collect())
}

pub fn status(a: &StatusArgs, en: bool) -> ExitCode {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    runtime().block_on(async {
        let mut l = match open(&a.db, en).await {
            Ok(l) => l,
            Err(c) => return c,
        };
        let lines = match l.status(&a.credit_code).await {
            Ok(x) => x,
            Err(e) => return fail(&e, en),
        };
        l.close().await;
        if lines.is_empty() {
            println!(
                "{} {}",
                a.credit_code,
                t("在台账中没有奖励记录", "has no awards in the ledger")
            );
            return ExitCode::SUCCESS;
        }
        println!(
            "{} {}",
            a.credit_code,
            if lines[0].firm_name.is_empty() {
                ""
            } else {
                &lines[0].firm_name
            }
        );
        for s in &lines {
            let tranche = if s.tranche.is_empty() {
                String::new()
            } else {
                format!(" · {}", s.tranche)
            };
            println!(
                "\n  {} {}{}  {} {}  [{} {}]",
                s.period,
                s.clause,
                tranche,
                yuan(s.amount_fen),
                t("元", "yuan"),
                t("明细", "line"),
                s.line
            );
            println!(
                "    {}: {}{}{}",
                t("状态", "state"),
                s.state.name(en),
                if s.kind != "award" {
                    format!(
                        " ({})",
                        match (s.kind.as_str(), en) {
                            ("topup", false) => "补差",
                            ("recovery", false) => "更正追回",
                            (k, _) => k,
                        }
                    )
                } else {
                    String::new()
                },
                s.reason
                    .as_deref()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default()
            );
            if let Some(r) = &s.reference {
                println!("    {}: {r}", t("支付流水号", "payment reference"));
            }
            for (act, at) in &s.steps {
                println!("    {:<10} {at}", step_name(act, en));
            }
        }
        ExitCode::SUCCESS
    })
}

fn step_name(a: &str, en: bool) -> &str {
    if en {
        return a;
    }
    match a {
        "record" => "测算入账",
        "approve" => "审核通过",
        "reject" => "驳回",
        "announce" => "公示",
        "object" => "异议",
        "confirm" => "企业确认",
        "pay" => "拨付",
        "recover" => "追回",
        "supersede" => "被更正取代",
        x => x,
    }
}

pub fn ledger(a: &LedgerArgs, en: bool) -> ExitCode {
    let ctx = match ctx(&a.common, en) {
        Ok(c) => c,
        Err(c) => return c,
    };
    runtime().block_on(async {
        let mut l = match open(&a.common.db, en).await {
            Ok(l) => l,
            Err(c) => return c,
        };
        let code = ledger_cmd(&mut l, &a.cmd, &ctx, en).await;
        l.close().await;
        code
    })
}

async fn ledger_cmd(l: &mut Ledger, cmd: &LedgerCmd, ctx: &Ctx, en: bool) -> ExitCode {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let step = |sel: &Sel, a: Action| (sel.selection(), a);
    let (sel, action) = match cmd {
        LedgerCmd::Record { run, snapshot } => {
            let input = match read_results(run, snapshot.as_deref()) {
                Ok(i) => i,
                Err(e) => return fail(&e, en),
            };
            return match l.record(ctx, &input).await {
                Ok(s) if s.already => {
                    println!(
                        "{} {} {}",
                        t("运行", "run"),
                        s.run_id,
                        t(
                            "已入账，未做任何改动",
                            "was recorded before; nothing changed"
                        )
                    );
                    ExitCode::SUCCESS
                }
                Ok(s) => {
                    println!(
                        "{} {} ({} {}): {} {} {} {}, {} {}, {} {} ({} {}, {} {}, {} {})",
                        t("已入账运行", "recorded run"),
                        s.run_id,
                        t("年度", "period"),
                        s.period,
                        s.new,
                        t("项新增奖励，共", "new entitlements,"),
                        yuan(s.new_fen),
                        t("元", "yuan"),
                        s.unchanged,
                        t("项未变", "unchanged"),
                        s.changed,
                        t("项金额变更", "changed"),
                        s.superseded,
                        t("条未拨付明细被取代", "open lines superseded"),
                        s.topups,
                        t("条补差/重算", "top-ups/replacements"),
                        s.recoveries,
                        t("条追回", "recoveries"),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e, en),
            };
        }
        LedgerCmd::Approve(s) => step(s, Action::Approve),
        LedgerCmd::Reject { sel, reason } => step(
            sel,
            Action::Reject {
                reason: reason.clone(),
            },
        ),
        LedgerCmd::Announce {
            sel,
            title,
            opens,
            closes,
            days,
        } => {
            let opens = match opens.as_deref().map(huiqi_ledger::parse_time) {
                None => ctx.at.clone(),
                Some(Some(x)) => x,
                Some(None) => return bad_time(opens.as_deref().unwrap_or(""), en),
            };
            let closes = match closes.as_deref().map(huiqi_ledger::parse_time) {
                Some(Some(x)) => x,
                Some(None) => return bad_time(closes.as_deref().unwrap_or(""), en),
                None => {
                    let o = chrono::DateTime::parse_from_rfc3339(&opens).expect("normalised");
                    (o + chrono::Duration::days(days.unwrap_or(7)))
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                }
            };
            step(
                sel,
                Action::Announce {
                    title: title.clone(),
                    opens,
                    closes,
                },
            )
        }
        LedgerCmd::Object { sel, reason } => step(
            sel,
            Action::Object {
                reason: reason.clone(),
            },
        ),
        LedgerCmd::Confirm(s) => step(s, Action::Confirm),
        LedgerCmd::Pay {
            sel,
            reference,
            file,
        } => {
            if let Some(f) = file {
                let lines = match read_payment_file(f) {
                    Ok(x) => x,
                    Err(e) => return fail(&e, en),
                };
                return match l.pay_file(ctx, &lines).await {
                    Ok(s) => {
                        println!(
                            "{} {} {}, {} {} {}; {} {}",
                            t("已拨付", "paid"),
                            s.paid,
                            t("条明细", "lines"),
                            t("共", "total"),
                            yuan(s.paid_fen),
                            t("元", "yuan"),
                            s.already,
                            t(
                                "条此前已按同一流水号拨付（跳过）",
                                "already paid with the same reference (skipped)"
                            )
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&e, en),
                };
            }
            let Some(r) = reference else {
                eprintln!(
                    "{}",
                    t(
                        "错误：需要 --reference（支付流水号）或 --file（支付结果文件）",
                        "error: give --reference (the payment reference) or --file (a payment result file)"
                    )
                );
                return ExitCode::from(2);
            };
            step(
                sel,
                Action::Pay {
                    reference: r.clone(),
                },
            )
        }
        LedgerCmd::Recover { sel, reason } => step(
            sel,
            Action::Recover {
                reason: reason.clone(),
            },
        ),
        LedgerCmd::Export { what } => return export(l, what, en).await,
        LedgerCmd::Reconcile { period, policy } => {
            return reconcile(l, *period, policy.as_deref(), en).await
        }
        LedgerCmd::Verify => {
            return match l.verify().await {
                Ok(r) if r.ok() => {
                    println!(
                        "{} {} {}",
                        t("审计链完整：", "audit chain intact:"),
                        r.events,
                        t(
                            "个事件，状态与记录一致",
                            "events, current states agree with them"
                        )
                    );
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    for p in &r.problems {
                        eprintln!("{}: {}", t("审计校验失败", "verify failed"), p.describe(en));
                    }
                    ExitCode::from(1)
                }
                Err(e) => fail(&e, en),
            }
        }
        LedgerCmd::Awards {
            period,
            snapshot,
            out,
            paid_only,
        } => {
            return match derive_snapshot(l, snapshot, out.as_deref(), *period, *paid_only).await {
                Ok((dir, n, d)) => {
                    println!(
                        "{} {} ({} {} {}, {} {})",
                        t(
                            "含台账奖励记录的快照：",
                            "snapshot with the ledger's award history:"
                        ),
                        dir.display(),
                        n,
                        t("条", "awards before"),
                        period,
                        d.unknown_firms,
                        t(
                            "条属于快照外企业，未写入",
                            "of firms not in the snapshot left out"
                        )
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
    };
    match l.apply(ctx, &sel, &action).await {
        Ok(ids) => {
            let to = action.to();
            println!(
                "{} {} {} → {}",
                ids.len(),
                t("条明细", "lines"),
                if en { action.name() } else { "" },
                to.name(en)
            );
            if ids.len() <= 20 && !ids.is_empty() {
                println!(
                    "  {}: {}",
                    t("明细号", "lines"),
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, en),
    }
}

fn bad_time(s: &str, en: bool) -> ExitCode {
    eprintln!(
        "{} `{s}`",
        if en {
            "not a time (RFC 3339 or YYYY-MM-DD):"
        } else {
            "不是有效时间（RFC 3339 或 YYYY-MM-DD）："
        }
    );
    ExitCode::from(2)
}

/// `huiqi run --ledger`: the snapshot to run instead of `snapshot`, with the ledger's awards.
pub fn ledger_snapshot(
    db: &str,
    snapshot: &Path,
    period: i32,
    paid_only: bool,
    en: bool,
) -> Result<PathBuf, ExitCode> {
    runtime().block_on(async {
        let mut l = open(db, en).await?;
        let r = derive_snapshot(&mut l, snapshot, None, period as i64, paid_only).await;
        l.close().await;
        match r {
            Ok((dir, n, _)) => {
                eprintln!(
                    "{} {n} {} → {}",
                    if en {
                        "award history from the ledger:"
                    } else {
                        "台账奖励记录："
                    },
                    if en { "awards" } else { "条" },
                    dir.display()
                );
                Ok(dir)
            }
            Err(e) => {
                eprintln!("{e}");
                Err(ExitCode::from(1))
            }
        }
    })
}

/// The award history of the ledger before `period`, written into a snapshot derived from
/// `snapshot` (in `out`, default beside it). Returns its directory.
pub async fn derive_snapshot(
    l: &mut Ledger,
    snapshot: &Path,
    out: Option<&Path>,
    period: i64,
    paid_only: bool,
) -> Result<(PathBuf, usize, huiqi_data::awards::Derived), String> {
    let awards = l
        .awards(period, paid_only)
        .await
        .map_err(|e| e.en.clone())?;
    let rows: Vec<huiqi_data::awards::AwardIn> = awards
        .into_iter()
        .map(|a| huiqi_data::awards::AwardIn {
            firm_id: a.firm_id,
            clause: a.clause,
            period: a.period as i32,
            tranche: a.tranche,
            fen: a.fen,
        })
        .collect();
    let parent = out
        .map(Path::to_path_buf)
        .or_else(|| snapshot.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let origin = format!(
        "ledger awards before {period}{}",
        if paid_only { " (paid)" } else { "" }
    );
    let d = huiqi_data::awards::with_awards(snapshot, &rows, &parent, &origin)?;
    Ok((d.info.dir.clone(), rows.len(), d))
}

async fn export(l: &mut Ledger, what: &ExportCmd, en: bool) -> ExitCode {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    match what {
        ExportCmd::Notice { notice, out } => {
            let (id, title, opens, closes, rows) = match l.notice_list(*notice).await {
                Ok(x) => x,
                Err(e) => return fail(&e, en),
            };
            if let Err(e) = std::fs::create_dir_all(out) {
                eprintln!("{}: {e}", out.display());
                return ExitCode::from(1);
            }
            let csv = out.join(format!("公示名单-{id}.csv"));
            let xlsx = out.join(format!("公示名单-{id}.xlsx"));
            let r = huiqi_ledger::report::write_notice_csv(&rows, &csv).and_then(|_| {
                huiqi_ledger::report::write_notice_xlsx(&title, &opens, &closes, &rows, &xlsx)
            });
            if let Err(e) = r {
                return fail(&e, en);
            }
            let total: i64 = rows.iter().map(|r| r.fen).sum();
            println!(
                "{} {id}「{title}」 {opens} — {closes}: {} {}, {} {} ({} {})",
                t("公示", "notice"),
                rows.len(),
                t("条", "lines"),
                wan(total),
                t("万元", "万元"),
                yuan(total),
                t("元", "yuan")
            );
            println!("  {}\n  {}", xlsx.display(), csv.display());
            ExitCode::SUCCESS
        }
        ExportCmd::Payments { out } => {
            let rows = match l.payable().await {
                Ok(x) => x,
                Err(e) => return fail(&e, en),
            };
            if let Some(d) = out.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            if let Err(e) = huiqi_ledger::report::write_payment_csv(&rows, out) {
                return fail(&e, en);
            }
            let total: i64 = rows.iter().map(|r| r.fen).sum();
            println!(
                "{} {} {}, {} {} → {}",
                t("待拨付", "payable"),
                rows.len(),
                t("条明细", "lines"),
                yuan(total),
                t("元", "yuan"),
                out.display()
            );
            ExitCode::SUCCESS
        }
    }
}

pub async fn reconcile(
    l: &mut Ledger,
    period: Option<i64>,
    policy: Option<&Path>,
    en: bool,
) -> ExitCode {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let period = match period {
        Some(p) => p,
        None => match l.periods().await {
            Ok(ps) if !ps.is_empty() => *ps.last().unwrap(),
            Ok(_) => {
                println!("{}", t("台账为空", "the ledger is empty"));
                return ExitCode::SUCCESS;
            }
            Err(e) => return fail(&e, en),
        },
    };
    let default_pack = PathBuf::from("policies/ningbo");
    let policy = policy
        .map(Path::to_path_buf)
        .or_else(|| default_pack.exists().then_some(default_pack));
    let budgets = match &policy {
        Some(p) => match budgets(p) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        },
        None => vec![],
    };
    let rows = match l.reconcile(period, &budgets).await {
        Ok(r) => r,
        Err(e) => return fail(&e, en),
    };
    println!(
        "{} {period}{}",
        t("对账 年度", "reconciliation, period "),
        policy
            .as_ref()
            .map(|p| format!(" ({} {})", t("预算取自", "budgets from"), p.display()))
            .unwrap_or_default()
    );
    println!(
        "{:<24} {:>16} {:>8} {:>16} {:>16} {:>16} {:>14}",
        t("条款", "clause"),
        t("预算（元）", "budget (yuan)"),
        t("项数", "count"),
        t("测算（元）", "computed"),
        t("已审核（元）", "approved"),
        t("已拨付（元）", "paid"),
        t("已追回（元）", "recovered"),
    );
    for r in &rows {
        let label = if r.label == "合计" {
            t("合计", "total").to_string()
        } else {
            r.label.clone()
        };
        println!(
            "{:<24} {:>16} {:>8} {:>16} {:>16} {:>16} {:>14}",
            label,
            if r.label == "合计" {
                "—".to_string()
            } else {
                r.budget
                    .map(yuan)
                    .unwrap_or_else(|| t("未设预算", "no budget").to_string())
            },
            r.entitlements,
            yuan(r.computed),
            yuan(r.approved),
            yuan(r.paid),
            yuan(r.recovered)
        );
    }
    println!(
        "{}",
        t(
            "注：“未设预算”的条款在政策中没有资金池（总量控制），按测算金额据实兑现。",
            "note: \"no budget\" means the policy declares no pool for the clause; it pays what is computed."
        )
    );
    ExitCode::SUCCESS
}
