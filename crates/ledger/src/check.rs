//! The tables against the audit chain: `verify` replays every event and compares every row; a
//! workflow step replays the events of the lines it moves and refuses a line whose row differs.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::audit::{
    check_chain, events_of, events_of_lines, load_events, Event, Problem, VerifyReport,
};
use crate::content::{ent_rows, item_rows, line_digest_row, EntKey, EntRow, ItemRow};
use crate::db::Db;
use crate::replay::{LegacyRun, Model};
use crate::workflow::Line;
use crate::{args, Error};

/// At most this many differences are listed (then a count of the rest).
const MAX_PROBLEMS: usize = 1000;

/// Collects differences, naming the table, row and column.
#[derive(Default)]
struct Diff {
    problems: Vec<Problem>,
    more: u64,
}

impl Diff {
    fn push(&mut self, p: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.more += 1;
        }
    }

    fn col<T: PartialEq + std::fmt::Debug>(
        &mut self,
        table: &str,
        row: &str,
        column: &str,
        found: &T,
        expected: &T,
    ) {
        if found != expected {
            self.push(Problem::Mismatch {
                table: table.into(),
                row: row.into(),
                column: column.into(),
                found: show(found),
                expected: show(expected),
            });
        }
    }

    fn finish(mut self) -> Vec<Problem> {
        if self.more > 0 {
            self.problems.push(Problem::More { count: self.more });
        }
        self.problems
    }
}

/// `Some(3)` → `3`, `None` → `NULL`, `"a"` → `a`.
fn show<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    let s = match s.strip_prefix("Some(").and_then(|x| x.strip_suffix(')')) {
        Some(inner) => inner.to_string(),
        None if s == "None" => "NULL".into(),
        None => s,
    };
    s.trim_matches('"').to_string()
}

fn compare_item(d: &mut Diff, r: &ItemRow, m: &Model) {
    let row = r.id.to_string();
    let Some(it) = m.items.get(&r.id) else {
        d.push(Problem::Unrecorded {
            table: "items".into(),
            row,
        });
        return;
    };
    if r.state != it.state {
        d.push(Problem::StateMismatch {
            entity: format!("item:{}", r.id),
            detail: format!(
                "items row {}, column state: the table has {}, the audit trail says {}",
                r.id, r.state, it.state
            ),
        });
    }
    let t = "items";
    d.col(t, &row, "entitlement_id", &r.entitlement, &it.ent);
    if let Some(v) = it.version {
        d.col(t, &row, "version", &r.version, &v);
    }
    d.col(t, &row, "kind", &r.kind, &it.kind);
    d.col(t, &row, "amount_fen", &r.amount_fen, &it.amount);
    d.col(t, &row, "run_id", &r.run, &it.run);
    d.col(t, &row, "original_id", &r.original, &it.original);
    d.col(t, &row, "notice_id", &r.notice, &it.notice);
    d.col(t, &row, "batch_id", &r.batch, &it.batch);
    d.col(t, &row, "reason", &r.reason, &it.reason);
}

fn compare_ent(d: &mut Diff, r: &EntRow, m: &Model) {
    let row = r.id.to_string();
    let Some(e) = m.ents.get(&r.id) else {
        d.push(Problem::Unrecorded {
            table: "entitlements".into(),
            row,
        });
        return;
    };
    let t = "entitlements";
    d.col(t, &row, "firm_id", &r.key.firm, &e.key.firm);
    d.col(t, &row, "clause", &r.key.clause, &e.key.clause);
    d.col(t, &row, "period", &r.key.period, &e.key.period);
    d.col(t, &row, "tranche", &r.key.tranche, &e.key.tranche);
    d.col(t, &row, "computed_fen", &r.computed_fen, &e.computed);
    d.col(t, &row, "run_id", &r.run, &e.run);
    d.col(t, &row, "last_run_id", &r.last_run, &e.last_run);
    d.col(t, &row, "target_clause", &r.target.clause, &e.target.clause);
    d.col(t, &row, "target_period", &r.target.period, &e.target.period);
    d.col(
        t,
        &row,
        "target_tranche",
        &r.target.tranche,
        &e.target.tranche,
    );
}

/// Every row of `sql` compared by `each`; rows the model holds that the table lacks are missing.
fn missing<K: std::fmt::Display + Eq + std::hash::Hash>(
    d: &mut Diff,
    table: &str,
    model: impl Iterator<Item = K>,
    seen: &HashSet<K>,
) {
    let mut gone: Vec<String> = model
        .filter(|k| !seen.contains(k))
        .map(|k| k.to_string())
        .collect();
    gone.sort();
    for row in gone {
        d.push(Problem::Missing {
            table: table.into(),
            row,
        });
    }
}

/// Separates the columns of a row's signature; `NULL_MARK` stands for NULL and `SOME_MARK`
/// starts any other value of a column that may be NULL. A row whose model holds one of them
/// is compared column by column, so equal signatures always mean equal columns.
const SEP: &str = "\u{1f}";
const NULL_MARK: &str = "\u{1e}";
const SOME_MARK: &str = "\u{1d}";

fn has_mark(v: &str) -> bool {
    v.contains(['\u{1d}', '\u{1e}', '\u{1f}'])
}

/// `SELECT <key>, <every column as one text>` — one value per row instead of one per column
/// (decoding values one by one made a full `verify` of a large ledger several times slower).
/// `cols`: (column, is an integer, may be NULL).
fn signature_sql(key: &str, cols: &[(&str, bool, bool)], from: &str) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|&(c, int, null)| {
            let v = if int {
                format!("CAST({c} AS TEXT)")
            } else {
                c.to_string()
            };
            if null {
                format!("COALESCE('{SOME_MARK}' || {v}, '{NULL_MARK}')")
            } else {
                v
            }
        })
        .collect();
    format!(
        "SELECT {key}, {} {from} ORDER BY {key}",
        parts.join(&format!(" || '{SEP}' || "))
    )
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(
        || NULL_MARK.to_string(),
        |x| format!("{SOME_MARK}{}", x.to_string()),
    )
}

const ITEM_SIG: [(&str, bool, bool); 10] = [
    ("i.state", false, false),
    ("i.entitlement_id", true, false),
    ("i.version", true, false),
    ("i.kind", false, false),
    ("i.amount_fen", true, false),
    ("i.run_id", false, false),
    ("i.original_id", true, true),
    ("i.notice_id", true, true),
    ("i.batch_id", true, true),
    ("i.reason", false, true),
];

fn item_signature(it: &crate::replay::ItemM) -> Option<String> {
    let texts = [&it.state, &it.kind, &it.run];
    if texts.iter().any(|t| has_mark(t)) || it.reason.as_deref().is_some_and(has_mark) {
        return None;
    }
    Some(
        [
            it.state.clone(),
            it.ent.to_string(),
            it.version?.to_string(),
            it.kind.clone(),
            it.amount.to_string(),
            it.run.clone(),
            opt(&it.original),
            opt(&it.notice),
            opt(&it.batch),
            opt(&it.reason),
        ]
        .join(SEP),
    )
}

const ENT_SIG: [(&str, bool, bool); 10] = [
    ("e.firm_id", false, false),
    ("e.clause", false, false),
    ("e.period", true, false),
    ("e.tranche", false, false),
    ("e.computed_fen", true, false),
    ("e.run_id", false, false),
    ("e.last_run_id", false, false),
    ("e.target_clause", false, true),
    ("e.target_period", true, true),
    ("e.target_tranche", false, true),
];

fn ent_signature(e: &crate::replay::EntM) -> Option<String> {
    let k = &e.key;
    let t = &e.target;
    if [&k.firm, &k.clause, &k.tranche, &e.run, &e.last_run]
        .iter()
        .any(|t| has_mark(t))
        || [&t.clause, &t.tranche]
            .iter()
            .any(|x| x.as_deref().is_some_and(has_mark))
    {
        return None;
    }
    Some(
        [
            e.key.firm.clone(),
            e.key.clause.clone(),
            e.key.period.to_string(),
            e.key.tranche.clone(),
            e.computed.to_string(),
            e.run.clone(),
            e.last_run.clone(),
            opt(&t.clause),
            opt(&t.period),
            opt(&t.tranche),
        ]
        .join(SEP),
    )
}

/// Every line and entitlement against the replay: each row's signature first, then the rows
/// that differ column by column (to name the column).
async fn compare_lines(d: &mut Diff, db: &mut Db, m: &Model) -> Result<(), Error> {
    let (mut seen, mut differ) = (HashSet::new(), vec![]);
    for r in db
        .rows(&signature_sql("i.id", &ITEM_SIG, "FROM items i"), &[])
        .await?
    {
        let id = r.i(0);
        seen.insert(id);
        if m.items.get(&id).and_then(item_signature) != r.os(1) {
            differ.push(id);
        }
    }
    for r in item_rows(db, &differ).await? {
        compare_item(d, &r, m);
    }
    missing(d, "items", m.items.keys().copied(), &seen);
    let (mut seen, mut differ) = (HashSet::new(), vec![]);
    for r in db
        .rows(&signature_sql("e.id", &ENT_SIG, "FROM entitlements e"), &[])
        .await?
    {
        let id = r.i(0);
        seen.insert(id);
        if m.ents.get(&id).and_then(ent_signature) != r.os(1) {
            differ.push(id);
        }
    }
    for r in ent_rows(db, &differ).await? {
        compare_ent(d, &r, m);
    }
    missing(d, "entitlements", m.ents.keys().copied(), &seen);
    Ok(())
}

async fn compare_money(d: &mut Diff, db: &mut Db, m: &Model) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for r in db
        .rows(
            "SELECT item_id, id, reference, amount_fen, batch_id, paid_at, actor FROM payments ORDER BY item_id",
            &[],
        )
        .await?
    {
        let (item, row) = (r.i(0), r.i(0).to_string());
        seen.insert(item);
        let Some(p) = m.payments.get(&item) else {
            d.push(Problem::Unrecorded {
                table: "payments".into(),
                row,
            });
            continue;
        };
        let t = "payments";
        if let Some(id) = p.id {
            d.col(t, &row, "id", &r.i(1), &id);
        }
        d.col(t, &row, "reference", &r.s(2), &p.reference);
        d.col(t, &row, "amount_fen", &r.i(3), &p.amount);
        if let Some(b) = p.batch {
            d.col(t, &row, "batch_id", &r.oi(4), &b);
        }
        d.col(t, &row, "paid_at", &r.s(5), &p.at);
        d.col(t, &row, "actor", &r.s(6), &p.actor);
    }
    missing(d, "payments", m.payments.keys().copied(), &seen);
    let mut seen = HashSet::new();
    for r in db
        .rows(
            "SELECT item_id, id, amount_fen, reason, at, actor FROM recoveries ORDER BY item_id",
            &[],
        )
        .await?
    {
        let (item, row) = (r.i(0), r.i(0).to_string());
        seen.insert(item);
        let Some(p) = m.recoveries.get(&item) else {
            d.push(Problem::Unrecorded {
                table: "recoveries".into(),
                row,
            });
            continue;
        };
        let t = "recoveries";
        if let Some(id) = p.id {
            d.col(t, &row, "id", &r.i(1), &id);
        }
        d.col(t, &row, "amount_fen", &r.i(2), &p.amount);
        d.col(t, &row, "reason", &r.s(3), &p.reason);
        d.col(t, &row, "at", &r.s(4), &p.at);
        d.col(t, &row, "actor", &r.s(5), &p.actor);
    }
    missing(d, "recoveries", m.recoveries.keys().copied(), &seen);
    Ok(())
}

async fn compare_notices_batches(d: &mut Diff, db: &mut Db, m: &Model) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for r in db
        .rows(
            "SELECT id, title, opens, closes, created_at, actor FROM notices ORDER BY id",
            &[],
        )
        .await?
    {
        let row = r.i(0).to_string();
        seen.insert(r.i(0));
        let Some(n) = m.notices.get(&r.i(0)) else {
            d.push(Problem::Unrecorded {
                table: "notices".into(),
                row,
            });
            continue;
        };
        let t = "notices";
        d.col(t, &row, "title", &r.s(1), &n.title);
        d.col(t, &row, "opens", &r.s(2), &n.opens);
        d.col(t, &row, "closes", &r.s(3), &n.closes);
        d.col(t, &row, "created_at", &r.s(4), &n.at);
        d.col(t, &row, "actor", &r.s(5), &n.actor);
    }
    missing(d, "notices", m.notices.keys().copied(), &seen);
    let mut seen = HashSet::new();
    for r in db
        .rows(
            "SELECT id, state, lines, total_fen, created_at, actor, closed_at, reason FROM payment_batches ORDER BY id",
            &[],
        )
        .await?
    {
        let row = r.i(0).to_string();
        seen.insert(r.i(0));
        let Some(b) = m.batches.get(&r.i(0)) else {
            d.push(Problem::Unrecorded {
                table: "payment_batches".into(),
                row,
            });
            continue;
        };
        let t = "payment_batches";
        d.col(t, &row, "state", &r.s(1), &b.state);
        d.col(t, &row, "lines", &r.i(2), &b.lines);
        d.col(t, &row, "total_fen", &r.i(3), &b.total);
        d.col(t, &row, "created_at", &r.s(4), &b.at);
        d.col(t, &row, "actor", &r.s(5), &b.actor);
        d.col(t, &row, "closed_at", &r.os(6), &b.closed_at);
        d.col(t, &row, "reason", &r.os(7), &b.reason);
    }
    missing(d, "payment_batches", m.batches.keys().copied(), &seen);
    Ok(())
}

async fn compare_runs_firms(d: &mut Diff, db: &mut Db, m: &Model) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for r in db
        .rows("SELECT firm_id, name FROM firms ORDER BY firm_id", &[])
        .await?
    {
        let (id, name) = (r.s(0), r.s(1));
        match m.firms.get(&id) {
            Some(want) => d.col("firms", &id, "name", &name, want),
            // Older ledgers did not commit firm names: those rows are taken as they are.
            None if !m.legacy.is_empty() => {}
            None => d.push(Problem::Unrecorded {
                table: "firms".into(),
                row: id.clone(),
            }),
        }
        seen.insert(id);
    }
    missing(d, "firms", m.firms.keys().cloned(), &seen);
    let mut seen = HashSet::new();
    for r in db
        .rows(
            "SELECT run_id, period, policy_name, policy_hash, snapshot_hash, engine_version, results_sha256, manifest, recorded_at, recorded_by FROM runs ORDER BY run_id",
            &[],
        )
        .await?
    {
        let row = r.s(0);
        seen.insert(row.clone());
        let Some(run) = m.runs.get(&row) else {
            d.push(Problem::Unrecorded {
                table: "runs".into(),
                row,
            });
            continue;
        };
        let t = "runs";
        d.col(t, &row, "period", &r.i(1), &run.period);
        if let Some(n) = &run.policy_name {
            d.col(t, &row, "policy_name", &r.s(2), n);
        }
        d.col(t, &row, "policy_hash", &r.s(3), &run.policy_hash);
        d.col(t, &row, "snapshot_hash", &r.s(4), &run.snapshot_hash);
        d.col(t, &row, "engine_version", &r.s(5), &run.engine_version);
        d.col(t, &row, "results_sha256", &r.s(6), &run.results_sha256);
        if let Some(h) = &run.manifest_sha256 {
            let have = format!("{:x}", Sha256::digest(r.s(7).as_bytes()));
            d.col(t, &row, "manifest", &have, h);
        }
        d.col(t, &row, "recorded_at", &r.s(8), &run.at);
        d.col(t, &row, "recorded_by", &r.s(9), &run.actor);
    }
    missing(d, "runs", m.runs.keys().cloned(), &seen);
    Ok(())
}

/// The line → event index against the one the chain implies: a row pointing a line at an event
/// not about it (or at none) is unrecorded; an event's line without its row is missing (a step's
/// check would not see that event).
async fn compare_line_index(
    d: &mut Diff,
    db: &mut Db,
    mut want: Vec<(i64, i64)>,
) -> Result<(), Error> {
    want.sort_unstable();
    want.dedup();
    let have: Vec<(i64, i64)> = db
        .rows(
            "SELECT item_id, seq FROM line_events ORDER BY item_id, seq",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.i(0), r.i(1)))
        .collect();
    let name = |(line, seq): (i64, i64)| format!("line {line} → event #{seq}");
    let (mut i, mut j) = (0, 0);
    while i < have.len() || j < want.len() {
        match (have.get(i), want.get(j)) {
            (Some(h), Some(w)) if h == w => {
                i += 1;
                j += 1;
            }
            (Some(&h), w) if w.is_none_or(|&w| h < w) => {
                d.push(Problem::Unrecorded {
                    table: "line_events".into(),
                    row: name(h),
                });
                i += 1;
            }
            (_, Some(&w)) => {
                d.push(Problem::Missing {
                    table: "line_events".into(),
                    row: name(w),
                });
                j += 1;
            }
            (_, None) => i += 1,
        }
    }
    Ok(())
}

/// The content of record events written before events carried it: the run's award lines
/// from the tables, checked against the event's line digest.
async fn legacy_runs(
    db: &mut Db,
    events: &[Event],
    d: &mut Diff,
) -> Result<HashMap<String, LegacyRun>, Error> {
    let mut out = HashMap::new();
    // Only events without their lines (a cheap test first: those events are small).
    for e in events
        .iter()
        .filter(|e| e.action == "record" && !e.after.contains("\"lines\":"))
    {
        let Some(run) = e.entity.strip_prefix("run:") else {
            continue;
        };
        let Ok(r) = serde_json::from_str::<crate::content::RecordIn>(&e.after) else {
            continue;
        };
        if r.lines.is_some() {
            continue;
        }
        let mut lines = vec![];
        let mut h = Sha256::new();
        for x in db
            .rows(
                "SELECT i.id, i.entitlement_id, e.firm_id, e.clause, e.period, e.tranche, i.amount_fen FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE i.run_id = $1 AND i.version = 0 ORDER BY i.id",
                &args![run],
            )
            .await?
        {
            let key = EntKey {
                firm: x.s(2),
                clause: x.s(3),
                period: x.i(4),
                tranche: x.s(5),
            };
            h.update(line_digest_row(x.i(0), x.i(1), &key, x.i(6)).as_bytes());
            lines.push((x.i(0), x.i(1), key, x.i(6)));
        }
        let got = format!("{:x}", h.finalize());
        d.col(
            "items",
            &format!("run {run}"),
            "new lines (SHA-256)",
            &got,
            &r.new_lines_sha256,
        );
        out.insert(run.to_string(), LegacyRun { lines });
    }
    Ok(out)
}

pub(crate) async fn verify(db: &mut Db) -> Result<VerifyReport, Error> {
    let head = db
        .row("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .await?
        .ok_or_else(|| Error::db("audit_head is missing"))?;
    let events = load_events(db).await?;
    let mut problems = check_chain(&events, head.i(0), &head.s(1));
    if problems.is_empty() {
        let mut d = Diff::default();
        let legacy = legacy_runs(db, &events, &mut d).await?;
        let mut m = Model::new(None, legacy);
        for e in &events {
            m.apply(e);
        }
        for p in std::mem::take(&mut m.inconsistent) {
            d.push(p);
        }
        compare_lines(&mut d, db, &m).await?;
        compare_money(&mut d, db, &m).await?;
        compare_notices_batches(&mut d, db, &m).await?;
        compare_runs_firms(&mut d, db, &m).await?;
        compare_line_index(&mut d, db, std::mem::take(&mut m.line_index)).await?;
        problems = d.finish();
    }
    Ok(VerifyReport {
        events: events.len() as i64,
        head_seq: head.i(0),
        problems,
    })
}

/// The lines `ids` and their entitlements as the chain has them: their events replayed.
async fn replay_lines(db: &mut Db, items: &[ItemRow], ents: &[EntRow]) -> Result<Model, Error> {
    let want_items: HashSet<i64> = items.iter().map(|r| r.id).collect();
    let want_ents: HashSet<i64> = items
        .iter()
        .map(|r| r.entitlement)
        .chain(ents.iter().map(|e| e.id))
        .collect();
    let mut lines: Vec<i64> = want_items.iter().copied().collect();
    lines.sort_unstable();
    let entities: Vec<String> = want_ents
        .iter()
        .map(|e| format!("entitlement:{e}"))
        .collect();
    let mut runs: Vec<String> = items
        .iter()
        .map(|r| format!("run:{}", r.run))
        .chain(ents.iter().map(|e| format!("run:{}", e.run)))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    runs.sort();
    let mut events = events_of_lines(db, &lines).await?;
    events.extend(events_of(db, &entities, None).await?);
    events.extend(events_of(db, &runs, Some("record")).await?);
    events.sort_by_key(|e| e.seq);
    events.dedup_by_key(|e| e.seq);
    let mut d = Diff::default();
    let legacy = legacy_runs(db, &events, &mut d).await?;
    let mut m = Model::new(Some((want_items, want_ents)), legacy);
    for e in &events {
        m.apply(e);
    }
    m.inconsistent.extend(d.finish());
    Ok(m)
}

/// Refuses (an integrity error, nothing done) when a line, or its entitlement, no longer holds
/// what the audit chain says: every amount and key, the state, the notice and the batch.
pub(crate) async fn check_lines(db: &mut Db, ids: &[i64]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let items = item_rows(db, ids).await?;
    let mut ent_ids: Vec<i64> = items.iter().map(|r| r.entitlement).collect();
    ent_ids.sort_unstable();
    ent_ids.dedup();
    let ents = ent_rows(db, &ent_ids).await?;
    check_rows(db, &items, &ents).await
}

/// [`check_lines`] of lines a step has just read in its write transaction (with their
/// entitlements' rows): the same comparison, without reading the rows a second time.
pub(crate) async fn check_read(db: &mut Db, lines: &[Line]) -> Result<(), Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut items: Vec<ItemRow> = lines.iter().map(|l| l.row.clone()).collect();
    items.sort_by_key(|r| r.id);
    items.dedup_by_key(|r| r.id);
    let mut ents: Vec<EntRow> = lines.iter().map(|l| l.ent.clone()).collect();
    ents.sort_by_key(|e| e.id);
    ents.dedup_by_key(|e| e.id);
    check_rows(db, &items, &ents).await
}

/// The rows `items` (sorted by id) and `ents` (their entitlements) against their events.
async fn check_rows(db: &mut Db, items: &[ItemRow], ents: &[EntRow]) -> Result<(), Error> {
    let m = replay_lines(db, items, ents).await?;
    let by_id: HashMap<i64, &EntRow> = ents.iter().map(|e| (e.id, e)).collect();
    let mut bad: Vec<(i64, Vec<Problem>)> = vec![];
    for r in items {
        let mut d = Diff::default();
        compare_item(&mut d, r, &m);
        if let Some(e) = by_id.get(&r.entitlement) {
            compare_ent(&mut d, e, &m);
        }
        let ps = d.finish();
        if !ps.is_empty() {
            bad.push((r.id, ps));
        }
    }
    if let Some(p) = m.inconsistent.first() {
        bad.push((0, vec![p.clone()]));
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(refusal(&bad))
}

fn refusal(bad: &[(i64, Vec<Problem>)]) -> Error {
    let (mut zh, mut en) = (vec![], vec![]);
    for (id, ps) in bad.iter().take(10) {
        for p in ps.iter().take(5) {
            if *id > 0 {
                zh.push(format!("明细 {id}：{}", p.describe(false)));
                en.push(format!("line {id}: {}", p.describe(true)));
            } else {
                zh.push(p.describe(false));
                en.push(p.describe(true));
            }
        }
    }
    Error::integrity(
        format!(
            "{} 条明细与审计链不符，未做任何操作（请运行 huiqi ledger verify）：\n  {}",
            bad.len(),
            zh.join("\n  ")
        ),
        format!(
            "{} line(s) do not match the audit chain; nothing was done (run `huiqi ledger verify`):\n  {}",
            bad.len(),
            en.join("\n  ")
        ),
    )
}

/// The entitlement's figure as the chain has it (checked like a line).
pub(crate) async fn check_entitlements(db: &mut Db, ids: &[i64]) -> Result<(), Error> {
    let ents = ent_rows(db, ids).await?;
    let m = replay_lines(db, &[], &ents).await?;
    let mut bad = vec![];
    for e in &ents {
        let mut d = Diff::default();
        compare_ent(&mut d, e, &m);
        let ps = d.finish();
        if !ps.is_empty() {
            bad.push((0, ps));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(refusal(&bad))
    }
}
