//! The DataFusion implementation of [`crate::compute::compute_with`], kept as the differential
//! oracle of the dense one (`tests/differential.rs` compares every figure and drill-down row
//! of both): the definitions written as queries.
//!
//! One wide frame holds a row per firm with every column the set needs, at the period and at
//! the same period a year earlier: the zone (the zone fact's record valid at each as-of date),
//! each condition's fact, each summed fact (months 1..=M累计 for a monthly fact, the year's
//! value for a yearly one) and each first-record date. Each indicator is then a filter of that
//! frame to the firms in its set now or a year ago, collected as per-firm rows; the figures are
//! exact integer sums of those rows, so a drill-down list always sums to its card.
//!
//! Growth comes two ways, both kept: **同口径** compares this year's set with the same firms' own
//! figures a year earlier (as the statistics bureau does); **名义** compares with last year's set
//! and its figures (what last year's report said). Firms entering and leaving the set (a firm
//! moving in or out of the zone, joining or leaving the register) make them differ.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, JoinType, ScalarValue};
use datafusion::execution::config::SessionConfig;
use datafusion::functions_aggregate::expr_fn::{bool_or, max, min, sum};
use datafusion::logical_expr::{cast, Expr};
use datafusion::prelude::*;

use huiqi_data::dates::to_days;
use huiqi_files::snapshot::{col as scol, table_file, EVENTS, FIRMS, MONTHLY, YEARLY};
use huiqi_ir::Date;

use crate::compute::{accumulate, figures, Computed, Figure, Period};
use crate::error::{Error, Result};
use crate::runs::RunUsed;
use crate::set::{FactInfo, IndicatorSet, Measure, Test};
use huiqi_files::run::col as rcol;

fn c(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn date(d: Date) -> Expr {
    lit(ScalarValue::Date32(Some(to_days(d))))
}

fn e<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(Error::engine)
}

/// The columns the wide frame gets, by what they hold; each has a short generated name.
#[derive(Default)]
struct Cols {
    names: BTreeMap<String, String>,
}

impl Cols {
    fn name(&mut self, key: String) -> String {
        let n = self.names.len();
        self.names
            .entry(key)
            .or_insert_with(|| format!("k{n}"))
            .clone()
    }
}

/// A record of the event fact (with a value in `values`, when given) valid on `d`.
fn holds(fact: &str, values: &[String], d: Date) -> Expr {
    let mut p = c(scol::FACT)
        .eq(lit(fact))
        .and(c(scol::DATE).lt_eq(date(d)))
        .and(c(scol::UNTIL).is_null().or(c(scol::UNTIL).gt_eq(date(d))));
    if !values.is_empty() {
        p = p.and(c(scol::VALUE).in_list(values.iter().map(|v| lit(v.as_str())).collect(), false));
    }
    p
}

fn values_of(t: &Test) -> &[String] {
    match t {
        Test::OneOf(v) => v,
        Test::Is(_) => &[],
    }
}

/// Whether a run's result row is a selection: an award, or one reduced only by a rule applied
/// after selection (就高, a pool, a cap, a group cap) — a firm chosen as 瞪羚 that is paid under another
/// clause instead was still chosen. Not: a failed condition, missing data, the clause's window,
/// a zero amount, a negative list, or 未入选.
fn selected_row() -> Expr {
    use huiqi_ir::reason::ReasonKind as K;
    let mut p = c(rcol::AMOUNT_FEN).gt(lit(0i64));
    for k in [
        K::ClauseCap,
        K::TotalCap,
        K::Exclusive,
        K::Pool,
        K::FirmCap,
        K::GroupCap,
    ] {
        p = p.or(if k.has_subject() {
            c(rcol::REASON).like(lit(format!("{}:%", k.key())))
        } else {
            c(rcol::REASON).eq(lit(k.key()))
        });
    }
    p
}

/// [`compute`]; without `rows` the firm rows are neither kept nor ordered (the figures do not
/// depend on order): what printing the figures needs, at a fraction of the memory. `runs`
/// (checked by [`crate::runs::open_runs`]) are what `selected` indicators read.
pub async fn compute_with(
    set: &IndicatorSet,
    dir: &Path,
    period: Period,
    rows: bool,
    runs: &[RunUsed],
) -> Result<Computed> {
    let manifest: huiqi_files::snapshot::Manifest = serde_json::from_slice(
        &std::fs::read(dir.join(huiqi_files::snapshot::MANIFEST)).map_err(|x| Error::io(dir, x))?,
    )
    .map_err(|x| Error::io(dir, x))?;
    set.check_schema(&manifest.schema)?;
    let info = |f: &str| FactInfo::of(&manifest.schema[f]);
    let zones = info(&set.zone_fact).values;

    let (y1, y0) = (period.year, period.year - 1);
    let (d1, d0) = (period.as_of(), period.base().as_of());
    let mut cols = Cols::default();
    let (mut statics, mut yearly, mut monthly, mut events) = (vec![], vec![], vec![], vec![]);
    // Indicators share columns (the register year, a tag): each aggregate is added once.
    let mut pushed = std::collections::HashSet::new();
    let mut put = |v: &mut Vec<Expr>, e: Expr| {
        if pushed.insert(e.schema_name().to_string()) {
            v.push(e);
        }
    };
    let z1 = cols.name("zone1".into());
    let z0 = cols.name("zone0".into());
    put(
        &mut events,
        e(when(holds(&set.zone_fact, &[], d1), c(scol::VALUE)).end()).map(|x| min(x).alias(&z1))?,
    );
    put(
        &mut events,
        e(when(holds(&set.zone_fact, &[], d0), c(scol::VALUE)).end()).map(|x| min(x).alias(&z0))?,
    );

    // Conditions: (cur, base) predicates over the wide frame, per indicator.
    let mut preds: Vec<(Expr, Expr)> = vec![];
    let mut vals: Vec<(Expr, Expr)> = vec![];
    // Selections read from runs: run period → (clause, column) pairs; indicators without the
    // run of their year are skipped.
    let mut selections: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    let mut skipped: std::collections::HashSet<String> = Default::default();
    let mut no_base: Vec<String> = vec![];
    let mut notes = vec![];
    let run_of = |y: i32| runs.iter().find(|r| r.period == y);
    for ind in &set.indicators {
        let mut p1 = c(&z1).is_not_null();
        let mut p0 = c(&z0).is_not_null();
        if !ind.zones.is_empty() {
            let zl: Vec<Expr> = ind.zones.iter().map(|z| lit(z.as_str())).collect();
            p1 = p1.and(c(&z1).in_list(zl.clone(), false));
            p0 = p0.and(c(&z0).in_list(zl, false));
        }
        for cond in &ind.conds {
            let f = info(&cond.fact);
            let (a, b) = match f.period.as_str() {
                "static" => {
                    let n = cols.name(format!("s:{}", cond.fact));
                    if !statics.iter().any(|(k, _): &(String, String)| *k == n) {
                        statics.push((n.clone(), cond.fact.clone()));
                    }
                    (c(&n), c(&n))
                }
                "per year" => {
                    let n1 = cols.name(format!("y1:{}", cond.fact));
                    let n0 = cols.name(format!("y0:{}", cond.fact));
                    let agg = |y: i32, n: &str| -> Result<Expr> {
                        let x = e(when(c(scol::YEAR).eq(lit(y)), c(&cond.fact)).end())?;
                        Ok(if f.ty == "bool" { bool_or(x) } else { max(x) }.alias(n))
                    };
                    put(&mut yearly, agg(y1, &n1)?);
                    put(&mut yearly, agg(y0, &n0)?);
                    (c(&n1), c(&n0))
                }
                _ => {
                    // An event: held at each as-of date (with one of the values).
                    let key = format!("{:?}:{}", cond.test, cond.fact);
                    let n1 = cols.name(format!("e1:{key}"));
                    let n0 = cols.name(format!("e0:{key}"));
                    let vs = values_of(&cond.test);
                    put(
                        &mut events,
                        bool_or(e(when(holds(&cond.fact, vs, d1), lit(true)).end())?).alias(&n1),
                    );
                    put(
                        &mut events,
                        bool_or(e(when(holds(&cond.fact, vs, d0), lit(true)).end())?).alias(&n0),
                    );
                    let (a, b) = (c(&n1).is_true(), c(&n0).is_true());
                    match cond.test {
                        Test::Is(false) => (a.not(), b.not()),
                        _ => (a, b),
                    }
                }
            };
            let (t1, t0) = match (&cond.test, f.period.as_str()) {
                (_, "event") => (a, b),
                (Test::OneOf(vs), _) => {
                    let l: Vec<Expr> = vs.iter().map(|v| lit(v.as_str())).collect();
                    (a.in_list(l.clone(), false), b.in_list(l, false))
                }
                (Test::Is(v), _) => (a.eq(lit(*v)), b.eq(lit(*v))),
            };
            p1 = p1.and(t1);
            p0 = p0.and(t0);
        }
        let one = || cast(lit(1i64), DataType::Decimal128(38, 12));
        let (v1, v0) = match ind.measure {
            Measure::Sum => {
                let fact = ind.fact.as_deref().unwrap_or_default();
                let f = info(fact);
                let n1 = cols.name(format!("v1:{fact}"));
                let n0 = cols.name(format!("v0:{fact}"));
                if f.period == "per month" {
                    let agg = |y: i32, n: &str| -> Result<Expr> {
                        Ok(sum(e(when(c(scol::YEAR).eq(lit(y)), c(fact)).end())?).alias(n))
                    };
                    put(&mut monthly, agg(y1, &n1)?);
                    put(&mut monthly, agg(y0, &n0)?);
                } else {
                    let agg = |y: i32, n: &str| -> Result<Expr> {
                        Ok(max(e(when(c(scol::YEAR).eq(lit(y)), c(fact)).end())?).alias(n))
                    };
                    put(&mut yearly, agg(y1, &n1)?);
                    put(&mut yearly, agg(y0, &n0)?);
                }
                // A sum's set is the firms reporting the fact for the period: a firm with no
                // figure (an annual return not yet filed) is not a firm of the figure. Its
                // figure a year earlier may be missing (then 0: new to reporting).
                p1 = p1.and(c(&n1).is_not_null());
                p0 = p0.and(c(&n0).is_not_null());
                (
                    cast(c(&n1), DataType::Decimal128(38, 12)),
                    cast(c(&n0), DataType::Decimal128(38, 12)),
                )
            }
            Measure::New => {
                let fact = ind.fact.as_deref().unwrap_or_default();
                let n = cols.name(format!("first:{fact}:{:?}", ind.values));
                let mut p = c(scol::FACT).eq(lit(fact));
                if !ind.values.is_empty() {
                    let l = ind.values.iter().map(|v| lit(v.as_str())).collect();
                    p = p.and(c(scol::VALUE).in_list(l, false));
                }
                put(&mut events, min(e(when(p, c(scol::DATE)).end())?).alias(&n));
                let within = |d: Date| {
                    c(&n)
                        .gt_eq(date(Date::year_start(d.y)))
                        .and(c(&n).lt_eq(date(d)))
                };
                p1 = p1.and(within(d1));
                p0 = p0.and(within(d0));
                (one(), one())
            }
            Measure::Selected => {
                let clause = ind.clause.as_deref().unwrap_or_default();
                let (ya, yb) = (y1 + ind.run_offset, y0 + ind.run_offset);
                let mut sel = |y: i32| -> Option<Expr> {
                    run_of(y)?;
                    let n = cols.name(format!("sel:{y}:{clause}"));
                    let v = selections.entry(y).or_default();
                    if !v.iter().any(|(_, k)| *k == n) {
                        v.push((clause.to_string(), n.clone()));
                    }
                    Some(c(&n).is_true())
                };
                match sel(ya) {
                    Some(p) => p1 = p1.and(p),
                    None => {
                        skipped.insert(ind.id.clone());
                        notes.push((
                            format!("{}：需要 {ya} 年的运行结果（--run），未计算", ind.label),
                            format!("{}: needs the run of {ya} (--run); not computed", ind.label),
                        ));
                    }
                }
                match sel(yb) {
                    Some(p) => p0 = p0.and(p),
                    None => {
                        p0 = lit(false);
                        if !skipped.contains(&ind.id) {
                            no_base.push(ind.id.clone());
                            notes.push((
                                format!("{}：没有 {yb} 年的运行结果，不计增速与进出", ind.label),
                                format!(
                                    "{}: no run of {yb}; no growth, entries or exits",
                                    ind.label
                                ),
                            ));
                        }
                    }
                }
                (one(), one())
            }
            Measure::Count | Measure::Ratio | Measure::Investment => (one(), one()),
        };
        preds.push((p1.is_true(), p0.is_true()));
        vals.push((v1, v0));
    }

    let ctx = SessionContext::new();
    let read = |t: &str| {
        let p = dir.join(table_file(t));
        let ctx = &ctx;
        async move {
            e(ctx
                .read_parquet(p.to_string_lossy().as_ref(), ParquetReadOptions::default())
                .await)
        }
    };
    let mut sel = vec![c(scol::FIRM_ID), c(scol::NAME)];
    sel.extend(statics.iter().map(|(n, f)| c(f).alias(n)));
    let mut wide = e(read(FIRMS).await?.select(sel))?;
    let facts: Vec<Expr> = std::iter::once(&set.zone_fact)
        .chain(set.indicators.iter().flat_map(|i| {
            i.conds
                .iter()
                .map(|c| &c.fact)
                .chain(i.fact.iter().filter(|_| i.measure == Measure::New))
        }))
        .map(|f| lit(f.as_str()))
        .collect();
    for (t, aggs, filter) in [
        (EVENTS, events, Some(c(scol::FACT).in_list(facts, false))),
        (
            YEARLY,
            yearly,
            Some(c(scol::YEAR).in_list(vec![lit(y1), lit(y0)], false)),
        ),
        (
            MONTHLY,
            monthly,
            Some(
                c(scol::YEAR)
                    .in_list(vec![lit(y1), lit(y0)], false)
                    .and(c(scol::MONTH).lt_eq(lit(period.month as i32))),
            ),
        ),
    ] {
        if aggs.is_empty() {
            continue;
        }
        let key = format!("fid_{t}");
        let mut df = read(t).await?;
        if let Some(f) = filter {
            df = e(df.filter(f))?;
        }
        let a = e(df.aggregate(vec![c(scol::FIRM_ID).alias(&key)], aggs))?;
        wide = e(wide.join(a, JoinType::Left, &[scol::FIRM_ID], &[key.as_str()], None))?;
    }
    // Each run's selections, one aggregate per run: a column per clause, true where the firm
    // was selected.
    for (y, wanted) in &selections {
        let Some(run) = run_of(*y) else { continue };
        let key = format!("fid_run{y}");
        let df = e(ctx
            .read_parquet(
                run.results.to_string_lossy().as_ref(),
                ParquetReadOptions::default(),
            )
            .await)?;
        let clauses: Vec<Expr> = wanted.iter().map(|(cl, _)| lit(cl.as_str())).collect();
        let df = e(df.filter(c(rcol::CLAUSE).in_list(clauses, false)))?;
        let aggs = wanted
            .iter()
            .map(|(cl, n)| {
                Ok(bool_or(e(when(
                    c(rcol::CLAUSE).eq(lit(cl.as_str())).and(selected_row()),
                    lit(true),
                )
                .end())?)
                .alias(n))
            })
            .collect::<Result<Vec<_>>>()?;
        let a = e(df.aggregate(
            vec![cast(c(rcol::FIRM_ID), DataType::Utf8).alias(&key)],
            aggs,
        ))?;
        let wide_key = format!("fid_wide{y}");
        wide = e(wide.with_column(&wide_key, cast(c(scol::FIRM_ID), DataType::Utf8)))?;
        wide = e(wide.join(
            a,
            JoinType::Left,
            &[wide_key.as_str()],
            &[key.as_str()],
            None,
        ))?;
    }
    // One partition sorted by credit code: each indicator's rows come out in that order (a filter
    // and a projection over a single partition keep it), so the outputs are the same bytes every
    // time without a sort per indicator.
    let wide = if rows {
        let sorted = e(e(wide.sort(vec![c(scol::FIRM_ID).sort(true, false)]))?
            .collect()
            .await)?;
        let one = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        e(one.read_batches(sorted))?
    } else {
        e(wide.cache().await)?
    };
    let keep_rows = rows;

    // Firms in no zone at the period's end.
    let nozone = e(e(wide.clone().filter(c(&z1).is_null()))?.count().await)? as u64;

    // Each indicator's firms (in its set now or a year earlier) as Arrow batches in the
    // drill-down's columns, summed exactly as they arrive: no per-firm objects are built.
    let zero = || lit(ScalarValue::Decimal128(Some(0), 38, 12));
    let mut by: BTreeMap<(String, String), Figure> = BTreeMap::new();
    let mut rows = vec![];
    // Without rows kept, the credit code and name are not selected (a constant stands in, so the
    // batch keeps the drill-down's column positions).
    let text = |col: &str, alias: &str| {
        if keep_rows {
            cast(c(col), DataType::Utf8).alias(alias)
        } else {
            lit("").alias(alias)
        }
    };
    for ((ind, (p1, p0)), (v1, v0)) in set.indicators.iter().zip(preds).zip(vals) {
        if ind.measure == Measure::Ratio || skipped.contains(&ind.id) {
            continue;
        }
        if ind.measure == Measure::Investment {
            let Some(batches) = investment(&ctx, dir, ind, period, keep_rows).await? else {
                skipped.insert(ind.id.clone());
                notes.push((
                    format!(
                        "{}：快照中没有项目表（在映射文件中加入 [[projects]] 后重新导入），未计算",
                        ind.label
                    ),
                    format!(
                        "{}: the snapshot has no projects table (add [[projects]] to the mapping and ingest again); not computed",
                        ind.label
                    ),
                ));
                continue;
            };
            for b in batches {
                accumulate(&ind.id, &b, &mut by)?;
                if keep_rows {
                    rows.push(b);
                }
            }
            continue;
        }
        let df = e(wide.clone().filter(p1.clone().or(p0.clone())))?;
        let df = e(df.select(vec![
            lit(ind.id.as_str()).alias("indicator"),
            text(scol::FIRM_ID, "firm_id"),
            text(scol::NAME, "name"),
            cast(c(&z1), DataType::Utf8).alias("zone"),
            cast(c(&z0), DataType::Utf8).alias("zone_base"),
            p1.alias("in_current"),
            p0.alias("in_base"),
            e(when(v1.clone().is_null(), zero()).otherwise(v1))?.alias("value"),
            e(when(v0.clone().is_null(), zero()).otherwise(v0))?.alias("base_value"),
        ]))?;
        for b in e(df.collect().await)? {
            accumulate(&ind.id, &b, &mut by)?;
            if keep_rows {
                rows.push(b);
            }
        }
    }
    let mut figures = figures(set, &zones, &by, &skipped)?;
    // Without last year's selection every firm would look like an entry.
    for f in figures
        .iter_mut()
        .filter(|f| no_base.contains(&f.indicator))
    {
        f.entries = 0;
        f.exits = 0;
    }
    Ok(Computed {
        period,
        figures,
        rows,
        firms_without_zone: nozone,
        zones,
        runs: runs.to_vec(),
        notes,
    })
}

/// 固投: the projects in the zone that reported investment in 1..=M月 of the year (or of the
/// year before, for the base), in the drill-down's columns — a project's code and name stand
/// where a firm's are. A project is in its own zone (the table's), not its builder's. None when
/// the snapshot has no projects table.
async fn investment(
    ctx: &SessionContext,
    dir: &Path,
    ind: &crate::set::Indicator,
    period: Period,
    keep_rows: bool,
) -> Result<Option<Vec<RecordBatch>>> {
    use huiqi_files::snapshot::PROJECTS;
    let p = dir.join(table_file(PROJECTS));
    if !p.is_file() {
        return Ok(None);
    }
    let (y1, y0) = (period.year, period.year - 1);
    let df = e(ctx
        .read_parquet(p.to_string_lossy().as_ref(), ParquetReadOptions::default())
        .await)?;
    let df = e(df.filter(
        c(scol::YEAR)
            .in_list(vec![lit(y1), lit(y0)], false)
            .and(c(scol::MONTH).lt_eq(lit(period.month as i32))),
    ))?;
    let in_year = |y: i32| c(scol::YEAR).eq(lit(y));
    let df = e(df.aggregate(
        vec![c(scol::PROJECT_ID)],
        vec![
            max(c(scol::NAME)).alias("pname"),
            max(c(scol::ZONE)).alias("pzone"),
            sum(e(when(in_year(y1), c(scol::INVESTMENT)).end())?).alias("v1"),
            sum(e(when(in_year(y0), c(scol::INVESTMENT)).end())?).alias("v0"),
            bool_or(in_year(y1)).alias("has1"),
            bool_or(in_year(y0)).alias("has0"),
        ],
    ))?;
    let mut zone_ok = lit(true);
    if !ind.zones.is_empty() {
        let zl: Vec<Expr> = ind.zones.iter().map(|z| lit(z.as_str())).collect();
        zone_ok = c("pzone").in_list(zl, false);
    }
    let zero = || lit(ScalarValue::Decimal128(Some(0), 38, 12));
    let dec = |x: &str| -> Result<Expr> {
        let v = cast(c(x), DataType::Decimal128(38, 12));
        e(when(v.clone().is_null(), zero()).otherwise(v))
    };
    let mut df = e(df.select(vec![
        lit(ind.id.as_str()).alias("indicator"),
        cast(c(scol::PROJECT_ID), DataType::Utf8).alias("firm_id"),
        cast(c("pname"), DataType::Utf8).alias("name"),
        cast(e(when(c("has1"), c("pzone")).end())?, DataType::Utf8).alias("zone"),
        cast(e(when(c("has0"), c("pzone")).end())?, DataType::Utf8).alias("zone_base"),
        c("has1").and(zone_ok.clone()).is_true().alias("in_current"),
        c("has0").and(zone_ok).is_true().alias("in_base"),
        dec("v1")?.alias("value"),
        dec("v0")?.alias("base_value"),
    ]))?;
    if keep_rows {
        df = e(df.sort(vec![c("firm_id").sort(true, false)]))?;
    }
    let batches = e(df.collect().await)?;
    Ok(Some(batches))
}
