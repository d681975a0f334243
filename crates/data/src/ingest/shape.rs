//! A section's rows as its mapping shapes them before they are read: rows left out by `where` /
//! `where_not`, derived columns computed, value maps applied. A section without these keys is
//! scanned exactly as before (no copy of any cell).

use crate::error::{reason, Errors, Reason};
use crate::mapping::{DeriveOp, FileRef, Shape};
use crate::parse;
use crate::source::{self, Cell, RowFn, Spec};

use super::read::err;

/// What a source's mapping passed over, per source: the manifest's `filtered`, `unknown` and
/// `duplicates`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stat {
    pub(super) filtered: u64,
    pub(super) unknown: u64,
    pub(super) duplicates: u64,
}

/// One source the ingest read: the file, its data rows and what its mapping passed over.
pub(super) struct Source {
    pub(super) file: FileRef,
    pub(super) rows: u64,
    pub(super) stat: Stat,
}

/// The text a filter or a value map compares: a text cell trimmed, a number as the spreadsheet
/// shows it, a date as `2023-03-01`, an empty cell as "".
pub(super) fn cell_text(c: &Cell) -> String {
    text_in(c, &mut String::new()).to_string()
}

/// [`cell_text`] without a copy of a text cell (`buf` holds the text of other cells).
fn text_in<'a>(c: &'a Cell<'a>, buf: &'a mut String) -> &'a str {
    match c {
        Cell::Date(_) | Cell::Bool(_) | Cell::Other(_) => {
            *buf = parse::shown(c);
            buf
        }
        _ => parse::text(c, buf).ok().flatten().unwrap_or(""),
    }
}

/// A reason about a name the pack does not know, in a column with a value map: the map did not
/// have the code either.
pub(super) fn unmapped(r: Reason, shape: &Shape, column: &str) -> Reason {
    if !shape.maps(column) {
        return r;
    }
    reason(
        format!("{}（此列的 values 映射中也没有这个代码：请在映射文件中补上，或写 unknown = \"ignore\" 跳过）", r.zh),
        format!("{} (nor is it a code of this column's value map: add it to the mapping, or write unknown = \"ignore\" to pass over it)", r.en),
    )
}

/// Where a requested column's cell comes from.
enum Logical {
    /// The file's column at this position of the scan.
    File(usize),
    /// A derived column: its op and the positions of its source columns.
    Derived(usize, Vec<usize>),
}

/// Scans `file` for `columns` (which may name derived columns) through `shape`: rows its
/// filters leave out are counted in `stat` and never seen by `f`; `f` gets the requested
/// columns' cells, derived and mapped. The number of data rows, or None after a file-level
/// problem (reported).
pub(super) fn scan(
    file: &FileRef,
    shape: &Shape,
    columns: &[&str],
    errs: &mut Errors,
    stat: &mut Stat,
    f: &mut RowFn<'_>,
) -> Option<u64> {
    if shape.is_plain() {
        return source::scan(file, columns, errs, f);
    }
    // The file's columns to read (each once) and the mapping key that asked for each.
    let mut phys: Vec<&str> = vec![];
    let mut keys: Vec<Option<String>> = vec![];
    let mut logical = vec![];
    for &c in columns {
        match shape.derived.iter().position(|d| d.name == c) {
            Some(j) => {
                let d = &shape.derived[j];
                let at = (d.op.sources().into_iter())
                    .map(|s| add(&mut phys, &mut keys, s, Some(&d.key)))
                    .collect();
                logical.push(Logical::Derived(j, at));
            }
            None => logical.push(Logical::File(add(&mut phys, &mut keys, c, None))),
        }
    }
    let filter_at: Vec<usize> = (shape.filters.iter())
        .map(|x| add(&mut phys, &mut keys, &x.column, Some(&x.key)))
        .collect();
    let maps: Vec<_> = columns.iter().map(|c| shape.values.get(*c)).collect();
    let derived: Vec<(String, String)> = (shape.derived.iter())
        .map(|d| (d.name.clone(), d.key.clone()))
        .collect();
    let spec = Spec {
        columns: &phys,
        keys: &keys,
        derived: &derived,
    };
    let phys_names = phys.clone();
    source::scan_spec(file, &spec, errs, &mut |errs, row, cells| {
        for (x, &at) in shape.filters.iter().zip(&filter_at) {
            let mut buf = String::new();
            let t = text_in(&cells[at], &mut buf);
            if x.texts.iter().any(|x| x == t) != x.keep {
                stat.filtered += 1;
                return;
            }
        }
        let mut owned: Vec<Option<String>> = Vec::with_capacity(logical.len());
        for (i, l) in logical.iter().enumerate() {
            let text = match l {
                Logical::File(_) => None,
                Logical::Derived(j, at) => {
                    let sources: Vec<(&str, &Cell)> =
                        at.iter().map(|&k| (phys_names[k], &cells[k])).collect();
                    match derive(&shape.derived[*j].op, &sources) {
                        Ok(t) => Some(t),
                        Err((col, r)) => {
                            errs.push(err(file, row, col, r));
                            return;
                        }
                    }
                }
            };
            let mapped = maps[i].and_then(|m| {
                let mut buf = String::new();
                let t = match (&text, l) {
                    (Some(t), _) => t.as_str(),
                    (None, Logical::File(k)) => text_in(&cells[*k], &mut buf),
                    (None, Logical::Derived(..)) => "",
                };
                m.get(t).cloned()
            });
            owned.push(mapped.or(text));
        }
        let out: Vec<Cell<'_>> = (logical.iter().zip(&owned))
            .map(|(l, o)| match (o, l) {
                (Some(t), _) if t.trim().is_empty() => Cell::Empty,
                (Some(t), _) => Cell::Text(t),
                (None, Logical::File(k)) => cells[*k].clone(),
                (None, Logical::Derived(..)) => Cell::Empty,
            })
            .collect();
        f(errs, row, &out);
    })
}

/// The position of column `name` among the columns to read, added (with the mapping key that
/// asks for it) if new.
fn add<'a>(
    phys: &mut Vec<&'a str>,
    keys: &mut Vec<Option<String>>,
    name: &'a str,
    key: Option<&str>,
) -> usize {
    if let Some(i) = phys.iter().position(|p| *p == name) {
        return i;
    }
    phys.push(name);
    keys.push(key.map(str::to_string));
    phys.len() - 1
}

/// A derived cell's text ("" when empty), or the source column and reason it cannot be had.
fn derive<'c>(op: &DeriveOp, sources: &[(&'c str, &Cell)]) -> Result<String, (&'c str, Reason)> {
    match op {
        DeriveOp::Const(t) => Ok(t.clone()),
        DeriveOp::YearOf(_) | DeriveOp::MonthOf(_) => {
            let Some(&(col, c)) = sources.first() else {
                return Ok(String::new());
            };
            match parse::date(c) {
                Ok(Some(d)) if matches!(op, DeriveOp::YearOf(_)) => Ok(d.y.to_string()),
                Ok(Some(d)) => Ok(d.m.to_string()),
                Ok(None) => Ok(String::new()),
                Err(r) => Err((col, r)),
            }
        }
        DeriveOp::Sum(_) => {
            // Like a spreadsheet's SUM: empty cells count as 0, all empty is empty.
            let (mut total, mut scale, mut any) = (0i128, 0u32, false);
            for &(col, c) in sources {
                let (m, s) = match parse::number(c) {
                    Ok(Some(x)) => x,
                    Ok(None) => continue,
                    Err(r) => return Err((col, r)),
                };
                any = true;
                let up = |v: i128, by: u32| v.checked_mul(10i128.pow(by));
                let (a, b) = if s > scale {
                    (up(total, s - scale), Some(m))
                } else {
                    (Some(total), up(m, scale - s))
                };
                scale = scale.max(s);
                total = match (a, b) {
                    (Some(a), Some(b)) => match a.checked_add(b) {
                        Some(t) => t,
                        None => return Err((col, too_big())),
                    },
                    _ => return Err((col, too_big())),
                };
            }
            Ok(if any {
                parse::fmt_scaled(total, scale)
            } else {
                String::new()
            })
        }
    }
}

fn too_big() -> Reason {
    reason("各列之和超出范围", "the sum of the columns is out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_and_empty_cells_count_as_zero() {
        let a = Cell::Text("1,234.5");
        let b = Cell::Text("0.25");
        let e = Cell::Empty;
        let op = DeriveOp::Sum(vec!["a".into(), "b".into(), "c".into()]);
        let got = derive(&op, &[("a", &a), ("b", &b), ("c", &e)]);
        assert_eq!(got, Ok("1234.75".to_string()));
        assert_eq!(derive(&op, &[("a", &e), ("b", &e)]), Ok(String::new()));
        let neg = Cell::Text("-0.75");
        assert_eq!(
            derive(&op, &[("a", &a), ("b", &neg)]),
            Ok("1233.75".to_string())
        );
        let bad = Cell::Text("约1万");
        assert_eq!(derive(&op, &[("a", &a), ("b", &bad)]).unwrap_err().0, "b");
        let f = Cell::Float(0.1);
        assert_eq!(
            derive(&op, &[("a", &f), ("b", &f), ("c", &f)]),
            Ok("0.3".to_string())
        );
    }

    #[test]
    fn years_and_months_of_dates() {
        let d = Cell::Text("2021年3月5日");
        let y = DeriveOp::YearOf("d".into());
        let m = DeriveOp::MonthOf("d".into());
        assert_eq!(derive(&y, &[("d", &d)]), Ok("2021".to_string()));
        assert_eq!(derive(&m, &[("d", &d)]), Ok("3".to_string()));
        assert_eq!(derive(&y, &[("d", &Cell::Empty)]), Ok(String::new()));
        assert_eq!(
            derive(&y, &[("d", &Cell::Text("2021-13-01"))])
                .unwrap_err()
                .0,
            "d"
        );
    }
}
