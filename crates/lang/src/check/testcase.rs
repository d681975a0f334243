//! Tests written in a pack: a period, firms with their data, and expectations.

use super::*;
use crate::ast::{DataValue, ExprKind, FirmStmt, TestStmt};

/// What a reason may be, shown when an `expect … because` names none of them.
const REASONS_ZH: &str = "原因是条件名称、规则名称或 数据缺失/有效期外/金额为零/累计上限";
const REASONS_EN: &str =
    "a reason is a condition or rule name, or 数据缺失/有效期外/金额为零/累计上限";

/// The firms of a test so far, by label.
#[derive(Default)]
struct TestFirms {
    firms: Vec<Firm>,
    labels: Vec<String>,
}

impl Checker<'_> {
    pub(super) fn check_test(
        &mut self,
        t: &ast::TestAst,
        clauses: &[Clause],
        reasons: &[String],
        clawbacks: &[Clawback],
    ) -> Option<TestCase> {
        let before = self.errors();
        let mut period = None;
        let mut firms = TestFirms::default();
        let mut expects = vec![];
        let mut sets = vec![];
        for st in &t.stmts {
            match st {
                TestStmt::Period(y, _) => period = Some(*y),
                TestStmt::Firm(f) => self.test_firm(f, &mut firms),
                TestStmt::Set { name, value, .. } => {
                    if let Some(s) = self.test_set(name, value) {
                        sets.push(s);
                    }
                }
                TestStmt::Expect(e) => {
                    if let Some(x) =
                        self.check_expect(e, &firms.labels, clauses, reasons, clawbacks)
                    {
                        expects.push(x);
                    }
                }
            }
        }
        let Some(period) = period else {
            self.diags.push(err(
                "E0328",
                t.name_span,
                format!("测试 \"{}\" 没有 period", t.name),
                format!("test \"{}\" has no period", t.name),
                "写出评估年度，例如 period 2023",
                "give the evaluated year, e.g. period 2023",
            ));
            return None;
        };
        if expects.is_empty() && self.errors() == before {
            self.diags.push(err(
                "E0329",
                t.name_span,
                format!("测试 \"{}\" 没有 expect", t.name),
                format!("test \"{}\" has no expect", t.name),
                "写出期望结果，例如 expect 甲.条款 = 100万",
                "add an expectation, e.g. expect A.clause = 100万",
            ));
        }
        if self.errors() > before {
            return None;
        }
        Some(TestCase {
            name: t.name.clone(),
            period,
            firms: firms.firms,
            firm_labels: firms.labels,
            expects,
            sets,
            origin: self.sm.origin(t.name_span),
        })
    }

    /// `set 参数 = 值` in a test: a declared parameter, a value of its type, fitting every rule
    /// figure the parameter is.
    fn test_set(&mut self, name: &Ident, value: &ast::Expr) -> Option<(ParamId, Value)> {
        let Some(&pi) = self.param_idx.get(&name.name) else {
            let near = did_you_mean(
                &name.name,
                self.params.iter().map(|p| p.name.as_str()),
                Near::Name,
            );
            self.diags.push(err(
                "E0330",
                name.span,
                format!("没有参数 `{}`", name.name),
                format!("no parameter `{}`", name.name),
                match near {
                    Some(n) => format!("是否想写 `{n}`？"),
                    None => "set 只能设定 param 声明的参数".into(),
                },
                match near {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "set names a declared param".into(),
                },
            ));
            return None;
        };
        let ty = self.params[pi].ty;
        let v = self.param_value(value, ty)?;
        if let Some(&fig) = self.figure_params.get(&pi) {
            if !fig.fits(v.num().unwrap_or_default()) {
                let (rz, re) = fig.range();
                self.diags.push(err(
                    "E0418",
                    value.span,
                    format!("参数 `{}` 用作规则的数额，{rz}", name.name),
                    format!("parameter `{}` is a rule's figure: it {re}", name.name),
                    "改正设定的值",
                    "correct the value set",
                ));
                return None;
            }
        }
        Some((pi, v))
    }

    fn test_firm(&mut self, f: &ast::FirmAst, firms: &mut TestFirms) {
        if firms.labels.contains(&f.label.name) {
            self.diags.push(err(
                "E0306",
                f.label.span,
                format!("测试中重复的企业 `{}`", f.label.name),
                format!("duplicate firm `{}` in the test", f.label.name),
                "给每个企业不同的名称",
                "give each firm its own label",
            ));
            return;
        }
        // A firm with bad data is still declared, so its expects are not reported again.
        firms.labels.push(f.label.name.clone());
        firms.firms.push(self.check_firm(f).unwrap_or_default());
    }

    /// A test's `条款.分期` that is another pack's clause (`政策名.条款`): the clause, without a
    /// tranche. Anything else as written.
    fn test_clause(&self, clause: &Ident, tranche: &Option<Ident>) -> (Ident, Option<Ident>) {
        if let Some(t) = tranche {
            let joined = format!("{}.{}", clause.name, t.name);
            if !self.clause_idx.contains_key(&clause.name) && self.clause_idx.contains_key(&joined)
            {
                let id = Ident {
                    name: joined,
                    span: clause.span.to(t.span),
                };
                return (id, None);
            }
        }
        (clause.clone(), tranche.clone())
    }

    fn check_expect(
        &mut self,
        e: &ast::ExpectAst,
        labels: &[String],
        clauses: &[Clause],
        reasons: &[String],
        clawbacks: &[Clawback],
    ) -> Option<Expect> {
        let (clause, tranche) = self.test_clause(&e.clause, &e.tranche);
        let e = &ast::ExpectAst {
            clause,
            tranche,
            ..e.clone()
        };
        let Some(fi) = labels.iter().position(|l| *l == e.firm.name) else {
            self.diags.push(err(
                "E0325",
                e.firm.span,
                format!("未知的企业 `{}`", e.firm.name),
                format!("unknown firm `{}`", e.firm.name),
                "expect 须引用本测试中 firm 声明的企业（先声明后引用）",
                "expect must name a firm declared earlier in this test",
            ));
            return None;
        };
        if let Some(k) = clawbacks.iter().position(|c| c.name == e.clause.name) {
            return self.expect_clawback(e, fi, k, &clawbacks[k]);
        }
        let clause = if e.clause.name == "total" {
            None
        } else {
            let Some(&x) = self.clause_idx.get(&e.clause.name) else {
                let d = self.unknown_clause(
                    &e.clause,
                    ("写条款名称，或 total 表示合计", "name a clause, or total"),
                );
                self.diags.push(d);
                return None;
            };
            Some(x)
        };
        if let (Some(cid), Some(tr)) = (clause, &e.tranche) {
            let names = self.tranche_names(clauses.get(cid));
            if !names.contains(&tr.name) {
                self.diags.push(err(
                    "E0326",
                    tr.span,
                    format!("条款 `{}` 没有分期 `{}`", e.clause.name, tr.name),
                    format!("clause `{}` has no tranche `{}`", e.clause.name, tr.name),
                    format!("可用分期：{}", names.join("、")),
                    format!("tranches: {}", names.join(", ")),
                ));
                return None;
            }
        }
        let amount = self.const_money(&e.amount, "期望金额", "the expected amount")?;
        if let Some(b) = &e.because {
            if !reasons.contains(&b.name) {
                let (hz, he) = guess_hint(
                    did_you_mean(&b.name, reasons.iter().map(|s| s.as_str()), Near::Name),
                    (REASONS_ZH, REASONS_EN),
                    (REASONS_ZH, REASONS_EN),
                );
                self.diags.push(err(
                    "E0327",
                    b.span,
                    format!("未知的原因 `{}`", b.name),
                    format!("unknown reason `{}`", b.name),
                    hz,
                    he,
                ));
                return None;
            }
        }
        Some(Expect {
            firm: fi,
            clause,
            clawback: None,
            tranche: e.tranche.as_ref().map(|x| x.name.clone()),
            amount,
            because: e.because.as_ref().map(|b| b.name.clone()),
            origin: self.sm.origin(e.span),
        })
    }

    /// `expect 甲.规则[.条款] = 金额`: what a clawback rule recovers from the firm (from one of
    /// the clauses it covers), a plain amount without `because`.
    fn expect_clawback(
        &mut self,
        e: &ast::ExpectAst,
        firm: usize,
        k: usize,
        rule: &Clawback,
    ) -> Option<Expect> {
        let clause =
            match &e.tranche {
                None => None,
                Some(c) => match self.clause_idx.get(&c.name).copied() {
                    Some(x) if rule.clauses.contains(&x) => Some(x),
                    _ => {
                        self.diags.push(err(
                        "E0326",
                        c.span,
                        format!("追回规则 `{}` 不追回条款 `{}` 的奖励", rule.name, c.name),
                        format!("clawback `{}` recovers nothing of clause `{}`", rule.name, c.name),
                        "写 expect 企业.追回规则 = 金额（合计），或其 clauses 中的一个条款",
                        "write expect firm.rule = amount (in all), or one of the rule's clauses",
                    ));
                        return None;
                    }
                },
            };
        if let Some(b) = &e.because {
            self.diags.push(err(
                "E0327",
                b.span,
                "追回金额的期望不带 because",
                "an expected clawback takes no because",
                "删去 because …：追回只有金额",
                "drop because …: a clawback is only an amount",
            ));
            return None;
        }
        let amount = self.const_money(&e.amount, "期望金额", "the expected amount")?;
        Some(Expect {
            firm,
            clause,
            clawback: Some(k),
            tranche: None,
            amount,
            because: None,
            origin: self.sm.origin(e.span),
        })
    }

    /// What `expect firm.clause.X` may name: a tranche, or a stage of a schedule.
    fn tranche_names(&self, clause: Option<&Clause>) -> Vec<String> {
        match clause.map(|c| &c.body) {
            Some(ClauseBody::Tranches(ts)) => ts.iter().map(|t| t.name.clone()).collect(),
            Some(ClauseBody::Schedule(s)) => {
                // A schedule's fact has stage values (checked with the clause).
                let Ty::Enum(en) = self.facts[s.fact].ty else {
                    return vec![];
                };
                let variants = &self.enums[en].variants;
                s.stages
                    .iter()
                    .filter_map(|(v, _)| variants.get(*v as usize).cloned())
                    .collect()
            }
            Some(ClauseBody::Amount(_)) | None => vec![],
        }
    }

    /// A constant for a test firm's fact, converted between ratio and count as the fact says.
    fn data_scalar(&mut self, fact: FactId, e: &ast::Expr) -> Option<Value> {
        let name = self.facts[fact].name.clone();
        self.data_const(self.facts[fact].ty, &name, e)
    }

    /// A constant of type `ty` for the fact or field `name`.
    fn data_const(&mut self, ty: Ty, name: &str, e: &ast::Expr) -> Option<Value> {
        if ty == Ty::Text {
            // A group's name, written as a name: `实际控制人 = 甲集团`.
            if let ExprKind::Name(id) = &e.kind {
                return Some(Value::Text(id.name.clone()));
            }
            self.diags.push(err(
                "E0414",
                e.span,
                format!("`{name}` 是文本事实，测试中写作一个名称"),
                format!("`{name}` is a text fact; a test gives it as a name"),
                format!("例如 {name} = 甲集团"),
                format!("e.g. {name} = 甲集团"),
            ));
            return None;
        }
        match self.lower(e, &Scope::default(), Some(ty)) {
            Ok((x, t))
                if t == ty
                    || (ty == Ty::Ratio && t == Ty::Count)
                    || (ty == Ty::Count && t == Ty::Ratio) =>
            {
                match const_value(&x) {
                    Some(Value::Count(d)) if ty == Ty::Ratio => Some(Value::Ratio(d)),
                    Some(Value::Ratio(d)) if ty == Ty::Count => Some(Value::Count(d)),
                    Some(v) => Some(v),
                    None => {
                        self.diags.push(err(
                            "E0414",
                            e.span,
                            "测试数据须为常量",
                            "test data must be constants",
                            "例如 120亿",
                            "e.g. 120亿",
                        ));
                        None
                    }
                }
            }
            Ok((_, t)) => {
                let want = ty_name(Some(&self.enums), ty);
                let d = self.type_mismatch(
                    e.span,
                    &want,
                    &want,
                    t,
                    &format!("`{name}` 的类型是 {want}"),
                    &format!("`{name}` has type {want}"),
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

    /// A test firm; None when any of its data is wrong.
    fn check_firm(&mut self, f: &ast::FirmAst) -> Option<Firm> {
        let before = self.errors();
        let id = match &f.id {
            Some((code, span)) => {
                if let Err(e) = huiqi_ir::uscc::validate(code) {
                    self.diags.push(err("E0701", *span, e.zh(), e.en(), "统一社会信用代码为18位，末位为 GB 32100-2015 校验码；测试中也可以省略代码", "a credit code has 18 characters ending in the GB 32100-2015 check character; tests may omit it"));
                }
                code.clone()
            }
            None => f.label.name.clone(),
        };
        let mut firm = Firm::new(id, f.label.name.clone(), self.facts.len());
        for st in &f.stmts {
            match st {
                FirmStmt::Fact { name, value, span } => {
                    let Some(&fid) = self.fact_idx.get(&name.name) else {
                        self.unknown_firm_fact(name);
                        continue;
                    };
                    if let Some(data) = self.fact_data(fid, name, value, *span) {
                        firm.facts[fid] = data;
                    }
                }
                FirmStmt::Awarded {
                    clause,
                    tranche,
                    period,
                    amount,
                    ..
                } => {
                    let (clause, tranche) = &self.test_clause(clause, tranche);
                    let Some(&cid) = self.clause_idx.get(&clause.name) else {
                        self.diags.push(err(
                            "E0304",
                            clause.span,
                            format!("未知的条款 `{}`", clause.name),
                            format!("unknown clause `{}`", clause.name),
                            "awarded 须引用已声明的条款",
                            "awarded must name a declared clause",
                        ));
                        continue;
                    };
                    if let Some(a) = self.const_money(amount, "已获奖励", "the awarded amount")
                    {
                        firm.awards.push(Award {
                            clause: cid,
                            period: *period,
                            tranche: tranche.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                            amount: a,
                        });
                    }
                }
            }
        }
        if self.errors() > before {
            return None;
        }
        Some(firm)
    }

    fn unknown_firm_fact(&mut self, name: &Ident) {
        let facts = self.facts.iter().map(|f| f.name.as_str());
        let (hz, he) = guess_hint(
            did_you_mean(&name.name, facts, Near::Name),
            ("", ""),
            ("事实须先用 fact 声明", "declare the fact first"),
        );
        self.diags.push(err(
            "E0302",
            name.span,
            format!("未知的事实 `{}`", name.name),
            format!("unknown fact `{}`", name.name),
            hz,
            he,
        ));
    }

    /// A test firm's data for one fact, in the shape its period kind needs (E0702 otherwise).
    fn fact_data(
        &mut self,
        fid: FactId,
        name: &Ident,
        value: &DataValue,
        span: Span,
    ) -> Option<FactData> {
        let shape = |c: &mut Checker, zh: &str, en: &str| {
            c.diags.push(err("E0702", span, format!("`{}` 的数据形式不对：{zh}", name.name), format!("wrong data shape for `{}`: {en}", name.name), "静态：事实 = 值；年度：{2022: 值, 2023: 值}；月度：{2023-01: 值}；事件：[日期: 取值, 日期 .. 日期]", "static: fact = v; yearly: {2022: v}; monthly: {2023-01: v}; events: [date: v, date .. date]"));
            None
        };
        match (self.facts[fid].kind, value) {
            (PeriodKind::Static, DataValue::Scalar(e)) => {
                self.data_scalar(fid, e).map(FactData::Static)
            }
            (PeriodKind::Year, DataValue::Periods(ps)) => Some(self.yearly(fid, ps, &shape)),
            (PeriodKind::Month, DataValue::Periods(ps)) => Some(self.monthly(fid, ps, &shape)),
            (PeriodKind::Event, DataValue::Events(es)) => Some(self.events(fid, name, es)),
            (PeriodKind::Static, _) => {
                shape(self, "静态事实只有一个值", "a static fact has one value")
            }
            (PeriodKind::Year, _) => shape(
                self,
                "年度事实写作 {2022: 值, 2023: 值}",
                "write yearly facts as {2022: v, 2023: v}",
            ),
            (PeriodKind::Month, _) => shape(
                self,
                "月度事实写作 {2023-01: 值}",
                "write monthly facts as {2023-01: v}",
            ),
            (PeriodKind::Event, _) => shape(
                self,
                "事件事实写作 [日期: 取值] 或 [开始 .. 结束]",
                "write events as [date: v] or [from .. until]",
            ),
        }
    }

    fn yearly(
        &mut self,
        fid: FactId,
        ps: &[(ast::PeriodKey, ast::Expr, Span)],
        shape: &dyn Fn(&mut Checker, &str, &str) -> Option<FactData>,
    ) -> FactData {
        let mut ys: Vec<(i32, Value)> = vec![];
        for (k, e, s) in ps {
            let ast::PeriodKey::Year(y) = k else {
                shape(
                    self,
                    "年度数据的键须为年份",
                    "keys of yearly data are years",
                );
                continue;
            };
            let Some(v) = self.data_scalar(fid, e) else {
                continue;
            };
            if ys.iter().any(|(yy, _)| yy == y) {
                self.diags.push(err(
                    "E0703",
                    *s,
                    format!("{y} 年的数据重复"),
                    format!("year {y} given twice"),
                    "每年只写一个值",
                    "one value per year",
                ));
            }
            ys.push((*y, v));
        }
        ys.sort_by_key(|(y, _)| *y);
        FactData::Yearly(ys)
    }

    fn monthly(
        &mut self,
        fid: FactId,
        ps: &[(ast::PeriodKey, ast::Expr, Span)],
        shape: &dyn Fn(&mut Checker, &str, &str) -> Option<FactData>,
    ) -> FactData {
        let mut ms = vec![];
        for (k, e, _) in ps {
            let ast::PeriodKey::Month(y, m) = k else {
                shape(
                    self,
                    "月度数据的键须为月份（2023-01）",
                    "keys of monthly data are months (2023-01)",
                );
                continue;
            };
            if let Some(v) = self.data_scalar(fid, e) {
                ms.push(((*y, *m), v));
            }
        }
        ms.sort_by_key(|(k, _)| *k);
        FactData::Monthly(ms)
    }

    fn events(&mut self, fid: FactId, name: &Ident, es: &[ast::EventAst]) -> FactData {
        let mut recs = vec![];
        for ev in es {
            let Some(value) = self.event_value(fid, name, ev) else {
                continue;
            };
            if ev.until.is_some_and(|u| u < ev.date) {
                self.diags.push(err(
                    "E0315",
                    ev.span,
                    "有效期的结束日早于开始日",
                    "validity ends before it starts",
                    "写作 开始日 .. 结束日",
                    "write start .. end",
                ));
                continue;
            }
            let Some(nums) = self.event_nums(fid, name, ev) else {
                continue;
            };
            recs.push(EventRec {
                date: ev.date,
                until: ev.until,
                value,
                nums,
            });
        }
        recs.sort_by_key(|r| r.date);
        FactData::Events(recs)
    }

    /// An event's numbers in the fact's field order (Missing where not written); None drops
    /// the event (an unknown or repeated field, or a wrong value, with a diagnostic).
    fn event_nums(&mut self, fid: FactId, name: &Ident, ev: &ast::EventAst) -> Option<Vec<Value>> {
        let fields = self.facts[fid].fields.clone();
        let mut nums = vec![Value::Missing; fields.len()];
        let mut ok = true;
        for (k, e, sp) in &ev.nums {
            let Some(i) = fields.iter().position(|f| f.name == k.name) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let (hz, he) = if names.is_empty() {
                    (
                        format!(
                            "`{}` 的记录没有字段；字段在事实声明中用 field 名称: money 声明",
                            name.name
                        ),
                        format!(
                            "records of `{}` have no fields; declare them with field name: money",
                            name.name
                        ),
                    )
                } else {
                    (
                        format!("`{}` 的字段：{}", name.name, names.join("、")),
                        format!("fields of `{}`: {}", name.name, names.join(", ")),
                    )
                };
                self.diags.push(err(
                    "E0705",
                    k.span,
                    format!("`{}` 的记录没有字段 `{}`", name.name, k.name),
                    format!("records of `{}` have no field `{}`", name.name, k.name),
                    hz,
                    he,
                ));
                ok = false;
                continue;
            };
            if !nums[i].is_missing() {
                self.diags.push(err(
                    "E0705",
                    *sp,
                    format!("字段 `{}` 写了两次", k.name),
                    format!("field `{}` given twice", k.name),
                    "每个字段只写一次",
                    "one value per field",
                ));
                ok = false;
                continue;
            }
            match self.data_const(fields[i].ty, &fields[i].name, e) {
                Some(v) => nums[i] = v,
                None => ok = false,
            }
        }
        ok.then_some(nums)
    }

    /// An event's value: required for an event fact with an enum, refused for one without.
    /// The outer None drops the event (with a diagnostic).
    fn event_value(
        &mut self,
        fid: FactId,
        name: &Ident,
        ev: &ast::EventAst,
    ) -> Option<Option<u32>> {
        let has_enum = matches!(self.facts[fid].ty, Ty::Enum(_));
        let Some(v) = &ev.value else {
            if !has_enum {
                return Some(None);
            }
            self.diags.push(err(
                "E0704",
                ev.span,
                format!("`{}` 的事件须写出取值", name.name),
                format!("events of `{}` need a value", name.name),
                "写作 [2023-03-01: 取值]",
                "write [2023-03-01: value]",
            ));
            return None;
        };
        let ex = ast::Expr {
            kind: ExprKind::Name(v.clone()),
            span: v.span,
        };
        match self.variants(fid, &ex) {
            Ok(vs) if has_enum => Some(vs.first().copied()),
            Ok(_) => None,
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }
}
