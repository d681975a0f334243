//! The checker's entry and the declarations: the policy header, enums, facts, parameters,
//! clause names and tables come first, so items may be written in any order; then clauses
//! (`clause`), cross-clause rules (`rules`) and tests (`testcase`).

use super::rules::Rules;
use super::*;
use crate::ast::{HeaderField, ItemKind};

/// The names declared so far: facts, enums, parameters, tables, clauses and rules share one
/// namespace.
#[derive(Default)]
pub(super) struct Declared {
    seen: HashMap<String, Span>,
}

impl Declared {
    /// True, with E0306, when `id` is already declared; otherwise records it.
    pub(super) fn dup(
        &mut self,
        c: &mut Checker,
        id: &Ident,
        what_zh: &str,
        what_en: &str,
    ) -> bool {
        let Some(prev) = self.seen.get(&id.name) else {
            self.seen.insert(id.name.clone(), id.span);
            return false;
        };
        let (l, col) = c.sm.line_col(*prev);
        let path = c.sm.path(*prev);
        c.diags.push(err(
            "E0306",
            id.span,
            format!("重复定义的{what_zh} `{}`", id.name),
            format!("duplicate {what_en} `{}`", id.name),
            format!("`{}` 已在 {path}:{l}:{col} 定义；请换一个名称", id.name),
            format!(
                "`{}` is already defined at {path}:{l}:{col}; choose another name",
                id.name
            ),
        ));
        true
    }
}

/// Checks a parsed pack. Returns the program and its warnings, or every error found.
pub fn check(files: &[ast::File], sm: &SourceMap) -> Result<(Program, Vec<Diag>), Vec<Diag>> {
    check_packs(files, sm, &[])
}

/// A pack taken into another's check (`import 名称 from "目录"`): the import's name, and the
/// source files that are its own. Its clauses, parameters, tables and rules are already named
/// `名称.…` in those files (see `pack::load_pack`), and its tests are left out.
pub struct ImportScope {
    pub name: Ident,
    pub files: Vec<u32>,
}

/// [`check`] of a pack and the packs it imports, as one program: every file not in an
/// import's scope is the pack's own.
pub fn check_packs(
    files: &[ast::File],
    sm: &SourceMap,
    imports: &[ImportScope],
) -> Result<(Program, Vec<Diag>), Vec<Diag>> {
    let mut c = Checker::new(sm);
    let items: Vec<&ast::Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    let mut declared = Declared::default();
    for (i, imp) in imports.iter().enumerate() {
        for f in &imp.files {
            c.file_pack.insert(*f, i + 1);
        }
    }
    let own: Vec<&ast::Item> = items
        .iter()
        .copied()
        .filter(|it| c.pack_of(it.span) == 0)
        .collect();
    let Some(header) = c.header(&own) else {
        c.diags.push(no_header(files));
        return Err(c.diags);
    };
    c.packs[0].window = header.window;
    c.packs[0].rounding = header.rounding;
    let mut packs = vec![];
    for (i, imp) in imports.iter().enumerate() {
        let theirs: Vec<&ast::Item> = items
            .iter()
            .copied()
            .filter(|it| c.pack_of(it.span) == i + 1)
            .collect();
        let Some(h) = c.header(&theirs) else {
            c.diags.push(err(
                "E0309",
                imp.name.span,
                format!("被引入的政策包 `{}` 缺少 policy 声明", imp.name.name),
                format!("the imported pack `{}` has no policy header", imp.name.name),
                "被引入的目录须是一个完整的政策包",
                "an imported directory must be a whole policy pack",
            ));
            continue;
        };
        if h.name != imp.name.name {
            c.diags.push(err(
                "E0340",
                imp.name.span,
                format!(
                    "引入的名称 `{}` 与该政策包的名称 `{}` 不符",
                    imp.name.name, h.name
                ),
                format!(
                    "the import's name `{}` is not the pack's name `{}`",
                    imp.name.name, h.name
                ),
                format!("写作 import {} from …", h.name),
                format!("write import {} from …", h.name),
            ));
        }
        c.packs.push(PackCtx {
            prefix: format!("{}.", imp.name.name),
            window: h.window,
            rounding: h.rounding,
        });
        packs.push(PackRef {
            name: imp.name.name.clone(),
            title: h.title,
            issuer: h.issuer,
            version: h.version,
            window: h.window,
            hash: String::new(),
        });
    }
    if c.packs.len() != imports.len() + 1 {
        return Err(c.diags);
    }
    c.enums(&items, &mut declared);
    c.facts(&items, &mut declared);
    c.params(&items, &mut declared);
    let clause_asts: Vec<&ast::ClauseAst> = items
        .iter()
        .filter_map(|it| match &it.kind {
            ItemKind::Clause(cl) => Some(cl),
            _ => None,
        })
        .collect();
    for cl in &clause_asts {
        if !declared.dup(&mut c, &cl.name, "条款", "clause") {
            c.clause_idx
                .insert(cl.name.name.clone(), c.clause_idx.len());
            let p = c.pack_of(cl.name.span);
            c.clause_pack.push(p);
        }
    }
    // Tables before clauses: clauses call them.
    c.tables(&items, &mut declared);
    let mut clauses = vec![];
    for cl in &clause_asts {
        if let Some(x) = c.check_clause(cl, clauses.len()) {
            clauses.push(x);
        }
    }
    let rules = c.rules(&items, &mut declared);
    // Tests only run against a pack whose clauses all checked.
    let mut tests = vec![];
    if clauses.len() == clause_asts.len() {
        let reasons = rules.reasons(&clauses);
        for it in &items {
            if let ItemKind::Test(t) = &it.kind {
                if let Some(tc) = c.check_test(t, &clauses, &reasons, &rules.clawbacks) {
                    tests.push(tc);
                }
            }
        }
    }
    c.finish(header, clauses, rules, tests).map(|(mut p, w)| {
        p.packs = packs;
        (p, w)
    })
}

fn no_header(files: &[ast::File]) -> Diag {
    let span = files
        .first()
        .map(|f| Span {
            file: f.file,
            start: 0,
            end: 0,
        })
        .unwrap_or_default();
    err(
        "E0309",
        span,
        "政策包缺少 policy 声明",
        "the pack has no policy header",
        "在某个文件开头写 policy 名称 { title \"…\" issuer \"…\" version \"…\" effective … }",
        "add policy Name { title \"…\" issuer \"…\" version \"…\" effective … } to one file",
    )
}

pub(super) fn window_err(w: &ast::Window) -> Diag {
    err(
        "E0315",
        w.span,
        format!("有效期的结束日 {} 早于开始日 {}", w.to, w.from),
        format!("the window ends ({}) before it starts ({})", w.to, w.from),
        "写作 开始日 .. 结束日",
        "write start .. end",
    )
}

impl Checker<'_> {
    /// The one policy header (a second one is an error).
    fn header(&mut self, items: &[&ast::Item]) -> Option<PolicyHeader> {
        let mut header: Option<PolicyHeader> = None;
        for it in items {
            let ItemKind::Policy(p) = &it.kind else {
                continue;
            };
            if header.is_some() {
                self.diags.push(err(
                    "E0307",
                    it.keyword,
                    "一个政策包只能有一个 policy 声明",
                    "a pack has exactly one policy header",
                    "把其他政策放到单独的目录中",
                    "put other policies in their own directory",
                ));
                continue;
            }
            header = Some(self.header_fields(p));
        }
        header
    }

    fn header_fields(&mut self, p: &ast::PolicyAst) -> PolicyHeader {
        let mut h = PolicyHeader {
            name: p.name.name.clone(),
            title: String::new(),
            issuer: String::new(),
            version: String::new(),
            window: (Date::year_start(1900), Date::year_end(9999)),
            rounding: Rounding::FEN,
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
                        self.diags.push(window_err(w));
                    }
                    h.window = (w.from, w.to);
                    have_window = true;
                }
                HeaderField::Rounding(r) => match rounding_of(r, *span) {
                    Ok(r) => h.rounding = r,
                    Err(d) => self.diags.push(d),
                },
            }
        }
        for (field, zh, en) in [
            (&h.issuer, "issuer（发文单位）", "issuer"),
            (&h.version, "version（版本）", "version"),
        ] {
            if field.is_empty() {
                self.diags.push(err(
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
            self.diags.push(err(
                "E0308",
                p.name.span,
                "政策头缺少 effective（有效期）",
                "the policy header lacks effective",
                "例如 effective 2022-01-01 .. 2024-12-31",
                "e.g. effective 2022-01-01 .. 2024-12-31",
            ));
        }
        h
    }

    fn enums(&mut self, items: &[&ast::Item], declared: &mut Declared) {
        for it in items {
            let ItemKind::Enum { name, variants } = &it.kind else {
                continue;
            };
            if declared.dup(self, name, "枚举", "enum") {
                continue;
            }
            let mut vs: Vec<String> = vec![];
            for v in variants {
                if vs.contains(&v.name) {
                    self.diags.push(err(
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
            self.enum_idx.insert(name.name.clone(), self.enums.len());
            self.enums.push(EnumDef {
                name: name.name.clone(),
                variants: vs,
            });
        }
    }

    fn facts(&mut self, items: &[&ast::Item], declared: &mut Declared) {
        for it in items {
            let ItemKind::Fact(f) = &it.kind else {
                continue;
            };
            if declared.dup(self, &f.name, "事实", "fact") {
                continue;
            }
            let kind = match f.kind.as_str() {
                "static" => PeriodKind::Static,
                "year" => PeriodKind::Year,
                "month" => PeriodKind::Month,
                _ => PeriodKind::Event,
            };
            let Some(ty) = self.fact_ty(f, kind) else {
                self.failed.insert(f.name.name.clone());
                continue;
            };
            let get = |k: &str| {
                f.fields
                    .iter()
                    .find(|(key, _, _)| key.name == k)
                    .map(|(_, v, _)| v.clone())
            };
            let source = get("source").unwrap_or_default();
            if source.is_empty() {
                self.diags.push(err(
                    "E0310",
                    f.name.span,
                    format!("事实 `{}` 缺少数据来源", f.name.name),
                    format!("fact `{}` has no source system", f.name.name),
                    "写出数据来源系统，例如 { label \"营业收入\" source \"税务\" }",
                    "name the source system, e.g. { label \"Revenue\" source \"tax\" }",
                ));
            }
            let fields = self.record_fields(f);
            let validity = f.valid.as_ref().map(|(v, _)| match v {
                ast::ValidAst::Forever => Validity::Forever,
                ast::ValidAst::For { unit, value, .. } => duration(*unit, *value),
            });
            self.fact_idx.insert(f.name.name.clone(), self.facts.len());
            self.facts.push(Fact {
                name: f.name.name.clone(),
                ty,
                kind,
                label: get("label").unwrap_or_else(|| f.name.name.clone()),
                source,
                fields,
                validity,
                origin: self.sm.origin(f.name.span),
            });
        }
    }

    /// How many errors (not warnings) were found so far: a part whose checking added one is
    /// dropped, a warning keeps it.
    pub(super) fn errors(&self) -> usize {
        self.diags.iter().filter(|d| !d.warning).count()
    }

    /// An event fact's record fields: numeric types, each name once (E0331 otherwise).
    fn record_fields(&mut self, f: &ast::FactAst) -> Vec<RecordField> {
        let mut out: Vec<RecordField> = vec![];
        for (name, ty, _) in &f.record {
            let t = match self.parse_ty(ty) {
                Ok(t) if t.is_numeric() => t,
                Ok(_) | Err(_) => {
                    self.diags.push(err(
                        "E0331",
                        ty.span,
                        format!("字段 `{}` 的类型须为 money、ratio 或 count", name.name),
                        format!("field `{}` must be money, ratio or count", name.name),
                        "例如 field 本金: money、field 面积: count",
                        "e.g. field principal: money, field area: count",
                    ));
                    continue;
                }
            };
            if out.iter().any(|x| x.name == name.name) {
                self.diags.push(err(
                    "E0331",
                    name.span,
                    format!("字段 `{}` 重复声明", name.name),
                    format!("field `{}` declared twice", name.name),
                    "删除重复的字段",
                    "remove the duplicate",
                ));
                continue;
            }
            out.push(RecordField {
                name: name.name.clone(),
                ty: t,
            });
        }
        out
    }

    /// A fact's type: an event's enum (bool when it has none), or a value type. None when the
    /// value type is unknown (the fact is then left undeclared).
    fn fact_ty(&mut self, f: &ast::FactAst, kind: PeriodKind) -> Option<Ty> {
        match (&f.ty, kind) {
            (None, _) => Some(Ty::Bool),
            (Some(t), PeriodKind::Event) => match self.enum_idx.get(&t.name) {
                Some(&e) => Some(Ty::Enum(e)),
                None => {
                    self.diags.push(err(
                        "E0301",
                        t.span,
                        format!("未知的枚举 `{}`", t.name),
                        format!("unknown enum `{}`", t.name),
                        "事件的取值须是已声明的 enum",
                        "event values must be a declared enum",
                    ));
                    Some(Ty::Bool)
                }
            },
            // A text (a group's name: "实际控制人") is only ever compared for equality by a
            // `group cap`; it exists per firm or per year.
            (Some(t), PeriodKind::Static | PeriodKind::Year) if t.name == "text" => Some(Ty::Text),
            (Some(t), _) if t.name == "text" => {
                self.diags.push(err(
                    "E0333",
                    t.span,
                    "文本事实只能是 static 或 per year",
                    "a text fact is static or per year",
                    "例如 fact 实际控制人: text per year { label \"实际控制人\" source \"市场监管\" }",
                    "e.g. fact 实际控制人: text per year { label \"controller\" source \"registry\" }",
                ));
                None
            }
            (Some(t), _) => self.parse_ty(t).map_err(|d| self.diags.push(d)).ok(),
        }
    }

    fn params(&mut self, items: &[&ast::Item], declared: &mut Declared) {
        for it in items {
            let ItemKind::Param(p) = &it.kind else {
                continue;
            };
            if declared.dup(self, &p.name, "参数", "parameter") {
                continue;
            }
            let ty = match self.parse_ty(&p.ty) {
                Ok(t) => t,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let mut values = vec![];
            for (d, e, _) in &p.values {
                if let Some(v) = self.param_value(e, ty) {
                    values.push((*d, v));
                }
            }
            values.sort_by_key(|(d, _)| *d);
            if values.windows(2).any(|w| w[0].0 == w[1].0) {
                self.diags.push(err(
                    "E0306",
                    p.name.span,
                    "同一生效日期有两个参数值",
                    "two values take effect on the same date",
                    "每个生效日期只写一个值",
                    "one value per date",
                ));
            }
            self.param_idx
                .insert(p.name.name.clone(), self.params.len());
            self.params.push(Param {
                name: p.name.name.clone(),
                ty,
                values,
            });
        }
    }

    /// One value of a parameter: a constant of its type.
    pub(super) fn param_value(&mut self, e: &ast::Expr, ty: Ty) -> Option<Value> {
        match self.lower(e, &Scope::default(), Some(ty)) {
            Ok((x, t)) if t == ty => match const_value(&x) {
                Some(v) => Some(v),
                None => {
                    self.diags.push(err(
                        "E0414",
                        e.span,
                        "参数值须为常量",
                        "parameter values must be constants",
                        "例如 5万",
                        "e.g. 5万",
                    ));
                    None
                }
            },
            Ok((_, t)) => {
                let d = self.type_mismatch(
                    e.span,
                    &ty_name(Some(&self.enums), ty),
                    &ty_name(Some(&self.enums), ty),
                    t,
                    "参数值须与声明的类型一致",
                    "values must have the declared type",
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

    fn tables(&mut self, items: &[&ast::Item], declared: &mut Declared) {
        for it in items {
            let ItemKind::Table(t) = &it.kind else {
                continue;
            };
            if declared.dup(self, &t.name, "档位表", "table") {
                continue;
            }
            let want = match self.parse_ty(&t.ty) {
                Ok(t) => t,
                Err(d) => {
                    self.diags.push(d);
                    self.failed.insert(t.name.name.clone());
                    continue;
                }
            };
            let name = t.name.name.clone();
            match self.lower_table(name, &t.arms, &Scope::default(), t.name.span, Some(want)) {
                Ok(id) if self.tables[id].output != want => {
                    let got = self.tables[id].output;
                    let d = self.type_mismatch(
                        t.ty.span,
                        &ty_name(Some(&self.enums), got),
                        &ty_name(Some(&self.enums), got),
                        want,
                        "表的类型须与各档的值一致",
                        "the table's type must match its values",
                    );
                    self.diags.push(d);
                }
                Ok(_) => {}
                Err(d) => {
                    self.diags.push(d);
                    self.failed.insert(t.name.name.clone());
                }
            }
        }
    }

    /// The program, or every error; warnings go with the program.
    fn finish(
        self,
        header: PolicyHeader,
        clauses: Vec<Clause>,
        rules: Rules,
        tests: Vec<TestCase>,
    ) -> Result<(Program, Vec<Diag>), Vec<Diag>> {
        let (errors, warnings): (Vec<Diag>, Vec<Diag>) = self
            .diags
            .into_iter()
            .filter(|d| d.code != CASCADE)
            .partition(|d| !d.warning);
        if !errors.is_empty() {
            return Err(errors);
        }
        let Rules {
            excludes,
            selects,
            exclusives,
            pools,
            firm_caps,
            group_caps,
            clawbacks,
        } = rules;
        let program = Program {
            policy: header,
            enums: self.enums,
            facts: self.facts,
            params: self.params,
            tables: self.tables,
            clauses,
            excludes,
            selects,
            exclusives,
            pools,
            firm_caps,
            group_caps,
            clawbacks,
            tests,
            hash: String::new(),
            packs: vec![],
        };
        Ok((program, warnings))
    }
}

/// A duration literal as months and days (years are twelve months).
pub(super) fn duration(unit: crate::lexer::Unit, value: Decimal) -> Validity {
    use rust_decimal::prelude::ToPrimitive;
    let n = value.to_i64().unwrap_or(0);
    match unit {
        crate::lexer::Unit::Years => Validity::For {
            months: n * 12,
            days: 0,
        },
        crate::lexer::Unit::Months => Validity::For { months: n, days: 0 },
        _ => Validity::For { months: 0, days: n },
    }
}

/// A `rounding` (the policy's or a clause's): its unit and mode, E0413 for an unknown unit.
pub(super) fn rounding_of(r: &ast::RoundingAst, span: Span) -> Result<Rounding, Diag> {
    let Some(unit) = RoundUnit::from_name(&r.unit.name) else {
        return Err(err(
            "E0413",
            span,
            "取整单位须为 分、元、百元、千元 或 万元",
            "rounding must be 分, 元, 百元, 千元 or 万元",
            "例如 rounding 元，或 rounding 百元 down（以下舍去）",
            "e.g. rounding 元, or rounding 百元 down (drop what is below)",
        ));
    };
    // The parser only takes a known mode; none is half up.
    let mode = r
        .mode
        .as_ref()
        .and_then(|m| RoundMode::from_name(&m.name))
        .unwrap_or(RoundMode::HalfUp);
    Ok(Rounding { unit, mode })
}
