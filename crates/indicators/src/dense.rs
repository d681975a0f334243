//! The computation over a dense per-firm frame: what [`crate::compute::compute_with`] runs.
//!
//! A snapshot's tables are sorted by credit code, so a firm's index is its position in the
//! firms table, and each fact table's rows find their firm by a merge walk over the two sorted
//! lists (a binary search where a table is out of order or names a firm the firms table lacks —
//! as the left join of [`crate::reference`] drops such rows). Each table is read with the
//! Parquet crate's Arrow reader (only the columns needed) into plain per-firm vectors: zone ids,
//! enum codes, bitmaps per condition now and a year earlier, exact `i128` sums and maxima, first
//! dates; the tables are read in parallel. Every indicator is then a few bitmap operations and
//! one loop over its firms: the figures are exact, checked sums (an overflow is an error), and
//! the drill-down rows come out by credit code, cut into the batches the DataFusion plan of
//! [`crate::reference`] produced (its sorted frame in 8,192-row batches, each filtered and
//! coalesced), so that `indicator_firms.parquet` is the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::{cast, concat, sort_to_indices, take, BatchCoalescer};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Int32Type, Int64Type, Schema, SchemaRef,
};
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter,
};
use datafusion::parquet::arrow::ProjectionMask;

use huiqi_data::dates::to_days;
use huiqi_files::run::col as rcol;
use huiqi_files::snapshot::{col as scol, table_file, EVENTS, FIRMS, MONTHLY, PROJECTS, YEARLY};
use huiqi_ir::Date;

use crate::compute::{accumulate, add, blank, figures, overflow, Computed, Figure, Period, SCALE};
use crate::error::{Error, Result};
use crate::runs::RunUsed;
use crate::set::{FactInfo, Indicator, IndicatorSet, Measure, Test};

/// Rows per batch of the reference's sorted frame (DataFusion's `batch_size`), and the target of
/// the coalescing after each indicator's filter.
const BATCH: usize = 8192;
/// No code / no zone / no date.
const NONE: u32 = u32::MAX;
const NO_DATE: i32 = i32::MAX;

// ---------------------------------------------------------------------------------------------
// Bitmaps

#[derive(Clone, Debug)]
struct Bits {
    w: Vec<u64>,
    n: usize,
}

impl Bits {
    fn zeros(n: usize) -> Bits {
        Bits {
            w: vec![0; n.div_ceil(64)],
            n,
        }
    }
    fn trim(&mut self) {
        if !self.n.is_multiple_of(64) {
            if let Some(last) = self.w.last_mut() {
                *last &= (1u64 << (self.n % 64)) - 1;
            }
        }
    }
    fn set(&mut self, i: usize) {
        self.w[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        (self.w[i / 64] >> (i % 64)) & 1 == 1
    }
    fn and(&mut self, o: &Bits) {
        for (a, b) in self.w.iter_mut().zip(&o.w) {
            *a &= b;
        }
    }
    fn or(&self, o: &Bits) -> Bits {
        Bits {
            w: self.w.iter().zip(&o.w).map(|(a, b)| a | b).collect(),
            n: self.n,
        }
    }
    fn not(&self) -> Bits {
        let mut b = Bits {
            w: self.w.iter().map(|a| !a).collect(),
            n: self.n,
        };
        b.trim();
        b
    }
    /// A bitmap of the firms where `f` holds.
    fn from_fn(n: usize, f: impl Fn(usize) -> bool) -> Bits {
        let mut b = Bits::zeros(n);
        for (k, w) in b.w.iter_mut().enumerate() {
            let base = k * 64;
            let mut x = 0u64;
            for j in 0..64.min(n - base) {
                x |= (f(base + j) as u64) << j;
            }
            *w = x;
        }
        b
    }
    /// The set positions, ascending.
    fn ones_iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.w.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let j = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + j)
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

fn engine_at(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::engine(format!("{}: {e}", path.display()))
}

/// The columns `want` of a Parquet file (all of them must exist), batch by batch; with
/// `years`, only the rows whose `year` is one of them (decoded first, the other columns only
/// where it passes).
fn open(
    path: &Path,
    want: &[&str],
    years: Option<[i32; 2]>,
) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let bytes = Bytes::from(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| engine_at(path, e))?;
    let schema = b.schema().clone();
    let root = |w: &str| {
        schema.index_of(w).map_err(|_| {
            Error::plain(
                format!("{}：没有列“{w}”", path.display()),
                format!("{}: no column `{w}`", path.display()),
            )
        })
    };
    let roots = want.iter().map(|w| root(w)).collect::<Result<Vec<_>>>()?;
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    let mut b = b.with_projection(mask).with_batch_size(64 * 1024);
    if let Some(ys) = years {
        let yr = ProjectionMask::roots(b.parquet_schema(), [root(scol::YEAR)?]);
        let pred = ArrowPredicateFn::new(yr, move |batch: RecordBatch| {
            let y = cast(batch.column(0), &DataType::Int32)?;
            let y = y.as_primitive::<Int32Type>();
            Ok(BooleanArray::from_iter(
                y.iter().map(|v| Some(v.is_some_and(|v| ys.contains(&v)))),
            ))
        });
        b = b.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
    }
    let r = b.build().map_err(|e| engine_at(path, e))?;
    let path = path.to_path_buf();
    Ok(r.map(move |x| x.map_err(|e| engine_at(&path, e))))
}

/// [`open`], every batch.
fn read(path: &Path, want: &[&str]) -> Result<Vec<RecordBatch>> {
    open(path, want, None)?.collect()
}

fn col<'a>(path: &Path, b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name).ok_or_else(|| {
        Error::plain(
            format!("{}：没有列“{name}”", path.display()),
            format!("{}: no column `{name}`", path.display()),
        )
    })
}

fn bad_type(path: &Path, name: &str, t: &DataType) -> Error {
    Error::plain(
        format!("{}：列“{name}”的类型 {t} 无法用于指标", path.display()),
        format!(
            "{}: column `{name}` has type {t}, unusable here",
            path.display()
        ),
    )
}

/// A text column as Utf8 (dictionaries and views are cast).
fn utf8(path: &Path, b: &RecordBatch, name: &str) -> Result<StringArray> {
    let a = col(path, b, name)?;
    if a.data_type() == &DataType::Utf8 {
        return Ok(a.as_string::<i32>().clone());
    }
    let c = cast(a, &DataType::Utf8).map_err(|_| bad_type(path, name, a.data_type()))?;
    Ok(c.as_string::<i32>().clone())
}

fn int32(path: &Path, b: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let a = col(path, b, name)?;
    if a.data_type() == &DataType::Int32 {
        return Ok(a.clone());
    }
    cast(a, &DataType::Int32).map_err(|_| bad_type(path, name, a.data_type()))
}

fn date32(path: &Path, b: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let a = col(path, b, name)?;
    if a.data_type() == &DataType::Date32 {
        return Ok(a.clone());
    }
    Err(bad_type(path, name, a.data_type()))
}

/// An enum or bool fact's values, as text (`true`/`false` for a bool: the reference's max of
/// an enum and bool_or of a bool are both the greatest value in that order).
enum Texts {
    Str(StringArray),
    Bool(BooleanArray),
}

impl Texts {
    fn of(path: &Path, b: &RecordBatch, name: &str) -> Result<Texts> {
        let a = col(path, b, name)?;
        match a.data_type() {
            DataType::Boolean => Ok(Texts::Bool(a.as_boolean().clone())),
            _ => Ok(Texts::Str(utf8(path, b, name)?)),
        }
    }
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Texts::Str(a) => (!a.is_null(i)).then(|| a.value(i)),
            Texts::Bool(a) => (!a.is_null(i)).then(|| if a.value(i) { "true" } else { "false" }),
        }
    }
}

/// A money or count column as exact integers at the scale of [`SCALE`] (× `factor`).
enum Nums {
    Dec(Decimal128Array),
    I64(datafusion::arrow::array::Int64Array),
    I32(datafusion::arrow::array::Int32Array),
}

impl Nums {
    fn of(path: &Path, b: &RecordBatch, name: &str) -> Result<(Nums, i128)> {
        let a = col(path, b, name)?;
        Ok(match a.data_type() {
            DataType::Decimal128(_, s) if (0..=12).contains(s) => (
                Nums::Dec(a.as_primitive::<Decimal128Type>().clone()),
                10i128.pow(12 - *s as u32),
            ),
            DataType::Int64 => (Nums::I64(a.as_primitive::<Int64Type>().clone()), SCALE),
            DataType::Int32 => (Nums::I32(a.as_primitive::<Int32Type>().clone()), SCALE),
            t => return Err(bad_type(path, name, t)),
        })
    }
    fn get(&self, i: usize) -> Option<i128> {
        match self {
            Nums::Dec(a) => (!a.is_null(i)).then(|| a.value(i)),
            Nums::I64(a) => (!a.is_null(i)).then(|| a.value(i) as i128),
            Nums::I32(a) => (!a.is_null(i)).then(|| a.value(i) as i128),
        }
    }
}

/// Interned texts (an enum fact's values, zones).
#[derive(Default)]
struct Dict {
    map: HashMap<String, u32>,
    names: Vec<String>,
}

impl Dict {
    fn id(&mut self, s: &str) -> u32 {
        // An enum has a handful of values: a scan beats hashing them.
        if self.names.len() <= 16 {
            if let Some(k) = self.names.iter().position(|n| n == s) {
                return k as u32;
            }
        } else if let Some(&k) = self.map.get(s) {
            return k;
        }
        let k = self.names.len() as u32;
        self.map.insert(s.to_string(), k);
        self.names.push(s.to_string());
        k
    }
    /// Keeps the greater (`max`) or lesser value in `slot`, by text.
    fn keep(&self, slot: &mut u32, new: u32, max: bool) {
        if *slot == NONE {
            *slot = new;
        } else if *slot != new {
            let (a, b) = (&self.names[new as usize], &self.names[*slot as usize]);
            if (max && a > b) || (!max && a < b) {
                *slot = new;
            }
        }
    }
}

/// A static fact's value per firm (an index into its dictionary, or [`NONE`]).
type Codes = (Vec<u32>, Dict);

/// The firms table: credit codes ascending (a firm's index is its position).
struct Firms {
    ids: StringArray,
    names: StringArray,
}

/// Finds rows' firms by walking the sorted credit codes alongside a table sorted the same way.
struct Walk<'a> {
    ids: &'a StringArray,
    cur: usize,
}

impl<'a> Walk<'a> {
    fn new(ids: &'a StringArray) -> Walk<'a> {
        Walk { ids, cur: 0 }
    }
    fn find(&mut self, id: &str) -> Option<usize> {
        let n = self.ids.len();
        let ids = self.ids;
        if self.cur < n {
            match id.cmp(ids.value(self.cur)) {
                std::cmp::Ordering::Equal => return Some(self.cur),
                std::cmp::Ordering::Greater => {
                    // The next firm, usually.
                    let j = self.cur + 1;
                    if j < n {
                        match id.cmp(ids.value(j)) {
                            std::cmp::Ordering::Equal => {
                                self.cur = j;
                                return Some(j);
                            }
                            std::cmp::Ordering::Less => {
                                self.cur = j;
                                return None;
                            }
                            std::cmp::Ordering::Greater => {}
                        }
                    }
                }
                std::cmp::Ordering::Less => {
                    if self.cur == 0 || ids.value(self.cur - 1) < id {
                        return None;
                    }
                }
            }
        }
        // Out of step: search.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if ids.value(mid) < id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.cur = lo;
        (lo < n && ids.value(lo) == id).then_some(lo)
    }
}

/// The firms table (names only when `names`: the drill-down's).
fn read_firms(dir: &Path, statics: &[String], names: bool) -> Result<(Firms, Vec<Codes>)> {
    let path = dir.join(table_file(FIRMS));
    let mut want = vec![scol::FIRM_ID];
    if names {
        want.push(scol::NAME);
    }
    want.extend(statics.iter().map(String::as_str));
    let batches = read(&path, &want)?;
    let cat = |name: &str| -> Result<ArrayRef> {
        let parts = batches
            .iter()
            .map(|b| col(&path, b, name).cloned())
            .collect::<Result<Vec<_>>>()?;
        if parts.is_empty() {
            let t = batches
                .first()
                .and_then(|b| b.column_by_name(name).map(|c| c.data_type().clone()))
                .unwrap_or(DataType::Utf8);
            return Ok(datafusion::arrow::array::new_empty_array(&t));
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        concat(&refs).map_err(|e| engine_at(&path, e))
    };
    let as_utf8 = |a: ArrayRef, name: &str| -> Result<StringArray> {
        if a.data_type() == &DataType::Utf8 {
            return Ok(a.as_string::<i32>().clone());
        }
        let c = cast(&a, &DataType::Utf8).map_err(|_| bad_type(&path, name, a.data_type()))?;
        Ok(c.as_string::<i32>().clone())
    };
    let mut ids = as_utf8(cat(scol::FIRM_ID)?, scol::FIRM_ID)?;
    let mut names = if names {
        as_utf8(cat(scol::NAME)?, scol::NAME)?
    } else {
        StringArray::from_iter_values(std::iter::empty::<&str>())
    };
    let mut cols = statics.iter().map(|s| cat(s)).collect::<Result<Vec<_>>>()?;
    let n = ids.len();
    if !(1..n).all(|i| ids.value(i - 1) < ids.value(i)) {
        // Not in order (or a credit code twice): put it in order, then look for twins.
        let perm = sort_to_indices(&ids, None, None).map_err(|e| engine_at(&path, e))?;
        let t = |a: &dyn Array| take(a, &perm, None).map_err(|e| engine_at(&path, e));
        ids = t(&ids)?.as_string::<i32>().clone();
        if !names.is_empty() {
            names = t(&names)?.as_string::<i32>().clone();
        }
        cols = cols.iter().map(|c| t(c.as_ref())).collect::<Result<_>>()?;
        if let Some(i) = (1..n).find(|&i| ids.value(i - 1) == ids.value(i)) {
            let id = ids.value(i);
            return Err(Error::plain(
                format!(
                    "{}：统一社会信用代码“{id}”出现了不止一行（企业表每家企业一行）",
                    path.display()
                ),
                format!(
                    "{}: credit code `{id}` has more than one row (the firms table holds one row per firm)",
                    path.display()
                ),
            ));
        }
    }
    let mut out = vec![];
    for (c, name) in cols.iter().zip(statics) {
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                name.as_str(),
                c.data_type().clone(),
                true,
            )])),
            vec![c.clone()],
        )
        .map_err(|e| engine_at(&path, e))?;
        let t = Texts::of(&path, &b, name)?;
        let mut d = Dict::default();
        let codes = (0..n).map(|i| t.get(i).map_or(NONE, |s| d.id(s))).collect();
        out.push((codes, d));
    }
    Ok((Firms { ids, names }, out))
}

// ---------------------------------------------------------------------------------------------
// What the set needs

/// A per-year enum or bool fact: its greatest value in each year.
struct YearCodes {
    fact: String,
    /// [this year, a year earlier]
    codes: [Vec<u32>; 2],
    dict: Dict,
}

/// A summed fact in each year: the sum (monthly) or greatest value (yearly), scaled.
struct Amounts {
    fact: String,
    v: [Vec<i128>; 2],
    has: [Bits; 2],
}

impl Amounts {
    fn new(fact: &str, n: usize) -> Amounts {
        Amounts {
            fact: fact.to_string(),
            v: [vec![0; n], vec![0; n]],
            has: [Bits::zeros(n), Bits::zeros(n)],
        }
    }
    fn max(&mut self, y: usize, i: usize, x: i128) {
        if !self.has[y].get(i) {
            self.has[y].set(i);
            self.v[y][i] = x;
        } else if x > self.v[y][i] {
            self.v[y][i] = x;
        }
    }
    fn sum(&mut self, y: usize, i: usize, x: i128) -> Result<()> {
        self.has[y].set(i);
        add(&mut self.v[y][i], x)
    }
    fn scale(&mut self, factor: i128) -> Result<()> {
        if factor != 1 {
            for v in self.v.iter_mut().flatten() {
                *v = v.checked_mul(factor).ok_or_else(overflow)?;
            }
        }
        Ok(())
    }
}

/// An event condition: whether a record (with one of `values`, if any) is held at each date.
struct Held {
    fact: String,
    values: Vec<String>,
    bits: [Bits; 2],
}

/// A `new` indicator's first record date (with one of `values`, if any), in days.
struct First {
    fact: String,
    values: Vec<String>,
    days: Vec<i32>,
}

fn value_in(values: &[String], v: Option<&str>) -> bool {
    values.is_empty() || v.is_some_and(|v| values.iter().any(|x| x == v))
}

/// Where each condition's and measure's per-firm data is.
enum CondAt {
    Static(usize),
    Year(usize),
    Event(usize),
}

enum ValueAt {
    One,
    Amount { monthly: bool, k: usize },
}

struct Plan<'a> {
    ind: &'a Indicator,
    conds: Vec<(CondAt, &'a Test)>,
    value: ValueAt,
    first: Option<usize>,
    /// (run year, clause) of the selection now and a year earlier (None a year earlier: false).
    sel: Option<(usize, Option<usize>)>,
}

fn push_unique<T>(v: &mut Vec<T>, same: impl Fn(&T) -> bool, new: impl FnOnce() -> T) -> usize {
    match v.iter().position(same) {
        Some(k) => k,
        None => {
            v.push(new());
            v.len() - 1
        }
    }
}

/// Whether a run's result row is a selection (as [`crate::reference`]'s `selected_row`).
fn selected_row(amount_fen: Option<i64>, reason: Option<&str>) -> bool {
    use huiqi_ir::reason::ReasonKind as K;
    if amount_fen.is_some_and(|a| a > 0) {
        return true;
    }
    let Some(r) = reason else { return false };
    [
        K::ClauseCap,
        K::TotalCap,
        K::Exclusive,
        K::Pool,
        K::FirmCap,
        K::GroupCap,
    ]
    .into_iter()
    .any(|k| {
        if k.has_subject() {
            r.strip_prefix(k.key())
                .is_some_and(|rest| rest.starts_with(':'))
        } else {
            r == k.key()
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The computation

pub(crate) fn compute(
    set: &IndicatorSet,
    dir: &Path,
    period: Period,
    keep_rows: bool,
    runs: &[RunUsed],
) -> Result<Computed> {
    let manifest: huiqi_files::snapshot::Manifest = serde_json::from_slice(
        &std::fs::read(dir.join(huiqi_files::snapshot::MANIFEST)).map_err(|x| Error::io(dir, x))?,
    )
    .map_err(|x| Error::io(dir, x))?;
    set.check_schema(&manifest.schema)?;
    let info = |f: &str| FactInfo::of(&manifest.schema[f]);
    let zones = info(&set.zone_fact).values;

    let (y1, y0) = (period.year, period.year - 1);
    let (d1, d0) = (period.as_of(), period.base().as_of());
    let (t1, t0) = (to_days(d1), to_days(d0));

    // What each indicator reads, each column once.
    let mut statics: Vec<String> = vec![];
    let mut year_facts: Vec<String> = vec![];
    let mut yearly_sums: Vec<String> = vec![];
    let mut monthly_sums: Vec<String> = vec![];
    let mut helds: Vec<(String, Vec<String>)> = vec![];
    let mut firsts: Vec<(String, Vec<String>)> = vec![];
    // (run year, clause) pairs read from runs.
    let mut selections: Vec<(i32, String)> = vec![];
    let mut skipped: std::collections::HashSet<String> = Default::default();
    let mut no_base: Vec<String> = vec![];
    let mut notes = vec![];
    let run_of = |y: i32| runs.iter().find(|r| r.period == y);
    let mut plans: Vec<Plan> = vec![];
    for ind in &set.indicators {
        let mut conds = vec![];
        for cond in &ind.conds {
            let f = info(&cond.fact);
            let at = match f.period.as_str() {
                "static" => CondAt::Static(push_unique(
                    &mut statics,
                    |s| *s == cond.fact,
                    || cond.fact.clone(),
                )),
                "per year" => CondAt::Year(push_unique(
                    &mut year_facts,
                    |s| *s == cond.fact,
                    || cond.fact.clone(),
                )),
                _ => {
                    let vs = match &cond.test {
                        Test::OneOf(v) => v.clone(),
                        Test::Is(_) => vec![],
                    };
                    CondAt::Event(push_unique(
                        &mut helds,
                        |(f, v)| *f == cond.fact && *v == vs,
                        || (cond.fact.clone(), vs.clone()),
                    ))
                }
            };
            conds.push((at, &cond.test));
        }
        let mut plan = Plan {
            ind,
            conds,
            value: ValueAt::One,
            first: None,
            sel: None,
        };
        match ind.measure {
            Measure::Sum => {
                let fact = ind.fact.as_deref().unwrap_or_default();
                let monthly = info(fact).period == "per month";
                let list = if monthly {
                    &mut monthly_sums
                } else {
                    &mut yearly_sums
                };
                let k = push_unique(list, |s| s == fact, || fact.to_string());
                plan.value = ValueAt::Amount { monthly, k };
            }
            Measure::New => {
                let fact = ind.fact.as_deref().unwrap_or_default();
                plan.first = Some(push_unique(
                    &mut firsts,
                    |(f, v)| f == fact && *v == ind.values,
                    || (fact.to_string(), ind.values.clone()),
                ));
            }
            Measure::Selected => {
                let clause = ind.clause.as_deref().unwrap_or_default();
                let (ya, yb) = (y1 + ind.run_offset, y0 + ind.run_offset);
                let mut sel = |y: i32| -> Option<usize> {
                    run_of(y)?;
                    Some(push_unique(
                        &mut selections,
                        |(yy, c)| *yy == y && c == clause,
                        || (y, clause.to_string()),
                    ))
                };
                let now = sel(ya);
                if now.is_none() {
                    skipped.insert(ind.id.clone());
                    notes.push((
                        format!("{}：需要 {ya} 年的运行结果（--run），未计算", ind.label),
                        format!("{}: needs the run of {ya} (--run); not computed", ind.label),
                    ));
                }
                let base = sel(yb);
                if base.is_none() && !skipped.contains(&ind.id) {
                    no_base.push(ind.id.clone());
                    notes.push((
                        format!("{}：没有 {yb} 年的运行结果，不计增速与进出", ind.label),
                        format!("{}: no run of {yb}; no growth, entries or exits", ind.label),
                    ));
                }
                if let Some(now) = now {
                    plan.sel = Some((now, base));
                }
            }
            Measure::Count | Measure::Ratio | Measure::Investment => {}
        }
        plans.push(plan);
    }

    // The firms, then every other table at once.
    let (firms, static_codes) = read_firms(dir, &statics, keep_rows)?;
    let n = firms.ids.len();
    let ids = &firms.ids;
    let ((events, yearly), (monthly, sels)) = std::thread::scope(|s| {
        let yearly = (!year_facts.is_empty() || !yearly_sums.is_empty())
            .then(|| s.spawn(|| read_yearly(dir, ids, (y1, y0), &year_facts, &yearly_sums)));
        let monthly = (!monthly_sums.is_empty())
            .then(|| s.spawn(|| read_monthly(dir, ids, (y1, y0), period.month, &monthly_sums)));
        let sels = (!selections.is_empty()).then(|| s.spawn(|| read_runs(runs, ids, &selections)));
        let events = read_events(dir, ids, &set.zone_fact, (t1, t0), &helds, &firsts);
        (
            (events, yearly.map(joined)),
            (monthly.map(joined), sels.map(joined)),
        )
    });
    let (zone_now, zone_base, zdict, held, first) = events?;
    let (year_codes, year_amounts) = yearly.transpose()?.unwrap_or_default();
    let month_amounts = monthly.transpose()?.unwrap_or_default();
    let sel_bits = sels.transpose()?.unwrap_or_default();

    let firms_without_zone = zone_now.iter().filter(|&&z| z == NONE).count() as u64;
    // In a zone now / a year earlier: every indicator without its own list of zones starts
    // from these.
    let in_zone = [
        Bits::from_fn(n, |i| zone_now[i] != NONE),
        Bits::from_fn(n, |i| zone_base[i] != NONE),
    ];
    let zone_ok = |y: usize, only: &[String]| -> Bits {
        if only.is_empty() {
            return in_zone[y].clone();
        }
        let z = if y == 0 { &zone_now } else { &zone_base };
        let ok: Vec<bool> = zdict.names.iter().map(|s| only.contains(s)).collect();
        Bits::from_fn(n, |i| z[i] != NONE && ok[z[i] as usize])
    };
    let test_codes = |codes: &[u32], dict: &Dict, t: &Test| -> Bits {
        let ok: Vec<bool> = dict
            .names
            .iter()
            .map(|s| match t {
                Test::OneOf(vs) => vs.contains(s),
                Test::Is(b) => s == if *b { "true" } else { "false" },
            })
            .collect();
        Bits::from_fn(n, |i| codes[i] != NONE && ok[codes[i] as usize])
    };

    let mut by: BTreeMap<(String, String), Figure> = BTreeMap::new();
    let mut rows: Vec<RecordBatch> = vec![];
    let schema = rows_schema();
    for plan in &plans {
        let ind = plan.ind;
        if ind.measure == Measure::Ratio || skipped.contains(&ind.id) {
            continue;
        }
        if ind.measure == Measure::Investment {
            let Some(batches) = investment(dir, ind, period, keep_rows, &schema)? else {
                skipped.insert(ind.id.clone());
                notes.push((
                    format!(
                        "{}：快照中没有项目表（在映射文件中加入 [[projects]] 后重新导入），未计算",
                        ind.label
                    ),
                    format!(
                        "{}: the snapshot has no projects table (add [[projects]] to the mapping and ingest again); not computed",
                        ind.label
                    ),
                ));
                continue;
            };
            for b in batches {
                accumulate(&ind.id, &b, &mut by)?;
                if keep_rows {
                    rows.push(b);
                }
            }
            continue;
        }
        // The set now and a year earlier.
        let mut in1 = zone_ok(0, &ind.zones);
        let mut in0 = zone_ok(1, &ind.zones);
        for (at, t) in &plan.conds {
            let (a, b) = match at {
                CondAt::Static(k) => {
                    let (codes, dict) = &static_codes[*k];
                    let x = test_codes(codes, dict, t);
                    (x.clone(), x)
                }
                CondAt::Year(k) => {
                    let y = &year_codes[*k];
                    (
                        test_codes(&y.codes[0], &y.dict, t),
                        test_codes(&y.codes[1], &y.dict, t),
                    )
                }
                CondAt::Event(k) => {
                    let h = &held[*k];
                    match t {
                        Test::Is(false) => (h.bits[0].not(), h.bits[1].not()),
                        _ => (h.bits[0].clone(), h.bits[1].clone()),
                    }
                }
            };
            in1.and(&a);
            in0.and(&b);
        }
        let amounts = match plan.value {
            ValueAt::Amount { monthly, k } => {
                let a = if monthly {
                    &month_amounts[k]
                } else {
                    &year_amounts[k]
                };
                in1.and(&a.has[0]);
                in0.and(&a.has[1]);
                Some(a)
            }
            ValueAt::One => None,
        };
        if let Some(k) = plan.first {
            let days = &first[k].days;
            let within = |d: Date, t: i32| {
                let from = to_days(Date::year_start(d.y));
                Bits::from_fn(n, |i| days[i] != NO_DATE && days[i] >= from && days[i] <= t)
            };
            in1.and(&within(d1, t1));
            in0.and(&within(d0, t0));
        }
        if let Some((now, base)) = plan.sel {
            in1.and(&sel_bits[now]);
            match base {
                Some(b) => in0.and(&sel_bits[b]),
                None => in0 = Bits::zeros(n),
            }
        }
        let value = |y: usize, i: usize| -> i128 {
            match amounts {
                Some(a) => a.v[y][i],
                None => SCALE,
            }
        };

        // Figures by zone.
        let any = in1.or(&in0);
        let mut acc: Vec<Figure> = zdict.names.iter().map(|z| blank(&ind.id, z)).collect();
        let mut touched = vec![false; acc.len()];
        for i in any.ones_iter() {
            let (now, then) = (in1.get(i), in0.get(i));
            let (za, zb) = (zone_now[i], zone_base[i]);
            let same_zone = za != NONE && za == zb;
            if now {
                let f = &mut acc[za as usize];
                touched[za as usize] = true;
                add(&mut f.value, value(0, i))?;
                add(&mut f.same_base, value(1, i))?;
                f.firms += 1;
                if !(then && same_zone) {
                    f.entries += 1;
                }
            }
            if then {
                let f = &mut acc[zb as usize];
                touched[zb as usize] = true;
                add(&mut f.nominal_base, value(1, i))?;
                f.firms_base += 1;
                if !(now && same_zone) {
                    f.exits += 1;
                }
            }
        }
        for (f, t) in acc.into_iter().zip(touched) {
            if t {
                by.insert((ind.id.clone(), f.zone.clone()), f);
            }
        }

        if keep_rows {
            let idx: Vec<u32> = any.ones_iter().map(|i| i as u32).collect();
            let full = firm_rows(
                &schema, &firms, &ind.id, &idx, &zdict, &zone_now, &zone_base, &in1, &in0, &value,
            )?;
            // As the reference's plan: the sorted frame in batches of BATCH firms, each filtered,
            // then coalesced.
            let mut co = BatchCoalescer::new(schema.clone(), BATCH)
                .with_biggest_coalesce_batch_size(Some(BATCH / 2));
            let mut at = 0;
            for start in (0..n).step_by(BATCH) {
                let end = (start + BATCH).min(n) as u32;
                let k = idx[at..].partition_point(|&i| i < end);
                co.push_batch(full.slice(at, k)).map_err(Error::engine)?;
                at += k;
                while let Some(b) = co.next_completed_batch() {
                    rows.push(b);
                }
            }
            co.finish_buffered_batch().map_err(Error::engine)?;
            while let Some(b) = co.next_completed_batch() {
                rows.push(b);
            }
        }
    }
    let mut figures = figures(set, &zones, &by, &skipped)?;
    // Without last year's selection every firm would look like an entry.
    for f in figures
        .iter_mut()
        .filter(|f| no_base.contains(&f.indicator))
    {
        f.entries = 0;
        f.exits = 0;
    }
    Ok(Computed {
        period,
        figures,
        rows,
        firms_without_zone,
        zones,
        runs: runs.to_vec(),
        notes,
    })
}

fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(Error::engine("a reading thread panicked")))
}

/// The drill-down's columns, nullable as the reference's plan makes them.
fn rows_schema() -> SchemaRef {
    let dec = DataType::Decimal128(38, 12);
    Arc::new(Schema::new(vec![
        Field::new("indicator", DataType::Utf8, true),
        Field::new("firm_id", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("zone", DataType::Utf8, true),
        Field::new("zone_base", DataType::Utf8, true),
        Field::new("in_current", DataType::Boolean, true),
        Field::new("in_base", DataType::Boolean, true),
        Field::new("value", dec.clone(), true),
        Field::new("base_value", dec, true),
    ]))
}

fn decimals(v: impl Iterator<Item = i128>) -> Result<ArrayRef> {
    Ok(Arc::new(
        Decimal128Array::from_iter_values(v)
            .with_precision_and_scale(38, 12)
            .map_err(Error::engine)?,
    ))
}

/// One indicator's firm rows (firms `idx`, ascending) in the drill-down's columns.
#[allow(clippy::too_many_arguments)]
fn firm_rows(
    schema: &SchemaRef,
    firms: &Firms,
    id: &str,
    idx: &[u32],
    zdict: &Dict,
    zone_now: &[u32],
    zone_base: &[u32],
    in1: &Bits,
    in0: &Bits,
    value: &dyn Fn(usize, usize) -> i128,
) -> Result<RecordBatch> {
    let ix = UInt32Array::from(idx.to_vec());
    let zone = |z: &[u32]| -> ArrayRef {
        Arc::new(StringArray::from_iter(idx.iter().map(|&i| {
            let k = z[i as usize];
            (k != NONE).then(|| zdict.names[k as usize].as_str())
        })))
    };
    let flags = |b: &Bits| -> ArrayRef {
        Arc::new(BooleanArray::from_iter(
            idx.iter().map(|&i| Some(b.get(i as usize))),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            id,
            idx.len(),
        ))),
        take(&firms.ids, &ix, None).map_err(Error::engine)?,
        take(&firms.names, &ix, None).map_err(Error::engine)?,
        zone(zone_now),
        zone(zone_base),
        flags(in1),
        flags(in0),
        decimals(idx.iter().map(|&i| value(0, i as usize)))?,
        decimals(idx.iter().map(|&i| value(1, i as usize)))?,
    ];
    RecordBatch::try_new(schema.clone(), cols).map_err(Error::engine)
}

type EventsRead = (Vec<u32>, Vec<u32>, Dict, Vec<Held>, Vec<First>);

/// The events table: each firm's zone at both dates (the least value held, as the reference's
/// `min`), each event condition held at both dates, each first record date.
fn read_events(
    dir: &Path,
    ids: &StringArray,
    zone_fact: &str,
    (t1, t0): (i32, i32),
    helds: &[(String, Vec<String>)],
    firsts: &[(String, Vec<String>)],
) -> Result<EventsRead> {
    let n = ids.len();
    let path = dir.join(table_file(EVENTS));
    let batches = open(
        &path,
        &[
            scol::FIRM_ID,
            scol::FACT,
            scol::DATE,
            scol::UNTIL,
            scol::VALUE,
        ],
        None,
    )?;
    let mut zdict = Dict::default();
    let (mut z1, mut z0) = (vec![NONE; n], vec![NONE; n]);
    let mut held: Vec<Held> = helds
        .iter()
        .map(|(f, v)| Held {
            fact: f.clone(),
            values: v.clone(),
            bits: [Bits::zeros(n), Bits::zeros(n)],
        })
        .collect();
    let mut first: Vec<First> = firsts
        .iter()
        .map(|(f, v)| First {
            fact: f.clone(),
            values: v.clone(),
            days: vec![NO_DATE; n],
        })
        .collect();
    // The facts read, each with what it feeds.
    struct Use {
        fact: String,
        zone: bool,
        held: Vec<usize>,
        first: Vec<usize>,
    }
    fn use_of(uses: &mut Vec<Use>, f: &str) -> usize {
        push_unique(
            uses,
            |u| u.fact == f,
            || Use {
                fact: f.to_string(),
                zone: false,
                held: vec![],
                first: vec![],
            },
        )
    }
    let mut uses: Vec<Use> = vec![];
    let k = use_of(&mut uses, zone_fact);
    uses[k].zone = true;
    for (j, h) in held.iter().enumerate() {
        let k = use_of(&mut uses, &h.fact);
        uses[k].held.push(j);
    }
    for (j, f) in first.iter().enumerate() {
        let k = use_of(&mut uses, &f.fact);
        uses[k].first.push(j);
    }
    let mut walk = Walk::new(ids);
    for b in batches {
        let b = &b?;
        let fid = utf8(&path, b, scol::FIRM_ID)?;
        let fact = utf8(&path, b, scol::FACT)?;
        let date = date32(&path, b, scol::DATE)?;
        let until = date32(&path, b, scol::UNTIL)?;
        let (date, until) = (
            date.as_primitive::<Date32Type>(),
            until.as_primitive::<Date32Type>(),
        );
        let value = utf8(&path, b, scol::VALUE)?;
        for r in 0..b.num_rows() {
            if fact.is_null(r) || fid.is_null(r) {
                continue;
            }
            let f = fact.value(r);
            let Some(u) = uses.iter().find(|u| u.fact == f) else {
                continue;
            };
            let Some(i) = walk.find(fid.value(r)) else {
                continue;
            };
            let d = (!date.is_null(r)).then(|| date.value(r));
            let u_ = (!until.is_null(r)).then(|| until.value(r));
            let holds = |t: i32| d.is_some_and(|d| d <= t) && u_.is_none_or(|u| u >= t);
            let v = (!value.is_null(r)).then(|| value.value(r));
            let (h1, h0) = (holds(t1), holds(t0));
            if u.zone {
                if let Some(v) = v {
                    if h1 || h0 {
                        let z = zdict.id(v);
                        if h1 {
                            zdict.keep(&mut z1[i], z, false);
                        }
                        if h0 {
                            zdict.keep(&mut z0[i], z, false);
                        }
                    }
                }
            }
            for &j in &u.held {
                let h = &mut held[j];
                if (h1 || h0) && value_in(&h.values, v) {
                    if h1 {
                        h.bits[0].set(i);
                    }
                    if h0 {
                        h.bits[1].set(i);
                    }
                }
            }
            if let Some(d) = d {
                for &j in &u.first {
                    let f = &mut first[j];
                    if value_in(&f.values, v) && d < f.days[i] {
                        f.days[i] = d;
                    }
                }
            }
        }
    }
    Ok((z1, z0, zdict, held, first))
}

/// The yearly table: per-year enum or bool facts (greatest value) and summed yearly facts
/// (greatest value, as the reference's `max`), this year and a year earlier.
fn read_yearly(
    dir: &Path,
    ids: &StringArray,
    (y1, y0): (i32, i32),
    facts: &[String],
    sums: &[String],
) -> Result<(Vec<YearCodes>, Vec<Amounts>)> {
    let n = ids.len();
    let path = dir.join(table_file(YEARLY));
    let mut want = vec![scol::FIRM_ID, scol::YEAR];
    want.extend(facts.iter().chain(sums).map(String::as_str));
    let batches = open(&path, &want, Some([y1, y0]))?;
    let mut codes: Vec<YearCodes> = facts
        .iter()
        .map(|f| YearCodes {
            fact: f.clone(),
            codes: [vec![NONE; n], vec![NONE; n]],
            dict: Dict::default(),
        })
        .collect();
    let mut amounts: Vec<Amounts> = sums.iter().map(|f| Amounts::new(f, n)).collect();
    let mut factors = vec![1i128; sums.len()];
    let mut walk = Walk::new(ids);
    for b in batches {
        let b = &b?;
        let fid = utf8(&path, b, scol::FIRM_ID)?;
        let year = int32(&path, b, scol::YEAR)?;
        let year = year.as_primitive::<Int32Type>();
        let texts = codes
            .iter()
            .map(|c| Texts::of(&path, b, &c.fact))
            .collect::<Result<Vec<_>>>()?;
        let mut nums = vec![];
        for (k, a) in amounts.iter().enumerate() {
            let (x, f) = Nums::of(&path, b, &a.fact)?;
            factors[k] = f;
            nums.push(x);
        }
        for r in 0..b.num_rows() {
            if year.is_null(r) || fid.is_null(r) {
                continue;
            }
            let y = match year.value(r) {
                y if y == y1 => 0,
                y if y == y0 => 1,
                _ => continue,
            };
            let Some(i) = walk.find(fid.value(r)) else {
                continue;
            };
            for (c, t) in codes.iter_mut().zip(&texts) {
                if let Some(s) = t.get(r) {
                    let k = c.dict.id(s);
                    let (dict, slot) = (&c.dict, &mut c.codes[y][i]);
                    dict.keep(slot, k, true);
                }
            }
            for (a, x) in amounts.iter_mut().zip(&nums) {
                if let Some(v) = x.get(r) {
                    a.max(y, i, v);
                }
            }
        }
    }
    for (a, f) in amounts.iter_mut().zip(factors) {
        a.scale(f)?;
    }
    Ok((codes, amounts))
}

/// The monthly table: each summed monthly fact over months 1..=M of this year and of a year
/// earlier (exact; an overflow is an error).
fn read_monthly(
    dir: &Path,
    ids: &StringArray,
    (y1, y0): (i32, i32),
    month: u32,
    sums: &[String],
) -> Result<Vec<Amounts>> {
    let n = ids.len();
    let path = dir.join(table_file(MONTHLY));
    let mut want = vec![scol::FIRM_ID, scol::YEAR, scol::MONTH];
    want.extend(sums.iter().map(String::as_str));
    let batches = open(&path, &want, Some([y1, y0]))?;
    let mut amounts: Vec<Amounts> = sums.iter().map(|f| Amounts::new(f, n)).collect();
    let mut factors = vec![1i128; sums.len()];
    let mut walk = Walk::new(ids);
    for b in batches {
        let b = &b?;
        let fid = utf8(&path, b, scol::FIRM_ID)?;
        let year = int32(&path, b, scol::YEAR)?;
        let year = year.as_primitive::<Int32Type>();
        let mon = int32(&path, b, scol::MONTH)?;
        let mon = mon.as_primitive::<Int32Type>();
        let mut nums = vec![];
        for (k, a) in amounts.iter().enumerate() {
            let (x, f) = Nums::of(&path, b, &a.fact)?;
            factors[k] = f;
            nums.push(x);
        }
        for r in 0..b.num_rows() {
            if year.is_null(r) || mon.is_null(r) || fid.is_null(r) {
                continue;
            }
            if mon.value(r) > month as i32 {
                continue;
            }
            let y = match year.value(r) {
                y if y == y1 => 0,
                y if y == y0 => 1,
                _ => continue,
            };
            let Some(i) = walk.find(fid.value(r)) else {
                continue;
            };
            for (a, x) in amounts.iter_mut().zip(&nums) {
                if let Some(v) = x.get(r) {
                    a.sum(y, i, v)?;
                }
            }
        }
    }
    for (a, f) in amounts.iter_mut().zip(factors) {
        a.scale(f)?;
    }
    Ok(amounts)
}

/// Each (run year, clause): the firms the run selected for the clause.
fn read_runs(runs: &[RunUsed], ids: &StringArray, sels: &[(i32, String)]) -> Result<Vec<Bits>> {
    let n = ids.len();
    let mut bits = vec![Bits::zeros(n); sels.len()];
    for run in runs {
        let wanted: Vec<(usize, &str)> = sels
            .iter()
            .enumerate()
            .filter(|(_, (y, _))| *y == run.period)
            .map(|(k, (_, c))| (k, c.as_str()))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let path = &run.results;
        let batches = open(
            path,
            &[rcol::FIRM_ID, rcol::CLAUSE, rcol::AMOUNT_FEN, rcol::REASON],
            None,
        )?;
        let mut walk = Walk::new(ids);
        for b in batches {
            let b = &b?;
            let fid = utf8(path, b, rcol::FIRM_ID)?;
            let clause = utf8(path, b, rcol::CLAUSE)?;
            let reason = utf8(path, b, rcol::REASON)?;
            let amount = col(path, b, rcol::AMOUNT_FEN)?;
            let amount = if amount.data_type() == &DataType::Int64 {
                amount.clone()
            } else {
                cast(amount, &DataType::Int64)
                    .map_err(|_| bad_type(path, rcol::AMOUNT_FEN, amount.data_type()))?
            };
            let amount = amount.as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                if clause.is_null(r) || fid.is_null(r) {
                    continue;
                }
                let c = clause.value(r);
                let Some(&(k, _)) = wanted.iter().find(|(_, w)| *w == c) else {
                    continue;
                };
                let a = (!amount.is_null(r)).then(|| amount.value(r));
                let why = (!reason.is_null(r)).then(|| reason.value(r));
                if !selected_row(a, why) {
                    continue;
                }
                if let Some(i) = walk.find(fid.value(r)) {
                    bits[k].set(i);
                }
            }
        }
    }
    Ok(bits)
}

/// 固投 (see [`crate::reference`]'s `investment`): the projects that reported investment in
/// 1..=M月 of the year or of the year before, by project code, in the drill-down's columns.
/// None when the snapshot has no projects table.
fn investment(
    dir: &Path,
    ind: &Indicator,
    period: Period,
    keep_rows: bool,
    schema: &SchemaRef,
) -> Result<Option<Vec<RecordBatch>>> {
    let path = dir.join(table_file(PROJECTS));
    if !path.is_file() {
        return Ok(None);
    }
    let (y1, y0) = (period.year, period.year - 1);
    let batches = read(
        &path,
        &[
            scol::PROJECT_ID,
            scol::NAME,
            scol::ZONE,
            scol::YEAR,
            scol::MONTH,
            scol::INVESTMENT,
        ],
    )?;
    #[derive(Default)]
    struct P {
        name: Option<String>,
        zone: Option<String>,
        v: [Option<i128>; 2],
        has: [bool; 2],
    }
    fn keep_max(slot: &mut Option<String>, v: Option<&str>) {
        if let Some(v) = v {
            if slot.as_deref().is_none_or(|s| v > s) {
                *slot = Some(v.to_string());
            }
        }
    }
    let mut by: BTreeMap<String, P> = BTreeMap::new();
    let mut factor = 1i128;
    for b in &batches {
        let pid = utf8(&path, b, scol::PROJECT_ID)?;
        let name = utf8(&path, b, scol::NAME)?;
        let zone = utf8(&path, b, scol::ZONE)?;
        let year = int32(&path, b, scol::YEAR)?;
        let year = year.as_primitive::<Int32Type>();
        let mon = int32(&path, b, scol::MONTH)?;
        let mon = mon.as_primitive::<Int32Type>();
        let (inv, f) = Nums::of(&path, b, scol::INVESTMENT)?;
        factor = f;
        for r in 0..b.num_rows() {
            if year.is_null(r) || mon.is_null(r) || pid.is_null(r) {
                continue;
            }
            if mon.value(r) > period.month as i32 {
                continue;
            }
            let y = match year.value(r) {
                y if y == y1 => 0,
                y if y == y0 => 1,
                _ => continue,
            };
            let id = pid.value(r);
            if !by.contains_key(id) {
                by.insert(id.to_string(), P::default());
            }
            let Some(p) = by.get_mut(id) else { continue };
            keep_max(&mut p.name, (!name.is_null(r)).then(|| name.value(r)));
            keep_max(&mut p.zone, (!zone.is_null(r)).then(|| zone.value(r)));
            p.has[y] = true;
            if let Some(x) = inv.get(r) {
                let s = p.v[y].get_or_insert(0);
                add(s, x)?;
            }
        }
    }
    let zone_ok = |z: Option<&str>| {
        ind.zones.is_empty() || z.is_some_and(|z| ind.zones.iter().any(|x| x == z))
    };
    let scaled = |v: Option<i128>| -> Result<i128> {
        v.unwrap_or(0).checked_mul(factor).ok_or_else(overflow)
    };
    let ps: Vec<(&String, &P)> = by.iter().collect();
    let mut out = vec![];
    // The reference sorts by code into batches of BATCH rows; without rows, any order serves.
    let step = if keep_rows { BATCH } else { ps.len().max(1) };
    for chunk in ps.chunks(step) {
        let zone_at = |y: usize| -> ArrayRef {
            Arc::new(StringArray::from_iter(chunk.iter().map(|(_, p)| {
                if p.has[y] {
                    p.zone.as_deref()
                } else {
                    None
                }
            })))
        };
        let flag = |y: usize| -> ArrayRef {
            Arc::new(BooleanArray::from_iter(
                chunk
                    .iter()
                    .map(|(_, p)| Some(p.has[y] && zone_ok(p.zone.as_deref()))),
            ))
        };
        let vals = |y: usize| -> Result<ArrayRef> {
            let v = chunk
                .iter()
                .map(|(_, p)| scaled(p.v[y]))
                .collect::<Result<Vec<_>>>()?;
            decimals(v.into_iter())
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                ind.id.as_str(),
                chunk.len(),
            ))),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|(k, _)| k.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                chunk.iter().map(|(_, p)| p.name.as_deref()),
            )),
            zone_at(0),
            zone_at(1),
            flag(0),
            flag(1),
            vals(0)?,
            vals(1)?,
        ];
        out.push(RecordBatch::try_new(schema.clone(), cols).map_err(Error::engine)?);
    }
    Ok(Some(out))
}
