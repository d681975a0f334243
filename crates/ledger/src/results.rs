//! Reading a run directory for `ledger record`: its manifest (`huiqi_files::run::RunManifest`),
//! its results (`results.parquet`, checked against the manifest's hash) and the firm names of
//! the snapshot it ran on (`huiqi_files::snapshot`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use huiqi_files::run::{self as runfile, RunManifest};
use huiqi_files::snapshot;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};

use crate::record::{ResultRow, RunInput};
use crate::Error;

fn bad(p: &Path, zh: &str, en: &str) -> Error {
    Error::input(
        format!("{}：{zh}", p.display()),
        format!("{}: {en}", p.display()),
    )
}

fn io(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::input(
        format!("{}：{e}", p.display()),
        format!("{}: {e}", p.display()),
    )
}

fn sha256_file(p: &Path) -> Result<String, Error> {
    let mut f = File::open(p).map_err(|e| io(p, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| io(p, e))?;
    Ok(format!("{:x}", h.finalize()))
}

/// Reads `manifest.json` and `results.parquet` of a run directory (written by `huiqi run`),
/// checking the results file against the hash the manifest gives. Firm names come from the
/// snapshot's firms table: `snapshot_dir` when given, else the directory the manifest names
/// (see [`find_snapshot`]); a snapshot that cannot be found or read is an error.
pub fn read_results(run_dir: &Path, snapshot_dir: Option<&Path>) -> Result<RunInput, Error> {
    let mp = run_dir.join(runfile::MANIFEST);
    let bytes = std::fs::read(&mp).map_err(|e| io(&mp, e))?;
    // The run id names the manifest file's exact bytes.
    let run_id = format!("{:x}", Sha256::digest(&bytes))[..16].to_string();
    let manifest =
        String::from_utf8(bytes).map_err(|_| bad(&mp, "不是 UTF-8 文本", "is not UTF-8 text"))?;
    let m = RunManifest::from_json(&manifest).map_err(|e| {
        bad(
            &mp,
            &format!("不是有效的运行清单：{e}"),
            &format!("not a valid run manifest: {e}"),
        )
    })?;
    // A run with parameters set from outside is a what-if, not the policy's figures.
    if !m.policy.set.is_empty() {
        let sets = m.policy.set.join(", ");
        return Err(bad(
            &mp,
            &format!("这是设定了参数的测算（--set {sets}），不是政策本身的结果，不能记入台账"),
            &format!("this run set parameters (--set {sets}): a what-if, not the policy's own figures, it cannot be recorded"),
        ));
    }
    let want = m.file_hash(runfile::RESULTS_PARQUET).ok_or_else(|| {
        bad(
            &mp,
            "清单中没有 results.parquet 的哈希",
            "the manifest lists no results.parquet hash",
        )
    })?;
    let rp = run_dir.join(runfile::RESULTS_PARQUET);
    let got = sha256_file(&rp)?;
    if got != want {
        return Err(bad(
            &rp,
            "文件与运行清单中的哈希不符（结果被改动过？）",
            "does not match the hash in the run manifest (were the results edited?)",
        ));
    }
    let (rows, clauses) = read_rows(&rp)?;
    let snap = match snapshot_dir {
        Some(d) => d.to_path_buf(),
        None => find_snapshot(run_dir, &m.snapshot)?,
    };
    let firms: HashSet<&str> = rows.iter().map(|r| r.firm_id.as_str()).collect();
    let names = read_names(&snap, &firms)?;
    Ok(RunInput {
        run_id,
        period: i64::from(m.period),
        policy_name: m.policy.name.clone(),
        policy_hash: m.policy.hash.clone(),
        snapshot_hash: m.snapshot.hash.clone(),
        engine_version: m.engine.version.clone(),
        results_sha256: got,
        manifest,
        rows,
        clauses,
        names,
    })
}

/// The snapshot a run names. Its `dir` is as `huiqi run` was given it, relative to the
/// directory `run` ran in — not necessarily ours. An absolute path is taken as is; a relative
/// one is tried against the working directory and then against each directory above the run
/// directory, and the first whose manifest has the run's snapshot hash is it.
pub fn find_snapshot(run_dir: &Path, s: &runfile::Snapshot) -> Result<PathBuf, Error> {
    let dir = Path::new(&s.dir);
    let mut tried: Vec<PathBuf> = vec![];
    if dir.is_absolute() {
        tried.push(dir.to_path_buf());
    } else {
        tried.push(dir.to_path_buf());
        let abs = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
        for base in abs.ancestors() {
            tried.push(base.join(dir));
        }
    }
    for cand in &tried {
        let Ok(text) = std::fs::read_to_string(cand.join(snapshot::MANIFEST)) else {
            continue;
        };
        match serde_json::from_str::<snapshot::Manifest>(&text) {
            Ok(m) if m.hash == s.hash => return Ok(cand.clone()),
            _ => continue,
        }
    }
    Err(Error::input(
        format!(
            "找不到运行所用的快照 {}（哈希 {}）；已查找：{}。请用 --snapshot 指定",
            s.dir,
            s.hash,
            show(&tried)
        ),
        format!(
            "cannot find the run's snapshot {} (hash {}); looked in: {}. Give it with --snapshot",
            s.dir,
            s.hash,
            show(&tried)
        ),
    ))
}

fn show(ps: &[PathBuf]) -> String {
    let v: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
    v.join(", ")
}

/// A column as text (Utf8, LargeUtf8, Utf8View or a dictionary of them), or an error naming
/// the column and its type.
fn text_column(p: &Path, batch: &RecordBatch, name: &str) -> Result<ArrayRef, Error> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| bad(p, &format!("缺少列 {name}"), &format!("no column {name}")))?;
    let texty =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let ok = match c.data_type() {
        DataType::Dictionary(_, v) => texty(v),
        t => texty(t),
    };
    if !ok {
        return Err(not_type(p, name, c.data_type(), "文本", "text"));
    }
    arrow::compute::cast(c, &DataType::Utf8).map_err(|e| bad(p, &e.to_string(), &e.to_string()))
}

/// The text column as a `StringArray` (it was cast to Utf8).
fn strings<'a>(p: &Path, a: &'a ArrayRef, name: &str) -> Result<&'a StringArray, Error> {
    a.as_string_opt::<i32>()
        .ok_or_else(|| not_type(p, name, a.data_type(), "文本", "text"))
}

fn not_type(p: &Path, name: &str, t: &DataType, zh: &str, en: &str) -> Error {
    bad(
        p,
        &format!("列 {name} 的类型是 {t}，应为{zh}"),
        &format!("column {name} is of type {t}, not {en}"),
    )
}

/// Checks the schema before reading: every column a known type.
fn check_schema(p: &Path, schema: &Schema, text: &[&str], ints: &[&str]) -> Result<(), Error> {
    for name in text.iter().chain(ints) {
        let f = schema
            .field_with_name(name)
            .map_err(|_| bad(p, &format!("缺少列 {name}"), &format!("no column {name}")))?;
        let t = f.data_type();
        let inner = match t {
            DataType::Dictionary(_, v) => v.as_ref(),
            t => t,
        };
        let is_text = matches!(
            inner,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        if text.contains(name) && !is_text {
            return Err(not_type(p, name, t, "文本", "text"));
        }
        if ints.contains(name) && *t != DataType::Int64 {
            return Err(not_type(p, name, t, "64 位整数", "Int64"));
        }
    }
    Ok(())
}

fn open_parquet(
    p: &Path,
    text: &[&str],
    ints: &[&str],
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, Error> {
    let f = File::open(p).map_err(|e| io(p, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(p, &e.to_string(), &e.to_string()))?;
    let schema: Arc<Schema> = b.schema().clone();
    check_schema(p, &schema, text, ints)?;
    let mut idx = vec![];
    for name in text.iter().chain(ints) {
        idx.push(
            schema
                .index_of(name)
                .map_err(|_| bad(p, &format!("缺少列 {name}"), &format!("no column {name}")))?,
        );
    }
    let mask = ProjectionMask::roots(b.parquet_schema(), idx);
    b.with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| bad(p, &e.to_string(), &e.to_string()))
}

/// The non-zero rows of `results.parquet`, and every clause it evaluated.
fn read_rows(rp: &Path) -> Result<(Vec<ResultRow>, BTreeSet<String>), Error> {
    use runfile::col;
    let reader = open_parquet(
        rp,
        &[col::FIRM_ID, col::CLAUSE, col::TRANCHE],
        &[col::AMOUNT_FEN],
    )?;
    let mut rows = vec![];
    let mut clauses = BTreeSet::new();
    let mut at = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| bad(rp, &e.to_string(), &e.to_string()))?;
        let firm = text_column(rp, &batch, col::FIRM_ID)?;
        let clause = text_column(rp, &batch, col::CLAUSE)?;
        let tranche = text_column(rp, &batch, col::TRANCHE)?;
        let (firm, clause, tranche) = (
            strings(rp, &firm, col::FIRM_ID)?,
            strings(rp, &clause, col::CLAUSE)?,
            strings(rp, &tranche, col::TRANCHE)?,
        );
        let amount = batch
            .column_by_name(col::AMOUNT_FEN)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| {
                bad(
                    rp,
                    "amount_fen 不是整数列",
                    "amount_fen is not an integer column",
                )
            })?;
        let mut last_clause = "";
        for i in 0..batch.num_rows() {
            let n = at + i + 1;
            if firm.is_null(i) || clause.is_null(i) || tranche.is_null(i) {
                return Err(bad(
                    rp,
                    &format!("第{n}行的 firm_id、clause 或 tranche 为空"),
                    &format!("row {n}: firm_id, clause or tranche is null"),
                ));
            }
            let c = clause.value(i);
            if c != last_clause {
                clauses.insert(c.to_string());
                last_clause = c;
            }
            if amount.is_null(i) {
                continue;
            }
            let fen = amount.value(i);
            if fen < 0 {
                return Err(bad(
                    rp,
                    &format!("第{n}行金额为负"),
                    &format!("row {n}: negative amount"),
                ));
            }
            if fen != 0 {
                rows.push(ResultRow {
                    firm_id: firm.value(i).to_string(),
                    clause: c.to_string(),
                    tranche: tranche.value(i).to_string(),
                    fen,
                });
            }
        }
        at += batch.num_rows();
    }
    Ok((rows, clauses))
}

/// Names of the firms `want` from the snapshot's firms table.
fn read_names(dir: &Path, want: &HashSet<&str>) -> Result<HashMap<String, String>, Error> {
    use snapshot::col;
    let p = dir.join(snapshot::table_file(snapshot::FIRMS));
    let reader = open_parquet(&p, &[col::FIRM_ID, col::NAME], &[])?;
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(&p, &e.to_string(), &e.to_string()))?;
        let ids = text_column(&p, &batch, col::FIRM_ID)?;
        let names = text_column(&p, &batch, col::NAME)?;
        let (ids, names) = (
            strings(&p, &ids, col::FIRM_ID)?,
            strings(&p, &names, col::NAME)?,
        );
        for i in 0..batch.num_rows() {
            if ids.is_null(i) || names.is_null(i) {
                continue;
            }
            if want.contains(ids.value(i)) {
                out.insert(ids.value(i).to_string(), names.value(i).to_string());
            }
        }
    }
    Ok(out)
}
