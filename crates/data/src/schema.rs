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

pub fn events() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key(col::FIRM_ID, DataType::Utf8),
        key(col::FACT, DataType::Utf8),
        key(col::DATE, DataType::Date32),
        Field::new(col::UNTIL, DataType::Date32, true),
        Field::new(col::VALUE, DataType::Utf8, true),
    ]))
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

pub fn period_name(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Static => "static",
        PeriodKind::Year => "per year",
        PeriodKind::Month => "per month",
        PeriodKind::Event => "event",
    }
}
