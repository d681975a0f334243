//! Cross-clause rules: negative lists, selections, exclusive groups, pools, firm caps and group
//! caps.

use super::items::Declared;
use super::*;
use crate::ast::ItemKind;

/// The cross-clause rules of a pack, in written order per kind.
#[derive(Default)]
pub(super) struct Rules {
    pub(super) excludes: Vec<Exclude>,
    pub(super) selects: Vec<Select>,
    pub(super) exclusives: Vec<Exclusive>,
    pub(super) pools: Vec<Pool>,
    pub(super) firm_caps: Vec<FirmCap>,
    pub(super) group_caps: Vec<GroupCap>,
    pub(super) clawbacks: Vec<Clawback>,
}

impl Rules {
    /// The names an `expect … because X` may give: the built-in reasons, rule names and the
    /// clauses' condition names.
    pub(super) fn reasons(&self, clauses: &[Clause]) -> Vec<String> {
        // The built-in reason names, defined once with the reasons (`huiqi_ir::reason`).
        let mut reasons: Vec<String> = huiqi_ir::reason::BUILTIN_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect();
        reasons.extend(self.excludes.iter().map(|x| x.name.clone()));
        reasons.extend(self.selects.iter().map(|x| x.name.clone()));
        reasons.extend(self.exclusives.iter().map(|x| x.name.clone()));
        reasons.extend(self.pools.iter().map(|x| x.name.clone()));
        reasons.extend(self.firm_caps.iter().map(|x| x.name.clone()));
        reasons.extend(self.group_caps.iter().map(|x| x.name.clone()));
        for cl in clauses {
            reasons.extend(cl.requires.iter().map(|r| r.name.clone()));
            if let ClauseBody::Tranches(ts) = &cl.body {
                for t in ts {
                    reasons.extend(t.requires.iter().map(|r| r.name.clone()));
                }
            }
        }
        reasons
    }
}

fn order(desc: bool) -> Order {
    if desc {
        Order::Desc
    } else {
        Order::Asc
    }
}

impl Checker<'_> {
    pub(super) fn rules(&mut self, items: &[&ast::Item], declared: &mut Declared) -> Rules {
        let mut rules = Rules::default();
        for it in items {
            let name = match &it.kind {
                ItemKind::Exclude { name, .. }
                | ItemKind::Select { name, .. }
                | ItemKind::Exclusive { name, .. }
                | ItemKind::Pool { name, .. }
                | ItemKind::FirmCap { name, .. }
                | ItemKind::GroupCap { name, .. }
                | ItemKind::Clawback { name, .. } => name,
                _ => continue,
            };
            if declared.dup(self, name, "规则", "rule") {
                continue;
            }
            match &it.kind {
                ItemKind::Exclude {
                    name,
                    cond,
                    only,
                    reason,
                } => {
                    if let Some(x) =
                        self.exclude(it, name, cond, only.as_deref(), reason.as_deref())
                    {
                        rules.excludes.push(x);
                    }
                }
                ItemKind::Select {
                    name,
                    fields,
                    close,
                } => {
                    if let Some(x) = self.select(name, fields, *close) {
                        rules.selects.push(x);
                    }
                }
                ItemKind::Exclusive { name, clauses } => {
                    if let Some(x) = self.exclusive(name, clauses) {
                        rules.exclusives.push(x);
                    }
                }
                ItemKind::Pool {
                    name,
                    fields,
                    close,
                } => {
                    if let Some(x) = self.pool(name, fields, *close) {
                        rules.pools.push(x);
                    }
                }
                ItemKind::FirmCap {
                    name,
                    limit,
                    over,
                    priority,
                } => {
                    if let Some(x) = self.firm_cap(name, limit, *over, priority) {
                        rules.firm_caps.push(x);
                    }
                }
                ItemKind::GroupCap {
                    name,
                    fields,
                    close,
                } => {
                    if let Some(x) = self.group_cap(name, fields, *close) {
                        rules.group_caps.push(x);
                    }
                }
                ItemKind::Clawback {
                    name,
                    fields,
                    close,
                } => {
                    if let Some(x) = self.clawback(name, fields, *close) {
                        rules.clawbacks.push(x);
                    }
                }
                _ => {}
            }
        }
        rules
    }

    /// Clause names to ids; None (with a diagnostic) on an unknown or repeated name.
    fn clause_list(&mut self, ids: &[Ident]) -> Option<Vec<ClauseId>> {
        let mut out = vec![];
        for id in ids {
            let Some(&x) = self.clause_idx.get(&*self.key(id.span, &id.name)) else {
                let d = self
                    .unknown_clause(id, ("条款须用 clause 声明", "declare clauses with clause"));
                self.diags.push(d);
                return None;
            };
            if out.contains(&x) {
                self.diags.push(err(
                    "E0311",
                    id.span,
                    format!("条款 `{}` 重复列出", id.name),
                    format!("clause `{}` is listed twice", id.name),
                    "每个条款只列一次",
                    "list each clause once",
                ));
                return None;
            }
            out.push(x);
        }
        Some(out)
    }

    /// A ranking score: numeric.
    fn lower_score(&mut self, name: &str, e: &ast::Expr) -> Option<Named> {
        match self.lower(e, &Scope::default(), None) {
            Ok((x, t)) if t.is_numeric() => {
                if let Err(d) = self.check_expanded(&x, &Scope::default(), e.span) {
                    self.diags.push(d);
                    return None;
                }
                Some(Named {
                    name: name.to_string(),
                    expr: x,
                    ty: t,
                    source: self.text(e.span),
                    origin: self.sm.origin(e.span),
                    reason: None,
                })
            }
            Ok((_, t)) => {
                let d = self.type_mismatch(
                    e.span,
                    "数值",
                    "a number",
                    t,
                    "排名依据须为数值",
                    "a ranking score must be numeric",
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

    fn exclude(
        &mut self,
        it: &ast::Item,
        name: &Ident,
        cond: &ast::Expr,
        only: Option<&[Ident]>,
        reason: Option<&str>,
    ) -> Option<Exclude> {
        let ne = ast::NamedExpr {
            name: name.clone(),
            expr: cond.clone(),
            span: it.span,
            reason: reason.map(str::to_string),
        };
        let cond = self.named(
            &ne,
            &Scope::default(),
            Ty::Bool,
            "条件",
            "a condition",
            "负面清单写作 exclude 名称: 条件",
            "write exclude Name: condition",
        );
        let clauses = match only {
            Some(ids) => Some(self.clause_list(ids)?),
            // Packs taken together: a negative list covers its own pack's clauses.
            None if self.packs.len() > 1 => Some(self.own_clauses(name.span)),
            None => None,
        };
        Some(Exclude {
            name: name.name.clone(),
            cond: cond?,
            clauses,
        })
    }

    fn select(
        &mut self,
        name: &Ident,
        fields: &[(ast::SelectField, Span)],
        close: Span,
    ) -> Option<Select> {
        let (mut clause, mut score, mut top, mut tie) = (None, None, None, vec![]);
        for (f, _) in fields {
            match f {
                ast::SelectField::Clause(id) => {
                    clause = self
                        .clause_list(std::slice::from_ref(id))
                        .and_then(|v| v.first().copied())
                }
                ast::SelectField::Score(e) => score = self.lower_score(&name.name, e),
                ast::SelectField::Top(e) => top = self.quantity(e, Figure::Whole, "名额", "top"),
                ast::SelectField::Tie(keys) => {
                    for k in keys {
                        if let Some(n) = self.lower_score("tie", &k.expr) {
                            tie.push((n, order(k.desc)));
                        }
                    }
                }
            }
        }
        if let (Some(clause), Some(score), Some(top)) = (clause, score, top) {
            return Some(Select {
                name: name.name.clone(),
                clause,
                score,
                top,
                tie,
            });
        }
        // Report the first field missing altogether (a field given but wrong is reported already).
        let has = |k: fn(&ast::SelectField) -> bool| fields.iter().any(|(f, _)| k(f));
        let missing = if !has(|f| matches!(f, ast::SelectField::Clause(_))) {
            "clause"
        } else if !has(|f| matches!(f, ast::SelectField::Score(_))) {
            "score"
        } else if !has(|f| matches!(f, ast::SelectField::Top(_))) {
            "top"
        } else {
            return None;
        };
        self.diags.push(err(
            "E0312",
            close,
            format!("select 缺少 {missing}"),
            format!("select lacks {missing}"),
            "select 须有 clause、score、top",
            "a select needs clause, score and top",
        ));
        None
    }

    fn exclusive(&mut self, name: &Ident, ids: &[Ident]) -> Option<Exclusive> {
        if ids.len() < 2 {
            self.diags.push(err(
                "E0313",
                name.span,
                "就高不重复组至少要有两个条款",
                "an exclusive group needs at least two clauses",
                "列出互斥的条款，例如 [条款甲, 条款乙]",
                "list the clauses that exclude each other",
            ));
            return None;
        }
        Some(Exclusive {
            name: name.name.clone(),
            clauses: self.clause_list(ids)?,
        })
    }

    fn pool(
        &mut self,
        name: &Ident,
        fields: &[(ast::PoolField, Span)],
        close: Span,
    ) -> Option<Pool> {
        let (mut cls, mut budget, mut method) = (None, None, PoolMethod::ProRata);
        for (f, _) in fields {
            match f {
                ast::PoolField::Clauses(ids) => cls = self.clause_list(ids),
                ast::PoolField::Budget(e) => budget = self.pool_budget(e),
                ast::PoolField::ProRata => method = PoolMethod::ProRata,
                ast::PoolField::ByScore(k) => {
                    if let Some(n) = self.lower_score("score", &k.expr) {
                        method = PoolMethod::ByScore(n, order(k.desc));
                    }
                }
            }
        }
        let has = |k: fn(&ast::PoolField) -> bool| fields.iter().any(|(f, _)| k(f));
        let (what, hint_zh, hint_en) = match (cls, budget) {
            (Some(clauses), Some(budget)) if !clauses.is_empty() => {
                return Some(Pool {
                    name: name.name.clone(),
                    clauses,
                    budget,
                    method,
                })
            }
            (None, _) if !has(|f| matches!(f, ast::PoolField::Clauses(_))) => (
                "clauses",
                "写出资金池覆盖的条款：clauses [..]",
                "list the pool's clauses: clauses [..]",
            ),
            (_, None) if !has(|f| matches!(f, ast::PoolField::Budget(_))) => (
                "budget",
                "写出预算：budget 3000万",
                "give the budget: budget 3000万",
            ),
            _ => return None,
        };
        self.diags.push(err(
            "E0312",
            close,
            format!("pool 缺少 {what}"),
            format!("pool lacks {what}"),
            hint_zh,
            hint_en,
        ));
        None
    }

    /// A pool's budget: positive money.
    fn pool_budget(&mut self, e: &ast::Expr) -> Option<Quantity> {
        let budget = self.quantity(
            e,
            Figure::Money { positive: true },
            "资金池预算",
            "the pool budget",
        )?;
        if budget.literal().is_some_and(|b| b <= Decimal::ZERO) {
            self.diags.push(err(
                "E0314",
                e.span,
                "资金池预算须大于 0",
                "the pool budget must be positive",
                "写出预算金额，例如 budget 3000万",
                "give the budget, e.g. budget 3000万",
            ));
            return None;
        }
        Some(budget)
    }

    /// A group cap: `by` a text fact, a positive `limit`, the `clauses` it covers (default
    /// every clause, in declaration order) and the `order` members are served in.
    fn group_cap(
        &mut self,
        name: &Ident,
        fields: &[(ast::GroupCapField, Span)],
        close: Span,
    ) -> Option<GroupCap> {
        use ast::GroupCapField as F;
        let (mut by, mut limit, mut clauses, mut order) = (None, None, None, None);
        let mut ok = true;
        for (f, _) in fields {
            match f {
                F::By(id) => match self.fact_idx.get(&id.name).copied() {
                    Some(fid) if self.facts[fid].ty == Ty::Text => by = Some(fid),
                    _ => {
                        ok = false;
                        self.diags.push(err(
                            "E0334",
                            id.span,
                            format!("`{}` 不是文本事实，不能用来划分集团", id.name),
                            format!("`{}` is not a text fact; it cannot name a group", id.name),
                            "声明一个文本事实，例如 fact 实际控制人: text per year { … }，再写 by 实际控制人",
                            "declare a text fact, e.g. fact 实际控制人: text per year { … }, then by 实际控制人",
                        ));
                    }
                },
                F::Limit(e) => {
                    limit = self.quantity(
                        e,
                        Figure::Money { positive: true },
                        "集团上限",
                        "the group cap",
                    );
                    if limit
                        .as_ref()
                        .and_then(Quantity::literal)
                        .is_some_and(|l| l <= Decimal::ZERO)
                    {
                        self.diags.push(err(
                            "E0314",
                            e.span,
                            "集团上限须大于 0",
                            "the group cap must be positive",
                            "例如 limit 2000万",
                            "e.g. limit 2000万",
                        ));
                        limit = None;
                    }
                    ok &= limit.is_some();
                }
                F::Clauses(ids) => {
                    clauses = self.clause_list(ids);
                    ok &= clauses.is_some();
                }
                F::OrderAmount(_, desc) => order = Some(GroupOrder::Amount(self::order(*desc))),
                F::OrderKey(k) => match self.group_key(&k.expr) {
                    Some(n) => order = Some(GroupOrder::Key(n, self::order(k.desc))),
                    None => ok = false,
                },
            }
        }
        if !ok {
            return None;
        }
        let missing = match (by, limit, order) {
            (Some(by), Some(limit), Some(order)) => {
                return Some(GroupCap {
                    name: name.name.clone(),
                    by,
                    limit,
                    clauses: clauses.unwrap_or_else(|| self.own_clauses(name.span)),
                    order,
                })
            }
            (None, _, _) => "by",
            (_, None, _) => "limit",
            _ => "order",
        };
        self.diags.push(err(
            "E0312",
            close,
            format!("group cap 缺少 {missing}"),
            format!("group cap lacks {missing}"),
            "group cap 须有 by（文本事实）、limit（金额）、order（amount desc 或一个日期、数值）",
            "a group cap needs by (a text fact), limit (an amount) and order (amount desc, or a date or number)",
        ));
        None
    }

    /// A clawback: the event that triggers it, the years it reaches back, the share and the
    /// clauses (default every clause), with the text it encodes.
    fn clawback(
        &mut self,
        name: &Ident,
        fields: &[(ast::ClawbackField, Span)],
        close: Span,
    ) -> Option<Clawback> {
        use ast::ClawbackField as F;
        let (mut reference, mut text, mut trigger, mut years, mut share, mut clauses) =
            (None, None, None, None, None, None);
        let mut ok = true;
        for (f, _) in fields {
            match f {
                F::Ref(t) => reference = Some(t.clone()),
                F::Text(t) => text = Some(t.clone()),
                F::When(id) => match self.fact_idx.get(&id.name).copied() {
                    Some(fid) if self.facts[fid].kind == PeriodKind::Event => trigger = Some(fid),
                    _ => {
                        ok = false;
                        self.diags.push(err(
                            "E0335",
                            id.span,
                            format!("`{}` 不是事件事实，不能触发追回", id.name),
                            format!("`{}` is not an event fact; it cannot trigger a clawback", id.name),
                            "声明一个事件事实，例如 fact 迁出本区: event { … }：本年度内有一条记录即触发",
                            "declare an event fact, e.g. fact 迁出本区: event { … }: a record dated in the period triggers it",
                        ));
                    }
                },
                F::Window(y, span) => match u32::try_from(y.normalize().mantissa()) {
                    Ok(n) if y.fract().is_zero() && (1..=MAX_CAP_YEARS).contains(&n) => {
                        years = Some(n)
                    }
                    _ => {
                        ok = false;
                        let top = MAX_CAP_YEARS;
                        self.diags.push(err(
                            "E0336",
                            *span,
                            format!("追回的年限须为 1 到 {top} 的整数年，这里是 {y}年"),
                            format!("a clawback reaches back a whole number of years from 1 to {top}, not {y}"),
                            "例如 window 5年：此前五个年度获得的奖励",
                            "e.g. window 5年: the awards of the five periods before",
                        ));
                    }
                },
                F::ShareRemaining(_) => share = Some(Share::Remaining),
                F::Share(e) => match self.lower(e, &Scope::default(), Some(Ty::Ratio)) {
                    Ok((x, Ty::Ratio)) => match const_value(&x) {
                        Some(Value::Ratio(r))
                            if r > Decimal::ZERO
                                && r <= Decimal::ONE
                                && r.normalize().scale() <= MAX_SHARE_PLACES =>
                        {
                            share = Some(Share::Ratio(r))
                        }
                        _ => {
                            ok = false;
                            self.diags.push(err(
                                "E0337",
                                e.span,
                                "追回比例须是大于 0、不超过 100% 的常数（至多 4 位百分比小数）",
                                "a clawback's share is a constant above 0 and at most 100% (at most 4 decimals of a percent)",
                                "例如 share 100%，或 share remaining（按剩余年限比例）",
                                "e.g. share 100%, or share remaining (by the years left)",
                            ));
                        }
                    },
                    Ok(_) => {
                        ok = false;
                        self.diags.push(err(
                            "E0337",
                            e.span,
                            "追回比例须是比例（如 100%）或 remaining",
                            "a clawback's share is a ratio (e.g. 100%) or remaining",
                            "例如 share 100%，或 share remaining（按剩余年限比例）",
                            "e.g. share 100%, or share remaining (by the years left)",
                        ));
                    }
                    Err(d) => {
                        ok = false;
                        self.diags.push(d);
                    }
                },
                F::Clauses(ids) => {
                    clauses = self.clause_list(ids);
                    ok &= clauses.is_some();
                }
            }
        }
        if !ok {
            return None;
        }
        let missing = match (reference, text, trigger, years, share) {
            (Some(reference), Some(text), Some(trigger), Some(years), Some(share)) => {
                let mut clauses = clauses.unwrap_or_else(|| self.own_clauses(name.span));
                // Declaration order: the order rows and explanations list them in.
                clauses.sort_unstable();
                return Some(Clawback {
                    name: name.name.clone(),
                    reference,
                    text,
                    trigger,
                    years,
                    share,
                    clauses,
                });
            }
            (None, ..) => "ref",
            (_, None, ..) => "text",
            (_, _, None, ..) => "when",
            (_, _, _, None, _) => "window",
            _ => "share",
        };
        self.diags.push(err(
            "E0312",
            close,
            format!("clawback 缺少 {missing}"),
            format!("clawback lacks {missing}"),
            "clawback 须有 ref、text（所依据的条文）、when（事件事实）、window（年数）、share（remaining 或比例）",
            "a clawback needs ref, text (the measure it encodes), when (an event fact), window (years) and share (remaining or a ratio)",
        ));
        None
    }

    /// A group cap's serving order: a number, or a date (as days since 1900-01-01, so that it
    /// ranks like a number: first come, first served is `order date_of(…)`, ascending).
    fn group_key(&mut self, e: &ast::Expr) -> Option<Named> {
        match self.lower(e, &Scope::default(), None) {
            Ok((x, Ty::Date)) => {
                if let Err(d) = self.check_expanded(&x, &Scope::default(), e.span) {
                    self.diags.push(d);
                    return None;
                }
                let origin = huiqi_ir::date::Date::year_start(1900);
                Some(Named {
                    name: "order".into(),
                    expr: Expr::DaysBetween(Box::new(Expr::Lit(Value::Date(origin))), Box::new(x)),
                    ty: Ty::Count,
                    source: self.text(e.span),
                    origin: self.sm.origin(e.span),
                    reason: None,
                })
            }
            Ok(_) => self.lower_score("order", e),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    /// A firm cap; clauses it does not list come after the listed ones, in declaration order.
    fn firm_cap(
        &mut self,
        name: &Ident,
        limit: &ast::Expr,
        over: Option<(Decimal, Span)>,
        priority: &[Ident],
    ) -> Option<FirmCap> {
        let years = match over {
            None => 1,
            Some((y, span)) => match u32::try_from(y.normalize().mantissa()) {
                Ok(n) if y.fract().is_zero() && (1..=MAX_CAP_YEARS).contains(&n) => n,
                _ => {
                    let top = MAX_CAP_YEARS;
                    self.diags.push(err(
                        "E0332",
                        span,
                        format!("多年累计上限的年数须为 1 到 {top} 的整数年，这里是 {y}年"),
                        format!("a cap over several years spans a whole number of years from 1 to {top}, not {y}"),
                        "例如 firm cap 三年累计上限 1500万 over 3年：本年与此前两年已获奖励合计不超过1500万",
                        "e.g. firm cap Name 1500万 over 3年: this year's awards and the two years' before, together",
                    ));
                    return None;
                }
            },
        };
        let lim = self.quantity(
            limit,
            Figure::Money { positive: true },
            "单企业上限",
            "the firm cap",
        );
        if lim
            .as_ref()
            .and_then(Quantity::literal)
            .is_some_and(|l| l <= Decimal::ZERO)
        {
            self.diags.push(err(
                "E0314",
                limit.span,
                "单企业上限须大于 0",
                "the firm cap must be positive",
                "例如 firm cap 单企业年度上限 1000万",
                "e.g. firm cap Name 1000万",
            ));
            return None;
        }
        let mut order = self.clause_list(priority)?;
        let lim = lim?;
        for i in self.own_clauses(name.span) {
            if !order.contains(&i) {
                order.push(i);
            }
        }
        Some(FirmCap {
            name: name.name.clone(),
            limit: lim,
            years,
            priority: order,
        })
    }
}
