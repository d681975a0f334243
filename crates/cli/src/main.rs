//! `huiqi` — write enterprise-support policies as rules, check and test them, ask one firm what
//! it gets and why, run a whole zone, and carry the awards through the ledger.
//!
//! Each subcommand lives in `commands/`: it parses nothing itself (clap did), calls one use case
//! of the `huiqi` library crate and renders what comes back. Errors come up to [`main`], the one
//! place that turns them into messages and exit codes.

/// mimalloc instead of glibc's malloc (see Cargo.toml): measured in bench/RESULTS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;
mod render;

#[cfg(feature = "distributed")]
use commands::cluster;
use commands::{data, demo, explain, indicators, ledger, pack, run, serve, simulate};
use render::Out;

#[derive(Parser)]
#[command(
    name = "huiqi",
    version,
    about = "惠企 huiqi: 免申即享 policy engine — policies as tested rules, exact awards, explanations",
    long_about = "huiqi turns each clause of an enterprise-support policy into readable, versioned, tested rules \
and decides for every firm and clause whether it qualifies, how much it gets, and why.\n\n\
A policy pack is a directory of .hq files (see docs/LANGUAGE.md). Typical session:\n\
  huiqi check policies/                 # static checks: names, units, tiers, references\n\
  huiqi fmt policies/                   # canonical formatting (--check in CI)\n\
  huiqi test policies/                  # run the example firms in the pack's test blocks\n\
  huiqi explain policies/ningbo examples/firms/meixu_jingmi.toml --period 2023\n\
  huiqi demo                            # all of the above on the seed pack",
    after_help = "Exit codes: 0 ok, 1 the input has errors (diagnostics printed), 2 usage error."
)]
struct Cli {
    /// Language of diagnostics and explanations.
    #[arg(long, global = true, value_enum, default_value = "zh")]
    lang: LangArg,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Zh,
    En,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole pack over a data snapshot (columnar engine); write results and a manifest.
    Run(run::RunArgs),
    /// The 政策沙盘: a reform (another pack, a reform.toml or --set) against the base pack over
    /// the same snapshot — what it costs, by clause and by group, who gains and who loses.
    Simulate(simulate::SimulateArgs),
    /// Zone indicators and targets: an indicator set (indicators/*.toml) for one period over a
    /// snapshot — figures by zone with 同口径 and 名义 growth, targets against 序时进度.
    Indicators(indicators::IndicatorsArgs),
    /// Parse and type-check policy packs; report every error with file:line:col and a hint.
    Check {
        /// Pack directories (searched recursively) or single .hq files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Rewrite .hq files in canonical form (comments are kept). With --check, only report.
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Run the test blocks of policy packs and print `N passed, N failed`.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Set a parameter for every pack tested: `--set 名称=值` (repeatable) — which tests a
        /// changed figure breaks.
        #[arg(long = "set", value_name = "名称=值", value_parser = run::parse_set)]
        set: Vec<huiqi::lang::ParamSet>,
    },
    /// Explain what one firm gets under a pack, clause by clause, and why (not).
    Explain(explain::ExplainArgs),
    /// The demo zone end to end: check and test the seed pack, explain the sample firms, then a
    /// generated zone through ingest, run and the ledger.
    Demo(demo::DemoArgs),
    /// Validate enterprise data (CSV/XLSX/Parquet, via a mapping file) and write an immutable snapshot.
    Ingest(data::IngestArgs),
    /// Generate a realistic demo zone's data files and their mapping (seeded).
    Gen(data::GenArgs),
    /// Print a snapshot's manifest.
    SnapshotInfo(data::SnapshotInfoArgs),
    /// The entitlement ledger: record runs, approve/announce/confirm/pay, export, verify.
    Ledger(ledger::LedgerArgs),
    /// Every award of one firm (credit code), its state and the date of each step.
    Status(ledger::StatusArgs),
    /// The 免申即享 service: HTTP API with OpenAPI, accounts and Cedar authorization
    /// (`--demo`: the demo zone with demo accounts).
    Serve(serve::ServeArgs),
    /// An Apache Ballista cluster for `huiqi run --cluster`: a scheduler and executors that
    /// know huiqi's plan (a build with the `distributed` feature).
    #[cfg(feature = "distributed")]
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
}

fn try_main(o: &Out, cmd: Cmd) -> huiqi::Result<ExitCode> {
    match cmd {
        Cmd::Check { paths } => pack::check(o, &paths),
        Cmd::Fmt { paths, check } => pack::fmt(o, &paths, check),
        Cmd::Test { paths, filter, set } => pack::test(o, &paths, filter.as_deref(), &set),
        Cmd::Explain(a) => explain::explain(o, &a),
        Cmd::Demo(a) => demo::demo(o, &a),
        Cmd::Ingest(a) => data::ingest(o, &a),
        Cmd::Gen(a) => data::gen(o, &a),
        Cmd::SnapshotInfo(a) => data::snapshot_info(&a),
        Cmd::Run(a) => run::run(o, &a),
        Cmd::Simulate(a) => simulate::simulate(o, &a),
        Cmd::Indicators(a) => indicators::indicators(o, &a),
        Cmd::Ledger(a) => ledger::ledger(o, &a),
        Cmd::Status(a) => ledger::status(o, &a),
        Cmd::Serve(a) => serve::serve(o, &a),
        #[cfg(feature = "distributed")]
        Cmd::Cluster(c) => cluster::cluster(o, c),
    }
}

/// A closed pipe (`huiqi demo | head`) ends the process quietly, as it does any Unix filter,
/// rather than as a panic in `println!`.
fn quiet_on_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts; Rust's
    // runtime set it to "ignore", which turns a closed pipe into an error on every write.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let o = Out {
        lang: match cli.lang {
            LangArg::En => huiqi::Lang::En,
            LangArg::Zh => huiqi::Lang::Zh,
        },
        color: std::io::stderr().is_terminal(),
    };
    match try_main(&o, cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            o.error(&e);
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
