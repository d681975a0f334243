//! Compact in-memory columns for validated rows: integer 分, packed keys, sentinels for missing.

use huiqi_ir::Ty;

pub(super) const NULL: i64 = i64::MIN;
pub(super) const NULL128: i128 = i128::MIN;
/// 分 → Decimal128 at scale 12 (元 with 12 places).
pub(super) const FEN_TO_DEC: i128 = 10_000_000_000;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Val {
    Null,
    I64(i64),
    I128(i128),
}

/// The longest text a text fact holds (a group's name), in characters.
pub(super) const MAX_TEXT: usize = 200;

/// The values of text facts (a group's name: "实际控制人"), each distinct text stored once; a
/// cell holds its index as `Val::I64`.
#[derive(Default)]
pub(super) struct Texts {
    all: Vec<Box<str>>,
    index: std::collections::HashMap<Box<str>, i64>,
}

impl Texts {
    /// A text cell: trimmed, empty is missing; refused when too long or holding control
    /// characters (a line break in a group's name is a broken export, not a name).
    pub(super) fn parse(&mut self, c: &crate::source::Cell) -> Result<Val, crate::error::Reason> {
        let mut buf = String::new();
        let Some(t) = crate::parse::text(c, &mut buf)? else {
            return Ok(Val::Null);
        };
        if t.chars().count() > MAX_TEXT {
            return Err(crate::error::reason(
                format!("文本超过 {MAX_TEXT} 个字符"),
                format!("the text is longer than {MAX_TEXT} characters"),
            ));
        }
        if t.chars().any(char::is_control) {
            return Err(crate::error::reason(
                "文本含有控制字符（如换行）",
                "the text holds control characters (such as a line break)",
            ));
        }
        if let Some(&i) = self.index.get(t) {
            return Ok(Val::I64(i));
        }
        let i = self.all.len() as i64;
        self.all.push(t.into());
        self.index.insert(t.into(), i);
        Ok(Val::I64(i))
    }

    pub(super) fn get(&self, i: i64) -> Option<&str> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.all.get(i))
            .map(|t| &**t)
    }
}

/// One fact's values for the rows of a source: money in 分, counts, bools 0/1, dates as days,
/// enum variants by index — all `i64` — and ratios at scale 12.
pub(super) enum Vals {
    I64(Vec<i64>),
    I128(Vec<i128>),
}

impl Vals {
    pub(super) fn for_type(t: Ty) -> Vals {
        match t {
            Ty::Ratio => Vals::I128(vec![]),
            _ => Vals::I64(vec![]),
        }
    }
    pub(super) fn push(&mut self, v: Val) {
        match (self, v) {
            (Vals::I64(x), Val::I64(v)) => x.push(v),
            (Vals::I64(x), _) => x.push(NULL),
            (Vals::I128(x), Val::I128(v)) => x.push(v),
            (Vals::I128(x), _) => x.push(NULL128),
        }
    }
    pub(super) fn get(&self, i: usize) -> Val {
        match self {
            Vals::I64(x) if x[i] == NULL => Val::Null,
            Vals::I64(x) => Val::I64(x[i]),
            Vals::I128(x) if x[i] == NULL128 => Val::Null,
            Vals::I128(x) => Val::I128(x[i]),
        }
    }
    /// The values in `perm` order; consumes self so only one copy of a column is alive at a time.
    pub(super) fn permute(self, perm: &[u32]) -> Vals {
        match &self {
            Vals::I64(x) => Vals::I64(perm.iter().map(|&i| x[i as usize]).collect()),
            Vals::I128(x) => Vals::I128(perm.iter().map(|&i| x[i as usize]).collect()),
        }
    }
}

pub(super) struct Firms {
    pub(super) ids: Vec<[u8; 18]>,
    pub(super) names: String,
    pub(super) name_ends: Vec<usize>,
    /// Static facts, one per mapped column.
    pub(super) facts: Vec<Vals>,
}

impl Firms {
    pub(super) fn find(&self, id: &[u8; 18]) -> Option<u32> {
        self.ids.binary_search(id).ok().map(|i| i as u32)
    }
    #[allow(clippy::expect_used)]
    pub(super) fn id(&self, i: usize) -> &str {
        // PANIC SAFETY: ids are stored only after `parse::uscc` validated them, and a valid
        // 统一社会信用代码 is 18 ASCII characters.
        std::str::from_utf8(&self.ids[i]).expect("credit codes are ASCII")
    }
    pub(super) fn name(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.name_ends[i - 1] };
        &self.names[start..self.name_ends[i]]
    }
}

/// Rows of one yearly or monthly source.
pub(super) struct PeriodRows {
    /// firm << 32 | year << 4 | month.
    pub(super) keys: Vec<u64>,
    pub(super) rows: Vec<u32>,
    pub(super) facts: Vec<Vals>,
}

pub(super) fn pack(firm: u32, year: i32, month: u32) -> u64 {
    (firm as u64) << 32 | (year as u64) << 4 | month as u64
}

pub(super) fn key_firm(k: u64) -> usize {
    (k >> 32) as usize
}

pub(super) fn key_year(k: u64) -> i32 {
    ((k >> 4) & 0x0FFF_FFFF) as i32
}

pub(super) fn key_month(k: u64) -> i32 {
    (k & 0xF) as i32
}

pub(super) struct Event {
    pub(super) firm: u32,
    pub(super) fact: u32,
    pub(super) date: i32,
    pub(super) until: i32,
    pub(super) value: u32,
    /// Where the record's numbers start in [`Events::nums`] (one per field of its fact);
    /// [`NO_NUMS`] for a fact without fields.
    pub(super) nums: u32,
    pub(super) row: u32,
    pub(super) src: u16,
}
pub(super) const NO_DATE: i32 = i32::MIN;
pub(super) const NO_VALUE: u32 = u32::MAX;
pub(super) const NO_NUMS: u32 = u32::MAX;
/// A count → Decimal128 at scale 12.
pub(super) const ONE_DEC: i128 = 1_000_000_000_000;

/// The event records and, side by side, their numbers: Decimal128 at scale 12 (money in 元,
/// counts whole) with [`NULL128`] for a missing one — the events table's field columns as they
/// are written. Kept apart so that records without fields cost nothing.
#[derive(Default)]
pub(super) struct Events {
    pub(super) rows: Vec<Event>,
    pub(super) nums: Vec<i128>,
}

impl Events {
    /// The numbers of `e`, `n` of them (its fact's fields).
    pub(super) fn nums(&self, e: &Event, n: usize) -> &[i128] {
        if e.nums == NO_NUMS {
            return &[];
        }
        let start = e.nums as usize;
        self.nums.get(start..start + n).unwrap_or(&[])
    }
}

pub(super) struct AwardRow {
    pub(super) firm: u32,
    pub(super) clause: u32,
    pub(super) period: i32,
    /// The payment's day when the source has a date column; [`NO_DATE`] otherwise.
    pub(super) date: i32,
    pub(super) tranche: String,
    pub(super) fen: i64,
    pub(super) row: u32,
    pub(super) src: u16,
}

/// Ranks of names in byte order: the snapshot sorts `fact`, `value` and `clause` as strings.
pub(super) fn ranks(names: &[&str]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let mut r = vec![0; names.len()];
    for (k, i) in order.into_iter().enumerate() {
        r[i] = k as u32;
    }
    r
}
