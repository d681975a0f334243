//! Recording a run: its manifest and its entitlements, all or nothing, idempotent. The
//! `record` event carries everything it creates (firm names, entitlements and their award
//! lines), so `verify` can replay it. A run's clawbacks (recoveries its rules computed from
//! earlier awards) become entitlements of the run's period with a negative figure and a target,
//! and go through the same figures-and-lines logic as awards.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::audit::Chain;
use crate::check::{check_entitlements, check_lines};
use crate::content::{
    ent_rows, first_kind, line_digest_row, EntKey, EntRow, KeyOut, RecordAfter, Target,
};
use crate::db::{Arg, Db};
use crate::settle::{ent_lines, resettle};
use crate::{args, Ctx, Error, Ledger, State};

pub use crate::results::read_results;

/// One non-zero result row of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    pub firm_id: String,
    pub clause: String,
    pub tranche: String,
    pub fen: i64,
}

/// One row of a run's `clawbacks.parquet`: recover `fen` (above zero) from the firm's earlier
/// award (`clause`, `tranche`, `award_period`) by the clawback rule `rule`, in the run's period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClawbackRow {
    pub firm_id: String,
    pub rule: String,
    pub clause: String,
    /// Empty for a clause of one tranche.
    pub tranche: String,
    pub award_period: i64,
    pub fen: i64,
}

impl ClawbackRow {
    /// The tranche of the clawback's entitlement (keyed firm, rule, the run's period, this): the
    /// award it recovers from, `{clause}@{period}` or `{clause}·{tranche}@{period}` — so one
    /// rule recovering from two awards of a firm makes two entitlements.
    pub fn entitlement_tranche(&self) -> String {
        if self.tranche.is_empty() {
            format!("{}@{}", self.clause, self.award_period)
        } else {
            format!("{}·{}@{}", self.clause, self.tranche, self.award_period)
        }
    }
}

/// A run as the ledger records it.
#[derive(Clone, Debug, Default)]
pub struct RunInput {
    /// First 16 hex digits of the manifest's SHA-256: the same run always has the same id.
    pub run_id: String,
    pub manifest: String,
    pub period: i64,
    pub policy_name: String,
    pub policy_hash: String,
    pub snapshot_hash: String,
    pub engine_version: String,
    pub results_sha256: String,
    /// Rows with a non-zero amount.
    pub rows: Vec<ResultRow>,
    /// Every clause the run evaluated (a ledger figure of such a clause that the run no longer
    /// gives is treated as zero).
    pub clauses: BTreeSet<String>,
    /// Firm names (from the run's snapshot), where known.
    pub names: HashMap<String, String>,
    /// What the run's clawback rules recover (`clawbacks.parquet`; empty without such rules).
    pub clawbacks: Vec<ClawbackRow>,
    /// Every clawback rule the run evaluated (the manifest's `clawbacks.rules`): a ledger
    /// clawback of such a rule, in the run's period, that the run no longer gives is zero.
    pub rules: BTreeSet<String>,
}

/// What recording did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub run_id: String,
    pub period: i64,
    /// The run was recorded before; nothing changed.
    pub already: bool,
    /// New entitlements (each with its award line).
    pub new: u64,
    pub new_fen: i64,
    /// New clawback entitlements (each with its recovery line) and their figures (negative).
    pub new_clawbacks: u64,
    pub new_clawback_fen: i64,
    /// Entitlements whose figure equals the ledger's.
    pub unchanged: u64,
    /// Entitlements whose figure changed.
    pub changed: u64,
    /// Open lines replaced by the corrected figure.
    pub superseded: u64,
    /// New lines for a difference to what was paid (or a replacement award).
    pub topups: u64,
    pub recoveries: u64,
    /// Changed figures whose line is out with the treasury (exported): the difference waits
    /// for the payment (or the batch's cancellation) and becomes its own line then.
    pub waiting: u64,
}

const ENT_TABLE_COLS: [&str; 11] = [
    "id",
    "firm_id",
    "clause",
    "period",
    "tranche",
    "computed_fen",
    "run_id",
    "last_run_id",
    "target_clause",
    "target_period",
    "target_tranche",
];
const ITEM_TABLE_COLS: [&str; 12] = [
    "id",
    "entitlement_id",
    "version",
    "kind",
    "amount_fen",
    "state",
    "run_id",
    "original_id",
    "reason",
    "notice_id",
    "created_at",
    "updated_at",
];

impl Ledger {
    /// Records a run. Recording it again is a no-op; a corrected rerun (a new run of the same
    /// period) changes only the figures that differ, by superseding open lines and adding one
    /// line for the difference to what was paid.
    pub async fn record(&mut self, ctx: &Ctx, run: &RunInput) -> Result<RecordSummary, Error> {
        let sum = self
            .write(async |db: &mut Db| record_tx(db, ctx, run).await)
            .await?;
        if sum.new > 0 || sum.new_clawbacks > 0 || sum.changed > 0 {
            // Thousands of lines just arrived: fresh statistics let the planner read a firm's
            // lines through the firm's index rather than every line of a state (a firm's page
            // went from ~14 ms to well under 1 ms on a 50k-firm zone). After the commit: the
            // record stands whether or not this runs.
            let _ = self.db.batch("ANALYZE").await;
        }
        Ok(sum)
    }
}

/// An entitlement of the run's period in the ledger.
struct Known {
    id: i64,
    fen: i64,
    /// Given by this run.
    seen: bool,
    /// Set on a clawback's.
    target: Target,
}

/// The ledger's entitlements of a period, by key (firm, clause, tranche).
type Existing = HashMap<(String, String, String), Known>;

/// A figure the run gives: an award (a results row) or a clawback (negative, with its target).
struct Entry<'a> {
    firm: &'a str,
    clause: &'a str,
    tranche: Cow<'a, str>,
    fen: i64,
    target: Target,
    key: KeyOut<'a>,
}

/// The run's figures: its results rows, then its clawbacks.
fn entries(run: &RunInput) -> impl Iterator<Item = Entry<'_>> {
    let awards = run.rows.iter().map(|r| Entry {
        firm: &r.firm_id,
        clause: &r.clause,
        tranche: Cow::Borrowed(&r.tranche),
        fen: r.fen,
        target: Target::default(),
        key: KeyOut::Award(&r.clause, &r.tranche),
    });
    let clawbacks = run.clawbacks.iter().map(|c| {
        let tranche = c.entitlement_tranche();
        Entry {
            firm: &c.firm_id,
            clause: &c.rule,
            key: KeyOut::Clawback(
                &c.rule,
                tranche.clone(),
                &c.clause,
                c.award_period,
                &c.tranche,
            ),
            tranche: Cow::Owned(tranche),
            fen: -c.fen,
            target: Target::of(&c.clause, c.award_period, &c.tranche),
        }
    });
    awards.chain(clawbacks)
}

/// What a run adds: the event's content, from which the new rows are made as they are inserted
/// (chunk by chunk, rather than held whole beside it).
struct Plan<'a> {
    /// (entitlement, new figure) of each changed figure, by entitlement.
    changed: Vec<(i64, i64)>,
    keys: Vec<KeyOut<'a>>,
    lines: Vec<(i64, i64, &'a str, usize, i64)>,
    digest: Sha256,
}

async fn record_tx(db: &mut Db, ctx: &Ctx, run: &RunInput) -> Result<RecordSummary, Error> {
    let mut sum = RecordSummary {
        run_id: run.run_id.clone(),
        period: run.period,
        ..Default::default()
    };
    // A clawback recovers something: its figure is negative, never zero (the file's reader
    // refuses such rows; a caller building a RunInput itself may not).
    if let Some(c) = run.clawbacks.iter().find(|c| c.fen <= 0) {
        return Err(Error::input(
            format!(
                "追回 {} {} {} 的金额应大于零：{}",
                c.firm_id,
                c.rule,
                c.entitlement_tranche(),
                c.fen
            ),
            format!(
                "clawback {} {} {}: the amount must be above zero, not {}",
                c.firm_id,
                c.rule,
                c.entitlement_tranche(),
                c.fen
            ),
        ));
    }
    if db
        .row(
            "SELECT run_id FROM runs WHERE run_id = $1",
            &args![&run.run_id],
        )
        .await?
        .is_some()
    {
        sum.already = true;
        return Ok(sum);
    }
    let mut chain = Chain::open(db).await?;
    db.exec(
        "INSERT INTO runs (run_id, period, policy_name, policy_hash, snapshot_hash, engine_version, results_sha256, manifest, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &args![&run.run_id, run.period, &run.policy_name, &run.policy_hash, &run.snapshot_hash, &run.engine_version, &run.results_sha256, &run.manifest, &ctx.at, &ctx.actor],
    )
    .await?;
    let mut existing: Existing = HashMap::new();
    for r in db
        .rows(
            "SELECT id, firm_id, clause, tranche, computed_fen, target_clause, target_period, target_tranche FROM entitlements WHERE period = $1",
            &args![run.period],
        )
        .await?
    {
        existing.insert(
            (r.s(1), r.s(2), r.s(3)),
            Known {
                id: r.i(0),
                fen: r.i(4),
                seen: false,
                target: Target {
                    clause: r.os(5),
                    period: r.oi(6),
                    tranche: r.os(7),
                },
            },
        );
    }
    let plan = plan(db, run, &mut existing, &mut sum).await?;
    // The lines a changed figure touches must hold what the chain says before they move.
    check_changed(db, &plan.changed).await?;
    let firms = new_firms(db, run).await?;
    let ents = plan.lines.iter().map(|&(_, ent, firm, k, fen)| {
        let (clause, tranche, t) = match &plan.keys[k] {
            KeyOut::Award(clause, tranche) => (*clause, *tranche, Target::default()),
            KeyOut::Clawback(rule, tranche, clause, period, of) => {
                (*rule, tranche.as_str(), Target::of(clause, *period, of))
            }
        };
        [
            Arg::from(ent),
            Arg::from(firm),
            Arg::from(clause),
            Arg::from(run.period),
            Arg::from(tranche),
            Arg::from(fen),
            Arg::from(&run.run_id),
            Arg::from(&run.run_id),
            Arg::S(t.clause),
            Arg::I(t.period),
            Arg::S(t.tranche),
        ]
    });
    db.bulk_insert("entitlements", &ENT_TABLE_COLS, ents)
        .await?;
    let items = plan.lines.iter().map(|&(item, ent, _, _, fen)| {
        [
            Arg::from(item),
            Arg::from(ent),
            Arg::from(0),
            Arg::from(first_kind(fen)),
            Arg::from(fen),
            Arg::from(State::Computed.as_str()),
            Arg::from(&run.run_id),
            Arg::I(None),
            Arg::S(None),
            Arg::I(None),
            Arg::from(&ctx.at),
            Arg::from(&ctx.at),
        ]
    });
    db.bulk_insert("items", &ITEM_TABLE_COLS, items).await?;
    let after = RecordAfter {
        period: run.period,
        policy_hash: &run.policy_hash,
        snapshot_hash: &run.snapshot_hash,
        engine_version: &run.engine_version,
        results_sha256: &run.results_sha256,
        new: sum.new,
        new_fen: sum.new_fen,
        unchanged: sum.unchanged,
        changed: sum.changed,
        new_lines_sha256: format!("{:x}", plan.digest.finalize()),
        policy_name: &run.policy_name,
        manifest_sha256: format!("{:x}", Sha256::digest(run.manifest.as_bytes())),
        firms,
        keys: plan.keys,
        lines: plan.lines,
        new_clawbacks: sum.new_clawbacks,
        new_clawback_fen: sum.new_clawback_fen,
    };
    let after = serde_json::to_string(&after).map_err(Error::db)?;
    chain.push(ctx, "record", &format!("run:{}", run.run_id), "{}", &after);
    for (ent, fen) in plan.changed {
        adjust(db, &mut chain, ctx, &run.run_id, ent, fen, &mut sum).await?;
    }
    chain.flush(db).await?;
    Ok(sum)
}

/// The new entitlements and lines of a run, and the figures it changes.
async fn plan<'a>(
    db: &mut Db,
    run: &'a RunInput,
    existing: &mut Existing,
    sum: &mut RecordSummary,
) -> Result<Plan<'a>, Error> {
    let mut next_ent = db
        .int("SELECT COALESCE(MAX(id), 0) FROM entitlements", &[])
        .await?
        + 1;
    let mut next_item = db
        .int("SELECT COALESCE(MAX(id), 0) FROM items", &[])
        .await?
        + 1;
    let mut p = Plan {
        changed: vec![],
        keys: vec![],
        lines: vec![],
        digest: Sha256::new(),
    };
    let mut key_index: HashMap<KeyOut<'a>, usize> = HashMap::new();
    for r in entries(run) {
        let key = (
            r.firm.to_string(),
            r.clause.to_string(),
            r.tranche.to_string(),
        );
        if let Some(e) = existing.get_mut(&key) {
            if e.target != r.target {
                return Err(conflict(r.firm, r.clause, run.period, &r.tranche));
            }
            if e.seen {
                return Err(Error::input(
                    format!("运行结果中 {} {} {} 出现两次", r.firm, r.clause, r.tranche),
                    format!(
                        "the results list {} {} {} twice",
                        r.firm, r.clause, r.tranche
                    ),
                ));
            }
            e.seen = true;
            if e.fen == r.fen {
                sum.unchanged += 1;
            } else {
                p.changed.push((e.id, r.fen));
            }
            continue;
        }
        existing.insert(
            key,
            Known {
                id: next_ent,
                fen: r.fen,
                seen: true,
                target: r.target.clone(),
            },
        );
        let ek = EntKey {
            firm: r.firm.to_string(),
            clause: r.clause.to_string(),
            period: run.period,
            tranche: r.tranche.to_string(),
        };
        p.digest
            .update(line_digest_row(next_item, next_ent, &ek, r.fen).as_bytes());
        let n = key_index.len();
        let k = *key_index.entry(r.key.clone()).or_insert(n);
        if k == p.keys.len() {
            p.keys.push(r.key);
        }
        p.lines.push((next_item, next_ent, r.firm, k, r.fen));
        if r.target.is_some() {
            sum.new_clawbacks += 1;
            sum.new_clawback_fen += r.fen;
        } else {
            sum.new += 1;
            sum.new_fen += r.fen;
        }
        next_ent += 1;
        next_item += 1;
    }
    // Figures the run no longer gives are now zero: awards of the clauses it evaluated,
    // clawbacks of the rules it evaluated.
    for ((_, clause, _), e) in existing.iter() {
        let evaluated = if e.target.is_some() {
            run.rules.contains(clause)
        } else {
            run.clauses.contains(clause)
        };
        if !e.seen && e.fen != 0 && evaluated {
            p.changed.push((e.id, 0));
        }
    }
    p.changed.sort();
    sum.changed = p.changed.len() as u64;
    Ok(p)
}

/// A key the ledger holds for another kind of entitlement (an award's key given by a clawback or
/// the other way round) or for a clawback of another award.
fn conflict(firm: &str, clause: &str, period: i64, tranche: &str) -> Error {
    Error::input(
        format!("{firm} {clause} {period} {tranche}：台账中同一键的权益是另一类（奖励或追回）或追回的是另一笔奖励"),
        format!("{firm} {clause} {period} {tranche}: the ledger's entitlement of this key is of the other kind (award or clawback) or recovers from another award"),
    )
}

/// The entitlements whose figure changes, and all their lines, against the chain.
async fn check_changed(db: &mut Db, changed: &[(i64, i64)]) -> Result<(), Error> {
    let ents: Vec<i64> = changed.iter().map(|c| c.0).collect();
    check_entitlements(db, &ents).await?;
    let mut lines = vec![];
    for &e in &ents {
        lines.extend(ent_lines(db, e).await?.into_iter().map(|l| l.id));
    }
    check_lines(db, &lines).await
}

/// Inserts the firms the ledger does not know yet; returns (credit code, name) of each.
async fn new_firms<'a>(db: &mut Db, run: &'a RunInput) -> Result<Vec<(&'a str, &'a str)>, Error> {
    if run.names.is_empty() {
        return Ok(vec![]);
    }
    let known: HashSet<String> = db
        .rows("SELECT firm_id FROM firms", &[])
        .await?
        .into_iter()
        .map(|r| r.s(0))
        .collect();
    let mut firms: Vec<(&str, &str)> = run
        .names
        .iter()
        .filter(|(id, _)| !known.contains(*id))
        .map(|(i, n)| (i.as_str(), n.as_str()))
        .collect();
    firms.sort();
    let rows: Vec<Vec<Arg>> = firms.iter().map(|(i, n)| args![*i, *n].to_vec()).collect();
    db.bulk_insert("firms", &["firm_id", "name"], &rows).await?;
    Ok(firms)
}

/// A changed figure: the entitlement takes it; open lines are superseded and one new line
/// carries the difference to what was paid — unless a line is out with the treasury, when the
/// difference waits for its payment.
async fn adjust(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    run_id: &str,
    ent: i64,
    fen: i64,
    sum: &mut RecordSummary,
) -> Result<(), Error> {
    let Some(before) = ent_rows(db, &[ent]).await?.into_iter().next() else {
        return Err(Error::db(format!("entitlement {ent} is missing")));
    };
    db.exec(
        "UPDATE entitlements SET computed_fen = $1, last_run_id = $2 WHERE id = $3",
        &args![fen, run_id, ent],
    )
    .await?;
    let out = ent_lines(db, ent)
        .await?
        .into_iter()
        .find(|l| l.state() == State::Exported);
    let mut after = serde_json::json!({"computed_fen": fen, "run": run_id, "key": before.key});
    if let Some(l) = &out {
        after["waits"] = serde_json::json!({"line": l.id, "batch": l.batch});
    }
    chain.push(
        ctx,
        "refigure",
        &format!("entitlement:{ent}"),
        &serde_json::json!({"computed_fen": before.computed_fen}).to_string(),
        &after.to_string(),
    );
    if out.is_some() {
        sum.waiting += 1;
        return Ok(());
    }
    let e = EntRow {
        computed_fen: fen,
        last_run: run_id.to_string(),
        ..before
    };
    let s = resettle(db, chain, ctx, &e, fen, run_id).await?;
    sum.superseded += s.superseded;
    match s.kind {
        Some("recovery") => sum.recoveries += 1,
        Some(_) => sum.topups += 1,
        None => {}
    }
    Ok(())
}

/// `{"state": …}` (and a reason) as audit before/after.
pub(crate) fn state_json(s: State, reason: Option<&str>) -> String {
    match reason {
        Some(r) => serde_json::json!({"state": s.as_str(), "reason": r}).to_string(),
        None => serde_json::json!({"state": s.as_str()}).to_string(),
    }
}
