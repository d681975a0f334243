//! The API over HTTP, on SQLite and PostgreSQL: sessions and CSRF, a firm seeing only itself,
//! the whole workflow ending in one payment per line, concurrent steps, bad input, OpenAPI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::{each_backend, Client, Server};
use serde_json::{json, Value};

const HIGHTECH: &str = "高企认定奖励";

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

#[test]
fn login_logout_and_csrf() {
    each_backend(async |s: &Server| {
        let anon = Client::new(&s.base);
        // Wrong password: 401 with a JSON error.
        let (st, v) = anon
            .post_json(
                "/api/v1/session",
                &json!({"user": "officer", "password": "nope"}),
            )
            .await;
        assert_eq!((st, code(&v)), (401, "bad_credentials"), "{v}");
        // Anonymous: the queue needs a login.
        let (st, v) = anon.get("/api/v1/lines").await;
        assert_eq!((st, code(&v)), (401, "unauthenticated"));

        // Login sets an HttpOnly, SameSite=Strict cookie and returns the CSRF token.
        let r = anon
            .http
            .post(s.url("/api/v1/session"))
            .json(&json!({"user": "officer", "password": common::PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(cookie.starts_with("huiqi_session="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let (_, body) = common::decode(r).await;
        let token = body["csrf_token"].as_str().unwrap().to_string();
        assert_eq!(body["role"], "officer");

        let mut c = anon;
        let (st, who) = c.get("/api/v1/session").await;
        assert_eq!((st, who["user"].as_str()), (200, Some("officer")));
        assert_eq!(who["csrf_token"].as_str(), Some(token.as_str()));

        // A state-changing request with the cookie but without the token: 403 csrf, nothing done.
        let (st, v) = c
            .post_json_no_csrf("/api/v1/lines/announce", &json!({"all": true}))
            .await;
        assert_eq!((st, code(&v)), (403, "csrf"), "{v}");
        // A wrong token is no better.
        c.csrf = Some("0".repeat(32));
        let (st, v) = c.delete("/api/v1/session").await;
        assert_eq!((st, code(&v)), (403, "csrf"));
        // With the token: logged out.
        c.csrf = Some(token);
        let (st, _) = c.delete("/api/v1/session").await;
        assert_eq!(st, 204);
        let (st, _) = c.get("/api/v1/lines").await;
        assert_eq!(st, 401);

        // The logins, the failure and the logout are audit events naming the actor.
        let aud = s.login("auditor").await;
        let (st, ev) = aud.get("/api/v1/audit/events?entity=user:officer").await;
        assert_eq!(st, 200);
        let actions: Vec<&str> = ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for a in ["login_failed", "login", "logout"] {
            assert!(actions.contains(&a), "{a} not in {actions:?}");
        }
    });
}

#[test]
fn repeated_bad_passwords_lock_the_account() {
    each_backend(async |s: &Server| {
        let c = Client::new(&s.base);
        for _ in 0..5 {
            let (st, _) = c
                .post_json(
                    "/api/v1/session",
                    &json!({"user": "leader", "password": "wrong"}),
                )
                .await;
            assert_eq!(st, 401);
        }
        // Locked: even the right password is refused now.
        let (st, v) = c
            .post_json(
                "/api/v1/session",
                &json!({"user": "leader", "password": common::PASSWORD}),
            )
            .await;
        assert_eq!((st, code(&v)), (429, "locked"), "{v}");
    });
}

#[test]
fn a_firm_sees_only_itself() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        assert!(firms.len() >= 2, "the zone needs two firms with 高企 lines");
        let (a, a_lines) = firms[0].clone();
        let (b, b_lines) = firms[1].clone();
        s.firm_account(&a).await;
        let fa = s.login(&a).await;

        // Its own check and status.
        let (st, v) = fa
            .get(&format!("/api/v1/firms/{a}/check?period=2023"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["firm"]["id"], a.as_str());
        let (st, v) = fa.get(&format!("/api/v1/firms/{a}/status")).await;
        assert_eq!(st, 200, "{v}");
        // Another firm's: 404, and nothing of it in the body.
        for path in [
            format!("/api/v1/firms/{b}/check?period=2023"),
            format!("/api/v1/firms/{b}/status"),
            format!("/api/v1/lines?firm={b}"),
        ] {
            let (st, v) = fa.get(&path).await;
            assert_eq!(st, 404, "{path}: {v}");
            assert!(!v.to_string().contains(&b), "{path} leaks {b}: {v}");
        }
        // Its queue holds its own lines only.
        let (st, v) = fa.get("/api/v1/lines").await;
        assert_eq!(st, 200);
        let lines = v["lines"].as_array().unwrap();
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| l["firm"] == a.as_str()), "{v}");
        assert!(!v.to_string().contains(&b));
        // Acting on another firm's line: 404 too, and the line does not move.
        let (st, v) = fa
            .post_json("/api/v1/lines/confirm", &json!({"ids": [b_lines[0]]}))
            .await;
        assert_eq!(st, 404, "{v}");
        // Staff-only resources: 403.
        let (st, _) = fa.get("/api/v1/reconciliation").await;
        assert_eq!(st, 403);
        let (st, _) = fa
            .post_json("/api/v1/lines/approve", &json!({"ids": [a_lines[0]]}))
            .await;
        assert_eq!(st, 403);
    });
}

/// The whole 免申即享 workflow through the API: approve (by clause) → 公示 → the firm confirms
/// → the payment file → the treasury's paid file, uploaded twice at once → each line paid once.
#[test]
fn the_workflow_ends_in_exactly_one_payment() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, a_lines) = firms[0].clone();
        s.firm_account(&a).await;
        let reviewer = s.login("reviewer").await;
        let reviewer2 = s.login("reviewer2").await;
        let officer = s.login("officer").await;
        let finance = s.login("finance").await;
        let firm = s.login(&a).await;

        // A reviewer outside the clause's department may not approve it.
        let (st, v) = reviewer2
            .post_json(
                "/api/v1/lines/approve",
                &json!({"all": true, "clause": HIGHTECH}),
            )
            .await;
        assert_eq!((st, code(&v)), (403, "forbidden"), "{v}");
        // Its own department's reviewer approves the clause in bulk.
        let (st, v) = reviewer
            .post_json(
                "/api/v1/lines/approve",
                &json!({"all": true, "clause": HIGHTECH}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let approved = v["count"].as_u64().unwrap();
        assert!(approved as usize >= firms.len());
        // 公示 for 7 days.
        let (st, v) = officer
            .post_json("/api/v1/lines/announce", &json!({"all": true, "clause": HIGHTECH, "title": "2023年度高企认定奖励拟兑现名单公示", "days": 7}))
            .await;
        assert_eq!((st, v["count"].as_u64()), (200, Some(approved)), "{v}");
        // The public sees the 公示 list, with public fields only.
        let (st, n) = Client::new(&s.base).get("/api/v1/notice").await;
        assert_eq!(st, 200, "{n}");
        assert_eq!(n["open"], true);
        let row = &n["rows"][0];
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "firm",
                "name",
                "clause",
                "period",
                "amount_yuan",
                "amount_fen"
            ]
        );
        // The firm confirms its line.
        let (st, v) = firm
            .post_json("/api/v1/lines/confirm", &json!({"ids": a_lines}))
            .await;
        assert_eq!(st, 200, "{v}");
        // Confirming again: the ledger refuses (409), nothing moves twice.
        let (st, v) = firm
            .post_json("/api/v1/lines/confirm", &json!({"ids": a_lines}))
            .await;
        assert_eq!((st, code(&v)), (409, "conflict"), "{v}");

        // The payment file, then the treasury's paid file with references filled in.
        let (st, ex) = finance
            .post_json("/api/v1/payments/export", &json!({}))
            .await;
        assert_eq!(st, 200, "{ex}");
        assert_eq!(ex["lines"].as_u64(), Some(a_lines.len() as u64));
        // The treasury returns that batch: withdrawn (finance only, with a reason, once), its
        // lines go back to confirmed and the next batch takes them.
        let first = ex["batch"].as_i64().unwrap();
        let cancel = format!("/api/v1/payments/batches/{first}/cancel");
        let (st, v) = finance.post_json(&cancel, &json!({"reason": " "})).await;
        assert_eq!(st, 422, "{v}");
        let officer = s.login("officer").await;
        let (st, _) = officer
            .post_json(&cancel, &json!({"reason": "国库退回"}))
            .await;
        assert_eq!(st, 403);
        let (st, v) = finance
            .post_json(&cancel, &json!({"reason": "国库退回：账户信息不符"}))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["returned"].as_u64(), Some(a_lines.len() as u64), "{v}");
        let (st, v) = finance
            .post_json(&cancel, &json!({"reason": "again"}))
            .await;
        assert_eq!(st, 409, "{v}");
        let (st, ex) = finance
            .post_json("/api/v1/payments/export", &json!({}))
            .await;
        assert_eq!(st, 200, "{ex}");
        assert_eq!(ex["lines"].as_u64(), Some(a_lines.len() as u64));
        assert_ne!(ex["batch"].as_i64(), Some(first));
        let paid = fill_references(ex["csv"].as_str().unwrap());
        let body = json!({"csv": paid});
        let (r1, r2) = tokio::join!(
            finance.post_json("/api/v1/payments/paid", &body),
            finance.post_json("/api/v1/payments/paid", &body)
        );
        let paid_now = [&r1, &r2]
            .iter()
            .filter(|r| r.0 == 200)
            .map(|r| r.1["paid"].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(paid_now, a_lines.len() as u64, "{r1:?} {r2:?}");
        for r in [&r1, &r2] {
            assert!(r.0 == 200 || r.0 == 409, "{r:?}");
        }
        // The firm sees 已拨付.
        let (_, st) = firm.get(&format!("/api/v1/firms/{a}/status")).await;
        let paid_lines = st["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["state"] == "paid")
            .count();
        assert_eq!(paid_lines, a_lines.len(), "{st}");
        // The ledger says each line was paid once, and the chain verifies.
        for id in &a_lines {
            let n = s
                .sql_int(
                    "SELECT COUNT(*) FROM payments WHERE item_id = $1",
                    huiqi_ledger::args![*id].to_vec(),
                )
                .await;
            assert_eq!(n, 1, "line {id}");
        }
        let aud = s.login("auditor").await;
        let (st, v) = aud.get("/api/v1/audit/verify").await;
        assert_eq!((st, v["ok"].as_bool()), (200, Some(true)), "{v}");
        // Reconciliation (finance, leader, auditor) counts the payment, exactly.
        let leader = s.login("leader").await;
        let (st, rc) = leader.get("/api/v1/reconciliation?period=2023").await;
        assert_eq!(st, 200, "{rc}");
        let paid_fen: i64 = rc["total"]["paid_fen"].as_i64().unwrap();
        assert!(paid_fen > 0);
        assert_eq!(
            rc["total"]["paid_yuan"].as_str().unwrap(),
            huiqi_ledger::yuan(paid_fen)
        );
    });
}

/// The treasury's paid file: the payment file with a bank reference in 支付流水号.
fn fill_references(csv: &str) -> String {
    let mut out = vec![];
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let refc = cols.iter().position(|c| c.contains("支付流水号")).unwrap();
    out.push(header.to_string());
    for (i, l) in lines.enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        f[refc] = format!("BANK2024{i:06}");
        out.push(f.join(","));
    }
    out.join("\n") + "\n"
}

#[test]
fn two_reviewers_approving_at_once_move_each_line_once() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let ids: Vec<i64> = firms.iter().flat_map(|f| f.1.clone()).collect();
        let r1 = s.login("reviewer").await;
        let r3 = s.login("reviewer3").await;
        let body = json!({"ids": ids});
        let (a, b) = tokio::join!(
            r1.post_json("/api/v1/lines/approve", &body),
            r3.post_json("/api/v1/lines/approve", &body)
        );
        let moved: u64 = [&a, &b]
            .iter()
            .filter(|r| r.0 == 200)
            .map(|r| r.1["count"].as_u64().unwrap())
            .sum();
        assert_eq!(moved, ids.len() as u64, "{a:?} {b:?}");
        let ev = s
            .sql_int(
                "SELECT COUNT(*) FROM line_events l JOIN audit_events a ON a.seq = l.seq WHERE a.action = 'approve'",
                vec![],
            )
            .await;
        assert_eq!(ev, ids.len() as i64, "each line approved once");
    });
}

/// Separation of duties over HTTP: an account that approved a line, moved to finance, may not
/// pay that line.
#[test]
fn whoever_approved_a_line_cannot_pay_it() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, a_lines) = firms[0].clone();
        s.firm_account(&a).await;
        let reviewer = s.login("reviewer").await;
        let (st, _) = reviewer
            .post_json("/api/v1/lines/approve", &json!({"ids": a_lines}))
            .await;
        assert_eq!(st, 200);
        let officer = s.login("officer").await;
        let (st, _) = officer
            .post_json("/api/v1/lines/announce", &json!({"ids": a_lines}))
            .await;
        assert_eq!(st, 200);
        let firm = s.login(&a).await;
        let (st, _) = firm
            .post_json("/api/v1/lines/confirm", &json!({"ids": a_lines}))
            .await;
        assert_eq!(st, 200);
        // The admin makes the reviewer a finance account.
        let admin = s.login("admin").await;
        let (st, v) = admin
            .post_json(
                "/api/v1/users",
                &json!({"name": "reviewer", "role": "finance", "password": common::PASSWORD}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        // The admin has no business actions.
        let (st, _) = admin
            .post_json(
                "/api/v1/lines/pay",
                &json!({"ids": [a_lines[0]], "reference": "X1"}),
            )
            .await;
        assert_eq!(st, 403);
        let former = s.login("reviewer").await;
        let (st, v) = former
            .post_json(
                "/api/v1/lines/pay",
                &json!({"ids": [a_lines[0]], "reference": "BANK-SOD-1"}),
            )
            .await;
        assert_eq!((st, code(&v)), (403, "forbidden"), "{v}");
        // Another finance account may.
        let finance = s.login("finance").await;
        let (st, v) = finance
            .post_json(
                "/api/v1/lines/pay",
                &json!({"ids": [a_lines[0]], "reference": "BANK-SOD-1"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    });
}

#[test]
fn bad_input_gets_a_clear_json_error() {
    each_backend(async |s: &Server| {
        let c = s.login("officer").await;
        // Not JSON.
        let r = c
            .http
            .post(s.url("/api/v1/calculate"))
            .header("content-type", "application/json")
            .header("X-CSRF-Token", c.csrf.clone().unwrap())
            .body("{not json")
            .send()
            .await
            .unwrap();
        let (st, v) = common::decode(r).await;
        assert_eq!((st, code(&v)), (400, "bad_request"), "{v}");
        assert!(v["zh"].is_string() && v["en"].is_string());
        // A bad figure: 422 with the field path and a hint.
        let firm = json!({"id": "91330201MA2AAAAA0X", "name": "测试", "facts": {"营业收入": {"2023": "很多"}}});
        let (st, v) = c
            .post_json("/api/v1/calculate", &json!({"firm": firm, "period": 2023}))
            .await;
        assert_eq!((st, code(&v)), (422, "invalid_input"), "{v}");
        assert!(v["field"].as_str().is_some_and(|f| !f.is_empty()), "{v}");
        // Unknown state filter, unknown step, missing reason, unknown line, unknown endpoint.
        let (st, v) = c.get("/api/v1/lines?state=done").await;
        assert_eq!((st, v["field"].as_str()), (400, Some("state")), "{v}");
        let (st, v) = c
            .post_json("/api/v1/lines/launch", &json!({"ids": [1]}))
            .await;
        assert_eq!((st, code(&v)), (404, "not_found"));
        let reviewer = s.login("reviewer").await;
        let (st, v) = reviewer
            .post_json("/api/v1/lines/reject", &json!({"ids": [1]}))
            .await;
        assert_eq!((st, v["field"].as_str()), (422, Some("reason")), "{v}");
        let (st, _) = reviewer
            .post_json("/api/v1/lines/approve", &json!({"ids": [99999999]}))
            .await;
        assert_eq!(st, 404);
        let (st, v) = c.post_json("/api/v1/lines/announce", &json!({})).await;
        assert_eq!((st, v["field"].as_str()), (422, Some("ids")));
        let (st, v) = c.get("/api/v1/nothing-here").await;
        assert_eq!((st, code(&v)), (404, "not_found"));
        let (st, v) = c.get("/api/v1/lines?limit=abc").await;
        assert_eq!((st, code(&v)), (400, "bad_request"));
        // Too large a body: 413, JSON.
        let big = json!({"firm": {"id": "x".repeat(2 << 20)}});
        let (st, v) = c.post_json("/api/v1/calculate", &big).await;
        assert_eq!((st, code(&v)), (413, "too_large"), "{v}");
    });
}

#[test]
fn the_check_and_calculate_equal_explain() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let a = firms[0].0.clone();
        let officer = s.login("officer").await;
        let (st, v) = officer
            .get(&format!("/api/v1/firms/{a}/check?period=2023"))
            .await;
        assert_eq!(st, 200);
        let firm = s.state.served().firms.get(&a).unwrap().clone();
        let e = huiqi::explain::explain(&s.state.program, firm, Some(2023), None).unwrap();
        let want = e.json();
        assert_eq!(v["total_fen"], want["total_fen"]);
        assert_eq!(v["clauses"], want["clauses"]);
        assert!(v["estimated_clauses"].as_array().is_some());
        // The what-if calculator on a sample firm file gives `huiqi explain --json`'s figures,
        // without a login (the public may use it).
        let dir = common::repo_root().join("examples/firms");
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let toml_v: toml::Value = toml::from_str(&text).unwrap();
            let as_json = toml_to_json(&toml_v);
            let firm = huiqi::explain::read_firm(&s.state.program, &p).unwrap();
            let want = huiqi::explain::explain(&s.state.program, firm, Some(2023), None)
                .unwrap()
                .json();
            let (st, got) = Client::new(&s.base)
                .post_json(
                    "/api/v1/calculate",
                    &json!({"firm": as_json, "period": 2023}),
                )
                .await;
            assert_eq!(st, 200, "{}: {got}", p.display());
            assert_eq!(got["total_fen"], want["total_fen"], "{}", p.display());
            assert_eq!(got["clauses"], want["clauses"], "{}", p.display());
        }
    });
}

#[test]
fn openapi_catalogue_and_health() {
    each_backend(async |s: &Server| {
        let c = Client::new(&s.base);
        let (st, h) = c.get("/healthz").await;
        assert_eq!((st, h["ok"].as_bool()), (200, Some(true)));
        assert_eq!(h["firms"].as_u64(), Some(300));
        let (st, doc) = c.get("/api/v1/openapi.json").await;
        assert_eq!(st, 200);
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/session",
            "/api/v1/calculate",
            "/api/v1/firms/{uscc}/check",
            "/api/v1/lines",
            "/api/v1/lines/{action}",
            "/api/v1/notice",
        ] {
            assert!(
                paths.contains_key(p),
                "{p} missing from the OpenAPI document"
            );
        }
        let (st, html) = c.get_text("/api/docs/").await;
        assert_eq!(st, 200);
        assert!(html.contains("swagger"), "{html}");
        let (st, cat) = c.get("/api/v1/policy").await;
        assert_eq!(st, 200);
        let clauses = cat["clauses"].as_array().unwrap();
        assert!(clauses
            .iter()
            .any(|x| x["name"] == HIGHTECH && x["text"].as_str().is_some_and(|t| !t.is_empty())));
        // The firm caps, with the years they span and the order they cut in.
        let cap = &cat["firm_caps"][0];
        let limit = cap["limit_yuan"]
            .as_str()
            .and_then(|x| x.parse::<rust_decimal::Decimal>().ok());
        assert_eq!(
            (cap["name"].as_str(), limit, cap["years"].as_u64()),
            (
                Some("单企业年度上限"),
                Some(rust_decimal::Decimal::from(15_000_000)),
                Some(1)
            ),
            "{cat}"
        );
        assert_eq!(cap["priority"][0], "上市奖励");
        let (st, cl) = c.get(&format!("/api/v1/policy/clauses/{HIGHTECH}")).await;
        assert_eq!((st, cl["department"].as_str()), (200, Some("科技局")));
    });
}

/// A firm file's TOML as the calculator's JSON (dates as `YYYY-MM-DD` strings).
fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f.to_string()),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A multipart upload of a generated zone's `mapping.toml` and its CSV files.
fn zone_upload(dir: &std::path::Path) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().part(
        "mapping",
        reqwest::multipart::Part::bytes(std::fs::read(dir.join("mapping.toml")).unwrap())
            .file_name("mapping.toml"),
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&f).unwrap()).file_name(name),
        );
    }
    form
}

async fn upload(c: &Client, form: reqwest::multipart::Form) -> (u16, Value) {
    let mut rb = c
        .http
        .post(format!("{}/api/v1/ingest", c.base))
        .multipart(form);
    if let Some(t) = &c.csrf {
        rb = rb.header("X-CSRF-Token", t);
    }
    common::decode(rb.send().await.unwrap()).await
}

#[test]
fn ingest_and_run_over_http() {
    // A second zone's data, generated as a zone office would export it.
    let data = common::tempdir();
    huiqi::data::generate(&huiqi::data::GenRequest {
        firms: 40,
        years: (2019, 2023),
        seed: 5,
        out: data.clone(),
        xlsx: false,
        force: false,
        samples: None,
    })
    .unwrap();
    // The same data with one bad figure, in a copy.
    let bad = common::tempdir();
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, bad.join(p.file_name().unwrap())).unwrap();
    }
    let tax = bad.join("税务_年度申报.csv");
    let text = std::fs::read_to_string(&tax).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let col = lines[0]
        .split(',')
        .position(|h| h.trim_matches('"') == "营业收入（万元）")
        .unwrap();
    let mut row: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    row[col] = "abc".into();
    lines[2] = row.join(",");
    std::fs::write(&tax, lines.join("\n") + "\n").unwrap();

    each_backend(async |s: &Server| {
        let officer = s.login("officer").await;
        let reviewer = s.login("reviewer").await;
        let snaps = s.state.cfg.work.join("snapshots");
        let count = || std::fs::read_dir(&snaps).map(|d| d.count()).unwrap_or(0);

        // Only the officer brings data in. (A small body: the server refuses before reading
        // it, and a large one could still be on its way when the connection closes.)
        let small = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"a,b\n".to_vec()).file_name("x.csv"),
        );
        let (st, v) = upload(&reviewer, small).await;
        assert_eq!((st, code(&v)), (403, "forbidden"), "{v}");
        // A bad figure: 422 naming the file (as uploaded), the row and the column; nothing written.
        let (st, v) = upload(&officer, zone_upload(&bad)).await;
        assert_eq!((st, code(&v)), (422, "invalid_input"), "{v}");
        let e = &v["errors"][0];
        assert_eq!(e["file"], "税务_年度申报.csv", "{v}");
        assert_eq!(e["row"], 3, "{v}");
        assert_eq!(e["column"], "营业收入（万元）", "{v}");
        assert_eq!(count(), 0, "a refused ingest wrote a snapshot");
        // A name that hides or climbs is refused; one with a directory keeps its last part.
        let form = zone_upload(&data).part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name(".."),
        );
        let (st, v) = upload(&officer, form).await;
        assert_eq!((st, v["field"].as_str()), (422, Some("file")), "{v}");
        // The good data: a snapshot (201), then the same again (200, reused).
        let (st, v) = upload(&officer, zone_upload(&data)).await;
        assert_eq!(st, 201, "{v}");
        let snapshot = v["snapshot"].as_str().unwrap().to_string();
        assert_eq!(snapshot.len(), 16);
        // Every source file read, with its rows: the tax file's data rows, nothing left out.
        let tax_rows = std::fs::read_to_string(data.join("税务_年度申报.csv"))
            .unwrap()
            .lines()
            .count()
            - 1;
        let tax = v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| {
                x["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("税务_年度申报.csv"))
            })
            .unwrap_or_else(|| panic!("no tax source in {v}"));
        assert_eq!(tax["rows"], tax_rows as u64, "{v}");
        assert_eq!(
            (&tax["filtered"], &tax["duplicates"]),
            (&json!(0), &json!(0)),
            "{v}"
        );
        let (st, again) = upload(&officer, zone_upload(&data)).await;
        assert_eq!((st, &again["snapshot"]), (200, &v["snapshot"]), "{again}");
        assert_eq!(count(), 1);

        // Runs: only the officer starts one; a snapshot is named by its hash, never a path.
        let (st, v) = reviewer
            .post_json(
                "/api/v1/runs",
                &json!({"period": 2023, "snapshot": snapshot}),
            )
            .await;
        assert_eq!((st, code(&v)), (403, "forbidden"), "{v}");
        let (st, v) = officer
            .post_json(
                "/api/v1/runs",
                &json!({"period": 2023, "snapshot": "../../etc/passwd"}),
            )
            .await;
        assert_eq!((st, v["field"].as_str()), (422, Some("snapshot")), "{v}");
        let (st, v) = officer
            .post_json(
                "/api/v1/runs",
                &json!({"period": 2023, "snapshot": "0123456789abcdef"}),
            )
            .await;
        assert_eq!(st, 404, "{v}");
        let (st, v) = officer
            .post_json(
                "/api/v1/runs",
                &json!({"period": 2023, "snapshot": snapshot}),
            )
            .await;
        assert_eq!(st, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        // Follow it until it is done (recorded into the ledger).
        let run = common::wait_run(&reviewer, &id).await;
        assert_eq!(run["state"], "done", "{run}");
        assert_eq!(run["firms"], 40, "{run}");
        let by_clause: i64 = run["by_clause"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["amount_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(run["total_fen"].as_i64(), Some(by_clause), "{run}");
        assert!(run["recorded"]["new"].as_u64().unwrap() > 0, "{run}");
        // It read the ledger's award history: the run's snapshot is the one derived from the
        // uploaded one under `history/`, and the uploaded snapshots are still just the one.
        let manifest = std::fs::read_to_string(
            s.state
                .cfg
                .work
                .join("runs")
                .join(&id)
                .join("manifest.json"),
        )
        .unwrap();
        let m: Value = serde_json::from_str(&manifest).unwrap();
        let dir = m["snapshot"]["dir"].as_str().unwrap();
        assert!(
            std::path::Path::new(dir).starts_with(s.state.cfg.work.join("history")),
            "{manifest}"
        );
        assert_eq!(count(), 1);
        // The ledger holds what the run computed: the open lines of this run add up to it.
        let run_id = run["recorded"]["run_id"].as_str().unwrap().to_string();
        let recorded = s
            .sql_int(
                "SELECT CAST(COALESCE(SUM(computed_fen), 0) AS BIGINT) FROM entitlements WHERE last_run_id = $1",
                vec![huiqi_ledger::db::Arg::S(Some(run_id))],
            )
            .await;
        assert_eq!(Some(recorded), run["total_fen"].as_i64(), "{run}");

        // Its awards page by page, filtered; its files.
        let (st, page) = reviewer
            .get(&format!("/api/v1/runs/{id}/results?per_page=5"))
            .await;
        assert_eq!(st, 200, "{page}");
        assert_eq!(
            page["rows"].as_array().unwrap().len(),
            5.min(page["matching"].as_u64().unwrap() as usize)
        );
        assert_eq!(page["matching_fen"].as_i64(), run["total_fen"].as_i64());
        let clause = run["by_clause"][0]["clause"].as_str().unwrap().to_string();
        let (_, only) = reviewer
            .get(&format!(
                "/api/v1/runs/{id}/results?per_page=1000&clause={}",
                urlencode(&clause)
            ))
            .await;
        assert!(only["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["clause"] == clause.as_str()));
        assert_eq!(
            only["matching_fen"], run["by_clause"][0]["amount_fen"],
            "{only}"
        );
        let (st, csv) = reviewer
            .get_text(&format!("/api/v1/runs/{id}/files/results.csv"))
            .await;
        assert_eq!(st, 200);
        assert!(
            csv.trim_start_matches('\u{feff}')
                .starts_with("统一社会信用代码,"),
            "{csv:.200}"
        );
        let (st, _) = reviewer
            .get_text(&format!("/api/v1/runs/{id}/files/..%2Fmanifest.json"))
            .await;
        assert_eq!(st, 404);
        let (st, list) = reviewer.get("/api/v1/runs").await;
        assert_eq!((st, &list[0]["id"]), (200, &json!(id)));
        // A restarted server lists it again, as it was.
        let again = huiqi_server::routes::runs::Jobs::restore(&s.state.cfg.work);
        let restored = serde_json::to_value(again.view(&id).unwrap()).unwrap();
        for k in [
            "id",
            "period",
            "snapshot",
            "actor",
            "state",
            "started_at",
            "finished_at",
            "firms",
            "total_fen",
            "by_clause",
            "recorded",
        ] {
            assert_eq!(restored[k], run[k], "{k}: {restored} vs {run}");
        }
        // A firm sees no runs.
        let code_ = s.firms_with_lines(HIGHTECH).await[0].0.clone();
        let firm = s.login(&s.firm_account(&code_).await).await;
        let (st, _) = firm.get("/api/v1/runs").await;
        assert_eq!(st, 403);

        // The 政策沙盘: a reform as parameters set, against the served pack, over the snapshot.
        let sim = json!({"period": 2023, "snapshot": snapshot, "set": ["高企首次认定奖励额=20万"]});
        let (st, v) = reviewer.post_json("/api/v1/simulations", &sim).await;
        assert_eq!((st, code(&v)), (403, "forbidden"), "{v}");
        let (st, _) = firm.post_json("/api/v1/simulations", &sim).await;
        assert_eq!(st, 403);
        let (st, v) = officer.post_json("/api/v1/simulations", &sim).await;
        assert_eq!(st, 200, "{v}");
        let summary = &v["summary"];
        assert_ne!(summary["base"]["hash"], summary["reform"]["hash"]);
        assert_eq!(summary["reform"]["set"][0], "高企首次认定奖励额=20万");
        let total = summary["total_delta_fen"].as_i64().unwrap();
        let by_clause: i64 = summary["by_clause"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["delta_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(by_clause, total);
        assert_eq!(
            summary["total_reform_fen"].as_i64().unwrap()
                - summary["total_base_fen"].as_i64().unwrap(),
            total
        );
        let sid = v["id"].as_str().unwrap().to_string();
        let (st, _) = officer
            .get_text(&format!("/api/v1/simulations/{sid}/files/reform.xlsx"))
            .await;
        assert_eq!(st, 200);
        let (st, _) = officer
            .get_text(&format!(
                "/api/v1/simulations/{sid}/files/..%2F..%2Fledger.sqlite"
            ))
            .await;
        assert_eq!(st, 404);
        let (st, _) = officer
            .get_text("/api/v1/simulations/..%2F..%2Fruns/files/summary.json")
            .await;
        assert_eq!(st, 404);
        // Stand-alone beside joint, with what the rules across clauses make of it.
        assert_eq!(
            summary["standalone_delta_fen"].as_i64().unwrap()
                + summary["interaction_fen"].as_i64().unwrap(),
            total
        );
        // The budget solver over HTTP: the served pack's total with the 研发资金池 budget solved
        // for a budget its base total fits; and a backtest of 2022 against the service's ledger.
        let base_total = summary["total_base_fen"].as_i64().unwrap();
        let budget = format!("{}元", base_total / 100 + 1);
        let (st, v) = officer
            .post_json(
                "/api/v1/simulations",
                &json!({"period": 2023, "snapshot": snapshot, "set": [],
                        "solve": {"param": "研发资金池预算", "budget": budget, "range": "100万..2000万"},
                        "backtest": [2022]}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let solved = &v["summary"]["solve"];
        assert!(
            solved["total_fen"].as_i64().unwrap() <= base_total + 100,
            "{solved}"
        );
        assert_eq!(v["summary"]["total_reform_fen"], solved["total_fen"]);
        assert_eq!(v["summary"]["backtest"][0]["period"], 2022, "{v}");
        for bad in [
            json!({"period": 2023, "set": ["瞪羚遴选名额=3"], "solve": {"param": "研发资金池预算", "budget": "1亿"}}),
            json!({"period": 2023, "set": [], "solve": {"param": "没有", "budget": "1亿"}}),
            json!({"period": 2023, "set": [], "solve": {"param": "研发资金池预算", "budget": "很多"}}),
            json!({"period": 2023, "set": [], "backtest": [1800]}),
        ] {
            let (st, v) = officer.post_json("/api/v1/simulations", &bad).await;
            assert_eq!(st, 422, "{bad}: {v}");
        }
        // A set the pack refuses (a ratio for money; no such parameter): 422 naming `set`.
        for bad in ["高企首次认定奖励额=20%", "没有这个参数=1", "不是设定"] {
            let (st, v) = officer
                .post_json(
                    "/api/v1/simulations",
                    &json!({"period": 2023, "set": [bad]}),
                )
                .await;
            assert_eq!(st, 422, "{bad}: {v}");
            assert!(v["field"].as_str().unwrap().starts_with("set"), "{v}");
        }
        // A run with parameters set is a what-if: it cannot be recorded.
        let (st, v) = officer
            .post_json(
                "/api/v1/runs",
                &json!({"period": 2023, "snapshot": snapshot, "set": ["高企首次认定奖励额=20万"], "record": true}),
            )
            .await;
        assert_eq!((st, v["field"].as_str()), (422, Some("record")), "{v}");

        // The new snapshot put in service: firms' checks read it from the next request on.
        let (_, one) = reviewer
            .get(&format!("/api/v1/runs/{id}/results?per_page=1"))
            .await;
        let new_firm = one["rows"][0]["firm"].as_str().unwrap().to_string();
        let old_firm = code_.clone();
        let check = |f: &str| format!("/api/v1/firms/{f}/check?period=2023");
        assert_eq!(officer.get(&check(&old_firm)).await.0, 200);
        assert_eq!(officer.get(&check(&old_firm)).await.0, 200, "(cached)");
        assert_eq!(officer.get(&check(&new_firm)).await.0, 404);
        let activate = format!("/api/v1/snapshots/{snapshot}/activate");
        let (st, _) = reviewer.post_json(&activate, &json!({})).await;
        assert_eq!(st, 403);
        let (st, _) = officer
            .post_json("/api/v1/snapshots/..%2F..%2Fetc/activate", &json!({}))
            .await;
        assert!(st == 404 || st == 422, "{st}");
        let (st, _) = officer
            .post_json("/api/v1/snapshots/0123456789abcdef/activate", &json!({}))
            .await;
        assert_eq!(st, 404);
        let before = s.state.served().hash.clone();
        let (st, v) = officer.post_json(&activate, &json!({})).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["firms"], 40, "{v}");
        assert_eq!(v["before"].as_str(), before.as_deref());
        let (_, h) = officer.get("/healthz").await;
        assert_eq!(h["firms"], 40, "{h}");
        assert!(
            h["snapshot"].as_str().unwrap().starts_with(&snapshot),
            "{h}"
        );
        assert_eq!(officer.get(&check(&new_firm)).await.0, 200);
        assert_eq!(
            officer.get(&check(&old_firm)).await.0,
            404,
            "not the old cached answer"
        );
        let (st, list) = officer.get("/api/v1/snapshots").await;
        assert_eq!(st, 200);
        let served: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["served"] == true)
            .collect();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0]["snapshot"], snapshot.as_str());
        // Recorded in the audit chain, which still verifies.
        let n = s
            .sql_int(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'activate_snapshot' AND actor = 'officer'",
                vec![],
            )
            .await;
        assert_eq!(n, 1);
        let auditor = s.login("auditor").await;
        let (_, v) = auditor.get("/api/v1/audit/verify").await;
        assert_eq!(v["ok"], true, "{v}");
    });
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every path of the OpenAPI document, every method, as every role, on its own and on another
/// firm's resources: never a 5xx; the anonymous caller never gets a 2xx outside the public
/// paths; a firm never sees anything of another firm (its credit code or its name) in any body;
/// a firm's denial of another firm's resource is 404.
#[test]
fn every_openapi_path_as_every_role_leaks_nothing() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, _) = firms[0].clone();
        let (b, b_lines) = firms[1].clone();
        let b_name = s.state.served().firms[&b].name.clone();
        assert!(!b_name.is_empty());
        s.firm_account(&a).await;
        let anon = Client::new(&s.base);
        let (st, doc) = anon.get("/api/v1/openapi.json").await;
        assert_eq!(st, 200);
        let public = [
            "/healthz",
            "/api/v1/openapi.json",
            "/api/v1/session",
            "/api/v1/policy",
            "/api/v1/policy/clauses/{name}",
            "/api/v1/calculate",
            "/api/v1/notice",
            // Zone indicators are public (small cells suppressed; firm lists are the officer's).
            "/api/v1/indicators",
            "/api/v1/indicators/{period}",
        ];
        // Firm and anonymous first (before any staff step changes what is public).
        let mut callers: Vec<(&str, Client)> = vec![("public", anon), ("firm", s.login(&a).await)];
        for who in [
            "officer", "reviewer", "finance", "auditor", "leader", "admin",
        ] {
            callers.push((who, s.login(who).await));
        }
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 20, "{}", paths.len());
        let actions = [
            "approve", "reject", "announce", "object", "confirm", "pay", "recover",
        ];
        let mut calls = 0;
        for (role, c) in &callers {
            for (template, item) in paths {
                for method in item.as_object().unwrap().keys() {
                    // Each path parameter: this firm's or the other's, a real clause, an action.
                    let mut concrete = vec![];
                    for uscc in [&a, &b] {
                        for action in actions {
                            // A line's id is the other firm's line (trace); a run's, a run id.
                            let id = if template.starts_with("/api/v1/lines/") {
                                b_lines[0].to_string()
                            } else if template.starts_with("/api/v1/corrections/") {
                                "1".to_string()
                            } else {
                                "20260101000000-abcdef".to_string()
                            };
                            let p = template
                                .replace("{uscc}", uscc)
                                .replace("{action}", action)
                                .replace("{name}", &urlencode(HIGHTECH))
                                .replace("{period}", "2021-11")
                                .replace("{id}", &id);
                            if !concrete.contains(&p) {
                                concrete.push(p);
                            }
                        }
                    }
                    for path in concrete {
                        let url = s.url(&path);
                        // Another firm's line; a what-if firm of the caller's own making.
                        let body = json!({"ids": [b_lines[0]], "firm": {"id": "91330201MA0000000X"}, "period": 2023, "reason": "x", "real_name": "x"});
                        let rb = match method.as_str() {
                            "get" => c.http.get(&url),
                            "post" => c.http.post(&url).json(&body),
                            "put" => c.http.put(&url).json(&body),
                            "delete" => c.http.delete(&url),
                            m => panic!("method {m}"),
                        };
                        let rb = match &c.csrf {
                            Some(t) => rb.header("X-CSRF-Token", t),
                            None => rb,
                        };
                        // Logging out would end the caller's session for the rest of the sweep.
                        if template == "/api/v1/session" && method == "delete" {
                            continue;
                        }
                        let r = rb.send().await.unwrap();
                        let st = r.status().as_u16();
                        let text = r.text().await.unwrap();
                        calls += 1;
                        assert!(st < 500, "{role} {method} {path}: {st} {text:.300}");
                        if *role == "public" && !public.contains(&template.as_str()) {
                            assert!(st >= 400, "anonymous {method} {path}: {st} {text:.300}");
                        }
                        if *role == "firm" && !template.starts_with("/api/v1/notice") {
                            let leak = text.contains(b.as_str()) || text.contains(&b_name);
                            assert!(
                                !leak,
                                "firm {a} {method} {path} leaks {b}: {st} {text:.300}"
                            );
                            if path.contains(b.as_str()) && (200..300).contains(&st) {
                                panic!("firm {a} {method} {path}: {st}");
                            }
                        }
                    }
                }
            }
        }
        assert!(calls > 200, "{calls}");
    });
}

/// The queue's SQL scope and Cedar agree on every line of the ledger, for every role: what
/// `GET /api/v1/lines` returns is exactly the lines Cedar lets the caller view (the endpoint
/// re-checks each row with Cedar, so a row the scope let through but Cedar denied would vanish
/// silently — the counts show it).
#[test]
fn the_sql_scope_and_cedar_agree_on_every_line() {
    use huiqi_server::authz::{Act, Principal, Resource, Role};
    each_backend(async |s: &Server| {
        let all = huiqi_ledger::LineFilter {
            limit: Some(1_000_000),
            ..Default::default()
        };
        let lines = huiqi_server::ledger!(s.state, |l| huiqi::ledger::lines(l, &all).await)
            .await
            .unwrap()
            .unwrap()
            .rows;
        assert!(lines.len() > 10);
        let a = lines[0].firm_id.clone();
        s.firm_account(&a).await;
        let mut who: Vec<(String, Principal)> = vec![(
            a.clone(),
            Principal {
                user: a.clone(),
                role: Role::Firm,
                firm: Some(a.clone()),
                department: None,
                active: true,
            },
        )];
        for (name, role, dept) in common::STAFF {
            who.push((
                name.to_string(),
                Principal {
                    user: name.to_string(),
                    role: *role,
                    firm: None,
                    department: dept.map(str::to_string),
                    active: true,
                },
            ));
        }
        for (user, p) in who {
            let c = s.login(&user).await;
            let mut seen = std::collections::BTreeSet::new();
            let mut offset = 0;
            let mut total = 0;
            loop {
                let (st, v) = c
                    .get(&format!("/api/v1/lines?limit=1000&offset={offset}"))
                    .await;
                if st == 403 {
                    break;
                }
                assert_eq!(st, 200, "{user}: {v}");
                total = v["total"].as_i64().unwrap();
                let page = v["lines"].as_array().unwrap();
                for l in page {
                    seen.insert(l["line"].as_i64().unwrap());
                }
                offset += 1000;
                if offset >= total {
                    break;
                }
            }
            // Nothing the scope selected was dropped by Cedar …
            assert_eq!(
                seen.len() as i64,
                total,
                "{user}: the SQL scope let through rows Cedar denies"
            );
            // … and nothing Cedar allows was left out by the scope.
            for l in &lines {
                let r = Resource::Line {
                    id: l.line,
                    firm: l.firm_id.clone(),
                    clause: l.clause.clone(),
                    state: l.state.as_str().into(),
                    approved_by: None,
                };
                let cedar = s.state.authz.allowed(&p, Act::ViewLine, &r);
                assert_eq!(
                    cedar,
                    seen.contains(&l.line),
                    "{user} line {} ({})",
                    l.line,
                    l.firm_id
                );
            }
        }
    });
}

/// Arbitrary JSON, biased towards the shapes the endpoints read (ids, firms, periods, strings
/// with odd characters, huge numbers).
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        ".{0,12}".prop_map(Value::from),
        Just(json!("=HYPERLINK(\"http://x\")")),
        Just(json!("\u{202e}名称")),
        Just(json!("2023")),
        Just(json!("1e999")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("ids".to_string()),
            Just("firm".to_string()),
            Just("facts".to_string()),
            Just("period".to_string()),
            Just("id".to_string()),
            Just("营业收入".to_string()),
            Just("2023".to_string()),
            Just("all".to_string()),
            Just("clause".to_string()),
            Just("days".to_string()),
            Just("csv".to_string()),
            Just("user".to_string()),
            Just("password".to_string()),
            Just("snapshot".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whatever JSON arrives at a state-changing endpoint, the answer is a 4xx (or 2xx) JSON error
/// body, never a 5xx, a panic or a non-JSON answer.
#[test]
fn arbitrary_json_never_gets_a_5xx() {
    use proptest::strategy::{Strategy, ValueTree};
    let _ = common::zone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Server::start(common::Backend::Sqlite).await;
        let officer = s.login("officer").await;
        let admin = s.login("admin").await;
        let endpoints = [
            "/api/v1/calculate",
            "/api/v1/lines/approve",
            "/api/v1/lines/announce",
            "/api/v1/lines/object",
            "/api/v1/runs",
            "/api/v1/payments/export",
            "/api/v1/payments/paid",
            "/api/v1/users",
            "/api/v1/session",
        ];
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 48,
            ..Default::default()
        });
        let strategy = any_json();
        for path in endpoints {
            let c = if path == "/api/v1/users" {
                &admin
            } else {
                &officer
            };
            for _ in 0..48 {
                let v = strategy.new_tree(&mut runner).unwrap().current();
                // The runs endpoint would start a real run on a valid body: keep it invalid.
                if path == "/api/v1/runs" && v.get("period").is_some() {
                    continue;
                }
                let (st, body) = c.post_json(path, &v).await;
                assert!(st < 500, "{path} {v}: {st} {body}");
                if st >= 400 {
                    assert!(body["code"].is_string(), "{path} {v}: {st} {body}");
                }
            }
        }
        s.stop().await;
    });
}

/// What-if on the figures on file: no change gives the check's own total; a change moves the
/// clauses that read it; a bad figure is a 422 naming the field; another firm's is 404.
#[test]
fn what_if_over_http() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, _) = firms[0].clone();
        let (b, _) = firms[1].clone();
        s.firm_account(&a).await;
        let fa = s.login(&a).await;
        let (st, check) = fa
            .get(&format!("/api/v1/firms/{a}/check?period=2023"))
            .await;
        assert_eq!(st, 200, "{check}");
        let (st, same) = fa
            .post_json(
                &format!("/api/v1/firms/{a}/whatif"),
                &json!({"period": 2023, "changes": []}),
            )
            .await;
        assert_eq!(st, 200, "{same}");
        assert_eq!(same["on_file_total_fen"], same["what_if_total_fen"]);
        assert_eq!(
            same["explanation"]["total_fen"], check["total_fen"],
            "{same}"
        );
        assert_eq!(same["differences"], json!([]));
        // Revenue changed: the answer is the reference evaluator's on the same figures, and
        // the clauses that moved add up to the change of the total.
        let (st, w) = fa
            .post_json(
                &format!("/api/v1/firms/{a}/whatif"),
                &json!({"period": 2023, "changes": [{"fact": "营业收入", "value": "123456.78万"}]}),
            )
            .await;
        assert_eq!(st, 200, "{w}");
        assert_eq!(w["changed"][0]["fact"], "营业收入", "{w}");
        assert_eq!(w["changed"][0]["what_if"], "123456.78万元", "{w}");
        let prog = &s.state.program;
        let rev = prog.fact_by_name("营业收入").unwrap();
        let mut firm = s.state.served().firms[&a].clone();
        if let huiqi_ir::FactData::Yearly(ys) = &mut firm.facts[rev] {
            ys.retain(|(y, _)| *y != 2023);
            ys.push((
                2023,
                huiqi_ir::Value::Money(rust_decimal::Decimal::new(1_234_567_800, 0)),
            ));
            ys.sort_by_key(|(y, _)| *y);
        }
        let want = huiqi::explain::explain(prog, firm, Some(2023), None).unwrap();
        assert_eq!(
            w["what_if_total_fen"].as_i64().unwrap(),
            huiqi_ir::money::to_fen(want.outcome().total())
        );
        let diffs = w["differences"].as_array().unwrap();
        let sum: i64 = diffs
            .iter()
            .map(|d| d["what_if_fen"].as_i64().unwrap() - d["on_file_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(
            w["what_if_total_fen"].as_i64().unwrap() - w["on_file_total_fen"].as_i64().unwrap(),
            sum,
            "the differences add up to the change of the total: {w}"
        );
        // A bad figure: 422 with the field path; an unknown fact: 400; another firm: 404.
        let (st, v) = fa
            .post_json(
                &format!("/api/v1/firms/{a}/whatif"),
                &json!({"changes": [{"fact": "营业收入", "value": "1.2.3万"}]}),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["field"], "facts.营业收入", "{v}");
        let (st, v) = fa
            .post_json(
                &format!("/api/v1/firms/{a}/whatif"),
                &json!({"changes": [{"fact": "没有这个", "value": "1"}]}),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = fa
            .post_json(
                &format!("/api/v1/firms/{b}/whatif"),
                &json!({"changes": []}),
            )
            .await;
        assert_eq!(st, 404, "{v}");
        assert!(!v.to_string().contains(&b));
    });
}

/// 数据有误: the firm files a request (the value on file comes from the snapshot, not the
/// request), the officer's queue shows it, a reviewer may read but not resolve, the officer
/// resolves it once, the firm reads the resolution; the audit chain still verifies.
#[test]
fn correction_requests_over_http() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, _) = firms[0].clone();
        let (b, _) = firms[1].clone();
        s.firm_account(&a).await;
        let fa = s.login(&a).await;
        let body = json!({"fact": "营业收入", "period": 2023, "claimed": "2500万", "note": "以审计报告为准", "contact": "张三 13800000000"});
        let (st, v) = fa
            .post_json(&format!("/api/v1/firms/{a}/corrections"), &body)
            .await;
        assert_eq!(st, 201, "{v}");
        let id = v["id"].as_i64().unwrap();
        // Someone else's figures: 404, nothing written.
        let (st, v) = fa
            .post_json(&format!("/api/v1/firms/{b}/corrections"), &body)
            .await;
        assert_eq!(st, 404, "{v}");
        // Bad claims: 422 with the field.
        for (bad, field) in [
            (
                json!({"fact": "营业收入", "claimed": "很多", "contact": "x"}),
                "claimed",
            ),
            (
                json!({"fact": "营业收入", "claimed": "1万", "contact": " "}),
                "contact",
            ),
            (
                json!({"fact": "不存在", "claimed": "1万", "contact": "x"}),
                "fact",
            ),
        ] {
            let (st, v) = fa
                .post_json(&format!("/api/v1/firms/{a}/corrections"), &bad)
                .await;
            assert_eq!(st, 422, "{bad}: {v}");
            assert_eq!(v["field"], field, "{v}");
        }
        let (st, mine) = fa.get(&format!("/api/v1/firms/{a}/corrections")).await;
        assert_eq!(st, 200, "{mine}");
        assert_eq!(mine["total"], 1, "{mine}");
        let on_file = s.state.served().firms[&a]
            .value_at(s.state.program.fact_by_name("营业收入").unwrap(), 2023);
        let want = huiqi_data::firmfile::fact_text(
            &s.state.program,
            s.state.program.fact_by_name("营业收入").unwrap(),
            &on_file,
        );
        assert_eq!(mine["corrections"][0]["on_file"], want.as_str());
        assert_eq!(mine["corrections"][0]["state"], "open");
        let (st, _) = fa.get("/api/v1/corrections").await;
        assert_eq!(st, 403);

        let reviewer = s.login("reviewer").await;
        let (st, q) = reviewer.get("/api/v1/corrections").await;
        assert_eq!(st, 200, "{q}");
        assert_eq!(q["total"], 1);
        let resolve = json!({"accept": true, "resolution": "已转统计局核实更正"});
        let (st, _) = reviewer
            .post_json(&format!("/api/v1/corrections/{id}/resolve"), &resolve)
            .await;
        assert_eq!(st, 403);
        let officer = s.login("officer").await;
        let (st, v) = officer
            .post_json(&format!("/api/v1/corrections/{id}/resolve"), &resolve)
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["state"], "accepted");
        assert_eq!(v["resolved_by"], "officer");
        let (st, v) = officer
            .post_json(&format!("/api/v1/corrections/{id}/resolve"), &resolve)
            .await;
        assert_eq!(st, 409, "resolved twice: {v}");
        let (_, q) = officer.get("/api/v1/corrections").await;
        assert_eq!(q["total"], 0, "the open queue is empty: {q}");
        let (_, mine) = fa.get(&format!("/api/v1/firms/{a}/corrections")).await;
        assert_eq!(mine["corrections"][0]["resolution"], "已转统计局核实更正");
        // Two audit events carry it, and the chain still verifies.
        let n = s
            .sql_int(
                "SELECT COUNT(*) FROM audit_events WHERE entity = $1",
                vec![format!("correction:{id}").into()],
            )
            .await;
        assert_eq!(n, 2);
        let auditor = s.login("auditor").await;
        let (st, v) = auditor.get("/api/v1/audit/verify").await;
        assert_eq!(st, 200);
        assert_eq!(v["ok"], true, "{v}");
    });
}

/// The dashboard's figures agree with the queues and the reconciliation; a line's figure traces
/// to its run, policy and snapshot and is recomputed equal — and an edited amount shows.
#[test]
fn dashboard_and_trace() {
    each_backend(async |s: &Server| {
        let leader = s.login("leader").await;
        let (st, d) = leader.get("/api/v1/dashboard").await;
        assert_eq!(st, 200, "{d}");
        let (_, recon) = leader.get("/api/v1/reconciliation").await;
        assert_eq!(d["reconciliation"], recon);
        let officer = s.login("officer").await;
        let (_, computed) = officer.get("/api/v1/lines?state=computed&limit=1").await;
        let st_computed = d["by_state"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["state"] == "computed")
            .unwrap();
        assert_eq!(st_computed["lines"], computed["total"], "{d}");
        assert_eq!(
            d["firms_reached"].as_i64().unwrap(),
            s.sql_int("SELECT COUNT(DISTINCT firm_id) FROM entitlements", vec![])
                .await
        );
        // Nothing is old yet: no overdue line; a bad parameter is a 422.
        assert_eq!(d["overdue_total"], 0);
        let (st, _) = leader.get("/api/v1/dashboard?overdue_days=0").await;
        assert_eq!(st, 422);
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, a_lines) = firms[0].clone();
        s.firm_account(&a).await;
        let fa = s.login(&a).await;
        let (st, _) = fa.get("/api/v1/dashboard").await;
        assert_eq!(st, 403);
        // An XLSX of each table for the leader (a zip: PK).
        for t in ["recon", "state", "days", "overdue"] {
            let r = leader
                .http
                .get(s.url(&format!("/dashboard/export.xlsx?table={t}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{t}");
            let bytes = r.bytes().await.unwrap();
            assert_eq!(&bytes[..2], b"PK", "{t}");
        }

        let line = a_lines[0];
        let (st, t) = officer.get(&format!("/api/v1/lines/{line}/trace")).await;
        assert_eq!(st, 200, "{t}");
        assert_eq!(t["run"]["policy_hash"], s.state.program.hash.as_str());
        assert_eq!(
            t["run"]["snapshot_hash"].as_str(),
            s.state.served().hash.as_deref()
        );
        assert_eq!(t["recomputed"]["available"], true, "{t}");
        assert_eq!(t["recomputed"]["matches"], true, "{t}");
        assert_eq!(t["recomputed"]["amount_fen"], t["computed_fen"]);
        assert!(!t["events"].as_array().unwrap().is_empty());
        // The firm traces its own line; another firm's line is a 404 with nothing of it.
        let (st, _) = fa.get(&format!("/api/v1/lines/{line}/trace")).await;
        assert_eq!(st, 200);
        let (b, b_lines) = firms[1].clone();
        let (st, v) = fa.get(&format!("/api/v1/lines/{}/trace", b_lines[0])).await;
        assert_eq!(st, 404);
        assert!(!v.to_string().contains(&b));
        let (st, _) = fa.get("/api/v1/lines/999999999/trace").await;
        assert_eq!(st, 404);
        // An amount edited in the database no longer matches what the engine computes.
        let ent = t["entitlement"].as_i64().unwrap();
        huiqi_server::ledger!(s.state, |l| l
            .db
            .exec(
                "UPDATE entitlements SET computed_fen = computed_fen + 100 WHERE id = $1",
                &[ent.into()]
            )
            .await)
        .await
        .unwrap()
        .unwrap();
        let (_, t2) = officer.get(&format!("/api/v1/lines/{line}/trace")).await;
        assert_eq!(t2["recomputed"]["matches"], false, "{t2}");
    });
}

/// A firm's check answered a second time is the same answer, from the cache (the pack and the
/// snapshot do not change while the server runs), and only for whoever may see it.
#[test]
fn a_check_asked_twice_is_the_same_answer() {
    each_backend(async |s: &Server| {
        let firms = s.firms_with_lines(HIGHTECH).await;
        let (a, _) = firms[0].clone();
        let (b, _) = firms[1].clone();
        let officer = s.login("officer").await;
        let get = |path: String| {
            let c = &officer;
            async move {
                let r = c.http.get(s.url(&path)).send().await.unwrap();
                let timing = r
                    .headers()
                    .get("server-timing")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                (r.status().as_u16(), timing, r.text().await.unwrap())
            }
        };
        let path = format!("/api/v1/firms/{a}/check?period=2023");
        let (st1, t1, body1) = get(path.clone()).await;
        let (st2, t2, body2) = get(path).await;
        assert_eq!((st1, st2), (200, 200));
        assert!(t1.starts_with("eval;dur="), "{t1}");
        assert_eq!(t2, "cache;desc=hit");
        assert_eq!(body1, body2);
        // Another period is another answer.
        let (_, t3, body3) = get(format!("/api/v1/firms/{a}/check?period=2022")).await;
        assert!(t3.starts_with("eval;dur="), "{t3}");
        assert_ne!(body1, body3);
        // A cached answer is still only for who may see it.
        s.firm_account(&b).await;
        let fb = s.login(&b).await;
        let (st, v) = fb
            .get(&format!("/api/v1/firms/{a}/check?period=2023"))
            .await;
        assert_eq!(st, 404, "{v}");
        assert!(!v.to_string().contains(&a));
    });
}

/// What `GET …/check` answered: (status, Server-Timing, Content-Encoding, Vary, body bytes).
type Got = (u16, String, String, String, Vec<u8>);

async fn get_check(c: &Client, s: &Server, path: &str, encoding: Option<&str>) -> Got {
    let mut rq = c.http.get(s.url(path));
    if let Some(e) = encoding {
        rq = rq.header("accept-encoding", e);
    }
    let r = rq.send().await.unwrap();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (timing, enc, vary) = (h("server-timing"), h("content-encoding"), h("vary"));
    let status = r.status().as_u16();
    (status, timing, enc, vary, r.bytes().await.unwrap().to_vec())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = vec![];
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A check computed on request is kept as JSON and given as JSON, whatever the client takes,
/// with `Vary: Accept-Encoding`; a check without a period is the check of the firm's latest
/// year, kept once.
#[test]
fn a_check_without_a_period_is_the_latest_year_kept_once() {
    each_backend(async |s: &Server| {
        let (a, _) = s.firms_with_lines(HIGHTECH).await[0].clone();
        let latest = huiqi::explain::latest_year(&s.state.served().firms[&a]).unwrap();
        let officer = s.login("officer").await;
        let path = format!("/api/v1/firms/{a}/check?period={latest}");
        let first = get_check(&officer, s, &path, Some("gzip, deflate, br")).await;
        assert_eq!(first.0, 200);
        assert!(first.1.starts_with("eval;"), "{}", first.1);
        assert_eq!(
            (first.2.as_str(), first.3.as_str()),
            ("", "accept-encoding")
        );
        let v: Value = serde_json::from_slice(&first.4).unwrap();
        assert_eq!(v["period"].as_i64(), Some(latest as i64), "{v:.300}");
        let bare = get_check(
            &officer,
            s,
            &format!("/api/v1/firms/{a}/check"),
            Some("gzip"),
        )
        .await;
        assert_eq!(
            (bare.0, bare.1.as_str(), bare.2.as_str()),
            (200, "cache;desc=hit", "")
        );
        assert_eq!(bare.4, first.4);
    });
}

/// After start-up the service computes every firm's check in the background and keeps it
/// compressed: a firm without award history is answered from the cache the first time it asks
/// — gzip to a client that takes it, JSON to any other — with the answer a check computed on
/// request gives.
#[test]
fn every_firm_is_answered_before_it_asks() {
    let _ = common::zone();
    common::runtime().block_on(async {
        let s = Server::start_with(common::Backend::Sqlite, common::zone(), |c| {
            c.warm_checks = true
        })
        .await;
        let t0 = std::time::Instant::now();
        while s.state.checks.fills() == 0 {
            assert!(t0.elapsed().as_secs() < 300, "the fill did not finish");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mut firms: Vec<String> = s.state.served().firms.keys().cloned().collect();
        firms.sort();
        let officer = s.login("officer").await;
        let mut kept = vec![];
        for f in firms {
            let lines = s
                .sql_int(
                    "SELECT COUNT(*) FROM entitlements WHERE firm_id = $1",
                    vec![f.clone().into()],
                )
                .await;
            if lines > 0 {
                continue;
            }
            let path = format!("/api/v1/firms/{f}/check");
            // Kept at the head the fill began at (the zone's run was recorded after it): good
            // still once the firm's history (none) is read.
            let gz = get_check(&officer, &s, &path, Some("gzip, deflate, br")).await;
            assert_eq!(gz.0, 200);
            assert!(gz.1.starts_with("cache;"), "{f}: {}", gz.1);
            assert_eq!((gz.2.as_str(), gz.3.as_str()), ("gzip", "accept-encoding"));
            let json = gunzip(&gz.4);
            assert!(
                gz.4.len() * 3 < json.len(),
                "{} → {}",
                json.len(),
                gz.4.len()
            );
            for enc in [None, Some("gzip;q=0, br")] {
                let plain = get_check(&officer, &s, &path, enc).await;
                assert_eq!((plain.1.as_str(), plain.2.as_str()), ("cache;desc=hit", ""));
                assert_eq!(plain.4, json);
            }
            kept.push((path, json));
            if kept.len() == 3 {
                break;
            }
        }
        assert_eq!(kept.len(), 3);
        s.state.checks.clear();
        for (path, body) in kept {
            let computed = get_check(&officer, &s, &path, Some("gzip")).await;
            assert!(computed.1.starts_with("eval;"), "{}", computed.1);
            assert_eq!(body, computed.4, "{path}");
        }
        s.stop().await;
    });
}

/// A firm's check reads the ledger's award history as the run that pays reads it. The sample
/// firm reached 辅导期 (cumulative 300万) in 2022 and 材料受理 (cumulative 600万) in 2023; its 2023
/// 上市奖励 is 600万 less what the ledger says 上市奖励 awarded it. While the 2022 line is only
/// computed the check says 600万; once the 金融办 reviewer approves it, the next check (not the
/// cached answer) says 300万 — exactly `explain` with that award in the history.
#[test]
fn a_check_reads_the_ledger_history() {
    const LISTING: &str = "上市奖励";
    const FIRM: &str = "91330201MA28C1E48H";
    common::each_backend_in(common::listing_zone, async |s: &Server| {
        let p = &s.state.program;
        let served = s.state.served();
        let on_file = served.firms[FIRM].clone();
        assert!(on_file.awards.is_empty());
        let listing = |v: &Value| -> i64 {
            v["clauses"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["clause"] == LISTING)
                .map(|c| c["amount_fen"].as_i64().unwrap())
                .sum()
        };
        let officer = s.login("officer").await;
        let path = format!("/api/v1/firms/{FIRM}/check?period=2023");
        // Checked before the firm has any line: nothing to read (the server knows which firms
        // have lines), and the answer is kept until the ledger moves.
        let (st, first) = officer.get(&path).await;
        assert_eq!(st, 200, "{first}");
        assert_eq!(listing(&first), 600_000_000, "{first}");
        // The 2022 run recorded: the firm's 辅导期 tranche is a computed line, not yet awarded.
        let out = s.dir.join("run-2022");
        let snap = served.dir.clone().unwrap();
        common::run_period(&snap, 2022, &out);
        let ctx = huiqi::ledger::ctx(Some("test-setup"), None).unwrap();
        huiqi_server::ledger!(s.state, |l| huiqi::ledger::record(
            l,
            &ctx,
            &out,
            Some(&snap)
        )
        .await)
        .await
        .unwrap()
        .unwrap();
        let line = s
            .sql_int(
                "SELECT i.id FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.firm_id = $1 AND e.clause = $2 AND e.period = 2022",
                vec![FIRM.into(), LISTING.into()],
            )
            .await;
        assert!(line > 0);
        let (st, before) = officer.get(&path).await;
        assert_eq!(st, 200, "{before}");
        let want = huiqi::explain::explain(p, on_file.clone(), Some(2023), None)
            .unwrap()
            .json();
        assert_eq!(before["clauses"], want["clauses"]);
        assert_eq!(listing(&before), 600_000_000, "{before}");
        // The 金融办 reviewer approves the line: now it counts as awarded.
        let ctx = huiqi_ledger::Ctx::now("test-setup");
        huiqi_server::auth::put_account(
            &s.state,
            &ctx,
            "reviewer-jrb",
            huiqi_server::authz::Role::Reviewer,
            None,
            Some("金融办".into()),
            common::PASSWORD,
        )
        .await
        .unwrap();
        let reviewer = s.login("reviewer-jrb").await;
        let (st, v) = reviewer
            .post_json("/api/v1/lines/approve", &json!({"ids": [line]}))
            .await;
        assert_eq!((st, v["count"].as_u64()), (200, Some(1)), "{v}");
        let (st, after) = officer.get(&path).await;
        assert_eq!(st, 200, "{after}");
        let mut firm = on_file.clone();
        firm.awards.push(huiqi_ir::Award {
            clause: p.clause_by_name(LISTING).unwrap(),
            period: 2022,
            tranche: "辅导期".into(),
            // As the snapshot loader holds amounts: normalised (3000000, not 3000000.00).
            amount: huiqi_ir::money::from_fen(300_000_000).normalize(),
        });
        let want = huiqi::explain::explain(p, firm, Some(2023), None)
            .unwrap()
            .json();
        assert_eq!(after["clauses"], want["clauses"]);
        assert_eq!(listing(&after), 300_000_000, "{after}");
        // The firm's 政策体检 page reads the same history: 300万, not 600万.
        s.firm_account(FIRM).await;
        let firm_c = s.login(FIRM).await;
        let (st, html) = firm_c.get_text(&format!("/firm/{FIRM}?period=2023")).await;
        assert_eq!(st, 200);
        assert!(html.contains("上市奖励"), "{html}");
        assert!(
            html.contains("300万元") && !html.contains("600万元"),
            "{html}"
        );
        // The 2023 run started from the service reads the same history (a snapshot derived
        // under history/) and records 300万; the auditor's trace recomputes the line from that
        // very snapshot and finds the ledger's figure.
        let (st, v) = officer
            .post_json("/api/v1/runs", &json!({"period": 2023}))
            .await;
        assert_eq!(st, 202, "{v}");
        let run = common::wait_run(&officer, v["id"].as_str().unwrap()).await;
        assert_eq!(run["state"], "done", "{run}");
        let line = s
            .sql_int(
                "SELECT MAX(i.id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.firm_id = $1 AND e.clause = $2 AND e.period = 2023",
                vec![FIRM.into(), LISTING.into()],
            )
            .await;
        let auditor = s.login("auditor").await;
        let (st, t) = auditor.get(&format!("/api/v1/lines/{line}/trace")).await;
        assert_eq!(st, 200, "{t}");
        assert_ne!(
            t["run"]["snapshot_hash"].as_str(),
            served.hash.as_deref(),
            "{t}"
        );
        assert_eq!(t["computed_fen"], 300_000_000, "{t}");
        assert_eq!(t["computed_run_id"], t["run"]["run_id"], "{t}");
        assert_eq!(t["recomputed"]["available"], true, "{t}");
        assert_eq!(t["recomputed"]["matches"], true, "{t}");
        assert_eq!(t["recomputed"]["amount_fen"], 300_000_000, "{t}");
        // The line the zone's own 2023 run made (600万, superseded by this run's 300万) is
        // recomputed as of the entitlement's latest run: 300万, the ledger's figure — not one
        // run's snapshot against another run's amount.
        let first = s
            .sql_int(
                "SELECT MIN(i.id) FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                 WHERE e.firm_id = $1 AND e.clause = $2 AND e.period = 2023",
                vec![FIRM.into(), LISTING.into()],
            )
            .await;
        assert_ne!(first, line);
        let (st, t0) = auditor.get(&format!("/api/v1/lines/{first}/trace")).await;
        assert_eq!(st, 200, "{t0}");
        assert_eq!(
            (t0["state"].as_str(), t0["amount_fen"].as_i64()),
            (Some("superseded"), Some(600_000_000)),
            "{t0}"
        );
        assert_eq!(t0["recomputed"]["matches"], true, "{t0}");
        assert_eq!(t0["recomputed"]["amount_fen"], 300_000_000, "{t0}");
        // A doctored derived snapshot is refused, never recomputed under the recorded hash
        // (a fresh server: this one has checked the files already).
        let hash = t["run"]["snapshot_hash"].as_str().unwrap();
        let dir = s.state.cfg.work.join("history").join(&hash[..16]);
        assert!(dir.join("manifest.json").is_file(), "{}", dir.display());
        s.state.verified_snapshots.lock().unwrap().clear();
        let awards = dir.join(huiqi_files::snapshot::table_file(
            huiqi_files::snapshot::AWARDS,
        ));
        let mut bytes = std::fs::read(&awards).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&awards, bytes).unwrap();
        let (st, t) = auditor.get(&format!("/api/v1/lines/{line}/trace")).await;
        assert_eq!(st, 200, "{t}");
        assert_eq!(t["recomputed"]["available"], false, "{t}");
        assert!(
            t["recomputed"]["en"]
                .as_str()
                .unwrap()
                .contains("do not match"),
            "{t}"
        );
    });
}

/// Zone indicators: everyone reads them (the public too) with small cells suppressed; only the
/// officer sees every cell and the firms behind a figure, which sum to it exactly.
#[test]
fn indicators_are_public_and_their_firms_the_officers() {
    let _ = common::zone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Server::start(common::Backend::Sqlite).await;
        let public = Client::new(&s.base);
        let (st, set) = public.get("/api/v1/indicators").await;
        assert_eq!(st, 200, "{set}");
        assert_eq!(set["periods"], json!(["2021-11", "2022-11"]));
        let (st, d) = public
            .get("/api/v1/indicators/2021-11?zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA")
            .await;
        assert_eq!(st, 200, "{d}");
        let fig = |d: &Value, id: &str| -> Value {
            d["figures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["indicator"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("no {id} in {d}"))
        };
        let sw = fig(&d, "软件业营业收入");
        assert_eq!(sw["value"], "2056.40");
        assert_eq!(sw["value_exact"], "205640000000");
        assert_eq!(sw["growth_same_set_pct"], "46.9");
        assert_eq!(d["drill_down"], false);
        // The public may not list firms; a leader neither; the officer may.
        let q = "/api/v1/indicators/2021-11/firms?indicator=%E8%BD%AF%E4%BB%B6%E4%B8%9A%E8%90%A5%E4%B8%9A%E6%94%B6%E5%85%A5&zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA";
        assert_eq!(public.get(q).await.0, 401);
        let leader = s.login("leader").await;
        assert_eq!(leader.get(q).await.0, 403);
        let officer = s.login("officer").await;
        let (st, firms) = officer.get(q).await;
        assert_eq!(st, 200, "{firms}");
        let total: rust_decimal::Decimal = firms["firms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["in_current"] == true)
            .map(|r| r["value_exact"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap())
            .sum();
        assert_eq!(total.to_string(), "205640000000");
        assert_eq!(firms["value_exact"], "205640000000");
        // Every cell of fewer than 3 firms: shown to the officer, suppressed for the leader.
        let (_, all_o) = officer.get("/api/v1/indicators/2022-11").await;
        let (_, all_l) = leader.get("/api/v1/indicators/2022-11").await;
        let (fo, fl) = (all_o["figures"].as_array().unwrap(), all_l["figures"].as_array().unwrap());
        assert_eq!(fo.len(), fl.len());
        let mut small = 0;
        for (o, l) in fo.iter().zip(fl) {
            let n = o["firms"].as_i64().unwrap();
            if (1..3).contains(&n) {
                small += 1;
                assert_eq!(l["suppressed"], true, "{l}");
                assert!(l["value"].is_null() && l["firms"].is_null(), "{l}");
            } else {
                assert_eq!(l["value"], o["value"], "{o}");
            }
            assert_eq!(o["suppressed"], false);
        }
        assert!(small > 0, "the seed zones hold small cells to suppress");
        // Huangpu's 新增高企 against its target: 87 of 100 after 11 months, amber.
        let t = all_l["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["indicator"] == "新增高企")
            .cloned()
            .unwrap();
        assert_eq!((t["completion"].as_str(), t["pace"].as_str(), t["colour"].as_str()), (Some("87.0"), Some("91.7"), Some("amber")), "{t}");
        // An unknown period names the ones there are.
        let (st, e) = public.get("/api/v1/indicators/2019-11").await;
        assert_eq!(st, 404, "{e}");
        assert!(e["hint_zh"].as_str().unwrap_or("").contains("2021-11"), "{e}");
        s.stop().await;
    });
}

/// A server over the same ledger, started now, on its own port; the client `c`'s cookies and
/// CSRF token pointed at it.
async fn restarted(s: &Server, c: &Client) -> (Client, tokio::task::JoinHandle<()>) {
    let again = huiqi_server::build(s.state.cfg.clone()).await.unwrap();
    let listener = huiqi_server::bind(&again).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = huiqi_server::serve_until(again, listener, std::future::pending()).await;
    });
    let c2 = Client {
        http: c.http.clone(),
        base,
        csrf: c.csrf.clone(),
    };
    (c2, task)
}

/// Sessions outlive a restart: a server loads the database's live sessions when it starts, so
/// a made-up token is refused without a read. One that ended while it was down is refused.
#[test]
fn sessions_outlive_a_restart_and_made_up_ones_are_unknown() {
    each_backend(async |s: &Server| {
        let c = s.login("officer").await;
        let (c2, task) = restarted(s, &c).await;
        let (st, who) = c2.get("/api/v1/session").await;
        assert_eq!((st, who["user"].as_str()), (200, Some("officer")), "{who}");
        assert_eq!(who["csrf_token"].as_str(), c.csrf.as_deref());
        // Its CSRF token came along: a state-changing request passes the check.
        let (st, v) = c2
            .post_json("/api/v1/lines/approve", &json!({"ids": [-1]}))
            .await;
        assert_ne!((st, code(&v)), (403, "csrf"), "{v}");
        // A made-up token is nobody.
        let forged = reqwest::Client::new()
            .get(format!("{}/api/v1/lines", c2.base))
            .header("Cookie", format!("huiqi_session={}", "ab".repeat(32)))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 401);
        task.abort();

        // The session's absolute end passes while no server runs: the next one refuses it.
        huiqi_server::ledger!(s.state, |l| l
            .db
            .exec(
                "UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z'",
                &[]
            )
            .await)
        .await
        .unwrap()
        .unwrap();
        let (c3, task) = restarted(s, &c).await;
        let (st, _) = c3.get("/api/v1/lines").await;
        assert_eq!(st, 401);
        task.abort();
    });
}
