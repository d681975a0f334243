//! The demo zone end to end: check and test the seed pack, explain the sample firms, generate a
//! zone (the sample firms written after the generated ones, so the snapshot holds them), ingest
//! it, run the pack over it, and carry the 高企 awards through the ledger — record, approve, 公示,
//! confirm, pay — then a firm's status, the reconciliation and the audit check.
//!
//! Each step's outcome goes to a callback as a [`DemoEvent`]: the CLI renders it as it renders the
//! same subcommand; the service prepares its demo zone with the same steps.

use std::path::{Path, PathBuf};

use huiqi_ledger::{Action, Ctx, RecordSummary, Selection, StatusLine, VerifyReport};

use crate::data::{GenRequest, SampleFirms};
use crate::explain::Explanation;
use crate::ledger::{self as ledger_uc, BudgetSource, NoticeExport, Reconciliation};
use crate::pack::{Checked, Tested};
use crate::run::{Progress, RunReport, RunRequest};
use crate::{Error, Result};

/// Where the demo reads and writes.
#[derive(Clone, Debug)]
pub struct DemoPaths {
    /// Policy packs (the seed pack is the first one found outside `examples/`: `seed_pack`).
    pub policies: PathBuf,
    /// Sample firm files.
    pub firms: PathBuf,
    /// The demo zone's data, snapshot, run and ledger.
    pub work: PathBuf,
    /// The zone indicator set (the seed's four zones are computed with it).
    pub indicator_set: PathBuf,
}

impl DemoPaths {
    /// `policies/`, `examples/firms/` and `var/demo/` under `root`.
    pub fn under(root: &Path) -> DemoPaths {
        DemoPaths {
            policies: root.join("policies"),
            firms: root.join("examples/firms"),
            work: root.join("var/demo"),
            indicator_set: root.join(crate::indicators::DEFAULT_SET),
        }
    }

    /// The seed's four zones: their data, snapshot and indicator outputs.
    pub fn zones(&self) -> PathBuf {
        self.work.join("zones")
    }

    pub fn ledger(&self) -> PathBuf {
        self.work.join("ledger.sqlite")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.work.join("run-2023")
    }

    /// The demo zone's pack: the first pack under `policies` that is not one of its example
    /// packs (`policies/examples`, checked and tested with the rest, each for its own measure).
    pub fn seed_pack(&self) -> Result<PathBuf> {
        let examples = self.policies.join("examples");
        crate::pack::find(std::slice::from_ref(&self.policies))?
            .into_iter()
            .find(|p| !p.starts_with(&examples))
            .ok_or_else(|| failed("没有政策包", "no policy pack"))
    }
}

/// The demo zone's size and year.
pub const FIRMS: usize = 2000;
pub const YEARS: (i32, i32) = (2019, 2023);
pub const PERIOD: i32 = 2023;
pub const SEED: u64 = 42;

/// One step's outcome, in the order the demo runs them.
pub enum DemoEvent<'a> {
    /// A numbered step begins; `detail` (a path, say) follows the title.
    Step {
        n: u32,
        zh: &'a str,
        en: &'a str,
        detail: Option<String>,
    },
    Checked(&'a [Checked]),
    Tested(&'a [Tested]),
    Explained {
        file: &'a Path,
        explanation: &'a Explanation<'a>,
    },
    Generated(&'a GenRequest, &'a huiqi_data::GenStats),
    Ingested(&'a huiqi_data::SnapshotInfo),
    RunProgress(Progress),
    Ran(&'a RunReport),
    Recorded(&'a RecordSummary),
    Moved {
        action: &'a Action,
        ids: &'a [i64],
    },
    NoticeExported(&'a NoticeExport),
    Status {
        credit_code: &'a str,
        lines: &'a [StatusLine],
    },
    Reconciled(&'a Reconciliation),
    Verified(&'a VerifyReport),
    /// One period of the seed zones' indicators.
    Indicators(&'a crate::indicators::IndicatorsReport),
}

/// What the demo left behind.
#[derive(Clone, Debug)]
pub struct DemoZone {
    pub pack: PathBuf,
    pub snapshot: PathBuf,
    pub run: PathBuf,
    pub ledger: PathBuf,
}

/// Runs the demo; stops at the first step that fails.
pub fn run(paths: &DemoPaths, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<DemoZone> {
    let (pack, samples) = check_and_explain(paths, on)?;
    let snapshot = zone(paths, &pack, samples, on)?;
    ledger_steps(paths, on)?;
    seed_zones(paths, &pack, on)?;
    Ok(DemoZone {
        pack,
        snapshot,
        run: paths.run_dir(),
        ledger: paths.ledger(),
    })
}

/// Step 12: the seed page's four zones, generated calibrated to its published figures, and the
/// zone indicators computed from their firm-level rows.
pub fn seed_zones(
    paths: &DemoPaths,
    pack: &Path,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<PathBuf> {
    on(DemoEvent::Step {
        n: 12,
        zh: "区级指标：种子页四个高新区（按其公布的数字生成企业数据，再由企业数据算出指标）",
        en: "zone indicators: the seed page's four zones (firm data generated to its published figures, indicators computed back from it)",
        detail: Some(paths.indicator_set.display().to_string()),
    });
    crate::indicators::seed_zones(pack, &paths.indicator_set, &paths.zones(), &mut |r| {
        on(DemoEvent::Indicators(r))
    })
}

fn failed(zh: &str, en: &str) -> Error {
    Error::input(format!("示范流程中止：{zh}"), format!("demo stopped: {en}"))
}

/// Steps 1–3: check and test the packs, explain each sample firm. Returns the seed pack and the
/// sample firms.
fn check_and_explain(
    paths: &DemoPaths,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<(PathBuf, SampleFirms)> {
    let policies = std::slice::from_ref(&paths.policies);
    on(DemoEvent::Step {
        n: 1,
        zh: "检查政策包",
        en: "check the policy packs in",
        detail: Some(paths.policies.display().to_string()),
    });
    let checked = crate::pack::check(policies)?;
    on(DemoEvent::Checked(&checked));
    if checked.iter().any(|c| c.outcome.is_err()) {
        return Err(failed("政策包有错误", "a policy pack has errors"));
    }
    on(DemoEvent::Step {
        n: 2,
        zh: "运行政策包中的测试",
        en: "run the packs' tests",
        detail: None,
    });
    let tested = crate::pack::test(policies, None, crate::Lang::Zh)?;
    on(DemoEvent::Tested(&tested));
    if tested
        .iter()
        .any(|t| t.report.as_ref().is_none_or(|r| !r.failed.is_empty()))
    {
        return Err(failed("政策包测试未通过", "a pack's tests failed"));
    }
    let pack = paths.seed_pack()?;
    let loaded = crate::pack::load(&pack)?;
    let files = crate::explain::firm_files(&paths.firms).map_err(|e| Error::io(&paths.firms, e))?;
    on(DemoEvent::Step {
        n: 3,
        zh: "逐户解释样例企业",
        en: "explain the sample firms",
        detail: Some(format!("({})", paths.firms.display())),
    });
    let mut firms = vec![];
    for f in &files {
        let firm = crate::explain::read_firm(&loaded.program, f)?;
        let explanation = crate::explain::explain(&loaded.program, firm.clone(), None, None)?;
        on(DemoEvent::Explained {
            file: f,
            explanation: &explanation,
        });
        firms.push(firm);
    }
    let samples = SampleFirms {
        program: loaded.program,
        firms,
    };
    Ok((pack, samples))
}

/// Steps 4–6: a generated zone with the sample firms, ingested into a snapshot and run with the
/// columnar engine. Returns the snapshot directory.
fn zone(
    paths: &DemoPaths,
    pack: &Path,
    samples: SampleFirms,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<PathBuf> {
    let zone = paths.work.join("zone");
    let n = samples.firms.len();
    let zh = format!("生成示范园区数据（2000家模拟企业及{n}家样例企业，2019–2023年）→");
    let en = format!(
        "generate a demo zone (2,000 generated firms and the {n} sample firms, 2019–2023) →"
    );
    on(DemoEvent::Step {
        n: 4,
        zh: &zh,
        en: &en,
        detail: Some(zone.display().to_string()),
    });
    let gen = GenRequest {
        firms: FIRMS,
        years: YEARS,
        seed: SEED,
        out: zone.clone(),
        xlsx: false,
        force: false,
        samples: Some(samples),
    };
    let stats = crate::data::generate(&gen)?;
    on(DemoEvent::Generated(&gen, &stats));
    on(DemoEvent::Step {
        n: 5,
        zh: "导入并校验，生成不可变快照",
        en: "ingest with validation into an immutable snapshot",
        detail: None,
    });
    let loaded = crate::pack::load(pack)?;
    let snaps = paths.work.join("snapshots");
    let info = crate::data::ingest(&loaded.program, &zone.join("mapping.toml"), &snaps, 50)?;
    on(DemoEvent::Ingested(&info));
    on(DemoEvent::Step {
        n: 6,
        zh: "用列式引擎对全部企业运行政策包（2023年度）",
        en: "run the pack over every firm with the columnar engine (period 2023)",
        detail: None,
    });
    let req = RunRequest {
        policy: pack.to_path_buf(),
        snapshot: info.dir.clone(),
        period: PERIOD,
        out: paths.run_dir(),
        memory_limit: None,
        xlsx: true,
        repeat: 1,
        chunk_firms: None,
        force: false,
        set: vec![],
    };
    // The callback is borrowed mutably by the steps around the run; progress is reported after.
    let report = crate::run::run(&req, &|_| {})?;
    on(DemoEvent::Ran(&report));
    Ok(info.dir)
}

/// Steps 7–11: the run into the embedded ledger, then review, 公示, confirmation and payment of
/// a few awards, a firm's status, the reconciliation and the audit check.
fn ledger_steps(paths: &DemoPaths, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<()> {
    let db = paths.ledger();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let db_s = db.display().to_string();
    ledger_uc::block_on(async {
        let mut l = ledger_uc::open_or_create(&db_s).await?;
        let r = ledger_script(paths, &mut l, on).await;
        l.close().await;
        r
    })?
}

fn at(day: &str) -> Result<Ctx> {
    ledger_uc::ctx(Some("demo"), Some(day))
}

/// One workflow step, reported.
async fn moved(
    l: &mut huiqi_ledger::Ledger,
    on: &mut dyn FnMut(DemoEvent<'_>),
    day: &str,
    sel: Selection,
    action: Action,
) -> Result<Vec<i64>> {
    let ids = ledger_uc::step(l, &at(day)?, &sel, &action).await?;
    on(DemoEvent::Moved {
        action: &action,
        ids: &ids,
    });
    Ok(ids)
}

fn select(ids: Vec<i64>, clause: Option<&str>) -> Selection {
    Selection {
        all: ids.is_empty(),
        ids,
        firm: None,
        clause: clause.map(str::to_string),
        period: None,
        limit: None,
    }
}

async fn ledger_script(
    paths: &DemoPaths,
    l: &mut huiqi_ledger::Ledger,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<()> {
    on(DemoEvent::Step {
        n: 7,
        zh: "把运行结果记入台账",
        en: "record the run in the ledger",
        detail: Some(paths.ledger().display().to_string()),
    });
    let s = ledger_uc::record(l, &at("2024-02-01")?, &paths.run_dir(), None).await?;
    on(DemoEvent::Recorded(&s));
    on(DemoEvent::Step {
        n: 8,
        zh: "审核高企认定奖励并公示（7天），三家企业确认，拨付",
        en:
            "approve the 高企 awards and publish them (公示, 7 days); three firms confirm; pay them",
        detail: None,
    });
    let approve = select(vec![], Some("高企认定奖励"));
    moved(l, on, "2024-02-10", approve, Action::Approve).await?;
    let ctx = at("2024-03-01")?;
    let (opens, closes) = ledger_uc::notice_window(&ctx, None, None, Some(7))?;
    let announce = Action::Announce {
        title: "2023年度高企认定奖励拟兑现名单公示".into(),
        opens,
        closes,
    };
    moved(l, on, "2024-03-01", select(vec![], None), announce).await?;
    let notice = ledger_uc::export_notice(l, None, &paths.work.join("ledger-export")).await?;
    on(DemoEvent::NoticeExported(&notice));
    let first = ledger_uc::announced(l, 3).await?;
    if first.is_empty() {
        return Err(failed("没有公示中的明细", "no announced lines"));
    }
    let ids: Vec<i64> = first.iter().map(|x| x.0).collect();
    moved(
        l,
        on,
        "2024-03-03",
        select(ids.clone(), None),
        Action::Confirm,
    )
    .await?;
    for id in &ids {
        let pay = Action::Pay {
            reference: format!("GK2024032000{id:04}"),
        };
        moved(l, on, "2024-03-20", select(vec![*id], None), pay).await?;
    }
    let code = first[0].1.clone();
    on(DemoEvent::Step {
        n: 9,
        zh: "企业查询兑现进度：huiqi status",
        en: "a firm's status: huiqi status",
        detail: Some(code.clone()),
    });
    let lines = ledger_uc::status(l, &code).await?;
    on(DemoEvent::Status {
        credit_code: &code,
        lines: &lines,
    });
    on(DemoEvent::Step {
        n: 10,
        zh: "对账：预算、审核与拨付",
        en: "reconciliation: budget vs approved vs paid",
        detail: None,
    });
    let budgets = BudgetSource::Search(&paths.policies);
    if let Some(r) = ledger_uc::reconcile(l, Some(PERIOD as i64), budgets).await? {
        on(DemoEvent::Reconciled(&r));
    }
    on(DemoEvent::Step {
        n: 11,
        zh: "校验审计哈希链",
        en: "verify the audit hash chain",
        detail: None,
    });
    let v = ledger_uc::verify(l).await?;
    on(DemoEvent::Verified(&v));
    if !v.ok() {
        return Err(failed("审计链校验失败", "the audit chain did not verify"));
    }
    Ok(())
}
