//! One clause for one firm and one period: conditions, amount, clause caps — with the evidence
//! an explanation needs.

use huiqi_ir::money;
use huiqi_ir::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::expr::{Evaluator, FactRead, TableHit};

/// Why an entitlement is zero (or was reduced).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A `require` failed (`missing`: for lack of data).
    Condition {
        name: String,
        missing: bool,
    },
    OutOfWindow,
    ZeroAmount,
    /// The clause's own per-period cap (`cap`).
    ClauseCap,
    TotalCap,
    Excluded {
        rule: String,
    },
    NotSelected {
        rule: String,
        rank: Option<usize>,
        top: u32,
    },
    Exclusive {
        group: String,
        winner: String,
    },
    Pool {
        pool: String,
    },
    FirmCap {
        cap: String,
    },
}

impl Reason {
    /// The name a test's `because` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Reason::Condition { name: n, missing } => n == name || (*missing && name == "数据缺失"),
            Reason::OutOfWindow => name == "有效期外",
            Reason::ZeroAmount => name == "金额为零",
            Reason::ClauseCap => name == "封顶",
            Reason::TotalCap => name == "累计上限",
            Reason::Excluded { rule } | Reason::NotSelected { rule, .. } => rule == name,
            Reason::Exclusive { group, .. } => group == name,
            Reason::Pool { pool } => pool == name,
            Reason::FirmCap { cap } => cap == name,
        }
    }
}

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
    let names: Vec<String> = match &c.body {
        ClauseBody::Amount(_) => vec![String::new()],
        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        ClauseBody::Schedule(_) => vec![],
    };
    // Effective window: the period must overlap it.
    if c.window.1 < Date::year_start(year) || c.window.0 > Date::year_end(year) {
        for n in names
            .iter()
            .cloned()
            .chain(names.is_empty().then(String::new))
        {
            let mut t = tranche_blank(&n);
            t.reason = Some(Reason::OutOfWindow);
            out.tranches.push(t);
        }
        return out;
    }
    // Clause-level conditions, in written order; the first failure is the reason.
    let mut common = vec![];
    let mut failed: Option<Reason> = None;
    for r in &c.requires {
        let o = eval_cond(&mut ev, r, year, explain);
        if failed.is_none() && !o.passed() {
            failed = Some(Reason::Condition {
                name: o.name.clone(),
                missing: o.value.is_missing(),
            });
            common.push(o);
            if !explain {
                break;
            }
            continue;
        }
        common.push(o);
    }
    let awarded_total = firm.awarded_before(cid, year);
    let rounding = p.policy.rounding;
    let finish = |amount: Decimal, cap_used: &mut Decimal, t: &mut TrancheOutcome| {
        let mut a = money::round(amount.max(Decimal::ZERO), rounding);
        if let Some(cap) = c.cap {
            let room = (cap - *cap_used).max(Decimal::ZERO);
            if a > room {
                t.adjustments.push(Adjustment {
                    reason: Reason::ClauseCap,
                    before: a,
                    after: room,
                });
                a = room;
            }
        }
        if let Some(tc) = c.total_cap {
            let room = (tc - awarded_total - *cap_used).max(Decimal::ZERO);
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
        *cap_used += a;
        if a.is_zero() && t.reason.is_none() {
            t.reason = Some(Reason::ZeroAmount);
        }
        t.amount = a;
    };
    let mut used = Decimal::ZERO;
    match &c.body {
        ClauseBody::Amount(_) | ClauseBody::Tranches(_) if failed.is_some() => {
            for n2 in &names {
                let mut t = tranche_blank(n2);
                t.conditions = common.clone();
                t.reason = failed.clone();
                if let (ClauseBody::Amount(a), true) = (&c.body, explain) {
                    t.amount_source = a.source.clone();
                }
                out.tranches.push(t);
            }
        }
        ClauseBody::Amount(a) => {
            let mut t = tranche_blank("");
            t.conditions = common;
            amount_into(&mut ev, a, year, explain, &mut t);
            let raw = t.raw.num();
            match raw {
                Some(d) => finish(d, &mut used, &mut t),
                None => {
                    t.reason = Some(Reason::Condition {
                        name: "amount".into(),
                        missing: true,
                    })
                }
            }
            out.tranches.push(t);
        }
        ClauseBody::Tranches(ts) => {
            for tr in ts {
                let mut t = tranche_blank(&tr.name);
                t.conditions = common.clone();
                let mut tfail = None;
                for r in &tr.requires {
                    let o = eval_cond(&mut ev, r, year, explain);
                    if tfail.is_none() && !o.passed() {
                        tfail = Some(Reason::Condition {
                            name: o.name.clone(),
                            missing: o.value.is_missing(),
                        });
                    }
                    t.conditions.push(o);
                    if tfail.is_some() && !explain {
                        break;
                    }
                }
                if let Some(r) = tfail {
                    t.reason = Some(r);
                    if explain {
                        t.amount_source = tr.amount.source.clone();
                    }
                } else {
                    amount_into(&mut ev, &tr.amount, year, explain, &mut t);
                    match t.raw.num() {
                        Some(d) => finish(d, &mut used, &mut t),
                        None => {
                            t.reason = Some(Reason::Condition {
                                name: "amount".into(),
                                missing: true,
                            })
                        }
                    }
                }
                out.tranches.push(t);
            }
        }
        ClauseBody::Schedule(s) => {
            let stage_name = |v: u32| -> String {
                match p.facts[s.fact].ty {
                    Ty::Enum(e) => p.enums[e].variants[v as usize].clone(),
                    _ => v.to_string(),
                }
            };
            if let Some(r) = failed {
                let mut t = tranche_blank("");
                t.conditions = common;
                t.reason = Some(r);
                out.tranches.push(t);
                return out;
            }
            let events = match &firm.facts[s.fact] {
                FactData::Events(es) => es.as_slice(),
                _ => &[],
            };
            // Earliest date each stage was reached.
            let reached: Vec<Option<Date>> = s
                .stages
                .iter()
                .map(|(v, _)| {
                    events
                        .iter()
                        .filter(|e| e.value == Some(*v))
                        .map(|e| e.date)
                        .min()
                })
                .collect();
            let cutoff = c.window.0;
            let in_period = |d: Date| d.y == year && d >= cutoff && d <= c.window.1;
            let cum = |i: usize| -> Decimal {
                match s.mode {
                    ScheduleMode::Cumulative => s.stages[i].1,
                    ScheduleMode::Each => s.stages[..=i].iter().map(|x| x.1).sum(),
                }
            };
            // Stages reached before the effective start never pay; in cumulative mode their
            // cumulative amount is deducted from later stages.
            let forfeited = (0..s.stages.len())
                .filter(|&i| reached[i].is_some_and(|d| d < cutoff))
                .map(cum)
                .max()
                .unwrap_or(Decimal::ZERO);
            let mut base = awarded_total
                + if s.mode == ScheduleMode::Cumulative {
                    forfeited
                } else {
                    Decimal::ZERO
                };
            for (i, (v, amt)) in s.stages.iter().enumerate() {
                let Some(d) = reached[i] else { continue };
                if !in_period(d) {
                    continue;
                }
                let mut t = tranche_blank(&stage_name(*v));
                t.conditions = common.clone();
                if explain {
                    t.amount_source = format!("{} ({})", stage_name(*v), d);
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
                            t.awarded.push((cid, awarded_total));
                        }
                        a
                    }
                };
                t.raw = Value::Money(a);
                finish(a, &mut used, &mut t);
                out.tranches.push(t);
            }
            if out.tranches.is_empty() {
                let mut t = tranche_blank("");
                t.conditions = common;
                t.reason = Some(Reason::ZeroAmount);
                if explain {
                    t.amount_source = format!("schedule {}", p.facts[s.fact].name);
                }
                out.tranches.push(t);
            }
        }
    }
    out
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
