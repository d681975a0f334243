//! The 免申即享 workflow: each step a checked transition of award lines, inside one write
//! transaction, all or nothing. A transition is `UPDATE … WHERE id = ? AND state = <expected>`
//! with the rows affected checked, so two processes can never both move the same line; a
//! payment is also a row in `payments`, UNIQUE per line. Before moving a line, a step replays
//! its audit events and refuses it if its row no longer holds what they say (amount, keys,
//! state, notice, batch). A step is one audit event listing its lines and the digest of what
//! each became; a payment, which carries its own reference, is one event per line.

use std::collections::{BTreeSet, HashSet};

use crate::audit::Chain;
use crate::batch::close_batches;
use crate::check::check_read;
use crate::content::{lines_digest, snap, EntKey, EntRow, ItemRow, StepOut, Target};
use crate::db::{Arg, Db, Row};
use crate::record::state_json;
use crate::settle::settle_waiting;
use crate::{args, Ctx, Error, Ledger, State};

/// Which award lines a step applies to: explicit line ids (each must be in a state the step
/// accepts), or every line in such a state that matches the filters.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub ids: Vec<i64>,
    pub firm: Option<String>,
    pub clause: Option<String>,
    pub period: Option<i64>,
    /// With no ids: select by the filters (required, so a bare command never moves everything
    /// by accident).
    pub all: bool,
    /// At most this many lines (in line order).
    pub limit: Option<i64>,
}

#[derive(Clone, Debug)]
pub enum Action {
    Approve,
    Reject {
        reason: String,
    },
    /// 公示: publish the lines in a notice open for objections and confirmation from `opens` to
    /// `closes` (RFC 3339).
    Announce {
        title: String,
        opens: String,
        closes: String,
    },
    Object {
        reason: String,
    },
    Confirm,
    Pay {
        reference: String,
    },
    Recover {
        reason: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject { .. } => "reject",
            Action::Announce { .. } => "announce",
            Action::Object { .. } => "object",
            Action::Confirm => "confirm",
            Action::Pay { .. } => "pay",
            Action::Recover { .. } => "recover",
        }
    }
    pub(crate) fn zh(&self) -> &'static str {
        match self {
            Action::Approve => "审核通过",
            Action::Reject { .. } => "驳回",
            Action::Announce { .. } => "公示",
            Action::Object { .. } => "提出异议",
            Action::Confirm => "确认",
            Action::Pay { .. } => "拨付",
            Action::Recover { .. } => "追回",
        }
    }
    /// The states a line may be in for this step.
    pub fn from(&self) -> &'static [State] {
        match self {
            Action::Approve => &[State::Computed],
            Action::Reject { .. } => &[State::Computed, State::Approved, State::Objected],
            Action::Announce { .. } => &[State::Approved, State::Objected],
            Action::Object { .. } | Action::Confirm => &[State::Announced],
            Action::Pay { .. } => &[State::Confirmed, State::Exported],
            Action::Recover { .. } => &[State::Paid],
        }
    }
    pub fn to(&self) -> State {
        match self {
            Action::Approve => State::Approved,
            Action::Reject { .. } => State::Rejected,
            Action::Announce { .. } => State::Announced,
            Action::Object { .. } => State::Objected,
            Action::Confirm => State::Confirmed,
            Action::Pay { .. } => State::Paid,
            Action::Recover { .. } => State::Recovered,
        }
    }
    fn reason(&self) -> Option<&str> {
        match self {
            Action::Reject { reason } | Action::Object { reason } | Action::Recover { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }
}

pub(crate) fn illegal(id: i64, st: State, a: &Action) -> Error {
    let need: Vec<&str> = a.from().iter().map(|s| s.zh()).collect();
    let need_en: Vec<&str> = a.from().iter().map(|s| s.as_str()).collect();
    Error::input(
        format!(
            "明细 {id} 当前为“{}”，不能{}（需要：{}）",
            st.zh(),
            a.zh(),
            need.join("、")
        ),
        format!(
            "line {id} is {}; cannot {} it (needs: {})",
            st.as_str(),
            a.name(),
            need_en.join(", ")
        ),
    )
}

/// A line as a step reads it: the row and its entitlement's row (read together, so the check
/// against the audit chain compares these very rows instead of reading them again).
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub row: ItemRow,
    pub ent: EntRow,
}

impl Line {
    pub fn id(&self) -> i64 {
        self.row.id
    }
    pub fn state(&self) -> State {
        self.row.state()
    }
    pub fn key(&self) -> &EntKey {
        &self.ent.key
    }
}

const LINE_SELECT: &str = "FROM items i JOIN entitlements e ON e.id = i.entitlement_id";

/// The columns [`line_of`] reads: `ITEM_COLS`, then the entitlement's (its id is the line's
/// `entitlement_id`).
pub(crate) const LINE_COLS: &str = "i.id, i.state, i.reason, i.entitlement_id, i.version, i.kind, i.amount_fen, i.run_id, i.original_id, i.notice_id, i.batch_id, e.firm_id, e.clause, e.period, e.tranche, e.computed_fen, e.run_id, e.last_run_id, e.target_clause, e.target_period, e.target_tranche";

/// Columns of [`LINE_COLS`].
pub(crate) const LINE_NCOLS: usize = 21;

pub(crate) fn line_of(r: &Row) -> Line {
    let row = ItemRow::of(r);
    Line {
        ent: EntRow {
            id: row.entitlement,
            key: EntKey {
                firm: r.s(11),
                clause: r.s(12),
                period: r.i(13),
                tranche: r.s(14),
            },
            computed_fen: r.i(15),
            run: r.s(16),
            last_run: r.s(17),
            target: Target {
                clause: r.os(18),
                period: r.oi(19),
                tranche: r.os(20),
            },
        },
        row,
    }
}

/// The lines `ids`, in the order given (duplicates dropped), each in one of the states `from`;
/// an error for the first unknown line or line in another state.
pub(crate) async fn lines_by_id(
    db: &mut Db,
    ids: &[i64],
    from: &[State],
    illegal: impl Fn(i64, State) -> Error,
) -> Result<Vec<Line>, Error> {
    let mut seen = HashSet::new();
    let ids: Vec<i64> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    // Read in chunks (a bulk step by ids named thousands), judged in the order given.
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MOVE_CHUNK) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        for r in db
            .rows(
                &format!(
                    "SELECT {LINE_COLS} {LINE_SELECT} WHERE i.id IN ({})",
                    list.join(", ")
                ),
                &[],
            )
            .await?
        {
            let l = line_of(&r);
            found.insert(l.id(), l);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let l = found.remove(&id).ok_or_else(|| {
            Error::input(
                format!("没有编号为 {id} 的奖励明细"),
                format!("no award line {id}"),
            )
        })?;
        if !from.contains(&l.state()) {
            return Err(illegal(id, l.state()));
        }
        out.push(l);
    }
    Ok(out)
}

/// The lines a selection names in the states `from`.
pub(crate) async fn select_lines(
    db: &mut Db,
    sel: &Selection,
    from: &[State],
    illegal: impl Fn(i64, State) -> Error,
) -> Result<Vec<Line>, Error> {
    if !sel.ids.is_empty() {
        return lines_by_id(db, &sel.ids, from, illegal).await;
    }
    if !sel.all {
        return Err(Error::input(
            "请用 --id 指定明细，或用 --all（可加 --firm/--clause/--period 过滤）选择全部符合状态的明细",
            "name lines with --id, or select every line in the right state with --all (filter with --firm/--clause/--period)",
        ));
    }
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let mut sql = format!("{LINE_SELECT} WHERE i.state IN ({})", states.join(", "));
    let mut args: Vec<Arg> = vec![];
    if let Some(f) = &sel.firm {
        args.push(f.into());
        sql.push_str(&format!(" AND e.firm_id = ${}", args.len()));
    }
    if let Some(c) = &sel.clause {
        args.push(c.into());
        sql.push_str(&format!(" AND e.clause = ${}", args.len()));
    }
    if let Some(p) = sel.period {
        args.push(p.into());
        sql.push_str(&format!(" AND e.period = ${}", args.len()));
    }
    // In chunks of lines after the last one read (a chunk's packed JSON stays a few MB),
    // moved into one vector at the end: appending each chunk regrew (copied) every line read
    // before it into fresh pages.
    let mut chunks: Vec<Vec<Line>> = vec![];
    let mut last: Option<i64> = None;
    let cols: Vec<&str> = LINE_COLS.split(", ").collect();
    let mut left = sel.limit.map(|n| n.max(0));
    loop {
        let n = left.map_or(SELECT_CHUNK, |l| l.min(SELECT_CHUNK));
        if n == 0 {
            break;
        }
        let after = last.map_or(String::new(), |id| format!(" AND i.id > {id}"));
        let rest = format!("{sql}{after} ORDER BY i.id LIMIT {n}");
        let mut chunk: Vec<Line> = db
            .rows_packed(&cols, &rest, &args)
            .await?
            .iter()
            .map(line_of)
            .collect();
        chunk.sort_by_key(Line::id);
        let got = chunk.len() as i64;
        last = chunk.last().map(Line::id).or(last);
        chunks.push(chunk);
        left = left.map(|l| l - got);
        if got < n {
            break;
        }
    }
    let mut out = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for chunk in chunks {
        out.extend(chunk);
    }
    Ok(out)
}

/// Lines a bulk selection reads per statement.
const SELECT_CHUNK: i64 = 50_000;

/// The line as it is after a step that adds `extra` to its event: a notice or batch the step
/// names replaces the row's own.
fn after_step(l: &Line, extra: &serde_json::Value) -> ItemRow {
    let mut after_row = l.row.clone();
    if let Some(n) = extra.get("notice").and_then(serde_json::Value::as_i64) {
        after_row.notice = Some(n);
    }
    if let Some(b) = extra.get("batch") {
        after_row.batch = b.as_i64();
    }
    after_row
}

/// The audit event of a line moved to `to`: the step's reason and `extra`, and the whole line
/// as it is after the step.
#[allow(clippy::too_many_arguments)]
fn push_moved(
    chain: &mut Chain,
    ctx: &Ctx,
    l: &Line,
    after_row: &ItemRow,
    action: &str,
    to: State,
    reason: Option<&str>,
    extra: serde_json::Value,
) -> Result<(), Error> {
    let mut after = serde_json::json!({"state": to.as_str()});
    if let Some(r) = reason {
        after["reason"] = r.into();
    }
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            after[k] = v;
        }
    }
    after["line"] = serde_json::to_value(snap(after_row, l.key())).map_err(Error::db)?;
    chain.push(
        ctx,
        action,
        &format!("item:{}", l.id()),
        &state_json(l.state(), None),
        &after.to_string(),
    );
    Ok(())
}

/// Moves one line from its state to `to`, or fails if another writer moved it first; the
/// event carries the line as it is after the step, and `extra`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn transition(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    l: &Line,
    action: &str,
    to: State,
    reason: Option<&str>,
    extra: serde_json::Value,
    on_race: impl Fn(State) -> Error,
) -> Result<(), Error> {
    let after_row = after_step(l, &extra);
    let n = db
        .exec(
            "UPDATE items SET state = $1, updated_at = $2, reason = COALESCE($3, reason), notice_id = $4, batch_id = $5 WHERE id = $6 AND state = $7",
            &args![to.as_str(), &ctx.at, reason.map(str::to_string), after_row.notice, after_row.batch, l.id(), l.state().as_str()],
        )
        .await?;
    if n != 1 {
        let now = db
            .row("SELECT state FROM items WHERE id = $1", &args![l.id()])
            .await?
            .and_then(|r| State::parse(&r.s(0)))
            .unwrap_or(l.state());
        return Err(on_race(now));
    }
    push_moved(chain, ctx, l, &after_row, action, to, reason, extra)
}

/// Line ids one bulk statement names (written into it as integers, so no backend's limit on
/// bound parameters applies).
const MOVE_CHUNK: usize = 2000;

/// What a bulk step does to every line it moves, besides moving it to `to`.
pub(crate) struct Step<'a> {
    pub action: &'a str,
    pub to: State,
    /// Written into each line's `reason` (reject, object, recover) …
    pub reason: Option<&'a str>,
    /// … or only said in the event (why a batch came back).
    pub said: Option<&'a str>,
    /// The notice the lines are published in (announce).
    pub notice: Option<i64>,
    /// The lines' batch after the step: export `Some(Some(b))`, return `Some(None)`.
    pub batch: Option<Option<i64>>,
    /// (recovery row, 分) of each line, in order (recover).
    pub recoveries: Vec<(i64, i64)>,
}

impl Step<'_> {
    fn after(&self, l: &Line) -> ItemRow {
        let mut r = l.row.clone();
        if let Some(n) = self.notice {
            r.notice = Some(n);
        }
        if let Some(b) = self.batch {
            r.batch = b;
        }
        r
    }
}

/// Moves many lines to `step.to`, each from the state it was read in: one
/// `UPDATE … WHERE state = ? AND id IN (…)` per chunk of lines that leave the same state, and
/// one audit event for the whole step, listing the lines (entity `lines`, indexed under each
/// line). A chunk that moves fewer rows than it names lost a race with another writer: the
/// first such line is named and the caller's transaction rolls back whole.
pub(crate) async fn transition_all(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    lines: &[Line],
    step: &Step<'_>,
    on_race: impl Fn(i64, State) -> Error,
) -> Result<(), Error> {
    // Lines grouped by the state they leave and whether their notice or batch changes, in
    // first-seen order. A column that does not change is not set, so its index (and foreign
    // key) is not touched.
    type Group = ((State, bool, bool), Vec<i64>);
    let mut groups: Vec<Group> = vec![];
    for l in lines {
        let k = (
            l.state(),
            step.notice.is_some_and(|n| l.row.notice != Some(n)),
            step.batch.is_some_and(|b| l.row.batch != b),
        );
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, ids)) => ids.push(l.id()),
            None => groups.push((k, vec![l.id()])),
        }
    }
    for ((from, set_notice, set_batch), ids) in &groups {
        let mut set = String::from("state = $1, updated_at = $2");
        let mut a: Vec<Arg> = args![step.to.as_str(), &ctx.at, from.as_str()].to_vec();
        for (col, yes, v) in [
            (
                "reason",
                step.reason.is_some(),
                Arg::from(step.reason.map(str::to_string)),
            ),
            ("notice_id", *set_notice, Arg::from(step.notice)),
            ("batch_id", *set_batch, Arg::from(step.batch.flatten())),
        ] {
            if yes {
                a.push(v);
                set.push_str(&format!(", {col} = ${}", a.len()));
            }
        }
        for chunk in ids.chunks(MOVE_CHUNK) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let n = db
                .exec(
                    &format!(
                        "UPDATE items SET {set} WHERE state = $3 AND id IN ({})",
                        list.join(", ")
                    ),
                    &a,
                )
                .await?;
            if n as usize != chunk.len() {
                // Someone moved a line first (the statement moved only the others): name it.
                let rows = db
                    .rows(
                        &format!(
                            "SELECT id, state FROM items WHERE id IN ({}) AND state <> $1 ORDER BY id",
                            list.join(", ")
                        ),
                        &args![step.to.as_str()],
                    )
                    .await?;
                let (id, now) = rows
                    .first()
                    .map(|r| (r.i(0), State::parse(&r.s(1)).unwrap_or(*from)))
                    .unwrap_or((chunk[0], *from));
                return Err(on_race(id, now));
            }
        }
    }
    let mut from = std::collections::BTreeMap::new();
    for l in lines {
        *from.entry(l.state().as_str()).or_insert(0u64) += 1;
    }
    let ids: Vec<i64> = lines.iter().map(Line::id).collect();
    let after = StepOut {
        state: step.to.as_str(),
        reason: step.reason.or(step.said),
        notice: step.notice,
        batch: step.batch,
        lines: &ids,
        recoveries: &step.recoveries,
        lines_sha256: lines_digest(lines.iter().map(|l| snap(&step.after(l), l.key()))),
    };
    chain.push_lines(
        ctx,
        step.action,
        &serde_json::json!({ "from": from }).to_string(),
        &serde_json::to_string(&after).map_err(Error::db)?,
        ids.iter().copied(),
    );
    Ok(())
}

/// Notice windows read once per step: (opens, closes) by notice id.
type Windows = std::collections::HashMap<i64, (String, String)>;

async fn window_check(
    db: &mut Db,
    windows: &mut Windows,
    ctx: &Ctx,
    l: &Line,
    a: &Action,
) -> Result<(), Error> {
    let Some(nid) = l.row.notice else {
        return Ok(());
    };
    if let std::collections::hash_map::Entry::Vacant(v) = windows.entry(nid) {
        let r = db
            .row(
                "SELECT opens, closes FROM notices WHERE id = $1",
                &args![nid],
            )
            .await?
            .ok_or_else(|| Error::db(format!("notice {nid} is missing")))?;
        v.insert((r.s(0), r.s(1)));
    }
    let (opens, closes) = windows[&nid].clone();
    if ctx.at < opens || ctx.at > closes {
        return Err(Error::input(
            format!(
                "明细 {} 的公示期为 {opens} 至 {closes}，{} 不在公示期内，不能{}",
                l.id(),
                ctx.at,
                a.zh()
            ),
            format!(
                "line {}: the notice window is {opens} to {closes}; {} is outside it, so it cannot be {}",
                l.id(),
                ctx.at,
                match a {
                    Action::Confirm => "confirmed",
                    _ => "objected to",
                }
            ),
        ));
    }
    Ok(())
}

async fn new_notice(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    (title, opens, closes): (&str, &str, &str),
    lines: usize,
) -> Result<i64, Error> {
    if opens >= closes {
        return Err(Error::input(
            format!("公示期的开始 {opens} 不早于结束 {closes}"),
            format!("the notice window opens at {opens}, not before it closes at {closes}"),
        ));
    }
    let id = db
        .int("SELECT COALESCE(MAX(id), 0) FROM notices", &[])
        .await?
        + 1;
    db.exec(
        "INSERT INTO notices (id, title, opens, closes, created_at, actor) VALUES ($1, $2, $3, $4, $5, $6)",
        &args![id, title, opens, closes, &ctx.at, &ctx.actor],
    )
    .await?;
    chain.push(
        ctx,
        "notice",
        &format!("notice:{id}"),
        "{}",
        &serde_json::json!({"title": title, "opens": opens, "closes": closes, "lines": lines})
            .to_string(),
    );
    Ok(id)
}

async fn apply_tx(db: &mut Db, ctx: &Ctx, sel: &Selection, a: &Action) -> Result<Vec<i64>, Error> {
    if let Some(r) = a.reason() {
        if r.trim().is_empty() {
            return Err(Error::input(
                "需要说明理由（--reason）",
                "a reason is required (--reason)",
            ));
        }
    }
    let lines = select_lines(db, sel, a.from(), |id, st| illegal(id, st, a)).await?;
    if lines.is_empty() {
        return Ok(vec![]);
    }
    if matches!(a, Action::Pay { .. }) && lines.len() != 1 {
        return Err(Error::input(
            "一个支付流水号只能拨付一条明细；批量拨付请用 --file（支付结果文件）",
            "one payment reference pays one line; pay many with --file (a payment result file)",
        ));
    }
    let ids: Vec<i64> = lines.iter().map(Line::id).collect();
    check_read(db, &lines).await?;
    let mut chain = Chain::open(db).await?;
    let mut notice = None;
    if let Action::Announce {
        title,
        opens,
        closes,
    } = a
    {
        notice = Some(new_notice(db, &mut chain, ctx, (title, opens, closes), lines.len()).await?);
    }
    if let Action::Pay { reference } = a {
        // One line (checked above).
        for l in &lines {
            let id = next_payment(db).await?;
            pay_line(db, &mut chain, ctx, l, reference, id, |st| {
                illegal(l.id(), st, a)
            })
            .await?;
        }
    } else {
        let mut windows = Windows::new();
        let mut step = Step {
            action: a.name(),
            to: a.to(),
            reason: a.reason(),
            said: None,
            notice,
            batch: None,
            recoveries: vec![],
        };
        match a {
            Action::Confirm | Action::Object { .. } => {
                for l in &lines {
                    window_check(db, &mut windows, ctx, l, a).await?;
                }
            }
            Action::Recover { reason } => {
                let first = db
                    .int("SELECT COALESCE(MAX(id), 0) FROM recoveries", &[])
                    .await?
                    + 1;
                step.recoveries = (first..)
                    .zip(&lines)
                    .map(|(id, l)| (id, l.row.amount_fen))
                    .collect();
                db.bulk_insert(
                    "recoveries",
                    &["id", "item_id", "amount_fen", "reason", "at", "actor"],
                    step.recoveries.iter().zip(&lines).map(|(&(id, fen), l)| {
                        args![id, l.id(), fen, reason.as_str(), &ctx.at, &ctx.actor]
                    }),
                )
                .await?;
            }
            _ => {}
        }
        transition_all(db, &mut chain, ctx, &lines, &step, |id, st| {
            illegal(id, st, a)
        })
        .await?;
    }
    if matches!(a, Action::Pay { .. }) {
        after_payments(db, &mut chain, ctx, &lines).await?;
    }
    chain.flush(db).await?;
    Ok(ids)
}

pub(crate) async fn next_payment(db: &mut Db) -> Result<i64, Error> {
    Ok(db
        .int("SELECT COALESCE(MAX(id), 0) FROM payments", &[])
        .await?
        + 1)
}

/// Pays one line (confirmed, or exported in a batch) its amount under `reference`: a
/// `payments` row and the transition, in the caller's transaction.
pub(crate) async fn pay_line(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    l: &Line,
    reference: &str,
    id: i64,
    on_race: impl Fn(State) -> Error,
) -> Result<(), Error> {
    if reference.trim().is_empty() {
        return Err(Error::input(
            "需要支付流水号（--reference）",
            "a payment reference is required (--reference)",
        ));
    }
    if let Some(r) = db
        .row(
            "SELECT item_id FROM payments WHERE reference = $1",
            &args![reference],
        )
        .await?
    {
        return Err(Error::input(
            format!("支付流水号 {reference} 已用于明细 {}", r.i(0)),
            format!("payment reference {reference} already paid line {}", r.i(0)),
        ));
    }
    let amount = l.row.amount_fen;
    db.exec(
        "INSERT INTO payments (id, item_id, reference, amount_fen, paid_at, actor, batch_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &args![id, l.id(), reference, amount, &ctx.at, &ctx.actor, l.row.batch],
    )
    .await?;
    let extra = serde_json::json!({"reference": reference, "amount_fen": amount, "payment": id, "batch": l.row.batch});
    transition(db, chain, ctx, l, "pay", State::Paid, None, extra, on_race).await
}

/// After lines were paid: differences that waited for them become lines; batches with no line
/// left to pay are closed. Returns the new lines.
pub(crate) async fn after_payments(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    paid: &[Line],
) -> Result<u64, Error> {
    let rows: Vec<ItemRow> = paid.iter().map(|l| l.row.clone()).collect();
    let w = settle_waiting(db, chain, ctx, &rows).await?;
    let batches: BTreeSet<i64> = rows.iter().filter_map(|r| r.batch).collect();
    close_batches(db, chain, ctx, &batches).await?;
    Ok(w.new_lines)
}

impl Ledger {
    /// Applies one workflow step to the selected lines, all or nothing; returns the line ids.
    pub async fn apply(
        &mut self,
        ctx: &Ctx,
        sel: &Selection,
        a: &Action,
    ) -> Result<Vec<i64>, Error> {
        self.write(async |db: &mut Db| apply_tx(db, ctx, sel, a).await)
            .await
    }
}
