//! Accounts, sessions and CSRF.
//!
//! * Passwords are argon2id PHC strings in the ledger's `users` table.
//! * A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie (`Secure` and
//!   `__Host-` when configured); the server stores only its SHA-256, with the CSRF token and
//!   the times, in the `sessions` table, and keeps live sessions in memory so a request does not
//!   touch the database. A session ends after `idle` without requests or `absolute` after login;
//!   a new login ends the account's other sessions.
//! * CSRF: every state-changing request (POST, PUT, PATCH, DELETE) that carries the session
//!   cookie must carry the session's token in the `X-CSRF-Token` header (the token is in the
//!   answers of `POST /api/v1/session` and `GET /api/v1/session`) — or, for a page's form
//!   (`application/x-www-form-urlencoded` or `multipart/form-data`), in its `_csrf` field;
//!   otherwise 403 `csrf`. Logging in (`POST /api/v1/session`, `POST /login`) needs no token.
//! * After `max_failures` bad passwords in a row the account locks for `lockout`; every login,
//!   failure, lockout and logout is an audit event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use huiqi_ledger::{Account, Ctx, SessionRow};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::authz::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, resolved once per request by [`resolve`].
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The SHA-256 of the session token, when logged in.
    pub session: Option<String>,
    pub csrf: Option<String>,
}

impl Caller {
    pub fn ctx(&self) -> Ctx {
        Ctx::now(&self.principal.user)
    }
}

/// A live session in memory.
#[derive(Clone, Debug)]
struct Live {
    principal: Principal,
    csrf: String,
    last_seen: Instant,
    ends: Instant,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Live>>,
}

impl Sessions {
    fn get(&self, sha: &str, idle: Duration) -> Option<Result<Live, ()>> {
        let mut m = self.live.lock().ok()?;
        let now = Instant::now();
        let s = m.get_mut(sha)?;
        if now > s.ends || now.duration_since(s.last_seen) > idle {
            m.remove(sha);
            return Some(Err(()));
        }
        s.last_seen = now;
        Some(Ok(s.clone()))
    }
    fn put(&self, sha: String, l: Live) {
        if let Ok(mut m) = self.live.lock() {
            m.retain(|_, v| v.principal.user != l.principal.user);
            m.insert(sha, l);
        }
    }
    fn remove(&self, sha: &str) {
        if let Ok(mut m) = self.live.lock() {
            m.remove(sha);
        }
    }
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    sha256_hex_bytes(s.as_bytes())
}

pub fn sha256_hex_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn principal_of(a: &Account) -> Principal {
    Principal {
        user: a.name.clone(),
        role: Role::parse(&a.role).unwrap_or(Role::Public),
        firm: a.firm_id.clone(),
        department: a.department.clone(),
        active: a.active,
    }
}

pub fn cookie_name(s: &Shared) -> &'static str {
    if s.cfg.secure_cookie {
        "__Host-huiqi_session"
    } else {
        "huiqi_session"
    }
}

fn cookie_token(s: &Shared, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(s);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn rfc3339_in(d: Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
    (chrono::Utc::now() + d)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The middleware: finds the caller's session (memory first, then the database), ends an
/// expired one, and refuses a state-changing request with a session cookie but without its
/// CSRF token.
pub async fn resolve(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let token = cookie_token(&s, req.headers());
    let mut caller = Caller {
        principal: Principal::anonymous(),
        session: None,
        csrf: None,
    };
    if let Some(t) = token {
        let sha = sha256_hex(&t);
        if let Some(live) = lookup(&s, &sha).await {
            caller = Caller {
                principal: live.principal,
                session: Some(sha),
                csrf: Some(live.csrf),
            };
        }
        let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let login = req.method() == Method::POST
            && matches!(req.uri().path(), "/api/v1/session" | "/login");
        if unsafe_method && !login {
            let mut sent = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if sent.is_none() {
                // A page's form: the token is its `_csrf` field.
                match form_token(req).await {
                    Ok((r, t)) => {
                        req = r;
                        sent = t;
                    }
                    Err(e) => return e.into_response(),
                }
            }
            let ok = matches!((&sent, &caller.csrf), (Some(a), Some(b)) if constant_eq(a, b));
            if !ok {
                return ApiError::csrf().into_response();
            }
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The field that carries the CSRF token in a page's form.
pub const CSRF_FIELD: &str = "_csrf";

/// The `_csrf` field of a form body (`application/x-www-form-urlencoded`, or
/// `multipart/form-data` for uploads), and the request rebuilt around the body it read. Any
/// other body has no form token.
async fn form_token(req: Request) -> ApiResult<(Request, Option<String>)> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let urlencoded = ct.starts_with("application/x-www-form-urlencoded");
    let multipart = ct.starts_with("multipart/form-data");
    if !urlencoded && !multipart {
        return Ok((req, None));
    }
    let limit = if multipart && req.uri().path() == "/data/upload" {
        // The data upload page takes what the API's ingest takes.
        crate::routes::runs::INGEST_LIMIT
    } else if multipart {
        crate::routes::PAID_FILE_LIMIT
    } else {
        crate::routes::BODY_LIMIT
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "请求体过大",
            "the request body is too large",
        )
    })?;
    let token = if urlencoded {
        form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    } else {
        let copy = Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
        multipart_token(copy).await
    };
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        token,
    ))
}

async fn multipart_token(req: Request) -> Option<String> {
    use axum::extract::FromRequest;
    let mut m = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(f)) = m.next_field().await {
        if f.name() == Some(CSRF_FIELD) {
            return f.text().await.ok();
        }
    }
    None
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The live session of a token hash. Every session was loaded when the server started
/// ([`load_sessions`]) and only this process makes them: a token not in memory is unknown,
/// without asking the database (a flood of made-up cookies would otherwise cost a read each).
async fn lookup(s: &Shared, sha: &str) -> Option<Live> {
    match s.sessions.get(sha, s.cfg.idle)? {
        Ok(l) => Some(l),
        Err(()) => {
            let sha = sha.to_string();
            let _ = crate::ledger!(s, |l| l
                .end_session(&Ctx::now("system"), &sha, "expire")
                .await)
            .await;
            None
        }
    }
}

/// A stored session as it lives in memory, or None when it has ended (its absolute end passed,
/// or idle since its last recorded request for longer than the idle timeout).
fn live_of(s: &Shared, row: &SessionRow, acct: &Account) -> Option<Live> {
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let now = chrono::Utc::now();
    let idle = chrono::Duration::from_std(s.cfg.idle).ok()?;
    let last_seen = parse(&row.last_seen)?;
    let ends = parse(&row.expires_at)?;
    if ends <= now || last_seen + idle <= now {
        return None;
    }
    let ago = (now - last_seen).to_std().unwrap_or_default();
    let left = (ends - now).to_std().unwrap_or_default();
    Some(Live {
        principal: principal_of(acct),
        csrf: row.csrf.clone(),
        last_seen: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
        ends: Instant::now() + left,
    })
}

/// Loads every live session of the database into memory; from then on a token not in memory
/// is unknown without a read. Called once when the server starts (one process serves a
/// ledger's sessions; a second server on the same database would not see the first's logins
/// made after it started — their users log in again).
pub async fn load_sessions(s: &Shared) -> ApiResult<usize> {
    let all = crate::ledger_read!(s, |l| l.sessions().await).await??;
    let mut n = 0;
    for (row, acct) in &all {
        if let Some(live) = live_of(s, row, acct) {
            s.sessions.put(row.token_sha256.clone(), live);
            n += 1;
        }
    }
    Ok(n)
}

/// A new session: its token (for the cookie), CSRF token and principal.
pub struct LoggedIn {
    pub token: String,
    pub csrf: String,
    pub principal: Principal,
}

fn bad_login() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "用户名或密码错误",
        "wrong user name or password",
    )
}

/// Checks a password; locks the account after too many failures.
pub async fn login(s: &Shared, user: &str, password: &str) -> ApiResult<LoggedIn> {
    let u = user.to_string();
    let acct = crate::ledger_read!(s, |l| l.account(&u).await).await??;
    let Some(acct) = acct else {
        // The same work as for a real account, so timing does not tell which names exist.
        let _ = verify_password(password, DUMMY_HASH);
        return Err(bad_login());
    };
    let now = huiqi_ledger::now();
    if acct
        .locked_until
        .as_deref()
        .is_some_and(|u| u > now.as_str())
    {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!(
                "密码错误次数过多，账号已锁定至 {}",
                acct.locked_until.clone().unwrap_or_default()
            ),
            format!(
                "too many bad passwords; the account is locked until {}",
                acct.locked_until.clone().unwrap_or_default()
            ),
        ));
    }
    if !verify_password(password, &acct.password_hash) || !acct.active {
        let lock = (acct.failed + 1 >= s.cfg.max_failures).then(|| rfc3339_in(s.cfg.lockout));
        let u = user.to_string();
        crate::ledger!(s, |l| l
            .login_failed(&Ctx::now(&u), &u, lock.as_deref())
            .await)
        .await??;
        return Err(bad_login());
    }
    let token = random_hex(32);
    let csrf = random_hex(16);
    let sha = sha256_hex(&token);
    let row = SessionRow {
        token_sha256: sha.clone(),
        user: acct.name.clone(),
        csrf: csrf.clone(),
        created_at: now.clone(),
        last_seen: now,
        expires_at: rfc3339_in(s.cfg.absolute),
    };
    let name = acct.name.clone();
    crate::ledger!(s, |l| l.login_ok(&Ctx::now(&name), &row).await).await??;
    let principal = principal_of(&acct);
    s.sessions.put(
        sha,
        Live {
            principal: principal.clone(),
            csrf: csrf.clone(),
            last_seen: Instant::now(),
            ends: Instant::now() + s.cfg.absolute,
        },
    );
    Ok(LoggedIn {
        token,
        csrf,
        principal,
    })
}

pub async fn logout(s: &Shared, c: &Caller) -> ApiResult<()> {
    if let Some(sha) = &c.session {
        s.sessions.remove(sha);
        let (ctx, sha) = (c.ctx(), sha.clone());
        crate::ledger!(s, |l| l.end_session(&ctx, &sha, "logout").await).await??;
    }
    Ok(())
}

/// The Set-Cookie value for a new session, or one that clears it.
pub fn set_cookie(s: &Shared, token: Option<&str>) -> String {
    let secure = if s.cfg.secure_cookie { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            cookie_name(s),
            s.cfg.absolute.as_secs()
        ),
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            cookie_name(s)
        ),
    }
}

/// Creates or replaces an account (the password hashed here).
pub async fn put_account(
    s: &Shared,
    ctx: &Ctx,
    name: &str,
    role: Role,
    firm: Option<String>,
    department: Option<String>,
    password: &str,
) -> ApiResult<()> {
    let hash = hash_password(password)?;
    let a = Account {
        name: name.to_string(),
        role: role.as_str().to_string(),
        firm_id: firm,
        department,
        password_hash: hash,
        active: true,
        failed: 0,
        locked_until: None,
    };
    let ctx = ctx.clone();
    crate::ledger!(s, |l| l.put_account(&ctx, &a).await).await??;
    Ok(())
}

/// An argon2id hash of a random password: verified against when the user does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8o6Pk4m0mQ0G4F2o8WJ2Vb3N8cq7wYb5y1Yq2n7b0sU";
