//! The ledger's behaviour, on SQLite and PostgreSQL alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::*;
use huiqi_ledger::{Action, Budget, ErrorKind, PaymentLine, Problem, Selection, State};

const HT: &str = "高企认定奖励";
const RV: &str = "营收首次突破";

fn ids(v: &[i64]) -> Selection {
    Selection {
        ids: v.to_vec(),
        ..Default::default()
    }
}

fn all() -> Selection {
    Selection {
        all: true,
        ..Default::default()
    }
}

fn pay(r: &str) -> Action {
    Action::Pay {
        reference: r.into(),
    }
}

fn announce() -> Action {
    Action::Announce {
        title: "2023年度公示".into(),
        opens: "2024-03-01T00:00:00Z".into(),
        closes: "2024-03-08T00:00:00Z".into(),
    }
}

/// Records a run of three awards and takes F1's 高企 line to paid (reference R-1).
async fn paid_setup(l: &mut huiqi_ledger::Ledger) -> i64 {
    let r = run(
        2023,
        "a",
        &[
            (F1, HT, "首次认定", 5_000_000),
            (F2, HT, "首次认定", 5_000_000),
            (F3, RV, "", 100_000_000),
        ],
    );
    let s = l.record(&ctx("2024-02-01"), &r).await.unwrap();
    assert_eq!((s.new, s.new_fen), (3, 110_000_000));
    let id = lines(l, F1, HT, 2023).await[0].0;
    l.apply(&ctx("2024-02-10"), &ids(&[id]), &Action::Approve)
        .await
        .unwrap();
    l.apply(&ctx("2024-03-01"), &ids(&[id]), &announce())
        .await
        .unwrap();
    l.apply(&ctx("2024-03-03"), &ids(&[id]), &Action::Confirm)
        .await
        .unwrap();
    l.apply(&ctx("2024-03-20"), &ids(&[id]), &pay("R-1"))
        .await
        .unwrap();
    id
}

#[test]
fn recording_twice_or_an_identical_rerun_changes_nothing() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let rows = [(F1, HT, "首次认定", 5_000_000), (F2, RV, "", 100_000_000)];
        let s = l
            .record(&ctx("2024-02-01"), &run(2023, "a", &rows))
            .await
            .unwrap();
        assert_eq!((s.new, s.changed, s.already), (2, 0, false));
        let before = fingerprint(&mut l).await;
        let again = l
            .record(&ctx("2024-02-02"), &run(2023, "a", &rows))
            .await
            .unwrap();
        assert!(again.already);
        assert_eq!(fingerprint(&mut l).await, before);
        // A new run (another manifest) with the same figures: recorded, nothing else moves.
        let re = l
            .record(&ctx("2024-02-03"), &run(2023, "b", &rows))
            .await
            .unwrap();
        assert_eq!((re.new, re.unchanged, re.changed), (0, 2, 0));
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM items").await, 2);
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM runs").await, 2);
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
    });
}

#[test]
fn a_corrected_rerun_becomes_adjustments_never_a_second_payment() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let paid = paid_setup(&mut l).await;
        // F3's line is taken to paid too, F2's stays computed.
        let f3 = lines(&mut l, F3, RV, 2023).await[0].0;
        for (a, at) in [
            (Action::Approve, "2024-02-10"),
            (announce(), "2024-03-01"),
            (Action::Confirm, "2024-03-02"),
            (pay("R-3"), "2024-03-20"),
        ] {
            l.apply(&ctx(at), &ids(&[f3]), &a).await.unwrap();
        }
        // Corrected: F1 up by 1万 (top-up), F2 down (unpaid: replaced), F3 gone (recovery).
        let re = run_with(
            2023,
            "corrected",
            &[
                (F1, HT, "首次认定", 6_000_000),
                (F2, HT, "首次认定", 2_000_000),
            ],
            [HT.to_string(), RV.to_string()].into(),
        );
        let s = l.record(&ctx("2024-04-01"), &re).await.unwrap();
        assert_eq!(
            (s.changed, s.superseded, s.topups, s.recoveries),
            (3, 1, 2, 1)
        );
        let f1 = lines(&mut l, F1, HT, 2023).await;
        assert_eq!(f1.len(), 2);
        assert_eq!((f1[0].1.as_str(), f1[0].2), ("paid", 5_000_000));
        assert_eq!((f1[1].1.as_str(), f1[1].2), ("computed", 1_000_000));
        let orig: i64 =
            l.db.int(
                "SELECT original_id FROM items WHERE id = $1",
                &huiqi_ledger::args![f1[1].0],
            )
            .await
            .unwrap();
        assert_eq!(orig, paid);
        let f2 = lines(&mut l, F2, HT, 2023).await;
        assert_eq!(
            f2.iter().map(|x| (x.1.as_str(), x.2)).collect::<Vec<_>>(),
            [("superseded", 5_000_000), ("computed", 2_000_000)]
        );
        let f3l = lines(&mut l, F3, RV, 2023).await;
        assert_eq!((f3l[1].1.as_str(), f3l[1].2), ("computed", -100_000_000));
        // Recording the corrected run again: nothing.
        assert!(l.record(&ctx("2024-04-02"), &re).await.unwrap().already);
        // Payments: still exactly two, one per paid line.
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 2);
        // The original paid line cannot be paid again, by any route.
        let e = l
            .apply(&ctx("2024-04-03"), &ids(&[paid]), &pay("R-again"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(e.en.contains("is paid"), "{}", e.en);
        // Paying the top-up is a separate, second line: allowed once through the workflow.
        let top = f1[1].0;
        for (a, at) in [
            (Action::Approve, "2024-04-05"),
            (announce2(), "2024-04-06"),
            (Action::Confirm, "2024-04-07"),
            (pay("R-1b"), "2024-04-20"),
        ] {
            l.apply(&ctx(at), &ids(&[top]), &a).await.unwrap();
        }
        let total: i64 = l
            .db
            .int("SELECT CAST(SUM(p.amount_fen) AS BIGINT) FROM payments p JOIN items i ON i.id = p.item_id JOIN entitlements e ON e.id = i.entitlement_id WHERE e.firm_id = $1", &huiqi_ledger::args![F1])
            .await
            .unwrap();
        assert_eq!(total, 6_000_000);
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
    });
}

fn announce2() -> Action {
    Action::Announce {
        title: "更正公示".into(),
        opens: "2024-04-06T00:00:00Z".into(),
        closes: "2024-04-13T00:00:00Z".into(),
    }
}

#[test]
fn the_workflow_runs_and_status_shows_each_step() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let id = paid_setup(&mut l).await;
        let st = l.status(F1).await.unwrap();
        assert_eq!(st.len(), 1);
        let s = &st[0];
        assert_eq!(
            (s.line, s.state, s.amount_fen),
            (id, State::Paid, 5_000_000)
        );
        assert_eq!(s.firm_name, "美旭精密");
        assert_eq!(s.reference.as_deref(), Some("R-1"));
        let steps: Vec<(&str, &str)> = s
            .steps
            .iter()
            .map(|(a, b)| (a.as_str(), &b[..10]))
            .collect();
        assert_eq!(
            steps,
            [
                ("record", "2024-02-01"),
                ("approve", "2024-02-10"),
                ("announce", "2024-03-01"),
                ("confirm", "2024-03-03"),
                ("pay", "2024-03-20")
            ]
        );
        // Reject with reason, then recover a paid one with reason.
        let f2 = lines(&mut l, F2, HT, 2023).await[0].0;
        l.apply(
            &ctx("2024-02-11"),
            &ids(&[f2]),
            &Action::Reject {
                reason: "失信".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            l.status(F2).await.unwrap()[0].reason.as_deref(),
            Some("失信")
        );
        l.apply(
            &ctx("2024-06-01"),
            &ids(&[id]),
            &Action::Recover {
                reason: "迁出园区".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(l.status(F1).await.unwrap()[0].state, State::Recovered);
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM recoveries").await, 1);
        // Objection inside the window; then a rerun with the corrected figure replaces it.
        let f3 = lines(&mut l, F3, RV, 2023).await[0].0;
        l.apply(&ctx("2024-02-10"), &ids(&[f3]), &Action::Approve)
            .await
            .unwrap();
        l.apply(&ctx("2024-03-01"), &ids(&[f3]), &announce())
            .await
            .unwrap();
        l.apply(
            &ctx("2024-03-02"),
            &ids(&[f3]),
            &Action::Object {
                reason: "营业收入口径有误".into(),
            },
        )
        .await
        .unwrap();
        let re = run_with(
            2023,
            "fix",
            &[(F3, RV, "", 90_000_000)],
            [RV.to_string()].into(),
        );
        l.record(&ctx("2024-03-10"), &re).await.unwrap();
        let f3l = lines(&mut l, F3, RV, 2023).await;
        assert_eq!(
            f3l.iter().map(|x| (x.1.as_str(), x.2)).collect::<Vec<_>>(),
            [("superseded", 100_000_000), ("computed", 90_000_000)]
        );
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
    });
}

#[test]
fn illegal_transitions_fail_clearly_and_change_nothing() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let paid = paid_setup(&mut l).await;
        let f2 = lines(&mut l, F2, HT, 2023).await[0].0;
        let f3 = lines(&mut l, F3, RV, 2023).await[0].0;
        l.apply(
            &ctx("2024-02-11"),
            &ids(&[f2]),
            &Action::Reject {
                reason: "重复申报".into(),
            },
        )
        .await
        .unwrap();
        l.apply(&ctx("2024-02-11"), &ids(&[f3]), &Action::Approve)
            .await
            .unwrap();
        l.apply(&ctx("2024-03-01"), &ids(&[f3]), &announce())
            .await
            .unwrap();
        let before = fingerprint(&mut l).await;
        let cases: Vec<(&str, Selection, Action, &str)> = vec![
            ("2024-03-20", ids(&[f2]), pay("X-1"), "is rejected"),
            ("2024-03-09", ids(&[f3]), Action::Confirm, "outside"),
            ("2024-02-20", ids(&[f3]), Action::Confirm, "outside"),
            (
                "2024-03-09",
                ids(&[f3]),
                Action::Object {
                    reason: "晚了".into(),
                },
                "outside",
            ),
            ("2024-03-05", ids(&[f3]), pay("X-2"), "is announced"),
            ("2024-03-05", ids(&[paid]), pay("X-3"), "is paid"),
            ("2024-03-05", ids(&[paid]), Action::Approve, "is paid"),
            ("2024-03-05", ids(&[f2]), Action::Approve, "is rejected"),
            (
                "2024-03-05",
                ids(&[9999]),
                Action::Approve,
                "no award line 9999",
            ),
            (
                "2024-03-05",
                ids(&[f3]),
                Action::Object { reason: " ".into() },
                "reason is required",
            ),
            ("2024-03-05", ids(&[f3, f2]), Action::Confirm, "is rejected"),
            ("2024-03-05", Selection::default(), Action::Approve, "--all"),
            (
                "2024-03-05",
                ids(&[paid]),
                Action::Recover { reason: "".into() },
                "reason is required",
            ),
        ];
        for (at, sel, a, want) in cases {
            let e = l.apply(&ctx(at), &sel, &a).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Input, "{}", e.en);
            assert!(e.en.contains(want), "{:?}: {} (wanted {want})", a, e.en);
            assert!(!e.zh.is_empty());
            assert_eq!(fingerprint(&mut l).await, before, "{a:?} changed something");
        }
        // A confirmed line paid with a reference already used elsewhere.
        l.apply(&ctx("2024-03-05"), &ids(&[f3]), &Action::Confirm)
            .await
            .unwrap();
        let before = fingerprint(&mut l).await;
        let e = l
            .apply(&ctx("2024-03-20"), &ids(&[f3]), &pay("R-1"))
            .await
            .unwrap_err();
        assert!(e.en.contains("already paid line"), "{}", e.en);
        assert_eq!(fingerprint(&mut l).await, before);
        // Bad payment files: all or nothing.
        let pl = |line, item, r: &str, fen| PaymentLine {
            line,
            item,
            reference: r.into(),
            fen,
            firm_id: None,
        };
        let bad_files: Vec<(Vec<PaymentLine>, &str)> = vec![
            (
                vec![
                    pl(2, f3, "P-3", Some(100_000_000)),
                    pl(3, 4242, "P-x", None),
                ],
                "unknown entitlement",
            ),
            (vec![pl(2, f3, "P-3", Some(1))], "differs"),
            (vec![pl(2, f3, "", None)], "no payment reference"),
            (
                vec![pl(2, f3, "P-3", None), pl(3, f3, "P-4", None)],
                "appears twice",
            ),
            (
                vec![pl(2, f3, "P-3", None), pl(3, f2, "P-4", None)],
                "is rejected",
            ),
            (vec![pl(2, paid, "R-other", None)], "already paid"),
            (
                vec![PaymentLine {
                    line: 2,
                    item: f3,
                    reference: "P-3".into(),
                    fen: None,
                    firm_id: Some(F1.into()),
                }],
                "belongs to",
            ),
        ];
        for (f, want) in bad_files {
            let e = l.pay_file(&ctx("2024-03-20"), &f).await.unwrap_err();
            assert!(e.en.contains(want), "{} (wanted {want})", e.en);
            assert!(e.en.contains("nothing was paid"));
            assert_eq!(fingerprint(&mut l).await, before);
        }
        // A good file, applied twice: paid once.
        let good = vec![
            pl(2, f3, "P-3", Some(100_000_000)),
            pl(3, paid, "R-1", Some(5_000_000)),
        ];
        let s = l.pay_file(&ctx("2024-03-20"), &good).await.unwrap();
        assert_eq!((s.paid, s.already), (1, 1));
        let s = l.pay_file(&ctx("2024-03-21"), &good).await.unwrap();
        assert_eq!((s.paid, s.already), (0, 2));
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 2);
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
    });
}

#[test]
fn the_database_itself_refuses_a_second_payment() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let paid = paid_setup(&mut l).await;
        let r = l
            .db
            .exec(
                "INSERT INTO payments (id, item_id, reference, amount_fen, paid_at, actor) VALUES (99, $1, 'R-dup', 5000000, 'x', 'x')",
                &huiqi_ledger::args![paid],
            )
            .await;
        assert!(r.is_err(), "a second payment row for one line was accepted");
        // Nor may a line have two open lines at once.
        let ent =
            l.db.int(
                "SELECT entitlement_id FROM items WHERE id = $1",
                &huiqi_ledger::args![paid],
            )
            .await
            .unwrap();
        let r = l
            .db
            .exec(
                "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, created_at, updated_at) SELECT 100, $1, 7, 'topup', 1, 'computed', run_id, 'x', 'x' FROM runs",
                &huiqi_ledger::args![ent],
            )
            .await;
        assert!(r.is_ok());
        let r = l
            .db
            .exec(
                "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, created_at, updated_at) SELECT 101, $1, 8, 'topup', 1, 'computed', run_id, 'x', 'x' FROM runs",
                &huiqi_ledger::args![ent],
            )
            .await;
        assert!(
            r.is_err(),
            "two open lines for one entitlement were accepted"
        );
        l.close().await;
    });
}

/// Applies `sql` (tampering) and returns what verify says.
async fn tamper(t: &str, sql: &str) -> Vec<Problem> {
    let mut l = open(t).await;
    l.db.batch(sql).await.unwrap();
    let r = l.verify().await.unwrap();
    l.close().await;
    r.problems
}

#[test]
fn verify_names_the_edited_deleted_or_reordered_event() {
    each_backend(async |t| {
        let mut l = open(t).await;
        paid_setup(&mut l).await;
        l.apply(&ctx("2024-02-10"), &all(), &Action::Approve)
            .await
            .unwrap();
        let r = l.verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        let n = r.events;
        assert!(n >= 7, "{n} events");
        // Keep a pristine copy of the audit table to restore between tampers.
        l.db.batch("CREATE TABLE audit_copy AS SELECT * FROM audit_events")
            .await
            .unwrap();
        let head =
            l.db.row("SELECT seq, hash FROM audit_head", &[])
                .await
                .unwrap()
                .unwrap();
        l.close().await;
        let restore = format!(
            "DELETE FROM audit_events; INSERT INTO audit_events SELECT * FROM audit_copy; UPDATE audit_head SET seq = {}, hash = '{}';",
            head.i(0),
            head.s(1)
        );
        let cases: Vec<(String, Problem)> = vec![
            ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3".into(), Problem::Edited { seq: 3 }),
            ("UPDATE audit_events SET after_json = '{\"state\":\"paid\",\"amount_fen\":999}' WHERE seq = 5".into(), Problem::Edited { seq: 5 }),
            ("DELETE FROM audit_events WHERE seq = 4".into(), Problem::Deleted { from: 4, to: 4 }),
            ("DELETE FROM audit_events WHERE seq IN (2, 3)".into(), Problem::Deleted { from: 2, to: 3 }),
            (format!("DELETE FROM audit_events WHERE seq = {n}"), Problem::Deleted { from: n, to: n }),
            (
                "UPDATE audit_events SET seq = -1 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -1".into(),
                Problem::Reordered { seq: 4, originally: 5 },
            ),
            (
                "DELETE FROM audit_events WHERE seq = 3; UPDATE audit_events SET seq = seq - 1 WHERE seq > 3".into(),
                Problem::Deleted { from: 3, to: 3 },
            ),
        ];
        for (sql, want) in cases {
            let got = tamper(t, &format!("{restore} {sql}")).await;
            assert_eq!(got, vec![want.clone()], "after `{sql}`");
            assert!(!want.describe(true).is_empty() && !want.describe(false).is_empty());
        }
        // Edited with the hash recomputed: the next event no longer links to it.
        let mut l = open(t).await;
        l.db.batch(&restore).await.unwrap();
        let e = huiqi_ledger::audit::load_events(&mut l.db).await.unwrap();
        let ev = &e[2];
        let h = huiqi_ledger::audit::digest(
            ev.seq,
            &ev.prev_hash,
            "mallory",
            &ev.at,
            &ev.action,
            &ev.entity,
            &ev.before,
            &ev.after,
        );
        l.db.exec(
            "UPDATE audit_events SET actor = 'mallory', hash = $1 WHERE seq = 3",
            &huiqi_ledger::args![h],
        )
        .await
        .unwrap();
        assert_eq!(
            l.verify().await.unwrap().problems,
            vec![Problem::EditedRehashed { seq: 4 }]
        );
        // A state changed behind the audit trail's back.
        l.db.batch(&restore).await.unwrap();
        assert!(l.verify().await.unwrap().ok());
        l.db.batch("UPDATE items SET state = 'paid' WHERE state = 'approved'")
            .await
            .unwrap();
        let p = l.verify().await.unwrap().problems;
        assert!(matches!(p[0], Problem::StateMismatch { .. }), "{p:?}");
        l.close().await;
    });
}

#[test]
fn award_history_and_reconciliation() {
    each_backend(async |t| {
        let mut l = open(t).await;
        paid_setup(&mut l).await;
        let f2 = lines(&mut l, F2, HT, 2023).await[0].0;
        l.apply(&ctx("2024-02-10"), &ids(&[f2]), &Action::Approve)
            .await
            .unwrap();
        // Awarded: F1 (paid) and F2 (approved); F3 only computed.
        let a = l.awards(2024, false).await.unwrap();
        assert_eq!(
            a.iter()
                .map(|x| (x.firm_id.as_str(), x.fen))
                .collect::<Vec<_>>(),
            [(F1, 5_000_000), (F2, 5_000_000)]
        );
        let p = l.awards(2024, true).await.unwrap();
        assert_eq!(p.len(), 1);
        assert!(l.awards(2023, false).await.unwrap().is_empty());
        let budgets = [Budget {
            name: "高企资金池".into(),
            clauses: vec![HT.into()],
            fen: 1_000_000_000,
        }];
        let rec = l.reconcile(2023, &budgets).await.unwrap();
        let ht = rec.iter().find(|r| r.label == HT).unwrap();
        assert_eq!(
            (
                ht.budget,
                ht.computed,
                ht.approved,
                ht.paid,
                ht.entitlements
            ),
            (Some(1_000_000_000), 10_000_000, 10_000_000, 5_000_000, 2)
        );
        let rv = rec.iter().find(|r| r.label == RV).unwrap();
        assert_eq!(
            (rv.budget, rv.computed, rv.approved, rv.paid),
            (None, 100_000_000, 0, 0)
        );
        let total = rec.last().unwrap();
        assert_eq!((total.computed, total.paid), (110_000_000, 5_000_000));
        l.close().await;
    });
}

#[test]
fn bulk_steps_select_by_filters() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let rows: Vec<(String, i64)> = (0..1200)
            .map(|i| (format!("9133020{i:04}AAAAAAX"), 100 + i))
            .collect();
        let r: Vec<(&str, &str, &str, i64)> = rows
            .iter()
            .map(|(f, a)| (f.as_str(), HT, "首次认定", *a))
            .collect();
        let s = l
            .record(&ctx("2024-02-01"), &run(2023, "bulk", &r))
            .await
            .unwrap();
        assert_eq!(s.new, 1200);
        let sel = Selection {
            all: true,
            clause: Some(HT.into()),
            period: Some(2023),
            limit: Some(1000),
            ..Default::default()
        };
        assert_eq!(
            l.apply(&ctx("2024-02-02"), &sel, &Action::Approve)
                .await
                .unwrap()
                .len(),
            1000
        );
        assert_eq!(
            l.apply(&ctx("2024-02-02"), &all(), &Action::Approve)
                .await
                .unwrap()
                .len(),
            200
        );
        assert_eq!(
            l.apply(&ctx("2024-02-02"), &all(), &Action::Approve)
                .await
                .unwrap()
                .len(),
            0
        );
        let firm = Selection {
            all: true,
            firm: Some(rows[7].0.clone()),
            ..Default::default()
        };
        assert_eq!(
            l.apply(&ctx("2024-03-01"), &firm, &announce())
                .await
                .unwrap()
                .len(),
            1
        );
        let (_, _, _, _, list) = l.notice_list(None).await.unwrap();
        assert_eq!(list.len(), 1);
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
    });
}

/// The server's read connections see what the writer committed and cannot write themselves:
/// a read job that tried would fail in the database, not change the ledger.
#[test]
fn a_reader_sees_commits_and_cannot_write() {
    each_backend(async |t| {
        let mut w = open(t).await;
        let mut r = huiqi_ledger::Ledger::open_reader(t).await.unwrap();
        assert_eq!(count(&mut r, "SELECT COUNT(*) FROM items").await, 0);
        w.record(
            &ctx("2024-02-01"),
            &run(2023, "a", &[(F1, HT, "首次认定", 5_000_000)]),
        )
        .await
        .unwrap();
        assert_eq!(count(&mut r, "SELECT COUNT(*) FROM items").await, 1);
        let before = fingerprint(&mut w).await;
        let e = r
            .apply(&ctx("2024-02-02"), &all(), &Action::Approve)
            .await
            .unwrap_err();
        assert_eq!(e.kind, huiqi_ledger::ErrorKind::Db, "{e}");
        assert!(r.db.exec("DELETE FROM items", &[]).await.is_err());
        assert_eq!(fingerprint(&mut w).await, before);
        assert!(w.verify().await.unwrap().ok());
        r.close().await;
        w.close().await;
    });
}

async fn count_events(l: &mut huiqi_ledger::Ledger) -> i64 {
    l.db.int("SELECT COUNT(*) FROM audit_events", &[])
        .await
        .unwrap()
}

/// Re-hashes the chain from event `from` on (a forger with write access to the database who
/// also rewrites every later hash and the head), so only the replay can tell.
async fn rehash_from(l: &mut huiqi_ledger::Ledger, from: i64) {
    let events = huiqi_ledger::audit::load_events(&mut l.db).await.unwrap();
    let mut prev = match from {
        1 => "0".repeat(64),
        _ => events[(from - 2) as usize].hash.clone(),
    };
    for e in events.iter().filter(|e| e.seq >= from) {
        let h = huiqi_ledger::audit::digest(
            e.seq, &prev, &e.actor, &e.at, &e.action, &e.entity, &e.before, &e.after,
        );
        l.db.exec(
            "UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3",
            &huiqi_ledger::args![prev.clone(), h.clone(), e.seq],
        )
        .await
        .unwrap();
        prev = h;
    }
    l.db.exec(
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &huiqi_ledger::args![prev],
    )
    .await
    .unwrap();
}

/// Issue 21: a bulk step writes one audit event listing its lines (not one per line), indexed
/// under each line; timelines, who-approved and the step checks find it through the index, and
/// `verify` replays it (the lines' digest included) and checks the index.
#[test]
fn a_bulk_step_is_one_event_indexed_under_each_line() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let rows: Vec<String> = (0..40).map(|i| format!("9133020{i:04}AAAAAAX")).collect();
        let r: Vec<(&str, &str, &str, i64)> = rows
            .iter()
            .enumerate()
            .map(|(i, f)| (f.as_str(), HT, "首次认定", 1_000 + i as i64))
            .collect();
        l.record(&ctx("2024-02-01"), &run(2023, "steps", &r))
            .await
            .unwrap();
        let before = count_events(&mut l).await;
        l.apply(
            &ctx("2024-02-02"),
            &ids(&[7]),
            &Action::Reject {
                reason: "失信".into(),
            },
        )
        .await
        .unwrap();
        let moved = l
            .apply(&ctx("2024-02-10"), &all(), &Action::Approve)
            .await
            .unwrap();
        assert_eq!(moved.len(), 39);
        assert_eq!(count_events(&mut l).await, before + 2, "one event per step");
        let approve_seq = before + 2;
        let indexed =
            l.db.int(
                "SELECT COUNT(*) FROM line_events WHERE seq = $1",
                &huiqi_ledger::args![approve_seq],
            )
            .await
            .unwrap();
        assert_eq!(indexed, 39);
        // Who approved, a line's timeline and its events page find the step's event.
        let who = l.actors_of(&[1, 7, 40], "approve").await.unwrap();
        assert_eq!(who, vec![(1, "tester".into()), (40, "tester".into())]);
        let st = l.status(&rows[0]).await.unwrap();
        let steps: Vec<&str> = st[0].steps.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(steps, ["record", "approve"]);
        let (n, page) = l.events_page(Some("item:1"), 0, 10, 200).await.unwrap();
        assert_eq!((n, page[0].event.seq), (1, approve_seq));
        // The rest of the workflow in bulk, a batch returned, payments and a recovery step.
        l.apply(&ctx("2024-03-01"), &all(), &announce())
            .await
            .unwrap();
        l.apply(&ctx("2024-03-03"), &all(), &Action::Confirm)
            .await
            .unwrap();
        let b = l
            .export_batch(&ctx("2024-03-05"), &all())
            .await
            .unwrap()
            .unwrap();
        l.cancel_batch(&ctx("2024-03-06"), b.id, "账号有误")
            .await
            .unwrap();
        for id in [2, 3] {
            l.apply(&ctx("2024-03-20"), &ids(&[id]), &pay(&format!("R-{id}")))
                .await
                .unwrap();
        }
        l.apply(
            &ctx("2024-04-01"),
            &ids(&[2, 3]),
            &Action::Recover {
                reason: "骗取补贴".into(),
            },
        )
        .await
        .unwrap();
        let v = l.verify().await.unwrap();
        assert!(v.ok(), "{:?}", v.problems);
        // The index is checked: a row removed, a row added.
        l.db.exec(
            "DELETE FROM line_events WHERE item_id = 5 AND seq = $1",
            &huiqi_ledger::args![approve_seq],
        )
        .await
        .unwrap();
        l.db.batch("INSERT INTO line_events (item_id, seq) VALUES (6, 1)")
            .await
            .unwrap();
        assert_eq!(
            l.verify().await.unwrap().problems,
            vec![
                Problem::Missing {
                    table: "line_events".into(),
                    row: format!("line 5 → event #{approve_seq}"),
                },
                Problem::Unrecorded {
                    table: "line_events".into(),
                    row: "line 6 → event #1".into(),
                },
            ]
        );
        l.db.exec(
            "INSERT INTO line_events (item_id, seq) VALUES (5, $1)",
            &huiqi_ledger::args![approve_seq],
        )
        .await
        .unwrap();
        l.db.batch("DELETE FROM line_events WHERE item_id = 6 AND seq = 1")
            .await
            .unwrap();
        assert!(l.verify().await.unwrap().ok());
        // A step's event whose lines' digest is not what its lines became, the chain re-hashed
        // after it: the replay names the event.
        l.db.exec(
            "UPDATE audit_events SET after_json = REPLACE(after_json, '\"lines_sha256\":\"', '\"lines_sha256\":\"0') WHERE seq = $1",
            &huiqi_ledger::args![approve_seq],
        )
        .await
        .unwrap();
        rehash_from(&mut l, approve_seq).await;
        let p = l.verify().await.unwrap().problems;
        assert!(
            matches!(&p[..], [Problem::Mismatch { table, row, column, .. }]
                if table == "audit_events" && *row == approve_seq.to_string() && column == "after_json.lines_sha256"),
            "{p:?}"
        );
        l.close().await;
    });
}

/// A step checks each line against its events found through the index: a line whose row was
/// moved back behind the chain's back is refused, bulk or not.
#[test]
fn a_step_refuses_a_line_moved_back_behind_a_bulk_event() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let r = run(
            2023,
            "a",
            &[
                (F1, HT, "首次认定", 5_000_000),
                (F2, HT, "首次认定", 5_000_000),
                (F3, RV, "", 100_000_000),
            ],
        );
        l.record(&ctx("2024-02-01"), &r).await.unwrap();
        l.apply(&ctx("2024-02-10"), &all(), &Action::Approve)
            .await
            .unwrap();
        l.db.batch("UPDATE items SET state = 'computed' WHERE id = 2")
            .await
            .unwrap();
        let e = l
            .apply(&ctx("2024-02-11"), &ids(&[2]), &Action::Approve)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Integrity, "{e}");
        l.close().await;
    });
}
