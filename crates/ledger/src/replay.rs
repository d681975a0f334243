//! Replaying the audit events: what every row should hold, according to the chain alone.
//! `verify` replays every event; a workflow step replays only the events of the lines it is
//! about to move (and of their entitlements), then compares.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::audit::{Event, Problem, STEP_ENTITY};
use crate::content::{first_kind, lines_digest, EntKey, KeyIn, LineSnap, RecordIn, StepIn, Target};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunM {
    pub period: i64,
    pub policy_name: Option<String>,
    pub policy_hash: String,
    pub snapshot_hash: String,
    pub engine_version: String,
    pub results_sha256: String,
    pub manifest_sha256: Option<String>,
    pub at: String,
    pub actor: String,
}

#[derive(Clone, Debug)]
pub(crate) struct EntM {
    pub key: EntKey,
    pub computed: i64,
    pub run: String,
    pub last_run: String,
    pub target: Target,
}

#[derive(Clone, Debug)]
pub(crate) struct ItemM {
    pub ent: i64,
    /// `None`: not known from the events replayed (an adjustment written before events carried
    /// the version, replayed without its entitlement's other lines).
    pub version: Option<i64>,
    pub kind: String,
    pub amount: i64,
    pub run: String,
    pub original: Option<i64>,
    pub notice: Option<i64>,
    pub batch: Option<i64>,
    pub state: String,
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct NoticeM {
    pub title: String,
    pub opens: String,
    pub closes: String,
    pub at: String,
    pub actor: String,
}

#[derive(Clone, Debug)]
pub(crate) struct PayM {
    /// The payment row's id (absent from events written before it was committed).
    pub id: Option<i64>,
    pub reference: String,
    pub amount: i64,
    /// The batch that paid it; `None` where the event predates batches.
    pub batch: Option<Option<i64>>,
    pub at: String,
    pub actor: String,
}

#[derive(Clone, Debug)]
pub(crate) struct RecM {
    pub id: Option<i64>,
    pub amount: i64,
    pub reason: String,
    pub at: String,
    pub actor: String,
}

#[derive(Clone, Debug)]
pub(crate) struct BatchM {
    pub state: String,
    pub lines: i64,
    pub total: i64,
    pub at: String,
    pub actor: String,
    pub closed_at: Option<String>,
    pub reason: Option<String>,
}

/// The lines of a `record` event written before events carried them, taken from the tables
/// once their digest matched (or flagged when it did not).
#[derive(Clone, Debug, Default)]
pub(crate) struct LegacyRun {
    /// (line, entitlement, key, 分).
    pub lines: Vec<(i64, i64, EntKey, i64)>,
}

/// Everything the chain says, row by row.
#[derive(Default)]
pub(crate) struct Model {
    pub runs: HashMap<String, RunM>,
    pub firms: HashMap<String, String>,
    pub ents: HashMap<i64, EntM>,
    pub items: HashMap<i64, ItemM>,
    pub notices: HashMap<i64, NoticeM>,
    /// By line.
    pub payments: HashMap<i64, PayM>,
    /// By line.
    pub recoveries: HashMap<i64, RecM>,
    pub batches: HashMap<i64, BatchM>,
    /// Where the events contradict themselves (an unreadable event, a line's snapshot that
    /// differs from the replay).
    pub inconsistent: Vec<Problem>,
    /// Record events without their content (older ledgers).
    pub legacy: HashMap<String, LegacyRun>,
    /// Some: only these lines and entitlements are kept (a step's check).
    want: Option<(HashSet<i64>, HashSet<i64>)>,
    max_version: HashMap<i64, i64>,
    /// (line, seq) of every event about a line: the line → event index as the chain implies
    /// it (kept when every row is replayed).
    pub line_index: Vec<(i64, i64)>,
}

fn entity_id(entity: &str, prefix: &str) -> Option<i64> {
    entity.strip_prefix(prefix)?.parse().ok()
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn os(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or_default()
}

fn oi(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

impl Model {
    /// `want`: only these (lines, entitlements); `None`: every row.
    pub fn new(
        want: Option<(HashSet<i64>, HashSet<i64>)>,
        legacy: HashMap<String, LegacyRun>,
    ) -> Model {
        Model {
            want,
            legacy,
            ..Default::default()
        }
    }

    fn wants_item(&self, id: i64) -> bool {
        self.want.as_ref().is_none_or(|w| w.0.contains(&id))
    }

    fn wants_ent(&self, id: i64) -> bool {
        self.want.as_ref().is_none_or(|w| w.1.contains(&id))
    }

    fn unreadable(&mut self, e: &Event, what: &str) {
        self.inconsistent.push(Problem::Mismatch {
            table: "audit_events".into(),
            row: e.seq.to_string(),
            column: "after_json".into(),
            found: what.into(),
            expected: "the content the event's action writes".into(),
        });
    }

    /// Applies one event (in seq order).
    pub fn apply(&mut self, e: &Event) {
        if e.action == "record" {
            if let Some(run) = e.entity.strip_prefix("run:") {
                match serde_json::from_str::<RecordIn>(&e.after) {
                    Ok(r) => self.record(e, run, r),
                    Err(_) => self.unreadable(e, "an unreadable record event"),
                }
            }
            return;
        }
        if e.entity == STEP_ENTITY {
            match serde_json::from_str::<StepIn>(&e.after) {
                Ok(st) => self.step(e, st),
                Err(_) => self.unreadable(e, "an unreadable step"),
            }
            return;
        }
        let Ok(after) = serde_json::from_str::<Value>(&e.after) else {
            self.unreadable(e, "not JSON");
            return;
        };
        if let Some(id) = entity_id(&e.entity, "item:") {
            if self.want.is_none() {
                self.line_index.push((id, e.seq));
            }
            if e.action == "adjust" {
                self.adjust(id, &after);
            } else {
                self.transition(e, id, &after);
            }
            self.check_snapshot(e, id, &after);
        } else if let Some(id) = entity_id(&e.entity, "entitlement:") {
            if e.action == "refigure" {
                if let Some(m) = self.ents.get_mut(&id) {
                    m.computed = i(&after, "computed_fen");
                    m.last_run = s(&after, "run");
                }
            }
        } else if let Some(id) = entity_id(&e.entity, "notice:") {
            self.notices.insert(
                id,
                NoticeM {
                    title: s(&after, "title"),
                    opens: s(&after, "opens"),
                    closes: s(&after, "closes"),
                    at: e.at.clone(),
                    actor: e.actor.clone(),
                },
            );
        } else if let Some(id) = entity_id(&e.entity, "batch:") {
            self.batch(e, id, &after);
        }
    }

    fn record(&mut self, e: &Event, run: &str, r: RecordIn) {
        self.runs.insert(
            run.to_string(),
            RunM {
                period: r.period,
                policy_name: r.policy_name,
                policy_hash: r.policy_hash,
                snapshot_hash: r.snapshot_hash,
                engine_version: r.engine_version,
                results_sha256: r.results_sha256,
                manifest_sha256: r.manifest_sha256,
                at: e.at.clone(),
                actor: e.actor.clone(),
            },
        );
        for (id, name) in r.firms.unwrap_or_default() {
            self.firms.entry(id).or_insert(name);
        }
        let lines: Vec<(i64, i64, EntKey, Target, i64)> = match (r.lines, r.keys) {
            (Some(lines), Some(keys)) => {
                let mut out = Vec::with_capacity(lines.len());
                for (item, ent, firm, k, fen) in lines {
                    let Some(key) = keys.get(k) else {
                        self.unreadable(e, "a line whose key index is out of range");
                        continue;
                    };
                    let ((clause, tranche), target) = match key {
                        KeyIn::Award(c, t) => ((c, t), Target::default()),
                        KeyIn::Clawback(c, t, tc, tp, tt) => ((c, t), Target::of(tc, *tp, tt)),
                    };
                    let key = EntKey {
                        firm,
                        clause: clause.clone(),
                        period: r.period,
                        tranche: tranche.clone(),
                    };
                    out.push((item, ent, key, target, fen));
                }
                out
            }
            // Ledgers recorded before events carried their content had no clawbacks.
            _ => self
                .legacy
                .get(run)
                .map(|l| {
                    l.lines
                        .iter()
                        .map(|(i, en, k, f)| (*i, *en, k.clone(), Target::default(), *f))
                        .collect()
                })
                .unwrap_or_default(),
        };
        // A run records up to millions of lines: grow the maps once, not by doubling (each
        // doubling rehashed into fresh pages: a tenth of a bulk step's time at 1M firms).
        let kept = self
            .want
            .as_ref()
            .map_or(lines.len(), |w| lines.len().min(w.0.len() + w.1.len()));
        self.ents.reserve(kept);
        self.items.reserve(kept);
        self.max_version.reserve(lines.len());
        for (item, ent, key, target, fen) in lines {
            if self.wants_ent(ent) || self.wants_item(item) {
                self.ents.insert(
                    ent,
                    EntM {
                        key,
                        computed: fen,
                        run: run.to_string(),
                        last_run: run.to_string(),
                        target,
                    },
                );
            }
            self.max_version.insert(ent, 0);
            if self.wants_item(item) {
                self.items.insert(
                    item,
                    ItemM {
                        ent,
                        version: Some(0),
                        kind: first_kind(fen).into(),
                        amount: fen,
                        run: run.to_string(),
                        original: None,
                        notice: None,
                        batch: None,
                        state: "computed".into(),
                        reason: None,
                    },
                );
            }
        }
    }

    fn adjust(&mut self, id: i64, after: &Value) {
        let ent = i(after, "entitlement");
        let said = after.get("line").and_then(|l| oi(l, "version"));
        // Older adjustments do not say their version: the next after the entitlement's lines
        // (known only when every event of the entitlement is replayed).
        let version = said.or_else(|| match (&self.want, self.max_version.get(&ent)) {
            (None, Some(v)) => Some(v + 1),
            _ => None,
        });
        if let Some(v) = version {
            self.max_version.insert(ent, v);
        }
        if !self.wants_item(id) {
            return;
        }
        self.items.insert(
            id,
            ItemM {
                ent,
                version,
                kind: s(after, "kind"),
                amount: i(after, "amount_fen"),
                run: s(after, "run"),
                original: oi(after, "original"),
                notice: None,
                batch: None,
                state: os(after, "state").unwrap_or_else(|| "computed".into()),
                reason: None,
            },
        );
    }

    /// A bulk step: each line it lists moved as a one-line event of the same action would have
    /// moved it. When every row is replayed, the lines after it must be what its digest says.
    fn step(&mut self, e: &Event, st: StepIn) {
        if !st.recoveries.is_empty() && st.recoveries.len() != st.lines.len() {
            self.unreadable(e, "a step whose recoveries do not match its lines");
            return;
        }
        let full = self.want.is_none();
        for (k, &id) in st.lines.iter().enumerate() {
            if full {
                self.line_index.push((id, e.seq));
            }
            if !self.wants_item(id) {
                continue;
            }
            let Some(it) = self.items.get_mut(&id) else {
                self.unreadable(e, "an event about a line no event created");
                continue;
            };
            it.state = st.state.clone();
            if matches!(e.action.as_str(), "reject" | "object" | "recover") {
                if let Some(r) = &st.reason {
                    it.reason = Some(r.clone());
                }
            }
            if let Some(n) = st.notice {
                it.notice = Some(n);
            }
            if let Some(b) = st.batch {
                it.batch = b;
            }
            if e.action == "recover" {
                let Some(&(rec, amount)) = st.recoveries.get(k) else {
                    self.unreadable(e, "a recovery step without its recoveries");
                    continue;
                };
                self.recoveries.insert(
                    id,
                    RecM {
                        id: Some(rec),
                        amount,
                        reason: st.reason.clone().unwrap_or_default(),
                        at: e.at.clone(),
                        actor: e.actor.clone(),
                    },
                );
            }
        }
        if full {
            let snaps: Option<Vec<LineSnap>> = st.lines.iter().map(|&id| self.snap(id)).collect();
            let have = snaps.map(|v| lines_digest(v.into_iter()));
            if have.as_deref() != Some(st.lines_sha256.as_str()) {
                self.inconsistent.push(Problem::Mismatch {
                    table: "audit_events".into(),
                    row: e.seq.to_string(),
                    column: "after_json.lines_sha256".into(),
                    found: st.lines_sha256,
                    expected: have.unwrap_or_else(|| "(lines the chain does not have)".into()),
                });
            }
        }
    }

    fn transition(&mut self, e: &Event, id: i64, after: &Value) {
        let Some(it) = self.items.get_mut(&id) else {
            if self.wants_item(id) {
                self.unreadable(e, "an event about a line no event created");
            }
            return;
        };
        if let Some(st) = os(after, "state") {
            it.state = st;
        }
        if matches!(e.action.as_str(), "reject" | "object" | "recover") {
            if let Some(r) = os(after, "reason") {
                it.reason = Some(r);
            }
        }
        if let Some(n) = oi(after, "notice") {
            it.notice = Some(n);
        }
        if matches!(e.action.as_str(), "export" | "return") {
            it.batch = oi(after, "batch");
        }
        match e.action.as_str() {
            "pay" => {
                self.payments.insert(
                    id,
                    PayM {
                        id: oi(after, "payment"),
                        reference: s(after, "reference"),
                        amount: i(after, "amount_fen"),
                        batch: after.get("batch").map(Value::as_i64),
                        at: e.at.clone(),
                        actor: e.actor.clone(),
                    },
                );
            }
            "recover" => {
                self.recoveries.insert(
                    id,
                    RecM {
                        id: oi(after, "recovery"),
                        amount: i(after, "amount_fen"),
                        reason: s(after, "reason"),
                        at: e.at.clone(),
                        actor: e.actor.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    fn batch(&mut self, e: &Event, id: i64, after: &Value) {
        if e.action == "batch" {
            self.batches.insert(
                id,
                BatchM {
                    state: s(after, "state"),
                    lines: i(after, "lines"),
                    total: i(after, "total_fen"),
                    at: e.at.clone(),
                    actor: e.actor.clone(),
                    closed_at: None,
                    reason: None,
                },
            );
        } else if let Some(b) = self.batches.get_mut(&id) {
            b.state = s(after, "state");
            b.closed_at = Some(e.at.clone());
            b.reason = os(after, "reason");
        }
    }

    /// The line as the replay has it, in the form events carry it.
    pub fn snap(&self, id: i64) -> Option<LineSnap> {
        let it = self.items.get(&id)?;
        let k = &self.ents.get(&it.ent)?.key;
        Some(LineSnap {
            entitlement: it.ent,
            firm: k.firm.clone(),
            clause: k.clause.clone(),
            period: k.period,
            tranche: k.tranche.clone(),
            version: it.version.unwrap_or(-1),
            kind: it.kind.clone(),
            amount_fen: it.amount,
            run: it.run.clone(),
            original: it.original,
            notice: it.notice,
            batch: it.batch,
        })
    }

    /// An event's `line` must be the line the replay has after it.
    fn check_snapshot(&mut self, e: &Event, id: i64, after: &Value) {
        let Some(line) = after.get("line") else {
            return;
        };
        let said_version = line.get("version").and_then(Value::as_i64);
        if let (Some(it), Some(v)) = (self.items.get_mut(&id), said_version) {
            it.version.get_or_insert(v);
        }
        let Some(have) = self.snap(id) else {
            return;
        };
        match serde_json::from_value::<LineSnap>(line.clone()) {
            Ok(said) if said == have => {}
            Ok(said) => self.inconsistent.push(Problem::Mismatch {
                table: "audit_events".into(),
                row: e.seq.to_string(),
                column: "after_json.line".into(),
                found: format!("{said:?}"),
                expected: format!("{have:?}"),
            }),
            Err(_) => self.unreadable(e, "an unreadable line"),
        }
    }
}
