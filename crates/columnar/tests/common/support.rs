//! Test support: write in-memory firms as a snapshot (docs/SNAPSHOT.md layout), so the
//! columnar engine and the reference evaluator see exactly the same population.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use huiqi_columnar::compile::days;
use huiqi_ir::*;

fn dt(ty: Ty) -> DataType {
    match ty {
        Ty::Money | Ty::Ratio | Ty::Count => DataType::Decimal128(38, 12),
        Ty::Bool => DataType::Boolean,
        Ty::Date => DataType::Date32,
        _ => DataType::Utf8,
    }
}

fn array(p: &Program, ty: Ty, vals: &[Value]) -> ArrayRef {
    match dt(ty) {
        DataType::Decimal128(..) => Arc::new(
            vals.iter()
                .map(|v| v.num().and_then(money::to_scaled))
                .collect::<Decimal128Array>()
                .with_precision_and_scale(38, 12)
                .unwrap(),
        ),
        DataType::Boolean => Arc::new(vals.iter().map(|v| v.as_bool()).collect::<BooleanArray>()),
        DataType::Date32 => Arc::new(
            vals.iter()
                .map(|v| match v {
                    Value::Date(d) => Some(days(*d)),
                    _ => None,
                })
                .collect::<Date32Array>(),
        ),
        _ => Arc::new(
            vals.iter()
                .map(|v| match v {
                    Value::Enum(i) => p.enum_names(ty).map(|n| n[*i as usize].clone()),
                    Value::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .collect::<StringArray>(),
        ),
    }
}

fn write(dir: &Path, name: &str, fields: Vec<Field>, cols: Vec<ArrayRef>) {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let f = File::create(dir.join(format!("{name}.parquet"))).unwrap();
    let mut w = ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

pub fn write_snapshot(p: &Program, firms: &[Firm], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ids: Vec<String> = firms.iter().map(|f| f.id.clone()).collect();
    let statics: Vec<usize> = (0..p.facts.len())
        .filter(|&f| p.facts[f].kind == PeriodKind::Static)
        .collect();
    let yearly: Vec<usize> = (0..p.facts.len())
        .filter(|&f| p.facts[f].kind == PeriodKind::Year)
        .collect();
    let monthly: Vec<usize> = (0..p.facts.len())
        .filter(|&f| p.facts[f].kind == PeriodKind::Month)
        .collect();

    let mut fields = vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids.clone())),
        Arc::new(StringArray::from(
            firms.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        )),
    ];
    for &f in &statics {
        fields.push(Field::new(&p.facts[f].name, dt(p.facts[f].ty), true));
        let vals: Vec<Value> = firms
            .iter()
            .map(|firm| match &firm.facts[f] {
                FactData::Static(v) => v.clone(),
                _ => Value::Missing,
            })
            .collect();
        cols.push(array(p, p.facts[f].ty, &vals));
    }
    write(dir, "firms", fields, cols);

    // Yearly: one row per firm and year that has any yearly fact.
    let mut keys: Vec<(String, i32, usize)> = vec![];
    for (i, firm) in firms.iter().enumerate() {
        let mut years: Vec<i32> = yearly
            .iter()
            .flat_map(|&f| match &firm.facts[f] {
                FactData::Yearly(ys) => ys.iter().map(|(y, _)| *y).collect(),
                _ => vec![],
            })
            .collect();
        years.sort();
        years.dedup();
        keys.extend(years.into_iter().map(|y| (firm.id.clone(), y, i)));
    }
    let mut fields = vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("year", DataType::Int32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            keys.iter().map(|k| k.1).collect::<Vec<_>>(),
        )),
    ];
    for &f in &yearly {
        fields.push(Field::new(&p.facts[f].name, dt(p.facts[f].ty), true));
        let vals: Vec<Value> = keys
            .iter()
            .map(|(_, y, i)| firms[*i].value_at(f, *y))
            .collect();
        cols.push(array(p, p.facts[f].ty, &vals));
    }
    write(dir, "yearly", fields, cols);

    let mut mkeys: Vec<(String, i32, u32, usize)> = vec![];
    for (i, firm) in firms.iter().enumerate() {
        let mut ms: Vec<(i32, u32)> = monthly
            .iter()
            .flat_map(|&f| match &firm.facts[f] {
                FactData::Monthly(ms) => ms.iter().map(|(k, _)| *k).collect(),
                _ => vec![],
            })
            .collect();
        ms.sort();
        ms.dedup();
        mkeys.extend(ms.into_iter().map(|(y, m)| (firm.id.clone(), y, m, i)));
    }
    let mut fields = vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("year", DataType::Int32, false),
        Field::new("month", DataType::Int32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            mkeys.iter().map(|k| k.0.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            mkeys.iter().map(|k| k.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            mkeys.iter().map(|k| k.2 as i32).collect::<Vec<_>>(),
        )),
    ];
    for &f in &monthly {
        fields.push(Field::new(&p.facts[f].name, dt(p.facts[f].ty), true));
        let vals: Vec<Value> = mkeys
            .iter()
            .map(|(_, y, m, i)| match &firms[*i].facts[f] {
                FactData::Monthly(ms) => ms
                    .iter()
                    .find(|(k, _)| *k == (*y, *m))
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Missing),
                _ => Value::Missing,
            })
            .collect();
        cols.push(array(p, p.facts[f].ty, &vals));
    }
    write(dir, "monthly", fields, cols);

    let (mut ef, mut efact, mut edate, mut euntil, mut evalue) =
        (vec![], vec![], vec![], vec![], vec![]);
    // Record fields: one column per (fact, field), null on other facts' rows.
    let field_cols: Vec<(usize, usize)> = (0..p.facts.len())
        .flat_map(|f| (0..p.facts[f].fields.len()).map(move |i| (f, i)))
        .collect();
    let mut nums: Vec<Vec<Value>> = vec![vec![]; field_cols.len()];
    for firm in firms {
        for (f, data) in firm.facts.iter().enumerate() {
            if let FactData::Events(es) = data {
                for r in es {
                    for (k, (ff, i)) in field_cols.iter().enumerate() {
                        nums[k].push(if *ff == f {
                            r.nums.get(*i).cloned().unwrap_or(Value::Missing)
                        } else {
                            Value::Missing
                        });
                    }
                    ef.push(firm.id.clone());
                    efact.push(p.facts[f].name.clone());
                    edate.push(days(r.date));
                    euntil.push(r.until.map(days));
                    evalue.push(
                        r.value.and_then(|v| {
                            p.enum_names(p.facts[f].ty).map(|n| n[v as usize].clone())
                        }),
                    );
                }
            }
        }
    }
    let mut efields = vec![
        Field::new("firm_id", DataType::Utf8, false),
        Field::new("fact", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("until", DataType::Date32, true),
        Field::new("value", DataType::Utf8, true),
    ];
    let mut ecols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ef)),
        Arc::new(StringArray::from(efact)),
        Arc::new(Date32Array::from(edate)),
        Arc::new(Date32Array::from(euntil)),
        Arc::new(StringArray::from(evalue)),
    ];
    for ((f, i), vals) in field_cols.iter().zip(&nums) {
        let fact = &p.facts[*f];
        efields.push(Field::new(
            huiqi_files::snapshot::event_field_col(&fact.name, &fact.fields[*i].name),
            DataType::Decimal128(38, 12),
            true,
        ));
        ecols.push(array(p, fact.fields[*i].ty, vals));
    }
    write(dir, "events", efields, ecols);

    let (mut af, mut ac, mut ap, mut at, mut aa) = (vec![], vec![], vec![], vec![], vec![]);
    for firm in firms {
        for a in &firm.awards {
            af.push(firm.id.clone());
            ac.push(p.clauses[a.clause].name.clone());
            ap.push(a.period);
            at.push(a.tranche.clone());
            aa.push(money::to_scaled(a.amount));
        }
    }
    write(
        dir,
        "awards",
        vec![
            Field::new("firm_id", DataType::Utf8, false),
            Field::new("clause", DataType::Utf8, false),
            Field::new("period", DataType::Int32, false),
            Field::new("tranche", DataType::Utf8, false),
            Field::new("amount", DataType::Decimal128(38, 12), true),
        ],
        vec![
            Arc::new(StringArray::from(af)),
            Arc::new(StringArray::from(ac)),
            Arc::new(Int32Array::from(ap)),
            Arc::new(StringArray::from(at)),
            Arc::new(
                aa.into_iter()
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(38, 12)
                    .unwrap(),
            ),
        ],
    );
    let _ = Int64Array::from(Vec::<i64>::new());
}
