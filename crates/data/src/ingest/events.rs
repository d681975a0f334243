//! Reading event and award sources: dated records and award history, checked against the
//! program's event facts, enum values, clauses and tranches.

use huiqi_files::snapshot::event_field_col;
use huiqi_ir::{ClauseBody, PeriodKind, Program, Ty};

use super::read::{err, parse_fact, unknown_firm};
use super::store::*;
use crate::dates::{from_days, to_days};
use crate::error::{reason, DataError, Errors};
use crate::mapping::{AwardPlan, EventFact, EventPlan, FileRef, Plan};
use crate::parse;
use crate::source::{self, Cell};

/// Every event source: checked rows, sorted as the snapshot stores them (firm, fact name, date,
/// value name), with duplicates reported.
pub(super) fn read_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Events {
    let event_facts: Vec<&str> = p
        .facts
        .iter()
        .filter(|f| f.kind == PeriodKind::Event)
        .map(|f| f.name.as_str())
        .collect();
    let mut out = Events::default();
    for (si, s) in plan.events.iter().enumerate() {
        let src = EventSrc {
            p,
            s,
            si: si as u16,
            firms,
            event_facts: &event_facts,
        };
        if let Some(n) = src.scan(errs, &mut out) {
            sources.push((s.file.clone(), n));
        }
    }
    sort_events(p, &mut out);
    report_duplicate_events(plan, p, firms, &out, errs);
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
    fn scan(&self, errs: &mut Errors, out: &mut Events) -> Option<u64> {
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
        let n = source::scan(&s.file, &cols, errs, &mut |errs, row, cells| {
            let at = Cols {
                until: until_at,
                value: value_at,
                fields: fields_at,
            };
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
        });
        if too_many {
            errs.push(DataError::new(
                &s.file.shown,
                "事件记录的数值过多（超过 2³² 个），无法一次导入",
                "too many numbers on event records (more than 2³²) to ingest at once",
            ));
        }
        n
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
                errs.push(
                    DataError::new(
                        &self.s.file.shown,
                        format!(
                            "`{name}` 不是政策包中的事件事实；事件事实有：{}",
                            known.join("、")
                        ),
                        format!(
                            "`{name}` is not an event fact of the pack; the event facts are: {}",
                            known.join(", ")
                        ),
                    )
                    .at(row)
                    .col(c.as_str()),
                );
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
                        errs.push(err(file, row, value_col, r));
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
/// reported. (Two loans of one day with different principals are two loans.)
fn report_duplicate_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    events: &Events,
    errs: &mut Errors,
) {
    let n = |e: &Event| p.facts[e.fact as usize].fields.len();
    for w in events.rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.firm, a.fact, a.date, a.value) != (b.firm, b.fact, b.date, b.value)
            || events.nums(a, n(a)) != events.nums(b, n(b))
        {
            continue;
        }
        let s = &plan.events[b.src as usize];
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
        errs.push(
            DataError::new(
                &s.file.shown,
                format!("重复的事件记录：企业 `{id}` 的 `{fact}` 在 {day} 已有一条{same}（{other}）"),
                format!("duplicate event: firm `{id}` already has `{fact}` on {day}{same_en} ({other_en})"),
            )
            .at(b.row as u64)
            .col(&s.date),
        );
    }
}

pub(super) fn tranche_names(p: &Program, clause: usize) -> Vec<String> {
    match &p.clauses[clause].body {
        ClauseBody::Amount(_) => vec![String::new()],
        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        ClauseBody::Schedule(s) => {
            let vs = match p.facts[s.fact].ty {
                Ty::Enum(e) => &p.enums[e].variants,
                _ => return vec![],
            };
            s.stages
                .iter()
                .map(|(v, _)| vs[*v as usize].clone())
                .collect()
        }
    }
}

/// Every award source: checked rows sorted by (firm, clause name, period, tranche), with
/// duplicates reported.
pub(super) fn read_awards(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Vec<AwardRow> {
    let mut out = vec![];
    let clause_names: Vec<&str> = p.clauses.iter().map(|c| c.name.as_str()).collect();
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
        let n = source::scan(&s.file, &cols, errs, &mut |errs, row, cells| {
            if let Some(a) = src.row(errs, row, cells) {
                out.push(a);
            }
        });
        if let Some(n) = n {
            sources.push((s.file.clone(), n));
        }
    }
    let crank = ranks(&clause_names);
    out.sort_by(|a, b| {
        (
            a.firm,
            crank[a.clause as usize],
            a.period,
            &a.tranche,
            a.src,
            a.row,
        )
            .cmp(&(
                b.firm,
                crank[b.clause as usize],
                b.period,
                &b.tranche,
                b.src,
                b.row,
            ))
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.firm, a.clause, a.period, &a.tranche) == (b.firm, b.clause, b.period, &b.tranche) {
            let s = &plan.awards[b.src as usize];
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "重复的兑现记录（与第{}行相同的企业、条款、年度和分项）",
                        a.row
                    ),
                    format!(
                        "duplicate award (same firm, clause, period and tranche as row {})",
                        a.row
                    ),
                )
                .at(b.row as u64)
                .col(&s.clause),
            );
        }
    }
    out
}

/// One award source being read: its cells are id, clause, period, amount, [tranche].
struct AwardSrc<'a> {
    p: &'a Program,
    s: &'a AwardPlan,
    si: u16,
    firms: &'a Firms,
    clause_names: &'a [&'a str],
}

impl AwardSrc<'_> {
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
            errs.push(err(
                file,
                row,
                &s.clause,
                reason(
                    format!("政策包中没有条款 `{name}`；条款有：{}", names.join("、")),
                    format!(
                        "the pack has no clause `{name}`; its clauses are: {}",
                        names.join(", ")
                    ),
                ),
            ));
        }
        let period = parse::year(&cells[2]).map_err(|r| errs.push(err(file, row, &s.period, r)));
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
            period: period.ok()?,
            tranche,
            fen: fen?,
            row: row as u32,
            src: self.si,
        })
    }

    /// The tranche is one of the clause's (or empty for a clause without tranches).
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
        errs.push(err(
            &s.file,
            row,
            s.tranche.as_deref().unwrap_or(&s.clause),
            reason(
                format!(
                    "条款 `{name}` 没有分项 `{tranche}`；可用：{}",
                    list.join("、")
                ),
                format!(
                    "clause `{name}` has no tranche `{tranche}`; use one of: {}",
                    list.join(", ")
                ),
            ),
        ));
        false
    }
}
