//! The reference semantics of one expression for one firm and one period. Obviously right
//! rather than fast: the columnar engine must agree with this to the 分.

use huiqi_ir::money;
use huiqi_ir::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// A fact value read while evaluating, for explanations ("营业收入(2023) = 96.8亿元 〔税务〕").
#[derive(Clone, Debug, PartialEq)]
pub struct FactRead {
    pub fact: FactId,
    /// Year, or None for static facts; event reads use the period year.
    pub year: Option<i32>,
    pub value: Value,
}

/// A tier lookup: which arm matched (None: below every tier).
#[derive(Clone, Debug)]
pub struct TableHit {
    pub table: TableId,
    pub input: Value,
    pub arm: Option<usize>,
    pub year: i32,
}

#[derive(Default, Debug)]
pub struct Trace {
    pub facts: Vec<FactRead>,
    pub tables: Vec<TableHit>,
    pub awarded: Vec<(ClauseId, Decimal)>,
}

pub struct Evaluator<'a> {
    pub program: &'a Program,
    pub firm: &'a Firm,
    pub lets: &'a [Named],
    pub trace: Option<Trace>,
    first_year: Option<i32>,
    /// The record `Expr::Field` reads, inside `Expr::Records`.
    record: Option<&'a EventRec>,
}

fn tag_like(v: &Value, d: Decimal) -> Value {
    match v {
        Value::Money(_) => Value::Money(d),
        Value::Count(_) => Value::Count(d),
        _ => Value::Ratio(d),
    }
}

fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    let (Some(x), Some(y)) = (a.num(), b.num()) else {
        return Value::Missing;
    };
    // On the fixed-point scale, as the columnar engine computes: a result (or an operand)
    // beyond the range of exact arithmetic is an overflow, ±∞ from then on
    // (`money::OVERFLOW`); only a division by zero has no value.
    let (xs, ys) = (money::scaled_or_overflow(x), money::scaled_or_overflow(y));
    let r = match op {
        BinOp::Add => Some(money::add_checked(xs, ys)),
        BinOp::Sub => Some(money::sub_checked(xs, ys)),
        BinOp::Mul => Some(money::mul_checked(xs, ys)),
        _ => money::div_checked(xs, ys),
    };
    let Some(r) = r else { return Value::Missing };
    let r = money::from_scaled_or_overflow(r);
    use Value::*;
    match (op, a, b) {
        (BinOp::Add | BinOp::Sub, Money(_), _) => Money(r),
        (BinOp::Add | BinOp::Sub, Count(_), Count(_)) => Count(r),
        (BinOp::Add | BinOp::Sub, _, _) => Ratio(r),
        (BinOp::Mul, Money(_), _) | (BinOp::Mul, _, Money(_)) => Money(r),
        (BinOp::Mul, Count(_), Count(_)) => Count(r),
        (BinOp::Mul, _, _) => Ratio(r),
        (_, Money(_), Money(_)) => Ratio(r),
        (_, Money(_), _) => Money(r),
        _ => Ratio(r),
    }
}

pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Enum(x), Value::Enum(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        _ => Some(a.num()?.cmp(&b.num()?)),
    }
}

/// A comparison operator over two values (Missing if either is, or if they do not compare).
fn comparison(op: BinOp, l: &Value, r: &Value) -> Value {
    if l.is_missing() || r.is_missing() {
        return Value::Missing;
    }
    let Some(o) = compare(l, r) else {
        return Value::Missing;
    };
    Value::Bool(match op {
        BinOp::Ge => o != Ordering::Less,
        BinOp::Gt => o == Ordering::Greater,
        BinOp::Le => o != Ordering::Greater,
        BinOp::Lt => o == Ordering::Less,
        BinOp::Eq => o == Ordering::Equal,
        _ => o != Ordering::Equal,
    })
}

fn in_arm(arm: &TierArm, x: Decimal) -> bool {
    let lo_ok = if arm.lo.inclusive {
        x >= arm.lo.value
    } else {
        x > arm.lo.value
    };
    let hi_ok = match arm.hi {
        None => true,
        Some(h) => {
            if h.inclusive {
                x <= h.value
            } else {
                x < h.value
            }
        }
    };
    lo_ok && hi_ok
}

/// The arm a value falls in, if any.
pub fn find_arm(t: &Table, x: Decimal) -> Option<usize> {
    t.arms.iter().position(|a| in_arm(a, x))
}

fn zero_of(t: Ty) -> Value {
    match t {
        Ty::Money => Value::Money(Decimal::ZERO),
        Ty::Count => Value::Count(Decimal::ZERO),
        Ty::Bool => Value::Bool(false),
        _ => Value::Ratio(Decimal::ZERO),
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(program: &'a Program, firm: &'a Firm, lets: &'a [Named], tracing: bool) -> Self {
        Evaluator {
            program,
            firm,
            lets,
            trace: tracing.then(Trace::default),
            first_year: firm.first_year(),
            record: None,
        }
    }

    fn read(&mut self, fact: FactId, year: Option<i32>, value: &Value) {
        if let Some(t) = &mut self.trace {
            let r = FactRead {
                fact,
                year,
                value: value.clone(),
            };
            if !t.facts.contains(&r) {
                t.facts.push(r);
            }
        }
    }

    fn events(&self, f: FactId) -> &'a [EventRec] {
        match &self.firm.facts[f] {
            FactData::Events(es) => es,
            _ => &[],
        }
    }

    fn bool_at(&mut self, e: &Expr, y: i32) -> Option<bool> {
        self.eval(e, y).as_bool()
    }

    /// The value of `e` for the firm in period `y` (Missing where data is lacking).
    pub fn eval(&mut self, e: &Expr, y: i32) -> Value {
        match e {
            Expr::Lit(v) => v.clone(),
            Expr::Fact(f) => self.fact(*f, y),
            Expr::Param(p) => self.param(*p, y),
            Expr::Local(i) => {
                let lets = self.lets;
                self.eval(&lets[*i].expr, y)
            }
            Expr::Not(x) => match self.eval(x, y) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Missing,
            },
            Expr::Neg(x) => self.numeric(x, y, |v, d| tag_like(v, -d)),
            Expr::Bin(op, a, b) => self.binary(*op, a, b, y),
            Expr::In(x, vals, neg) => {
                let v = self.eval(x, y);
                if v.is_missing() {
                    return Value::Missing;
                }
                let found = vals.iter().any(|c| compare(&v, c) == Some(Ordering::Equal));
                Value::Bool(found != *neg)
            }
            Expr::If(c, a, b) => match self.bool_at(c, y) {
                Some(true) => self.eval(a, y),
                Some(false) => self.eval(b, y),
                None => Value::Missing,
            },
            Expr::Table(t, x) => self.table(*t, x, y),
            Expr::Prev(x, n) => self.eval(x, y - *n as i32),
            Expr::Growth(x) => self.growth(x, y),
            Expr::Cagr(x, n) => self.cagr(x, *n, y),
            Expr::AggBefore(agg, x) => self.agg_before(*agg, x, y),
            Expr::FirstTime(c) => self.first_time(c, y),
            Expr::EverBefore(c) => {
                let first = self.first_year.unwrap_or(y);
                Value::Bool((first..y).any(|yy| self.bool_at(c, yy) == Some(true)))
            }
            Expr::Consecutive(c, n) => self.consecutive(c, *n, y),
            Expr::Held(f, vals, at) => self.held(*f, vals.as_deref(), at.as_deref(), y),
            Expr::Issued(f, vals, w) => self.issued(*f, vals.as_deref(), *w, y),
            Expr::IssuedBefore(f) => Value::Count(Decimal::from(
                self.events(*f).iter().filter(|r| r.date.y < y).count(),
            )),
            Expr::Occurred(f, v, w) => self.occurred(*f, *v, *w, y),
            Expr::DateOf(f, v, w) => self.date_of(*f, *v, *w, y),
            Expr::Total(f) => self.monthly(*f, false, y),
            Expr::Latest(f) => self.monthly(*f, true, y),
            Expr::Awarded(c) => {
                let d = self.firm.awarded_before(*c, y);
                if let Some(t) = &mut self.trace {
                    t.awarded.push((*c, d));
                }
                Value::Money(d)
            }
            Expr::Min(xs) => self.extreme(xs, Ordering::Less, y),
            Expr::Max(xs) => self.extreme(xs, Ordering::Greater, y),
            Expr::Abs(x) => self.numeric(x, y, |v, d| tag_like(v, d.abs())),
            // An overflow stays as it is.
            Expr::Floor(x) => self.numeric(x, y, |_, d| {
                Value::Count(if money::is_overflow_dec(d) {
                    d
                } else {
                    d.floor()
                })
            }),
            Expr::Round(x, u) => self.numeric(x, y, |_, d| {
                Value::Money(if money::is_overflow_dec(d) {
                    d
                } else {
                    money::round(d, *u)
                })
            }),
            Expr::PeriodStart => Value::Date(Date::year_start(y)),
            Expr::PeriodEnd => Value::Date(Date::year_end(y)),
            Expr::Records {
                agg,
                fact,
                filter,
                body,
                ty,
            } => self.records(*agg, *fact, filter.as_deref(), body.as_deref(), *ty, y),
            Expr::ShiftDate(x, months, days) => match self.eval(x, y) {
                Value::Date(d) => d
                    .shifted(*months, *days)
                    .map(Value::Date)
                    .unwrap_or(Value::Missing),
                _ => Value::Missing,
            },
            Expr::DaysBetween(a, b) | Expr::MonthsBetween(a, b) => {
                match (self.eval(a, y), self.eval(b, y)) {
                    (Value::Date(a), Value::Date(b)) => {
                        Value::Count(Decimal::from(if matches!(e, Expr::DaysBetween(..)) {
                            b.days() - a.days()
                        } else {
                            a.months_until(b)
                        }))
                    }
                    _ => Value::Missing,
                }
            }
            Expr::YearOf(d) => match self.eval(d, y) {
                Value::Date(d) => Value::Count(Decimal::from(d.y)),
                _ => Value::Missing,
            },
            Expr::AtYear(x, at) => match self.eval(at, y) {
                Value::Count(n) if n.fract().is_zero() => {
                    match Decimal::from(y).checked_sub(n).and_then(|b| b.to_u32()) {
                        Some(back) if back <= AT_YEAR_REACH => self.eval(x, y - back as i32),
                        _ => Value::Missing,
                    }
                }
                _ => Value::Missing,
            },
            Expr::Field(i) => self
                .record
                .and_then(|r| r.nums.get(*i).cloned())
                .unwrap_or(Value::Missing),
        }
    }

    /// `sum(F where c: e)` / `count(F where c)` over the records of F dated in year `y`. The
    /// total is exact and order-free: any record value that overflowed makes it an overflow
    /// (+ when any went up), else the exact sum, an overflow when beyond the range.
    fn records(
        &mut self,
        agg: RecordAgg,
        f: FactId,
        filter: Option<&Expr>,
        body: Option<&Expr>,
        ty: Ty,
        y: i32,
    ) -> Value {
        let outer = self.record;
        let (mut total, mut up, mut down, mut missing) = (0i128, false, false, false);
        for r in self.events(f).iter().filter(|r| r.date.y == y) {
            self.record = Some(r);
            let keep = match filter {
                None => Some(true),
                Some(c) => self.eval(c, y).as_bool(),
            };
            let v = match (keep, body) {
                (None, _) => {
                    missing = true;
                    continue;
                }
                (Some(false), _) => continue,
                (Some(true), None) => Value::Count(Decimal::ONE),
                (Some(true), Some(b)) => self.eval(b, y),
            };
            let Some(d) = v.num() else {
                missing = true;
                continue;
            };
            let x = money::scaled_or_overflow(d);
            if money::is_overflow(x) {
                if x > 0 {
                    up = true;
                } else {
                    down = true;
                }
            } else {
                total = total.saturating_add(x);
            }
        }
        self.record = outer;
        // An explanation shows how many records of the period were read (with the source).
        let n = self.events(f).iter().filter(|r| r.date.y == y).count();
        self.read(f, Some(y), &Value::Count(Decimal::from(n)));
        if missing {
            return Value::Missing;
        }
        let scaled = if up {
            money::OVERFLOW
        } else if down {
            -money::OVERFLOW
        } else if money::is_overflow(total) {
            money::overflow(total < 0)
        } else {
            total
        };
        let d = money::from_scaled_or_overflow(scaled);
        match agg {
            RecordAgg::Count => Value::Count(d),
            RecordAgg::Sum => tag_like(&zero_of(ty), d),
        }
    }

    /// `f` of a number and its value; Missing stays Missing.
    fn numeric(&mut self, x: &Expr, y: i32, f: impl FnOnce(&Value, Decimal) -> Value) -> Value {
        let v = self.eval(x, y);
        match v.num() {
            Some(d) => f(&v, d),
            None => Value::Missing,
        }
    }

    fn fact(&mut self, f: FactId, y: i32) -> Value {
        let v = self.firm.value_at(f, y);
        let yr = (self.program.facts[f].kind == PeriodKind::Year).then_some(y);
        self.read(f, yr, &v);
        v
    }

    /// A parameter's value in force at the end of the period.
    fn param(&self, p: ParamId, y: i32) -> Value {
        let at = Date::year_end(y);
        self.program.params[p]
            .values
            .iter()
            .rev()
            .find(|(d, _)| *d <= at)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Missing)
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, y: i32) -> Value {
        match op {
            BinOp::And | BinOp::Or => self.kleene(op == BinOp::And, a, b, y),
            BinOp::Coalesce => {
                let l = self.eval(a, y);
                if l.is_missing() {
                    self.eval(b, y)
                } else {
                    l
                }
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                let l = self.eval(a, y);
                let r = self.eval(b, y);
                arith(op, &l, &r)
            }
            _ => {
                let l = self.eval(a, y);
                let r = self.eval(b, y);
                comparison(op, &l, &r)
            }
        }
    }

    /// `and` / `or` in Kleene logic: a decisive left side skips the right one, and a decisive
    /// right side decides even when the left is missing.
    fn kleene(&mut self, and: bool, a: &Expr, b: &Expr, y: i32) -> Value {
        // `and` is decided by a false, `or` by a true.
        let decisive = !and;
        let l = self.bool_at(a, y);
        if l == Some(decisive) {
            return Value::Bool(decisive);
        }
        match (l, self.bool_at(b, y)) {
            (_, Some(r)) if r == decisive => Value::Bool(decisive),
            (Some(_), Some(_)) => Value::Bool(!decisive),
            _ => Value::Missing,
        }
    }

    /// A tier lookup: the matched arm's value, zero below every tier.
    fn table(&mut self, t: TableId, x: &Expr, y: i32) -> Value {
        let input = self.eval(x, y);
        let program = self.program;
        let table = &program.tables[t];
        let arm = input.num().and_then(|d| find_arm(table, d));
        if let Some(tr) = &mut self.trace {
            tr.tables.push(TableHit {
                table: t,
                input: input.clone(),
                arm,
                year: y,
            });
        }
        if input.is_missing() {
            return Value::Missing;
        }
        match arm {
            Some(i) => self.eval(&table.arms[i].value, y),
            None => zero_of(table.output),
        }
    }

    fn growth(&mut self, x: &Expr, y: i32) -> Value {
        let cur = self.eval(x, y);
        let prev = self.eval(x, y - 1);
        match (cur.num(), prev.num()) {
            (Some(c), Some(p)) => {
                let (c, p) = (money::scaled_or_overflow(c), money::scaled_or_overflow(p));
                money::div_checked(money::sub_checked(c, p), p)
                    .map(|r| Value::Ratio(money::from_scaled_or_overflow(r)))
                    .unwrap_or(Value::Missing)
            }
            _ => Value::Missing,
        }
    }

    fn cagr(&mut self, x: &Expr, n: u32, y: i32) -> Value {
        let cur = self.eval(x, y);
        let base = self.eval(x, y - n as i32);
        match (cur.num(), base.num()) {
            (Some(c), Some(b)) if money::is_overflow_dec(c) || money::is_overflow_dec(b) => {
                Value::Ratio(Decimal::MAX)
            }
            (Some(c), Some(b)) => money::cagr(c, b, n)
                .map(Value::Ratio)
                .unwrap_or(Value::Missing),
            _ => Value::Missing,
        }
    }

    /// `highest_before` / `lowest_before`: over the periods with data from the firm's first
    /// year up to (not including) `y`.
    fn agg_before(&mut self, agg: AggBefore, x: &Expr, y: i32) -> Value {
        let Some(first) = self.first_year else {
            return Value::Missing;
        };
        let want = match agg {
            AggBefore::Highest => Ordering::Greater,
            AggBefore::Lowest => Ordering::Less,
        };
        let mut best: Option<Value> = None;
        for yy in first..y {
            let v = self.eval(x, yy);
            if v.is_missing() {
                continue;
            }
            if best.as_ref().is_none_or(|b| compare(&v, b) == Some(want)) {
                best = Some(v);
            }
        }
        best.unwrap_or(Value::Missing)
    }

    fn first_time(&mut self, c: &Expr, y: i32) -> Value {
        match self.bool_at(c, y) {
            None => Value::Missing,
            Some(false) => Value::Bool(false),
            Some(true) => {
                let first = self.first_year.unwrap_or(y);
                Value::Bool(!(first..y).any(|yy| self.bool_at(c, yy) == Some(true)))
            }
        }
    }

    fn consecutive(&mut self, c: &Expr, n: u32, y: i32) -> Value {
        match self.bool_at(c, y) {
            None => Value::Missing,
            Some(false) => Value::Bool(false),
            Some(true) => Value::Bool((1..n as i32).all(|k| self.bool_at(c, y - k) == Some(true))),
        }
    }

    /// Whether a record (with a value in `vals`, if given) is valid on the date `at`
    /// evaluates to (default: the period's end).
    fn held(&mut self, f: FactId, vals: Option<&[u32]>, at: Option<&Expr>, y: i32) -> Value {
        let date = match at {
            Some(d) => match self.eval(d, y) {
                Value::Date(d) => d,
                _ => return Value::Missing,
            },
            None => Date::year_end(y),
        };
        let fact = &self.program.facts[f];
        let held = self.events(f).iter().any(|r| {
            vals.is_none_or(|vs| r.value.is_some_and(|v| vs.contains(&v)))
                && r.date <= date
                && fact.until_of(r).is_none_or(|u| date <= u)
        });
        let v = Value::Bool(held);
        self.read(f, Some(y), &v);
        v
    }

    fn issued(&mut self, f: FactId, vals: Option<&[u32]>, w: EventWindow, y: i32) -> Value {
        let v = Value::Bool(self.events(f).iter().any(|r| {
            w.holds(r.date.y, y) && vals.is_none_or(|vs| r.value.is_some_and(|v| vs.contains(&v)))
        }));
        self.read(f, Some(y), &v);
        v
    }

    fn occurred(&mut self, f: FactId, v: u32, w: EventWindow, y: i32) -> Value {
        let r = Value::Bool(
            self.events(f)
                .iter()
                .any(|r| w.holds(r.date.y, y) && r.value == Some(v)),
        );
        self.read(f, Some(y), &r);
        r
    }

    /// The first date (records are sorted by date) of a record with value `v` in the window.
    fn date_of(&mut self, f: FactId, v: u32, w: EventWindow, y: i32) -> Value {
        let r = self
            .events(f)
            .iter()
            .find(|r| w.holds(r.date.y, y) && r.value == Some(v))
            .map(|r| Value::Date(r.date))
            .unwrap_or(Value::Missing);
        self.read(f, Some(y), &r);
        r
    }

    /// A monthly fact over the months of the period: their sum, or (`latest`) the last.
    fn monthly(&mut self, f: FactId, latest: bool, y: i32) -> Value {
        let FactData::Monthly(ms) = &self.firm.facts[f] else {
            return Value::Missing;
        };
        let months: Vec<&Value> = ms
            .iter()
            .filter(|((yy, _), _)| *yy == y)
            .map(|(_, v)| v)
            .collect();
        let v = match months.split_first() {
            None => Value::Missing,
            Some((first, rest)) if latest => (*rest.last().unwrap_or(first)).clone(),
            Some((first, rest)) => rest
                .iter()
                .fold((*first).clone(), |acc, m| arith(BinOp::Add, &acc, m)),
        };
        self.read(f, Some(y), &v);
        v
    }

    /// `min` / `max`: Missing if any argument is; the first of equal values.
    fn extreme(&mut self, xs: &[Expr], want: Ordering, y: i32) -> Value {
        let mut best: Option<Value> = None;
        for x in xs {
            let v = self.eval(x, y);
            if v.is_missing() {
                return Value::Missing;
            }
            if best.as_ref().is_none_or(|b| compare(&v, b) == Some(want)) {
                best = Some(v);
            }
        }
        best.unwrap_or(Value::Missing)
    }
}
