//! Issue 14 §1: the audit chain commits to every amount and key, `verify` replays it against the
//! tables and names the table, row and column of each edit, and a workflow step refuses a line
//! whose row no longer matches the chain. One edit per case, on a fresh ledger each time, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::*;
use huiqi_ledger::{Action, ErrorKind, Ledger, Problem, Selection};

const HT: &str = "高企认定奖励";
const RV: &str = "营收首次突破";

fn ids(v: &[i64]) -> Selection {
    Selection {
        ids: v.to_vec(),
        ..Default::default()
    }
}

fn announce() -> Action {
    Action::Announce {
        title: "2023年度公示".into(),
        opens: "2024-03-01T00:00:00Z".into(),
        closes: "2024-03-08T00:00:00Z".into(),
    }
}

/// Lines 1 (F1 高企 5万), 3 (F3 营收 100万) and 5 (F3 高企 4万, the corrected award that
/// replaced line 4) are open; line 2 (F2) is rejected.
async fn setup(l: &mut Ledger) {
    let a = run(
        2023,
        "a",
        &[
            (F1, HT, "首次认定", 5_000_000),
            (F2, HT, "首次认定", 5_000_000),
            (F3, RV, "", 100_000_000),
            (F3, HT, "首次认定", 3_000_000),
        ],
    );
    l.record(&ctx("2024-02-01"), &a).await.unwrap();
    l.apply(
        &ctx("2024-02-02"),
        &ids(&[2]),
        &Action::Reject {
            reason: "失信".into(),
        },
    )
    .await
    .unwrap();
    let b = run(
        2023,
        "b",
        &[
            (F1, HT, "首次认定", 5_000_000),
            (F2, HT, "首次认定", 5_000_000),
            (F3, RV, "", 100_000_000),
            (F3, HT, "首次认定", 4_000_000),
        ],
    );
    let s = l.record(&ctx("2024-02-03"), &b).await.unwrap();
    assert_eq!((s.changed, s.superseded), (1, 1));
}

/// Approve, announce, confirm and pay lines 1, 3 and 5, each step on its own; returns the
/// errors of the steps that were refused.
async fn workflow(l: &mut Ledger) -> Vec<huiqi_ledger::Error> {
    let mut errs = vec![];
    for id in [1, 3, 5] {
        for (a, at) in [
            (Action::Approve, "2024-02-10"),
            (announce(), "2024-03-01"),
            (Action::Confirm, "2024-03-03"),
            (
                Action::Pay {
                    reference: format!("R-{id}"),
                },
                "2024-03-20",
            ),
        ] {
            if let Err(e) = l.apply(&ctx(at), &ids(&[id]), &a).await {
                errs.push(e);
                break;
            }
        }
    }
    errs
}

/// Whether `p` names `table` and `row` (and `column`, when given).
fn names(p: &Problem, table: &str, row: &str, column: Option<&str>) -> bool {
    match p {
        Problem::Mismatch {
            table: t,
            row: r,
            column: c,
            ..
        } => t == table && r == row && column.is_none_or(|x| x == c),
        Problem::Unrecorded { table: t, row: r } | Problem::Missing { table: t, row: r } => {
            t == table && r == row && column.is_none()
        }
        Problem::StateMismatch { entity, detail } => {
            table == "items"
                && entity == &format!("item:{row}")
                && column.is_none_or(|c| detail.contains(c))
        }
        _ => false,
    }
}

struct Case {
    sql: &'static str,
    table: &'static str,
    row: &'static str,
    column: Option<&'static str>,
    /// Before the workflow (false: after it).
    before: bool,
    after: bool,
}

const fn case(
    sql: &'static str,
    table: &'static str,
    row: &'static str,
    column: &'static str,
) -> Case {
    Case {
        sql,
        table,
        row,
        column: Some(column),
        before: true,
        after: true,
    }
}

fn corpus() -> Vec<Case> {
    vec![
        case(
            "UPDATE items SET amount_fen = 9000000 WHERE id = 1",
            "items",
            "1",
            "amount_fen",
        ),
        case(
            "UPDATE items SET amount_fen = 400000000 WHERE id = 3",
            "items",
            "3",
            "amount_fen",
        ),
        case(
            "UPDATE items SET kind = 'topup' WHERE id = 5",
            "items",
            "5",
            "kind",
        ),
        case(
            "UPDATE items SET entitlement_id = 2 WHERE id = 5",
            "items",
            "5",
            "entitlement_id",
        ),
        case(
            "UPDATE items SET version = 7 WHERE id = 5",
            "items",
            "5",
            "version",
        ),
        case(
            "UPDATE items SET original_id = 1 WHERE id = 5",
            "items",
            "5",
            "original_id",
        ),
        case(
            "UPDATE items SET run_id = '000000000000000b' WHERE id = 1",
            "items",
            "1",
            "run_id",
        ),
        case(
            "UPDATE items SET reason = NULL WHERE id = 2",
            "items",
            "2",
            "reason",
        ),
        case(
            "UPDATE items SET reason = '' WHERE id = 1",
            "items",
            "1",
            "reason",
        ),
        Case {
            column: None,
            after: false,
            ..case("UPDATE items SET id = 33 WHERE id = 3", "items", "3", "")
        },
        Case {
            before: false,
            ..case(
                "UPDATE items SET notice_id = NULL WHERE id = 1",
                "items",
                "1",
                "notice_id",
            )
        },
        case(
            "UPDATE entitlements SET computed_fen = 9000000 WHERE id = 1",
            "entitlements",
            "1",
            "computed_fen",
        ),
        case(
            "UPDATE entitlements SET firm_id = '91330299MA2ZZZZZ9Z' WHERE id = 1",
            "entitlements",
            "1",
            "firm_id",
        ),
        case(
            "UPDATE entitlements SET clause = '其他条款' WHERE id = 3",
            "entitlements",
            "3",
            "clause",
        ),
        case(
            "UPDATE entitlements SET period = 2022 WHERE id = 1",
            "entitlements",
            "1",
            "period",
        ),
        case(
            "UPDATE entitlements SET tranche = '重新认定' WHERE id = 1",
            "entitlements",
            "1",
            "tranche",
        ),
        case(
            "UPDATE firms SET name = '假冒企业' WHERE firm_id = '91330200MA2H4A3X26'",
            "firms",
            "91330200MA2H4A3X26",
            "name",
        ),
        case(
            "UPDATE runs SET policy_hash = 'x' WHERE run_id = '000000000000000a'",
            "runs",
            "000000000000000a",
            "policy_hash",
        ),
        Case {
            before: false,
            ..case(
                "UPDATE payments SET reference = 'R-evil' WHERE item_id = 1",
                "payments",
                "1",
                "reference",
            )
        },
        Case {
            before: false,
            ..case(
                "UPDATE payments SET amount_fen = 9000000 WHERE item_id = 1",
                "payments",
                "1",
                "amount_fen",
            )
        },
        Case {
            before: false,
            column: None,
            ..case(
                "UPDATE payments SET item_id = 2 WHERE item_id = 1",
                "payments",
                "1",
                "",
            )
        },
        Case {
            before: false,
            ..case(
                "UPDATE notices SET closes = '2099-01-01T00:00:00Z' WHERE id = 1",
                "notices",
                "1",
                "closes",
            )
        },
    ]
}

#[test]
fn every_edit_of_an_amount_or_key_is_detected_and_named() {
    for c in corpus() {
        for before in [true, false] {
            if (before && !c.before) || (!before && !c.after) {
                continue;
            }
            each_backend(async |t| {
                let mut l = open(t).await;
                setup(&mut l).await;
                let clean = l.verify().await.unwrap();
                assert!(clean.ok(), "{:?}", clean.problems);
                if before {
                    l.db.batch(c.sql).await.unwrap();
                    workflow(&mut l).await;
                } else {
                    assert!(workflow(&mut l).await.is_empty());
                    l.db.batch(c.sql).await.unwrap();
                }
                let r = l.verify().await.unwrap();
                let when = if before { "before" } else { "after" };
                assert!(
                    r.problems
                        .iter()
                        .any(|p| names(p, c.table, c.row, c.column)),
                    "`{}` {when} the workflow: verify said {:?}",
                    c.sql,
                    r.problems
                );
                for p in &r.problems {
                    assert!(!p.describe(true).is_empty() && !p.describe(false).is_empty());
                }
                // Whatever happened, nothing was paid but the amounts the chain committed to.
                let paid =
                    l.db.rows(
                        "SELECT p.item_id, p.amount_fen FROM payments p ORDER BY p.item_id",
                        &[],
                    )
                    .await
                    .unwrap();
                if before {
                    for r in paid {
                        let want = [(1, 5_000_000), (3, 100_000_000), (5, 4_000_000)];
                        assert!(
                            want.contains(&(r.i(0), r.i(1))),
                            "`{}`: paid {} fen on line {}",
                            c.sql,
                            r.i(1),
                            r.i(0)
                        );
                    }
                }
                l.close().await;
            });
        }
    }
}

/// A row edited behind the chain's back is refused by the next step that touches it: the step
/// fails as an integrity error, names the line and changes nothing.
#[test]
fn a_step_refuses_a_line_whose_row_no_longer_matches_the_chain() {
    let edits = [
        "UPDATE items SET amount_fen = 9000000 WHERE id = 1",
        "UPDATE items SET entitlement_id = 2 WHERE id = 5",
        "UPDATE items SET kind = 'topup' WHERE id = 1",
        "UPDATE entitlements SET firm_id = '91330299MA2ZZZZZ9Z' WHERE id = 1",
        "UPDATE entitlements SET tranche = '重新认定' WHERE id = 1",
    ];
    // Each step, with the edit made just before it.
    let steps: [(Action, &str); 4] = [
        (Action::Approve, "2024-02-10"),
        (announce(), "2024-03-01"),
        (Action::Confirm, "2024-03-03"),
        (
            Action::Pay {
                reference: "R-1".into(),
            },
            "2024-03-20",
        ),
    ];
    for sql in edits {
        for k in 0..steps.len() {
            each_backend(async |t| {
                let mut l = open(t).await;
                setup(&mut l).await;
                let line = if sql.contains("id = 5") { 5 } else { 1 };
                for (a, at) in &steps[..k] {
                    l.apply(&ctx(at), &ids(&[line]), a).await.unwrap();
                }
                l.db.batch(sql).await.unwrap();
                let before = fingerprint(&mut l).await;
                let (a, at) = &steps[k];
                match l.apply(&ctx(at), &ids(&[line]), a).await {
                    Err(e) => {
                        assert!(
                            e.kind == ErrorKind::Integrity || e.kind == ErrorKind::Input,
                            "{}",
                            e.en
                        );
                        assert!(e.en.contains(&format!("line {line}")), "{}", e.en);
                    }
                    Ok(_) => panic!("`{sql}` then {}: the step went ahead", a.name()),
                }
                assert_eq!(fingerprint(&mut l).await, before);
                l.close().await;
            });
        }
    }
}

/// Paying pays what the chain committed to: with the line's amount edited, `pay` refuses.
#[test]
fn paying_refuses_an_amount_the_chain_did_not_commit_to() {
    each_backend(async |t| {
        let mut l = open(t).await;
        setup(&mut l).await;
        for (a, at) in [
            (Action::Approve, "2024-02-10"),
            (announce(), "2024-03-01"),
            (Action::Confirm, "2024-03-03"),
        ] {
            l.apply(&ctx(at), &ids(&[1]), &a).await.unwrap();
        }
        l.db.batch("UPDATE items SET amount_fen = 9000000 WHERE id = 1")
            .await
            .unwrap();
        let e = l
            .apply(
                &ctx("2024-03-20"),
                &ids(&[1]),
                &Action::Pay {
                    reference: "R-1".into(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.en);
        assert!(e.en.contains("amount_fen"), "{}", e.en);
        assert!(!e.zh.is_empty());
        let file = [huiqi_ledger::PaymentLine {
            line: 2,
            item: 1,
            reference: "R-1".into(),
            fen: Some(9_000_000),
            firm_id: None,
        }];
        let e = l.pay_file(&ctx("2024-03-20"), &file).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.en);
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 0);
        // A line moved to `confirmed` in the database, skipping 公示: not paid either.
        l.apply(&ctx("2024-02-10"), &ids(&[3]), &Action::Approve)
            .await
            .unwrap();
        l.db.batch("UPDATE items SET state = 'confirmed' WHERE id = 3")
            .await
            .unwrap();
        let e = l
            .apply(
                &ctx("2024-03-20"),
                &ids(&[3]),
                &Action::Pay {
                    reference: "R-3".into(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.en);
        assert!(
            e.en.contains("line 3") && e.en.contains("state"),
            "{}",
            e.en
        );
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 0);
        l.close().await;
    });
}

/// Batches, payments in a batch and recoveries: each edit named by `verify`.
#[test]
fn batch_and_recovery_rows_are_checked_too() {
    let edits: [(&str, &str, &str, Option<&str>); 8] = [
        (
            "UPDATE payment_batches SET total_fen = 1 WHERE id = 1",
            "payment_batches",
            "1",
            Some("total_fen"),
        ),
        (
            "UPDATE payment_batches SET state = 'exported', closed_at = NULL WHERE id = 1",
            "payment_batches",
            "1",
            Some("state"),
        ),
        (
            "UPDATE payments SET batch_id = NULL WHERE item_id = 3",
            "payments",
            "3",
            Some("batch_id"),
        ),
        (
            "UPDATE items SET batch_id = NULL WHERE id = 3",
            "items",
            "3",
            Some("batch_id"),
        ),
        (
            "UPDATE recoveries SET amount_fen = 1 WHERE item_id = 1",
            "recoveries",
            "1",
            Some("amount_fen"),
        ),
        (
            "UPDATE recoveries SET reason = '无' WHERE item_id = 1",
            "recoveries",
            "1",
            Some("reason"),
        ),
        (
            "DELETE FROM recoveries WHERE item_id = 1",
            "recoveries",
            "1",
            None,
        ),
        (
            "DELETE FROM payments WHERE item_id = 3",
            "payments",
            "3",
            None,
        ),
    ];
    for (sql, table, row, column) in edits {
        each_backend(async |t| {
            let dir = tempdir();
            let mut l = open(t).await;
            setup(&mut l).await;
            for id in [1, 3, 5] {
                for (a, at) in [
                    (Action::Approve, "2024-02-10"),
                    (announce(), "2024-03-01"),
                    (Action::Confirm, "2024-03-03"),
                ] {
                    l.apply(&ctx(at), &ids(&[id]), &a).await.unwrap();
                }
            }
            // Line 1 paid by hand and clawed back; 3 paid in batch 1; 5 out in batch 2.
            l.apply(
                &ctx("2024-03-20"),
                &ids(&[1]),
                &Action::Pay {
                    reference: "R-1".into(),
                },
            )
            .await
            .unwrap();
            l.apply(
                &ctx("2024-06-01"),
                &ids(&[1]),
                &Action::Recover {
                    reason: "迁出".into(),
                },
            )
            .await
            .unwrap();
            let b = l
                .export_batch(&ctx("2024-03-10"), &ids(&[3]))
                .await
                .unwrap()
                .unwrap();
            let f = dir.join("b.csv");
            huiqi_ledger::report::write_batch_csv(&b, &f).unwrap();
            let text = std::fs::read_to_string(&f).unwrap();
            std::fs::write(&f, format!("{}T-3\n", text.trim_end())).unwrap();
            let paid = huiqi_ledger::read_paid_file(&f).unwrap();
            l.pay_batch(&ctx("2024-03-20"), &paid, false).await.unwrap();
            l.export_batch(&ctx("2024-03-21"), &ids(&[5]))
                .await
                .unwrap()
                .unwrap();
            assert!(l.verify().await.unwrap().ok());
            l.db.batch(sql).await.unwrap();
            let p = l.verify().await.unwrap().problems;
            assert!(
                p.iter().any(|p| names(p, table, row, column)),
                "`{sql}`: verify said {p:?}"
            );
            l.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
