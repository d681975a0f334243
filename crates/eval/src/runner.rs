//! Runs a pack's `test` cases: evaluates each test's firms as a population and compares every
//! expectation, with a readable diff on failure.

use huiqi_ir::money::{fmt_money_en, fmt_money_zh};
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::alloc::{evaluate_population_checked, FirmOutcome};
use crate::clause::{Reason, TrancheOutcome};
use crate::clawback::{population_clawbacks, recovery_text, Recovery};
use crate::explain::reason_text;

#[derive(Debug)]
pub struct Failure {
    pub test: String,
    pub origin: Origin,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<Failure>,
}

/// What an expectation looks at: the amount (the firm's total, a clause's or a tranche's) and
/// the reasons behind it, tranche by tranche. A cap that cut the amount is a reason too (封顶 is
/// an adjustment, not a zero).
fn expected_of<'o>(o: &'o FirmOutcome, e: &Expect) -> (Decimal, Vec<(&'o str, Vec<&'o Reason>)>) {
    let Some(c) = e.clause else {
        return (o.total(), vec![]);
    };
    let ts: Vec<&TrancheOutcome> = o.clauses[c]
        .tranches
        .iter()
        .filter(|t| e.tranche.as_ref().is_none_or(|tn| &t.tranche == tn))
        .collect();
    let amount = match &e.tranche {
        None => o.clauses[c].total(),
        Some(_) => ts.iter().map(|t| t.amount).sum(),
    };
    let reasons = ts
        .iter()
        .map(|t| {
            let rs = t
                .reason
                .iter()
                .chain(t.adjustments.iter().map(|a| &a.reason))
                .collect();
            (t.tranche.as_str(), rs)
        })
        .collect();
    (amount, reasons)
}

/// `because X` holds when every tranche looked at has reason X: on a clause of several
/// tranches, without naming one, the reason must hold for each (a reason of one tranche says
/// nothing of the others' amounts). The tranches without it, when it fails.
fn because_fails<'a>(reasons: &[(&'a str, Vec<&Reason>)], b: &str) -> Vec<&'a str> {
    if reasons.is_empty() {
        return vec![""];
    }
    reasons
        .iter()
        .filter(|(_, rs)| !rs.iter().any(|r| r.matches(b)))
        .map(|(t, _)| *t)
        .collect()
}

pub fn run_tests(p: &Program, filter: Option<&str>, en: bool) -> Report {
    let mut rep = Report::default();
    let money = |d: Decimal| if en { fmt_money_en(d) } else { fmt_money_zh(d) };
    for t in &p.tests {
        if filter.is_some_and(|f| !t.name.contains(f)) {
            continue;
        }
        // A test that sets parameters runs on its own copy of the program.
        let own;
        let p = if t.sets.is_empty() {
            p
        } else {
            own = p.with_params(&t.sets);
            &own
        };
        let (outs, overflow) = evaluate_population_checked(p, &t.firms, t.period, false);
        let mut problems = vec![];
        // An amount beyond exact arithmetic is never paid: the test fails, naming it.
        if let Some(ov) = overflow {
            problems.push(if en {
                format!("  {ov}")
            } else {
                format!("  {}", ov.zh())
            });
        }
        // What the clawback rules recover, only when some expectation looks at it.
        let recovered = if t.expects.iter().any(|e| e.clawback.is_some()) {
            match population_clawbacks(p, &t.firms, t.period) {
                Ok(r) => r,
                Err(b) => {
                    problems.push(if en {
                        format!("  {b}")
                    } else {
                        format!("  {}", b.zh())
                    });
                    vec![vec![]; t.firms.len()]
                }
            }
        } else {
            vec![]
        };
        for e in &t.expects {
            if let Some(k) = e.clawback {
                let rs: Vec<&Recovery> = recovered[e.firm]
                    .iter()
                    .filter(|r| r.rule == k && e.clause.is_none_or(|c| c == r.clause))
                    .collect();
                let got: Decimal = rs.iter().map(|r| r.amount()).sum();
                if got != e.amount {
                    let what = format!(
                        "{}.{}{}",
                        t.firm_labels[e.firm],
                        p.clawbacks[k].name,
                        e.clause
                            .map(|c| format!(".{}", p.clauses[c].name))
                            .unwrap_or_default()
                    );
                    let lines: Vec<String> = rs.iter().map(|r| recovery_text(p, r, en)).collect();
                    problems.push(format!(
                        "  {}:{}: {what}\n    {} {}\n    {} {}{}",
                        e.origin.line,
                        e.origin.col,
                        if en { "expected:" } else { "期望：" },
                        money(e.amount),
                        if en { "actual:  " } else { "实际：" },
                        money(got),
                        if lines.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", lines.join("; "))
                        }
                    ));
                }
                continue;
            }
            let o = &outs[e.firm];
            let (got, reasons) = expected_of(o, e);
            let what = match e.clause {
                None => format!("{}.total", t.firm_labels[e.firm]),
                Some(c) => format!(
                    "{}.{}{}",
                    t.firm_labels[e.firm],
                    p.clauses[c].name,
                    e.tranche
                        .as_ref()
                        .map(|x| format!(".{x}"))
                        .unwrap_or_default()
                ),
            };
            if got != e.amount {
                let why = reasons
                    .iter()
                    .flat_map(|(_, rs)| rs.first())
                    .next()
                    .map(|r| format!(" ({})", reason_text(p, e.clause.unwrap_or(0), r, en)))
                    .unwrap_or_default();
                problems.push(format!(
                    "  {}:{}: {what}\n    {} {}\n    {} {}{why}",
                    e.origin.line,
                    e.origin.col,
                    if en { "expected:" } else { "期望：" },
                    money(e.amount),
                    if en { "actual:  " } else { "实际：" },
                    money(got)
                ));
            } else if let Some(b) = &e.because {
                let missing = because_fails(&reasons, b);
                if !missing.is_empty() {
                    let several = reasons.len() > 1;
                    let actual: Vec<String> = reasons
                        .iter()
                        .map(|(t, rs)| {
                            let rs: Vec<String> = rs
                                .iter()
                                .map(|r| reason_text(p, e.clause.unwrap_or(0), r, en))
                                .collect();
                            let rs = if rs.is_empty() {
                                "-".into()
                            } else {
                                rs.join("; ")
                            };
                            if several {
                                format!("{t}: {rs}")
                            } else {
                                rs
                            }
                        })
                        .collect();
                    let which = if several {
                        if en {
                            format!(" (not in tranche {})", missing.join(", "))
                        } else {
                            format!("（分期 {} 不是此原因）", missing.join("、"))
                        }
                    } else {
                        String::new()
                    };
                    problems.push(format!(
                        "  {}:{}: {what}\n    {} {b}{which}\n    {} {}",
                        e.origin.line,
                        e.origin.col,
                        if en {
                            "expected reason:"
                        } else {
                            "期望原因："
                        },
                        if en {
                            "actual reason:  "
                        } else {
                            "实际原因："
                        },
                        if actual.is_empty() {
                            "-".into()
                        } else {
                            actual.join(" | ")
                        }
                    ));
                }
            }
        }
        if problems.is_empty() {
            rep.passed += 1;
        } else {
            rep.failed.push(Failure {
                test: t.name.clone(),
                origin: t.origin.clone(),
                message: problems.join("\n"),
            });
        }
    }
    rep
}
