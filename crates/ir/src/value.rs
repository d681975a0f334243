//! Runtime values. Types are checked statically; the tags are kept for display and for
//! defensive arithmetic.

use rust_decimal::Decimal;

use crate::date::Date;
use crate::money;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No data for this period (or a division by zero): propagates through arithmetic.
    Missing,
    Bool(bool),
    /// 元, exact.
    Money(Decimal),
    Ratio(Decimal),
    Count(Decimal),
    Date(Date),
    /// Index of the variant in its enum.
    Enum(u32),
    Text(String),
}

impl Value {
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }
    pub fn num(&self) -> Option<Decimal> {
        match self {
            Value::Money(d) | Value::Ratio(d) | Value::Count(d) => Some(*d),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// Human display; enum variants need their names, passed by the caller.
    pub fn display(&self, enum_names: Option<&[String]>, en: bool) -> String {
        match self {
            Value::Missing => if en { "missing" } else { "缺失" }.into(),
            Value::Bool(b) => match (b, en) {
                (true, false) => "是".into(),
                (false, false) => "否".into(),
                (true, true) => "yes".into(),
                (false, true) => "no".into(),
            },
            Value::Money(d) => {
                if en {
                    money::fmt_money_en(*d)
                } else {
                    money::fmt_money_zh(*d)
                }
            }
            Value::Ratio(d) => money::fmt_ratio(*d),
            Value::Count(d) => money::fmt_plain(*d),
            Value::Date(d) => d.to_string(),
            Value::Enum(i) => enum_names
                .and_then(|n| n.get(*i as usize).cloned())
                .unwrap_or_else(|| format!("#{i}")),
            Value::Text(t) => t.clone(),
        }
    }
}
