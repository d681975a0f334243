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
    let loaded = huiqi::pack::load(&a.pack)?;
    o.diags(&loaded.sources, &loaded.warnings);
    let firm = huiqi::explain::read_firm(&loaded.program, &a.firm)?;
    let x = huiqi::explain::explain(&loaded.program, firm, a.period, a.clause.as_deref())?;
    render(o, &x, a.json);
    Ok(ExitCode::SUCCESS)
}
