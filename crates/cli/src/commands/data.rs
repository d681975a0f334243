//! `huiqi ingest`, `huiqi gen` and `huiqi snapshot-info`: enterprise data in, snapshots out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi::data::GenRequest;

use crate::render::Out;

#[derive(Args)]
pub struct IngestArgs {
    /// The policy pack whose facts the data must match.
    #[arg(long)]
    pub policy: PathBuf,
    /// The mapping file (TOML): which file and column holds which fact.
    #[arg(long)]
    pub mapping: PathBuf,
    /// Where snapshots live; the new one goes into <snapshots>/<hash16>/.
    #[arg(long, default_value = "var/snapshots")]
    pub snapshots: PathBuf,
    /// Stop after this many data errors.
    #[arg(long, default_value_t = 50)]
    pub max_errors: usize,
}

#[derive(Args)]
pub struct GenArgs {
    /// Number of firms.
    #[arg(long, default_value_t = 1000)]
    pub firms: usize,
    /// Years, both ends included, e.g. 2019..2023.
    #[arg(long, default_value = "2019..2023")]
    pub years: String,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write XLSX copies of the files and mapping-xlsx.toml.
    #[arg(long)]
    pub xlsx: bool,
    /// Write into --out even when it holds something other than a generated zone.
    #[arg(long)]
    pub force: bool,
    /// Also write the firms of these firm files (*.toml, *.json; e.g. examples/firms) after the
    /// generated ones, in the same files; their award history goes to 兑现记录.csv.
    #[arg(long, value_name = "DIR")]
    pub firms_from: Option<PathBuf>,
    /// Instead of a generated zone: the seed page's four zones (广州、成都、宁波、长沙高新区),
    /// calibrated to its published figures (`huiqi indicators` reproduces them).
    #[arg(long, conflicts_with = "firms_from")]
    pub seed_zones: bool,
    /// The pack the firm files of --firms-from are read against.
    #[arg(long, default_value = "policies/ningbo", requires = "firms_from")]
    pub policy: PathBuf,
}

#[derive(Args)]
pub struct SnapshotInfoArgs {
    /// A snapshot directory (<snapshots>/<hash16>).
    pub dir: PathBuf,
}

pub fn render_ingested(o: &Out, info: &huiqi_data::SnapshotInfo) {
    println!("{} {}", o.t("快照", "snapshot"), &info.hash[..16]);
    println!("  {}: {}", o.t("目录", "dir"), info.dir.display());
    println!("  hash: {}", info.hash);
    let r = info.rows;
    println!(
        "  {}: firms {}, yearly {}, monthly {}, events {}, awards {}",
        o.t("行数", "rows"),
        r.firms,
        r.yearly,
        r.monthly,
        r.events,
        r.awards
    );
    // What the mapping passed over, per source (only sources where it passed over something).
    for src in &info.sources {
        let counts = [
            (src.filtered, "行被筛掉", "rows filtered out"),
            (
                src.unknown,
                "个不认识的名称已跳过",
                "unknown names passed over",
            ),
            (
                src.duplicates,
                "行完全重复，已去掉",
                "exact duplicate rows dropped",
            ),
        ];
        let parts: Vec<String> = (counts.iter())
            .filter(|(n, ..)| *n > 0)
            .map(|(n, zh, en)| format!("{n} {}", o.t(zh, en)))
            .collect();
        if !parts.is_empty() {
            println!("  {}: {}", src.file, parts.join(o.t("，", ", ")));
        }
    }
    if info.reused {
        println!(
            "  {}",
            o.t(
                "（相同数据的快照已存在，直接复用）",
                "(a snapshot of the same data already existed; reused)"
            )
        );
    }
}

pub fn ingest(o: &Out, a: &IngestArgs) -> huiqi::Result<ExitCode> {
    let program = huiqi::pack::load(&a.policy)?.program;
    let started = std::time::Instant::now();
    let info = huiqi::data::ingest(&program, &a.mapping, &a.snapshots, a.max_errors)?;
    render_ingested(o, &info);
    eprintln!("  {:.1}s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

pub fn render_generated(o: &Out, r: &GenRequest, stats: &huiqi_data::GenStats, secs: f64) {
    for (name, rows) in &stats.files {
        println!("  {name}.csv  {rows}");
    }
    if let Some(s) = &r.samples {
        let n = s.firms.len();
        println!(
            "  {}",
            o.t(
                &format!("其中样例企业 {n} 家（写在 {} 家生成企业之后）", r.firms),
                &format!(
                    "including {n} sample firms (after the {} generated ones)",
                    r.firms
                ),
            )
        );
    }
    println!(
        "{} {} ({secs:.1}s)",
        o.t("已生成，映射文件：", "generated; mapping:"),
        r.out.join("mapping.toml").display(),
    );
}

pub fn gen(o: &Out, a: &GenArgs) -> huiqi::Result<ExitCode> {
    if a.seed_zones {
        let started = std::time::Instant::now();
        let stats = huiqi::data::generate_seed_zones(&a.out, a.xlsx, a.force)?;
        for (name, rows) in &stats.files {
            println!("  {name}.csv  {rows}");
        }
        println!(
            "{} {} ({:.1}s)",
            o.t("已生成，映射文件：", "generated; mapping:"),
            a.out.join("mapping.toml").display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let samples = match &a.firms_from {
        Some(dir) => {
            let program = huiqi::pack::load(&a.policy)?.program;
            Some(huiqi::data::SampleFirms::read(&program, dir)?)
        }
        None => None,
    };
    let r = GenRequest {
        firms: a.firms,
        years: huiqi::data::parse_years(&a.years)?,
        seed: a.seed,
        out: a.out.clone(),
        xlsx: a.xlsx,
        force: a.force,
        samples,
    };
    let started = std::time::Instant::now();
    let stats = huiqi::data::generate(&r)?;
    render_generated(o, &r, &stats, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

pub fn snapshot_info(a: &SnapshotInfoArgs) -> huiqi::Result<ExitCode> {
    let m = huiqi::data::snapshot_manifest(&a.dir)?;
    println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
