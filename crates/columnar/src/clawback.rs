//! Clawbacks (追回) over a whole snapshot: the firms whose trigger event is dated in the period
//! (a DataFusion semi join of the awards table with the events table, filtered to each rule's
//! clauses and window), then each rule's share of what is left of every award, in declared
//! order. `huiqi_eval::clawback` is the reference; `tests/differential.rs` compares them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int32Type};
use datafusion::logical_expr::JoinType;
use datafusion::prelude::*;
use huiqi_files::snapshot::{self, col as c};
use huiqi_ir::money::{add_checked, sub_checked, ONE};
use huiqi_ir::{recover_fen, ClauseId, Date, Program};

use crate::error::Error;
use crate::load::read;

type R<T> = crate::error::Result<T>;

/// One amount to recover (the columns of `clawbacks.parquet`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub firm_id: Arc<str>,
    /// Index in `Program::clawbacks`.
    pub rule: usize,
    pub clause: ClauseId,
    pub tranche: String,
    pub award_period: i32,
    pub base_fen: i64,
    pub num: i128,
    pub den: i128,
    pub amount_fen: i64,
}

/// Days from 1970-01-01 (Date32) of a date.
fn days(d: Date) -> i32 {
    i32::try_from(d.days()).unwrap_or(i32::MAX)
}

/// Every recovery `p`'s clawback rules make in `year`, sorted by credit code, then rule, clause
/// (declaration order), tranche and award period. Empty without clawback rules (nothing read).
pub async fn clawbacks(p: &Program, dir: &Path, year: i32) -> R<Vec<Recovery>> {
    if p.clawbacks.is_empty() {
        return Ok(vec![]);
    }
    let ctx = SessionContext::new();
    let events = read(
        dir,
        snapshot::EVENTS,
        Some(&[c::FIRM_ID.into(), c::FACT.into(), c::DATE.into()]),
        None,
    )?;
    let awards = read(dir, snapshot::AWARDS, None, None)?;
    let clause_of: HashMap<&str, ClauseId> = p
        .clauses
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let (from, to) = (days(Date::year_start(year)), days(Date::year_end(year)));
    // (firm, clause, tranche, period) → 分 the earlier rules took this period.
    let mut taken: HashMap<(Arc<str>, ClauseId, String, i32), i64> = HashMap::new();
    let mut out = vec![];
    // The firm (then rule) first in credit-code order whose history is beyond range: the one
    // the run is refused for, as the reference names it.
    let mut beyond: Option<(Arc<str>, usize)> = None;
    for (k, rule) in p.clawbacks.iter().enumerate() {
        if rule.clauses.is_empty() {
            continue;
        }
        let triggered = ctx
            .read_batch(events.clone())?
            .filter(
                col(c::FACT)
                    .eq(lit(p.facts[rule.trigger].name.as_str()))
                    .and(col(c::DATE).between(
                        lit(datafusion::scalar::ScalarValue::Date32(Some(from))),
                        lit(datafusion::scalar::ScalarValue::Date32(Some(to))),
                    )),
            )?
            .select(vec![col(c::FIRM_ID).alias("t_firm")])?;
        let names: Vec<Expr> = rule
            .clauses
            .iter()
            .map(|&i| lit(p.clauses[i].name.as_str()))
            .collect();
        let reached = ctx
            .read_batch(awards.clone())?
            .filter(
                col(c::CLAUSE)
                    .in_list(names, false)
                    .and(col(c::PERIOD).between(lit(year - rule.years as i32), lit(year - 1))),
            )?
            .join(
                triggered,
                JoinType::LeftSemi,
                &[c::FIRM_ID],
                &["t_firm"],
                None,
            )?
            .select_columns(&[c::FIRM_ID, c::CLAUSE, c::TRANCHE, c::PERIOD, c::AMOUNT])?;
        // Each award's history, summed exactly on the fixed-point scale (the amounts are
        // Decimal128(38, 12): already that scale).
        let mut held: BTreeMap<(Arc<str>, ClauseId, String, i32), i128> = BTreeMap::new();
        for b in reached.collect().await? {
            // The snapshot's contract types (docs/SNAPSHOT.md), whatever view of them the plan
            // passes on.
            let utf8 = |k: usize| cast(b.column(k), &DataType::Utf8);
            let (firm, clause, tranche) = (utf8(0)?, utf8(1)?, utf8(2)?);
            let (firm, clause, tranche) = (
                firm.as_string::<i32>(),
                clause.as_string::<i32>(),
                tranche.as_string::<i32>(),
            );
            let period = cast(b.column(3), &DataType::Int32)?;
            let period = period.as_primitive::<Int32Type>();
            let amount = cast(b.column(4), &DataType::Decimal128(38, 12))?;
            let amount = amount.as_primitive::<Decimal128Type>();
            for i in 0..b.num_rows() {
                if firm.is_null(i) || clause.is_null(i) || period.is_null(i) {
                    continue;
                }
                let Some(&ci) = clause_of.get(clause.value(i)) else {
                    continue;
                };
                let v = if amount.is_null(i) {
                    0
                } else {
                    amount.value(i)
                };
                let t = if tranche.is_null(i) {
                    ""
                } else {
                    tranche.value(i)
                };
                let e = held
                    .entry((firm.value(i).into(), ci, t.to_string(), period.value(i)))
                    .or_insert(0);
                *e = add_checked(*e, v);
            }
        }
        for (key, v) in held {
            let before = taken.get(&key).copied().unwrap_or(0);
            let base = sub_checked(v, i128::from(before) * (ONE / 100));
            let Some((num, den)) = rule.share_of(key.3, year) else {
                continue;
            };
            let (Some(amount_fen), Some(base_fen)) =
                (recover_fen(base, num, den), recover_fen(base, 1, 1))
            else {
                if beyond.as_ref().is_none_or(|b| key.0 < b.0) {
                    beyond = Some((key.0.clone(), k));
                }
                continue;
            };
            if amount_fen <= 0 {
                continue;
            }
            *taken.entry(key.clone()).or_insert(0) += amount_fen;
            out.push(Recovery {
                firm_id: key.0,
                rule: k,
                clause: key.1,
                tranche: key.2,
                award_period: key.3,
                base_fen,
                num,
                den,
                amount_fen,
            });
        }
    }
    if let Some((firm, k)) = beyond {
        return Err(Error::engine(format!(
            "firm {firm}, clawback {}: the award history to recover from is beyond the range of exact arithmetic",
            p.clawbacks[k].name
        )));
    }
    out.sort_by(|a, b| {
        (&a.firm_id, a.rule, a.clause, &a.tranche, a.award_period).cmp(&(
            &b.firm_id,
            b.rule,
            b.clause,
            &b.tranche,
            b.award_period,
        ))
    });
    Ok(out)
}

/// Writes `clawbacks.parquet` (the columns of `huiqi_files::run::clawback_col`); returns its
/// sha256. Byte-identical for the same recoveries (fixed writer metadata, sorted rows).
pub fn write_parquet(p: &Program, recs: &[Recovery], path: &Path) -> R<String> {
    use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use huiqi_files::run::clawback_col as k;
    use std::io::Write;

    let schema = Arc::new(Schema::new(vec![
        Field::new(k::FIRM_ID, DataType::Utf8, false),
        Field::new(k::RULE, DataType::Utf8, false),
        Field::new(k::CLAUSE, DataType::Utf8, false),
        Field::new(k::TRANCHE, DataType::Utf8, false),
        Field::new(k::AWARD_PERIOD, DataType::Int32, false),
        Field::new(k::BASE_FEN, DataType::Int64, false),
        Field::new(k::SHARE, DataType::Utf8, false),
        Field::new(k::AMOUNT_FEN, DataType::Int64, false),
    ]));
    let texts = |f: &dyn Fn(&Recovery) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(recs.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        texts(&|r| r.firm_id.to_string()),
        texts(&|r| p.clawbacks[r.rule].name.clone()),
        texts(&|r| p.clauses[r.clause].name.clone()),
        texts(&|r| r.tranche.clone()),
        Arc::new(Int32Array::from_iter_values(
            recs.iter().map(|r| r.award_period),
        )),
        Arc::new(Int64Array::from_iter_values(
            recs.iter().map(|r| r.base_fen),
        )),
        texts(&|r| p.clawbacks[r.rule].share_text(r.num, r.den)),
        Arc::new(Int64Array::from_iter_values(
            recs.iter().map(|r| r.amount_fen),
        )),
    ];
    let options = ArrowWriterOptions::new()
        .with_properties(
            WriterProperties::builder()
                .set_created_by("huiqi run v1".into())
                .build(),
        )
        .with_skip_arrow_metadata(true);
    let mut w =
        ArrowWriter::try_new_with_options(crate::output::create(path)?, schema.clone(), options)
            .map_err(Error::engine)?;
    let batch = RecordBatch::try_new(schema, cols).map_err(Error::engine)?;
    w.write(&batch).map_err(Error::engine)?;
    let mut h = w.into_inner().map_err(Error::engine)?;
    h.flush().map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", sha2::Digest::finalize(h.hash)))
}

/// Writes `clawbacks.csv` for a person (UTF-8 with BOM; text cells neutralised as every CSV of
/// the project); returns its sha256.
pub fn write_csv(p: &Program, recs: &[Recovery], path: &Path) -> R<String> {
    use std::io::Write;
    let mut s = String::from(
        "\u{feff}统一社会信用代码,追回规则,条款,分期,奖励年度,已获（元）,追回比例,追回金额（元）,追回金额（分）\n",
    );
    let yuan = |f: i64| {
        let a = f.unsigned_abs();
        format!("{}{}.{:02}", if f < 0 { "-" } else { "" }, a / 100, a % 100)
    };
    for r in recs {
        for t in [
            &*r.firm_id,
            &p.clawbacks[r.rule].name,
            &p.clauses[r.clause].name,
            &r.tranche,
        ] {
            huiqi_files::csv::push_field(&mut s, t);
            s.push(',');
        }
        s.push_str(&format!("{},{},", r.award_period, yuan(r.base_fen)));
        huiqi_files::csv::push_field(&mut s, &p.clawbacks[r.rule].share_text(r.num, r.den));
        s.push_str(&format!(",{},{}\n", yuan(r.amount_fen), r.amount_fen));
    }
    let mut w = crate::output::create(path)?;
    w.write_all(s.as_bytes()).map_err(|e| Error::io(path, e))?;
    w.flush().map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", sha2::Digest::finalize(w.hash)))
}
