//! Items: the policy header, declarations, clauses, cross-clause rules and tests.

use super::*;

/// Checks a parsed pack. Returns the program and its warnings, or every error found.
pub fn check(files: &[ast::File], sm: &SourceMap) -> Result<(Program, Vec<Diag>), Vec<Diag>> {
    let mut c = Checker {
        sm,
        diags: vec![],
        enums: vec![],
        enum_idx: HashMap::new(),
        facts: vec![],
        fact_idx: HashMap::new(),
        params: vec![],
        param_idx: HashMap::new(),
        tables: vec![],
        table_idx: HashMap::new(),
        clause_idx: HashMap::new(),
        failed: Default::default(),
    };
    let items: Vec<&ast::Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut dup = |c: &mut Checker, id: &Ident, what_zh: &str, what_en: &str| -> bool {
        if let Some(prev) = seen.get(&id.name) {
            let (l, col) = sm.line_col(*prev);
            c.diags.push(err(
                "E0306",
                id.span,
                format!("重复定义的{what_zh} `{}`", id.name),
                format!("duplicate {what_en} `{}`", id.name),
                format!(
                    "`{}` 已在 {}:{l}:{col} 定义；请换一个名称",
                    id.name,
                    sm.path(*prev)
                ),
                format!(
                    "`{}` is already defined at {}:{l}:{col}; choose another name",
                    id.name,
                    sm.path(*prev)
                ),
            ));
            return true;
        }
        seen.insert(id.name.clone(), id.span);
        false
    };

    // 1. Header.
    let mut header: Option<PolicyHeader> = None;
    for it in &items {
        if let ItemKind::Policy(p) = &it.kind {
            if header.is_some() {
                c.diags.push(err(
                    "E0307",
                    it.keyword,
                    "一个政策包只能有一个 policy 声明",
                    "a pack has exactly one policy header",
                    "把其他政策放到单独的目录中",
                    "put other policies in their own directory",
                ));
                continue;
            }
            let mut h = PolicyHeader {
                name: p.name.name.clone(),
                title: String::new(),
                issuer: String::new(),
                version: String::new(),
                window: (Date::year_start(1900), Date::year_end(9999)),
                rounding: RoundUnit::Fen,
            };
            let mut have_window = false;
            for (f, span) in &p.fields {
                match f {
                    HeaderField::Text { key, value } => match key.name.as_str() {
                        "title" => h.title = value.clone(),
                        "issuer" => h.issuer = value.clone(),
                        _ => h.version = value.clone(),
                    },
                    HeaderField::Effective(w) => {
                        if w.to < w.from {
                            c.diags.push(window_err(w));
                        }
                        h.window = (w.from, w.to);
                        have_window = true;
                    }
                    HeaderField::Rounding(id) => match RoundUnit::from_name(&id.name) {
                        Some(u) => h.rounding = u,
                        None => c.diags.push(err(
                            "E0413",
                            *span,
                            "取整单位须为 分、元 或 万元",
                            "rounding must be 分, 元 or 万元",
                            "例如 rounding 分",
                            "e.g. rounding 分",
                        )),
                    },
                }
            }
            for (field, zh, en) in [
                (&h.issuer, "issuer（发文单位）", "issuer"),
                (&h.version, "version（版本）", "version"),
            ] {
                if field.is_empty() {
                    c.diags.push(err(
                        "E0308",
                        p.name.span,
                        format!("政策头缺少 {zh}"),
                        format!("the policy header lacks {en}"),
                        format!("在 policy {{ }} 中加上 {en} \"…\""),
                        format!("add {en} \"…\" to the policy header"),
                    ));
                }
            }
            if !have_window {
                c.diags.push(err(
                    "E0308",
                    p.name.span,
                    "政策头缺少 effective（有效期）",
                    "the policy header lacks effective",
                    "例如 effective 2022-01-01 .. 2024-12-31",
                    "e.g. effective 2022-01-01 .. 2024-12-31",
                ));
            }
            header = Some(h);
        }
    }
    let Some(header) = header else {
        let span = files
            .first()
            .map(|f| Span {
                file: f.file,
                start: 0,
                end: 0,
            })
            .unwrap_or_default();
        c.diags.push(err(
            "E0309",
            span,
            "政策包缺少 policy 声明",
            "the pack has no policy header",
            "在某个文件开头写 policy 名称 { title \"…\" issuer \"…\" version \"…\" effective … }",
            "add policy Name { title \"…\" issuer \"…\" version \"…\" effective … } to one file",
        ));
        return Err(c.diags);
    };

    // 2. Enums, facts, params, clause names (so order of items does not matter).
    for it in &items {
        if let ItemKind::Enum { name, variants } = &it.kind {
            if dup(&mut c, name, "枚举", "enum") {
                continue;
            }
            let mut vs: Vec<String> = vec![];
            for v in variants {
                if vs.contains(&v.name) {
                    c.diags.push(err(
                        "E0306",
                        v.span,
                        format!("重复的枚举值 `{}`", v.name),
                        format!("duplicate variant `{}`", v.name),
                        "删除重复项",
                        "remove the duplicate",
                    ));
                }
                vs.push(v.name.clone());
            }
            c.enum_idx.insert(name.name.clone(), c.enums.len());
            c.enums.push(EnumDef {
                name: name.name.clone(),
                variants: vs,
            });
        }
    }
    for it in &items {
        if let ItemKind::Fact(f) = &it.kind {
            if dup(&mut c, &f.name, "事实", "fact") {
                continue;
            }
            let kind = match f.kind.as_str() {
                "static" => PeriodKind::Static,
                "year" => PeriodKind::Year,
                "month" => PeriodKind::Month,
                _ => PeriodKind::Event,
            };
            let ty = match (&f.ty, kind) {
                (None, _) => Ty::Bool,
                (Some(t), PeriodKind::Event) => match c.enum_idx.get(&t.name) {
                    Some(&e) => Ty::Enum(e),
                    None => {
                        c.diags.push(err(
                            "E0301",
                            t.span,
                            format!("未知的枚举 `{}`", t.name),
                            format!("unknown enum `{}`", t.name),
                            "事件的取值须是已声明的 enum",
                            "event values must be a declared enum",
                        ));
                        Ty::Bool
                    }
                },
                (Some(t), _) => match c.parse_ty(t) {
                    Ok(t) => t,
                    Err(d) => {
                        c.diags.push(d);
                        c.failed.insert(f.name.name.clone());
                        continue;
                    }
                },
            };
            let get = |k: &str| {
                f.fields
                    .iter()
                    .find(|(key, _, _)| key.name == k)
                    .map(|(_, v, _)| v.clone())
            };
            let source = get("source").unwrap_or_default();
            if source.is_empty() {
                c.diags.push(err(
                    "E0310",
                    f.name.span,
                    format!("事实 `{}` 缺少数据来源", f.name.name),
                    format!("fact `{}` has no source system", f.name.name),
                    "写出数据来源系统，例如 { label \"营业收入\" source \"税务\" }",
                    "name the source system, e.g. { label \"Revenue\" source \"tax\" }",
                ));
            }
            c.fact_idx.insert(f.name.name.clone(), c.facts.len());
            c.facts.push(Fact {
                name: f.name.name.clone(),
                ty,
                kind,
                label: get("label").unwrap_or_else(|| f.name.name.clone()),
                source,
                origin: sm.origin(f.name.span),
            });
        }
    }
    for it in &items {
        if let ItemKind::Param(p) = &it.kind {
            if dup(&mut c, &p.name, "参数", "parameter") {
                continue;
            }
            let ty = match c.parse_ty(&p.ty) {
                Ok(t) => t,
                Err(d) => {
                    c.diags.push(d);
                    continue;
                }
            };
            let mut values = vec![];
            for (d, e, _) in &p.values {
                match c.lower(e, &Scope::default(), Some(ty)) {
                    Ok((x, t)) if t == ty => match const_value(&x) {
                        Some(v) => values.push((*d, v)),
                        None => c.diags.push(err(
                            "E0414",
                            e.span,
                            "参数值须为常量",
                            "parameter values must be constants",
                            "例如 5万",
                            "e.g. 5万",
                        )),
                    },
                    Ok((_, t)) => {
                        let d = c.type_mismatch(
                            e.span,
                            &ty_name(Some(&c.enums), ty),
                            &ty_name(Some(&c.enums), ty),
                            t,
                            "参数值须与声明的类型一致",
                            "values must have the declared type",
                        );
                        c.diags.push(d)
                    }
                    Err(d) => c.diags.push(d),
                }
            }
            values.sort_by_key(|(d, _)| *d);
            if values.windows(2).any(|w| w[0].0 == w[1].0) {
                c.diags.push(err(
                    "E0306",
                    p.name.span,
                    "同一生效日期有两个参数值",
                    "two values take effect on the same date",
                    "每个生效日期只写一个值",
                    "one value per date",
                ));
            }
            c.param_idx.insert(p.name.name.clone(), c.params.len());
            c.params.push(Param {
                name: p.name.name.clone(),
                ty,
                values,
            });
        }
    }
    let clause_asts: Vec<&ast::ClauseAst> = items
        .iter()
        .filter_map(|it| {
            if let ItemKind::Clause(cl) = &it.kind {
                Some(cl)
            } else {
                None
            }
        })
        .collect();
    for cl in &clause_asts {
        if !dup(&mut c, &cl.name, "条款", "clause") {
            c.clause_idx
                .insert(cl.name.name.clone(), c.clause_idx.len());
        }
    }
    // Tables (before clauses: clauses call them).
    for it in &items {
        if let ItemKind::Table(t) = &it.kind {
            if dup(&mut c, &t.name, "档位表", "table") {
                continue;
            }
            let want = match c.parse_ty(&t.ty) {
                Ok(t) => t,
                Err(d) => {
                    c.diags.push(d);
                    c.failed.insert(t.name.name.clone());
                    continue;
                }
            };
            match c.lower_table(
                t.name.name.clone(),
                &t.arms,
                &Scope::default(),
                t.name.span,
                Some(want),
            ) {
                Ok(id) => {
                    if c.tables[id].output != want {
                        let got = c.tables[id].output;
                        let d = c.type_mismatch(
                            t.ty.span,
                            &ty_name(Some(&c.enums), got),
                            &ty_name(Some(&c.enums), got),
                            want,
                            "表的类型须与各档的值一致",
                            "the table's type must match its values",
                        );
                        c.diags.push(d);
                    }
                }
                Err(d) => {
                    c.diags.push(d);
                    c.failed.insert(t.name.name.clone());
                }
            }
        }
    }

    // 3. Clauses.
    let mut clauses = vec![];
    for cl in &clause_asts {
        if let Some(x) = check_clause(&mut c, cl, &header, clauses.len()) {
            clauses.push(x);
        }
    }
    let all_ok = clauses.len() == clause_asts.len();

    // 4. Cross-clause rules.
    let mut excludes = vec![];
    let mut selects = vec![];
    let mut exclusives = vec![];
    let mut pools = vec![];
    let mut firm_caps = vec![];
    let clause_list = |c: &mut Checker, ids: &[Ident]| -> Option<Vec<ClauseId>> {
        let mut out = vec![];
        for id in ids {
            match c.clause_idx.get(&id.name) {
                Some(&x) => {
                    if out.contains(&x) {
                        c.diags.push(err(
                            "E0311",
                            id.span,
                            format!("条款 `{}` 重复列出", id.name),
                            format!("clause `{}` is listed twice", id.name),
                            "每个条款只列一次",
                            "list each clause once",
                        ));
                        return None;
                    }
                    out.push(x)
                }
                None => {
                    let names: Vec<&str> = c.clause_idx.keys().map(|s| s.as_str()).collect();
                    let g = closest(&id.name, &names).map(|s| s.to_string());
                    c.diags.push(err(
                        "E0304",
                        id.span,
                        format!("未知的条款 `{}`", id.name),
                        format!("unknown clause `{}`", id.name),
                        g.as_ref()
                            .map(|g| format!("是否想写 `{g}`？"))
                            .unwrap_or("条款须用 clause 声明".into()),
                        g.map(|g| format!("did you mean `{g}`?"))
                            .unwrap_or("declare clauses with clause".into()),
                    ));
                    return None;
                }
            }
        }
        Some(out)
    };
    for it in &items {
        match &it.kind {
            ItemKind::Exclude { name, cond, only } => {
                if dup(&mut c, name, "规则", "rule") {
                    continue;
                }
                let ne = ast::NamedExpr {
                    name: name.clone(),
                    expr: cond.clone(),
                    span: it.span,
                };
                let cond = c.named(
                    &ne,
                    &Scope::default(),
                    Ty::Bool,
                    "条件",
                    "a condition",
                    "负面清单写作 exclude 名称: 条件",
                    "write exclude Name: condition",
                );
                let clauses = match only {
                    Some(ids) => clause_list(&mut c, ids).map(Some),
                    None => Some(None),
                };
                if let (Some(cond), Some(clauses)) = (cond, clauses) {
                    excludes.push(Exclude {
                        name: name.name.clone(),
                        cond,
                        clauses,
                    });
                }
            }
            ItemKind::Select {
                name,
                fields,
                close,
            } => {
                if dup(&mut c, name, "规则", "rule") {
                    continue;
                }
                let (mut clause, mut score, mut top, mut tie) = (None, None, None, vec![]);
                for (f, _) in fields {
                    match f {
                        ast::SelectField::Clause(id) => {
                            clause = clause_list(&mut c, std::slice::from_ref(id)).map(|v| v[0])
                        }
                        ast::SelectField::Score(e) => {
                            score = lower_score(&mut c, &name.name, e);
                        }
                        ast::SelectField::Top(e) => {
                            top = c
                                .const_int(e, 1, "名额", "top")
                                .map_err(|d| c.diags.push(d))
                                .ok()
                        }
                        ast::SelectField::Tie(keys) => {
                            for k in keys {
                                if let Some(n) = lower_score(&mut c, "tie", &k.expr) {
                                    tie.push((n, if k.desc { Order::Desc } else { Order::Asc }));
                                }
                            }
                        }
                    }
                }
                let missing = |c: &mut Checker, what: &str| {
                    c.diags.push(err(
                        "E0312",
                        *close,
                        format!("select 缺少 {what}"),
                        format!("select lacks {what}"),
                        "select 须有 clause、score、top",
                        "a select needs clause, score and top",
                    ))
                };
                let has = |k: fn(&ast::SelectField) -> bool| fields.iter().any(|(f, _)| k(f));
                if let (Some(clause), Some(score), Some(top)) = (clause, score, top) {
                    selects.push(Select {
                        name: name.name.clone(),
                        clause,
                        score,
                        top,
                        tie,
                    });
                } else if !has(|f| matches!(f, ast::SelectField::Clause(_))) {
                    missing(&mut c, "clause");
                } else if !has(|f| matches!(f, ast::SelectField::Score(_))) {
                    missing(&mut c, "score");
                } else if !has(|f| matches!(f, ast::SelectField::Top(_))) {
                    missing(&mut c, "top");
                }
            }
            ItemKind::Exclusive { name, clauses: ids } => {
                if dup(&mut c, name, "规则", "rule") {
                    continue;
                }
                if ids.len() < 2 {
                    c.diags.push(err(
                        "E0313",
                        name.span,
                        "就高不重复组至少要有两个条款",
                        "an exclusive group needs at least two clauses",
                        "列出互斥的条款，例如 [条款甲, 条款乙]",
                        "list the clauses that exclude each other",
                    ));
                    continue;
                }
                if let Some(cs) = clause_list(&mut c, ids) {
                    exclusives.push(Exclusive {
                        name: name.name.clone(),
                        clauses: cs,
                    });
                }
            }
            ItemKind::Pool {
                name,
                fields,
                close,
            } => {
                if dup(&mut c, name, "规则", "rule") {
                    continue;
                }
                let (mut cls, mut budget, mut method) = (None, None, PoolMethod::ProRata);
                for (f, span) in fields {
                    match f {
                        ast::PoolField::Clauses(ids) => cls = clause_list(&mut c, ids),
                        ast::PoolField::Budget(e) => {
                            budget = c.const_money(e, "资金池预算", "the pool budget");
                            if budget.is_some_and(|b| b <= Decimal::ZERO) {
                                c.diags.push(err(
                                    "E0314",
                                    e.span,
                                    "资金池预算须大于 0",
                                    "the pool budget must be positive",
                                    "写出预算金额，例如 budget 3000万",
                                    "give the budget, e.g. budget 3000万",
                                ));
                                budget = None;
                            }
                        }
                        ast::PoolField::ProRata => method = PoolMethod::ProRata,
                        ast::PoolField::ByScore(k) => {
                            if let Some(n) = lower_score(&mut c, "score", &k.expr) {
                                method = PoolMethod::ByScore(
                                    n,
                                    if k.desc { Order::Desc } else { Order::Asc },
                                );
                            } else {
                                let _ = span;
                            }
                        }
                    }
                }
                match (cls, budget) {
                    (Some(cls), Some(budget)) if !cls.is_empty() => pools.push(Pool {
                        name: name.name.clone(),
                        clauses: cls,
                        budget,
                        method,
                    }),
                    (None, _)
                        if !fields
                            .iter()
                            .any(|(f, _)| matches!(f, ast::PoolField::Clauses(_))) =>
                    {
                        c.diags.push(err(
                            "E0312",
                            *close,
                            "pool 缺少 clauses",
                            "pool lacks clauses",
                            "写出资金池覆盖的条款：clauses [..]",
                            "list the pool's clauses: clauses [..]",
                        ))
                    }
                    (_, None)
                        if !fields
                            .iter()
                            .any(|(f, _)| matches!(f, ast::PoolField::Budget(_))) =>
                    {
                        c.diags.push(err(
                            "E0312",
                            *close,
                            "pool 缺少 budget",
                            "pool lacks budget",
                            "写出预算：budget 3000万",
                            "give the budget: budget 3000万",
                        ))
                    }
                    _ => {}
                }
            }
            ItemKind::FirmCap {
                name,
                limit,
                priority,
            } => {
                if dup(&mut c, name, "规则", "rule") {
                    continue;
                }
                let lim = c.const_money(limit, "单企业上限", "the firm cap");
                if lim.is_some_and(|l| l <= Decimal::ZERO) {
                    c.diags.push(err(
                        "E0314",
                        limit.span,
                        "单企业上限须大于 0",
                        "the firm cap must be positive",
                        "例如 firm cap 单企业年度上限 1000万",
                        "e.g. firm cap Name 1000万",
                    ));
                    continue;
                }
                if let (Some(lim), Some(mut order)) = (lim, clause_list(&mut c, priority)) {
                    for i in 0..c.clause_idx.len() {
                        if !order.contains(&i) {
                            order.push(i);
                        }
                    }
                    firm_caps.push(FirmCap {
                        name: name.name.clone(),
                        limit: lim,
                        priority: order,
                    });
                }
            }
            _ => {}
        }
    }

    // Which names a `because` may use.
    let mut reasons: Vec<String> = vec![
        REASON_MISSING.into(),
        REASON_WINDOW.into(),
        REASON_ZERO.into(),
        REASON_TOTAL_CAP.into(),
        REASON_CAP.into(),
    ];
    reasons.extend(excludes.iter().map(|x| x.name.clone()));
    reasons.extend(selects.iter().map(|x| x.name.clone()));
    reasons.extend(exclusives.iter().map(|x| x.name.clone()));
    reasons.extend(pools.iter().map(|x| x.name.clone()));
    reasons.extend(firm_caps.iter().map(|x| x.name.clone()));
    for cl in &clauses {
        reasons.extend(cl.requires.iter().map(|r| r.name.clone()));
        if let ClauseBody::Tranches(ts) = &cl.body {
            for t in ts {
                reasons.extend(t.requires.iter().map(|r| r.name.clone()));
            }
        }
    }

    // 5. Tests.
    let mut tests = vec![];
    if all_ok {
        for it in &items {
            if let ItemKind::Test(t) = &it.kind {
                if let Some(tc) = check_test(&mut c, t, &clauses, &reasons) {
                    tests.push(tc);
                }
            }
        }
    }

    let (errors, warnings): (Vec<Diag>, Vec<Diag>) = c
        .diags
        .into_iter()
        .filter(|d| d.code != CASCADE)
        .partition(|d| !d.warning);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        Program {
            policy: header,
            enums: c.enums,
            facts: c.facts,
            params: c.params,
            tables: c.tables,
            clauses,
            excludes,
            selects,
            exclusives,
            pools,
            firm_caps,
            tests,
            hash: String::new(),
        },
        warnings,
    ))
}

fn window_err(w: &ast::Window) -> Diag {
    err(
        "E0315",
        w.span,
        format!("有效期的结束日 {} 早于开始日 {}", w.to, w.from),
        format!("the window ends ({}) before it starts ({})", w.to, w.from),
        "写作 开始日 .. 结束日",
        "write start .. end",
    )
}

fn lower_score(c: &mut Checker, name: &str, e: &ast::Expr) -> Option<Named> {
    match c.lower(e, &Scope::default(), None) {
        Ok((x, t)) if t.is_numeric() => Some(Named {
            name: name.to_string(),
            expr: x,
            ty: t,
            source: c.text(e.span),
            origin: c.sm.origin(e.span),
        }),
        Ok((_, t)) => {
            let d = c.type_mismatch(
                e.span,
                "数值",
                "a number",
                t,
                "排名依据须为数值",
                "a ranking score must be numeric",
            );
            c.diags.push(d);
            None
        }
        Err(d) => {
            c.diags.push(d);
            None
        }
    }
}

/// A simple constraint `subject op constant` on one side of a require, for the unreachable check.
fn simple_bound(e: &Expr) -> Option<(String, BinOp, Decimal)> {
    if let Expr::Bin(op, a, b) = e {
        if op.is_comparison() {
            let key = |x: &Expr| match x {
                Expr::Fact(f) => Some(format!("f{f}")),
                Expr::Local(l) => Some(format!("l{l}")),
                _ => None,
            };
            if let (Some(k), Some(v)) = (key(a), const_value(b).and_then(|v| v.num())) {
                return Some((k, *op, v));
            }
        }
    }
    None
}

/// True when the conjunction of simple bounds on one subject admits no value.
fn contradictory(bounds: &[(BinOp, Decimal)]) -> bool {
    let (mut lo, mut lo_inc, mut hi, mut hi_inc) = (None::<Decimal>, true, None::<Decimal>, true);
    for (op, v) in bounds {
        match op {
            BinOp::Ge | BinOp::Gt => {
                let inc = *op == BinOp::Ge;
                if lo.is_none() || *v > lo.unwrap() || (*v == lo.unwrap() && !inc) {
                    lo = Some(*v);
                    lo_inc = inc;
                }
            }
            BinOp::Le | BinOp::Lt => {
                let inc = *op == BinOp::Le;
                if hi.is_none() || *v < hi.unwrap() || (*v == hi.unwrap() && !inc) {
                    hi = Some(*v);
                    hi_inc = inc;
                }
            }
            BinOp::Eq => {
                lo = Some(lo.map_or(*v, |l: Decimal| l.max(*v)));
                hi = Some(hi.map_or(*v, |h: Decimal| h.min(*v)));
            }
            _ => {}
        }
    }
    match (lo, hi) {
        (Some(l), Some(h)) => l > h || (l == h && !(lo_inc && hi_inc)),
        _ => false,
    }
}

fn check_requires_reachable(c: &mut Checker, reqs: &[(&ast::NamedExpr, &Named)]) {
    let mut by_subject: HashMap<String, Vec<(BinOp, Decimal)>> = HashMap::new();
    for (ast_ne, n) in reqs {
        if let Some((k, op, v)) = simple_bound(&n.expr) {
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
}

fn check_clause(
    c: &mut Checker,
    cl: &ast::ClauseAst,
    header: &PolicyHeader,
    id: ClauseId,
) -> Option<Clause> {
    let before = c.diags.len();
    let mut reference = None;
    let mut text = None;
    let mut window = header.window;
    let mut lets: Vec<Named> = vec![];
    let mut let_names: Vec<(String, Ty)> = vec![];
    let mut requires: Vec<Named> = vec![];
    let mut req_ast: Vec<&ast::NamedExpr> = vec![];
    let mut amount: Option<(Named, Span)> = None;
    let mut tranches: Vec<Tranche> = vec![];
    let mut schedule: Option<Schedule> = None;
    let mut cap = None;
    let mut total_cap = None;
    let mut names_seen: HashMap<String, Span> = HashMap::new();
    let mut body_count = 0;
    let mut name_dup = |c: &mut Checker, id: &Ident| {
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
    };
    for st in &cl.stmts {
        let scope = Scope {
            lets: let_names.iter().map(|(n, t)| (n.as_str(), *t)).collect(),
            clause: Some(id),
        };
        match &st.kind {
            StmtKind::Ref(s) => reference = Some(s.clone()),
            StmtKind::Text(s) => text = Some(s.clone()),
            StmtKind::Effective(w) => {
                if w.to < w.from {
                    c.diags.push(window_err(w));
                } else if w.from < header.window.0 || w.to > header.window.1 {
                    c.diags.push(err(
                        "E0316",
                        w.span,
                        format!(
                            "条款有效期超出政策有效期 {} .. {}",
                            header.window.0, header.window.1
                        ),
                        format!(
                            "the clause window lies outside the policy's {} .. {}",
                            header.window.0, header.window.1
                        ),
                        "条款有效期须在政策有效期之内",
                        "a clause window must lie within the policy's",
                    ));
                }
                window = (w.from, w.to);
            }
            StmtKind::Let(ne) => {
                name_dup(c, &ne.name);
                match c.lower(&ne.expr, &scope, None) {
                    Ok((e, t)) => {
                        lets.push(Named {
                            name: ne.name.name.clone(),
                            expr: e,
                            ty: t,
                            source: c.text(ne.expr.span),
                            origin: c.sm.origin(ne.span),
                        });
                        let_names.push((ne.name.name.clone(), t));
                    }
                    Err(d) => c.diags.push(d),
                }
            }
            StmtKind::Require(ne) => {
                name_dup(c, &ne.name);
                if let Some(n) = c.named(
                    ne,
                    &scope,
                    Ty::Bool,
                    "条件（是/否）",
                    "a condition (bool)",
                    "require 后写一个条件，例如 营业收入 >= 100亿",
                    "require takes a condition, e.g. revenue >= 100亿",
                ) {
                    requires.push(n);
                    req_ast.push(ne);
                }
            }
            StmtKind::Amount(e) => {
                body_count += 1;
                let ne = ast::NamedExpr {
                    name: Ident {
                        name: String::new(),
                        span: e.span,
                    },
                    expr: e.clone(),
                    span: e.span,
                };
                if let Some(n) = c.named(
                    &ne,
                    &scope,
                    Ty::Money,
                    "金额",
                    "money",
                    "amount 须为金额，例如 100万 或 10% * 研发费用增量",
                    "amount must be money, e.g. 100万 or 10% * increase",
                ) {
                    amount = Some((n, st.span));
                }
            }
            StmtKind::Cap(e) => cap = c.const_money(e, "封顶金额", "the cap"),
            StmtKind::TotalCap(e) => total_cap = c.const_money(e, "累计上限", "the total cap"),
            StmtKind::Tranche(t) => {
                name_dup(c, &t.name);
                if body_count > 0 && tranches.is_empty() {
                    body_count += 1;
                }
                let mut treqs = vec![];
                let mut tast = vec![];
                let mut tamount = None;
                for s in &t.stmts {
                    match &s.kind {
                        StmtKind::Require(ne) => {
                            name_dup(c, &ne.name);
                            if let Some(n) = c.named(
                                ne,
                                &scope,
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
                            let ne = ast::NamedExpr {
                                name: Ident {
                                    name: t.name.name.clone(),
                                    span: e.span,
                                },
                                expr: e.clone(),
                                span: e.span,
                            };
                            tamount = c.named(
                                &ne,
                                &scope,
                                Ty::Money,
                                "金额",
                                "money",
                                "amount 须为金额",
                                "amount must be money",
                            );
                            if tamount.is_none() && c.diags.len() == before {
                                tamount = None;
                            }
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
                let pairs: Vec<(&ast::NamedExpr, &Named)> = req_ast
                    .iter()
                    .copied()
                    .chain(tast.iter().copied())
                    .zip(requires.iter().chain(treqs.iter()))
                    .collect();
                check_requires_reachable(c, &pairs);
                match tamount {
                    Some(a) => tranches.push(Tranche {
                        name: t.name.name.clone(),
                        requires: treqs,
                        amount: a,
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
            StmtKind::Schedule(s) => {
                body_count += 1;
                let f = match c.fact_idx.get(&s.fact.name) {
                    Some(&f)
                        if c.facts[f].kind == PeriodKind::Event
                            && matches!(c.facts[f].ty, Ty::Enum(_)) =>
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
                        continue;
                    }
                };
                let mode = match s.mode.name.as_str() {
                    "each" => ScheduleMode::Each,
                    "cumulative" => ScheduleMode::Cumulative,
                    _ => {
                        c.diags.push(err("E0319", s.mode.span, "分阶段方式须为 each 或 cumulative", "the schedule mode must be each or cumulative", "each：各阶段分别奖励；cumulative：累计额扣减已奖励", "each: every stage pays its own; cumulative: cumulative amounts minus what was paid"));
                        continue;
                    }
                };
                let mut stages = vec![];
                for (st_id, e, _) in &s.stages {
                    let ex = ast::Expr {
                        kind: ExprKind::Name(st_id.clone()),
                        span: st_id.span,
                    };
                    let v = match c.variants(f, &ex) {
                        Ok(v) => v[0],
                        Err(d) => {
                            c.diags.push(d);
                            continue;
                        }
                    };
                    if let Some(m) = c.const_money(e, "阶段金额", "a stage amount") {
                        if mode == ScheduleMode::Cumulative
                            && stages.last().is_some_and(|(_, p): &(u32, Decimal)| m < *p)
                        {
                            c.diags.push(err(
                                "E0320",
                                e.span,
                                "累计方式下各阶段金额须逐级不减",
                                "cumulative stage amounts must not decrease",
                                "cumulative 的金额是累计额：后一阶段不小于前一阶段",
                                "in cumulative mode each amount is a running total",
                            ));
                        }
                        stages.push((v, m));
                    }
                }
                schedule = Some(Schedule {
                    fact: f,
                    mode,
                    stages,
                });
            }
        }
    }
    let reqs: Vec<(&ast::NamedExpr, &Named)> =
        req_ast.iter().copied().zip(requires.iter()).collect();
    check_requires_reachable(c, &reqs);
    if reference.is_none() {
        c.diags.push(err(
            "E0321",
            cl.name.span,
            format!("条款 `{}` 没有出处", cl.name.name),
            format!("clause `{}` has no source reference", cl.name.name),
            "写出条/款/项，例如 ref \"第三条第（一）款\"",
            "add the article reference, e.g. ref \"第三条第（一）款\"",
        ));
    }
    if text.is_none() {
        c.diags.push(err(
            "E0322",
            cl.name.span,
            format!("条款 `{}` 没有原文", cl.name.name),
            format!("clause `{}` has no original text", cl.name.name),
            "用 text \"…\" 写出政策原文",
            "quote the policy text with text \"…\"",
        ));
    }
    let kinds = usize::from(amount.is_some())
        + usize::from(!tranches.is_empty())
        + usize::from(schedule.is_some());
    if kinds > 1 || body_count > 1 {
        c.diags.push(err(
            "E0323",
            cl.name.span,
            "条款只能有一种金额写法：amount、tranche 或 schedule",
            "a clause has exactly one of amount, tranches or schedule",
            "把多个金额拆成 tranche，或拆成多个条款",
            "split amounts into tranches or into separate clauses",
        ));
    }
    if kinds == 0 && c.diags.len() == before {
        c.diags.push(err(
            "E0324",
            cl.name.span,
            format!("条款 `{}` 没有金额", cl.name.name),
            format!("clause `{}` has no amount", cl.name.name),
            "写出 amount 金额、tranche 或 schedule",
            "add amount …, tranches or a schedule",
        ));
    }
    if total_cap.is_some()
        && cap.is_none()
        && schedule.is_none()
        && amount.is_none()
        && tranches.is_empty()
    {
        return None;
    }
    if c.diags.len() > before {
        return None;
    }
    let body = if let Some((a, _)) = amount {
        ClauseBody::Amount(a)
    } else if let Some(s) = schedule {
        ClauseBody::Schedule(s)
    } else {
        ClauseBody::Tranches(tranches)
    };
    Some(Clause {
        name: cl.name.name.clone(),
        reference: reference.unwrap_or_default(),
        text: text.unwrap_or_default(),
        window,
        lets,
        requires,
        body,
        cap,
        total_cap,
        origin: c.sm.origin(cl.name.span),
    })
}

fn check_test(
    c: &mut Checker,
    t: &ast::TestAst,
    clauses: &[Clause],
    reasons: &[String],
) -> Option<TestCase> {
    let before = c.diags.len();
    let mut period = None;
    let mut firms: Vec<Firm> = vec![];
    let mut labels: Vec<String> = vec![];
    let mut expects = vec![];
    for st in &t.stmts {
        match st {
            TestStmt::Period(y, _) => period = Some(*y),
            TestStmt::Firm(f) => {
                if labels.contains(&f.label.name) {
                    c.diags.push(err(
                        "E0306",
                        f.label.span,
                        format!("测试中重复的企业 `{}`", f.label.name),
                        format!("duplicate firm `{}` in the test", f.label.name),
                        "给每个企业不同的名称",
                        "give each firm its own label",
                    ));
                    continue;
                }
                // A firm with bad data is still declared, so its expects are not reported again.
                labels.push(f.label.name.clone());
                firms.push(check_firm(c, f).unwrap_or_default());
            }
            TestStmt::Expect(e) => {
                let Some(fi) = labels.iter().position(|l| *l == e.firm.name) else {
                    c.diags.push(err(
                        "E0325",
                        e.firm.span,
                        format!("未知的企业 `{}`", e.firm.name),
                        format!("unknown firm `{}`", e.firm.name),
                        "expect 须引用本测试中 firm 声明的企业（先声明后引用）",
                        "expect must name a firm declared earlier in this test",
                    ));
                    continue;
                };
                let clause = if e.clause.name == "total" {
                    None
                } else {
                    match c.clause_idx.get(&e.clause.name) {
                        Some(&x) => Some(x),
                        None => {
                            let names: Vec<&str> =
                                c.clause_idx.keys().map(|s| s.as_str()).collect();
                            let g = closest(&e.clause.name, &names).map(|s| s.to_string());
                            c.diags.push(err(
                                "E0304",
                                e.clause.span,
                                format!("未知的条款 `{}`", e.clause.name),
                                format!("unknown clause `{}`", e.clause.name),
                                g.as_ref()
                                    .map(|g| format!("是否想写 `{g}`？"))
                                    .unwrap_or("写条款名称，或 total 表示合计".into()),
                                g.map(|g| format!("did you mean `{g}`?"))
                                    .unwrap_or("name a clause, or total".into()),
                            ));
                            continue;
                        }
                    }
                };
                if let (Some(cid), Some(tr)) = (clause, &e.tranche) {
                    let names: Vec<String> = match &clauses[cid].body {
                        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
                        ClauseBody::Schedule(s) => {
                            let Ty::Enum(en) = c.facts[s.fact].ty else {
                                unreachable!()
                            };
                            s.stages
                                .iter()
                                .map(|(v, _)| c.enums[en].variants[*v as usize].clone())
                                .collect()
                        }
                        ClauseBody::Amount(_) => vec![],
                    };
                    if !names.contains(&tr.name) {
                        c.diags.push(err(
                            "E0326",
                            tr.span,
                            format!("条款 `{}` 没有分期 `{}`", e.clause.name, tr.name),
                            format!("clause `{}` has no tranche `{}`", e.clause.name, tr.name),
                            format!("可用分期：{}", names.join("、")),
                            format!("tranches: {}", names.join(", ")),
                        ));
                        continue;
                    }
                }
                let Some(amount) = c.const_money(&e.amount, "期望金额", "the expected amount")
                else {
                    continue;
                };
                if let Some(b) = &e.because {
                    if !reasons.contains(&b.name) {
                        let opts: Vec<&str> = reasons.iter().map(|s| s.as_str()).collect();
                        let g = closest(&b.name, &opts).map(|s| s.to_string());
                        c.diags.push(err(
                            "E0327",
                            b.span,
                            format!("未知的原因 `{}`", b.name),
                            format!("unknown reason `{}`", b.name),
                            g.as_ref().map(|g| format!("是否想写 `{g}`？原因是条件名称、规则名称或 数据缺失/有效期外/金额为零/累计上限")).unwrap_or("原因是条件名称、规则名称或 数据缺失/有效期外/金额为零/累计上限".into()),
                            g.map(|g| format!("did you mean `{g}`? a reason is a condition or rule name, or 数据缺失/有效期外/金额为零/累计上限")).unwrap_or("a reason is a condition or rule name, or 数据缺失/有效期外/金额为零/累计上限".into()),
                        ));
                        continue;
                    }
                }
                expects.push(Expect {
                    firm: fi,
                    clause,
                    tranche: e.tranche.as_ref().map(|x| x.name.clone()),
                    amount,
                    because: e.because.as_ref().map(|b| b.name.clone()),
                    origin: c.sm.origin(e.span),
                });
            }
        }
    }
    let Some(period) = period else {
        c.diags.push(err(
            "E0328",
            t.name_span,
            format!("测试 \"{}\" 没有 period", t.name),
            format!("test \"{}\" has no period", t.name),
            "写出评估年度，例如 period 2023",
            "give the evaluated year, e.g. period 2023",
        ));
        return None;
    };
    if expects.is_empty() && c.diags.len() == before {
        c.diags.push(err(
            "E0329",
            t.name_span,
            format!("测试 \"{}\" 没有 expect", t.name),
            format!("test \"{}\" has no expect", t.name),
            "写出期望结果，例如 expect 甲.条款 = 100万",
            "add an expectation, e.g. expect A.clause = 100万",
        ));
    }
    if c.diags.len() > before {
        return None;
    }
    Some(TestCase {
        name: t.name.clone(),
        period,
        firms,
        firm_labels: labels,
        expects,
        origin: c.sm.origin(t.name_span),
    })
}

fn data_scalar(c: &mut Checker, fact: FactId, e: &ast::Expr) -> Option<Value> {
    let ty = c.facts[fact].ty;
    match c.lower(e, &Scope::default(), Some(ty)) {
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
                    c.diags.push(err(
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
            let d = c.type_mismatch(
                e.span,
                &ty_name(Some(&c.enums), ty),
                &ty_name(Some(&c.enums), ty),
                t,
                &format!(
                    "`{}` 的类型是 {}",
                    c.facts[fact].name,
                    ty_name(Some(&c.enums), ty)
                ),
                &format!(
                    "`{}` has type {}",
                    c.facts[fact].name,
                    ty_name(Some(&c.enums), ty)
                ),
            );
            c.diags.push(d);
            None
        }
        Err(d) => {
            c.diags.push(d);
            None
        }
    }
}

fn check_firm(c: &mut Checker, f: &ast::FirmAst) -> Option<Firm> {
    let before = c.diags.len();
    let id = match &f.id {
        Some((code, span)) => {
            if let Err(e) = huiqi_ir::uscc::validate(code) {
                c.diags.push(err("E0701", *span, e.zh(), e.en(), "统一社会信用代码为18位，末位为 GB 32100-2015 校验码；测试中也可以省略代码", "a credit code has 18 characters ending in the GB 32100-2015 check character; tests may omit it"));
            }
            code.clone()
        }
        None => f.label.name.clone(),
    };
    let mut firm = Firm::new(id, f.label.name.clone(), c.facts.len());
    for st in &f.stmts {
        match st {
            FirmStmt::Fact { name, value, span } => {
                let Some(&fid) = c.fact_idx.get(&name.name) else {
                    let names: Vec<&str> = c.facts.iter().map(|f| f.name.as_str()).collect();
                    let g = closest(&name.name, &names).map(|s| s.to_string());
                    c.diags.push(err(
                        "E0302",
                        name.span,
                        format!("未知的事实 `{}`", name.name),
                        format!("unknown fact `{}`", name.name),
                        g.as_ref()
                            .map(|g| format!("是否想写 `{g}`？"))
                            .unwrap_or("事实须先用 fact 声明".into()),
                        g.map(|g| format!("did you mean `{g}`?"))
                            .unwrap_or("declare the fact first".into()),
                    ));
                    continue;
                };
                let kind = c.facts[fid].kind;
                let shape_err = |c: &mut Checker, zh: &str, en: &str| {
                    c.diags.push(err("E0702", *span, format!("`{}` 的数据形式不对：{zh}", name.name), format!("wrong data shape for `{}`: {en}", name.name), "静态：事实 = 值；年度：{2022: 值, 2023: 值}；月度：{2023-01: 值}；事件：[日期: 取值, 日期 .. 日期]", "static: fact = v; yearly: {2022: v}; monthly: {2023-01: v}; events: [date: v, date .. date]"))
                };
                match (kind, value) {
                    (PeriodKind::Static, DataValue::Scalar(e)) => {
                        if let Some(v) = data_scalar(c, fid, e) {
                            firm.facts[fid] = FactData::Static(v);
                        }
                    }
                    (PeriodKind::Year, DataValue::Periods(ps)) => {
                        let mut ys = vec![];
                        for (k, e, s) in ps {
                            match k {
                                ast::PeriodKey::Year(y) => {
                                    if let Some(v) = data_scalar(c, fid, e) {
                                        if ys.iter().any(|(yy, _)| yy == y) {
                                            c.diags.push(err(
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
                                }
                                ast::PeriodKey::Month(..) => shape_err(
                                    c,
                                    "年度数据的键须为年份",
                                    "keys of yearly data are years",
                                ),
                            }
                        }
                        ys.sort_by_key(|(y, _)| *y);
                        firm.facts[fid] = FactData::Yearly(ys);
                    }
                    (PeriodKind::Month, DataValue::Periods(ps)) => {
                        let mut ms = vec![];
                        for (k, e, _) in ps {
                            match k {
                                ast::PeriodKey::Month(y, m) => {
                                    if let Some(v) = data_scalar(c, fid, e) {
                                        ms.push(((*y, *m), v));
                                    }
                                }
                                ast::PeriodKey::Year(_) => shape_err(
                                    c,
                                    "月度数据的键须为月份（2023-01）",
                                    "keys of monthly data are months (2023-01)",
                                ),
                            }
                        }
                        ms.sort_by_key(|(k, _)| *k);
                        firm.facts[fid] = FactData::Monthly(ms);
                    }
                    (PeriodKind::Event, DataValue::Events(es)) => {
                        let mut recs = vec![];
                        for ev in es {
                            let value = match (&ev.value, c.facts[fid].ty) {
                                (Some(v), Ty::Enum(_)) => {
                                    let ex = ast::Expr {
                                        kind: ExprKind::Name(v.clone()),
                                        span: v.span,
                                    };
                                    match c.variants(fid, &ex) {
                                        Ok(vs) => Some(vs[0]),
                                        Err(d) => {
                                            c.diags.push(d);
                                            continue;
                                        }
                                    }
                                }
                                (None, Ty::Enum(_)) => {
                                    c.diags.push(err(
                                        "E0704",
                                        ev.span,
                                        format!("`{}` 的事件须写出取值", name.name),
                                        format!("events of `{}` need a value", name.name),
                                        "写作 [2023-03-01: 取值]",
                                        "write [2023-03-01: value]",
                                    ));
                                    continue;
                                }
                                (Some(v), _) => {
                                    let ex = ast::Expr {
                                        kind: ExprKind::Name(v.clone()),
                                        span: v.span,
                                    };
                                    if let Err(d) = c.variants(fid, &ex) {
                                        c.diags.push(d);
                                    }
                                    continue;
                                }
                                (None, _) => None,
                            };
                            if ev.until.is_some_and(|u| u < ev.date) {
                                c.diags.push(err(
                                    "E0315",
                                    ev.span,
                                    "有效期的结束日早于开始日",
                                    "validity ends before it starts",
                                    "写作 开始日 .. 结束日",
                                    "write start .. end",
                                ));
                                continue;
                            }
                            recs.push(EventRec {
                                date: ev.date,
                                until: ev.until,
                                value,
                            });
                        }
                        recs.sort_by_key(|r| r.date);
                        firm.facts[fid] = FactData::Events(recs);
                    }
                    (PeriodKind::Static, _) => {
                        shape_err(c, "静态事实只有一个值", "a static fact has one value")
                    }
                    (PeriodKind::Year, _) => shape_err(
                        c,
                        "年度事实写作 {2022: 值, 2023: 值}",
                        "write yearly facts as {2022: v, 2023: v}",
                    ),
                    (PeriodKind::Month, _) => shape_err(
                        c,
                        "月度事实写作 {2023-01: 值}",
                        "write monthly facts as {2023-01: v}",
                    ),
                    (PeriodKind::Event, _) => shape_err(
                        c,
                        "事件事实写作 [日期: 取值] 或 [开始 .. 结束]",
                        "write events as [date: v] or [from .. until]",
                    ),
                }
            }
            FirmStmt::Awarded {
                clause,
                tranche,
                period,
                amount,
                ..
            } => {
                let Some(&cid) = c.clause_idx.get(&clause.name) else {
                    c.diags.push(err(
                        "E0304",
                        clause.span,
                        format!("未知的条款 `{}`", clause.name),
                        format!("unknown clause `{}`", clause.name),
                        "awarded 须引用已声明的条款",
                        "awarded must name a declared clause",
                    ));
                    continue;
                };
                if let Some(a) = c.const_money(amount, "已获奖励", "the awarded amount") {
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
    if c.diags.len() > before {
        return None;
    }
    Some(firm)
}
