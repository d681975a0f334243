//! The policy catalogue and a firm's figures decided: `GET /api/v1/policy`,
//! `GET /api/v1/policy/clauses/{name}`, `POST /api/v1/calculate` (what-if figures) and
//! `GET /api/v1/firms/{uscc}/check` (the figures on file), `GET /api/v1/firms/{uscc}/status`.
//!
//! The check runs the reference evaluator through `huiqi::explain` on the firm held in memory
//! with its award history from the ledger ([`firm_on_file`]), one Cedar decision; the answer is
//! kept ([`CheckCache`]) and served again as bytes. The evaluation time (or `cache;desc=hit`,
//! `cache;desc=revalidated`) goes out in `Server-Timing`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{header, HeaderValue};

use axum::extract::State;
use axum::http::header::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huiqi_ir::Firm;
use huiqi_ledger::AwardOut;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::state::{AppState, Shared};

/// The policy catalogue: clauses with their 条文 and reference, facts, dated parameters, pools,
/// tests.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, description = "the catalogue (huiqi::catalogue::Catalogue)", body = serde_json::Value)))]
pub async fn catalogue(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::ReadCatalogue, &Resource::Catalogue)
        .await?;
    Ok(Json(&s.catalogue).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ClauseOut {
    #[schema(value_type = Object)]
    pub clause: serde_json::Value,
    /// The department (牵头部门) whose reviewers approve it.
    pub department: String,
}

/// One clause of the catalogue, with its owning department.
#[utoipa::path(get, path = "/api/v1/policy/clauses/{name}", tag = "policy",
    params(("name" = String, Path, description = "clause name, e.g. 高企认定奖励")),
    responses((status = 200, body = ClauseOut), (status = 404, body = ErrorBody)))]
pub async fn clause(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<ClauseOut>> {
    s.authorize(&c.principal, Act::ReadCatalogue, &Resource::Catalogue)
        .await?;
    let cl = s
        .catalogue
        .clauses
        .iter()
        .find(|x| x.name == name)
        .ok_or_else(|| ApiError::not_found("该条款", "clause"))?;
    Ok(Json(ClauseOut {
        clause: serde_json::to_value(cl).map_err(ApiError::internal)?,
        department: s.authz.department_of(&name).to_string(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQ {
    /// The year (default: the firm's latest year with data).
    pub period: Option<i32>,
}

/// Every clause decided for one firm: amounts as exact 元 strings and integer 分, the reason
/// when zero, each condition with its values and threshold and the near-miss sentence. A clause
/// allocated over the population (a pool, a ranking) is an estimate: one firm alone cannot know
/// its share or rank; those clauses are listed in `estimated_clauses`.
fn decided(s: &AppState, firm: Firm, period: Option<i32>) -> ApiResult<Response> {
    let (body, timing) = decided_bytes(s, firm, period)?;
    Ok(json_bytes(body, &timing))
}

/// What a population clause's estimate says, in both languages.
#[derive(Serialize)]
struct EstimateNote {
    zh: &'static str,
    en: &'static str,
}

/// The answer: `huiqi explain --json`'s explanation plus the clauses that are estimates.
#[derive(Serialize)]
struct Decided<'a> {
    #[serde(flatten)]
    explanation: huiqi_eval::explain::ExplainJson<'a>,
    estimated_clauses: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimate_note: Option<EstimateNote>,
}

/// The answer as JSON bytes, serialised straight from the typed explanation (no intermediate
/// JSON tree), and its `Server-Timing` value.
fn decided_bytes(s: &AppState, firm: Firm, period: Option<i32>) -> ApiResult<(Bytes, String)> {
    if period.is_some_and(|p| !(1900..=2200).contains(&p)) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    let t0 = Instant::now();
    let e = huiqi::explain::explain(&s.program, firm, period, None)?;
    let estimated: Vec<&str> = (s.catalogue.clauses.iter())
        .filter(|c| c.population)
        .map(|c| c.name.as_str())
        .collect();
    let out = Decided {
        explanation: e.json_typed(),
        estimated_clauses: estimated,
        estimate_note: e.population_caveat().then_some(EstimateNote {
            zh: "资金池和遴选类条款按全体企业核定，单户测算仅为预估（资格达标；金额按资金池核定）",
            en: "pool and ranking clauses are allocated over all firms; for one firm the amount is an estimate",
        }),
    };
    let body = serde_json::to_vec(&out).map_err(ApiError::internal)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    Ok((Bytes::from(body), format!("eval;dur={ms:.3}")))
}

/// A firm's figures on file in the current snapshot, every clause decided. Answers are kept
/// (and computed ahead for firms without award history): a client that sends
/// `Accept-Encoding: gzip` gets the kept gzip bytes (`Content-Encoding: gzip`), any other the JSON.
#[utoipa::path(get, path = "/api/v1/firms/{uscc}/check", tag = "firm",
    params(("uscc" = String, Path, description = "统一社会信用代码"), PeriodQ),
    responses((status = 200, description = "the explanation (explain --json) plus estimated_clauses; gzip-encoded when the request's Accept-Encoding takes gzip", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown firm, or another firm's")))]
pub async fn check(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
    Query(q): Query<PeriodQ>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::CheckFirm, &Resource::Firm(uscc.clone()))
        .await?;
    if q.period.is_some_and(|p| !(1900..=2200).contains(&p)) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    let gzip = accepts_gzip(&headers);
    // The year is resolved first (no period: the firm's latest year), so a check without a
    // period and one naming that year are one answer, computed and kept once.
    let served = s.served();
    let year = match (q.period, served.firms.get(&uscc)) {
        (_, None) => {
            return Err(ApiError::not_found(
                "该企业",
                "firm in the current snapshot",
            ))
        }
        (Some(p), _) => Some(p),
        (None, Some(f)) => huiqi::explain::latest_year(f),
    };
    // An answer is for one snapshot (its name is in the key) and one award history: while the
    // ledger has not moved it is served as it is; after a write the firm's history is read
    // again and the answer kept when that firm's history is unchanged.
    let key = check_key(&served, &uscc, year);
    drop(served);
    let head = s.ledger.head();
    if let Some(body) = s.checks.fresh(&key, head) {
        return Ok(body.response(gzip, "cache;desc=hit"));
    }
    let (firm, history) = firm_with_history(&s, &uscc, year).await?;
    if let Some(body) = s.checks.revalidate(&key, head, &history) {
        return Ok(body.response(gzip, "cache;desc=revalidated"));
    }
    let (body, timing) = decided_bytes(&s, firm, year)?;
    // Kept as it was computed: compressing it would make this request slower, and the firms
    // asked on request are the ones asked again.
    let kept = Answer::Json(body);
    s.checks.put(key, head, history, kept.clone());
    Ok(kept.response(gzip, &timing))
}

fn check_key(served: &crate::state::Served, uscc: &str, year: Option<i32>) -> CheckKey {
    (
        format!("{}:{uscc}", served.name().unwrap_or_default()),
        year,
    )
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip` or `*`, with a q-value not 0).
fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

/// A firm of the snapshot in service with the ledger's award history before the period checked
/// (the period asked for, or the firm's latest year), merged as `run --ledger` merges it: every
/// check of the figures on file evaluates this, so a check agrees with the run that pays (a
/// stepped top-up pays the difference, a cap over years sees what was used).
pub async fn firm_on_file(s: &Shared, uscc: &str, period: Option<i32>) -> ApiResult<Firm> {
    Ok(firm_with_history(s, uscc, period).await?.0)
}

/// [`firm_on_file`] and the ledger history it merged.
async fn firm_with_history(
    s: &Shared,
    uscc: &str,
    period: Option<i32>,
) -> ApiResult<(Firm, Vec<AwardOut>)> {
    let mut firm = s
        .served()
        .firms
        .get(uscc)
        .cloned()
        .ok_or_else(|| ApiError::not_found("该企业", "firm in the current snapshot"))?;
    let Some(year) = period.or_else(|| huiqi::explain::latest_year(&firm)) else {
        return Ok((firm, vec![]));
    };
    // Most firms have no line in the ledger: for them there is nothing to read.
    if !s.lined.may_have(s, uscc, s.ledger.head()).await? {
        return Ok((firm, vec![]));
    }
    let id = uscc.to_string();
    let awards =
        crate::ledger_read!(s, |l| huiqi::ledger::firm_history(l, &id, year).await).await??;
    huiqi::ledger::with_history(&s.program, &mut firm, &awards);
    Ok((firm, awards))
}

/// The firms with any entitlement in the ledger, as of an audit head: a check that misses the
/// cache reads a firm's award history only when the firm has some (a read is a hop to a ledger
/// thread and back; at the zone's scale most firms have none). Refreshed when the head moves,
/// by reading only the entitlements recorded since the last one seen. Firms are kept as
/// 64-bit hashes: a collision only costs a read that finds nothing.
pub struct LinedFirms {
    known: std::sync::RwLock<Lined>,
    /// One refresh at a time; the others wait for it and find the set fresh.
    refresh: tokio::sync::Mutex<()>,
}

struct Lined {
    /// The head the set is complete for (i64::MIN: never read).
    head: i64,
    last_id: i64,
    firms: HashSet<u64>,
}

impl Default for LinedFirms {
    fn default() -> Self {
        LinedFirms {
            known: std::sync::RwLock::new(Lined {
                head: i64::MIN,
                last_id: 0,
                firms: HashSet::new(),
            }),
            refresh: tokio::sync::Mutex::new(()),
        }
    }
}

fn firm_key(uscc: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uscc.hash(&mut h);
    h.finish()
}

impl LinedFirms {
    fn fresh(&self, uscc: &str, head: i64) -> Option<bool> {
        let k = match self.known.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        (k.head >= head).then(|| k.firms.contains(&firm_key(uscc)))
    }

    /// Whether `uscc` may have award history in the ledger at `head`.
    pub async fn may_have(&self, s: &Shared, uscc: &str, head: i64) -> ApiResult<bool> {
        if let Some(b) = self.fresh(uscc, head) {
            return Ok(b);
        }
        let _one = self.refresh.lock().await;
        if let Some(b) = self.fresh(uscc, head) {
            return Ok(b);
        }
        let after = match self.known.read() {
            Ok(g) => g.last_id,
            Err(p) => p.into_inner().last_id,
        };
        let new = crate::ledger_read!(s, |l| huiqi::ledger::entitlement_firms_after(l, after)
            .await)
        .await??;
        let mut k = match self.known.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (id, firm) in new {
            k.last_id = k.last_id.max(id);
            k.firms.insert(firm_key(&firm));
        }
        k.head = k.head.max(head);
        Ok(k.firms.contains(&firm_key(uscc)))
    }
}

fn json_bytes(body: Bytes, timing: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                HeaderName::from_static("server-timing"),
                HeaderValue::from_str(timing).unwrap_or(HeaderValue::from_static("eval")),
            ),
        ],
        body,
    )
        .into_response()
}

/// A check's answer as the cache keeps it: as JSON when it was computed on request, gzip-
/// compressed when it was computed ahead ([`warm_checks`]). With the seed pack an answer is
/// about 15 KB of JSON and 3.6 KB compressed, so the default 256 MiB hold the answers of a
/// 70,000-firm zone. A compressed answer goes out as it is kept to a client that accepts gzip
/// (every browser), inflated to any other; a JSON answer goes out as JSON to everyone.
#[derive(Clone)]
pub enum Answer {
    Json(Bytes),
    Gzip(Bytes),
}

impl Answer {
    pub fn gzip(json: &[u8]) -> Answer {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 3),
            flate2::Compression::fast(),
        );
        // Writing into a Vec cannot fail.
        let _ = e.write_all(json);
        Answer::Gzip(Bytes::from(e.finish().unwrap_or_default()))
    }

    /// The JSON (inflated when kept compressed).
    pub fn json(&self) -> std::io::Result<Bytes> {
        use std::io::Read;
        match self {
            Answer::Json(b) => Ok(b.clone()),
            Answer::Gzip(gz) => {
                let mut out = Vec::with_capacity(gz.len() * 5);
                flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out)?;
                Ok(Bytes::from(out))
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Answer::Json(b) | Answer::Gzip(b) => b.len(),
        }
    }

    /// The answer as a response: kept gzip bytes with `Content-Encoding: gzip` when the client
    /// takes gzip, else the JSON. Every answer says `Vary: Accept-Encoding` (the body may
    /// depend on it).
    fn response(&self, gzip: bool, timing: &str) -> Response {
        let mut r = match self {
            Answer::Gzip(gz) if gzip => {
                let mut r = json_bytes(gz.clone(), timing);
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => match self.json() {
                Ok(j) => json_bytes(j, timing),
                Err(e) => return ApiError::internal(e).into_response(),
            },
        };
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        r
    }
}

/// The answers of `GET /api/v1/firms/{uscc}/check` by snapshot, firm and period. An answer is
/// a pure function of the served pack, the snapshot and the firm's award history in the ledger;
/// each is kept with the history it read and the ledger head it was last known good at. The
/// cache holds at most `budget` bytes (the oldest answers leave first), so memory stays flat
/// however many firms ask. After start-up and after another snapshot is put in service,
/// [`warm_checks`] fills it in the background with the answers of firms that have no award
/// history (most of a zone), until the budget is full.
pub struct CheckCache {
    budget: usize,
    inner: Mutex<CacheInner>,
    /// Background fills that went through every firm (a test waits for one).
    fills: std::sync::atomic::AtomicUsize,
}

type CheckKey = (String, Option<i32>);

struct Entry {
    /// The ledger head at which `history` was last read (or found unchanged).
    head: i64,
    history: Vec<AwardOut>,
    body: Answer,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.body.len() + self.history.len() * std::mem::size_of::<AwardOut>()
    }
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<CheckKey, Entry>,
    order: VecDeque<CheckKey>,
    bytes: usize,
}

impl CheckCache {
    pub fn new(budget: usize) -> CheckCache {
        CheckCache {
            budget,
            inner: Mutex::new(CacheInner::default()),
            fills: Default::default(),
        }
    }

    /// Forgets every answer (another snapshot is in service).
    pub fn clear(&self) {
        if let Ok(mut c) = self.inner.lock() {
            *c = CacheInner::default();
        }
    }

    /// The answer, when it was computed or revalidated at ledger head `head`.
    fn fresh(&self, k: &CheckKey, head: i64) -> Option<Answer> {
        let c = self.inner.lock().ok()?;
        let e = c.map.get(k)?;
        (e.head == head).then(|| e.body.clone())
    }

    /// The answer when the firm's history now is the one it was computed from; it is then good
    /// at `head` too.
    fn revalidate(&self, k: &CheckKey, head: i64, history: &[AwardOut]) -> Option<Answer> {
        let mut c = self.inner.lock().ok()?;
        let e = c.map.get_mut(k)?;
        if e.history != history {
            return None;
        }
        e.head = e.head.max(head);
        Some(e.body.clone())
    }

    fn contains(&self, k: &CheckKey) -> bool {
        self.inner.lock().is_ok_and(|c| c.map.contains_key(k))
    }

    fn put(&self, k: CheckKey, head: i64, history: Vec<AwardOut>, body: Answer) {
        self.insert(k, head, history, body, true);
    }

    /// Keeps an answer; when `evict` is false only if it fits without pushing another out, and
    /// never over an answer already kept (the background fill: a request may have kept one
    /// since the fill looked). Returns false only when there was no room.
    fn insert(
        &self,
        k: CheckKey,
        head: i64,
        history: Vec<AwardOut>,
        body: Answer,
        evict: bool,
    ) -> bool {
        let e = Entry {
            head,
            history,
            body,
        };
        let size = e.bytes();
        if size > self.budget {
            return false;
        }
        let Ok(mut c) = self.inner.lock() else {
            return false;
        };
        if !evict && c.map.contains_key(&k) {
            return true;
        }
        if !evict && c.bytes + size > self.budget {
            return false;
        }
        if let Some(old) = c.map.remove(&k) {
            // A newer answer for the key: it keeps the key's place in the order.
            c.bytes -= old.bytes();
        } else {
            c.order.push_back(k.clone());
        }
        while c.bytes + size > self.budget {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(b) = c.map.remove(&old) {
                c.bytes -= b.bytes();
            }
        }
        c.bytes += size;
        c.map.insert(k, e);
        true
    }

    /// How many background fills went through every firm of their snapshot.
    pub fn fills(&self) -> usize {
        self.fills.load(std::sync::atomic::Ordering::Acquire)
    }

    /// (answers, bytes) held now.
    pub fn size(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|c| (c.map.len(), c.bytes))
            .unwrap_or((0, 0))
    }
}

/// Fills the check cache in the background, on a thread at the lowest CPU priority (a run's:
/// it takes only what requests leave): the answer of every firm of the snapshot in service
/// that has no award history in the ledger, for its latest year — the answer a firm's own
/// page asks for first. A 免申即享 service knows every firm's answer before the firm asks. It
/// stops when the cache's budget is full, when another snapshot is put in service (that one
/// starts its own fill) and when the server stops. Firms with history are left to their first
/// request (their answer reads the ledger).
pub fn warm_checks(s: &Shared) {
    if s.cfg.check_cache_bytes == 0 || !s.cfg.warm_checks {
        return;
    }
    let weak = std::sync::Arc::downgrade(s);
    let rt = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("warm-checks".into())
        .spawn(move || {
            crate::routes::runs::background_priority();
            let t0 = Instant::now();
            let Some(s) = weak.upgrade() else { return };
            let served = s.served();
            let mut firms: Vec<&String> = served.firms.keys().collect();
            // In credit-code order: the same fill on every start.
            firms.sort_unstable();
            let head = s.ledger.head();
            // The set of firms with history, read once at this head.
            if rt.block_on(s.lined.may_have(&s, "", head)).is_err() {
                return;
            }
            drop(s);
            let mut computed = 0usize;
            for uscc in firms {
                let Some(s) = weak.upgrade() else { return };
                if !std::sync::Arc::ptr_eq(&s.served(), &served) {
                    return;
                }
                if s.lined.fresh(uscc, head) != Some(false) {
                    continue;
                }
                let firm = &served.firms[uscc];
                let year = huiqi::explain::latest_year(firm);
                let key = check_key(&served, uscc, year);
                if s.checks.contains(&key) {
                    continue;
                }
                let Ok((body, _)) = decided_bytes(&s, firm.clone(), year) else {
                    continue;
                };
                if !s.checks.insert(key, head, vec![], Answer::gzip(&body), false) {
                    eprintln!(
                        "huiqi: 核查结果缓存已满（{computed} 家企业）/ the check cache is full after {computed} firms; the rest are computed when asked"
                    );
                    return;
                }
                computed += 1;
            }
            if let Some(s) = weak.upgrade() {
                let (n, bytes) = s.checks.size();
                eprintln!(
                    "huiqi: 已预先算好 {computed} 家企业的核查结果 / checks computed ahead: {computed} firms in {:.1} s ({n} answers kept, {:.1} MB)",
                    t0.elapsed().as_secs_f64(),
                    bytes as f64 / (1 << 20) as f64
                );
                s.checks
                    .fills
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
        });
    if let Err(e) = spawned {
        eprintln!("huiqi: the check cache is not filled in the background: {e}");
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfIn {
    /// The year (default: the firm's latest year with data).
    pub period: Option<i32>,
    /// The figures to change, e.g. `[{"fact": "营业收入", "value": "2500万"}]` (a firm file's
    /// spellings; an empty value removes the figure). At most 100.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<huiqi::explain::Change>,
}

/// What-if on the figures on file: change some, see every clause decided again and what moved.
/// Answers `changed` (fact, year, on file, what-if), the totals both ways, `differences` by
/// clause and the what-if's full `explanation`.
#[utoipa::path(post, path = "/api/v1/firms/{uscc}/whatif", tag = "firm", request_body = WhatIfIn,
    params(("uscc" = String, Path, description = "统一社会信用代码")),
    responses((status = 200, body = serde_json::Value), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "unknown firm, or another firm's"),
              (status = 422, body = ErrorBody, description = "a bad figure, with its field path and a hint")))]
pub async fn what_if(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
    Body(b): Body<WhatIfIn>,
) -> ApiResult<Json<serde_json::Value>> {
    s.authorize(&c.principal, Act::CheckFirm, &Resource::Firm(uscc.clone()))
        .await?;
    Ok(Json(
        what_if_of(&s, &uscc, b.period, &b.changes).await?.json(),
    ))
}

/// The what-if on a firm of the current snapshot (the API's and the page's one path).
pub async fn what_if_of<'s>(
    s: &'s Shared,
    uscc: &str,
    period: Option<i32>,
    changes: &[huiqi::explain::Change],
) -> ApiResult<huiqi::explain::WhatIf<'s>> {
    if period.is_some_and(|p| !(1900..=2200).contains(&p)) {
        return Err(ApiError::invalid("年度超出范围", "period out of range").field("period"));
    }
    if changes.len() > 100 {
        return Err(
            ApiError::invalid("一次最多修改100项数据", "at most 100 changes at once")
                .field("changes"),
        );
    }
    let firm = firm_on_file(s, uscc, period).await?;
    Ok(huiqi::explain::what_if(&s.program, firm, period, changes)?)
}

#[derive(Deserialize, ToSchema)]
pub struct CalculateIn {
    /// A firm file as JSON (the same format as `huiqi explain`'s firm files: id, name, facts…).
    /// Kept as its JSON text: the firm file's reader parses it once (no tree built, printed and
    /// parsed again).
    #[schema(value_type = Object)]
    pub firm: Box<serde_json::value::RawValue>,
    pub period: Option<i32>,
}

/// What-if: the figures in the body, every clause decided (as `huiqi explain --json`).
#[utoipa::path(post, path = "/api/v1/calculate", tag = "firm", request_body = CalculateIn,
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "a bad figure, with its field path and a hint")))]
pub async fn calculate(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<CalculateIn>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::Calculate, &Resource::Catalogue)
        .await?;
    let firm = huiqi::explain::parse_firm(&s.program, b.firm.get(), true)?;
    decided(&s, firm, b.period)
}

#[derive(Serialize, ToSchema)]
pub struct StatusLineOut {
    pub line: i64,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    pub amount_yuan: String,
    pub amount_fen: i64,
    pub state: String,
    pub state_zh: String,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// (step, time): 测算 → 审核 → 公示 → 确认 → 拨付.
    #[schema(value_type = Vec<Vec<String>>)]
    pub steps: Vec<(String, String)>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusOut {
    pub firm: String,
    pub name: String,
    pub lines: Vec<StatusLineOut>,
}

/// A firm's awards, each with its timeline of steps.
#[utoipa::path(get, path = "/api/v1/firms/{uscc}/status", tag = "firm",
    params(("uscc" = String, Path, description = "统一社会信用代码")),
    responses((status = 200, body = StatusOut), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(uscc): Path<String>,
) -> ApiResult<Json<StatusOut>> {
    s.authorize(&c.principal, Act::ViewStatus, &Resource::Firm(uscc.clone()))
        .await?;
    let code = uscc.clone();
    let lines = crate::ledger_read!(s, |l| huiqi::ledger::status(l, &code).await).await??;
    let served = s.served();
    let known = served.firms.contains_key(&uscc) || !lines.is_empty();
    if !known {
        return Err(ApiError::not_found("该企业", "firm"));
    }
    let name = lines
        .first()
        .map(|l| l.firm_name.clone())
        .or_else(|| served.firms.get(&uscc).map(|f| f.name.clone()))
        .unwrap_or_default();
    Ok(Json(StatusOut {
        firm: uscc,
        name,
        lines: lines
            .into_iter()
            .map(|l| StatusLineOut {
                line: l.line,
                clause: l.clause,
                period: l.period,
                tranche: l.tranche,
                kind: l.kind,
                amount_yuan: huiqi_ledger::yuan(l.amount_fen),
                amount_fen: l.amount_fen,
                state: l.state.as_str().into(),
                state_zh: l.state.zh().into(),
                reason: l.reason,
                reference: l.reference,
                steps: l.steps,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of exactly these kept bytes (the budget counts kept bytes).
    fn raw(b: Vec<u8>) -> Answer {
        Answer::Json(Bytes::from(b))
    }

    fn key(n: u32) -> (String, Option<i32>) {
        (format!("firm-{n}"), Some(2023))
    }

    /// A compressed answer inflates to the JSON it was made of; which requests take gzip.
    #[test]
    fn an_answer_is_kept_compressed_and_given_as_asked() {
        let json = r#"{"firm":"91330201MA2AFK3J07","clauses":[{"clause":"高企认定奖励"}]}"#
            .repeat(50)
            .into_bytes();
        let a = Answer::gzip(&json);
        assert!(a.len() * 5 < json.len(), "{} → {}", json.len(), a.len());
        assert_eq!(a.json().unwrap(), Bytes::from(json.clone()));
        let plain = a.response(false, "cache;desc=hit");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let gz = a.response(true, "cache;desc=hit");
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gz.headers()[header::VARY], "accept-encoding");
        // A JSON answer is JSON whatever the client takes.
        let j = Answer::Json(Bytes::from_static(b"{}")).response(true, "eval");
        assert!(j.headers().get(header::CONTENT_ENCODING).is_none());
        let takes = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        for yes in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, GZIP;q=0.5",
            "*",
            "x, gzip ; q=1",
        ] {
            assert!(takes(yes), "{yes}");
        }
        for no in [
            "",
            "br",
            "gzip;q=0",
            "gzip; q=0.0, br",
            "identity",
            "x-gzip2",
        ] {
            assert!(!takes(no), "{no}");
        }
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn the_check_cache_keeps_within_its_budget_oldest_out_first() {
        let c = CheckCache::new(100);
        for n in 0..10 {
            c.put(key(n), 1, vec![], raw(vec![b'x'; 30]));
            assert!(c.size().1 <= 100, "{:?}", c.size());
        }
        assert_eq!(c.size(), (3, 90));
        assert!(c.fresh(&key(9), 1).is_some() && c.fresh(&key(7), 1).is_some());
        assert!(c.fresh(&key(6), 1).is_none(), "the oldest left first");
        // An answer larger than the whole budget is not kept; a newer answer replaces the old.
        c.put(key(99), 1, vec![], raw(vec![b'x'; 101]));
        c.put(key(9), 2, vec![], raw(vec![b'y'; 30]));
        assert_eq!(c.size(), (3, 90));
        assert_eq!(
            c.fresh(&key(9), 2).and_then(|a| a.json().ok()),
            Some(Bytes::from(vec![b'y'; 30]))
        );
        let off = CheckCache::new(0);
        off.put(key(1), 1, vec![], raw(b"{}".to_vec()));
        assert_eq!(off.size(), (0, 0));
    }

    /// The background fill never pushes an answer out and never replaces one a request kept;
    /// only a full budget stops it.
    #[test]
    fn the_fill_keeps_what_is_there_and_stops_when_full() {
        let c = CheckCache::new(100);
        c.put(key(1), 1, vec![], raw(vec![b'a'; 30]));
        assert!(c.insert(key(1), 1, vec![], raw(vec![b'b'; 30]), false));
        assert_eq!(
            c.fresh(&key(1), 1).and_then(|a| a.json().ok()),
            Some(Bytes::from(vec![b'a'; 30]))
        );
        assert!(c.insert(key(2), 1, vec![], raw(vec![b'c'; 60]), false));
        assert!(!c.insert(key(3), 1, vec![], raw(vec![b'd'; 20]), false));
        assert_eq!(c.size(), (2, 90));
    }

    /// After the ledger moves an answer is not fresh; it is served again only when the firm's
    /// history is the one it was computed from.
    #[test]
    fn an_answer_outlives_a_write_only_with_the_same_history() {
        let c = CheckCache::new(1 << 20);
        let h = |fen| {
            vec![AwardOut {
                firm_id: "F".into(),
                clause: "小升规奖励".into(),
                period: 2021,
                tranche: "首次入规".into(),
                fen,
                held: true,
            }]
        };
        c.put(key(1), 5, h(100), raw(b"a".to_vec()));
        assert!(c.fresh(&key(1), 6).is_none());
        assert_eq!(
            c.revalidate(&key(1), 6, &h(100))
                .and_then(|a| a.json().ok()),
            Some(Bytes::from_static(b"a"))
        );
        assert_eq!(
            c.fresh(&key(1), 6).and_then(|a| a.json().ok()),
            Some(Bytes::from_static(b"a"))
        );
        assert!(c.fresh(&key(1), 7).is_none());
        assert!(c.revalidate(&key(1), 7, &h(200)).is_none());
        assert!(c.revalidate(&key(1), 7, &[]).is_none());
    }
}
