//! A load figure, not a test (ignored by default): GET /api/v1/firms/{uscc}/check as a
//! logged-in officer from 32 concurrent client tasks in this process for 10 s, on the 300-firm
//! test zone; prints requests/s and latency percentiles. Run with
//! `cargo nextest run -p huiqi-server --run-ignored only load` (dev build: see bench/RESULTS.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, Server};

#[test]
#[ignore]
fn load_firm_check() {
    let _ = common::zone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Server::start(Backend::Sqlite).await;
        let firms = s.firms_with_lines("高企认定奖励").await;
        let code = firms[0].0.clone();
        let c = s.login("officer").await;
        let url = s.url(&format!("/api/v1/firms/{code}/check?period=2023"));
        let (st, _) = c.get(&format!("/api/v1/firms/{code}/check?period=2023")).await;
        assert_eq!(st, 200);
        let end = Instant::now() + Duration::from_secs(10);
        let mut tasks = vec![];
        for _ in 0..32 {
            let (http, url) = (c.http.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = vec![];
                let mut errors = 0u64;
                while Instant::now() < end {
                    let t = Instant::now();
                    match http.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let mut all = vec![];
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        all.sort();
        let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        println!(
            "GET check: {} requests in 10 s = {:.0}/s, errors {errors}, p50 {:?}, p99 {:?}, max {:?}",
            all.len(),
            all.len() as f64 / 10.0,
            p(0.5),
            p(0.99),
            all[all.len() - 1]
        );
        s.stop().await;
    });
}
