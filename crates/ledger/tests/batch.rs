//! Issue 14 §2: exactly once with the treasury. Exporting for payment makes a batch, its lines
//! wait in `exported` and a corrected rerun does not supersede them; the rerun's difference
//! becomes its own line once the payment is recorded. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::*;
use huiqi_ledger::report::write_batch_csv;
use huiqi_ledger::{read_paid_file, Action, ErrorKind, Ledger, Selection};

const HT: &str = "高企认定奖励";

fn all() -> Selection {
    Selection {
        all: true,
        ..Default::default()
    }
}

/// Records F1 and F2 (5万 each) and takes both lines to confirmed.
async fn confirmed(l: &mut Ledger) {
    let r = run(
        2023,
        "a",
        &[
            (F1, HT, "首次认定", 5_000_000),
            (F2, HT, "首次认定", 5_000_000),
        ],
    );
    l.record(&ctx("2024-02-01"), &r).await.unwrap();
    for (a, at) in [
        (Action::Approve, "2024-02-10"),
        (
            Action::Announce {
                title: "公示".into(),
                opens: "2024-03-01T00:00:00Z".into(),
                closes: "2024-03-08T00:00:00Z".into(),
            },
            "2024-03-01",
        ),
        (Action::Confirm, "2024-03-03"),
    ] {
        l.apply(&ctx(at), &all(), &a).await.unwrap();
    }
}

/// The treasury fills in `支付流水号` (references by line) and sends the file back.
fn fill(path: &std::path::Path, refs: &[(i64, &str)], amount: Option<(i64, i64)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for (k, line) in text.lines().enumerate() {
        if k == 0 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        let id: i64 = cells[1].parse().unwrap();
        if let Some((item, fen)) = amount {
            if item == id {
                cells[8] = fen.to_string();
            }
        }
        let r = refs.iter().find(|r| r.0 == id).map(|r| r.1).unwrap_or("");
        *cells.last_mut().unwrap() = r.to_string();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_rerun_after_export_does_not_make_the_treasury_pay_twice() {
    each_backend(async |t| {
        let dir = tempdir();
        let mut l = open(t).await;
        confirmed(&mut l).await;
        // export payments: a batch; the file goes to the treasury.
        let batch = l
            .export_batch(&ctx("2024-03-10"), &all())
            .await
            .unwrap()
            .expect("two confirmed lines");
        assert_eq!(batch.rows.len(), 2);
        let f = dir.join("payments.csv");
        write_batch_csv(&batch, &f).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("批次号"), "{text}");
        assert!(
            text.lines()
                .skip(1)
                .all(|l| l.starts_with(&format!("{},", batch.id))),
            "{text}"
        );
        assert_eq!(
            lines(&mut l, F1, HT, 2023).await,
            [(1, "exported".to_string(), 5_000_000)]
        );
        // Nothing else can move an exported line: it is on its way to the treasury.
        let e = l
            .apply(&ctx("2024-03-11"), &all(), &Action::Approve)
            .await
            .unwrap();
        assert!(e.is_empty());
        assert!(l.payable().await.unwrap().is_empty());
        // A corrected rerun: F1 up by 1万. The exported line is not superseded; the difference
        // waits.
        let re = run(
            2023,
            "corrected",
            &[
                (F1, HT, "首次认定", 6_000_000),
                (F2, HT, "首次认定", 5_000_000),
            ],
        );
        let s = l.record(&ctx("2024-03-12"), &re).await.unwrap();
        assert_eq!((s.changed, s.superseded, s.topups, s.waiting), (1, 0, 0, 1));
        assert_eq!(
            lines(&mut l, F1, HT, 2023).await,
            [(1, "exported".to_string(), 5_000_000)]
        );
        assert!(l.verify().await.unwrap().ok());
        // The treasury's paid file comes back and is matched to its batch.
        fill(&f, &[(1, "T-001"), (2, "T-002")], None);
        let paid = read_paid_file(&f).unwrap();
        assert_eq!(paid.batch, Some(batch.id));
        let s = l.pay_batch(&ctx("2024-03-20"), &paid, false).await.unwrap();
        assert_eq!((s.paid, s.paid_fen, s.already), (2, 10_000_000, 0));
        assert!(s.refused.is_empty() && s.outstanding.is_empty());
        assert_eq!(s.adjustments, 1);
        // F1: paid once (5万); the corrected difference is a separate line, after payment.
        let f1 = lines(&mut l, F1, HT, 2023).await;
        assert_eq!(
            f1,
            [
                (1, "paid".to_string(), 5_000_000),
                (3, "computed".to_string(), 1_000_000)
            ]
        );
        let kind =
            l.db.row("SELECT kind, original_id FROM items WHERE id = 3", &[])
                .await
                .unwrap()
                .unwrap();
        assert_eq!((kind.s(0), kind.oi(1)), ("topup".to_string(), Some(1)));
        assert_eq!(
            count(&mut l, "SELECT COUNT(*) FROM payments WHERE item_id = 1").await,
            1
        );
        // The same file again: nothing is paid twice.
        let s = l.pay_batch(&ctx("2024-03-21"), &paid, false).await.unwrap();
        assert_eq!((s.paid, s.already, s.adjustments), (0, 2, 0));
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 2);
        let state =
            l.db.row(
                "SELECT state FROM payment_batches WHERE id = $1",
                &huiqi_ledger::args![batch.id],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.s(0), "paid");
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn one_bad_line_refuses_the_file_unless_partial_is_asked_and_a_batch_can_be_cancelled() {
    each_backend(async |t| {
        let dir = tempdir();
        let mut l = open(t).await;
        confirmed(&mut l).await;
        let batch = l
            .export_batch(&ctx("2024-03-10"), &all())
            .await
            .unwrap()
            .unwrap();
        let f = dir.join("payments.csv");
        write_batch_csv(&batch, &f).unwrap();
        // F2's line comes back with another amount.
        fill(&f, &[(1, "T-001"), (2, "T-002")], Some((2, 4_000_000)));
        let paid = read_paid_file(&f).unwrap();
        let before = fingerprint(&mut l).await;
        let e = l
            .pay_batch(&ctx("2024-03-20"), &paid, false)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(
            e.en.contains("nothing was paid") && e.en.contains("differs"),
            "{}",
            e.en
        );
        assert_eq!(fingerprint(&mut l).await, before);
        // Asked explicitly: the good line is paid, the bad one listed and still exported.
        let s = l.pay_batch(&ctx("2024-03-20"), &paid, true).await.unwrap();
        assert_eq!((s.paid, s.paid_fen), (1, 5_000_000));
        assert_eq!(s.refused.len(), 1);
        assert_eq!(s.refused[0].item, Some(2));
        assert!(s.refused[0].en.contains("differs"), "{:?}", s.refused);
        assert_eq!(s.outstanding, [2]);
        assert_eq!(
            lines(&mut l, F2, HT, 2023).await,
            [(2, "exported".to_string(), 5_000_000)]
        );
        // A rerun lowers F2 while its line is out; the treasury returns the rest unpaid and the
        // batch is cancelled: the line is back, and the correction now replaces it.
        let re = run(
            2023,
            "lower",
            &[
                (F1, HT, "首次认定", 5_000_000),
                (F2, HT, "首次认定", 2_000_000),
            ],
        );
        let r = l.record(&ctx("2024-03-21"), &re).await.unwrap();
        assert_eq!((r.changed, r.waiting, r.superseded), (1, 1, 0));
        let e = l
            .cancel_batch(&ctx("2024-03-22"), batch.id, " ")
            .await
            .unwrap_err();
        assert!(e.en.contains("reason"), "{}", e.en);
        let c = l
            .cancel_batch(&ctx("2024-03-22"), batch.id, "国库退回")
            .await
            .unwrap();
        assert_eq!((c.returned, c.superseded, c.new_lines), (1, 1, 1));
        assert_eq!(
            lines(&mut l, F2, HT, 2023).await,
            [
                (2, "superseded".to_string(), 5_000_000),
                (3, "computed".to_string(), 2_000_000)
            ]
        );
        // A cancelled batch pays nothing.
        let e = l
            .pay_batch(&ctx("2024-03-23"), &paid, true)
            .await
            .unwrap_err();
        assert!(e.en.contains("cancelled"), "{}", e.en);
        assert_eq!(count(&mut l, "SELECT COUNT(*) FROM payments").await, 1);
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_paid_file_is_matched_to_its_batch() {
    each_backend(async |t| {
        let dir = tempdir();
        let mut l = open(t).await;
        confirmed(&mut l).await;
        let one = Selection {
            ids: vec![1],
            ..Default::default()
        };
        let b1 = l
            .export_batch(&ctx("2024-03-10"), &one)
            .await
            .unwrap()
            .unwrap();
        let b2 = l
            .export_batch(&ctx("2024-03-10"), &all())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(b1.id, b2.id);
        assert_eq!(b2.rows.len(), 1);
        assert!(l
            .export_batch(&ctx("2024-03-10"), &all())
            .await
            .unwrap()
            .is_none());
        // Batch 2's file, with batch 1's line added by hand.
        let f = dir.join("b2.csv");
        write_batch_csv(&b2, &f).unwrap();
        let mut text = std::fs::read_to_string(&f).unwrap();
        text.push_str(&format!(
            "{},1,{F1},美旭精密,{HT},2023,首次认定,50000.00,5000000,\n",
            b2.id
        ));
        std::fs::write(&f, text).unwrap();
        fill(&f, &[(1, "T-1"), (2, "T-2")], None);
        let paid = read_paid_file(&f).unwrap();
        let e = l
            .pay_batch(&ctx("2024-03-20"), &paid, false)
            .await
            .unwrap_err();
        assert!(
            e.en.contains(&format!("not in batch {}", b2.id)),
            "{}",
            e.en
        );
        // A file naming two batches is refused as a whole.
        let mixed = dir.join("mixed.csv");
        let text = std::fs::read_to_string(&f).unwrap().replacen(
            &format!("\n{},1,", b2.id),
            &format!("\n{},1,", b1.id),
            1,
        );
        std::fs::write(&mixed, text).unwrap();
        let e = read_paid_file(&mixed).unwrap_err();
        assert!(e.en.contains("batch"), "{}", e.en);
        // The batch's file can be written again from the ledger.
        let again = l.batch(b1.id).await.unwrap();
        assert_eq!(again.rows.len(), 1);
        assert_eq!(again.rows[0].line, 1);
        l.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
