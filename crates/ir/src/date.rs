//! A calendar date without time zone; enough for effective windows, events and certificates.

use std::fmt;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Date {
    pub y: i32,
    pub m: u32,
    pub d: u32,
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A valid date, or None (month 13, 2023-02-29 …).
    pub fn new(y: i32, m: u32, d: u32) -> Option<Date> {
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date { y, m, d })
    }
    pub fn year_start(y: i32) -> Date {
        Date { y, m: 1, d: 1 }
    }
    pub fn year_end(y: i32) -> Date {
        Date { y, m: 12, d: 31 }
    }
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = s[0..4].parse().ok()?;
        let m = s[5..7].parse().ok()?;
        let d = s[8..10].parse().ok()?;
        Date::new(y, m, d)
    }
}

impl Date {
    /// Days since 1970-01-01 (Arrow's Date32).
    pub fn days(self) -> i64 {
        let (y, m, d) = (self.y as i64, self.m as i64, self.d as i64);
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }

    /// The date `n` days after 1970-01-01; None outside years 1..=9999.
    pub fn from_days(n: i64) -> Option<Date> {
        let z = n + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        Date::new(i32::try_from(y).ok()?, m, d)
    }

    /// `months` calendar months later (a day past the month's end becomes its last day:
    /// 2024-01-31 + 1个月 = 2024-02-29, 2024-02-29 + 1年 = 2025-02-28), then `days` days
    /// later; None outside years 1..=9999.
    pub fn shifted(self, months: i64, days: i64) -> Option<Date> {
        let total = self.y as i64 * 12 + (self.m as i64 - 1) + months;
        let y = i32::try_from(total.div_euclid(12)).ok()?;
        let m = (total.rem_euclid(12) + 1) as u32;
        if !(1..=9999).contains(&y) {
            return None;
        }
        let d = self.d.min(days_in_month(y, m));
        Date::from_days(Date { y, m, d }.days().checked_add(days)?)
    }

    /// Whole months from `self` to `to`: the most m with `self + m个月 ≤ to` (negative when
    /// `to` is earlier: minus the months from `to` to `self`).
    pub fn months_until(self, to: Date) -> i64 {
        if to < self {
            return -to.months_until(self);
        }
        let mut m = (to.y as i64 - self.y as i64) * 12 + (to.m as i64 - self.m as i64);
        while m > 0 && self.shifted(m, 0).is_none_or(|d| d > to) {
            m -= 1;
        }
        m
    }
}

/// How long a record of an event fact is valid when it gives no end (`valid 3年` on the fact):
/// from its date up to the day before its date shifted by the duration; or for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Forever,
    For { months: i64, days: i64 },
}

impl Validity {
    /// The last day a record dated `date` without an end is valid (None: no end).
    pub fn until(self, date: Date) -> Option<Date> {
        match self {
            Validity::Forever => None,
            Validity::For { months, days } => date.shifted(months, days - 1),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_and_validates() {
        assert_eq!(
            Date::parse("2024-02-29"),
            Some(Date {
                y: 2024,
                m: 2,
                d: 29
            })
        );
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(Date::parse("2022-13-01"), None);
        assert_eq!(Date::parse("2022-1-01"), None);
        assert!(Date::year_end(2022) < Date::year_start(2023));
    }
}

#[cfg(test)]
mod arithmetic {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn days_round_trip_and_match_a_day_by_day_count() {
        let mut n = Date::year_start(1900).days();
        for y in 1900..=2100 {
            for m in 1..=12 {
                for dd in 1..=days_in_month(y, m) {
                    let date = Date { y, m, d: dd };
                    assert_eq!(date.days(), n, "{date}");
                    assert_eq!(Date::from_days(n), Some(date));
                    n += 1;
                }
            }
        }
        assert_eq!(d("1970-01-01").days(), 0);
    }

    #[test]
    fn shifting_clamps_to_the_end_of_the_month() {
        assert_eq!(d("2024-01-31").shifted(1, 0), Some(d("2024-02-29")));
        assert_eq!(d("2023-01-31").shifted(1, 0), Some(d("2023-02-28")));
        assert_eq!(d("2024-02-29").shifted(12, 0), Some(d("2025-02-28")));
        assert_eq!(d("2024-02-29").shifted(48, 0), Some(d("2028-02-29")));
        assert_eq!(d("2024-03-31").shifted(-1, 0), Some(d("2024-02-29")));
        assert_eq!(d("2023-12-31").shifted(0, 1), Some(d("2024-01-01")));
        assert_eq!(d("2021-11-20").shifted(36, -1), Some(d("2024-11-19")));
        assert_eq!(d("9999-12-01").shifted(1, 0), None);
        assert_eq!(d("0001-01-01").shifted(0, -1), None);
    }

    #[test]
    fn whole_months_between_two_dates() {
        assert_eq!(d("2024-01-31").months_until(d("2024-02-29")), 1);
        assert_eq!(d("2024-01-31").months_until(d("2024-02-28")), 0);
        assert_eq!(d("2023-03-15").months_until(d("2024-03-14")), 11);
        assert_eq!(d("2023-03-15").months_until(d("2024-03-15")), 12);
        assert_eq!(d("2024-03-15").months_until(d("2023-03-15")), -12);
        assert_eq!(d("2024-03-15").months_until(d("2024-03-15")), 0);
    }

    #[test]
    fn a_declared_validity_ends_the_day_before_the_anniversary() {
        let v = Validity::For {
            months: 36,
            days: 0,
        };
        assert_eq!(v.until(d("2021-11-20")), Some(d("2024-11-19")));
        assert_eq!(
            Validity::For {
                months: 0,
                days: 90
            }
            .until(d("2024-01-01")),
            Some(d("2024-03-30"))
        );
        assert_eq!(Validity::Forever.until(d("2024-01-01")), None);
    }
}
