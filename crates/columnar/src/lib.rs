//! The columnar engine: the same IR as the reference evaluator, compiled to Apache DataFusion
//! plans over a snapshot (docs/SNAPSHOT.md), evaluated for a whole population at once.
//! Exactness: every number is Decimal128(38, 12) with the reference's integer arithmetic
//! (`udf.rs`), so results agree with `huiqi-eval` to the 分 (checked by differential tests).

pub mod allocate;
pub mod clause;
pub mod compile;
pub mod frame;
pub mod load;
pub mod output;
pub mod reasons;
mod runs;
pub mod udf;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, BooleanArray, Int32Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::*;
use huiqi_ir::Program;

use compile::{colref, Compiler};
pub use reasons::Reasons;

/// One result row: a firm × clause × tranche.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    // Shared strings: a 1M-firm run has ~11M rows but only 1M firms and a few dozen tranches.
    pub firm_id: Arc<str>,
    pub clause: Arc<str>,
    pub tranche: Arc<str>,
    /// 分.
    pub amount_fen: i64,
    /// Why zero (or cut): `cond:名称`, `miss:名称`, `window`, `zero`, `totalcap`, `excl:规则`,
    /// `select:规则`, `exclusive:组`, `pool:资金池`, `firmcap:上限`.
    pub reason: Option<Arc<str>>,
}

#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Reading the snapshot's Parquet and aligning it to firms.
    pub load: Duration,
    /// Building the DataFusion plan (and materialising the frame for `held_at`).
    pub plan: Duration,
    /// Executing it: clause columns and the allocation stages.
    pub execute: Duration,
    /// Copying the collected columns into `Results`, in credit-code order (a scatter for
    /// batches whose firms are not consecutive).
    pub results: Duration,
    /// With `Options::repeat` > 1: plan + execute + results of every repeat (the fields above
    /// are the last one's).
    pub computes: Vec<Duration>,
}

pub struct Options {
    /// Memory limit for DataFusion's pool (sorts and aggregates spill beyond it).
    pub memory_limit: Option<usize>,
    pub partitions: usize,
    /// Compute this many times over the same loaded snapshot, keeping the last results: the
    /// steady-state compute time, for benchmarks (1 for a normal run).
    pub repeat: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memory_limit: None,
            partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            repeat: 1,
        }
    }
}

fn session(opts: &Options) -> Result<SessionContext, String> {
    let cfg = SessionConfig::new().with_target_partitions(opts.partitions);
    let mut rt = RuntimeEnvBuilder::new();
    if let Some(limit) = opts.memory_limit {
        rt = rt.with_memory_pool(std::sync::Arc::new(FairSpillPool::new(limit)));
    }
    let rt = rt.build_arc().map_err(|e| e.to_string())?;
    let ctx = SessionContext::new_with_config_rt(cfg, rt);
    for u in udf::all() {
        ctx.register_udf(u);
    }
    Ok(ctx)
}

/// Executes `df` once and keeps its partitions in memory (`DataFrame::cache`), for a stage that
/// reads the same rows twice. With `HUIQI_EXPLAIN` set, prints the executed plan with each
/// operator's rows and time, under `what`.
pub(crate) async fn materialise(df: DataFrame, what: &str) -> Result<DataFrame, String> {
    let e = |x: datafusion::error::DataFusionError| x.to_string();
    let task = Arc::new(df.task_ctx());
    let (state, plan) = df.into_parts();
    let ctx = SessionContext::new_with_state(state.clone());
    let physical = state.create_physical_plan(&plan).await.map_err(e)?;
    let parts = datafusion::physical_plan::collect_partitioned(physical.clone(), task)
        .await
        .map_err(e)?;
    explain(what, physical.as_ref());
    let table = datafusion::catalog::MemTable::try_new(physical.schema(), parts).map_err(e)?;
    ctx.read_table(Arc::new(table)).map_err(e)
}

/// For profiling (`HUIQI_EXPLAIN`): an executed plan with each operator's metrics, on stderr.
fn explain(what: &str, plan: &dyn datafusion::physical_plan::ExecutionPlan) {
    if std::env::var_os("HUIQI_EXPLAIN").is_some() {
        eprintln!(
            "== {what}\n{}",
            datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan)
                .indent(true)
        );
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    batch
        .column_by_name(name)
        .map(|a| a.as_ref())
        .ok_or_else(|| format!("missing column {name}"))
}

/// Adds computed columns in as few projections as their dependencies allow: a column's level is
/// one more than the deepest computed column it reads. (One `with_column` per column would stack
/// hundreds of projections, which makes planning quadratic and deep.)
fn add_columns(
    mut df: DataFrame,
    cols: &[(String, datafusion::logical_expr::Expr)],
) -> Result<DataFrame, String> {
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
        let mut sel: Vec<datafusion::logical_expr::Expr> = df
            .schema()
            .fields()
            .iter()
            .map(|f| colref(f.name()))
            .collect();
        sel.extend(
            idxs.iter()
                .map(|&i| cols[i].1.clone().alias(cols[i].0.as_str())),
        );
        df = df.select(sel).map_err(|e| e.to_string())?;
    }
    Ok(df)
}

/// A boolean column as "is true" (null is not true).
fn truths(a: &dyn Array) -> Result<impl Iterator<Item = bool> + '_, String> {
    let a = a
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or("expected a boolean column")?;
    Ok((0..a.len()).map(move |i| a.is_valid(i) && a.value(i)))
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
        }
    }
}

impl Results {
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

/// The result rows, firm by firm and in `by_clause` slot order within a firm, from per-slot
/// columns in firm order. The firms are split over the cores: each part counts its rows, then
/// fills its own range of the output.
fn rows_by_firm(
    amount: &[Vec<i64>],
    reason: &[Vec<u32>],
    present: &[Vec<bool>],
    by_clause: &[usize],
    res: &mut Results,
) {
    let n = present.first().map_or(0, |p| p.len());
    let parts = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(n.div_ceil(1 << 16).max(1));
    let bounds: Vec<(usize, usize)> = (0..parts)
        .map(|k| (n * k / parts, n * (k + 1) / parts))
        .collect();
    let count = |(lo, hi): (usize, usize)| -> usize {
        by_clause
            .iter()
            .map(|&s| present[s][lo..hi].iter().filter(|&&p| p).count())
            .sum()
    };
    let counts: Vec<usize> = bounds.iter().map(|&b| count(b)).collect();
    let total: usize = counts.iter().sum();
    res.firm = vec![0; total];
    res.slot = vec![0; total];
    res.amount_fen = vec![0; total];
    res.reason = vec![0; total];
    std::thread::scope(|sc| {
        let (mut firm, mut slot, mut amt, mut why) = (
            &mut res.firm[..],
            &mut res.slot[..],
            &mut res.amount_fen[..],
            &mut res.reason[..],
        );
        for (&(lo, hi), &c) in bounds.iter().zip(&counts) {
            let (f, rest) = std::mem::take(&mut firm).split_at_mut(c);
            firm = rest;
            let (sl, rest) = std::mem::take(&mut slot).split_at_mut(c);
            slot = rest;
            let (a, rest) = std::mem::take(&mut amt).split_at_mut(c);
            amt = rest;
            let (w, rest) = std::mem::take(&mut why).split_at_mut(c);
            why = rest;
            sc.spawn(move || {
                let mut i = 0;
                for fi in lo..hi {
                    for &s in by_clause {
                        if !present[s][fi] {
                            continue;
                        }
                        f[i] = fi as u32;
                        sl[i] = s as u32;
                        a[i] = amount[s][fi];
                        w[i] = reason[s][fi];
                        i += 1;
                    }
                }
            });
        }
    });
}

/// The result rows when some batch is not a run of consecutive firms (or the firms are not
/// sorted): every batch row is scattered to its firm's position first, each firm checked to
/// come exactly once. Returns the firm ids in credit-code order.
fn scattered(
    batches: &[RecordBatch],
    firm_ids: StringArray,
    sorted: bool,
    ns: usize,
    by_clause: &[usize],
    res: &mut Results,
) -> Result<StringArray, String> {
    let n = firm_ids.len();
    // Scatter every batch row to its firm's position: the firms table is sorted by credit code,
    // so the result is in credit-code order without a sort.
    let mut amount = vec![vec![0i64; n]; ns];
    let mut reason = vec![vec![0u32; n]; ns];
    let mut present = vec![vec![false; n]; ns];
    let mut seen = vec![false; n];
    for b in batches {
        let fi = column(b, "fi")?
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or("fi type")?
            .values();
        for &f in fi.iter() {
            let f = f as usize;
            if f >= n || std::mem::replace(&mut seen[f], true) {
                return Err(format!("engine: firm index {f} out of range or repeated"));
            }
        }
        // Batches straight from the firm table hold a run of consecutive firms: copy, don't
        // scatter.
        let run = fi
            .first()
            .map(|&f0| f0 as usize)
            .filter(|&f0| fi.iter().enumerate().all(|(j, &f)| f as usize == f0 + j));
        for s in 0..ns {
            let a = column(b, &allocate::amount_col(s))?
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or("amount type")?
                .values();
            let r = column(b, &allocate::reason_col(s))?
                .as_any()
                .downcast_ref::<Int32Array>()
                .ok_or("reason type")?
                .values();
            let p = truths(column(b, &allocate::present_col(s))?)?;
            match run {
                Some(f0) => {
                    let to = f0..f0 + fi.len();
                    amount[s][to.clone()].copy_from_slice(a);
                    for (d, &v) in reason[s][to.clone()].iter_mut().zip(r.iter()) {
                        *d = v as u32;
                    }
                    for (d, v) in present[s][to].iter_mut().zip(p) {
                        *d = v;
                    }
                }
                None => {
                    for (j, &f) in fi.iter().enumerate() {
                        amount[s][f as usize] = a[j];
                        reason[s][f as usize] = r[j] as u32;
                    }
                    for (v, &f) in p.zip(fi.iter()) {
                        present[s][f as usize] = v;
                    }
                }
            }
        }
    }
    if let Some(f) = seen.iter().position(|s| !s) {
        return Err(format!("engine: no result for firm {}", firm_ids.value(f)));
    }
    // Firms are sorted by credit code in a snapshot (docs/SNAPSHOT.md); sort anyway if a
    // hand-made one is not, so output order never depends on the input's.
    let mut firm_ids = firm_ids;
    if !sorted {
        let order = credit_order(&firm_ids);
        let idx = datafusion::arrow::array::UInt32Array::from_iter_values(
            order.iter().map(|&i| i as u32),
        );
        firm_ids = datafusion::arrow::compute::take(&firm_ids, &idx, None)
            .map_err(|e| e.to_string())?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("firm ids")?
            .clone();
        fn permute<T: Copy>(order: &[usize], v: &[T]) -> Vec<T> {
            order.iter().map(|&i| v[i]).collect()
        }
        amount = amount.iter().map(|v| permute(&order, v)).collect();
        present = present.iter().map(|v| permute(&order, v)).collect();
        reason = reason.iter().map(|v| permute(&order, v)).collect();
    }

    rows_by_firm(&amount, &reason, &present, by_clause, res);
    Ok(firm_ids)
}

/// Firm positions in credit-code order.
fn credit_order(ids: &StringArray) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|a, b| ids.value(*a).cmp(ids.value(*b)));
    order
}

/// Adds `fo`, each firm's position in credit-code order, to the per-firm batch: ties in
/// rankings and pools go by credit code, and an unsorted snapshot's `fi` is not that order.
fn with_order(base: RecordBatch, ids: &StringArray) -> Result<RecordBatch, String> {
    let mut rank = vec![0i32; ids.len()];
    for (r, f) in credit_order(ids).into_iter().enumerate() {
        rank[f] = r as i32;
    }
    let fi = column(&base, "fi")?
        .as_any()
        .downcast_ref::<Int32Array>()
        .ok_or("fi type")?;
    let fo: Int32Array = fi.values().iter().map(|&f| rank[f as usize]).collect();
    let mut fields: Vec<_> = base.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
        "fo",
        datafusion::arrow::datatypes::DataType::Int32,
        false,
    )));
    let mut cols = base.columns().to_vec();
    cols.push(Arc::new(fo));
    RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        cols,
    )
    .map_err(|e| e.to_string())
}

/// Evaluates every firm of the snapshot against the program for `year`, then allocates.
/// Rows come sorted by credit code, then clause order, then tranche order.
pub async fn run(
    p: &Program,
    snapshot: &Path,
    year: i32,
    opts: &Options,
) -> Result<(Results, Timings), String> {
    let t0 = Instant::now();
    // The plan says which columns to read.
    let loaded = {
        let mut cm = Compiler::new(p, year);
        cm.plan()?;
        load::load(snapshot, &cm)?
    };
    let load = t0.elapsed();
    let mut last = None;
    let mut computes = vec![];
    for _ in 0..opts.repeat.max(1) {
        let (res, t) = compute(p, year, loaded.clone(), opts).await?;
        computes.push(t.plan + t.execute + t.results);
        last = Some((res, t));
    }
    let (res, mut timings) = last.ok_or("no run")?;
    timings.load = load;
    if computes.len() > 1 {
        timings.computes = computes;
    }
    Ok((res, timings))
}

/// One evaluation over loaded columns: plan, execute, results.
async fn compute(
    p: &Program,
    year: i32,
    mut loaded: load::Loaded,
    opts: &Options,
) -> Result<(Results, Timings), String> {
    let mut timings = Timings::default();
    let ctx = session(opts)?;
    let mut cm = Compiler::new(p, year);
    let plan = cm.plan()?;
    let firm_ids = loaded.firm_ids.clone();
    let sorted = loaded.sorted;
    let t0 = Instant::now();
    let order = if sorted {
        "fi"
    } else {
        loaded.base = with_order(loaded.base, &firm_ids)?;
        "fo"
    };
    let df = frame::build(&ctx, loaded, &cm, opts.partitions).await?;
    let df = add_columns(df, &plan.columns)?;
    timings.plan = t0.elapsed();
    let t1 = Instant::now();
    // Stages before a pool are materialised while they are added: execution time.
    let df = allocate::stages(df, &cm, &plan, order).await?;
    let task = df.task_ctx();
    let physical = df.create_physical_plan().await.map_err(|e| e.to_string())?;
    let batches = datafusion::physical_plan::collect(physical.clone(), Arc::new(task))
        .await
        .map_err(|e| e.to_string())?;
    timings.execute = t1.elapsed();
    explain("results", physical.as_ref());
    let t2 = Instant::now();

    let n = firm_ids.len();
    let ns = plan.slots.len();
    // The plan's reason codes are the results' (both number texts from 1 in first-use order).
    let mut reasons = Reasons::default();
    for (i, t) in cm.reason_texts.borrow().iter().enumerate() {
        if reasons.code(t) != i as u32 + 1 {
            return Err(format!("engine: reason {t} numbered twice"));
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
    // Sorted firms and batches of consecutive firms: the rows are written straight from the
    // batches. Otherwise every batch row is scattered to its firm's position first.
    let direct = match sorted {
        true => runs::runs(&batches, n, ns)?,
        false => None,
    };
    if let Some(runs) = direct {
        runs::fill(&runs, &by_clause, &mut res);
        res.firm_ids = firm_ids;
    } else {
        res.firm_ids = scattered(&batches, firm_ids, sorted, ns, &by_clause, &mut res)?;
    }
    res.reasons = reasons;
    timings.results = t2.elapsed();
    Ok((res, timings))
}
