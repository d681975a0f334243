//! One clause for one firm and one period: conditions, amount, clause caps — with the evidence
//! an explanation needs.

use huiqi_ir::money::{self, Rounding};
use huiqi_ir::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::expr::{Evaluator, FactRead, TableHit};

/// Why an entitlement is zero (or was cut): defined once for both engines in `huiqi_ir::reason`.
pub use huiqi_ir::reason::Reason;

/// A condition's outcome with what went into it.
#[derive(Clone, Debug)]
pub struct CondOutcome {
    pub name: String,
    pub source: String,
    pub value: Value,
    /// For a top-level comparison: both sides.
    pub sides: Option<(Value, BinOp, Value)>,
    pub facts: Vec<FactRead>,
    pub tables: Vec<TableHit>,
}

impl CondOutcome {
    pub fn passed(&self) -> bool {
        self.value == Value::Bool(true)
    }
}

/// An adjustment to an amount after it was computed (caps, pools, allocation).
#[derive(Clone, Debug, Serialize)]
pub struct Adjustment {
    pub reason: Reason,
    /// 元 before and after.
    pub before: Decimal,
    pub after: Decimal,
}

#[derive(Clone, Debug)]
pub struct TrancheOutcome {
    pub tranche: String,
    pub conditions: Vec<CondOutcome>,
    /// The amount expression's raw value (before rounding and caps).
    pub raw: Value,
    pub amount_source: String,
    pub amount_facts: Vec<FactRead>,
    pub amount_tables: Vec<TableHit>,
    pub awarded: Vec<(ClauseId, Decimal)>,
    /// Final amount in 元 (to the 分) after every stage that has run so far.
    pub amount: Decimal,
    pub reason: Option<Reason>,
    pub adjustments: Vec<Adjustment>,
    /// The raw amount is beyond the range of exact arithmetic (`money::MAX_SCALED`): it cannot
    /// be paid, and the evaluation is refused (`alloc::first_overflow`). The amount is 0.
    pub overflow: bool,
}

#[derive(Clone, Debug)]
pub struct ClauseOutcome {
    pub clause: ClauseId,
    pub lets: Vec<(String, Value)>,
    pub tranches: Vec<TrancheOutcome>,
}

impl ClauseOutcome {
    pub fn total(&self) -> Decimal {
        self.tranches.iter().map(|t| t.amount).sum()
    }
}

fn eval_cond(ev: &mut Evaluator, n: &Named, year: i32, explain: bool) -> CondOutcome {
    if explain {
        ev.trace = Some(Default::default());
    }
    let value = ev.eval(&n.expr, year);
    let sides = match (&n.expr, explain) {
        (Expr::Bin(op, a, b), true) if op.is_comparison() => {
            let saved = ev.trace.take();
            let l = ev.eval(a, year);
            let r = ev.eval(b, year);
            ev.trace = saved;
            Some((l, *op, r))
        }
        _ => None,
    };
    let (facts, tables) = match ev.trace.take() {
        Some(t) => (t.facts, t.tables),
        None => (vec![], vec![]),
    };
    CondOutcome {
        name: n.name.clone(),
        source: n.source.clone(),
        value,
        sides,
        facts,
        tables,
    }
}

fn tranche_blank(name: &str) -> TrancheOutcome {
    TrancheOutcome {
        tranche: name.to_string(),
        conditions: vec![],
        raw: Value::Missing,
        amount_source: String::new(),
        amount_facts: vec![],
        amount_tables: vec![],
        awarded: vec![],
        amount: Decimal::ZERO,
        reason: None,
        adjustments: vec![],
        overflow: false,
    }
}

/// Evaluates a clause. `explain` records the evidence (slower); amounts are identical either way.
pub fn eval_clause(
    p: &Program,
    cid: ClauseId,
    firm: &Firm,
    year: i32,
    explain: bool,
) -> ClauseOutcome {
    let c = &p.clauses[cid];
    let mut ev = Evaluator::new(p, firm, &c.lets, false);
    let lets = if explain {
        c.lets
            .iter()
            .map(|l| (l.name.clone(), ev.eval(&l.expr, year)))
            .collect()
    } else {
        vec![]
    };
    let mut out = ClauseOutcome {
        clause: cid,
        lets,
        tranches: vec![],
    };
    // Effective window: the period must overlap it.
    if c.window.1 < Date::year_start(year) || c.window.0 > Date::year_end(year) {
        let mut names = tranche_names(&c.body);
        if names.is_empty() {
            names.push(String::new());
        }
        out.tranches = names
            .iter()
            .map(|n| TrancheOutcome {
                reason: Some(Reason::OutOfWindow),
                ..tranche_blank(n)
            })
            .collect();
        return out;
    }
    let mut cx = ClauseEval {
        p,
        cid,
        c,
        firm,
        year,
        explain,
        ev,
        caps: Caps {
            rounding: c.rounding,
            cap: c.cap.as_ref().map(|q| p.figure(q, year)),
            total_cap: c.total_cap.as_ref().map(|q| p.figure(q, year)),
            awarded: firm.awarded_before(cid, year),
            used: Decimal::ZERO,
        },
    };
    // Clause-level conditions, in written order; the first failure is the reason.
    let mut common = vec![];
    let failed = cx.conditions(&c.requires, &mut common);
    out.tranches = match (&c.body, failed) {
        (_, Some(r)) => failed_tranches(c, &common, &r, explain),
        (ClauseBody::Amount(a), None) => {
            let mut t = tranche_blank("");
            t.conditions = common;
            cx.price(a, &mut t);
            vec![t]
        }
        (ClauseBody::Tranches(ts), None) => ts.iter().map(|tr| cx.tranche(tr, &common)).collect(),
        (ClauseBody::Schedule(s), None) => cx.schedule(s, common),
    };
    out
}

/// The tranches a clause reports when it does not get to its amount: one per tranche, or one
/// unnamed for a single amount or a schedule.
fn tranche_names(body: &ClauseBody) -> Vec<String> {
    match body {
        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        ClauseBody::Amount(_) | ClauseBody::Schedule(_) => vec![String::new()],
    }
}

/// Every tranche of a clause whose own conditions failed, with that reason.
fn failed_tranches(
    c: &Clause,
    common: &[CondOutcome],
    failed: &Reason,
    explain: bool,
) -> Vec<TrancheOutcome> {
    tranche_names(&c.body)
        .iter()
        .map(|n| {
            let mut t = tranche_blank(n);
            t.conditions = common.to_vec();
            t.reason = Some(failed.clone());
            if let (ClauseBody::Amount(a), true) = (&c.body, explain) {
                t.amount_source = a.source.clone();
            }
            t
        })
        .collect()
}

/// Rounding and the clause's caps, applied to each tranche in turn.
struct Caps {
    rounding: Rounding,
    cap: Option<Decimal>,
    total_cap: Option<Decimal>,
    /// What the clause awarded the firm in earlier periods (against `total cap`).
    awarded: Decimal,
    /// What the clause's earlier tranches took this period.
    used: Decimal,
}

impl Caps {
    /// Rounds a tranche's raw amount and cuts it to the rooms left under `cap` and
    /// `total cap`; the amount, the cuts and a zero's reason go into `t`.
    fn finish(&mut self, amount: Decimal, t: &mut TrancheOutcome) {
        let mut a = money::round(amount.max(Decimal::ZERO), self.rounding);
        if let Some(cap) = self.cap {
            let room = (cap - self.used).max(Decimal::ZERO);
            if a > room {
                t.adjustments.push(Adjustment {
                    reason: Reason::ClauseCap,
                    before: a,
                    after: room,
                });
                a = room;
            }
        }
        if let Some(tc) = self.total_cap {
            let room = (tc - self.awarded - self.used).max(Decimal::ZERO);
            if a > room {
                t.adjustments.push(Adjustment {
                    reason: Reason::TotalCap,
                    before: a,
                    after: room,
                });
                a = room;
                if a.is_zero() {
                    t.reason = Some(Reason::TotalCap);
                }
            }
        }
        // More than a result can carry: refused like an overflow (amount 0, not used).
        if money::to_scaled(a).is_none_or(money::beyond_amount) {
            t.overflow = true;
            return;
        }
        self.used += a;
        if a.is_zero() && t.reason.is_none() {
            t.reason = Some(Reason::ZeroAmount);
        }
        t.amount = a;
    }
}

/// One clause being evaluated for one firm and period, past its window.
struct ClauseEval<'a> {
    p: &'a Program,
    cid: ClauseId,
    c: &'a Clause,
    firm: &'a Firm,
    year: i32,
    explain: bool,
    ev: Evaluator<'a>,
    caps: Caps,
}

impl ClauseEval<'_> {
    /// Evaluates `requires` in written order onto `into` and returns the first failure's
    /// reason. Without `explain` the conditions after it are not evaluated.
    fn conditions(&mut self, requires: &[Named], into: &mut Vec<CondOutcome>) -> Option<Reason> {
        let mut failed = None;
        for r in requires {
            let o = eval_cond(&mut self.ev, r, self.year, self.explain);
            if failed.is_none() && !o.passed() {
                failed = Some(Reason::Condition {
                    name: o.name.clone(),
                    missing: o.value.is_missing(),
                });
            }
            into.push(o);
            if failed.is_some() && !self.explain {
                break;
            }
        }
        failed
    }

    /// The amount's raw value, rounded and capped; an amount that cannot be computed is a
    /// lack of data.
    fn price(&mut self, a: &Named, t: &mut TrancheOutcome) {
        amount_into(&mut self.ev, a, self.year, self.explain, t);
        match t.raw.num() {
            // Beyond exact arithmetic (an overflow, or a value that large): never paid.
            Some(d) if money::is_overflow_dec(d) => t.overflow = true,
            Some(d) => self.caps.finish(d, t),
            None => t.reason = Some(Reason::missing_amount()),
        }
    }

    /// A tranche: the clause's conditions, then its own, then its amount.
    fn tranche(&mut self, tr: &Tranche, common: &[CondOutcome]) -> TrancheOutcome {
        let mut t = tranche_blank(&tr.name);
        t.conditions = common.to_vec();
        match self.conditions(&tr.requires, &mut t.conditions) {
            Some(r) => {
                t.reason = Some(r);
                if self.explain {
                    t.amount_source = tr.amount.source.clone();
                }
            }
            None => self.price(&tr.amount, &mut t),
        }
        t
    }

    /// A staged schedule: one tranche per stage first reached in this period (within the
    /// window), or one unnamed zero when none was.
    fn schedule(&mut self, s: &Schedule, common: Vec<CondOutcome>) -> Vec<TrancheOutcome> {
        let (p, c, year, explain) = (self.p, self.c, self.year, self.explain);
        let reached = reached_stages(s, self.firm);
        let stages = p.stage_amounts(s, year);
        let cutoff = c.window.0;
        let in_period = |d: Date| d.y == year && d >= cutoff && d <= c.window.1;
        let awarded = self.caps.awarded;
        // What later stages pay on top of: in cumulative mode, the award history and what the
        // stages reached before the window would have paid.
        let mut base = awarded
            + if s.mode == ScheduleMode::Cumulative {
                forfeited(s.mode, &stages, &reached, cutoff)
            } else {
                Decimal::ZERO
            };
        let mut out = vec![];
        for (i, (v, amt)) in stages.iter().enumerate() {
            let Some(d) = reached[i] else { continue };
            if !in_period(d) {
                continue;
            }
            let mut t = tranche_blank(&stage_name(p, s, *v));
            t.conditions = common.clone();
            if explain {
                t.amount_source = format!("{} ({})", stage_name(p, s, *v), d);
                t.amount_facts.push(FactRead {
                    fact: s.fact,
                    year: Some(year),
                    value: Value::Date(d),
                });
            }
            let a = match s.mode {
                ScheduleMode::Each => *amt,
                ScheduleMode::Cumulative => {
                    let a = (*amt - base).max(Decimal::ZERO);
                    base = base.max(*amt);
                    if explain {
                        t.awarded.push((self.cid, awarded));
                    }
                    a
                }
            };
            t.raw = Value::Money(a);
            if money::is_overflow_dec(a) {
                t.overflow = true;
            } else {
                self.caps.finish(a, &mut t);
            }
            out.push(t);
        }
        if out.is_empty() {
            let mut t = tranche_blank("");
            t.conditions = common;
            t.reason = Some(Reason::ZeroAmount);
            if explain {
                t.amount_source = format!("schedule {}", p.facts[s.fact].name);
            }
            out.push(t);
        }
        out
    }
}

/// A stage's name: its enum variant, or the number.
fn stage_name(p: &Program, s: &Schedule, v: u32) -> String {
    match p.facts[s.fact].ty {
        Ty::Enum(e) => p.enums[e].variants[v as usize].clone(),
        _ => v.to_string(),
    }
}

/// The earliest date each stage was reached.
fn reached_stages(s: &Schedule, firm: &Firm) -> Vec<Option<Date>> {
    let events = match &firm.facts[s.fact] {
        FactData::Events(es) => es.as_slice(),
        _ => &[],
    };
    s.stages
        .iter()
        .map(|(v, _)| {
            events
                .iter()
                .filter(|e| e.value == Some(*v))
                .map(|e| e.date)
                .min()
        })
        .collect()
}

/// Stages reached before the effective start never pay; in cumulative mode the highest
/// cumulative amount among them is deducted from later stages.
fn forfeited(
    mode: ScheduleMode,
    stages: &[(u32, Decimal)],
    reached: &[Option<Date>],
    cutoff: Date,
) -> Decimal {
    let cum = |i: usize| -> Decimal {
        match mode {
            ScheduleMode::Cumulative => stages[i].1,
            ScheduleMode::Each => stages[..=i].iter().map(|x| x.1).sum(),
        }
    };
    (0..stages.len())
        .filter(|&i| reached[i].is_some_and(|d| d < cutoff))
        .map(cum)
        .max()
        .unwrap_or(Decimal::ZERO)
}

fn amount_into(ev: &mut Evaluator, a: &Named, year: i32, explain: bool, t: &mut TrancheOutcome) {
    if explain {
        ev.trace = Some(Default::default());
    }
    t.raw = ev.eval(&a.expr, year);
    t.amount_source = a.source.clone();
    if let Some(tr) = ev.trace.take() {
        t.amount_facts = tr.facts;
        t.amount_tables = tr.tables;
        t.awarded = tr.awarded;
    }
}
