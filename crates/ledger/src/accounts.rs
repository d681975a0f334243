//! The service's accounts and sessions, in the ledger database (migration 3), and the audit
//! events the service writes about them: logins, logouts, lockouts, denials, account changes.
//!
//! Password hashing and token generation belong to the service (`huiqi-server`); this module
//! stores what it is given — a PHC password hash, the SHA-256 of a session token — and keeps the
//! audit chain linear by writing every event inside a write transaction, as the workflow does.

use crate::audit::Chain;
use crate::db::Row;
use crate::{args, Ctx, Error, Ledger};

/// A service account. `role` is one of the service's roles (`firm`, `officer`, `reviewer`,
/// `finance`, `auditor`, `leader`, `admin`); a firm account names its credit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: String,
    pub firm_id: Option<String>,
    pub department: Option<String>,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub active: bool,
    /// Consecutive failed logins since the last good one.
    pub failed: i64,
    /// RFC 3339: no login before this time.
    pub locked_until: Option<String>,
}

/// A live session: the SHA-256 of its token (hex), its CSRF token and its times (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub token_sha256: String,
    pub user: String,
    pub csrf: String,
    pub created_at: String,
    pub last_seen: String,
    pub expires_at: String,
}

const ACCOUNT_COLS: &str =
    "name, role, firm_id, department, password_hash, active, failed, locked_until";

fn account_of(r: &Row) -> Account {
    Account {
        name: r.s(0),
        role: r.s(1),
        firm_id: r.os(2),
        department: r.os(3),
        password_hash: r.s(4),
        active: r.i(5) != 0,
        failed: r.i(6),
        locked_until: r.os(7),
    }
}

fn event_json(v: serde_json::Value) -> String {
    v.to_string()
}

const SESSION_SELECT: &str =
    "SELECT s.token_sha256, s.user_name, s.csrf, s.created_at, s.last_seen, s.expires_at, \
    u.name, u.role, u.firm_id, u.department, u.password_hash, u.active, u.failed, u.locked_until \
    FROM sessions s JOIN users u ON u.name = s.user_name";

fn session_of(r: &Row) -> (SessionRow, Account) {
    let s = SessionRow {
        token_sha256: r.s(0),
        user: r.s(1),
        csrf: r.s(2),
        created_at: r.s(3),
        last_seen: r.s(4),
        expires_at: r.s(5),
    };
    (s, account_of(&Row(r.0[6..].to_vec())))
}

impl Ledger {
    /// Creates the account or replaces its role, firm, department and password (the failure
    /// count and lock are cleared). An audit event `account` names who did it; the hash is not
    /// in the event.
    pub async fn put_account(&mut self, ctx: &Ctx, a: &Account) -> Result<(), Error> {
        let a = a.clone();
        self.write(async |db| {
            let n = db
                .exec(
                    "UPDATE users SET role = $2, firm_id = $3, department = $4, password_hash = $5, active = $6, failed = 0, locked_until = NULL WHERE name = $1",
                    &args![
                        a.name.clone(),
                        a.role.clone(),
                        a.firm_id.clone(),
                        a.department.clone(),
                        a.password_hash.clone(),
                        i64::from(a.active)
                    ],
                )
                .await?;
            if n == 0 {
                db.exec(
                    "INSERT INTO users (name, role, firm_id, department, password_hash, active, failed, locked_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, $7)",
                    &args![
                        a.name.clone(),
                        a.role.clone(),
                        a.firm_id.clone(),
                        a.department.clone(),
                        a.password_hash.clone(),
                        i64::from(a.active),
                        ctx.at.clone()
                    ],
                )
                .await?;
            }
            let mut chain = Chain::open(db).await?;
            let after = serde_json::json!({
                "role": a.role, "firm": a.firm_id, "department": a.department, "active": a.active,
            });
            chain.push(ctx, "account", &format!("user:{}", a.name), "{}", &event_json(after));
            chain.flush(db).await
        })
        .await
    }

    pub async fn account(&mut self, name: &str) -> Result<Option<Account>, Error> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM users WHERE name = $1");
        Ok(self
            .db
            .row(&sql, &args![name])
            .await?
            .map(|r| account_of(&r)))
    }

    pub async fn accounts(&mut self) -> Result<Vec<Account>, Error> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM users ORDER BY name");
        Ok(self
            .db
            .rows(&sql, &[])
            .await?
            .iter()
            .map(account_of)
            .collect())
    }

    /// A bad password for an existing account: counts it and, when `lock_until` is given,
    /// locks the account until then. Both are audit events.
    pub async fn login_failed(
        &mut self,
        ctx: &Ctx,
        name: &str,
        lock_until: Option<&str>,
    ) -> Result<(), Error> {
        let (name, lock) = (name.to_string(), lock_until.map(str::to_string));
        self.write(async |db| {
            db.exec(
                "UPDATE users SET failed = failed + 1, locked_until = COALESCE($2, locked_until) WHERE name = $1",
                &args![name.clone(), lock.clone()],
            )
            .await?;
            let mut chain = Chain::open(db).await?;
            let entity = format!("user:{name}");
            chain.push(ctx, "login_failed", &entity, "{}", "{}");
            if let Some(l) = &lock {
                let after = serde_json::json!({ "locked_until": l });
                chain.push(ctx, "lockout", &entity, "{}", &event_json(after));
            }
            chain.flush(db).await
        })
        .await
    }

    /// A good login: clears the failures, ends the account's other sessions (one live session
    /// per account) and stores the new one. An audit event `login`.
    pub async fn login_ok(&mut self, ctx: &Ctx, s: &SessionRow) -> Result<(), Error> {
        let s = s.clone();
        self.write(async |db| {
            db.exec(
                "UPDATE users SET failed = 0, locked_until = NULL WHERE name = $1",
                &args![s.user.clone()],
            )
            .await?;
            let ended = db
                .exec(
                    "DELETE FROM sessions WHERE user_name = $1",
                    &args![s.user.clone()],
                )
                .await?;
            db.exec(
                "INSERT INTO sessions (token_sha256, user_name, csrf, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &args![
                    s.token_sha256.clone(),
                    s.user.clone(),
                    s.csrf.clone(),
                    s.created_at.clone(),
                    s.last_seen.clone(),
                    s.expires_at.clone()
                ],
            )
            .await?;
            let mut chain = Chain::open(db).await?;
            let after = serde_json::json!({ "ended_sessions": ended, "expires_at": s.expires_at });
            chain.push(ctx, "login", &format!("user:{}", s.user), "{}", &event_json(after));
            chain.flush(db).await
        })
        .await
    }

    /// Every session and its account (a server loads them when it starts).
    pub async fn sessions(&mut self) -> Result<Vec<(SessionRow, Account)>, Error> {
        let rows = self.db.rows(SESSION_SELECT, &[]).await?;
        Ok(rows.iter().map(session_of).collect())
    }

    /// Ends a session (logout, or expiry found on use): an audit event `logout` (or `expire`).
    pub async fn end_session(
        &mut self,
        ctx: &Ctx,
        token_sha256: &str,
        why: &str,
    ) -> Result<bool, Error> {
        let (token, why) = (token_sha256.to_string(), why.to_string());
        self.write(async |db| {
            let user = db
                .row(
                    "SELECT user_name FROM sessions WHERE token_sha256 = $1",
                    &args![token.clone()],
                )
                .await?
                .map(|r| r.s(0));
            let Some(user) = user else { return Ok(false) };
            db.exec(
                "DELETE FROM sessions WHERE token_sha256 = $1",
                &args![token.clone()],
            )
            .await?;
            let mut chain = Chain::open(db).await?;
            chain.push(ctx, &why, &format!("user:{user}"), "{}", "{}");
            chain.flush(db).await?;
            Ok(true)
        })
        .await
    }

    /// Appends one audit event that changes no table: a denial, a download, a read of a firm's
    /// data. `entity` must not be one of the ledger's own (`item:`, `run:`, …), which `verify`
    /// replays; the service uses `user:<name>`.
    pub async fn note(
        &mut self,
        ctx: &Ctx,
        action: &str,
        entity: &str,
        after: &serde_json::Value,
    ) -> Result<(), Error> {
        for own in [
            "item:",
            crate::audit::STEP_ENTITY,
            "run:",
            "entitlement:",
            "notice:",
            "batch:",
            "correction:",
        ] {
            if entity.starts_with(own) {
                return Err(Error::input(
                    format!("审计事项 {entity} 属于台账本身，不能作为附注写入"),
                    format!("{entity} is one of the ledger's own entities; not a note"),
                ));
            }
        }
        let (action, entity, after) = (action.to_string(), entity.to_string(), after.to_string());
        self.write(async |db| {
            let mut chain = Chain::open(db).await?;
            chain.push(ctx, &action, &entity, "{}", &after);
            chain.flush(db).await
        })
        .await
    }

    /// Who moved each line with `action` last (`approve`, say): `(line, actor)`.
    pub async fn actors_of(
        &mut self,
        lines: &[i64],
        action: &str,
    ) -> Result<Vec<(i64, String)>, Error> {
        let mut last = std::collections::HashMap::new();
        for chunk in lines.chunks(500) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let sql = format!(
                "SELECT l.item_id, a.actor FROM {} JOIN audit_events a ON a.seq = l.seq \
                 WHERE a.action = $1 AND l.item_id IN ({}) ORDER BY a.seq",
                self.db.line_events_as_l(),
                list.join(", ")
            );
            // In seq order: the last event of the action wins.
            for r in self.db.rows(&sql, &args![action]).await? {
                last.insert(r.i(0), r.s(1));
            }
        }
        Ok(lines
            .iter()
            .filter_map(|l| last.remove(l).map(|a| (*l, a)))
            .collect())
    }

    /// A page of the audit trail, newest first, optionally about one entity (`user:officer`,
    /// `item:12`): `(total, events)`.
    ///
    /// `after` holds at most `head` characters of each event's `after_json`, and `after_chars`
    /// its whole length: a run's record event lists every line it records (megabytes at zone
    /// scale), which a page or a trace shows only the beginning of.
    pub async fn events_page(
        &mut self,
        entity: Option<&str>,
        offset: i64,
        limit: i64,
        head: i64,
    ) -> Result<(i64, Vec<EventHead>), Error> {
        // A line's events are found through the line → event index (a bulk step's event is
        // about many lines, its entity is not `item:N`).
        let line = entity
            .and_then(|e| e.strip_prefix("item:"))
            .and_then(|x| x.parse::<i64>().ok());
        let (cond, a) = match (entity, line) {
            (_, Some(id)) => (
                "WHERE seq IN (SELECT seq FROM line_events WHERE item_id = $1)",
                args![id].to_vec(),
            ),
            (Some(e), None) => ("WHERE entity = $1", args![e].to_vec()),
            (None, None) => ("", vec![]),
        };
        let total = self
            .db
            .int(&format!("SELECT COUNT(*) FROM audit_events {cond}"), &a)
            .await?;
        let sql = format!(
            "SELECT seq, prev_hash, hash, actor, at, action, entity, before_json, substr(after_json, 1, {}), length(after_json) \
             FROM audit_events {cond} ORDER BY seq DESC LIMIT {} OFFSET {}",
            head.max(0),
            limit.clamp(0, 1000),
            offset.max(0)
        );
        let rows = self.db.rows(&sql, &a).await?;
        let events = rows
            .into_iter()
            .map(|r| {
                let after_chars = r.i(9);
                EventHead {
                    event: crate::audit::event_of(r),
                    after_chars,
                }
            })
            .collect();
        Ok((total, events))
    }
}

/// An audit event as a page lists it: `event.after` may be only the beginning of the text,
/// `after_chars` long in all.
#[derive(Clone, Debug)]
pub struct EventHead {
    pub event: crate::audit::Event,
    pub after_chars: i64,
}

impl EventHead {
    /// Whether `event.after` is the whole text.
    pub fn whole(&self) -> bool {
        self.event.after.chars().count() as i64 >= self.after_chars
    }
}
