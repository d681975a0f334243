//! Reading event and award sources: dated records and award history, checked against the
//! program's event facts, enum values, clauses and tranches.

use huiqi_files::snapshot::event_field_col;
use huiqi_ir::{PeriodKind, Program, Ty};

use super::read::{err, parse_fact, unknown_firm};
use super::shape::{self, cell_text, unmapped, Source, Stat};
use super::store::*;
use crate::dates::{from_days, to_days};
use crate::error::{reason, DataError, Errors};
use crate::mapping::{tranche_names, AwardPlan, EventFact, EventPlan, FileRef, Plan};
use crate::parse;
use crate::source::Cell;

/// Every event source: checked rows, sorted as the snapshot stores them (firm, fact name, date,
/// value name), with duplicates reported.
pub(super) fn read_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<Source>,
) -> Events {
    let event_facts: Vec<&str> = p
        .facts
        .iter()
        .filter(|f| f.kind == PeriodKind::Event)
        .map(|f| f.name.as_str())
        .collect();
    let mut out = Events::default();
    // Each section's entry in `sources`, for the duplicates dropped after sorting.
    let mut at = vec![];
    for (si, s) in plan.events.iter().enumerate() {
        let src = EventSrc {
            p,
            s,
            si: si as u16,
            firms,
            event_facts: &event_facts,
        };
        let mut stat = Stat::default();
        at.push(src.scan(errs, &mut out, &mut stat).map(|n| {
            sources.push(Source {
                file: s.file.clone(),
                rows: n,
                stat,
            });
            sources.len() - 1
        }));
    }
    sort_events(p, &mut out);
    let dropped = dedup_events(plan, p, firms, &mut out, errs);
    for (si, d) in dropped.into_iter().enumerate() {
        if let Some(i) = at[si] {
            sources[i].stat.duplicates += d;
        }
    }
    out
}

/// The firm a row's credit code names, or None after reporting why not.
pub(super) fn row_firm(
    file: &FileRef,
    row: u64,
    col: &str,
    firms: &Firms,
    cell: &Cell,
    errs: &mut Errors,
) -> Option<u32> {
    match parse::uscc(cell) {
        Ok(id) => firms.find(&id).or_else(|| {
            errs.push(unknown_firm(file, row, col, &id));
            None
        }),
        Err(r) => {
            errs.push(err(file, row, col, r));
            None
        }
    }
}

/// One event source being read: its cells are, in order, id, date, [fact column], [until],
/// [value], then the field columns.
struct EventSrc<'a> {
    p: &'a Program,
    s: &'a EventPlan,
    si: u16,
    firms: &'a Firms,
    event_facts: &'a [&'a str],
}

impl EventSrc<'_> {
    /// Reads the file into `out`; the number of data rows, or None after a file-level problem.
    fn scan(&self, errs: &mut Errors, out: &mut Events, stat: &mut Stat) -> Option<u64> {
        let s = self.s;
        let mut cols: Vec<&str> = vec![&s.id, &s.date];
        if let EventFact::Column(c) = &s.fact {
            cols.push(c);
        }
        let until_at = s.until.as_ref().map(|u| {
            cols.push(u);
            cols.len() - 1
        });
        let value_at = s.value.as_ref().map(|v| {
            cols.push(v);
            cols.len() - 1
        });
        let fields_at = cols.len();
        cols.extend(s.fields.iter().map(|f| f.col.column.as_str()));
        let mut too_many = false;
        let mut unknown = 0;
        let n = shape::scan(
            &s.file,
            &s.shape,
            &cols,
            errs,
            stat,
            &mut |errs, row, cells| {
                let at = Cols {
                    until: until_at,
                    value: value_at,
                    fields: fields_at,
                };
                if self.unknown_name(cells, value_at) {
                    unknown += 1;
                    return;
                }
                let Some((mut e, nums)) = self.row(errs, row, cells, at) else {
                    return;
                };
                if !nums.is_empty() {
                    match u32::try_from(out.nums.len()) {
                        Ok(i) if i != NO_NUMS => e.nums = i,
                        _ => {
                            too_many = true;
                            return;
                        }
                    }
                    out.nums.extend(nums);
                }
                out.rows.push(e);
            },
        );
        if too_many {
            errs.push(DataError::new(
                &s.file.shown,
                "事件记录的数值过多（超过 2³² 个），无法一次导入",
                "too many numbers on event records (more than 2³²) to ingest at once",
            ));
        }
        stat.unknown = unknown;
        n
    }

    /// Under `unknown = "ignore"`: the row names a fact (fact column) or a value of its fact
    /// the pack does not know, and is passed over. Empty cells are not unknown names.
    fn unknown_name(&self, cells: &[Cell], value_at: Option<usize>) -> bool {
        let (p, s) = (self.p, self.s);
        let fact = match &s.fact {
            EventFact::Fixed(f) => Some(*f),
            EventFact::Column(c) => {
                let name = cell_text(&cells[2]);
                match p.fact_by_name(&name) {
                    Some(f) if p.facts[f].kind == PeriodKind::Event => Some(f),
                    _ if s.shape.ignores(c) && !name.is_empty() => return true,
                    _ => None,
                }
            }
        };
        if let (Some(f), Some(k), Some(col)) = (fact, value_at, &s.value) {
            if let Ty::Enum(e) = p.facts[f].ty {
                let en = &p.enums[e];
                return s.shape.ignores(col)
                    && parse::variant(&cells[k], &en.name, &en.variants).is_err();
            }
        }
        false
    }

    /// One row: every cell is checked (all problems reported) before the event is kept.
    fn row(
        &self,
        errs: &mut Errors,
        row: u64,
        cells: &[Cell],
        at: Cols,
    ) -> Option<(Event, Vec<i128>)> {
        let (until_at, value_at) = (at.until, at.value);
        let s = self.s;
        let file = &s.file;
        let firm = row_firm(file, row, &s.id, self.firms, &cells[0], errs);
        let fact = self.fact(errs, row, cells);
        let date = match parse::date(&cells[1]) {
            Ok(Some(d)) => Some(d),
            Ok(None) => {
                errs.push(err(
                    file,
                    row,
                    &s.date,
                    reason("日期为空", "the date is empty"),
                ));
                None
            }
            Err(r) => {
                errs.push(err(file, row, &s.date, r));
                None
            }
        };
        let until_col = s.until.as_deref().unwrap_or("");
        let until = until_at.and_then(|k| {
            parse::date(&cells[k]).unwrap_or_else(|r| {
                errs.push(err(file, row, until_col, r));
                None
            })
        });
        if let (Some(d), Some(u)) = (date, until) {
            if u < d {
                errs.push(err(
                    file,
                    row,
                    until_col,
                    reason(
                        format!("有效期止 {u} 早于日期 {d}"),
                        format!("valid-until {u} is before the date {d}"),
                    ),
                ));
            }
        }
        let nums = self.nums(errs, row, &cells[at.fields..], fact);
        let fact = fact?;
        let value = self.value(errs, row, cells, fact, value_at).ok()?;
        let event = Event {
            firm: firm?,
            fact: fact as u32,
            date: to_days(date?),
            until: until.map_or(NO_DATE, to_days),
            value: value.unwrap_or(NO_VALUE),
            nums: NO_NUMS,
            row: row as u32,
            src: self.si,
        };
        Some((event, nums.ok()?))
    }

    /// The record's numbers, one per field of `fact` (scale 12, [`NULL128`] where the cell is
    /// empty), from the field cells `cells`. Every cell is checked (a cell of another fact's
    /// field must be empty on this fact's row); Err after reporting a problem.
    fn nums(
        &self,
        errs: &mut Errors,
        row: u64,
        cells: &[Cell],
        fact: Option<usize>,
    ) -> Result<Vec<i128>, ()> {
        let (p, s, file) = (self.p, self.s, &self.s.file);
        let mut ok = true;
        let mut out = match fact {
            Some(f) => vec![NULL128; p.facts[f].fields.len()],
            None => vec![],
        };
        let mut mapped = vec![false; out.len()];
        for fc in &s.fields {
            if Some(fc.col.fact) == fact {
                mapped[fc.field] = true;
            }
        }
        for (fc, cell) in s.fields.iter().zip(cells) {
            let col = &fc.col;
            let v = match parse_fact(p, col, cell) {
                Ok(v) => v,
                Err(r) => {
                    errs.push(err(file, row, &col.column, r));
                    ok = false;
                    continue;
                }
            };
            match fact {
                Some(f) if f == col.fact => out[fc.field] = scaled(col.ty, v),
                Some(f) if v != Val::Null => {
                    let (this, other) = (&p.facts[f].name, &p.facts[col.fact].name);
                    errs.push(err(
                        file,
                        row,
                        &col.column,
                        reason(
                            format!("此列是 `{other}` 的字段，`{this}` 的记录此格应为空"),
                            format!("this column is a field of `{other}`; it should be empty on a record of `{this}`"),
                        ),
                    ));
                    ok = false;
                }
                _ => {}
            }
        }
        // With a fact column, the row's fact may have fields this source gives no column for.
        if let Some(f) = fact {
            let fact = &p.facts[f];
            let missing: Vec<&str> = (fact.fields.iter().zip(&mapped))
                .filter(|(_, m)| !**m)
                .map(|(x, _)| x.name.as_str())
                .collect();
            if !missing.is_empty() {
                let keys = missing
                    .iter()
                    .map(|m| format!("\"{}\"", event_field_col(&fact.name, m)))
                    .collect::<Vec<_>>();
                let name = &fact.name;
                errs.push(
                    DataError::new(
                        &file.shown,
                        format!(
                            "事件 `{name}` 的记录带有字段 {}，但映射文件没有给出它们的列（在 fields 中写 {} = \"列名\"）",
                            missing.join("、"),
                            keys.join("、")
                        ),
                        format!(
                            "records of `{name}` carry the field(s) {} but the mapping gives no column for them (add {} = \"column\" to `fields`)",
                            missing.join(", "),
                            keys.join(", ")
                        ),
                    )
                    .at(row),
                );
                ok = false;
            }
        }
        if ok {
            Ok(out)
        } else {
            Err(())
        }
    }

    /// The row's event fact: the source's, or the one its fact column names.
    fn fact(&self, errs: &mut Errors, row: u64, cells: &[Cell]) -> Option<usize> {
        let p = self.p;
        let c = match &self.s.fact {
            EventFact::Fixed(f) => return Some(*f),
            EventFact::Column(c) => c,
        };
        let mut buf = String::new();
        let name = parse::text(&cells[2], &mut buf)
            .ok()
            .flatten()
            .unwrap_or("");
        match p.fact_by_name(name) {
            Some(f) if p.facts[f].kind == PeriodKind::Event => Some(f),
            _ => {
                let known = self.event_facts;
                let r = unmapped(
                    reason(
                        format!(
                            "`{name}` 不是政策包中的事件事实；事件事实有：{}",
                            known.join("、")
                        ),
                        format!(
                            "`{name}` is not an event fact of the pack; the event facts are: {}",
                            known.join(", ")
                        ),
                    ),
                    &self.s.shape,
                    c,
                );
                errs.push(err(&self.s.file, row, c, r));
                None
            }
        }
    }

    /// The event's enum value (None for facts without one); Err after reporting a problem.
    fn value(
        &self,
        errs: &mut Errors,
        row: u64,
        cells: &[Cell],
        fact: usize,
        value_at: Option<usize>,
    ) -> Result<Option<u32>, ()> {
        let (p, s, file) = (self.p, self.s, &self.s.file);
        let fact_name = &p.facts[fact].name;
        let value_col = s.value.as_deref().unwrap_or("");
        match (p.facts[fact].ty, value_at) {
            (Ty::Enum(e), Some(k)) => {
                let en = &p.enums[e];
                match parse::variant(&cells[k], &en.name, &en.variants) {
                    Ok(Some(v)) => Ok(Some(v)),
                    Ok(None) => {
                        errs.push(err(
                            file,
                            row,
                            value_col,
                            reason(
                                format!(
                                    "事件 `{fact_name}` 需要取值（{}），此处为空",
                                    en.variants.join("、")
                                ),
                                format!(
                                    "event `{fact_name}` needs a value ({}); the cell is empty",
                                    en.variants.join(", ")
                                ),
                            ),
                        ));
                        Err(())
                    }
                    Err(r) => {
                        errs.push(err(file, row, value_col, unmapped(r, &s.shape, value_col)));
                        Err(())
                    }
                }
            }
            (Ty::Enum(_), None) => {
                errs.push(
                    DataError::new(
                        &file.shown,
                        format!("事件 `{fact_name}` 需要取值，但映射文件没有给出 value 列"),
                        format!(
                            "event `{fact_name}` needs a value but the mapping gives no `value` column"
                        ),
                    )
                    .at(row),
                );
                Err(())
            }
            (_, Some(k)) if !cells[k].is_empty() => {
                errs.push(err(
                    file,
                    row,
                    value_col,
                    reason(
                        format!("事件 `{fact_name}` 不带取值，此格应为空"),
                        format!("event `{fact_name}` carries no value; this cell should be empty"),
                    ),
                ));
                Err(())
            }
            _ => Ok(None),
        }
    }
}

/// Where an event source's optional cells are: until, value, and the first field column.
#[derive(Clone, Copy)]
struct Cols {
    until: Option<usize>,
    value: Option<usize>,
    fields: usize,
}

/// A field's parsed cell as the events table holds it: Decimal128 at scale 12.
fn scaled(ty: Ty, v: Val) -> i128 {
    match (ty, v) {
        (Ty::Money, Val::I64(fen)) => fen as i128 * FEN_TO_DEC,
        (Ty::Count, Val::I64(c)) => c as i128 * ONE_DEC,
        (Ty::Ratio, Val::I128(r)) => r,
        _ => NULL128,
    }
}

/// The snapshot's order: firm, then fact, date and value by name (byte order), then the
/// record's numbers (missing first), then source and row (so duplicate reports name the
/// earlier row).
fn sort_events(p: &Program, events: &mut Events) {
    let Events { rows: out, nums } = events;
    let nfields: Vec<usize> = p.facts.iter().map(|f| f.fields.len()).collect();
    let numbers = |e: &Event| -> &[i128] {
        if e.nums == NO_NUMS {
            return &[];
        }
        let start = e.nums as usize;
        nums.get(start..start + nfields[e.fact as usize])
            .unwrap_or(&[])
    };
    let fact_names: Vec<&str> = p.facts.iter().map(|f| f.name.as_str()).collect();
    let fact_rank = ranks(&fact_names);
    let value_rank: Vec<Vec<u32>> = p
        .facts
        .iter()
        .map(|f| match f.ty {
            Ty::Enum(e) => ranks(
                &p.enums[e]
                    .variants
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            _ => vec![],
        })
        .collect();
    let vrank = |e: &Event| {
        if e.value == NO_VALUE {
            0
        } else {
            1 + value_rank[e.fact as usize][e.value as usize]
        }
    };
    let key = |e: &Event| (e.firm, fact_rank[e.fact as usize], e.date, vrank(e));
    out.sort_unstable_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| numbers(a).cmp(numbers(b)))
            .then_with(|| (a.src, a.row).cmp(&(b.src, b.row)))
    });
}

/// Two sorted events with the same firm, fact, date, value and numbers: the later row is
/// reported — or, when the two are exact duplicates (the same `until` too) and the later row's
/// section says `duplicates = "keep-one"`, dropped. (Two loans of one day with different
/// principals are two loans.) The rows dropped, per event section.
fn dedup_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    events: &mut Events,
    errs: &mut Errors,
) -> Vec<u64> {
    let mut dropped = vec![0u64; plan.events.len()];
    let n = |e: &Event| p.facts[e.fact as usize].fields.len();
    let rows = std::mem::take(&mut events.rows);
    let mut kept: Vec<Event> = Vec::with_capacity(rows.len());
    for b in rows {
        let Some(a) = kept.last() else {
            kept.push(b);
            continue;
        };
        if (a.firm, a.fact, a.date, a.value) != (b.firm, b.fact, b.date, b.value)
            || events.nums(a, n(a)) != events.nums(&b, n(&b))
        {
            kept.push(b);
            continue;
        }
        let s = &plan.events[b.src as usize];
        let exact = a.until == b.until;
        if exact && s.keep_one {
            dropped[b.src as usize] += 1;
            continue;
        }
        let (other, other_en) = if a.src == b.src {
            (format!("第{}行", a.row), format!("row {}", a.row))
        } else {
            let f = &plan.events[a.src as usize].file.shown;
            (format!("{f} 第{}行", a.row), format!("{f} row {}", a.row))
        };
        let (id, fact, day) = (
            firms.id(a.firm as usize),
            &p.facts[a.fact as usize].name,
            from_days(a.date),
        );
        let (same, same_en) = if n(a) > 0 {
            ("，数值也相同", ", with the same numbers")
        } else {
            ("", "")
        };
        let si = b.src;
        let (hint, hint_en) = if exact {
            (
                format!("；导出文件本就含完全相同的重复行时，可在映射文件 events[{si}] 中写 duplicates = \"keep-one\"（保留一行并计数）"),
                format!("; if the export holds exact duplicate rows as it is, write duplicates = \"keep-one\" in the mapping's events[{si}] (one is kept, the rest counted)"),
            )
        } else {
            (String::new(), String::new())
        };
        errs.push(
            DataError::new(
                &s.file.shown,
                format!("重复的事件记录：企业 `{id}` 的 `{fact}` 在 {day} 已有一条{same}（{other}）{hint}"),
                format!("duplicate event: firm `{id}` already has `{fact}` on {day}{same_en} ({other_en}){hint_en}"),
            )
            .at(b.row as u64)
            .col(&s.date),
        );
        kept.push(b);
    }
    events.rows = kept;
    dropped
}

/// Every award source: checked rows sorted by (firm, clause name, period, tranche). Two rows of
/// one key are an error, except that exact duplicates are dropped under `duplicates =
/// "keep-one"` and that payments on different dates (a `date` column) are added up.
pub(super) fn read_awards(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<Source>,
) -> Vec<AwardRow> {
    let mut out = vec![];
    let clause_names: Vec<&str> = p.clauses.iter().map(|c| c.name.as_str()).collect();
    let mut at = vec![];
    for (si, s) in plan.awards.iter().enumerate() {
        let mut cols: Vec<&str> = vec![&s.id, &s.clause, &s.period, &s.amount];
        if let Some(t) = &s.tranche {
            cols.push(t);
        }
        let src = AwardSrc {
            p,
            s,
            si: si as u16,
            firms,
            clause_names: &clause_names,
        };
        let mut stat = Stat::default();
        let mut unknown = 0;
        let n = shape::scan(
            &s.file,
            &s.shape,
            &cols,
            errs,
            &mut stat,
            &mut |errs, row, cells| {
                if src.unknown_name(cells) {
                    unknown += 1;
                    return;
                }
                if let Some(a) = src.row(errs, row, cells) {
                    out.push(a);
                }
            },
        );
        stat.unknown = unknown;
        at.push(n.map(|n| {
            sources.push(Source {
                file: s.file.clone(),
                rows: n,
                stat,
            });
            sources.len() - 1
        }));
    }
    let crank = ranks(&clause_names);
    let key = |a: &AwardRow| (a.firm, crank[a.clause as usize], a.period);
    out.sort_by(|a, b| {
        (key(a), &a.tranche, a.date, a.fen, a.src, a.row).cmp(&(
            key(b),
            &b.tranche,
            b.date,
            b.fen,
            b.src,
            b.row,
        ))
    });
    // Each row's amount when kept (a payment added to the first row of its key), None when not.
    let mut kept: Vec<Option<i64>> = vec![None; out.len()];
    let mut first = 0;
    for i in 0..out.len() {
        let b = &out[i];
        let same = |a: &AwardRow| {
            (a.firm, a.clause, a.period, &a.tranche) == (b.firm, b.clause, b.period, &b.tranche)
        };
        if i == 0 || !same(&out[i - 1]) {
            kept[i] = Some(b.fen);
            first = i;
            continue;
        }
        let a = &out[i - 1];
        let s = &plan.awards[b.src as usize];
        let exact = (a.date, a.fen) == (b.date, b.fen);
        if exact && s.keep_one {
            if let Some(k) = at[b.src as usize] {
                sources[k].stat.duplicates += 1;
            }
            continue;
        }
        if !exact && a.date != NO_DATE && b.date != NO_DATE {
            match kept[first].and_then(|t| t.checked_add(b.fen)) {
                Some(t) => kept[first] = Some(t),
                None => errs.push(err(
                    &s.file,
                    b.row as u64,
                    &s.amount,
                    reason(
                        "同一企业、条款、年度和分项的兑现金额之和超出范围",
                        "the sum of the payments of one firm, clause, year and tranche is out of range",
                    ),
                )),
            }
            continue;
        }
        errs.push(duplicate_award(plan, a, b, exact));
    }
    out.into_iter()
        .zip(kept)
        .filter_map(|(mut a, k)| {
            a.fen = k?;
            Some(a)
        })
        .collect()
}

/// Row `b` repeats the firm, clause, period and tranche of row `a` (and with `exact` the date
/// and amount too).
fn duplicate_award(plan: &Plan, a: &AwardRow, b: &AwardRow, exact: bool) -> DataError {
    let s = &plan.awards[b.src as usize];
    let (other, other_en) = if a.src == b.src {
        (format!("第{}行", a.row), format!("row {}", a.row))
    } else {
        let f = &plan.awards[a.src as usize].file.shown;
        (format!("{f} 第{}行", a.row), format!("{f} row {}", a.row))
    };
    let (zh, en) = if exact {
        let (what, what_en) = if s.by_date {
            ("日期", "date")
        } else {
            ("年度", "period")
        };
        let si = b.src;
        (
            format!("重复的兑现记录（与{other}的企业、条款、{what}、分项和金额都相同）；导出文件本就含完全相同的重复行时，可在映射文件 awards[{si}] 中写 duplicates = \"keep-one\"（保留一行并计数）"),
            format!("duplicate award (the same firm, clause, {what_en}, tranche and amount as {other_en}); if the export holds exact duplicate rows as it is, write duplicates = \"keep-one\" in the mapping's awards[{si}] (one is kept, the rest counted)"),
        )
    } else {
        (
            format!("重复的兑现记录（与{other}相同的企业、条款、年度和分项）"),
            format!("duplicate award (same firm, clause, period and tranche as {other_en})"),
        )
    };
    DataError::new(&s.file.shown, zh, en)
        .at(b.row as u64)
        .col(&s.clause)
}

/// One award source being read: its cells are id, clause, period (or date), amount, [tranche].
struct AwardSrc<'a> {
    p: &'a Program,
    s: &'a AwardPlan,
    si: u16,
    firms: &'a Firms,
    clause_names: &'a [&'a str],
}

impl AwardSrc<'_> {
    /// Under `unknown = "ignore"`: the row names a clause, or a tranche of its clause, the pack
    /// does not know, and is passed over.
    fn unknown_name(&self, cells: &[Cell]) -> bool {
        let (p, s) = (self.p, self.s);
        let name = cell_text(&cells[1]);
        let Some(c) = p.clause_by_name(&name) else {
            return !name.is_empty() && s.shape.ignores(&s.clause);
        };
        match &s.tranche {
            Some(t) if s.shape.ignores(t) => {
                let tranche = cell_text(&cells[4]);
                !tranche_names(p, c).contains(&tranche)
            }
            _ => false,
        }
    }

    fn row(&self, errs: &mut Errors, row: u64, cells: &[Cell]) -> Option<AwardRow> {
        let (p, s, file) = (self.p, self.s, &self.s.file);
        let firm = row_firm(file, row, &s.id, self.firms, &cells[0], errs);
        let mut buf = String::new();
        let name = parse::text(&cells[1], &mut buf)
            .ok()
            .flatten()
            .unwrap_or("")
            .to_string();
        let clause = p.clause_by_name(&name);
        if clause.is_none() {
            let names = self.clause_names;
            let r = reason(
                format!("政策包中没有条款 `{name}`；条款有：{}", names.join("、")),
                format!(
                    "the pack has no clause `{name}`; its clauses are: {}",
                    names.join(", ")
                ),
            );
            errs.push(err(file, row, &s.clause, unmapped(r, &s.shape, &s.clause)));
        }
        let (period, date) = self.period(errs, row, &cells[2]);
        let fen = match parse::money(&cells[3], s.unit) {
            Ok(Some(f)) if f >= 0 => Some(f),
            Ok(_) => {
                errs.push(err(
                    file,
                    row,
                    &s.amount,
                    reason("兑现金额为空或为负", "the amount is empty or negative"),
                ));
                None
            }
            Err(r) => {
                errs.push(err(file, row, &s.amount, r));
                None
            }
        };
        let mut buf = String::new();
        let tranche = if s.tranche.is_some() {
            parse::text(&cells[4], &mut buf)
                .ok()
                .flatten()
                .unwrap_or("")
                .to_string()
        } else {
            String::new()
        };
        let c = clause?;
        if !self.tranche_ok(errs, row, c, &name, &tranche) {
            return None;
        }
        Some(AwardRow {
            firm: firm?,
            clause: c as u32,
            period: period?,
            date,
            tranche,
            fen: fen?,
            row: row as u32,
            src: self.si,
        })
    }

    /// The row's period, and its date when the period comes from a date column ([`NO_DATE`]
    /// otherwise); None after reporting why not.
    fn period(&self, errs: &mut Errors, row: u64, cell: &Cell) -> (Option<i32>, i32) {
        let (s, file) = (self.s, &self.s.file);
        if !s.by_date {
            let y = parse::year(cell).map_err(|r| errs.push(err(file, row, &s.period, r)));
            return (y.ok(), NO_DATE);
        }
        match parse::date(cell) {
            Ok(Some(d)) => (Some(d.y), to_days(d)),
            Ok(None) => {
                errs.push(err(
                    file,
                    row,
                    &s.period,
                    reason("日期为空", "the date is empty"),
                ));
                (None, NO_DATE)
            }
            Err(r) => {
                errs.push(err(file, row, &s.period, r));
                (None, NO_DATE)
            }
        }
    }

    /// The tranche is one of the clause's (or empty for a clause without tranches, or a lump
    /// sum of a schedule's clause).
    fn tranche_ok(&self, errs: &mut Errors, row: u64, c: usize, name: &str, tranche: &str) -> bool {
        let allowed = tranche_names(self.p, c);
        if allowed.iter().any(|t| t == tranche) {
            return true;
        }
        let list = allowed
            .iter()
            .map(|t| {
                if t.is_empty() {
                    "（空）".to_string()
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>();
        let s = self.s;
        let col = s.tranche.as_deref().unwrap_or(&s.clause);
        let r = reason(
            format!(
                "条款 `{name}` 没有分项 `{tranche}`；可用：{}",
                list.join("、")
            ),
            format!(
                "clause `{name}` has no tranche `{tranche}`; use one of: {}",
                list.join(", ")
            ),
        );
        errs.push(err(&s.file, row, col, unmapped(r, &s.shape, col)));
        false
    }
}
