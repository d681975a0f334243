//! Builds the target frame: one row per firm with every column the compiled expressions
//! reference. Statics and yearly facts at offsets come aligned from `load.rs`; history
//! aggregates are one grouped aggregate over the dense firm × year panel, and the event,
//! monthly and award aggregates one each over their tables (a filter per output column as a
//! CASE inside the aggregate). Firm indexes are dense, so each aggregate's columns are scattered
//! to firm order and join the base batch as plain columns; only `held_at` on a per-firm date
//! needs a join.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{bool_or, count, max, min, sum};
use datafusion::logical_expr::{cast, Expr as DExpr};
use datafusion::prelude::*;

use huiqi_files::snapshot::col as scol;

use crate::compile::{colref as c, Compiler, EventAgg, HistKind};
use crate::load::Loaded;

use crate::error::Error;

type R<T> = crate::error::Result<T>;

fn e<T, E: std::fmt::Display>(r: Result<T, E>) -> R<T> {
    r.map_err(Error::engine)
}

/// Registers a batch as an in-memory table split into `parts` partitions (so the plan uses
/// every core) and returns it as a DataFrame.
fn table(ctx: &SessionContext, b: RecordBatch, parts: usize) -> R<DataFrame> {
    let n = b.num_rows();
    let parts = parts.max(1);
    let chunk = n.div_ceil(parts).max(1);
    let mut partitions = vec![];
    let mut off = 0;
    while off < n {
        let len = chunk.min(n - off);
        partitions.push(vec![b.slice(off, len)]);
        off += len;
    }
    if partitions.is_empty() {
        partitions.push(vec![]);
    }
    let t = e(MemTable::try_new(b.schema(), partitions))?;
    e(ctx.read_table(Arc::new(t)))
}

/// A per-firm aggregate (grouped by `fi`) as columns aligned to the firm table: firm `fi`'s value
/// at row `fi`, null where the aggregate has no row (what a left join gives). Firm indexes are
/// dense, so this is a scatter, not a hash join of a million rows.
async fn dense(a: DataFrame, n: usize, names: &[String]) -> R<Vec<(String, ArrayRef)>> {
    let schema = Arc::new(a.schema().as_arrow().clone());
    let batches = e(a.collect().await)?;
    let b = e(concat_batches(&schema, &batches))?;
    let fi = b
        .column_by_name("fi")
        .and_then(|x| x.as_primitive_opt::<Int32Type>())
        .ok_or("aggregate: no Int32 fi")?;
    let mut pos: Vec<Option<u32>> = vec![None; n];
    for (row, f) in fi.iter().enumerate() {
        let f = f.ok_or("aggregate: null fi")? as usize;
        *pos.get_mut(f).ok_or("aggregate: firm index out of range")? = Some(row as u32);
    }
    let idx = UInt32Array::from(pos);
    names
        .iter()
        .map(|name| {
            let col = b
                .column_by_name(name)
                .ok_or_else(|| format!("aggregate: no column {name}"))?;
            Ok((name.clone(), e(take(col.as_ref(), &idx, None))?))
        })
        .collect()
}

/// Keeps `x` where `pred` holds (null elsewhere): one aggregate serves several filters.
fn only(pred: DExpr, x: DExpr) -> R<DExpr> {
    e(when(pred, x).end())
}

/// The target frame: the loaded per-firm batch with the history, event, monthly and award
/// aggregates as columns, the dynamic dates, and `held_at` on them.
pub async fn build(
    ctx: &SessionContext,
    loaded: Loaded,
    cm: &Compiler<'_>,
    parts: usize,
) -> R<DataFrame> {
    let n = loaded.base.num_rows();
    // Aggregated columns, aligned to the firms; they join the base batch in one table.
    let mut extra: Vec<(String, ArrayRef)> = vec![];
    extra.extend(hist_columns(ctx, loaded.panel, cm, n, parts).await?);
    let events = match loaded.events {
        Some(b) => Some(table(ctx, b, parts)?),
        None => None,
    };
    extra.extend(event_columns(events.clone(), cm, n).await?);
    extra.extend(monthly_columns(ctx, loaded.monthly, cm, n, parts).await?);
    extra.extend(award_columns(ctx, loaded.awards, cm, n, parts).await?);

    let mut fields: Vec<Field> = loaded
        .base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols = loaded.base.columns().to_vec();
    for (name, a) in extra {
        fields.push(Field::new(name, a.data_type().clone(), true));
        cols.push(a);
    }
    let frame = e(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols))?;
    let mut t = table(ctx, frame, parts)?;

    // Held on a per-firm date: needs the date column first, then a join with the events.
    for (name, expr) in &cm.dyn_dates {
        t = e(t.with_column(name, expr.clone()))?;
    }
    if !cm
        .events
        .iter()
        .any(|a| matches!(a, EventAgg::HeldAt { .. }))
    {
        return Ok(t);
    }
    held_at(t, events, cm, n).await
}

/// Every history aggregate in one pass over the panel (null everywhere without a panel).
async fn hist_columns(
    ctx: &SessionContext,
    panel: Option<RecordBatch>,
    cm: &Compiler<'_>,
    n: usize,
    parts: usize,
) -> R<Vec<(String, ArrayRef)>> {
    if cm.hists.is_empty() {
        return Ok(vec![]);
    }
    let y = cm.year;
    let mut aggs = vec![];
    let mut names = vec![];
    for (k, h) in cm.hists.iter().enumerate() {
        let x = only(c(scol::YEAR).lt(lit(y - h.offset as i32)), h.inner.clone())?;
        let agg = match h.kind {
            HistKind::Ever => bool_or(x),
            HistKind::Max => max(x),
            HistKind::Min => min(x),
        };
        aggs.push(agg.alias(format!("h{k}")));
        names.push(format!("h{k}"));
    }
    match panel {
        Some(pn) => {
            dense(
                e(table(ctx, pn, parts)?.aggregate(vec![c("fi")], aggs))?,
                n,
                &names,
            )
            .await
        }
        // No earlier years anywhere: every history value is null.
        None => Ok(cm
            .hists
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let dt = if matches!(h.kind, HistKind::Ever) {
                    DataType::Boolean
                } else {
                    crate::udf::DEC
                };
                (format!("h{k}"), new_null_array(&dt, n))
            })
            .collect()),
    }
}

/// Keeps the events of one fact (with a value in the list, when there is one).
fn event_pred(fact: &str, values: &Option<Vec<String>>) -> DExpr {
    let of_fact = c(scol::FACT).eq(lit(fact.to_string()));
    match values {
        None => of_fact.and(lit(true)),
        Some(vs) => {
            of_fact.and(c(scol::VALUE).in_list(vs.iter().map(|v| lit(v.clone())).collect(), false))
        }
    }
}

fn date32(d: i32) -> DExpr {
    lit(ScalarValue::Date32(Some(d)))
}

/// Every fixed-date event aggregate in one pass over the events.
async fn event_columns(
    events: Option<DataFrame>,
    cm: &Compiler<'_>,
    n: usize,
) -> R<Vec<(String, ArrayRef)>> {
    let mut aggs = vec![];
    let mut names = vec![];
    for (k, agg) in cm.events.iter().enumerate() {
        let name = format!("e{k}");
        let a = match agg {
            EventAgg::HeldOn {
                fact,
                values,
                date,
                validity,
            } => bool_or(only(
                event_pred(fact, values)
                    .and(c(scol::DATE).lt_eq(date32(*date)))
                    .and(
                        cm.until_of(*validity)
                            .is_null()
                            .or(cm.until_of(*validity).gt_eq(date32(*date))),
                    ),
                lit(true),
            )?),
            EventAgg::DatedIn {
                fact,
                values,
                from,
                to,
            } => bool_or(only(
                event_pred(fact, values)
                    .and(c(scol::DATE).gt_eq(date32(*from)))
                    .and(c(scol::DATE).lt_eq(date32(*to))),
                lit(true),
            )?),
            EventAgg::CountBefore { fact, before } => cast(
                sum(e(when(
                    c(scol::FACT)
                        .eq(lit(fact.clone()))
                        .and(c(scol::DATE).lt(date32(*before))),
                    lit(1i64),
                )
                .otherwise(lit(0i64)))?),
                crate::udf::DEC,
            ),
            EventAgg::FirstDate {
                fact,
                value,
                from,
                to,
            } => min(only(
                c(scol::FACT)
                    .eq(lit(fact.clone()))
                    .and(c(scol::VALUE).eq(lit(value.clone())))
                    .and(c(scol::DATE).gt_eq(date32(*from)))
                    .and(c(scol::DATE).lt_eq(date32(*to))),
                c(scol::DATE),
            )?),
            EventAgg::HeldAt { .. } => continue,
            EventAgg::Records {
                fact,
                filter,
                body,
                from,
                to,
            } => {
                // Four aggregates, combined after: the sum of the values in range, whether a
                // kept record (or a filter) was missing, and whether one overflowed up or down.
                let kept = c(scol::FACT)
                    .eq(lit(fact.clone()))
                    .and(c(scol::DATE).gt_eq(date32(*from)))
                    .and(c(scol::DATE).lt_eq(date32(*to)));
                let value = body
                    .clone()
                    .unwrap_or_else(|| lit(crate::udf::dec_lit(rust_decimal::Decimal::ONE)));
                let v = match filter {
                    None => value,
                    Some(f) => e(case(f.clone())
                        .when(lit(true), value)
                        .when(
                            lit(false),
                            lit(crate::udf::dec_lit(rust_decimal::Decimal::ZERO)),
                        )
                        .end())?,
                };
                let max = lit(ScalarValue::Decimal128(
                    Some(huiqi_ir::money::MAX_SCALED),
                    38,
                    12,
                ));
                let low = lit(ScalarValue::Decimal128(
                    Some(-huiqi_ir::money::MAX_SCALED),
                    38,
                    12,
                ));
                let in_range = v
                    .clone()
                    .gt_eq(low.clone())
                    .and(v.clone().lt_eq(max.clone()));
                let parts = [
                    ("s", sum(only(kept.clone().and(in_range), v.clone())?)),
                    (
                        "m",
                        bool_or(only(kept.clone().and(v.clone().is_null()), lit(true))?),
                    ),
                    (
                        "p",
                        bool_or(only(kept.clone().and(v.clone().gt(max)), lit(true))?),
                    ),
                    ("n", bool_or(only(kept.and(v.lt(low)), lit(true))?)),
                ];
                for (tag, a) in parts {
                    let part = format!("{name}{tag}");
                    aggs.push(a.alias(part.as_str()));
                    names.push(part);
                }
                continue;
            }
        };
        aggs.push(a.alias(name.as_str()));
        names.push(name);
    }
    if aggs.is_empty() {
        return Ok(vec![]);
    }
    let ev = events.ok_or("events not loaded")?;
    let a = e(ev.aggregate(vec![c("fi")], aggs))?;
    let cols = dense(a, n, &names).await?;
    records_combined(cm, cols)
}

/// Each record aggregate's four parts (`e{k}s`, `…m`, `…p`, `…n`) as its one column `e{k}`, as
/// the reference adds up: missing when a kept record was, an overflow when one overflowed (+
/// first) or the exact total is beyond the range, else the total (0 over no record).
fn records_combined(
    cm: &Compiler<'_>,
    cols: Vec<(String, ArrayRef)>,
) -> R<Vec<(String, ArrayRef)>> {
    use datafusion::arrow::array::{Array, BooleanArray, Decimal128Array};
    use huiqi_ir::money;
    let mut by_name: HashMap<String, ArrayRef> = cols.into_iter().collect();
    let mut out = vec![];
    for (k, agg) in cm.events.iter().enumerate() {
        let name = format!("e{k}");
        if !matches!(agg, EventAgg::Records { .. }) {
            if let Some(a) = by_name.remove(&name) {
                out.push((name, a));
            }
            continue;
        }
        let mut part = |tag: &str| {
            by_name
                .remove(&format!("{name}{tag}"))
                .ok_or_else(|| Error::engine(format!("aggregate: no column {name}{tag}")))
        };
        let (s, m, p, ng) = (part("s")?, part("m")?, part("p")?, part("n")?);
        let s = s
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .ok_or("record sum: not a decimal")?;
        let flag = |a: &ArrayRef| -> R<BooleanArray> {
            Ok(a.as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or("record flag: not a boolean")?
                .clone())
        };
        let (m, p, ng) = (flag(&m)?, flag(&p)?, flag(&ng)?);
        let on = |a: &BooleanArray, i: usize| a.is_valid(i) && a.value(i);
        let combined: Decimal128Array = (0..s.len())
            .map(|i| {
                if on(&m, i) {
                    None
                } else if on(&p, i) {
                    Some(money::OVERFLOW)
                } else if on(&ng, i) {
                    Some(-money::OVERFLOW)
                } else {
                    let t = if s.is_valid(i) { s.value(i) } else { 0 };
                    Some(if money::is_overflow(t) {
                        money::overflow(t < 0)
                    } else {
                        t
                    })
                }
            })
            .collect::<Decimal128Array>()
            .with_precision_and_scale(38, 12)
            .map_err(Error::engine)?;
        out.push((name, Arc::new(combined) as ArrayRef));
    }
    Ok(out)
}

/// Per (monthly fact, year): the sum of its months with a value (null when none has one), and
/// the last of them — as the reference, which reads a month without a value as no month (a
/// month row exists when any monthly fact has a value).
async fn monthly_columns(
    ctx: &SessionContext,
    monthly: Option<RecordBatch>,
    cm: &Compiler<'_>,
    n: usize,
    parts: usize,
) -> R<Vec<(String, ArrayRef)>> {
    let p = cm.p;
    if cm.monthly_totals.is_empty() && cm.monthly_latest.is_empty() {
        return Ok(vec![]);
    }
    let mut monthly = table(ctx, monthly.ok_or("monthly not loaded")?, parts)?;
    // The reference adds the months in order with checked arithmetic: once a running sum leaves
    // the range of exact arithmetic the total is an overflow of that sum's sign, whatever later
    // months bring back. Decimal128(38) running sums are exact (12 months of values within the
    // range stay far below 10³⁸), so the first month whose running sum is beyond the range, and
    // its sign, decide: encoded as 2·month + (1 if negative), the least is the first.
    let running = |x: DExpr| -> R<DExpr> {
        e(
            DExpr::from(datafusion::logical_expr::expr::WindowFunction::new(
                datafusion::functions_aggregate::sum::sum_udaf(),
                vec![x],
            ))
            .partition_by(vec![c("fi")])
            .order_by(vec![
                c(scol::YEAR).sort(true, false),
                c(scol::MONTH).sort(true, false),
            ])
            .window_frame(datafusion::logical_expr::WindowFrame::new_bounds(
                datafusion::logical_expr::WindowFrameUnits::Rows,
                datafusion::logical_expr::WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
                datafusion::logical_expr::WindowFrameBound::CurrentRow,
            ))
            .build(),
        )
    };
    let max = ScalarValue::Decimal128(Some(huiqi_ir::money::MAX_SCALED), 38, 12);
    let low = ScalarValue::Decimal128(Some(-huiqi_ir::money::MAX_SCALED), 38, 12);
    let mut windows = vec![];
    for (f, yy) in &cm.monthly_totals {
        let in_year = c(scol::YEAR).eq(lit(*yy));
        let run = running(only(in_year.clone(), c(&p.facts[*f].name))?)?;
        let first = e(when(
            in_year.clone().and(run.clone().gt(lit(max.clone()))),
            cast(c(scol::MONTH), DataType::Int64) * lit(2i64),
        )
        .when(
            in_year.and(run.lt(lit(low.clone()))),
            cast(c(scol::MONTH), DataType::Int64) * lit(2i64) + lit(1i64),
        )
        .end())?;
        windows.push((format!("o{f}_{yy}"), first));
    }
    if !windows.is_empty() {
        let mut sel: Vec<DExpr> = monthly
            .schema()
            .fields()
            .iter()
            .map(|f| c(f.name()))
            .collect();
        sel.extend(windows.into_iter().map(|(n, x)| x.alias(n)));
        monthly = e(monthly.select(sel))?;
    }
    let overflow = |neg: bool| {
        let v = huiqi_ir::money::overflow(neg);
        lit(ScalarValue::Decimal128(Some(v), 38, 12))
    };
    let mut aggs = vec![];
    let mut totals = vec![];
    let mut names = vec![];
    for (f, yy) in &cm.monthly_totals {
        let fc = c(&p.facts[*f].name);
        let in_year = c(scol::YEAR).eq(lit(*yy));
        let (s, k, o) = (
            format!("s{f}_{yy}"),
            format!("n{f}_{yy}"),
            format!("fo{f}_{yy}"),
        );
        aggs.push(sum(only(in_year.clone(), fc.clone())?).alias(s.as_str()));
        aggs.push(count(only(in_year, fc)?).alias(k.as_str()));
        aggs.push(min(c(&format!("o{f}_{yy}"))).alias(o.as_str()));
        let name = format!("mt{f}_{yy}");
        let total = e(when(c(&o).is_null(), c(&s))
            .when((c(&o) % lit(2i64)).eq(lit(1i64)), overflow(true))
            .otherwise(overflow(false)))?;
        totals.push(
            e(when(c(&k).gt(lit(0i64)), total)
                .otherwise(lit(ScalarValue::Decimal128(None, 38, 12))))?
            .alias(name.as_str()),
        );
        names.push(name);
    }
    // `latest`: the value of the year's last month with a value (the reference reads a month
    // without a value as no month at all).
    for (f, yy) in &cm.monthly_latest {
        use datafusion::logical_expr::ExprFunctionExt;
        let name = format!("ml{f}_{yy}");
        let last = e(
            datafusion::functions_aggregate::first_last::last_value_udaf()
                .call(vec![c(&p.facts[*f].name)])
                .filter(
                    c(scol::YEAR)
                        .eq(lit(*yy))
                        .and(c(&p.facts[*f].name).is_not_null()),
                )
                .order_by(vec![c(scol::MONTH).sort(true, false)])
                .build(),
        )?;
        aggs.push(last.alias(name.as_str()));
        totals.push(c(&name));
        names.push(name);
    }
    let a = e(e(monthly.aggregate(vec![c("fi")], aggs))?
        .select(std::iter::once(c("fi")).chain(totals).collect::<Vec<_>>()))?;
    dense(a, n, &names).await
}

/// Per (clause, period bound): what the clause awarded in earlier periods.
async fn award_columns(
    ctx: &SessionContext,
    awards: Option<RecordBatch>,
    cm: &Compiler<'_>,
    n: usize,
    parts: usize,
) -> R<Vec<(String, ArrayRef)>> {
    if !cm.reads_awards() {
        return Ok(vec![]);
    }
    let p = cm.p;
    let awards = table(ctx, awards.ok_or("awards not loaded")?, parts)?;
    let mut aggs = vec![];
    let mut names = vec![];
    for (cl, bound) in &cm.awards {
        let name = format!("aw{cl}_{bound}");
        aggs.push(
            sum(only(
                c(scol::CLAUSE)
                    .eq(lit(p.clauses[*cl].name.clone()))
                    .and(c(scol::PERIOD).lt(lit(*bound))),
                c(scol::AMOUNT),
            )?)
            .alias(name.as_str()),
        );
        names.push(name);
    }
    if !cm.award_windows.is_empty() {
        // A cap over several years counts the clauses it covers only: its own pack's, and any
        // of another it names (`import`).
        for (from, to, clauses) in &cm.award_windows {
            let (from, to) = (*from, *to);
            let name = crate::compile::award_window_col(from, to, clauses);
            let ours: Vec<DExpr> = clauses
                .iter()
                .map(|&cl| lit(p.clauses[cl].name.clone()))
                .collect();
            let inside = c(scol::PERIOD)
                .gt_eq(lit(from))
                .and(c(scol::PERIOD).lt(lit(to)))
                .and(c(scol::CLAUSE).in_list(ours, false));
            aggs.push(sum(only(inside, c(scol::AMOUNT))?).alias(name.as_str()));
            names.push(name);
        }
    }
    let a = e(awards.aggregate(vec![c("fi")], aggs))?;
    dense(a, n, &names).await
}

/// `held_at` on a per-firm date: the frame's dates joined with the events, each result a dense
/// column gathered back onto the frame.
async fn held_at(
    t: DataFrame,
    events: Option<DataFrame>,
    cm: &Compiler<'_>,
    n: usize,
) -> R<DataFrame> {
    // The dates feed a join with the events and the results go back onto the same frame:
    // compute the frame once, not twice.
    let (fctx, schema, parts) = crate::exec::materialise_parts(t, "frame before held_at").await?;
    let t = crate::exec::read_parts(&fctx, schema.clone(), parts.clone())?;
    let mut held = vec![];
    for (n_ev, agg) in cm.events.iter().enumerate() {
        if let EventAgg::HeldAt {
            fact,
            values,
            date_col,
            validity,
        } = agg
        {
            let until = cm.until_of(*validity);
            let name = format!("e{n_ev}");
            let dates = e(t
                .clone()
                .select(vec![c("fi").alias("kd"), c(date_col).alias("dd")]))?;
            let ev = e(events
                .clone()
                .ok_or("events not loaded")?
                .filter(event_pred(fact, values)))?;
            let joined = e(
                e(ev.join(dates, JoinType::Inner, &["fi"], &["kd"], None))?.filter(
                    c(scol::DATE)
                        .lt_eq(c("dd"))
                        .and(until.clone().is_null().or(until.gt_eq(c("dd")))),
                ),
            )?;
            let a =
                e(joined.aggregate(vec![c("fi")], vec![bool_or(lit(true)).alias(name.as_str())]))?;
            // Few firms hold it: a dense column by firm index, gathered onto the frame's rows
            // (which keep their order) instead of a join of every firm row.
            held.extend(dense(a, n, &[name]).await?);
        }
    }
    crate::exec::with_dense(&fctx, schema, parts, held)
}

/// Adds computed columns in as few projections as their dependencies allow: a column's level is
/// one more than the deepest computed column it reads. (One `with_column` per column would stack
/// hundreds of projections, which makes planning quadratic and deep.)
pub(crate) fn add_columns(
    mut df: DataFrame,
    cols: &[(String, datafusion::logical_expr::Expr)],
) -> R<DataFrame> {
    let mut level: HashMap<&str, usize> = HashMap::new();
    let mut by_level: Vec<Vec<usize>> = vec![];
    for (i, (name, expr)) in cols.iter().enumerate() {
        let lv = expr
            .column_refs()
            .iter()
            .filter_map(|c| level.get(c.name.as_str()))
            .max()
            .map(|l| l + 1)
            .unwrap_or(0);
        level.insert(name.as_str(), lv);
        if by_level.len() <= lv {
            by_level.resize(lv + 1, vec![]);
        }
        by_level[lv].push(i);
    }
    for idxs in by_level {
        let mut sel: Vec<datafusion::logical_expr::Expr> =
            df.schema().fields().iter().map(|f| c(f.name())).collect();
        sel.extend(
            idxs.iter()
                .map(|&i| cols[i].1.clone().alias(cols[i].0.as_str())),
        );
        df = df.select(sel).map_err(Error::engine)?;
    }
    Ok(df)
}
