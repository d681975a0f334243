//! A ledger written by the previous build (schema 1, events without their content) opens,
//! migrates, verifies, and goes on through the workflow; an edit of its rows is still caught.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::*;
use huiqi_ledger::audit::digest;
use huiqi_ledger::schema::{GENESIS, MIGRATIONS};
use huiqi_ledger::{args, Action, Db, ErrorKind, Ledger, Problem, Selection};
use sha2::{Digest, Sha256};

const HT: &str = "高企认定奖励";
const RUN: &str = "0123456789abcdef";

fn ids(v: &[i64]) -> Selection {
    Selection {
        ids: v.to_vec(),
        ..Default::default()
    }
}

/// Schema 1 with a run of two lines recorded and line 1 approved, as the previous build wrote
/// them (its `record` event held only the lines' SHA-256).
async fn old_ledger(t: &str) {
    let mut db = Db::open(t).await.unwrap();
    let (v, name, sql) = MIGRATIONS[0];
    db.batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL)")
        .await
        .unwrap();
    db.batch(sql).await.unwrap();
    let sum = format!("{:x}", Sha256::digest(sql.as_bytes()));
    db.exec(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        &args![v, name, sum],
    )
    .await
    .unwrap();
    let at = "2024-02-01T00:00:00Z";
    db.exec(
        "INSERT INTO runs (run_id, period, policy_name, policy_hash, snapshot_hash, engine_version, results_sha256, manifest, recorded_at, recorded_by) VALUES ($1, 2023, 'p', 'ph', 'sh', '0.1.0', 'rh', '{}', $2, 'old')",
        &args![RUN, at],
    )
    .await
    .unwrap();
    db.batch("INSERT INTO firms (firm_id, name) VALUES ('91330200MA2H4A3X26', '美旭精密')")
        .await
        .unwrap();
    let mut lines = Sha256::new();
    for (k, firm) in [F1, F2].iter().enumerate() {
        let id = k as i64 + 1;
        db.exec(
            "INSERT INTO entitlements (id, firm_id, clause, period, tranche, computed_fen, run_id, last_run_id) VALUES ($1, $2, $3, 2023, '首次认定', 5000000, $4, $4)",
            &args![id, *firm, HT, RUN],
        )
        .await
        .unwrap();
        let state = if id == 1 { "approved" } else { "computed" };
        db.exec(
            "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, created_at, updated_at) VALUES ($1, $1, 0, 'award', 5000000, $2, $3, $4, $4)",
            &args![id, state, RUN, at],
        )
        .await
        .unwrap();
        lines.update(format!("{id},{id},{firm},{HT},2023,首次认定,5000000\n").as_bytes());
    }
    let record = format!(
        r#"{{"period":2023,"policy_hash":"ph","snapshot_hash":"sh","engine_version":"0.1.0","results_sha256":"rh","new":2,"new_fen":10000000,"unchanged":0,"changed":0,"new_lines_sha256":"{:x}"}}"#,
        lines.finalize()
    );
    let events = [
        ("record", format!("run:{RUN}"), "{}".to_string(), record),
        (
            "approve",
            "item:1".to_string(),
            r#"{"state":"computed"}"#.to_string(),
            r#"{"state":"approved"}"#.to_string(),
        ),
    ];
    let mut prev = GENESIS.to_string();
    for (k, (action, entity, before, after)) in events.iter().enumerate() {
        let seq = k as i64 + 1;
        let h = digest(seq, &prev, "old", at, action, entity, before, after);
        db.exec(
            "INSERT INTO audit_events (seq, prev_hash, hash, actor, at, action, entity, before_json, after_json) VALUES ($1, $2, $3, 'old', $4, $5, $6, $7, $8)",
            &args![seq, prev.clone(), h.clone(), at, *action, entity, before, after],
        )
        .await
        .unwrap();
        prev = h;
    }
    db.exec(
        "UPDATE audit_head SET seq = 2, hash = $1 WHERE id = 1",
        &args![prev],
    )
    .await
    .unwrap();
    db.close().await;
}

#[test]
fn a_ledger_of_the_previous_build_migrates_verifies_and_goes_on() {
    each_backend(async |t| {
        old_ledger(t).await;
        let mut l = Ledger::open(t).await.unwrap();
        assert_eq!(
            count(&mut l, "SELECT MAX(version) FROM schema_migrations").await,
            MIGRATIONS.len() as i64
        );
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        // The workflow goes on with the old lines: 公示, confirm, a batch, its payment.
        l.apply(
            &ctx("2024-03-01"),
            &ids(&[1]),
            &Action::Announce {
                title: "公示".into(),
                opens: "2024-03-01T00:00:00Z".into(),
                closes: "2024-03-08T00:00:00Z".into(),
            },
        )
        .await
        .unwrap();
        l.apply(&ctx("2024-03-02"), &ids(&[1]), &Action::Confirm)
            .await
            .unwrap();
        let b = l
            .export_batch(&ctx("2024-03-10"), &ids(&[1]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.rows.len(), 1);
        l.apply(
            &ctx("2024-03-20"),
            &ids(&[1]),
            &Action::Pay {
                reference: "T-1".into(),
            },
        )
        .await
        .unwrap();
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        // An old line's amount edited: the step refuses, verify names the run's lines.
        l.db.batch("UPDATE items SET amount_fen = 9000000 WHERE id = 2")
            .await
            .unwrap();
        let e = l
            .apply(&ctx("2024-04-01"), &ids(&[2]), &Action::Approve)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.en);
        let p = l.verify().await.unwrap().problems;
        assert!(
            p.iter().any(|p| matches!(p, Problem::Mismatch { table, row, .. } if table == "items" && row == &format!("run {RUN}"))),
            "{p:?}"
        );
        l.close().await;
    });
}

/// Schema 6 (before clawbacks) as the previous build wrote it: F1's award paid, F2's paid and
/// recovered, with the events of that build (content committed, keys `[clause, tranche]`).
async fn v6_ledger(t: &str) {
    let mut db = Db::open(t).await.unwrap();
    db.batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL)")
        .await
        .unwrap();
    for (v, name, sql) in &MIGRATIONS[..6] {
        db.batch(sql).await.unwrap();
        let sum = format!("{:x}", Sha256::digest(sql.as_bytes()));
        db.exec(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &args![*v, *name, sum],
        )
        .await
        .unwrap();
    }
    let at = "2024-02-01T00:00:00Z";
    db.exec(
        "INSERT INTO runs (run_id, period, policy_name, policy_hash, snapshot_hash, engine_version, results_sha256, manifest, recorded_at, recorded_by) VALUES ($1, 2023, 'p', 'ph', 'sh', '0.1.0', 'rh', '{}', $2, 'old')",
        &args![RUN, at],
    )
    .await
    .unwrap();
    let mut firms = vec![];
    let mut lines = vec![];
    for (k, (firm, name)) in [(F1, "美旭精密"), (F2, "甬江科技")].iter().enumerate() {
        let id = k as i64 + 1;
        db.exec(
            "INSERT INTO firms (firm_id, name) VALUES ($1, $2)",
            &args![*firm, *name],
        )
        .await
        .unwrap();
        db.exec(
            "INSERT INTO entitlements (id, firm_id, clause, period, tranche, computed_fen, run_id, last_run_id) VALUES ($1, $2, $3, 2023, '首次认定', 5000000, $4, $4)",
            &args![id, *firm, HT, RUN],
        )
        .await
        .unwrap();
        let (state, reason) = if id == 1 {
            ("paid", None)
        } else {
            ("recovered", Some("迁出".to_string()))
        };
        db.exec(
            "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, reason, created_at, updated_at) VALUES ($1, $1, 0, 'award', 5000000, $2, $3, $4, $5, $5)",
            &args![id, state, RUN, reason, at],
        )
        .await
        .unwrap();
        db.exec(
            "INSERT INTO payments (id, item_id, reference, amount_fen, paid_at, actor) VALUES ($1, $1, $2, 5000000, $3, 'old')",
            &args![id, format!("T-{id}"), at],
        )
        .await
        .unwrap();
        firms.push(serde_json::json!([firm, name]));
        lines.push(serde_json::json!([id, id, firm, 0, 5_000_000]));
    }
    db.exec(
        "INSERT INTO recoveries (id, item_id, amount_fen, reason, at, actor) VALUES (1, 2, 5000000, '迁出', $1, 'old')",
        &args![at],
    )
    .await
    .unwrap();
    let record = serde_json::json!({
        "period": 2023, "policy_hash": "ph", "snapshot_hash": "sh", "engine_version": "0.1.0",
        "results_sha256": "rh", "new": 2, "new_fen": 10_000_000, "unchanged": 0, "changed": 0,
        "new_lines_sha256": "x", "policy_name": "p",
        "manifest_sha256": format!("{:x}", Sha256::digest(b"{}")),
        "firms": firms, "keys": [[HT, "首次认定"]], "lines": lines,
    });
    let pay = |id: i64| {
        serde_json::json!({"state": "paid", "reference": format!("T-{id}"), "amount_fen": 5_000_000, "payment": id, "batch": null}).to_string()
    };
    let events = [
        ("record", format!("run:{RUN}"), record.to_string()),
        ("pay", "item:1".to_string(), pay(1)),
        ("pay", "item:2".to_string(), pay(2)),
        (
            "recover",
            "item:2".to_string(),
            r#"{"state":"recovered","reason":"迁出","amount_fen":5000000,"recovery":1}"#
                .to_string(),
        ),
    ];
    let mut prev = GENESIS.to_string();
    for (k, (action, entity, after)) in events.iter().enumerate() {
        let seq = k as i64 + 1;
        let h = digest(seq, &prev, "old", at, action, entity, "{}", after);
        db.exec(
            "INSERT INTO audit_events (seq, prev_hash, hash, actor, at, action, entity, before_json, after_json) VALUES ($1, $2, $3, 'old', $4, $5, $6, '{}', $7)",
            &args![seq, prev.clone(), h.clone(), at, *action, entity, after],
        )
        .await
        .unwrap();
        prev = h;
    }
    db.exec(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &args![events.len() as i64, prev],
    )
    .await
    .unwrap();
    db.close().await;
}

/// Migration 7 rebuilds `entitlements` (and the tables referencing it) for clawback targets
/// and negative figures: every row survives, the ledger verifies, and a clawback of the old
/// award is recorded, worked and netted in the history.
#[test]
fn a_ledger_before_clawbacks_migrates_and_records_them() {
    each_backend(async |t| {
        v6_ledger(t).await;
        let mut l = Ledger::open(t).await.unwrap();
        assert_eq!(
            count(&mut l, "SELECT MAX(version) FROM schema_migrations").await,
            MIGRATIONS.len() as i64
        );
        for (table, n) in [
            ("entitlements", 2),
            ("items", 2),
            ("payments", 2),
            ("recoveries", 1),
        ] {
            assert_eq!(
                count(&mut l, &format!("SELECT COUNT(*) FROM {table}")).await,
                n,
                "{table}"
            );
        }
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        // An award's figure is still never negative; a clawback's target is all or nothing.
        for sql in [
            "INSERT INTO entitlements (id, firm_id, clause, period, tranche, computed_fen, run_id, last_run_id) VALUES (9, 'x', 'c', 2024, '', -1, '0123456789abcdef', '0123456789abcdef')",
            "INSERT INTO entitlements (id, firm_id, clause, period, tranche, computed_fen, run_id, last_run_id, target_clause) VALUES (9, 'x', 'c', 2024, '', -1, '0123456789abcdef', '0123456789abcdef', 'c')",
        ] {
            assert!(l.db.exec(sql, &[]).await.is_err(), "{sql}");
        }
        let mut c = run(2024, "c", &[]);
        c.rules.insert("迁出追回".into());
        c.clawbacks.push(huiqi_ledger::ClawbackRow {
            firm_id: F1.into(),
            rule: "迁出追回".into(),
            clause: HT.into(),
            tranche: "首次认定".into(),
            award_period: 2023,
            fen: 2_000_000,
        });
        let s = l.record(&ctx("2024-06-01"), &c).await.unwrap();
        assert_eq!((s.new_clawbacks, s.new_clawback_fen), (1, -2_000_000));
        let id = count(&mut l, "SELECT MAX(id) FROM items").await;
        l.apply(&ctx("2024-06-02"), &ids(&[id]), &Action::Approve)
            .await
            .unwrap();
        let a = l.awards(2025, false).await.unwrap();
        assert_eq!(
            a.iter()
                .map(|a| (a.firm_id.as_str(), a.fen))
                .collect::<Vec<_>>(),
            vec![(F1, 3_000_000)]
        );
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        l.close().await;
    });
}
