//! Exact decimal arithmetic rules and the display of money in the units policy texts use.
//!
//! Every arithmetic result keeps at most [`SCALE`] decimal places, truncated toward −∞, so a
//! columnar implementation on Decimal128(38, 12) reproduces it bit for bit. Money is in 元.

use rust_decimal::prelude::*;
use rust_decimal::RoundingStrategy;

/// Decimal places kept by every intermediate result.
pub const SCALE: u32 = 12;

pub fn wan() -> Decimal {
    Decimal::from(10_000)
}
pub fn yi() -> Decimal {
    Decimal::from(100_000_000)
}

/// Truncates toward −∞ to [`SCALE`] places.
pub fn trunc(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(SCALE, RoundingStrategy::ToNegativeInfinity)
}

/// 10^12: one unit of the fixed-point representation shared with the columnar engine.
pub const ONE: i128 = 1_000_000_000_000;

/// A decimal as an integer count of 10^-12 (truncated toward −∞ if it had more places).
pub fn to_scaled(d: Decimal) -> Option<i128> {
    let d = trunc(d);
    let m = d.mantissa();
    let sc = d.scale();
    m.checked_mul(10i128.checked_pow(SCALE - sc)?)
}

pub fn from_scaled(v: i128) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(v, SCALE)
        .ok()
        .map(|d| d.normalize())
}

fn floor_div_big(a: num_bigint::BigInt, b: &num_bigint::BigInt) -> num_bigint::BigInt {
    use num_bigint::Sign;
    let q = &a / b;
    let r = &a - &q * b;
    if r.sign() != Sign::NoSign && ((r.sign() == Sign::Minus) != (b.sign() == Sign::Minus)) {
        q - 1
    } else {
        q
    }
}

fn floor_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// ⌊x / (2^S · D)⌋ for D < 2^32 without a 128-bit division, which is a library call costing
/// about a hundred cycles: shift out 2^S, then divide by D in three 32-bit steps, each a 64-bit
/// division by a constant (a multiply). 10^12 = 2^12 · 5^12 and 10^10 = 2^10 · 5^10.
#[inline(always)]
fn div_2s_d<const S: u32, const D: u64>(x: u128) -> u128 {
    // Most amounts (below 1.8e7 元 on this scale) fit 64 bits: one multiply and a shift.
    if let Ok(x) = u64::try_from(x) {
        return (x / (D << S)) as u128;
    }
    let y = x >> S;
    let (h, l) = ((y >> 64) as u64, y as u64);
    let (qh, rh) = (h / D, h % D);
    // rh < D < 2^32, so each partial dividend fits in 64 bits and each quotient in 32.
    let x1 = (rh << 32) | (l >> 32);
    let (q1, r1) = (x1 / D, x1 % D);
    let x0 = (r1 << 32) | (l & 0xffff_ffff);
    let q0 = x0 / D;
    ((qh as u128) << 64) | (((q1 << 32) | q0) as u128)
}

/// ⌊|x| / 10^12⌋.
#[inline(always)]
fn div_one(x: u128) -> u128 {
    div_2s_d::<12, 244_140_625>(x)
}

/// ⌊|x| / 10^10⌋ (one 分 on the fixed-point scale).
#[inline(always)]
fn div_fen(x: u128) -> u128 {
    div_2s_d::<10, 9_765_625>(x)
}

/// ⌊p / 10^12⌋ toward −∞.
#[inline]
fn floor_div_one(p: i128) -> i128 {
    let m = p.unsigned_abs();
    let q = div_one(m);
    if p >= 0 {
        q as i128
    } else if q * ONE as u128 == m {
        -(q as i128)
    } else {
        -(q as i128) - 1
    }
}

/// a × b on the fixed-point scale, floored; None on overflow of i128.
#[inline]
pub fn mul_scaled(a: i128, b: i128) -> Option<i128> {
    match a.checked_mul(b) {
        Some(p) => Some(floor_div_one(p)),
        None => mul_scaled_big(a, b),
    }
}

/// The rare product that overflows i128 before the division.
#[cold]
fn mul_scaled_big(a: i128, b: i128) -> Option<i128> {
    let p = num_bigint::BigInt::from(a) * num_bigint::BigInt::from(b);
    floor_div_big(p, &num_bigint::BigInt::from(ONE))
        .try_into()
        .ok()
}

/// a ÷ b on the fixed-point scale, floored; None for b = 0 or overflow.
pub fn div_scaled(a: i128, b: i128) -> Option<i128> {
    if b == 0 {
        return None;
    }
    match a.checked_mul(ONE) {
        Some(n) => Some(floor_div(n, b)),
        None => {
            let n = num_bigint::BigInt::from(a) * num_bigint::BigInt::from(ONE);
            floor_div_big(n, &num_bigint::BigInt::from(b))
                .try_into()
                .ok()
        }
    }
}

/// The largest magnitude of a number on the fixed-point scale: what a `Decimal` holds at
/// [`SCALE`] places (2^96 − 1 units of 10^-12, about 7.9×10^16). A result beyond it is an
/// *overflow*: both engines carry it on as [`OVERFLOW`] (with the result's sign), an infinity
/// that compares above (or below) every number and that every later arithmetic step keeps;
/// an amount that is one is an error naming the firm and the clause.
pub const MAX_SCALED: i128 = (1 << 96) - 1;

/// An amount in 元 as an exact string with exactly two decimals: `200000.00`, `0.05`.
pub fn yuan_string(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

/// The largest amount a result can carry: 9,999,999,999,999,999.99 元 (10^18 − 1 分), what
/// `results.parquet`'s Decimal(18, 2) holds. A finished amount beyond it (well inside exact
/// arithmetic) cannot be paid either: both engines treat it as an overflow.
pub const MAX_AMOUNT_SCALED: i128 = 10i128.pow(28) - 10i128.pow(10);

/// Whether a finished amount (on the fixed-point scale) is beyond [`MAX_AMOUNT_SCALED`].
#[inline(always)]
pub fn beyond_amount(v: i128) -> bool {
    v.unsigned_abs() > MAX_AMOUNT_SCALED as u128
}

/// An overflowed result on the fixed-point scale (negated: −∞). Outside Decimal128(38)'s range,
/// like every value beyond [`MAX_SCALED`].
pub const OVERFLOW: i128 = i128::MAX;

/// Whether a value on the fixed-point scale is beyond the range of exact arithmetic.
#[inline(always)]
pub fn is_overflow(v: i128) -> bool {
    v.unsigned_abs() > MAX_SCALED as u128
}

/// ±[`OVERFLOW`]: − when `neg`.
#[inline(always)]
pub fn overflow(neg: bool) -> i128 {
    if neg {
        -OVERFLOW
    } else {
        OVERFLOW
    }
}

/// `v`, or ±[`OVERFLOW`] when it is beyond the range.
#[inline(always)]
fn ranged(v: i128) -> i128 {
    if is_overflow(v) {
        overflow(v < 0)
    } else {
        v
    }
}

/// a + b on the fixed-point scale; an overflowed operand or result gives ±[`OVERFLOW`]
/// (the sign of the saturated sum, + for 0).
#[inline(always)]
pub fn add_checked(a: i128, b: i128) -> i128 {
    if is_overflow(a) || is_overflow(b) {
        return overflow(a.saturating_add(b) < 0);
    }
    // Both within 2^96: the sum cannot leave i128.
    ranged(a + b)
}

/// a − b on the fixed-point scale, like [`add_checked`].
#[inline(always)]
pub fn sub_checked(a: i128, b: i128) -> i128 {
    if is_overflow(a) || is_overflow(b) {
        return overflow(a.saturating_sub(b) < 0);
    }
    ranged(a - b)
}

/// Whether a product or quotient of `a` and `b` is negative (0 counts as positive).
#[inline(always)]
fn neg_product(a: i128, b: i128) -> bool {
    a != 0 && b != 0 && ((a < 0) != (b < 0))
}

/// a × b on the fixed-point scale, floored ([`mul_scaled`]); an overflowed operand or result
/// gives ±[`OVERFLOW`].
#[inline]
pub fn mul_checked(a: i128, b: i128) -> i128 {
    if is_overflow(a) || is_overflow(b) {
        return overflow(neg_product(a, b));
    }
    match mul_scaled(a, b) {
        Some(p) => ranged(p),
        None => overflow(neg_product(a, b)),
    }
}

/// a ÷ b on the fixed-point scale, floored ([`div_scaled`]); an overflowed operand or result
/// gives ±[`OVERFLOW`]; division by zero has no value (None: missing).
#[inline]
pub fn div_checked(a: i128, b: i128) -> Option<i128> {
    if is_overflow(a) || is_overflow(b) {
        return Some(overflow(neg_product(a, b)));
    }
    if b == 0 {
        return None;
    }
    Some(match div_scaled(a, b) {
        Some(q) => ranged(q),
        None => overflow(neg_product(a, b)),
    })
}

/// A decimal on the fixed-point scale; beyond the range, ±[`OVERFLOW`].
pub fn scaled_or_overflow(d: Decimal) -> i128 {
    match to_scaled(d) {
        Some(v) => ranged(v),
        None => overflow(d.is_sign_negative()),
    }
}

/// Whether a decimal is beyond the range of exact arithmetic (an overflowed result, or a
/// literal or fact that large).
pub fn is_overflow_dec(d: Decimal) -> bool {
    is_overflow(scaled_or_overflow(d))
}

/// A fixed-point value as a decimal; ±[`OVERFLOW`] (anything beyond the range) as
/// `Decimal::MAX` / `Decimal::MIN`, which are beyond it too.
pub fn from_scaled_or_overflow(v: i128) -> Decimal {
    match from_scaled(v) {
        Some(d) if !is_overflow(v) => d,
        _ if v < 0 => Decimal::MIN,
        _ => Decimal::MAX,
    }
}

pub fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    from_scaled(to_scaled(a)?.checked_add(to_scaled(b)?)?)
}
pub fn sub(a: Decimal, b: Decimal) -> Option<Decimal> {
    from_scaled(to_scaled(a)?.checked_sub(to_scaled(b)?)?)
}
/// Exact product, floored to [`SCALE`] places (the same integer arithmetic the columnar engine uses).
pub fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    from_scaled(mul_scaled(to_scaled(a)?, to_scaled(b)?)?)
}
/// Division by zero is `None` (the evaluators turn it into a missing value).
pub fn div(a: Decimal, b: Decimal) -> Option<Decimal> {
    from_scaled(div_scaled(to_scaled(a)?, to_scaled(b)?)?)
}

/// The unit an amount is rounded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RoundUnit {
    Fen,
    Yuan,
    /// 百元
    Bai,
    /// 千元
    Qian,
    Wan,
}

impl RoundUnit {
    pub const ALL: [RoundUnit; 5] = [
        RoundUnit::Fen,
        RoundUnit::Yuan,
        RoundUnit::Bai,
        RoundUnit::Qian,
        RoundUnit::Wan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RoundUnit::Fen => "分",
            RoundUnit::Yuan => "元",
            RoundUnit::Bai => "百元",
            RoundUnit::Qian => "千元",
            RoundUnit::Wan => "万元",
        }
    }
    pub fn from_name(s: &str) -> Option<RoundUnit> {
        match s {
            "分" => Some(RoundUnit::Fen),
            "元" => Some(RoundUnit::Yuan),
            "百元" => Some(RoundUnit::Bai),
            "千元" => Some(RoundUnit::Qian),
            "万元" | "万" => Some(RoundUnit::Wan),
            _ => None,
        }
    }
    /// The unit on the fixed-point scale.
    pub const fn scaled(self) -> i128 {
        match self {
            RoundUnit::Fen => ONE / 100,
            RoundUnit::Yuan => ONE,
            RoundUnit::Bai => ONE * 100,
            RoundUnit::Qian => ONE * 1_000,
            RoundUnit::Wan => ONE * 10_000,
        }
    }
}

/// How the part below the unit goes: half up (四舍五入, .5 away from zero), down (舍去: toward
/// zero) or up (进位: away from zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RoundMode {
    HalfUp,
    Down,
    Up,
}

impl RoundMode {
    pub const ALL: [RoundMode; 3] = [RoundMode::HalfUp, RoundMode::Down, RoundMode::Up];

    /// The name a pack writes (`half_up`, `down`, `up`).
    pub fn name(self) -> &'static str {
        match self {
            RoundMode::HalfUp => "half_up",
            RoundMode::Down => "down",
            RoundMode::Up => "up",
        }
    }
    /// A pack's name for the mode: English or the Chinese term of the texts.
    pub fn from_name(s: &str) -> Option<RoundMode> {
        match s {
            "half_up" | "四舍五入" => Some(RoundMode::HalfUp),
            "down" | "舍去" => Some(RoundMode::Down),
            "up" | "进位" => Some(RoundMode::Up),
            _ => None,
        }
    }
}

/// A rounding: the unit and the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rounding {
    pub unit: RoundUnit,
    pub mode: RoundMode,
}

impl Rounding {
    /// Half up to the 分: the default.
    pub const FEN: Rounding = Rounding::half_up(RoundUnit::Fen);

    pub const fn half_up(unit: RoundUnit) -> Rounding {
        Rounding {
            unit,
            mode: RoundMode::HalfUp,
        }
    }

    /// As a pack writes it: `元`, `百元 down`.
    pub fn text(self) -> String {
        match self.mode {
            RoundMode::HalfUp => self.unit.name().to_string(),
            m => format!("{} {}", self.unit.name(), m.name()),
        }
    }
}

pub fn round(d: Decimal, r: Rounding) -> Decimal {
    let s = match r.mode {
        RoundMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        RoundMode::Down => RoundingStrategy::ToZero,
        RoundMode::Up => RoundingStrategy::AwayFromZero,
    };
    match r.unit {
        RoundUnit::Fen => d.round_dp_with_strategy(2, s),
        RoundUnit::Yuan => d.round_dp_with_strategy(0, s),
        u => {
            let step = Decimal::from_i128_with_scale(u.scaled(), SCALE);
            (d / step).round_dp_with_strategy(0, s) * step
        }
    }
}

/// [`round`] on the fixed-point scale, without leaving integers: the columnar engine rounds
/// millions of amounts per run. Equal to `round` (tested below).
#[inline]
pub fn round_scaled(x: i128, r: Rounding) -> i128 {
    if r.mode != RoundMode::HalfUp {
        return round_mode(x, r);
    }
    // One arm per unit, so each divides by a constant (a multiply and a shift, not a `div`).
    match r.unit {
        RoundUnit::Fen => round_to::<{ (ONE / 100) as u64 }>(x, div_fen),
        RoundUnit::Yuan => round_to::<{ ONE as u64 }>(x, div_one),
        RoundUnit::Wan => round_to::<{ (ONE * 10_000) as u64 }>(x, |m| m / (ONE as u128 * 10_000)),
        u => round_mode(x, Rounding::half_up(u)),
    }
}

/// Any rounding on the fixed-point scale, on the magnitude (so down is toward zero).
fn round_mode(x: i128, r: Rounding) -> i128 {
    let u = r.unit.scaled() as u128;
    let m = x.unsigned_abs();
    let (q, rem) = (m / u, m % u);
    let q = match r.mode {
        RoundMode::HalfUp => q + u128::from(rem * 2 >= u),
        RoundMode::Down => q,
        RoundMode::Up => q + u128::from(rem > 0),
    };
    let v = (q * u) as i128;
    if x < 0 {
        -v
    } else {
        v
    }
}

/// `x` rounded half away from zero to a multiple of `U` (at most 10^16), `div` being ⌊m / U⌋
/// for the values past 64 bits.
#[inline(always)]
fn round_to<const U: u64>(x: i128, div: impl Fn(u128) -> u128) -> i128 {
    let m = x.unsigned_abs();
    // Most amounts fit 64 bits: divide, take the remainder and compare there.
    let v = if let Ok(m) = u64::try_from(m) {
        let q = m / U;
        let q = q + ((m - q * U) * 2 >= U) as u64;
        (q as u128 * U as u128) as i128
    } else {
        let q = div(m);
        let r = m - q * U as u128;
        let q = if r * 2 >= U as u128 { q + 1 } else { q };
        (q * U as u128) as i128
    };
    if x < 0 {
        -v
    } else {
        v
    }
}

/// Amount in 元 (at most 2 decimals) → integer 分.
/// Checked: an amount whose 分 do not fit an i64 saturates (never wraps or panics); the
/// evaluators refuse such amounts before (`MAX_SCALED`).
pub fn to_fen(d: Decimal) -> i64 {
    let saturated = if d.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    };
    round(d, Rounding::FEN)
        .checked_mul(Decimal::from(100))
        .and_then(|f| f.to_i64())
        .unwrap_or(saturated)
}
pub fn from_fen(f: i64) -> Decimal {
    Decimal::new(f, 2)
}

fn plain(d: Decimal) -> String {
    let s = d.normalize().to_string();
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Money the way a Chinese policy text writes it: `3.2亿元`, `300万元`, `1234.56元`.
pub fn fmt_money_zh(d: Decimal) -> String {
    let a = d.abs();
    if a >= yi() && (a % Decimal::from(1_000_000)).is_zero() {
        format!("{}亿元", plain(d / yi()))
    } else if a >= wan() && (a % Decimal::from(100)).is_zero() {
        format!("{}万元", plain(d / wan()))
    } else {
        format!("{}元", plain(trunc(d).round_dp(2)))
    }
}

/// English display: `CNY 3.2 bn` style is unfamiliar to officers, so keep 万/亿 but spell the unit.
pub fn fmt_money_en(d: Decimal) -> String {
    let a = d.abs();
    if a >= yi() && (a % Decimal::from(1_000_000)).is_zero() {
        format!("{} yi yuan", plain(d / yi()))
    } else if a >= wan() && (a % Decimal::from(100)).is_zero() {
        format!("{} wan yuan", plain(d / wan()))
    } else {
        format!("{} yuan", plain(trunc(d).round_dp(2)))
    }
}

/// A ratio as a percentage, e.g. `3.2%`.
pub fn fmt_ratio(d: Decimal) -> String {
    let p = (d * Decimal::from(100)).round_dp(4);
    format!("{}%", plain(p))
}

pub fn fmt_plain(d: Decimal) -> String {
    plain(d)
}

/// The n-th root of `a / b` minus one, truncated toward −∞ to [`SCALE`] places, computed exactly
/// with big integers (no floating point): the largest R with (R/10^12)^n ≤ a/b.
pub fn cagr(a: Decimal, b: Decimal, n: u32) -> Option<Decimal> {
    use num_bigint::BigInt;
    if n == 0 || b <= Decimal::ZERO || a < Decimal::ZERO {
        return None;
    }
    // a/b as a fraction of integers.
    let (am, asc) = (a.mantissa(), a.scale());
    let (bm, bsc) = (b.mantissa(), b.scale());
    let sc = asc.max(bsc);
    let an = BigInt::from(am) * BigInt::from(10).pow(sc - asc);
    let bn = BigInt::from(bm) * BigInt::from(10).pow(sc - bsc);
    let one = BigInt::from(10).pow(SCALE);
    // The largest R with R^n * b <= a * 10^(12n), i.e. R = floor((a * 10^(12n) / b)^(1/n)):
    // for an integer R, R^n <= x/b exactly when R^n <= floor(x/b). An exact integer root.
    let x = (&an * one.pow(n)) / &bn;
    let lo = num_bigint::BigUint::try_from(x).ok()?.nth_root(n);
    let r: i128 = i128::try_from(lo).ok()?;
    let root = Decimal::try_from_i128_with_scale(r, SCALE).ok()?;
    Some(root - Decimal::ONE)
}

/// `cagr` on the fixed-point scale (`a`, `b` and the result are 10^-12 units), in 128-bit
/// integers when the intermediate quotient fits (growth ratios below ~10^14 for n = 2), else
/// through `cagr`. Same result: R = ⌊(a · 10^(12n) / b)^(1/n)⌋ − 10^12, as an exact integer root.
pub fn cagr_scaled(a: i128, b: i128, n: u32) -> Option<i128> {
    // Decimal's mantissa is 96 bits: beyond it the reference has no value either.
    const DEC_MAX: i128 = (1 << 96) - 1;
    if n == 0 || b <= 0 || !(0..=DEC_MAX).contains(&a) || b > DEC_MAX {
        return None;
    }
    let slow = || cagr(from_scaled(a)?, from_scaled(b)?, n).and_then(to_scaled);
    let (ua, ub, one) = (a as u128, b as u128, ONE as u128);
    // q = ⌊a / b · 10^(12n)⌋ by long division, 10^12 at a time (⌊x^(1/n)⌋ = ⌊⌊x⌋^(1/n)⌋).
    let (mut q, mut r) = (ua / ub, ua % ub);
    for _ in 0..n {
        let Some(x) = r.checked_mul(one) else {
            return slow();
        };
        let Some(next) = q.checked_mul(one).and_then(|q| q.checked_add(x / ub)) else {
            return slow();
        };
        q = next;
        r = x % ub;
    }
    let root = iroot(q, n);
    (root <= DEC_MAX as u128).then(|| root as i128 - ONE)
}

/// ⌊x^(1/n)⌋ for n ≥ 1, by integer Newton steps from above (exact; no floating point).
fn iroot(x: u128, n: u32) -> u128 {
    if n == 1 || x < 2 {
        return x;
    }
    if n == 2 {
        return x.isqrt();
    }
    // r^n > x for r = 2^⌈bits/n⌉; Newton's step decreases monotonically to the floor root.
    let bits = 128 - x.leading_zeros();
    let mut r: u128 = 1 << bits.div_ceil(n);
    loop {
        let p = r.pow(n - 1); // r ≤ 2^⌈bits/n⌉, so r^(n-1) < 2^128
        let next = ((n as u128 - 1) * r + x / p) / n as u128;
        if next >= r {
            return r;
        }
        r = next;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn yuan_strings_have_two_decimals() {
        use std::str::FromStr;
        let y = |s: &str| super::yuan_string(Decimal::from_str(s).unwrap());
        assert_eq!(y("200000"), "200000.00");
        assert_eq!(y("0.05"), "0.05");
        assert_eq!(y("12.345"), "12.34");
        assert_eq!(y("-3.1"), "-3.10");
        assert_eq!(y("9999999999999999.99"), "9999999999999999.99");
    }

    /// The definition, by bisection: the largest R with R^n * b <= a * 10^(12n).
    fn cagr_by_bisection(a: Decimal, b: Decimal, n: u32) -> Option<Decimal> {
        use num_bigint::BigInt;
        let sc = a.scale().max(b.scale());
        let an = BigInt::from(a.mantissa()) * BigInt::from(10).pow(sc - a.scale());
        let bn = BigInt::from(b.mantissa()) * BigInt::from(10).pow(sc - b.scale());
        let one = BigInt::from(10).pow(SCALE);
        let rhs = &an * one.pow(n);
        let (mut lo, mut hi) = (BigInt::from(0), one.clone());
        while hi.pow(n) * &bn <= rhs {
            hi *= 2;
        }
        while &hi - &lo > BigInt::from(1) {
            let mid: BigInt = (&lo + &hi) / 2;
            if mid.pow(n) * &bn <= rhs {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let r: i128 = lo.try_into().ok()?;
        Some(Decimal::try_from_i128_with_scale(r, SCALE).ok()? - Decimal::ONE)
    }

    #[test]
    fn cagr_root_is_the_bisection() {
        use proptest::prelude::*;
        let amount = (0i64..i64::MAX, 0u32..13).prop_map(|(m, s)| Decimal::new(m, s));
        proptest!(|(a in amount.clone(), b in amount, n in 1u32..6)| {
            prop_assume!(b > Decimal::ZERO);
            prop_assert_eq!(cagr(a, b, n), cagr_by_bisection(a, b, n));
        });
    }

    #[test]
    fn cagr_in_integers_is_cagr() {
        use proptest::prelude::*;
        let scaled = prop_oneof![
            0i128..1_000_000_000_000_000_000_000,
            0i128..10_000_000_000_000,
            any::<i128>()
        ];
        proptest!(|(a in scaled.clone(), b in scaled, n in 1u32..6)| {
            let want = match (from_scaled(a), from_scaled(b)) {
                (Some(x), Some(y)) if b > 0 && a >= 0 => cagr(x, y, n).and_then(to_scaled),
                _ => None,
            };
            prop_assert_eq!(cagr_scaled(a, b, n), want);
        });
        assert_eq!(iroot(u128::MAX, 3), 6_981_463_658_331);
        assert_eq!(iroot(27, 3), 3);
        assert_eq!(iroot(26, 3), 2);
    }

    #[test]
    fn constant_division_is_division() {
        use proptest::prelude::*;
        // Whole range, and near multiples of the divisors (where a carry would go wrong).
        let x = prop_oneof![
            any::<u128>(),
            any::<u64>().prop_map(u128::from),
            (0u128..u128::MAX / ONE as u128, -3i64..3)
                .prop_map(|(k, d)| (k * ONE as u128).saturating_add_signed(d as i128)),
        ];
        proptest!(|(x in x)| {
            prop_assert_eq!(div_one(x), x / ONE as u128);
            prop_assert_eq!(div_fen(x), x / (ONE / 100) as u128);
        });
        proptest!(|(a in any::<i64>(), b in any::<i64>())| {
            let p = a as i128 * b as i128;
            prop_assert_eq!(floor_div_one(p), floor_div(p, ONE));
        });
    }

    #[test]
    fn round_scaled_is_round() {
        use proptest::prelude::*;
        let unit = (0..RoundUnit::ALL.len(), 0..RoundMode::ALL.len()).prop_map(|(u, m)| Rounding {
            unit: RoundUnit::ALL[u],
            mode: RoundMode::ALL[m],
        });
        // Around midpoints as well as anywhere.
        let x = prop_oneof![
            -(10i128.pow(27))..10i128.pow(27),
            (-(10i128.pow(9))..10i128.pow(9)).prop_map(|k| k * 5_000_000_000),
            (-(10i128.pow(9))..10i128.pow(9)).prop_map(|k| k * 5_000_000_000_000_000 + 1),
            (-(10i128.pow(9))..10i128.pow(9)).prop_map(|k| k * 5_000_000_000_000_000 - 1),
        ];
        proptest!(|(x in x, u in unit)| {
            let d = from_scaled(x).unwrap();
            prop_assert_eq!(Some(round_scaled(x, u)), to_scaled(round(d, u)));
        });
    }

    use super::*;
    use std::str::FromStr;
    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }
    #[test]
    fn displays_in_policy_units() {
        assert_eq!(fmt_money_zh(d("320000000")), "3.2亿元");
        assert_eq!(fmt_money_zh(d("3000000")), "300万元");
        assert_eq!(fmt_money_zh(d("1234.56")), "1234.56元");
        assert_eq!(fmt_money_zh(d("12345.67")), "12345.67元");
        assert_eq!(fmt_ratio(d("0.032")), "3.2%");
    }
    #[test]
    fn cagr_is_exact_and_truncated() {
        // 144/100 over 2 periods = 20% exactly.
        assert_eq!(cagr(d("144"), d("100"), 2), Some(d("0.2")));
        // sqrt(2) - 1 truncated to 12 places.
        assert_eq!(cagr(d("2"), d("1"), 2), Some(d("0.414213562373")));
        assert_eq!(cagr(d("1"), d("0"), 2), None);
    }
    #[test]
    fn rounding_half_up() {
        assert_eq!(round(d("0.005"), Rounding::FEN), d("0.01"));
        assert_eq!(
            round(d("15000"), Rounding::half_up(RoundUnit::Wan)),
            d("20000")
        );
        // 以下舍去 and 进位, to 百元 and 千元.
        let r = |u, m| Rounding { unit: u, mode: m };
        assert_eq!(
            round(d("1299.99"), r(RoundUnit::Bai, RoundMode::Down)),
            d("1200")
        );
        assert_eq!(
            round(d("1200.01"), r(RoundUnit::Bai, RoundMode::Up)),
            d("1300")
        );
        assert_eq!(
            round(d("1500"), r(RoundUnit::Qian, RoundMode::HalfUp)),
            d("2000")
        );
        assert_eq!(
            round(d("-1299.99"), r(RoundUnit::Bai, RoundMode::Down)),
            d("-1200")
        );
        assert_eq!(
            round(d("0.019"), r(RoundUnit::Fen, RoundMode::Down)),
            d("0.01")
        );
        assert_eq!(to_fen(d("1.235")), 124);
        assert_eq!(div(d("1"), d("3")), Some(d("0.333333333333")));
        assert_eq!(div(d("-1"), d("3")), Some(d("-0.333333333334")));
        // A product too wide for rust_decimal's 96-bit mantissa is still exact, then floored.
        assert_eq!(
            mul(d("123456789012.345678901234"), d("0.123456789012")),
            Some(d("15241578753.196160343319"))
        );
    }
}
