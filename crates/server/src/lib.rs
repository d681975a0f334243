//! `huiqi serve`: the 免申即享 service over HTTP (axum), calling the `huiqi` use cases.
//!
//! | module | what |
//! |---|---|
//! | [`state`] | the configuration and what the server holds: pack, snapshot firms, ledger, policies, sessions |
//! | [`auth`] | accounts (argon2), server-side sessions, CSRF, lockout |
//! | [`authz`] | Cedar: the embedded `authz/` schema and policies, validated strictly at start-up |
//! | [`routes`] | the endpoints under `/api/v1`, `/healthz`, the OpenAPI document and Swagger UI |
//! | [`ledger`] | the ledger connection on a thread of its own, and the `ledger!` macro that runs a job there |
//! | [`demo`] | `--demo`: the demo zone prepared if absent, and its accounts |
//! | [`error`] | the JSON error (code, zh/en, field, hint) every endpoint answers with |
//! | [`web`] | the web pages (askama templates, embedded assets), over the same handlers and Cedar decisions |

pub mod auth;
pub mod authz;
pub mod demo;
pub mod error;
pub mod extract;
pub mod ledger;
pub mod routes;
pub mod state;
pub mod web;

use std::sync::Arc;

pub use state::{Config, Shared};

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    App(#[from] huiqi::Error),
    #[error("{0}")]
    Authz(#[from] authz::AuthzError),
    #[error("{zh} / {en}")]
    Other { zh: String, en: String },
}

impl StartError {
    fn other(zh: impl Into<String>, en: impl Into<String>) -> StartError {
        StartError::Other {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// Loads the pack, the snapshot's firms, the Cedar policies, and opens (or creates) the ledger.
pub async fn build(cfg: Config) -> Result<Shared, StartError> {
    let authz = authz::Authz::load()?;
    let loaded = huiqi::pack::load(&cfg.policy)?;
    let program = loaded.program;
    let served = match &cfg.snapshot {
        Some(dir) => load_served(&program, dir)?,
        None => state::Served::default(),
    };
    let ledger = ledger::LedgerHandle::open(cfg.db.clone(), cfg.ledger_readers).await?;
    let catalogue = huiqi::catalogue::catalogue(&program);
    let check_cache_bytes = cfg.check_cache_bytes;
    let jobs = routes::runs::Jobs::restore(&cfg.work);
    let indicators = match &cfg.indicators {
        Some(dir) => Some(Arc::new(routes::indicators::Indicators::load(
            dir,
            &cfg.indicator_set,
        )?)),
        None => None,
    };
    let s = Arc::new(state::AppState {
        cfg,
        program,
        catalogue,
        served: std::sync::RwLock::new(Arc::new(served)),
        ledger,
        authz,
        sessions: Default::default(),
        jobs,
        dashboards: Default::default(),
        notices: Default::default(),
        checks: crate::routes::firm::CheckCache::new(check_cache_bytes),
        lined: Default::default(),
        indicators,
        verified_snapshots: Default::default(),
    });
    auth::load_sessions(&s).await.map_err(|e| {
        StartError::other(
            format!("读取会话失败：{}", e.body.zh),
            format!("reading the sessions failed: {}", e.body.en),
        )
    })?;
    watch_ledger(&s, std::time::Duration::from_secs(1));
    routes::firm::warm_checks(&s);
    Ok(s)
}

/// Reads the ledger's audit head every `every` while the state lives: a write by another
/// process on the same database (`huiqi ledger …` beside the server) reaches the firms'
/// checks within that time (this process's own writes at once).
pub fn watch_ledger(s: &Shared, every: std::time::Duration) {
    let weak = Arc::downgrade(s);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(s) = weak.upgrade() else { break };
            s.ledger.refresh_head(false).await;
        }
    });
}

/// A snapshot's firms, after checking its files are the content its manifest names (a doctored
/// table is refused, never served).
pub fn load_served(
    program: &huiqi_ir::Program,
    dir: &std::path::Path,
) -> Result<state::Served, huiqi::Error> {
    let m = huiqi::data::verified_manifest(dir)?;
    let firms = huiqi::explain::load_firms(program, dir)?;
    Ok(state::Served {
        latest_year: firms.values().filter_map(huiqi::explain::latest_year).max(),
        firms,
        hash: Some(m.hash),
        dir: Some(dir.to_path_buf()),
    })
}

/// A server listening on its address, serving until `shutdown` resolves.
pub async fn serve_until(
    s: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let app = routes::router(s);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| StartError::other(format!("服务异常：{e}"), format!("server failed: {e}")))
}

/// Binds the configured address.
pub async fn bind(s: &Shared) -> Result<tokio::net::TcpListener, StartError> {
    let addr = s.cfg.addr;
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        StartError::other(
            format!("无法监听 {addr}：{e}"),
            format!("cannot listen on {addr}: {e}"),
        )
    })
}

/// What a started server tells its caller: where it listens, and the demo accounts if any.
pub struct Ready<'a> {
    pub addr: std::net::SocketAddr,
    pub state: &'a Shared,
    pub demo_firms: &'a [String],
    /// The password of the `admin` account created at this start (the ledger had no admin).
    pub admin_password: Option<String>,
}

/// Creates the `admin` account with a random password when the ledger has no administrator yet:
/// the first start of a new zone. Returns the password (shown once).
pub async fn bootstrap_admin(s: &Shared) -> Result<Option<String>, StartError> {
    let accounts = ledger!(s, |l| l.accounts().await)
        .await
        .map_err(|e| StartError::other(e.body.zh, e.body.en))?
        .map_err(|e| StartError::other(e.zh, e.en))?;
    let has_admin = accounts
        .iter()
        .any(|a| a.role == authz::Role::Admin.as_str());
    if has_admin {
        return Ok(None);
    }
    let password = auth::random_hex(12);
    let ctx = huiqi_ledger::Ctx::now("bootstrap");
    auth::put_account(s, &ctx, "admin", authz::Role::Admin, None, None, &password)
        .await
        .map_err(|e| StartError::other(e.body.zh, e.body.en))?;
    Ok(Some(password))
}

/// Runs the server on a runtime of its own until the process is stopped: `huiqi serve`. With a demo zone, its
/// accounts are created first.
pub fn serve_blocking(
    cfg: Config,
    demo: Option<demo::DemoZone>,
    on_ready: impl FnOnce(Ready<'_>),
) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::other(format!("tokio：{e}"), format!("tokio: {e}")))?;
    rt.block_on(async move {
        let s = build(cfg).await?;
        let demo_firms = match &demo {
            Some(z) => demo::accounts(&s, z)
                .await
                .map_err(|e| StartError::other(e.body.zh, e.body.en))?,
            None => vec![],
        };
        let admin_password = bootstrap_admin(&s).await?;
        let listener = bind(&s).await?;
        let addr = listener.local_addr().unwrap_or(s.cfg.addr);
        on_ready(Ready {
            addr,
            state: &s,
            demo_firms: &demo_firms,
            admin_password,
        });
        serve_until(s, listener, std::future::pending()).await
    })
}
