//! Clauses: each statement in order (lets are visible to the statements after them), then the
//! clause as a whole — a source reference, the original text, exactly one way of paying, and
//! conditions that can hold together.

use std::rc::Rc;

use super::items::window_err;
use super::*;
use crate::ast::{ExprKind, StmtKind};

/// What a clause's statements have said so far.
struct ClauseParts<'a> {
    /// The clause's id, for `awarded()`.
    id: ClauseId,
    /// The policy's window (a clause window must lie inside it).
    policy_window: (Date, Date),
    reference: Option<String>,
    text: Option<String>,
    window: (Date, Date),
    lets: Vec<Named>,
    /// Names, types and expanded sizes of the lets so far, shared with each statement's scope
    /// (an `Rc`, so a statement costs no copy of them).
    let_names: Rc<Vec<(String, Ty)>>,
    let_weights: Rc<Vec<Weight>>,
    requires: Vec<Named>,
    req_ast: Vec<&'a ast::NamedExpr>,
    amount: Option<Named>,
    tranches: Vec<Tranche>,
    schedule: Option<Schedule>,
    cap: Option<Quantity>,
    total_cap: Option<Quantity>,
    rounding: Option<Rounding>,
    names_seen: HashMap<String, Span>,
    /// Ways of paying written (amount, tranches, schedule), counted as written.
    body_count: usize,
}

/// E0306 when a condition, let or tranche name repeats within the clause.
fn name_dup(names_seen: &mut HashMap<String, Span>, c: &mut Checker, id: &Ident) {
    if names_seen.contains_key(&id.name) {
        c.diags.push(err(
            "E0306",
            id.span,
            format!("条款内重复的名称 `{}`", id.name),
            format!("duplicate name `{}` in the clause", id.name),
            "每个条件、局部值、分期的名称在条款内须唯一",
            "names of conditions, lets and tranches must be unique in a clause",
        ));
    }
    names_seen.insert(id.name.clone(), id.span);
}

/// An amount statement as a named expression (the name is the tranche's, or empty).
fn amount_named(name: &str, e: &ast::Expr) -> ast::NamedExpr {
    ast::NamedExpr {
        name: Ident {
            name: name.to_string(),
            span: e.span,
        },
        expr: e.clone(),
        span: e.span,
        reason: None,
    }
}

impl<'a> ClauseParts<'a> {
    fn new(id: ClauseId, policy_window: (Date, Date)) -> ClauseParts<'a> {
        ClauseParts {
            id,
            policy_window,
            reference: None,
            text: None,
            window: policy_window,
            lets: vec![],
            let_names: Rc::default(),
            let_weights: Rc::default(),
            requires: vec![],
            req_ast: vec![],
            amount: None,
            tranches: vec![],
            schedule: None,
            cap: None,
            total_cap: None,
            rounding: None,
            names_seen: HashMap::new(),
            body_count: 0,
        }
    }

    fn stmt(&mut self, c: &mut Checker, st: &'a ast::Stmt) {
        // The lets written so far.
        let let_names = Rc::clone(&self.let_names);
        let let_weights = Rc::clone(&self.let_weights);
        let scope = Scope {
            lets: let_names.iter().map(|(n, t)| (n.as_str(), *t)).collect(),
            let_weights: &let_weights,
            clause: Some(self.id),
            record: None,
        };
        if let StmtKind::Let(ne) = &st.kind {
            let new = self.let_stmt(c, ne, &scope);
            // The scope shares the lets: let it go before adding one, so nothing is copied.
            drop(scope);
            drop((let_names, let_weights));
            if let Some((named, ty, w)) = new {
                Rc::make_mut(&mut self.let_names).push((named.name.clone(), ty));
                Rc::make_mut(&mut self.let_weights).push(w);
                self.lets.push(named);
            }
            return;
        }
        match &st.kind {
            StmtKind::Ref(s) => self.reference = Some(s.clone()),
            StmtKind::Text(s) => self.text = Some(s.clone()),
            StmtKind::Effective(w) => self.effective(c, w),
            StmtKind::Let(_) => {}
            StmtKind::Require(ne) => {
                name_dup(&mut self.names_seen, c, &ne.name);
                if let Some(n) = c.named(
                    ne,
                    &scope,
                    Ty::Bool,
                    "条件（是/否）",
                    "a condition (bool)",
                    "require 后写一个条件，例如 营业收入 >= 100亿",
                    "require takes a condition, e.g. revenue >= 100亿",
                ) {
                    self.requires.push(n);
                    self.req_ast.push(ne);
                }
            }
            StmtKind::Amount(e) => {
                self.body_count += 1;
                if let Some(n) = c.named(
                    &amount_named("", e),
                    &scope,
                    Ty::Money,
                    "金额",
                    "money",
                    "amount 须为金额，例如 100万 或 10% * 研发费用增量",
                    "amount must be money, e.g. 100万 or 10% * increase",
                ) {
                    self.amount = Some(n);
                }
            }
            StmtKind::Cap(e) => {
                self.cap = c.quantity(e, Figure::Money { positive: false }, "封顶金额", "the cap")
            }
            StmtKind::TotalCap(e) => {
                self.total_cap = c.quantity(
                    e,
                    Figure::Money { positive: false },
                    "累计上限",
                    "the total cap",
                )
            }
            StmtKind::Rounding(r) => match super::items::rounding_of(r, st.span) {
                Ok(r) => self.rounding = Some(r),
                Err(d) => c.diags.push(d),
            },
            StmtKind::Tranche(t) => self.tranche(c, t, &scope),
            StmtKind::Schedule(s) => {
                self.body_count += 1;
                if let Some(s) = schedule(c, s) {
                    self.schedule = Some(s);
                }
            }
        }
    }

    fn effective(&mut self, c: &mut Checker, w: &ast::Window) {
        let (from, to) = self.policy_window;
        if w.to < w.from {
            c.diags.push(window_err(w));
        } else if w.from < from || w.to > to {
            c.diags.push(err(
                "E0316",
                w.span,
                format!("条款有效期超出政策有效期 {from} .. {to}"),
                format!("the clause window lies outside the policy's {from} .. {to}"),
                "条款有效期须在政策有效期之内",
                "a clause window must lie within the policy's",
            ));
        }
        self.window = (w.from, w.to);
    }

    /// A let, its type and its expanded size; None (with a diagnostic) when it does not check.
    fn let_stmt(
        &mut self,
        c: &mut Checker,
        ne: &ast::NamedExpr,
        scope: &Scope,
    ) -> Option<(Named, Ty, Weight)> {
        name_dup(&mut self.names_seen, c, &ne.name);
        let (e, t) = c
            .lower(&ne.expr, scope, None)
            .map_err(|d| c.diags.push(d))
            .ok()?;
        // A let too large expanded is still declared, so its uses are not reported too.
        let mut w = c.weigh(&e, scope);
        if let Err(d) = weight::check_weight(w, ne.expr.span) {
            c.diags.push(d);
            w = w.reported();
        }
        let named = Named {
            name: ne.name.name.clone(),
            expr: e,
            ty: t,
            source: c.text(ne.expr.span),
            origin: c.sm.origin(ne.span),
            reason: ne.reason.clone(),
        };
        Some((named, t, w))
    }

    /// A tranche: its own conditions (checked together with the clause's) and its amount.
    fn tranche(&mut self, c: &mut Checker, t: &'a ast::TrancheAst, scope: &Scope) {
        name_dup(&mut self.names_seen, c, &t.name);
        if self.body_count > 0 && self.tranches.is_empty() {
            self.body_count += 1;
        }
        let mut treqs = vec![];
        let mut tast = vec![];
        let mut tamount = None;
        for s in &t.stmts {
            match &s.kind {
                StmtKind::Require(ne) => {
                    name_dup(&mut self.names_seen, c, &ne.name);
                    if let Some(n) = c.named(
                        ne,
                        scope,
                        Ty::Bool,
                        "条件（是/否）",
                        "a condition (bool)",
                        "require 后写一个条件",
                        "require takes a condition",
                    ) {
                        treqs.push(n);
                        tast.push(ne);
                    }
                }
                StmtKind::Amount(e) => {
                    tamount = c.named(
                        &amount_named(&t.name.name, e),
                        scope,
                        Ty::Money,
                        "金额",
                        "money",
                        "amount 须为金额",
                        "amount must be money",
                    );
                }
                StmtKind::Let(_) => c.diags.push(err(
                    "E0317",
                    s.span,
                    "分期中不能定义 let，请写在条款中",
                    "let is not allowed inside a tranche; put it in the clause",
                    "把 let 移到条款开头",
                    "move the let to the clause",
                )),
                _ => {}
            }
        }
        let pairs: Vec<(&ast::NamedExpr, &Named)> = self
            .req_ast
            .iter()
            .copied()
            .chain(tast.iter().copied())
            .zip(self.requires.iter().chain(treqs.iter()))
            .collect();
        check_requires_reachable(c, &pairs);
        match tamount {
            Some(amount) => self.tranches.push(Tranche {
                name: t.name.name.clone(),
                requires: treqs,
                amount,
            }),
            None if !t
                .stmts
                .iter()
                .any(|s| matches!(s.kind, StmtKind::Amount(_))) =>
            {
                c.diags.push(err(
                    "E0318",
                    t.name.span,
                    format!("分期 `{}` 缺少 amount", t.name.name),
                    format!("tranche `{}` has no amount", t.name.name),
                    "在分期中写 amount 金额",
                    "add amount … to the tranche",
                ))
            }
            None => {}
        }
    }

    /// The whole clause, once every statement is read; None when anything was wrong since `before`.
    fn finish(self, c: &mut Checker, cl: &ast::ClauseAst, before: usize) -> Option<Clause> {
        let reqs: Vec<(&ast::NamedExpr, &Named)> = self
            .req_ast
            .iter()
            .copied()
            .zip(self.requires.iter())
            .collect();
        check_requires_reachable(c, &reqs);
        self.check_complete(c, cl, before);
        if self.total_cap.is_some()
            && self.cap.is_none()
            && self.schedule.is_none()
            && self.amount.is_none()
            && self.tranches.is_empty()
        {
            return None;
        }
        if c.errors() > before {
            return None;
        }
        let body = if let Some(a) = self.amount {
            ClauseBody::Amount(a)
        } else if let Some(s) = self.schedule {
            ClauseBody::Schedule(s)
        } else {
            ClauseBody::Tranches(self.tranches)
        };
        Some(Clause {
            name: cl.name.name.clone(),
            reference: self.reference.unwrap_or_default(),
            text: self.text.unwrap_or_default(),
            window: self.window,
            lets: self.lets,
            requires: self.requires,
            body,
            cap: self.cap,
            total_cap: self.total_cap,
            rounding: self
                .rounding
                .unwrap_or(c.packs[c.pack_of(cl.name.span)].rounding),
            origin: c.sm.origin(cl.name.span),
        })
    }

    /// A reference, the original text, and exactly one way of paying.
    fn check_complete(&self, c: &mut Checker, cl: &ast::ClauseAst, before: usize) {
        let name = &cl.name.name;
        if self.reference.is_none() {
            c.diags.push(err(
                "E0321",
                cl.name.span,
                format!("条款 `{name}` 没有出处"),
                format!("clause `{name}` has no source reference"),
                "写出条/款/项，例如 ref \"第三条第（一）款\"",
                "add the article reference, e.g. ref \"第三条第（一）款\"",
            ));
        }
        if self.text.is_none() {
            c.diags.push(err(
                "E0322",
                cl.name.span,
                format!("条款 `{name}` 没有原文"),
                format!("clause `{name}` has no original text"),
                "用 text \"…\" 写出政策原文",
                "quote the policy text with text \"…\"",
            ));
        }
        let kinds = usize::from(self.amount.is_some())
            + usize::from(!self.tranches.is_empty())
            + usize::from(self.schedule.is_some());
        if kinds > 1 || self.body_count > 1 {
            c.diags.push(err(
                "E0323",
                cl.name.span,
                "条款只能有一种金额写法：amount、tranche 或 schedule",
                "a clause has exactly one of amount, tranches or schedule",
                "把多个金额拆成 tranche，或拆成多个条款",
                "split amounts into tranches or into separate clauses",
            ));
        }
        if kinds == 0 && c.errors() == before {
            c.diags.push(err(
                "E0324",
                cl.name.span,
                format!("条款 `{name}` 没有金额"),
                format!("clause `{name}` has no amount"),
                "写出 amount 金额、tranche 或 schedule",
                "add amount …, tranches or a schedule",
            ));
        }
    }
}

/// A staged schedule over an event fact with stage values; None (with a diagnostic) when the
/// fact or the mode is wrong.
fn schedule(c: &mut Checker, s: &ast::ScheduleAst) -> Option<Schedule> {
    let f = match c.fact_idx.get(&s.fact.name) {
        Some(&f)
            if c.facts[f].kind == PeriodKind::Event && matches!(c.facts[f].ty, Ty::Enum(_)) =>
        {
            f
        }
        _ => {
            c.diags.push(err(
                "E0408",
                s.fact.span,
                format!("`{}` 不是带阶段取值的事件事实", s.fact.name),
                format!("`{}` is not an event fact with stage values", s.fact.name),
                "声明为 fact 名称: event 阶段枚举",
                "declare it as fact Name: event StageEnum",
            ));
            return None;
        }
    };
    let mode = match s.mode.name.as_str() {
        "each" => ScheduleMode::Each,
        "cumulative" => ScheduleMode::Cumulative,
        _ => {
            c.diags.push(err(
                "E0319",
                s.mode.span,
                "分阶段方式须为 each 或 cumulative",
                "the schedule mode must be each or cumulative",
                "each：各阶段分别奖励；cumulative：累计额扣减已奖励",
                "each: every stage pays its own; cumulative: cumulative amounts minus what was paid",
            ));
            return None;
        }
    };
    let mut stages: Vec<(u32, Quantity)> = vec![];
    let mut spans = vec![];
    for (st_id, e, _) in &s.stages {
        let ex = ast::Expr {
            kind: ExprKind::Name(st_id.clone()),
            span: st_id.span,
        };
        let v = match c.variants(f, &ex) {
            Ok(v) => v,
            Err(d) => {
                c.diags.push(d);
                continue;
            }
        };
        // A literal or a money parameter (dated; `--set` may change it).
        let Some(m) = c.quantity(
            e,
            super::Figure::Money { positive: false },
            "阶段金额",
            "a stage amount",
        ) else {
            continue;
        };
        // One name gives one value.
        if let Some(v) = v.first() {
            stages.push((*v, m));
            spans.push(e.span);
        }
    }
    if mode == ScheduleMode::Cumulative {
        cumulative_never_decreases(c, &stages, &spans);
    }
    Some(Schedule {
        fact: f,
        mode,
        stages,
    })
}

/// In cumulative mode each stage's amount is a running total: on every day any of the amounts
/// changes (a parameter's dates), no stage is below the one before.
fn cumulative_never_decreases(c: &mut Checker, stages: &[(u32, Quantity)], spans: &[Span]) {
    let mut days: Vec<Date> = c.packs.iter().map(|p| p.window.0).collect();
    for (_, q) in stages {
        if let Quantity::Param(pi) = q {
            days.extend(c.params[*pi].values.iter().map(|(d, _)| *d));
        }
    }
    days.sort();
    days.dedup();
    let at = |c: &Checker, q: &Quantity, day: Date| -> Decimal {
        match q {
            Quantity::Lit(d) => *d,
            Quantity::Param(pi) => c.params[*pi]
                .values
                .iter()
                .rev()
                .find(|(d, _)| *d <= day)
                .or(c.params[*pi].values.first())
                .and_then(|(_, v)| v.num())
                .unwrap_or_default(),
        }
    };
    for day in days {
        for i in 1..stages.len() {
            if at(c, &stages[i].1, day) < at(c, &stages[i - 1].1, day) {
                let dated = stages[i - 1..=i]
                    .iter()
                    .any(|(_, q)| matches!(q, Quantity::Param(_)));
                let (wz, we) = if dated {
                    (format!("（自 {day} 起）"), format!(" (from {day})"))
                } else {
                    (String::new(), String::new())
                };
                c.diags.push(err(
                    "E0320",
                    spans[i],
                    format!("累计方式下各阶段金额须逐级不减{wz}"),
                    format!("cumulative stage amounts must not decrease{we}"),
                    "cumulative 的金额是累计额：后一阶段不小于前一阶段",
                    "in cumulative mode each amount is a running total",
                ));
                return;
            }
        }
    }
}

/// A simple constraint `subject op constant` on one side of a require, for the unreachable check.
fn simple_bound(e: &Expr) -> Option<(String, BinOp, Decimal)> {
    let Expr::Bin(op, a, b) = e else {
        return None;
    };
    if !op.is_comparison() {
        return None;
    }
    let key = match &**a {
        Expr::Fact(f) => format!("f{f}"),
        Expr::Local(l) => format!("l{l}"),
        _ => return None,
    };
    let v = const_value(b).and_then(|v| v.num())?;
    Some((key, *op, v))
}

/// True when the conjunction of simple bounds on one subject admits no value.
fn contradictory(bounds: &[(BinOp, Decimal)]) -> bool {
    let (mut lo, mut lo_inc, mut hi, mut hi_inc) = (None::<Decimal>, true, None::<Decimal>, true);
    for &(op, v) in bounds {
        match op {
            BinOp::Ge | BinOp::Gt => {
                let inc = op == BinOp::Ge;
                let tighter = match lo {
                    None => true,
                    Some(l) => v > l || (v == l && !inc),
                };
                if tighter {
                    lo = Some(v);
                    lo_inc = inc;
                }
            }
            BinOp::Le | BinOp::Lt => {
                let inc = op == BinOp::Le;
                let tighter = match hi {
                    None => true,
                    Some(h) => v < h || (v == h && !inc),
                };
                if tighter {
                    hi = Some(v);
                    hi_inc = inc;
                }
            }
            BinOp::Eq => {
                lo = Some(lo.map_or(v, |l| l.max(v)));
                hi = Some(hi.map_or(v, |h| h.min(v)));
            }
            _ => {}
        }
    }
    match (lo, hi) {
        (Some(l), Some(h)) => l > h || (l == h && !(lo_inc && hi_inc)),
        _ => false,
    }
}

/// E0601 at the first condition that contradicts the ones before it.
fn check_requires_reachable(c: &mut Checker, reqs: &[(&ast::NamedExpr, &Named)]) {
    let mut by_subject: HashMap<String, Vec<(BinOp, Decimal)>> = HashMap::new();
    for (ast_ne, n) in reqs {
        let Some((k, op, v)) = simple_bound(&n.expr) else {
            continue;
        };
        let entry = by_subject.entry(k).or_default();
        entry.push((op, v));
        if contradictory(entry) {
            c.diags.push(err(
                "E0601",
                ast_ne.span,
                format!("条件 `{}` 与前面的条件互相矛盾：此规则永远不会生效", n.name),
                format!(
                    "condition `{}` contradicts an earlier one: this rule can never apply",
                    n.name
                ),
                "检查阈值的方向和数值（例如 >= 100亿 与 < 50亿 不能同时成立）",
                "check the thresholds (e.g. >= 100亿 and < 50亿 cannot both hold)",
            ));
            return;
        }
    }
}

impl Checker<'_> {
    pub(super) fn check_clause(&mut self, cl: &ast::ClauseAst, id: ClauseId) -> Option<Clause> {
        let before = self.errors();
        let mut parts = ClauseParts::new(id, self.packs[self.pack_of(cl.name.span)].window);
        for st in &cl.stmts {
            parts.stmt(self, st);
        }
        parts.finish(self, cl, before)
    }
}
