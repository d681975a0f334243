//! The leader's figures for one period: money and lines by state and by clause, firms reached
//! and paid, days from computation to payment, and the lines waiting too long (overdue). All
//! from the ledger's tables in a few aggregate queries; the service caches the answer per
//! audit-chain head, so it is recomputed only after the ledger changed.

use std::collections::BTreeMap;

use crate::{args, Error, Ledger};

/// Lines and money in one state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateFigure {
    pub state: String,
    pub lines: i64,
    pub fen: i64,
    pub firms: i64,
}

/// A line waiting longer than the limit for its next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overdue {
    pub line: i64,
    pub firm_id: String,
    pub name: String,
    pub clause: String,
    pub state: String,
    pub fen: i64,
    /// When it entered its state (RFC 3339 UTC).
    pub since: String,
}

/// Days from computation to payment over the paid lines (recovery lines left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaysToPay {
    pub paid_lines: i64,
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub max: Option<i64>,
    /// The same in working days (工作日, [`crate::calendar`]): what 兑现时限 are written in.
    pub median_working: Option<i64>,
    pub p90_working: Option<i64>,
    pub max_working: Option<i64>,
    /// (days, lines) for 0–7, 8–15, 16–30, 31–60, 61+ days.
    pub buckets: Vec<(String, i64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dashboard {
    pub period: i64,
    /// Every state that has lines, in workflow order.
    pub by_state: Vec<StateFigure>,
    /// clause → state → 分 (superseded lines left out).
    pub by_clause: BTreeMap<String, BTreeMap<String, i64>>,
    /// Firms with an award line that is neither rejected nor superseded.
    pub firms_reached: i64,
    /// The same by clause.
    pub firms_by_clause: BTreeMap<String, i64>,
    /// Firms with a paid line that is not a recovery.
    pub firms_paid: i64,
    pub days_to_pay: DaysToPay,
    /// Lines waiting (computed, approved, confirmed, exported) since before the cut-off,
    /// oldest first, at most 50; and how many there are in all.
    pub overdue: Vec<Overdue>,
    pub overdue_total: i64,
    pub overdue_fen: i64,
}

/// The workflow's states in order.
pub const STATES: [&str; 10] = [
    "computed",
    "approved",
    "announced",
    "objected",
    "confirmed",
    "exported",
    "paid",
    "rejected",
    "recovered",
    "superseded",
];

/// States in which a line waits for someone's step (not the firm's, not the 公示 window).
const WAITING: &str = "'computed', 'approved', 'confirmed', 'exported'";

/// Whole days between two RFC 3339 UTC times (`2024-03-01T09:00:00Z`).
fn days(from: &str, to: &str) -> Option<i64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((b - a).num_days())
}

fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank.
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl Ledger {
    /// The dashboard of `period`; lines waiting since before `overdue_before` (RFC 3339 UTC)
    /// are overdue.
    pub async fn dashboard(
        &mut self,
        period: i64,
        overdue_before: &str,
    ) -> Result<Dashboard, Error> {
        let db = &mut self.db;
        let mut d = Dashboard {
            period,
            ..Default::default()
        };
        // Money by state and by clause is signed: recovery lines (a rerun's, and clawbacks —
        // entitlements of the period the rule recovered in, their clause the rule) net against
        // awards, so `paid` is what went out less what came back. Firms reached and paid, and
        // days to pay, leave recovery lines out: a firm that only returns money was not reached
        // by an award nor paid, and collecting a recovery is not 兑现.
        let mut by_state: BTreeMap<String, StateFigure> = BTreeMap::new();
        for r in db
            .rows(
                "SELECT i.state, COUNT(*), CAST(SUM(i.amount_fen) AS BIGINT), COUNT(DISTINCT e.firm_id) \
                 FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE e.period = $1 GROUP BY i.state",
                &args![period],
            )
            .await?
        {
            by_state.insert(
                r.s(0),
                StateFigure {
                    state: r.s(0),
                    lines: r.i(1),
                    fen: r.i(2),
                    firms: r.i(3),
                },
            );
        }
        d.by_state = STATES.iter().filter_map(|s| by_state.remove(*s)).collect();
        for r in db
            .rows(
                "SELECT e.clause, i.state, CAST(SUM(i.amount_fen) AS BIGINT) \
                 FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.period = $1 AND i.state <> 'superseded' GROUP BY e.clause, i.state",
                &args![period],
            )
            .await?
        {
            d.by_clause
                .entry(r.s(0))
                .or_default()
                .insert(r.s(1), r.i(2));
        }
        d.firms_reached = db
            .int(
                "SELECT COUNT(DISTINCT e.firm_id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.period = $1 AND i.state NOT IN ('rejected', 'superseded') AND i.kind <> 'recovery'",
                &args![period],
            )
            .await?;
        for r in db
            .rows(
                "SELECT e.clause, COUNT(DISTINCT e.firm_id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.period = $1 AND i.state NOT IN ('rejected', 'superseded') AND i.kind <> 'recovery' \
                 GROUP BY e.clause",
                &args![period],
            )
            .await?
        {
            d.firms_by_clause.insert(r.s(0), r.i(1));
        }
        d.firms_paid = db
            .int(
                "SELECT COUNT(DISTINCT e.firm_id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.period = $1 AND i.state = 'paid' AND i.kind <> 'recovery'",
                &args![period],
            )
            .await?;
        let paid = db
            .rows(
                "SELECT i.created_at, p.paid_at FROM payments p JOIN items i ON i.id = p.item_id \
                 JOIN entitlements e ON e.id = i.entitlement_id WHERE e.period = $1 AND i.kind <> 'recovery'",
                &args![period],
            )
            .await?;
        let mut spans: Vec<i64> = paid.iter().filter_map(|r| days(&r.s(0), &r.s(1))).collect();
        spans.sort_unstable();
        let mut working: Vec<i64> = paid
            .iter()
            .filter_map(|r| crate::calendar::working_days(&r.s(0), &r.s(1)))
            .collect();
        working.sort_unstable();
        let bucket =
            |lo: i64, hi: i64| spans.iter().filter(|x| **x >= lo && **x <= hi).count() as i64;
        d.days_to_pay = DaysToPay {
            paid_lines: spans.len() as i64,
            median: percentile(&spans, 50),
            p90: percentile(&spans, 90),
            max: spans.last().copied(),
            median_working: percentile(&working, 50),
            p90_working: percentile(&working, 90),
            max_working: working.last().copied(),
            buckets: vec![
                ("0–7".into(), bucket(i64::MIN, 7)),
                ("8–15".into(), bucket(8, 15)),
                ("16–30".into(), bucket(16, 30)),
                ("31–60".into(), bucket(31, 60)),
                ("61+".into(), bucket(61, i64::MAX)),
            ],
        };
        let cut = overdue_before.to_string();
        let r = db
            .row(
                &format!(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(i.amount_fen), 0) AS BIGINT) FROM items i \
                     JOIN entitlements e ON e.id = i.entitlement_id \
                     WHERE e.period = $1 AND i.state IN ({WAITING}) AND i.updated_at < $2"
                ),
                &args![period, cut.clone()],
            )
            .await?;
        if let Some(r) = r {
            d.overdue_total = r.i(0);
            d.overdue_fen = r.i(1);
        }
        d.overdue = db
            .rows(
                &format!(
                    "SELECT i.id, e.firm_id, COALESCE(f.name, ''), e.clause, i.state, i.amount_fen, i.updated_at \
                     FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                     LEFT JOIN firms f ON f.firm_id = e.firm_id \
                     WHERE e.period = $1 AND i.state IN ({WAITING}) AND i.updated_at < $2 \
                     ORDER BY i.updated_at, i.id LIMIT 50"
                ),
                &args![period, cut],
            )
            .await?
            .iter()
            .map(|r| Overdue {
                line: r.i(0),
                firm_id: r.s(1),
                name: r.s(2),
                clause: r.s(3),
                state: r.s(4),
                fen: r.i(5),
                since: r.s(6),
            })
            .collect();
        Ok(d)
    }

    /// The audit chain's head: its sequence number changes with every write, so it names a
    /// state of the ledger (what a cached figure was computed from).
    pub async fn head_seq(&mut self) -> Result<i64, Error> {
        self.db
            .int("SELECT seq FROM audit_head WHERE id = 1", &[])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[4], 90), Some(4));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
    }

    #[test]
    fn days_between_utc_times() {
        assert_eq!(
            days("2024-03-01T09:00:00Z", "2024-03-11T08:59:59Z"),
            Some(9)
        );
        assert_eq!(
            days("2024-03-01T09:00:00Z", "2024-03-11T09:00:00Z"),
            Some(10)
        );
        assert_eq!(days("bad", "2024-03-11T09:00:00Z"), None);
    }
}
