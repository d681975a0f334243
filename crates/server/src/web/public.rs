//! Public pages. `/notice`: the 公示 list (the API's notice handler: public fields only), its
//! window and a countdown, the objection notice, and — for staff Cedar lets export it — the
//! CSV/XLSX export. `/policy`: the catalogue, each clause's 条文 beside its rule as written in
//! the pack, the dated parameters and the pools.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Mutex;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};

use super::{fmt, query_param, render, Layout, Page};
use crate::authz::{Act, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::routes;

pub struct NoticeRowView {
    pub name: String,
    pub firm: String,
    pub clause: String,
    pub period: i64,
    pub amount: String,
}

#[derive(askama::Template)]
#[template(path = "notice.html")]
struct NoticePage {
    l: Layout,
    /// None: nothing announced yet.
    notice: Option<NoticeView>,
}

struct NoticeView {
    id: i64,
    title: String,
    opens: String,
    closes: String,
    /// `open`, `before` or `closed`.
    phase: &'static str,
    countdown: String,
    total: String,
    total_short: Option<String>,
    rows: Vec<NoticeRowView>,
    /// Lines in the whole notice, and this page of them.
    count: usize,
    first: usize,
    page: usize,
    pages: usize,
    can_export: bool,
}

/// Lines per page of the 公示 list.
const NOTICE_PAGE: usize = 200;

pub async fn notice(p: Page) -> Response {
    let r = notice_inner(&p).await;
    p.finish(r)
}

async fn notice_inner(p: &Page) -> ApiResult<Response> {
    let id = query_param(&p.path, "id").and_then(|x| x.parse::<i64>().ok());
    let r = routes::zone::notice(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Query(routes::zone::NoticeQ { id }),
    )
    .await;
    let n = match r {
        Ok(Json(n)) => n,
        // Nothing announced yet (the latest notice) is a page, not an error.
        Err(e) if e.status == StatusCode::NOT_FOUND && id.is_none() => {
            return render(&NoticePage {
                l: p.layout("notice.title"),
                notice: None,
            })
        }
        Err(e) => return Err(e),
    };
    let now = huiqi_ledger::now();
    let (phase, countdown) = if now < n.opens {
        (
            "before",
            p.t("notice.before").replace("{date}", &p.date(&n.opens)),
        )
    } else if n.open {
        let (d, h) = fmt::left_until(&n.closes).unwrap_or((0, 0));
        (
            "open",
            p.t("notice.left")
                .replace("{d}", &d.to_string())
                .replace("{h}", &h.to_string()),
        )
    } else {
        (
            "closed",
            p.t("notice.closed").replace("{date}", &p.date(&n.closes)),
        )
    };
    let count = n.rows.len();
    let pages = count.div_ceil(NOTICE_PAGE).max(1);
    let page = query_param(&p.path, "page")
        .and_then(|x| x.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let first = (page - 1) * NOTICE_PAGE;
    let view = NoticeView {
        id: n.id,
        title: n.title,
        opens: fmt::datetime(&n.opens, p.lang),
        closes: fmt::datetime(&n.closes, p.lang),
        phase,
        countdown,
        total: p.money(n.total_fen),
        total_short: fmt::is_large(n.total_fen, p.lang).then(|| p.short(n.total_fen)),
        count,
        first,
        page,
        pages,
        rows: n
            .rows
            .into_iter()
            .skip(first)
            .take(NOTICE_PAGE)
            .map(|r| NoticeRowView {
                amount: p.money(r.amount_fen),
                name: r.name,
                firm: r.firm,
                clause: r.clause,
                period: r.period,
            })
            .collect(),
        can_export: p.allowed(Act::ExportNotice, &Resource::Zone),
    };
    render(&NoticePage {
        l: p.layout("notice.title"),
        notice: Some(view),
    })
}

/// The 公示 list as XLSX, written by the same use case as `huiqi ledger export notice` (title,
/// window, page setup); for those Cedar lets export it, like the API's CSV.
pub async fn notice_xlsx(p: Page, Path(id): Path<i64>) -> Response {
    let r = notice_xlsx_inner(&p, id).await;
    p.finish(r)
}

async fn notice_xlsx_inner(p: &Page, id: i64) -> ApiResult<Response> {
    {
        let s = &p.s;
        s.authorize(p.p(), Act::ExportNotice, &Resource::Zone)
            .await?;
        let dir = s
            .cfg
            .work
            .join(format!("notice-web-{}", crate::auth::random_hex(8)));
        let out = dir.clone();
        let ex = crate::ledger_read!(s, |l| huiqi::ledger::export_notice(l, Some(id), &out).await)
            .await??;
        let body = std::fs::read(&ex.xlsx).map_err(ApiError::internal);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(super::xlsx_download(
            body?,
            &format!("notice-{}.xlsx", ex.id),
        ))
    }
}

/// The public 公示 list as XLSX, for anyone (no line numbers, nothing internal): a title, the
/// window in Chinese dates (Beijing time), the table, the total, and how to object; landscape,
/// fitted to the page width, the header row repeated on every printed page.
pub async fn notice_public_xlsx(p: Page, Path(id): Path<i64>) -> Response {
    let r = notice_public_inner(&p, id).await;
    p.finish(r)
}

async fn notice_public_inner(p: &Page, id: i64) -> ApiResult<Response> {
    let Json(n) = routes::zone::notice(
        State(p.s.clone()),
        Extension(p.c.clone()),
        Query(routes::zone::NoticeQ { id: Some(id) }),
    )
    .await?;
    let bytes = public_xlsx(&n).map_err(ApiError::internal)?;
    Ok(super::xlsx_download(
        bytes,
        &format!("gongshi-{}.xlsx", n.id),
    ))
}

fn public_xlsx(n: &routes::zone::NoticeOut) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{DocProperties, Format, FormatAlign, Workbook};
    let zh = super::i18n::Lang::Zh;
    let mut wb = Workbook::new();
    wb.set_properties(&DocProperties::new().set_title(&n.title));
    let ws = wb.add_worksheet();
    ws.set_name("公示名单")?;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let bold = Format::new()
        .set_bold()
        .set_border(rust_xlsxwriter::FormatBorder::Thin);
    let cell = Format::new().set_border(rust_xlsxwriter::FormatBorder::Thin);
    let wanf = Format::new()
        .set_num_format("#,##0.00####")
        .set_border(rust_xlsxwriter::FormatBorder::Thin);
    let yuanf = Format::new()
        .set_num_format("#,##0.00")
        .set_border(rust_xlsxwriter::FormatBorder::Thin);
    const HEAD: [&str; 7] = [
        "序号",
        "企业名称",
        "统一社会信用代码",
        "奖补条款",
        "年度",
        "金额（万元）",
        "金额（元）",
    ];
    ws.merge_range(0, 0, 0, HEAD.len() as u16 - 1, &n.title, &title)?;
    let window = format!(
        "公示期：{} 至 {}（北京时间）",
        fmt::datetime(&n.opens, zh),
        fmt::datetime(&n.closes, zh)
    );
    ws.merge_range(1, 0, 1, HEAD.len() as u16 - 1, &window, &Format::new())?;
    for (c, h) in HEAD.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *h, &bold)?;
    }
    let mut row = 4u32;
    for (k, r) in n.rows.iter().enumerate() {
        ws.write_number_with_format(row, 0, (k + 1) as f64, &cell)?;
        // Text as text: a name that looks like a formula stays a name.
        ws.write_string_with_format(row, 1, &r.name, &cell)?;
        ws.write_string_with_format(row, 2, &r.firm, &cell)?;
        ws.write_string_with_format(row, 3, &r.clause, &cell)?;
        ws.write_number_with_format(row, 4, r.period as f64, &cell)?;
        ws.write_number_with_format(row, 5, r.amount_fen as f64 / 1_000_000.0, &wanf)?;
        ws.write_number_with_format(row, 6, r.amount_fen as f64 / 100.0, &yuanf)?;
        row += 1;
    }
    ws.write_string_with_format(row, 1, "合计", &bold)?;
    ws.write_string_with_format(row, 6, format!("{} 元", n.total_yuan), &bold)?;
    row += 2;
    let objection = "公示期内，对名单有异议的，请由企业登录“惠企”平台实名提出并写明理由，或向政策兑现窗口书面反映；经办部门将核实处理并答复。";
    ws.merge_range(
        row,
        0,
        row,
        HEAD.len() as u16 - 1,
        objection,
        &Format::new().set_text_wrap(),
    )?;
    ws.set_row_height(row, 36)?;
    for (c, w) in [6.0, 34.0, 22.0, 18.0, 8.0, 14.0, 16.0].iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(3, 3)?;
    ws.set_header("&C&\"SimSun\"惠企 免申即享 · 公示名单");
    ws.set_footer("&C第 &P 页，共 &N 页");
    wb.save_to_buffer()
}

pub struct ClauseView {
    pub name: String,
    pub reference: String,
    pub text: String,
    pub window: String,
    pub rule: String,
    pub source: String,
    pub department: String,
    pub population: bool,
}

pub struct ParamView {
    pub name: String,
    pub values: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    l: Layout,
    title: String,
    issuer: String,
    version: String,
    hash: String,
    window: String,
    clauses: Vec<ClauseView>,
    params: Vec<ParamView>,
    pools: Vec<(String, String, String)>,
    /// Name, span ("每年" or "3年累计"), limit, priority.
    caps: Vec<(String, String, String, String)>,
    /// (rule, reference and text, trigger and reach, share, clauses)
    clawbacks: Vec<(String, String, String, String, String)>,
    /// 就高 groups: name, clauses.
    exclusives: Vec<(String, String)>,
    /// Imported packs: name, title and issuer, version, window, hash.
    imports: Vec<(String, String, String, String, String)>,
    facts: Vec<(String, String, String)>,
}

/// A `YYYY-MM-DD` date as the pages write dates.
fn day(d: &str, lang: super::i18n::Lang) -> String {
    fmt::date(&format!("{d}T00:00:00+08:00"), lang)
}

pub async fn catalogue(p: Page) -> Response {
    let r = catalogue_inner(&p).await;
    p.finish(r)
}

async fn catalogue_inner(p: &Page) -> ApiResult<Response> {
    {
        let s = &p.s;
        // The same decision as GET /api/v1/policy.
        s.authorize(p.p(), Act::ReadCatalogue, &Resource::Catalogue)
            .await?;
        let c = &s.catalogue;
        let page = CataloguePage {
            l: p.layout("policy.title"),
            title: c.title.clone(),
            issuer: c.issuer.clone(),
            version: c.version.clone(),
            hash: c.hash.chars().take(12).collect(),
            window: format!(
                "{} – {}",
                day(&c.window.0, p.lang),
                day(&c.window.1, p.lang)
            ),
            clauses: c
                .clauses
                .iter()
                .map(|cl| ClauseView {
                    name: cl.name.clone(),
                    reference: cl.reference.clone(),
                    text: cl.text.clone(),
                    window: format!(
                        "{} – {}",
                        day(&cl.window.0, p.lang),
                        day(&cl.window.1, p.lang)
                    ),
                    rule: rule_text(&s.cfg.policy, &cl.source).unwrap_or_default(),
                    source: cl.source.clone(),
                    department: s.authz.department_of(&cl.name).to_string(),
                    population: cl.population,
                })
                .collect(),
            params: c
                .parameters
                .iter()
                .map(|q| ParamView {
                    name: q.name.clone(),
                    values: q
                        .values
                        .iter()
                        .map(|(d, v)| (day(d, p.lang), param_text(p, v)))
                        .collect(),
                })
                .collect(),
            pools: c
                .pools
                .iter()
                .map(|x| {
                    (
                        x.name.clone(),
                        x.clauses.join("、"),
                        yuan_text(p, &x.budget_yuan),
                    )
                })
                .collect(),
            caps: c
                .firm_caps
                .iter()
                .map(|x| {
                    let span = if x.years <= 1 {
                        p.t("policy.cap_year")
                    } else {
                        p.t("policy.cap_years").replace("{n}", &x.years.to_string())
                    };
                    (
                        x.name.clone(),
                        span,
                        yuan_text(p, &x.limit_yuan),
                        x.priority.join(" › "),
                    )
                })
                .chain(c.group_caps.iter().map(|x| {
                    (
                        x.name.clone(),
                        p.t("policy.cap_group").replace("{by}", &x.by),
                        yuan_text(p, &x.limit_yuan),
                        x.clauses.join(" › "),
                    )
                }))
                .collect(),
            clawbacks: c
                .clawbacks
                .iter()
                .map(|x| {
                    let share = if x.share == "remaining" {
                        p.t("policy.clawback_remaining")
                    } else {
                        x.share.clone()
                    };
                    (
                        x.name.clone(),
                        format!("{} {}", x.reference, x.text),
                        p.t("policy.clawback_when")
                            .replace("{when}", &x.when)
                            .replace("{n}", &x.years.to_string()),
                        share,
                        x.clauses.join("、"),
                    )
                })
                .collect(),
            exclusives: c
                .exclusives
                .iter()
                .map(|x| (x.name.clone(), x.clauses.join("、")))
                .collect(),
            imports: c
                .imports
                .iter()
                .map(|x| {
                    (
                        x.name.clone(),
                        format!("{} · {}", x.title, x.issuer),
                        x.version.clone(),
                        format!(
                            "{} – {}",
                            day(&x.window.0, p.lang),
                            day(&x.window.1, p.lang)
                        ),
                        x.hash.chars().take(12).collect(),
                    )
                })
                .collect(),
            facts: c
                .facts
                .iter()
                .map(|f| (f.name.clone(), f.label.clone(), f.source.clone()))
                .collect(),
        };
        render(&page)
    }
}

/// An exact 元 string of the catalogue as the page shows money (as written if it is not one).
fn yuan_text(p: &Page, yuan: &str) -> String {
    yuan.parse::<rust_decimal::Decimal>()
        .map(|d| p.money(huiqi_ir::money::to_fen(d)))
        .unwrap_or_else(|_| yuan.to_string())
}

/// A parameter's value as the page shows it: money in 元/万元 from the exact figure, a ratio as a
/// percentage, a count, a date or a name as written (the API's tagged JSON, read back).
fn param_text(p: &Page, v: &serde_json::Value) -> String {
    if let Some(y) = v.get("money_yuan").and_then(|x| x.as_str()) {
        return yuan_text(p, y);
    }
    let ratio = v.get("ratio").and_then(|x| x.as_str());
    if let Some(d) = ratio.and_then(|x| x.parse::<rust_decimal::Decimal>().ok()) {
        return format!("{}%", (d * rust_decimal::Decimal::from(100)).normalize());
    }
    for k in ["count", "date", "name"] {
        if let Some(x) = v.get(k).and_then(|x| x.as_str()) {
            return x.to_string();
        }
    }
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The clause's rule as written in the pack: from its `file:line` to the brace that closes it.
/// Read once per file and line, then kept.
fn rule_text(pack: &FsPath, source: &str) -> Option<String> {
    static CACHE: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    if let Some(t) = CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(source).cloned()))
    {
        return Some(t);
    }
    let (file, line) = source.rsplit_once(':')?;
    let line: usize = line.parse().ok()?;
    let candidates = [PathBuf::from(file), pack.join(file)];
    let text = candidates
        .iter()
        .find_map(|f| std::fs::read_to_string(f).ok())?;
    let mut out = vec![];
    let mut depth = 0i32;
    for l in text.lines().skip(line.saturating_sub(1)) {
        out.push(l);
        let mut in_str = false;
        for ch in l.chars() {
            match ch {
                '"' => in_str = !in_str,
                '{' if !in_str => depth += 1,
                '}' if !in_str => depth -= 1,
                '#' if !in_str => break,
                _ => {}
            }
        }
        if (depth <= 0 && out.len() > 1) || out.len() > 200 {
            break;
        }
    }
    let rule = out.join("\n");
    if let Ok(mut c) = CACHE.lock() {
        c.get_or_insert_with(HashMap::new)
            .insert(source.to_string(), rule.clone());
    }
    Some(rule)
}
