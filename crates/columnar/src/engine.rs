//! The engine's entry: a run loads the columns its plan reads, plans, executes and copies the
//! results out — the whole snapshot at once, or a chunk of firms at a time.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::*;
use huiqi_ir::Program;

use crate::compile::Compiler;
use crate::error::Error;
use crate::exec::{collect_final, column, materialise_parts, read_parts};
use crate::frame::add_columns;
use crate::results::{credit_order, res_from, Results};
use crate::{allocate, frame, load, udf};

type R<T> = crate::error::Result<T>;

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
    /// Also give each row's stand-alone amount (`Results::standalone_fen`): the clause's own
    /// amount before the cross-clause rules (negative lists, select, 就高, pools, firm caps).
    pub standalone: bool,
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
            standalone: false,
        }
    }
}

fn session(opts: &Options) -> R<SessionContext> {
    let cfg = SessionConfig::new().with_target_partitions(opts.partitions);
    let mut rt = RuntimeEnvBuilder::new();
    if let Some(limit) = opts.memory_limit {
        rt = rt.with_memory_pool(std::sync::Arc::new(FairSpillPool::new(limit)));
    }
    let rt = rt.build_arc().map_err(Error::engine)?;
    let ctx = SessionContext::new_with_config_rt(cfg, rt);
    for u in udf::all() {
        ctx.register_udf(u);
    }
    Ok(ctx)
}

/// What every evaluation starts from: a session, the program compiled for `year` and its plan.
fn prepare<'p>(
    p: &'p Program,
    year: i32,
    opts: &Options,
) -> R<(SessionContext, Compiler<'p>, crate::clause::Plan)> {
    let ctx = session(opts)?;
    let mut cm = Compiler::new(p, year);
    cm.standalone = opts.standalone;
    let plan = cm.plan()?;
    Ok((ctx, cm, plan))
}

/// Adds `fo`, each firm's position in credit-code order, to the per-firm batch: ties in
/// rankings and pools go by credit code, and an unsorted snapshot's `fi` is not that order.
fn with_order(base: RecordBatch, ids: &StringArray) -> R<RecordBatch> {
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
    .map_err(Error::engine)
}

/// Evaluates every firm of the snapshot against the program for `year`, then allocates.
/// Rows come sorted by credit code, then clause order, then tranche order.
pub async fn run(p: &Program, snapshot: &Path, year: i32, opts: &Options) -> R<(Results, Timings)> {
    if let Some(size) = opts.chunk_firms {
        let t = Instant::now();
        if let Some(cut) = load::chunks(snapshot, size)?.filter(|c| c.chunks.len() > 1) {
            let elapsed = t.elapsed();
            let (res, mut timings) = run_chunked(p, snapshot, year, cut, opts).await?;
            // Cutting the chunks read every table's credit codes: part of loading.
            timings.load += elapsed;
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

/// Two programs over the same snapshot and year — the 政策沙盘's base and reform. When both
/// read the same columns the same way (`load::load_key`: a reform that only sets parameters),
/// the snapshot is loaded once and both are computed over it; otherwise, and when chunked, two
/// whole runs.
pub async fn run_pair(
    a: &Program,
    b: &Program,
    snapshot: &Path,
    year: i32,
    opts: &Options,
) -> R<(Results, Results)> {
    let key = |p: &Program| -> R<String> {
        let mut cm = Compiler::new(p, year);
        cm.plan()?;
        Ok(load::load_key(&cm))
    };
    if opts.chunk_firms.is_some() || key(a)? != key(b)? {
        let (ra, _) = run(a, snapshot, year, opts).await?;
        let (rb, _) = run(b, snapshot, year, opts).await?;
        return Ok((ra, rb));
    }
    let t0 = Instant::now();
    let loaded = {
        let mut cm = Compiler::new(a, year);
        cm.plan()?;
        load::load(snapshot, &cm)?
    };
    let load = t0.elapsed();
    let (ra, ta) = compute(a, year, loaded.clone(), opts).await?;
    let (rb, tb) = compute(b, year, loaded, opts).await?;
    if std::env::var_os("HUIQI_TIMINGS").is_some() {
        eprintln!("run_pair: one load {load:?}; computes {ta:?} and {tb:?}");
    }
    Ok((ra, rb))
}

/// One evaluation over loaded columns: plan, execute, results.
async fn compute(
    p: &Program,
    year: i32,
    mut loaded: load::Loaded,
    opts: &Options,
) -> R<(Results, Timings)> {
    let mut timings = Timings::default();
    let (ctx, cm, plan) = prepare(p, year, opts)?;
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

/// What one chunk of firms gives the cross-clause rules: its stage-0 slot columns
/// (`allocate::slot_columns`), in batches of consecutive firms numbered in the whole snapshot
/// (`fi` offset by the chunk's first firm). A cluster's executor computes one of these per task.
pub struct ChunkSlots {
    pub schema: SchemaRef,
    /// The chunk's partitions, in order.
    pub parts: Vec<Vec<RecordBatch>>,
    pub load: Duration,
    pub plan: Duration,
    pub execute: Duration,
}

/// One chunk of firms evaluated up to stage 0 of the allocation, in a session of its own.
pub async fn chunk_slots(
    p: &Program,
    snapshot: &Path,
    year: i32,
    chunk: &load::Chunk,
    opts: &Options,
) -> R<ChunkSlots> {
    let (ctx, cm, plan) = prepare(p, year, opts)?;
    chunk_slots_in(&ctx, &cm, &plan, snapshot, chunk, opts).await
}

async fn chunk_slots_in(
    ctx: &SessionContext,
    cm: &Compiler<'_>,
    plan: &crate::clause::Plan,
    snapshot: &Path,
    chunk: &load::Chunk,
    opts: &Options,
) -> R<ChunkSlots> {
    let t0 = Instant::now();
    let loaded = load::load_rows(snapshot, cm, Some(chunk))?;
    let load = t0.elapsed();
    if !loaded.sorted {
        return Err("a chunk of firms is not in credit-code order".into());
    }
    let t1 = Instant::now();
    let df = frame::build(ctx, loaded, cm, opts.partitions).await?;
    let df = add_columns(df, &plan.columns)?;
    let offset = i32::try_from(chunk.firms.start).map_err(|_| "too many firms")?;
    let df = allocate::slot_columns(df, cm, plan, "fi", offset)?;
    let plan_time = t1.elapsed();
    let t2 = Instant::now();
    let (_, schema, parts) = materialise_parts(df, "chunk").await?;
    Ok(ChunkSlots {
        schema,
        parts,
        load,
        plan: plan_time,
        execute: t2.elapsed(),
    })
}

/// The schema of every chunk's slot columns (`slots_schema`), from a chunk of no firms: what a
/// plan that gathers chunks declares before any chunk is evaluated.
pub async fn chunk_schema(p: &Program, snapshot: &Path, year: i32, opts: &Options) -> R<SchemaRef> {
    let none = load::Chunk {
        firms: 0..0,
        tables: std::array::from_fn(|_| 0..0),
    };
    let got = chunk_slots(p, snapshot, year, &none, opts).await?;
    Ok(slots_schema(&got.schema))
}

/// The schema every chunk's slot columns are read back with: the same fields, every one
/// nullable (a column one chunk has no null in is nullable in another).
pub fn slots_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// The cross-clause rules over every firm's slot columns, gathered from the chunks in firm
/// order (each partition's batches are runs of consecutive firms), then the results.
/// `firm_ids` are the credit codes of every firm, in order (the snapshot's `load::Cut`).
pub async fn rules_over_slots(
    p: &Program,
    year: i32,
    opts: &Options,
    schema: SchemaRef,
    parts: Vec<Vec<RecordBatch>>,
    firm_ids: StringArray,
) -> R<(Results, Timings)> {
    let mut timings = Timings::default();
    let (ctx, cm, plan) = prepare(p, year, opts)?;
    let t1 = Instant::now();
    let df = allocate::rules(read_parts(&ctx, schema, parts)?, &cm, &plan).await?;
    let batches = collect_final(df).await?;
    timings.execute = t1.elapsed();
    let t2 = Instant::now();
    let res = res_from(p, &cm, &plan, &batches, firm_ids, true)?;
    timings.results = t2.elapsed();
    Ok((res, timings))
}

/// Deals a chunk's partitions out to `width` partitions: partition k of a chunk to k % width.
pub fn deal_parts(into: &mut [Vec<RecordBatch>], got: Vec<Vec<RecordBatch>>) {
    let width = into.len().max(1);
    for (k, part) in got.into_iter().enumerate() {
        if let Some(p) = into.get_mut(k % width) {
            p.extend(part);
        }
    }
}

/// `run` a chunk of firms at a time (`Options::chunk_firms`): each chunk is loaded, evaluated
/// up to stage 0 of the allocation (`chunk_slots`) and kept only as those columns; the
/// cross-clause rules then run once over every firm's slot columns (`rules_over_slots`).
async fn run_chunked(
    p: &Program,
    snapshot: &Path,
    year: i32,
    cut: load::Cut,
    opts: &Options,
) -> R<(Results, Timings)> {
    let mut timings = Timings::default();
    let (ctx, cm, plan) = prepare(p, year, opts)?;
    let mut parts: Vec<Vec<RecordBatch>> = vec![vec![]; opts.partitions.max(1)];
    let mut schema = None;
    for chunk in &cut.chunks {
        let got = chunk_slots_in(&ctx, &cm, &plan, snapshot, chunk, opts).await?;
        timings.load += got.load;
        timings.plan += got.plan;
        timings.execute += got.execute;
        deal_parts(&mut parts, got.parts);
        schema = Some(got.schema);
    }
    let schema: SchemaRef = schema.ok_or("no chunks")?;
    let schema = slots_schema(&schema);
    let (res, t) = rules_over_slots(p, year, opts, schema, parts, cut.firm_ids).await?;
    timings.execute += t.execute;
    timings.results = t.results;
    Ok((res, timings))
}
