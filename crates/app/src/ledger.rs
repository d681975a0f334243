//! The entitlement ledger's use cases: record a run, each step of the 免申即享 workflow, the
//! 公示 list and the payment file, reconciliation against the pack's budgets, the audit check,
//! a firm's status and the award history the engine reads back.
//!
//! The functions are async (the service calls them on its runtime); [`block_on`] runs one from
//! synchronous code such as the CLI.

use std::path::{Path, PathBuf};

use huiqi_ledger::{
    read_paid_file, read_results, Action, AwardOut, BatchPaySummary, Budget, CancelSummary, Ctx,
    Ledger, ListRow, ReconRow, RecordSummary, Selection, StatusLine, VerifyReport,
};

use crate::{Error, Result};

/// The embedded ledger's default file, relative to the working directory.
pub const DEFAULT_DB: &str = "var/ledger.sqlite";

/// Runs a future to completion on a runtime of its own (the CLI is synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::plain(format!("tokio runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// Who acts and when: `at` is RFC 3339 or `YYYY-MM-DD` (default: now); `actor` defaults to $USER.
pub fn ctx(actor: Option<&str>, at: Option<&str>) -> Result<Ctx> {
    let actor = actor
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let at = match at {
        Some(s) => parse_time(s)?,
        None => huiqi_ledger::now(),
    };
    Ok(Ctx { actor, at })
}

/// A time as the ledger stores it (RFC 3339, UTC), or a usage error naming the text.
pub fn parse_time(s: &str) -> Result<String> {
    huiqi_ledger::parse_time(s).ok_or_else(|| {
        Error::usage(
            format!("不是有效时间（RFC 3339 或 YYYY-MM-DD）： `{s}`"),
            format!("not a time (RFC 3339 or YYYY-MM-DD): `{s}`"),
        )
    })
}

/// Opens an existing ledger: a mistyped `--db` is an error, not a new empty ledger.
pub async fn open(db: &str) -> Result<Ledger> {
    Ok(Ledger::open(db).await?)
}

/// Opens a migrated ledger on a connection that can only read (the server's read threads).
pub async fn open_reader(db: &str) -> Result<Ledger> {
    Ok(Ledger::open_reader(db).await?)
}

/// Opens the ledger, creating it when it does not exist yet: only recording a run does this.
pub async fn open_or_create(db: &str) -> Result<Ledger> {
    Ok(Ledger::open_or_create(db).await?)
}

/// Records a run directory (manifest + results); again is a no-op, a corrected rerun becomes
/// adjustments.
pub async fn record(
    l: &mut Ledger,
    ctx: &Ctx,
    run: &Path,
    snapshot: Option<&Path>,
) -> Result<RecordSummary> {
    let input = read_results(run, snapshot)?;
    Ok(l.record(ctx, &input).await?)
}

/// The 公示 window of a new notice: from `opens` (default: the step's time) to `closes`, or
/// `days` later (default 7).
pub fn notice_window(
    ctx: &Ctx,
    opens: Option<&str>,
    closes: Option<&str>,
    days: Option<i64>,
) -> Result<(String, String)> {
    let opens = match opens {
        None => ctx.at.clone(),
        Some(s) => parse_time(s)?,
    };
    let closes = match closes {
        Some(s) => parse_time(s)?,
        None => {
            let bad_days = || {
                Error::usage(
                    format!("公示天数无效：{}", days.unwrap_or(7)),
                    format!("not a notice length in days: {}", days.unwrap_or(7)),
                )
            };
            let o = chrono::DateTime::parse_from_rfc3339(&opens).map_err(|_| bad_days())?;
            let d = chrono::Duration::try_days(days.unwrap_or(7))
                .filter(|d| *d > chrono::Duration::zero())
                .ok_or_else(bad_days)?;
            o.checked_add_signed(d)
                .ok_or_else(bad_days)?
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        }
    };
    Ok((opens, closes))
}

/// One workflow step over the selected lines; returns the lines it moved.
pub async fn step(l: &mut Ledger, ctx: &Ctx, sel: &Selection, action: &Action) -> Result<Vec<i64>> {
    Ok(l.apply(ctx, sel, action).await?)
}

/// Pays the lines of the treasury's paid file for a batch. Every line is validated before any
/// write; with `partial`, the good lines are paid and the rest listed, otherwise one bad line
/// refuses the file.
pub async fn pay_batch(
    l: &mut Ledger,
    ctx: &Ctx,
    file: &Path,
    partial: bool,
) -> Result<BatchPaySummary> {
    let paid = read_paid_file(file)?;
    Ok(l.pay_batch(ctx, &paid, partial).await?)
}

/// A batch the treasury returned unpaid: its lines go back to confirmed.
pub async fn cancel_batch(
    l: &mut Ledger,
    ctx: &Ctx,
    batch: i64,
    reason: &str,
) -> Result<CancelSummary> {
    Ok(l.cancel_batch(ctx, batch, reason).await?)
}

/// A 公示 list written as XLSX and CSV.
pub struct NoticeExport {
    pub id: i64,
    pub title: String,
    pub opens: String,
    pub closes: String,
    pub rows: Vec<ListRow>,
    pub total_fen: i64,
    pub xlsx: PathBuf,
    pub csv: PathBuf,
}

/// Writes the 公示 list of `notice` (default: the latest) into `out`.
pub async fn export_notice(
    l: &mut Ledger,
    notice: Option<i64>,
    out: &Path,
) -> Result<NoticeExport> {
    let (id, title, opens, closes, rows) = l.notice_list(notice).await?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let csv = out.join(format!("公示名单-{id}.csv"));
    let xlsx = out.join(format!("公示名单-{id}.xlsx"));
    huiqi_ledger::report::write_notice_csv(&rows, &csv)?;
    huiqi_ledger::report::write_notice_xlsx(&title, &opens, &closes, &rows, &xlsx)?;
    let total_fen = rows.iter().map(|r| r.fen).sum();
    Ok(NoticeExport {
        id,
        title,
        opens,
        closes,
        rows,
        total_fen,
        xlsx,
        csv,
    })
}

/// A payment batch written for the treasury: confirmed lines, now exported (a rerun does not
/// supersede them; their difference waits for the payment).
pub struct PaymentsExport {
    /// None when no line was confirmed (no batch was made, no file written).
    pub batch: Option<i64>,
    pub rows: Vec<ListRow>,
    pub total_fen: i64,
    pub file: PathBuf,
}

/// Writes the payment file; an existing file at `out` is replaced only when it is an earlier
/// payment file (or with `force`) — never a ledger database or anything else.
pub async fn export_payments(
    l: &mut Ledger,
    ctx: &Ctx,
    sel: &Selection,
    out: &Path,
    force: bool,
) -> Result<PaymentsExport> {
    if out.exists() && !force && !is_payment_file(out) {
        return Err(Error::usage(
            format!("{}：已存在且不是付款文件，拒绝覆盖；确需覆盖请加 --force", out.display()),
            format!(
                "{}: exists and is not a payment file; refusing to overwrite it (add --force if you mean it)",
                out.display()
            ),
        ));
    }
    let Some(batch) = l.export_batch(ctx, sel).await? else {
        return Ok(PaymentsExport {
            batch: None,
            rows: vec![],
            total_fen: 0,
            file: out.to_path_buf(),
        });
    };
    if let Some(d) = out.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    huiqi_ledger::report::write_batch_csv(&batch, out)?;
    Ok(PaymentsExport {
        batch: Some(batch.id),
        total_fen: batch.total_fen,
        rows: batch.rows,
        file: out.to_path_buf(),
    })
}

/// Whether the file at `p` starts like a payment file (its header names 支付流水号).
fn is_payment_file(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    text.lines()
        .next()
        .is_some_and(|l| l.contains("支付流水号"))
}

/// Budgets of the pools a policy pack declares, in 分.
pub fn budgets(program: &huiqi_ir::Program, period: i64) -> Vec<Budget> {
    let p = program;
    p.pools
        .iter()
        .map(|pool| Budget {
            name: pool.name.clone(),
            clauses: pool
                .clauses
                .iter()
                .map(|c| p.clauses[*c].name.clone())
                .collect(),
            fen: (p.figure(&pool.budget, period.clamp(1, 9999) as i32)
                * rust_decimal::Decimal::from(100))
            .trunc()
            .try_into()
            .unwrap_or(i64::MAX),
        })
        .collect()
}

/// Budget vs computed vs approved vs paid for one period.
pub struct Reconciliation {
    pub period: i64,
    /// The pack the budgets came from, if any.
    pub budgets_from: Option<PathBuf>,
    /// One row per clause, then one per pool covering several clauses.
    pub rows: Vec<ReconRow>,
    pub total: ReconRow,
}

/// Where reconciliation finds its budgets: a given pack, or the pack under a directory whose
/// content hash is the one the ledger recorded for the period's latest run.
pub enum BudgetSource<'a> {
    Pack(&'a Path),
    Search(&'a Path),
    /// A pack already loaded (the service's).
    Program(&'a huiqi_ir::Program),
}

/// Reconciles `period` (default: the latest in the ledger); None when the ledger is empty.
pub async fn reconcile(
    l: &mut Ledger,
    period: Option<i64>,
    source: BudgetSource<'_>,
) -> Result<Option<Reconciliation>> {
    let period = match period {
        Some(p) => p,
        None => match l.periods().await?.last() {
            Some(p) => *p,
            None => return Ok(None),
        },
    };
    let (budgets_from, budgets) = match source {
        BudgetSource::Pack(p) => (
            Some(p.to_path_buf()),
            budgets(&crate::pack::load(p)?.program, period),
        ),
        BudgetSource::Program(p) => (None, budgets(p, period)),
        BudgetSource::Search(root) => match l.latest_policy_hash(period).await? {
            Some(hash) => match crate::pack::find_by_hash(root, &hash) {
                Some((p, loaded)) => (Some(p), budgets(&loaded.program, period)),
                None => (None, vec![]),
            },
            None => (None, vec![]),
        },
    };
    let mut rows = l.reconcile(period, &budgets).await?;
    // The ledger's reconciliation ends with the total.
    let total = rows.pop().unwrap_or_default();
    Ok(Some(Reconciliation {
        period,
        budgets_from,
        rows,
        total,
    }))
}

pub async fn verify(l: &mut Ledger) -> Result<VerifyReport> {
    Ok(l.verify().await?)
}

/// Every award line of one firm, with its steps.
pub async fn status(l: &mut Ledger, credit_code: &str) -> Result<Vec<StatusLine>> {
    Ok(l.status(credit_code).await?)
}

/// The first `n` lines in 公示 (announced), with their firms: whom the demo has confirm.
pub async fn announced(l: &mut Ledger, n: i64) -> Result<Vec<(i64, String)>> {
    Ok(l.announced(n).await?)
}

/// A snapshot derived from another, whose awards table is the ledger's award history.
pub struct DerivedSnapshot {
    pub dir: PathBuf,
    pub awards: usize,
    /// Earlier lines not counted as awarded yet (not approved; with paid_only, not paid) that
    /// may still be: (lines, 分). A top-up or cap computed now does not see them.
    pub uncounted: (i64, i64),
    pub derived: huiqi_data::awards::Derived,
}

/// The award history of the ledger before `period`, written into a snapshot derived from
/// `snapshot` (in `out`, default beside it): what `run --ledger` evaluates.
pub async fn derive_snapshot(
    l: &mut Ledger,
    snapshot: &Path,
    out: Option<&Path>,
    period: i64,
    paid_only: bool,
) -> Result<DerivedSnapshot> {
    // The derived snapshot certifies the source's other tables: they must be what it says.
    crate::data::verified_manifest(snapshot)?;
    let awards = l.awards(period, paid_only).await?;
    let uncounted = l.uncounted(period, paid_only).await?;
    let rows: Vec<huiqi_data::awards::AwardIn> = awards
        .into_iter()
        .map(|a| huiqi_data::awards::AwardIn {
            firm_id: a.firm_id,
            clause: a.clause,
            period: a.period as i32,
            tranche: a.tranche,
            fen: a.fen,
            replaces: a.held,
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
    let d = huiqi_data::awards::with_awards(snapshot, &rows, &parent, &origin)
        .map_err(|e| Error::plain(e.to_string()))?;
    Ok(DerivedSnapshot {
        dir: d.info.dir.clone(),
        awards: rows.len(),
        uncounted,
        derived: d,
    })
}

/// One firm's award history in the ledger before `period` (approved and later states, net of
/// adjustments): what a firm's check reads, as `run --ledger` reads the whole ledger's.
pub async fn firm_history(l: &mut Ledger, firm_id: &str, period: i32) -> Result<Vec<AwardOut>> {
    Ok(l.firm_awards(firm_id, period as i64, false).await?)
}

/// The entitlements recorded after entitlement id `after`, as (id, firm): the server keeps the
/// set of firms with any history, so a check of a firm without one reads nothing.
pub async fn entitlement_firms_after(l: &mut Ledger, after: i64) -> Result<Vec<(i64, String)>> {
    Ok(l.entitlement_firms_after(after).await?)
}

/// `firm` with the ledger's award history: a ledger award replaces the snapshot's award of the
/// same clause, period and tranche (and removes it when recovered in full), a clawback of an
/// award only the snapshot holds is taken off it, the others stay — as [`derive_snapshot`]
/// merges them for a run, so a check and a run agree. Awards of clauses the pack does not have
/// are left out (the snapshot loader does the same). Returns how many ledger awards were applied.
pub fn with_history(
    program: &huiqi_ir::Program,
    firm: &mut huiqi_ir::Firm,
    awards: &[AwardOut],
) -> usize {
    let mut applied = 0;
    for a in awards {
        let (Some(clause), Ok(period)) =
            (program.clause_by_name(&a.clause), i32::try_from(a.period))
        else {
            continue;
        };
        let same = |x: &huiqi_ir::Award| {
            x.clause == clause && x.period == period && x.tranche == a.tranche
        };
        let amount = if a.held {
            huiqi_ir::money::from_fen(a.fen)
        } else {
            // Only the firm's own record holds this award: take the recovery off it.
            let Some(had) = firm.awards.iter().find(|x| same(x)).map(|x| x.amount) else {
                continue;
            };
            had + huiqi_ir::money::from_fen(a.fen)
        };
        firm.awards.retain(|x| !same(x));
        if amount > rust_decimal::Decimal::ZERO {
            firm.awards.push(huiqi_ir::Award {
                clause,
                period,
                tranche: a.tranche.clone(),
                amount: amount.normalize(),
            });
        }
        applied += 1;
    }
    applied
}

/// Opens the ledger `db` and merges `firm`'s award history before `period` (default: the firm's
/// latest year) into it ([`with_history`]): `huiqi explain --ledger`, what a firm's check on the
/// server reads. Returns the ledger awards applied.
pub async fn merge_firm_history(
    db: &str,
    program: &huiqi_ir::Program,
    firm: &mut huiqi_ir::Firm,
    period: Option<i32>,
) -> Result<usize> {
    let Some(year) = period.or_else(|| crate::explain::latest_year(firm)) else {
        return Ok(0);
    };
    let mut l = open(db).await?;
    let awards = firm_history(&mut l, &firm.id, year).await;
    l.close().await;
    Ok(with_history(program, firm, &awards?))
}

/// Opens the ledger, derives the snapshot and closes it: `run --ledger`.
pub async fn history_snapshot(
    db: &str,
    snapshot: &Path,
    period: i32,
    paid_only: bool,
) -> Result<DerivedSnapshot> {
    let mut l = open(db).await?;
    let r = derive_snapshot(&mut l, snapshot, None, period as i64, paid_only).await;
    l.close().await;
    r
}

/// A page of award lines matching the filter (a queue by state and clause, a firm's lines).
pub async fn lines(l: &mut Ledger, f: &huiqi_ledger::LineFilter) -> Result<huiqi_ledger::LinePage> {
    Ok(l.lines(f).await?)
}

/// Who last moved each line with `action` (`approve`: who approved it).
pub async fn actors_of(l: &mut Ledger, lines: &[i64], action: &str) -> Result<Vec<(i64, String)>> {
    Ok(l.actors_of(lines, action).await?)
}

/// An audit event that changes no table (a login, a denial): its actor and time are `ctx`'s.
pub async fn note(
    l: &mut Ledger,
    ctx: &Ctx,
    action: &str,
    entity: &str,
    after: &serde_json::Value,
) -> Result<()> {
    Ok(l.note(ctx, action, entity, after).await?)
}

/// The lines of a 公示 notice (default: the latest), with its title and window.
pub async fn notice(
    l: &mut Ledger,
    notice: Option<i64>,
) -> Result<(i64, String, String, String, Vec<ListRow>)> {
    Ok(l.notice_list(notice).await?)
}

/// A page of the audit trail, newest first (optionally about one entity): `(total, events)`,
/// each event's `after` cut to `head` characters.
pub async fn events(
    l: &mut Ledger,
    entity: Option<&str>,
    offset: i64,
    limit: i64,
    head: i64,
) -> Result<(i64, Vec<huiqi_ledger::accounts::EventHead>)> {
    Ok(l.events_page(entity, offset, limit, head).await?)
}

/// 数据有误: files a firm's request to correct a figure on file; its id.
pub async fn request_correction(
    l: &mut Ledger,
    ctx: &Ctx,
    c: &huiqi_ledger::corrections::NewCorrection,
) -> Result<i64> {
    Ok(l.request_correction(ctx, c).await?)
}

/// Correction requests, newest first (of one firm, in one state): `(total, page)`.
pub async fn corrections(
    l: &mut Ledger,
    firm: Option<&str>,
    state: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<huiqi_ledger::corrections::Correction>)> {
    Ok(l.corrections(firm, state, offset, limit).await?)
}

/// Accepts or dismisses an open correction request.
pub async fn resolve_correction(
    l: &mut Ledger,
    ctx: &Ctx,
    id: i64,
    accept: bool,
    resolution: &str,
) -> Result<huiqi_ledger::corrections::Correction> {
    Ok(l.resolve_correction(ctx, id, accept, resolution).await?)
}

/// The leader's figures of `period` (default: the latest in the ledger); lines waiting since
/// before `overdue_before` (RFC 3339 UTC) count as overdue. None when the ledger is empty.
pub async fn dashboard(
    l: &mut Ledger,
    period: Option<i64>,
    overdue_before: &str,
) -> Result<Option<huiqi_ledger::dashboard::Dashboard>> {
    let period = match period {
        Some(p) => p,
        None => match l.periods().await?.last() {
            Some(p) => *p,
            None => return Ok(None),
        },
    };
    Ok(Some(l.dashboard(period, overdue_before).await?))
}

/// The audit chain's head sequence number: it changes with every write to the ledger.
pub async fn head_seq(l: &mut Ledger) -> Result<i64> {
    Ok(l.head_seq().await?)
}

/// An award line traced to its entitlement, run, policy and snapshot hashes, versions and
/// payment; None when there is no such line.
pub async fn trace(l: &mut Ledger, line: i64) -> Result<Option<huiqi_ledger::trace::Trace>> {
    Ok(l.trace(line).await?)
}

/// A traced line's figure recomputed by the reference evaluator from the run's policy and the
/// firm as the run read it; or why it cannot be (zh, en).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recomputed {
    pub fen: Option<i64>,
    /// Equal to what the ledger says the run computed.
    pub matches: Option<bool>,
    pub zh: String,
    pub en: String,
}

impl Recomputed {
    fn unavailable((zh, en): (String, String)) -> Recomputed {
        Recomputed {
            fen: None,
            matches: None,
            zh,
            en,
        }
    }
}

/// Why a firm cannot be read as a run read it (zh, en).
pub type Unavailable = (String, String);

/// The snapshot a run read, among `dirs` (each a snapshot, or a directory of snapshots named by
/// their hash's first 16 hex digits): the one whose manifest names `hash`.
pub fn find_snapshot(dirs: &[PathBuf], hash: &str) -> Option<PathBuf> {
    let short = &hash[..16.min(hash.len())];
    dirs.iter()
        .flat_map(|d| [d.clone(), d.join(short)])
        .find(|d| crate::data::snapshot_manifest(d).is_ok_and(|m| m.hash == hash))
}

/// One firm of the snapshot in `dir`, after checking (when `verify`) that the snapshot's files
/// are what its manifest says: a doctored table is never recomputed under the recorded hash.
pub fn snapshot_firm(
    program: &huiqi_ir::Program,
    dir: &Path,
    hash: &str,
    firm_id: &str,
    verify: bool,
) -> std::result::Result<huiqi_ir::Firm, Unavailable> {
    let text = |e: Error| e.texts();
    if verify {
        crate::data::verify_snapshot(dir, hash).map_err(text)?;
    }
    let ids = std::collections::BTreeSet::from([firm_id.to_string()]);
    huiqi_data::load_snapshot_firms(dir, program, &ids)
        .map_err(|e| text(Error::plain(format!("{}: {e}", dir.display()))))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            (
                "快照中没有该企业".into(),
                "the snapshot has no such firm".into(),
            )
        })
}

/// Recomputes the traced line's entitlement figure — what its latest run computed (the run that
/// made the line, or a later one that refigured it) — with `program` when it is that run's
/// policy, reading the firm through `firm` (given that run's snapshot hash): the same check for
/// the auditor's page and `huiqi ledger trace`.
pub fn recompute(
    program: &huiqi_ir::Program,
    t: &huiqi_ledger::trace::Trace,
    firm: impl FnOnce(&str) -> std::result::Result<huiqi_ir::Firm, Unavailable>,
) -> Recomputed {
    let no = |zh: &str, en: &str| Recomputed::unavailable((zh.into(), en.into()));
    let run = &t.computed_by;
    if program.hash != run.policy_hash {
        return no(
            "所用政策版本与该测算不同，无法复算（可用 huiqi run 按上述哈希复现）",
            "the policy version at hand is not the run's; it cannot be recomputed (huiqi run with the hashes above reproduces it)",
        );
    }
    let Some(c) = program.clause_by_name(&t.clause) else {
        return no("政策包中没有该条款", "the pack has no such clause");
    };
    if crate::catalogue::population_clause(program, c) {
        return no(
            "该条款按全体企业分配（资金池或遴选），单户不能复算",
            "the clause is allocated over all firms (a pool or a ranking): one firm alone cannot recompute it",
        );
    }
    let Ok(year) = i32::try_from(t.period) else {
        return no("年度无效", "bad period");
    };
    let f = match firm(&run.snapshot_hash) {
        Ok(f) => f,
        Err(why) => return Recomputed::unavailable(why),
    };
    let e = match crate::explain::explain(program, f, Some(year), None) {
        Ok(e) => e,
        Err(e) => return Recomputed::unavailable(e.texts()),
    };
    let fen = e
        .outcome()
        .clauses
        .iter()
        .find(|x| x.clause == c)
        .and_then(|x| x.tranches.iter().find(|tr| tr.tranche == t.tranche))
        .map(|tr| huiqi_ir::money::to_fen(tr.amount))
        .unwrap_or(0);
    let matches = fen == t.computed_fen;
    Recomputed {
        fen: Some(fen),
        matches: Some(matches),
        zh: if matches {
            format!(
                "按最近一次测算 {} 的政策版本与数据快照复算，金额与台账一致",
                run.run_id
            )
        } else {
            format!(
                "按最近一次测算 {} 复算，金额与台账不一致，请核查",
                run.run_id
            )
        },
        en: if matches {
            format!("recomputed from the policy version and snapshot of the latest run {}: the ledger's amount matches", run.run_id)
        } else {
            format!("recomputed as of the latest run {}: the amount differs from the ledger's — investigate", run.run_id)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn award(clause: &str, period: i64, tranche: &str, fen: i64) -> AwardOut {
        AwardOut {
            firm_id: "F".into(),
            clause: clause.into(),
            period,
            tranche: tranche.into(),
            fen,
            held: true,
        }
    }

    /// The ledger wins per (clause, period, tranche); the snapshot's other awards stay; a clause
    /// the pack does not know is left out.
    #[test]
    fn history_replaces_by_key_and_keeps_the_rest() {
        let p = crate::pack::load(Path::new("../../policies/ningbo"))
            .unwrap()
            .program;
        let scale = p.clause_by_name("小升规奖励").unwrap();
        let mut firm = huiqi_ir::Firm::new("F", "F", p.facts.len());
        for (period, fen) in [(2020, 1_000), (2021, 2_000)] {
            firm.awards.push(huiqi_ir::Award {
                clause: scale,
                period,
                tranche: "首次入规".into(),
                amount: huiqi_ir::money::from_fen(fen),
            });
        }
        let applied = with_history(
            &p,
            &mut firm,
            &[
                award("小升规奖励", 2021, "首次入规", 20_000_000),
                award("没有这一条", 2021, "", 5),
            ],
        );
        assert_eq!(applied, 1);
        let mut got: Vec<(i32, i64)> = firm
            .awards
            .iter()
            .map(|a| (a.period, huiqi_ir::money::to_fen(a.amount)))
            .collect();
        got.sort();
        assert_eq!(got, [(2020, 1_000), (2021, 20_000_000)]);
        // A clawback of the snapshot's 2020 award (the ledger does not hold it) is taken off it;
        // the ledger's 2021 award recovered in full is gone, not the snapshot's again.
        let recovery = AwardOut {
            held: false,
            ..award("小升规奖励", 2020, "首次入规", -400)
        };
        with_history(
            &p,
            &mut firm,
            &[recovery, award("小升规奖励", 2021, "首次入规", 0)],
        );
        let got: Vec<(i32, i64)> = firm
            .awards
            .iter()
            .map(|a| (a.period, huiqi_ir::money::to_fen(a.amount)))
            .collect();
        assert_eq!(got, [(2020, 600)]);
    }
}
