//! The workflow in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, fantoccini), against an in-process server on SQLite. The reviewer approves a
//! clause, the officer announces the 公示, the firm sees its award and confirms, finance makes
//! the batch, downloads its file and uploads the treasury's paid file (checked and shown before
//! it is applied), and the firm sees 已拨付 with the date — in Chinese, then in English. Before
//! that the officer uploads data (a bad file: errors in a table; then a good one) and runs the
//! pack, the firm tries a what-if, and the leader's charts are drawn as SVG. Also:
//! firm A cannot see firm B (404, nothing of B in the DOM), the console shows no error, no
//! request leaves the origin. Screenshots of each page go to `<target>/tmp/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`,
//! `chromium-driver`, `fonts-noto-cjk`; `.ci/run` installs them). Without them the test fails
//! with a message saying so: it never passes silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::webcommon;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const HIGHTECH: &str = "高企认定奖励";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, stopped (by its own id) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> Driver {
    for p in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: the browser test needs Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver fonts-noto-cjk; .ci/run installs them)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
    let url = format!("http://127.0.0.1:{port}");
    let d = Driver { child, url };
    let t0 = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{}/status", d.url)).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "chromedriver did not answer on {}",
            d.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d
}

async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1800", "--lang=zh-CN", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps"],
            "prefs": {"download.default_directory": downloads.display().to_string(),
                      "download.prompt_for_download": false}
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot start a Chromium session through chromedriver: {e}"))
}

/// Everything the test checks on every page it visits.
struct Run {
    c: Client,
    base: String,
    driver: String,
    shots: PathBuf,
    n: usize,
}

impl Run {
    async fn go(&mut self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
        self.same_origin().await;
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    /// The element, once the page shows it: a click or a submit navigates asynchronously, and
    /// the old page can still be the current one when the next step looks.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn click(&mut self, css: &str) {
        self.find(css).await.click().await.unwrap();
        self.settle().await;
        self.same_origin().await;
    }

    /// Waits until the page after a click or submit has loaded.
    async fn settle(&self) {
        let t0 = Instant::now();
        loop {
            let st = self
                .c
                .execute("return document.readyState", vec![])
                .await
                .unwrap();
            if st == "complete" {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(15), "page did not load");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn login(&mut self, user: &str) {
        self.c.delete_all_cookies().await.unwrap();
        self.go("/login").await;
        let form = self
            .c
            .form(Locator::Css("form[action='/login']"))
            .await
            .unwrap();
        form.set_by_name("user", user).await.unwrap();
        form.set_by_name("password", common::PASSWORD)
            .await
            .unwrap();
        form.submit().await.unwrap();
        self.settle().await;
        let who = self.text("[data-testid=user]").await;
        assert!(who.starts_with(user), "logged in as {who}, wanted {user}");
    }

    async fn shot(&mut self, name: &str) {
        self.n += 1;
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
    }

    /// Every resource the page loaded, and every link and source in its DOM, is on this origin.
    async fn same_origin(&self) {
        let v = self
            .c
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name)\
                 .concat([location.href])\
                 .concat(Array.from(document.querySelectorAll('[src],[href],[action]'))\
                 .map(e => new URL(e.getAttribute('src') || e.getAttribute('href') \
                   || e.getAttribute('action'), location.href).href))",
                vec![],
            )
            .await
            .unwrap();
        for u in v.as_array().unwrap() {
            let u = u.as_str().unwrap_or("");
            assert!(
                u.starts_with(&self.base) || u.is_empty(),
                "a request or link leaves the origin: {u}"
            );
        }
    }

    /// The browser console since the last call (chromedriver's log endpoint).
    async fn console(&self) -> Vec<Value> {
        let id = self.c.session_id().await.unwrap().unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/session/{id}/se/log", self.driver))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "chromedriver's log: {}",
            r.status()
        );
        let v: Value = r.json().await.unwrap();
        v["value"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn the_workflow_in_a_browser() {
    // The zone is built before any runtime exists (the engine runs on its own).
    let _ = common::zone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Server::start(Backend::Sqlite).await;
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, a_lines) = firms[0].clone();
        let b = firms[1].0.clone();
        s.firm_account(&a).await;
        s.firm_account(&b).await;
        let b_name = s.state.served().firms.get(&b).unwrap().name.clone();

        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let downloads = common::tempdir();
        let driver = start_driver().await;
        let c = browser(&driver, &downloads).await;
        let mut r = Run {
            c,
            base: s.base.clone(),
            driver: driver.url.clone(),
            shots,
            n: 0,
        };

        // The public pages.
        r.go("/").await;
        r.shot("home").await;
        r.go("/policy").await;
        let page = r.source().await;
        assert!(page.contains(HIGHTECH));
        assert!(page.contains("单企业与集团上限") && page.contains("单企业年度上限"));
        r.shot("policy").await;
        r.c.execute("document.getElementById('caps').scrollIntoView()", vec![])
            .await
            .unwrap();
        r.shot("policy-caps").await;

        // The officer uploads the zone's files: first with a bad figure (row-level errors in a
        // table, nothing written), then as they are (a snapshot); then runs the pack on it and
        // watches the progress until it is recorded.
        let zone_dir = common::zone().run.parent().unwrap().join("zone");
        let good = common::tempdir();
        let bad = common::tempdir();
        let mut files = vec![];
        for e in std::fs::read_dir(&zone_dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_owned();
            std::fs::copy(&p, good.join(&name)).unwrap();
            std::fs::copy(&p, bad.join(&name)).unwrap();
            if p.extension().is_some_and(|x| x == "csv") {
                files.push(name);
            }
        }
        files.sort();
        let tax = bad.join("税务_年度申报.csv");
        let text = std::fs::read_to_string(&tax).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let col = lines[0]
            .split(',')
            .position(|h| h.trim_matches('"') == "营业收入（万元）")
            .unwrap();
        let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
        cells[col] = "一百万".into();
        lines[2] = cells.join(",");
        std::fs::write(&tax, lines.join("\n") + "\n").unwrap();
        r.login("officer").await;
        for (dir, ok) in [(&bad, false), (&good, true)] {
            r.go("/data").await;
            r.find("[data-testid=upload-mapping]")
                .await
                .send_keys(&dir.join("mapping.toml").display().to_string())
                .await
                .unwrap();
            let all: Vec<String> = files
                .iter()
                .map(|f| dir.join(f).display().to_string())
                .collect();
            r.find("[data-testid=upload-files]")
                .await
                .send_keys(&all.join("\n"))
                .await
                .unwrap();
            r.click("[data-testid=upload-submit]").await;
            if ok {
                let snap = r.text("[data-testid=snapshot]").await;
                assert_eq!(snap.len(), 16, "{snap}");
                r.shot("data-ingested").await;
            } else {
                let table = r.text("[data-testid=upload-errors]").await;
                assert!(table.contains("税务_年度申报.csv"), "{table}");
                assert!(table.contains("营业收入（万元）"), "{table}");
                r.shot("data-refused").await;
            }
        }
        r.click("[data-testid=run-submit]").await;
        let t0 = Instant::now();
        loop {
            // The progress element is swapped by the page's next poll; one found just before
            // a swap is stale: look again.
            let state = match r.find("[data-testid=run]").await.attr("data-state").await {
                Ok(s) => s.unwrap_or_default(),
                Err(e) => {
                    assert!(t0.elapsed() < Duration::from_secs(120), "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if state == "done" {
                break;
            }
            assert_ne!(state, "failed", "{}", r.source().await);
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the run did not finish"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(!r.text("[data-testid=run-total]").await.is_empty());
        assert!(!r.text("[data-testid=run-recorded]").await.is_empty());
        r.shot("run-done").await;

        // The 政策沙盘: a smaller R&D pool — the waterfall drawn as SVG with the R&D clause's
        // bar, the stacked bars by 规模; a listed firm explained under the reform.
        r.go("/sandbox").await;
        r.find("[data-testid='param-研发资金池预算']")
            .await
            .send_keys("500万")
            .await
            .unwrap();
        r.click("[data-testid=sandbox-run]").await;
        r.find("[data-testid=sandbox-waterfall] svg g[data-bar='研发费用补助'] rect")
            .await;
        r.find("[data-testid=sandbox-stacked] svg rect").await;
        r.shot("sandbox").await;
        r.click("[data-testid=sandbox-explain-reform]").await;
        assert!(r
            .text("[data-testid=check-reform]")
            .await
            .contains("研发资金池预算=500万"));
        r.shot("sandbox-firm-reform").await;

        // The reviewer approves the whole clause.
        r.login("reviewer").await;
        r.go("/review?state=computed").await;
        r.shot("review-queue").await;
        r.find("[data-testid=bulk-clause]")
            .await
            .select_by_value(HIGHTECH)
            .await
            .unwrap();
        r.click("[data-testid=approve-clause]").await;
        let flash = r.text(".flash").await;
        assert!(flash.starts_with("已审核通过"), "{flash}");
        r.shot("review-approved").await;

        // The officer announces the 公示.
        r.login("officer").await;
        r.click("[data-testid=announce]").await;
        let countdown = r.text("[data-testid=countdown]").await;
        assert!(countdown.contains("距公示结束还有"), "{countdown}");
        r.shot("notice").await;

        // Firm A: its policy check, its award in 公示, one click to confirm.
        r.login(&a).await;
        assert!(r.c.current_url().await.unwrap().path().ends_with(&a));
        let near = r.c.find_all(Locator::Css(".clause")).await.unwrap().len();
        assert_eq!(near, s.state.program.clauses.len());
        r.shot("firm-check").await;
        // What if its revenue were different: the form, one figure changed, the result.
        r.click("[data-testid=whatif-link]").await;
        let input = r.find("input[name='v.营业收入']").await;
        input.clear().await.unwrap();
        input.send_keys("123456.78万").await.unwrap();
        r.click("[data-testid=whatif-submit]").await;
        assert!(!r.text("[data-testid=whatif-total]").await.is_empty());
        r.shot("firm-whatif").await;
        r.go(&format!("/firm/{a}/awards")).await;
        let state = format!("section[data-line='{}'] [data-testid=state]", a_lines[0]);
        assert_eq!(r.text(&state).await, "公示中");
        r.shot("firm-awards-announced").await;
        for _ in &a_lines {
            r.click("[data-testid=confirm]").await;
        }
        assert!(r.text(".flash").await.contains("已确认"));
        r.shot("firm-confirmed").await;

        // Finance: the batch, its file (fetched by the page's own link), the paid file.
        r.login("finance").await;
        r.click("[data-testid=export]").await;
        let href = r
            .find("[data-testid=batch-file]")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let csv =
            r.c.execute(
                "return fetch(arguments[0]).then(x => x.text())",
                vec![json!(href)],
            )
            .await
            .unwrap();
        let paid = webcommon::fill_references(csv.as_str().unwrap());
        let file = downloads.join("paid.csv");
        std::fs::write(&file, paid).unwrap();
        r.shot("finance-batch").await;
        r.find("[data-testid=paid-file]")
            .await
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        r.click("[data-testid=upload]").await;
        assert_eq!(
            r.text("[data-testid=payable]").await,
            a_lines.len().to_string()
        );
        assert_eq!(r.text("[data-testid=refused]").await, "0");
        r.shot("finance-paid-preview").await;
        let none = s.sql_int("SELECT COUNT(*) FROM payments", vec![]).await;
        assert_eq!(none, 0, "the preview paid something");
        r.click("[data-testid=apply]").await;
        assert!(r.text(".flash").await.starts_with("已拨付"));
        r.shot("finance-paid").await;

        // Firm A sees 已拨付 with the date; then the same page in English.
        r.login(&a).await;
        r.go(&format!("/firm/{a}/awards")).await;
        assert_eq!(r.text(&state).await, "已拨付");
        let paid_on = r.text("[data-testid=paid-on]").await;
        assert!(
            paid_on.contains("年") && paid_on.contains("月") && paid_on.contains("日"),
            "{paid_on}"
        );
        r.shot("firm-paid").await;
        r.click("a.lang").await;
        let src = r.source().await;
        assert!(src.contains("<html lang=\"en\""), "not English");
        webcommon::assert_translated("awards (en)", &src);
        assert!(r.text("[data-testid=paid-on]").await.starts_with("Paid on"));
        r.shot("firm-paid-en").await;
        r.click("a.lang").await;

        // The auditor verifies the chain; the leader's table.
        r.login("auditor").await;
        r.click("[data-testid=verify]").await;
        assert!(r.text("[data-testid=verified]").await.starts_with('✓'));
        r.shot("audit").await;
        r.login("leader").await;
        assert!(r.source().await.contains(HIGHTECH));
        // Each chart island drawn by ECharts as SVG, under the page's strict CSP.
        for id in ["chart-by-clause", "chart-by-state", "chart-days"] {
            r.find(&format!("div.chart[data-chart='{id}'][data-drawn='1'] svg"))
                .await;
        }
        r.shot("dashboard").await;
        // The same in English: every key translated, the charts drawn again.
        r.click("a.lang").await;
        webcommon::assert_translated("dashboard (en)", &r.source().await);
        r.find("div.chart[data-chart='chart-by-clause'][data-drawn='1'] svg")
            .await;
        r.shot("dashboard-en").await;
        // The zone indicators: the chart drawn, the card and the side-by-side cell equal to the
        // API's figure, the target row behind 序时进度 coloured amber.
        r.go("/indicators?period=2022-11").await;
        webcommon::assert_translated("indicators (en)", &r.source().await);
        r.find("div.chart[data-chart='chart-ind-0'][data-drawn='1'] svg")
            .await;
        let api =
            r.c.execute(
                "return fetch('/api/v1/indicators/2022-11').then(x => x.json()).then(d => d.figures.find(f => f.indicator == '新增高企' && f.zone == '广州高新区').value)",
                vec![],
            )
            .await
            .unwrap();
        let card =
            r.c.execute(
                "return document.querySelector('[data-zone=\"广州高新区\"] [data-indicator=\"新增高企\"] [data-testid=value]').textContent",
                vec![],
            )
            .await
            .unwrap();
        let cell =
            r.c.execute(
                "return [...document.querySelectorAll('[data-testid=compare] tbody tr')].find(tr => tr.cells[0].textContent == '新增高新技术企业').cells[2].firstChild.textContent.trim()",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((&api, &card, &cell), (&json!("87"), &json!("87"), &json!("87")));
        let colour =
            r.c.execute(
                "return getComputedStyle(document.querySelector('tr.pace-amber .pace-dot')).backgroundColor",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(colour, json!("rgb(249, 168, 37)"));
        r.shot("indicators-en").await;
        r.go("/data").await;
        webcommon::assert_translated("data (en)", &r.source().await);
        r.shot("data-en").await;
        r.go("/policy").await;
        assert!(r.source().await.contains("Caps per firm"));
        r.c.execute("document.getElementById('caps').scrollIntoView()", vec![])
            .await
            .unwrap();
        r.shot("policy-caps-en").await;
        r.click("a.lang").await;

        // Not one console error on the way — but the one answer that is a 4xx on purpose: the
        // bad upload's page (422, its problems in a table), which Chromium logs as a network
        // error. Exactly one such line, for that URL.
        let severe: Vec<Value> = r
            .console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        let refused = |e: &Value| {
            e["source"] == "network"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("/data/upload - ") && m.contains("status of 422"))
        };
        assert_eq!(
            severe.iter().filter(|e| refused(e)).count(),
            1,
            "the bad upload's 422: {severe:#?}"
        );
        let errors: Vec<&Value> = severe.iter().filter(|e| !refused(e)).collect();
        assert!(errors.is_empty(), "console errors: {errors:#?}");

        // Firm A cannot reach firm B: 404, and nothing of B in the DOM.
        r.login(&a).await;
        for path in [format!("/firm/{b}"), format!("/firm/{b}/awards")] {
            r.go(&path).await;
            let dom = r.source().await;
            assert!(!dom.contains(&b), "{path}: B's code in the DOM");
            assert!(!dom.contains(&b_name), "{path}: B's name in the DOM");
            assert_eq!(r.text("h1").await, "未找到");
            let status =
                r.c.execute(
                    "return fetch(arguments[0]).then(x => x.status)",
                    vec![json!(path)],
                )
                .await
                .unwrap();
            assert_eq!(status, 404, "{path}");
        }
        r.shot("firm-other-404").await;

        r.c.close().await.unwrap();
        drop(driver);
        s.stop().await;
        let _ = std::fs::remove_dir_all(&downloads);
    });
}
