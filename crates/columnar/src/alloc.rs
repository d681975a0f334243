//! The allocation stage over the evaluated columns, in the reference's order: negative lists →
//! select → exclusive (就高) → pools (largest remainder, integer 分) → firm caps.
//! Runs as passes over Arrow arrays (one firm per index); see ARCHITECTURE.md.

use std::cmp::Ordering;

use datafusion::arrow::array::Array;
use huiqi_ir::*;

use crate::clause::Slot;

/// A sortable cell of a score or tie-break column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Num(i128),
    Text(String),
    Bool(bool),
}

fn cmp_cells(a: &Cell, b: &Cell, desc: bool) -> Ordering {
    let o = match (a, b) {
        (Cell::Null, Cell::Null) => return Ordering::Equal,
        (Cell::Null, _) => return Ordering::Greater,
        (_, Cell::Null) => return Ordering::Less,
        (Cell::Num(x), Cell::Num(y)) => x.cmp(y),
        (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// Reason texts by code: millions of rows share a few dozen reasons. Code 0 is "no reason".
#[derive(Clone, Debug)]
pub struct Reasons {
    texts: Vec<std::sync::Arc<str>>,
    codes: std::collections::HashMap<std::sync::Arc<str>, u32>,
}

impl Default for Reasons {
    fn default() -> Self {
        Reasons {
            texts: vec!["".into()],
            codes: Default::default(),
        }
    }
}

impl Reasons {
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(c) = self.codes.get(text) {
            return *c;
        }
        let c = self.texts.len() as u32;
        let t: std::sync::Arc<str> = text.into();
        self.texts.push(t.clone());
        self.codes.insert(t, c);
        c
    }

    pub fn text(&self, code: u32) -> Option<&str> {
        (code != 0).then(|| &*self.texts[code as usize])
    }

    pub fn shared(&self, code: u32) -> Option<std::sync::Arc<str>> {
        (code != 0).then(|| self.texts[code as usize].clone())
    }
}

pub struct Table {
    /// Credit codes by firm position (an Arrow array: no per-firm String).
    pub firm_ids: datafusion::arrow::array::StringArray,
    pub slots: Vec<Slot>,
    /// [slot][firm] in 分.
    pub amount: Vec<Vec<i64>>,
    /// [slot][firm] reason code (0: none), texts in `reasons`.
    pub reason: Vec<Vec<u32>>,
    pub reasons: Reasons,
    pub present: Vec<Vec<bool>>,
    pub excludes: Vec<Vec<bool>>,
    /// Per select: score and tie columns.
    pub selects: Vec<(Vec<Cell>, Vec<Vec<Cell>>)>,
    pub pool_scores: Vec<Option<Vec<Cell>>>,
}

impl Table {
    fn clause_slots(&self, c: ClauseId) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].clause == c)
            .collect()
    }

    // Called per firm and clause: no allocation.
    fn clause_total(&self, c: ClauseId, f: usize) -> i64 {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].clause == c && self.present[s][f])
            .map(|s| self.amount[s][f])
            .sum()
    }

    fn zero_all(&mut self, c: ClauseId, f: usize, reason: &str) {
        for s in 0..self.slots.len() {
            if self.slots[s].clause != c || !self.present[s][f] {
                continue;
            }
            self.amount[s][f] = 0;
            let r = self.reason[s][f];
            if r == 0 || self.reasons.text(r) == Some("zero") {
                self.reason[s][f] = self.reasons.code(reason);
            }
        }
    }

    pub fn allocate(&mut self, p: &Program) {
        let n = self.firm_ids.len();
        for (k, x) in p.excludes.iter().enumerate() {
            for f in 0..n {
                if !self.excludes[k][f] {
                    continue;
                }
                for s in 0..self.slots.len() {
                    let c = self.slots[s].clause;
                    if self.present[s][f] && x.clauses.as_ref().is_none_or(|cs| cs.contains(&c)) {
                        self.amount[s][f] = 0;
                        self.reason[s][f] = self.reasons.code(&format!("excl:{}", x.name));
                    }
                }
            }
        }
        for (k, sel) in p.selects.iter().enumerate() {
            let mut cands: Vec<usize> = (0..n)
                .filter(|&f| self.clause_total(sel.clause, f) > 0)
                .collect();
            let (score, ties) = &self.selects[k];
            cands.sort_by(|&a, &b| {
                cmp_cells(&score[a], &score[b], true)
                    .then_with(|| {
                        for (j, (_, ord)) in sel.tie.iter().enumerate() {
                            let o = cmp_cells(&ties[j][a], &ties[j][b], *ord == Order::Desc);
                            if o != Ordering::Equal {
                                return o;
                            }
                        }
                        Ordering::Equal
                    })
                    .then_with(|| self.firm_ids.value(a).cmp(self.firm_ids.value(b)))
            });
            let losers: Vec<usize> = cands
                .iter()
                .enumerate()
                .filter(|(rank, f)| *rank as u32 >= sel.top || score[**f] == Cell::Null)
                .map(|(_, f)| *f)
                .collect();
            for f in losers {
                self.zero_all(sel.clause, f, &format!("select:{}", sel.name));
            }
        }
        for g in &p.exclusives {
            for f in 0..n {
                let mut best: Option<(ClauseId, i64)> = None;
                for &c in &g.clauses {
                    let t = self.clause_total(c, f);
                    if t > 0 && best.is_none_or(|(_, b)| t > b) {
                        best = Some((c, t));
                    }
                }
                if let Some((w, _)) = best {
                    for &c in &g.clauses {
                        if c != w && self.clause_total(c, f) > 0 {
                            self.zero_all(c, f, &format!("exclusive:{}", g.name));
                        }
                    }
                }
            }
        }
        for (k, pool) in p.pools.iter().enumerate() {
            // (firm, clause, index among the clause's present slots, slot, 分)
            let mut claims: Vec<(usize, ClauseId, usize, usize, i64)> = vec![];
            for f in 0..n {
                for &c in &pool.clauses {
                    let mut ti = 0;
                    for s in self.clause_slots(c) {
                        if !self.present[s][f] {
                            continue;
                        }
                        if self.amount[s][f] > 0 {
                            claims.push((f, c, ti, s, self.amount[s][f]));
                        }
                        ti += 1;
                    }
                }
            }
            let demand: i128 = claims.iter().map(|c| c.4 as i128).sum();
            let budget = money::to_fen(pool.budget) as i128;
            if demand <= budget {
                continue;
            }
            let tie = |a: &(usize, ClauseId, usize, usize, i64),
                       b: &(usize, ClauseId, usize, usize, i64)| {
                self.firm_ids
                    .value(a.0)
                    .cmp(self.firm_ids.value(b.0))
                    .then_with(|| (a.1, a.2).cmp(&(b.1, b.2)))
            };
            let shares: Vec<i64> = match &pool.method {
                PoolMethod::ProRata => {
                    let mut base: Vec<i64> = claims
                        .iter()
                        .map(|c| ((c.4 as i128 * budget) / demand) as i64)
                        .collect();
                    let rem: Vec<i128> = claims
                        .iter()
                        .map(|c| (c.4 as i128 * budget) % demand)
                        .collect();
                    let mut left = budget - base.iter().map(|&b| b as i128).sum::<i128>();
                    let mut order: Vec<usize> = (0..claims.len()).collect();
                    order.sort_by(|&a, &b| {
                        rem[b]
                            .cmp(&rem[a])
                            .then_with(|| tie(&claims[a], &claims[b]))
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
                PoolMethod::ByScore(_, ord) => {
                    let scores = self.pool_scores[k].as_ref().expect("pool score column");
                    let mut order: Vec<usize> = (0..claims.len()).collect();
                    order.sort_by(|&a, &b| {
                        cmp_cells(
                            &scores[claims[a].0],
                            &scores[claims[b].0],
                            *ord == Order::Desc,
                        )
                        .then_with(|| tie(&claims[a], &claims[b]))
                    });
                    let mut left = budget as i64;
                    let mut out = vec![0i64; claims.len()];
                    for i in order {
                        let give = claims[i].4.min(left);
                        out[i] = give;
                        left -= give;
                    }
                    out
                }
            };
            for (i, c) in claims.iter().enumerate() {
                if shares[i] != c.4 {
                    self.amount[c.3][c.0] = shares[i];
                    if shares[i] == 0 {
                        self.reason[c.3][c.0] = self.reasons.code(&format!("pool:{}", pool.name));
                    }
                }
            }
        }
        for cap in &p.firm_caps {
            let limit = money::to_fen(cap.limit);
            for f in 0..n {
                let total: i64 = (0..self.slots.len())
                    .filter(|&s| self.present[s][f])
                    .map(|s| self.amount[s][f])
                    .sum();
                if total <= limit {
                    continue;
                }
                let mut excess = total - limit;
                for &c in cap.priority.iter().rev() {
                    for s in self.clause_slots(c).into_iter().rev() {
                        if excess == 0 {
                            break;
                        }
                        if !self.present[s][f] || self.amount[s][f] == 0 {
                            continue;
                        }
                        let cut = self.amount[s][f].min(excess);
                        self.amount[s][f] -= cut;
                        excess -= cut;
                        if self.amount[s][f] == 0 {
                            self.reason[s][f] = self.reasons.code(&format!("firmcap:{}", cap.name));
                        }
                    }
                }
            }
        }
    }
}
