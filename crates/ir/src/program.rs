//! The checked program: names resolved to indices, every expression well typed.
//!
//! Expressions are total and loop-free over one firm's periods and events, so they compile
//! to columnar plans: history operators look back a bounded number of periods (`Prev`,
//! `Consecutive`) or aggregate over all earlier periods (`HighestBefore`, `FirstTime`, …).

use rust_decimal::Decimal;

use crate::date::Date;
use crate::firm::Firm;
use crate::money::Rounding;
use crate::value::Value;

pub type FactId = usize;
pub type EnumId = usize;
pub type ParamId = usize;
pub type TableId = usize;
pub type ClauseId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Money,
    Ratio,
    Count,
    Bool,
    Date,
    Enum(EnumId),
    Text,
}

impl Ty {
    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Money | Ty::Ratio | Ty::Count)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodKind {
    Static,
    Year,
    Month,
    Event,
}

/// Where a declaration came from, for diagnostics and explanations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug)]
pub struct PolicyHeader {
    pub name: String,
    pub title: String,
    pub issuer: String,
    pub version: String,
    pub window: (Date, Date),
    pub rounding: Rounding,
}

/// Another policy pack taken into this one's runs (`import 名称 from "目录"`): its clauses,
/// parameters, tables and rules are in this program under `名称.…`, and its own rules apply to
/// its own clauses only.
#[derive(Clone, Debug)]
pub struct PackRef {
    pub name: String,
    pub title: String,
    pub issuer: String,
    pub version: String,
    pub window: (Date, Date),
    /// The imported pack's own content hash (as `huiqi check` of it alone gives).
    pub hash: String,
}

#[derive(Clone, Debug)]
pub struct EnumDef {
    pub name: String,
    pub variants: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Fact {
    pub name: String,
    /// Value type. For events: `Enum(e)` when the events carry a value, else `Bool`.
    pub ty: Ty,
    pub kind: PeriodKind,
    pub label: String,
    pub source: String,
    /// Numbers every record of an event fact carries (`field 本金: money`), in declaration
    /// order; empty for other facts.
    pub fields: Vec<RecordField>,
    /// An event fact's `valid 3年` / `valid forever`: how long a record without an end date is
    /// valid (None: not declared, read as forever — with a warning where `held` uses it).
    pub validity: Option<crate::date::Validity>,
    pub origin: Origin,
}

impl Fact {
    /// The last day a record is valid: its own end, else the one its date and the fact's
    /// declared validity give (None: no end).
    pub fn until_of(&self, r: &crate::firm::EventRec) -> Option<Date> {
        r.until
            .or_else(|| self.validity.and_then(|v| v.until(r.date)))
    }
}

/// A number on each record of an event fact: a loan's 本金, a lease's 面积.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub name: String,
    /// `Money`, `Ratio` or `Count`.
    pub ty: Ty,
}

/// Which records an event function looks at, by their date: those of the evaluated period (the
/// default), those before it (`before`: every earlier period), or both (`ever`: up to the
/// period's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventWindow {
    #[default]
    Period,
    Before,
    Ever,
}

impl EventWindow {
    /// Whether a record dated in `year` is inside the window of period `period`.
    pub fn holds(self, year: i32, period: i32) -> bool {
        match self {
            EventWindow::Period => year == period,
            EventWindow::Before => year < period,
            EventWindow::Ever => year <= period,
        }
    }
}

/// How `sum(F: …)` / `count(F …)` aggregate the records of F dated inside the period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordAgg {
    Sum,
    Count,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub ty: Ty,
    /// Sorted by date: the value in force from that date on.
    pub values: Vec<(Date, Value)>,
}

/// A figure a rule fixes — a clause's cap or total cap, a select's size, a pool's budget, a firm
/// cap: a literal, or a dated parameter, whose value is the one in force at the end of the
/// evaluated period (as a parameter in an expression). The checker makes sure a parameter used
/// here has a value from the policy's start, of the figure's type and range.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantity {
    Lit(Decimal),
    Param(ParamId),
}

impl Quantity {
    /// The literal, when it is one.
    pub fn literal(&self) -> Option<Decimal> {
        match self {
            Quantity::Lit(d) => Some(*d),
            Quantity::Param(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    pub value: Decimal,
    pub inclusive: bool,
}

#[derive(Clone, Debug)]
pub struct TierArm {
    pub lo: Bound,
    /// None: open to ∞.
    pub hi: Option<Bound>,
    pub value: Expr,
    /// Source text of the interval, e.g. `[100亿, 500亿)`.
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    /// Type of the looked-up value (money, ratio or count).
    pub input: Ty,
    pub output: Ty,
    pub arms: Vec<TierArm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
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

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Ge => ">=",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Lt => "<",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Coalesce => "??",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Ge | BinOp::Gt | BinOp::Le | BinOp::Lt | BinOp::Eq | BinOp::Ne
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggBefore {
    Highest,
    Lowest,
}

/// A typed expression. `ty` of every node is known to the checker; nodes that an explanation
/// shows keep their source text in `Let`/`Cond`.
#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Value),
    /// Value of a static or yearly fact in the evaluated period.
    Fact(FactId),
    Param(ParamId),
    /// A clause-local `let`, by index.
    Local(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `x in [..]` over literal values; `negated` for `not in`.
    In(Box<Expr>, Vec<Value>, bool),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Table(TableId, Box<Expr>),
    Prev(Box<Expr>, u32),
    Growth(Box<Expr>),
    Cagr(Box<Expr>, u32),
    AggBefore(AggBefore, Box<Expr>),
    FirstTime(Box<Expr>),
    EverBefore(Box<Expr>),
    Consecutive(Box<Expr>, u32),
    /// A record of an event fact (value in the list, if given) valid on the date (default: period end).
    Held(FactId, Option<Vec<u32>>, Option<Box<Expr>>),
    Issued(FactId, Option<Vec<u32>>, EventWindow),
    IssuedBefore(FactId),
    Occurred(FactId, u32, EventWindow),
    DateOf(FactId, u32, EventWindow),
    /// Sum / last value of a monthly fact over the months of the period.
    Total(FactId),
    Latest(FactId),
    Awarded(ClauseId),
    Min(Vec<Expr>),
    Max(Vec<Expr>),
    Abs(Box<Expr>),
    Floor(Box<Expr>),
    Round(Box<Expr>, Rounding),
    PeriodStart,
    PeriodEnd,
    /// An aggregate over the records of event fact `fact` dated inside the period: `sum` of
    /// `body` (per record, over its fields) or `count`, of the records where `filter` holds.
    /// Missing when a kept record's `body` or any record's `filter` is missing; over no record,
    /// 0. Overflow is order-free: any overflowed record value, or an exact total beyond the
    /// range, is an overflow (+ when any record overflowed upwards).
    Records {
        agg: RecordAgg,
        fact: FactId,
        filter: Option<Box<Expr>>,
        body: Option<Box<Expr>>,
        /// The result's type: `Count` for a count, the body's for a sum.
        ty: Ty,
    },
    /// Field `i` of the record being aggregated (only inside `Records`).
    Field(usize),
    /// A date `months` calendar months (clamped to the month's end) then `days` days later
    /// (`发证日期 + 3年`, `d - 30天`); missing beyond year 9999.
    ShiftDate(Box<Expr>, i64, i64),
    /// `days_between(a, b)`: days from a to b (count; negative when b is earlier).
    DaysBetween(Box<Expr>, Box<Expr>),
    /// `months_between(a, b)`: whole months from a to b (`Date::months_until`).
    MonthsBetween(Box<Expr>, Box<Expr>),
    /// `year(d)`: the calendar year of date d (count).
    YearOf(Box<Expr>),
    /// `at_year(x, y)`: x evaluated in year y (a count) — "以落户当年为基数". Missing unless y is
    /// a whole year from the evaluated period's back to [`AT_YEAR_REACH`] years before it: a
    /// rule never reads a later year, and the columnar engine compiles x once per year reached.
    AtYear(Box<Expr>, Box<Expr>),
}

/// How many years before the evaluated period `at_year` reaches back.
pub const AT_YEAR_REACH: u32 = 10;

/// The most years a `firm cap … over N年` spans.
pub const MAX_CAP_YEARS: u32 = 10;

#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    pub expr: Expr,
    pub ty: Ty,
    /// The source text, shown in explanations.
    pub source: String,
    pub origin: Origin,
    /// A condition's (or negative list's) own reason text (`reason "…"`), shown when it fails
    /// (matches).
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Tranche {
    pub name: String,
    pub requires: Vec<Named>,
    pub amount: Named,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleMode {
    Each,
    Cumulative,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub fact: FactId,
    pub mode: ScheduleMode,
    /// (enum variant, amount: a literal or a money parameter) in stage order.
    pub stages: Vec<(u32, Quantity)>,
}

#[derive(Clone, Debug)]
pub enum ClauseBody {
    /// One amount; the tranche name is empty.
    Amount(Named),
    Tranches(Vec<Tranche>),
    Schedule(Schedule),
}

#[derive(Clone, Debug)]
pub struct Clause {
    pub name: String,
    pub reference: String,
    pub text: String,
    pub window: (Date, Date),
    pub lets: Vec<Named>,
    pub requires: Vec<Named>,
    pub body: ClauseBody,
    /// Per firm per period.
    pub cap: Option<Quantity>,
    /// Per firm over all periods (history included).
    pub total_cap: Option<Quantity>,
    /// How its amount is rounded: its own `rounding`, else the policy's.
    pub rounding: Rounding,
    pub origin: Origin,
}

impl Clause {
    /// The `reason "…"` text of the condition named `name` (the clause's or a tranche's).
    pub fn condition_note(&self, name: &str) -> Option<&str> {
        let tranches = match &self.body {
            ClauseBody::Tranches(ts) => ts.as_slice(),
            _ => &[],
        };
        self.requires
            .iter()
            .chain(tranches.iter().flat_map(|t| t.requires.iter()))
            .find(|n| n.name == name)
            .and_then(|n| n.reason.as_deref())
    }
}

#[derive(Clone, Debug)]
pub struct Exclude {
    pub name: String,
    pub cond: Named,
    /// None: every clause.
    pub clauses: Option<Vec<ClauseId>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Clone, Debug)]
pub struct Select {
    pub name: String,
    pub clause: ClauseId,
    pub score: Named,
    /// How many firms (a whole number ≥ 1).
    pub top: Quantity,
    pub tie: Vec<(Named, Order)>,
}

#[derive(Clone, Debug)]
pub struct Exclusive {
    pub name: String,
    pub clauses: Vec<ClauseId>,
}

#[derive(Clone, Debug)]
pub enum PoolMethod {
    /// Scale every award by budget / demand; largest remainder to the 分, ties by credit code.
    ProRata,
    /// Full awards in score order while the budget lasts; the marginal firm gets the remainder.
    ByScore(Named, Order),
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub clauses: Vec<ClauseId>,
    pub budget: Quantity,
    pub method: PoolMethod,
}

#[derive(Clone, Debug)]
pub struct FirmCap {
    pub name: String,
    pub limit: Quantity,
    /// The years the cap spans, this period's included (`over 3年`: "三年内累计不超过"): the
    /// room this period is the limit less what the award history holds for the pack's clauses
    /// in the `years − 1` periods before it (never below 0). 1: a cap per period.
    pub years: u32,
    /// Every clause, highest priority first.
    pub priority: Vec<ClauseId>,
}

/// Who a group cap serves first.
#[derive(Clone, Debug)]
pub enum GroupOrder {
    /// By the firm's covered amount before the cap ("按金额"), in the order given.
    Amount(Order),
    /// By a per-firm key — a date (first come, first served: `date_of(…)`, as days) or a
    /// number — compared exactly like a ranking; a missing key is served last.
    Key(Named, Order),
}

/// A cap shared by related firms ("同一集团（同一实际控制人）内企业合计不超过…"): firms with the
/// same value of a text fact (the controller, as of the evaluated period) share `limit` over the
/// clauses covered; a firm without a value is a group of its own. Members are served in `order`,
/// ties by credit code; each gets what is left of the room, cut from its lowest-priority clause.
#[derive(Clone, Debug)]
pub struct GroupCap {
    pub name: String,
    /// The text fact whose value names the group (static or per year).
    pub by: FactId,
    pub limit: Quantity,
    /// The clauses covered, highest priority first (cut from the last).
    pub clauses: Vec<ClauseId>,
    pub order: GroupOrder,
}

/// How much of an earlier award a clawback takes back.
#[derive(Clone, Debug, PartialEq)]
pub enum Share {
    /// "按剩余年限比例": (years − years since the award) / years of what is left of it.
    Remaining,
    /// A fixed share, above 0 and at most 100% ("追回已拨付资金": 100%).
    Ratio(Decimal),
}

/// A clawback (追回) rule: when a firm has a `trigger` event dated in the evaluated period, it
/// recovers `share` of what the award history holds for each award of the `clauses` in the
/// `years` periods before it (net of earlier recoveries and of the rules declared before this
/// one). It never changes the period's own awards (a negative list does that); it gives
/// amounts to recover, which `ledger record` turns into recovery lines.
#[derive(Clone, Debug)]
pub struct Clawback {
    pub name: String,
    pub reference: String,
    pub text: String,
    /// An event fact: a record dated inside the period triggers the rule.
    pub trigger: FactId,
    /// The periods before the evaluated one whose awards it reaches (1–10).
    pub years: u32,
    pub share: Share,
    /// The clauses whose awards it recovers from, in declaration order.
    pub clauses: Vec<ClauseId>,
}

impl Clawback {
    /// The share of an award of `award_period` recovered in `period`, as (numerator,
    /// denominator); None when the award is outside the window or nothing of it is left.
    /// `remaining`: (years − (period − award_period)) / years — an award of the year before a
    /// five-year rule is 4/5 recovered, one five years before 0/5 (nothing).
    pub fn share_of(&self, award_period: i32, period: i32) -> Option<(i128, i128)> {
        let elapsed = i64::from(period) - i64::from(award_period);
        if elapsed < 1 || elapsed > i64::from(self.years) {
            return None;
        }
        match &self.share {
            Share::Remaining => {
                let left = i64::from(self.years) - elapsed;
                (left > 0).then(|| (i128::from(left), i128::from(self.years)))
            }
            Share::Ratio(r) => {
                let r = r.normalize();
                Some((r.mantissa(), 10i128.pow(r.scale())))
            }
        }
    }

    /// A share as a person reads it: `3/5` (of the years left), `100%`.
    pub fn share_text(&self, num: i128, den: i128) -> String {
        match &self.share {
            Share::Remaining => format!("{num}/{den}"),
            Share::Ratio(r) => crate::money::fmt_ratio(*r),
        }
    }
}

/// Decimal places a clawback's fixed share may have (`33.3333%` is 0.333333): the product of
/// an amount and the share's numerator then stays well inside 128 bits.
pub const MAX_SHARE_PLACES: u32 = 6;

/// `base` (on the fixed-point scale, 10^-12 元) × num / den, rounded half up to 分; None when
/// the base is an overflow or beyond what a result carries (`money::MAX_AMOUNT_SCALED`).
pub fn recover_fen(base: i128, num: i128, den: i128) -> Option<i64> {
    if crate::money::beyond_amount(base) {
        return None;
    }
    if base <= 0 || num <= 0 || den <= 0 {
        return Some(0);
    }
    // base < 10^28, num < 10^6 (MAX_SHARE_PLACES): the product is below 10^34.
    let units = base.checked_mul(num)?;
    let per_fen = den.checked_mul(crate::money::ONE / 100)?;
    let (q, r) = (units / per_fen, units % per_fen);
    let fen = q + i128::from(r * 2 >= per_fen);
    i64::try_from(fen).ok()
}

/// An expectation of a test: firm, clause (None: the firm's total), tranche, amount, reason.
#[derive(Clone, Debug)]
pub struct Expect {
    pub firm: usize,
    /// With `clawback`: only what the rule recovers from this clause's awards (None: all).
    pub clause: Option<ClauseId>,
    /// `expect 甲.迁出追回[.条款] = 60万`: what a clawback rule recovers from the firm this
    /// period (its index in `Program::clawbacks`), instead of an award.
    pub clawback: Option<usize>,
    pub tranche: Option<String>,
    pub amount: Decimal,
    pub because: Option<String>,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    pub period: i32,
    pub firms: Vec<Firm>,
    /// Names the test uses for its firms (甲, 乙 …).
    pub firm_labels: Vec<String>,
    pub expects: Vec<Expect>,
    /// Parameters the test sets (`set 参数 = 值`), each for all time.
    pub sets: Vec<(ParamId, Value)>,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub struct Program {
    pub policy: PolicyHeader,
    pub enums: Vec<EnumDef>,
    pub facts: Vec<Fact>,
    pub params: Vec<Param>,
    pub tables: Vec<Table>,
    pub clauses: Vec<Clause>,
    pub excludes: Vec<Exclude>,
    pub selects: Vec<Select>,
    pub exclusives: Vec<Exclusive>,
    pub pools: Vec<Pool>,
    pub firm_caps: Vec<FirmCap>,
    pub group_caps: Vec<GroupCap>,
    /// In declared order: a later rule recovers from what the earlier ones left.
    pub clawbacks: Vec<Clawback>,
    pub tests: Vec<TestCase>,
    /// Content hash of the pack's sources (sorted by path), for run manifests; it covers the
    /// imported packs' hashes.
    pub hash: String,
    /// The packs this one imports, in the order of their `import` lines.
    pub packs: Vec<PackRef>,
}

impl Program {
    /// Drops the rules across clauses and firms — negative lists, selects, 就高 groups, pools,
    /// firm caps, group caps: what is left computes each clause on its own (the 政策沙盘's stand-alone
    /// figures, a grouping's probe clauses).
    pub fn drop_cross_clause_rules(&mut self) {
        self.excludes.clear();
        self.selects.clear();
        self.exclusives.clear();
        self.pools.clear();
        self.firm_caps.clear();
        self.group_caps.clear();
    }

    /// The value of a parameter in force at the end of `year` (Missing before its first date).
    pub fn param_at(&self, p: ParamId, year: i32) -> Value {
        let at = crate::date::Date::year_end(year);
        self.params[p]
            .values
            .iter()
            .rev()
            .find(|(d, _)| *d <= at)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Missing)
    }

    /// A rule's figure for `year`. A parameter before its first date (only for periods before
    /// the policy starts, where nothing is paid) takes its first value.
    pub fn figure(&self, q: &Quantity, year: i32) -> Decimal {
        match q {
            Quantity::Lit(d) => *d,
            Quantity::Param(p) => self
                .param_at(*p, year)
                .num()
                .or_else(|| self.params[*p].values.first().and_then(|(_, v)| v.num()))
                .unwrap_or_default(),
        }
    }

    /// A schedule's (stage, amount) for `year`: each amount a literal or its parameter's value
    /// in force at the period's end.
    pub fn stage_amounts(&self, s: &Schedule, year: i32) -> Vec<(u32, Decimal)> {
        s.stages
            .iter()
            .map(|(v, q)| (*v, self.figure(q, year)))
            .collect()
    }

    /// A select's size for `year`.
    pub fn top(&self, s: &Select, year: i32) -> u32 {
        use rust_decimal::prelude::ToPrimitive;
        self.figure(&s.top, year).to_u32().unwrap_or(0)
    }

    /// This program with some parameters set to one value for all time (a test's `set`).
    pub fn with_params(&self, sets: &[(ParamId, Value)]) -> Program {
        let mut p = self.clone();
        for (i, v) in sets {
            let from = p.params[*i]
                .values
                .first()
                .map(|(d, _)| *d)
                .unwrap_or(crate::date::Date::year_start(1900));
            p.params[*i].values = vec![(from, v.clone())];
        }
        p
    }

    pub fn fact_by_name(&self, name: &str) -> Option<FactId> {
        self.facts.iter().position(|f| f.name == name)
    }
    pub fn clause_by_name(&self, name: &str) -> Option<ClauseId> {
        self.clauses.iter().position(|c| c.name == name)
    }
    pub fn enum_names(&self, ty: Ty) -> Option<&[String]> {
        match ty {
            Ty::Enum(e) => Some(&self.enums[e].variants),
            _ => None,
        }
    }
}
