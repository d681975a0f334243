//! What the service holds while it runs: the configuration, the policy pack (loaded and
//! checked once), the firms of the current snapshot keyed by credit code (the figures a firm's
//! check evaluates; only their award history comes from the ledger), the ledger connection,
//! the Cedar policies and the live sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use huiqi_ir::{Firm, Program};

use crate::auth::Sessions;
use crate::authz::{Act, Authz, Principal, Resource, Role};
use crate::error::{ApiError, ApiResult};

/// How the service is started (`huiqi serve`'s options).
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// SQLite path or `postgres://…` URL of the ledger (created when missing).
    pub db: String,
    /// The policy pack.
    pub policy: PathBuf,
    /// The snapshot whose figures a firm's check reads (none: checks answer 404).
    pub snapshot: Option<PathBuf>,
    /// Where exports are written before they are sent.
    pub work: PathBuf,
    /// Mark the session cookie `Secure` (and name it `__Host-…`): behind TLS.
    pub secure_cookie: bool,
    /// A session ends after this long without a request …
    pub idle: Duration,
    /// … and this long after login, whatever happens.
    pub absolute: Duration,
    /// Bad passwords in a row before the account locks, and for how long.
    pub max_failures: i64,
    pub lockout: Duration,
    /// Bytes of firms' check answers kept (`routes::firm::CheckCache`).
    pub check_cache_bytes: usize,
    /// Fill that cache in the background with every firm's answer (`routes::firm::warm_checks`).
    pub warm_checks: bool,
    /// Read-only ledger connections beside the one writer (pages and queues read there).
    pub ledger_readers: usize,
    /// Zone indicators in service: a directory of `huiqi indicators --out` outputs (one
    /// subdirectory per period) and the indicator set they were computed by.
    pub indicators: Option<PathBuf>,
    pub indicator_set: PathBuf,
}

impl Config {
    pub fn new(db: impl Into<String>, policy: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: db.into(),
            policy: policy.into(),
            snapshot: None,
            work: PathBuf::from("var/serve"),
            secure_cookie: false,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            check_cache_bytes: 256 << 20,
            warm_checks: true,
            ledger_readers: 2,
            indicators: None,
            indicator_set: PathBuf::from(huiqi::indicators::DEFAULT_SET),
        }
    }
}

/// The snapshot a firm's check reads: its firms keyed by credit code, its content hash and
/// directory. Replaced whole when an officer puts another snapshot in service.
#[derive(Default)]
pub struct Served {
    pub firms: HashMap<String, Firm>,
    /// The snapshot's content hash, when there is one.
    pub hash: Option<String>,
    pub dir: Option<PathBuf>,
    /// The latest year any firm has yearly data for: the period a run or a simulation
    /// defaults to (computed once: the pages ask on every request).
    pub latest_year: Option<i32>,
}

impl Served {
    /// The first 16 hex digits of the hash: how requests name a snapshot.
    pub fn name(&self) -> Option<String> {
        self.hash.as_ref().map(|h| h.chars().take(16).collect())
    }
}

pub struct AppState {
    pub cfg: Config,
    pub program: Program,
    pub catalogue: huiqi::catalogue::Catalogue,
    /// Read through [`AppState::served`]: a request holds one snapshot from start to end.
    pub served: std::sync::RwLock<Arc<Served>>,
    pub ledger: crate::ledger::LedgerHandle,
    pub authz: Authz,
    pub sessions: Sessions,
    /// The runs started over HTTP.
    pub jobs: crate::routes::runs::Jobs,
    /// The leader's figures, kept until the ledger changes.
    pub dashboards: crate::routes::dashboard::DashCache,
    /// The 公示 list last read, kept until the ledger changes.
    pub notices: crate::routes::zone::NoticeCache,
    /// Firms' check answers, kept (the pack and the snapshot do not change while serving).
    pub checks: crate::routes::firm::CheckCache,
    /// Which firms have any line in the ledger: a check of one without reads nothing.
    pub lined: crate::routes::firm::LinedFirms,
    /// Zone indicators (precomputed outputs, loaded at start-up).
    pub indicators: Option<Arc<crate::routes::indicators::Indicators>>,
    /// Snapshots (by content hash) whose files this process has checked against their
    /// manifest: an auditor's trace reads a run's own snapshot, and checks it once.
    pub verified_snapshots: std::sync::Mutex<std::collections::HashSet<String>>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// The snapshot in service now.
    pub fn served(&self) -> Arc<Served> {
        match self.served.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Puts another snapshot in service (firms' checks read it from the next request on) and
    /// forgets the answers computed from the one before.
    pub fn serve_snapshot(&self, next: Served) {
        let next = Arc::new(next);
        match self.served.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        self.checks.clear();
    }

    /// Cedar's decision for one resource; a denial is an audit event naming the actor and
    /// answers 401 (anonymous), 404 (a firm asking about another firm: nothing of it is
    /// revealed, not even that it exists) or 403.
    pub async fn authorize(&self, p: &Principal, a: Act, r: &Resource) -> ApiResult<()> {
        if self.authz.allowed(p, a, r) {
            return Ok(());
        }
        Err(self.denied(p, a, r).await)
    }

    pub async fn denied(&self, p: &Principal, a: Act, r: &Resource) -> ApiError {
        if p.is_anonymous() {
            return ApiError::unauthenticated();
        }
        let what = match r {
            Resource::Line { id, .. } => format!("line:{id}"),
            Resource::Firm(f) => format!("firm:{f}"),
            Resource::Zone => "zone".into(),
            Resource::Notice => "notice".into(),
            Resource::Catalogue => "catalogue".into(),
        };
        let after = serde_json::json!({"action": a.as_str(), "resource": what});
        let ctx = huiqi_ledger::Ctx::now(&p.user);
        let entity = format!("user:{}", p.user);
        // The denial stands whether or not it could be written down.
        let _ = crate::ledger!(self, |l| huiqi::ledger::note(
            l, &ctx, "denied", &entity, &after
        )
        .await)
        .await;
        let other_firm =
            p.role == Role::Firm && r.firm().is_some_and(|f| Some(f) != p.firm.as_deref());
        if other_firm {
            ApiError::not_found("该企业的数据", "resource")
        } else {
            ApiError::forbidden()
        }
    }
}
