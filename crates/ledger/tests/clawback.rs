//! Clawbacks computed by rules (`clawbacks.parquet` of a run): recorded as recovery
//! entitlements of the run's period with a target (the award they recover from), worked through
//! the workflow, netted in the award history, rerun like awards, committed to by the chain; bad
//! files refused with nothing recorded. SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, LargeStringArray, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use common::*;
use huiqi_files::run::{self as runfile, clawback_col as cc, RunManifest};
use huiqi_files::snapshot;
use huiqi_ledger::{
    args, read_results, Action, AwardOut, ErrorKind, Ledger, Problem, RecordSummary, Selection,
};

const HT: &str = "高企认定奖励";
const RV: &str = "营收首次突破";
const RULE: &str = "迁出追回";

fn ids(v: &[i64]) -> Selection {
    Selection {
        ids: v.to_vec(),
        ..Default::default()
    }
}

fn write_parquet(p: &Path, cols: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect()).unwrap();
    let f = std::fs::File::create(p).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn opt_strs(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn i32s(v: &[i32]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}

fn i64s(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

/// Named columns of a parquet file.
type Cols = Vec<(&'static str, ArrayRef)>;

/// A clawback row: (firm, rule, clause, tranche, award period, 分).
type Claw<'a> = (&'a str, &'a str, &'a str, &'a str, i32, i64);

/// The columns of `clawbacks.parquet` for these rows (base 分 and share made up).
fn claw_cols(rows: &[Claw]) -> Cols {
    vec![
        (
            cc::FIRM_ID,
            strs(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        ),
        (
            cc::RULE,
            strs(&rows.iter().map(|r| r.1).collect::<Vec<_>>()),
        ),
        (
            cc::CLAUSE,
            strs(&rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        ),
        (
            cc::TRANCHE,
            strs(&rows.iter().map(|r| r.3).collect::<Vec<_>>()),
        ),
        (
            cc::AWARD_PERIOD,
            i32s(&rows.iter().map(|r| r.4).collect::<Vec<_>>()),
        ),
        (
            cc::BASE_FEN,
            i64s(&rows.iter().map(|r| r.5 * 5 / 3).collect::<Vec<_>>()),
        ),
        (
            cc::SHARE,
            strs(&rows.iter().map(|_| "3/5").collect::<Vec<_>>()),
        ),
        (
            cc::AMOUNT_FEN,
            i64s(&rows.iter().map(|r| r.5).collect::<Vec<_>>()),
        ),
    ]
}

/// A run to write: its results (firm, clause, tranche, 分) and, when the pack has clawback
/// rules, (the rules it evaluated, the columns of `clawbacks.parquet`).
struct RunSpec<'a> {
    period: i32,
    results: &'a [(&'a str, &'a str, &'a str, i64)],
    clawbacks: Option<(Vec<&'a str>, Cols)>,
}

/// The snapshot (firms table and manifest) under `base/snaps/s1`.
fn snapshot(base: &Path) {
    let snap = base.join("snaps").join("s1");
    std::fs::create_dir_all(&snap).unwrap();
    write_parquet(
        &snap.join(snapshot::table_file(snapshot::FIRMS)),
        vec![
            (snapshot::col::FIRM_ID, strs(&[F1, F2, F3])),
            (
                snapshot::col::NAME,
                strs(&["美旭精密", "甬江科技", "北仑机械"]),
            ),
        ],
    );
    let m = snapshot::Manifest {
        hash: "snaphash".into(),
        schema: Default::default(),
        sources: vec![],
        rows: Default::default(),
        created_by: "test".into(),
    };
    std::fs::write(
        snap.join(snapshot::MANIFEST),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
}

/// Writes the run directory `base/runs/<name>` as `huiqi run` would: results, clawbacks, and a
/// manifest listing both with their SHA-256 (and the clawbacks entry: rules, rows, total).
fn write_run(base: &Path, name: &str, spec: RunSpec) -> PathBuf {
    let run = base.join("runs").join(name);
    std::fs::create_dir_all(&run).unwrap();
    let results = run.join(runfile::RESULTS_PARQUET);
    let r = spec.results;
    write_parquet(
        &results,
        vec![
            (
                runfile::col::FIRM_ID,
                strs(&r.iter().map(|x| x.0).collect::<Vec<_>>()),
            ),
            (
                runfile::col::CLAUSE,
                strs(&r.iter().map(|x| x.1).collect::<Vec<_>>()),
            ),
            (
                runfile::col::TRANCHE,
                strs(&r.iter().map(|x| x.2).collect::<Vec<_>>()),
            ),
            (
                runfile::col::AMOUNT_FEN,
                i64s(&r.iter().map(|x| x.3).collect::<Vec<_>>()),
            ),
        ],
    );
    let mut files = vec![runfile::FileHash {
        file: Some(runfile::RESULTS_PARQUET.into()),
        sha256: sha256(&results),
    }];
    let clawbacks = spec.clawbacks.map(|(rules, cols)| {
        let p = run.join(runfile::CLAWBACKS_PARQUET);
        let amounts: Vec<Option<i64>> = cols
            .iter()
            .find(|c| c.0 == cc::AMOUNT_FEN)
            .and_then(|c| c.1.as_any().downcast_ref::<Int64Array>())
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        write_parquet(&p, cols);
        files.push(runfile::FileHash {
            file: Some(runfile::CLAWBACKS_PARQUET.into()),
            sha256: sha256(&p),
        });
        runfile::Clawbacks {
            rules: rules.iter().map(|r| r.to_string()).collect(),
            rows: amounts.len(),
            amount_fen: amounts.iter().map(|a| a.unwrap_or(0)).sum(),
        }
    });
    let manifest = RunManifest {
        engine: runfile::Engine {
            name: "huiqi".into(),
            version: "0.1.0".into(),
            columnar: "datafusion 55".into(),
        },
        policy: runfile::Policy {
            name: "p".into(),
            version: "1".into(),
            hash: "policyhash".into(),
            set: vec![],
            imports: vec![],
        },
        snapshot: runfile::Snapshot {
            hash: "snaphash".into(),
            dir: "snaps/s1".into(),
        },
        period: spec.period,
        rows: r.len(),
        firms: r.len(),
        total_fen: r.iter().map(|x| x.3).sum(),
        by_clause: vec![],
        clawbacks,
        files,
    };
    std::fs::write(run.join(runfile::MANIFEST), manifest.to_json()).unwrap();
    run
}

/// The year-1 run: F1's 高企 5万 (tranche 首次认定) and F2's 营收 100万 (a single tranche).
fn year1(base: &Path) -> PathBuf {
    write_run(
        base,
        "y1",
        RunSpec {
            period: 2023,
            results: &[(F1, HT, "首次认定", 5_000_000), (F2, RV, "", 100_000_000)],
            clawbacks: None,
        },
    )
}

/// A year-2 run recovering `rows` (firm, 分) by the rule from F1's 高企 and F2's 营收 of 2023;
/// its results are all zero.
fn year2(base: &Path, name: &str, f1: Option<i64>, f2: Option<i64>) -> PathBuf {
    let mut rows: Vec<Claw> = vec![];
    if let Some(x) = f1 {
        rows.push((F1, RULE, HT, "首次认定", 2023, x));
    }
    if let Some(x) = f2 {
        rows.push((F2, RULE, RV, "", 2023, x));
    }
    write_run(
        base,
        name,
        RunSpec {
            period: 2024,
            results: &[(F1, HT, "首次认定", 0), (F3, HT, "首次认定", 0)],
            clawbacks: Some((vec![RULE], claw_cols(&rows))),
        },
    )
}

async fn record(l: &mut Ledger, dir: &Path, at: &str) -> RecordSummary {
    let r = read_results(dir, None).unwrap();
    l.record(&ctx(at), &r).await.unwrap()
}

/// Approve, announce, confirm the lines; then pay each (reference `R-<line>`).
async fn work(l: &mut Ledger, lines: &[i64], pay: &[i64], day: u32) {
    l.apply(
        &ctx(&format!("2024-05-{day:02}")),
        &ids(lines),
        &Action::Approve,
    )
    .await
    .unwrap();
    l.apply(
        &ctx(&format!("2024-05-{:02}", day + 1)),
        &ids(lines),
        &Action::Announce {
            title: "公示".into(),
            opens: format!("2024-05-{:02}T00:00:00Z", day + 1),
            closes: format!("2024-05-{:02}T00:00:00Z", day + 8),
        },
    )
    .await
    .unwrap();
    l.apply(
        &ctx(&format!("2024-05-{:02}", day + 2)),
        &ids(lines),
        &Action::Confirm,
    )
    .await
    .unwrap();
    for id in pay {
        l.apply(
            &ctx(&format!("2024-05-{:02}", day + 3)),
            &ids(&[*id]),
            &Action::Pay {
                reference: format!("R-{id}"),
            },
        )
        .await
        .unwrap();
    }
}

/// (line, kind, state, 分) of every line of an entitlement.
async fn ent_lines(
    l: &mut Ledger,
    firm: &str,
    clause: &str,
    period: i64,
) -> Vec<(i64, String, String, i64)> {
    l.db.rows(
        "SELECT i.id, i.kind, i.state, i.amount_fen FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE e.firm_id = $1 AND e.clause = $2 AND e.period = $3 ORDER BY i.version",
        &args![firm, clause, period],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.i(0), r.s(1), r.s(2), r.i(3)))
    .collect()
}

fn award(firm: &str, clause: &str, tranche: &str, fen: i64) -> AwardOut {
    AwardOut {
        firm_id: firm.into(),
        clause: clause.into(),
        period: 2023,
        tranche: tranche.into(),
        fen,
        held: true,
    }
}

async fn assert_intact(l: &mut Ledger) {
    let r = l.verify().await.unwrap();
    assert!(r.ok(), "{:?}", r.problems);
}

#[test]
fn clawbacks_are_recorded_worked_netted_and_rerun() {
    each_backend(async |t| {
        let base = tempdir();
        snapshot(&base);
        let mut l = open(t).await;
        // Year 1: two awards, worked through to payment.
        let s = record(&mut l, &year1(&base), "2024-02-01").await;
        assert_eq!((s.new, s.new_fen, s.new_clawbacks), (2, 105_000_000, 0));
        let a1 = ent_lines(&mut l, F1, HT, 2023).await[0].0;
        let a2 = ent_lines(&mut l, F2, RV, 2023).await[0].0;
        work(&mut l, &[a1, a2], &[a1, a2], 1).await;

        // Year 2: the rule recovers 3万 of F1's award and 60万 of F2's.
        let run_a = year2(&base, "y2a", Some(3_000_000), Some(60_000_000));
        let s = record(&mut l, &run_a, "2024-06-01").await;
        assert_eq!(
            (s.new, s.new_clawbacks, s.new_clawback_fen, s.changed),
            (0, 2, -63_000_000, 0),
            "{s:?}"
        );
        let ents = l
            .db
            .rows(
                "SELECT firm_id, clause, period, tranche, computed_fen, target_clause, target_period, target_tranche FROM entitlements WHERE period = 2024 ORDER BY firm_id",
                &[],
            )
            .await
            .unwrap();
        let got: Vec<String> = ents
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {:?} {:?} {:?}",
                    r.s(0),
                    r.s(1),
                    r.i(2),
                    r.s(3),
                    r.i(4),
                    r.os(5),
                    r.oi(6),
                    r.os(7)
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                format!("{F1} {RULE} 2024 {HT}·首次认定@2023 -3000000 Some(\"{HT}\") Some(2023) Some(\"首次认定\")"),
                format!("{F2} {RULE} 2024 {RV}@2023 -60000000 Some(\"{RV}\") Some(2023) Some(\"\")"),
            ]
        );
        let c1 = ent_lines(&mut l, F1, RULE, 2024).await;
        let c2 = ent_lines(&mut l, F2, RULE, 2024).await;
        assert_eq!(
            (c1[0].1.as_str(), c1[0].2.as_str(), c1[0].3),
            ("recovery", "computed", -3_000_000)
        );
        assert_eq!((c2[0].1.as_str(), c2[0].3), ("recovery", -60_000_000));
        let (c1, c2) = (c1[0].0, c2[0].0);
        // The record event commits to each clawback's target in its key.
        let after = l
            .db
            .row(
                "SELECT after_json FROM audit_events WHERE action = 'record' ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await
            .unwrap()
            .unwrap()
            .s(0);
        let after: serde_json::Value = serde_json::from_str(&after).unwrap();
        assert_eq!(
            after["keys"],
            serde_json::json!([
                [RULE, format!("{HT}·首次认定@2023"), HT, 2023, "首次认定"],
                [RULE, format!("{RV}@2023"), RV, 2023, ""]
            ])
        );
        // A computed clawback is not yet part of the history.
        assert_eq!(
            l.awards(2025, false).await.unwrap(),
            vec![
                award(F1, HT, "首次认定", 5_000_000),
                award(F2, RV, "", 100_000_000)
            ]
        );
        assert_intact(&mut l).await;

        // Approve → confirm both; only F2's recovery is collected (paid).
        work(&mut l, &[c1, c2], &[c2], 10).await;
        assert_eq!(
            l.awards(2025, false).await.unwrap(),
            vec![
                award(F1, HT, "首次认定", 2_000_000),
                award(F2, RV, "", 40_000_000)
            ]
        );
        assert_eq!(
            l.awards(2025, true).await.unwrap(),
            vec![
                award(F1, HT, "首次认定", 5_000_000),
                award(F2, RV, "", 40_000_000)
            ]
        );
        assert_eq!(
            l.firm_awards(F1, 2025, false).await.unwrap(),
            vec![award(F1, HT, "首次认定", 2_000_000)]
        );
        // A clawback recorded in 2024 is not part of 2024's own history.
        assert_eq!(
            l.awards(2024, false).await.unwrap(),
            vec![
                award(F1, HT, "首次认定", 5_000_000),
                award(F2, RV, "", 100_000_000)
            ]
        );
        // The firm's status, the 公示 list, the payable list, reconcile and the dashboard show
        // the rule as the clause and the negative figure.
        let st = l.status(F2).await.unwrap();
        let last = st.last().unwrap();
        assert_eq!(
            (
                last.clause.as_str(),
                last.period,
                last.amount_fen,
                last.kind.as_str()
            ),
            (RULE, 2024, -60_000_000, "recovery")
        );
        assert_eq!(last.reference.as_deref(), Some(format!("R-{c2}").as_str()));
        let (_, _, _, _, list) = l.notice_list(None).await.unwrap();
        assert_eq!(list.iter().map(|r| r.fen).sum::<i64>(), -63_000_000);
        let notice = base.join("notice.csv");
        huiqi_ledger::report::write_notice_csv(&list, &notice).unwrap();
        assert!(std::fs::read_to_string(&notice)
            .unwrap()
            .contains("-600000.00"));
        assert_eq!(l.payable().await.unwrap().len(), 1);
        let rec = l.reconcile(2024, &[]).await.unwrap();
        let r = rec.iter().find(|r| r.label == RULE).unwrap();
        assert_eq!(
            (r.entitlements, r.computed, r.approved, r.paid, r.budget),
            (2, -63_000_000, -63_000_000, -60_000_000, None)
        );
        let d = l.dashboard(2024, "2099-01-01T00:00:00Z").await.unwrap();
        assert_eq!(d.firms_paid, 0, "returning money is not being paid");
        assert_eq!(d.firms_reached, 0);
        assert_eq!(d.days_to_pay.paid_lines, 0);
        let paid = d.by_state.iter().find(|s| s.state == "paid").unwrap();
        assert_eq!(paid.fen, -60_000_000);
        assert_intact(&mut l).await;

        // The same run again: already recorded.
        let s = record(&mut l, &run_a, "2024-06-20").await;
        assert!(s.already);

        // A run of 2024 without clawback rules leaves the clawbacks alone.
        let plain = write_run(
            &base,
            "y2plain",
            RunSpec {
                period: 2024,
                results: &[(F1, HT, "首次认定", 0)],
                clawbacks: None,
            },
        );
        let s = record(&mut l, &plain, "2024-06-21").await;
        assert_eq!(
            (s.changed, s.unchanged, s.new_clawbacks),
            (0, 0, 0),
            "{s:?}"
        );

        // Corrected: F1's clawback is smaller (its line was only confirmed: superseded and
        // replaced by a recovery of the new figure); F2's unchanged.
        let run_b = year2(&base, "y2b", Some(2_000_000), Some(60_000_000));
        let s = record(&mut l, &run_b, "2024-07-01").await;
        assert_eq!(
            (s.changed, s.unchanged, s.superseded, s.recoveries, s.topups),
            (1, 1, 1, 1, 0),
            "{s:?}"
        );
        let f1 = ent_lines(&mut l, F1, RULE, 2024).await;
        assert_eq!(
            f1.iter()
                .map(|x| (x.1.as_str(), x.2.as_str(), x.3))
                .collect::<Vec<_>>(),
            vec![
                ("recovery", "superseded", -3_000_000),
                ("recovery", "computed", -2_000_000)
            ]
        );
        assert_intact(&mut l).await;

        // Corrected again: the rule (still evaluated) recovers nothing. F1's open recovery is
        // superseded (cancelled, no new line); F2's was collected: a top-up gives it back.
        let run_c = year2(&base, "y2c", None, None);
        let s = record(&mut l, &run_c, "2024-08-01").await;
        assert_eq!(
            (s.changed, s.superseded, s.recoveries, s.topups),
            (2, 1, 0, 1),
            "{s:?}"
        );
        let f1 = ent_lines(&mut l, F1, RULE, 2024).await;
        assert_eq!(f1.last().unwrap().2, "superseded");
        let f2 = ent_lines(&mut l, F2, RULE, 2024).await;
        assert_eq!(
            f2.iter()
                .map(|x| (x.1.as_str(), x.2.as_str(), x.3))
                .collect::<Vec<_>>(),
            vec![
                ("recovery", "paid", -60_000_000),
                ("topup", "computed", 60_000_000)
            ]
        );
        let giveback = f2[1].0;
        work(&mut l, &[giveback], &[giveback], 20).await;
        assert_eq!(
            l.awards(2025, true).await.unwrap(),
            vec![
                award(F1, HT, "首次认定", 5_000_000),
                award(F2, RV, "", 100_000_000)
            ]
        );
        assert_intact(&mut l).await;

        // A full recovery leaves the award at 0: it must not fall back to another record.
        let run_d = year2(&base, "y2d", Some(5_000_000), None);
        record(&mut l, &run_d, "2024-09-01").await;
        let c = ent_lines(&mut l, F1, RULE, 2024).await.last().unwrap().0;
        l.apply(&ctx("2024-09-02"), &ids(&[c]), &Action::Approve)
            .await
            .unwrap();
        assert_eq!(
            l.awards(2025, false).await.unwrap(),
            vec![award(F1, HT, "首次认定", 0), award(F2, RV, "", 100_000_000)]
        );
        assert_intact(&mut l).await;

        // A clawback's target edited in the database: verify names table, row and column; a
        // step on its line is refused.
        let e2 =
            l.db.int(
                &format!(
                    "SELECT id FROM entitlements WHERE firm_id = '{F2}' AND clause = '{RULE}'"
                ),
                &[],
            )
            .await
            .unwrap();
        for (sql, column) in [
            (
                "UPDATE entitlements SET target_period = 2022 WHERE id = $1",
                "target_period",
            ),
            (
                "UPDATE entitlements SET target_clause = '其他条款' WHERE id = $1",
                "target_clause",
            ),
            (
                "UPDATE entitlements SET target_tranche = '重新认定' WHERE id = $1",
                "target_tranche",
            ),
        ] {
            let before = l
                .db
                .row("SELECT target_clause, target_period, target_tranche FROM entitlements WHERE id = $1", &args![e2])
                .await
                .unwrap()
                .unwrap();
            l.db.exec(sql, &args![e2]).await.unwrap();
            let p = l.verify().await.unwrap().problems;
            assert!(
                p.iter().any(
                    |p| matches!(p, Problem::Mismatch { table, row, column: c, .. }
                    if table == "entitlements" && row == &e2.to_string() && c == column)
                ),
                "{column}: {p:?}"
            );
            let f2 = ent_lines(&mut l, F2, RULE, 2024).await;
            let e = l
                .apply(
                    &ctx("2024-10-01"),
                    &ids(&[f2[0].0]),
                    &Action::Recover {
                        reason: "测试".into(),
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.en);
            l.db.exec(
                "UPDATE entitlements SET target_clause = $1, target_period = $2, target_tranche = $3 WHERE id = $4",
                &args![before.os(0), before.oi(1), before.os(2), e2],
            )
            .await
            .unwrap();
            assert_intact(&mut l).await;
        }
        l.close().await;
        let _ = std::fs::remove_dir_all(&base);
    });
}

/// Each bad run directory: (what is wrong, the error's text, written by `f`).
#[allow(clippy::type_complexity)]
fn bad_runs() -> Vec<(&'static str, &'static str, Box<dyn Fn(&Path) -> PathBuf>)> {
    let one = |rows: &[Claw]| claw_cols(rows);
    let good: Claw = (F1, RULE, HT, "首次认定", 2023, 3_000_000);
    let spec = |cols: Cols| RunSpec {
        period: 2024,
        results: &[],
        clawbacks: Some((vec![RULE], cols)),
    };
    vec![
        (
            "edited after the run",
            "does not match the hash in the run manifest (were the clawbacks edited?)",
            Box::new(move |b: &Path| {
                let d = write_run(b, "edited", spec(one(&[good])));
                write_parquet(
                    &d.join(runfile::CLAWBACKS_PARQUET),
                    one(&[(F1, RULE, HT, "首次认定", 2023, 5_000_000)]),
                );
                d
            }),
        ),
        (
            "amount zero",
            "row 1: amount_fen must be above zero, not 0",
            Box::new(move |b: &Path| {
                write_run(b, "zero", spec(one(&[(F1, RULE, HT, "首次认定", 2023, 0)])))
            }),
        ),
        (
            "amount negative",
            "row 2: amount_fen must be above zero, not -5",
            Box::new(move |b: &Path| {
                write_run(b, "neg", spec(one(&[good, (F2, RULE, RV, "", 2023, -5)])))
            }),
        ),
        (
            "a null firm",
            "row 2: firm_id is null",
            Box::new(move |b: &Path| {
                let mut cols = one(&[good, good]);
                cols[0].1 = opt_strs(&[Some(F2), None]);
                write_run(b, "nullfirm", spec(cols))
            }),
        ),
        (
            "a null award period",
            "row 1: award_period is null",
            Box::new(move |b: &Path| {
                let mut cols = one(&[good]);
                cols[4].1 = Arc::new(Int32Array::from(vec![None::<i32>]));
                write_run(b, "nullperiod", spec(cols))
            }),
        ),
        (
            "a duplicate key",
            "row 3 repeats row 1",
            Box::new(move |b: &Path| {
                write_run(
                    b,
                    "dup",
                    spec(one(&[good, (F2, RULE, RV, "", 2023, 1), good])),
                )
            }),
        ),
        (
            "a rule the manifest does not list",
            "row 1: rule 其他规则 is not among the run manifest's clawbacks.rules",
            Box::new(move |b: &Path| {
                write_run(
                    b,
                    "rule",
                    spec(one(&[(F1, "其他规则", HT, "首次认定", 2023, 1)])),
                )
            }),
        ),
        (
            "award_period of another type",
            "column award_period is of type Int64, not Int32",
            Box::new(move |b: &Path| {
                let mut cols = one(&[good]);
                cols[4].1 = i64s(&[2023]);
                write_run(b, "type", spec(cols))
            }),
        ),
        (
            "the file missing",
            "the run manifest has clawbacks, but the run directory has no such file",
            Box::new(move |b: &Path| {
                let d = write_run(b, "missing", spec(one(&[good])));
                std::fs::remove_file(d.join(runfile::CLAWBACKS_PARQUET)).unwrap();
                d
            }),
        ),
        (
            "no hash in the manifest",
            "the manifest has a clawbacks entry but lists no clawbacks.parquet hash",
            Box::new(move |b: &Path| {
                let d = write_run(b, "nohash", spec(one(&[good])));
                let mp = d.join(runfile::MANIFEST);
                let mut m = RunManifest::from_json(&std::fs::read_to_string(&mp).unwrap()).unwrap();
                m.files
                    .retain(|f| f.file.as_deref() != Some(runfile::CLAWBACKS_PARQUET));
                std::fs::write(&mp, m.to_json()).unwrap();
                d
            }),
        ),
        (
            "counts that differ from the manifest's",
            "has 1 rows totalling 3000000 fen; the run manifest says 2 rows, 3000000 fen",
            Box::new(move |b: &Path| {
                let d = write_run(b, "count", spec(one(&[good])));
                let mp = d.join(runfile::MANIFEST);
                let mut m = RunManifest::from_json(&std::fs::read_to_string(&mp).unwrap()).unwrap();
                m.clawbacks.as_mut().unwrap().rows = 2;
                std::fs::write(&mp, m.to_json()).unwrap();
                d
            }),
        ),
    ]
}

#[test]
fn bad_clawback_files_are_refused_and_nothing_is_recorded() {
    each_backend(async |t| {
        let base = tempdir();
        snapshot(&base);
        let mut l = open(t).await;
        record(&mut l, &year1(&base), "2024-02-01").await;
        let before = fingerprint(&mut l).await;
        for (what, msg, f) in bad_runs() {
            let d = f(&base);
            let r = std::panic::catch_unwind(|| read_results(&d, None))
                .unwrap_or_else(|_| panic!("{what}: panicked"));
            let e = match r {
                Ok(input) => l.record(&ctx("2024-06-01"), &input).await.unwrap_err(),
                Err(e) => e,
            };
            assert_eq!(e.kind, ErrorKind::Input, "{what}: {}", e.en);
            assert!(e.en.contains(msg), "{what}: {}", e.en);
            assert!(!e.zh.is_empty() && e.zh != e.en, "{what}: {}", e.zh);
            assert_eq!(
                fingerprint(&mut l).await,
                before,
                "{what}: something was recorded"
            );
        }
        // Rule and key columns as large strings are text; a clawback of 0 built by a caller is
        // refused by record itself.
        let mut cols = claw_cols(&[(F1, RULE, HT, "首次认定", 2023, 3_000_000)]);
        cols[1].1 = Arc::new(LargeStringArray::from(vec![RULE]));
        let d = write_run(
            &base,
            "large",
            RunSpec {
                period: 2024,
                results: &[],
                clawbacks: Some((vec![RULE], cols)),
            },
        );
        let mut input = read_results(&d, None).unwrap();
        assert_eq!(input.clawbacks.len(), 1);
        assert_eq!(
            input.clawbacks[0].entitlement_tranche(),
            format!("{HT}·首次认定@2023")
        );
        input.clawbacks[0].fen = 0;
        let e = l.record(&ctx("2024-06-01"), &input).await.unwrap_err();
        assert!(e.en.contains("above zero"), "{}", e.en);
        assert_eq!(fingerprint(&mut l).await, before);
        l.close().await;
        let _ = std::fs::remove_dir_all(&base);
    });
}

/// A clawback's key must not collide with an award's: a rule named like a clause whose
/// entitlement tranche is spelled like the clawback's is refused, nothing recorded.
#[test]
fn a_clawback_key_that_is_an_awards_is_refused() {
    each_backend(async |t| {
        let mut l = open(t).await;
        let mut a = run(2024, "a", &[(F1, RULE, &format!("{HT}@2023"), 100)]);
        a.clauses.insert(RULE.into());
        l.record(&ctx("2024-02-01"), &a).await.unwrap();
        let before = fingerprint(&mut l).await;
        let mut b = run(2024, "b", &[]);
        b.rules.insert(RULE.into());
        b.clawbacks.push(huiqi_ledger::ClawbackRow {
            firm_id: F1.into(),
            rule: RULE.into(),
            clause: HT.into(),
            tranche: String::new(),
            award_period: 2023,
            fen: 50,
        });
        let e = l.record(&ctx("2024-03-01"), &b).await.unwrap_err();
        assert!(e.en.contains("other kind"), "{}", e.en);
        assert_eq!(fingerprint(&mut l).await, before);
        l.close().await;
    });
}
