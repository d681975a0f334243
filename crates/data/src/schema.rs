//! The Arrow schemas of a snapshot's tables, derived from a program's facts (docs/SNAPSHOT.md).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use huiqi_files::snapshot::{self as layout, col};
use huiqi_ir::{Fact, PeriodKind, Program, Ty};

/// Decimal places of money and ratio columns.
pub const DECIMAL_SCALE: i8 = 12;
pub const DECIMAL_PRECISION: u8 = 38;

/// Snapshot files in hash order.
pub const TABLES: [&str; 5] = layout::TABLES;

pub fn decimal() -> DataType {
    DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
}

/// The column type of a (non-event) fact.
pub fn fact_type(ty: Ty) -> DataType {
    match ty {
        Ty::Money | Ty::Ratio => decimal(),
        Ty::Count => DataType::Int64,
        Ty::Bool => DataType::Boolean,
        Ty::Date => DataType::Date32,
        Ty::Enum(_) | Ty::Text => DataType::Utf8,
    }
}

/// Facts of one period kind, in declaration order.
pub fn facts_of(p: &Program, kind: PeriodKind) -> Vec<usize> {
    (0..p.facts.len())
        .filter(|&i| p.facts[i].kind == kind)
        .collect()
}

fn key(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

fn with_facts(mut fields: Vec<Field>, p: &Program, kind: PeriodKind) -> SchemaRef {
    for f in facts_of(p, kind) {
        let fact: &Fact = &p.facts[f];
        fields.push(Field::new(&fact.name, fact_type(fact.ty), true));
    }
    Arc::new(Schema::new(fields))
}

pub fn firms(p: &Program) -> SchemaRef {
    with_facts(
        vec![
            key(col::FIRM_ID, DataType::Utf8),
            key(col::NAME, DataType::Utf8),
        ],
        p,
        PeriodKind::Static,
    )
}

pub fn yearly(p: &Program) -> SchemaRef {
    with_facts(
        vec![
            key(col::FIRM_ID, DataType::Utf8),
            key(col::YEAR, DataType::Int32),
        ],
        p,
        PeriodKind::Year,
    )
}

pub fn monthly(p: &Program) -> SchemaRef {
    with_facts(
        vec![
            key(col::FIRM_ID, DataType::Utf8),
            key(col::YEAR, DataType::Int32),
            key(col::MONTH, DataType::Int32),
        ],
        p,
        PeriodKind::Month,
    )
}

/// (event fact, field index) of each field column of the events table, in its order: facts in
/// declaration order, then each fact's fields in theirs.
pub fn event_fields(p: &Program) -> Vec<(usize, usize)> {
    facts_of(p, PeriodKind::Event)
        .into_iter()
        .flat_map(|f| (0..p.facts[f].fields.len()).map(move |j| (f, j)))
        .collect()
}

/// The events table: the record's key columns, then one Decimal128 column per field of an
/// event fact (`<fact>.<field>`), present only when some event fact declares fields.
pub fn events(p: &Program) -> SchemaRef {
    let mut fields = vec![
        key(col::FIRM_ID, DataType::Utf8),
        key(col::FACT, DataType::Utf8),
        key(col::DATE, DataType::Date32),
        Field::new(col::UNTIL, DataType::Date32, true),
        Field::new(col::VALUE, DataType::Utf8, true),
    ];
    for (f, j) in event_fields(p) {
        let fact = &p.facts[f];
        let name = layout::event_field_col(&fact.name, &fact.fields[j].name);
        fields.push(Field::new(name, decimal(), true));
    }
    Arc::new(Schema::new(fields))
}

pub fn awards() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key(col::FIRM_ID, DataType::Utf8),
        key(col::CLAUSE, DataType::Utf8),
        key(col::PERIOD, DataType::Int32),
        key(col::TRANCHE, DataType::Utf8),
        key(col::AMOUNT, decimal()),
    ]))
}

pub fn projects() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key(col::PROJECT_ID, DataType::Utf8),
        key(col::NAME, DataType::Utf8),
        key(col::ZONE, DataType::Utf8),
        Field::new(col::FIRM_ID, DataType::Utf8, true),
        key(col::YEAR, DataType::Int32),
        key(col::MONTH, DataType::Int32),
        key(col::INVESTMENT, decimal()),
    ]))
}

/// `money`, `ratio`, …, or the enum's name; None for events without a value.
pub fn type_name(p: &Program, f: &Fact) -> Option<String> {
    Some(match f.ty {
        Ty::Money => "money".into(),
        Ty::Ratio => "ratio".into(),
        Ty::Count => "count".into(),
        Ty::Bool if f.kind == PeriodKind::Event => return None,
        Ty::Bool => "bool".into(),
        Ty::Date => "date".into(),
        Ty::Text => "text".into(),
        Ty::Enum(e) => p.enums[e].name.clone(),
    })
}

/// A record field's type as the pack writes it: `money`, `ratio` or `count`.
pub fn field_type_name(t: Ty) -> &'static str {
    match t {
        Ty::Money => "money",
        Ty::Ratio => "ratio",
        Ty::Count => "count",
        Ty::Bool => "bool",
        Ty::Date => "date",
        Ty::Enum(_) => "enum",
        Ty::Text => "text",
    }
}

/// A fact's fields with their types, for messages: (`本金（money）、实付利息（money）`,
/// `本金 (money), 实付利息 (money)`).
pub fn field_list(f: &Fact) -> (String, String) {
    let zh: Vec<String> = (f.fields.iter())
        .map(|x| format!("{}（{}）", x.name, field_type_name(x.ty)))
        .collect();
    let en: Vec<String> = (f.fields.iter())
        .map(|x| format!("{} ({})", x.name, field_type_name(x.ty)))
        .collect();
    (zh.join("、"), en.join(", "))
}

pub fn period_name(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Static => "static",
        PeriodKind::Year => "per year",
        PeriodKind::Month => "per month",
        PeriodKind::Event => "event",
    }
}
