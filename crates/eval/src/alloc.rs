//! Evaluates a population for one period and applies the cross-clause rules in their fixed
//! order: negative lists → clauses → select → exclusive (就高) → pools → firm caps → group caps.
//! Pools and caps work in integer 分 so totals are exact.

use std::cmp::Ordering;

use huiqi_ir::exact;
use huiqi_ir::money::{from_fen, to_fen};
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::clause::{eval_clause, Adjustment, ClauseOutcome, Reason};
use crate::expr::Evaluator;

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
        if t.reason.as_ref().is_none_or(Reason::yields_to_rule) {
            t.reason = Some(reason.clone());
        }
    }
}

/// An amount beyond the range of exact arithmetic (`huiqi_ir::money::MAX_SCALED`, about
/// 7.9×10¹⁶ 元), or a ranking score that used such a value: the firm (its credit code) and the
/// clause (for a score: the `select` or `pool`). Such an amount is never paid; the columnar
/// engine refuses the run with the same firm and clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    pub firm: String,
    pub clause: String,
    /// A ranking score (of the rule `clause`), not an amount.
    pub score: bool,
}

impl Overflow {
    /// The message in Chinese.
    pub fn zh(&self) -> String {
        if self.score {
            format!(
                "企业 {}，规则“{}”：排序分值超出精确计算的范围（溢出），不予计算",
                self.firm, self.clause
            )
        } else {
            format!(
                "企业 {}，条款“{}”：金额超出精确计算的范围（溢出），不予计算",
                self.firm, self.clause
            )
        }
    }
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.score {
            write!(
                f,
                "firm {}, rule {}: the ranking score is beyond the range of exact arithmetic (overflow)",
                self.firm, self.clause
            )
        } else {
            write!(
                f,
                "firm {}, clause {}: the amount is beyond the range of exact arithmetic (overflow)",
                self.firm, self.clause
            )
        }
    }
}

/// The first overflowed amount in credit-code order, then clause order (the one the columnar
/// engine names), if any.
pub fn first_overflow(p: &Program, firms: &[Firm], outs: &[FirmOutcome]) -> Option<Overflow> {
    outs.iter()
        .flat_map(|o| {
            o.clauses
                .iter()
                .filter(|c| c.tranches.iter().any(|t| t.overflow))
                .map(move |c| (firms[o.firm].id.as_str(), c.clause))
        })
        .min()
        .map(|(firm, c)| Overflow {
            firm: firm.to_string(),
            clause: p.clauses[c].name.clone(),
            score: false,
        })
}

/// [`evaluate_population`], refused when an amount overflowed ([`first_overflow`]) or, failing
/// that, when a ranking score did (the first rule in order, at its first firm by credit code).
pub fn try_evaluate_population(
    p: &Program,
    firms: &[Firm],
    year: i32,
    explain: bool,
) -> Result<Vec<FirmOutcome>, Overflow> {
    match evaluate_population_checked(p, firms, year, explain) {
        (_, Some(o)) => Err(o),
        (outs, None) => Ok(outs),
    }
}

/// [`evaluate_population`] with the overflow [`try_evaluate_population`] refuses, if any.
pub fn evaluate_population_checked(
    p: &Program,
    firms: &[Firm],
    year: i32,
    explain: bool,
) -> (Vec<FirmOutcome>, Option<Overflow>) {
    let (outs, score) = allocate(p, firms, year, explain);
    let overflow = first_overflow(p, firms, &outs).or(score);
    (outs, overflow)
}

/// Evaluates every firm against every clause for `year`, then allocates. An amount that
/// overflowed is 0 with `TrancheOutcome::overflow` set: see [`try_evaluate_population`].
pub fn evaluate_population(
    p: &Program,
    firms: &[Firm],
    year: i32,
    explain: bool,
) -> Vec<FirmOutcome> {
    allocate(p, firms, year, explain).0
}

/// The population's outcomes and the first ranking score that overflowed, if any (that firm
/// is ranked as if its score were missing).
fn allocate(
    p: &Program,
    firms: &[Firm],
    year: i32,
    explain: bool,
) -> (Vec<FirmOutcome>, Option<Overflow>) {
    let mut score_overflow = None;
    let mut outs: Vec<FirmOutcome> = firms
        .iter()
        .enumerate()
        .map(|(fi, firm)| evaluate_firm(p, fi, firm, year, explain))
        .collect();
    for s in &p.selects {
        let o = select(p, s, firms, year, &mut outs);
        score_overflow = score_overflow.or(o);
    }
    for g in &p.exclusives {
        for o in outs.iter_mut() {
            exclusive(p, g, o);
        }
    }
    for pool in &p.pools {
        let o = share_pool(p, pool, firms, year, &mut outs);
        score_overflow = score_overflow.or(o);
    }
    for cap in &p.firm_caps {
        for o in outs.iter_mut() {
            firm_cap(cap_room(p, cap, &firms[o.firm], year), cap, o);
        }
    }
    for cap in &p.group_caps {
        let o = group_cap(p, cap, firms, year, &mut outs);
        score_overflow = score_overflow.or(o);
    }
    (outs, score_overflow)
}

/// One firm's clauses, then the negative lists that zero them (the first matching rule, in
/// the text's order, names the reason).
fn evaluate_firm(p: &Program, fi: usize, firm: &Firm, year: i32, explain: bool) -> FirmOutcome {
    let mut excluded_by = vec![];
    let mut clauses: Vec<ClauseOutcome> = (0..p.clauses.len())
        .map(|c| eval_clause(p, c, firm, year, explain))
        .collect();
    for x in &p.excludes {
        let mut ev = Evaluator::new(p, firm, &[], false);
        if ev.eval(&x.cond.expr, year) != Value::Bool(true) {
            continue;
        }
        excluded_by.push(x.name.clone());
        for (ci, c) in clauses.iter_mut().enumerate() {
            if x.clauses.as_ref().is_none_or(|cs| cs.contains(&ci)) {
                for t in &mut c.tranches {
                    t.amount = Decimal::ZERO;
                    // The first matching list in the text's order names the reason.
                    if !matches!(t.reason, Some(Reason::Excluded { .. })) {
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
}

/// A ranking key's exact value for one firm (`huiqi_ir::exact`): its leaves evaluated like any
/// expression, its arithmetic done on fractions.
fn exact_key(p: &Program, firm: &Firm, key: &exact::Score, year: i32) -> exact::Exact {
    let mut ev = Evaluator::new(p, firm, &[], false);
    let leaves: Vec<Value> = key.leaves.iter().map(|l| ev.eval(l, year)).collect();
    key.eval(&leaves)
}

/// The first firm (by credit code) whose key overflowed, as the rule's overflow.
fn key_overflow<'f>(
    rule: &str,
    mut firms: impl Iterator<Item = (&'f str, bool)>,
) -> Option<Overflow> {
    let first = firms.by_ref().filter(|(_, ov)| *ov).map(|(f, _)| f).min()?;
    Some(Overflow {
        firm: first.to_string(),
        clause: rule.to_string(),
        score: true,
    })
}

/// Select: rank the firms the clause pays by score, ties, credit code — compared exactly; only
/// the top N keep it (a missing score never does). Returns a score or tie that overflowed.
fn select(
    p: &Program,
    s: &Select,
    firms: &[Firm],
    year: i32,
    outs: &mut [FirmOutcome],
) -> Option<Overflow> {
    let score = exact::Score::new(&s.score.expr);
    let ties: Vec<(exact::Score, Order)> = s
        .tie
        .iter()
        .map(|(n, o)| (exact::Score::new(&n.expr), *o))
        .collect();
    let mut cands: Vec<(usize, exact::Exact, Vec<exact::Exact>)> = outs
        .iter()
        .filter(|o| o.clauses[s.clause].total() > Decimal::ZERO)
        .map(|o| {
            let firm = &firms[o.firm];
            let key = exact_key(p, firm, &score, year);
            let ties = ties
                .iter()
                .map(|(t, _)| exact_key(p, firm, t, year))
                .collect();
            (o.firm, key, ties)
        })
        .collect();
    let overflow = key_overflow(
        &s.name,
        cands.iter().map(|(fi, k, t)| {
            let ov = std::iter::once(k)
                .chain(t)
                .any(|x| *x == exact::Exact::Overflow);
            (firms[*fi].id.as_str(), ov)
        }),
    );
    cands.sort_by(|a, b| {
        exact::cmp_keys(&a.1, &b.1, Order::Desc)
            .then_with(|| {
                for (i, (_, ord)) in ties.iter().enumerate() {
                    let o = exact::cmp_keys(&a.2[i], &b.2[i], *ord);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            })
            .then_with(|| firms[a.0].id.cmp(&firms[b.0].id))
    });
    let top = p.top(s, year);
    for (rank, (fi, score, _)) in cands.iter().enumerate() {
        if rank as u32 >= top || !matches!(score, exact::Exact::Value(_)) {
            zero_all(
                &mut outs[*fi].clauses[s.clause],
                Reason::NotSelected {
                    rule: s.name.clone(),
                    rank: Some(rank + 1),
                    top,
                },
            );
        }
    }
    overflow
}

/// Exclusive group (就高): the firm keeps its highest clause; ties go to the first listed.
fn exclusive(p: &Program, g: &Exclusive, o: &mut FirmOutcome) {
    let mut best: Option<(ClauseId, Decimal)> = None;
    for &c in &g.clauses {
        let t = o.clauses[c].total();
        if t > Decimal::ZERO && best.is_none_or(|(_, b)| t > b) {
            best = Some((c, t));
        }
    }
    let Some((w, _)) = best else { return };
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

/// A claim on a pool: (firm outcome, clause, tranche index, 分).
type Claim = (usize, ClauseId, usize, i64);

/// A pool: when the claims on it exceed its budget, each tranche gets its share in 分.
fn share_pool(
    p: &Program,
    pool: &Pool,
    firms: &[Firm],
    year: i32,
    outs: &mut [FirmOutcome],
) -> Option<Overflow> {
    let mut claims: Vec<Claim> = vec![];
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
    let budget = to_fen(p.figure(&pool.budget, year)) as i128;
    if demand <= budget {
        return None;
    }
    // Ties by credit code, then clause and tranche order.
    let by_firm = |a: &Claim, b: &Claim| {
        firms[outs[a.0].firm]
            .id
            .cmp(&firms[outs[b.0].firm].id)
            .then_with(|| (a.1, a.2).cmp(&(b.1, b.2)))
    };
    let mut overflow = None;
    let shares: Vec<i64> = match &pool.method {
        PoolMethod::ProRata => pro_rata(&claims, budget, demand, by_firm),
        PoolMethod::ByScore(score, ord) => {
            // Only an oversubscribed pool ranks its claims (the columnar engine likewise).
            let score = exact::Score::new(&score.expr);
            let scores: Vec<exact::Exact> = claims
                .iter()
                .map(|c| exact_key(p, &firms[outs[c.0].firm], &score, year))
                .collect();
            overflow = key_overflow(
                &pool.name,
                claims.iter().zip(&scores).map(|(c, k)| {
                    (
                        firms[outs[c.0].firm].id.as_str(),
                        *k == exact::Exact::Overflow,
                    )
                }),
            );
            by_score(&claims, &scores, *ord, budget, by_firm)
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
    overflow
}

/// Pro rata: every claim's floor share of the budget, then the 分 left over one each to the
/// largest remainders (ties by `tie`).
fn pro_rata(
    claims: &[Claim],
    budget: i128,
    demand: i128,
    tie: impl Fn(&Claim, &Claim) -> Ordering,
) -> Vec<i64> {
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

/// By score: full claims in score order (ties by `tie`) while the budget lasts; the marginal
/// claim gets the remainder.
fn by_score(
    claims: &[Claim],
    scores: &[exact::Exact],
    ord: Order,
    budget: i128,
    tie: impl Fn(&Claim, &Claim) -> Ordering,
) -> Vec<i64> {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by(|&a, &b| {
        exact::cmp_keys(&scores[a], &scores[b], ord).then_with(|| tie(&claims[a], &claims[b]))
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

/// What a firm cap spanning several years (`over N年`) has already used: the firm's award
/// history for the clauses it covers (its pack's, and any of another pack it names) in the
/// N − 1 periods before `year` (0 for a cap per period).
pub fn cap_used(cap: &FirmCap, firm: &Firm, year: i32) -> Decimal {
    let from = year - (cap.years as i32 - 1);
    // Checked: a doctored history can hold amounts whose sum no decimal holds; it leaves no room.
    firm.awards
        .iter()
        .filter(|a| a.period >= from && a.period < year && cap.priority.contains(&a.clause))
        .try_fold(Decimal::ZERO, |t, a| t.checked_add(a.amount))
        .unwrap_or(Decimal::MAX)
}

/// What a firm cap leaves a firm this period: its limit less [`cap_used`], within 0 ..= the
/// limit (a negative history, a recovery, frees no extra room).
pub fn cap_room(p: &Program, cap: &FirmCap, firm: &Firm, year: i32) -> Decimal {
    let limit = p.figure(&cap.limit, year);
    (limit - cap_used(cap, firm, year))
        .max(Decimal::ZERO)
        .min(limit)
}

/// The group a firm belongs to for a group cap: the value of the cap's text fact in `year`
/// (None: the firm is a group of its own).
pub fn group_of(cap: &GroupCap, firm: &Firm, year: i32) -> Option<String> {
    match firm.value_at(cap.by, year) {
        Value::Text(t) if !t.is_empty() => Some(t),
        _ => None,
    }
}

/// A group cap: the members of each group (firms with a positive covered amount) are served in
/// the declared order — ties, and a missing key, by credit code — each getting what is left of
/// the group's room; a member's excess is cut from its lowest-priority clause (later tranches
/// first). Returns an order key that overflowed.
fn group_cap(
    p: &Program,
    cap: &GroupCap,
    firms: &[Firm],
    year: i32,
    outs: &mut [FirmOutcome],
) -> Option<Overflow> {
    let covered =
        |o: &FirmOutcome| -> Decimal { cap.clauses.iter().map(|&c| o.clauses[c].total()).sum() };
    // (outcome index, group, covered amount, key)
    let mut members: Vec<(usize, Option<String>, Decimal, exact::Exact)> = vec![];
    let key = match &cap.order {
        GroupOrder::Key(n, _) => Some(exact::Score::new(&n.expr)),
        GroupOrder::Amount(_) => None,
    };
    for (oi, o) in outs.iter().enumerate() {
        let amount = covered(o);
        if amount <= Decimal::ZERO {
            continue;
        }
        let firm = &firms[o.firm];
        let k = match &key {
            Some(k) => exact_key(p, firm, k, year),
            None => exact::Exact::Missing,
        };
        members.push((oi, group_of(cap, firm, year), amount, k));
    }
    let overflow = key_overflow(
        &cap.name,
        members.iter().map(|m| {
            (
                firms[outs[m.0].firm].id.as_str(),
                m.3 == exact::Exact::Overflow,
            )
        }),
    );
    let id = |m: &(usize, Option<String>, Decimal, exact::Exact)| firms[outs[m.0].firm].id.as_str();
    // A firm without a group is a group of its own: keyed by its credit code, apart from names.
    members.sort_by(|a, b| {
        let ga = (a.1.is_none(), a.1.as_deref().unwrap_or(id(a)));
        let gb = (b.1.is_none(), b.1.as_deref().unwrap_or(id(b)));
        ga.cmp(&gb)
            .then_with(|| match &cap.order {
                GroupOrder::Amount(ord) => match ord {
                    Order::Desc => b.2.cmp(&a.2),
                    Order::Asc => a.2.cmp(&b.2),
                },
                GroupOrder::Key(_, ord) => exact::cmp_keys(&a.3, &b.3, *ord),
            })
            .then_with(|| id(a).cmp(id(b)))
    });
    let limit = p.figure(&cap.limit, year);
    let mut i = 0;
    while i < members.len() {
        let mut j = i;
        while j < members.len()
            && members[j].1 == members[i].1
            && (members[i].1.is_some() || j == i)
        {
            j += 1;
        }
        let group = members[i]
            .1
            .clone()
            .unwrap_or_else(|| firms[outs[members[i].0].firm].id.clone());
        let mut room = limit;
        let mut used: Vec<(String, Decimal)> = vec![];
        for m in &members[i..j] {
            let give = m.2.min(room);
            room -= give;
            if give < m.2 {
                let reason = Reason::GroupCap {
                    cap: cap.name.clone(),
                    group: group.clone(),
                    used: used.clone(),
                };
                cut_lowest(&cap.clauses, m.2 - give, reason, &mut outs[m.0]);
            }
            if give > Decimal::ZERO {
                let f = &firms[outs[m.0].firm];
                let label = if f.name.is_empty() {
                    f.id.clone()
                } else {
                    f.name.clone()
                };
                used.push((label, give));
            }
        }
        i = j;
    }
    overflow
}

/// Cuts `excess` from the clauses of `priority` — the last first, later tranches first — naming
/// `reason` on every cut and as the reason of a tranche cut to zero.
fn cut_lowest(priority: &[ClauseId], excess: Decimal, reason: Reason, o: &mut FirmOutcome) {
    let mut excess = excess;
    for &c in priority.iter().rev() {
        for t in o.clauses[c].tranches.iter_mut().rev() {
            if excess.is_zero() {
                return;
            }
            if t.amount.is_zero() {
                continue;
            }
            let cut = t.amount.min(excess);
            let before = t.amount;
            t.amount -= cut;
            excess -= cut;
            t.adjustments.push(Adjustment {
                reason: reason.clone(),
                before,
                after: t.amount,
            });
            if t.amount.is_zero() {
                t.reason = Some(reason.clone());
            }
        }
    }
}

/// Firm cap over the clauses it covers: cut the lowest-priority clauses first (later tranches
/// first).
fn firm_cap(limit: Decimal, cap: &FirmCap, o: &mut FirmOutcome) {
    let total: Decimal = cap.priority.iter().map(|&c| o.clauses[c].total()).sum();
    if total <= limit {
        return;
    }
    let reason = Reason::FirmCap {
        cap: cap.name.clone(),
    };
    cut_lowest(&cap.priority, total - limit, reason, o);
}
