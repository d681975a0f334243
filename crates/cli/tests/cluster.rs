//! `huiqi run --cluster` against a real cluster on localhost: a scheduler and two executor
//! processes (`huiqi cluster …`). The results and the manifest must be the same bytes as the
//! single-machine run's, on the demo zone and on a 100,000-firm zone; an executor killed during
//! a run must leave either those same bytes or a clear error and no output.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use support::{assert_ok as ok, cmd, gen_and_ingest};

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: &Path) -> Proc {
    let f = std::fs::File::create(log).unwrap();
    Proc(cmd(args).stdout(Stdio::null()).stderr(f).spawn().unwrap())
}

struct Cluster {
    url: String,
    _scheduler: Proc,
    executors: Vec<Proc>,
}

fn wait_for_port(port: u16, log: &Path) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "port {port} never opened; {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and `n` executors, each executor evaluating one chunk at a time.
fn cluster(work: &Path, n: usize) -> Cluster {
    let sport = free_port();
    let bind = format!("127.0.0.1:{sport}");
    let scheduler = spawn(
        &[
            "cluster",
            "scheduler",
            "--bind",
            &bind,
            "--executor-timeout",
            "4",
        ],
        &work.join("scheduler.log"),
    );
    wait_for_port(sport, &work.join("scheduler.log"));
    let mut executors = vec![];
    for i in 0..n {
        let (port, grpc) = (free_port(), free_port());
        let dir = work.join(format!("executor-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        executors.push(spawn(
            &[
                "cluster",
                "executor",
                "--scheduler",
                &bind,
                "--port",
                &port.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--threads",
                "1",
                "--heartbeat",
                "1",
                "--work-dir",
                dir.to_str().unwrap(),
            ],
            &work.join(format!("executor-{i}.log")),
        ));
        wait_for_port(port, &work.join(format!("executor-{i}.log")));
    }
    Cluster {
        url: format!("df://127.0.0.1:{sport}"),
        _scheduler: scheduler,
        executors,
    }
}

/// Generates a zone (with the sample firms when `samples`), ingests it, returns the snapshot.
fn zone(work: &Path, firms: usize, samples: bool) -> String {
    let n = firms.to_string();
    let mut args = vec!["--firms", &n, "--years", "2019..2023", "--seed", "42"];
    if samples {
        args.extend(["--firms-from", "examples/firms"]);
    }
    gen_and_ingest(work, &args).to_string_lossy().into_owned()
}

/// `huiqi run` of the seed pack for 2023 over `snapshot` into `out`, with `extra`.
fn run_cmd(snapshot: &str, out: &Path, extra: &[&str]) -> Command {
    let out = out.to_string_lossy().into_owned();
    let mut args = vec![
        "run",
        "--policy",
        "policies/ningbo",
        "--snapshot",
        snapshot,
        "--period",
        "2023",
        "--out",
        &out,
    ];
    args.extend(extra);
    cmd(&args)
}

fn run(snapshot: &str, out: &Path, extra: &[&str]) -> Output {
    run_cmd(snapshot, out, extra).output().unwrap()
}

const FILES: [&str; 3] = ["results.parquet", "results.csv", "manifest.json"];

fn same_bytes(a: &Path, b: &Path) {
    for f in FILES {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn work(tag: &str) -> PathBuf {
    let w = std::env::temp_dir().join(format!("huiqi-cluster-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w).unwrap();
    w
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p)
            } else {
                1
            }
        })
        .sum()
}

// One test, so that one cluster at a time runs on the machine's two cores.
#[test]
fn a_cluster_run_gives_the_single_machine_bytes_or_nothing() {
    // The demo zone: the generated firms and the sample firms, as `huiqi demo` makes it.
    let w = work("demo");
    let snap = zone(&w, 2000, true);
    let c = cluster(&w, 2);
    ok(&run(&snap, &w.join("local"), &["--no-xlsx"]));
    // Chunks of 150 firms: 15 tasks over the two executors, every cross-clause rule across them.
    let o = run(
        &snap,
        &w.join("cluster"),
        &["--no-xlsx", "--cluster", &c.url, "--chunk-firms", "150"],
    );
    ok(&o);
    same_bytes(&w.join("local"), &w.join("cluster"));
    // A parameter set from outside the pack travels with the run: every executor loads the
    // pack with it (and checks the hash that covers it). The pool's budget is a cross-firm rule.
    let set = ["--set", "研发资金池预算=300万"];
    let mut args = vec!["--no-xlsx", "--cluster", &c.url, "--chunk-firms", "500"];
    args.extend(set);
    ok(&run(&snap, &w.join("cluster-set"), &args));
    let mut local = vec!["--no-xlsx"];
    local.extend(set);
    ok(&run(&snap, &w.join("local-set"), &local));
    same_bytes(&w.join("local-set"), &w.join("cluster-set"));
    assert_ne!(
        std::fs::read(w.join("local/results.csv")).unwrap(),
        std::fs::read(w.join("local-set/results.csv")).unwrap(),
        "the set changed nothing: the test would not notice an executor ignoring it"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(&w);

    // 100,000 firms.
    let w = work("100k");
    let snap = zone(&w, 100_000, false);
    let mut c = cluster(&w, 2);
    ok(&run(&snap, &w.join("local"), &["--no-xlsx"]));
    let chunked = ["--no-xlsx", "--cluster", &c.url, "--chunk-firms", "10000"];
    ok(&run(&snap, &w.join("cluster"), &chunked));
    same_bytes(&w.join("local"), &w.join("cluster"));

    // SIGKILL one executor once it has finished a chunk of a run (its result waits on its
    // disk for the client): the run either still gives the same bytes or fails with a clear
    // error and writes nothing.
    let out = w.join("killed");
    // The earlier runs' results are still in executor 0's work directory.
    let before = files_under(&w.join("executor-0"));
    let child = run_cmd(
        &snap,
        &out,
        &["--no-xlsx", "--cluster", &c.url, "--chunk-firms", "2000"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let t = Instant::now();
    while files_under(&w.join("executor-0")) <= before {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "executor 0 never finished a chunk"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut victim = c.executors.remove(0);
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    let killed_at = Instant::now();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    eprintln!(
        "executor 0 killed {:?} after the run started; the run then {} after {:?}: {stderr}",
        killed_at - t,
        if o.status.success() {
            "succeeded"
        } else {
            "failed"
        },
        killed_at.elapsed()
    );
    if o.status.success() {
        same_bytes(&w.join("local"), &out);
    } else {
        assert!(
            stderr.contains("集群") || stderr.contains("cluster"),
            "the error does not say the cluster failed: {stderr}"
        );
        assert!(
            !out.join("manifest.json").exists(),
            "a failed run wrote a manifest"
        );
        assert!(
            !out.join("results.parquet").exists(),
            "a failed run wrote results"
        );
    }
    // The cluster goes on with the executor left: the next run gives the same bytes.
    ok(&run(&snap, &w.join("after"), &chunked));
    same_bytes(&w.join("local"), &w.join("after"));
    drop(c);
    let _ = std::fs::remove_dir_all(&w);
}
