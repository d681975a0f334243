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
mod rows;
pub mod udf;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, UInt32Type};
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
    /// Load and evaluate at most this many firms at a time (None: all at once). Only stage 0's
    /// slot columns of every firm are kept for the cross-clause rules, so memory follows the
    /// chunk, not the snapshot. Needs a snapshot in credit-code order (as `huiqi ingest` writes).
    pub chunk_firms: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memory_limit: None,
            partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            repeat: 1,
            chunk_firms: None,
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

/// Every partition of `plan`, collected: partition 0 on this thread, the others as runtime
/// tasks. DataFusion's `collect_partitioned` spawns every partition, and the runtime sometimes
/// ran the two on one worker, one after the other (the simple clause's execute took 7.5 ms
/// instead of 4.1 ms in about half the computes). Under the CLI's `block_on` this thread is not
/// a worker, so partition 0 always runs beside the others.
async fn collect_parts(
    plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    task: Arc<datafusion::execution::TaskContext>,
) -> datafusion::error::Result<Vec<Vec<RecordBatch>>> {
    use datafusion::physical_plan::common::collect;
    use datafusion::physical_plan::ExecutionPlanProperties;
    let n = plan.output_partitioning().partition_count();
    let mut others = tokio::task::JoinSet::new();
    for i in 1..n {
        let stream = plan.execute(i, task.clone())?;
        others.spawn(async move { (i, collect(stream).await) });
    }
    let mut parts = vec![vec![]; n];
    if let Some(first) = parts.first_mut() {
        *first = collect(plan.execute(0, task)?).await?;
    }
    while let Some(done) = others.join_next().await {
        match done {
            Ok((i, batches)) => parts[i] = batches?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(datafusion::error::DataFusionError::External(Box::new(e))),
        }
    }
    Ok(parts)
}

/// Executes `df` once and keeps its partitions in memory, for a stage that reads the same rows
/// twice (read them back with `read_parts`). With `HUIQI_EXPLAIN` set, prints the executed plan
/// with each operator's rows and time, under `what`.
pub(crate) async fn materialise_parts(
    df: DataFrame,
    what: &str,
) -> Result<(SessionContext, SchemaRef, Vec<Vec<RecordBatch>>), String> {
    let e = |x: datafusion::error::DataFusionError| x.to_string();
    let task = Arc::new(df.task_ctx());
    let (state, plan) = df.into_parts();
    let ctx = SessionContext::new_with_state(state.clone());
    let physical = state.create_physical_plan(&plan).await.map_err(e)?;
    let parts = collect_parts(physical.clone(), task).await.map_err(e)?;
    explain(what, physical.as_ref());
    Ok((ctx, physical.schema(), parts))
}

/// Partitions in memory as a DataFrame of `ctx`.
pub(crate) fn read_parts(
    ctx: &SessionContext,
    schema: SchemaRef,
    parts: Vec<Vec<RecordBatch>>,
) -> Result<DataFrame, String> {
    let table = datafusion::catalog::MemTable::try_new(schema, parts).map_err(|x| x.to_string())?;
    ctx.read_table(Arc::new(table)).map_err(|x| x.to_string())
}

/// A batch's firm indexes (`fi`) as gather indexes.
pub(crate) fn firm_index(b: &RecordBatch) -> Result<ArrayRef, String> {
    let fi = b
        .column_by_name("fi")
        .ok_or_else(|| "engine: no column fi".to_string())?;
    cast(fi, &DataType::UInt32).map_err(|x| x.to_string())
}

/// The firm rows with more columns, each given dense by firm index (entry f is firm f's value)
/// and gathered onto every batch by its `fi`. A few results per firm (a ranking's losers, a
/// pool's shares, `held_at` on a per-firm date) come back onto the million firm rows this way,
/// not by a hash join (which repartitions or probes every firm row, and reorders them).
pub(crate) fn with_dense(
    ctx: &SessionContext,
    schema: SchemaRef,
    parts: Vec<Vec<RecordBatch>>,
    dense: Vec<(String, ArrayRef)>,
) -> Result<DataFrame, String> {
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    // Nullable whatever this data holds: the same plan must give the same schema for every
    // chunk of firms (`run_chunked`).
    for (name, d) in &dense {
        fields.push(Arc::new(Field::new(name, d.data_type().clone(), true)));
    }
    let out_schema = Arc::new(Schema::new(fields));
    let parts = parts
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|b| {
                    let idx = firm_index(&b)?;
                    let idx = idx.as_primitive::<UInt32Type>();
                    let mut cols = b.columns().to_vec();
                    for (_, d) in &dense {
                        cols.push(take(d.as_ref(), idx, None).map_err(|x| x.to_string())?);
                    }
                    RecordBatch::try_new(out_schema.clone(), cols).map_err(|x| x.to_string())
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .collect::<Result<Vec<_>, String>>()?;
    read_parts(ctx, out_schema, parts)
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
    if let Some(size) = opts.chunk_firms {
        let t = Instant::now();
        if let Some(chunks) = load::chunks(snapshot, size)?.filter(|c| c.len() > 1) {
            let cut = t.elapsed();
            let (res, mut timings) = run_chunked(p, snapshot, year, &chunks, opts).await?;
            // Cutting the chunks read every table's credit codes: part of loading.
            timings.load += cut;
            return Ok((res, timings));
        }
    }
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

/// Executes the last stage (with `HUIQI_EXPLAIN`, prints it under "results").
async fn collect_final(df: DataFrame) -> Result<Vec<RecordBatch>, String> {
    let task = df.task_ctx();
    let physical = df.create_physical_plan().await.map_err(|e| e.to_string())?;
    // Each partition collected on its own (`collect_parts`): `collect` would merge them through a
    // channel, a wake-up per batch. The results place rows by firm, so batch order does not matter.
    let parts = collect_parts(physical.clone(), Arc::new(task))
        .await
        .map_err(|e| e.to_string())?;
    explain("results", physical.as_ref());
    Ok(parts.into_iter().flatten().collect())
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
    let batches = collect_final(df).await?;
    timings.execute = t1.elapsed();
    let t2 = Instant::now();

    let res = res_from(p, &cm, &plan, &batches, firm_ids, sorted)?;
    timings.results = t2.elapsed();
    Ok((res, timings))
}

/// The collected rows as `Results` (`rows.rs`).
fn res_from(
    p: &Program,
    cm: &Compiler<'_>,
    plan: &clause::Plan,
    batches: &[RecordBatch],
    firm_ids: StringArray,
    sorted: bool,
) -> Result<Results, String> {
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

/// `run` a chunk of firms at a time (`Options::chunk_firms`): each chunk is loaded, evaluated
/// up to stage 0 of the allocation (`allocate::slot_columns`) and kept only as those columns;
/// the cross-clause rules then run once over every firm's slot columns.
async fn run_chunked(
    p: &Program,
    snapshot: &Path,
    year: i32,
    chunks: &[load::Chunk],
    opts: &Options,
) -> Result<(Results, Timings), String> {
    let mut timings = Timings::default();
    let ctx = session(opts)?;
    let mut cm = Compiler::new(p, year);
    let plan = cm.plan()?;
    let width = opts.partitions.max(1);
    let mut parts: Vec<Vec<RecordBatch>> = vec![vec![]; width];
    let mut ids: Vec<StringArray> = vec![];
    let mut schema = None;
    for chunk in chunks {
        let t0 = Instant::now();
        let loaded = load::load_rows(snapshot, &cm, Some(chunk))?;
        timings.load += t0.elapsed();
        if !loaded.sorted {
            return Err("engine: a chunk of firms is not in credit-code order".into());
        }
        ids.push(loaded.firm_ids.clone());
        let t1 = Instant::now();
        let df = frame::build(&ctx, loaded, &cm, opts.partitions).await?;
        let df = add_columns(df, &plan.columns)?;
        let offset = i32::try_from(chunk.firms.start).map_err(|_| "engine: too many firms")?;
        let df = allocate::slot_columns(df, &cm, &plan, "fi", offset)?;
        timings.plan += t1.elapsed();
        let t2 = Instant::now();
        let (_, sch, got) = materialise_parts(df, "chunk").await?;
        timings.execute += t2.elapsed();
        // Each batch is a run of consecutive firms, whichever partition it lands in.
        for (k, part) in got.into_iter().enumerate() {
            parts[k % width].extend(part);
        }
        schema = Some(sch);
    }
    // Every column nullable: a column one chunk has no null in is nullable in another.
    let schema = schema.ok_or("engine: no chunks")?;
    let schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let t1 = Instant::now();
    let df = allocate::rules(read_parts(&ctx, schema, parts)?, &cm, &plan).await?;
    let batches = collect_final(df).await?;
    timings.execute += t1.elapsed();
    let refs: Vec<&dyn Array> = ids.iter().map(|a| a as &dyn Array).collect();
    let firm_ids = datafusion::arrow::compute::concat(&refs).map_err(|e| e.to_string())?;
    let firm_ids = firm_ids
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("engine: firm ids")?
        .clone();
    let t2 = Instant::now();
    let res = res_from(p, &cm, &plan, &batches, firm_ids, true)?;
    timings.results = t2.elapsed();
    Ok((res, timings))
}
