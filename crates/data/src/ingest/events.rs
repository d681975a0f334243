//! Reading event and award sources: dated records and award history, checked against the
//! program's event facts, enum values, clauses and tranches.

use huiqi_ir::{ClauseBody, PeriodKind, Program, Ty};

use super::read::{err, unknown_firm};
use super::store::*;
use crate::dates::{from_days, to_days};
use crate::error::{DataError, Errors, Reason};
use crate::mapping::{EventFact, FileRef, Plan};
use crate::parse;
use crate::source;

pub(super) fn read_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Vec<Event> {
    let mut out = vec![];
    for (si, s) in plan.events.iter().enumerate() {
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
        let file = &s.file;
        let event_facts: Vec<&str> = p
            .facts
            .iter()
            .filter(|f| f.kind == PeriodKind::Event)
            .map(|f| f.name.as_str())
            .collect();
        let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
            let firm = match parse::uscc(&cells[0]) {
                Ok(id) => firms.find(&id).or_else(|| {
                    errs.push(unknown_firm(file, row, &s.id, &id));
                    None
                }),
                Err(r) => {
                    errs.push(err(file, row, &s.id, r));
                    None
                }
            };
            let fact = match &s.fact {
                EventFact::Fixed(f) => Some(*f),
                EventFact::Column(c) => {
                    let mut buf = String::new();
                    let name = parse::text(&cells[2], &mut buf)
                        .ok()
                        .flatten()
                        .unwrap_or("");
                    match p.fact_by_name(name) {
                        Some(f) if p.facts[f].kind == PeriodKind::Event => Some(f),
                        _ => {
                            errs.push(
                                DataError::new(
                                    &file.shown,
                                    format!("`{name}` 不是政策包中的事件事实；事件事实有：{}", event_facts.join("、")),
                                    format!("`{name}` is not an event fact of the pack; the event facts are: {}", event_facts.join(", ")),
                                )
                                .at(row)
                                .col(c.as_str()),
                            );
                            None
                        }
                    }
                }
            };
            let date = match parse::date(&cells[1]) {
                Ok(Some(d)) => Some(d),
                Ok(None) => {
                    errs.push(err(
                        file,
                        row,
                        &s.date,
                        Reason {
                            zh: "日期为空".into(),
                            en: "the date is empty".into(),
                        },
                    ));
                    None
                }
                Err(r) => {
                    errs.push(err(file, row, &s.date, r));
                    None
                }
            };
            let until = match until_at {
                Some(k) => match parse::date(&cells[k]) {
                    Ok(u) => u,
                    Err(r) => {
                        errs.push(err(file, row, s.until.as_deref().unwrap_or(""), r));
                        None
                    }
                },
                None => None,
            };
            if let (Some(d), Some(u)) = (date, until) {
                if u < d {
                    errs.push(err(
                        file,
                        row,
                        s.until.as_deref().unwrap_or(""),
                        Reason {
                            zh: format!("有效期止 {u} 早于日期 {d}"),
                            en: format!("valid-until {u} is before the date {d}"),
                        },
                    ));
                }
            }
            let Some(fact) = fact else { return };
            let value = match (p.facts[fact].ty, value_at) {
                (Ty::Enum(e), Some(k)) => {
                    let en = &p.enums[e];
                    match parse::variant(&cells[k], &en.name, &en.variants) {
                        Ok(Some(v)) => Some(v),
                        Ok(None) => {
                            errs.push(err(
                                file,
                                row,
                                s.value.as_deref().unwrap_or(""),
                                Reason {
                                    zh: format!(
                                        "事件 `{}` 需要取值（{}），此处为空",
                                        p.facts[fact].name,
                                        en.variants.join("、")
                                    ),
                                    en: format!(
                                        "event `{}` needs a value ({}); the cell is empty",
                                        p.facts[fact].name,
                                        en.variants.join(", ")
                                    ),
                                },
                            ));
                            return;
                        }
                        Err(r) => {
                            errs.push(err(file, row, s.value.as_deref().unwrap_or(""), r));
                            return;
                        }
                    }
                }
                (Ty::Enum(_), None) => {
                    errs.push(
                        DataError::new(
                            &file.shown,
                            format!(
                                "事件 `{}` 需要取值，但映射文件没有给出 value 列",
                                p.facts[fact].name
                            ),
                            format!(
                                "event `{}` needs a value but the mapping gives no `value` column",
                                p.facts[fact].name
                            ),
                        )
                        .at(row),
                    );
                    return;
                }
                (_, Some(k)) if !cells[k].is_empty() => {
                    errs.push(err(
                        file,
                        row,
                        s.value.as_deref().unwrap_or(""),
                        Reason {
                            zh: format!("事件 `{}` 不带取值，此格应为空", p.facts[fact].name),
                            en: format!(
                                "event `{}` carries no value; this cell should be empty",
                                p.facts[fact].name
                            ),
                        },
                    ));
                    return;
                }
                _ => None,
            };
            if let (Some(firm), Some(date)) = (firm, date) {
                out.push(Event {
                    firm,
                    fact: fact as u32,
                    date: to_days(date),
                    until: until.map_or(NO_DATE, to_days),
                    value: value.unwrap_or(NO_VALUE),
                    row: row as u32,
                    src: si as u16,
                });
            }
        });
        if let Some(n) = n {
            sources.push((file.clone(), n));
        }
    }
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
    out.sort_unstable_by_key(|e| {
        (
            e.firm,
            fact_rank[e.fact as usize],
            e.date,
            vrank(e),
            e.src,
            e.row,
        )
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.firm, a.fact, a.date, a.value) == (b.firm, b.fact, b.date, b.value) {
            let s = &plan.events[b.src as usize];
            let other = if a.src == b.src {
                format!("第{}行", a.row)
            } else {
                format!("{} 第{}行", plan.events[a.src as usize].file.shown, a.row)
            };
            let other_en = if a.src == b.src {
                format!("row {}", a.row)
            } else {
                format!("{} row {}", plan.events[a.src as usize].file.shown, a.row)
            };
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "重复的事件记录：企业 `{}` 的 `{}` 在 {} 已有一条（{other}）",
                        firms.id(a.firm as usize),
                        p.facts[a.fact as usize].name,
                        from_days(a.date)
                    ),
                    format!(
                        "duplicate event: firm `{}` already has `{}` on {} ({other_en})",
                        firms.id(a.firm as usize),
                        p.facts[a.fact as usize].name,
                        from_days(a.date)
                    ),
                )
                .at(b.row as u64)
                .col(&s.date),
            );
        }
    }
    out
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
        let file = &s.file;
        let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
            let firm = match parse::uscc(&cells[0]) {
                Ok(id) => firms.find(&id).or_else(|| {
                    errs.push(unknown_firm(file, row, &s.id, &id));
                    None
                }),
                Err(r) => {
                    errs.push(err(file, row, &s.id, r));
                    None
                }
            };
            let mut buf = String::new();
            let name = parse::text(&cells[1], &mut buf)
                .ok()
                .flatten()
                .unwrap_or("")
                .to_string();
            let clause = p.clause_by_name(&name);
            if clause.is_none() {
                errs.push(err(
                    file,
                    row,
                    &s.clause,
                    Reason {
                        zh: format!(
                            "政策包中没有条款 `{name}`；条款有：{}",
                            clause_names.join("、")
                        ),
                        en: format!(
                            "the pack has no clause `{name}`; its clauses are: {}",
                            clause_names.join(", ")
                        ),
                    },
                ));
            }
            let period =
                parse::year(&cells[2]).map_err(|r| errs.push(err(file, row, &s.period, r)));
            let fen = match parse::money(&cells[3], s.unit) {
                Ok(Some(f)) if f >= 0 => Some(f),
                Ok(_) => {
                    errs.push(err(
                        file,
                        row,
                        &s.amount,
                        Reason {
                            zh: "兑现金额为空或为负".into(),
                            en: "the amount is empty or negative".into(),
                        },
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
            let Some(c) = clause else { return };
            let allowed = tranche_names(p, c);
            if !allowed.contains(&tranche) {
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
                errs.push(err(
                    file,
                    row,
                    s.tranche.as_deref().unwrap_or(&s.clause),
                    Reason {
                        zh: format!(
                            "条款 `{name}` 没有分项 `{tranche}`；可用：{}",
                            list.join("、")
                        ),
                        en: format!(
                            "clause `{name}` has no tranche `{tranche}`; use one of: {}",
                            list.join(", ")
                        ),
                    },
                ));
                return;
            }
            if let (Some(firm), Ok(period), Some(fen)) = (firm, period, fen) {
                out.push(AwardRow {
                    firm,
                    clause: c as u32,
                    period,
                    tranche,
                    fen,
                    row: row as u32,
                    src: si as u16,
                });
            }
        });
        if let Some(n) = n {
            sources.push((file.clone(), n));
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
