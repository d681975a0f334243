//! Typed values from cells, exactly: money becomes integer 分 (never a float), ratios become
//! integers at scale 12, and every rejection says what was expected.

use huiqi_ir::Date;

use crate::error::{reason, Reason};
use crate::mapping::{BoolWords, Unit};
use crate::source::Cell;

/// Decimal places of ratios in snapshots (Decimal128(38, 12)).
pub const RATIO_SCALE: u32 = 12;

/// Money is kept below this many 分 (10^18 分 = 10^16 元): far above any firm, far below i64.
const MAX_FEN: i128 = 1_000_000_000_000_000_000;

type R<T> = Result<Option<T>, Reason>;

fn kind_of(c: &Cell) -> (&'static str, &'static str) {
    match c {
        Cell::Empty => ("空", "empty"),
        Cell::Text(_) => ("文本", "text"),
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(..) => ("数字", "a number"),
        Cell::Bool(_) => ("逻辑值", "a boolean"),
        Cell::Date(_) => ("日期", "a date"),
        Cell::Other(_) => ("错误值", "an error value"),
    }
}

pub(crate) fn shown(c: &Cell) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Text(t) => {
            let t = t.trim();
            if t.chars().count() > 40 {
                format!("{}…", t.chars().take(40).collect::<String>())
            } else {
                t.to_string()
            }
        }
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => format!("{f}"),
        Cell::Bool(b) => b.to_string(),
        Cell::Date(d) => d.to_string(),
        Cell::Decimal(m, s) => fmt_scaled(*m, *s),
        Cell::Other(o) => o.clone(),
    }
}

pub(crate) fn fmt_scaled(m: i128, s: u32) -> String {
    if s == 0 {
        return m.to_string();
    }
    let p = 10i128.pow(s);
    let sign = if m < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0w$}",
        (m / p).abs(),
        (m % p).abs(),
        w = s as usize
    )
}

/// The first full-width form of an ASCII character (`１`, `．`, `－`, `，`) in a text cell, other
/// than those in `allowed`: a number typed with a Chinese input method.
fn full_width(c: &Cell, allowed: &[char]) -> Option<char> {
    match c {
        Cell::Text(t) => t
            .chars()
            .find(|ch| ('\u{FF01}'..='\u{FF5E}').contains(ch) && !allowed.contains(ch)),
        _ => None,
    }
}

/// The reason for a cell refused because of a full-width character (the hint the credit-code
/// path gives).
fn full_width_reason(what_zh: &str, what_en: &str, c: &Cell, ch: char) -> Reason {
    reason(
        format!(
            "{what_zh} `{}` 含有全角字符 `{ch}`（全角数字或符号？）：请改为半角",
            shown(c)
        ),
        format!(
            "{what_en} `{}` contains the full-width character `{ch}` (a full-width digit or sign?): use half-width (ASCII) characters",
            shown(c)
        ),
    )
}

/// `bad`, unless the cell's trouble is a full-width character.
fn or_full_width(
    what_zh: &str,
    what_en: &str,
    c: &Cell,
    allowed: &[char],
    bad: impl FnOnce() -> Reason,
) -> Reason {
    match full_width(c, allowed) {
        Some(ch) => full_width_reason(what_zh, what_en, c, ch),
        None => bad(),
    }
}

/// Excel stores a date as a day count from 1899-12-30 (a "serial"); a date column exported
/// without a date format shows it as a plain number such as `45000`. The date it stands for,
/// for spreadsheet numbers from 1 and five-digit texts, up to the year 2100.
fn excel_serial(c: &Cell) -> Option<Date> {
    let mut buf = String::new();
    let t = number_text(c, &mut buf)?;
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: i32 = int.parse().ok()?;
    let min = if matches!(c, Cell::Text(_)) {
        10_000
    } else {
        1
    };
    if !(min..=73_415).contains(&n) {
        return None;
    }
    // Excel counts a 29 February 1900 that never was: serials below 61 are one day later.
    let days = if n < 61 { n + 1 } else { n };
    let base = crate::dates::to_days(Date {
        y: 1899,
        m: 12,
        d: 30,
    });
    Some(crate::dates::from_days(base + days))
}

/// The text of a cell that holds a number: a float through its shortest round-trip decimal
/// (what the spreadsheet shows), so no binary rounding error enters.
fn number_text<'a>(c: &'a Cell<'a>, buf: &'a mut String) -> Option<&'a str> {
    match c {
        Cell::Text(t) => Some(t.trim()),
        Cell::Int(i) => {
            *buf = i.to_string();
            Some(buf)
        }
        Cell::Float(f) if f.is_finite() => {
            *buf = format!("{f}");
            Some(buf)
        }
        Cell::Decimal(m, s) => {
            *buf = fmt_scaled(*m, *s);
            Some(buf)
        }
        _ => None,
    }
}

/// A plain decimal `-1,234.56`: (negative, integer digits, fraction digits). Thousands
/// separators must be in groups of three.
fn decimal_parts(s: &str) -> Option<(bool, String, String)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let ok = (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|g| g.len() == 3)
            && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return None;
        }
        groups.concat()
    } else {
        if !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        int.to_string()
    };
    Some((neg, int, frac.to_string()))
}

/// Money in the column's unit → 分. Accepts `1234.56`, `1,234.56`, `-5`, an optional `¥`/`￥`
/// and a trailing unit equal to the column's (`1234.56万元` in a 万元 column).
pub fn money(c: &Cell, unit: Unit) -> R<i64> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let Some(t) = number_text(c, &mut buf) else {
        let (z, e) = kind_of(c);
        return Err(reason(
            format!("应为金额（{}），实为{z} `{}`", unit.name(), shown(c)),
            format!(
                "expected an amount in {}, found {e} `{}`",
                unit.name(),
                shown(c)
            ),
        ));
    };
    let t = t.trim_start_matches(['¥', '￥']);
    let t = strip_unit(t, unit).ok_or_else(|| {
        reason(
            format!(
                "金额 `{t}` 的单位与映射文件不符（此列单位为{}）",
                unit.name()
            ),
            format!(
                "amount `{t}` has a unit other than the mapping's ({})",
                unit.name()
            ),
        )
    })?;
    let bad = || {
        reason(
            format!(
                "金额格式不对：`{}`（应为数字，如 1234.56 或 1,234.56，单位{}）",
                shown(c),
                unit.name()
            ),
            format!(
                "not an amount: `{}` (expected a number such as 1234.56 or 1,234.56, in {})",
                shown(c),
                unit.name()
            ),
        )
    };
    let (neg, int, frac) =
        decimal_parts(t.trim()).ok_or_else(|| or_full_width("金额", "amount", c, &[], bad))?;
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    if int.len() > 20 || frac.len() > 20 {
        return Err(too_big(c));
    }
    // value = int.frac × unit; in 分: (int·10^k + frac) × fen(unit) / 10^k must be whole.
    let k = frac.len() as u32;
    let all = format!("{int}{frac}");
    let digits: i128 = if all.is_empty() {
        0
    } else {
        all.parse().map_err(|_| too_big(c))?
    };
    let scaled = digits.checked_mul(unit.fen()).ok_or_else(|| too_big(c))?;
    let p = 10i128.pow(k);
    if scaled % p != 0 {
        return Err(reason(
            format!(
                "金额 `{}`{} 精确到了分以下；金额最多精确到分（0.01元）",
                shown(c),
                unit.name()
            ),
            format!(
                "amount `{}` {} is more precise than 1 分 (0.01 yuan)",
                shown(c),
                unit.name()
            ),
        ));
    }
    let fen = scaled / p;
    if fen >= MAX_FEN {
        return Err(too_big(c));
    }
    Ok(Some(if neg { -(fen as i64) } else { fen as i64 }))
}

fn too_big(c: &Cell) -> Reason {
    reason(
        format!("金额 `{}` 超出范围", shown(c)),
        format!("amount `{}` is out of range", shown(c)),
    )
}

fn strip_unit(t: &str, unit: Unit) -> Option<&str> {
    let t = t.trim_end();
    let names: &[&str] = match unit {
        Unit::Yuan => &["元"],
        Unit::Wan => &["万元", "万"],
        Unit::Yi => &["亿元", "亿"],
    };
    for n in names {
        if let Some(r) = t.strip_suffix(n) {
            return Some(r);
        }
    }
    if t.ends_with(['元', '万', '亿']) {
        return None;
    }
    Some(t)
}

/// An integer count, `1,234` allowed.
pub fn count(c: &Cell) -> R<i64> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let bad = || {
        let (z, e) = kind_of(c);
        reason(
            format!("应为整数，实为{z} `{}`", shown(c)),
            format!("expected a whole number, found {e} `{}`", shown(c)),
        )
    };
    let t = number_text(c, &mut buf).ok_or_else(bad)?;
    let (neg, int, frac) =
        decimal_parts(t).ok_or_else(|| or_full_width("整数", "number", c, &[], bad))?;
    if !frac.bytes().all(|b| b == b'0') || int.is_empty() {
        return Err(bad());
    }
    let v: i64 = int.parse().map_err(|_| bad())?;
    Ok(Some(if neg { -v } else { v }))
}

/// A plain number, exactly: (mantissa, decimal places), `1,234.5` → (12345, 1). At most 20
/// integer digits and 12 decimal places (a derived `sum` adds these up).
pub fn number(c: &Cell) -> R<(i128, u32)> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let bad = || {
        let (z, e) = kind_of(c);
        reason(
            format!("应为数字（如 1234.56 或 1,234.56），实为{z} `{}`", shown(c)),
            format!(
                "expected a number (such as 1234.56 or 1,234.56), found {e} `{}`",
                shown(c)
            ),
        )
    };
    let t = number_text(c, &mut buf).ok_or_else(bad)?;
    let (neg, int, frac) =
        decimal_parts(t).ok_or_else(|| or_full_width("数字", "number", c, &[], bad))?;
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    if int.len() > 20 || frac.len() > 12 {
        return Err(reason(
            format!("数字 `{}` 超过 20 位整数或 12 位小数", shown(c)),
            format!(
                "number `{}` has more than 20 integer digits or 12 decimal places",
                shown(c)
            ),
        ));
    }
    let digits: i128 = format!("0{int}{frac}").parse().map_err(|_| bad())?;
    Ok(Some((
        if neg { -digits } else { digits },
        frac.len() as u32,
    )))
}

/// A ratio: `3%`, `0.5%` or `0.03`, at most 12 decimal places after conversion.
pub fn ratio(c: &Cell) -> R<i128> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let bad = || {
        let (z, e) = kind_of(c);
        reason(
            format!("应为比例（如 3% 或 0.03），实为{z} `{}`", shown(c)),
            format!(
                "expected a ratio (such as 3% or 0.03), found {e} `{}`",
                shown(c)
            ),
        )
    };
    let t = number_text(c, &mut buf).ok_or_else(bad)?;
    let (t, pct) = match t.strip_suffix(['%', '％']) {
        Some(r) => (r.trim_end(), 2),
        None => (t, 0),
    };
    let (neg, int, frac) =
        decimal_parts(t).ok_or_else(|| or_full_width("比例", "ratio", c, &['％'], bad))?;
    let frac = frac.trim_end_matches('0');
    if frac.len() as u32 + pct > RATIO_SCALE || int.len() > 20 {
        return Err(reason(
            format!("比例 `{}` 的小数位超过{RATIO_SCALE}位", shown(c)),
            format!(
                "ratio `{}` has more than {RATIO_SCALE} decimal places",
                shown(c)
            ),
        ));
    }
    let digits: i128 = format!("0{int}{frac}").parse().map_err(|_| bad())?;
    let v = digits * 10i128.pow(RATIO_SCALE - pct - frac.len() as u32);
    Ok(Some(if neg { -v } else { v }))
}

/// Yes/no in the source's spelling (ASCII case ignored); spreadsheet booleans as they are.
pub fn boolean(c: &Cell, words: &BoolWords) -> R<bool> {
    if c.is_empty() {
        return Ok(None);
    }
    if let Cell::Bool(b) = c {
        return Ok(Some(*b));
    }
    let mut buf = String::new();
    if let Some(t) = number_text(c, &mut buf) {
        if t.eq_ignore_ascii_case(&words.yes) {
            return Ok(Some(true));
        }
        if t.eq_ignore_ascii_case(&words.no) {
            return Ok(Some(false));
        }
    }
    Err(reason(
        format!(
            "应为 `{}` 或 `{}`，实为 `{}`",
            words.yes,
            words.no,
            shown(c)
        ),
        format!(
            "expected `{}` or `{}`, found `{}`",
            words.yes,
            words.no,
            shown(c)
        ),
    ))
}

/// A date: a spreadsheet date cell, or text such as `2023-03-01`, `2023/3/1`, `2023年3月1日`.
pub fn date(c: &Cell) -> R<Date> {
    if c.is_empty() {
        return Ok(None);
    }
    let mut buf = String::new();
    let d = match c {
        Cell::Date(d) => Some(*d),
        Cell::Text(_) | Cell::Int(_) => number_text(c, &mut buf).and_then(crate::dates::parse_date),
        _ => None,
    };
    match d {
        Some(d) if (1900..=2100).contains(&d.y) => Ok(Some(d)),
        Some(d) => Err(reason(
            format!("日期 `{d}` 的年份不在 1900–2100 之间"),
            format!("date `{d}` is not between the years 1900 and 2100"),
        )),
        None => Err(not_a_date(c)),
    }
}

/// Why a cell is not a date: a full-width character, an Excel date serial, or the format.
fn not_a_date(c: &Cell) -> Reason {
    if let Some(ch) = full_width(c, &[]) {
        return full_width_reason("日期", "date", c, ch);
    }
    if let Some(d) = excel_serial(c) {
        return reason(
            format!(
                "日期 `{}` 像是 Excel 的日期序列号（即 {d}）：请在 Excel 中把该列设为日期格式（或文本格式）后重新导出",
                shown(c)
            ),
            format!(
                "date `{}` looks like an Excel date serial (that is {d}): format the column as a date (or as text) in Excel and export again",
                shown(c)
            ),
        );
    }
    reason(
        format!(
            "日期格式不对：`{}`（应为 2023-03-01、2023/3/1 或 2023年3月1日）",
            shown(c)
        ),
        format!(
            "not a date: `{}` (expected 2023-03-01, 2023/3/1 or 2023年3月1日)",
            shown(c)
        ),
    )
}

/// An enum variant by its exact name.
pub fn variant(c: &Cell, enum_name: &str, variants: &[String]) -> R<u32> {
    if c.is_empty() {
        return Ok(None);
    }
    if let Cell::Text(t) = c {
        if let Some(i) = variants.iter().position(|v| v == t.trim()) {
            return Ok(Some(i as u32));
        }
    }
    Err(reason(
        format!(
            "`{}` 不是{enum_name}的取值；可用取值：{}",
            shown(c),
            variants.join("、")
        ),
        format!(
            "`{}` is not a value of {enum_name}; the values are: {}",
            shown(c),
            variants.join(", ")
        ),
    ))
}

/// A year `2023` or `2023年`, 1900–2100; required.
pub fn year(c: &Cell) -> Result<i32, Reason> {
    let mut buf = String::new();
    let t = number_text(c, &mut buf).map(|t| t.trim_end_matches('年').trim());
    match t.and_then(|t| t.parse::<i32>().ok()) {
        Some(y) if (1900..=2100).contains(&y) => Ok(y),
        _ if c.is_empty() => Err(reason("年度为空", "the year is empty")),
        _ => Err(or_full_width("年度", "year", c, &[], || {
            reason(
                format!(
                    "年度 `{}` 不对（应为 1900–2100 之间的四位年份，如 2023）",
                    shown(c)
                ),
                format!(
                    "bad year `{}` (expected a four-digit year 1900–2100, e.g. 2023)",
                    shown(c)
                ),
            )
        })),
    }
}

/// A month `3`, `03` or `3月`; required.
pub fn month(c: &Cell) -> Result<u32, Reason> {
    let mut buf = String::new();
    let t = number_text(c, &mut buf).map(|t| t.trim_end_matches('月').trim());
    match t.and_then(|t| t.parse::<u32>().ok()) {
        Some(m) if (1..=12).contains(&m) => Ok(m),
        _ if c.is_empty() => Err(reason("月份为空", "the month is empty")),
        _ => Err(or_full_width("月份", "month", c, &[], || {
            reason(
                format!("月份 `{}` 不对（应为 1–12）", shown(c)),
                format!("bad month `{}` (expected 1–12)", shown(c)),
            )
        })),
    }
}

/// A checked 统一社会信用代码; required.
pub fn uscc(c: &Cell) -> Result<[u8; 18], Reason> {
    let t = match c {
        Cell::Text(t) => t.trim(),
        Cell::Empty => {
            return Err(reason(
                "统一社会信用代码为空",
                "the unified social credit code is empty",
            ))
        }
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(..) => {
            return Err(reason(
                format!("统一社会信用代码被存成了数字 `{}`（长数字会丢失精度）：请把该列设为文本格式", shown(c)),
                format!("the credit code is stored as a number `{}` (long numbers lose digits): format the column as text", shown(c)),
            ))
        }
        _ => {
            let (z, e) = kind_of(c);
            return Err(reason(
                format!("应为统一社会信用代码，实为{z}"),
                format!("expected a unified social credit code, found {e}"),
            ));
        }
    };
    if t.contains(['E', 'e'])
        && t.contains('+')
        && t.replace(['E', 'e', '+', '.'], "")
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Err(reason(
            format!("统一社会信用代码 `{t}` 被电子表格改成了科学计数法：请把该列设为文本格式后重新导出"),
            format!("credit code `{t}` was turned into scientific notation by a spreadsheet: format the column as text and export again"),
        ));
    }
    // uscc::validate slices bytes; full-width characters must be caught before it.
    if let Some(ch) = t.chars().find(|c| !c.is_ascii()) {
        return Err(reason(
            format!("统一社会信用代码 `{t}` 含有非 ASCII 字符 `{ch}`（全角字符？）"),
            format!("credit code `{t}` contains the non-ASCII character `{ch}` (full-width?)"),
        ));
    }
    huiqi_ir::uscc::validate(t)
        .map_err(|e| reason(format!("`{t}`：{}", e.zh()), format!("`{t}`: {}", e.en())))?;
    let mut out = [0u8; 18];
    out.copy_from_slice(t.as_bytes());
    Ok(out)
}

/// Free text (names, tranches); None when empty.
pub fn text<'a>(c: &'a Cell<'a>, buf: &'a mut String) -> Result<Option<&'a str>, Reason> {
    match c {
        Cell::Empty => Ok(None),
        Cell::Text(t) if t.trim().is_empty() => Ok(None),
        Cell::Text(t) => Ok(Some(t.trim())),
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(..) => Ok(number_text(c, buf)),
        _ => {
            let (z, e) = kind_of(c);
            Err(reason(
                format!("应为文本，实为{z}"),
                format!("expected text, found {e}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::Text(s)
    }

    #[test]
    fn money_is_exact_in_fen() {
        assert_eq!(money(&t("1,234.56"), Unit::Yuan), Ok(Some(123456)));
        assert_eq!(money(&t("1234.567891"), Unit::Wan), Ok(Some(1_234_567_891)));
        assert_eq!(money(&t("1.5"), Unit::Yi), Ok(Some(15_000_000_000)));
        assert_eq!(money(&t("-0.01"), Unit::Yuan), Ok(Some(-1)));
        assert_eq!(money(&t("120万"), Unit::Wan), Ok(Some(120_000_000)));
        assert_eq!(money(&t("  "), Unit::Yuan), Ok(None));
        assert_eq!(money(&Cell::Float(0.1), Unit::Wan), Ok(Some(100_000)));
        assert_eq!(money(&Cell::Float(1234.56), Unit::Yuan), Ok(Some(123456)));
        assert_eq!(money(&Cell::Int(3), Unit::Wan), Ok(Some(3_000_000)));
        assert_eq!(
            money(&Cell::Decimal(123456, 2), Unit::Yuan),
            Ok(Some(123456))
        );
        assert!(money(&t("1.234"), Unit::Yuan).is_err());
        assert!(money(&t("1.2345678"), Unit::Wan).is_err());
        assert!(money(&t("12,34.5"), Unit::Yuan).is_err());
        assert!(money(&t("abc"), Unit::Yuan).is_err());
        assert!(money(&t("1.2.3"), Unit::Yuan).is_err());
        assert!(money(&t("5元"), Unit::Wan).is_err());
        assert!(money(&Cell::Float(0.123), Unit::Yuan).is_err());
        assert!(money(&t("99999999999999999999999"), Unit::Yuan).is_err());
    }

    #[test]
    fn other_types() {
        assert_eq!(ratio(&t("3%")), Ok(Some(30_000_000_000)));
        assert_eq!(ratio(&t("0.03")), Ok(Some(30_000_000_000)));
        assert!(ratio(&t("0.0000000000001")).is_err());
        assert_eq!(count(&t("1,200")), Ok(Some(1200)));
        assert!(count(&t("1.5")).is_err());
        assert_eq!(count(&Cell::Float(3.0)), Ok(Some(3)));
        let w = BoolWords::default();
        assert_eq!(boolean(&t("是"), &w), Ok(Some(true)));
        assert!(boolean(&t("yes"), &w).is_err());
        let w = BoolWords::parse("1/0").unwrap();
        assert_eq!(boolean(&Cell::Int(0), &w), Ok(Some(false)));
        assert_eq!(year(&t("2023年")), Ok(2023));
        assert_eq!(year(&Cell::Float(2023.0)), Ok(2023));
        assert!(year(&t("23")).is_err());
        assert_eq!(month(&t("3月")), Ok(3));
        assert!(month(&t("13")).is_err());
        assert!(uscc(&t("91330200MA2H4A3X26")).is_ok());
        assert!(uscc(&t("91330200MA2H4A3X27")).is_err());
        assert!(uscc(&t("９1330200MA2H4A3X26")).is_err());
        assert!(uscc(&Cell::Float(9.1e17)).is_err());
        assert!(uscc(&t("9.13302E+17"))
            .unwrap_err()
            .zh
            .contains("科学计数法"));
    }
}
