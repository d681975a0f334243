//! `sum(F where c: e)` and `count(F where c)`: aggregates over the records of an event fact
//! dated inside the period. The per-record parts read the record's fields, parameters and
//! constants only — nothing of the firm or of other periods — so both engines compute them
//! record by record (the columnar engine over the events table) and then add them up.

use super::*;

/// What the per-record parts may not use, named for the diagnostic; None when all is per record.
fn firm_level(p: &Checker, e: &Expr) -> Option<String> {
    let sub = |x: &Expr| firm_level(p, x);
    match e {
        Expr::Lit(_) | Expr::Param(_) | Expr::Field(_) | Expr::PeriodStart | Expr::PeriodEnd => {
            None
        }
        Expr::Fact(f) => Some(format!("`{}`", p.facts[*f].name)),
        Expr::Local(_) => Some("let".into()),
        Expr::Not(x) | Expr::Neg(x) | Expr::In(x, _, _) | Expr::Abs(x) | Expr::Floor(x) => sub(x),
        Expr::Round(x, _) | Expr::ShiftDate(x, _, _) | Expr::YearOf(x) => sub(x),
        Expr::AtYear(..) => Some("at_year()".into()),
        Expr::DaysBetween(a, b) | Expr::MonthsBetween(a, b) => sub(a).or_else(|| sub(b)),
        Expr::Bin(_, a, b) => sub(a).or_else(|| sub(b)),
        Expr::If(c, a, b) => sub(c).or_else(|| sub(a)).or_else(|| sub(b)),
        Expr::Min(xs) | Expr::Max(xs) => xs.iter().find_map(sub),
        Expr::Table(t, x) => sub(x).or_else(|| {
            p.tables
                .get(*t)
                .and_then(|tb| tb.arms.iter().find_map(|a| sub(&a.value)))
        }),
        Expr::Prev(..) => Some("prev()".into()),
        Expr::Growth(_) => Some("growth()".into()),
        Expr::Cagr(..) => Some("cagr()".into()),
        Expr::AggBefore(..) => Some("highest_before() / lowest_before()".into()),
        Expr::FirstTime(_) => Some("first_time()".into()),
        Expr::EverBefore(_) => Some("ever_before()".into()),
        Expr::Consecutive(..) => Some("consecutive()".into()),
        Expr::Held(..) => Some("held()".into()),
        Expr::Issued(..) | Expr::IssuedBefore(_) => Some("issued()".into()),
        Expr::Occurred(..) => Some("occurred()".into()),
        Expr::DateOf(..) => Some("date_of()".into()),
        Expr::Total(_) | Expr::Latest(_) => Some("total() / latest()".into()),
        Expr::Awarded(_) => Some("awarded()".into()),
        Expr::Records { .. } => Some("sum() / count()".into()),
    }
}

impl Checker<'_> {
    /// `sum(F where c: e)` / `count(F where c)` at `span`.
    pub(super) fn lower_records(
        &mut self,
        span: Span,
        func: &Ident,
        fact: &Ident,
        filter: Option<&ast::Expr>,
        body: Option<&ast::Expr>,
        sc: &Scope,
    ) -> R<(Expr, Ty)> {
        if sc.record.is_some() {
            return Err(err(
                "E0420",
                span,
                "逐笔表达式中不能再套 sum() 或 count()",
                "sum() and count() cannot be nested inside a per-record expression",
                "在外层分别求和后再组合，例如 sum(贷款: 本金) - sum(还款: 金额)",
                "aggregate each separately, then combine: sum(loans: principal) - sum(repayments: amount)",
            ));
        }
        let Some(&f) = self.fact_idx.get(fact.name.as_str()) else {
            if self.failed.contains(fact.name.as_str()) {
                return Err(err(CASCADE, fact.span, "", "", "", ""));
            }
            return Err(self.unknown_name(fact, sc, None));
        };
        if self.facts[f].kind != PeriodKind::Event {
            return Err(err(
                "E0419",
                fact.span,
                format!(
                    "`{}` 不是事件数据：{}() 汇总的是事件的逐笔记录",
                    fact.name, func.name
                ),
                format!(
                    "`{}` is not an event fact: {}() aggregates the records of one",
                    fact.name, func.name
                ),
                "年度数据直接写名称，月度数据用 total()",
                "use a yearly fact by its name, a monthly one with total()",
            ));
        }
        // The lets stay visible so that using one is refused by name (E0420), not unknown.
        let inner = Scope {
            lets: sc.lets.clone(),
            let_weights: sc.let_weights,
            clause: sc.clause,
            record: Some(f),
        };
        let filter = match filter {
            Some(c) => {
                let (x, t) = self.lower(c, &inner, Some(Ty::Bool))?;
                if t != Ty::Bool {
                    return Err(self.type_mismatch(
                        c.span,
                        "条件",
                        "a condition",
                        t,
                        "where 后写逐笔的条件，例如 where 本金 >= 100万",
                        "write a per-record condition after where, e.g. where principal >= 100万",
                    ));
                }
                self.per_record(&x, c.span)?;
                Some(Box::new(x))
            }
            None => None,
        };
        match (func.name.as_str(), body) {
            ("count", None) => Ok((
                Expr::Records {
                    agg: RecordAgg::Count,
                    fact: f,
                    filter,
                    body: None,
                    ty: Ty::Count,
                },
                Ty::Count,
            )),
            ("count", Some(b)) => Err(err(
                "E0419",
                b.span,
                "count() 数的是记录条数，不带逐笔表达式",
                "count() counts records; it takes no per-record expression",
                format!("写作 count({} where 条件)；要加总数值用 sum({}: 表达式)", fact.name, fact.name),
                format!("write count({} where cond); to add numbers up use sum({}: expr)", fact.name, fact.name),
            )),
            (_, None) => Err(err(
                "E0419",
                span,
                "sum() 需要逐笔表达式",
                "sum() needs a per-record expression",
                format!("写作 sum({}: 每笔的数值)，例如 sum(贷款: min(本金 * 3%, 实付利息))", fact.name),
                format!("write sum({}: per-record value), e.g. sum(loans: min(principal * 3%, interest))", fact.name),
            )),
            (_, Some(b)) => {
                let (x, t) = self.lower(b, &inner, None)?;
                if !t.is_numeric() {
                    return Err(self.type_mismatch(
                        b.span,
                        "数值",
                        "a number",
                        t,
                        "sum() 加总的是每笔记录的数值",
                        "sum() adds up a number per record",
                    ));
                }
                self.per_record(&x, b.span)?;
                Ok((
                    Expr::Records {
                        agg: RecordAgg::Sum,
                        fact: f,
                        filter,
                        body: Some(Box::new(x)),
                        ty: t,
                    },
                    t,
                ))
            }
        }
    }

    /// E0420 when a per-record part reads anything but the record, parameters and constants.
    fn per_record(&self, x: &Expr, span: Span) -> R<()> {
        match firm_level(self, x) {
            None => Ok(()),
            Some(what) => Err(err(
                "E0420",
                span,
                format!("逐笔表达式只能使用该记录的字段、参数和常量，不能使用 {what}"),
                format!("a per-record expression may use only the record's fields, parameters and constants, not {what}"),
                "把企业层面的数据放在 sum() 之外，例如 min(sum(贷款: 本金 * 3%), 实付利息)",
                "use firm-level data outside sum(), e.g. min(sum(loans: principal * 3%), interest)",
            )),
        }
    }
}
