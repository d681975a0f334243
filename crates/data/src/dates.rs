//! Calendar arithmetic (days since 1970-01-01 for Parquet `Date32`) and the date spellings zone
//! exports use.

use huiqi_ir::Date;

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
pub fn to_days(d: Date) -> i32 {
    let y = if d.m <= 2 { d.y - 1 } else { d.y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = d.m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d.d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146097 + doe - 719468) as i32
}

/// Inverse of [`to_days`].
pub fn from_days(n: i32) -> Date {
    let z = n as i64 + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + if m <= 2 { 1 } else { 0 }) as i32;
    Date { y, m, d }
}

/// `d` plus `years` years minus one day: the last day of a validity that starts on `d`
/// (29 Feb rolls to 28 Feb).
pub fn validity_end(d: Date, years: i32) -> Date {
    let y = d.y + years;
    let day = d.d.min(huiqi_ir::date::days_in_month(y, d.m));
    from_days(to_days(Date { y, m: d.m, d: day }) - 1)
}

/// `2023-03-01`, `2023/3/1`, `2023.3.1`, `20230301`, `2023年3月1日`; a time after the date
/// (`2023-03-01 00:00:00`, as spreadsheets export) is ignored.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let s = match s.find([' ', 'T']) {
        Some(i) if i >= 8 => &s[..i],
        _ => s,
    };
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Date::new(
            s[0..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..8].parse().ok()?,
        );
    }
    let s = s.strip_suffix('日').unwrap_or(s);
    let parts: Vec<&str> = s.split(['-', '/', '.', '年', '月']).collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || !(1..=2).contains(&parts[1].len())
        || !(1..=2).contains(&parts[2].len())
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Date::new(
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(
            to_days(Date {
                y: 1970,
                m: 1,
                d: 1
            }),
            0
        );
        assert_eq!(
            to_days(Date {
                y: 2000,
                m: 3,
                d: 1
            }),
            11017
        );
        for n in [-1000, -1, 0, 1, 10957, 19000, 20000, 2_000_000] {
            assert_eq!(to_days(from_days(n)), n);
        }
    }

    #[test]
    fn spellings() {
        let d = Date::new(2023, 3, 1);
        for s in [
            "2023-03-01",
            "2023/3/1",
            "2023.03.01",
            "20230301",
            "2023年3月1日",
            "2023-03-01 00:00:00",
        ] {
            assert_eq!(parse_date(s), d, "{s}");
        }
        for s in ["2023-02-30", "23-3-1", "2023-3", "2023-03-01x", "abc", ""] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(
            validity_end(Date::new(2021, 11, 20).unwrap(), 3),
            Date::new(2024, 11, 19).unwrap()
        );
    }
}
