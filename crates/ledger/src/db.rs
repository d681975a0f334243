//! One connection to either backend, with the few operations the ledger needs: statements with
//! typed arguments, rows as integers and text, write transactions that serialise every writer
//! (SQLite `BEGIN IMMEDIATE`; PostgreSQL `BEGIN` + the audit chain head locked `FOR UPDATE`), and
//! bulk inserts (multi-row `INSERT` on SQLite, `COPY` on PostgreSQL).
//!
//! Every SQL text is written once, with `$1`-style parameters that both backends accept.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row as _};

use crate::Error;

/// A statement argument. Typed even when null: PostgreSQL checks parameter types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    I(Option<i64>),
    S(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::I(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::S(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::S(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::S(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::S(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::I(v)
    }
}

/// `args![a, b, …]` → `[Arg; N]` (`.to_vec()` for a row of a bulk insert).
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => { [$($crate::db::Arg::from($x)),*] };
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    I(i64),
    S(String),
    Null,
}

/// A value of [`Db::rows_packed`]'s JSON: an integer, a text or null (a real, which no ledger
/// column holds, is kept as its text, so it compares unequal to any integer the chain says).
impl<'de> serde::Deserialize<'de> for Val {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, a text or null")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Val, E> {
                Ok(Val::I(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Val, E> {
                i64::try_from(v)
                    .map(Val::I)
                    .map_err(|_| E::custom("an integer past i64"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Val, E> {
                Ok(Val::S(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Val, E> {
                Ok(Val::S(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Val, E> {
                Ok(Val::S(v))
            }
            fn visit_unit<E>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
            fn visit_none<E>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
        }
        d.deserialize_any(V)
    }
}

/// A result row: integers and text.
#[derive(Clone, Debug)]
pub struct Row(pub Vec<Val>);

impl Row {
    pub fn i(&self, k: usize) -> i64 {
        match &self.0[k] {
            Val::I(v) => *v,
            Val::S(s) => s.parse().unwrap_or(0),
            Val::Null => 0,
        }
    }
    pub fn oi(&self, k: usize) -> Option<i64> {
        match &self.0[k] {
            Val::Null => None,
            _ => Some(self.i(k)),
        }
    }
    pub fn s(&self, k: usize) -> String {
        self.os(k).unwrap_or_default()
    }
    pub fn os(&self, k: usize) -> Option<String> {
        match &self.0[k] {
            Val::S(s) => Some(s.clone()),
            Val::I(v) => Some(v.to_string()),
            Val::Null => None,
        }
    }
}

enum Inner {
    Lite(SqliteConnection),
    Pg(PgConnection),
}

pub struct Db {
    inner: Inner,
    in_tx: bool,
    /// `HUIQI_SQL_PROFILE=1`: every statement's time, printed when the connection goes.
    profile: Option<Profile>,
}

/// Time per distinct statement (`HUIQI_SQL_PROFILE=1`), printed to stderr, slowest first, when
/// the connection is closed or dropped. Statements that differ only in their parameter or id
/// lists (`IN (…)`, multi-row `VALUES`) count as one. `HUIQI_SQL_PROFILE=plan` also prints the
/// plan each statement had the first time it ran (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL
/// `EXPLAIN`, with the same arguments).
#[derive(Default)]
struct Profile {
    /// Normalised SQL → (calls, rows returned, total time).
    by_sql: std::collections::HashMap<String, (u64, u64, Duration)>,
    /// Normalised SQL → its plan, when asked for.
    plans: Option<std::collections::HashMap<String, String>>,
}

impl Profile {
    fn from_env() -> Option<Profile> {
        let v = std::env::var("HUIQI_SQL_PROFILE").ok()?;
        if v.is_empty() || v == "0" {
            return None;
        }
        Some(Profile {
            by_sql: Default::default(),
            plans: (v == "plan").then(Default::default),
        })
    }

    /// Whether `sql`'s plan is wanted and not taken yet.
    fn wants_plan(&self, sql: &str) -> bool {
        let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
        self.plans.as_ref().is_some_and(|p| {
            matches!(head.as_str(), "SELECT" | "UPDATE" | "DELETE" | "WITH R")
                && !p.contains_key(&normalise(sql))
        })
    }

    fn add(&mut self, sql: &str, rows: u64, took: Duration) {
        let e = self.by_sql.entry(normalise(sql)).or_default();
        e.0 += 1;
        e.1 += rows;
        e.2 += took;
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let mut all: Vec<_> = self.by_sql.iter().collect();
        all.sort_by_key(|b| std::cmp::Reverse(b.1 .2));
        let total: Duration = all.iter().map(|(_, v)| v.2).sum();
        eprintln!(
            "SQL profile: {} statements, {} distinct, {:.3} s",
            all.iter().map(|(_, v)| v.0).sum::<u64>(),
            all.len(),
            total.as_secs_f64()
        );
        eprintln!("{:>10} {:>8} {:>10}  statement", "total s", "calls", "rows");
        for (sql, (n, rows, t)) in all {
            let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = one_line.chars().take(300).collect();
            eprintln!("{:>10.3} {n:>8} {rows:>10}  {short}", t.as_secs_f64());
            if let Some(plan) = self.plans.as_ref().and_then(|p| p.get(sql)) {
                eprintln!("{:>31}plan: {plan}", "");
            }
        }
    }
}

/// The SQL with parameters as `?`, integer literals as `N`, and lists of them (and repeated
/// `(…)` rows) collapsed, so chunked statements share one entry.
fn normalise(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().min(512));
    let mut chars = sql.chars().peekable();
    let mut prev_word = false;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
            prev_word = false;
        } else if c.is_ascii_digit() && !prev_word {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('N');
            prev_word = false;
        } else {
            prev_word = c.is_alphanumeric() || c == '_';
            out.push(c);
        }
    }
    // Lists: "?, ?, ?" / "N, N" / "'item:N', 'item:N'" → one; multi-row VALUES "(?),(?)" → "(?)".
    let mut s = out;
    for (from, to) in [
        ("?, ?", "?"),
        ("?,?", "?"),
        ("N, N", "N"),
        ("(?),(?)", "(?)"),
        ("'item:N', 'item:N'", "'item:N'"),
        ("'entitlement:N', 'entitlement:N'", "'entitlement:N'"),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.as_deref()),
            };
        }
        q
    }};
}

/// How to decode a value, from its type's name (SQLite: the value's storage class;
/// PostgreSQL: the column's type); `None`: try integer, then text.
fn kind_of(type_name: &str) -> Option<bool> {
    match type_name {
        "INTEGER" | "INT8" | "INT4" | "INT2" => Some(true),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Some(false),
        _ => None,
    }
}

macro_rules! to_row {
    ($r:expr, $db:ty) => {{
        use sqlx::{TypeInfo as _, ValueRef as _};
        let r = $r;
        let mut vals = Vec::with_capacity(r.len());
        for k in 0..r.len() {
            // Decoding by the value's type saves a failed decode (an error built and dropped)
            // per text value: most of `verify`'s time on large ledgers.
            let raw = r.try_get_raw(k).ok();
            let known = match &raw {
                Some(raw) if raw.is_null() => Some(None),
                Some(raw) => kind_of(raw.type_info().name()).map(Some),
                None => None,
            };
            let v = match (known, raw) {
                (Some(None), _) => Val::Null,
                (Some(Some(true)), Some(raw)) => <i64 as sqlx::Decode<$db>>::decode(raw)
                    .map(Val::I)
                    .unwrap_or(Val::Null),
                (Some(Some(false)), Some(raw)) => <String as sqlx::Decode<$db>>::decode(raw)
                    .map(Val::S)
                    .unwrap_or(Val::Null),
                _ => {
                    if let Ok(v) = r.try_get::<Option<i64>, _>(k) {
                        v.map(Val::I).unwrap_or(Val::Null)
                    } else if let Ok(v) = r.try_get::<Option<String>, _>(k) {
                        v.map(Val::S).unwrap_or(Val::Null)
                    } else {
                        Val::Null
                    }
                }
            };
            vals.push(v);
        }
        Row(vals)
    }};
}

fn dberr(e: sqlx::Error) -> Error {
    Error::db(e)
}

async fn open_sqlite(path: &str, create: bool) -> Result<SqliteConnection, Error> {
    let p = std::path::Path::new(path);
    if create {
        if let Some(dir) = p.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("{}: {e}", dir.display())))?;
            }
        }
    } else if !p.is_file() {
        return Err(Error::input(
            format!("台账 {path} 不存在（ledger record 会创建台账）"),
            format!("the ledger {path} does not exist (ledger record creates one)"),
        ));
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(60))
        // A bulk step reads and rewrites hundreds of MB of a zone's ledger: with SQLite's
        // default 2 MB page cache every page came from the OS again (pread) and dirty pages
        // spilled to the WAL mid-transaction. At most 128 MiB per connection, taken as used.
        .pragma("cache_size", "-131072")
        .foreign_keys(true);
    SqliteConnection::connect_with(&opts).await.map_err(dberr)
}

/// Where a ledger lives, from `--db`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A file path (`sqlite://path`, `sqlite:path` or a plain path).
    Sqlite(&'a str),
    /// A `postgres://` / `postgresql://` URL.
    Postgres(&'a str),
}

impl<'a> Target<'a> {
    /// Parses `--db`. A URL scheme other than `sqlite` and `postgres(ql)` is refused rather
    /// than taken for a file name (`mysql://x` would otherwise become an SQLite file `mysql:`).
    /// A scheme is letters, digits, `+`, `-`, `.` (two or more, starting with a letter) before
    /// the first `:` with no `/` before it; write `./a:b` for a file named like that.
    pub fn parse(target: &'a str) -> Result<Target<'a>, Error> {
        let Some((scheme, rest)) = target.split_once(':') else {
            return Ok(Target::Sqlite(target));
        };
        let looks_like_scheme = scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !looks_like_scheme {
            return Ok(Target::Sqlite(target));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" if rest.starts_with("//") => Ok(Target::Postgres(target)),
            "sqlite" => Ok(Target::Sqlite(rest.strip_prefix("//").unwrap_or(rest))),
            _ => Err(Error::input(
                format!(
                    "不支持的数据库地址 {}（协议 {scheme}）：请给出 SQLite 文件路径（或 sqlite://路径）或 postgres:// 地址",
                    redact(target)
                ),
                format!(
                    "unsupported database URL scheme `{scheme}` in {}: give an SQLite file path (or sqlite://path) or a postgres:// URL",
                    redact(target)
                ),
            )),
        }
    }
}

/// The target with any password in a URL hidden, for messages.
pub fn redact(target: &str) -> String {
    let Some((scheme, rest)) = target.split_once("://") else {
        return target.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(x) => x,
        None => return target.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => target.to_string(),
    }
}

impl Db {
    /// `postgres://…` / `postgresql://…`, `sqlite://path`, or a plain file path (SQLite, created
    /// when missing, with its parent directory). Other URL schemes are refused.
    pub async fn open(target: &str) -> Result<Db, Error> {
        Db::connect(Target::parse(target)?, true).await
    }

    /// Like [`Db::open`], but an SQLite file that does not exist is an error, not created.
    pub async fn open_existing(target: &str) -> Result<Db, Error> {
        Db::connect(Target::parse(target)?, false).await
    }

    async fn connect(target: Target<'_>, create: bool) -> Result<Db, Error> {
        let inner = match target {
            Target::Postgres(url) => {
                let opts = PgConnectOptions::from_str(url).map_err(dberr)?;
                let mut c = PgConnection::connect_with(&opts).await.map_err(dberr)?;
                sqlx::raw_sql("SET client_min_messages = warning")
                    .execute(&mut c)
                    .await
                    .map_err(dberr)?;
                Inner::Pg(c)
            }
            Target::Sqlite(path) => Inner::Lite(open_sqlite(path, create).await?),
        };
        Ok(Db {
            inner,
            in_tx: false,
            profile: Profile::from_env(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Lite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// The audit events table for a lookup by entity. SQLite plans from the statistics of the
    /// last ANALYZE — taken when a run is recorded, while the table holds a handful of events —
    /// and with them chose to scan every event once per chunk of entities (a bulk step over half
    /// a million lines took minutes): the index is named.
    pub fn events_by_entity(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "audit_events INDEXED BY audit_events_entity",
            Backend::Postgres => "audit_events",
        }
    }

    /// The line → event index under the alias `l`, for a lookup by line (named for SQLite, as
    /// above).
    pub fn line_events_as_l(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "line_events AS l INDEXED BY line_events_by_line",
            Backend::Postgres => "line_events AS l",
        }
    }

    /// Runs SQL without parameters (several statements allowed).
    pub async fn batch(&mut self, sql: &str) -> Result<(), Error> {
        let t0 = self.profile.is_some().then(std::time::Instant::now);
        let r = match &mut self.inner {
            Inner::Lite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Inner::Pg(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
        .map_err(dberr);
        if let (Some(p), Some(t0)) = (&mut self.profile, t0) {
            p.add(sql, 0, t0.elapsed());
        }
        r
    }

    /// Executes one statement; returns the rows affected.
    pub async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, Error> {
        self.take_plan(sql, args).await;
        let t0 = self.profile.is_some().then(std::time::Instant::now);
        let r = match &mut self.inner {
            Inner::Lite(c) => bind_all!(sqlx::query(sql), args)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            Inner::Pg(c) => bind_all!(sqlx::query(sql), args)
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(dberr);
        if let (Some(p), Some(t0)) = (&mut self.profile, t0) {
            p.add(sql, 0, t0.elapsed());
        }
        r
    }

    pub async fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, Error> {
        self.take_plan(sql, args).await;
        let t0 = self.profile.is_some().then(std::time::Instant::now);
        let r = self.rows_inner(sql, args).await;
        if let (Some(p), Some(t0)) = (&mut self.profile, t0) {
            let n = r.as_ref().map_or(0, |v| v.len() as u64);
            p.add(sql, n, t0.elapsed());
        }
        r
    }

    /// `HUIQI_SQL_PROFILE=plan`: the plan of a statement not seen yet, with these arguments.
    async fn take_plan(&mut self, sql: &str, args: &[Arg]) {
        if !self.profile.as_ref().is_some_and(|p| p.wants_plan(sql)) {
            return;
        }
        let (explain, col) = match self.backend() {
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), 3),
            Backend::Postgres => (format!("EXPLAIN {sql}"), 0),
        };
        let plan = match self.rows_inner(&explain, args).await {
            Ok(rows) => rows
                .iter()
                .map(|r| r.s(col).trim().to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            Err(e) => format!("(no plan: {e})"),
        };
        if let Some(p) = self.profile.as_mut().and_then(|p| p.plans.as_mut()) {
            p.insert(normalise(sql), plan);
        }
    }

    async fn rows_inner(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, Error> {
        match &mut self.inner {
            Inner::Lite(c) => {
                let rs = bind_all!(sqlx::query(sql), args)
                    .fetch_all(c)
                    .await
                    .map_err(dberr)?;
                Ok(rs.iter().map(|r| to_row!(r, sqlx::Sqlite)).collect())
            }
            Inner::Pg(c) => {
                let rs = bind_all!(sqlx::query(sql), args)
                    .fetch_all(c)
                    .await
                    .map_err(dberr)?;
                Ok(rs.iter().map(|r| to_row!(r, sqlx::Postgres)).collect())
            }
        }
    }

    /// The rows of `SELECT {cols} {rest}` for reads of hundreds of thousands of rows, in no
    /// particular order (`rest` may order and limit which rows). SQLite: sqlx hands every row
    /// from its worker thread to the caller one at a time, which cost 13.6 s for the 571,850 lines
    /// a bulk approval selects (the `sqlite3` shell runs the same query in 1.6 s); so SQLite packs
    /// the rows into one JSON array (`json_group_array`), decoded here. PostgreSQL: [`Db::rows`].
    pub async fn rows_packed(
        &mut self,
        cols: &[&str],
        rest: &str,
        args: &[Arg],
    ) -> Result<Vec<Row>, Error> {
        if self.backend() == Backend::Postgres {
            return self
                .rows(&format!("SELECT {} {rest}", cols.join(", ")), args)
                .await;
        }
        let inner: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(k, c)| format!("{c} AS c{k}"))
            .collect();
        let outer: Vec<String> = (0..cols.len()).map(|k| format!("c{k}")).collect();
        let sql = format!(
            "SELECT json_group_array(json_array({})) FROM (SELECT {} {rest})",
            outer.join(", "),
            inner.join(", ")
        );
        let Some(packed) = self.row(&sql, args).await?.and_then(|r| r.os(0)) else {
            return Ok(vec![]);
        };
        let rows: Vec<Vec<Val>> = serde_json::from_str(&packed)
            .map_err(|e| Error::db(format!("SQLite's packed rows do not read back: {e}")))?;
        Ok(rows.into_iter().map(Row).collect())
    }

    pub async fn row(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>, Error> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// A single integer (0 when there is no row or it is null).
    pub async fn int(&mut self, sql: &str, args: &[Arg]) -> Result<i64, Error> {
        Ok(self.row(sql, args).await?.map(|r| r.i(0)).unwrap_or(0))
    }

    /// Starts a write transaction that excludes every other writer until commit: SQLite takes
    /// the write lock at `BEGIN IMMEDIATE`; PostgreSQL locks the audit chain head row.
    pub async fn begin_write(&mut self) -> Result<(), Error> {
        match self.backend() {
            Backend::Sqlite => self.batch("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                self.batch("BEGIN").await?;
                self.in_tx = true;
                self.exec("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])
                    .await?;
            }
        }
        self.in_tx = true;
        Ok(())
    }

    /// A read-only snapshot-consistent transaction (for exports and verify).
    pub async fn begin_read(&mut self) -> Result<(), Error> {
        match self.backend() {
            Backend::Sqlite => self.batch("BEGIN").await?,
            Backend::Postgres => {
                self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        }
        self.in_tx = true;
        Ok(())
    }

    pub async fn commit(&mut self) -> Result<(), Error> {
        self.in_tx = false;
        self.batch("COMMIT").await
    }

    pub async fn rollback(&mut self) {
        if self.in_tx {
            self.in_tx = false;
            let _ = self.batch("ROLLBACK").await;
        }
    }

    /// Inserts many rows into `table`, all-or-nothing within the current transaction.
    /// Every row has `cols.len()` arguments. The rows are taken from the iterator chunk by
    /// chunk, so a caller can produce them as they go instead of holding them all.
    pub async fn bulk_insert<I>(&mut self, table: &str, cols: &[&str], rows: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: AsRef<[Arg]>,
    {
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return Ok(());
        }
        if self.backend() == Backend::Postgres {
            let t0 = self.profile.is_some().then(std::time::Instant::now);
            let r = self.copy_in(table, cols, rows).await;
            if let (Some(p), Some(t0)) = (&mut self.profile, t0) {
                p.add(
                    &format!("COPY {table} ({}) FROM STDIN", cols.join(", ")),
                    0,
                    t0.elapsed(),
                );
            }
            return r;
        }
        // SQLite allows 32766 parameters per statement; a fixed chunk keeps one cached
        // statement. The parameters are anonymous (`?`): sqlx asks SQLite the name of every
        // parameter it binds, and SQLite finds a name by a linear search of the statement's
        // names — with `$k` binding was quadratic in the parameters (15% of recording a
        // million-firm run even at 16 rows a statement). Without names the search is empty, and
        // a statement can carry a thousand rows: one round trip to the driver's worker thread
        // per thousand rows, not per sixteen — recording took half the time. (Tried as well: one
        // JSON text per 20,000 rows unpacked by `json_each` — SQLite parses each row's array
        // again for every `value->>k`; no faster.)
        let per = (30_000 / cols.len()).clamp(1, 1000);
        let stmt = |n: usize| {
            let row = format!("({})", vec!["?"; cols.len()].join(","));
            format!(
                "INSERT INTO {table} ({}) VALUES {}",
                cols.join(", "),
                vec![row.as_str(); n].join(",")
            )
        };
        let full = stmt(per);
        let mut flat: Vec<Arg> = Vec::with_capacity(per * cols.len());
        loop {
            flat.clear();
            let mut n = 0;
            for r in rows.by_ref().take(per) {
                flat.extend_from_slice(r.as_ref());
                n += 1;
            }
            if n == 0 {
                break;
            }
            let sql = if n == per { full.clone() } else { stmt(n) };
            self.exec(&sql, &flat).await?;
        }
        Ok(())
    }

    async fn copy_in(
        &mut self,
        table: &str,
        cols: &[&str],
        rows: impl Iterator<Item = impl AsRef<[Arg]>>,
    ) -> Result<(), Error> {
        let Inner::Pg(c) = &mut self.inner else {
            return Err(Error::db("COPY needs PostgreSQL"));
        };
        let sql = format!("COPY {table} ({}) FROM STDIN", cols.join(", "));
        let mut copy = c.copy_in_raw(&sql).await.map_err(dberr)?;
        let mut buf = Vec::with_capacity(1 << 20);
        for r in rows {
            for (k, a) in r.as_ref().iter().enumerate() {
                if k > 0 {
                    buf.push(b'\t');
                }
                match a {
                    Arg::I(Some(v)) => buf.extend_from_slice(v.to_string().as_bytes()),
                    Arg::S(Some(s)) => copy_text(&mut buf, s),
                    Arg::I(None) | Arg::S(None) => buf.extend_from_slice(b"\\N"),
                }
            }
            buf.push(b'\n');
            if buf.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut buf)).await.map_err(dberr)?;
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await.map_err(dberr)?;
        }
        copy.finish().await.map_err(dberr)?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = match self.inner {
            Inner::Lite(c) => c.close().await,
            Inner::Pg(c) => c.close().await,
        };
    }
}

/// PostgreSQL COPY text format escaping.
fn copy_text(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn profile_keys_collapse_lists() {
        assert_eq!(
            normalise("SELECT a FROM t WHERE id IN ($1, $2, $3) AND x = 'v2'"),
            "SELECT a FROM t WHERE id IN (?) AND x = 'v2'"
        );
        assert_eq!(
            normalise("UPDATE items SET s = $1 WHERE state = $6 AND id IN (12, 13, 140)"),
            "UPDATE items SET s = ? WHERE state = ? AND id IN (N)"
        );
        assert_eq!(
            normalise("INSERT INTO t (a, b) VALUES ($1,$2),($3,$4),($5,$6)"),
            "INSERT INTO t (a, b) VALUES (?)"
        );
    }
}
