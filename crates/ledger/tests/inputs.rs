//! Issue 14 §5–§7, §9: CSV cells a spreadsheet would run, opening a ledger that does not exist,
//! and reading a run's results and firm names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, LargeStringArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use common::*;
use huiqi_files::run::{self as runfile, RunManifest};
use huiqi_files::snapshot;
use huiqi_ledger::report::{write_batch_csv, write_notice_csv, write_payment_csv};
use huiqi_ledger::{read_paid_file, read_results, Action, ErrorKind, Ledger, Selection};

const HT: &str = "高企认定奖励";

const NASTY: [&str; 4] = [
    "=HYPERLINK(\"http://x\",\"点此领取\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "甬江\u{202E}技科",
];

fn all() -> Selection {
    Selection {
        all: true,
        ..Default::default()
    }
}

/// Every cell of a CSV file: none may start a formula or hold a bidi override.
fn assert_inert(p: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = vec![];
    for r in rd.records() {
        let r = r.unwrap();
        for c in r.iter() {
            assert!(
                !c.starts_with(['=', '+', '@', '\t', '\r']),
                "{}: live cell {c:?}",
                p.display()
            );
            assert!(
                !c.contains('\u{202E}'),
                "{}: bidi override in {c:?}",
                p.display()
            );
        }
        rows.push(r.iter().map(str::to_string).collect());
    }
    rows
}

#[test]
fn exported_csv_cells_are_neutralised_and_the_paid_file_still_reads() {
    each_backend(async |t| {
        let dir = tempdir();
        let mut l = open(t).await;
        let firms = [
            "91330200MA2H4A3X26",
            "91330201MA2AAAAA1X",
            "91330202MA2BBBBB2Y",
            "+91330203MA2CCCCC3Z",
        ];
        let rows: Vec<(&str, &str, &str, i64)> = firms
            .iter()
            .map(|f| (*f, HT, "首次认定", 5_000_000))
            .collect();
        let mut r = run(2023, "a", &rows);
        r.names = firms
            .iter()
            .zip(NASTY)
            .map(|(f, n)| (f.to_string(), n.to_string()))
            .collect();
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
        ] {
            l.apply(&ctx(at), &all(), &a).await.unwrap();
        }
        let (_, _, _, _, list) = l.notice_list(None).await.unwrap();
        let notice = dir.join("notice.csv");
        write_notice_csv(&list, &notice).unwrap();
        let cells = assert_inert(&notice);
        let names: Vec<&str> = cells[1..].iter().map(|r| r[1].as_str()).collect();
        assert!(
            names.contains(&"'=HYPERLINK(\"http://x\",\"点此领取\")"),
            "{names:?}"
        );
        assert!(names.contains(&"甬江<U+202E>技科"), "{names:?}");
        l.apply(&ctx("2024-03-03"), &all(), &Action::Confirm)
            .await
            .unwrap();
        let plain = dir.join("payable.csv");
        write_payment_csv(&l.payable().await.unwrap(), &plain).unwrap();
        assert_inert(&plain);
        let batch = l
            .export_batch(&ctx("2024-03-10"), &all())
            .await
            .unwrap()
            .unwrap();
        let f = dir.join("batch.csv");
        write_batch_csv(&batch, &f).unwrap();
        let cells = assert_inert(&f);
        // The treasury fills in references and leaves the neutralised cells as they were
        // (the firm whose credit code starts with `+` included).
        assert!(
            cells.iter().any(|r| r[2] == "'+91330203MA2CCCCC3Z"),
            "{cells:?}"
        );
        let text = std::fs::read_to_string(&f).unwrap();
        let mut out = String::new();
        for (k, line) in text.lines().enumerate() {
            out.push_str(line);
            if k > 0 {
                out.push_str(&format!("T-{k}"));
            }
            out.push('\n');
        }
        std::fs::write(&f, &out).unwrap();
        let paid = read_paid_file(&f).unwrap();
        let s = l.pay_batch(&ctx("2024-03-20"), &paid, false).await.unwrap();
        assert_eq!(s.paid, 4);
        // A reference that is itself a neutralised formula is ambiguous: refused, listed.
        l.record(
            &ctx("2024-04-01"),
            &run(2024, "b", &[(firms[0], HT, "首次认定", 5_000_000)]),
        )
        .await
        .unwrap();
        let id = lines(&mut l, firms[0], HT, 2024).await[0].0;
        for (a, at) in [
            (Action::Approve, "2024-04-02"),
            (
                Action::Announce {
                    title: "公示".into(),
                    opens: "2024-04-03T00:00:00Z".into(),
                    closes: "2024-04-10T00:00:00Z".into(),
                },
                "2024-04-03",
            ),
            (Action::Confirm, "2024-04-04"),
        ] {
            l.apply(&ctx(at), &all(), &a).await.unwrap();
        }
        let b2 = l
            .export_batch(&ctx("2024-04-05"), &all())
            .await
            .unwrap()
            .unwrap();
        let f2 = dir.join("b2.csv");
        write_batch_csv(&b2, &f2).unwrap();
        let text = std::fs::read_to_string(&f2).unwrap();
        std::fs::write(&f2, format!("{}'=1+1\n", text.trim_end())).unwrap();
        let paid = read_paid_file(&f2).unwrap();
        let e = l
            .pay_batch(&ctx("2024-04-20"), &paid, false)
            .await
            .unwrap_err();
        assert!(
            e.en.contains(&format!("line {id}")) && e.en.contains("plain"),
            "{}",
            e.en
        );
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn opening_a_ledger_that_does_not_exist_is_an_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempdir();
        let p = dir.join("sub").join("ledger.sqlite");
        let ps = p.to_str().unwrap();
        for r in [
            Ledger::open(ps).await.err(),
            Ledger::open(&format!("sqlite://{ps}")).await.err(),
        ] {
            let e = r.expect("opening a missing ledger succeeded");
            assert_eq!(e.kind, ErrorKind::Input);
            assert!(
                e.en.contains("does not exist") && e.zh.contains("不存在"),
                "{}",
                e.en
            );
        }
        assert!(
            !p.exists() && !dir.join("sub").exists(),
            "open created something"
        );
        // An empty file is not a ledger either.
        let empty = dir.join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        let e = Ledger::open(empty.to_str().unwrap()).await.err().unwrap();
        assert!(e.en.contains("not a huiqi ledger"), "{}", e.en);
        // Unknown URL schemes are refused by every path, and nothing is created.
        for url in [
            "mysql://x",
            "mysql:x",
            "http://example.invalid/l",
            "MYSQL://x",
        ] {
            for e in [
                Ledger::open(url).await.err(),
                Ledger::open_or_create(url).await.err(),
            ] {
                let e = e.unwrap_or_else(|| panic!("{url} was accepted"));
                assert!(e.en.contains("scheme"), "{url}: {}", e.en);
            }
        }
        assert!(!Path::new("mysql:").exists() && !Path::new("mysql:x").exists());
        // The create path creates; then open finds it; verify of a fresh ledger is intact.
        let l = Ledger::open_or_create(ps).await.unwrap();
        l.close().await;
        let mut l = Ledger::open(ps).await.unwrap();
        assert!(l.verify().await.unwrap().ok());
        l.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        // PostgreSQL: a database without the ledger's schema is not a ledger.
        let url = new_pg().await;
        let e = Ledger::open(&url).await.err().unwrap();
        assert!(e.en.contains("not a huiqi ledger"), "{}", e.en);
        let l = Ledger::open_or_create(&url).await.unwrap();
        l.close().await;
        let l = Ledger::open(&url).await.unwrap();
        l.close().await;
        drop_pg(&url).await;
    });
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

/// A snapshot directory (firms table + manifest) under `base`, and a run directory under
/// `base/runs/r` whose manifest names the snapshot as `snap_rel` and whose results have `cols`.
fn run_dir(base: &Path, snap_rel: &str, cols: Vec<(&str, ArrayRef)>) -> std::path::PathBuf {
    let snap = base.join("snaps").join("s1");
    std::fs::create_dir_all(&snap).unwrap();
    write_parquet(
        &snap.join(snapshot::table_file(snapshot::FIRMS)),
        vec![
            (snapshot::col::FIRM_ID, strs(&[F1, F2])),
            (snapshot::col::NAME, strs(&["美旭精密", "甬江科技"])),
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
    let run = base.join("runs").join("r");
    std::fs::create_dir_all(&run).unwrap();
    let results = run.join(runfile::RESULTS_PARQUET);
    write_parquet(&results, cols);
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
            dir: snap_rel.into(),
        },
        period: 2023,
        rows: 2,
        firms: 2,
        total_fen: 0,
        by_clause: vec![],
        clawbacks: None,
        files: vec![runfile::FileHash {
            file: Some(runfile::RESULTS_PARQUET.into()),
            sha256: sha256(&results),
        }],
    };
    std::fs::write(run.join(runfile::MANIFEST), manifest.to_json()).unwrap();
    run
}

fn good_results() -> Vec<(&'static str, ArrayRef)> {
    vec![
        (runfile::col::FIRM_ID, strs(&[F1, F2])),
        (runfile::col::CLAUSE, strs(&[HT, HT])),
        (runfile::col::TRANCHE, strs(&["首次认定", "首次认定"])),
        (
            runfile::col::AMOUNT_FEN,
            Arc::new(Int64Array::from(vec![Some(5_000_000), Some(0)])),
        ),
    ]
}

#[test]
fn read_results_finds_the_snapshot_beside_the_run_and_refuses_a_missing_one() {
    let base = tempdir();
    // Stored relative to the directory `huiqi run` ran in (here `base`), not to our cwd.
    let run = run_dir(&base, "snaps/s1", good_results());
    let r = read_results(&run, None).unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.names.get(F1).map(String::as_str), Some("美旭精密"));
    assert_eq!(r.period, 2023);
    assert_eq!(r.policy_name, "p");
    // The run id is still the first 16 hex digits of the manifest file's SHA-256.
    assert_eq!(r.run_id, sha256(&run.join("manifest.json"))[..16]);
    // Given explicitly: used as given.
    let r = read_results(&run, Some(&base.join("snaps/s1"))).unwrap();
    assert_eq!(r.names.len(), 1);
    // Missing: an error naming the directory, never empty names.
    let gone = run_dir(&tempdir(), "snaps/elsewhere", good_results());
    let e = read_results(&gone, None).unwrap_err();
    assert!(
        e.en.contains("snapshot") && e.en.contains("elsewhere"),
        "{}",
        e.en
    );
    let e = read_results(&run, Some(&base.join("nope"))).unwrap_err();
    assert!(e.en.contains("nope"), "{}", e.en);
    // Unreadable firms table: an error.
    std::fs::write(base.join("snaps/s1/firms.parquet"), b"not parquet").unwrap();
    let e = read_results(&run, None).unwrap_err();
    assert!(e.en.contains("firms.parquet"), "{}", e.en);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn results_columns_of_other_types_are_errors_not_panics() {
    let int = |v: &[i64]| -> ArrayRef { Arc::new(Int64Array::from(v.to_vec())) };
    let cases: Vec<(&str, usize, ArrayRef)> = vec![
        ("firm_id", 0, int(&[1, 2])),
        ("clause", 1, int(&[1, 2])),
        ("tranche", 2, int(&[1, 2])),
        ("amount_fen", 3, strs(&["1", "2"])),
    ];
    for (name, k, col) in cases {
        let base = tempdir();
        let mut cols = good_results();
        cols[k].1 = col;
        let run = run_dir(&base, "snaps/s1", cols);
        let r = std::panic::catch_unwind(|| read_results(&run, None));
        let e = r
            .unwrap_or_else(|_| panic!("{name} of another type panicked"))
            .unwrap_err();
        assert!(e.en.contains(name), "{name}: {}", e.en);
        let _ = std::fs::remove_dir_all(&base);
    }
    // Large strings are strings.
    let base = tempdir();
    let mut cols = good_results();
    cols[1].1 = Arc::new(LargeStringArray::from(vec![HT, HT]));
    let run = run_dir(&base, "snaps/s1", cols);
    assert_eq!(read_results(&run, None).unwrap().rows.len(), 1);
    // A firms table whose name column is not text.
    let firms = base.join("snaps/s1/firms.parquet");
    write_parquet(
        &firms,
        vec![
            (snapshot::col::FIRM_ID, strs(&[F1, F2])),
            (snapshot::col::NAME, int(&[1, 2])),
        ],
    );
    let r = std::panic::catch_unwind(|| read_results(&run, None));
    let e = r.expect("a numeric name column panicked").unwrap_err();
    assert!(e.en.contains("name"), "{}", e.en);
    let _ = std::fs::remove_dir_all(&base);
    let _ = DataType::Utf8;
}

/// A treasury's paid file saved as GBK (Chinese Excel's "CSV") reads exactly as its UTF-8 copy;
/// bytes that are neither are refused as such, not read with replacement characters.
#[test]
fn a_gbk_paid_file_reads_as_its_utf8_copy() {
    let dir = std::env::temp_dir().join(format!("huiqi-gbk-paid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "批次号,明细号,统一社会信用代码,企业名称,金额（分）,支付流水号\n\
                3,17,91330201MA2H4A3X2L,宁波甬江智能科技有限公司,1200000,国库-2024-0001\n";
    let utf8 = dir.join("utf8.csv");
    std::fs::write(&utf8, text).unwrap();
    let (gbk_bytes, _, lossy) = encoding_rs::GBK.encode(text);
    assert!(!lossy);
    let gbk = dir.join("gbk.csv");
    std::fs::write(&gbk, &gbk_bytes).unwrap();
    let a = read_paid_file(&utf8).unwrap();
    let b = read_paid_file(&gbk).unwrap();
    assert_eq!(b.batch, Some(3));
    assert_eq!(b.lines.len(), 1);
    assert_eq!(
        (b.lines[0].item, &b.lines[0].reference, b.lines[0].fen),
        (17, &"国库-2024-0001".to_string(), Some(1_200_000))
    );
    assert_eq!(
        format!("{:?}", (a.batch, &a.lines)),
        format!("{:?}", (b.batch, &b.lines))
    );
    let bad = dir.join("bad.csv");
    let mut bytes = gbk_bytes.into_owned();
    bytes.extend_from_slice(&[0xff, 0xff, b'\n']);
    std::fs::write(&bad, &bytes).unwrap();
    let e = read_paid_file(&bad).unwrap_err();
    assert!(e.en.contains("neither UTF-8 nor GBK"), "{}", e.en);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bulk insert (SQLite: multi-row VALUES statements; PostgreSQL: COPY's text format) stores
/// exactly what it was given: quotes, backslashes, control characters (not NUL, which
/// PostgreSQL text cannot hold), formulas, bidi
/// overrides, characters outside the BMP, NULLs and the ends of i64 — rows made as they are
/// inserted, across chunk and buffer boundaries.
#[test]
fn bulk_insert_stores_exactly_what_it_was_given() {
    use huiqi_ledger::db::{Arg, Db};
    let mut texts: Vec<String> = NASTY.iter().map(|s| s.to_string()).collect();
    texts.extend(
        [
            "引号\"与\\反斜杠\\\"",
            "制表\t换行\n回车\r",
            "控制字符\u{1}\u{1f}\u{7f}",
            "𠀋𝄞😀",
            "",
            "null",
            "[1,2]",
            "{\"a\":1}",
            "  前后空格  ",
            "\\u0000",
        ]
        .map(String::from),
    );
    let ints = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    // 45,000 rows: thousands of SQLite statements, several of COPY's 1 MB sends.
    let rows: Vec<Vec<Arg>> = (0..45_000usize)
        .map(|i| {
            let t = &texts[i % texts.len()];
            vec![
                Arg::from(i as i64),
                Arg::I((i % 5 != 0).then_some(ints[i % ints.len()])),
                Arg::S((i % 7 != 0).then(|| t.clone())),
                Arg::from(format!("{t}#{i}")),
            ]
        })
        .collect();
    each_backend(async |target: &str| {
        let mut db = Db::open(target).await.unwrap();
        db.batch("CREATE TABLE bulk_t (id BIGINT PRIMARY KEY, n BIGINT, s TEXT, t TEXT NOT NULL)")
            .await
            .unwrap();
        // A plain transaction: this database holds no ledger (no chain head to lock).
        db.batch("BEGIN").await.unwrap();
        db.bulk_insert("bulk_t", &["id", "n", "s", "t"], rows.iter().cloned())
            .await
            .unwrap();
        db.batch("COMMIT").await.unwrap();
        let back = db
            .rows("SELECT id, n, s, t FROM bulk_t ORDER BY id", &[])
            .await
            .unwrap();
        assert_eq!(back.len(), rows.len(), "{target}");
        for (r, want) in back.iter().zip(&rows) {
            let got = [
                Arg::I(Some(r.i(0))),
                Arg::I(r.oi(1)),
                Arg::S(r.os(2)),
                Arg::S(r.os(3)),
            ];
            assert_eq!(&got[..], &want[..], "{target}");
        }
        // Read back packed (SQLite: one JSON array), every value as `rows` gives it.
        let mut packed = db
            .rows_packed(&["id", "n", "s", "t"], "FROM bulk_t WHERE id >= 0", &[])
            .await
            .unwrap();
        packed.sort_by_key(|r| r.i(0));
        assert_eq!(packed.len(), back.len(), "{target}");
        for (p, r) in packed.iter().zip(&back) {
            assert_eq!(p.0, r.0, "{target}");
        }
    });
}
