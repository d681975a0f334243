//! Exact ranking: a `select`'s or a by-score `pool`'s score (and its tie keys) compared as the
//! fraction it denotes, not as the 12-decimal value expressions are computed to.
//!
//! Two firms whose growth ratios differ in the 21st decimal place must not tie. A score is
//! split into an arithmetic skeleton (`+ - * /`, minus, `abs`, `min`, `max`, `if`, `??`, and
//! `growth` and `prev` pushed through it) over leaves — facts, parameters, functions — that both
//! engines already compute exactly (money in 分, a fact's ratio as stored). Each engine computes
//! the leaves its own way and hands them to [`Score::eval`], which does the skeleton's arithmetic
//! on fractions: the engines agree by construction and nothing is truncated or overflows.
//! Functions that are not arithmetic (`cagr`, tables, `floor`, `round`, history extremes) stay
//! leaves with their 12-decimal values, as in any other expression.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::Ratio;
use num_traits::{CheckedAdd, CheckedMul, CheckedSub, Signed, Zero};
use rust_decimal::Decimal;

use crate::money;
use crate::program::{BinOp, Expr, Order};
use crate::value::Value;

/// A score's skeleton over numbered leaves.
#[derive(Clone, Debug)]
enum Node {
    Leaf(usize),
    Lit(Decimal),
    Neg(Box<Node>),
    Abs(Box<Node>),
    Arith(BinOp, Box<Node>, Box<Node>),
    Min(Vec<Node>),
    Max(Vec<Node>),
    /// The condition is a leaf (a boolean the engines compute).
    If(usize, Box<Node>, Box<Node>),
    Coalesce(Box<Node>, Box<Node>),
}

/// A ranking key's exact form: its skeleton and the leaves each engine computes per firm.
#[derive(Clone, Debug)]
pub struct Score {
    node: Node,
    /// The leaf expressions, each evaluated for the ranked period like any expression.
    pub leaves: Vec<Expr>,
}

/// The exact value of a score for one firm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exact {
    /// A leaf lacked data (or a division by zero): ranked last, never selected.
    Missing,
    /// A leaf it used was beyond the range of exact arithmetic: the run is refused.
    Overflow,
    Value(Q),
}

/// A fraction: machine-sized while it fits, arbitrary precision beyond.
#[derive(Clone, Debug)]
pub enum Q {
    Small(Ratio<i128>),
    Big(Ratio<BigInt>),
}

impl Q {
    fn big(&self) -> Ratio<BigInt> {
        match self {
            Q::Small(r) => Ratio::new_raw(BigInt::from(*r.numer()), BigInt::from(*r.denom())),
            Q::Big(r) => r.clone(),
        }
    }
}

impl PartialEq for Q {
    fn eq(&self, other: &Q) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Q {}
impl PartialOrd for Q {
    fn partial_cmp(&self, other: &Q) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Q {
    fn cmp(&self, other: &Q) -> Ordering {
        match (self, other) {
            (Q::Small(a), Q::Small(b)) => a.cmp(b),
            _ => self.big().cmp(&other.big()),
        }
    }
}

impl Score {
    /// Splits a (checked, numeric) score expression.
    pub fn new(e: &Expr) -> Score {
        let mut s = Score {
            node: Node::Lit(Decimal::ZERO),
            leaves: vec![],
        };
        s.node = s.split(e, 0);
        s
    }

    fn leaf(&mut self, e: &Expr, shift: u32) -> usize {
        let e = if shift == 0 {
            e.clone()
        } else {
            Expr::Prev(Box::new(e.clone()), shift)
        };
        // The same leaf twice (`growth(x)` reads x and prev(x); a score may repeat a fact) is
        // computed once.
        let key = format!("{e:?}");
        if let Some(i) = self.leaves.iter().position(|l| format!("{l:?}") == key) {
            return i;
        }
        self.leaves.push(e);
        self.leaves.len() - 1
    }

    /// `e` evaluated `shift` periods earlier: `prev` distributes over arithmetic.
    fn split(&mut self, e: &Expr, shift: u32) -> Node {
        let b = Box::new;
        match e {
            Expr::Lit(v) => match v.num() {
                Some(d) => Node::Lit(d),
                None => Node::Leaf(self.leaf(e, shift)),
            },
            Expr::Neg(x) => Node::Neg(b(self.split(x, shift))),
            Expr::Abs(x) => Node::Abs(b(self.split(x, shift))),
            Expr::Bin(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), x, y) => {
                Node::Arith(*op, b(self.split(x, shift)), b(self.split(y, shift)))
            }
            Expr::Bin(BinOp::Coalesce, x, y) => {
                Node::Coalesce(b(self.split(x, shift)), b(self.split(y, shift)))
            }
            Expr::Min(xs) => Node::Min(xs.iter().map(|x| self.split(x, shift)).collect()),
            Expr::Max(xs) => Node::Max(xs.iter().map(|x| self.split(x, shift)).collect()),
            Expr::If(c, x, y) => Node::If(
                self.leaf(c, shift),
                b(self.split(x, shift)),
                b(self.split(y, shift)),
            ),
            Expr::Prev(x, n) => self.split(x, shift + n),
            // (x − prev(x)) / prev(x), exactly.
            Expr::Growth(x) => {
                let (now, before) = (self.split(x, shift), self.split(x, shift + 1));
                Node::Arith(
                    BinOp::Div,
                    b(Node::Arith(BinOp::Sub, b(now), b(before.clone()))),
                    b(before),
                )
            }
            _ => Node::Leaf(self.leaf(e, shift)),
        }
    }

    /// The exact score from the leaves' values (in the order of [`Score::leaves`]).
    pub fn eval(&self, leaves: &[Value]) -> Exact {
        match eval(&self.node, leaves, &Small) {
            Ok(Some(r)) => Exact::Value(Q::Small(r)),
            Ok(None) => Exact::Missing,
            Err(Stop::Overflow) => Exact::Overflow,
            // Too large for machine integers: again, in arbitrary precision.
            Err(Stop::Wide) => match eval(&self.node, leaves, &Big) {
                Ok(Some(r)) => Exact::Value(Q::Big(r)),
                Ok(None) => Exact::Missing,
                Err(_) => Exact::Overflow,
            },
        }
    }
}

/// Orders two keys: missing last whatever the direction, then by value.
pub fn cmp_keys(a: &Exact, b: &Exact, order: Order) -> Ordering {
    match (a, b) {
        (Exact::Value(x), Exact::Value(y)) => {
            let o = x.cmp(y);
            if order == Order::Desc {
                o.reverse()
            } else {
                o
            }
        }
        (Exact::Value(_), _) => Ordering::Less,
        (_, Exact::Value(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

enum Stop {
    /// A leaf beyond exact arithmetic.
    Overflow,
    /// A fraction too large for this representation.
    Wide,
}

/// The integer type fractions are kept in.
trait Num {
    type I: Clone + num_integer::Integer + Signed + CheckedMul + CheckedAdd + CheckedSub;
    fn int(&self, v: i128) -> Self::I;
    /// Whether a result is small enough to go on with (machine integers keep headroom so no
    /// operation can reach their minimum).
    fn fits(&self, r: &Ratio<Self::I>) -> bool;
}

struct Small;
struct Big;

const SMALL_LIMIT: i128 = 1 << 120;

impl Num for Small {
    type I = i128;
    fn int(&self, v: i128) -> i128 {
        v
    }
    fn fits(&self, r: &Ratio<i128>) -> bool {
        r.numer().abs() < SMALL_LIMIT && *r.denom() < SMALL_LIMIT
    }
}

impl Num for Big {
    type I = BigInt;
    fn int(&self, v: i128) -> BigInt {
        BigInt::from(v)
    }
    fn fits(&self, _: &Ratio<BigInt>) -> bool {
        true
    }
}

type Res<T> = Result<Option<Ratio<T>>, Stop>;

/// A leaf's or literal's value on the engines' common scale (12 decimals, as the columnar
/// engine holds it), as a fraction.
fn dec<N: Num>(d: Decimal, n: &N) -> Result<Ratio<N::I>, Stop> {
    let v = money::scaled_or_overflow(d);
    if money::is_overflow(v) {
        return Err(Stop::Overflow);
    }
    Ok(Ratio::new(n.int(v), n.int(money::ONE)))
}

fn checked<N: Num>(r: Option<Ratio<N::I>>, n: &N) -> Res<N::I> {
    match r {
        Some(r) if n.fits(&r) => Ok(Some(r)),
        _ => Err(Stop::Wide),
    }
}

fn eval<N: Num>(node: &Node, leaves: &[Value], n: &N) -> Res<N::I> {
    match node {
        Node::Lit(d) => dec(*d, n).map(Some),
        Node::Leaf(i) => match leaves.get(*i).and_then(Value::num) {
            Some(d) => dec(d, n).map(Some),
            None => Ok(None),
        },
        Node::Neg(x) => Ok(eval(x, leaves, n)?.map(|r| -r)),
        Node::Abs(x) => Ok(eval(x, leaves, n)?.map(|r| r.abs())),
        Node::Arith(op, x, y) => {
            let (Some(a), Some(b)) = (eval(x, leaves, n)?, eval(y, leaves, n)?) else {
                return Ok(None);
            };
            match op {
                BinOp::Add => checked(a.checked_add(&b), n),
                BinOp::Sub => checked(a.checked_sub(&b), n),
                BinOp::Mul => checked(a.checked_mul(&b), n),
                _ if b.is_zero() => Ok(None),
                _ => checked(a.checked_mul(&b.recip()), n),
            }
        }
        Node::Min(xs) | Node::Max(xs) => {
            let want = match node {
                Node::Min(_) => Ordering::Less,
                _ => Ordering::Greater,
            };
            let mut best: Option<Ratio<N::I>> = None;
            for x in xs {
                let Some(v) = eval(x, leaves, n)? else {
                    return Ok(None);
                };
                if best.as_ref().is_none_or(|b| v.cmp(b) == want) {
                    best = Some(v);
                }
            }
            Ok(best)
        }
        Node::If(c, x, y) => match leaves.get(*c).and_then(Value::as_bool) {
            Some(true) => eval(x, leaves, n),
            Some(false) => eval(y, leaves, n),
            None => Ok(None),
        },
        Node::Coalesce(x, y) => match eval(x, leaves, n)? {
            Some(v) => Ok(Some(v)),
            None => eval(y, leaves, n),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::FactId;

    fn fact(f: FactId) -> Expr {
        Expr::Fact(f)
    }
    fn money(s: &str) -> Value {
        Value::Money(s.parse().unwrap())
    }

    #[test]
    fn growth_ratios_differing_past_twelve_places_do_not_tie() {
        // (x − p) / p for two firms: 1/3 + 1e-21-ish apart.
        let s = Score::new(&Expr::Growth(Box::new(fact(0))));
        assert_eq!(s.leaves.len(), 2);
        let a = s.eval(&[money("4000000000000.01"), money("3000000000000")]);
        let b = s.eval(&[money("4000000000000"), money("3000000000000")]);
        assert_eq!(cmp_keys(&a, &b, Order::Desc), Ordering::Less);
        // On the 12-decimal scale they are equal.
        let t = |x: &str, p: &str| {
            let (x, p): (Decimal, Decimal) = (x.parse().unwrap(), p.parse().unwrap());
            money::div(x - p, p)
        };
        assert_eq!(
            t("4000000000000.01", "3000000000000"),
            t("4000000000000", "3000000000000")
        );
    }

    #[test]
    fn missing_sorts_last_and_overflow_is_reported() {
        let s = Score::new(&fact(0));
        let m = s.eval(&[Value::Missing]);
        let v = s.eval(&[money("1")]);
        assert_eq!(cmp_keys(&m, &v, Order::Desc), Ordering::Greater);
        assert_eq!(cmp_keys(&m, &v, Order::Asc), Ordering::Greater);
        let ov = money::from_scaled_or_overflow(money::OVERFLOW);
        assert_eq!(s.eval(&[Value::Money(ov)]), Exact::Overflow);
    }

    #[test]
    fn large_fractions_go_arbitrary_precision() {
        // A product of several large quotients exceeds i128 and is still exact.
        let q = Expr::Bin(BinOp::Div, Box::new(fact(0)), Box::new(fact(1)));
        let e = Expr::Bin(
            BinOp::Mul,
            Box::new(Expr::Bin(
                BinOp::Mul,
                Box::new(q.clone()),
                Box::new(q.clone()),
            )),
            Box::new(q),
        );
        let s = Score::new(&e);
        let a = s.eval(&[money("79228162514.264337593543"), money("3.000000000007")]);
        let b = s.eval(&[money("79228162514.264337593543"), money("3.000000000008")]);
        assert!(matches!(a, Exact::Value(Q::Big(_))));
        assert_eq!(a.clone(), a);
        assert_eq!(cmp_keys(&a, &b, Order::Desc), Ordering::Less);
    }
}
