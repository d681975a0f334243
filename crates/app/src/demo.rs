//! The demo zone end to end: check and test the seed pack, explain the sample firms, generate a
//! zone (the sample firms written after the generated ones, so the snapshot holds them), ingest
//! it, run the pack over it, and carry the 高企 awards through the ledger — record, approve, 公示,
//! confirm, pay — then a firm's status, the reconciliation and the audit check. Then the
//! multi-year flow of issue 18 on the clawback example (`policies/examples/clawback`,
//! `examples/clawback`): 2022 and 2023 run, recorded and paid; 2024 run on what the ledger says
//! was paid, with clawbacks and a three-year cap, its recovery lines carried through the same
//! steps. Last, the seed page's four zones and their indicators.
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
    /// The multi-year example's data (`examples/clawback`: its mapping and tables); its pack is
    /// `policies/examples/clawback`.
    pub multiyear: PathBuf,
    /// The demo zone's ledger: a PostgreSQL URL (a database that holds no ledger yet), or None
    /// for the SQLite file [`DemoPaths::ledger`].
    pub db: Option<String>,
    /// The multi-year flow's ledger, likewise (default: `multiyear/ledger.sqlite` under `work`).
    pub multiyear_db: Option<String>,
}

impl DemoPaths {
    /// `policies/`, `examples/firms/` and `var/demo/` under `root`.
    pub fn under(root: &Path) -> DemoPaths {
        DemoPaths {
            policies: root.join("policies"),
            firms: root.join("examples/firms"),
            work: root.join("var/demo"),
            indicator_set: root.join(crate::indicators::DEFAULT_SET),
            multiyear: root.join("examples/clawback"),
            db: None,
            multiyear_db: None,
        }
    }

    /// The multi-year flow's pack.
    pub fn multiyear_pack(&self) -> PathBuf {
        self.policies.join("examples/clawback")
    }

    /// The multi-year flow's snapshots, runs and default ledger.
    pub fn multiyear_work(&self) -> PathBuf {
        self.work.join("multiyear")
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
    multiyear(paths, on)?;
    seed_zones(paths, &pack, on)?;
    Ok(DemoZone {
        pack,
        snapshot,
        run: paths.run_dir(),
        ledger: paths.ledger(),
    })
}

/// Step 13: the seed page's four zones, generated calibrated to its published figures, and the
/// zone indicators computed from their firm-level rows.
pub fn seed_zones(
    paths: &DemoPaths,
    pack: &Path,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<PathBuf> {
    on(DemoEvent::Step {
        n: 13,
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
        xlsx: true,
        ..RunRequest::new(
            pack.to_path_buf(),
            info.dir.clone(),
            PERIOD,
            paths.run_dir(),
        )
    };
    // The callback is borrowed mutably by the steps around the run; progress is reported after.
    let report = crate::run::run(&req, &|_| {})?;
    on(DemoEvent::Ran(&report));
    Ok(info.dir)
}

/// Steps 7–11: the run into the embedded ledger, then review, 公示, confirmation and payment of
/// a few awards, a firm's status, the reconciliation and the audit check.
fn ledger_steps(paths: &DemoPaths, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<()> {
    let db = fresh_ledger(paths.db.as_deref(), &paths.ledger())?;
    ledger_uc::block_on(async {
        let mut l = empty_ledger(&db).await?;
        let r = ledger_script(paths, &mut l, on).await;
        l.close().await;
        r
    })?
}

/// The ledger a demo step writes: `url` when given (PostgreSQL), else the SQLite file `file`,
/// removed first (the demo owns its directory; a database someone names is never cleared).
fn fresh_ledger(url: Option<&str>, file: &Path) -> Result<String> {
    if let Some(u) = url {
        return Ok(u.to_string());
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", file.display()));
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(file.display().to_string())
}

/// Opens (creating) the ledger at `db` and refuses one that already holds events: the demo
/// writes dated steps from a clean start and would mix with what is there.
async fn empty_ledger(db: &str) -> Result<huiqi_ledger::Ledger> {
    let mut l = ledger_uc::open_or_create(db).await?;
    if ledger_uc::head_seq(&mut l).await? > 0 {
        l.close().await;
        return Err(Error::usage(
            "示范流程需要一个空台账：该数据库中已有台账记录（请换一个空数据库）",
            "the demo needs an empty ledger: this database already holds one (give an empty database)",
        ));
    }
    Ok(l)
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

/// The years of the multi-year flow: the first two are run, recorded and paid; the last runs
/// on what the ledger says was paid.
pub const MULTIYEAR: [i32; 3] = [2022, 2023, 2024];

/// Step 12: issue 18's multi-year flow on the clawback example. 2022 and 2023 are run, recorded,
/// approved, announced, confirmed and paid; 2024 runs on the ledger's history of what was paid
/// (as `run --ledger --ledger-paid-only`): a firm that moved out gives back the years left of
/// its awards, a blacklisted firm the last two years', a firm at its three-year cap gets
/// nothing more. Recording 2024 turns the clawbacks into recovery lines, carried through the
/// same steps; then the moved-out firm's status and the audit check. Returns the ledger.
pub fn multiyear(paths: &DemoPaths, on: &mut dyn FnMut(DemoEvent<'_>)) -> Result<String> {
    let pack = paths.multiyear_pack();
    let work = paths.multiyear_work();
    let (first, last) = (MULTIYEAR[0], MULTIYEAR[MULTIYEAR.len() - 1]);
    let zh = format!(
        "多年度：{first}–{}年兑现，{last}年按台账已拨付记录追回并执行三年累计上限",
        last - 1
    );
    let en = format!(
        "several years: {first}–{} paid; {last} on the ledger's paid history, with clawbacks and a three-year cap",
        last - 1
    );
    on(DemoEvent::Step {
        n: 12,
        zh: &zh,
        en: &en,
        detail: Some(pack.display().to_string()),
    });
    let loaded = crate::pack::load(&pack)?;
    let info = crate::data::ingest(
        &loaded.program,
        &paths.multiyear.join("mapping.toml"),
        &work.join("snapshots"),
        50,
    )?;
    on(DemoEvent::Ingested(&info));
    let db = fresh_ledger(paths.multiyear_db.as_deref(), &work.join("ledger.sqlite"))?;
    ledger_uc::block_on(async {
        let mut l = empty_ledger(&db).await?;
        let r = multiyear_script(&pack, &info.dir, &work, &mut l, on).await;
        l.close().await;
        r
    })??;
    Ok(db)
}

async fn multiyear_script(
    pack: &Path,
    snapshot: &Path,
    work: &Path,
    l: &mut huiqi_ledger::Ledger,
    on: &mut dyn FnMut(DemoEvent<'_>),
) -> Result<()> {
    let mut moved_out = None;
    for (i, year) in MULTIYEAR.into_iter().enumerate() {
        // Every year after the first evaluates the ledger's history of what was paid.
        let snap = if i == 0 {
            snapshot.to_path_buf()
        } else {
            ledger_uc::derive_snapshot(l, snapshot, None, year.into(), true)
                .await?
                .dir
        };
        let zh =
            format!("{year}年度：运行（读取台账已拨付记录）→ 入账 → 审核 → 公示 → 确认 → 拨付");
        let en = format!(
            "{year}: run (on the ledger's paid history) → record → approve → 公示 → confirm → pay"
        );
        on(DemoEvent::Step {
            n: 12,
            zh: &zh,
            en: &en,
            detail: None,
        });
        let req = RunRequest::new(
            pack.to_path_buf(),
            snap,
            year,
            work.join(format!("run-{year}")),
        );
        let mut report = crate::run::run(&req, &|_| {})?;
        if i == 0 {
            // The measure's first year: there is no history to cap over, and the run says so
            // only for a snapshot that may lack one.
            report.caps_without_history.clear();
        }
        on(DemoEvent::Ran(&report));
        let day = |md: &str| format!("{}-{md}", year + 1);
        let s = ledger_uc::record(l, &at(&day("02-01"))?, &req.out, None).await?;
        on(DemoEvent::Recorded(&s));
        if s.new_clawbacks > 0 && moved_out.is_none() {
            let f = huiqi_ledger::LineFilter {
                period: Some(year.into()),
                limit: Some(1000),
                ..Default::default()
            };
            let page = ledger_uc::lines(l, &f).await?;
            moved_out = page
                .rows
                .into_iter()
                .find(|r| r.kind == "recovery")
                .map(|r| r.firm_id);
        }
        moved(l, on, &day("02-10"), select(vec![], None), Action::Approve).await?;
        let ctx = at(&day("03-01"))?;
        let (opens, closes) = ledger_uc::notice_window(&ctx, None, None, Some(7))?;
        let announce = Action::Announce {
            title: format!("{year}年度研发投入奖励及追回公示"),
            opens,
            closes,
        };
        moved(l, on, &day("03-01"), select(vec![], None), announce).await?;
        let confirmed = moved(l, on, &day("03-02"), select(vec![], None), Action::Confirm).await?;
        for id in confirmed {
            let pay = Action::Pay {
                reference: format!("YF{}{id:06}", year + 1),
            };
            moved(l, on, &day("03-20"), select(vec![id], None), pay).await?;
        }
    }
    let Some(code) = moved_out else {
        return Err(failed("没有追回", "nothing was clawed back"));
    };
    on(DemoEvent::Step {
        n: 12,
        zh: "被追回企业的兑现进度：奖励与追回明细",
        en: "the status of a firm clawed back from: its awards and recovery lines",
        detail: Some(code.clone()),
    });
    let lines = ledger_uc::status(l, &code).await?;
    on(DemoEvent::Status {
        credit_code: &code,
        lines: &lines,
    });
    let v = ledger_uc::verify(l).await?;
    on(DemoEvent::Verified(&v));
    if !v.ok() {
        return Err(failed("审计链校验失败", "the audit chain did not verify"));
    }
    Ok(())
}
