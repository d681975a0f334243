//! Expressions: literals, names, operators, `in`, `if` and inline `tiers`. Calls are in `call`.
//!
//! `lower` recurses once per level of the tree, so the functions on that path keep few locals
//! (a debug build gives every local its own stack slot): errors are built in helpers.

use super::*;
use crate::ast::{BinOpAst, ExprKind, UnOp};
use crate::lexer::Unit;

/// The literal a number stands for; a bare `0` where money is wanted is money.
fn number(unit: Unit, value: Decimal, text: &str, want: Option<Ty>) -> (Expr, Ty) {
    match unit {
        Unit::Yuan | Unit::Wan | Unit::Yi => (Expr::Lit(Value::Money(value)), Ty::Money),
        Unit::Percent => (Expr::Lit(Value::Ratio(value)), Ty::Ratio),
        // Refused before (`lower`): a duration is no value of its own.
        Unit::Years | Unit::Months | Unit::Days => (Expr::Lit(Value::Count(value)), Ty::Count),
        Unit::None => {
            if value.is_zero() && matches!(want, Some(Ty::Money)) {
                (Expr::Lit(Value::Money(Decimal::ZERO)), Ty::Money)
            } else if text.contains('.') {
                (Expr::Lit(Value::Ratio(value)), Ty::Ratio)
            } else {
                (Expr::Lit(Value::Count(value)), Ty::Count)
            }
        }
    }
}

fn is_zero_count(x: &Expr) -> bool {
    matches!(x, Expr::Lit(Value::Count(d)) if d.is_zero())
}

/// A ratio mixed with a count (the result is a ratio).
fn mixed(x: Ty, y: Ty) -> bool {
    matches!((x, y), (Ty::Ratio, Ty::Count) | (Ty::Count, Ty::Ratio))
}

fn ir_op(op: BinOpAst) -> BinOp {
    match op {
        BinOpAst::Add => BinOp::Add,
        BinOpAst::Sub => BinOp::Sub,
        BinOpAst::Mul => BinOp::Mul,
        BinOpAst::Div => BinOp::Div,
        BinOpAst::Ge => BinOp::Ge,
        BinOpAst::Gt => BinOp::Gt,
        BinOpAst::Le => BinOp::Le,
        BinOpAst::Lt => BinOp::Lt,
        BinOpAst::Eq => BinOp::Eq,
        BinOpAst::Ne => BinOp::Ne,
        BinOpAst::And => BinOp::And,
        BinOpAst::Or => BinOp::Or,
        BinOpAst::Coalesce => BinOp::Coalesce,
    }
}

impl Checker<'_> {
    pub(super) fn lower(&mut self, e: &ast::Expr, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        match &e.kind {
            ExprKind::Num { unit, .. } if unit.is_duration() => Err(err(
                "E0421",
                e.span,
                "时长只能用于日期加减或事实的 valid",
                "a duration only goes with a date (+ or -) or in a fact's valid",
                "例如 发证日期 + 3年、date_of(上市进程, 上市) - 30天",
                "e.g. issue_date + 3年, date_of(stages, listed) - 30天",
            )),
            ExprKind::Binary(op @ (BinOpAst::Add | BinOpAst::Sub), l, r) if matches!(&r.kind, ExprKind::Num { unit, .. } if unit.is_duration()) => {
                self.lower_shift(*op, l, r, sc)
            }
            ExprKind::Num {
                unit, value, text, ..
            } => Ok(number(*unit, *value, text, want)),
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
            ExprKind::Unary(UnOp::Not, inner) => self.lower_not(inner, sc),
            ExprKind::Unary(UnOp::Neg, inner) => self.lower_neg(inner, sc, want),
            ExprKind::Binary(op, l, r) => self.lower_binary(e.span, *op, l, r, sc, want),
            ExprKind::In {
                subject,
                list,
                negated,
            } => self.lower_in(subject, list, *negated, sc),
            ExprKind::If(c, a, b) => self.lower_if(c, a, b, sc, want),
            ExprKind::Tiers { subject, arms } => self.lower_tiers(e.span, subject, arms, sc, want),
            ExprKind::Call { func, args } => self.lower_call(e.span, func, args, sc, want),
            ExprKind::Records {
                func,
                fact,
                filter,
                body,
            } => self.lower_records(e.span, func, fact, filter.as_deref(), body.as_deref(), sc),
        }
    }

    /// `date + 3年` / `date - 30天`: a date shifted by a duration literal.
    fn lower_shift(
        &mut self,
        op: BinOpAst,
        l: &ast::Expr,
        r: &ast::Expr,
        sc: &Scope,
    ) -> R<(Expr, Ty)> {
        let (x, t) = self.lower(l, sc, Some(Ty::Date))?;
        if t != Ty::Date {
            return Err(self.type_mismatch(
                l.span,
                "日期",
                "a date",
                t,
                "时长只能加在日期上，例如 date_of(上市进程, 上市) + 3年",
                "a duration is added to a date, e.g. date_of(stages, listed) + 3年",
            ));
        }
        let ExprKind::Num { unit, value, .. } = &r.kind else {
            return Err(err(CASCADE, r.span, "", "", "", ""));
        };
        let sign = if op == BinOpAst::Sub { -1 } else { 1 };
        let (months, days) = match super::items::duration(*unit, *value) {
            Validity::For { months, days } => (months * sign, days * sign),
            Validity::Forever => (0, 0),
        };
        Ok((Expr::ShiftDate(Box::new(x), months, days), Ty::Date))
    }

    fn lower_not(&mut self, inner: &ast::Expr, sc: &Scope) -> R<(Expr, Ty)> {
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

    fn lower_neg(&mut self, inner: &ast::Expr, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
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

    /// `subject in [..]`: the list holds constants of the subject's type.
    fn lower_in(
        &mut self,
        subject: &ast::Expr,
        list: &[ast::Expr],
        negated: bool,
        sc: &Scope,
    ) -> R<(Expr, Ty)> {
        let (s, t) = self.lower(subject, sc, None)?;
        let mut vals = Vec::new();
        for item in list {
            let (v, vt) = self.lower(item, sc, Some(t))?;
            vals.push(self.in_value(item, &v, t, vt)?);
        }
        Ok((Expr::In(Box::new(s), vals, negated), Ty::Bool))
    }

    /// One value of an `in [..]` list, lowered to `v` of type `vt`, against the subject's `t`.
    fn in_value(&self, item: &ast::Expr, v: &Expr, t: Ty, vt: Ty) -> R<Value> {
        let Some(cv) = const_value(v) else {
            return Err(err(
                "E0403",
                item.span,
                "in [..] 中只能写常量",
                "only constants may appear in in [..]",
                "列出具体的值，例如 [房地产业, 金融业]",
                "list literal values, e.g. [A, B]",
            ));
        };
        if vt != t && !(t.is_numeric() && vt.is_numeric() && t != Ty::Money && vt != Ty::Money) {
            return Err(self.type_mismatch(
                item.span,
                &ty_name(Some(&self.enums), t),
                &ty_name(Some(&self.enums), t),
                vt,
                "列表中的值须与左侧同类型",
                "list values must have the subject's type",
            ));
        }
        Ok(cv)
    }

    fn lower_if(
        &mut self,
        c: &ast::Expr,
        a: &ast::Expr,
        b: &ast::Expr,
        sc: &Scope,
        want: Option<Ty>,
    ) -> R<(Expr, Ty)> {
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

    /// An inline `tiers subject { … }`: an anonymous table named after its line.
    fn lower_tiers(
        &mut self,
        span: Span,
        subject: &ast::Expr,
        arms: &[ast::TierArmAst],
        sc: &Scope,
        want: Option<Ty>,
    ) -> R<(Expr, Ty)> {
        let (s, st) = self.lower(subject, sc, None)?;
        let name = format!("tiers@{}", self.sm.line_col(span).0);
        let id = self.lower_table(name, arms, sc, span, Some(want.unwrap_or(Ty::Money)))?;
        self.check_table_input(id, st, subject.span)?;
        let out = self.tables[id].output;
        Ok((Expr::Table(id, Box::new(s)), out))
    }

    /// The common type of two branches; a bare `0` joins money, a count joins a ratio.
    pub(super) fn unify(
        &self,
        a: Expr,
        at: Ty,
        b: Expr,
        bt: Ty,
        span: Span,
    ) -> R<(Expr, Expr, Ty)> {
        if at == bt {
            return Ok((a, b, at));
        }
        if at == Ty::Money && is_zero_count(&b) {
            return Ok((a, Expr::Lit(Value::Money(Decimal::ZERO)), Ty::Money));
        }
        if bt == Ty::Money && is_zero_count(&a) {
            return Ok((Expr::Lit(Value::Money(Decimal::ZERO)), b, Ty::Money));
        }
        if mixed(at, bt) {
            return Ok((a, b, Ty::Ratio));
        }
        let (an, bn) = (
            ty_name(Some(&self.enums), at),
            ty_name(Some(&self.enums), bt),
        );
        Err(err(
            "E0404",
            span,
            format!("两个分支类型不一致：{an} 与 {bn}"),
            format!("branches have different types: {an} and {bn}"),
            "两个分支须同为金额、同为比例……",
            "both branches must have the same type",
        ))
    }

    /// A name: an enum value the context wants, a let, a fact, a parameter, or any enum value.
    fn lower_name(&mut self, id: &Ident, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        let n = id.name.as_str();
        if let Some(f) = sc.record {
            if let Some(i) = self.facts[f].fields.iter().position(|x| x.name == n) {
                return Ok((Expr::Field(i), self.facts[f].fields[i].ty));
            }
        }
        if let Some(Ty::Enum(e)) = want {
            if let Some(v) = self.enums[e].variants.iter().position(|x| x == n) {
                return Ok((Expr::Lit(Value::Enum(v as u32)), Ty::Enum(e)));
            }
        }
        if let Some(i) = sc.lets.iter().rposition(|(l, _)| *l == n) {
            return Ok((Expr::Local(i), sc.lets[i].1));
        }
        if let Some(&f) = self.fact_idx.get(n) {
            return self.fact_value(id, f);
        }
        if let Some(&p) = self.param_idx.get(&*self.key(id.span, n)) {
            return Ok((Expr::Param(p), self.params[p].ty));
        }
        if want.is_none() {
            for (ei, en) in self.enums.iter().enumerate() {
                if let Some(v) = en.variants.iter().position(|x| x == n) {
                    return Ok((Expr::Lit(Value::Enum(v as u32)), Ty::Enum(ei)));
                }
            }
        }
        if self.failed.contains(n) {
            return Err(err(CASCADE, id.span, "", "", "", ""));
        }
        Err(self.unknown_name(id, sc, want))
    }

    /// A fact used as a value: static and yearly facts are; monthly and event facts need a function.
    fn fact_value(&self, id: &Ident, f: FactId) -> R<(Expr, Ty)> {
        let n = id.name.as_str();
        let fact = &self.facts[f];
        if fact.ty == Ty::Text {
            return Err(err(
                "E0422",
                id.span,
                format!("`{n}` 是文本事实，不能用于计算或条件"),
                format!("`{n}` is a text fact; it cannot be computed with or tested"),
                format!("文本事实只用于 group cap 的分组：by {n}"),
                format!("a text fact only groups firms for a group cap: by {n}"),
            ));
        }
        match fact.kind {
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
        }
    }

    /// An unknown name (E0302), or a value the wanted enum does not have (E0303).
    pub(super) fn unknown_name(&self, id: &Ident, sc: &Scope, want: Option<Ty>) -> Diag {
        let n = id.name.as_str();
        if let Some(Ty::Enum(e)) = want {
            let en = &self.enums[e];
            let all = en.variants.join("、");
            let (hz, he) = guess_hint(
                did_you_mean(n, en.variants.iter().map(|s| s.as_str()), Near::Name),
                (&format!("可用取值：{all}"), &format!("values: {all}")),
                (&format!("可用取值：{all}"), &format!("values: {all}")),
            );
            return err(
                "E0303",
                id.span,
                format!("`{n}` 不是 {} 的取值", en.name),
                format!("`{n}` is not a value of {}", en.name),
                hz,
                he,
            );
        }
        let known = sc
            .lets
            .iter()
            .map(|l| l.0)
            .chain(self.facts.iter().map(|f| f.name.as_str()))
            .chain(self.params.iter().map(|p| p.name.as_str()));
        let (hz, he) = guess_hint(
            did_you_mean(n, known, Near::Name),
            ("事实须先用 fact 声明", "facts must be declared with fact"),
            (
                "事实、参数须先声明（fact / param），局部值用 let 定义",
                "declare facts and params first (fact / param); define local values with let",
            ),
        );
        err(
            "E0302",
            id.span,
            format!("未知的名称 `{n}`"),
            format!("unknown name `{n}`"),
            hz,
            he,
        )
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
        let lwant = match op {
            And | Or => Some(Ty::Bool),
            Add | Sub | Coalesce => want,
            _ => None,
        };
        let (a, at) = self.lower(l, sc, lwant)?;
        let rwant = match op {
            And | Or => Some(Ty::Bool),
            Mul | Div => None,
            _ => Some(at),
        };
        let (b, bt) = self.lower(r, sc, rwant)?;
        self.binary_result(span, op, (l.span, a, at), (r.span, b, bt))
    }

    /// `l op r` once both sides are lowered (kept out of `lower_binary`, which recurses).
    fn binary_result(
        &self,
        span: Span,
        op: BinOpAst,
        l: (Span, Expr, Ty),
        r: (Span, Expr, Ty),
    ) -> R<(Expr, Ty)> {
        let ((ls, a, at), (rs, b, bt)) = (l, r);
        let (a, at, b, bt) = money_zeros(a, at, b, bt);
        if op == BinOpAst::Coalesce {
            let (a2, b2, t) = self.unify(a, at, b, bt, rs)?;
            return Ok((Expr::Bin(BinOp::Coalesce, Box::new(a2), Box::new(b2)), t));
        }
        let out = self.binary_type(span, op, (ls, at), (rs, bt))?;
        Ok((Expr::Bin(ir_op(op), Box::new(a), Box::new(b)), out))
    }

    /// The type of `l op r` (not `??`), or why the operands do not go together.
    fn binary_type(&self, span: Span, op: BinOpAst, l: (Span, Ty), r: (Span, Ty)) -> R<Ty> {
        use BinOpAst::*;
        let ((ls, at), (rs, bt)) = (l, r);
        let tn = |t: Ty| ty_name(Some(&self.enums), t);
        let unit_err =
            |zh: String, en: String, hz: &str, he: &str| Err(err("E0406", span, zh, en, hz, he));
        Ok(match op {
            And | Or => {
                for (s, t) in [(ls, at), (rs, bt)] {
                    if t != Ty::Bool {
                        return Err(self.type_mismatch(s, "条件", "a condition", t, "and / or 连接的是条件", "and / or join conditions"));
                    }
                }
                Ty::Bool
            }
            Add | Sub => match (at, bt) {
                (x, y) if x == y && x.is_numeric() => x,
                (x, y) if mixed(x, y) => Ty::Ratio,
                (Ty::Date, Ty::Date) if op == Sub => {
                    return unit_err(
                        "两个日期不能直接相减".into(),
                        "two dates cannot be subtracted".into(),
                        "两个日期相隔的天数写作 days_between(a, b)，整月数写作 months_between(a, b)",
                        "the days between two dates are days_between(a, b), whole months months_between(a, b)",
                    )
                }
                (Ty::Date, _) | (_, Ty::Date) => {
                    return unit_err(
                        format!("日期只能加减时长：{} {} {}", tn(at), op.symbol(), tn(bt)),
                        format!("a date shifts only by a duration: {} {} {}", tn(at), op.symbol(), tn(bt)),
                        "时长写明单位：日期 + 3年、日期 - 6个月、日期 + 30天",
                        "write the duration with its unit: date + 3年, date - 6个月, date + 30天",
                    )
                }
                _ => {
                    return unit_err(
                        format!("单位不一致：{} {} {}", tn(at), op.symbol(), tn(bt)),
                        format!("unit mismatch: {} {} {}", tn(at), op.symbol(), tn(bt)),
                        "金额只能与金额相加减；比例乘以金额才得到金额，例如 10% * 研发费用",
                        "money adds only to money; multiply a ratio by money to get money, e.g. 10% * expense",
                    )
                }
            },
            Mul | Div if at == Ty::Date || bt == Ty::Date => {
                return unit_err(
                    format!("日期不能相乘除：{} {} {}", tn(at), op.symbol(), tn(bt)),
                    format!("dates cannot be multiplied or divided: {} {} {}", tn(at), op.symbol(), tn(bt)),
                    "按天或按月折算写作 days_between(a, b) / 365 或 months_between(a, b) / 12",
                    "prorate by days or months: days_between(a, b) / 365 or months_between(a, b) / 12",
                )
            }
            Mul => match (at, bt) {
                (Ty::Money, Ty::Ratio | Ty::Count) | (Ty::Ratio | Ty::Count, Ty::Money) => Ty::Money,
                (Ty::Count, Ty::Count) => Ty::Count,
                (x, y) if (x == Ty::Ratio || mixed(x, y)) && y.is_numeric() && y != Ty::Money => Ty::Ratio,
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
            // `??` is unified in `lower_binary` and never gets here.
            Ge | Gt | Le | Lt | Eq | Ne | Coalesce => {
                let ok = at == bt && (at.is_numeric() || at == Ty::Date || matches!(op, Eq | Ne)) || mixed(at, bt);
                if !ok && (at == Ty::Date || bt == Ty::Date) {
                    return unit_err(
                        format!("不能比较 {} 与 {}", tn(at), tn(bt)),
                        format!("cannot compare {} with {}", tn(at), tn(bt)),
                        "日期与日期比较，例如 date_of(上市进程, 上市) >= 2023-07-01；相隔天数用 days_between(a, b) >= 30",
                        "compare a date with a date, e.g. date_of(stages, listed) >= 2023-07-01; for days between, days_between(a, b) >= 30",
                    );
                }
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
        })
    }
}

/// A bare `0` next to money is money (`x > 0`, `0 + x`).
fn money_zeros(a: Expr, at: Ty, b: Expr, bt: Ty) -> (Expr, Ty, Expr, Ty) {
    let b = if at == Ty::Money && is_zero_count(&b) {
        Expr::Lit(Value::Money(Decimal::ZERO))
    } else {
        b
    };
    let bt = if at == Ty::Money && matches!(b, Expr::Lit(Value::Money(_))) {
        Ty::Money
    } else {
        bt
    };
    if bt == Ty::Money && is_zero_count(&a) {
        (Expr::Lit(Value::Money(Decimal::ZERO)), Ty::Money, b, bt)
    } else {
        (a, at, b, bt)
    }
}
