//! Payment batches: exactly once with the treasury.
//!
//! `export_batch` moves confirmed lines to `exported` in a new batch (an id and an audit event)
//! and returns the rows of the payment file, which carries the batch id. A rerun does not
//! supersede an exported line; its difference waits. The treasury's paid file is matched to its
//! batch (`pay_batch`): every line must be in the batch, and a file with bad lines pays nothing
//! unless `partial` is asked, when the good lines are paid and the rest listed. A batch the
//! treasury returns unpaid is cancelled (`cancel_batch`): its lines go back to confirmed. Either
//! way, a difference that waited becomes its own line then.

use std::collections::BTreeSet;

use crate::audit::Chain;
use crate::check::{check_lines, check_read};
use crate::content::ItemRow;
use crate::db::Db;
use crate::payfile::{classify, pay_all, refuse, LineError, PaidFile, Verdict};
use crate::report::ListRow;
use crate::settle::settle_waiting;
use crate::workflow::{select_lines, transition_all, Line, Selection, Step};
use crate::{args, Ctx, Error, Ledger, State};

/// Where a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchState {
    /// Sent to the treasury; some lines await payment.
    Exported,
    /// Every line paid.
    Paid,
    /// Returned by the treasury: the lines not paid went back to confirmed.
    Cancelled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Exported => "exported",
            BatchState::Paid => "paid",
            BatchState::Cancelled => "cancelled",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            BatchState::Exported => "已送国库",
            BatchState::Paid => "已全部拨付",
            BatchState::Cancelled => "已撤回",
        }
    }
    pub fn parse(s: &str) -> Option<BatchState> {
        [
            BatchState::Exported,
            BatchState::Paid,
            BatchState::Cancelled,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// A batch and its lines awaiting payment: what its payment file holds.
#[derive(Clone, Debug)]
pub struct Batch {
    pub id: i64,
    pub state: BatchState,
    pub created_at: String,
    pub rows: Vec<ListRow>,
    pub total_fen: i64,
}

/// A batch at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub id: i64,
    pub state: BatchState,
    /// Lines and total when exported.
    pub lines: i64,
    pub total_fen: i64,
    /// Lines still awaiting payment.
    pub outstanding: i64,
    pub created_at: String,
    pub closed_at: Option<String>,
    pub reason: Option<String>,
}

/// What applying a batch's paid file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchPaySummary {
    pub batch: i64,
    pub paid: u64,
    pub paid_fen: i64,
    /// Lines already paid with the same reference (the file was applied before).
    pub already: u64,
    /// Lines not paid, and why (only with `partial`; otherwise they refuse the whole file).
    pub refused: Vec<LineError>,
    /// Lines of the batch still awaiting payment.
    pub outstanding: Vec<i64>,
    /// New lines for differences that waited for these payments.
    pub adjustments: u64,
}

/// What a batch's paid file would pay, checked without writing ([`Ledger::check_batch_file`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchCheck {
    pub batch: i64,
    /// (award line, 分, payment reference) of the lines it would pay.
    pub payable: Vec<(i64, i64, String)>,
    /// Lines already paid with the same reference.
    pub already: u64,
    /// Lines it would refuse, and why.
    pub refused: Vec<LineError>,
}

/// What cancelling a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelSummary {
    /// Lines back to confirmed.
    pub returned: u64,
    /// Of those, lines a rerun had changed while they were out: superseded …
    pub superseded: u64,
    /// … and replaced by a line for the difference.
    pub new_lines: u64,
}

fn no_batch(id: i64) -> Error {
    Error::input(format!("没有第 {id} 批"), format!("no payment batch {id}"))
}

async fn batch_state(db: &mut Db, id: i64) -> Result<BatchState, Error> {
    let r = db
        .row(
            "SELECT state FROM payment_batches WHERE id = $1",
            &args![id],
        )
        .await?
        .ok_or_else(|| no_batch(id))?;
    BatchState::parse(&r.s(0)).ok_or_else(|| Error::db(format!("batch {id}: state {}", r.s(0))))
}

async fn outstanding(db: &mut Db, id: i64) -> Result<Vec<i64>, Error> {
    Ok(db
        .rows(
            "SELECT id FROM items WHERE batch_id = $1 AND state = 'exported' ORDER BY id",
            &args![id],
        )
        .await?
        .iter()
        .map(|r| r.i(0))
        .collect())
}

/// Closes each batch with no line left to pay (state `paid`).
pub(crate) async fn close_batches(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    batches: &BTreeSet<i64>,
) -> Result<(), Error> {
    for &b in batches {
        if !outstanding(db, b).await?.is_empty() {
            continue;
        }
        let n = db
            .exec(
                "UPDATE payment_batches SET state = 'paid', closed_at = $1 WHERE id = $2 AND state = 'exported'",
                &args![&ctx.at, b],
            )
            .await?;
        if n == 1 {
            chain.push(
                ctx,
                "batch-paid",
                &format!("batch:{b}"),
                r#"{"state":"exported"}"#,
                r#"{"state":"paid"}"#,
            );
        }
    }
    Ok(())
}

fn not_confirmed(id: i64, st: State) -> Error {
    Error::input(
        format!(
            "明细 {id} 当前为“{}”，不能导出拨付（需要：企业已确认）",
            st.zh()
        ),
        format!(
            "line {id} is {}; cannot export it for payment (needs: confirmed)",
            st.as_str()
        ),
    )
}

async fn export_tx(db: &mut Db, ctx: &Ctx, sel: &Selection) -> Result<Option<i64>, Error> {
    let lines = select_lines(db, sel, &[State::Confirmed], not_confirmed).await?;
    if lines.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = lines.iter().map(Line::id).collect();
    check_read(db, &lines).await?;
    let mut chain = Chain::open(db).await?;
    let id = db
        .int("SELECT COALESCE(MAX(id), 0) FROM payment_batches", &[])
        .await?
        + 1;
    let total: i64 = lines.iter().map(|l| l.row.amount_fen).sum();
    db.exec(
        "INSERT INTO payment_batches (id, state, lines, total_fen, created_at, actor) VALUES ($1, 'exported', $2, $3, $4, $5)",
        &args![id, lines.len() as i64, total, &ctx.at, &ctx.actor],
    )
    .await?;
    chain.push(
        ctx,
        "batch",
        &format!("batch:{id}"),
        "{}",
        &serde_json::json!({"state": "exported", "lines": lines.len(), "total_fen": total, "items": ids})
            .to_string(),
    );
    let step = Step {
        action: "export",
        to: State::Exported,
        reason: None,
        said: None,
        notice: None,
        batch: Some(Some(id)),
        recoveries: vec![],
    };
    transition_all(db, &mut chain, ctx, &lines, &step, not_confirmed).await?;
    chain.flush(db).await?;
    Ok(Some(id))
}

/// Every line of a paid file judged against the ledger, as paying it would judge it.
struct Verdicts {
    batch: i64,
    todo: Vec<(Line, String)>,
    already: u64,
    refused: Vec<LineError>,
}

async fn verdicts(db: &mut Db, file: &PaidFile) -> Result<Verdicts, Error> {
    let Some(b) = file.batch else {
        return Err(Error::input(
            "支付结果文件没有“批次号”列：请用导出批次时的文件",
            "the paid file has no 批次号 (batch) column: use the file the batch was exported as",
        ));
    };
    if batch_state(db, b).await? == BatchState::Cancelled {
        return Err(Error::input(
            format!("第 {b} 批已撤回，未做任何拨付"),
            format!("batch {b} was cancelled; nothing was paid"),
        ));
    }
    let mut refused = file.bad.clone();
    let mut todo = vec![];
    let mut already = 0;
    let mut seen = Default::default();
    for pl in &file.lines {
        match classify(db, pl, Some(b), &mut seen).await? {
            Verdict::Pay(l) => todo.push((*l, pl.reference.clone())),
            Verdict::Already => already += 1,
            Verdict::Bad(e) => refused.push(e),
        }
    }
    refused.sort_by_key(|e| e.line);
    Ok(Verdicts {
        batch: b,
        todo,
        already,
        refused,
    })
}

async fn pay_batch_tx(
    db: &mut Db,
    ctx: &Ctx,
    file: &PaidFile,
    partial: bool,
) -> Result<BatchPaySummary, Error> {
    let Verdicts {
        batch: b,
        todo,
        already,
        refused,
    } = verdicts(db, file).await?;
    if !refused.is_empty() && !partial {
        return Err(refuse(&refused));
    }
    let s = pay_all(db, ctx, &todo).await?;
    Ok(BatchPaySummary {
        batch: b,
        paid: s.paid,
        paid_fen: s.paid_fen,
        already,
        refused,
        outstanding: outstanding(db, b).await?,
        adjustments: s.adjustments,
    })
}

async fn cancel_tx(db: &mut Db, ctx: &Ctx, b: i64, reason: &str) -> Result<CancelSummary, Error> {
    if reason.trim().is_empty() {
        return Err(Error::input(
            "需要说明理由（--reason）",
            "a reason is required (--reason)",
        ));
    }
    if batch_state(db, b).await? != BatchState::Exported {
        return Err(Error::input(
            format!("第 {b} 批不在“已送国库”状态，不能撤回"),
            format!("batch {b} is not exported (awaiting payment); it cannot be cancelled"),
        ));
    }
    let ids = outstanding(db, b).await?;
    check_lines(db, &ids).await?;
    let lines = crate::workflow::lines_by_id(db, &ids, &[State::Exported], |id, st| {
        Error::db(format!("line {id} is {}", st.as_str()))
    })
    .await?;
    let mut chain = Chain::open(db).await?;
    db.exec(
        "UPDATE payment_batches SET state = 'cancelled', closed_at = $1, reason = $2 WHERE id = $3",
        &args![&ctx.at, reason, b],
    )
    .await?;
    chain.push(
        ctx,
        "batch-cancel",
        &format!("batch:{b}"),
        r#"{"state":"exported"}"#,
        &serde_json::json!({"state": "cancelled", "reason": reason}).to_string(),
    );
    let step = Step {
        action: "return",
        to: State::Confirmed,
        reason: None,
        said: Some(reason),
        notice: None,
        batch: Some(None),
        recoveries: vec![],
    };
    transition_all(db, &mut chain, ctx, &lines, &step, |id, st| {
        Error::db(format!("line {id} changed underneath: {}", st.as_str()))
    })
    .await?;
    // Settled with the batch they were in (the rows as they were, batch included).
    let rows: Vec<ItemRow> = lines.iter().map(|l| l.row.clone()).collect();
    let w = settle_waiting(db, &mut chain, ctx, &rows).await?;
    chain.flush(db).await?;
    Ok(CancelSummary {
        returned: lines.len() as u64,
        superseded: w.superseded,
        new_lines: w.new_lines,
    })
}

impl Ledger {
    /// `export payments`: moves the selected confirmed lines to `exported` in a new payment
    /// batch (recorded in the audit chain) and returns it; `None` when no line is confirmed.
    /// Write its file with `report::write_batch_csv`.
    pub async fn export_batch(
        &mut self,
        ctx: &Ctx,
        sel: &Selection,
    ) -> Result<Option<Batch>, Error> {
        let id = self
            .write(async |db: &mut Db| export_tx(db, ctx, sel).await)
            .await?;
        match id {
            Some(id) => Ok(Some(self.batch(id).await?)),
            None => Ok(None),
        }
    }

    /// A batch and its lines still awaiting payment (to write its file again).
    pub async fn batch(&mut self, id: i64) -> Result<Batch, Error> {
        let r = self
            .db
            .row(
                "SELECT state, created_at FROM payment_batches WHERE id = $1",
                &args![id],
            )
            .await?
            .ok_or_else(|| no_batch(id))?;
        let rows = self
            .list(
                "i.batch_id = $1 AND i.state = 'exported'",
                args![id].to_vec(),
            )
            .await?;
        Ok(Batch {
            id,
            state: BatchState::parse(&r.s(0)).unwrap_or(BatchState::Exported),
            created_at: r.s(1),
            total_fen: rows.iter().map(|r| r.fen).sum(),
            rows,
        })
    }

    /// Every batch, newest first.
    pub async fn batches(&mut self) -> Result<Vec<BatchInfo>, Error> {
        let rows = self
            .db
            .rows(
                "SELECT b.id, b.state, b.lines, b.total_fen, b.created_at, b.closed_at, b.reason, \
                 (SELECT COUNT(*) FROM items i WHERE i.batch_id = b.id AND i.state = 'exported') \
                 FROM payment_batches b ORDER BY b.id DESC",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| BatchInfo {
                id: r.i(0),
                state: BatchState::parse(&r.s(1)).unwrap_or(BatchState::Exported),
                lines: r.i(2),
                total_fen: r.i(3),
                created_at: r.s(4),
                closed_at: r.os(5),
                reason: r.os(6),
                outstanding: r.i(7),
            })
            .collect())
    }

    /// Records a batch's paid file. Every line must be in the batch, exported, with its firm,
    /// amount and a plain reference. Any bad line refuses the whole file unless `partial`: then
    /// the good lines are paid and the rest listed (still awaiting payment in the batch).
    /// Lines already paid under the same reference are skipped.
    pub async fn pay_batch(
        &mut self,
        ctx: &Ctx,
        file: &PaidFile,
        partial: bool,
    ) -> Result<BatchPaySummary, Error> {
        self.write(async |db: &mut Db| pay_batch_tx(db, ctx, file, partial).await)
            .await
    }

    /// What [`Ledger::pay_batch`] would do with this file, judged line by line exactly as it
    /// judges them, in a read-only transaction: nothing is written. (Another writer may move a
    /// line between this check and the payment; the payment checks again.)
    pub async fn check_batch_file(&mut self, file: &PaidFile) -> Result<BatchCheck, Error> {
        self.db.begin_read().await?;
        let r = verdicts(&mut self.db, file).await;
        self.db.rollback().await;
        let v = r?;
        Ok(BatchCheck {
            batch: v.batch,
            payable: v
                .todo
                .iter()
                .map(|(l, reference)| (l.id(), l.row.amount_fen, reference.clone()))
                .collect(),
            already: v.already,
            refused: v.refused,
        })
    }

    /// The treasury returned the batch unpaid: its lines awaiting payment go back to
    /// confirmed (a reason is required). A line a rerun changed while it was out is then
    /// superseded by a line for the corrected difference.
    pub async fn cancel_batch(
        &mut self,
        ctx: &Ctx,
        batch: i64,
        reason: &str,
    ) -> Result<CancelSummary, Error> {
        self.write(async |db: &mut Db| cancel_tx(db, ctx, batch, reason).await)
            .await
    }
}
