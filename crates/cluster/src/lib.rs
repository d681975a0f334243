//! huiqi's population run on an Apache Ballista cluster.
//!
//! A run cut into chunks of firms (`--chunk-firms`) evaluates each chunk on its own up to
//! stage 0 of the allocation; only the cross-clause rules (select, pools, firm and group caps)
//! need every firm. So the client plans one table whose partitions are the chunks
//! (`plan::ChunksTable`), Ballista's scheduler hands each partition to an executor as a task
//! (`plan::ChunksExec`, carried by `codec`), the executors read the pack and the snapshot from
//! storage every node reaches, and the client gathers the slot columns and runs the rules over
//! them with the same code a single-machine chunked run uses
//! (`huiqi_columnar::rules_over_slots`). The results are therefore the same bytes.

pub mod codec;
pub mod error;
pub mod job;
pub mod node;
pub mod plan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ballista::extension::{SessionConfigExt, SessionContextExt};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use huiqi_columnar::{load, Options, Results, Timings};
use huiqi_ir::Program;

pub use error::{Error, Result};
pub use job::{ChunkRows, Job};
pub use node::{executor, scheduler, ExecutorOptions, SchedulerOptions};

/// Firms per chunk when the run does not say (`--chunk-firms`): small enough that a 1M-firm
/// zone gives every executor of a small cluster several tasks, large enough that a task's fixed
/// cost (planning the pack, a round trip) is small beside its work.
pub const DEFAULT_CHUNK_FIRMS: usize = 100_000;

/// A run submitted to a cluster.
pub struct Submit<'a> {
    /// `df://HOST:PORT` (Ballista's scheme) of the scheduler.
    pub url: &'a str,
    pub program: &'a Program,
    /// The pack's directory and the parameters set from outside it, as the program was loaded.
    pub pack: &'a Path,
    pub sets: &'a [huiqi_lang::ParamSet],
    pub snapshot: &'a Path,
    /// The snapshot's content hash (the client verifies the content against it).
    pub snapshot_hash: &'a str,
    pub period: i32,
    pub chunk_firms: usize,
    /// The client's engine options: the rules over the gathered slots run with these.
    pub opts: &'a Options,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| {
        Error::during(
            &format!("无法解析路径 {}", p.display()),
            &format!("cannot resolve the path {}", p.display()),
            e,
        )
    })
}

/// The client's session: Ballista's, with huiqi's codecs, and its static planner: one stage,
/// one task per chunk. Ballista 55's adaptive planner (its default) planned the chunks as a
/// final stage of 3 tasks each of which executed all 5 chunks, so every chunk came back 3
/// times (`every_firm_once` refused the result; crates/cluster/tests/in_process.rs).
fn client_state(chunks: usize) -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()))
        .with_target_partitions(chunks.max(1))
        .set_bool("datafusion.optimizer.enable_round_robin_repartition", false)
        .set_bool(
            ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
            false,
        )
}

/// The first firm of a batch of slot columns (batches are runs of consecutive firms).
fn first_firm(b: &RecordBatch) -> i32 {
    b.column_by_name("fi")
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .filter(|c| !c.is_empty())
        .map(|c| c.value(0))
        .unwrap_or(i32::MAX)
}

/// Checks that the gathered slot columns hold every firm exactly once, in order: a chunk lost
/// or delivered twice (a task retried after its first result was kept) is an error, never a
/// result.
fn every_firm_once(batches: &[RecordBatch], firms: usize) -> Result<()> {
    let mut next: i64 = 0;
    for b in batches {
        let fi = b
            .column_by_name("fi")
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
            .ok_or_else(|| Error::new("分块结果缺少 fi 列", "a chunk's result has no fi column"))?;
        for v in fi.values().iter() {
            if i64::from(*v) != next {
                return Err(Error::new(
                    format!("集群返回的分块结果不完整或重复：应为第 {next} 家企业，收到第 {v} 家"),
                    format!(
                        "the chunks the cluster returned are incomplete or repeated: firm {next} \
                         expected, firm {v} received"
                    ),
                ));
            }
            next += 1;
        }
    }
    if next != firms as i64 {
        return Err(Error::new(
            format!("集群返回了 {next} 家企业的结果，快照中有 {firms} 家"),
            format!("the cluster returned results for {next} firms; the snapshot holds {firms}"),
        ));
    }
    Ok(())
}

/// Runs the program over the snapshot on the cluster: the chunks on the executors, the rules
/// here. The same results as `huiqi_columnar::run` on one machine.
pub async fn run(s: &Submit<'_>) -> Result<(Results, Timings)> {
    let mut timings = Timings::default();
    let pack = absolute(s.pack)?;
    let snapshot = absolute(s.snapshot)?;
    let t0 = Instant::now();
    let load::Cut { chunks, firm_ids } = load::chunks(&snapshot, s.chunk_firms.max(1))?
        .ok_or_else(|| {
            Error::new(
                "集群运行需要按统一社会信用代码排序的快照（huiqi ingest 写出的快照即是）",
                "a cluster run needs a snapshot in credit-code order (as huiqi ingest writes it)",
            )
        })?;
    timings.load = t0.elapsed();
    let t1 = Instant::now();
    let schema = huiqi_columnar::chunk_schema(s.program, &snapshot, s.period, s.opts).await?;
    let job = Job {
        pack,
        sets: s.sets.iter().map(|x| x.to_string()).collect(),
        pack_hash: s.program.hash.clone(),
        snapshot: snapshot.clone(),
        snapshot_hash: s.snapshot_hash.to_string(),
        period: s.period,
        standalone: s.opts.standalone,
        memory_limit: s.opts.memory_limit,
        chunks: chunks.iter().map(ChunkRows::from).collect(),
    };
    let state = SessionStateBuilder::new()
        .with_config(client_state(chunks.len()))
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(s.url, state)
        .await
        .map_err(|e| {
            Error::during(
                "无法连接集群调度器",
                "cannot reach the cluster's scheduler",
                e,
            )
        })?;
    let table = plan::ChunksTable {
        job: Arc::new(job),
        schema: schema.clone(),
    };
    let df = ctx
        .read_table(Arc::new(table))
        .map_err(|e| Error::during("无法规划集群运行", "cannot plan the cluster run", e))?;
    timings.plan = t1.elapsed();
    // The plan as the scheduler stages it (an extra job on the cluster): for diagnosis.
    if std::env::var_os("HUIQI_CLUSTER_EXPLAIN").is_some() {
        if let Ok(plan) = df.clone().explain(false, false) {
            for b in plan.collect().await.unwrap_or_default() {
                for c in b.columns() {
                    if let Some(a) = c.as_string_opt::<i32>() {
                        for v in a.iter().flatten() {
                            eprintln!("{v}");
                        }
                    }
                }
            }
        }
    }
    let t2 = Instant::now();
    let mut batches = df
        .collect()
        .await
        .map_err(|e| Error::during("集群运行失败", "the cluster run failed", e))?;
    // In firm order, then dealt out to the partitions as a chunked run deals them.
    batches.sort_by_key(first_firm);
    every_firm_once(&batches, firm_ids.len())?;
    let mut parts = vec![vec![]; s.opts.partitions.max(1)];
    let width = parts.len();
    for (k, b) in batches.into_iter().enumerate() {
        parts[k % width].push(b);
    }
    timings.execute = t2.elapsed();
    if std::env::var_os("HUIQI_TIMINGS").is_some() {
        let bytes: usize = parts
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        eprintln!(
            "cluster: {} chunks, {} firms, {} columns, {:.1} MB of slot columns gathered; \
             schema probe and plan {:?}, chunks on the cluster {:?}",
            chunks.len(),
            firm_ids.len(),
            schema.fields().len(),
            bytes as f64 / 1e6,
            timings.plan,
            timings.execute
        );
    }
    let (res, t) =
        huiqi_columnar::rules_over_slots(s.program, s.period, s.opts, schema, parts, firm_ids)
            .await?;
    timings.execute += t.execute;
    timings.results = t.results;
    Ok((res, timings))
}
