//! `huiqi demo`: the demo zone end to end, each step rendered as its own subcommand renders it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi::demo::{DemoEvent, DemoPaths};

use super::{data, explain, ledger_render as show, pack, run};
use crate::render::Out;

#[derive(Args)]
pub struct DemoArgs {
    /// Policy packs (default: ./policies).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Sample firm files (default: ./examples/firms).
    #[arg(long)]
    pub firms: Option<PathBuf>,
    /// The example data (default: ./examples): sample firms in `firms/` (unless --firms), the
    /// multi-year flow's tables in `clawback/`.
    #[arg(long)]
    pub examples: Option<PathBuf>,
    /// The demo zone's ledger on PostgreSQL (`postgres://…`, a database that holds no ledger
    /// yet; default: var/demo/ledger.sqlite).
    #[arg(long)]
    pub db: Option<String>,
    /// The multi-year flow's ledger on PostgreSQL, likewise (default:
    /// var/demo/multiyear/ledger.sqlite).
    #[arg(long)]
    pub multiyear_db: Option<String>,
    /// The zone indicator set (default: ./indicators).
    #[arg(long)]
    pub indicators: Option<PathBuf>,
}

pub fn demo(o: &Out, a: &DemoArgs) -> huiqi::Result<ExitCode> {
    let root = std::env::current_dir().unwrap_or_default();
    let mut paths = DemoPaths::under(&root);
    if let Some(p) = &a.policies {
        paths.policies = p.clone();
    }
    if let Some(e) = &a.examples {
        paths.firms = e.join("firms");
        paths.multiyear = e.join("clawback");
    }
    if let Some(f) = &a.firms {
        paths.firms = f.clone();
    }
    paths.db = a.db.clone();
    paths.multiyear_db = a.multiyear_db.clone();
    if let Some(i) = &a.indicators {
        paths.indicator_set = i.clone();
    }
    println!("== huiqi demo ==\n");
    huiqi::demo::run(&paths, &mut |e| render(o, e))?;
    Ok(ExitCode::SUCCESS)
}

pub fn render(o: &Out, e: DemoEvent<'_>) {
    match e {
        DemoEvent::Step { n, zh, en, detail } => {
            let gap = if n == 1 { "" } else { "\n" };
            match detail {
                Some(d) => println!("{gap}{n}. {} {d}", o.t(zh, en)),
                None => println!("{gap}{n}. {}", o.t(zh, en)),
            }
        }
        DemoEvent::Checked(cs) => cs.iter().for_each(|c| pack::render_checked(o, c)),
        DemoEvent::Tested(ts) => {
            pack::render_tested(o, ts);
        }
        DemoEvent::Explained { file, explanation } => {
            println!("\n──────── {} ────────", file.display());
            explain::render(o, explanation, false);
        }
        DemoEvent::Generated(r, stats) => data::render_generated(o, r, stats, 0.0),
        DemoEvent::Ingested(info) => {
            println!("{} {}", o.t("快照", "snapshot"), info.dir.display());
        }
        DemoEvent::RunProgress(_) => {}
        DemoEvent::Ran(r) => run::render(o, r),
        DemoEvent::Recorded(s) => show::recorded(o, s),
        DemoEvent::Moved { action, ids } => show::moved(o, action, ids),
        DemoEvent::NoticeExported(n) => show::notice(o, n),
        DemoEvent::Status { credit_code, lines } => show::status(o, credit_code, lines),
        DemoEvent::Reconciled(r) => show::reconciliation(o, r),
        DemoEvent::Verified(v) => {
            show::verified(o, v);
        }
        DemoEvent::Indicators(r) => super::indicators::render(o, r, None, None),
    }
}
