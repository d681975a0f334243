//! Shared by the differential tests: run both engines on the same data and compare.

pub mod support;

use std::path::{Path, PathBuf};

use huiqi_columnar::{run, Options, Row};
use huiqi_eval::evaluate_population;
use huiqi_ir::*;

pub fn reference_rows(p: &Program, firms: &[Firm], year: i32) -> Vec<Row> {
    let outs = evaluate_population(p, firms, year, false);
    let mut rows = vec![];
    for o in &outs {
        for c in &o.clauses {
            for t in &c.tranches {
                rows.push(Row {
                    firm_id: firms[o.firm].id.as_str().into(),
                    clause: p.clauses[c.clause].name.as_str().into(),
                    tranche: t.tranche.as_str().into(),
                    amount_fen: money::to_fen(t.amount),
                    reason: t.reason.as_ref().map(|r| r.result_text().into()),
                });
            }
        }
    }
    rows
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("huiqi-diff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn compare(p: &Program, firms: &mut [Firm], year: i32, tag: &str) -> Result<(), String> {
    firms.sort_by(|a, b| a.id.cmp(&b.id));
    let dir = tmp(tag);
    support::write_snapshot(p, firms, &dir);
    let r = compare_on(p, firms, &dir, year, tag);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// `compare`, then again one firm per chunk (`Options::chunk_firms`): each firm loaded and
/// evaluated on its own, the rankings, pools and caps across them.
pub fn compare_whole_and_chunked(
    p: &Program,
    firms: &mut [Firm],
    year: i32,
    tag: &str,
) -> Result<(), String> {
    firms.sort_by(|a, b| a.id.cmp(&b.id));
    let dir = tmp(tag);
    support::write_snapshot(p, firms, &dir);
    let mut r = compare_on(p, firms, &dir, year, tag);
    if r.is_ok() && firms.len() > 1 {
        r = compare_chunked(p, firms, &dir, year, &format!("{tag}-chunked"), Some(1));
    }
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Runs the columnar engine on the snapshot `dir` and the reference on `firms` (the same data,
/// sorted by credit code) and compares every row.
pub fn compare_on(
    p: &Program,
    firms: &[Firm],
    dir: &Path,
    year: i32,
    tag: &str,
) -> Result<(), String> {
    compare_chunked(p, firms, dir, year, tag, None)
}

/// `compare_on`, with the engine loading and evaluating `chunk` firms at a time.
pub fn compare_chunked(
    p: &Program,
    firms: &[Firm],
    dir: &Path,
    year: i32,
    tag: &str,
    chunk: Option<usize>,
) -> Result<(), String> {
    let (rows, timings) = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_stack_size(64 << 20)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(run(
                    p,
                    dir,
                    year,
                    &Options {
                        memory_limit: None,
                        partitions: 2,
                        repeat: 1,
                        chunk_firms: chunk,
                    },
                ))
            })
            .unwrap()
            .join()
            .unwrap()
    })
    .map_err(|e| e.to_string())?;
    if std::env::var("HUIQI_TIMINGS").is_ok() {
        eprintln!("{tag}: {timings:?}");
    }
    let rows = rows.rows();
    let want = reference_rows(p, firms, year);
    if rows != want {
        let mut msg = format!(
            "{tag}: columnar and reference disagree ({} vs {} rows)\n",
            rows.len(),
            want.len()
        );
        for (a, b) in rows.iter().zip(want.iter()).filter(|(a, b)| a != b).take(8) {
            msg.push_str(&format!("  columnar {a:?}\n  ref      {b:?}\n"));
        }
        return Err(msg);
    }
    Ok(())
}
