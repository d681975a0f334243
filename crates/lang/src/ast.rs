//! The syntax tree, close to what was written (for the formatter and for diagnostics).

use crate::diag::Span;
use crate::lexer::Unit;
use huiqi_ir::Date;
use rust_decimal::Decimal;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOpAst {
    Add,
    Sub,
    Mul,
    Div,
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
    And,
    Or,
    Coalesce,
}

impl BinOpAst {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOpAst::Add => "+",
            BinOpAst::Sub => "-",
            BinOpAst::Mul => "*",
            BinOpAst::Div => "/",
            BinOpAst::Ge => ">=",
            BinOpAst::Gt => ">",
            BinOpAst::Le => "<=",
            BinOpAst::Lt => "<",
            BinOpAst::Eq => "=",
            BinOpAst::Ne => "!=",
            BinOpAst::And => "and",
            BinOpAst::Or => "or",
            BinOpAst::Coalesce => "??",
        }
    }
    /// Binding strength (higher binds tighter).
    pub fn prec(self) -> u8 {
        match self {
            BinOpAst::Or => 1,
            BinOpAst::And => 2,
            BinOpAst::Ge
            | BinOpAst::Gt
            | BinOpAst::Le
            | BinOpAst::Lt
            | BinOpAst::Eq
            | BinOpAst::Ne => 4,
            BinOpAst::Coalesce => 5,
            BinOpAst::Add | BinOpAst::Sub => 6,
            BinOpAst::Mul | BinOpAst::Div => 7,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    pub lo_inclusive: bool,
    pub lo: Expr,
    /// None: ∞.
    pub hi: Option<Expr>,
    pub hi_inclusive: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TierArmAst {
    pub interval: Interval,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Num {
        text: String,
        unit: Unit,
        value: Decimal,
        yuan_suffix: bool,
    },
    Date(Date),
    Bool(bool),
    Name(Ident),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    List(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOpAst, Box<Expr>, Box<Expr>),
    In {
        subject: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Tiers {
        subject: Box<Expr>,
        arms: Vec<TierArmAst>,
    },
    Paren(Box<Expr>),
    /// `sum(F where c: e)` / `count(F where c)`: over the records of event fact F dated in the
    /// period; `e` and `c` read the record's fields.
    Records {
        func: Ident,
        fact: Ident,
        filter: Option<Box<Expr>>,
        body: Option<Box<Expr>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub from: Date,
    pub to: Date,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HeaderField {
    Text { key: Ident, value: String },
    Effective(Window),
    Rounding(RoundingAst),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyAst {
    pub name: Ident,
    pub fields: Vec<(HeaderField, Span)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FactAst {
    pub name: Ident,
    /// `money` … or an enum name; for events the optional enum.
    pub ty: Option<Ident>,
    /// "static" | "year" | "month" | "event"
    pub kind: String,
    pub fields: Vec<(Ident, String, Span)>,
    /// `field 本金: money` lines of an event fact: name, type, span.
    pub record: Vec<(Ident, Ident, Span)>,
    /// `valid 3年` / `valid forever` of an event fact.
    pub valid: Option<(ValidAst, Span)>,
}

/// How long a record without an end is valid, as written.
#[derive(Clone, Debug, PartialEq)]
pub enum ValidAst {
    Forever,
    /// A duration literal: its digits and unit.
    For {
        text: String,
        unit: crate::lexer::Unit,
        value: Decimal,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamAst {
    pub name: Ident,
    pub ty: Ident,
    pub values: Vec<(Date, Expr, Span)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NamedExpr {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
    /// `reason "…"`: the officer's own text for a condition that fails.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrancheAst {
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleAst {
    pub fact: Ident,
    pub mode: Ident,
    pub stages: Vec<(Ident, Expr, Span)>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Ref(String),
    Text(String),
    Effective(Window),
    Let(NamedExpr),
    Require(NamedExpr),
    Amount(Expr),
    Cap(Expr),
    TotalCap(Expr),
    /// The clause's own rounding (else the policy's).
    Rounding(RoundingAst),
    Tranche(TrancheAst),
    Schedule(ScheduleAst),
}

/// `rounding 元` or `rounding 百元 down`: a unit and an optional mode.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundingAst {
    pub unit: Ident,
    pub mode: Option<Ident>,
}

impl RoundingAst {
    /// As written, normalised: `元`, `百元 down`.
    pub fn text(&self) -> String {
        match &self.mode {
            Some(m) => format!("{} {}", self.unit.name, m.name),
            None => self.unit.name.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClauseAst {
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableAst {
    pub name: Ident,
    pub ty: Ident,
    pub arms: Vec<TierArmAst>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectField {
    Clause(Ident),
    Score(Expr),
    Top(Expr),
    Tie(Vec<SortKey>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PoolField {
    Clauses(Vec<Ident>),
    Budget(Expr),
    ProRata,
    ByScore(SortKey),
}

/// A field of `clawback 名称 { … }`.
#[derive(Clone, Debug, PartialEq)]
pub enum ClawbackField {
    Ref(String),
    Text(String),
    /// The event fact whose record, dated in the period, triggers the rule.
    When(Ident),
    /// `window 5年`: the years of awards it reaches back (as written, and where).
    Window(Decimal, Span),
    /// `share remaining` (the ident, for its span) or `share 100%`.
    ShareRemaining(Ident),
    Share(Expr),
    Clauses(Vec<Ident>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum GroupCapField {
    /// The text fact whose value names a firm's group.
    By(Ident),
    Limit(Expr),
    Clauses(Vec<Ident>),
    /// `order amount desc|asc`: by the covered amount (the ident is `amount`, for its span).
    OrderAmount(Ident, bool),
    /// `order 表达式 asc|desc`: by a per-firm date or number.
    OrderKey(SortKey),
}

/// A value written for a fact in a test firm.
#[derive(Clone, Debug, PartialEq)]
pub enum DataValue {
    Scalar(Expr),
    /// `{2021: 80亿, 2023-01: 5}`: keys are years or months.
    Periods(Vec<(PeriodKey, Expr, Span)>),
    /// `[2023-03-01: 辅导备案, 2021-11-20 .. 2024-11-19]`
    Events(Vec<EventAst>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PeriodKey {
    Year(i32),
    Month(i32, u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventAst {
    pub date: Date,
    pub until: Option<Date>,
    pub value: Option<Ident>,
    /// `{本金 = 1000万, 实付利息 = 30万}`: the record's fields.
    pub nums: Vec<(Ident, Expr, Span)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FirmStmt {
    Fact {
        name: Ident,
        value: DataValue,
        span: Span,
    },
    Awarded {
        clause: Ident,
        tranche: Option<Ident>,
        period: i32,
        amount: Expr,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FirmAst {
    pub label: Ident,
    pub id: Option<(String, Span)>,
    pub stmts: Vec<FirmStmt>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExpectAst {
    pub firm: Ident,
    /// Clause name, or `total`.
    pub clause: Ident,
    pub tranche: Option<Ident>,
    pub amount: Expr,
    pub because: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestStmt {
    Period(i32, Span),
    Firm(FirmAst),
    Expect(ExpectAst),
    /// `set 参数 = 值`: the parameter's value for this test, for all time.
    Set {
        name: Ident,
        value: Expr,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestAst {
    pub name: String,
    pub name_span: Span,
    pub stmts: Vec<TestStmt>,
    pub close: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    Policy(PolicyAst),
    /// `import 政策名称 from "../目录"`: another policy pack taken into this pack's runs; its
    /// clauses are named `政策名称.条款` here.
    Import {
        name: Ident,
        path: (String, Span),
    },
    Enum {
        name: Ident,
        variants: Vec<Ident>,
    },
    Fact(FactAst),
    Param(ParamAst),
    Table(TableAst),
    Clause(ClauseAst),
    Exclude {
        name: Ident,
        cond: Expr,
        only: Option<Vec<Ident>>,
        /// `reason "…"`: the officer's own text for a firm the list excludes.
        reason: Option<String>,
    },
    Select {
        name: Ident,
        fields: Vec<(SelectField, Span)>,
        close: Span,
    },
    Exclusive {
        name: Ident,
        clauses: Vec<Ident>,
    },
    Pool {
        name: Ident,
        fields: Vec<(PoolField, Span)>,
        close: Span,
    },
    FirmCap {
        name: Ident,
        limit: Expr,
        /// `over 3年`: the years the cap spans (as written, and where).
        over: Option<(Decimal, Span)>,
        priority: Vec<Ident>,
    },
    /// `group cap 名称 { by 事实  limit 金额  clauses [..]  order amount desc | order 表达式 asc }`
    GroupCap {
        name: Ident,
        fields: Vec<(GroupCapField, Span)>,
        close: Span,
    },
    /// `clawback 名称 { ref "…" text "…" when 事件 window 5年 share remaining clauses [..] }`
    Clawback {
        name: Ident,
        fields: Vec<(ClawbackField, Span)>,
        close: Span,
    },
    Test(TestAst),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
    /// The item keyword, for diagnostics.
    pub keyword: Span,
}

#[derive(Clone, Debug)]
pub struct File {
    pub file: u32,
    pub items: Vec<Item>,
    pub comments: Vec<crate::lexer::Comment>,
}
