//! `huiqi ledger …` and `huiqi status`: recording runs, the 免申即享 workflow, exports,
//! reconciliation, audit verification and award history (docs/LEDGER.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use huiqi::ledger::{self as uc, BudgetSource, DEFAULT_DB};
use huiqi_ledger::{Action, Ctx, Ledger, Selection};

use super::ledger_render as show;
use crate::render::Out;

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
        /// The treasury's paid file: the batch file of `export payments` with 支付流水号 filled
        /// in. Validated whole before anything is written.
        #[arg(long, conflicts_with_all = ["reference", "all"])]
        file: Option<PathBuf>,
        /// With --file: pay the good lines and list the bad ones, instead of refusing the file.
        #[arg(long, requires = "file")]
        partial: bool,
    },
    /// A payment batch the treasury returned unpaid: its lines go back to confirmed.
    CancelBatch {
        #[arg(long)]
        batch: i64,
        #[arg(long)]
        reason: String,
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
        /// The policy pack whose pools give the budgets (default: the pack under ./policies
        /// whose hash the period's run recorded).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Check the audit hash chain and the current states against it.
    Verify,
    /// Trace a line's figure to its run, policy and snapshot hashes, its versions and payment,
    /// and recompute it from the run's own snapshot.
    Trace {
        /// The line's number (明细号).
        line: i64,
        /// The policy pack to recompute with (its hash must be the run's).
        #[arg(long, default_value = "policies/ningbo")]
        policy: PathBuf,
        /// Where the run's snapshot may be: a snapshot, or a directory of snapshots named by
        /// their hash (repeatable; runs with `--ledger` read a snapshot derived beside theirs).
        #[arg(long = "snapshots", default_values = ["var/snapshots"])]
        snapshots: Vec<PathBuf>,
    },
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
    /// The payment file: confirmed lines become a payment batch for the treasury (CSV with its
    /// 批次号); a rerun does not supersede them while they are out.
    Payments {
        #[arg(long, default_value = "var/ledger-export/payments.csv")]
        out: PathBuf,
        /// Replace --out even when it is not an earlier payment file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub struct StatusArgs {
    /// The firm's 统一社会信用代码.
    pub credit_code: String,
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
}

pub fn status(o: &Out, a: &StatusArgs) -> huiqi::Result<ExitCode> {
    let lines = uc::block_on(async {
        let mut l = uc::open(&a.db).await?;
        let r = uc::status(&mut l, &a.credit_code).await;
        l.close().await;
        r
    })??;
    show::status(o, &a.credit_code, &lines);
    Ok(ExitCode::SUCCESS)
}

pub fn ledger(o: &Out, a: &LedgerArgs) -> huiqi::Result<ExitCode> {
    let ctx = uc::ctx(a.common.actor.as_deref(), a.common.at.as_deref())?;
    uc::block_on(async {
        // Only recording a run may create a ledger; every other step needs an existing one.
        let mut l = match &a.cmd {
            LedgerCmd::Record { .. } => uc::open_or_create(&a.common.db).await?,
            _ => uc::open(&a.common.db).await?,
        };
        let r = match &a.cmd {
            LedgerCmd::Record { run, snapshot } => {
                uc::record(&mut l, &ctx, run, snapshot.as_deref())
                    .await
                    .map(|s| {
                        show::recorded(o, &s);
                        ExitCode::SUCCESS
                    })
            }
            cmd => dispatch(o, &mut l, cmd, &ctx).await,
        };
        l.close().await;
        r
    })?
}

/// The workflow action a step subcommand asks for, or None for the other subcommands.
fn action(cmd: &LedgerCmd, ctx: &Ctx) -> huiqi::Result<Option<(Selection, Action)>> {
    let reason = |r: &String| r.clone();
    Ok(Some(match cmd {
        LedgerCmd::Approve(s) => (s.selection(), Action::Approve),
        LedgerCmd::Reject { sel, reason: r } => {
            (sel.selection(), Action::Reject { reason: reason(r) })
        }
        LedgerCmd::Object { sel, reason: r } => {
            (sel.selection(), Action::Object { reason: reason(r) })
        }
        LedgerCmd::Recover { sel, reason: r } => {
            (sel.selection(), Action::Recover { reason: reason(r) })
        }
        LedgerCmd::Confirm(s) => (s.selection(), Action::Confirm),
        LedgerCmd::Announce {
            sel,
            title,
            opens,
            closes,
            days,
        } => {
            let (opens, closes) =
                uc::notice_window(ctx, opens.as_deref(), closes.as_deref(), *days)?;
            let title = title.clone();
            (
                sel.selection(),
                Action::Announce {
                    title,
                    opens,
                    closes,
                },
            )
        }
        LedgerCmd::Pay {
            sel,
            reference: Some(r),
            file: None,
            ..
        } => (
            sel.selection(),
            Action::Pay {
                reference: r.clone(),
            },
        ),
        LedgerCmd::Pay { file: None, .. } => {
            return Err(huiqi::Error::usage(
                "错误：需要 --reference（支付流水号）或 --file（支付结果文件）",
                "error: give --reference (the payment reference) or --file (a payment result file)",
            ))
        }
        _ => return Ok(None),
    }))
}

async fn dispatch(o: &Out, l: &mut Ledger, cmd: &LedgerCmd, ctx: &Ctx) -> huiqi::Result<ExitCode> {
    if let Some((sel, action)) = action(cmd, ctx)? {
        let ids = uc::step(l, ctx, &sel, &action).await?;
        show::moved(o, &action, &ids);
        return Ok(ExitCode::SUCCESS);
    }
    match cmd {
        LedgerCmd::Record { .. } => {}
        LedgerCmd::Pay {
            file: Some(f),
            partial,
            ..
        } => {
            let s = uc::pay_batch(l, ctx, f, *partial).await?;
            show::paid_file(o, &s);
        }
        LedgerCmd::CancelBatch { batch, reason } => {
            let s = uc::cancel_batch(l, ctx, *batch, reason).await?;
            show::cancelled(o, *batch, &s);
        }
        LedgerCmd::Export {
            what: ExportCmd::Notice { notice, out },
        } => show::notice(o, &uc::export_notice(l, *notice, out).await?),
        LedgerCmd::Export {
            what: ExportCmd::Payments { out, force },
        } => {
            let all = Selection {
                all: true,
                ..Selection::default()
            };
            show::payments(o, &uc::export_payments(l, ctx, &all, out, *force).await?)
        }
        LedgerCmd::Reconcile { period, policy } => {
            let source = match policy {
                Some(p) => BudgetSource::Pack(p),
                None => BudgetSource::Search(std::path::Path::new("policies")),
            };
            match uc::reconcile(l, *period, source).await? {
                Some(r) => show::reconciliation(o, &r),
                None => println!("{}", o.t("台账为空", "the ledger is empty")),
            }
        }
        LedgerCmd::Verify => {
            let r = uc::verify(l).await?;
            if !show::verified(o, &r) {
                return Ok(ExitCode::from(1));
            }
        }
        LedgerCmd::Trace {
            line,
            policy,
            snapshots,
        } => {
            let Some(t) = uc::trace(l, *line).await? else {
                return Err(huiqi::Error::input(
                    format!("台账中没有明细 {line}"),
                    format!("the ledger has no line {line}"),
                ));
            };
            let program = huiqi::pack::load(policy)?.program;
            let r = uc::recompute(&program, &t, |hash| {
                let dir = uc::find_snapshot(snapshots, hash).ok_or_else(|| {
                    (
                        format!("在 {} 中找不到该测算所用的数据快照", paths(snapshots)),
                        format!("the run's snapshot is not under {}", paths(snapshots)),
                    )
                })?;
                uc::snapshot_firm(&program, &dir, hash, &t.firm_id, true)
            });
            show::trace(o, &t, &r);
            if r.matches == Some(false) {
                return Ok(ExitCode::from(1));
            }
        }
        LedgerCmd::Awards {
            period,
            snapshot,
            out,
            paid_only,
        } => {
            let d = uc::derive_snapshot(l, snapshot, out.as_deref(), *period, *paid_only).await?;
            show::derived(o, &d, *period);
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
