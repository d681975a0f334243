//! Reading the firm register and the yearly / monthly sources into compact columns, with every
//! cell checked; duplicates are found by sorting.

use huiqi_ir::{Program, Ty};

use super::shape::{self, unmapped, Source, Stat};
use super::store::*;
use crate::dates::to_days;
use crate::error::{reason, DataError, Errors, Reason};
use crate::mapping::{FactCol, FileRef, PeriodPlan, Plan, Shape};
use crate::parse;
use crate::source::Cell;

pub(super) fn parse_fact(p: &Program, fc: &FactCol, c: &Cell) -> Result<Val, Reason> {
    let v = parse_value(p, fc, c)?;
    in_range(fc, c, v)?;
    Ok(v)
}

/// A fact's cell as the section's mapping reads it: an enum value the pack does not know is
/// missing (and counted in `unknown`) when the column is under `unknown = "ignore"`.
pub(super) fn parse_cell(
    p: &Program,
    fc: &FactCol,
    shape: &Shape,
    c: &Cell,
    unknown: &mut u64,
    texts: &mut Texts,
) -> Result<Val, Reason> {
    if fc.ty == Ty::Text {
        return texts.parse(c);
    }
    match parse_fact(p, fc, c) {
        Err(_) if matches!(fc.ty, Ty::Enum(_)) && shape.ignores(&fc.column) => {
            *unknown += 1;
            Ok(Val::Null)
        }
        Err(r) if matches!(fc.ty, Ty::Enum(_)) => Err(unmapped(r, shape, &fc.column)),
        x => x,
    }
}

/// The column's `min` and `max`, if the mapping gives them.
fn in_range(fc: &FactCol, c: &Cell, v: Val) -> Result<(), Reason> {
    let x = match v {
        Val::I64(i) => i as i128,
        Val::I128(i) => i,
        Val::Null => return Ok(()),
    };
    let shown = parse::shown(c);
    if let Some(b) = fc.min.as_ref().filter(|b| x < b.value) {
        return Err(reason(
            format!("`{shown}` 小于映射文件给出的下限（min = {}）：请核对数据，或修改映射文件的 min", b.text),
            format!("`{shown}` is below the minimum the mapping sets (min = {}): check the data, or the mapping's min", b.text),
        ));
    }
    if let Some(b) = fc.max.as_ref().filter(|b| x > b.value) {
        return Err(reason(
            format!("`{shown}` 大于映射文件给出的上限（max = {}）：请核对数据，或修改映射文件的 max", b.text),
            format!("`{shown}` is above the maximum the mapping sets (max = {}): check the data, or the mapping's max", b.text),
        ));
    }
    Ok(())
}

fn parse_value(p: &Program, fc: &FactCol, c: &Cell) -> Result<Val, Reason> {
    let o = |v: Option<i64>| v.map_or(Val::Null, Val::I64);
    Ok(match fc.ty {
        Ty::Money => o(parse::money(c, fc.unit)?),
        Ty::Count => o(parse::count(c)?),
        Ty::Ratio => parse::ratio(c)?.map_or(Val::Null, Val::I128),
        Ty::Bool => o(parse::boolean(c, &fc.bools)?.map(i64::from)),
        Ty::Date => o(parse::date(c)?.map(|d| to_days(d) as i64)),
        Ty::Enum(e) => {
            let en = &p.enums[e];
            o(parse::variant(c, &en.name, &en.variants)?.map(i64::from))
        }
        Ty::Text => Val::Null,
    })
}

pub(super) fn err(file: &FileRef, row: u64, col: &str, r: Reason) -> DataError {
    DataError::new(&file.shown, r.zh, r.en).at(row).col(col)
}

/// The firm register, sorted by credit code once read.
pub(super) fn read_firms(
    plan: &Plan,
    p: &Program,
    errs: &mut Errors,
    sources: &mut Vec<Source>,
    texts: &mut Texts,
) -> Option<Firms> {
    let s = &plan.firms;
    let mut cols: Vec<&str> = vec![&s.id, &s.name];
    cols.extend(s.facts.iter().map(|f| f.column.as_str()));
    let mut ids = vec![];
    let mut names = String::new();
    let mut name_ends = vec![];
    let mut rows = vec![];
    let mut facts: Vec<Vals> = s
        .facts
        .iter()
        .map(|f| Vals::for_type(p.facts[f.fact].ty))
        .collect();
    let file = &s.file;
    let mut stat = Stat::default();
    let mut unknown = 0;
    let n = shape::scan(
        file,
        &s.shape,
        &cols,
        errs,
        &mut stat,
        &mut |errs, row, cells| {
            let id = match parse::uscc(&cells[0]) {
                Ok(id) => id,
                Err(r) => return errs.push(err(file, row, &s.id, r)),
            };
            let mut buf = String::new();
            match parse::text(&cells[1], &mut buf) {
                Ok(Some(n)) => names.push_str(n),
                Ok(None) => errs.push(err(
                    file,
                    row,
                    &s.name,
                    Reason {
                        zh: "企业名称为空".into(),
                        en: "the firm name is empty".into(),
                    },
                )),
                Err(r) => errs.push(err(file, row, &s.name, r)),
            }
            name_ends.push(names.len());
            ids.push(id);
            rows.push(row as u32);
            for (k, fc) in s.facts.iter().enumerate() {
                let v = parse_cell(p, fc, &s.shape, &cells[2 + k], &mut unknown, texts)
                    .unwrap_or_else(|r| {
                        errs.push(err(file, row, &fc.column, r));
                        Val::Null
                    });
                facts[k].push(v);
            }
        },
    )?;
    stat.unknown = unknown;
    sources.push(Source {
        file: file.clone(),
        rows: n,
        stat,
    });
    if n == 0 {
        errs.push(DataError::new(
            &file.shown,
            "企业名录没有数据行",
            "the firm register has no data rows",
        ));
        return None;
    }
    if stat.filtered == n {
        errs.push(DataError::new(
            &file.shown,
            format!("企业名录的 {n} 行数据都被映射文件的 where / where_not 滤掉了：请核对筛选条件"),
            format!("the mapping's where / where_not leave out all {n} data rows of the firm register: check the filters"),
        ));
        return None;
    }
    let mut perm: Vec<u32> = (0..ids.len() as u32).collect();
    perm.sort_unstable_by_key(|&i| (ids[i as usize], rows[i as usize]));
    for w in perm.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if ids[a] == ids[b] {
            let code = std::str::from_utf8(&ids[a]).unwrap_or("");
            errs.push(
                DataError::new(
                    &file.shown,
                    format!("统一社会信用代码 `{code}` 重复（与第{}行相同）", rows[a]),
                    format!("duplicate credit code `{code}` (same as row {})", rows[a]),
                )
                .at(rows[b] as u64)
                .col(&s.id),
            );
        }
    }
    let mut sorted = Firms {
        ids: perm.iter().map(|&i| ids[i as usize]).collect(),
        names: String::with_capacity(names.len()),
        name_ends: Vec::with_capacity(ids.len()),
        facts: facts.into_iter().map(|v| v.permute(&perm)).collect(),
    };
    let unsorted = Firms {
        ids: vec![],
        names,
        name_ends,
        facts: vec![],
    };
    for &i in &perm {
        sorted.names.push_str(unsorted.name(i as usize));
        sorted.name_ends.push(sorted.names.len());
    }
    Some(sorted)
}

pub(super) fn unknown_firm(file: &FileRef, row: u64, col: &str, id: &[u8; 18]) -> DataError {
    let code = std::str::from_utf8(id).unwrap_or("");
    DataError::new(
        &file.shown,
        format!("企业名录中没有统一社会信用代码为 `{code}` 的企业"),
        format!("unknown firm: `{code}` is not in the firm register"),
    )
    .at(row)
    .col(col)
}

pub(super) fn read_period(
    s: &PeriodPlan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<Source>,
    texts: &mut Texts,
) -> PeriodRows {
    let mut cols: Vec<&str> = vec![&s.id, &s.year];
    if let Some(m) = &s.month {
        cols.push(m);
    }
    let base = cols.len();
    cols.extend(s.facts.iter().map(|f| f.column.as_str()));
    let mut out = PeriodRows {
        keys: vec![],
        rows: vec![],
        facts: s
            .facts
            .iter()
            .map(|f| Vals::for_type(p.facts[f.fact].ty))
            .collect(),
    };
    let file = &s.file;
    let mut stat = Stat::default();
    let mut unknown = 0;
    let n = shape::scan(
        file,
        &s.shape,
        &cols,
        errs,
        &mut stat,
        &mut |errs, row, cells| {
            let firm = match parse::uscc(&cells[0]) {
                Ok(id) => match firms.find(&id) {
                    Some(f) => Some(f),
                    None => {
                        errs.push(unknown_firm(file, row, &s.id, &id));
                        None
                    }
                },
                Err(r) => {
                    errs.push(err(file, row, &s.id, r));
                    None
                }
            };
            let year = parse::year(&cells[1]).map_err(|r| errs.push(err(file, row, &s.year, r)));
            let month = match &s.month {
                Some(m) => parse::month(&cells[2]).map_err(|r| errs.push(err(file, row, m, r))),
                None => Ok(0),
            };
            let vals: Vec<Val> = s
                .facts
                .iter()
                .enumerate()
                .map(|(k, fc)| {
                    parse_cell(p, fc, &s.shape, &cells[base + k], &mut unknown, texts)
                        .unwrap_or_else(|r| {
                            errs.push(err(file, row, &fc.column, r));
                            Val::Null
                        })
                })
                .collect();
            if let (Some(f), Ok(y), Ok(m)) = (firm, year, month) {
                out.keys.push(pack(f, y, m));
                out.rows.push(row as u32);
                for (k, v) in vals.into_iter().enumerate() {
                    out.facts[k].push(v);
                }
            }
        },
    );
    stat.unknown = unknown;
    if let Some(n) = n {
        sources.push(Source {
            file: file.clone(),
            rows: n,
            stat,
        });
    }
    // Sort by key (then source row, so duplicate reports are stable) and reject duplicates.
    let mut perm: Vec<u32> = (0..out.keys.len() as u32).collect();
    perm.sort_unstable_by_key(|&i| (out.keys[i as usize], out.rows[i as usize]));
    for w in perm.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if out.keys[a] == out.keys[b] {
            let k = out.keys[a];
            let period = match &s.month {
                Some(_) => format!("{}-{:02}", key_year(k), key_month(k)),
                None => format!("{}", key_year(k)),
            };
            let code = firms.id(key_firm(k));
            errs.push(
                DataError::new(
                    &file.shown,
                    format!(
                        "企业 `{code}` 的 {period} 数据重复（与第{}行相同）",
                        out.rows[a]
                    ),
                    format!(
                        "duplicate row for firm `{code}`, period {period} (same as row {})",
                        out.rows[a]
                    ),
                )
                .at(out.rows[b] as u64)
                .col(s.month.as_deref().unwrap_or(&s.year)),
            );
        }
    }
    drop(std::mem::take(&mut out.rows));
    PeriodRows {
        keys: perm.iter().map(|&i| out.keys[i as usize]).collect(),
        rows: vec![],
        facts: out.facts.into_iter().map(|v| v.permute(&perm)).collect(),
    }
}
