//! A run's results column-wise, and how they are made from the collected batches (`rows.rs`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{Int32Type, UInt32Type};
use datafusion::arrow::record_batch::RecordBatch;
use huiqi_ir::Program;

use crate::allocate::{OVERFLOW_COL, SCORE_OVERFLOW_COL};
use crate::compile::Compiler;
use crate::error::Error;
use crate::exec::{column, firm_index};
use crate::{clause, rows, Reasons};

type R<T> = crate::error::Result<T>;

/// One result row: a firm × clause × tranche.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    // Shared strings: a 1M-firm run has ~11M rows but only 1M firms and a few dozen tranches.
    pub firm_id: Arc<str>,
    pub clause: Arc<str>,
    pub tranche: Arc<str>,
    /// 分.
    pub amount_fen: i64,
    /// Why zero (or cut), as the results carry it (`huiqi_ir::reason::Reason::result_text`):
    /// `cond:名称`, `miss:名称`, `window`, `zero`, `totalcap`, `excl:规则`, `select:规则`,
    /// `exclusive:组`, `pool:资金池`, `firmcap:上限`.
    pub reason: Option<Arc<str>>,
}

/// A run's results column-wise: entry i is one firm × clause × tranche row, in output order
/// (credit code, then clause order, then tranche order). Firm, clause, tranche and reason texts
/// are stored once and referenced by index.
#[derive(Clone, Debug)]
pub struct Results {
    /// Credit codes, sorted.
    pub firm_ids: StringArray,
    /// Per slot (clause × tranche): clause and tranche names.
    pub clauses: Vec<Arc<str>>,
    pub tranches: Vec<Arc<str>>,
    pub reasons: Reasons,
    pub firm: Vec<u32>,
    pub slot: Vec<u32>,
    /// 分.
    pub amount_fen: Vec<i64>,
    /// Reason code (0: none).
    pub reason: Vec<u32>,
    /// With `Options::standalone`: each row's stand-alone amount in 分 — the clause's own,
    /// before the cross-clause rules. Empty otherwise.
    pub standalone_fen: Vec<i64>,
}

impl Default for Results {
    fn default() -> Self {
        Results {
            firm_ids: StringArray::from(Vec::<&str>::new()),
            clauses: vec![],
            tranches: vec![],
            reasons: Reasons::default(),
            firm: vec![],
            slot: vec![],
            amount_fen: vec![],
            reason: vec![],
            standalone_fen: vec![],
        }
    }
}

impl Results {
    /// Firms evaluated (rows are only those of present slots).
    pub fn firms(&self) -> usize {
        self.firm_ids.len()
    }
    pub fn len(&self) -> usize {
        self.firm.len()
    }
    pub fn is_empty(&self) -> bool {
        self.firm.is_empty()
    }
    pub fn firm_id(&self, i: usize) -> &str {
        self.firm_ids.value(self.firm[i] as usize)
    }
    pub fn clause(&self, i: usize) -> &str {
        &self.clauses[self.slot[i] as usize]
    }
    pub fn tranche(&self, i: usize) -> &str {
        &self.tranches[self.slot[i] as usize]
    }
    pub fn reason(&self, i: usize) -> Option<&str> {
        self.reasons.text(self.reason[i])
    }
    /// Row by row (for comparisons and small runs).
    pub fn rows(&self) -> Vec<Row> {
        let firms: Vec<Arc<str>> = (0..self.firm_ids.len())
            .map(|f| self.firm_ids.value(f).into())
            .collect();
        (0..self.len())
            .map(|i| Row {
                firm_id: firms[self.firm[i] as usize].clone(),
                clause: self.clauses[self.slot[i] as usize].clone(),
                tranche: self.tranches[self.slot[i] as usize].clone(),
                amount_fen: self.amount_fen[i],
                reason: self.reasons.shared(self.reason[i]),
            })
            .collect()
    }
}

/// Firm positions in credit-code order.
pub(crate) fn credit_order(ids: &StringArray) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|a, b| ids.value(*a).cmp(ids.value(*b)));
    order
}

/// The first overflowed amount (`allocate::OVERFLOW_COL`): the least credit code, then the
/// least slot — as the reference evaluator names it.
fn first_overflow(batches: &[RecordBatch], firm_ids: &StringArray) -> R<Option<(String, usize)>> {
    first_flagged(batches, firm_ids, OVERFLOW_COL, false)
}

/// The first ranking score beyond exact arithmetic (`allocate::SCORE_OVERFLOW_COL`): the
/// least rule index, then the least credit code — as the reference evaluator names it.
fn first_score_overflow(
    batches: &[RecordBatch],
    firm_ids: &StringArray,
) -> R<Option<(String, usize)>> {
    first_flagged(batches, firm_ids, SCORE_OVERFLOW_COL, true)
}

/// The (credit code, value) of the first non-null Int32 in column `name`, least credit code
/// first — or, `value_first`, least value first and then credit code.
fn first_flagged(
    batches: &[RecordBatch],
    firm_ids: &StringArray,
    name: &str,
    value_first: bool,
) -> R<Option<(String, usize)>> {
    let mut first: Option<(&str, usize)> = None;
    // Compared as (value, credit code) or (credit code, value).
    fn key(value_first: bool, (f, v): (&str, usize)) -> (usize, &str, usize) {
        if value_first {
            (v, f, 0)
        } else {
            (0, f, v)
        }
    }
    for b in batches {
        let ov = column(b, name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| format!("{name} column is not Int32"))?;
        if ov.null_count() == ov.len() {
            continue;
        }
        let fi = firm_index(b)?;
        let fi = fi.as_primitive::<UInt32Type>();
        for i in (0..ov.len()).filter(|&i| ov.is_valid(i)) {
            let f = fi.value(i) as usize;
            if f >= firm_ids.len() {
                return Err(Error::engine(format!("overflow of unknown firm index {f}")));
            }
            let here = (firm_ids.value(f), ov.value(i) as usize);
            if first.is_none_or(|x| key(value_first, here) < key(value_first, x)) {
                first = Some(here);
            }
        }
    }
    Ok(first.map(|(f, s)| (f.to_string(), s)))
}

/// The collected rows as `Results` (`rows.rs`).
pub(crate) fn res_from(
    p: &Program,
    cm: &Compiler<'_>,
    plan: &clause::Plan,
    batches: &[RecordBatch],
    firm_ids: StringArray,
    sorted: bool,
) -> R<Results> {
    if let Some((firm, slot)) = first_overflow(batches, &firm_ids)? {
        let clause = plan
            .slots
            .get(slot)
            .and_then(|s| p.clauses.get(s.clause))
            .map(|c| c.name.clone())
            .unwrap_or_default();
        return Err(Error::Overflow { firm, clause });
    }
    if let Some((firm, r)) = first_score_overflow(batches, &firm_ids)? {
        let rule = match r.checked_sub(p.selects.len()) {
            None => p.selects.get(r).map(|s| s.name.clone()),
            Some(k) => match k.checked_sub(p.pools.len()) {
                None => p.pools.get(k).map(|x| x.name.clone()),
                Some(g) => p.group_caps.get(g).map(|x| x.name.clone()),
            },
        };
        let rule = rule.unwrap_or_default();
        return Err(Error::ScoreOverflow { firm, rule });
    }
    let n = firm_ids.len();
    let ns = plan.slots.len();
    // The plan's reason codes are the results' (both number texts from 1 in first-use order).
    let mut reasons = Reasons::default();
    for (i, t) in cm.reason_texts.borrow().iter().enumerate() {
        if reasons.code(t) != i as u32 + 1 {
            return Err(Error::engine(format!("reason {t} numbered twice")));
        }
    }
    let clause_names: Vec<Arc<str>> = p.clauses.iter().map(|c| c.name.as_str().into()).collect();
    // Slots of each clause, in tranche order.
    let mut by_clause: Vec<usize> = (0..ns).collect();
    by_clause.sort_by_key(|&s| plan.slots[s].clause); // stable: tranche order within a clause
    let mut res = Results {
        clauses: plan
            .slots
            .iter()
            .map(|s| clause_names[s.clause].clone())
            .collect(),
        tranches: plan
            .slots
            .iter()
            .map(|s| s.tranche.as_str().into())
            .collect(),
        ..Default::default()
    };
    // Sorted firms and batches of consecutive firms: the runs are copied on every core.
    // Otherwise each batch's rows are placed by per-firm counts.
    let direct = match sorted {
        true => rows::runs(batches, n, ns)?,
        false => None,
    };
    if let Some(runs) = direct {
        rows::fill(&runs, &by_clause, &mut res);
        res.firm_ids = firm_ids;
    } else {
        res.firm_ids = rows::scatter(batches, firm_ids, sorted, ns, &by_clause, &mut res)?;
    }
    res.reasons = reasons;
    Ok(res)
}
