//! An entitlement's figure against its lines: when the figure changes, open lines are
//! superseded and one new line carries the difference to what was paid. A line sent to the
//! treasury is never superseded: the difference waits until its payment is recorded (or its
//! batch is cancelled), then is settled the same way.

use std::collections::{BTreeMap, HashSet};

use crate::audit::Chain;
use crate::content::{ent_rows, snap, EntRow, ItemRow, ITEM_COLS};
use crate::db::Db;
use crate::record::state_json;
use crate::{args, Ctx, Error, State};

/// Every line of the entitlement, by version.
pub(crate) async fn ent_lines(db: &mut Db, ent: i64) -> Result<Vec<ItemRow>, Error> {
    Ok(db
        .rows(
            &format!(
                "SELECT {ITEM_COLS} FROM items i WHERE i.entitlement_id = $1 ORDER BY i.version"
            ),
            &args![ent],
        )
        .await?
        .iter()
        .map(ItemRow::of)
        .collect())
}

/// What settling an entitlement did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Settled {
    pub superseded: u64,
    /// The new line's kind, if one was added.
    pub kind: Option<&'static str>,
}

/// The entitlement now computes to `fen` (by `run_id`): its open lines are superseded, and one
/// new line carries `fen − paid`: a recovery (negative), a top-up (positive, after a payment)
/// or a replacement award (positive, nothing ever paid). The caller has checked the lines
/// against the chain and holds the write lock.
pub(crate) async fn resettle(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    ent: &EntRow,
    fen: i64,
    run_id: &str,
) -> Result<Settled, Error> {
    let lines = ent_lines(db, ent.id).await?;
    let mut out = Settled::default();
    let mut paid_net = 0;
    let mut ever_paid = false;
    for l in &lines {
        let st = l.state();
        if st == State::Paid {
            paid_net += l.amount_fen;
        }
        if matches!(st, State::Paid | State::Recovered) {
            ever_paid = true;
        }
        if st.open() {
            supersede(db, chain, ctx, ent, l, run_id).await?;
            out.superseded += 1;
        }
    }
    let delta = fen - paid_net;
    if delta == 0 {
        return Ok(out);
    }
    // A negative difference is always a recovery — also on a clawback's entitlement, whose
    // figure is negative though nothing was ever paid on it; a positive one replaces the award
    // when nothing was paid, else it is a top-up (on a clawback collected: money given back).
    let kind = if delta < 0 {
        "recovery"
    } else if !ever_paid {
        "award"
    } else {
        "topup"
    };
    let id = db
        .int("SELECT COALESCE(MAX(id), 0) FROM items", &[])
        .await?
        + 1;
    let line = ItemRow {
        id,
        state: State::Computed.as_str().into(),
        reason: None,
        entitlement: ent.id,
        version: lines.last().map(|l| l.version + 1).unwrap_or(0),
        kind: kind.into(),
        amount_fen: delta,
        run: run_id.into(),
        original: lines.first().map(|l| l.id),
        notice: None,
        batch: None,
    };
    db.exec(
        "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, original_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'computed', $6, $7, $8, $8)",
        &args![id, ent.id, line.version, kind, delta, run_id, line.original, &ctx.at],
    )
    .await?;
    chain.push(
        ctx,
        "adjust",
        &format!("item:{id}"),
        "{}",
        &serde_json::json!({"state": "computed", "entitlement": ent.id, "kind": kind, "amount_fen": delta, "original": line.original, "run": run_id, "line": snap(&line, &ent.key)}).to_string(),
    );
    out.kind = Some(kind);
    Ok(out)
}

async fn supersede(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    ent: &EntRow,
    l: &ItemRow,
    run_id: &str,
) -> Result<(), Error> {
    let n = db
        .exec(
            "UPDATE items SET state = 'superseded', updated_at = $1 WHERE id = $2 AND state = $3",
            &args![&ctx.at, l.id, &l.state],
        )
        .await?;
    if n != 1 {
        return Err(Error::db(format!("line {} changed underneath", l.id)));
    }
    let after = serde_json::json!({
        "state": State::Superseded.as_str(),
        "reason": format!("run {run_id}"),
        "line": snap(l, &ent.key),
    });
    chain.push(
        ctx,
        "supersede",
        &format!("item:{}", l.id),
        &state_json(l.state(), None),
        &after.to_string(),
    );
    Ok(())
}

/// Entitlements whose figure changed after batch `batch` was exported: their difference
/// waited for the batch.
pub(crate) async fn refigured_since(db: &mut Db, batch: i64) -> Result<HashSet<i64>, Error> {
    let since = db
        .int(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE entity = $1 AND action = 'batch'",
            &args![format!("batch:{batch}")],
        )
        .await?;
    Ok(db
        .rows(
            "SELECT entity FROM audit_events WHERE action = 'refigure' AND seq > $1",
            &args![since],
        )
        .await?
        .iter()
        .filter_map(|r| r.s(0).strip_prefix("entitlement:")?.parse().ok())
        .collect())
}

/// What settling the waiting differences did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Waited {
    pub superseded: u64,
    pub new_lines: u64,
}

/// After lines of batches were paid or returned: each line whose entitlement changed while it
/// was out is settled against the entitlement's current figure (checked against the chain by
/// the caller, with the lines).
pub(crate) async fn settle_waiting(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    lines: &[ItemRow],
) -> Result<Waited, Error> {
    let mut out = Waited::default();
    let mut by_batch: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for l in lines {
        if let Some(b) = l.batch {
            by_batch.entry(b).or_default().push(l.entitlement);
        }
    }
    for (b, ents) in by_batch {
        let changed = refigured_since(db, b).await?;
        let mut todo: Vec<i64> = ents.into_iter().filter(|e| changed.contains(e)).collect();
        todo.sort_unstable();
        todo.dedup();
        for e in ent_rows(db, &todo).await? {
            let s = resettle(db, chain, ctx, &e, e.computed_fen, &e.last_run).await?;
            out.superseded += s.superseded;
            out.new_lines += u64::from(s.kind.is_some());
        }
    }
    Ok(out)
}
