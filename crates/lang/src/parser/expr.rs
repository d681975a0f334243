//! Expressions: precedence climbing over the binary operators, with two limits that keep every
//! later recursive pass — checker, formatter, both evaluators — far from the end of its stack.

use super::{PResult, Parser};
use crate::ast::*;
use crate::diag::{Diag, Span};
use crate::lexer::Tok;

/// How many expressions may be open inside one another. Each parenthesis, list, call, `if`,
/// `tiers`, `not` and unary minus opens one level; real policies stay under ten.
pub const MAX_NESTING: u32 = 64;

/// How tall an expression's tree may be (a name or a number is 1). A chain `a + b + … + z` of n
/// terms is n tall — the operators are left-associative — and nesting adds to it. Later passes
/// recurse once or twice per level, so this bounds their stack, not just the parser's.
pub const MAX_HEIGHT: u32 = 256;

/// An expression and the height of its tree.
pub(super) struct Node {
    pub(super) expr: Expr,
    pub(super) height: u32,
}

fn leaf(kind: ExprKind, span: Span) -> Node {
    Node {
        expr: Expr { kind, span },
        height: 1,
    }
}

/// A node one level above its tallest child (`child` high); `at` is where a too-tall tree is
/// reported.
fn grow(kind: ExprKind, span: Span, child: u32, at: Span) -> PResult<Node> {
    let height = child + 1;
    if height > MAX_HEIGHT {
        return Err(Diag::new(
            "E0208",
            at,
            format!("表达式过长：运算超过 {MAX_HEIGHT} 层"),
            format!("expression too long: more than {MAX_HEIGHT} levels of operators"),
            "用括号把长的算式分组以减少层数，例如 (a + b + c) + (d + e + f)",
            "group a long chain with parentheses to make it shallower, e.g. (a + b + c) + (d + e + f)",
        ));
    }
    Ok(Node {
        expr: Expr { kind, span },
        height,
    })
}

/// `lhs op rhs`; `at` is the operator.
fn binary_node(op: BinOpAst, lhs: Node, rhs: Node, at: Span) -> PResult<Node> {
    let span = lhs.expr.span.to(rhs.expr.span);
    let child = lhs.height.max(rhs.height);
    grow(
        ExprKind::Binary(op, Box::new(lhs.expr), Box::new(rhs.expr)),
        span,
        child,
        at,
    )
}

/// Separators and closers of the three comma lists (values, list literals, call arguments).
const VALUES: (&str, &str) = (
    "值之间用逗号分隔，以 ] 结束",
    "separate values with commas, close with ]",
);
const ARGUMENTS: (&str, &str) = (
    "参数之间用逗号分隔，以 ) 结束",
    "separate arguments with commas, close with )",
);

impl Parser {
    pub fn expr(&mut self) -> PResult<Expr> {
        Ok(self.node()?.expr)
    }

    pub(super) fn node(&mut self) -> PResult<Node> {
        self.binary(1)
    }

    /// Runs `f` one nesting level deeper; `at` is the token that opened the level.
    fn nested<T>(&mut self, at: Span, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_NESTING {
            return Err(Diag::new(
                "E0207",
                at,
                format!("嵌套过深：表达式嵌套超过 {MAX_NESTING} 层（括号、列表、函数调用、if、tiers、not、负号）"),
                format!("nested too deeply: more than {MAX_NESTING} levels of parentheses, lists, calls, if, tiers, not or minus"),
                "用 let 给中间结果命名，或把层层嵌套的 if 改写为 tiers 档位表",
                "name intermediate results with let, or turn nested ifs into a tiers table",
            ));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn binop(&self) -> Option<BinOpAst> {
        Some(match self.peek() {
            Tok::Ident(w) if w == "or" => BinOpAst::Or,
            Tok::Ident(w) if w == "and" => BinOpAst::And,
            Tok::Ge => BinOpAst::Ge,
            Tok::Gt => BinOpAst::Gt,
            Tok::Le => BinOpAst::Le,
            Tok::Lt => BinOpAst::Lt,
            Tok::Assign => BinOpAst::Eq,
            Tok::Ne => BinOpAst::Ne,
            Tok::Coalesce => BinOpAst::Coalesce,
            Tok::Plus => BinOpAst::Add,
            Tok::Minus => BinOpAst::Sub,
            Tok::Star => BinOpAst::Mul,
            Tok::Slash => BinOpAst::Div,
            _ => return None,
        })
    }

    /// Operators binding at least as tightly as `min`, left to right.
    fn binary(&mut self, min: u8) -> PResult<Node> {
        let mut lhs = if min <= 3 && self.is_word("not") {
            let s = self.bump().span;
            let e = self.nested(s, |p| p.binary(3))?;
            let span = s.to(e.expr.span);
            grow(
                ExprKind::Unary(UnOp::Not, Box::new(e.expr)),
                span,
                e.height,
                s,
            )?
        } else {
            self.unary()?
        };
        loop {
            // `x in [..]` / `x not in [..]` bind like comparisons.
            if min <= 4
                && (self.is_word("in")
                    || (self.is_word("not")
                        && matches!(self.peek_at(1), Tok::Ident(w) if w == "in")))
            {
                lhs = self.in_list(lhs)?;
                continue;
            }
            let Some(op) = self.binop() else { break };
            let p = op.prec();
            if p < min {
                break;
            }
            let at = self.bump().span;
            if matches!(self.peek(), Tok::Eof | Tok::RBrace)
                || (self.toks[self.pos].newline_before && self.binop().is_some())
            {
                return Err(self.missing_rhs(op));
            }
            // Comparisons do not chain: a < b < c is an error.
            let next_min = if p == 4 { 5 } else { p + 1 };
            let rhs = self.binary(next_min)?;
            lhs = binary_node(op, lhs, rhs, at)?;
            if p == 4 && matches!(self.binop(), Some(o) if o.prec() == 4) {
                return Err(Diag::new(
                    "E0205",
                    self.span(),
                    "比较运算不能连写",
                    "comparisons cannot be chained",
                    "用 and 连接两个比较，例如 a >= 1 and a < 5",
                    "join two comparisons with and, e.g. a >= 1 and a < 5",
                ));
            }
        }
        Ok(lhs)
    }

    /// An operator at the end of the input, a block or a line.
    fn missing_rhs(&self, op: BinOpAst) -> Diag {
        self.unexpected(
            &format!(" `{}` 右侧的表达式", op.symbol()),
            &format!("an expression after `{}`", op.symbol()),
            "运算符两侧都需要值",
            "an operator needs a value on both sides",
        )
    }

    /// `subject in [..]` or `subject not in [..]`, at `not` or `in`.
    fn in_list(&mut self, subject: Node) -> PResult<Node> {
        let negated = self.eat_word("not");
        self.bump();
        let open = self.expect(Tok::LBracket, "写作 x in [值1, 值2]", "write x in [a, b]")?;
        let (list, h) = self.nested(open, |p| p.items(Tok::RBracket, VALUES))?;
        let span = subject.expr.span.to(self.prev_span());
        let child = subject.height.max(h);
        let kind = ExprKind::In {
            subject: Box::new(subject.expr),
            list,
            negated,
        };
        grow(kind, span, child, open)
    }

    /// Comma-separated expressions up to `close` (the opener is already consumed), and the
    /// height of the tallest.
    fn items(&mut self, close: Tok, hint: (&str, &str)) -> PResult<(Vec<Expr>, u32)> {
        let (mut list, mut height) = (Vec::new(), 0);
        while !self.eat(&close) {
            let e = self.node()?;
            height = height.max(e.height);
            list.push(e.expr);
            if !self.eat(&Tok::Comma) {
                self.expect(close, hint.0, hint.1)?;
                break;
            }
        }
        Ok((list, height))
    }

    fn unary(&mut self) -> PResult<Node> {
        if matches!(self.peek(), Tok::Minus) {
            let s = self.bump().span;
            let e = self.nested(s, |p| p.unary())?;
            let span = s.to(e.expr.span);
            return grow(
                ExprKind::Unary(UnOp::Neg, Box::new(e.expr)),
                span,
                e.height,
                s,
            );
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult<Node> {
        if let Some(lit) = self.literal() {
            return Ok(lit);
        }
        let span = self.span();
        match self.peek() {
            Tok::LParen => {
                self.bump();
                self.nested(span, |p| p.paren_rest(span))
            }
            Tok::LBracket => {
                self.bump();
                let (list, h) = self.nested(span, |p| p.items(Tok::RBracket, VALUES))?;
                grow(ExprKind::List(list), span.to(self.prev_span()), h, span)
            }
            Tok::Ident(w) if w == "if" => {
                self.bump();
                self.nested(span, |p| p.if_rest(span))
            }
            Tok::Ident(w) if w == "tiers" => {
                self.bump();
                self.nested(span, |p| p.tiers_rest(span))
            }
            Tok::Ident(w) => {
                let id = Ident {
                    name: w.clone(),
                    span,
                };
                self.name_or_call(id)
            }
            _ => Err(self.unexpected(
                "表达式",
                "an expression",
                "表达式可以是数值（1000万、3%）、日期、名称或函数调用",
                "an expression is a number (1000万, 3%), a date, a name or a call",
            )),
        }
    }

    /// A number, a date, `true` or `false`, if that is what comes next.
    fn literal(&mut self) -> Option<Node> {
        let kind = match self.peek() {
            Tok::Num {
                text,
                unit,
                value,
                yuan_suffix,
            } => ExprKind::Num {
                text: text.clone(),
                unit: *unit,
                value: *value,
                yuan_suffix: *yuan_suffix,
            },
            Tok::Date(d) => ExprKind::Date(*d),
            Tok::Ident(w) if w == "true" || w == "false" => ExprKind::Bool(w == "true"),
            _ => return None,
        };
        let span = self.bump().span;
        Some(leaf(kind, span))
    }

    /// `( e )` after the `(` at `start`.
    fn paren_rest(&mut self, start: Span) -> PResult<Node> {
        let e = self.node()?;
        self.expect(
            Tok::RParen,
            "括号不匹配：缺少 )",
            "unbalanced parentheses: missing )",
        )?;
        let whole = start.to(self.prev_span());
        grow(ExprKind::Paren(Box::new(e.expr)), whole, e.height, start)
    }

    /// `if c then a else b` after the `if` at `start`.
    fn if_rest(&mut self, start: Span) -> PResult<Node> {
        let c = self.node()?;
        if !self.eat_word("then") {
            return Err(self.unexpected(
                "`then`",
                "`then`",
                "写作 if 条件 then 值 else 值",
                "write if cond then a else b",
            ));
        }
        let a = self.node()?;
        if !self.eat_word("else") {
            return Err(self.unexpected(
                "`else`",
                "`else`",
                "if 必须有 else 分支",
                "if needs an else branch",
            ));
        }
        let b = self.node()?;
        let span = start.to(b.expr.span);
        let child = c.height.max(a.height).max(b.height);
        let kind = ExprKind::If(Box::new(c.expr), Box::new(a.expr), Box::new(b.expr));
        grow(kind, span, child, start)
    }

    /// `tiers subject { arms }` after the `tiers` at `start`.
    fn tiers_rest(&mut self, start: Span) -> PResult<Node> {
        let subject = self.binary(6)?;
        let (arms, close, h) = self.tier_arms()?;
        let kind = ExprKind::Tiers {
            subject: Box::new(subject.expr),
            arms,
        };
        grow(kind, start.to(close), subject.height.max(h), start)
    }

    /// A name, or a call when `(` follows on the same line.
    fn name_or_call(&mut self, mut id: Ident) -> PResult<Node> {
        self.bump();
        self.extend_qualified(&mut id);
        let span = id.span;
        if matches!(self.peek(), Tok::LParen) && !self.toks[self.pos].newline_before {
            if (id.name == "sum" || id.name == "count")
                && matches!(self.peek_at(1), Tok::Ident(_))
                && (matches!(self.peek_at(2), Tok::Colon | Tok::RParen)
                    || matches!(self.peek_at(2), Tok::Ident(w) if w == "where"))
            {
                let open = self.bump().span;
                return self.nested(open, |p| p.records_rest(id, open));
            }
            let open = self.bump().span;
            let (args, h) = self.nested(open, |p| p.items(Tok::RParen, ARGUMENTS))?;
            let whole = span.to(self.prev_span());
            return grow(ExprKind::Call { func: id, args }, whole, h, open);
        }
        Ok(leaf(ExprKind::Name(id), span))
    }

    /// `sum(F where c: e)` / `count(F where c)` after the `(` at `open`; `func` is at `sum`.
    fn records_rest(&mut self, func: Ident, open: Span) -> PResult<Node> {
        let fact = self.ident("事件事实名称", "an event fact")?;
        let mut height = 1;
        let filter = if self.eat_word("where") {
            let c = self.node()?;
            height = height.max(c.height);
            Some(Box::new(c.expr))
        } else {
            None
        };
        let body = if self.eat(&Tok::Colon) {
            let b = self.node()?;
            height = height.max(b.height);
            Some(Box::new(b.expr))
        } else {
            None
        };
        self.expect(
            Tok::RParen,
            "写作 sum(贷款 where 条件: 每笔金额) 或 count(贷款 where 条件)",
            "write sum(loans where cond: per-record amount) or count(loans where cond)",
        )?;
        let span = func.span.to(self.prev_span());
        let kind = ExprKind::Records {
            func,
            fact,
            filter,
            body,
        };
        grow(kind, span, height, open)
    }

    /// `{ [lo, hi) => value, … }`: the arms, the closing brace and the tallest expression.
    pub(super) fn tier_arms(&mut self) -> PResult<(Vec<TierArmAst>, Span, u32)> {
        self.expect(Tok::LBrace, "档位写在花括号中", "tiers go in braces")?;
        let mut arms = Vec::new();
        let mut height = 0;
        loop {
            if matches!(self.peek(), Tok::RBrace) {
                let close = self.bump().span;
                return Ok((arms, close, height));
            }
            let (interval, h) = self.interval()?;
            self.expect(
                Tok::Arrow,
                "档位写作 [下限, 上限) => 金额",
                "write a tier as [lo, hi) => amount",
            )?;
            let value = self.node()?;
            height = height.max(h).max(value.height);
            let span = interval.span.to(value.expr.span);
            arms.push(TierArmAst {
                interval,
                value: value.expr,
                span,
            });
            self.eat(&Tok::Comma);
        }
    }

    fn interval(&mut self) -> PResult<(Interval, u32)> {
        let start = self.span();
        let lo_inclusive = match self.peek() {
            Tok::LBracket => true,
            Tok::LParen => false,
            _ => {
                return Err(self.unexpected(
                    "区间（[ 或 ( 开头）",
                    "an interval starting with [ or (",
                    "档位写作 [100亿, 500亿) => 100万；∞ 表示无上限",
                    "write tiers as [100亿, 500亿) => 100万; ∞ for no upper bound",
                ))
            }
        };
        self.bump();
        let lo = self.node()?;
        self.expect(
            Tok::Comma,
            "区间写作 [下限, 上限)",
            "write an interval as [lo, hi)",
        )?;
        let hi = if self.eat(&Tok::Infinity) {
            None
        } else {
            Some(self.node()?)
        };
        let hi_inclusive = match self.peek() {
            Tok::RBracket => true,
            Tok::RParen => false,
            _ => {
                return Err(self.unexpected(
                    "`]` 或 `)`",
                    "`]` or `)`",
                    "区间以 ] （含）或 ) （不含）结束",
                    "close an interval with ] (inclusive) or ) (exclusive)",
                ))
            }
        };
        let end = self.bump().span;
        let height = lo.height.max(hi.as_ref().map_or(0, |h| h.height));
        let interval = Interval {
            lo_inclusive,
            lo: lo.expr,
            hi: hi.map(|h| h.expr),
            hi_inclusive,
            span: start.to(end),
        };
        Ok((interval, height))
    }
}
