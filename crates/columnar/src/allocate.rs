//! The allocation stage as DataFusion plan stages, in the reference's order
//! (`huiqi_eval::alloc`): negative lists → select → exclusive (就高) → pools → firm caps → group
//! caps.
//!
//! Every slot (clause × tranche) is three columns on the firm row: `A{s}` (Int64 分), `R{s}`
//! (Int32 reason code, 0 = none) and `P{s}` (whether the slot is a row of the result). A rule
//! that only looks at one firm is a projection; rankings are window functions over the whole
//! population; a pool unpivots its claims (one row per firm × slot), shares its budget with
//! window aggregates and gathers the shares back onto the firm rows by firm index.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, SchemaRef, UInt32Type};
use datafusion::functions::expr_fn::{coalesce, least};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::{Sort, WindowFunction};
use datafusion::logical_expr::{cast, Expr as DExpr, ExprFunctionExt, WindowFrame};
use datafusion::prelude::*;
use datafusion::scalar::ScalarValue;
use huiqi_ir::reason::ReasonKind;
use huiqi_ir::*;

use huiqi_ir::exact;

use crate::clause::Plan;
use crate::compile::{colref as c, Compiler};
use crate::rank;

use crate::error::Error;

type R<T> = crate::error::Result<T>;

fn e<T, E: std::fmt::Display>(r: Result<T, E>) -> R<T> {
    r.map_err(Error::engine)
}

/// The reason code a finish gives a raw amount beyond exact arithmetic (`money::is_overflow`).
/// No reason text has it: a run with one is refused before its rows are read.
pub const OVERFLOW_CODE: i32 = i32::MAX;

/// Per firm, the first slot (in clause order) whose amount overflowed; null for none. Made by
/// stage 0, before any rule can change a reason, and read by `results::res_from`.
pub const OVERFLOW_COL: &str = "ov";

/// Per firm, the first rule (selects numbered first, then pools) whose ranking score or tie key
/// for the firm used a value beyond exact arithmetic; null for none. Read by
/// `results::res_from` when no amount overflowed.
pub const SCORE_OVERFLOW_COL: &str = "sov";

pub fn amount_col(s: usize) -> String {
    format!("A{s}")
}
pub fn reason_col(s: usize) -> String {
    format!("R{s}")
}
pub fn present_col(s: usize) -> String {
    format!("P{s}")
}
/// A slot's stage-0 amount, kept unchanged by the rules (`Compiler::standalone`).
pub fn standalone_col(s: usize) -> String {
    format!("Q{s}")
}

fn a(s: usize) -> DExpr {
    c(&amount_col(s))
}
fn r(s: usize) -> DExpr {
    c(&reason_col(s))
}
fn pr(s: usize) -> DExpr {
    c(&present_col(s))
}
fn fen(v: i64) -> DExpr {
    lit(v)
}
/// Sums of 分 across slots or firms can pass i64 (every slot fits, not their total), and
/// DataFusion's Int64 `+` and `sum` wrap. They are taken as Decimal128(38, 0), exact like the
/// reference's Decimal and i128 totals: 10³⁸ 分 is out of reach of any population.
const WIDE: DataType = DataType::Decimal128(38, 0);
fn wide(x: DExpr) -> DExpr {
    cast(x, WIDE)
}
fn wide_fen(v: i64) -> DExpr {
    lit(ScalarValue::Decimal128(Some(v as i128), 38, 0))
}
/// A wide amount known to lie between 0 and an Int64 amount, back to Int64 分.
fn narrow(x: DExpr) -> DExpr {
    cast(x, DataType::Int64)
}
/// The code of a reason of `kind` about `subject`, as a literal (`Compiler::reason`).
fn code(cm: &Compiler<'_>, kind: ReasonKind, subject: &str) -> DExpr {
    cm.reason(kind, subject)
}

/// Replaces the named columns of `df` (keeping every other column, in place) and appends new ones.
fn restate(df: DataFrame, updates: Vec<(String, DExpr)>) -> R<DataFrame> {
    let mut updates = updates;
    let mut sel = vec![];
    for f in df.schema().fields() {
        match updates.iter().position(|(n, _)| n == f.name()) {
            Some(i) => {
                let (n, x) = updates.remove(i);
                sel.push(x.alias(n));
            }
            None => sel.push(c(f.name())),
        }
    }
    sel.extend(updates.into_iter().map(|(n, x)| x.alias(n)));
    e(df.select(sel))
}

/// `sum(x) OVER (ORDER BY order ROWS …)` or, without an order, over the whole population.
fn window_sum(x: DExpr, order: Vec<Sort>, frame: Option<WindowFrame>) -> R<DExpr> {
    let w = DExpr::from(WindowFunction::new(sum_udaf(), vec![x]));
    if order.is_empty() {
        // DataFusion rejects an empty ORDER BY; without one the frame is the whole partition.
        return Ok(w);
    }
    let mut b = w.order_by(order);
    if let Some(f) = frame {
        b = b.window_frame(f);
    }
    e(b.build())
}

fn sort(x: DExpr, asc: bool) -> Sort {
    // Nulls last in both directions, like the reference's comparison.
    x.sort(asc, false)
}

struct Slots<'a> {
    plan: &'a Plan,
}

impl Slots<'_> {
    fn of(&self, cl: ClauseId) -> Vec<usize> {
        (0..self.plan.slots.len())
            .filter(|&s| self.plan.slots[s].clause == cl)
            .collect()
    }
    fn total(&self, cl: ClauseId) -> DExpr {
        // Amounts of absent slots are 0 (stage 0), so a plain sum is the reference's total.
        self.of(cl)
            .into_iter()
            .fold(wide_fen(0), |t, s| t + wide(a(s)))
    }
    /// Zeroes a clause where `cond` holds; the reason becomes `why` unless one is already there
    /// (a "zero" reason is replaced: the rule is the better explanation).
    fn zero_all(
        &self,
        cl: ClauseId,
        cond: DExpr,
        why: DExpr,
        zero: DExpr,
    ) -> R<Vec<(String, DExpr)>> {
        let mut out = vec![];
        for s in self.of(cl) {
            out.push((
                amount_col(s),
                e(when(cond.clone(), fen(0)).otherwise(a(s)))?,
            ));
            out.push((
                reason_col(s),
                e(when(
                    cond.clone()
                        .and(pr(s))
                        .and(r(s).eq(lit(0i32)).or(r(s).eq(zero.clone()))),
                    why.clone(),
                )
                .otherwise(r(s)))?,
            ));
        }
        Ok(out)
    }
}

/// Adds the allocation stages to `df` (one row per firm with the plan's columns and `order`, the
/// firm's position in credit-code order) and returns `fi` with `A{s}`, `R{s}`, `P{s}` per slot.
pub async fn stages(df: DataFrame, cm: &Compiler<'_>, plan: &Plan, order: &str) -> R<DataFrame> {
    rules(slot_columns(df, cm, plan, order, 0)?, cm, plan).await
}

/// Stage 0, per firm: slot amounts in 分, reasons as codes, presence as a plain boolean, and
/// the columns the cross-clause rules read (negative lists, scores, ties). `offset` is added to
/// `fi` and the order: a chunk of firms (`engine.rs` `run_chunked`) numbers its firms from 0.
pub fn slot_columns(
    df: DataFrame,
    cm: &Compiler<'_>,
    plan: &Plan,
    order: &str,
    offset: i32,
) -> R<DataFrame> {
    let at = |x: DExpr| if offset == 0 { x } else { x + lit(offset) };
    let mut sel = vec![at(c("fi")).alias("fi"), at(c(order)).alias("fo")];
    for (s, slot) in plan.slots.iter().enumerate() {
        let present = match &slot.present {
            Some(x) => coalesce(vec![c(x), lit(false)]),
            None => lit(true),
        };
        sel.push(present.clone().alias(present_col(s)));
        let fen_amount = match &slot.fen {
            Some(f) => c(f),
            None => cm.udf("hq_nz64", vec![cm.udf("hq_fen", vec![c(&slot.amount)])]),
        };
        let amount = match &slot.present {
            Some(_) => e(when(present, fen_amount).otherwise(fen(0)))?,
            None => fen_amount,
        };
        if cm.standalone {
            sel.push(amount.clone().alias(standalone_col(s)));
        }
        sel.push(amount.alias(amount_col(s)));
        sel.push(
            cm.udf("hq_nz32", vec![c(&slot.reason)])
                .alias(reason_col(s)),
        );
    }
    let mut overflow: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> = None;
    for (s, slot) in plan.slots.iter().enumerate() {
        // Only a slot that is a row of the result: a schedule's stage not reached this
        // period is never paid, so never refused (as in the reference).
        let cond = match &slot.present {
            Some(x) => c(&slot.reason)
                .eq(lit(OVERFLOW_CODE))
                .and(coalesce(vec![c(x), lit(false)])),
            None => c(&slot.reason).eq(lit(OVERFLOW_CODE)),
        };
        let then = lit(s as i32);
        match overflow.as_mut() {
            None => overflow = Some(when(cond, then)),
            Some(b) => {
                b.when(cond, then);
            }
        }
    }
    let overflow = match overflow {
        Some(b) => e(b.end())?,
        None => lit(ScalarValue::Int32(None)),
    };
    sel.push(overflow.alias(OVERFLOW_COL));
    sel.push(lit(ScalarValue::Int32(None)).alias(SCORE_OVERFLOW_COL));
    for x in &plan.excludes {
        sel.push(c(x));
    }
    let keys = plan
        .selects
        .iter()
        .flatten()
        .chain(plan.pool_scores.iter().flatten());
    for k in keys {
        sel.extend(k.cols.iter().map(|x| c(x)));
    }
    sel.extend(plan.cap_rooms.iter().flatten().map(|x| c(x)));
    for (g, key) in &plan.group_caps {
        sel.push(c(g));
        sel.extend(key.iter().flat_map(|k| k.cols.iter()).map(|x| c(x)));
    }
    e(df.select(sel))
}

/// The cross-clause rules over stage 0's columns (`slot_columns`) of every firm, in the
/// reference's order.
pub async fn rules(mut df: DataFrame, cm: &Compiler<'_>, plan: &Plan) -> R<DataFrame> {
    let p = cm.p;
    let sl = Slots { plan };
    let ns = plan.slots.len();
    let zero = code(cm, ReasonKind::ZeroAmount, "");

    // Negative lists: every covered slot is zeroed; the first matching rule (in the text's
    // order) names the reason.
    if !p.excludes.is_empty() {
        let mut up = vec![];
        for (s, slot) in plan.slots.iter().enumerate() {
            let rules: Vec<usize> = (0..p.excludes.len())
                .filter(|&k| {
                    p.excludes[k]
                        .clauses
                        .as_ref()
                        .is_none_or(|cs| cs.contains(&slot.clause))
                })
                .collect();
            if rules.is_empty() {
                continue;
            }
            let hit = rules
                .iter()
                .map(|&k| c(&plan.excludes[k]))
                .reduce(|x, y| x.or(y))
                .unwrap_or(lit(false)); // `rules` is not empty
            up.push((
                amount_col(s),
                e(when(pr(s).and(hit), fen(0)).otherwise(a(s)))?,
            ));
            let mut why: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
                None;
            // CASE tries its branches in order: the first matching list names the reason.
            for &k in rules.iter() {
                let cond = pr(s).and(c(&plan.excludes[k]));
                let then = code(cm, ReasonKind::Excluded, &p.excludes[k].name);
                match why.as_mut() {
                    None => why = Some(when(cond, then)),
                    Some(b) => {
                        b.when(cond, then);
                    }
                }
            }
            if let Some(mut why) = why {
                up.push((reason_col(s), e(why.otherwise(r(s)))?));
            }
        }
        df = restate(df, up)?;
    }

    // Select: rank the clause's candidates (total > 0) by score, ties, credit code, compared
    // exactly (`rank.rs`). Only the candidates' key leaves are read back; the losers go back
    // onto the firm rows by firm index (`with_losers`).
    for (k, sel) in p.selects.iter().enumerate() {
        let keys = &plan.selects[k];
        // The candidates and the way back both read the firm rows: materialise them once.
        let (ctx, schema, parts) =
            crate::exec::materialise_parts(df, &format!("before select {}", sel.name)).await?;
        let firms = crate::exec::read_parts(&ctx, schema.clone(), parts.clone())?;
        let mut narrow = vec![c("fi").alias("sf"), c("fo")];
        narrow.extend(keys.iter().flat_map(|k| k.cols.iter()).map(|x| c(x)));
        let cands = e(e(firms.filter(sl.total(sel.clause).gt(wide_fen(0))))?.select(narrow))?;
        let cands = e(cands.collect().await)?;
        let mut rows: Vec<(i64, i64, Vec<exact::Exact>)> = vec![];
        for b in &cands {
            let (sf, fo) = (rank::ints(b, "sf")?, rank::ints(b, "fo")?);
            for (i, key) in rank::key_values(b, keys)?.into_iter().enumerate() {
                rows.push((sf[i], fo[i], key));
            }
        }
        rows.sort_by(|a, b| rank::cmp_rows(keys, &a.2, &b.2).then(a.1.cmp(&b.1)));
        let top = p.top(sel, cm.year) as usize;
        let lost = rows
            .iter()
            .enumerate()
            .filter(|(r, x)| *r >= top || !matches!(x.2[0], exact::Exact::Value(_)));
        let lost: Vec<i64> = lost.map(|(_, x)| x.0).collect();
        let over: Vec<i64> = rows
            .iter()
            .filter(|x| x.2.contains(&exact::Exact::Overflow))
            .map(|x| x.0)
            .collect();
        df = with_losers(&ctx, schema, parts, &lost, &over, k as i32)?;
        let why = code(cm, ReasonKind::NotSelected, &sel.name);
        df = restate(df, sl.zero_all(sel.clause, c("lose"), why, zero.clone())?)?;
        df = restate(
            df,
            vec![(
                SCORE_OVERFLOW_COL.into(),
                coalesce(vec![c(SCORE_OVERFLOW_COL), c("sovk")]),
            )],
        )?;
        df = e(df.drop_columns(&["lose", "sovk"]))?;
    }

    // Exclusive (就高): the highest positive total wins, the first listed on a tie.
    for g in &p.exclusives {
        let totals: Vec<(String, DExpr)> = g
            .clauses
            .iter()
            .enumerate()
            .map(|(i, &cl)| (format!("gt{i}"), sl.total(cl)))
            .collect();
        df = restate(df, totals)?;
        let t = |i: usize| c(&format!("gt{i}"));
        let why = code(cm, ReasonKind::Exclusive, &g.name);
        let mut up = vec![];
        for (i, &cl) in g.clauses.iter().enumerate() {
            let beaten = (0..g.clauses.len())
                .filter(|&j| j != i)
                .map(|j| {
                    if j < i {
                        t(j).gt_eq(t(i))
                    } else {
                        t(j).gt(t(i))
                    }
                })
                .reduce(|x, y| x.or(y))
                .unwrap_or(lit(false));
            up.extend(sl.zero_all(
                cl,
                t(i).gt(wide_fen(0)).and(beaten),
                why.clone(),
                zero.clone(),
            )?);
        }
        df = restate(df, up)?;
        let drop: Vec<String> = (0..g.clauses.len()).map(|i| format!("gt{i}")).collect();
        df = e(df.drop_columns(&drop.iter().map(|s| s.as_str()).collect::<Vec<_>>()))?;
    }

    for (k, pool) in p.pools.iter().enumerate() {
        let rule = (p.selects.len() + k) as i32;
        df = pool_stage(df, cm, &sl, pool, plan.pool_scores[k].as_ref(), rule).await?;
    }

    // Firm caps: cut the lowest priority first. The cut of a slot is what is left of the
    // excess after the slots cut before it, so every slot is one expression of the same row.
    for (k, cap) in p.firm_caps.iter().enumerate() {
        // A cap over several years leaves each firm its own room (`Plan::cap_rooms`).
        let room = match &plan.cap_rooms[k] {
            Some(col) => wide(c(col)),
            None => wide_fen(money::to_fen(p.figure(&cap.limit, cm.year))),
        };
        // Over the clauses it covers (every clause of its pack, and any it names of another).
        let total = cap
            .priority
            .iter()
            .flat_map(|&cl| sl.of(cl))
            .fold(wide_fen(0), |t, s| t + wide(a(s)));
        df = restate(df, vec![("excess".into(), total - room)])?;
        let why = code(cm, ReasonKind::FirmCap, &cap.name);
        let mut before = wide_fen(0);
        let mut up = vec![];
        for &cl in cap.priority.iter().rev() {
            for s in sl.of(cl).into_iter().rev() {
                let left = c("excess") - before.clone();
                // 0 ≤ cut ≤ A{s}: back in Int64.
                let cut = narrow(e(when(
                    left.clone().gt(wide_fen(0)),
                    least(vec![wide(a(s)), left]),
                )
                .otherwise(wide_fen(0)))?);
                up.push((amount_col(s), a(s) - cut.clone()));
                up.push((
                    reason_col(s),
                    e(when(a(s).gt(fen(0)).and(a(s).eq(cut)), why.clone()).otherwise(r(s)))?,
                ));
                before = before + wide(a(s));
            }
        }
        df = restate(df, up)?;
        df = e(df.drop_columns(&["excess"]))?;
    }

    for (k, cap) in p.group_caps.iter().enumerate() {
        let rule = (p.selects.len() + p.pools.len() + k) as i32;
        df = group_cap_stage(df, cm, &sl, cap, &plan.group_caps[k], rule).await?;
    }

    let mut out = vec![c("fi")];
    for s in 0..ns {
        out.extend([a(s), r(s), pr(s)]);
        if cm.standalone {
            out.push(c(&standalone_col(s)));
        }
    }
    out.push(c(OVERFLOW_COL));
    out.push(c(SCORE_OVERFLOW_COL));
    e(df.select(out))
}

/// The number of firms the rows index: one more than the largest `fi`.
fn firm_count(parts: &[Vec<RecordBatch>]) -> R<usize> {
    let mut n = 0;
    for b in parts.iter().flatten() {
        let fi = crate::exec::firm_index(b)?;
        if let Some(m) = datafusion::arrow::compute::max(fi.as_primitive::<UInt32Type>()) {
            n = n.max(m as usize + 1);
        }
    }
    Ok(n)
}

/// The firm rows with a column `{prefix}{s}` per pool slot — the share of (firm, slot) from
/// `shares` (firm index, slot, 分), null where the firm had no claim on that slot — and `extra`
/// dense columns. Each stage names its columns apart (`S` a pool's, `G` a group cap's).
fn with_shares(
    ctx: &SessionContext,
    schema: SchemaRef,
    parts: Vec<Vec<RecordBatch>>,
    (prefix, shares): (&str, &[(i64, i64, i64)]),
    pool_slots: &[usize],
    extra: Vec<(String, ArrayRef)>,
) -> R<DataFrame> {
    let n = firm_count(&parts)?;
    let slot_of: std::collections::HashMap<i64, usize> = pool_slots
        .iter()
        .enumerate()
        .map(|(k, &s)| (s as i64, k))
        .collect();
    let mut value = vec![vec![0i64; n]; pool_slots.len()];
    let mut given = vec![vec![false; n]; pool_slots.len()];
    for &(pf, ps, v) in shares {
        let (Some(&k), Ok(f)) = (slot_of.get(&ps), usize::try_from(pf)) else {
            return Err(Error::engine(format!("share for slot {ps} of firm {pf}")));
        };
        if f >= n {
            return Err(Error::engine(format!("share for unknown firm index {f}")));
        }
        // One claim per firm and slot; `max` keeps the aggregate's meaning regardless.
        value[k][f] = if given[k][f] { value[k][f].max(v) } else { v };
        given[k][f] = true;
    }
    let mut dense: Vec<(String, ArrayRef)> = value
        .into_iter()
        .zip(given)
        .zip(pool_slots)
        .map(|((v, g), s)| {
            let col: ArrayRef = Arc::new(Int64Array::new(v.into(), Some(NullBuffer::from(g))));
            (format!("{prefix}{s}"), col)
        })
        .collect();
    dense.extend(extra);
    crate::exec::with_dense(ctx, schema, parts, dense)
}

/// The firm rows with a column `lose` (whether the firm index is in `lost`) and `sovk` (`rule`
/// for the firms in `over`, whose ranking key overflowed; else null).
fn with_losers(
    ctx: &SessionContext,
    schema: SchemaRef,
    parts: Vec<Vec<RecordBatch>>,
    lost: &[i64],
    over: &[i64],
    rule: i32,
) -> R<DataFrame> {
    let n = firm_count(&parts)?;
    let index = |f: i64| match usize::try_from(f).ok().filter(|&f| f < n) {
        Some(f) => Ok(f),
        None => Err(Error::engine(format!("ranking of unknown firm index {f}"))),
    };
    let mut lose = vec![false; n];
    for &f in lost {
        lose[index(f)?] = true;
    }
    let lose: ArrayRef = Arc::new(datafusion::arrow::array::BooleanArray::from(lose));
    let sov = score_overflows(n, over, rule)?;
    crate::exec::with_dense(
        ctx,
        schema,
        parts,
        vec![("lose".into(), lose), ("sovk".into(), sov)],
    )
}

/// A dense Int32 column: `rule` at the firm indexes of `over`, null elsewhere.
fn score_overflows(n: usize, over: &[i64], rule: i32) -> R<ArrayRef> {
    let mut v = vec![None; n];
    for &f in over {
        match usize::try_from(f).ok().filter(|&f| f < n) {
            Some(f) => v[f] = Some(rule),
            None => return Err(Error::engine(format!("ranking of unknown firm index {f}"))),
        }
    }
    Ok(Arc::new(datafusion::arrow::array::Int32Array::from(v)))
}

/// A group cap: the firms with a positive covered amount are read back with their group and
/// serving key, served group by group in the reference's order (`huiqi_eval::alloc`), and the
/// slots cut go back onto the firm rows by firm index.
async fn group_cap_stage(
    df: DataFrame,
    cm: &Compiler<'_>,
    sl: &Slots<'_>,
    cap: &GroupCap,
    (group_col, key): &(String, Option<rank::Key>),
    rule: i32,
) -> R<DataFrame> {
    let (ctx, schema, parts) =
        crate::exec::materialise_parts(df, &format!("before group cap {}", cap.name)).await?;
    let df = crate::exec::read_parts(&ctx, schema.clone(), parts.clone())?;
    // The covered slots in priority order (a clause's tranches in order): cut from the last.
    let slots: Vec<usize> = cap.clauses.iter().flat_map(|&cl| sl.of(cl)).collect();
    if slots.is_empty() {
        return Ok(df);
    }
    let covered = slots.iter().fold(wide_fen(0), |t, &s| t + wide(a(s)));
    let mut sel = vec![
        c("fi").alias("gf"),
        c("fo").alias("go"),
        cast(c(group_col), DataType::Utf8).alias("gg"),
    ];
    sel.extend(
        slots
            .iter()
            .enumerate()
            .map(|(j, &s)| a(s).alias(format!("ga{j}"))),
    );
    if let Some(k) = key {
        sel.extend(k.cols.iter().map(|x| c(x)));
    }
    let members = e(
        e(e(df.clone().filter(covered.gt(wide_fen(0))))?.select(sel))?
            .collect()
            .await,
    )?;
    struct Member {
        fi: i64,
        fo: i64,
        group: Option<String>,
        amounts: Vec<i64>,
        total: i128,
        key: exact::Exact,
    }
    let mut rows: Vec<Member> = vec![];
    for b in &members {
        let (gf, go) = (rank::ints(b, "gf")?, rank::ints(b, "go")?);
        let gg = b
            .column_by_name("gg")
            .and_then(|x| x.as_string_opt::<i32>())
            .ok_or_else(|| Error::engine("group column is not text"))?;
        let amounts: Vec<Vec<i64>> = (0..slots.len())
            .map(|j| rank::ints(b, &format!("ga{j}")))
            .collect::<R<_>>()?;
        let keys = match key {
            Some(k) => Some(rank::key_values(b, std::slice::from_ref(k))?),
            None => None,
        };
        for i in 0..b.num_rows() {
            let amounts: Vec<i64> = amounts.iter().map(|col| col[i]).collect();
            let group = (datafusion::arrow::array::Array::is_valid(gg, i)
                && !gg.value(i).is_empty())
            .then(|| gg.value(i).to_string());
            rows.push(Member {
                fi: gf[i],
                fo: go[i],
                group,
                total: amounts.iter().map(|&x| x as i128).sum(),
                amounts,
                key: keys
                    .as_ref()
                    .and_then(|k| k[i].first().cloned())
                    .unwrap_or(exact::Exact::Missing),
            });
        }
    }
    let over: Vec<i64> = rows
        .iter()
        .filter(|m| m.key == exact::Exact::Overflow)
        .map(|m| m.fi)
        .collect();
    // Groups by name (a firm without one alone, in credit-code order, after them); inside a
    // group the declared order, then credit code.
    let group_key = |m: &Member| match &m.group {
        Some(g) => (false, g.clone(), 0),
        None => (true, String::new(), m.fo),
    };
    rows.sort_by(|x, y| {
        group_key(x)
            .cmp(&group_key(y))
            .then_with(|| match &cap.order {
                GroupOrder::Amount(Order::Desc) => y.total.cmp(&x.total),
                GroupOrder::Amount(Order::Asc) => x.total.cmp(&y.total),
                GroupOrder::Key(_, ord) => exact::cmp_keys(&x.key, &y.key, *ord),
            })
            .then(x.fo.cmp(&y.fo))
    });
    let limit = money::to_fen(cm.p.figure(&cap.limit, cm.year)) as i128;
    let mut shares: Vec<(i64, i64, i64)> = vec![];
    let mut room = limit;
    for (i, m) in rows.iter().enumerate() {
        let same = i > 0 && m.group.is_some() && rows[i - 1].group == m.group;
        if !same {
            room = limit;
        }
        let give = m.total.min(room);
        room -= give;
        let mut excess = m.total - give;
        for (j, &s) in slots.iter().enumerate().rev() {
            if excess == 0 {
                break;
            }
            let amt = m.amounts[j] as i128;
            if amt == 0 {
                continue;
            }
            let cut = amt.min(excess);
            excess -= cut;
            // 0 ≤ amt − cut ≤ amt, an Int64 amount.
            shares.push((m.fi, s as i64, (amt - cut) as i64));
        }
    }
    let n = firm_count(&parts)?;
    let sov = score_overflows(n, &over, rule)?;
    let df = with_shares(
        &ctx,
        schema,
        parts,
        ("G", &shares),
        &slots,
        vec![("sovk".into(), sov)],
    )?;
    let df = restate(
        df,
        vec![(
            SCORE_OVERFLOW_COL.into(),
            coalesce(vec![c(SCORE_OVERFLOW_COL), c("sovk")]),
        )],
    )?;
    let why = code(cm, ReasonKind::GroupCap, &cap.name);
    let mut up = vec![];
    for &s in &slots {
        let sh = c(&format!("G{s}"));
        up.push((amount_col(s), coalesce(vec![sh.clone(), a(s)])));
        up.push((
            reason_col(s),
            e(when(sh.clone().eq(fen(0)), why.clone()).otherwise(r(s)))?,
        ));
    }
    let df = restate(df, up)?;
    let mut drop: Vec<String> = slots.iter().map(|s| format!("G{s}")).collect();
    drop.push("sovk".into());
    e(df.drop_columns(&drop.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
}

/// A pool's claims — one row per firm and present slot with an amount — shared out, then
/// gathered back onto the firms.
async fn pool_stage(
    df: DataFrame,
    cm: &Compiler<'_>,
    sl: &Slots<'_>,
    pool: &Pool,
    score: Option<&rank::Key>,
    rule: i32,
) -> R<DataFrame> {
    // The claims and the shares' way back both read the firm rows: materialise them once, or
    // every branch would evaluate the whole plan again.
    let (ctx, schema, parts) =
        crate::exec::materialise_parts(df, &format!("before pool {}", pool.name)).await?;
    let df = crate::exec::read_parts(&ctx, schema.clone(), parts.clone())?;
    let budget = money::to_fen(cm.p.figure(&pool.budget, cm.year));
    let mut claims: Option<DataFrame> = None;
    let mut pool_slots = vec![];
    for &cl in &pool.clauses {
        let slots = sl.of(cl);
        for (j, &s) in slots.iter().enumerate() {
            // Index among the clause's present slots (the reference's tie-break after the firm).
            let ti = slots[..j]
                .iter()
                .fold(lit(0i64), |t, &q| t + cast(pr(q), DataType::Int64));
            let mut sel = vec![
                c("fi").alias("pf"),
                c("fo").alias("po"),
                lit(cl as i64).alias("pc"),
                ti.alias("pt"),
                lit(s as i64).alias("ps"),
                a(s).alias("pa"),
            ];
            if let Some(k) = score {
                sel.extend(k.cols.iter().map(|x| c(x)));
            }
            let one = e(e(df.clone().filter(pr(s).and(a(s).gt(fen(0)))))?.select(sel))?;
            claims = Some(match claims {
                None => one,
                Some(u) => e(u.union(one))?,
            });
            pool_slots.push(s);
        }
    }
    let Some(claims) = claims else {
        return Ok(df);
    };
    let tie = || {
        vec![
            sort(c("po"), true),
            sort(c("pc"), true),
            sort(c("pt"), true),
        ]
    };
    let mut over = vec![];
    let shares: Vec<(i64, i64, i64)> = match score {
        None => {
            // Pro rata: ⌊a·budget/demand⌋, then the 分 left over go one each to the largest
            // remainders (ties by credit code, clause, tranche).
            let claims = restate(
                claims,
                vec![("demand".into(), window_sum(wide(c("pa")), vec![], None)?)],
            )?;
            let claims = restate(
                claims,
                vec![
                    (
                        "base".into(),
                        cm.udf("hq_share", vec![c("pa"), fen(budget), c("demand")]),
                    ),
                    (
                        "rem".into(),
                        cm.udf("hq_share_rem", vec![c("pa"), fen(budget), c("demand")]),
                    ),
                ],
            )?;
            let mut order = vec![sort(c("rem"), false)];
            order.extend(tie());
            let claims = restate(
                claims,
                vec![
                    ("given".into(), window_sum(c("base"), vec![], None)?),
                    (
                        "rn".into(),
                        cast(e(row_number().order_by(order).build())?, DataType::Int64),
                    ),
                ],
            )?;
            let share = e(
                when(c("demand").lt_eq(wide_fen(budget)), c("pa")).otherwise(
                    c("base")
                        + e(
                            when(c("rn").lt_eq(fen(budget) - c("given")), fen(1)).otherwise(fen(0))
                        )?,
                ),
            )?;
            let claims = restate(claims, vec![("share".into(), share)])?;
            let claims = e(e(claims.select(vec![c("pf"), c("ps"), c("share")]))?
                .collect()
                .await)?;
            let mut out = vec![];
            for b in &claims {
                let (pf, ps, sh) = (
                    rank::ints(b, "pf")?,
                    rank::ints(b, "ps")?,
                    rank::ints(b, "share")?,
                );
                out.extend((0..b.num_rows()).map(|i| (pf[i], ps[i], sh[i])));
            }
            out
        }
        Some(key) => {
            // By score: full awards in exact score order (ties by credit code, clause,
            // tranche) while the budget lasts; ranked only when oversubscribed, as the
            // reference does.
            let claims = e(claims.collect().await)?;
            let keys = std::slice::from_ref(key);
            // (tie order [po, pc, pt], firm index, slot, claim in 分, key)
            let mut rows = vec![];
            let mut demand: i128 = 0;
            for b in &claims {
                let [pf, po, pc, pt, ps, pa] =
                    ["pf", "po", "pc", "pt", "ps", "pa"].map(|n| rank::ints(b, n));
                let (pf, po, pc, pt, ps, pa) = (pf?, po?, pc?, pt?, ps?, pa?);
                for i in 0..b.num_rows() {
                    demand += pa[i] as i128;
                    rows.push(([po[i], pc[i], pt[i]], pf[i], ps[i], pa[i], vec![]));
                }
            }
            if demand > budget as i128 {
                let mut k = 0;
                for b in &claims {
                    for key in rank::key_values(b, keys)? {
                        rows[k].4 = key;
                        k += 1;
                    }
                }
                over.extend(
                    rows.iter()
                        .filter(|r| r.4.contains(&exact::Exact::Overflow))
                        .map(|r| r.1),
                );
                rows.sort_by(|x, y| rank::cmp_rows(keys, &x.4, &y.4).then(x.0.cmp(&y.0)));
            }
            let mut left = budget;
            rows.iter()
                .map(|r| {
                    let give = r.3.min(left).max(0);
                    left -= give;
                    (r.1, r.2, give)
                })
                .collect()
        }
    };
    // Back to one row per firm: the share of each pool slot, null where the firm had no claim.
    // The shares are few (one per claim); they are scattered by firm index into one dense column
    // per slot and gathered onto the firm rows by their `fi` (a hash aggregate by firm and a
    // hash join onto every firm row did the same at several times the cost).
    let n = firm_count(&parts)?;
    let sov = score_overflows(n, &over, rule)?;
    let df = with_shares(
        &ctx,
        schema,
        parts,
        ("S", &shares),
        &pool_slots,
        vec![("sovk".into(), sov)],
    )?;
    let df = restate(
        df,
        vec![(
            SCORE_OVERFLOW_COL.into(),
            coalesce(vec![c(SCORE_OVERFLOW_COL), c("sovk")]),
        )],
    )?;
    let why = code(cm, ReasonKind::Pool, &pool.name);
    let mut up = vec![];
    for &s in &pool_slots {
        let sh = c(&format!("S{s}"));
        up.push((amount_col(s), coalesce(vec![sh.clone(), a(s)])));
        up.push((
            reason_col(s),
            e(when(sh.clone().eq(fen(0)), why.clone()).otherwise(r(s)))?,
        ));
    }
    let df = restate(df, up)?;
    let mut drop: Vec<String> = pool_slots.iter().map(|s| format!("S{s}")).collect();
    drop.push("sovk".into());
    e(df.drop_columns(&drop.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
}
