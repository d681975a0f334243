//! The policy catalogue: a pack's clauses with their 条文 text and reference, its facts, its
//! dated parameters and its tests, as plain data for a front end to show.

use huiqi_ir::{Program, Value};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Catalogue {
    pub name: String,
    pub title: String,
    pub issuer: String,
    pub version: String,
    pub hash: String,
    /// The policy's window, `YYYY-MM-DD`.
    pub window: (String, String),
    pub clauses: Vec<ClauseInfo>,
    pub facts: Vec<FactInfo>,
    pub parameters: Vec<ParamInfo>,
    pub pools: Vec<PoolInfo>,
    pub firm_caps: Vec<FirmCapInfo>,
    pub group_caps: Vec<GroupCapInfo>,
    pub clawbacks: Vec<ClawbackInfo>,
    /// 就高不重复 groups: of the clauses listed, a firm gets only the highest in a period.
    pub exclusives: Vec<ExclusiveInfo>,
    /// Other packs taken into this pack's runs (`import`): their clauses are listed here as
    /// `名称.条款`.
    pub imports: Vec<ImportInfo>,
    pub tests: Vec<TestInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExclusiveInfo {
    pub name: String,
    pub clauses: Vec<String>,
}

/// A pack imported into this one, as its own header says.
#[derive(Clone, Debug, Serialize)]
pub struct ImportInfo {
    pub name: String,
    pub title: String,
    pub issuer: String,
    pub version: String,
    pub hash: String,
    pub window: (String, String),
}

/// A clawback (追回) rule as the policy page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ClawbackInfo {
    pub name: String,
    pub reference: String,
    pub text: String,
    /// The event fact whose record, dated in a period, triggers it.
    pub when: String,
    /// The periods before whose awards it reaches.
    pub years: u32,
    /// `remaining` (by the years left) or a ratio such as `100%`.
    pub share: String,
    pub clauses: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClauseInfo {
    pub name: String,
    /// The article it implements (第N条…).
    pub reference: String,
    /// The 条文 text.
    pub text: String,
    pub window: (String, String),
    /// Where the clause is written: `file:line`.
    pub source: String,
    /// Whether its amount is decided over the whole population (a pool or a ranking), so one
    /// firm's figure alone is an estimate.
    pub population: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct FactInfo {
    pub name: String,
    pub label: String,
    pub source: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParamInfo {
    pub name: String,
    /// `(from, value)`: the value in force from that date on; money as exact 元 strings.
    pub values: Vec<(String, serde_json::Value)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolInfo {
    pub name: String,
    pub clauses: Vec<String>,
    /// Exact 元, two decimals (a parameter's: the value in force at the policy's end).
    pub budget_yuan: String,
    /// The parameter the budget is, if it is one.
    pub budget_param: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FirmCapInfo {
    pub name: String,
    /// Exact 元, two decimals (a parameter's: the value in force at the policy's end).
    pub limit_yuan: String,
    /// The years the cap spans, this one included (1: a cap per year; 3: "三年内累计").
    pub years: u32,
    /// Every clause, highest priority first (the last is cut first).
    pub priority: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupCapInfo {
    pub name: String,
    /// The text fact whose value names a firm's group (实际控制人).
    pub by: String,
    /// Exact 元, two decimals (a parameter's: the value in force at the policy's end).
    pub limit_yuan: String,
    /// The clauses covered, highest priority first (the last is cut first).
    pub clauses: Vec<String>,
    /// Who is served first: `amount desc`, or the key's source text and direction.
    pub order: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TestInfo {
    pub name: String,
    pub period: i32,
    pub firms: Vec<String>,
    pub expects: usize,
    pub source: String,
}

/// Whether clause `c` is allocated over the population (pool, selection or a cap shared by a
/// group of firms).
pub fn population_clause(p: &Program, c: usize) -> bool {
    p.pools.iter().any(|x| x.clauses.contains(&c))
        || p.selects.iter().any(|s| s.clause == c)
        || p.group_caps.iter().any(|g| g.clauses.contains(&c))
}

/// The catalogue of a loaded pack.
pub fn catalogue(p: &Program) -> Catalogue {
    let clauses = p
        .clauses
        .iter()
        .enumerate()
        .map(|(i, c)| ClauseInfo {
            name: c.name.clone(),
            reference: c.reference.clone(),
            text: c.text.clone(),
            window: (c.window.0.to_string(), c.window.1.to_string()),
            source: format!("{}:{}", c.origin.file, c.origin.line),
            population: population_clause(p, i),
        })
        .collect();
    let parameters = p
        .params
        .iter()
        .map(|q| ParamInfo {
            name: q.name.clone(),
            values: q
                .values
                .iter()
                .map(|(d, v)| (d.to_string(), param_value(p, v, q.ty)))
                .collect(),
        })
        .collect();
    Catalogue {
        name: p.policy.name.clone(),
        title: p.policy.title.clone(),
        issuer: p.policy.issuer.clone(),
        version: p.policy.version.clone(),
        hash: p.hash.clone(),
        window: (p.policy.window.0.to_string(), p.policy.window.1.to_string()),
        clauses,
        facts: p
            .facts
            .iter()
            .map(|f| FactInfo {
                name: f.name.clone(),
                label: f.label.clone(),
                source: f.source.clone(),
            })
            .collect(),
        parameters,
        pools: p
            .pools
            .iter()
            .map(|x| PoolInfo {
                name: x.name.clone(),
                clauses: clause_names(p, &x.clauses),
                budget_yuan: p
                    .figure(&x.budget, p.policy.window.1.y)
                    .round_dp(2)
                    .to_string(),
                budget_param: match x.budget {
                    huiqi_ir::Quantity::Param(i) => Some(p.params[i].name.clone()),
                    huiqi_ir::Quantity::Lit(_) => None,
                },
            })
            .collect(),
        firm_caps: p
            .firm_caps
            .iter()
            .map(|x| FirmCapInfo {
                name: x.name.clone(),
                limit_yuan: p
                    .figure(&x.limit, p.policy.window.1.y)
                    .round_dp(2)
                    .to_string(),
                years: x.years,
                priority: clause_names(p, &x.priority),
            })
            .collect(),
        group_caps: p
            .group_caps
            .iter()
            .map(|x| GroupCapInfo {
                name: x.name.clone(),
                by: p.facts[x.by].name.clone(),
                limit_yuan: p
                    .figure(&x.limit, p.policy.window.1.y)
                    .round_dp(2)
                    .to_string(),
                clauses: clause_names(p, &x.clauses),
                order: match &x.order {
                    huiqi_ir::GroupOrder::Amount(o) => format!("amount {}", dir(*o)),
                    huiqi_ir::GroupOrder::Key(n, o) => format!("{} {}", n.source, dir(*o)),
                },
            })
            .collect(),
        clawbacks: p
            .clawbacks
            .iter()
            .map(|x| ClawbackInfo {
                name: x.name.clone(),
                reference: x.reference.clone(),
                text: x.text.clone(),
                when: p.facts[x.trigger].name.clone(),
                years: x.years,
                share: match &x.share {
                    huiqi_ir::Share::Remaining => "remaining".into(),
                    huiqi_ir::Share::Ratio(r) => huiqi_ir::money::fmt_ratio(*r),
                },
                clauses: clause_names(p, &x.clauses),
            })
            .collect(),
        exclusives: p
            .exclusives
            .iter()
            .map(|x| ExclusiveInfo {
                name: x.name.clone(),
                clauses: clause_names(p, &x.clauses),
            })
            .collect(),
        imports: p
            .packs
            .iter()
            .map(|x| ImportInfo {
                name: x.name.clone(),
                title: x.title.clone(),
                issuer: x.issuer.clone(),
                version: x.version.clone(),
                hash: x.hash.clone(),
                window: (x.window.0.to_string(), x.window.1.to_string()),
            })
            .collect(),
        tests: p
            .tests
            .iter()
            .map(|t| TestInfo {
                name: t.name.clone(),
                period: t.period,
                firms: t.firm_labels.clone(),
                expects: t.expects.len(),
                source: format!("{}:{}", t.origin.file, t.origin.line),
            })
            .collect(),
    }
}

fn param_value(p: &Program, v: &Value, ty: huiqi_ir::Ty) -> serde_json::Value {
    huiqi_eval::explain::json_value(p, v, Some(ty))
}

fn dir(o: huiqi_ir::Order) -> &'static str {
    match o {
        huiqi_ir::Order::Asc => "asc",
        huiqi_ir::Order::Desc => "desc",
    }
}

/// The names of clauses, by id, in the order given.
fn clause_names(p: &Program, ids: &[huiqi_ir::ClauseId]) -> Vec<String> {
    ids.iter().map(|&c| p.clauses[c].name.clone()).collect()
}
