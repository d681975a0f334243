//! How the pages write money and dates: from exact integer 分 and the ledger's RFC 3339 UTC
//! times, never through floating point.
//!
//! * Money: `1,234,567.89元` exactly; large amounts also as `123.46万元` / `1.23亿元`
//!   (rounded half away from zero to two decimals, in integers). English: `¥1,234,567.89`,
//!   `¥1.23 million`, `¥1.23 billion`.
//! * Dates: `2024年3月1日` / `1 Mar 2024`, in China Standard Time (UTC+8), never ISO.

use chrono::{DateTime, Datelike, FixedOffset, Utc};

use super::i18n::Lang;

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The exact amount: `12,345.67元` (zh) or `¥12,345.67` (en).
pub fn yuan(fen: i64, lang: Lang) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    let body = format!("{}.{:02}", grouped(a / 100), a % 100);
    match lang {
        Lang::Zh => format!("{sign}{body}元"),
        Lang::En => format!("{sign}¥{body}"),
    }
}

/// `a / unit` rounded half away from zero to two decimals, as `int.dd` (integers only).
fn scaled(a: u64, unit: u64) -> String {
    // Hundredths of the unit, rounded half up.
    let h = (u128::from(a) * 100 + u128::from(unit) / 2) / u128::from(unit);
    format!("{}.{:02}", grouped((h / 100) as u64), h % 100)
}

/// A short form for headlines: below 1万元 the exact amount; then 万元 (zh) / million (en);
/// from 1亿元 亿元 / billion. Rounded to two decimals — the exact amount goes beside it.
pub fn short(fen: i64, lang: Lang) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    const WAN: u64 = 10_000 * 100;
    const YI: u64 = 100_000_000 * 100;
    const MILLION: u64 = 1_000_000 * 100;
    const BILLION: u64 = 1_000_000_000 * 100;
    match lang {
        Lang::Zh if a >= YI => format!("{sign}{}亿元", scaled(a, YI)),
        Lang::Zh if a >= WAN => format!("{sign}{}万元", scaled(a, WAN)),
        Lang::En if a >= BILLION => format!("{sign}¥{} billion", scaled(a, BILLION)),
        Lang::En if a >= MILLION => format!("{sign}¥{} million", scaled(a, MILLION)),
        _ => yuan(fen, lang),
    }
}

/// Whether `short` differs from the exact amount (then both are shown).
pub fn is_large(fen: i64, lang: Lang) -> bool {
    short(fen, lang) != yuan(fen, lang)
}

fn cst() -> FixedOffset {
    // PANIC SAFETY: 8 hours is a valid offset.
    #[allow(clippy::unwrap_used)]
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// The ledger's time (`2024-03-01T02:00:00Z`, RFC 3339) in China Standard Time.
pub fn parse(at: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&cst()))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2024年3月1日` / `1 Mar 2024`; an unreadable time is shown as it is.
pub fn date(at: &str, lang: Lang) -> String {
    match parse(at) {
        Some(t) => date_of(t, lang),
        None => at.to_string(),
    }
}

fn date_of(t: DateTime<FixedOffset>, lang: Lang) -> String {
    let (y, m, d) = (t.year(), t.month(), t.day());
    match lang {
        Lang::Zh => format!("{y}年{m}月{d}日"),
        Lang::En => format!("{d} {} {y}", MONTHS[(m as usize + 11) % 12]),
    }
}

/// Date and time to the minute: `2024年3月1日 10:00` / `1 Mar 2024 10:00` (UTC+8).
pub fn datetime(at: &str, lang: Lang) -> String {
    match parse(at) {
        Some(t) => format!("{} {}", date_of(t, lang), t.format("%H:%M")),
        None => at.to_string(),
    }
}

/// Whole days from `a` to `b` (calendar days in UTC+8), when both read.
pub fn days_between(a: &str, b: &str) -> Option<i64> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some((b.date_naive() - a.date_naive()).num_days())
}

/// Whole days from `a` to now.
pub fn days_since(a: &str) -> Option<i64> {
    let a = parse(a)?;
    let now = Utc::now().with_timezone(&cst());
    Some((now.date_naive() - a.date_naive()).num_days())
}

/// Days and hours left until `at` (none when past).
pub fn left_until(at: &str) -> Option<(i64, i64)> {
    let t = parse(at)?;
    let secs = (t.with_timezone(&Utc) - Utc::now()).num_seconds();
    (secs > 0).then_some((secs / 86_400, (secs % 86_400) / 3_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_from_fen() {
        assert_eq!(yuan(123_456_789, Lang::Zh), "1,234,567.89元");
        assert_eq!(yuan(5, Lang::Zh), "0.05元");
        assert_eq!(yuan(-100, Lang::En), "-¥1.00");
        assert_eq!(short(999_999, Lang::Zh), "9,999.99元");
        assert_eq!(short(1_000_000, Lang::Zh), "1.00万元");
        assert_eq!(short(123_456_789, Lang::Zh), "123.46万元");
        assert_eq!(short(7_650_000_000, Lang::Zh), "7,650.00万元");
        // Half up, in integers: 1.125万元 → 1.13万元.
        assert_eq!(short(1_125_000, Lang::Zh), "1.13万元");
        assert_eq!(short(32_000_000_000, Lang::Zh), "3.20亿元");
        assert_eq!(short(150_000_000, Lang::En), "¥1.50 million");
        assert_eq!(short(i64::MAX, Lang::Zh), "922,337,203.69亿元");
        assert!(is_large(1_000_000, Lang::Zh) && !is_large(999_999, Lang::Zh));
    }

    #[test]
    fn dates_are_chinese_or_english_in_utc_plus_8() {
        assert_eq!(date("2024-03-01T02:00:00Z", Lang::Zh), "2024年3月1日");
        assert_eq!(date("2024-03-01T02:00:00Z", Lang::En), "1 Mar 2024");
        // 20:00 UTC is the next morning in Beijing.
        assert_eq!(date("2024-02-29T20:00:00Z", Lang::Zh), "2024年3月1日");
        assert_eq!(
            datetime("2024-12-31T16:30:00Z", Lang::En),
            "1 Jan 2025 00:30"
        );
        assert_eq!(
            days_between("2024-03-01T02:00:00Z", "2024-03-08T01:00:00Z"),
            Some(7)
        );
        assert_eq!(date("not a time", Lang::Zh), "not a time");
    }
}
