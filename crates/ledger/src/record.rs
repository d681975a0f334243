//! Recording a run: its manifest and its entitlements, all or nothing, idempotent.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};

use crate::audit::Chain;
use crate::db::{Arg, Db};
use crate::{args, Ctx, Error, Ledger, State};

/// One non-zero result row of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    pub firm_id: String,
    pub clause: String,
    pub tranche: String,
    pub fen: i64,
}

/// A run as the ledger records it.
#[derive(Clone, Debug)]
pub struct RunInput {
    /// First 16 hex digits of the manifest's SHA-256: the same run always has the same id.
    pub run_id: String,
    pub manifest: String,
    pub period: i64,
    pub policy_name: String,
    pub policy_hash: String,
    pub snapshot_hash: String,
    pub engine_version: String,
    pub results_sha256: String,
    /// Rows with a non-zero amount.
    pub rows: Vec<ResultRow>,
    /// Every clause the run evaluated (a ledger figure of such a clause that the run no longer
    /// gives is treated as zero).
    pub clauses: BTreeSet<String>,
    /// Firm names (from the run's snapshot), where known.
    pub names: HashMap<String, String>,
}

fn sha256_file(p: &Path) -> Result<String, Error> {
    let mut f = File::open(p).map_err(|e| Error::io(format!("{}: {e}", p.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(format!("{}: {e}", p.display())))?;
    Ok(format!("{:x}", h.finalize()))
}

fn bad(p: &Path, zh: &str, en: &str) -> Error {
    Error::input(
        format!("{}：{zh}", p.display()),
        format!("{}: {en}", p.display()),
    )
}

/// Reads `manifest.json` and `results.parquet` of a run directory (written by `huiqi run`),
/// checking the results file against the hash the manifest gives. Firm names come from the
/// snapshot's `firms.parquet` when `snapshot_dir` (or the manifest's) is readable.
pub fn read_results(run_dir: &Path, snapshot_dir: Option<&Path>) -> Result<RunInput, Error> {
    let mp = run_dir.join("manifest.json");
    let manifest = std::fs::read_to_string(&mp).map_err(|e| {
        Error::input(
            format!("{}：{e}", mp.display()),
            format!("{}: {e}", mp.display()),
        )
    })?;
    let m: serde_json::Value = serde_json::from_str(&manifest).map_err(|e| {
        bad(
            &mp,
            &format!("不是有效的 JSON：{e}"),
            &format!("not valid JSON: {e}"),
        )
    })?;
    let s = |path: &[&str]| -> Option<String> {
        let mut v = &m;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str().map(str::to_string)
    };
    let period = m
        .get("period")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad(&mp, "缺少 period", "no period"))?;
    let policy_hash =
        s(&["policy", "hash"]).ok_or_else(|| bad(&mp, "缺少 policy.hash", "no policy.hash"))?;
    let snapshot_hash = s(&["snapshot", "hash"])
        .ok_or_else(|| bad(&mp, "缺少 snapshot.hash", "no snapshot.hash"))?;
    let engine_version = s(&["engine", "version"]).unwrap_or_default();
    let policy_name = s(&["policy", "name"]).unwrap_or_default();
    let want = m
        .get("files")
        .and_then(|f| f.as_array())
        .and_then(|fs| {
            fs.iter()
                .find(|f| f.get("file").and_then(|x| x.as_str()) == Some("results.parquet"))
        })
        .and_then(|f| f.get("sha256"))
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            bad(
                &mp,
                "清单中没有 results.parquet 的哈希",
                "the manifest lists no results.parquet hash",
            )
        })?;
    let rp = run_dir.join("results.parquet");
    let got = sha256_file(&rp)?;
    if got != want {
        return Err(bad(
            &rp,
            "文件与运行清单中的哈希不符（结果被改动过？）",
            "does not match the hash in the run manifest (were the results edited?)",
        ));
    }
    let mut h = Sha256::new();
    h.update(manifest.as_bytes());
    let run_id = format!("{:x}", h.finalize())[..16].to_string();

    let f = File::open(&rp).map_err(|e| Error::io(format!("{}: {e}", rp.display())))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(&rp, &e.to_string(), &e.to_string()))?;
    let schema = b.schema().clone();
    let col = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| bad(&rp, &format!("缺少列 {name}"), &format!("no column {name}")))
    };
    let (ci, cc, ct, ca) = (
        col("firm_id")?,
        col("clause")?,
        col("tranche")?,
        col("amount_fen")?,
    );
    let mask = ProjectionMask::roots(b.parquet_schema(), [ci, cc, ct, ca]);
    let reader = b
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| bad(&rp, &e.to_string(), &e.to_string()))?;
    let mut rows = vec![];
    let mut clauses = BTreeSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(&rp, &e.to_string(), &e.to_string()))?;
        // Projected columns keep their file order.
        let mut idx = [ci, cc, ct, ca];
        idx.sort();
        let pos = |c: usize| idx.iter().position(|&x| x == c).unwrap();
        let firm = batch.column(pos(ci)).as_string::<i32>();
        let clause = batch.column(pos(cc)).as_string::<i32>();
        let tranche = batch.column(pos(ct)).as_string::<i32>();
        let amount = batch
            .column(pos(ca))
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| {
                bad(
                    &rp,
                    "amount_fen 不是整数列",
                    "amount_fen is not an integer column",
                )
            })?;
        let mut last_clause = "";
        for i in 0..batch.num_rows() {
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
                    &rp,
                    &format!("第{}行金额为负", i + 1),
                    &format!("row {}: negative amount", i + 1),
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
    }
    let snap = snapshot_dir
        .map(Path::to_path_buf)
        .or_else(|| s(&["snapshot", "dir"]).map(Into::into));
    let mut names = HashMap::new();
    if let Some(dir) = snap {
        let firms: HashSet<&str> = rows.iter().map(|r| r.firm_id.as_str()).collect();
        if let Ok(n) = read_names(&dir.join("firms.parquet"), &firms) {
            names = n;
        }
    }
    Ok(RunInput {
        run_id,
        manifest,
        period,
        policy_name,
        policy_hash,
        snapshot_hash,
        engine_version,
        results_sha256: got,
        rows,
        clauses,
        names,
    })
}

fn read_names(p: &Path, want: &HashSet<&str>) -> Result<HashMap<String, String>, String> {
    let f = File::open(p).map_err(|e| e.to_string())?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string())?;
    let schema = b.schema().clone();
    let (ci, cn) = (
        schema.index_of("firm_id").map_err(|e| e.to_string())?,
        schema.index_of("name").map_err(|e| e.to_string())?,
    );
    let mask = ProjectionMask::roots(b.parquet_schema(), [ci, cn]);
    let mut out = HashMap::new();
    for batch in b.with_projection(mask).build().map_err(|e| e.to_string())? {
        let batch = batch.map_err(|e| e.to_string())?;
        let (a, b) = if ci < cn { (0, 1) } else { (1, 0) };
        let ids = batch.column(a).as_string::<i32>();
        let ns = batch.column(b).as_string::<i32>();
        for i in 0..batch.num_rows() {
            if want.contains(ids.value(i)) {
                out.insert(ids.value(i).to_string(), ns.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// What recording did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub run_id: String,
    pub period: i64,
    /// The run was recorded before; nothing changed.
    pub already: bool,
    /// New entitlements (each with its award line).
    pub new: u64,
    pub new_fen: i64,
    /// Entitlements whose figure equals the ledger's.
    pub unchanged: u64,
    /// Entitlements whose figure changed.
    pub changed: u64,
    /// Open lines replaced by the corrected figure.
    pub superseded: u64,
    /// New lines for a difference to what was paid (or a replacement award).
    pub topups: u64,
    pub recoveries: u64,
}

const ENT_COLS: [&str; 8] = [
    "id",
    "firm_id",
    "clause",
    "period",
    "tranche",
    "computed_fen",
    "run_id",
    "last_run_id",
];
const ITEM_COLS: [&str; 12] = [
    "id",
    "entitlement_id",
    "version",
    "kind",
    "amount_fen",
    "state",
    "run_id",
    "original_id",
    "reason",
    "notice_id",
    "created_at",
    "updated_at",
];

impl Ledger {
    /// Records a run. Recording it again is a no-op; a corrected rerun (a new run of the same
    /// period) changes only the figures that differ, by superseding open lines and adding one
    /// line for the difference to what was paid.
    pub async fn record(&mut self, ctx: &Ctx, run: &RunInput) -> Result<RecordSummary, Error> {
        self.write(async |db: &mut Db| record_tx(db, ctx, run).await)
            .await
    }
}

async fn record_tx(db: &mut Db, ctx: &Ctx, run: &RunInput) -> Result<RecordSummary, Error> {
    let mut sum = RecordSummary {
        run_id: run.run_id.clone(),
        period: run.period,
        ..Default::default()
    };
    if db
        .row(
            "SELECT run_id FROM runs WHERE run_id = $1",
            &args![&run.run_id],
        )
        .await?
        .is_some()
    {
        sum.already = true;
        return Ok(sum);
    }
    let mut chain = Chain::open(db).await?;
    db.exec(
        "INSERT INTO runs (run_id, period, policy_name, policy_hash, snapshot_hash, engine_version, results_sha256, manifest, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &args![&run.run_id, run.period, &run.policy_name, &run.policy_hash, &run.snapshot_hash, &run.engine_version, &run.results_sha256, &run.manifest, &ctx.at, &ctx.actor],
    )
    .await?;
    // The ledger's current figures for this period.
    let mut existing: HashMap<(String, String, String), (i64, i64, bool)> = HashMap::new();
    for r in db
        .rows(
            "SELECT id, firm_id, clause, tranche, computed_fen FROM entitlements WHERE period = $1",
            &args![run.period],
        )
        .await?
    {
        existing.insert((r.s(1), r.s(2), r.s(3)), (r.i(0), r.i(4), false));
    }
    let mut next_ent = db
        .int("SELECT COALESCE(MAX(id), 0) FROM entitlements", &[])
        .await?
        + 1;
    let mut next_item = db
        .int("SELECT COALESCE(MAX(id), 0) FROM items", &[])
        .await?
        + 1;

    let mut ents: Vec<Vec<Arg>> = vec![];
    let mut items: Vec<Vec<Arg>> = vec![];
    let mut changed: Vec<(i64, i64)> = vec![];
    let mut digest = Sha256::new();
    for r in &run.rows {
        let key = (r.firm_id.clone(), r.clause.clone(), r.tranche.clone());
        if let Some(e) = existing.get_mut(&key) {
            if e.2 {
                return Err(Error::input(
                    format!(
                        "运行结果中 {} {} {} 出现两次",
                        r.firm_id, r.clause, r.tranche
                    ),
                    format!(
                        "the results list {} {} {} twice",
                        r.firm_id, r.clause, r.tranche
                    ),
                ));
            }
            e.2 = true;
            if e.1 == r.fen {
                sum.unchanged += 1;
            } else {
                changed.push((e.0, r.fen));
            }
            continue;
        }
        existing.insert(key, (next_ent, r.fen, true));
        ents.push(
            args![
                next_ent,
                &r.firm_id,
                &r.clause,
                run.period,
                &r.tranche,
                r.fen,
                &run.run_id,
                &run.run_id
            ]
            .to_vec(),
        );
        items.push(vec![
            Arg::from(next_item),
            Arg::from(next_ent),
            Arg::from(0),
            Arg::from("award"),
            Arg::from(r.fen),
            Arg::from(State::Computed.as_str()),
            Arg::from(&run.run_id),
            Arg::I(None),
            Arg::S(None),
            Arg::I(None),
            Arg::from(&ctx.at),
            Arg::from(&ctx.at),
        ]);
        digest.update(
            format!(
                "{next_item},{next_ent},{},{},{},{},{}\n",
                r.firm_id, r.clause, run.period, r.tranche, r.fen
            )
            .as_bytes(),
        );
        sum.new += 1;
        sum.new_fen += r.fen;
        next_ent += 1;
        next_item += 1;
    }
    // Figures the run no longer gives, in the clauses it evaluated, are now zero.
    for ((_, clause, _), (id, fen, seen)) in &existing {
        if !seen && *fen != 0 && run.clauses.contains(clause) {
            changed.push((*id, 0));
        }
    }
    changed.sort();
    sum.changed = changed.len() as u64;

    // Firm names not yet known.
    if !run.names.is_empty() {
        let known: HashSet<String> = db
            .rows("SELECT firm_id FROM firms", &[])
            .await?
            .into_iter()
            .map(|r| r.s(0))
            .collect();
        let mut new_firms: Vec<(&String, &String)> = run
            .names
            .iter()
            .filter(|(id, _)| !known.contains(*id))
            .collect();
        new_firms.sort();
        let rows: Vec<Vec<Arg>> = new_firms
            .into_iter()
            .map(|(i, n)| args![i, n].to_vec())
            .collect();
        db.bulk_insert("firms", &["firm_id", "name"], &rows).await?;
    }
    db.bulk_insert("entitlements", &ENT_COLS, &ents).await?;
    db.bulk_insert("items", &ITEM_COLS, &items).await?;
    let after = serde_json::json!({
        "period": run.period, "policy_hash": run.policy_hash, "snapshot_hash": run.snapshot_hash,
        "engine_version": run.engine_version, "results_sha256": run.results_sha256,
        "new": sum.new, "new_fen": sum.new_fen, "unchanged": sum.unchanged, "changed": sum.changed,
        "new_lines_sha256": format!("{:x}", digest.finalize()),
    });
    chain.push(
        ctx,
        "record",
        &format!("run:{}", run.run_id),
        "{}",
        &after.to_string(),
    );

    for (ent, fen) in changed {
        adjust(
            db,
            &mut chain,
            ctx,
            &run.run_id,
            ent,
            fen,
            &mut next_item,
            &mut sum,
        )
        .await?;
    }
    chain.flush(db).await?;
    Ok(sum)
}

/// A changed figure: open lines are superseded, and one new line carries the difference
/// between the new figure and what was paid.
#[allow(clippy::too_many_arguments)]
async fn adjust(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    run_id: &str,
    ent: i64,
    fen: i64,
    next_item: &mut i64,
    sum: &mut RecordSummary,
) -> Result<(), Error> {
    let old = db
        .int(
            "SELECT computed_fen FROM entitlements WHERE id = $1",
            &args![ent],
        )
        .await?;
    db.exec(
        "UPDATE entitlements SET computed_fen = $1, last_run_id = $2 WHERE id = $3",
        &args![fen, run_id, ent],
    )
    .await?;
    chain.push(
        ctx,
        "refigure",
        &format!("entitlement:{ent}"),
        &serde_json::json!({"computed_fen": old}).to_string(),
        &serde_json::json!({"computed_fen": fen, "run": run_id}).to_string(),
    );
    let lines = db
        .rows(
            "SELECT id, version, amount_fen, state FROM items WHERE entitlement_id = $1 ORDER BY version",
            &args![ent],
        )
        .await?;
    let mut paid_net = 0;
    let mut ever_paid = false;
    for l in &lines {
        let st = State::parse(&l.s(3)).unwrap_or(State::Superseded);
        if st == State::Paid {
            paid_net += l.i(2);
        }
        if matches!(st, State::Paid | State::Recovered) {
            ever_paid = true;
        }
        if st.open() {
            let n = db
                .exec(
                    "UPDATE items SET state = 'superseded', updated_at = $1 WHERE id = $2 AND state = $3",
                    &args![&ctx.at, l.i(0), st.as_str()],
                )
                .await?;
            if n != 1 {
                return Err(Error::db(format!("line {} changed underneath", l.i(0))));
            }
            chain.push(
                ctx,
                "supersede",
                &format!("item:{}", l.i(0)),
                &state_json(st, None),
                &state_json(State::Superseded, Some(&format!("run {run_id}"))),
            );
            sum.superseded += 1;
        }
    }
    let delta = fen - paid_net;
    if delta != 0 {
        let kind = if !ever_paid {
            "award"
        } else if delta > 0 {
            "topup"
        } else {
            "recovery"
        };
        match kind {
            "recovery" => sum.recoveries += 1,
            _ => sum.topups += 1,
        }
        let version = lines.last().map(|l| l.i(1) + 1).unwrap_or(0);
        let original = lines.first().map(|l| l.i(0));
        let id = *next_item;
        *next_item += 1;
        db.exec(
            "INSERT INTO items (id, entitlement_id, version, kind, amount_fen, state, run_id, original_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'computed', $6, $7, $8, $8)",
            &args![id, ent, version, kind, delta, run_id, original, &ctx.at],
        )
        .await?;
        chain.push(
            ctx,
            "adjust",
            &format!("item:{id}"),
            "{}",
            &serde_json::json!({"state": "computed", "entitlement": ent, "kind": kind, "amount_fen": delta, "original": original, "run": run_id}).to_string(),
        );
    }
    Ok(())
}

/// `{"state": …}` (and a reason) as audit before/after.
pub(crate) fn state_json(s: State, reason: Option<&str>) -> String {
    match reason {
        Some(r) => serde_json::json!({"state": s.as_str(), "reason": r}).to_string(),
        None => serde_json::json!({"state": s.as_str()}).to_string(),
    }
}
