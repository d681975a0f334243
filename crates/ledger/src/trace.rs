//! An award line traced to where its figure came from: its entitlement (firm, clause, period,
//! tranche, the amount computed), the run that produced it (policy name and content hash,
//! snapshot hash, engine version, results file hash, who recorded it and when), every version
//! of the entitlement (supersessions, top-ups, recoveries) and its payment.

use crate::{args, Error, Ledger};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub period: i64,
    pub policy_name: String,
    pub policy_hash: String,
    pub snapshot_hash: String,
    pub engine_version: String,
    pub results_sha256: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// A run named by its id and the hashes of what it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub run_id: String,
    pub policy_hash: String,
    pub snapshot_hash: String,
}

/// One line of an entitlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub line: i64,
    pub version: i64,
    pub kind: String,
    pub fen: i64,
    pub state: String,
    pub run_id: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub line: i64,
    pub entitlement: i64,
    pub firm_id: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub kind: String,
    pub fen: i64,
    pub state: String,
    /// A clawback's: the award it recovers from (clause, period, tranche); its `clause` is the
    /// rule.
    pub target: Option<(String, i64, String)>,
    /// What the latest run computed for the entitlement.
    pub computed_fen: i64,
    /// That latest run (the entitlement's `last_run_id`): where `computed_fen` comes from — the
    /// run that made this line, or a later one that refigured it.
    pub computed_by: RunRef,
    /// The run that made this line.
    pub run: RunInfo,
    pub versions: Vec<Version>,
    /// (reference, paid at, by) when paid.
    pub payment: Option<(String, String, String)>,
}

impl Ledger {
    /// The trace of line `line`, or None when there is no such line.
    pub async fn trace(&mut self, line: i64) -> Result<Option<Trace>, Error> {
        let db = &mut self.db;
        let Some(r) = db
            .row(
                "SELECT i.id, e.id, e.firm_id, COALESCE(f.name, ''), e.clause, e.period, e.tranche, i.kind, i.amount_fen, i.state, e.computed_fen, \
                 r.run_id, r.period, r.policy_name, r.policy_hash, r.snapshot_hash, r.engine_version, r.results_sha256, r.recorded_at, r.recorded_by, \
                 l.run_id, l.policy_hash, l.snapshot_hash, e.target_clause, e.target_period, e.target_tranche \
                 FROM items i JOIN entitlements e ON e.id = i.entitlement_id JOIN runs r ON r.run_id = i.run_id \
                 JOIN runs l ON l.run_id = e.last_run_id \
                 LEFT JOIN firms f ON f.firm_id = e.firm_id WHERE i.id = $1",
                &args![line],
            )
            .await?
        else {
            return Ok(None);
        };
        let entitlement = r.i(1);
        let versions = db
            .rows(
                "SELECT id, version, kind, amount_fen, state, run_id, created_at FROM items WHERE entitlement_id = $1 ORDER BY version",
                &args![entitlement],
            )
            .await?
            .iter()
            .map(|v| Version {
                line: v.i(0),
                version: v.i(1),
                kind: v.s(2),
                fen: v.i(3),
                state: v.s(4),
                run_id: v.s(5),
                created_at: v.s(6),
            })
            .collect();
        let payment = db
            .row(
                "SELECT reference, paid_at, actor FROM payments WHERE item_id = $1",
                &args![line],
            )
            .await?
            .map(|p| (p.s(0), p.s(1), p.s(2)));
        Ok(Some(Trace {
            line: r.i(0),
            entitlement,
            firm_id: r.s(2),
            name: r.s(3),
            clause: r.s(4),
            period: r.i(5),
            tranche: r.s(6),
            kind: r.s(7),
            fen: r.i(8),
            state: r.s(9),
            target: match (r.os(23), r.oi(24), r.os(25)) {
                (Some(c), Some(p), Some(t)) => Some((c, p, t)),
                _ => None,
            },
            computed_fen: r.i(10),
            computed_by: RunRef {
                run_id: r.s(20),
                policy_hash: r.s(21),
                snapshot_hash: r.s(22),
            },
            run: RunInfo {
                run_id: r.s(11),
                period: r.i(12),
                policy_name: r.s(13),
                policy_hash: r.s(14),
                snapshot_hash: r.s(15),
                engine_version: r.s(16),
                results_sha256: r.s(17),
                recorded_at: r.s(18),
                recorded_by: r.s(19),
            },
            versions,
            payment,
        }))
    }
}
