//! Reading a run directory for `ledger record`: its manifest (`huiqi_files::run::RunManifest`),
//! its results (`results.parquet`, checked against the manifest's hash), its clawbacks
//! (`clawbacks.parquet`, when the manifest has a `clawbacks` entry; checked the same way) and
//! the firm names of the snapshot it ran on (`huiqi_files::snapshot`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use huiqi_files::run::{self as runfile, RunManifest};
use huiqi_files::snapshot;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};

use crate::record::{ClawbackRow, ResultRow, RunInput};
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
    let (clawbacks, rules) = read_run_clawbacks(run_dir, &mp, &m)?;
    let snap = match snapshot_dir {
        Some(d) => d.to_path_buf(),
        None => find_snapshot(run_dir, &m.snapshot)?,
    };
    let firms: HashSet<&str> = rows
        .iter()
        .map(|r| r.firm_id.as_str())
        .chain(clawbacks.iter().map(|c| c.firm_id.as_str()))
        .collect();
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
        clawbacks,
        rules,
    })
}

/// The run's clawbacks and the rules it evaluated, when its manifest has a `clawbacks` entry:
/// `clawbacks.parquet` checked against the manifest's hash, like the results. Without the
/// entry (a pack without clawback rules, an older run) there are none — and a manifest listing
/// the file without the entry is refused.
fn read_run_clawbacks(
    run_dir: &Path,
    mp: &Path,
    m: &RunManifest,
) -> Result<(Vec<ClawbackRow>, BTreeSet<String>), Error> {
    let listed = m.file_hash(runfile::CLAWBACKS_PARQUET);
    let Some(c) = &m.clawbacks else {
        if listed.is_some() {
            return Err(bad(
                mp,
                "清单列有 clawbacks.parquet 的哈希，却没有 clawbacks 项",
                "the manifest lists a clawbacks.parquet hash but has no clawbacks entry",
            ));
        }
        return Ok((vec![], BTreeSet::new()));
    };
    let want = listed.ok_or_else(|| {
        bad(
            mp,
            "清单有 clawbacks 项，却没有 clawbacks.parquet 的哈希",
            "the manifest has a clawbacks entry but lists no clawbacks.parquet hash",
        )
    })?;
    let cp = run_dir.join(runfile::CLAWBACKS_PARQUET);
    if !cp.exists() {
        return Err(bad(
            &cp,
            "运行清单有追回（clawbacks），但运行目录中没有该文件",
            "the run manifest has clawbacks, but the run directory has no such file",
        ));
    }
    if sha256_file(&cp)? != want {
        return Err(bad(
            &cp,
            "文件与运行清单中的哈希不符（追回结果被改动过？）",
            "does not match the hash in the run manifest (were the clawbacks edited?)",
        ));
    }
    let rules: BTreeSet<String> = c.rules.iter().cloned().collect();
    let rows = read_clawbacks(&cp, &rules)?;
    let total = rows
        .iter()
        .try_fold(0i64, |t, r| t.checked_add(r.fen))
        .ok_or_else(|| bad(&cp, "追回金额合计溢出", "the clawbacks' total overflows"))?;
    if rows.len() != c.rows || total != c.amount_fen {
        return Err(bad(
            &cp,
            &format!(
                "有 {} 行、合计 {total} 分，运行清单记的是 {} 行、{} 分",
                rows.len(),
                c.rows,
                c.amount_fen
            ),
            &format!(
                "has {} rows totalling {total} fen; the run manifest says {} rows, {} fen",
                rows.len(),
                c.rows,
                c.amount_fen
            ),
        ));
    }
    Ok((rows, rules))
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

/// Integer columns: (name, type, its name for people in Chinese).
type IntCol<'a> = (&'a str, DataType, &'a str);

fn int64(name: &str) -> IntCol<'_> {
    (name, DataType::Int64, "64 位整数")
}

/// Checks the schema before reading: every column a known type.
fn check_schema(p: &Path, schema: &Schema, text: &[&str], ints: &[IntCol]) -> Result<(), Error> {
    let names = text.iter().copied().chain(ints.iter().map(|c| c.0));
    for name in names {
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
        if text.contains(&name) && !is_text {
            return Err(not_type(p, name, t, "文本", "text"));
        }
        if let Some((_, want, zh)) = ints.iter().find(|c| c.0 == name) {
            if t != want {
                return Err(not_type(p, name, t, zh, &want.to_string()));
            }
        }
    }
    Ok(())
}

fn open_parquet(
    p: &Path,
    text: &[&str],
    ints: &[IntCol],
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, Error> {
    let f = File::open(p).map_err(|e| io(p, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(p, &e.to_string(), &e.to_string()))?;
    let schema: Arc<Schema> = b.schema().clone();
    check_schema(p, &schema, text, ints)?;
    let mut idx = vec![];
    for name in text.iter().copied().chain(ints.iter().map(|c| c.0)) {
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
        &[int64(col::AMOUNT_FEN)],
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

/// The rows of `clawbacks.parquet`: every key column set, every amount above zero, every rule
/// one the manifest says the run evaluated, no key (firm, rule, clause, tranche, award period)
/// twice. An error names the row (counted from 1).
fn read_clawbacks(cp: &Path, rules: &BTreeSet<String>) -> Result<Vec<ClawbackRow>, Error> {
    use runfile::clawback_col as col;
    let text = [col::FIRM_ID, col::RULE, col::CLAUSE, col::TRANCHE];
    let reader = open_parquet(
        cp,
        &text,
        &[
            (col::AWARD_PERIOD, DataType::Int32, "32 位整数"),
            int64(col::AMOUNT_FEN),
        ],
    )?;
    let mut rows: Vec<ClawbackRow> = vec![];
    let mut seen: HashMap<(String, String, String, String, i64), usize> = HashMap::new();
    let mut at = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| bad(cp, &e.to_string(), &e.to_string()))?;
        let cols = text
            .iter()
            .map(|c| text_column(cp, &batch, c))
            .collect::<Result<Vec<ArrayRef>, Error>>()?;
        let strs = cols
            .iter()
            .zip(text)
            .map(|(a, c)| strings(cp, a, c))
            .collect::<Result<Vec<&StringArray>, Error>>()?;
        let period = batch
            .column_by_name(col::AWARD_PERIOD)
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
            .ok_or_else(|| not_int(cp, col::AWARD_PERIOD))?;
        let amount = batch
            .column_by_name(col::AMOUNT_FEN)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| not_int(cp, col::AMOUNT_FEN))?;
        for i in 0..batch.num_rows() {
            let n = at + i + 1;
            let null = text
                .iter()
                .zip(&strs)
                .find(|(_, a)| a.is_null(i))
                .map(|(c, _)| *c)
                .or_else(|| period.is_null(i).then_some(col::AWARD_PERIOD))
                .or_else(|| amount.is_null(i).then_some(col::AMOUNT_FEN));
            if let Some(c) = null {
                return Err(bad(
                    cp,
                    &format!("第{n}行的 {c} 为空"),
                    &format!("row {n}: {c} is null"),
                ));
            }
            let fen = amount.value(i);
            if fen <= 0 {
                return Err(bad(
                    cp,
                    &format!("第{n}行的追回金额 amount_fen 应大于零，实为 {fen}"),
                    &format!("row {n}: amount_fen must be above zero, not {fen}"),
                ));
            }
            let r = ClawbackRow {
                firm_id: strs[0].value(i).to_string(),
                rule: strs[1].value(i).to_string(),
                clause: strs[2].value(i).to_string(),
                tranche: strs[3].value(i).to_string(),
                award_period: i64::from(period.value(i)),
                fen,
            };
            if !rules.contains(&r.rule) {
                return Err(bad(
                    cp,
                    &format!(
                        "第{n}行的追回规则“{}”不在运行清单的 clawbacks.rules 中",
                        r.rule
                    ),
                    &format!(
                        "row {n}: rule {} is not among the run manifest's clawbacks.rules",
                        r.rule
                    ),
                ));
            }
            let key = (
                r.firm_id.clone(),
                r.rule.clone(),
                r.clause.clone(),
                r.tranche.clone(),
                r.award_period,
            );
            if let Some(m) = seen.insert(key, n) {
                return Err(bad(
                    cp,
                    &format!(
                        "第{n}行与第{m}行重复（企业 {}、规则 {}、条款 {}、分期 {}、年度 {}）",
                        r.firm_id, r.rule, r.clause, r.tranche, r.award_period
                    ),
                    &format!(
                        "row {n} repeats row {m} (firm {}, rule {}, clause {}, tranche {:?}, award period {})",
                        r.firm_id, r.rule, r.clause, r.tranche, r.award_period
                    ),
                ));
            }
            rows.push(r);
        }
        at += batch.num_rows();
    }
    Ok(rows)
}

fn not_int(p: &Path, name: &str) -> Error {
    bad(
        p,
        &format!("{name} 不是整数列"),
        &format!("{name} is not an integer column"),
    )
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
