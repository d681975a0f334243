//! One firm's data as the evaluators see it: facts indexed by `FactId`, and award history.

use rust_decimal::Decimal;

use crate::date::Date;
use crate::program::ClauseId;
use crate::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct EventRec {
    pub date: Date,
    /// Last day of validity (certificates, titles); None: no end.
    pub until: Option<Date>,
    /// Enum variant, for event facts that carry a value.
    pub value: Option<u32>,
    /// The record's numbers, one per field the fact declares (`Fact::fields`, in that order;
    /// `Value::Missing` where the source left it empty). Empty for a fact without fields.
    pub nums: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub enum FactData {
    #[default]
    None,
    Static(Value),
    /// Sorted by year.
    Yearly(Vec<(i32, Value)>),
    /// Sorted by (year, month).
    Monthly(Vec<((i32, u32), Value)>),
    /// Sorted by date.
    Events(Vec<EventRec>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Award {
    pub clause: ClauseId,
    pub period: i32,
    pub tranche: String,
    /// 元.
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Firm {
    /// 统一社会信用代码 (or a test label when a test gives none).
    pub id: String,
    pub name: String,
    pub facts: Vec<FactData>,
    pub awards: Vec<Award>,
}

impl Firm {
    pub fn new(id: impl Into<String>, name: impl Into<String>, n_facts: usize) -> Firm {
        Firm {
            id: id.into(),
            name: name.into(),
            facts: vec![FactData::None; n_facts],
            awards: vec![],
        }
    }

    /// Value of a yearly or static fact in a year; `Missing` when absent.
    pub fn value_at(&self, fact: usize, year: i32) -> Value {
        match &self.facts[fact] {
            FactData::Static(v) => v.clone(),
            FactData::Yearly(ys) => match ys.binary_search_by_key(&year, |(y, _)| *y) {
                Ok(i) => ys[i].1.clone(),
                Err(_) => Value::Missing,
            },
            _ => Value::Missing,
        }
    }

    /// Earliest year with any yearly data: the start of "all earlier periods".
    pub fn first_year(&self) -> Option<i32> {
        self.facts
            .iter()
            .filter_map(|f| match f {
                FactData::Yearly(ys) => ys.first().map(|(y, _)| *y),
                FactData::Monthly(ms) => ms.first().map(|((y, _), _)| *y),
                _ => None,
            })
            .min()
    }

    /// Sum of this firm's earlier awards of a clause (periods before `period`).
    pub fn awarded_before(&self, clause: ClauseId, period: i32) -> Decimal {
        self.awards
            .iter()
            .filter(|a| a.clause == clause && a.period < period)
            .map(|a| a.amount)
            .sum()
    }
}
