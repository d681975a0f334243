//! Execution of DataFrames: every partition collected (partition 0 on the engine's thread),
//! stages materialised when two branches read the same rows, and per-firm results gathered
//! back onto the firm rows as dense columns by firm index.

use std::sync::Arc;

use crate::error::Error;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, UInt32Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::*;

type R<T> = crate::error::Result<T>;

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
) -> R<(SessionContext, SchemaRef, Vec<Vec<RecordBatch>>)> {
    let e = Error::engine;
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
) -> R<DataFrame> {
    let table = datafusion::catalog::MemTable::try_new(schema, parts).map_err(Error::engine)?;
    ctx.read_table(Arc::new(table)).map_err(Error::engine)
}

/// A batch's firm indexes (`fi`) as gather indexes.
pub(crate) fn firm_index(b: &RecordBatch) -> R<ArrayRef> {
    let fi = b
        .column_by_name("fi")
        .ok_or_else(|| "no column fi".to_string())?;
    cast(fi, &DataType::UInt32).map_err(Error::engine)
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
) -> R<DataFrame> {
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
                        cols.push(take(d.as_ref(), idx, None).map_err(Error::engine)?);
                    }
                    RecordBatch::try_new(out_schema.clone(), cols).map_err(Error::engine)
                })
                .collect::<R<Vec<_>>>()
        })
        .collect::<R<Vec<_>>>()?;
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

/// Executes the last stage (with `HUIQI_EXPLAIN`, prints it under "results").
pub(crate) async fn collect_final(df: DataFrame) -> R<Vec<RecordBatch>> {
    let task = df.task_ctx();
    let physical = df.create_physical_plan().await.map_err(Error::engine)?;
    // Each partition collected on its own (`collect_parts`): `collect` would merge them through a
    // channel, a wake-up per batch. The results place rows by firm, so batch order does not matter.
    let parts = collect_parts(physical.clone(), Arc::new(task))
        .await
        .map_err(Error::engine)?;
    explain("results", physical.as_ref());
    Ok(parts.into_iter().flatten().collect())
}

pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> R<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|a| a.as_ref())
        .ok_or_else(|| Error::engine(format!("missing column {name}")))
}
