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

    /// Selections and pools are allocated over a population: alone, a firm is its own population.
    pub fn population_caveat(&self) -> bool {
        !self.program.selects.is_empty() || !self.program.pools.is_empty()
    }

    pub fn outcome(&self) -> &huiqi_eval::FirmOutcome {
        &self.outcome
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
