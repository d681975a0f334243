//! Recursive-descent parser: tokens → [`ast::File`]. Stops at the first syntax error with a
//! diagnostic that says what was expected and how to fix it. Items and statements are here,
//! expressions (and the nesting limits) in `expr`.

use crate::ast::*;
use crate::diag::{did_you_mean, guess_hint, Diag, Near, Span};
use crate::lexer::{lex, Tok, Token, Unit};

mod expr;
pub use expr::{MAX_HEIGHT, MAX_NESTING};

pub struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Spans of `{` not yet closed: an unexpected end of file points at the innermost one.
    open: Vec<crate::diag::Span>,
    /// Expressions open around the current token (see [`MAX_NESTING`]).
    depth: u32,
}

type PResult<T> = Result<T, Diag>;

const ITEM_KEYWORDS: &str =
    "policy, import, enum, fact, param, table, clause, exclude, select, exclusive, pool, firm cap, group cap, clawback, test";
const CLAUSE_KEYWORDS: &str =
    "ref, text, effective, let, require, amount, cap, total cap, rounding, tranche, schedule";

pub fn parse_file(file: u32, src: &str) -> PResult<File> {
    let lexed = lex(file, src)?;
    let mut p = Parser::new(lexed.tokens);
    let mut items = Vec::new();
    while !p.at_eof() {
        items.push(p.item()?);
    }
    Ok(File {
        file,
        items,
        comments: lexed.comments,
    })
}

/// Parses a standalone expression (used by firm files: `"80亿"`).
pub fn parse_expr(src: &str) -> PResult<Expr> {
    parse_expr_in(u32::MAX, src)
}

/// Parses a standalone expression that is the whole of source file `file` (a `--set` value:
/// its diagnostics point into it).
pub fn parse_expr_in(file: u32, src: &str) -> PResult<Expr> {
    let lexed = lex(file, src)?;
    let mut p = Parser::new(lexed.tokens);
    let e = p.expr()?;
    if !p.at_eof() {
        return Err(p.unexpected(
            "表达式结束",
            "end of expression",
            "删除多余的内容",
            "remove what follows",
        ));
    }
    Ok(e)
}

impl Parser {
    /// `toks` ends with [`Tok::Eof`], as the lexer makes them.
    fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            pos: 0,
            open: vec![],
            depth: 0,
        }
    }
    // PANIC SAFETY (indexing `toks` at `pos`): the lexer ends every token list with `Eof` and
    // `bump` never moves past it, so `pos` is always a valid index.
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn span(&self) -> Span {
        self.toks[self.pos].span
    }
    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }
    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        match t.tok {
            Tok::LBrace => self.open.push(t.span),
            Tok::RBrace => {
                self.open.pop();
            }
            _ => {}
        }
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, want_zh: &str, want_en: &str, hint_zh: &str, hint_en: &str) -> Diag {
        if self.at_eof() {
            if let Some(open) = self.open.last() {
                return Diag::new(
                    "E0206",
                    *open,
                    "这个 { 没有配对的 }，文件就结束了",
                    "this { is never closed before the end of the file",
                    "在块的末尾补上 }",
                    "add the missing } at the end of the block",
                );
            }
        }
        let found = self.peek().describe();
        let found_zh = if self.at_eof() {
            "文件结尾".to_string()
        } else {
            found.clone()
        };
        Diag::new(
            "E0201",
            self.span(),
            format!("此处应为{want_zh}，却是 {found_zh}"),
            format!("expected {want_en}, found {found}"),
            hint_zh,
            hint_en,
        )
    }

    fn expect(&mut self, t: Tok, hint_zh: &str, hint_en: &str) -> PResult<Span> {
        if self.peek() == &t {
            Ok(self.bump().span)
        } else {
            let p = crate::lexer::punct(&t);
            Err(self.unexpected(&format!(" `{p}`"), &format!("`{p}`"), hint_zh, hint_en))
        }
    }

    fn ident(&mut self, what_zh: &str, what_en: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            _ => Err(self.unexpected(
                what_zh,
                what_en,
                "名称可以是中文或英文，不能以数字开头，也不能放在引号中",
                "names may be Chinese or ASCII; they cannot start with a digit or be quoted",
            )),
        }
    }

    /// A name, or a name of another policy pack's item: `政策名.条款名`, written without spaces
    /// around the dot.
    pub(crate) fn qualified(&mut self, what_zh: &str, what_en: &str) -> PResult<Ident> {
        let mut id = self.ident(what_zh, what_en)?;
        self.extend_qualified(&mut id);
        Ok(id)
    }

    /// Joins `.名称` parts that follow `id` (just read) without spaces.
    pub(crate) fn extend_qualified(&mut self, id: &mut Ident) {
        loop {
            let dot = &self.toks[self.pos];
            let Some(next) = self.toks.get(self.pos + 1) else {
                return;
            };
            let joined = matches!(dot.tok, Tok::Dot)
                && dot.span.start == id.span.end
                && next.span.start == dot.span.end;
            let Tok::Ident(part) = &next.tok else {
                return;
            };
            if !joined {
                return;
            }
            id.name = format!("{}.{part}", id.name);
            id.span = id.span.to(next.span);
            self.bump();
            self.bump();
        }
    }

    fn string(&mut self, what_zh: &str, what_en: &str) -> PResult<(String, Span)> {
        match self.peek().clone() {
            Tok::Str(s) => Ok((s, self.bump().span)),
            _ => Err(self.unexpected(
                what_zh,
                what_en,
                "文本请放在双引号中",
                "put text in double quotes",
            )),
        }
    }

    fn date(&mut self) -> PResult<(huiqi_ir::Date, Span)> {
        match self.peek().clone() {
            Tok::Date(d) => Ok((d, self.bump().span)),
            _ => Err(self.unexpected(
                "日期",
                "a date",
                "日期写作 YYYY-MM-DD",
                "write dates as YYYY-MM-DD",
            )),
        }
    }

    fn window(&mut self) -> PResult<Window> {
        let (from, s) = self.date()?;
        self.expect(
            Tok::DotDot,
            "有效期写作 2022-01-01 .. 2024-12-31",
            "write windows as 2022-01-01 .. 2024-12-31",
        )?;
        let (to, e) = self.date()?;
        Ok(Window {
            from,
            to,
            span: s.to(e),
        })
    }

    fn year(&mut self) -> PResult<(i32, Span)> {
        let year = match self.peek() {
            Tok::Num {
                text,
                unit: crate::lexer::Unit::None,
                ..
            } if text.len() == 4 && !text.contains('.') && !text.starts_with('0') => {
                text.parse().ok()
            }
            _ => None,
        };
        match year {
            Some(y) => Ok((y, self.bump().span)),
            None => Err(self.unexpected(
                "年份",
                "a year",
                "年份写作四位数字，例如 2023",
                "write a year as four digits, e.g. 2023",
            )),
        }
    }

    fn ident_list(&mut self) -> PResult<Vec<Ident>> {
        self.expect(
            Tok::LBracket,
            "名单写在方括号中，例如 [条款甲, 条款乙]",
            "lists are written in brackets: [a, b]",
        )?;
        let mut out = Vec::new();
        while !self.eat(&Tok::RBracket) {
            out.push(self.qualified("条款名称", "a clause name")?);
            if !self.eat(&Tok::Comma) {
                self.expect(
                    Tok::RBracket,
                    "名称之间用逗号分隔，以 ] 结束",
                    "separate names with commas and close with ]",
                )?;
                break;
            }
        }
        Ok(out)
    }

    fn item(&mut self) -> PResult<Item> {
        let kw = self.span();
        let word = match self.peek().clone() {
            Tok::Ident(w) => w,
            _ => {
                return Err(self.unexpected(
                    "声明（policy、fact、clause 等）",
                    "an item (policy, fact, clause, …)",
                    &format!("每个声明以关键字开头：{ITEM_KEYWORDS}"),
                    &format!("every item starts with a keyword: {ITEM_KEYWORDS}"),
                ))
            }
        };
        self.bump();
        let kind = match word.as_str() {
            "policy" => self.policy()?,
            "import" => {
                let name = self.ident("政策名称", "a policy name")?;
                if !self.eat_word("from") {
                    return Err(self.unexpected(
                        " `from`",
                        "`from`",
                        "写作 import 政策名称 from \"../其他政策包目录\"",
                        "write import PolicyName from \"../other-pack\"",
                    ));
                }
                let path = self.string(
                    "政策包目录（相对于本包）",
                    "the pack's directory (relative to this one)",
                )?;
                ItemKind::Import { name, path }
            }
            "enum" => self.enum_item()?,
            "fact" => self.fact()?,
            "param" => self.param()?,
            "table" => self.table()?,
            "clause" => self.clause()?,
            "exclude" => self.exclude()?,
            "select" => self.select()?,
            "exclusive" => {
                let name = self.ident("组名", "a group name")?;
                let clauses = self.ident_list()?;
                ItemKind::Exclusive { name, clauses }
            }
            "pool" => self.pool()?,
            "firm" => self.firm_cap()?,
            "group" => self.group_cap()?,
            "clawback" => self.clawback()?,
            "test" => self.test()?,
            other => return Err(unknown_item(other, kw)),
        };
        Ok(Item {
            kind,
            span: kw.to(self.prev_span()),
            keyword: kw,
        })
    }

    fn enum_item(&mut self) -> PResult<ItemKind> {
        let name = self.ident("枚举名称", "an enum name")?;
        self.expect(
            Tok::LBrace,
            "枚举写作 enum 名称 { 值1, 值2 }",
            "write enum Name { A, B }",
        )?;
        let mut variants = Vec::new();
        while !self.eat(&Tok::RBrace) {
            variants.push(self.ident("枚举值", "an enum variant")?);
            if !self.eat(&Tok::Comma) {
                self.expect(
                    Tok::RBrace,
                    "枚举值之间用逗号分隔，以 } 结束",
                    "separate variants with commas, close with }",
                )?;
                break;
            }
        }
        Ok(ItemKind::Enum { name, variants })
    }

    fn table(&mut self) -> PResult<ItemKind> {
        let name = self.ident("表名", "a table name")?;
        self.expect(
            Tok::Colon,
            "写作 table 名称: money { … }",
            "write table Name: money { … }",
        )?;
        let ty = self.ident("类型", "a type")?;
        let (arms, close, _) = self.tier_arms()?;
        Ok(ItemKind::Table(TableAst {
            name,
            ty,
            arms,
            close,
        }))
    }

    fn exclude(&mut self) -> PResult<ItemKind> {
        let name = self.ident("负面清单名称", "a name for the exclusion")?;
        self.expect(
            Tok::Colon,
            "写作 exclude 名称: 条件",
            "write exclude Name: condition",
        )?;
        let cond = self.expr()?;
        let only = if self.eat_word("for") {
            Some(self.ident_list()?)
        } else {
            None
        };
        let reason = self.reason_text()?;
        Ok(ItemKind::Exclude {
            name,
            cond,
            only,
            reason,
        })
    }

    /// `分|元|百元|千元|万元 [half_up|down|up]` after `rounding`.
    fn rounding(&mut self) -> PResult<RoundingAst> {
        let unit = self.ident(
            "取整单位（分、元、百元、千元、万元）",
            "a rounding unit (分, 元, 百元, 千元, 万元)",
        )?;
        let mode = match self.peek() {
            Tok::Ident(w) if huiqi_ir::money::RoundMode::from_name(w).is_some() => {
                Some(self.ident("取整方式", "a rounding mode")?)
            }
            _ => None,
        };
        Ok(RoundingAst { unit, mode })
    }

    /// An optional `reason "…"` after a condition: the text an explanation gives when it
    /// fails (or, for a negative list, when it matches).
    fn reason_text(&mut self) -> PResult<Option<String>> {
        if !self.eat_word("reason") {
            return Ok(None);
        }
        let (text, span) = self.string("理由文本", "the reason's text")?;
        if text.trim().is_empty() {
            return Err(Diag::new(
                "E0209",
                span,
                "理由文本为空",
                "the reason's text is empty",
                "写出企业能读懂的原因，例如 reason \"房地产业、金融业企业不适用本条\"",
                "write a cause a firm can read, e.g. reason \"not for real estate or finance\"",
            ));
        }
        Ok(Some(text))
    }

    /// `firm cap Name amount priority [..]`, after `firm`.
    fn firm_cap(&mut self) -> PResult<ItemKind> {
        if !self.eat_word("cap") {
            return Err(self.unexpected(
                "`cap`",
                "`cap`",
                "单企业上限写作 firm cap 名称 金额 priority [..]",
                "write firm cap Name amount priority [..]",
            ));
        }
        let name = self.ident("上限名称", "a name for the cap")?;
        let limit = self.expr()?;
        let over = if self.eat_word("over") {
            match self.peek().clone() {
                Tok::Num {
                    unit: Unit::Years,
                    value,
                    ..
                } => {
                    self.bump();
                    Some((value, self.prev_span()))
                }
                _ => {
                    return Err(self.unexpected(
                        "年数（如 3年）",
                        "a number of years (e.g. 3年)",
                        "多年累计上限写作 firm cap 名称 金额 over 3年 priority [..]（本年与此前两年合计）",
                        "a cap over several years is firm cap Name amount over 3年 priority [..] (this year and the two before)",
                    ))
                }
            }
        } else {
            None
        };
        let priority = if self.eat_word("priority") {
            self.ident_list()?
        } else {
            vec![]
        };
        Ok(ItemKind::FirmCap {
            name,
            limit,
            over,
            priority,
        })
    }

    fn policy(&mut self) -> PResult<ItemKind> {
        let name = self.ident("政策名称", "a policy name")?;
        self.expect(
            Tok::LBrace,
            "写作 policy 名称 { … }",
            "write policy Name { … }",
        )?;
        let mut fields = Vec::new();
        while !self.eat(&Tok::RBrace) {
            let start = self.span();
            let key = self.ident(
                "字段（title、issuer、version、effective、rounding）",
                "a field (title, issuer, version, effective, rounding)",
            )?;
            let f = match key.name.as_str() {
                "title" | "issuer" | "version" => {
                    let (value, _) = self.string("文本", "text")?;
                    HeaderField::Text { key, value }
                }
                "effective" => HeaderField::Effective(self.window()?),
                "rounding" => HeaderField::Rounding(self.rounding()?),
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("政策头中未知的字段 `{other}`"),
                        format!("unknown policy field `{other}`"),
                        "可用字段：title、issuer、version、effective、rounding",
                        "fields: title, issuer, version, effective, rounding",
                    ))
                }
            };
            fields.push((f, start.to(self.prev_span())));
        }
        Ok(ItemKind::Policy(PolicyAst { name, fields }))
    }

    fn fact(&mut self) -> PResult<ItemKind> {
        let name = self.ident("事实名称", "a fact name")?;
        self.expect(
            Tok::Colon,
            "写作 fact 名称: money per year { … }",
            "write fact Name: money per year { … }",
        )?;
        let (ty, kind) = if self.eat_word("event") {
            let ty = if let Tok::Ident(_) = self.peek() {
                Some(self.ident("枚举名称", "an enum name")?)
            } else {
                None
            };
            (ty, "event".to_string())
        } else {
            let ty = self.ident(
                "类型（money、ratio、count、bool、date 或枚举名）",
                "a type (money, ratio, count, bool, date or an enum)",
            )?;
            let kind = if self.eat_word("static") {
                "static"
            } else if self.eat_word("per") {
                if self.eat_word("year") {
                    "year"
                } else if self.eat_word("month") {
                    "month"
                } else {
                    return Err(self.unexpected(
                        "`year` 或 `month`",
                        "`year` or `month`",
                        "期间写作 per year 或 per month",
                        "write per year or per month",
                    ));
                }
            } else {
                return Err(self.unexpected(
                    "期间（static、per year、per month）",
                    "a period (static, per year, per month)",
                    "例如 fact 营业收入: money per year { … }",
                    "e.g. fact revenue: money per year { … }",
                ));
            };
            (Some(ty), kind.to_string())
        };
        let mut fields = Vec::new();
        let mut record = Vec::new();
        let mut valid = None;
        if self.eat(&Tok::LBrace) {
            while !self.eat(&Tok::RBrace) {
                let key = self.ident("`label` 或 `source`", "`label` or `source`")?;
                if key.name == "valid" && kind == "event" {
                    let v = match self.peek().clone() {
                        Tok::Ident(w) if w == "forever" => {
                            self.bump();
                            ValidAst::Forever
                        }
                        Tok::Num {
                            text, unit, value, ..
                        } if unit.is_duration() => {
                            self.bump();
                            ValidAst::For { text, unit, value }
                        }
                        _ => {
                            return Err(self.unexpected(
                                "有效期（如 3年、6个月、30天）或 forever",
                                "a validity (e.g. 3年, 6个月, 30天) or forever",
                                "写作 valid 3年：没有有效期止日的记录自发生日起3年内有效",
                                "write valid 3年: a record without an end is valid for 3 years from its date",
                            ))
                        }
                    };
                    valid = Some((v, key.span.to(self.prev_span())));
                    continue;
                }
                if key.name == "field" && kind == "event" {
                    let name = self.ident("字段名称", "a field name")?;
                    self.expect(
                        Tok::Colon,
                        "写作 field 本金: money",
                        "write field principal: money",
                    )?;
                    let ty = self.ident(
                        "字段类型（money、ratio 或 count）",
                        "a field type (money, ratio or count)",
                    )?;
                    let sp = key.span.to(ty.span);
                    record.push((name, ty, sp));
                    continue;
                }
                if key.name != "label" && key.name != "source" {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("事实声明中未知的字段 `{}`", key.name),
                        format!("unknown fact field `{}`", key.name),
                        "可用字段：label（名称）、source（数据来源系统）；事件事实还可有 field 名称: money 和 valid 3年",
                        "fields: label, source (the source system); an event fact may also have field name: money and valid 3年",
                    ));
                }
                let (v, s) = self.string("文本", "text")?;
                let sp = key.span.to(s);
                fields.push((key, v, sp));
            }
        }
        Ok(ItemKind::Fact(FactAst {
            name,
            ty,
            kind,
            fields,
            record,
            valid,
        }))
    }

    fn param(&mut self) -> PResult<ItemKind> {
        let name = self.ident("参数名称", "a parameter name")?;
        self.expect(
            Tok::Colon,
            "写作 param 名称: money { 2022-01-01: 5万 }",
            "write param Name: money { 2022-01-01: 5万 }",
        )?;
        let ty = self.ident("类型", "a type")?;
        self.expect(
            Tok::LBrace,
            "参数值写在花括号中",
            "parameter values go in braces",
        )?;
        let mut values = Vec::new();
        while !self.eat(&Tok::RBrace) {
            let (d, s) = self.date()?;
            self.expect(Tok::Colon, "写作 生效日期: 值", "write date: value")?;
            let e = self.expr()?;
            let sp = s.to(e.span);
            values.push((d, e, sp));
        }
        Ok(ItemKind::Param(ParamAst { name, ty, values }))
    }

    fn clause_stmts(&mut self, in_tranche: bool) -> PResult<(Vec<Stmt>, Span)> {
        self.expect(
            Tok::LBrace,
            "条款内容写在花括号中",
            "a clause body goes in braces",
        )?;
        let mut stmts = Vec::new();
        loop {
            if matches!(self.peek(), Tok::RBrace) {
                let close = self.bump().span;
                return Ok((stmts, close));
            }
            stmts.push(self.clause_stmt(in_tranche)?);
        }
    }

    /// One statement of a clause body (or of a tranche: fewer statements are allowed there).
    fn clause_stmt(&mut self, in_tranche: bool) -> PResult<Stmt> {
        let start = self.span();
        let word = match self.peek().clone() {
            Tok::Ident(w) => w,
            Tok::Eof => {
                return Err(self.unexpected(
                    "`}`",
                    "`}`",
                    "条款缺少结束的 }",
                    "the clause is missing its closing }",
                ));
            }
            _ => {
                return Err(self.unexpected(
                    "条款语句",
                    "a clause statement",
                    &format!("条款中的语句以关键字开头：{CLAUSE_KEYWORDS}"),
                    &format!("clause statements start with: {CLAUSE_KEYWORDS}"),
                ))
            }
        };
        self.bump();
        let kind = match word.as_str() {
            "ref" if !in_tranche => StmtKind::Ref(
                self.string(
                    "条款出处（如 \"第三条第（一）款\"）",
                    "a source reference string",
                )?
                .0,
            ),
            "text" if !in_tranche => StmtKind::Text(self.string("原文", "the original text")?.0),
            "effective" if !in_tranche => StmtKind::Effective(self.window()?),
            "let" => StmtKind::Let(self.named_stmt(start, true)?),
            "require" => StmtKind::Require(self.named_stmt(start, false)?),
            "amount" => StmtKind::Amount(self.expr()?),
            "cap" if !in_tranche => StmtKind::Cap(self.expr()?),
            "rounding" if !in_tranche => StmtKind::Rounding(self.rounding()?),
            "total" if !in_tranche => {
                if !self.eat_word("cap") {
                    return Err(self.unexpected(
                        "`cap`",
                        "`cap`",
                        "累计上限写作 total cap 1000万",
                        "write total cap 1000万",
                    ));
                }
                StmtKind::TotalCap(self.expr()?)
            }
            "tranche" if !in_tranche => {
                let name = self.ident("分期名称", "a tranche name")?;
                let (stmts, close) = self.clause_stmts(true)?;
                StmtKind::Tranche(TrancheAst { name, stmts, close })
            }
            "schedule" if !in_tranche => StmtKind::Schedule(self.schedule()?),
            other => return Err(unknown_clause_stmt(other, start)),
        };
        Ok(Stmt {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    /// `let name = expr` or `require name: expr`, after the keyword at `start`.
    fn named_stmt(&mut self, start: Span, is_let: bool) -> PResult<NamedExpr> {
        let name = self.ident("名称", "a name")?;
        if is_let {
            self.expect(
                Tok::Assign,
                "写作 let 名称 = 表达式",
                "write let name = expression",
            )?;
        } else {
            self.expect(
                Tok::Colon,
                "每个条件都有名称：require 名称: 条件",
                "every condition has a name: require name: condition",
            )?;
        }
        let expr = self.expr()?;
        let reason = if is_let { None } else { self.reason_text()? };
        Ok(NamedExpr {
            span: start.to(self.prev_span()),
            name,
            expr,
            reason,
        })
    }

    /// `schedule fact mode { stage => amount, … }`, after `schedule`.
    fn schedule(&mut self) -> PResult<ScheduleAst> {
        let fact = self.ident("事件事实名称", "an event fact")?;
        let mode = self.ident("`each` 或 `cumulative`", "`each` or `cumulative`")?;
        self.expect(
            Tok::LBrace,
            "阶段写在花括号中：阶段 => 金额",
            "stages go in braces: stage => amount",
        )?;
        let mut stages = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let st = self.ident("阶段名称", "a stage name")?;
            self.expect(Tok::Arrow, "写作 阶段 => 金额", "write stage => amount")?;
            let e = self.expr()?;
            let sp = st.span.to(e.span);
            stages.push((st, e, sp));
            self.eat(&Tok::Comma);
        };
        Ok(ScheduleAst {
            fact,
            mode,
            stages,
            close,
        })
    }

    fn clause(&mut self) -> PResult<ItemKind> {
        let name = self.ident("条款名称", "a clause name")?;
        let (stmts, close) = self.clause_stmts(false)?;
        Ok(ItemKind::Clause(ClauseAst { name, stmts, close }))
    }

    fn sort_key(&mut self) -> PResult<SortKey> {
        let expr = self.expr()?;
        let mut span = expr.span;
        let desc = if self.is_word("desc") {
            span = span.to(self.bump().span);
            true
        } else {
            if self.is_word("asc") {
                span = span.to(self.bump().span);
            }
            false
        };
        Ok(SortKey { expr, desc, span })
    }

    fn select(&mut self) -> PResult<ItemKind> {
        let name = self.ident("遴选名称", "a selection name")?;
        self.expect(
            Tok::LBrace,
            "写作 select 名称 { clause … score … top … tie … }",
            "write select Name { clause … score … top … tie … }",
        )?;
        let mut fields = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let key = self.ident(
                "`clause`、`score`、`top` 或 `tie`",
                "`clause`, `score`, `top` or `tie`",
            )?;
            let f = match key.name.as_str() {
                "clause" => SelectField::Clause(self.qualified("条款名称", "a clause name")?),
                "score" => SelectField::Score(self.expr()?),
                "top" => SelectField::Top(self.expr()?),
                "tie" => {
                    let mut keys = vec![self.sort_key()?];
                    while self.eat(&Tok::Comma) {
                        keys.push(self.sort_key()?);
                    }
                    SelectField::Tie(keys)
                }
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("select 中未知的字段 `{other}`"),
                        format!("unknown select field `{other}`"),
                        "可用字段：clause、score、top、tie",
                        "fields: clause, score, top, tie",
                    ))
                }
            };
            fields.push((f, key.span.to(self.prev_span())));
        };
        Ok(ItemKind::Select {
            name,
            fields,
            close,
        })
    }

    fn pool(&mut self) -> PResult<ItemKind> {
        let name = self.ident("资金池名称", "a pool name")?;
        self.expect(
            Tok::LBrace,
            "写作 pool 名称 { clauses [..] budget 金额 pro_rata }",
            "write pool Name { clauses [..] budget amount pro_rata }",
        )?;
        let mut fields = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let key = self.ident(
                "`clauses`、`budget`、`pro_rata` 或 `by`",
                "`clauses`, `budget`, `pro_rata` or `by`",
            )?;
            let f = match key.name.as_str() {
                "clauses" => PoolField::Clauses(self.ident_list()?),
                "budget" => PoolField::Budget(self.expr()?),
                "pro_rata" => PoolField::ProRata,
                "by" => {
                    if !self.eat_word("score") {
                        return Err(self.unexpected(
                            "`score`",
                            "`score`",
                            "按排名分配写作 by score 表达式 desc",
                            "write by score expr desc",
                        ));
                    }
                    PoolField::ByScore(self.sort_key()?)
                }
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("pool 中未知的字段 `{other}`"),
                        format!("unknown pool field `{other}`"),
                        "可用字段：clauses、budget、pro_rata、by score",
                        "fields: clauses, budget, pro_rata, by score",
                    ))
                }
            };
            fields.push((f, key.span.to(self.prev_span())));
        };
        Ok(ItemKind::Pool {
            name,
            fields,
            close,
        })
    }

    /// `group cap Name { by 事实 limit 金额 clauses [..] order amount desc }`, after `group`.
    fn group_cap(&mut self) -> PResult<ItemKind> {
        if !self.eat_word("cap") {
            return Err(self.unexpected(
                "`cap`",
                "`cap`",
                "集团上限写作 group cap 名称 { by 实际控制人 limit 金额 order amount desc }",
                "write group cap Name { by Controller limit amount order amount desc }",
            ));
        }
        let name = self.ident("上限名称", "a name for the cap")?;
        self.expect(
            Tok::LBrace,
            "写作 group cap 名称 { by 实际控制人 limit 金额 clauses [..] order amount desc }",
            "write group cap Name { by Controller limit amount clauses [..] order amount desc }",
        )?;
        let mut fields = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let key = self.ident(
                "`by`、`limit`、`clauses` 或 `order`",
                "`by`, `limit`, `clauses` or `order`",
            )?;
            let f = match key.name.as_str() {
                "by" => GroupCapField::By(self.ident("文本事实名称", "a text fact's name")?),
                "limit" => GroupCapField::Limit(self.expr()?),
                "clauses" => GroupCapField::Clauses(self.ident_list()?),
                "order" => {
                    if self.is_word("amount") {
                        let id = self.ident("amount", "amount")?;
                        let desc = if self.is_word("desc") {
                            self.bump();
                            true
                        } else {
                            if self.is_word("asc") {
                                self.bump();
                            }
                            false
                        };
                        GroupCapField::OrderAmount(id, desc)
                    } else {
                        GroupCapField::OrderKey(self.sort_key()?)
                    }
                }
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("group cap 中未知的字段 `{other}`"),
                        format!("unknown group cap field `{other}`"),
                        "可用字段：by、limit、clauses、order",
                        "fields: by, limit, clauses, order",
                    ))
                }
            };
            fields.push((f, key.span.to(self.prev_span())));
        };
        Ok(ItemKind::GroupCap {
            name,
            fields,
            close,
        })
    }

    /// `clawback Name { ref "…" text "…" when 事件 window 5年 share remaining|比例 clauses [..] }`,
    /// after `clawback`.
    fn clawback(&mut self) -> PResult<ItemKind> {
        let name = self.ident("追回规则名称", "a name for the clawback")?;
        self.expect(
            Tok::LBrace,
            "写作 clawback 名称 { when 迁出本区 window 5年 share remaining }",
            "write clawback Name { when MovedOut window 5年 share remaining }",
        )?;
        let mut fields = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let key = self.ident(
                "`ref`、`text`、`when`、`window`、`share` 或 `clauses`",
                "`ref`, `text`, `when`, `window`, `share` or `clauses`",
            )?;
            let f = match key.name.as_str() {
                "ref" => {
                    ClawbackField::Ref(self.string("条文出处（带引号）", "a quoted reference")?.0)
                }
                "text" => {
                    ClawbackField::Text(self.string("条文原文（带引号）", "the quoted text")?.0)
                }
                "when" => ClawbackField::When(self.ident("事件事实名称", "an event fact's name")?),
                "window" => match self.peek().clone() {
                    Tok::Num {
                        unit: Unit::Years,
                        value,
                        ..
                    } => {
                        self.bump();
                        ClawbackField::Window(value, self.prev_span())
                    }
                    _ => {
                        return Err(self.unexpected(
                            "年数（如 5年）",
                            "a number of years (e.g. 5年)",
                            "写作 window 5年：追回此前五个年度的奖励",
                            "write window 5年: awards of the five periods before",
                        ))
                    }
                },
                "share" => {
                    if self.is_word("remaining") {
                        ClawbackField::ShareRemaining(self.ident("remaining", "remaining")?)
                    } else {
                        ClawbackField::Share(self.expr()?)
                    }
                }
                "clauses" => ClawbackField::Clauses(self.ident_list()?),
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("clawback 中未知的字段 `{other}`"),
                        format!("unknown clawback field `{other}`"),
                        "可用字段：ref、text、when、window、share、clauses",
                        "fields: ref, text, when, window, share, clauses",
                    ))
                }
            };
            fields.push((f, key.span.to(self.prev_span())));
        };
        Ok(ItemKind::Clawback {
            name,
            fields,
            close,
        })
    }

    fn test(&mut self) -> PResult<ItemKind> {
        let (name, name_span) = self.string("测试名称（带引号）", "a quoted test name")?;
        self.expect(
            Tok::LBrace,
            "测试内容写在花括号中",
            "a test body goes in braces",
        )?;
        let mut stmts = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let key = self.ident(
                "`period`、`firm`、`set` 或 `expect`",
                "`period`, `firm`, `set` or `expect`",
            )?;
            match key.name.as_str() {
                "period" => {
                    let (y, s) = self.year()?;
                    stmts.push(TestStmt::Period(y, key.span.to(s)));
                }
                "firm" => stmts.push(TestStmt::Firm(self.firm()?)),
                "expect" => stmts.push(TestStmt::Expect(self.expect_stmt(key.span)?)),
                "set" => {
                    let name = self.ident("参数名称", "a parameter name")?;
                    self.expect(Tok::Assign, "参数名称后写 =", "write = after the name")?;
                    let value = self.expr()?;
                    let span = key.span.to(value.span);
                    stmts.push(TestStmt::Set { name, value, span });
                }
                other => {
                    return Err(Diag::new(
                        "E0203",
                        key.span,
                        format!("测试中未知的语句 `{other}`"),
                        format!("unknown test statement `{other}`"),
                        "可用：period、firm、set、expect",
                        "statements: period, firm, set, expect",
                    ))
                }
            }
        };
        Ok(ItemKind::Test(TestAst {
            name,
            name_span,
            stmts,
            close,
        }))
    }

    /// `expect firm.clause[.tranche] = amount [because reason]`, after the keyword at `start`.
    fn expect_stmt(&mut self, start: Span) -> PResult<ExpectAst> {
        let firm = self.ident("企业名称", "a firm label")?;
        self.expect(
            Tok::Dot,
            "写作 expect 企业.条款 = 金额",
            "write expect firm.clause = amount",
        )?;
        let clause = self.ident("条款名称或 total", "a clause name or total")?;
        let (clause, tranche) = self.clause_and_tranche(clause)?;
        self.expect(
            Tok::Assign,
            "写作 expect 企业.条款 = 金额",
            "write expect firm.clause = amount",
        )?;
        let amount = self.expr()?;
        let because = if self.eat_word("because") {
            Some(self.qualified(
                "原因（条件或规则名称）",
                "a reason (condition or rule name)",
            )?)
        } else {
            None
        };
        Ok(ExpectAst {
            span: start.to(self.prev_span()),
            firm,
            clause,
            tranche,
            amount,
            because,
        })
    }

    /// After a test's clause name: `.分期`, or `.条款.分期` when the first name is another
    /// pack's (`市级政策.专精特新奖励.首期`). `a.b` is ambiguous here — a tranche of clause `a`,
    /// or clause `b` of pack `a` — and the checker decides by the names declared.
    fn clause_and_tranche(&mut self, clause: Ident) -> PResult<(Ident, Option<Ident>)> {
        if !self.eat(&Tok::Dot) {
            return Ok((clause, None));
        }
        let second = self.ident("分期名称", "a tranche name")?;
        if !self.eat(&Tok::Dot) {
            return Ok((clause, Some(second)));
        }
        let third = self.ident("分期名称", "a tranche name")?;
        let joined = Ident {
            name: format!("{}.{}", clause.name, second.name),
            span: clause.span.to(second.span),
        };
        Ok((joined, Some(third)))
    }

    fn firm(&mut self) -> PResult<FirmAst> {
        let label = self.ident("企业名称", "a firm label")?;
        let id = if let Tok::Str(_) = self.peek() {
            Some(self.string("", "")?)
        } else {
            None
        };
        self.expect(
            Tok::LBrace,
            "企业数据写在花括号中",
            "firm data goes in braces",
        )?;
        let mut stmts = Vec::new();
        let close = loop {
            if matches!(self.peek(), Tok::RBrace) {
                break self.bump().span;
            }
            let name = self.ident("事实名称或 awarded", "a fact name or awarded")?;
            if name.name == "awarded" && !matches!(self.peek(), Tok::Assign) {
                let clause = self.ident("条款名称", "a clause name")?;
                let (clause, tranche) = self.clause_and_tranche(clause)?;
                let (period, _) = self.year()?;
                self.expect(
                    Tok::Assign,
                    "写作 awarded 条款 年份 = 金额",
                    "write awarded clause year = amount",
                )?;
                let amount = self.expr()?;
                stmts.push(FirmStmt::Awarded {
                    span: name.span.to(amount.span),
                    clause,
                    tranche,
                    period,
                    amount,
                });
                continue;
            }
            self.expect(Tok::Assign, "写作 事实 = 值", "write fact = value")?;
            let value = self.data_value()?;
            stmts.push(FirmStmt::Fact {
                span: name.span.to(self.prev_span()),
                name,
                value,
            });
        };
        Ok(FirmAst {
            label,
            id,
            stmts,
            close,
        })
    }

    fn data_value(&mut self) -> PResult<DataValue> {
        match self.peek() {
            Tok::LBrace => {
                self.bump();
                self.periods()
            }
            Tok::LBracket if matches!(self.peek_at(1), Tok::Date(_) | Tok::RBracket) => {
                self.bump();
                self.events()
            }
            _ => Ok(DataValue::Scalar(self.expr()?)),
        }
    }

    /// `{2022: 90亿, 2023-01: 5, …}` after the `{`.
    fn periods(&mut self) -> PResult<DataValue> {
        let mut out = Vec::new();
        while !self.eat(&Tok::RBrace) {
            let s = self.span();
            let key = match self.peek().clone() {
                Tok::Month(y, m) => {
                    self.bump();
                    PeriodKey::Month(y, m)
                }
                _ => PeriodKey::Year(self.year()?.0),
            };
            self.expect(
                Tok::Colon,
                "写作 {2022: 90亿, 2023: 120亿}",
                "write {2022: 90亿, 2023: 120亿}",
            )?;
            let e = self.expr()?;
            let span = s.to(e.span);
            out.push((key, e, span));
            if !self.eat(&Tok::Comma) {
                self.expect(
                    Tok::RBrace,
                    "各期之间用逗号分隔，以 } 结束",
                    "separate periods with commas, close with }",
                )?;
                break;
            }
        }
        Ok(DataValue::Periods(out))
    }

    /// `[2023-03-01: value, 2021-11-20 .. 2024-11-19, …]` after the `[`.
    fn events(&mut self) -> PResult<DataValue> {
        let mut out = Vec::new();
        while !self.eat(&Tok::RBracket) {
            let (date, s) = self.date()?;
            let until = if self.eat(&Tok::DotDot) {
                Some(self.date()?.0)
            } else {
                None
            };
            let value = if self.eat(&Tok::Colon) {
                Some(self.ident("事件值", "an event value")?)
            } else {
                None
            };
            let mut nums = Vec::new();
            if self.eat(&Tok::LBrace) {
                while !self.eat(&Tok::RBrace) {
                    let name = self.ident("字段名称", "a field name")?;
                    self.expect(
                        Tok::Assign,
                        "写作 {本金 = 1000万, 实付利息 = 30万}",
                        "write {principal = 1000万, interest = 30万}",
                    )?;
                    let e = self.expr()?;
                    let sp = name.span.to(e.span);
                    nums.push((name, e, sp));
                    if !self.eat(&Tok::Comma) {
                        self.expect(
                            Tok::RBrace,
                            "字段之间用逗号分隔，以 } 结束",
                            "separate fields with commas, close with }",
                        )?;
                        break;
                    }
                }
            }
            out.push(EventAst {
                date,
                until,
                value,
                nums,
                span: s.to(self.prev_span()),
            });
            if !self.eat(&Tok::Comma) {
                self.expect(
                    Tok::RBracket,
                    "事件之间用逗号分隔，以 ] 结束",
                    "separate events with commas, close with ]",
                )?;
                break;
            }
        }
        Ok(DataValue::Events(out))
    }
}

fn unknown_item(word: &str, at: Span) -> Diag {
    const ITEMS: [&str; 15] = [
        "policy",
        "import",
        "enum",
        "fact",
        "param",
        "table",
        "clause",
        "exclude",
        "select",
        "exclusive",
        "pool",
        "firm",
        "group",
        "clawback",
        "test",
    ];
    let keywords = (
        format!("声明关键字：{ITEM_KEYWORDS}"),
        format!("item keywords: {ITEM_KEYWORDS}"),
    );
    let keywords = (keywords.0.as_str(), keywords.1.as_str());
    let (hint_zh, hint_en) =
        guess_hint(did_you_mean(word, ITEMS, Near::Keyword), keywords, keywords);
    Diag::new(
        "E0202",
        at,
        format!("未知的声明 `{word}`"),
        format!("unknown item `{word}`"),
        hint_zh,
        hint_en,
    )
}

fn unknown_clause_stmt(word: &str, at: Span) -> Diag {
    const STATEMENTS: [&str; 10] = [
        "ref",
        "text",
        "effective",
        "let",
        "require",
        "amount",
        "cap",
        "total",
        "tranche",
        "schedule",
    ];
    let keywords = (
        format!("可用：{CLAUSE_KEYWORDS}"),
        format!("statements: {CLAUSE_KEYWORDS}"),
    );
    let keywords = (keywords.0.as_str(), keywords.1.as_str());
    let guess = did_you_mean(word, STATEMENTS, Near::Keyword);
    let (hint_zh, hint_en) = guess_hint(guess, keywords, keywords);
    Diag::new(
        "E0204",
        at,
        format!("条款中未知的语句 `{word}`"),
        format!("unknown clause statement `{word}`"),
        hint_zh,
        hint_en,
    )
}
