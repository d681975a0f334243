//! Working days (工作日) in mainland China: Monday to Friday, less the public holidays, plus the
//! weekend days declared working days in exchange (调休). Deadlines in 惠企 rules — "60个工作日内
//! 兑现" — and the leader's figures count these, not calendar days.
//!
//! The holidays and exchanged days are those of the State Council's yearly notices
//! (国务院办公厅关于 20XX 年部分节假日安排的通知) for 2020–2026. Outside those years only
//! weekends are known; [`covered`] says whether a year is.
//!
//! Times in the ledger are RFC 3339 UTC; a day is a day in China Standard Time (UTC+8, no
//! daylight saving), where the people whose deadlines these are work.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Weekday};

/// Public holidays, as inclusive ranges of the notices (weekend days inside them included).
const HOLIDAYS: &[(&str, &str)] = &[
    // 2020 (the Spring Festival extended to 2 February)
    ("2020-01-01", "2020-01-01"),
    ("2020-01-24", "2020-02-02"),
    ("2020-04-04", "2020-04-06"),
    ("2020-05-01", "2020-05-05"),
    ("2020-06-25", "2020-06-27"),
    ("2020-10-01", "2020-10-08"),
    // 2021
    ("2021-01-01", "2021-01-03"),
    ("2021-02-11", "2021-02-17"),
    ("2021-04-03", "2021-04-05"),
    ("2021-05-01", "2021-05-05"),
    ("2021-06-12", "2021-06-14"),
    ("2021-09-19", "2021-09-21"),
    ("2021-10-01", "2021-10-07"),
    // 2022
    ("2022-01-01", "2022-01-03"),
    ("2022-01-31", "2022-02-06"),
    ("2022-04-03", "2022-04-05"),
    ("2022-04-30", "2022-05-04"),
    ("2022-06-03", "2022-06-05"),
    ("2022-09-10", "2022-09-12"),
    ("2022-10-01", "2022-10-07"),
    // 2023
    ("2022-12-31", "2023-01-02"),
    ("2023-01-21", "2023-01-27"),
    ("2023-04-05", "2023-04-05"),
    ("2023-04-29", "2023-05-03"),
    ("2023-06-22", "2023-06-24"),
    ("2023-09-29", "2023-10-06"),
    // 2024
    ("2024-01-01", "2024-01-01"),
    ("2024-02-10", "2024-02-17"),
    ("2024-04-04", "2024-04-06"),
    ("2024-05-01", "2024-05-05"),
    ("2024-06-10", "2024-06-10"),
    ("2024-09-15", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
    // 2025
    ("2025-01-01", "2025-01-01"),
    ("2025-01-28", "2025-02-04"),
    ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"),
    ("2025-05-31", "2025-06-02"),
    ("2025-10-01", "2025-10-08"),
    // 2026
    ("2026-01-01", "2026-01-03"),
    ("2026-02-15", "2026-02-23"),
    ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"),
    ("2026-06-19", "2026-06-21"),
    ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
];

/// Weekend days worked in exchange for a holiday (调休上班).
const EXCHANGED: &[&str] = &[
    "2020-01-19",
    "2020-04-26",
    "2020-05-09",
    "2020-06-28",
    "2020-09-27",
    "2020-10-10",
    "2021-02-07",
    "2021-02-20",
    "2021-04-25",
    "2021-05-08",
    "2021-09-18",
    "2021-09-26",
    "2021-10-09",
    "2022-01-29",
    "2022-01-30",
    "2022-04-02",
    "2022-04-24",
    "2022-05-07",
    "2022-10-08",
    "2022-10-09",
    "2023-01-28",
    "2023-01-29",
    "2023-04-23",
    "2023-05-06",
    "2023-06-25",
    "2023-10-07",
    "2023-10-08",
    "2024-02-04",
    "2024-02-18",
    "2024-04-07",
    "2024-04-28",
    "2024-05-11",
    "2024-09-14",
    "2024-09-29",
    "2024-10-12",
    "2025-01-26",
    "2025-02-08",
    "2025-04-27",
    "2025-09-28",
    "2025-10-11",
    "2026-01-04",
    "2026-02-14",
    "2026-02-28",
    "2026-05-09",
    "2026-09-20",
    "2026-10-10",
];

fn day(s: &str) -> NaiveDate {
    // The tables above are literals checked by a test; a bad one would be a build defect.
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
}

/// The tables as sorted days: holidays falling Monday to Friday, and exchanged weekend days.
struct Tables {
    weekday_holidays: Vec<NaiveDate>,
    exchanged: Vec<NaiveDate>,
}

fn weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn tables() -> &'static Tables {
    static T: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut weekday_holidays = vec![];
        for (a, b) in HOLIDAYS {
            let (mut d, b) = (day(a), day(b));
            while d <= b {
                if !weekend(d) {
                    weekday_holidays.push(d);
                }
                d += Duration::days(1);
            }
        }
        weekday_holidays.sort_unstable();
        let mut exchanged: Vec<NaiveDate> = EXCHANGED.iter().map(|s| day(s)).collect();
        exchanged.sort_unstable();
        Tables {
            weekday_holidays,
            exchanged,
        }
    })
}

/// Whether the years' holidays are known (else weekends only).
pub fn covered(year: i32) -> bool {
    (2020..=2026).contains(&year)
}

/// Whether `d` is a working day.
pub fn is_working_day(d: NaiveDate) -> bool {
    let t = tables();
    if weekend(d) {
        t.exchanged.binary_search(&d).is_ok()
    } else {
        t.weekday_holidays.binary_search(&d).is_err()
    }
}

/// Working days from a fixed Monday up to and including `d`: differences of two are the
/// working days between them, in constant time (a dashboard takes it for every paid line).
fn ordinal(d: NaiveDate) -> i64 {
    // 1970-01-05 was a Monday.
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 5).unwrap_or(NaiveDate::MIN);
    let n = (d - epoch).num_days() + 1;
    let weekdays = n.div_euclid(7) * 5 + n.rem_euclid(7).min(5);
    let t = tables();
    let off = t.weekday_holidays.partition_point(|x| *x <= d) as i64;
    let on = t.exchanged.partition_point(|x| *x <= d) as i64;
    weekdays - off + on
}

/// Working days after `from` up to and including `to` (0 when `to` is not after `from`).
pub fn working_days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (ordinal(to) - ordinal(from)).max(0)
}

fn cst() -> FixedOffset {
    // PANIC SAFETY: 8 hours is a valid offset.
    #[allow(clippy::expect_used)]
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// The day in China of an RFC 3339 time.
pub fn china_day(t: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|x| x.with_timezone(&cst()).date_naive())
}

/// Working days between two RFC 3339 times, by their days in China.
pub fn working_days(from: &str, to: &str) -> Option<i64> {
    Some(working_days_between(china_day(from)?, china_day(to)?))
}

/// The RFC 3339 UTC cut-off before which something has waited more than `n` working days at
/// `now`: the start (in China) of the earliest day from which at most `n` working days have
/// passed.
pub fn overdue_cutoff(now: &str, n: i64) -> Option<String> {
    let today = china_day(now)?;
    let mut d = today;
    // Step back while a thing dated the day before would still be within n working days.
    while working_days_between(d - Duration::days(1), today) <= n {
        d -= Duration::days(1);
    }
    let start = d.and_hms_opt(0, 0, 0)?.and_local_timezone(cst()).single()?;
    Some(
        start
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_tables_parse_and_exchanged_days_are_weekends() {
        for (a, b) in HOLIDAYS {
            assert!(day(a) != NaiveDate::MIN && day(b) >= day(a), "{a}..{b}");
        }
        for s in EXCHANGED {
            assert!(
                matches!(day(s).weekday(), Weekday::Sat | Weekday::Sun),
                "{s} is not a weekend day"
            );
        }
    }

    #[test]
    fn the_ordinal_counts_day_by_day() {
        let mut n = 0;
        let mut x = d("2019-12-25");
        while x < d("2027-01-10") {
            x += Duration::days(1);
            if is_working_day(x) {
                n += 1;
            }
            assert_eq!(working_days_between(d("2019-12-25"), x), n, "{x}");
        }
        // 2024: 262 weekdays; 19 of them holidays (元旦 1, 春节 5, 清明 2, 劳动 3, 端午 1, 中秋 2,
        // 国庆 5); 8 weekend days worked in exchange: 251, the year's published count.
        let y2024 = working_days_between(d("2023-12-31"), d("2024-12-31"));
        assert_eq!(y2024, 251);
    }

    #[test]
    fn holidays_and_exchanged_days() {
        assert!(!is_working_day(d("2024-10-01")), "国庆");
        assert!(
            is_working_day(d("2024-10-12")),
            "Saturday worked in exchange"
        );
        assert!(!is_working_day(d("2024-10-13")), "Sunday");
        assert!(is_working_day(d("2024-10-08")), "Tuesday after the holiday");
        // 2024-09-30 (Mon) to 2024-10-14 (Mon): 10-08..10-11 (4), 10-12 (Sat, worked), 10-14.
        assert_eq!(working_days_between(d("2024-09-30"), d("2024-10-14")), 6);
        assert_eq!(working_days_between(d("2024-10-14"), d("2024-09-30")), 0);
        // A plain week outside any holiday: five.
        assert_eq!(working_days_between(d("2024-03-03"), d("2024-03-10")), 5);
    }

    #[test]
    fn days_are_days_in_china() {
        // 17:00 UTC on Friday is 01:00 on Saturday in Beijing.
        assert_eq!(china_day("2024-03-01T17:00:00Z"), Some(d("2024-03-02")));
        assert_eq!(
            working_days("2024-03-01T01:00:00Z", "2024-03-04T01:00:00Z"),
            Some(1)
        );
        assert_eq!(working_days("bad", "2024-03-04T01:00:00Z"), None);
    }

    #[test]
    fn the_cutoff_leaves_exactly_n_working_days() {
        let now = "2024-10-14T02:00:00Z"; // Monday in Beijing
        for n in [1, 5, 6, 60] {
            let cut = overdue_cutoff(now, n).unwrap();
            let first_in = china_day(&cut).unwrap();
            // A thing stamped at the cut-off has waited at most n working days; one stamped a
            // day earlier, more.
            assert!(working_days_between(first_in, d("2024-10-14")) <= n, "{n}");
            assert!(
                working_days_between(first_in - Duration::days(1), d("2024-10-14")) > n,
                "{n}"
            );
        }
        // Six working days back from Monday 10-14 lands across the National Day holiday.
        assert_eq!(
            overdue_cutoff(now, 6).unwrap(),
            "2024-09-29T16:00:00Z",
            "from 2024-09-30 in Beijing"
        );
    }
}
