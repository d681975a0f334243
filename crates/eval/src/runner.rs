//! Runs a pack's `test` cases: evaluates each test's firms as a population and compares every
//! expectation, with a readable diff on failure.

use huiqi_ir::money::{fmt_money_en, fmt_money_zh};
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::alloc::evaluate_population;
use crate::clause::Reason;
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

pub fn run_tests(p: &Program, filter: Option<&str>, en: bool) -> Report {
    let mut rep = Report::default();
    let money = |d: Decimal| if en { fmt_money_en(d) } else { fmt_money_zh(d) };
    for t in &p.tests {
        if filter.is_some_and(|f| !t.name.contains(f)) {
            continue;
        }
        let outs = evaluate_population(p, &t.firms, t.period, false);
        let mut problems = vec![];
        for e in &t.expects {
            let o = &outs[e.firm];
            let (got, reasons): (Decimal, Vec<&Reason>) = match (e.clause, &e.tranche) {
                (None, _) => (o.total(), vec![]),
                (Some(c), None) => (
                    o.clauses[c].total(),
                    // A cap that cut the amount is a reason too (封顶 is an adjustment, not a zero).
                    o.clauses[c]
                        .tranches
                        .iter()
                        .flat_map(|t| {
                            t.reason
                                .iter()
                                .chain(t.adjustments.iter().map(|a| &a.reason))
                        })
                        .collect(),
                ),
                (Some(c), Some(tn)) => {
                    let ts: Vec<_> = o.clauses[c]
                        .tranches
                        .iter()
                        .filter(|t| &t.tranche == tn)
                        .collect();
                    (
                        ts.iter().map(|t| t.amount).sum(),
                        ts.iter()
                            .flat_map(|t| {
                                t.reason
                                    .iter()
                                    .chain(t.adjustments.iter().map(|a| &a.reason))
                            })
                            .collect(),
                    )
                }
            };
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
                    .first()
                    .map(|r| format!(" ({})", reason_text(r, en)))
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
                if !reasons.iter().any(|r| r.matches(b)) {
                    let actual: Vec<String> = reasons.iter().map(|r| reason_text(r, en)).collect();
                    problems.push(format!(
                        "  {}:{}: {what}\n    {} {b}\n    {} {}",
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
                            actual.join("; ")
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
