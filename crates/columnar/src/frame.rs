//! Builds the target frame: one row per firm of the snapshot with every column the compiled
//! expressions reference — facts at year offsets (joins on the yearly table), history
//! aggregates (a dense firm × year panel, grouped), event, monthly and award aggregates.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{bool_or, count, max, min, sum};
use datafusion::logical_expr::{cast, Expr as DExpr};
use datafusion::prelude::*;

use crate::compile::{col_name_yearly, colref as c, Compiler, EventAgg, HistKind};

type R<T> = Result<T, String>;

fn e<T, E: std::fmt::Display>(r: Result<T, E>) -> R<T> {
    r.map_err(|x| x.to_string())
}

fn fact_col(name: &str) -> DExpr {
    col(datafusion::common::Column::new_unqualified(name))
}

pub async fn read(ctx: &SessionContext, dir: &Path, table: &str) -> R<DataFrame> {
    let path = dir.join(format!("{table}.parquet"));
    e(ctx
        .read_parquet(
            path.to_string_lossy().to_string(),
            ParquetReadOptions::default(),
        )
        .await)
}

/// Left-joins `right` (keyed by `key`) onto `t` by firm.
fn join_firm(t: DataFrame, right: DataFrame, key: &str) -> R<DataFrame> {
    e(t.join(right, JoinType::Left, &["firm_id"], &[key], None))
}

pub async fn build(ctx: &SessionContext, dir: &Path, cm: &Compiler<'_>) -> R<DataFrame> {
    let p = cm.p;
    let y = cm.year;
    let firms = read(ctx, dir, "firms").await?;
    let mut sel = vec![c("firm_id")];
    for f in &cm.statics {
        sel.push(fact_col(&p.facts[*f].name).alias(format!("s{f}")));
    }
    let mut t = e(firms.select(sel))?;

    let yearly = read(ctx, dir, "yearly").await?;
    let offsets: std::collections::BTreeSet<u32> =
        cm.target_yearly.iter().map(|(_, o)| *o).collect();
    for o in offsets {
        let key = format!("ky{o}");
        let mut sel = vec![c("firm_id").alias(key.as_str())];
        for (f, _) in cm.target_yearly.iter().filter(|(_, oo)| *oo == o) {
            sel.push(fact_col(&p.facts[*f].name).alias(col_name_yearly(*f, o)));
        }
        let right = e(e(yearly.clone().filter(c("year").eq(lit(y - o as i32))))?.select(sel))?;
        t = join_firm(t, right, &key)?;
    }

    if !cm.hists.is_empty() {
        let monthly = read(ctx, dir, "monthly").await?;
        let years = e(e(yearly.clone().select(vec![c("firm_id"), c("year")]))?
            .union(e(monthly.select(vec![c("firm_id"), c("year")]))?))?;
        let fy = e(years.aggregate(vec![c("firm_id")], vec![min(c("year")).alias("fy")]))?;
        let gmin = e(
            e(fy.clone().aggregate(vec![], vec![min(c("fy")).alias("g")]))?
                .collect()
                .await,
        )?;
        let gmin = gmin.first().and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .and_then(|a| (!a.is_null(0)).then(|| a.value(0)))
        });
        let mut panel = None;
        if let Some(g) = gmin.filter(|g| *g < y) {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "year",
                DataType::Int32,
                false,
            )]));
            let batch = e(RecordBatch::try_new(
                schema,
                vec![Arc::new(Int32Array::from((g..y).collect::<Vec<i32>>()))],
            ))?;
            let years = e(ctx.read_batch(batch))?;
            let mut pn = e(e(fy.join(years, JoinType::Inner, &[], &[], None))?
                .filter(c("year").gt_eq(c("fy"))))?;
            let ks: std::collections::BTreeSet<u32> =
                cm.panel_yearly.iter().map(|(_, k)| *k).collect();
            for k in ks {
                let (kf, ky) = (format!("pkf{k}"), format!("pky{k}"));
                let mut sel = vec![
                    c("firm_id").alias(kf.as_str()),
                    (c("year") + lit(k as i32)).alias(ky.as_str()),
                ];
                for (f, _) in cm.panel_yearly.iter().filter(|(_, kk)| *kk == k) {
                    sel.push(fact_col(&p.facts[*f].name).alias(format!("p{f}_{k}")));
                }
                let right = e(yearly.clone().select(sel))?;
                pn = e(pn.join(
                    right,
                    JoinType::Left,
                    &["firm_id", "year"],
                    &[kf.as_str(), ky.as_str()],
                    None,
                ))?;
            }
            panel = Some(pn);
        }
        for (n, h) in cm.hists.iter().enumerate() {
            let key = format!("kh{n}");
            let right = match &panel {
                Some(pn) => {
                    let agg = match h.kind {
                        HistKind::Ever => bool_or(h.inner.clone()),
                        HistKind::Max => max(h.inner.clone()),
                        HistKind::Min => min(h.inner.clone()),
                    };
                    let a = e(
                        e(pn.clone().filter(c("year").lt(lit(y - h.offset as i32))))?
                            .aggregate(vec![c("firm_id")], vec![agg.alias(format!("h{n}"))]),
                    )?;
                    e(a.select(vec![c("firm_id").alias(key.as_str()), c(&format!("h{n}"))]))?
                }
                None => {
                    // No earlier years anywhere: an empty aggregate with the right columns.
                    let dt = if matches!(h.kind, HistKind::Ever) {
                        DataType::Boolean
                    } else {
                        crate::udf::DEC
                    };
                    let schema = Arc::new(Schema::new(vec![
                        Field::new(key.as_str(), DataType::Utf8, true),
                        Field::new(format!("h{n}"), dt, true),
                    ]));
                    e(ctx.read_batch(RecordBatch::new_empty(schema)))?
                }
            };
            t = join_firm(t, right, &key)?;
        }
    }

    let events = read(ctx, dir, "events").await?;
    let date32 = |d: i32| lit(ScalarValue::Date32(Some(d)));
    let vals_pred = |values: &Option<Vec<String>>| -> DExpr {
        match values {
            None => lit(true),
            Some(vs) => c("value").in_list(vs.iter().map(|v| lit(v.clone())).collect(), false),
        }
    };
    for (n, agg) in cm.events.iter().enumerate() {
        let key = format!("ke{n}");
        let name = format!("e{n}");
        let (pred, a) = match agg {
            EventAgg::HeldOn { fact, values, date } => (
                c("fact")
                    .eq(lit(fact.clone()))
                    .and(vals_pred(values))
                    .and(c("date").lt_eq(date32(*date)))
                    .and(c("until").is_null().or(c("until").gt_eq(date32(*date)))),
                bool_or(lit(true)),
            ),
            EventAgg::DatedIn {
                fact,
                values,
                from,
                to,
            } => (
                c("fact")
                    .eq(lit(fact.clone()))
                    .and(vals_pred(values))
                    .and(c("date").gt_eq(date32(*from)))
                    .and(c("date").lt_eq(date32(*to))),
                bool_or(lit(true)),
            ),
            EventAgg::CountBefore { fact, before } => (
                c("fact")
                    .eq(lit(fact.clone()))
                    .and(c("date").lt(date32(*before))),
                cast(count(lit(1)), crate::udf::DEC),
            ),
            EventAgg::FirstDate {
                fact,
                value,
                from,
                to,
            } => (
                c("fact")
                    .eq(lit(fact.clone()))
                    .and(c("value").eq(lit(value.clone())))
                    .and(c("date").gt_eq(date32(*from)))
                    .and(c("date").lt_eq(date32(*to))),
                min(c("date")),
            ),
            EventAgg::HeldAt { .. } => continue,
        };
        let right = e(e(e(events.clone().filter(pred))?
            .aggregate(vec![c("firm_id")], vec![a.alias(name.as_str())]))?
        .select(vec![c("firm_id").alias(key.as_str()), c(&name)]))?;
        t = join_firm(t, right, &key)?;
    }

    if !cm.monthly_totals.is_empty() || !cm.monthly_latest.is_empty() {
        let monthly = read(ctx, dir, "monthly").await?;
        for (f, yy) in &cm.monthly_totals {
            let key = format!("km{f}_{yy}");
            let name = format!("mt{f}_{yy}");
            let fc = fact_col(&p.facts[*f].name);
            let a = e(
                e(monthly.clone().filter(c("year").eq(lit(*yy))))?.aggregate(
                    vec![c("firm_id")],
                    vec![
                        sum(fc.clone()).alias("s"),
                        count(fc).alias("n"),
                        count(lit(1)).alias("all"),
                    ],
                ),
            )?;
            let total = when(c("n").eq(c("all")), c("s"))
                .otherwise(lit(ScalarValue::Decimal128(None, 38, 12)))
                .map_err(|x| x.to_string())?;
            t = join_firm(
                t,
                e(a.select(vec![
                    c("firm_id").alias(key.as_str()),
                    total.alias(name.as_str()),
                ]))?,
                &key,
            )?;
        }
        if let Some((f, _)) = cm.monthly_latest.iter().next() {
            return Err(format!(
                "the columnar engine does not support latest({}) yet; use the reference evaluator",
                p.facts[*f].name
            ));
        }
    }

    if !cm.awards.is_empty() {
        let awards = read(ctx, dir, "awards").await?;
        for (cl, bound) in &cm.awards {
            let key = format!("ka{cl}_{bound}");
            let name = format!("aw{cl}_{bound}");
            let a = e(e(awards.clone().filter(
                c("clause")
                    .eq(lit(p.clauses[*cl].name.clone()))
                    .and(c("period").lt(lit(*bound))),
            ))?
            .aggregate(
                vec![c("firm_id")],
                vec![sum(c("amount")).alias(name.as_str())],
            ))?;
            t = join_firm(
                t,
                e(a.select(vec![c("firm_id").alias(key.as_str()), c(&name)]))?,
                &key,
            )?;
        }
    }

    // Held on a per-firm date: needs the date column first, then a join with the events.
    for (name, expr) in &cm.dyn_dates {
        t = e(t.with_column(name, expr.clone()))?;
    }
    for (n, agg) in cm.events.iter().enumerate() {
        if let EventAgg::HeldAt {
            fact,
            values,
            date_col,
        } = agg
        {
            let key = format!("ke{n}");
            let name = format!("e{n}");
            let dates = e(t
                .clone()
                .select(vec![c("firm_id").alias("kd"), c(date_col).alias("dd")]))?;
            let ev = e(events
                .clone()
                .filter(c("fact").eq(lit(fact.clone())).and(vals_pred(values))))?;
            let joined = e(
                e(ev.join(dates, JoinType::Inner, &["firm_id"], &["kd"], None))?.filter(
                    c("date")
                        .lt_eq(c("dd"))
                        .and(c("until").is_null().or(c("until").gt_eq(c("dd")))),
                ),
            )?;
            let right = e(e(joined.aggregate(
                vec![c("firm_id")],
                vec![bool_or(lit(true)).alias(name.as_str())],
            ))?
            .select(vec![c("firm_id").alias(key.as_str()), c(&name)]))?;
            t = join_firm(t, right, &key)?;
        }
    }
    Ok(t)
}
