//! Evaluates a population for one period and applies the cross-clause rules in their fixed
//! order: negative lists → clauses → select → exclusive (就高) → pools → firm caps.
//! Pools and caps work in integer 分 so totals are exact.

use std::cmp::Ordering;

use huiqi_ir::money::{from_fen, to_fen};
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::clause::{eval_clause, Adjustment, ClauseOutcome, Reason};
use crate::expr::{compare, Evaluator};

/// Everything one firm gets (or not) in one period.
#[derive(Clone, Debug)]
pub struct FirmOutcome {
    pub firm: usize,
    pub clauses: Vec<ClauseOutcome>,
    /// Exclusion rules that matched this firm, by name.
    pub excluded_by: Vec<String>,
}

impl FirmOutcome {
    pub fn total(&self) -> Decimal {
        self.clauses.iter().map(|c| c.total()).sum()
    }
}

fn zero_all(c: &mut ClauseOutcome, reason: Reason) {
    for t in &mut c.tranches {
        if !t.amount.is_zero() {
            t.adjustments.push(Adjustment {
                reason: reason.clone(),
                before: t.amount,
                after: Decimal::ZERO,
            });
        }
        t.amount = Decimal::ZERO;
        if t.reason.is_none() || matches!(t.reason, Some(Reason::ZeroAmount)) {
            t.reason = Some(reason.clone());
        }
    }
}

fn cmp_values(a: &Value, b: &Value, order: Order) -> Ordering {
    // Missing scores sort last whatever the direction.
    match (a.is_missing(), b.is_missing()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = compare(a, b).unwrap_or(Ordering::Equal);
            if order == Order::Desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Evaluates every firm against every clause for `year`, then allocates.
pub fn evaluate_population(
    p: &Program,
    firms: &[Firm],
    year: i32,
    explain: bool,
) -> Vec<FirmOutcome> {
    let mut outs: Vec<FirmOutcome> = firms
        .iter()
        .enumerate()
        .map(|(fi, firm)| {
            let mut excluded_by = vec![];
            let mut clauses: Vec<ClauseOutcome> = (0..p.clauses.len())
                .map(|c| eval_clause(p, c, firm, year, explain))
                .collect();
            for x in &p.excludes {
                let mut ev = Evaluator::new(p, firm, &[], false);
                if ev.eval(&x.cond.expr, year) == Value::Bool(true) {
                    excluded_by.push(x.name.clone());
                    for (ci, c) in clauses.iter_mut().enumerate() {
                        if x.clauses.as_ref().is_none_or(|cs| cs.contains(&ci)) {
                            for t in &mut c.tranches {
                                t.amount = Decimal::ZERO;
                                t.reason = Some(Reason::Excluded {
                                    rule: x.name.clone(),
                                });
                            }
                        }
                    }
                }
            }
            FirmOutcome {
                firm: fi,
                clauses,
                excluded_by,
            }
        })
        .collect();

    // Select: rank eligible firms; only the top N keep the clause.
    for s in &p.selects {
        let mut cands: Vec<(usize, Value, Vec<Value>)> = outs
            .iter()
            .filter(|o| o.clauses[s.clause].total() > Decimal::ZERO)
            .map(|o| {
                let firm = &firms[o.firm];
                let mut ev = Evaluator::new(p, firm, &[], false);
                let score = ev.eval(&s.score.expr, year);
                let ties = s.tie.iter().map(|(n, _)| ev.eval(&n.expr, year)).collect();
                (o.firm, score, ties)
            })
            .collect();
        cands.sort_by(|a, b| {
            cmp_values(&a.1, &b.1, Order::Desc)
                .then_with(|| {
                    for (i, (_, ord)) in s.tie.iter().enumerate() {
                        let o = cmp_values(&a.2[i], &b.2[i], *ord);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                })
                .then_with(|| firms[a.0].id.cmp(&firms[b.0].id))
        });
        for (rank, (fi, score, _)) in cands.iter().enumerate() {
            if rank as u32 >= s.top || score.is_missing() {
                zero_all(
                    &mut outs[*fi].clauses[s.clause],
                    Reason::NotSelected {
                        rule: s.name.clone(),
                        rank: Some(rank + 1),
                        top: s.top,
                    },
                );
            }
        }
    }

    // Exclusive groups: the highest clause per firm; ties go to the first listed.
    for g in &p.exclusives {
        for o in outs.iter_mut() {
            let mut best: Option<(ClauseId, Decimal)> = None;
            for &c in &g.clauses {
                let t = o.clauses[c].total();
                if t > Decimal::ZERO && best.is_none_or(|(_, b)| t > b) {
                    best = Some((c, t));
                }
            }
            if let Some((w, _)) = best {
                for &c in &g.clauses {
                    if c != w && o.clauses[c].total() > Decimal::ZERO {
                        zero_all(
                            &mut o.clauses[c],
                            Reason::Exclusive {
                                group: g.name.clone(),
                                winner: p.clauses[w].name.clone(),
                            },
                        );
                    }
                }
            }
        }
    }

    // Pools.
    for pool in &p.pools {
        // (firm index, clause, tranche index, 分)
        let mut claims: Vec<(usize, ClauseId, usize, i64)> = vec![];
        for (oi, o) in outs.iter().enumerate() {
            for &c in &pool.clauses {
                for (ti, t) in o.clauses[c].tranches.iter().enumerate() {
                    let f = to_fen(t.amount);
                    if f > 0 {
                        claims.push((oi, c, ti, f));
                    }
                }
            }
        }
        let demand: i128 = claims.iter().map(|c| c.3 as i128).sum();
        let budget = to_fen(pool.budget) as i128;
        if demand <= budget {
            continue;
        }
        let shares: Vec<i64> = match &pool.method {
            PoolMethod::ProRata => {
                let mut base: Vec<i64> = claims
                    .iter()
                    .map(|c| ((c.3 as i128 * budget) / demand) as i64)
                    .collect();
                let rem: Vec<i128> = claims
                    .iter()
                    .map(|c| (c.3 as i128 * budget) % demand)
                    .collect();
                let mut left = budget - base.iter().map(|&b| b as i128).sum::<i128>();
                let mut order: Vec<usize> = (0..claims.len()).collect();
                // Largest remainder first; ties by credit code, then clause and tranche order.
                order.sort_by(|&a, &b| {
                    rem[b]
                        .cmp(&rem[a])
                        .then_with(|| {
                            firms[outs[claims[a].0].firm]
                                .id
                                .cmp(&firms[outs[claims[b].0].firm].id)
                        })
                        .then_with(|| (claims[a].1, claims[a].2).cmp(&(claims[b].1, claims[b].2)))
                });
                for i in order {
                    if left == 0 {
                        break;
                    }
                    base[i] += 1;
                    left -= 1;
                }
                base
            }
            PoolMethod::ByScore(score, ord) => {
                let scores: Vec<Value> = claims
                    .iter()
                    .map(|c| {
                        Evaluator::new(p, &firms[outs[c.0].firm], &[], false)
                            .eval(&score.expr, year)
                    })
                    .collect();
                let mut order: Vec<usize> = (0..claims.len()).collect();
                order.sort_by(|&a, &b| {
                    cmp_values(&scores[a], &scores[b], *ord)
                        .then_with(|| {
                            firms[outs[claims[a].0].firm]
                                .id
                                .cmp(&firms[outs[claims[b].0].firm].id)
                        })
                        .then_with(|| (claims[a].1, claims[a].2).cmp(&(claims[b].1, claims[b].2)))
                });
                let mut left = budget as i64;
                let mut out = vec![0i64; claims.len()];
                for i in order {
                    let give = claims[i].3.min(left);
                    out[i] = give;
                    left -= give;
                }
                out
            }
        };
        for (k, (oi, c, ti, f)) in claims.iter().enumerate() {
            let t = &mut outs[*oi].clauses[*c].tranches[*ti];
            if shares[k] != *f {
                t.adjustments.push(Adjustment {
                    reason: Reason::Pool {
                        pool: pool.name.clone(),
                    },
                    before: from_fen(*f),
                    after: from_fen(shares[k]),
                });
                t.amount = from_fen(shares[k]);
                if shares[k] == 0 {
                    t.reason = Some(Reason::Pool {
                        pool: pool.name.clone(),
                    });
                }
            }
        }
    }

    // Firm caps: cut the lowest-priority clauses first (later tranches first).
    for cap in &p.firm_caps {
        for o in outs.iter_mut() {
            let total = o.total();
            if total <= cap.limit {
                continue;
            }
            let mut excess = total - cap.limit;
            for &c in cap.priority.iter().rev() {
                for t in o.clauses[c].tranches.iter_mut().rev() {
                    if excess.is_zero() {
                        break;
                    }
                    if t.amount.is_zero() {
                        continue;
                    }
                    let cut = t.amount.min(excess);
                    let before = t.amount;
                    t.amount -= cut;
                    excess -= cut;
                    t.adjustments.push(Adjustment {
                        reason: Reason::FirmCap {
                            cap: cap.name.clone(),
                        },
                        before,
                        after: t.amount,
                    });
                    if t.amount.is_zero() {
                        t.reason = Some(Reason::FirmCap {
                            cap: cap.name.clone(),
                        });
                    }
                }
            }
        }
    }
    outs
}
