//! Reading a snapshot back: the manifest, and every firm as a `huiqi_ir::Firm` for the reference
//! evaluator (the differential tests compare the columnar engine against exactly this).

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Int32Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use huiqi_ir::{Award, EventRec, FactData, Firm, PeriodKind, Program, Ty, Value};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::dates::from_days;
use crate::schema;

/// Rows per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    pub firms: u64,
    pub yearly: u64,
    pub monthly: u64,
    pub events: u64,
    pub awards: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// As the mapping names it (relative to the mapping file).
    pub file: String,
    pub sha256: String,
    /// Data rows read (the header not counted).
    pub rows: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub hash: String,
    /// Fact name → `{ "type": …, "period": …, "values": [...] }` in declaration order.
    pub schema: serde_json::Map<String, serde_json::Value>,
    pub sources: Vec<SourceInfo>,
    pub rows: Rows,
    pub created_by: String,
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let p = dir.join("manifest.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

fn read_table(dir: &Path, name: &str) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let p = dir.join(format!("{name}.parquet"));
    let e = |x: &dyn std::fmt::Display| format!("{}: {x}", p.display());
    let f = File::open(&p).map_err(|x| e(&x))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|x| e(&x))?;
    let schema = b.schema().clone();
    let batches = b
        .with_batch_size(65_536)
        .build()
        .map_err(|x| e(&x))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|x| e(&x))?;
    Ok((schema, batches))
}

/// Column index by name, checked to have the expected type.
fn column(
    schema: &SchemaRef,
    table: &str,
    name: &str,
    t: &DataType,
) -> Result<Option<usize>, String> {
    match schema.index_of(name) {
        Ok(i) if schema.field(i).data_type() == t => Ok(Some(i)),
        Ok(i) => Err(format!(
            "{table}.parquet: column `{name}` has type {}, expected {t}",
            schema.field(i).data_type()
        )),
        Err(_) => Ok(None),
    }
}

fn required(schema: &SchemaRef, table: &str, name: &str, t: DataType) -> Result<usize, String> {
    column(schema, table, name, &t)?.ok_or_else(|| format!("{table}.parquet: no column `{name}`"))
}

fn dec(v: i128) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(v, schema::DECIMAL_SCALE as u32)
        .map(|d| d.normalize())
        .map_err(|e| format!("decimal {v}e-12 out of range: {e}"))
}

/// A fact's value at row `i`, or Missing.
fn value(p: &Program, ty: Ty, a: &ArrayRef, i: usize) -> Result<Value, String> {
    if a.is_null(i) {
        return Ok(Value::Missing);
    }
    Ok(match ty {
        Ty::Money => Value::Money(dec(a.as_primitive::<Decimal128Type>().value(i))?),
        Ty::Ratio => Value::Ratio(dec(a.as_primitive::<Decimal128Type>().value(i))?),
        Ty::Count => Value::Count(Decimal::from(a.as_primitive::<Int64Type>().value(i))),
        Ty::Bool => Value::Bool(a.as_boolean().value(i)),
        Ty::Date => Value::Date(from_days(a.as_primitive::<Date32Type>().value(i))),
        Ty::Enum(e) => {
            let s = a.as_string::<i32>().value(i);
            let v = p.enums[e]
                .variants
                .iter()
                .position(|v| v == s)
                .ok_or_else(|| format!("`{s}` is not a value of enum {}", p.enums[e].name))?;
            Value::Enum(v as u32)
        }
        Ty::Text => Value::Text(a.as_string::<i32>().value(i).to_string()),
    })
}

/// Firm index of `id`: rows come sorted by firm_id, so a moving cursor finds it; a binary search
/// covers the rest.
fn firm_of(ids: &[String], cursor: &mut usize, id: &str, table: &str) -> Result<usize, String> {
    if *cursor < ids.len() && ids[*cursor] == id {
        return Ok(*cursor);
    }
    match ids.binary_search_by(|x| x.as_str().cmp(id)) {
        Ok(i) => {
            *cursor = i;
            Ok(i)
        }
        Err(_) => Err(format!(
            "{table}.parquet: firm `{id}` is not in firms.parquet"
        )),
    }
}

/// Every firm of the snapshot, sorted by credit code, facts indexed by the program's `FactId`.
/// Columns for facts the program does not declare are ignored; facts without a column are
/// missing. Event facts and clauses the program does not know are skipped.
pub fn load_snapshot(dir: &Path, program: &Program) -> Result<Vec<Firm>, String> {
    let p = program;
    let nf = p.facts.len();

    let (sch, batches) = read_table(dir, "firms")?;
    let id_c = required(&sch, "firms", "firm_id", DataType::Utf8)?;
    let name_c = required(&sch, "firms", "name", DataType::Utf8)?;
    let statics = fact_columns(p, &sch, "firms", PeriodKind::Static)?;
    let mut firms: Vec<Firm> = vec![];
    for b in &batches {
        let ids = b.column(id_c).as_string::<i32>();
        let names = b.column(name_c).as_string::<i32>();
        for i in 0..b.num_rows() {
            let mut f = Firm::new(ids.value(i), names.value(i), nf);
            for &(fact, c) in &statics {
                let v = value(p, p.facts[fact].ty, b.column(c), i)?;
                if !v.is_missing() {
                    f.facts[fact] = FactData::Static(v);
                }
            }
            if let Some(prev) = firms.last() {
                if prev.id >= f.id {
                    return Err(format!(
                        "firms.parquet: not sorted by firm_id at `{}`",
                        f.id
                    ));
                }
            }
            firms.push(f);
        }
    }
    let ids: Vec<String> = firms.iter().map(|f| f.id.clone()).collect();

    for (table, kind) in [("yearly", PeriodKind::Year), ("monthly", PeriodKind::Month)] {
        let (sch, batches) = read_table(dir, table)?;
        let id_c = required(&sch, table, "firm_id", DataType::Utf8)?;
        let y_c = required(&sch, table, "year", DataType::Int32)?;
        let m_c = match kind {
            PeriodKind::Month => Some(required(&sch, table, "month", DataType::Int32)?),
            _ => None,
        };
        let cols = fact_columns(p, &sch, table, kind)?;
        let mut cursor = 0;
        for b in &batches {
            let idc = b.column(id_c).as_string::<i32>();
            let yc = b.column(y_c).as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let fi = firm_of(&ids, &mut cursor, idc.value(i), table)?;
                let year = yc.value(i);
                let month = m_c.map(|c| b.column(c).as_primitive::<Int32Type>().value(i) as u32);
                for &(fact, c) in &cols {
                    let v = value(p, p.facts[fact].ty, b.column(c), i)?;
                    if v.is_missing() {
                        continue;
                    }
                    let slot = &mut firms[fi].facts[fact];
                    match (month, &mut *slot) {
                        (None, FactData::Yearly(ys)) => ys.push((year, v)),
                        (None, _) => *slot = FactData::Yearly(vec![(year, v)]),
                        (Some(m), FactData::Monthly(ms)) => ms.push(((year, m), v)),
                        (Some(m), _) => *slot = FactData::Monthly(vec![((year, m), v)]),
                    }
                }
            }
        }
    }

    let (sch, batches) = read_table(dir, "events")?;
    let c_id = required(&sch, "events", "firm_id", DataType::Utf8)?;
    let c_fact = required(&sch, "events", "fact", DataType::Utf8)?;
    let c_date = required(&sch, "events", "date", DataType::Date32)?;
    let c_until = required(&sch, "events", "until", DataType::Date32)?;
    let c_value = required(&sch, "events", "value", DataType::Utf8)?;
    let mut cursor = 0;
    for b in &batches {
        let idc = b.column(c_id).as_string::<i32>();
        let fc = b.column(c_fact).as_string::<i32>();
        let dc = b.column(c_date).as_primitive::<Date32Type>();
        let uc = b.column(c_until).as_primitive::<Date32Type>();
        let vc = b.column(c_value).as_string::<i32>();
        for i in 0..b.num_rows() {
            let fi = firm_of(&ids, &mut cursor, idc.value(i), "events")?;
            let Some(fact) = p.fact_by_name(fc.value(i)) else {
                continue;
            };
            if p.facts[fact].kind != PeriodKind::Event {
                return Err(format!(
                    "events.parquet: `{}` is not an event fact",
                    fc.value(i)
                ));
            }
            let value = match (p.facts[fact].ty, vc.is_null(i)) {
                (Ty::Enum(e), false) => {
                    let s = vc.value(i);
                    let v = p.enums[e]
                        .variants
                        .iter()
                        .position(|v| v == s)
                        .ok_or_else(|| {
                            format!(
                                "events.parquet: `{s}` is not a value of enum {}",
                                p.enums[e].name
                            )
                        })?;
                    Some(v as u32)
                }
                (Ty::Enum(_), true) => {
                    return Err(format!(
                        "events.parquet: event `{}` without a value",
                        fc.value(i)
                    ))
                }
                _ => None,
            };
            let rec = EventRec {
                date: from_days(dc.value(i)),
                until: (!uc.is_null(i)).then(|| from_days(uc.value(i))),
                value,
            };
            let slot = &mut firms[fi].facts[fact];
            match slot {
                FactData::Events(es) => es.push(rec),
                _ => *slot = FactData::Events(vec![rec]),
            }
        }
    }

    let (sch, batches) = read_table(dir, "awards")?;
    let c_id = required(&sch, "awards", "firm_id", DataType::Utf8)?;
    let c_clause = required(&sch, "awards", "clause", DataType::Utf8)?;
    let c_period = required(&sch, "awards", "period", DataType::Int32)?;
    let c_tranche = required(&sch, "awards", "tranche", DataType::Utf8)?;
    let c_amount = required(&sch, "awards", "amount", schema::decimal())?;
    let mut cursor = 0;
    for b in &batches {
        let idc = b.column(c_id).as_string::<i32>();
        let cc = b.column(c_clause).as_string::<i32>();
        let pc = b.column(c_period).as_primitive::<Int32Type>();
        let tc = b.column(c_tranche).as_string::<i32>();
        let ac = b.column(c_amount).as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            let fi = firm_of(&ids, &mut cursor, idc.value(i), "awards")?;
            let Some(clause) = p.clause_by_name(cc.value(i)) else {
                continue;
            };
            firms[fi].awards.push(Award {
                clause,
                period: pc.value(i),
                tranche: tc.value(i).to_string(),
                amount: dec(ac.value(i))?,
            });
        }
    }

    // The files are sorted already; sorting again makes the contract hold even for snapshots
    // written by other tools. Stable sorts keep the file's order among equal keys.
    for f in &mut firms {
        for d in &mut f.facts {
            match d {
                FactData::Yearly(ys) => ys.sort_by_key(|(y, _)| *y),
                FactData::Monthly(ms) => ms.sort_by_key(|(k, _)| *k),
                FactData::Events(es) => es.sort_by_key(|e| e.date),
                _ => {}
            }
        }
    }
    Ok(firms)
}

/// (fact, column index) for the program's facts of `kind` that the table has.
fn fact_columns(
    p: &Program,
    sch: &SchemaRef,
    table: &str,
    kind: PeriodKind,
) -> Result<Vec<(usize, usize)>, String> {
    let mut out = vec![];
    for f in schema::facts_of(p, kind) {
        let fact = &p.facts[f];
        if let Some(c) = column(sch, table, &fact.name, &schema::fact_type(fact.ty))? {
            out.push((f, c));
        }
    }
    Ok(out)
}
