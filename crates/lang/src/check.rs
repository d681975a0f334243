//! Name resolution and type checking: AST → IR, with the static checks policy officers need
//! (unknown names, type and unit errors, tier overlaps and gaps, unreachable rules, missing
//! source references).

use std::collections::HashMap;

use huiqi_ir::money::RoundUnit;
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::ast::{self, Ident};
use crate::diag::{did_you_mean, guess_hint, Diag, Near, SourceMap, Span};

mod call;
mod clause;
mod expr;
mod items;
mod rules;
mod table;
mod testcase;
mod weight;

pub use items::check;
use weight::Weight;
pub use weight::MAX_EXPANDED_NODES;

/// Code of a follow-on error caused by an earlier one; such diagnostics are dropped.
const CASCADE: &str = "E0000";

fn ty_name(p: Option<&[EnumDef]>, t: Ty) -> String {
    match t {
        Ty::Money => "money(金额)".into(),
        Ty::Ratio => "ratio(比例)".into(),
        Ty::Count => "count(数量)".into(),
        Ty::Bool => "bool(是/否)".into(),
        Ty::Date => "date(日期)".into(),
        Ty::Text => "text(文本)".into(),
        Ty::Enum(e) => p
            .and_then(|es| es.get(e))
            .map(|e| format!("enum {}", e.name))
            .unwrap_or("enum".into()),
    }
}

/// What the checker knows so far: the declarations lowered, and the diagnostics found.
struct Checker<'a> {
    sm: &'a SourceMap,
    diags: Vec<Diag>,
    enums: Vec<EnumDef>,
    enum_idx: HashMap<String, usize>,
    facts: Vec<Fact>,
    fact_idx: HashMap<String, usize>,
    params: Vec<Param>,
    param_idx: HashMap<String, usize>,
    tables: Vec<Table>,
    /// The expanded size of each table, by id (see `weight`).
    table_weights: Vec<Weight>,
    table_idx: HashMap<String, usize>,
    clause_idx: HashMap<String, usize>,
    /// Names whose declaration already failed: uses of them are not reported again.
    failed: std::collections::HashSet<String>,
}

/// What names an expression may see.
#[derive(Default)]
struct Scope<'s> {
    lets: Vec<(&'s str, Ty)>,
    /// The expanded size of each let (see `weight`).
    let_weights: &'s [Weight],
    clause: Option<ClauseId>,
}

type R<T> = Result<T, Diag>;

fn err(
    code: &'static str,
    span: Span,
    zh: impl Into<String>,
    en: impl Into<String>,
    hz: impl Into<String>,
    he: impl Into<String>,
) -> Diag {
    Diag::new(code, span, zh, en, hz, he)
}

fn const_value(e: &Expr) -> Option<Value> {
    match e {
        Expr::Lit(v) => Some(v.clone()),
        Expr::Neg(inner) => match const_value(inner)? {
            Value::Money(d) => Some(Value::Money(-d)),
            Value::Ratio(d) => Some(Value::Ratio(-d)),
            Value::Count(d) => Some(Value::Count(-d)),
            _ => None,
        },
        _ => None,
    }
}

impl<'a> Checker<'a> {
    fn new(sm: &'a SourceMap) -> Checker<'a> {
        Checker {
            sm,
            diags: vec![],
            enums: vec![],
            enum_idx: HashMap::new(),
            facts: vec![],
            fact_idx: HashMap::new(),
            params: vec![],
            param_idx: HashMap::new(),
            tables: vec![],
            table_weights: vec![],
            table_idx: HashMap::new(),
            clause_idx: HashMap::new(),
            failed: Default::default(),
        }
    }

    fn text(&self, span: Span) -> String {
        self.sm
            .text(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn parse_ty(&mut self, id: &Ident) -> R<Ty> {
        Ok(match id.name.as_str() {
            "money" => Ty::Money,
            "ratio" => Ty::Ratio,
            "count" => Ty::Count,
            "bool" => Ty::Bool,
            "date" => Ty::Date,
            other => match self.enum_idx.get(other) {
                Some(&e) => Ty::Enum(e),
                None => {
                    return Err(err(
                        "E0301",
                        id.span,
                        format!("未知的类型 `{other}`"),
                        format!("unknown type `{other}`"),
                        "类型为 money、ratio、count、bool、date，或已声明的 enum",
                        "types are money, ratio, count, bool, date, or a declared enum",
                    ))
                }
            },
        })
    }

    fn type_mismatch(
        &self,
        span: Span,
        want: &str,
        want_en: &str,
        got: Ty,
        hz: &str,
        he: &str,
    ) -> Diag {
        let g = ty_name(Some(&self.enums), got);
        err(
            "E0401",
            span,
            format!("类型错误：应为{want}，实为 {g}"),
            format!("type error: expected {want_en}, found {g}"),
            hz,
            he,
        )
    }

    #[allow(clippy::too_many_arguments)] // the two languages' wording travels with each call
    fn named(
        &mut self,
        ne: &ast::NamedExpr,
        sc: &Scope,
        want: Ty,
        what_zh: &str,
        what_en: &str,
        hz: &str,
        he: &str,
    ) -> Option<Named> {
        match self.lower(&ne.expr, sc, Some(want)) {
            Ok((e, t)) if t == want || want == Ty::Text => {
                if let Err(d) = self.check_expanded(&e, sc, ne.expr.span) {
                    self.diags.push(d);
                    return None;
                }
                Some(Named {
                    name: ne.name.name.clone(),
                    expr: e,
                    ty: t,
                    source: self.text(ne.expr.span),
                    origin: self.sm.origin(ne.span),
                })
            }
            Ok((_, t)) => {
                let d = self.type_mismatch(ne.expr.span, what_zh, what_en, t, hz, he);
                self.diags.push(d);
                None
            }
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    fn const_money(&mut self, e: &ast::Expr, what_zh: &str, what_en: &str) -> Option<Decimal> {
        match self.lower(e, &Scope::default(), Some(Ty::Money)) {
            Ok((x, Ty::Money)) => match const_value(&x) {
                Some(Value::Money(d)) => Some(d),
                _ => {
                    self.diags.push(err(
                        "E0414",
                        e.span,
                        format!("{what_zh}须为金额常量"),
                        format!("{what_en} must be a money constant"),
                        "例如 1000万",
                        "e.g. 1000万",
                    ));
                    None
                }
            },
            Ok((_, t)) => {
                let d = self.type_mismatch(
                    e.span,
                    "金额",
                    "money",
                    t,
                    &format!("{what_zh}须为金额，例如 1000万"),
                    &format!("{what_en} must be money, e.g. 1000万"),
                );
                self.diags.push(d);
                None
            }
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    /// The expanded size of `e` (lets and tables as the scope and the checker know them).
    fn weigh(&self, e: &Expr, sc: &Scope) -> Weight {
        weight::weight(e, sc.let_weights, &self.table_weights)
    }

    /// E0415/E0416 at `span` when `e`, expanded, is too deep or too large for the evaluators.
    fn check_expanded(&self, e: &Expr, sc: &Scope, span: Span) -> R<()> {
        weight::check_weight(self.weigh(e, sc), span)
    }

    /// Declared clause names in declaration order, for "did you mean".
    fn clause_names(&self) -> Vec<&str> {
        let mut names: Vec<(&str, ClauseId)> = self
            .clause_idx
            .iter()
            .map(|(n, &i)| (n.as_str(), i))
            .collect();
        names.sort_by_key(|(_, i)| *i);
        names.into_iter().map(|(n, _)| n).collect()
    }

    /// An unknown clause (E0304), with a guess among the declared ones; `otherwise` is the hint
    /// when nothing is close.
    fn unknown_clause(&self, id: &Ident, otherwise: (&str, &str)) -> Diag {
        let names = self.clause_names();
        let (hint_zh, hint_en) = guess_hint(
            did_you_mean(&id.name, names, Near::Name),
            ("", ""),
            otherwise,
        );
        err(
            "E0304",
            id.span,
            format!("未知的条款 `{}`", id.name),
            format!("unknown clause `{}`", id.name),
            hint_zh,
            hint_en,
        )
    }
}
