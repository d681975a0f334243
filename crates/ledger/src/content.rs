//! What the audit chain commits to: the content of every row an event creates or changes, in the
//! form the events carry it, and the rows as the tables hold them (read for comparison).
//!
//! * A `record` event lists the firms it named, and each new entitlement with its award line
//!   (ids, credit code, clause, period, tranche, amount) — see [`RecordAfter`].
//! * Every event about one line carries the whole line after the event ([`LineSnap`]): its
//!   entitlement and key, version, kind, amount, run, original line, notice and batch.
//! * A bulk step is one event about many lines ([`StepOut`]): the lines' ids, what each became,
//!   and the SHA-256 of their [`LineSnap`]s after the step ([`lines_digest`]).
//! * A `refigure` event carries the entitlement's key and new figure.
//! * A clawback's entitlement (a recovery a rule computed) also names its target, the earlier
//!   award it recovers from: its `record` key is `[rule, tranche, target clause, target period,
//!   target tranche]` instead of `[clause, tranche]`.

use serde::{Deserialize, Serialize};

use crate::db::{Arg, Db, Row};
use crate::{Error, State};

/// An award line as the chain commits to it (its state travels beside it in the event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSnap {
    pub entitlement: i64,
    pub firm: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub version: i64,
    pub kind: String,
    pub amount_fen: i64,
    pub run: String,
    pub original: Option<i64>,
    pub notice: Option<i64>,
    pub batch: Option<i64>,
}

/// An entitlement's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntKey {
    pub firm: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
}

/// The earlier award a clawback's entitlement recovers from (all `None` on an award's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub clause: Option<String>,
    pub period: Option<i64>,
    pub tranche: Option<String>,
}

impl Target {
    pub fn of(clause: &str, period: i64, tranche: &str) -> Target {
        Target {
            clause: Some(clause.to_string()),
            period: Some(period),
            tranche: Some(tranche.to_string()),
        }
    }
    pub fn is_some(&self) -> bool {
        self.clause.is_some() || self.period.is_some() || self.tranche.is_some()
    }
}

/// A key of a `record` event: `[clause, tranche]` of an award, `[rule, tranche, target clause,
/// target period, target tranche]` of a clawback (JSON arrays of 2 or 5 elements).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub(crate) enum KeyOut<'a> {
    Award(&'a str, &'a str),
    Clawback(&'a str, String, &'a str, i64, &'a str),
}

/// A key of a `record` event, as read back.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyIn {
    Award(String, String),
    Clawback(String, String, String, i64, String),
}

/// The `after` of a `record` event. The first ten fields are those of ledgers recorded before
/// the content was committed (`new_lines_sha256` alone stood for the lines then).
#[derive(Serialize)]
pub(crate) struct RecordAfter<'a> {
    pub period: i64,
    pub policy_hash: &'a str,
    pub snapshot_hash: &'a str,
    pub engine_version: &'a str,
    pub results_sha256: &'a str,
    pub new: u64,
    pub new_fen: i64,
    pub unchanged: u64,
    pub changed: u64,
    pub new_lines_sha256: String,
    pub policy_name: &'a str,
    pub manifest_sha256: String,
    /// (credit code, name) of the firms this run named first.
    pub firms: Vec<(&'a str, &'a str)>,
    /// Keys ([`KeyOut`]), indexed by `lines`.
    pub keys: Vec<KeyOut<'a>>,
    /// (line id, entitlement id, credit code, index into `keys`, 分) of each new entitlement
    /// and its first line (version 0, state `computed`, in the event's period; kind `award`, or
    /// `recovery` for a negative figure — a clawback's).
    pub lines: Vec<(i64, i64, &'a str, usize, i64)>,
    /// New clawback entitlements and their figures (negative); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub new_clawbacks: u64,
    #[serde(skip_serializing_if = "is_zero_i")]
    pub new_clawback_fen: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_i(v: &i64) -> bool {
    *v == 0
}

/// The kind of an entitlement's first line: a negative figure (a clawback's) is a recovery even
/// though nothing was paid on this entitlement.
pub(crate) fn first_kind(fen: i64) -> &'static str {
    if fen < 0 {
        "recovery"
    } else {
        "award"
    }
}

/// A bulk step's event (`after_json` of an event whose entity is [`crate::audit::STEP_ENTITY`]):
/// what every line it lists became. One event per step, not one per line: a step over half a
/// million lines wrote half a million events, 21% of its time.
#[derive(Serialize)]
pub(crate) struct StepOut<'a> {
    pub state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<i64>,
    /// `Some(None)` (written as `null`): the lines left their batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Option<i64>>,
    pub lines: &'a [i64],
    /// (recovery row, 分) of each line, in order (recover).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub recoveries: &'a [(i64, i64)],
    /// [`lines_digest`] of the lines after the step, in order.
    pub lines_sha256: String,
}

/// [`StepOut`] as read back.
#[derive(Deserialize)]
pub(crate) struct StepIn {
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub notice: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub batch: Option<Option<i64>>,
    pub lines: Vec<i64>,
    #[serde(default)]
    pub recoveries: Vec<(i64, i64)>,
    pub lines_sha256: String,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// SHA-256 of lines, each as its [`LineSnap`] JSON and a newline.
pub(crate) fn lines_digest(snaps: impl Iterator<Item = LineSnap>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in snaps {
        // A LineSnap of strings and integers always serialises.
        h.update(serde_json::to_string(&s).unwrap_or_default().as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

/// A `record` event's `after`, as read back (content fields absent on older ledgers).
#[derive(Deserialize)]
pub(crate) struct RecordIn {
    pub period: i64,
    #[serde(default)]
    pub policy_hash: String,
    #[serde(default)]
    pub snapshot_hash: String,
    #[serde(default)]
    pub engine_version: String,
    #[serde(default)]
    pub results_sha256: String,
    #[serde(default)]
    pub new_lines_sha256: String,
    pub policy_name: Option<String>,
    pub manifest_sha256: Option<String>,
    pub firms: Option<Vec<(String, String)>>,
    pub keys: Option<Vec<KeyIn>>,
    pub lines: Option<Vec<RecordLine>>,
}

/// A new line as a `record` event lists it: (line id, entitlement id, credit code, index into
/// `keys`, 分).
pub(crate) type RecordLine = (i64, i64, String, usize, i64);

/// The line digest of a `record` event: one text line per new award line, in id order.
pub(crate) fn line_digest_row(item: i64, ent: i64, k: &EntKey, fen: i64) -> String {
    format!(
        "{item},{ent},{},{},{},{},{fen}\n",
        k.firm, k.clause, k.period, k.tranche
    )
}

/// An `items` row, with its entitlement's key (the columns the chain commits to).
#[derive(Clone, Debug)]
pub struct ItemRow {
    pub id: i64,
    pub state: String,
    pub reason: Option<String>,
    pub entitlement: i64,
    pub version: i64,
    pub kind: String,
    pub amount_fen: i64,
    pub run: String,
    pub original: Option<i64>,
    pub notice: Option<i64>,
    pub batch: Option<i64>,
}

pub(crate) const ITEM_COLS: &str = "i.id, i.state, i.reason, i.entitlement_id, i.version, i.kind, i.amount_fen, i.run_id, i.original_id, i.notice_id, i.batch_id";

impl ItemRow {
    pub(crate) fn of(r: &Row) -> ItemRow {
        ItemRow {
            id: r.i(0),
            state: r.s(1),
            reason: r.os(2),
            entitlement: r.i(3),
            version: r.i(4),
            kind: r.s(5),
            amount_fen: r.i(6),
            run: r.s(7),
            original: r.oi(8),
            notice: r.oi(9),
            batch: r.oi(10),
        }
    }
    pub fn state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::Superseded)
    }
}

/// An `entitlements` row.
#[derive(Clone, Debug)]
pub struct EntRow {
    pub id: i64,
    pub key: EntKey,
    pub computed_fen: i64,
    pub run: String,
    pub last_run: String,
    /// A clawback's target (the award it recovers from).
    pub target: Target,
}

pub(crate) const ENT_COLS: &str = "e.id, e.firm_id, e.clause, e.period, e.tranche, e.computed_fen, e.run_id, e.last_run_id, e.target_clause, e.target_period, e.target_tranche";

impl EntRow {
    pub(crate) fn of(r: &Row) -> EntRow {
        EntRow {
            id: r.i(0),
            key: EntKey {
                firm: r.s(1),
                clause: r.s(2),
                period: r.i(3),
                tranche: r.s(4),
            },
            computed_fen: r.i(5),
            run: r.s(6),
            last_run: r.s(7),
            target: Target {
                clause: r.os(8),
                period: r.oi(9),
                tranche: r.os(10),
            },
        }
    }
}

/// The line as an event carries it: the item row and its entitlement's key.
pub(crate) fn snap(i: &ItemRow, k: &EntKey) -> LineSnap {
    LineSnap {
        entitlement: i.entitlement,
        firm: k.firm.clone(),
        clause: k.clause.clone(),
        period: k.period,
        tranche: k.tranche.clone(),
        version: i.version,
        kind: i.kind.clone(),
        amount_fen: i.amount_fen,
        run: i.run.clone(),
        original: i.original,
        notice: i.notice,
        batch: i.batch,
    }
}

/// Rows of `sql` (which ends in `IN (`) for each chunk of `ids`, the placeholders appended.
/// Values that are plain keys (integers, `item:3`, `run:…` of letters, digits, `-` and `_`) are
/// written into the statement, 2,000 at a time, instead: SQLite looks a bound parameter up by a
/// linear search when binding it and re-plans a statement whose parameters its statistics may
/// judge differently, so hundreds of parameters per statement cost more than the lookups.
pub(crate) async fn rows_in(db: &mut Db, sql: &str, ids: &[Arg]) -> Result<Vec<Row>, Error> {
    let mut out = vec![];
    if let Some(lits) = ids.iter().map(literal).collect::<Option<Vec<String>>>() {
        for chunk in lits.chunks(2000) {
            out.extend(db.rows(&format!("{sql}{})", chunk.join(", ")), &[]).await?);
        }
        return Ok(out);
    }
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|k| format!("${k}")).collect();
        out.extend(
            db.rows(&format!("{sql}{})", marks.join(", ")), chunk)
                .await?,
        );
    }
    Ok(out)
}

/// The SQL literal of a plain key, if it is one.
fn literal(a: &Arg) -> Option<String> {
    match a {
        Arg::I(Some(v)) => Some(v.to_string()),
        Arg::S(Some(s))
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_')) =>
        {
            Some(format!("'{s}'"))
        }
        _ => None,
    }
}

pub(crate) async fn item_rows(db: &mut Db, ids: &[i64]) -> Result<Vec<ItemRow>, Error> {
    let args: Vec<Arg> = ids.iter().map(|&i| Arg::from(i)).collect();
    let rows = rows_in(
        db,
        &format!("SELECT {ITEM_COLS} FROM items i WHERE i.id IN ("),
        &args,
    )
    .await?;
    let mut out: Vec<ItemRow> = rows.iter().map(ItemRow::of).collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

pub(crate) async fn ent_rows(db: &mut Db, ids: &[i64]) -> Result<Vec<EntRow>, Error> {
    let args: Vec<Arg> = ids.iter().map(|&i| Arg::from(i)).collect();
    let rows = rows_in(
        db,
        &format!("SELECT {ENT_COLS} FROM entitlements e WHERE e.id IN ("),
        &args,
    )
    .await?;
    let mut out: Vec<EntRow> = rows.iter().map(EntRow::of).collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}
