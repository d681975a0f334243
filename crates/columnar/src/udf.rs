//! Exact decimal kernels as DataFusion UDFs. Every number is Decimal128(38, 12) — the same
//! 10^-12 fixed point the reference evaluator uses (`huiqi_ir::money`) — so both engines
//! compute the same integers. Add, subtract and compare are native; these are the rest.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int32Array, Int64Array, PrimitiveArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::ArrowPrimitiveType;
use datafusion::arrow::datatypes::Decimal128Type;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use huiqi_ir::money::{self, RoundUnit, ONE};
use rust_decimal::Decimal;

pub const DEC: DataType = DataType::Decimal128(38, 12);

fn to_array(v: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    v.clone().into_array(n)
}

fn dec(a: &ArrayRef) -> Result<&Decimal128Array> {
    a.as_any().downcast_ref::<Decimal128Array>().ok_or_else(|| {
        DataFusionError::Internal(format!(
            "expected Decimal128(38, 12), got {}",
            a.data_type()
        ))
    })
}

fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .map(|a| match a {
            ColumnarValue::Array(x) => x.len(),
            ColumnarValue::Scalar(_) => 1,
        })
        .max()
        .unwrap_or(1)
}

/// Marks a failed kernel (overflow, division by zero) in a values buffer; outside Decimal128(38)'s
/// range, so no result equals it.
const FAILED: i128 = i128::MIN;

/// `f` over every value of `a` as a plain loop over the values buffer (nulls kept as they are),
/// so it vectorises; only if some valid row failed is it redone with a null per failure.
fn map_values(a: &Decimal128Array, f: impl Fn(i128) -> Option<i128>) -> Decimal128Array {
    use datafusion::arrow::datatypes::Decimal128Type;
    let out: Decimal128Array = a.unary::<_, Decimal128Type>(|x| f(x).unwrap_or(FAILED));
    // A plain scan first; rows already null may hold anything, so only a hit is checked row by row.
    let failed = out.values().contains(&FAILED)
        && out
            .iter()
            .zip(a.iter())
            .any(|(o, x)| x.is_some() && o == Some(FAILED));
    if !failed {
        return out;
    }
    a.unary_opt::<_, Decimal128Type>(&f)
}

/// Applies `f` to every non-null pair (a scalar side is read once, not expanded).
/// Generic over the kernel (a function item, not a pointer) so it is inlined into the loop.
fn binary<F>(name: &str, f: F) -> ScalarUDF
where
    F: Fn(i128, i128) -> Option<i128> + Copy + Send + Sync + 'static,
{
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let scalar = |v: &ColumnarValue| -> Option<Option<i128>> {
            match v {
                ColumnarValue::Scalar(ScalarValue::Decimal128(x, 38, 12)) => Some(*x),
                _ => None,
            }
        };
        let out: Decimal128Array = match (scalar(&args[0]), scalar(&args[1])) {
            (_, Some(b)) => {
                let a = to_array(&args[0], n)?;
                let a = dec(&a)?;
                match b {
                    None => Decimal128Array::new_null(a.len()),
                    Some(b) => map_values(a, |x| f(x, b)),
                }
            }
            (Some(a), None) => {
                let b = to_array(&args[1], n)?;
                let b = dec(&b)?;
                match a {
                    None => Decimal128Array::new_null(b.len()),
                    Some(a) => map_values(b, |y| f(a, y)),
                }
            }
            (None, None) => {
                let a = to_array(&args[0], n)?;
                let b = to_array(&args[1], n)?;
                let (a, b) = (dec(&a)?, dec(&b)?);
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => f(x, y),
                        _ => None,
                    })
                    .collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(name, vec![DEC, DEC], DEC, Volatility::Immutable, fun)
}

fn unary<F>(name: &str, f: F) -> ScalarUDF
where
    F: Fn(i128) -> Option<i128> + Copy + Send + Sync + 'static,
{
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let out = map_values(dec(&a)?, f);
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(name, vec![DEC], DEC, Volatility::Immutable, fun)
}

fn cagr_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let b = to_array(&args[1], n)?;
        let k = to_array(&args[2], n)?;
        let k = k
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("cagr periods".into()))?;
        let (a, b) = (dec(&a)?, dec(&b)?);
        let out: Decimal128Array = (0..n)
            .map(|i| {
                if a.is_null(i) || b.is_null(i) || k.is_null(i) {
                    return None;
                }
                money::cagr_scaled(a.value(i), b.value(i), k.value(i) as u32)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(38, 12)?,
        )))
    });
    create_udf(
        "hq_cagr",
        vec![DEC, DEC, DataType::Int64],
        DEC,
        Volatility::Immutable,
        fun,
    )
}

/// A rounded amount (10^-12 元) → integer 分 (`hq_fen`'s kernel).
#[inline(always)]
fn to_fen(v: i128) -> i64 {
    match i64::try_from(v) {
        Ok(x) => x / 10_000_000_000,
        Err(_) => (v / 10_000_000_000) as i64,
    }
}

/// A rounded amount (10^-12 元) → integer 分, truncated like `huiqi_ir::money::to_fen` of a
/// rounded value. i128 division is a library call; almost every amount fits an i64, where it
/// is one instruction.
fn fen_udf() -> ScalarUDF {
    use datafusion::arrow::datatypes::Int64Type;
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let out: Int64Array = dec(&a)?.unary::<_, Int64Type>(to_fen);
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        "hq_fen",
        vec![DEC],
        DataType::Int64,
        Volatility::Immutable,
        fun,
    )
}

/// A pro-rata share in 分: `f(claim, budget, demand)` with the product in i128 (it can pass
/// i64); null for a zero demand.
fn share_udf(name: &str, f: fn(i128, i128, i128) -> i128) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let cols = args
            .iter()
            .map(|x| to_array(x, n))
            .collect::<Result<Vec<_>>>()?;
        let ints = cols
            .iter()
            .map(|x| {
                x.as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("share: expected Int64".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Int64Array = (0..n)
            .map(|i| {
                if ints.iter().any(|x| x.is_null(i)) || ints[2].value(i) == 0 {
                    return None;
                }
                let v = |k: usize| ints[k].value(i) as i128;
                i64::try_from(f(v(0), v(1), v(2))).ok()
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        name,
        vec![DataType::Int64, DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        fun,
    )
}

/// One arm of a tier table: the lower bound (inclusive?) and the upper bound, if any.
pub type TierBounds = (i128, bool, Option<(i128, bool)>);

/// A tier table's arms as an interval map over the fixed-point line: `edges` sorted and
/// distinct, interval 0 below `edges[0]`, interval j ≥ 1 from `edges[j - 1]` up to (not
/// including) `edges[j]`; `arm[j]` is the first arm whose bounds hold in interval j (None: no
/// arm does, the amount is 0). A value's interval is the number of edges at or below it: a
/// few comparisons without a branch on the data, where a scan of the arms in order would
/// branch on every row's arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TierMap {
    edges: Vec<i128>,
    arm: Vec<Option<usize>>,
}

impl TierMap {
    /// From each arm's inclusive integer bounds (an empty arm has lo > hi).
    fn new(spans: &[(i128, i128)]) -> Self {
        let mut edges: Vec<i128> = spans
            .iter()
            .filter(|(lo, hi)| lo <= hi)
            .flat_map(|&(lo, hi)| [Some(lo), hi.checked_add(1)])
            .flatten()
            .collect();
        edges.sort_unstable();
        edges.dedup();
        // Every arm starts at an edge, so no arm holds below the first one; within an interval
        // every arm holds everywhere or nowhere, so its first value decides.
        let arm = std::iter::once(None)
            .chain(
                edges
                    .iter()
                    .map(|&v| spans.iter().position(|&(lo, hi)| lo <= v && v <= hi)),
            )
            .collect();
        TierMap { edges, arm }
    }

    #[inline(always)]
    fn interval(&self, v: i128) -> usize {
        self.edges.iter().map(|&e| (v >= e) as usize).sum()
    }
}

/// What one interval of a tier table gives when every arm is a fixed amount or a rate.
#[derive(Clone, Copy)]
struct Fixed {
    amount: i128,
    /// `x × rate` instead of `amount`.
    rate: Option<i128>,
}

/// A value's interval among `N` edges as a fixed number of comparisons (the count unrolls).
#[inline(always)]
fn edges_fn<const N: usize>(edges: &[i128]) -> impl Fn(i128) -> usize + Copy {
    let edges: [i128; N] = edges.try_into().expect("N edges");
    move |v| edges.iter().map(|&e| (v >= e) as usize).sum()
}

/// Binds `$iv` to `$map`'s interval function and evaluates `$body` with it: unrolled for up to
/// 6 edges (one copy of `$body` per count), the map's own loop beyond.
macro_rules! with_interval {
    ($map:expr, $iv:ident => $body:expr) => {{
        let e = &$map.edges;
        with_interval!(@counts e, $map, $iv, $body; 0 1 2 3 4 5 6)
    }};
    (@counts $e:ident, $map:expr, $iv:ident, $body:expr; $($n:literal)*) => {
        match $e.len() {
            $($n => { let $iv = edges_fn::<$n>($e); $body })*
            _ => { let $iv = |v| $map.interval(v); $body }
        }
    };
}

/// Every row's amount when every arm is a fixed amount or a rate: the interval from
/// `interval`, the amount from a table, and the multiplication only in a rate's interval.
/// Null rows get whatever their (unused) value gives; the input's null buffer marks them.
/// Returns the amounts and whether some row overflowed (marked FAILED).
#[inline(always)]
fn fixed_tiers(
    interval: impl Fn(i128) -> usize,
    by: &[Fixed],
    values: &[i128],
) -> (Vec<i128>, bool) {
    let mut failed = false;
    let out = values
        .iter()
        .map(|&v| {
            let f = by[interval(v)];
            match f.rate {
                None => f.amount,
                Some(r) => money::mul_scaled(v, r).unwrap_or_else(|| {
                    failed = true;
                    FAILED
                }),
            }
        })
        .collect();
    (out, failed)
}

/// A tier table (`金额 tiers x { [lo, hi) => amount … }`) as a kernel over Decimal128 values:
/// `tiers_udf` evaluates it alone, `tier_finish_udf` together with its slot's finish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tiers {
    map: TierMap,
    /// Arm k is "the looked-up value × rates[k]" when set.
    rates: Vec<Option<i128>>,
}

impl Tiers {
    pub fn new(arms: &[TierBounds], rates: Vec<Option<i128>>) -> Self {
        // Each arm as inclusive integer bounds on the fixed-point scale: an open end moves by
        // one unit of the last place. An arm that no integer satisfies becomes (1, 0).
        let spans: Vec<(i128, i128)> = arms
            .iter()
            .map(|&(lo, lo_in, hi)| {
                let lo = if lo_in { Some(lo) } else { lo.checked_add(1) };
                let hi = match hi {
                    None => Some(i128::MAX),
                    Some((h, true)) => Some(h),
                    Some((h, false)) => h.checked_sub(1),
                };
                lo.zip(hi).unwrap_or((1, 0))
            })
            .collect();
        Tiers {
            map: TierMap::new(&spans),
            rates,
        }
    }

    /// Every interval's amount when no arm varies by row (nor is null): the usual table.
    fn fixed(&self, vals: &[Arg<Decimal128Type>]) -> Option<Vec<Fixed>> {
        self.map
            .arm
            .iter()
            .map(|a| match a {
                None => Some(Fixed {
                    amount: 0,
                    rate: None,
                }),
                Some(a) => match (self.rates[*a], &vals[*a]) {
                    (Some(r), _) => Some(Fixed {
                        amount: 0,
                        rate: Some(r),
                    }),
                    (None, Arg::Scalar(Some(v))) => Some(Fixed {
                        amount: *v,
                        rate: None,
                    }),
                    _ => None,
                },
            })
            .collect()
    }

    /// `args[0]` is the looked-up value, `args[1 + k]` arm k's amount (unused for a rate arm).
    fn eval(&self, args: &[ColumnarValue], n: usize) -> Result<Decimal128Array> {
        let x = to_array(&args[0], n)?;
        let x = dec(&x)?;
        // Scalar arms (the usual fixed amounts) are read once, not expanded to arrays.
        let vals = args[1..]
            .iter()
            .map(Arg::<Decimal128Type>::of)
            .collect::<Result<Vec<_>>>()?;
        let values = x.values();
        // A null arm or an overflow is marked FAILED, and only then are the nulls rebuilt from
        // the values; a null value gives a null (the input's null buffer is reused).
        let (out, failed) = match self.fixed(&vals) {
            Some(by) => with_interval!(self.map, iv => fixed_tiers(iv, &by, values)),
            None => general_tiers(&self.map, &self.rates, &vals, x),
        };
        let out = if failed {
            let valid: Vec<bool> = (0..n).map(|i| x.is_valid(i) && out[i] != FAILED).collect();
            Decimal128Array::new(out.into(), Some(NullBuffer::from(valid)))
        } else {
            Decimal128Array::new(out.into(), x.nulls().cloned())
        };
        Ok(out.with_precision_and_scale(38, 12)?)
    }
}

/// `Tiers` as a DataFusion function: its own type, so the compiler can recognise a tier
/// table's expression (`as_tiers`) and fuse it with the slot's finish.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TiersUdf {
    name: String,
    signature: Signature,
    tiers: Tiers,
}

impl ScalarUDFImpl for TiersUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DEC)
    }
    fn invoke_with_args(&self, a: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out = self.tiers.eval(&a.args, a.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// A tier table as one kernel: `args[0]` is the looked-up value, `args[1 + k]` arm k's amount.
/// Null for a null value, the first arm whose bounds hold otherwise, 0 when none does. A CASE
/// would filter the batch and merge the results once per arm. An arm with `rates[k]` = r is
/// "the looked-up value × r" (`按营业收入的0.2%`), multiplied only for the rows in that arm
/// instead of for every row before the kernel; its argument is unused.
pub fn tiers_udf(name: &str, arms: Vec<TierBounds>, rates: Vec<Option<i128>>) -> ScalarUDF {
    let k = arms.len();
    ScalarUDF::new_from_impl(TiersUdf {
        name: name.into(),
        signature: Signature::exact(vec![DEC; k + 1], Volatility::Immutable),
        tiers: Tiers::new(&arms, rates),
    })
}

/// The table and arguments of a tier table's expression (`tiers_udf`), if `e` is one.
pub fn as_tiers(
    e: &datafusion::logical_expr::Expr,
) -> Option<(Tiers, Vec<datafusion::logical_expr::Expr>)> {
    match e {
        datafusion::logical_expr::Expr::ScalarFunction(f) => {
            let t = f.func.inner().downcast_ref::<TiersUdf>()?;
            Some((t.tiers.clone(), f.args.clone()))
        }
        _ => None,
    }
}

/// Any tier table, row by row: arms whose amount is a column or null. Returns the amounts and
/// whether some valid row failed (a null arm or an overflow, marked FAILED).
fn general_tiers(
    map: &TierMap,
    rates: &[Option<i128>],
    vals: &[Arg<datafusion::arrow::datatypes::Decimal128Type>],
    x: &Decimal128Array,
) -> (Vec<i128>, bool) {
    let mut out = vec![0i128; x.len()];
    let mut failed = false;
    for (i, (o, &v)) in out.iter_mut().zip(x.values()).enumerate() {
        if x.is_null(i) {
            continue;
        }
        let picked = match map.arm[map.interval(v)] {
            None => Some(0),
            Some(a) => match rates[a] {
                Some(r) => money::mul_scaled(v, r),
                None => vals[a].get(i),
            },
        };
        failed |= picked.is_none();
        *o = picked.unwrap_or(FAILED);
    }
    (out, failed)
}

/// One argument of a row kernel: a scalar read once, or an array read per row.
enum Arg<T: ArrowPrimitiveType> {
    Scalar(Option<T::Native>),
    Array(PrimitiveArray<T>),
}

impl<T: ArrowPrimitiveType> Arg<T> {
    fn of(v: &ColumnarValue) -> Result<Self> {
        match v {
            ColumnarValue::Scalar(s) => {
                let a = s.to_array_of_size(1)?;
                let a = a.as_primitive_opt::<T>().ok_or_else(|| {
                    DataFusionError::Internal(format!("kernel argument: got {}", s.data_type()))
                })?;
                Ok(Arg::Scalar((!a.is_null(0)).then(|| a.value(0))))
            }
            ColumnarValue::Array(a) => Ok(Arg::Array(
                a.as_primitive_opt::<T>()
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("kernel argument: got {}", a.data_type()))
                    })?
                    .clone(),
            )),
        }
    }
    #[inline]
    fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            Arg::Scalar(s) => *s,
            Arg::Array(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// A clause's finish for one slot (the reference's `finish` in `huiqi_eval::clause`):
/// rounding, the clause cap against what earlier tranches used, the total cap against what the
/// clause awarded before, and the reason when the amount is zero. One kernel per slot instead
/// of a projection per step and a CASE each for the amount and the reason.
#[derive(Clone, Debug)]
pub struct FinishSpec {
    pub unit: RoundUnit,
    pub cap: Option<i128>,
    pub total_cap: Option<i128>,
    /// Reason codes (`Compiler::reason_code`) for a missing amount, a total cap that left
    /// nothing, and a zero amount.
    pub miss_amount: i32,
    pub totalcap: i32,
    pub zero: i32,
}

/// The room each cap leaves a row, from what earlier tranches used and what the clause awarded
/// before: None without that cap, Some(None) when an input is null (the amount is not cut).
#[derive(Clone, Copy)]
struct Rooms {
    cap: Option<Option<i128>>,
    total: Option<Option<i128>>,
}

impl FinishSpec {
    #[inline(always)]
    fn rooms(&self, used: Option<i128>, awarded: Option<i128>) -> Rooms {
        Rooms {
            cap: self
                .cap
                .map(|cap| used.and_then(|u| cap.checked_sub(u)).map(|r| r.max(0))),
            total: self.total_cap.map(|tc| {
                awarded
                    .zip(used)
                    .and_then(|(w, u)| tc.checked_sub(w)?.checked_sub(u))
                    .map(|r| r.max(0))
            }),
        }
    }

    /// (amount, reason) of one row from its raw amount, the first failed condition's reason and
    /// the caps' rooms. Null inputs behave as the SQL the kernel replaced: a null room leaves the
    /// amount uncut, except the clause cap, whose null room makes the amount null.
    #[inline(always)]
    fn row(
        &self,
        raw: Option<i128>,
        fail: Option<i32>,
        rooms: Rooms,
    ) -> (Option<i128>, Option<i32>) {
        if fail.is_some() {
            return (Some(0), fail);
        }
        let Some(raw) = raw else {
            return (Some(0), Some(self.miss_amount));
        };
        let mut a = Some(money::round_scaled(raw.max(0), self.unit));
        if let Some(room) = rooms.cap {
            a = a.zip(room).map(|(a, r)| a.min(r));
        }
        let mut emptied = false;
        if let (Some(x), Some(Some(r))) = (a, rooms.total) {
            if x > r {
                a = Some(r);
                emptied = r == 0;
            }
        }
        let reason = if emptied {
            Some(self.totalcap)
        } else if a == Some(0) {
            Some(self.zero)
        } else {
            None
        };
        (a, reason)
    }

    /// The usual shape — only the raw amount varies, the caps' rooms are known (or absent) —
    /// as a loop without a branch on the data: every row is rounded and cut as if present
    /// (a null row's value is unused), then the null rows get their reason. Returns false,
    /// writing nothing, for the shapes `row` must decide row by row.
    fn uniform(
        &self,
        fail: Option<i32>,
        rooms: Rooms,
        raw: &Decimal128Array,
        amounts: &mut [i128],
        reasons: &mut [i32],
    ) -> bool {
        if let Some(f) = fail {
            // A failed condition decides every row: 0 and its reason.
            reasons.fill(f);
            return true;
        }
        // A null cap room makes every amount null: left to `row`.
        let cap = match rooms.cap {
            None => i128::MAX,
            Some(Some(r)) => r,
            Some(None) => return false,
        };
        // A null total-cap room leaves the amount uncut.
        let total = match rooms.total {
            Some(Some(r)) => r,
            _ => i128::MAX,
        };
        let unit = self.unit;
        let (zero, totalcap) = (self.zero, self.totalcap);
        for ((a, why), &x) in amounts.iter_mut().zip(reasons.iter_mut()).zip(raw.values()) {
            let v = money::round_scaled(x.max(0), unit).min(cap);
            // Cut to nothing by the total cap (its own reason), or zero anyway.
            let emptied = v > total && total == 0;
            let v = v.min(total);
            *a = v;
            *why = if emptied {
                totalcap
            } else if v == 0 {
                zero
            } else {
                0
            };
        }
        if let Some(nulls) = raw.nulls() {
            let mut next = 0;
            let mut missing = |from: usize, to: usize| {
                amounts[from..to].fill(0);
                reasons[from..to].fill(self.miss_amount);
            };
            for (start, end) in nulls.inner().set_slices() {
                missing(next, start);
                next = end;
            }
            missing(next, raw.len());
        }
        true
    }

    /// Writes each row's amount and reason (null outputs as 0, see `finish_udf`).
    #[inline(always)]
    fn fill(
        &self,
        raw: impl Fn(usize) -> Option<i128>,
        rest: impl Fn(usize) -> (Option<i32>, Rooms),
        amounts: &mut [i128],
        reasons: &mut [i32],
    ) {
        // Zipped slices, not pushes: no capacity or bounds check per row.
        for (i, (a, r)) in amounts.iter_mut().zip(reasons.iter_mut()).enumerate() {
            let (f, rooms) = rest(i);
            let (x, why) = self.row(raw(i), f, rooms);
            *a = x.unwrap_or(0);
            *r = why.unwrap_or(0);
        }
    }
}

/// The finish kernel's output: `a` the amount, `r` the reason code, `f` the amount in 分 (what
/// stage 0 reads: converted here, while the amounts are in cache, not by another pass).
fn finish_fields() -> datafusion::arrow::datatypes::Fields {
    datafusion::arrow::datatypes::Fields::from(vec![
        Field::new("a", DEC, false),
        Field::new("r", DataType::Int32, false),
        Field::new("f", DataType::Int64, false),
    ])
}

/// The finish's struct column from its amounts and reasons.
/// `fens` when the caller has them, else converted from the amounts.
fn finish_struct(
    amounts: Vec<i128>,
    reasons: Vec<i32>,
    fens: Option<Vec<i64>>,
) -> Result<ColumnarValue> {
    use datafusion::arrow::array::StructArray;
    let fens = fens.unwrap_or_else(|| amounts.iter().map(|&a| to_fen(a)).collect());
    let fens = Int64Array::new(fens.into(), None);
    let amounts = Decimal128Array::new(amounts.into(), None).with_precision_and_scale(38, 12)?;
    let reasons = Int32Array::new(reasons.into(), None);
    Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
        finish_fields(),
        vec![Arc::new(amounts), Arc::new(reasons), Arc::new(fens)],
        None,
    )?)))
}

/// One slot's finish over (raw DEC, used DEC, awarded DEC, fail Int32) for `n` rows.
fn finish_eval(spec: &FinishSpec, a: &[ColumnarValue], n: usize) -> Result<ColumnarValue> {
    use datafusion::arrow::datatypes::Int32Type;
    let raw = Arg::<Decimal128Type>::of(&a[0])?;
    let used = Arg::<Decimal128Type>::of(&a[1])?;
    let awarded = Arg::<Decimal128Type>::of(&a[2])?;
    let fail = Arg::<Int32Type>::of(&a[3])?;
    let mut amounts = vec![0i128; n];
    let mut reasons = vec![0i32; n];
    // Monomorphised per argument shape, so the common one (only the raw amount varies) is
    // a loop without a branch on each argument's kind.
    match (&raw, &used, &awarded, &fail) {
        (Arg::Array(r), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f))
            if spec.uniform(*f, spec.rooms(*u, *w), r, &mut amounts, &mut reasons) => {}
        (Arg::Array(r), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f)) => {
            // The rooms are the same for every row: computed once.
            let (f, rooms) = (*f, spec.rooms(*u, *w));
            let (vals, nulls) = (r.values(), r.nulls());
            spec.fill(
                |i| nulls.is_none_or(|b| b.is_valid(i)).then(|| vals[i]),
                |_| (f, rooms),
                &mut amounts,
                &mut reasons,
            )
        }
        _ => spec.fill(
            |i| raw.get(i),
            |i| (fail.get(i), spec.rooms(used.get(i), awarded.get(i))),
            &mut amounts,
            &mut reasons,
        ),
    }
    finish_struct(amounts, reasons, None)
}

/// The kernel of one slot's finish over (raw DEC, used DEC, awarded DEC, fail Int32): a struct
/// of `a` (the amount) and `r` (the reason), computed in one pass. Neither is ever null: the
/// reason is 0 for none, and an amount the SQL would have left null (a cap room that overflowed
/// i128, ~10^26 元) is 0.
pub fn finish_udf(tag: &str, spec: FinishSpec) -> ScalarUDF {
    let fun = Arc::new(move |a: &[ColumnarValue]| -> Result<ColumnarValue> {
        finish_eval(&spec, a, rows(a))
    });
    create_udf(
        &format!("hq_finish_{tag}"),
        vec![DEC, DEC, DEC, DataType::Int32],
        DataType::Struct(finish_fields()),
        Volatility::Immutable,
        fun,
    )
}

/// One interval of a fused tier table and finish: its finished amount and reason, or the
/// rate its rows are multiplied by (and then finished one by one).
#[derive(Clone, Copy)]
struct Finished {
    amount: i128,
    reason: i32,
    fen: i64,
    rate: Option<i128>,
}

/// `finish(tiers(x))` when the table is fixed and the rooms and failure are the same for every
/// row: each interval's outcome is computed once, so a row costs its interval's comparisons
/// and a lookup; only a rate's rows are multiplied and finished one by one. Null rows get
/// `missing`.
#[inline(always)]
fn finished_rows(
    interval: impl Fn(i128) -> usize,
    by: &[Finished],
    rate_row: impl Fn(Option<i128>) -> (i128, i32),
    missing: (i128, i32),
    x: &Decimal128Array,
) -> (Vec<i128>, Vec<i32>, Vec<i64>) {
    let n = x.len();
    let (mut amounts, mut reasons, mut fens) = (vec![0i128; n], vec![0i32; n], vec![0i64; n]);
    let rows = amounts
        .iter_mut()
        .zip(reasons.iter_mut())
        .zip(fens.iter_mut());
    for (((a, r), y), &v) in rows.zip(x.values()) {
        let f = by[interval(v)];
        (*a, *r, *y) = match f.rate {
            None => (f.amount, f.reason, f.fen),
            Some(rate) => {
                let (a, r) = rate_row(money::mul_scaled(v, rate));
                (a, r, to_fen(a))
            }
        };
    }
    if let Some(nulls) = x.nulls() {
        let mut next = 0;
        let mut fill = |from: usize, to: usize| {
            amounts[from..to].fill(missing.0);
            reasons[from..to].fill(missing.1);
            fens[from..to].fill(to_fen(missing.0));
        };
        for (start, end) in nulls.inner().set_slices() {
            fill(next, start);
            next = end;
        }
        fill(next, n);
    }
    (amounts, reasons, fens)
}

/// A slot whose raw amount is a tier table, finished in the same kernel: arguments are the
/// table's (`Tiers::eval`) followed by the finish's used, awarded and fail. The same struct as
/// `finish_udf` of `tiers_udf`, without the table's amounts as a column in between; shapes the
/// fused loop does not cover are evaluated as exactly that composition.
pub fn tier_finish_udf(tag: &str, tiers: Tiers, spec: FinishSpec) -> ScalarUDF {
    use datafusion::arrow::datatypes::Int32Type;
    let k = tiers.rates.len();
    let fun = Arc::new(move |a: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(a);
        let (targs, fargs) = a.split_at(1 + k);
        let vals = targs[1..]
            .iter()
            .map(Arg::<Decimal128Type>::of)
            .collect::<Result<Vec<_>>>()?;
        let used = Arg::<Decimal128Type>::of(&fargs[0])?;
        let awarded = Arg::<Decimal128Type>::of(&fargs[1])?;
        let fail = Arg::<Int32Type>::of(&fargs[2])?;
        if let (ColumnarValue::Array(x), Some(by), Arg::Scalar(u), Arg::Scalar(w), Arg::Scalar(f)) =
            (&targs[0], tiers.fixed(&vals), &used, &awarded, &fail)
        {
            let (f, rooms) = (*f, spec.rooms(*u, *w));
            let done = |raw: Option<i128>| {
                let (a, r) = spec.row(raw, f, rooms);
                (a.unwrap_or(0), r.unwrap_or(0))
            };
            let by: Vec<Finished> = by
                .iter()
                .map(|b| match b.rate {
                    None => {
                        let (amount, reason) = done(Some(b.amount));
                        Finished {
                            amount,
                            reason,
                            fen: to_fen(amount),
                            rate: None,
                        }
                    }
                    Some(_) => Finished {
                        amount: 0,
                        reason: 0,
                        fen: 0,
                        rate: b.rate,
                    },
                })
                .collect();
            let x = dec(x)?;
            let (amounts, reasons, fens) = with_interval!(
                tiers.map,
                iv => finished_rows(iv, &by, done, done(None), x)
            );
            return finish_struct(amounts, reasons, Some(fens));
        }
        let raw = ColumnarValue::Array(Arc::new(tiers.eval(targs, n)?));
        let rest: Vec<ColumnarValue> = std::iter::once(raw).chain(fargs.iter().cloned()).collect();
        finish_eval(&spec, &rest, n)
    });
    let mut args = vec![DEC; k + 1];
    args.extend([DEC, DEC, DataType::Int32]);
    create_udf(
        &format!("hq_tierfinish_{tag}"),
        args,
        DataType::Struct(finish_fields()),
        Volatility::Immutable,
        fun,
    )
}

/// Field `k` of a struct column (a finish's amount or reason). DataFusion's own `get_field` is
/// pushed down into the projection that computes the struct, which would inline the finish
/// kernel into both field reads and run it twice; a plain UDF stays where it is.
fn struct_field_udf(name: &str, k: usize, ty: DataType) -> ScalarUDF {
    use datafusion::arrow::array::StructArray;
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        let s = a
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| DataFusionError::Internal("expected a struct".into()))?;
        Ok(ColumnarValue::Array(s.column(k).clone()))
    });
    create_udf(
        name,
        vec![DataType::Struct(finish_fields())],
        ty,
        Volatility::Immutable,
        fun,
    )
}

/// The first failed condition of a list, as a reason code: `codes[k]` is condition k's
/// (missing, false) pair; null when every condition holds. One pass instead of a CASE with two
/// arms per condition.
pub fn first_fail_udf(name: &str, codes: Vec<(i32, i32)>) -> ScalarUDF {
    let k = codes.len();
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let conds = args
            .iter()
            .map(|v| {
                let a = to_array(v, n)?;
                a.as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| DataFusionError::Internal("condition: expected Boolean".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let out: Vec<i32> = (0..n)
            .map(|i| {
                conds
                    .iter()
                    .zip(&codes)
                    .find_map(|(c, &(miss, no))| {
                        if c.is_null(i) {
                            Some(miss)
                        } else if !c.value(i) {
                            Some(no)
                        } else {
                            None
                        }
                    })
                    .unwrap_or(0)
            })
            .collect();
        // Codes start at 1: 0 is "every condition holds", a null in the output.
        let nulls = NullBuffer::from(out.iter().map(|&x| x != 0).collect::<Vec<bool>>());
        Ok(ColumnarValue::Array(Arc::new(Int32Array::new(
            out.into(),
            Some(nulls),
        ))))
    });
    create_udf(
        name,
        vec![DataType::Boolean; k],
        DataType::Int32,
        Volatility::Immutable,
        fun,
    )
}

/// Nulls as 0 for an Int32 or Int64 column; the column itself when it has none (the usual
/// case: a COALESCE would still filter and merge every batch).
fn zero_nulls_udf<T: ArrowPrimitiveType>(name: &str) -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let n = rows(args);
        let a = to_array(&args[0], n)?;
        if a.null_count() == 0 {
            return Ok(ColumnarValue::Array(a));
        }
        let p = a
            .as_primitive_opt::<T>()
            .ok_or_else(|| DataFusionError::Internal("zero_nulls: type".into()))?;
        let out: PrimitiveArray<T> = p.iter().map(|v| Some(v.unwrap_or_default())).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf(
        name,
        vec![T::DATA_TYPE],
        T::DATA_TYPE,
        Volatility::Immutable,
        fun,
    )
}

/// Every UDF the compiler may emit, in one registry (so a cluster's executors can be built from it).
pub fn all() -> Vec<ScalarUDF> {
    vec![
        binary("hq_mul", money::mul_scaled),
        binary("hq_div", money::div_scaled),
        unary("hq_floor", |x| Some(x.div_euclid(ONE) * ONE)),
        unary("hq_round_fen", |x| {
            Some(money::round_scaled(x, RoundUnit::Fen))
        }),
        unary("hq_round_yuan", |x| {
            Some(money::round_scaled(x, RoundUnit::Yuan))
        }),
        unary("hq_round_wan", |x| {
            Some(money::round_scaled(x, RoundUnit::Wan))
        }),
        cagr_udf(),
        // min/max with nulls propagated: a CASE would filter and merge every batch.
        binary("hq_min", |a, b| Some(a.min(b))),
        binary("hq_max", |a, b| Some(a.max(b))),
        fen_udf(),
        struct_field_udf("hq_finish_amount", 0, DEC),
        struct_field_udf("hq_finish_reason", 1, DataType::Int32),
        struct_field_udf("hq_finish_fen", 2, DataType::Int64),
        zero_nulls_udf::<datafusion::arrow::datatypes::Int64Type>("hq_nz64"),
        zero_nulls_udf::<datafusion::arrow::datatypes::Int32Type>("hq_nz32"),
        // Claims and budgets are non-negative: truncation is the floor.
        share_udf("hq_share", |a, b, d| a * b / d),
        share_udf("hq_share_rem", |a, b, d| a * b % d),
    ]
}

/// A Decimal128(38, 12) literal.
pub fn dec_lit(d: Decimal) -> ScalarValue {
    ScalarValue::Decimal128(money::to_scaled(d), 38, 12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StructArray;
    use proptest::prelude::*;

    /// A finish with reason codes 7 (missing amount), 8 (total cap) and 9 (zero).
    fn test_spec(unit: RoundUnit, cap: Option<i128>, total_cap: Option<i128>) -> FinishSpec {
        FinishSpec {
            unit,
            cap,
            total_cap,
            miss_amount: 7,
            totalcap: 8,
            zero: 9,
        }
    }

    /// Bounds near each other (so arms overlap, touch and leave gaps) and at the ends of i128.
    fn bound() -> impl Strategy<Value = i128> {
        prop_oneof![8 => -6i128..6, 1 => Just(i128::MIN), 1 => Just(i128::MAX)]
    }

    fn spans() -> impl Strategy<Value = Vec<(i128, i128)>> {
        prop::collection::vec((bound(), bound()), 0..4)
    }

    /// Values near the bounds, and large ones whose product with a rate overflows.
    fn value() -> impl Strategy<Value = i128> {
        prop_oneof![8 => -8i128..8, 1 => Just(i128::MIN), 1 => Just(i128::MAX), 1 => any::<i128>()]
    }

    proptest! {
        #[test]
        fn tier_map_finds_the_first_arm(spans in spans(), v in value()) {
            let map = TierMap::new(&spans);
            let first = spans.iter().position(|&(lo, hi)| lo <= v && v <= hi);
            prop_assert_eq!(map.arm[map.interval(v)], first);
        }

        #[test]
        fn table_kernel_equals_row_by_row(
            spans in spans(),
            arms in prop::collection::vec(
                prop_oneof![(-5i128..5).prop_map(|a| (a * ONE, None)), (-3i128..3).prop_map(|r| (0, Some(r * ONE / 2)))],
                5,
            ),
            values in prop::collection::vec(prop::option::weighted(0.9, value()), 0..40),
        ) {
            let map = TierMap::new(&spans);
            let rates: Vec<Option<i128>> = arms.iter().map(|a| a.1).collect();
            let vals: Vec<Arg<Decimal128Type>> =
                arms.iter().map(|a| Arg::Scalar(Some(a.0))).collect();
            let by: Vec<Fixed> = map
                .arm
                .iter()
                .map(|a| match a {
                    None => Fixed { amount: 0, rate: None },
                    Some(k) => Fixed { amount: arms[*k].0, rate: arms[*k].1 },
                })
                .collect();
            let x = Decimal128Array::from(values.clone());
            let (got, _) = with_interval!(map, iv => fixed_tiers(iv, &by, x.values()));
            let (want, _) = general_tiers(&map, &rates, &vals, &x);
            for (i, v) in values.iter().enumerate() {
                if v.is_some() {
                    prop_assert_eq!(got[i], want[i], "row {}", i);
                }
            }
        }

        #[test]
        fn uniform_finish_equals_row_by_row(
            raw in prop::collection::vec(prop::option::weighted(0.8, prop_oneof![-3i128..30, any::<i128>()]), 0..40),
            unit in prop_oneof![Just(RoundUnit::Fen), Just(RoundUnit::Yuan), Just(RoundUnit::Wan)],
            cap in prop::option::of(0i128..20),
            total_cap in prop::option::of(0i128..20),
            used in prop::option::weighted(0.9, 0i128..10),
            awarded in prop::option::weighted(0.9, 0i128..10),
            fail in prop::option::weighted(0.2, 1i32..4),
        ) {
            // Small amounts on a coarse unit so rounding, caps and zero all happen.
            let scale = |x: i128| x.saturating_mul(ONE);
            let raw: Vec<Option<i128>> = raw.into_iter().map(|x| x.map(scale)).collect();
            let spec = test_spec(unit, cap.map(scale), total_cap.map(scale));
            let rooms = spec.rooms(used.map(scale), awarded.map(scale));
            let x = Decimal128Array::from(raw.clone());
            let n = raw.len();
            let (mut a, mut r) = (vec![0i128; n], vec![0i32; n]);
            if spec.uniform(fail, rooms, &x, &mut a, &mut r) {
                for (i, v) in raw.iter().enumerate() {
                    let (wa, wr) = spec.row(*v, fail, rooms);
                    prop_assert_eq!((a[i], r[i]), (wa.unwrap_or(0), wr.unwrap_or(0)), "row {}", i);
                }
            } else {
                prop_assert_eq!(rooms.cap, Some(None));
            }
        }

        #[test]
        fn fused_tier_finish_equals_the_composition(
            arms in prop::collection::vec(
                ((-4i128..4, any::<bool>(), prop::option::of((-4i128..8, any::<bool>()))),
                 prop_oneof![
                     (-3i128..12).prop_map(|a| (Some(a * ONE / 2), None)),
                     (-3i128..3).prop_map(|r| (None, Some(r * ONE / 2))),
                     Just((None, None)),
                 ]),
                0..5,
            ),
            values in prop::collection::vec(prop::option::weighted(0.85, prop_oneof![8 => (-10i128..10).prop_map(|x| x * ONE / 2), 1 => any::<i128>()]), 1..40),
            unit in prop_oneof![Just(RoundUnit::Fen), Just(RoundUnit::Yuan), Just(RoundUnit::Wan)],
            cap in prop::option::of(0i128..8),
            total_cap in prop::option::of(0i128..8),
            used in prop::option::weighted(0.9, 0i128..4),
            awarded in prop::option::weighted(0.9, 0i128..4),
            fail in prop::option::weighted(0.2, 1i32..4),
        ) {
            let scale = |x: i128| x * ONE;
            let bounds: Vec<TierBounds> = arms
                .iter()
                .map(|((lo, lo_in, hi), _)| (scale(*lo), *lo_in, hi.map(|(h, i)| (scale(h), i))))
                .collect();
            let rates: Vec<Option<i128>> = arms.iter().map(|(_, (_, r))| *r).collect();
            let tiers = Tiers::new(&bounds, rates);
            let spec = test_spec(unit, cap.map(scale), total_cap.map(scale));
            let dec_scalar = |v: Option<i128>| ColumnarValue::Scalar(ScalarValue::Decimal128(v, 38, 12));
            let n = values.len();
            let x = Decimal128Array::from(values).with_precision_and_scale(38, 12).unwrap();
            let mut targs = vec![ColumnarValue::Array(Arc::new(x))];
            targs.extend(arms.iter().map(|(_, (a, _))| dec_scalar(*a)));
            let fargs = vec![
                dec_scalar(used.map(scale)),
                dec_scalar(awarded.map(scale)),
                ColumnarValue::Scalar(ScalarValue::Int32(fail)),
            ];
            let all: Vec<ColumnarValue> = targs.iter().chain(&fargs).cloned().collect();
            let f = tier_finish_udf("t", tiers.clone(), spec.clone());
            let rf = Arc::new(Field::new("f", DataType::Struct(finish_fields()), false));
            let got = f
                .invoke_with_args(ScalarFunctionArgs {
                    arg_fields: all.iter().map(|a| Arc::new(Field::new("a", a.data_type(), true))).collect(),
                    args: all,
                    number_rows: n,
                    return_field: rf,
                    config_options: Arc::new(Default::default()),
                })
                .unwrap()
                .to_array(n)
                .unwrap();
            let raw = ColumnarValue::Array(Arc::new(tiers.eval(&targs, n).unwrap()));
            let rest: Vec<ColumnarValue> = std::iter::once(raw).chain(fargs).collect();
            let want = finish_eval(&spec, &rest, n).unwrap().to_array(n).unwrap();
            let (g, w) = (got.as_any().downcast_ref::<StructArray>().unwrap(), want.as_any().downcast_ref::<StructArray>().unwrap());
            prop_assert_eq!(g, w);
        }
    }
}
