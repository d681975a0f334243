//! A real server on an ephemeral port, over a real ledger (a fresh SQLite file, or a fresh
//! PostgreSQL database at `$HUIQI_TEST_PG` or postgres://postgres@127.0.0.1:5432/test), with a
//! small generated zone recorded in it, driven by a real HTTP client. No mocks.
//!
//! The zone (300 firms, generated, ingested and run once) is built into a directory under the
//! system temp dir shared by every test process, atomically (built aside, then renamed).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use huiqi_ledger::Db;
use huiqi_server::authz::Role;
use huiqi_server::{Config, Shared};
use serde_json::Value;

static N: AtomicU64 = AtomicU64::new(0);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn pack() -> PathBuf {
    repo_root().join("policies/ningbo")
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

pub fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique("huiqi-server-test"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The zone every test serves: its snapshot and its run (period 2023).
pub struct Zone {
    pub snapshot: PathBuf,
    pub run: PathBuf,
    /// The seed's four zones' indicator outputs (2021-11, 2022-11), one subdirectory each.
    pub indicators: PathBuf,
}

/// The seed zones' indicator outputs, computed once per pack and indicator set (the demo's
/// calibrated four zones: a few thousand firms).
fn indicators(program: &huiqi_ir::Program) -> PathBuf {
    let set = repo_root().join("indicators");
    let hash = huiqi::indicators::load_set(&set).unwrap().hash;
    // The generator's source names the data too: a change to it must not reuse an old copy.
    let gen = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        include_str!("../../../data/src/gen/zones.rs").hash(&mut h);
        h.finish()
    };
    let dir = std::env::temp_dir().join(format!(
        "huiqi-server-indicators-{}-{}-{gen:016x}",
        &program.hash[..12],
        &hash[..12]
    ));
    if !dir.join("ready").exists() {
        let tmp = std::env::temp_dir().join(unique("huiqi-server-indicators-build"));
        huiqi::indicators::seed_zones(&pack(), &set, &tmp, &mut |_| {}).unwrap();
        std::fs::write(tmp.join("ready"), "").unwrap();
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    dir.join("indicators")
}

pub fn zone() -> Zone {
    zone_named("300", 300, None)
}

/// The sample firm of examples/firms that reached 辅导期 in 2022 and 材料受理 in 2023, without
/// the 2022 award its file records, beside 100 generated firms: its 2023 上市奖励 depends on
/// what the ledger says was awarded for 2022.
pub fn listing_zone() -> Zone {
    let program = huiqi::pack::load(&pack()).unwrap().program;
    let file = repo_root().join("examples/firms/mingzhou_weidianzi.toml");
    let mut firm = huiqi::explain::read_firm(&program, &file).unwrap();
    firm.awards.clear();
    let samples = huiqi::data::SampleFirms {
        program,
        firms: vec![firm],
    };
    zone_named("listing-100", 100, Some(samples))
}

/// A zone built once per pack and `tag` (generated, ingested, its 2023 run made).
fn zone_named(tag: &str, firms: usize, samples: Option<huiqi::data::SampleFirms>) -> Zone {
    let program = huiqi::pack::load(&pack()).unwrap().program;
    let key = &program.hash[..12];
    let dir = std::env::temp_dir().join(format!("huiqi-server-zone-{key}-{tag}"));
    if !dir.join("ready").exists() {
        let tmp = std::env::temp_dir().join(unique("huiqi-server-zone-build"));
        build_zone(&program, &tmp, firms, samples);
        std::fs::write(tmp.join("ready"), "").unwrap();
        // Another process may have won the race: then use its copy.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    let snaps = dir.join("snapshots");
    let snapshot = std::fs::read_dir(&snaps)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("manifest.json").exists())
        .unwrap();
    Zone {
        snapshot,
        run: dir.join("run"),
        indicators: indicators(&program),
    }
}

fn build_zone(
    program: &huiqi_ir::Program,
    dir: &Path,
    firms: usize,
    samples: Option<huiqi::data::SampleFirms>,
) {
    let gen = huiqi::data::GenRequest {
        firms,
        years: (2019, 2023),
        seed: 11,
        out: dir.join("zone"),
        xlsx: false,
        force: false,
        samples,
    };
    huiqi::data::generate(&gen).unwrap();
    let info = huiqi::data::ingest(
        program,
        &dir.join("zone/mapping.toml"),
        &dir.join("snapshots"),
        20,
    )
    .unwrap();
    run_period(&info.dir, 2023, &dir.join("run"));
}

/// The seed pack run over `snapshot` for `period` into `out` (no workbook), as `huiqi run`.
pub fn run_period(snapshot: &Path, period: i32, out: &Path) -> huiqi::run::RunReport {
    let req =
        huiqi::run::RunRequest::new(pack(), snapshot.to_path_buf(), period, out.to_path_buf());
    huiqi::run::run(&req, &|_| {}).unwrap()
}

pub fn pg_admin_url() -> String {
    std::env::var("HUIQI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn new_pg() -> String {
    let admin = pg_admin_url();
    let name = unique("huiqi_srv");
    let mut db = Db::open(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for the server tests: {e}"));
    db.batch(&format!("CREATE DATABASE {name}")).await.unwrap();
    db.close().await;
    let base = admin.rsplit_once('/').map(|x| x.0).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub async fn drop_pg(url: &str) {
    let name = url.rsplit('/').next().unwrap().to_string();
    if let Ok(mut db) = Db::open(&pg_admin_url()).await {
        let _ = db
            .batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        db.close().await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and what the tests need to know about its zone.
pub struct Server {
    pub base: String,
    pub state: Shared,
    pub db: String,
    backend: Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub dir: PathBuf,
}

pub const PASSWORD: &str = "correct-horse-9";

/// Staff accounts every test server has: (name, role, department).
pub const STAFF: &[(&str, Role, Option<&str>)] = &[
    ("officer", Role::Officer, Some("政策科")),
    ("reviewer", Role::Reviewer, Some("科技局")),
    ("reviewer3", Role::Reviewer, Some("科技局")),
    ("reviewer2", Role::Reviewer, Some("经信局")),
    ("finance", Role::Finance, None),
    ("auditor", Role::Auditor, None),
    ("leader", Role::Leader, None),
    ("admin", Role::Admin, None),
];

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Server::start_in(backend, zone()).await
    }

    /// A server over another zone.
    pub async fn start_in(backend: Backend, zone: Zone) -> Server {
        Server::start_with(backend, zone, |_| {}).await
    }

    /// A server over `zone` whose configuration `tune` changes first. The tests' servers do not
    /// fill the check cache in the background (each test says what it asked for) unless
    /// `tune` turns it on.
    pub async fn start_with(
        backend: Backend,
        zone: Zone,
        tune: impl FnOnce(&mut Config),
    ) -> Server {
        let dir = tempdir();
        let db = match backend {
            Backend::Sqlite => dir.join("ledger.sqlite").display().to_string(),
            Backend::Postgres => new_pg().await,
        };
        let mut cfg = Config::new(db.clone(), pack());
        cfg.snapshot = Some(zone.snapshot.clone());
        cfg.indicators = Some(zone.indicators.clone());
        cfg.indicator_set = repo_root().join("indicators");
        cfg.work = dir.join("work");
        cfg.addr = "127.0.0.1:0".parse().unwrap();
        cfg.warm_checks = false;
        tune(&mut cfg);
        let state = huiqi_server::build(cfg).await.unwrap();
        let ctx = huiqi::ledger::ctx(Some("test-setup"), None).unwrap();
        let (run, snap) = (zone.run.clone(), zone.snapshot.clone());
        huiqi_server::ledger!(state, |l| huiqi::ledger::record(l, &ctx, &run, Some(&snap))
            .await)
        .await
        .unwrap()
        .unwrap();
        let ctx = huiqi_ledger::Ctx::now("test-setup");
        for (name, role, dept) in STAFF {
            huiqi_server::auth::put_account(
                &state,
                &ctx,
                name,
                *role,
                None,
                dept.map(str::to_string),
                PASSWORD,
            )
            .await
            .unwrap();
        }
        let listener = huiqi_server::bind(&state).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s2 = state.clone();
        let task = tokio::spawn(async move {
            let _ = huiqi_server::serve_until(s2, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        Server {
            base: format!("http://{addr}"),
            state,
            db,
            backend,
            stop: Some(tx),
            task: Some(task),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A firm account for `code`, created through the ledger (as an admin would).
    pub async fn firm_account(&self, code: &str) -> String {
        let ctx = huiqi_ledger::Ctx::now("test-setup");
        huiqi_server::auth::put_account(
            &self.state,
            &ctx,
            code,
            Role::Firm,
            Some(code.to_string()),
            None,
            PASSWORD,
        )
        .await
        .unwrap();
        code.to_string()
    }

    /// A logged-in client.
    pub async fn login(&self, user: &str) -> Client {
        let c = Client::new(&self.base);
        let r = c
            .post_json(
                "/api/v1/session",
                &serde_json::json!({"user": user, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.0, 200, "login {user}: {}", r.1);
        let mut c = c;
        c.csrf = r.1["csrf_token"].as_str().map(str::to_string);
        c
    }

    /// Firms with lines in the ledger for `clause`: (credit code, line ids).
    pub async fn firms_with_lines(&self, clause: &str) -> Vec<(String, Vec<i64>)> {
        let f = huiqi_ledger::LineFilter {
            clause: Some(clause.into()),
            limit: Some(100_000),
            ..Default::default()
        };
        let page = huiqi_server::ledger!(self.state, |l| huiqi::ledger::lines(l, &f).await)
            .await
            .unwrap()
            .unwrap();
        let mut out: Vec<(String, Vec<i64>)> = vec![];
        for r in page.rows {
            match out.iter_mut().find(|x| x.0 == r.firm_id) {
                Some(x) => x.1.push(r.line),
                None => out.push((r.firm_id, vec![r.line])),
            }
        }
        out
    }

    /// One integer from the ledger database (for assertions).
    pub async fn sql_int(&self, sql: &str, args: Vec<huiqi_ledger::db::Arg>) -> i64 {
        let sql = sql.to_string();
        huiqi_server::ledger!(self.state, |l| l.db.int(&sql, &args).await)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if self.backend == Backend::Postgres {
            drop_pg(&self.db).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP client with its own cookie jar and CSRF token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            base: base.to_string(),
            csrf: None,
        }
    }

    fn with_csrf(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.csrf {
            Some(t) => rb.header("X-CSRF-Token", t),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        decode(r).await
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let rb = self.http.post(format!("{}{path}", self.base)).json(body);
        decode(self.with_csrf(rb).send().await.unwrap()).await
    }

    /// A POST without the CSRF header, whatever the client holds.
    pub async fn post_json_no_csrf(&self, path: &str, body: &Value) -> (u16, Value) {
        let rb = self.http.post(format!("{}{path}", self.base)).json(body);
        decode(rb.send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let rb = self.http.delete(format!("{}{path}", self.base));
        decode(self.with_csrf(rb).send().await.unwrap()).await
    }
}

/// Follows a run started over HTTP until it is done or failed (two minutes at most).
pub async fn wait_run(c: &Client, id: &str) -> Value {
    for _ in 0..600 {
        let (st, v) = c.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(st, 200, "{v}");
        if v["state"] == "done" || v["state"] == "failed" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("run {id} did not finish");
}

pub async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON (status {status}): {text}"))
    };
    (status, v)
}

/// Runs `f` against a server on SQLite, then one on PostgreSQL.
pub fn each_backend<F>(f: F)
where
    F: AsyncFn(&Server),
{
    each_backend_in(zone, f)
}

/// The runtime a test's servers and clients run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// [`each_backend`] over the zone `zone` makes.
pub fn each_backend_in<F>(zone: fn() -> Zone, f: F)
where
    F: AsyncFn(&Server),
{
    // The zone is built before any runtime exists (the engine runs on its own).
    let _ = zone();
    runtime().block_on(async {
        for b in [Backend::Sqlite, Backend::Postgres] {
            let s = Server::start_in(b, zone()).await;
            f(&s).await;
            s.stop().await;
        }
    });
}
