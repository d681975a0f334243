//! The plan a cluster runs: a table whose partitions are the job's chunks of firms. Scanning it
//! gives `ChunksExec` over an in-memory source whose partition i holds one row, the number i;
//! executing partition i on an executor reads that number and evaluates chunk i up to stage 0
//! of the allocation (`huiqi_columnar::chunk_slots`), streaming its slot columns back.
//!
//! Why the numbers travel as data: Ballista 55's scheduler gives each task its share of a stage
//! by slicing the stage's leaves, and it knows how to slice only its own and DataFusion's
//! sources (shuffle readers, file and memory scans). A leaf of ours would reach every task
//! whole, and each task would evaluate every chunk (seen: 5 chunks, 3 tasks, every firm three
//! times). Over a memory source, each task's `ChunksExec` sees only its own chunks' numbers.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use huiqi_columnar::Options;

use crate::error::{Error, Result};
use crate::job::Job;

/// The table of a job's slot columns: one partition per chunk of firms.
#[derive(Debug)]
pub struct ChunksTable {
    pub job: Arc<Job>,
    pub schema: SchemaRef,
}

#[async_trait]
impl TableProvider for ChunksTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // The rules read every slot column: the table is only ever read whole.
        let whole = (0..self.schema.fields().len()).collect::<Vec<_>>();
        if let Some(p) = projection {
            if *p != whole {
                return Err(DataFusionError::Plan(
                    "huiqi's chunks table is read whole, not projected".into(),
                ));
            }
        }
        Ok(Arc::new(ChunksExec::new(
            self.job.clone(),
            self.schema.clone(),
            chunk_numbers(self.job.chunks.len())?,
        )))
    }
}

/// An in-memory source of `n` partitions, partition i holding one row: `chunk` = i.
pub fn chunk_numbers(n: usize) -> DfResult<Arc<dyn ExecutionPlan>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "chunk",
        DataType::UInt32,
        false,
    )]));
    let mut parts = vec![];
    for i in 0..n {
        let i = u32::try_from(i).map_err(|e| DataFusionError::External(Box::new(e)))?;
        parts.push(vec![RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(UInt32Array::from(vec![i]))],
        )?]);
    }
    Ok(MemorySourceConfig::try_new_exec(&parts, schema, None)?)
}

/// Evaluates the chunks whose numbers its input gives, partition by partition.
#[derive(Debug)]
pub struct ChunksExec {
    pub job: Arc<Job>,
    pub schema: SchemaRef,
    /// The chunks' numbers (`chunk_numbers`, as the scheduler sliced it for this task).
    pub input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl ChunksExec {
    pub fn new(job: Arc<Job>, schema: SchemaRef, input: Arc<dyn ExecutionPlan>) -> ChunksExec {
        let parts = input.properties().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(parts),
            // A chunk's batches come when the chunk is done: its stages are materialised.
            EmissionType::Final,
            Boundedness::Bounded,
        );
        ChunksExec {
            job,
            schema,
            input,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for ChunksExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HuiqiChunksExec: pack={} snapshot={} period={} chunks={}",
            self.job.pack_hash,
            self.job.snapshot_hash,
            self.job.period,
            self.job.chunks.len()
        )
    }
}

impl ExecutionPlan for ChunksExec {
    fn name(&self) -> &str {
        "HuiqiChunksExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(ChunksExec::new(
                self.job.clone(),
                self.schema.clone(),
                input,
            ))),
            Err(_) => Err(DataFusionError::Internal(
                "HuiqiChunksExec has one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let (job, schema) = (self.job.clone(), self.schema.clone());
        let numbers = self.input.execute(partition, context)?;
        let conform = schema.clone();
        let batches = futures::stream::once(async move {
            let chunks = match chunks_of(numbers).await {
                Ok(c) => c,
                Err(e) => return vec![Err(e)],
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            // The engine plans deep expression trees: it runs on a thread of its own with a
            // large stack and its own runtime, as `huiqi run` runs it, not on the executor's
            // workers.
            let spawned = std::thread::Builder::new()
                .name(format!("huiqi-chunk-{partition}"))
                .stack_size(256 << 20)
                .spawn(move || {
                    let mut out = vec![];
                    for i in chunks {
                        match evaluate(&job, i, &conform) {
                            Ok(b) => out.extend(b),
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = tx.send(Ok(out));
                });
            if let Err(e) = spawned {
                return vec![Err(DataFusionError::External(Box::new(e)))];
            }
            match rx.await {
                Ok(Ok(batches)) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
                Ok(Err(e)) => vec![Err(DataFusionError::from(e))],
                Err(_) => vec![Err(DataFusionError::Execution(
                    "the chunk's evaluation thread ended without a result".into(),
                ))],
            }
        })
        .flat_map(futures::stream::iter);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// The chunk numbers a partition of `chunk_numbers` holds.
async fn chunks_of(mut s: SendableRecordBatchStream) -> DfResult<Vec<usize>> {
    let mut out = vec![];
    while let Some(b) = s.next().await {
        let b = b?;
        let c = b
            .column(0)
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| DataFusionError::Internal("chunk numbers are not UInt32".into()))?;
        if c.null_count() > 0 {
            return Err(DataFusionError::Internal("a chunk number is null".into()));
        }
        out.extend(c.values().iter().map(|&i| i as usize));
    }
    Ok(out)
}

/// How many partitions each task's engine uses (`huiqi cluster executor --threads`); 0: every
/// core of the machine.
static TASK_PARTITIONS: AtomicUsize = AtomicUsize::new(0);

/// Sets the partitions each task evaluates its chunk with, on this node.
pub fn set_task_partitions(n: usize) {
    TASK_PARTITIONS.store(n, Ordering::Relaxed);
}

fn task_options(job: &Job) -> Options {
    let n = TASK_PARTITIONS.load(Ordering::Relaxed);
    let mut opts = Options {
        memory_limit: job.memory_limit,
        standalone: job.standalone,
        ..Options::default()
    };
    if n > 0 {
        opts.partitions = n;
    }
    opts
}

/// Chunk `i` of the job evaluated up to stage 0, its batches in the plan's schema.
fn evaluate(job: &Job, i: usize, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let chunk = job.chunks.get(i).ok_or_else(|| {
        Error::new(
            format!("分区 {i} 超出分块数 {}", job.chunks.len()),
            format!(
                "partition {i} is past the job's {} chunks",
                job.chunks.len()
            ),
        )
    })?;
    job.check_snapshot()?;
    let p = job.program()?;
    let opts = task_options(job);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.partitions.max(1))
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
        .map_err(|e| Error::during("无法启动计算线程", "cannot start the engine's runtime", e))?;
    let got = rt.block_on(huiqi_columnar::chunk_slots(
        &p,
        &job.snapshot,
        job.period,
        &chunk.chunk(),
        &opts,
    ))?;
    let mut out = vec![];
    for b in got.parts.into_iter().flatten() {
        if b.num_rows() == 0 {
            continue;
        }
        out.push(
            RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| {
                Error::during(
                    "分块的结果与计划的结构不符（各节点的 huiqi 版本须相同）",
                    "a chunk's columns do not match the plan's schema (every node must run the same huiqi)",
                    e,
                )
            })?,
        );
    }
    Ok(out)
}
