//! The entitlement ledger: what a run decided, what people did with it, and what was paid —
//! in SQLite (embedded, one file) or PostgreSQL (by URL), through one schema.
//!
//! * An **entitlement** is keyed (firm, clause, period, tranche) and carries the latest run's
//!   figure. Its money moves through **award lines** (`items`): the original award, then
//!   top-ups and recoveries when a corrected rerun changes the figure after money was paid.
//!   Recording the same run again changes nothing; a changed figure supersedes any line not yet
//!   paid and adds one line for the difference to what was paid.
//! * Each line moves through the 免申即享 workflow (docs/LEDGER.md): computed → approved /
//!   rejected → announced (公示) → objected / confirmed → exported (in a payment batch sent to
//!   the treasury) → paid → recovered. Every transition is a conditional update inside a write
//!   transaction and an audit event in a hash chain; the events carry every amount and key they
//!   create or change, a step refuses a line whose row no longer matches them, and `verify`
//!   replays them against every table.
//! * A payment is a row in `payments`, UNIQUE per line: the database refuses a second one. A
//!   rerun never supersedes an exported line: its difference waits for the payment.
//!
//! Money is integer 分 (`i64`) throughout.

pub mod accounts;
pub mod audit;
pub mod batch;
pub mod calendar;
mod check;
pub mod content;
pub mod corrections;
pub mod dashboard;
pub mod db;
pub mod payfile;
pub mod queue;
pub mod record;
mod replay;
pub mod report;
pub mod results;
pub mod schema;
mod settle;
pub mod trace;
pub mod workflow;

pub use accounts::{Account, SessionRow};
pub use audit::{Problem, VerifyReport};
pub use batch::{Batch, BatchCheck, BatchInfo, BatchPaySummary, BatchState, CancelSummary};
pub use db::{Backend, Db};
pub use payfile::{
    read_paid_file, read_payment_file, LineError, PaidFile, PayFileSummary, PaymentLine,
};
pub use queue::{LineFilter, LinePage, LineRow};
pub use record::{ClawbackRow, RecordSummary, ResultRow, RunInput};
pub use report::{AwardOut, Budget, ListRow, ReconRow, StatusLine};
pub use results::read_results;
pub use workflow::{Action, Selection};

/// A ledger error: a message in Chinese and English, and whether it was the input's fault.
#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub zh: String,
    pub en: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: an illegal transition, an unknown line, a malformed file. Nothing changed.
    Input,
    /// The database or the file system failed.
    Db,
    /// A row no longer holds what the audit chain says (edited behind its back): the step was
    /// refused and nothing changed; `verify` lists every difference.
    Integrity,
}

impl Error {
    pub fn input(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Input,
            zh: zh.into(),
            en: en.into(),
        }
    }
    pub fn integrity(zh: impl Into<String>, en: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Integrity,
            zh: zh.into(),
            en: en.into(),
        }
    }
    pub fn db(e: impl std::fmt::Display) -> Error {
        let s = e.to_string();
        Error {
            kind: ErrorKind::Db,
            zh: format!("数据库错误：{s}"),
            en: format!("database error: {s}"),
        }
    }
    pub fn io(s: impl Into<String>) -> Error {
        let s = s.into();
        Error {
            kind: ErrorKind::Db,
            zh: s.clone(),
            en: s,
        }
    }
    pub fn msg(&self, en: bool) -> &str {
        if en {
            &self.en
        } else {
            &self.zh
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}

impl std::error::Error for Error {}

/// Who acts and when (RFC 3339, UTC). Tests pass a fixed `at` so results are reproducible.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: String,
    pub at: String,
}

impl Ctx {
    pub fn now(actor: &str) -> Ctx {
        Ctx {
            actor: actor.to_string(),
            at: now(),
        }
    }
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Normalises a user-given time: `2024-03-01`, `2024-03-01T09:00:00Z`, `2024-03-01 09:00:00`
/// → RFC 3339 UTC with seconds, so times compare as text.
pub fn parse_time(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(format!("{}T00:00:00Z", d.format("%Y-%m-%d")));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        );
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }
    None
}

/// The state of an award line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Computed,
    Approved,
    Rejected,
    Announced,
    Objected,
    Confirmed,
    /// In a payment batch sent to the treasury (待拨付): only a payment or the batch's
    /// cancellation moves it, and a rerun does not supersede it.
    Exported,
    Paid,
    Recovered,
    Superseded,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Computed,
        State::Approved,
        State::Rejected,
        State::Announced,
        State::Objected,
        State::Confirmed,
        State::Exported,
        State::Paid,
        State::Recovered,
        State::Superseded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            State::Computed => "computed",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Announced => "announced",
            State::Objected => "objected",
            State::Confirmed => "confirmed",
            State::Exported => "exported",
            State::Paid => "paid",
            State::Recovered => "recovered",
            State::Superseded => "superseded",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            State::Computed => "已测算",
            State::Approved => "已审核",
            State::Rejected => "已驳回",
            State::Announced => "公示中",
            State::Objected => "有异议",
            State::Confirmed => "企业已确认",
            State::Exported => "已送国库待拨付",
            State::Paid => "已拨付",
            State::Recovered => "已追回",
            State::Superseded => "已被更正取代",
        }
    }
    pub fn name(self, en: bool) -> &'static str {
        if en {
            self.as_str()
        } else {
            self.zh()
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Not yet paid, rejected, superseded or sent to the treasury: a rerun may still replace it.
    pub fn open(self) -> bool {
        matches!(
            self,
            State::Computed
                | State::Approved
                | State::Announced
                | State::Objected
                | State::Confirmed
        )
    }
}

/// Creates an SQLite ledger at `path` with its schema: built under a temporary name in the same
/// directory, closed (which folds the write-ahead log into the file), then renamed. When another
/// process created `path` meanwhile, its ledger is kept and ours is dropped.
async fn create_sqlite_atomically(path: &std::path::Path) -> Result<(), Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.creating-{}", std::process::id()));
    let tmp_s = tmp.to_string_lossy().into_owned();
    let mut db = Db::open(&format!("sqlite://{tmp_s}")).await?;
    let made = schema::migrate(&mut db).await;
    db.close().await;
    let cleanup = || {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{tmp_s}{ext}"));
        }
    };
    if let Err(e) = made {
        cleanup();
        return Err(e);
    }
    // hard_link fails when `path` exists: the first creator wins, nobody's file is replaced.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            cleanup();
            return Err(Error::io(format!("{}: {e}", path.display())));
        }
    }
    cleanup();
    Ok(())
}

/// The ledger: a connection with the schema migrated.
pub struct Ledger {
    pub db: Db,
}

impl Ledger {
    /// Opens an existing ledger (migrating it to this build's schema): an SQLite file path
    /// (or `sqlite://path`) or a `postgres://` URL. A missing file, a database without the
    /// ledger's tables or an unknown URL scheme is an error; nothing is created.
    pub async fn open(target: &str) -> Result<Ledger, Error> {
        let mut db = Db::open_existing(target).await?;
        if !schema::has_ledger(&mut db).await? {
            db.close().await;
            return Err(Error::input(
                format!(
                    "{} 不是 huiqi 台账（其中没有台账的表）",
                    crate::db::redact(target)
                ),
                format!(
                    "{} is not a huiqi ledger (it has none of the ledger's tables)",
                    crate::db::redact(target)
                ),
            ));
        }
        schema::migrate(&mut db).await?;
        Ok(Ledger { db })
    }

    /// Opens an existing, already migrated ledger for reading only: the database itself refuses
    /// any write on this connection (SQLite `query_only`, PostgreSQL read-only transactions).
    /// The server's read connections; the one writer migrates first.
    pub async fn open_reader(target: &str) -> Result<Ledger, Error> {
        let mut db = Db::open_existing(target).await?;
        let sql = match db.backend() {
            Backend::Sqlite => "PRAGMA query_only = ON",
            Backend::Postgres => "SET default_transaction_read_only = on",
        };
        db.batch(sql).await?;
        Ok(Ledger { db })
    }

    /// Opens the ledger, creating it when it does not exist (`ledger record`'s path): the
    /// SQLite file and its directory, or the schema in an empty PostgreSQL database.
    /// A new SQLite ledger is built beside its final name and renamed into place, so a process
    /// killed while creating it leaves no file rather than a file without the ledger's tables.
    pub async fn open_or_create(target: &str) -> Result<Ledger, Error> {
        if let db::Target::Sqlite(path) = db::Target::parse(target)? {
            let p = std::path::Path::new(path);
            if !p.exists() {
                create_sqlite_atomically(p).await?;
            }
        }
        let mut db = Db::open(target).await?;
        schema::migrate(&mut db).await?;
        Ok(Ledger { db })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Runs `body` in a write transaction: commit on Ok, roll back on Err.
    pub(crate) async fn write<T>(
        &mut self,
        body: impl AsyncFnOnce(&mut Db) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.db.begin_write().await?;
        match body(&mut self.db).await {
            Ok(v) => {
                self.db.commit().await?;
                Ok(v)
            }
            Err(e) => {
                self.db.rollback().await;
                Err(e)
            }
        }
    }

    /// Checks the audit chain, then replays its events and compares every table with them.
    pub async fn verify(&mut self) -> Result<VerifyReport, Error> {
        self.db.begin_read().await?;
        let r = check::verify(&mut self.db).await;
        self.db.rollback().await;
        r
    }

    pub async fn close(self) {
        self.db.close().await
    }
}

/// 分 → `1234.56`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// 分 → 万元, exact, without trailing zeros: `5`, `12.5`, `0.000001`.
pub fn wan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    let (i, f) = (a / 1_000_000, a % 1_000_000);
    if f == 0 {
        format!("{sign}{i}")
    } else {
        let fs = format!("{f:06}");
        format!("{sign}{i}.{}", fs.trim_end_matches('0'))
    }
}
