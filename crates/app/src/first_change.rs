//! For the firms a simulation lists by name: per clause whose amount changed, the first
//! condition (in written order) whose outcome changed between the two versions, as a sentence —
//! "营收门槛：营业收入 9200万 ≥ 1亿 → ≥ 8000万，现达标". The reference evaluator explains the
//! firm under both packs; only the listed firms are read from the snapshot.

use std::collections::BTreeSet;
use std::path::Path;

use huiqi_eval::clause::{CondOutcome, TrancheOutcome};
use huiqi_eval::ClauseOutcome;
use huiqi_ir::{Firm, Program, Value};

use crate::simulate::FirmDelta;
use crate::{Error, Result};

/// Fills `first_changes` of each firm.
pub fn fill<'a>(
    base: &Program,
    reform: &Program,
    snapshot: &Path,
    period: i32,
    firms: impl Iterator<Item = &'a mut FirmDelta>,
) -> Result<()> {
    let mut firms: Vec<&mut FirmDelta> = firms.collect();
    if firms.is_empty() {
        return Ok(());
    }
    let ids: BTreeSet<String> = firms.iter().map(|f| f.firm_id.clone()).collect();
    let load = |p: &Program| {
        huiqi_data::load_snapshot_firms(snapshot, p, &ids)
            .map_err(|e| Error::plain(format!("{}: {e}", snapshot.display())))
    };
    // A reform of parameters reads the firms as the base does: one load serves both.
    let same_facts = format!("{:?}{:?}", base.facts, base.enums)
        == format!("{:?}{:?}", reform.facts, reform.enums);
    let on_base = load(base)?;
    let on_reform = if same_facts {
        on_base.clone()
    } else {
        load(reform)?
    };
    for fd in firms.iter_mut() {
        let (Some(fb), Some(fr)) = (
            on_base.iter().find(|f| f.id == fd.firm_id),
            on_reform.iter().find(|f| f.id == fd.firm_id),
        ) else {
            continue;
        };
        let (ob, or) = (outcome(base, fb, period)?, outcome(reform, fr, period)?);
        fd.first_changes = fd
            .clauses
            .iter()
            .filter_map(|(clause, _)| {
                let cb = ob.iter().find(|c| base.clauses[c.clause].name == *clause);
                let cr = or.iter().find(|c| reform.clauses[c.clause].name == *clause);
                first_change(clause, cb, cr)
            })
            .collect();
    }
    Ok(())
}

/// The firm alone: its conditions do not depend on other firms (a pool or a ranking may, but
/// those are not conditions).
fn outcome(p: &Program, firm: &Firm, period: i32) -> Result<Vec<ClauseOutcome>> {
    let mut outs = huiqi_eval::try_evaluate_population(p, std::slice::from_ref(firm), period, true)
        .map_err(|o| Error::plain(format!("{o:?}")))?;
    Ok(outs.pop().map(|o| o.clauses).unwrap_or_default())
}

/// Conditions of a clause in written order, each with its tranche ("" for the clause's own).
fn conditions(c: &ClauseOutcome) -> Vec<(&str, &CondOutcome)> {
    let mut seen: Vec<(&str, &CondOutcome)> = vec![];
    for t in &c.tranches {
        for k in &t.conditions {
            // The clause's own conditions repeat in every tranche: keep the first.
            if !seen.iter().any(|(_, x)| x.name == k.name) {
                seen.push((tranche_name(t), k));
            }
        }
    }
    seen
}

fn tranche_name(t: &TrancheOutcome) -> &str {
    &t.tranche
}

fn show(v: &Value) -> String {
    v.display(None, false)
}

/// The left side of a comparison as written (`营业收入` of `营业收入 >= 1亿`).
fn subject(source: &str) -> &str {
    source
        .split(|ch: char| ch.is_whitespace() || "<>=!≥≤".contains(ch))
        .next()
        .unwrap_or(source)
}

fn first_change(
    clause: &str,
    cb: Option<&ClauseOutcome>,
    cr: Option<&ClauseOutcome>,
) -> Option<String> {
    let (cb, cr) = match (cb, cr) {
        (Some(b), Some(r)) => (b, r),
        (None, Some(_)) => return Some(format!("{clause}：改革后新增的条款")),
        (Some(_), None) => return Some(format!("{clause}：改革后删去的条款")),
        (None, None) => return None,
    };
    let rc = conditions(cr);
    for (_, b) in conditions(cb) {
        let Some((_, r)) = rc.iter().find(|(_, r)| r.name == b.name) else {
            continue;
        };
        if b.passed() == r.passed() {
            continue;
        }
        let now = if r.passed() {
            "现达标"
        } else {
            "现不达标"
        };
        let sides = match (&b.sides, &r.sides) {
            // The firm's figure is the same: the threshold moved ("门槛 ≥ 1亿元 → ≥ 8000万元；
            // 营业收入 9200万元").
            (Some((bl, op, br)), Some((rl, rop, rr))) if bl == rl && br != rr => format!(
                "门槛 {} {} → {} {}；{} {}",
                op.symbol(),
                show(br),
                rop.symbol(),
                show(rr),
                subject(&b.source),
                show(bl)
            ),
            (Some((bl, op, br)), Some((rl, rop, rr))) => format!(
                "{} {} {} → {} {} {}",
                show(bl),
                op.symbol(),
                show(br),
                show(rl),
                rop.symbol(),
                show(rr)
            ),
            _ if b.source != r.source => format!("{} → {}", b.source, r.source),
            _ => b.source.clone(),
        };
        return Some(format!("{clause}·{}：{sides}，{now}", b.name));
    }
    // No condition changed its outcome: the amount did (a figure, a tier) or a rule across
    // firms or clauses did. The firm evaluated alone shows which.
    let (tb, tr) = (cb.total(), cr.total());
    Some(if tb == tr {
        format!("{clause}：条件与单独测算额均未变，变化来自跨条款或跨企业规则（就高、资金池、遴选、上限）")
    } else {
        format!(
            "{clause}：条件结果未变，单独测算额 {} → {}",
            huiqi_ir::money::fmt_money_zh(tb),
            huiqi_ir::money::fmt_money_zh(tr)
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use rust_decimal::Decimal;

    /// The seed pack and a copy whose 成长矩阵奖励 starts at 8000万 instead of 1亿: a firm with
    /// 9200万 now passes 营收过亿, and the sentence says so with both thresholds and its figure.
    #[test]
    fn the_first_condition_whose_outcome_changed_is_named_with_its_figures() {
        let dir = std::env::temp_dir().join(format!("huiqi-first-change-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir("../../policies/ningbo").unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "hq") {
                continue;
            }
            let mut text = std::fs::read_to_string(&p).unwrap();
            if p.ends_with("matrix.hq") {
                text = text
                    .replace("营业收入 >= 1亿", "营业收入 >= 8000万")
                    .replace("[1亿, 5亿)", "[8000万, 5亿)");
            }
            std::fs::write(dir.join(p.file_name().unwrap()), text).unwrap();
        }
        let base = crate::pack::load(std::path::Path::new("../../policies/ningbo")).unwrap();
        let reform = crate::pack::load(&dir).unwrap();
        let firm = r#"
id   = "91330201MA2CQX070X"
name = "测试企业"
[facts]
"行业" = "制造业"
"营业收入" = { 2021 = "5000万", 2022 = "8500万", 2023 = "9200万" }
"研发费用" = { 2021 = "200万", 2022 = "250万", 2023 = "400万" }
"高企证书" = [ { date = 2022-05-01, until = 2025-04-30 } ]
"#;
        let fb = crate::explain::parse_firm(&base.program, firm, false).unwrap();
        let fr = crate::explain::parse_firm(&reform.program, firm, false).unwrap();
        let ob = outcome(&base.program, &fb, 2023).unwrap();
        let or = outcome(&reform.program, &fr, 2023).unwrap();
        let pick = |p: &Program, o: &[ClauseOutcome]| {
            o.iter()
                .find(|c| p.clauses[c.clause].name == "成长矩阵奖励")
                .cloned()
        };
        let (cb, cr) = (
            pick(&base.program, &ob).unwrap(),
            pick(&reform.program, &or).unwrap(),
        );
        assert_eq!(cb.total(), Decimal::ZERO);
        // 8.2% growth this year: not a 瞪羚, whose award would win 就高 over this one.
        assert!(cr.total() > Decimal::ZERO);
        let s = first_change("成长矩阵奖励", Some(&cb), Some(&cr)).unwrap();
        assert!(s.starts_with("成长矩阵奖励·营收过亿："), "{s}");
        assert!(s.contains("门槛 >= 1亿元 → >= 8000万元"), "{s}");
        assert!(s.contains("营业收入 9200万元"), "{s}");
        assert!(s.ends_with("现达标"), "{s}");
        // The same outcome on both sides: no condition moved, and the sentence says so.
        let same = first_change("成长矩阵奖励", Some(&cb), Some(&cb)).unwrap();
        assert!(same.contains("均未变"), "{same}");
        assert_eq!(
            first_change("甲", None, Some(&cr)).unwrap(),
            "甲：改革后新增的条款"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
