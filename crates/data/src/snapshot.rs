//! Reading a snapshot back: the manifest, and every firm as a `huiqi_ir::Firm` for the reference
//! evaluator (the differential tests compare the columnar engine against exactly this).

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Int32Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use huiqi_files::snapshot::{self as layout, col};
use huiqi_ir::{Award, EventRec, FactData, Firm, PeriodKind, Program, Ty, Value};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;

pub use huiqi_files::snapshot::{Manifest, Rows, SourceInfo};

use crate::dates::from_days;
use crate::error::Error;
use crate::schema;

pub fn read_manifest(dir: &Path) -> Result<Manifest, Error> {
    let p = dir.join(layout::MANIFEST);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| Error::io(&p, e))
}

/// The firms a load keeps (None: every firm).
type Only<'a> = Option<&'a std::collections::BTreeSet<String>>;

/// A table's rows — with `only`, those of the named firms alone: a row filter on the credit
/// code, so the other columns of the other firms are never decoded.
fn read_table_of(
    dir: &Path,
    name: &str,
    only: Only,
) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
    use parquet::arrow::ProjectionMask;
    let p = dir.join(layout::table_file(name));
    let e = |x: &dyn std::fmt::Display| Error::io(&p, x);
    let f = File::open(&p).map_err(|x| e(&x))?;
    let mut b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|x| e(&x))?;
    let schema = b.schema().clone();
    if let Some(keep) = only {
        let idx = schema.index_of(col::FIRM_ID).map_err(|x| e(&x))?;
        // Tables are sorted by credit code: a row group whose [min, max] holds none of the firms
        // is skipped whole, from its statistics.
        let groups: Vec<usize> = (0..b.metadata().num_row_groups())
            .filter(|&g| {
                let stats = b.metadata().row_group(g).column(idx).statistics();
                let Some(parquet::file::statistics::Statistics::ByteArray(st)) = stats else {
                    return true;
                };
                match (
                    st.min_opt().and_then(|v| v.as_utf8().ok()),
                    st.max_opt().and_then(|v| v.as_utf8().ok()),
                ) {
                    (Some(lo), Some(hi)) => keep
                        .range::<str, _>((
                            std::ops::Bound::Included(lo),
                            std::ops::Bound::Included(hi),
                        ))
                        .next()
                        .is_some(),
                    _ => true,
                }
            })
            .collect();
        b = b.with_row_groups(groups);
        let keep: std::collections::HashSet<String> = keep.iter().cloned().collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), [idx]);
        let pred = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
            let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
            let ids = ids.as_string::<i32>();
            Ok((0..ids.len())
                .map(|i| Some(ids.is_valid(i) && keep.contains(ids.value(i))))
                .collect())
        });
        b = b.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
    }
    let batches = b
        .with_batch_size(65_536)
        .build()
        .map_err(|x| e(&x))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|x| e(&x))?;
    Ok((schema, batches))
}

/// An error naming the table's file: `<table>.parquet: …`.
fn bad_table(table: &str, zh: String, en: String) -> Error {
    let file = layout::table_file(table);
    Error::snapshot(format!("{file}：{zh}"), format!("{file}: {en}"))
}

/// Column index by name, checked to have the expected type.
fn column(
    schema: &SchemaRef,
    table: &str,
    name: &str,
    t: &DataType,
) -> Result<Option<usize>, Error> {
    match schema.index_of(name) {
        Ok(i) if schema.field(i).data_type() == t => Ok(Some(i)),
        Ok(i) => {
            let found = schema.field(i).data_type();
            Err(bad_table(
                table,
                format!("列 `{name}` 的类型是 {found}，应为 {t}"),
                format!("column `{name}` has type {found}, expected {t}"),
            ))
        }
        Err(_) => Ok(None),
    }
}

fn required(schema: &SchemaRef, table: &str, name: &str, t: DataType) -> Result<usize, Error> {
    column(schema, table, name, &t)?.ok_or_else(|| {
        bad_table(
            table,
            format!("没有列 `{name}`"),
            format!("no column `{name}`"),
        )
    })
}

fn dec(v: i128) -> Result<Decimal, Error> {
    Decimal::try_from_i128_with_scale(v, schema::DECIMAL_SCALE as u32)
        .map(|d| d.normalize())
        .map_err(|e| {
            Error::snapshot(
                format!("小数 {v}e-12 超出范围：{e}"),
                format!("decimal {v}e-12 out of range: {e}"),
            )
        })
}

/// The index of enum `e`'s value named `s`.
fn variant_of(p: &Program, e: usize, s: &str, table: Option<&str>) -> Result<u32, Error> {
    let name = &p.enums[e].name;
    match p.enums[e].variants.iter().position(|v| v == s) {
        Some(v) => Ok(v as u32),
        None => {
            let (zh, en) = (
                format!("`{s}` 不是枚举 {name} 的取值"),
                format!("`{s}` is not a value of enum {name}"),
            );
            Err(match table {
                Some(t) => bad_table(t, zh, en),
                None => Error::snapshot(zh, en),
            })
        }
    }
}

/// A fact's value at row `i`, or Missing.
fn value(p: &Program, ty: Ty, a: &ArrayRef, i: usize) -> Result<Value, Error> {
    if a.is_null(i) {
        return Ok(Value::Missing);
    }
    Ok(match ty {
        Ty::Money => Value::Money(dec(a.as_primitive::<Decimal128Type>().value(i))?),
        Ty::Ratio => Value::Ratio(dec(a.as_primitive::<Decimal128Type>().value(i))?),
        Ty::Count => Value::Count(Decimal::from(a.as_primitive::<Int64Type>().value(i))),
        Ty::Bool => Value::Bool(a.as_boolean().value(i)),
        Ty::Date => Value::Date(from_days(a.as_primitive::<Date32Type>().value(i))),
        Ty::Enum(e) => Value::Enum(variant_of(p, e, a.as_string::<i32>().value(i), None)?),
        Ty::Text => Value::Text(a.as_string::<i32>().value(i).to_string()),
    })
}

/// A record field's value at row `i` of its Decimal128 column `col`, or Missing; a count must
/// be whole.
fn field_value(ty: Ty, a: &ArrayRef, i: usize, col: &str) -> Result<Value, Error> {
    if a.is_null(i) {
        return Ok(Value::Missing);
    }
    let d = dec(a.as_primitive::<Decimal128Type>().value(i))?;
    Ok(match ty {
        Ty::Money => Value::Money(d),
        Ty::Ratio => Value::Ratio(d),
        Ty::Count if d.fract().is_zero() => Value::Count(d),
        _ => {
            return Err(bad_table(
                layout::EVENTS,
                format!("列 `{col}` 的 {d} 不是整数，而该字段是计数"),
                format!("column `{col}`: {d} is not a whole number, and the field is a count"),
            ))
        }
    })
}

/// Firm index of `id`: rows come sorted by firm_id, so a moving cursor finds it; a binary search
/// covers the rest.
fn firm_of(ids: &[String], cursor: &mut usize, id: &str, table: &str) -> Result<usize, Error> {
    if *cursor < ids.len() && ids[*cursor] == id {
        return Ok(*cursor);
    }
    match ids.binary_search_by(|x| x.as_str().cmp(id)) {
        Ok(i) => {
            *cursor = i;
            Ok(i)
        }
        Err(_) => {
            let firms = layout::table_file(layout::FIRMS);
            Err(bad_table(
                table,
                format!("企业 `{id}` 不在 {firms} 中"),
                format!("firm `{id}` is not in {firms}"),
            ))
        }
    }
}

/// Every firm of the snapshot, sorted by credit code, facts indexed by the program's `FactId`.
/// Columns for facts the program does not declare are ignored; facts without a column are
/// missing. Event facts and clauses the program does not know are skipped.
pub fn load_snapshot(dir: &Path, program: &Program) -> Result<Vec<Firm>, Error> {
    load_snapshot_of(dir, program, None)
}

/// [`load_snapshot`] for the named firms only (those the snapshot has, sorted): a few firms of
/// a large snapshot without decoding the others' rows.
pub fn load_snapshot_firms(
    dir: &Path,
    program: &Program,
    ids: &std::collections::BTreeSet<String>,
) -> Result<Vec<Firm>, Error> {
    load_snapshot_of(dir, program, Some(ids))
}

fn load_snapshot_of(dir: &Path, program: &Program, only: Only) -> Result<Vec<Firm>, Error> {
    let mut firms = load_firms(dir, program, only)?;
    let ids: Vec<String> = firms.iter().map(|f| f.id.clone()).collect();
    load_periods(dir, program, &ids, &mut firms, PeriodKind::Year, only)?;
    load_periods(dir, program, &ids, &mut firms, PeriodKind::Month, only)?;
    load_events(dir, program, &ids, &mut firms, only)?;
    load_awards(dir, program, &ids, &mut firms, only)?;
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

/// The firms table: one `Firm` per row with its static facts; rows must be sorted by id.
fn load_firms(dir: &Path, p: &Program, only: Only) -> Result<Vec<Firm>, Error> {
    let table = layout::FIRMS;
    let (sch, batches) = read_table_of(dir, table, only)?;
    let id_c = required(&sch, table, col::FIRM_ID, DataType::Utf8)?;
    let name_c = required(&sch, table, col::NAME, DataType::Utf8)?;
    let statics = fact_columns(p, &sch, table, PeriodKind::Static)?;
    let mut firms: Vec<Firm> = vec![];
    for b in &batches {
        let ids = b.column(id_c).as_string::<i32>();
        let names = b.column(name_c).as_string::<i32>();
        for i in 0..b.num_rows() {
            let mut f = Firm::new(ids.value(i), names.value(i), p.facts.len());
            for &(fact, c) in &statics {
                let v = value(p, p.facts[fact].ty, b.column(c), i)?;
                if !v.is_missing() {
                    f.facts[fact] = FactData::Static(v);
                }
            }
            if firms.last().is_some_and(|prev| prev.id >= f.id) {
                return Err(bad_table(
                    table,
                    format!("未按 {} 排序（在 `{}` 处）", col::FIRM_ID, f.id),
                    format!("not sorted by {} at `{}`", col::FIRM_ID, f.id),
                ));
            }
            firms.push(f);
        }
    }
    Ok(firms)
}

/// The yearly or monthly table into each firm's per-period facts.
fn load_periods(
    dir: &Path,
    p: &Program,
    ids: &[String],
    firms: &mut [Firm],
    kind: PeriodKind,
    only: Only,
) -> Result<(), Error> {
    let table = match kind {
        PeriodKind::Month => layout::MONTHLY,
        _ => layout::YEARLY,
    };
    let (sch, batches) = read_table_of(dir, table, only)?;
    let id_c = required(&sch, table, col::FIRM_ID, DataType::Utf8)?;
    let y_c = required(&sch, table, col::YEAR, DataType::Int32)?;
    let m_c = match kind {
        PeriodKind::Month => Some(required(&sch, table, col::MONTH, DataType::Int32)?),
        _ => None,
    };
    let cols = fact_columns(p, &sch, table, kind)?;
    let mut cursor = 0;
    for b in &batches {
        let idc = b.column(id_c).as_string::<i32>();
        let yc = b.column(y_c).as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            let fi = firm_of(ids, &mut cursor, idc.value(i), table)?;
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
    Ok(())
}

/// The events table into each firm's event facts.
fn load_events(
    dir: &Path,
    p: &Program,
    ids: &[String],
    firms: &mut [Firm],
    only: Only,
) -> Result<(), Error> {
    let table = layout::EVENTS;
    let (sch, batches) = read_table_of(dir, table, only)?;
    let c_id = required(&sch, table, col::FIRM_ID, DataType::Utf8)?;
    let c_fact = required(&sch, table, col::FACT, DataType::Utf8)?;
    let c_date = required(&sch, table, col::DATE, DataType::Date32)?;
    let c_until = required(&sch, table, col::UNTIL, DataType::Date32)?;
    let c_value = required(&sch, table, col::VALUE, DataType::Utf8)?;
    // Per fact, the columns of its fields (in the fact's order): every field the program's
    // fact declares must have its column.
    let mut c_fields: Vec<Vec<usize>> = vec![vec![]; p.facts.len()];
    for (f, j) in schema::event_fields(p) {
        let fact = &p.facts[f];
        let name = layout::event_field_col(&fact.name, &fact.fields[j].name);
        c_fields[f].push(required(&sch, table, &name, schema::decimal())?);
    }
    let mut cursor = 0;
    for b in &batches {
        let idc = b.column(c_id).as_string::<i32>();
        let fc = b.column(c_fact).as_string::<i32>();
        let dc = b.column(c_date).as_primitive::<Date32Type>();
        let uc = b.column(c_until).as_primitive::<Date32Type>();
        let vc = b.column(c_value).as_string::<i32>();
        for i in 0..b.num_rows() {
            let fi = firm_of(ids, &mut cursor, idc.value(i), table)?;
            let name = fc.value(i);
            let Some(fact) = p.fact_by_name(name) else {
                continue;
            };
            if p.facts[fact].kind != PeriodKind::Event {
                return Err(bad_table(
                    table,
                    format!("`{name}` 不是事件事实"),
                    format!("`{name}` is not an event fact"),
                ));
            }
            let value = match (p.facts[fact].ty, vc.is_null(i)) {
                (Ty::Enum(e), false) => Some(variant_of(p, e, vc.value(i), Some(table))?),
                (Ty::Enum(_), true) => {
                    return Err(bad_table(
                        table,
                        format!("事件 `{name}` 没有取值"),
                        format!("event `{name}` without a value"),
                    ))
                }
                _ => None,
            };
            let nums = (p.facts[fact].fields.iter().zip(&c_fields[fact]))
                .map(|(field, &c)| {
                    let col = layout::event_field_col(name, &field.name);
                    field_value(field.ty, b.column(c), i, &col)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rec = EventRec {
                date: from_days(dc.value(i)),
                until: (!uc.is_null(i)).then(|| from_days(uc.value(i))),
                value,
                nums,
            };
            let slot = &mut firms[fi].facts[fact];
            match slot {
                FactData::Events(es) => es.push(rec),
                _ => *slot = FactData::Events(vec![rec]),
            }
        }
    }
    Ok(())
}

/// The awards table into each firm's award history (clauses the program lacks are skipped).
fn load_awards(
    dir: &Path,
    p: &Program,
    ids: &[String],
    firms: &mut [Firm],
    only: Only,
) -> Result<(), Error> {
    let table = layout::AWARDS;
    let (sch, batches) = read_table_of(dir, table, only)?;
    let c_id = required(&sch, table, col::FIRM_ID, DataType::Utf8)?;
    let c_clause = required(&sch, table, col::CLAUSE, DataType::Utf8)?;
    let c_period = required(&sch, table, col::PERIOD, DataType::Int32)?;
    let c_tranche = required(&sch, table, col::TRANCHE, DataType::Utf8)?;
    let c_amount = required(&sch, table, col::AMOUNT, schema::decimal())?;
    let mut cursor = 0;
    for b in &batches {
        let idc = b.column(c_id).as_string::<i32>();
        let cc = b.column(c_clause).as_string::<i32>();
        let pc = b.column(c_period).as_primitive::<Int32Type>();
        let tc = b.column(c_tranche).as_string::<i32>();
        let ac = b.column(c_amount).as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            let fi = firm_of(ids, &mut cursor, idc.value(i), table)?;
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
    Ok(())
}

/// (fact, column index) for the program's facts of `kind` that the table has.
fn fact_columns(
    p: &Program,
    sch: &SchemaRef,
    table: &str,
    kind: PeriodKind,
) -> Result<Vec<(usize, usize)>, Error> {
    let mut out = vec![];
    for f in schema::facts_of(p, kind) {
        let fact = &p.facts[f];
        if let Some(c) = column(sch, table, &fact.name, &schema::fact_type(fact.ty))? {
            out.push((f, c));
        }
    }
    Ok(out)
}
