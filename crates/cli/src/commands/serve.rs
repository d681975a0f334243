//! `huiqi serve`: the 免申即享 service (HTTP API, OpenAPI, accounts, Cedar authorization) over
//! a ledger, a policy pack and a snapshot; `--demo` prepares and serves the demo zone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi_server::{demo as sdemo, Config, StartError};

use super::demo as cli_demo;
use crate::render::Out;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The ledger: an SQLite file (created when missing) or a postgres:// URL.
    #[arg(long)]
    pub db: Option<String>,
    /// The policy pack (default: policies/ningbo).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The snapshot whose figures a firm's check reads.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Serve the demo zone under var/demo (prepared when absent) with demo accounts whose
    /// password is `demo`.
    #[arg(long)]
    pub demo: bool,
    /// Mark the session cookie Secure (behind TLS).
    #[arg(long)]
    pub secure_cookie: bool,
    /// Memory for firms' checks already answered (MiB; 0: none), kept gzip-compressed (about
    /// 3.6 KB a firm with the seed pack: 256 MiB holds a 70,000-firm zone). An answer depends
    /// only on the served pack, the snapshot and the firm's award history, so it is kept and
    /// sent again.
    #[arg(long, default_value_t = 256)]
    pub check_cache_mb: usize,
    /// Do not compute every firm's check in the background after start-up (at the lowest CPU
    /// priority, until the cache is full): a firm's first check then evaluates on request.
    #[arg(long)]
    pub no_warm_checks: bool,
    /// Read-only ledger connections beside the one writer: pages and queues read on them and
    /// do not wait behind each other or behind a write.
    #[arg(long, default_value_t = 2)]
    pub ledger_readers: usize,
    /// Zone indicators to serve: a directory of `huiqi indicators --out` outputs, one
    /// subdirectory per period (checked against their manifests and the set at start-up).
    #[arg(long)]
    pub indicators: Option<PathBuf>,
    /// The indicator set those outputs were computed by.
    #[arg(long, default_value = huiqi::indicators::DEFAULT_SET)]
    pub indicator_set: PathBuf,
}

fn start_error(e: StartError) -> huiqi::Error {
    match e {
        StartError::App(e) => e,
        StartError::Authz(e) => huiqi::Error::plain(e.0),
        StartError::Other { zh, en } => huiqi::Error::input(zh, en),
    }
}

pub fn serve(o: &Out, a: &ServeArgs) -> huiqi::Result<ExitCode> {
    let mut cfg = Config::new(
        a.db.clone()
            .unwrap_or_else(|| huiqi::ledger::DEFAULT_DB.into()),
        a.policy
            .clone()
            .unwrap_or_else(|| PathBuf::from("policies/ningbo")),
    );
    cfg.addr = a.addr;
    cfg.snapshot = a.snapshot.clone();
    cfg.secure_cookie = a.secure_cookie;
    cfg.check_cache_bytes = a.check_cache_mb << 20;
    cfg.warm_checks = !a.no_warm_checks;
    cfg.ledger_readers = a.ledger_readers;
    cfg.indicators = a.indicators.clone();
    cfg.indicator_set = a.indicator_set.clone();
    let zone = if a.demo {
        let root = std::env::current_dir().unwrap_or_default();
        eprintln!(
            "{}",
            o.t(
                "== 准备示范园区（var/demo）==",
                "== preparing the demo zone (var/demo) =="
            )
        );
        let z = sdemo::prepare(&root, &mut |e| cli_demo::render(o, e)).map_err(start_error)?;
        cfg = z.config(cfg);
        Some(z)
    } else {
        None
    };
    huiqi_server::serve_blocking(cfg, zone, |r| {
        println!(
            "huiqi serve: http://{}/  (API: /api/v1, {}: http://{}/api/docs)",
            r.addr,
            o.t("接口文档", "API docs"),
            r.addr
        );
        println!(
            "  {} {}, {} {}",
            o.t("政策包", "policy"),
            r.state.program.policy.name,
            o.t("企业数", "firms"),
            r.state.served().firms.len()
        );
        if let Some(pw) = &r.admin_password {
            println!(
                "  {} admin / {pw}",
                o.t(
                    "已创建管理员账号（仅显示这一次）：",
                    "created the admin account (shown once):"
                )
            );
        }
        if !r.demo_firms.is_empty() {
            println!(
                "  {}",
                o.t(
                    "示范账号（密码均为 demo）：",
                    "demo accounts (password `demo`):"
                )
            );
            let staff: Vec<&str> = sdemo::STAFF.iter().map(|s| s.0).collect();
            println!("    {}", staff.join(", "));
            println!("    {}: {}", o.t("企业", "firms"), r.demo_firms.join(", "));
        }
    })
    .map_err(start_error)?;
    Ok(ExitCode::SUCCESS)
}
