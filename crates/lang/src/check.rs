//! Name resolution and type checking: AST → IR, with the static checks policy officers need
//! (unknown names, type and unit errors, tier overlaps and gaps, unreachable rules, missing
//! source references).

use std::collections::HashMap;

use huiqi_ir::money::{RoundMode, RoundUnit, Rounding};
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::ast::{self, Ident};
use crate::diag::{did_you_mean, guess_hint, Diag, Near, SourceMap, Span};

mod call;
mod clause;
mod expr;
mod items;
mod records;
mod rules;
mod table;
mod testcase;
mod weight;

pub use items::{check, check_packs, ImportScope};
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

/// What kind of figure a rule fixes (`Checker::quantity`).
#[derive(Clone, Copy, Debug)]
enum Figure {
    /// Money; `positive`: above zero (a budget, a firm cap), else at least zero (a cap).
    Money { positive: bool },
    /// A whole number from 1 to 1000 (a select's size).
    Whole,
}

impl Figure {
    fn fits(self, x: Decimal) -> bool {
        match self {
            Figure::Money { positive: true } => x > Decimal::ZERO,
            Figure::Money { positive: false } => x >= Decimal::ZERO,
            Figure::Whole => x.fract().is_zero() && x >= Decimal::ONE && x <= Decimal::from(1000),
        }
    }

    /// What the figure must be, in Chinese and English.
    fn range(self) -> (&'static str, &'static str) {
        match self {
            Figure::Money { positive: true } => ("须大于 0", "must be positive"),
            Figure::Money { positive: false } => ("不能为负", "cannot be negative"),
            Figure::Whole => (
                "须为 1 到 1000 的整数",
                "must be a whole number from 1 to 1000",
            ),
        }
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
    /// The packs checked together: 0 this one, i + 1 its i-th import. A parameter used as a
    /// rule's figure must have a value from its pack's first day; a clause rounds as its pack's
    /// header says unless it has its own rounding.
    packs: Vec<PackCtx>,
    /// Which pack each source file belongs to (absent: this one).
    file_pack: HashMap<u32, usize>,
    /// The pack of each declared clause, by id.
    clause_pack: Vec<usize>,
    /// The parameters used as rules' figures, and as what (a test's `set` must fit too).
    figure_params: HashMap<ParamId, Figure>,
    tables: Vec<Table>,
    /// The expanded size of each table, by id (see `weight`).
    table_weights: Vec<Weight>,
    table_idx: HashMap<String, usize>,
    clause_idx: HashMap<String, usize>,
    /// Names whose declaration already failed: uses of them are not reported again.
    failed: std::collections::HashSet<String>,
}

/// A pack's part in a check: the prefix its clauses, parameters, tables and rules carry (`""`
/// for the pack checked, `名称.` for an imported one), its window and rounding.
#[derive(Clone, Debug)]
struct PackCtx {
    prefix: String,
    window: (Date, Date),
    rounding: huiqi_ir::money::Rounding,
}

impl Default for PackCtx {
    fn default() -> Self {
        PackCtx {
            prefix: String::new(),
            window: (Date::year_start(1900), Date::year_end(9999)),
            rounding: huiqi_ir::money::Rounding::FEN,
        }
    }
}

/// What names an expression may see.
#[derive(Default)]
struct Scope<'s> {
    lets: Vec<(&'s str, Ty)>,
    /// The expanded size of each let (see `weight`).
    let_weights: &'s [Weight],
    clause: Option<ClauseId>,
    /// Inside `sum(F: …)` / `count(F where …)`: the event fact whose record fields are names.
    record: Option<FactId>,
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

impl Checker<'_> {
    /// The pack the source at `span` belongs to.
    fn pack_of(&self, span: Span) -> usize {
        self.file_pack.get(&span.file).copied().unwrap_or(0)
    }

    /// The key a clause, parameter or table name written at `span` is declared under: an
    /// imported pack's own names carry its prefix; this pack writes another pack's names in
    /// full (`政策名.条款`).
    fn key<'n>(&self, span: Span, name: &'n str) -> std::borrow::Cow<'n, str> {
        match self.pack_of(span) {
            0 => std::borrow::Cow::Borrowed(name),
            p => std::borrow::Cow::Owned(format!("{}{name}", self.packs[p].prefix)),
        }
    }

    /// The clauses of the pack of the rule written at `span`: what a rule covers by default
    /// (a pack's rules never reach another pack's clauses unless they name them).
    fn own_clauses(&self, span: Span) -> Vec<ClauseId> {
        let p = self.pack_of(span);
        (0..self.clause_pack.len())
            .filter(|&i| self.clause_pack[i] == p)
            .collect()
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
            packs: vec![PackCtx::default()],
            file_pack: HashMap::new(),
            clause_pack: vec![],
            figure_params: HashMap::new(),
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
                    reason: ne.reason.clone(),
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

    /// A rule's figure (cap, total cap, select size, pool budget, firm cap): a literal, or a
    /// parameter of the figure's type whose every value fits it and which has a value from the
    /// policy's first day.
    fn quantity(
        &mut self,
        e: &ast::Expr,
        fig: Figure,
        what_zh: &str,
        what_en: &str,
    ) -> Option<Quantity> {
        let ast::ExprKind::Name(id) = &e.kind else {
            return self.literal_figure(e, fig, what_zh, what_en);
        };
        let Some(&pi) = self.param_idx.get(&*self.key(id.span, &id.name)) else {
            return self.literal_figure(e, fig, what_zh, what_en);
        };
        let prm = &self.params[pi];
        let want = match fig {
            Figure::Money { .. } => Ty::Money,
            Figure::Whole => Ty::Count,
        };
        if prm.ty != want {
            let (wz, we) = match fig {
                Figure::Money { .. } => ("金额", "money"),
                Figure::Whole => ("整数", "a whole number"),
            };
            let d = self.type_mismatch(
                e.span,
                wz,
                we,
                prm.ty,
                &format!("{what_zh}须为{wz}参数"),
                &format!("{what_en} must be a parameter of {we}"),
            );
            self.diags.push(d);
            return None;
        }
        let start = self.packs[self.pack_of(e.span)].window.0;
        if prm.values.first().is_none_or(|(d, _)| *d > start) {
            self.diags.push(err(
                "E0417",
                e.span,
                format!("参数 `{}` 在政策开始日 {start} 尚无取值", id.name),
                format!(
                    "parameter `{}` has no value on the policy's first day, {start}",
                    id.name
                ),
                format!("给参数 `{}` 加一个自 {start} 起的值", id.name),
                format!("give `{}` a value from {start}", id.name),
            ));
            return None;
        }
        for (d, v) in &prm.values {
            let x = v.num().unwrap_or_default();
            if !fig.fits(x) {
                let (rz, re) = fig.range();
                self.diags.push(err(
                    "E0418",
                    e.span,
                    format!("参数 `{}` 自 {d} 起的值 {x} 用作{what_zh}，{rz}", id.name),
                    format!(
                        "parameter `{}` from {d} is {x}, used as {what_en}: it {re}",
                        id.name
                    ),
                    format!("改正参数 `{}` 的取值", id.name),
                    format!("correct the values of `{}`", id.name),
                ));
                return None;
            }
        }
        // Used as two kinds of figure: the stricter range holds for both (checked above).
        self.figure_params.insert(pi, fig);
        Some(Quantity::Param(pi))
    }

    fn literal_figure(
        &mut self,
        e: &ast::Expr,
        fig: Figure,
        what_zh: &str,
        what_en: &str,
    ) -> Option<Quantity> {
        match fig {
            Figure::Money { .. } => self.const_money(e, what_zh, what_en).map(Quantity::Lit),
            Figure::Whole => self
                .const_int(e, 1, what_zh, what_en)
                .map(|n| Quantity::Lit(Decimal::from(n)))
                .map_err(|d| self.diags.push(d))
                .ok(),
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
        if let Some((pack, _)) = id.name.split_once('.') {
            if !self.packs.iter().any(|p| p.prefix == format!("{pack}.")) {
                return err(
                    "E0304",
                    id.span,
                    format!("未知的条款 `{}`：本政策包没有引入政策包 `{pack}`", id.name),
                    format!(
                        "unknown clause `{}`: this pack imports no pack `{pack}`",
                        id.name
                    ),
                    format!("先写 import {pack} from \"../该政策包的目录\""),
                    format!("first write import {pack} from \"../its-directory\""),
                );
            }
        }
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
