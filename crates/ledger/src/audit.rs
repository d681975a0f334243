//! The audit trail: every transition is an append-only event, and the events form a hash chain.
//! `hash = sha256(seq, prev_hash, actor, at, action, entity, before, after)`, each field written
//! as `<byte length>:<bytes>\n` so no two field lists encode alike. `audit_head` holds the last
//! seq and hash, updated in the same transaction, so a deleted tail is detected too.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::db::{Arg, Db};
use crate::schema::GENESIS;
use crate::{args, Ctx, Error};

#[derive(Clone, Debug)]
pub struct Event {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub actor: String,
    pub at: String,
    pub action: String,
    pub entity: String,
    pub before: String,
    pub after: String,
}

#[allow(clippy::too_many_arguments)]
pub fn digest(
    seq: i64,
    prev: &str,
    actor: &str,
    at: &str,
    action: &str,
    entity: &str,
    before: &str,
    after: &str,
) -> String {
    let mut h = Sha256::new();
    for f in [
        &seq.to_string() as &str,
        prev,
        actor,
        at,
        action,
        entity,
        before,
        after,
    ] {
        h.update(f.len().to_string().as_bytes());
        h.update(b":");
        h.update(f.as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

impl Event {
    fn recompute(&self, seq: i64) -> String {
        digest(
            seq,
            &self.prev_hash,
            &self.actor,
            &self.at,
            &self.action,
            &self.entity,
            &self.before,
            &self.after,
        )
    }
}

/// Events appended within one write transaction; `flush` writes them, their rows of the line →
/// event index, and moves the head.
pub struct Chain {
    seq: i64,
    hash: String,
    pending: Vec<Vec<Arg>>,
    /// (line, seq) of the pending events about lines.
    lines: Vec<(i64, i64)>,
}

impl Chain {
    /// Reads the head. Call inside a write transaction (the head is locked).
    pub async fn open(db: &mut Db) -> Result<Chain, Error> {
        let r = db
            .row("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
            .await?
            .ok_or_else(|| Error::db("audit_head is missing"))?;
        Ok(Chain {
            seq: r.i(0),
            hash: r.s(1),
            pending: vec![],
            lines: vec![],
        })
    }

    /// Appends an event; one about a line (`item:N`) is indexed under it.
    pub fn push(&mut self, ctx: &Ctx, action: &str, entity: &str, before: &str, after: &str) {
        self.append(ctx, action, entity, before, after);
        if let Some(id) = entity.strip_prefix("item:").and_then(|x| x.parse().ok()) {
            self.lines.push((id, self.seq));
        }
    }

    /// Appends one event about many lines (a bulk step, entity `lines`), indexed under each.
    pub fn push_lines(
        &mut self,
        ctx: &Ctx,
        action: &str,
        before: &str,
        after: &str,
        ids: impl Iterator<Item = i64>,
    ) {
        self.append(ctx, action, STEP_ENTITY, before, after);
        let seq = self.seq;
        self.lines.extend(ids.map(|id| (id, seq)));
    }

    fn append(&mut self, ctx: &Ctx, action: &str, entity: &str, before: &str, after: &str) {
        let seq = self.seq + 1;
        let hash = digest(
            seq, &self.hash, &ctx.actor, &ctx.at, action, entity, before, after,
        );
        self.pending.push(
            args![
                seq,
                self.hash.clone(),
                hash.clone(),
                ctx.actor.clone(),
                ctx.at.clone(),
                action,
                entity,
                before,
                after
            ]
            .to_vec(),
        );
        self.seq = seq;
        self.hash = hash;
    }

    pub async fn flush(self, db: &mut Db) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        db.bulk_insert(
            "audit_events",
            &[
                "seq",
                "prev_hash",
                "hash",
                "actor",
                "at",
                "action",
                "entity",
                "before_json",
                "after_json",
            ],
            &self.pending,
        )
        .await?;
        db.bulk_insert(
            "line_events",
            &["item_id", "seq"],
            self.lines
                .iter()
                .map(|&(id, seq)| [Arg::from(id), Arg::from(seq)]),
        )
        .await?;
        db.exec(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &args![self.seq, self.hash],
        )
        .await?;
        Ok(())
    }
}

/// The entity of an event about many lines: it lists them (`after_json.lines`), and the line →
/// event index points each of them at it.
pub const STEP_ENTITY: &str = "lines";

/// What `verify` found wrong first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The event's content no longer matches its hash.
    Edited { seq: i64 },
    /// The event matches its own hash, but the one before it was rewritten with a recomputed
    /// hash (the chain link from `seq` to `seq − 1` is broken).
    EditedRehashed { seq: i64 },
    /// Events `from..=to` are missing.
    Deleted { from: i64, to: i64 },
    /// The event at position `seq` was written as event `originally`.
    Reordered { seq: i64, originally: i64 },
    /// The current state of a row disagrees with what the audit trail says.
    StateMismatch { entity: String, detail: String },
    /// A column of a row differs from what the audit events wrote (`row`: the row's key; for
    /// `payments` and `recoveries`, the award line's id).
    Mismatch {
        table: String,
        row: String,
        column: String,
        found: String,
        expected: String,
    },
    /// A row no audit event created (inserted, or renumbered, behind the chain's back).
    Unrecorded { table: String, row: String },
    /// A row an audit event created is gone (deleted, or renumbered).
    Missing { table: String, row: String },
    /// More differences than listed.
    More { count: u64 },
}

/// `items 3` / `payments of line 3`, for messages.
fn row_name(table: &str, row: &str, en: bool) -> String {
    match (table, en) {
        ("payments" | "recoveries", true) => format!("{table} row of line {row}"),
        ("payments" | "recoveries", false) => format!("{table} 表中明细 {row} 的行"),
        (_, true) => format!("{table} row {row}"),
        (_, false) => format!("{table} 表的 {row} 行"),
    }
}

impl Problem {
    pub fn describe(&self, en: bool) -> String {
        match (self, en) {
            (Problem::Edited { seq }, false) => {
                format!("第{seq}号审计事件被修改（内容与其哈希不符）")
            }
            (Problem::Edited { seq }, true) => {
                format!("audit event #{seq} was edited (its content does not match its hash)")
            }
            (Problem::EditedRehashed { seq }, false) => format!(
                "第{}号审计事件被修改并重算了哈希（第{seq}号事件不再链接到它）",
                seq - 1
            ),
            (Problem::EditedRehashed { seq }, true) => format!(
                "audit event #{} was edited and its hash recomputed (event #{seq} no longer links to it)",
                seq - 1
            ),
            (Problem::Deleted { from, to }, false) if from == to => {
                format!("第{from}号审计事件被删除")
            }
            (Problem::Deleted { from, to }, false) => {
                format!("第{from}至{to}号审计事件被删除")
            }
            (Problem::Deleted { from, to }, true) if from == to => {
                format!("audit event #{from} was deleted")
            }
            (Problem::Deleted { from, to }, true) => {
                format!("audit events #{from} to #{to} were deleted")
            }
            (Problem::Reordered { seq, originally }, false) => {
                format!("审计事件顺序被改动：第{seq}号位置上是原第{originally}号事件")
            }
            (Problem::Reordered { seq, originally }, true) => format!(
                "audit events were reordered: position #{seq} holds what was written as event #{originally}"
            ),
            (Problem::StateMismatch { entity, detail }, false) => {
                format!("{entity} 的当前状态与审计记录不符：{detail}")
            }
            (Problem::StateMismatch { entity, detail }, true) => {
                format!("{entity}: the current state disagrees with the audit trail: {detail}")
            }
            (
                Problem::Mismatch {
                    table,
                    row,
                    column,
                    found,
                    expected,
                },
                false,
            ) => format!(
                "{}的 {column} 为 {found}，审计记录为 {expected}",
                row_name(table, row, false)
            ),
            (
                Problem::Mismatch {
                    table,
                    row,
                    column,
                    found,
                    expected,
                },
                true,
            ) => format!(
                "{}, column {column}: the table has {found}, the audit trail says {expected}",
                row_name(table, row, true)
            ),
            (Problem::Unrecorded { table, row }, false) => {
                format!("{}没有任何审计事件记录（在审计链之外写入）", row_name(table, row, false))
            }
            (Problem::Unrecorded { table, row }, true) => format!(
                "{}: no audit event wrote it (written behind the audit trail's back)",
                row_name(table, row, true)
            ),
            (Problem::Missing { table, row }, false) => {
                format!("{}已不存在，但审计事件记录了它", row_name(table, row, false))
            }
            (Problem::Missing { table, row }, true) => format!(
                "{}: an audit event wrote it, but it is gone",
                row_name(table, row, true)
            ),
            (Problem::More { count }, false) => format!("另有 {count} 处不符未列出"),
            (Problem::More { count }, true) => format!("{count} more differences not listed"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub events: i64,
    pub head_seq: i64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

const EVENT_COLS: &str = "seq, prev_hash, hash, actor, at, action, entity, before_json, after_json";

pub(crate) fn event_of(r: crate::db::Row) -> Event {
    Event {
        seq: r.i(0),
        prev_hash: r.s(1),
        hash: r.s(2),
        actor: r.s(3),
        at: r.s(4),
        action: r.s(5),
        entity: r.s(6),
        before: r.s(7),
        after: r.s(8),
    }
}

pub async fn load_events(db: &mut Db) -> Result<Vec<Event>, Error> {
    let rows = db
        .rows(
            &format!("SELECT {EVENT_COLS} FROM audit_events ORDER BY seq"),
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(event_of).collect())
}

/// The events about these entities (`item:3`, `run:…`), of `action` when given, in seq order,
/// each checked against its own hash (the links between events are `verify`'s job).
pub(crate) async fn events_of(
    db: &mut Db,
    entities: &[String],
    action: Option<&str>,
) -> Result<Vec<Event>, Error> {
    let args: Vec<Arg> = entities.iter().map(Arg::from).collect();
    let filter = match action {
        Some(a) => format!("action = '{a}' AND "),
        None => String::new(),
    };
    let table = db.events_by_entity();
    let sql = format!("SELECT {EVENT_COLS} FROM {table} WHERE {filter}entity IN (");
    let out: Vec<Event> = crate::content::rows_in(db, &sql, &args)
        .await?
        .into_iter()
        .map(event_of)
        .collect();
    own_hashes(out)
}

/// The events about these lines (through the line → event index), in seq order, each checked
/// against its own hash.
pub(crate) async fn events_of_lines(db: &mut Db, ids: &[i64]) -> Result<Vec<Event>, Error> {
    let args: Vec<Arg> = ids.iter().map(|&i| Arg::from(i)).collect();
    let table = db.line_events_as_l();
    let sql = format!("SELECT DISTINCT l.seq FROM {table} WHERE l.item_id IN (");
    let mut seqs: Vec<i64> = crate::content::rows_in(db, &sql, &args)
        .await?
        .iter()
        .map(|r| r.i(0))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let seqs: Vec<Arg> = seqs.into_iter().map(Arg::from).collect();
    let sql = format!("SELECT {EVENT_COLS} FROM audit_events WHERE seq IN (");
    let out = crate::content::rows_in(db, &sql, &seqs)
        .await?
        .into_iter()
        .map(event_of)
        .collect();
    own_hashes(out)
}

/// Events sorted by seq, refused (an integrity error) if one no longer matches its own hash.
fn own_hashes(mut out: Vec<Event>) -> Result<Vec<Event>, Error> {
    out.sort_by_key(|e| e.seq);
    if let Some(e) = out.iter().find(|e| e.recompute(e.seq) != e.hash) {
        let p = Problem::Edited { seq: e.seq };
        return Err(Error::integrity(
            format!("{}；请运行 huiqi ledger verify", p.describe(false)),
            format!("{}; run `huiqi ledger verify`", p.describe(true)),
        ));
    }
    Ok(out)
}

/// Checks the chain: consecutive seqs from 1, each hash recomputed, each link, the head.
/// Stops at the first break (everything after it is unverifiable) and classifies it.
pub fn check_chain(events: &[Event], head_seq: i64, head_hash: &str) -> Vec<Problem> {
    let by_hash: HashMap<&str, i64> = events.iter().map(|e| (e.hash.as_str(), e.seq)).collect();
    let mut prev = GENESIS.to_string();
    let mut expected = 1;
    for e in events {
        if e.seq > expected {
            // A gap; but if the row also fails its own hash under its seq, it may have been
            // renumbered: still, the earliest fact is that `expected` is missing.
            return vec![Problem::Deleted {
                from: expected,
                to: e.seq - 1,
            }];
        }
        if e.recompute(e.seq) != e.hash {
            // Intact under another position? Search nearby seqs for the one it was hashed with.
            let lo = (e.seq - 10_000).max(1);
            if let Some(orig) =
                (lo..e.seq + 10_000).find(|&o| o != e.seq && e.recompute(o) == e.hash)
            {
                if orig > e.seq && !by_hash.contains_key(e.prev_hash.as_str()) {
                    // Its predecessor is gone and later events were renumbered down.
                    return vec![Problem::Deleted {
                        from: e.seq,
                        to: orig - 1,
                    }];
                }
                return vec![Problem::Reordered {
                    seq: e.seq,
                    originally: orig,
                }];
            }
            return vec![Problem::Edited { seq: e.seq }];
        }
        if e.prev_hash != prev {
            if e.seq == 1 {
                return vec![Problem::Edited { seq: 1 }];
            }
            return vec![Problem::EditedRehashed { seq: e.seq }];
        }
        prev = e.hash.clone();
        expected = e.seq + 1;
    }
    let last = expected - 1;
    if head_seq > last {
        return vec![Problem::Deleted {
            from: last + 1,
            to: head_seq,
        }];
    }
    if head_seq != last || head_hash != prev {
        return vec![Problem::EditedRehashed { seq: last + 1 }];
    }
    vec![]
}
