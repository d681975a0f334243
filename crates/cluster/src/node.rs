//! The cluster's processes: a Ballista scheduler and executors that know huiqi's table and plan
//! node (`codec`). `huiqi cluster scheduler` and `huiqi cluster executor` run these.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

// Executors pull tasks (as Ballista's own standalone mode does). With the scheduler pushing
// them, an executor's registration sometimes never completed when two registered within a
// tenth of a second (seen in crates/cli/tests/cluster.rs: the scheduler timed the second one
// out as silent).
use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

pub use log::LevelFilter;

use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::error::{Error, Result};
use crate::plan::set_task_partitions;

/// Ballista's log records at `level` and above, on stderr with the time: what a scheduler or
/// executor process says about jobs, tasks and executors (its only record of them).
pub fn log_to_stderr(level: log::LevelFilter) {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                eprintln!(
                    "{}.{:03} {} {}: {}",
                    t.as_secs(),
                    t.subsec_millis(),
                    r.level(),
                    r.target(),
                    r.args()
                );
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Where the scheduler listens and how soon it gives up on a silent executor.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// An executor not heard from for this long is dead: its running tasks go elsewhere.
    pub executor_timeout_seconds: u64,
}

impl SchedulerOptions {
    pub fn new(bind: SocketAddr) -> SchedulerOptions {
        SchedulerOptions {
            bind,
            executor_timeout_seconds: 30,
        }
    }
}

/// Runs a scheduler until the process ends.
pub async fn scheduler(o: &SchedulerOptions) -> Result<()> {
    let config = SchedulerConfig {
        bind_host: o.bind.ip().to_string(),
        bind_port: o.bind.port(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        executor_timeout_seconds: o.executor_timeout_seconds,
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        no_executors_grace_period_seconds: o.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: (o.executor_timeout_seconds / 4).max(1),
        ..Default::default()
    };
    let fail = |e| Error::during("调度器无法启动", "the scheduler cannot start", e);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(fail)?;
    start_server(cluster, o.bind, Arc::new(config))
        .await
        .map_err(fail)
}

/// Where an executor listens, which scheduler it serves and how much it takes on.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// The address other nodes reach this executor at (its Flight port serves the results).
    pub host: String,
    /// The IP address it listens on (`0.0.0.0`: every interface).
    pub bind_host: String,
    pub port: u16,
    pub grpc_port: u16,
    /// Chunks evaluated at once (Ballista's task slots).
    pub slots: usize,
    /// Partitions each chunk is evaluated with (0: every core).
    pub threads: usize,
    /// Where the chunks' results wait until the client fetches them.
    pub work_dir: Option<PathBuf>,
    pub heartbeat_seconds: u64,
}

/// Runs an executor until the process ends (or the scheduler tells it to stop).
pub async fn executor(o: &ExecutorOptions) -> Result<()> {
    set_task_partitions(o.threads);
    let config = ExecutorProcessConfig {
        bind_host: o.bind_host.clone(),
        external_host: Some(o.host.clone()),
        port: o.port,
        grpc_port: o.grpc_port,
        scheduler_host: o.scheduler_host.clone(),
        scheduler_port: o.scheduler_port,
        vcores: o.slots.max(1),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: o
            .work_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: o.heartbeat_seconds.max(1),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| Error::during("执行器失败", "the executor failed", e))
}
