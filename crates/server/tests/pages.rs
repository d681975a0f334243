//! The web pages over HTTP, on SQLite and PostgreSQL: each page renders for the roles it is for
//! and is refused to the others (another firm's page: 404 with nothing of that firm; staff
//! pages: 403; not logged in: to the login page), a form POST without its CSRF token is
//! refused, the English pages leave no key untranslated, the security headers and assets, and
//! the whole workflow clicked through as forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::webcommon;

use common::{each_backend, Server};
use webcommon::{assert_translated, csrf_of, fill_references, upload_token_of, PageClient};

const HIGHTECH: &str = "高企认定奖励";

/// Two firms with lines of the clause: (code, name), each with a firm account.
async fn two_firms(s: &Server) -> ((String, String), (String, String)) {
    let firms = s.firms_with_lines(HIGHTECH).await;
    let a = firms[0].0.clone();
    let b = firms[1].0.clone();
    s.firm_account(&a).await;
    s.firm_account(&b).await;
    let name = |c: &str| {
        s.state
            .served()
            .firms
            .get(c)
            .map(|f| f.name.clone())
            .unwrap()
    };
    ((a.clone(), name(&a)), (b.clone(), name(&b)))
}

/// What each role gets on each page: 200, 403, 404, or 303 (to the login page).
#[test]
fn each_page_renders_for_its_roles_and_denies_the_others() {
    each_backend(async |s: &Server| {
        let ((a, _), (b, b_name)) = two_firms(s).await;
        let pages: Vec<(String, &[&str])> = vec![
            ("/notice".into(), &["*"]),
            ("/policy".into(), &["*"]),
            (
                format!("/firm/{a}"),
                &["firm", "officer", "reviewer", "auditor", "leader"],
            ),
            (
                format!("/firm/{a}/awards"),
                &["firm", "officer", "reviewer", "auditor", "leader"],
            ),
            (
                "/review".into(),
                &["officer", "reviewer", "finance", "auditor", "leader"],
            ),
            ("/finance".into(), &["finance"]),
            ("/audit".into(), &["auditor"]),
            ("/dashboard".into(), &["finance", "auditor", "leader"]),
            (
                format!("/firm/{a}/whatif?period=2023&v.营业收入=9999万"),
                &["firm", "officer", "reviewer", "auditor", "leader"],
            ),
            (
                format!("/firm/{a}/corrections"),
                &["firm", "officer", "reviewer", "auditor", "leader"],
            ),
            (
                "/corrections".into(),
                &["officer", "reviewer", "auditor", "leader"],
            ),
            (
                "/data".into(),
                &["officer", "reviewer", "finance", "auditor", "leader"],
            ),
            ("/sandbox".into(), &["officer"]),
            ("/indicators".into(), &["*"]),
            (
                "/indicators/firms?period=2021-11&indicator=%E8%BD%AF%E4%BB%B6%E4%B8%9A%E8%90%A5%E4%B8%9A%E6%94%B6%E5%85%A5&zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA".into(),
                &["officer"],
            ),
        ];
        let mut users: Vec<(String, Option<PageClient>)> =
            vec![("anonymous".into(), None), ("firm".into(), None)];
        for u in [
            "officer", "reviewer", "finance", "auditor", "leader", "admin",
        ] {
            users.push((u.into(), None));
        }
        for (role, client) in users.iter_mut() {
            let user = if role == "firm" {
                a.clone()
            } else {
                role.clone()
            };
            *client = Some(if role == "anonymous" {
                PageClient::new(&s.base)
            } else {
                PageClient::login(&s.base, &user).await
            });
        }
        for (path, allowed) in &pages {
            for (role, c) in &users {
                let c = c.as_ref().unwrap();
                let r = c.get(path).await;
                let ok = allowed.contains(&"*") || allowed.contains(&role.as_str());
                if ok {
                    assert_eq!(r.status, 200, "{role} {path}: {}", r.body);
                    assert!(r.body.contains("<h1>"), "{role} {path}");
                } else if role == "anonymous" {
                    assert_eq!(r.status, 303, "{role} {path}");
                    assert!(
                        r.location.as_deref().unwrap().starts_with("/login?next="),
                        "{role} {path}: {:?}",
                        r.location
                    );
                } else {
                    assert_eq!(r.status, 403, "{role} {path}: {}", r.body);
                }
            }
        }
        // Firm A on firm B's pages: 404, and nothing of B in the body.
        let firm = users[1].1.as_ref().unwrap();
        for path in [
            format!("/firm/{b}"),
            format!("/firm/{b}/awards"),
            format!("/firm/{b}/whatif?v.营业收入=1万"),
            format!("/firm/{b}/corrections"),
            format!("/trace/{}", s.firms_with_lines(HIGHTECH).await[1].1[0]),
        ] {
            let r = firm.get(&path).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.body.contains(&b), "{path} shows B's code");
            assert!(!r.body.contains(&b_name), "{path} shows B's name");
        }
        // Firm A posting on B's lines: 404 as well.
        let b_line = s.firms_with_lines(HIGHTECH).await[1].1[0].to_string();
        let r = firm
            .post_form(&format!("/firm/{b}/confirm"), &[("line", &b_line)])
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
        assert!(!r.body.contains(&b_name));
        // Logged in, the home page leads to the role's work.
        let officer = users[2].1.as_ref().unwrap();
        let r = officer.get("/").await;
        assert_eq!((r.status, r.location.as_deref()), (303, Some("/review")));
    });
}

#[test]
fn a_form_post_without_its_csrf_token_is_refused() {
    each_backend(async |s: &Server| {
        let officer = PageClient::login(&s.base, "officer").await;
        // No token: 403, nothing announced.
        let r = officer
            .post_form_raw("/review/announce", &[("days", "7")])
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("csrf"), "{}", r.body);
        // A wrong token is no better.
        let r = officer
            .post_form_raw(
                "/review/announce",
                &[("_csrf", &"0".repeat(32)), ("days", "7")],
            )
            .await;
        assert_eq!(r.status, 403);
        let n = s.sql_int("SELECT COUNT(*) FROM notices", vec![]).await;
        assert_eq!(n, 0);
        // A multipart upload without the token: 403 too.
        let finance = PageClient::login(&s.base, "finance").await;
        let r = finance
            .post_file("/finance/paid", None, "paid.csv", b"x".to_vec())
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        // Logging out needs the token; with it, the session ends.
        let r = officer.post_form_raw("/logout", &[]).await;
        assert_eq!(r.status, 403);
        let r = officer.post_form("/logout", &[]).await;
        assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
        let r = officer.get("/review").await;
        assert_eq!(r.status, 303);
        // The JSON API still takes the header.
        let api = s.login("reviewer").await;
        let (_, v) = api
            .post_json("/api/v1/lines/approve", &serde_json::json!({"ids": [1]}))
            .await;
        assert_ne!(v["code"], "csrf", "{v}");
    });
}

/// Every page, in English and in Chinese, as every role that may see it: no key the
/// translation table lacks, and the page says which language it is in.
#[test]
fn english_and_chinese_pages_leave_no_key_untranslated() {
    each_backend(async |s: &Server| {
        let ((a, _), _) = two_firms(s).await;
        // Put something in every page: an approved clause in 公示.
        let reviewer = PageClient::login(&s.base, "reviewer").await;
        let r = reviewer
            .post_form(
                "/review/step",
                &[("action", "approve"), ("all", "1"), ("clause", HIGHTECH)],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let officer = PageClient::login(&s.base, "officer").await;
        let r = officer
            .post_form("/review/announce", &[("days", "7")])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let pages = [
            (
                "anonymous",
                vec![
                    "/".to_string(),
                    "/login".into(),
                    "/notice".into(),
                    "/policy".into(),
                    "/indicators".into(),
                ],
            ),
            (
                "firm",
                vec![
                    format!("/firm/{a}"),
                    format!("/firm/{a}/awards"),
                    format!("/firm/{a}/whatif?period=2023&v.营业收入=9999万"),
                    format!("/firm/{a}/corrections"),
                ],
            ),
            (
                "officer",
                vec![
                    "/data".into(),
                    "/sandbox".into(),
                    "/corrections".into(),
                    format!("/trace/{}", s.firms_with_lines(HIGHTECH).await[0].1[0]),
                    "/indicators?period=2021-11&zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA".into(),
                    "/indicators/firms?period=2022-11&indicator=%E6%96%B0%E5%A2%9E%E9%AB%98%E4%BC%81&zone=%E5%B9%BF%E5%B7%9E%E9%AB%98%E6%96%B0%E5%8C%BA".into(),
                ],
            ),
            (
                "reviewer",
                vec!["/review".into(), "/review?state=announced".into()],
            ),
            ("finance", vec!["/finance".into(), "/dashboard".into()]),
            ("auditor", vec!["/audit".into(), "/audit?verify=1".into()]),
            ("leader", vec!["/dashboard".into()]),
        ];
        for lang in ["en", "zh"] {
            for (role, paths) in &pages {
                let c = match *role {
                    "anonymous" => PageClient::new(&s.base),
                    "firm" => PageClient::login(&s.base, &a).await,
                    r => PageClient::login(&s.base, r).await,
                };
                c.set_lang(lang).await;
                for path in paths {
                    let r = c.get(path).await;
                    assert_eq!(r.status, 200, "{lang} {role} {path}: {}", r.body);
                    assert_translated(path, &r.body);
                    let tag = if lang == "en" {
                        "<html lang=\"en\">"
                    } else {
                        "<html lang=\"zh-CN\">"
                    };
                    assert!(r.body.contains(tag), "{lang} {path}");
                }
            }
        }
        // An error page, too.
        let c = PageClient::login(&s.base, &a).await;
        c.set_lang("en").await;
        let r = c.get("/audit").await;
        assert_eq!(r.status, 403);
        assert_translated("/audit (403)", &r.body);
        assert!(r.body.contains("Not allowed"), "{}", r.body);
    });
}

#[test]
fn pages_carry_a_strict_csp_and_assets_are_embedded_with_a_long_cache() {
    each_backend(async |s: &Server| {
        let c = PageClient::new(&s.base);
        let r = c.get("/notice").await;
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(r.headers["cache-control"], "no-store");
        // Every script, stylesheet and icon of the page is on this origin, under a hashed name.
        let mut urls = vec![];
        for attr in ["src=\"", "href=\""] {
            for (i, _) in r.body.match_indices(attr) {
                let rest = &r.body[i + attr.len()..];
                urls.push(rest[..rest.find('"').unwrap()].to_string());
            }
        }
        assert!(
            !urls
                .iter()
                .any(|u| u.starts_with("http") || u.starts_with("//")),
            "{urls:?}"
        );
        let assets: Vec<&String> = urls.iter().filter(|u| u.starts_with("/assets/")).collect();
        assert_eq!(assets.len(), 3, "{assets:?}");
        for u in assets {
            let a = c.get(u).await;
            assert_eq!(a.status, 200, "{u}");
            assert_eq!(
                a.headers["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert!(!a.body.is_empty());
        }
        assert_eq!(c.get("/assets/htmx.min.js").await.status, 404);
    });
}

/// The workflow as forms: the reviewer approves a clause, the officer announces, the firm sees
/// its award in 公示 and confirms, finance makes the batch, downloads its file, uploads the
/// treasury's paid file — shown in full before anything is written — and applies it; the firm
/// sees 已拨付 with the date.
#[test]
fn the_workflow_through_the_pages() {
    each_backend(async |s: &Server| {
        let ((a, a_name), (b, b_name)) = two_firms(s).await;
        let a_lines = s
            .firms_with_lines(HIGHTECH)
            .await
            .into_iter()
            .find(|f| f.0 == a)
            .unwrap()
            .1;

        // A reviewer of another department may not approve the clause (Cedar, as in the API).
        let reviewer2 = PageClient::login(&s.base, "reviewer2").await;
        let r = reviewer2
            .post_form(
                "/review/step",
                &[("action", "approve"), ("all", "1"), ("clause", HIGHTECH)],
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        // Rejecting needs a reason: the API's 422, shown as a page.
        let reviewer = PageClient::login(&s.base, "reviewer").await;
        let first = a_lines[0].to_string();
        let r = reviewer
            .post_form("/review/step", &[("action", "reject"), ("ids", &first)])
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        // The queue lists the clause's lines; the reviewer approves the whole clause.
        let q = reviewer
            .get(&format!("/review?state=computed&clause={HIGHTECH}"))
            .await;
        assert_eq!(q.status, 200);
        assert!(q.body.contains(&a_name), "the queue lists firm A");
        let r = reviewer
            .post_form(
                "/review/step",
                &[
                    ("action", "approve"),
                    ("all", "1"),
                    ("clause", HIGHTECH),
                    ("back", "/review?state=approved"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.location.unwrap();
        assert!(
            to.starts_with("/review?state=approved&done=approve&n="),
            "{to}"
        );
        let shown = reviewer.get(&to).await;
        assert!(shown.body.contains("已审核通过"), "{}", shown.body);

        // The officer announces the 公示 for 7 days; the public sees it with a countdown.
        let officer = PageClient::login(&s.base, "officer").await;
        let r = officer
            .post_form(
                "/review/announce",
                &[
                    ("title", "2023年度高企认定奖励拟兑现名单公示"),
                    ("days", "7"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let public = PageClient::new(&s.base).get("/notice").await;
        assert!(public.body.contains("2023年度高企认定奖励拟兑现名单公示"));
        assert!(public.body.contains("距公示结束还有"), "{}", public.body);
        assert!(public.body.contains(&a_name));
        // The public gets no export link; the officer does, and the XLSX downloads.
        assert!(!public.body.contains("export.xlsx"));
        let on = officer.get("/notice").await;
        let i = on.body.find("href=\"/notice/").unwrap() + 6;
        let link = &on.body[i..i + on.body[i..].find('"').unwrap()];
        let x = officer.get(link).await;
        assert_eq!(x.status, 200, "{link}");
        assert!(x.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml"));

        // Firm A sees its award in 公示 with the timeline, and confirms with one click.
        let firm = PageClient::login(&s.base, &a).await;
        let aw = firm.get(&format!("/firm/{a}/awards")).await;
        assert_eq!(aw.status, 200);
        assert!(
            aw.body.contains("公示中") && aw.body.contains("一键确认"),
            "{}",
            aw.body
        );
        assert!(aw.body.contains("测算") && aw.body.contains("拨付"));
        assert!(!aw.body.contains(&b) && !aw.body.contains(&b_name));
        for line in &a_lines {
            let r = firm
                .post_form(
                    &format!("/firm/{a}/confirm"),
                    &[("line", &line.to_string())],
                )
                .await;
            assert_eq!(r.status, 303, "{}", r.body);
        }
        // Confirming again: the ledger refuses (409), shown as a page.
        let r = firm
            .post_form(&format!("/firm/{a}/confirm"), &[("line", &first)])
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        let aw = firm.get(&format!("/firm/{a}/awards")).await;
        assert!(aw.body.contains("已确认"), "{}", aw.body);

        // Finance: the batch, its file, the paid file checked and shown before any write.
        let finance = PageClient::login(&s.base, "finance").await;
        let r = finance.post_form("/finance/export", &[]).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.location.unwrap();
        let page = finance.get(&to).await;
        let i = page.body.find("/finance/batches/").unwrap();
        let link = page.body[i..i + page.body[i..].find('"').unwrap()].to_string();
        let file = finance.get(&link).await;
        assert_eq!(file.status, 200);
        assert!(file.body.contains("支付流水号"));
        let paid = fill_references(&file.body);
        // A broken line is listed, with its reason, and nothing is paid.
        let broken = paid.replacen("WEB2024000000", "=HYPERLINK(1)", 1);
        let r = finance
            .post_file(
                "/finance/paid",
                finance.csrf.as_deref(),
                "bad.csv",
                broken.into_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("data-testid=\"refused\">1<"), "{}", r.body);
        let r = finance
            .post_file(
                "/finance/paid",
                finance.csrf.as_deref(),
                "paid.csv",
                paid.into_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body
                .contains(&format!("data-testid=\"payable\">{}<", a_lines.len())),
            "{}",
            r.body
        );
        let exported = s.sql_int("SELECT COUNT(*) FROM payments", vec![]).await;
        assert_eq!(exported, 0, "the preview wrote a payment");
        let token = upload_token_of(&r.body).unwrap();
        let csrf = csrf_of(&r.body).unwrap();
        assert_eq!(Some(csrf), finance.csrf);
        // Another user cannot apply finance's upload.
        let r2 = reviewer
            .post_form("/finance/paid/apply", &[("token", &token)])
            .await;
        assert_ne!(r2.status, 303);
        let r = finance
            .post_form("/finance/paid/apply", &[("token", &token)])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(r.location.unwrap().contains("done=paid"));
        // Applying twice: the upload is gone.
        let r = finance
            .post_form("/finance/paid/apply", &[("token", &token)])
            .await;
        assert_eq!(r.status, 404);
        for id in &a_lines {
            let n = s
                .sql_int(
                    "SELECT COUNT(*) FROM payments WHERE item_id = $1",
                    huiqi_ledger::args![*id].to_vec(),
                )
                .await;
            assert_eq!(n, 1, "line {id}");
        }
        // The firm sees 已拨付 with the date, in Chinese and in English.
        let aw = firm.get(&format!("/firm/{a}/awards")).await;
        assert!(aw.body.contains("已拨付"), "{}", aw.body);
        assert!(aw.body.contains("data-testid=\"paid-on\""));
        assert!(aw.body.contains("年") && aw.body.contains("月") && aw.body.contains("日"));
        firm.set_lang("en").await;
        let aw = firm.get(&format!("/firm/{a}/awards")).await;
        assert!(aw.body.contains("Paid on"), "{}", aw.body);
        // The auditor's chain verifies; the leader's table counts the payment.
        let auditor = PageClient::login(&s.base, "auditor").await;
        let v = auditor.get("/audit?verify=1").await;
        assert!(v.body.contains("哈希链完整"), "{}", v.body);
        let leader = PageClient::login(&s.base, "leader").await;
        let d = leader.get("/dashboard").await;
        assert!(d.body.contains(HIGHTECH));
    });
}

/// The policy check: every clause decided with conditions, thresholds and the near miss.
#[test]
fn the_policy_check_decides_every_clause() {
    each_backend(async |s: &Server| {
        let ((a, a_name), _) = two_firms(s).await;
        // The API's answer first (a new login ends the account's other sessions).
        let api = s.login(&a).await;
        let (_, j) = api.get(&format!("/api/v1/firms/{a}/check")).await;
        let firm = PageClient::login(&s.base, &a).await;
        let r = firm.get(&format!("/firm/{a}")).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains(&a_name));
        let clauses = r.body.matches("data-clause=").count();
        assert_eq!(clauses, s.state.program.clauses.len());
        assert!(r.body.contains("门槛") && r.body.contains("来源："));
        // Money on the page is formatted from exact 分: the API's total, to the 分.
        let fen = j["total_fen"].as_i64().unwrap();
        let yuan = format!("{}.{:02}元", group(fen / 100), fen % 100);
        assert!(r.body.contains(&yuan), "{yuan}");
        let bad = firm.get(&format!("/firm/{a}?period=99999")).await;
        assert_eq!(bad.status, 422);
    });
}

fn group(n: i64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, ch) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Money from integer 分 and dates from the ledger's UTC times, as every page writes them
/// (also unit-tested in `web::fmt`; here through the public functions the pages call).
#[test]
fn money_and_dates_are_formatted_from_integers() {
    use huiqi_server::web::fmt::{date, short, yuan};
    use huiqi_server::web::i18n::Lang;
    assert_eq!(yuan(123_456_789, Lang::Zh), "1,234,567.89元");
    assert_eq!(yuan(-100, Lang::En), "-¥1.00");
    assert_eq!(short(999_999, Lang::Zh), "9,999.99元");
    assert_eq!(short(7_650_000_000, Lang::Zh), "7,650.00万元");
    assert_eq!(short(1_125_000, Lang::Zh), "1.13万元");
    assert_eq!(short(32_000_000_000, Lang::Zh), "3.20亿元");
    assert_eq!(short(i64::MAX, Lang::Zh), "922,337,203.69亿元");
    assert_eq!(date("2024-03-01T02:00:00Z", Lang::Zh), "2024年3月1日");
    assert_eq!(date("2024-03-01T02:00:00Z", Lang::En), "1 Mar 2024");
    assert_eq!(date("2024-02-29T20:00:00Z", Lang::Zh), "2024年3月1日");
    // Every key of the table has both languages, once.
    let mut seen = std::collections::HashSet::new();
    for (k, zh, en) in huiqi_server::web::i18n::TABLE {
        assert!(seen.insert(*k), "duplicate key {k}");
        assert!(!zh.is_empty() && !en.is_empty(), "{k}");
    }
}

/// The what-if form, the 数据有误 form and its queue, the trace and the dashboard's exports,
/// as a browser without JavaScript would use them.
#[test]
fn what_if_corrections_trace_and_dashboard_pages() {
    each_backend(async |s: &Server| {
        let ((a, _), _) = two_firms(s).await;
        let firm = PageClient::login(&s.base, &a).await;
        // The form alone shows the figures on file; a changed figure shows what moved.
        let r = firm.get(&format!("/firm/{a}/whatif?period=2023")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("data-testid=\"whatif-form\""));
        assert!(
            !r.body.contains("data-testid=\"whatif-total\""),
            "nothing asked yet"
        );
        let r = firm
            .get(&format!(
                "/firm/{a}/whatif?period=2023&v.营业收入=123456.78万"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("data-testid=\"whatif-total\""),
            "{}",
            r.body
        );
        assert!(r.body.contains("class=\"changed\""));
        let r = firm
            .get(&format!("/firm/{a}/whatif?period=2023&v.营业收入=abc"))
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        // 数据有误 through the form; the officer resolves it in the queue; the firm reads it.
        let r = firm
            .post_form(
                &format!("/firm/{a}/corrections"),
                &[
                    ("fact", "营业收入"),
                    ("period", "2023"),
                    ("claimed", "2500万"),
                    ("note", "=HYPERLINK(\"http://x\")"),
                    ("contact", "张三 13800000000"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let officer = PageClient::login(&s.base, "officer").await;
        let r = officer.get("/corrections").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("2500万"), "{}", r.body);
        // The note is shown as text, escaped.
        assert!(
            r.body.contains("=HYPERLINK(&#34;http://x&#34;)")
                || r.body.contains("=HYPERLINK(&quot;http://x&quot;)"),
            "{}",
            r.body
        );
        let id = r
            .body
            .split("data-correction=\"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap()
            .to_string();
        let r = officer
            .post_form(
                &format!("/corrections/{id}/resolve"),
                &[
                    ("decision", "dismiss"),
                    ("resolution", "经核实数据无误"),
                    ("back", "/corrections"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let r = firm.get(&format!("/firm/{a}/corrections")).await;
        assert!(r.body.contains("经核实数据无误"), "{}", r.body);
        // The trace of one of the firm's lines: recomputed equal.
        let line = s.firms_with_lines(HIGHTECH).await[0].1[0];
        let auditor = PageClient::login(&s.base, "auditor").await;
        let r = auditor.get(&format!("/trace/{line}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains(&s.state.program.hash),
            "the policy hash is shown"
        );
        assert!(r.body.contains("金额与台账一致"), "{}", r.body);
        // The dashboard draws its charts from a JSON island and has a table under each.
        let leader = PageClient::login(&s.base, "leader").await;
        let r = leader.get("/dashboard").await;
        assert_eq!(r.status, 200, "{}", r.body);
        for id in ["chart-by-clause", "chart-by-state", "chart-days"] {
            assert!(
                r.body
                    .contains(&format!("<script type=\"application/json\" id=\"{id}\">")),
                "{id}"
            );
        }
        assert!(r.body.contains("data-testid=\"recon\""));
        assert!(
            r.body.contains("/assets/echarts."),
            "echarts is loaded on the chart page"
        );
        let r = leader.get("/dashboard/export.xlsx?table=nope").await;
        assert_eq!(r.status, 422);
        // The public 公示 list downloads as XLSX for anyone, once something is announced.
        let reviewer = PageClient::login(&s.base, "reviewer").await;
        reviewer
            .post_form(
                "/review/step",
                &[("action", "approve"), ("all", "1"), ("clause", HIGHTECH)],
            )
            .await;
        let r = officer
            .post_form("/review/announce", &[("days", "7")])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let anon = PageClient::new(&s.base);
        let r = anon.get("/notice").await;
        let href = r
            .body
            .split("href=\"/notice/")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap()
            .to_string();
        assert!(href.ends_with("/gongshi.xlsx"), "{href}");
        let r = anon.get(&format!("/notice/{href}")).await;
        assert_eq!(r.status, 200);
    });
}

/// The 政策沙盘 page: the officer sees every parameter with its value in force, changes one, and
/// reads what it costs by clause and who gains; a value the pack refuses is a 422 on the page.
#[test]
fn the_sandbox_page_simulates_a_change() {
    each_backend(async |s: &Server| {
        let officer = PageClient::login(&s.base, "officer").await;
        let r = officer.get("/sandbox").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("data-testid=\"param-高企首次认定奖励额\""),
            "{}",
            r.body
        );
        assert!(r.body.contains("5万"), "the value in force is shown");
        let r = officer
            .post_form(
                "/sandbox",
                &[("period", "2023"), ("p:高企首次认定奖励额", "20万")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("data-testid=\"sandbox-result\""),
            "{}",
            r.body
        );
        assert!(r.body.contains("高企首次认定奖励额=20万"));
        assert!(r.body.contains("data-testid=\"sandbox-clauses\""));
        assert!(r.body.contains("/api/v1/simulations/"));
        // The charts and the new figures: a waterfall with the changed clause's bar, the
        // stand-alone column and the interaction row, the bands by share of the base award,
        // the stacked bars by 规模 with its definition.
        let section = |body: &str, id: &str| -> String {
            let i = body
                .find(&format!("data-testid=\"{id}\""))
                .unwrap_or_else(|| panic!("no {id}: {body}"));
            body[i..].chars().take(6000).collect()
        };
        let wf = section(&r.body, "sandbox-waterfall");
        assert!(wf.contains("<svg") && wf.contains("<rect"), "{wf}");
        assert!(wf.contains(&format!("data-bar=\"{HIGHTECH}\"")), "{wf}");
        assert!(wf.contains("现行合计") && wf.contains("调整后合计"), "{wf}");
        assert!(r.body.contains("data-testid=\"sandbox-alone\""));
        assert!(r.body.contains("单独测算的变化"));
        assert!(section(&r.body, "sandbox-interaction").contains("跨条款规则的相互影响"));
        assert!(section(&r.body, "sandbox-pct-bands").contains("新获"));
        let st = section(&r.body, "sandbox-stacked");
        assert!(
            st.contains("<svg") && st.contains("规模") && st.contains("<title"),
            "{st}"
        );
        assert!(
            r.body.contains("统计上大中小微型企业划分办法"),
            "the grouping's definition"
        );
        // Each listed firm links to its explanation under the reform: the served pack with
        // the simulation's parameters set, said at the top; a visitor-made id is a 404.
        let link = section(&r.body, "sandbox-explain-reform");
        let href = r.body[..r
            .body
            .find("data-testid=\"sandbox-explain-reform\"")
            .unwrap()]
            .rsplit("href=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        assert!(href.contains("&sim="), "{href} {link}");
        let e = officer.get(&href).await;
        assert_eq!(e.status, 200, "{}", e.body);
        assert!(
            section(&e.body, "check-reform").contains("高企首次认定奖励额=20万"),
            "{}",
            e.body
        );
        let bad = href.split("&sim=").next().unwrap().to_string() + "&sim=..%2F..%2Fledger";
        assert_eq!(officer.get(&bad).await.status, 404);
        // A smaller pool: the R&D clause loses in red, the pool pays a share, and the loss is
        // the rules' interaction (the clause's stand-alone amounts do not change).
        let r = officer
            .post_form(
                "/sandbox",
                &[("period", "2023"), ("p:研发资金池预算", "500万")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(section(&r.body, "sandbox-waterfall").contains("fill=\"#b42318\""));
        let pools = section(&r.body, "sandbox-pools");
        assert!(
            pools.contains("研发资金池") && pools.contains("100.00% → "),
            "{pools}"
        );
        let inter = section(&r.body, "sandbox-interaction");
        assert!(
            inter[..inter.find("</tr>").unwrap()].contains("-"),
            "{inter}"
        );
        // A backtest year: the table of computed and paid; a year that is not one: 422.
        let r = officer
            .post_form(
                "/sandbox",
                &[
                    ("period", "2023"),
                    ("p:高企首次认定奖励额", "20万"),
                    ("backtest", "2022"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let bt = section(&r.body, "sandbox-backtest");
        assert!(bt.contains("<td>2022</td>"), "{bt}");
        let r = officer
            .post_form(
                "/sandbox",
                &[
                    ("period", "2023"),
                    ("p:高企首次认定奖励额", "20万"),
                    ("backtest", "20x2"),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("20x2"), "{}", r.body);
        // In English, every new text is translated.
        officer.set_lang("en").await;
        let r = officer
            .post_form(
                "/sandbox",
                &[("period", "2023"), ("p:高企首次认定奖励额", "20万")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_translated("/sandbox (result)", &r.body);
        assert!(r.body.contains("Interaction of the cross-clause rules"));
        officer.set_lang("zh").await;
        let r = officer
            .post_form(
                "/sandbox",
                &[("period", "2023"), ("p:高企首次认定奖励额", "20%")],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        // The budget solver from the page: a budget the pack's total already fits leaves the
        // 研发资金池 at the end of the range, and the simulation is of that value.
        let r = officer
            .post_form(
                "/sandbox",
                &[
                    ("period", "2023"),
                    ("solve_param", "研发资金池预算"),
                    ("solve_budget", "100亿"),
                    ("solve_range", "100万..2000万"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let solved = section(&r.body, "sandbox-solved");
        assert!(solved.contains("研发资金池预算 = 2000万元"), "{solved}");
        let r = officer
            .post_form(
                "/sandbox",
                &[
                    ("period", "2023"),
                    ("solve_param", "研发资金池预算"),
                    ("solve_budget", "很多"),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        // Not for a reviewer.
        let reviewer = PageClient::login(&s.base, "reviewer").await;
        assert_eq!(reviewer.get("/sandbox").await.status, 403);
    });
}

/// The indicators page shows the API's figures: a card's value is the API's, a small cell is
/// hidden from the leader and shown to the officer, the targets row carries its colour, and the
/// officer's firm list totals the card.
#[test]
fn the_indicators_page_shows_the_api_figures() {
    each_backend(async |s: &Server| {
        let leader = PageClient::login(&s.base, "leader").await;
        let officer = PageClient::login(&s.base, "officer").await;
        let r = leader.get("/indicators?period=2021-11").await;
        assert_eq!(r.status, 200, "{}", r.body);
        for want in [
            "2056.40",
            "+46.9%",
            "1940.00",
            "81.5",
            "广州高新区",
            "长沙高新区",
            "data-chart=\"chart-ind-0\"",
        ] {
            assert!(r.body.contains(want), "{want} not on the page");
        }
        // 宁波's one listing of 2021 is a cell of one firm: hidden from the leader …
        let card = |body: &str, id: &str, zone: &str| -> String {
            let z = body.find(&format!("data-zone=\"{zone}\"")).unwrap();
            let rest = &body[z..];
            let c = rest.find(&format!("data-indicator=\"{id}\"")).unwrap();
            rest[c..].chars().take(900).collect()
        };
        let hidden = card(&r.body, "新增上市企业", "宁波高新区");
        assert!(hidden.contains("不予显示"), "{hidden}");
        // … and shown to the officer, who can follow it to its firm.
        let r = officer.get("/indicators?period=2021-11").await;
        let shown = card(&r.body, "新增上市企业", "宁波高新区");
        assert!(
            shown.contains("<strong data-testid=\"value\">1</strong>"),
            "{shown}"
        );
        assert!(shown.contains("data-testid=\"drill\""), "{shown}");
        // The figures and targets download as XLSX (a zip), for anyone who reads the page.
        let x = leader.get("/indicators/export.xlsx?period=2021-11").await;
        assert_eq!(x.status, 200);
        assert!(x.body.starts_with("PK"), "not an XLSX");
        let x = PageClient::new(&s.base)
            .get("/indicators/export.xlsx?period=1999-11")
            .await;
        assert_eq!(x.status, 404);
        // Huangpu's target row in 2022: 87.0% against 91.7%, amber.
        let r = leader.get("/indicators?period=2022-11").await;
        let row = r
            .body
            .find("class=\"pace-amber\"")
            .expect("an amber target row");
        let row: String = r.body[row..].chars().take(400).collect();
        assert!(row.contains("87.0%"), "{row}");
        // 固投 counts projects, and its target row is there (1786.40亿 of 2000亿).
        let fai = card(&r.body, "固定资产投资", "广州高新区");
        assert!(fai.contains("项目"), "{fai}");
        assert!(r.body.contains("1786.40"), "固投 not on the page");
        // The money by policy beside the figures, for the leader; not for a visitor.
        let money = r
            .body
            .find("data-testid=\"ind-money\"")
            .expect("the money section");
        let money: String = r.body[money..].chars().take(3000).collect();
        assert!(
            money.contains("政策资金兑现") && money.contains("工作日"),
            "{money}"
        );
        let public = PageClient::new(&s.base)
            .get("/indicators?period=2022-11")
            .await;
        assert_eq!(public.status, 200);
        assert!(!public.body.contains("ind-money"));
        // The officer's firm list totals the card (yuan, exact).
        let f = officer
            .get("/indicators/firms?period=2021-11&indicator=%E8%BD%AF%E4%BB%B6%E4%B8%9A%E8%90%A5%E4%B8%9A%E6%94%B6%E5%85%A5&zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA")
            .await;
        assert_eq!(f.status, 200, "{}", f.body);
        assert!(
            f.body
                .contains("<strong data-testid=\"total\">205640000000</strong>"),
            "{}",
            f.body
        );
    });
}
