//! One firm under a pack: what it gets, clause by clause, and why (not).

use std::path::Path;

use huiqi_data::firmfile;
use huiqi_eval::{explain, try_evaluate_population};
use huiqi_ir::{Firm, Program};

use crate::{Error, Result};

/// A firm evaluated alone for one year, ready to render.
pub struct Explanation<'p> {
    pub program: &'p Program,
    pub firm: Firm,
    pub year: i32,
    /// Only this clause (its index), or every clause.
    pub only: Option<usize>,
    outcome: huiqi_eval::FirmOutcome,
}

/// Reads a firm file (TOML, or JSON by its extension).
pub fn read_firm(program: &Program, path: &Path) -> Result<Firm> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let is_json = path.extension().is_some_and(|x| x == "json");
    firmfile::parse_firm(program, &text, is_json).map_err(|err| Error::FirmFile {
        path: path.to_path_buf(),
        err: Box::new(err),
    })
}

/// The firm files (`*.toml`, `*.json`) of a directory, in file name order.
pub fn firm_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml" || x == "json") {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// A value of type `ty` as the pack writes it (`2500万`, `3%`, `20`): what a form shows and
/// takes back.
pub fn value_text(p: &Program, ty: huiqi_ir::Ty, v: &huiqi_ir::Value) -> String {
    firmfile::value_text(p, ty, v)
}

/// A type's name as a form shows it.
pub fn type_name(p: &Program, ty: huiqi_ir::Ty) -> String {
    use huiqi_ir::Ty;
    match ty {
        Ty::Money => "金额".into(),
        Ty::Ratio => "比例".into(),
        Ty::Count => "整数".into(),
        Ty::Bool => "是/否".into(),
        Ty::Date => "日期".into(),
        Ty::Text => "文本".into(),
        Ty::Enum(e) => p.enums[e].name.clone(),
    }
}

/// The latest year with yearly data: the default period of an explanation.
pub fn latest_year(firm: &Firm) -> Option<i32> {
    firm.facts
        .iter()
        .filter_map(|f| match f {
            huiqi_ir::FactData::Yearly(ys) => ys.last().map(|(y, _)| *y),
            _ => None,
        })
        .max()
}

/// Evaluates `firm` alone for `period` (default: its latest year), optionally one clause only.
pub fn explain<'p>(
    program: &'p Program,
    firm: Firm,
    period: Option<i32>,
    clause: Option<&str>,
) -> Result<Explanation<'p>> {
    let year = period.or_else(|| latest_year(&firm)).ok_or_else(|| {
        Error::usage(
            "请用 --period 指定年度（企业数据中没有年度数据）",
            "give --period (the firm has no yearly data)",
        )
    })?;
    let only = match clause {
        Some(c) => Some(program.clause_by_name(c).ok_or_else(|| {
            let names: Vec<&str> = program.clauses.iter().map(|c| c.name.as_str()).collect();
            Error::usage(
                format!("未知的条款 `{c}`; 可用条款: {}", names.join(", ")),
                format!("unknown clause `{c}`; clauses: {}", names.join(", ")),
            )
        })?),
        None => None,
    };
    let mut outs = try_evaluate_population(program, std::slice::from_ref(&firm), year, true)?;
    let outcome = outs.pop().ok_or_else(|| Error::plain("no outcome"))?;
    Ok(Explanation {
        program,
        firm,
        year,
        only,
        outcome,
    })
}

impl Explanation<'_> {
    pub fn text(&self, en: bool) -> String {
        explain::explain_text(
            self.program,
            &self.firm,
            &self.outcome,
            self.year,
            self.only,
            en,
        )
    }

    pub fn json(&self) -> serde_json::Value {
        explain::explain_json(
            self.program,
            &self.firm,
            &self.outcome,
            self.year,
            self.only,
        )
    }

    /// The same as [`Explanation::json`], typed: serialise it straight to bytes.
    pub fn json_typed(&self) -> huiqi_eval::explain::ExplainJson<'_> {
        explain::explain_typed(
            self.program,
            &self.firm,
            &self.outcome,
            self.year,
            self.only,
        )
    }

    /// Selections, pools and group caps are allocated over a population: alone, a firm is its
    /// own population.
    pub fn population_caveat(&self) -> bool {
        !self.program.selects.is_empty()
            || !self.program.pools.is_empty()
            || !self.program.group_caps.is_empty()
    }

    pub fn outcome(&self) -> &huiqi_eval::FirmOutcome {
        &self.outcome
    }
}

/// One figure a what-if changes: a fact by name and its new value as typed (a firm file's
/// spellings: `2500万`, `3%`, `是`; empty: no value).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Change {
    pub fact: String,
    pub value: String,
}

/// A figure a what-if did change: in the explanation's year (a yearly fact) or its one value
/// (a static fact), before and after.
#[derive(Clone, Debug)]
pub struct Changed {
    pub fact: usize,
    pub year: Option<i32>,
    pub before: huiqi_ir::Value,
    pub after: huiqi_ir::Value,
}

/// A firm's figures on file and the same figures with some changed, both decided.
pub struct WhatIf<'p> {
    pub on_file: Explanation<'p>,
    pub what_if: Explanation<'p>,
    /// Only the changes that differ from the figures on file.
    pub changed: Vec<Changed>,
}

/// The what-if calculator on a firm's figures on file: apply `changes` in `period` (default: the
/// firm's latest year) and decide every clause both ways. Yearly and static facts can change;
/// monthly and event data cannot (say so rather than ignore it).
pub fn what_if<'p>(
    program: &'p Program,
    firm: Firm,
    period: Option<i32>,
    changes: &[Change],
) -> Result<WhatIf<'p>> {
    let on_file = explain(program, firm.clone(), period, None)?;
    let year = on_file.year;
    let mut changed_firm = firm;
    let mut changed = vec![];
    for c in changes {
        let fact = program.fact_by_name(&c.fact).ok_or_else(|| {
            Error::usage(
                format!("未知的事实 `{}`", c.fact),
                format!("unknown fact `{}`", c.fact),
            )
        })?;
        let f = &program.facts[fact];
        if matches!(
            f.kind,
            huiqi_ir::PeriodKind::Month | huiqi_ir::PeriodKind::Event
        ) {
            return Err(Error::usage(
                format!("“{}”是按月或事件记录的数据，测算中不能修改", c.fact),
                format!(
                    "`{}` is monthly or event data: a what-if cannot change it",
                    c.fact
                ),
            ));
        }
        let after =
            firmfile::parse_fact_text(program, fact, &c.value).map_err(|err| Error::FirmFile {
                path: std::path::PathBuf::from("<what-if>"),
                err: Box::new(err),
            })?;
        let slot = &mut changed_firm.facts[fact];
        let (before, at) = match f.kind {
            huiqi_ir::PeriodKind::Static => {
                let before = match slot {
                    huiqi_ir::FactData::Static(v) => v.clone(),
                    _ => huiqi_ir::Value::Missing,
                };
                *slot = if after == huiqi_ir::Value::Missing {
                    huiqi_ir::FactData::None
                } else {
                    huiqi_ir::FactData::Static(after.clone())
                };
                (before, None)
            }
            huiqi_ir::PeriodKind::Year => {
                let mut ys = match std::mem::take(slot) {
                    huiqi_ir::FactData::Yearly(ys) => ys,
                    _ => vec![],
                };
                let before = match ys.binary_search_by_key(&year, |(y, _)| *y) {
                    Ok(i) => {
                        let b = ys[i].1.clone();
                        if after == huiqi_ir::Value::Missing {
                            ys.remove(i);
                        } else {
                            ys[i].1 = after.clone();
                        }
                        b
                    }
                    Err(i) => {
                        if after != huiqi_ir::Value::Missing {
                            ys.insert(i, (year, after.clone()));
                        }
                        huiqi_ir::Value::Missing
                    }
                };
                *slot = if ys.is_empty() {
                    huiqi_ir::FactData::None
                } else {
                    huiqi_ir::FactData::Yearly(ys)
                };
                (before, Some(year))
            }
            huiqi_ir::PeriodKind::Month | huiqi_ir::PeriodKind::Event => continue,
        };
        if before != after {
            changed.retain(|x: &Changed| x.fact != fact);
            changed.push(Changed {
                fact,
                year: at,
                before,
                after,
            });
        }
    }
    let what_if = explain(program, changed_firm, Some(year), None)?;
    Ok(WhatIf {
        on_file,
        what_if,
        changed,
    })
}

impl WhatIf<'_> {
    /// Every clause whose amount differs: (clause index, on file, what-if), in 分.
    pub fn differences(&self) -> Vec<(usize, i64, i64)> {
        let fen = huiqi_ir::money::to_fen;
        self.on_file
            .outcome()
            .clauses
            .iter()
            .zip(&self.what_if.outcome().clauses)
            .filter_map(|(a, b)| {
                let (x, y) = (fen(a.total()), fen(b.total()));
                (x != y).then_some((a.clause, x, y))
            })
            .collect()
    }

    /// The what-if's explanation (as `explain --json`) with what changed and what it moved.
    pub fn json(&self) -> serde_json::Value {
        let p = self.on_file.program;
        let fen = huiqi_ir::money::to_fen;
        let yuan = |f: i64| huiqi_ir::money::yuan_string(rust_decimal::Decimal::new(f, 2));
        let shown = |f: usize, v: &huiqi_ir::Value| firmfile::fact_text(p, f, v);
        let changed: Vec<serde_json::Value> = self
            .changed
            .iter()
            .map(|c| {
                serde_json::json!({
                    "fact": p.facts[c.fact].name,
                    "year": c.year,
                    "on_file": shown(c.fact, &c.before),
                    "what_if": shown(c.fact, &c.after),
                })
            })
            .collect();
        let diffs: Vec<serde_json::Value> = self
            .differences()
            .into_iter()
            .map(|(c, a, b)| {
                serde_json::json!({
                    "clause": p.clauses[c].name,
                    "on_file_fen": a, "on_file_yuan": yuan(a),
                    "what_if_fen": b, "what_if_yuan": yuan(b),
                })
            })
            .collect();
        let (a, b) = (
            fen(self.on_file.outcome().total()),
            fen(self.what_if.outcome().total()),
        );
        serde_json::json!({
            "period": self.what_if.year,
            "changed": changed,
            "on_file_total_fen": a,
            "on_file_total_yuan": yuan(a),
            "what_if_total_fen": b,
            "what_if_total_yuan": yuan(b),
            "differences": diffs,
            "explanation": self.what_if.json(),
        })
    }
}

/// Reads a firm from the text of a firm file (JSON when `json`, else TOML): the what-if
/// calculator's input. Errors name the field path with a hint, as for a file.
pub fn parse_firm(program: &Program, text: &str, json: bool) -> Result<Firm> {
    firmfile::parse_firm(program, text, json).map_err(|err| Error::FirmFile {
        path: std::path::PathBuf::from(if json { "<json>" } else { "<toml>" }),
        err: Box::new(err),
    })
}

/// Every firm of a snapshot, keyed by credit code: the figures on file that a firm's check
/// evaluates (the service loads them once at start-up).
pub fn load_firms(
    program: &Program,
    snapshot: &Path,
) -> Result<std::collections::HashMap<String, Firm>> {
    let firms = huiqi_data::load_snapshot(snapshot, program)
        .map_err(|e| Error::plain(format!("{}: {e}", snapshot.display())))?;
    Ok(firms.into_iter().map(|f| (f.id.clone(), f)).collect())
}
