//! Shared by the differential tests: run both engines on the same data and compare.

pub mod support;

use std::path::{Path, PathBuf};

use huiqi_columnar::{run, Options, Row};
use huiqi_eval::{evaluate_population, try_evaluate_population};
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

/// The columnar engine on the snapshot `dir`, `chunk` firms at a time (None: all at once).
pub fn run_columnar(
    p: &Program,
    dir: &Path,
    year: i32,
    tag: &str,
    chunk: Option<usize>,
) -> Result<huiqi_columnar::Results, huiqi_columnar::Error> {
    run_columnar_with(p, dir, year, tag, chunk, false)
}

/// `huiqi_columnar::run_pair`: two programs over one snapshot (loaded once when they read it
/// the same way), stand-alone amounts kept.
pub fn run_pair_columnar(
    a: &Program,
    b: &Program,
    dir: &Path,
    year: i32,
) -> Result<(huiqi_columnar::Results, huiqi_columnar::Results), huiqi_columnar::Error> {
    let opts = options(None, true);
    on_engine_thread(|| huiqi_columnar::run_pair(a, b, dir, year, &opts))
}

/// [`run_columnar`], also keeping each row's stand-alone amount when `standalone`.
pub fn run_columnar_with(
    p: &Program,
    dir: &Path,
    year: i32,
    tag: &str,
    chunk: Option<usize>,
    standalone: bool,
) -> Result<huiqi_columnar::Results, huiqi_columnar::Error> {
    let opts = options(chunk, standalone);
    let (res, timings) = on_engine_thread(|| run(p, dir, year, &opts))?;
    if std::env::var("HUIQI_TIMINGS").is_ok() {
        eprintln!("{tag}: {timings:?}");
    }
    Ok(res)
}

/// Two partitions, as the tests' two worker threads.
fn options(chunk_firms: Option<usize>, standalone: bool) -> Options {
    Options {
        memory_limit: None,
        partitions: 2,
        repeat: 1,
        chunk_firms,
        standalone,
    }
}

/// An engine future on a thread with a large stack (deep plans), on two worker threads.
fn on_engine_thread<T: Send, Fut: std::future::Future<Output = T>>(
    f: impl FnOnce() -> Fut + Send,
) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_stack_size(64 << 20)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f())
            })
            .unwrap()
            .join()
            .unwrap()
    })
}

/// An overflow as both engines name it: (credit code, clause or rule, of a ranking score).
fn named(e: &huiqi_columnar::Error) -> Option<(String, String, bool)> {
    match e {
        huiqi_columnar::Error::Overflow { firm, clause } => {
            Some((firm.clone(), clause.clone(), false))
        }
        huiqi_columnar::Error::ScoreOverflow { firm, rule } => {
            Some((firm.clone(), rule.clone(), true))
        }
        _ => None,
    }
}

/// `compare_on`, with the engine loading and evaluating `chunk` firms at a time. An overflow
/// must be refused by both engines, naming the same firm and clause.
pub fn compare_chunked(
    p: &Program,
    firms: &[Firm],
    dir: &Path,
    year: i32,
    tag: &str,
    chunk: Option<usize>,
) -> Result<(), String> {
    let got = run_columnar(p, dir, year, tag, chunk);
    let reference = try_evaluate_population(p, firms, year, false);
    let rows = match (got, reference) {
        (Ok(res), Ok(_)) => res.rows(),
        (Err(e), Err(ov)) if named(&e) == Some((ov.firm.clone(), ov.clause.clone(), ov.score)) => {
            return Ok(());
        }
        (Err(e), Err(ov)) => return Err(format!("{tag}: columnar: {e}\n  reference: {ov}")),
        (Err(e), Ok(_)) => return Err(format!("{tag}: columnar: {e}; reference: no error")),
        (Ok(_), Err(ov)) => return Err(format!("{tag}: reference: {ov}; columnar: no error")),
    };
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
    if chunk.is_none() {
        compare_clawbacks(p, firms, dir, year, tag)?;
    }
    Ok(())
}

/// What the clawback rules recover, by both engines: the same rows, or the same firm and rule
/// refused.
pub fn compare_clawbacks(
    p: &Program,
    firms: &[Firm],
    dir: &Path,
    year: i32,
    tag: &str,
) -> Result<(), String> {
    if p.clawbacks.is_empty() {
        return Ok(());
    }
    type Key = (String, usize, usize, String, i32, i64, i128, i128, i64);
    let got = on_engine_thread(|| huiqi_columnar::clawback::clawbacks(p, dir, year)).map(|rs| {
        rs.into_iter()
            .map(|r| {
                (
                    r.firm_id.to_string(),
                    r.rule,
                    r.clause,
                    r.tranche,
                    r.award_period,
                    r.base_fen,
                    r.num,
                    r.den,
                    r.amount_fen,
                )
            })
            .collect::<Vec<Key>>()
    });
    let want = huiqi_eval::clawback::population_clawbacks(p, firms, year).map(|per| {
        let mut v: Vec<Key> = vec![];
        for (f, rs) in per.into_iter().enumerate() {
            for r in rs {
                v.push((
                    firms[f].id.clone(),
                    r.rule,
                    r.clause,
                    r.tranche,
                    r.award_period,
                    r.base_fen,
                    r.num,
                    r.den,
                    r.amount_fen,
                ));
            }
        }
        v.sort();
        v
    });
    match (got, want) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Ok(a), Ok(b)) => Err(format!(
            "{tag}: clawbacks disagree\n  columnar {a:?}\n  ref      {b:?}"
        )),
        (Err(e), Err(b))
            if e.to_string()
                .contains(&format!("firm {}, clawback {}", b.firm, b.rule)) =>
        {
            Ok(())
        }
        (a, b) => Err(format!(
            "{tag}: clawbacks: columnar {:?} / reference {:?}",
            a.map_err(|e| e.to_string()),
            b.map_err(|e| e.to_string())
        )),
    }
}

/// The overflow both engines refuse the run with (whole and one firm per chunk), when they
/// agree on it; otherwise what each said.
pub fn overflow_of_both(
    p: &Program,
    firms: &mut [Firm],
    year: i32,
    tag: &str,
) -> Result<(String, String), String> {
    firms.sort_by(|a, b| a.id.cmp(&b.id));
    let dir = tmp(tag);
    support::write_snapshot(p, firms, &dir);
    let whole = run_columnar(p, &dir, year, tag, None);
    let chunked = run_columnar(p, &dir, year, tag, Some(1));
    let _ = std::fs::remove_dir_all(&dir);
    let reference = try_evaluate_population(p, firms, year, false)
        .err()
        .map(|ov| (ov.firm, ov.clause, ov.score));
    let says = |r: &Result<huiqi_columnar::Results, huiqi_columnar::Error>| match r {
        Ok(_) => None,
        Err(e) => named(e),
    };
    match (says(&whole), says(&chunked), reference) {
        (Some(a), Some(b), Some(c)) if a == b && b == c => Ok((a.0, a.1)),
        (a, b, c) => Err(format!(
            "{tag}: columnar {:?} / chunked {:?} / reference {c:?}",
            whole
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .or(a.map(|x| x.0)),
            chunked
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .or(b.map(|x| x.0)),
        )),
    }
}
