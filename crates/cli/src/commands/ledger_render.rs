//! How the ledger's outcomes read on a terminal: in Chinese by default, amounts in 元 exact to
//! the 分.

use huiqi::ledger::{DerivedSnapshot, NoticeExport, PaymentsExport, Recomputed, Reconciliation};
use huiqi_ledger::{
    Action, BatchPaySummary, CancelSummary, ReconRow, RecordSummary, StatusLine, VerifyReport,
};

use crate::render::{wan, yuan, Out};

pub fn recorded(o: &Out, s: &RecordSummary) {
    if s.already {
        println!(
            "{} {} {}",
            o.t("运行", "run"),
            s.run_id,
            o.t(
                "已入账，未做任何改动",
                "was recorded before; nothing changed"
            )
        );
        return;
    }
    println!(
        "{} {} ({} {}): {} {} {} {}, {} {}, {} {} ({} {}, {} {}, {} {})",
        o.t("已入账运行", "recorded run"),
        s.run_id,
        o.t("年度", "period"),
        s.period,
        s.new,
        o.t("项新增奖励，共", "new entitlements,"),
        yuan(s.new_fen),
        o.t("元", "yuan"),
        s.unchanged,
        o.t("项未变", "unchanged"),
        s.changed,
        o.t("项金额变更", "changed"),
        s.superseded,
        o.t("条未拨付明细被取代", "open lines superseded"),
        s.topups,
        o.t("条补差/重算", "top-ups/replacements"),
        s.recoveries,
        o.t("条追回", "recoveries"),
    );
    if s.new_clawbacks > 0 {
        println!(
            "  {} {} {} {} {}",
            o.t("追回规则新增", "clawback rules added"),
            s.new_clawbacks,
            o.t("项应追回，共", "amounts to recover,"),
            yuan(s.new_clawback_fen.saturating_neg()),
            o.t(
                "元（待审核、公示后办理）",
                "yuan (to review and announce like any line)"
            ),
        );
    }
}

/// `N 条明细 → 已审核`, and the line ids when there are few.
pub fn moved(o: &Out, action: &Action, ids: &[i64]) {
    println!(
        "{} {} {} → {}",
        ids.len(),
        o.t("条明细", "lines"),
        if o.en() { action.name() } else { "" },
        action.to().name(o.en())
    );
    if ids.len() <= 20 && !ids.is_empty() {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        println!("  {}: {}", o.t("明细号", "lines"), list.join(", "));
    }
}

pub fn paid_file(o: &Out, s: &BatchPaySummary) {
    print!("{} {}: ", o.t("批次", "batch"), s.batch);
    println!(
        "{} {} {}, {} {} {}; {} {}",
        o.t("已拨付", "paid"),
        s.paid,
        o.t("条明细", "lines"),
        o.t("共", "total"),
        yuan(s.paid_fen),
        o.t("元", "yuan"),
        s.already,
        o.t(
            "条此前已按同一流水号拨付（跳过）",
            "already paid with the same reference (skipped)"
        )
    );
    for e in &s.refused {
        eprintln!(
            "  {} {}: {}",
            o.t("未拨付，第", "not paid, line"),
            e.line,
            if o.en() { &e.en } else { &e.zh }
        );
    }
    if !s.outstanding.is_empty() {
        println!(
            "  {} {}",
            s.outstanding.len(),
            o.t("条明细仍待拨付", "lines of the batch still await payment")
        );
    }
    if s.adjustments > 0 {
        println!(
            "  {} {}",
            s.adjustments,
            o.t(
                "条更正差额明细已生成",
                "lines for differences that waited were added"
            )
        );
    }
}

pub fn cancelled(o: &Out, batch: i64, s: &CancelSummary) {
    println!(
        "{} {batch} {}: {} {}（{} {}，{} {}）",
        o.t("批次", "batch"),
        o.t("已退回", "returned"),
        s.returned,
        o.t("条明细回到企业已确认", "lines back to confirmed"),
        s.superseded,
        o.t("条被更正取代", "superseded by a rerun"),
        s.new_lines,
        o.t("条差额明细", "lines for the difference")
    );
}

pub fn notice(o: &Out, n: &NoticeExport) {
    println!(
        "{} {}「{}」 {} — {}: {} {}, {} {} ({} {})",
        o.t("公示", "notice"),
        n.id,
        n.title,
        n.opens,
        n.closes,
        n.rows.len(),
        o.t("条", "lines"),
        wan(n.total_fen),
        o.t("万元", "万元"),
        yuan(n.total_fen),
        o.t("元", "yuan")
    );
    println!("  {}\n  {}", n.xlsx.display(), n.csv.display());
}

pub fn payments(o: &Out, p: &PaymentsExport) {
    let Some(batch) = p.batch else {
        println!("{}", o.t("没有待拨付的明细", "no confirmed lines to pay"));
        return;
    };
    println!(
        "{} {batch}: {} {} {}, {} {} → {}",
        o.t("付款批次", "payment batch"),
        o.t("待拨付", "payable"),
        p.rows.len(),
        o.t("条明细", "lines"),
        yuan(p.total_fen),
        o.t("元", "yuan"),
        p.file.display()
    );
}

pub fn reconciliation(o: &Out, r: &Reconciliation) {
    println!(
        "{} {}{}",
        o.t("对账 年度", "reconciliation, period "),
        r.period,
        r.budgets_from
            .as_ref()
            .map(|p| format!(" ({} {})", o.t("预算取自", "budgets from"), p.display()))
            .unwrap_or_default()
    );
    println!(
        "{:<24} {:>16} {:>8} {:>16} {:>16} {:>16} {:>14}",
        o.t("条款", "clause"),
        o.t("预算（元）", "budget (yuan)"),
        o.t("项数", "count"),
        o.t("测算（元）", "computed"),
        o.t("已审核（元）", "approved"),
        o.t("已拨付（元）", "paid"),
        o.t("已追回（元）", "recovered"),
    );
    let row = |label: &str, budget: String, x: &ReconRow| {
        println!(
            "{:<24} {:>16} {:>8} {:>16} {:>16} {:>16} {:>14}",
            label,
            budget,
            x.entitlements,
            yuan(x.computed),
            yuan(x.approved),
            yuan(x.paid),
            yuan(x.recovered)
        );
    };
    for x in &r.rows {
        let budget = x
            .budget
            .map(yuan)
            .unwrap_or_else(|| o.t("未设预算", "no budget").to_string());
        row(&x.label, budget, x);
    }
    row(o.t("合计", "total"), "—".into(), &r.total);
    println!(
        "{}",
        o.t(
            "注：“未设预算”的条款在政策中没有资金池（总量控制），按测算金额据实兑现。",
            "note: \"no budget\" means the policy declares no pool for the clause; it pays what is computed."
        )
    );
}

/// True when the chain is intact.
pub fn verified(o: &Out, r: &VerifyReport) -> bool {
    if r.ok() {
        println!(
            "{} {} {}",
            o.t("审计链完整：", "audit chain intact:"),
            r.events,
            o.t(
                "个事件，状态与记录一致",
                "events, current states agree with them"
            )
        );
        return true;
    }
    for p in &r.problems {
        eprintln!(
            "{}: {}",
            o.t("审计校验失败", "verify failed"),
            p.describe(o.en())
        );
    }
    false
}

pub fn derived(o: &Out, d: &DerivedSnapshot, period: i64) {
    println!(
        "{} {} ({} {} {}, {} {})",
        o.t(
            "含台账奖励记录的快照：",
            "snapshot with the ledger's award history:"
        ),
        d.dir.display(),
        d.awards,
        o.t("条", "awards before"),
        period,
        d.derived.unknown_firms,
        o.t(
            "条属于快照外企业，未写入",
            "of firms not in the snapshot left out"
        )
    );
}

fn step_name<'a>(o: &Out, a: &'a str) -> &'a str {
    if o.en() {
        return a;
    }
    match a {
        "record" => "测算入账",
        "approve" => "审核通过",
        "reject" => "驳回",
        "announce" => "公示",
        "object" => "异议",
        "confirm" => "企业确认",
        "pay" => "拨付",
        "recover" => "追回",
        "supersede" => "被更正取代",
        x => x,
    }
}

pub fn status(o: &Out, code: &str, lines: &[StatusLine]) {
    let Some(first) = lines.first() else {
        println!(
            "{} {}",
            code,
            o.t("在台账中没有奖励记录", "has no awards in the ledger")
        );
        return;
    };
    println!("{} {}", code, first.firm_name);
    for s in lines {
        let tranche = if s.tranche.is_empty() {
            String::new()
        } else {
            format!(" · {}", s.tranche)
        };
        println!(
            "\n  {} {}{}  {} {}  [{} {}]",
            s.period,
            s.clause,
            tranche,
            yuan(s.amount_fen),
            o.t("元", "yuan"),
            o.t("明细", "line"),
            s.line
        );
        let kind = match (s.kind.as_str(), o.en()) {
            ("award", _) => String::new(),
            ("topup", false) => " (补差)".into(),
            ("recovery", false) => " (更正追回)".into(),
            (k, _) => format!(" ({k})"),
        };
        println!(
            "    {}: {}{}{}",
            o.t("状态", "state"),
            s.state.name(o.en()),
            kind,
            s.reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        );
        if let Some(r) = &s.reference {
            println!("    {}: {r}", o.t("支付流水号", "payment reference"));
        }
        for (act, at) in &s.steps {
            println!("    {:<10} {at}", step_name(o, act));
        }
    }
}

/// A traced line: its entitlement, the run behind it, its versions and payment, and the
/// recomputation.
pub fn trace(o: &Out, t: &huiqi_ledger::trace::Trace, r: &Recomputed) {
    let tranche = if t.tranche.is_empty() {
        String::new()
    } else {
        format!(" · {}", t.tranche)
    };
    println!(
        "{} {}  {} {}  {} {}{}",
        o.t("明细", "line"),
        t.line,
        t.firm_id,
        t.name,
        t.period,
        t.clause,
        tranche
    );
    println!(
        "  {}: {} {}  {}: {}  {}: {} {}",
        o.t("金额", "amount"),
        yuan(t.fen),
        o.t("元", "yuan"),
        o.t("状态", "state"),
        t.state,
        o.t("测算金额", "computed"),
        yuan(t.computed_fen),
        o.t("元", "yuan"),
    );
    let run = &t.run;
    println!(
        "  {}: {} ({} {}, {} {})",
        o.t("测算", "run"),
        run.run_id,
        o.t("入账", "recorded"),
        run.recorded_at,
        o.t("经办", "by"),
        run.recorded_by,
    );
    println!(
        "    {}: {} {}",
        o.t("政策", "policy"),
        run.policy_name,
        run.policy_hash
    );
    println!("    {}: {}", o.t("数据快照", "snapshot"), run.snapshot_hash);
    println!("    {}: {}", o.t("结果文件", "results"), run.results_sha256);
    println!("    {}: {}", o.t("引擎", "engine"), run.engine_version);
    for v in &t.versions {
        println!(
            "  {} {} v{} {} {} {} {}",
            o.t("版本", "version"),
            v.line,
            v.version,
            v.kind,
            yuan(v.fen),
            v.state,
            v.created_at
        );
    }
    if let Some((reference, at, by)) = &t.payment {
        println!("  {}: {reference} {at} {by}", o.t("支付", "paid"));
    }
    let figure = match r.fen {
        Some(f) => format!("{} {}  ", yuan(f), o.t("元", "yuan")),
        None => String::new(),
    };
    println!(
        "  {}: {figure}{}",
        o.t("复算", "recomputed"),
        o.t(&r.zh, &r.en)
    );
}
