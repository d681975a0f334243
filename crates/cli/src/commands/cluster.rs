//! `huiqi cluster scheduler` and `huiqi cluster executor`: the processes of an Apache Ballista
//! cluster that `huiqi run --cluster` submits to (docs/CLUSTER.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use huiqi_cluster::{ExecutorOptions, SchedulerOptions};

use crate::render::Out;

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// The scheduler: takes runs from clients and hands their chunks to executors.
    Scheduler {
        /// Address to listen on (gRPC; clients connect with `--cluster df://HOST:PORT`).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// Seconds without a heartbeat after which an executor is dead and its tasks run
        /// elsewhere.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// An executor: evaluates chunks of firms and serves their slot columns to the client.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// The host other nodes reach this executor at (an address or a name).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The IP address to listen on (default: --host when it is an IP address, else
        /// 0.0.0.0).
        #[arg(long)]
        bind_host: Option<std::net::IpAddr>,
        /// Arrow Flight port (the client fetches the chunks' results from it).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (the scheduler launches tasks on it).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Chunks evaluated at once. Each takes the memory of one `--chunk-firms` chunk.
        #[arg(long, default_value_t = 1)]
        slots: usize,
        /// Partitions each chunk is evaluated with (0: every core of this machine).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Where results wait for the client (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
}

/// `HUIQI_LOG=warn|info|debug` (default info): how much of Ballista's log the process prints.
fn log_level() -> huiqi_cluster::node::LevelFilter {
    std::env::var("HUIQI_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(huiqi_cluster::node::LevelFilter::Info)
}

fn runtime() -> huiqi::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| huiqi::Error::plain(e.to_string()))
}

pub fn cluster(o: &Out, c: ClusterCmd) -> huiqi::Result<ExitCode> {
    let fail = |e: huiqi_cluster::Error| huiqi::Error::input(e.zh, e.en);
    huiqi_cluster::node::log_to_stderr(log_level());
    match c {
        ClusterCmd::Scheduler {
            bind,
            executor_timeout,
        } => {
            eprintln!(
                "{}",
                o.t(
                    &format!("huiqi 集群调度器在 df://{bind} 等待运行"),
                    &format!("huiqi cluster scheduler waiting for runs at df://{bind}"),
                )
            );
            let opts = SchedulerOptions {
                executor_timeout_seconds: executor_timeout,
                ..SchedulerOptions::new(bind)
            };
            runtime()?
                .block_on(huiqi_cluster::scheduler(&opts))
                .map_err(fail)?;
        }
        ClusterCmd::Executor {
            scheduler,
            host,
            bind_host,
            port,
            grpc_port,
            slots,
            threads,
            work_dir,
            heartbeat,
        } => {
            let bind_host = bind_host
                .or_else(|| host.parse().ok())
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
                .to_string();
            let (shost, sport) = scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    huiqi::Error::usage(
                        format!("--scheduler 应写成 主机:端口，实为 `{scheduler}`"),
                        format!("--scheduler is HOST:PORT, not `{scheduler}`"),
                    )
                })?;
            eprintln!(
                "{}",
                o.t(
                    &format!("huiqi 集群执行器 {host}:{port}，调度器 {scheduler}，{slots} 个任务槽"),
                    &format!(
                        "huiqi cluster executor {host}:{port}, scheduler {scheduler}, {slots} slot(s)"
                    ),
                )
            );
            let opts = ExecutorOptions {
                scheduler_host: shost,
                scheduler_port: sport,
                host,
                bind_host,
                port,
                grpc_port,
                slots,
                threads,
                work_dir,
                heartbeat_seconds: heartbeat,
            };
            runtime()?
                .block_on(huiqi_cluster::executor(&opts))
                .map_err(fail)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
