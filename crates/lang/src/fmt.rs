//! The canonical form of a policy file. Comments are kept: a comment goes back before the
//! statement that followed it, or at the end of the line it trailed. Formatting is idempotent.

use unicode_width::UnicodeWidthStr;

use crate::ast::*;
use crate::diag::Span;
use crate::lexer::Comment;

struct Printer<'a> {
    src: &'a str,
    out: String,
    indent: usize,
    comments: &'a [Comment],
    ci: usize,
    /// Source offset of the last thing printed, for blank-line preservation.
    last: u32,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

pub fn expr(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(&mut s, e, 0);
    s
}

fn write_expr(s: &mut String, e: &Expr, indent: usize) {
    match &e.kind {
        ExprKind::Num {
            text,
            unit,
            yuan_suffix,
            ..
        } => {
            s.push_str(text);
            s.push_str(unit.suffix());
            if *yuan_suffix && !matches!(unit, crate::lexer::Unit::Yuan) {
                s.push('元');
            }
        }
        ExprKind::Date(d) => s.push_str(&d.to_string()),
        ExprKind::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        ExprKind::Name(id) => s.push_str(&id.name),
        ExprKind::Call { func, args } => {
            s.push_str(&func.name);
            s.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_expr(s, a, indent);
            }
            s.push(')');
        }
        ExprKind::List(xs) => {
            s.push('[');
            for (i, a) in xs.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_expr(s, a, indent);
            }
            s.push(']');
        }
        ExprKind::Unary(UnOp::Not, x) => {
            s.push_str("not ");
            write_expr(s, x, indent);
        }
        ExprKind::Unary(UnOp::Neg, x) => {
            s.push('-');
            write_expr(s, x, indent);
        }
        ExprKind::Binary(op, a, b) => {
            write_expr(s, a, indent);
            s.push(' ');
            s.push_str(op.symbol());
            s.push(' ');
            write_expr(s, b, indent);
        }
        ExprKind::In {
            subject,
            list,
            negated,
        } => {
            write_expr(s, subject, indent);
            s.push_str(if *negated { " not in [" } else { " in [" });
            for (i, a) in list.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_expr(s, a, indent);
            }
            s.push(']');
        }
        ExprKind::If(c, a, b) => {
            s.push_str("if ");
            write_expr(s, c, indent);
            s.push_str(" then ");
            write_expr(s, a, indent);
            s.push_str(" else ");
            write_expr(s, b, indent);
        }
        ExprKind::Tiers { subject, arms } => {
            s.push_str("tiers ");
            write_expr(s, subject, indent);
            s.push_str(" {\n");
            for line in arm_lines(arms, indent + 1) {
                s.push_str(&line);
                s.push('\n');
            }
            s.push_str(&"  ".repeat(indent));
            s.push('}');
        }
        ExprKind::Paren(x) => {
            s.push('(');
            write_expr(s, x, indent);
            s.push(')');
        }
        ExprKind::Records {
            func,
            fact,
            filter,
            body,
        } => {
            s.push_str(&func.name);
            s.push('(');
            s.push_str(&fact.name);
            if let Some(c) = filter {
                s.push_str(" where ");
                write_expr(s, c, indent);
            }
            if let Some(b) = body {
                s.push_str(": ");
                write_expr(s, b, indent);
            }
            s.push(')');
        }
    }
}

fn interval(i: &Interval) -> String {
    let mut s = String::from(if i.lo_inclusive { "[" } else { "(" });
    s.push_str(&expr(&i.lo));
    s.push_str(", ");
    match &i.hi {
        Some(h) => s.push_str(&expr(h)),
        None => s.push('∞'),
    }
    s.push(if i.hi_inclusive { ']' } else { ')' });
    s
}

/// Tier arms with their `=>` aligned.
fn arm_lines(arms: &[TierArmAst], indent: usize) -> Vec<String> {
    let heads: Vec<String> = arms.iter().map(|a| interval(&a.interval)).collect();
    let w = heads
        .iter()
        .map(|h| UnicodeWidthStr::width(h.as_str()))
        .max()
        .unwrap_or(0);
    arms.iter()
        .zip(heads)
        .map(|(a, h)| {
            let pad = w - UnicodeWidthStr::width(h.as_str());
            let mut v = String::new();
            write_expr(&mut v, &a.value, indent);
            format!("{}{}{} => {}", "  ".repeat(indent), h, " ".repeat(pad), v)
        })
        .collect()
}

impl<'a> Printer<'a> {
    fn pad(&self) -> String {
        "  ".repeat(self.indent)
    }

    /// Keeps one blank line where the source had one or more since the last thing printed.
    fn blank_before(&mut self, start: u32) {
        let (a, b) = (
            (self.last as usize).min(self.src.len()),
            (start as usize).min(self.src.len()),
        );
        if a < b
            && self.src[a..b].matches('\n').count() >= 2
            && !self.out.is_empty()
            && !self.out.ends_with("{\n")
            && !self.out.ends_with("\n\n")
        {
            self.out.push('\n');
        }
    }

    /// Emits comments that start before `upto`.
    fn comments_before(&mut self, upto: u32) {
        while self.ci < self.comments.len() && self.comments[self.ci].span.start < upto {
            let c = &self.comments[self.ci];
            let (start, end, trailing) = (c.span.start, c.span.end, c.trailing);
            if trailing && self.out.ends_with('\n') {
                self.out.pop();
                self.out.push_str("  ");
                self.out.push_str(&self.comments[self.ci].text.clone());
                self.out.push('\n');
            } else {
                self.blank_before(start);
                let p = self.pad();
                self.out.push_str(&p);
                self.out.push_str(&self.comments[self.ci].text.clone());
                self.out.push('\n');
            }
            self.last = end;
            self.ci += 1;
        }
    }

    fn line(&mut self, start: u32, end: u32, text: &str) {
        self.comments_before(start);
        self.blank_before(start);
        let p = self.pad();
        for (i, l) in text.lines().enumerate() {
            if i == 0 {
                self.out.push_str(&p);
            }
            self.out.push_str(l);
            self.out.push('\n');
        }
        self.last = end;
    }

    fn open(&mut self, start: u32, head: &str) {
        self.line(start, start, &format!("{head} {{"));
        self.indent += 1;
    }

    fn close(&mut self, close_start: u32) {
        self.comments_before(close_start);
        self.indent -= 1;
        let p = self.pad();
        self.out.push_str(&p);
        self.out.push_str("}\n");
        self.last = close_start + 1;
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for st in stmts {
            let s = st.span.start;
            match &st.kind {
                StmtKind::Ref(r) => self.line(s, st.span.end, &format!("ref {}", quote(r))),
                StmtKind::Text(t) => self.line(s, st.span.end, &format!("text {}", quote(t))),
                StmtKind::Effective(w) => {
                    self.line(s, st.span.end, &format!("effective {} .. {}", w.from, w.to))
                }
                StmtKind::Let(ne) => self.line(
                    s,
                    st.span.end,
                    &format!("let {} = {}", ne.name.name, self.expr_at(&ne.expr)),
                ),
                StmtKind::Require(ne) => self.line(
                    s,
                    st.span.end,
                    &format!(
                        "require {}: {}{}",
                        ne.name.name,
                        self.expr_at(&ne.expr),
                        reason_suffix(ne.reason.as_deref())
                    ),
                ),
                StmtKind::Amount(e) => {
                    self.line(s, st.span.end, &format!("amount {}", self.expr_at(e)))
                }
                StmtKind::Cap(e) => self.line(s, st.span.end, &format!("cap {}", expr(e))),
                StmtKind::Rounding(r) => {
                    self.line(s, st.span.end, &format!("rounding {}", r.text()))
                }
                StmtKind::TotalCap(e) => {
                    self.line(s, st.span.end, &format!("total cap {}", expr(e)))
                }
                StmtKind::Tranche(t) => {
                    self.open(s, &format!("tranche {}", t.name.name));
                    self.stmts(&t.stmts);
                    self.close(t.close.start);
                }
                StmtKind::Schedule(sc) => {
                    self.open(s, &format!("schedule {} {}", sc.fact.name, sc.mode.name));
                    let w = sc
                        .stages
                        .iter()
                        .map(|(n, _, _)| UnicodeWidthStr::width(n.name.as_str()))
                        .max()
                        .unwrap_or(0);
                    for (n, e, sp) in &sc.stages {
                        let pad = " ".repeat(w - UnicodeWidthStr::width(n.name.as_str()));
                        self.line(sp.start, sp.end, &format!("{}{pad} => {}", n.name, expr(e)));
                    }
                    self.close(sc.close.start);
                }
            }
        }
    }

    fn expr_at(&self, e: &Expr) -> String {
        let mut s = String::new();
        write_expr(&mut s, e, self.indent);
        s
    }

    fn arms(&mut self, arms: &[TierArmAst]) {
        let lines = arm_lines(arms, 0);
        for (a, l) in arms.iter().zip(lines) {
            self.line(a.span.start, a.span.end, &l);
        }
    }

    fn names(ids: &[Ident]) -> String {
        format!(
            "[{}]",
            ids.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn data(v: &DataValue) -> String {
        match v {
            DataValue::Scalar(e) => expr(e),
            DataValue::Periods(ps) => {
                let parts: Vec<String> = ps
                    .iter()
                    .map(|(k, e, _)| match k {
                        PeriodKey::Year(y) => format!("{y}: {}", expr(e)),
                        PeriodKey::Month(y, m) => format!("{y}-{m:02}: {}", expr(e)),
                    })
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            DataValue::Events(es) => {
                let parts: Vec<String> = es
                    .iter()
                    .map(|e| {
                        let mut s = e.date.to_string();
                        if let Some(u) = e.until {
                            s.push_str(&format!(" .. {u}"));
                        }
                        if let Some(v) = &e.value {
                            s.push_str(&format!(": {}", v.name));
                        }
                        if !e.nums.is_empty() {
                            let nums: Vec<String> = e
                                .nums
                                .iter()
                                .map(|(k, v, _)| format!("{} = {}", k.name, expr(v)))
                                .collect();
                            s.push_str(&format!(" {{{}}}", nums.join(", ")));
                        }
                        s
                    })
                    .collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    fn item(&mut self, it: &Item) {
        let s = it.span.start;
        match &it.kind {
            ItemKind::Policy(p) => {
                self.open(s, &format!("policy {}", p.name.name));
                for (f, sp) in &p.fields {
                    let text = match f {
                        HeaderField::Text { key, value } => {
                            format!("{} {}", key.name, quote(value))
                        }
                        HeaderField::Effective(w) => format!("effective {} .. {}", w.from, w.to),
                        HeaderField::Rounding(r) => format!("rounding {}", r.text()),
                    };
                    self.line(sp.start, sp.end, &text);
                }
                self.close(it.span.end - 1);
            }
            ItemKind::Import { name, path } => self.line(
                s,
                it.span.end,
                &format!("import {} from {}", name.name, quote(&path.0)),
            ),
            ItemKind::Enum { name, variants } => {
                let vs: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                self.line(
                    s,
                    it.span.end,
                    &format!("enum {} {{ {} }}", name.name, vs.join(", ")),
                );
            }
            ItemKind::Fact(f) if !f.record.is_empty() => {
                // A fact with record fields: one line per attribute and field.
                self.open(s, &fact_head(f));
                for (k, v, sp) in &f.fields {
                    self.line(sp.start, sp.end, &format!("{} {}", k.name, quote(v)));
                }
                if let Some((v, sp)) = &f.valid {
                    self.line(sp.start, sp.end, &valid_text(v));
                }
                for (name, ty, sp) in &f.record {
                    self.line(
                        sp.start,
                        sp.end,
                        &format!("field {}: {}", name.name, ty.name),
                    );
                }
                self.close(it.span.end - 1);
            }
            ItemKind::Fact(f) => self.line(s, it.span.end, &fact_line(f)),
            ItemKind::Param(p) => {
                self.open(s, &format!("param {}: {}", p.name.name, p.ty.name));
                for (d, e, sp) in &p.values {
                    self.line(sp.start, sp.end, &format!("{d}: {}", expr(e)));
                }
                self.close(it.span.end - 1);
            }
            ItemKind::Table(t) => {
                self.open(s, &format!("table {}: {}", t.name.name, t.ty.name));
                self.arms(&t.arms);
                self.close(t.close.start);
            }
            ItemKind::Clause(c) => {
                self.open(s, &format!("clause {}", c.name.name));
                self.stmts(&c.stmts);
                self.close(c.close.start);
            }
            ItemKind::Select {
                name,
                fields,
                close,
            } => self.select(s, name, fields, *close),
            ItemKind::Pool {
                name,
                fields,
                close,
            } => self.pool(s, name, fields, *close),
            ItemKind::GroupCap {
                name,
                fields,
                close,
            } => self.group_cap(s, name, fields, *close),
            ItemKind::Clawback {
                name,
                fields,
                close,
            } => self.clawback(s, name, fields, *close),
            ItemKind::Test(t) => self.test(s, t),
            ItemKind::Exclude {
                name,
                cond,
                only,
                reason,
            } => {
                let mut l = format!("exclude {}: {}", name.name, expr(cond));
                if let Some(o) = only {
                    l.push_str(&format!(" for {}", Self::names(o)));
                }
                l.push_str(&reason_suffix(reason.as_deref()));
                self.line(s, it.span.end, &l);
            }
            ItemKind::Exclusive { name, clauses } => self.line(
                s,
                it.span.end,
                &format!("exclusive {} {}", name.name, Self::names(clauses)),
            ),
            ItemKind::FirmCap {
                name,
                limit,
                over,
                priority,
            } => {
                let mut l = format!("firm cap {} {}", name.name, expr(limit));
                if let Some((years, _)) = over {
                    l.push_str(&format!(" over {years}年"));
                }
                if !priority.is_empty() {
                    l.push_str(&format!(" priority {}", Self::names(priority)));
                }
                self.line(s, it.span.end, &l);
            }
        }
    }

    fn select(&mut self, s: u32, name: &Ident, fields: &[(SelectField, Span)], close: Span) {
        self.open(s, &format!("select {}", name.name));
        for (f, sp) in fields {
            let text = match f {
                SelectField::Clause(id) => format!("clause {}", id.name),
                SelectField::Score(e) => format!("score {}", expr(e)),
                SelectField::Top(e) => format!("top {}", expr(e)),
                SelectField::Tie(keys) => format!(
                    "tie {}",
                    keys.iter().map(sort_key).collect::<Vec<_>>().join(", ")
                ),
            };
            self.line(sp.start, sp.end, &text);
        }
        self.close(close.start);
    }

    fn pool(&mut self, s: u32, name: &Ident, fields: &[(PoolField, Span)], close: Span) {
        self.open(s, &format!("pool {}", name.name));
        for (f, sp) in fields {
            let text = match f {
                PoolField::Clauses(ids) => format!("clauses {}", Self::names(ids)),
                PoolField::Budget(e) => format!("budget {}", expr(e)),
                PoolField::ProRata => "pro_rata".into(),
                PoolField::ByScore(k) => format!("by score {}", sort_key(k)),
            };
            self.line(sp.start, sp.end, &text);
        }
        self.close(close.start);
    }

    fn group_cap(&mut self, s: u32, name: &Ident, fields: &[(GroupCapField, Span)], close: Span) {
        self.open(s, &format!("group cap {}", name.name));
        for (f, sp) in fields {
            let text = match f {
                GroupCapField::By(id) => format!("by {}", id.name),
                GroupCapField::Limit(e) => format!("limit {}", expr(e)),
                GroupCapField::Clauses(ids) => format!("clauses {}", Self::names(ids)),
                GroupCapField::OrderAmount(_, desc) => {
                    format!("order amount {}", if *desc { "desc" } else { "asc" })
                }
                GroupCapField::OrderKey(k) => format!("order {}", sort_key(k)),
            };
            self.line(sp.start, sp.end, &text);
        }
        self.close(close.start);
    }

    fn clawback(&mut self, s: u32, name: &Ident, fields: &[(ClawbackField, Span)], close: Span) {
        self.open(s, &format!("clawback {}", name.name));
        for (f, sp) in fields {
            let text = match f {
                ClawbackField::Ref(t) => format!("ref {}", quote(t)),
                ClawbackField::Text(t) => format!("text {}", quote(t)),
                ClawbackField::When(id) => format!("when {}", id.name),
                ClawbackField::Window(y, _) => format!("window {y}年"),
                ClawbackField::ShareRemaining(_) => "share remaining".into(),
                ClawbackField::Share(e) => format!("share {}", expr(e)),
                ClawbackField::Clauses(ids) => format!("clauses {}", Self::names(ids)),
            };
            self.line(sp.start, sp.end, &text);
        }
        self.close(close.start);
    }

    fn test(&mut self, s: u32, t: &TestAst) {
        self.open(s, &format!("test {}", quote(&t.name)));
        for st in &t.stmts {
            match st {
                TestStmt::Period(y, sp) => {
                    self.line(sp.start, sp.end, &format!("period {y}"));
                }
                TestStmt::Firm(f) => self.firm(f),
                TestStmt::Set { name, value, span } => {
                    self.line(
                        span.start,
                        span.end,
                        &format!("set {} = {}", name.name, expr(value)),
                    );
                }
                TestStmt::Expect(e) => {
                    let tr = e
                        .tranche
                        .as_ref()
                        .map(|t| format!(".{}", t.name))
                        .unwrap_or_default();
                    let because = e
                        .because
                        .as_ref()
                        .map(|b| format!(" because {}", b.name))
                        .unwrap_or_default();
                    self.line(
                        e.span.start,
                        e.span.end,
                        &format!(
                            "expect {}.{}{tr} = {}{because}",
                            e.firm.name,
                            e.clause.name,
                            expr(&e.amount)
                        ),
                    );
                }
            }
        }
        self.close(t.close.start);
    }

    fn firm(&mut self, f: &FirmAst) {
        let head = match &f.id {
            Some((code, _)) => format!("firm {} {}", f.label.name, quote(code)),
            None => format!("firm {}", f.label.name),
        };
        self.open(f.label.span.start, &head);
        for fs in &f.stmts {
            match fs {
                FirmStmt::Fact { name, value, span } => {
                    self.line(
                        span.start,
                        span.end,
                        &format!("{} = {}", name.name, Self::data(value)),
                    );
                }
                FirmStmt::Awarded {
                    clause,
                    tranche,
                    period,
                    amount,
                    span,
                } => {
                    let tr = tranche
                        .as_ref()
                        .map(|t| format!(".{}", t.name))
                        .unwrap_or_default();
                    self.line(
                        span.start,
                        span.end,
                        &format!("awarded {}{tr} {period} = {}", clause.name, expr(amount)),
                    );
                }
            }
        }
        self.close(f.close.start);
    }
}

/// `valid 3年` / `valid forever`.
fn valid_text(v: &ValidAst) -> String {
    match v {
        ValidAst::Forever => "valid forever".to_string(),
        ValidAst::For { text, unit, .. } => format!("valid {text}{}", unit.suffix()),
    }
}

/// `fact 名称: 类型`, without the braces.
fn fact_head(f: &FactAst) -> String {
    let ty = match (f.kind.as_str(), &f.ty) {
        ("event", Some(t)) => format!("event {}", t.name),
        ("event", None) => "event".to_string(),
        ("static", Some(t)) => format!("{} static", t.name),
        (k, Some(t)) => format!("{} per {k}", t.name),
        _ => String::new(),
    };
    format!("fact {}: {ty}", f.name.name)
}

fn fact_line(f: &FactAst) -> String {
    let ty = match (f.kind.as_str(), &f.ty) {
        ("event", Some(t)) => format!("event {}", t.name),
        ("event", None) => "event".to_string(),
        ("static", Some(t)) => format!("{} static", t.name),
        (k, Some(t)) => format!("{} per {k}", t.name),
        _ => String::new(),
    };
    let mut fields: Vec<String> = f
        .fields
        .iter()
        .map(|(k, v, _)| format!("{} {}", k.name, quote(v)))
        .collect();
    if let Some((v, _)) = &f.valid {
        fields.push(valid_text(v));
    }
    let body = if !fields.is_empty() {
        format!(" {{ {} }}", fields.join(" "))
    } else if f.kind == "event" && f.ty.is_none() {
        // A bare `event` takes the next word as its enum: the braces keep the next line's
        // `fact` from being read as one (found by the policy fuzzer).
        " {}".to_string()
    } else {
        String::new()
    };
    format!("fact {}: {ty}{body}", f.name.name)
}

fn sort_key(k: &SortKey) -> String {
    format!("{}{}", expr(&k.expr), if k.desc { " desc" } else { "" })
}

/// Formats a parsed file back to canonical source.
pub fn format_file(file: &File, src: &str) -> String {
    let mut p = Printer {
        src,
        out: String::new(),
        indent: 0,
        comments: &file.comments,
        ci: 0,
        last: 0,
    };
    for it in &file.items {
        p.item(it);
    }
    p.comments_before(u32::MAX);
    p.out
}

/// Parses and formats source text.
pub fn format_source(src: &str) -> Result<String, crate::Diag> {
    let f = crate::parser::parse_file(0, src)?;
    Ok(format_file(&f, src))
}

/// ` reason "…"` after a condition that has one.
fn reason_suffix(r: Option<&str>) -> String {
    r.map(|t| format!(" reason {}", quote(t)))
        .unwrap_or_default()
}
