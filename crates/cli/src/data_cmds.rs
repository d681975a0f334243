//! `huiqi ingest`, `huiqi gen` and `huiqi snapshot-info`: enterprise data in, snapshots out.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use huiqi_lang::Lang;

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
}

#[derive(Args)]
pub struct SnapshotInfoArgs {
    /// A snapshot directory (<snapshots>/<hash16>).
    pub dir: PathBuf,
}

fn t<'a>(en: bool, zh: &'a str, english: &'a str) -> &'a str {
    if en {
        english
    } else {
        zh
    }
}

pub fn ingest(a: &IngestArgs, en: bool) -> ExitCode {
    let program = match huiqi_lang::load_pack(&a.policy) {
        Ok(l) => l.program,
        Err((sm, ds)) => {
            let lang = if en { Lang::En } else { Lang::Zh };
            let color = std::io::stderr().is_terminal();
            for d in &ds {
                eprint!("{}", sm.render(d, lang, color));
            }
            return ExitCode::from(1);
        }
    };
    let started = std::time::Instant::now();
    match huiqi_data::ingest(&a.mapping, &program, &a.snapshots, a.max_errors) {
        Ok(info) => {
            println!("{} {}", t(en, "快照", "snapshot"), &info.hash[..16]);
            println!("  {}: {}", t(en, "目录", "dir"), info.dir.display());
            println!("  hash: {}", info.hash);
            let r = info.rows;
            println!(
                "  {}: firms {}, yearly {}, monthly {}, events {}, awards {}",
                t(en, "行数", "rows"),
                r.firms,
                r.yearly,
                r.monthly,
                r.events,
                r.awards
            );
            if info.reused {
                println!(
                    "  {}",
                    t(
                        en,
                        "（相同数据的快照已存在，直接复用）",
                        "(a snapshot of the same data already existed; reused)"
                    )
                );
            }
            eprintln!("  {:.1}s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprint!("{}", report.render(en));
            let more = if report.truncated { "+" } else { "" };
            eprintln!(
                "{}{more} {}",
                report.errors.len(),
                t(
                    en,
                    "个数据错误，未写入快照",
                    "data error(s); no snapshot was written"
                )
            );
            ExitCode::from(1)
        }
    }
}

fn parse_years(s: &str) -> Option<(i32, i32)> {
    let (a, b) = s.split_once("..")?;
    let b = b.strip_prefix('=').unwrap_or(b);
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

pub fn gen(a: &GenArgs, en: bool) -> ExitCode {
    let Some((y0, y1)) = parse_years(&a.years) else {
        eprintln!(
            "{} `{}`",
            t(
                en,
                "年份范围应写成 2019..2023，实为",
                "years must look like 2019..2023, not"
            ),
            a.years
        );
        return ExitCode::from(2);
    };
    let started = std::time::Instant::now();
    match huiqi_data::generate(&a.out, a.firms, y0, y1, a.seed, a.xlsx) {
        Ok(stats) => {
            for (name, rows) in &stats.files {
                println!("  {name}.csv  {rows}");
            }
            println!(
                "{} {} ({:.1}s)",
                t(en, "已生成，映射文件：", "generated; mapping:"),
                a.out.join("mapping.toml").display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

pub fn snapshot_info(a: &SnapshotInfoArgs, _en: bool) -> ExitCode {
    match huiqi_data::read_manifest(&a.dir) {
        Ok(m) => {
            println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn years() {
        assert_eq!(super::parse_years("2019..2023"), Some((2019, 2023)));
        assert_eq!(super::parse_years("2019..=2023"), Some((2019, 2023)));
        assert_eq!(super::parse_years("2023..2019"), None);
        assert_eq!(super::parse_years("2019"), None);
    }
}
