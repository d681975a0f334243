//! Two processes approve, announce, confirm and pay the same award lines at the same time,
//! each in its own random order; every line must end paid exactly once. The processes are this
//! test binary re-run as a worker (the `worker` test, ignored unless HUIQI_WORKER is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;

use common::*;
use huiqi_ledger::{Action, Selection};
use rand::seq::SliceRandom;
use rand::SeedableRng;

const LINES: usize = 80;

/// One worker: every line, in a shuffled order, through approve → announce → confirm → pay,
/// each step its own transaction; a step another worker already did fails and is skipped.
/// Prints how many payments this worker made.
#[test]
#[ignore]
fn worker() {
    let Ok(target) = std::env::var("HUIQI_WORKER") else {
        return;
    };
    let name = std::env::var("HUIQI_WORKER_NAME").unwrap();
    let seed: u64 = std::env::var("HUIQI_WORKER_SEED").unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Both workers start together.
    let start: u128 = std::env::var("HUIQI_WORKER_START")
        .unwrap()
        .parse()
        .unwrap();
    while now_ms() < start {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    rt.block_on(async {
        let mut l = open(&target).await;
        let mut ids: Vec<i64> =
            l.db.rows("SELECT id FROM items ORDER BY id", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.i(0))
                .collect();
        ids.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let mut paid = 0;
        let bulk = std::env::var("HUIQI_WORKER_BULK").is_ok();
        if bulk {
            // Every line at once: a step the other worker made first moves nothing here or
            // loses the race whole (an input error, nothing written).
            let every = Selection {
                all: true,
                ..Default::default()
            };
            for (a, at) in steps(&name, None) {
                if let Err(e) = l.apply(&ctx(at), &every, &a).await {
                    assert_eq!(e.kind, huiqi_ledger::ErrorKind::Input, "{}", e.en);
                }
            }
        }
        for id in ids {
            let sel = Selection {
                ids: vec![id],
                ..Default::default()
            };
            // In bulk mode only the payment is left, line by line.
            for (a, at) in steps(&name, Some(id))
                .into_iter()
                .skip(if bulk { 3 } else { 0 })
            {
                match l.apply(&ctx(at), &sel, &a).await {
                    Ok(_) if matches!(a, Action::Pay { .. }) => paid += 1,
                    Ok(_) => {}
                    Err(e) => assert_eq!(e.kind, huiqi_ledger::ErrorKind::Input, "{}", e.en),
                }
            }
        }
        println!("PAID {paid}");
        l.close().await;
    });
}

/// A worker's steps, each with its date: approve → announce → confirm, then (for one line) pay.
fn steps(name: &str, pay: Option<i64>) -> Vec<(Action, &'static str)> {
    let mut v = vec![
        (Action::Approve, "2024-02-10"),
        (
            Action::Announce {
                title: format!("公示 {name}"),
                opens: "2024-03-01T00:00:00Z".into(),
                closes: "2024-03-08T00:00:00Z".into(),
            },
            "2024-03-01",
        ),
        (Action::Confirm, "2024-03-02"),
    ];
    if let Some(id) = pay {
        let reference = format!("{name}-{id}");
        v.push((Action::Pay { reference }, "2024-03-20"));
    }
    v
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn race(target: &str, bulk: bool) -> (usize, usize) {
    let exe = std::env::current_exe().unwrap();
    let start = (now_ms() + 400).to_string();
    let spawn = |name: &str, seed: u64| {
        let mut c = Command::new(&exe);
        if bulk {
            c.env("HUIQI_WORKER_BULK", "1");
        }
        c.args([
            "--exact",
            // This file is the module `concurrency` of the crate's one test binary.
            "concurrency::worker",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("HUIQI_WORKER", target)
        .env("HUIQI_WORKER_NAME", name)
        .env("HUIQI_WORKER_SEED", seed.to_string())
        .env("HUIQI_WORKER_START", &start)
        .output()
        .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("A", 1));
        let b = s.spawn(|| spawn("B", 2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let paid = |o: &std::process::Output| {
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "worker failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.lines()
            .find_map(|l| {
                l.split_once("PAID ").map(|(_, n)| {
                    n.split_whitespace()
                        .next()
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                })
            })
            .unwrap_or_else(|| panic!("no PAID line in:\n{out}"))
    };
    (paid(&a), paid(&b))
}

#[test]
fn two_processes_never_pay_a_line_twice() {
    each_backend(async |t| {
        let l = open(t).await;
        let firms: Vec<String> = (0..LINES)
            .map(|i| format!("9133020{i:04}CCCCCCX"))
            .collect();
        let rows: Vec<(&str, &str, &str, i64)> = firms
            .iter()
            .map(|f| (f.as_str(), "高企认定奖励", "首次认定", 5_000_000))
            .collect();
        l.close().await;
        // PostgreSQL is the multi-process backend: race it several times. The last round
        // races whole steps (approve, announce and confirm every line at once).
        let rounds = if t.starts_with("postgres") { 6 } else { 2 };
        for round in 0..rounds {
            let mut l = open(t).await;
            let tag = format!("race{round}");
            l.record(&ctx("2024-02-01"), &run(2023 - round, &tag, &rows))
                .await
                .unwrap();
            l.close().await;
            let (a, b) = race(t, round == rounds - 1);
            assert_eq!(a + b, LINES, "round {round}: A paid {a}, B paid {b}");
            eprintln!("{t} round {round}: A paid {a}, B paid {b}");
        }
        let all = (rounds as usize * LINES) as i64;
        let mut l = open(t).await;
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, all);
        assert_eq!(
            count(&mut l, "SELECT COUNT(DISTINCT item_id) FROM payments").await,
            all
        );
        assert_eq!(
            count(&mut l, "SELECT COUNT(*) FROM items WHERE state = 'paid'").await,
            all
        );
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        l.close().await;
    });
}
