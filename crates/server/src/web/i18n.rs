//! Every string the pages show, in one table: key → (中文, English). Chinese is the default;
//! the `lang` cookie (`/lang?to=en`) switches. A key missing from the table shows as `⟦key⟧`,
//! which the tests look for on every page in both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// The language of a request: its `lang` cookie, Chinese unless it says `en`.
pub fn from_headers(h: &HeaderMap) -> Lang {
    let en = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == "lang" && v == "en");
    if en {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// The marker of a key the table lacks.
pub const MISSING_OPEN: char = '⟦';

#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn get(&self, key: &str) -> Option<String> {
        table().get(key).map(|(zh, en)| {
            match self.lang {
                Lang::Zh => *zh,
                Lang::En => *en,
            }
            .to_string()
        })
    }
    pub fn t(&self, key: &str) -> String {
        self.get(key)
            .unwrap_or_else(|| format!("{MISSING_OPEN}{key}⟧"))
    }
}

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static T: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    T.get_or_init(|| TABLE.iter().map(|(k, zh, en)| (*k, (*zh, *en))).collect())
}

/// (key, 中文, English).
pub const TABLE: &[(&str, &str, &str)] = &[
    // Layout
    ("app.name", "惠企", "Huiqi"),
    ("app.tagline", "免申即享", "support without applying"),
    ("app.nav", "主导航", "Main navigation"),
    ("app.skip", "跳到正文", "Skip to content"),
    ("app.other_lang", "English", "中文"),
    ("app.login", "登录", "Log in"),
    ("app.logout", "退出", "Log out"),
    ("app.footer", "惠企 · 免申即享政策兑现 · 金额按分精确计算，时间为北京时间", "Huiqi · enterprise support without applications · amounts exact to the fen, times in Beijing time"),
    ("nav.check", "政策体检", "Policy check"),
    ("nav.awards", "我的奖补", "My awards"),
    ("nav.review", "审核队列", "Review queue"),
    ("nav.finance", "资金拨付", "Payments"),
    ("nav.audit", "审计", "Audit"),
    ("nav.dashboard", "驾驶舱", "Dashboard"),
    ("nav.notice", "公示", "Public notice"),
    ("nav.policy", "政策目录", "Policy catalogue"),
    ("role.firm", "企业", "firm"),
    ("role.officer", "经办人", "officer"),
    ("role.reviewer", "审核人", "reviewer"),
    ("role.finance", "财政", "finance"),
    ("role.auditor", "审计", "auditor"),
    ("role.leader", "领导", "leader"),
    ("role.admin", "管理员", "administrator"),
    ("role.public", "公众", "public"),
    // Errors
    ("error.not_found", "未找到", "Not found"),
    ("error.forbidden", "无权访问", "Not allowed"),
    ("error.conflict", "操作未执行", "Not done"),
    ("error.bad_request", "请求有误", "Bad request"),
    ("error.internal", "服务内部错误", "Internal error"),
    ("error.home", "返回首页", "Back to the home page"),
    // Flash messages after an action ({n}: how many)
    ("done.approve", "已审核通过 {n} 条明细", "{n} line(s) approved"),
    ("done.reject", "已驳回 {n} 条明细", "{n} line(s) rejected"),
    ("done.announce", "已发布公示", "The notice is published"),
    ("done.confirm", "已确认，等待拨付", "Confirmed; awaiting payment"),
    ("done.object", "异议已提交，将由经办人处理", "Objection filed; an officer will handle it"),
    ("done.export", "已生成付款批次，共 {n} 条明细", "Payment batch made with {n} line(s)"),
    ("done.export_none", "没有企业已确认、待拨付的明细", "No confirmed line is waiting for payment"),
    ("done.paid", "已拨付 {n} 条明细", "{n} line(s) paid"),
    ("done.cancel", "批次已撤回，{n} 条明细回到已确认", "Batch withdrawn; {n} line(s) back to confirmed"),
    ("finance.cancel", "撤回批次", "Withdraw batch"),
    ("finance.cancel_reason", "撤回原因（如国库退回）", "Reason (e.g. returned by the treasury)"),
    // Home and login
    ("home.title", "惠企 · 免申即享", "Huiqi · support without applying"),
    ("home.lead", "符合条件的企业无需申报：政府依据已掌握的数据测算奖补，经审核、公示、企业一键确认后直接拨付。", "Firms that qualify need not apply: the government computes the award from the data it holds, reviews and publishes it, and pays once the firm confirms with one click."),
    ("home.notice", "拟兑现名单、公示期与异议渠道", "The list to be paid, its window and how to object"),
    ("home.policy", "每条政策的条文、规则与参数", "Each clause's text, rule and parameters"),
    ("home.login", "企业查看政策体检与兑现进度；工作人员办理审核与拨付", "Firms: policy check and award status. Staff: review and payment"),
    ("login.title", "登录", "Log in"),
    ("login.user", "账号", "Account"),
    ("login.password", "密码", "Password"),
    ("login.hint", "企业账号为统一社会信用代码。连续输错密码将锁定账号。", "A firm's account is its unified social credit code. Repeated wrong passwords lock the account."),
    // Firm: check
    ("check.title", "政策体检", "Policy check"),
    ("check.period", "年度", "Year"),
    ("check.snapshot", "数据快照", "Data snapshot"),
    ("check.total", "可享合计", "Total due"),
    ("check.qualified", "符合条款", "Clauses met"),
    ("check.excluded", "因负面清单不予奖补：", "Excluded by the negative list: "),
    ("check.estimate_note", "资金池和遴选类条款按全体企业核定，单户测算仅为预估（资格达标；金额按资金池核定）。", "Pool and ranking clauses are allocated over all firms; for one firm the amount is an estimate."),
    ("check.none", "不符合", "Not met"),
    ("check.estimated", "预估", "estimate"),
    ("check.tranche", "分期", "Tranche"),
    ("check.why_not", "原因：", "Why not: "),
    ("check.condition", "条件", "Condition"),
    ("check.result", "结果", "Result"),
    ("check.value", "企业数值", "Firm's value"),
    ("check.threshold", "门槛", "Threshold"),
    ("check.data", "数据与差距", "Data and gap"),
    ("check.ok", "满足", "met"),
    ("check.fail", "未满足", "not met"),
    ("check.unknown", "数据缺失", "data missing"),
    ("check.missing", "缺失", "missing"),
    ("check.source", "来源：", "source: "),
    ("check.formula", "金额规则：", "Amount rule: "),
    ("whatif.title", "测算：如果数据不同", "What if"),
    ("whatif.intro", "修改下列数据，查看各条款的结果如何变化。测算只在页面上进行，不改变在档数据，也不产生奖补。", "Change figures below to see how each clause's result moves. Nothing is saved and no award is made."),
    ("whatif.total", "测算合计", "Total (what-if)"),
    ("whatif.on_file_total", "在档数据合计", "on file:"),
    ("whatif.no_diff", "各条款金额不变。", "No clause's amount changes."),
    ("whatif.on_file", "在档数据", "On file"),
    ("whatif.result", "测算结果", "What-if"),
    ("whatif.figure", "数据项", "Figure"),
    ("whatif.value", "测算取值", "What-if value"),
    ("whatif.changed", "已修改", "changed"),
    ("whatif.spelling", "金额可写作 2500万、1.2亿 或 1,234.56；比例写作 3%；日期写作 2023-03-01；留空表示无此数据。", "Money as 2500万, 1.2亿 or 1,234.56; ratios as 3%; dates as 2023-03-01; empty means no value."),
    ("whatif.submit", "测算", "Calculate"),
    ("whatif.detail", "测算明细", "Details under the what-if figures"),
    ("whatif.back", "← 返回政策体检", "← Back to the policy check"),
    // Firm: awards
    ("awards.title", "我的奖补", "My awards"),
    ("awards.none", "暂无奖补记录。", "No award lines yet."),
    ("awards.line", "明细", "line"),
    ("awards.after", "间隔", "after"),
    ("awards.days", "天", "days"),
    ("awards.elapsed", "自测算起已", "Since computation:"),
    ("awards.paid_on", "已拨付，拨付日期", "Paid on"),
    ("awards.reference", "支付流水号", "Payment reference"),
    ("awards.reason", "说明：", "Note: "),
    ("awards.confirm", "一键确认", "Confirm"),
    ("awards.object", "提出异议（实名）", "Object (with your real name)"),
    ("awards.real_name", "异议人姓名", "Your real name"),
    ("awards.object_reason", "异议理由", "Reason"),
    ("awards.object_submit", "提交异议", "File the objection"),
    ("stage.computed", "测算", "Computed"),
    ("stage.approved", "审核", "Reviewed"),
    ("stage.announced", "公示", "Announced"),
    ("stage.confirmed", "确认", "Confirmed"),
    ("stage.paid", "拨付", "Paid"),
    ("data.title", "数据与测算", "Data and runs"),
    ("data.served", "当前服务中", "served"),
    ("data.ingested", "数据已导入，生成新快照", "Data ingested: a new snapshot"),
    ("data.reused", "相同数据此前已导入，沿用原快照", "The same data was ingested before: that snapshot is reused"),
    ("data.snapshot", "数据快照", "Snapshot"),
    ("data.table", "数据表", "Table"),
    ("data.rows", "行数", "Rows"),
    ("data.refused", "数据有误，未写入任何内容", "The data has problems; nothing was written"),
    ("data.file", "文件", "File"),
    ("data.row", "行", "Row"),
    ("data.column", "列", "Column"),
    ("data.reason", "问题", "Problem"),
    ("data.truncated", "问题较多，仅列出前200处。", "Only the first 200 problems are listed."),
    ("data.upload", "导入数据", "Upload data"),
    ("data.mapping", "映射文件（mapping.toml）", "Mapping (mapping.toml)"),
    ("data.files", "数据文件（CSV/XLSX，可多选）", "Data files (CSV/XLSX, several)"),
    ("data.upload_submit", "校验并导入", "Check and ingest"),
    ("data.upload_hint", "每一行、每一格都会校验；有任何问题则全部不写入，并列出文件、行、列和原因。", "Every row and cell is checked; on any problem nothing is written and each is listed with its file, row, column and reason."),
    ("data.run", "发起测算", "Start a run"),
    ("data.record", "完成后记入台账（进入审核队列）", "Record into the ledger when done (the review queue)"),
    ("data.run_submit", "开始测算", "Start"),
    ("data.run_hint", "测算在后台进行，企业查询不受影响；同一时间只运行一个测算。", "The run works in the background; firms' checks are unaffected. One run at a time."),
    ("data.runs", "测算记录", "Runs"),
    ("data.activate", "启用数据快照", "Put a snapshot in service"),
    ("data.activate_submit", "启用", "Put in service"),
    ("data.activate_hint", "启用后，企业的政策体检与测算即按该快照的数据计算（先核对快照文件未被改动）；已记入台账的奖补不受影响。", "Once in service, firms' checks and what-ifs read this snapshot's figures (its files are checked first); awards already in the ledger are unaffected."),
    ("done.activate", "已启用新的数据快照（{n} 家企业）", "The snapshot is in service ({n} firms)"),
    ("data.no_runs", "本次服务启动以来尚无测算。", "No run since this server started."),
    ("run.title", "测算", "Run"),
    ("run.id", "编号", "Run"),
    ("run.actor", "发起人", "Started by"),
    ("run.started", "开始", "Started"),
    ("run.total", "测算合计", "Total computed"),
    ("run.progress", "进度", "Progress"),
    ("run.state.evaluating", "计算中", "evaluating"),
    ("run.state.writing", "写出结果", "writing results"),
    ("run.state.recording", "记入台账", "recording"),
    ("run.state.done", "已完成", "done"),
    ("run.state.failed", "失败", "failed"),
    ("run.failed", "测算失败：", "The run failed: "),
    ("run.refresh", "刷新进度", "Refresh"),
    ("run.firms", "企业数", "Firms"),
    ("run.elapsed", "用时", "took"),
    ("run.recorded", "已记入台账：新增 {new} 条明细（{amount}），变更 {changed} 条，更正 {superseded} 条。", "Recorded: {new} new line(s) ({amount}), {changed} changed, {superseded} superseded."),
    ("run.recorded_already", "此前已记入台账，无变化。", "Recorded before: nothing changed."),
    ("run.files", "下载：", "Files:"),
    ("run.by_clause", "按条款", "By clause"),
    ("run.awards", "奖补笔数", "Awards"),
    ("run.results", "测算明细", "Awards"),
    ("pager.label", "翻页", "Pages"),
    ("pager.prev", "← 上一页", "← Previous"),
    ("pager.next", "下一页 →", "Next →"),
    ("nav.data", "数据与测算", "Data & runs"),
    ("correction.title", "数据有误", "Report a wrong figure"),
    ("correction.queue", "数据更正申请", "Correction requests"),
    ("correction.intro", "如在档数据有误，请指出数据项和正确数值。经办人核实后，由数据来源部门更正，下一批数据导入后重新测算。提交申请不会改变已有奖补。", "If a figure on file is wrong, name it and the right value. An officer checks it; the source department corrects it and the next data import is evaluated again. A request changes no award by itself."),
    ("correction.new", "提交更正申请", "New request"),
    ("correction.fact", "数据项（在档数值）", "Figure (on file)"),
    ("correction.claimed", "正确数值", "Right value"),
    ("correction.note", "说明与依据", "Note and evidence"),
    ("correction.contact", "联系人及电话", "Contact name and phone"),
    ("correction.submit", "提交", "Submit"),
    ("correction.spelling", "金额可写作 2500万 或 1,234.56；比例写作 3%；是/否。", "Money as 2500万 or 1,234.56; ratios as 3%; yes/no as 是/否."),
    ("correction.mine", "我的更正申请", "My requests"),
    ("correction.none", "尚无更正申请。", "No request yet."),
    ("correction.empty", "没有符合条件的申请。", "No matching request."),
    ("correction.filed", "提交日期", "Filed"),
    ("correction.resolution", "处理意见", "Resolution"),
    ("correction.accept", "受理（转来源部门更正）", "Accept (to the source department)"),
    ("correction.dismiss", "不予受理", "Dismiss"),
    ("correction.state.open", "待处理", "open"),
    ("correction.state.accepted", "已受理", "accepted"),
    ("correction.state.dismissed", "不予受理", "dismissed"),
    ("correction.state.all", "全部", "all"),
    ("nav.corrections", "数据更正", "Corrections"),
    ("nav.objections", "异议处理", "Objections"),
    ("review.objection_hint", "异议成立的，勾选后驳回（写明理由）；不成立的，在下方重新发布公示，企业可再次确认。异议理由与异议人见状态栏。", "Where an objection stands, check the line and reject it with a reason; where it does not, announce the 公示 again below and the firm can confirm. The reason and the objector are under the state."),
    ("nav.correction", "数据有误", "Wrong figure?"),
    ("done.correction", "更正申请已提交，经办人将联系您", "Request filed; an officer will contact you"),
    ("done.resolved", "已处理", "Handled"),
    ("trace.title", "金额溯源", "Where this figure comes from"),
    ("trace.computed", "台账最新测算金额：", "Latest computed amount in the ledger: "),
    ("trace.recomputed", "当场复算：", "Recomputed here: "),
    ("trace.run", "来源测算", "The run"),
    ("trace.policy", "政策版本", "Policy version"),
    ("trace.engine", "引擎版本", "Engine version"),
    ("trace.results", "结果文件哈希", "Results file hash"),
    ("trace.recorded", "记入台账", "Recorded"),
    ("trace.payment", "拨付", "Payment"),
    ("trace.versions", "该权益的各版本", "Versions of the entitlement"),
    ("trace.version", "版本", "Version"),
    ("trace.kind", "类型", "Kind"),
    ("trace.created", "生成", "Created"),
    ("trace.events", "审计事件", "Audit events"),
    ("trace.time", "时间", "Time"),
    ("trace.actor", "操作人", "Actor"),
    ("trace.action", "操作", "Action"),
    ("trace.detail", "内容", "Detail"),
    ("trace.hash", "哈希", "Hash"),
    ("state.computed", "已测算", "computed"),
    ("state.approved", "已审核", "approved"),
    ("state.rejected", "已驳回", "rejected"),
    ("state.announced", "公示中", "in public notice"),
    ("state.objected", "有异议", "objected"),
    ("state.confirmed", "已确认", "confirmed"),
    ("state.exported", "待拨付", "awaiting payment"),
    ("state.paid", "已拨付", "paid"),
    ("state.recovered", "已追回", "recovered"),
    ("state.superseded", "已更正", "superseded"),
    // Public notice
    ("notice.title", "拟兑现名单公示", "Public notice of awards"),
    ("notice.window", "公示期", "Notice window"),
    ("notice.tz", "（北京时间）", "(Beijing time)"),
    ("notice.left", "距公示结束还有 {d} 天 {h} 小时", "{d} days {h} hours left in the notice window"),
    ("notice.before", "公示将于 {date} 开始", "The notice opens on {date}"),
    ("notice.closed", "公示已于 {date} 结束", "The notice closed on {date}"),
    ("notice.count", "名单", "Lines"),
    ("notice.total", "金额合计", "Total"),
    ("notice.objection", "对名单有异议的，请在公示期内由企业登录后实名提出，并写明理由；经办部门将核实处理。", "To object, the firm logs in during the notice window and files an objection with a real name and a reason; the responsible department checks it."),
    ("notice.csv", "下载 CSV", "Download CSV"),
    ("notice.xlsx", "下载 Excel", "Download Excel"),
    ("notice.staff", "经办用（含明细号）：", "For staff (with line numbers):"),
    ("notice.none", "目前没有公示。", "Nothing is in public notice yet."),
    // Catalogue
    ("policy.title", "政策目录", "Policy catalogue"),
    ("policy.issuer", "发布单位", "Issuer"),
    ("policy.version", "版本", "Version"),
    ("policy.window", "有效期", "In force"),
    ("policy.clauses", "条款", "Clauses"),
    ("policy.department", "牵头部门", "Department"),
    ("policy.population", "按全体企业核定", "allocated over all firms"),
    ("policy.text", "条文", "Text"),
    ("policy.rule", "规则", "Rule"),
    ("policy.params", "参数", "Parameters"),
    ("policy.param", "参数", "Parameter"),
    ("policy.from", "起始日期", "From"),
    ("policy.value", "取值", "Value"),
    ("policy.pools", "资金池", "Budget pools"),
    ("policy.pool", "资金池", "Pool"),
    ("policy.budget", "预算", "Budget"),
    ("policy.facts", "数据项", "Facts"),
    ("policy.fact", "数据项", "Fact"),
    ("policy.label", "名称", "Label"),
    // Columns
    ("col.firm", "企业", "Firm"),
    ("col.uscc", "统一社会信用代码", "Credit code"),
    ("col.clause", "条款", "Clause"),
    ("col.period", "年度", "Year"),
    ("col.amount", "金额", "Amount"),
    ("col.state", "状态", "State"),
    ("col.line", "明细", "Line"),
    ("col.updated", "更新", "Updated"),
    // Review
    ("review.title", "审核队列", "Review queue"),
    ("review.all_clauses", "全部条款", "All clauses"),
    ("review.filter", "筛选", "Filter"),
    ("review.count", "符合条件的明细", "Matching lines"),
    ("review.shown_amount", "本页金额", "Amount on this page"),
    ("review.empty", "没有符合条件的明细。", "No matching lines."),
    ("review.checked", "勾选的明细", "Checked lines"),
    ("review.reason", "理由（驳回必填）", "Reason (required to reject)"),
    ("review.approve", "审核通过", "Approve"),
    ("review.reject", "驳回", "Reject"),
    ("review.bulk", "按条款批量处理", "Whole clause"),
    ("review.approve_all", "整条款通过", "Approve the clause"),
    ("review.reject_all", "整条款驳回", "Reject the clause"),
    ("review.bulk_hint", "处理该条款下所有可处理状态的明细（每次最多一万条）。只能处理本部门牵头的条款。", "Acts on every line of the clause in a state the step accepts (up to 10,000 at a time). Only your department's clauses."),
    ("review.announce", "发布公示", "Publish the notice"),
    ("review.notice_title", "公示标题", "Notice title"),
    ("review.notice_default", "拟兑现名单公示", "拟兑现名单公示"),
    ("review.days", "公示天数", "Days"),
    ("review.announce_submit", "发布公示", "Publish"),
    ("review.announce_hint", "已审核通过（或异议已处理）的明细进入公示；公示期内企业可确认或提出异议。", "Approved lines (and handled objections) go into the notice; during the window firms confirm or object."),
    // Finance
    ("finance.title", "资金拨付", "Payments"),
    ("finance.export", "生成付款文件", "Make the payment file"),
    ("finance.export_submit", "生成付款批次", "Make a payment batch"),
    ("finance.export_hint", "企业已确认的明细组成一个批次，发送国库。", "Lines the firms confirmed form one batch for the treasury."),
    ("finance.download", "下载付款文件，批次", "Download the payment file of batch"),
    ("finance.batches", "付款批次", "Payment batches"),
    ("finance.batch", "批次", "Batch"),
    ("finance.outstanding", "待拨付", "Awaiting"),
    ("finance.created", "生成日期", "Made on"),
    ("finance.file", "付款文件", "Payment file"),
    ("finance.no_batches", "尚无付款批次。", "No payment batch yet."),
    ("finance.upload", "上传支付结果", "Upload the paid file"),
    ("finance.paid_file", "国库返回的支付结果文件（CSV）", "The treasury's paid file (CSV)"),
    ("finance.check", "校验", "Check"),
    ("finance.upload_hint", "先完整校验并显示结果，确认后才入账。", "The whole file is checked and shown first; nothing is recorded until you apply it."),
    ("batch.exported", "已送国库", "sent to the treasury"),
    ("batch.paid", "已全部拨付", "paid"),
    ("batch.cancelled", "已撤回", "cancelled"),
    ("paid.title", "支付结果校验", "Paid file check"),
    ("paid.file", "文件", "File"),
    ("paid.would_pay", "可拨付", "Would pay"),
    ("paid.already", "此前已拨付", "already paid"),
    ("paid.refused", "不能拨付", "refused"),
    ("paid.nothing_yet", "尚未入账：确认无误后点击“确认拨付”。", "Nothing is recorded yet: apply the file when it is right."),
    ("paid.refused_lines", "不能拨付的行", "Lines refused"),
    ("paid.file_line", "文件行", "File line"),
    ("paid.why", "原因", "Why"),
    ("paid.payable_lines", "将拨付的明细", "Lines to be paid"),
    ("paid.partial", "只拨付无误的明细，其余留待处理", "Pay only the good lines; leave the rest"),
    ("paid.apply", "确认拨付", "Apply"),
    ("paid.cancel", "放弃，返回", "Discard and go back"),
    ("recon.title", "对账", "Reconciliation"),
    ("recon.budget", "预算", "Budget"),
    ("recon.lines", "明细数", "Lines"),
    ("recon.computed", "测算", "Computed"),
    ("recon.approved", "审核通过", "Approved"),
    ("recon.paid", "已拨付", "Paid"),
    ("recon.recovered", "已追回", "Recovered"),
    ("recon.total", "合计", "Total"),
    ("recon.none", "台账中尚无测算记录。", "No run is recorded in the ledger yet."),
    // Audit and dashboard
    ("audit.title", "审计", "Audit"),
    ("audit.entity", "对象", "Entity"),
    ("audit.verify", "校验哈希链", "Verify the chain"),
    ("audit.ok", "哈希链完整，台账与事件一致", "The chain is intact and the tables match their events"),
    ("audit.broken", "校验发现问题", "Verification found problems"),
    ("audit.events", "个事件", "events"),
    ("audit.total", "事件总数", "Events"),
    ("audit.at", "时间", "Time"),
    ("audit.actor", "操作人", "Actor"),
    ("audit.action", "操作", "Action"),
    ("audit.detail", "内容", "Detail"),
    ("audit.hash", "哈希", "Hash"),
    ("audit.newer", "较新", "Newer"),
    ("audit.older", "较早", "Older"),
    ("dashboard.title", "驾驶舱", "Dashboard"),
    ("dashboard.lead", "资金、惠及企业、兑现时效与逾期事项，按年度", "Money, firms reached, time to payment and overdue items, for the year"),
    ("dash.firms_reached", "惠及企业", "Firms reached"),
    ("dash.of_firms", "在库企业 {n} 家，已拨付 {paid} 家", "of {n} firms on file; {paid} paid"),
    ("dash.days_median", "测算到拨付（中位天数）", "Computation to payment (median days)"),
    ("dash.days_p90", "90%在 {n} 天内", "90% within {n} days"),
    ("dash.overdue", "超过{n}天未办结", "Waiting over {n} days"),
    ("dash.overdue_title", "逾期事项", "Overdue items"),
    ("dash.overdue_days", "逾期天数", "Overdue after (days)"),
    ("dash.oldest50", "列出最早的50条", "the oldest 50 are listed"),
    ("dash.since", "进入当前状态", "In this state since"),
    ("dash.waiting_days", "已等待天数", "Days waiting"),
    ("dash.unit_wan", "万元", "10k yuan"),
    ("dash.days", "天数", "Days"),
    ("dash.firms", "企业数", "Firms"),
    ("dash.budget_yuan", "预算（元）", "Budget (yuan)"),
    ("dash.export", "导出 Excel", "Export to Excel"),
    ("dash.chart.by_clause", "各条款资金（万元）", "Money by clause (10k yuan)"),
    ("dash.chart.by_state", "各状态资金（万元）", "Money by state (10k yuan)"),
    ("dash.chart.days", "测算到拨付用时分布", "Days from computation to payment"),
    ("dash.group.waiting", "待审核", "awaiting review"),
    ("dash.group.in_progress", "审核、公示与确认中", "in review, notice and confirmation"),
    ("dash.group.paid", "已拨付", "paid"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_once_with_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in TABLE {
            assert!(seen.insert(*k), "duplicate key {k}");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
    }

    #[test]
    fn a_missing_key_is_marked() {
        let t = Tr { lang: Lang::En };
        assert_eq!(t.t("nav.notice"), "Public notice");
        assert!(t.t("no.such").starts_with(MISSING_OPEN));
    }
}
