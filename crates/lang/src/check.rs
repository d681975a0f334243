//! Name resolution and type checking: AST → IR, with the static checks policy officers need
//! (unknown names, type and unit errors, tier overlaps and gaps, unreachable rules, missing
//! source references).

use std::collections::HashMap;

use huiqi_ir::money::RoundUnit;
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::ast::{
    self, BinOpAst, DataValue, ExprKind, FirmStmt, HeaderField, Ident, ItemKind, StmtKind,
    TestStmt, UnOp,
};
use crate::diag::{Diag, SourceMap, Span};
use crate::lexer::Unit;

/// Reasons an `expect … because X` may name besides rule and condition names.
pub const REASON_MISSING: &str = "数据缺失";
pub const REASON_WINDOW: &str = "有效期外";
pub const REASON_ZERO: &str = "金额为零";
pub const REASON_TOTAL_CAP: &str = "累计上限";
pub const REASON_CAP: &str = "封顶";
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
    table_idx: HashMap<String, usize>,
    clause_idx: HashMap<String, usize>,
    /// Names whose declaration already failed: uses of them are not reported again.
    failed: std::collections::HashSet<String>,
}

/// What names an expression may see.
#[derive(Default)]
struct Scope<'s> {
    lets: Vec<(&'s str, Ty)>,
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

    // ---------------------------------------------------------------- expressions

    fn lower(&mut self, e: &ast::Expr, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        match &e.kind {
            ExprKind::Num {
                unit, value, text, ..
            } => Ok(match unit {
                Unit::Yuan | Unit::Wan | Unit::Yi => (Expr::Lit(Value::Money(*value)), Ty::Money),
                Unit::Percent => (Expr::Lit(Value::Ratio(*value)), Ty::Ratio),
                Unit::None => {
                    if value.is_zero() && matches!(want, Some(Ty::Money)) {
                        (Expr::Lit(Value::Money(Decimal::ZERO)), Ty::Money)
                    } else if text.contains('.') {
                        (Expr::Lit(Value::Ratio(*value)), Ty::Ratio)
                    } else {
                        (Expr::Lit(Value::Count(*value)), Ty::Count)
                    }
                }
            }),
            ExprKind::Date(d) => Ok((Expr::Lit(Value::Date(*d)), Ty::Date)),
            ExprKind::Bool(b) => Ok((Expr::Lit(Value::Bool(*b)), Ty::Bool)),
            ExprKind::Paren(inner) => self.lower(inner, sc, want),
            ExprKind::Name(id) => self.lower_name(id, sc, want),
            ExprKind::List(_) => Err(err(
                "E0402",
                e.span,
                "列表只能用在 in [..] 或函数参数中",
                "a list can only appear after in or as a function argument",
                "例如 行业 in [制造业, 信息技术服务业]",
                "e.g. industry in [A, B]",
            )),
            ExprKind::Unary(UnOp::Not, inner) => {
                let (x, t) = self.lower(inner, sc, Some(Ty::Bool))?;
                if t != Ty::Bool {
                    return Err(self.type_mismatch(
                        inner.span,
                        "是/否",
                        "bool",
                        t,
                        "not 只能用于条件",
                        "not applies to conditions",
                    ));
                }
                Ok((Expr::Not(Box::new(x)), Ty::Bool))
            }
            ExprKind::Unary(UnOp::Neg, inner) => {
                let (x, t) = self.lower(inner, sc, want)?;
                if !t.is_numeric() {
                    return Err(self.type_mismatch(
                        inner.span,
                        "数值",
                        "a number",
                        t,
                        "负号只能用于数值",
                        "minus applies to numbers",
                    ));
                }
                Ok((Expr::Neg(Box::new(x)), t))
            }
            ExprKind::Binary(op, l, r) => self.lower_binary(e.span, *op, l, r, sc, want),
            ExprKind::In {
                subject,
                list,
                negated,
            } => {
                let (s, t) = self.lower(subject, sc, None)?;
                let mut vals = Vec::new();
                for item in list {
                    let (v, vt) = self.lower(item, sc, Some(t))?;
                    let Some(cv) = const_value(&v) else {
                        return Err(err(
                            "E0403",
                            item.span,
                            "in [..] 中只能写常量",
                            "only constants may appear in in [..]",
                            "列出具体的值，例如 [房地产业, 金融业]",
                            "list literal values, e.g. [A, B]",
                        ));
                    };
                    if vt != t
                        && !(t.is_numeric() && vt.is_numeric() && t != Ty::Money && vt != Ty::Money)
                    {
                        return Err(self.type_mismatch(
                            item.span,
                            &ty_name(Some(&self.enums), t),
                            &ty_name(Some(&self.enums), t),
                            vt,
                            "列表中的值须与左侧同类型",
                            "list values must have the subject's type",
                        ));
                    }
                    vals.push(cv);
                }
                Ok((Expr::In(Box::new(s), vals, *negated), Ty::Bool))
            }
            ExprKind::If(c, a, b) => {
                let (c2, ct) = self.lower(c, sc, Some(Ty::Bool))?;
                if ct != Ty::Bool {
                    return Err(self.type_mismatch(
                        c.span,
                        "条件",
                        "a condition",
                        ct,
                        "if 后面是条件",
                        "if takes a condition",
                    ));
                }
                let (a2, at) = self.lower(a, sc, want)?;
                let (b2, bt) = self.lower(b, sc, Some(at))?;
                let (a2, b2, t) = self.unify(a2, at, b2, bt, b.span)?;
                Ok((Expr::If(Box::new(c2), Box::new(a2), Box::new(b2)), t))
            }
            ExprKind::Tiers { subject, arms } => {
                let (s, st) = self.lower(subject, sc, None)?;
                let id = self.lower_table(
                    format!("tiers@{}", self.sm.line_col(e.span).0),
                    arms,
                    sc,
                    e.span,
                    Some(want.unwrap_or(Ty::Money)),
                )?;
                self.check_table_input(id, st, subject.span)?;
                let out = self.tables[id].output;
                Ok((Expr::Table(id, Box::new(s)), out))
            }
            ExprKind::Call { func, args } => self.lower_call(e.span, func, args, sc, want),
        }
    }

    fn unify(&self, a: Expr, at: Ty, b: Expr, bt: Ty, span: Span) -> R<(Expr, Expr, Ty)> {
        let zero = |x: &Expr| matches!(x, Expr::Lit(Value::Count(d)) if d.is_zero());
        if at == bt {
            return Ok((a, b, at));
        }
        if at == Ty::Money && zero(&b) {
            return Ok((a, Expr::Lit(Value::Money(Decimal::ZERO)), Ty::Money));
        }
        if bt == Ty::Money && zero(&a) {
            return Ok((Expr::Lit(Value::Money(Decimal::ZERO)), b, Ty::Money));
        }
        if matches!((at, bt), (Ty::Ratio, Ty::Count) | (Ty::Count, Ty::Ratio)) {
            return Ok((a, b, Ty::Ratio));
        }
        Err(err(
            "E0404",
            span,
            format!(
                "两个分支类型不一致：{} 与 {}",
                ty_name(Some(&self.enums), at),
                ty_name(Some(&self.enums), bt)
            ),
            format!(
                "branches have different types: {} and {}",
                ty_name(Some(&self.enums), at),
                ty_name(Some(&self.enums), bt)
            ),
            "两个分支须同为金额、同为比例……",
            "both branches must have the same type",
        ))
    }

    fn lower_name(&mut self, id: &Ident, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        let n = id.name.as_str();
        if let Some(Ty::Enum(e)) = want {
            if let Some(v) = self.enums[e].variants.iter().position(|x| x == n) {
                return Ok((Expr::Lit(Value::Enum(v as u32)), Ty::Enum(e)));
            }
        }
        if let Some(i) = sc.lets.iter().rposition(|(l, _)| *l == n) {
            return Ok((Expr::Local(i), sc.lets[i].1));
        }
        if let Some(&f) = self.fact_idx.get(n) {
            let fact = &self.facts[f];
            return match fact.kind {
                PeriodKind::Static | PeriodKind::Year => Ok((Expr::Fact(f), fact.ty)),
                PeriodKind::Month => Err(err(
                    "E0405",
                    id.span,
                    format!("`{n}` 是月度数据，不能直接用于年度条件"),
                    format!("`{n}` is monthly; it cannot be used directly in a yearly rule"),
                    format!("用 total({n}) 求全年合计，或 latest({n}) 取最后一个月"),
                    format!("use total({n}) for the year's sum or latest({n}) for the last month"),
                )),
                PeriodKind::Event => Err(err(
                    "E0405",
                    id.span,
                    format!("`{n}` 是事件数据，不能直接当作数值"),
                    format!("`{n}` is an event fact, not a value"),
                    format!("用 held({n})、issued({n})、occurred({n}, 阶段) 或 date_of({n}, 阶段)"),
                    format!("use held({n}), issued({n}), occurred({n}, v) or date_of({n}, v)"),
                )),
            };
        }
        if let Some(&p) = self.param_idx.get(n) {
            return Ok((Expr::Param(p), self.params[p].ty));
        }
        for (ei, en) in self.enums.iter().enumerate() {
            if let Some(v) = en.variants.iter().position(|x| x == n) {
                if want.is_none() {
                    return Ok((Expr::Lit(Value::Enum(v as u32)), Ty::Enum(ei)));
                }
            }
        }
        if self.failed.contains(n) {
            return Err(err(CASCADE, id.span, "", "", "", ""));
        }
        if let Some(Ty::Enum(e)) = want {
            let vs: Vec<&str> = self.enums[e].variants.iter().map(|s| s.as_str()).collect();
            let g = closest(n, &vs);
            let all = self.enums[e].variants.join("、");
            return Err(err(
                "E0303",
                id.span,
                format!("`{n}` 不是 {} 的取值", self.enums[e].name),
                format!("`{n}` is not a value of {}", self.enums[e].name),
                match g {
                    Some(g) => format!("是否想写 `{g}`？可用取值：{all}"),
                    None => format!("可用取值：{all}"),
                },
                match g {
                    Some(g) => format!("did you mean `{g}`? values: {all}"),
                    None => format!("values: {all}"),
                },
            ));
        }
        let mut known: Vec<&str> = sc.lets.iter().map(|l| l.0).collect();
        known.extend(self.facts.iter().map(|f| f.name.as_str()));
        known.extend(self.params.iter().map(|p| p.name.as_str()));
        let guess = closest(n, &known);
        let (hz, he) = match (guess, want) {
            (Some(g), _) => (
                format!("是否想写 `{g}`？事实须先用 fact 声明"),
                format!("did you mean `{g}`? facts must be declared with fact"),
            ),
            (None, Some(Ty::Enum(e))) => {
                let vs = self.enums[e].variants.join("、");
                (
                    format!("{} 的取值：{vs}", self.enums[e].name),
                    format!("values of {}: {vs}", self.enums[e].name),
                )
            }
            _ => (
                "事实、参数须先声明（fact / param），局部值用 let 定义".into(),
                "declare facts and params first (fact / param); define local values with let"
                    .into(),
            ),
        };
        Err(err(
            "E0302",
            id.span,
            format!("未知的名称 `{n}`"),
            format!("unknown name `{n}`"),
            hz,
            he,
        ))
    }

    fn lower_binary(
        &mut self,
        span: Span,
        op: BinOpAst,
        l: &ast::Expr,
        r: &ast::Expr,
        sc: &Scope,
        want: Option<Ty>,
    ) -> R<(Expr, Ty)> {
        use BinOpAst::*;
        let irop = match op {
            Add => BinOp::Add,
            Sub => BinOp::Sub,
            Mul => BinOp::Mul,
            Div => BinOp::Div,
            Ge => BinOp::Ge,
            Gt => BinOp::Gt,
            Le => BinOp::Le,
            Lt => BinOp::Lt,
            Eq => BinOp::Eq,
            Ne => BinOp::Ne,
            And => BinOp::And,
            Or => BinOp::Or,
            Coalesce => BinOp::Coalesce,
        };
        let lwant = match op {
            And | Or => Some(Ty::Bool),
            Add | Sub | Coalesce => want,
            _ => None,
        };
        let (mut a, at) = self.lower(l, sc, lwant)?;
        let rwant = match op {
            And | Or => Some(Ty::Bool),
            Mul | Div => None,
            _ => Some(at),
        };
        let (mut b, bt) = self.lower(r, sc, rwant)?;
        let zero = |x: &Expr| matches!(x, Expr::Lit(Value::Count(d)) if d.is_zero());
        if at == Ty::Money && zero(&b) {
            b = Expr::Lit(Value::Money(Decimal::ZERO));
        }
        let bt = if at == Ty::Money && matches!(b, Expr::Lit(Value::Money(_))) {
            Ty::Money
        } else {
            bt
        };
        let at = if bt == Ty::Money && zero(&a) {
            a = Expr::Lit(Value::Money(Decimal::ZERO));
            Ty::Money
        } else {
            at
        };
        let tn = |t: Ty| ty_name(Some(&self.enums), t);
        let mix = |x: Ty, y: Ty| matches!((x, y), (Ty::Ratio, Ty::Count) | (Ty::Count, Ty::Ratio));
        let unit_err =
            |zh: String, en: String, hz: &str, he: &str| Err(err("E0406", span, zh, en, hz, he));
        let out = match op {
            And | Or => {
                if at != Ty::Bool {
                    return Err(self.type_mismatch(l.span, "条件", "a condition", at, "and / or 连接的是条件", "and / or join conditions"));
                }
                if bt != Ty::Bool {
                    return Err(self.type_mismatch(r.span, "条件", "a condition", bt, "and / or 连接的是条件", "and / or join conditions"));
                }
                Ty::Bool
            }
            Add | Sub => match (at, bt) {
                (x, y) if x == y && x.is_numeric() => x,
                (x, y) if mix(x, y) => Ty::Ratio,
                _ => {
                    return unit_err(
                        format!("单位不一致：{} {} {}", tn(at), op.symbol(), tn(bt)),
                        format!("unit mismatch: {} {} {}", tn(at), op.symbol(), tn(bt)),
                        "金额只能与金额相加减；比例乘以金额才得到金额，例如 10% * 研发费用",
                        "money adds only to money; multiply a ratio by money to get money, e.g. 10% * expense",
                    )
                }
            },
            Mul => match (at, bt) {
                (Ty::Money, Ty::Ratio | Ty::Count) | (Ty::Ratio | Ty::Count, Ty::Money) => Ty::Money,
                (Ty::Count, Ty::Count) => Ty::Count,
                (x, y) if (x == Ty::Ratio || mix(x, y)) && y.is_numeric() && y != Ty::Money => Ty::Ratio,
                _ => {
                    return unit_err(
                        format!("不能相乘：{} * {}", tn(at), tn(bt)),
                        format!("cannot multiply {} by {}", tn(at), tn(bt)),
                        "金额 × 金额没有意义；金额只能乘以比例或数量",
                        "money × money has no meaning; multiply money by a ratio or a count",
                    )
                }
            },
            Div => match (at, bt) {
                (Ty::Money, Ty::Money) => Ty::Ratio,
                (Ty::Money, Ty::Count | Ty::Ratio) => Ty::Money,
                (Ty::Ratio | Ty::Count, Ty::Ratio | Ty::Count) => Ty::Ratio,
                _ => {
                    return unit_err(
                        format!("不能相除：{} / {}", tn(at), tn(bt)),
                        format!("cannot divide {} by {}", tn(at), tn(bt)),
                        "比例或数量不能除以金额",
                        "a ratio or a count cannot be divided by money",
                    )
                }
            },
            Coalesce => {
                let (a2, b2, t) = self.unify(a, at, b, bt, r.span)?;
                return Ok((Expr::Bin(BinOp::Coalesce, Box::new(a2), Box::new(b2)), t));
            }
            Ge | Gt | Le | Lt | Eq | Ne => {
                let ok = at == bt && (at.is_numeric() || at == Ty::Date || matches!(op, Eq | Ne)) || mix(at, bt);
                if !ok {
                    return unit_err(
                        format!("不能比较 {} 与 {}", tn(at), tn(bt)),
                        format!("cannot compare {} with {}", tn(at), tn(bt)),
                        "比较两侧须同一单位：金额与金额（如 100亿）、数量与数量、比例与比例（如 3%）",
                        "both sides need the same unit: money with money (e.g. 100亿), counts with counts, ratios with ratios (e.g. 3%)",
                    );
                }
                Ty::Bool
            }
        };
        Ok((Expr::Bin(irop, Box::new(a), Box::new(b)), out))
    }

    fn const_int(&self, e: &ast::Expr, min: i64, what_zh: &str, what_en: &str) -> R<u32> {
        if let ExprKind::Num {
            unit: Unit::None,
            value,
            text,
            ..
        } = &e.kind
        {
            if !text.contains('.') && *value >= Decimal::from(min) && *value <= Decimal::from(1000)
            {
                return Ok(value.to_string().parse().unwrap());
            }
        }
        Err(err(
            "E0407",
            e.span,
            format!("{what_zh}须为不小于{min}的整数常量"),
            format!("{what_en} must be an integer constant ≥ {min}"),
            format!("例如 {}", min.max(1)),
            format!("e.g. {}", min.max(1)),
        ))
    }

    fn event_fact(&self, e: &ast::Expr, fname: &str) -> R<FactId> {
        if let ExprKind::Name(id) = &e.kind {
            if let Some(&f) = self.fact_idx.get(&id.name) {
                if self.facts[f].kind == PeriodKind::Event {
                    return Ok(f);
                }
                return Err(err(
                    "E0408",
                    e.span,
                    format!("{fname}() 需要事件事实，`{}` 不是", id.name),
                    format!("{fname}() needs an event fact; `{}` is not one", id.name),
                    "事件事实写作 fact 名称: event 枚举 { … }（证书、称号、上市阶段等）",
                    "declare event facts as fact Name: event Enum { … } (certificates, titles, stages)",
                ));
            }
            return Err(err(
                "E0302",
                id.span,
                format!("未知的事实 `{}`", id.name),
                format!("unknown fact `{}`", id.name),
                "事实须先用 fact 声明",
                "declare the fact with fact first",
            ));
        }
        Err(err(
            "E0408",
            e.span,
            format!("{fname}() 的第一个参数须是事件事实名称"),
            format!("the first argument of {fname}() must name an event fact"),
            "例如 held(高企证书)",
            "e.g. held(certificate)",
        ))
    }

    fn variants(&mut self, fact: FactId, e: &ast::Expr) -> R<Vec<u32>> {
        let Ty::Enum(en) = self.facts[fact].ty else {
            return Err(err(
                "E0409",
                e.span,
                format!(
                    "事件事实 `{}` 没有取值，不能按值筛选",
                    self.facts[fact].name
                ),
                format!(
                    "event fact `{}` carries no value to filter on",
                    self.facts[fact].name
                ),
                "声明时写出枚举：fact 名称: event 枚举",
                "declare it with an enum: fact Name: event Enum",
            ));
        };
        let items: Vec<&ast::Expr> = match &e.kind {
            ExprKind::List(xs) => xs.iter().collect(),
            _ => vec![e],
        };
        let mut out = Vec::new();
        for it in items {
            let ExprKind::Name(id) = &it.kind else {
                return Err(err(
                    "E0409",
                    it.span,
                    "此处应为枚举值",
                    "expected an enum value",
                    format!(
                        "{} 的取值：{}",
                        self.enums[en].name,
                        self.enums[en].variants.join("、")
                    ),
                    format!("values: {}", self.enums[en].variants.join(", ")),
                ));
            };
            match self.enums[en].variants.iter().position(|v| *v == id.name) {
                Some(v) => out.push(v as u32),
                None => {
                    return Err(err(
                        "E0303",
                        id.span,
                        format!("`{}` 不是 {} 的取值", id.name, self.enums[en].name),
                        format!("`{}` is not a value of {}", id.name, self.enums[en].name),
                        format!("可用取值：{}", self.enums[en].variants.join("、")),
                        format!("values: {}", self.enums[en].variants.join(", ")),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn lower_call(
        &mut self,
        span: Span,
        func: &Ident,
        args: &[ast::Expr],
        sc: &Scope,
        want: Option<Ty>,
    ) -> R<(Expr, Ty)> {
        let name = func.name.as_str();
        let arity = |lo: usize, hi: usize, usage: &str| -> R<()> {
            if args.len() < lo || args.len() > hi {
                return Err(err(
                    "E0410",
                    span,
                    format!("{name}() 的参数个数不对：给了 {} 个", args.len()),
                    format!("{name}() takes {lo}..={hi} arguments, {} given", args.len()),
                    format!("用法：{usage}"),
                    format!("usage: {usage}"),
                ));
            }
            Ok(())
        };
        let numeric = |me: &Self, t: Ty, s: Span| -> R<()> {
            if !t.is_numeric() {
                return Err(me.type_mismatch(
                    s,
                    "数值",
                    "a number",
                    t,
                    &format!("{name}() 需要数值"),
                    &format!("{name}() needs a number"),
                ));
            }
            Ok(())
        };
        let boolean = |me: &Self, t: Ty, s: Span| -> R<()> {
            if t != Ty::Bool {
                return Err(me.type_mismatch(
                    s,
                    "条件",
                    "a condition",
                    t,
                    &format!("{name}() 需要一个条件，例如 {name}(营业收入 >= 100亿)"),
                    &format!("{name}() takes a condition"),
                ));
            }
            Ok(())
        };
        if let Some(&tid) = self.table_idx.get(name) {
            arity(1, 1, &format!("{name}(值)"))?;
            let (x, t) = self.lower(&args[0], sc, None)?;
            self.check_table_input(tid, t, args[0].span)?;
            return Ok((Expr::Table(tid, Box::new(x)), self.tables[tid].output));
        }
        Ok(match name {
            "prev" => {
                arity(1, 2, "prev(x) 或 prev(x, n)")?;
                let n = if args.len() == 2 {
                    self.const_int(&args[1], 1, "期数", "the number of periods")?
                } else {
                    1
                };
                let (x, t) = self.lower(&args[0], sc, want)?;
                (Expr::Prev(Box::new(x), n), t)
            }
            "growth" => {
                arity(1, 1, "growth(x)")?;
                let (x, t) = self.lower(&args[0], sc, None)?;
                numeric(self, t, args[0].span)?;
                (Expr::Growth(Box::new(x)), Ty::Ratio)
            }
            "cagr" => {
                arity(2, 2, "cagr(x, n)")?;
                let (x, t) = self.lower(&args[0], sc, None)?;
                numeric(self, t, args[0].span)?;
                let n = self.const_int(&args[1], 1, "年数", "the number of years")?;
                (Expr::Cagr(Box::new(x), n), Ty::Ratio)
            }
            "highest_before" | "lowest_before" => {
                arity(1, 1, &format!("{name}(x)"))?;
                let (x, t) = self.lower(&args[0], sc, None)?;
                if !(t.is_numeric() || t == Ty::Date) {
                    numeric(self, t, args[0].span)?;
                }
                let agg = if name == "highest_before" {
                    AggBefore::Highest
                } else {
                    AggBefore::Lowest
                };
                (Expr::AggBefore(agg, Box::new(x)), t)
            }
            "first_time" | "ever_before" => {
                arity(1, 1, &format!("{name}(条件)"))?;
                let (x, t) = self.lower(&args[0], sc, Some(Ty::Bool))?;
                boolean(self, t, args[0].span)?;
                if name == "first_time" {
                    (Expr::FirstTime(Box::new(x)), Ty::Bool)
                } else {
                    (Expr::EverBefore(Box::new(x)), Ty::Bool)
                }
            }
            "consecutive" => {
                arity(2, 2, "consecutive(条件, n)")?;
                let (x, t) = self.lower(&args[0], sc, Some(Ty::Bool))?;
                boolean(self, t, args[0].span)?;
                let n = self.const_int(&args[1], 1, "期数", "the number of periods")?;
                (Expr::Consecutive(Box::new(x), n), Ty::Bool)
            }
            "held" | "held_at" => {
                let (lo, hi, usage) = if name == "held" {
                    (1, 2, "held(事实) 或 held(事实, [取值…])")
                } else {
                    (2, 3, "held_at(事实, [取值…], 日期)")
                };
                arity(lo, hi, usage)?;
                let f = self.event_fact(&args[0], name)?;
                let (vals, date_arg) = match (name, args.len()) {
                    ("held", 2) => (Some(self.variants(f, &args[1])?), None),
                    ("held", _) => (None, None),
                    ("held_at", 2) => (None, Some(&args[1])),
                    _ => (Some(self.variants(f, &args[1])?), Some(&args[2])),
                };
                let at = match date_arg {
                    Some(d) => {
                        let (x, t) = self.lower(d, sc, Some(Ty::Date))?;
                        if t != Ty::Date {
                            return Err(self.type_mismatch(
                                d.span,
                                "日期",
                                "a date",
                                t,
                                "例如 date_of(上市进程, 上市)",
                                "e.g. date_of(stages, listed)",
                            ));
                        }
                        Some(Box::new(x))
                    }
                    None => None,
                };
                (Expr::Held(f, vals, at), Ty::Bool)
            }
            "issued" => {
                arity(1, 2, "issued(事实) 或 issued(事实, [取值…])")?;
                let f = self.event_fact(&args[0], name)?;
                let vals = if args.len() == 2 {
                    Some(self.variants(f, &args[1])?)
                } else {
                    None
                };
                (Expr::Issued(f, vals), Ty::Bool)
            }
            "issued_before" => {
                arity(1, 1, "issued_before(事实)")?;
                (
                    Expr::IssuedBefore(self.event_fact(&args[0], name)?),
                    Ty::Count,
                )
            }
            "occurred" | "date_of" => {
                arity(2, 2, &format!("{name}(事实, 取值)"))?;
                let f = self.event_fact(&args[0], name)?;
                let v = self.variants(f, &args[1])?;
                if v.len() != 1 {
                    return Err(err(
                        "E0409",
                        args[1].span,
                        "此处只能写一个取值",
                        "exactly one value expected here",
                        "例如 occurred(上市进程, 上市)",
                        "e.g. occurred(stages, listed)",
                    ));
                }
                if name == "occurred" {
                    (Expr::Occurred(f, v[0]), Ty::Bool)
                } else {
                    (Expr::DateOf(f, v[0]), Ty::Date)
                }
            }
            "total" | "latest" => {
                arity(1, 1, &format!("{name}(月度事实)"))?;
                let ExprKind::Name(id) = &args[0].kind else {
                    return Err(err(
                        "E0411",
                        args[0].span,
                        format!("{name}() 需要月度事实名称"),
                        format!("{name}() needs a monthly fact"),
                        "例如 total(月用电量)",
                        "e.g. total(monthly_power)",
                    ));
                };
                match self.fact_idx.get(&id.name) {
                    Some(&f) if self.facts[f].kind == PeriodKind::Month => {
                        let t = self.facts[f].ty;
                        if name == "total" {
                            if !t.is_numeric() {
                                return Err(self.type_mismatch(
                                    args[0].span,
                                    "数值",
                                    "a number",
                                    t,
                                    "只有数值可以求和",
                                    "only numbers can be summed",
                                ));
                            }
                            (Expr::Total(f), t)
                        } else {
                            (Expr::Latest(f), t)
                        }
                    }
                    Some(_) => {
                        return Err(err(
                            "E0411",
                            id.span,
                            format!("`{}` 不是月度事实", id.name),
                            format!("`{}` is not a monthly fact", id.name),
                            "年度事实直接引用即可",
                            "refer to yearly facts directly",
                        ))
                    }
                    None => {
                        return Err(err(
                            "E0302",
                            id.span,
                            format!("未知的事实 `{}`", id.name),
                            format!("unknown fact `{}`", id.name),
                            "事实须先用 fact 声明",
                            "declare the fact first",
                        ))
                    }
                }
            }
            "awarded" => {
                arity(0, 1, "awarded() 或 awarded(条款)")?;
                let c = if let Some(a) = args.first() {
                    let ExprKind::Name(id) = &a.kind else {
                        return Err(err(
                            "E0412",
                            a.span,
                            "awarded() 的参数须是条款名称",
                            "awarded() takes a clause name",
                            "例如 awarded(营收首次突破)",
                            "e.g. awarded(clause)",
                        ));
                    };
                    match self.clause_idx.get(&id.name) {
                        Some(&c) => c,
                        None => {
                            let names: Vec<&str> =
                                self.clause_idx.keys().map(|s| s.as_str()).collect();
                            let g = closest(&id.name, &names);
                            return Err(err(
                                "E0304",
                                id.span,
                                format!("未知的条款 `{}`", id.name),
                                format!("unknown clause `{}`", id.name),
                                g.map(|g| format!("是否想写 `{g}`？"))
                                    .unwrap_or("条款须用 clause 声明".into()),
                                g.map(|g| format!("did you mean `{g}`?"))
                                    .unwrap_or("declare clauses with clause".into()),
                            ));
                        }
                    }
                } else {
                    match sc.clause {
                        Some(c) => c,
                        None => {
                            return Err(err(
                                "E0412",
                                span,
                                "awarded() 只能在条款内使用",
                                "awarded() without an argument only works inside a clause",
                                "在条款外请写 awarded(条款名称)",
                                "outside a clause write awarded(ClauseName)",
                            ))
                        }
                    }
                };
                (Expr::Awarded(c), Ty::Money)
            }
            "min" | "max" => {
                if args.len() < 2 {
                    arity(2, 99, &format!("{name}(a, b, …)"))?;
                }
                let mut xs = Vec::new();
                let (first, mut t) = self.lower(&args[0], sc, want)?;
                xs.push(first);
                for a in &args[1..] {
                    let (x, xt) = self.lower(a, sc, Some(t))?;
                    let last = xs.pop().unwrap();
                    let (l2, x2, nt) = self.unify(last, t, x, xt, a.span)?;
                    xs.push(l2);
                    xs.push(x2);
                    t = nt;
                }
                if !(t.is_numeric() || t == Ty::Date) {
                    numeric(self, t, span)?;
                }
                (
                    if name == "min" {
                        Expr::Min(xs)
                    } else {
                        Expr::Max(xs)
                    },
                    t,
                )
            }
            "abs" => {
                arity(1, 1, "abs(x)")?;
                let (x, t) = self.lower(&args[0], sc, want)?;
                numeric(self, t, args[0].span)?;
                (Expr::Abs(Box::new(x)), t)
            }
            "floor" => {
                arity(1, 1, "floor(x)")?;
                let (x, t) = self.lower(&args[0], sc, None)?;
                if t == Ty::Money {
                    return Err(err(
                        "E0413",
                        args[0].span,
                        "floor() 不能用于金额",
                        "floor() does not apply to money",
                        "金额取整请用 round(x, 元) 或 round(x, 万元)",
                        "round money with round(x, 元) or round(x, 万元)",
                    ));
                }
                numeric(self, t, args[0].span)?;
                (Expr::Floor(Box::new(x)), Ty::Count)
            }
            "round" => {
                arity(2, 2, "round(金额, 分|元|万元)")?;
                let (x, t) = self.lower(&args[0], sc, Some(Ty::Money))?;
                if t != Ty::Money {
                    return Err(self.type_mismatch(
                        args[0].span,
                        "金额",
                        "money",
                        t,
                        "round() 用于金额",
                        "round() applies to money",
                    ));
                }
                let unit = match &args[1].kind {
                    ExprKind::Name(id) => RoundUnit::from_name(&id.name),
                    _ => None,
                };
                let Some(unit) = unit else {
                    return Err(err(
                        "E0413",
                        args[1].span,
                        "取整单位须为 分、元 或 万元",
                        "the rounding unit must be 分, 元 or 万元",
                        "例如 round(x, 元)",
                        "e.g. round(x, 元)",
                    ));
                };
                (Expr::Round(Box::new(x), unit), Ty::Money)
            }
            "period_start" | "period_end" => {
                arity(0, 0, &format!("{name}()"))?;
                (
                    if name == "period_start" {
                        Expr::PeriodStart
                    } else {
                        Expr::PeriodEnd
                    },
                    Ty::Date,
                )
            }
            _ if self.failed.contains(name) => return Err(err(CASCADE, func.span, "", "", "", "")),
            _ => {
                const BUILTINS: [&str; 24] = [
                    "prev",
                    "growth",
                    "cagr",
                    "highest_before",
                    "lowest_before",
                    "first_time",
                    "ever_before",
                    "consecutive",
                    "held",
                    "held_at",
                    "issued",
                    "issued_before",
                    "occurred",
                    "date_of",
                    "total",
                    "latest",
                    "awarded",
                    "min",
                    "max",
                    "abs",
                    "floor",
                    "round",
                    "period_start",
                    "period_end",
                ];
                let mut names: Vec<&str> = BUILTINS.to_vec();
                names.extend(self.table_idx.keys().map(|s| s.as_str()));
                let g = closest(name, &names);
                return Err(err(
                    "E0305",
                    func.span,
                    format!("未知的函数或表 `{name}`"),
                    format!("unknown function or table `{name}`"),
                    g.map(|g| format!("是否想写 `{g}`？")).unwrap_or_else(|| {
                        "可用函数见 docs/LANGUAGE.md；档位表须先用 table 声明".into()
                    }),
                    g.map(|g| format!("did you mean `{g}`?"))
                        .unwrap_or_else(|| {
                            "see docs/LANGUAGE.md for functions; declare tables with table".into()
                        }),
                ));
            }
        })
    }

    fn check_table_input(&self, tid: TableId, t: Ty, span: Span) -> R<()> {
        let want = self.tables[tid].input;
        if t == want || (t != Ty::Money && want != Ty::Money && t.is_numeric()) {
            return Ok(());
        }
        Err(self.type_mismatch(
            span,
            &ty_name(Some(&self.enums), want),
            &ty_name(Some(&self.enums), want),
            t,
            "档位表的区间与查表值须同一单位",
            "the table's bounds and the looked-up value need the same unit",
        ))
    }

    /// Lowers tier arms into a table; checks bounds, overlaps and gaps.
    fn lower_table(
        &mut self,
        name: String,
        arms: &[ast::TierArmAst],
        sc: &Scope,
        span: Span,
        out_want: Option<Ty>,
    ) -> R<TableId> {
        if arms.is_empty() {
            return Err(err(
                "E0501",
                span,
                "档位表没有任何档位",
                "the table has no tiers",
                "至少写一档：[下限, 上限) => 金额",
                "write at least one tier: [lo, hi) => amount",
            ));
        }
        let mut ir_arms: Vec<TierArm> = Vec::new();
        let mut input: Option<Ty> = None;
        let mut output: Option<Ty> = None;
        for arm in arms {
            let mut bound = |me: &mut Self, e: &ast::Expr| -> R<Decimal> {
                let (x, t) = me.lower(e, sc, input)?;
                let Some(v) = const_value(&x).and_then(|v| v.num()) else {
                    return Err(err(
                        "E0502",
                        e.span,
                        "档位的上下限须为常量",
                        "tier bounds must be constants",
                        "例如 [100亿, 500亿)",
                        "e.g. [100亿, 500亿)",
                    ));
                };
                match input {
                    None => input = Some(t),
                    Some(it) if it == t || (it != Ty::Money && t != Ty::Money) => {}
                    Some(it) => {
                        return Err(me.type_mismatch(
                            e.span,
                            &ty_name(None, it),
                            &ty_name(None, it),
                            t,
                            "同一张表的区间须同一单位",
                            "all bounds of a table need one unit",
                        ))
                    }
                }
                Ok(v)
            };
            let lo = bound(self, &arm.interval.lo)?;
            let hi = match &arm.interval.hi {
                Some(h) => Some(bound(self, h)?),
                None => None,
            };
            let (v, vt) = self.lower(&arm.value, sc, output.or(out_want))?;
            let vt = match output {
                None => vt,
                Some(ot) => {
                    let prev = Expr::Lit(Value::Missing);
                    self.unify(prev, ot, v.clone(), vt, arm.value.span)?.2
                }
            };
            let v = if vt == Ty::Money {
                if let Expr::Lit(Value::Count(d)) = &v {
                    if d.is_zero() {
                        Expr::Lit(Value::Money(Decimal::ZERO))
                    } else {
                        v
                    }
                } else {
                    v
                }
            } else {
                v
            };
            output = Some(vt);
            if let Some(h) = hi {
                if h < lo || (h == lo && !(arm.interval.lo_inclusive && arm.interval.hi_inclusive))
                {
                    return Err(err(
                        "E0503",
                        arm.interval.span,
                        "区间的下限大于上限（空区间）",
                        "the interval's lower bound is above its upper bound (empty interval)",
                        "区间写作 [下限, 上限)，下限在前",
                        "write [lo, hi) with the lower bound first",
                    ));
                }
            }
            ir_arms.push(TierArm {
                lo: Bound {
                    value: lo,
                    inclusive: arm.interval.lo_inclusive,
                },
                hi: hi.map(|h| Bound {
                    value: h,
                    inclusive: arm.interval.hi_inclusive,
                }),
                value: v,
                label: self.text(arm.interval.span),
            });
        }
        // Overlaps and gaps, in written order (tiers are written ascending).
        for (i, w) in ir_arms.windows(2).enumerate() {
            let (a, b) = (&w[0], &w[1]);
            let sp = arms[i + 1].interval.span;
            let Some(ahi) = a.hi else {
                return Err(err(
                    "E0504",
                    sp,
                    "此档位永远不会命中：前一档已到 ∞",
                    "this tier is unreachable: the previous tier runs to ∞",
                    "∞ 只能用于最后一档；请按从低到高排列档位",
                    "only the last tier may run to ∞; order tiers from low to high",
                ));
            };
            let overlap = b.lo.value < ahi.value
                || (b.lo.value == ahi.value && b.lo.inclusive && ahi.inclusive);
            if overlap {
                return Err(err(
                    "E0505",
                    sp,
                    format!("档位重叠：{} 与 {} 有交集", a.label, b.label),
                    format!("tiers overlap: {} and {}", a.label, b.label),
                    "相邻档位首尾相接，例如 [100亿, 500亿) 之后是 [500亿, 1000亿)",
                    "adjacent tiers must meet exactly, e.g. [100亿, 500亿) then [500亿, 1000亿)",
                ));
            }
            let gap = b.lo.value > ahi.value || (!b.lo.inclusive && !ahi.inclusive);
            if gap {
                return Err(err(
                    "E0506",
                    sp,
                    format!("档位之间有空档：{} 与 {} 之间的值不属于任何一档", a.label, b.label),
                    format!("gap between tiers: values between {} and {} fall in no tier", a.label, b.label),
                    "让下一档的下限等于上一档的上限，并使一端闭合，例如 [100亿, 500亿) 与 [500亿, 1000亿)",
                    "start the next tier at the previous upper bound with one side closed, e.g. [100亿, 500亿) and [500亿, 1000亿)",
                ));
            }
        }
        let t = Table {
            name: name.clone(),
            input: input.unwrap_or(Ty::Money),
            output: output.unwrap_or(Ty::Money),
            arms: ir_arms,
        };
        self.tables.push(t);
        let id = self.tables.len() - 1;
        self.table_idx.entry(name).or_insert(id);
        Ok(id)
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
            Ok((e, t)) if t == want || want == Ty::Text => Some(Named {
                name: ne.name.name.clone(),
                expr: e,
                ty: t,
                source: self.text(ne.expr.span),
                origin: self.sm.origin(ne.span),
            }),
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
}

fn closest<'x>(word: &str, options: &[&'x str]) -> Option<&'x str> {
    crate::diag::did_you_mean(word, options.iter().copied(), crate::diag::Near::Name)
}

mod items;
pub use items::check;
