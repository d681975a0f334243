//! Clawbacks (追回): what a firm's `clawback` rules take back this period from its earlier
//! awards, in the rules' declared order. The reference for the columnar engine's
//! `huiqi_columnar::clawback`.

use std::collections::BTreeMap;

use huiqi_ir::money::{self, add_checked, from_fen, to_scaled, ONE};
use huiqi_ir::*;
use rust_decimal::Decimal;

/// One amount to recover: a rule, the earlier award it takes from, and how much.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// Index in `Program::clawbacks`.
    pub rule: usize,
    pub clause: ClauseId,
    pub tranche: String,
    pub award_period: i32,
    /// The first trigger record dated in the period.
    pub trigger: Date,
    /// What the history held for the award before this rule (net of the rules declared
    /// before it), in 分, rounded half up.
    pub base_fen: i64,
    /// The share taken: numerator and denominator (`share remaining`: years left / years).
    pub num: i128,
    pub den: i128,
    /// 分, above zero.
    pub amount_fen: i64,
}

impl Recovery {
    pub fn amount(&self) -> Decimal {
        from_fen(self.amount_fen)
    }
}

/// A firm whose history for an award is beyond the range of exact arithmetic: nothing is
/// recovered from it silently; the run stops naming it.
#[derive(Clone, Debug, PartialEq)]
pub struct Beyond {
    pub firm: String,
    pub rule: String,
}

impl std::fmt::Display for Beyond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "firm {}, clawback {}: the award history to recover from is beyond the range of exact arithmetic",
            self.firm, self.rule
        )
    }
}

impl Beyond {
    pub fn zh(&self) -> String {
        format!(
            "企业 {}，追回规则 {}：可追回的奖励历史超出精确运算范围",
            self.firm, self.rule
        )
    }
}

/// The first record of an event fact dated inside `year`.
fn triggered(firm: &Firm, fact: FactId, year: i32) -> Option<Date> {
    let FactData::Events(recs) = &firm.facts[fact] else {
        return None;
    };
    let (from, to) = (Date::year_start(year), Date::year_end(year));
    recs.iter().map(|r| r.date).find(|d| *d >= from && *d <= to)
}

/// What `p`'s clawback rules recover from `firm` in `year`, rule by rule (declared order), then
/// by clause (declaration order), tranche and award period. Each rule takes its share of what
/// the firm's award history holds for an award of the `years` periods before, less what the
/// rules before it took this period.
pub fn clawbacks(p: &Program, firm: &Firm, year: i32) -> Result<Vec<Recovery>, Beyond> {
    let mut out = vec![];
    // (clause, tranche, period) → 分 taken by the earlier rules this period.
    let mut taken: BTreeMap<(ClauseId, String, i32), i64> = BTreeMap::new();
    for (k, rule) in p.clawbacks.iter().enumerate() {
        let Some(trigger) = triggered(firm, rule.trigger, year) else {
            continue;
        };
        let beyond = || Beyond {
            firm: firm.id.clone(),
            rule: rule.name.clone(),
        };
        // The history of each award the rule reaches, summed exactly.
        let mut held: BTreeMap<(ClauseId, String, i32), i128> = BTreeMap::new();
        for a in &firm.awards {
            if rule.clauses.contains(&a.clause) && rule.share_of(a.period, year).is_some() {
                let v = to_scaled(a.amount).unwrap_or(money::OVERFLOW);
                let e = held
                    .entry((a.clause, a.tranche.clone(), a.period))
                    .or_insert(0);
                *e = add_checked(*e, v);
            }
        }
        for (key, v) in held {
            let before = taken.get(&key).copied().unwrap_or(0);
            let base = money::sub_checked(v, i128::from(before) * (ONE / 100));
            let (num, den) = rule.share_of(key.2, year).unwrap_or((0, 1));
            let amount_fen = recover_fen(base, num, den).ok_or_else(beyond)?;
            if amount_fen <= 0 {
                continue;
            }
            let base_fen = recover_fen(base, 1, 1).ok_or_else(beyond)?;
            *taken.entry(key.clone()).or_insert(0) += amount_fen;
            out.push(Recovery {
                rule: k,
                clause: key.0,
                tranche: key.1,
                award_period: key.2,
                trigger,
                base_fen,
                num,
                den,
                amount_fen,
            });
        }
    }
    Ok(out)
}

/// Every firm's recoveries (the population's order), or the first firm beyond range.
pub fn population_clawbacks(
    p: &Program,
    firms: &[Firm],
    year: i32,
) -> Result<Vec<Vec<Recovery>>, Beyond> {
    firms.iter().map(|f| clawbacks(p, f, year)).collect()
}

/// One recovery as an explanation line: `追回 迁出追回：2022年 研发投入奖励 已获 100万元，按剩余3/5年限追回 60万元`.
pub fn recovery_text(p: &Program, r: &Recovery, en: bool) -> String {
    let rule = &p.clawbacks[r.rule];
    let clause = &p.clauses[r.clause].name;
    let what = if r.tranche.is_empty() {
        clause.clone()
    } else {
        format!("{clause}·{}", r.tranche)
    };
    let share = rule.share_text(r.num, r.den);
    let (base, amount) = (from_fen(r.base_fen), r.amount());
    if en {
        let how = match rule.share {
            Share::Remaining => format!("{share} of the term remaining"),
            Share::Ratio(_) => share,
        };
        format!(
            "clawback {}: {what} of {}, {} received; {how}, {} recovered",
            rule.name,
            r.award_period,
            money::fmt_money_en(base),
            money::fmt_money_en(amount)
        )
    } else {
        let how = match rule.share {
            Share::Remaining => format!("按剩余{share}年限"),
            Share::Ratio(_) => format!("按{share}"),
        };
        format!(
            "追回 {}：{}年 {what} 已获 {}，{how}追回 {}",
            rule.name,
            r.award_period,
            money::fmt_money_zh(base),
            money::fmt_money_zh(amount)
        )
    }
}
