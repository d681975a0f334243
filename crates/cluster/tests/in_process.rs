//! A Ballista scheduler and executor in this process: the cluster's results equal the single
//! machine's, and a node whose pack or snapshot differs from the client's refuses the run.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use huiqi_cluster::{ExecutorOptions, SchedulerOptions, Submit};
use huiqi_columnar::Options;
use huiqi_ir::Program;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for(port: u16) {
    let t = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "port {port} never opened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a scheduler and one executor on this runtime; the scheduler's `df://` URL.
async fn start_cluster(work: &Path) -> String {
    let sport = free_port();
    let bind: SocketAddr = format!("127.0.0.1:{sport}").parse().unwrap();
    let s = SchedulerOptions::new(bind);
    tokio::spawn(async move { huiqi_cluster::scheduler(&s).await });
    wait_for(sport).await;
    let port = free_port();
    let e = ExecutorOptions {
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: sport,
        host: "127.0.0.1".into(),
        bind_host: "127.0.0.1".into(),
        port,
        grpc_port: free_port(),
        slots: 2,
        threads: 1,
        work_dir: Some(work.join("executor")),
        heartbeat_seconds: 1,
    };
    std::fs::create_dir_all(work.join("executor")).unwrap();
    tokio::spawn(async move { huiqi_cluster::executor(&e).await });
    wait_for(port).await;
    format!("df://127.0.0.1:{sport}")
}

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/ningbo")
}

/// A generated zone of `firms` firms, ingested: the program and the snapshot.
fn zone(work: &Path, firms: usize) -> (Program, huiqi_data::SnapshotInfo) {
    let program = huiqi_lang::load_pack_with(&pack(), &[])
        .map_err(|(_, d)| format!("{d:?}"))
        .unwrap()
        .program;
    let z = work.join("zone");
    huiqi_data::gen::generate_with(&z, firms, 2019, 2023, 11, false, None).unwrap();
    let info = huiqi_data::ingest(&z.join("mapping.toml"), &program, &work.join("snaps"), 20)
        .map_err(|e| e.to_string())
        .unwrap();
    (program, info)
}

/// Runs `f` on a thread with a large stack and a runtime of its own (the engine plans deep
/// expression trees), as `huiqi run` does.
fn on_engine_thread<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

struct Stderr;
impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("[{} {}] {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

#[test]
fn the_cluster_gives_the_single_machine_results_and_refuses_a_different_pack() {
    if std::env::var_os("HUIQI_CLUSTER_LOG").is_some() {
        let _ = log::set_logger(&Stderr);
        log::set_max_level(log::LevelFilter::Info);
    }
    on_engine_thread(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .thread_stack_size(64 << 20)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let work =
                std::env::temp_dir().join(format!("huiqi-cluster-ip-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).unwrap();
            let (p, info) = zone(&work, 3000);
            let opts = Options {
                partitions: 2,
                ..Options::default()
            };
            let (local, _) = huiqi_columnar::run(&p, &info.dir, 2023, &opts)
                .await
                .unwrap();
            let url = start_cluster(&work).await;
            let pack = pack();
            let submit = |program, hash, chunk_firms| Submit {
                url: &url,
                program,
                pack: &pack,
                sets: &[],
                snapshot: &info.dir,
                snapshot_hash: hash,
                period: 2023,
                chunk_firms,
                opts: &opts,
            };
            let local_rows = local.rows();
            let local_sha =
                huiqi_columnar::output::write_parquet(&local, &work.join("local.parquet")).unwrap();
            for chunk in [3000, 700, 97] {
                let (res, _) = huiqi_cluster::run(&submit(&p, &info.hash, chunk))
                    .await
                    .unwrap();
                assert!(
                    res.rows() == local_rows,
                    "chunks of {chunk}: the cluster's results differ"
                );
                let sha =
                    huiqi_columnar::output::write_parquet(&res, &work.join("c.parquet")).unwrap();
                assert_eq!(sha, local_sha, "chunks of {chunk}: results.parquet differs");
            }
            // An executor whose pack is not the client's refuses the task: the run fails.
            let mut other = p.clone();
            other.hash = "0".repeat(64);
            let e = huiqi_cluster::run(&submit(&other, &info.hash, 1000))
                .await
                .unwrap_err();
            assert!(
                e.en.contains("differs from the one the run was submitted with"),
                "{e}"
            );
            // Likewise a snapshot whose manifest names another content.
            let wrong = "f".repeat(64);
            let e = huiqi_cluster::run(&submit(&p, &wrong, 1000))
                .await
                .unwrap_err();
            assert!(e.en.contains("snapshot"), "{e}");
            let _ = std::fs::remove_dir_all(&work);
        });
    });
}
