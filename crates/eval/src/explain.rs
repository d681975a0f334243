//! Explanations for people and for machines: every condition with its value, threshold and
//! data source; how the amount was derived; for a near miss, what would have been needed.

use huiqi_ir::money::{fmt_money_en, fmt_money_zh};
use huiqi_ir::*;
use rust_decimal::Decimal;
use serde::Serialize;
use std::fmt::Write as _;

use crate::alloc::FirmOutcome;
use crate::clause::{CondOutcome, Reason, TrancheOutcome};
use crate::expr::{FactRead, TableHit};

fn money(d: Decimal, en: bool) -> String {
    if en {
        fmt_money_en(d)
    } else {
        fmt_money_zh(d)
    }
}

/// A reason's explanation in Chinese or (`en`) English (`huiqi_ir::reason::Reason::text`),
/// after the officer's own text when the failed condition or the matching negative list of
/// `clause` has one (`reason "…"`).
pub fn reason_text(p: &Program, clause: ClauseId, r: &Reason, en: bool) -> String {
    let note = match r {
        Reason::Condition {
            name,
            missing: false,
        } => p.clauses.get(clause).and_then(|c| c.condition_note(name)),
        Reason::Excluded { rule } => p
            .excludes
            .iter()
            .find(|x| &x.name == rule)
            .and_then(|x| x.cond.reason.as_deref()),
        _ => None,
    };
    match note {
        Some(n) if en => format!("{n} ({})", r.text(en)),
        Some(n) => format!("{n}（{}）", r.text(en)),
        None => r.text(en),
    }
}

fn value(p: &Program, v: &Value, ty_hint: Option<Ty>, en: bool) -> String {
    let names = match (v, ty_hint) {
        (Value::Enum(_), Some(t)) => p.enum_names(t),
        _ => None,
    };
    v.display(names, en)
}

fn fact_line(p: &Program, r: &FactRead, en: bool) -> String {
    let f = &p.facts[r.fact];
    let period = match (r.year, f.kind) {
        (Some(y), PeriodKind::Year | PeriodKind::Month) => format!("({y})"),
        (Some(y), PeriodKind::Event) => format!("({y})"),
        _ => String::new(),
    };
    let src = if en {
        format!("[source: {}]", f.source)
    } else {
        format!("〔来源：{}〕", f.source)
    };
    format!(
        "{}{period} = {} {src}",
        f.label,
        value(p, &r.value, Some(f.ty), en)
    )
}

/// "营收还差3.2亿元" for a failed threshold.
pub fn near_miss(p: &Program, c: &CondOutcome, en: bool) -> Option<String> {
    if c.passed() {
        return None;
    }
    let (l, op, r) = c.sides.as_ref()?;
    let (a, b) = (l.num()?, r.num()?);
    let subject = c
        .source
        .split(|ch: char| ch.is_whitespace() || "<>=!≥≤".contains(ch))
        .next()
        .unwrap_or("");
    let subject = p
        .fact_by_name(subject)
        .map(|f| p.facts[f].label.clone())
        .unwrap_or(subject.to_string());
    let diff = match op {
        BinOp::Ge | BinOp::Gt => b - a,
        BinOp::Le | BinOp::Lt => a - b,
        _ => return None,
    };
    if diff <= Decimal::ZERO {
        return None;
    }
    let amount = match l {
        Value::Money(_) => money(diff, en),
        Value::Ratio(_) => huiqi_ir::money::fmt_ratio(diff).replace(
            '%',
            if en {
                " percentage points"
            } else {
                "个百分点"
            },
        ),
        _ => huiqi_ir::money::fmt_plain(diff),
    };
    let strict = matches!(op, BinOp::Gt | BinOp::Lt);
    Some(match (op, en) {
        (BinOp::Ge | BinOp::Gt, false) => {
            format!("{subject}还差{amount}{}", if strict { "以上" } else { "" })
        }
        (BinOp::Ge | BinOp::Gt, true) => format!(
            "{subject} is {amount} short{}",
            if strict { " (or more)" } else { "" }
        ),
        (_, false) => format!("{subject}超出{amount}"),
        (_, true) => format!("{subject} exceeds the limit by {amount}"),
    })
}

fn table_line(p: &Program, h: &TableHit, en: bool) -> String {
    let t = &p.tables[h.table];
    let name = if t.name.starts_with("tiers@") {
        if en {
            "tiers".to_string()
        } else {
            "档位".to_string()
        }
    } else {
        t.name.clone()
    };
    let input = value(p, &h.input, None, en);
    match h.arm {
        Some(i) => {
            if en {
                format!("{name}({input}) → tier {}", t.arms[i].label)
            } else {
                format!("{name}({input}) → 档位 {}", t.arms[i].label)
            }
        }
        None => {
            let gap = match (h.input.num(), t.arms.first()) {
                (Some(x), Some(a)) if x < a.lo.value => Some(a.lo.value - x),
                _ => None,
            };
            match (gap, en) {
                (Some(g), false) => format!(
                    "{name}({input}) 未达最低档 {}，还差{}",
                    t.arms[0].label,
                    if t.input == Ty::Money {
                        money(g, en)
                    } else {
                        huiqi_ir::money::fmt_plain(g)
                    }
                ),
                (Some(g), true) => format!(
                    "{name}({input}) below the lowest tier {}, {} short",
                    t.arms[0].label,
                    if t.input == Ty::Money {
                        money(g, en)
                    } else {
                        huiqi_ir::money::fmt_plain(g)
                    }
                ),
                (None, false) => format!("{name}({input}) 不在任何档位"),
                (None, true) => format!("{name}({input}) falls in no tier"),
            }
        }
    }
}

fn cond_text(p: &Program, c: &CondOutcome, en: bool, out: &mut String) {
    let mark = match &c.value {
        Value::Bool(true) => "✓",
        Value::Bool(false) => "✗",
        _ => "?",
    };
    // Enum values print by name: take the enum of a fact the condition read.
    let enum_ty = enum_of(p, c);
    let sides = c
        .sides
        .as_ref()
        .map(|(l, op, r)| {
            format!(
                "  [{} {} {}]",
                value(p, l, enum_ty, en),
                op.symbol(),
                value(p, r, enum_ty, en)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(out, "    {mark} {}: {}{sides}", c.name, c.source);
    for f in &c.facts {
        let _ = writeln!(out, "        {}", fact_line(p, f, en));
    }
    for h in &c.tables {
        let _ = writeln!(out, "        {}", table_line(p, h, en));
    }
    if c.value.is_missing() {
        let _ = writeln!(
            out,
            "        → {}",
            if en {
                "missing data: the condition cannot be decided"
            } else {
                "数据缺失，无法判断"
            }
        );
    }
    if let Some(n) = near_miss(p, c, en) {
        let _ = writeln!(out, "        → {n}");
    }
}

fn tranche_text(
    p: &Program,
    clause: ClauseId,
    t: &TrancheOutcome,
    en: bool,
    out: &mut String,
    show_conditions: bool,
) {
    if show_conditions && !t.conditions.is_empty() {
        let _ = writeln!(out, "  {}", if en { "conditions:" } else { "条件：" });
        for c in &t.conditions {
            cond_text(p, c, en, out);
        }
    }
    let computed = !t.raw.is_missing() || t.amount_source.starts_with("schedule ");
    if !t.amount_source.is_empty() && computed {
        let raw = if t.raw.is_missing() && t.amount_source.starts_with("schedule ") {
            (if en {
                "no stage reached in this period"
            } else {
                "本期没有到达新的阶段"
            })
            .to_string()
        } else {
            value(p, &t.raw, None, en)
        };
        let _ = writeln!(
            out,
            "  {} {} = {raw}",
            if en { "amount:" } else { "金额：" },
            t.amount_source
        );
        for f in &t.amount_facts {
            let _ = writeln!(out, "        {}", fact_line(p, f, en));
        }
        for h in &t.amount_tables {
            let _ = writeln!(out, "        {}", table_line(p, h, en));
        }
        for (c, d) in &t.awarded {
            let _ = writeln!(
                out,
                "        {} {}: {}",
                if en {
                    "already awarded by"
                } else {
                    "已获奖励"
                },
                p.clauses[*c].name,
                money(*d, en)
            );
        }
    }
    for a in &t.adjustments {
        let _ = writeln!(
            out,
            "  {} {} → {}（{}）",
            if en { "adjusted:" } else { "调整：" },
            money(a.before, en),
            money(a.after, en),
            reason_text(p, clause, &a.reason, en)
        );
    }
    if let Some(r) = &t.reason {
        if t.amount.is_zero() {
            let _ = writeln!(
                out,
                "  {} {}",
                if en { "reason:" } else { "原因：" },
                reason_text(p, clause, r, en)
            );
        }
    }
}

/// Human-readable explanation of one firm's outcome (optionally one clause).
pub fn explain_text(
    p: &Program,
    firm: &Firm,
    o: &FirmOutcome,
    year: i32,
    only: Option<ClauseId>,
    en: bool,
) -> String {
    let mut out = String::new();
    if en {
        let _ = writeln!(
            out,
            "{} ({})  period {year}  policy {} v{}",
            firm.name, firm.id, p.policy.name, p.policy.version
        );
    } else {
        let _ = writeln!(
            out,
            "{}（{}）  {year}年度  政策 {} 版本 {}",
            firm.name, firm.id, p.policy.name, p.policy.version
        );
    }
    if !o.excluded_by.is_empty() {
        let _ = writeln!(
            out,
            "{} {}",
            if en {
                "negative list:"
            } else {
                "负面清单："
            },
            o.excluded_by.join(", ")
        );
    }
    for c in &o.clauses {
        if only.is_some_and(|x| x != c.clause) {
            continue;
        }
        let cl = &p.clauses[c.clause];
        let _ = writeln!(
            out,
            "\n━ {}  {}  → {}",
            cl.name,
            cl.reference,
            money(c.total(), en)
        );
        let _ = writeln!(
            out,
            "  {} {}",
            if en { "text: " } else { "原文：" },
            cl.text
        );
        for (n, v) in &c.lets {
            let _ = writeln!(out, "  {n} = {}", value(p, v, None, en));
        }
        let multi =
            c.tranches.len() > 1 || c.tranches.first().is_some_and(|t| !t.tranche.is_empty());
        for (i, t) in c.tranches.iter().enumerate() {
            if multi {
                let _ = writeln!(
                    out,
                    "  ┄ {} {} → {}",
                    if en { "tranche" } else { "分期" },
                    t.tranche,
                    money(t.amount, en)
                );
            }
            tranche_text(
                p,
                c.clause,
                t,
                en,
                &mut out,
                i == 0 || t.conditions.len() > c.tranches[0].conditions.len(),
            );
        }
    }
    for cap in p.firm_caps.iter().filter(|c| c.years > 1) {
        let used = crate::alloc::cap_used(cap, firm, year);
        let cut = o
            .clauses
            .iter()
            .flat_map(|c| &c.tranches)
            .flat_map(|t| &t.adjustments)
            .any(|a| matches!(&a.reason, Reason::FirmCap { cap: n } if *n == cap.name));
        if used.is_zero() && !cut {
            continue;
        }
        let (limit, room) = (
            p.figure(&cap.limit, year),
            crate::alloc::cap_room(p, cap, firm, year),
        );
        let from = year - (cap.years as i32 - 1);
        let _ = if en {
            writeln!(
                out,
                "\n{} ({} over {} years): {}–{} already awarded {}, room this year {}",
                cap.name,
                money(limit, en),
                cap.years,
                from,
                year - 1,
                money(used, en),
                money(room, en)
            )
        } else {
            writeln!(
                out,
                "\n{}（{}年累计 {}）：{}–{}年已获 {}，本年余额 {}",
                cap.name,
                cap.years,
                money(limit, en),
                from,
                year - 1,
                money(used, en),
                money(room, en)
            )
        };
    }
    let _ = writeln!(
        out,
        "\n{} {}",
        if en { "total:" } else { "合计：" },
        money(o.total(), en)
    );
    if only.is_none() && !p.clawbacks.is_empty() {
        clawback_text(p, firm, year, en, &mut out);
    }
    out
}

/// What the clawback rules recover from the firm this period, one line per earlier award.
fn clawback_text(p: &Program, firm: &Firm, year: i32, en: bool, out: &mut String) {
    match crate::clawback::clawbacks(p, firm, year) {
        Ok(recs) if recs.is_empty() => {}
        Ok(recs) => {
            let total: i64 = recs.iter().map(|r| r.amount_fen).sum();
            let _ = writeln!(
                out,
                "\n{} {}",
                if en { "to recover:" } else { "应追回：" },
                money(huiqi_ir::money::from_fen(total), en)
            );
            for r in &recs {
                let _ = writeln!(out, "  {}", crate::clawback::recovery_text(p, r, en));
            }
        }
        Err(b) => {
            let _ = writeln!(out, "\n{}", if en { b.to_string() } else { b.zh() });
        }
    }
}

/// A value as the JSON explanation writes it: `null`, `true`, `{"money_yuan": "…"}`,
/// `{"ratio": "…"}`, `{"count": "…"}`, `{"date": "…"}`, `{"enum": "…"}` or a text.
#[derive(Serialize)]
#[serde(untagged)]
pub enum JsonValue<'a> {
    Null,
    Bool(bool),
    Money {
        money_yuan: String,
    },
    Ratio {
        ratio: String,
    },
    Count {
        count: String,
    },
    Date {
        date: String,
    },
    Enum {
        #[serde(rename = "enum")]
        name: String,
    },
    Text(&'a str),
}

pub fn json_value_of<'a>(p: &Program, v: &'a Value, ty: Option<Ty>) -> JsonValue<'a> {
    match v {
        Value::Missing => JsonValue::Null,
        Value::Bool(b) => JsonValue::Bool(*b),
        Value::Money(d) => JsonValue::Money {
            money_yuan: d.to_string(),
        },
        Value::Ratio(d) => JsonValue::Ratio {
            ratio: d.to_string(),
        },
        Value::Count(d) => JsonValue::Count {
            count: d.to_string(),
        },
        Value::Date(d) => JsonValue::Date {
            date: d.to_string(),
        },
        Value::Enum(_) => JsonValue::Enum {
            name: value(p, v, ty, false),
        },
        Value::Text(t) => JsonValue::Text(t),
    }
}

pub fn json_value(p: &Program, v: &Value, ty: Option<Ty>) -> serde_json::Value {
    serde_json::to_value(json_value_of(p, v, ty)).unwrap_or(serde_json::Value::Null)
}

#[derive(Serialize)]
pub struct FactJson<'a> {
    fact: &'a str,
    label: &'a str,
    source: &'a str,
    period: Option<i32>,
    value: JsonValue<'a>,
}

fn fact_json<'a>(p: &'a Program, r: &'a FactRead) -> FactJson<'a> {
    let f = &p.facts[r.fact];
    FactJson {
        fact: &f.name,
        label: &f.label,
        source: &f.source,
        period: r.year,
        value: json_value_of(p, &r.value, Some(f.ty)),
    }
}

#[derive(Serialize)]
pub struct CondJson<'a> {
    name: &'a str,
    source: &'a str,
    value: JsonValue<'a>,
    lhs: Option<JsonValue<'a>>,
    op: Option<&'static str>,
    rhs: Option<JsonValue<'a>>,
    facts: Vec<FactJson<'a>>,
    near_miss: Option<String>,
}

#[derive(Serialize)]
pub struct AwardedJson<'a> {
    clause: &'a str,
    amount_yuan: String,
}

#[derive(Serialize)]
pub struct AmountJson<'a> {
    expression: &'a str,
    raw: JsonValue<'a>,
    facts: Vec<FactJson<'a>>,
    tiers: Vec<String>,
    awarded_before: Vec<AwardedJson<'a>>,
}

#[derive(Serialize)]
pub struct TrancheJson<'a> {
    tranche: &'a str,
    amount_yuan: String,
    amount_fen: i64,
    reason: &'a Option<Reason>,
    reason_text: Option<String>,
    conditions: Vec<CondJson<'a>>,
    amount: AmountJson<'a>,
    adjustments: &'a [crate::clause::Adjustment],
}

#[derive(Serialize)]
pub struct ClauseJson<'a> {
    clause: &'a str,
    #[serde(rename = "ref")]
    reference: &'a str,
    text: &'a str,
    amount_yuan: String,
    amount_fen: i64,
    tranches: Vec<TrancheJson<'a>>,
}

#[derive(Serialize)]
pub struct FirmRef<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
pub struct PolicyRef<'a> {
    name: &'a str,
    version: &'a str,
    hash: &'a str,
}

/// The machine-readable explanation as a typed tree that borrows from the program, the firm and
/// the outcome: serialised straight to bytes it builds no intermediate JSON values (the service
/// answers with it; [`explain_json`] is the same as a `serde_json::Value`).
#[derive(Serialize)]
pub struct ExplainJson<'a> {
    firm: FirmRef<'a>,
    period: i32,
    policy: PolicyRef<'a>,
    excluded_by: &'a [String],
    total_yuan: String,
    total_fen: i64,
    clauses: Vec<ClauseJson<'a>>,
    /// What the pack's clawback rules recover from the firm this period (absent without any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    clawbacks: Vec<ClawbackJson<'a>>,
}

/// One amount a clawback rule recovers.
#[derive(Serialize)]
pub struct ClawbackJson<'a> {
    rule: &'a str,
    reference: &'a str,
    clause: &'a str,
    tranche: String,
    award_period: i32,
    base_fen: i64,
    share: String,
    amount_yuan: String,
    amount_fen: i64,
    text: String,
}

fn tranche_json<'a>(p: &'a Program, clause: ClauseId, t: &'a TrancheOutcome) -> TrancheJson<'a> {
    TrancheJson {
        tranche: &t.tranche,
        amount_yuan: huiqi_ir::money::yuan_string(t.amount),
        amount_fen: huiqi_ir::money::to_fen(t.amount),
        reason: &t.reason,
        reason_text: t.reason.as_ref().map(|r| reason_text(p, clause, r, false)),
        conditions: t
            .conditions
            .iter()
            .map(|cd| CondJson {
                name: &cd.name,
                source: &cd.source,
                value: json_value_of(p, &cd.value, None),
                lhs: cd
                    .sides
                    .as_ref()
                    .map(|s| json_value_of(p, &s.0, enum_of(p, cd))),
                op: cd.sides.as_ref().map(|s| s.1.symbol()),
                rhs: cd
                    .sides
                    .as_ref()
                    .map(|s| json_value_of(p, &s.2, enum_of(p, cd))),
                facts: cd.facts.iter().map(|f| fact_json(p, f)).collect(),
                near_miss: near_miss(p, cd, false),
            })
            .collect(),
        amount: AmountJson {
            expression: &t.amount_source,
            raw: json_value_of(p, &t.raw, None),
            facts: t.amount_facts.iter().map(|f| fact_json(p, f)).collect(),
            tiers: t
                .amount_tables
                .iter()
                .map(|h| table_line(p, h, false))
                .collect(),
            awarded_before: t
                .awarded
                .iter()
                .map(|(c, d)| AwardedJson {
                    clause: &p.clauses[*c].name,
                    amount_yuan: huiqi_ir::money::yuan_string(*d),
                })
                .collect(),
        },
        adjustments: &t.adjustments,
    }
}

/// Machine-readable explanation, typed (see [`ExplainJson`]).
pub fn explain_typed<'a>(
    p: &'a Program,
    firm: &'a Firm,
    o: &'a FirmOutcome,
    year: i32,
    only: Option<ClauseId>,
) -> ExplainJson<'a> {
    let clauses = o
        .clauses
        .iter()
        .filter(|c| only.is_none_or(|x| x == c.clause))
        .map(|c| {
            let cl = &p.clauses[c.clause];
            ClauseJson {
                clause: &cl.name,
                reference: &cl.reference,
                text: &cl.text,
                amount_yuan: huiqi_ir::money::yuan_string(c.total()),
                amount_fen: huiqi_ir::money::to_fen(c.total()),
                tranches: c
                    .tranches
                    .iter()
                    .map(|t| tranche_json(p, c.clause, t))
                    .collect(),
            }
        })
        .collect();
    ExplainJson {
        firm: FirmRef {
            id: &firm.id,
            name: &firm.name,
        },
        period: year,
        policy: PolicyRef {
            name: &p.policy.name,
            version: &p.policy.version,
            hash: &p.hash,
        },
        excluded_by: &o.excluded_by,
        total_yuan: huiqi_ir::money::yuan_string(o.total()),
        total_fen: huiqi_ir::money::to_fen(o.total()),
        clauses,
        // A history beyond exact arithmetic recovers nothing here; the run refuses it.
        clawbacks: crate::clawback::clawbacks(p, firm, year)
            .unwrap_or_default()
            .into_iter()
            .filter(|_| only.is_none())
            .map(|r| {
                let rule = &p.clawbacks[r.rule];
                ClawbackJson {
                    rule: &rule.name,
                    reference: &rule.reference,
                    clause: &p.clauses[r.clause].name,
                    award_period: r.award_period,
                    base_fen: r.base_fen,
                    share: rule.share_text(r.num, r.den),
                    amount_yuan: huiqi_ir::money::yuan_string(r.amount()),
                    amount_fen: r.amount_fen,
                    text: crate::clawback::recovery_text(p, &r, false),
                    tranche: r.tranche,
                }
            })
            .collect(),
    }
}

/// Machine-readable explanation.
pub fn explain_json(
    p: &Program,
    firm: &Firm,
    o: &FirmOutcome,
    year: i32,
    only: Option<ClauseId>,
) -> serde_json::Value {
    serde_json::to_value(explain_typed(p, firm, o, year, only)).unwrap_or(serde_json::Value::Null)
}

/// The enum of a fact a condition read, so enum values print by name.
fn enum_of(p: &Program, c: &CondOutcome) -> Option<Ty> {
    c.facts
        .iter()
        .map(|f| p.facts[f.fact].ty)
        .find(|t| matches!(t, Ty::Enum(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `explain_json` carries reasons as serialised: tagged by kind, fields by name.
    #[test]
    fn reasons_serialise_with_their_kind() {
        let json = |r: &Reason| serde_json::to_string(r).unwrap();
        assert_eq!(
            json(&Reason::missing_amount()),
            r#"{"kind":"condition","name":"amount","missing":true}"#
        );
        assert_eq!(json(&Reason::OutOfWindow), r#"{"kind":"out_of_window"}"#);
        assert_eq!(json(&Reason::TotalCap), r#"{"kind":"total_cap"}"#);
        assert_eq!(
            json(&Reason::NotSelected {
                rule: "遴选".into(),
                rank: None,
                top: 2
            }),
            r#"{"kind":"not_selected","rule":"遴选","rank":null,"top":2}"#
        );
        assert_eq!(
            json(&Reason::Exclusive {
                group: "就高".into(),
                winner: "条款0".into()
            }),
            r#"{"kind":"exclusive","group":"就高","winner":"条款0"}"#
        );
        assert_eq!(Reason::TotalCap.text(false), "已达累计上限");
    }
}
