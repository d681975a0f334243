//! Calls: declared tables and the built-in functions, one function each.

use rust_decimal::prelude::ToPrimitive;

use super::*;
use crate::ast::ExprKind;
use crate::lexer::Unit;

/// The built-in functions (for "did you mean").
const BUILTINS: [&str; 28] = [
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
    "days_between",
    "months_between",
    "year",
    "at_year",
];

/// One call being lowered: the function's name, the call's span and its arguments.
struct Call<'e> {
    name: &'e str,
    span: Span,
    args: &'e [ast::Expr],
}

impl Call<'_> {
    /// Between `lo` and `hi` arguments, or E0410 with the usage.
    fn arity(&self, lo: usize, hi: usize, usage: &str) -> R<()> {
        let (name, n) = (self.name, self.args.len());
        if n < lo || n > hi {
            return Err(err(
                "E0410",
                self.span,
                format!("{name}() 的参数个数不对：给了 {n} 个"),
                format!("{name}() takes {lo}..={hi} arguments, {n} given"),
                format!("用法：{usage}"),
                format!("usage: {usage}"),
            ));
        }
        Ok(())
    }

    fn numeric(&self, c: &Checker, t: Ty, s: Span) -> R<()> {
        if !t.is_numeric() {
            let name = self.name;
            return Err(c.type_mismatch(
                s,
                "数值",
                "a number",
                t,
                &format!("{name}() 需要数值"),
                &format!("{name}() needs a number"),
            ));
        }
        Ok(())
    }

    fn boolean(&self, c: &Checker, t: Ty, s: Span) -> R<()> {
        if t != Ty::Bool {
            let name = self.name;
            return Err(c.type_mismatch(
                s,
                "条件",
                "a condition",
                t,
                &format!("{name}() 需要一个条件，例如 {name}(营业收入 >= 100亿)"),
                &format!("{name}() takes a condition"),
            ));
        }
        Ok(())
    }
}

impl Checker<'_> {
    pub(super) fn lower_call(
        &mut self,
        span: Span,
        func: &Ident,
        args: &[ast::Expr],
        sc: &Scope,
        want: Option<Ty>,
    ) -> R<(Expr, Ty)> {
        let call = Call {
            name: func.name.as_str(),
            span,
            args,
        };
        if let Some(&tid) = self.table_idx.get(&*self.key(func.span, call.name)) {
            return self.call_table(&call, tid, sc);
        }
        match call.name {
            "prev" => self.call_prev(&call, sc, want),
            "growth" => self.call_growth(&call, sc),
            "cagr" => self.call_cagr(&call, sc),
            "highest_before" | "lowest_before" => self.call_agg_before(&call, sc),
            "first_time" | "ever_before" | "consecutive" => self.call_history(&call, sc),
            "held" | "held_at" => self.call_held(&call, sc),
            "issued" | "issued_before" => self.call_issued(&call),
            "occurred" | "date_of" => self.call_stage(&call),
            "total" | "latest" => self.call_monthly(&call),
            "awarded" => self.call_awarded(&call, sc),
            "min" | "max" => self.call_min_max(&call, sc, want),
            "abs" | "floor" => self.call_abs_floor(&call, sc, want),
            "round" => self.call_round(&call, sc),
            "days_between" | "months_between" => self.call_between(&call, sc),
            "year" => {
                call.arity(1, 1, "year(日期)")?;
                let d = self.held_date(&call.args[0], sc)?;
                Ok((Expr::YearOf(Box::new(d)), Ty::Count))
            }
            "at_year" => self.call_at_year(&call, sc, want),
            "period_start" | "period_end" => {
                call.arity(0, 0, &format!("{}()", call.name))?;
                let e = if call.name == "period_start" {
                    Expr::PeriodStart
                } else {
                    Expr::PeriodEnd
                };
                Ok((e, Ty::Date))
            }
            name if self.failed.contains(name) => Err(err(CASCADE, func.span, "", "", "", "")),
            _ => Err(self.unknown_function(func)),
        }
    }

    fn unknown_function(&self, func: &Ident) -> Diag {
        let name = func.name.as_str();
        let tables = self.tables.iter().map(|t| t.name.as_str());
        let (hz, he) = guess_hint(
            did_you_mean(name, BUILTINS.into_iter().chain(tables), Near::Name),
            ("", ""),
            (
                "可用函数见 docs/LANGUAGE.md；档位表须先用 table 声明",
                "see docs/LANGUAGE.md for functions; declare tables with table",
            ),
        );
        err(
            "E0305",
            func.span,
            format!("未知的函数或表 `{name}`"),
            format!("unknown function or table `{name}`"),
            hz,
            he,
        )
    }

    fn call_table(&mut self, call: &Call, tid: TableId, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(1, 1, &format!("{}(值)", call.name))?;
        let (x, t) = self.lower(&call.args[0], sc, None)?;
        self.check_table_input(tid, t, call.args[0].span)?;
        Ok((Expr::Table(tid, Box::new(x)), self.tables[tid].output))
    }

    fn call_prev(&mut self, call: &Call, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        call.arity(1, 2, "prev(x) 或 prev(x, n)")?;
        let n = match call.args.get(1) {
            Some(n) => self.const_int(n, 1, "期数", "the number of periods")?,
            None => 1,
        };
        let (x, t) = self.lower(&call.args[0], sc, want)?;
        Ok((Expr::Prev(Box::new(x), n), t))
    }

    fn call_growth(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(1, 1, "growth(x)")?;
        let (x, t) = self.lower(&call.args[0], sc, None)?;
        call.numeric(self, t, call.args[0].span)?;
        Ok((Expr::Growth(Box::new(x)), Ty::Ratio))
    }

    fn call_cagr(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(2, 2, "cagr(x, n)")?;
        let (x, t) = self.lower(&call.args[0], sc, None)?;
        call.numeric(self, t, call.args[0].span)?;
        let n = self.const_int(&call.args[1], 1, "年数", "the number of years")?;
        Ok((Expr::Cagr(Box::new(x), n), Ty::Ratio))
    }

    fn call_agg_before(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(1, 1, &format!("{}(x)", call.name))?;
        let (x, t) = self.lower(&call.args[0], sc, None)?;
        if !(t.is_numeric() || t == Ty::Date) {
            call.numeric(self, t, call.args[0].span)?;
        }
        let agg = if call.name == "highest_before" {
            AggBefore::Highest
        } else {
            AggBefore::Lowest
        };
        Ok((Expr::AggBefore(agg, Box::new(x)), t))
    }

    /// `first_time(c)`, `ever_before(c)`, `consecutive(c, n)`: conditions over earlier periods.
    fn call_history(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        if call.name == "consecutive" {
            call.arity(2, 2, "consecutive(条件, n)")?;
        } else {
            call.arity(1, 1, &format!("{}(条件)", call.name))?;
        }
        let (x, t) = self.lower(&call.args[0], sc, Some(Ty::Bool))?;
        call.boolean(self, t, call.args[0].span)?;
        let x = Box::new(x);
        let e = match call.name {
            "first_time" => Expr::FirstTime(x),
            "ever_before" => Expr::EverBefore(x),
            _ => {
                let n = self.const_int(&call.args[1], 1, "期数", "the number of periods")?;
                Expr::Consecutive(x, n)
            }
        };
        Ok((e, Ty::Bool))
    }

    /// `held(f)`, `held(f, [v…])`, `held_at(f, date)`, `held_at(f, [v…], date)`.
    fn call_held(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        let args = call.args;
        if call.name == "held" {
            call.arity(1, 2, "held(事实) 或 held(事实, [取值…])")?;
        } else {
            call.arity(2, 3, "held_at(事实, [取值…], 日期)")?;
        }
        let f = self.event_fact(&args[0], call.name)?;
        if self.facts[f].validity.is_none() {
            let n = self.facts[f].name.clone();
            self.diags.push(
                err(
                    "W0401",
                    args[0].span,
                    format!("`{n}` 未声明有效期：没有止日的记录将视为永久有效"),
                    format!("`{n}` declares no validity: a record without an end date counts as valid for ever"),
                    "在事实声明中写 valid 3年（无止日的记录自发生日起3年内有效）或 valid forever（确为长期有效）",
                    "declare valid 3年 (a record without an end is valid 3 years from its date) or valid forever on the fact",
                )
                .warning(),
            );
        }
        let (vals, date_arg) = match (call.name, args.len()) {
            ("held", 2) => (Some(self.variants(f, &args[1])?), None),
            ("held", _) => (None, None),
            ("held_at", 2) => (None, Some(&args[1])),
            _ => (Some(self.variants(f, &args[1])?), Some(&args[2])),
        };
        let at = match date_arg {
            Some(d) => Some(Box::new(self.held_date(d, sc)?)),
            None => None,
        };
        Ok((Expr::Held(f, vals, at), Ty::Bool))
    }

    /// `days_between(a, b)` / `months_between(a, b)`: from date a to date b, a count.
    fn call_between(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(2, 2, &format!("{}(起始日期, 截止日期)", call.name))?;
        let a = Box::new(self.held_date(&call.args[0], sc)?);
        let b = Box::new(self.held_date(&call.args[1], sc)?);
        let e = if call.name == "days_between" {
            Expr::DaysBetween(a, b)
        } else {
            Expr::MonthsBetween(a, b)
        };
        Ok((e, Ty::Count))
    }

    /// `at_year(x, 年份)`: x in the year given (a count, e.g. `year(date_of(落户, 本区, ever))`).
    fn call_at_year(&mut self, call: &Call, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        call.arity(2, 2, "at_year(x, 年份)")?;
        let (x, t) = self.lower(&call.args[0], sc, want)?;
        let (y, ty) = self.lower(&call.args[1], sc, Some(Ty::Count))?;
        if ty != Ty::Count {
            return Err(self.type_mismatch(
                call.args[1].span,
                "年份（整数）",
                "a year (a count)",
                ty,
                "例如 at_year(营业收入, year(date_of(所属园区, 本园区, ever)))：落户当年的营业收入",
                "e.g. at_year(revenue, year(date_of(park, ours, ever))): the revenue of the year it moved in",
            ));
        }
        Ok((Expr::AtYear(Box::new(x), Box::new(y)), t))
    }

    /// The date argument of `held_at`.
    fn held_date(&mut self, d: &ast::Expr, sc: &Scope) -> R<Expr> {
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
        Ok(x)
    }

    /// `issued(f)`, `issued(f, [v…])`, `issued_before(f)`; `issued` may end with a window.
    fn call_issued(&mut self, call: &Call) -> R<(Expr, Ty)> {
        if call.name == "issued_before" {
            call.arity(1, 1, "issued_before(事实)")?;
            let f = self.event_fact(&call.args[0], call.name)?;
            return Ok((Expr::IssuedBefore(f), Ty::Count));
        }
        let (args, window) = self.window(call.args);
        let call = Call { args, ..*call };
        call.arity(
            1,
            2,
            "issued(事实) 或 issued(事实, [取值…])，可加 before 或 ever",
        )?;
        let f = self.event_fact(&call.args[0], call.name)?;
        let vals = match call.args.get(1) {
            Some(v) => Some(self.variants(f, v)?),
            None => None,
        };
        Ok((Expr::Issued(f, vals, window), Ty::Bool))
    }

    /// A trailing `before` or `ever` of an event function: its window (default: the period),
    /// and the arguments before it.
    fn window<'e>(&self, args: &'e [ast::Expr]) -> (&'e [ast::Expr], EventWindow) {
        let w = match args.last().map(|a| &a.kind) {
            Some(ExprKind::Name(id)) if id.name == "before" => EventWindow::Before,
            Some(ExprKind::Name(id)) if id.name == "ever" => EventWindow::Ever,
            _ => return (args, EventWindow::Period),
        };
        (&args[..args.len() - 1], w)
    }

    /// `occurred(f, v)` and `date_of(f, v)`: one stage of an event fact; a trailing `before` or
    /// `ever` widens the window to earlier periods.
    fn call_stage(&mut self, call: &Call) -> R<(Expr, Ty)> {
        let (args, window) = self.window(call.args);
        let call = Call { args, ..*call };
        call.arity(
            2,
            2,
            &format!(
                "{}(事实, 取值) 或 {}(事实, 取值, before|ever)",
                call.name, call.name
            ),
        )?;
        let f = self.event_fact(&call.args[0], call.name)?;
        let v = match self.variants(f, &call.args[1])?[..] {
            [v] => v,
            _ => {
                return Err(err(
                    "E0409",
                    call.args[1].span,
                    "此处只能写一个取值",
                    "exactly one value expected here",
                    "例如 occurred(上市进程, 上市)",
                    "e.g. occurred(stages, listed)",
                ))
            }
        };
        if call.name == "occurred" {
            Ok((Expr::Occurred(f, v, window), Ty::Bool))
        } else {
            Ok((Expr::DateOf(f, v, window), Ty::Date))
        }
    }

    /// `total(f)` and `latest(f)` of a monthly fact.
    fn call_monthly(&mut self, call: &Call) -> R<(Expr, Ty)> {
        let name = call.name;
        call.arity(1, 1, &format!("{name}(月度事实)"))?;
        let arg = &call.args[0];
        let ExprKind::Name(id) = &arg.kind else {
            return Err(err(
                "E0411",
                arg.span,
                format!("{name}() 需要月度事实名称"),
                format!("{name}() needs a monthly fact"),
                "例如 total(月用电量)",
                "e.g. total(monthly_power)",
            ));
        };
        let f = match self.fact_idx.get(&id.name) {
            Some(&f) if self.facts[f].kind == PeriodKind::Month => f,
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
        };
        let t = self.facts[f].ty;
        if name == "latest" {
            return Ok((Expr::Latest(f), t));
        }
        if !t.is_numeric() {
            return Err(self.type_mismatch(
                arg.span,
                "数值",
                "a number",
                t,
                "只有数值可以求和",
                "only numbers can be summed",
            ));
        }
        Ok((Expr::Total(f), t))
    }

    /// `awarded()` inside a clause (its own awards), `awarded(clause)` anywhere.
    fn call_awarded(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(0, 1, "awarded() 或 awarded(条款)")?;
        let Some(a) = call.args.first() else {
            return match sc.clause {
                Some(c) => Ok((Expr::Awarded(c), Ty::Money)),
                None => Err(err(
                    "E0412",
                    call.span,
                    "awarded() 只能在条款内使用",
                    "awarded() without an argument only works inside a clause",
                    "在条款外请写 awarded(条款名称)",
                    "outside a clause write awarded(ClauseName)",
                )),
            };
        };
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
        match self.clause_idx.get(&*self.key(id.span, &id.name)) {
            Some(&c) => Ok((Expr::Awarded(c), Ty::Money)),
            None => {
                Err(self
                    .unknown_clause(id, ("条款须用 clause 声明", "declare clauses with clause")))
            }
        }
    }

    /// `min(a, b, …)` / `max(a, b, …)`: every argument joins the type of those before it.
    fn call_min_max(&mut self, call: &Call, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        if call.args.len() < 2 {
            call.arity(2, 99, &format!("{}(a, b, …)", call.name))?;
        }
        let mut xs = Vec::new();
        let (mut last, mut t) = self.lower(&call.args[0], sc, want)?;
        for a in &call.args[1..] {
            let (x, xt) = self.lower(a, sc, Some(t))?;
            let (l2, x2, nt) = self.unify(last, t, x, xt, a.span)?;
            xs.push(l2);
            last = x2;
            t = nt;
        }
        xs.push(last);
        if !(t.is_numeric() || t == Ty::Date) {
            call.numeric(self, t, call.span)?;
        }
        if call.name == "min" {
            Ok((Expr::Min(xs), t))
        } else {
            Ok((Expr::Max(xs), t))
        }
    }

    /// `abs(x)` keeps the unit; `floor(x)` of a ratio or count is a count.
    fn call_abs_floor(&mut self, call: &Call, sc: &Scope, want: Option<Ty>) -> R<(Expr, Ty)> {
        if call.name == "abs" {
            call.arity(1, 1, "abs(x)")?;
            let (x, t) = self.lower(&call.args[0], sc, want)?;
            call.numeric(self, t, call.args[0].span)?;
            return Ok((Expr::Abs(Box::new(x)), t));
        }
        call.arity(1, 1, "floor(x)")?;
        let (x, t) = self.lower(&call.args[0], sc, None)?;
        if t == Ty::Money {
            return Err(err(
                "E0413",
                call.args[0].span,
                "floor() 不能用于金额",
                "floor() does not apply to money",
                "金额取整请用 round(x, 元) 或 round(x, 万元)",
                "round money with round(x, 元) or round(x, 万元)",
            ));
        }
        call.numeric(self, t, call.args[0].span)?;
        Ok((Expr::Floor(Box::new(x)), Ty::Count))
    }

    /// `round(money, 分|元|万元)`.
    fn call_round(&mut self, call: &Call, sc: &Scope) -> R<(Expr, Ty)> {
        call.arity(2, 3, "round(金额, 分|元|百元|千元|万元[, down|up])")?;
        let (x, t) = self.lower(&call.args[0], sc, Some(Ty::Money))?;
        if t != Ty::Money {
            return Err(self.type_mismatch(
                call.args[0].span,
                "金额",
                "money",
                t,
                "round() 用于金额",
                "round() applies to money",
            ));
        }
        let unit = match &call.args[1].kind {
            ExprKind::Name(id) => RoundUnit::from_name(&id.name),
            _ => None,
        };
        let Some(unit) = unit else {
            return Err(err(
                "E0413",
                call.args[1].span,
                "取整单位须为 分、元、百元、千元 或 万元",
                "the rounding unit must be 分, 元, 百元, 千元 or 万元",
                "例如 round(x, 元)",
                "e.g. round(x, 元)",
            ));
        };
        let mode = match call.args.get(2).map(|a| &a.kind) {
            None => Some(RoundMode::HalfUp),
            Some(ExprKind::Name(id)) => RoundMode::from_name(&id.name),
            Some(_) => None,
        };
        let Some(mode) = mode else {
            return Err(err(
                "E0413",
                call.args[2].span,
                "取整方式须为 half_up（四舍五入）、down（舍去）或 up（进位）",
                "the rounding mode must be half_up, down or up",
                "例如 round(x, 元, down)：不足一元的部分舍去",
                "e.g. round(x, 元, down): drop what is below one 元",
            ));
        };
        Ok((Expr::Round(Box::new(x), Rounding { unit, mode }), Ty::Money))
    }

    /// An integer constant in `min..=1000` (periods, years, places).
    pub(super) fn const_int(
        &self,
        e: &ast::Expr,
        min: i64,
        what_zh: &str,
        what_en: &str,
    ) -> R<u32> {
        if let ExprKind::Num {
            unit: Unit::None,
            value,
            text,
            ..
        } = &e.kind
        {
            if !text.contains('.') && *value >= Decimal::from(min) && *value <= Decimal::from(1000)
            {
                if let Some(n) = value.to_u32() {
                    return Ok(n);
                }
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

    /// The event fact named by the first argument of `fname`.
    fn event_fact(&self, e: &ast::Expr, fname: &str) -> R<FactId> {
        let ExprKind::Name(id) = &e.kind else {
            return Err(err(
                "E0408",
                e.span,
                format!("{fname}() 的第一个参数须是事件事实名称"),
                format!("the first argument of {fname}() must name an event fact"),
                "例如 held(高企证书)",
                "e.g. held(certificate)",
            ));
        };
        let Some(&f) = self.fact_idx.get(&id.name) else {
            return Err(err(
                "E0302",
                id.span,
                format!("未知的事实 `{}`", id.name),
                format!("unknown fact `{}`", id.name),
                "事实须先用 fact 声明",
                "declare the fact with fact first",
            ));
        };
        if self.facts[f].kind == PeriodKind::Event {
            return Ok(f);
        }
        Err(err(
            "E0408",
            e.span,
            format!("{fname}() 需要事件事实，`{}` 不是", id.name),
            format!("{fname}() needs an event fact; `{}` is not one", id.name),
            "事件事实写作 fact 名称: event 枚举 { … }（证书、称号、上市阶段等）",
            "declare event facts as fact Name: event Enum { … } (certificates, titles, stages)",
        ))
    }

    /// The enum values named by `e` (one name or a list) for an event fact.
    pub(super) fn variants(&mut self, fact: FactId, e: &ast::Expr) -> R<Vec<u32>> {
        let Ty::Enum(en) = self.facts[fact].ty else {
            let name = &self.facts[fact].name;
            return Err(err(
                "E0409",
                e.span,
                format!("事件事实 `{name}` 没有取值，不能按值筛选"),
                format!("event fact `{name}` carries no value to filter on"),
                "声明时写出枚举：fact 名称: event 枚举",
                "declare it with an enum: fact Name: event Enum",
            ));
        };
        let items: Vec<&ast::Expr> = match &e.kind {
            ExprKind::List(xs) => xs.iter().collect(),
            _ => vec![e],
        };
        let def = &self.enums[en];
        let mut out = Vec::new();
        for it in items {
            let ExprKind::Name(id) = &it.kind else {
                return Err(err(
                    "E0409",
                    it.span,
                    "此处应为枚举值",
                    "expected an enum value",
                    format!("{} 的取值：{}", def.name, def.variants.join("、")),
                    format!("values: {}", def.variants.join(", ")),
                ));
            };
            match def.variants.iter().position(|v| *v == id.name) {
                Some(v) => out.push(v as u32),
                None => {
                    return Err(err(
                        "E0303",
                        id.span,
                        format!("`{}` 不是 {} 的取值", id.name, def.name),
                        format!("`{}` is not a value of {}", id.name, def.name),
                        format!("可用取值：{}", def.variants.join("、")),
                        format!("values: {}", def.variants.join(", ")),
                    ))
                }
            }
        }
        Ok(out)
    }
}
