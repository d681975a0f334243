//! `huiqi explain`: one firm under a pack, clause by clause, and why (not).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi::explain::Explanation;

use crate::render::Out;

#[derive(Args)]
pub struct ExplainArgs {
    /// The policy pack directory.
    pub pack: PathBuf,
    /// The firm, as a TOML or JSON file (see docs/LANGUAGE.md, "Firm files").
    pub firm: PathBuf,
    /// The year to evaluate (default: the latest year in the firm's data).
    #[arg(long)]
    pub period: Option<i32>,
    /// Only this clause.
    #[arg(long)]
    pub clause: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// What-if: change a figure in the period (a yearly fact) or its one value (a static fact)
    /// and show what it moves, e.g. `--set 营业收入=2500万`; or set a parameter of the pack
    /// (`--set 高企首次认定奖励额=8万`). Repeatable; an empty value removes a figure.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_change)]
    pub set: Vec<huiqi::explain::Change>,
    /// Read the firm's award history from this ledger (SQLite path or postgres:// URL): an
    /// award there replaces the firm file's award of the same clause, period and tranche, as
    /// `run --ledger` and the server's check read it.
    #[arg(long, value_name = "DB")]
    pub ledger: Option<String>,
}

fn parse_change(s: &str) -> Result<huiqi::explain::Change, String> {
    let (fact, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected FACT=VALUE (事实=取值), got `{s}`"))?;
    Ok(huiqi::explain::Change {
        fact: fact.trim().to_string(),
        value: value.to_string(),
    })
}

pub fn render(o: &Out, x: &Explanation, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&x.json()).unwrap_or_default()
        );
        return;
    }
    print!("{}", x.text(o.en()));
    if x.population_caveat() {
        println!(
            "{}",
            o.t(
                "注：遴选名额与资金池按全体企业分配；单个企业的结果视为只有本企业参与。",
                "note: selections and budget pools are allocated over the whole population; a single firm is evaluated as if it were alone."
            )
        );
    }
}

pub fn explain(o: &Out, a: &ExplainArgs) -> huiqi::Result<ExitCode> {
    let mut loaded = huiqi::pack::load(&a.pack)?;
    // `--set` names a parameter (the pack is checked again with it) or a figure on file.
    let (params, facts): (Vec<_>, Vec<_>) = a
        .set
        .iter()
        .cloned()
        .partition(|c| loaded.program.params.iter().any(|p| p.name == c.fact));
    if !params.is_empty() {
        let sets: Vec<huiqi::lang::ParamSet> = params
            .iter()
            .map(|c| huiqi::lang::ParamSet {
                name: c.fact.clone(),
                from: None,
                value: c.value.clone(),
            })
            .collect();
        loaded = huiqi::pack::load_with(&a.pack, &sets)?;
        for s in &sets {
            eprintln!("{} {s}", o.t("参数设定：", "parameter set:"));
        }
    }
    o.diags(&loaded.sources, &loaded.warnings);
    let mut firm = huiqi::explain::read_firm(&loaded.program, &a.firm)?;
    if let Some(db) = &a.ledger {
        let n = huiqi::ledger::block_on(huiqi::ledger::merge_firm_history(
            db,
            &loaded.program,
            &mut firm,
            a.period,
        ))??;
        eprintln!(
            "{}",
            o.t(
                &format!("台账中本企业此前的奖励：{n} 项"),
                &format!("earlier awards of this firm in the ledger: {n}")
            )
        );
    }
    if !facts.is_empty() {
        if a.clause.is_some() {
            return Err(huiqi::Error::usage(
                "--set 与 --clause 不能同时使用",
                "--set and --clause cannot be combined",
            ));
        }
        let w = huiqi::explain::what_if(&loaded.program, firm, a.period, &facts)?;
        render_what_if(o, &w, a.json);
        return Ok(ExitCode::SUCCESS);
    }
    let x = huiqi::explain::explain(&loaded.program, firm, a.period, a.clause.as_deref())?;
    render(o, &x, a.json);
    Ok(ExitCode::SUCCESS)
}

/// The what-if: what changed, what it moved, then the explanation under the changed figures.
fn render_what_if(o: &Out, w: &huiqi::explain::WhatIf, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&w.json()).unwrap_or_default()
        );
        return;
    }
    let p = w.on_file.program;
    println!("{}", o.t("测算（假设）：", "what-if:"));
    if w.changed.is_empty() {
        println!(
            "  {}",
            o.t("（与在档数据相同）", "(the same as the figures on file)")
        );
    }
    for c in &w.changed {
        let f = &p.facts[c.fact];
        let year = c.year.map(|y| format!("（{y}）")).unwrap_or_default();
        let before = huiqi_data_text(p, c.fact, &c.before, o);
        let after = huiqi_data_text(p, c.fact, &c.after, o);
        println!("  {}{year}: {before} → {after}", f.name);
    }
    let yuan = huiqi_ledger::yuan;
    for (c, a, b) in w.differences() {
        println!(
            "  {}: {} → {} {}",
            p.clauses[c].name,
            yuan(a),
            yuan(b),
            o.t("元", "yuan")
        );
    }
    if w.differences().is_empty() {
        println!("  {}", o.t("各条款金额不变", "no clause's amount changes"));
    }
    println!();
    render(o, &w.what_if, false);
}

fn huiqi_data_text(p: &huiqi_ir::Program, fact: usize, v: &huiqi_ir::Value, o: &Out) -> String {
    match v {
        huiqi_ir::Value::Missing => o.t("（无）", "(none)").to_string(),
        v => huiqi_data::firmfile::fact_text(p, fact, v),
    }
}
