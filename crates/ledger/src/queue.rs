//! Award lines as work queues: filtered by state, clause, firm and period, a page at a time,
//! with the scope a caller may see (a firm, a department's clauses) applied in SQL.

use crate::db::Arg;
use crate::{Error, Ledger, State};

/// Which lines: every filter that is set must hold. `clauses` is a scope (the clauses of a
/// department), `firm` a filter or a firm's own scope.
#[derive(Clone, Debug, Default)]
pub struct LineFilter {
    pub states: Vec<State>,
    pub clause: Option<String>,
    pub clauses: Option<Vec<String>>,
    pub firm: Option<String>,
    pub period: Option<i64>,
    pub ids: Option<Vec<i64>>,
    /// Page size (default 100, at most 1000) and offset.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One award line as a queue shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRow {
    pub line: i64,
    pub firm_id: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    pub fen: i64,
    pub state: State,
    pub reason: Option<String>,
    pub notice: Option<i64>,
    pub batch: Option<i64>,
    pub updated_at: String,
}

/// A page of lines and how many match in all.
#[derive(Clone, Debug, Default)]
pub struct LinePage {
    pub total: i64,
    pub rows: Vec<LineRow>,
}

impl LineFilter {
    fn where_clause(&self) -> (String, Vec<Arg>) {
        let mut cond = vec!["1 = 1".to_string()];
        let mut a: Vec<Arg> = vec![];
        let bind = |a: &mut Vec<Arg>, v: Arg| {
            a.push(v);
            format!("${}", a.len())
        };
        if !self.states.is_empty() {
            let ps: Vec<String> = self
                .states
                .iter()
                .map(|s| bind(&mut a, Arg::from(s.as_str())))
                .collect();
            cond.push(format!("i.state IN ({})", ps.join(", ")));
        }
        if let Some(c) = &self.clause {
            cond.push(format!("e.clause = {}", bind(&mut a, Arg::from(c))));
        }
        if let Some(cs) = &self.clauses {
            if cs.is_empty() {
                cond.push("1 = 0".into());
            } else {
                let ps: Vec<String> = cs.iter().map(|c| bind(&mut a, Arg::from(c))).collect();
                cond.push(format!("e.clause IN ({})", ps.join(", ")));
            }
        }
        if let Some(f) = &self.firm {
            cond.push(format!("e.firm_id = {}", bind(&mut a, Arg::from(f))));
        }
        if let Some(p) = self.period {
            cond.push(format!("e.period = {}", bind(&mut a, Arg::from(p))));
        }
        if let Some(ids) = &self.ids {
            if ids.is_empty() {
                cond.push("1 = 0".into());
            } else {
                let ps: Vec<String> = ids.iter().map(|i| bind(&mut a, Arg::from(*i))).collect();
                cond.push(format!("i.id IN ({})", ps.join(", ")));
            }
        }
        (cond.join(" AND "), a)
    }
}

const FROM: &str = "FROM items i JOIN entitlements e ON e.id = i.entitlement_id LEFT JOIN firms f ON f.firm_id = e.firm_id";

impl Ledger {
    /// The lines matching `f`, in line order, one page.
    pub async fn lines(&mut self, f: &LineFilter) -> Result<LinePage, Error> {
        let (cond, a) = f.where_clause();
        // The count needs no firm names (one firm row at most per line), and no entitlement
        // when nothing filters on one: on a 25,000-line queue the three-way join was most of
        // the page's time.
        let count_from = if cond.contains("e.") {
            "FROM items i JOIN entitlements e ON e.id = i.entitlement_id"
        } else {
            "FROM items i"
        };
        let total = self
            .db
            .int(&format!("SELECT COUNT(*) {count_from} WHERE {cond}"), &a)
            .await?;
        let limit = f.limit.unwrap_or(100).max(0);
        let offset = f.offset.unwrap_or(0).max(0);
        let sql = format!(
            "SELECT i.id, e.firm_id, COALESCE(f.name, ''), e.clause, e.period, e.tranche, i.kind, i.amount_fen, \
             i.state, i.reason, i.notice_id, i.batch_id, i.updated_at {FROM} WHERE {cond} ORDER BY i.id LIMIT {limit} OFFSET {offset}"
        );
        let rows = self.db.rows(&sql, &a).await?;
        let rows = rows
            .into_iter()
            .map(|r| LineRow {
                line: r.i(0),
                firm_id: r.s(1),
                name: r.s(2),
                clause: r.s(3),
                period: r.i(4),
                tranche: r.s(5),
                kind: r.s(6),
                fen: r.i(7),
                state: State::parse(&r.s(8)).unwrap_or(State::Superseded),
                reason: r.os(9),
                notice: r.oi(10),
                batch: r.oi(11),
                updated_at: r.s(12),
            })
            .collect();
        Ok(LinePage { total, rows })
    }
}
